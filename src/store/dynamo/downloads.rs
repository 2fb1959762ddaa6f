//! [`DownloadStore`] on DynamoDB, in the analytics table: a count per version and day in
//! `DL#<name>` (`<day> <version>`), the per-day summary in `DLDAYS` (`<day> <name>`, so a
//! period is one range), the all-time totals in `DLTOTAL`, and a `BATCH#<id>` item per part of
//! each applied batch, which makes a retried flush count nothing twice.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{
    Cond, DynamoStore, MAX_TRANSACTION_ITEMS, Range, TxFailure, Write, key, n, number_attr,
    string_attr,
};
use crate::store::{DownloadBatch, DownloadCount, DownloadStore, StoreResult};

const DAYS: &str = "DLDAYS";
const TOTALS: &str = "DLTOTAL";
/// How long an applied batch's id is remembered (the store contract asks for a week).
const BATCH_MEMORY: time::Duration = time::Duration::days(8);

fn counts_pk(name: &str) -> String {
    format!("DL#{name}")
}

/// The two halves of a `<first> <second>` sort key.
fn halves(item: &super::Item) -> (String, String) {
    let sk = string_attr(item, "SK").unwrap_or_default();
    let (a, b) = sk.split_once(' ').unwrap_or((sk, ""));
    (a.to_string(), b.to_string())
}

impl DynamoStore {
    async fn analytics_query(&self, pk: &str, range: Range<'_>) -> StoreResult<Vec<super::Item>> {
        self.query(&self.analytics, pk, range).await
    }
}

#[async_trait]
impl DownloadStore for DynamoStore {
    async fn add_downloads(&self, batch: DownloadBatch) -> StoreResult<()> {
        // One addition per item: a transaction may name an item once.
        let mut additions: BTreeMap<(String, String), u64> = BTreeMap::new();
        for c in &batch.counts {
            let mut add = |pk: String, sk: String| {
                let total = additions.entry((pk, sk)).or_default();
                *total = total.saturating_add(c.count);
            };
            add(counts_pk(&c.name), format!("{} {}", c.day, c.version));
            add(DAYS.to_string(), format!("{} {}", c.day, c.name));
            add(TOTALS.to_string(), c.name.clone());
        }
        let additions: Vec<_> = additions.into_iter().collect();
        let expiry = time::OffsetDateTime::now_utc() + BATCH_MEMORY;
        for (part, chunk) in additions.chunks(MAX_TRANSACTION_ITEMS - 1).enumerate() {
            let mut marker = key(&format!("BATCH#{}-{part}", batch.id), "BATCH");
            marker.insert("expiry".into(), n(expiry.unix_timestamp().max(0) as u64));
            let mut writes = vec![Write::Put(marker, Some(Cond::absent()))];
            for ((pk, sk), amount) in chunk {
                writes.push(Write::Add(key(pk, sk), *amount));
            }
            match self.transact_on(&self.analytics, writes).await {
                Ok(()) => {}
                // This part was applied before: it is not counted again.
                Err(f) if f.failed_at(0) => {}
                Err(TxFailure::Cancelled(codes)) => {
                    return Err(crate::store::StoreError::Unavailable(format!(
                        "download counts were not written ({}); they will be sent again",
                        codes.join(", ")
                    )));
                }
                Err(TxFailure::Store(e)) => return Err(e),
            }
        }
        Ok(())
    }

    async fn downloads(&self, name: &str) -> StoreResult<Vec<DownloadCount>> {
        let items = self
            .analytics_query(&counts_pk(name), Range::default())
            .await?;
        Ok(items
            .iter()
            .map(|item| {
                let (day, version) = halves(item);
                DownloadCount {
                    name: name.to_string(),
                    version,
                    day,
                    count: number_attr(item, "cnt").unwrap_or(0),
                }
            })
            .collect())
    }

    async fn download_totals(&self) -> StoreResult<Vec<(String, u64)>> {
        let items = self.analytics_query(TOTALS, Range::default()).await?;
        Ok(items
            .iter()
            .map(|item| {
                (
                    string_attr(item, "SK").unwrap_or_default().to_string(),
                    number_attr(item, "cnt").unwrap_or(0),
                )
            })
            .collect())
    }

    async fn download_totals_since(&self, since: &str) -> StoreResult<Vec<(String, u64)>> {
        let items = self
            .analytics_query(
                DAYS,
                Range {
                    after: Some(since),
                    ..Range::default()
                },
            )
            .await?;
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        for item in &items {
            let (_, name) = halves(item);
            let total = totals.entry(name).or_default();
            *total = total.saturating_add(number_attr(item, "cnt").unwrap_or(0));
        }
        Ok(totals.into_iter().collect())
    }

    async fn downloads_between(&self, first: &str, last: &str) -> StoreResult<Vec<DownloadCount>> {
        // U+10FFFF sorts above every character a name holds.
        let high = format!("{last} \u{10FFFF}");
        let items = self
            .analytics_query(
                DAYS,
                Range {
                    between: Some((first, &high)),
                    ..Range::default()
                },
            )
            .await?;
        Ok(items
            .iter()
            .map(|item| {
                let (day, name) = halves(item);
                DownloadCount {
                    name,
                    version: String::new(),
                    day,
                    count: number_attr(item, "cnt").unwrap_or(0),
                }
            })
            .collect())
    }
}
