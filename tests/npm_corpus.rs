//! Real npm data through the fallback: the recorded corpus (`tests/fixtures/npm-corpus/`, real
//! packuments and tarballs from the npm registry) served by an upstream on 127.0.0.1.
//!
//! - Every recorded packument comes out of our full document as the upstream sent it, but for
//!   the tarball URLs, and out of our abbreviated document with npm's install fields and the
//!   upstream's values, never a `null` the upstream did not send.
//! - bun, whose manifest parser refuses a whole document over one misplaced `null`, resolves
//!   every variety package (and its dependency closure) through us.
//! - npm, pnpm, yarn 4 and bun install express's real dependency tree through us into fresh
//!   projects with empty caches, with the upstream's integrity values in their lockfiles; then
//!   again with the upstream gone.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::corpus::{CorpusUpstream, corpus};
use common::sandbox::Sandbox;
use common::tools::tools;
use common::{Response, TestApp};
use futures_util::StreamExt;
use pantry_registry::RegistryBuilder;
use reqwest::Method;
use serde_json::{Map, Value, json};

const CORGI: &str = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

/// The version fields of npm's abbreviated format (npm/registry's package-metadata document),
/// with the ones the npm registry has added since and clients read: `deprecated`,
/// `hasInstallScript`, `peerDependenciesMeta`, `acceptDependencies`, `funding`, `cpu`, `os`,
/// `libc`, and `bundledDependencies` (the older spelling).
const ABBREVIATED_VERSION_FIELDS: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "funding",
    "_hasShrinkwrap",
    "hasInstallScript",
    "cpu",
    "os",
    "libc",
];

/// Every packument request revalidates with the upstream (ETag / Last-Modified), so with the
/// upstream gone everything is served stale from the cache.
fn fallback_to(upstream: &str) -> impl FnOnce(RegistryBuilder) -> RegistryBuilder + use<> {
    common::fallback_to(upstream, &[("npm.cache_max_age_secs", "0")])
}

fn encoded(name: &str) -> String {
    name.replace('/', "%2f")
}

fn tarball_url(app: &TestApp, name: &str, version: &str) -> String {
    let bare = name.rsplit('/').next().unwrap();
    format!("{}/npm/{name}/-/{bare}-{version}.tgz", app.url)
}

/// Where `ours` and `theirs` differ, as JSON paths (the first 20).
fn differences(ours: &Value, theirs: &Value) -> Vec<String> {
    fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        if out.len() >= 20 {
            return;
        }
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    match a.get(k) {
                        Some(ours) => walk(&format!("{path}.{k}"), ours, v, out),
                        None => out.push(format!("{path}.{k}: missing in ours")),
                    }
                }
                for k in a.keys().filter(|k| !b.contains_key(*k)) {
                    out.push(format!("{path}.{k}: not in the upstream's"));
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    walk(&format!("{path}[{i}]"), x, y, out);
                }
            }
            _ if a == b => {}
            _ => out.push(format!("{path}: ours {a} != upstream {b}")),
        }
    }
    let mut out = Vec::new();
    walk("$", ours, theirs, &mut out);
    out
}

/// Every JSON path holding `null`.
fn null_paths(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(path.to_string()),
        Value::Object(m) => {
            for (k, x) in m {
                null_paths(x, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                null_paths(x, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The upstream's document as we must serve it: the same, with `dist.tarball` pointing here.
fn expected_full(app: &TestApp, name: &str, upstream: &Value) -> Value {
    let mut doc = upstream.clone();
    if let Some(versions) = doc.get_mut("versions").and_then(Value::as_object_mut) {
        for (version, manifest) in versions.iter_mut() {
            if let Some(dist) = manifest.get_mut("dist").and_then(Value::as_object_mut) {
                dist.insert("tarball".into(), tarball_url(app, name, version).into());
            }
        }
    }
    doc
}

/// Checks our abbreviated document against the upstream's full one; returns the problems.
fn corgi_problems(app: &TestApp, name: &str, ours: &Value, upstream: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let expected = expected_full(app, name, upstream);
    let top: Vec<&String> = ours.as_object().unwrap().keys().collect();
    for k in &top {
        if !["name", "dist-tags", "versions", "modified", "time"].contains(&k.as_str()) {
            problems.push(format!(
                "top-level field {k} is not in the abbreviated format"
            ));
        }
    }
    if ours["name"] != name {
        problems.push(format!("name is {}", ours["name"]));
    }
    if ours["dist-tags"] != upstream["dist-tags"] {
        problems.push("dist-tags differ".into());
    }
    let modified = upstream
        .get("modified")
        .or_else(|| upstream.get("time").and_then(|t| t.get("modified")));
    if ours.get("modified") != modified {
        problems.push(format!(
            "modified is {:?}, the upstream's is {modified:?}",
            ours.get("modified")
        ));
    }
    if ours.get("time") != upstream.get("time") {
        problems.push("time differs from the upstream's".into());
    }
    let empty = Map::new();
    let theirs = expected["versions"].as_object().unwrap_or(&empty);
    let mine = ours["versions"].as_object().unwrap_or(&empty);
    if mine.keys().collect::<Vec<_>>() != theirs.keys().collect::<Vec<_>>() {
        problems.push("the version lists differ".into());
    }
    for (version, full) in theirs {
        let Some(small) = mine.get(version) else {
            continue;
        };
        for field in ABBREVIATED_VERSION_FIELDS {
            if *field == "hasInstallScript" && full.get(*field).is_none() {
                // npm's registry sets it at publish time from the scripts; so must we.
                let install_step = ["preinstall", "install", "postinstall"]
                    .iter()
                    .any(|k| full["scripts"].get(*k).is_some());
                if small.get(*field) != install_step.then_some(&Value::Bool(true)) {
                    problems.push(format!(
                        "versions.{version}.hasInstallScript: ours {:?}, scripts say {install_step}",
                        small.get(*field)
                    ));
                }
                continue;
            }
            if small.get(*field) != full.get(*field) {
                problems.push(format!(
                    "versions.{version}.{field}: ours {:?}, upstream {:?}",
                    small.get(*field),
                    full.get(*field)
                ));
            }
        }
        for k in small.as_object().unwrap().keys() {
            if !ABBREVIATED_VERSION_FIELDS.contains(&k.as_str()) {
                problems.push(format!("versions.{version}.{k} is not an install field"));
            }
        }
    }
    let mut nulls = Vec::new();
    null_paths(ours, "$", &mut nulls);
    let mut upstream_nulls = Vec::new();
    null_paths(&expected, "$", &mut upstream_nulls);
    for path in nulls {
        let upstream_null = match path.as_str() {
            "$.modified" => modified == Some(&Value::Null),
            p => upstream_nulls.iter().any(|u| u == p),
        };
        if !upstream_null {
            problems.push(format!("{path} is null, and the upstream's is not"));
        }
    }
    problems
}

async fn get_packument(app: &TestApp, name: &str, accept: &str) -> Response {
    let r = app
        .client
        .get(format!("{}/npm/{}", app.url, encoded(name)))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    Response::from(r).await
}

/// One packument's full and abbreviated documents against the upstream's: the problems found.
async fn check_packument(app: &TestApp, name: &str) -> Vec<(String, Vec<String>)> {
    let mut failures = Vec::new();
    let theirs = corpus().packument(name);
    let full = get_packument(app, name, "application/json").await;
    assert_eq!(
        full.status,
        200,
        "{name}: {}",
        String::from_utf8_lossy(&full.body)
    );
    assert!(full.header("content-type").starts_with("application/json"));
    let problems = differences(&full.json(), &expected_full(app, name, &theirs));
    if !problems.is_empty() {
        failures.push((format!("{name} (full)"), problems));
    }
    let small = get_packument(app, name, CORGI).await;
    assert_eq!(small.status, 200, "{name}");
    assert_eq!(
        small.header("content-type"),
        "application/vnd.npm.install-v1+json"
    );
    let problems = corgi_problems(app, name, &small.json(), &theirs);
    if !problems.is_empty() {
        failures.push((format!("{name} (abbreviated)"), problems));
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_packument_is_served_as_the_upstream_sent_it() {
    let upstream = CorpusUpstream::start().await;
    let app = TestApp::start_with(fallback_to(&upstream.url)).await;
    let names = corpus().names();
    assert!(
        names.len() >= 40,
        "the corpus has {} packuments",
        names.len()
    );
    // Two at a time: the checks are CPU-bound and the machine has two cores.
    let checked: Vec<Vec<(String, Vec<String>)>> =
        futures_util::stream::iter(names.iter().map(|name| check_packument(&app, name)))
            .buffer_unordered(2)
            .collect()
            .await;
    let failures: BTreeMap<String, Vec<String>> = checked.into_iter().flatten().collect();
    assert!(
        failures.is_empty(),
        "{} documents differ from the upstream's:\n{failures:#?}",
        failures.len()
    );
    // The revalidations were conditional and the recorded validators worked.
    assert!(
        upstream
            .requests
            .not_modified
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    );
}

/// `bun install --lockfile-only` of a project that depends on every variety package at its
/// `latest`: bun parses each abbreviated document of the closure, and its lockfile carries the
/// upstream's integrity for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bun_resolves_every_variety_package_through_the_fallback() {
    let upstream = CorpusUpstream::start().await;
    let app = TestApp::start_with(fallback_to(&upstream.url)).await;
    let sb = Sandbox::new(&app);
    let mut dependencies = Map::new();
    let mut expected = Vec::new();
    for name in corpus().with_role("variety") {
        let doc = corpus().packument(&name);
        let latest = doc["dist-tags"]["latest"].as_str().unwrap().to_string();
        let integrity = doc["versions"][&latest]["dist"]["integrity"].clone();
        dependencies.insert(name.clone(), Value::String(latest.clone()));
        expected.push((name, latest, integrity));
    }
    let project = sb.package(
        "bun-variety",
        json!({"name": "bun-variety", "version": "1.0.0", "private": true, "dependencies": dependencies}),
    );
    sb.configure_bun(&project);
    let out = sb
        .run(
            &tools().bun,
            &["install", "--lockfile-only", "--ignore-scripts"],
            &project,
        )
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bun failed:\n{}\n{stderr}\nasked the upstream for what the corpus lacks: {:?}",
        String::from_utf8_lossy(&out.stdout),
        upstream.missing()
    );
    assert!(!stderr.contains("PackageFailedToParse"), "{stderr}");
    let lock = std::fs::read_to_string(project.join("bun.lock")).unwrap();
    for (name, version, integrity) in expected {
        assert!(
            lock.contains(&format!("\"{name}@{version}\"")),
            "{name}@{version} is not in bun.lock"
        );
        if let Some(sri) = integrity.as_str() {
            assert!(lock.contains(sri), "{name}@{version}: bun.lock lacks {sri}");
        }
    }
}

/// The recorded tree's integrity per `name@version`.
fn tree_integrity() -> BTreeMap<String, String> {
    corpus().index["tarballs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, t)| (k.clone(), t["integrity"].as_str().unwrap().to_string()))
        .collect()
}

fn pnpm_lock(project: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(project.join("pnpm-lock.yaml")).unwrap();
    let mut out = Vec::new();
    let mut in_packages = false;
    let mut current: Option<String> = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if !line.starts_with(' ') {
            in_packages = line == "packages:";
            continue;
        }
        if !in_packages {
            continue;
        }
        if let Some(key) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) {
            current = Some(key.trim_end_matches(':').trim_matches('\'').to_string());
        } else if let Some(rest) = line.trim().strip_prefix("resolution: {integrity: ")
            && let Some(pkg) = current.take()
        {
            out.push((pkg, rest.trim_end_matches('}').to_string()));
        }
    }
    out
}

fn yarn_lock(project: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(project.join("yarn.lock")).unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("resolution: \""))
        .map(|r| r.trim_end_matches('"').replacen("@npm:", "@", 1))
        .filter(|r| !r.ends_with("@workspace:."))
        .collect()
}

fn bun_lock(project: &Path) -> Vec<(String, String)> {
    // bun.lock entries: "name": ["name@version", "", {…}, "sha512-…"]
    let text = std::fs::read_to_string(project.join("bun.lock")).unwrap();
    text.lines()
        .filter_map(|l| {
            let (_, entry) = l.split_once(": [\"")?;
            let (pkg, rest) = entry.split_once('"')?;
            let sri = rest.rsplit_once("\"sha512-")?.1.split('"').next()?;
            Some((pkg.to_string(), format!("sha512-{sri}")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_installs_the_real_express_tree_with_and_then_without_the_upstream() {
    let mut upstream = CorpusUpstream::start().await;
    let app = TestApp::start_with(fallback_to(&upstream.url)).await;
    let root = corpus().tree_root("express");
    let (_, express_version) = root.rsplit_once('@').unwrap();
    let tree_size = corpus().tree("express").len();
    assert!(
        tree_size >= 50,
        "the recorded tree has {tree_size} packages"
    );
    let integrity = tree_integrity();
    let manifest = json!({"name": "express-app", "version": "1.0.0", "private": true,
        "dependencies": {"express": express_version}});

    let install_everywhere = |round: &'static str| {
        let (app, manifest, integrity) = (&app, manifest.clone(), &integrity);
        async move {
            let t = tools();
            // npm
            let sb = Sandbox::new(app);
            let project = sb.package("npm-app", manifest.clone());
            sb.ok(
                &t.npm,
                &["install", "--ignore-scripts", "--no-audit"],
                &project,
            )
            .await;
            let locked = common::sandbox::npm_lock(&project);
            assert!(locked.len() >= 50, "npm {round}: {} packages", locked.len());
            for (pkg, sri, resolved) in &locked {
                assert_eq!(Some(sri), integrity.get(pkg), "npm {round}: {pkg}");
                assert!(resolved.starts_with(&app.url), "npm {round}: {resolved}");
            }
            installed(&project, express_version, &format!("npm {round}"));

            // pnpm
            let sb = Sandbox::new(app);
            let project = sb.package("pnpm-app", manifest.clone());
            let store = sb.root.path().join("pnpm-store");
            sb.ok(
                &t.pnpm,
                &[
                    "install",
                    "--ignore-scripts",
                    "--store-dir",
                    store.to_str().unwrap(),
                ],
                &project,
            )
            .await;
            let locked = pnpm_lock(&project);
            assert!(
                locked.len() >= 50,
                "pnpm {round}: {} packages in\n{}",
                locked.len(),
                std::fs::read_to_string(project.join("pnpm-lock.yaml")).unwrap_or_default()
            );
            for (pkg, sri) in &locked {
                assert_eq!(Some(sri), integrity.get(pkg), "pnpm {round}: {pkg}");
            }
            installed(&project, express_version, &format!("pnpm {round}"));

            // yarn 4: its lockfile keeps its own checksums, so check the resolutions
            let sb = Sandbox::new(app);
            let project = sb.package("yarn-app", manifest.clone());
            sb.configure_yarn(&project, "enableScripts: false\n");
            sb.ok(&t.yarn, &["install"], &project).await;
            let locked = yarn_lock(&project);
            assert!(
                locked.len() >= 50,
                "yarn {round}: {} packages",
                locked.len()
            );
            for pkg in &locked {
                assert!(
                    integrity.contains_key(pkg),
                    "yarn {round}: {pkg} is not in the tree"
                );
            }
            installed(&project, express_version, &format!("yarn {round}"));

            // bun
            let sb = Sandbox::new(app);
            let project = sb.package("bun-app", manifest.clone());
            sb.configure_bun(&project);
            sb.ok(&t.bun, &["install", "--ignore-scripts"], &project)
                .await;
            let locked = bun_lock(&project);
            assert!(locked.len() >= 50, "bun {round}: {} packages", locked.len());
            for (pkg, sri) in &locked {
                assert_eq!(Some(sri), integrity.get(pkg), "bun {round}: {pkg}");
            }
            installed(&project, express_version, &format!("bun {round}"));
        }
    };
    install_everywhere("online").await;
    assert!(
        upstream.missing().is_empty(),
        "clients asked for what the corpus lacks: {:?}",
        upstream.missing()
    );
    let fetched = upstream.tarball_fetches();
    assert!(fetched.len() >= 50, "{} tarballs fetched", fetched.len());
    for (path, times) in &fetched {
        assert_eq!(
            *times, 1,
            "{path}: each tarball comes from the upstream once, whatever the number of clients"
        );
    }
    upstream.stop().await;
    // Fresh projects, empty client caches: every packument and tarball comes from our cache.
    install_everywhere("upstream gone").await;
    let stale = app.npm(Method::GET, "/express", None, None).await;
    assert_eq!(stale.header("x-pantry-cache"), "stale");
}

fn installed(project: &Path, express_version: &str, who: &str) {
    let pkg: Value = serde_json::from_str(
        &std::fs::read_to_string(project.join("node_modules/express/package.json"))
            .unwrap_or_else(|e| panic!("{who}: express is not installed: {e}")),
    )
    .unwrap();
    assert_eq!(pkg["version"], express_version, "{who}");
}
