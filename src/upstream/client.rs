//! [`UpstreamClient`]: HTTP to one npm-compatible registry, with the same-origin redirect rule,
//! the upstream token, size limits and timeouts every request shares.

use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::Value;

use super::verify::{Expected, Verified};
use crate::core::names::PackageName;
use crate::core::proxy::{Fetched, ProxyError, UpstreamRegistry, UpstreamTarball, Validators};

/// What the client needs to know about the upstream.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The upstream registry's URL, ending in `/`.
    pub upstream: String,
    /// Sent as a bearer token to the upstream's origin only.
    pub token: Option<String>,
    /// Bounds connecting and each wait for data (headers included), not a whole transfer: a
    /// large tarball that keeps flowing is never cut off.
    pub timeout: std::time::Duration,
    /// The largest packument read (`npm.max_packument_bytes`).
    pub max_packument_bytes: u64,
    /// The largest tarball read (`limits.max_tarball_bytes`).
    pub max_tarball_bytes: u64,
}

/// The npm fallback's client.
pub struct UpstreamClient {
    client: reqwest::Client,
    settings: ClientSettings,
}

/// `scheme://host:port` of a URL, for same-origin checks.
fn origin(url: &str) -> Option<(String, String, u16)> {
    let u = reqwest::Url::parse(url).ok()?;
    Some((
        u.scheme().to_string(),
        u.host_str()?.to_string(),
        u.port_or_known_default()?,
    ))
}

fn classify(e: reqwest::Error) -> ProxyError {
    if e.is_timeout() {
        ProxyError::Timeout
    } else {
        ProxyError::Unreachable(e.to_string())
    }
}

/// Gone, or blocked for legal reasons (what curating mirrors answer for malware): the package
/// is absent, not an upstream failure to paper over with a stale copy.
fn is_absent(status: reqwest::StatusCode) -> bool {
    [404, 410, 451].contains(&status.as_u16())
}

impl UpstreamClient {
    pub fn new(settings: ClientSettings) -> Self {
        let home = origin(&settings.upstream);
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
            .connect_timeout(settings.timeout)
            .read_timeout(settings.timeout)
            .redirect(policy)
            .user_agent(concat!("pantry-registry/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds");
        Self { client, settings }
    }

    /// A GET of `url`, with the token when `url` is on the upstream's origin (never sent to a
    /// tarball host elsewhere).
    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let req = self.client.get(url);
        match &self.settings.token {
            Some(token) if url.starts_with(&self.settings.upstream) => req.bearer_auth(token),
            _ => req,
        }
    }

    /// The upstream URL of a packument: scoped names keep their `@` and encode the `/`.
    fn packument_url(&self, name: &PackageName) -> String {
        format!(
            "{}{}",
            self.settings.upstream,
            name.as_str().replace('/', "%2f")
        )
    }

    /// Where to fetch a tarball from: the manifest's `dist.tarball` when it is on the
    /// upstream's origin, else the standard path on the upstream. A `dist.tarball` elsewhere (a
    /// mirror that kept npmjs URLs, or a hostile document pointing at an internal address) is
    /// never fetched; the integrity check still decides what is kept.
    fn tarball_url(&self, name: &PackageName, version: &str, dist: &Value) -> String {
        let upstream = &self.settings.upstream;
        match dist.get("tarball").and_then(Value::as_str) {
            Some(declared)
                if origin(declared).is_some() && origin(declared) == origin(upstream) =>
            {
                declared.to_string()
            }
            _ => format!("{upstream}{name}/-/{}-{version}.tgz", name.bare()),
        }
    }
}

/// How long a readiness check waits for the upstream.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[async_trait]
impl UpstreamRegistry for UpstreamClient {
    async fn ping(&self) -> Result<(), ProxyError> {
        let url = format!("{}-/ping", self.settings.upstream);
        let answer = self
            .get(&url)
            .timeout(PING_TIMEOUT.min(self.settings.timeout))
            .send()
            .await
            .map_err(classify)?;
        if answer.status().is_server_error() {
            return Err(ProxyError::BadUpstream(format!(
                "{url} answered {}",
                answer.status()
            )));
        }
        Ok(())
    }

    async fn packument(
        &self,
        name: &PackageName,
        cached: Option<Validators<'_>>,
    ) -> Result<Fetched, ProxyError> {
        let url = self.packument_url(name);
        let mut req = self.get(&url).header("accept", "application/json");
        if let Some(c) = &cached {
            if let Some(etag) = c.etag {
                req = req.header("if-none-match", etag);
            }
            if let Some(lm) = c.last_modified {
                req = req.header("if-modified-since", lm);
            }
        }
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED && cached.is_some() {
            return Ok(Fetched::NotModified);
        }
        if is_absent(status) {
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
        let limit = self.settings.max_packument_bytes;
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
        // Megabytes for popular packages: parsed off the async runtime.
        let parsed = tokio::task::spawn_blocking(move || serde_json::from_slice::<Value>(&body))
            .await
            .map_err(|e| ProxyError::BadUpstream(e.to_string()))?;
        let doc = parsed.map_err(|e| ProxyError::BadUpstream(format!("{url}: not JSON ({e})")))?;
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

    async fn tarball(
        &self,
        name: &PackageName,
        version: &str,
        dist: &Value,
    ) -> Result<UpstreamTarball, ProxyError> {
        let url = self.tarball_url(name, version, dist);
        let expected = Expected::from_dist(dist).ok_or_else(|| {
            ProxyError::BadUpstream(format!("{name}@{version} has no integrity to verify"))
        })?;
        let resp = self.get(&url).send().await.map_err(classify)?;
        if is_absent(resp.status()) {
            return Err(ProxyError::NotFound);
        }
        if !resp.status().is_success() {
            return Err(ProxyError::BadUpstream(format!(
                "{url} answered {}",
                resp.status()
            )));
        }
        let limit = self.settings.max_tarball_bytes;
        let size = resp.content_length();
        if size.is_some_and(|n| n > limit) {
            return Err(ProxyError::BadUpstream(format!(
                "{url} is larger than limits.max_tarball_bytes ({limit})"
            )));
        }
        let integrity = expected.sri();
        let content = Verified::new(resp.bytes_stream().boxed(), expected, limit, url);
        Ok(UpstreamTarball {
            size,
            integrity,
            content: Box::pin(content),
        })
    }

    async fn advisories_bulk(&self, body: &Value) -> Option<Value> {
        let url = format!(
            "{}-/npm/v1/security/advisories/bulk",
            self.settings.upstream
        );
        let mut request = self
            .client
            .post(url)
            .timeout(self.settings.timeout)
            .json(body);
        if let Some(token) = &self.settings.token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                Ok(v) if v.is_object() => Some(v),
                Ok(_) | Err(_) => {
                    tracing::warn!("upstream audit answered something that is not a JSON object");
                    None
                }
            },
            Ok(r) => {
                tracing::warn!(http.status = r.status().as_u16(), "upstream audit failed");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "upstream audit unreachable");
                None
            }
        }
    }
}
