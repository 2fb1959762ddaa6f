//! The upstream cache's size: stats, pruning by age or to a byte cap, and the automatic cap
//! (`npm.cache_max_bytes`) that evicts the least recently used proxied tarballs. Locally
//! published packages are never touched: a blob any record references is never deleted
//! ([`References`]).

use time::OffsetDateTime;

use crate::blobs::BlobKey;
use crate::core::CoreParts;
use crate::core::references::References;
use crate::store::{ProxiedTarball, StoreResult};

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
    for (p, size) in parts.store.list_cached_packuments().await? {
        if p.missing {
            s.negative += 1;
        } else {
            s.packuments += 1;
            s.packument_bytes += size;
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
    let mut report = PruneReport::default();
    if !doomed.is_empty() {
        let keys = doomed
            .iter()
            .map(|t| (t.name.clone(), t.version.clone()))
            .collect();
        let _deleting = parts.blob_gate.deleting().await;
        parts.store.remove_proxied_tarballs(keys).await?;
        // Read after the removal: a doomed tarball's blob goes unless something else (a local
        // version, a Zig version, another cached tarball with the same bytes) still names it.
        let references = References::load(parts.store.as_ref()).await?;
        let mut deleted = std::collections::HashSet::new();
        for t in &doomed {
            report.tarballs_removed += 1;
            // Only bytes that leave the disk count as freed: a blob something else names stays.
            if references.contains(&t.sha256) || !deleted.insert(t.sha256.as_str()) {
                continue;
            }
            let Some(key) = BlobKey::parse(&t.sha256) else {
                continue;
            };
            match parts.blobs.delete(&key).await {
                Ok(()) => report.bytes_freed += t.size,
                Err(e) => {
                    tracing::warn!(blob = %t.sha256, error = %e, "could not delete an evicted tarball")
                }
            }
        }
    }
    if let Some(age) = older_than {
        let stale: Vec<String> = parts
            .store
            .list_cached_packuments()
            .await?
            .into_iter()
            .filter(|(p, _)| now - p.fetched_at > age)
            .map(|(p, _)| p.name)
            .collect();
        report.packuments_removed = stale.len();
        if !stale.is_empty() {
            parts.store.remove_cached_packuments(stale).await?;
        }
    }
    Ok(report)
}

/// Writes pending "last used" times of cached tarballs.
/// Runs to its end even if the caller is dropped (the periodic flusher is aborted at
/// shutdown), so uses are never taken and then not written.
pub async fn flush_uses(parts: &CoreParts, log: &super::PendingUses) {
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
pub async fn enforce_cap(parts: &CoreParts, pending: &super::PendingUses) {
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
