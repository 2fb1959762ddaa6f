//! `backup` and `restore`: a backup taken from a running server while eight clients keep
//! publishing restores into a fresh data directory that `verify` finds whole and that serves
//! every package acknowledged before the backup started, byte for byte; an incremental backup
//! holds only the new blobs and restores with its base; damaged, truncated and misdirected
//! archives are refused with their reason; and a backup moves a registry onto DynamoDB + S3
//! (a real moto server) and back off it, read there page by page.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use common::{BinServer, TestApp, run_bin};

/// The binary run on the blocking pool, so that the in-process server keeps serving meanwhile.
async fn cli(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_bin(&args, &envs)
    })
    .await
    .unwrap()
}

/// A version someone published, and when the registry said so.
#[derive(Clone)]
struct Acked {
    name: String,
    version: String,
    tarball: Vec<u8>,
    at: Instant,
}

/// The tarball `name@version` as the registry at `url` serves it.
async fn tarball(client: &reqwest::Client, url: &str, name: &str, version: &str) -> (u16, Vec<u8>) {
    let r = client
        .get(format!("{url}/packages/{name}/{version}/tarball"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_a_publish_load_restores_whole_and_byte_identical() {
    let app = TestApp::start().await;
    let alice = app.tokens.alice.clone();
    let mut settled = Vec::new();
    for i in 0..6 {
        for version in ["1.0.0", "1.1.0"] {
            let name = format!("base-{i}");
            let (r, tarball) = app.publish(&alice, &name, version).await;
            assert_eq!(r.status, 201);
            settled.push(Acked {
                name,
                version: version.into(),
                tarball,
                at: Instant::now(),
            });
        }
    }
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    let zig = app.get("/zig/packages/plain_pkg/1.0.0/tarball").await;
    assert_eq!(zig.status, 200);

    // Eight clients publish new versions as fast as they are answered, all through the backup.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Vec::<Acked>::new()));
    let mut clients = Vec::new();
    for c in 0..8 {
        let (stop, acked) = (stop.clone(), acked.clone());
        let (url, token) = (app.url.clone(), alice.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let name = format!("load-{c}");
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let version = format!("1.0.{n}");
                let (status, tarball) =
                    common::publish_over_http(&client, &url, &token, &name, &version)
                        .await
                        .unwrap();
                assert_eq!(status, 201, "{name}@{version}");
                acked.lock().unwrap().push(Acked {
                    name: name.clone(),
                    version,
                    tarball,
                    at: Instant::now(),
                });
            }
        }));
    }
    // Publishes are being acknowledged before the backup begins.
    let loading = Instant::now();
    while acked.lock().unwrap().is_empty() {
        assert!(
            loading.elapsed() < std::time::Duration::from_secs(60),
            "no publish was acknowledged in a minute"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let scratch = tempfile::tempdir().unwrap();
    let full = scratch.path().join("full.tar");
    // A backup is short: on a busy machine it can end before any publish in flight is
    // answered. Then it is taken again (the load goes on), so that publishes are known to
    // have been acknowledged while the one checked below ran (up to ten times).
    let mut attempts = 0;
    let (started, finished, ok, out, err) = loop {
        attempts += 1;
        let _ = std::fs::remove_file(&full);
        let started = Instant::now();
        let (ok, out, err) = cli(
            &[
                "backup",
                full.to_str().unwrap(),
                "--data-dir",
                app.dir.path().to_str().unwrap(),
            ],
            &[],
        )
        .await;
        let finished = Instant::now();
        // Answers that were on their way when the backup ended.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let during = acked
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.at >= started && a.at <= finished)
            .count();
        if !ok || during > 0 || attempts == 10 {
            break (started, finished, ok, out, err);
        }
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    assert!(ok, "{out}{err}");
    assert!(err.contains("Acting on the running server"), "{err}");
    assert!(out.contains("one snapshot"), "{out}");
    assert!(!scratch.path().join("full.tar.partial").exists());
    let acked = acked.lock().unwrap().clone();
    let before: Vec<&Acked> = acked.iter().filter(|a| a.at < started).collect();
    let during = acked
        .iter()
        .filter(|a| a.at >= started && a.at <= finished)
        .count();
    eprintln!(
        "{} versions acknowledged before the backup began, {during} while it ran ({} ms, attempt {attempts})",
        before.len(),
        (finished - started).as_millis()
    );
    assert!(
        !before.is_empty(),
        "publishes were acknowledged before the backup"
    );
    assert!(during > 0, "publishing went on while the backup ran");

    // The archive is a tar any tool reads: manifest, records, then the blobs.
    let listing = std::process::Command::new("tar")
        .arg("tf")
        .arg(&full)
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    let mut entries = listing.lines();
    assert_eq!(entries.next(), Some("pantry-backup.json"));
    assert_eq!(entries.next(), Some("records.ndjson.zst"));
    assert!(entries.all(|e| e.starts_with("blobs/")), "{listing}");

    // Restored into a fresh data directory: whole, and serving what was acknowledged.
    let restored_dir = tempfile::tempdir().unwrap();
    let restored_path = restored_dir.path().to_str().unwrap();
    let (ok, out, err) = cli(
        &[
            "restore",
            full.to_str().unwrap(),
            "--data-dir",
            restored_path,
        ],
        &[],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("every one checked against its hash"), "{out}");
    let (ok, out, err) = cli(&["verify", "--data-dir", restored_path], &[]).await;
    assert!(ok, "the restored registry verifies: {out}{err}");
    assert!(out.contains("everything is whole"), "{out}");

    let server = BinServer::start(restored_dir.path(), &[]);
    let client = reqwest::Client::new();
    for a in settled.iter().chain(before.iter().copied()) {
        let (status, bytes) = tarball(&client, &server.url, &a.name, &a.version).await;
        assert_eq!(
            status, 200,
            "{}@{} was acknowledged before the backup",
            a.name, a.version
        );
        assert!(
            bytes == a.tarball,
            "{}@{} is byte-identical",
            a.name,
            a.version
        );
    }
    let zig_restored = client
        .get(format!(
            "{}/zig/packages/plain_pkg/1.0.0/tarball",
            server.url
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        zig_restored == zig.body,
        "the Zig archive is byte-identical"
    );
    // Accounts and tokens came along: alice's token publishes on the restored registry, and
    // the version numbers in the backup stay taken.
    let (status, _) =
        common::publish_over_http(&client, &server.url, &alice, "after-restore", "1.0.0")
            .await
            .unwrap();
    assert_eq!(status, 201);
    let (status, _) = common::publish_over_http(&client, &server.url, &alice, "base-0", "1.0.0")
        .await
        .unwrap();
    assert_eq!(status, 409);
    let search: serde_json::Value = client
        .get(format!("{}/search?q=base-3", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        search.to_string().contains("base-3"),
        "the search index was rebuilt: {search}"
    );
    drop(server);

    // Into a registry that holds something already: refused, and nothing changes.
    let (ok, _, err) = cli(
        &[
            "restore",
            full.to_str().unwrap(),
            "--data-dir",
            restored_path,
        ],
        &[],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("not empty"), "{err}");
    // Into a data directory a server runs on: refused.
    let (ok, _, err) = cli(
        &[
            "restore",
            full.to_str().unwrap(),
            "--data-dir",
            app.dir.path().to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("stop it first"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_backups_and_damaged_archives() {
    let app = TestApp::start().await;
    let alice = app.tokens.alice.clone();
    let mut published = Vec::new();
    for name in ["one", "two", "three"] {
        let (r, tarball) = app.publish(&alice, name, "1.0.0").await;
        assert_eq!(r.status, 201);
        published.push((name, tarball));
    }
    let scratch = tempfile::tempdir().unwrap();
    let path = |f: &str| scratch.path().join(f).to_str().unwrap().to_string();
    let data = app.dir.path().to_str().unwrap().to_string();
    let (ok, out, err) = cli(&["backup", &path("full.tar"), "--data-dir", &data], &[]).await;
    assert!(ok, "{out}{err}");

    // Over HTTP with an admin token, as from another machine: an incremental backup on top of
    // the full one holds only the blob published since.
    let (r, four) = app.publish(&alice, "four", "1.0.0").await;
    assert_eq!(r.status, 201);
    published.push(("four", four.clone()));
    let elsewhere = tempfile::tempdir().unwrap();
    let (ok, out, err) = cli(
        &[
            "backup",
            &path("inc.tar"),
            "--incremental",
            &path("full.tar"),
            "--url",
            &app.url,
            "--data-dir",
            elsewhere.path().to_str().unwrap(),
            "--json",
        ],
        &[("PANTRY_ADMIN_TOKEN", common::ADMIN_TOKEN)],
    )
    .await;
    assert!(ok, "{out}{err}");
    let manifest: serde_json::Value = serde_json::from_str(&out).unwrap();
    let here: Vec<&str> = manifest["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["key"].as_str().unwrap())
        .collect();
    assert_eq!(here, [common::sha256_hex(&four)], "{manifest}");
    assert_eq!(manifest["blobsInBase"].as_array().unwrap().len(), 3);
    assert_eq!(manifest["records"]["counts"]["packages"], 4);
    assert!(
        std::fs::metadata(path("inc.tar")).unwrap().len()
            < std::fs::metadata(path("full.tar")).unwrap().len()
    );
    // No admin token, no backup.
    let r = app.get("/-/admin/backup").await;
    assert_eq!(r.status, 401);

    // An incremental backup alone is not enough; with its base, everything comes back.
    let target = tempfile::tempdir().unwrap();
    let target_path = target.path().to_str().unwrap();
    let (ok, _, err) = cli(
        &["restore", &path("inc.tar"), "--data-dir", target_path],
        &[],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("pass that backup too, with --base"), "{err}");
    let (ok, out, err) = cli(
        &[
            "restore",
            &path("inc.tar"),
            "--base",
            &path("full.tar"),
            "--data-dir",
            target_path,
        ],
        &[],
    )
    .await;
    assert!(ok, "{out}{err}");
    let server = BinServer::start(target.path(), &[]);
    let client = reqwest::Client::new();
    for (name, bytes) in &published {
        let (status, served) = tarball(&client, &server.url, name, "1.0.0").await;
        assert_eq!(status, 200, "{name}");
        assert!(&served == bytes, "{name} is byte-identical");
    }
    drop(server);

    // One flipped byte in a blob: --check names it, and a restore stores no record.
    let mut damaged = std::fs::read(path("full.tar")).unwrap();
    let victim = common::sha256_hex(&published[1].1);
    let at =
        find(&damaged, published[1].1.as_slice()).expect("the blob's bytes are in the archive");
    damaged[at + 40] ^= 0x01;
    std::fs::write(path("damaged.tar"), &damaged).unwrap();
    let (ok, _, err) = cli(&["restore", "--check", &path("damaged.tar")], &[]).await;
    assert!(!ok);
    assert!(err.contains(&format!("blobs/{victim} hashes to")), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let empty_path = empty.path().to_str().unwrap();
    let (ok, _, err) = cli(
        &["restore", &path("damaged.tar"), "--data-dir", empty_path],
        &[],
    )
    .await;
    assert!(!ok, "{err}");
    assert!(err.contains("damaged"), "{err}");
    let (_, out, _) = cli(&["verify", "--data-dir", empty_path, "--json"], &[]).await;
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["checked"], 0, "no record names a blob: {out}");

    // Cut short (as when a backup stream breaks): truncated, said so.
    std::fs::write(path("short.tar"), &damaged[..damaged.len() / 2]).unwrap();
    let (ok, _, err) = cli(&["restore", "--check", &path("short.tar")], &[]).await;
    assert!(!ok);
    assert!(err.contains("truncated"), "{err}");
    // Not a backup at all.
    std::fs::write(
        path("other.tar"),
        b"just some bytes, not a tar archive at all",
    )
    .unwrap();
    let (ok, _, err) = cli(&["restore", "--check", &path("other.tar")], &[]).await;
    assert!(!ok);
    assert!(err.contains("other.tar"), "{err}");
    // The whole one checks out.
    let (ok, out, err) = cli(&["restore", "--check", &path("full.tar")], &[]).await;
    assert!(ok, "{err}");
    assert!(out.contains("Every hash checks out"), "{out}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The environment that puts the command line on DynamoDB + S3 at `endpoint`.
fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DYNAMODB_TABLE", "restored".into()),
        ("S3_BUCKET", "restored-blobs".into()),
        ("AWS_ENDPOINT_URL", endpoint.into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_moves_a_registry_onto_dynamodb_and_s3_and_back() {
    let app = TestApp::start().await;
    let alice = app.tokens.alice.clone();
    let (r, alpha) = app.publish(&alice, "alpha", "1.0.0").await;
    assert_eq!(r.status, 201);
    let (r, beta) = app.publish(&alice, "@s/beta", "2.0.0").await;
    assert_eq!(r.status, 201);
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    let scratch = tempfile::tempdir().unwrap();
    let path = |f: &str| scratch.path().join(f).to_str().unwrap().to_string();
    let data = app.dir.path().to_str().unwrap().to_string();
    let (ok, out, err) = cli(&["backup", &path("local.tar"), "--data-dir", &data], &[]).await;
    assert!(ok, "{out}{err}");

    let moto = common::s3::Moto::start("unused").await;
    let env = aws_env(&moto.endpoint);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let aws_dir = tempfile::tempdir().unwrap();
    let aws_data = aws_dir.path().to_str().unwrap();
    let (ok, out, err) = cli(&["init-aws", "--data-dir", aws_data], &env).await;
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cli(
        &["restore", &path("local.tar"), "--data-dir", aws_data],
        &env,
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(err.contains("DynamoDB + S3"), "{err}");
    let (ok, out, err) = cli(&["verify", "--data-dir", aws_data], &env).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("Verified 3 blobs") && out.contains("everything is whole"),
        "{out}"
    );
    // Nothing landed on the disk: the records are in the table, the blobs in the bucket.
    assert!(!aws_dir.path().join("registry.redb").exists());

    // Served from DynamoDB + S3.
    let server = BinServer::start(aws_dir.path(), &env);
    let client = reqwest::Client::new();
    let (status, served) = tarball(&client, &server.url, "alpha", "1.0.0").await;
    assert_eq!(status, 200);
    assert!(served == alpha);
    let (status, served) = tarball(&client, &server.url, "@s/beta", "2.0.0").await;
    assert_eq!(status, 200);
    assert!(served == beta);

    // A backup of the DynamoDB registry (read page by page, each package at one revision),
    // restored back onto disk.
    let (ok, out, err) = cli(&["backup", &path("aws.tar"), "--data-dir", aws_data], &env).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("DynamoDB + S3, each package at one revision"),
        "{out}"
    );
    drop(server);
    let back = tempfile::tempdir().unwrap();
    let back_path = back.path().to_str().unwrap();
    let (ok, out, err) = cli(&["restore", &path("aws.tar"), "--data-dir", back_path], &[]).await;
    assert!(ok, "{out}{err}");
    let server = BinServer::start(back.path(), &[]);
    let (status, served) = tarball(&client, &server.url, "@s/beta", "2.0.0").await;
    assert_eq!(status, 200);
    assert!(served == beta);
    let zig = client
        .get(format!("{}/zig/packages/plain_pkg", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(zig.status(), 200);
}
