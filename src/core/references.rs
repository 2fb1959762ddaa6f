//! Which blobs are in use, the gate between storing a blob and deleting one, and `gc`.
//!
//! A blob is referenced while any record names it: a version published here, a Zig version, a
//! cached upstream tarball ([`BlobOwner`]). `gc`, the upstream cache's eviction and any check of
//! the blob store all read that set from [`References::load`], so a record kind added later is
//! named in one place (the store's `blob_references`) and every deleter respects it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::blobs::BlobKey;
use crate::core::CoreParts;
use crate::store::{BlobOwner, MetadataStore, StoreError, StoreResult};

/// Every blob key the metadata names, with the records that name it.
#[derive(Debug, Default)]
pub struct References {
    by_key: BTreeMap<String, Vec<BlobOwner>>,
}

impl References {
    pub async fn load(store: &dyn MetadataStore) -> StoreResult<Self> {
        let mut by_key: BTreeMap<String, Vec<BlobOwner>> = BTreeMap::new();
        for r in store.blob_references().await? {
            by_key.entry(r.key).or_default().push(r.owner);
        }
        for owners in by_key.values_mut() {
            owners.sort();
        }
        Ok(Self { by_key })
    }

    /// How many distinct blobs the records name.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Whether any record names the blob `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// The records that name `key` (none for an unreferenced blob).
    pub fn owners(&self, key: &str) -> &[BlobOwner] {
        self.by_key.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    /// Every referenced key with its owners, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[BlobOwner])> {
        self.by_key.iter().map(|(k, o)| (k.as_str(), o.as_slice()))
    }
}

/// Held shared from a blob's put until the record that names it is committed, and exclusively
/// by whoever deletes blobs, from reading the [`References`] until the deletes are done.
/// Without it an upload whose bytes equal a blob being evicted (the put of existing content is
/// a no-op) could commit its record after the eviction read the references and before it
/// deleted the file, leaving a record that points at nothing.
#[derive(Clone, Default)]
pub struct BlobGate(Arc<tokio::sync::RwLock<()>>);

impl BlobGate {
    /// For a put and the commit of the record that names the blob.
    pub async fn storing(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        self.0.clone().read_owned().await
    }

    /// For reading the references and deleting what nothing names.
    pub async fn deleting(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.0.clone().write_owned().await
    }
}

/// What `gc` found: the blobs nothing references (deleted, or on a dry run what would be) and
/// the records whose blob is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Unreferenced blobs by key, with their sizes in bytes.
    pub unreferenced: Vec<(BlobKey, u64)>,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Blob keys that records name but the blob store does not hold (integrity errors), with
    /// the records naming them.
    pub missing: Vec<(String, Vec<BlobOwner>)>,
}

/// Deletes the blobs nothing references ([`References`]: left by unpublished versions, evicted
/// cache entries, or an upload that lost a race); with `dry_run`, only lists them. Run it with
/// the server stopped, or through the server (a job). Records whose blob is missing are reported, and logged as integrity
/// errors. Safe while the server runs: blob stores wait for it (the blob gate).
pub async fn gc(
    parts: &CoreParts,
    dry_run: bool,
    progress: &(dyn Fn(String) + Send + Sync),
) -> StoreResult<GcReport> {
    let backend = |e: crate::blobs::BlobError| StoreError::Backend(e.to_string());
    // Single-instance: the gate is held from the first read of the references to the last
    // delete. Shared store: only for the second read and the deletes, so that this instance's
    // publishes do not wait out the grace.
    let mut deleting = match parts.gc_grace {
        Some(_) if !dry_run => None,
        _ => Some(parts.blob_gate.deleting().await),
    };
    progress("reading every record's blob references".into());
    let references = References::load(parts.store.as_ref()).await?;
    progress(format!(
        "{} blobs referenced; listing the blob store",
        references.len()
    ));
    let mut blobs = parts.blobs.list().await.map_err(backend)?;
    blobs.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let mut report = GcReport::default();
    let stored: std::collections::HashSet<&str> = blobs.iter().map(|(k, _)| k.as_str()).collect();
    for (key, owners) in references.iter() {
        if !stored.contains(key) {
            for owner in owners {
                tracing::error!(blob = key, record = %owner, "integrity error: a record names a blob the blob store does not hold");
            }
            report.missing.push((key.to_string(), owners.to_vec()));
        }
    }
    // Another instance may have put a blob and not yet committed the record naming it: the
    // candidates wait, and what a record names by then stays.
    let references = match parts.gc_grace {
        Some(grace) if !dry_run => {
            progress(format!(
                "waiting {} s for other instances' uploads in flight (storage.gc_grace_secs)",
                grace.as_secs()
            ));
            tokio::time::sleep(grace).await;
            deleting = Some(parts.blob_gate.deleting().await);
            let mut again = References::load(parts.store.as_ref()).await?;
            for (key, owners) in references.by_key {
                again.by_key.entry(key).or_insert(owners);
            }
            again
        }
        _ => references,
    };
    debug_assert!(deleting.is_some());
    let total = blobs.len();
    for (checked, (key, size)) in blobs.into_iter().enumerate() {
        if checked % 1000 == 0 {
            let verb = if dry_run { "to delete" } else { "deleted" };
            progress(format!(
                "checked {checked} of {total} blobs, {} {verb}",
                report.unreferenced.len()
            ));
        }
        if references.contains(key.as_str()) {
            continue;
        }
        if !dry_run {
            parts.blobs.delete(&key).await.map_err(backend)?;
        }
        report.bytes += size;
        report.unreferenced.push((key, size));
    }
    Ok(report)
}
