//! The web UI's stylesheet and script, embedded from `assets/web/` and served under names that
//! carry a hash of their content (`app.3f2a1b9c.css`), so they can be cached for good: a new
//! build with other content has other names.

use std::collections::HashMap;
use std::sync::OnceLock;

use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{IntoResponse, Response, handler};
use rust_embed::Embed;
use sha2::Digest;

#[derive(Embed)]
#[folder = "assets/web/"]
struct WebAssets;

/// One asset: its hashed name, type and bytes.
struct Asset {
    hashed: String,
    content_type: &'static str,
    bytes: Vec<u8>,
}

/// An asset under its hashed name.
fn asset(name: &str, bytes: Vec<u8>) -> Asset {
    let hash = &hex::encode(sha2::Sha256::digest(&bytes))[..12];
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let content_type = match ext {
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };
    Asset {
        hashed: format!("{stem}.{hash}.{ext}"),
        content_type,
        bytes,
    }
}

/// Every asset by its plain name: the embedded files, and Swagger UI's once installed (the
/// server installs them before it serves).
fn table() -> &'static HashMap<String, Asset> {
    static TABLE: OnceLock<HashMap<String, Asset>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = HashMap::new();
        for file in WebAssets::iter() {
            if let Some(content) = WebAssets::get(&file) {
                table.insert(file.to_string(), asset(&file, content.data.into_owned()));
            }
        }
        if let Some(swagger) = super::docs::swagger() {
            for (name, bytes) in [
                ("swagger-ui-bundle.js", &swagger.script),
                ("swagger-ui.css", &swagger.style),
            ] {
                table.insert(name.to_string(), asset(name, bytes.clone()));
            }
        }
        table
    })
}

/// The URL path of the asset `name` (`app.css` → `/assets/app.<hash>.css`).
pub fn asset_path(name: &str) -> String {
    match table().get(name) {
        Some(asset) => format!("/assets/{}", asset.hashed),
        None => format!("/assets/{name}"),
    }
}

/// `GET /assets/<hashed name>`: the asset, cached for a year; any other name is 404.
#[handler]
pub fn serve(Path(file): Path<String>) -> Response {
    match table().values().find(|a| a.hashed == file) {
        Some(asset) => {
            let mut resp = Response::builder()
                .content_type(asset.content_type)
                .header(header::CACHE_CONTROL, crate::http::IMMUTABLE)
                .body(asset.bytes.clone());
            super::secure(&mut resp);
            resp
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
