//! The built binary as a user runs it: restart persistence, a SIGKILL in the middle of a stream
//! of publishes, graceful shutdown, token management from the command line, and configuration.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{BinServer, bin_path, npm_tarball, publish_over_http as publish, run_bin, sha256_hex};
use serde_json::json;

const ADMIN: &str = "binary-test-admin-token";

#[tokio::test]
async fn data_survives_a_restart_and_still_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = BinServer::start(dir.path(), &[("PANTRY_REGISTRY_TOKEN", ADMIN)]);
    let (s1, t1) = publish(&client, &server.url, ADMIN, "persist", "1.0.0")
        .await
        .unwrap();
    let (s2, t2) = publish(&client, &server.url, ADMIN, "@keep/me", "0.2.0")
        .await
        .unwrap();
    assert_eq!((s1, s2), (201, 201));
    let dl = client
        .get(format!("{}/packages/persist/1.0.0/tarball", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(dl.status(), 200);
    let status = server.terminate();
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");

    let server = BinServer::start(dir.path(), &[("PANTRY_REGISTRY_TOKEN", ADMIN)]);
    let meta: serde_json::Value = client
        .get(format!("{}/packages/persist", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["version"], "1.0.0");
    // With no base_url, URLs name the address the client used.
    assert!(
        meta["tarballUrl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/packages/", server.url)),
        "{meta}"
    );
    let body = client
        .get(format!("{}/packages/persist/1.0.0/tarball", server.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), t1.as_slice());
    let body = client
        .get(format!("{}/packages/@keep/me/0.2.0/tarball", server.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), t2.as_slice());
    // Ownership survives too: republishing is still refused.
    assert_eq!(
        publish(&client, &server.url, ADMIN, "persist", "1.0.0")
            .await
            .unwrap()
            .0,
        409
    );
    drop(server);

    // The download made before the restart was written at graceful shutdown.
    let store =
        pantry_registry::store::redb_store::RedbStore::open(&dir.path().join("registry.redb"))
            .unwrap();
    use pantry_registry::store::DownloadStore;
    let counts = store.downloads("persist").await.unwrap();
    assert!(
        counts.iter().map(|c| c.count).sum::<u64>() >= 1,
        "{counts:?}"
    );
}

#[tokio::test]
async fn sigkill_mid_stream_loses_no_acknowledged_publish_and_leaves_nothing_half_there() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let server = BinServer::start(dir.path(), &[("PANTRY_REGISTRY_TOKEN", ADMIN)]);
    let url = server.url.clone();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let attempted: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    // Four publishers in parallel, each a stream of versions, until the server dies.
    let mut workers = Vec::new();
    for w in 0..4 {
        let (client, url, acked, attempted) = (
            client.clone(),
            url.clone(),
            acked.clone(),
            attempted.clone(),
        );
        workers.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let version = format!("{w}.{i}.0");
                let tgz = npm_tarball(&json!({"name": "crashy", "version": version}));
                attempted
                    .lock()
                    .unwrap()
                    .push((version.clone(), sha256_hex(&tgz)));
                match publish(&client, &url, ADMIN, "crashy", &version).await {
                    Ok((201, sent)) => {
                        assert_eq!(sha256_hex(&sent), sha256_hex(&tgz));
                        acked.lock().unwrap().push((version, sha256_hex(&tgz)));
                    }
                    Ok((status, _)) => panic!("unexpected status {status}"),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    // Let a good number land, then kill without warning.
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if acked.lock().unwrap().len() >= 40 {
            break;
        }
    }
    server.kill();
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let attempted = attempted.lock().unwrap().clone();
    assert!(acked.len() >= 40);

    let server = BinServer::start(dir.path(), &[("PANTRY_REGISTRY_TOKEN", ADMIN)]);
    let get = |path: String| {
        let client = client.clone();
        let url = server.url.clone();
        async move {
            let r = client.get(format!("{url}{path}")).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    for (version, sha) in &acked {
        let (status, body) = get(format!("/packages/crashy/{version}/tarball")).await;
        assert_eq!(
            status, 200,
            "acknowledged {version} is missing after the crash"
        );
        assert_eq!(
            &sha256_hex(&body),
            sha,
            "acknowledged {version} has the wrong bytes"
        );
    }
    // Every version the store lists is complete: metadata and a tarball with the right digest.
    let (_, listed) = get("/packages/crashy/versions".into()).await;
    let listed: serde_json::Value = serde_json::from_slice(&listed).unwrap();
    let listed: Vec<String> = listed["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(listed.len() >= acked.len());
    for version in &listed {
        let (status, meta) = get(format!("/packages/crashy/{version}")).await;
        assert_eq!(status, 200);
        let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
        let (status, body) = get(format!("/packages/crashy/{version}/tarball")).await;
        assert_eq!(
            status, 200,
            "{version} is listed but its tarball is missing"
        );
        assert_eq!(meta["checksum"], format!("sha256:{}", sha256_hex(&body)));
        let sent = attempted
            .iter()
            .find(|(v, _)| v == version)
            .expect("listed versions were sent");
        assert_eq!(sent.1, sha256_hex(&body));
    }
    // Versions that were in flight are either wholly there or wholly absent.
    for (version, _) in &attempted {
        let (status, _) = get(format!("/packages/crashy/{version}")).await;
        assert!(status == 200 || status == 404);
        assert_eq!(status == 200, listed.contains(version));
    }
}

#[test]
fn token_commands_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (ok, secret, err) = run_bin(
        &[
            "token",
            "create",
            "--user",
            "dana",
            "--name",
            "laptop",
            "--scope",
            "publish",
            "--package",
            "@dana/*",
            "--expires",
            "30d",
            "--service",
            "--init",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(ok, "{err}");
    let secret = secret.trim().to_string();
    assert!(
        secret.starts_with("ptry_") && secret.len() == 69,
        "{secret}"
    );
    assert!(err.contains("shown only this once"));
    let id = created_id(&err);

    let (ok, listing, _) = run_bin(&["token", "list", "--data-dir", data], &[]);
    assert!(ok);
    assert!(
        listing.contains(&id)
            && listing.contains("dana")
            && listing.contains("laptop")
            && listing.contains("@dana/*")
    );
    assert!(!listing.contains(&secret[5..]), "list never shows secrets");
    // The secret is not stored in the clear anywhere in the data directory.
    let db = std::fs::read(dir.path().join("registry.redb")).unwrap();
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()));

    let (ok, _, err) = run_bin(
        &[
            "token",
            "create",
            "--user",
            "x",
            "--scope",
            "root",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(!ok && err.contains("root"), "{err}");
    let (ok, _, err) = run_bin(
        &[
            "token",
            "create",
            "--user",
            "x",
            "--expires",
            "tomorrow",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(!ok && err.contains("expiry"), "{err}");

    let (ok, _, _) = run_bin(&["token", "revoke", &id, "--data-dir", data], &[]);
    assert!(ok);
    let (_, listing, _) = run_bin(&["token", "list", "--data-dir", data], &[]);
    assert!(!listing.contains(&id));
    let (ok, _, err) = run_bin(&["token", "revoke", &id, "--data-dir", data], &[]);
    assert!(!ok && err.contains("no token"));
}

#[tokio::test]
async fn a_cli_token_publishes_and_a_revoked_one_stops_working() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (_, secret, err) = run_bin(
        &[
            "token",
            "create",
            "--user",
            "erin",
            "--service",
            "--init",
            "--data-dir",
            data,
        ],
        &[],
    );
    let secret = secret.trim().to_string();
    let id = created_id(&err);
    let client = reqwest::Client::new();
    let server = BinServer::start(dir.path(), &[]);
    assert_eq!(
        publish(&client, &server.url, &secret, "erins", "1.0.0")
            .await
            .unwrap()
            .0,
        201
    );
    // While the server runs, the CLI goes through it (its admin socket) instead of the locked
    // database.
    let (ok, listing, err) = run_bin(&["token", "list", "--data-dir", data], &[]);
    assert!(ok && listing.contains(&id), "{err}");
    assert!(err.contains("Acting on the running server"), "{err}");
    drop(server);
    assert!(run_bin(&["token", "revoke", &id, "--data-dir", data], &[]).0);
    let server = BinServer::start(dir.path(), &[]);
    assert_eq!(
        publish(&client, &server.url, &secret, "erins", "1.1.0")
            .await
            .unwrap()
            .0,
        401
    );
}

#[test]
fn config_show_reports_values_sources_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.toml");
    std::fs::write(&file, "[server]\nport = 4100\nbase_url = \"https://reg.example.com/\"\n[limits]\nmax_tarball_bytes = 1000\n").unwrap();
    let (ok, out, err) = run_bin(
        &[
            "config",
            "show",
            "--config",
            file.to_str().unwrap(),
            "--set",
            "limits.max_tarball_bytes=2000",
        ],
        &[
            ("PORT", "4200"),
            ("PANTRY_REGISTRY_TOKEN", "very-secret-admin-token"),
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("port = 4200  # env PORT"), "{out}");
    assert!(
        out.contains("base_url = \"https://reg.example.com/\"  # file"),
        "{out}"
    );
    assert!(out.contains("max_tarball_bytes = 2000  # flag"), "{out}");
    assert!(
        out.contains("admin_token = \"<redacted>\"  # env PANTRY_REGISTRY_TOKEN"),
        "{out}"
    );
    assert!(
        out.contains("data_dir = \"./.registry\"  # default"),
        "{out}"
    );
    assert!(!out.contains("very-secret"));
}

/// Arguments, environment, and the texts the error must contain.
type ConfigCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn bad_configuration_is_a_clear_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[limits]\nmax_tarbal_bytes = 5\n").unwrap();
    let file = file.to_str().unwrap();
    let cases: [ConfigCase; 4] = [
        (
            &["config", "show"],
            &[("PORT", "eighty")],
            &["server.port", "env PORT"],
        ),
        (
            &["serve", "--config", file],
            &[],
            &["limits.max_tarbal_bytes"],
        ),
        (
            &["serve", "--base-url", "ftp://x", "--data-dir", data],
            &[],
            &["server.base_url"],
        ),
        (
            &[
                "serve",
                "--set",
                "limits.max_tarball_bytes=0",
                "--data-dir",
                data,
            ],
            &[],
            &["limits.max_tarball_bytes"],
        ),
    ];
    for (args, envs, expected) in cases {
        let (ok, _, err) = run_bin(args, envs);
        assert!(!ok, "{args:?} should fail");
        for text in expected {
            assert!(err.contains(text), "{args:?}: {err}");
        }
    }
}

#[test]
fn first_start_without_tokens_says_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(bin_path());
    common::clean_env(&mut cmd);
    let mut child = cmd
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--data-dir",
            dir.path().to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    // Wait for the server to listen, then stop it.
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let text = reader.join().unwrap();
    assert!(text.contains("pantry-registry token create"), "{text}");
    assert!(dir.path().join("registry.redb").exists());
}

/// The token id in `token create`'s "Created token <id> …" line.
fn created_id(err: &str) -> String {
    err.split("Created token ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("token create names the token")
        .to_string()
}

/// The fenced `bash` blocks of the README's `## Quick start` section, in order.
fn quick_start_blocks() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let (_, section) = readme
        .split_once("\n## Quick start\n")
        .expect("a Quick start section");
    let section = section.split("\n## ").next().unwrap();
    section
        .split("```bash\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap().to_string())
        .collect()
}

/// The README's quick start, run as written against the built binary: the install block is the
/// one thing replaced (by this build's binary on `PATH`); the server listens on a port the system
/// picks on 127.0.0.1 instead of 3000 (`localhost:3000` in the commands follows it), and its npm fallback
/// asks an upstream on 127.0.0.1 that has nothing (tests never reach the internet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start_runs_as_written() {
    let blocks = quick_start_blocks();
    assert_eq!(blocks.len(), 3, "install, serve, use: {blocks:#?}");
    assert_eq!(blocks[0].trim(), "cargo install --path .");
    let upstream = common::upstream::FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = bin_path().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let envs = [
        ("PATH", path.as_str()),
        ("PANTRY_SERVER_HOST", "127.0.0.1"),
        ("PANTRY_NPM_UPSTREAM", upstream.url.as_str()),
    ];
    let mut serve = Command::new("bash");
    serve
        .args(["-c", &format!("exec {}", blocks[1].trim())])
        .envs(envs)
        .env("PORT", "0")
        .current_dir(dir.path());
    let log = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let server = BinServer::spawn(serve, &log);
    let url = server.url.clone();
    let script = blocks[2].replace("localhost:3000", &format!("localhost:{}", server.port));
    let sb = common::sandbox::Sandbox::at(&url);
    let mut args: Vec<String> = envs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    args.extend(["bash", "-euo", "pipefail", "-c", &script].map(str::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = sb.run(Path::new("env"), &args, dir.path()).await;
    server.kill();
    assert!(
        out.status.success(),
        "the quick start failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let installed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.path()
                .join("app/node_modules/@my-team/hello/package.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(installed["name"], "@my-team/hello");
    assert_eq!(installed["version"], "1.0.0");
}

/// Where a first hour went wrong, each answered: switches and sizes in the forms people type, a
/// message that names the parameter sent and the form expected, server flags only on `serve`,
/// and one log format per stream.
#[tokio::test]
async fn messages_and_options_take_what_people_type_and_say_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    // `0` for a switch (it was refused: only true/false were taken).
    let server = BinServer::start_logged(&data, &[("NPM_FALLBACK", "0")], &log);
    let data_arg = data.to_str().unwrap();
    // The log stream is JSON only: the no-token notice is a record, not a banner in it.
    let text = std::fs::read_to_string(&log).unwrap();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON record ({e}): {line}"));
    }
    assert!(text.contains("no tokens exist yet"), "{text}");
    // The parameter the request used, by its name.
    let (status, _, body) = common::raw_get(&server.url, "/search?q=x&limit=0").await;
    assert_eq!(status, 400);
    assert!(body.contains("`limit` must be at least 1"), "{body}");
    // Ages and sizes as typed; 0 prunes everything.
    for args in [
        &["cache", "prune", "--older-than", "2w"][..],
        &["cache", "prune", "--older-than", "0d"],
        &["cache", "prune", "--max-bytes", "10GB"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--data-dir", data_arg]);
        let (ok, _, err) = run_bin(&all, &[]);
        assert!(ok, "{args:?}: {err}");
    }
    let (ok, _, err) = run_bin(
        &[
            "cache",
            "prune",
            "--max-bytes",
            "10XB",
            "--data-dir",
            data_arg,
        ],
        &[],
    );
    assert!(!ok && err.contains("GiB"), "{err}");
    // A scope without its @: the message says what was meant.
    let (ok, _, err) = run_bin(
        &[
            "token",
            "create",
            "--user",
            "ci",
            "--service",
            "--package",
            "team/*",
            "--data-dir",
            data_arg,
        ],
        &[],
    );
    assert!(!ok && err.contains("did you mean @team/*"), "{err}");
    // Server flags only where they mean something.
    let (_, help, _) = run_bin(&["token", "--help"], &[]);
    assert!(
        !help.contains("--port") && !help.contains("--base-url"),
        "{help}"
    );
    let (_, help, _) = run_bin(&["serve", "--help"], &[]);
    assert!(
        help.contains("--port") && help.contains("--base-url"),
        "{help}"
    );
    let (ok, _, _) = run_bin(&["gc", "--port", "4000", "--data-dir", data_arg], &[]);
    assert!(!ok, "gc takes no --port");
    // Nor before the command, where it would be silently dropped.
    let (ok, _, err) = run_bin(&["--port", "4000", "gc", "--data-dir", data_arg], &[]);
    assert!(!ok && err.contains("--port is a flag of `serve`"), "{err}");
    // `config show` shows what serving with them would use.
    let (ok, out, err) = run_bin(&["--port", "4321", "config", "show"], &[]);
    assert!(ok && out.contains("4321"), "{out}{err}");
}
