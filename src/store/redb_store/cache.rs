//! [`CacheStore`] on redb: cached upstream packuments (metadata and body in separate tables)
//! and the records of proxied tarballs.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{RedbStore, backend, count_change, decode, encode};
use crate::store::schema::{PROXIED, UPSTREAM_BODIES, UPSTREAM_META};
use crate::store::{CacheStore, CachedPackument, ProxiedTarball, StoreResult};

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
