//! The server's log: one access line per request (id, method, path, status, duration, bytes,
//! user, client), `X-Request-Id` taken from the client or made and always returned, and not one
//! secret anywhere in a whole session's log at the most verbose level.

use crate::common;

use std::io::Write;

use common::{BinServer, publish_over_http, run_bin};
use serde_json::{Value, json};

const ADMIN: &str = "admin-token-of-the-log-test-0123456789abcdef";

#[tokio::test]
async fn a_whole_session_logs_one_line_per_request_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let server = BinServer::start_logged(
        &data,
        &[
            ("PANTRY_REGISTRY_TOKEN", ADMIN),
            ("PANTRY_LOG_LEVEL", "trace"),
            ("NPM_FALLBACK", "false"),
        ],
        &log,
    );
    let client = reqwest::Client::new();
    let url = &server.url;
    let data_arg = data.to_str().unwrap();
    let mut secrets: Vec<String> = vec![ADMIN.to_string()];

    // An account with a password, through the CLI on the running server (stdin).
    let password = "session-password-1";
    secrets.push(password.to_string());
    let mut cmd = std::process::Command::new(common::bin_path());
    cmd.args([
        "user",
        "create",
        "sam",
        "--email",
        "sam@example.com",
        "--data-dir",
        data_arg,
    ]);
    common::clean_env(&mut cmd);
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    // An invited account; the invitation is a secret too.
    let invited: Value = client
        .post(format!("{url}/-/admin/users"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "ivy", "email": "ivy@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invite = invited["invite"].as_str().unwrap().to_string();
    secrets.push(invite.clone());
    let ivy_password = "ivy-password-12345";
    secrets.push(ivy_password.to_string());
    let accepted = client
        .post(format!("{url}/-/invite"))
        .json(&json!({"name": "ivy", "invite": invite, "password": ivy_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);

    // npm login (password in the body), a failed login, Basic credentials.
    let login: Value = client
        .put(format!("{url}/npm/-/user/org.couchdb.user:sam"))
        .json(&json!({"name": "sam", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sam_token = login["token"].as_str().unwrap().to_string();
    secrets.push(sam_token.clone());
    let wrong = "not-sams-password";
    secrets.push(wrong.to_string());
    let r = client
        .put(format!("{url}/npm/-/user/org.couchdb.user:sam"))
        .json(&json!({"name": "sam", "password": wrong}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .get(format!("{url}/npm/-/whoami"))
        .basic_auth("sam", Some(password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "passwords only log in");

    // A publish with the new token, a token made through the CLI, a logout by token path.
    let (status, _) = publish_over_http(&client, url, &sam_token, "logged-pkg", "1.0.0")
        .await
        .unwrap();
    assert_eq!(status, 201);
    let (ok, cli_token, err) = run_bin(
        &["token", "create", "--user", "sam", "--data-dir", data_arg],
        &[],
    );
    assert!(ok, "{err}");
    let cli_token = cli_token.trim().to_string();
    secrets.push(cli_token.clone());
    let r = client
        .delete(format!("{url}/npm/-/user/token/{cli_token}"))
        .bearer_auth(&cli_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Request ids: a plain one given is kept, a strange one replaced, none made up.
    let given = client
        .get(format!("{url}/health"))
        .header("x-request-id", "trace-me.42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-me.42");
    let strange = client
        .get(format!("{url}/health"))
        .header("x-request-id", "a b <script>")
        .send()
        .await
        .unwrap();
    let made = strange.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(made.len(), 16, "{made}");
    let unknown = client
        .get(format!("{url}/no/such/route"))
        .send()
        .await
        .unwrap();
    assert!(unknown.headers().contains_key("x-request-id"));

    assert_eq!(server.terminate().code(), Some(0));
    let logged = std::fs::read_to_string(&log).unwrap();
    for secret in &secrets {
        let lines: Vec<&str> = logged
            .lines()
            .filter(|l| l.contains(secret.as_str()))
            .collect();
        assert!(
            lines.is_empty(),
            "a secret is in the log:\n{}",
            lines.join("\n")
        );
    }
    assert!(
        !logged.to_ascii_lowercase().contains("authorization"),
        "no header is logged"
    );

    // One access line per request, with its fields.
    let access: Vec<Value> = logged
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "access")
        .collect();
    let traced = access
        .iter()
        .find(|v| v["request_id"] == "trace-me.42")
        .expect("the given request id is in the access log");
    assert_eq!(traced["http.method"], "GET");
    assert_eq!(traced["http.path"], "/health");
    assert_eq!(traced["http.status"], 200);
    assert!(
        traced["duration_ms"].is_number() && traced["bytes"].is_number(),
        "{traced}"
    );
    assert_eq!(traced["client"], "127.0.0.1");
    let publish = access
        .iter()
        .find(|v| v["http.path"] == "/publish")
        .expect("the publish is in the access log");
    assert_eq!(publish["user"], "sam");
    assert_eq!(publish["http.status"], 201);
    assert!(
        access
            .iter()
            .any(|v| v["http.path"] == "/npm/-/user/token/<redacted>"),
        "the token path is logged redacted"
    );
    let failed_login = access
        .iter()
        .find(|v| v["http.path"] == "/npm/-/user/org.couchdb.user:sam" && v["http.status"] == 401)
        .expect("the failed login is logged");
    assert_eq!(failed_login["user"], "-");
    // Every request the session made (the CLI's through the admin socket among them).
    assert!(access.len() >= 12, "{} access lines", access.len());
}

/// With `server.base_url` unset, the URLs handed out follow the address the client used, and
/// `X-Forwarded-*` only from a trusted proxy.
#[tokio::test]
async fn urls_follow_the_address_the_client_used_and_forwarded_headers_only_from_a_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let server = BinServer::start(dir.path(), &[("PANTRY_REGISTRY_TOKEN", ADMIN)]);
    let client = reqwest::Client::new();
    let (status, _) = publish_over_http(&client, &server.url, ADMIN, "two-doors", "1.0.0")
        .await
        .unwrap();
    assert_eq!(status, 201);
    let tarball = |base: String, headers: Vec<(&'static str, &'static str)>| {
        let client = client.clone();
        async move {
            let mut req = client.get(format!("{base}/npm/two-doors"));
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let doc: Value = req.send().await.unwrap().json().await.unwrap();
            doc["versions"]["1.0.0"]["dist"]["tarball"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let port = server.port;
    let by_ip = tarball(format!("http://127.0.0.1:{port}"), vec![]).await;
    assert_eq!(
        by_ip,
        format!("http://127.0.0.1:{port}/npm/two-doors/-/two-doors-1.0.0.tgz")
    );
    let by_name = tarball(format!("http://localhost:{port}"), vec![]).await;
    assert_eq!(
        by_name,
        format!("http://localhost:{port}/npm/two-doors/-/two-doors-1.0.0.tgz")
    );
    // Each URL downloads.
    for url in [&by_ip, &by_name] {
        assert_eq!(client.get(url).send().await.unwrap().status(), 200, "{url}");
    }
    // From an address that is not a trusted proxy, X-Forwarded-* is the client's own say.
    let forged = vec![
        ("x-forwarded-host", "registry.example.com"),
        ("x-forwarded-proto", "https"),
    ];
    let ignored = tarball(server.url.clone(), forged.clone()).await;
    assert!(ignored.starts_with(&server.url), "{ignored}");
    drop(server);

    // Behind a trusted proxy, its forwarded scheme and host are what clients reach.
    let server = BinServer::start(
        dir.path(),
        &[
            ("PANTRY_REGISTRY_TOKEN", ADMIN),
            ("PANTRY_SERVER_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    let proxied = tarball(server.url.clone(), forged).await;
    assert_eq!(
        proxied,
        "https://registry.example.com/npm/two-doors/-/two-doors-1.0.0.tgz"
    );
    // A configured base_url wins over both.
    drop(server);
    let server = BinServer::start(
        dir.path(),
        &[
            ("PANTRY_REGISTRY_TOKEN", ADMIN),
            ("BASE_URL", "https://fixed.example.com"),
        ],
    );
    let fixed = tarball(format!("http://localhost:{}", server.port), vec![]).await;
    assert_eq!(
        fixed,
        "https://fixed.example.com/npm/two-doors/-/two-doors-1.0.0.tgz"
    );
}
