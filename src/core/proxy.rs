//! The proxy policy: which names the npm fallback may serve from the upstream. Every door
//! (the npm protocol, the Pantry API, search) asks here, so they never disagree.

/// Whether the upstream package `name` may be served here: the fallback is on, the name is not
/// declared ours (`npm.local_names`), its scope is not ours (configured in `npm.local_scopes`,
/// or holding a local package), and the name was never published here (a name unpublished
/// here stays ours: an upstream package of that name must not take its place for the projects
/// that depended on it).
pub async fn may_proxy(
    npm: &crate::config::NpmSettings,
    store: &dyn crate::store::MetadataStore,
    name: &str,
) -> crate::store::StoreResult<bool> {
    if !npm.fallback || npm.local_names.iter().any(|n| n == name) {
        return Ok(false);
    }
    if let Some(scope) = crate::core::names::scope_of(name)
        && (npm.local_scopes.iter().any(|s| s == scope) || store.scope_has_packages(scope).await?)
    {
        return Ok(false);
    }
    Ok(!store.name_was_local(name).await?)
}
