//! Talking to the upstream: conditional packument requests, and tarball transfers that are
//! streamed to the client, verified, then stored.

use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use poem::Body;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use time::OffsetDateTime;

use super::{ProxyError, Upstream};
use crate::blobs::BlobKey;
use crate::core::Core;
use crate::core::names::PackageName;
use crate::store::{CachedPackument, ProxiedTarball};

pub enum Fetched {
    Fresh {
        doc: Value,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    NotModified,
    NotFound,
}

/// A tarball to send: from the blob store, or streaming in from the upstream (chunks as they
/// arrive; an error item when the transfer fails or the bytes do not verify).
pub enum TarballSource {
    Stored(Bytes),
    Streaming {
        chunks: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
        size: Option<u64>,
    },
}

/// Runs once a client has been handed a whole tarball (a download to count).
pub type Downloaded = Box<dyn FnOnce() + Send>;

/// Counts a download of `name@version` when run.
pub fn count_download(core: &std::sync::Arc<Core>, name: &str, version: &str) -> Downloaded {
    let core = core.clone();
    let (name, version) = (name.to_string(), version.to_string());
    Box::new(move || core.downloads.record(&name, &version))
}

impl TarballSource {
    /// The size, when known before sending.
    pub fn size(&self) -> Option<u64> {
        match self {
            TarballSource::Stored(bytes) => Some(bytes.len() as u64),
            TarballSource::Streaming { size, .. } => *size,
        }
    }

    /// The body to send. `downloaded` runs when the whole tarball has gone to the client: at
    /// once for a stored one; for a streamed one at the clean end of the transfer, so a
    /// transfer the upstream breaks, that fails verification, or that the client abandons
    /// is not a download.
    pub fn into_body(self, downloaded: Option<Downloaded>) -> Body {
        match self {
            TarballSource::Stored(bytes) => {
                if let Some(done) = downloaded {
                    done();
                }
                Body::from(bytes)
            }
            TarballSource::Streaming { chunks, size } => {
                // With a known size the server stops reading the body after the last byte, so
                // the download is complete when that many bytes went out (the transfer holds
                // its last chunk back until the bytes verify); otherwise at the stream's end.
                let stream = futures_util::stream::unfold(
                    (chunks, downloaded, size),
                    |(mut chunks, mut done, mut remaining)| async move {
                        match chunks.recv().await {
                            Some(Ok(bytes)) => {
                                remaining = remaining.map(|r| r.saturating_sub(bytes.len() as u64));
                                if remaining == Some(0)
                                    && let Some(done) = done.take()
                                {
                                    done();
                                }
                                Some((Ok(bytes), (chunks, done, remaining)))
                            }
                            Some(Err(e)) => Some((Err(e), (chunks, None, remaining))),
                            None => {
                                if let Some(done) = done.take() {
                                    done();
                                }
                                None
                            }
                        }
                    },
                );
                Body::from_bytes_stream(stream)
            }
        }
    }
}

fn classify(e: reqwest::Error) -> ProxyError {
    if e.is_timeout() {
        ProxyError::Timeout
    } else {
        ProxyError::Unreachable(e.to_string())
    }
}

/// The upstream URL of a packument: scoped names keep their `@` and encode the `/`.
fn packument_url(core: &Core, name: &PackageName) -> String {
    format!(
        "{}{}",
        core.settings.npm.upstream,
        name.as_str().replace('/', "%2f")
    )
}

fn with_token(core: &Core, req: reqwest::RequestBuilder, url: &str) -> reqwest::RequestBuilder {
    // The token is for the upstream only: never sent to a tarball host elsewhere.
    match &core.settings.npm.upstream_token {
        Some(token) if url.starts_with(&core.settings.npm.upstream) => req.bearer_auth(token),
        _ => req,
    }
}

pub async fn packument(
    up: &Upstream,
    core: &Core,
    name: &PackageName,
    cached: Option<&CachedPackument>,
) -> Result<Fetched, ProxyError> {
    let url = packument_url(core, name);
    let mut req = with_token(core, up.client.get(&url), &url).header("accept", "application/json");
    if let Some(c) = cached {
        if let Some(etag) = &c.etag {
            req = req.header("if-none-match", etag);
        }
        if let Some(lm) = &c.last_modified {
            req = req.header("if-modified-since", lm);
        }
    }
    let resp = req.send().await.map_err(classify)?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED && cached.is_some() {
        return Ok(Fetched::NotModified);
    }
    // Gone, or blocked for legal reasons (what curating mirrors answer for malware): the
    // package is treated as absent, not as an upstream failure to paper over with a stale copy.
    if [404, 410, 451].contains(&status.as_u16()) {
        return Ok(Fetched::NotFound);
    }
    if !status.is_success() {
        return Err(ProxyError::BadUpstream(format!("{url} answered {status}")));
    }
    let header = |h: &str| {
        resp.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (etag, last_modified) = (header("etag"), header("last-modified"));
    let limit = core.settings.npm.max_packument_bytes;
    let too_large =
        || ProxyError::BadUpstream(format!("{url} is larger than npm.max_packument_bytes"));
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(classify)?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let doc: Value = serde_json::from_slice(&body)
        .map_err(|e| ProxyError::BadUpstream(format!("{url}: not JSON ({e})")))?;
    if !doc.get("versions").is_some_and(Value::is_object) {
        // npm's answer for a wholly unpublished package: a document with `time.unpublished`.
        if doc.get("time").and_then(|t| t.get("unpublished")).is_some() {
            return Ok(Fetched::NotFound);
        }
        return Err(ProxyError::BadUpstream(format!(
            "{url}: no versions in the packument"
        )));
    }
    Ok(Fetched::Fresh {
        doc,
        etag,
        last_modified,
    })
}

/// What the upstream promises about a tarball's bytes.
enum Expected {
    Sha512(String),
    Sha1(String),
}

impl Expected {
    fn from_dist(dist: &Value) -> Option<Self> {
        let sri = dist.get("integrity").and_then(Value::as_str).unwrap_or("");
        if let Some(b64) = sri
            .split_whitespace()
            .find_map(|h| h.strip_prefix("sha512-"))
        {
            return Some(Expected::Sha512(b64.to_string()));
        }
        dist.get("shasum")
            .and_then(Value::as_str)
            .map(|s| Expected::Sha1(s.to_ascii_lowercase()))
    }

    fn sri(&self) -> String {
        match self {
            Expected::Sha512(b) => format!("sha512-{b}"),
            Expected::Sha1(h) => format!("sha1-{h}"),
        }
    }
}

pub async fn tarball(
    up: &Upstream,
    core: &Core,
    name: &PackageName,
    version: &str,
    manifest: &Value,
    one_transfer: tokio::sync::OwnedMutexGuard<()>,
) -> Result<TarballSource, ProxyError> {
    let dist = manifest.get("dist").cloned().unwrap_or(Value::Null);
    // Tarballs come from the upstream's origin only. A `dist.tarball` elsewhere (a mirror that
    // kept npmjs URLs, or a hostile document pointing at an internal address) is replaced by
    // the standard path on the upstream; the integrity check still decides what is stored.
    let upstream = &core.settings.npm.upstream;
    let url = match dist.get("tarball").and_then(Value::as_str) {
        Some(declared)
            if super::origin(declared).is_some()
                && super::origin(declared) == super::origin(upstream) =>
        {
            declared.to_string()
        }
        _ => format!("{upstream}{name}/-/{}-{version}.tgz", name.bare()),
    };
    let expected = Expected::from_dist(&dist).ok_or_else(|| {
        ProxyError::BadUpstream(format!("{name}@{version} has no integrity to verify"))
    })?;
    let resp = with_token(core, up.client.get(&url), &url)
        .send()
        .await
        .map_err(classify)?;
    if [404, 410, 451].contains(&resp.status().as_u16()) {
        return Err(ProxyError::NotFound);
    }
    if !resp.status().is_success() {
        return Err(ProxyError::BadUpstream(format!(
            "{url} answered {}",
            resp.status()
        )));
    }
    let limit = core.settings.limits.max_tarball_bytes;
    let size = resp.content_length();
    if size.is_some_and(|n| n > limit) {
        return Err(ProxyError::BadUpstream(format!(
            "{url} is larger than limits.max_tarball_bytes ({limit})"
        )));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let job = Transfer {
        core: core.clone_parts(),
        uses: up.uses.clone(),
        name: name.to_string(),
        version: version.to_string(),
        url,
        expected,
        limit,
        _one_transfer: one_transfer,
    };
    tokio::spawn(job.run(resp, tx));
    Ok(TarballSource::Streaming { chunks: rx, size })
}

/// One tarball coming in from the upstream, forwarded to the client as it arrives.
struct Transfer {
    core: crate::core::CoreParts,
    uses: super::PendingUses,
    /// Held until the transfer ends, so concurrent requests for this tarball wait for it.
    _one_transfer: tokio::sync::OwnedMutexGuard<()>,
    name: String,
    version: String,
    url: String,
    expected: Expected,
    limit: u64,
}

impl Transfer {
    async fn run(
        self,
        resp: reqwest::Response,
        tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    ) {
        let fail = |why: String| std::io::Error::other(why);
        let mut stream = resp.bytes_stream();
        let mut data = Vec::new();
        // The client may hang up; the transfer still completes so the next request is a hit.
        let mut client = Some(tx);
        // The newest chunk is held back until the whole tarball is verified: a client never
        // receives a complete body that failed verification.
        let mut held: Option<Bytes> = None;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "upstream tarball transfer broke; nothing stored");
                    if let Some(tx) = client.take() {
                        let _ = tx
                            .send(Err(fail(format!("upstream transfer broke: {e}"))))
                            .await;
                    }
                    return;
                }
            };
            if (data.len() + chunk.len()) as u64 > self.limit {
                tracing::warn!(url = %self.url, "upstream tarball exceeds limits.max_tarball_bytes; nothing stored");
                if let Some(tx) = client.take() {
                    let _ = tx
                        .send(Err(fail("upstream tarball too large".into())))
                        .await;
                }
                return;
            }
            data.extend_from_slice(&chunk);
            if let Some(previous) = held.replace(chunk)
                && let Some(tx) = &client
                && tx.send(Ok(previous)).await.is_err()
            {
                client = None;
            }
        }
        let verified = match &self.expected {
            Expected::Sha512(b64) => {
                base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&data)) == *b64
            }
            Expected::Sha1(hex_sum) => hex::encode(Sha1::digest(&data)) == *hex_sum,
        };
        if !verified {
            tracing::warn!(url = %self.url, expected = %self.expected.sri(), "upstream tarball does not match its integrity; refused and not stored");
            if let Some(tx) = client.take() {
                let _ = tx
                    .send(Err(fail(
                        "upstream tarball failed integrity verification".into(),
                    )))
                    .await;
            }
            return;
        }
        if let Err(e) = self.store(data).await {
            tracing::error!(url = %self.url, error = %e, "could not store a verified upstream tarball");
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
                integrity: self.expected.sri(),
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
        tokio::spawn(async move { super::prune::enforce_cap(&parts, &uses).await });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_prefers_sha512() {
        let both = serde_json::json!({"integrity": "sha1-x sha512-abc", "shasum": "DEF"});
        assert_eq!(Expected::from_dist(&both).unwrap().sri(), "sha512-abc");
        let sha1 = serde_json::json!({"shasum": "DEF"});
        assert_eq!(Expected::from_dist(&sha1).unwrap().sri(), "sha1-def");
        assert!(Expected::from_dist(&serde_json::json!({})).is_none());
    }
}
