//! Administration while the server runs: the admin API (`/-/admin/…`), the command line going
//! through the running server (its admin socket, or `--url` with an admin token), the audit log,
//! and the command line's care with data directories.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{BinServer, TestApp, publish_over_http, run_bin};
use serde_json::{Value, json};

const ADMIN: &str = "admin-token-for-the-admin-tests-0123456789";

/// Every admin operation in the OpenAPI document, as (method, path with sample parameters).
async fn admin_operations(app: &TestApp) -> Vec<(reqwest::Method, String)> {
    let doc = app.get("/openapi.json").await.json();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/-/admin/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{name}", "alice").replace("{id}", "nothing");
            ops.push((method.to_uppercase().parse().unwrap(), concrete));
        }
    }
    ops
}

#[tokio::test]
async fn every_admin_route_wants_an_admin_401_without_a_token_403_with_another() {
    let app = TestApp::start().await;
    let ops = admin_operations(&app).await;
    assert!(ops.len() >= 12, "the admin API is in the document: {ops:?}");
    for (method, path) in ops {
        let url = format!("{}{path}", app.url);
        let body = json!({});
        let anonymous = app
            .client
            .request(method.clone(), &url)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{method} {path} without a token");
        let error: Value = anonymous.json().await.unwrap();
        assert!(error["error"].is_string(), "{method} {path}: {error}");
        for token in [&app.tokens.alice, &app.tokens.reader] {
            let refused = app
                .client
                .request(method.clone(), &url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(
                refused.status(),
                403,
                "{method} {path} with a non-admin token"
            );
        }
    }
    // The admin token is let through (an empty body is a client error, not a refusal).
    let r = app
        .client
        .get(format!("{}/-/admin/users", app.url))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Runs the binary with `args` and `envs`, writing `stdin` to it (a password, off a terminal).
fn with_stdin(args: &[&str], envs: &[(&str, &str)], stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut cmd = std::process::Command::new(common::bin_path());
    cmd.args(args);
    common::clean_env(&mut cmd);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.as_ref().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The public id `token create` reports on stderr (`… token <id> …`).
fn created_token_id(stderr: &str) -> String {
    stderr
        .split_whitespace()
        .skip_while(|w| *w != "token")
        .nth(1)
        .expect("token create names the token's id")
        .to_string()
}

/// Runs the binary with `args` against the data directory `data`.
fn cli(data: &str, args: &[&str]) -> (bool, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data-dir", data]);
    run_bin(&all, &[])
}

// Several threads: the command line runs as blocking child processes, and the read and install
// loops must keep going meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_administers_a_running_server_through_its_socket_while_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let server = BinServer::start(dir.path(), &[("PANTRY_REGISTRY_TOKEN", ADMIN)]);
    let client = reqwest::Client::new();
    let (status, _) = publish_over_http(&client, &server.url, ADMIN, "served-pkg", "1.0.0")
        .await
        .unwrap();
    assert_eq!(status, 201);

    // The socket is the data directory owner's alone.
    let socket = dir.path().join("admin.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "admin socket mode {mode:o}");

    // Installs keep going the whole time: a loop of packument and tarball reads...
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let reads = Arc::new(AtomicUsize::new(0));
    let loop_task = tokio::spawn({
        let (stop, failures, reads) = (stop.clone(), failures.clone(), reads.clone());
        let url = server.url.clone();
        async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                for path in ["/npm/served-pkg", "/npm/served-pkg/-/served-pkg-1.0.0.tgz"] {
                    let served = match client.get(format!("{url}{path}")).send().await {
                        Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    let counter = if served { &reads } else { &failures };
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    });

    // And real `npm install`s, one after another, each into a fresh project and cache.
    let installs = Arc::new(AtomicUsize::new(0));
    let install_failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let install_task = tokio::spawn({
        let (stop, installs, install_failures) =
            (stop.clone(), installs.clone(), install_failures.clone());
        let registry = format!("{}/npm/", server.url);
        async move {
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) || round == 0 {
                round += 1;
                let sandbox = common::sandbox::Sandbox {
                    root: tempfile::tempdir().unwrap(),
                    registry: registry.clone(),
                };
                std::fs::create_dir_all(sandbox.root.path().join("home")).unwrap();
                sandbox.write_npmrc(None);
                let project = sandbox.package(
                    "project",
                    json!({"name": "project", "version": "1.0.0", "private": true}),
                );
                let npm = common::tools::tools().npm.clone();
                let out = sandbox
                    .run(&npm, &["install", "served-pkg"], &project)
                    .await;
                if out.status.success() && project.join("node_modules/served-pkg").exists() {
                    installs.fetch_add(1, Ordering::SeqCst);
                } else {
                    install_failures
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&out.stderr).into_owned());
                }
            }
        }
    });

    // A new colleague, a CI token for a service account, at once usable.
    let (ok, out, err) = run_bin(
        &[
            "user",
            "create",
            "dana",
            "--email",
            "dana@example.com",
            "--data-dir",
            &data,
        ],
        &[],
    );
    // (no password on standard input: an empty one is refused)
    assert!(!ok, "{out}{err}");
    let created = with_stdin(
        &[
            "user",
            "create",
            "dana",
            "--email",
            "dana@example.com",
            "--data-dir",
            &data,
        ],
        &[],
        b"dana-password-1\n",
    );
    let err = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success(), "{err}");
    assert!(err.contains("Acting on the running server"), "{err}");

    let (ok, secret, err) = cli(&data, &["token", "create", "--user", "ci-bot", "--service"]);
    assert!(ok, "{err}");
    assert!(err.contains("Acting on the running server"), "{err}");
    let secret = secret.trim().to_string();
    let id = created_token_id(&err);
    let (status, _) = publish_over_http(&client, &server.url, &secret, "from-ci", "1.0.0")
        .await
        .unwrap();
    assert_eq!(status, 201, "the new token publishes at once");

    let (ok, listing, err) = cli(&data, &["token", "list"]);
    assert!(ok, "{err}");
    assert!(
        listing.contains(&id) && listing.contains("ci-bot"),
        "{listing}"
    );
    let (ok, users, _) = cli(&data, &["user", "list"]);
    assert!(
        ok && users.contains("dana") && users.contains("ci-bot"),
        "{users}"
    );

    let (ok, _, err) = cli(&data, &["token", "revoke", &id]);
    assert!(ok, "{err}");
    let (status, _) = publish_over_http(&client, &server.url, &secret, "from-ci", "1.0.1")
        .await
        .unwrap();
    assert_eq!(
        status, 401,
        "the revoked token is refused on the very next request"
    );

    // The same over HTTP, as from another machine: `--url` and an admin token, run from a
    // directory that holds no registry.
    let elsewhere = tempfile::tempdir().unwrap();
    let remote_env = [("PANTRY_ADMIN_TOKEN", ADMIN)];
    let (url, far) = (
        server.url.clone(),
        elsewhere.path().to_str().unwrap().to_string(),
    );
    let remote = |args: &[&'static str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend([
            "--url".to_string(),
            url.clone(),
            "--data-dir".to_string(),
            far.clone(),
        ]);
        all
    };
    let created = with_stdin(
        &strs(&remote(&[
            "user",
            "create",
            "remy",
            "--email",
            "remy@example.com",
        ])),
        &remote_env,
        b"remy-password-1\n",
    );
    let err = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success(), "{err}");
    assert!(err.contains("Acting on the server at"), "{err}");
    let (ok, remote_secret, err) = run_bin(
        &strs(&remote(&["token", "create", "--user", "remy"])),
        &remote_env,
    );
    assert!(ok, "{err}");
    let remote_secret = remote_secret.trim().to_string();
    let remote_id = created_token_id(&err);
    let (status, _) = publish_over_http(&client, &server.url, &remote_secret, "from-remy", "1.0.0")
        .await
        .unwrap();
    assert_eq!(status, 201, "the token made over HTTP publishes at once");
    let (ok, _, err) = run_bin(
        &strs(&[remote(&["token", "revoke"]), vec![remote_id.clone()]].concat()),
        &remote_env,
    );
    assert!(ok, "{err}");
    let (status, _) = publish_over_http(&client, &server.url, &remote_secret, "from-remy", "1.0.1")
        .await
        .unwrap();
    assert_eq!(
        status, 401,
        "revoked over HTTP: refused on the very next request"
    );
    assert!(!elsewhere.path().join("registry.redb").exists());

    // Maintenance runs on the server, with progress, while it serves.
    let (ok, out, err) = cli(&data, &["gc", "--dry-run"]);
    assert!(ok, "{err}");
    assert!(out.contains("Dry run: 0 unreferenced blobs"), "{out}");
    assert!(err.contains("job "), "progress is told: {err}");
    let (ok, out, err) = cli(&data, &["reindex"]);
    assert!(ok, "{err}");
    assert!(out.contains("Search index rebuilt: 3 packages."), "{out}");
    let (ok, out, err) = cli(&data, &["cache", "prune", "--max-bytes", "0"]);
    assert!(ok, "{err}");
    assert!(out.contains("tarballs          0"), "{out}");

    stop.store(true, Ordering::SeqCst);
    loop_task.await.unwrap();
    install_task.await.unwrap();
    let failed = install_failures.lock().unwrap().clone();
    assert!(
        failed.is_empty(),
        "an npm install failed meanwhile:\n{}",
        failed.join("\n")
    );
    assert!(
        installs.load(Ordering::SeqCst) >= 1,
        "npm installed meanwhile"
    );
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "no read failed meanwhile"
    );
    assert!(reads.load(Ordering::SeqCst) > 10);

    // The audit log has it all, in order, without a secret.
    let (ok, audit, err) = cli(&data, &["audit", "--json"]);
    assert!(ok, "{err}");
    let entries: Vec<Value> = serde_json::from_str(&audit).unwrap();
    let actions: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("npm.publish", "npm:served-pkg@1.0.0", "ok"),
        ("user.create", "user:dana", "ok"),
        ("user.create", "user:ci-bot", "ok"),
        ("token.create", &*format!("token:{id}"), "ok"),
        ("npm.publish", "npm:from-ci@1.0.0", "ok"),
        ("token.revoke", &*format!("token:{id}"), "ok"),
        ("user.create", "user:remy", "ok"),
        ("token.create", &*format!("token:{remote_id}"), "ok"),
        ("npm.publish", "npm:from-remy@1.0.0", "ok"),
        ("token.revoke", &*format!("token:{remote_id}"), "ok"),
        ("job.gc", "", "ok"),
        ("job.reindex", "", "ok"),
        ("job.cache-prune", "", "ok"),
    ];
    let mut at = 0;
    for (action, target, outcome) in expected {
        let found = actions[at..].iter().position(|(a, t, o)| {
            *a == action && (target.is_empty() || *t == target) && *o == outcome
        });
        let Some(offset) = found else {
            panic!("{action} {target} {outcome} not found in order in {actions:?}");
        };
        at += offset + 1;
    }
    let publish = &entries[0];
    assert_eq!(publish["user"], "$admin");
    assert_eq!(publish["address"], "127.0.0.1");
    let ci_publish = entries
        .iter()
        .find(|e| e["target"] == "npm:from-ci@1.0.0")
        .unwrap();
    assert_eq!(ci_publish["user"], "ci-bot");
    assert_eq!(ci_publish["tokenId"], id.as_str());
    for secret_text in [
        secret.as_str(),
        remote_secret.as_str(),
        ADMIN,
        "dana-password-1",
        "remy-password-1",
    ] {
        assert!(!audit.contains(secret_text), "a secret is in the audit log");
    }
    drop(server);
}

#[tokio::test]
async fn a_remote_server_is_administered_over_http_with_an_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinServer::start(dir.path(), &[("PANTRY_REGISTRY_TOKEN", ADMIN)]);
    // Another directory entirely: the server is reached by its URL alone.
    let elsewhere = tempfile::tempdir().unwrap();
    let data = elsewhere.path().to_str().unwrap();
    let env = [("PANTRY_ADMIN_TOKEN", ADMIN)];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--url", &server.url, "--data-dir", data]);
        run_bin(&all, &env)
    };
    let (ok, _, err) = run(&[
        "token",
        "create",
        "--user",
        "remote-ci",
        "--service",
        "--json",
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("Acting on the server at {}", server.url)),
        "{err}"
    );
    let (ok, out, err) = run(&["token", "list", "--json"]);
    assert!(ok, "{err}");
    let tokens: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(tokens.iter().any(|t| t["user"] == "remote-ci"), "{out}");
    assert!(
        !elsewhere.path().join("registry.redb").exists(),
        "nothing was created here"
    );
    // A wrong token is refused with the server's reason.
    let mut all = vec!["token", "list", "--url", &server.url, "--data-dir", data];
    all.push("--admin-token");
    all.push("ptry_wrong");
    let (ok, _, err) = run_bin(&all, &[]);
    assert!(!ok && err.contains("Invalid token"), "{err}");
}

#[test]
fn admin_commands_never_create_a_database_by_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("not-the-server-dir");
    let data = data.to_str().unwrap();
    for args in [
        &["token", "list"][..],
        &["token", "create", "--user", "x", "--service"],
        &["user", "list"],
        &["gc", "--dry-run"],
        &["reindex"],
        &["audit"],
    ] {
        let (ok, _, err) = cli(data, args);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains("there is no registry in"), "{args:?}: {err}");
        assert!(err.contains("--init"), "{err}");
    }
    assert!(!std::path::Path::new(data).join("registry.redb").exists());
    // --init makes one on purpose; then a token for someone who does not exist is refused
    // unless it is a service account.
    let (ok, _, err) = cli(data, &["token", "list", "--init"]);
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("Acting on the data directory {data}")),
        "{err}"
    );
    let (ok, _, err) = cli(data, &["token", "create", "--user", "nobody"]);
    assert!(!ok && err.contains("no such user: nobody"), "{err}");
    let (ok, out, err) = cli(data, &["token", "create", "--user", "svc", "--service"]);
    assert!(ok && out.trim().starts_with("ptry_"), "{err}");
    let (ok, _, err) = cli(
        data,
        &["token", "create", "--user", "svc", "--scope", "admin"],
    );
    assert!(!ok && err.contains("not an admin"), "{err}");
}

#[tokio::test]
async fn accounts_are_disabled_invited_reset_and_deleted_through_the_admin_api() {
    let app = TestApp::start().await;
    let admin = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let req = app
            .client
            .request(method, format!("{}{path}", app.url))
            .bearer_auth(common::ADMIN_TOKEN);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // An invitation sets the first password once.
    let (status, created) = admin(
        reqwest::Method::POST,
        "/-/admin/users",
        Some(json!({"name": "erin", "email": "erin@example.com"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let invite = created["invite"].as_str().unwrap().to_string();
    assert!(created["user"]["invited"] == true);
    let accept = |invite: String, password: &str| {
        let body = json!({"name": "erin", "invite": invite, "password": password});
        let req = app.client.post(format!("{}/-/invite", app.url)).json(&body);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(accept("pinv_wrong".into(), "erin-password-1").await, 400);
    assert_eq!(accept(invite.clone(), "erin-password-1").await, 200);
    assert_eq!(accept(invite, "erin-password-2").await, 400, "used once");
    let login = |password: &str| {
        let body = json!({"name": "erin", "password": password});
        let req = app
            .client
            .put(format!("{}/npm/-/user/org.couchdb.user:erin", app.url))
            .json(&body);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(login("erin-password-1").await, 201);

    // Disabled: no login, and the tokens she has stop working.
    let token = app
        .client
        .put(format!("{}/npm/-/user/org.couchdb.user:erin", app.url))
        .json(&json!({"name": "erin", "password": "erin-password-1"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let whoami = |token: String| {
        let req = app
            .client
            .get(format!("{}/npm/-/whoami", app.url))
            .bearer_auth(token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(whoami(token.clone()).await, 200);
    let (status, _) = admin(
        reqwest::Method::PATCH,
        "/-/admin/users/erin",
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(whoami(token.clone()).await, 401);
    assert_eq!(login("erin-password-1").await, 401);
    // Enabled, with a reset password.
    let (status, _) = admin(
        reqwest::Method::PATCH,
        "/-/admin/users/erin",
        Some(json!({"disabled": false, "password": "erin-password-3"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(whoami(token.clone()).await, 200);
    assert_eq!(login("erin-password-1").await, 401);
    assert_eq!(login("erin-password-3").await, 201);

    // Tokens list with their last use (written a moment later).
    let mut seen = false;
    for _ in 0..50 {
        let (_, list) = admin(reqwest::Method::GET, "/-/admin/tokens?user=erin", None).await;
        if list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["lastUsed"].is_string())
        {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "a used token shows when it was last used");

    // Owners: add, transfer, and never none.
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "owned-pkg", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);
    let (status, owners) = admin(
        reqwest::Method::POST,
        "/-/admin/owners",
        Some(json!({"package": "owned-pkg", "add": ["erin"]})),
    )
    .await;
    assert_eq!(status, 200, "{owners}");
    assert_eq!(owners["owners"], json!(["alice", "erin"]));
    let (status, owners) = admin(
        reqwest::Method::POST,
        "/-/admin/owners",
        Some(json!({"package": "owned-pkg", "transferTo": "bob"})),
    )
    .await;
    assert_eq!((status, owners["owners"].clone()), (200, json!(["bob"])));
    let (status, _) = admin(
        reqwest::Method::POST,
        "/-/admin/owners",
        Some(json!({"package": "owned-pkg", "remove": ["bob"]})),
    )
    .await;
    assert_eq!(status, 400, "a package keeps an owner");
    let (status, _) = admin(
        reqwest::Method::POST,
        "/-/admin/owners",
        Some(json!({"package": "owned-pkg", "add": ["ghost"]})),
    )
    .await;
    assert_eq!(status, 404, "owners are accounts");

    // Deleted: her tokens go with her.
    let (status, deleted) = admin(reqwest::Method::DELETE, "/-/admin/users/erin", None).await;
    assert_eq!(status, 200);
    assert!(deleted["tokensRevoked"].as_u64().unwrap() >= 2, "{deleted}");
    assert_eq!(whoami(token.clone()).await, 401);

    // The audit log tells it, with the login failures.
    let (_, audit) = admin(reqwest::Method::GET, "/-/admin/audit?actor=erin", None).await;
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "user.login" && e["outcome"] == "denied"),
        "{audit}"
    );
    let (_, audit) = admin(
        reqwest::Method::GET,
        "/-/admin/audit?package=owned-pkg",
        None,
    )
    .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "npm.publish",
            "npm.owners",
            "npm.owners",
            "npm.owners",
            "npm.owners"
        ],
        "{audit}"
    );
    let text = audit.to_string();
    for secret in ["erin-password", "pinv_", &token[5..]] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }
}
