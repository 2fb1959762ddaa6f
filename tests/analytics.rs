//! Download analytics in the seed's shapes: every download route counts, HEAD does not, counts
//! survive a restart, timelines are zero-filled, bad parameters are 400s.

use crate::common;

use common::TestApp;
use common::upstream::FakeUpstream;
use serde_json::json;

fn today() -> String {
    pantry_registry::core::downloads::utc_day(time::OffsetDateTime::now_utc())
}

#[tokio::test]
async fn every_download_route_counts_and_survives_a_restart() {
    common::avoid_midnight().await;
    let up = FakeUpstream::start().await;
    up.publish("from-upstream", "1.0.0", json!({}));
    let mut app = TestApp::start_with_upstream(&up.url).await;
    app.publish(&app.tokens.alice, "@s/counted", "1.0.0").await;
    app.publish(&app.tokens.alice, "@s/counted", "1.1.0").await;
    app.publish(&app.tokens.alice, "quiet", "1.0.0").await;
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;

    for path in [
        "/packages/@s/counted/1.0.0/tarball",
        "/packages/@s/counted/1.1.0/tarball",
        "/npm/@s/counted/-/counted-1.1.0.tgz",
        "/npm/from-upstream/-/from-upstream-1.0.0.tgz",
        "/zig/packages/plain_pkg/1.0.0/tarball",
    ] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
    let head = app
        .client
        .head(format!("{}/npm/@s/counted/-/counted-1.0.0.tgz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);

    let stats = app.get("/analytics/@s/counted").await.json();
    assert_eq!(stats["packageName"], "@s/counted");
    assert_eq!(stats["totalDownloads"], 3, "HEAD is not a download");
    assert_eq!(stats["weeklyDownloads"], 3);
    assert_eq!(stats["monthlyDownloads"], 3);
    assert_eq!(stats["versionDownloads"], json!({"1.0.0": 1, "1.1.0": 2}));
    assert_eq!(stats["lastDownload"], today());
    assert_eq!(
        app.get("/analytics/%40s%2Fcounted").await.json()["totalDownloads"],
        3
    );
    assert_eq!(
        app.get("/analytics/from-upstream").await.json()["totalDownloads"],
        1,
        "proxied downloads count"
    );
    assert_eq!(
        app.get("/analytics/plain_pkg?ecosystem=zig").await.json()["totalDownloads"],
        1
    );
    // The name /analytics/top gives a Zig package reads it too.
    let top = app.get("/analytics/top?limit=50").await.json();
    assert!(
        top["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "zig:plain_pkg"),
        "{top}"
    );
    assert_eq!(
        app.get("/analytics/zig:plain_pkg").await.json()["totalDownloads"],
        1
    );
    assert_eq!(
        app.get("/analytics/zig:plain_pkg/timeline?days=1")
            .await
            .json()["timeline"][0]["count"],
        1
    );
    // Known but never downloaded: zeros. Unknown: 404.
    let quiet = app.get("/analytics/quiet").await.json();
    assert_eq!(
        (quiet["totalDownloads"].as_u64(), quiet.get("lastDownload")),
        (Some(0), None)
    );
    assert_eq!(
        app.get("/analytics/nobody").await.error(404),
        "Package not found"
    );
    app.get("/analytics/plain_pkg?ecosystem=cobol")
        .await
        .error(400);

    let top = app.get("/analytics/top?limit=2").await.json();
    assert_eq!(
        top["packages"],
        json!([{"name": "@s/counted", "downloads": 3}, {"name": "from-upstream", "downloads": 1}])
    );

    app.stop().await;
    let dir = app.dir.path().to_path_buf();
    let again = TestApp::start_with(move |b| b.data_dir(dir)).await;
    assert_eq!(
        again.get("/analytics/@s/counted").await.json()["totalDownloads"],
        3,
        "counts survive a restart"
    );
}

#[tokio::test]
async fn timelines_are_zero_filled_and_bounded() {
    common::avoid_midnight().await;
    let app = TestApp::start().await;
    app.publish(&app.tokens.alice, "timed", "1.0.0").await;
    for _ in 0..2 {
        app.get("/packages/timed/1.0.0/tarball").await;
    }
    let t = app.get("/analytics/timed/timeline?days=7").await.json();
    let points = t["timeline"].as_array().unwrap();
    assert_eq!(points.len(), 7);
    assert_eq!(points[6], json!({"date": today(), "count": 2}));
    assert!(points[..6].iter().all(|p| p["count"] == 0));
    assert!(
        points
            .windows(2)
            .all(|w| w[0]["date"].as_str() < w[1]["date"].as_str()),
        "oldest first"
    );
    assert_eq!(
        app.get("/analytics/timed/timeline").await.json()["timeline"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
    assert_eq!(
        app.get("/analytics/timed/timeline?days=5000").await.json()["timeline"]
            .as_array()
            .unwrap()
            .len(),
        366
    );
    assert_eq!(
        app.get("/analytics/timed/timeline?days=0").await.json()["timeline"],
        json!([])
    );
    app.get("/analytics/timed/timeline?days=abc")
        .await
        .error(400);
    app.get("/analytics/nobody/timeline").await.error(404);
}
