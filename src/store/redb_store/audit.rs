//! [`AuditStore`] on redb: the `audit` table, in the order of the entries.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::{RedbStore, backend, decode, encode};
use crate::store::schema::{self, AUDIT};
use crate::store::{AuditRecord, AuditStore, StoreResult};

#[async_trait]
impl AuditStore for RedbStore {
    async fn append_audit(&self, entries: Vec<AuditRecord>) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(AUDIT).map_err(backend)?;
                for mut entry in entries {
                    entry.id = String::new();
                    schema::append_ordered(&mut table, &encode(&entry)).map_err(backend)?;
                }
            }
            txn.commit().map_err(backend)
        })
        .await
    }

    async fn audit_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<AuditRecord>> {
        let after = after.map(str::to_string);
        self.blocking(move |db| {
            use std::ops::Bound;
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(AUDIT).map_err(backend)?;
            let start = match &after {
                Some(a) => Bound::Excluded(a.as_str()),
                None => Bound::Unbounded,
            };
            let mut out = Vec::new();
            for row in table
                .range::<&str>((start, Bound::Unbounded))
                .map_err(backend)?
                .take(limit)
            {
                let (id, value) = row.map_err(backend)?;
                let mut entry: AuditRecord = decode(value.value())?;
                entry.id = id.value().to_string();
                out.push(entry);
            }
            Ok(out)
        })
        .await
    }

    async fn prune_audit(&self, before: time::OffsetDateTime) -> StoreResult<u64> {
        let horizon = schema::time_key(before);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(backend)?;
            let mut removed = 0;
            {
                let mut table = txn.open_table(AUDIT).map_err(backend)?;
                while table
                    .first()
                    .map_err(backend)?
                    .is_some_and(|(id, _)| id.value() < horizon.as_str())
                {
                    table.pop_first().map_err(backend)?;
                    removed += 1;
                }
            }
            txn.commit().map_err(backend)?;
            Ok(removed)
        })
        .await
    }
}
