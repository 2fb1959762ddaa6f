//! [`TransferStore`] on DynamoDB: a package's items are replaced in transactions of up to 100
//! puts and deletes, the package item last, so an interrupted import leaves the package as it
//! was or with its new versions and the old package item (an import run again completes it).

use async_trait::async_trait;

use super::packages::{PACKAGES, version_sk, versions_pk};
use super::zig::{ZIGS, zig_pk};
use super::{
    DynamoStore, MAX_TRANSACTION_ITEMS, Range, TxFailure, Write, decode_item, key, n, record_item,
    string_attr,
};
use crate::store::{
    AuditRecord, Change, PackageRecord, StoreError, StoreResult, TransferStore, VersionRecord,
    ZigPackageRecord, ZigVersionRecord,
};

const TOMBSTONES: &str = "TOMBSTONES";

impl DynamoStore {
    /// Runs `writes` in transactions of up to 100, in order.
    async fn write_in_chunks(&self, mut writes: Vec<Write>) -> StoreResult<()> {
        while !writes.is_empty() {
            let rest = writes.split_off(writes.len().min(MAX_TRANSACTION_ITEMS));
            let chunk = std::mem::replace(&mut writes, rest);
            self.transact(chunk).await.map_err(|f| match f {
                TxFailure::Store(e) => e,
                TxFailure::Cancelled(codes) => StoreError::Conflict(format!(
                    "an import was written to concurrently ({})",
                    codes.join(", ")
                )),
            })?;
        }
        Ok(())
    }

    /// The sort keys of a partition that start with `prefix` (all of them for `""`).
    pub(super) async fn sort_keys(&self, pk: &str, prefix: &str) -> StoreResult<Vec<String>> {
        let items = self
            .query(
                &self.table,
                pk,
                Range {
                    prefix: (!prefix.is_empty()).then_some(prefix),
                    projection: Some("SK"),
                    ..Range::default()
                },
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| string_attr(i, "SK").map(str::to_string))
            .collect())
    }
}

#[async_trait]
impl TransferStore for DynamoStore {
    /// DynamoDB reads no snapshot across a table: page by page, each package at one revision.
    async fn export(
        &self,
        sink: tokio::sync::mpsc::Sender<crate::store::export::ExportRecord>,
    ) -> StoreResult<crate::store::export::Consistency> {
        crate::store::export::by_pages(self, &sink).await
    }

    async fn unpublished_versions(&self, name: &str) -> StoreResult<Vec<(String, String)>> {
        let items = self
            .query(
                &self.table,
                &versions_pk(name),
                Range {
                    prefix: Some("GONE#"),
                    ..Range::default()
                },
            )
            .await?;
        items
            .iter()
            .map(|item| {
                let version = string_attr(item, "SK")
                    .and_then(|sk| sk.strip_prefix("GONE#"))
                    .unwrap_or_default()
                    .to_string();
                Ok((version, decode_item::<String>(item)?))
            })
            .collect()
    }

    async fn name_tombstones_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<String>)>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let items = self
            .query(
                &self.table,
                TOMBSTONES,
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
                let name = string_attr(item, "SK").unwrap_or_default().to_string();
                Ok((name, decode_item(item)?))
            })
            .collect()
    }

    async fn import_package(
        &self,
        package: PackageRecord,
        versions: Vec<VersionRecord>,
        unpublished: Vec<(String, String)>,
    ) -> StoreResult<()> {
        let name = package.name.clone();
        let pk = versions_pk(&name);
        let keep: std::collections::HashSet<String> = versions
            .iter()
            .map(|v| version_sk(&v.version))
            .chain(unpublished.iter().map(|(v, _)| format!("GONE#{v}")))
            .collect();
        let mut writes = Vec::new();
        for sk in self.sort_keys(&pk, "").await? {
            if !keep.contains(&sk) {
                writes.push(Write::Delete(key(&pk, &sk), None));
            }
        }
        for v in &versions {
            writes.push(Write::Put(
                record_item(&pk, &version_sk(&v.version), v)?,
                None,
            ));
        }
        for (version, at) in &unpublished {
            writes.push(Write::Put(
                record_item(&pk, &format!("GONE#{version}"), at)?,
                None,
            ));
        }
        self.write_in_chunks(writes).await?;
        let mut item = record_item(PACKAGES, &name, &package)?;
        item.insert("rv".into(), n(package.rev));
        self.write_in_chunks(vec![
            Write::Put(item, None),
            Write::Delete(key(TOMBSTONES, &name), None),
            self.change_write(&Change::npm(&name)),
        ])
        .await
    }

    async fn import_name_tombstone(&self, name: &str, owners: Vec<String>) -> StoreResult<()> {
        self.put(record_item(TOMBSTONES, name, &owners)?, None)
            .await
            .map(drop)
    }

    async fn import_zig_package(
        &self,
        package: ZigPackageRecord,
        versions: Vec<ZigVersionRecord>,
    ) -> StoreResult<()> {
        let name = package.name.clone();
        let pk = zig_pk(&name);
        let keep: std::collections::HashSet<String> =
            versions.iter().map(|v| version_sk(&v.version)).collect();
        let mut writes = Vec::new();
        for sk in self.sort_keys(&pk, "").await? {
            if !keep.contains(&sk) {
                writes.push(Write::Delete(key(&pk, &sk), None));
            }
        }
        let mut indexed = std::collections::HashSet::new();
        for v in &versions {
            writes.push(Write::Put(
                record_item(&pk, &version_sk(&v.version), v)?,
                None,
            ));
            for hash in std::iter::once(&v.hash).chain(v.legacy_hash.iter()) {
                let hash_pk = format!("ZIGHASH#{hash}");
                if indexed.insert(hash.clone()) && self.get(&hash_pk, "ZIGHASH").await?.is_none() {
                    let target = serde_json::json!({"name": name, "version": v.version});
                    writes.push(Write::Put(record_item(&hash_pk, "ZIGHASH", &target)?, None));
                }
            }
        }
        self.write_in_chunks(writes).await?;
        let mut item = record_item(ZIGS, &name, &package)?;
        item.insert("rv".into(), n(package.rev));
        self.write_in_chunks(vec![
            Write::Put(item, None),
            self.change_write(&Change::zig(&name)),
        ])
        .await
    }

    async fn import_audit(&self, entries: Vec<AuditRecord>) -> StoreResult<()> {
        let mut writes = Vec::with_capacity(entries.len());
        for mut entry in entries {
            let id = std::mem::take(&mut entry.id);
            writes.push(Write::Put(record_item("AUDIT", &id, &entry)?, None));
        }
        self.write_in_chunks(writes).await
    }
}
