//! The client's report of what it installed (`POST /analytics/events`): each `download`
//! event counts as a download of a version that exists here (published here, or an upstream
//! version this registry has served through the npm fallback), unless this registry already
//! counted that download when it served the tarball to the same client within the hour.
//! Reports never reach the upstream and never count a version the caller may not read.

use std::sync::Arc;

use crate::core::Core;
use crate::core::access::Reader;
use crate::core::names::PackageName;
use crate::store::StoreError;

/// One reported event.
#[derive(Debug, Clone)]
pub struct InstallEvent {
    pub package: String,
    pub category: String,
    pub version: Option<String>,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// Counted as a download.
    Counted,
    /// The download was counted when this registry served it.
    AlreadyCounted,
    /// Not counted, and why.
    Ignored(String),
}

/// Counts `events` reported by `reader`'s client. The versions are looked up
/// `install.concurrency` at a time; the counting keeps the report's order.
pub async fn record_events(
    core: &Arc<Core>,
    reader: &Reader,
    events: &[InstallEvent],
) -> Result<Vec<EventOutcome>, StoreError> {
    use futures_util::{StreamExt, TryStreamExt};
    let client = crate::core::client_address();
    // Boxed first: a closure in the stream would make the future not `Send` for every
    // lifetime (rust-lang/rust#102211).
    let lookups: Vec<_> = events
        .iter()
        .map(|event| Box::pin(outcome(core, reader, event)))
        .collect();
    let checked: Vec<Option<String>> = futures_util::stream::iter(lookups)
        .buffered(core.settings.install.concurrency.max(1))
        .try_collect()
        .await?;
    let mut outcomes = Vec::with_capacity(events.len());
    for (event, ignored) in events.iter().zip(checked) {
        outcomes.push(match ignored {
            Some(why) => EventOutcome::Ignored(why),
            None if core.downloads.take_recent(
                client,
                &event.package,
                event.version.as_deref().unwrap_or(""),
            ) =>
            {
                EventOutcome::AlreadyCounted
            }
            None => {
                core.downloads
                    .record(&event.package, event.version.as_deref().unwrap_or(""));
                EventOutcome::Counted
            }
        });
    }
    Ok(outcomes)
}

/// Why `event` is not counted, or `None` when it is.
async fn outcome(
    core: &Core,
    reader: &Reader,
    event: &InstallEvent,
) -> Result<Option<String>, StoreError> {
    if !event.category.eq_ignore_ascii_case("download") {
        return Ok(Some(format!(
            "category {:?} is not counted: only \"download\" is",
            event.category
        )));
    }
    let Some(version) = event.version.as_deref().filter(|v| !v.is_empty()) else {
        return Ok(Some("no version: a download is counted per version".into()));
    };
    let missing = || Some(format!("{}@{version} is not here", event.package));
    let Ok(name) = PackageName::parse_legacy(&event.package, core.settings.limits.max_name_length)
    else {
        return Ok(Some(format!("invalid package name {:?}", event.package)));
    };
    if core.store.version(name.as_str(), version).await?.is_some() {
        if core
            .access
            .local(core, reader, name.as_str())
            .await
            .is_err()
        {
            return Ok(missing());
        }
        return Ok(None);
    }
    if core.store.package(name.as_str()).await?.is_none()
        && core
            .store
            .proxied_tarball(name.as_str(), version)
            .await?
            .is_some()
        && core
            .access
            .before_npm_lookup(core, reader, name.as_str())
            .await
            .is_ok()
        && core
            .access
            .upstream(core, reader, name.as_str())
            .await
            .is_ok()
    {
        return Ok(None);
    }
    Ok(missing())
}
