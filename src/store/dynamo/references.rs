//! [`BlobReferenceStore`] on DynamoDB: every blob key a record names, read partition by
//! partition (npm versions per package, Zig versions per package, proxied tarballs, cached
//! packument bodies), with strongly consistent reads.

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};

use super::{DynamoStore, Range, decode_item, string_attr};
use crate::store::{BlobOwner, BlobReference, BlobReferenceStore, StoreResult};

/// Packages whose versions are read at once.
const PARALLEL: usize = 8;

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

impl DynamoStore {
    /// The sort keys of a listing partition.
    async fn names_in(&self, partition: &str) -> StoreResult<Vec<String>> {
        let items = self
            .query(
                &self.table,
                partition,
                Range {
                    projection: Some("SK"),
                    ..Range::default()
                },
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| string_attr(i, "SK").map(str::to_string))
            .collect())
    }
}

#[async_trait]
impl BlobReferenceStore for DynamoStore {
    async fn blob_references(&self) -> StoreResult<Vec<BlobReference>> {
        let mut refs = Vec::new();
        let npm = self.names_in(super::packages::PACKAGES).await?;
        let npm: Vec<Vec<NpmVersion>> = futures_util::stream::iter(npm)
            .map(|name| async move {
                self.records_with_prefix(&super::packages::versions_pk(&name), "VERSION#")
                    .await
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        for v in npm.into_iter().flatten() {
            refs.push(BlobReference {
                key: v.tarball.sha256,
                owner: BlobOwner::NpmVersion {
                    name: v.name,
                    version: v.version,
                },
            });
        }
        let zig = self.names_in(super::zig::ZIGS).await?;
        let zig: Vec<Vec<Named>> = futures_util::stream::iter(zig)
            .map(|name| async move {
                self.records_with_prefix(&super::zig::zig_pk(&name), "VERSION#")
                    .await
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        for v in zig.into_iter().flatten() {
            refs.push(BlobReference {
                key: v.sha256,
                owner: BlobOwner::ZigVersion {
                    name: v.name,
                    version: v.version,
                },
            });
        }
        for item in self
            .query(&self.table, "UPSTREAM-TARBALLS", Range::default())
            .await?
        {
            let t: Named = decode_item(&item)?;
            refs.push(BlobReference {
                key: t.sha256,
                owner: BlobOwner::ProxiedTarball {
                    name: t.name,
                    version: t.version,
                },
            });
        }
        for item in self
            .query(&self.table, "UPSTREAMS", Range::default())
            .await?
        {
            let p: Bodied = decode_item(&item)?;
            if let Some(key) = p.body {
                refs.push(BlobReference {
                    key,
                    owner: BlobOwner::CachedPackument { name: p.name },
                });
            }
        }
        Ok(refs)
    }
}
