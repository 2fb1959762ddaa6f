//! The web pages in a real browser: typing in search shows a package, a package page shows its
//! README, versions and chart and runs nothing its README tried, copy buttons copy, a token
//! made and revoked in the page works with npm and then does not; /docs lists every
//! operation; the 404 page. Debian's headless Chromium, driven by playwright-core
//! (`tests/common/browser.rs`, scenarios in `tests/browser/`), against the in-process server.
//! Every request the browser makes is recorded; screenshots at desktop and phone widths go to
//! `target/screenshots/`.

use crate::common;

use common::TestApp;
use common::browser::{scenario, screenshots_dir};
use serde_json::{Value, json};

/// A README that tries to run script every way a page could: each payload would push to the
/// harness's `window.__xss` or open a dialog.
const HOSTILE_README: &str = "# Widget\n\nMakes widgets.\n\n\
<script>window.__xss.push('script')</script>\n\n\
<img src=x onerror=\"window.__xss.push('img onerror')\">\n\n\
[click me](javascript:window.__xss.push('javascript link'))\n\n\
<a href=\"javascript:alert('js href')\" id=\"jslink\">js</a>\n\n\
<svg><animate onbegin=\"window.__xss.push('svg')\" attributeName=\"x\" dur=\"1s\"/></svg>\n\n\
<iframe srcdoc=\"<script>parent.__xss.push('iframe')</script>\"></iframe>\n\n\
<details open ontoggle=\"window.__xss.push('ontoggle')\"><summary>x</summary></details>\n\n\
![logo](https://elsewhere.example/logo.png)\n";

/// Widget (two versions, a download, the hostile README), a Zig package, and a package
/// proxied from a local fake upstream: what the pages are shown with.
async fn populated() -> (TestApp, common::upstream::FakeUpstream) {
    let up = common::upstream::FakeUpstream::start().await;
    up.publish("far-away", "3.1.0", json!({}));
    let app = TestApp::start_with_upstream(&up.url).await;
    common::publish_with_readme(
        &app,
        HOSTILE_README,
        "widget",
        "1.0.0",
        "latest",
        json!({"license": "MIT", "repository": "github:acme/widget", "dependencies": {"far-away": "^3.0.0"}}),
    )
    .await;
    common::publish_with_readme(&app, HOSTILE_README, "widget", "1.1.0", "latest", json!({})).await;
    assert_eq!(app.get("/packages/widget/1.1.0/tarball").await.status, 200);
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    assert_eq!(app.get("/npm/far-away").await.status, 200);
    app.search_settled().await;
    (app, up)
}

fn assert_shots(names: &[&str]) {
    for name in names {
        for width in ["desktop", "phone"] {
            let shot = screenshots_dir().join(format!("{name}-{width}.png"));
            let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
            assert!(png.starts_with(b"\x89PNG"), "{}", shot.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_search_copy_and_run_no_script_from_a_readme() {
    let (app, _up) = populated().await;

    // Typing in the search box shows the package; the arrow key and Enter open its page.
    let run = scenario(&app, "home.mjs", json!({"query": "widg"})).await;
    run.assert_clean();
    run.assert_same_origin(&app.url);
    assert_eq!(run.value["heading"], "Find a package");
    assert_eq!(run.value["suggestions"][0], "widget", "{}", run.value);
    assert_eq!(run.value["selected"], "widget");
    assert_eq!(run.value["path"], "/package/widget");

    // The package page: README, versions, chart; the copy button copies the install line; and
    // nothing the README tried ran.
    let run = scenario(&app, "package.mjs", json!({"name": "widget"})).await;
    run.assert_clean();
    run.assert_same_origin(&app.url);
    assert!(!run.xss_fired(), "{:?} {:?}", run.effects, run.dialogs);
    assert_eq!(run.value["xss"]["fired"], false, "{}", run.value);
    let readme = run.value["readme"].as_str().unwrap();
    assert!(readme.contains("Makes widgets."), "{readme}");
    assert_eq!(run.value["versions"], 2);
    assert_eq!(run.value["bars"], 30);
    assert_eq!(run.value["downloads"], "1");
    assert_eq!(run.value["install"], "npm install widget@1.1.0");
    for link in run.value["links"].as_array().unwrap() {
        let href = link.as_str().unwrap_or("");
        assert!(
            !href.to_ascii_lowercase().starts_with("javascript"),
            "{href}"
        );
    }

    // A package from the upstream, labelled so; a Zig package with its fetch line.
    let run = scenario(
        &app,
        "package.mjs",
        json!({"name": "far-away", "shot": "proxied-package"}),
    )
    .await;
    run.assert_clean();
    run.assert_same_origin(&app.url);
    assert_eq!(run.value["install"], "npm install far-away@3.1.0");
    let run = scenario(&app, "zig.mjs", json!({"name": "plain_pkg"})).await;
    run.assert_clean();
    run.assert_same_origin(&app.url);
    let fetch = run.value["fetch"].as_str().unwrap();
    assert_eq!(
        fetch,
        format!(
            "zig fetch --save {}/zig/packages/plain_pkg/1.0.0/tarball",
            app.url
        )
    );
    let version: Value = app.get("/zig/packages/plain_pkg/1.0.0").await.json();
    assert_eq!(run.value["hash"], version["hash"]);

    // The 404 page.
    let run = scenario(&app, "not_found.mjs", Value::Null).await;
    run.assert_same_origin(&app.url);
    assert_eq!(run.value["status"], 404);
    assert_eq!(run.value["heading"], "Not found");

    assert_shots(&[
        "home",
        "package",
        "proxied-package",
        "zig-package",
        "not-found",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_in_the_page_works_with_npm_until_revoked_in_the_page() {
    use common::sandbox::Sandbox;
    use common::tools::tools;
    let app = TestApp::start().await;
    let login =
        json!({"user": "alice", "password": common::ALICE_PASSWORD, "token_name": "browser-ci"});
    let mut create = login.clone();
    create["step"] = json!("create");
    let run = scenario(&app, "account.mjs", create).await;
    run.assert_clean();
    run.assert_same_origin(&app.url);
    assert_eq!(run.value["signedInAs"], "alice");
    let token = run.value["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ptry_"), "{}", run.value);

    let sandbox = Sandbox::new(&app);
    sandbox.write_npmrc(Some(&token));
    let cwd = sandbox.root.path().to_path_buf();
    let out = sandbox.run(&tools().npm, &["whoami"], &cwd).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "alice");

    let mut revoke = login;
    revoke["step"] = json!("revoke");
    let run = scenario(&app, "account.mjs", revoke).await;
    run.assert_clean();
    assert!(
        !run.value["left"].to_string().contains("browser-ci"),
        "{}",
        run.value
    );
    let out = sandbox.run(&tools().npm, &["whoami"], &cwd).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("E401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_shots(&["tokens"]);
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
    // Swagger UI runs from this origin's files under the pages' CSP: no inline script or
    // style, and it lays out at the phone's width.
    assert_eq!(run.value["inline_scripts"], 0, "{}", run.value);
    assert_eq!(run.value["inline_styles"], 0, "{}", run.value);
    for script in run.value["external_scripts"].as_array().unwrap() {
        assert!(
            script
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/assets/", app.url)),
            "{script}"
        );
    }
    assert_eq!(run.value["phone_layout_width"], 390, "{}", run.value);
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
