//! A stand-in upstream npm registry on 127.0.0.1 that a test can slow down, break, corrupt or
//! take down, and that counts what it is asked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use poem::http::StatusCode;
use poem::{Body, Endpoint, Request, Response};
use serde_json::{Value, json};
use sha2::Digest;

use super::npm_tarball;

#[derive(Default)]
pub struct State {
    packuments: Mutex<HashMap<String, Value>>,
    tarballs: Mutex<HashMap<String, Vec<u8>>>,
    packument_requests: Mutex<HashMap<String, u64>>,
    /// The Authorization header of the last packument request.
    pub last_authorization: Mutex<Option<String>>,
    tarball_requests: AtomicU64,
    /// Answer every request with 503.
    pub down: AtomicBool,
    /// Flip a byte in every tarball served.
    pub corrupt: AtomicBool,
    /// Send half of a tarball, then break the connection.
    pub break_midstream: AtomicBool,
    /// Delay before answering a packument, in milliseconds.
    pub packument_delay_ms: AtomicU64,
}

pub struct FakeUpstream {
    pub url: String,
    pub state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

struct Handler(Arc<State>);

impl Endpoint for Handler {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let s = &self.0;
        if s.down.load(Ordering::SeqCst) {
            return Ok(Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .body("down"));
        }
        let path = percent_encoding::percent_decode_str(req.uri().path().trim_start_matches('/'))
            .decode_utf8_lossy()
            .into_owned();
        if path.contains("/-/") {
            s.tarball_requests.fetch_add(1, Ordering::SeqCst);
            let Some(mut bytes) = s.tarballs.lock().unwrap().get(&path).cloned() else {
                return Ok(StatusCode::NOT_FOUND.into());
            };
            if s.corrupt.load(Ordering::SeqCst) {
                let mid = bytes.len() / 2;
                bytes[mid] ^= 0xff;
            }
            let len = bytes.len();
            if s.break_midstream.load(Ordering::SeqCst) {
                // Headers and half the body go out; then the connection dies.
                let half = bytes[..len / 2].to_vec();
                let stream = futures_util::stream::unfold(0u8, move |step| {
                    let half = half.clone();
                    async move {
                        match step {
                            0 => Some((Ok::<Vec<u8>, std::io::Error>(half), 1)),
                            1 => {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                Some((Err(std::io::Error::other("upstream died")), 2))
                            }
                            _ => None,
                        }
                    }
                });
                return Ok(Response::builder()
                    .header("content-length", len)
                    .body(Body::from_bytes_stream(stream)));
            }
            return Ok(Response::builder()
                .content_type("application/octet-stream")
                .body(bytes));
        }
        *s.packument_requests
            .lock()
            .unwrap()
            .entry(path.clone())
            .or_default() += 1;
        *s.last_authorization.lock().unwrap() = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let delay = s.packument_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let Some(doc) = s.packuments.lock().unwrap().get(&path).cloned() else {
            return Ok(Response::builder()
                .status(StatusCode::NOT_FOUND)
                .content_type("application/json")
                .body(r#"{"error":"Not found"}"#));
        };
        let body = serde_json::to_vec(&doc).unwrap();
        let etag = format!("\"{}\"", hex::encode(sha2::Sha256::digest(&body)));
        let matches = req
            .headers()
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == etag);
        if matches {
            return Ok(Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .header("etag", etag)
                .finish());
        }
        Ok(Response::builder()
            .content_type("application/json")
            .header("etag", etag)
            .body(body))
    }
}

impl FakeUpstream {
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        let handler = Handler(state.clone());
        let server = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(handler).await;
        });
        FakeUpstream { url, state, server }
    }

    /// Adds `name@version` (its tarball, integrity and publish time); it becomes `latest`.
    pub fn publish(&self, name: &str, version: &str, dependencies: Value) -> Vec<u8> {
        let manifest = json!({"name": name, "version": version, "description": "from upstream", "dependencies": dependencies});
        self.publish_tarball(name, version, manifest.clone(), npm_tarball(&manifest))
    }

    /// Like [`Self::publish`] with about 1 MiB of incompressible content, so a transfer spans
    /// many chunks.
    pub fn publish_big(&self, name: &str, version: &str) -> Vec<u8> {
        let manifest = json!({"name": name, "version": version});
        let noise: Vec<u8> = (0..32_768u32)
            .flat_map(|i| sha2::Sha256::digest(i.to_le_bytes()).to_vec())
            .collect();
        let tgz = super::tarball_with(&[
            ("package/package.json", manifest.to_string().into_bytes()),
            ("package/noise.bin", noise),
        ]);
        self.publish_tarball(name, version, manifest, tgz)
    }

    /// Points a version's `dist.tarball` somewhere else (another origin).
    pub fn set_tarball_url(&self, name: &str, version: &str, url: &str) {
        self.state.packuments.lock().unwrap().get_mut(name).unwrap()["versions"][version]["dist"]
            ["tarball"] = json!(url);
    }

    fn publish_tarball(&self, name: &str, version: &str, manifest: Value, tgz: Vec<u8>) -> Vec<u8> {
        let bare = name.rsplit('/').next().unwrap();
        let file = format!("{name}/-/{bare}-{version}.tgz");
        let integrity = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&tgz))
        );
        let shasum = hex::encode(<sha1::Sha1 as sha2::Digest>::digest(&tgz));
        self.state
            .tarballs
            .lock()
            .unwrap()
            .insert(file.clone(), tgz.clone());
        let mut packuments = self.state.packuments.lock().unwrap();
        let doc = packuments.entry(name.to_string()).or_insert_with(
            || json!({"_id": name, "name": name, "dist-tags": {}, "versions": {}, "time": {}}),
        );
        let mut m = manifest.clone();
        m["dist"] = json!({"tarball": format!("{}{file}", self.url), "integrity": integrity, "shasum": shasum});
        doc["versions"][version] = m;
        doc["dist-tags"]["latest"] = json!(version);
        doc["time"][version] = json!("2026-03-29T08:50:05.148000+00:00");
        doc["time"]["modified"] = json!("2026-03-29T08:50:05.148000+00:00");
        tgz
    }

    /// Takes a version down upstream (as for malware).
    pub fn remove_version(&self, name: &str, version: &str) {
        let mut packuments = self.state.packuments.lock().unwrap();
        let doc = packuments.get_mut(name).unwrap();
        doc["versions"].as_object_mut().unwrap().remove(version);
        doc["time"].as_object_mut().unwrap().remove(version);
    }

    pub fn packument_requests(&self, name: &str) -> u64 {
        self.state
            .packument_requests
            .lock()
            .unwrap()
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    pub fn tarball_requests(&self) -> u64 {
        self.state.tarball_requests.load(Ordering::SeqCst)
    }

    pub fn set(&self, flag: &AtomicBool, on: bool) {
        flag.store(on, Ordering::SeqCst);
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}
