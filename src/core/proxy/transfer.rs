//! A proxied tarball on its way: streamed to the client as it arrives from the upstream, and
//! stored once the whole of it verified.

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{PendingUses, UpstreamTarball};
use crate::blobs::{BlobKey, BlobReader};
use crate::core::names::PackageName;
use crate::core::{Core, CoreParts};
use crate::store::ProxiedTarball;

/// A tarball to send: from the blob store, or streaming in from the upstream (chunks as they
/// arrive; an error item when the transfer fails or the bytes do not verify).
pub enum TarballSource {
    Stored(BlobReader),
    Streaming {
        chunks: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
        size: Option<u64>,
    },
}

impl TarballSource {
    /// The size, when known before sending.
    pub fn size(&self) -> Option<u64> {
        match self {
            TarballSource::Stored(reader) => Some(reader.size),
            TarballSource::Streaming { size, .. } => *size,
        }
    }
}

/// Starts forwarding `incoming` to the returned source, storing it when it completes. The
/// transfer runs to its end even when the client hangs up, so the next request is a hit.
pub(super) fn start(
    core: &Core,
    uses: &PendingUses,
    name: &PackageName,
    version: &str,
    incoming: UpstreamTarball,
    one_transfer: tokio::sync::OwnedMutexGuard<()>,
) -> TarballSource {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(16);
    let size = incoming.size;
    let job = Transfer {
        core: core.clone_parts(),
        uses: uses.clone(),
        name: name.to_string(),
        version: version.to_string(),
        integrity: incoming.integrity.clone(),
        _one_transfer: one_transfer,
    };
    tokio::spawn(job.run(incoming, tx));
    TarballSource::Streaming { chunks: rx, size }
}

/// One tarball coming in from the upstream, forwarded to the client as it arrives.
struct Transfer {
    core: CoreParts,
    uses: PendingUses,
    /// Held until the transfer ends, so concurrent requests for this tarball wait for it.
    _one_transfer: tokio::sync::OwnedMutexGuard<()>,
    name: String,
    version: String,
    integrity: String,
}

impl Transfer {
    async fn run(
        self,
        incoming: UpstreamTarball,
        tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    ) {
        let mut content = incoming.content;
        let mut data = Vec::new();
        // The client may hang up; the transfer still completes so the next request is a hit.
        let mut client = Some(tx);
        // The newest chunk is held back until the tarball is stored, so a client that has the
        // whole tarball finds it stored when it asks again.
        let mut held: Option<Bytes> = None;
        while let Some(chunk) = content.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(pkg.name = %self.name, pkg.version = %self.version, error = %e, "upstream tarball not stored");
                    if let Some(tx) = client.take() {
                        let _ = tx.send(Err(e)).await;
                    }
                    return;
                }
            };
            data.extend_from_slice(&chunk);
            if let Some(previous) = held.replace(chunk)
                && let Some(tx) = &client
                && tx.send(Ok(previous)).await.is_err()
            {
                client = None;
            }
        }
        if let Err(e) = self.store(data).await {
            tracing::error!(pkg.name = %self.name, pkg.version = %self.version, error = %e, "could not store a verified upstream tarball");
        }
        if let (Some(tx), Some(last)) = (&client, held) {
            let _ = tx.send(Ok(last)).await;
        }
        // Dropping the sender ends the client's body normally.
        drop(client);
    }

    async fn store(&self, data: Vec<u8>) -> Result<(), String> {
        let sha256 = hex::encode(Sha256::digest(&data));
        let key = BlobKey::parse(&sha256).expect("sha256 hex is a key");
        let size = data.len() as u64;
        let storing = self.core.blob_gate.storing().await;
        self.core
            .blobs
            .put(&key, Bytes::from(data))
            .await
            .map_err(|e| e.to_string())?;
        let now = OffsetDateTime::now_utc();
        self.core
            .store
            .put_proxied_tarball(ProxiedTarball {
                name: self.name.clone(),
                version: self.version.clone(),
                sha256,
                integrity: self.integrity.clone(),
                size,
                fetched_at: now,
                last_used: now,
            })
            .await
            .map_err(|e| e.to_string())?;
        drop(storing);
        tracing::info!(pkg.name = %self.name, pkg.version = %self.version, size_bytes = size, "cached an upstream tarball");
        // The cap is enforced off the request path.
        let (parts, uses) = (self.core.clone(), self.uses.clone());
        tokio::spawn(async move { super::cache::enforce_cap(&parts, &uses).await });
        Ok(())
    }
}
