//! [`RateStore`] on DynamoDB: one `RATE#<key>` item per bucket, holding what is left and when it
//! was last taken from, changed with a condition on that time so that two instances taking at
//! once cannot both spend the same request. Idle buckets expire by TTL.

use async_trait::async_trait;

use super::{Cond, DynamoStore, backoff, key, n};
use crate::store::{RateStore, StoreResult};

/// How often a take is tried while other requests of the same bucket win; then the request
/// is told to wait a second rather than held up.
const TAKE_ATTEMPTS: u32 = 12;

/// A bucket untouched for this long is full again, and may go.
const IDLE_SECS: u64 = 3600;

#[async_trait]
impl RateStore for DynamoStore {
    async fn take(&self, bucket: &str, per_minute: u32) -> StoreResult<Option<u64>> {
        let pk = format!("RATE#{bucket}");
        let capacity = f64::from(per_minute.max(1));
        for attempt in 0..TAKE_ATTEMPTS {
            let now_ms =
                (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).max(0) as u64;
            let stored = self.get(&pk, "RATE").await?;
            let (left, at) = stored
                .as_ref()
                .and_then(|item| {
                    let left = match item.get("left") {
                        Some(aws_sdk_dynamodb::types::AttributeValue::N(v)) => v.parse().ok()?,
                        _ => return None,
                    };
                    Some((left, super::number_attr(item, "taken_at")?))
                })
                .unwrap_or((capacity, now_ms));
            let refilled = (now_ms.saturating_sub(at) as f64) / 60_000.0 * capacity;
            let available = (left + refilled).min(capacity);
            if available < 1.0 {
                let wait = ((1.0 - available) / capacity * 60.0).ceil().max(1.0);
                return Ok(Some(wait as u64));
            }
            let mut item = key(&pk, "RATE");
            item.insert(
                "left".into(),
                aws_sdk_dynamodb::types::AttributeValue::N(format!("{:.4}", available - 1.0)),
            );
            item.insert("taken_at".into(), n(now_ms.max(at)));
            item.insert("expiry".into(), n(now_ms / 1000 + IDLE_SECS));
            let cond = match stored
                .as_ref()
                .and_then(|i| super::number_attr(i, "taken_at"))
            {
                None => Cond::absent(),
                Some(at) => Cond {
                    expression: "taken_at = :at".into(),
                    values: vec![(":at".into(), n(at))],
                },
            };
            if self.put(item, Some(cond)).await? {
                return Ok(None);
            }
            backoff(attempt).await;
        }
        // Too many takers at once: this one waits.
        Ok(Some(1))
    }
}
