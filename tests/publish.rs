//! POST /publish: both encodings, the Pantry CLI's exact request, validation, every error
//! status, auth and ownership, and exclusivity under concurrency.

use crate::common;

use base64::Engine;
use common::{ADMIN_TOKEN, TestApp, npm_tarball, sha256_hex, tarball_with};
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Asserts the package does not exist: a refused publish changed nothing.
async fn assert_absent(app: &TestApp, name: &str) {
    assert_eq!(
        app.get(&format!("/packages/{name}")).await.status,
        404,
        "{name} should not exist"
    );
}

#[tokio::test]
async fn json_publish_with_base64_tarball() {
    let app = TestApp::start().await;
    let tgz = npm_tarball(
        &json!({"name": "@s/json-pub", "version": "0.1.0", "dependencies": {"x": "1"}}),
    );
    let body =
        json!({"metadata": {"name": "@s/json-pub", "version": "0.1.0"}, "tarball": b64(&tgz)});
    let r = app
        .publish_json(Some(&app.tokens.alice), body.to_string())
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["message"], "Published @s/json-pub@0.1.0");
    let meta = app.get("/packages/@s/json-pub").await.json();
    assert_eq!(meta["checksum"], format!("sha256:{}", sha256_hex(&tgz)));
    assert_eq!(meta["dependencies"], json!({"x": "1"}));
    assert_eq!(
        app.get("/packages/@s/json-pub/0.1.0/tarball").await.body,
        tgz
    );
}

#[tokio::test]
async fn pantry_cli_request_tarball_first_whole_package_json_as_text() {
    // What `pantry publish` sends: tarball part first (package.tgz, octet-stream), then the
    // whole package.json text as a text/plain `metadata` part, bare `Bearer` token.
    let app = TestApp::start().await;
    let pkg = json!({"name": "cli-demo", "version": "1.0.2", "description": "demo", "files": ["index.js"], "scripts": {"test": "x"}});
    let pkg_text = serde_json::to_string_pretty(&pkg).unwrap();
    let tgz = npm_tarball(&pkg);
    let boundary = "----PantryUploadBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"tarball\"; filename=\"package.tgz\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend_from_slice(&tgz);
    body.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: text/plain\r\n\r\n{pkg_text}\r\n--{boundary}--\r\n").as_bytes());
    let resp = app
        .client
        .post(format!("{}/publish", app.url))
        .header("Authorization", format!("Bearer {}", app.tokens.alice))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let r = common::Response::from(resp).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let meta = app.get("/packages/cli-demo").await.json();
    assert_eq!(meta["version"], "1.0.2");
    assert_eq!(meta["description"], "demo");
}

#[tokio::test]
async fn base64_may_be_line_wrapped_or_unpadded_like_the_seed_accepted() {
    let app = TestApp::start().await;
    for (i, wrap) in [true, false].into_iter().enumerate() {
        let name = format!("wrapped-{i}");
        let tgz = npm_tarball(&json!({"name": name, "version": "1.0.0"}));
        let mut text = b64(&tgz);
        if wrap {
            text = text
                .as_bytes()
                .chunks(76)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join("\n");
        } else {
            text = text.trim_end_matches('=').to_string();
        }
        let body = json!({"metadata": {"name": name, "version": "1.0.0"}, "tarball": text});
        let r = app
            .publish_json(Some(&app.tokens.alice), body.to_string())
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(
            app.get(&format!("/packages/{name}/1.0.0/tarball"))
                .await
                .body,
            tgz
        );
    }
}

#[tokio::test]
async fn metadata_cannot_change_what_gets_installed() {
    let app = TestApp::start().await;
    let tgz =
        npm_tarball(&json!({"name": "honest", "version": "1.0.0", "dependencies": {"a": "1"}}));
    let meta = json!({"name": "honest", "version": "1.0.0", "description": "from metadata",
        "dependencies": {"evil": "1"}, "bin": {"x": "x.js"}, "scripts": {"postinstall": "curl evil"}});
    let r = app
        .publish_multipart(Some(&app.tokens.alice), &meta.to_string(), tgz)
        .await;
    assert_eq!(r.status, 201);
    let got = app.get("/packages/honest").await.json();
    assert_eq!(
        got["description"], "from metadata",
        "descriptive fields fill gaps"
    );
    assert_eq!(
        got["dependencies"],
        json!({"a": "1"}),
        "dependencies come from the tarball only"
    );
}

#[tokio::test]
async fn seed_style_bare_token_header_is_accepted() {
    let app = TestApp::start().await;
    let tgz = npm_tarball(&json!({"name": "bare", "version": "1.0.0"}));
    let body = json!({"metadata": {"name": "bare", "version": "1.0.0"}, "tarball": b64(&tgz)});
    let r = app
        .client
        .post(format!("{}/publish", app.url))
        .header("Authorization", ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn name_and_version_come_from_the_tarball_when_metadata_lacks_them() {
    let app = TestApp::start().await;
    let tgz = npm_tarball(&json!({"name": "from-tar", "version": "3.1.4"}));
    let r = app
        .publish_multipart(Some(&app.tokens.alice), "{}", tgz)
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        app.get("/packages/from-tar").await.json()["version"],
        "3.1.4"
    );
}

#[tokio::test]
async fn republish_is_409_and_changes_nothing() {
    let app = TestApp::start().await;
    let (first, tgz) = app.publish(&app.tokens.alice, "once", "1.0.0").await;
    assert_eq!(first.status, 201);
    // Same version, different bytes: refused, and the original stays.
    let other = npm_tarball(&json!({"name": "once", "version": "1.0.0", "description": "sneaky"}));
    let again = app
        .publish_multipart(
            Some(&app.tokens.alice),
            r#"{"name":"once","version":"1.0.0"}"#,
            other,
        )
        .await;
    let blobs_before = app.blob_count().await;
    assert_eq!(again.error(409), "Version already exists");
    assert_eq!(
        app.blob_count().await,
        blobs_before,
        "a refused publish stores no tarball"
    );
    assert_eq!(app.get("/packages/once/1.0.0/tarball").await.body, tgz);
    assert!(
        app.get("/packages/once")
            .await
            .json()
            .get("description")
            .is_none()
    );
}

#[tokio::test]
async fn malformed_bodies_are_400_json_and_change_nothing() {
    let app = TestApp::start().await;
    let t = Some(app.tokens.alice.as_str());
    let good = npm_tarball(&json!({"name": "bad-input", "version": "1.0.0"}));
    let meta = r#"{"name":"bad-input","version":"1.0.0"}"#;

    let cases: Vec<(&str, common::Response)> = vec![
        ("invalid JSON body", app.publish_json(t, "{not json".into()).await),
        ("JSON array body", app.publish_json(t, "[1,2]".into()).await),
        ("missing tarball (JSON)", app.publish_json(t, json!({"metadata": {"name": "bad-input", "version": "1.0.0"}}).to_string()).await),
        ("missing metadata (JSON)", app.publish_json(t, json!({"tarball": b64(&good)}).to_string()).await),
        ("bad base64", app.publish_json(t, json!({"metadata": {"name": "bad-input", "version": "1.0.0"}, "tarball": "%%%not base64%%%"}).to_string()).await),
        ("metadata not an object", app.publish_json(t, json!({"metadata": [1], "tarball": b64(&good)}).to_string()).await),
        ("invalid metadata JSON (multipart)", app.publish_multipart(t, "{oops", good.clone()).await),
        ("non-gzip tarball", app.publish_multipart(t, meta, b"just some text, not gzip".to_vec()).await),
        ("truncated tarball", app.publish_multipart(t, meta, good[..good.len() / 2].to_vec()).await),
        ("gzip but not tar", app.publish_multipart(t, meta, {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&[7u8; 2048]).unwrap();
            gz.finish().unwrap()
        }).await),
        ("invalid name", app.publish_multipart(t, r#"{"name":"Bad Name","version":"1.0.0"}"#, good.clone()).await),
        ("traversal name", app.publish_multipart(t, r#"{"name":"../../etc","version":"1.0.0"}"#, good.clone()).await),
        ("reserved name", app.publish_multipart(t, r#"{"name":"node_modules","version":"1.0.0"}"#, good.clone()).await),
        ("invalid version", app.publish_multipart(t, r#"{"name":"bad-input","version":"1.0"}"#, good.clone()).await),
        ("traversal version", app.publish_multipart(t, r#"{"name":"bad-input","version":"../../1.0.0"}"#, good.clone()).await),
        ("non-string name", app.publish_multipart(t, r#"{"name":42,"version":"1.0.0"}"#, good.clone()).await),
        ("build metadata in version", app.publish_multipart(t, r#"{"name":"bad-input","version":"1.0.0+build.7"}"#, good.clone()).await),
    ];
    for (what, r) in cases {
        let msg = r.error(400);
        assert!(!msg.is_empty(), "{what}");
    }
    // Seed messages for missing parts.
    let only_tarball = reqwest::multipart::Form::new().part(
        "tarball",
        reqwest::multipart::Part::bytes(good.clone()).file_name("p.tgz"),
    );
    let r = common::Response::from(
        app.client
            .post(format!("{}/publish", app.url))
            .bearer_auth(&app.tokens.alice)
            .multipart(only_tarball)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        r.error(400)
            .starts_with("Missing metadata: the form takes a `metadata` part")
    );
    let only_meta = reqwest::multipart::Form::new().text("metadata", meta);
    let r = common::Response::from(
        app.client
            .post(format!("{}/publish", app.url))
            .bearer_auth(&app.tokens.alice)
            .multipart(only_meta)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(r.error(400).starts_with("Missing tarball: the form takes"));
    assert!(
        app.publish_json(t, "{}".into())
            .await
            .error(400)
            .starts_with("Missing metadata or tarball: the JSON body takes `metadata`")
    );
    assert_absent(&app, "bad-input").await;
}

#[tokio::test]
async fn tarball_contents_must_match_the_metadata_422() {
    let app = TestApp::start().await;
    let t = Some(app.tokens.alice.as_str());
    let tgz = npm_tarball(&json!({"name": "real-name", "version": "1.0.0"}));
    let r = app
        .publish_multipart(t, r#"{"name":"other-name","version":"1.0.0"}"#, tgz.clone())
        .await;
    assert!(r.error(422).contains("does not match"));
    let r = app
        .publish_multipart(t, r#"{"name":"real-name","version":"2.0.0"}"#, tgz)
        .await;
    assert!(r.error(422).contains("does not match"));
    let no_manifest = tarball_with(&[("package/index.js", b"1".to_vec())]);
    let r = app
        .publish_multipart(t, r#"{"name":"real-name","version":"1.0.0"}"#, no_manifest)
        .await;
    assert!(r.error(422).contains("package.json"));
    let bad_manifest = tarball_with(&[("package/package.json", b"{nope".to_vec())]);
    let r = app
        .publish_multipart(t, r#"{"name":"real-name","version":"1.0.0"}"#, bad_manifest)
        .await;
    r.error(422);
    assert_absent(&app, "real-name").await;
    assert_absent(&app, "other-name").await;
}

#[tokio::test]
async fn unsupported_content_type_is_415() {
    let app = TestApp::start().await;
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
    ] {
        let r = common::Response::from(
            app.client
                .post(format!("{}/publish", app.url))
                .bearer_auth(&app.tokens.alice)
                .header("content-type", ct)
                .body("name=x")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            r.error(415),
            "Unsupported content type: this route takes multipart/form-data or application/json",
            "{ct}"
        );
    }
    let r = common::Response::from(
        app.client
            .post(format!("{}/publish", app.url))
            .bearer_auth(&app.tokens.alice)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.error(415);
}

#[tokio::test]
async fn limits_are_413() {
    let app = TestApp::start_with(|b| {
        b.setting("limits.max_tarball_bytes", "4000")
            .unwrap()
            .setting("limits.max_request_bytes", "20000")
            .unwrap()
            .setting("limits.max_unpacked_bytes", "100000")
            .unwrap()
            .setting("limits.max_tarball_entries", "50")
            .unwrap()
    })
    .await;
    let t = Some(app.tokens.alice.as_str());
    let meta = r#"{"name":"big","version":"1.0.0"}"#;
    let manifest = json!({"name": "big", "version": "1.0.0"})
        .to_string()
        .into_bytes();
    // Incompressible content: a tarball over 4000 bytes.
    let noise: Vec<u8> = (0..200u32)
        .flat_map(|i| hex::decode(sha256_hex(&i.to_le_bytes())).unwrap())
        .collect();
    let big = tarball_with(&[
        ("package/package.json", manifest.clone()),
        ("package/noise.bin", noise),
    ]);
    assert!(big.len() > 4000);
    assert!(
        app.publish_multipart(t, meta, big)
            .await
            .error(413)
            .contains("4000")
    );
    // A small tarball that unpacks past the limit (a decompression bomb).
    let bomb = tarball_with(&[
        ("package/package.json", manifest.clone()),
        ("package/zeros", vec![0u8; 200_000]),
    ]);
    assert!(bomb.len() < 4000);
    assert!(
        app.publish_multipart(t, meta, bomb)
            .await
            .error(413)
            .contains("unpacks")
    );
    // Too many entries.
    let mut files: Vec<(String, Vec<u8>)> = vec![("package/package.json".into(), manifest.clone())];
    files.extend((0..60).map(|i| (format!("package/f{i}"), Vec::new())));
    let refs: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    assert!(
        app.publish_multipart(t, meta, tarball_with(&refs))
            .await
            .error(413)
            .contains("entries")
    );
    // A request body over the limit, declared or not.
    let huge = "x".repeat(30_000);
    assert!(
        app.publish_json(t, huge.clone())
            .await
            .error(413)
            .contains("20000")
    );
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(huge.into_bytes())]);
    let chunked = common::Response::from(
        app.client
            .post(format!("{}/publish", app.url))
            .bearer_auth(&app.tokens.alice)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .unwrap(),
    )
    .await;
    chunked.error(413);
    assert_absent(&app, "big").await;
}

#[tokio::test]
async fn auth_failures_are_401_with_a_challenge() {
    let app = TestApp::start().await;
    let tgz = npm_tarball(&json!({"name": "authz", "version": "1.0.0"}));
    let meta = r#"{"name":"authz","version":"1.0.0"}"#;
    let r = app.publish_multipart(None, meta, tgz.clone()).await;
    assert_eq!(r.error(401), "Authorization required");
    assert!(r.header("www-authenticate").starts_with("Bearer"));
    assert_eq!(
        app.publish_multipart(Some("ptry_0000"), meta, tgz.clone())
            .await
            .error(401),
        "Invalid token"
    );
    assert_eq!(
        app.publish_multipart(Some("whatever"), meta, tgz.clone())
            .await
            .error(401),
        "Invalid token"
    );
    assert_eq!(
        app.publish_multipart(Some(&app.tokens.revoked), meta, tgz.clone())
            .await
            .error(401),
        "Invalid token"
    );
    assert_eq!(
        app.publish_multipart(Some(&app.tokens.expired), meta, tgz.clone())
            .await
            .error(401),
        "Token expired"
    );
    assert_absent(&app, "authz").await;
}

#[tokio::test]
async fn scope_restriction_and_ownership_are_403() {
    let app = TestApp::start().await;
    // A read token cannot publish.
    let (r, _) = app.publish(&app.tokens.reader, "readonly", "1.0.0").await;
    assert!(r.error(403).contains("read scope"));
    assert_absent(&app, "readonly").await;
    // A token restricted to @team/* publishes there and nowhere else.
    assert_eq!(
        app.publish(&app.tokens.team_only, "@team/tool", "1.0.0")
            .await
            .0
            .status,
        201
    );
    assert!(
        app.publish(&app.tokens.team_only, "@other/tool", "1.0.0")
            .await
            .0
            .error(403)
            .contains("restricted")
    );
    assert!(
        app.publish(&app.tokens.team_only, "tool", "1.0.0")
            .await
            .0
            .error(403)
            .contains("restricted")
    );
    // The first publisher owns the name; another user cannot add versions; an admin can.
    assert_eq!(
        app.publish(&app.tokens.alice, "owned", "1.0.0")
            .await
            .0
            .status,
        201
    );
    let blobs_before = app.blob_count().await;
    let (r, _) = app.publish(&app.tokens.bob, "owned", "1.1.0").await;
    assert!(r.error(403).contains("not an owner"));
    assert_eq!(
        app.blob_count().await,
        blobs_before,
        "a refused publish stores no tarball"
    );
    // The name may also come only from the tarball: the same rules apply.
    let sneaky = npm_tarball(&json!({"name": "@other/tool", "version": "1.0.0"}));
    let r = app
        .publish_multipart(Some(&app.tokens.team_only), "{}", sneaky)
        .await;
    assert!(r.error(403).contains("restricted"));
    let sneaky = npm_tarball(&json!({"name": "owned", "version": "1.1.0"}));
    let r = app
        .publish_multipart(Some(&app.tokens.bob), "{}", sneaky)
        .await;
    assert!(r.error(403).contains("not an owner"));
    // A real user who happens to be called "admin" is not the admin token.
    assert_eq!(
        app.publish(ADMIN_TOKEN, "admins-own", "1.0.0")
            .await
            .0
            .status,
        201
    );
    let (r, _) = app
        .publish(&app.tokens.named_admin, "admins-own", "1.1.0")
        .await;
    assert!(r.error(403).contains("not an owner"));
    assert_eq!(
        app.get("/packages/owned/versions").await.json()["versions"],
        json!(["1.0.0"])
    );
    assert_eq!(
        app.publish(&app.tokens.alice, "owned", "1.2.0")
            .await
            .0
            .status,
        201
    );
    assert_eq!(
        app.publish(ADMIN_TOKEN, "owned", "1.3.0").await.0.status,
        201
    );
    assert_eq!(
        app.get("/packages/owned/versions").await.json()["versions"],
        json!(["1.3.0", "1.2.0", "1.0.0"])
    );
}

#[tokio::test]
async fn concurrent_publishes_of_one_version_yield_one_201_and_19_409() {
    let app = TestApp::start().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = app.client.clone();
        let url = format!("{}/publish", app.url);
        let token = app.tokens.alice.clone();
        tasks.push(tokio::spawn(async move {
            // Each task sends different bytes, so a second write would be visible.
            let tgz = npm_tarball(
                &json!({"name": "racy", "version": "1.0.0", "description": format!("task {i}")}),
            );
            let form = reqwest::multipart::Form::new()
                .text("metadata", r#"{"name":"racy","version":"1.0.0"}"#)
                .part(
                    "tarball",
                    reqwest::multipart::Part::bytes(tgz.clone()).file_name("p.tgz"),
                );
            let r = client
                .post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), tgz)
        }));
    }
    let mut created = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        let (status, tgz) = t.await.unwrap();
        match status {
            201 => created.push(tgz),
            409 => conflicts += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created.len(), conflicts), (1, 19));
    assert_eq!(
        app.get("/packages/racy/1.0.0/tarball").await.body,
        created[0],
        "the winner's bytes are served"
    );
}
