//! [`ChangeFeed`] and [`AuditStore`] on DynamoDB: the change feed in the `CHANGES` partition
//! and the audit log in `AUDIT`, each sorted by its ordered ids. A change-feed entry is written
//! in the transaction of the change it describes and expires by TTL after
//! [`CHANGE_RETENTION`].

use async_trait::async_trait;

use super::{
    DynamoStore, MAX_TRANSACTION_ITEMS, Range, TxFailure, Write, decode_item, key, n, record_item,
    string_attr,
};
use crate::store::{
    AuditRecord, AuditStore, CHANGE_RETENTION, Change, ChangeFeed, Changed, StoreError, StoreResult,
};

const CHANGES: &str = "CHANGES";
const AUDIT: &str = "AUDIT";

impl DynamoStore {
    /// The put that appends `change` to the feed, for the transaction of the write it
    /// describes.
    pub(super) fn change_write(&self, change: &Change) -> Write {
        let mut item = record_item(CHANGES, &self.ordered_id(), &change.changed)
            .expect("a change entry is small");
        let expiry = time::OffsetDateTime::now_utc() + CHANGE_RETENTION;
        item.insert("expiry".into(), n(expiry.unix_timestamp().max(0) as u64));
        Write::Put(item, None)
    }

    async fn changes_in(&self, range: Range<'_>) -> StoreResult<Vec<Change>> {
        let items = self.query(&self.table, CHANGES, range).await?;
        items
            .iter()
            .map(|item| {
                Ok(Change {
                    id: string_attr(item, "SK").unwrap_or_default().to_string(),
                    changed: decode_item::<Changed>(item)?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl ChangeFeed for DynamoStore {
    async fn latest_change(&self) -> StoreResult<Option<String>> {
        let newest = self
            .query(
                &self.table,
                CHANGES,
                Range {
                    backwards: true,
                    limit: 1,
                    projection: Some("SK"),
                    ..Range::default()
                },
            )
            .await?;
        Ok(newest
            .first()
            .and_then(|i| string_attr(i, "SK"))
            .map(str::to_string))
    }

    async fn changes_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Option<Vec<Change>>> {
        if limit == 0 {
            return Ok(Some(Vec::new()));
        }
        if let Some(after) = after
            && self.get(CHANGES, after).await?.is_none()
        {
            return Ok(None);
        }
        self.changes_in(Range {
            after,
            limit,
            ..Range::default()
        })
        .await
        .map(Some)
    }

    async fn changes_from(&self, lower: &str, limit: usize) -> StoreResult<Vec<Change>> {
        self.changes_in(Range {
            after: Some(lower),
            limit,
            ..Range::default()
        })
        .await
    }
}

#[async_trait]
impl AuditStore for DynamoStore {
    async fn append_audit(&self, entries: Vec<AuditRecord>) -> StoreResult<()> {
        for chunk in entries.chunks(MAX_TRANSACTION_ITEMS) {
            let mut writes = Vec::with_capacity(chunk.len());
            for entry in chunk {
                let mut entry = entry.clone();
                entry.id = String::new();
                writes.push(Write::Put(
                    record_item(AUDIT, &self.ordered_id(), &entry)?,
                    None,
                ));
            }
            self.transact(writes).await.map_err(|f| match f {
                TxFailure::Store(e) => e,
                TxFailure::Cancelled(codes) => {
                    StoreError::Backend(format!("audit entries refused: {}", codes.join(", ")))
                }
            })?;
        }
        Ok(())
    }

    async fn audit_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<AuditRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let items = self
            .query(
                &self.table,
                AUDIT,
                Range {
                    after,
                    limit,
                    ..Range::default()
                },
            )
            .await?;
        items
            .iter()
            .map(|item| {
                let mut entry: AuditRecord = decode_item(item)?;
                entry.id = string_attr(item, "SK").unwrap_or_default().to_string();
                Ok(entry)
            })
            .collect()
    }

    async fn prune_audit(&self, before: time::OffsetDateTime) -> StoreResult<u64> {
        let horizon = crate::store::schema::time_key(before);
        let old = self
            .query(
                &self.table,
                AUDIT,
                Range {
                    before: Some(&horizon),
                    projection: Some("SK"),
                    ..Range::default()
                },
            )
            .await?;
        let ids: Vec<&str> = old.iter().filter_map(|i| string_attr(i, "SK")).collect();
        for chunk in ids.chunks(MAX_TRANSACTION_ITEMS) {
            let writes = chunk
                .iter()
                .map(|id| Write::Delete(key(AUDIT, id), None))
                .collect();
            self.transact(writes).await.map_err(|f| match f {
                TxFailure::Store(e) => e,
                TxFailure::Cancelled(_) => {
                    StoreError::Conflict("the audit log was pruned concurrently".into())
                }
            })?;
        }
        Ok(ids.len() as u64)
    }
}
