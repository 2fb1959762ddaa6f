//! What a dependency entry asks for, read the way npm reads it (npm-package-arg): a range, a
//! dist-tag, an `npm:` alias of another package, a path on the client's disk (`file:`,
//! `link:`, `workspace:`, `portal:`), or something outside any registry (git, a URL,
//! `user/repo`).

use nodejs_semver::{Range, Version};

/// The registry part of a request: a range or a dist-tag.
#[derive(Debug, Clone)]
pub enum Want {
    /// `*`, `""`: any version, the `latest` dist-tag first.
    Any,
    Range(NpmRange),
    Tag(String),
}

/// An npm range: alternatives (`||`), each a set of comparators that must all hold. Split here
/// rather than left to `nodejs-semver` alone, which lets any one comparator of a space-joined
/// set decide (`^2 ^3` matched 2.0.0); `nodejs-semver` still reads each comparator.
#[derive(Debug, Clone)]
pub struct NpmRange(Vec<Vec<Range>>);

impl NpmRange {
    pub fn parse(text: &str) -> Option<NpmRange> {
        let mut alternatives = Vec::new();
        for alternative in text.split("||") {
            let alternative = alternative.trim();
            if alternative.is_empty() || alternative.contains(" - ") {
                // npm reads an empty alternative as `*`; a hyphen range is one comparator pair.
                alternatives.push(vec![Range::parse(alternative).ok()?]);
                continue;
            }
            // `>= 1.2.3` is one comparator: join an operator standing alone to what follows.
            let mut comparators = Vec::new();
            let mut pending = String::new();
            for token in alternative.split_whitespace() {
                pending.push_str(token);
                if token.chars().all(|c| "<>=~^".contains(c)) {
                    continue;
                }
                comparators.push(Range::parse(&pending).ok()?);
                pending.clear();
            }
            if !pending.is_empty() {
                return None;
            }
            alternatives.push(comparators);
        }
        Some(NpmRange(alternatives))
    }

    /// node-semver's rule: every comparator of one alternative holds; a prerelease only when
    /// a comparator of that alternative names a prerelease of the same version.
    pub fn satisfies(&self, version: &Version) -> bool {
        self.0.iter().any(|set| {
            set.iter()
                .all(|r| version.satisfies_with_prerelease(r, true))
                && (!version.is_prerelease() || set.iter().any(|r| version.satisfies(r)))
        })
    }
}

impl Want {
    /// Whether an installed `version` meets this, as npm checks an installed tree: `*` takes
    /// any version (prereleases too), a range its own, and a dist-tag any version from the
    /// registry (the tag only chooses what to install when nothing is there yet).
    pub fn allows(&self, version: &Version) -> bool {
        match self {
            Want::Any | Want::Tag(_) => true,
            Want::Range(r) => r.satisfies(version),
        }
    }
}

/// One dependency entry, read.
#[derive(Debug, Clone)]
pub enum Spec {
    /// From this registry: `package` (the entry's own name, or the aliased one) at `want`.
    Registry { package: String, want: Want },
    /// A path on the client's disk: the client installs it itself.
    OnDisk,
    /// A git repository, a URL or `user/repo`: this registry does not fetch those.
    Elsewhere,
}

const ON_DISK: &[&str] = &["file:", "link:", "workspace:", "portal:"];
const ELSEWHERE: &[&str] = &[
    "git:",
    "git+",
    "github:",
    "gitlab:",
    "bitbucket:",
    "gist:",
    "http:",
    "https:",
];

/// Reads the entry `name: text` of a `dependencies` map; `Err` says why it is unreadable.
pub fn parse(name: &str, text: &str) -> Result<Spec, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    if ON_DISK.iter().any(|p| lower.starts_with(p))
        || text.starts_with('.')
        || text.starts_with('/')
        || text.starts_with("~/")
    {
        return Ok(Spec::OnDisk);
    }
    if ELSEWHERE.iter().any(|p| lower.starts_with(p)) {
        return Ok(Spec::Elsewhere);
    }
    if let Some(aliased) = text.strip_prefix("npm:") {
        // `npm:other@^1`, `npm:@scope/other@^1`, `npm:other` (any version).
        let from = usize::from(aliased.starts_with('@'));
        let (package, rest) = match aliased.get(from..).and_then(|s| s.rfind('@')) {
            Some(at) => (&aliased[..from + at], &aliased[from + at + 1..]),
            None => (aliased, ""),
        };
        if package.is_empty() {
            return Err(format!("the alias {text:?} names no package"));
        }
        if rest.starts_with("npm:") || package.contains("npm:") {
            return Err(format!("the alias {text:?} is an alias of an alias"));
        }
        return Ok(Spec::Registry {
            package: package.to_string(),
            want: want(rest)?,
        });
    }
    if !text.starts_with('@') && text.contains('/') && !text.contains(' ') {
        // `user/repo` (a GitHub shorthand), `user/repo#ref`.
        return Ok(Spec::Elsewhere);
    }
    Ok(Spec::Registry {
        package: name.to_string(),
        want: want(text)?,
    })
}

/// A range or a dist-tag, as npm tells them apart: what parses as a range is one, anything
/// else that could be a tag name is a tag.
fn want(text: &str) -> Result<Want, String> {
    if text.is_empty() || text == "*" {
        return Ok(Want::Any);
    }
    // The whole text must be a range to nodejs-semver too, so `NpmRange`'s split accepts
    // nothing it would refuse.
    if Range::parse(text).is_ok()
        && let Some(range) = NpmRange::parse(text)
    {
        return Ok(Want::Range(range));
    }
    let tag_like = text.len() <= 128
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
    if tag_like && !text.starts_with(|c: char| c.is_ascii_digit() || c == 'v') {
        return Ok(Want::Tag(text.to_string()));
    }
    Err(format!(
        "{text:?} is neither a version range nor a dist-tag"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(name: &str, text: &str) -> (String, String) {
        match parse(name, text).unwrap() {
            Spec::Registry { package, want } => (
                package,
                match want {
                    Want::Any => "*".into(),
                    Want::Range(r) => format!("range {r:?}"),
                    Want::Tag(t) => format!("tag {t}"),
                },
            ),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn ranges_tags_and_aliases() {
        assert_eq!(registry("a", "^1.2.3").0, "a");
        assert!(registry("a", "^1.2.3").1.starts_with("range"));
        assert!(registry("a", "1.x || >=3 <4").1.starts_with("range"));
        assert!(registry("a", "1.0.0 - 2.0.0").1.starts_with("range"));
        assert_eq!(registry("a", "latest").1, "tag latest");
        assert_eq!(registry("a", "next").1, "tag next");
        assert_eq!(registry("a", "").1, "*");
        assert_eq!(registry("a", "*").1, "*");
        assert_eq!(registry("a", "npm:b@^1").0, "b");
        assert!(registry("a", "npm:b@^1").1.starts_with("range"));
        assert_eq!(registry("a", "npm:@s/b@2.0.0").0, "@s/b");
        assert_eq!(registry("a", "npm:@s/b").0, "@s/b");
        assert_eq!(registry("a", "npm:@s/b").1, "*");
        assert_eq!(registry("a", "npm:b").1, "*");
    }

    #[test]
    fn paths_and_elsewhere() {
        for text in [
            "file:../x",
            "link:../x",
            "workspace:*",
            "workspace:^",
            "portal:x",
            "./x",
            "../x",
            "/abs",
            "~/x",
        ] {
            assert!(matches!(parse("a", text), Ok(Spec::OnDisk)), "{text}");
        }
        for text in [
            "git+https://h/r.git",
            "github:u/r",
            "https://h/x.tgz",
            "u/r",
            "u/r#main",
            "git://h/r",
        ] {
            assert!(matches!(parse("a", text), Ok(Spec::Elsewhere)), "{text}");
        }
        assert!(registry("a", "~1.1.0").1.starts_with("range"));
        for text in ["^^^", "1.2.3.4", "npm:", "npm:b@npm:c@1"] {
            assert!(parse("a", text).is_err(), "{text}");
        }
    }
}

#[cfg(test)]
mod range_tests {
    use super::*;

    fn allows(range: &str, version: &str) -> bool {
        match parse("a", range).unwrap() {
            Spec::Registry { want, .. } => want.allows(&Version::parse(version).unwrap()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn space_joined_comparators_all_hold() {
        assert!(!allows("^2 ^3", "2.0.0"));
        assert!(!allows("^2 ^3", "3.0.0"));
        assert!(!allows(">=2 <2", "2.0.0"));
        assert!(!allows("~1 >=2", "2.0.0"));
        assert!(!allows("1.0.0 2.0.0", "2.0.0"));
        assert!(allows(">=1.2.3 <2", "1.5.0"));
        assert!(!allows(">=1.2.3 <2", "2.0.0"));
        assert!(allows(">= 1.2.3 < 2", "1.5.0"));
        assert!(allows("^1 || ^2 ^1", "1.0.0"));
        assert!(!allows("^1 || ^2 ^1", "2.0.0"));
        assert!(allows("1.0.0 - 2.0.0", "1.5.0"));
        assert!(!allows("1.0.0 - 2.0.0", "2.0.1"));
    }
}
