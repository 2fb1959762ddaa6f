//! [`BlobReferenceStore`] on DynamoDB: every blob key a record names, read partition by
//! partition (npm versions per package, Zig versions per package, proxied tarballs, cached
//! packument bodies), with strongly consistent reads.

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};

use super::{DynamoStore, Range, decode_item};
use crate::store::referencing::{Bodied, Named, NpmVersion};
use crate::store::{BlobReference, BlobReferenceStore, StoreResult};

/// Packages whose versions are read at once.
const PARALLEL: usize = 8;

#[async_trait]
impl BlobReferenceStore for DynamoStore {
    async fn blob_references(&self) -> StoreResult<Vec<BlobReference>> {
        let mut refs = Vec::new();
        let npm = self.sort_keys(super::packages::PACKAGES, "").await?;
        let npm: Vec<Vec<NpmVersion>> = futures_util::stream::iter(npm)
            .map(|name| async move {
                self.records_with_prefix(&super::packages::versions_pk(&name), "VERSION#")
                    .await
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        refs.extend(npm.into_iter().flatten().map(NpmVersion::reference));
        let zig = self.sort_keys(super::zig::ZIGS, "").await?;
        let zig: Vec<Vec<Named>> = futures_util::stream::iter(zig)
            .map(|name| async move {
                self.records_with_prefix(&super::zig::zig_pk(&name), "VERSION#")
                    .await
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        refs.extend(zig.into_iter().flatten().map(Named::zig));
        for item in self
            .query(&self.table, "UPSTREAM-TARBALLS", Range::default())
            .await?
        {
            refs.push(decode_item::<Named>(&item)?.proxied());
        }
        for item in self
            .query(&self.table, "UPSTREAMS", Range::default())
            .await?
        {
            refs.extend(decode_item::<Bodied>(&item)?.reference());
        }
        Ok(refs)
    }
}
