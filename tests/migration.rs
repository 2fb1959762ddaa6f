//! A data directory written by an older binary is read forward: `tests/fixtures/schema-*/`
//! hold real data directories (metadata database and blobs) recorded by the binary of that
//! schema through its HTTP API and CLI (`record.sh` says how). Each is opened by this build,
//! which migrates it at start, and everything it held must still be served as before: npm
//! packuments, dist-tags and tarballs, the Zig package and its hash, download counts, the
//! user and token, and search (rebuilt from the store). Writes go on after the migration.

use crate::common;

use common::TestApp;
use reqwest::Method;
use sha2::Digest;

/// Unpacks a recorded data directory into a fresh temporary directory.
fn unpack(fixture: &str) -> tempfile::TempDir {
    let packed = std::fs::read(format!(
        "{}/tests/fixtures/{fixture}/data.tar.zst",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let tar = zstd::decode_all(&packed[..]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    tar::Archive::new(&tar[..]).unpack(dir.path()).unwrap();
    dir
}

#[tokio::test]
async fn a_schema_5_data_directory_is_served_as_it_was_and_takes_new_writes() {
    let dir = unpack("schema-5");
    let token = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/schema-5/token.txt"
    ))
    .unwrap()
    .trim()
    .to_string();
    let app = TestApp::start_in(dir, |b| b).await;

    // npm: every version, every dist-tag, the readme, and tarballs that match their digests.
    let doc = app.npm(Method::GET, "/five-pkg", None, None).await.json();
    let versions: Vec<&str> = doc["versions"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(versions.len(), 3, "{versions:?}");
    for v in ["1.0.0", "1.1.0", "2.0.0-beta.1"] {
        assert!(versions.contains(&v), "{v} missing: {versions:?}");
    }
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0");
    assert_eq!(doc["dist-tags"]["next"], "2.0.0-beta.1");
    assert_eq!(doc["dist-tags"]["stable"], "1.0.0");
    assert!(doc["readme"].as_str().unwrap().contains("migration test"));
    assert_eq!(
        doc["versions"]["1.1.0"]["dependencies"]["left-pad"],
        "^1.3.0"
    );
    let dist = &doc["versions"]["1.1.0"]["dist"];
    let tarball = app
        .client
        .get(dist["tarball"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tarball.status(), 200);
    let bytes = tarball.bytes().await.unwrap();
    assert_eq!(
        hex::encode(sha1::Sha1::digest(&bytes)),
        dist["shasum"].as_str().unwrap()
    );
    let scoped = app
        .npm(Method::GET, "/@five%2fscoped", None, None)
        .await
        .json();
    assert_eq!(scoped["versions"]["0.1.0"]["bin"]["five"], "index.js");

    // The Pantry API sees the same packages.
    let pkg = app.get("/packages/five-pkg").await.json();
    assert_eq!(pkg["version"], "1.1.0", "{pkg}");

    // Zig: the package, its hash (zig's own, from the vectors) and its archive.
    let zig = app.get("/zig/packages/plain_pkg/1.0.0").await.json();
    let hash = zig["hash"].as_str().unwrap().to_string();
    assert!(hash.starts_with("plain_pkg-1.0.0-"), "{hash}");
    assert_eq!(
        app.get(&format!("/zig/hash/{hash}")).await.json()["name"],
        "plain_pkg"
    );
    let archive = app.get("/zig/packages/plain_pkg/1.0.0/tarball").await;
    assert_eq!(archive.status, 200);
    let recorded = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/zig-vectors/plain_pkg-1.0.0.tar.gz"
    ))
    .unwrap();
    assert_eq!(archive.body, recorded);

    // Download counts recorded before the migration: three of five-pkg, one of plain_pkg, and
    // the two downloads above.
    app.search_settled().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let npm_counts = app.get("/analytics/five-pkg").await.json();
    assert_eq!(npm_counts["totalDownloads"], 4, "{npm_counts}");
    let zig_counts = app.get("/analytics/plain_pkg?ecosystem=zig").await.json();
    assert_eq!(zig_counts["totalDownloads"], 2, "{zig_counts}");

    // The user made with the CLI, and the token minted for them, still work.
    let whoami = app.npm(Method::GET, "/-/whoami", Some(&token), None).await;
    assert_eq!(whoami.json()["username"], "fiver");

    // Tokens recorded before the id index (schema 7) are found by id: listed, then revoked.
    let listed = app
        .npm(Method::GET, "/-/npm/v1/tokens", Some(&token), None)
        .await
        .json();
    let key = listed["objects"][0]["key"].as_str().unwrap().to_string();
    let revoked = app
        .npm(
            Method::DELETE,
            &format!("/-/npm/v1/tokens/token/{key}"),
            Some(&token),
            None,
        )
        .await;
    assert!(
        revoked.status.is_success(),
        "{}",
        String::from_utf8_lossy(&revoked.body)
    );
    app.npm(Method::GET, "/-/whoami", Some(&token), None)
        .await
        .error(401);

    // Search is rebuilt from the store.
    let found = app.get("/search?q=five").await.json();
    let names: Vec<&str> = found["results"]
        .as_array()
        .or_else(|| found["objects"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|o| o["name"].as_str().or(o["package"]["name"].as_str()))
                .collect()
        })
        .unwrap_or_default();
    assert!(names.contains(&"five-pkg"), "{found}");

    // And the migrated database takes new writes: a new version by the recorded owner's
    // admin token, a dist-tag change, a download.
    let (r, _) = app
        .npm_publish(common::ADMIN_TOKEN, "five-pkg", "1.2.0", "latest")
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let doc = app.npm(Method::GET, "/five-pkg", None, None).await.json();
    assert_eq!(doc["dist-tags"]["latest"], "1.2.0");
    assert_eq!(doc["versions"].as_object().unwrap().len(), 4);
}

/// At schema 7 a cached upstream packument's body was kept inside the metadata database; from
/// schema 8 it is a blob. A recorded schema-7 cache (a packument, a tarball, a negative entry)
/// is served as it was, offline (so from the cache alone), its body now in the blob store where
/// `gc` keeps it, and the rest of the cache still works.
#[tokio::test]
async fn a_schema_7_upstream_cache_moves_its_packument_bodies_into_the_blob_store() {
    let dir = unpack("schema-7");
    let recorded = |file: &str| {
        let packed = std::fs::read(format!(
            "{}/tests/fixtures/npm-corpus/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        if file.ends_with(".zst") {
            zstd::decode_all(&packed[..]).unwrap()
        } else {
            packed
        }
    };
    let upstream_doc: serde_json::Value =
        serde_json::from_slice(&recorded("packuments/bytes.json.zst")).unwrap();
    let offline = |b: pantry_registry::RegistryBuilder| {
        b.setting("npm.fallback", "true")
            .unwrap()
            .setting("npm.upstream", "http://127.0.0.1:9/")
            .unwrap()
            .setting("npm.offline", "true")
            .unwrap()
            // The recorded 404 is remembered as long as this test may run after its recording.
            .setting("npm.negative_cache_secs", "3153600000")
            .unwrap()
    };
    let mut app = TestApp::start_in(dir, offline).await;

    // The packument, from the cache: every version the upstream had, tarballs pointing here.
    let r = app.npm(Method::GET, "/bytes", None, None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let doc = r.json();
    assert_eq!(
        doc["versions"].as_object().unwrap().len(),
        upstream_doc["versions"].as_object().unwrap().len()
    );
    assert_eq!(doc["dist-tags"], upstream_doc["dist-tags"]);
    let dist = &doc["versions"]["3.1.2"]["dist"];
    assert!(
        dist["tarball"].as_str().unwrap().starts_with(&app.url),
        "{dist}"
    );
    // The proxied tarball, from the blob store, byte for byte.
    let tarball = app
        .client
        .get(dist["tarball"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tarball.status(), 200);
    assert_eq!(
        tarball.bytes().await.unwrap().to_vec(),
        recorded("tarballs/bytes-3.1.2.tgz")
    );
    // The remembered 404, and a name never asked for (offline: it cannot be fetched).
    app.npm(Method::GET, "/no-such-upstream-package", None, None)
        .await
        .error(404);
    app.npm(Method::GET, "/never-asked-for", None, None)
        .await
        .error(504);
    // The body is a blob now, beside the tarball.
    assert_eq!(app.blob_count().await, 2);
    assert_eq!(app.tarball_blob_count().await, 1);
    app.stop().await;

    // gc keeps it: it is referenced. And the next start serves it again (moved once, kept).
    let data = app.dir.path().to_str().unwrap().to_string();
    let (ok, out, err) = common::run_bin(&["gc", "--dry-run", "--data-dir", &data], &[]);
    assert!(ok, "{out}\n{err}");
    assert!(!out.contains("would delete"), "{out}");
    let first_url = app.url.clone();
    let app = app.restart_with(offline).await;
    let again = app.npm(Method::GET, "/bytes", None, None).await.json();
    // The same document, but for the new server's address in its tarball URLs.
    assert_eq!(
        again.to_string().replace(&app.url, &first_url),
        doc.to_string()
    );
}
