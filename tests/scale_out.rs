//! Several instances on one shared store: two registry processes (the real binary) on one
//! DynamoDB table and one S3 bucket, both served by a real moto server on 127.0.0.1, created
//! with `init-aws`. What one instance writes, the other serves: installs with real npm, a
//! version published once however many instances race for it, deprecations and new packages
//! followed through the change feed, nothing acknowledged lost when an instance dies, and
//! nothing kept on the instances' own disks but their search index.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::sandbox::Sandbox;
use common::tools::tools;
use common::{ADMIN_TOKEN, BinServer, publish_over_http, run_bin};
use serde_json::{Value, json};

/// How long another instance may take to show a write here before the test gives up (the
/// feed is read every 500 ms; the README states the measured figure).
const FOLLOW_DEADLINE: Duration = Duration::from_secs(15);

fn shared_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DYNAMODB_TABLE", "pantry".to_string()),
        ("S3_BUCKET", "pantry-blobs".to_string()),
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("PANTRY_REGISTRY_TOKEN", ADMIN_TOKEN.to_string()),
        ("PANTRY_NPM_FALLBACK", "false".to_string()),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls `check` until it holds; how long that took.
async fn within_deadline(what: &str, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < FOLLOW_DEADLINE,
            "{what}: not seen within {FOLLOW_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_table_and_one_bucket() {
    let moto = common::s3::Moto::start_dynamodb().await;
    let owned = shared_env(&moto.endpoint);
    let env = borrowed(&owned);

    // init-aws makes the tables and the bucket, and a second run changes nothing.
    let (ok, out, err) = run_bin(&["init-aws"], &env);
    assert!(ok, "{err}");
    for line in [
        "table pantry: created",
        "table pantry-analytics: created",
        "bucket pantry-blobs: created",
    ] {
        assert!(out.contains(line), "{out}");
    }
    let (ok, out, err) = run_bin(&["init-aws"], &env);
    assert!(ok, "{err}");
    assert!(
        !out.contains("created") && out.matches("exists").count() == 3,
        "{out}"
    );

    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Some(BinServer::start(dir_a.path(), &env));
    let b = BinServer::start(dir_b.path(), &env);
    let a_url = a.as_ref().unwrap().url.clone();
    let client = reqwest::Client::new();

    // A token made through A authenticates on B at once: both read the same table.
    let (ok, out, err) = run_bin(
        &[
            "token",
            "create",
            "--user",
            "ci",
            "--service",
            "--json",
            "--url",
            &a_url,
        ],
        &[("PANTRY_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    assert!(ok, "{err}");
    let token = serde_json::from_str::<Value>(&out).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let whoami = client
        .get(format!("{}/npm/-/whoami", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 200);

    // Published with npm through A, installed with npm through B.
    let npm = tools().npm.clone();
    let on_a = Sandbox::at(&a_url);
    on_a.write_npmrc(Some(&token));
    let lib = on_a.package(
        "lib",
        json!({"name": "shared-lib", "version": "1.0.0", "description": "published on A"}),
    );
    on_a.ok(&npm, &["publish"], &lib).await;
    let on_b = Sandbox::at(&b.url);
    on_b.write_npmrc(Some(&token));
    let project = on_b.package(
        "project",
        json!({"name": "project", "version": "1.0.0", "private": true, "dependencies": {"shared-lib": "1.0.0"}}),
    );
    on_b.ok(&npm, &["install"], &project).await;
    assert!(project.join("node_modules/shared-lib/index.js").exists());
    let lock = std::fs::read_to_string(project.join("package-lock.json")).unwrap();
    assert!(
        lock.contains(&b.url),
        "B's own address in the lockfile: {lock}"
    );

    // 20 publishes of one version, spread over both instances: exactly one wins.
    let urls = [a_url.clone(), b.url.clone()];
    let races = (0..20).map(|i| {
        let (client, url, token) = (client.clone(), urls[i % 2].clone(), token.clone());
        async move {
            publish_over_http(&client, &url, &token, "raced", "1.0.0")
                .await
                .unwrap()
                .0
        }
    });
    let mut statuses = futures_util::future::join_all(races).await;
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );

    // B has the packument cached; a deprecation through A replaces it there.
    let packument = format!("{}/npm/shared-lib", b.url);
    let (status, before) = get_json(&client, &packument).await;
    assert_eq!(status, 200);
    assert!(before["versions"]["1.0.0"]["deprecated"].is_null());
    on_a.ok(&npm, &["deprecate", "shared-lib@1.0.0", "use 2.x"], &lib)
        .await;
    let deprecated = within_deadline("the deprecation on B", async || {
        get_json(&client, &packument).await.1["versions"]["1.0.0"]["deprecated"] == "use 2.x"
    })
    .await;
    // A package new on A is found by B's search.
    let (status, _) = publish_over_http(&client, &a_url, &token, "fresh-on-a", "1.0.0")
        .await
        .unwrap();
    assert_eq!(status, 201);
    let searched = within_deadline("the new package in B's search", async || {
        let (_, found) = get_json(&client, &format!("{}/search?q=fresh-on-a", b.url)).await;
        found["results"]
            .as_array()
            .is_some_and(|r| r.iter().any(|p| p["name"] == "fresh-on-a"))
    })
    .await;
    eprintln!(
        "followed on B: deprecation after {deprecated:?}, new package searchable after {searched:?}"
    );

    // A dies in the middle of a run of publishes: every one it acknowledged is served by B.
    let acknowledged_so_far = Arc::new(AtomicUsize::new(0));
    let publishing = tokio::spawn({
        let (client, url, token) = (client.clone(), a_url.clone(), token.clone());
        let acknowledged_so_far = acknowledged_so_far.clone();
        async move {
            let mut acknowledged = Vec::new();
            for minor in 0..1000 {
                let version = format!("2.{minor}.0");
                match publish_over_http(&client, &url, &token, "survivor", &version).await {
                    Ok((201, tgz)) => acknowledged.push((version, tgz)),
                    _ => break,
                }
                acknowledged_so_far.fetch_add(1, Ordering::SeqCst);
            }
            acknowledged
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged_so_far.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.take().unwrap().kill();
    let acknowledged = publishing.await.unwrap();
    assert!(
        acknowledged.len() >= 3,
        "A acknowledged {} publishes",
        acknowledged.len()
    );
    eprintln!(
        "A acknowledged {} publishes before it was killed",
        acknowledged.len()
    );
    // B may still serve the packument it rendered before A's last publishes: it drops that
    // rendering when it reads them in the change feed, within the follow deadline.
    let survivor = format!("{}/npm/survivor", b.url);
    let followed = within_deadline("every acknowledged publish on B", async || {
        let (status, doc) = get_json(&client, &survivor).await;
        status == 200
            && acknowledged
                .iter()
                .all(|(version, _)| doc["versions"][version].is_object())
    })
    .await;
    eprintln!("B served every acknowledged publish {followed:?} after A was killed");
    for (version, tgz) in &acknowledged {
        let served = client
            .get(format!("{}/npm/survivor/-/survivor-{version}.tgz", b.url))
            .send()
            .await
            .unwrap();
        assert_eq!(served.status(), 200, "{version}");
        assert_eq!(
            served.bytes().await.unwrap().as_ref(),
            tgz.as_slice(),
            "{version}"
        );
    }
    assert_eq!(
        client
            .get(format!("{}/health", b.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // With the table unreachable, B answers what needs it with a JSON 503 and Retry-After.
    drop(moto);
    let outage = client
        .get(format!("{}/npm/not-cached-anywhere", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(outage.status(), 503);
    assert!(outage.headers().contains_key("retry-after"));
    let body: Value = outage.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("unavailable")),
        "{body}"
    );

    // The instances' own disks hold no metadata and no tarball: only search indexes.
    for dir in [dir_a.path(), dir_b.path()] {
        assert!(!dir.join("registry.redb").exists());
        assert!(!dir.join("blobs").exists());
    }
}

/// gc on a shared store waits before deleting and reads the records again: a tarball whose
/// bytes were already in the bucket, published (on any instance) while gc waits, keeps its
/// blob, and only what no record names by the end goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_on_a_shared_store_keeps_what_is_published_while_it_waits() {
    use pantry_registry::blobs::BlobKey;
    let moto = common::s3::Moto::start("gc-blobs").await;
    let settings = moto.dynamo_settings("gc");
    pantry_registry::store::dynamo::DynamoStore::init(&settings)
        .await
        .unwrap();
    let endpoint: &'static str = Box::leak(moto.endpoint.clone().into_boxed_str());
    let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
        ("storage.dynamodb_table", "gc"),
        ("storage.dynamodb_endpoint", endpoint),
        ("storage.dynamodb_region", "us-east-1"),
        ("storage.dynamodb_access_key_id", "testing"),
        ("storage.dynamodb_secret_access_key", "testing"),
        ("storage.s3_bucket", "gc-blobs"),
        ("storage.s3_endpoint", endpoint),
        ("storage.s3_region", "us-east-1"),
        ("storage.s3_access_key_id", "testing"),
        ("storage.s3_secret_access_key", "testing"),
        ("storage.gc_grace_secs", "8"),
    ]));
    let app = common::TestApp::start_with(common::with_settings(pairs)).await;
    // The bytes `late@1.0.0` will be published with are in the bucket before its record is.
    let tgz = common::npm_tarball(&json!({"name": "late", "version": "1.0.0"}));
    let key = BlobKey::parse(&common::sha256_hex(&tgz)).unwrap();
    app.blobs.put(&key, tgz.clone().into()).await.unwrap();
    let stray = b"bytes no record will ever name".to_vec();
    let stray_key = BlobKey::parse(&common::sha256_hex(&stray)).unwrap();
    app.blobs.put(&stray_key, stray.into()).await.unwrap();

    let client = reqwest::Client::new();
    let job: Value = client
        .post(format!("{}/-/admin/jobs", app.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"kind": "gc"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_url = format!("{}/-/admin/jobs/{}", app.url, job["id"].as_str().unwrap());
    let read_job = async || -> Value {
        client
            .get(&job_url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    within_deadline("gc waiting for uploads in flight", async || {
        read_job().await["progress"]
            .as_str()
            .is_some_and(|p| p.contains("waiting"))
    })
    .await;
    let (published, _) = app.publish(&app.tokens.alice, "late", "1.0.0").await;
    assert_eq!(published.status, 201, "{}", published.json());
    within_deadline("gc done", async || read_job().await["state"] == "done").await;
    let report = read_job().await["result"].clone();
    let deleted: Vec<&str> = report["unreferenced"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["blob"].as_str())
        .collect();
    assert_eq!(deleted, vec![stray_key.as_str()], "{report}");
    let served = app.get("/npm/late/-/late-1.0.0.tgz").await;
    assert_eq!(served.status, 200);
    assert!(matches!(
        app.blobs.open(&stray_key).await,
        Err(pantry_registry::blobs::BlobError::Missing(_))
    ));
    assert_eq!(served.body, tgz);
}
