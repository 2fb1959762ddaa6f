//! Maintenance jobs the server runs while it serves: `gc`, `reindex`, `verify`, `cache prune`
//! and `import`. Started through the admin API (or the admin socket, which the command line uses
//! while a server holds the database), they run in the background; their state, progress and
//! result can be read back while they run and after (the last [`KEPT_JOBS`] are kept). One job
//! runs at a time; the others wait their turn. Each is audited when it ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use crate::core::Core;
use crate::core::audit::{Actor, Outcome};

/// How many finished jobs are remembered.
pub const KEPT_JOBS: usize = 100;

/// What a job does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKind {
    /// Delete unreferenced blobs (or only list them).
    Gc { dry_run: bool },
    /// Rebuild the search index from the store.
    Reindex,
    /// Re-hash every blob and check every record against it (`verify`).
    Verify,
    /// Prune the npm fallback's cache by age and/or to a byte cap.
    CachePrune {
        older_than: Option<time::Duration>,
        max_bytes: Option<u64>,
    },
    /// Import another registry's storage directory, read by the server (`import`).
    Import {
        from: crate::core::import::Source,
        dir: std::path::PathBuf,
    },
}

impl JobKind {
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::Gc { .. } => "gc",
            JobKind::Reindex => "reindex",
            JobKind::Verify => "verify",
            JobKind::CachePrune { .. } => "cache-prune",
            JobKind::Import { .. } => "import",
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

/// A job as it stands.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    pub state: JobState,
    /// What it is doing now, or did.
    pub progress: String,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    /// Its report, when done.
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The jobs the server knows.
#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<BTreeMap<String, Job>>,
    /// One job at a time: two gcs, or a gc and a prune, would only race each other.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Jobs {
    fn update(&self, id: &str, f: impl FnOnce(&mut Job)) {
        if let Some(job) = self.jobs.lock().expect("jobs lock").get_mut(id) {
            f(job);
        }
    }

    /// Waits for the jobs' turn and holds it (a backup holds it, so no gc deletes a blob it
    /// is about to copy).
    pub async fn turn(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.turn.clone().lock_owned().await
    }

    /// One job.
    pub fn get(&self, id: &str) -> Option<Job> {
        self.jobs.lock().expect("jobs lock").get(id).cloned()
    }

    /// Every job remembered, oldest first.
    /// How many jobs are in each state (every state named, 0 included).
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        let jobs = self.jobs.lock().expect("jobs lock");
        [
            (JobState::Queued, "queued"),
            (JobState::Running, "running"),
            (JobState::Done, "done"),
            (JobState::Failed, "failed"),
        ]
        .into_iter()
        .map(|(state, name)| (name, jobs.values().filter(|j| j.state == state).count()))
        .collect()
    }

    pub fn list(&self) -> Vec<Job> {
        let mut all: Vec<Job> = self
            .jobs
            .lock()
            .expect("jobs lock")
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|j| j.started_at);
        all
    }
}

/// Starts `kind` in the background; the job as it stands now.
pub fn start(core: &Arc<Core>, actor: &Actor, kind: JobKind) -> Job {
    let id = hex::encode(rand::random::<[u8; 8]>());
    let job = Job {
        id: id.clone(),
        kind: kind.clone(),
        state: JobState::Queued,
        progress: "waiting for the job before it".into(),
        started_at: OffsetDateTime::now_utc(),
        finished_at: None,
        result: None,
        error: None,
    };
    {
        let mut jobs = core.jobs.jobs.lock().expect("jobs lock");
        while jobs.len() >= KEPT_JOBS {
            let oldest_finished = jobs
                .values()
                .filter(|j| j.finished_at.is_some())
                .min_by_key(|j| j.started_at)
                .map(|j| j.id.clone());
            match oldest_finished {
                Some(old) => jobs.remove(&old),
                None => break,
            };
        }
        jobs.insert(id.clone(), job.clone());
    }
    let (core, actor) = (core.clone(), actor.clone());
    tokio::spawn(async move {
        let _turn = core.jobs.turn().await;
        core.jobs.update(&id, |j| {
            j.state = JobState::Running;
            j.progress = format!("running {}", j.kind.name());
        });
        let outcome = run(&core, &actor, &id, &kind).await;
        let target = format!("job:{id}");
        let action = format!("job.{}", kind.name());
        match &outcome {
            Ok(result) => {
                // A report with a summary (an import's lists every version) is audited by it.
                let detail = match result.get("summary").and_then(|s| s.as_str()) {
                    Some(summary) => summary.to_string(),
                    None => result.to_string(),
                };
                core.audit
                    .record(&actor, &action, target, Outcome::OkWith(detail))
            }
            Err(e) => core
                .audit
                .record(&actor, &action, target, Outcome::Failed(e.clone())),
        }
        core.jobs.update(&id, |j| {
            j.finished_at = Some(OffsetDateTime::now_utc());
            match outcome {
                Ok(result) => {
                    j.state = JobState::Done;
                    j.progress = "done".into();
                    j.result = Some(result);
                }
                Err(e) => {
                    j.state = JobState::Failed;
                    j.progress = "failed".into();
                    j.error = Some(e);
                }
            }
        });
    });
    job
}

/// A long job's progress, told as its progress text: `importing versions: 12 of 40`.
struct JobProgress<'a> {
    core: &'a Core,
    id: &'a str,
    stage: Mutex<(String, u64, u64)>,
}

impl crate::core::transfer::Progress for JobProgress<'_> {
    fn stage(&self, what: &str, total: u64) {
        *self.stage.lock().expect("progress lock") = (what.to_string(), 0, total);
        self.core
            .jobs
            .update(self.id, |j| j.progress = format!("{what}: 0 of {total}"));
    }

    fn advance(&self, done: u64) {
        let text = {
            let mut stage = self.stage.lock().expect("progress lock");
            stage.1 += done;
            format!("{}: {} of {}", stage.0, stage.1, stage.2)
        };
        self.core.jobs.update(self.id, |j| j.progress = text);
    }
}

async fn run(
    core: &Arc<Core>,
    actor: &Actor,
    id: &str,
    kind: &JobKind,
) -> Result<serde_json::Value, String> {
    let progress = |text: &str| core.jobs.update(id, |j| j.progress = text.to_string());
    match kind {
        JobKind::Import { from, dir } => {
            let told = JobProgress {
                core,
                id,
                stage: Mutex::default(),
            };
            let report = crate::core::import::import(core, actor, *from, dir, &told)
                .await
                .map_err(|e| e.to_string())?;
            Ok(report.to_json())
        }
        JobKind::Gc { dry_run } => {
            let report =
                crate::core::references::gc(&core.clone_parts(), *dry_run, &|text| progress(&text))
                    .await
                    .map_err(|e| e.to_string())?;
            Ok(gc_json(&report, *dry_run))
        }
        JobKind::Verify => {
            let report = crate::core::verify::verify(&core.clone_parts(), &|text| progress(&text))
                .await
                .map_err(|e| e.to_string())?;
            Ok(verify_json(&report))
        }
        JobKind::Reindex => {
            progress("rebuilding the search index from the store");
            let documents = core.search.rebuild().await.map_err(|e| e.to_string())?;
            Ok(serde_json::json!({ "documents": documents }))
        }
        JobKind::CachePrune {
            older_than,
            max_bytes,
        } => {
            progress("pruning the npm fallback's cache");
            let report =
                crate::core::proxy::cache::prune(&core.clone_parts(), *older_than, *max_bytes)
                    .await
                    .map_err(|e| e.to_string())?;
            // Pruned upstream copies must not live on in their renderings.
            core.rendered.invalidate_all();
            Ok(prune_json(&report))
        }
    }
}

// The reports as the admin API gives them (camelCase JSON), which the command line prints the
// same whether it ran the work itself or asked a server to.

/// A gc report.
/// A verify report as the admin API gives it.
pub fn verify_json(report: &crate::core::verify::VerifyReport) -> serde_json::Value {
    let names = |owners: &[crate::store::BlobOwner]| -> Vec<String> {
        owners.iter().map(|o| o.to_string()).collect()
    };
    serde_json::json!({
        "clean": report.clean(),
        "checked": report.checked,
        "bytes": report.bytes,
        "corrupt": report.corrupt.iter().map(|(key, actual, owners)| {
            serde_json::json!({"blob": key, "actual": actual, "records": names(owners)})
        }).collect::<Vec<_>>(),
        "missing": report.missing.iter().map(|(key, owners)| {
            serde_json::json!({"blob": key, "records": names(owners)})
        }).collect::<Vec<_>>(),
        "orphaned": report.orphaned.iter().map(|(key, size)| {
            serde_json::json!({"blob": key.as_str(), "bytes": size})
        }).collect::<Vec<_>>(),
        "mismatched": report.mismatched.iter().map(|(owner, why)| {
            serde_json::json!({"record": owner.to_string(), "problem": why})
        }).collect::<Vec<_>>(),
    })
}

pub fn gc_json(report: &crate::core::references::GcReport, dry_run: bool) -> serde_json::Value {
    let unreferenced: Vec<serde_json::Value> = report
        .unreferenced
        .iter()
        .map(|(k, size)| serde_json::json!({"blob": k.as_str(), "bytes": size}))
        .collect();
    let missing: Vec<serde_json::Value> = report
        .missing
        .iter()
        .map(|(key, owners)| {
            let records: Vec<String> = owners.iter().map(|o| o.to_string()).collect();
            serde_json::json!({"blob": key, "records": records})
        })
        .collect();
    serde_json::json!({
        "dryRun": dry_run,
        "unreferenced": unreferenced,
        "bytes": report.bytes,
        "missing": missing,
    })
}

/// A cache prune report.
pub fn prune_json(report: &crate::core::proxy::cache::PruneReport) -> serde_json::Value {
    serde_json::json!({
        "tarballsRemoved": report.tarballs_removed,
        "bytesFreed": report.bytes_freed,
        "packumentsRemoved": report.packuments_removed,
    })
}

/// What the npm fallback's cache holds.
pub fn stats_json(s: &crate::core::proxy::cache::CacheStats) -> serde_json::Value {
    serde_json::json!({
        "packuments": s.packuments,
        "packumentBytes": s.packument_bytes,
        "negative": s.negative,
        "tarballs": s.tarballs,
        "tarballBytes": s.tarball_bytes,
    })
}

/// A token's record (never its secret).
pub fn token_json(t: &crate::store::TokenRecord) -> serde_json::Value {
    use crate::core::timestamps::iso;
    serde_json::json!({
        "id": t.id, "user": t.user, "name": t.name, "scope": t.scope.to_string(),
        "restriction": t.restriction, "createdAt": iso(t.created_at),
        "expiresAt": t.expires_at.map(iso), "lastUsed": t.last_used.map(iso),
    })
}

/// An audit log entry.
pub fn audit_json(r: &crate::store::AuditRecord) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "at": crate::core::timestamps::iso(r.at), "action": r.action,
        "target": r.target, "outcome": r.outcome, "detail": r.detail, "user": r.user,
        "tokenId": r.token_id, "address": r.address,
    })
}
