//! The audit log: every state change and every login, with who asked (user, token id, client
//! address), what it was done to, and how it ended. Entries are collected in memory and written
//! to the store in batches (every `download_flush_interval`, at shutdown, and before any read of
//! the log), so a publish never waits on a second commit. A secret never enters an entry: tokens
//! are named by their public id, and no entry holds a password.

use std::sync::Mutex;

use time::OffsetDateTime;

use crate::core::auth::Caller;
use crate::store::{AuditRecord, MetadataStore, StoreResult};

/// Who did something.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    pub user: Option<String>,
    pub token_id: Option<String>,
    pub address: Option<String>,
}

/// The user the local command line acts as.
pub const CLI_USER: &str = "$cli";

impl Actor {
    /// The caller of a request.
    pub fn of(caller: &Caller) -> Self {
        Self {
            user: Some(caller.user.clone()),
            token_id: caller.token_id.clone(),
            address: caller.address.map(|a| a.to_string()),
        }
    }

    /// A request without credentials (or with ones that did not check out), from `address`.
    pub fn anonymous(address: Option<std::net::IpAddr>) -> Self {
        Self {
            address: address.map(|a| a.to_string()),
            ..Self::default()
        }
    }

    /// Someone who named themselves `user` (a login attempt) from `address`.
    pub fn claiming(user: &str, address: Option<std::net::IpAddr>) -> Self {
        Self {
            user: Some(user.to_string()),
            token_id: None,
            address: address.map(|a| a.to_string()),
        }
    }

    /// The command line, run by whoever may read the data directory.
    pub fn cli() -> Self {
        Self {
            user: Some(CLI_USER.to_string()),
            ..Self::default()
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Ok, and what changed.
    OkWith(String),
    /// Refused: not allowed, not found, invalid, a conflict.
    Denied(String),
    /// A fault on our side.
    Failed(String),
}

impl Outcome {
    fn parts(self) -> (&'static str, Option<String>) {
        match self {
            Outcome::Ok => ("ok", None),
            Outcome::OkWith(d) => ("ok", Some(d)),
            Outcome::Denied(d) => ("denied", Some(d)),
            Outcome::Failed(d) => ("failed", Some(d)),
        }
    }
}

/// Entries not yet in the store.
#[derive(Default)]
pub struct AuditLog {
    pending: Mutex<Vec<AuditRecord>>,
    /// One flush at a time, so entries reach the store in the order they were made.
    flushing: tokio::sync::Mutex<()>,
}

impl AuditLog {
    /// Records that `actor` did `action` to `target`, ending in `outcome`.
    pub fn record(&self, actor: &Actor, action: &str, target: impl Into<String>, outcome: Outcome) {
        let (outcome, detail) = outcome.parts();
        metrics::counter!("pantry_events_total", "action" => action.to_string(), "outcome" => outcome.to_string())
            .increment(1);
        if outcome == "ok"
            && let Some(ecosystem) = action.strip_suffix(".publish")
        {
            metrics::counter!("pantry_publishes_total", "ecosystem" => ecosystem.to_string())
                .increment(1);
        }
        let entry = AuditRecord {
            id: String::new(),
            at: OffsetDateTime::now_utc(),
            action: action.to_string(),
            target: target.into(),
            outcome: outcome.to_string(),
            detail,
            user: actor.user.clone(),
            token_id: actor.token_id.clone(),
            address: actor.address.clone(),
        };
        tracing::info!(
            audit.action = %entry.action,
            audit.target = %entry.target,
            audit.outcome = %entry.outcome,
            user = entry.user.as_deref().unwrap_or("-"),
            "audit"
        );
        self.pending.lock().expect("audit lock").push(entry);
    }

    /// Records the outcome of `result` (a refusal or a fault by its message).
    pub fn result<T, E: AuditedError>(
        &self,
        actor: &Actor,
        action: &str,
        target: impl Into<String>,
        result: &Result<T, E>,
    ) {
        let outcome = match result {
            Ok(_) => Outcome::Ok,
            Err(e) if e.is_fault() => Outcome::Failed(e.to_string()),
            Err(e) => Outcome::Denied(e.to_string()),
        };
        self.record(actor, action, target, outcome);
    }

    /// Writes the pending entries; on failure they are kept for the next flush. Runs to its end
    /// even if the caller is dropped.
    pub async fn flush(&self, store: &std::sync::Arc<dyn MetadataStore>) -> StoreResult<()> {
        let _one = self.flushing.lock().await;
        let entries = std::mem::take(&mut *self.pending.lock().expect("audit lock"));
        if entries.is_empty() {
            return Ok(());
        }
        let store = store.clone();
        let sent = entries.clone();
        let written = tokio::spawn(async move { store.append_audit(sent).await })
            .await
            .map_err(|e| crate::store::StoreError::Backend(e.to_string()))?;
        if let Err(e) = written {
            let mut pending = self.pending.lock().expect("audit lock");
            let newer = std::mem::replace(&mut *pending, entries);
            pending.extend(newer);
            return Err(e);
        }
        Ok(())
    }
}

/// An error as the audit log tells it: a fault on our side, or a refusal.
pub trait AuditedError: std::fmt::Display {
    fn is_fault(&self) -> bool;
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// From this time on.
    pub since: Option<OffsetDateTime>,
    /// Only this acting user.
    pub actor: Option<String>,
    /// Only entries about this package (`name`, npm or Zig).
    pub package: Option<String>,
    /// After this entry id (paging).
    pub after: Option<String>,
    /// At most this many.
    pub limit: usize,
}

impl AuditFilter {
    fn matches(&self, entry: &AuditRecord) -> bool {
        if let Some(actor) = &self.actor
            && entry.user.as_deref() != Some(actor.as_str())
        {
            return false;
        }
        if let Some(package) = &self.package {
            let name = entry
                .target
                .strip_prefix("npm:")
                .or_else(|| entry.target.strip_prefix("zig:"));
            // `npm:left-pad@1.0.0`, `npm:@scope/x@1.0.0`, `npm:left-pad`.
            let name = name.map(|n| match n.rfind('@') {
                Some(at) if at > 0 => &n[..at],
                _ => n,
            });
            if name != Some(package.as_str()) {
                return false;
            }
        }
        true
    }
}

/// The entries `filter` selects, oldest first (pending entries are written first).
pub async fn read(
    store: &std::sync::Arc<dyn MetadataStore>,
    log: &AuditLog,
    filter: &AuditFilter,
) -> StoreResult<Vec<AuditRecord>> {
    log.flush(store).await?;
    let mut after = match (&filter.after, filter.since) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(since)) => Some(crate::store::schema::time_key(since)),
        (None, None) => None,
    };
    let mut out = Vec::new();
    loop {
        let page = store.audit_page(after.as_deref(), 500).await?;
        let Some(last) = page.last() else {
            return Ok(out);
        };
        after = Some(last.id.clone());
        let full = page.len() == 500;
        for entry in page {
            if filter.matches(&entry) {
                out.push(entry);
                if out.len() >= filter.limit {
                    return Ok(out);
                }
            }
        }
        if !full {
            return Ok(out);
        }
    }
}

/// Removes entries older than `retention`.
pub async fn prune(store: &dyn MetadataStore, retention: time::Duration) -> StoreResult<u64> {
    store
        .prune_audit(OffsetDateTime::now_utc() - retention)
        .await
}
