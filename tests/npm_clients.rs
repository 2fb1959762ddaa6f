//! The real clients against the real server: npm 11 (the machine's), pnpm 10, yarn 4 and bun,
//! each in its own temporary home, cache and project, talking to a registry on 127.0.0.1.

use crate::common;

use std::path::{Path, PathBuf};

use common::sandbox::Sandbox;
use common::tools::tools;
use common::{ALICE_PASSWORD, TestApp, sha256_hex};
use serde_json::{Value, json};

fn npm() -> PathBuf {
    tools().npm.clone()
}

/// Drives an interactive npm command (`npm login` needs a terminal for its prompts) through a
/// pseudo-terminal: argv[1] is a JSON list of (prompt, answer) pairs, each answered when its
/// prompt appears; the rest is the command.
const PROMPT_DRIVER: &str = r#"
import json, os, pty, signal, sys, select, time
answers = [(p.encode(), a) for p, a in json.loads(sys.argv[1])]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
seen, deadline = b"", time.time() + 120
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.5)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        sys.stdout.buffer.write(chunk)
    if answers and answers[0][0] in seen:
        time.sleep(0.2)
        os.write(fd, answers.pop(0)[1].encode() + b"\r")
        seen = b""
# A command still waiting (for a prompt nobody answers) by the deadline is stopped, not waited on.
if time.time() >= deadline:
    os.kill(pid, signal.SIGKILL)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

/// Runs `npm adduser` in the sandbox, answering its prompts; (success, what it printed).
async fn npm_adduser(sb: &Sandbox, user: &str, password: &str, email: &str) -> (bool, String) {
    let root = sb.root.path();
    let answers = json!([
        ["Username:", user],
        ["Password:", password],
        ["Email", email]
    ]);
    let out = tokio::process::Command::new("python3")
        .args([
            "-c",
            PROMPT_DRIVER,
            &answers.to_string(),
            "npm",
            "adduser",
            "--auth-type=legacy",
        ])
        .env("HOME", root.join("home"))
        .env("npm_config_userconfig", sb.npmrc())
        .env("npm_config_cache", root.join("npm-cache"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                npm().parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .current_dir(root)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn npm_prints_our_reasons_and_an_admin_adds_users_with_npm_adduser() {
    let app = TestApp::start().await;
    let sb = Sandbox::new(&app);
    let root = sb.root.path().to_path_buf();

    // A token that is not ours: npm says why, in our words, not only "Unable to authenticate".
    sb.write_npmrc(Some("ptry_not-a-token-of-this-registry"));
    let out = sb.run(&npm(), &["whoami"], &root).await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("Invalid token"), "{said}");

    // Without an admin's token, adduser is refused, with the way to do it.
    sb.write_npmrc(None);
    let (ok, said) = npm_adduser(&sb, "newbie", "newbie-password-1", "newbie@example.com").await;
    assert!(!ok, "{said}");
    assert!(said.contains("created by an administrator"), "{said}");

    // With one, npm adduser creates the account (and logs in as it).
    sb.write_npmrc(Some(common::ADMIN_TOKEN));
    let (ok, said) = npm_adduser(&sb, "newbie", "newbie-password-1", "newbie@example.com").await;
    assert!(ok, "{said}");
    assert_eq!(sb.ok(&npm(), &["whoami"], &root).await.trim(), "newbie");
    let audit = app
        .client
        .get(format!("{}/-/admin/audit?actor=$admin", app.url))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "user.create" && e["target"] == "user:newbie"),
        "{audit}"
    );
}

async fn lockfile_entry(project: &Path, name: &str) -> Value {
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("package-lock.json")).unwrap())
            .unwrap();
    lock["packages"][format!("node_modules/{name}")].clone()
}

/// With `server.base_url` unset, a lockfile records the address the client installed through:
/// two projects, two addresses of one registry, two lockfiles whose tarballs each download.
#[tokio::test]
async fn lockfiles_record_the_address_npm_used_when_no_base_url_is_set() {
    let app = TestApp::start_with(|b| b.setting("server.base_url", "").unwrap()).await;
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "two-addresses", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);
    let port = app.url.rsplit(':').next().unwrap().to_string();
    for host in ["127.0.0.1", "localhost"] {
        let mut sb = Sandbox::new(&app);
        sb.registry = format!("http://{host}:{port}/npm/");
        sb.write_npmrc(None);
        let project = sb.package(
            "project",
            json!({"name": "project", "version": "1.0.0", "private": true}),
        );
        sb.ok(&npm(), &["install", "two-addresses"], &project).await;
        let entry = lockfile_entry(&project, "two-addresses").await;
        let resolved = entry["resolved"].as_str().unwrap();
        assert_eq!(
            resolved,
            format!("http://{host}:{port}/npm/two-addresses/-/two-addresses-1.0.0.tgz"),
            "{entry}"
        );
        let served = app.client.get(resolved).send().await.unwrap();
        assert_eq!(served.status(), 200, "{resolved}");
    }
}

/// The sha512 SRI of what the registry serves at `url`.
async fn served_integrity(app: &TestApp, url: &str) -> String {
    let bytes = app
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (_, _, integrity) = pantry_registry::core::tarball::digests(&bytes);
    integrity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_end_to_end() {
    let app = TestApp::start().await;
    let sb = Sandbox::new(&app);
    let root = sb.root.path().to_path_buf();

    // Log in through npm's own prompts (the couch flow); the token lands in the npmrc.
    let login = tokio::process::Command::new("python3")
        .args([
            "-c",
            PROMPT_DRIVER,
            &json!([["Username:", "alice"], ["Password:", ALICE_PASSWORD]]).to_string(),
            "npm",
            "login",
        ])
        .env("HOME", root.join("home"))
        .env("npm_config_userconfig", sb.npmrc())
        .env("npm_config_cache", root.join("npm-cache"))
        .current_dir(&root)
        .output()
        .await
        .unwrap();
    assert!(
        login.status.success(),
        "npm login: {}",
        String::from_utf8_lossy(&login.stdout)
    );
    let token = sb.token_in_npmrc().expect("npm login wrote a token");
    assert_eq!(sb.ok(&npm(), &["whoami"], &root).await.trim(), "alice");

    // Publish unscoped, scoped, and a prerelease with --tag beta.
    let demo = sb.package("demo", json!({"name": "npm-demo", "version": "1.0.0", "description": "npm demo package", "keywords": ["demo"]}));
    sb.ok(&npm(), &["publish"], &demo).await;
    let scoped = sb.package(
        "scoped",
        json!({"name": "@team/npm-demo", "version": "1.0.0", "description": "scoped demo"}),
    );
    sb.ok(&npm(), &["publish"], &scoped).await;
    let beta = sb.package(
        "beta",
        json!({"name": "npm-demo", "version": "1.1.0-beta.0", "description": "npm demo package"}),
    );
    sb.ok(&npm(), &["publish", "--tag", "beta"], &beta).await;
    let view: Value =
        serde_json::from_str(&sb.ok(&npm(), &["view", "npm-demo", "--json"], &root).await).unwrap();
    assert_eq!(
        view["dist-tags"],
        json!({"latest": "1.0.0", "beta": "1.1.0-beta.0"})
    );
    assert_eq!(view["versions"], json!(["1.0.0", "1.1.0-beta.0"]));
    assert_eq!(view["maintainers"], json!(["alice <alice@example.com>"]));

    // Install into a fresh project; the lockfile's resolved/integrity are ours and verify.
    let project = sb.package(
        "project",
        json!({"name": "project", "version": "1.0.0", "private": true}),
    );
    sb.ok(&npm(), &["install", "npm-demo", "@team/npm-demo"], &project)
        .await;
    assert!(project.join("node_modules/npm-demo/index.js").exists());
    assert!(
        project
            .join("node_modules/@team/npm-demo/package.json")
            .exists()
    );
    for (name, bare) in [("npm-demo", "npm-demo"), ("@team/npm-demo", "npm-demo")] {
        let entry = lockfile_entry(&project, name).await;
        let resolved = entry["resolved"].as_str().unwrap();
        assert_eq!(
            resolved,
            format!("{}/npm/{name}/-/{bare}-1.0.0.tgz", app.url)
        );
        assert_eq!(entry["integrity"], served_integrity(&app, resolved).await);
    }
    // A clean reinstall from the lockfile verifies the integrity again.
    std::fs::remove_dir_all(project.join("node_modules")).unwrap();
    sb.ok(&npm(), &["ci"], &project).await;
    // npm audit talks to us; with no upstream it is an empty, successful report.
    let audit: Value =
        serde_json::from_str(&sb.ok(&npm(), &["audit", "--json"], &project).await).unwrap();
    assert_eq!(audit["metadata"]["vulnerabilities"]["total"], 0);

    // dist-tag add / ls / rm
    sb.ok(
        &npm(),
        &["dist-tag", "add", "npm-demo@1.1.0-beta.0", "next"],
        &root,
    )
    .await;
    let tags = sb.ok(&npm(), &["dist-tag", "ls", "npm-demo"], &root).await;
    assert!(
        tags.contains("next: 1.1.0-beta.0") && tags.contains("latest: 1.0.0"),
        "{tags}"
    );
    sb.ok(&npm(), &["dist-tag", "rm", "npm-demo", "next"], &root)
        .await;
    assert!(
        !sb.ok(&npm(), &["dist-tag", "ls", "npm-demo"], &root)
            .await
            .contains("next")
    );

    // deprecate / undeprecate
    sb.ok(&npm(), &["deprecate", "npm-demo@1.0.0", "use 2.x"], &root)
        .await;
    assert_eq!(
        sb.ok(&npm(), &["view", "npm-demo@1.0.0", "deprecated"], &root)
            .await
            .trim(),
        "use 2.x"
    );
    sb.ok(&npm(), &["deprecate", "npm-demo@1.0.0", ""], &root)
        .await;
    assert_eq!(
        sb.ok(&npm(), &["view", "npm-demo@1.0.0", "deprecated"], &root)
            .await
            .trim(),
        ""
    );

    // owner ls / add / rm
    sb.ok(&npm(), &["owner", "add", "bob", "npm-demo"], &root)
        .await;
    let owners = sb.ok(&npm(), &["owner", "ls", "npm-demo"], &root).await;
    assert!(
        owners.contains("alice <alice@example.com>") && owners.contains("bob <bob@example.com>"),
        "{owners}"
    );
    sb.ok(&npm(), &["owner", "rm", "bob", "npm-demo"], &root)
        .await;
    assert!(
        !sb.ok(&npm(), &["owner", "ls", "npm-demo"], &root)
            .await
            .contains("bob")
    );

    // search and ping
    let found: Value = serde_json::from_str(
        &sb.ok(&npm(), &["search", "npm-demo", "--json"], &root)
            .await,
    )
    .unwrap();
    let names: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"npm-demo") && names.contains(&"@team/npm-demo"),
        "{names:?}"
    );
    let human = sb.ok(&npm(), &["search", "npm-demo"], &root).await;
    assert!(!human.contains("???") && human.contains("alice"), "{human}");
    sb.ok(&npm(), &["ping"], &root).await;

    // token create / list / revoke (create asks for the password on stdin)
    let created = {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args([
            "-c",
            &format!("echo {ALICE_PASSWORD} | npm token create --json"),
        ])
        .env("HOME", root.join("home"))
        .env("npm_config_userconfig", sb.npmrc())
        .env("npm_config_cache", root.join("npm-cache"))
        .current_dir(&root);
        let out = cmd.output().await.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let json_start = text.find('{').expect("token create prints JSON");
        serde_json::from_str::<Value>(&text[json_start..]).unwrap()
    };
    let new_token = created["token"].as_str().unwrap().to_string();
    let listed = sb.ok(&npm(), &["token", "list", "--json"], &root).await;
    assert!(
        !listed.contains(&new_token[5..]),
        "secrets are never listed: {listed}"
    );
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let key = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "npm token create")
        .expect("the new token is listed")["key"]
        .as_str()
        .unwrap()
        .to_string();
    sb.ok(&npm(), &["token", "revoke", &key], &root).await;
    assert!(
        !sb.ok(&npm(), &["token", "list", "--json"], &root)
            .await
            .contains(&key)
    );
    assert_eq!(
        app.npm(reqwest::Method::GET, "/-/whoami", Some(&new_token), None)
            .await
            .status,
        401
    );

    // unpublish one version, then a whole package
    sb.ok(&npm(), &["unpublish", "npm-demo@1.1.0-beta.0"], &root)
        .await;
    let view: Value =
        serde_json::from_str(&sb.ok(&npm(), &["view", "npm-demo", "--json"], &root).await).unwrap();
    assert_eq!(view["versions"], json!(["1.0.0"]));
    sb.ok(&npm(), &["unpublish", "@team/npm-demo", "--force"], &root)
        .await;
    let gone = sb.run(&npm(), &["view", "@team/npm-demo"], &root).await;
    assert!(!gone.status.success() && String::from_utf8_lossy(&gone.stderr).contains("404"));
    // A version number is never reused.
    let reuse = sb.run(&npm(), &["publish", "--tag", "beta"], &beta).await;
    assert!(!reuse.status.success());
    assert!(
        String::from_utf8_lossy(&reuse.stderr)
            .contains("cannot publish over the previously published")
    );

    // logout revokes the token on the server, not just in the npmrc.
    sb.ok(&npm(), &["logout"], &root).await;
    assert!(sb.token_in_npmrc().is_none());
    assert_eq!(
        app.npm(reqwest::Method::GET, "/-/whoami", Some(&token), None)
            .await
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pnpm_installs_publishes_and_audits() {
    let app = TestApp::start().await;
    let sb = Sandbox::new(&app);
    sb.write_npmrc(Some(&app.tokens.alice));
    let pnpm = tools().pnpm.clone();
    let store = sb.root.path().join("pnpm-store");
    let store = store.to_str().unwrap();
    // pnpm publish shells out to npm, so this is npm's wire with pnpm's manifest handling.
    let lib = sb.package(
        "lib",
        json!({"name": "@p/lib", "version": "2.0.0", "description": "for pnpm"}),
    );
    sb.ok(&pnpm, &["publish", "--no-git-checks"], &lib).await;
    let project = sb.package(
        "project",
        json!({"name": "project", "version": "1.0.0", "private": true}),
    );
    sb.ok(&pnpm, &["add", "@p/lib", "--store-dir", store], &project)
        .await;
    assert!(project.join("node_modules/@p/lib/index.js").exists());
    let lock = std::fs::read_to_string(project.join("pnpm-lock.yaml")).unwrap();
    let url = format!("{}/npm/@p/lib/-/lib-2.0.0.tgz", app.url);
    assert!(lock.contains(&served_integrity(&app, &url).await), "{lock}");
    let audit = sb.run(&pnpm, &["audit", "--json"], &project).await;
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    let report: Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(report["metadata"]["vulnerabilities"]["critical"], 0);
}

fn yarnrc(app: &TestApp, token: &str) -> String {
    format!(
        "npmRegistryServer: \"{}/npm/\"\nunsafeHttpWhitelist: [\"127.0.0.1\"]\nnpmAuthToken: \"{token}\"\nnpmAlwaysAuth: true\nnpmMinimalAgeGate: 0\nnodeLinker: node-modules\nenableTelemetry: false\nenableGlobalCache: false\n",
        app.url
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yarn_installs_publishes_and_reads_info() {
    let app = TestApp::start().await;
    let sb = Sandbox::new(&app);
    let yarn = tools().yarn.clone();
    let lib = sb.package(
        "lib",
        json!({"name": "@y/lib", "version": "0.3.0", "description": "for yarn"}),
    );
    std::fs::write(lib.join(".yarnrc.yml"), yarnrc(&app, &app.tokens.alice)).unwrap();
    std::fs::write(lib.join("yarn.lock"), "").unwrap();
    sb.ok(&yarn, &["install"], &lib).await;
    let out = sb.ok(&yarn, &["npm", "publish"], &lib).await;
    assert!(out.contains("Package archive published"), "{out}");
    let project = sb.package("project", json!({"name": "project", "version": "1.0.0", "private": true, "dependencies": {"@y/lib": "^0.3.0"}}));
    std::fs::write(project.join(".yarnrc.yml"), yarnrc(&app, &app.tokens.alice)).unwrap();
    std::fs::write(project.join("yarn.lock"), "").unwrap();
    sb.ok(&yarn, &["install"], &project).await;
    assert!(project.join("node_modules/@y/lib/index.js").exists());
    let info: Value = serde_json::from_str(
        &sb.ok(&yarn, &["npm", "info", "@y/lib", "--json"], &project)
            .await,
    )
    .unwrap();
    assert_eq!(info["name"], "@y/lib");
    assert_eq!(info["dist-tags"]["latest"], "0.3.0");
    // yarn put the readme at the top level of its publish; it still lands on the version.
    let doc = app
        .npm(reqwest::Method::GET, "/@y%2flib", None, None)
        .await
        .json();
    assert_eq!(doc["readme"], "# @y/lib\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bun_installs_and_publishes() {
    let app = TestApp::start().await;
    let sb = Sandbox::new(&app);
    let bun = tools().bun.clone();
    let bunfig = format!(
        "[install]\nregistry = {{ url = \"{}/npm/\", token = \"{}\" }}\n",
        app.url, app.tokens.alice
    );
    let lib = sb.package(
        "lib",
        json!({"name": "@b/lib", "version": "1.2.3", "description": "for bun"}),
    );
    std::fs::write(lib.join("bunfig.toml"), &bunfig).unwrap();
    let out = sb.run(&bun, &["publish"], &lib).await;
    assert!(
        out.status.success(),
        "bun publish: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let project = sb.package(
        "project",
        json!({"name": "project", "version": "1.0.0", "private": true}),
    );
    std::fs::write(project.join("bunfig.toml"), &bunfig).unwrap();
    sb.ok(&bun, &["add", "@b/lib"], &project).await;
    let installed = std::fs::read(project.join("node_modules/@b/lib/package.json")).unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&installed).unwrap()["version"],
        "1.2.3"
    );
    // What bun installed is what the registry serves.
    let url = format!("{}/npm/@b/lib/-/lib-1.2.3.tgz", app.url);
    let served = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        app.get("/packages/@b/lib").await.json()["checksum"],
        format!("sha256:{}", sha256_hex(&served))
    );
}

/// Publishes `name@version` with dependencies to a registry over the npm protocol.
async fn publish_with_deps(registry: &TestApp, name: &str, version: &str, deps: Value) {
    let manifest = json!({"name": name, "version": version, "dependencies": deps});
    let tgz = common::npm_tarball(&manifest);
    let mut doc = common::npm_publish_doc(name, version, "latest", &tgz);
    doc["versions"][version]["dependencies"] = deps;
    let r = registry
        .npm(
            reqwest::Method::PUT,
            &format!("/{}", name.replace('/', "%2f")),
            Some(&registry.tokens.alice),
            Some(doc),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_install_an_upstream_only_tree_and_keep_working_when_the_upstream_goes_away() {
    // The upstream is a second, real registry instance on 127.0.0.1.
    let mut upstream = TestApp::start().await;
    publish_with_deps(&upstream, "leaf-dep", "1.0.0", json!({})).await;
    publish_with_deps(&upstream, "leaf-dep", "1.1.0", json!({})).await;
    publish_with_deps(
        &upstream,
        "@up/mid-dep",
        "2.0.0",
        json!({"leaf-dep": "^1.0.0"}),
    )
    .await;
    let upstream_url = format!("{}/npm/", upstream.url);
    // max age 0: every request revalidates, so the second round must live on stale-if-error.
    let app = TestApp::start_with(move |b| {
        b.setting("npm.fallback", "true")
            .unwrap()
            .setting("npm.upstream", upstream_url)
            .unwrap()
            .setting("npm.cache_max_age_secs", "0")
            .unwrap()
    })
    .await;
    let pnpm = tools().pnpm.clone();
    let bun = tools().bun.clone();

    let install_everywhere = |round: &'static str| {
        let app = &app;
        let (pnpm, bun) = (pnpm.clone(), bun.clone());
        async move {
            let sb = Sandbox::new(app);
            let manifest = json!({"name": format!("consumer-{round}"), "version": "1.0.0", "private": true, "dependencies": {"@up/mid-dep": "^2.0.0"}});
            let npm_project = sb.package("npm-project", manifest.clone());
            sb.ok(&npm(), &["install"], &npm_project).await;
            assert!(
                npm_project
                    .join("node_modules/leaf-dep/package.json")
                    .exists(),
                "npm {round}"
            );
            let entry = lockfile_entry(&npm_project, "leaf-dep").await;
            assert_eq!(entry["version"], "1.1.0");
            assert!(
                entry["resolved"].as_str().unwrap().starts_with(&app.url),
                "resolved points here: {entry}"
            );
            let pnpm_project = sb.package("pnpm-project", manifest.clone());
            let store = sb.root.path().join("pnpm-store");
            sb.ok(
                &pnpm,
                &["install", "--store-dir", store.to_str().unwrap()],
                &pnpm_project,
            )
            .await;
            assert!(
                pnpm_project
                    .join("node_modules/@up/mid-dep/package.json")
                    .exists(),
                "pnpm {round}"
            );
            let bun_project = sb.package("bun-project", manifest);
            std::fs::write(
                bun_project.join("bunfig.toml"),
                format!("[install]\nregistry = \"{}/npm/\"\n", app.url),
            )
            .unwrap();
            sb.ok(&bun, &["install"], &bun_project).await;
            assert!(
                bun_project
                    .join("node_modules/leaf-dep/package.json")
                    .exists(),
                "bun {round}"
            );
        }
    };
    install_everywhere("online").await;
    upstream.stop().await;
    // Fresh projects and fresh client caches: everything comes from our cache.
    install_everywhere("upstream-down").await;
    let stale = app.npm(reqwest::Method::GET, "/leaf-dep", None, None).await;
    assert_eq!(stale.header("x-pantry-cache"), "stale");
}

/// `npm star`, `npm unstar` and `npm stars` with real npm: a star is kept per user (the
/// packument's `users`), listed by `npm stars`, and removed by `npm unstar`; one user's star
/// does not touch another's; a root-URL npm is told where the npm registry is.
#[tokio::test]
async fn npm_stars_are_kept_per_user_and_listed() {
    let app = TestApp::start().await;
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "starry", "1.0.0", "latest")
        .await;
    assert!(r.status.is_success());
    let t = tools();
    let alice = Sandbox::new(&app);
    alice.write_npmrc(Some(&app.tokens.alice));
    let bob = Sandbox::new(&app);
    bob.write_npmrc(Some(&app.tokens.bob));
    let cwd = alice.root.path().to_path_buf();
    alice.ok(&t.npm, &["star", "starry"], &cwd).await;
    bob.ok(&t.npm, &["star", "starry"], &cwd).await;
    let users = app
        .npm(reqwest::Method::GET, "/starry", None, None)
        .await
        .json()["users"]
        .clone();
    assert_eq!(users, json!({"alice": true, "bob": true}));
    let page = app.get("/package/starry").await;
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains(r#"<span id="stars">2</span>"#), "{html}");
    let listed = alice.ok(&t.npm, &["stars"], &cwd).await;
    assert!(listed.contains("starry"), "{listed}");
    alice.ok(&t.npm, &["unstar", "starry"], &cwd).await;
    let users = app
        .npm(reqwest::Method::GET, "/starry", None, None)
        .await
        .json()["users"]
        .clone();
    assert_eq!(
        users,
        json!({"bob": true}),
        "alice's unstar leaves bob's star"
    );
    let listed = alice.ok(&t.npm, &["stars", "alice"], &cwd).await;
    assert!(!listed.contains("starry"), "{listed}");
    let listed = bob.ok(&t.npm, &["stars", "bob"], &cwd).await;
    assert!(listed.contains("starry"), "{listed}");
    // A write that changes nothing this registry keeps is refused, not dropped.
    let resp = app
        .npm(
            reqwest::Method::PUT,
            "/starry",
            Some(&app.tokens.alice),
            Some(json!({"_id": "starry", "description": "x"})),
        )
        .await;
    assert!(resp.error(400).contains("nothing to change"));

    // npm pointed at the root instead of /npm/.
    let root = Sandbox::at(&app.url);
    std::fs::write(root.npmrc(), format!("registry={}/\n", app.url)).unwrap();
    let project = root.package("root-app", json!({"name": "root-app", "version": "1.0.0"}));
    let out = root.run(&t.npm, &["install", "starry"], &project).await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("{}/npm/", app.url)),
        "npm printed: {said}"
    );
}
