//! A whole redb store read out in one read transaction: every record as of one commit, while
//! writers go on committing after it ([`crate::store::TransferStore::export`]).

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::mpsc;

use super::{backend, decode};
use crate::store::export::{AUDIT_CHUNK, Consistency, ExportRecord};
use crate::store::schema::{
    AUDIT, DOWNLOADS, NAME_TOMBSTONES, PACKAGES, PROXIED, TOKENS, TOMBSTONES, UPSTREAM_META, USERS,
    VERSIONS, ZIG_PACKAGES, ZIG_VERSIONS,
};
use crate::store::{AuditRecord, DownloadCount, StoreError, StoreResult};

/// Sends on, or stops when the export's reader went away.
fn send(sink: &mpsc::Sender<ExportRecord>, record: ExportRecord) -> StoreResult<()> {
    sink.blocking_send(record)
        .map_err(|_| StoreError::Backend("the export's reader stopped".into()))
}

/// Every value of a `(name, _)`-keyed table under `name`, decoded.
fn under<T: serde::de::DeserializeOwned>(
    txn: &ReadTransaction,
    table: TableDefinition<(&'static str, &'static str), &'static str>,
    name: &str,
) -> StoreResult<Vec<T>> {
    super::read_versions(&txn.open_table(table).map_err(backend)?, name)
}

/// Every value of a name-keyed JSON table, decoded, in key order.
fn each_json<T: serde::de::DeserializeOwned>(
    txn: &ReadTransaction,
    table: TableDefinition<&'static str, &'static str>,
    mut f: impl FnMut(T) -> StoreResult<()>,
) -> StoreResult<()> {
    for row in txn
        .open_table(table)
        .map_err(backend)?
        .iter()
        .map_err(backend)?
    {
        f(decode(row.map_err(backend)?.1.value())?)?;
    }
    Ok(())
}

/// Runs on the blocking pool: reads every table in one transaction.
pub(super) fn snapshot(
    db: &Database,
    sink: &mpsc::Sender<ExportRecord>,
) -> StoreResult<Consistency> {
    let txn = db.begin_read().map_err(backend)?;
    each_json(&txn, PACKAGES, |package: crate::store::PackageRecord| {
        let versions = under(&txn, VERSIONS, &package.name)?;
        let mut unpublished = Vec::new();
        let gone = txn.open_table(TOMBSTONES).map_err(backend)?;
        for row in gone.range((package.name.as_str(), "")..).map_err(backend)? {
            let (key, at) = row.map_err(backend)?;
            if key.value().0 != package.name {
                break;
            }
            unpublished.push((key.value().1.to_string(), at.value().to_string()));
        }
        send(
            sink,
            ExportRecord::Package {
                package,
                versions,
                unpublished,
            },
        )
    })?;
    for row in txn
        .open_table(NAME_TOMBSTONES)
        .map_err(backend)?
        .iter()
        .map_err(backend)?
    {
        let (name, owners) = row.map_err(backend)?;
        send(
            sink,
            ExportRecord::NameTombstone {
                name: name.value().to_string(),
                owners: decode(owners.value())?,
            },
        )?;
    }
    each_json(
        &txn,
        ZIG_PACKAGES,
        |package: crate::store::ZigPackageRecord| {
            let versions = under(&txn, ZIG_VERSIONS, &package.name)?;
            send(sink, ExportRecord::ZigPackage { package, versions })
        },
    )?;
    each_json(&txn, USERS, |user| send(sink, ExportRecord::User { user }))?;
    each_json(&txn, TOKENS, |token| {
        send(sink, ExportRecord::Token { token })
    })?;
    each_json(&txn, UPSTREAM_META, |packument| {
        send(sink, ExportRecord::CachedPackument { packument })
    })?;
    for row in txn
        .open_table(PROXIED)
        .map_err(backend)?
        .iter()
        .map_err(backend)?
    {
        let tarball = decode(row.map_err(backend)?.1.value())?;
        send(sink, ExportRecord::ProxiedTarball { tarball })?;
    }
    let mut counts: Vec<DownloadCount> = Vec::new();
    for row in txn
        .open_table(DOWNLOADS)
        .map_err(backend)?
        .iter()
        .map_err(backend)?
    {
        let (key, count) = row.map_err(backend)?;
        let (name, version, day) = key.value();
        if counts.first().is_some_and(|c| c.name != name) {
            let name = counts[0].name.clone();
            send(
                sink,
                ExportRecord::Downloads {
                    name,
                    counts: std::mem::take(&mut counts),
                },
            )?;
        }
        counts.push(DownloadCount {
            name: name.to_string(),
            version: version.to_string(),
            day: day.to_string(),
            count: count.value(),
        });
    }
    if let Some(first) = counts.first() {
        let name = first.name.clone();
        send(sink, ExportRecord::Downloads { name, counts })?;
    }
    let mut entries: Vec<AuditRecord> = Vec::new();
    for row in txn
        .open_table(AUDIT)
        .map_err(backend)?
        .iter()
        .map_err(backend)?
    {
        let (id, entry) = row.map_err(backend)?;
        let mut entry: AuditRecord = decode(entry.value())?;
        entry.id = id.value().to_string();
        entries.push(entry);
        if entries.len() == AUDIT_CHUNK {
            send(
                sink,
                ExportRecord::Audit {
                    entries: std::mem::take(&mut entries),
                },
            )?;
        }
    }
    if !entries.is_empty() {
        send(sink, ExportRecord::Audit { entries })?;
    }
    Ok(Consistency::Snapshot)
}
