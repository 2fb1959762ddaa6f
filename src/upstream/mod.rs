//! The npm fallback: packages this registry does not host, fetched from the upstream registry,
//! cached, and served as if they were ours (tarball URLs point here).
//!
//! Rules, in the order they apply:
//! - A name that exists locally is never looked up upstream, and neither is a scope listed in
//!   `npm.local_scopes` or any scope with a local package (no dependency confusion).
//! - Packuments are cached (zstd) for `npm.cache_max_age_secs`, then revalidated with the
//!   upstream's ETag / Last-Modified; upstream 404s are remembered for `npm.negative_cache_secs`.
//!   Concurrent misses for one name make one upstream request (a per-name lock).
//! - When the upstream fails or is slow (`npm.upstream_timeout_secs`), a cached packument is
//!   served stale and says so; a miss is 502/504. `npm.offline` serves only what is cached.
//! - A revalidated packument replaces the old one, so versions the upstream removed stop being
//!   served (their tarballs stay in the blob store until pruned).
//! - A tarball is fetched once, streamed to the client while it is hashed, verified against the
//!   upstream's `dist.integrity` (or `dist.shasum`), and only then stored; a mismatch or a broken
//!   transfer stores nothing and breaks the client's response.

mod audit;
mod fetch;
pub mod prune;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use time::OffsetDateTime;

use crate::core::Core;
use crate::core::names::PackageName;
use crate::store::{CachedPackument, StoreError, StoreResult};

pub use fetch::{Downloaded, TarballSource, count_download};

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("not found upstream")]
    NotFound,
    #[error("offline: this package is not in the cache")]
    Offline,
    #[error("the upstream registry did not answer in time")]
    Timeout,
    #[error("the upstream registry is unreachable: {0}")]
    Unreachable(String),
    #[error("the upstream registry answered badly: {0}")]
    BadUpstream(String),
    #[error("the upstream tarball failed verification: {0}")]
    Integrity(String),
    /// A cached tarball's blob is gone, and offline it cannot be fetched again.
    #[error(
        "The tarball of {0} is missing on this server (logged as an integrity error for the operator)"
    )]
    MissingBlob(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a proxied packument was obtained; sent to clients as `X-Pantry-Cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Fetched from the upstream just now.
    Miss,
    /// From the cache, within its max age.
    Hit,
    /// From the cache, confirmed unchanged by the upstream (304).
    Revalidated,
    /// From the cache because the upstream failed (or offline mode): may be out of date.
    Stale,
}

impl Freshness {
    pub fn header(self) -> &'static str {
        match self {
            Freshness::Miss => "miss",
            Freshness::Hit => "hit",
            Freshness::Revalidated => "revalidated",
            Freshness::Stale => "stale",
        }
    }
}

/// An upstream packument, as parsed JSON.
pub struct Proxied {
    pub doc: Arc<Value>,
    pub freshness: Freshness,
}

/// Pending "last used" times of cached tarballs: (name, version, when).
pub type PendingUses = Arc<UseLog>;

/// Uses of cached tarballs not yet written to the store.
#[derive(Default)]
pub struct UseLog {
    pending: Mutex<Vec<(String, String, OffsetDateTime)>>,
    /// Held from taking the pending uses until they are written, so that an eviction that
    /// flushes first sees every use recorded before it, never a batch in flight.
    flushing: tokio::sync::Mutex<()>,
}

/// After an upstream failure for a name, how long further requests skip the upstream and answer
/// at once (stale copy or error) instead of each waiting out another timeout.
const FAILURE_MEMORY: std::time::Duration = std::time::Duration::from_secs(5);

/// The fallback's state: the HTTP client, per-name locks, recent failures, pending tarball uses.
pub struct Upstream {
    client: reqwest::Client,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    failures: Mutex<HashMap<String, (std::time::Instant, bool)>>,
    uses: PendingUses,
}

/// `scheme://host:port` of a URL, for same-origin checks.
pub(crate) fn origin(url: &str) -> Option<(String, String, u16)> {
    let u = reqwest::Url::parse(url).ok()?;
    Some((
        u.scheme().to_string(),
        u.host_str()?.to_string(),
        u.port_or_known_default()?,
    ))
}

impl Upstream {
    /// `timeout` bounds connecting and each wait for data (headers included), not a whole
    /// transfer: a large tarball that keeps flowing is never cut off.
    pub fn new(upstream: &str, timeout: std::time::Duration) -> Self {
        let home = origin(upstream);
        // Redirects are followed only within the upstream's origin: an upstream answer can
        // never make this server fetch from somewhere else.
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() < 5 && origin(attempt.url().as_str()) == home {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .redirect(policy)
            .user_agent(concat!("pantry-registry/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds");
        Self {
            client,
            locks: Mutex::default(),
            failures: Mutex::default(),
            uses: PendingUses::default(),
        }
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().expect("lock map");
        // Forget locks nobody holds any more, so the map stays as small as the traffic.
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(key.to_string()).or_default().clone()
    }

    /// The error of a failure for `name` within [`FAILURE_MEMORY`], if any.
    fn recent_failure(&self, name: &str) -> Option<ProxyError> {
        let failures = self.failures.lock().expect("failures lock");
        let (at, timeout) = failures.get(name)?;
        (at.elapsed() < FAILURE_MEMORY).then(|| {
            if *timeout {
                ProxyError::Timeout
            } else {
                ProxyError::Unreachable("it failed moments ago".into())
            }
        })
    }

    fn record_outcome(&self, name: &str, error: Option<&ProxyError>) {
        let mut failures = self.failures.lock().expect("failures lock");
        match error {
            Some(e) => {
                if failures.len() > 10_000 {
                    failures.retain(|_, (at, _)| at.elapsed() < FAILURE_MEMORY);
                }
                failures.insert(
                    name.to_string(),
                    (std::time::Instant::now(), matches!(e, ProxyError::Timeout)),
                );
            }
            None => {
                failures.remove(name);
            }
        }
    }

    /// Whether `name` may be looked up upstream at all.
    async fn may_proxy(&self, core: &Core, name: &PackageName) -> Result<bool, ProxyError> {
        Ok(
            crate::core::proxy::may_proxy(&core.settings.npm, core.store.as_ref(), name.as_str())
                .await?,
        )
    }

    /// The upstream packument of `name` (a name with no local package).
    pub async fn packument(&self, core: &Core, name: &PackageName) -> Result<Proxied, ProxyError> {
        if !self.may_proxy(core, name).await? {
            return Err(ProxyError::NotFound);
        }
        let npm = &core.settings.npm;
        let lock = self.lock_for(name.as_str());
        let _one_at_a_time = lock.lock().await;
        let cached = core.store.cached_packument(name.as_str()).await?;
        let now = OffsetDateTime::now_utc();
        if let Some(c) = &cached {
            let max_age = if c.missing {
                npm.negative_cache
            } else {
                npm.cache_max_age
            };
            if now - c.fetched_at < max_age {
                return from_cache(c, Freshness::Hit).await;
            }
        }
        let usable = cached.as_ref().filter(|c| !c.missing);
        if npm.offline {
            return match usable {
                Some(c) => from_cache(c, Freshness::Stale).await,
                None => Err(ProxyError::Offline),
            };
        }
        if let Some(e) = self.recent_failure(name.as_str()) {
            return match usable {
                Some(c) => from_cache(c, Freshness::Stale).await,
                None => Err(e),
            };
        }
        let fetched = fetch::packument(self, core, name, usable).await;
        self.record_outcome(name.as_str(), fetched.as_ref().err());
        match fetched {
            Ok(fetch::Fetched::Fresh {
                doc,
                etag,
                last_modified,
            }) => {
                let body = zstd::encode_all(serde_json::to_vec(&doc).expect("JSON").as_slice(), 3)
                    .map_err(|e| ProxyError::Store(StoreError::Backend(e.to_string())))?;
                cache_and_index(
                    core,
                    CachedPackument {
                        name: name.to_string(),
                        etag,
                        last_modified,
                        fetched_at: now,
                        missing: false,
                        body,
                    },
                )
                .await?;
                Ok(Proxied {
                    doc: Arc::new(doc),
                    freshness: Freshness::Miss,
                })
            }
            Ok(fetch::Fetched::NotModified) => {
                let mut c = usable
                    .cloned()
                    .expect("304 only answers a conditional request");
                c.fetched_at = now;
                core.store.put_cached_packument(c.clone()).await?;
                from_cache(&c, Freshness::Revalidated).await
            }
            Ok(fetch::Fetched::NotFound) => {
                cache_and_index(
                    core,
                    CachedPackument {
                        name: name.to_string(),
                        etag: None,
                        last_modified: None,
                        fetched_at: now,
                        missing: true,
                        body: Vec::new(),
                    },
                )
                .await?;
                Err(ProxyError::NotFound)
            }
            Err(e) => match usable {
                Some(c) => {
                    tracing::warn!(pkg.name = %name, error = %e, "upstream failed; serving the cached packument");
                    from_cache(c, Freshness::Stale).await
                }
                None => Err(e),
            },
        }
    }

    /// A proxied version's tarball: from the blob store when fetched before, else fetched,
    /// streamed, verified and stored.
    pub async fn tarball(
        &self,
        core: &Core,
        name: &PackageName,
        version: &str,
    ) -> Result<TarballSource, ProxyError> {
        let packument = self.packument(core, name).await?;
        let Some(manifest) = packument.doc.get("versions").and_then(|v| v.get(version)) else {
            return Err(ProxyError::NotFound);
        };
        let mut blob_missing = false;
        if let Some(stored) = core.store.proxied_tarball(name.as_str(), version).await?
            && let Some(key) = crate::blobs::BlobKey::parse(&stored.sha256)
        {
            match core.blobs.get(&key).await {
                Ok(bytes) => {
                    self.note_use(name.as_str(), version);
                    return Ok(TarballSource::Stored(bytes));
                }
                Err(crate::blobs::BlobError::Missing(_)) => {
                    blob_missing = true;
                    tracing::error!(blob = key.as_str(), record = %format!("cached upstream tarball {name}@{version}"), "integrity error: the blob of an existing record is missing from the blob store; fetching it again");
                }
                Err(e) => {
                    tracing::warn!(pkg.name = %name, pkg.version = version, error = %e, "cached tarball unreadable; fetching again")
                }
            }
        }
        if core.settings.npm.offline {
            return Err(if blob_missing {
                ProxyError::MissingBlob(format!("{name}@{version}"))
            } else {
                ProxyError::Offline
            });
        }
        // One transfer per tarball: later requests wait for it, then read the stored copy.
        let guard = self
            .lock_for(&format!("{name}@{version}\0tarball"))
            .lock_owned()
            .await;
        if let Some(stored) = core.store.proxied_tarball(name.as_str(), version).await?
            && let Some(key) = crate::blobs::BlobKey::parse(&stored.sha256)
            && let Ok(bytes) = core.blobs.get(&key).await
        {
            self.note_use(name.as_str(), version);
            return Ok(TarballSource::Stored(bytes));
        }
        fetch::tarball(self, core, name, version, manifest, guard).await
    }

    fn note_use(&self, name: &str, version: &str) {
        self.uses.pending.lock().expect("uses lock").push((
            name.to_string(),
            version.to_string(),
            OffsetDateTime::now_utc(),
        ));
    }

    /// Writes pending "last used" times of cached tarballs (with the download counts).
    pub async fn flush_uses(&self, core: &Core) {
        prune::flush_uses(&core.clone_parts(), &self.uses).await;
    }
}

/// The version numbers in a cached upstream packument, read without asking the upstream (for
/// download counts, which must not wait on it). A negative entry has none.
pub async fn cached_versions(c: &CachedPackument) -> StoreResult<Vec<String>> {
    match from_cache(c, Freshness::Hit).await {
        Ok(p) => Ok(p
            .doc
            .get("versions")
            .and_then(Value::as_object)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default()),
        Err(ProxyError::NotFound) => Ok(Vec::new()),
        Err(ProxyError::Store(e)) => Err(e),
        Err(other) => Err(StoreError::Corrupt(other.to_string())),
    }
}

/// Stores a new or changed upstream packument and re-indexes the package for search.
async fn cache_and_index(core: &Core, packument: CachedPackument) -> StoreResult<()> {
    let store = core.store.clone();
    let name = packument.name.clone();
    core.write_and_index(crate::search::Ecosystem::Npm, &name, async move {
        store.put_cached_packument(packument).await
    })
    .await
}

/// Decompresses and parses a cached packument (megabytes for popular packages, so off the
/// async runtime).
async fn from_cache(c: &CachedPackument, freshness: Freshness) -> Result<Proxied, ProxyError> {
    if c.missing {
        return Err(ProxyError::NotFound);
    }
    let body = c.body.clone();
    let corrupt =
        |e: String| ProxyError::Store(StoreError::Corrupt(format!("cached packument: {e}")));
    let doc = tokio::task::spawn_blocking(move || -> Result<Value, String> {
        let json = zstd::decode_all(body.as_slice()).map_err(|e| e.to_string())?;
        serde_json::from_slice(&json).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| corrupt(e.to_string()))?
    .map_err(corrupt)?;
    Ok(Proxied {
        doc: Arc::new(doc),
        freshness,
    })
}
