//! The walls between modules, checked in the source (docs/ARCHITECTURE.md draws them):
//! - `core` knows no HTTP: no poem, poem-openapi or hyper, and none of the doors (`api`,
//!   `npm`, `zig`, `http`) nor the HTTP error catalogue (`error`);
//! - `core` does not reach its adapters around their ports: not the npm fallback's HTTP client
//!   (`upstream`), which implements the core's `UpstreamRegistry`;
//! - `store`, `blobs`, `search`, `archive` and `upstream` know no wire protocol and no door:
//!   nothing of poem, `api`, `npm`, `zig`, `http` or `error`; `store`, `blobs` and `archive`
//!   know nothing of the core, the search index or the upstream; `search` and `upstream` use
//!   only the core's vocabulary and the port they implement (`core::names`,
//!   `core::downloads` for the ecosystems; `core::proxy` for the upstream), never its use cases;
//! - the npm protocol and Zig packages do not know each other.
//!
//! Comments are left out, so a doc link may name another module; code may not.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The HTTP stack, by crate name.
const HTTP_CRATES: &[&str] = &["::poem", "::poem_openapi", "::hyper"];
/// The doors requests come in by, and the HTTP error catalogue.
const DOORS: &[&str] = &["api", "npm", "zig", "web", "http", "error"];

/// One module's wall: what it must not use (crate modules by name, external crates as
/// `::name`), and, when it may use the core at all, which of the core's modules.
struct Wall {
    module: &'static str,
    forbidden: Vec<&'static str>,
    core_allowed: Option<&'static [&'static str]>,
}

fn walls() -> Vec<Wall> {
    let below_the_doors = [HTTP_CRATES, DOORS, &["upstream"]].concat();
    // The adapters know no wire protocol, nor each other.
    let adapters = [HTTP_CRATES, DOORS, &["upstream", "core", "search"]].concat();
    let wall = |module, forbidden: &[&'static str], core_allowed| Wall {
        module,
        forbidden: forbidden.to_vec(),
        core_allowed,
    };
    vec![
        wall("core", &below_the_doors, None),
        wall("store", &adapters, None),
        wall("blobs", &adapters, None),
        wall("archive", &adapters, None),
        wall(
            "search",
            &[HTTP_CRATES, DOORS, &["upstream"]].concat(),
            Some(&["names", "downloads"]),
        ),
        wall(
            "upstream",
            &[HTTP_CRATES, DOORS, &["store", "blobs", "search"]].concat(),
            Some(&["names", "proxy"]),
        ),
        wall("npm", &["zig", "web"], None),
        wall("zig", &["npm", "web"], None),
        // The web UI reads through the core; it knows no other door nor the adapters below it.
        wall(
            "web",
            &["api", "npm", "zig", "upstream", "blobs", "archive"],
            None,
        ),
    ]
}

/// The code of a Rust file without its comments (line comments, doc comments, block comments).
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_block = 0usize;
    for line in text.lines() {
        let mut rest = line;
        let mut kept = String::new();
        loop {
            if in_block > 0 {
                match rest.find("*/") {
                    Some(end) => {
                        in_block -= 1;
                        rest = &rest[end + 2..];
                    }
                    None => break,
                }
            } else {
                let line_comment = rest.find("//");
                let block = rest.find("/*");
                match (line_comment, block) {
                    (Some(l), Some(b)) if b < l => {
                        kept.push_str(&rest[..b]);
                        in_block += 1;
                        rest = &rest[b + 2..];
                    }
                    (None, Some(b)) => {
                        kept.push_str(&rest[..b]);
                        in_block += 1;
                        rest = &rest[b + 2..];
                    }
                    (Some(l), _) => {
                        kept.push_str(&rest[..l]);
                        break;
                    }
                    (None, None) => {
                        kept.push_str(rest);
                        break;
                    }
                }
            }
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Every module of this crate (`crate::x`, also inside `use crate::{x, y}`) and every external
/// crate (`::name`, from `use name::` or `name::` at the start of a path) the code names.
fn names_used(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    // `path` starts right after `crate::`: records its first segment, and for the core its
    // second too (`core::proxy`), from a group as well (`core::{names, proxy}`).
    let record = |path: &str, used: &mut BTreeSet<String>| {
        let name = ident(path);
        if name.is_empty() {
            return;
        }
        if let Some(sub) = path[name.len()..].strip_prefix("::") {
            if let Some(group) = sub.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let second = ident(item.trim());
                    if !second.is_empty() {
                        used.insert(format!("{name}::{second}"));
                    }
                }
            } else {
                used.insert(format!("{name}::{}", ident(sub)));
            }
        }
        used.insert(name);
    };
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                record(item.trim(), &mut used);
            }
        } else {
            record(after, &mut used);
        }
        rest = after;
    }
    for external in ["poem", "poem_openapi", "hyper"] {
        for pattern in [
            format!("use {external}::"),
            format!("use {external};"),
            format!(" {external}::"),
            format!("({external}::"),
            format!("<{external}::"),
            format!("&{external}::"),
            format!("\n{external}::"),
        ] {
            if code.contains(&pattern) {
                used.insert(format!("::{external}"));
            }
        }
    }
    used
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every breach of the walls in the crate under `src`, as `file: module uses name`.
fn breaches(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for Wall {
        module,
        forbidden,
        core_allowed,
    } in walls()
    {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let single = src.join(format!("{module}.rs"));
        if single.is_file() {
            files.push(single);
        }
        assert!(!files.is_empty(), "no source for module {module}");
        for file in files {
            let used = names_used(&code_of(&std::fs::read_to_string(&file).unwrap()));
            let shown = file.strip_prefix(src).unwrap().display().to_string();
            for name in forbidden.iter() {
                if used.contains(*name) {
                    found.push(format!("{shown}: {module} uses {name}"));
                }
            }
            if let Some(allowed) = core_allowed {
                for name in &used {
                    if let Some(sub) = name.strip_prefix("core::")
                        && !allowed.contains(&sub)
                    {
                        found.push(format!("{shown}: {module} uses {name}"));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_module_keeps_to_its_side_of_the_walls() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = breaches(&src);
    assert!(found.is_empty(), "walls breached:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_every_way_of_naming_a_module() {
    let code = code_of(
        "use crate::{config, http::edge};\nfn f() { crate::npm::x(); }\nlet b: poem::Body;\n\
         // crate::zig in a comment is no use\n/* nor crate::api\n here */ use hyper::Request;",
    );
    let used = names_used(&code);
    for name in [
        "config",
        "http",
        "http::edge",
        "npm",
        "npm::x",
        "::poem",
        "::hyper",
    ] {
        assert!(used.contains(name), "{name} not seen in {used:?}");
    }
    let grouped = names_used(&code_of("use crate::core::{names::PackageName, proxy};"));
    for name in ["core", "core::names", "core::proxy"] {
        assert!(grouped.contains(name), "{name} not seen in {grouped:?}");
    }
    assert!(!used.contains("zig") && !used.contains("api"), "{used:?}");
    // A planted breach in a copy of the real core is found.
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    copy_dir(&src, dir.path());
    let planted = dir.path().join("core/planted.rs");
    std::fs::write(&planted, "use crate::npm::packument;\n").unwrap();
    let found = breaches(dir.path());
    assert_eq!(found, ["core/planted.rs: core uses npm"], "{found:?}");
    // And an adapter reaching past the core's vocabulary into a use case.
    std::fs::remove_file(&planted).unwrap();
    let planted = dir.path().join("search/planted.rs");
    std::fs::write(&planted, "fn f() { crate::core::resolve::latest(); }\n").unwrap();
    let found = breaches(dir.path());
    assert_eq!(
        found,
        ["search/planted.rs: search uses core::resolve"],
        "{found:?}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
