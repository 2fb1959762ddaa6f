//! `PUT /{pkg}`: npm's publish (a document with `_attachments`) and its whole-document writes
//! (deprecate, unpublish one version, owner changes), told apart and diffed against the store.
//! Also the unpublish `DELETE`s.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use bytes::Bytes;
use poem::Request;
use poem::http::StatusCode;
use serde_json::{Map, Value, json};

use super::packument::version_of_file;
use super::{NpmEndpoint, NpmResult, json};
use crate::core::packages::{self, DocumentChange};
use crate::core::publish::{self, PublishError, PublishRequest};
use crate::core::tarball::digests;
use crate::error::ApiError;

pub async fn put_document(
    ep: &NpmEndpoint,
    req: &mut Request,
    pkg: &str,
    url_rev: Option<&str>,
) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    let name = ep.package_name(pkg)?;
    let limit = ep.core.settings.limits.max_request_bytes;
    let Value::Object(doc) = ep.json_body(req, limit).await? else {
        return Err(ApiError::bad_request(
            "the package document must be a JSON object",
        ));
    };
    if let Some(body_name) = doc
        .get("name")
        .or_else(|| doc.get("_id"))
        .and_then(Value::as_str)
        && body_name != name.as_str()
    {
        return Err(ApiError::bad_request(format!(
            "the document is for {body_name:?}, but the URL names {name}"
        )));
    }
    let has_attachments = doc
        .get("_attachments")
        .and_then(Value::as_object)
        .is_some_and(|a| !a.is_empty());
    if has_attachments {
        publish_document(ep, &caller, name.as_str(), doc).await
    } else {
        let rev = url_rev
            .map(str::to_string)
            .or_else(|| doc.get("_rev").and_then(Value::as_str).map(str::to_string));
        change_document(ep, &caller, name.as_str(), &doc, rev).await
    }
}

/// A new version: exactly one entry in `versions`, its tarball in `_attachments`.
async fn publish_document(
    ep: &NpmEndpoint,
    caller: &crate::core::auth::Caller,
    name: &str,
    mut doc: Map<String, Value>,
) -> NpmResult {
    let versions = doc
        .remove("versions")
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    if versions.len() != 1 {
        return Err(ApiError::bad_request(
            "a publish must carry exactly one version",
        ));
    }
    let (version, manifest) = versions.into_iter().next().expect("one version");
    let Value::Object(mut manifest) = manifest else {
        return Err(ApiError::bad_request(
            "the version manifest must be an object",
        ));
    };
    // The URL, the version key and the manifest must all name the same thing.
    if manifest.get("name").and_then(Value::as_str) != Some(name) {
        return Err(ApiError::bad_request(format!(
            "the version manifest is not for {name}"
        )));
    }
    if manifest.get("version").and_then(Value::as_str) != Some(version.as_str()) {
        return Err(ApiError::bad_request(format!(
            "the version key {version:?} does not match the manifest's version"
        )));
    }
    let attachments = doc.remove("_attachments").expect("checked by the caller");
    let attachments = attachments.as_object().expect("checked by the caller");
    let bare = name.rsplit('/').next().unwrap_or(name);
    let wanted = [
        format!("{name}-{version}.tgz"),
        format!("{bare}-{version}.tgz"),
    ];
    let attachment = wanted
        .iter()
        .find_map(|k| attachments.get(k))
        .or_else(|| {
            attachments
                .iter()
                .find(|(k, _)| k.ends_with(".tgz"))
                .map(|(_, v)| v)
        })
        .ok_or_else(|| ApiError::bad_request("no .tgz attachment for the version"))?;
    let data = attachment
        .get("data")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("the attachment has no data"))?;
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let tarball = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| ApiError::bad_request(format!("the attachment is not valid base64: {e}")))?;
    if let Some(length) = attachment.get("length").and_then(Value::as_u64)
        && length != tarball.len() as u64
    {
        return Err(ApiError::bad_request(format!(
            "the attachment is {} bytes, but its length says {length}",
            tarball.len()
        )));
    }
    let (_, sha1, integrity) = digests(&tarball);
    if let Some(dist) = manifest.get("dist").and_then(Value::as_object) {
        if let Some(shasum) = dist.get("shasum").and_then(Value::as_str)
            && !shasum.eq_ignore_ascii_case(&sha1)
        {
            return Err(ApiError::bad_request(
                "shasum error: dist.shasum does not match the attachment",
            ));
        }
        if let Some(claimed) = dist.get("integrity").and_then(Value::as_str)
            && claimed.starts_with("sha512-")
            && claimed != integrity
        {
            return Err(ApiError::bad_request(
                "integrity error: dist.integrity does not match the attachment",
            ));
        }
    }
    // Yarn sends the readme at the top level; npm inside the version.
    if !manifest.contains_key("readme")
        && let Some(readme) = doc.get("readme").filter(|r| r.is_string())
    {
        manifest.insert("readme".into(), readme.clone());
    }
    manifest.remove("dist");
    let body_tags = doc.get("dist-tags").and_then(Value::as_object);
    if let Some((tag, _)) = body_tags
        .into_iter()
        .flatten()
        .find(|(_, v)| v.as_str() != Some(version.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "dist-tag {tag:?} must point at the version being published, {version}"
        )));
    }
    let tags: Vec<String> = body_tags
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let tags = if tags.is_empty() {
        vec!["latest".to_string()]
    } else {
        tags
    };
    let request = PublishRequest {
        metadata: Some(manifest),
        tarball: Bytes::from(tarball),
        tags: Some(tags),
        published_at: None,
    };
    match publish::publish(&ep.core, caller, request).await {
        Ok(_) => Ok(json(
            StatusCode::CREATED,
            &json!({"ok": "created new package", "success": true}),
        )),
        Err(PublishError::VersionExists) | Err(PublishError::VersionUnpublished(_)) => {
            Err(ApiError::forbidden(format!(
                "You cannot publish over the previously published versions: {version}."
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// A whole-document write: what differs from the store is what the client asks for.
async fn change_document(
    ep: &NpmEndpoint,
    caller: &crate::core::auth::Caller,
    name: &str,
    doc: &Map<String, Value>,
    rev: Option<String>,
) -> NpmResult {
    let mut change = DocumentChange::default();
    if let Some(versions) = doc.get("versions").and_then(Value::as_object) {
        change.versions = Some(versions.keys().cloned().collect::<BTreeSet<_>>());
        let mut deprecations = BTreeMap::new();
        for (v, manifest) in versions {
            match manifest.get("deprecated") {
                Some(Value::String(msg)) if msg.is_empty() => {
                    deprecations.insert(v.clone(), None);
                }
                Some(Value::String(msg)) => {
                    deprecations.insert(v.clone(), Some(msg.clone()));
                }
                Some(Value::Bool(false)) => {
                    deprecations.insert(v.clone(), None);
                }
                _ => {}
            }
        }
        change.deprecations = deprecations;
    }
    if let Some(maintainers) = doc.get("maintainers").and_then(Value::as_array) {
        if maintainers.len() > packages::MAX_OWNERS {
            return Err(ApiError::bad_request(format!(
                "a package can have at most {} owners",
                packages::MAX_OWNERS
            )));
        }
        let mut names: Vec<String> = Vec::new();
        for m in maintainers {
            let name = m
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request("each maintainer needs a name"))?;
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        change.owners = Some(names);
    }
    change.expected_rev = rev;
    if change.versions.is_none() && change.owners.is_none() {
        // `npm star` / `npm unstar`: the document's `users` with the caller's own entry set
        // or removed. Only that entry counts: nobody stars for someone else.
        let Some(users) = doc.get("users").and_then(Value::as_object) else {
            return Err(ApiError::bad_request(
                "nothing to change: a package document write here changes versions (unpublish, deprecate), maintainers or stars (users); it had none of them",
            ));
        };
        let reader = crate::core::access::Reader::signed_in(caller.clone());
        ep.core
            .access
            .local(&ep.core, &reader, name)
            .await
            .map_err(|e| match e {
                crate::core::access::ReadRefused::SignInRequired(why) => {
                    ApiError::unauthorized(why)
                }
                crate::core::access::ReadRefused::Store(e) => e.into(),
            })?;
        let starred = users
            .get(&caller.user)
            .is_some_and(|v| v != &Value::Bool(false));
        packages::set_star(&ep.core, caller, name, starred).await?;
        return Ok(json(
            StatusCode::OK,
            &json!({"ok": if starred { "starred" } else { "unstarred" }, "success": true}),
        ));
    }
    packages::apply_document(&ep.core, caller, name, change).await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({"ok": "package changed", "success": true}),
    ))
}

/// `DELETE /{pkg}/-rev/{rev}`: unpublish the whole package (at the revision the client saw).
pub async fn delete_package(ep: &NpmEndpoint, req: &Request, pkg: &str, rev: &str) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    let name = ep.package_name(pkg)?;
    packages::unpublish_package(&ep.core, &caller, name.as_str(), rev).await?;
    Ok(json(
        StatusCode::OK,
        &json!({"ok": "package removed", "success": true}),
    ))
}

/// `DELETE /{pkg}/-/{file}/-rev/{rev}`: the last step of npm's one-version unpublish. The
/// version is already gone from the document; its blob stays until garbage collection.
pub async fn delete_tarball(ep: &NpmEndpoint, req: &Request, pkg: &str, file: &str) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    let name = ep.package_name(pkg)?;
    let version = version_of_file(&name, file)
        .ok_or_else(|| ApiError::not_found(format!("no such file available: {file}")))?;
    let still_there = ep
        .core
        .store
        .version(name.as_str(), version)
        .await
        .map_err(ApiError::internal)?
        .is_some();
    if still_there {
        return Err(ApiError::bad_request(format!(
            "{name}@{version} is still published; unpublish the version first"
        )));
    }
    // Nothing is deleted here (blobs go at garbage collection), but only an owner gets a yes.
    if let Some(pkg) = ep
        .core
        .store
        .package(name.as_str())
        .await
        .map_err(ApiError::internal)?
    {
        packages::require_owner(&caller, &pkg).map_err(|d| ApiError::forbidden(d.message))?;
    }
    Ok(json(
        StatusCode::OK,
        &json!({"ok": "tarball removed", "success": true}),
    ))
}
