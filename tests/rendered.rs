//! Rendered documents are kept, and a write is never followed by a stale read: every kind of
//! write (publish, dist-tag, deprecation, owners, unpublish, a user's new e-mail address, a
//! changed upstream copy) shows in the very next read of every form (full and abbreviated
//! packument, version documents, both address forms), and an old ETag no longer matches.

use crate::common;

use common::upstream::FakeUpstream;
use common::{ADMIN_TOKEN, TestApp, fallback_to, with_settings};
use reqwest::Method;
use serde_json::{Value, json};

const CORGI: &str = "application/vnd.npm.install-v1+json";

/// The full packument, the abbreviated one and the `latest` version document, each read twice
/// (the second read is answered from the kept rendering), with the full document's ETag.
async fn views(app: &TestApp, name: &str) -> (Value, Value, Value, String) {
    let path = format!("{}/npm/{}", app.url, name.replace('/', "%2f"));
    let mut out = Vec::new();
    let mut etag = String::new();
    for (url, accept) in [
        (path.clone(), "application/json"),
        (path.clone(), CORGI),
        (format!("{path}/latest"), "application/json"),
    ] {
        let mut bodies = Vec::new();
        for _ in 0..2 {
            let r = app
                .client
                .get(&url)
                .header("accept", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{url}");
            if accept == "application/json" && etag.is_empty() {
                etag = r.headers()["etag"].to_str().unwrap().to_string();
            }
            bodies.push(r.json::<Value>().await.unwrap());
        }
        assert_eq!(bodies[0], bodies[1], "{url} ({accept})");
        out.push(bodies.remove(0));
    }
    let latest = out.pop().unwrap();
    let corgi = out.pop().unwrap();
    (out.pop().unwrap(), corgi, latest, etag)
}

async fn not_modified(app: &TestApp, name: &str, etag: &str) -> bool {
    let r = app
        .client
        .get(format!("{}/npm/{name}", app.url))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    r.status() == 304
}

#[tokio::test]
async fn every_write_shows_in_the_next_read_of_every_form() {
    let app = TestApp::start().await;
    let alice = Some(app.tokens.alice.as_str());
    app.npm_publish(&app.tokens.alice, "kept", "1.0.0", "latest")
        .await;
    let (full, corgi, latest, etag) = views(&app, "kept").await;
    assert_eq!(full["dist-tags"]["latest"], "1.0.0");
    assert_eq!(corgi["dist-tags"]["latest"], "1.0.0");
    assert_eq!(latest["version"], "1.0.0");
    assert!(not_modified(&app, "kept", &etag).await);

    // A publish.
    app.npm_publish(&app.tokens.alice, "kept", "1.1.0", "latest")
        .await;
    assert!(!not_modified(&app, "kept", &etag).await);
    let (full, corgi, latest, etag) = views(&app, "kept").await;
    // Its tarball, read twice (kept in memory from the first read).
    for _ in 0..2 {
        assert_eq!(app.get("/npm/kept/-/kept-1.1.0.tgz").await.status, 200);
    }
    assert!(full["versions"]["1.1.0"].is_object());
    assert!(corgi["versions"]["1.1.0"].is_object());
    assert_eq!(latest["version"], "1.1.0");

    // A dist-tag.
    let r = app
        .npm(
            Method::PUT,
            "/-/package/kept/dist-tags/beta",
            alice,
            Some(json!("1.0.0")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert!(!not_modified(&app, "kept", &etag).await);
    let (full, corgi, _, etag) = views(&app, "kept").await;
    assert_eq!(full["dist-tags"]["beta"], "1.0.0");
    assert_eq!(corgi["dist-tags"]["beta"], "1.0.0");

    // A deprecation.
    let mut doc = full.clone();
    doc["versions"]["1.1.0"]["deprecated"] = json!("use 2");
    assert_eq!(
        app.npm(Method::PUT, "/kept", alice, Some(doc)).await.status,
        201
    );
    assert!(!not_modified(&app, "kept", &etag).await);
    let (full, corgi, latest, etag) = views(&app, "kept").await;
    assert_eq!(full["versions"]["1.1.0"]["deprecated"], "use 2");
    assert_eq!(corgi["versions"]["1.1.0"]["deprecated"], "use 2");
    assert_eq!(latest["deprecated"], "use 2");

    // An owner, through the admin API.
    let r = app
        .client
        .post(format!("{}/-/admin/owners", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"package": "kept", "add": ["bob"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!not_modified(&app, "kept", &etag).await);
    let (full, _, _, etag) = views(&app, "kept").await;
    let names: Vec<&str> = full["maintainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    // A user's new e-mail address, which every packument they maintain shows.
    let r = app
        .client
        .patch(format!("{}/-/admin/users/bob", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"email": "bob@new.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!not_modified(&app, "kept", &etag).await);
    let (full, _, _, _) = views(&app, "kept").await;
    assert_eq!(full["maintainers"][1]["email"], "bob@new.example");

    // Unpublishing a version, then the whole package.
    let mut doc = full.clone();
    let rev = doc["_rev"].as_str().unwrap().to_string();
    doc["versions"].as_object_mut().unwrap().remove("1.1.0");
    doc["dist-tags"] = json!({"latest": "1.0.0", "beta": "1.0.0"});
    let r = app
        .npm(Method::PUT, &format!("/kept/-rev/{rev}"), alice, Some(doc))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (full, corgi, latest, _) = views(&app, "kept").await;
    assert!(full["versions"].get("1.1.0").is_none());
    assert!(corgi["versions"].get("1.1.0").is_none());
    let r = app
        .npm(
            Method::DELETE,
            "/kept/-/kept-1.1.0.tgz/-rev/9-x",
            alice,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(app.get("/npm/kept/-/kept-1.1.0.tgz").await.status, 404);
    assert_eq!(latest["version"], "1.0.0");
    let rev = full["_rev"].as_str().unwrap().to_string();
    let r = app
        .npm(Method::DELETE, &format!("/kept/-rev/{rev}"), alice, None)
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    for accept in ["application/json", CORGI] {
        let r = app
            .client
            .get(format!("{}/npm/kept", app.url))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{accept}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_racing_publishes_never_see_an_older_document_after_the_201() {
    let app = std::sync::Arc::new(TestApp::start().await);
    app.npm_publish(&app.tokens.alice, "@s/raced", "1.0.0", "latest")
        .await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for accept in ["application/json", CORGI, "application/json", CORGI] {
        let (app, stop) = (app.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let r = app
                    .client
                    .get(format!("{}/npm/@s%2fraced", app.url))
                    .header("accept", accept)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                reads += 1;
            }
            reads
        }));
    }
    for minor in 1..=25 {
        let version = format!("1.{minor}.0");
        let (r, _) = app
            .npm_publish(&app.tokens.alice, "@s/raced", &version, "latest")
            .await;
        assert_eq!(r.status, 201);
        for accept in ["application/json", CORGI] {
            let doc: Value = app
                .client
                .get(format!("{}/npm/@s%2fraced", app.url))
                .header("accept", accept)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(doc["dist-tags"]["latest"], version, "{accept}");
            assert!(doc["versions"][&version].is_object(), "{accept}");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    assert!(reads > 25, "the readers kept reading: {reads}");
}

#[tokio::test]
async fn an_upstream_copy_is_kept_until_it_must_be_revalidated() {
    let upstream = FakeUpstream::start().await;
    upstream.publish("up-pkg", "1.0.0", json!({}));
    let app = TestApp::start_with(fallback_to(
        &upstream.url,
        &[("npm.cache_max_age_secs", "3")],
    ))
    .await;
    let read = || async {
        let r = app
            .client
            .get(format!("{}/npm/up-pkg", app.url))
            .send()
            .await
            .unwrap();
        let cache = r.headers()["x-pantry-cache"].to_str().unwrap().to_string();
        (cache, r.json::<Value>().await.unwrap())
    };
    let started = std::time::Instant::now();
    let (first, doc) = read().await;
    assert_eq!(first, "miss");
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    let (second, _) = read().await;
    // Within the window the copy is served as it is (unless this machine took the whole
    // window for two reads).
    let in_window = started.elapsed() < std::time::Duration::from_secs(3);
    if in_window {
        assert_eq!(second, "hit");
        assert_eq!(upstream.packument_requests("up-pkg"), 1);
    } else {
        eprintln!("two reads took longer than the 3 s window: the cache hit was not checked");
    }
    let asked = upstream.packument_requests("up-pkg");
    // A new upstream version shows once the copy is due for revalidation.
    upstream.publish("up-pkg", "1.1.0", json!({}));
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (_, doc) = read().await;
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0");
    assert!(
        doc["versions"]["1.1.0"]["dist"]["tarball"]
            .as_str()
            .unwrap()
            .starts_with(&app.url)
    );
    assert_eq!(upstream.packument_requests("up-pkg"), asked + 1);
}

#[tokio::test]
async fn with_no_memory_for_renderings_every_read_is_rendered_afresh() {
    let app = TestApp::start_with(with_settings(&[("cache.rendered_max_bytes", "0")])).await;
    app.npm_publish(&app.tokens.alice, "bare", "1.0.0", "latest")
        .await;
    let (full, _, _, _) = views(&app, "bare").await;
    assert_eq!(full["dist-tags"]["latest"], "1.0.0");
    app.npm_publish(&app.tokens.alice, "bare", "1.0.1", "latest")
        .await;
    let (full, _, _, _) = views(&app, "bare").await;
    assert_eq!(full["dist-tags"]["latest"], "1.0.1");
}

#[tokio::test]
async fn the_pantry_api_reads_follow_every_publish_and_unpublish() {
    let app = TestApp::start().await;
    let read = |path: &'static str| {
        let app = &app;
        async move {
            let first = app.get(path).await;
            let second = app.get(path).await;
            assert_eq!(first.status, second.status, "{path}");
            assert_eq!(first.body, second.body, "{path}");
            first
        }
    };
    let (r, _) = app.publish(&app.tokens.alice, "@s/api-kept", "1.0.0").await;
    assert_eq!(r.status, 201);
    assert_eq!(
        read("/packages/@s/api-kept").await.json()["version"],
        "1.0.0"
    );
    assert_eq!(
        read("/packages/@s/api-kept/versions").await.json()["versions"],
        json!(["1.0.0"])
    );
    assert_eq!(read("/packages/@s/api-kept/1.1.0").await.status, 404);
    let (r, _) = app.publish(&app.tokens.alice, "@s/api-kept", "1.1.0").await;
    assert_eq!(r.status, 201);
    assert_eq!(
        read("/packages/@s/api-kept").await.json()["version"],
        "1.1.0"
    );
    assert_eq!(
        read("/packages/%40s%2Fapi-kept").await.json()["version"],
        "1.1.0"
    );
    assert_eq!(
        read("/packages/@s/api-kept/versions").await.json()["versions"],
        json!(["1.1.0", "1.0.0"])
    );
    assert_eq!(
        read("/packages/@s/api-kept/1.1.0").await.json()["version"],
        "1.1.0"
    );
    // Unpublishing the whole package (npm's DELETE): every route forgets it at once.
    let doc = app
        .npm(Method::GET, "/@s%2fapi-kept?write=true", None, None)
        .await
        .json();
    let rev = doc["_rev"].as_str().unwrap();
    let r = app
        .npm(
            Method::DELETE,
            &format!("/@s%2fapi-kept/-rev/{rev}"),
            Some(&app.tokens.alice),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(read("/packages/@s/api-kept").await.status, 404);
    assert_eq!(read("/packages/@s/api-kept/1.1.0").await.status, 404);
    assert_eq!(
        read("/packages/@s/api-kept/versions").await.json()["versions"],
        json!([])
    );
}
