//! What an operator watches: readiness (`/ready`) names the part that fails and recovers with
//! it.

mod common;

use common::TestApp;
use serde_json::Value;

/// The metrics recorder is one per process: the tests here run one at a time, so a scrape's
/// counts are the scripted session's alone.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn ready(app: &TestApp) -> (u16, Value) {
    let r = app.get("/ready").await;
    (r.status.as_u16(), r.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_the_failing_part_and_recovers() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let app = TestApp::start().await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["store"]["state"], "ok");
    assert_eq!(body["blobs"]["state"], "ok");
    assert_eq!(body["upstream"]["state"], "skipped", "the fallback is off");

    // The blob directory gone from under the server (a lost mount): 503, naming it.
    let blobs = app.dir.path().join("blobs/sha256");
    let aside = app.dir.path().join("blobs/sha256.aside");
    std::fs::rename(&blobs, &aside).unwrap();
    std::fs::write(&blobs, b"not a directory").unwrap();
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["blobs"]["state"], "failing");
    assert!(body["blobs"]["error"].as_str().is_some(), "{body}");
    assert_eq!(body["store"]["state"], "ok");
    // /health is liveness: the process and its store are fine.
    assert_eq!(app.get("/health").await.status, 200);
    std::fs::remove_file(&blobs).unwrap();
    std::fs::rename(&aside, &blobs).unwrap();
    assert_eq!(ready(&app).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_asks_the_upstream_only_when_the_fallback_may() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let up = common::upstream::FakeUpstream::start().await;
    let app = TestApp::start_with_upstream(&up.url).await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upstream"]["state"], "ok");

    // An upstream nobody listens on.
    let closed = format!("http://127.0.0.1:{}/", common::free_port());
    let app = TestApp::start_with(common::fallback_to(&closed, &[])).await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["upstream"]["state"], "failing");
    assert_eq!(body["store"]["state"], "ok");
    // Offline, the upstream is not needed.
    let app = TestApp::start_with(common::fallback_to(&closed, &[("npm.offline", "true")])).await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upstream"]["state"], "skipped");
}

/// The value of `metric` with exactly `labels` among a scrape's samples (0 when absent).
fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, prometheus_parse::Scrape) {
    let mut req = app.client.get(format!("{}/metrics", app.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    (status, prometheus_parse::Scrape::parse(lines).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_counts_what_a_scripted_session_did() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let up = common::upstream::FakeUpstream::start().await;
    up.publish("from-upstream", "1.0.0", serde_json::json!({}));
    let app = TestApp::start_with(common::fallback_to(
        &up.url,
        &[
            ("metrics.token", "scrape-secret-123"),
            ("metrics.blob_totals_secs", "0"),
        ],
    ))
    .await;
    // Behind its token.
    let r = app.get("/metrics").await;
    assert_eq!(r.status, 401, "{}", r.json());
    let (status, before) = scrape(&app, Some("scrape-secret-123")).await;
    assert_eq!(status, 200);

    let alice = app.tokens.alice.clone();
    for version in ["1.0.0", "1.1.0"] {
        assert_eq!(
            app.npm_publish(&alice, "counted", version, "latest")
                .await
                .0
                .status,
            201
        );
    }
    assert_eq!(
        app.publish(&alice, "counted-api", "1.0.0").await.0.status,
        201
    );
    // A refused publish is not a publish.
    assert_eq!(
        app.publish(&alice, "counted-api", "1.0.0").await.0.status,
        409
    );
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    for _ in 0..3 {
        assert_eq!(
            app.get("/npm/counted/-/counted-1.0.0.tgz").await.status,
            200
        );
    }
    assert_eq!(
        app.get("/zig/packages/plain_pkg/1.0.0/tarball")
            .await
            .status,
        200
    );
    // The fallback: a miss, then a hit, then the tarball through it.
    assert_eq!(app.get("/npm/from-upstream").await.status, 200);
    assert_eq!(app.get("/npm/from-upstream").await.status, 200);
    assert_eq!(
        app.get("/npm/from-upstream/-/from-upstream-1.0.0.tgz")
            .await
            .status,
        200
    );
    assert_eq!(app.get("/npm/no-such-thing-upstream").await.status, 404);

    let (_, after) = scrape(&app, Some("scrape-secret-123")).await;
    let delta = |metric: &str, labels: &[(&str, &str)]| {
        sample(&after, metric, labels) - sample(&before, metric, labels)
    };
    assert_eq!(
        delta("pantry_publishes_total", &[("ecosystem", "npm")]),
        3.0
    );
    assert_eq!(
        delta("pantry_publishes_total", &[("ecosystem", "zig")]),
        1.0
    );
    assert_eq!(
        delta(
            "pantry_events_total",
            &[("action", "npm.publish"), ("outcome", "denied")]
        ),
        1.0
    );
    assert_eq!(
        delta("pantry_downloads_total", &[("ecosystem", "npm")]),
        4.0
    );
    assert_eq!(
        delta("pantry_downloads_total", &[("ecosystem", "zig")]),
        1.0
    );
    assert_eq!(
        delta("pantry_upstream_packuments_total", &[("outcome", "miss")]),
        1.0
    );
    // The second read, and the tarball's lookup of its `dist`.
    assert_eq!(
        delta("pantry_upstream_packuments_total", &[("outcome", "hit")]),
        2.0
    );
    // The missing one, and the two new names the shadowing guard asked the upstream about.
    assert_eq!(
        delta(
            "pantry_upstream_packuments_total",
            &[("outcome", "not_found")]
        ),
        3.0
    );
    assert!(
        delta(
            "pantry_upstream_request_seconds_count",
            &[("kind", "tarball")]
        ) >= 1.0
    );
    assert_eq!(
        delta(
            "pantry_http_requests_total",
            &[
                ("route", "/npm/:package/-/:tarball"),
                ("method", "GET"),
                ("status", "200")
            ]
        ),
        4.0
    );
    assert_eq!(
        delta(
            "pantry_http_requests_total",
            &[("route", "/publish"), ("method", "POST"), ("status", "409")]
        ),
        1.0
    );
    assert!(
        delta(
            "pantry_http_request_seconds_count",
            &[("route", "/zig/packages/:name/:version/tarball")]
        ) >= 1.0
    );
    // Gauges of the registry's state.
    assert!(sample(&after, "pantry_blobs", &[]) >= 4.0);
    assert!(sample(&after, "pantry_store_bytes", &[]) > 0.0);
    assert!(sample(&after, "pantry_rendered_entries", &[]) >= 1.0);
    assert!(
        after
            .samples
            .iter()
            .any(|s| s.metric == "pantry_search_documents"),
        "search documents are reported"
    );
}

/// `verify` against a running server: clean, then a flipped byte, a deleted blob and an
/// orphan, each named, with a failing exit status, and nothing repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_corrupt_missing_and_orphaned_blobs() {
    let _alone = ONE_AT_A_TIME.lock().await;
    use pantry_registry::blobs::BlobKey;
    let app = TestApp::start().await;
    let alice = app.tokens.alice.clone();
    let (r, flipped) = app.publish(&alice, "flipped", "1.0.0").await;
    assert_eq!(r.status, 201);
    let (r, deleted) = app.publish(&alice, "deleted", "1.0.0").await;
    assert_eq!(r.status, 201);
    let (r, _) = app.publish(&alice, "whole", "1.0.0").await;
    assert_eq!(r.status, 201);
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    let scratch = tempfile::tempdir().unwrap();
    let verify = || {
        common::run_bin(
            &[
                "verify",
                "--url",
                &app.url,
                "--data-dir",
                scratch.path().to_str().unwrap(),
            ],
            &[("PANTRY_ADMIN_TOKEN", common::ADMIN_TOKEN)],
        )
    };
    let (ok, out, err) = verify();
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("Verified 4 blobs") && out.contains("everything is whole"),
        "{out}"
    );

    let blob_file = |bytes: &[u8]| {
        let key = common::sha256_hex(bytes);
        app.dir
            .path()
            .join("blobs/sha256")
            .join(&key[..2])
            .join(&key)
    };
    let mut content = std::fs::read(blob_file(&flipped)).unwrap();
    content[100] ^= 0x01;
    std::fs::write(blob_file(&flipped), content).unwrap();
    std::fs::remove_file(blob_file(&deleted)).unwrap();
    let stray = b"nothing names these bytes".to_vec();
    let stray_key = BlobKey::parse(&common::sha256_hex(&stray)).unwrap();
    app.blobs.put(&stray_key, stray.into()).await.unwrap();

    let (ok, out, err) = verify();
    assert!(!ok, "a damaged store fails verify: {out}");
    assert!(err.contains("not whole"), "{err}");
    let flipped_key = common::sha256_hex(&flipped);
    let deleted_key = common::sha256_hex(&deleted);
    assert!(
        out.contains(&format!("CORRUPT {flipped_key}"))
            && out.contains("npm version flipped@1.0.0"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "MISSING {deleted_key}: named by npm version deleted@1.0.0"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("ORPHAN {}", stray_key.as_str())),
        "{out}"
    );
    assert!(out.contains("3 problem(s)"), "{out}");
    // Nothing was repaired: the orphan is still there, the corrupt blob still corrupt.
    assert!(app.blobs.head(&stray_key).await.unwrap().is_some());
    assert_ne!(
        common::sha256_hex(&std::fs::read(blob_file(&flipped)).unwrap()),
        flipped_key
    );
}
