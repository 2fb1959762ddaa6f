//! The npm protocol at the HTTP level: packument shapes and caching, publish verification,
//! whole-document writes, dist-tags, accounts and tokens, search, audit, the publish race and
//! every traversal path. The real clients are exercised in tests/npm_clients.rs.

use crate::common;

use common::{ADMIN_TOKEN, ALICE_PASSWORD, TestApp, npm_publish_doc, npm_tarball, sha256_hex};
use reqwest::Method;
use serde_json::{Value, json};

const CORGI: &str = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> common::Response {
    let mut req = app.client.get(format!("{}/npm{path}", app.url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    common::Response::from(req.send().await.unwrap()).await
}

#[tokio::test]
async fn full_packument_has_what_clients_read() {
    let app = TestApp::start().await;
    let (r, tgz) = app
        .npm_publish(&app.tokens.alice, "@acme/lib", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    app.npm_publish(&app.tokens.alice, "@acme/lib", "1.1.0-beta.1", "beta")
        .await;
    for path in ["/@acme/lib", "/@acme%2flib", "/@acme%2Flib"] {
        let r = get_with(&app, path, &[("accept", "application/json")]).await;
        assert_eq!(r.status, 200, "{path}");
        let doc = r.json();
        assert_eq!(doc["_id"], "@acme/lib");
        assert_eq!(doc["name"], "@acme/lib");
        assert!(doc["_rev"].as_str().unwrap().contains('-'));
        assert_eq!(
            doc["dist-tags"],
            json!({"latest": "1.0.0", "beta": "1.1.0-beta.1"})
        );
        let v = &doc["versions"]["1.0.0"];
        assert_eq!(v["_id"], "@acme/lib@1.0.0");
        assert_eq!(
            v["dist"]["tarball"],
            format!("{}/npm/@acme/lib/-/lib-1.0.0.tgz", app.url),
            "rewritten to ours"
        );
        assert_eq!(
            v["dist"]["shasum"],
            hex::encode(<sha1::Sha1 as sha2::Digest>::digest(&tgz))
        );
        assert!(
            v["dist"]["integrity"]
                .as_str()
                .unwrap()
                .starts_with("sha512-")
        );
        assert_eq!(v["dist"]["fileCount"], 2);
        assert!(v["dist"]["unpackedSize"].as_u64().unwrap() > 0);
        assert_eq!(
            v["_npmUser"],
            json!({"name": "alice", "email": "alice@example.com"})
        );
        assert!(
            v.get("readme").is_none(),
            "per-version readme is not served"
        );
        assert!(doc["time"]["created"].is_string() && doc["time"]["modified"].is_string());
        assert!(doc["time"]["1.0.0"].is_string() && doc["time"]["1.1.0-beta.1"].is_string());
        assert_eq!(
            doc["maintainers"],
            json!([{"name": "alice", "email": "alice@example.com"}])
        );
        assert_eq!(doc["readme"], "# readme");
        assert!(doc["modified"].is_string());
    }
}

#[tokio::test]
async fn abbreviated_packument_keeps_install_fields_and_is_never_406() {
    let app = TestApp::start().await;
    let manifest = json!({"name": "corgi", "version": "1.0.0", "bin": {"c": "c.js"}, "engines": {"node": ">=18"},
        "os": ["linux"], "cpu": ["x64"], "libc": ["glibc"], "peerDependencies": {"p": "1"},
        "peerDependenciesMeta": {"p": {"optional": true}}, "scripts": {"postinstall": "node x"},
        "dependencies": {"d": "^1"}, "description": "not for installers"});
    let tgz = npm_tarball(&manifest);
    let mut doc = npm_publish_doc("corgi", "1.0.0", "latest", &tgz);
    doc["versions"]["1.0.0"]
        .as_object_mut()
        .unwrap()
        .extend(manifest.as_object().unwrap().clone());
    assert_eq!(
        app.npm(Method::PUT, "/corgi", Some(&app.tokens.alice), Some(doc))
            .await
            .status,
        201
    );
    app.npm(
        Method::PUT,
        "/-/package/corgi/dist-tags/latest",
        Some(&app.tokens.alice),
        Some(json!("1.0.0")),
    )
    .await;
    let rev = get_with(&app, "/corgi?write=true", &[]).await.json()["_rev"].clone();
    let deprecate = json!({"_id": "corgi", "name": "corgi", "_rev": rev, "versions": {"1.0.0": {"deprecated": "old"}}});
    assert_eq!(
        app.npm(
            Method::PUT,
            "/corgi",
            Some(&app.tokens.alice),
            Some(deprecate)
        )
        .await
        .status,
        201
    );

    let r = get_with(&app, "/corgi", &[("accept", CORGI)]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .starts_with("application/vnd.npm.install-v1+json")
    );
    let doc = r.json();
    assert_eq!(doc["name"], "corgi");
    assert!(doc["modified"].is_string() && doc["time"]["1.0.0"].is_string());
    let v = &doc["versions"]["1.0.0"];
    for key in [
        "bin",
        "engines",
        "os",
        "cpu",
        "libc",
        "peerDependencies",
        "peerDependenciesMeta",
        "dependencies",
        "dist",
    ] {
        assert!(v.get(key).is_some(), "corgi lacks {key}: {v}");
    }
    assert_eq!(v["deprecated"], "old");
    assert_eq!(v["hasInstallScript"], true);
    assert!(v.get("description").is_none(), "corgi is abbreviated");
    // Unknown or odd Accept values get the full document, never 406.
    for accept in ["text/html", "application/xml", "*/*"] {
        let r = get_with(&app, "/corgi", &[("accept", accept)]).await;
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(r.json()["_id"], "corgi");
    }
    // ?write=true is always the full document.
    let r = get_with(&app, "/corgi?write=true", &[("accept", CORGI)]).await;
    assert!(r.json()["_rev"].is_string());
}

#[tokio::test]
async fn packuments_revalidate_with_etags_and_gzip() {
    let app = TestApp::start().await;
    app.npm_publish(&app.tokens.alice, "etagged", "1.0.0", "latest")
        .await;
    let first = get_with(&app, "/etagged", &[]).await;
    let etag = first.header("etag").to_string();
    assert!(etag.starts_with('"'));
    assert_eq!(first.header("vary"), "Accept, Accept-Encoding");
    assert_eq!(
        first.header("cache-control"),
        "no-cache",
        "a fresh publish is never hidden"
    );
    let again = get_with(&app, "/etagged", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let corgi = get_with(&app, "/etagged", &[("accept", CORGI)]).await;
    assert_ne!(
        corgi.header("etag"),
        etag,
        "each representation has its own ETag"
    );
    // A publish changes the document, so the old ETag no longer matches.
    app.npm_publish(&app.tokens.alice, "etagged", "1.0.1", "latest")
        .await;
    let after = get_with(&app, "/etagged", &[("if-none-match", &etag)]).await;
    assert_eq!(after.status, 200);
    assert!(after.json()["versions"]["1.0.1"].is_object());
    // gzip when asked.
    // A client that leaves the encoding alone, to see the wire bytes.
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let gz = common::Response::from(
        raw.get(format!("{}/npm/etagged", app.url))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(gz.header("content-encoding"), "gzip");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut text)
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["name"],
        "etagged"
    );
}

#[tokio::test]
async fn version_documents_and_tarballs() {
    let app = TestApp::start().await;
    let (_, tgz) = app
        .npm_publish(&app.tokens.alice, "@s/pkg", "2.0.0", "latest")
        .await;
    for path in ["/@s/pkg/2.0.0", "/@s%2fpkg/latest", "/@s%2Fpkg/2.0.0"] {
        let r = get_with(&app, path, &[]).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json()["version"], "2.0.0");
    }
    assert_eq!(
        get_with(&app, "/@s/pkg/9.9.9", &[]).await.error(404),
        "this version doesn't exist: 9.9.9"
    );
    let t = get_with(
        &app,
        "/@s/pkg/-/pkg-2.0.0.tgz",
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    assert_eq!(t.status, 200);
    assert_eq!(t.body, tgz, "served as stored, not compressed again");
    assert_eq!(t.header("content-type"), "application/octet-stream");
    assert!(t.headers.get("content-encoding").is_none());
    let head = app
        .client
        .head(format!("{}/npm/@s/pkg/-/pkg-2.0.0.tgz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        tgz.len().to_string().as_str()
    );
    get_with(&app, "/@s/pkg/-/pkg-9.9.9.tgz", &[])
        .await
        .error(404);
    get_with(&app, "/@s/pkg/-/other-2.0.0.tgz", &[])
        .await
        .error(404);
    assert_eq!(get_with(&app, "/nope", &[]).await.status, 404);
    // The same package through the Pantry API: one namespace, two wire shapes.
    let meta = app.get("/packages/@s/pkg").await.json();
    assert_eq!(meta["version"], "2.0.0");
    assert_eq!(meta["checksum"], format!("sha256:{}", sha256_hex(&tgz)));
}

#[tokio::test]
async fn a_pantry_api_publish_installs_through_npm_routes() {
    let app = TestApp::start().await;
    let (r, tgz) = app.publish(&app.tokens.alice, "cross-shape", "1.2.3").await;
    assert_eq!(r.status, 201);
    let doc = get_with(&app, "/cross-shape", &[]).await.json();
    let url = doc["versions"]["1.2.3"]["dist"]["tarball"]
        .as_str()
        .unwrap()
        .to_string();
    let body = app
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), tgz.as_slice());
}

#[tokio::test]
async fn publish_verifies_the_attachment() {
    let app = TestApp::start().await;
    let t = Some(app.tokens.alice.as_str());
    let tgz = npm_tarball(&json!({"name": "verified", "version": "1.0.0"}));
    let good = npm_publish_doc("verified", "1.0.0", "latest", &tgz);

    let mut bad_length = good.clone();
    bad_length["_attachments"]["verified-1.0.0.tgz"]["length"] = json!(3);
    assert!(
        app.npm(Method::PUT, "/verified", t, Some(bad_length))
            .await
            .error(400)
            .contains("length")
    );
    let mut bad_sha = good.clone();
    bad_sha["versions"]["1.0.0"]["dist"]["shasum"] =
        json!("0000000000000000000000000000000000000000");
    assert!(
        app.npm(Method::PUT, "/verified", t, Some(bad_sha))
            .await
            .error(400)
            .contains("shasum")
    );
    let mut bad_integrity = good.clone();
    bad_integrity["versions"]["1.0.0"]["dist"]["integrity"] = json!("sha512-AAAA");
    assert!(
        app.npm(Method::PUT, "/verified", t, Some(bad_integrity))
            .await
            .error(400)
            .contains("integrity")
    );
    let mut bad_b64 = good.clone();
    bad_b64["_attachments"]["verified-1.0.0.tgz"]["data"] = json!("%%%");
    app.npm(Method::PUT, "/verified", t, Some(bad_b64))
        .await
        .error(400);
    assert!(
        app.npm(Method::PUT, "/other-name", t, Some(good.clone()))
            .await
            .error(400)
            .contains("URL")
    );
    let mut two = good.clone();
    two["versions"]["2.0.0"] = json!({"name": "verified", "version": "2.0.0"});
    app.npm(Method::PUT, "/verified", t, Some(two))
        .await
        .error(400);
    let mismatch = npm_publish_doc(
        "verified",
        "1.0.0",
        "latest",
        &npm_tarball(&json!({"name": "verified", "version": "9.0.0"})),
    );
    app.npm(Method::PUT, "/verified", t, Some(mismatch))
        .await
        .error(422);
    assert_eq!(
        get_with(&app, "/verified", &[]).await.status,
        404,
        "nothing was published"
    );
    assert_eq!(
        app.npm(Method::PUT, "/verified", None, Some(good.clone()))
            .await
            .error(401),
        "authentication required: log in with npm login or set _authToken"
    );
    assert_eq!(
        app.npm(
            Method::PUT,
            "/verified",
            Some(&app.tokens.reader),
            Some(good.clone())
        )
        .await
        .status,
        403
    );

    assert_eq!(
        app.npm(Method::PUT, "/verified", t, Some(good.clone()))
            .await
            .status,
        201
    );
    let again = app.npm(Method::PUT, "/verified", t, Some(good)).await;
    assert_eq!(
        again.error(403),
        "You cannot publish over the previously published versions: 1.0.0."
    );
}

#[tokio::test]
async fn twenty_concurrent_npm_publishes_of_one_version_yield_one_success() {
    let app = TestApp::start().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (client, url, token) = (
            app.client.clone(),
            app.url.clone(),
            app.tokens.alice.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let tgz = npm_tarball(
                &json!({"name": "race", "version": "1.0.0", "description": format!("{i}")}),
            );
            let doc = npm_publish_doc("race", "1.0.0", "latest", &tgz);
            let r = client
                .put(format!("{url}/npm/race"))
                .bearer_auth(token)
                .json(&doc)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), tgz)
        }));
    }
    let mut ok = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            (201, tgz) => ok.push(tgz),
            (403, _) => refused += 1,
            (s, _) => panic!("status {s}"),
        }
    }
    assert_eq!((ok.len(), refused), (1, 19));
    assert_eq!(
        get_with(&app, "/race/-/race-1.0.0.tgz", &[]).await.body,
        ok[0]
    );
    // Twenty different versions at once all land.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (client, url, token) = (
            app.client.clone(),
            app.url.clone(),
            app.tokens.alice.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let v = format!("2.0.{i}");
            // Not `latest`: a lower version may not take latest from a higher one.
            let doc = npm_publish_doc(
                "race",
                &v,
                "canary",
                &npm_tarball(&json!({"name": "race", "version": v})),
            );
            client
                .put(format!("{url}/npm/race"))
                .bearer_auth(token)
                .json(&doc)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    assert_eq!(
        get_with(&app, "/race", &[]).await.json()["versions"]
            .as_object()
            .unwrap()
            .len(),
        21
    );
}

#[tokio::test]
async fn traversal_and_reserved_names_are_refused_as_json() {
    let app = TestApp::start().await;
    app.npm_publish(&app.tokens.alice, "victim", "1.0.0", "latest")
        .await;
    for path in [
        "/__proto__",
        "/node_modules",
        "/%2e%2e",
        "/%2e%2e%2f%2e%2e%2fregistry.redb",
        "/victim/-/..%2f..%2fregistry.redb",
        "/victim/-/%2e%2e%2fx.tgz",
        "/victim/-/__proto__",
        "/victim/-/node_modules",
        "/@scope/__proto__",
        "/-/package/__proto__/dist-tags",
    ] {
        // Sent byte for byte: an HTTP client library would normalise `%2e%2e` away.
        let (status, content_type, body) = common::raw_get(&app.url, &format!("/npm{path}")).await;
        assert!(status == 403 || status == 404, "{path}: {status} {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {content_type}"
        );
        assert!(
            serde_json::from_str::<Value>(&body).unwrap()["error"].is_string(),
            "{path}: {body}"
        );
    }
    assert_eq!(
        get_with(&app, "/__proto__", &[]).await.error(403),
        "invalid package name"
    );
    assert_eq!(
        get_with(&app, "/victim/-/__proto__", &[]).await.error(403),
        "invalid filename"
    );
    let (status, _, body) = common::raw_get(&app.url, "/npm/%2e%2e").await;
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"error":"invalid package name"}"#)
    );
    let put = app
        .npm(
            Method::PUT,
            "/__proto__",
            Some(&app.tokens.alice),
            Some(json!({})),
        )
        .await;
    put.error(403);
}

#[tokio::test]
async fn dist_tags_list_add_remove_and_latest_is_kept() {
    let app = TestApp::start().await;
    let t = Some(app.tokens.alice.as_str());
    app.npm_publish(&app.tokens.alice, "@t/tags", "1.0.0", "latest")
        .await;
    app.npm_publish(&app.tokens.alice, "@t/tags", "1.1.0", "beta")
        .await;
    let list = app
        .npm(Method::GET, "/-/package/@t%2ftags/dist-tags", None, None)
        .await;
    assert_eq!(list.json(), json!({"latest": "1.0.0", "beta": "1.1.0"}));
    assert_eq!(
        app.npm(
            Method::PUT,
            "/-/package/@t%2ftags/dist-tags/stable",
            t,
            Some(json!("1.1.0"))
        )
        .await
        .status,
        201
    );
    app.npm(
        Method::PUT,
        "/-/package/@t%2ftags/dist-tags/stable",
        t,
        Some(json!("7.0.0")),
    )
    .await
    .error(404);
    app.npm(
        Method::PUT,
        "/-/package/@t%2ftags/dist-tags/1.0.0",
        t,
        Some(json!("1.0.0")),
    )
    .await
    .error(400);
    app.npm(
        Method::PUT,
        "/-/package/@t%2ftags/dist-tags/other",
        Some(&app.tokens.bob),
        Some(json!("1.0.0")),
    )
    .await
    .error(403);
    assert_eq!(
        app.npm(Method::DELETE, "/-/package/@t/tags/dist-tags/beta", t, None)
            .await
            .status,
        200
    );
    assert!(
        app.npm(
            Method::DELETE,
            "/-/package/@t/tags/dist-tags/latest",
            t,
            None
        )
        .await
        .error(400)
        .contains("latest")
    );
    let list = app
        .npm(Method::GET, "/-/package/@t/tags/dist-tags", None, None)
        .await;
    assert_eq!(list.json(), json!({"latest": "1.0.0", "stable": "1.1.0"}));
    app.npm(Method::GET, "/-/package/@t/none/dist-tags", None, None)
        .await
        .error(404);
}

#[tokio::test]
async fn whole_document_writes_deprecate_owners_and_unpublish() {
    let app = TestApp::start().await;
    let a = Some(app.tokens.alice.as_str());
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        app.npm_publish(&app.tokens.alice, "doc", v, "latest").await;
    }
    let doc = |app: &TestApp| {
        let (c, u) = (
            app.client.clone(),
            format!("{}/npm/doc?write=true", app.url),
        );
        async move {
            c.get(u)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // Deprecate one version, then undeprecate with "".
    let mut d = doc(&app).await;
    d["versions"]["1.0.0"]["deprecated"] = json!("use 2");
    assert_eq!(app.npm(Method::PUT, "/doc", a, Some(d)).await.status, 201);
    assert_eq!(doc(&app).await["versions"]["1.0.0"]["deprecated"], "use 2");
    let mut d = doc(&app).await;
    d["versions"]["1.0.0"]["deprecated"] = json!("");
    app.npm(Method::PUT, "/doc", a, Some(d)).await;
    assert!(
        doc(&app).await["versions"]["1.0.0"]
            .get("deprecated")
            .is_none()
    );
    // Bob is not an owner: he can neither deprecate nor unpublish.
    let mut d = doc(&app).await;
    d["versions"]["1.0.0"]["deprecated"] = json!("bob was here");
    app.npm(Method::PUT, "/doc", Some(&app.tokens.bob), Some(d))
        .await
        .error(403);
    // Owners: add bob (npm sends only maintainers), then bob may publish.
    let rev = doc(&app).await["_rev"].as_str().unwrap().to_string();
    let owners = json!({"_id": "doc", "_rev": rev, "maintainers": [{"name": "alice", "email": "alice@example.com"}, {"name": "bob", "email": "bob@example.com"}]});
    assert_eq!(
        app.npm(
            Method::PUT,
            &format!("/doc/-rev/{rev}"),
            a,
            Some(owners.clone())
        )
        .await
        .status,
        201
    );
    // The same document again is stale now: 409, nothing changes.
    app.npm(Method::PUT, &format!("/doc/-rev/{rev}"), a, Some(owners))
        .await
        .error(409);
    assert_eq!(doc(&app).await["maintainers"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.npm_publish(&app.tokens.bob, "doc", "2.1.0", "latest")
            .await
            .0
            .status,
        201
    );
    let unknown = json!({"_id": "doc", "maintainers": [{"name": "mallory"}]});
    app.npm(Method::PUT, "/doc", a, Some(unknown))
        .await
        .error(404);
    app.npm(
        Method::PUT,
        "/doc",
        a,
        Some(json!({"_id": "doc", "maintainers": []})),
    )
    .await
    .error(400);
    let crowd: Vec<Value> = (0..101).map(|i| json!({"name": format!("u{i}")})).collect();
    app.npm(
        Method::PUT,
        "/doc",
        a,
        Some(json!({"_id": "doc", "maintainers": crowd})),
    )
    .await
    .error(400);
    // Strangers learn nothing about users: ownership is checked first.
    app.npm(
        Method::PUT,
        "/doc",
        Some(&app.tokens.reader),
        Some(json!({"_id": "doc", "maintainers": [{"name": "mallory"}]})),
    )
    .await
    .error(403);
    // Unpublish one version: the document without it, then the tarball DELETE.
    let mut d = doc(&app).await;
    let rev = d["_rev"].as_str().unwrap().to_string();
    d["versions"].as_object_mut().unwrap().remove("2.1.0");
    assert_eq!(
        app.npm(Method::PUT, &format!("/doc/-rev/{rev}"), a, Some(d))
            .await
            .status,
        201
    );
    app.npm(
        Method::DELETE,
        "/doc/-/doc-2.1.0.tgz/-rev/6-x",
        Some(&app.tokens.reader),
        None,
    )
    .await
    .error(403);
    assert_eq!(
        app.npm(Method::DELETE, "/doc/-/doc-2.1.0.tgz/-rev/6-x", a, None)
            .await
            .status,
        200
    );
    let after = doc(&app).await;
    assert!(after["versions"].get("2.1.0").is_none());
    assert_eq!(after["dist-tags"]["latest"], "2.0.0", "latest moved back");
    get_with(&app, "/doc/-/doc-2.1.0.tgz", &[]).await.error(404);
    // The number is never reused.
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "doc", "2.1.0", "latest")
        .await;
    assert!(r.error(403).contains("cannot publish over"));
    let (r, _) = app.publish(&app.tokens.alice, "doc", "2.1.0").await;
    assert!(r.error(409).contains("unpublished"));
    // Unpublish the whole package.
    let rev = doc(&app).await["_rev"].as_str().unwrap().to_string();
    assert_eq!(
        app.npm(Method::DELETE, &format!("/doc/-rev/{rev}"), a, None)
            .await
            .status,
        200
    );
    assert_eq!(get_with(&app, "/doc", &[]).await.status, 404);
    assert_eq!(app.get("/packages/doc").await.status, 404);
    // The freed name stays with its former owners: a stranger cannot take it over.
    let (r, _) = app
        .npm_publish(&app.tokens.reader, "doc", "3.0.0", "latest")
        .await;
    r.error(403);
    let (r, _) = app.publish(&app.tokens.named_admin, "doc", "3.0.0").await;
    assert!(r.error(403).contains("not an owner"));
    assert_eq!(
        app.npm_publish(&app.tokens.bob, "doc", "3.0.0", "latest")
            .await
            .0
            .status,
        201,
        "bob was an owner"
    );
}

#[tokio::test]
async fn unpublish_policy_window_and_admins() {
    let app = TestApp::start_with(|b| b.setting("npm.unpublish_window_hours", "0").unwrap()).await;
    app.npm_publish(&app.tokens.alice, "kept", "1.0.0", "latest")
        .await;
    app.npm_publish(&app.tokens.alice, "kept", "1.1.0", "latest")
        .await;
    let rev = get_with(&app, "/kept?write=true", &[]).await.json()["_rev"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .npm(
            Method::DELETE,
            &format!("/kept/-rev/{rev}"),
            Some(&app.tokens.alice),
            None,
        )
        .await;
    assert!(r.error(403).contains("only an admin"));
    // The document path is held to the same window.
    let mut d = get_with(&app, "/kept?write=true", &[]).await.json();
    d["versions"].as_object_mut().unwrap().remove("1.1.0");
    let r = app
        .npm(
            Method::PUT,
            &format!("/kept/-rev/{rev}"),
            Some(&app.tokens.alice),
            Some(d),
        )
        .await;
    assert!(r.error(403).contains("only an admin"));
    assert_eq!(
        get_with(&app, "/kept", &[]).await.json()["versions"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
    // A stale revision is refused, even for an admin.
    app.npm(
        Method::DELETE,
        "/kept/-rev/1-0000000000000000",
        Some(ADMIN_TOKEN),
        None,
    )
    .await
    .error(409);
    assert_eq!(
        app.npm(
            Method::DELETE,
            &format!("/kept/-rev/{rev}"),
            Some(ADMIN_TOKEN),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(get_with(&app, "/kept", &[]).await.status, 404);
}

#[tokio::test]
async fn couch_login_flow_whoami_and_logout() {
    let app = TestApp::start().await;
    let login = |user: &str, password: &str| json!({"_id": format!("org.couchdb.user:{user}"), "name": user, "password": password, "type": "user", "roles": [], "date": "2026-11-25T00:00:00.000Z"});
    let r = app
        .npm(
            Method::PUT,
            "/-/user/org.couchdb.user:alice",
            None,
            Some(login("alice", ALICE_PASSWORD)),
        )
        .await;
    assert_eq!(r.status, 201);
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(r.json()["id"], "org.couchdb.user:alice");
    let who = app.npm(Method::GET, "/-/whoami", Some(&token), None).await;
    assert_eq!(who.json(), json!({"username": "alice"}));
    app.npm(
        Method::PUT,
        "/-/user/org.couchdb.user:alice",
        None,
        Some(login("alice", "wrong-password")),
    )
    .await
    .error(401);
    // Unknown users cannot sign up while self-signup is off.
    // The answer does not tell whether the name exists.
    let r = app
        .npm(
            Method::PUT,
            "/-/user/org.couchdb.user:eve",
            None,
            Some(login("eve", "eve-password")),
        )
        .await;
    assert!(r.error(401).contains("wrong user name or password"));
    // The -rev retry with Basic auth (npm's and yarn's second attempt).
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("bob:{}", common::BOB_PASSWORD),
    );
    let r = app
        .client
        .put(format!("{}/npm/-/user/org.couchdb.user:bob/-rev/undefined", app.url))
        .header("authorization", format!("Basic {basic}"))
        .json(&json!({"_id": "org.couchdb.user:bob", "name": "bob", "password": common::BOB_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The user document npm owner add reads.
    let doc = app
        .npm(
            Method::GET,
            "/-/user/org.couchdb.user:bob",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        doc.json(),
        json!({"_id": "org.couchdb.user:bob", "name": "bob", "email": "bob@example.com", "type": "user", "roles": []})
    );
    // Anonymous and bad tokens are 401 with a challenge.
    let anon = app.npm(Method::GET, "/-/whoami", None, None).await;
    anon.error(401);
    assert!(anon.header("www-authenticate").contains("Bearer"));
    app.npm(Method::GET, "/-/whoami", Some("ptry_bogus"), None)
        .await
        .error(401);
    // Logout revokes the token for real.
    let out = app
        .npm(
            Method::DELETE,
            &format!("/-/user/token/{token}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(out.status, 200);
    app.npm(Method::GET, "/-/whoami", Some(&token), None)
        .await
        .error(401);
}

#[tokio::test]
async fn self_signup_when_enabled() {
    let app = TestApp::start_with(|b| b.setting("auth.allow_signup", "true").unwrap()).await;
    let body = json!({"name": "newbie", "password": "newbie-password", "email": "n@example.com"});
    let r = app
        .npm(
            Method::PUT,
            "/-/user/org.couchdb.user:newbie",
            None,
            Some(body),
        )
        .await;
    assert_eq!(r.status, 201);
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.npm_publish(&token, "newbies-pkg", "1.0.0", "latest")
            .await
            .0
            .status,
        201
    );
    let short = json!({"name": "shorty", "password": "short", "email": "s@example.com"});
    app.npm(
        Method::PUT,
        "/-/user/org.couchdb.user:shorty",
        None,
        Some(short),
    )
    .await
    .error(400);
}

#[tokio::test]
async fn npm_tokens_list_create_revoke_and_profile() {
    let app = TestApp::start().await;
    let a = Some(app.tokens.alice.as_str());
    let created = app
        .npm(
            Method::POST,
            "/-/npm/v1/tokens",
            a,
            Some(json!({"password": ALICE_PASSWORD, "readonly": true})),
        )
        .await;
    assert_eq!(created.status, 200);
    let secret = created.json()["token"].as_str().unwrap().to_string();
    let key = created.json()["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("ptry_"));
    app.npm(
        Method::POST,
        "/-/npm/v1/tokens",
        a,
        Some(json!({"password": "nope"})),
    )
    .await
    .error(401);
    let list = app
        .npm(Method::GET, "/-/npm/v1/tokens", a, None)
        .await
        .json();
    let objects = list["objects"].as_array().unwrap();
    assert!(
        objects
            .iter()
            .any(|t| t["key"] == key && t["readonly"] == true)
    );
    assert!(
        objects
            .iter()
            .all(|t| !t["token"].as_str().unwrap().contains(&secret[5..])),
        "secrets never listed"
    );
    // The read-only token cannot publish.
    assert_eq!(
        app.npm_publish(&secret, "ro", "1.0.0", "latest")
            .await
            .0
            .status,
        403
    );
    // Bob cannot revoke Alice's token; Alice can.
    app.npm(
        Method::DELETE,
        &format!("/-/npm/v1/tokens/token/{key}"),
        Some(&app.tokens.bob),
        None,
    )
    .await
    .error(403);
    assert_eq!(
        app.npm(
            Method::DELETE,
            &format!("/-/npm/v1/tokens/token/{key}"),
            a,
            None
        )
        .await
        .status,
        200
    );
    app.npm(Method::GET, "/-/whoami", Some(&secret), None)
        .await
        .error(401);
    let profile = app.npm(Method::GET, "/-/npm/v1/user", a, None).await.json();
    assert_eq!(profile["name"], "alice");
    assert_eq!(profile["email"], "alice@example.com");
}

#[tokio::test]
async fn search_has_every_field_npm_prints() {
    let app = TestApp::start().await;
    app.npm_publish(&app.tokens.alice, "@find/me", "1.0.0", "latest")
        .await;
    app.npm_publish(&app.tokens.alice, "unrelated", "1.0.0", "latest")
        .await;
    app.search_settled().await;
    let r = app
        .npm(
            Method::GET,
            "/-/v1/search?text=find&size=20&from=0&quality=0.65&popularity=0.98&maintenance=0.5",
            None,
            None,
        )
        .await;
    let body = r.json();
    assert_eq!(body["total"], 1);
    assert!(body["time"].is_string());
    let p = &body["objects"][0]["package"];
    assert_eq!(p["name"], "@find/me");
    assert_eq!(p["version"], "1.0.0");
    assert!(p["date"].is_string());
    assert_eq!(p["publisher"]["username"], "alice");
    assert_eq!(
        p["maintainers"],
        json!([{"username": "alice", "email": "alice@example.com"}])
    );
    assert!(body["objects"][0]["score"]["final"].is_number());
    assert_eq!(
        app.npm(Method::GET, "/-/v1/search?text=zzz", None, None)
            .await
            .json()["total"],
        0
    );
    assert_eq!(
        app.npm(Method::GET, "/-/ping", None, None).await.json(),
        json!({})
    );
}

/// A stand-in upstream registry on 127.0.0.1 that answers audits: `healthy` with one
/// advisory, or 500s.
async fn fake_upstream(healthy: bool) -> String {
    use poem::{EndpointExt, Route, handler, post, web::Json};
    #[handler]
    fn good(Json(body): Json<Value>) -> Json<Value> {
        let names: Vec<String> = body.as_object().unwrap().keys().cloned().collect();
        Json(
            json!({names[0].clone(): [{"id": 1001, "title": "Prototype pollution", "severity": "high",
            "vulnerable_versions": "<2.0.0", "url": "https://example.com/1001", "cwe": ["CWE-1321"], "cvss": {"score": 7.5}}]}),
        )
    }
    #[handler]
    fn broken() -> poem::http::StatusCode {
        poem::http::StatusCode::INTERNAL_SERVER_ERROR
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let route = if healthy {
        Route::new()
            .at("/-/npm/v1/security/advisories/bulk", post(good))
            .boxed()
    } else {
        Route::new()
            .at("/-/npm/v1/security/advisories/bulk", post(broken))
            .boxed()
    };
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(route));
    url
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn audit_without_upstream_is_empty_with_a_notice_never_5xx() {
    let app = TestApp::start().await;
    let body = gzip(br#"{"left-pad":["1.0.0"]}"#);
    let r = app
        .client
        .post(format!("{}/npm/-/npm/v1/security/advisories/bulk", app.url))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    let r = common::Response::from(r).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({}));
    assert!(r.header("npm-notice").contains("not authoritative"));
    let quick = app
        .npm(
            Method::POST,
            "/-/npm/v1/security/audits/quick",
            None,
            Some(json!({"dependencies": {".": {"dependencies": {"a": {"version": "1.0.0"}}}}})),
        )
        .await;
    assert_eq!(quick.status, 200);
    assert_eq!(quick.json()["metadata"]["vulnerabilities"]["high"], 0);
    assert!(quick.header("npm-notice").contains("not authoritative"));
}

async fn app_with_upstream(upstream: String) -> TestApp {
    TestApp::start_with_upstream(&upstream).await
}

async fn audit(app: &TestApp, path: &str, body: Value) -> common::Response {
    app.npm(
        Method::POST,
        &format!("/-/npm/v1/security/{path}"),
        None,
        Some(body),
    )
    .await
}

#[tokio::test]
async fn audit_forwards_to_the_upstream_and_survives_its_failure() {
    let app = app_with_upstream(fake_upstream(true).await).await;
    let r = audit(&app, "advisories/bulk", json!({"lodash": ["1.0.0"]})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["lodash"][0]["id"], 1001);
    assert!(r.headers.get("npm-notice").is_none());
    let tree = json!({"dependencies": {"lodash": {"version": "1.0.0"}}});
    let quick = audit(&app, "audits", tree).await;
    assert_eq!(quick.json()["metadata"]["vulnerabilities"]["high"], 1);
    assert_eq!(quick.json()["advisories"]["1001"]["module_name"], "lodash");

    let app = app_with_upstream(fake_upstream(false).await).await;
    let r = audit(&app, "advisories/bulk", json!({"lodash": ["1.0.0"]})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({}));
    assert!(r.header("npm-notice").contains("not authoritative"));
}

#[tokio::test]
async fn passwords_only_log_in_and_guessing_is_throttled() {
    let app = TestApp::start().await;
    let basic = |user: &str, pw: &str| {
        format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{user}:{pw}")
            )
        )
    };
    // A password is not a credential for ordinary routes, even a correct one.
    let r = app
        .client
        .get(format!("{}/npm/-/whoami", app.url))
        .header("authorization", basic("alice", ALICE_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The -rev login with the password only in the Basic header (yarn's retry).
    let r = app
        .client
        .put(format!(
            "{}/npm/-/user/org.couchdb.user:alice/-rev/undefined",
            app.url
        ))
        .header("authorization", basic("alice", ALICE_PASSWORD))
        .json(&json!({"_id": "org.couchdb.user:alice", "name": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Ten wrong passwords, then even the right one is refused for a while.
    let login = |pw: &str| json!({"name": "bob", "password": pw});
    for _ in 0..10 {
        app.npm(
            Method::PUT,
            "/-/user/org.couchdb.user:bob",
            None,
            Some(login("guess")),
        )
        .await
        .error(401);
    }
    let r = app
        .npm(
            Method::PUT,
            "/-/user/org.couchdb.user:bob",
            None,
            Some(login(common::BOB_PASSWORD)),
        )
        .await;
    assert!(r.error(429).contains("too many failed logins"));
    // Other users are unaffected.
    assert_eq!(
        app.npm(
            Method::PUT,
            "/-/user/org.couchdb.user:alice",
            None,
            Some(json!({"name": "alice", "password": ALICE_PASSWORD}))
        )
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn limited_tokens_cannot_change_packages_or_tokens() {
    let app = TestApp::start().await;
    app.npm_publish(&app.tokens.alice, "guarded", "1.0.0", "latest")
        .await;
    app.npm_publish(&app.tokens.team_only, "@team/guarded", "1.0.0", "latest")
        .await;
    for token in [&app.tokens.reader, &app.tokens.team_only, &app.tokens.bob] {
        app.npm(
            Method::PUT,
            "/-/package/guarded/dist-tags/next",
            Some(token),
            Some(json!("1.0.0")),
        )
        .await
        .error(403);
        let rev = get_with(&app, "/guarded?write=true", &[]).await.json()["_rev"].clone();
        let deprecate =
            json!({"_id": "guarded", "_rev": rev, "versions": {"1.0.0": {"deprecated": "x"}}});
        app.npm(Method::PUT, "/guarded", Some(token), Some(deprecate))
            .await
            .error(403);
        let unpublish = json!({"_id": "guarded", "_rev": rev, "versions": {}});
        app.npm(Method::PUT, "/guarded", Some(token), Some(unpublish))
            .await
            .error(403);
    }
    assert!(
        get_with(&app, "/guarded", &[]).await.json()["versions"]["1.0.0"]
            .get("deprecated")
            .is_none()
    );
    // A restricted token works inside its scope.
    assert_eq!(
        app.npm(
            Method::PUT,
            "/-/package/@team%2fguarded/dist-tags/next",
            Some(&app.tokens.team_only),
            Some(json!("1.0.0"))
        )
        .await
        .status,
        201
    );
    // Token management needs an unrestricted publish token.
    let created = app
        .npm(
            Method::POST,
            "/-/npm/v1/tokens",
            Some(&app.tokens.alice),
            Some(json!({"password": ALICE_PASSWORD, "readonly": true})),
        )
        .await
        .json();
    let (ro, ro_key) = (
        created["token"].as_str().unwrap().to_string(),
        created["key"].as_str().unwrap().to_string(),
    );
    let list = app
        .npm(Method::GET, "/-/npm/v1/tokens", Some(&ro), None)
        .await
        .json();
    let other_key = list["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] != ro_key.as_str())
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    app.npm(
        Method::DELETE,
        &format!("/-/npm/v1/tokens/token/{other_key}"),
        Some(&ro),
        None,
    )
    .await
    .error(403);
    app.npm(
        Method::POST,
        "/-/npm/v1/tokens",
        Some(&ro),
        Some(json!({"password": ALICE_PASSWORD})),
    )
    .await
    .error(403);
    assert_eq!(
        app.npm(Method::GET, "/-/whoami", Some(&app.tokens.alice), None)
            .await
            .status,
        200,
        "alice's token survives"
    );
    // Revoking itself is fine.
    assert_eq!(
        app.npm(
            Method::DELETE,
            &format!("/-/npm/v1/tokens/token/{ro_key}"),
            Some(&ro),
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn publish_documents_must_agree_with_themselves_and_latest_only_moves_up() {
    let app = TestApp::start().await;
    let t = Some(app.tokens.alice.as_str());
    let tgz = npm_tarball(&json!({"name": "coherent", "version": "2.0.0"}));
    let mut other_name = npm_publish_doc("coherent", "2.0.0", "latest", &tgz);
    other_name["versions"]["2.0.0"]["name"] = json!("someone-else");
    assert!(
        app.npm(Method::PUT, "/coherent", t, Some(other_name))
            .await
            .error(400)
            .contains("not for coherent")
    );
    let mut other_key = npm_publish_doc("coherent", "2.0.0", "latest", &tgz);
    let v = other_key["versions"]["2.0.0"].take();
    other_key["versions"] = json!({"9.9.9": v});
    app.npm(Method::PUT, "/coherent", t, Some(other_key))
        .await
        .error(400);
    let mut stray_tag = npm_publish_doc("coherent", "2.0.0", "latest", &tgz);
    stray_tag["dist-tags"]["beta"] = json!("1.0.0");
    assert!(
        app.npm(Method::PUT, "/coherent", t, Some(stray_tag))
            .await
            .error(400)
            .contains("dist-tag")
    );
    // What yarn and bun send without npm's client-side checks.
    assert_eq!(
        app.npm_publish(&app.tokens.alice, "coherent", "2.0.0", "latest")
            .await
            .0
            .status,
        201
    );
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "coherent", "3.0.0-rc.1", "latest")
        .await;
    assert!(r.error(400).contains("prerelease"));
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "coherent", "1.5.0", "latest")
        .await;
    assert!(r.error(400).contains("higher"));
    assert_eq!(
        app.npm_publish(&app.tokens.alice, "coherent", "1.5.0", "legacy")
            .await
            .0
            .status,
        201
    );
    assert_eq!(
        get_with(&app, "/coherent", &[]).await.json()["dist-tags"],
        json!({"latest": "2.0.0", "legacy": "1.5.0"})
    );
}

#[tokio::test]
async fn shrinkwrap_and_native_builds_are_announced_to_installers() {
    let app = TestApp::start().await;
    let manifest = json!({"name": "native", "version": "1.0.0"});
    let tgz = common::tarball_with(&[
        ("package/package.json", manifest.to_string().into_bytes()),
        ("package/npm-shrinkwrap.json", b"{}".to_vec()),
        ("package/binding.gyp", b"{}".to_vec()),
    ]);
    let doc = npm_publish_doc("native", "1.0.0", "latest", &tgz);
    assert_eq!(
        app.npm(Method::PUT, "/native", Some(&app.tokens.alice), Some(doc))
            .await
            .status,
        201
    );
    let corgi = get_with(&app, "/native", &[("accept", CORGI)]).await.json();
    let v = &corgi["versions"]["1.0.0"];
    assert_eq!(v["_hasShrinkwrap"], true);
    assert_eq!(v["hasInstallScript"], true);
    let full = get_with(&app, "/native", &[]).await.json();
    assert_eq!(
        full["versions"]["1.0.0"]["scripts"]["install"],
        "node-gyp rebuild"
    );
    app.npm_publish(&app.tokens.alice, "plain", "1.0.0", "latest")
        .await;
    assert_eq!(
        get_with(&app, "/plain", &[("accept", CORGI)]).await.json()["versions"]["1.0.0"]["_hasShrinkwrap"],
        false
    );
}

#[tokio::test]
async fn gc_removes_only_blobs_nothing_references() {
    let mut app = TestApp::start().await;
    let (_, kept) = app
        .npm_publish(&app.tokens.alice, "collected", "1.0.0", "latest")
        .await;
    app.npm_publish(&app.tokens.alice, "collected", "1.1.0", "latest")
        .await;
    let mut d = get_with(&app, "/collected?write=true", &[]).await.json();
    let rev = d["_rev"].as_str().unwrap().to_string();
    d["versions"].as_object_mut().unwrap().remove("1.1.0");
    let r = app
        .npm(
            Method::PUT,
            &format!("/collected/-rev/{rev}"),
            Some(&app.tokens.alice),
            Some(d),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        app.blob_count().await,
        2,
        "the unpublished version's blob is still on disk"
    );
    app.stop().await;
    let data = app.dir.path().to_str().unwrap().to_string();
    let (ok, out, err) = common::run_bin(&["gc", "--data-dir", &data], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("Removed 1 unreferenced blobs"), "{out}");
    assert_eq!(app.blob_count().await, 1);
    let kept_blob = app
        .dir
        .path()
        .join("blobs/sha256")
        .join(&sha256_hex(&kept)[..2])
        .join(sha256_hex(&kept));
    assert!(
        kept_blob.exists(),
        "the published version keeps its tarball"
    );
    let (_, out, _) = common::run_bin(&["gc", "--data-dir", &data], &[]);
    assert!(out.contains("Removed 0 unreferenced blobs"), "{out}");
}

#[tokio::test]
async fn large_tarballs_are_streamed_whole_with_their_length() {
    let app = TestApp::start().await;
    // 3 MB of incompressible content: read from the blob store a chunk at a time.
    let noise = common::incompressible(3_000_000, 0x2545_f491_4f6c_dd1du64);
    let tgz = common::tarball_with(&[
        (
            "package/package.json",
            br#"{"name":"bulky","version":"1.0.0"}"#.to_vec(),
        ),
        ("package/noise.bin", noise),
    ]);
    assert!(tgz.len() > 2_000_000);
    let r = app
        .publish_multipart(
            Some(&app.tokens.alice),
            r#"{"name":"bulky","version":"1.0.0"}"#,
            tgz.clone(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    for path in [
        "/npm/bulky/-/bulky-1.0.0.tgz",
        "/packages/bulky/1.0.0/tarball",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-length"), tgz.len().to_string(), "{path}");
        assert!(
            r.body == tgz,
            "{path}: the download differs from the upload"
        );
    }
}
