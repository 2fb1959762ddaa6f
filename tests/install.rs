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

mod common;

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
    Response::from(
        app.client
            .post(format!("{}{path}", app.url))
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await
            .unwrap(),
    )
    .await
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
    let resp = Response::from(
        app.client
            .post(format!("{}/npm/resolve", app.url))
            .header("content-type", "multipart/form-data; boundary=x")
            .body("--x--")
            .send()
            .await
            .unwrap(),
    )
    .await;
    resp.error(415);
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
