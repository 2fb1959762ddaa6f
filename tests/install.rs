//! A project install with the Pantry CLI, as the CLI asks for it (`POST /npm/resolve`,
//! `POST /registry/download` then `/npm/download`, `POST /analytics/events`, bodies built the
//! way its source builds them):
//! - the resolved set is the whole flat tree: transitive dependencies, required peers,
//!   optional dependencies that exist, aliases keyed by the alias, scoped names; anything that
//!   cannot be resolved is an error, never a partial 200;
//! - for express's real tree (the recorded corpus), the set equals the (name, version) pairs
//!   and integrity values of real npm's package-lock.json for the same package.json, and so do
//!   a tree of real peers and platform-optional packages;
//! - the batch download is a tar that Python's `tarfile` and GNU tar open, every entry's bytes
//!   matching its integrity; foreign URLs (SSRF) and oversized batches are refused;
//! - packages named `resolve` and `download` still install with npm, pnpm, yarn and bun.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use base64::Engine;
use common::corpus::{CorpusUpstream, corpus};
use common::sandbox::Sandbox;
use common::tools::tools;
use common::{Response, TestApp};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

/// Publishes `manifest` (its name and version, with whatever dependency fields it has) as
/// `npm publish` does, with `tag`; the tarball.
async fn publish(app: &TestApp, manifest: Value, tag: &str) -> Vec<u8> {
    let name = manifest["name"].as_str().unwrap().to_string();
    let version = manifest["version"].as_str().unwrap().to_string();
    let tgz = common::npm_tarball(&manifest);
    let mut doc = common::npm_publish_doc(&name, &version, tag, &tgz);
    let v = doc["versions"][&version].as_object_mut().unwrap();
    for (k, val) in manifest.as_object().unwrap() {
        v.insert(k.clone(), val.clone());
    }
    let resp = app
        .npm(
            Method::PUT,
            &format!("/{}", name.replace('/', "%2f")),
            Some(&app.tokens.alice),
            Some(doc),
        )
        .await;
    assert!(
        resp.status.is_success(),
        "{name}@{version}: {}",
        String::from_utf8_lossy(&resp.body)
    );
    tgz
}

/// `POST {path}` with `body` as the CLI sends it: raw bytes, `Content-Type: application/json`.
async fn post(app: &TestApp, path: &str, body: impl Into<String>) -> Response {
    post_with(app, path, &[("content-type", "application/json")], body).await
}

/// A POST of `body` with exactly `headers`.
async fn post_with(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<String>,
) -> Response {
    let mut request = app.client.post(format!("{}{path}", app.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Response::from(request.body(body.into()).send().await.unwrap()).await
}

async fn resolve(app: &TestApp, dependencies: Value) -> Response {
    post(
        app,
        "/npm/resolve",
        json!({ "dependencies": dependencies }).to_string(),
    )
    .await
}

/// name → (version, integrity) of a 200 answer.
fn resolved(resp: &Response) -> BTreeMap<String, (String, String)> {
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    resp.json()["resolved"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (
                    v["version"].as_str().unwrap().to_string(),
                    v["integrity"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

fn sri512(bytes: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes))
    )
}

/// Whether `bytes` match an SRI value (sha512 or sha1).
fn matches_integrity(bytes: &[u8], integrity: &str) -> bool {
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    integrity
        .split_whitespace()
        .any(|t| match t.split_once('-') {
            Some(("sha512", v)) => b64(&sha2::Sha512::digest(bytes)) == v,
            Some(("sha1", v)) => b64(&sha1::Sha1::digest(bytes)) == v,
            _ => false,
        })
}

fn versions(set: &BTreeMap<String, (String, String)>) -> BTreeMap<&str, &str> {
    set.iter()
        .map(|(k, (v, _))| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test]
async fn resolve_answers_the_whole_flat_tree_with_peers_optionals_aliases_and_scopes() {
    let app = TestApp::start().await;
    let mut tarballs = BTreeMap::new();
    for (manifest, tag) in [
        (json!({"name": "lib-b", "version": "1.0.0"}), "latest"),
        (
            json!({"name": "lib-b", "version": "1.2.0", "dependencies": {"leaf": "~1.1.0"}}),
            "latest",
        ),
        (json!({"name": "lib-b", "version": "2.0.0"}), "latest"),
        (json!({"name": "lib-b", "version": "2.1.0-beta.1"}), "next"),
        (json!({"name": "leaf", "version": "1.1.0"}), "latest"),
        (json!({"name": "leaf", "version": "1.1.4"}), "latest"),
        (json!({"name": "leaf", "version": "1.2.0"}), "latest"),
        (
            json!({"name": "@acme/core", "version": "2.1.3", "dependencies": {"leaf": "^1.1.2"}}),
            "latest",
        ),
        (json!({"name": "host-h", "version": "3.0.0"}), "latest"),
        (json!({"name": "host-h", "version": "3.1.0"}), "latest"),
        (json!({"name": "host-h", "version": "4.0.0"}), "latest"),
        (
            json!({"name": "opt-real", "version": "1.0.0", "os": ["darwin"]}),
            "latest",
        ),
        (json!({"name": "peer-only", "version": "1.0.0"}), "latest"),
        (
            json!({"name": "plugin-p", "version": "1.0.0",
            "peerDependencies": {"host-h": "^3.0.0", "peer-only": "^1", "brought-peer": "^2"},
            "peerDependenciesMeta": {"peer-only": {"optional": true}, "brought-peer": {"optional": true}},
            "optionalDependencies": {"opt-real": "1.0.0", "opt-missing": "^1.0.0"},
            "dependencies": {"@acme/core": "~2.1.0", "bundled-x": "^1"},
            "bundleDependencies": ["bundled-x"]}),
            "latest",
        ),
        (
            json!({"name": "brought-peer", "version": "2.0.0"}),
            "latest",
        ),
        (
            json!({"name": "brought-peer", "version": "2.5.0"}),
            "latest",
        ),
        (
            json!({"name": "brought-peer", "version": "3.0.0"}),
            "latest",
        ),
        (
            json!({"name": "app-a", "version": "1.0.0",
            "dependencies": {"lib-b": "^1.0.0", "plugin-p": "*", "brought-peer": ">=2"}}),
            "latest",
        ),
    ] {
        let version = manifest["version"].as_str().unwrap().to_string();
        let name = manifest["name"].as_str().unwrap().to_string();
        tarballs.insert(
            format!("{name}@{version}"),
            publish(&app, manifest, tag).await,
        );
    }

    let resp = resolve(
        &app,
        json!({
            "app-a": "^1",
            "old-b": "npm:lib-b@1.0.0",
            "beta-b": "npm:lib-b@next",
            "@acme/core": "latest",
            "local-lib": "file:../local-lib",
            "ws-lib": "workspace:*",
        }),
    )
    .await;
    let set = resolved(&resp);
    let expected: BTreeMap<&str, &str> = [
        ("app-a", "1.0.0"),
        // ^1 with latest at 2.0.0: the highest 1.x.
        ("lib-b", "1.2.0"),
        // ~1.1.0 from lib-b, ^1.1.2 from @acme/core: one version fits both.
        ("leaf", "1.1.4"),
        ("@acme/core", "2.1.3"),
        ("plugin-p", "1.0.0"),
        // A required peer is installed.
        ("host-h", "3.1.0"),
        // An optional dependency for another platform is listed, as npm's lockfile lists it;
        // one that does not exist is left out.
        ("opt-real", "1.0.0"),
        // An optional peer that app-a brings must fit the peer range (^2): not the latest 3.0.0.
        ("brought-peer", "2.5.0"),
        // Aliases, keyed by the alias.
        ("old-b", "1.0.0"),
        ("beta-b", "2.1.0-beta.1"),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        versions(&set),
        expected,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    // Not installed: an optional peer nothing brings, a bundled dependency, on-disk paths.
    for absent in [
        "peer-only",
        "bundled-x",
        "local-lib",
        "ws-lib",
        "opt-missing",
    ] {
        assert!(!set.contains_key(absent), "{absent}");
    }

    // Every entry's integrity is its tarball's, and its URL serves exactly those bytes.
    let answer = resp.json();
    for (key, entry) in answer["resolved"].as_object().unwrap() {
        let url = entry["tarball"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/npm/", app.url)),
            "{key}: {url}"
        );
        let real = match key.as_str() {
            "old-b" | "beta-b" => "lib-b",
            other => other,
        };
        let tgz = &tarballs[&format!("{real}@{}", entry["version"].as_str().unwrap())];
        assert_eq!(entry["integrity"], sri512(tgz), "{key}");
        let got = app.client.get(url).send().await.unwrap();
        assert_eq!(got.status(), 200, "{key}: {url}");
        assert_eq!(&got.bytes().await.unwrap()[..], &tgz[..], "{key}");
    }
    // The answer has no duplicate keys and nothing but the contract's fields.
    let text = String::from_utf8_lossy(&resp.body).to_string();
    assert_eq!(text.matches("\"app-a\"").count(), 1);
    for entry in answer["resolved"].as_object().unwrap().values() {
        let mut keys: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["integrity", "tarball", "version"]);
    }
}

#[tokio::test]
async fn resolve_refuses_what_it_cannot_resolve_whole_and_changes_nothing() {
    let app = TestApp::start().await;
    publish(&app, json!({"name": "known", "version": "1.0.0"}), "latest").await;
    publish(
        &app,
        json!({"name": "wants-old", "version": "1.0.0", "dependencies": {"shared": "1.0.0"}}),
        "latest",
    )
    .await;
    publish(
        &app,
        json!({"name": "wants-new", "version": "1.0.0", "dependencies": {"shared": "2.0.0"}}),
        "latest",
    )
    .await;
    publish(
        &app,
        json!({"name": "shared", "version": "1.0.0"}),
        "latest",
    )
    .await;
    publish(
        &app,
        json!({"name": "shared", "version": "2.0.0"}),
        "latest",
    )
    .await;
    publish(
        &app,
        json!({"name": "needs-ghost", "version": "1.0.0", "dependencies": {"ghost-dep": "^1"}}),
        "latest",
    )
    .await;

    // Malformed bodies: the CLI writes names and ranges without JSON escaping.
    for body in [
        r#"{"dependencies":{"we"ird":"^1"}}"#.to_string(),
        "not json".into(),
        "".into(),
        r#"{"dependencies":["known"]}"#.into(),
        r#"{"dependencies":{"known":1}}"#.into(),
        r#"{"deps":{"known":"^1"}}"#.into(),
        r#"{"dependencies":{"known":"^^^"}}"#.into(),
    ] {
        let resp = post(&app, "/npm/resolve", body.clone()).await;
        assert_eq!(resp.status, 400, "{body}");
        let message = resp.error(400);
        assert!(!message.is_empty(), "{body}");
        if serde_json::from_str::<Value>(&body).is_err() {
            assert!(message.contains(r#"{"dependencies":"#), "{message}");
        }
    }
    // An unknown name is an error, not a 200 without it.
    let resp = resolve(&app, json!({"known": "^1", "no-such-package-here": "^1"})).await;
    assert!(resp.error(404).contains("no-such-package-here"));
    // So is an unknown one deep in the tree, named with who needs it.
    let message = resolve(&app, json!({"needs-ghost": "^1"})).await.error(404);
    assert!(
        message.contains("ghost-dep") && message.contains("needs-ghost@1.0.0"),
        "{message}"
    );
    let message = resolve(&app, json!({"known": "^2"})).await.error(404);
    assert!(
        message.contains("known") && message.contains("^2"),
        "{message}"
    );
    let message = resolve(&app, json!({"known": "no-such-tag"}))
        .await
        .error(404);
    assert!(message.contains("no-such-tag"), "{message}");
    let message = resolve(&app, json!({"../../etc": "^1"})).await.error(404);
    assert!(message.contains("../../etc"), "{message}");
    // Two versions of one name that npm would nest: a flat set cannot hold them.
    let message = resolve(&app, json!({"wants-old": "1", "wants-new": "1"}))
        .await
        .error(409);
    assert!(message.contains("shared"), "{message}");
    // Git and URLs are the client's to fetch.
    for spec in [
        "github:user/repo",
        "git+https://example.com/r.git",
        "https://example.com/x.tgz",
        "user/repo",
    ] {
        let message = resolve(&app, json!({"known": spec})).await.error(422);
        assert!(message.contains(spec), "{message}");
    }
    // Not JSON at all.
    let multipart = [("content-type", "multipart/form-data; boundary=x")];
    post_with(&app, "/npm/resolve", &multipart, "--x--")
        .await
        .error(415);
    // Media types are case-insensitive.
    let body = r#"{"dependencies":{"known":"^1"}}"#;
    let shouting = [("content-type", "Application/JSON; charset=UTF-8")];
    let resp = post_with(&app, "/npm/resolve", &shouting, body).await;
    assert_eq!(resolved(&resp)["known"].0, "1.0.0");
    // An encoding this server does not undo is named as such.
    let brotli = [
        ("content-type", "application/json"),
        ("content-encoding", "br"),
    ];
    let resp = post_with(&app, "/npm/resolve", &brotli, body).await;
    let message = resp.error(415);
    assert!(message.contains(r#"Content-Encoding "br""#), "{message}");
    // A body over install.max_body_bytes (1 MiB).
    let huge: serde_json::Map<String, Value> = (0..40_000)
        .map(|i| (format!("package-number-{i}"), json!("^1.0.0")))
        .collect();
    resolve(&app, Value::Object(huge)).await.error(413);
    // An empty project resolves to nothing.
    assert!(resolved(&resolve(&app, json!({})).await).is_empty());

    // A tree over install.max_resolved_packages.
    let mut small = TestApp::start_with(common::with_settings(&[(
        "install.max_resolved_packages",
        "2",
    )]))
    .await;
    for name in ["a1", "a2", "a3"] {
        publish(&small, json!({"name": name, "version": "1.0.0"}), "latest").await;
    }
    resolved(&resolve(&small, json!({"a1": "1", "a2": "1"})).await);
    let message = resolve(&small, json!({"a1": "1", "a2": "1", "a3": "1"}))
        .await
        .error(413);
    assert!(message.contains('2'), "{message}");
    small.stop().await;
}

/// Checks an archive with Python's `tarfile`: every member a regular file, `manifest.json`
/// first, every `packages/` entry's bytes matching the manifest's integrity and size. Prints
/// the member names, one a line.
const PYTHON_CHECK: &str = r#"
import base64, hashlib, json, sys, tarfile
with tarfile.open(sys.argv[1], mode="r:") as tar:
    members = tar.getmembers()
    assert members[0].name == "manifest.json", members[0].name
    assert all(m.isreg() for m in members)
    manifest = json.load(tar.extractfile("manifest.json"))
    files = {m.name: tar.extractfile(m).read() for m in members[1:]}
    assert len(files) == len(members) - 1, "entry names are unique"
    assert sorted(files) == sorted(p["file"] for p in manifest["packages"])
    for p in manifest["packages"]:
        data = files[p["file"]]
        assert len(data) == p["size"], p
        algo, digest = p["integrity"].split("-", 1)
        assert base64.b64encode(hashlib.new(algo, data).digest()).decode() == digest, p
    for m in members:
        print(m.name)
"#;

/// Saves a batch download, opens it with Python's `tarfile` and with GNU tar (listing and
/// extracting), checks every entry against its integrity; the manifest.
fn check_archive(body: &[u8], dir: &Path) -> Value {
    let file = dir.join("batch.tar");
    std::fs::write(&file, body).unwrap();
    let python = Command::new("python3")
        .args(["-c", PYTHON_CHECK, file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        python.status.success(),
        "python tarfile: {}",
        String::from_utf8_lossy(&python.stderr)
    );
    let listed = Command::new("tar")
        .args(["-tf", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert_eq!(
        listed.stdout, python.stdout,
        "GNU tar and Python list the same entries"
    );
    let out = dir.join("extracted");
    std::fs::create_dir_all(&out).unwrap();
    let extracted = Command::new("tar")
        .args(["-xf", file.to_str().unwrap(), "-C", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        extracted.status.success(),
        "{}",
        String::from_utf8_lossy(&extracted.stderr)
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    for p in manifest["packages"].as_array().unwrap() {
        let bytes = std::fs::read(out.join(p["file"].as_str().unwrap())).unwrap();
        assert!(
            matches_integrity(&bytes, p["integrity"].as_str().unwrap()),
            "GNU tar: {p}"
        );
    }
    manifest
}

/// The batch-download body for a resolve answer, as the CLI builds it.
fn batch_body(answer: &Value, name_of: impl Fn(&str) -> String) -> String {
    let packages: Vec<Value> = answer["resolved"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, p)| {
            json!({"name": name_of(key), "version": p["version"], "tarball": p["tarball"],
                   "integrity": p["integrity"]})
        })
        .collect();
    json!({ "packages": packages }).to_string()
}

async fn downloads_of(app: &TestApp, name: &str) -> u64 {
    let resp = app.get(&format!("/analytics/{name}")).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    resp.json()["totalDownloads"].as_u64().unwrap()
}

#[tokio::test]
async fn batch_download_is_a_tar_python_and_gnu_tar_open_and_counts_each_tarball_once() {
    let app = TestApp::start().await;
    let mut tarballs = BTreeMap::new();
    for manifest in [
        json!({"name": "@acme/widget", "version": "1.4.0", "dependencies": {"acme-widget": "^2"}}),
        // Would make the same file name as @acme/widget in a careless archive.
        json!({"name": "acme-widget", "version": "2.0.0"}),
        json!({"name": "left", "version": "1.0.0", "dependencies": {"@acme/widget": "1"}}),
    ] {
        let key = format!(
            "{}@{}",
            manifest["name"].as_str().unwrap(),
            manifest["version"].as_str().unwrap()
        );
        tarballs.insert(key, publish(&app, manifest, "latest").await);
    }
    let answer = resolve(&app, json!({"left": "^1"})).await;
    resolved(&answer);
    let body = batch_body(&answer.json(), str::to_string);
    let dir = tempfile::tempdir().unwrap();
    let resp = post(&app, "/registry/download", body.clone()).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.header("content-type"), "application/x-tar");
    let manifest = check_archive(&resp.body, dir.path());
    let listed = manifest["packages"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    for p in listed {
        let key = format!(
            "{}@{}",
            p["name"].as_str().unwrap(),
            p["version"].as_str().unwrap()
        );
        assert_eq!(p["integrity"], sri512(&tarballs[&key]), "{key}");
        assert_eq!(p["size"], tarballs[&key].len(), "{key}");
        assert!(
            p["file"].as_str().unwrap().starts_with("packages/")
                && p["file"].as_str().unwrap().ends_with(".tgz")
        );
        assert!(p["tarball"].as_str().unwrap().starts_with(&app.url));
    }
    // Each tarball counted once.
    for name in ["left", "@acme/widget", "acme-widget"] {
        assert_eq!(downloads_of(&app, name).await, 1, "{name}");
    }

    // The CLI's second try, and the Pantry API's tarball URLs it builds itself; no integrity.
    let body = json!({"packages": [{"name": "@acme/widget", "version": "1.4.0",
        "tarball": format!("{}/packages/@acme/widget/1.4.0/tarball", app.url)}]})
    .to_string();
    let resp = post(&app, "/npm/download", body).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let other = tempfile::tempdir().unwrap();
    let manifest = check_archive(&resp.body, other.path());
    assert_eq!(manifest["packages"][0]["name"], "@acme/widget");
    assert_eq!(downloads_of(&app, "@acme/widget").await, 2);

    // The client's report of the install: the downloads just served are not counted again;
    // a report with no download behind it counts; what is not here is ignored with a reason.
    let events = json!([
        {"packageName": "left", "category": "download", "version": "1.0.0"},
        {"packageName": "acme-widget", "category": "download", "version": "2.0.0"},
        {"packageName": "left", "category": "download", "version": "1.0.0"},
        {"packageName": "left", "category": "install", "version": "1.0.0"},
        {"packageName": "ghost", "category": "download", "version": "1.0.0"},
        {"packageName": "left", "category": "download", "version": "9.9.9"},
    ]);
    let resp = post(&app, "/analytics/events", events.to_string()).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let answer = resp.json();
    assert_eq!(answer["alreadyCounted"], 2, "{answer}");
    assert_eq!(answer["counted"], 1, "{answer}");
    let ignored: Vec<u64> = answer["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(ignored, [3, 4, 5], "{answer}");
    assert_eq!(downloads_of(&app, "left").await, 2);
    assert_eq!(downloads_of(&app, "acme-widget").await, 1);
    // One object instead of a list.
    let resp = post(
        &app,
        "/analytics/events",
        json!({"packageName": "acme-widget", "category": "download", "version": "2.0.0"})
            .to_string(),
    )
    .await;
    assert_eq!(
        resp.json()["counted"],
        1,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    assert_eq!(downloads_of(&app, "acme-widget").await, 2);
    post(&app, "/analytics/events", "[{\"packageName\": 3}]")
        .await
        .error(400);
    post(&app, "/analytics/events", "nope").await.error(400);
}

#[tokio::test]
async fn batch_download_refuses_foreign_urls_mismatches_and_oversized_batches_before_sending() {
    let mut app = TestApp::start_with(common::with_settings(&[
        ("install.max_batch_packages", "3"),
        ("install.max_batch_bytes", "4000"),
    ]))
    .await;
    let small = publish(&app, json!({"name": "small", "version": "1.0.0"}), "latest").await;
    let big_content = common::incompressible(6000, 7);
    let big = common::tarball_with(&[
        (
            "package/package.json",
            json!({"name": "big", "version": "1.0.0"})
                .to_string()
                .into_bytes(),
        ),
        ("package/blob.bin", big_content),
    ]);
    let mut doc = common::npm_publish_doc("big", "1.0.0", "latest", &big);
    doc["versions"]["1.0.0"]["name"] = json!("big");
    let resp = app
        .npm(Method::PUT, "/big", Some(&app.tokens.alice), Some(doc))
        .await;
    assert!(
        resp.status.is_success(),
        "{}",
        String::from_utf8_lossy(&resp.body)
    );

    // A server the registry must never be made to call.
    let victim = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let victim_url = format!("http://{}", victim.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = victim.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let one = |tarball: String| {
        json!({"packages": [{"name": "small", "version": "1.0.0", "tarball": tarball}]}).to_string()
    };
    for url in [
        format!("{victim_url}/small/-/small-1.0.0.tgz"),
        format!("{victim_url}/npm/small/-/small-1.0.0.tgz"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "file:///etc/passwd".to_string(),
        format!("{}.evil.example/npm/small/-/small-1.0.0.tgz", app.url),
        format!(
            "{}/npm/small/-/small-1.0.0.tgz?redirect={victim_url}",
            app.url
        ),
    ] {
        let message = post(&app, "/registry/download", one(url.clone()))
            .await
            .error(422);
        assert!(
            message.contains("not a tarball URL of this registry"),
            "{url}: {message}"
        );
    }
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing reached the victim"
    );
    // Our URL, but of another package or version than the entry says.
    let message = post(
        &app,
        "/registry/download",
        one(format!("{}/npm/big/-/big-1.0.0.tgz", app.url)),
    )
    .await
    .error(422);
    assert!(message.contains("big@1.0.0"), "{message}");
    // Not here.
    let missing = json!({"packages": [{"name": "small", "version": "7.0.0"}]}).to_string();
    assert!(
        post(&app, "/registry/download", missing)
            .await
            .error(404)
            .contains("small@7.0.0")
    );
    // An integrity the tarball here contradicts.
    let wrong = json!({"packages": [{"name": "small", "version": "1.0.0",
        "integrity": sri512(b"something else")}]})
    .to_string();
    post(&app, "/registry/download", wrong).await.error(409);
    let right =
        json!({"packages": [{"name": "small", "version": "1.0.0", "integrity": sri512(&small)}]})
            .to_string();
    assert_eq!(post(&app, "/registry/download", right).await.status, 200);
    // Caps: count and bytes, before anything is sent.
    let four = json!({"packages": (0..4).map(|_| json!({"name": "small", "version": "1.0.0"})).collect::<Vec<_>>()}).to_string();
    assert!(
        post(&app, "/registry/download", four)
            .await
            .error(413)
            .contains("at most 3")
    );
    let heavy = json!({"packages": [{"name": "big", "version": "1.0.0"}]}).to_string();
    assert!(
        post(&app, "/registry/download", heavy)
            .await
            .error(413)
            .contains("4000")
    );
    // Malformed.
    for body in [
        "{}".to_string(),
        "[]".into(),
        r#"{"packages":[{"name":"small"}]}"#.into(),
        r#"{"packages":[{"name":"small","version":1}]}"#.into(),
        r#"{"packages":[{"name":"../x","version":"1.0.0"}]}"#.into(),
        r#"{"packages":[{"name":"small","version":"not-a-version"}]}"#.into(),
    ] {
        let resp = post(&app, "/registry/download", body.clone()).await;
        assert_eq!(
            resp.status,
            400,
            "{body}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        resp.error(400);
    }
    // Nothing was counted by any of it but the one good batch.
    assert_eq!(downloads_of(&app, "small").await, 1);
    assert_eq!(downloads_of(&app, "big").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_named_resolve_and_download_still_work_with_every_client() {
    let app = TestApp::start().await;
    let resolve_tgz = publish(
        &app,
        json!({"name": "resolve", "version": "1.0.0"}),
        "latest",
    )
    .await;
    publish(
        &app,
        json!({"name": "download", "version": "2.0.0"}),
        "latest",
    )
    .await;
    // The npm protocol reads them as packages.
    let doc = app.npm(Method::GET, "/resolve", None, None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json()["dist-tags"]["latest"], "1.0.0");
    let doc = app.npm(Method::GET, "/download", None, None).await;
    assert_eq!(doc.json()["dist-tags"]["latest"], "2.0.0");
    let tarball = app
        .npm(Method::GET, "/resolve/-/resolve-1.0.0.tgz", None, None)
        .await;
    assert_eq!(tarball.body, resolve_tgz);
    // POST is the Pantry CLI's, and resolves the packages too.
    let set = resolved(&resolve(&app, json!({"resolve": "^1", "download": "^2"})).await);
    assert_eq!(set["resolve"].0, "1.0.0");
    assert_eq!(set["download"].0, "2.0.0");

    let t = tools();
    let manifest = json!({"name": "uses-them", "version": "1.0.0", "private": true,
        "dependencies": {"resolve": "^1.0.0", "download": "^2.0.0"}});
    let check = |project: &Path, who: &str| {
        for (name, version) in [("resolve", "1.0.0"), ("download", "2.0.0")] {
            let pkg: Value = serde_json::from_str(
                &std::fs::read_to_string(project.join(format!("node_modules/{name}/package.json")))
                    .unwrap_or_else(|e| panic!("{who}: {name} not installed: {e}")),
            )
            .unwrap();
            assert_eq!(pkg["version"], version, "{who}");
        }
    };
    let sb = Sandbox::new(&app);
    let project = sb.package("npm-app", manifest.clone());
    sb.ok(&t.npm, &["install", "--no-audit"], &project).await;
    check(&project, "npm");
    let sb = Sandbox::new(&app);
    let project = sb.package("pnpm-app", manifest.clone());
    let store = sb.root.path().join("pnpm-store");
    sb.ok(
        &t.pnpm,
        &["install", "--store-dir", store.to_str().unwrap()],
        &project,
    )
    .await;
    check(&project, "pnpm");
    let sb = Sandbox::new(&app);
    let project = sb.package("yarn-app", manifest.clone());
    sb.configure_yarn(&project, "");
    sb.ok(&t.yarn, &["install"], &project).await;
    check(&project, "yarn");
    let sb = Sandbox::new(&app);
    let project = sb.package("bun-app", manifest);
    sb.configure_bun(&project);
    sb.ok(&t.bun, &["install"], &project).await;
    check(&project, "bun");
}

/// The `name@version → integrity` pairs of npm's package-lock.json.
fn npm_lock_pairs(project: &Path) -> BTreeMap<String, String> {
    common::sandbox::npm_lock(project)
        .into_iter()
        .map(|(pkg, integrity, _)| (pkg, integrity))
        .collect()
}

fn resolved_pairs(set: &BTreeMap<String, (String, String)>) -> BTreeMap<String, String> {
    set.iter()
        .map(|(name, (version, integrity))| (format!("{name}@{version}"), integrity.clone()))
        .collect()
}

/// Real npm's lockfile for `dependencies` against `app`, and our answer for the same.
async fn npm_and_ours(
    app: &TestApp,
    dependencies: Value,
    lock_only: bool,
) -> (BTreeMap<String, String>, Response) {
    let sb = Sandbox::new(app);
    let project = sb.package(
        "project",
        json!({"name": "project", "version": "1.0.0", "private": true, "dependencies": dependencies}),
    );
    let mut args = vec!["install", "--ignore-scripts", "--no-audit", "--no-fund"];
    if lock_only {
        args.push("--package-lock-only");
    }
    sb.ok(&tools().npm, &args, &project).await;
    let theirs = npm_lock_pairs(&project);
    let ours = resolve(app, dependencies).await;
    eprintln!(
        "npm's lockfile: {} package versions; resolve answered {} ({} bytes)",
        theirs.len(),
        ours.json()["resolved"].as_object().map_or(0, |r| r.len()),
        ours.body.len()
    );
    (theirs, ours)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolved_set_of_real_express_is_npms_lockfile_and_downloads_whole() {
    let upstream = CorpusUpstream::start().await;
    let app = TestApp::start_with(common::fallback_to(&upstream.url, &[])).await;
    let root = corpus().tree_root("express");
    let (_, version) = root.rsplit_once('@').unwrap();
    let (theirs, ours) = npm_and_ours(&app, json!({"express": version}), false).await;
    let set = resolved(&ours);
    assert_eq!(
        resolved_pairs(&set),
        theirs,
        "our resolved set against npm's package-lock.json"
    );
    assert_eq!(set.len(), corpus().tree("express").len());

    // The whole set in one archive, each tarball byte-identical to the upstream's.
    let body = batch_body(&ours.json(), str::to_string);
    let resp = post(&app, "/registry/download", body).await;
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let dir = tempfile::tempdir().unwrap();
    let manifest = check_archive(&resp.body, dir.path());
    assert_eq!(manifest["packages"].as_array().unwrap().len(), set.len());
    for p in manifest["packages"].as_array().unwrap() {
        let key = format!(
            "{}@{}",
            p["name"].as_str().unwrap(),
            p["version"].as_str().unwrap()
        );
        assert_eq!(
            Some(&p["integrity"].as_str().unwrap().to_string()),
            theirs.get(&key),
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_peers_and_platform_optionals_resolve_as_npms_lockfile_has_them() {
    let upstream = CorpusUpstream::start().await;
    let app = TestApp::start_with(common::fallback_to(&upstream.url, &[])).await;
    let latest = |name: &str| {
        corpus().packument(name)["dist-tags"]["latest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // react-dom needs react as a peer; react-redux has optional peers (redux, @types/react)
    // and a required one; ws has optional peers; esbuild has an optional package per
    // platform, @babel/core a scoped tree.
    let dependencies = json!({
        "react-dom": format!("^{}", latest("react-dom")),
        "react-redux": latest("react-redux"),
        "ws": format!("^{}", latest("ws")),
        "esbuild": latest("esbuild"),
        "@babel/core": format!("^{}", latest("@babel/core")),
    });
    let (theirs, ours) = npm_and_ours(&app, dependencies, true).await;
    let set = resolved(&ours);
    assert_eq!(resolved_pairs(&set), theirs);
    assert!(set.contains_key("react"), "the required peer is installed");
    assert!(
        !set.contains_key("redux"),
        "an optional peer nothing brings is not"
    );
    assert!(
        set.keys().filter(|k| k.starts_with("@esbuild/")).count() > 10,
        "every platform's optional esbuild package"
    );
}

#[tokio::test]
async fn a_private_package_is_neither_resolved_downloaded_nor_counted_for_an_anonymous_caller() {
    let mut app = TestApp::start_with(common::with_settings(&[(
        "access.authenticated",
        "@team/*",
    )]))
    .await;
    let secret = publish(
        &app,
        json!({"name": "@team/secret", "version": "1.0.0"}),
        "latest",
    )
    .await;
    publish(
        &app,
        json!({"name": "open-pkg", "version": "1.0.0", "dependencies": {"@team/secret": "^1"}}),
        "latest",
    )
    .await;
    // Anonymous: the private package deep in the tree is a 401, never a tree without it.
    resolve(&app, json!({"open-pkg": "^1"})).await.error(401);
    let batch = json!({"packages": [{"name": "@team/secret", "version": "1.0.0"}]}).to_string();
    post(&app, "/registry/download", batch.clone())
        .await
        .error(401);
    let report =
        json!([{"packageName": "@team/secret", "category": "download", "version": "1.0.0"}]);
    let resp = post(&app, "/analytics/events", report.to_string()).await;
    assert_eq!(
        resp.json()["counted"],
        0,
        "{}",
        String::from_utf8_lossy(&resp.body)
    );
    assert_eq!(
        resp.json()["ignored"][0]["reason"],
        "@team/secret@1.0.0 is not here"
    );
    // With a read token, the same requests work.
    let bearer = format!("Bearer {}", app.tokens.reader);
    let with_token = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
    ];
    let resp = post_with(
        &app,
        "/npm/resolve",
        &with_token,
        json!({"dependencies": {"open-pkg": "^1"}}).to_string(),
    )
    .await;
    assert_eq!(resolved(&resp)["@team/secret"].1, sri512(&secret));
    let resp = post_with(&app, "/registry/download", &with_token, batch).await;
    assert_eq!(resp.status, 200);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        check_archive(&resp.body, dir.path())["packages"][0]["name"],
        "@team/secret"
    );
    app.stop().await;
}
