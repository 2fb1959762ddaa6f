//! Reading packages the npm way: packuments (full and abbreviated), one version, tarballs.
//!
//! Packuments carry a strong ETag per representation and answer `If-None-Match` with 304;
//! `Cache-Control: no-cache` makes clients revalidate, so a fresh publish is seen at once.
//! JSON is gzip'd when the client accepts it; tarballs are served exactly as stored.

use std::collections::HashMap;
use std::io::Write;

use poem::http::{StatusCode, header};
use poem::{Request, Response};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{NpmEndpoint, NpmResult};
use crate::core::Core;
use crate::core::access::Reader;
use crate::core::names::PackageName;
use crate::core::proxy::{Freshness, TarballSource};
use crate::core::resolve::{self, ResolvedTarball, Source, TarballRead};
use crate::error::ApiError;
use crate::store::{PackageRecord, VersionRecord};

pub const CORGI: &str = "application/vnd.npm.install-v1+json";

/// Fields an installer needs from each version (the abbreviated document keeps only these).
const INSTALL_FIELDS: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "engines",
    "funding",
    "_hasShrinkwrap",
    "hasInstallScript",
    "cpu",
    "os",
    "libc",
];

/// Manifest keys that are the client's bookkeeping, not the package's; never served.
const CLIENT_ONLY: &[&str] = &[
    "_resolved",
    "_from",
    "_integrity",
    "_attachments",
    "_shasum",
    "_where",
    "_args",
];

pub use crate::core::timestamps::iso;

/// The canonical tarball URL: `{public}/npm/{name}/-/{bare}-{version}.tgz`.
pub fn tarball_url(core: &Core, name: &str, version: &str) -> String {
    let bare = name.rsplit('/').next().unwrap_or(name);
    format!("{}/npm/{name}/-/{bare}-{version}.tgz", core.url_base())
}

fn has_install_script(manifest: &Map<String, Value>) -> bool {
    manifest
        .get("scripts")
        .and_then(Value::as_object)
        .is_some_and(|s| {
            ["preinstall", "install", "postinstall"]
                .iter()
                .any(|k| s.contains_key(*k))
        })
}

/// A package with everything needed to render it.
pub struct Loaded {
    pub package: PackageRecord,
    pub versions: Vec<VersionRecord>,
    /// User name -> email, for maintainers and publishers.
    pub emails: HashMap<String, String>,
}

/// What a packument of a local package is made from: its versions and people's emails.
pub async fn load(core: &Core, package: PackageRecord) -> Result<Loaded, ApiError> {
    let versions = core
        .store
        .versions(&package.name)
        .await
        .map_err(ApiError::internal)?;
    let mut emails = HashMap::new();
    let people = package
        .owners
        .iter()
        .chain(versions.iter().map(|v| &v.published_by));
    for user in people {
        if !emails.contains_key(user) {
            let email = core
                .store
                .user(user)
                .await
                .map_err(ApiError::internal)?
                .map(|u| u.email)
                .unwrap_or_default();
            emails.insert(user.clone(), email);
        }
    }
    Ok(Loaded {
        package,
        versions,
        emails,
    })
}

/// A local package, or the upstream's packument for a name with none (or the client's error).
async fn source(ep: &NpmEndpoint, reader: &Reader, name: &PackageName) -> Result<Source, ApiError> {
    let missing = || ApiError::not_found(format!("no such package available: {name}"));
    resolve::package(&ep.core, reader, name)
        .await
        .map_err(|e| e.into_api(missing, missing))
}

impl Loaded {
    fn person(&self, user: &str) -> Value {
        json!({"name": user, "email": self.emails.get(user).cloned().unwrap_or_default()})
    }

    /// One version as npm serves it: the manifest, our `dist`, `_id`, `_npmUser`.
    pub fn version_doc(&self, core: &Core, v: &VersionRecord) -> Map<String, Value> {
        let mut m = v.manifest.clone();
        for key in CLIENT_ONLY
            .iter()
            .chain(["readme", "readmeFilename", "dist"].iter())
        {
            m.remove(*key);
        }
        m.insert("name".into(), v.name.clone().into());
        m.insert("version".into(), v.version.clone().into());
        m.insert("_id".into(), format!("{}@{}", v.name, v.version).into());
        // npm's publish-time normalisation: a binding.gyp without its own install step gets
        // `node-gyp rebuild`, and that counts as an install script.
        if v.tarball.has_binding_gyp && !has_install_script(&m) {
            let scripts = m
                .entry("scripts")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(scripts) = scripts.as_object_mut() {
                scripts.insert("install".into(), "node-gyp rebuild".into());
            }
            m.insert("gypfile".into(), true.into());
        }
        if has_install_script(&m) {
            m.insert("hasInstallScript".into(), true.into());
        }
        m.insert("_hasShrinkwrap".into(), v.tarball.has_shrinkwrap.into());
        m.insert("_npmUser".into(), self.person(&v.published_by));
        m.insert(
            "dist".into(),
            json!({
                "tarball": tarball_url(core, &v.name, &v.version),
                "shasum": v.tarball.sha1,
                "integrity": v.tarball.integrity,
                "fileCount": v.tarball.file_count,
                "unpackedSize": v.tarball.unpacked_size,
            }),
        );
        m
    }

    fn latest(&self) -> Option<&VersionRecord> {
        let latest = self.package.dist_tags.get("latest")?;
        self.versions.iter().find(|v| &v.version == latest)
    }

    fn time(&self) -> Map<String, Value> {
        let mut time = Map::new();
        time.insert("created".into(), iso(self.package.created_at).into());
        time.insert("modified".into(), iso(self.package.updated_at).into());
        for v in &self.versions {
            time.insert(v.version.clone(), iso(v.published_at).into());
        }
        time
    }

    /// The full document (`Accept: application/json`, or none).
    pub fn full(&self, core: &Core) -> Value {
        let pkg = &self.package;
        let mut doc = Map::new();
        doc.insert("_id".into(), pkg.name.clone().into());
        doc.insert("_rev".into(), pkg.rev_string().into());
        doc.insert("name".into(), pkg.name.clone().into());
        doc.insert("dist-tags".into(), json!(pkg.dist_tags));
        let versions: Map<String, Value> = self
            .versions
            .iter()
            .map(|v| (v.version.clone(), Value::Object(self.version_doc(core, v))))
            .collect();
        doc.insert("versions".into(), Value::Object(versions));
        doc.insert("time".into(), Value::Object(self.time()));
        doc.insert(
            "maintainers".into(),
            Value::Array(pkg.owners.iter().map(|o| self.person(o)).collect()),
        );
        if let Some(latest) = self.latest() {
            for key in [
                "description",
                "keywords",
                "license",
                "homepage",
                "repository",
                "bugs",
                "author",
            ] {
                if let Some(v) = latest.manifest.get(key) {
                    doc.insert(key.into(), v.clone());
                }
            }
            doc.insert(
                "readme".into(),
                latest
                    .manifest
                    .get("readme")
                    .cloned()
                    .unwrap_or_else(|| "".into()),
            );
            if let Some(f) = latest.manifest.get("readmeFilename") {
                doc.insert("readmeFilename".into(), f.clone());
            }
        }
        doc.insert("modified".into(), iso(pkg.updated_at).into());
        Value::Object(doc)
    }

    /// The abbreviated ("corgi") document for installers.
    pub fn corgi(&self, core: &Core) -> Value {
        let versions: Map<String, Value> = self
            .versions
            .iter()
            .map(|v| {
                let full = self.version_doc(core, v);
                let mut small: Map<String, Value> = INSTALL_FIELDS
                    .iter()
                    .filter_map(|k| full.get(*k).map(|val| (k.to_string(), val.clone())))
                    .collect();
                small.insert("dist".into(), full["dist"].clone());
                (v.version.clone(), Value::Object(small))
            })
            .collect();
        json!({
            "name": self.package.name,
            "dist-tags": self.package.dist_tags,
            "versions": versions,
            "modified": iso(self.package.updated_at),
            "time": self.time(),
        })
    }
}

fn accepts_gzip(req: &Request) -> bool {
    req.headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|part| {
                let mut it = part.trim().split(';');
                let coding = it.next().unwrap_or("").trim();
                let refused = it.any(|p| p.trim().replace(' ', "") == "q=0");
                (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
            })
        })
}

fn etag_matches(req: &Request, candidates: &[&str]) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || candidates.contains(&t))
}

/// A metadata document with a strong ETag, `Vary`, optional gzip and 304 on a match.
pub fn cached_json(req: &Request, body: Vec<u8>, content_type: &str) -> Response {
    let tag = &hex::encode(Sha256::digest(&body))[..32];
    let plain = format!("\"{tag}\"");
    let gzipped = format!("\"{tag}-gz\"");
    let gzip = body.len() > 1024 && accepts_gzip(req);
    let etag = if gzip { &gzipped } else { &plain };
    let builder = Response::builder()
        .header(header::ETAG, etag.as_str())
        .header(header::VARY, "Accept, Accept-Encoding")
        .header(header::CACHE_CONTROL, "no-cache");
    if etag_matches(req, &[&plain, &gzipped]) {
        return builder.status(StatusCode::NOT_MODIFIED).finish();
    }
    let builder = builder.content_type(content_type);
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&body).expect("writing to a Vec");
        let compressed = enc.finish().expect("writing to a Vec");
        builder
            .header(header::CONTENT_ENCODING, "gzip")
            .body(compressed)
    } else {
        builder.body(body)
    }
}

fn wants_corgi(req: &Request) -> bool {
    let write = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "write=true"));
    !write
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains(CORGI))
}

/// Marks a response as coming through the fallback, and whether it may be out of date.
fn mark(mut resp: Response, freshness: Freshness) -> Response {
    let headers = resp.headers_mut();
    headers.insert("x-pantry-cache", freshness.header().parse().expect("ASCII"));
    if freshness == Freshness::Stale {
        headers.insert(
            header::WARNING,
            "110 pantry-registry \"Response is Stale\""
                .parse()
                .expect("ASCII"),
        );
    }
    resp
}

/// An upstream packument made ours: every `dist.tarball` points at this registry, and nothing
/// else changes (an `_attachments` with content is dropped: attachments are never served).
fn proxied_full(core: &Core, name: &PackageName, doc: &Value) -> Value {
    let mut doc = doc.clone();
    if let Some(obj) = doc.as_object_mut() {
        if obj
            .get("_attachments")
            .and_then(Value::as_object)
            .is_some_and(|a| !a.is_empty())
        {
            obj.remove("_attachments");
        }
        if let Some(versions) = obj.get_mut("versions").and_then(Value::as_object_mut) {
            for (version, manifest) in versions.iter_mut() {
                if let Some(dist) = manifest.get_mut("dist").and_then(Value::as_object_mut) {
                    dist.insert(
                        "tarball".into(),
                        tarball_url(core, name.as_str(), version).into(),
                    );
                }
            }
        }
    }
    doc
}

/// The abbreviated document of an upstream packument: npm's abbreviated fields with the
/// upstream's values, plus `time` (pnpm, yarn and bun read it for their release-age gates).
/// A field the upstream did not send is left out, never sent as `null`: bun refuses a whole
/// manifest over one `null` where it expects a string. The one value made here is the one the
/// npm registry makes at publish time: `hasInstallScript: true` for a version whose scripts
/// have an install step, when the upstream's document does not say (a mirror that dropped it).
fn proxied_corgi(core: &Core, name: &PackageName, doc: &Value) -> Value {
    let full = proxied_full(core, name, doc);
    let versions: Map<String, Value> = full
        .get("versions")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(v, m)| {
            let mut small: Map<String, Value> = INSTALL_FIELDS
                .iter()
                .chain(["dist"].iter())
                .filter_map(|k| m.get(*k).map(|val| (k.to_string(), val.clone())))
                .collect();
            if !small.contains_key("hasInstallScript")
                && m.as_object().is_some_and(has_install_script)
            {
                small.insert("hasInstallScript".into(), true.into());
            }
            (v.clone(), Value::Object(small))
        })
        .collect();
    let mut corgi = Map::new();
    corgi.insert("name".into(), name.as_str().into());
    corgi.insert(
        "dist-tags".into(),
        full.get("dist-tags").cloned().unwrap_or_else(|| json!({})),
    );
    corgi.insert("versions".into(), Value::Object(versions));
    if let Some(modified) = full
        .get("modified")
        .or_else(|| full.get("time").and_then(|t| t.get("modified")))
    {
        corgi.insert("modified".into(), modified.clone());
    }
    if let Some(time) = full.get("time") {
        corgi.insert("time".into(), time.clone());
    }
    Value::Object(corgi)
}

pub async fn get_packument(ep: &NpmEndpoint, req: &Request, pkg: &str) -> NpmResult {
    let reader = ep.reader(req).await?;
    let name = ep.read_name(pkg)?;
    let json_type = "application/json; charset=utf-8";
    let package = match source(ep, &reader, &name).await? {
        Source::Local(package) => package,
        Source::Proxied(up) => {
            let (doc, content_type) = if wants_corgi(req) {
                (proxied_corgi(&ep.core, &name, &up.doc), CORGI)
            } else {
                (proxied_full(&ep.core, &name, &up.doc), json_type)
            };
            let body = serde_json::to_vec(&doc).expect("JSON values serialize");
            return Ok(mark(cached_json(req, body, content_type), up.freshness));
        }
    };
    let loaded = load(&ep.core, package).await?;
    let (doc, content_type) = if wants_corgi(req) {
        (loaded.corgi(&ep.core), CORGI)
    } else {
        (loaded.full(&ep.core), json_type)
    };
    Ok(cached_json(
        req,
        serde_json::to_vec(&doc).expect("JSON values serialize"),
        content_type,
    ))
}

/// `GET /{pkg}/{version-or-tag}`: one version document.
pub async fn get_version(ep: &NpmEndpoint, req: &Request, pkg: &str, spec: &str) -> NpmResult {
    let reader = ep.reader(req).await?;
    let name = ep.read_name(pkg)?;
    let missing_version = || ApiError::not_found(format!("this version doesn't exist: {spec}"));
    let json_type = "application/json; charset=utf-8";
    let package = match source(ep, &reader, &name).await? {
        Source::Local(package) => package,
        Source::Proxied(up) => {
            let full = proxied_full(&ep.core, &name, &up.doc);
            let version = full
                .get("dist-tags")
                .and_then(|t| t.get(spec))
                .and_then(Value::as_str)
                .unwrap_or(spec);
            let doc = full
                .get("versions")
                .and_then(|v| v.get(version))
                .ok_or_else(missing_version)?;
            let body = serde_json::to_vec(doc).expect("JSON values serialize");
            return Ok(mark(cached_json(req, body, json_type), up.freshness));
        }
    };
    let loaded = load(&ep.core, package).await?;
    let version = loaded
        .package
        .dist_tags
        .get(spec)
        .map(String::as_str)
        .unwrap_or(spec);
    let v = loaded
        .versions
        .iter()
        .find(|v| v.version == version)
        .ok_or_else(missing_version)?;
    let doc = Value::Object(loaded.version_doc(&ep.core, v));
    Ok(cached_json(
        req,
        serde_json::to_vec(&doc).expect("JSON values serialize"),
        json_type,
    ))
}

/// `GET|HEAD /{pkg}/-/{bare}-{version}.tgz`: the stored bytes, counted as a download on GET.
/// For a name with no local package, the upstream's tarball through the cache.
pub async fn get_tarball(ep: &NpmEndpoint, req: &Request, pkg: &str, file: &str) -> NpmResult {
    let reader = ep.reader(req).await?;
    let name = ep.read_name(pkg)?;
    let missing = || ApiError::not_found(format!("no such file available: {file}"));
    let version = version_of_file(&name, file).ok_or_else(missing)?;
    let read = match req.data::<crate::http::edge::HeadRequest>() {
        Some(_) => TarballRead::Head,
        None => TarballRead::Get,
    };
    let found = resolve::tarball(&ep.core, &reader, &name, version)
        .await
        .map_err(|e| e.into_api(missing, missing))?;
    let mut builder = Response::builder().content_type("application/octet-stream");
    if let ResolvedTarball::Local(record) = &found {
        let etag = format!("\"{}\"", record.tarball.sha256);
        builder = builder
            .header(header::CACHE_CONTROL, crate::http::IMMUTABLE)
            .header(header::CONTENT_LENGTH, record.tarball.size);
        if etag_matches(req, &[&etag]) {
            return Ok(builder
                .header(header::ETAG, etag)
                .status(StatusCode::NOT_MODIFIED)
                .finish());
        }
        builder = builder.header(header::ETAG, etag);
    }
    let (local, blob) = match &found {
        ResolvedTarball::Local(r) => (true, r.tarball.sha256.clone()),
        ResolvedTarball::Proxied { .. } => (false, String::new()),
    };
    let Some((source, downloaded)) = found
        .content(&ep.core, read)
        .await
        .map_err(|e| ApiError::blob_unreadable(&format!("{name}@{version}"), &blob, &e))?
    else {
        return Ok(builder.finish());
    };
    if !local {
        match &source {
            // A kept upstream tarball never changes either.
            TarballSource::Stored(_) => {
                builder = builder.header(header::CACHE_CONTROL, crate::http::IMMUTABLE)
            }
            TarballSource::Streaming { size: Some(n), .. } => {
                builder = builder.header(header::CONTENT_LENGTH, *n)
            }
            TarballSource::Streaming { size: None, .. } => {}
        }
    }
    Ok(builder.body(crate::http::download::tarball_body(source, downloaded)))
}

/// Parses a tarball file name of `name` into its version.
pub fn version_of_file<'a>(name: &PackageName, file: &'a str) -> Option<&'a str> {
    file.strip_prefix(name.bare())?
        .strip_prefix('-')?
        .strip_suffix(".tgz")
}
