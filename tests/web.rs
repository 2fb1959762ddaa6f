//! The web pages in a real browser: Debian's headless Chromium, driven by playwright-core
//! (`tests/common/browser.rs`, scenarios in `tests/browser/`), against the in-process server.
//! Every request the browser makes is recorded; screenshots at desktop and phone widths go to
//! `target/screenshots/`.

mod common;

use common::TestApp;
use common::browser::{scenario, screenshots_dir};
use serde_json::{Value, json};

#[tokio::test]
async fn the_landing_page_renders_from_its_own_origin() {
    let app = TestApp::start().await;
    let run = scenario(&app, "landing.mjs", Value::Null).await;
    assert_eq!(run.value["title"], "Pantry Registry");
    assert_eq!(run.value["heading"], "Pantry Registry");
    assert!(
        run.value["links"]
            .as_array()
            .unwrap()
            .contains(&json!("/docs")),
        "{}",
        run.value
    );
    run.assert_clean();
    run.assert_same_origin(&app.url);
    assert!(!run.xss_fired(), "{:?}", run.effects);
    for width in ["desktop", "phone"] {
        let shot = screenshots_dir().join(format!("landing-{width}.png"));
        let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
        assert!(png.starts_with(b"\x89PNG"), "{}", shot.display());
    }
}

#[tokio::test]
async fn the_api_documentation_lists_the_operations() {
    let app = TestApp::start().await;
    let document = app.get("/openapi.json").await.json();
    let run = scenario(&app, "docs.mjs", Value::Null).await;
    let shown: Vec<&str> = run.value["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    assert!(shown.contains(&"operations-Admin-adminBackup"), "{shown:?}");
    assert!(
        run.value["paths"]
            .as_array()
            .unwrap()
            .contains(&json!("/publish")),
        "{}",
        run.value
    );
    // Swagger UI shows every operation of the document (its id ends in the operationId).
    for operation in document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|methods| methods.as_object().unwrap().values())
    {
        let id = operation["operationId"].as_str().unwrap();
        assert!(
            shown.iter().any(|s| s.ends_with(&format!("-{id}"))),
            "{id} is not on the page: {shown:?}"
        );
    }
    run.assert_clean();
    // poem-openapi's Swagger UI page carries its bundle, styles and the document inline and
    // loads nothing else: no request leaves the origin (its inline scripts are what a CSP
    // without 'unsafe-inline' would refuse).
    assert_eq!(run.value["external_scripts"], json!([]), "{}", run.value);
    run.assert_same_origin(&app.url);
}

#[tokio::test]
async fn the_harness_sees_the_clipboard_xss_hooks_and_foreign_requests() {
    let app = TestApp::start().await;
    let run = scenario(&app, "harness.mjs", Value::Null).await;
    assert_eq!(run.value["clipboard"], "npm install left-pad");
    assert_eq!(run.value["clean"], false, "hooks fired on the bare page");
    let kinds: Vec<&str> = run
        .effects
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["__xss", "alert"], "{:?}", run.effects);
    assert_eq!(run.dialogs.len(), 1, "{:?}", run.dialogs);
    assert_eq!(run.dialogs[0]["message"], "xss");
    assert!(run.xss_fired());
    let foreign = run.foreign_requests(&app.url);
    assert_eq!(foreign.len(), 1, "{:?}", run.requests);
    assert_eq!(foreign[0].url, "http://elsewhere.invalid/beacon");
    assert!(foreign[0].failure.is_some(), "{:?}", foreign[0]);
}
