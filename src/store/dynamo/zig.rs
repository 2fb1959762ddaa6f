//! [`ZigStore`] on DynamoDB: Zig packages in the `ZIGS` partition by name, each one's versions
//! in `ZIG#<name>`, and one `ZIGHASH#<hash>` item per hash form naming its version, written in
//! the publish's transaction.

use async_trait::async_trait;

use super::{Cond, DynamoStore, TxFailure, Write, backoff, decode_item, n, record_item};
use crate::store::{
    Change, StoreError, StoreResult, ZigPackageRecord, ZigPackageUpdate, ZigStore, ZigVersionRecord,
};

pub(super) const ZIGS: &str = "ZIGS";
const HASH_SK: &str = "ZIGHASH";

pub(super) fn zig_pk(name: &str) -> String {
    format!("ZIG#{name}")
}

fn hash_pk(hash: &str) -> String {
    format!("ZIGHASH#{hash}")
}

#[derive(serde::Serialize, serde::Deserialize)]
struct HashTarget {
    name: String,
    version: String,
}

#[async_trait]
impl ZigStore for DynamoStore {
    async fn zig_package(&self, name: &str) -> StoreResult<Option<ZigPackageRecord>> {
        self.get_record(ZIGS, name).await
    }

    async fn zig_version(
        &self,
        name: &str,
        version: &str,
    ) -> StoreResult<Option<ZigVersionRecord>> {
        self.get_record(&zig_pk(name), &super::packages::version_sk(version))
            .await
    }

    async fn zig_versions(&self, name: &str) -> StoreResult<Vec<ZigVersionRecord>> {
        self.records_with_prefix(&zig_pk(name), "VERSION#").await
    }

    async fn zig_by_hash(&self, hash: &str) -> StoreResult<Option<ZigVersionRecord>> {
        let Some(target) = self
            .get_record::<HashTarget>(&hash_pk(hash), HASH_SK)
            .await?
        else {
            return Ok(None);
        };
        self.zig_version(&target.name, &target.version).await
    }

    async fn publish_zig_version(
        &self,
        version: ZigVersionRecord,
        update: ZigPackageUpdate,
    ) -> StoreResult<ZigPackageRecord> {
        let name = version.name.clone();
        let pk = zig_pk(&name);
        let sk = super::packages::version_sk(&version.version);
        let version_item = record_item(&pk, &sk, &version)?;
        let mut hashes: Vec<&String> = std::iter::once(&version.hash)
            .chain(version.legacy_hash.iter())
            .collect();
        hashes.dedup();
        let target = HashTarget {
            name: name.clone(),
            version: version.version.clone(),
        };
        for attempt in self.tries() {
            let (existing, stored) = tokio::try_join!(self.get(&pk, &sk), self.get(ZIGS, &name))?;
            if existing.is_some() {
                return Err(StoreError::VersionExists(version.version.clone()));
            }
            let stored: Option<ZigPackageRecord> = stored.as_ref().map(decode_item).transpose()?;
            let stored_rev = stored.as_ref().map(|p| p.rev);
            let mut package = update(stored)?;
            package.rev = stored_rev.unwrap_or(0) + 1;
            let mut package_item = record_item(ZIGS, &name, &package)?;
            package_item.insert("rv".into(), n(package.rev));
            let mut writes = vec![
                Write::Put(version_item.clone(), Some(Cond::absent())),
                Write::Put(package_item, Some(Cond::revision(stored_rev))),
                self.change_write(&Change::zig(&name)),
            ];
            // A hash already indexed keeps its first version.
            for hash in &hashes {
                if self.get(&hash_pk(hash), HASH_SK).await?.is_none() {
                    writes.push(Write::Put(
                        record_item(&hash_pk(hash), HASH_SK, &target)?,
                        Some(Cond::absent()),
                    ));
                }
            }
            match self.transact(writes).await {
                Ok(()) => return Ok(package),
                Err(f) if f.failed_at(0) => {
                    return Err(StoreError::VersionExists(version.version.clone()));
                }
                Err(TxFailure::Cancelled(_)) => backoff(attempt).await,
                Err(TxFailure::Store(e)) => return Err(e),
            }
        }
        Err(self.too_contended(&format!("the Zig package {name}")))
    }

    async fn zig_packages_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<ZigPackageRecord>> {
        self.page_records(ZIGS, after, limit).await
    }
}
