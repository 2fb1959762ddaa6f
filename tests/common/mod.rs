//! Test helpers: a real registry served on 127.0.0.1:0 with a temporary data directory, tokens
//! for a few users, and typed request helpers. `bin_*` helpers run the built binary instead,
//! for tests where a restart or a kill is the point.
#![allow(dead_code)]

pub mod browser;
pub mod catalogue;
pub mod corpus;
pub mod s3;
pub mod sandbox;
pub mod tools;
pub mod upstream;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pantry_registry::{Registry, RegistryBuilder, TokenScope};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const ALICE_PASSWORD: &str = "alice-password";
pub const BOB_PASSWORD: &str = "bob-password";

/// Tokens minted for a test app, by role.
pub struct Tokens {
    pub alice: String,
    pub bob: String,
    pub reader: String,
    pub team_only: String,
    pub expired: String,
    pub revoked: String,
    /// A real user named "admin", who must not be mistaken for the admin token.
    pub named_admin: String,
}

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub tokens: Tokens,
    pub dir: tempfile::TempDir,
    /// The registry's blob store, read through its contract.
    pub blobs: std::sync::Arc<dyn pantry_registry::blobs::BlobStore>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// With `PANTRY_TEST_BACKEND=aws`: the moto server holding this registry's table and bucket.
    aws: Option<s3::Moto>,
}

/// The environment variable that runs a suite with every [`TestApp`] on DynamoDB + S3 (a moto
/// server of its own) instead of redb + disk: `tests/on_aws.rs` runs the representative suites
/// that way.
pub const BACKEND_ENV: &str = "PANTRY_TEST_BACKEND";

/// Whether this test process runs its registries on DynamoDB + S3.
pub fn on_aws() -> bool {
    std::env::var(BACKEND_ENV).is_ok_and(|v| v == "aws")
}

/// Points `builder` at a table and bucket on `moto` (created here).
async fn on_moto(builder: RegistryBuilder, moto: &s3::Moto) -> RegistryBuilder {
    let settings = moto.dynamo_settings("registry");
    pantry_registry::store::dynamo::DynamoStore::init(&settings)
        .await
        .expect("create the tables");
    let endpoint = moto.endpoint.clone();
    let mut builder = builder;
    for (key, value) in [
        ("storage.dynamodb_table", "registry".to_string()),
        ("storage.dynamodb_endpoint", endpoint.clone()),
        ("storage.dynamodb_region", "us-east-1".into()),
        ("storage.dynamodb_access_key_id", "testing".into()),
        ("storage.dynamodb_secret_access_key", "testing".into()),
        ("storage.s3_bucket", "registry".into()),
        ("storage.s3_endpoint", endpoint),
        ("storage.s3_region", "us-east-1".into()),
        ("storage.s3_access_key_id", "testing".into()),
        ("storage.s3_secret_access_key", "testing".into()),
    ] {
        builder = builder.setting(key, value).expect("a storage key");
    }
    builder
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(|b| b).await
    }

    /// Starts a registry; `configure` may change any setting of the builder.
    pub async fn start_with(configure: impl FnOnce(RegistryBuilder) -> RegistryBuilder) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), configure).await
    }

    /// Stops this registry and starts another on the same data directory (a restart).
    pub async fn restart_with(
        mut self,
        configure: impl FnOnce(RegistryBuilder) -> RegistryBuilder,
    ) -> Self {
        self.stop().await;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let aws = self.aws.take();
        Self::start_on(dir, configure, aws).await
    }

    /// Starts a registry on `dir`, which may hold an earlier run's data.
    pub async fn start_in(
        dir: tempfile::TempDir,
        configure: impl FnOnce(RegistryBuilder) -> RegistryBuilder,
    ) -> Self {
        Self::start_on(dir, configure, None).await
    }

    /// Starts a registry on `dir`, and on `aws` when the process runs on DynamoDB + S3 (a new
    /// moto server when `None`).
    async fn start_on(
        dir: tempfile::TempDir,
        configure: impl FnOnce(RegistryBuilder) -> RegistryBuilder,
        aws: Option<s3::Moto>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let builder = Registry::builder()
            .data_dir(dir.path())
            .base_url(url.clone())
            .admin_token(ADMIN_TOKEN)
            .setting("downloads.flush_interval_ms", "50")
            .unwrap()
            // Tests send far more than a client would from their one address; the rate-limit
            // test turns this off.
            .setting("rate.exempt", "127.0.0.1")
            .unwrap()
            // Tests never reach the internet: audits get the "no upstream" answer unless a
            // test points npm.upstream at a local server.
            .setting("npm.fallback", "false")
            .unwrap();
        let aws = match (on_aws(), aws) {
            (false, _) => None,
            (true, Some(moto)) => Some(moto),
            (true, None) => Some(s3::Moto::start("registry").await),
        };
        let builder = match &aws {
            Some(moto) => on_moto(builder, moto).await,
            None => builder,
        };
        let registry = build_when_free(configure(builder)).await;
        for (user, password) in [("alice", ALICE_PASSWORD), ("bob", BOB_PASSWORD)] {
            // A test may reopen a data directory where they already exist.
            if let Err(e) = registry
                .create_user(user, &format!("{user}@example.com"), password)
                .await
            {
                assert!(e.contains("already exists"), "{e}");
            }
        }
        let mint = |user: &'static str, scope, restriction: Option<&'static str>, expires| {
            let registry = &registry;
            async move {
                registry
                    .create_token(user, user, scope, restriction, expires)
                    .await
                    .unwrap()
            }
        };
        let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        let revoked = mint("carol", TokenScope::Publish, None, None).await;
        assert!(registry.revoke_token(&revoked.id).await.unwrap());
        let tokens = Tokens {
            alice: mint("alice", TokenScope::Publish, None, None).await.secret,
            bob: mint("bob", TokenScope::Publish, None, None).await.secret,
            reader: mint("reader", TokenScope::Read, None, None).await.secret,
            team_only: mint("teamci", TokenScope::Publish, Some("@team/*"), None)
                .await
                .secret,
            expired: mint("old", TokenScope::Publish, None, Some(past))
                .await
                .secret,
            revoked: revoked.secret,
            named_admin: mint("admin", TokenScope::Publish, None, None).await.secret,
        };
        let blobs = registry.blob_store();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(registry.serve(listener, async {
            let _ = rx.await;
        }));
        TestApp {
            url,
            client: reqwest::Client::new(),
            tokens,
            dir,
            blobs,
            shutdown: Some(tx),
            server: Some(server),
            aws,
        }
    }

    /// Starts a registry whose npm fallback points at `upstream` (a local fake), with `@s`
    /// declared the team's own scope (`npm.local_scopes`), as an operator would: publish tokens
    /// may then publish `@s/…` packages without the shadowing guard's refusal.
    pub async fn start_with_upstream(upstream: &str) -> Self {
        Self::start_with(fallback_to(upstream, &[("npm.local_scopes", "@s")])).await
    }

    /// Stops the server gracefully and waits for it (pending download counts are written).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    /// Waits until every package change is searchable (the index commits within a second).
    pub async fn search_settled(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let health = self.get("/health").await.json();
            if health["search"]["state"] == "ready" && health["search"]["pending"] == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the search index did not settle: {health}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many blobs the registry's blob store holds.
    pub async fn blob_count(&self) -> usize {
        self.blobs.list().await.unwrap().len()
    }

    /// How many blobs the blob store holds besides the bodies of cached upstream packuments
    /// (zstd frames, which no npm tarball is: those are gzip): the tarballs kept.
    pub async fn tarball_blob_count(&self) -> usize {
        const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
        let mut count = 0;
        for (key, _) in self.blobs.list().await.unwrap() {
            // One evicted since the listing is not kept.
            match self.blobs.get(&key).await {
                Ok(blob) if !blob.starts_with(&ZSTD_MAGIC) => count += 1,
                Ok(_) | Err(pantry_registry::blobs::BlobError::Missing(_)) => {}
                Err(e) => panic!("reading {}: {e}", key.as_str()),
            }
        }
        count
    }

    pub async fn get(&self, path: &str) -> Response {
        Response::from(
            self.client
                .get(format!("{}{path}", self.url))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Any request under the npm protocol root, `/npm{path}`.
    pub async fn npm(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}/npm{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Response::from(req.send().await.unwrap()).await
    }

    /// Publishes `name@version` the way `npm publish` does: `PUT /npm/{name}` with the tarball
    /// base64'd in `_attachments`. `tag` is npm's `--tag`.
    pub async fn npm_publish(
        &self,
        token: &str,
        name: &str,
        version: &str,
        tag: &str,
    ) -> (Response, Vec<u8>) {
        let tgz =
            npm_tarball(&serde_json::json!({"name": name, "version": version, "description": "d"}));
        let doc = npm_publish_doc(name, version, tag, &tgz);
        let path = format!("/{}", name.replace('/', "%2f"));
        (
            self.npm(reqwest::Method::PUT, &path, Some(token), Some(doc))
                .await,
            tgz,
        )
    }

    /// `POST /zig/publish`: the archive as `tarball` named `file`, and an optional `manifest`.
    pub async fn zig_publish(
        &self,
        token: Option<&str>,
        file: &str,
        bytes: Vec<u8>,
        manifest: Option<&str>,
    ) -> Response {
        let mut form = reqwest::multipart::Form::new().part(
            "tarball",
            reqwest::multipart::Part::bytes(bytes).file_name(file.to_string()),
        );
        if let Some(m) = manifest {
            form = form.text("manifest", m.to_string());
        }
        let mut req = self
            .client
            .post(format!("{}/zig/publish", self.url))
            .multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Response::from(req.send().await.unwrap()).await
    }

    /// Publishes an archive from `tests/fixtures/zig-vectors` as alice; asserts it was accepted.
    pub async fn zig_publish_fixture(&self, file: &str) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zig-vectors");
        let bytes = std::fs::read(format!("{dir}/{file}")).unwrap();
        let r = self
            .zig_publish(Some(&self.tokens.alice), file, bytes, None)
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }

    /// Publishes with a multipart body: `metadata` text first, then the `tarball` file part.
    pub async fn publish_multipart(
        &self,
        token: Option<&str>,
        metadata: &str,
        tarball: Vec<u8>,
    ) -> Response {
        let form = reqwest::multipart::Form::new()
            .text("metadata", metadata.to_string())
            .part(
                "tarball",
                reqwest::multipart::Part::bytes(tarball)
                    .file_name("package.tgz")
                    .mime_str("application/gzip")
                    .unwrap(),
            );
        let mut req = self
            .client
            .post(format!("{}/publish", self.url))
            .multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Response::from(req.send().await.unwrap()).await
    }

    /// Publishes `name@version` with a fresh tarball; returns the response and the tarball.
    pub async fn publish(&self, token: &str, name: &str, version: &str) -> (Response, Vec<u8>) {
        let tgz = npm_tarball(&serde_json::json!({"name": name, "version": version}));
        let meta = serde_json::json!({"name": name, "version": version}).to_string();
        (
            self.publish_multipart(Some(token), &meta, tgz.clone())
                .await,
            tgz,
        )
    }

    /// Publishes with a JSON body (`{"metadata":…, "tarball": base64}`) or any raw JSON text.
    pub async fn publish_json(&self, token: Option<&str>, body: String) -> Response {
        let mut req = self
            .client
            .post(format!("{}/publish", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Response::from(req.send().await.unwrap()).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Builds a registry; a data directory reopened right after a stop may still be held for a
/// moment by background work of the old instance finishing, so "in use" is retried.
async fn build_when_free(builder: RegistryBuilder) -> Registry {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match builder.clone().build().await {
            Ok(r) => return r,
            Err(e) if e.to_string().contains("in use") && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("building the registry: {e}"),
        }
    }
}

/// A builder change that turns the npm fallback on against `upstream`, plus `settings`.
pub fn fallback_to(
    upstream: &str,
    settings: &'static [(&'static str, &'static str)],
) -> impl FnOnce(RegistryBuilder) -> RegistryBuilder + use<> {
    let upstream = upstream.to_string();
    move |b| {
        let b = b
            .setting("npm.fallback", "true")
            .unwrap()
            .setting("npm.upstream", upstream)
            .unwrap();
        with_settings(settings)(b)
    }
}

/// For [`TestApp::start_with`]: these settings on top of the test defaults.
pub fn with_settings(
    settings: &'static [(&'static str, &'static str)],
) -> impl FnOnce(RegistryBuilder) -> RegistryBuilder {
    move |mut b| {
        for (key, value) in settings {
            b = b.setting(key, *value).unwrap();
        }
        b
    }
}

/// Opens the redb file of a stopped registry, waiting while background work releases it.
pub async fn open_store(path: &Path) -> pantry_registry::store::redb_store::RedbStore {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match pantry_registry::store::redb_store::RedbStore::open(path) {
            Ok(s) => return s,
            Err(e) if e.to_string().contains("in use") && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("opening {}: {e}", path.display()),
        }
    }
}

/// Waits out the last three minutes of a UTC day, so a test that compares per-day counts with
/// "today" never straddles midnight (the longest, `migrate`, starts moto and migrates twice).
pub async fn avoid_midnight() {
    let now = time::OffsetDateTime::now_utc();
    let into_day = now - now.replace_time(time::Time::MIDNIGHT);
    let left = time::Duration::DAY - into_day;
    if left < time::Duration::minutes(3) {
        tokio::time::sleep(Duration::from_secs_f64(left.as_seconds_f64() + 1.0)).await;
    }
}

/// A response read whole.
pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub async fn from(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap().to_vec();
        Response {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts the status and that the body is `{"error": "..."}` JSON; returns the message.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(
            self.header("content-type").starts_with("application/json"),
            "content-type {}",
            self.header("content-type")
        );
        self.json()["error"]
            .as_str()
            .expect("an error message")
            .to_string()
    }
}

/// The body `npm publish` sends for one version.
pub fn npm_publish_doc(name: &str, version: &str, tag: &str, tgz: &[u8]) -> Value {
    use base64::Engine;
    use sha1::Digest as _;
    let shasum = hex::encode(sha1::Sha1::digest(tgz));
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(tgz))
    );
    let bare = name.rsplit('/').next().unwrap();
    serde_json::json!({
        "_id": name,
        "name": name,
        "description": "d",
        "dist-tags": {tag: version},
        "versions": {version: {
            "name": name, "version": version, "description": "d", "readme": "# readme",
            "_id": format!("{name}@{version}"), "_nodeVersion": "20.20.2", "_npmVersion": "11.19.1",
            "dist": {"integrity": integrity, "shasum": shasum,
                     "tarball": format!("http://elsewhere.example/{name}/-/{name}-{version}.tgz")},
        }},
        "access": null,
        "_attachments": {format!("{name}-{version}.tgz"): {
            "content_type": "application/octet-stream",
            "data": base64::engine::general_purpose::STANDARD.encode(tgz),
            "length": tgz.len(),
        }},
        "readme": format!("# {bare}"),
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A gzip'd tar with `package/package.json` holding `manifest`, plus an index.js.
pub fn npm_tarball(manifest: &Value) -> Vec<u8> {
    tarball_with(&[
        ("package/package.json", manifest.to_string().into_bytes()),
        ("package/index.js", b"module.exports = 42;\n".to_vec()),
    ])
}

/// A gzip'd tar with the given files.
pub fn tarball_with(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, data.as_slice())
            .unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// The built binary, started as a separate process on a port the system chose.
pub struct BinServer {
    pub child: Child,
    pub url: String,
    pub port: u16,
    /// The server's log when the test did not ask for it, deleted with the server.
    _log: Option<tempfile::TempPath>,
}

/// Publishes `name@version` through the Pantry API of a server at `url`: (status, tarball).
pub async fn publish_over_http(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    name: &str,
    version: &str,
) -> Result<(u16, Vec<u8>), reqwest::Error> {
    let tgz = npm_tarball(&serde_json::json!({"name": name, "version": version}));
    let form = reqwest::multipart::Form::new()
        .text(
            "metadata",
            serde_json::json!({"name": name, "version": version}).to_string(),
        )
        .part(
            "tarball",
            reqwest::multipart::Part::bytes(tgz.clone()).file_name("p.tgz"),
        );
    let r = client
        .post(format!("{url}/publish"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?;
    let status = r.status().as_u16();
    r.bytes().await?;
    Ok((status, tgz))
}

pub fn bin_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pantry-registry"))
}

/// A port nothing listens on now. Only for an address that must refuse connections: a server
/// told to bind it could find it taken by then (see [`BinServer::spawn`]).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl BinServer {
    /// Starts `pantry-registry serve` on `data_dir` and waits until /health answers.
    pub fn start(data_dir: &Path, envs: &[(&str, &str)]) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap().into_temp_path();
        let path = log.to_path_buf();
        Self::start_with_log(data_dir, envs, &path, Some(log))
    }

    /// Like [`Self::start`], with the server's log (JSON lines) written to `log`.
    pub fn start_logged(data_dir: &Path, envs: &[(&str, &str)], log: &Path) -> Self {
        Self::start_with_log(data_dir, envs, log, None)
    }

    /// Serves on port 0: see [`Self::spawn`].
    fn start_with_log(
        data_dir: &Path,
        envs: &[(&str, &str)],
        log: &Path,
        kept: Option<tempfile::TempPath>,
    ) -> Self {
        let mut cmd = Command::new(bin_path());
        cmd.args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .arg("--data-dir")
            .arg(data_dir);
        clean_env(&mut cmd);
        cmd.env("PANTRY_RATE_EXEMPT", "127.0.0.1");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut server = Self::spawn(cmd, log);
        server._log = kept;
        server
    }

    /// Spawns `cmd`, a server told to listen on port 0 (the binary itself, or a shell that
    /// sets a limit and execs it), with its log written to `log` as JSON lines; reads the port
    /// the system gave from the server's `listening` record and waits until /health answers.
    /// A port picked free beforehand instead may be taken by another test before it is bound.
    pub fn spawn(mut cmd: Command, log: &Path) -> Self {
        cmd.env("PANTRY_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap());
        // Owned from here on, so the process is killed however starting fails.
        let mut server = BinServer {
            child: cmd.spawn().unwrap(),
            url: String::new(),
            port: 0,
            _log: None,
        };
        let started = std::time::Instant::now();
        server.port = loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let listening = text
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|record| record["message"] == "pantry-registry listening");
            if let Some(record) = listening {
                let port = record["listen"]
                    .as_str()
                    .and_then(|listen| listen.rsplit(':').next()?.parse::<u16>().ok());
                break port.unwrap_or_else(|| panic!("no port in the listening record: {record}"));
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited ({status}) before listening: {text}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not listen within a minute: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        server.url = format!("http://127.0.0.1:{}", server.port);
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        assert!(
            wait_for_health(&self.url),
            "server at {} did not become healthy",
            self.url
        );
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

impl Drop for BinServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET sent byte for byte over TCP (no URL normalisation); returns status, content type, body.
pub async fn raw_get(base: &str, path: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

/// Polls `url/health` over plain TCP for up to 20 s.
pub fn wait_for_health(url: &str) -> bool {
    use std::io::Read;
    let addr = url.trim_start_matches("http://");
    for _ in 0..400 {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = write!(
                s,
                "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Keeps the developer's environment and working directory out of the binary's configuration:
/// no PANTRY_* or seed variables, and a working directory without a pantry-registry.toml.
pub fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("PANTRY_") || ["PORT", "BASE_URL", "RUST_LOG"].contains(&key.as_ref()) {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.current_dir(std::env::temp_dir());
}

/// Runs the binary with arguments; returns (exit success, stdout, stderr).
pub fn run_bin(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(bin_path());
    cmd.args(args);
    clean_env(&mut cmd);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `len` bytes that do not compress (xorshift noise): a tarball of them stays as large as its
/// content.
pub fn incompressible(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

impl TestApp {
    /// The actions of the audit log's entries that `query` selects (`actor=alice&limit=10`),
    /// oldest first, read with the admin token.
    pub async fn audit_actions(&self, query: &str) -> Vec<String> {
        let page: Value = self
            .client
            .get(format!("{}/-/admin/audit?{query}", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Publishes `name@version` the way npm does, with `readme` and `extra` fields in its
/// package.json (a description too), tagged `tag`.
pub async fn publish_with_readme(
    app: &TestApp,
    readme: &str,
    name: &str,
    version: &str,
    tag: &str,
    extra: serde_json::Value,
) {
    let mut manifest = serde_json::json!({"name": name, "version": version, "description": "A widget <b>maker</b>"});
    for (k, v) in extra.as_object().unwrap() {
        manifest[k] = v.clone();
    }
    let tgz = npm_tarball(&manifest);
    let mut doc = npm_publish_doc(name, version, tag, &tgz);
    doc["readme"] = serde_json::json!(readme);
    for (k, v) in manifest.as_object().unwrap() {
        doc["versions"][version][k] = v.clone();
    }
    doc["versions"][version]["readme"] = serde_json::json!(readme);
    let path = format!("/{}", name.replace('/', "%2f"));
    let r = app
        .npm(
            reqwest::Method::PUT,
            &path,
            Some(&app.tokens.alice),
            Some(doc),
        )
        .await;
    assert!(
        r.status.is_success(),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}
