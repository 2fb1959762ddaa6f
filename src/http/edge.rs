//! The edge every request passes: path canonicalisation for package names, CORS as the seed
//! does it, JSON errors for everything (never an HTML or plain-text error page), and a log line.

use std::net::IpAddr;
use std::time::Instant;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use poem::http::{HeaderValue, Method, StatusCode, Uri, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::error::ApiError;

/// Where a path names a package: after `prefix` and `skip` more segments (a period).
struct NamedPath {
    prefix: &'static str,
    skip: usize,
    /// The rest of the path is a comma-separated list of names, any of them scoped.
    list: bool,
}

const PACKAGE_PATHS: &[NamedPath] = &[
    NamedPath {
        prefix: "/packages/",
        skip: 0,
        list: false,
    },
    NamedPath {
        prefix: "/analytics/",
        skip: 0,
        list: false,
    },
    NamedPath {
        prefix: "/versions/",
        skip: 0,
        list: false,
    },
    NamedPath {
        prefix: "/downloads/point/",
        skip: 1,
        list: true,
    },
    NamedPath {
        prefix: "/downloads/range/",
        skip: 1,
        list: true,
    },
];

/// Characters escaped when a package name becomes one path segment (`@` and `/` among them).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Rewrites `/packages/@scope/name/...` (raw, or with `%40`, `%2F`, `%2f` in any mix) to the
/// canonical `/packages/%40scope%2Fname/...`, so the router sees a package name as one segment.
/// Under `/downloads/{point,range}/{period}/` the rest of the path is a name list
/// (`a,@s/b`) and becomes one segment the same way.
pub fn canonical_package_path(path: &str) -> Option<String> {
    let named = PACKAGE_PATHS.iter().find(|p| path.starts_with(p.prefix))?;
    let mut segments = path[named.prefix.len()..].split('/');
    let mut out = named.prefix.to_string();
    for _ in 0..named.skip {
        out.push_str(segments.next()?);
        out.push('/');
    }
    let decode = |seg: &str| {
        percent_decode_str(seg)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    let first = decode(segments.next()?)?;
    let name = if named.list {
        let mut names = first;
        let mut rest: Vec<&str> = segments.by_ref().collect();
        // A trailing slash ends the path; it is not part of the last name.
        if rest.last() == Some(&"") {
            rest.pop();
        }
        for seg in rest {
            names.push('/');
            names.push_str(&decode(seg)?);
        }
        names
    } else if first.starts_with('@') && !first.contains('/') {
        format!("{first}/{}", decode(segments.next()?)?)
    } else {
        first
    };
    out.push_str(&utf8_percent_encode(&name, SEGMENT).to_string());
    for seg in segments {
        out.push('/');
        out.push_str(seg);
    }
    (out != path).then_some(out)
}

fn rewrite_uri(uri: &Uri, new_path: &str) -> Option<Uri> {
    let pq = match uri.query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    Uri::from_parts(parts).ok()
}

fn add_cors(resp: &mut Response) {
    let headers = resp.headers_mut();
    headers.insert("Access-Control-Allow-Origin", HeaderValue::from_static("*"));
    headers.insert(
        "Access-Control-Allow-Methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        "Access-Control-Allow-Headers",
        HeaderValue::from_static("Content-Type, Authorization"),
    );
}

/// Tries `first`; when it has no route for the request (404 from routing), tries `second`.
pub struct Fallback<A, B> {
    first: A,
    second: B,
}

impl<A, B> Fallback<A, B> {
    pub fn new(first: A, second: B) -> Self {
        Self { first, second }
    }
}

impl<A: Endpoint, B: Endpoint> Endpoint for Fallback<A, B> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let (method, uri, headers) = (
            req.method().clone(),
            req.uri().clone(),
            req.headers().clone(),
        );
        match self.first.call(req).await {
            Err(e) if e.is::<poem::error::NotFoundError>() => {
                let mut again = Request::builder().method(method).uri(uri).finish();
                *again.headers_mut() = headers;
                self.second
                    .call(again)
                    .await
                    .map(IntoResponse::into_response)
            }
            other => other.map(IntoResponse::into_response),
        }
    }
}

/// Marks a HEAD request. poem answers HEAD through the GET handler (with the method rewritten
/// to GET), so handlers that must not act on a HEAD (counting a download) look for this.
#[derive(Debug, Clone, Copy)]
pub struct HeadRequest;

/// Path prefixes whose rest is a token (npm logout) or what may be one (`npm token revoke`
/// takes a token or its id): never written to a log.
const SECRET_PATHS: &[&str] = &["/npm/-/user/token/", "/npm/-/npm/v1/tokens/token/"];

/// `path` as it may be logged: the token part of a token route is replaced by `<redacted>`.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for prefix in SECRET_PATHS {
        if let Some(i) = path.find(prefix)
            && path.len() > i + prefix.len()
        {
            return format!("{}<redacted>", &path[..i + prefix.len()]).into();
        }
    }
    path.into()
}

/// The methods each documented path takes, for the `Allow` header of a 405, and the body types
/// each operation takes, for the message of a 415.
pub struct RouteMethods(Vec<(Vec<String>, Vec<String>)>, Vec<RouteBody>);

/// The content types one operation takes: path template (as segments), method, types.
pub type RouteBody = (Vec<String>, String, Vec<String>);

impl RouteMethods {
    /// From path templates (`/packages/{name}` as segments) and their methods.
    pub fn new(routes: Vec<(Vec<String>, Vec<String>)>) -> Self {
        Self(routes, Vec::new())
    }

    /// With the body types of the operations that take a body.
    pub fn with_bodies(mut self, bodies: Vec<RouteBody>) -> Self {
        self.1 = bodies;
        self
    }

    /// What the operation at `path` with `method` takes as a body: `a or b`.
    fn body_types(&self, path: &str, method: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        let (_, _, types) = self.1.iter().find(|(template, m, _)| {
            m.eq_ignore_ascii_case(method) && Self::matches(template, &segments)
        })?;
        let mut types: Vec<&str> = types
            .iter()
            .map(|t| t.split(';').next().unwrap_or(t).trim())
            .collect();
        types.dedup();
        Some(types.join(" or "))
    }

    /// The first template `path` matches, as written (`/packages/{name}`), for metric labels.
    pub fn template(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .map(|(template, _)| template)
            .find(|template| Self::matches(template, &segments))
            .map(|template| template.join("/"))
    }

    fn matches(template: &[String], segments: &[&str]) -> bool {
        template.len() == segments.len()
            && template
                .iter()
                .zip(segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty()))
    }

    /// The `Allow` value for `path`: the methods of every template it matches, with HEAD beside
    /// GET and OPTIONS, which every path answers.
    fn allow(&self, path: &str) -> String {
        let segments: Vec<&str> = path.split('/').collect();
        let mut methods: Vec<&str> = Vec::new();
        for (template, taken) in &self.0 {
            if Self::matches(template, &segments) {
                methods.extend(taken.iter().map(String::as_str));
            }
        }
        if methods.contains(&"GET") {
            methods.push("HEAD");
        }
        methods.push("OPTIONS");
        methods.sort_unstable();
        methods.dedup();
        methods.join(", ")
    }
}

/// The client a request comes from: its peer, or, when the peer is a trusted reverse proxy,
/// the address `X-Forwarded-For` names, read from the right past every trusted proxy (the
/// entries left of the first untrusted one are the client's own say, and not believed).
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &poem::http::HeaderMap,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(addr) => {
                client = addr;
                if !trusted.contains(&addr) {
                    break;
                }
            }
            // Garbage: the proxy's own peer is the last address that can be believed.
            Err(_) => break,
        }
    }
    Some(client)
}

/// The client's address as [`client_address`] found it, attached to every request.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// The client address of `req` (`None` outside the edge, or on a socket without one).
    pub fn of(req: &poem::Request) -> Option<IpAddr> {
        req.data::<ClientAddress>().and_then(|a| a.0)
    }
}

/// The base URL a request reached the registry by, for the URLs it is handed (when
/// `server.base_url` is unset): `http://` and its `Host`, or, from a trusted reverse proxy, the
/// scheme and host in `X-Forwarded-Proto` and `X-Forwarded-Host`. `None` when the host is
/// missing or not a plain `name[:port]`.
pub fn request_base(
    peer: Option<IpAddr>,
    headers: &poem::http::HeaderMap,
    trusted: &[IpAddr],
) -> Option<String> {
    let from_proxy = peer.is_some_and(|p| trusted.contains(&p));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let forwarded_host = from_proxy.then(|| header("x-forwarded-host")).flatten();
    let host = forwarded_host.or_else(|| header("host"))?;
    let plain = host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
    if !plain {
        return None;
    }
    let scheme = match from_proxy.then(|| header("x-forwarded-proto")).flatten() {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// What the edge holds to every request.
pub struct EdgeRules {
    /// Reverse proxies whose `X-Forwarded-For` (and `X-Forwarded-Proto`/`-Host`) is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// URLs follow each request's address (`server.base_url` is unset).
    pub follow_request_base: bool,
    /// For the `Allow` header of a 405.
    pub routes: RouteMethods,
    pub limiter: super::rate::RateLimiter,
    /// Longest request target (path and query) answered; a longer one is 414.
    pub max_uri_bytes: usize,
    /// How fast a request body must arrive.
    pub body_pace: super::body::Pace,
    /// The memory all request bodies being handled may take.
    pub body_memory: super::body::BodyMemory,
}

/// The request's id: the client's `X-Request-Id` when it is a plain one (1 to 64 characters of
/// letters, digits, `.`, `_`, `-`), else a new random one. Returned as `X-Request-Id` and
/// written in the access log line.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    fn of(headers: &poem::http::HeaderMap) -> Self {
        let given = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= 64
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
        Self(match given {
            Some(id) => id.to_string(),
            None => hex::encode(rand::random::<[u8; 8]>()),
        })
    }
}

/// Who a request turned out to be, noted by authentication for the access log.
#[derive(Debug, Clone, Default)]
pub struct RequestUser(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl RequestUser {
    /// Notes that `req` authenticated as `user`.
    pub fn note(req: &Request, user: &str) {
        if let Some(slot) = req.data::<RequestUser>() {
            *slot.0.lock().expect("request user lock") = Some(user.to_string());
        }
    }

    fn get(&self) -> Option<String> {
        self.0.lock().expect("request user lock").clone()
    }
}

/// The middleware function; wrap the whole app with it (`.around`), handing it the rules. It
/// writes one access log line per request: its id, method, path (token paths redacted), status,
/// duration, bytes sent, user and client. Never a header, query or body: no secret can reach
/// the log through it.
pub async fn edge<E: Endpoint>(
    ep: std::sync::Arc<E>,
    mut req: Request,
    rules: &EdgeRules,
) -> poem::Result<Response> {
    let started = Instant::now();
    let method = req.method().clone();
    let route = super::metrics::route_label(&rules.routes, req.uri().path());
    let path = loggable_path(req.uri().path()).into_owned();
    let id = RequestId::of(req.headers());
    let user = RequestUser::default();
    req.set_data(id.clone());
    req.set_data(user.clone());
    let client = client_address(
        req.remote_addr().as_socket_addr().map(|a| a.ip()),
        req.headers(),
        &rules.trusted_proxies,
    );
    let base = rules
        .follow_request_base
        .then(|| {
            request_base(
                req.remote_addr().as_socket_addr().map(|a| a.ip()),
                req.headers(),
                &rules.trusted_proxies,
            )
        })
        .flatten();
    let mut resp = match base {
        Some(base) => {
            crate::core::REQUEST_BASE
                .scope(base, answer(ep, req, rules))
                .await?
        }
        None => answer(ep, req, rules).await?,
    };
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        resp.headers_mut().insert("x-request-id", value);
    }
    // Every 401 says how to authenticate, whichever door answered it.
    if resp.status() == StatusCode::UNAUTHORIZED
        && !resp.headers().contains_key(header::WWW_AUTHENTICATE)
    {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"pantry-registry\""),
        );
    }
    // The length sent, when it is known before the body streams (`null` for a body of unknown
    // length, such as a tarball streaming in from the upstream).
    let bytes = match resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(n) => Some(n),
        None => {
            let body: http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error> =
                resp.take_body().into();
            let n = http_body::Body::size_hint(&body).exact();
            resp.set_body(poem::Body::from(body));
            n
        }
    };
    super::metrics::record_request(
        route,
        &method,
        resp.status().as_u16(),
        started.elapsed(),
        bytes,
    );
    tracing::info!(
        target: "access",
        request_id = %id.0,
        http.method = %method,
        http.path = %path,
        http.status = resp.status().as_u16(),
        duration_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        bytes = bytes,
        user = user.get().as_deref().unwrap_or("-"),
        client = %client.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
        "request"
    );
    Ok(resp)
}

/// The edge's rules applied to one request, and the application's answer.
async fn answer<E: Endpoint>(
    ep: std::sync::Arc<E>,
    mut req: Request,
    rules: &EdgeRules,
) -> poem::Result<Response> {
    let method = req.method().clone();
    let original_path = req.uri().path().to_string();
    let target_length = req
        .uri()
        .path_and_query()
        .map_or(original_path.len(), |pq| pq.as_str().len());
    if target_length > rules.max_uri_bytes {
        let mut resp = ApiError::new(
            crate::error::ErrorKind::UriTooLong,
            format!(
                "The request target is longer than the limit of {} bytes",
                rules.max_uri_bytes
            ),
        )
        .into_http_response();
        add_cors(&mut resp);
        return Ok(resp);
    }
    // Rate limits come before any work, authentication included.
    let class = super::rate::Class::of(&method, &original_path);
    let addr = client_address(
        req.remote_addr().as_socket_addr().map(|a| a.ip()),
        req.headers(),
        &rules.trusted_proxies,
    );
    if let Err(limited) = rules.limiter.check(class, addr).await {
        let mut resp = ApiError::too_many_requests(limited.to_string()).into_http_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(limited.retry_after));
        add_cors(&mut resp);
        tracing::info!(http.method = %method, http.path = %loggable_path(&original_path), rate.class = limited.class, "rate limited");
        return Ok(resp);
    }
    req.set_data(ClientAddress(addr));
    if let Some(new_path) = canonical_package_path(&original_path)
        && let Some(uri) = rewrite_uri(req.uri(), &new_path)
    {
        *req.uri_mut() = uri;
    }
    // HEAD is answered as the GET it shadows, without the body: every handler serves it the
    // same way (the marker tells those that must not act on a HEAD, such as download counts).
    let req_path = req.uri().path().to_string();
    let body = req.take_body();
    // Held until the answer is ready: the body and what is made from it live that long.
    let _body_share = match rules
        .body_memory
        .reserve(req.headers(), !body.is_empty(), addr)
        .await
    {
        Ok(share) => share,
        Err(refused) => {
            let mut resp = refused.into_http_response();
            add_cors(&mut resp);
            if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            return Ok(resp);
        }
    };
    req.set_body(rules.body_pace.apply(body));
    let is_head = method == Method::HEAD;
    if is_head {
        req.set_data(HeadRequest);
        req.set_method(Method::GET);
    }
    let mut resp = if method == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        match crate::core::CLIENT_ADDRESS.scope(addr, ep.call(req)).await {
            Ok(r) => r.into_response(),
            Err(err) => {
                let mut error = ApiError::from_poem(&err);
                // poem's own 415 says nothing of what the route takes; ours already say what is
                // wrong (a type that is not JSON, an encoding not undone).
                if error.kind == crate::error::ErrorKind::UnsupportedMediaType
                    && err.downcast_ref::<ApiError>().is_none()
                    && let Some(takes) = rules.routes.body_types(&req_path, method.as_str())
                {
                    error = ApiError::unsupported_media_type(format!(
                        "Unsupported content type: this route takes {takes}"
                    ));
                }
                error.into_http_response()
            }
        }
    };
    if is_head {
        // The length GET would send, when it is known without reading a stream: a proxied
        // tarball still streaming in from the upstream is not drained for a HEAD.
        let body: http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error> =
            resp.take_body().into();
        let bodiless = [StatusCode::NOT_MODIFIED, StatusCode::NO_CONTENT].contains(&resp.status());
        if !bodiless
            && !resp.headers().contains_key(header::CONTENT_LENGTH)
            && let Some(len) = http_body::Body::size_hint(&body).exact()
        {
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Ok(allow) = HeaderValue::from_str(&rules.routes.allow(req_path.as_str()))
    {
        resp.headers_mut().insert(header::ALLOW, allow);
    }
    add_cors(&mut resp);
    // Every 503 here means "busy or cannot check now; nothing changed": say when to retry.
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && !resp.headers().contains_key(poem::http::header::RETRY_AFTER)
    {
        resp.headers_mut().insert(
            poem::http::header::RETRY_AFTER,
            poem::http::HeaderValue::from_static("5"),
        );
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::canonical_package_path as c;

    #[test]
    fn token_paths_are_logged_without_the_token() {
        use super::loggable_path as l;
        assert_eq!(
            l("/npm/-/user/token/ptry_0123456789abcdef"),
            "/npm/-/user/token/<redacted>"
        );
        assert_eq!(
            l("/npm/-/npm/v1/tokens/token/ptry_secret"),
            "/npm/-/npm/v1/tokens/token/<redacted>"
        );
        assert_eq!(l("/npm/left-pad"), "/npm/left-pad");
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        use super::client_address;
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let proxy = ip("10.0.0.1");
        let mut headers = poem::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        // From the proxy: the rightmost address it was not told by itself.
        assert_eq!(
            client_address(Some(proxy), &headers, &[proxy]),
            Some(ip("203.0.113.7"))
        );
        // Two proxies: past both.
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.2".parse().unwrap());
        assert_eq!(
            client_address(Some(proxy), &headers, &[proxy, ip("10.0.0.2")]),
            Some(ip("203.0.113.7"))
        );
        // From anyone else the header is the client's own claim: ignored.
        let stranger = ip("198.51.100.9");
        assert_eq!(
            client_address(Some(stranger), &headers, &[proxy]),
            Some(stranger)
        );
        // Garbage stops the walk at the last believable address.
        headers.insert("x-forwarded-for", "nonsense".parse().unwrap());
        assert_eq!(client_address(Some(proxy), &headers, &[proxy]), Some(proxy));
    }

    #[test]
    fn scoped_names_become_one_segment() {
        assert_eq!(c("/packages/@s/n").as_deref(), Some("/packages/%40s%2Fn"));
        assert_eq!(
            c("/packages/@s/n/1.0.0/tarball").as_deref(),
            Some("/packages/%40s%2Fn/1.0.0/tarball")
        );
        assert_eq!(
            c("/packages/%40s%2fn/versions").as_deref(),
            Some("/packages/%40s%2Fn/versions")
        );
        assert_eq!(c("/packages/@s%2Fn").as_deref(), Some("/packages/%40s%2Fn"));
        assert_eq!(c("/packages/%40s%2Fn"), None);
    }

    #[test]
    fn download_paths_take_the_name_after_the_period() {
        assert_eq!(
            c("/downloads/point/last-week/@s/n").as_deref(),
            Some("/downloads/point/last-week/%40s%2Fn")
        );
        assert_eq!(
            c("/downloads/range/2024-01-01:2024-01-31/%40s%2fn").as_deref(),
            Some("/downloads/range/2024-01-01:2024-01-31/%40s%2Fn")
        );
        assert_eq!(
            c("/downloads/point/last-day/a,@s/b,@t%2Fc").as_deref(),
            Some("/downloads/point/last-day/a%2C%40s%2Fb%2C%40t%2Fc")
        );
        assert_eq!(c("/downloads/point/last-day"), None);
        assert_eq!(c("/downloads/point/last-day/plain"), None);
        // A trailing slash is not part of the last name.
        assert_eq!(
            c("/downloads/point/last-day/a,@s/b/").as_deref(),
            Some("/downloads/point/last-day/a%2C%40s%2Fb")
        );
        assert_eq!(
            c("/downloads/point/last-day/plain/").as_deref(),
            Some("/downloads/point/last-day/plain")
        );
        // Only a trailing one: an empty segment inside stays in the name (and is refused).
        assert_eq!(
            c("/downloads/point/last-day/@s//b").as_deref(),
            Some("/downloads/point/last-day/%40s%2F%2Fb")
        );
        assert_eq!(
            c("/versions/@s/n/last-week").as_deref(),
            Some("/versions/%40s%2Fn/last-week")
        );
    }

    #[test]
    fn unscoped_names_stay() {
        assert_eq!(c("/packages/foo/1.0.0"), None);
        assert_eq!(c("/packages/foo"), None);
        assert_eq!(c("/health"), None);
    }
}
