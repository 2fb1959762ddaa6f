//! Request counters for rate limits, kept in this process: a token bucket per key that refills
//! at its per-minute rate. One instance sees every request it serves, so this is exact for a
//! single server; instances that share a store share counters through a [`RateStore`] of that
//! store instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

use super::{RateStore, StoreResult};

struct Bucket {
    tokens: f64,
    capacity: f64,
    at: Instant,
}

/// Buckets kept in memory; forgotten once full again, when there are many.
#[derive(Default)]
pub struct MemoryRates {
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Above this many buckets, those that have refilled are dropped (they are as good as new).
const MAX_BUCKETS: usize = 100_000;

#[async_trait]
impl RateStore for MemoryRates {
    async fn take(&self, key: &str, per_minute: u32) -> StoreResult<Option<u64>> {
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate buckets");
        if buckets.len() > MAX_BUCKETS {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * b.capacity / 60.0 < b.capacity
            });
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            capacity,
            at: now,
        });
        let refilled = now.duration_since(bucket.at).as_secs_f64() * per_second;
        bucket.capacity = capacity;
        bucket.tokens = (bucket.tokens + refilled).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(None)
        } else {
            Ok(Some(
                ((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64
            ))
        }
    }
}
