//! Changes to published packages after the fact: dist-tags, deprecation, owners, unpublish.
//!
//! Every change runs as one [`crate::store::PackageStore::modify_package`] call whose closure
//! re-checks permissions against the stored package, so a change is all-or-nothing and never
//! acts on a stale view. Who may do what:
//! - dist-tags, deprecation, owners: an owner of the package (token scope `publish`, and its
//!   package restriction must allow the name) or an admin;
//! - unpublish: an owner within `npm.unpublish_window_hours` of each version's publish time, or
//!   an admin at any time. An unpublished version's number is never used again.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::names::PackageName;
use crate::core::publish::validate_tag;
use crate::core::resolve;
use crate::store::{DenialKind, Denied, PackageEdit, PackageRecord, StoreError, VersionRecord};

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("no such package")]
    NoSuchPackage,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ChangeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchPackage => ChangeError::NoSuchPackage,
            StoreError::Denied(Denied { kind, message }) => match kind {
                DenialKind::Forbidden => ChangeError::Forbidden(message),
                DenialKind::NotFound => ChangeError::NotFound(message),
                DenialKind::Invalid => ChangeError::Invalid(message),
                DenialKind::Conflict => ChangeError::Conflict(message),
            },
            other => ChangeError::Store(other),
        }
    }
}

/// Most owners a package can have.
pub const MAX_OWNERS: usize = 100;

/// The caller may change this package at all: write scope, restriction, ownership.
pub fn require_owner(caller: &Caller, pkg: &PackageRecord) -> Result<(), Denied> {
    let name =
        PackageName::parse(&pkg.name, usize::MAX).map_err(|e| Denied::forbidden(e.to_string()))?;
    caller
        .check_publish(&name)
        .map_err(|e| Denied::forbidden(e.0))?;
    if caller.is_admin() || pkg.owners.contains(&caller.user) {
        Ok(())
    } else {
        Err(Denied::forbidden(format!(
            "user {} is not an owner of {}",
            caller.user, pkg.name
        )))
    }
}

/// Runs a dist-tag change as an owner's package change.
async fn change_tags(
    core: &Core,
    caller: &Caller,
    name: &str,
    edit: impl Fn(&mut BTreeMap<String, String>, &[VersionRecord]) -> Result<(), Denied>
    + Send
    + Sync
    + 'static,
) -> Result<PackageRecord, ChangeError> {
    let caller = caller.clone();
    let change = Box::new(
        move |mut pkg: PackageRecord, versions: Vec<VersionRecord>| {
            require_owner(&caller, &pkg)?;
            edit(&mut pkg.dist_tags, &versions)?;
            pkg.updated_at = OffsetDateTime::now_utc();
            Ok(PackageEdit {
                package: Some(pkg),
                ..Default::default()
            })
        },
    );
    Ok(modify_and_index(core, name, change)
        .await?
        .expect("a tag change keeps the package"))
}

/// The refusal of a dist-tag past `limits.max_dist_tags` (every packument carries them all).
pub fn too_many_tags(max: u64) -> Denied {
    Denied::invalid(format!(
        "A package has at most {max} dist-tags (limits.max_dist_tags); remove one first"
    ))
}

impl crate::core::audit::AuditedError for ChangeError {
    fn is_fault(&self) -> bool {
        matches!(self, ChangeError::Store(_))
    }
}

/// Records a package change's outcome in the audit log.
fn audited<T>(
    core: &Core,
    caller: &Caller,
    action: &str,
    name: &str,
    detail: String,
    result: Result<T, ChangeError>,
) -> Result<T, ChangeError> {
    let actor = crate::core::audit::Actor::of(caller);
    let target = format!("npm:{name}");
    match &result {
        Ok(_) => core.audit.record(
            &actor,
            action,
            target,
            crate::core::audit::Outcome::OkWith(detail),
        ),
        Err(_) => core.audit.result(&actor, action, target, &result),
    }
    result
}

/// Points `tag` at `version`. Audited as `npm.dist-tag.set`.
pub async fn set_dist_tag(
    core: &Core,
    caller: &Caller,
    name: &str,
    tag: &str,
    version: &str,
) -> Result<PackageRecord, ChangeError> {
    let result = set_dist_tag_checked(core, caller, name, tag, version).await;
    let detail = format!("{tag} -> {version}");
    audited(core, caller, "npm.dist-tag.set", name, detail, result)
}

async fn set_dist_tag_checked(
    core: &Core,
    caller: &Caller,
    name: &str,
    tag: &str,
    version: &str,
) -> Result<PackageRecord, ChangeError> {
    validate_tag(tag).map_err(ChangeError::Invalid)?;
    let (tag, version) = (tag.to_string(), version.to_string());
    let max_tags = core.settings.limits.max_dist_tags;
    change_tags(core, caller, name, move |tags, versions| {
        if !versions.iter().any(|v| v.version == version) {
            return Err(Denied::not_found(format!(
                "this version doesn't exist: {version}"
            )));
        }
        if !tags.contains_key(&tag) && tags.len() as u64 >= max_tags {
            return Err(too_many_tags(max_tags));
        }
        tags.insert(tag.clone(), version.clone());
        Ok(())
    })
    .await
}

/// Removes `tag`; `latest` cannot be removed (it always names a version while any exists).
/// Audited as `npm.dist-tag.remove`.
pub async fn remove_dist_tag(
    core: &Core,
    caller: &Caller,
    name: &str,
    tag: &str,
) -> Result<PackageRecord, ChangeError> {
    let result = remove_dist_tag_checked(core, caller, name, tag).await;
    audited(
        core,
        caller,
        "npm.dist-tag.remove",
        name,
        tag.to_string(),
        result,
    )
}

async fn remove_dist_tag_checked(
    core: &Core,
    caller: &Caller,
    name: &str,
    tag: &str,
) -> Result<PackageRecord, ChangeError> {
    if tag == "latest" {
        return Err(ChangeError::Invalid(
            "the latest tag cannot be removed; point it at another version instead".into(),
        ));
    }
    let tag = tag.to_string();
    change_tags(core, caller, name, move |tags, _| match tags.remove(&tag) {
        Some(_) => Ok(()),
        None => Err(Denied::not_found(format!("no such tag: {tag}"))),
    })
    .await
}

/// What a whole-document write (npm's deprecate, unpublish-one-version, owner add/rm) asks for,
/// after the caller diffed nothing: each field is what the client sent, `None` when absent.
#[derive(Debug, Clone, Default)]
pub struct DocumentChange {
    /// The versions the client's document still lists; stored versions missing from it are
    /// unpublished. `None` when the document has no `versions` (then none are touched).
    pub versions: Option<BTreeSet<String>>,
    /// Version -> new deprecation message; `None` removes it (npm sends `""` to undeprecate).
    pub deprecations: BTreeMap<String, Option<String>>,
    /// The new owner list (`maintainers`), when sent.
    pub owners: Option<Vec<String>>,
    /// The `_rev` the client based its document on. Required when `versions` is sent (a stale
    /// document would unpublish versions published since); checked whenever present.
    pub expected_rev: Option<String>,
}

impl DocumentChange {
    /// What the change asks for, for the audit log.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(kept) = &self.versions {
            parts.push(format!("versions kept: {}", kept.len()));
        }
        for (version, message) in &self.deprecations {
            parts.push(match message {
                Some(_) => format!("deprecate {version}"),
                None => format!("undeprecate {version}"),
            });
        }
        if let Some(owners) = &self.owners {
            parts.push(format!("owners: {}", owners.join(",")));
        }
        parts.join("; ")
    }
}

/// Applies a whole-document write. Returns the package as written, `None` if every version was
/// unpublished (then the package is gone). Audited as `npm.change`, with what it asked for.
pub async fn apply_document(
    core: &Core,
    caller: &Caller,
    name: &str,
    doc: DocumentChange,
) -> Result<Option<PackageRecord>, ChangeError> {
    let detail = doc.describe();
    let result = apply_document_checked(core, caller, name, doc).await;
    audited(core, caller, "npm.change", name, detail, result)
}

async fn apply_document_checked(
    core: &Core,
    caller: &Caller,
    name: &str,
    doc: DocumentChange,
) -> Result<Option<PackageRecord>, ChangeError> {
    // Ownership first (re-checked atomically below), so a stranger learns nothing and costs
    // nothing: no user lookups on their behalf.
    let current = core
        .store
        .package(name)
        .await?
        .ok_or(ChangeError::NoSuchPackage)?;
    require_owner(caller, &current).map_err(|d| ChangeError::Forbidden(d.message))?;
    if doc.versions.is_some() && doc.expected_rev.is_none() {
        return Err(ChangeError::Conflict(
            "the document has no _rev; fetch it with ?write=true and send it back".into(),
        ));
    }
    if let Some(owners) = &doc.owners {
        if owners.is_empty() {
            return Err(ChangeError::Invalid(
                "a package needs at least one owner".into(),
            ));
        }
        if owners.len() > MAX_OWNERS {
            return Err(ChangeError::Invalid(format!(
                "a package can have at most {MAX_OWNERS} owners"
            )));
        }
        for owner in owners {
            if core.store.user(owner).await?.is_none() && owner != crate::core::auth::ADMIN_USER {
                return Err(ChangeError::NotFound(format!("no such user: {owner}")));
            }
        }
    }
    let window = core.settings.npm.unpublish_window;
    let caller = caller.clone();
    let change = Box::new(
        move |mut pkg: PackageRecord, versions: Vec<VersionRecord>| {
            require_owner(&caller, &pkg)?;
            if let Some(rev) = &doc.expected_rev
                && rev != &pkg.rev_string()
            {
                return Err(Denied::conflict(format!(
                    "the document is out of date (its _rev is {rev}, the package's is {}); fetch it again",
                    pkg.rev_string()
                )));
            }
            let now = OffsetDateTime::now_utc();
            let mut edit = PackageEdit::default();
            if let Some(keep) = &doc.versions {
                for v in versions.iter().filter(|v| !keep.contains(&v.version)) {
                    may_unpublish(&caller, v, window, now)?;
                    edit.remove_versions.push(v.version.clone());
                }
            }
            for (version, message) in &doc.deprecations {
                if edit.remove_versions.contains(version) {
                    continue;
                }
                let Some(stored) = versions.iter().find(|v| &v.version == version) else {
                    return Err(Denied::not_found(format!(
                        "this version doesn't exist: {version}"
                    )));
                };
                let current = stored.manifest.get("deprecated").and_then(|d| d.as_str());
                if current == message.as_deref() {
                    continue;
                }
                let mut updated = stored.clone();
                match message {
                    Some(m) => updated
                        .manifest
                        .insert("deprecated".into(), m.clone().into()),
                    None => updated.manifest.remove("deprecated"),
                };
                edit.upsert_versions.push(updated);
            }
            if let Some(owners) = &doc.owners {
                let mut unique = Vec::new();
                for o in owners {
                    if !unique.contains(o) {
                        unique.push(o.clone());
                    }
                }
                pkg.owners = unique;
            }
            let remaining: Vec<&str> = versions
                .iter()
                .map(|v| v.version.as_str())
                .filter(|v| !edit.remove_versions.iter().any(|r| r == v))
                .collect();
            if remaining.is_empty() {
                return Ok(edit); // package: None deletes it
            }
            pkg.dist_tags.retain(|_, v| remaining.contains(&v.as_str()));
            if !pkg.dist_tags.contains_key("latest")
                && let Some(latest) = resolve::best_latest(remaining.iter().copied())
            {
                pkg.dist_tags.insert("latest".into(), latest);
            }
            pkg.updated_at = now;
            edit.package = Some(pkg);
            Ok(edit)
        },
    );
    Ok(modify_and_index(core, name, change).await?)
}

/// Stars (`starred`) or unstars the package for the caller, as `npm star` / `npm unstar` do:
/// anyone who may read it may star it, only for themselves. The package as written.
pub async fn set_star(
    core: &Core,
    caller: &Caller,
    name: &str,
    starred: bool,
) -> Result<PackageRecord, ChangeError> {
    if core.store.package(name).await?.is_none() {
        return Err(ChangeError::NoSuchPackage);
    }
    let user = caller.user.clone();
    let change: crate::store::PackageChange = Box::new(move |mut pkg: PackageRecord, _| {
        if starred {
            pkg.stars.insert(user.clone());
        } else {
            pkg.stars.remove(&user);
        }
        Ok(PackageEdit {
            package: Some(pkg),
            ..Default::default()
        })
    });
    let written = modify_and_index(core, name, change).await?;
    written.ok_or(ChangeError::NoSuchPackage)
}

/// The packages `user` starred, by name.
pub async fn starred_by(core: &Core, user: &str) -> crate::store::StoreResult<Vec<String>> {
    Ok(core
        .store
        .list_packages()
        .await?
        .into_iter()
        .filter(|p| p.stars.contains(user))
        .map(|p| p.name)
        .collect())
}

/// Applies `change` to the package and re-indexes it for search.
pub(crate) async fn modify_and_index(
    core: &Core,
    name: &str,
    change: crate::store::PackageChange,
) -> crate::store::StoreResult<Option<PackageRecord>> {
    let store = core.store.clone();
    let owned = name.to_string();
    core.write_and_index(crate::search::Ecosystem::Npm, name, async move {
        store.modify_package(&owned, change).await
    })
    .await
}

fn may_unpublish(
    caller: &Caller,
    v: &VersionRecord,
    window: std::time::Duration,
    now: OffsetDateTime,
) -> Result<(), Denied> {
    if caller.is_admin() {
        return Ok(());
    }
    let age = now - v.published_at;
    if window.is_zero() || age > time::Duration::try_from(window).unwrap_or(time::Duration::MAX) {
        return Err(Denied::forbidden(format!(
            "{}@{} was published more than {} hours ago; only an admin can unpublish it now",
            v.name,
            v.version,
            window.as_secs() / 3600
        )));
    }
    Ok(())
}

/// Unpublishes every version of a package (npm unpublish --force); the name becomes free again,
/// its version numbers do not.
pub async fn unpublish_package(
    core: &Core,
    caller: &Caller,
    name: &str,
    rev: &str,
) -> Result<(), ChangeError> {
    let doc = DocumentChange {
        versions: Some(BTreeSet::new()),
        expected_rev: Some(rev.to_string()),
        ..Default::default()
    };
    let result = match apply_document_checked(core, caller, name, doc).await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(ChangeError::Invalid(
            "the package still has versions".into(),
        )),
        Err(e) => Err(e),
    };
    audited(
        core,
        caller,
        "npm.unpublish",
        name,
        "every version".into(),
        result,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_recomputation_prefers_stable() {
        assert_eq!(
            resolve::best_latest(["1.0.0", "2.0.0-rc.1", "1.5.0"].into_iter()).as_deref(),
            Some("1.5.0")
        );
        assert_eq!(
            resolve::best_latest(["2.0.0-rc.1", "2.0.0-rc.2"].into_iter()).as_deref(),
            Some("2.0.0-rc.2")
        );
        assert_eq!(resolve::best_latest(std::iter::empty()), None);
    }
}
