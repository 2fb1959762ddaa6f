//! Who may read what (`access.*`): private names are neither served nor revealed to a caller
//! without a token on any route (npm protocol, Pantry API, Zig, search, analytics), the real
//! clients install them with a read token, and public packages stay readable by anyone.

use crate::common;

use common::sandbox::Sandbox;
use common::tools::tools;
use common::upstream::FakeUpstream;
use common::{Response, TestApp, fallback_to, with_settings};
use serde_json::{Value, json};

/// `GET {path}` on the app with an optional token.
async fn get(app: &TestApp, path: &str, token: Option<&str>) -> Response {
    let mut req = app.client.get(format!("{}{path}", app.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Response::from(req.send().await.unwrap()).await
}

/// A registry where `@team/*` (npm) and `acme_*` (Zig) need a token, holding `@team/secret`,
/// the public `open-pkg` and the Zig packages `acme__http_client` (private) and `plain_pkg`, each
/// downloaded once; returns it with the private Zig package's hash.
async fn private_scope_registry() -> (TestApp, String) {
    let app = TestApp::start_with(with_settings(&[(
        "access.authenticated",
        "@team/*, acme_*",
    )]))
    .await;
    for name in ["@team/secret", "open-pkg"] {
        let (r, _) = app
            .npm_publish(&app.tokens.alice, name, "1.0.0", "latest")
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zig-vectors");
    let file = "acme_http_client-2.10.0-beta.1.tar.zst";
    let r = app
        .zig_publish(
            Some(&app.tokens.alice),
            file,
            std::fs::read(format!("{dir}/{file}")).unwrap(),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let hash = r.json()["hash"].as_str().unwrap().to_string();
    let reader = Some(app.tokens.reader.as_str());
    for path in [
        "/npm/@team/secret/-/secret-1.0.0.tgz",
        "/npm/open-pkg/-/open-pkg-1.0.0.tgz",
        "/zig/packages/acme__http_client/2.10.0-beta.1/tarball",
        "/zig/packages/plain_pkg/1.0.0/tarball",
    ] {
        assert_eq!(get(&app, path, reader).await.status, 200, "{path}");
    }
    app.search_settled().await;
    (app, hash)
}

/// Every route that reads one package, for `(npm name, Zig name)`.
fn package_routes(npm: &str, zig: &str) -> Vec<String> {
    let encoded = npm.replace('/', "%2f");
    let bare = npm.rsplit('/').next().unwrap();
    vec![
        format!("/npm/{encoded}"),
        format!("/npm/{npm}"),
        format!("/npm/{encoded}/1.0.0"),
        format!("/npm/{encoded}/latest"),
        format!("/npm/{npm}/-/{bare}-1.0.0.tgz"),
        format!("/npm/-/package/{encoded}/dist-tags"),
        format!("/packages/{npm}"),
        format!("/packages/{npm}/versions"),
        format!("/packages/{npm}/1.0.0"),
        format!("/packages/{npm}/1.0.0/tarball"),
        format!("/analytics/{npm}"),
        format!("/analytics/{npm}/timeline"),
        format!("/downloads/point/last-week/{npm}"),
        format!("/downloads/range/last-week/{npm}"),
        format!("/versions/{encoded}/last-week"),
        format!("/zig/packages/{zig}"),
        format!("/zig/packages/{zig}/versions"),
        format!("/zig/packages/{zig}/2.10.0-beta.1"),
        format!("/zig/packages/{zig}/2.10.0-beta.1/tarball"),
        format!("/analytics/{zig}?ecosystem=zig"),
        format!("/downloads/point/last-week/{zig}?ecosystem=zig"),
    ]
}

/// The names every listing shows to `token`: search (both shapes, both ecosystems) and the
/// download ranking.
async fn listed(app: &TestApp, token: Option<&str>) -> Vec<String> {
    let mut names = Vec::new();
    for path in [
        "/search?q=",
        "/zig/search?q=",
        "/search?q=secret",
        "/search?q=acme",
    ] {
        let r = get(app, path, token).await;
        assert_eq!(r.status, 200, "{path}");
        for hit in r.json()["results"].as_array().unwrap() {
            names.push(hit["name"].as_str().unwrap().to_string());
        }
    }
    let r = get(app, "/npm/-/v1/search?text=secret", token).await;
    assert_eq!(r.status, 200);
    for o in r.json()["objects"].as_array().unwrap() {
        names.push(o["package"]["name"].as_str().unwrap().to_string());
    }
    let r = get(app, "/analytics/top?limit=50", token).await;
    assert_eq!(r.status, 200);
    for p in r.json()["packages"].as_array().unwrap() {
        names.push(p["name"].as_str().unwrap().to_string());
    }
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn private_names_are_neither_served_nor_revealed_without_a_token() {
    let (app, hash) = private_scope_registry().await;
    let reader = app.tokens.reader.clone();

    // Without a token, every route answers 401, and a name that does not exist gets the very
    // same answer: nothing tells the two apart.
    let existing = package_routes("@team/secret", "acme__http_client");
    let missing = package_routes("@team/nothing", "acme_nothing");
    for (path, ghost) in existing.iter().zip(&missing) {
        let r = get(&app, path, None).await;
        let message = r.error(401);
        assert!(
            message.contains("authorization required") && message.contains("private"),
            "{path}: {message}"
        );
        assert!(
            r.header("www-authenticate").contains("Bearer"),
            "{path}: {:?}",
            r.headers
        );
        let g = get(&app, ghost, None).await;
        assert_eq!(g.status, 401, "{ghost}");
        let (real, fake) = if path.contains("acme_") {
            ("acme__http_client", "acme_nothing")
        } else {
            ("secret", "nothing")
        };
        assert_eq!(
            message.replace(real, "X"),
            g.json()["error"].as_str().unwrap().replace(fake, "X"),
            "{path} and {ghost} must answer alike"
        );
    }
    // A token that does not check out is refused with its reason.
    let r = get(&app, "/packages/@team/secret", Some(&app.tokens.expired)).await;
    assert!(r.error(401).contains("Token expired"));
    let r = get(&app, "/npm/@team%2fsecret", Some("ptry_not-a-token")).await;
    r.error(401);

    // The hash lookup names no package, so a private one is simply not found.
    let r = get(&app, &format!("/zig/hash/{hash}"), None).await;
    assert_eq!(r.error(404), "Package not found for this hash");
    // In a list of names, a private one is as unknown as a missing one.
    let r = get(
        &app,
        "/downloads/point/last-week/open-pkg,@team/secret",
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["@team/secret"], Value::Null);
    assert_eq!(r.json()["open-pkg"]["downloads"], 1);

    // Listings leave the private packages out.
    assert_eq!(
        listed(&app, None).await,
        ["open-pkg", "plain_pkg", "zig:plain_pkg"],
    );
    // Public packages stay readable by anyone.
    for path in [
        "/npm/open-pkg",
        "/npm/open-pkg/-/open-pkg-1.0.0.tgz",
        "/packages/open-pkg",
        "/packages/open-pkg/1.0.0/tarball",
        "/analytics/open-pkg",
        "/zig/packages/plain_pkg",
        "/zig/packages/plain_pkg/1.0.0/tarball",
    ] {
        assert_eq!(get(&app, path, None).await.status, 200, "{path}");
    }

    // With a read token, everything is there.
    for path in &existing {
        let r = get(&app, path, Some(&reader)).await;
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(
        get(&app, &format!("/zig/hash/{hash}"), Some(&reader))
            .await
            .json()["name"],
        "acme__http_client"
    );
    assert_eq!(
        listed(&app, Some(&reader)).await,
        [
            "@team/secret",
            "acme__http_client",
            "open-pkg",
            "plain_pkg",
            "zig:acme__http_client",
            "zig:plain_pkg"
        ],
    );
    // Private downloads were counted all along (the setup's and the two tarball routes just
    // read); the reader sees them.
    let stats = get(&app, "/analytics/@team/secret", Some(&reader))
        .await
        .json();
    assert_eq!(stats["totalDownloads"], 3, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_pnpm_yarn_and_bun_install_a_private_package_with_a_read_token() {
    let (app, _) = private_scope_registry().await;
    let reader = app.tokens.reader.clone();
    let tools = tools();
    let manifest = json!({"name": "project", "version": "1.0.0", "private": true,
        "dependencies": {"@team/secret": "^1.0.0", "open-pkg": "1.0.0"}});
    let installed = |dir: &std::path::Path| {
        let read = |p: &str| -> Value {
            serde_json::from_slice(&std::fs::read(dir.join(p)).unwrap()).unwrap()
        };
        assert_eq!(
            read("node_modules/@team/secret/package.json")["version"],
            "1.0.0"
        );
        assert_eq!(
            read("node_modules/open-pkg/package.json")["version"],
            "1.0.0"
        );
    };

    // npm without a token: refused, with the server's reason.
    let sb = Sandbox::new(&app);
    let project = sb.package("anonymous", manifest.clone());
    let out = sb.run(&tools.npm, &["install"], &project).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("E401") && stderr.contains("packages matching @team/* are private"),
        "{stderr}"
    );
    assert!(!project.join("node_modules/@team/secret").exists());

    // npm with the read token.
    sb.write_npmrc(Some(&reader));
    let project = sb.package("npm-project", manifest.clone());
    sb.ok(&tools.npm, &["install"], &project).await;
    installed(&project);

    // pnpm reads the same .npmrc.
    let project = sb.package("pnpm-project", manifest.clone());
    let store = sb.root.path().join("pnpm-store");
    sb.ok(
        &tools.pnpm,
        &["install", "--store-dir", store.to_str().unwrap()],
        &project,
    )
    .await;
    installed(&project);

    // yarn: the token in .yarnrc.yml (scoped packages get it without npmAlwaysAuth).
    let project = sb.package("yarn-project", manifest.clone());
    std::fs::write(
        project.join(".yarnrc.yml"),
        format!(
            "npmRegistryServer: \"{}/npm/\"\nunsafeHttpWhitelist: [\"127.0.0.1\"]\nnpmAuthToken: \"{reader}\"\nnpmMinimalAgeGate: 0\nnodeLinker: node-modules\nenableTelemetry: false\nenableGlobalCache: false\n",
            app.url
        ),
    )
    .unwrap();
    std::fs::write(project.join("yarn.lock"), "").unwrap();
    sb.ok(&tools.yarn, &["install"], &project).await;
    installed(&project);

    // bun: the token in bunfig.toml.
    let project = sb.package("bun-project", manifest.clone());
    std::fs::write(
        project.join("bunfig.toml"),
        format!(
            "[install]\nregistry = {{ url = \"{}/npm/\", token = \"{reader}\" }}\n",
            app.url
        ),
    )
    .unwrap();
    sb.ok(&tools.bun, &["install"], &project).await;
    installed(&project);
}

#[tokio::test]
async fn a_private_registry_and_a_private_upstream_refuse_before_looking() {
    let upstream = FakeUpstream::start().await;
    upstream.publish("left-pad", "1.3.0", json!({}));
    upstream.publish("@team/lookalike", "9.9.9", json!({}));
    let app = TestApp::start_with(fallback_to(
        &upstream.url,
        &[
            ("access.read", "authenticated"),
            ("access.authenticated", "@team/*"),
            ("npm.local_scopes", "@s"),
        ],
    ))
    .await;
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "@s/local", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let reader = app.tokens.reader.clone();

    // Packages published here need a token; upstream ones stay public (access.upstream_read).
    assert!(
        get(&app, "/npm/@s%2flocal", None)
            .await
            .error(401)
            .contains("private")
    );
    assert!(
        get(&app, "/packages/@s/local", None)
            .await
            .error(401)
            .contains("private")
    );
    assert_eq!(
        get(&app, "/npm/@s%2flocal", Some(&reader)).await.status,
        200
    );
    assert_eq!(get(&app, "/npm/left-pad", None).await.status, 200);
    assert_eq!(get(&app, "/packages/left-pad", None).await.status, 200);

    // A private pattern is refused before the upstream is asked: a CI job that forgot its
    // token never installs a public package that happens to carry a private name.
    get(&app, "/npm/@team%2flookalike", None).await.error(401);
    get(&app, "/npm/@team/lookalike/-/lookalike-9.9.9.tgz", None)
        .await
        .error(401);
    assert_eq!(upstream.packument_requests("@team/lookalike"), 0);
    // Search shows nothing published here to an anonymous caller; cached upstream packages stay.
    app.search_settled().await;
    let names = |r: Response| -> Vec<String> {
        r.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(get(&app, "/search?q=", None).await), ["left-pad"]);
    let mut all = names(get(&app, "/search?q=", Some(&reader)).await);
    all.sort();
    assert_eq!(all, ["@s/local", "left-pad"]);

    // With access.upstream_read = authenticated, an anonymous caller gets nothing, and the
    // upstream is not asked for it.
    let app = app
        .restart_with(fallback_to(
            &upstream.url,
            &[
                ("access.read", "authenticated"),
                ("access.upstream_read", "authenticated"),
            ],
        ))
        .await;
    upstream.publish("is-odd", "3.0.1", json!({}));
    let r = get(&app, "/npm/is-odd", None).await;
    assert!(r.error(401).contains("this registry is private"));
    assert_eq!(get(&app, "/packages/is-odd", None).await.status, 401);
    assert_eq!(upstream.packument_requests("is-odd"), 0);
    let r = get(&app, "/npm/is-odd", Some(&app.tokens.reader)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(upstream.packument_requests("is-odd"), 1);
    app.search_settled().await;
    assert!(names(get(&app, "/search?q=", None).await).is_empty());
    assert_eq!(
        get(&app, "/analytics/top", None).await.json()["packages"],
        json!([])
    );
}
