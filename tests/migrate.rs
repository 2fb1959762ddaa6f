//! Moving a registry between its back ends with `pantry-registry migrate`: a populated redb +
//! disk registry (npm packages with a deprecation, a dist-tag and an unpublished version, a
//! wholly unpublished name, a Zig package, users, tokens, downloads, the audit log) goes to
//! DynamoDB + S3 on a real moto server and back to an empty data directory. Each time the
//! destination serves the same packuments, versions, Zig package and counts, byte-identical
//! tarballs, the same tokens, and refuses the same unpublished numbers; running a migration
//! again copies nothing.

use crate::common;

use common::{TestApp, run_bin, with_settings};
use reqwest::Method;
use serde_json::{Value, json};

/// The settings that put a registry on the moto server at `endpoint`.
fn aws_settings(endpoint: &'static str) -> &'static [(&'static str, &'static str)] {
    Box::leak(Box::new([
        ("storage.dynamodb_table", "moved"),
        ("storage.dynamodb_endpoint", endpoint),
        ("storage.dynamodb_region", "us-east-1"),
        ("storage.dynamodb_access_key_id", "testing"),
        ("storage.dynamodb_secret_access_key", "testing"),
        ("storage.s3_bucket", "moved-blobs"),
        ("storage.s3_endpoint", endpoint),
        ("storage.s3_region", "us-east-1"),
        ("storage.s3_access_key_id", "testing"),
        ("storage.s3_secret_access_key", "testing"),
    ]))
}

/// The same for the command line.
fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DYNAMODB_TABLE", "moved".into()),
        ("S3_BUCKET", "moved-blobs".into()),
        ("AWS_ENDPOINT_URL", endpoint.into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
    ]
}

fn migrate(to: &str, data_dir: &std::path::Path, env: &[(&'static str, String)]) -> String {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = data_dir.to_str().unwrap();
    let (ok, out, err) = run_bin(&["migrate", "--to", to, "--data-dir", dir], &env);
    assert!(ok, "migrate --to {to}: {err}");
    out
}

/// What a client sees of the registry, with the registry's own address taken out.
async fn view(app: &TestApp, tarballs: &[(&str, &str)]) -> Value {
    let mut seen = serde_json::Map::new();
    for path in [
        "/npm/alpha",
        "/npm/@s/beta",
        "/npm/gone",
        "/packages/alpha/versions",
        "/zig/packages/plain_pkg",
        "/downloads/point/last-week/alpha",
        "/analytics/alpha",
    ] {
        let r = app.get(path).await;
        let text = String::from_utf8(r.body.clone())
            .unwrap()
            .replace(&app.url, "<registry>");
        seen.insert(
            path.to_string(),
            json!({"status": r.status.as_u16(), "body": serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)}),
        );
    }
    // Read as a range of the whole, which is not counted: looking must not change the counts.
    for (name, file) in tarballs {
        let r = app
            .client
            .get(format!("{}/npm/{name}/-/{file}", app.url))
            .header("range", "bytes=0-")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.bytes().await.unwrap();
        seen.insert(
            file.to_string(),
            json!({"status": status, "sha256": common::sha256_hex(&body)}),
        );
    }
    Value::Object(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_moves_to_dynamodb_and_s3_and_back_unchanged() {
    common::avoid_midnight().await;
    let moto = common::s3::Moto::start("unused").await;
    let endpoint: &'static str = Box::leak(moto.endpoint.clone().into_boxed_str());
    let env = aws_env(endpoint);

    // A registry on redb and disk, with one of everything.
    let mut app = TestApp::start().await;
    let alice = app.tokens.alice.clone();
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        assert_eq!(
            app.npm_publish(&alice, "alpha", version, "latest")
                .await
                .0
                .status,
            201
        );
    }
    assert_eq!(
        app.npm_publish(&alice, "@s/beta", "1.0.0", "latest")
            .await
            .0
            .status,
        201
    );
    assert_eq!(
        app.npm_publish(&alice, "gone", "1.0.0", "latest")
            .await
            .0
            .status,
        201
    );
    let doc = |app: &TestApp, name: &'static str| {
        let app_url = app.url.clone();
        async move {
            reqwest::get(format!("{app_url}/npm/{name}"))
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let mut d = doc(&app, "alpha").await;
    d["versions"]["1.0.0"]["deprecated"] = json!("use 2");
    assert_eq!(
        app.npm(Method::PUT, "/alpha", Some(&alice), Some(d))
            .await
            .status,
        201
    );
    let tagged = app
        .npm(
            Method::PUT,
            "/-/package/alpha/dist-tags/beta",
            Some(&alice),
            Some(json!("1.1.0")),
        )
        .await;
    assert!(tagged.status.is_success(), "{}", tagged.json());
    // One version of alpha unpublished (its number stays used), and the whole of gone (its name
    // stays with its owners).
    let mut d = doc(&app, "alpha").await;
    let rev = d["_rev"].as_str().unwrap().to_string();
    d["versions"].as_object_mut().unwrap().remove("1.1.0");
    d["dist-tags"].as_object_mut().unwrap().remove("beta");
    assert_eq!(
        app.npm(
            Method::PUT,
            &format!("/alpha/-rev/{rev}"),
            Some(&alice),
            Some(d)
        )
        .await
        .status,
        201
    );
    let rev = doc(&app, "gone").await["_rev"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.npm(
            Method::DELETE,
            &format!("/gone/-rev/{rev}"),
            Some(&alice),
            None
        )
        .await
        .status,
        200
    );
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    for _ in 0..3 {
        assert_eq!(app.get("/npm/alpha/-/alpha-2.0.0.tgz").await.status, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let tarballs = [
        ("alpha", "alpha-1.0.0.tgz"),
        ("alpha", "alpha-2.0.0.tgz"),
        ("@s/beta", "beta-1.0.0.tgz"),
    ];
    let before = view(&app, &tarballs).await;
    assert_eq!(
        before["/npm/alpha"]["body"]["versions"]["1.0.0"]["deprecated"],
        "use 2"
    );
    assert_eq!(before["/npm/gone"]["status"], 404);
    assert_eq!(
        before["/downloads/point/last-week/alpha"]["body"]["downloads"],
        3
    );
    let reader = app.tokens.reader.clone();
    app.stop().await;
    let local_dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());

    // To DynamoDB and S3.
    let out = migrate("aws", local_dir.path(), &env);
    assert!(
        out.contains("Migrated and verified: 2 npm packages (3 versions, 1 unpublished)"),
        "{out}"
    );
    assert!(out.contains("1 Zig packages (1 versions)"), "{out}");
    let again = migrate("aws", local_dir.path(), &env);
    assert!(
        again.contains("0 copied, 0 bytes"),
        "a second run copies nothing: {again}"
    );
    let on_aws = TestApp::start_with(with_settings(aws_settings(endpoint))).await;
    assert_eq!(view(&on_aws, &tarballs).await, before);
    assert_tokens_and_numbers_moved(&on_aws, &reader).await;
    let mut on_aws = on_aws;
    on_aws.stop().await;

    // And back, into an empty data directory.
    let back = tempfile::tempdir().unwrap();
    let out = migrate("local", back.path(), &env);
    assert!(
        out.contains("2 npm packages (3 versions, 1 unpublished)"),
        "{out}"
    );
    let on_disk = TestApp::start_in(back, |b| b).await;
    assert_eq!(view(&on_disk, &tarballs).await, before);
    assert_tokens_and_numbers_moved(&on_disk, &reader).await;
}

/// A token made before the move still reads, and the numbers unpublished before it stay used.
async fn assert_tokens_and_numbers_moved(app: &TestApp, old_reader: &str) {
    let whoami = app
        .npm(Method::GET, "/-/whoami", Some(old_reader), None)
        .await;
    assert_eq!(whoami.status, 200, "{}", whoami.json());
    let (again, _) = app.publish(&app.tokens.alice, "alpha", "1.1.0").await;
    assert!(again.error(409).contains("unpublished"));
    let (taken, _) = app.publish(&app.tokens.bob, "gone", "9.0.0").await;
    assert!(taken.error(403).contains("not an owner"));
}
