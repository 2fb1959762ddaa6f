//! The redb metadata store: one file, `registry.redb`, in the data directory.
//!
//! redb calls block, so every method runs on the blocking pool. redb allows one write
//! transaction at a time, which makes a publish's check-then-write atomic for free. Commits use
//! `Durability::Immediate`: when a client sees 201, the version survives a crash.
//!
//! This file holds the store itself: opening and migrating the database, the blocking runner and
//! the shared helpers (error mapping, JSON records). Each store trait is implemented in its own
//! file: `packages`, `audit`, `blobs`, `cache`, `changes`, `zig`, `users` (users and tokens)
//! and `downloads`.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::schema;
use super::*;

mod audit;
mod blobs;
mod cache;
mod changes;
mod downloads;
mod export;
mod packages;
mod transfer;
mod users;
mod zig;

use changes::record_change;

/// The default metadata store.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
}

fn backend(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend(e.into().to_string())
}

fn decode<T: serde::de::DeserializeOwned>(json: &str) -> StoreResult<T> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records always serialize")
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the database {0} is in use by another process (is a pantry-registry server running on this data directory?)"
    )]
    InUse(String),
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: redb::Error },
    #[error(transparent)]
    Migration(#[from] schema::MigrationError),
}

impl RedbStore {
    /// Opens (or creates) the database at `path` and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let shown = path.display().to_string();
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => OpenError::InUse(shown.clone()),
            other => OpenError::Open {
                path: shown.clone(),
                source: other.into(),
            },
        })?;
        let txn = db.begin_write().map_err(|e| OpenError::Open {
            path: shown.clone(),
            source: e.into(),
        })?;
        let found = schema::migrate(&txn)?;
        txn.commit().map_err(|e| OpenError::Open {
            path: shown.clone(),
            source: e.into(),
        })?;
        match found {
            None => {
                tracing::info!(db.path = %shown, schema.version = schema::SCHEMA_VERSION, "created a new metadata database")
            }
            Some(v) if v < schema::SCHEMA_VERSION => {
                tracing::info!(db.path = %shown, schema.from = v, schema.to = schema::SCHEMA_VERSION, "migrated the metadata database")
            }
            Some(_) => {}
        }
        Ok(Self { db: Arc::new(db) })
    }

    /// One JSON record by a name-like key.
    async fn get_json<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        table: TableDefinition<'static, &'static str, &'static str>,
        key: &str,
    ) -> StoreResult<Option<T>> {
        let key = key.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(table).map_err(backend)?;
            let found = table.get(key.as_str()).map_err(backend)?;
            found.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    /// Up to `limit` JSON records of a name-keyed table in key order, after `after`.
    async fn page_json<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        table: TableDefinition<'static, &'static str, &'static str>,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<T>> {
        let after = after.map(str::to_string);
        self.blocking(move |db| {
            use std::ops::Bound;
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(table).map_err(backend)?;
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
                out.push(decode(row.map_err(backend)?.1.value())?);
            }
            Ok(out)
        })
        .await
    }

    /// One JSON record by a (name, version) key.
    async fn get_json_pair<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        table: TableDefinition<'static, (&'static str, &'static str), &'static str>,
        name: &str,
        version: &str,
    ) -> StoreResult<Option<T>> {
        let (name, version) = (name.to_string(), version.to_string());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(backend)?;
            let table = txn.open_table(table).map_err(backend)?;
            let found = table
                .get((name.as_str(), version.as_str()))
                .map_err(backend)?;
            found.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

/// Every record keyed (name, version) for one name: npm versions and Zig versions alike.
fn read_versions<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<(&'static str, &'static str), &'static str>,
    name: &str,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    for row in table.range((name, "")..).map_err(backend)? {
        let (key, value) = row.map_err(backend)?;
        if key.value().0 != name {
            break;
        }
        out.push(decode(value.value())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrating_from_4_fills_the_download_summaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        let count = |name: &str, version: &str, day: &str, count| DownloadCount {
            name: name.into(),
            version: version.into(),
            day: day.into(),
            count,
        };
        {
            let store = RedbStore::open(&path).unwrap();
            store
                .add_downloads(DownloadBatch::new(vec![
                    count("a", "1.0.0", "2026-01-01", 2),
                    count("a", "2.0.0", "2026-01-01", 3),
                    count("a", "1.0.0", "2026-01-02", 1),
                    count("zig:b", "0.1.0", "2026-01-02", 7),
                ]))
                .await
                .unwrap();
        }
        // Back to schema 4: the summaries did not exist.
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.delete_table(schema::DOWNLOADS_BY_DAY).unwrap();
            txn.delete_table(schema::DOWNLOAD_TOTALS).unwrap();
            txn.open_table(schema::META)
                .unwrap()
                .insert("schema_version", 4)
                .unwrap();
            txn.commit().unwrap();
        }
        let store = RedbStore::open(&path).unwrap();
        let mut totals = store.download_totals().await.unwrap();
        totals.sort();
        assert_eq!(totals, vec![("a".into(), 6), ("zig:b".into(), 7)]);
        let day2 = store
            .downloads_between("2026-01-02", "2026-01-02")
            .await
            .unwrap();
        let day2: Vec<(String, u64)> = day2.into_iter().map(|c| (c.name, c.count)).collect();
        assert_eq!(day2, vec![("a".into(), 1), ("zig:b".into(), 7)]);
        assert_eq!(
            store.download_totals_since("2026-01-01").await.unwrap(),
            vec![("a".into(), 6), ("zig:b".into(), 7)]
        );
        // New counts keep the summaries current.
        store
            .add_downloads(DownloadBatch::new(vec![count(
                "a",
                "1.0.0",
                "2026-01-03",
                4,
            )]))
            .await
            .unwrap();
        assert_eq!(
            store.download_totals_since("2026-01-02").await.unwrap(),
            vec![("a".into(), 5), ("zig:b".into(), 7)]
        );
    }

    #[test]
    fn a_new_database_gets_the_current_schema_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        drop(RedbStore::open(&path).unwrap());
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_read().unwrap();
            let meta = txn.open_table(schema::META).unwrap();
            assert_eq!(
                meta.get("schema_version").unwrap().unwrap().value(),
                schema::SCHEMA_VERSION
            );
            drop(meta);
            drop(txn);
            let txn = db.begin_write().unwrap();
            txn.open_table(schema::META)
                .unwrap()
                .insert("schema_version", 99)
                .unwrap();
            txn.commit().unwrap();
        }
        let err = RedbStore::open(&path)
            .err()
            .expect("a newer schema is refused")
            .to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }
}
