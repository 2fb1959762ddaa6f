//! What the web UI shows: a package as one view whether it was published here or comes from
//! the upstream through the fallback, a Zig package, and the registry's overview (figures,
//! recent packages, the week's most downloaded). Read use cases over the same rules as every
//! other door: the reader's access decides, and proxied packages go through the fallback.

use std::collections::BTreeMap;

use serde_json::Value;
use time::OffsetDateTime;

use crate::core::Core;
use crate::core::access::{ReadRefused, Reader};
use crate::core::downloads::{self, Ecosystem};
use crate::core::names::PackageName;
use crate::core::resolve::{self, ResolveError, Source};
use crate::store::{DownloadCount, StoreError, ZigVersionRecord};

/// Where a package's versions come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Published here.
    Local,
    /// The upstream's, fetched through the fallback; `stale` when the upstream could not be
    /// asked and an older copy is shown.
    Proxied {
        upstream: String,
        stale: bool,
        /// When this copy was fetched from the upstream (RFC 3339).
        fetched_at: Option<String>,
    },
}

/// One version in a package's list.
#[derive(Debug, Clone)]
pub struct VersionRow {
    pub version: String,
    pub published_at: Option<String>,
    pub deprecated: Option<String>,
    /// The dist-tags that name it.
    pub tags: Vec<String>,
}

/// The facts of the version a package page shows (its latest).
#[derive(Debug, Clone, Default)]
pub struct Shown {
    pub version: String,
    pub description: Option<String>,
    pub deprecated: Option<String>,
    pub license: Option<String>,
    pub repository: Option<String>,
    pub homepage: Option<String>,
    pub keywords: Vec<String>,
    pub dependencies: Vec<(String, String)>,
    pub peer_dependencies: Vec<(String, String)>,
    pub optional_dependencies: Vec<(String, String)>,
    pub tarball_size: Option<u64>,
    pub unpacked_size: Option<u64>,
    pub file_count: Option<u64>,
    pub integrity: Option<String>,
    pub shasum: Option<String>,
}

/// An npm package as the web UI shows it.
#[derive(Debug, Clone)]
pub struct PackageView {
    pub name: String,
    pub origin: Origin,
    pub latest: Shown,
    /// The README (Markdown), the package's or its latest version's.
    pub readme: Option<String>,
    /// Newest first.
    pub versions: Vec<VersionRow>,
    pub dist_tags: BTreeMap<String, String>,
    /// Owners here, or the upstream's maintainers.
    pub maintainers: Vec<String>,
    /// How many users starred it (`npm star`): here, or on the upstream for a proxied package.
    pub stars: usize,
    pub downloads: Vec<DownloadCount>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `license` as a string or `{type}`.
fn license(m: &Value) -> Option<String> {
    text(&m["license"]).or_else(|| text(&m["license"]["type"]))
}

/// `repository` as a URL someone can open: `git+https://…x.git` becomes `https://…x`,
/// `github:user/repo` and `user/repo` become GitHub URLs.
pub fn repository_url(m: &Value) -> Option<String> {
    let raw = text(&m["repository"]).or_else(|| text(&m["repository"]["url"]))?;
    let url = raw
        .trim_start_matches("git+")
        .replace("git://", "https://")
        .replace("ssh://git@", "https://");
    let url = url.strip_suffix(".git").unwrap_or(&url).to_string();
    if let Some(path) = url.strip_prefix("github:") {
        return Some(format!("https://github.com/{path}"));
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Some(url);
    }
    let shorthand = url.split('/').count() == 2 && !url.contains(':');
    shorthand.then(|| format!("https://github.com/{url}"))
}

fn deps(m: &Value, key: &str) -> Vec<(String, String)> {
    m[key]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("*").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The page facts of one version's manifest (its `dist` too, when it has one).
fn shown(version: &str, m: &Value) -> Shown {
    Shown {
        version: version.to_string(),
        description: text(&m["description"]),
        deprecated: text(&m["deprecated"]),
        license: license(m),
        repository: repository_url(m),
        homepage: text(&m["homepage"]).filter(|h| h.starts_with("http")),
        keywords: m["keywords"]
            .as_array()
            .map(|k| k.iter().filter_map(text).collect())
            .unwrap_or_default(),
        dependencies: deps(m, "dependencies"),
        peer_dependencies: deps(m, "peerDependencies"),
        optional_dependencies: deps(m, "optionalDependencies"),
        tarball_size: None,
        unpacked_size: m["dist"]["unpackedSize"].as_u64(),
        file_count: m["dist"]["fileCount"].as_u64(),
        integrity: text(&m["dist"]["integrity"]),
        shasum: text(&m["dist"]["shasum"]),
    }
}

fn tags_of(dist_tags: &BTreeMap<String, String>, version: &str) -> Vec<String> {
    dist_tags
        .iter()
        .filter(|(_, v)| v.as_str() == version)
        .map(|(t, _)| t.clone())
        .collect()
}

/// Why a page has nothing to show.
#[derive(Debug, thiserror::Error)]
pub enum BrowseError {
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Refused(#[from] ReadRefused),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The npm package `name` as `reader` may see it.
pub async fn npm_package(
    core: &Core,
    reader: &Reader,
    name: &str,
) -> Result<PackageView, BrowseError> {
    let parsed = PackageName::parse(name, core.settings.limits.max_name_length)
        .map_err(|e| BrowseError::NotFound(e.to_string()))?;
    let mut view = match resolve::package(core, reader, &parsed).await? {
        Source::Local(pkg) => {
            let versions = resolve::versions_newest_first(core, parsed.as_str()).await?;
            let latest_number = pkg
                .dist_tags
                .get("latest")
                .cloned()
                .or_else(|| versions.first().map(|v| v.version.clone()))
                .unwrap_or_default();
            let latest = versions.iter().find(|v| v.version == latest_number);
            let (mut facts, readme) = match latest {
                Some(v) => {
                    let manifest = Value::Object(v.manifest.clone());
                    let mut facts = shown(&v.version, &manifest);
                    facts.tarball_size = Some(v.tarball.size);
                    facts.unpacked_size = Some(v.tarball.unpacked_size);
                    facts.file_count = Some(v.tarball.file_count);
                    facts.integrity = Some(v.tarball.integrity.clone());
                    facts.shasum = Some(v.tarball.sha1.clone());
                    (facts, text(&manifest["readme"]))
                }
                None => (Shown::default(), None),
            };
            facts.version = latest_number;
            let rows = versions
                .iter()
                .map(|v| VersionRow {
                    version: v.version.clone(),
                    published_at: Some(crate::core::timestamps::iso(v.published_at)),
                    deprecated: v.manifest.get("deprecated").and_then(text),
                    tags: tags_of(&pkg.dist_tags, &v.version),
                })
                .collect();
            PackageView {
                name: pkg.name.clone(),
                origin: Origin::Local,
                latest: facts,
                readme,
                versions: rows,
                dist_tags: pkg.dist_tags.clone(),
                maintainers: pkg.owners.clone(),
                stars: pkg.stars.len(),
                downloads: Vec::new(),
            }
        }
        Source::Proxied(proxied) => {
            let doc = proxied.doc.as_ref();
            let dist_tags: BTreeMap<String, String> = doc["dist-tags"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            let numbers: Vec<String> = doc["versions"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            let numbers = resolve::sort_newest_first(numbers);
            let latest_number = dist_tags
                .get("latest")
                .cloned()
                .or_else(|| numbers.first().cloned())
                .unwrap_or_default();
            let latest = &doc["versions"][&latest_number];
            let mut facts = shown(&latest_number, latest);
            facts.tarball_size = None;
            let rows = numbers
                .iter()
                .map(|n| VersionRow {
                    version: n.clone(),
                    published_at: text(&doc["time"][n]),
                    deprecated: text(&doc["versions"][n]["deprecated"]),
                    tags: tags_of(&dist_tags, n),
                })
                .collect();
            let maintainers = doc["maintainers"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|p| text(&p["name"]).or_else(|| text(p)))
                        .collect()
                })
                .unwrap_or_default();
            PackageView {
                name: parsed.as_str().to_string(),
                origin: Origin::Proxied {
                    upstream: core.settings.npm.upstream.clone(),
                    stale: proxied.freshness == crate::core::proxy::Freshness::Stale,
                    fetched_at: fetched_at(core, parsed.as_str()).await?,
                },
                latest: facts,
                readme: text(&doc["readme"]).or_else(|| text(&latest["readme"])),
                versions: rows,
                dist_tags,
                maintainers,
                stars: doc["users"].as_object().map_or(0, |users| {
                    users.values().filter(|starred| **starred == true).count()
                }),
                downloads: Vec::new(),
            }
        }
    };
    view.downloads = downloads::package_counts(core, reader, Ecosystem::Npm, parsed.as_str())
        .await?
        .unwrap_or_default();
    Ok(view)
}

/// Which packages published here depend on which (through their latest version's
/// dependencies, peer and optional dependencies): name → the packages that depend on it, by
/// name. Read whole; the web UI keeps it for a while.
pub async fn dependents(core: &Core) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pkg in core.store.list_packages().await? {
        let Some(latest) = pkg.dist_tags.get("latest") else {
            continue;
        };
        let Some(version) = core.store.version(&pkg.name, latest).await? else {
            continue;
        };
        let mut names: Vec<&String> = ["dependencies", "peerDependencies", "optionalDependencies"]
            .iter()
            .filter_map(|key| version.manifest.get(*key).and_then(Value::as_object))
            .flat_map(|deps| deps.keys())
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            out.entry(name.clone()).or_default().push(pkg.name.clone());
        }
    }
    Ok(out)
}

/// When the cached copy of the upstream package `name` was fetched (RFC 3339), if there is one.
pub async fn fetched_at(core: &Core, name: &str) -> Result<Option<String>, StoreError> {
    Ok(core
        .store
        .cached_packument(name)
        .await?
        .map(|c| crate::core::timestamps::iso(c.fetched_at)))
}

/// A Zig package as the web UI shows it.
#[derive(Debug, Clone)]
pub struct ZigView {
    pub name: String,
    pub owners: Vec<String>,
    pub latest: String,
    /// Newest first.
    pub versions: Vec<ZigVersionRecord>,
    pub downloads: Vec<DownloadCount>,
}

/// The Zig package `name` as `reader` may see it.
pub async fn zig_package(core: &Core, reader: &Reader, name: &str) -> Result<ZigView, BrowseError> {
    let not_found = || BrowseError::NotFound(format!("no Zig package {name}"));
    let Some(counts) = downloads::package_counts(core, reader, Ecosystem::Zig, name).await? else {
        return Err(not_found());
    };
    let Some(pkg) = core.store.zig_package(name).await? else {
        return Err(not_found());
    };
    let mut versions = core.store.zig_versions(name).await?;
    let order = resolve::sort_newest_first(versions.iter().map(|v| v.version.clone()).collect());
    versions.sort_by_key(|v| order.iter().position(|n| *n == v.version));
    Ok(ZigView {
        name: pkg.name,
        owners: pkg.owners,
        latest: pkg.latest,
        versions,
        downloads: counts,
    })
}

/// A package in the home page's lists.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub ecosystem: Ecosystem,
    pub version: String,
    pub at: OffsetDateTime,
}

/// The registry at a glance.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    pub packages: u64,
    pub versions: u64,
    pub zig_packages: u64,
    pub downloads_this_week: u64,
    pub cached_upstream: u64,
    /// Most recently published first.
    pub recent: Vec<Listed>,
    /// The week's most downloaded: (name, downloads), npm and Zig apart.
    pub popular_npm: Vec<(String, u64)>,
    pub popular_zig: Vec<(String, u64)>,
}

/// How many packages each home-page list shows.
const LISTED: usize = 10;

/// The overview `reader` may see: figures and lists leave out what it may not read.
pub async fn overview(core: &Core, reader: &Reader) -> Result<Overview, BrowseError> {
    let hidden = core.access.hidden(core, reader).await?;
    let store = &core.store;
    let mut out = Overview::default();
    let mut recent = Vec::new();
    for pkg in store.list_packages().await? {
        if !hidden.shows(&pkg.name, true) {
            continue;
        }
        out.packages += 1;
        out.versions += store.versions(&pkg.name).await?.len() as u64;
        if let Some(latest) = pkg.dist_tags.get("latest") {
            recent.push(Listed {
                name: pkg.name.clone(),
                ecosystem: Ecosystem::Npm,
                version: latest.clone(),
                at: pkg.updated_at,
            });
        }
    }
    for pkg in store.list_zig_packages().await? {
        if !hidden.shows(&pkg.name, true) {
            continue;
        }
        out.zig_packages += 1;
        recent.push(Listed {
            name: pkg.name.clone(),
            ecosystem: Ecosystem::Zig,
            version: pkg.latest.clone(),
            at: pkg.updated_at,
        });
    }
    recent.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.name.cmp(&b.name)));
    recent.truncate(LISTED);
    out.recent = recent;
    out.cached_upstream = store
        .list_cached_packuments()
        .await?
        .iter()
        .filter(|c| !c.missing && hidden.shows(&c.name, false))
        .count() as u64;

    core.downloads.flush_for_read(store).await;
    let week_start = downloads::utc_day(OffsetDateTime::now_utc() - time::Duration::days(6));
    let mut week = store.download_totals_since(&week_start).await?;
    week.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (key, n) in week {
        let (name, zig) = match key.strip_prefix(downloads::ZIG_KEY_PREFIX) {
            Some(zig) => (zig.to_string(), true),
            None => (key.clone(), false),
        };
        let local = zig || store.package(&name).await?.is_some();
        if !hidden.shows(&name, local) {
            continue;
        }
        out.downloads_this_week += n;
        let list = if zig {
            &mut out.popular_zig
        } else {
            &mut out.popular_npm
        };
        if list.len() < LISTED && n > 0 {
            list.push((name, n));
        }
    }
    Ok(out)
}
