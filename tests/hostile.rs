//! Hostile input does no harm: what an attacker (or a careless client) sends is refused with a
//! clear JSON error and changes nothing, and secrets never reach the log.

mod common;

use common::{BinServer, TestApp, run_bin};
use reqwest::Method;

#[tokio::test]
async fn versions_npm_cannot_read_are_refused_on_every_publish_path() {
    let app = TestApp::start().await;
    let huge = "9999999999999999999.0.0";
    let (r, _) = app.publish(&app.tokens.alice, "big-number", huge).await;
    let message = r.error(400);
    assert!(message.contains("at most 9007199254740991"), "{message}");
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "big-number", huge, "latest")
        .await;
    assert!(r.error(400).contains("at most 9007199254740991"));
    // Nothing was stored: the package does not exist, and a sane version still publishes.
    app.npm(Method::GET, "/big-number", None, None)
        .await
        .error(404);
    let (r, _) = app
        .npm_publish(
            &app.tokens.alice,
            "big-number",
            "9007199254740991.0.0",
            "latest",
        )
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn token_routes_never_write_the_token_to_the_log_at_any_level() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let (ok, out, err) = run_bin(
        &["token", "create", "--user", "alice", "--data-dir", data_arg],
        &[],
    );
    assert!(ok, "{err}");
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("ptry_"))
        .expect("the new token is printed")
        .to_string();
    let log = dir.path().join("server.log");
    let server = BinServer::start_logged(
        &data,
        &[("PANTRY_LOG_LEVEL", "trace"), ("NPM_FALLBACK", "false")],
        &log,
    );
    let client = reqwest::Client::new();
    let unknown = "ptry_00000000000000000000000000000000000000000000000000000000deadbeef";
    for secret in [unknown, token.as_str()] {
        for path in [
            format!("/npm/-/user/token/{secret}"),
            format!("/npm/-/npm/v1/tokens/token/{secret}"),
        ] {
            client
                .delete(format!("{}{path}", server.url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(server.terminate().code(), Some(0));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("/npm/-/user/token/<redacted>"),
        "the requests were logged:\n{logged}"
    );
    for secret in [unknown, token.as_str()] {
        assert!(
            !logged.contains(secret),
            "a token is in the log:\n{}",
            logged
                .lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
