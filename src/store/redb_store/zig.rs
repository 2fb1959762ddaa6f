//! [`ZigStore`] on redb: Zig packages, their versions, and the index that finds a version by
//! its package hash.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{RedbStore, backend, decode, encode, read_versions, record_change};
use crate::store::schema::{ZIG_HASHES, ZIG_PACKAGES, ZIG_VERSIONS};
use crate::store::{
    Change, StoreError, StoreResult, ZigPackageRecord, ZigPackageUpdate, ZigStore, ZigVersionRecord,
};

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
                let former_rev = current.as_ref().map_or(0, |p| p.rev);
                let mut package = update(current)?;
                package.rev = former_rev + 1;
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
            record_change(&txn, Change::zig(&version.name))?;
            txn.commit().map_err(backend)?;
            Ok(package)
        })
        .await
    }

    async fn zig_packages_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<ZigPackageRecord>> {
        self.page_json(ZIG_PACKAGES, after, limit).await
    }
}
