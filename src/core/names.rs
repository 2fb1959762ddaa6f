//! Package names and versions, parsed once and valid afterwards.
//!
//! Names follow npm's rules for new packages: at most `max_name_length` characters, lowercase,
//! URL-safe (`a-z 0-9 - . _`), no leading `.` or `_`, optionally `@scope/name`. On top of npm we
//! refuse `..` anywhere and the names `node_modules` and `__proto__`, so a name can never be
//! turned into a path or an object key that means something else.

use std::fmt;

/// `@scope` of a scoped package name (`@s/n` -> `@s`), `None` for an unscoped one.
pub fn scope_of(name: &str) -> Option<&str> {
    name.starts_with('@')
        .then(|| name.split_once('/').map(|(s, _)| s))
        .flatten()
}

/// A valid npm-style package name, `name` or `@scope/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid package name {name:?}: {reason}")]
pub struct InvalidName {
    pub name: String,
    pub reason: &'static str,
}

const RESERVED: &[&str] = &["node_modules", "favicon.ico", "__proto__"];

fn check_part(part: &str) -> Result<(), &'static str> {
    check_part_with(part, false)
}

fn check_part_with(part: &str, allow_uppercase: bool) -> Result<(), &'static str> {
    if part.is_empty() {
        return Err("a name part is empty");
    }
    if part.starts_with('.') || part.starts_with('_') {
        return Err("a name cannot start with a period or an underscore");
    }
    if part.contains("..") {
        return Err("a name cannot contain `..`");
    }
    if RESERVED.contains(&part) {
        return Err("that name is reserved");
    }
    if !allow_uppercase && part.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("a name must be lowercase");
    }
    if !part.bytes().all(|b| {
        b.is_ascii_lowercase()
            || (allow_uppercase && b.is_ascii_uppercase())
            || b.is_ascii_digit()
            || b == b'-'
            || b == b'.'
            || b == b'_'
    }) {
        return Err("a name may contain only a-z, 0-9, `-`, `.` and `_`");
    }
    Ok(())
}

impl PackageName {
    pub fn parse(name: &str, max_len: usize) -> Result<Self, InvalidName> {
        let invalid = |reason| InvalidName {
            name: name.chars().take(100).collect(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("a name cannot be empty"));
        }
        if name.len() > max_len {
            return Err(invalid("the name is too long"));
        }
        if name.trim() != name {
            return Err(invalid("a name cannot have leading or trailing spaces"));
        }
        match name.strip_prefix('@') {
            Some(scoped) => {
                let (scope, bare) = scoped
                    .split_once('/')
                    .ok_or_else(|| invalid("a scoped name must look like @scope/name"))?;
                check_part(scope).map_err(invalid)?;
                check_part(bare).map_err(invalid)?;
            }
            None => check_part(name).map_err(invalid)?,
        }
        Ok(Self(name.to_string()))
    }

    /// Like [`Self::parse`], but also accepting uppercase letters, which old packages on the
    /// public registry have (`JSONStream`). Only for reading through the npm fallback: nothing
    /// with such a name can be published here.
    pub fn parse_legacy(name: &str, max_len: usize) -> Result<Self, InvalidName> {
        if let Ok(strict) = Self::parse(name, max_len) {
            return Ok(strict);
        }
        let invalid = |reason| InvalidName {
            name: name.chars().take(100).collect(),
            reason,
        };
        if name.is_empty() || name.len() > max_len || name.trim() != name {
            return Err(invalid("not a valid package name"));
        }
        match name.strip_prefix('@') {
            Some(scoped) => {
                let (scope, bare) = scoped
                    .split_once('/')
                    .ok_or_else(|| invalid("a scoped name must look like @scope/name"))?;
                check_part_with(scope, true).map_err(invalid)?;
                check_part_with(bare, true).map_err(invalid)?;
            }
            None => check_part_with(name, true).map_err(invalid)?,
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `@scope` of a scoped name.
    pub fn scope(&self) -> Option<&str> {
        scope_of(&self.0)
    }

    /// The name without its scope: `@s/n` -> `n`.
    pub fn bare(&self) -> &str {
        self.0.rsplit_once('/').map(|(_, n)| n).unwrap_or(&self.0)
    }

    /// The file name `npm pack` gives this package's tarball: `@s/n` 1.0.0 -> `s-n-1.0.0.tgz`.
    pub fn tarball_filename(&self, version: &str) -> String {
        let flat = self.0.trim_start_matches('@').replace('/', "-");
        format!("{flat}-{version}.tgz")
    }

    /// The name as one URL path segment (`@s/n` -> `%40s%2Fn`).
    pub fn url_segment(&self) -> String {
        self.0.replace('@', "%40").replace('/', "%2F")
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A valid semantic version, kept in its canonical text form.
pub type Version = semver::Version;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid version {version:?}: {reason}")]
pub struct InvalidVersion {
    pub version: String,
    pub reason: String,
}

/// Parses a strict semver version (`1.2.3`, `1.2.3-beta.1+build`). At most 256 characters.
pub fn parse_version(text: &str) -> Result<Version, InvalidVersion> {
    let invalid = |reason: String| InvalidVersion {
        version: text.chars().take(100).collect(),
        reason,
    };
    if text.len() > 256 {
        return Err(invalid("longer than 256 characters".into()));
    }
    let version = semver::Version::parse(text).map_err(|e| invalid(e.to_string()))?;
    // npm's clients hold version numbers as JavaScript numbers: a part past 2^53 - 1 makes
    // node-semver throw, and one such version breaks every install of the package.
    const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
    if [version.major, version.minor, version.patch]
        .iter()
        .any(|n| *n > MAX_SAFE_INTEGER)
    {
        return Err(invalid(format!(
            "major, minor and patch must be at most {MAX_SAFE_INTEGER} (npm cannot read larger ones)"
        )));
    }
    if !version.build.is_empty() {
        // npm drops build metadata, so 1.0.0+a and 1.0.0+b would be one version to its clients.
        return Err(invalid(
            "build metadata (`+...`) is not allowed in a published version".into(),
        ));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_npm_cannot_read_are_refused() {
        assert!(parse_version("9007199254740991.0.0").is_ok());
        for bad in [
            "9999999999999999999.0.0",
            "1.9007199254740992.0",
            "1.0.9007199254740992",
        ] {
            let e = parse_version(bad).unwrap_err().to_string();
            assert!(e.contains("at most 9007199254740991"), "{bad}: {e}");
        }
    }

    #[test]
    fn accepts_npm_names() {
        for ok in [
            "a",
            "left-pad",
            "@scope/pkg",
            "lodash.merge",
            "a_b",
            "@s/n.js",
            "123",
        ] {
            assert!(PackageName::parse(ok, 214).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "UPPER",
            "has space",
            " lead",
            ".dot",
            "_under",
            "a/b",
            "@scope",
            "@scope/",
            "@/n",
            "..",
            "a..b",
            "node_modules",
            "__proto__",
            "@s/__proto__",
            "a%2fb",
            "ünïcode",
            "a~b",
            "@s/n/extra",
            "../etc",
        ] {
            assert!(
                PackageName::parse(bad, 214).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(PackageName::parse(&"a".repeat(215), 214).is_err());
        assert!(PackageName::parse(&"a".repeat(214), 214).is_ok());
    }

    #[test]
    fn legacy_names_read_only() {
        assert!(PackageName::parse("JSONStream", 214).is_err());
        assert!(PackageName::parse_legacy("JSONStream", 214).is_ok());
        for bad in ["..", "__proto__", "A B", "@S/../x", "node_modules"] {
            assert!(PackageName::parse_legacy(bad, 214).is_err(), "{bad}");
        }
    }

    #[test]
    fn tarball_filenames_have_no_slash() {
        let n = PackageName::parse("@s/n", 214).unwrap();
        assert_eq!(n.tarball_filename("1.0.0"), "s-n-1.0.0.tgz");
        assert_eq!(n.url_segment(), "%40s%2Fn");
        assert_eq!(n.scope(), Some("@s"));
        assert_eq!(n.bare(), "n");
    }

    #[test]
    fn versions_are_strict_semver() {
        assert!(parse_version("1.0.0-beta.1").is_ok());
        for bad in [
            "1.0",
            "v1.0.0",
            "",
            "1.0.0.0",
            "../1.0.0",
            "1.0.0/../../x",
            "1.0.0+build.1",
        ] {
            assert!(parse_version(bad).is_err(), "{bad}");
        }
    }
}
