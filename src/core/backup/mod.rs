//! `backup` and `restore`: a whole registry as one archive, written while the server serves.
//!
//! The archive is a plain tar, in this order, so that it can be streamed (over HTTP from a
//! running server) and read back in one pass:
//! 1. `pantry-backup.json`, the [`Manifest`]: what it holds, the records file's SHA-256, and
//!    every blob with its size (a blob's name is its SHA-256, so the names are the hashes);
//! 2. `records.ndjson.zst`: every metadata record, one JSON line each
//!    ([`crate::store::export::ExportRecord`]), zstd-compressed, as of one read snapshot where
//!    the store has them (redb) and each package at one revision otherwise (DynamoDB);
//! 3. `blobs/<sha256>`: every blob those records name, read after the records, so every
//!    record's blob is in it (blobs are never changed, only deleted by `gc`, which waits).
//!
//! An incremental backup names a full one as its base and leaves out the blobs the base holds.
//! A restore reads the manifest, the records (checked against their hash) and the blobs (each
//! checked against its name as it is stored), then, only when everything checked out, writes
//! the records: a restore that fails leaves at worst unreferenced blobs, never a record
//! without its blob.

pub(crate) mod framing;
mod restore;
mod write;

pub use framing::FramingError;
pub use restore::{RestoreError, RestoreReport, check, manifest_of, restore, save};
pub use write::{BackupError, backup};

use crate::core::Core;
use crate::core::audit::{Actor, Outcome};
use crate::core::transfer::Counts;
use crate::store::export::Consistency;

/// The manifest's entry name; always the first.
pub const MANIFEST: &str = "pantry-backup.json";
/// The records' entry name; always the second.
pub const RECORDS: &str = "records.ndjson.zst";
/// Blob entries are named `blobs/<sha256>`.
pub const BLOB_PREFIX: &str = "blobs/";
/// What the manifest's `format` says.
pub const FORMAT: &str = "pantry-registry-backup";
/// The archive layout's version; a reader refuses newer ones.
pub const FORMAT_VERSION: u32 = 1;
/// The most a manifest may take (about 12 MB for a million blobs).
const MAX_MANIFEST_BYTES: u64 = 512 * 1024 * 1024;

/// What an archive holds; its first entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// This backup's own id (an incremental one names its base's).
    pub id: String,
    pub created_at: String,
    /// The version of pantry-registry that wrote it.
    pub written_by: String,
    /// The back ends it was read from: `redb + disk`, `DynamoDB + S3`, …
    pub source: String,
    pub consistency: Consistency,
    pub records: RecordsEntry,
    /// Every blob in this archive, in the order they follow.
    pub blobs: Vec<BlobEntry>,
    /// For an incremental backup: the full backup whose blobs it leaves out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseRef>,
    /// For an incremental backup: the blobs the records name that are in the base.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs_in_base: Vec<BlobEntry>,
    /// Blobs records named that the blob store did not hold when the backup was taken
    /// (`verify` names them too): their records are in the archive, their bytes are not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// The records file: its size and hash, and what it holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordsEntry {
    pub bytes: u64,
    pub sha256: String,
    /// Counted record by record; `blobs` is the number of distinct blobs the records name.
    pub counts: Counts,
}

/// One blob: its key (the SHA-256 of its content) and size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobEntry {
    pub key: String,
    pub size: u64,
    /// Named only by the npm fallback's cache (the upstream has the bytes too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cache: bool,
}

/// The full backup an incremental one builds on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseRef {
    pub id: String,
    pub created_at: String,
}

impl Manifest {
    /// Every blob the records name that the restore must find, here or in the base.
    pub fn needed_blobs(&self) -> usize {
        self.blobs.len() + self.blobs_in_base.len()
    }

    /// The bytes of blobs in this archive.
    pub fn blob_bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum()
    }
}

/// Told of each stage of a long command and of each item done in it.
pub use crate::core::transfer::Progress;

/// Progress nobody watches (a backup streamed over HTTP: its reader counts).
pub struct Unwatched;

impl Progress for Unwatched {
    fn stage(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// Writes a backup of `core`'s registry to `out` for `actor`, holding the maintenance jobs'
/// turn so that no `gc` of this server deletes a blob meanwhile; audited as
/// `registry.backup`. Its manifest.
pub async fn backup_registry<W: tokio::io::AsyncWrite + Unpin + Send>(
    core: &Core,
    actor: &Actor,
    out: W,
    progress: &dyn Progress,
) -> Result<Manifest, BackupError> {
    let _turn = core.jobs.turn().await;
    let result = backup(
        &core.clone_parts(),
        &core.settings.data_dir,
        &core.settings.backends(),
        out,
        progress,
    )
    .await;
    let outcome = match &result {
        Ok(m) => Outcome::OkWith(format!(
            "backup {}: {} blobs, {} bytes",
            m.id,
            m.blobs.len(),
            m.blob_bytes()
        )),
        Err(e) => Outcome::Failed(e.to_string()),
    };
    core.audit
        .record(actor, "registry.backup", "registry".to_string(), outcome);
    result
}
