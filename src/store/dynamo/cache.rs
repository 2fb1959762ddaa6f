//! [`CacheStore`] on DynamoDB: cached upstream packuments in the `UPSTREAMS` partition by name
//! (their bodies are blobs), and proxied tarballs in `UPSTREAM-TARBALLS` by `<name> <version>`
//! (a space sorts below every character a name or version may hold, so the order is that of
//! the pair).

use async_trait::async_trait;

use super::{
    Cond, DynamoStore, MAX_TRANSACTION_ITEMS, TxFailure, Write, decode_item, key, record_item,
};
use crate::store::{CacheStore, CachedPackument, Change, ProxiedTarball, StoreError, StoreResult};

const UPSTREAMS: &str = "UPSTREAMS";
const TARBALLS: &str = "UPSTREAM-TARBALLS";

fn tarball_sk(name: &str, version: &str) -> String {
    format!("{name} {version}")
}

fn store_error(f: TxFailure) -> StoreError {
    match f {
        TxFailure::Store(e) => e,
        TxFailure::Cancelled(codes) => StoreError::Conflict(format!(
            "a concurrent write got there first ({})",
            codes.join(", ")
        )),
    }
}

#[async_trait]
impl CacheStore for DynamoStore {
    async fn cached_packument(&self, name: &str) -> StoreResult<Option<CachedPackument>> {
        self.get_record(UPSTREAMS, name).await
    }

    async fn put_cached_packument(&self, packument: CachedPackument) -> StoreResult<()> {
        let writes = vec![
            Write::Put(record_item(UPSTREAMS, &packument.name, &packument)?, None),
            self.change_write(&Change::npm(&packument.name)),
        ];
        self.transact(writes).await.map_err(store_error)
    }

    async fn cached_packuments_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<CachedPackument>> {
        self.page_records(UPSTREAMS, after, limit).await
    }

    async fn remove_cached_packuments(&self, mut names: Vec<String>) -> StoreResult<()> {
        names.sort();
        names.dedup();
        for chunk in names.chunks(MAX_TRANSACTION_ITEMS / 2) {
            let mut writes = Vec::new();
            for name in chunk {
                writes.push(Write::Delete(key(UPSTREAMS, name), None));
                writes.push(self.change_write(&Change::npm(name)));
            }
            self.transact(writes).await.map_err(store_error)?;
        }
        Ok(())
    }

    async fn proxied_tarball(
        &self,
        name: &str,
        version: &str,
    ) -> StoreResult<Option<ProxiedTarball>> {
        self.get_record(TARBALLS, &tarball_sk(name, version)).await
    }

    async fn put_proxied_tarball(&self, tarball: ProxiedTarball) -> StoreResult<()> {
        let sk = tarball_sk(&tarball.name, &tarball.version);
        self.put(record_item(TARBALLS, &sk, &tarball)?, None)
            .await
            .map(drop)
    }

    async fn touch_proxied_tarballs(
        &self,
        uses: Vec<(String, String, time::OffsetDateTime)>,
    ) -> StoreResult<()> {
        for (name, version, at) in uses {
            let sk = tarball_sk(&name, &version);
            let Some(item) = self.get(TARBALLS, &sk).await? else {
                continue;
            };
            let mut tarball: ProxiedTarball = decode_item(&item)?;
            if at <= tarball.last_used {
                continue;
            }
            tarball.last_used = at;
            // Only while it is cached: an evicted entry is not written back.
            self.put(record_item(TARBALLS, &sk, &tarball)?, Some(Cond::present()))
                .await?;
        }
        Ok(())
    }

    async fn proxied_tarballs_page(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> StoreResult<Vec<ProxiedTarball>> {
        let after = after.map(|(n, v)| tarball_sk(n, v));
        self.page_records(TARBALLS, after.as_deref(), limit).await
    }

    async fn remove_proxied_tarballs(&self, mut keys: Vec<(String, String)>) -> StoreResult<()> {
        keys.sort();
        keys.dedup();
        for chunk in keys.chunks(MAX_TRANSACTION_ITEMS) {
            let writes = chunk
                .iter()
                .map(|(n, v)| Write::Delete(key(TARBALLS, &tarball_sk(n, v)), None))
                .collect();
            self.transact(writes).await.map_err(store_error)?;
        }
        Ok(())
    }
}
