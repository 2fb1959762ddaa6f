//! The seed registry's storage: `.registry/metadata.json`, one JSON object keyed by package
//! name (each a `PackageRecord`: descriptive fields, `versions` with `checksum:
//! "sha256:<hex>"` and `publishedAt`, `latestVersion`), and the tarballs at
//! `.registry/tarballs/packages/{safe}/{version}/{safe}-{version}.tgz`, where `safe` is the
//! name with its first `@` removed and its first `/` turned into `-`. The seed stored no
//! dependencies and no owners: the manifest comes from each tarball's package.json.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Expected, ImportError, Listing, Skip, SourcePackage, SourceVersion};
use crate::core::names::{PackageName, parse_version};

/// The seed's package-level fields that describe a package (they fill gaps in a tarball's
/// package.json).
const DESCRIPTIVE: &[&str] = &[
    "description",
    "repository",
    "homepage",
    "license",
    "author",
    "keywords",
];

/// The largest `metadata.json` read (the seed keeps every package in it, and in memory).
const METADATA_CAP: super::Cap = super::Cap {
    bytes: 1 << 30,
    named: "the largest metadata.json read",
};

/// The `.registry` folder: `dir` itself, or `dir/.registry`.
fn registry_dir(dir: &Path) -> Result<PathBuf, ImportError> {
    let real = super::real_dir(dir)?;
    if real.join("metadata.json").is_file() {
        return Ok(real);
    }
    let inner = real.join(".registry");
    if inner.join("metadata.json").is_file() {
        return super::real_dir(&inner);
    }
    Err(ImportError::Source(format!(
        "{} holds no seed data: expected metadata.json in it or in its .registry folder",
        dir.display()
    )))
}

/// Lists what the seed's data directory `dir` holds; the `.registry` folder read.
pub fn read(dir: &Path, max_name: usize) -> Result<(PathBuf, Listing), ImportError> {
    let root = registry_dir(dir)?;
    let text = super::read_inside(&root, Path::new("metadata.json"), METADATA_CAP)
        .map_err(|e| ImportError::Source(format!("cannot read the seed's metadata: {e}")))?;
    let doc: Map<String, Value> = serde_json::from_slice(&text).map_err(|e| {
        ImportError::Source(format!(
            "{} is not the seed's metadata (one JSON object keyed by package name): {e}",
            root.join("metadata.json").display()
        ))
    })?;
    let mut listing = Listing::default();
    for (key, record) in &doc {
        match package(key, record, max_name, &mut listing.skipped) {
            Ok(p) => listing.packages.push(p),
            Err(reason) => listing.skipped.push(Skip::failed(key.as_str(), reason)),
        }
    }
    Ok((root, listing))
}

/// One `metadata.json` entry; skips of single versions go to `skipped`.
fn package(
    key: &str,
    record: &Value,
    max_name: usize,
    skipped: &mut Vec<Skip>,
) -> Result<SourcePackage, String> {
    let name = PackageName::parse(key, max_name).map_err(|e| e.to_string())?;
    let record = record
        .as_object()
        .ok_or("its metadata.json entry is not an object")?;
    if let Some(named) = record.get("name")
        && named.as_str() != Some(key)
    {
        return Err(format!(
            "its metadata.json entry names another package: {named}"
        ));
    }
    let versions = record
        .get("versions")
        .and_then(Value::as_object)
        .ok_or("its metadata.json entry has no versions object")?;
    let safe = key.replacen('@', "", 1).replacen('/', "-", 1);
    let mut out = Vec::new();
    for (number, entry) in versions {
        let target = format!("{key}@{number}");
        match version(&safe, number, entry) {
            Ok(v) => out.push(v),
            Err(reason) => skipped.push(Skip::failed(target, reason)),
        }
    }
    let mut dist_tags = BTreeMap::new();
    if let Some(latest) = record.get("latestVersion").and_then(Value::as_str) {
        dist_tags.insert("latest".to_string(), latest.to_string());
    }
    let metadata = DESCRIPTIVE
        .iter()
        .filter_map(|field| {
            let value = record.get(*field)?;
            let kept = match value {
                Value::String(s) => !s.is_empty(),
                Value::Array(items) => items.iter().all(Value::is_string),
                _ => false,
            };
            kept.then(|| (field.to_string(), value.clone()))
        })
        .collect();
    Ok(SourcePackage {
        name,
        versions: out,
        dist_tags,
        owners: Vec::new(),
        metadata,
    })
}

/// One version entry of a package whose safe file name is `safe`.
fn version(safe: &str, number: &str, entry: &Value) -> Result<SourceVersion, String> {
    let version = parse_version(number).map_err(|e| e.to_string())?;
    if version.to_string() != number {
        return Err(format!(
            "version {number:?} is not in semver's canonical form ({version})"
        ));
    }
    if let Some(recorded) = entry.get("version")
        && recorded.as_str() != Some(number)
    {
        return Err(format!("its entry names another version: {recorded}"));
    }
    let checksum = entry.get("checksum").and_then(Value::as_str).unwrap_or("");
    let hex_digest = checksum
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| format!("no sha256 checksum recorded (checksum: {checksum:?})"))?;
    let published_at = match entry.get("publishedAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(at)) => Some(
            crate::core::timestamps::parse(at)
                .map_err(|_| format!("publishedAt {at:?} is not a time"))?,
        ),
        Some(other) => return Err(format!("publishedAt {other} is not a time")),
    };
    let file = format!("{safe}-{number}.tgz");
    Ok(SourceVersion {
        tarball: ["tarballs", "packages", safe, number, &file]
            .iter()
            .collect(),
        version,
        expected: Expected::Sha256(hex_digest.to_ascii_lowercase()),
        published_at,
        deprecated: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_seed_layout() {
        let dir = tempfile::tempdir().unwrap();
        let reg = dir.path().join(".registry");
        std::fs::create_dir(&reg).unwrap();
        let doc = serde_json::json!({
            "@s/p": {"name": "@s/p", "description": "d", "keywords": ["k"], "latestVersion": "1.0.0",
                "versions": {
                    "1.0.0": {"version": "1.0.0", "checksum": format!("sha256:{}", "a".repeat(64)),
                              "publishedAt": "2024-01-02T03:04:05.678Z", "size": 0},
                    "v2": {"version": "v2", "checksum": "sha256:00", "publishedAt": "x", "size": 0},
                    "2.0.0": {"version": "2.0.0", "checksum": "sha1:ab", "size": 0}
                }},
            "Bad Name": {"versions": {}},
            "other": {"name": "else", "versions": {}}
        });
        std::fs::write(reg.join("metadata.json"), doc.to_string()).unwrap();
        for given in [dir.path().to_path_buf(), reg.clone()] {
            let (root, listing) = read(&given, 214).unwrap();
            assert!(root.ends_with(".registry"));
            assert_eq!(listing.packages.len(), 1);
            let p = &listing.packages[0];
            assert_eq!(p.versions.len(), 1);
            assert_eq!(
                p.versions[0].tarball,
                Path::new("tarballs/packages/s-p/1.0.0/s-p-1.0.0.tgz")
            );
            assert_eq!(p.dist_tags["latest"], "1.0.0");
            assert_eq!(p.metadata["description"], "d");
            let mut skipped: Vec<&str> =
                listing.skipped.iter().map(|s| s.target.as_str()).collect();
            skipped.sort();
            assert_eq!(skipped, ["@s/p@2.0.0", "@s/p@v2", "Bad Name", "other"]);
        }
        assert!(read(&dir.path().join("none"), 214).is_err());
        let empty = tempfile::tempdir().unwrap();
        assert!(read(empty.path(), 214).is_err());
    }
}
