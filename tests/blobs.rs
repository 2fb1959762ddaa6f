//! The blob store's housekeeping as an operator runs it: `gc` (and `gc --dry-run`) keeps every
//! blob a record names, whatever kind of record (npm version, Zig version, cached upstream
//! tarball), and removes only what nothing names; a record whose blob went missing is an
//! integrity error the operator is told about, and a client gets a clear answer.

use crate::common;

use std::path::{Path, PathBuf};

use common::upstream::FakeUpstream;
use common::{BinServer, TestApp, run_bin, sha256_hex};
use pantry_registry::RegistryBuilder;
use reqwest::Method;
use serde_json::json;

fn fallback_to(upstream: &str) -> impl FnOnce(RegistryBuilder) -> RegistryBuilder + use<> {
    common::fallback_to(upstream, &[("npm.local_scopes", "@s")])
}

fn blob_file(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir
        .join("blobs/sha256")
        .join(&sha256[..2])
        .join(sha256)
}

/// Writes a blob no record names, as an upload that lost a race or a crash before its commit
/// leaves one.
fn stray_blob(data_dir: &Path, content: &[u8]) -> String {
    let key = sha256_hex(content);
    let path = blob_file(data_dir, &key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    key
}

async fn download(app: &TestApp, path: &str) -> Vec<u8> {
    let r = app.get(path).await;
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.body.to_vec()
}

#[tokio::test]
async fn gc_keeps_every_referenced_blob_kind_and_removes_only_unreferenced_ones() {
    let up = FakeUpstream::start().await;
    let cached_tgz = up.publish("cached-dep", "1.0.0", json!({}));
    let app = TestApp::start_with(fallback_to(&up.url)).await;

    // One blob of each kind a record can name, and two that nothing names.
    let (r, npm_tgz) = app
        .npm_publish(&app.tokens.alice, "@s/kept", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);
    let (r, api_tgz) = app
        .publish(&app.tokens.alice, "@s/also-kept", "2.0.0")
        .await;
    assert_eq!(r.status, 201);
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "@s/kept", "1.1.0", "latest")
        .await;
    assert_eq!(r.status, 201);
    // Unpublishing 1.1.0 leaves its blob behind, unreferenced.
    let mut doc = app
        .npm(Method::GET, "/@s%2fkept?write=true", None, None)
        .await
        .json();
    let rev = doc["_rev"].as_str().unwrap().to_string();
    doc["versions"].as_object_mut().unwrap().remove("1.1.0");
    let r = app
        .npm(
            Method::PUT,
            &format!("/@s%2fkept/-rev/{rev}"),
            Some(&app.tokens.alice),
            Some(doc),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    app.zig_publish_fixture("acme_http_client-2.10.0-beta.1.tar.zst")
        .await;
    let before = [
        ("npm version", "/npm/@s/kept/-/kept-1.0.0.tgz"),
        ("Pantry API version", "/packages/@s/also-kept/2.0.0/tarball"),
        ("Zig version", "/zig/packages/plain_pkg/1.0.0/tarball"),
        (
            "Zig version (zstd)",
            "/zig/packages/acme__http_client/2.10.0-beta.1/tarball",
        ),
        (
            "cached upstream tarball",
            "/npm/cached-dep/-/cached-dep-1.0.0.tgz",
        ),
    ];
    let mut served = Vec::new();
    for (what, path) in before {
        served.push((what, path, download(&app, path).await));
    }
    assert_eq!(served[0].2, npm_tgz);
    assert_eq!(served[1].2, api_tgz);
    assert_eq!(served[4].2, cached_tgz);
    let data = app.dir.path().to_path_buf();
    let stray = stray_blob(&data, b"half of an upload that never committed");
    // Besides the five records' blobs and the stray: the unpublished version's, and the body of
    // the cached packument of cached-dep.
    let unpublished = app.blob_count().await - before.len() - 2;
    assert_eq!(unpublished, 1, "the unpublished version's blob is on disk");
    let total_blobs = app.blob_count().await;

    let mut app = app;
    app.stop().await;
    let data_arg = data.to_str().unwrap();

    // A dry run lists both unreferenced blobs and their bytes, and deletes nothing.
    let (ok, out, err) = run_bin(&["gc", "--dry-run", "--data-dir", data_arg], &[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!("would delete {stray} (38 bytes)")),
        "{out}"
    );
    assert_eq!(out.matches("would delete ").count(), 2, "{out}");
    let listed_bytes: u64 = out
        .lines()
        .filter_map(|l| l.strip_prefix("would delete "))
        .map(|l| {
            l.split(" (")
                .nth(1)
                .unwrap()
                .trim_end_matches(" bytes)")
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert!(
        out.contains(&format!(
            "Dry run: 2 unreferenced blobs ({listed_bytes} bytes) would be removed; nothing was deleted."
        )),
        "{out}"
    );
    assert_eq!(
        app.blob_count().await,
        total_blobs,
        "a dry run deletes nothing"
    );

    let (ok, out, err) = run_bin(&["gc", "--data-dir", data_arg], &[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "Removed 2 unreferenced blobs ({listed_bytes} bytes)."
        )),
        "{out}"
    );
    assert!(!blob_file(&data, &stray).exists());
    assert_eq!(app.blob_count().await, total_blobs - 2);

    // Every record still downloads byte for byte; the cached tarball comes from our store
    // (the upstream is down now, so it could come from nowhere else).
    up.set(&up.state.down, true);
    let app = app.restart_with(fallback_to(&up.url)).await;
    for (what, path, bytes) in &served {
        assert_eq!(&download(&app, path).await, bytes, "{what} after gc");
    }
}

#[tokio::test]
async fn cache_eviction_never_deletes_a_blob_a_local_version_shares() {
    // A package published here whose tarball is byte-identical to a cached upstream one (a
    // team republishing a fork unchanged): evicting the cached copy must keep the blob.
    let up = FakeUpstream::start().await;
    let tgz = up.publish("twin", "1.0.0", json!({}));
    let mut app = TestApp::start_with(fallback_to(&up.url)).await;
    assert_eq!(
        download(&app, "/npm/twin/-/twin-1.0.0.tgz").await,
        tgz,
        "cached"
    );
    // An admin takes the name over with the very same bytes.
    let r = app
        .publish_multipart(
            Some(common::ADMIN_TOKEN),
            &json!({"name": "twin", "version": "1.0.0"}).to_string(),
            tgz.clone(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    app.stop().await;
    let data = app.dir.path().to_str().unwrap().to_string();
    let (ok, _, err) = run_bin(
        &["cache", "prune", "--max-bytes", "0", "--data-dir", &data],
        &[],
    );
    assert!(ok, "{err}");
    assert!(
        err.contains("Removed 1 tarballs from the cache (0 bytes freed)"),
        "the shared blob stays, so nothing is freed: {err}"
    );
    assert!(blob_file(app.dir.path(), &sha256_hex(&tgz)).exists());
    let app = app.restart_with(fallback_to(&up.url)).await;
    assert_eq!(download(&app, "/packages/twin/1.0.0/tarball").await, tgz);
}

/// Publishes a multipart form; asserts 201.
async fn post_form(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    form: reqwest::multipart::Form,
) {
    let r = client
        .post(url)
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{url}");
}

#[tokio::test]
async fn a_missing_blob_is_an_integrity_error_with_a_clear_answer() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let data = dir.path().join("data");
    let token = "missing-blob-admin-token";
    let server = BinServer::start_logged(
        &data,
        &[("PANTRY_REGISTRY_TOKEN", token), ("NPM_FALLBACK", "false")],
        &log,
    );
    let client = reqwest::Client::new();
    let tgz = common::npm_tarball(&json!({"name": "lost", "version": "1.0.0"}));
    let form = reqwest::multipart::Form::new()
        .text(
            "metadata",
            json!({"name": "lost", "version": "1.0.0"}).to_string(),
        )
        .part(
            "tarball",
            reqwest::multipart::Part::bytes(tgz.clone()).file_name("lost-1.0.0.tgz"),
        );
    post_form(&client, &format!("{}/publish", server.url), token, form).await;
    let zig = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/zig-vectors/plain_pkg-1.0.0.tar.gz"
    ))
    .unwrap();
    let form = reqwest::multipart::Form::new().part(
        "tarball",
        reqwest::multipart::Part::bytes(zig.clone()).file_name("plain_pkg-1.0.0.tar.gz"),
    );
    post_form(&client, &format!("{}/zig/publish", server.url), token, form).await;

    // The operator's disk loses both blobs.
    let npm_key = sha256_hex(&tgz);
    let zig_key = sha256_hex(&zig);
    std::fs::remove_file(blob_file(&data, &npm_key)).unwrap();
    std::fs::remove_file(blob_file(&data, &zig_key)).unwrap();

    for (path, what) in [
        ("/npm/lost/-/lost-1.0.0.tgz", "lost@1.0.0"),
        ("/packages/lost/1.0.0/tarball", "lost@1.0.0"),
        (
            "/zig/packages/plain_pkg/1.0.0/tarball",
            "Zig package plain_pkg@1.0.0",
        ),
    ] {
        let r = client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            body["error"],
            format!(
                "The tarball of {what} is missing on this server (logged as an integrity error for the operator)"
            ),
            "{path}"
        );
    }
    assert_eq!(server.terminate().code(), Some(0));
    let logged = std::fs::read_to_string(&log).unwrap();
    for key in [&npm_key, &zig_key] {
        assert!(
            logged
                .lines()
                .any(|l| l.contains("integrity error") && l.contains(key.as_str())),
            "no integrity error naming {key} in the log:\n{logged}"
        );
    }
    // gc reports the records whose blob is gone and fails, so a cron job notices.
    let (ok, out, err) = run_bin(
        &["gc", "--dry-run", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "MISSING {npm_key}: named by npm version lost@1.0.0"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "MISSING {zig_key}: named by Zig version plain_pkg@1.0.0"
        )),
        "{out}"
    );
    assert!(
        err.contains("2 blob(s) named by records are missing"),
        "{err}"
    );
}

#[tokio::test]
async fn a_cached_tarball_whose_blob_is_gone_is_fetched_again_or_offline_named_missing() {
    let up = FakeUpstream::start().await;
    let tgz = up.publish("cached-dep", "1.0.0", json!({}));
    let app = TestApp::start_with(fallback_to(&up.url)).await;
    let path = "/npm/cached-dep/-/cached-dep-1.0.0.tgz";
    assert_eq!(download(&app, path).await, tgz);
    std::fs::remove_file(blob_file(app.dir.path(), &sha256_hex(&tgz))).unwrap();
    // Online, the upstream has it: fetched and kept again.
    assert_eq!(download(&app, path).await, tgz);
    assert_eq!(up.tarball_requests(), 2);
    std::fs::remove_file(blob_file(app.dir.path(), &sha256_hex(&tgz))).unwrap();
    let app = app
        .restart_with(common::fallback_to(
            &up.url,
            &[("npm.local_scopes", "@s"), ("npm.offline", "true")],
        ))
        .await;
    let r = app.get(path).await;
    assert_eq!(
        r.error(500),
        "The tarball of cached-dep@1.0.0 is missing on this server (logged as an integrity error for the operator)"
    );
}
