//! Reading packages the npm way: packuments (full and abbreviated), one version, tarballs.
//!
//! Packuments carry a strong ETag per representation and answer `If-None-Match` with 304;
//! `Cache-Control: no-cache` makes clients revalidate, so a fresh publish is seen at once.
//! JSON is gzip'd when the client accepts it; tarballs are served exactly as stored.

use std::collections::HashMap;

use poem::http::{StatusCode, header};
use poem::{Request, Response};
use serde_json::{Map, Value, json};

use super::{NpmEndpoint, NpmResult};
use crate::core::Core;
use crate::core::access::Reader;
use crate::core::names::PackageName;
use crate::core::proxy::{Freshness, TarballSource};
use crate::core::rendered::Rendered;
use crate::core::resolve::{self, ResolvedTarball, Source, TarballRead};
use crate::error::ApiError;
use crate::http::download::ByteRange;
use crate::store::{PackageRecord, VersionRecord};

pub const CORGI: &str = "application/vnd.npm.install-v1+json";
const JSON_TYPE: &str = "application/json; charset=utf-8";

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

pub use crate::core::tarball_url;

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
        if !pkg.stars.is_empty() {
            let users: Map<String, Value> = pkg
                .stars
                .iter()
                .map(|u| (u.clone(), Value::Bool(true)))
                .collect();
            doc.insert("users".into(), Value::Object(users));
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

/// A metadata document with a strong ETag, `Vary`, optional gzip and 304 on a match, for a
/// document not kept rendered.
pub fn cached_json(req: &Request, body: Vec<u8>, content_type: &str) -> Response {
    let rendered = Rendered::new(body, true, crate::core::rendered::Stamp::UNKEPT);
    respond(req, &rendered, content_type, None)
}

/// Answers with a rendering: its ETag (`-gz` for the gzip'd form), 304 when the client has
/// either form, the gzip'd bytes when the client accepts them, and the fallback's marks.
fn respond(
    req: &Request,
    rendered: &Rendered,
    content_type: &str,
    freshness: Option<Freshness>,
) -> Response {
    let plain = format!("\"{}\"", rendered.digest);
    let gzipped = format!("\"{}-gz\"", rendered.digest);
    let gzip = rendered.gzip.as_ref().filter(|_| accepts_gzip(req));
    let etag = if gzip.is_some() { &gzipped } else { &plain };
    let builder = Response::builder()
        .header(header::ETAG, etag.as_str())
        .header(header::VARY, "Accept, Accept-Encoding")
        .header(header::CACHE_CONTROL, "no-cache");
    let resp = if etag_matches(req, &[&plain, &gzipped]) {
        builder.status(StatusCode::NOT_MODIFIED).finish()
    } else {
        let builder = builder.content_type(content_type);
        match gzip {
            Some(bytes) => builder
                .header(header::CONTENT_ENCODING, "gzip")
                .body(bytes.clone()),
            None => builder.body(rendered.body.clone()),
        }
    };
    match freshness {
        Some(f) => mark(resp, f),
        None => resp,
    }
}

/// What a view of a package is rendered from.
enum Made {
    Local(Loaded),
    Proxied(crate::core::proxy::Proxied),
}

/// Serves `view` of `name` from its kept rendering, or renders it with `render` (off the async
/// runtime) and keeps it until the package changes (an upstream copy, until it must be
/// revalidated). The access rules apply either way.
async fn serve_view(
    ep: &NpmEndpoint,
    req: &Request,
    reader: &Reader,
    name: &PackageName,
    view: String,
    content_type: &'static str,
    render: impl FnOnce(&Core, &Made) -> Result<Value, ApiError> + Send + 'static,
) -> NpmResult {
    let core = &ep.core;
    if let Some(hit) = core.rendered.get(name.as_str(), &view) {
        core.access
            .rendered(core, reader, name.as_str(), hit.local)
            .await?;
        let freshness = (!hit.local).then_some(Freshness::Hit);
        return Ok(respond(req, &hit, content_type, freshness));
    }
    let stamp = core.rendered.stamp(name.as_str());
    let made = match source(ep, reader, name).await? {
        Source::Local(package) => Made::Local(load(core, package).await?),
        Source::Proxied(up) => Made::Proxied(up),
    };
    let base = core.url_base();
    let shared = ep.core.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        crate::core::REQUEST_BASE.sync_scope(base, || {
            let body = serde_json::to_vec(&render(&shared, &made)?).expect("JSON values serialize");
            Ok::<_, ApiError>(match &made {
                Made::Local(_) => (Rendered::new(body, true, stamp), None),
                Made::Proxied(up) => {
                    let left = up
                        .fresh_until
                        .map(|until| until - time::OffsetDateTime::now_utc())
                        .and_then(|d| std::time::Duration::try_from(d).ok());
                    let rendered = Rendered::new(body, false, stamp);
                    match left {
                        Some(left) => (
                            rendered.upstream(up.freshness, std::time::Instant::now() + left),
                            Some(up.freshness),
                        ),
                        // A stale copy is served, never kept.
                        None => (rendered, Some(up.freshness)),
                    }
                }
            })
        })
    })
    .await
    .map_err(ApiError::internal)??;
    let (rendered, freshness) = rendered;
    let rendered = std::sync::Arc::new(rendered);
    if rendered.local || rendered.expires.is_some() {
        core.rendered.put(name.as_str(), &view, rendered.clone());
    }
    Ok(respond(req, &rendered, content_type, freshness))
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
    let corgi = wants_corgi(req);
    let (form, content_type) = if corgi {
        ("corgi", CORGI)
    } else {
        ("full", JSON_TYPE)
    };
    let view = format!("npm:{form}|{}", ep.core.url_base());
    let owned = name.clone();
    serve_view(
        ep,
        req,
        &reader,
        &name,
        view,
        content_type,
        move |core, made| {
            Ok(match (made, corgi) {
                (Made::Local(loaded), true) => loaded.corgi(core),
                (Made::Local(loaded), false) => loaded.full(core),
                (Made::Proxied(up), true) => proxied_corgi(core, &owned, &up.doc),
                (Made::Proxied(up), false) => proxied_full(core, &owned, &up.doc),
            })
        },
    )
    .await
}

/// `GET /{pkg}/{version-or-tag}`: one version document.
pub async fn get_version(ep: &NpmEndpoint, req: &Request, pkg: &str, spec: &str) -> NpmResult {
    let reader = ep.reader(req).await?;
    let name = ep.read_name(pkg)?;
    let view = format!("npm:version:{spec}|{}", ep.core.url_base());
    let owned = name.clone();
    let spec = spec.to_string();
    serve_view(
        ep,
        req,
        &reader,
        &name,
        view,
        JSON_TYPE,
        move |core, made| {
            let missing_version =
                || ApiError::not_found(format!("this version doesn't exist: {spec}"));
            match made {
                Made::Proxied(up) => {
                    let full = proxied_full(core, &owned, &up.doc);
                    let version = full
                        .get("dist-tags")
                        .and_then(|t| t.get(&spec))
                        .and_then(Value::as_str)
                        .unwrap_or(&spec);
                    full.get("versions")
                        .and_then(|v| v.get(version))
                        .cloned()
                        .ok_or_else(missing_version)
                }
                Made::Local(loaded) => {
                    let version = loaded
                        .package
                        .dist_tags
                        .get(&spec)
                        .map(String::as_str)
                        .unwrap_or(&spec);
                    let v = loaded
                        .versions
                        .iter()
                        .find(|v| v.version == version)
                        .ok_or_else(missing_version)?;
                    Ok(Value::Object(loaded.version_doc(core, v)))
                }
            }
        },
    )
    .await
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
    let view = format!("tarball:{version}");
    if let Some(kept) = ep.core.rendered.get(name.as_str(), &view) {
        ep.core
            .access
            .rendered(&ep.core, &reader, name.as_str(), true)
            .await?;
        return Ok(tarball_from_memory(ep, req, &name, version, &kept, read));
    }
    let stamp = ep.core.rendered.stamp(name.as_str());
    let found = resolve::tarball(&ep.core, &reader, &name, version)
        .await
        .map_err(|e| e.into_api(missing, missing))?;
    if let ResolvedTarball::Local(record) = &found
        && record.tarball.size <= KEPT_TARBALL_BYTES
        && let Some(key) = crate::blobs::BlobKey::parse(&record.tarball.sha256)
    {
        let bytes = ep.core.blobs.get(&key).await.map_err(|e| {
            ApiError::blob_unreadable(&format!("{name}@{version}"), key.as_str(), &e)
        })?;
        let kept = std::sync::Arc::new(Rendered::file(bytes, record.tarball.sha256.clone(), stamp));
        ep.core.rendered.put(name.as_str(), &view, kept.clone());
        return Ok(tarball_from_memory(ep, req, &name, version, &kept, read));
    }
    let mut builder = Response::builder().content_type("application/octet-stream");
    if let ResolvedTarball::Local(record) = &found {
        let etag = format!("\"{}\"", record.tarball.sha256);
        let size = record.tarball.size;
        builder = builder
            .header(header::CACHE_CONTROL, crate::http::IMMUTABLE)
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::ETAG, etag.as_str());
        if etag_matches(req, &[&etag]) {
            return Ok(builder.status(StatusCode::NOT_MODIFIED).finish());
        }
        let range = match read {
            TarballRead::Get => ByteRange::of(req.headers(), size, &etag),
            TarballRead::Head => ByteRange::Whole,
        };
        match range {
            ByteRange::Whole => builder = builder.header(header::CONTENT_LENGTH, size),
            ByteRange::Unsatisfiable => {
                let mut resp = ApiError::range_not_satisfiable(size).into_npm_response();
                resp.headers_mut().insert(
                    header::CONTENT_RANGE,
                    format!("bytes */{size}").parse().expect("ASCII"),
                );
                return Ok(resp);
            }
            ByteRange::Part { start, end } => {
                let blob = record.tarball.sha256.clone();
                let part = resolve::tarball_part(&ep.core, record, start, end - start + 1)
                    .await
                    .map_err(|e| {
                        ApiError::blob_unreadable(&format!("{name}@{version}"), &blob, &e)
                    })?;
                return Ok(builder
                    .status(StatusCode::PARTIAL_CONTENT)
                    .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"))
                    .header(header::CONTENT_LENGTH, end - start + 1)
                    .body(crate::http::download::blob_body(part)));
            }
        }
    }
    let (local, blob) = match &found {
        ResolvedTarball::Local(r) => (true, r.tarball.sha256.clone()),
        ResolvedTarball::Proxied { .. } => (false, String::new()),
    };
    let redirect = match found.redirectable(read) {
        Some(target) => target
            .url(&ep.core)
            .await
            .map_err(|e| ApiError::blob_unreadable(&format!("{name}@{version}"), &blob, &e))?,
        None => None,
    };
    if let Some(url) = redirect {
        return Ok(Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, url)
            // The URL expires; the tarball it names does not.
            .header(header::CACHE_CONTROL, "private, max-age=60")
            .finish());
    }
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

/// Tarballs published here up to this size are kept in memory with the renderings, so a
/// repeated download reads neither the store nor the disk.
const KEPT_TARBALL_BYTES: u64 = 64 * 1024;

/// A local tarball kept in memory: its ETag and 304, a single range, or the whole of it
/// (counted as a download on GET).
fn tarball_from_memory(
    ep: &NpmEndpoint,
    req: &Request,
    name: &PackageName,
    version: &str,
    kept: &Rendered,
    read: TarballRead,
) -> Response {
    let etag = format!("\"{}\"", kept.digest);
    let size = kept.body.len() as u64;
    let builder = Response::builder()
        .content_type("application/octet-stream")
        .header(header::CACHE_CONTROL, crate::http::IMMUTABLE)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, etag.as_str());
    if etag_matches(req, &[&etag]) {
        return builder.status(StatusCode::NOT_MODIFIED).finish();
    }
    if read == TarballRead::Head {
        return builder.header(header::CONTENT_LENGTH, size).finish();
    }
    match ByteRange::of(req.headers(), size, &etag) {
        ByteRange::Whole => {
            crate::core::downloads::count_download(&ep.core, name.as_str(), version)();
            builder.body(kept.body.clone())
        }
        ByteRange::Part { start, end } => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"))
            .body(kept.body.slice(start as usize..=end as usize)),
        ByteRange::Unsatisfiable => {
            let mut resp = ApiError::range_not_satisfiable(size).into_npm_response();
            resp.headers_mut().insert(
                header::CONTENT_RANGE,
                format!("bytes */{size}").parse().expect("ASCII"),
            );
            resp
        }
    }
}

/// Parses a tarball file name of `name` into its version.
pub fn version_of_file<'a>(name: &PackageName, file: &'a str) -> Option<&'a str> {
    file.strip_prefix(name.bare())?
        .strip_prefix('-')?
        .strip_suffix(".tgz")
}
