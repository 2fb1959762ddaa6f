//! The redb metadata store: one file, `registry.redb`, in the data directory.
//!
//! redb calls block, so every method runs on the blocking pool. redb allows one write
//! transaction at a time, which makes a publish's check-then-write atomic for free. Commits use
//! `Durability::Immediate`: when a client sees 201, the version survives a crash.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::schema::{
    self, DOWNLOADS, NAME_TOMBSTONES, PACKAGES, PROXIED, TOKENS, TOMBSTONES, UPSTREAM_BODIES,
    UPSTREAM_META, USERS, VERSIONS, ZIG_HASHES, ZIG_PACKAGES, ZIG_VERSIONS,
};
use super::*;

/// Records a new change id inside a write that changes a package (local, cached or Zig); see
/// [`PackageStore::change_id`].
fn count_change(txn: &redb::WriteTransaction) -> StoreResult<()> {
    let mut meta = txn.open_table(schema::META).map_err(backend)?;
    meta.insert(schema::CHANGE_ID, rand::random::<u64>())
        .map_err(backend)?;
    Ok(())
}

/// The default metadata store.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
}

fn backend(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend(e.into().to_string())
}

fn decode<T: serde::de::DeserializeOwned>(json: &str) -> StoreResult<T> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records always serialize")
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the database {0} is in use by another process (is a pantry-registry server running on this data directory?)"
    )]
    InUse(String),
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: redb::Error },
    #[error(transparent)]
    Migration(#[from] schema::MigrationError),
}

impl RedbStore {
    /// Opens (or creates) the database at `path` and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let shown = path.display().to_string();
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => OpenError::InUse(shown.clone()),
            other => OpenError::Open {
                path: shown.clone(),
                source: other.into(),
            },
        })?;
        let txn = db.begin_write().map_err(|e| OpenError::Open {
            path: shown.clone(),
            source: e.into(),
        })?;
        let found = schema::migrate(&txn)?;
        txn.commit().map_err(|e| OpenError::Open {
            path: shown.clone(),
            source: e.into(),
        })?;
        match found {
            None => {
                tracing::info!(db.path = %shown, schema.version = schema::SCHEMA_VERSION, "created a new metadata database")
            }
            Some(v) if v < schema::SCHEMA_VERSION => {
                tracing::info!(db.path = %shown, schema.from = v, schema.to = schema::SCHEMA_VERSION, "migrated the metadata database")
            }
            Some(_) => {}
        }
        Ok(Self { db: Arc::new(db) })
    }

    /// One JSON record by a name-like key.
    async fn get_json<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        table: TableDefinition<'static, &'static str, &'static str>,
        key: &str,
    ) -> StoreResult<Option<T>> {
        let key = key.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(table).map_err(backend)?;
            let found = table.get(key.as_str()).map_err(backend)?;
            found.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    /// Every JSON record of a table, in key order.
    async fn list_json<
        K: redb::Key + Send + 'static,
        T: serde::de::DeserializeOwned + Send + 'static,
    >(
        &self,
        table: TableDefinition<'static, K, &'static str>,
    ) -> StoreResult<Vec<T>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(table).map_err(backend)?;
            let mut out = Vec::new();
            for row in table.iter().map_err(backend)? {
                out.push(decode(row.map_err(backend)?.1.value())?);
            }
            Ok(out)
        })
        .await
    }

    /// One JSON record by a (name, version) key.
    async fn get_json_pair<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        table: TableDefinition<'static, (&'static str, &'static str), &'static str>,
        name: &str,
        version: &str,
    ) -> StoreResult<Option<T>> {
        let (name, version) = (name.to_string(), version.to_string());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(table).map_err(backend)?;
            let found = table
                .get((name.as_str(), version.as_str()))
                .map_err(backend)?;
            found.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

#[async_trait]
impl PackageStore for RedbStore {
    async fn package(&self, name: &str) -> StoreResult<Option<PackageRecord>> {
        self.get_json(PACKAGES, name).await
    }

    async fn version(&self, name: &str, version: &str) -> StoreResult<Option<VersionRecord>> {
        self.get_json_pair(VERSIONS, name, version).await
    }

    async fn versions(&self, name: &str) -> StoreResult<Vec<VersionRecord>> {
        let name = name.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(VERSIONS).map_err(backend)?;
            read_versions(&table, &name)
        })
        .await
    }

    async fn change_id(&self) -> StoreResult<u64> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(backend)?;
            let meta = txn.open_table(schema::META).map_err(backend)?;
            Ok(meta
                .get(schema::CHANGE_ID)
                .map_err(backend)?
                .map(|v| v.value())
                .unwrap_or(0))
        })
        .await
    }

    async fn publish_version(
        &self,
        version: VersionRecord,
        update: PackageUpdate,
    ) -> StoreResult<PackageRecord> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let package = {
                let mut versions = txn.open_table(VERSIONS).map_err(backend)?;
                let key = (version.name.as_str(), version.version.as_str());
                if versions.get(key).map_err(backend)?.is_some() {
                    return Err(StoreError::VersionExists(version.version.clone()));
                }
                let tombstones = txn.open_table(TOMBSTONES).map_err(backend)?;
                if tombstones.get(key).map_err(backend)?.is_some() {
                    return Err(StoreError::VersionUnpublished(version.version.clone()));
                }
                let mut packages = txn.open_table(PACKAGES).map_err(backend)?;
                let mut current: Option<PackageRecord> = packages
                    .get(version.name.as_str())
                    .map_err(backend)?
                    .map(|v| decode(v.value()))
                    .transpose()?;
                let mut names = txn.open_table(NAME_TOMBSTONES).map_err(backend)?;
                if current.is_none() {
                    let former: Option<Vec<String>> = names
                        .get(version.name.as_str())
                        .map_err(backend)?
                        .map(|v| decode(v.value()))
                        .transpose()?;
                    if let Some(owners) = former {
                        let now = time::OffsetDateTime::now_utc();
                        current = Some(PackageRecord {
                            name: version.name.clone(),
                            dist_tags: Default::default(),
                            owners,
                            created_at: now,
                            updated_at: now,
                            rev: 0,
                        });
                        names.remove(version.name.as_str()).map_err(backend)?;
                    }
                }
                let mut package = update(current)?;
                package.rev += 1;
                packages
                    .insert(version.name.as_str(), encode(&package).as_str())
                    .map_err(backend)?;
                versions
                    .insert(key, encode(&version).as_str())
                    .map_err(backend)?;
                package
            };
            count_change(&txn)?;
            txn.commit().map_err(backend)?;
            Ok(package)
        })
        .await
    }

    async fn modify_package(
        &self,
        name: &str,
        change: PackageChange,
    ) -> StoreResult<Option<PackageRecord>> {
        let name = name.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let written = {
                let mut packages = txn.open_table(PACKAGES).map_err(backend)?;
                let mut versions = txn.open_table(VERSIONS).map_err(backend)?;
                let mut tombstones = txn.open_table(TOMBSTONES).map_err(backend)?;
                let current: PackageRecord = packages
                    .get(name.as_str())
                    .map_err(backend)?
                    .map(|v| decode(v.value()))
                    .transpose()?
                    .ok_or(StoreError::NoSuchPackage)?;
                let former_owners = current.owners.clone();
                let edit = change(current, read_versions(&versions, &name)?)?;
                let now = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                for v in &edit.remove_versions {
                    versions
                        .remove((name.as_str(), v.as_str()))
                        .map_err(backend)?;
                    tombstones
                        .insert((name.as_str(), v.as_str()), now.as_str())
                        .map_err(backend)?;
                }
                for v in &edit.upsert_versions {
                    versions
                        .insert((name.as_str(), v.version.as_str()), encode(v).as_str())
                        .map_err(backend)?;
                }
                match edit.package {
                    Some(mut pkg) => {
                        pkg.rev += 1;
                        packages
                            .insert(name.as_str(), encode(&pkg).as_str())
                            .map_err(backend)?;
                        Some(pkg)
                    }
                    None => {
                        // Deleting a package removes every version left, tombstoned like the rest.
                        for v in read_versions::<VersionRecord>(&versions, &name)? {
                            versions
                                .remove((name.as_str(), v.version.as_str()))
                                .map_err(backend)?;
                            tombstones
                                .insert((name.as_str(), v.version.as_str()), now.as_str())
                                .map_err(backend)?;
                        }
                        packages.remove(name.as_str()).map_err(backend)?;
                        txn.open_table(NAME_TOMBSTONES)
                            .map_err(backend)?
                            .insert(name.as_str(), encode(&former_owners).as_str())
                            .map_err(backend)?;
                        None
                    }
                }
            };
            count_change(&txn)?;
            txn.commit().map_err(backend)?;
            Ok(written)
        })
        .await
    }

    async fn scope_has_packages(&self, scope: &str) -> StoreResult<bool> {
        let prefix = format!("{scope}/");
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            // A wholly unpublished package still claims its scope.
            for table in [PACKAGES, NAME_TOMBSTONES] {
                let table = txn.open_table(table).map_err(backend)?;
                let mut range = table.range(prefix.as_str()..).map_err(backend)?;
                if let Some(row) = range.next()
                    && row.map_err(backend)?.0.value().starts_with(&prefix)
                {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await
    }

    async fn name_was_local(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(NAME_TOMBSTONES).map_err(backend)?;
            Ok(table.get(name.as_str()).map_err(backend)?.is_some())
        })
        .await
    }

    async fn list_packages(&self) -> StoreResult<Vec<PackageRecord>> {
        self.list_json(PACKAGES).await
    }
}

#[async_trait]
impl BlobReferenceStore for RedbStore {
    async fn blob_references(&self) -> StoreResult<Vec<BlobReference>> {
        // Only the names and keys are decoded (manifests and readmes are skipped over): this
        // runs at every cache eviction, while blob stores wait.
        #[derive(serde::Deserialize)]
        struct Keyed {
            sha256: String,
        }
        #[derive(serde::Deserialize)]
        struct NpmVersion {
            name: String,
            version: String,
            tarball: Keyed,
        }
        #[derive(serde::Deserialize)]
        struct Named {
            name: String,
            version: String,
            sha256: String,
        }
        self.blocking(|db| {
            // One read transaction: the three tables are seen as of the same commit.
            let txn = db.begin_read().map_err(backend)?;
            let mut refs = Vec::new();
            for row in txn
                .open_table(VERSIONS)
                .map_err(backend)?
                .iter()
                .map_err(backend)?
            {
                let v: NpmVersion = decode(row.map_err(backend)?.1.value())?;
                refs.push(BlobReference {
                    key: v.tarball.sha256,
                    owner: BlobOwner::NpmVersion {
                        name: v.name,
                        version: v.version,
                    },
                });
            }
            let zig = txn.open_table(ZIG_VERSIONS).map_err(backend)?;
            for row in zig.iter().map_err(backend)? {
                let v: Named = decode(row.map_err(backend)?.1.value())?;
                refs.push(BlobReference {
                    key: v.sha256,
                    owner: BlobOwner::ZigVersion {
                        name: v.name,
                        version: v.version,
                    },
                });
            }
            let proxied = txn.open_table(PROXIED).map_err(backend)?;
            for row in proxied.iter().map_err(backend)? {
                let t: Named = decode(row.map_err(backend)?.1.value())?;
                refs.push(BlobReference {
                    key: t.sha256,
                    owner: BlobOwner::ProxiedTarball {
                        name: t.name,
                        version: t.version,
                    },
                });
            }
            Ok(refs)
        })
        .await
    }
}

#[async_trait]
impl CacheStore for RedbStore {
    async fn cached_packument(&self, name: &str) -> StoreResult<Option<CachedPackument>> {
        let name = name.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let meta = txn.open_table(UPSTREAM_META).map_err(backend)?;
            let Some(found) = meta.get(name.as_str()).map_err(backend)? else {
                return Ok(None);
            };
            let mut packument: CachedPackument = decode(found.value())?;
            let bodies = txn.open_table(UPSTREAM_BODIES).map_err(backend)?;
            if let Some(body) = bodies.get(name.as_str()).map_err(backend)? {
                packument.body = body.value().to_vec();
            }
            Ok(Some(packument))
        })
        .await
    }

    async fn put_cached_packument(&self, packument: CachedPackument) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let name = packument.name.as_str();
                txn.open_table(UPSTREAM_META)
                    .map_err(backend)?
                    .insert(name, encode(&packument).as_str())
                    .map_err(backend)?;
                let mut bodies = txn.open_table(UPSTREAM_BODIES).map_err(backend)?;
                if packument.missing {
                    bodies.remove(name).map_err(backend)?;
                } else {
                    bodies
                        .insert(name, packument.body.as_slice())
                        .map_err(backend)?;
                }
            }
            count_change(&txn)?;
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn list_cached_packuments(&self) -> StoreResult<Vec<(CachedPackument, u64)>> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(backend)?;
            let meta = txn.open_table(UPSTREAM_META).map_err(backend)?;
            let bodies = txn.open_table(UPSTREAM_BODIES).map_err(backend)?;
            let mut out = Vec::new();
            for row in meta.iter().map_err(backend)? {
                let (k, v) = row.map_err(backend)?;
                let packument: CachedPackument = decode(v.value())?;
                let size = bodies
                    .get(k.value())
                    .map_err(backend)?
                    .map(|b| b.value().len() as u64)
                    .unwrap_or(0);
                out.push((packument, size));
            }
            Ok(out)
        })
        .await
    }

    async fn remove_cached_packuments(&self, names: Vec<String>) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut meta = txn.open_table(UPSTREAM_META).map_err(backend)?;
                let mut bodies = txn.open_table(UPSTREAM_BODIES).map_err(backend)?;
                for name in &names {
                    meta.remove(name.as_str()).map_err(backend)?;
                    bodies.remove(name.as_str()).map_err(backend)?;
                }
            }
            count_change(&txn)?;
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn proxied_tarball(
        &self,
        name: &str,
        version: &str,
    ) -> StoreResult<Option<ProxiedTarball>> {
        self.get_json_pair(PROXIED, name, version).await
    }

    async fn put_proxied_tarball(&self, tarball: ProxiedTarball) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            txn.open_table(PROXIED)
                .map_err(backend)?
                .insert(
                    (tarball.name.as_str(), tarball.version.as_str()),
                    encode(&tarball).as_str(),
                )
                .map_err(backend)?;
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn touch_proxied_tarballs(
        &self,
        uses: Vec<(String, String, time::OffsetDateTime)>,
    ) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(PROXIED).map_err(backend)?;
                for (name, version, at) in &uses {
                    let key = (name.as_str(), version.as_str());
                    let current: Option<ProxiedTarball> = table
                        .get(key)
                        .map_err(backend)?
                        .map(|v| decode(v.value()))
                        .transpose()?;
                    if let Some(mut t) = current
                        && *at > t.last_used
                    {
                        t.last_used = *at;
                        table.insert(key, encode(&t).as_str()).map_err(backend)?;
                    }
                }
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn list_proxied_tarballs(&self) -> StoreResult<Vec<ProxiedTarball>> {
        self.list_json(PROXIED).await
    }

    async fn remove_proxied_tarballs(&self, keys: Vec<(String, String)>) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(PROXIED).map_err(backend)?;
                for (name, version) in &keys {
                    table
                        .remove((name.as_str(), version.as_str()))
                        .map_err(backend)?;
                }
            }
            txn.commit().map_err(backend)
        })
        .await
    }
}

#[async_trait]
impl ZigStore for RedbStore {
    async fn zig_package(&self, name: &str) -> StoreResult<Option<ZigPackageRecord>> {
        self.get_json(ZIG_PACKAGES, name).await
    }

    async fn zig_version(
        &self,
        name: &str,
        version: &str,
    ) -> StoreResult<Option<ZigVersionRecord>> {
        self.get_json_pair(ZIG_VERSIONS, name, version).await
    }

    async fn zig_versions(&self, name: &str) -> StoreResult<Vec<ZigVersionRecord>> {
        let name = name.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(ZIG_VERSIONS).map_err(backend)?;
            read_versions(&table, &name)
        })
        .await
    }

    async fn zig_by_hash(&self, hash: &str) -> StoreResult<Option<ZigVersionRecord>> {
        let hash = hash.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let index = txn.open_table(ZIG_HASHES).map_err(backend)?;
            let Some(key) = index.get(hash.as_str()).map_err(backend)? else {
                return Ok(None);
            };
            let (name, version) = key.value();
            let versions = txn.open_table(ZIG_VERSIONS).map_err(backend)?;
            let found = versions.get((name, version)).map_err(backend)?;
            found.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    async fn publish_zig_version(
        &self,
        version: ZigVersionRecord,
        update: ZigPackageUpdate,
    ) -> StoreResult<ZigPackageRecord> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let package = {
                let mut versions = txn.open_table(ZIG_VERSIONS).map_err(backend)?;
                let key = (version.name.as_str(), version.version.as_str());
                if versions.get(key).map_err(backend)?.is_some() {
                    return Err(StoreError::VersionExists(version.version.clone()));
                }
                let mut packages = txn.open_table(ZIG_PACKAGES).map_err(backend)?;
                let current: Option<ZigPackageRecord> = packages
                    .get(version.name.as_str())
                    .map_err(backend)?
                    .map(|v| decode(v.value()))
                    .transpose()?;
                let package = update(current)?;
                packages
                    .insert(version.name.as_str(), encode(&package).as_str())
                    .map_err(backend)?;
                versions
                    .insert(key, encode(&version).as_str())
                    .map_err(backend)?;
                let mut hashes = txn.open_table(ZIG_HASHES).map_err(backend)?;
                for h in std::iter::once(&version.hash).chain(version.legacy_hash.iter()) {
                    // Identical content under two names has one hash: the first keeps it.
                    if hashes.get(h.as_str()).map_err(backend)?.is_none() {
                        hashes.insert(h.as_str(), key).map_err(backend)?;
                    }
                }
                package
            };
            count_change(&txn)?;
            txn.commit().map_err(backend)?;
            Ok(package)
        })
        .await
    }

    async fn list_zig_packages(&self) -> StoreResult<Vec<ZigPackageRecord>> {
        self.list_json(ZIG_PACKAGES).await
    }
}

#[async_trait]
impl UserStore for RedbStore {
    async fn user(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        self.get_json(USERS, name).await
    }

    async fn insert_user(&self, user: UserRecord) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(USERS).map_err(backend)?;
                if table.get(user.name.as_str()).map_err(backend)?.is_some() {
                    return Err(StoreError::UserExists(user.name.clone()));
                }
                table
                    .insert(user.name.as_str(), encode(&user).as_str())
                    .map_err(backend)?;
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn update_user(&self, user: UserRecord) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            txn.open_table(USERS)
                .map_err(backend)?
                .insert(user.name.as_str(), encode(&user).as_str())
                .map_err(backend)?;
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.list_json(USERS).await
    }
}

/// Every record keyed (name, version) for one name: npm versions and Zig versions alike.
fn read_versions<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<(&'static str, &'static str), &'static str>,
    name: &str,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    for row in table.range((name, "")..).map_err(backend)? {
        let (key, value) = row.map_err(backend)?;
        if key.value().0 != name {
            break;
        }
        out.push(decode(value.value())?);
    }
    Ok(out)
}

#[async_trait]
impl TokenStore for RedbStore {
    async fn insert_token(&self, token: TokenRecord) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            txn.open_table(TOKENS)
                .map_err(backend)?
                .insert(token.hash.as_str(), encode(&token).as_str())
                .map_err(backend)?;
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        self.get_json(TOKENS, hash).await
    }

    async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        let mut out: Vec<TokenRecord> = self.list_json(TOKENS).await?;
        out.sort_by_key(|t| t.created_at);
        Ok(out)
    }

    async fn revoke_token(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let removed = {
                let mut table = txn.open_table(TOKENS).map_err(backend)?;
                let mut hash = None;
                for row in table.iter().map_err(backend)? {
                    let (k, v) = row.map_err(backend)?;
                    let token: TokenRecord = decode(v.value())?;
                    if token.id == id {
                        hash = Some(k.value().to_string());
                        break;
                    }
                }
                match hash {
                    Some(h) => table.remove(h.as_str()).map_err(backend)?.is_some(),
                    None => false,
                }
            };
            txn.commit().map_err(backend)?;
            Ok(removed)
        })
        .await
    }
}

/// A row of the downloads table: (name, version, day) -> count.
fn download_count((name, version, day): (&str, &str, &str), count: u64) -> DownloadCount {
    DownloadCount {
        name: name.to_string(),
        version: version.to_string(),
        day: day.to_string(),
        count,
    }
}

#[async_trait]
impl DownloadStore for RedbStore {
    async fn add_downloads(&self, batch: DownloadBatch) -> StoreResult<()> {
        if batch.counts.is_empty() {
            return Ok(());
        }
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let now = OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
            {
                let mut applied = txn.open_table(schema::DOWNLOAD_BATCHES).map_err(backend)?;
                if applied.get(batch.id.as_str()).map_err(backend)?.is_some() {
                    return Ok(());
                }
                applied.insert(batch.id.as_str(), now).map_err(backend)?;
                // Ids sort by creation time: those older than the memory go in one range.
                let cutoff_ms = now.saturating_sub(schema::DOWNLOAD_BATCH_MEMORY_SECS) * 1000;
                let cutoff = format!("{cutoff_ms:016}");
                applied
                    .retain_in(..cutoff.as_str(), |_, _| false)
                    .map_err(backend)?;
            }
            let counts = batch.counts;
            {
                let mut table = txn.open_table(DOWNLOADS).map_err(backend)?;
                let mut by_day = txn.open_table(schema::DOWNLOADS_BY_DAY).map_err(backend)?;
                let mut totals = txn.open_table(schema::DOWNLOAD_TOTALS).map_err(backend)?;
                for c in &counts {
                    let (name, day) = (c.name.as_str(), c.day.as_str());
                    schema::add_count(&mut table, (name, c.version.as_str(), day), c.count)
                        .map_err(backend)?;
                    schema::add_count(&mut by_day, (day, name), c.count).map_err(backend)?;
                    schema::add_count(&mut totals, name, c.count).map_err(backend)?;
                }
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn download_totals(&self) -> StoreResult<Vec<(String, u64)>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(schema::DOWNLOAD_TOTALS).map_err(backend)?;
            let mut totals = Vec::new();
            for row in table.iter().map_err(backend)? {
                let (name, total) = row.map_err(backend)?;
                totals.push((name.value().to_string(), total.value()));
            }
            Ok(totals)
        })
        .await
    }

    async fn download_totals_since(&self, since: &str) -> StoreResult<Vec<(String, u64)>> {
        let counts = self.downloads_between(since, "9999-12-31").await?;
        let mut totals: std::collections::BTreeMap<String, u64> = Default::default();
        for c in counts {
            let total = totals.entry(c.name).or_default();
            *total = total.saturating_add(c.count);
        }
        Ok(totals.into_iter().collect())
    }

    async fn downloads_between(&self, first: &str, last: &str) -> StoreResult<Vec<DownloadCount>> {
        let (first, last) = (first.to_string(), last.to_string());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(schema::DOWNLOADS_BY_DAY).map_err(backend)?;
            let mut out = Vec::new();
            // Keys lead with the day, so a period is one range.
            for row in table
                .range((first.as_str(), "")..=(last.as_str(), "\u{10FFFF}"))
                .map_err(backend)?
            {
                let (key, value) = row.map_err(backend)?;
                let (day, name) = key.value();
                out.push(DownloadCount {
                    name: name.to_string(),
                    version: String::new(),
                    day: day.to_string(),
                    count: value.value(),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn downloads(&self, name: &str) -> StoreResult<Vec<DownloadCount>> {
        let name = name.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(DOWNLOADS).map_err(backend)?;
            let mut out = Vec::new();
            for row in table.range((name.as_str(), "", "")..).map_err(backend)? {
                let (key, value) = row.map_err(backend)?;
                if key.value().0 != name {
                    break;
                }
                out.push(download_count(key.value(), value.value()));
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrating_from_4_fills_the_download_summaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        let count = |name: &str, version: &str, day: &str, count| DownloadCount {
            name: name.into(),
            version: version.into(),
            day: day.into(),
            count,
        };
        {
            let store = RedbStore::open(&path).unwrap();
            store
                .add_downloads(DownloadBatch::new(vec![
                    count("a", "1.0.0", "2026-01-01", 2),
                    count("a", "2.0.0", "2026-01-01", 3),
                    count("a", "1.0.0", "2026-01-02", 1),
                    count("zig:b", "0.1.0", "2026-01-02", 7),
                ]))
                .await
                .unwrap();
        }
        // Back to schema 4: the summaries did not exist.
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.delete_table(schema::DOWNLOADS_BY_DAY).unwrap();
            txn.delete_table(schema::DOWNLOAD_TOTALS).unwrap();
            txn.open_table(schema::META)
                .unwrap()
                .insert("schema_version", 4)
                .unwrap();
            txn.commit().unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        let mut totals = store.download_totals().await.unwrap();
        totals.sort();
        assert_eq!(totals, vec![("a".into(), 6), ("zig:b".into(), 7)]);
        let day2 = store
            .downloads_between("2026-01-02", "2026-01-02")
            .await
            .unwrap();
        let day2: Vec<(String, u64)> = day2.into_iter().map(|c| (c.name, c.count)).collect();
        assert_eq!(day2, vec![("a".into(), 1), ("zig:b".into(), 7)]);
        assert_eq!(
            store.download_totals_since("2026-01-01").await.unwrap(),
            vec![("a".into(), 6), ("zig:b".into(), 7)]
        );
        // New counts keep the summaries current.
        store
            .add_downloads(DownloadBatch::new(vec![count(
                "a",
                "1.0.0",
                "2026-01-03",
                4,
            )]))
            .await
            .unwrap();
        assert_eq!(
            store.download_totals_since("2026-01-02").await.unwrap(),
            vec![("a".into(), 5), ("zig:b".into(), 7)]
        );
    }

    #[test]
    fn a_new_database_gets_the_current_schema_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        drop(RedbStore::open(&path).unwrap());
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_read().unwrap();
            let meta = txn.open_table(schema::META).unwrap();
            assert_eq!(
                meta.get("schema_version").unwrap().unwrap().value(),
                schema::SCHEMA_VERSION
            );
            drop(meta);
            drop(txn);
            let txn = db.begin_write().unwrap();
            txn.open_table(schema::META)
                .unwrap()
                .insert("schema_version", 99)
                .unwrap();
            txn.commit().unwrap();
        }
        let err = RedbStore::open(&path)
            .err()
            .expect("a newer schema is refused")
            .to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }
}
