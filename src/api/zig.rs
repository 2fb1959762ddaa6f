//! The seed's Zig routes: `/zig/publish`, `/zig/packages/{name}[/{version}[/tarball]]`,
//! `/zig/packages/{name}/versions`, `/zig/hash/{hash}`, `/zig/search`.

use std::sync::Arc;

use bytes::Bytes;
use poem::Body;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::Example;
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::auth::{ApiReader, Caller};
use super::publish::{FormSchema, RawMultipart, string_schema};
use super::search::{SearchResponse, seed_search};
use crate::api_error_variants;
use crate::blobs::BlobKey;
use crate::core::Core;
use crate::core::access::Reader;
use crate::error::{ApiError, ErrorBody};
use crate::search::Ecosystem;
use crate::store::ZigVersionRecord;
use crate::zig::publish::{self, ZigPublishRequest};

/// One Zig package version, in the seed's shape plus both hash forms.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ZigPackageMetadata {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    /// Where `zig fetch` downloads the archive.
    pub tarball_url: String,
    /// The hash `zig fetch --save` writes: `name-version-…` (zig 0.14+), or `1220…` for a package
    /// with an old-style manifest.
    pub hash: String,
    /// The other form of the same digest, for other zig versions.
    pub legacy_hash: Option<String>,
    pub published_at: String,
    pub minimum_zig_version: Option<String>,
    /// The manifest's dependencies.
    pub dependencies: Vec<ZigDependencyInfo>,
    /// `zig fetch --save <tarballUrl>`.
    pub fetch_command: String,
    /// A build.zig.zon dependency entry for this version.
    pub dependency: String,
}

/// Where the examples' `plain_pkg@1.0.0` downloads from, and its package hash.
const EXAMPLE_TARBALL: &str = "https://registry.example.com/zig/packages/plain_pkg/1.0.0/tarball";
const EXAMPLE_HASH: &str = "plain_pkg-1.0.0-TTwrGsQBAADYIAT5zkbdjFhHSelVaHV30xynawuw8jC0";
const EXAMPLE_LEGACY_HASH: &str =
    "1220d82004f9ce46dd8c584749e955687577d31ca76b0bb0f230b4a8241fc148016f";

impl Example for ZigPackageMetadata {
    fn example() -> Self {
        ZigPackageMetadata {
            name: "plain_pkg".into(),
            version: "1.0.0".into(),
            description: Some("A small Zig package with one dependency".into()),
            tarball_url: EXAMPLE_TARBALL.into(),
            hash: EXAMPLE_HASH.into(),
            legacy_hash: Some(EXAMPLE_LEGACY_HASH.into()),
            published_at: "2025-06-02T14:03:27.512Z".into(),
            minimum_zig_version: Some("0.14.0".into()),
            dependencies: vec![ZigDependencyInfo::example()],
            fetch_command: format!("zig fetch --save {EXAMPLE_TARBALL}"),
            dependency: dependency_snippet("plain_pkg", EXAMPLE_TARBALL, EXAMPLE_HASH),
        }
    }
}

/// One dependency of a Zig package, as its build.zig.zon declares it.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct ZigDependencyInfo {
    pub name: String,
    pub url: Option<String>,
    pub path: Option<String>,
    pub hash: Option<String>,
    pub lazy: bool,
}

impl Example for ZigDependencyInfo {
    fn example() -> Self {
        ZigDependencyInfo {
            name: "known_folders".into(),
            url: Some(
                "https://registry.example.com/zig/packages/known_folders/0.7.0/tarball".into(),
            ),
            path: None,
            hash: Some("known_folders-0.7.0-Fy-PJtLDAADGDOwYwMkVydMSTp_aN-nfjCZw6qPQ2ECL".into()),
            lazy: false,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct ZigVersionList {
    pub name: String,
    /// Newest first; empty for an unknown package.
    pub versions: Vec<String>,
}

impl Example for ZigVersionList {
    fn example() -> Self {
        ZigVersionList {
            name: "plain_pkg".into(),
            versions: vec!["1.0.0".into(), "0.9.2".into()],
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase")]
pub struct ZigHashHit {
    pub name: String,
    pub version: String,
    pub tarball_url: String,
    pub hash: String,
    pub dependency: String,
}

impl Example for ZigHashHit {
    fn example() -> Self {
        ZigHashHit {
            name: "plain_pkg".into(),
            version: "1.0.0".into(),
            tarball_url: EXAMPLE_TARBALL.into(),
            hash: EXAMPLE_HASH.into(),
            dependency: dependency_snippet("plain_pkg", EXAMPLE_TARBALL, EXAMPLE_HASH),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ZigPublishResult {
    pub success: bool,
    pub message: String,
    pub hash: String,
    pub legacy_hash: Option<String>,
    pub tarball_url: String,
    pub fetch_command: String,
    pub dependency: String,
    /// Present and true when the upload was stored re-packed as a canonical tar.gz (entries
    /// like `./x` make zig 0.14/0.15 fail); the hash is unchanged.
    pub normalized: Option<bool>,
}

impl Example for ZigPublishResult {
    fn example() -> Self {
        ZigPublishResult {
            success: true,
            message: "Published plain_pkg@1.0.0".into(),
            hash: EXAMPLE_HASH.into(),
            legacy_hash: Some(EXAMPLE_LEGACY_HASH.into()),
            tarball_url: EXAMPLE_TARBALL.into(),
            fetch_command: format!("zig fetch --save {EXAMPLE_TARBALL}"),
            dependency: dependency_snippet("plain_pkg", EXAMPLE_TARBALL, EXAMPLE_HASH),
            normalized: None,
        }
    }
}

fn tarball_url(core: &Core, name: &str, version: &str) -> String {
    format!("{}/zig/packages/{name}/{version}/tarball", core.url_base())
}

/// A zig identifier can stand bare after `.`; anything else needs `.@"…"`.
fn zon_field(name: &str) -> String {
    let plain = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        format!(".{name}")
    } else {
        format!(".@\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn dependency_snippet(name: &str, url: &str, hash: &str) -> String {
    format!(
        "{} = .{{\n    .url = \"{url}\",\n    .hash = \"{hash}\",\n}},",
        zon_field(name)
    )
}

impl ZigPackageMetadata {
    fn from_record(core: &Core, v: &ZigVersionRecord) -> Self {
        let url = tarball_url(core, &v.name, &v.version);
        Self {
            name: v.name.clone(),
            version: v.version.clone(),
            description: v.description.clone(),
            fetch_command: format!("zig fetch --save {url}"),
            dependency: dependency_snippet(&v.name, &url, &v.hash),
            tarball_url: url,
            hash: v.hash.clone(),
            legacy_hash: v.legacy_hash.clone(),
            published_at: crate::core::timestamps::iso(v.published_at),
            minimum_zig_version: v.minimum_zig_version.clone(),
            dependencies: v
                .dependencies
                .iter()
                .map(|d| ZigDependencyInfo {
                    name: d.name.clone(),
                    url: d.url.clone(),
                    path: d.path.clone(),
                    hash: d.hash.clone(),
                    lazy: d.lazy,
                })
                .collect(),
        }
    }
}

/// The `POST /zig/publish` form: `tarball`, optional `manifest` and `description`.
pub struct ZigForm;

impl FormSchema for ZigForm {
    fn schema() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            required: vec!["tarball"],
            properties: vec![
                (
                    "tarball",
                    string_schema(
                        "The package archive: tar, tar.gz, tar.xz, tar.zst or zip.",
                        Some("binary"),
                    ),
                ),
                (
                    "manifest",
                    string_schema(
                        "build.zig.zon text (optional; must agree with the archive's).",
                        None,
                    ),
                ),
                (
                    "description",
                    string_schema("A one-line description (optional).", None),
                ),
            ],
            ..MetaSchema::new("object")
        }))
    }
}

/// A multipart Zig publish body.
pub type ZigMultipart = RawMultipart<ZigForm>;

#[derive(ApiRequest)]
pub enum ZigPublishBody {
    /// Multipart form: `tarball` file, optional `manifest` (text or file) and `description`.
    Multipart(ZigMultipart),
}

async fn parse_zig_multipart(body: ZigMultipart) -> Result<ZigPublishRequest, ApiError> {
    let mut multipart = body.parts();
    let bad = |e: multer::Error| ApiError::bad_request(format!("Malformed multipart body: {e}"));
    let text = |b: Bytes, field: &str| {
        String::from_utf8(b.to_vec())
            .map_err(|_| ApiError::bad_request(format!("{field} must be UTF-8 text")))
    };
    let (mut tarball, mut filename, mut manifest, mut description) = (None, None, None, None);
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("tarball") => {
                filename = field.file_name().map(str::to_string);
                tarball = Some(field.bytes().await.map_err(bad)?);
            }
            Some("manifest") => {
                manifest = Some(text(field.bytes().await.map_err(bad)?, "manifest")?)
            }
            Some("description") => {
                description = Some(text(field.bytes().await.map_err(bad)?, "description")?)
            }
            _ => {
                field.bytes().await.map_err(bad)?;
            }
        }
    }
    Ok(ZigPublishRequest {
        tarball: tarball.ok_or_else(|| {
            ApiError::bad_request(
                "Missing tarball: the form takes a `tarball` file part (the archive: .tar.gz, .tar.xz, .tar.zst, .tar or .zip) and, optionally, a `manifest` part",
            )
        })?,
        filename,
        manifest,
        description,
    })
}

#[derive(ApiResponse)]
pub enum ZigPublishResponse {
    /// Published; `hash` is what `zig fetch --save` writes for this archive.
    #[oai(status = 201)]
    Created(Json<ZigPublishResult>),
    /// Missing tarball, not an archive zig can unpack, a corrupt archive, or no way to tell the
    /// name and version.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The token may not publish this name, or the caller does not own it. Decided before the
    /// archive is opened from the name the request declares (the `manifest` field or a
    /// `name-version.tar.gz` file name; a token restricted to one package must declare it), and
    /// checked again against the archive's own manifest.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// `Version already exists`.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// Over a limit: compressed size, unpacked size, entry count, an extended tar header, or
    /// the decoder memory an xz or zstd stream asks for. Refused while reading, from the
    /// headers where they tell.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// zig would refuse it: an invalid build.zig.zon (with line:column), a bad fingerprint, no
    /// `paths`, a path escaping the package, a duplicate or unsupported entry, or a manifest
    /// field that disagrees with the archive.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Every unpacking slot stayed busy for `limits.unpack_wait_secs`; nothing changed, retry
    /// after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}
api_error_variants!(ZigPublishResponse {
    BadRequest,
    Unauthorized,
    Forbidden,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    Internal,
    Unavailable
});

#[derive(ApiResponse)]
pub enum ZigMetadataResponse {
    #[oai(status = 200)]
    Ok(Json<Box<ZigPackageMetadata>>),
    /// The package is private (`access.*`) and no valid token was sent; the same answer whether
    /// or not it exists.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `Package not found` or `Package version not found`.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(ZigMetadataResponse {
    Unauthorized,
    NotFound,
    Internal
});

#[derive(ApiResponse)]
pub enum ZigVersionsResponse {
    #[oai(status = 200)]
    Ok(Json<ZigVersionList>),
    /// The package is private (`access.*`) and no valid token was sent; the same answer whether
    /// or not it exists.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(ZigVersionsResponse {
    Unauthorized,
    Internal
});

#[derive(ApiResponse)]
pub enum ZigHashResponse {
    #[oai(status = 200)]
    Ok(Json<ZigHashHit>),
    /// `Package not found for this hash`, also when the caller may not read the package it
    /// belongs to (`access.*`).
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(ZigHashResponse { NotFound, Internal });

/// The archive as published, with the `Content-Type` every zig from 0.12 on maps to its format
/// and no `Content-Encoding` (zig would undo it and then fail to unpack). Documented as one 200
/// response with all five content types (see [`ZigTarballResponse`]).
#[derive(ApiResponse)]
pub enum ZigArchiveAnswer {
    /// The archive as published (tar.gz, tar.xz, tar.zst, tar or zip), with its format's
    /// content type.
    #[oai(status = 200, content_type = "application/gzip")]
    Gzip(
        Binary<Body>,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// A tar.xz archive.
    #[oai(status = 200, content_type = "application/x-xz")]
    Xz(
        Binary<Body>,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// A tar.zst archive.
    #[oai(status = 200, content_type = "application/zstd")]
    Zstd(
        Binary<Body>,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// A plain tar archive.
    #[oai(status = 200, content_type = "application/x-tar")]
    Tar(
        Binary<Body>,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// A zip archive.
    #[oai(status = 200, content_type = "application/zip")]
    Zip(
        Binary<Body>,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// The package is private (`access.*`) and no valid token was sent; the same answer whether
    /// or not it exists.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `Package not found` or `Package version not found`.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(ZigArchiveAnswer {
    Unauthorized,
    NotFound,
    Internal
});

/// [`ZigArchiveAnswer`], documented as it is answered: poem-openapi keeps one response per
/// status, the last declared, so its five 200 variants are merged into one listing every
/// content type.
pub struct ZigTarballResponse(ZigArchiveAnswer);

impl From<ApiError> for ZigTarballResponse {
    fn from(err: ApiError) -> Self {
        Self(err.into())
    }
}

impl poem::IntoResponse for ZigTarballResponse {
    fn into_response(self) -> poem::Response {
        self.0.into_response()
    }
}

impl poem_openapi::ApiResponse for ZigTarballResponse {
    fn meta() -> poem_openapi::registry::MetaResponses {
        super::merge_same_status(ZigArchiveAnswer::meta())
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        ZigArchiveAnswer::register(registry);
    }
}

pub struct ZigApi {
    pub core: Arc<Core>,
}

impl ZigApi {
    /// `version` (or the latest) of `name`, if `reader` may read it; a private name is refused
    /// before it is looked up.
    async fn find(
        &self,
        reader: &Reader,
        name: &str,
        version: Option<&str>,
    ) -> Result<ZigVersionRecord, ApiError> {
        self.core.access.local(&self.core, reader, name).await?;
        let store = &self.core.store;
        let pkg = store
            .zig_package(name)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("Package not found"))?;
        let version = version.unwrap_or(&pkg.latest);
        store
            .zig_version(name, version)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("Package version not found"))
    }
}

#[OpenApi(tag = "ApiTags::Zig")]
impl ZigApi {
    /// Publish a Zig package
    ///
    /// Upload the archive as `tarball` (tar, tar.gz, tar.xz, tar.zst or zip). The registry
    /// unpacks it as zig does, reads `build.zig.zon` at the package root, validates it as zig
    /// 0.17 would (old-style manifests, accepted by zig 0.14/0.15, too), and computes the package
    /// hash exactly as `zig fetch` does, in both forms. A `manifest` field, when sent, must agree
    /// with the archive's. Archives without build.zig.zon take their name and version from a
    /// `name-X.Y.Z.tar.gz` file name. A version is published once.
    #[oai(
        path = "/zig/publish",
        method = "post",
        operation_id = "publishZigPackage"
    )]
    async fn publish_zig_package(
        &self,
        caller: Caller,
        body: ZigPublishBody,
    ) -> ZigPublishResponse {
        let ZigPublishBody::Multipart(body) = body;
        let request = match parse_zig_multipart(body).await {
            Ok(r) => r,
            Err(e) => return e.into(),
        };
        match publish::publish(&self.core, &caller.0, request).await {
            Ok(v) => {
                let url = tarball_url(&self.core, &v.name, &v.version);
                ZigPublishResponse::Created(Json(ZigPublishResult {
                    success: true,
                    message: format!("Published {}@{}", v.name, v.version),
                    fetch_command: format!("zig fetch --save {url}"),
                    dependency: dependency_snippet(&v.name, &url, &v.hash),
                    tarball_url: url,
                    hash: v.hash,
                    legacy_hash: v.legacy_hash,
                    normalized: v.normalized.then_some(true),
                }))
            }
            Err(e) => ApiError::from(e).into(),
        }
    }

    /// Latest version of a Zig package
    ///
    /// The highest version (a prerelease only while there is nothing else), not the last one
    /// published, with `fetchCommand` and a build.zig.zon `dependency` snippet.
    #[oai(
        path = "/zig/packages/:name",
        method = "get",
        operation_id = "getZigPackage"
    )]
    async fn get_zig_package(&self, reader: ApiReader, name: Path<String>) -> ZigMetadataResponse {
        match self.find(&reader.0, &name, None).await {
            Ok(v) => ZigMetadataResponse::Ok(Json(Box::new(ZigPackageMetadata::from_record(
                &self.core, &v,
            )))),
            Err(e) => e.into(),
        }
    }

    /// All versions of a Zig package
    ///
    /// Newest first; an unknown package answers an empty list.
    #[oai(
        path = "/zig/packages/:name/versions",
        method = "get",
        operation_id = "listZigVersions"
    )]
    async fn list_zig_versions(
        &self,
        reader: ApiReader,
        name: Path<String>,
    ) -> ZigVersionsResponse {
        if let Err(e) = self.core.access.local(&self.core, &reader.0, &name).await {
            return ApiError::from(e).into();
        }
        match self.core.store.zig_versions(&name).await {
            Ok(list) => ZigVersionsResponse::Ok(Json(ZigVersionList {
                name: name.0,
                versions: crate::core::resolve::sort_newest_first(
                    list.into_iter().map(|v| v.version).collect(),
                ),
            })),
            Err(e) => ApiError::internal(e).into(),
        }
    }

    /// One version of a Zig package
    #[oai(
        path = "/zig/packages/:name/:version",
        method = "get",
        operation_id = "getZigPackageVersion"
    )]
    async fn get_zig_package_version(
        &self,
        reader: ApiReader,
        name: Path<String>,
        version: Path<String>,
    ) -> ZigMetadataResponse {
        match self.find(&reader.0, &name, Some(&version)).await {
            Ok(v) => ZigMetadataResponse::Ok(Json(Box::new(ZigPackageMetadata::from_record(
                &self.core, &v,
            )))),
            Err(e) => e.into(),
        }
    }

    /// Download a Zig package archive
    ///
    /// Byte for byte as published, labelled so that every zig from 0.12 on unpacks it, and
    /// immutable: the URL ends up verbatim in users' build.zig.zon files.
    #[oai(
        path = "/zig/packages/:name/:version/tarball",
        method = "get",
        operation_id = "downloadZigTarball"
    )]
    async fn download_zig_tarball(
        &self,
        request: &poem::Request,
        reader: ApiReader,
        name: Path<String>,
        version: Path<String>,
    ) -> ZigTarballResponse {
        let v = match self.find(&reader.0, &name, Some(&version)).await {
            Ok(v) => v,
            Err(e) => return e.into(),
        };
        let Some(key) = BlobKey::parse(&v.sha256) else {
            return ApiError::internal("stored sha256 is not a blob key").into();
        };
        let reader = match self.core.blobs.open(&key).await {
            Ok(r) => r,
            Err(e) => {
                let what = format!("Zig package {}@{}", v.name, v.version);
                return ApiError::blob_unreadable(&what, key.as_str(), &e).into();
            }
        };
        // Counted apart from npm packages of the same name; poem answers HEAD through this GET
        // handler, and only a real download counts.
        if request.data::<crate::http::edge::HeadRequest>().is_none() {
            self.core
                .downloads
                .record(&Ecosystem::Zig.count_key(&v.name), &v.version);
        }
        let disposition = format!(
            "attachment; filename=\"{}-{}.{}\"",
            v.name, v.version, v.archive
        );
        let cache = crate::http::IMMUTABLE.to_string();
        let body = Binary(crate::http::download::blob_body(reader));
        ZigTarballResponse(match v.archive.as_str() {
            "tar.xz" => ZigArchiveAnswer::Xz(body, disposition, cache),
            "tar.zst" => ZigArchiveAnswer::Zstd(body, disposition, cache),
            "tar" => ZigArchiveAnswer::Tar(body, disposition, cache),
            "zip" => ZigArchiveAnswer::Zip(body, disposition, cache),
            _ => ZigArchiveAnswer::Gzip(body, disposition, cache),
        })
    }

    /// Find a Zig package by hash
    ///
    /// Either form: `name-version-…` (zig 0.14+) or `1220…` (older zig).
    #[oai(
        path = "/zig/hash/:hash",
        method = "get",
        operation_id = "getZigPackageByHash"
    )]
    async fn get_zig_package_by_hash(
        &self,
        reader: ApiReader,
        hash: Path<String>,
    ) -> ZigHashResponse {
        let hidden = match self.core.access.hidden(&self.core, &reader.0).await {
            Ok(h) => h,
            Err(e) => return ApiError::from(e).into(),
        };
        match self.core.store.zig_by_hash(&hash).await {
            Ok(Some(v)) if hidden.shows(&v.name, true) => {
                let url = tarball_url(&self.core, &v.name, &v.version);
                ZigHashResponse::Ok(Json(ZigHashHit {
                    dependency: dependency_snippet(&v.name, &url, &v.hash),
                    name: v.name,
                    version: v.version,
                    tarball_url: url,
                    hash: v.hash,
                }))
            }
            Ok(_) => ApiError::not_found("Package not found for this hash").into(),
            Err(e) => ApiError::internal(e).into(),
        }
    }

    /// Search Zig packages
    ///
    /// The same index and ranking as `GET /search`, over Zig packages: exact name, then name
    /// prefix, then relevance over name and description (tolerating typos in names), then
    /// downloads in the last 30 days. `limit` defaults to 20 (at most 250), `from` pages.
    #[oai(
        path = "/zig/search",
        method = "get",
        operation_id = "searchZigPackages"
    )]
    async fn search_zig_packages(
        &self,
        reader: ApiReader,
        /// The query; empty matches everything.
        q: Query<Option<String>>,
        /// Results per page: 20 unless given, at most 250.
        #[oai(validator(pattern = "^[0-9]+$"))]
        limit: Query<Option<String>>,
        /// Results to skip, for paging.
        #[oai(validator(pattern = "^[0-9]+$"))]
        from: Query<Option<String>>,
    ) -> SearchResponse {
        seed_search(&self.core, &reader.0, Ecosystem::Zig, q.0, limit.0, from.0).await
    }
}
