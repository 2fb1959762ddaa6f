//! Reading packages: `/packages/{name}`, `/{version}`, `/versions`, `/{version}/tarball`.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use super::ApiTags;
use crate::api_error_variants;
use crate::blobs::BlobKey;
use crate::core::Core;
use crate::core::resolve;
use crate::error::{ApiError, ErrorBody};
use crate::store::VersionRecord;

/// One version of a package, in the seed's shape.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
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

/// All versions of a package.
#[derive(Debug, Object)]
pub struct VersionList {
    /// Version numbers, newest first (semver precedence). Empty for an unknown package.
    pub versions: Vec<String>,
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
        core.public_url,
        name.replace('@', "%40").replace('/', "%2F"),
        version
    )
}

impl PackageMetadata {
    pub fn from_record(core: &Core, v: &VersionRecord) -> Self {
        let m = &v.manifest;
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        Self {
            name: v.name.clone(),
            version: v.version.clone(),
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
            tarball_url: tarball_url(core, &v.name, &v.version),
            checksum: format!("sha256:{}", v.tarball.sha256),
            published_at: v
                .published_at
                .format(&Rfc3339)
                .unwrap_or_else(|_| v.published_at.to_string()),
            size: v.tarball.size,
            dependencies: string_map(m.get("dependencies")),
            dev_dependencies: string_map(m.get("devDependencies")),
            peer_dependencies: string_map(m.get("peerDependencies")),
            optional_dependencies: string_map(m.get("optionalDependencies")),
        }
    }
}

#[derive(ApiResponse)]
pub enum MetadataResponse {
    /// The version's metadata.
    #[oai(status = 200)]
    Ok(Json<Box<PackageMetadata>>),
    /// No such package or version: `{"error":"Package not found"}` or `{"error":"Package version not found"}`.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// A server fault.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(MetadataResponse { NotFound, Internal });

#[derive(ApiResponse)]
pub enum VersionsResponse {
    /// The versions, newest first; `{"versions":[]}` for an unknown package.
    #[oai(status = 200)]
    Ok(Json<VersionList>),
    /// A server fault.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(VersionsResponse { Internal });

#[derive(ApiResponse)]
pub enum TarballResponse {
    /// The tarball bytes exactly as published. Immutable: a version's tarball never changes.
    #[oai(status = 200, content_type = "application/gzip")]
    Ok(
        Binary<Vec<u8>>,
        /// `attachment; filename="<name>-<version>.tgz"` (scoped: `scope-name-<version>.tgz`).
        #[oai(header = "Content-Disposition")]
        String,
        /// The tarball's SHA-256, quoted.
        #[oai(header = "ETag")]
        String,
        #[oai(header = "Cache-Control")] String,
    ),
    /// No such package or version.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// A server fault.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(TarballResponse { NotFound, Internal });

fn package_not_found() -> ApiError {
    ApiError::not_found("Package not found")
}

fn version_not_found() -> ApiError {
    ApiError::not_found("Package version not found")
}

pub struct PackagesApi {
    pub core: Arc<Core>,
}

impl PackagesApi {
    async fn find_version(&self, name: &str, version: &str) -> Result<VersionRecord, ApiError> {
        let core = &self.core;
        if core
            .store
            .package(name)
            .await
            .map_err(ApiError::internal)?
            .is_none()
        {
            return Err(package_not_found());
        }
        core.store
            .version(name, version)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(version_not_found)
    }
}

#[OpenApi(tag = "ApiTags::Packages")]
impl PackagesApi {
    /// Latest version of a package
    ///
    /// The metadata of the version the `latest` dist-tag names: the highest version that is not a
    /// prerelease (a prerelease only while the package has nothing else). Scoped names may be
    /// sent raw (`/packages/@scope/name`) or percent-encoded (`/packages/%40scope%2Fname`).
    #[oai(path = "/packages/:name", method = "get", operation_id = "getPackage")]
    async fn get_package(&self, name: Path<String>) -> MetadataResponse {
        match resolve::latest(&self.core, &name).await {
            Ok(Some(v)) => {
                MetadataResponse::Ok(Json(Box::new(PackageMetadata::from_record(&self.core, &v))))
            }
            Ok(None) => package_not_found().into(),
            Err(e) => ApiError::internal(e).into(),
        }
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
    async fn list_versions(&self, name: Path<String>) -> VersionsResponse {
        match resolve::versions_newest_first(&self.core, &name).await {
            Ok(list) => VersionsResponse::Ok(Json(VersionList {
                versions: list.into_iter().map(|v| v.version).collect(),
            })),
            Err(e) => ApiError::internal(e).into(),
        }
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
        name: Path<String>,
        version: Path<String>,
    ) -> MetadataResponse {
        match self.find_version(&name, &version).await {
            Ok(v) => {
                MetadataResponse::Ok(Json(Box::new(PackageMetadata::from_record(&self.core, &v))))
            }
            Err(e) => e.into(),
        }
    }

    /// Download a tarball
    ///
    /// The `.tgz` of one version, byte for byte as published; its SHA-256 is the `checksum` in
    /// the metadata. Each successful download is counted.
    #[oai(
        path = "/packages/:name/:version/tarball",
        method = "get",
        operation_id = "downloadTarball"
    )]
    async fn download_tarball(
        &self,
        request: &poem::Request,
        name: Path<String>,
        version: Path<String>,
    ) -> TarballResponse {
        let record = match self.find_version(&name, &version).await {
            Ok(v) => v,
            Err(e) => return e.into(),
        };
        let Some(key) = BlobKey::parse(&record.tarball.sha256) else {
            return ApiError::internal(format!(
                "stored sha256 of {}@{} is not a blob key",
                record.name, record.version
            ))
            .into();
        };
        let bytes = match self.core.blobs.get(&key).await {
            Ok(b) => b,
            Err(e) => return ApiError::internal(e).into(),
        };
        // poem answers HEAD through this GET handler; only a real download counts.
        if request.data::<crate::http::edge::HeadRequest>().is_none() {
            self.core.downloads.record(&record.name, &record.version);
        }
        let filename = crate::core::names::PackageName::parse(&record.name, usize::MAX)
            .map(|n| n.tarball_filename(&record.version))
            .unwrap_or_else(|_| format!("package-{}.tgz", record.version));
        TarballResponse::Ok(
            Binary(bytes.to_vec()),
            format!("attachment; filename=\"{filename}\""),
            format!("\"{}\"", record.tarball.sha256),
            "public, max-age=31536000, immutable".to_string(),
        )
    }
}
