//! Resolving a project's whole dependency tree into one flat install set: every transitive
//! dependency and required peer, one version per name, picked the way npm picks.
//!
//! npm's rules, as its resolver (arborist with npm-pick-manifest) applies them:
//! - a range or `*` takes the `latest` dist-tag's version when it fits and is not deprecated,
//!   else the highest fitting version, versions that are not deprecated first; a dist-tag takes
//!   the version it names;
//! - the tree is walked breadth first, edges in name order; an edge a placed version meets
//!   keeps it; one it does not meet replaces it when the new pick is not older and meets every
//!   edge seen into the name so far;
//! - `dependencies`, `optionalDependencies` (an optional one that cannot be found is left out)
//!   and `peerDependencies` are followed; an optional peer is installed only when something
//!   else brings it, and then must fit; bundled dependencies come inside their parent's
//!   tarball and are not listed.
//!
//! Where npm would nest a second copy of a name (two edges no single version meets), a flat set
//! cannot hold the tree, so resolution fails with [`TreeError::Conflict`] rather than answer
//! a set that installs a version some package does not accept. The version is then the only
//! place this differs from npm's lockfile, as no single version fits.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use futures_util::StreamExt;
use nodejs_semver::Version;
use serde_json::{Map, Value};

use super::spec::{self, Spec, Want};
use crate::core::Core;
use crate::core::access::Reader;
use crate::core::names::PackageName;
use crate::core::proxy::ProxyError;
use crate::core::resolve::{self, ResolveError, Source};
use crate::store::{StoreError, VersionRecord};

/// How far the walk may go: packages in the answer, packuments read at once.
#[derive(Debug, Clone, Copy)]
pub struct TreeLimits {
    pub max_packages: usize,
    pub concurrency: usize,
}

/// One package of the install set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked {
    /// The package's real name (differs from its key for an `npm:` alias).
    pub package: String,
    pub version: String,
    /// `sha512-…` (or `sha1-…` for an old upstream version without one).
    pub integrity: String,
    /// Published here, rather than the npm fallback's.
    pub local: bool,
}

/// The flat install set, by the name each package is installed under.
#[derive(Debug, Default)]
pub struct InstallSet {
    pub packages: BTreeMap<String, Picked>,
    /// Dependencies that are paths on the client's disk (`file:`, `link:`, `workspace:`):
    /// the client installs them itself.
    pub on_disk: Vec<String>,
}

/// Why a tree could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{name:?}: {why}")]
    BadEntry { name: String, why: String },
    #[error(
        "{name:?} ({spec}) is not from a registry: this registry resolves registry packages only (git repositories and URLs are fetched by the client)"
    )]
    Elsewhere { name: String, spec: String },
    #[error("no such package: {package}{}", by(.required_by))]
    NotFound {
        package: String,
        required_by: Option<String>,
    },
    #[error("no version of {package} matches {spec}{}", by(.required_by))]
    NoMatch {
        package: String,
        spec: String,
        required_by: Option<String>,
    },
    #[error(
        "{name} is needed at versions no single version fits ({}); npm would install two copies, which a flat install set cannot hold",
        .wanted.join(", ")
    )]
    Conflict { name: String, wanted: Vec<String> },
    #[error(
        "the tree did not settle on one version per name after {0} passes (each change of a placed version walks it again); npm would nest copies, which a flat install set cannot hold"
    )]
    Unsettled(usize),
    #[error("the tree has more than {0} packages")]
    TooLarge(usize),
    #[error("{0}")]
    SignInRequired(String),
    #[error("the npm fallback could not answer for {package}: {why}")]
    Unavailable { package: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn by(required_by: &Option<String>) -> String {
    required_by
        .as_ref()
        .map(|r| format!(" (required by {r})"))
        .unwrap_or_default()
}

/// Where a package's versions come from.
enum Versions {
    Local(HashMap<String, VersionRecord>),
    Upstream(Arc<Value>),
}

/// One package's versions and dist-tags, as the walk reads them.
struct Candidates {
    tags: Map<String, Value>,
    /// Newest first, with the version's key as the document spells it.
    versions: Vec<(Version, String)>,
    from: Versions,
}

impl Candidates {
    fn manifest(&self, version: &str) -> Option<&Map<String, Value>> {
        match &self.from {
            Versions::Local(records) => records.get(version).map(|r| &r.manifest),
            Versions::Upstream(doc) => doc.get("versions")?.get(version)?.as_object(),
        }
    }

    fn deprecated(&self, version: &str) -> bool {
        match self.manifest(version).and_then(|m| m.get("deprecated")) {
            Some(Value::String(why)) => !why.is_empty(),
            Some(Value::Bool(b)) => *b,
            _ => false,
        }
    }

    fn tagged(&self, tag: &str) -> Option<&(Version, String)> {
        let number = self.tags.get(tag)?.as_str()?;
        self.versions.iter().find(|(_, raw)| raw == number)
    }

    /// npm-pick-manifest's choice for `want`, among the versions `fits` also accepts.
    fn pick(&self, want: &Want, fits: impl Fn(&Version) -> bool) -> Option<&(Version, String)> {
        if let Want::Tag(tag) = want {
            return self.tagged(tag).filter(|(v, _)| fits(v));
        }
        if let Some(latest) = self.tagged("latest")
            && want.allows(&latest.0)
            && fits(&latest.0)
            && !self.deprecated(&latest.1)
        {
            return Some(latest);
        }
        let mut fitting = self.versions.iter().filter(|(v, _)| {
            fits(v)
                && match want {
                    Want::Any => !v.is_prerelease(),
                    _ => want.allows(v),
                }
        });
        let first = fitting.clone().next();
        fitting.find(|(_, raw)| !self.deprecated(raw)).or(first)
    }

    fn integrity(&self, version: &str) -> String {
        match &self.from {
            Versions::Local(records) => records
                .get(version)
                .map(|r| r.tarball.integrity.clone())
                .unwrap_or_default(),
            Versions::Upstream(_) => {
                let dist = self.manifest(version).and_then(|m| m.get("dist"));
                let field = |f: &str| dist.and_then(|d| d.get(f)).and_then(Value::as_str);
                match (field("integrity"), field("shasum")) {
                    (Some(sri), _) => sri.to_string(),
                    (None, Some(hex)) => super::sha1_sri(hex).unwrap_or_default(),
                    (None, None) => String::new(),
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prod,
    Optional,
    Peer,
    OptionalPeer,
}

/// A dependency of a placed package (or of the project).
#[derive(Debug, Clone)]
struct Edge {
    /// The name it is installed under.
    key: String,
    package: String,
    want: Want,
    spec: String,
    kind: Kind,
    /// `name@version` of the package that has it; `None` for the project.
    from: Option<String>,
}

impl Edge {
    fn describe(&self) -> String {
        let from = self.from.as_deref().unwrap_or("the project");
        format!("{} {} from {from}", self.key, self.spec)
    }
}

/// The edges of one version's manifest, in name order: peers, then dependencies, then
/// optional dependencies, a later kind taking the place of an earlier one of the same name
/// (as npm does); bundled dependencies left out.
fn edges_of(
    key: &str,
    version: &str,
    manifest: &Map<String, Value>,
) -> Result<Vec<Edge>, TreeError> {
    let from = format!("{key}@{version}");
    let mut by_name: BTreeMap<String, (String, Kind)> = BTreeMap::new();
    let meta = manifest
        .get("peerDependenciesMeta")
        .and_then(Value::as_object);
    let optional_peer = |name: &str| {
        meta.and_then(|m| m.get(name))
            .and_then(|m| m.get("optional"))
            .and_then(Value::as_bool)
            == Some(true)
    };
    for (field, kind) in [
        ("peerDependencies", Kind::Peer),
        ("dependencies", Kind::Prod),
        ("optionalDependencies", Kind::Optional),
    ] {
        let Some(map) = manifest.get(field).and_then(Value::as_object) else {
            continue;
        };
        for (name, range) in map {
            let Some(range) = range.as_str() else {
                continue;
            };
            let kind = if kind == Kind::Peer && optional_peer(name) {
                Kind::OptionalPeer
            } else {
                kind
            };
            by_name.insert(name.clone(), (range.to_string(), kind));
        }
    }
    let bundled: HashSet<&str> = match manifest
        .get("bundleDependencies")
        .or_else(|| manifest.get("bundledDependencies"))
    {
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        Some(Value::Bool(true)) => manifest
            .get("dependencies")
            .and_then(Value::as_object)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default(),
        _ => HashSet::new(),
    };
    let mut edges = Vec::new();
    for (name, (range, kind)) in by_name {
        if bundled.contains(name.as_str()) {
            continue;
        }
        match spec::parse(&name, &range) {
            Ok(Spec::Registry { package, want }) => edges.push(Edge {
                key: name,
                package,
                want,
                spec: range,
                kind,
                from: Some(from.clone()),
            }),
            // A published package that needs a path, a git repository or a URL: npm would
            // fetch it from there; an optional one is left out.
            Ok(_) | Err(_) if matches!(kind, Kind::Optional | Kind::OptionalPeer) => {}
            Ok(Spec::OnDisk | Spec::Elsewhere) => {
                return Err(TreeError::Elsewhere {
                    name: format!("{name} (required by {from})"),
                    spec: range,
                });
            }
            Err(why) => {
                return Err(TreeError::BadEntry {
                    name: format!("{name} (required by {from})"),
                    why,
                });
            }
        }
    }
    Ok(edges)
}

/// What one walk settled on, or the name whose version had to change (walk again).
enum Walk {
    Settled(BTreeMap<String, (String, String)>),
    Changed,
}

/// Resolves `dependencies` (name → what package.json says) into the flat install set, as
/// `reader` may read.
pub async fn resolve_tree(
    core: &Core,
    reader: &Reader,
    dependencies: &BTreeMap<String, String>,
    limits: TreeLimits,
) -> Result<InstallSet, TreeError> {
    let mut set = InstallSet::default();
    let mut roots = Vec::new();
    for (name, text) in dependencies {
        match spec::parse(name, text) {
            Ok(Spec::Registry { package, want }) => roots.push(Edge {
                key: name.clone(),
                package,
                want,
                spec: text.clone(),
                kind: Kind::Prod,
                from: None,
            }),
            Ok(Spec::OnDisk) => set.on_disk.push(name.clone()),
            Ok(Spec::Elsewhere) => {
                return Err(TreeError::Elsewhere {
                    name: name.clone(),
                    spec: text.clone(),
                });
            }
            Err(why) => {
                return Err(TreeError::BadEntry {
                    name: name.clone(),
                    why,
                });
            }
        }
    }
    let mut walker = Walker {
        core,
        reader,
        limits,
        loaded: HashMap::new(),
        forced: HashMap::new(),
    };
    // Each change of a placed version walks the tree again from the top (cheap: every
    // packument is read once); a tree that keeps changing its mind is a conflict.
    let rounds = MAX_PASSES;
    for _ in 0..rounds {
        if let Walk::Settled(placed) = walker.walk(&roots).await? {
            for (key, (package, version)) in placed {
                let integrity = walker.loaded[&package]
                    .as_ref()
                    .map(|c| c.integrity(&version))
                    .unwrap_or_default();
                let local = matches!(
                    walker.loaded[&package].as_ref().map(|c| &c.from),
                    Some(Versions::Local(_))
                );
                set.packages.insert(
                    key,
                    Picked {
                        package,
                        version,
                        integrity,
                        local,
                    },
                );
            }
            return Ok(set);
        }
    }
    Err(TreeError::Unsettled(rounds))
}

/// Most walks of one tree: a change of a placed version walks it again.
const MAX_PASSES: usize = 200;

struct Walker<'a> {
    core: &'a Core,
    reader: &'a Reader,
    limits: TreeLimits,
    /// Packuments read so far (`None`: no such package).
    loaded: HashMap<String, Option<Arc<Candidates>>>,
    /// Versions a previous pass had to change a name to: every pass starts from them.
    forced: HashMap<String, (String, String)>,
}

impl Walker<'_> {
    /// Reads the packuments of `packages` not read yet, several at once.
    async fn load(&mut self, packages: Vec<String>) -> Result<(), TreeError> {
        let missing: Vec<String> = packages
            .into_iter()
            .filter(|p| !self.loaded.contains_key(p))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let (core, reader) = (self.core, self.reader);
        let max_name = core.settings.limits.max_name_length;
        let mut reads = futures_util::stream::iter(missing.into_iter().map(|package| async move {
            let found = match PackageName::parse_legacy(&package, max_name) {
                Err(_) => Ok(None),
                Ok(name) => read_candidates(core, reader, &name).await,
            };
            (package, found)
        }))
        .buffer_unordered(self.limits.concurrency.max(1));
        while let Some((package, found)) = reads.next().await {
            let found = found?;
            self.loaded.insert(package, found.map(Arc::new));
        }
        Ok(())
    }

    async fn walk(&mut self, roots: &[Edge]) -> Result<Walk, TreeError> {
        let mut placed: BTreeMap<String, (String, String)> = self
            .forced
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut reached: HashSet<String> = HashSet::new();
        let mut seen: HashMap<String, Vec<Edge>> = HashMap::new();
        let mut optional_peers: Vec<Edge> = Vec::new();
        let mut level: Vec<Edge> = roots.to_vec();
        while !level.is_empty() {
            self.load(level.iter().map(|e| e.package.clone()).collect())
                .await?;
            let mut next: VecDeque<String> = VecDeque::new();
            for edge in level {
                if edge.kind == Kind::OptionalPeer {
                    optional_peers.push(edge);
                    continue;
                }
                let candidates = self.loaded[&edge.package].clone();
                let Some(candidates) = candidates else {
                    if edge.kind == Kind::Optional {
                        continue;
                    }
                    return Err(TreeError::NotFound {
                        package: edge.package.clone(),
                        required_by: edge.from.clone(),
                    });
                };
                let earlier = seen.entry(edge.key.clone()).or_default();
                if let Some((package, version)) = placed.get(&edge.key) {
                    if *package == edge.package && meets(&edge, version) {
                        earlier.push(edge.clone());
                        if reached.insert(edge.key.clone()) {
                            next.push_back(edge.key.clone());
                        }
                        continue;
                    }
                    // The placed version does not do: a newer pick that meets every edge so
                    // far replaces it, else the best version all of them accept.
                    let current = Version::parse(version).ok();
                    let all_fit = |v: &Version| {
                        earlier
                            .iter()
                            .all(|e| e.package == edge.package && e.want.allows(v))
                    };
                    let newer = candidates
                        .pick(&edge.want, |v| all_fit(v))
                        .filter(|(v, _)| current.as_ref().is_none_or(|c| v >= c));
                    let choice = newer.or_else(|| {
                        candidates.pick(&Want::Any, |v| all_fit(v) && edge.want.allows(v))
                    });
                    if let Some((_, raw)) = choice
                        && earlier.iter().all(|e| e.package == edge.package)
                    {
                        self.forced
                            .insert(edge.key.clone(), (edge.package.clone(), raw.clone()));
                        return Ok(Walk::Changed);
                    }
                    let mut wanted: Vec<String> = earlier.iter().map(Edge::describe).collect();
                    wanted.push(edge.describe());
                    return Err(TreeError::Conflict {
                        name: edge.key.clone(),
                        wanted,
                    });
                }
                let earlier_peers: Vec<&Edge> = optional_peers
                    .iter()
                    .filter(|p| p.key == edge.key && p.package == edge.package)
                    .collect();
                let picked = candidates
                    .pick(&edge.want, |v| {
                        earlier_peers.iter().all(|p| p.want.allows(v))
                    })
                    .or_else(|| candidates.pick(&edge.want, |_| true));
                let Some((_, raw)) = picked else {
                    if edge.kind == Kind::Optional {
                        continue;
                    }
                    return Err(TreeError::NoMatch {
                        package: edge.package.clone(),
                        spec: edge.spec.clone(),
                        required_by: edge.from.clone(),
                    });
                };
                placed.insert(edge.key.clone(), (edge.package.clone(), raw.clone()));
                earlier.push(edge.clone());
                reached.insert(edge.key.clone());
                next.push_back(edge.key.clone());
                if reached.len() > self.limits.max_packages {
                    return Err(TreeError::TooLarge(self.limits.max_packages));
                }
            }
            // The next level: the edges of every package placed on this one, packages in name
            // order, each one's edges in name order.
            let mut keys: Vec<String> = next.into_iter().collect();
            keys.sort();
            level = Vec::new();
            for key in keys {
                let (package, version) = &placed[&key];
                let candidates = self.loaded[package]
                    .clone()
                    .expect("placed from a packument");
                let manifest = candidates.manifest(version).cloned().unwrap_or_default();
                level.extend(edges_of(&key, version, &manifest)?);
            }
        }
        // Optional peers: not installed for their own sake, but when something else brought
        // the name, its version must fit.
        for peer in &optional_peers {
            let Some((package, version)) = placed.get(&peer.key) else {
                continue;
            };
            if !reached.contains(&peer.key) {
                continue;
            }
            let candidates = self.loaded[package].clone();
            if let Some(candidates) = candidates
                && *package == peer.package
                && !meets(peer, version)
            {
                let earlier = seen.get(&peer.key).cloned().unwrap_or_default();
                let fits =
                    |v: &Version| peer.want.allows(v) && earlier.iter().all(|e| e.want.allows(v));
                if let Some((_, raw)) = candidates.pick(&Want::Any, fits) {
                    self.forced
                        .insert(peer.key.clone(), (package.clone(), raw.clone()));
                    return Ok(Walk::Changed);
                }
                let mut wanted: Vec<String> = earlier.iter().map(Edge::describe).collect();
                wanted.push(peer.describe());
                return Err(TreeError::Conflict {
                    name: peer.key.clone(),
                    wanted,
                });
            }
        }
        placed.retain(|key, _| reached.contains(key));
        Ok(Walk::Settled(placed))
    }
}

/// Whether the placed `version` meets `edge`.
fn meets(edge: &Edge, version: &str) -> bool {
    Version::parse(version).is_ok_and(|v| edge.want.allows(&v))
}

/// The versions and dist-tags of `name`, as `reader` may read them; `None` when there is no
/// such package here or upstream.
async fn read_candidates(
    core: &Core,
    reader: &Reader,
    name: &PackageName,
) -> Result<Option<Candidates>, TreeError> {
    let source = match resolve::package(core, reader, name).await {
        Ok(source) => source,
        Err(ResolveError::NoSuchPackage | ResolveError::Proxy(ProxyError::NotFound)) => {
            return Ok(None);
        }
        Err(ResolveError::SignInRequired(why)) => return Err(TreeError::SignInRequired(why)),
        Err(ResolveError::Store(e)) => return Err(TreeError::Store(e)),
        Err(e) => {
            return Err(TreeError::Unavailable {
                package: name.to_string(),
                why: e.to_string(),
            });
        }
    };
    let candidates = match source {
        Source::Local(pkg) => {
            let records = core.store.versions(name.as_str()).await?;
            Candidates {
                tags: pkg
                    .dist_tags
                    .iter()
                    .map(|(t, v)| (t.clone(), Value::String(v.clone())))
                    .collect(),
                versions: sorted(records.iter().map(|r| r.version.clone())),
                from: Versions::Local(
                    records
                        .into_iter()
                        .map(|r| (r.version.clone(), r))
                        .collect(),
                ),
            }
        }
        Source::Proxied(up) => {
            let doc = up.doc.clone();
            Candidates {
                tags: doc
                    .get("dist-tags")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                versions: sorted(
                    doc.get("versions")
                        .and_then(Value::as_object)
                        .map(|v| v.keys().cloned().collect::<Vec<_>>())
                        .unwrap_or_default()
                        .into_iter(),
                ),
                from: Versions::Upstream(doc),
            }
        }
    };
    Ok(Some(candidates))
}

/// The versions that parse, newest first.
fn sorted(versions: impl Iterator<Item = String>) -> Vec<(Version, String)> {
    let mut parsed: Vec<(Version, String)> = versions
        .filter_map(|raw| Version::parse(&raw).ok().map(|v| (v, raw)))
        .collect();
    parsed.sort_by(|a, b| b.0.cmp(&a.0));
    parsed
}
