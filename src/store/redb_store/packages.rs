//! [`PackageStore`] on redb: npm packages and their versions, the tombstones that keep an
//! unpublished version (or a wholly unpublished name) from being published again by someone
//! else.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{RedbStore, backend, decode, encode, read_versions, record_change};
use crate::store::schema::{NAME_TOMBSTONES, PACKAGES, TOMBSTONES, VERSIONS};
use crate::store::{
    Change, PackageChange, PackageRecord, PackageStore, PackageUpdate, StoreError, StoreResult,
    VersionRecord,
};

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

    async fn versions_size(&self, name: &str) -> StoreResult<u64> {
        let name = name.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(VERSIONS).map_err(backend)?;
            let mut total = 0u64;
            for row in table.range((name.as_str(), "")..).map_err(backend)? {
                let (key, value) = row.map_err(backend)?;
                if key.value().0 != name {
                    break;
                }
                total += value.value().len() as u64;
            }
            Ok(total)
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
                            stars: Default::default(),
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
            record_change(&txn, Change::npm(&version.name))?;
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
            record_change(&txn, Change::npm(&name))?;
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

    async fn packages_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<PackageRecord>> {
        self.page_json(PACKAGES, after, limit).await
    }
}
