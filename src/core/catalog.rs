//! The registry's packages as the search index shows them: the [`Documents`] port, read from
//! the metadata store and the cached upstream packuments, under the proxy policy (an upstream
//! package this registry would not serve is not found either).

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::blobs::BlobStore;
use crate::config::NpmSettings;
use crate::core::timestamps::iso;
use crate::search::{DocKey, Documents, Ecosystem, Origin, SearchDoc};
use crate::store::{MetadataStore, StoreError, StoreResult};

/// [`Documents`] over the registry's stores.
pub struct Catalog {
    pub store: std::sync::Arc<dyn MetadataStore>,
    pub blobs: std::sync::Arc<dyn BlobStore>,
    pub npm: NpmSettings,
}

#[async_trait]
impl Documents for Catalog {
    async fn keys(&self) -> StoreResult<Vec<DocKey>> {
        all_keys(self.store.as_ref()).await
    }

    async fn document(&self, key: &DocKey) -> StoreResult<Option<SearchDoc>> {
        match key.ecosystem {
            Ecosystem::Npm => {
                load_npm(self.store.as_ref(), self.blobs.as_ref(), &self.npm, key).await
            }
            Ecosystem::Zig => load_zig(self.store.as_ref(), key).await,
        }
    }

    fn policy(&self) -> String {
        format!(
            "fallback={} local_scopes={} local_names={}",
            self.npm.fallback,
            self.npm.local_scopes.join(","),
            self.npm.local_names.join(",")
        )
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
    let mut end = readme.len().min(crate::search::README_EXCERPT_BYTES);
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

async fn load_npm(
    store: &dyn MetadataStore,
    blobs: &dyn BlobStore,
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
    let packument = match crate::core::proxy::cache::read_body(blobs, &cached).await {
        Ok(Some(doc)) => doc,
        Ok(None) => return Ok(None),
        Err(crate::core::proxy::ProxyError::Store(e)) => return Err(e),
        Err(e) => return Err(StoreError::Unavailable(e.to_string())),
    };
    Ok(cached_doc(key, &packument))
}

/// A cached upstream packument as a search document.
fn cached_doc(key: &DocKey, packument: &Value) -> Option<SearchDoc> {
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
async fn all_keys(store: &dyn MetadataStore) -> StoreResult<Vec<DocKey>> {
    let mut keys: Vec<DocKey> = store
        .list_packages()
        .await?
        .iter()
        .map(|p| DocKey::new(Ecosystem::Npm, &p.name))
        .collect();
    let local: std::collections::HashSet<String> = keys.iter().map(|k| k.name.clone()).collect();
    for cached in store.list_cached_packuments().await? {
        if !cached.missing && !local.contains(&cached.name) {
            keys.push(DocKey::new(Ecosystem::Npm, &cached.name));
        }
    }
    for z in store.list_zig_packages().await? {
        keys.push(DocKey::new(Ecosystem::Zig, &z.name));
    }
    Ok(keys)
}
