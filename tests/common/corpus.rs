//! The recorded corpus of real npm data (`tests/fixtures/npm-corpus/`, re-recorded by its
//! `record.mjs`) and an upstream on 127.0.0.1 that serves it the way the npm registry does:
//! packuments byte for byte with their recorded content type, an ETag and a Last-Modified
//! (the recorded ones, or made the way npmjs makes them when the recording had none),
//! conditional requests answered with 304, gzip when the client accepts it, the abbreviated
//! document when asked for and recorded, and tarballs byte for byte at their recorded paths.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use poem::http::StatusCode;
use poem::{Endpoint, Request, Response};
use serde_json::Value;
use sha2::Digest;

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npm-corpus")
}

/// The corpus index (`index.json`) and lazily decompressed bodies.
pub struct Corpus {
    pub index: Value,
    bodies: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

/// The corpus, read once per test binary.
pub fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let text = std::fs::read_to_string(corpus_dir().join("index.json"))
            .expect("tests/fixtures/npm-corpus/index.json (re-record with record.mjs)");
        Corpus {
            index: serde_json::from_str(&text).expect("index.json is JSON"),
            bodies: Mutex::default(),
        }
    })
}

impl Corpus {
    /// Every recorded packument's name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.index["packuments"]
            .as_object()
            .expect("packuments")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Names recorded with `role` (`variety`, `tree`, `closure`).
    pub fn with_role(&self, role: &str) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| {
                self.index["packuments"][n]["roles"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|x| x == role))
            })
            .collect()
    }

    /// The `name@version` list of a recorded dependency tree.
    pub fn tree(&self, root: &str) -> Vec<(String, String)> {
        self.index["trees"][root]["packages"]
            .as_array()
            .expect("a recorded tree")
            .iter()
            .map(|p| {
                let p = p.as_str().unwrap();
                let at = p[1..].find('@').expect("name@version") + 1;
                (p[..at].to_string(), p[at + 1..].to_string())
            })
            .collect()
    }

    /// The root `name@version` of a recorded tree.
    pub fn tree_root(&self, root: &str) -> String {
        self.index["trees"][root]["root"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn file(&self, rel: &str, compressed: bool) -> Arc<Vec<u8>> {
        if let Some(b) = self.bodies.lock().unwrap().get(rel) {
            return b.clone();
        }
        let raw = std::fs::read(corpus_dir().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let bytes = if compressed {
            zstd::decode_all(raw.as_slice()).unwrap()
        } else {
            raw
        };
        let bytes = Arc::new(bytes);
        self.bodies
            .lock()
            .unwrap()
            .insert(rel.to_string(), bytes.clone());
        bytes
    }

    /// The full packument's bytes exactly as the registry sent them.
    pub fn packument_bytes(&self, name: &str) -> Arc<Vec<u8>> {
        let entry = &self.index["packuments"][name];
        let bytes = self.file(entry["file"].as_str().expect("recorded packument"), true);
        assert_eq!(
            hex::encode(sha2::Sha256::digest(bytes.as_slice())),
            entry["sha256"].as_str().unwrap(),
            "{name}: the recorded body does not match its recorded hash"
        );
        bytes
    }

    pub fn packument(&self, name: &str) -> Value {
        serde_json::from_slice(&self.packument_bytes(name)).unwrap()
    }

    /// A recorded tarball by its upstream path (`express/-/express-5.3.0.tgz`).
    fn tarball_by_path(&self, path: &str) -> Option<Arc<Vec<u8>>> {
        let tarballs = self.index["tarballs"].as_object()?;
        let entry = tarballs.values().find(|t| t["path"] == path)?;
        Some(self.file(entry["file"].as_str()?, false))
    }
}

/// Counts of what the fixture upstream was asked.
#[derive(Default)]
pub struct Requests {
    pub packuments: AtomicU64,
    /// Tarball requests by path.
    pub tarballs: Mutex<HashMap<String, u64>>,
    pub not_modified: AtomicU64,
    /// Paths answered 404 (a client asked for something the corpus lacks).
    pub missing: Mutex<Vec<String>>,
}

/// The corpus served on 127.0.0.1.
pub struct CorpusUpstream {
    pub url: String,
    pub requests: Arc<Requests>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

struct Handler {
    requests: Arc<Requests>,
}

fn header<'a>(req: &'a Request, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// What npmjs sends when a recording has no Last-Modified: the document's last change.
fn last_modified_of(doc_bytes: &[u8]) -> Option<String> {
    let doc: Value = serde_json::from_slice(doc_bytes).ok()?;
    let time = doc.get("time")?.as_object()?;
    let newest = time
        .get("modified")
        .into_iter()
        .chain(time.values())
        .filter_map(Value::as_str)
        .filter_map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .max()?;
    Some(httpdate::fmt_http_date(newest.into()))
}

impl Endpoint for Handler {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let corpus = corpus();
        let path = percent_encoding::percent_decode_str(req.uri().path().trim_start_matches('/'))
            .decode_utf8_lossy()
            .into_owned();
        if path.contains("/-/") {
            *self
                .requests
                .tarballs
                .lock()
                .unwrap()
                .entry(path.clone())
                .or_default() += 1;
            return Ok(match corpus.tarball_by_path(&path) {
                Some(bytes) => Response::builder()
                    .content_type("application/octet-stream")
                    .header(
                        "etag",
                        format!("\"{}\"", hex::encode(sha2::Sha256::digest(&*bytes))),
                    )
                    .header("cache-control", "public, immutable, max-age=31557600")
                    .body(bytes.to_vec()),
                None => {
                    self.requests.missing.lock().unwrap().push(path);
                    StatusCode::NOT_FOUND.into()
                }
            });
        }
        self.requests.packuments.fetch_add(1, Ordering::SeqCst);
        let Some(entry) = corpus.index["packuments"].get(&path) else {
            self.requests.missing.lock().unwrap().push(path);
            return Ok(Response::builder()
                .status(StatusCode::NOT_FOUND)
                .content_type("application/json")
                .body(r#"{"error":"Not found"}"#));
        };
        let corgi_asked = header(&req, "accept").contains("application/vnd.npm.install-v1+json");
        let (bytes, recorded) = match &entry["corgi"] {
            c if corgi_asked && c.is_object() => (
                corpus.file(c["file"].as_str().unwrap(), true),
                c["headers"].clone(),
            ),
            _ => (corpus.packument_bytes(&path), entry["headers"].clone()),
        };
        let etag = recorded["etag"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "\"{}\"",
                    &hex::encode(sha2::Sha256::digest(bytes.as_slice()))[..40]
                )
            });
        let last_modified = recorded["last-modified"]
            .as_str()
            .map(str::to_string)
            .or_else(|| last_modified_of(&bytes));
        let unchanged = header(&req, "if-none-match")
            .split(',')
            .any(|t| t.trim() == etag)
            || (!header(&req, "if-modified-since").is_empty()
                && last_modified.as_deref() == Some(header(&req, "if-modified-since")));
        let mut builder = Response::builder()
            .header("etag", &etag)
            .header(
                "cache-control",
                recorded["cache-control"]
                    .as_str()
                    .unwrap_or("public, max-age=300"),
            )
            .header("vary", "Accept-Encoding, Accept");
        if let Some(lm) = &last_modified {
            builder = builder.header("last-modified", lm);
        }
        if unchanged {
            self.requests.not_modified.fetch_add(1, Ordering::SeqCst);
            return Ok(builder.status(StatusCode::NOT_MODIFIED).finish());
        }
        builder = builder.content_type(
            recorded["content-type"]
                .as_str()
                .unwrap_or("application/json"),
        );
        if header(&req, "accept-encoding").contains("gzip") {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&bytes).unwrap();
            return Ok(builder
                .header("content-encoding", "gzip")
                .body(gz.finish().unwrap()));
        }
        Ok(builder.body(bytes.to_vec()))
    }
}

impl CorpusUpstream {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        let requests = Arc::new(Requests::default());
        let handler = Handler {
            requests: requests.clone(),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    handler,
                    async {
                        let _ = rx.await;
                    },
                    Some(std::time::Duration::from_millis(100)),
                )
                .await;
        });
        CorpusUpstream {
            url,
            requests,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Takes the upstream away: idle connections are closed and the port refuses new ones.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// How often each tarball path was asked for.
    pub fn tarball_fetches(&self) -> HashMap<String, u64> {
        self.requests.tarballs.lock().unwrap().clone()
    }

    pub fn missing(&self) -> Vec<String> {
        self.requests.missing.lock().unwrap().clone()
    }
}

impl Drop for CorpusUpstream {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
