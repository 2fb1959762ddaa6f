//! The read side of the Pantry API: /packages/{name}, /{version}, /versions, /{version}/tarball,
//! for scoped and unscoped names in raw and percent-encoded form, plus /health, CORS and 404s.

use crate::common;

use common::{TestApp, npm_tarball, sha256_hex};
use serde_json::json;

#[tokio::test]
async fn health_answers_ok_with_a_timestamp() {
    let app = TestApp::start().await;
    let r = app.get("/health").await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["status"], "ok");
    assert!(body["timestamp"].as_str().unwrap().contains('T'));
}

#[tokio::test]
async fn unscoped_package_every_route() {
    let app = TestApp::start().await;
    let manifest = json!({
        "name": "left-pad", "version": "1.3.0", "description": "pads left",
        "license": {"type": "MIT"}, "author": {"name": "Ada", "email": "a@x"},
        "repository": {"type": "git", "url": "https://example.com/left-pad.git"},
        "homepage": "https://example.com", "keywords": ["pad", "string"],
        "dependencies": {"tiny": "^1.0.0"}, "devDependencies": {"tap": "^16"},
        "peerDependencies": {"peer": "*"}
    });
    let tgz = npm_tarball(&manifest);
    let r = app
        .publish_multipart(Some(&app.tokens.alice), &manifest.to_string(), tgz.clone())
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["success"], true);
    assert_eq!(r.json()["message"], "Published left-pad@1.3.0");

    let meta = app.get("/packages/left-pad").await.json();
    assert_eq!(meta["name"], "left-pad");
    assert_eq!(meta["version"], "1.3.0");
    assert_eq!(meta["description"], "pads left");
    assert_eq!(meta["license"], "MIT");
    assert_eq!(meta["author"], "Ada");
    assert_eq!(meta["repository"], "https://example.com/left-pad.git");
    assert_eq!(meta["homepage"], "https://example.com");
    assert_eq!(meta["keywords"], json!(["pad", "string"]));
    assert_eq!(
        meta["dependencies"],
        json!({"tiny": "^1.0.0"}),
        "dependencies are kept"
    );
    assert_eq!(meta["devDependencies"], json!({"tap": "^16"}));
    assert_eq!(meta["peerDependencies"], json!({"peer": "*"}));
    assert_eq!(meta["checksum"], format!("sha256:{}", sha256_hex(&tgz)));
    assert_eq!(meta["size"], tgz.len() as u64);
    assert!(
        time::OffsetDateTime::parse(
            meta["publishedAt"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );

    let exact = app.get("/packages/left-pad/1.3.0").await;
    assert_eq!(exact.status, 200);
    assert_eq!(exact.json()["version"], "1.3.0");

    assert_eq!(
        app.get("/packages/left-pad/versions").await.json(),
        json!({"versions": ["1.3.0"]})
    );

    // tarballUrl is absolute, under BASE_URL, and actually downloads the published bytes.
    let url = meta["tarballUrl"].as_str().unwrap();
    assert!(url.starts_with(&app.url), "{url}");
    let dl = common::Response::from(app.client.get(url).send().await.unwrap()).await;
    assert_eq!(dl.status, 200);
    assert_eq!(dl.body, tgz);
    assert_eq!(dl.header("content-type"), "application/gzip");
    assert_eq!(
        dl.header("content-disposition"),
        "attachment; filename=\"left-pad-1.3.0.tgz\""
    );
    assert_eq!(dl.header("etag"), format!("\"{}\"", sha256_hex(&tgz)));
    assert!(dl.header("cache-control").contains("immutable"));
    assert!(
        dl.headers.get("content-encoding").is_none(),
        "tarballs are served as stored"
    );
}

#[tokio::test]
async fn scoped_package_raw_and_encoded_paths() {
    let app = TestApp::start().await;
    let (r, tgz) = app
        .publish(&app.tokens.alice, "@acme/widget", "2.0.0")
        .await;
    assert_eq!(r.status, 201);
    for base in [
        "/packages/@acme/widget",
        "/packages/%40acme%2Fwidget",
        "/packages/%40acme%2fwidget",
        "/packages/@acme%2Fwidget",
    ] {
        let latest = app.get(base).await;
        assert_eq!(latest.status, 200, "{base}");
        assert_eq!(latest.json()["name"], "@acme/widget", "{base}");
        let v = app.get(&format!("{base}/2.0.0")).await;
        assert_eq!(v.json()["version"], "2.0.0", "{base}");
        assert_eq!(
            app.get(&format!("{base}/versions")).await.json()["versions"],
            json!(["2.0.0"]),
            "{base}"
        );
        let dl = app.get(&format!("{base}/2.0.0/tarball")).await;
        assert_eq!(dl.status, 200, "{base}");
        assert_eq!(sha256_hex(&dl.body), sha256_hex(&tgz));
        assert_eq!(
            dl.header("content-disposition"),
            "attachment; filename=\"acme-widget-2.0.0.tgz\""
        );
    }
    let meta = app.get("/packages/@acme/widget").await.json();
    let url = meta["tarballUrl"].as_str().unwrap();
    let dl = common::Response::from(app.client.get(url).send().await.unwrap()).await;
    assert_eq!(dl.body, tgz, "tarballUrl of a scoped package downloads");
}

#[tokio::test]
async fn scoped_and_unscoped_lookalikes_do_not_collide() {
    // The seed stored @a/b and a-b under the same key; here they are two packages.
    let app = TestApp::start().await;
    let (r1, t1) = app.publish(&app.tokens.alice, "@a/b", "1.0.0").await;
    let (r2, t2) = app.publish(&app.tokens.alice, "a-b", "1.0.0").await;
    assert_eq!((r1.status.as_u16(), r2.status.as_u16()), (201, 201));
    assert_eq!(app.get("/packages/@a/b/1.0.0/tarball").await.body, t1);
    assert_eq!(app.get("/packages/a-b/1.0.0/tarball").await.body, t2);
}

#[tokio::test]
async fn latest_is_the_highest_stable_version_and_versions_are_sorted() {
    let app = TestApp::start().await;
    for v in ["1.0.0-beta.1", "1.2.0", "1.10.0", "2.0.0-rc.1", "1.9.9"] {
        assert_eq!(
            app.publish(&app.tokens.alice, "sorty", v).await.0.status,
            201,
            "{v}"
        );
    }
    assert_eq!(app.get("/packages/sorty").await.json()["version"], "1.10.0");
    assert_eq!(
        app.get("/packages/sorty/versions").await.json()["versions"],
        json!(["2.0.0-rc.1", "1.10.0", "1.9.9", "1.2.0", "1.0.0-beta.1"])
    );
}

#[tokio::test]
async fn a_prerelease_is_latest_only_while_alone() {
    let app = TestApp::start().await;
    app.publish(&app.tokens.alice, "pre", "0.1.0-alpha.1").await;
    assert_eq!(
        app.get("/packages/pre").await.json()["version"],
        "0.1.0-alpha.1"
    );
    app.publish(&app.tokens.alice, "pre", "0.0.9").await;
    assert_eq!(app.get("/packages/pre").await.json()["version"], "0.0.9");
}

#[tokio::test]
async fn not_found_answers() {
    let app = TestApp::start().await;
    app.publish(&app.tokens.alice, "exists", "1.0.0").await;
    assert_eq!(
        app.get("/packages/nope").await.error(404),
        "Package not found"
    );
    assert_eq!(
        app.get("/packages/@no/pe").await.error(404),
        "Package not found"
    );
    assert_eq!(
        app.get("/packages/exists/9.9.9").await.error(404),
        "Package version not found"
    );
    assert_eq!(
        app.get("/packages/nope/1.0.0").await.error(404),
        "Package not found"
    );
    assert_eq!(
        app.get("/packages/exists/9.9.9/tarball").await.error(404),
        "Package version not found"
    );
    assert_eq!(
        app.get("/packages/nope/1.0.0/tarball").await.error(404),
        "Package not found"
    );
    // The seed's contract: an unknown package has an empty version list, not a 404.
    let r = app.get("/packages/nope/versions").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"versions": []}));
    // Unknown routes and methods are JSON 404s, never HTML.
    assert_eq!(app.get("/nothing/here").await.error(404), "Not found");
    let put = common::Response::from(
        app.client
            .put(format!("{}/health", app.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(put.status.is_client_error());
    put.error(put.status.as_u16());
}

#[tokio::test]
async fn traversal_in_names_and_versions_never_reaches_the_filesystem() {
    let app = TestApp::start().await;
    app.publish(&app.tokens.alice, "safe", "1.0.0").await;
    for path in [
        "/packages/..%2F..%2Fetc%2Fpasswd",
        "/packages/safe/..%2F..%2F..%2Fetc%2Fpasswd/tarball",
        "/packages/%2e%2e/1.0.0/tarball",
        "/packages/__proto__",
        "/packages/node_modules/1.0.0/tarball",
        "/packages/safe/1.0.0%2F..%2F..%2Fregistry.redb/tarball",
        "/packages/safe/../../registry.redb",
        "/packages/safe/%2e%2e/%2e%2e/tarball",
    ] {
        // Sent byte for byte: an HTTP client library would normalise `..` away first.
        let (status, content_type, body) = common::raw_get(&app.url, path).await;
        assert!(status == 404 || status == 400, "{path}: {status} {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {content_type}"
        );
        assert!(!body.contains("redb"), "{path}: {body}");
    }
}

#[tokio::test]
async fn cors_headers_and_preflight() {
    let app = TestApp::start().await;
    let r = app.get("/packages/none").await;
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert_eq!(
        r.header("access-control-allow-methods"),
        "GET, POST, OPTIONS"
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        "Content-Type, Authorization"
    );
    let pre = common::Response::from(
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/publish", app.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(pre.status, 200);
    assert!(pre.body.is_empty());
    assert_eq!(pre.header("access-control-allow-origin"), "*");
}

#[tokio::test]
async fn downloads_are_counted_and_flushed() {
    let mut app = TestApp::start().await;
    app.publish(&app.tokens.alice, "counted", "1.0.0").await;
    for _ in 0..3 {
        assert_eq!(app.get("/packages/counted/1.0.0/tarball").await.status, 200);
    }
    let head = app
        .client
        .head(format!("{}/packages/counted/1.0.0/tarball", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200, "HEAD works and is not a download");
    assert_eq!(app.get("/packages/counted/2.0.0/tarball").await.status, 404);
    app.stop().await;
    // Reopen the database the server used and read the counts it wrote at shutdown.
    let store = common::open_store(&app.dir.path().join("registry.redb")).await;
    use pantry_registry::store::DownloadStore;
    let counts = store.downloads("counted").await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<u64>(), 3, "{counts:?}");
    assert!(counts.iter().all(|c| c.version == "1.0.0"));
}

#[tokio::test]
async fn tarballs_answer_single_byte_ranges_on_both_routes() {
    let app = TestApp::start().await;
    // One small tarball (read whole by the blob store) and one of ~2 MiB (streamed from disk).
    let small = common::npm_tarball(&json!({"name": "ranged", "version": "1.0.0"}));
    let big = common::tarball_with(&[
        (
            "package/package.json",
            br#"{"name":"ranged","version":"2.0.0"}"#.to_vec(),
        ),
        ("package/noise.bin", common::incompressible(2 << 20, 7)),
    ]);
    for (version, tgz) in [("1.0.0", &small), ("2.0.0", &big)] {
        let meta = json!({"name": "ranged", "version": version}).to_string();
        let r = app
            .publish_multipart(Some(&app.tokens.alice), &meta, tgz.clone())
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    let get = |path: String, headers: Vec<(&'static str, String)>| {
        let mut req = app.client.get(format!("{}{path}", app.url));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { common::Response::from(req.send().await.unwrap()).await }
    };
    for (version, tgz) in [("1.0.0", &small), ("2.0.0", &big)] {
        let n = tgz.len();
        for path in [
            format!("/npm/ranged/-/ranged-{version}.tgz"),
            format!("/packages/ranged/{version}/tarball"),
        ] {
            let whole = get(path.clone(), vec![]).await;
            assert_eq!(whole.status, 200);
            assert_eq!(whole.header("accept-ranges"), "bytes", "{path}");
            let etag = whole.header("etag").to_string();
            let range = |v: &str| vec![("range", v.to_string())];
            for (asked, from, to) in [
                ("bytes=0-9".to_string(), 0, 9),
                (format!("bytes={}-", n - 100), n - 100, n - 1),
                ("bytes=-5".to_string(), n - 5, n - 1),
                (format!("bytes={}-{}", n / 2, n + 5000), n / 2, n - 1),
            ] {
                let r = get(path.clone(), range(&asked)).await;
                assert_eq!(r.status, 206, "{path} {asked}");
                assert_eq!(
                    r.header("content-range"),
                    format!("bytes {from}-{to}/{n}"),
                    "{path} {asked}"
                );
                assert_eq!(r.body, tgz[from..=to], "{path} {asked}");
            }
            let r = get(path.clone(), range(&format!("bytes={n}-"))).await;
            assert!(r.error(416).contains("past the end"), "{path}");
            assert_eq!(r.header("content-range"), format!("bytes */{n}"));
            // Several ranges, or an If-Range for other content: the whole tarball.
            let r = get(path.clone(), range("bytes=0-1,5-6")).await;
            assert_eq!((r.status.as_u16(), r.body.len()), (200, n));
            let mut headers = range("bytes=0-1");
            headers.push(("if-range", "\"something-else\"".to_string()));
            let r = get(path.clone(), headers).await;
            assert_eq!((r.status.as_u16(), r.body.len()), (200, n));
            let mut headers = range("bytes=0-1");
            headers.push(("if-range", etag.clone()));
            assert_eq!(get(path.clone(), headers).await.status, 206);
        }
    }
    // Parts are not downloads: only the whole GETs (two routes x three each) counted.
    let stats = app.get("/analytics/ranged").await.json();
    assert_eq!(stats["versionDownloads"]["1.0.0"], 6, "{stats}");
    assert_eq!(stats["versionDownloads"]["2.0.0"], 6, "{stats}");
}
