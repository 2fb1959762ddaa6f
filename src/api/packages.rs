//! Reading packages: `/packages/{name}`, `/{version}`, `/versions`, `/{version}/tarball`.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use super::ApiTags;
use super::auth::ApiReader;
use crate::api_error_variants;
use crate::core::Core;
use crate::core::access::Reader;
use crate::core::names::PackageName;
use crate::core::rendered::Rendered;
use crate::core::resolve::{self, ResolvedTarball, ResolvedVersion, TarballRead, Wanted};
use crate::error::{ApiError, ErrorBody};
use crate::http::download::ByteRange;
use crate::store::ProxiedTarball;
use crate::store::VersionRecord;
use poem::Body;

/// One version of a package, in the seed's shape.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct PackageMetadata {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    /// The repository URL (`repository.url` when package.json has an object).
    pub repository: Option<String>,
    pub homepage: Option<String>,
    /// The license (`license.type` when package.json has an object).
    pub license: Option<String>,
    /// The author's name (`author.name` when package.json has an object).
    pub author: Option<String>,
    pub keywords: Option<Vec<String>>,
    /// A URL that downloads this version's tarball.
    pub tarball_url: String,
    /// `sha256:<hex>` of the tarball.
    pub checksum: String,
    /// When this version was published (RFC 3339, UTC).
    pub published_at: String,
    /// Size of the tarball in bytes.
    pub size: u64,
    pub dependencies: Option<BTreeMap<String, String>>,
    pub dev_dependencies: Option<BTreeMap<String, String>>,
    pub peer_dependencies: Option<BTreeMap<String, String>>,
    pub optional_dependencies: Option<BTreeMap<String, String>>,
}

impl Example for PackageMetadata {
    fn example() -> Self {
        PackageMetadata {
            name: "left-pad".into(),
            version: "1.3.0".into(),
            description: Some("String left pad".into()),
            repository: Some("git+https://github.com/left-pad/left-pad.git".into()),
            homepage: Some("https://github.com/left-pad/left-pad#readme".into()),
            license: Some("WTFPL".into()),
            author: Some("azer".into()),
            keywords: Some(vec!["leftpad".into(), "left".into(), "pad".into()]),
            tarball_url: "https://registry.example.com/packages/left-pad/1.3.0/tarball".into(),
            checksum: "sha256:21589bd6dc1a3d8a845129f5453199ecd7483ea3e21d2a32423ef89b1e5d7304"
                .into(),
            published_at: "2025-06-02T14:03:27.512Z".into(),
            size: 181,
            dependencies: None,
            dev_dependencies: Some([("tape".to_string(), "*".to_string())].into()),
            peer_dependencies: None,
            optional_dependencies: None,
        }
    }
}

/// All versions of a package.
#[derive(Debug, Object)]
#[oai(example)]
pub struct VersionList {
    /// Version numbers, newest first (semver precedence). Empty for an unknown package.
    pub versions: Vec<String>,
}

impl Example for VersionList {
    fn example() -> Self {
        VersionList {
            versions: vec!["1.3.0".into(), "1.2.0".into(), "1.1.3".into()],
        }
    }
}

fn text_or_field(value: Option<&Value>, field: &str) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get(field).and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn string_map(value: Option<&Value>) -> Option<BTreeMap<String, String>> {
    let map = value?.as_object()?;
    Some(
        map.iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect(),
    )
}

/// The URL that downloads a version's tarball through this API.
pub fn tarball_url(core: &Core, name: &str, version: &str) -> String {
    format!(
        "{}/packages/{}/{}/tarball",
        core.url_base(),
        name.replace('@', "%40").replace('/', "%2F"),
        version
    )
}

/// Where a version's tarball is and how to check it, apart from its manifest.
struct TarballFacts {
    url: String,
    checksum: String,
    published_at: String,
    size: u64,
}

impl PackageMetadata {
    /// The seed's shape of one version, from its package.json and its tarball's facts.
    fn from_manifest(
        name: &str,
        version: &str,
        m: &serde_json::Map<String, Value>,
        facts: TarballFacts,
    ) -> Self {
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        Self {
            name: name.to_string(),
            version: version.to_string(),
            description: text("description"),
            repository: text_or_field(m.get("repository"), "url"),
            homepage: text("homepage"),
            license: text_or_field(m.get("license"), "type"),
            author: text_or_field(m.get("author"), "name"),
            keywords: m.get("keywords").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            }),
            tarball_url: facts.url,
            checksum: facts.checksum,
            published_at: facts.published_at,
            size: facts.size,
            dependencies: string_map(m.get("dependencies")),
            dev_dependencies: string_map(m.get("devDependencies")),
            peer_dependencies: string_map(m.get("peerDependencies")),
            optional_dependencies: string_map(m.get("optionalDependencies")),
        }
    }

    /// A version known only upstream. `checksum` is `sha256:` once the tarball has been fetched
    /// (and verified) here; before that it is the upstream's SRI integrity (`sha512-…`), and
    /// `size` is 0.
    pub fn from_upstream(
        core: &Core,
        name: &PackageName,
        version: &str,
        manifest: &Value,
        published_at: Option<String>,
        cached: Option<&ProxiedTarball>,
    ) -> Self {
        let empty = serde_json::Map::new();
        let m = manifest.as_object().unwrap_or(&empty);
        let upstream_integrity = m
            .get("dist")
            .and_then(|d| d.get("integrity"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let facts = TarballFacts {
            url: tarball_url(core, name.as_str(), version),
            checksum: match cached {
                Some(t) => format!("sha256:{}", t.sha256),
                None => upstream_integrity,
            },
            published_at: published_at.unwrap_or_default(),
            size: cached.map(|t| t.size).unwrap_or(0),
        };
        Self::from_manifest(name.as_str(), version, m, facts)
    }

    pub fn from_record(core: &Core, v: &VersionRecord) -> Self {
        let facts = TarballFacts {
            url: tarball_url(core, &v.name, &v.version),
            checksum: format!("sha256:{}", v.tarball.sha256),
            published_at: crate::core::timestamps::iso(v.published_at),
            size: v.tarball.size,
        };
        Self::from_manifest(&v.name, &v.version, &v.manifest, facts)
    }
}

#[derive(ApiResponse)]
pub enum MetadataResponse {
    /// The version's metadata.
    #[oai(status = 200, actual_type = "Json<Box<PackageMetadata>>")]
    Ok(Binary<bytes::Bytes>),
    /// The package is private (`access.*`) and no valid token was sent; the same answer whether
    /// or not it exists.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such package or version: `{"error":"Package not found"}` or `{"error":"Package version not found"}`.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// A server fault.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Not hosted here, and the upstream registry failed (npm fallback).
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// Not hosted here, and the upstream registry timed out, or offline mode has no copy.
    #[oai(status = 504)]
    GatewayTimeout(Json<ErrorBody>),
}
api_error_variants!(MetadataResponse {
    Unauthorized,
    NotFound,
    Internal,
    BadGateway,
    GatewayTimeout
});

#[derive(ApiResponse)]
pub enum VersionsResponse {
    /// The versions, newest first; `{"versions":[]}` for an unknown package.
    #[oai(status = 200, actual_type = "Json<VersionList>")]
    Ok(Binary<bytes::Bytes>),
    /// The package is private (`access.*`) and no valid token was sent; the same answer whether
    /// or not it exists.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// A server fault.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Not hosted here, and the upstream registry failed (npm fallback).
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// Not hosted here, and the upstream registry timed out, or offline mode has no copy.
    #[oai(status = 504)]
    GatewayTimeout(Json<ErrorBody>),
}
api_error_variants!(VersionsResponse {
    Unauthorized,
    Internal,
    BadGateway,
    GatewayTimeout
});

#[derive(ApiResponse)]
pub enum TarballResponse {
    /// The tarball bytes exactly as published. Immutable: a version's tarball never changes.
    #[oai(status = 200, content_type = "application/gzip")]
    Ok(
        Binary<Body>,
        /// `attachment; filename="<name>-<version>.tgz"` (scoped: `scope-name-<version>.tgz`).
        #[oai(header = "Content-Disposition")]
        String,
        /// The tarball's SHA-256, quoted (absent while an upstream tarball streams in).
        #[oai(header = "ETag")]
        Option<String>,
        #[oai(header = "Cache-Control")] String,
        /// `bytes` for a tarball published here: a `Range` request gets part of it.
        #[oai(header = "Accept-Ranges")]
        Option<String>,
    ),
    /// The bytes a single `Range: bytes=…` asked for, of a tarball published here (a range is
    /// not counted as a download). Several ranges, or an `If-Range` that no longer matches,
    /// get the whole tarball.
    #[oai(status = 206, content_type = "application/gzip")]
    Partial(
        Binary<Body>,
        /// `bytes <first>-<last>/<size>`.
        #[oai(header = "Content-Range")]
        String,
        #[oai(header = "ETag")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// With `storage.s3_redirect` on: the tarball's presigned URL in the bucket, valid for
    /// `storage.s3_redirect_secs` (the download is counted here).
    #[oai(status = 307)]
    Redirect(
        #[oai(header = "Location")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// The range starts past the end of the tarball; `Content-Range: bytes */<size>`.
    #[oai(status = 416)]
    RangeNotSatisfiable(Json<ErrorBody>, #[oai(header = "Content-Range")] String),
    /// The package is private (`access.*`) and no valid token was sent; the same answer whether
    /// or not it exists.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No such package or version.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// A server fault.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Not hosted here, and the upstream registry failed, or its tarball failed verification.
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// Not hosted here, and the upstream registry timed out, or offline mode has no copy.
    #[oai(status = 504)]
    GatewayTimeout(Json<ErrorBody>),
}
api_error_variants!(TarballResponse {
    Unauthorized,
    NotFound,
    Internal,
    BadGateway,
    GatewayTimeout
});

fn package_not_found() -> ApiError {
    ApiError::not_found("Package not found")
}

fn version_not_found() -> ApiError {
    ApiError::not_found("Package version not found")
}

pub struct PackagesApi {
    pub core: Arc<Core>,
}

/// A version found locally or through the npm fallback.
enum Found {
    Local(VersionRecord),
    Upstream {
        name: PackageName,
        version: String,
        manifest: Value,
        published_at: Option<String>,
    },
}

impl PackagesApi {
    /// `version` of `name`, local or proxied; `None` asks for the `latest` dist-tag.
    async fn find(
        &self,
        reader: &Reader,
        name: &str,
        version: Option<&str>,
    ) -> Result<Found, ApiError> {
        let name = PackageName::parse_legacy(name, self.core.settings.limits.max_name_length)
            .map_err(|_| package_not_found())?;
        let wanted = version.map_or(Wanted::Latest, Wanted::Exact);
        let found = resolve::version(&self.core, reader, &name, wanted)
            .await
            .map_err(|e| e.into_api(package_not_found, version_not_found))?;
        Ok(match found {
            ResolvedVersion::Local(v) => Found::Local(v),
            ResolvedVersion::Proxied {
                version,
                manifest,
                published_at,
                ..
            } => Found::Upstream {
                name,
                version,
                manifest,
                published_at,
            },
        })
    }

    /// The metadata of `version` (or the latest) of `name`, from the kept rendering of `view`
    /// when there is one. Only a package published here is kept: an upstream version's
    /// metadata says whether its tarball has been fetched yet.
    async fn cached_metadata(
        &self,
        reader: &Reader,
        name: &str,
        view: String,
        version: Option<&str>,
    ) -> MetadataResponse {
        let core = &self.core;
        let canonical = PackageName::parse_legacy(name, core.settings.limits.max_name_length)
            .map(|n| n.to_string())
            .unwrap_or_else(|_| name.to_string());
        if let Some(hit) = core.rendered.get(&canonical, &view) {
            return match core
                .access
                .rendered(core, reader, &canonical, hit.local)
                .await
            {
                Ok(()) => MetadataResponse::Ok(Binary(hit.body.clone())),
                Err(e) => ApiError::from(e).into(),
            };
        }
        let stamp = core.rendered.stamp(&canonical);
        let found = match self.find(reader, name, version).await {
            Ok(found) => found,
            Err(e) => return e.into(),
        };
        let local = matches!(found, Found::Local(_));
        let metadata = match self.metadata(found).await {
            Ok(m) => m,
            Err(e) => return e.into(),
        };
        let body = serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(&metadata))
            .expect("JSON values serialize");
        let rendered = std::sync::Arc::new(Rendered::plain(body, true, stamp));
        if local {
            core.rendered.put(&canonical, &view, rendered.clone());
        }
        MetadataResponse::Ok(Binary(rendered.body.clone()))
    }

    async fn metadata(&self, found: Found) -> Result<PackageMetadata, ApiError> {
        match found {
            Found::Local(v) => Ok(PackageMetadata::from_record(&self.core, &v)),
            Found::Upstream {
                name,
                version,
                manifest,
                published_at,
            } => {
                let cached = self
                    .core
                    .store
                    .proxied_tarball(name.as_str(), &version)
                    .await
                    .map_err(ApiError::internal)?;
                Ok(PackageMetadata::from_upstream(
                    &self.core,
                    &name,
                    &version,
                    &manifest,
                    published_at,
                    cached.as_ref(),
                ))
            }
        }
    }
}

#[OpenApi(tag = "ApiTags::Packages")]
impl PackagesApi {
    /// Latest version of a package
    ///
    /// The metadata of the version the `latest` dist-tag names: the highest version that is not a
    /// prerelease (a prerelease only while the package has nothing else). Scoped names may be
    /// sent raw (`/packages/@scope/name`) or percent-encoded (`/packages/%40scope%2Fname`).
    /// A name not hosted here comes from the upstream npm registry when the fallback is on, with
    /// the upstream's publish time and a tarball URL on this registry.
    #[oai(path = "/packages/:name", method = "get", operation_id = "getPackage")]
    async fn get_package(&self, reader: ApiReader, name: Path<String>) -> MetadataResponse {
        let view = format!("api:latest|{}", self.core.url_base());
        self.cached_metadata(&reader.0, &name, view, None).await
    }

    /// All versions of a package
    ///
    /// Version numbers, newest first by semver precedence. An unknown package answers
    /// `{"versions":[]}` (the seed's contract), not 404.
    #[oai(
        path = "/packages/:name/versions",
        method = "get",
        operation_id = "listVersions"
    )]
    async fn list_versions(&self, reader: ApiReader, name: Path<String>) -> VersionsResponse {
        let empty =
            || VersionsResponse::Ok(Binary(bytes::Bytes::from_static(b"{\"versions\":[]}")));
        let Ok(name) = PackageName::parse_legacy(&name, self.core.settings.limits.max_name_length)
        else {
            return empty();
        };
        let core = &self.core;
        let reader = &reader.0;
        if let Some(hit) = core.rendered.get(name.as_str(), "api:versions") {
            return match core
                .access
                .rendered(core, reader, name.as_str(), hit.local)
                .await
            {
                Ok(()) => VersionsResponse::Ok(Binary(hit.body.clone())),
                Err(e) => ApiError::from(e).into(),
            };
        }
        let stamp = core.rendered.stamp(name.as_str());
        let local = match core.store.package(name.as_str()).await {
            Ok(p) => p.is_some(),
            Err(e) => return ApiError::from(e).into(),
        };
        let versions = match resolve::version_numbers(core, reader, &name).await {
            Ok(list) => list,
            Err(e) => match e.into_api(package_not_found, version_not_found) {
                e if e.kind == crate::error::ErrorKind::NotFound => return empty(),
                e => return e.into(),
            },
        };
        let body = serde_json::to_vec(&serde_json::json!({ "versions": versions }))
            .expect("JSON values serialize");
        let rendered = std::sync::Arc::new(Rendered::plain(body, true, stamp));
        // Only a package published here is kept: an upstream list follows the upstream's copy.
        if local {
            core.rendered
                .put(name.as_str(), "api:versions", rendered.clone());
        }
        VersionsResponse::Ok(Binary(rendered.body.clone()))
    }

    /// One version of a package
    ///
    /// The metadata of an exact version, including its dependencies.
    #[oai(
        path = "/packages/:name/:version",
        method = "get",
        operation_id = "getPackageVersion"
    )]
    async fn get_package_version(
        &self,
        reader: ApiReader,
        name: Path<String>,
        version: Path<String>,
    ) -> MetadataResponse {
        let view = format!("api:version:{}|{}", version.0, self.core.url_base());
        self.cached_metadata(&reader.0, &name, view, Some(&version))
            .await
    }

    /// Download a tarball
    ///
    /// The `.tgz` of one version, byte for byte as published; its SHA-256 is the `checksum` in
    /// the metadata. Each successful download is counted. Through the npm fallback, the
    /// upstream's tarball is verified against its integrity and kept, so later downloads are
    /// served from here.
    #[oai(
        path = "/packages/:name/:version/tarball",
        method = "get",
        operation_id = "downloadTarball"
    )]
    async fn download_tarball(
        &self,
        request: &poem::Request,
        reader: ApiReader,
        name: Path<String>,
        version: Path<String>,
    ) -> TarballResponse {
        let Ok(name) = PackageName::parse_legacy(&name, self.core.settings.limits.max_name_length)
        else {
            return package_not_found().into();
        };
        let found = match resolve::tarball(&self.core, &reader.0, &name, &version).await {
            Ok(f) => f,
            Err(e) => return e.into_api(package_not_found, version_not_found).into(),
        };
        // poem answers HEAD through this GET handler; only a real download counts.
        let read = match request.data::<crate::http::edge::HeadRequest>() {
            Some(_) => TarballRead::Head,
            None => TarballRead::Get,
        };
        let (etag, blob, size) = match &found {
            ResolvedTarball::Local(r) => (
                Some(format!("\"{}\"", r.tarball.sha256)),
                r.tarball.sha256.clone(),
                r.tarball.size,
            ),
            ResolvedTarball::Proxied { .. } => (None, String::new(), 0),
        };
        if let (ResolvedTarball::Local(record), Some(etag), TarballRead::Get) =
            (&found, &etag, read)
        {
            match ByteRange::of(request.headers(), size, etag) {
                ByteRange::Whole => {}
                ByteRange::Unsatisfiable => {
                    return TarballResponse::RangeNotSatisfiable(
                        ApiError::range_not_satisfiable(size).body(),
                        format!("bytes */{size}"),
                    );
                }
                ByteRange::Part { start, end } => {
                    return match resolve::tarball_part(&self.core, record, start, end - start + 1)
                        .await
                    {
                        Ok(part) => TarballResponse::Partial(
                            Binary(crate::http::download::blob_body(part)),
                            format!("bytes {start}-{end}/{size}"),
                            etag.clone(),
                            crate::http::IMMUTABLE.to_string(),
                        ),
                        Err(e) => {
                            let what = format!("{name}@{}", version.as_str());
                            ApiError::blob_unreadable(&what, &blob, &e).into()
                        }
                    };
                }
            }
        }
        let redirect = match found.redirectable(read) {
            Some(target) => target.url(&self.core).await,
            None => Ok(None),
        };
        match redirect {
            Ok(Some(url)) => {
                return TarballResponse::Redirect(url, "private, max-age=60".to_string());
            }
            Ok(None) => {}
            Err(e) => {
                let what = format!("{name}@{}", version.as_str());
                return ApiError::blob_unreadable(&what, &blob, &e).into();
            }
        }
        let body = match found.content(&self.core, read).await {
            Ok(Some((source, downloaded))) => {
                crate::http::download::tarball_body(source, downloaded)
            }
            Ok(None) => crate::http::download::head_body(size),
            Err(e) => {
                let what = format!("{name}@{}", version.as_str());
                return ApiError::blob_unreadable(&what, &blob, &e).into();
            }
        };
        let ranges = etag.is_some().then(|| "bytes".to_string());
        TarballResponse::Ok(
            Binary(body),
            attachment(name.as_str(), &version),
            etag,
            crate::http::IMMUTABLE.to_string(),
            ranges,
        )
    }
}

fn attachment(name: &str, version: &str) -> String {
    let filename = PackageName::parse(name, usize::MAX)
        .map(|n| n.tarball_filename(version))
        .unwrap_or_else(|_| format!("package-{version}.tgz"));
    format!("attachment; filename=\"{filename}\"")
}
