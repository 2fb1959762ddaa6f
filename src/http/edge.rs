//! The edge every request passes: path canonicalisation for package names, CORS as the seed
//! does it, JSON errors for everything (never an HTML or plain-text error page), and a log line.

use std::time::Instant;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use poem::http::{HeaderValue, Method, StatusCode, Uri};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::error::ApiError;

/// Prefixes under which the next path segment(s) name a package.
const PACKAGE_PREFIXES: &[&str] = &["/packages/", "/analytics/"];

/// Characters escaped when a package name becomes one path segment (`@` and `/` among them).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Rewrites `/packages/@scope/name/...` (raw, or with `%40`, `%2F`, `%2f` in any mix) to the
/// canonical `/packages/%40scope%2Fname/...`, so the router sees a package name as one segment.
pub fn canonical_package_path(path: &str) -> Option<String> {
    let prefix = PACKAGE_PREFIXES.iter().find(|p| path.starts_with(*p))?;
    let rest = &path[prefix.len()..];
    let mut segments = rest.split('/');
    let first = percent_decode_str(segments.next()?).decode_utf8().ok()?;
    let name = if first.starts_with('@') && !first.contains('/') {
        let second = percent_decode_str(segments.next()?).decode_utf8().ok()?;
        format!("{first}/{second}")
    } else {
        first.into_owned()
    };
    let mut out = format!("{prefix}{}", utf8_percent_encode(&name, SEGMENT));
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

/// The middleware function; wrap the whole app with `.around(edge)`.
pub async fn edge<E: Endpoint>(ep: std::sync::Arc<E>, mut req: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let method = req.method().clone();
    let original_path = req.uri().path().to_string();
    if let Some(new_path) = canonical_package_path(&original_path)
        && let Some(uri) = rewrite_uri(req.uri(), &new_path)
    {
        *req.uri_mut() = uri;
    }
    if method == Method::HEAD {
        req.set_data(HeadRequest);
    }
    let mut resp = if method == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        match ep.call(req).await {
            Ok(r) => r.into_response(),
            Err(err) => ApiError::from_poem(&err).into_http_response(),
        }
    };
    add_cors(&mut resp);
    tracing::debug!(
        http.method = %method,
        http.path = %original_path,
        http.status = resp.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::canonical_package_path as c;

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
    fn unscoped_names_stay() {
        assert_eq!(c("/packages/foo/1.0.0"), None);
        assert_eq!(c("/packages/foo"), None);
        assert_eq!(c("/health"), None);
    }
}
