//! `/-/package/{pkg}/dist-tags[/{tag}]`: list, set (body is a JSON string), remove.

use poem::Request;
use poem::http::StatusCode;
use serde_json::{Value, json};

use super::{NpmEndpoint, NpmResult, json};
use crate::core::packages;
use crate::error::ApiError;

pub async fn list(ep: &NpmEndpoint, req: &Request, pkg: &str) -> NpmResult {
    let reader = ep.reader(req).await?;
    let name = ep.read_name(pkg)?;
    let not_found = || ApiError::not_found(format!("no such package available: {name}"));
    let (tags, _) = crate::core::resolve::dist_tags(&ep.core, &reader, &name)
        .await
        .map_err(|e| e.into_api(not_found, not_found))?;
    let body = serde_json::to_vec(&tags).expect("JSON values serialize");
    Ok(super::packument::cached_json(
        req,
        body,
        "application/json; charset=utf-8",
    ))
}

pub async fn set(ep: &NpmEndpoint, req: &mut Request, pkg: &str, tag: &str) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    let name = ep.package_name(pkg)?;
    let version = match ep.json_body(req, 4096).await? {
        Value::String(v) => v,
        _ => {
            return Err(ApiError::bad_request(
                "the body must be a JSON string naming a version",
            ));
        }
    };
    packages::set_dist_tag(&ep.core, &caller, name.as_str(), tag, &version).await?;
    Ok(json(StatusCode::CREATED, &json!({"ok": "package tagged"})))
}

pub async fn remove(ep: &NpmEndpoint, req: &Request, pkg: &str, tag: &str) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    let name = ep.package_name(pkg)?;
    packages::remove_dist_tag(&ep.core, &caller, name.as_str(), tag).await?;
    Ok(json(StatusCode::OK, &json!({"ok": "tag removed"})))
}
