//! The redb tables and the schema version, in one place.
//!
//! `migrations/` documents what each schema version holds and how data moves between versions.
//! [`migrate`] runs at startup, inside the same write transaction that creates missing tables.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

/// The schema this binary writes. Bump it with a new `migrations/NNNN_*.md` and a step in [`migrate`].
pub const SCHEMA_VERSION: u64 = 9;

/// `"schema_version"` -> u64.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The `meta` key that held a random id drawn by every package write (schemas 5 to 7); the
/// change feed ([`CHANGES`]) replaced it.
const FORMER_CHANGE_ID: &str = "change_id";
/// Package name -> `PackageRecord` JSON.
pub const PACKAGES: TableDefinition<&str, &str> = TableDefinition::new("packages");
/// (package name, version) -> `VersionRecord` JSON.
pub const VERSIONS: TableDefinition<(&str, &str), &str> = TableDefinition::new("versions");
/// Token SHA-256 (hex) -> `TokenRecord` JSON.
pub const TOKENS: TableDefinition<&str, &str> = TableDefinition::new("tokens");
/// User name -> `UserRecord` JSON. (Schema 2.)
pub const USERS: TableDefinition<&str, &str> = TableDefinition::new("users");
/// (package name, version) -> RFC 3339 time it was unpublished. Such numbers are never reused. (Schema 2.)
pub const TOMBSTONES: TableDefinition<(&str, &str), &str> = TableDefinition::new("tombstones");
/// Package name -> JSON list of the owners of a wholly unpublished package. (Schema 2.)
pub const NAME_TOMBSTONES: TableDefinition<&str, &str> = TableDefinition::new("name_tombstones");
/// Package name -> `CachedPackument` JSON (without the body). (Schema 3.)
pub const UPSTREAM_META: TableDefinition<&str, &str> = TableDefinition::new("upstream_meta");
/// Package name -> zstd'd upstream packument JSON. (Schema 3; since schema 8 bodies are blobs,
/// and rows left here are moved into the blob store at startup.)
pub const UPSTREAM_BODIES: TableDefinition<&str, &[u8]> = TableDefinition::new("upstream_bodies");
/// (package name, version) -> `ProxiedTarball` JSON. (Schema 3.)
pub const PROXIED: TableDefinition<(&str, &str), &str> = TableDefinition::new("proxied_tarballs");
/// Zig package name -> `ZigPackageRecord` JSON. (Schema 4.)
pub const ZIG_PACKAGES: TableDefinition<&str, &str> = TableDefinition::new("zig_packages");
/// (Zig package name, version) -> `ZigVersionRecord` JSON. (Schema 4.)
pub const ZIG_VERSIONS: TableDefinition<(&str, &str), &str> = TableDefinition::new("zig_versions");
/// Zig hash (either form) -> (name, version). (Schema 4.)
pub const ZIG_HASHES: TableDefinition<&str, (&str, &str)> = TableDefinition::new("zig_hashes");
/// (package name, version, UTC day) -> download count.
pub const DOWNLOADS: TableDefinition<(&str, &str, &str), u64> = TableDefinition::new("downloads");
/// (UTC day, package name) -> downloads of every version that day, so a period is a range
/// read. (Schema 5.)
pub const DOWNLOADS_BY_DAY: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("downloads_by_day");
/// Package name -> downloads ever. (Schema 5.)
pub const DOWNLOAD_TOTALS: TableDefinition<&str, u64> = TableDefinition::new("download_totals");
/// Download batch id (creation time first, so the table is in time order) -> the unix time in
/// seconds it was applied. A batch sent again is not counted again. (Schema 6.)
pub const DOWNLOAD_BATCHES: TableDefinition<&str, u64> = TableDefinition::new("download_batches");
/// Token public id -> token SHA-256 (hex), the key of [`TOKENS`]: revoking by id is a lookup,
/// not a scan. (Schema 7.)
pub const TOKEN_IDS: TableDefinition<&str, &str> = TableDefinition::new("token_ids");
/// Change id -> `Change` JSON without its id: the change feed, in the order of the changes.
/// Ids are 16 hex digits of microseconds since the epoch (each greater than the last), `-`, and
/// 8 random hex digits. (Schema 8.)
pub const CHANGES: TableDefinition<&str, &str> = TableDefinition::new("changes");
/// Audit id (the same form as a change id) -> `AuditRecord` JSON without its id: the audit
/// log, in the order of the entries. (Schema 9.)
pub const AUDIT: TableDefinition<&str, &str> = TableDefinition::new("audit");
/// How long applied batch ids are remembered.
pub const DOWNLOAD_BATCH_MEMORY_SECS: u64 = 7 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the database has schema version {found}, newer than this binary's {SCHEMA_VERSION}; run a newer pantry-registry"
    )]
    TooNew { found: u64 },
    #[error(transparent)]
    Redb(#[from] redb::Error),
}

/// Creates missing tables and brings the schema up to [`SCHEMA_VERSION`]. Returns the version found.
pub fn migrate(txn: &WriteTransaction) -> Result<Option<u64>, MigrationError> {
    let mut meta = txn.open_table(META).map_err(redb::Error::from)?;
    let found = meta
        .get("schema_version")
        .map_err(redb::Error::from)?
        .map(|v| v.value());
    if let Some(found) = found
        && found > SCHEMA_VERSION
    {
        return Err(MigrationError::TooNew { found });
    }
    txn.open_table(PACKAGES).map_err(redb::Error::from)?;
    txn.open_table(VERSIONS).map_err(redb::Error::from)?;
    txn.open_table(TOKENS).map_err(redb::Error::from)?;
    txn.open_table(DOWNLOADS).map_err(redb::Error::from)?;
    // Schema 2 (migrations/0002_users_tombstones.md) adds two tables, created just below, and a
    // `rev` field in package records that reads as 0 when absent: no data moves.
    txn.open_table(USERS).map_err(redb::Error::from)?;
    txn.open_table(TOMBSTONES).map_err(redb::Error::from)?;
    txn.open_table(NAME_TOMBSTONES).map_err(redb::Error::from)?;
    // Schema 3 (migrations/0003_upstream_cache.md) adds the upstream cache tables: no data moves.
    txn.open_table(UPSTREAM_META).map_err(redb::Error::from)?;
    txn.open_table(UPSTREAM_BODIES).map_err(redb::Error::from)?;
    txn.open_table(PROXIED).map_err(redb::Error::from)?;
    // Schema 4 (migrations/0004_zig.md) adds the Zig tables: no data moves.
    txn.open_table(ZIG_PACKAGES).map_err(redb::Error::from)?;
    txn.open_table(ZIG_VERSIONS).map_err(redb::Error::from)?;
    txn.open_table(ZIG_HASHES).map_err(redb::Error::from)?;
    // Schema 5 (migrations/0005_download_summaries.md) adds two summaries of `downloads`,
    // filled from it once.
    if found.is_some_and(|v| v < 5) {
        summarise_downloads(txn)?;
    } else {
        txn.open_table(DOWNLOADS_BY_DAY)
            .map_err(redb::Error::from)?;
        txn.open_table(DOWNLOAD_TOTALS).map_err(redb::Error::from)?;
    }
    // Schema 6 (migrations/0006_download_batches.md) adds the applied batch ids: no data moves.
    txn.open_table(DOWNLOAD_BATCHES)
        .map_err(redb::Error::from)?;
    // Schema 7 (migrations/0007_token_ids.md) indexes tokens by public id, filled from
    // `tokens` once.
    if found.is_some_and(|v| v < 7) {
        index_token_ids(txn)?;
    } else {
        txn.open_table(TOKEN_IDS).map_err(redb::Error::from)?;
    }
    // Schema 8 (migrations/0008_change_feed.md) replaces the global change id with the change
    // feed, which starts with an entry saying everything changed (so whatever followed the old
    // id starts over); packument bodies move to the blob store after opening (they need it).
    if found.is_none_or(|v| v < 8) {
        meta.remove(FORMER_CHANGE_ID).map_err(redb::Error::from)?;
        let mut changes = txn.open_table(CHANGES).map_err(redb::Error::from)?;
        append_change(&mut changes, &crate::store::Change::whole())?;
    }
    // Schema 9 (migrations/0009_audit.md) adds the audit log: no data moves.
    txn.open_table(AUDIT).map_err(redb::Error::from)?;
    meta.insert("schema_version", SCHEMA_VERSION)
        .map_err(redb::Error::from)?;
    Ok(found)
}

/// Appends `change` to the feed under a new id, greater than every id before it, and forgets
/// entries older than [`crate::store::CHANGE_RETENTION`] (a few at a time, so no write pays for
/// a long backlog). Returns the id.
pub(crate) fn append_change(
    changes: &mut redb::Table<&str, &str>,
    change: &crate::store::Change,
) -> Result<String, redb::Error> {
    let now = time::OffsetDateTime::now_utc();
    let json = serde_json::to_string(&change.changed).expect("changes serialize");
    let id = append_ordered(changes, &json)?;
    let horizon = time_key(now - crate::store::CHANGE_RETENTION);
    for _ in 0..16 {
        let expired = changes
            .first()?
            .is_some_and(|(first, _)| first.value() < horizon.as_str() && first.value() != id);
        if !expired {
            break;
        }
        changes.pop_first()?;
    }
    Ok(id)
}

/// The 16 hex digits of `t` in microseconds since the epoch: the time part of an ordered id,
/// and a lower bound for the ids from `t` on.
pub fn time_key(t: time::OffsetDateTime) -> String {
    format!("{:016x}", (t.unix_timestamp_nanos() / 1000).max(0) as u64)
}

/// Inserts `json` under a new ordered id: the time in microseconds (greater than the last id's),
/// `-`, 8 random hex digits. Returns the id.
pub(crate) fn append_ordered(
    table: &mut redb::Table<&str, &str>,
    json: &str,
) -> Result<String, redb::Error> {
    let now = u64::from_str_radix(&time_key(time::OffsetDateTime::now_utc()), 16).unwrap_or(0);
    let last = table
        .last()?
        .and_then(|(id, _)| u64::from_str_radix(id.value().get(..16)?, 16).ok())
        .unwrap_or(0);
    let at = now.max(last + 1);
    let id = format!("{at:016x}-{:08x}", rand::random::<u32>());
    table.insert(id.as_str(), json)?;
    Ok(id)
}

/// Fills the per-day and all-time summaries from the per-version counts (schema 4 -> 5).
fn summarise_downloads(txn: &WriteTransaction) -> Result<(), MigrationError> {
    let counts = txn.open_table(DOWNLOADS).map_err(redb::Error::from)?;
    let mut by_day = txn
        .open_table(DOWNLOADS_BY_DAY)
        .map_err(redb::Error::from)?;
    let mut totals = txn.open_table(DOWNLOAD_TOTALS).map_err(redb::Error::from)?;
    for row in counts.iter().map_err(redb::Error::from)? {
        let (key, value) = row.map_err(redb::Error::from)?;
        let (name, _, day) = key.value();
        add_count(&mut by_day, (day, name), value.value()).map_err(redb::Error::from)?;
        add_count(&mut totals, name, value.value()).map_err(redb::Error::from)?;
    }
    Ok(())
}

/// Adds `n` to the count under `key` (absent counts as 0; saturating).
pub(crate) fn add_count<'k, K: redb::Key + 'static>(
    table: &mut redb::Table<K, u64>,
    key: K::SelfType<'k>,
    n: u64,
) -> Result<(), redb::StorageError> {
    let old = table.get(&key)?.map(|v| v.value()).unwrap_or(0);
    table.insert(&key, old.saturating_add(n))?;
    Ok(())
}

/// Fills `token_ids` from `tokens` (the schema 6 -> 7 step).
fn index_token_ids(txn: &WriteTransaction) -> Result<(), MigrationError> {
    let tokens = txn.open_table(TOKENS).map_err(redb::Error::from)?;
    let mut ids = txn.open_table(TOKEN_IDS).map_err(redb::Error::from)?;
    for row in tokens.iter().map_err(redb::Error::from)? {
        let (hash, record) = row.map_err(redb::Error::from)?;
        // Only the id is needed; a record too damaged to name one is left to the operator.
        let Some(id) = serde_json::from_str::<serde_json::Value>(record.value())
            .ok()
            .and_then(|v| {
                v.get("id")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string)
            })
        else {
            continue;
        };
        ids.insert(id.as_str(), hash.value())
            .map_err(redb::Error::from)?;
    }
    Ok(())
}
