//! `/docs`: Swagger UI over `/openapi.json`, under the same CSP as every page. Its bundle and
//! stylesheet are the ones poem-openapi vendors (taken out of the page it generates, where
//! they are inline) and served as content-hashed assets; `assets/web/docs.js` starts it.

use std::sync::OnceLock;

use poem::http::StatusCode;
use poem::{Response, handler};

use super::assets::asset_path;
use super::html::esc;

/// Swagger UI's script and stylesheet.
pub struct SwaggerAssets {
    pub script: Vec<u8>,
    pub style: Vec<u8>,
}

static SWAGGER: OnceLock<SwaggerAssets> = OnceLock::new();

/// The text between `open` and `close` in `html`.
fn between<'a>(html: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = html.find(open)? + open.len();
    let end = html[start..].find(close)? + start;
    Some(&html[start..end])
}

/// Takes Swagger UI's bundle and stylesheet out of poem-openapi's generated page (once per
/// process: they are the same for every registry).
pub fn install(generated: &str) {
    SWAGGER.get_or_init(|| SwaggerAssets {
        script: between(generated, "<script charset=\"UTF-8\">", "</script>")
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
        style: between(generated, "<style charset=\"UTF-8\">", "</style>")
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
    });
}

/// Swagger UI's files, once [`install`] ran.
pub fn swagger() -> Option<&'static SwaggerAssets> {
    SWAGGER.get()
}

/// `GET /docs`: the API documentation page.
#[handler]
pub fn docs() -> Response {
    let page = format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API · Pantry Registry</title>
<link rel="stylesheet" href="{swagger_css}">
<link rel="stylesheet" href="{css}">
<script src="{swagger_js}" defer></script>
<script src="{docs_js}" defer></script>
</head>
<body class="docs">
<header class="top">
<a class="brand" href="/">Pantry Registry</a>
<nav aria-label="Site"><a href="/">Home</a> <a href="/connect">Connect a client</a> <a href="/openapi.json">OpenAPI document</a> <a href="/account">Account</a></nav>
</header>
<main id="ui"><noscript><p>The API documentation needs JavaScript; <a href="/openapi.json">the OpenAPI document</a> is readable without it.</p></noscript></main>
</body>
</html>
"##,
        swagger_css = esc(&asset_path("swagger-ui.css")),
        css = esc(&asset_path("docs.css")),
        swagger_js = esc(&asset_path("swagger-ui-bundle.js")),
        docs_js = esc(&asset_path("docs.js")),
    );
    super::page_response(StatusCode::OK, page)
}
