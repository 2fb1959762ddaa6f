//! Reading a backup archive: [`save`] copies it while checking every hash (an incremental
//! copy leaves out what a base holds), [`check`] only checks; [`restore`]
//! also stores its blobs and, once everything checked out, writes its records into an empty
//! registry.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use bytes::Bytes;
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::framing::{FramingError, TarReader, TarWriter};
use super::{
    BLOB_PREFIX, BaseRef, FORMAT, FORMAT_VERSION, MANIFEST, MAX_MANIFEST_BYTES, Manifest, Progress,
    RECORDS,
};
use crate::blobs::{BlobError, BlobKey, ByteStream};
use crate::core::CoreParts;
use crate::core::transfer::{self, Counts};
use crate::store::export::ExportRecord;
use crate::store::{MetadataStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Framing(#[from] FramingError),
    #[error("the archive is damaged: {0}")]
    Corrupt(String),
    #[error(
        "the archive was written by a newer pantry-registry (backup format {0}; this one reads up to {FORMAT_VERSION})"
    )]
    Newer(u32),
    #[error(
        "this is an incremental backup on top of backup {id} (taken {created_at}): pass that backup too, with --base FILE"
    )]
    NeedsBase { id: String, created_at: String },
    #[error("{0}")]
    WrongBase(String),
    #[error(
        "the destination is not empty (it holds {0}): restore into an empty data directory, or an empty table and bucket"
    )]
    NotEmpty(&'static str),
    #[error("blob {key}: {source}")]
    Blob { key: String, source: BlobError },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the restored registry does not hold what the backup says: {0}")]
    Mismatch(String),
    #[error("restoring: {0}")]
    Io(#[from] std::io::Error),
}

/// What a restore did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    pub id: String,
    pub created_at: String,
    /// What the registry holds now.
    pub counts: Counts,
    pub blobs_restored: u64,
    pub bytes_restored: u64,
    /// Entries of the npm fallback's cache left out because their bytes were not in the
    /// backup (evicted before it was taken): the fallback fetches them again.
    pub cache_entries_skipped: u64,
    /// Blobs records name that were already missing when the backup was taken.
    pub missing_at_backup: Vec<String>,
}

async fn read_manifest<R: AsyncRead + Unpin>(
    tar: &mut TarReader<R>,
) -> Result<Manifest, RestoreError> {
    let not_ours = || FramingError::Malformed(format!("it does not start with {MANIFEST}")).into();
    let Some((name, _)) = tar.next_entry().await? else {
        return Err(not_ours());
    };
    if name != MANIFEST {
        return Err(not_ours());
    }
    let bytes = tar.content(MAX_MANIFEST_BYTES).await?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| FramingError::Malformed(format!("its manifest is unreadable: {e}")))?;
    if manifest.format != FORMAT {
        return Err(not_ours());
    }
    if manifest.format_version > FORMAT_VERSION {
        return Err(RestoreError::Newer(manifest.format_version));
    }
    Ok(manifest)
}

/// Where the content of an entry read goes, piece by piece.
trait ChunkSink {
    async fn put(&mut self, chunk: &[u8]) -> std::io::Result<()>;
}

/// Nowhere: the content is only checked.
struct Discard;

impl ChunkSink for Discard {
    async fn put(&mut self, _: &[u8]) -> std::io::Result<()> {
        Ok(())
    }
}

impl ChunkSink for tokio::fs::File {
    async fn put(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.write_all(chunk).await
    }
}

impl<W: AsyncWrite + Unpin> ChunkSink for TarWriter<W> {
    async fn put(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.content(chunk).await
    }
}

/// Reads the records entry into `out`, checking its size and hash.
async fn read_records<R: AsyncRead + Unpin>(
    tar: &mut TarReader<R>,
    manifest: &Manifest,
    out: &mut impl ChunkSink,
) -> Result<(), RestoreError> {
    match tar.next_entry().await? {
        Some((name, size)) if name == RECORDS && size == manifest.records.bytes => {}
        Some((name, size)) if name == RECORDS => {
            return Err(RestoreError::Corrupt(format!(
                "{RECORDS} is {size} bytes, the manifest says {}",
                manifest.records.bytes
            )));
        }
        _ => {
            return Err(
                FramingError::Malformed(format!("{RECORDS} does not follow the manifest")).into(),
            );
        }
    }
    let mut hasher = sha2::Sha256::new();
    while let Some(chunk) = tar.chunk().await? {
        hasher.update(&chunk);
        out.put(&chunk).await?;
    }
    let actual = hex::encode(hasher.finalize());
    if actual != manifest.records.sha256 {
        return Err(RestoreError::Corrupt(format!(
            "{RECORDS} hashes to {actual}, the manifest says {}",
            manifest.records.sha256
        )));
    }
    Ok(())
}

/// The key of a blob entry, checked against the manifest's sizes.
fn blob_entry(name: &str, size: u64, sizes: &HashMap<&str, u64>) -> Result<BlobKey, RestoreError> {
    let key = name.strip_prefix(BLOB_PREFIX).and_then(BlobKey::parse);
    let Some(key) = key else {
        return Err(FramingError::Malformed(format!("an unexpected entry {name}")).into());
    };
    match sizes.get(key.as_str()) {
        Some(&expected) if expected == size => Ok(key),
        _ => Err(RestoreError::Corrupt(format!(
            "{name} ({size} bytes) is not in the manifest as such"
        ))),
    }
}

fn sizes_of(manifest: &Manifest) -> HashMap<&str, u64> {
    manifest
        .blobs
        .iter()
        .map(|b| (b.key.as_str(), b.size))
        .collect()
}

/// Reads the blob entries to the end of the archive: each checked against its name and the
/// manifest's size, and stored in `parts`' blob store. Only the keys in `wanted`
/// are read (all of them when `None`). The keys stored, and their bytes.
async fn read_blobs<R: AsyncRead + Unpin>(
    tar: &mut TarReader<R>,
    manifest: &Manifest,
    wanted: Option<&HashSet<&str>>,
    parts: &CoreParts,
    progress: &dyn Progress,
) -> Result<(HashSet<String>, u64), RestoreError> {
    let sizes = sizes_of(manifest);
    let (mut seen, mut bytes) = (HashSet::new(), 0u64);
    while let Some((name, size)) = tar.next_entry().await? {
        let key = blob_entry(&name, size, &sizes)?;
        if wanted.is_some_and(|w| !w.contains(key.as_str())) {
            continue;
        }
        let actual = store_entry(tar, parts, &key, size).await?;
        if actual != key.as_str() {
            return Err(RestoreError::Corrupt(format!(
                "{name} hashes to {actual}: its content is damaged"
            )));
        }
        bytes += size;
        seen.insert(key.as_str().to_string());
        progress.advance(1);
    }
    Ok((seen, bytes))
}

/// Reads the current entry through, hashing it, and hands each piece to `sink`.
async fn hash_entry<R: AsyncRead + Unpin>(
    tar: &mut TarReader<R>,
    sink: &tokio::sync::mpsc::Sender<Result<Bytes, BlobError>>,
) -> Result<String, RestoreError> {
    let mut hasher = sha2::Sha256::new();
    while let Some(chunk) = tar.chunk().await? {
        hasher.update(&chunk);
        if sink.send(Ok(chunk)).await.is_err() {
            break;
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Stores the current entry as the blob `key` while hashing it; its hash.
async fn store_entry<R: AsyncRead + Unpin>(
    tar: &mut TarReader<R>,
    parts: &CoreParts,
    key: &BlobKey,
    size: u64,
) -> Result<String, RestoreError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, BlobError>>(4);
    let content: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let put = parts.blobs.put_stream(key, content, size);
    let feed = async move {
        let hashed = hash_entry(tar, &tx).await;
        drop(tx);
        hashed
    };
    let (stored, hashed) = tokio::join!(put, feed);
    let hashed = hashed?;
    match stored {
        Ok(_) => Ok(hashed),
        Err(BlobError::HashMismatch { actual, .. }) => Ok(actual),
        Err(source) => Err(RestoreError::Blob {
            key: key.as_str().to_string(),
            source,
        }),
    }
}

/// Copies the archive `input` to `out` while checking it whole: the manifest, the records'
/// hash, and every blob's content against its name and size. With `base` (the manifest of a
/// full backup), the blobs that backup holds are left out: the copy is an incremental backup
/// on top of it. The manifest of the copy, once all of it was read and checked; `out` is left
/// incomplete otherwise.
pub async fn save<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    input: R,
    out: W,
    base: Option<&Manifest>,
    progress: &dyn Progress,
) -> Result<Manifest, RestoreError> {
    let mut tar = TarReader::new(input);
    let received = read_manifest(&mut tar).await?;
    let mut manifest = received.clone();
    if let Some(base) = base {
        if base.base.is_some() || received.base.is_some() {
            return Err(RestoreError::WrongBase(format!(
                "backup {} is incremental: an incremental backup builds on a full one",
                if base.base.is_some() {
                    &base.id
                } else {
                    &received.id
                }
            )));
        }
        let in_base: HashMap<&str, u64> = sizes_of(base);
        let (from_base, here) = received
            .blobs
            .iter()
            .cloned()
            .partition(|b| in_base.get(b.key.as_str()) == Some(&b.size));
        manifest.blobs = here;
        manifest.blobs_in_base = from_base;
        manifest.base = Some(BaseRef {
            id: base.id.clone(),
            created_at: base.created_at.clone(),
        });
    }
    let mtime = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let mut copy = TarWriter::new(out, mtime);
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
    copy.entry(MANIFEST, &manifest_json).await?;
    copy.start_entry(RECORDS, manifest.records.bytes).await?;
    read_records(&mut tar, &received, &mut copy).await?;
    copy.end_entry(manifest.records.bytes).await?;

    progress.stage("checking the blobs", received.blobs.len() as u64);
    let sizes = sizes_of(&received);
    let left_out: HashSet<&str> = manifest
        .blobs_in_base
        .iter()
        .map(|b| b.key.as_str())
        .collect();
    let mut seen = HashSet::new();
    while let Some((name, size)) = tar.next_entry().await? {
        let key = blob_entry(&name, size, &sizes)?;
        progress.advance(1);
        if left_out.contains(key.as_str()) {
            continue;
        }
        copy.start_entry(&name, size).await?;
        let mut hasher = sha2::Sha256::new();
        while let Some(chunk) = tar.chunk().await? {
            hasher.update(&chunk);
            copy.content(&chunk).await?;
        }
        copy.end_entry(size).await?;
        let actual = hex::encode(hasher.finalize());
        if actual != key.as_str() {
            return Err(RestoreError::Corrupt(format!(
                "{name} hashes to {actual}: its content is damaged"
            )));
        }
        seen.insert(key.as_str().to_string());
    }
    all_there(
        &manifest,
        &seen,
        manifest.blobs.iter().map(|b| b.key.as_str()),
    )?;
    copy.finish().await?;
    Ok(manifest)
}

/// The manifest of the archive `input` (read from its start only).
pub async fn manifest_of<R: AsyncRead + Unpin>(input: R) -> Result<Manifest, RestoreError> {
    read_manifest(&mut TarReader::new(input)).await
}

/// Reads an archive through and checks it as [`save`] does; its manifest, when whole.
pub async fn check<R: AsyncRead + Unpin>(
    input: R,
    progress: &dyn Progress,
) -> Result<Manifest, RestoreError> {
    save(input, tokio::io::sink(), None, progress).await
}

fn all_there<'a>(
    manifest: &Manifest,
    seen: &HashSet<String>,
    expected: impl Iterator<Item = &'a str>,
) -> Result<(), RestoreError> {
    let absent: Vec<&str> = expected.filter(|k| !seen.contains(*k)).collect();
    if absent.is_empty() {
        return Ok(());
    }
    Err(RestoreError::Corrupt(format!(
        "{} of the blobs backup {} names are not in it (the first: {})",
        absent.len(),
        manifest.id,
        absent[0]
    )))
}

/// What the destination already holds, if anything.
async fn first_held(store: &dyn MetadataStore) -> Result<Option<&'static str>, StoreError> {
    Ok(if !store.packages_page(None, 1).await?.is_empty() {
        Some("npm packages")
    } else if !store.zig_packages_page(None, 1).await?.is_empty() {
        Some("Zig packages")
    } else if !store.users_page(None, 1).await?.is_empty() {
        Some("users")
    } else if !store.tokens_page(None, 1).await?.is_empty() {
        Some("tokens")
    } else if !store.cached_packuments_page(None, 1).await?.is_empty() {
        Some("cached upstream packages")
    } else {
        None
    })
}

/// Restores the archive `input` (and, for an incremental one, its `base`) into the empty
/// registry `parts`. Records are written only after every blob was stored and checked; none
/// may be longer than `max_record_bytes`.
pub async fn restore<R: AsyncRead + Unpin, B: AsyncRead + Unpin>(
    parts: &CoreParts,
    scratch: &Path,
    max_record_bytes: u64,
    input: R,
    base: Option<B>,
    progress: &dyn Progress,
) -> Result<RestoreReport, RestoreError> {
    if let Some(held) = first_held(parts.store.as_ref()).await? {
        return Err(RestoreError::NotEmpty(held));
    }
    let mut tar = TarReader::new(input);
    let manifest = read_manifest(&mut tar).await?;
    match (&manifest.base, &base) {
        (Some(b), None) => {
            return Err(RestoreError::NeedsBase {
                id: b.id.clone(),
                created_at: b.created_at.clone(),
            });
        }
        (None, Some(_)) => {
            return Err(RestoreError::WrongBase(format!(
                "backup {} is a full backup: it needs no --base",
                manifest.id
            )));
        }
        _ => {}
    }
    progress.stage("reading the records", 0);
    let records_file = tempfile::NamedTempFile::new_in(scratch)?;
    let mut out = tokio::fs::File::from_std(records_file.reopen()?);
    read_records(&mut tar, &manifest, &mut out).await?;
    out.flush().await?;
    drop(out);

    progress.stage("restoring the blobs", manifest.needed_blobs() as u64);
    let (mut seen, mut bytes) = read_blobs(&mut tar, &manifest, None, parts, progress).await?;
    all_there(
        &manifest,
        &seen,
        manifest.blobs.iter().map(|b| b.key.as_str()),
    )?;
    if let Some(base) = base {
        let mut base_tar = TarReader::new(base);
        let base_manifest = read_manifest(&mut base_tar).await?;
        let expected = manifest.base.as_ref().expect("checked above");
        if base_manifest.id != expected.id {
            return Err(RestoreError::WrongBase(format!(
                "the base given is backup {} (taken {}); this one builds on backup {} (taken {})",
                base_manifest.id, base_manifest.created_at, expected.id, expected.created_at
            )));
        }
        read_records(&mut base_tar, &base_manifest, &mut Discard).await?;
        let wanted: HashSet<&str> = manifest
            .blobs_in_base
            .iter()
            .map(|b| b.key.as_str())
            .collect();
        let (from_base, base_bytes) = read_blobs(
            &mut base_tar,
            &base_manifest,
            Some(&wanted),
            parts,
            progress,
        )
        .await?;
        seen.extend(from_base);
        bytes += base_bytes;
        all_there(
            &manifest,
            &seen,
            manifest.blobs_in_base.iter().map(|b| b.key.as_str()),
        )?;
    }

    let skipped = write_records(
        parts,
        records_file.path(),
        &seen,
        max_record_bytes,
        progress,
    )
    .await?;
    let counts = transfer::count(&transfer::Side {
        store: parts.store.clone(),
        blobs: parts.blobs.clone(),
    })
    .await
    .map_err(|e| RestoreError::Mismatch(e.to_string()))?;
    let mut expected = manifest.records.counts.clone();
    expected.cached_packuments -= skipped.packuments;
    expected.proxied_tarballs -= skipped.tarballs;
    let mut compared = counts.clone();
    // Every blob was checked one by one above (and cache entries without theirs left out).
    compared.blobs = expected.blobs;
    // Entries the registry wrote of its own since it was opened are not the backup's.
    compared.audit_entries = compared.audit_entries.min(expected.audit_entries);
    if compared != expected {
        return Err(RestoreError::Mismatch(format!(
            "the backup holds {} but the registry {}",
            serde_json::to_string(&expected).unwrap_or_default(),
            serde_json::to_string(&counts).unwrap_or_default()
        )));
    }
    Ok(RestoreReport {
        id: manifest.id.clone(),
        created_at: manifest.created_at.clone(),
        counts,
        blobs_restored: seen.len() as u64,
        bytes_restored: bytes,
        cache_entries_skipped: skipped.packuments + skipped.tarballs,
        missing_at_backup: manifest.missing.clone(),
    })
}

/// Cache entries left out because their bytes are not in the backup.
#[derive(Default)]
struct Skipped {
    packuments: u64,
    tarballs: u64,
}

/// Writes the records of the (checked) records file into the store.
async fn write_records(
    parts: &CoreParts,
    records: &Path,
    restored: &HashSet<String>,
    max_record_bytes: u64,
    progress: &dyn Progress,
) -> Result<Skipped, RestoreError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<ExportRecord, String>>(64);
    let path = records.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || {
        let decode = || -> Result<(), String> {
            use std::io::{BufRead, Read};
            let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
            let mut input = std::io::BufReader::new(
                zstd::stream::read::Decoder::new(file).map_err(|e| e.to_string())?,
            );
            let mut line = Vec::new();
            loop {
                line.clear();
                // One record a line, each read under the cap (a hostile archive's endless line
                // stops there rather than filling memory).
                let n = (&mut input)
                    .take(max_record_bytes + 1)
                    .read_until(b'\n', &mut line)
                    .map_err(|e| e.to_string())?;
                if n == 0 {
                    return Ok(());
                }
                if n as u64 > max_record_bytes {
                    return Err(format!(
                        "a record is longer than {max_record_bytes} bytes (4 × limits.max_packument_bytes)"
                    ));
                }
                let record = serde_json::from_slice(&line).map_err(|e| e.to_string())?;
                if tx.blocking_send(Ok(record)).is_err() {
                    return Ok(());
                }
            }
        };
        if let Err(e) = decode() {
            let _ = tx.blocking_send(Err(e));
        }
    });
    progress.stage("writing the records", 0);
    let mut skipped = Skipped::default();
    while let Some(record) = rx.recv().await {
        let record =
            record.map_err(|e| RestoreError::Corrupt(format!("{RECORDS} is unreadable: {e}")))?;
        let cache_without_bytes = record
            .blobs()
            .iter()
            .any(|(key, cache)| *cache && !restored.contains(*key));
        match &record {
            ExportRecord::CachedPackument { packument }
                if cache_without_bytes || (packument.body.is_none() && !packument.missing) =>
            {
                skipped.packuments += 1;
                continue;
            }
            ExportRecord::ProxiedTarball { .. } if cache_without_bytes => {
                skipped.tarballs += 1;
                continue;
            }
            _ => {}
        }
        transfer::import_record(parts.store.as_ref(), record).await?;
        progress.advance(1);
    }
    reader
        .await
        .map_err(|e| RestoreError::Corrupt(format!("reading {RECORDS}: {e}")))?;
    Ok(skipped)
}
