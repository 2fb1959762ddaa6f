//! Property-based fuzzing of every parser that sees user bytes, on the stable toolchain
//! (`cargo fuzz` needs nightly, which cannot be installed here). Each property runs a bounded
//! number of cases per `cargo test`, from inputs seeded with the fixtures (real build.zig.zon
//! edge cases, real npm tarballs from the corpus, the Zig hash vectors' archives) and mutated
//! byte by byte, so the shapes attackers start from are covered, not only random noise.
//!
//! What must hold: no parser panics, hangs or allocates past its limits, whatever the bytes;
//! what a parser accepts is valid by its own rules. A failure here is a bug: proptest shrinks
//! it and records its seed in `tests/proptest-regressions/`, which is committed, so every later
//! run replays it first (the regression test), and a test of the fixed behaviour goes beside
//! the parser.

use crate::common;

use pantry_registry::archive::{self, Codec};
use pantry_registry::core::names::{PackageName, parse_version};
use pantry_registry::zig::zon;
use proptest::prelude::*;
use std::io::Read;

const ZON_CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/zig-vectors/zon-manifest-cases.json"
);

fn zon_seeds() -> Vec<String> {
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ZON_CASES).unwrap()).unwrap();
    cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["build_zig_zon"].as_str().unwrap().to_string())
        .collect()
}

/// Real npm tarballs from the recorded corpus.
fn tarball_seeds() -> Vec<Vec<u8>> {
    let dir = common::corpus::corpus_dir().join("tarballs");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .take(8)
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// Zig archives of every format zig reads.
fn archive_seeds() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zig-vectors");
    [
        "plain_pkg-1.0.0.tar",
        "plain_pkg-1.0.0.tar.gz",
        "plain_pkg-1.0.0.tar.xz",
        "plain_pkg-1.0.0.tar.zst",
        "plain_pkg-1.0.0.zip",
        "exec_link-0.3.1.tar.gz",
    ]
    .iter()
    .map(|f| std::fs::read(format!("{dir}/{f}")).unwrap())
    .collect()
}

/// A byte-level mutation of `seed`: some positions overwritten, a cut, an insertion.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (
        0..seeds.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        prop::option::of(any::<prop::sample::Index>()),
        prop::collection::vec(any::<u8>(), 0..16),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(i, flips, cut, insert, at)| {
            let mut bytes = seeds[i].clone();
            if bytes.is_empty() {
                return insert;
            }
            for (pos, b) in flips {
                let p = pos.index(bytes.len());
                bytes[p] = b;
            }
            let at = at.index(bytes.len());
            bytes.splice(at..at, insert);
            if let Some(c) = cut {
                bytes.truncate(c.index(bytes.len()).max(1));
            }
            bytes
        })
}

fn limits() -> archive::Limits {
    archive::Limits {
        max_unpacked_bytes: 4 << 20,
        max_entries: 1000,
        max_header_bytes: 4096,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn package_names_never_panic_and_accepted_ones_are_url_safe(name in "\\PC{0,40}|@[a-z0-9._-]{0,10}/[a-zA-Z0-9._~%-]{0,12}") {
        if let Ok(parsed) = PackageName::parse(&name, 214) {
            let s = parsed.as_str();
            prop_assert!(s.len() <= 214);
            prop_assert!(!s.contains(".."));
            prop_assert!(s.bytes().all(|b| b.is_ascii_graphic()));
            prop_assert_eq!(s.to_lowercase(), s);
        }
        let _ = PackageName::parse_legacy(&name, 214);
    }

    #[test]
    fn versions_never_panic_and_accepted_ones_are_readable_by_npm(
        text in "[0-9]{1,25}\\.[0-9]{1,25}\\.[0-9]{1,25}(-[0-9A-Za-z.-]{0,12})?(\\+[0-9A-Za-z.]{0,6})?|\\PC{0,30}"
    ) {
        if let Ok(v) = parse_version(&text) {
            let max = (1u64 << 53) - 1;
            prop_assert!(v.major <= max && v.minor <= max && v.patch <= max);
            prop_assert!(v.build.is_empty());
            prop_assert!(text.len() <= 256);
        }
    }

    #[test]
    fn the_zon_parser_never_panics_on_mutated_manifests(bytes in mutated(zon_seeds().into_iter().map(String::into_bytes).collect())) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = zon::parse_manifest(&text);
    }

    #[test]
    fn npm_tarball_inspection_never_panics_and_stays_in_its_limits(bytes in mutated(tarball_seeds())) {
        let mut l = pantry_registry::Settings::default().limits;
        l.max_unpacked_bytes = 4 << 20;
        l.max_tarball_entries = 1000;
        if let Ok(t) = pantry_registry::core::tarball::inspect(&bytes, &l) {
            prop_assert!(t.info.unpacked_size <= l.max_unpacked_bytes);
            prop_assert!(t.info.file_count <= l.max_tarball_entries);
        }
    }

    #[test]
    fn zig_unpacking_never_panics_and_stays_in_its_limits(bytes in mutated(archive_seeds())) {
        if let Ok(h) = pantry_registry::zig::hash::hash_archive(&bytes, limits(), false) {
            let total: usize = h.unpacked.entries.values().map(|e| match e {
                pantry_registry::zig::hash::Entry::File(b) => b.len(),
                pantry_registry::zig::hash::Entry::Symlink(t) => t.len(),
            }).sum();
            prop_assert!(total as u64 <= limits().max_unpacked_bytes);
        }
    }

    #[test]
    fn the_tar_guard_never_lets_a_stream_past_its_limits(bytes in mutated(archive_seeds()), codec in 0..4u8) {
        let codec = [Codec::None, Codec::Gzip, Codec::Xz, Codec::Zstd][codec as usize];
        if let Ok(d) = archive::decoder(&bytes, codec, &limits()) {
            let mut guarded = archive::TarGuard::new(d, limits());
            let mut out = Vec::new();
            let _ = (&mut guarded).take(64 << 20).read_to_end(&mut out);
            prop_assert!(out.len() as u64 <= limits().stream_bytes());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn dist_tags_never_panic_and_accepted_ones_cannot_be_read_as_versions(tag in "\\PC{0,20}|[~^>=<v]{0,2}[0-9x*.]{0,8}") {
        if pantry_registry::core::publish::validate_tag(&tag).is_ok() {
            prop_assert!(semver::VersionReq::parse(&tag).is_err(), "{tag} reads as a range");
            prop_assert!(!tag.is_empty());
        }
    }
}

/// Runs `cases` requests made by `strategy` against one registry, each with `send`; every
/// answer must be a documented kind (never 5xx, a JSON error for every refusal), and the
/// registry must be healthy at the end.
fn fuzz_over_http<S: Strategy>(
    cases: u32,
    strategy: S,
    send: impl Fn(
        &common::TestApp,
        S::Value,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = reqwest::Response> + '_>>,
) where
    S::Value: std::fmt::Debug,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(common::TestApp::start());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&strategy, |input| {
        let (status, body) = rt.block_on(async {
            let r = send(&app, input).await;
            (r.status().as_u16(), r.bytes().await.unwrap_or_default())
        });
        prop_assert!(status < 500, "{status}: {}", String::from_utf8_lossy(&body));
        if status >= 400 {
            let parsed: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| TestCaseError::fail(format!("{status} without a JSON body ({e})")))?;
            prop_assert!(parsed["error"].is_string(), "{parsed}");
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    rt.block_on(async {
        assert_eq!(app.get("/health").await.status, 200);
    });
}

/// npm publish documents as npm sends them, for real tarballs from the corpus.
fn publish_document_seeds() -> Vec<serde_json::Value> {
    tarball_seeds()
        .into_iter()
        .take(4)
        .enumerate()
        .map(|(i, tgz)| common::npm_publish_doc("fuzzed", &format!("1.0.{i}"), "latest", &tgz))
        .collect()
}

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        "\\PC{0,24}".prop_map(serde_json::Value::from),
        Just(serde_json::json!("99999999999999999999.0.0")),
        Just(serde_json::json!("../../etc/passwd")),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path to a value in `doc`, as JSON pointers.
fn pointers(doc: &serde_json::Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match doc {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                pointers(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn npm_publish_documents_with_any_field_replaced_get_a_clear_answer() {
    let seeds = publish_document_seeds();
    let strategy = (
        0..seeds.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any_json()), 1..4),
    )
        .prop_map(move |(i, replacements)| {
            let mut doc = seeds[i].clone();
            for (at, value) in replacements {
                let mut all = Vec::new();
                pointers(&doc, String::new(), &mut all);
                let pointer = &all[at.index(all.len())];
                if pointer.is_empty() {
                    doc = value;
                } else if let Some(slot) = doc.pointer_mut(pointer) {
                    *slot = value;
                }
            }
            doc
        });
    fuzz_over_http(256, strategy, |app, doc| {
        Box::pin(async move {
            app.client
                .put(format!("{}/npm/fuzzed", app.url))
                .bearer_auth(&app.tokens.alice)
                .json(&doc)
                .send()
                .await
                .unwrap()
        })
    });
}

#[test]
fn byte_mutated_npm_publish_documents_get_a_clear_answer() {
    let seeds = publish_document_seeds()
        .into_iter()
        .map(|d| serde_json::to_vec(&d).unwrap())
        .collect();
    fuzz_over_http(256, mutated(seeds), |app, bytes| {
        Box::pin(async move {
            app.client
                .put(format!("{}/npm/fuzzed", app.url))
                .bearer_auth(&app.tokens.alice)
                .header("content-type", "application/json")
                .body(bytes)
                .send()
                .await
                .unwrap()
        })
    });
}

const BOUNDARY: &str = "fuzzboundary0123456789";

/// A multipart body with these fields, as curl and the Pantry CLI send it.
fn multipart(fields: &[(&str, Option<&str>, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, data) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if let Some(f) = file {
            body.extend_from_slice(
                format!("; filename=\"{f}\"\r\nContent-Type: application/octet-stream").as_bytes(),
            );
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

#[test]
fn byte_mutated_multipart_publishes_get_a_clear_answer() {
    let pantry: Vec<Vec<u8>> = tarball_seeds()
        .into_iter()
        .take(3)
        .map(|tgz| {
            let meta = br#"{"name":"fuzzed","version":"1.0.0","description":"d"}"#.to_vec();
            multipart(&[
                ("metadata", None, meta),
                ("tarball", Some("fuzzed-1.0.0.tgz"), tgz),
            ])
        })
        .collect();
    let zig: Vec<Vec<u8>> = archive_seeds()
        .into_iter()
        .map(|archive| multipart(&[("tarball", Some("plain_pkg-1.0.0.tar.gz"), archive)]))
        .collect();
    let strategy = prop_oneof![
        mutated(pantry).prop_map(|b| ("/publish", b)),
        mutated(zig).prop_map(|b| ("/zig/publish", b)),
    ];
    fuzz_over_http(256, strategy, |app, (path, bytes)| {
        Box::pin(async move {
            app.client
                .post(format!("{}{path}", app.url))
                .bearer_auth(&app.tokens.alice)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(bytes)
                .send()
                .await
                .unwrap()
        })
    });
}
