//! [`ChangeFeed`] on redb: the `changes` table, appended to inside every write that changes what
//! a package shows.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{RedbStore, backend, decode};
use crate::store::schema::{self, CHANGES};
use crate::store::{Change, ChangeFeed, StoreResult};

/// Appends `change` to the feed inside the write transaction `txn`.
pub(super) fn record_change(txn: &redb::WriteTransaction, change: Change) -> StoreResult<()> {
    let mut changes = txn.open_table(CHANGES).map_err(backend)?;
    schema::append_change(&mut changes, &change).map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ChangeFeed for RedbStore {
    async fn latest_change(&self) -> StoreResult<Option<String>> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(backend)?;
            let changes = txn.open_table(CHANGES).map_err(backend)?;
            Ok(changes
                .last()
                .map_err(backend)?
                .map(|(id, _)| id.value().to_string()))
        })
        .await
    }

    async fn changes_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Option<Vec<Change>>> {
        let after = after.map(str::to_string);
        self.blocking(move |db| {
            use std::ops::Bound;
            let txn = db.begin_read().map_err(backend)?;
            let changes = txn.open_table(CHANGES).map_err(backend)?;
            let start = match &after {
                Some(a) => {
                    if changes.get(a.as_str()).map_err(backend)?.is_none() {
                        return Ok(None);
                    }
                    Bound::Excluded(a.as_str())
                }
                None => Bound::Unbounded,
            };
            let mut out = Vec::new();
            for row in changes
                .range::<&str>((start, Bound::Unbounded))
                .map_err(backend)?
                .take(limit)
            {
                let (id, changed) = row.map_err(backend)?;
                out.push(Change {
                    id: id.value().to_string(),
                    changed: decode(changed.value())?,
                });
            }
            Ok(Some(out))
        })
        .await
    }

    async fn changes_from(&self, lower: &str, limit: usize) -> StoreResult<Vec<Change>> {
        let lower = lower.to_string();
        self.blocking(move |db| {
            use std::ops::Bound;
            let txn = db.begin_read().map_err(backend)?;
            let changes = txn.open_table(CHANGES).map_err(backend)?;
            let mut out = Vec::new();
            for row in changes
                .range::<&str>((Bound::Excluded(lower.as_str()), Bound::Unbounded))
                .map_err(backend)?
                .take(limit)
            {
                let (id, changed) = row.map_err(backend)?;
                out.push(Change {
                    id: id.value().to_string(),
                    changed: decode(changed.value())?,
                });
            }
            Ok(out)
        })
        .await
    }
}
