//! Download counting. A download is counted in memory and written to the store in one
//! transaction per flush interval (and at shutdown), never a write per download.

use std::collections::HashMap;
use std::sync::Mutex;

use time::OffsetDateTime;

use crate::store::{DownloadCount, MetadataStore, StoreResult};

#[derive(Default)]
pub struct DownloadCounter {
    pending: Mutex<HashMap<(String, String, String), u64>>,
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn utc_day(at: OffsetDateTime) -> String {
    let d = at.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl DownloadCounter {
    pub fn record(&self, name: &str, version: &str) {
        let day = utc_day(OffsetDateTime::now_utc());
        let mut pending = self.pending.lock().expect("download counter lock");
        *pending
            .entry((name.to_string(), version.to_string(), day))
            .or_default() += 1;
    }

    /// Writes what is pending. On failure the counts go back into the pending set.
    pub async fn flush(&self, store: &dyn MetadataStore) -> StoreResult<()> {
        let batch: Vec<DownloadCount> = {
            let mut pending = self.pending.lock().expect("download counter lock");
            pending
                .drain()
                .map(|((name, version, day), count)| DownloadCount {
                    name,
                    version,
                    day,
                    count,
                })
                .collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        if let Err(e) = store.add_downloads(batch.clone()).await {
            let mut pending = self.pending.lock().expect("download counter lock");
            for c in batch {
                *pending.entry((c.name, c.version, c.day)).or_default() += c.count;
            }
            return Err(e);
        }
        Ok(())
    }
}
