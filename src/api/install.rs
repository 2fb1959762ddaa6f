//! A project install with the Pantry CLI (`pantry install` in a folder whose `package.json`
//! has dependencies): `POST /npm/resolve` (the whole tree as one flat install set),
//! `POST /registry/download` and `POST /npm/download` (every tarball of it in one tar), and
//! `POST /analytics/events` (the client's report of what it installed).
//!
//! The CLI counts only a 200 as success and builds its bodies without JSON escaping, so a body
//! is read whatever its `Content-Type` says (a clearly non-JSON type is refused with 415), up
//! to `install.max_body_bytes`, and every refusal is a JSON error that changes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::{Request, RequestBody};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{Example, ParseFromJSON, Type};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi, Union,
};
use serde_json::Value;

use super::ApiTags;
use super::auth::ApiReader;
use crate::api_error_variants;
use crate::core::Core;
use crate::core::install::{
    self, BatchError, BatchItem, BatchLimits, EventOutcome, InstallEvent, TreeError, TreeLimits,
};
use crate::error::{ApiError, ErrorBody};

/// A JSON request body of a project-install route, read under `install.max_body_bytes`.
pub struct InstallBody<T>(pub T);

/// What a body's JSON must be beyond its schema's types (which would take the number `1` for
/// the string `"1"`).
pub trait StrictJson {
    /// The body's shape in a line, for the message that refuses a body that is not JSON.
    const EXPECTED: &'static str;

    /// Why `value` is refused, if it is.
    fn refuse(_value: &Value) -> Option<String> {
        None
    }

    /// The schema for the document, when the type's own is wrong: poem-openapi gives a union
    /// `"type": "object"` even when a branch is an array.
    fn body_schema() -> Option<MetaSchemaRef> {
        None
    }
}

impl<'a, T: Type + ParseFromJSON + StrictJson> ApiExtractor<'a> for InstallBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/json; charset=utf-8",
                schema: T::body_schema().unwrap_or_else(T::schema_ref),
            }],
            required: true,
        })
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if let Some(kind) = req.content_type() {
            let kind = kind
                .split(';')
                .next()
                .unwrap_or(kind)
                .trim()
                .to_ascii_lowercase();
            let json_like = kind.is_empty()
                || kind.ends_with("/json")
                || kind.ends_with("+json")
                || [
                    "text/plain",
                    "application/octet-stream",
                    "application/x-www-form-urlencoded",
                ]
                .contains(&kind.as_str());
            if !json_like {
                return Err(ApiError::new(
                    crate::error::ErrorKind::UnsupportedMediaType,
                    format!("the body must be JSON, not {kind}"),
                )
                .into());
            }
        }
        let limit = req
            .data::<Arc<Core>>()
            .map_or(1 << 20, |core| core.settings.install.max_body_bytes);
        let bytes = crate::http::body::read_limited(req.headers(), body.take()?, limit).await?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not valid JSON ({e}); expected {}",
                T::EXPECTED
            ))
        })?;
        if let Some(why) = T::refuse(&value) {
            return Err(ApiError::bad_request(format!("invalid body: {why}")).into());
        }
        T::parse_from_json(Some(value))
            .map(InstallBody)
            .map_err(|e| {
                ApiError::bad_request(format!("invalid body: {}", e.into_message())).into()
            })
    }
}

/// `{"dependencies": {name: what package.json says}}`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ResolveRequest {
    /// Each dependency as `package.json` has it: a range (`^1.2.3`, `1.x || >=3`), a dist-tag
    /// (`latest`), `*`, an alias (`npm:other@^1`, keyed by the alias), or a path on the
    /// client's disk (`file:`, `link:`, `workspace:`), which the client installs itself and is
    /// left out of the answer.
    pub dependencies: BTreeMap<String, String>,
}

impl StrictJson for ResolveRequest {
    const EXPECTED: &'static str =
        r#"{"dependencies":{"<name>":"<range>"}}, every name and range a JSON string"#;

    fn refuse(value: &Value) -> Option<String> {
        let entries = value.get("dependencies")?.as_object()?;
        entries
            .iter()
            .find(|(_, v)| !v.is_string())
            .map(|(name, v)| {
                format!("dependencies[{name:?}] is {v}: each must be a string, as in package.json")
            })
    }
}

impl Example for ResolveRequest {
    fn example() -> Self {
        ResolveRequest {
            dependencies: BTreeMap::from([
                ("express".into(), "^5.1.0".into()),
                ("@acme/widget".into(), "latest".into()),
                ("lodash-legacy".into(), "npm:lodash@^3".into()),
            ]),
        }
    }
}

/// One package of the install set.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ResolvedPackage {
    pub version: String,
    /// Where to download it (this registry's URL, also for packages of the npm fallback).
    pub tarball: String,
    /// Subresource Integrity of the tarball (`sha512-…`).
    pub integrity: String,
}

impl Example for ResolvedPackage {
    fn example() -> Self {
        ResolvedPackage {
            version: "5.1.0".into(),
            tarball: "https://registry.example.com/npm/express/-/express-5.1.0.tgz".into(),
            integrity: "sha512-DT9ck5YIRU+8GYzzU5kT3eHGA5iL+1Zd0EutOmTE9Dtk+Tvuzd23VBU+ec7HPNSTxXYO55gPV/hq4pSBJDjFpA==".into(),
        }
    }
}

/// The complete flat install set.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ResolveAnswer {
    /// Every package to install, transitive dependencies and required peers included, one
    /// version per name, keyed by the name it is installed under (an alias's own name).
    pub resolved: BTreeMap<String, ResolvedPackage>,
}

impl Example for ResolveAnswer {
    fn example() -> Self {
        ResolveAnswer {
            resolved: BTreeMap::from([("express".into(), ResolvedPackage::example())]),
        }
    }
}

#[derive(ApiResponse)]
pub enum ResolveResponse {
    /// The whole tree, resolved.
    #[oai(status = 200)]
    Ok(Json<ResolveAnswer>),
    /// A body that is not `{"dependencies": {name: string}}`, or an entry that is neither a
    /// range, a dist-tag nor an alias.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// A token that does not check out, or a package that needs one.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// A package that does not exist here or upstream, or no version of it that matches.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The tree needs two versions of one name, which a flat install set cannot hold.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body or the tree is over its limit (`install.max_body_bytes`,
    /// `install.max_resolved_packages`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// A body of a type that is not JSON, or in a `Content-Encoding` other than gzip or
    /// deflate.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// A dependency from git or a URL, which this registry does not fetch.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The npm fallback or the store could not answer in time; retry.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}
api_error_variants!(ResolveResponse {
    BadRequest,
    Unauthorized,
    NotFound,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    Internal,
    Unavailable
});

impl From<TreeError> for ApiError {
    fn from(e: TreeError) -> Self {
        let message = e.to_string();
        match e {
            TreeError::BadEntry { .. } => ApiError::bad_request(message),
            TreeError::Elsewhere { .. } => ApiError::unprocessable(message),
            TreeError::NotFound { .. } | TreeError::NoMatch { .. } => ApiError::not_found(message),
            TreeError::Conflict { .. } | TreeError::Unsettled(_) => ApiError::conflict(message),
            TreeError::TooLarge(_) => ApiError::too_large(message),
            TreeError::SignInRequired(_) => ApiError::unauthorized(message),
            TreeError::Unavailable { .. } => ApiError::unavailable(message),
            TreeError::Store(e) => e.into(),
        }
    }
}

/// One package to download.
#[derive(Debug, Object)]
#[oai(example)]
pub struct DownloadItem {
    pub name: String,
    pub version: String,
    /// The tarball URL it was resolved to: this registry's (`/npm/…/-/….tgz` or
    /// `/packages/{name}/{version}/tarball`) or its upstream's. Optional; any other URL is
    /// refused (nothing is fetched from a URL a client names).
    pub tarball: Option<String>,
    /// The integrity the client expects; a tarball here that contradicts it is refused (409).
    pub integrity: Option<String>,
}

impl Example for DownloadItem {
    fn example() -> Self {
        DownloadItem {
            name: "express".into(),
            version: "5.1.0".into(),
            tarball: Some("https://registry.example.com/packages/express/5.1.0/tarball".into()),
            integrity: Some(ResolvedPackage::example().integrity),
        }
    }
}

/// `{"packages": [...]}`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct DownloadRequest {
    pub packages: Vec<DownloadItem>,
}

impl StrictJson for DownloadRequest {
    const EXPECTED: &'static str = r#"{"packages":[{"name":"…","version":"…","tarball":"<URL>","integrity":"sha512-…"}]}, tarball and integrity optional"#;

    fn refuse(value: &Value) -> Option<String> {
        let packages = value.get("packages")?.as_array()?;
        packages.iter().enumerate().find_map(|(i, p)| {
            ["name", "version", "tarball", "integrity"]
                .iter()
                .find(|f| p.get(**f).is_some_and(|v| !v.is_string() && !v.is_null()))
                .map(|f| format!("packages[{i}].{f} must be a string"))
        })
    }
}

impl Example for DownloadRequest {
    fn example() -> Self {
        DownloadRequest {
            packages: vec![DownloadItem::example()],
        }
    }
}

#[derive(ApiResponse)]
pub enum DownloadResponse {
    /// An uncompressed ustar archive: `manifest.json` first
    /// (`{"packages":[{name, version, tarball, file, integrity, size}]}`, `file` being the
    /// entry's path), then `packages/<file>.tgz` for every package, the tarball's bytes as
    /// stored. Streamed; it ends early, without tar's end blocks, if a blob fails to read
    /// part-way (the server's log says why).
    #[oai(status = 200, content_type = "application/x-tar")]
    Ok(Binary<poem::Body>),
    /// A body that is not `{"packages": [...]}`, or an invalid name or version.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// A token that does not check out, or a package that needs one.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// A package version that is not here or upstream.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// A tarball here whose integrity contradicts the one asked with.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// Too many packages or bytes (`install.max_batch_packages`, `install.max_batch_bytes`),
    /// or a body over `install.max_body_bytes`.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// A body of a type that is not JSON, or in a `Content-Encoding` other than gzip or
    /// deflate.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// A tarball URL that is not this registry's or its upstream's, or that names another
    /// package or version than the entry.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The npm fallback or the store could not answer; retry.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}
api_error_variants!(DownloadResponse {
    BadRequest,
    Unauthorized,
    NotFound,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    Internal,
    Unavailable
});

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> Self {
        let message = e.to_string();
        match e {
            BatchError::BadItem { .. } => ApiError::bad_request(message),
            BatchError::TooMany { .. } | BatchError::TooLarge { .. } => {
                ApiError::too_large(message)
            }
            BatchError::NotOurs { .. } | BatchError::UrlMismatch { .. } => {
                ApiError::unprocessable(message)
            }
            BatchError::NotFound { .. } => ApiError::not_found(message),
            BatchError::IntegrityDiffers { .. } => ApiError::conflict(message),
            BatchError::SignInRequired(_) => ApiError::unauthorized(message),
            BatchError::Unavailable { .. } => ApiError::unavailable(message),
            BatchError::Store(e) => e.into(),
        }
    }
}

/// One thing the client reports.
#[derive(Debug, Clone, Object)]
#[oai(example, rename_all = "camelCase")]
pub struct Event {
    pub package_name: String,
    /// Only `download` is counted.
    pub category: String,
    pub version: Option<String>,
}

impl Example for Event {
    fn example() -> Self {
        Event {
            package_name: "express".into(),
            category: "download".into(),
            version: Some("5.1.0".into()),
        }
    }
}

/// A list of events, or one.
#[derive(Debug, Union)]
pub enum Events {
    Many(Vec<Event>),
    One(Event),
}

impl StrictJson for Events {
    const EXPECTED: &'static str =
        r#"[{"packageName":"…","category":"download","version":"…"}], or one such object"#;

    fn refuse(value: &Value) -> Option<String> {
        let events = match value {
            Value::Array(events) => events.iter().collect(),
            one => vec![one],
        };
        events.iter().enumerate().find_map(|(i, e)| {
            ["packageName", "category", "version"]
                .iter()
                .find(|f| e.get(**f).is_some_and(|v| !v.is_string()))
                .map(|f| format!("event {i}: {f} must be a string"))
        })
    }

    fn body_schema() -> Option<MetaSchemaRef> {
        let mut list = MetaSchema::new("array");
        list.items = Some(Box::new(Event::schema_ref()));
        let mut schema = MetaSchema::new("");
        schema.description = Some("A list of events, or one.");
        schema.any_of = vec![MetaSchemaRef::Inline(Box::new(list)), Event::schema_ref()];
        schema.example = poem_openapi::types::ToJSON::to_json(&Events::example());
        Some(MetaSchemaRef::Inline(Box::new(schema)))
    }
}

impl Example for Events {
    fn example() -> Self {
        Events::Many(vec![Event::example()])
    }
}

/// An event that was not counted.
#[derive(Debug, Object)]
#[oai(example)]
pub struct IgnoredEvent {
    /// Its place in the list.
    pub index: u64,
    pub reason: String,
}

impl Example for IgnoredEvent {
    fn example() -> Self {
        IgnoredEvent {
            index: 1,
            reason: "left-pad@9.9.9 is not here".into(),
        }
    }
}

/// What became of the events.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase")]
pub struct EventsAnswer {
    /// Counted as downloads now.
    pub counted: u64,
    /// Downloads this registry counted when it served them to this client.
    pub already_counted: u64,
    pub ignored: Vec<IgnoredEvent>,
}

impl Example for EventsAnswer {
    fn example() -> Self {
        EventsAnswer {
            counted: 1,
            already_counted: 3,
            ignored: vec![IgnoredEvent::example()],
        }
    }
}

#[derive(ApiResponse)]
pub enum EventsResponse {
    /// Taken; each event counted, already counted, or ignored with its reason.
    #[oai(status = 200)]
    Ok(Json<EventsAnswer>),
    /// A body that is neither an event nor a list of them.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// A token that does not check out.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// More events than `install.max_events`, or a body over `install.max_body_bytes`.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// A body of a type that is not JSON, or in a `Content-Encoding` other than gzip or
    /// deflate.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The store could not answer; retry.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}
api_error_variants!(EventsResponse {
    BadRequest,
    Unauthorized,
    PayloadTooLarge,
    UnsupportedMediaType,
    Internal,
    Unavailable
});

pub struct InstallApi {
    pub core: Arc<Core>,
}

#[OpenApi(tag = "ApiTags::Install")]
impl InstallApi {
    /// Resolve a project's dependencies
    ///
    /// The complete flat install set of a `package.json`'s dependencies, as the Pantry CLI's
    /// `pantry install` asks for it: every transitive dependency and required peer, one
    /// version per name, with its tarball URL and integrity. Versions are picked the way npm
    /// picks them (the `latest` dist-tag when it fits, else the highest fitting version, not
    /// deprecated ones first; an edge an installed version meets keeps it), from packages
    /// published here or, for names with no package here, the npm fallback (the same access
    /// and dependency-confusion rules as `/npm/`). Optional dependencies are listed for every
    /// platform, as npm's lockfile lists them, and skipped when they do not exist; optional
    /// peers only when something else brings them. Nothing partial: a name that cannot be
    /// resolved is an error, so that the client resolves the tree itself.
    #[oai(
        path = "/npm/resolve",
        method = "post",
        operation_id = "resolveProject"
    )]
    async fn resolve(
        &self,
        reader: ApiReader,
        body: InstallBody<ResolveRequest>,
    ) -> ResolveResponse {
        let settings = &self.core.settings.install;
        let limits = TreeLimits {
            max_packages: settings.max_resolved_packages,
            concurrency: settings.concurrency,
        };
        let work = install::resolve_tree(&self.core, &reader.0, &body.0.dependencies, limits);
        let set = match tokio::time::timeout(settings.resolve_timeout, work).await {
            Err(_) => {
                return ApiError::unavailable(format!(
                    "resolving the tree took longer than install.resolve_timeout_secs ({} s); try again (packuments read so far are cached)",
                    settings.resolve_timeout.as_secs()
                ))
                .into();
            }
            Ok(Err(e)) => return ApiError::from(e).into(),
            Ok(Ok(set)) => set,
        };
        let resolved = set
            .packages
            .into_iter()
            .map(|(key, p)| {
                let tarball = crate::core::tarball_url(&self.core, &p.package, &p.version);
                (
                    key,
                    ResolvedPackage {
                        version: p.version,
                        tarball,
                        integrity: p.integrity,
                    },
                )
            })
            .collect();
        ResolveResponse::Ok(Json(ResolveAnswer { resolved }))
    }

    /// Download many tarballs at once
    ///
    /// Every package asked for in one uncompressed tar: `manifest.json`, then
    /// `packages/<file>.tgz` with each tarball's bytes as stored (check them against the
    /// manifest's `integrity`). Everything is checked before the first byte is sent: the caps,
    /// every tarball URL (this registry's or its upstream's only: nothing is fetched from a URL
    /// a client names), every package's existence and the reader's right to it, and upstream
    /// tarballs are brought into the cache first. Each tarball counts as one download.
    #[oai(
        path = "/registry/download",
        method = "post",
        operation_id = "downloadBatch"
    )]
    async fn download(
        &self,
        reader: ApiReader,
        body: InstallBody<DownloadRequest>,
    ) -> DownloadResponse {
        self.batch(reader, body.0).await
    }

    /// Download many tarballs at once (the CLI's second try)
    ///
    /// The same as `POST /registry/download`, where the Pantry CLI tries next. A package named
    /// `download` still reads at `GET /npm/download`.
    #[oai(
        path = "/npm/download",
        method = "post",
        operation_id = "downloadBatchNpm"
    )]
    async fn download_npm(
        &self,
        reader: ApiReader,
        body: InstallBody<DownloadRequest>,
    ) -> DownloadResponse {
        self.batch(reader, body.0).await
    }

    /// Report installs
    ///
    /// What the client installed: a list of `{packageName, category, version}` (or one).
    /// A `download` of a version that exists here (published here, or served through the npm
    /// fallback) counts as a download, unless this registry already counted it when it served
    /// the tarball to this client within the hour; anything else is answered with the reason
    /// it was not counted. Never reaches the upstream.
    #[oai(
        path = "/analytics/events",
        method = "post",
        operation_id = "reportEvents"
    )]
    async fn events(&self, reader: ApiReader, body: InstallBody<Events>) -> EventsResponse {
        let events = match body.0 {
            Events::Many(events) => events,
            Events::One(event) => vec![event],
        };
        let max = self.core.settings.install.max_events;
        if events.len() > max {
            return ApiError::too_large(format!(
                "{} events in one report; at most {max} (install.max_events)",
                events.len()
            ))
            .into();
        }
        let reported: Vec<InstallEvent> = events
            .into_iter()
            .map(|e| InstallEvent {
                package: e.package_name,
                category: e.category,
                version: e.version,
            })
            .collect();
        match install::record_events(&self.core, &reader.0, &reported).await {
            Ok(outcomes) => {
                let mut answer = EventsAnswer {
                    counted: 0,
                    already_counted: 0,
                    ignored: Vec::new(),
                };
                for (index, outcome) in outcomes.into_iter().enumerate() {
                    match outcome {
                        EventOutcome::Counted => answer.counted += 1,
                        EventOutcome::AlreadyCounted => answer.already_counted += 1,
                        EventOutcome::Ignored(reason) => answer.ignored.push(IgnoredEvent {
                            index: index as u64,
                            reason,
                        }),
                    }
                }
                EventsResponse::Ok(Json(answer))
            }
            Err(e) => ApiError::from(e).into(),
        }
    }
}

impl InstallApi {
    async fn batch(&self, reader: ApiReader, body: DownloadRequest) -> DownloadResponse {
        let settings = &self.core.settings.install;
        let items: Vec<BatchItem> = body
            .packages
            .into_iter()
            .map(|p| BatchItem {
                name: p.name,
                version: p.version,
                tarball: p.tarball,
                integrity: p.integrity,
            })
            .collect();
        let limits = BatchLimits {
            max_packages: settings.max_batch_packages,
            max_bytes: settings.max_batch_bytes,
            concurrency: settings.concurrency,
        };
        let plan = match install::plan_batch(&self.core, &reader.0, &items, limits).await {
            Ok(plan) => plan,
            Err(e) => return ApiError::from(e).into(),
        };
        let (writer, read_end) = tokio::io::duplex(256 * 1024);
        let core = self.core.clone();
        tokio::spawn(async move {
            if let Err(e) = plan.write(&core, writer).await {
                tracing::warn!(error = %e, "a batch download stopped before its end");
            }
        });
        DownloadResponse::Ok(Binary(poem::Body::from_async_read(read_end)))
    }
}
