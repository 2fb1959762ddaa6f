//! The Zig routes with the archives real zig hashed (tests/fixtures/zig-vectors): publish in
//! every format, the hash zig prints, lookup by either hash form, archives served so zig
//! accepts them, and every way an upload is refused.

use crate::common;

use common::{TestApp, sha256_hex};
use serde_json::{Value, json};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zig-vectors");

fn vector(file: &str) -> Vec<u8> {
    std::fs::read(format!("{VECTORS}/{file}")).unwrap()
}

fn vectors() -> Vec<Value> {
    serde_json::from_str(&std::fs::read_to_string(format!("{VECTORS}/vectors.json")).unwrap())
        .unwrap()
}

async fn publish(
    app: &TestApp,
    token: Option<&str>,
    file: &str,
    bytes: Vec<u8>,
    manifest: Option<&str>,
) -> common::Response {
    app.zig_publish(token, file, bytes, manifest).await
}

#[tokio::test]
async fn every_format_publishes_with_the_hash_zig_printed_and_downloads_as_zig_expects() {
    for v in vectors() {
        let (Some(expected), Some(file)) = (v["hash"].as_str(), v["file"].as_str()) else {
            continue;
        };
        if v["name"].is_null() {
            continue; // naked archives need a name-X.Y.Z.tar.gz file name: covered below
        }
        let app = TestApp::start().await;
        let bytes = vector(file);
        let r = publish(&app, Some(&app.tokens.alice), file, bytes.clone(), None).await;
        assert_eq!(
            r.status,
            201,
            "{file}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let body = r.json();
        assert_eq!(body["hash"], expected, "{file}");
        assert_eq!(body["legacyHash"], v["legacy_multihash"], "{file}");
        let url = body["tarballUrl"].as_str().unwrap().to_string();
        assert_eq!(body["fetchCommand"], format!("zig fetch --save {url}"));
        let dl = common::Response::from(app.client.get(&url).send().await.unwrap()).await;
        assert_eq!(dl.status, 200);
        assert_eq!(
            sha256_hex(&dl.body),
            sha256_hex(&bytes),
            "{file}: served byte for byte"
        );
        assert!(dl.headers.get("content-encoding").is_none());
        let wanted_type = match v["archive_type"].as_str().unwrap() {
            "tar.gz" => "application/gzip",
            "tar.xz" => "application/x-xz",
            "tar.zst" => "application/zstd",
            "tar" => "application/x-tar",
            _ => "application/zip",
        };
        assert_eq!(dl.header("content-type"), wanted_type, "{file}");
        assert!(dl.header("cache-control").contains("immutable"));
    }
}

#[tokio::test]
async fn metadata_versions_hash_lookup_and_search() {
    let app = TestApp::start().await;
    let r = publish(
        &app,
        Some(&app.tokens.alice),
        "plain_pkg-1.0.0.tar.gz",
        vector("plain_pkg-1.0.0.tar.gz"),
        None,
    )
    .await;
    assert_eq!(r.status, 201);
    let hash = "plain_pkg-1.0.0-TTwrGsQBAADYIAT5zkbdjFhHSelVaHV30xynawuw8jC0";
    let meta = app.get("/zig/packages/plain_pkg").await.json();
    assert_eq!(meta["version"], "1.0.0");
    assert_eq!(meta["hash"], hash);
    let url = format!("{}/zig/packages/plain_pkg/1.0.0/tarball", app.url);
    assert_eq!(
        meta["dependency"],
        format!(".plain_pkg = .{{\n    .url = \"{url}\",\n    .hash = \"{hash}\",\n}},")
    );
    assert_eq!(
        app.get("/zig/packages/plain_pkg/1.0.0").await.json()["hash"],
        hash
    );
    assert_eq!(
        app.get("/zig/packages/plain_pkg/versions").await.json(),
        json!({"name": "plain_pkg", "versions": ["1.0.0"]})
    );
    assert_eq!(
        app.get("/zig/packages/nope/versions").await.json(),
        json!({"name": "nope", "versions": []})
    );
    for h in [
        hash,
        "1220d82004f9ce46dd8c584749e955687577d31ca76b0bb0f230b4a8241fc148016f",
    ] {
        let hit = app.get(&format!("/zig/hash/{h}")).await;
        assert_eq!(hit.status, 200, "{h}");
        assert_eq!(hit.json()["name"], "plain_pkg");
        assert_eq!(hit.json()["hash"], hash);
    }
    assert_eq!(
        app.get("/zig/hash/1220ffff").await.error(404),
        "Package not found for this hash"
    );
    assert_eq!(
        app.get("/zig/packages/nope").await.error(404),
        "Package not found"
    );
    assert_eq!(
        app.get("/zig/packages/plain_pkg/9.9.9").await.error(404),
        "Package version not found"
    );
    app.search_settled().await;
    let found = app.get("/zig/search?q=plain").await.json();
    assert_eq!(found["results"][0]["name"], "plain_pkg");
    assert_eq!(
        app.get("/zig/search?q=zzz").await.json()["results"],
        json!([])
    );
}

#[tokio::test]
async fn latest_is_the_highest_version_and_republish_is_409() {
    let app = TestApp::start().await;
    let t = Some(app.tokens.alice.as_str());
    assert_eq!(
        publish(
            &app,
            t,
            "plain_pkg-1.0.0.tar.gz",
            vector("plain_pkg-1.0.0.tar.gz"),
            None
        )
        .await
        .status,
        201
    );
    let again = publish(
        &app,
        t,
        "plain_pkg-1.0.0.tar.xz",
        vector("plain_pkg-1.0.0.tar.xz"),
        None,
    )
    .await;
    assert_eq!(again.error(409), "Version already exists");
    // Naked archives take name and version from the seed's file-name rule.
    let naked = vector("naked.tar.gz");
    assert_eq!(
        publish(&app, t, "older.tar.gz", naked.clone(), None)
            .await
            .error(400),
        "Could not determine package name/version. Provide manifest or use name-version.tar.gz filename."
    );
    let r = publish(&app, t, "older_lib-2.3.4.tar.gz", naked.clone(), None).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json()["hash"],
        "N-V-__8AACoAAAB1j0kYoUK2LY4Te0m6OiNuJnR08vjO3YSG"
    );
    assert_eq!(
        publish(&app, t, "older_lib-1.0.0.tar.gz", naked, None)
            .await
            .status,
        201
    );
    assert_eq!(
        app.get("/zig/packages/older_lib").await.json()["version"],
        "2.3.4",
        "the highest, not the last published"
    );
}

#[tokio::test]
async fn old_style_manifests_get_the_legacy_hash_first() {
    let app = TestApp::start().await;
    let r = publish(
        &app,
        Some(&app.tokens.alice),
        "legacy_pkg-0.1.0.tar.gz",
        vector("legacy_pkg-0.1.0.tar.gz"),
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["hash"],
        "12203dee9d47395d2cfb9d6c8c582fe22eb2f5494987d6726b774deb0dc381d84ff5"
    );
    assert_eq!(
        r.json()["legacyHash"],
        "legacy_pkg-0.1.0-AAAAANAAAAA97p1HOV0s-51sjFgv4i6y9UlJh9Zya3dN"
    );
}

#[tokio::test]
async fn uploads_zig_would_refuse_are_refused_with_json_and_store_nothing() {
    let app = TestApp::start_with(|b| b.setting("limits.max_tarball_bytes", "2000").unwrap()).await;
    let t = Some(app.tokens.alice.as_str());
    let plain = vector("plain_pkg-1.0.0.tar.gz");
    assert!(
        publish(&app, t, "x.tar.gz", b"not an archive at all".to_vec(), None)
            .await
            .error(400)
            .contains("archive")
    );
    assert!(
        publish(&app, t, "x.tar.gz", plain[..plain.len() / 2].to_vec(), None)
            .await
            .error(400)
            .contains("corrupt")
    );
    assert!(
        publish(
            &app,
            t,
            "badfp-0.1.0.tar.gz",
            vector("badfp-0.1.0.tar.gz"),
            None
        )
        .await
        .error(422)
        .contains("fingerprint")
    );
    assert!(
        publish(
            &app,
            t,
            "nopaths-1.1.0.tar.gz",
            vector("nopaths-1.1.0.tar.gz"),
            None
        )
        .await
        .error(422)
        .contains("paths")
    );
    let other =
        ".{ .name = .other_pkg, .version = \"1.0.0\", .fingerprint = 0x0, .paths = .{\"\"} }";
    publish(
        &app,
        t,
        "plain_pkg-1.0.0.tar.gz",
        plain.clone(),
        Some(other),
    )
    .await
    .error(422);
    let broken = ".{ .name = .plain_pkg, .version = \"1.0.0\",";
    assert!(
        publish(
            &app,
            t,
            "plain_pkg-1.0.0.tar.gz",
            plain.clone(),
            Some(broken)
        )
        .await
        .error(422)
        .contains("build.zig.zon:1:")
    );
    // A path that escapes the package.
    let escape = {
        // The tar crate refuses to write `..`, so the header's name is set by hand.
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.as_ustar_mut().unwrap().name[..14].copy_from_slice(b"pkg/../../evil");
        header.set_size(1);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, &b"x"[..]).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    };
    publish(&app, t, "evil-1.0.0.tar.gz", escape, None)
        .await
        .error(422);
    // Size limit (the zst vector is larger than 2000 bytes once padded? use a big tarball).
    let big = common::tarball_with(&[(
        "p/noise",
        (0..4000u32)
            .flat_map(|i| i.to_le_bytes())
            .map(|b| b.wrapping_mul(31))
            .collect(),
    )]);
    assert!(big.len() > 2000);
    publish(&app, t, "big-1.0.0.tar.gz", big, None)
        .await
        .error(413);
    // Auth.
    publish(&app, None, "plain_pkg-1.0.0.tar.gz", plain.clone(), None)
        .await
        .error(401);
    publish(
        &app,
        Some(&app.tokens.reader),
        "plain_pkg-1.0.0.tar.gz",
        plain.clone(),
        None,
    )
    .await
    .error(403);
    let missing = app
        .client
        .post(format!("{}/zig/publish", app.url))
        .bearer_auth(&app.tokens.alice)
        .multipart(reqwest::multipart::Form::new().text("description", "x"))
        .send()
        .await
        .unwrap();
    assert!(
        common::Response::from(missing)
            .await
            .error(400)
            .starts_with("Missing tarball: the form takes a `tarball` file part")
    );
    assert_eq!(app.blob_count().await, 0, "nothing was stored");
    assert_eq!(app.get("/zig/search").await.json()["results"], json!([]));
}

#[tokio::test]
async fn owners_only_and_survives_a_restart() {
    let mut app = TestApp::start().await;
    let plain = vector("plain_pkg-1.0.0.tar.gz");
    assert_eq!(
        publish(
            &app,
            Some(&app.tokens.alice),
            "plain_pkg-1.0.0.tar.gz",
            plain.clone(),
            None
        )
        .await
        .status,
        201
    );
    let r = publish(
        &app,
        Some(&app.tokens.bob),
        "plain_pkg-1.0.0.zip",
        vector("plain_pkg-1.0.0.zip"),
        None,
    )
    .await;
    assert!(r.status == 403 || r.status == 409, "{}", r.status);
    app.stop().await;
    let dir = app.dir.path().to_path_buf();
    let again = TestApp::start_with(move |b| b.data_dir(dir)).await;
    let meta = again.get("/zig/packages/plain_pkg").await.json();
    assert_eq!(
        meta["hash"],
        "plain_pkg-1.0.0-TTwrGsQBAADYIAT5zkbdjFhHSelVaHV30xynawuw8jC0"
    );
    let dl = again.get("/zig/packages/plain_pkg/1.0.0/tarball").await;
    assert_eq!(sha256_hex(&dl.body), sha256_hex(&plain));
    assert_eq!(
        again
            .get("/zig/hash/1220d82004f9ce46dd8c584749e955687577d31ca76b0bb0f230b4a8241fc148016f")
            .await
            .status,
        200
    );
}

/// A tar.gz whose entry names are written byte for byte (`./x` included).
fn raw_tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn archives_old_zig_cannot_unpack_are_stored_normalised_with_the_same_hash() {
    let app = TestApp::start().await;
    let crc = {
        let mut c = flate2::Crc::new();
        c.update(b"dotted");
        u64::from(c.sum())
    };
    let zon = format!(
        ".{{ .name = .dotted, .version = \"1.0.0\", .fingerprint = 0x{:x}, .paths = .{{\"\"}} }}",
        (crc << 32) | 7
    );
    let dotted = raw_tar_gz(&[
        ("./build.zig.zon", zon.as_bytes()),
        ("./src/a.zig", b"pub const a = 1;\n"),
    ]);
    let clean = raw_tar_gz(&[
        ("dotted-1.0.0/build.zig.zon", zon.as_bytes()),
        ("dotted-1.0.0/src/a.zig", b"pub const a = 1;\n"),
    ]);
    let limits = pantry_registry::zig::hash::UnpackLimits {
        max_unpacked_bytes: 1 << 20,
        max_entries: 100,
        max_header_bytes: 65_536,
    };
    let expected = pantry_registry::zig::hash::hash_archive(&clean, limits, false)
        .unwrap()
        .hash
        .hash;
    let r = publish(&app, Some(&app.tokens.alice), "dotted.tar.gz", dotted, None).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["normalized"], true);
    assert_eq!(r.json()["hash"], expected.as_str());
    let served = app.get("/zig/packages/dotted/1.0.0/tarball").await.body;
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&served[..]));
    for e in archive.entries().unwrap() {
        names.push(e.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    assert_eq!(
        names,
        ["dotted-1.0.0/build.zig.zon", "dotted-1.0.0/src/a.zig"]
    );
    // A clean upload is stored as it came.
    let r = publish(
        &app,
        Some(&app.tokens.alice),
        "plain_pkg-1.0.0.tar.gz",
        vector("plain_pkg-1.0.0.tar.gz"),
        None,
    )
    .await;
    assert!(r.json().get("normalized").is_none());
}

#[tokio::test]
async fn dependencies_and_minimum_zig_version_are_kept_and_downloads_counted() {
    let mut app = TestApp::start().await;
    let crc = {
        let mut c = flate2::Crc::new();
        c.update(b"withdeps");
        u64::from(c.sum())
    };
    let zon = format!(
        ".{{ .name = .withdeps, .version = \"0.2.0\", .fingerprint = 0x{:x}, .minimum_zig_version = \"0.15.0\",\n  .dependencies = .{{ .other = .{{ .url = \"https://example.com/other.tar.gz\", .hash = \"other-1.0.0-{}\", .lazy = true }}, .local = .{{ .path = \"vendor/local\" }} }},\n  .paths = .{{\"\"}} }}",
        (crc << 32) | 9,
        "A".repeat(44)
    );
    let archive = raw_tar_gz(&[
        ("withdeps/build.zig.zon", zon.as_bytes()),
        ("withdeps/src/a.zig", b"pub const a = 1;\n"),
    ]);
    let r = publish(
        &app,
        Some(&app.tokens.alice),
        "withdeps.tar.gz",
        archive,
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let meta = app.get("/zig/packages/withdeps").await.json();
    assert_eq!(meta["minimumZigVersion"], "0.15.0");
    let deps = meta["dependencies"].as_array().unwrap();
    assert_eq!(deps.len(), 2);
    assert!(deps.iter().any(|d| d["name"] == "other"
        && d["lazy"] == true
        && d["url"] == "https://example.com/other.tar.gz"));
    assert!(
        deps.iter()
            .any(|d| d["name"] == "local" && d["path"] == "vendor/local")
    );
    assert_eq!(
        app.get("/zig/packages/withdeps/0.2.0/tarball").await.status,
        200
    );
    app.stop().await;
    let store = common::open_store(&app.dir.path().join("registry.redb")).await;
    use pantry_registry::store::DownloadStore;
    assert_eq!(
        store
            .downloads("zig:withdeps")
            .await
            .unwrap()
            .iter()
            .map(|c| c.count)
            .sum::<u64>(),
        1
    );
}
