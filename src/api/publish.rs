//! `POST /publish`: multipart (`metadata` + `tarball`, any order) or JSON with a base64 tarball.
//!
//! Bodies are read by hand, bounded by `limits.max_request_bytes` (413 beyond), so every
//! malformed body gets our JSON 400 rather than a framework message or a 500.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use poem::{Request, RequestBody};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::Example;
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi};
use serde_json::{Map, Value};

use super::ApiTags;
use super::auth::Caller;
use super::packages::tarball_url;
use crate::api_error_variants;
use crate::core::Core;
use crate::core::publish::{self, PublishRequest};
use crate::error::{ApiError, ErrorBody};

fn core_of(req: &Request) -> Result<&Arc<Core>, ApiError> {
    req.data::<Arc<Core>>()
        .ok_or_else(|| ApiError::internal("Core is not attached to the request"))
}

/// Reads the whole body within `limits.max_request_bytes`.
async fn read_bounded(
    req: &Request,
    body: &mut RequestBody,
    limit: u64,
) -> Result<Bytes, ApiError> {
    let body = body
        .take()
        .map_err(|_| ApiError::bad_request("Request body was already read"))?;
    crate::http::body::read_limited(req.headers(), body, limit).await
}

pub(crate) fn string_schema(
    description: &'static str,
    format: Option<&'static str>,
) -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        description: Some(description),
        format,
        ..MetaSchema::new("string")
    }))
}

/// Whether a `Content-Type` header names `expected` (parameters such as a boundary ignored).
pub(crate) fn essence_is(content_type: &str, expected: &str) -> bool {
    content_type
        .parse::<mime::Mime>()
        .is_ok_and(|m| m.essence_str() == expected)
}

/// The fields a multipart form documents in the OpenAPI spec.
pub trait FormSchema: Send {
    fn schema() -> MetaSchemaRef;
}

/// A multipart body, read whole within `limits.max_request_bytes` and kept raw until the
/// handler walks its parts; `S` documents the form.
pub struct RawMultipart<S> {
    boundary: String,
    body: Bytes,
    schema: std::marker::PhantomData<S>,
}

impl<S> RawMultipart<S> {
    /// The parts, in the order the client sent them.
    pub fn parts(self) -> multer::Multipart<'static> {
        let body = self.body;
        let stream =
            futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
        multer::Multipart::new(stream, self.boundary)
    }
}

impl<S: FormSchema> Payload for RawMultipart<S> {
    const CONTENT_TYPE: &'static str = "multipart/form-data";

    fn check_content_type(content_type: &str) -> bool {
        essence_is(content_type, Self::CONTENT_TYPE)
    }

    fn schema_ref() -> MetaSchemaRef {
        S::schema()
    }
}

impl<S: FormSchema> ParsePayload for RawMultipart<S> {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let core = core_of(req)?;
        let boundary = req
            .content_type()
            .and_then(|ct| multer::parse_boundary(ct).ok())
            .ok_or_else(|| ApiError::bad_request("multipart/form-data without a boundary"))?;
        let body = read_bounded(req, body, core.settings.limits.max_request_bytes).await?;
        Ok(Self {
            boundary,
            body,
            schema: std::marker::PhantomData,
        })
    }
}

/// The `POST /publish` form: `metadata` and `tarball`.
pub struct PublishForm;

impl FormSchema for PublishForm {
    fn schema() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            required: vec!["metadata", "tarball"],
            properties: vec![
                (
                    "metadata",
                    string_schema(
                        "The package.json text (at least `name` and `version`, or `{}` to take both from the tarball).",
                        None,
                    ),
                ),
                (
                    "tarball",
                    string_schema(
                        "The package tarball (`.tgz`, a gzip'd tar with `package/package.json`).",
                        Some("binary"),
                    ),
                ),
            ],
            ..MetaSchema::new("object")
        }))
    }
}

/// A multipart publish body.
pub type MultipartBody = RawMultipart<PublishForm>;

/// A JSON publish body, kept raw until the handler parses it.
pub struct JsonBody(Bytes);

impl Payload for JsonBody {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        essence_is(content_type, Self::CONTENT_TYPE)
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            required: vec!["metadata", "tarball"],
            properties: vec![
                (
                    "metadata",
                    MetaSchemaRef::Inline(Box::new(MetaSchema {
                        description: Some(
                            "The package.json object (at least `name` and `version`, or `{}` to take both from the tarball).",
                        ),
                        ..MetaSchema::new("object")
                    })),
                ),
                (
                    "tarball",
                    string_schema("The tarball, standard base64.", Some("byte")),
                ),
            ],
            // A real tarball of the metadata below (`package/package.json` only, 181 bytes).
            example: Some(serde_json::json!({
                "metadata": {
                    "name": "left-pad",
                    "version": "1.3.0",
                    "description": "String left pad",
                    "license": "WTFPL",
                    "keywords": ["leftpad", "pad"]
                },
                "tarball": "H4sIAAAAAAAA/+3PwQrCMAwA0H5KyXnOTMuEfYAnD4KCB/FQtjjqZlfaqoj471ILnjyKHuw7JCEkgRhZd7KlsYk5P7hBsw9DRCyFeNsPilK8akRkiAVOxIx9xcl5aTlnf+oGWh4JKuhp70dGNpDBmaxTg4YKinyaI2TQkKutMj52V94q3fKwweNGr2rSLpzZrOfLBWTQ0fUy2MZBtX2ejnMh7u6//jlJkoQl7AHIFiKLAAgAAA=="
            })),
            ..MetaSchema::new("object")
        }))
    }
}

impl ParsePayload for JsonBody {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let core = core_of(req)?;
        Ok(Self(
            read_bounded(req, body, core.settings.limits.max_request_bytes).await?,
        ))
    }
}

#[derive(ApiRequest)]
pub enum PublishBody {
    /// Multipart form: a `metadata` part with the package.json text and a `tarball` file part, in any order.
    Multipart(MultipartBody),
    /// JSON: `{"metadata": {...}, "tarball": "<base64>"}`.
    Json(JsonBody),
}

fn parse_metadata_object(value: Value) -> Result<Map<String, Value>, ApiError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request("Metadata must be a JSON object")),
    }
}

fn parse_metadata_text_size(size: u64, core: &Core) -> Result<(), ApiError> {
    let limit = core.settings.limits.max_manifest_bytes;
    if size > limit {
        return Err(ApiError::too_large(format!(
            "Metadata is larger than the limit of {limit} bytes"
        )));
    }
    Ok(())
}

fn parse_metadata_text(text: &[u8], core: &Core) -> Result<Map<String, Value>, ApiError> {
    parse_metadata_text_size(text.len() as u64, core)?;
    let value: Value = serde_json::from_slice(text)
        .map_err(|e| ApiError::bad_request(format!("Invalid metadata JSON: {e}")))?;
    parse_metadata_object(value)
}

async fn parse_multipart(core: &Core, body: MultipartBody) -> Result<PublishRequest, ApiError> {
    let mut multipart = body.parts();
    let bad = |e: multer::Error| ApiError::bad_request(format!("Malformed multipart body: {e}"));
    let mut metadata = None;
    let mut tarball = None;
    let mut others: Vec<String> = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        if let Some(name) = field
            .name()
            .filter(|n| !["metadata", "tarball"].contains(n))
        {
            others.push(format!("`{name}`"));
        }
        match field.name() {
            Some("metadata") => {
                metadata = Some(parse_metadata_text(
                    &field.bytes().await.map_err(bad)?,
                    core,
                )?)
            }
            Some("tarball") => tarball = Some(field.bytes().await.map_err(bad)?),
            _ => {
                field.bytes().await.map_err(bad)?;
            }
        }
    }
    let expected = |missing: &str| {
        let got = if others.is_empty() {
            String::new()
        } else {
            format!(" (it had {})", others.join(", "))
        };
        ApiError::bad_request(format!(
            "Missing {missing}: the form takes a `metadata` part (the package.json text) and a `tarball` file part (the .tgz){got}"
        ))
    };
    let metadata = metadata.ok_or_else(|| expected("metadata"))?;
    let tarball = tarball.ok_or_else(|| expected("tarball"))?;
    Ok(PublishRequest {
        metadata: Some(metadata),
        tarball,
        tags: None,
        published_at: None,
    })
}

fn parse_json(core: &Core, body: JsonBody) -> Result<PublishRequest, ApiError> {
    let value: Value = serde_json::from_slice(&body.0)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(ApiError::bad_request("The JSON body must be an object"));
    };
    let (Some(metadata), Some(tarball)) = (obj.remove("metadata"), obj.remove("tarball")) else {
        return Err(ApiError::bad_request(
            "Missing metadata or tarball: the JSON body takes `metadata` (the package.json) and `tarball` (the .tgz in base64)",
        ));
    };
    let metadata = match metadata {
        Value::String(text) => parse_metadata_text(text.as_bytes(), core)?,
        other => {
            let size = serde_json::to_vec(&other)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            parse_metadata_text_size(size as u64, core)?;
            parse_metadata_object(other)?
        }
    };
    let Value::String(b64) = tarball else {
        return Err(ApiError::bad_request("tarball must be a base64 string"));
    };
    // Like the seed (Node's Buffer.from), accept line-wrapped base64 and missing padding.
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let tarball = lenient
        .decode(compact)
        .map_err(|e| ApiError::bad_request(format!("Invalid base64 in tarball: {e}")))?;
    Ok(PublishRequest {
        metadata: Some(metadata),
        tarball: Bytes::from(tarball),
        tags: None,
        published_at: None,
    })
}

/// The answer to a successful publish.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase")]
pub struct PublishResult {
    /// Always `true`.
    pub success: bool,
    /// `Published <name>@<version>`.
    pub message: String,
    pub name: String,
    pub version: String,
    /// Where the tarball downloads from.
    pub tarball_url: String,
    /// `sha256:<hex>` of the tarball.
    pub checksum: String,
    /// Tarball size in bytes.
    pub size: u64,
}

impl Example for PublishResult {
    fn example() -> Self {
        PublishResult {
            success: true,
            message: "Published left-pad@1.3.0".into(),
            name: "left-pad".into(),
            version: "1.3.0".into(),
            tarball_url: "https://registry.example.com/packages/left-pad/1.3.0/tarball".into(),
            checksum: "sha256:21589bd6dc1a3d8a845129f5453199ecd7483ea3e21d2a32423ef89b1e5d7304"
                .into(),
            size: 181,
        }
    }
}

#[derive(ApiResponse)]
pub enum PublishResponse {
    /// Published.
    #[oai(status = 201)]
    Created(Json<PublishResult>),
    /// Malformed request: missing `metadata` or `tarball`, invalid JSON or base64, an invalid
    /// name or version, or a tarball that is not a complete gzip'd tar.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No token (`Authorization required`), or an unknown, revoked or expired one (`Invalid token`, `Token expired`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The token's scope or package restriction does not allow this, the caller does not own the
    /// package, or (with the npm fallback on) the name is served from the upstream registry and
    /// publishing it would hide that package: an unscoped name the upstream has, or the first
    /// package of a scope. Such a publish needs an admin token, or the name in `npm.local_names`
    /// (the scope in `npm.local_scopes`).
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// `Version already exists`: a version is published once and never replaced (an unpublished
    /// version's number is not reused either).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body, tarball, unpacked content or package.json exceeds a configured limit.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Neither multipart/form-data nor application/json.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// The tarball's package.json is missing, unreadable, or disagrees with the metadata's name or version.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// A server fault; nothing was published.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The upstream registry could not be asked whether it has this name (the shadowing check
    /// above), or every unpacking slot stayed busy for `limits.unpack_wait_secs`; nothing was
    /// published. Retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}
api_error_variants!(PublishResponse {
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

pub struct PublishApi {
    pub core: Arc<Core>,
}

#[OpenApi(tag = "ApiTags::Publish")]
impl PublishApi {
    /// Publish a package version
    ///
    /// Send the package.json as `metadata` and the `.tgz` as `tarball`. The tarball must be a
    /// gzip'd tar whose `package.json` has the same name and version as the metadata (when the
    /// metadata lacks them they are taken from the tarball). The first publisher of a name becomes
    /// its owner; later versions need an owner's or an admin's token. A version is published once:
    /// a second publish of it is 409 and changes nothing.
    #[oai(path = "/publish", method = "post", operation_id = "publishPackage")]
    async fn publish_package(&self, caller: Caller, body: PublishBody) -> PublishResponse {
        let request = match body {
            PublishBody::Multipart(b) => parse_multipart(&self.core, b).await,
            PublishBody::Json(b) => parse_json(&self.core, b),
        };
        let request = match request {
            Ok(r) => r,
            Err(e) => return e.into(),
        };
        match publish::publish(&self.core, &caller.0, request).await {
            Ok(v) => PublishResponse::Created(Json(PublishResult {
                success: true,
                message: format!("Published {}@{}", v.name, v.version),
                tarball_url: tarball_url(&self.core, &v.name, &v.version),
                checksum: format!("sha256:{}", v.tarball.sha256),
                size: v.tarball.size,
                name: v.name,
                version: v.version,
            })),
            Err(e) => ApiError::from(e).into(),
        }
    }
}
