//! The web UI as HTML from the server (what a crawler, a link preview or a browser with
//! JavaScript off gets): home with figures, recent packages and the client lines; the package
//! page of a package published here (README sanitised, versions, tags, deprecation, dependency
//! links, install lines), of an upstream package read through the fallback (labelled), and of
//! a Zig package; search; hashed, immutable assets; the CSP on every page; an HTML 404 for
//! browsers while API clients keep their JSON. The browser-driven tests are in tests/web.rs.

use crate::common;

use common::TestApp;
use serde_json::json;

async fn page(app: &TestApp, path: &str) -> (u16, String, common::Response) {
    let r = common::Response::from(
        app.client
            .get(format!("{}{path}", app.url))
            .header("accept", "text/html,application/xhtml+xml")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    (r.status.as_u16(), text, r)
}

/// A README that tries every way of running script in a page.
const HOSTILE_README: &str = "# Widget\n\nUse it **well**.\n\n<script>window.__xss=1</script>\n\n\
<img src=x onerror=\"window.__xss=2\">\n\n[click](javascript:window.__xss=3)\n\n\
<a href=\"javascript:window.__xss=4\" onclick=\"window.__xss=5\">x</a>\n\n\
<svg onload=\"window.__xss=6\"></svg><iframe src=\"https://evil.example/\"></iframe>\n\n\
![logo](docs/logo.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_package_and_zig_pages_render_on_the_server() {
    let app = TestApp::start().await;
    common::publish_with_readme(
        &app,
        HOSTILE_README,
        "widget",
        "1.0.0",
        "latest",
        json!({"license": "MIT", "repository": "github:acme/widget",
               "dependencies": {"left-pad": "^1.3.0", "@s/util": "2.x"}}),
    )
    .await;
    common::publish_with_readme(
        &app,
        HOSTILE_README,
        "widget",
        "2.0.0-beta.1",
        "next",
        json!({}),
    )
    .await;
    common::publish_with_readme(
        &app,
        "# Gadget",
        "gadget",
        "1.0.0",
        "latest",
        json!({"dependencies": {"widget": "^1.0.0"}}),
    )
    .await;
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    // A download, so the chart and the ranking have something.
    assert_eq!(app.get("/packages/widget/1.0.0/tarball").await.status, 200);

    let (status, home, r) = page(&app, "/").await;
    assert_eq!(status, 200);
    let csp = r.header("content-security-policy").to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(home.contains(r#"href="/package/widget""#), "{home}");
    assert!(home.contains(r#"href="/zig/package/plain_pkg""#), "{home}");
    assert!(
        home.contains(&format!("registry={}/npm/", app.url)),
        "{home}"
    );
    assert!(
        home.contains("<dt>Packages</dt><dd>2</dd>")
            && home.contains("<dt>Versions</dt><dd>3</dd>"),
        "{home}"
    );
    assert!(!home.contains("<script>"), "no inline script: {home}");

    // The assets are named by their content and cached for good; other names are 404.
    let css = home
        .split("href=\"/assets/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    assert!(
        css.starts_with("app.") && css.ends_with(".css") && css.len() > 12,
        "{css}"
    );
    let r = app.get(&format!("/assets/{css}")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("cache-control").contains("immutable"));
    assert!(r.header("content-type").starts_with("text/css"));
    assert_eq!(app.get("/assets/app.css").await.status, 404);

    let (status, widget, r) = page(&app, "/package/widget").await;
    assert_eq!(status, 200, "{widget}");
    assert!(
        r.header("content-security-policy")
            .contains("default-src 'none'")
    );
    assert!(
        widget.contains("<h1>Widget</h1>"),
        "the README is rendered: {widget}"
    );
    assert!(widget.contains("<table>"), "tables render: {widget}");
    let readme = widget
        .split(r#"<section id="readme""#)
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .unwrap();
    for payload in [
        "<script",
        "onerror=",
        "href=\"javascript",
        "onclick=",
        "onload=",
        "<iframe",
        "<img",
    ] {
        assert!(!readme.contains(payload), "{payload} survived: {readme}");
    }
    // The page's only script is the site's own file.
    assert_eq!(widget.matches("<script").count(), 1, "{widget}");
    assert!(widget.contains(r#"<script src="/assets/app."#), "{widget}");
    assert!(
        widget.contains("https://github.com/acme/widget/raw/HEAD/docs/logo.png"),
        "a relative image becomes a link into the repository: {widget}"
    );
    assert!(
        widget.contains("A widget &lt;b&gt;maker&lt;/b&gt;"),
        "{widget}"
    );
    assert!(
        widget.contains(r#"id="install-npm">npm install widget@1.0.0</code>"#),
        "{widget}"
    );
    assert!(widget.contains(r#"href="/package/left-pad""#), "{widget}");
    let used_by = widget
        .split(r#"<section id="dependents">"#)
        .nth(1)
        .unwrap_or("");
    assert!(used_by.contains(r#"href="/package/gadget""#), "{widget}");
    assert!(widget.contains(r#"href="/package/@s/util""#), "{widget}");
    assert!(
        widget.contains("<td>2.0.0-beta.1</td>") && widget.contains("<td>1.0.0</td>"),
        "{widget}"
    );
    assert!(widget.contains("<dt>License</dt><dd>MIT</dd>"), "{widget}");
    assert!(
        widget.contains(r#"<strong id="downloads-total">1</strong> in the last 30 days"#),
        "{widget}"
    );
    let (status, widget90, _) = page(&app, "/package/widget?days=90").await;
    assert_eq!(status, 200);
    assert!(widget90.contains("in the last 90 days"), "{widget90}");

    // A deprecation shows as a banner and in the version list.
    let r = app
        .npm(
            reqwest::Method::GET,
            "/widget?write=true",
            Some(&app.tokens.alice),
            None,
        )
        .await;
    let mut doc = r.json();
    doc["versions"]["1.0.0"]["deprecated"] = json!("use gadget");
    let r = app
        .npm(
            reqwest::Method::PUT,
            "/widget",
            Some(&app.tokens.alice),
            Some(doc),
        )
        .await;
    assert!(
        r.status.is_success(),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let (_, widget, _) = page(&app, "/package/widget").await;
    assert!(
        widget.contains(r#"id="deprecated""#) && widget.contains("use gadget"),
        "{widget}"
    );
    assert!(widget.contains(r#"class="is-deprecated""#), "{widget}");

    let (status, zig, _) = page(&app, "/zig/package/plain_pkg").await;
    assert_eq!(status, 200, "{zig}");
    let version: serde_json::Value = app.get("/zig/packages/plain_pkg/1.0.0").await.json();
    let hash = version["hash"].as_str().unwrap();
    assert!(zig.contains(hash), "{zig}");
    assert!(
        zig.contains(&format!(
            "zig fetch --save {}/zig/packages/plain_pkg/1.0.0/tarball",
            app.url
        )),
        "{zig}"
    );
    assert!(zig.contains(".plain_pkg = .{"), "{zig}");

    app.search_settled().await;
    let (status, results, _) = page(&app, "/find?q=widget").await;
    assert_eq!(status, 200);
    assert!(
        results.contains(r#"<ul id="search-results""#)
            && results.contains(r#"href="/package/widget""#),
        "{results}"
    );
    let live = app.get("/find?q=widg&format=json").await;
    assert_eq!(live.status, 200);
    assert_eq!(live.json()["results"][0]["name"], "widget");
    assert_eq!(live.json()["results"][0]["url"], "/package/widget");

    // Not found: a page for a browser, JSON for an API client.
    let (status, missing, r) = page(&app, "/package/no-such-thing").await;
    assert_eq!(status, 404);
    assert!(r.header("content-type").starts_with("text/html"));
    assert!(missing.contains("Package not found"), "{missing}");
    let (status, nowhere, _) = page(&app, "/no/such/page").await;
    assert_eq!(status, 404);
    assert!(nowhere.contains("<h1>Not found</h1>"), "{nowhere}");
    let r = app.get("/no/such/page").await;
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").starts_with("application/json"));
    assert!(r.json()["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_package_is_labelled_with_where_it_came_from() {
    let up = common::upstream::FakeUpstream::start().await;
    up.publish("from-afar", "3.1.0", json!({"tiny": "^1.0.0"}));
    let app = TestApp::start_with_upstream(&up.url).await;
    let (status, html, _) = page(&app, "/package/from-afar").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"id="proxied""#), "{html}");
    assert!(
        html.contains(&format!("from {}, fetched 20", up.url)),
        "{html}"
    );
    assert!(html.contains("3.1.0"), "{html}");
    assert!(html.contains(r#"href="/package/tiny""#), "{html}");
}

/// The session cookie a response sets, if any.
fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("pantry_session="))
        .map(|c| c.split(';').next().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_user_makes_and_revokes_tokens_through_pages() {
    let app = TestApp::start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |path: &str, cookie: Option<&str>, form: &[(&str, &str)]| {
        let mut req = client.post(format!("{}{path}", app.url)).form(form);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };

    // A wrong password: 401 and no cookie.
    let r = post("/login", None, &[("name", "alice"), ("password", "wrong")])
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(session_cookie(&r).is_none());
    let r = post(
        "/login",
        None,
        &[("name", "alice"), ("password", common::ALICE_PASSWORD)],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/account");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = session_cookie(&r).unwrap();
    let account = client
        .get(format!("{}/account", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(account.contains(r#"id="signed-in-as">alice<"#), "{account}");
    let csrf = account
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();

    // A form without this session's form token, or from another origin, changes nothing.
    let r = post(
        "/account/tokens",
        Some(&cookie),
        &[("csrf", "forged"), ("name", "ci")],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let r = client
        .post(format!("{}/account/tokens", app.url))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str()), ("name", "ci")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // A token made in the page works at once with the npm protocol, until it is revoked there.
    let made = post(
        "/account/tokens",
        Some(&cookie),
        &[
            ("csrf", csrf.as_str()),
            ("name", "ci"),
            ("scope", "publish"),
            ("expires_days", "30"),
        ],
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let token = made
        .split(r#"<code id="new-token">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_string();
    assert!(token.starts_with("ptry_"), "{made}");
    let whoami = app
        .npm(reqwest::Method::GET, "/-/whoami", Some(&token), None)
        .await;
    assert_eq!(whoami.status, 200);
    assert_eq!(whoami.json()["username"], "alice");
    let id = made
        .split(r#"<tr data-token-id=""#)
        .skip(1)
        .find(|row| row.contains("<td>ci</td>") || row.contains(">ci<"))
        .and_then(|row| row.split('"').next())
        .unwrap()
        .to_string();
    let r = post(
        "/account/tokens/revoke",
        Some(&cookie),
        &[("csrf", csrf.as_str()), ("id", id.as_str())],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let whoami = app
        .npm(reqwest::Method::GET, "/-/whoami", Some(&token), None)
        .await;
    assert_eq!(whoami.status, 401);

    // Not an admin: the admin pages are refused. Signing out ends the session.
    let r = client
        .get(format!("{}/account/users", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post("/logout", Some(&cookie), &[("csrf", csrf.as_str())])
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = client
        .get(format!("{}/account", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the session ended");

    // Signed in with the admin token: the accounts and the audit log, which recorded the above.
    let r = post("/login", None, &[("token", common::ADMIN_TOKEN)])
        .await
        .unwrap();
    let admin = session_cookie(&r).unwrap();
    let users = client
        .get(format!("{}/account/users", app.url))
        .header("cookie", &admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        users.contains("<td>alice</td>") && users.contains("<td>bob</td>"),
        "{users}"
    );
    let audit = client
        .get(format!("{}/account/audit", app.url))
        .header("cookie", &admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        audit.contains("token.revoke") && audit.contains("user.login"),
        "{audit}"
    );
    assert!(!audit.contains(&token), "no secret in the audit page");

    // An admin invites an account (the invitation works once) and disables another, whose
    // password then no longer signs in.
    let csrf = users
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let invited = post(
        "/account/users",
        Some(&admin),
        &[
            ("csrf", csrf.as_str()),
            ("name", "erin"),
            ("email", "erin@example.com"),
        ],
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let invite = invited
        .split(r#"<code id="new-invite">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_string();
    assert!(!invite.is_empty(), "{invited}");
    let r = app
        .client
        .post(format!("{}/-/invite", app.url))
        .json(&json!({"name": "erin", "invite": invite, "password": "erin-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = post(
        "/account/users/change",
        Some(&admin),
        &[
            ("csrf", csrf.as_str()),
            ("name", "bob"),
            ("action", "disable"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let r = post(
        "/login",
        None,
        &[("name", "bob"), ("password", common::BOB_PASSWORD)],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    let r = post(
        "/login",
        None,
        &[("name", "erin"), ("password", "erin-password-1")],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 303, "the invited account signs in");
    // A non-admin's session cannot change accounts.
    let erin = session_cookie(&r).unwrap();
    let r = post(
        "/account/users/change",
        Some(&erin),
        &[
            ("csrf", csrf.as_str()),
            ("name", "alice"),
            ("action", "disable"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_published_without_a_readme_in_its_metadata_shows_its_tarballs() {
    let app = TestApp::start().await;
    let tgz = common::tarball_with(&[
        (
            "package/package.json",
            json!({"name": "plain-api", "version": "1.0.0"})
                .to_string()
                .into_bytes(),
        ),
        (
            "package/README.md",
            b"# From the tarball\n\nPublished with `POST /publish`.\n".to_vec(),
        ),
    ]);
    let r = app
        .publish_multipart(
            Some(&app.tokens.alice),
            &json!({"name": "plain-api", "version": "1.0.0"}).to_string(),
            tgz,
        )
        .await;
    assert_eq!(r.status, 201);
    let (status, html, _) = page(&app, "/package/plain-api").await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>From the tarball</h1>"), "{html}");
    // npm clients see it too, as npm's own registry shows a package's README.
    let packument = app.get("/npm/plain-api").await.json();
    assert!(
        packument["readme"]
            .as_str()
            .is_some_and(|r| r.starts_with("# From the tarball")),
        "{packument}"
    );
}
