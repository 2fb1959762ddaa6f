//! [`BlobReferenceStore`] on redb: every blob key a record still points at (npm versions, Zig
//! versions, proxied tarballs, cached packument bodies), read in one transaction.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{RedbStore, backend, decode};
use crate::store::referencing::{Bodied, Named, NpmVersion};
use crate::store::schema::{PROXIED, UPSTREAM_META, VERSIONS, ZIG_VERSIONS};
use crate::store::{BlobReference, BlobReferenceStore, StoreResult};

#[async_trait]
impl BlobReferenceStore for RedbStore {
    async fn blob_references(&self) -> StoreResult<Vec<BlobReference>> {
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
                refs.push(v.reference());
            }
            let zig = txn.open_table(ZIG_VERSIONS).map_err(backend)?;
            for row in zig.iter().map_err(backend)? {
                let v: Named = decode(row.map_err(backend)?.1.value())?;
                refs.push(v.zig());
            }
            let proxied = txn.open_table(PROXIED).map_err(backend)?;
            for row in proxied.iter().map_err(backend)? {
                let t: Named = decode(row.map_err(backend)?.1.value())?;
                refs.push(t.proxied());
            }
            let cached = txn.open_table(UPSTREAM_META).map_err(backend)?;
            for row in cached.iter().map_err(backend)? {
                let p: Bodied = decode(row.map_err(backend)?.1.value())?;
                refs.extend(p.reference());
            }
            Ok(refs)
        })
        .await
    }
}
