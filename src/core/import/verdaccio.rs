//! A Verdaccio storage directory (its `storage:` setting): `<name>/package.json` and
//! `@scope/<name>/package.json`, each the package's document as Verdaccio keeps it, with the
//! tarballs beside it (`<name>-<version>.tgz`; for a scoped package the name without its
//! scope). Only what was published to Verdaccio is imported: a version whose tarball Verdaccio
//! fetched from an uplink (`_distfiles` names it, or it has no `_attachments` entry while the
//! package has `_uplinks`) is a copy of someone else's package. `.verdaccio-db.json` and
//! `htpasswd` are not read: Verdaccio's password hashes are not ours to use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Expected, ImportError, Listing, Owner, Skip, SkipKind, SourcePackage, SourceVersion};
use crate::core::names::{PackageName, Version, parse_version};

/// The largest `package.json` read (Verdaccio keeps every version's manifest, and readmes, in
/// it).
const DOCUMENT_CAP: super::Cap = super::Cap {
    bytes: 64 << 20,
    named: "the largest package.json read",
};

const NOT_LOCAL: &str = "cached from an uplink, not published to Verdaccio";

/// Lists what the Verdaccio storage directory `dir` holds.
pub fn read(dir: &Path, max_name: usize) -> Result<(PathBuf, Listing), ImportError> {
    let root = super::real_dir(dir)?;
    let mut names = Vec::new();
    let entries = |path: &Path| -> Result<Vec<(String, bool)>, ImportError> {
        let mut found = Vec::new();
        let list = std::fs::read_dir(path)
            .map_err(|e| ImportError::Source(format!("cannot list {}: {e}", path.display())))?;
        for entry in list {
            let entry = entry
                .map_err(|e| ImportError::Source(format!("cannot list {}: {e}", path.display())))?;
            let is_dir = entry.path().is_dir();
            found.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
        }
        found.sort();
        Ok(found)
    };
    for (entry, is_dir) in entries(&root)? {
        // Verdaccio's own files (`.verdaccio-db.json`, `htpasswd`…) are not packages.
        if !is_dir || entry.starts_with('.') {
            continue;
        }
        if entry.starts_with('@') {
            for (inner, inner_dir) in entries(&root.join(&entry))? {
                if inner_dir && !inner.starts_with('.') {
                    names.push(format!("{entry}/{inner}"));
                }
            }
        } else {
            names.push(entry);
        }
    }
    let mut listing = Listing::default();
    if names.is_empty() {
        return Err(ImportError::Source(format!(
            "{} holds no Verdaccio packages (no <name>/package.json folders); give the \
             directory Verdaccio's `storage:` setting names",
            dir.display()
        )));
    }
    for folder in names {
        match package(&root, &folder, max_name) {
            Ok((Some(p), skipped)) => {
                listing.packages.push(p);
                listing.skipped.extend(skipped);
            }
            Ok((None, skipped)) => listing.skipped.extend(skipped),
            Err(reason) => listing.skipped.push(Skip::failed(folder.as_str(), reason)),
        }
    }
    Ok((root, listing))
}

/// A file name Verdaccio could have written beside the package.json: one plain `.tgz` name.
fn safe_file_name(name: &str) -> bool {
    name.ends_with(".tgz")
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.len() <= 255
}

/// The people a `maintainers` list (or one `_npmUser`) names: `{name, email}` objects or npm's
/// `"name <email>"` strings.
fn people(value: Option<&Value>) -> Vec<Owner> {
    let one = |v: &Value| -> Option<Owner> {
        match v {
            Value::Object(m) => Some(Owner {
                name: m.get("name")?.as_str()?.to_string(),
                email: m.get("email").and_then(Value::as_str).map(str::to_string),
            }),
            Value::String(s) => {
                let (name, rest) = s.split_once('<').unwrap_or((s, ""));
                Some(Owner {
                    name: name.trim().to_string(),
                    email: rest
                        .split_once('>')
                        .map(|(e, _)| e.trim().to_string())
                        .filter(|e| !e.is_empty()),
                })
            }
            _ => None,
        }
    };
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(one).collect(),
        Some(v @ Value::Object(_)) => one(v).into_iter().collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|o| !o.name.is_empty())
    .collect()
}

/// One package folder: the package (`None` when nothing in it is Verdaccio's own) and the
/// versions skipped.
#[allow(clippy::type_complexity)]
fn package(
    root: &Path,
    folder: &str,
    max_name: usize,
) -> Result<(Option<SourcePackage>, Vec<Skip>), String> {
    let name = PackageName::parse(folder, max_name).map_err(|e| e.to_string())?;
    let rel: PathBuf = [folder, "package.json"].iter().collect();
    let text = super::read_inside(root, &rel, DOCUMENT_CAP)?;
    let doc: Map<String, Value> = serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not a package document: {e}", rel.display()))?;
    if doc.get("name").and_then(Value::as_str) != Some(folder) {
        return Err(format!(
            "{} names another package: {}",
            rel.display(),
            doc.get("name").unwrap_or(&Value::Null)
        ));
    }
    let object = |key: &str| doc.get(key).and_then(Value::as_object);
    let empty = Map::new();
    let attachments = object("_attachments").unwrap_or(&empty);
    let distfiles = object("_distfiles").unwrap_or(&empty);
    let has_uplinks = object("_uplinks").is_some_and(|u| !u.is_empty());
    let times = object("time").unwrap_or(&empty);
    let versions = object("versions").ok_or("its package.json has no versions object")?;

    let mut skipped = Vec::new();
    let mut local = Vec::new();
    let mut not_local = 0;
    let mut owners = people(doc.get("maintainers"));
    for (number, manifest) in versions {
        let target = format!("{folder}@{number}");
        let version = match parse_version(number) {
            Ok(v) if v.to_string() == *number => v,
            Ok(v) => {
                skipped.push(Skip::failed(
                    target,
                    format!("version {number:?} is not in semver's canonical form ({v})"),
                ));
                continue;
            }
            Err(e) => {
                skipped.push(Skip::failed(target, e.to_string()));
                continue;
            }
        };
        let Some(file) = tarball_file(&name, &version, manifest, attachments) else {
            skipped.push(Skip::failed(
                target,
                "its tarball has no usable file name in package.json",
            ));
            continue;
        };
        if distfiles.contains_key(&file) || (!attachments.contains_key(&file) && has_uplinks) {
            not_local += 1;
            skipped.push(Skip {
                target,
                kind: SkipKind::NotLocal,
                reason: NOT_LOCAL.into(),
            });
            continue;
        }
        let dist = manifest.get("dist");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let published_at = match times.get(number.as_str()).and_then(Value::as_str) {
            None => None,
            Some(at) => match crate::core::timestamps::parse(at) {
                Ok(t) => Some(t),
                Err(_) => {
                    skipped.push(Skip::failed(
                        target,
                        format!("its publish time {at:?} is not a time"),
                    ));
                    continue;
                }
            },
        };
        for owner in people(manifest.get("maintainers"))
            .into_iter()
            .chain(people(manifest.get("_npmUser")))
        {
            if !owners.iter().any(|o| o.name == owner.name) {
                owners.push(owner);
            }
        }
        local.push(SourceVersion {
            tarball: [folder, file.as_str()].iter().collect(),
            expected: Expected::Npm {
                integrity: text(dist.and_then(|d| d.get("integrity"))),
                shasum: text(dist.and_then(|d| d.get("shasum"))),
            },
            published_at,
            deprecated: text(manifest.get("deprecated")).filter(|m| !m.is_empty()),
            version,
        });
    }
    if local.is_empty() && not_local > 0 && not_local == versions.len() {
        // A whole copy of an uplink's package: one line, not one per version.
        return Ok((
            None,
            vec![Skip {
                target: folder.to_string(),
                kind: SkipKind::NotLocal,
                reason: NOT_LOCAL.into(),
            }],
        ));
    }
    let dist_tags: BTreeMap<String, String> = object("dist-tags")
        .map(|tags| {
            tags.iter()
                .filter_map(|(tag, v)| Some((tag.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let mut metadata = Map::new();
    if let Some(readme) = doc
        .get("readme")
        .filter(|r| r.as_str().is_some_and(|r| !r.is_empty()))
    {
        metadata.insert("readme".into(), readme.clone());
    }
    Ok((
        Some(SourcePackage {
            name,
            versions: local,
            dist_tags,
            owners,
            metadata,
        }),
        skipped,
    ))
}

/// The tarball's file name beside the package.json: the `_attachments` entry Verdaccio made for
/// this version, else the last segment of `dist.tarball`, else Verdaccio's own rule
/// (`<name without scope>-<version>.tgz`); only a plain `.tgz` file name is used.
fn tarball_file(
    name: &PackageName,
    version: &Version,
    manifest: &Value,
    attachments: &Map<String, Value>,
) -> Option<String> {
    let number = version.to_string();
    let attached = attachments
        .iter()
        .find(|(_, a)| a.get("version").and_then(Value::as_str) == Some(number.as_str()))
        .map(|(file, _)| file.clone());
    let from_url = manifest
        .get("dist")
        .and_then(|d| d.get("tarball"))
        .and_then(Value::as_str)
        .and_then(|url| url.split(['?', '#']).next())
        .and_then(|url| url.rsplit('/').next())
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8_lossy()
                .into_owned()
        });
    let by_rule = format!("{}-{number}.tgz", name.bare());
    [attached, from_url, Some(by_rule)]
        .into_iter()
        .flatten()
        .find(|f| safe_file_name(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_people() {
        assert!(safe_file_name("a-1.0.0.tgz"));
        for bad in ["../a.tgz", "a/b.tgz", ".tgz", "a.tar", "a\\b.tgz"] {
            assert!(!safe_file_name(bad), "{bad}");
        }
        let owners = people(Some(&serde_json::json!([
            {"name": "alice", "email": "a@example.com"}, "bob <bob@example.com>", 3, {"email": "x"}
        ])));
        assert_eq!(owners.len(), 2);
        assert_eq!(owners[1].name, "bob");
        assert_eq!(owners[1].email.as_deref(), Some("bob@example.com"));
        let name = PackageName::parse("@s/p", 214).unwrap();
        let v = parse_version("1.0.0").unwrap();
        let hostile = serde_json::json!({"dist": {"tarball": "http://x/@s/p/-/..%2F..%2Fetc.tgz"}});
        assert_eq!(
            tarball_file(&name, &v, &hostile, &Map::new()).as_deref(),
            Some("p-1.0.0.tgz")
        );
    }

    #[test]
    fn reads_local_packages_only_and_never_leaves_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |folder: &str, doc: serde_json::Value| {
            std::fs::create_dir_all(root.join(folder)).unwrap();
            std::fs::write(root.join(folder).join("package.json"), doc.to_string()).unwrap();
        };
        let version = |name: &str, v: &str| {
            serde_json::json!({"name": name, "version": v, "dist": {"shasum": "00"},
                "maintainers": [{"name": "alice", "email": "a@example.com"}]})
        };
        write(
            "@s/good",
            serde_json::json!({"name": "@s/good", "versions": {"1.0.0": version("@s/good", "1.0.0"),
                "2.0.0": version("@s/good", "2.0.0")},
                "time": {"1.0.0": "2024-01-01T00:00:00.000Z"}, "dist-tags": {"latest": "1.0.0"},
                "_attachments": {"good-1.0.0.tgz": {"version": "1.0.0"}},
                "_distfiles": {"good-2.0.0.tgz": {"url": "http://up/good-2.0.0.tgz"}},
                "_uplinks": {"up": {}}}),
        );
        write(
            "cached",
            serde_json::json!({"name": "cached", "versions": {"1.0.0": version("cached", "1.0.0")},
                "_attachments": {"cached-1.0.0.tgz": {"shasum": "00"}},
                "_distfiles": {"cached-1.0.0.tgz": {"url": "http://up/cached-1.0.0.tgz"}},
                "_uplinks": {"up": {}}}),
        );
        write(
            "renamed",
            serde_json::json!({"name": "other", "versions": {}}),
        );
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(
            outside.path().join("package.json"),
            serde_json::json!({"name": "evil", "versions": {}}).to_string(),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("evil")).unwrap();
        std::fs::write(root.join(".verdaccio-db.json"), "{}").unwrap();
        std::fs::write(root.join("htpasswd"), "alice:x").unwrap();

        let (_, listing) = read(root, 214).unwrap();
        assert_eq!(listing.packages.len(), 1);
        let good = &listing.packages[0];
        assert_eq!(good.name.as_str(), "@s/good");
        assert_eq!(good.versions.len(), 1);
        assert_eq!(
            good.versions[0].tarball,
            Path::new("@s/good/good-1.0.0.tgz")
        );
        assert!(good.versions[0].published_at.is_some());
        assert_eq!(good.owners[0].name, "alice");
        let skipped: Vec<(&str, SkipKind)> = listing
            .skipped
            .iter()
            .map(|s| (s.target.as_str(), s.kind))
            .collect();
        assert!(
            skipped.contains(&("@s/good@2.0.0", SkipKind::NotLocal)),
            "{skipped:?}"
        );
        assert!(
            skipped.contains(&("cached", SkipKind::NotLocal)),
            "{skipped:?}"
        );
        assert!(
            skipped.contains(&("renamed", SkipKind::Failed)),
            "{skipped:?}"
        );
        let evil = listing.skipped.iter().find(|s| s.target == "evil").unwrap();
        assert!(evil.reason.contains("outside"), "{}", evil.reason);
        assert_eq!(listing.skipped.len(), 4, "{skipped:?}");

        let empty = tempfile::tempdir().unwrap();
        assert!(read(empty.path(), 214).is_err());
    }
}
