//! `build.zig.zon`, the Zig package manifest: a tokenizer and parser for ZON (the value subset of
//! Zig's expression syntax) and the manifest rules zig 0.17.1 applies when it fetches a package.
//!
//! This module owns the answer to "would zig accept this build.zig.zon, and what does it say?".
//! It follows zig's own two steps: `std.zig.Ast.parse` in ZON mode (any syntax error rejects the
//! file), then `Package.Manifest.parse`, which looks only at the fields it knows. Consequently:
//!
//! * Unknown fields are ignored but must parse. Their string escapes, number literals and
//!   character literals are not validated, because zig's parser does not validate them either.
//! * Each occurrence of a known field is validated and, for `.name`, `.version`, `.fingerprint`
//!   and `.minimum_zig_version`, the last one wins. Repeated `.paths` and `.dependencies` fields
//!   accumulate (zig adds them to the same map), and a repeated dependency name keeps its first
//!   position but takes the last value.
//! * Comments may not contain control characters (TAB included, as in zig 0.14+); `///` and `//!`
//!   doc comments are syntax errors in ZON; a `\r` in a comment or a `\\` line must precede `\n`.
//!
//! Old-style manifests (zig 0.12/0.13: the name is a string that is a valid identifier and there
//! is no fingerprint) are accepted and flagged [`Manifest::old_style`], as zig 0.14/0.15 accept
//! them. zig 0.16+ reject them with "expected enum literal".
//!
//! Known limits, all of which reject rather than accept: zig's parser accepts any Zig expression
//! as a value (operators, calls, field access, typed initializers `T{ ... }`, `if`, ...), while
//! this parser accepts only ZON values (anonymous structs and tuples, enum literals, string,
//! multiline string, number and character literals, identifiers, and prefix operators such as
//! `-`). Nesting deeper than [`MAX_DEPTH`] is rejected. A known string field whose escapes decode
//! to invalid UTF-8 is rejected because the manifest is exposed as Rust `String`s.
//!
//! Error positions are 1-based `line:column`, the column counted in bytes as zig counts it.
//!
//! The work is split as zig splits it: `tokenizer` and `parser` (the syntax step), `literals`
//! (decoding string and number literals), `checks` (single values: SemVer, hashes, paths, the
//! fingerprint's CRC) and `manifest` (the field rules of `Package.Manifest.parse`).

mod checks;
mod literals;
mod manifest;
mod parser;
mod tokenizer;

use manifest::Checker;
use parser::Parser;

/// zig refuses a build.zig.zon larger than this.
pub const MAX_MANIFEST_BYTES: usize = 10 * 1024 * 1024;
/// Maximum nesting of `.{ }` initializers; deeper input is rejected to bound recursion.
pub const MAX_DEPTH: usize = 256;

/// A parsed and validated build.zig.zon.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The enum-literal name (or the string name for old-style manifests).
    pub name: String,
    /// Verbatim.
    pub version: String,
    /// `None` only for old-style manifests (string name, no fingerprint).
    pub fingerprint: Option<u64>,
    pub minimum_zig_version: Option<String>,
    pub dependencies: Vec<Dependency>,
    /// Normalised like `std.fs.path.resolve` (`"./a/"` becomes `"a"`, `""` becomes `"."`),
    /// without duplicates, in first-seen order. `None` when the field is absent.
    pub paths: Option<Vec<String>>,
    /// Name given as a string literal and no fingerprint (0.12/0.13 style, accepted by 0.14/0.15).
    pub old_style: bool,
}

/// One entry of `.dependencies`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    pub name: String,
    pub url: Option<String>,
    pub path: Option<String>,
    pub hash: Option<String>,
    pub lazy: bool,
}

/// Why a build.zig.zon was rejected, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("build.zig.zon:{line}:{column}: {message}")]
pub struct ZonError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Manifest {
    /// The package id: the fingerprint's low 32 bits (0 for old-style manifests).
    pub fn package_id(&self) -> u32 {
        self.fingerprint.map_or(0, |fingerprint| fingerprint as u32)
    }
}

/// Parses and validates with zig 0.17's rules; old-style manifests (string name, no fingerprint)
/// are accepted and marked `old_style` (zig 0.14/0.15 accept them; 0.16+ do not).
pub fn parse_manifest(text: &str) -> Result<Manifest, ZonError> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(error_at(
            text,
            0,
            format!("file is larger than the maximum of {MAX_MANIFEST_BYTES} bytes"),
        ));
    }
    let root = Parser::new(text).root()?;
    Checker { src: text }.manifest(&root)
}

fn error_at(src: &str, offset: usize, message: impl Into<String>) -> ZonError {
    let before = src.as_bytes().get(..offset).unwrap_or(src.as_bytes());
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    ZonError {
        line,
        column: before.len() - line_start + 1,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const VECTORS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zig-vectors");

    /// A valid manifest for the package `.a` with `extra` appended inside the top-level struct.
    pub(super) fn with_fields(extra: &str) -> String {
        format!(
            ".{{ .name = .a, .version = \"1.0.0\", .fingerprint = 0xe8b7be4300001234, {extra} }}"
        )
    }

    pub(super) fn accepts(text: &str) -> bool {
        parse_manifest(text).is_ok()
    }

    #[test]
    fn zig_0_17_1_manifest_cases() {
        let path = format!("{VECTORS_DIR}/zon-manifest-cases.json");
        let json = std::fs::read_to_string(&path).expect("read zon-manifest-cases.json");
        let doc: serde_json::Value = serde_json::from_str(&json).expect("parse the cases");
        let cases = doc["cases"].as_array().expect("a cases array");
        let (mut accepted, mut rejected) = (0, 0);
        for case in cases {
            let name = case["case"].as_str().expect("case name");
            let text = case["build_zig_zon"].as_str().expect("build_zig_zon");
            let zig_accepts = case["zig_0_17_1_accepts"].as_bool().expect("verdict");
            let ours = parse_manifest(text);
            assert_eq!(
                ours.is_ok(),
                zig_accepts,
                "{name}: zig said {:?}, we said {ours:?}",
                case["error"]
            );
            if let Ok(manifest) = ours {
                assert!(!manifest.old_style, "{name}");
                accepted += 1;
            } else {
                rejected += 1;
            }
        }
        assert_eq!(accepted + rejected, cases.len());
        assert!(accepted > 0 && rejected > 0);
        eprintln!("{accepted} accepted and {rejected} rejected, as zig 0.17.1 does");
    }

    #[test]
    fn manifests_inside_the_vector_archives() {
        let path = format!("{VECTORS_DIR}/vectors.json");
        let json = std::fs::read_to_string(&path).expect("read vectors.json");
        let vectors: Vec<serde_json::Value> = serde_json::from_str(&json).expect("parse vectors");
        let mut checked = 0;
        for vector in &vectors {
            let file = vector["file"].as_str().expect("file");
            if !file.ends_with(".tar.gz") {
                continue;
            }
            let archive = std::fs::File::open(format!("{VECTORS_DIR}/{file}")).expect("open");
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(archive));
            // The package's own manifest is the shallowest build.zig.zon.
            let mut best: Option<(usize, String)> = None;
            for entry in archive.entries().expect("entries") {
                let mut entry = entry.expect("entry");
                let entry_path = entry.path().expect("path").to_string_lossy().into_owned();
                let entry_path = entry_path.trim_start_matches("./").to_string();
                if entry_path.rsplit('/').next() != Some("build.zig.zon") {
                    continue;
                }
                let depth = entry_path.matches('/').count();
                if best.as_ref().is_none_or(|(d, _)| depth < *d) {
                    let mut text = String::new();
                    entry.read_to_string(&mut text).expect("read manifest");
                    best = Some((depth, text));
                }
            }
            let expected_name = vector["name"].as_str();
            let expect_error = vector["expect_error"].as_str().unwrap_or("");
            let Some((_, text)) = best else {
                assert!(expected_name.is_none(), "{file}: no build.zig.zon");
                continue;
            };
            let parsed = parse_manifest(&text);
            if expect_error.starts_with("invalid fingerprint") {
                assert!(parsed.is_err(), "{file}");
            } else {
                let manifest = parsed.unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(Some(manifest.name.as_str()), expected_name, "{file}");
                assert_eq!(
                    Some(manifest.version.as_str()),
                    vector["version"].as_str(),
                    "{file}"
                );
                assert_eq!(
                    Some(u64::from(manifest.package_id())),
                    vector["package_id"].as_u64(),
                    "{file}"
                );
                // zig 0.16+ refuse the old-style one with "expected enum literal".
                assert_eq!(manifest.old_style, expect_error == "expected enum literal");
                assert_eq!(
                    manifest.paths.is_none(),
                    expect_error.contains("missing top-level 'paths'"),
                    "{file}"
                );
            }
            checked += 1;
        }
        assert!(checked >= 8, "only {checked} archives checked");
    }

    #[test]
    fn errors_carry_line_and_column() {
        let text = ".{\n    .name = .a,\n    .version = \"1.0\",\n}\n";
        let err = parse_manifest(text).expect_err("bad version");
        assert_eq!((err.line, err.column), (3, 16));
        assert_eq!(
            err.message,
            "unable to parse semantic version: InvalidVersion"
        );
        assert_eq!(
            err.to_string(),
            "build.zig.zon:3:16: unable to parse semantic version: InvalidVersion"
        );

        let err = parse_manifest(".{\n  // a\tcomment\n}").expect_err("tab in comment");
        assert_eq!((err.line, err.column), (2, 7));
        assert!(err.message.contains("'\\t'"), "{}", err.message);

        // Like zig, columns count bytes, including a leading BOM.
        let err = parse_manifest("\u{feff}.{ .name = .fn }").expect_err("keyword");
        assert_eq!((err.line, err.column), (1, 15));
        assert_eq!(err.message, "expected expression, found '.'");

        let err = parse_manifest(".{ .name = .a, .version = \"1.0.0\" } .{}").expect_err("garbage");
        assert_eq!((err.line, err.column), (1, 37));

        // Semantic errors about the whole manifest point at its `{`.
        let err = parse_manifest("\n\n  .{ .version = \"1.0.0\" }").expect_err("no name");
        assert_eq!((err.line, err.column), (3, 4));
        assert_eq!(err.message, "missing top-level 'name' field");
    }
}
