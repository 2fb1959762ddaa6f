//! Following the other instances: when several instances share one store, each reads the
//! store's change feed every `storage.feed_poll_ms` and drops its own cached documents and
//! re-indexes the packages another instance changed, so a publish, deprecation or unpublish
//! made anywhere shows everywhere within about that long.
//!
//! Two instances hand out ids from their own clocks, and a write commits a little after its id
//! was made, so an entry can land behind one already read. Each read therefore starts
//! [`OVERLAP`] back and skips the ids it has seen: an entry is missed only if it commits more
//! than that long after its id was made, or the instances' clocks are further apart.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::core::Core;
use crate::search::Ecosystem;
use crate::store::{Changed, StoreResult, schema::time_key};

/// How far back each read of the feed starts.
pub const OVERLAP: Duration = Duration::from_secs(5);
/// Entries read per request.
const PAGE: usize = 500;

/// Follows the feed until the task is dropped.
pub async fn follow(core: Arc<Core>, every: Duration) {
    let mut follower = Follower::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = follower.poll(&core).await {
            tracing::warn!(error = %e, "could not read the change feed; other instances' writes show here later");
        }
    }
}

/// Where a follower stands in the feed.
pub struct Follower {
    /// Every read starts after this id (a time key at least [`OVERLAP`] in the past).
    lower: String,
    /// Ids after `lower` already applied.
    seen: BTreeSet<String>,
}

impl Default for Follower {
    fn default() -> Self {
        Self::new()
    }
}

impl Follower {
    /// Starts at the present: what was written before, this instance read fresh anyway.
    pub fn new() -> Self {
        Self {
            lower: time_key(time::OffsetDateTime::now_utc() - OVERLAP),
            seen: BTreeSet::new(),
        }
    }

    /// Applies the entries not seen yet; how many.
    pub async fn poll(&mut self, core: &Core) -> StoreResult<usize> {
        let read_at = time::OffsetDateTime::now_utc();
        let mut from = self.lower.clone();
        let mut applied = 0;
        loop {
            let page = core.store.changes_from(&from, PAGE).await?;
            for change in &page {
                if self.seen.insert(change.id.clone()) {
                    apply(core, &change.changed);
                    applied += 1;
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE => from = last.id.clone(),
                _ => break,
            }
        }
        let lower = time_key(read_at - OVERLAP);
        if lower > self.lower {
            self.seen = self.seen.split_off(&lower);
            self.lower = lower;
        }
        Ok(applied)
    }
}

fn apply(core: &Core, changed: &Changed) {
    match changed {
        Changed::Npm(name) => {
            core.rendered.invalidate(name);
            core.search.changed(Ecosystem::Npm, name);
        }
        Changed::Zig(name) => {
            core.rendered.invalidate(name);
            core.search.changed(Ecosystem::Zig, name);
        }
        Changed::Whole => core.rendered.invalidate_all(),
    }
}
