//! The upstream cache's contents: packument bodies kept in the blob store (zstd'd JSON, named by
//! their cached record), the "last used" times of proxied tarballs, the cache's size, pruning by
//! age or to a byte cap, and the automatic cap (`npm.cache_max_bytes`) that evicts the least
//! recently used proxied tarballs. Locally published packages are never touched: a blob any
//! record references is never deleted ([`References`]).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::ProxyError;
use crate::blobs::{BlobError, BlobKey, BlobStore};
use crate::core::names::PackageName;
use crate::core::references::References;
use crate::core::{Core, CoreParts};
use crate::store::{CachedPackument, ProxiedTarball, StoreError, StoreResult};

/// Pending "last used" times of cached tarballs, shared with the transfers that add to them.
pub type PendingUses = Arc<UseLog>;

/// Uses of cached tarballs not yet written to the store.
#[derive(Default)]
pub struct UseLog {
    pending: Mutex<Vec<(String, String, OffsetDateTime)>>,
    /// Held from taking the pending uses until they are written, so that an eviction that
    /// flushes first sees every use recorded before it, never a batch in flight.
    flushing: tokio::sync::Mutex<()>,
}

impl UseLog {
    /// `name@version` was served from the cache just now.
    pub fn note(&self, name: &str, version: &str) {
        self.pending.lock().expect("uses lock").push((
            name.to_string(),
            version.to_string(),
            OffsetDateTime::now_utc(),
        ));
    }
}

/// The cached packument's document, read from its blob; `None` when the record has no body or
/// its body is lost or unreadable (logged: the caller fetches it again, as if it had expired).
pub async fn read_body(
    blobs: &dyn BlobStore,
    c: &CachedPackument,
) -> Result<Option<Arc<Value>>, ProxyError> {
    let Some(key) = c.body.as_deref().and_then(BlobKey::parse) else {
        return Ok(None);
    };
    let compressed = match blobs.get(&key).await {
        Ok(bytes) => bytes,
        Err(BlobError::Missing(_)) => {
            tracing::error!(blob = key.as_str(), record = %format!("cached upstream packument {}", c.name), "integrity error: the blob of an existing record is missing from the blob store; fetching it again");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    // Megabytes for popular packages: decompressed and parsed off the async runtime.
    let parsed = tokio::task::spawn_blocking(move || -> Result<Value, String> {
        let json = zstd::decode_all(compressed.as_ref()).map_err(|e| e.to_string())?;
        serde_json::from_slice(&json).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| StoreError::Backend(e.to_string()))?;
    match parsed {
        Ok(doc) => Ok(Some(Arc::new(doc))),
        Err(e) => {
            tracing::error!(blob = key.as_str(), pkg.name = %c.name, error = %e, "a cached packument's body is unreadable; fetching it again");
            Ok(None)
        }
    }
}

/// Keeps a packument fetched from the upstream: its body as a blob, then its record (which
/// re-indexes the package for search); the body `previous` named, if another, is deleted.
pub(super) async fn store_packument(
    core: &Core,
    name: &PackageName,
    doc: Arc<Value>,
    etag: Option<String>,
    last_modified: Option<String>,
    fetched_at: OffsetDateTime,
    previous: Option<&CachedPackument>,
) -> Result<String, ProxyError> {
    let body = tokio::task::spawn_blocking(move || {
        zstd::encode_all(serde_json::to_vec(&*doc).expect("JSON").as_slice(), 3)
    })
    .await
    .map_err(|e| StoreError::Backend(e.to_string()))?
    .map_err(|e| StoreError::Backend(e.to_string()))?;
    let key = BlobKey::parse(&hex::encode(Sha256::digest(&body))).expect("sha256 hex is a key");
    let record = CachedPackument {
        name: name.to_string(),
        etag,
        last_modified,
        fetched_at,
        missing: false,
        body: Some(key.as_str().to_string()),
        body_size: body.len() as u64,
    };
    // Held from the put until the record names the blob, so no deleter sees it unreferenced.
    let storing = core.blob_gate.storing().await;
    core.blobs.put(&key, Bytes::from(body)).await?;
    write_record(core, record).await?;
    drop(storing);
    retire(core, previous, Some(&key));
    Ok(key.as_str().to_string())
}

/// Remembers that the upstream has no package `name` (a negative entry, without a body).
pub(super) async fn store_missing(
    core: &Core,
    name: &PackageName,
    fetched_at: OffsetDateTime,
    previous: Option<&CachedPackument>,
) -> Result<(), ProxyError> {
    let record = CachedPackument {
        name: name.to_string(),
        etag: None,
        last_modified: None,
        fetched_at,
        missing: true,
        body: None,
        body_size: 0,
    };
    write_record(core, record).await?;
    retire(core, previous, None);
    Ok(())
}

/// Writes a new or changed cached packument and re-indexes the package for search.
async fn write_record(core: &Core, packument: CachedPackument) -> StoreResult<()> {
    let store = core.store.clone();
    let name = packument.name.clone();
    core.write_and_index(crate::search::Ecosystem::Npm, &name, async move {
        store.put_cached_packument(packument).await
    })
    .await
}

/// Deletes the body `previous` named once a record no longer does (in the background: a
/// deletion waits for blob stores in flight). No other record kind can name it: a body is
/// zstd'd JSON with its package's name inside, content no tarball or other package's body has.
/// (Should a hostile upstream send two names the same bytes, the other copy reads as lost and
/// is fetched again.)
fn retire(core: &Core, previous: Option<&CachedPackument>, kept: Option<&BlobKey>) {
    let Some(old) = previous
        .and_then(|p| p.body.as_deref())
        .and_then(BlobKey::parse)
    else {
        return;
    };
    if Some(&old) == kept {
        return;
    }
    let parts = core.clone_parts();
    tokio::spawn(async move {
        let _deleting = parts.blob_gate.deleting().await;
        if let Err(e) = parts.blobs.delete(&old).await {
            tracing::warn!(blob = old.as_str(), error = %e, "could not delete a replaced packument body; gc will");
        }
    });
}

/// Moves packument bodies that a schema-7 database kept inline into the blob store, a batch at a
/// time, each record rewritten to name its blob. Runs once at startup; a database that holds
/// none costs one read.
pub async fn move_inline_bodies(parts: &CoreParts) -> StoreResult<usize> {
    let mut moved = 0;
    loop {
        let batch = parts.store.inline_packument_bodies(64).await?;
        if batch.is_empty() {
            return Ok(moved);
        }
        for (name, body) in batch {
            let Some(mut record) = parts.store.cached_packument(&name).await? else {
                parts.store.remove_cached_packuments(vec![name]).await?;
                continue;
            };
            let key =
                BlobKey::parse(&hex::encode(Sha256::digest(&body))).expect("sha256 hex is a key");
            record.body_size = body.len() as u64;
            record.body = Some(key.as_str().to_string());
            let storing = parts.blob_gate.storing().await;
            parts
                .blobs
                .put(&key, Bytes::from(body))
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            parts.store.put_cached_packument(record).await?;
            drop(storing);
            moved += 1;
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub packuments: usize,
    /// Remembered upstream 404s.
    pub negative: usize,
    pub packument_bytes: u64,
    pub tarballs: usize,
    pub tarball_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub tarballs_removed: usize,
    pub bytes_freed: u64,
    pub packuments_removed: usize,
}

pub async fn stats(parts: &CoreParts) -> StoreResult<CacheStats> {
    let mut s = CacheStats::default();
    for p in parts.store.list_cached_packuments().await? {
        if p.missing {
            s.negative += 1;
        } else {
            s.packuments += 1;
            s.packument_bytes += p.body_size;
        }
    }
    for t in parts.store.list_proxied_tarballs().await? {
        s.tarballs += 1;
        s.tarball_bytes += t.size;
    }
    Ok(s)
}

/// Removes proxied tarballs (and packuments) not used within `older_than`, then the least
/// recently used tarballs until their total is at most `max_bytes`.
pub async fn prune(
    parts: &CoreParts,
    older_than: Option<time::Duration>,
    max_bytes: Option<u64>,
) -> StoreResult<PruneReport> {
    let now = OffsetDateTime::now_utc();
    let mut tarballs = parts.store.list_proxied_tarballs().await?;
    tarballs.sort_by_key(|t| (t.last_used, t.fetched_at));
    let mut total: u64 = tarballs.iter().map(|t| t.size).sum();
    let mut doomed: Vec<ProxiedTarball> = Vec::new();
    for t in tarballs {
        let too_old = older_than.is_some_and(|age| now - t.last_used > age);
        let over_cap = max_bytes.is_some_and(|cap| total > cap);
        if too_old || over_cap {
            total -= t.size;
            doomed.push(t);
        }
    }
    let stale: Vec<CachedPackument> = match older_than {
        Some(age) => parts
            .store
            .list_cached_packuments()
            .await?
            .into_iter()
            .filter(|p| now - p.fetched_at > age)
            .collect(),
        None => Vec::new(),
    };
    let mut report = PruneReport {
        packuments_removed: stale.len(),
        ..PruneReport::default()
    };
    if doomed.is_empty() && stale.is_empty() {
        return Ok(report);
    }
    let _deleting = parts.blob_gate.deleting().await;
    if !doomed.is_empty() {
        let keys = doomed
            .iter()
            .map(|t| (t.name.clone(), t.version.clone()))
            .collect();
        parts.store.remove_proxied_tarballs(keys).await?;
    }
    if !stale.is_empty() {
        let names = stale.iter().map(|p| p.name.clone()).collect();
        parts.store.remove_cached_packuments(names).await?;
    }
    // Read after the removals: a doomed blob goes unless something else (a local version, a
    // Zig version, another cached tarball with the same bytes) still names it.
    let references = References::load(parts.store.as_ref()).await?;
    let mut deleted = std::collections::HashSet::new();
    let blobs = doomed
        .iter()
        .map(|t| (t.sha256.as_str(), t.size, true))
        .chain(
            stale
                .iter()
                .filter_map(|p| Some((p.body.as_deref()?, p.body_size, false))),
        );
    for (sha256, size, is_tarball) in blobs {
        if is_tarball {
            report.tarballs_removed += 1;
        }
        // Only bytes that leave the disk count as freed: a blob something else names stays.
        if references.contains(sha256) || !deleted.insert(sha256) {
            continue;
        }
        let Some(key) = BlobKey::parse(sha256) else {
            continue;
        };
        match parts.blobs.delete(&key).await {
            Ok(()) if is_tarball => report.bytes_freed += size,
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(blob = %sha256, error = %e, "could not delete an evicted cache entry")
            }
        }
    }
    Ok(report)
}

/// Writes pending "last used" times of cached tarballs.
/// Runs to its end even if the caller is dropped (the periodic flusher is aborted at
/// shutdown), so uses are never taken and then not written.
pub async fn flush_uses(parts: &CoreParts, log: &PendingUses) {
    let (store, log) = (parts.store.clone(), log.clone());
    let work = tokio::spawn(async move {
        let _writing = log.flushing.lock().await;
        let uses = std::mem::take(&mut *log.pending.lock().expect("uses lock"));
        if let Err(e) = store.touch_proxied_tarballs(uses).await {
            tracing::warn!(error = %e, "could not record cached tarball uses");
        }
    });
    let _ = work.await;
}

/// Applies `npm.cache_max_bytes` after a tarball was added. One eviction at a time; pending
/// uses are written first, so "least recently used" is up to date.
pub async fn enforce_cap(parts: &CoreParts, pending: &PendingUses) {
    static RUNNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    if parts.cache_max_bytes == 0 {
        return;
    }
    let _one = RUNNING.lock().await;
    flush_uses(parts, pending).await;
    match prune(parts, None, Some(parts.cache_max_bytes)).await {
        Ok(r) if r.tarballs_removed > 0 => tracing::info!(
            tarballs = r.tarballs_removed,
            size_bytes = r.bytes_freed,
            "evicted least recently used upstream tarballs to stay under npm.cache_max_bytes"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not enforce npm.cache_max_bytes"),
    }
}
