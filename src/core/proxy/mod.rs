//! The npm fallback's policy: packages this registry does not host, fetched from the upstream
//! registry, cached, and served as if they were ours (tarball URLs point here). The upstream is
//! reached through the [`UpstreamRegistry`] port, which `crate::upstream` implements over HTTP;
//! everything decided here is independent of how.
//!
//! Rules, in the order they apply:
//! - A name that exists locally is never looked up upstream, and neither is a scope listed in
//!   `npm.local_scopes` or any scope with a local package (no dependency confusion): [`may_proxy`],
//!   which every door (the npm protocol, the Pantry API, search, publish) asks.
//! - Packuments are cached (zstd, in the blob store) for `npm.cache_max_age_secs`, then
//!   revalidated with the upstream's ETag / Last-Modified; upstream 404s are remembered for
//!   `npm.negative_cache_secs`. Concurrent misses for one name make one upstream request (a
//!   per-name lock).
//! - When the upstream fails or is slow (`npm.upstream_timeout_secs`), a cached packument is
//!   served stale and says so; a miss is 502/504. `npm.offline` serves only what is cached.
//! - A revalidated packument replaces the old one, so versions the upstream removed stop being
//!   served (their tarballs stay in the blob store until pruned).
//! - A tarball is fetched once, streamed to the client while it is verified against the
//!   upstream's `dist.integrity` (or `dist.shasum`), and only then stored; a mismatch or a broken
//!   transfer stores nothing and breaks the client's response.

pub mod cache;
mod transfer;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;
use time::OffsetDateTime;

use crate::core::Core;
use crate::core::names::PackageName;
use crate::store::{CachedPackument, StoreError};

pub use cache::PendingUses;
pub use transfer::TarballSource;

/// Whether the upstream package `name` may be served here: the fallback is on, the name is not
/// declared ours (`npm.local_names`), its scope is not ours (configured in `npm.local_scopes`,
/// or holding a local package), and the name was never published here (a name unpublished
/// here stays ours: an upstream package of that name must not take its place for the projects
/// that depended on it).
pub async fn may_proxy(
    npm: &crate::config::NpmSettings,
    store: &dyn crate::store::MetadataStore,
    name: &str,
) -> crate::store::StoreResult<bool> {
    if !npm.fallback || npm.local_names.iter().any(|n| n == name) {
        return Ok(false);
    }
    if let Some(scope) = crate::core::names::scope_of(name)
        && (npm.local_scopes.iter().any(|s| s == scope) || store.scope_has_packages(scope).await?)
    {
        return Ok(false);
    }
    Ok(!store.name_was_local(name).await?)
}

/// What the upstream answered for a packument.
pub enum Fetched {
    Fresh {
        doc: Value,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    /// The cached copy is current (only an answer to a conditional request).
    NotModified,
    /// Gone, or never there.
    NotFound,
}

/// A cached copy's validators, for a conditional request.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
}

/// Bytes coming in from the upstream.
pub type UpstreamBytes = Pin<Box<dyn futures_util::Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A tarball coming from the upstream: its announced size, the integrity it is checked against
/// (`sha512-…`, or `sha1-<hex>` from a shasum), and its bytes, verified as they stream: the last
/// chunk arrives only once the whole content matched, and any failure (a broken transfer, too
/// many bytes, a mismatch) is an error item instead.
pub struct UpstreamTarball {
    pub size: Option<u64>,
    pub integrity: String,
    pub content: UpstreamBytes,
}

/// The upstream registry, as the fallback needs it. Implemented over HTTP by
/// `crate::upstream::UpstreamClient`.
#[async_trait]
pub trait UpstreamRegistry: Send + Sync {
    /// The packument of `name`; conditional when `cached` gives validators.
    async fn packument(
        &self,
        name: &PackageName,
        cached: Option<Validators<'_>>,
    ) -> Result<Fetched, ProxyError>;
    /// The tarball of `name@version`, whose manifest's `dist` is `dist`.
    async fn tarball(
        &self,
        name: &PackageName,
        version: &str,
        dist: &Value,
    ) -> Result<UpstreamTarball, ProxyError>;
    /// The upstream's audit report for `body` (`{"pkg": ["1.0.0", …]}`); `None` when it fails or
    /// answers something other than a JSON object.
    async fn advisories_bulk(&self, body: &Value) -> Option<Value>;
    /// Whether the upstream answers at all (any answer but a server error), for readiness.
    async fn ping(&self) -> Result<(), ProxyError> {
        Ok(())
    }
}

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
    /// A cached tarball's blob is gone, and offline it cannot be fetched again.
    #[error(
        "The tarball of {0} is missing on this server (logged as an integrity error for the operator)"
    )]
    MissingBlob(String),
    /// The blob store failed while reading or writing the cache.
    #[error(transparent)]
    Blob(#[from] crate::blobs::BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs an upstream request, recording how long it took (`pantry_upstream_request_seconds`)
/// and whether it failed (`pantry_upstream_errors_total`).
async fn timed<T>(
    kind: &'static str,
    request: impl std::future::Future<Output = Result<T, ProxyError>>,
) -> Result<T, ProxyError> {
    let started = std::time::Instant::now();
    let result = request.await;
    metrics::histogram!("pantry_upstream_request_seconds", "kind" => kind)
        .record(started.elapsed().as_secs_f64());
    if let Err(e) = &result
        && !matches!(e, ProxyError::NotFound)
    {
        metrics::counter!("pantry_upstream_errors_total", "kind" => kind).increment(1);
    }
    result
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
    /// Until when this copy may be served without asking the upstream again (`None` for a
    /// stale copy, which must not be kept in any further cache).
    pub fresh_until: Option<OffsetDateTime>,
    /// The blob key of the stored copy this is (the identity of its content).
    pub body: Option<String>,
}

/// The `dist` of every version of one stored upstream copy, by version: what a tarball read
/// needs, kept so that serving a cached tarball does not parse the whole packument again.
type Dists = HashMap<String, Value>;

/// Most upstream copies whose [`Dists`] are kept.
const KEPT_DISTS: usize = 2048;

#[derive(Default)]
struct DistMemo {
    by_body: HashMap<String, Arc<Dists>>,
    order: std::collections::VecDeque<String>,
}

impl DistMemo {
    fn get(&self, body: &str) -> Option<Arc<Dists>> {
        self.by_body.get(body).cloned()
    }

    fn put(&mut self, body: String, dists: Arc<Dists>) {
        if self.by_body.insert(body.clone(), dists).is_none() {
            self.order.push_back(body);
        }
        while self.order.len() > KEPT_DISTS {
            if let Some(old) = self.order.pop_front() {
                self.by_body.remove(&old);
            }
        }
    }
}

fn dists_of(doc: &Value) -> Dists {
    doc.get("versions")
        .and_then(Value::as_object)
        .map(|versions| {
            versions
                .iter()
                .map(|(v, m)| (v.clone(), m.get("dist").cloned().unwrap_or(Value::Null)))
                .collect()
        })
        .unwrap_or_default()
}

/// After an upstream failure for a name, how long further requests skip the upstream and answer
/// at once (stale copy or error) instead of each waiting out another timeout.
const FAILURE_MEMORY: std::time::Duration = std::time::Duration::from_secs(5);

/// The fallback's state: the upstream, per-name locks, recent failures, pending tarball uses.
pub struct Fallback {
    upstream: Arc<dyn UpstreamRegistry>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    failures: Mutex<HashMap<String, (std::time::Instant, bool)>>,
    uses: PendingUses,
    dists: Mutex<DistMemo>,
}

impl Fallback {
    /// Whether the upstream answers (see [`UpstreamRegistry::ping`]).
    pub async fn ping(&self) -> Result<(), ProxyError> {
        self.upstream.ping().await
    }

    pub fn new(upstream: Arc<dyn UpstreamRegistry>) -> Self {
        Self {
            upstream,
            locks: Mutex::default(),
            failures: Mutex::default(),
            uses: PendingUses::default(),
            dists: Mutex::default(),
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

    /// The upstream packument of `name` (a name with no local package), counted by how it was
    /// obtained (`pantry_upstream_packuments_total`).
    pub async fn packument(&self, core: &Core, name: &PackageName) -> Result<Proxied, ProxyError> {
        let result = self.packument_uncounted(core, name).await;
        let outcome = match &result {
            Ok(p) => p.freshness.header(),
            Err(ProxyError::NotFound) => "not_found",
            Err(ProxyError::Offline) => "offline",
            Err(_) => "error",
        };
        metrics::counter!("pantry_upstream_packuments_total", "outcome" => outcome).increment(1);
        result
    }

    async fn packument_uncounted(
        &self,
        core: &Core,
        name: &PackageName,
    ) -> Result<Proxied, ProxyError> {
        let npm = &core.settings.npm;
        if !may_proxy(npm, core.store.as_ref(), name.as_str()).await? {
            return Err(ProxyError::NotFound);
        }
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
                if c.missing {
                    return Err(ProxyError::NotFound);
                }
                // A copy whose body was lost is fetched again, as if it had expired.
                if let Some(doc) = cache::read_body(core.blobs.as_ref(), c).await? {
                    let until = c.fetched_at + max_age;
                    return Ok(proxied(doc, Freshness::Hit, Some(until), c.body.clone()));
                }
            }
        }
        let usable = cached.as_ref().filter(|c| !c.missing);
        let stale = |e: ProxyError| async move {
            match usable {
                Some(c) => match cache::read_body(core.blobs.as_ref(), c).await? {
                    Some(doc) => Ok(proxied(doc, Freshness::Stale, None, c.body.clone())),
                    None => Err(e),
                },
                None => Err(e),
            }
        };
        if npm.offline {
            return stale(ProxyError::Offline).await;
        }
        if let Some(e) = self.recent_failure(name.as_str()) {
            return stale(e).await;
        }
        let validators = usable.map(|c| Validators {
            etag: c.etag.as_deref(),
            last_modified: c.last_modified.as_deref(),
        });
        let mut fetched = timed("packument", self.upstream.packument(name, validators)).await;
        if let Ok(Fetched::NotModified) = fetched
            && let Some(c) = usable
        {
            match cache::read_body(core.blobs.as_ref(), c).await? {
                Some(doc) => {
                    self.record_outcome(name.as_str(), None);
                    let body = c.body.clone();
                    let mut c = c.clone();
                    c.fetched_at = now;
                    core.store.put_cached_packument(c).await?;
                    let until = now + npm.cache_max_age;
                    return Ok(proxied(doc, Freshness::Revalidated, Some(until), body));
                }
                // Confirmed unchanged, but the copy's body is lost: ask for the whole document.
                None => fetched = timed("packument", self.upstream.packument(name, None)).await,
            }
        }
        self.record_outcome(name.as_str(), fetched.as_ref().err());
        match fetched {
            Ok(Fetched::Fresh {
                doc,
                etag,
                last_modified,
            }) => {
                let doc = Arc::new(doc);
                let body = cache::store_packument(
                    core,
                    name,
                    doc.clone(),
                    etag,
                    last_modified,
                    now,
                    usable,
                )
                .await?;
                let until = Some(now + npm.cache_max_age);
                Ok(proxied(doc, Freshness::Miss, until, Some(body)))
            }
            Ok(Fetched::NotModified) => Err(ProxyError::BadUpstream(
                "the upstream answered 304 to an unconditional request".into(),
            )),
            Ok(Fetched::NotFound) => {
                cache::store_missing(core, name, now, usable).await?;
                Err(ProxyError::NotFound)
            }
            Err(e) => {
                if usable.is_some() {
                    tracing::warn!(pkg.name = %name, error = %e, "upstream failed; serving the cached packument");
                }
                stale(e).await
            }
        }
    }

    /// The `dist` of every version of the upstream's `name`, under the same freshness rules as
    /// [`Self::packument`]; while the stored copy is fresh, from memory without parsing it.
    async fn dists(&self, core: &Core, name: &PackageName) -> Result<Arc<Dists>, ProxyError> {
        let npm = &core.settings.npm;
        if may_proxy(npm, core.store.as_ref(), name.as_str()).await?
            && let Some(c) = core.store.cached_packument(name.as_str()).await?
            && !c.missing
            && OffsetDateTime::now_utc() - c.fetched_at < npm.cache_max_age
            && let Some(body) = &c.body
            && let Some(dists) = self.dists.lock().expect("dists lock").get(body)
        {
            return Ok(dists);
        }
        let packument = self.packument(core, name).await?;
        let doc = packument.doc.clone();
        let dists = Arc::new(
            tokio::task::spawn_blocking(move || dists_of(&doc))
                .await
                .map_err(|e| StoreError::Backend(e.to_string()))?,
        );
        if let (Some(body), Some(_)) = (packument.body, packument.fresh_until) {
            self.dists
                .lock()
                .expect("dists lock")
                .put(body, dists.clone());
        }
        Ok(dists)
    }

    /// A proxied version's tarball: from the blob store when fetched before, else fetched,
    /// streamed, verified and stored.
    pub async fn tarball(
        &self,
        core: &Core,
        name: &PackageName,
        version: &str,
    ) -> Result<TarballSource, ProxyError> {
        let dist = self
            .dists(core, name)
            .await?
            .get(version)
            .cloned()
            .ok_or(ProxyError::NotFound)?;
        let mut blob_missing = false;
        if let Some(stored) = core.store.proxied_tarball(name.as_str(), version).await?
            && let Some(key) = crate::blobs::BlobKey::parse(&stored.sha256)
        {
            match core.blobs.open(&key).await {
                Ok(reader) => {
                    self.uses.note(name.as_str(), version);
                    return Ok(TarballSource::Stored(reader));
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
            && let Ok(reader) = core.blobs.open(&key).await
        {
            self.uses.note(name.as_str(), version);
            return Ok(TarballSource::Stored(reader));
        }
        let incoming = timed("tarball", self.upstream.tarball(name, version, &dist)).await?;
        Ok(transfer::start(
            core, &self.uses, name, version, incoming, guard,
        ))
    }

    /// The upstream's audit report for `body`; `None` when the fallback is off or offline, or
    /// the upstream fails.
    pub async fn advisories(&self, core: &Core, body: &Value) -> Option<Value> {
        let npm = &core.settings.npm;
        if !npm.fallback || npm.offline {
            return None;
        }
        self.upstream.advisories_bulk(body).await
    }

    /// Writes pending "last used" times of cached tarballs (with the download counts).
    pub async fn flush_uses(&self, core: &Core) {
        cache::flush_uses(&core.clone_parts(), &self.uses).await;
    }
}

fn proxied(
    doc: Arc<Value>,
    freshness: Freshness,
    fresh_until: Option<OffsetDateTime>,
    body: Option<String>,
) -> Proxied {
    Proxied {
        doc,
        freshness,
        fresh_until,
        body,
    }
}

/// The version numbers in a cached upstream packument, read without asking the upstream (for
/// download counts, which must not wait on it). A negative entry, or one whose body is lost,
/// has none.
pub async fn cached_versions(
    core: &Core,
    c: &CachedPackument,
) -> crate::store::StoreResult<Vec<String>> {
    if c.missing {
        return Ok(Vec::new());
    }
    let doc = match cache::read_body(core.blobs.as_ref(), c).await {
        Ok(doc) => doc,
        Err(ProxyError::Store(e)) => return Err(e),
        Err(e) => return Err(StoreError::Unavailable(e.to_string())),
    };
    Ok(doc
        .and_then(|doc| {
            doc.get("versions")
                .and_then(Value::as_object)
                .map(|v| v.keys().cloned().collect())
        })
        .unwrap_or_default())
}
