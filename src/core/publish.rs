//! The publish use case, shared by every wire shape.
//!
//! Order of work: validate what was sent (cheap checks first), check the token may publish the
//! name, inspect the tarball (bounded), store the blob, then commit package + version in one
//! store transaction that also enforces "version already exists" and ownership. A crash before
//! the commit leaves at most an unreferenced blob; after it, the version is complete.

use bytes::Bytes;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::blobs::{BlobError, BlobKey};
use crate::config::Limits;
use crate::core::Core;
use crate::core::auth::{Caller, NotAllowed};
use crate::core::names::{InvalidName, InvalidVersion, PackageName, Version, parse_version};
use crate::core::resolve;
use crate::core::tarball::{self, TarballError};
use crate::store::{Denied, PackageRecord, StoreError, VersionRecord};

/// What a client sent to publish one version.
pub struct PublishRequest {
    /// The package.json (or the part of it) sent beside the tarball, if any.
    pub metadata: Option<Map<String, Value>>,
    pub tarball: Bytes,
    /// Dist-tags to point at the new version (npm's `--tag`). `None`: the Pantry API's rule,
    /// `latest` follows the highest non-prerelease version. `Some`: exactly these tags move;
    /// `latest` also goes to the first version a package gets.
    pub tags: Option<Vec<String>>,
    /// When the version was first published, for an import that keeps the source's time
    /// (`core::import`); `None`, as every client publish sends: now.
    pub published_at: Option<OffsetDateTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Name(#[from] InvalidName),
    #[error(transparent)]
    Version(#[from] InvalidVersion),
    #[error("metadata field `{0}` must be a string")]
    FieldType(&'static str),
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}")]
    Tag(String),
    /// A list in the manifest (keywords, people, dependencies) is past its cap.
    #[error("{0}")]
    TooMany(String),
    /// The package's metadata, with this version, would be past `limits.max_packument_bytes`.
    #[error(
        "The package's metadata would grow past the limit of {0} bytes (limits.max_packument_bytes); deprecate or unpublish old versions first"
    )]
    PackumentTooLarge(u64),
    #[error(transparent)]
    Tarball(#[from] TarballError),
    #[error(transparent)]
    NotAllowed(#[from] NotAllowed),
    #[error("Version already exists")]
    VersionExists,
    #[error("Version {0} was unpublished and its number cannot be used again")]
    VersionUnpublished(String),
    #[error("{0}")]
    NotOwner(String),
    /// The name (or the first name of a scope) is served from the upstream: publishing it here
    /// would hide the upstream package from every user of this registry.
    #[error("{0}")]
    ShadowsUpstream(String),
    /// Whether the name exists upstream could not be found out.
    #[error("{0}")]
    UpstreamUnknown(String),
    #[error(transparent)]
    Busy(#[from] crate::core::budget::Busy),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl From<StoreError> for PublishError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionExists(_) => PublishError::VersionExists,
            StoreError::VersionUnpublished(v) => PublishError::VersionUnpublished(v),
            StoreError::Denied(denied) => match denied.kind {
                crate::store::DenialKind::Forbidden => PublishError::NotOwner(denied.message),
                _ => PublishError::Tag(denied.message),
            },
            other => PublishError::Store(other),
        }
    }
}

fn string_field<'a>(
    map: Option<&'a Map<String, Value>>,
    key: &'static str,
) -> Result<Option<&'a str>, PublishError> {
    match map.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(PublishError::FieldType(key)),
    }
}

/// A dist-tag name: non-empty, URL-safe, and not itself a version or range (npm's rule, so that
/// `pkg@tag` is never ambiguous).
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let url_safe = tag
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if tag.is_empty() || tag.len() > 128 || !url_safe {
        return Err(format!(
            "Invalid dist-tag {tag:?}: use letters, digits, `-`, `.`, `_` or `~`"
        ));
    }
    if semver::VersionReq::parse(tag).is_ok()
        || tag.starts_with('v') && semver::Version::parse(&tag[1..]).is_ok()
    {
        return Err(format!(
            "Invalid dist-tag {tag:?}: a tag cannot look like a version or range"
        ));
    }
    Ok(())
}

/// Metadata fields that may fill gaps in the tarball's package.json. Anything that changes what
/// gets installed (dependencies, bin, scripts, dist) comes only from the tarball.
const DESCRIPTIVE_FIELDS: &[&str] = &[
    "description",
    "keywords",
    "homepage",
    "repository",
    "license",
    "author",
    "contributors",
    "bugs",
    "readme",
    "readmeFilename",
    "gitHead",
];

async fn precheck(
    core: &Core,
    caller: &Caller,
    name: &PackageName,
    version: &Version,
) -> Result<(), PublishError> {
    if core
        .store
        .version(name.as_str(), &version.to_string())
        .await?
        .is_some()
    {
        return Err(PublishError::VersionExists);
    }
    if let Some(pkg) = core.store.package(name.as_str()).await?
        && !caller.is_admin()
        && !pkg.owners.contains(&caller.user)
    {
        return Err(not_owner(name.as_str()));
    }
    Ok(())
}

/// The manifest fields that list dependencies, each capped at `limits.max_dependencies`.
const DEPENDENCY_FIELDS: &[&str] = &[
    "dependencies",
    "devDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "optionalDependencies",
    "bundleDependencies",
    "bundledDependencies",
];

/// How many entries a list field holds (an object's keys, an array's items).
fn entries(value: Option<&Value>) -> usize {
    match value {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// Refuses a manifest whose lists are past their caps: keywords, each dependency field, and the
/// people it names (every client that reads the packument walks them all).
fn check_counts(manifest: &Map<String, Value>, limits: &Limits) -> Result<(), PublishError> {
    let over = |field: &str, max: usize| {
        let n = entries(manifest.get(field));
        (n > max).then(|| {
            PublishError::TooMany(format!(
                "`{field}` has {n} entries; a version may have at most {max} ({})",
                match field {
                    "keywords" => "limits.max_keywords",
                    "maintainers" | "contributors" => "limits.max_maintainers",
                    _ => "limits.max_dependencies",
                }
            ))
        })
    };
    let checks = [("keywords", limits.max_keywords)]
        .into_iter()
        .chain(["maintainers", "contributors"].map(|f| (f, limits.max_maintainers)))
        .chain(
            DEPENDENCY_FIELDS
                .iter()
                .map(|f| (*f, limits.max_dependencies)),
        );
    for (field, max) in checks {
        if let Some(refusal) = over(field, max) {
            return Err(refusal);
        }
    }
    Ok(())
}

/// Applies the caps to the manifest that will be stored (and served in every packument):
/// a readme longer than `limits.max_readme_bytes` keeps its first part, as the npm registry
/// keeps the first 64 KiB; the rest of the manifest (metadata fields included, whatever path
/// they came by) must fit in `limits.max_manifest_bytes`; keywords, people and dependencies
/// are counted against their caps.
fn bound_manifest(manifest: &mut Map<String, Value>, limits: &Limits) -> Result<(), PublishError> {
    check_counts(manifest, limits)?;
    // A readme is text; anything else under that key is not kept at all.
    if manifest.get("readme").is_some_and(|r| !r.is_string()) {
        manifest.remove("readme");
    }
    if let Some(Value::String(readme)) = manifest.get_mut("readme")
        && readme.len() as u64 > limits.max_readme_bytes
    {
        let mut cut = limits.max_readme_bytes as usize;
        while !readme.is_char_boundary(cut) {
            cut -= 1;
        }
        readme.truncate(cut);
    }
    let readme = manifest.remove("readme");
    let size = serde_json::to_vec(&*manifest).map(|v| v.len()).unwrap_or(0) as u64;
    if let Some(r) = readme {
        manifest.insert("readme".into(), r);
    }
    if size > limits.max_manifest_bytes {
        return Err(PublishError::Tarball(TarballError::ManifestTooLarge(
            limits.max_manifest_bytes,
        )));
    }
    Ok(())
}

/// Refuses a version that would take the package's metadata (its stored version records,
/// each carrying a manifest that every full packument serves) past
/// `limits.max_packument_bytes`. Checked before the write; two publishes racing past the line
/// can overshoot it by one manifest.
async fn check_packument_room(
    core: &Core,
    name: &PackageName,
    manifest: &Map<String, Value>,
) -> Result<(), PublishError> {
    let max = core.settings.limits.max_packument_bytes;
    let total = core
        .store
        .versions_size(name.as_str())
        .await?
        .saturating_add(serialized_size(manifest));
    if total > max {
        return Err(PublishError::PackumentTooLarge(max));
    }
    Ok(())
}

fn serialized_size(manifest: &Map<String, Value>) -> u64 {
    serde_json::to_vec(manifest).map_or(0, |v| v.len() as u64)
}

/// The shadowing guard. With the npm fallback on, a name this registry does not host resolves to
/// the upstream's package for every user; the first local publish of it would silently replace
/// that package (`npm publish` of `react@99.0.0` would take `react` away from the whole team).
/// So a publish that would start hiding upstream packages needs an admin, or the name (or
/// scope) declared ours in `npm.local_names` / `npm.local_scopes`:
/// - an unscoped name the upstream has is refused; one it does not have is allowed;
/// - the first name of a scope is refused: a scope with a local package is never looked up
///   upstream, so it would hide every upstream package of the scope, and the upstream cannot
///   be asked which packages a scope holds.
///
/// A name that already has local versions, or was unpublished here, is ours and passes.
async fn check_not_shadowing(
    core: &Core,
    caller: &Caller,
    name: &PackageName,
) -> Result<(), PublishError> {
    let npm = &core.settings.npm;
    if caller.is_admin()
        || !crate::core::proxy::may_proxy(npm, core.store.as_ref(), name.as_str()).await?
        || core.store.package(name.as_str()).await?.is_some()
    {
        return Ok(());
    }
    let upstream = npm.upstream.trim_end_matches('/');
    if let Some(scope) = name.scope() {
        return Err(PublishError::ShadowsUpstream(format!(
            "{scope} has no packages on this registry yet, so every {scope}/* name is served from \
             the upstream registry ({upstream}); publishing {name} would make the scope local and \
             hide all upstream {scope}/* packages from this registry's users. If {scope} is your \
             scope, add it to npm.local_scopes, or publish its first package with an admin token"
        )));
    }
    use crate::core::proxy::ProxyError;
    match core.fallback.packument(core, name).await {
        Ok(_) => Err(PublishError::ShadowsUpstream(format!(
            "{name} exists on the upstream registry ({upstream}); publishing it here would hide \
             the upstream package from everyone who installs {name} through this registry. If \
             {name} is meant to be yours, add it to npm.local_names, or publish it with an admin \
             token"
        ))),
        Err(ProxyError::NotFound) => Ok(()),
        // Offline, the upstream cannot be asked, and it will not be reachable later either: a
        // name taken now would hide the upstream package once the fallback goes online.
        Err(ProxyError::Offline) => Err(PublishError::ShadowsUpstream(format!(
            "npm.offline is on, so this registry cannot tell whether {name} exists on the \
             upstream registry ({upstream}); publishing it could hide the upstream package once \
             the fallback is online again. If {name} is meant to be yours, add it to \
             npm.local_names, or publish it with an admin token"
        ))),
        Err(ProxyError::Store(e)) => Err(PublishError::Store(e)),
        Err(e) => Err(PublishError::UpstreamUnknown(format!(
            "Cannot tell whether {name} exists on the upstream registry ({e}); publishing it \
             could hide the upstream package. Try again later, or add it to npm.local_names"
        ))),
    }
}

fn not_owner(name: &str) -> PublishError {
    PublishError::NotOwner(format!(
        "You are not an owner of {name}; only its owners can publish new versions"
    ))
}

impl crate::core::audit::AuditedError for PublishError {
    fn is_fault(&self) -> bool {
        matches!(
            self,
            PublishError::Store(_) | PublishError::Blob(_) | PublishError::Busy(_)
        )
    }
}

/// Publishes one version; returns the stored version record. Audited as `npm.publish`.
pub async fn publish(
    core: &Core,
    caller: &Caller,
    request: PublishRequest,
) -> Result<VersionRecord, PublishError> {
    let field = |k: &str| {
        request
            .metadata
            .as_ref()
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    let asked = format!("npm:{}@{}", field("name"), field("version"));
    let result = publish_checked(core, caller, request).await;
    let target = match &result {
        Ok(v) => format!("npm:{}@{}", v.name, v.version),
        Err(_) => asked,
    };
    let actor = crate::core::audit::Actor::of(caller);
    core.audit.result(&actor, "npm.publish", target, &result);
    result
}

async fn publish_checked(
    core: &Core,
    caller: &Caller,
    request: PublishRequest,
) -> Result<VersionRecord, PublishError> {
    let limits = &core.settings.limits;
    let meta = request.metadata.as_ref();
    // Names and versions sent as metadata are checked before the tarball is opened.
    let meta_name = string_field(meta, "name")?
        .map(|n| PackageName::parse(n, limits.max_name_length))
        .transpose()?;
    let meta_version = string_field(meta, "version")?
        .map(parse_version)
        .transpose()?;
    if let Some(name) = &meta_name {
        caller.check_publish(name)?;
        check_not_shadowing(core, caller, name).await?;
    }

    let bytes = request.tarball.clone();
    let limits_owned = limits.clone();
    let inspected = core
        .work
        .run(move || tarball::inspect(&bytes, &limits_owned))
        .await??;

    let tar_name = string_field(Some(&inspected.manifest), "name")?
        .ok_or_else(|| PublishError::Mismatch("package.json in the tarball has no name".into()))?;
    let tar_version = string_field(Some(&inspected.manifest), "version")?.ok_or_else(|| {
        PublishError::Mismatch("package.json in the tarball has no version".into())
    })?;
    let name = match meta_name {
        Some(name) if name.as_str() != tar_name => {
            return Err(PublishError::Mismatch(format!(
                "metadata name {name} does not match the tarball's package.json name {tar_name:?}"
            )));
        }
        Some(name) => name,
        None => {
            let name = PackageName::parse(tar_name, limits.max_name_length)?;
            caller.check_publish(&name)?;
            check_not_shadowing(core, caller, &name).await?;
            name
        }
    };
    let tar_version = parse_version(tar_version)?;
    let version = match meta_version {
        Some(v) if v != tar_version => {
            return Err(PublishError::Mismatch(format!(
                "metadata version {v} does not match the tarball's package.json version {tar_version}"
            )));
        }
        _ => tar_version,
    };

    // Refuse before anything is written when the outcome is already known; the store's commit
    // re-checks both atomically and stays the final word under concurrency.
    precheck(core, caller, &name, &version).await?;

    // The tarball's package.json is what gets installed, so it is authoritative. Descriptive
    // fields the tarball lacks (a description sent only as metadata, npm's readme) are kept.
    let mut manifest = inspected.manifest;
    if let Some(meta) = request.metadata {
        for (k, v) in meta {
            if DESCRIPTIVE_FIELDS.contains(&k.as_str()) {
                manifest.entry(k).or_insert(v);
            }
        }
    }
    // Without a readme in the metadata (the Pantry API, the Pantry CLI), the tarball's README
    // is the package's, as npm would have sent it.
    if !manifest.contains_key("readme")
        && let Some((file, text)) = inspected.readme
    {
        manifest.insert("readme".into(), Value::String(text));
        manifest
            .entry("readmeFilename")
            .or_insert(Value::String(file));
    }
    manifest.insert("name".into(), Value::String(name.to_string()));
    manifest.insert("version".into(), Value::String(version.to_string()));
    bound_manifest(&mut manifest, limits)?;
    check_packument_room(core, &name, &manifest).await?;

    let key = BlobKey::parse(&inspected.info.sha256).expect("sha256 hex is a valid key");
    // Held until the version is committed: no blob deletion runs between the put and the
    // record that names the blob.
    let storing = core.blob_gate.storing().await;
    core.blobs.put(&key, request.tarball).await?;

    let now = request.published_at.unwrap_or_else(OffsetDateTime::now_utc);
    let record = VersionRecord {
        name: name.to_string(),
        version: version.to_string(),
        manifest,
        tarball: inspected.info,
        published_at: now,
        published_by: caller.user.clone(),
    };
    let user = caller.user.clone();
    let is_admin = caller.is_admin();
    let pkg_name = name.to_string();
    let new_version = version.clone();
    let tags = request.tags.clone();
    let max_tags = core.settings.limits.max_dist_tags;
    if let Some(tags) = &tags {
        for tag in tags {
            validate_tag(tag).map_err(PublishError::Mismatch)?;
        }
    }
    let update = Box::new(move |current: Option<PackageRecord>| {
        let mut pkg = match current {
            Some(pkg) => {
                if !is_admin && !pkg.owners.contains(&user) {
                    return Err(Denied::forbidden(not_owner(&pkg_name).to_string()));
                }
                pkg
            }
            None => PackageRecord {
                name: pkg_name.clone(),
                dist_tags: Default::default(),
                owners: vec![user.clone()],
                created_at: now,
                updated_at: now,
                rev: 0,
                stars: Default::default(),
            },
        };
        match &tags {
            None => {
                if resolve::better_latest(
                    pkg.dist_tags.get("latest").map(String::as_str),
                    &new_version,
                ) {
                    pkg.dist_tags
                        .insert("latest".into(), new_version.to_string());
                }
            }
            Some(tags) => {
                // npm checks this on the client; yarn and bun do not, so the server does.
                if tags.iter().any(|t| t == "latest")
                    && let Some(current) = pkg
                        .dist_tags
                        .get("latest")
                        .and_then(|c| Version::parse(c).ok())
                {
                    if !new_version.pre.is_empty() {
                        return Err(Denied::invalid(format!(
                            "A prerelease ({new_version}) cannot become latest; publish it with another tag (--tag next)"
                        )));
                    }
                    if current.pre.is_empty() && new_version < current {
                        return Err(Denied::invalid(format!(
                            "Cannot apply the latest tag: version {current} is higher than {new_version}; publish with another tag"
                        )));
                    }
                }
                for tag in tags {
                    if !pkg.dist_tags.contains_key(tag) && pkg.dist_tags.len() as u64 >= max_tags {
                        return Err(crate::core::packages::too_many_tags(max_tags));
                    }
                    pkg.dist_tags.insert(tag.clone(), new_version.to_string());
                }
                pkg.dist_tags
                    .entry("latest".into())
                    .or_insert_with(|| new_version.to_string());
            }
        }
        // An imported version keeps its old time: it does not make the package older.
        pkg.updated_at = pkg.updated_at.max(now);
        Ok(pkg)
    });
    let store = core.store.clone();
    let written = record.clone();
    core.write_and_index(crate::search::Ecosystem::Npm, &record.name, async move {
        let _storing = storing;
        store.publish_version(written, update).await
    })
    .await?;
    tracing::info!(pkg.name = %record.name, pkg.version = %record.version, size_bytes = record.tarball.size, user = %record.published_by, "published");
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_follows_highest_stable() {
        let v = |s| Version::parse(s).unwrap();
        assert!(resolve::better_latest(None, &v("1.0.0-beta.1")));
        assert!(resolve::better_latest(Some("1.0.0-beta.1"), &v("0.9.0")));
        assert!(!resolve::better_latest(Some("1.0.0"), &v("2.0.0-rc.1")));
        assert!(resolve::better_latest(Some("1.2.0"), &v("1.10.0")));
        assert!(!resolve::better_latest(Some("1.10.0"), &v("1.2.0")));
        assert!(resolve::better_latest(
            Some("1.0.0-alpha"),
            &v("1.0.0-beta")
        ));
    }
}
