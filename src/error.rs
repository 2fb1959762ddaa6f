//! The closed catalogue of errors a client can see.
//!
//! Every module keeps its own error type; at the HTTP edge they become an [`ApiError`], which
//! knows its status code and renders as `{"error": "..."}`. Server faults (5xx) are logged once
//! with their cause and shown to the client only as "Internal server error".

use crate::core::downloads::{PeriodError, UnknownEcosystem};
use crate::core::packages::ChangeError;
use crate::core::proxy::ProxyError;
use crate::core::publish::PublishError;
use crate::core::tarball::TarballError;
use poem::http::StatusCode;
use poem_openapi::{Object, payload::Json};

/// The JSON body of every error response.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// A sentence saying what went wrong, for a person to read.
    pub error: String,
}

/// What went wrong, as a client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    /// The path exists but does not take this method.
    MethodNotAllowed,
    Conflict,
    /// The request (its body) arrived too slowly.
    RequestTimeout,
    PayloadTooLarge,
    UriTooLong,
    HeaderFieldsTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    TooManyRequests,
    /// A `Range` that starts past the end of the body.
    RangeNotSatisfiable,
    Internal,
    BadGateway,
    /// The server cannot decide now (a check it needs could not be made); retry later.
    Unavailable,
    GatewayTimeout,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UriTooLong => StatusCode::URI_TOO_LONG,
            ErrorKind::HeaderFieldsTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        }
    }

    fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::MethodNotAllowed,
            409 => ErrorKind::Conflict,
            408 => ErrorKind::RequestTimeout,
            413 => ErrorKind::PayloadTooLarge,
            414 => ErrorKind::UriTooLong,
            431 => ErrorKind::HeaderFieldsTooLarge,
            415 => ErrorKind::UnsupportedMediaType,
            422 => ErrorKind::Unprocessable,
            429 => ErrorKind::TooManyRequests,
            s if (400..500).contains(&s) => ErrorKind::BadRequest,
            _ => ErrorKind::Internal,
        }
    }
}

/// An error on its way to the client: a kind (which fixes the status) and a message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PayloadTooLarge, message)
    }
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnsupportedMediaType, message)
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unprocessable, message)
    }
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooManyRequests, message)
    }
    /// The upstream registry failed us (it is not the client's fault, nor ours).
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadGateway, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    /// 416 for a body of `size` bytes.
    pub fn range_not_satisfiable(size: u64) -> Self {
        Self::new(
            ErrorKind::RangeNotSatisfiable,
            format!("the range asked for starts past the end of the {size} bytes"),
        )
    }
    pub fn gateway_timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::GatewayTimeout, message)
    }

    /// A server fault. The cause is logged here, once; the client sees a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed on a server fault");
        Self::new(ErrorKind::Internal, "Internal server error")
    }

    /// A record exists but its blob could not be read. A missing blob is an integrity error:
    /// logged with its key and the record (`what`, such as `left-pad@1.0.0`) so an operator can
    /// restore it, and told to the client as a tarball missing on the server, not a bare fault.
    pub fn blob_unreadable(what: &str, key: &str, err: &crate::blobs::BlobError) -> Self {
        match err {
            crate::blobs::BlobError::Missing(_) => {
                tracing::error!(
                    blob = key,
                    record = what,
                    "integrity error: the blob of an existing record is missing from the blob store"
                );
                Self::new(
                    ErrorKind::Internal,
                    format!(
                        "The tarball of {what} is missing on this server (logged as an integrity error for the operator)"
                    ),
                )
            }
            crate::blobs::BlobError::Unavailable(m) => {
                tracing::warn!(error = %m, blob = key, "blob storage unavailable");
                Self::unavailable("The tarball storage is unavailable; try again in a few seconds")
            }
            other => Self::internal(other),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    pub fn body(&self) -> Json<ErrorBody> {
        Json(ErrorBody {
            error: self.message.clone(),
        })
    }

    /// Turns any error poem produced (routing, extractors, body parsing) into our catalogue.
    pub fn from_poem(err: &poem::Error) -> Self {
        let status = err.status();
        if let Some(api) = err.downcast_ref::<ApiError>() {
            return api.clone();
        }
        let kind = ErrorKind::from_status(status);
        let message = match status.as_u16() {
            401 => "Authorization required".to_string(),
            404 => "Not found".to_string(),
            405 => "This path does not take that method; the Allow header lists those it takes"
                .to_string(),
            415 => "Unsupported content type".to_string(),
            s if s >= 500 => return Self::internal(err),
            _ => err.to_string(),
        };
        Self::new(kind, message)
    }

    /// The full HTTP response: status, JSON body and, for 401, a `WWW-Authenticate` challenge.
    pub fn into_http_response(self) -> poem::Response {
        let mut builder = poem::Response::builder()
            .status(self.status())
            .content_type("application/json; charset=utf-8");
        if self.kind == ErrorKind::Unauthorized {
            builder = builder.header("WWW-Authenticate", "Bearer realm=\"pantry-registry\"");
        }
        let body = serde_json::to_vec(&ErrorBody {
            error: self.message,
        })
        .unwrap_or_default();
        builder.body(body)
    }
}

impl ApiError {
    /// The response for an npm client: as [`ApiError::into_http_response`], and the reason in an
    /// `npm-notice` header too, which npm prints (its own message for a 401 or a 404 says
    /// nothing of ours).
    pub fn into_npm_response(self) -> poem::Response {
        let notice = npm_notice(&self.message);
        let mut resp = self.into_http_response();
        if let Ok(value) = poem::http::HeaderValue::from_str(&notice) {
            resp.headers_mut().insert("npm-notice", value);
        }
        resp
    }
}

/// `text` as a header value: printable ASCII only (anything else becomes `?`), one line, at
/// most 400 characters.
pub fn npm_notice(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(400)
        .collect();
    if text.chars().count() > 400 {
        out.push_str("...");
    }
    out
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.kind.status()
    }

    fn as_response(&self) -> poem::Response {
        self.clone().into_http_response()
    }
}

/// Implements `From<ApiError>` for an operation's response enum, mapping each error kind to the
/// variant of the same name. The enum must have an `Internal` variant; a kind the operation does
/// not document lands there, which a test would notice.
#[macro_export]
macro_rules! api_error_variants {
    ($resp:ty { $($kind:ident),* $(,)? }) => {
        impl From<$crate::error::ApiError> for $resp {
            fn from(err: $crate::error::ApiError) -> Self {
                match err.kind {
                    $($crate::error::ErrorKind::$kind => Self::$kind(err.body()),)*
                    _ => {
                        tracing::error!(error = %err.message, kind = ?err.kind, "undocumented error kind for this operation");
                        Self::Internal(err.body())
                    }
                }
            }
        }
    };
}

// What the core's errors mean to a client. The core knows no HTTP; this is where its refusals
// get their status codes.

impl From<crate::core::admin::AdminError> for ApiError {
    fn from(e: crate::core::admin::AdminError) -> Self {
        use crate::core::admin::AdminError;
        match e {
            AdminError::NotFound(m) => ApiError::not_found(m),
            AdminError::Invalid(m) => ApiError::bad_request(m),
            AdminError::Conflict(m) => ApiError::conflict(m),
            AdminError::User(e) => e.into(),
            AdminError::Store(e) => e.into(),
        }
    }
}

impl From<crate::core::users::UserError> for ApiError {
    fn from(e: crate::core::users::UserError) -> Self {
        use crate::core::users::UserError;
        match e {
            UserError::Invalid(m) => ApiError::bad_request(m),
            UserError::Exists(name) => ApiError::conflict(format!("user {name} already exists")),
            UserError::BadCredentials => ApiError::unauthorized("wrong user name or password"),
            UserError::Throttled => ApiError::too_many_requests(e.to_string()),
            UserError::Disabled => ApiError::unauthorized(e.to_string()),
            UserError::Store(e) => e.into(),
            UserError::Hash(e) => ApiError::internal(e),
        }
    }
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::NoSuchPackage => ApiError::not_found("no such package available"),
            ChangeError::NotFound(m) => ApiError::not_found(m),
            ChangeError::Forbidden(m) => ApiError::forbidden(m),
            ChangeError::Invalid(m) => ApiError::bad_request(m),
            ChangeError::Conflict(m) => ApiError::conflict(m),
            ChangeError::Store(e) => e.into(),
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        let msg = e.to_string();
        match e {
            PublishError::Name(_)
            | PublishError::Version(_)
            | PublishError::FieldType(_)
            | PublishError::Tag(_)
            | PublishError::TooMany(_) => ApiError::bad_request(msg),
            PublishError::PackumentTooLarge(_) => ApiError::too_large(msg),
            PublishError::Mismatch(_) => ApiError::unprocessable(msg),
            PublishError::Tarball(t) => match t {
                TarballError::TooLarge(_)
                | TarballError::UnpackedTooLarge(_)
                | TarballError::TooManyEntries(_)
                | TarballError::HeaderTooLarge(_)
                | TarballError::ManifestTooLarge(_) => ApiError::too_large(msg),
                TarballError::NotGzip | TarballError::Corrupt(_) => ApiError::bad_request(msg),
                TarballError::NoManifest | TarballError::BadManifest(_) => {
                    ApiError::unprocessable(msg)
                }
            },
            PublishError::NotAllowed(_)
            | PublishError::NotOwner(_)
            | PublishError::ShadowsUpstream(_) => ApiError::forbidden(msg),
            PublishError::UpstreamUnknown(_) | PublishError::Busy(_) => ApiError::unavailable(msg),
            PublishError::VersionExists | PublishError::VersionUnpublished(_) => {
                ApiError::conflict(msg)
            }
            PublishError::Store(e) => e.into(),
            PublishError::Blob(e) => ApiError::internal(e),
        }
    }
}

impl From<UnknownEcosystem> for ApiError {
    fn from(e: UnknownEcosystem) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<PeriodError> for ApiError {
    fn from(e: PeriodError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::Conflict(m) => ApiError::conflict(format!(
                "{m}; nothing was changed, read the package again and retry"
            )),
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "metadata store unavailable");
                ApiError::unavailable(
                    "The metadata store is unavailable; nothing was changed, try again in a few seconds",
                )
            }
            StoreError::NoSuchPackage => ApiError::not_found("no such package available"),
            other => ApiError::internal(other),
        }
    }
}

impl crate::core::resolve::ResolveError {
    /// The error for a client, with what this door calls a missing package and version.
    pub fn into_api(
        self,
        package_missing: impl FnOnce() -> ApiError,
        version_missing: impl FnOnce() -> ApiError,
    ) -> ApiError {
        use crate::core::resolve::ResolveError;
        match self {
            ResolveError::NoSuchPackage | ResolveError::Proxy(ProxyError::NotFound) => {
                package_missing()
            }
            ResolveError::NoSuchVersion => version_missing(),
            ResolveError::SignInRequired(why) => ApiError::unauthorized(why),
            // Only NotFound reads the message, and it is handled above.
            ResolveError::Proxy(e) => e.into_api(""),
            ResolveError::Store(e) => e.into(),
        }
    }
}

impl From<crate::core::access::ReadRefused> for ApiError {
    fn from(e: crate::core::access::ReadRefused) -> Self {
        match e {
            crate::core::access::ReadRefused::SignInRequired(why) => ApiError::unauthorized(why),
            crate::core::access::ReadRefused::Store(e) => e.into(),
        }
    }
}

impl ProxyError {
    /// The error for a client, given what "not found" is called on this route.
    pub fn into_api(self, not_found: &str) -> ApiError {
        match self {
            ProxyError::NotFound => ApiError::not_found(not_found),
            ProxyError::Offline | ProxyError::Timeout => {
                ApiError::gateway_timeout(self.to_string())
            }
            ProxyError::Unreachable(_) | ProxyError::BadUpstream(_) => {
                ApiError::bad_gateway(self.to_string())
            }
            ProxyError::Blob(crate::blobs::BlobError::Unavailable(m)) => {
                tracing::warn!(error = %m, "blob storage unavailable");
                ApiError::unavailable(
                    "The package storage is unavailable; try again in a few seconds",
                )
            }
            ProxyError::Blob(e) => ApiError::internal(e),
            ProxyError::MissingBlob(_) => ApiError::new(ErrorKind::Internal, self.to_string()),
            ProxyError::Store(e) => e.into(),
        }
    }
}
