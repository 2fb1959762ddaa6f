//! [`CacheStore`] on redb: cached upstream packuments (metadata and body in separate tables)
//! and the records of proxied tarballs.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{RedbStore, backend, decode, encode, record_change};
use crate::store::Change;
use crate::store::schema::{PROXIED, UPSTREAM_BODIES, UPSTREAM_META};
use crate::store::{CacheStore, CachedPackument, ProxiedTarball, StoreResult};

#[async_trait]
impl CacheStore for RedbStore {
    async fn cached_packument(&self, name: &str) -> StoreResult<Option<CachedPackument>> {
        self.get_json(UPSTREAM_META, name).await
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
                // A body kept inline before schema 8 goes with the record that replaces it.
                txn.open_table(UPSTREAM_BODIES)
                    .map_err(backend)?
                    .remove(name)
                    .map_err(backend)?;
            }
            record_change(&txn, Change::npm(&packument.name))?;
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn cached_packuments_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<CachedPackument>> {
        self.page_json(UPSTREAM_META, after, limit).await
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
            for name in &names {
                record_change(&txn, Change::npm(name))?;
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn inline_packument_bodies(&self, limit: usize) -> StoreResult<Vec<(String, Vec<u8>)>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let bodies = txn.open_table(UPSTREAM_BODIES).map_err(backend)?;
            let mut out = Vec::new();
            for row in bodies.iter().map_err(backend)?.take(limit) {
                let (name, body) = row.map_err(backend)?;
                out.push((name.value().to_string(), body.value().to_vec()));
            }
            Ok(out)
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

    async fn proxied_tarballs_page(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> StoreResult<Vec<ProxiedTarball>> {
        let after = after.map(|(n, v)| (n.to_string(), v.to_string()));
        self.blocking(move |db| {
            use std::ops::Bound;
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(PROXIED).map_err(backend)?;
            let start = match &after {
                Some((n, v)) => Bound::Excluded((n.as_str(), v.as_str())),
                None => Bound::Unbounded,
            };
            let mut out = Vec::new();
            for row in table
                .range::<(&str, &str)>((start, Bound::Unbounded))
                .map_err(backend)?
                .take(limit)
            {
                out.push(decode(row.map_err(backend)?.1.value())?);
            }
            Ok(out)
        })
        .await
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
