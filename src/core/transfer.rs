//! Moving a whole registry from one back end to another (`pantry-registry migrate`): redb and
//! disk to DynamoDB and S3, or back. Blobs go first (each streamed and hash-checked by the
//! destination), then the records exactly as they are (revisions, unpublished numbers, token
//! hashes, audit ids), then both sides are counted and every blob the destination's records
//! name is read back and re-hashed.
//!
//! Every step replaces what the destination holds under the same key, and blobs already there
//! are skipped, so a migration that stopped half-way is completed by running it again.

use std::sync::Arc;

use futures_util::StreamExt;
use sha2::Digest;

use crate::blobs::{BlobError, BlobKey, BlobStore};
use crate::core::references::References;
use crate::store::export::ExportRecord;
use crate::store::{AuditRecord, DownloadBatch, MetadataStore, StoreError, StoreResult};

/// One side of a migration.
pub struct Side {
    pub store: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
}

/// Told of each stage and of each item done in it.
pub trait Progress: Send + Sync {
    fn stage(&self, what: &str, total: u64);
    fn advance(&self, done: u64);
}

/// What each side holds, counted record by record.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub packages: u64,
    pub versions: u64,
    pub unpublished_versions: u64,
    pub unpublished_packages: u64,
    pub users: u64,
    pub tokens: u64,
    pub zig_packages: u64,
    pub zig_versions: u64,
    pub cached_packuments: u64,
    pub proxied_tarballs: u64,
    pub downloads: u64,
    pub audit_entries: u64,
    pub blobs: u64,
}

/// What a migration did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub blobs_copied: u64,
    pub blobs_already_there: u64,
    pub bytes_copied: u64,
    pub counts: Counts,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("blob {key}: {source}")]
    Blob { key: String, source: BlobError },
    #[error("the destination does not hold what the source does: {0}")]
    Mismatch(String),
}

fn blob_error(key: &BlobKey) -> impl FnOnce(BlobError) -> MigrateError + '_ {
    move |source| MigrateError::Blob {
        key: key.as_str().to_string(),
        source,
    }
}

impl Counts {
    /// The records counted, in words: `2 npm packages (3 versions, 1 unpublished), …`.
    pub fn records_summary(&self) -> String {
        format!(
            "{} npm packages ({} versions, {} unpublished), {} Zig packages ({} versions), {} users, {} tokens, {} cached upstream packuments and {} tarballs, {} downloads, {} audit entries",
            self.packages,
            self.versions,
            self.unpublished_versions,
            self.zig_packages,
            self.zig_versions,
            self.users,
            self.tokens,
            self.cached_packuments,
            self.proxied_tarballs,
            self.downloads,
            self.audit_entries
        )
    }

    /// Counts one exported record (its blobs are counted by whoever collects their keys).
    pub fn tally(&mut self, record: &ExportRecord) {
        match record {
            ExportRecord::Package {
                versions,
                unpublished,
                ..
            } => {
                self.packages += 1;
                self.versions += versions.len() as u64;
                self.unpublished_versions += unpublished.len() as u64;
            }
            ExportRecord::NameTombstone { .. } => self.unpublished_packages += 1,
            ExportRecord::ZigPackage { versions, .. } => {
                self.zig_packages += 1;
                self.zig_versions += versions.len() as u64;
            }
            ExportRecord::User { .. } => self.users += 1,
            ExportRecord::Token { .. } => self.tokens += 1,
            ExportRecord::CachedPackument { .. } => self.cached_packuments += 1,
            ExportRecord::ProxiedTarball { .. } => self.proxied_tarballs += 1,
            ExportRecord::Downloads { counts, .. } => {
                self.downloads += counts.iter().map(|c| c.count).sum::<u64>()
            }
            ExportRecord::Audit { entries } => self.audit_entries += entries.len() as u64,
        }
    }
}

/// Writes one exported record into `store` as it is (revisions, ids and counts kept). Like
/// every import, it replaces what the store holds under the same key, and download counts go
/// in under a batch id fixed by the name, so writing a record twice counts nothing twice.
pub async fn import_record(store: &dyn MetadataStore, record: ExportRecord) -> StoreResult<()> {
    match record {
        ExportRecord::Package {
            package,
            versions,
            unpublished,
        } => store.import_package(package, versions, unpublished).await,
        ExportRecord::NameTombstone { name, owners } => {
            store.import_name_tombstone(&name, owners).await
        }
        ExportRecord::ZigPackage { package, versions } => {
            store.import_zig_package(package, versions).await
        }
        ExportRecord::User { user } => store.update_user(user).await,
        ExportRecord::Token { token } => {
            if store.token_by_id(&token.id).await?.is_none() {
                store.insert_token(token).await?;
            }
            Ok(())
        }
        ExportRecord::CachedPackument { packument } => store.put_cached_packument(packument).await,
        ExportRecord::ProxiedTarball { tarball } => store.put_proxied_tarball(tarball).await,
        ExportRecord::Downloads { name, counts } => {
            store
                .add_downloads(DownloadBatch {
                    id: migration_batch(&name),
                    counts,
                })
                .await
        }
        ExportRecord::Audit { entries } => store.import_audit(entries).await,
    }
}

/// A download batch id that is the same every time a name is migrated, so a run repeated
/// after an interruption counts nothing twice.
fn migration_batch(name: &str) -> String {
    let digest = sha2::Sha256::digest(name.as_bytes());
    format!("migrate-{}", &hex::encode(digest)[..24])
}

/// Copies everything `from` holds into `to`, then checks `to` holds the same.
pub async fn migrate(
    from: &Side,
    to: &Side,
    progress: &dyn Progress,
) -> Result<Report, MigrateError> {
    let (src, dst) = (from.store.as_ref(), to.store.as_ref());

    // Blobs first: no record reaches the destination before the bytes it names.
    let references = References::load(src).await?;
    progress.stage("blobs", references.len() as u64);
    let (mut copied, mut already, mut bytes) = (0, 0, 0);
    for (key, _) in references.iter() {
        let Some(key) = BlobKey::parse(key) else {
            continue;
        };
        let size = from.blobs.head(&key).await.map_err(blob_error(&key))?;
        let Some(size) = size else {
            return Err(MigrateError::Blob {
                key: key.as_str().to_string(),
                source: BlobError::Missing(format!(
                    "{} (named by a record, missing in the source: run `pantry-registry gc --dry-run` to see which)",
                    key.as_str()
                )),
            });
        };
        if to.blobs.head(&key).await.map_err(blob_error(&key))? == Some(size) {
            already += 1;
        } else {
            let reader = from.blobs.open(&key).await.map_err(blob_error(&key))?;
            to.blobs
                .put_stream(&key, reader.content, size)
                .await
                .map_err(blob_error(&key))?;
            copied += 1;
            bytes += size;
        }
        progress.advance(1);
    }

    let packages = src.list_packages().await?;
    progress.stage("npm packages", packages.len() as u64);
    for package in packages {
        let versions = src.versions(&package.name).await?;
        let unpublished = src.unpublished_versions(&package.name).await?;
        dst.import_package(package, versions, unpublished).await?;
        progress.advance(1);
    }
    let tombstones = src.list_name_tombstones().await?;
    progress.stage("unpublished names", tombstones.len() as u64);
    for (name, owners) in tombstones {
        dst.import_name_tombstone(&name, owners).await?;
        progress.advance(1);
    }

    let zig = src.list_zig_packages().await?;
    progress.stage("Zig packages", zig.len() as u64);
    for package in zig {
        let versions = src.zig_versions(&package.name).await?;
        dst.import_zig_package(package, versions).await?;
        progress.advance(1);
    }

    let users = src.list_users().await?;
    progress.stage("users", users.len() as u64);
    for user in users {
        dst.update_user(user).await?;
        progress.advance(1);
    }
    let tokens = src.list_tokens().await?;
    progress.stage("tokens", tokens.len() as u64);
    for token in tokens {
        if dst.token_by_id(&token.id).await?.is_none() {
            dst.insert_token(token).await?;
        }
        progress.advance(1);
    }

    let packuments = src.list_cached_packuments().await?;
    let proxied = src.list_proxied_tarballs().await?;
    progress.stage(
        "the npm fallback's cache",
        (packuments.len() + proxied.len()) as u64,
    );
    for packument in packuments {
        dst.put_cached_packument(packument).await?;
        progress.advance(1);
    }
    for tarball in proxied {
        dst.put_proxied_tarball(tarball).await?;
        progress.advance(1);
    }

    let totals = src.download_totals().await?;
    let present: std::collections::HashMap<String, u64> =
        dst.download_totals().await?.into_iter().collect();
    progress.stage("download counts", totals.len() as u64);
    for (name, total) in totals {
        if present.get(&name) != Some(&total) {
            let counts = src.downloads(&name).await?;
            dst.add_downloads(DownloadBatch {
                id: migration_batch(&name),
                counts,
            })
            .await?;
        }
        progress.advance(1);
    }

    progress.stage("the audit log", 0);
    let mut after: Option<String> = None;
    loop {
        let page: Vec<AuditRecord> = src.audit_page(after.as_deref(), 500).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.id.clone());
        let n = page.len() as u64;
        dst.import_audit(page).await?;
        progress.advance(n);
    }

    let source = count(from).await?;
    let destination = count(to).await?;
    if source != destination {
        return Err(MigrateError::Mismatch(format!(
            "source {} / destination {}",
            serde_json::to_string(&source).unwrap_or_default(),
            serde_json::to_string(&destination).unwrap_or_default()
        )));
    }
    verify_blobs(to, progress).await?;
    Ok(Report {
        blobs_copied: copied,
        blobs_already_there: already,
        bytes_copied: bytes,
        counts: destination,
    })
}

/// Counts what a side holds.
pub async fn count(side: &Side) -> Result<Counts, MigrateError> {
    let store = side.store.as_ref();
    let mut counts = Counts::default();
    for package in store.list_packages().await? {
        counts.packages += 1;
        counts.versions += store.versions(&package.name).await?.len() as u64;
        counts.unpublished_versions +=
            store.unpublished_versions(&package.name).await?.len() as u64;
    }
    counts.unpublished_packages = store.list_name_tombstones().await?.len() as u64;
    for package in store.list_zig_packages().await? {
        counts.zig_packages += 1;
        counts.zig_versions += store.zig_versions(&package.name).await?.len() as u64;
    }
    counts.users = store.list_users().await?.len() as u64;
    counts.tokens = store.list_tokens().await?.len() as u64;
    counts.cached_packuments = store.list_cached_packuments().await?.len() as u64;
    counts.proxied_tarballs = store.list_proxied_tarballs().await?.len() as u64;
    counts.downloads = store.download_totals().await?.iter().map(|(_, n)| n).sum();
    let mut after: Option<String> = None;
    loop {
        let page = store.audit_page(after.as_deref(), 500).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.id.clone());
        counts.audit_entries += page.len() as u64;
    }
    counts.blobs = References::load(store).await?.len() as u64;
    Ok(counts)
}

/// Reads back every blob the side's records name and checks it hashes to its key.
async fn verify_blobs(side: &Side, progress: &dyn Progress) -> Result<(), MigrateError> {
    let references = References::load(side.store.as_ref()).await?;
    progress.stage("verifying every blob", references.len() as u64);
    for (key, _) in references.iter() {
        let Some(key) = BlobKey::parse(key) else {
            continue;
        };
        let mut reader = side.blobs.open(&key).await.map_err(blob_error(&key))?;
        let mut hasher = sha2::Sha256::new();
        while let Some(chunk) = reader.content.next().await {
            hasher.update(chunk.map_err(blob_error(&key))?);
        }
        let actual = hex::encode(hasher.finalize());
        if actual != key.as_str() {
            return Err(MigrateError::Mismatch(format!(
                "the blob {} reads back as {actual}",
                key.as_str()
            )));
        }
        progress.advance(1);
    }
    Ok(())
}
