//! The bearer-token security scheme: an extractor that authenticates the caller.
//!
//! Written by hand rather than derived so that both `Authorization: Bearer <token>` and the bare
//! token (which the seed and older Pantry CLI setups send) work, and so failures are our JSON
//! errors with a `WWW-Authenticate` challenge.

use std::sync::Arc;

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::core::Core;
use crate::core::auth::{self, AuthError};
use crate::error::ApiError;

/// The authenticated caller of an operation.
pub struct Caller(pub auth::Caller);

const SCHEME_NAME: &str = "bearerToken";

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(e) => e.into(),
            other => ApiError::unauthorized(other.to_string()),
        }
    }
}

/// The caller of an admin operation: the local admin socket, the configured admin token, or a
/// token with admin scope. No token is 401; any other token is 403.
pub struct AdminCaller(pub auth::Caller);

impl AdminCaller {
    /// Who is acting, for the audit log.
    pub fn actor(&self) -> crate::core::audit::Actor {
        crate::core::audit::Actor::of(&self.0)
    }
}

/// Marks a request that came in through the local admin socket: whoever can reach the socket
/// can read the data directory, and so is its administrator already.
#[derive(Debug, Clone, Copy)]
pub struct LocalAdmin;

impl<'a> ApiExtractor<'a> for AdminCaller {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        Caller::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME_NAME]
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if req.data::<LocalAdmin>().is_some() {
            return Ok(AdminCaller(auth::Caller {
                user: crate::core::audit::CLI_USER.to_string(),
                scope: crate::store::TokenScope::Admin,
                restriction: None,
                token_hash: None,
                token_id: None,
                address: None,
            }));
        }
        let Caller(caller) = Caller::from_request(req, body, param_opts).await?;
        if !caller.is_admin() {
            return Err(ApiError::forbidden(
                "This needs an admin token (admin scope, or auth.admin_token)",
            )
            .into());
        }
        Ok(AdminCaller(caller))
    }
}

impl<'a> ApiExtractor<'a> for Caller {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME_NAME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "A registry token (`ptry_…`, from `pantry-registry token create`) or the configured admin token, as `Authorization: Bearer <token>`. The bare token without `Bearer ` is accepted too.",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("ptry_<64 hex>"),
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME_NAME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let core = req
            .data::<Arc<Core>>()
            .ok_or_else(|| ApiError::internal("Core is not attached to the request"))?;
        let header = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if header.trim().is_empty() {
            return Err(ApiError::from(AuthError::Missing).into());
        }
        let token = auth::token_from_header(header).ok_or(ApiError::from(AuthError::Invalid))?;
        let mut caller = auth::authenticate(core, token)
            .await
            .map_err(ApiError::from)?;
        caller.address = crate::http::edge::ClientAddress::of(req);
        crate::http::edge::RequestUser::note(req, &caller.user);
        Ok(Caller(caller))
    }
}

/// The caller of a read operation: anonymous, or whoever the token sent belongs to. The token
/// is checked only when the package read is not public (`access.*`), so a public read costs no
/// lookup and a stale token does not break it; where a sign-in is needed, a token that does not
/// check out is a 401 naming why.
pub struct ApiReader(pub crate::core::access::Reader);

impl<'a> ApiExtractor<'a> for ApiReader {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        Caller::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME_NAME]
    }

    /// Reading needs no token unless the package is private: the operation lists "no
    /// security" as an alternative.
    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(ApiReader(reader_of(req)))
    }
}

/// The reader a request's `Authorization` header makes: anonymous without one.
pub fn reader_of(req: &Request) -> crate::core::access::Reader {
    use crate::core::access::Reader;
    let header = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if header.trim().is_empty() {
        return Reader::anonymous();
    }
    Reader::with_token(
        auth::token_from_header(header)
            .unwrap_or_default()
            .to_string(),
    )
}
