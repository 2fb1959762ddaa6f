//! Finding versions: the one `latest` names, one by number, all of them in semver order.

use crate::core::Core;
use crate::core::names::Version;
use crate::store::{StoreResult, VersionRecord};

/// The version the `latest` dist-tag points at, if the package exists.
pub async fn latest(core: &Core, name: &str) -> StoreResult<Option<VersionRecord>> {
    let Some(pkg) = core.store.package(name).await? else {
        return Ok(None);
    };
    match pkg.dist_tags.get("latest") {
        Some(v) => core.store.version(name, v).await,
        None => Ok(None),
    }
}

/// All versions, newest first by semver precedence.
pub async fn versions_newest_first(core: &Core, name: &str) -> StoreResult<Vec<VersionRecord>> {
    let mut versions = core.store.versions(name).await?;
    versions.sort_by_cached_key(|v| std::cmp::Reverse(Version::parse(&v.version).ok()));
    Ok(versions)
}

/// Version strings, newest first by semver precedence (unparseable ones last).
pub fn sort_newest_first(mut versions: Vec<String>) -> Vec<String> {
    versions.sort_by_cached_key(|v| std::cmp::Reverse(Version::parse(v).ok()));
    versions
}
