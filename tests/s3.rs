//! The registry with its tarballs in a real S3-compatible bucket (moto on 127.0.0.1): real npm
//! publishes and installs, downloads stream from the bucket, and nothing lands on local disk.

use crate::common;

use common::sandbox::Sandbox;
use common::tools::tools;
use common::{TestApp, sha256_hex, with_settings};
use pantry_registry::blobs::BlobStore;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_publishes_and_installs_with_tarballs_in_the_bucket() {
    let moto = common::s3::Moto::start("registry").await;
    let settings = moto.bucket_settings("registry", &[]);
    let app = TestApp::start_with(with_settings(settings)).await;
    let sb = Sandbox::new(&app);
    sb.write_npmrc(Some(&app.tokens.alice));
    let npm = tools().npm.clone();
    let lib = sb.package(
        "lib",
        json!({"name": "@s3/lib", "version": "1.0.0", "description": "kept in a bucket"}),
    );
    sb.ok(&npm, &["publish"], &lib).await;
    let project = sb.package(
        "project",
        json!({"name": "project", "version": "1.0.0", "private": true, "dependencies": {"@s3/lib": "1.0.0"}}),
    );
    sb.ok(&npm, &["install"], &project).await;
    assert!(project.join("node_modules/@s3/lib/index.js").exists());

    // The tarball is the bucket's object, byte for byte; the data directory holds no blob.
    let served = app
        .client
        .get(format!("{}/npm/@s3/lib/-/lib-1.0.0.tgz", app.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let bucket = pantry_registry::blobs::s3::S3BlobStore::open(&moto.settings("registry")).unwrap();
    let listed = bucket.list().await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|(k, s)| (k.as_str().to_string(), *s))
            .collect::<Vec<_>>(),
        vec![(sha256_hex(&served), served.len() as u64)]
    );
    assert!(!app.dir.path().join("blobs").exists());
    // A range comes from the bucket too.
    let part = app
        .client
        .get(format!("{}/packages/@s3/lib/1.0.0/tarball", app.url))
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap(), served.slice(0..10));
}

/// With `storage.s3_redirect`, a download of a tarball published here is a 307 to a presigned
/// URL of its object: npm installs through it, the bytes come from the bucket, and the
/// download is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_redirect_to_presigned_urls_when_asked() {
    let moto = common::s3::Moto::start("direct").await;
    let endpoint = moto.endpoint.clone();
    let settings = moto.bucket_settings("direct", &[("storage.s3_redirect", "true")]);
    let app = TestApp::start_with(with_settings(settings)).await;
    let sb = Sandbox::new(&app);
    sb.write_npmrc(Some(&app.tokens.alice));
    let npm = tools().npm.clone();
    let lib = sb.package(
        "lib",
        json!({"name": "@s3/big", "version": "1.0.0", "description": "over 64 KiB"}),
    );
    // Incompressible, so the tarball stays past the size kept in memory.
    std::fs::write(lib.join("noise.bin"), common::incompressible(200_000, 3)).unwrap();
    sb.ok(&npm, &["publish"], &lib).await;

    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/npm/@s3/big/-/big-1.0.0.tgz",
        "/packages/@s3/big/1.0.0/tarball",
    ] {
        let answer = no_follow
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 307, "{path}");
        let location = answer.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(&endpoint), "{location}");
        assert!(location.contains("X-Amz-Signature"), "{location}");
        let bytes = reqwest::get(&location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(bytes.len() > 64 * 1024);
        let version: serde_json::Value = app.get("/npm/@s3/big/1.0.0").await.json();
        assert_eq!(
            version["dist"]["shasum"].as_str().unwrap(),
            {
                use sha1::Digest;
                hex::encode(sha1::Sha1::digest(&bytes))
            },
            "the bucket's bytes are the tarball's"
        );
    }
    // A fresh sandbox: npm's cache from the publish must not stand in for the download.
    let installer = Sandbox::new(&app);
    let project = installer.package(
        "project",
        json!({"name": "project", "version": "1.0.0", "private": true, "dependencies": {"@s3/big": "1.0.0"}}),
    );
    installer.ok(&npm, &["install"], &project).await;
    assert!(project.join("node_modules/@s3/big/noise.bin").exists());
    // The two redirects and npm's download are each counted.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let counted: serde_json::Value = app.get("/downloads/point/last-week/@s3/big").await.json();
    assert_eq!(counted["downloads"], 3, "{counted}");
}
