//! [`TransferStore`] on redb: records written as they are, each package (npm or Zig) in one
//! transaction that replaces what the database held for its name.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{RedbStore, backend, decode, encode, read_versions, record_change};
use crate::store::export::{Consistency, ExportRecord};
use crate::store::schema::{
    AUDIT, NAME_TOMBSTONES, PACKAGES, TOMBSTONES, VERSIONS, ZIG_HASHES, ZIG_PACKAGES, ZIG_VERSIONS,
};
use crate::store::{
    AuditRecord, Change, PackageRecord, StoreResult, TransferStore, VersionRecord,
    ZigPackageRecord, ZigVersionRecord,
};

/// The second halves of the (name, _) keys of `table` under `name`.
fn keys_under(
    table: &impl ReadableTable<(&'static str, &'static str), &'static str>,
    name: &str,
) -> StoreResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for row in table.range((name, "")..).map_err(backend)? {
        let (key, value) = row.map_err(backend)?;
        if key.value().0 != name {
            break;
        }
        out.push((key.value().1.to_string(), value.value().to_string()));
    }
    Ok(out)
}

#[async_trait]
impl TransferStore for RedbStore {
    async fn export(
        &self,
        sink: tokio::sync::mpsc::Sender<ExportRecord>,
    ) -> StoreResult<Consistency> {
        self.blocking(move |db| super::export::snapshot(db, &sink))
            .await
    }

    async fn unpublished_versions(&self, name: &str) -> StoreResult<Vec<(String, String)>> {
        let name = name.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            keys_under(&txn.open_table(TOMBSTONES).map_err(backend)?, &name)
        })
        .await
    }

    async fn name_tombstones_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<String>)>> {
        let after = after.map(str::to_string);
        self.blocking(move |db| {
            use std::ops::Bound;
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(NAME_TOMBSTONES).map_err(backend)?;
            let start = match &after {
                Some(a) => Bound::Excluded(a.as_str()),
                None => Bound::Unbounded,
            };
            let mut out = Vec::new();
            for row in table
                .range::<&str>((start, Bound::Unbounded))
                .map_err(backend)?
                .take(limit)
            {
                let (name, owners) = row.map_err(backend)?;
                out.push((name.value().to_string(), decode(owners.value())?));
            }
            Ok(out)
        })
        .await
    }

    async fn import_package(
        &self,
        package: PackageRecord,
        versions: Vec<VersionRecord>,
        unpublished: Vec<(String, String)>,
    ) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let name = package.name.as_str();
                let mut table = txn.open_table(VERSIONS).map_err(backend)?;
                for old in read_versions::<VersionRecord>(&table, name)? {
                    table
                        .remove((name, old.version.as_str()))
                        .map_err(backend)?;
                }
                for v in &versions {
                    table
                        .insert((name, v.version.as_str()), encode(v).as_str())
                        .map_err(backend)?;
                }
                let mut gone = txn.open_table(TOMBSTONES).map_err(backend)?;
                for (old, _) in keys_under(&gone, name)? {
                    gone.remove((name, old.as_str())).map_err(backend)?;
                }
                for (version, at) in &unpublished {
                    gone.insert((name, version.as_str()), at.as_str())
                        .map_err(backend)?;
                }
                txn.open_table(PACKAGES)
                    .map_err(backend)?
                    .insert(name, encode(&package).as_str())
                    .map_err(backend)?;
                txn.open_table(NAME_TOMBSTONES)
                    .map_err(backend)?
                    .remove(name)
                    .map_err(backend)?;
            }
            record_change(&txn, Change::npm(&package.name))?;
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn import_name_tombstone(&self, name: &str, owners: Vec<String>) -> StoreResult<()> {
        let name = name.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            txn.open_table(NAME_TOMBSTONES)
                .map_err(backend)?
                .insert(name.as_str(), encode(&owners).as_str())
                .map_err(backend)?;
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn import_zig_package(
        &self,
        package: ZigPackageRecord,
        versions: Vec<ZigVersionRecord>,
    ) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let name = package.name.as_str();
                let mut table = txn.open_table(ZIG_VERSIONS).map_err(backend)?;
                for old in read_versions::<ZigVersionRecord>(&table, name)? {
                    table
                        .remove((name, old.version.as_str()))
                        .map_err(backend)?;
                }
                let mut hashes = txn.open_table(ZIG_HASHES).map_err(backend)?;
                for v in &versions {
                    let key = (name, v.version.as_str());
                    table.insert(key, encode(v).as_str()).map_err(backend)?;
                    for h in std::iter::once(&v.hash).chain(v.legacy_hash.iter()) {
                        if hashes.get(h.as_str()).map_err(backend)?.is_none() {
                            hashes.insert(h.as_str(), key).map_err(backend)?;
                        }
                    }
                }
                txn.open_table(ZIG_PACKAGES)
                    .map_err(backend)?
                    .insert(name, encode(&package).as_str())
                    .map_err(backend)?;
            }
            record_change(&txn, Change::zig(&package.name))?;
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn import_audit(&self, entries: Vec<AuditRecord>) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(AUDIT).map_err(backend)?;
                for mut entry in entries {
                    let id = std::mem::take(&mut entry.id);
                    table
                        .insert(id.as_str(), encode(&entry).as_str())
                        .map_err(backend)?;
                }
            }
            txn.commit().map_err(backend)
        })
        .await
    }
}
