//! [`DownloadStore`] on redb: daily download counts per version, the per-day and total
//! summaries kept with them, and the memory of applied batches that makes adding one idempotent.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};
use time::OffsetDateTime;

use super::{RedbStore, backend};
use crate::store::schema::{self, DOWNLOADS};
use crate::store::{DownloadBatch, DownloadCount, DownloadStore, StoreResult};

/// A row of the downloads table: (name, version, day) -> count.
fn download_count((name, version, day): (&str, &str, &str), count: u64) -> DownloadCount {
    DownloadCount {
        name: name.to_string(),
        version: version.to_string(),
        day: day.to_string(),
        count,
    }
}

#[async_trait]
impl DownloadStore for RedbStore {
    async fn add_downloads(&self, batch: DownloadBatch) -> StoreResult<()> {
        if batch.counts.is_empty() {
            return Ok(());
        }
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let now = OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
            {
                let mut applied = txn.open_table(schema::DOWNLOAD_BATCHES).map_err(backend)?;
                if applied.get(batch.id.as_str()).map_err(backend)?.is_some() {
                    return Ok(());
                }
                applied.insert(batch.id.as_str(), now).map_err(backend)?;
                // Ids sort by creation time: those older than the memory go in one range.
                let cutoff_ms = now.saturating_sub(schema::DOWNLOAD_BATCH_MEMORY_SECS) * 1000;
                let cutoff = format!("{cutoff_ms:016}");
                applied
                    .retain_in(..cutoff.as_str(), |_, _| false)
                    .map_err(backend)?;
            }
            let counts = batch.counts;
            {
                let mut table = txn.open_table(DOWNLOADS).map_err(backend)?;
                let mut by_day = txn.open_table(schema::DOWNLOADS_BY_DAY).map_err(backend)?;
                let mut totals = txn.open_table(schema::DOWNLOAD_TOTALS).map_err(backend)?;
                for c in &counts {
                    let (name, day) = (c.name.as_str(), c.day.as_str());
                    schema::add_count(&mut table, (name, c.version.as_str(), day), c.count)
                        .map_err(backend)?;
                    schema::add_count(&mut by_day, (day, name), c.count).map_err(backend)?;
                    schema::add_count(&mut totals, name, c.count).map_err(backend)?;
                }
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn download_totals(&self) -> StoreResult<Vec<(String, u64)>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(schema::DOWNLOAD_TOTALS).map_err(backend)?;
            let mut totals = Vec::new();
            for row in table.iter().map_err(backend)? {
                let (name, total) = row.map_err(backend)?;
                totals.push((name.value().to_string(), total.value()));
            }
            Ok(totals)
        })
        .await
    }

    async fn download_totals_since(&self, since: &str) -> StoreResult<Vec<(String, u64)>> {
        let counts = self.downloads_between(since, "9999-12-31").await?;
        let mut totals: std::collections::BTreeMap<String, u64> = Default::default();
        for c in counts {
            let total = totals.entry(c.name).or_default();
            *total = total.saturating_add(c.count);
        }
        Ok(totals.into_iter().collect())
    }

    async fn downloads_between(&self, first: &str, last: &str) -> StoreResult<Vec<DownloadCount>> {
        let (first, last) = (first.to_string(), last.to_string());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(schema::DOWNLOADS_BY_DAY).map_err(backend)?;
            let mut out = Vec::new();
            // Keys lead with the day, so a period is one range.
            for row in table
                .range((first.as_str(), "")..=(last.as_str(), "\u{10FFFF}"))
                .map_err(backend)?
            {
                let (key, value) = row.map_err(backend)?;
                let (day, name) = key.value();
                out.push(DownloadCount {
                    name: name.to_string(),
                    version: String::new(),
                    day: day.to_string(),
                    count: value.value(),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn downloads(&self, name: &str) -> StoreResult<Vec<DownloadCount>> {
        let name = name.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(DOWNLOADS).map_err(backend)?;
            let mut out = Vec::new();
            for row in table.range((name.as_str(), "", "")..).map_err(backend)? {
                let (key, value) = row.map_err(backend)?;
                if key.value().0 != name {
                    break;
                }
                out.push(download_count(key.value(), value.value()));
            }
            Ok(out)
        })
        .await
    }
}
