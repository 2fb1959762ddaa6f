//! The real zig (0.17.1, from PyPI) against the real server: `zig fetch --save` of a published
//! package writes exactly the hash the registry returned, and a project that uses the returned
//! `dependency` snippet builds and runs code imported from the package.

use crate::common;

use std::path::Path;

use common::TestApp;
use common::tools::tools;

/// A gzip'd tar of `files` under `<top>/`, with modes and symlinks.
fn package_archive(top: &str, files: &[(&str, &[u8], u32)], links: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{top}/{path}"), *data)
            .unwrap();
    }
    for (path, target) in links {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        builder
            .append_link(&mut header, format!("{top}/{path}"), target)
            .unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn fingerprint(name: &str, id: u32) -> u64 {
    let mut crc = flate2::Crc::new();
    crc.update(name.as_bytes());
    (u64::from(crc.sum()) << 32) | u64::from(id)
}

/// Runs zig 0.17; returns success, stdout, and stdout + stderr.
async fn zig(args: &[&str], cwd: &Path) -> (bool, String, String) {
    zig_at(&tools().zig, args, cwd).await
}

async fn zig_at(program: &Path, args: &[&str], cwd: &Path) -> (bool, String, String) {
    let t = tools();
    let out = tokio::process::Command::new("timeout")
        .arg("600")
        .arg(program)
        .args(args)
        .current_dir(cwd)
        .env("ZIG_GLOBAL_CACHE_DIR", &t.zig_cache)
        .env("ZIG_LOCAL_CACHE_DIR", cwd.join(".zig-cache"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.success(), stdout, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zig_fetch_writes_our_hash_and_zig_build_uses_the_package() {
    let app = TestApp::start().await;
    let zon = format!(
        ".{{\n    .name = .mathlib,\n    .version = \"0.3.0\",\n    .fingerprint = 0x{:x},\n    .minimum_zig_version = \"0.14.0\",\n    .paths = .{{ \"build.zig\", \"build.zig.zon\", \"src\", \"bin\" }},\n}}\n",
        fingerprint("mathlib", 0x1234_5678)
    );
    let build = "const std = @import(\"std\");\npub fn build(b: *std.Build) void {\n    _ = b.addModule(\"mathlib\", .{ .root_source_file = b.path(\"src/root.zig\") });\n}\n";
    let root = "const deep = @import(\"nested/deep.zig\");\npub fn answer() u32 {\n    return deep.base() + 2;\n}\n";
    let deep = "pub fn base() u32 {\n    return 40;\n}\n";
    let archive = package_archive(
        "mathlib-0.3.0",
        &[
            ("build.zig.zon", zon.as_bytes(), 0o644),
            ("build.zig", build.as_bytes(), 0o644),
            ("src/root.zig", root.as_bytes(), 0o644),
            ("src/nested/deep.zig", deep.as_bytes(), 0o644),
            ("bin/tool.sh", b"#!/bin/sh\necho tool\n", 0o755),
            ("README.md", b"not in paths: not hashed\n", 0o644),
        ],
        &[("src/link.zig", "root.zig")],
    );
    let r = app
        .zig_publish(
            Some(&app.tokens.alice),
            "mathlib-0.3.0.tar.gz",
            archive,
            Some(&zon),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let published = r.json();
    let hash = published["hash"].as_str().unwrap().to_string();
    let url = published["tarballUrl"].as_str().unwrap().to_string();
    assert!(hash.starts_with("mathlib-0.3.0-"), "{hash}");

    // A consumer project; `zig fetch --save` must write our hash.
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let consumer_zon = format!(
        ".{{\n    .name = .consumer,\n    .version = \"0.0.1\",\n    .fingerprint = 0x{:x},\n    .paths = .{{\"\"}},\n}}\n",
        fingerprint("consumer", 0x0bad_cafe)
    );
    std::fs::write(p.join("build.zig.zon"), &consumer_zon).unwrap();
    std::fs::write(
        p.join("build.zig"),
        "pub fn build(b: *@import(\"std\").Build) void {\n    _ = b;\n}\n",
    )
    .unwrap();
    let (ok, _, out) = zig(&["fetch", "--save", &url], p).await;
    assert!(ok, "zig fetch --save failed:\n{out}");
    let saved = std::fs::read_to_string(p.join("build.zig.zon")).unwrap();
    assert!(
        saved.contains(&format!(".hash = \"{hash}\"")),
        "zig wrote another hash:\n{saved}\n(ours: {hash})"
    );

    // A project built from the returned dependency snippet runs code from the package.
    let app_dir = tempfile::tempdir().unwrap();
    let a = app_dir.path();
    let dependency = published["dependency"].as_str().unwrap();
    std::fs::write(
        a.join("build.zig.zon"),
        format!(
            ".{{\n    .name = .runner,\n    .version = \"0.0.1\",\n    .fingerprint = 0x{:x},\n    .dependencies = .{{\n        {dependency}\n    }},\n    .paths = .{{\"\"}},\n}}\n",
            fingerprint("runner", 0x00c0_ffee)
        ),
    )
    .unwrap();
    std::fs::create_dir_all(a.join("src")).unwrap();
    std::fs::write(
        a.join("src/main.zig"),
        "const std = @import(\"std\");\nconst mathlib = @import(\"mathlib\");\npub fn main() void {\n    std.debug.print(\"answer={d}\\n\", .{mathlib.answer()});\n}\n",
    )
    .unwrap();
    std::fs::write(
        a.join("build.zig"),
        "const std = @import(\"std\");\npub fn build(b: *std.Build) void {\n    const dep = b.dependency(\"mathlib\", .{});\n    const exe = b.addExecutable(.{\n        .name = \"runner\",\n        .root_module = b.createModule(.{\n            .root_source_file = b.path(\"src/main.zig\"),\n            .target = b.graph.host,\n            .imports = &.{.{ .name = \"mathlib\", .module = dep.module(\"mathlib\") }},\n        }),\n    });\n    const run = b.addRunArtifact(exe);\n    b.step(\"run\", \"Run it\").dependOn(&run.step);\n}\n",
    )
    .unwrap();
    let (ok, _, out) = zig(&["build", "run"], a).await;
    assert!(ok, "zig build run failed:\n{out}");
    assert!(out.contains("answer=42"), "{out}");
}

/// The same package in every archive format zig unpacks, each published as its own version.
fn archive_in(format: &str, top: &str, files: &[(String, Vec<u8>)]) -> (Vec<u8>, &'static str) {
    if format == "zip" {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (path, data) in files {
            zip.start_file(
                format!("{top}/{path}"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            std::io::Write::write_all(&mut zip, data).unwrap();
        }
        return (zip.finish().unwrap().into_inner(), "zip");
    }
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{top}/{path}"), data.as_slice())
            .unwrap();
    }
    let tar = builder.into_inner().unwrap();
    match format {
        "tar" => (tar, "tar"),
        "tar.zst" => (zstd::encode_all(tar.as_slice(), 3).unwrap(), "tar.zst"),
        "tar.xz" => {
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut liblzma::read::XzEncoder::new(tar.as_slice(), 6),
                &mut out,
            )
            .unwrap();
            (out, "tar.xz")
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zig_fetch_agrees_with_us_for_every_archive_format() {
    let app = TestApp::start().await;
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    std::fs::write(
        p.join("build.zig.zon"),
        format!(
            ".{{\n    .name = .formats,\n    .version = \"0.0.1\",\n    .fingerprint = 0x{:x},\n    .paths = .{{\"\"}},\n}}\n",
            fingerprint("formats", 0x0f0f_0f0f)
        ),
    )
    .unwrap();
    std::fs::write(
        p.join("build.zig"),
        "pub fn build(b: *@import(\"std\").Build) void {\n    _ = b;\n}\n",
    )
    .unwrap();
    for (i, format) in ["tar", "tar.zst", "tar.xz", "zip"].iter().enumerate() {
        let version = format!("1.0.{i}");
        let zon = format!(
            ".{{ .name = .multi, .version = \"{version}\", .fingerprint = 0x{:x}, .paths = .{{\"\"}} }}\n",
            fingerprint("multi", 0x0a0b_0c0d)
        );
        let files = vec![
            ("build.zig.zon".to_string(), zon.into_bytes()),
            (
                "src/a.zig".to_string(),
                format!("pub const v = \"{format}\";\n").into_bytes(),
            ),
            ("src/b/c.zig".to_string(), b"pub const c = 3;\n".to_vec()),
        ];
        let (bytes, ext) = archive_in(format, &format!("multi-{version}"), &files);
        let file = format!("multi-{version}.{ext}");
        let r = app
            .zig_publish(Some(&app.tokens.alice), &file, bytes, None)
            .await;
        assert_eq!(
            r.status,
            201,
            "{format}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let (hash, url) = (
            r.json()["hash"].as_str().unwrap().to_string(),
            r.json()["tarballUrl"].as_str().unwrap().to_string(),
        );
        let (ok, printed, out) = zig(&["fetch", &url], p).await;
        assert!(ok, "{format}: zig fetch failed:\n{out}");
        assert_eq!(printed.trim(), hash, "{format}: zig printed\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zig_0_15_prints_our_hashes_for_old_and_new_style_manifests() {
    let app = TestApp::start().await;
    let vectors = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zig-vectors");
    let dir = tempfile::tempdir().unwrap();
    for (file, field) in [
        ("legacy_pkg-0.1.0.tar.gz", "legacyHash"),
        ("plain_pkg-1.0.0.tar.gz", "hash"),
    ] {
        let bytes = std::fs::read(format!("{vectors}/{file}")).unwrap();
        let r = app
            .zig_publish(Some(&app.tokens.alice), file, bytes, None)
            .await;
        assert_eq!(r.status, 201, "{file}");
        let body = r.json();
        let url = body["tarballUrl"].as_str().unwrap();
        let (ok, printed, out) = zig_at(&tools().zig_015, &["fetch", url], dir.path()).await;
        assert!(ok, "{file}: zig 0.15 fetch failed:\n{out}");
        // For an old-style manifest zig 0.15 prints the new hash form with package id 0, which
        // the registry reports as `legacyHash` (its `hash` is the 1220 form older zig writes).
        assert_eq!(
            printed.trim(),
            body[field].as_str().unwrap(),
            "{file}: {out}"
        );
    }
}
