//! What the index holds about one package, read from the store: its latest version's
//! description, keywords, people, links and readme, whether it is deprecated, where it comes
//! from, and its downloads in the last 30 days.

use crate::core::timestamps::iso;
use serde_json::{Map, Value};

use super::{DocKey, Ecosystem, Origin};
use crate::config::NpmSettings;
use crate::store::{MetadataStore, StoreResult};

/// How much of a readme is indexed.
pub const README_EXCERPT_BYTES: usize = 4096;

/// One package as the index knows it. Stored (without the readme) as the document's payload.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchDoc {
    pub ecosystem: Ecosystem,
    pub name: String,
    /// The `latest` version.
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    /// The author's name from the manifest.
    pub author: Option<String>,
    /// Who published the latest version.
    pub publisher: Option<String>,
    /// Owners' user names.
    pub maintainers: Vec<String>,
    /// The deprecation message of the latest version.
    pub deprecated: Option<String>,
    pub origin: Origin,
    /// Downloads in the last 30 UTC days, today included.
    pub downloads_30d: u64,
    /// When the package last changed (RFC 3339).
    pub date: Option<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
    pub repository: Option<String>,
    pub bugs: Option<String>,
    #[serde(skip)]
    pub readme: String,
}

impl SearchDoc {
    pub fn key(&self) -> DocKey {
        DocKey::new(self.ecosystem, &self.name)
    }

    /// The scope without `@`, for scoped names.
    pub fn scope(&self) -> Option<&str> {
        crate::core::names::scope_of(&self.name).map(|s| &s[1..])
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A string, or an object's `field` (`author.name`, `repository.url`).
fn text_or_field(v: Option<&Value>, field: &str) -> Option<String> {
    match v {
        Some(Value::Object(o)) => text(o.get(field)),
        other => text(other),
    }
}

fn keywords(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => s
            .split([',', ' '])
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn excerpt(readme: &str) -> String {
    let mut end = readme.len().min(README_EXCERPT_BYTES);
    while !readme.is_char_boundary(end) {
        end -= 1;
    }
    readme[..end].to_string()
}

/// Fills the fields a package.json-like manifest carries.
fn from_manifest(
    key: &DocKey,
    origin: Origin,
    manifest: &Map<String, Value>,
    readme: Option<&str>,
) -> SearchDoc {
    SearchDoc {
        ecosystem: key.ecosystem,
        name: key.name.clone(),
        version: text(manifest.get("version")).unwrap_or_default(),
        description: text(manifest.get("description")).unwrap_or_default(),
        keywords: keywords(manifest.get("keywords")),
        author: text_or_field(manifest.get("author"), "name"),
        publisher: None,
        maintainers: Vec::new(),
        deprecated: text(manifest.get("deprecated")),
        origin,
        downloads_30d: 0,
        date: None,
        license: text_or_field(manifest.get("license"), "type"),
        homepage: text(manifest.get("homepage")),
        repository: text_or_field(manifest.get("repository"), "url"),
        bugs: text_or_field(manifest.get("bugs"), "url"),
        readme: excerpt(
            readme
                .or_else(|| manifest.get("readme").and_then(Value::as_str))
                .unwrap_or(""),
        ),
    }
}

/// Reads a package from the store as the index should show it; `None` when it should not be
/// in the index (never published, wholly unpublished, or an upstream package we may not serve).
pub async fn load(
    store: &dyn MetadataStore,
    npm: &NpmSettings,
    key: &DocKey,
    downloads_30d: u64,
) -> StoreResult<Option<SearchDoc>> {
    let doc = match key.ecosystem {
        Ecosystem::Npm => load_npm(store, npm, key).await?,
        Ecosystem::Zig => load_zig(store, key).await?,
    };
    Ok(doc.map(|mut d| {
        d.downloads_30d = downloads_30d;
        d
    }))
}

async fn load_npm(
    store: &dyn MetadataStore,
    npm: &NpmSettings,
    key: &DocKey,
) -> StoreResult<Option<SearchDoc>> {
    if let Some(pkg) = store.package(&key.name).await? {
        let Some(latest) = pkg.dist_tags.get("latest") else {
            return Ok(None);
        };
        let Some(v) = store.version(&key.name, latest).await? else {
            return Ok(None);
        };
        let mut doc = from_manifest(key, Origin::Local, &v.manifest, None);
        doc.publisher = Some(v.published_by.clone());
        doc.maintainers = pkg.owners.clone();
        doc.date = Some(iso(pkg.updated_at));
        return Ok(Some(doc));
    }
    // Only upstream packages this registry would serve: not with the fallback off, not in a
    // scope of ours, not under a name once published here.
    if !crate::core::proxy::may_proxy(npm, store, &key.name).await? {
        return Ok(None);
    }
    let Some(cached) = store.cached_packument(&key.name).await? else {
        return Ok(None);
    };
    if cached.missing {
        return Ok(None);
    }
    let key = key.clone();
    let body = cached.body;
    tokio::task::spawn_blocking(move || cached_doc(&key, &body))
        .await
        .map_err(|e| crate::store::StoreError::Backend(e.to_string()))
}

/// A cached upstream packument (zstd'd JSON) as a search document.
fn cached_doc(key: &DocKey, body: &[u8]) -> Option<SearchDoc> {
    let json = zstd::decode_all(body).ok()?;
    let packument: Map<String, Value> = serde_json::from_slice(&json).ok()?;
    let latest = packument
        .get("dist-tags")
        .and_then(|t| t.get("latest"))
        .and_then(Value::as_str)?;
    let manifest = packument
        .get("versions")
        .and_then(|v| v.get(latest))
        .and_then(Value::as_object)?;
    let readme = packument.get("readme").and_then(Value::as_str);
    let mut doc = from_manifest(key, Origin::Cached, manifest, readme);
    if doc.description.is_empty() {
        doc.description = text(packument.get("description")).unwrap_or_default();
    }
    doc.publisher = manifest
        .get("_npmUser")
        .and_then(|u| text_or_field(Some(u), "name"));
    doc.maintainers = packument
        .get("maintainers")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|p| text_or_field(Some(p), "name"))
                .collect()
        })
        .unwrap_or_default();
    doc.date = packument
        .get("time")
        .and_then(|t| t.get("modified").or_else(|| t.get(latest)))
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(doc)
}

async fn load_zig(store: &dyn MetadataStore, key: &DocKey) -> StoreResult<Option<SearchDoc>> {
    let Some(pkg) = store.zig_package(&key.name).await? else {
        return Ok(None);
    };
    let Some(v) = store.zig_version(&key.name, &pkg.latest).await? else {
        return Ok(None);
    };
    Ok(Some(SearchDoc {
        ecosystem: Ecosystem::Zig,
        name: key.name.clone(),
        version: v.version.clone(),
        description: v.description.clone().unwrap_or_default(),
        keywords: Vec::new(),
        author: Some(v.published_by.clone()),
        publisher: Some(v.published_by.clone()),
        maintainers: pkg.owners.clone(),
        deprecated: None,
        origin: Origin::Local,
        downloads_30d: 0,
        date: Some(iso(pkg.updated_at)),
        license: None,
        homepage: None,
        repository: None,
        bugs: None,
        readme: String::new(),
    }))
}

/// Every package the index should hold: local npm packages, cached upstream packages, Zig
/// packages.
pub async fn all_keys(store: &dyn MetadataStore) -> StoreResult<Vec<DocKey>> {
    let mut keys: Vec<DocKey> = store
        .list_packages()
        .await?
        .iter()
        .map(|p| DocKey::new(Ecosystem::Npm, &p.name))
        .collect();
    let local: std::collections::HashSet<String> = keys.iter().map(|k| k.name.clone()).collect();
    for (cached, _) in store.list_cached_packuments().await? {
        if !cached.missing && !local.contains(&cached.name) {
            keys.push(DocKey::new(Ecosystem::Npm, &cached.name));
        }
    }
    for z in store.list_zig_packages().await? {
        keys.push(DocKey::new(Ecosystem::Zig, &z.name));
    }
    Ok(keys)
}
