//! The manifest rules (`Package.Manifest.parse`): walks the syntax tree, validates every
//! occurrence of each known field (`name`, `version`, `fingerprint`, `minimum_zig_version`,
//! `paths`, `dependencies`), ignores unknown fields, and builds the `Manifest`.

use std::collections::{HashMap, HashSet};

use super::checks::{check_dependency_hash, check_semver, crc32, is_valid_id, resolve_posix};
use super::literals::{
    NumberLiteral, decode_string_literal, identifier_bytes, parse_number_literal,
};
use super::parser::{FieldInit, Kind, Node};
use super::{Dependency, Manifest, ZonError, error_at};

const MAX_NAME_LEN: usize = 32;
const MAX_VERSION_LEN: usize = 32;

pub(super) struct Checker<'a> {
    pub(super) src: &'a str,
}

/// The `.name` field as given.
struct Name {
    value: String,
    as_string: bool,
    pos: usize,
}

impl Checker<'_> {
    fn error(&self, offset: usize, message: impl Into<String>) -> ZonError {
        error_at(self.src, offset, message)
    }

    fn field_name(&self, field: &FieldInit<'_>) -> Result<Vec<u8>, ZonError> {
        identifier_bytes(field.name).map_err(|message| self.error(field.name_pos, message))
    }

    fn utf8(&self, bytes: Vec<u8>, pos: usize) -> Result<String, ZonError> {
        String::from_utf8(bytes).map_err(|_| {
            self.error(
                pos,
                "escapes produce bytes that are not valid UTF-8 (not supported)",
            )
        })
    }

    fn string(&self, node: &Node<'_>) -> Result<String, ZonError> {
        let Kind::StringLiteral(raw) = node.kind else {
            return Err(self.error(node.pos, "expected string literal"));
        };
        let bytes = decode_string_literal(raw).map_err(|message| self.error(node.pos, message))?;
        self.utf8(bytes, node.pos)
    }

    pub(super) fn manifest(&self, root: &Node<'_>) -> Result<Manifest, ZonError> {
        let Kind::Struct(fields) = &root.kind else {
            return Err(self.error(root.pos, "expected top level expression to be a struct"));
        };
        let mut name: Option<Name> = None;
        let mut version = None;
        let mut fingerprint = None;
        let mut minimum_zig_version = None;
        let mut dependencies = Dependencies::default();
        let mut paths: Option<Vec<String>> = None;
        let mut seen_paths = HashSet::new();
        for field in fields {
            let value = &field.value;
            match self.field_name(field)?.as_slice() {
                b"dependencies" => self.dependencies(value, &mut dependencies)?,
                b"paths" => {
                    self.paths(value, paths.get_or_insert_with(Vec::new), &mut seen_paths)?;
                }
                b"name" => name = Some(self.name(value)?),
                b"fingerprint" => fingerprint = Some(self.fingerprint(value)?),
                b"version" => {
                    let text = self.string(value)?;
                    if text.len() > MAX_VERSION_LEN {
                        return Err(self.error(
                            value.pos,
                            format!(
                                "version string length {} exceeds maximum of {MAX_VERSION_LEN}",
                                text.len()
                            ),
                        ));
                    }
                    self.semver(&text, value.pos)?;
                    version = Some(text);
                }
                b"minimum_zig_version" => {
                    let text = self.string(value)?;
                    self.semver(&text, value.pos)?;
                    minimum_zig_version = Some(text);
                }
                // Unknown fields are ignored so that newer zig versions can add fields.
                _ => {}
            }
        }

        let Some(name) = name else {
            return Err(self.error(root.pos, "missing top-level 'name' field"));
        };
        let checksum = crc32(name.value.as_bytes());
        let old_style = match fingerprint {
            Some(_) if name.as_string => {
                return Err(self.error(
                    name.pos,
                    "expected enum literal (a string name is only accepted in old-style \
                     manifests, which have no fingerprint)",
                ));
            }
            Some(fingerprint) => {
                let id = fingerprint as u32;
                if id == 0 || id == u32::MAX || (fingerprint >> 32) as u32 != checksum {
                    return Err(self.error(
                        root.pos,
                        format!(
                            "invalid fingerprint: 0x{fingerprint:x}; its high 32 bits must be \
                             0x{checksum:08x} (the CRC-32 of the name) and its low 32 bits, the \
                             package id, must not be 0 or 0xffffffff"
                        ),
                    ));
                }
                false
            }
            None if name.as_string => true,
            None => {
                return Err(self.error(
                    root.pos,
                    format!(
                        "missing top-level 'fingerprint' field; its high 32 bits must be \
                         0x{checksum:08x} and its low 32 bits a random package id"
                    ),
                ));
            }
        };
        let Some(version) = version else {
            return Err(self.error(root.pos, "missing top-level 'version' field"));
        };
        for (dependency, hash_pos) in &dependencies.list {
            if let Some(hash) = &dependency.hash {
                check_dependency_hash(hash, old_style)
                    .map_err(|message| self.error(*hash_pos, message))?;
            }
        }
        Ok(Manifest {
            name: name.value,
            version,
            fingerprint,
            minimum_zig_version,
            dependencies: dependencies.list.into_iter().map(|(dep, _)| dep).collect(),
            paths,
            old_style,
        })
    }

    fn semver(&self, text: &str, pos: usize) -> Result<(), ZonError> {
        check_semver(text)
            .map_err(|why| self.error(pos, format!("unable to parse semantic version: {why}")))
    }

    fn name(&self, node: &Node<'_>) -> Result<Name, ZonError> {
        let (value, as_string) = match node.kind {
            Kind::EnumLiteral(raw) => {
                if raw.starts_with('@') {
                    return Err(self.error(node.pos, "name must be a valid bare zig identifier"));
                }
                (raw.to_string(), false)
            }
            // Old-style (zig 0.12/0.13) string name.
            Kind::StringLiteral(_) => {
                let value = self.string(node)?;
                if !is_valid_id(&value) {
                    return Err(self.error(
                        node.pos,
                        "name must be a valid bare zig identifier (hint: switch from string to \
                         enum literal)",
                    ));
                }
                (value, true)
            }
            _ => return Err(self.error(node.pos, "expected enum literal")),
        };
        if value.len() > MAX_NAME_LEN {
            return Err(self.error(
                node.pos,
                format!("name '{value}' exceeds max length of {MAX_NAME_LEN}"),
            ));
        }
        Ok(Name {
            value,
            as_string,
            pos: node.pos,
        })
    }

    fn fingerprint(&self, node: &Node<'_>) -> Result<u64, ZonError> {
        let Kind::NumberLiteral(raw) = node.kind else {
            return Err(self.error(node.pos, "expected integer literal"));
        };
        match parse_number_literal(raw.as_bytes()) {
            NumberLiteral::Int(value) => Ok(value),
            NumberLiteral::BigInt => {
                Err(self.error(node.pos, "expected u64 integer literal, found big_int"))
            }
            NumberLiteral::Float => {
                Err(self.error(node.pos, "expected u64 integer literal, found float"))
            }
            NumberLiteral::Failure(why) => {
                Err(self.error(node.pos, format!("bad integer literal: {why}")))
            }
        }
    }

    fn paths(
        &self,
        node: &Node<'_>,
        out: &mut Vec<String>,
        seen: &mut HashSet<String>,
    ) -> Result<(), ZonError> {
        let Kind::Tuple(elements) = &node.kind else {
            return Err(self.error(
                node.pos,
                "expected paths expression to be a list of strings",
            ));
        };
        for element in elements {
            let path = resolve_posix(&self.string(element)?);
            if seen.insert(path.clone()) {
                out.push(path);
            }
        }
        Ok(())
    }

    fn dependencies(&self, node: &Node<'_>, out: &mut Dependencies) -> Result<(), ZonError> {
        let Kind::Struct(fields) = &node.kind else {
            return Err(self.error(node.pos, "expected dependencies expression to be a struct"));
        };
        for field in fields {
            let name = self.utf8(self.field_name(field)?, field.name_pos)?;
            let entry = self.dependency(name, &field.value)?;
            out.insert(entry);
        }
        Ok(())
    }

    fn dependency(&self, name: String, node: &Node<'_>) -> Result<(Dependency, usize), ZonError> {
        let Kind::Struct(fields) = &node.kind else {
            return Err(self.error(node.pos, "expected dependency expression to be a struct"));
        };
        let mut dependency = Dependency {
            name,
            url: None,
            path: None,
            hash: None,
            lazy: false,
        };
        let mut hash_pos = node.pos;
        for field in fields {
            let value = &field.value;
            match self.field_name(field)?.as_slice() {
                key @ (b"url" | b"path") => {
                    if dependency.url.is_some() || dependency.path.is_some() {
                        return Err(self.error(
                            value.pos,
                            "dependency should specify only one of 'url' and 'path' fields.",
                        ));
                    }
                    let location = Some(self.string(value)?);
                    if key == b"url" {
                        dependency.url = location;
                    } else {
                        dependency.path = location;
                    }
                }
                b"hash" => {
                    dependency.hash = Some(self.string(value)?);
                    hash_pos = value.pos;
                }
                b"lazy" => {
                    dependency.lazy = match value.kind {
                        Kind::Identifier("true") => true,
                        Kind::Identifier("false") => false,
                        Kind::Identifier(_) => {
                            return Err(self.error(value.pos, "expected boolean"));
                        }
                        _ => return Err(self.error(value.pos, "expected identifier")),
                    };
                }
                _ => {}
            }
        }
        if dependency.url.is_none() && dependency.path.is_none() {
            return Err(self.error(
                node.pos,
                "dependency requires location field, one of 'url' or 'path'.",
            ));
        }
        Ok((dependency, hash_pos))
    }
}

/// Dependencies in first-seen order; a repeated name replaces the earlier value in place.
#[derive(Default)]
struct Dependencies {
    /// Each dependency with the offset of its `.hash` value (for deferred validation).
    list: Vec<(Dependency, usize)>,
    index: HashMap<String, usize>,
}

impl Dependencies {
    fn insert(&mut self, entry: (Dependency, usize)) {
        match self.index.get(&entry.0.name) {
            Some(&i) => {
                if let Some(slot) = self.list.get_mut(i) {
                    *slot = entry;
                }
            }
            None => {
                self.index.insert(entry.0.name.clone(), self.list.len());
                self.list.push(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zig::zon::parse_manifest;
    use crate::zig::zon::tests::{accepts, with_fields};
    #[test]
    fn fingerprint_checksum_is_the_crc32_of_the_name() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xe8b7_be43);

        let manifest = parse_manifest(&with_fields(".paths = .{\"\"}")).expect("valid");
        assert_eq!(manifest.fingerprint, Some(0xe8b7_be43_0000_1234));
        assert_eq!(manifest.package_id(), 0x1234);

        let good =
            |fp: &str| format!(".{{ .name = .pkg, .version = \"1.0.0\", .fingerprint = {fp} }}");
        assert!(accepts(&good("0xfe6ff7d5_00000001")));
        assert!(accepts(&good("0xFE6FF7D5DEADBEEF")));
        assert!(accepts(&good(&format!("0o{:o}", 0xfe6f_f7d5_0000_0001u64))));
        assert!(accepts(&good(&format!("0b{:b}", 0xfe6f_f7d5_0000_0001u64))));
        assert!(accepts(&good(&format!("{}", 0xfe6f_f7d5_0000_0001u64))));
        // Wrong checksum, reserved ids, and what is not a plain u64 literal.
        assert!(!accepts(&good("0xfe6ff7d600000001")));
        assert!(!accepts(&good("0xfe6ff7d500000000")));
        assert!(!accepts(&good("0xfe6ff7d5ffffffff")));
        assert!(!accepts(&good("-0xfe6ff7d500000001")));
        assert!(!accepts(&good("0Xfe6ff7d500000001")));
        assert!(!accepts(&good("0xfe6ff7d5_00000001_")));
        assert!(!accepts(&good("0x1fe6ff7d500000001")));
        assert!(!accepts(&good("1.5")));
        assert!(!accepts(&good("0xfe6ff7d500000001.0")));
        assert!(!accepts(&good("01")));
        // A string name needs no fingerprint (old style), an enum-literal name does.
        assert!(!accepts(".{ .name = .pkg, .version = \"1.0.0\" }"));
    }

    #[test]
    fn old_style_manifests_are_accepted_and_flagged() {
        let legacy_hash = format!("1220{}", "ab".repeat(32));
        let text = format!(
            r#".{{
    .name = "legacy",
    .version = "0.1.0",
    .dependencies = .{{ .dep = .{{ .url = "https://e/x.tar.gz", .hash = "{legacy_hash}" }} }},
    .paths = .{{""}},
}}"#
        );
        let manifest = parse_manifest(&text).expect("old style");
        assert!(manifest.old_style);
        assert_eq!(manifest.name, "legacy");
        assert_eq!(manifest.fingerprint, None);
        assert_eq!(manifest.package_id(), 0);
        assert_eq!(
            manifest.dependencies[0].hash.as_deref(),
            Some(legacy_hash.as_str())
        );

        // The old name must be a valid bare identifier (not a keyword), at most 32 bytes.
        let named = |name: &str| format!(".{{ .name = \"{name}\", .version = \"0.1.0\" }}");
        assert!(accepts(&named("legacy_2")));
        assert!(!accepts(&named("my-pkg")));
        assert!(!accepts(&named("2pkg")));
        assert!(!accepts(&named("fn")));
        assert!(!accepts(&named("")));
        assert!(!accepts(&named(&"n".repeat(33))));
        // A string name together with a fingerprint is neither style.
        assert!(!accepts(
            ".{ .name = \"legacy\", .version = \"0.1.0\", .fingerprint = 0x17cb09ee00000001 }"
        ));
        // New-style manifests may not use the legacy hash (zig 0.16+: "invalid hash: incomplete").
        let err = parse_manifest(&with_fields(&format!(
            ".dependencies = .{{ .dep = .{{ .url = \"u\", .hash = \"{legacy_hash}\" }} }}"
        )))
        .expect_err("legacy hash in a new-style manifest");
        assert_eq!(err.message, "invalid hash: incomplete");
    }

    #[test]
    fn dependencies_follow_zig() {
        let hash = "clap-0.10.0-oBajB434AQBDh-Ei3YtoKIRxZacVPF1iSwp3IX_ZB8f0";
        let text = with_fields(&format!(
            r#".dependencies = .{{
                .clap = .{{ .url = "https://e/clap.tar.gz", .hash = "{hash}", .extra = 1 }},
                .@"local-helper" = .{{ .path = "vendor/helper", .lazy = true }},
                .clap = .{{ .path = "p2", .lazy = false }},
            }},
            .dependencies = .{{ .more = .{{ .path = "m" }} }}"#
        ));
        let manifest = parse_manifest(&text).expect("valid");
        let names: Vec<_> = manifest
            .dependencies
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, ["clap", "local-helper", "more"]);
        assert_eq!(
            manifest.dependencies[0],
            Dependency {
                name: "clap".into(),
                url: None,
                path: Some("p2".into()),
                hash: None,
                lazy: false
            }
        );
        assert!(manifest.dependencies[1].lazy);

        let dep = |body: &str| with_fields(&format!(".dependencies = .{{ .d = .{{ {body} }} }}"));
        assert!(accepts(&with_fields(".dependencies = .{}")));
        assert!(!accepts(&dep(".url = \"a\", .path = \"b\"")));
        assert!(!accepts(&dep(".url = \"a\", .url = \"b\"")));
        assert!(!accepts(&dep(".lazy = true")));
        assert!(!accepts(&dep(".path = \"a\", .lazy = 1")));
        assert!(!accepts(&dep(".path = \"a\", .lazy = yes")));
        assert!(!accepts(&dep(".path = .a")));
        assert!(!accepts(&dep(&format!(
            ".path = \"a\", .hash = \"{}\"",
            &hash[..40]
        ))));
        assert!(!accepts(&dep(&format!(
            ".path = \"a\", .hash = \"{}{hash}\"",
            "x".repeat(60)
        ))));
        assert!(!accepts(&with_fields(".dependencies = .{ .d = \"url\" }")));
        assert!(!accepts(&with_fields(
            ".dependencies = .{ .{ .path = \"a\" } }"
        )));
    }
}
