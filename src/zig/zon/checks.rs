//! Value checks: ports of the zig std functions the manifest rules apply to single values:
//! strict SemVer (`std.SemanticVersion.parse`), `std.zig.isValidId`, `Package.Hash.validate`,
//! `std.fs.path.resolvePosix`, and the CRC-32 that ties a fingerprint to the package name.

use super::tokenizer::{is_ident_char, is_ident_start, is_keyword};

/// Longest package hash: 32-byte name, `-`, 32-byte version, `-`, 44 base64 characters.
const MAX_HASH_LEN: usize = 110;
const HASHPLUS_LEN: usize = 44;

const INVALID_VERSION: &str = "InvalidVersion";

/// `std.SemanticVersion.parse`: strict SemVer 2.0; the error is zig's error name.
pub(super) fn check_semver(text: &str) -> Result<(), &'static str> {
    let extra_index = text.find(['-', '+']);
    let (required, extra) = text.split_at(extra_index.unwrap_or(text.len()));
    let mut numbers = required.split('.');
    parse_version_number(numbers.next().unwrap_or(""))?;
    parse_version_number(numbers.next().ok_or(INVALID_VERSION)?)?;
    parse_version_number(numbers.next().ok_or(INVALID_VERSION)?)?;
    if numbers.next().is_some() {
        return Err(INVALID_VERSION);
    }
    let (pre, build) = if let Some(rest) = extra.strip_prefix('-') {
        match rest.split_once('+') {
            Some((pre, build)) => (Some(pre), Some(build)),
            None => (Some(rest), None),
        }
    } else {
        (None, extra.strip_prefix('+'))
    };
    let valid_identifier =
        |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    for id in pre.into_iter().flat_map(|pre| pre.split('.')) {
        if !valid_identifier(id) {
            return Err(INVALID_VERSION);
        }
        if id.bytes().all(|b| b.is_ascii_digit()) {
            parse_version_number(id)?;
        }
    }
    for id in build.into_iter().flat_map(|build| build.split('.')) {
        if !valid_identifier(id) {
            return Err(INVALID_VERSION);
        }
    }
    Ok(())
}

/// One numeric SemVer part: no leading zero, then `std.fmt.parseUnsigned(usize, _, 10)`,
/// which skips `_` separators that are neither first nor last.
fn parse_version_number(text: &str) -> Result<u64, &'static str> {
    let bytes = text.as_bytes();
    if bytes.len() > 1 && bytes[0] == b'0' {
        return Err(INVALID_VERSION);
    }
    if bytes.first().is_none_or(|&b| b == b'_') || bytes.last() == Some(&b'_') {
        return Err(INVALID_VERSION);
    }
    let mut value: u64 = 0;
    for &b in bytes {
        if b == b'_' {
            continue;
        }
        if !b.is_ascii_digit() {
            return Err(INVALID_VERSION);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or("Overflow")?;
    }
    Ok(value)
}

/// `std.zig.isValidId`: a bare identifier that is not a keyword.
pub(super) fn is_valid_id(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.first().is_some_and(|&b| is_ident_start(b))
        && bytes.iter().all(|&b| is_ident_char(b))
        && !is_keyword(name)
}

/// `Package.Hash.validate` (zig 0.16+); old-style manifests may also use a legacy multihash.
pub(super) fn check_dependency_hash(hash: &str, old_style: bool) -> Result<(), &'static str> {
    let bytes = hash.as_bytes();
    let legacy = bytes.len() == 68
        && bytes.starts_with(b"1220")
        && bytes[4..]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if old_style && legacy {
        return Ok(());
    }
    if bytes.len() > MAX_HASH_LEN {
        return Err("invalid hash: long");
    }
    if bytes.len() < HASHPLUS_LEN {
        return Err("invalid hash: short");
    }
    let dashes = bytes[..bytes.len() - HASHPLUS_LEN]
        .iter()
        .filter(|&&b| b == b'-')
        .count();
    if dashes < 2 {
        return Err("invalid hash: incomplete");
    }
    Ok(())
}

/// `std.fs.path.resolvePosix` for a single path: removes `.`, empty components and trailing
/// slashes, applies `..` (keeping leading ones of a relative path), and gives `.` for nothing.
pub(super) fn resolve_posix(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut components: Vec<&str> = Vec::new();
    let mut parents = 0usize;
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if components.pop().is_none() && !absolute {
                    parents += 1;
                }
            }
            _ => components.push(component),
        }
    }
    let mut parts = vec![".."; parents];
    parts.extend(components);
    match (absolute, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".to_string(),
        (false, false) => parts.join("/"),
    }
}

const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32/ISO-HDLC (zlib's CRC, zig's `std.hash.Crc32`): the fingerprint's high 32 bits.
pub(super) fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| {
        CRC32_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zig::zon::parse_manifest;
    use crate::zig::zon::tests::{accepts, with_fields};
    #[test]
    fn paths_are_normalised_like_std_fs_path_resolve() {
        let manifest = parse_manifest(&with_fields(
            r#".paths = .{ "./a/", "", "src/", "./docs/../LICENSE", "a//b/./c", "../up", "x/../../y", "/abs/./p/..", "a" }"#,
        ))
        .expect("valid");
        assert_eq!(
            manifest.paths.expect("paths"),
            ["a", ".", "src", "LICENSE", "a/b/c", "../up", "../y", "/abs"]
        );
        assert_eq!(resolve_posix("a/.."), ".");
        assert_eq!(resolve_posix("../.."), "../..");
        assert_eq!(resolve_posix("/.."), "/");

        // Repeated `.paths` fields accumulate, as in zig (both go into one map).
        let manifest = parse_manifest(&with_fields(
            r#".paths = .{"src"}, .paths = .{"build.zig", "src"}"#,
        ))
        .expect("valid");
        assert_eq!(manifest.paths.expect("paths"), ["src", "build.zig"]);

        // Absent is allowed here (a dependency fetch); `.{}` and a bare string are not.
        assert_eq!(parse_manifest(&with_fields("")).expect("valid").paths, None);
        assert!(!accepts(&with_fields(".paths = .{}")));
        assert!(!accepts(&with_fields(".paths = \"src\"")));
        assert!(!accepts(&with_fields(".paths = .{ .a = \"src\" }")));
        assert!(!accepts(&with_fields(".paths = .{ \\\\src\n }")));
    }

    #[test]
    fn versions_are_strict_semver() {
        for good in [
            "0.0.0",
            "1.2.3-rc.1+build.5",
            "1.0.0+001",
            "1.0.0-x-y-z.--",
            "1_0.0.0",
        ] {
            assert!(check_semver(good).is_ok(), "{good}");
        }
        for bad in [
            "1.0",
            "v1.0.0",
            "01.0.0",
            "1.0.0-01",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-a..b",
            "1.0.0-a_b",
            "_1.0.0",
            "1.0.0.0",
            "",
            "1.0.0+a+b",
        ] {
            assert_eq!(check_semver(bad), Err("InvalidVersion"), "{bad}");
        }
        assert_eq!(check_semver("18446744073709551616.0.0"), Err("Overflow"));

        assert!(!accepts(&with_fields(
            ".version = \"1.0.0-xxxxxxxxxxxxxxxxxxxxxxxxxxx\""
        )));
        assert!(accepts(&with_fields(
            ".minimum_zig_version = \"0.16.0-dev.1234+abcdef012\""
        )));
        assert!(!accepts(&with_fields(".minimum_zig_version = \"0.15\"")));
        // Each occurrence is checked even though the last one wins.
        assert!(!accepts(&with_fields(
            ".version = \"bad\", .version = \"1.0.0\""
        )));
        let manifest = parse_manifest(&with_fields(".version = \"2.0.0\"")).expect("valid");
        assert_eq!(manifest.version, "2.0.0");
    }
}
