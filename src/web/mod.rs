//! The web UI: pages rendered on the server over the core's read use cases (`core::browse`,
//! the search index), readable with JavaScript off; `assets/app.js` only enhances them (live
//! search, copy buttons). Every page carries a Content-Security-Policy that allows nothing
//! but this origin and no inline script; assets are served under content-hashed names with
//! immutable caching. Unknown paths asked for by a browser get an HTML 404; API clients keep
//! getting JSON.

mod account;
mod assets;
mod chart;
pub mod docs;
mod html;
mod markdown;
mod pages;

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route};

use crate::core::Core;

pub use assets::asset_path;

/// What every page allows: this origin only, no inline script, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// What the pages share (see [`pages::WebState`]).
pub use pages::WebState;

/// The state the pages share, for [`routes`] and [`account_routes`].
pub fn state(core: Arc<Core>) -> Arc<WebState> {
    Arc::new(WebState::new(core))
}

/// The web UI's pages: `/`, `/find` (search), `/connect`, `/package/<name>` (scoped names
/// too), `/zig/package/<name>` and `/assets/<hashed name>`.
pub fn routes(state: Arc<WebState>) -> impl Endpoint<Output = Response> {
    Route::new()
        .at("/", poem::get(pages::home))
        .at("/find", poem::get(pages::search_page))
        .at("/connect", poem::get(pages::connect))
        .at("/package/*name", poem::get(pages::package))
        .at("/zig/package/:name", poem::get(pages::zig_package))
        .at("/assets/:file", poem::get(assets::serve))
        .data(state)
        .map_to_response()
}

/// Adds signing in and the signed-in pages to `route`: `/login`, `/logout`, `/account`,
/// `/account/tokens`, `/account/tokens/revoke`, `/account/users`, `/account/users/change`
/// and `/account/audit`. They
/// take form posts, so they sit beside the API, not behind it (where a request reaches them
/// again without its body).
pub fn with_account_routes(route: Route, state: Arc<WebState>) -> Route {
    let account = Route::new()
        .at("/", poem::get(account::account))
        .at("/tokens", poem::post(account::create_token))
        .at("/tokens/revoke", poem::post(account::revoke_token))
        .at(
            "/users",
            poem::get(account::users_page).post(account::create_user),
        )
        .at("/users/change", poem::post(account::change_user))
        .at("/audit", poem::get(account::audit))
        .data(state.clone())
        .map_to_response();
    route
        .at(
            "/login",
            poem::get(account::login_form)
                .post(account::login)
                .data(state.clone())
                .map_to_response(),
        )
        .at(
            "/logout",
            poem::post(account::logout).data(state).map_to_response(),
        )
        .nest("/account", account)
}

/// Answers a browser's request for a path nothing serves with the HTML 404 page; API clients
/// get the JSON error as before.
pub struct HtmlNotFound<E>(pub E);

impl<E: Endpoint> Endpoint for HtmlNotFound<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let html = wants_html(&req) && matches!(*req.method(), poem::http::Method::GET);
        let npm = is_npm_client(&req);
        let base = req
            .data::<std::sync::Arc<Core>>()
            .map(|core| core.url_base());
        let path = req.uri().path().to_string();
        match self.0.call(req).await {
            Err(e) if npm && e.is::<poem::error::NotFoundError>() => {
                // npm pointed at the root instead of /npm/: say where the npm registry is,
                // in the message and in the npm-notice header npm prints.
                let base = base.unwrap_or_default();
                let base = base.trim_end_matches('/');
                Ok(crate::error::ApiError::not_found(format!(
                    "{path} is not an npm registry path: this registry's npm URL is {base}/npm/ (set registry={base}/npm/ in .npmrc, or run npm config set registry {base}/npm/)"
                ))
                .into_npm_response())
            }
            Err(e) if html && e.is::<poem::error::NotFoundError>() => Ok(not_found_page(&path)),
            other => other.map(IntoResponse::into_response),
        }
    }
}

/// Whether the request comes from an npm-protocol client (npm, pnpm, yarn, bun): by the
/// headers they send (`npm-command`, an npm-style `User-Agent`, npm's abbreviated-metadata
/// `Accept`).
fn is_npm_client(req: &Request) -> bool {
    let headers = req.headers();
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    headers.contains_key("npm-command")
        || ["npm/", "pnpm/", "yarn/", "bun/"]
            .iter()
            .any(|p| agent.starts_with(p))
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/vnd.npm.install-v1+json"))
}

/// Whether the request comes from a browser that wants a page (not an API client).
pub fn wants_html(req: &Request) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// A page response: HTML with the security headers every page carries.
pub fn page_response(status: StatusCode, body: String) -> Response {
    let mut resp = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body);
    secure(&mut resp);
    resp
}

/// The headers every page carries.
fn secure(resp: &mut Response) {
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// The HTML 404 a browser gets for a path nothing answers.
pub fn not_found_page(path: &str) -> Response {
    pages::not_found(path).into_response()
}
