//! The budget for expensive work on uploads: unpacking, hashing and re-packing archives.
//!
//! At most `limits.max_concurrent_unpacks` such jobs run at once, each bounded in memory by
//! the archive limits (`limits.max_unpacked_bytes` and the decoders' own limits), so their sum
//! is bounded too. A job waits for a slot at most `limits.unpack_wait_secs`; then the client
//! is told the server is busy (503 with `Retry-After`) instead of piling up work.

use std::sync::Arc;
use std::time::Duration;

/// No slot freed up within the wait.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "The server is busy unpacking other uploads; nothing was changed, try again in a few seconds"
)]
pub struct Busy;

pub struct WorkBudget {
    slots: Arc<tokio::sync::Semaphore>,
    wait: Duration,
}

impl WorkBudget {
    pub fn new(slots: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            wait,
        }
    }

    /// Runs `job` on the blocking pool once a slot is free. The slot is held until the job
    /// ends, even when the request that started it is gone.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            job()
        })
        .await
        .map_err(|e| {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic())
            }
            // Cancelled: the runtime is shutting down.
            Busy
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_waits_for_a_slot_then_is_told_busy_and_the_slot_outlives_its_caller() {
        let budget = Arc::new(WorkBudget::new(1, Duration::from_millis(100)));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let first = {
            let budget = budget.clone();
            tokio::spawn(async move {
                budget
                    .run(move || {
                        started_tx.send(()).unwrap();
                        held.recv().unwrap();
                        "first"
                    })
                    .await
            })
        };
        started.await.unwrap();
        // The one slot is busy: the next job waits its 100 ms, then gives up.
        assert!(budget.run(|| "second").await.is_err());
        // The caller of the running job goes away; its job keeps the slot until it ends.
        first.abort();
        assert!(budget.run(|| "third").await.is_err());
        release.send(()).unwrap();
        assert_eq!(budget.run(|| "fourth").await.unwrap(), "fourth");
    }
}
