//! [`BlobReferenceStore`] on redb: every blob key a record still points at (npm versions, Zig
//! versions, proxied tarballs, cached packument bodies), read in one transaction.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{RedbStore, backend, decode};
use crate::store::schema::{PROXIED, UPSTREAM_META, VERSIONS, ZIG_VERSIONS};
use crate::store::{BlobOwner, BlobReference, BlobReferenceStore, StoreResult};

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
        #[derive(serde::Deserialize)]
        struct Bodied {
            name: String,
            #[serde(default)]
            body: Option<String>,
        }
        self.blocking(|db| {
            // One read transaction: the four tables are seen as of the same commit.
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
            let cached = txn.open_table(UPSTREAM_META).map_err(backend)?;
            for row in cached.iter().map_err(backend)? {
                let p: Bodied = decode(row.map_err(backend)?.1.value())?;
                if let Some(key) = p.body {
                    refs.push(BlobReference {
                        key,
                        owner: BlobOwner::CachedPackument { name: p.name },
                    });
                }
            }
            Ok(refs)
        })
        .await
    }
}
