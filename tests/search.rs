//! Search: relevance on a generated catalogue of 2,000+ packages written to the store, the
//! three response shapes, qualifiers, paging, refused queries, freshness after every kind of
//! change, download figures, and rebuilding the index (deleted, corrupt, old schema, `reindex`).

use crate::common;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::catalogue::{CataloguePackage, Lcg, write_catalogue};
use common::upstream::FakeUpstream;
use common::{BinServer, TestApp, open_store, run_bin};
use reqwest::Method;
use serde_json::{Value, json};

const DOMAINS: &[&str] = &[
    "json", "yaml", "http", "date", "string", "array", "async", "stream", "path", "url", "crypto",
    "image", "cache", "queue", "config", "schema", "router", "socket", "buffer", "token",
];
const ROLES: &[&str] = &[
    "utils", "client", "server", "helper", "tools", "core", "kit", "lite", "plus", "engine",
    "bridge", "adapter", "runner", "store", "mapper",
];
const FILLER: &[&str] = &[
    "simple", "small", "robust", "typed", "modern", "tested", "quick", "safe", "friendly",
    "minimal", "complete", "flexible",
];
const AUTHORS: &[&str] = &["ann", "ben", "cho", "dee"];

fn fixture(
    name: &str,
    description: &str,
    keywords: &[&str],
    downloads: u64,
    deprecated: Option<&str>,
) -> CataloguePackage {
    CataloguePackage {
        name: name.into(),
        description: description.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        author: Some("ann".into()),
        owner: "alice".into(),
        downloads,
        deprecated: deprecated.map(str::to_string),
    }
}

/// Hand-placed packages whose ranking a person can predict, then 2,000 generated ones.
fn catalogue() -> Vec<CataloguePackage> {
    let mut all = vec![
        fixture(
            "express",
            "Fast, unopinionated, minimalist web framework",
            &["web", "framework", "http"],
            50_000,
            None,
        ),
        fixture(
            "express-session",
            "Simple session middleware for Express",
            &["session", "express"],
            20_000,
            None,
        ),
        fixture(
            "express-validator",
            "Validation middleware for Express",
            &["validation", "express"],
            15_000,
            None,
        ),
        fixture(
            "expressive-logger",
            "A logger with expressive output",
            &["logger"],
            10,
            None,
        ),
        fixture("my-express-clone", "An Express clone", &["web"], 5, None),
        fixture(
            "react",
            "A library for building user interfaces",
            &["ui"],
            10,
            None,
        ),
        fixture(
            "react-dom",
            "DOM rendering for React",
            &["react", "dom"],
            100_000,
            None,
        ),
        fixture(
            "preact",
            "Fast 3kB alternative to React",
            &["react", "ui"],
            50_000,
            None,
        ),
        fixture(
            "lodash",
            "Lodash modular utilities",
            &["modules", "util"],
            80_000,
            None,
        ),
        fixture(
            "markdown-it",
            "Markdown parser, done right",
            &["markdown", "parser", "commonmark"],
            3_000,
            None,
        ),
        fixture("md-lite", "Tiny text parser", &["parser"], 9_000, None),
        fixture(
            "old-parser",
            "Deprecated markdown parser",
            &["markdown", "parser"],
            99_999,
            Some("use markdown-it"),
        ),
        fixture("mini-colors", "Terminal colors", &["colors"], 5_000, None),
        fixture("tiny-colors", "Terminal colors", &["colors"], 500, None),
        fixture(
            "@acme/logger",
            "Structured logging",
            &["logging"],
            100,
            None,
        ),
    ];
    let mut rng = Lcg(42);
    for i in 0..2000usize {
        let domain = DOMAINS[i % DOMAINS.len()];
        let role = ROLES[(i / DOMAINS.len()) % ROLES.len()];
        let name = match i {
            0..300 => format!("{domain}-{role}"),
            300..600 => format!("@{}/{domain}-{role}", ["acme", "tools", "labs"][i % 3]),
            _ => format!("{domain}-{role}-{i}"),
        };
        let filler = FILLER[rng.next(FILLER.len() as u64) as usize];
        let extra = DOMAINS[rng.next(DOMAINS.len() as u64) as usize];
        all.push(CataloguePackage {
            name,
            description: format!("A {filler} {domain} {role} that also handles {extra}"),
            keywords: vec![domain.to_string(), role.to_string(), extra.to_string()],
            author: Some(AUTHORS[i % AUTHORS.len()].into()),
            owner: if i % 5 == 0 { "bob" } else { "alice" }.into(),
            downloads: rng.next(10_000),
            deprecated: (i % 37 == 0).then(|| "no longer maintained".into()),
        });
    }
    all
}

/// Writes the catalogue straight into a data directory's store (publishing 2,000 packages
/// over HTTP would test publishing, not search), with today's download counts.
async fn write_to(data_dir: &Path, catalogue: &[CataloguePackage]) {
    std::fs::create_dir_all(data_dir).unwrap();
    let store = open_store(&data_dir.join("registry.redb")).await;
    write_catalogue(&store, catalogue).await;
}

async fn start_on(data_dir: &Path) -> TestApp {
    let dir = data_dir.to_path_buf();
    let app = TestApp::start_with(move |b| b.data_dir(dir)).await;
    app.search_settled().await;
    app
}

fn names(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {body}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

async fn search(app: &TestApp, query: &str) -> Vec<String> {
    let q = percent_encode(query);
    let r = app.get(&format!("/search?q={q}&limit=250")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.json());
    names(&r.json())
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn relevance_on_a_generated_catalogue() {
    let data = tempfile::tempdir().unwrap();
    let catalogue = catalogue();
    assert!(catalogue.len() >= 2000);
    write_to(data.path(), &catalogue).await;
    let app = start_on(data.path()).await;
    let health = app.get("/health").await.json();
    assert_eq!(
        health["search"]["documents"],
        catalogue.len() as u64,
        "{health}"
    );

    // Exact names come first, whatever their downloads, scoped or not.
    for f in catalogue.iter().step_by(53) {
        let found = search(&app, &f.name).await;
        assert_eq!(found.first(), Some(&f.name), "{}: {found:?}", f.name);
    }
    let react = search(&app, "react").await;
    assert_eq!(react[..2], ["react", "react-dom"], "{react:?}");
    assert!(react.contains(&"preact".to_string()), "{react:?}");
    // Capitals do not matter.
    assert_eq!(search(&app, "Express").await[0], "express");

    // Prefixes: every name starting with the text, most downloaded first, before the rest.
    let prefix = search(&app, "expres").await;
    assert_eq!(
        prefix[..4],
        [
            "express",
            "express-session",
            "express-validator",
            "expressive-logger"
        ],
        "{prefix:?}"
    );
    assert!(prefix.contains(&"my-express-clone".to_string()));
    // A scoped name's bare part is a prefix too.
    assert_eq!(search(&app, "logg").await[0], "@acme/logger");

    // Typos in names.
    for (typo, meant) in [
        ("exprss", "express"),
        ("lodahs", "lodash"),
        ("raect", "react"),
        ("reactdom", "react-dom"),
    ] {
        let found = search(&app, typo).await;
        assert_eq!(
            found.first().map(String::as_str),
            Some(meant),
            "{typo}: {found:?}"
        );
    }

    // Relevance: the package matching both words in name, keywords and description wins over
    // a more downloaded one matching one word.
    let md = search(&app, "markdown parser not:deprecated").await;
    assert_eq!(md[0], "markdown-it", "{md:?}");
    assert!(
        md.iter().position(|n| n == "md-lite") > Some(0),
        "md-lite is found, after markdown-it: {md:?}"
    );
    assert!(!md.contains(&"old-parser".to_string()));
    // Equal relevance: downloads decide.
    let colors = search(&app, "colors").await;
    assert_eq!(colors[..2], ["mini-colors", "tiny-colors"], "{colors:?}");

    // Qualifiers.
    assert_eq!(search(&app, "keywords:commonmark").await, ["markdown-it"]);
    let either = search(&app, "keywords:commonmark,logging").await;
    assert_eq!(
        either.iter().collect::<HashSet<_>>(),
        ["markdown-it".to_string(), "@acme/logger".to_string()]
            .iter()
            .collect()
    );
    let deprecated: HashSet<String> = catalogue
        .iter()
        .filter(|f| f.deprecated.is_some())
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(
        search(&app, "is:deprecated")
            .await
            .into_iter()
            .collect::<HashSet<_>>(),
        deprecated
    );
    let md_all = search(&app, "markdown parser").await;
    assert!(
        md_all[..3].contains(&"old-parser".to_string()),
        "{md_all:?}"
    );
    let total = |q: &str| {
        let q = percent_encode(q);
        let app = &app;
        async move { app.get(&format!("/search?q={q}")).await.json()["total"].clone() }
    };
    assert_eq!(
        total("not:deprecated").await,
        (catalogue.len() - deprecated.len()) as u64
    );
    let by_dee = catalogue
        .iter()
        .filter(|f| f.author.as_deref() == Some("dee"))
        .count();
    assert_eq!(total("author:dee").await, by_dee as u64);
    let by_bob = catalogue.iter().filter(|f| f.owner == "bob").count();
    assert_eq!(total("maintainer:bob").await, by_bob as u64);
    let acme = search(&app, "scope:acme logger").await;
    assert_eq!(acme[0], "@acme/logger");
    assert!(acme.iter().all(|n| n.starts_with("@acme/")), "{acme:?}");
    let acme_all = catalogue
        .iter()
        .filter(|f| f.name.starts_with("@acme/"))
        .count();
    assert_eq!(total("scope:@acme").await, acme_all as u64);
    let json_servers = search(&app, "json keywords:server").await;
    assert!(!json_servers.is_empty());
    for name in &json_servers {
        let f = catalogue.iter().find(|f| &f.name == name).unwrap();
        assert!(f.keywords.contains(&"server".to_string()), "{name}");
    }

    // Paging is stable: pages of 7 put together are the one page of 250.
    let whole = search(&app, "json").await;
    assert!(whole.len() > 100, "{}", whole.len());
    let mut paged = Vec::new();
    for from in (0..whole.len()).step_by(7) {
        let body = app
            .get(&format!("/search?q=json&limit=7&from={from}"))
            .await
            .json();
        paged.extend(names(&body));
    }
    assert_eq!(paged, whole);
    // Pages larger than 250 are cut to 250.
    let big = app.get("/search?q=&limit=1000").await.json();
    assert_eq!(names(&big).len(), 250);
    // An empty query lists everything, most downloaded first.
    let everything = app.get("/search?limit=5").await.json();
    assert_eq!(everything["total"], catalogue.len() as u64);
    assert_eq!(names(&everything)[0], "react-dom");

    // npm's shape, for `npm search`.
    let npm = app
        .npm(Method::GET, "/-/v1/search?text=expres&size=3", None, None)
        .await
        .json();
    assert_eq!(npm["objects"].as_array().unwrap().len(), 3);
    assert!(npm["total"].as_u64().unwrap() >= 5);
    assert!(npm["time"].is_string());
    let first = &npm["objects"][0];
    assert_eq!(first["package"]["name"], "express");
    assert_eq!(first["package"]["author"]["name"], "ann");
    assert_eq!(first["score"]["final"], 1.0);
    let second = npm["objects"][1]["score"]["final"].as_f64().unwrap();
    assert!(second > 0.0 && second <= 1.0, "{npm}");
    assert!(
        first["searchScore"].as_f64().unwrap()
            >= npm["objects"][1]["searchScore"].as_f64().unwrap()
    );
    let page2 = app
        .npm(
            Method::GET,
            "/-/v1/search?text=expres&size=3&from=3",
            None,
            None,
        )
        .await
        .json();
    assert_eq!(page2["objects"][0]["package"]["name"], "expressive-logger");
    let dep = app
        .npm(Method::GET, "/-/v1/search?text=old-parser", None, None)
        .await
        .json();
    assert_eq!(
        dep["objects"][0]["flags"]["deprecated"], "use markdown-it",
        "{dep}"
    );
}

#[tokio::test]
async fn bad_queries_are_refused_with_400() {
    let app = TestApp::start().await;
    let long = "a".repeat(257);
    for path in [
        format!("/search?q={long}"),
        format!("/zig/search?q={long}"),
        "/search?q=x&limit=abc".to_string(),
        "/search?q=x&limit=0".to_string(),
        "/search?q=x&from=-1".to_string(),
        "/search?q=x&from=9990&limit=20".to_string(),
        "/zig/search?limit=many".to_string(),
    ] {
        let r = app.get(&path).await;
        let message = r.error(400);
        assert!(!message.is_empty(), "{path}");
    }
    assert!(
        app.get(&format!("/search?q={long}"))
            .await
            .error(400)
            .contains("256")
    );
    let r = app
        .npm(
            Method::GET,
            &format!("/-/v1/search?text={long}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("256"));
    let r = app
        .npm(Method::GET, "/-/v1/search?text=x&size=abc", None, None)
        .await;
    assert_eq!(r.status, 400);
    // 256 characters are fine; a size over 250 is cut to 250.
    let ok = app.get(&format!("/search?q={}", "a".repeat(256))).await;
    assert_eq!(ok.status, 200);
    assert_eq!(app.get("/search?q=x&limit=1000").await.status, 200);
}

/// How long a change may take to show before the test calls it lost. The index commits within
/// about a second (measured and printed, not asserted: a loaded machine can be slower).
const FOLLOW_DEADLINE: Duration = Duration::from_secs(15);

/// Polls `path` until `done` holds for its JSON; prints how long that took.
async fn followed(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) {
    let start = Instant::now();
    loop {
        let body = app.get(path).await.json();
        if done(&body) {
            eprintln!("{path} followed in {:?}", start.elapsed());
            return;
        }
        assert!(
            start.elapsed() < FOLLOW_DEADLINE,
            "{path} did not change within {FOLLOW_DEADLINE:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_index_follows_every_change() {
    let app =
        TestApp::start_with(|b| b.setting("search.downloads_refresh_secs", "1").unwrap()).await;
    app.search_settled().await;
    let alice = app.tokens.alice.clone();
    let first = |body: &Value| body["results"][0].clone();

    // Publish (Pantry API and npm).
    let (r, _) = app.publish(&alice, "fresh-pkg", "1.0.0").await;
    assert_eq!(r.status, 201);
    followed(&app, "/search?q=fresh-pkg", |b| {
        first(b)["name"] == "fresh-pkg" && first(b)["version"] == "1.0.0"
    })
    .await;
    let (r, _) = app
        .npm_publish(&alice, "fresh-pkg", "2.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);
    followed(&app, "/search?q=fresh-pkg", |b| {
        first(b)["version"] == "2.0.0"
    })
    .await;

    // dist-tag: latest moved back.
    let r = app
        .npm(
            Method::PUT,
            "/-/package/fresh-pkg/dist-tags/latest",
            Some(&alice),
            Some(json!("1.0.0")),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.status);
    followed(&app, "/search?q=fresh-pkg", |b| {
        first(b)["version"] == "1.0.0"
    })
    .await;

    // Deprecate, then undeprecate.
    // npm deprecate sends the whole document back with the message set.
    let mut deprecate = app
        .npm(Method::GET, "/fresh-pkg?write=true", Some(&alice), None)
        .await
        .json();
    deprecate["versions"]["1.0.0"]["deprecated"] = json!("gone stale");
    let r = app
        .npm(Method::PUT, "/fresh-pkg", Some(&alice), Some(deprecate))
        .await;
    assert_eq!(r.status, 201);
    followed(&app, "/search?q=is:deprecated", |b| {
        first(b)["name"] == "fresh-pkg" && first(b)["deprecated"] == "gone stale"
    })
    .await;

    // Downloads re-rank: two equal packages, the downloaded one moves first.
    for name in ["twin-alpha", "twin-beta"] {
        assert_eq!(app.publish(&alice, name, "1.0.0").await.0.status, 201);
    }
    followed(&app, "/search?q=twin", |b| {
        b["results"][0]["name"] == "twin-alpha"
    })
    .await;
    for _ in 0..3 {
        let r = app.get("/packages/twin-beta/1.0.0/tarball").await;
        assert_eq!(r.status, 200);
    }
    let start = Instant::now();
    loop {
        let body = app.get("/search?q=twin").await.json();
        if first(&body)["name"] == "twin-beta" {
            assert_eq!(first(&body)["downloads"], 3);
            break;
        }
        // Counts reach the store within the flush interval; the index picks them up at its
        // next refresh (every second here).
        assert!(start.elapsed() < FOLLOW_DEADLINE, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Owners: npm owner add bob.
    let doc = app
        .npm(Method::GET, "/fresh-pkg?write=true", Some(&alice), None)
        .await
        .json();
    let owners = json!({"_id": "fresh-pkg", "_rev": doc["_rev"], "maintainers": [
        {"name": "alice", "email": "alice@example.com"}, {"name": "bob", "email": "bob@example.com"}]});
    let r = app
        .npm(Method::PUT, "/fresh-pkg", Some(&alice), Some(owners))
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    followed(&app, "/search?q=fresh%20maintainer:bob", |b| {
        first(b)["name"] == "fresh-pkg"
    })
    .await;

    // Unpublish one version: the latest (1.0.0) goes, 2.0.0 becomes latest.
    let mut doc = app
        .npm(Method::GET, "/fresh-pkg?write=true", Some(&alice), None)
        .await
        .json();
    let rev = doc["_rev"].as_str().unwrap().to_string();
    doc["versions"].as_object_mut().unwrap().remove("1.0.0");
    let r = app
        .npm(
            Method::PUT,
            &format!("/fresh-pkg/-rev/{rev}"),
            Some(&alice),
            Some(doc),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    followed(&app, "/search?q=fresh-pkg", |b| {
        first(b)["version"] == "2.0.0"
    })
    .await;

    // Unpublish the whole package.
    let doc = app
        .npm(Method::GET, "/fresh-pkg?write=true", Some(&alice), None)
        .await
        .json();
    let rev = doc["_rev"].as_str().unwrap().to_string();
    let r = app
        .npm(
            Method::DELETE,
            &format!("/fresh-pkg/-rev/{rev}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
    followed(&app, "/search?q=fresh-pkg", |b| {
        !names(b).contains(&"fresh-pkg".to_string())
    })
    .await;

    // Zig packages are searched under /zig/search only.
    let vectors = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zig-vectors");
    let r = app
        .zig_publish(
            Some(&alice),
            "plain_pkg-1.0.0.tar.gz",
            std::fs::read(format!("{vectors}/plain_pkg-1.0.0.tar.gz")).unwrap(),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json());
    followed(&app, "/zig/search?q=plain", |b| {
        first(b)["name"] == "plain_pkg"
    })
    .await;
    followed(&app, "/zig/search?q=plain_pkg", |b| b["total"] == 1).await;
    assert_eq!(app.get("/search?q=plain_pkg").await.json()["total"], 0);
    assert_eq!(app.get("/zig/search?q=fresh").await.json()["total"], 0);
}

/// The ids of the index's segments, from its `meta.json`.
fn segments(index: &Path) -> Vec<String> {
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(index.join("meta.json")).unwrap()).unwrap();
    let mut ids: Vec<String> = meta["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["segment_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

async fn answers(app: &TestApp, queries: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for q in queries {
        out.push(app.get(q).await.json());
    }
    out
}

#[tokio::test]
async fn the_index_is_rebuilt_when_deleted_corrupt_or_old_and_on_reindex() {
    let data = tempfile::tempdir().unwrap();
    let catalogue: Vec<CataloguePackage> = catalogue().into_iter().take(300).collect();
    write_to(data.path(), &catalogue).await;
    let queries = [
        "/search?q=express&limit=50",
        "/search?q=json%20utils&limit=50",
        "/search?q=keywords:parser",
        "/search?q=exprss",
        "/search?q=&limit=100",
    ];
    let mut app = start_on(data.path()).await;
    let before = answers(&app, &queries).await;
    assert_eq!(before[0]["results"][0]["name"], "express");
    app.stop().await;
    let index = data.path().join("search");

    // Deleted.
    std::fs::remove_dir_all(&index).unwrap();
    let mut app = start_on(data.path()).await;
    assert_eq!(answers(&app, &queries).await, before);
    app.stop().await;

    // Corrupt: the index's metadata is garbage.
    std::fs::write(index.join("meta.json"), b"{not json").unwrap();
    let mut app = start_on(data.path()).await;
    assert_eq!(answers(&app, &queries).await, before);
    app.stop().await;

    // A clean index is reused as it is (the same segments)...
    let segments_before = segments(&index);
    let mut app = start_on(data.path()).await;
    assert_eq!(answers(&app, &queries).await, before);
    app.stop().await;
    assert_eq!(segments(&index), segments_before);
    // ...but one built by an older schema is rebuilt (new segments, same answers).
    let marker = std::fs::read_to_string(index.join("pantry-clean")).unwrap();
    assert!(marker.starts_with("1 "), "{marker}");
    std::fs::write(index.join("pantry-clean"), marker.replacen("1 ", "0 ", 1)).unwrap();
    let mut app = start_on(data.path()).await;
    assert_eq!(answers(&app, &queries).await, before);
    app.stop().await;
    assert_ne!(segments(&index), segments_before);

    // A package written to the database while no server ran (or a database restored from a
    // backup) is found: the index knows which database state it reflects.
    let late = vec![fixture(
        "late-arrival",
        "Written offline",
        &["offline"],
        1,
        None,
    )];
    write_to(data.path(), &late).await;
    let mut app = start_on(data.path()).await;
    assert_eq!(
        names(&app.get("/search?q=late-arrival").await.json())[0],
        "late-arrival"
    );
    let before = answers(&app, &queries).await;
    assert_eq!(before[4]["total"], catalogue.len() as u64 + 1);
    app.stop().await;

    // Emptied behind our back, then `pantry-registry reindex`.
    std::fs::remove_dir_all(&index).unwrap();
    let data_dir = data.path().to_str().unwrap();
    let (ok, out, err) = run_bin(&["reindex", "--data-dir", data_dir], &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("{} packages", catalogue.len() + 1)),
        "{out}"
    );
    // Marked clean, with the schema version and the settings it was built for.
    let marker = std::fs::read_to_string(index.join("pantry-clean")).unwrap();
    assert!(marker.starts_with("1 fallback=true"), "{marker}");
    // This registry runs with the fallback off: another setting, so it is rebuilt again.
    let mut app = start_on(data.path()).await;
    assert_eq!(answers(&app, &queries).await, before);
    app.stop().await;

    // A database restored from a copy is noticed even when as many writes followed the copy
    // as followed the state the index reflects.
    let db = data.path().join("registry.redb");
    let copy = data.path().join("copy.redb");
    std::fs::copy(&db, &copy).unwrap();
    let branch = |name: &str| vec![fixture(name, "A branch of history", &[], 1, None)];
    write_to(data.path(), &branch("first-branch")).await;
    let mut app = start_on(data.path()).await;
    assert_eq!(
        names(&app.get("/search?q=first-branch").await.json())[0],
        "first-branch"
    );
    app.stop().await;
    std::fs::copy(&copy, &db).unwrap();
    write_to(data.path(), &branch("second-branch")).await;
    let app = start_on(data.path()).await;
    let found = names(&app.get("/search?q=branch").await.json());
    assert!(found.contains(&"second-branch".to_string()), "{found:?}");
    assert!(!found.contains(&"first-branch".to_string()), "{found:?}");
}

#[tokio::test]
async fn cached_upstream_packages_are_found_until_their_scope_becomes_ours() {
    let up = FakeUpstream::start().await;
    up.publish("@up/thing", "1.0.0", json!({}));
    up.publish("left-pad", "1.3.0", json!({}));
    let app = TestApp::start_with_upstream(&up.url).await;
    app.search_settled().await;
    // Only what was fetched through this registry is known.
    assert_eq!(app.get("/search?q=left-pad").await.json()["total"], 0);
    for path in ["/left-pad", "/@up%2fthing"] {
        assert_eq!(app.npm(Method::GET, path, None, None).await.status, 200);
    }
    followed(&app, "/search?q=left-pad", |b| {
        b["results"][0]["name"] == "left-pad" && b["results"][0]["origin"] == "cached"
    })
    .await;
    followed(&app, "/npm/-/v1/search?text=thing", |b| {
        b["objects"][0]["package"]["name"] == "@up/thing" && b["objects"][0]["local"] == false
    })
    .await;
    assert_eq!(
        app.get("/search?q=is:cached").await.json()["total"],
        2,
        "both cached packages"
    );
    // A local package in @up makes the scope ours: @up/thing is no longer served, nor found.
    let (r, _) = app
        .npm_publish(common::ADMIN_TOKEN, "@up/mine", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);
    followed(&app, "/search?q=thing", |b| {
        !names(b).contains(&"@up/thing".to_string())
    })
    .await;
    assert_eq!(
        app.npm(Method::GET, "/@up%2fthing", None, None)
            .await
            .status,
        404
    );
    assert_eq!(
        names(&app.get("/search?q=is:local").await.json()),
        ["@up/mine"]
    );
}

#[tokio::test]
async fn after_a_crash_the_index_is_rebuilt() {
    use base64::Engine;
    let data = tempfile::tempdir().unwrap();
    let admin = "crash-test-admin-token";
    let envs = [("PANTRY_REGISTRY_TOKEN", admin)];
    let server = BinServer::start(data.path(), &envs);
    let client = reqwest::Client::new();
    let tgz = common::npm_tarball(&json!({"name": "crash-survivor", "version": "1.0.0"}));
    let body = json!({"metadata": {"name": "crash-survivor", "version": "1.0.0"},
        "tarball": base64::engine::general_purpose::STANDARD.encode(&tgz)});
    let r = client
        .post(format!("{}/publish", server.url))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let found = |url: String, name: &'static str| {
        let client = client.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let body: Value = client
                    .get(format!("{url}/search?q={name}"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if body["results"][0]["name"] == name {
                    return;
                }
                assert!(Instant::now() < deadline, "{name} not found: {body}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    found(server.url.clone(), "crash-survivor").await;
    server.kill();
    // The killed server never marked its index clean, so the next start rebuilds it from the
    // database: a package written there meanwhile is found, and nothing is lost.
    let late = vec![fixture(
        "after-crash",
        "Written after the crash",
        &[],
        1,
        None,
    )];
    write_to(data.path(), &late).await;
    let server = BinServer::start(data.path(), &envs);
    found(server.url.clone(), "after-crash").await;
    found(server.url.clone(), "crash-survivor").await;
    server.terminate();
}
