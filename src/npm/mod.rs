//! The npm registry protocol under `/npm/`: what npm, pnpm, yarn and bun send and need.
//!
//! This is a plain poem endpoint rather than poem-openapi routes because npm's paths are
//! byte-exact and irregular (`/@scope%2fname`, `/@scope/name/-/name-1.0.0.tgz`,
//! `/-/user/org.couchdb.user:alice/-rev/undefined`): [`NpmRoute::parse`] reads the raw path once
//! and the handlers in the submodules do the rest. Every answer, error or not, is JSON.

mod audit;
mod dist_tags;
mod packument;
mod publish;
mod search;
mod user;

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use percent_encoding::percent_decode_str;
use poem::http::{Method, StatusCode};
use poem::{Endpoint, Request, Response};
use serde_json::Value;

use crate::core::Core;
use crate::core::auth::{self, Caller};
use crate::core::names::PackageName;
use crate::core::users;
use crate::error::ApiError;
use crate::store::TokenScope;

/// The npm protocol endpoint; nest it at `/npm`.
pub struct NpmEndpoint {
    core: Arc<Core>,
    /// Where `POST /npm/resolve` and `POST /npm/download` go (the Pantry API's project
    /// install, which the Pantry CLI asks for under `/npm/`).
    pantry_posts: Option<poem::endpoint::BoxEndpoint<'static, Response>>,
}

/// The paths below `/npm` that the Pantry API answers on POST (and every method npm does not
/// use there). npm never POSTs to a package's
/// path (it publishes with PUT), so packages named `resolve` and `download` read and publish
/// as any other.
const PANTRY_POSTS: &[&str] = &["/resolve", "/download"];

impl NpmEndpoint {
    pub fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            pantry_posts: None,
        }
    }

    /// Hands `POST /npm/resolve` and `POST /npm/download` to `endpoint`, which sees the path
    /// as the client sent it.
    pub fn with_pantry_posts(
        mut self,
        endpoint: poem::endpoint::BoxEndpoint<'static, Response>,
    ) -> Self {
        self.pantry_posts = Some(endpoint);
        self
    }
}

/// One npm request, parsed from the raw path (below `/npm`).
#[derive(Debug, PartialEq, Eq)]
enum NpmRoute {
    Ping,
    Whoami,
    Search,
    WebLogin,
    User {
        name: String,
    },
    UserRev {
        name: String,
    },
    Logout {
        token: String,
    },
    Profile,
    Tokens,
    Token {
        key: String,
    },
    /// `npm stars`: the packages a user starred (a CouchDB view, as npm asks for it).
    StarredByUser,
    AuditBulk,
    AuditQuick,
    AuditFull,
    DistTags {
        pkg: String,
    },
    DistTag {
        pkg: String,
        tag: String,
    },
    Packument {
        pkg: String,
    },
    PackageRev {
        pkg: String,
        rev: String,
    },
    Tarball {
        pkg: String,
        file: String,
    },
    TarballRev {
        pkg: String,
        file: String,
    },
    Version {
        pkg: String,
        spec: String,
    },
    /// A name or file that tries to escape (`..`, `__proto__`, `node_modules`): 403.
    Refused(&'static str),
    NotFound,
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// A package name from the front of `segments`: `name`, `@scope/name`, `@scope%2fname`.
fn take_package<'a>(segments: &mut impl Iterator<Item = &'a str>) -> Option<String> {
    let first = decode(segments.next()?);
    if first.starts_with('@') && !first.contains('/') {
        Some(format!("{first}/{}", decode(segments.next()?)))
    } else {
        Some(first)
    }
}

const ESCAPES: &[&str] = &["..", "__proto__", "node_modules"];

fn is_escape(text: &str) -> bool {
    text.split(['/', '\\'])
        .any(|part| ESCAPES.contains(&part) || part.starts_with('.'))
        || text.contains('\\')
        || text.contains('\0')
}

impl NpmRoute {
    fn parse(method: &Method, path: &str) -> Self {
        let path = path.trim_start_matches('/');
        let segments: Vec<&str> = path.split('/').collect();
        if segments.first() == Some(&"-") {
            return Self::parse_meta(method, &segments[1..]);
        }
        let mut it = segments.iter().copied();
        let Some(pkg) = take_package(&mut it) else {
            return Self::NotFound;
        };
        if pkg.is_empty() {
            return Self::NotFound;
        }
        if is_escape(&pkg) {
            return Self::Refused("invalid package name");
        }
        let rest: Vec<String> = it.map(decode).collect();
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        match rest.as_slice() {
            [] => Self::Packument { pkg },
            ["-rev", rev] => Self::PackageRev {
                pkg,
                rev: rev.to_string(),
            },
            ["-", file] if is_escape(file) => Self::Refused("invalid filename"),
            ["-", file] => Self::Tarball {
                pkg,
                file: file.to_string(),
            },
            ["-", file, "-rev", _] => Self::TarballRev {
                pkg,
                file: file.to_string(),
            },
            [spec] if !spec.is_empty() => Self::Version {
                pkg,
                spec: spec.to_string(),
            },
            parts if parts.iter().any(|p| is_escape(p)) => Self::Refused("invalid filename"),
            _ => Self::NotFound,
        }
    }

    fn parse_meta(method: &Method, segments: &[&str]) -> Self {
        let decoded: Vec<String> = segments.iter().map(|s| decode(s)).collect();
        let d: Vec<&str> = decoded.iter().map(String::as_str).collect();
        match d.as_slice() {
            ["ping"] => Self::Ping,
            ["whoami"] => Self::Whoami,
            ["v1", "search"] => Self::Search,
            ["v1", "login"] => Self::WebLogin,
            ["user", "token", token] => Self::Logout {
                token: token.to_string(),
            },
            ["user", user] => match user.strip_prefix("org.couchdb.user:") {
                Some(name) => Self::User {
                    name: name.to_string(),
                },
                None => Self::NotFound,
            },
            ["user", user, "-rev", _] => match user.strip_prefix("org.couchdb.user:") {
                Some(name) => Self::UserRev {
                    name: name.to_string(),
                },
                None => Self::NotFound,
            },
            ["npm", "v1", "user"] => Self::Profile,
            ["npm", "v1", "tokens"] => Self::Tokens,
            ["npm", "v1", "tokens", "token", key] => Self::Token {
                key: key.to_string(),
            },
            ["_view", "starredByUser"] => Self::StarredByUser,
            ["npm", "v1", "security", "advisories", "bulk"] => Self::AuditBulk,
            ["npm", "v1", "security", "audits", "quick"] => Self::AuditQuick,
            ["npm", "v1", "security", "audits"] => Self::AuditFull,
            ["package", ..] => {
                // The package name is raw here: `@scope%2fname` or `@scope/name`.
                let mut it = segments[1..].iter().copied();
                let Some(pkg) = take_package(&mut it) else {
                    return Self::NotFound;
                };
                if is_escape(&pkg) {
                    return Self::Refused("invalid package name");
                }
                let rest: Vec<String> = it.map(decode).collect();
                match rest
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice()
                {
                    ["dist-tags"] => Self::DistTags { pkg },
                    ["dist-tags", tag] => Self::DistTag {
                        pkg,
                        tag: tag.to_string(),
                    },
                    _ => Self::NotFound,
                }
            }
            _ => {
                let _ = method;
                Self::NotFound
            }
        }
    }
}

/// How a request authenticated itself.
pub(crate) enum Credentials {
    None,
    Bearer(String),
    Basic { user: String, password: String },
}

pub(crate) fn credentials(req: &Request) -> Credentials {
    let Some(header) = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Credentials::None;
    };
    if let Some(encoded) = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, rest)| rest.trim())
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        return match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((user, password)) => Credentials::Basic {
                user: user.to_string(),
                password: password.to_string(),
            },
            None => Credentials::Bearer(String::new()),
        };
    }
    Credentials::Bearer(
        auth::token_from_header(header)
            .unwrap_or_default()
            .to_string(),
    )
}

/// The JSON response every npm handler gives.
pub(crate) fn json(status: StatusCode, value: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .header("Cache-Control", "no-store")
        .body(serde_json::to_vec(value).expect("JSON values serialize"))
}

pub(crate) type NpmResult = Result<Response, ApiError>;

impl NpmEndpoint {
    /// Who is calling: `None` when anonymous. A token that does not check out is a 401 even on
    /// reads, so a misconfigured `.npmrc` shows up at once. Passwords (Basic) are refused here:
    /// they are accepted only where npm and yarn log in ([`Self::caller_with_password`]), so a
    /// password is never an all-powerful credential on every route, and guessing is confined to
    /// the throttled login paths.
    async fn caller(&self, req: &Request) -> Result<Option<Caller>, ApiError> {
        if matches!(credentials(req), Credentials::Basic { .. }) {
            return Err(ApiError::unauthorized(
                "passwords are accepted only to log in; use the token npm login gives you",
            ));
        }
        self.caller_with_password(req).await
    }

    /// Like [`Self::caller`], also accepting a user name and password (Basic).
    async fn caller_with_password(&self, req: &Request) -> Result<Option<Caller>, ApiError> {
        match credentials(req) {
            Credentials::None => Ok(None),
            Credentials::Bearer(token) if token.is_empty() => {
                Err(ApiError::unauthorized("Invalid token"))
            }
            Credentials::Bearer(token) => {
                let mut caller = auth::authenticate(&self.core, &token).await?;
                caller.address = crate::http::edge::ClientAddress::of(req);
                crate::http::edge::RequestUser::note(req, &caller.user);
                Ok(Some(caller))
            }
            Credentials::Basic { user, password } => {
                let record = users::verify(&self.core, &user, &password)
                    .await
                    .map_err(user::user_error)?;
                crate::http::edge::RequestUser::note(req, &record.name);
                Ok(Some(Caller {
                    user: record.name,
                    scope: TokenScope::Publish,
                    restriction: None,
                    token_hash: None,
                    token_id: None,
                    address: crate::http::edge::ClientAddress::of(req),
                }))
            }
        }
    }

    /// The caller of a read, for the access rules (`access.*`): like [`Self::caller`], a token
    /// that does not check out is a 401.
    async fn reader(&self, req: &Request) -> Result<crate::core::access::Reader, ApiError> {
        use crate::core::access::Reader;
        Ok(match self.caller(req).await? {
            Some(caller) => Reader::signed_in(caller),
            None => Reader::anonymous(),
        })
    }

    async fn require_caller(&self, req: &Request) -> Result<Caller, ApiError> {
        self.caller(req).await?.ok_or_else(|| {
            ApiError::unauthorized(
                "authentication required: log in with npm login or set _authToken",
            )
        })
    }

    async fn body(&self, req: &mut Request, limit: u64) -> Result<Bytes, ApiError> {
        let body = req.take_body();
        crate::http::body::read_limited(req.headers(), body, limit).await
    }

    async fn json_body(&self, req: &mut Request, limit: u64) -> Result<Value, ApiError> {
        let bytes = self.body(req, limit).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }

    /// A package name on a read route: also the legacy uppercase names the upstream has.
    fn read_name(&self, pkg: &str) -> Result<PackageName, ApiError> {
        PackageName::parse_legacy(pkg, self.core.settings.limits.max_name_length)
            .map_err(|e| ApiError::not_found(format!("no such package available: {e}")))
    }

    /// Parses a package name from a route; reserved and traversal names were refused earlier.
    fn package_name(&self, pkg: &str) -> Result<PackageName, ApiError> {
        PackageName::parse(pkg, self.core.settings.limits.max_name_length)
            .map_err(|e| ApiError::not_found(format!("no such package available: {e}")))
    }

    async fn dispatch(&self, mut req: Request) -> NpmResult {
        let method = req.method().clone();
        let route = NpmRoute::parse(&method, req.uri().path());
        use NpmRoute as R;
        let m = &method;
        let get = m == Method::GET || m == Method::HEAD;
        match route {
            R::Refused(what) => Err(ApiError::forbidden(what)),
            R::NotFound => Err(ApiError::not_found("Not found")),
            R::Ping if get => Ok(json(StatusCode::OK, &serde_json::json!({}))),
            R::Whoami if get => user::whoami(self, &req).await,
            R::Search if get => search::search(self, &req).await,
            R::WebLogin => Err(ApiError::not_found(
                "web login is not offered; npm falls back to asking for a user name and password",
            )),
            R::User { name } if get => user::get_user(self, &req, &name).await,
            R::User { name } if m == Method::PUT => {
                user::put_user(self, &mut req, &name, false).await
            }
            R::UserRev { name } if m == Method::PUT => {
                user::put_user(self, &mut req, &name, true).await
            }
            R::Logout { token } if m == Method::DELETE => user::logout(self, &req, &token).await,
            R::Profile if get => user::profile(self, &req).await,
            R::Profile if m == Method::POST => user::update_profile(self, &mut req).await,
            R::Tokens if get => user::list_tokens(self, &req).await,
            R::Tokens if m == Method::POST => user::create_token(self, &mut req).await,
            R::Token { key } if m == Method::DELETE => user::revoke_token(self, &req, &key).await,
            R::StarredByUser if get => user::starred_by(self, &req).await,
            R::AuditBulk if m == Method::POST => audit::bulk(self, &mut req).await,
            R::AuditQuick | R::AuditFull if m == Method::POST => audit::npm6(self, &mut req).await,
            R::DistTags { pkg } if get => dist_tags::list(self, &req, &pkg).await,
            R::DistTag { pkg, tag } if m == Method::PUT => {
                dist_tags::set(self, &mut req, &pkg, &tag).await
            }
            R::DistTag { pkg, tag } if m == Method::DELETE => {
                dist_tags::remove(self, &req, &pkg, &tag).await
            }
            R::Packument { pkg } if get => packument::get_packument(self, &req, &pkg).await,
            R::Packument { pkg } if m == Method::PUT => {
                publish::put_document(self, &mut req, &pkg, None).await
            }
            R::PackageRev { pkg, rev } if m == Method::PUT => {
                publish::put_document(self, &mut req, &pkg, Some(&rev)).await
            }
            R::PackageRev { pkg, rev } if m == Method::DELETE => {
                publish::delete_package(self, &req, &pkg, &rev).await
            }
            R::Tarball { pkg, file } if get => {
                packument::get_tarball(self, &req, &pkg, &file).await
            }
            R::TarballRev { pkg, file } if m == Method::DELETE => {
                publish::delete_tarball(self, &req, &pkg, &file).await
            }
            R::Version { pkg, spec } if get => {
                packument::get_version(self, &req, &pkg, &spec).await
            }
            _ => Err(ApiError::not_found("Not found")),
        }
    }
}

impl Endpoint for NpmEndpoint {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        // npm reads (GET, HEAD) and publishes (PUT) a package named `resolve` or `download`;
        // every other method on those paths is the Pantry API's (which answers 405 for what
        // it does not take).
        let npm_method = [Method::GET, Method::HEAD, Method::PUT].contains(req.method());
        if !npm_method
            && PANTRY_POSTS.contains(&req.uri().path())
            && let Some(pantry) = &self.pantry_posts
        {
            *req.uri_mut() = req.original_uri().clone();
            return pantry.call(req).await;
        }
        Ok(self
            .dispatch(req)
            .await
            .unwrap_or_else(ApiError::into_npm_response))
    }
}

#[cfg(test)]
mod tests {
    use super::NpmRoute as R;
    use super::*;

    fn p(path: &str) -> NpmRoute {
        NpmRoute::parse(&Method::GET, path)
    }

    #[test]
    fn package_name_forms() {
        let scoped = || R::Packument { pkg: "@s/n".into() };
        assert_eq!(p("/@s/n"), scoped());
        assert_eq!(p("/@s%2fn"), scoped());
        assert_eq!(p("/@s%2Fn"), scoped());
        assert_eq!(p("/%40s%2Fn"), scoped());
        assert_eq!(
            p("/left-pad"),
            R::Packument {
                pkg: "left-pad".into()
            }
        );
        assert_eq!(
            p("/left-pad/1.0.0"),
            R::Version {
                pkg: "left-pad".into(),
                spec: "1.0.0".into()
            }
        );
        assert_eq!(
            p("/@s%2fn/latest"),
            R::Version {
                pkg: "@s/n".into(),
                spec: "latest".into()
            }
        );
    }

    #[test]
    fn tarballs_and_revs() {
        assert_eq!(
            p("/@s/n/-/n-1.0.0.tgz"),
            R::Tarball {
                pkg: "@s/n".into(),
                file: "n-1.0.0.tgz".into()
            }
        );
        assert_eq!(
            p("/a/-/a-1.0.0.tgz/-rev/3-abc"),
            R::TarballRev {
                pkg: "a".into(),
                file: "a-1.0.0.tgz".into()
            }
        );
        assert_eq!(
            p("/a/-rev/3-abc"),
            R::PackageRev {
                pkg: "a".into(),
                rev: "3-abc".into()
            }
        );
    }

    #[test]
    fn escapes_are_refused() {
        for path in [
            "/__proto__",
            "/node_modules",
            "/%2e%2e",
            "/..%2f..%2fetc",
            "/a/-/..%2f..%2fregistry.redb",
            "/a/-/__proto__",
            "/a/-/node_modules",
            "/a/-/%2e%2e%2fx.tgz",
            "/@s/__proto__",
            "/-/package/__proto__/dist-tags",
        ] {
            assert!(matches!(p(path), R::Refused(_)), "{path}: {:?}", p(path));
        }
    }

    #[test]
    fn meta_routes() {
        assert_eq!(p("/-/ping"), R::Ping);
        assert_eq!(p("/-/v1/search"), R::Search);
        assert_eq!(
            p("/-/user/org.couchdb.user:alice"),
            R::User {
                name: "alice".into()
            }
        );
        assert_eq!(
            p("/-/user/org.couchdb.user%3Aalice/-rev/undefined"),
            R::UserRev {
                name: "alice".into()
            }
        );
        assert_eq!(
            p("/-/package/@s%2fn/dist-tags"),
            R::DistTags { pkg: "@s/n".into() }
        );
        assert_eq!(
            p("/-/package/@s/n/dist-tags/beta"),
            R::DistTag {
                pkg: "@s/n".into(),
                tag: "beta".into()
            }
        );
        assert_eq!(
            p("/-/npm/v1/tokens/token/abc"),
            R::Token { key: "abc".into() }
        );
        assert_eq!(p("/-/nothing"), R::NotFound);
        assert_eq!(p("/-/_view/starredByUser"), R::StarredByUser);
    }
}
