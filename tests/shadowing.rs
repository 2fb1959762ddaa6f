//! The shadowing guard: with the npm fallback on, a publish token cannot take a name the
//! upstream serves (`npm publish` of `react@99.0.0` would hide `react` from the whole team), nor
//! make a scope local with its first package (that hides every upstream package of the scope).
//! Names and scopes declared ours, and admins, may.

use crate::common;

use common::upstream::FakeUpstream;
use common::{ADMIN_TOKEN, TestApp, fallback_to};
use reqwest::Method;
use serde_json::json;

/// The versions `GET /npm/{name}` shows.
async fn versions(app: &TestApp, name: &str) -> Vec<String> {
    let doc = app
        .npm(
            Method::GET,
            &format!("/{}", name.replace('/', "%2f")),
            None,
            None,
        )
        .await
        .json();
    doc["versions"]
        .as_object()
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_publish_token_cannot_take_a_name_the_upstream_serves() {
    let up = FakeUpstream::start().await;
    up.publish("react", "18.3.1", json!({}));
    let app = TestApp::start_with(fallback_to(&up.url, &[])).await;

    // npm's wire and the Pantry API alike: 403, with why and what to do.
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "react", "99.0.0", "latest")
        .await;
    let message = r.error(403);
    let upstream = up.url.trim_end_matches('/');
    assert_eq!(
        message,
        format!(
            "react exists on the upstream registry ({upstream}); publishing it here would hide \
             the upstream package from everyone who installs react through this registry. If \
             react is meant to be yours, add it to npm.local_names, or publish it with an admin \
             token"
        )
    );
    let (r, _) = app.publish(&app.tokens.alice, "react", "99.0.0").await;
    assert_eq!(r.error(403), message);
    // Nothing changed: the team still gets the upstream's react, and no tarball was stored
    // (the upstream's packument the guard asked for is cached, as any proxied read's is).
    assert_eq!(versions(&app, "react").await, ["18.3.1"]);
    assert_eq!(app.tarball_blob_count().await, 0);
    app.get("/packages/react/99.0.0").await.error(404);

    // A name the upstream does not have is anyone's to take.
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "our-own-tool", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);

    // An admin may take an upstream name deliberately.
    let (r, _) = app
        .npm_publish(ADMIN_TOKEN, "react", "99.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(versions(&app, "react").await, ["99.0.0"]);
}

#[tokio::test]
async fn a_name_listed_in_local_names_is_ours_and_never_looked_up() {
    let up = FakeUpstream::start().await;
    up.publish("left-pad", "1.3.0", json!({}));
    let app = TestApp::start_with(fallback_to(&up.url, &[("npm.local_names", "left-pad")])).await;
    // Before anything is published the name is already ours: a 404, not the upstream package
    // (so npm's own pre-publish check does not trip over upstream versions).
    app.npm(Method::GET, "/left-pad", None, None)
        .await
        .error(404);
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "left-pad", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(versions(&app, "left-pad").await, ["1.0.0"]);
    assert_eq!(up.packument_requests("left-pad"), 0);
}

#[tokio::test]
async fn the_first_package_of_a_scope_needs_a_local_scope_or_an_admin() {
    let up = FakeUpstream::start().await;
    up.publish("@types/node", "22.0.0", json!({}));
    let app = TestApp::start_with(fallback_to(&up.url, &[("npm.local_scopes", "@acme")])).await;
    let upstream = up.url.trim_end_matches('/');

    // @types is served from the upstream: a publish token cannot make it local, even under a
    // name the upstream does not have.
    for name in ["@types/node", "@types/our-thing"] {
        let (r, _) = app
            .npm_publish(&app.tokens.alice, name, "1.0.0", "latest")
            .await;
        assert_eq!(
            r.error(403),
            format!(
                "@types has no packages on this registry yet, so every @types/* name is served \
                 from the upstream registry ({upstream}); publishing {name} would make the scope \
                 local and hide all upstream @types/* packages from this registry's users. If \
                 @types is your scope, add it to npm.local_scopes, or publish its first package \
                 with an admin token"
            )
        );
    }
    assert_eq!(versions(&app, "@types/node").await, ["22.0.0"]);

    // A scope declared ours takes publish tokens from the first package.
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "@acme/lib", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);

    // An admin may claim a scope; then it is local, and its owners' tokens publish in it.
    let (r, _) = app.publish(ADMIN_TOKEN, "@claimed/first", "1.0.0").await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (r, _) = app
        .publish(&app.tokens.bob, "@claimed/second", "1.0.0")
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn an_upstream_that_cannot_be_asked_refuses_with_503_and_changes_nothing() {
    let up = FakeUpstream::start().await;
    up.set(&up.state.down, true);
    let app = TestApp::start_with(fallback_to(&up.url, &[])).await;
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "maybe-upstream", "1.0.0", "latest")
        .await;
    let message = r.error(503);
    assert!(
        message.starts_with("Cannot tell whether maybe-upstream exists on the upstream registry"),
        "{message}"
    );
    assert!(message.contains("npm.local_names"), "{message}");
    let (r, _) = app
        .publish(&app.tokens.alice, "maybe-upstream", "1.0.0")
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(app.blob_count().await, 0);
    // Once the upstream answers (and lacks the name), the same publish goes through; a failure
    // is remembered for 5 seconds so that a crowd does not wait out one timeout after another.
    up.set(&up.state.down, false);
    tokio::time::sleep(std::time::Duration::from_millis(5_100)).await;
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "maybe-upstream", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn with_the_fallback_off_nothing_is_shadowed_and_nothing_is_guarded() {
    let up = FakeUpstream::start().await;
    up.publish("react", "18.3.1", json!({}));
    let upstream = up.url.clone();
    let app = TestApp::start_with(move |b| {
        b.setting("npm.fallback", "false")
            .unwrap()
            .setting("npm.upstream", upstream)
            .unwrap()
    })
    .await;
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "react", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "@new/scope", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(up.packument_requests("react"), 0);
}

#[tokio::test]
async fn offline_an_unchecked_name_is_refused_and_a_token_that_may_not_publish_asks_nobody() {
    let up = FakeUpstream::start().await;
    up.publish("react", "18.3.1", json!({}));
    let app = TestApp::start_with(fallback_to(&up.url, &[])).await;
    // Refused by the token itself, before the upstream is asked anything.
    for token in [&app.tokens.reader, &app.tokens.team_only] {
        let (r, _) = app.npm_publish(token, "react", "99.0.0", "latest").await;
        assert_eq!(r.status, 403);
        assert!(!r.error(403).contains("upstream"));
    }
    assert_eq!(up.packument_requests("react"), 0);

    let offline = TestApp::start_with(fallback_to(&up.url, &[("npm.offline", "true")])).await;
    let (r, _) = offline
        .npm_publish(&offline.tokens.alice, "never-fetched", "1.0.0", "latest")
        .await;
    let message = r.error(403);
    assert!(
        message.starts_with(
            "npm.offline is on, so this registry cannot tell whether never-fetched exists"
        ),
        "{message}"
    );
    assert_eq!(up.packument_requests("never-fetched"), 0);
    let (r, _) = offline
        .npm_publish(common::ADMIN_TOKEN, "never-fetched", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);
}
