//! [`PackageStore`] on DynamoDB: packages in the `PACKAGES` partition (by name), each package's
//! versions and unpublished-version tombstones in its own `PACKAGE#<name>` partition, and the
//! names of wholly unpublished packages in `TOMBSTONES`.
//!
//! A publish is one transaction: the version put only if absent, a check that its number was
//! never unpublished, the package put at the revision it was read at, and the change-feed
//! entry. Another writer's change to the package makes it re-read and re-run the caller's rule.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::{
    Cond, DynamoStore, MAX_TRANSACTION_ITEMS, Range, TxFailure, Write, backoff, decode_item, key,
    n, number_attr, record_item,
};
use crate::store::{
    Change, PackageChange, PackageRecord, PackageStore, PackageUpdate, StoreError, StoreResult,
    VersionRecord,
};

pub(super) const PACKAGES: &str = "PACKAGES";
const TOMBSTONES: &str = "TOMBSTONES";

pub(super) fn versions_pk(name: &str) -> String {
    format!("PACKAGE#{name}")
}

pub(super) fn version_sk(version: &str) -> String {
    format!("VERSION#{version}")
}

fn gone_sk(version: &str) -> String {
    format!("GONE#{version}")
}

fn package_item(package: &PackageRecord) -> StoreResult<super::Item> {
    let mut item = record_item(PACKAGES, &package.name, package)?;
    item.insert("rv".into(), n(package.rev));
    Ok(item)
}

fn gone_item(name: &str, version: &str, at: &str) -> StoreResult<super::Item> {
    record_item(&versions_pk(name), &gone_sk(version), &at)
}

/// Keeps the last write to each item (a transaction may name an item once).
fn last_write_per_item(writes: Vec<Write>) -> Vec<Write> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Write> = writes
        .into_iter()
        .rev()
        .filter(|w| {
            let item = match w {
                Write::Put(i, _) | Write::Delete(i, _) | Write::Check(i, _) | Write::Add(i, _) => i,
            };
            let id = (
                super::string_attr(item, "PK")
                    .unwrap_or_default()
                    .to_string(),
                super::string_attr(item, "SK")
                    .unwrap_or_default()
                    .to_string(),
            );
            seen.insert(id)
        })
        .collect();
    out.reverse();
    out
}

#[async_trait]
impl PackageStore for DynamoStore {
    async fn package(&self, name: &str) -> StoreResult<Option<PackageRecord>> {
        self.get_record(PACKAGES, name).await
    }

    async fn version(&self, name: &str, version: &str) -> StoreResult<Option<VersionRecord>> {
        self.get_record(&versions_pk(name), &version_sk(version))
            .await
    }

    async fn versions(&self, name: &str) -> StoreResult<Vec<VersionRecord>> {
        self.records_with_prefix(&versions_pk(name), "VERSION#")
            .await
    }

    async fn versions_size(&self, name: &str) -> StoreResult<u64> {
        let items = self
            .query(
                &self.table,
                &versions_pk(name),
                Range {
                    prefix: Some("VERSION#"),
                    projection: Some("SK, bytes_len"),
                    ..Range::default()
                },
            )
            .await?;
        Ok(items
            .iter()
            .map(|i| number_attr(i, "bytes_len").unwrap_or(0))
            .sum())
    }

    async fn publish_version(
        &self,
        version: VersionRecord,
        update: PackageUpdate,
    ) -> StoreResult<PackageRecord> {
        let name = version.name.clone();
        let pk = versions_pk(&name);
        let version_item = record_item(&pk, &version_sk(&version.version), &version)?;
        let (this_sk, gone_key) = (version_sk(&version.version), gone_sk(&version.version));
        for attempt in self.tries() {
            let (existing, gone, stored, former) = tokio::try_join!(
                self.get(&pk, &this_sk),
                self.get(&pk, &gone_key),
                self.get(PACKAGES, &name),
                self.get(TOMBSTONES, &name),
            )?;
            if existing.is_some() {
                return Err(StoreError::VersionExists(version.version.clone()));
            }
            if gone.is_some() {
                return Err(StoreError::VersionUnpublished(version.version.clone()));
            }
            let stored: Option<PackageRecord> = stored.as_ref().map(decode_item).transpose()?;
            let stored_rev = stored.as_ref().map(|p| p.rev);
            let mut from_tombstone = false;
            let current = match (stored, former) {
                (Some(p), _) => Some(p),
                (None, Some(item)) => {
                    from_tombstone = true;
                    let owners: Vec<String> = decode_item(&item)?;
                    let now = time::OffsetDateTime::now_utc();
                    Some(PackageRecord {
                        name: name.clone(),
                        dist_tags: Default::default(),
                        owners,
                        created_at: now,
                        updated_at: now,
                        rev: 0,
                        stars: Default::default(),
                    })
                }
                (None, None) => None,
            };
            let mut package = update(current)?;
            package.rev += 1;
            let mut writes = vec![
                Write::Put(version_item.clone(), Some(Cond::absent())),
                Write::Check(key(&pk, &gone_sk(&version.version)), Cond::absent()),
                Write::Put(package_item(&package)?, Some(Cond::revision(stored_rev))),
                self.change_write(&Change::npm(&name)),
            ];
            if from_tombstone {
                writes.push(Write::Delete(key(TOMBSTONES, &name), Some(Cond::present())));
            }
            match self.transact(writes).await {
                Ok(()) => return Ok(package),
                Err(f) if f.failed_at(0) => {
                    return Err(StoreError::VersionExists(version.version.clone()));
                }
                Err(f) if f.failed_at(1) => {
                    return Err(StoreError::VersionUnpublished(version.version.clone()));
                }
                Err(TxFailure::Cancelled(_)) => backoff(attempt).await,
                Err(TxFailure::Store(e)) => return Err(e),
            }
        }
        Err(self.too_contended(&format!("the package {name}")))
    }

    async fn modify_package(
        &self,
        name: &str,
        change: PackageChange,
    ) -> StoreResult<Option<PackageRecord>> {
        let pk = versions_pk(name);
        for attempt in self.tries() {
            let current: PackageRecord = self
                .get_record(PACKAGES, name)
                .await?
                .ok_or(StoreError::NoSuchPackage)?;
            let stored_rev = current.rev;
            let former_owners = current.owners.clone();
            let versions = self.versions(name).await?;
            let known: Vec<String> = versions.iter().map(|v| v.version.clone()).collect();
            let edit = change(current, versions)?;
            let now = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            // The versions' writes first, then the package's own (conditional on the revision
            // read), then the feed entry.
            let mut writes = Vec::new();
            let written = match edit.package {
                Some(mut package) => {
                    for v in &edit.remove_versions {
                        writes.push(Write::Delete(
                            key(&pk, &super::packages::version_sk(v)),
                            None,
                        ));
                        writes.push(Write::Put(gone_item(name, v, &now)?, None));
                    }
                    for v in &edit.upsert_versions {
                        writes.push(Write::Put(
                            record_item(&pk, &version_sk(&v.version), v)?,
                            None,
                        ));
                    }
                    package.rev += 1;
                    writes.push(Write::Put(
                        package_item(&package)?,
                        Some(Cond::revision(Some(stored_rev))),
                    ));
                    Some(package)
                }
                None => {
                    // Deleting a package removes every version, tombstoned like the rest.
                    let every: BTreeSet<&str> = known
                        .iter()
                        .map(String::as_str)
                        .chain(edit.upsert_versions.iter().map(|v| v.version.as_str()))
                        .chain(edit.remove_versions.iter().map(String::as_str))
                        .collect();
                    for v in every {
                        writes.push(Write::Delete(key(&pk, &version_sk(v)), None));
                        writes.push(Write::Put(gone_item(name, v, &now)?, None));
                    }
                    writes.push(Write::Delete(
                        key(PACKAGES, name),
                        Some(Cond::revision(Some(stored_rev))),
                    ));
                    writes.push(Write::Put(
                        record_item(TOMBSTONES, name, &former_owners)?,
                        None,
                    ));
                    None
                }
            };
            let mut writes = last_write_per_item(writes);
            writes.push(self.change_write(&Change::npm(name)));
            // What does not fit one transaction goes first, in transactions of its own; the
            // package's conditional write comes last, so a lost race re-runs the change.
            let tail = if written.is_some() { 2 } else { 3 };
            while writes.len() > MAX_TRANSACTION_ITEMS {
                let take = (writes.len() - tail).min(MAX_TRANSACTION_ITEMS);
                let head: Vec<Write> = writes.drain(..take).collect();
                if let Err(f) = self.transact(head).await {
                    match f {
                        TxFailure::Store(e) => return Err(e),
                        TxFailure::Cancelled(_) => {
                            return Err(StoreError::Conflict(format!(
                                "the versions of {name} were changed meanwhile; try again"
                            )));
                        }
                    }
                }
            }
            match self.transact(writes).await {
                Ok(()) => return Ok(written),
                Err(TxFailure::Cancelled(_)) => backoff(attempt).await,
                Err(TxFailure::Store(e)) => return Err(e),
            }
        }
        Err(self.too_contended(&format!("the package {name}")))
    }

    async fn scope_has_packages(&self, scope: &str) -> StoreResult<bool> {
        let prefix = format!("{scope}/");
        // A wholly unpublished package still claims its scope.
        for partition in [PACKAGES, TOMBSTONES] {
            let found = self
                .query(
                    &self.table,
                    partition,
                    Range {
                        prefix: Some(&prefix),
                        limit: 1,
                        projection: Some("SK"),
                        ..Range::default()
                    },
                )
                .await?;
            if !found.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn name_was_local(&self, name: &str) -> StoreResult<bool> {
        Ok(self.get(TOMBSTONES, name).await?.is_some())
    }

    async fn packages_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<PackageRecord>> {
        self.page_records(PACKAGES, after, limit).await
    }
}
