//! The npm fallback against upstreams on 127.0.0.1: a fake one that can be slowed, broken,
//! corrupted or taken down, and a second real registry instance for the real clients.

use crate::common;

use std::sync::atomic::Ordering;

use common::upstream::FakeUpstream;
use common::{ADMIN_TOKEN, TestApp, sha256_hex};
use pantry_registry::RegistryBuilder;
use reqwest::Method;
use serde_json::{Value, json};

fn fallback_to(upstream: &str) -> impl FnOnce(RegistryBuilder) -> RegistryBuilder + use<> {
    common::fallback_to(upstream, &[("npm.upstream_timeout_secs", "2")])
}

async fn get(app: &TestApp, path: &str) -> common::Response {
    app.npm(Method::GET, path, None, None).await
}

/// Downloads a URL; `Err` when the transfer breaks.
async fn download(app: &TestApp, url: &str) -> Result<(u16, Vec<u8>), reqwest::Error> {
    let r = app.client.get(url).send().await?;
    let status = r.status().as_u16();
    Ok((status, r.bytes().await?.to_vec()))
}

#[tokio::test]
async fn proxied_packuments_point_tarballs_here_and_tarballs_are_kept() {
    let up = FakeUpstream::start().await;
    let tgz = up.publish("left-pad", "1.3.0", json!({}));
    let app = TestApp::start_with(fallback_to(&up.url)).await;
    let doc = get(&app, "/left-pad").await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.header("x-pantry-cache"), "miss");
    let url = doc.json()["versions"]["1.3.0"]["dist"]["tarball"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        url,
        format!("{}/npm/left-pad/-/left-pad-1.3.0.tgz", app.url)
    );
    assert_eq!(get(&app, "/left-pad").await.header("x-pantry-cache"), "hit");
    let (status, body) = download(&app, &url).await.unwrap();
    assert_eq!((status, body == tgz), (200, true));
    assert_eq!(up.tarball_requests(), 1);
    // Served from the blob store from now on, even with the upstream gone.
    up.set(&up.state.down, true);
    let (status, body) = download(&app, &url).await.unwrap();
    assert_eq!((status, body == tgz), (200, true));
    assert_eq!(up.tarball_requests(), 1);
    // The corgi form and single versions work through the fallback too.
    let r = app
        .client
        .get(format!("{}/npm/left-pad", app.url))
        .header("accept", "application/vnd.npm.install-v1+json")
        .send()
        .await
        .unwrap();
    let corgi: Value = r.json().await.unwrap();
    assert_eq!(corgi["versions"]["1.3.0"]["dist"]["tarball"], url.as_str());
    assert_eq!(
        get(&app, "/left-pad/latest").await.json()["version"],
        "1.3.0"
    );
    assert_eq!(
        get(&app, "/-/package/left-pad/dist-tags").await.json(),
        json!({"latest": "1.3.0"})
    );
}

#[tokio::test]
async fn fifty_concurrent_misses_make_one_upstream_request() {
    let up = FakeUpstream::start().await;
    up.publish("popular", "1.0.0", json!({}));
    up.state.packument_delay_ms.store(300, Ordering::SeqCst);
    let app = TestApp::start_with(fallback_to(&up.url)).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (client, url) = (app.client.clone(), format!("{}/npm/popular", app.url));
        tasks.push(tokio::spawn(async move {
            client.get(url).send().await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(up.packument_requests("popular"), 1);
}

#[tokio::test]
async fn upstream_404s_are_remembered_briefly() {
    let up = FakeUpstream::start().await;
    let app = TestApp::start_with(fallback_to(&up.url)).await;
    assert_eq!(
        get(&app, "/nowhere").await.error(404),
        "no such package available: nowhere"
    );
    get(&app, "/nowhere").await.error(404);
    assert_eq!(
        up.packument_requests("nowhere"),
        1,
        "the second miss is answered from the negative cache"
    );
}

#[tokio::test]
async fn a_corrupted_upstream_tarball_is_refused_and_not_cached() {
    common::avoid_midnight().await;
    let up = FakeUpstream::start().await;
    let tgz = up.publish("tampered", "1.0.0", json!({}));
    let app = TestApp::start_with(fallback_to(&up.url)).await;
    let url = format!("{}/npm/tampered/-/tampered-1.0.0.tgz", app.url);
    up.set(&up.state.corrupt, true);
    let first = download(&app, &url).await;
    assert!(
        first.is_err() || first.as_ref().unwrap().1 != tgz,
        "a corrupt tarball is never served as good"
    );
    assert!(
        first.is_err(),
        "the transfer is broken off, so the client sees a failure"
    );
    assert_eq!(app.tarball_blob_count().await, 0, "nothing was stored");
    up.set(&up.state.corrupt, false);
    let (status, body) = download(&app, &url).await.unwrap();
    assert_eq!((status, body == tgz), (200, true));
    assert_eq!(up.tarball_requests(), 2, "the bad copy was not cached");
    // Only the transfer that completed is a download.
    assert_eq!(
        app.get("/downloads/point/last-day/tampered").await.json()["downloads"],
        1
    );
}

#[tokio::test]
async fn an_upstream_dying_mid_tarball_leaves_nothing_and_a_retry_succeeds() {
    let up = FakeUpstream::start().await;
    let tgz = up.publish("flaky", "2.0.0", json!({}));
    let app = TestApp::start_with(fallback_to(&up.url)).await;
    let url = format!("{}/npm/flaky/-/flaky-2.0.0.tgz", app.url);
    up.set(&up.state.break_midstream, true);
    assert!(
        download(&app, &url).await.is_err(),
        "the client sees the transfer break"
    );
    assert_eq!(app.tarball_blob_count().await, 0);
    up.set(&up.state.break_midstream, false);
    let (status, body) = download(&app, &url).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(sha256_hex(&body), sha256_hex(&tgz));
    assert_eq!(app.tarball_blob_count().await, 1);
}

#[tokio::test]
async fn local_names_and_scopes_are_never_proxied() {
    let up = FakeUpstream::start().await;
    up.publish("@ours/x", "1.0.0", json!({}));
    up.publish("@ours/x", "9.0.0", json!({}));
    up.publish("@ours/other", "1.0.0", json!({}));
    up.publish("@private/y", "1.0.0", json!({}));
    let app = TestApp::start_with(|b| {
        fallback_to(&up.url)(b)
            .setting("npm.local_scopes", "@private")
            .unwrap()
    })
    .await;
    // The upstream has @ours/x: only an admin may make the scope local (the shadowing guard).
    assert_eq!(
        app.npm_publish(ADMIN_TOKEN, "@ours/x", "1.0.0", "latest")
            .await
            .0
            .status,
        201
    );
    let doc = get(&app, "/@ours%2fx").await.json();
    assert_eq!(
        doc["versions"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["1.0.0"]
    );
    assert_eq!(
        app.get("/packages/@ours/x").await.json()["version"],
        "1.0.0"
    );
    assert_eq!(
        app.get("/packages/@ours/x/versions").await.json()["versions"],
        json!(["1.0.0"])
    );
    // A scope with a local package, and a configured local scope: a miss is 404.
    get(&app, "/@ours%2fother").await.error(404);
    get(&app, "/@private%2fy").await.error(404);
    app.get("/packages/@private/y").await.error(404);
    for name in ["@ours/x", "@ours/other", "@private/y"] {
        assert_eq!(
            up.packument_requests(name),
            0,
            "{name} was looked up upstream"
        );
    }
}

#[tokio::test]
async fn a_version_removed_upstream_stops_being_served_after_revalidation() {
    let up = FakeUpstream::start().await;
    up.publish("pulled", "1.0.0", json!({}));
    up.publish("pulled", "1.0.1", json!({}));
    let app = TestApp::start_with(|b| {
        fallback_to(&up.url)(b)
            .setting("npm.cache_max_age_secs", "0")
            .unwrap()
    })
    .await;
    let url = format!("{}/npm/pulled/-/pulled-1.0.1.tgz", app.url);
    assert_eq!(download(&app, &url).await.unwrap().0, 200);
    up.remove_version("pulled", "1.0.1");
    let doc = get(&app, "/pulled").await;
    assert_eq!(doc.header("x-pantry-cache"), "miss");
    assert!(doc.json()["versions"].get("1.0.1").is_none());
    get(&app, "/pulled/-/pulled-1.0.1.tgz").await.error(404);
    // The replaced packument's body leaves the blob store (in the background): one body is
    // kept, beside the tarball.
    let mut bodies = 0;
    for _ in 0..375 {
        bodies = app.blob_count().await - app.tarball_blob_count().await;
        if bodies == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    assert_eq!(bodies, 1, "the old body was deleted");
    // Unchanged upstream: a 304 revalidation.
    assert_eq!(
        get(&app, "/pulled").await.header("x-pantry-cache"),
        "revalidated"
    );
}

#[tokio::test]
async fn stale_if_error_timeouts_and_offline() {
    let up = FakeUpstream::start().await;
    up.publish("steady", "1.0.0", json!({}));
    let app = TestApp::start_with(|b| {
        fallback_to(&up.url)(b)
            .setting("npm.cache_max_age_secs", "0")
            .unwrap()
    })
    .await;
    assert_eq!(get(&app, "/steady").await.status, 200);
    up.set(&up.state.down, true);
    let stale = get(&app, "/steady").await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.header("x-pantry-cache"), "stale");
    assert!(stale.header("warning").contains("Stale"));
    // A miss while the upstream is down is a gateway error, not a 404.
    let miss = get(&app, "/never-seen").await;
    assert!(miss.error(502).contains("upstream"));
    assert!(
        app.get("/packages/never-seen")
            .await
            .error(502)
            .contains("upstream")
    );
    // A slow upstream is a timeout (npm.upstream_timeout_secs = 2).
    up.set(&up.state.down, false);
    up.publish("slow", "1.0.0", json!({}));
    up.state.packument_delay_ms.store(3_000, Ordering::SeqCst);
    get(&app, "/slow").await.error(504);
    assert_eq!(
        get(&app, "/steady").await.header("x-pantry-cache"),
        "stale",
        "slow counts as failed"
    );

    let offline = TestApp::start_with(|b| {
        fallback_to(&up.url)(b)
            .setting("npm.offline", "true")
            .unwrap()
    })
    .await;
    up.state.packument_delay_ms.store(0, Ordering::SeqCst);
    let asked = up.packument_requests("steady");
    let r = get(&offline, "/steady").await;
    assert!(r.error(504).contains("offline"));
    assert_eq!(
        up.packument_requests("steady"),
        asked,
        "offline mode never asks the upstream"
    );
}

#[tokio::test]
async fn the_pantry_api_uses_the_same_fallback() {
    let up = FakeUpstream::start().await;
    let tgz = up.publish("via-api", "3.2.1", json!({"dep": "^1"}));
    let mut app = TestApp::start_with(fallback_to(&up.url)).await;
    let meta = app.get("/packages/via-api").await.json();
    assert_eq!(meta["version"], "3.2.1");
    assert_eq!(
        meta["publishedAt"], "2026-03-29T08:50:05.148000+00:00",
        "the real upstream time, not now"
    );
    assert_eq!(meta["dependencies"], json!({"dep": "^1"}));
    let url = meta["tarballUrl"].as_str().unwrap().to_string();
    assert!(url.starts_with(&app.url), "{url}");
    let (status, body) = download(&app, &url).await.unwrap();
    assert_eq!((status, body == tgz), (200, true));
    assert_eq!(
        app.get("/packages/via-api/versions").await.json(),
        json!({"versions": ["3.2.1"]})
    );
    let meta = app.get("/packages/via-api/3.2.1").await.json();
    assert_eq!(
        meta["checksum"],
        format!("sha256:{}", sha256_hex(&tgz)),
        "known once fetched"
    );
    assert_eq!(meta["size"], tgz.len());
    assert_eq!(
        app.get("/packages/unknown-upstream/versions").await.json(),
        json!({"versions": []})
    );
    // Proxied downloads count like local ones.
    app.stop().await;
    let store = common::open_store(&app.dir.path().join("registry.redb")).await;
    use pantry_registry::store::DownloadStore;
    assert_eq!(
        store
            .downloads("via-api")
            .await
            .unwrap()
            .iter()
            .map(|c| c.count)
            .sum::<u64>(),
        1
    );
}

#[tokio::test]
async fn the_size_cap_evicts_least_recently_used_proxied_tarballs_only() {
    let up = FakeUpstream::start().await;
    let first = up.publish("first", "1.0.0", json!({}));
    let second = up.publish("second", "1.0.0", json!({}));
    let cap = first.len().max(second.len()) + 10;
    let upstream_url = up.url.clone();
    let app = TestApp::start_with(move |b| {
        fallback_to(&upstream_url)(b)
            .setting("npm.cache_max_bytes", cap.to_string())
            .unwrap()
    })
    .await;
    let (_, local) = app
        .npm_publish(&app.tokens.alice, "mine", "1.0.0", "latest")
        .await;
    for name in ["first", "second"] {
        let (status, _) = download(&app, &format!("{}/npm/{name}/-/{name}-1.0.0.tgz", app.url))
            .await
            .unwrap();
        assert_eq!(status, 200);
    }
    // Eviction runs in the background right after the second tarball is stored.
    for _ in 0..750 {
        if app.tarball_blob_count().await == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.tarball_blob_count().await,
        2,
        "one proxied tarball plus the local one"
    );
    let (status, body) = download(&app, &format!("{}/npm/mine/-/mine-1.0.0.tgz", app.url))
        .await
        .unwrap();
    assert_eq!(
        (status, body == local),
        (200, true),
        "local packages are never evicted"
    );
    // The least recently used one (first) went; fetching it again asks the upstream again.
    assert_eq!(up.tarball_requests(), 2);
    download(&app, &format!("{}/npm/second/-/second-1.0.0.tgz", app.url))
        .await
        .unwrap();
    assert_eq!(up.tarball_requests(), 2, "second is still cached");
    download(&app, &format!("{}/npm/first/-/first-1.0.0.tgz", app.url))
        .await
        .unwrap();
    assert_eq!(up.tarball_requests(), 3, "first was evicted");
}

#[tokio::test]
async fn cache_prune_command_removes_proxied_tarballs_only() {
    let up = FakeUpstream::start().await;
    up.publish("cached-a", "1.0.0", json!({}));
    up.publish("cached-b", "1.0.0", json!({}));
    let mut app = TestApp::start_with(fallback_to(&up.url)).await;
    let (_, local) = app
        .npm_publish(&app.tokens.alice, "kept-local", "1.0.0", "latest")
        .await;
    for name in ["cached-a", "cached-b"] {
        download(&app, &format!("{}/npm/{name}/-/{name}-1.0.0.tgz", app.url))
            .await
            .unwrap();
    }
    assert_eq!(app.tarball_blob_count().await, 3);
    app.stop().await;
    let data = app.dir.path().to_str().unwrap().to_string();
    let (ok, stats, err) = common::run_bin(&["cache", "stats", "--data-dir", &data], &[]);
    assert!(ok, "{err}");
    assert!(stats.contains("tarballs          2"), "{stats}");
    let (ok, after, err) = common::run_bin(
        &["cache", "prune", "--max-bytes", "0", "--data-dir", &data],
        &[],
    );
    assert!(ok, "{err}");
    assert!(err.contains("Removed 2 tarballs"), "{err}");
    assert!(after.contains("tarballs          0"), "{after}");
    assert_eq!(
        app.tarball_blob_count().await,
        1,
        "only the local package's blob is left"
    );
    let local_blob = app
        .dir
        .path()
        .join("blobs/sha256")
        .join(&sha256_hex(&local)[..2])
        .join(sha256_hex(&local));
    assert!(local_blob.exists());
    let (ok, _, err) = common::run_bin(&["cache", "prune", "--data-dir", &data], &[]);
    assert!(!ok && err.contains("--older-than"), "{err}");
}

#[tokio::test]
async fn eviction_is_least_recently_used_not_first_in() {
    let up = FakeUpstream::start().await;
    let sizes: Vec<usize> = ["aa", "bb", "cc"]
        .iter()
        .map(|n| up.publish(n, "1.0.0", json!({})).len())
        .collect();
    let cap = sizes[0] + sizes[1] + 5;
    let upstream_url = up.url.clone();
    let app = TestApp::start_with(move |b| {
        fallback_to(&upstream_url)(b)
            .setting("npm.cache_max_bytes", cap.to_string())
            .unwrap()
    })
    .await;
    let fetch = |name: &'static str| {
        let (client, url) = (
            app.client.clone(),
            format!("{}/npm/{name}/-/{name}-1.0.0.tgz", app.url),
        );
        async move { client.get(url).send().await.unwrap().bytes().await.unwrap() }
    };
    fetch("aa").await;
    fetch("bb").await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    fetch("aa").await; // aa is now the most recently used
    assert_eq!(up.tarball_requests(), 2);
    fetch("cc").await; // over the cap: bb, the least recently used, goes
    for _ in 0..750 {
        if app.tarball_blob_count().await == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.tarball_blob_count().await,
        2,
        "eviction brought the cache under its cap"
    );
    fetch("aa").await;
    assert_eq!(up.tarball_requests(), 3, "aa stayed cached");
    fetch("bb").await;
    assert_eq!(up.tarball_requests(), 4, "bb was evicted");
}

#[tokio::test]
async fn offline_mode_serves_what_is_cached() {
    let up = FakeUpstream::start().await;
    let tgz = up.publish("kept-offline", "1.0.0", json!({}));
    let mut online = TestApp::start_with(fallback_to(&up.url)).await;
    let url_path = "/kept-offline/-/kept-offline-1.0.0.tgz";
    assert_eq!(
        download(&online, &format!("{}/npm{url_path}", online.url))
            .await
            .unwrap()
            .0,
        200
    );
    online.stop().await;
    let dir = online.dir.path().to_path_buf();
    let asked = (up.packument_requests("kept-offline"), up.tarball_requests());
    let upstream_url = up.url.clone();
    let offline = TestApp::start_with(move |b| {
        fallback_to(&upstream_url)(b)
            .data_dir(dir)
            .setting("npm.offline", "true")
            .unwrap()
            // Past its max age: only offline mode keeps it from being revalidated.
            .setting("npm.cache_max_age_secs", "0")
            .unwrap()
    })
    .await;
    let doc = get(&offline, "/kept-offline").await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.header("x-pantry-cache"), "stale");
    let (status, body) = download(&offline, &format!("{}/npm{url_path}", offline.url))
        .await
        .unwrap();
    assert_eq!((status, body == tgz), (200, true));
    get(&offline, "/not-cached").await.error(504);
    assert_eq!(
        (up.packument_requests("kept-offline"), up.tarball_requests()),
        asked,
        "the upstream was never asked"
    );
}

#[tokio::test]
async fn negative_entries_expire() {
    let up = FakeUpstream::start().await;
    let app = TestApp::start_with(|b| {
        fallback_to(&up.url)(b)
            .setting("npm.negative_cache_secs", "3")
            .unwrap()
    })
    .await;
    let started = std::time::Instant::now();
    get(&app, "/later").await.error(404);
    get(&app, "/later").await.error(404);
    // The second 404 is the cached one, unless this machine took the whole window for two
    // requests.
    if started.elapsed() < std::time::Duration::from_secs(3) {
        assert_eq!(up.packument_requests("later"), 1);
    } else {
        eprintln!("two requests took longer than the 3 s window: the cached 404 was not checked");
    }
    let asked = up.packument_requests("later");
    up.publish("later", "1.0.0", json!({}));
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(
        get(&app, "/later").await.status,
        200,
        "the 404 was forgotten and the new package found"
    );
    assert_eq!(up.packument_requests("later"), asked + 1);
}

#[tokio::test]
async fn local_versions_names_and_unpublished_names_shadow_nothing() {
    let up = FakeUpstream::start().await;
    for (name, version) in [
        ("@ours/x", "9.0.0"),
        ("localpkg", "2.0.0"),
        ("gone-local", "5.0.0"),
    ] {
        up.publish(name, version, json!({}));
    }
    let app = TestApp::start_with(fallback_to(&up.url)).await;
    // These names exist upstream, so only an admin may take them (the shadowing guard).
    app.npm_publish(ADMIN_TOKEN, "@ours/x", "1.0.0", "latest")
        .await;
    app.npm_publish(ADMIN_TOKEN, "localpkg", "1.0.0", "latest")
        .await;
    get(&app, "/@ours%2fx/-/x-9.0.0.tgz").await.error(404);
    app.get("/packages/@ours/x/9.0.0").await.error(404);
    let doc = get(&app, "/localpkg").await.json();
    assert_eq!(
        doc["versions"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["1.0.0"]
    );
    // A wholly unpublished local name stays ours: the upstream package of that name is not served.
    app.npm_publish(ADMIN_TOKEN, "gone-local", "1.0.0", "latest")
        .await;
    let rev = get(&app, "/gone-local?write=true").await.json()["_rev"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.npm(
            Method::DELETE,
            &format!("/gone-local/-rev/{rev}"),
            Some(ADMIN_TOKEN),
            None
        )
        .await
        .status,
        200
    );
    get(&app, "/gone-local").await.error(404);
    get(&app, "/gone-local/-/gone-local-5.0.0.tgz")
        .await
        .error(404);
    for name in ["@ours/x", "localpkg", "gone-local"] {
        assert_eq!(
            up.packument_requests(name),
            0,
            "{name} was looked up upstream"
        );
    }
}

#[tokio::test]
async fn a_corrupted_multi_chunk_tarball_never_completes_at_the_client() {
    let up = FakeUpstream::start().await;
    let tgz = up.publish_big("big-tampered", "1.0.0");
    assert!(tgz.len() > 512 * 1024);
    let app = TestApp::start_with(fallback_to(&up.url)).await;
    let url = format!("{}/npm/big-tampered/-/big-tampered-1.0.0.tgz", app.url);
    up.set(&up.state.corrupt, true);
    assert!(
        download(&app, &url).await.is_err(),
        "the client never gets a complete, bad body"
    );
    assert_eq!(app.tarball_blob_count().await, 0);
    up.set(&up.state.corrupt, false);
    let (status, body) = download(&app, &url).await.unwrap();
    assert_eq!((status, sha256_hex(&body)), (200, sha256_hex(&tgz)));
}

#[tokio::test]
async fn the_upstream_token_goes_to_the_upstream_only_and_tarballs_come_from_its_origin() {
    let up = FakeUpstream::start().await;
    let elsewhere = FakeUpstream::start().await;
    let tgz = up.publish("tokened", "1.0.0", json!({}));
    elsewhere.publish("tokened", "1.0.0", json!({}));
    // The packument claims the tarball lives on another origin.
    up.set_tarball_url(
        "tokened",
        "1.0.0",
        &format!("{}tokened/-/tokened-1.0.0.tgz", elsewhere.url),
    );
    let app = TestApp::start_with(|b| {
        fallback_to(&up.url)(b)
            .setting("npm.upstream_token", "upstream-secret")
            .unwrap()
    })
    .await;
    assert_eq!(get(&app, "/tokened").await.status, 200);
    assert_eq!(
        up.state.last_authorization.lock().unwrap().as_deref(),
        Some("Bearer upstream-secret")
    );
    let (status, body) = download(
        &app,
        &format!("{}/npm/tokened/-/tokened-1.0.0.tgz", app.url),
    )
    .await
    .unwrap();
    assert_eq!((status, body == tgz), (200, true));
    assert_eq!(
        up.tarball_requests(),
        1,
        "fetched from the upstream's own origin"
    );
    assert_eq!(
        elsewhere.tarball_requests(),
        0,
        "never from the other origin"
    );
}

#[tokio::test]
async fn concurrent_misses_against_a_hanging_upstream_fail_fast_together() {
    let up = FakeUpstream::start().await;
    up.publish("hanging", "1.0.0", json!({}));
    up.state.packument_delay_ms.store(5_000, Ordering::SeqCst);
    let app = TestApp::start_with(fallback_to(&up.url)).await;
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (client, url) = (app.client.clone(), format!("{}/npm/hanging", app.url));
        tasks.push(tokio::spawn(async move {
            client.get(url).send().await.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 504);
    }
    assert_eq!(
        up.packument_requests("hanging"),
        1,
        "one upstream attempt, shared by all"
    );
    // Not a timing assertion on speed, only that nobody waited out twenty timeouts in a row.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
