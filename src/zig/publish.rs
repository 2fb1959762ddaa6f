//! Publishing a Zig package: read the archive as zig does, check the manifest, hash it in
//! both forms, store the archive, and record the version (once: a republish is refused).

use bytes::Bytes;
use time::OffsetDateTime;

use super::hash::{self, UnpackLimits, ZigError};
use super::zon::{self, ZonError};
use crate::blobs::{BlobError, BlobKey};
use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::names::Version;
use crate::error::ApiError;
use crate::store::{Denied, StoreError, TokenScope, ZigPackageRecord, ZigVersionRecord};

/// What a client sent to `POST /zig/publish`.
pub struct ZigPublishRequest {
    pub tarball: Bytes,
    /// The upload's file name (the seed's `name-X.Y.Z.tar.gz` rule for legacy packages).
    pub filename: Option<String>,
    /// The `manifest` form field: build.zig.zon text.
    pub manifest: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ZigPublishError {
    #[error("Tarball is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error(transparent)]
    Archive(#[from] ZigError),
    #[error("the manifest field: {0}")]
    ManifestField(ZonError),
    #[error("{0}")]
    Mismatch(String),
    #[error(
        "Could not determine package name/version. Provide manifest or use name-version.tar.gz filename."
    )]
    NoName,
    #[error("{0}")]
    NotAllowed(String),
    #[error("Version already exists")]
    Exists,
    #[error(transparent)]
    Busy(#[from] crate::core::budget::Busy),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl From<StoreError> for ZigPublishError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionExists(_) => Self::Exists,
            StoreError::Denied(d) => Self::NotAllowed(d.message),
            other => Self::Store(other),
        }
    }
}

impl From<ZigPublishError> for ApiError {
    fn from(e: ZigPublishError) -> Self {
        let msg = e.to_string();
        match e {
            ZigPublishError::TooLarge(_)
            | ZigPublishError::Archive(
                ZigError::TooLarge(_) | ZigError::TooManyEntries(_) | ZigError::Limit(_),
            ) => ApiError::too_large(msg),
            ZigPublishError::Archive(ZigError::NotAnArchive | ZigError::Corrupt(_))
            | ZigPublishError::NoName => ApiError::bad_request(msg),
            ZigPublishError::Archive(_)
            | ZigPublishError::ManifestField(_)
            | ZigPublishError::Mismatch(_) => ApiError::unprocessable(msg),
            ZigPublishError::NotAllowed(_) => ApiError::forbidden(msg),
            ZigPublishError::Busy(_) => ApiError::unavailable(msg),
            ZigPublishError::Exists => ApiError::conflict(msg),
            ZigPublishError::Store(e) => e.into(),
            ZigPublishError::Blob(e) => ApiError::internal(e),
        }
    }
}

/// The seed's rule for uploads without a manifest: `name-X.Y.Z.tar.gz`, name greedy, no prerelease.
fn name_from_filename(filename: &str) -> Option<(String, String)> {
    let stem = filename.strip_suffix(".tar.gz")?;
    let (name, version) = stem.rsplit_once('-')?;
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let ident = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    (numeric && ident && Version::parse(version).is_ok())
        .then(|| (name.to_string(), version.to_string()))
}

/// Refuses, before anything is unpacked, a publish whose declared name the token may not
/// publish: another name than a restricted token's, or a package the caller does not own. A
/// restricted token must declare the name. The archive's own name is checked again after it is
/// read, and the store's commit has the last word on ownership.
async fn check_declared_name(
    core: &Core,
    caller: &Caller,
    declared: Option<&str>,
) -> Result<(), ZigPublishError> {
    match (&caller.restriction, declared) {
        (Some(r), None) => {
            return Err(ZigPublishError::NotAllowed(format!(
                "This token is restricted to {r}: name the package in the `manifest` field or \
                 a `{r}-<version>.tar.gz` file name, so the token is checked before the archive \
                 is opened"
            )));
        }
        (Some(r), Some(name)) if r != name => {
            return Err(ZigPublishError::NotAllowed(format!(
                "This token is restricted to {r} and cannot publish {name}"
            )));
        }
        _ => {}
    }
    if let Some(name) = declared
        && let Some(pkg) = core.store.zig_package(name).await?
        && !caller.is_admin()
        && !pkg.owners.contains(&caller.user)
    {
        return Err(ZigPublishError::NotAllowed(format!(
            "You are not an owner of {name}; only its owners can publish new versions"
        )));
    }
    Ok(())
}

impl crate::core::audit::AuditedError for ZigPublishError {
    fn is_fault(&self) -> bool {
        matches!(
            self,
            ZigPublishError::Store(_) | ZigPublishError::Blob(_) | ZigPublishError::Busy(_)
        )
    }
}

/// Publishes one Zig package version; returns the stored record. Audited as `zig.publish`.
pub async fn publish(
    core: &Core,
    caller: &Caller,
    req: ZigPublishRequest,
) -> Result<ZigVersionRecord, ZigPublishError> {
    let asked = format!("zig:{}", req.filename.as_deref().unwrap_or("?"));
    let result = publish_checked(core, caller, req).await;
    let target = match &result {
        Ok(v) => format!("zig:{}@{}", v.name, v.version),
        Err(_) => asked,
    };
    let actor = crate::core::audit::Actor::of(caller);
    core.audit.result(&actor, "zig.publish", target, &result);
    result
}

async fn publish_checked(
    core: &Core,
    caller: &Caller,
    req: ZigPublishRequest,
) -> Result<ZigVersionRecord, ZigPublishError> {
    let limits = &core.settings.limits;
    if req.tarball.len() as u64 > limits.max_tarball_bytes {
        return Err(ZigPublishError::TooLarge(limits.max_tarball_bytes));
    }
    if caller.scope < TokenScope::Publish {
        return Err(ZigPublishError::NotAllowed(
            "This token has read scope and cannot publish".into(),
        ));
    }
    let unpack_limits = UnpackLimits {
        max_unpacked_bytes: limits.max_unpacked_bytes,
        max_entries: limits.max_tarball_entries,
        max_header_bytes: limits.max_archive_header_bytes,
    };
    // Authorization comes before the archive is opened: the name the request declares (its
    // manifest field, or a `name-version.tar.gz` file name) must be one the token may publish.
    if let Some(m) = &req.manifest
        && m.len() as u64 > limits.max_manifest_bytes
    {
        return Err(ZigPublishError::TooLarge(limits.max_manifest_bytes));
    }
    let field = req
        .manifest
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(zon::parse_manifest)
        .transpose()
        .map_err(ZigPublishError::ManifestField)?;
    let declared = field.as_ref().map(|f| f.name.clone()).or_else(|| {
        req.filename
            .as_deref()
            .and_then(name_from_filename)
            .map(|(n, _)| n)
    });
    check_declared_name(core, caller, declared.as_deref()).await?;
    let bytes = req.tarball.clone();
    let hashed = core
        .work
        .run(move || hash::hash_archive(&bytes, unpack_limits, false))
        .await??;
    let dependencies: Vec<crate::store::ZigDependency> = hashed
        .manifest
        .iter()
        .chain(field.iter())
        .next()
        .map(|m| {
            m.dependencies
                .iter()
                .map(|d| crate::store::ZigDependency {
                    name: d.name.clone(),
                    url: d.url.clone(),
                    path: d.path.clone(),
                    hash: d.hash.clone(),
                    lazy: d.lazy,
                })
                .collect()
        })
        .unwrap_or_default();
    if dependencies.len() > limits.max_dependencies {
        return Err(ZigPublishError::Mismatch(format!(
            "build.zig.zon has {} dependencies; a version may have at most {} (limits.max_dependencies)",
            dependencies.len(),
            limits.max_dependencies
        )));
    }
    let (name, version, minimum) = match (&hashed.manifest, &field) {
        (Some(m), Some(f)) => {
            if (&m.name, &m.version, m.fingerprint) != (&f.name, &f.version, f.fingerprint) {
                return Err(ZigPublishError::Mismatch(format!(
                    "the manifest field ({}@{}) does not match the archive's build.zig.zon ({}@{})",
                    f.name, f.version, m.name, m.version
                )));
            }
            (
                m.name.clone(),
                m.version.clone(),
                m.minimum_zig_version.clone(),
            )
        }
        (Some(m), None) => (
            m.name.clone(),
            m.version.clone(),
            m.minimum_zig_version.clone(),
        ),
        (None, Some(f)) => (
            f.name.clone(),
            f.version.clone(),
            f.minimum_zig_version.clone(),
        ),
        (None, None) => {
            let (n, v) = req
                .filename
                .as_deref()
                .and_then(name_from_filename)
                .ok_or(ZigPublishError::NoName)?;
            (n, v, None)
        }
    };
    if let Some(r) = &caller.restriction
        && r != &name
    {
        return Err(ZigPublishError::NotAllowed(format!(
            "This token is restricted to {r} and cannot publish {name}"
        )));
    }
    let old_style = hashed.manifest.as_ref().is_some_and(|m| m.old_style);
    let (primary, other) = if old_style {
        (hashed.hash.legacy.clone(), Some(hashed.hash.hash.clone()))
    } else {
        (hashed.hash.hash.clone(), Some(hashed.hash.legacy.clone()))
    };
    if core.store.zig_version(&name, &version).await?.is_some() {
        return Err(ZigPublishError::Exists);
    }
    // An archive some zig versions cannot unpack is stored re-packed, with the same hash.
    let (stored, archive, normalized) = if hashed.unpacked.trips_old_zig {
        let top = format!("{name}-{version}");
        let unpacked = hashed.unpacked.clone();
        // Compressing and re-hashing is CPU work: off the async runtime, like the first hash.
        let (repacked, again) = core
            .work
            .run(move || {
                let repacked = hash::repack(&unpacked, &top);
                let again = hash::hash_archive(&repacked, unpack_limits, false);
                (repacked, again)
            })
            .await?;
        let again = again?;
        if again.hash != hashed.hash {
            return Err(ZigPublishError::Store(StoreError::Backend(format!(
                "re-packing {name}@{version} changed its hash ({} -> {})",
                hashed.hash.hash, again.hash.hash
            ))));
        }
        (Bytes::from(repacked), "tar.gz".to_string(), true)
    } else {
        (
            req.tarball.clone(),
            hashed.kind.extension().to_string(),
            false,
        )
    };
    let (sha256, _, _) = crate::core::tarball::digests(&stored);
    let key = BlobKey::parse(&sha256).expect("sha256 hex is a key");
    let now = OffsetDateTime::now_utc();
    let record = ZigVersionRecord {
        name: name.clone(),
        version: version.clone(),
        description: req.description.filter(|d| !d.trim().is_empty()),
        hash: primary,
        legacy_hash: other,
        package_id: hashed.hash.package_id,
        total_size: hashed.hash.total_size,
        sha256,
        archive,
        size: stored.len() as u64,
        normalized,
        dependencies,
        minimum_zig_version: minimum,
        published_at: now,
        published_by: caller.user.clone(),
    };
    // Held until the version is committed (see `core::references::BlobGate`).
    let storing = core.blob_gate.storing().await;
    core.blobs.put(&key, stored).await?;
    let (user, admin) = (caller.user.clone(), caller.is_admin());
    let update = Box::new(move |current: Option<ZigPackageRecord>| {
        let mut pkg = match current {
            Some(pkg) if !admin && !pkg.owners.contains(&user) => {
                return Err(Denied::forbidden(format!(
                    "You are not an owner of {}; only its owners can publish new versions",
                    pkg.name
                )));
            }
            Some(pkg) => pkg,
            None => ZigPackageRecord {
                name: name.clone(),
                owners: vec![user.clone()],
                latest: version.clone(),
                created_at: now,
                updated_at: now,
                rev: 0,
            },
        };
        if Version::parse(&version)
            .is_ok_and(|v| crate::core::resolve::better_latest(Some(&pkg.latest), &v))
        {
            pkg.latest = version.clone();
        }
        pkg.updated_at = now;
        Ok(pkg)
    });
    let store = core.store.clone();
    let written = record.clone();
    core.write_and_index(crate::search::Ecosystem::Zig, &record.name, async move {
        let _storing = storing;
        store.publish_zig_version(written, update).await
    })
    .await?;
    tracing::info!(pkg.name = %record.name, pkg.version = %record.version, zig.hash = %record.hash, "published a zig package");
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_filename_rule() {
        assert_eq!(
            name_from_filename("a_b_c-1.2.3.tar.gz"),
            Some(("a_b_c".into(), "1.2.3".into()))
        );
        assert_eq!(name_from_filename("my_lib-1.0.0-beta.tar.gz"), None);
        assert_eq!(name_from_filename("lib.tar.gz"), None);
        assert_eq!(name_from_filename("../x-1.0.0.tar.gz"), None);
        assert_eq!(name_from_filename("x-1.0.0.zip"), None);
    }

    #[test]
    fn latest_is_the_highest_not_the_last() {
        let better_latest = |current: &str, new: &str| {
            crate::core::resolve::better_latest(Some(current), &Version::parse(new).unwrap())
        };
        assert!(better_latest("1.0.0", "2.3.4"));
        assert!(!better_latest("2.3.4", "1.0.0"));
        assert!(!better_latest("1.0.0", "2.0.0-rc.1"));
        assert!(better_latest("1.0.0-rc.1", "0.9.0"));
    }
}
