//! npm's download-counts API shape: `/downloads/point/…`, `/downloads/range/…` and
//! `/versions/{pkg}/last-week` count the downloads made through the real routes, periods end
//! today (UTC), ranges are zero-filled, bulk lists answer `null` for unknown names, scoped
//! names work raw and encoded, and every bad request is a 400 with a JSON error.

use crate::common;

use common::TestApp;
use common::upstream::FakeUpstream;
use pantry_registry::core::downloads::day_string;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

/// The UTC day `back` days before today, `YYYY-MM-DD`.
fn day(back: i64) -> String {
    day_string((OffsetDateTime::now_utc() - Duration::days(back)).date())
}

fn point(package: &str, start: &str, end: &str, downloads: u64) -> Value {
    json!({"downloads": downloads, "start": start, "end": end, "package": package})
}

/// The `downloads` counts of a range answer, oldest first, after checking its days run one
/// by one from `start` to `end`.
fn range_counts(range: &Value) -> Vec<u64> {
    let days = range["downloads"].as_array().expect("a downloads array");
    let names: Vec<&str> = days.iter().map(|d| d["day"].as_str().unwrap()).collect();
    assert_eq!(names.first().copied(), range["start"].as_str(), "{range}");
    assert_eq!(names.last().copied(), range["end"].as_str(), "{range}");
    for pair in names.windows(2) {
        let next = time::Date::parse(
            pair[0],
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .unwrap()
        .next_day()
        .unwrap();
        assert_eq!(day_string(next), pair[1], "consecutive, oldest first");
    }
    days.iter()
        .map(|d| d["downloads"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn real_downloads_are_counted_in_points_ranges_and_versions_and_survive_a_restart() {
    common::avoid_midnight().await;
    let up = FakeUpstream::start().await;
    up.publish("from-upstream", "1.0.0", json!({}));
    up.publish("from-upstream", "2.0.0", json!({}));
    let mut app = TestApp::start_with_upstream(&up.url).await;
    for (name, version) in [
        ("@s/dl", "1.0.0"),
        ("@s/dl", "1.1.0"),
        ("plain", "1.0.0"),
        ("quiet", "1.0.0"),
        ("quiet", "2.0.0"),
    ] {
        let (r, _) = app.publish(&app.tokens.alice, name, version).await;
        assert_eq!(r.status, 201, "{name}@{version}");
    }
    for path in [
        "/packages/@s/dl/1.0.0/tarball",
        "/packages/@s/dl/1.0.0/tarball",
        "/npm/@s/dl/-/dl-1.1.0.tgz",
        "/packages/plain/1.0.0/tarball",
        "/npm/from-upstream/-/from-upstream-1.0.0.tgz",
    ] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
    let today = day(0);

    // One package, every way of writing its scoped name.
    for path in [
        "/downloads/point/last-day/@s/dl",
        "/downloads/point/last-day/%40s%2Fdl",
        "/downloads/point/last-day/%40s%2fdl",
        "/downloads/point/last-day/@s%2Fdl",
    ] {
        assert_eq!(
            app.get(path).await.json(),
            point("@s/dl", &today, &today, 3),
            "{path}"
        );
    }
    assert_eq!(
        app.get("/downloads/point/last-week/@s/dl").await.json(),
        point("@s/dl", &day(6), &today, 3)
    );
    assert_eq!(
        app.get("/downloads/point/last-month/plain").await.json(),
        point("plain", &day(29), &today, 1)
    );
    assert_eq!(
        app.get("/downloads/point/last-year/quiet").await.json(),
        point("quiet", &day(364), &today, 0),
        "a known package never downloaded has zeros"
    );
    assert_eq!(
        app.get("/downloads/point/last-week/from-upstream")
            .await
            .json(),
        point("from-upstream", &day(6), &today, 1),
        "proxied downloads count"
    );
    assert_eq!(
        app.get("/downloads/point/last-week").await.json(),
        json!({"downloads": 5, "start": day(6), "end": today}),
        "all packages: no package key"
    );

    // Ranges: one entry a day, zero-filled, ending today.
    let week = app.get("/downloads/range/last-week/@s/dl").await.json();
    assert_eq!(week["package"], "@s/dl");
    assert_eq!(range_counts(&week), [0, 0, 0, 0, 0, 0, 3]);
    assert_eq!(week["start"], day(6));
    let all = app.get("/downloads/range/last-day").await.json();
    assert_eq!(
        all,
        json!({"start": today, "end": today, "downloads": [{"downloads": 5, "day": today}]})
    );
    for (period, days) in [("last-month", 30), ("last-year", 365)] {
        let r = app
            .get(&format!("/downloads/range/{period}/%40s%2Fdl"))
            .await
            .json();
        let counts = range_counts(&r);
        assert_eq!(counts.len(), days, "{period}");
        assert_eq!(counts.iter().sum::<u64>(), 3, "{period}");
        assert_eq!(r["end"], today, "{period}");
    }

    // Explicit days and spans, both ends included.
    assert_eq!(
        app.get(&format!("/downloads/point/{today}/@s/dl"))
            .await
            .json(),
        point("@s/dl", &today, &today, 3)
    );
    assert_eq!(
        app.get(&format!("/downloads/point/{}/@s/dl", day(1)))
            .await
            .json()["downloads"],
        0,
        "yesterday had none"
    );
    let span = app
        .get(&format!("/downloads/range/{}:{today}/@s/dl", day(2)))
        .await
        .json();
    assert_eq!(
        (span["start"].clone(), span["end"].clone()),
        (json!(day(2)), json!(today))
    );
    assert_eq!(range_counts(&span), [0, 0, 3]);

    // Per version, the last week: every published version, zero when not downloaded.
    assert_eq!(
        app.get("/versions/@s/dl/last-week").await.json(),
        json!({"package": "@s/dl", "downloads": {"1.0.0": 2, "1.1.0": 1}})
    );
    assert_eq!(
        app.get("/versions/%40s%2Fdl/last-week").await.json()["downloads"]["1.0.0"],
        2
    );
    assert_eq!(
        app.get("/versions/quiet/last-week").await.json(),
        json!({"package": "quiet", "downloads": {"1.0.0": 0, "2.0.0": 0}})
    );
    assert_eq!(
        app.get("/versions/from-upstream/last-week").await.json(),
        json!({"package": "from-upstream", "downloads": {"1.0.0": 1, "2.0.0": 0}}),
        "a proxied package's versions come from its cached packument"
    );

    // Bulk: keyed by name, null for an unknown one; scoped names raw or encoded.
    let expected = json!({
        "plain": point("plain", &day(6), &today, 1),
        "@s/dl": point("@s/dl", &day(6), &today, 3),
        "nobody": null,
    });
    for path in [
        "/downloads/point/last-week/plain,@s/dl,nobody",
        "/downloads/point/last-week/plain%2C%40s%2Fdl%2Cnobody",
        "/downloads/point/last-week/plain,%40s%2fdl,nobody",
    ] {
        assert_eq!(app.get(path).await.json(), expected, "{path}");
    }
    let bulk = app
        .get("/downloads/range/last-week/quiet,@s/dl,nobody")
        .await
        .json();
    assert_eq!(bulk["nobody"], Value::Null);
    assert_eq!(bulk["quiet"]["package"], "quiet");
    assert_eq!(range_counts(&bulk["quiet"]), [0; 7]);
    assert_eq!(range_counts(&bulk["@s/dl"]), [0, 0, 0, 0, 0, 0, 3]);
    assert_eq!(
        app.get("/downloads/point/last-day/plain,").await.error(400),
        "empty package name in the list"
    );

    app.stop().await;
    // A day far back, written straight into the stopped registry's store.
    {
        use pantry_registry::store::{DownloadCount, DownloadStore};
        let store = common::open_store(&app.dir.path().join("registry.redb")).await;
        store
            .add_downloads(pantry_registry::store::DownloadBatch::new(vec![
                DownloadCount {
                    name: "plain".into(),
                    version: "1.0.0".into(),
                    day: "2024-02-29".into(),
                    count: 7,
                },
            ]))
            .await
            .unwrap();
    }
    let dir = app.dir.path().to_path_buf();
    let again = TestApp::start_with(move |b| b.data_dir(dir)).await;
    assert_eq!(
        again.get("/downloads/point/last-week/@s/dl").await.json(),
        point("@s/dl", &day(6), &today, 3),
        "counts survive a restart"
    );
    assert_eq!(
        again.get("/downloads/point/2024-02-29/plain").await.json(),
        point("plain", "2024-02-29", "2024-02-29", 7)
    );
    let leap = again
        .get("/downloads/range/2024-02-28:2024-03-01/plain")
        .await
        .json();
    assert_eq!(range_counts(&leap), [0, 7, 0]);
    assert_eq!(
        again.get("/downloads/point/last-week/plain").await.json()["downloads"],
        1,
        "the old day is outside the last week"
    );
    assert_eq!(
        again
            .get("/downloads/point/2024-02-01:2024-03-31")
            .await
            .json()["downloads"],
        7,
        "all packages, an explicit span"
    );
}

#[tokio::test]
async fn bad_requests_are_json_400s_and_unknown_packages_404s() {
    common::avoid_midnight().await;
    let app = TestApp::start().await;
    app.publish(&app.tokens.alice, "known", "1.0.0").await;
    let bad_periods = [
        "yesterday",
        "last-decade",
        "Last-Week",
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "2024-1-1",
        "24-01-01",
        "2024-01-01:",
        ":2024-01-01",
        "2024-01-01:2024-01-02:2024-01-03",
        "2024-03-02:2024-03-01",
        "2022-01-01:2023-07-05",
    ];
    for period in bad_periods {
        for path in [
            format!("/downloads/point/{period}"),
            format!("/downloads/point/{period}/known"),
            format!("/downloads/range/{period}"),
            format!("/downloads/range/{period}/known"),
            format!("/downloads/range/{period}/known,other"),
        ] {
            app.get(&path).await.error(400);
        }
    }
    assert!(
        app.get("/downloads/point/2024-03-02:2024-03-01/known")
            .await
            .error(400)
            .contains("after it ends")
    );
    assert!(
        app.get("/downloads/range/2022-01-01:2023-07-05/known")
            .await
            .error(400)
            .contains("at most 550")
    );
    // 550 days is the most served.
    let longest = app
        .get("/downloads/range/2022-01-01:2023-07-04/known")
        .await
        .json();
    assert_eq!(range_counts(&longest).len(), 550);

    for path in [
        "/downloads/point/last-week/nobody",
        "/downloads/range/last-week/nobody",
        "/versions/nobody/last-week",
    ] {
        assert_eq!(
            app.get(path).await.error(404),
            "package nobody not found",
            "{path}"
        );
    }
    assert_eq!(
        app.get("/downloads/point/last-week/@s/nobody")
            .await
            .error(404),
        "package @s/nobody not found"
    );

    let names = |n: usize| {
        (0..n)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let most = app
        .get(&format!("/downloads/point/last-day/{}", names(128)))
        .await
        .json();
    assert_eq!(most.as_object().unwrap().len(), 128);
    assert!(most.as_object().unwrap().values().all(Value::is_null));
    assert!(
        app.get(&format!("/downloads/range/last-day/{}", names(129)))
            .await
            .error(400)
            .contains("at most 128")
    );

    for path in [
        "/downloads/point/last-week?ecosystem=cobol",
        "/downloads/point/last-week/known?ecosystem=cobol",
        "/downloads/range/last-week/known?ecosystem=cobol",
        "/versions/known/last-week?ecosystem=cobol",
    ] {
        assert!(
            app.get(path).await.error(400).contains("ecosystem"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn zig_packages_are_read_with_ecosystem_zig() {
    common::avoid_midnight().await;
    let app = TestApp::start().await;
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    app.publish(&app.tokens.alice, "npm-one", "1.0.0").await;
    assert_eq!(
        app.get("/zig/packages/plain_pkg/1.0.0/tarball")
            .await
            .status,
        200
    );
    let today = day(0);

    assert_eq!(
        app.get("/downloads/point/last-week/plain_pkg?ecosystem=zig")
            .await
            .json(),
        point("plain_pkg", &day(6), &today, 1)
    );
    app.get("/downloads/point/last-week/plain_pkg")
        .await
        .error(404);
    assert_eq!(
        app.get("/downloads/point/last-day?ecosystem=zig")
            .await
            .json()["downloads"],
        1
    );
    assert_eq!(
        app.get("/downloads/point/last-day").await.json()["downloads"],
        0,
        "Zig downloads are not npm downloads"
    );
    let range = app
        .get("/downloads/range/last-week/plain_pkg,nope?ecosystem=zig")
        .await
        .json();
    assert_eq!(range_counts(&range["plain_pkg"]), [0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(range["nope"], Value::Null);
    assert_eq!(
        app.get("/versions/plain_pkg/last-week?ecosystem=zig")
            .await
            .json(),
        json!({"package": "plain_pkg", "downloads": {"1.0.0": 1}})
    );
    app.get("/downloads/point/last-week/npm-one?ecosystem=zig")
        .await
        .error(404);
}

#[tokio::test]
async fn head_requests_do_not_count_and_counts_pending_at_shutdown_are_written() {
    common::avoid_midnight().await;
    // Counts stay in memory for ten minutes: only the shutdown can write them.
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_path_buf();
    let mut app = TestApp::start_with(move |b| {
        b.data_dir(dir)
            .setting("downloads.flush_interval_ms", "600000")
            .unwrap()
    })
    .await;
    app.publish(&app.tokens.alice, "counted", "1.0.0").await;
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    for path in [
        "/packages/counted/1.0.0/tarball",
        "/zig/packages/plain_pkg/1.0.0/tarball",
    ] {
        let head = app
            .client
            .head(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200, "{path}");
        let get = app.get(path).await;
        assert_eq!(get.status, 200, "{path}");
    }
    // Stop without reading any count (a read would write them).
    app.stop().await;
    let dir = data.path().to_path_buf();
    let app = TestApp::start_with(move |b| b.data_dir(dir)).await;
    let today = day(0);
    assert_eq!(
        app.get("/downloads/point/last-day/counted").await.json(),
        point("counted", &today, &today, 1),
        "one GET counted, the HEAD not"
    );
    assert_eq!(
        app.get("/downloads/point/last-day/plain_pkg?ecosystem=zig")
            .await
            .json()["downloads"],
        1
    );
}

#[tokio::test]
async fn bulk_lists_are_checked_and_answered_once_per_name() {
    common::avoid_midnight().await;
    let app = TestApp::start().await;
    app.publish(&app.tokens.alice, "known", "1.0.0").await;
    assert_eq!(app.get("/packages/known/1.0.0/tarball").await.status, 200);
    let today = day(0);
    // A name repeated is answered once; a trailing slash is not part of a name.
    let bulk = app
        .get("/downloads/point/last-day/known,known,nope/")
        .await
        .json();
    assert_eq!(
        bulk,
        json!({"known": point("known", &today, &today, 1), "nope": null})
    );
    assert_eq!(
        app.get("/downloads/point/last-day/known/").await.json(),
        point("known", &today, &today, 1)
    );
    // Spaces are not separators, and a list may span at most 365 days.
    assert!(
        app.get("/downloads/point/last-day/known,%20nope")
            .await
            .error(400)
            .contains("commas only")
    );
    let long = format!("{}:{}", day(365), today);
    assert!(
        app.get(&format!("/downloads/range/{long}/known,nope"))
            .await
            .error(400)
            .contains("365 days")
    );
    // One name may still ask for up to 550 days.
    assert_eq!(
        app.get(&format!("/downloads/range/{long}/known"))
            .await
            .status,
        200
    );
}
