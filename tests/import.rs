//! `import --from-seed` and `import --from-verdaccio`, run as the binary: a seed data directory
//! written by the seed's rules with real npm tarballs from the recorded corpus, and a storage
//! directory the real Verdaccio 6.8 wrote while real `npm publish`es went into it. Each is
//! imported, imported again (nothing new), and then installed from us with the real npm.

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::sandbox::Sandbox;
use common::{ADMIN_TOKEN, TestApp};
use serde_json::{Value, json};
use sha2::Digest;

fn npm() -> &'static Path {
    Path::new("npm")
}

/// Runs the binary off the runtime's threads (the registry under test serves on them).
async fn cli(args: Vec<String>, envs: Vec<(&'static str, String)>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        common::run_bin(&args, &envs)
    })
    .await
    .unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A recorded tarball of the corpus, by `name@version`.
fn corpus_tarball(id: &str) -> Vec<u8> {
    let entry = &common::corpus::corpus().index["tarballs"][id];
    let file = entry["file"]
        .as_str()
        .unwrap_or_else(|| panic!("{id} is recorded"));
    std::fs::read(common::corpus::corpus_dir().join(file)).unwrap()
}

/// The entries of a gzip'd tarball: (path, header, bytes).
fn entries(tgz: &[u8]) -> Vec<(String, tar::Header, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let header = entry.header().clone();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (path, header, data)
        })
        .collect()
}

/// One file of a tarball.
fn file_in(tgz: &[u8], path: &str) -> Vec<u8> {
    entries(tgz)
        .into_iter()
        .find(|(p, _, _)| p == path)
        .unwrap_or_else(|| panic!("{path} in the tarball"))
        .2
}

/// A real tarball repacked with its package.json changed by `edit` (a new name or version);
/// every other file's bytes and header are kept.
fn repack(tgz: &[u8], edit: impl Fn(&mut Value)) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut out = tar::Builder::new(gz);
    for (path, mut header, mut data) in entries(tgz) {
        if path == "package/package.json" {
            let mut manifest: Value = serde_json::from_slice(&data).unwrap();
            edit(&mut manifest);
            data = serde_json::to_vec_pretty(&manifest).unwrap();
        }
        header.set_size(data.len() as u64);
        header.set_cksum();
        out.append(&header, data.as_slice()).unwrap();
    }
    out.into_inner().unwrap().finish().unwrap()
}

/// One version as the seed stored it.
struct SeedVersion {
    version: &'static str,
    tgz: Vec<u8>,
    published_at: &'static str,
    /// A checksum other than the tarball's (a damaged record).
    wrong_checksum: bool,
    /// Whether the tarball file is there.
    on_disk: bool,
}

fn seed_version(version: &'static str, tgz: Vec<u8>, published_at: &'static str) -> SeedVersion {
    SeedVersion {
        version,
        tgz,
        published_at,
        wrong_checksum: false,
        on_disk: true,
    }
}

/// Writes `dir/.registry` the way the seed's local storage does: `metadata.json` (one object
/// keyed by name, each a PackageRecord, pretty-printed with 2 spaces) and the tarballs at
/// `tarballs/packages/{safe}/{version}/{safe}-{version}.tgz`.
fn write_seed(dir: &Path, packages: &[(&str, &str, Vec<SeedVersion>)]) {
    let registry = dir.join(".registry");
    let mut doc = serde_json::Map::new();
    for (name, description, versions) in packages {
        let safe = name.replacen('@', "", 1).replacen('/', "-", 1);
        let mut records = serde_json::Map::new();
        for v in versions {
            let folder = registry.join(format!("tarballs/packages/{safe}/{}", v.version));
            let file = format!("{safe}-{}.tgz", v.version);
            if v.on_disk {
                std::fs::create_dir_all(&folder).unwrap();
                std::fs::write(folder.join(&file), &v.tgz).unwrap();
            }
            let hashed: &[u8] = if v.wrong_checksum {
                b"other bytes"
            } else {
                &v.tgz
            };
            records.insert(
                v.version.to_string(),
                json!({
                    "version": v.version,
                    "tarballUrl": format!("http://localhost:3000/storage/packages/{safe}/{}/{file}", v.version),
                    "checksum": format!("sha256:{}", hex::encode(sha2::Sha256::digest(hashed))),
                    "publishedAt": v.published_at,
                    "size": 0,
                }),
            );
        }
        // The seed's latest: the highest major.minor.patch.
        let latest = versions
            .iter()
            .map(|v| v.version)
            .max_by_key(|v| semver::Version::parse(v).unwrap())
            .unwrap();
        doc.insert(
            name.to_string(),
            json!({
                "name": name, "description": description, "repository": "", "homepage": "",
                "license": "MIT", "author": "", "keywords": ["imported"],
                "versions": records, "latestVersion": latest,
                "createdAt": versions[0].published_at,
                "updatedAt": versions.last().unwrap().published_at, "totalDownloads": 3,
            }),
        );
    }
    std::fs::create_dir_all(&registry).unwrap();
    std::fs::write(
        registry.join("metadata.json"),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
}

/// A project in `sb` that installs `specs` with npm; the project's folder.
async fn npm_install(sb: &Sandbox, project: &str, specs: &[&str]) -> PathBuf {
    let dir = sb.root.path().join(project);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("package.json"),
        json!({"name": project, "version": "1.0.0", "private": true}).to_string(),
    )
    .unwrap();
    let mut args = vec!["install", "--no-audit"];
    args.extend(specs);
    sb.ok(npm(), &args, &dir).await;
    dir
}

fn installed(project: &Path, name: &str, file: &str) -> Vec<u8> {
    std::fs::read(project.join("node_modules").join(name).join(file))
        .unwrap_or_else(|e| panic!("{name}/{file} installed: {e}"))
}

fn installed_version(project: &Path, name: &str) -> String {
    let manifest: Value =
        serde_json::from_slice(&installed(project, name, "package.json")).unwrap();
    manifest["version"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_data_directory_is_imported_verified_and_installable() {
    let app = TestApp::start().await;
    let once = corpus_tarball("once@1.4.0");
    let wrappy = corpus_tarball("wrappy@1.0.2");
    let ms = corpus_tarball("ms@2.1.3");
    // The corpus holds one version per package and no scoped tarball: a second version of ms
    // and a scoped package are the real tarballs with only package.json's version or name
    // changed.
    let ms_older = repack(&ms, |m| m["version"] = json!("2.1.2"));
    let scoped = repack(&corpus_tarball("is-promise@4.0.0"), |m| {
        m["name"] = json!("@corp/is-promise")
    });
    let seed = tempfile::tempdir().unwrap();
    write_seed(
        seed.path(),
        &[
            (
                "ms",
                "Tiny millisecond conversion utility",
                vec![
                    seed_version("2.1.2", ms_older.clone(), "2021-03-04T05:06:07.089Z"),
                    seed_version("2.1.3", ms.clone(), "2022-01-02T03:04:05.006Z"),
                ],
            ),
            (
                "once",
                "Run a function exactly one time",
                vec![seed_version(
                    "1.4.0",
                    once.clone(),
                    "2023-05-06T07:08:09.010Z",
                )],
            ),
            (
                "wrappy",
                "Callback wrapping utility",
                vec![seed_version(
                    "1.0.2",
                    wrappy.clone(),
                    "2023-05-06T07:08:00.000Z",
                )],
            ),
            (
                "@corp/is-promise",
                "Test whether an object looks like a promise",
                vec![seed_version(
                    "4.0.0",
                    scoped.clone(),
                    "2024-02-03T04:05:06.007Z",
                )],
            ),
            (
                "escape-html",
                "Escape string for use in HTML",
                vec![SeedVersion {
                    wrong_checksum: true,
                    ..seed_version(
                        "1.0.3",
                        corpus_tarball("escape-html@1.0.3"),
                        "2020-01-01T00:00:00.000Z",
                    )
                }],
            ),
            (
                "inherits",
                "Browser-friendly inheritance",
                vec![SeedVersion {
                    on_disk: false,
                    ..seed_version(
                        "2.0.4",
                        corpus_tarball("inherits@2.0.4"),
                        "2020-01-01T00:00:00.000Z",
                    )
                }],
            ),
        ],
    );
    let seed_dir = seed.path().display().to_string();
    let data_dir = app.dir.path().display().to_string();

    // The server holds the data directory: the import runs there, as a job.
    let (ok, out, err) = cli(
        strings(&["import", "--from-seed", &seed_dir, "--data-dir", &data_dir]),
        vec![],
    )
    .await;
    assert!(
        !ok,
        "two versions could not be imported: exit status 1\n{out}\n{err}"
    );
    assert!(err.contains("Acting on the running server"), "{err}");
    // The job's progress is told as it is polled (a fast job may go from waiting to done
    // between two polls, so its phases are not all guaranteed to show).
    assert!(
        err.contains("job ") && err.contains(": done"),
        "progress is told: {err}"
    );
    for line in [
        "imported ms: 2.1.2, 2.1.3",
        "imported once: 1.4.0",
        "imported wrappy: 1.0.2",
        "imported @corp/is-promise: 4.0.0",
        "skipped escape-html@1.0.3: checksum mismatch: the source records sha256:",
        "skipped inherits@2.0.4: tarballs/packages/inherits/2.0.4/inherits-2.0.4.tgz is missing",
    ] {
        assert!(out.contains(line), "{line:?} in:\n{out}");
    }
    let summary = out.lines().last().unwrap();
    assert!(
        summary.starts_with("Imported 5 version(s) of 4 package(s) from the seed (")
            && summary.ends_with("; skipped 0 already imported, 0 not local, 2 failed."),
        "{summary}"
    );
    assert!(err.contains("2 thing(s) could not be imported"), "{err}");

    // Again, through the admin API at --url: nothing new, the same two failures.
    let (ok, out, err) = cli(
        strings(&[
            "import",
            "--from-seed",
            &seed_dir,
            "--url",
            &app.url,
            "--json",
        ]),
        vec![("PANTRY_ADMIN_TOKEN", ADMIN_TOKEN.to_string())],
    )
    .await;
    assert!(!ok, "{out}\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["imported"], json!([]), "{report}");
    assert_eq!(report["failed"], 2, "{report}");
    let kinds: Vec<(&str, &str)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["target"].as_str().unwrap(), s["kind"].as_str().unwrap()))
        .collect();
    for target in [
        "ms@2.1.2",
        "ms@2.1.3",
        "once@1.4.0",
        "wrappy@1.0.2",
        "@corp/is-promise@4.0.0",
    ] {
        assert!(kinds.contains(&(target, "already-imported")), "{kinds:?}");
    }
    assert!(
        kinds.contains(&("escape-html@1.0.3", "failed")),
        "{kinds:?}"
    );
    assert_eq!(report["changes"], json!([]), "nothing changed: {report}");

    // What npm sees: the seed's publish times, its latest, the descriptions.
    let packument = app.get("/npm/ms").await.json();
    assert_eq!(packument["time"]["2.1.2"], "2021-03-04T05:06:07.089Z");
    assert_eq!(packument["time"]["2.1.3"], "2022-01-02T03:04:05.006Z");
    assert_eq!(packument["dist-tags"]["latest"], "2.1.3");
    assert_eq!(
        app.get("/npm/@corp%2fis-promise").await.json()["time"]["4.0.0"],
        "2024-02-03T04:05:06.007Z"
    );
    assert_eq!(app.get("/npm/escape-html").await.status, 404);

    // The audit log names the import.
    let actions = app.audit_actions("limit=1000").await;
    assert!(actions.iter().any(|a| a == "import.seed"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "job.import"), "{actions:?}");

    // npm installs them from us, the dependency (wrappy) too, with the seed's bytes.
    let sb = Sandbox::new(&app);
    let project = npm_install(
        &sb,
        "seed-project",
        &["once", "ms@2.1.2", "@corp/is-promise"],
    )
    .await;
    assert_eq!(installed_version(&project, "ms"), "2.1.2");
    assert_eq!(installed_version(&project, "wrappy"), "1.0.2");
    for (name, file, tgz) in [
        ("once", "once.js", &once),
        ("wrappy", "wrappy.js", &wrappy),
        ("ms", "index.js", &ms_older),
        ("@corp/is-promise", "index.js", &scoped),
    ] {
        let expected = file_in(tgz, &format!("package/{file}"));
        assert_eq!(installed(&project, name, file), expected, "{name}/{file}");
    }
    let lock: Value =
        serde_json::from_slice(&std::fs::read(project.join("package-lock.json")).unwrap()).unwrap();
    assert_eq!(
        lock["packages"]["node_modules/once"]["integrity"],
        common::corpus::corpus().index["tarballs"]["once@1.4.0"]["integrity"],
        "the real tarball's bytes, unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_directory_that_is_not_one_is_a_clear_error() {
    let app = TestApp::start().await;
    let empty = tempfile::tempdir().unwrap();
    let data_dir = app.dir.path().display().to_string();
    let import_from = |from: &str| {
        let args = strings(&["import", "--from-seed", from, "--data-dir", &data_dir]);
        cli(args, vec![])
    };
    let (ok, _, err) = import_from(&empty.path().display().to_string()).await;
    assert!(!ok && err.contains("holds no seed data"), "{err}");
    let (ok, _, err) = cli(strings(&["import", "--data-dir", &data_dir]), vec![]).await;
    assert!(!ok && err.contains("--from-seed"), "{err}");
    std::fs::write(empty.path().join("metadata.json"), "[1, 2]").unwrap();
    let (ok, _, err) = import_from(&empty.path().display().to_string()).await;
    assert!(!ok && err.contains("is not the seed's metadata"), "{err}");
}

/// Verdaccio, run by the test on 127.0.0.1 with its storage in a temporary directory.
struct Verdaccio {
    child: Child,
    url: String,
}

impl Verdaccio {
    /// Verdaccio takes no port 0, so it is given one picked free; another test's server may
    /// bind that port first. Verdaccio then exits, and it is started again on another port; a
    /// ping counts only when Verdaccio itself answers it (its `X-Powered-By`).
    async fn start(dir: &Path, uplink: &str) -> Self {
        for _attempt in 0..5 {
            let port = common::free_port();
            let mut verdaccio = Self::spawn(dir, uplink, port);
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            for _ in 0..300 {
                if verdaccio.child.try_wait().unwrap().is_some() {
                    break;
                }
                let answer = client.get(format!("{}/-/ping", verdaccio.url)).send().await;
                if answer.is_ok_and(|r| {
                    r.status().is_success()
                        && r.headers()
                            .get("x-powered-by")
                            .and_then(|v| v.to_str().ok())
                            .is_some_and(|v| v == format!("verdaccio-on-{port}"))
                }) {
                    return verdaccio;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let log = std::fs::read_to_string(dir.join("verdaccio.log")).unwrap_or_default();
            assert!(
                log.contains("EADDRINUSE"),
                "Verdaccio did not start:\n{log}"
            );
            eprintln!("Verdaccio lost port {port} to another server; starting it again");
        }
        panic!("Verdaccio lost its port five times");
    }

    fn spawn(dir: &Path, uplink: &str, port: u16) -> Self {
        let config = dir.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "storage: {storage}\n\
                 auth:\n  htpasswd:\n    file: {dir}/htpasswd\n    max_users: 100\n\
                 uplinks:\n  up:\n    url: {uplink}\n\
                 packages:\n  '@*/*':\n    access: $all\n    publish: $authenticated\n\
                 \x20 '**':\n    access: $all\n    publish: $authenticated\n    proxy: up\n\
                 log: {{ type: stdout, format: pretty, level: warn }}\n\
                 listen: 127.0.0.1:{port}\n\
                 user_agent: verdaccio-on-{port}\n",
                storage = dir.join("storage").display(),
                dir = dir.display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("verdaccio.log")).unwrap();
        let child = Command::new("node")
            .arg(common::tools::verdaccio())
            .arg("--config")
            .arg(&config)
            .current_dir(dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        // Killed and waited for by `Drop` on every path, the panics above included.
        Verdaccio {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Registers `name` (npm adduser's request); the token Verdaccio gives.
    async fn add_user(&self, name: &str, password: &str) -> String {
        let r = reqwest::Client::new()
            .put(format!("{}/-/user/org.couchdb.user:{name}", self.url))
            .json(&json!({"name": name, "password": password}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "adduser: {}", r.status());
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Verdaccio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdaccio_storage_directory_is_imported_with_tags_and_owners() {
    let up = common::upstream::FakeUpstream::start().await;
    up.publish("upcached", "1.0.0", json!({}));
    let work = tempfile::tempdir().unwrap();
    let verdaccio = Verdaccio::start(work.path(), &up.url).await;
    let token = verdaccio.add_user("alice", "alice-verdaccio-1").await;

    // Real npm publishes into Verdaccio; `maintainers` in a package.json is what Verdaccio keeps
    // of who maintains a package (it records no publisher of its own).
    let sb = Sandbox {
        registry: format!("{}/", verdaccio.url),
        ..Sandbox::at(&verdaccio.url)
    };
    sb.write_npmrc(Some(&token));
    let maintainers = json!([
        {"name": "alice", "email": "alice@example.com"},
        {"name": "carol", "email": "carol@example.com"}
    ]);
    let publish = |dir: &'static str, manifest: Value, tag: Option<&'static str>| {
        let folder = sb.package(dir, manifest);
        let sb = &sb;
        async move {
            let mut args = vec!["publish"];
            if let Some(tag) = tag {
                args.extend(["--tag", tag]);
            }
            sb.ok(npm(), &args, &folder).await;
        }
    };
    publish(
        "vlocal-1",
        json!({"name": "vlocal", "version": "1.0.0", "description": "local", "maintainers": maintainers}),
        None,
    )
    .await;
    publish(
        "vlocal-2",
        json!({"name": "vlocal", "version": "1.1.0-beta.1", "description": "local", "maintainers": maintainers}),
        Some("beta"),
    )
    .await;
    publish(
        "util",
        json!({"name": "@team/util", "version": "2.0.0", "maintainers": [{"name": "alice", "email": "alice@example.com"}]}),
        None,
    )
    .await;
    publish(
        "vapp",
        json!({"name": "vapp", "version": "1.0.0", "dependencies": {"vlocal": "^1.0.0"}, "maintainers": [{"name": "alice"}]}),
        None,
    )
    .await;
    let root = sb.root.path().to_path_buf();
    sb.ok(
        npm(),
        &["deprecate", "vlocal@1.0.0", "use 1.1 when it is out"],
        &root,
    )
    .await;
    // An install through Verdaccio caches the uplink's package in its storage.
    npm_install(&sb, "through-verdaccio", &["upcached"]).await;
    let storage = work.path().join("storage");
    let stored: Value =
        serde_json::from_slice(&std::fs::read(storage.join("vlocal/package.json")).unwrap())
            .unwrap();
    verdaccio.stop();
    assert!(storage.join("upcached/upcached-1.0.0.tgz").is_file());

    // No server on the data directory: the command imports into it directly.
    let mut app = TestApp::start_with(common::fallback_to(
        &up.url,
        &[("npm.local_scopes", "@team")],
    ))
    .await;
    app.stop().await;
    let data_dir = app.dir.path().display().to_string();
    let storage_arg = storage.display().to_string();
    let upstream_setting = format!("npm.upstream={}", up.url);
    let local_args = strings(&[
        "import",
        "--from-verdaccio",
        &storage_arg,
        "--data-dir",
        &data_dir,
        "--set",
        "npm.fallback=true",
        "--set",
        &upstream_setting,
        "--set",
        "npm.local_scopes=@team",
    ]);
    let (ok, out, err) = cli(local_args, vec![]).await;
    assert!(ok, "{out}\n{err}");
    assert!(err.contains("Acting on the data directory"), "{err}");
    for line in [
        "imported vlocal: 1.0.0, 1.1.0-beta.1",
        "imported @team/util: 2.0.0",
        "imported vapp: 1.0.0",
        "skipped upcached: cached from an uplink, not published to Verdaccio",
        "set vlocal: dist-tag beta -> 1.1.0-beta.1",
        "set vlocal@1.0.0: deprecated",
        "set vlocal: owners alice, carol",
        "created account carol without a password",
    ] {
        assert!(out.contains(line), "{line:?} in:\n{out}");
    }
    let summary = out.lines().last().unwrap();
    assert!(
        summary.starts_with("Imported 4 version(s) of 3 package(s) from Verdaccio (")
            && summary.ends_with(
                "; skipped 0 already imported, 1 not local, 0 failed; created 1 account(s) without a password: carol."
            ),
        "{summary}"
    );

    // Served again; a second import (through the server, now) finds everything here.
    let app = app
        .restart_with(common::fallback_to(
            &up.url,
            &[("npm.local_scopes", "@team")],
        ))
        .await;
    let (ok, out, err) = cli(
        strings(&[
            "import",
            "--from-verdaccio",
            &storage_arg,
            "--data-dir",
            &data_dir,
            "--json",
        ]),
        vec![],
    )
    .await;
    assert!(
        ok,
        "a second run finds nothing to do and exits 0: {out}\n{err}"
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["imported"], json!([]), "{report}");
    assert_eq!(report["changes"], json!([]), "{report}");
    assert_eq!(report["accountsCreated"], json!([]), "{report}");
    assert_eq!(report["failed"], 0, "{report}");

    // Tags, times, deprecation and owners as Verdaccio had them.
    let packument = app.get("/npm/vlocal").await.json();
    assert_eq!(
        packument["dist-tags"],
        json!({"latest": "1.0.0", "beta": "1.1.0-beta.1"})
    );
    assert_eq!(packument["time"]["1.0.0"], stored["time"]["1.0.0"]);
    assert_eq!(
        packument["time"]["1.1.0-beta.1"],
        stored["time"]["1.1.0-beta.1"]
    );
    assert_eq!(
        packument["versions"]["1.0.0"]["deprecated"],
        "use 1.1 when it is out"
    );
    let owners: Vec<&str> = packument["maintainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["alice", "carol"]);
    let util = app.get("/npm/@team%2futil").await.json();
    assert_eq!(util["maintainers"][0]["name"], "alice");
    let upcached = &report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["target"] == "upcached");
    assert_eq!(upcached.unwrap()["kind"], "not-local", "{report}");

    // npm installs them from us; vapp's dependency on vlocal resolves here too.
    let sb = Sandbox::new(&app);
    let project = npm_install(&sb, "from-us", &["vapp", "@team/util"]).await;
    assert_eq!(installed_version(&project, "vapp"), "1.0.0");
    assert_eq!(installed_version(&project, "vlocal"), "1.0.0");
    assert_eq!(installed_version(&project, "@team/util"), "2.0.0");
    let tgz = std::fs::read(storage.join("@team/util/util-2.0.0.tgz")).unwrap();
    assert_eq!(
        installed(&project, "@team/util", "index.js"),
        file_in(&tgz, "package/index.js")
    );
}
