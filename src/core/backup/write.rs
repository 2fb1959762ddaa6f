//! Writing a backup archive: the records first (one export of the store, into a scratch file,
//! since the manifest that precedes them gives their hash), then every blob they name.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::StreamExt;
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::framing::{CHUNK, TarWriter};
use super::{
    BLOB_PREFIX, BlobEntry, FORMAT, FORMAT_VERSION, MANIFEST, Manifest, Progress, RECORDS,
    RecordsEntry,
};
use crate::blobs::{BlobError, BlobKey};
use crate::core::CoreParts;
use crate::core::transfer::Counts;
use crate::store::StoreError;
use crate::store::export::ExportRecord;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("blob {key}: {source}")]
    Blob { key: String, source: BlobError },
    /// A blob the records named went away while the backup ran (a `gc` of another instance
    /// after an unpublish, or the fallback's cache evicting it).
    #[error(
        "blob {0} was deleted while the backup ran (by gc or the cache's eviction): run the backup again"
    )]
    Vanished(String),
    #[error("writing the backup: {0}")]
    Io(#[from] std::io::Error),
}

/// How much compressed record data is kept in memory before it goes to the scratch file.
const RECORDS_BUFFER: usize = 1024 * 1024;

/// The records file in the scratch directory, with what went into it.
struct Records {
    file: tempfile::NamedTempFile,
    entry: RecordsEntry,
    /// Every blob key the records name, and whether only the cache names it.
    blobs: BTreeMap<String, bool>,
    consistency: crate::store::export::Consistency,
}

async fn export_records(
    parts: &CoreParts,
    scratch: &Path,
    progress: &dyn Progress,
) -> Result<Records, BackupError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ExportRecord>(256);
    let store = parts.store.clone();
    let export = tokio::spawn(async move { store.export(tx).await });

    let file = tempfile::NamedTempFile::new_in(scratch)?;
    let mut out = tokio::fs::File::from_std(file.reopen()?);
    let mut hasher = sha2::Sha256::new();
    let mut bytes = 0u64;
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3)?;
    let mut counts = Counts::default();
    let mut blobs: BTreeMap<String, bool> = BTreeMap::new();
    progress.stage("reading the records", 0);
    while let Some(record) = rx.recv().await {
        counts.tally(&record);
        for (key, cache) in record.blobs() {
            blobs
                .entry(key.to_string())
                .and_modify(|only_cache| *only_cache &= cache)
                .or_insert(cache);
        }
        serde_json::to_writer(&mut encoder, &record).map_err(std::io::Error::other)?;
        std::io::Write::write_all(&mut encoder, b"\n")?;
        if encoder.get_ref().len() >= RECORDS_BUFFER {
            let full = std::mem::take(encoder.get_mut());
            hasher.update(&full);
            bytes += full.len() as u64;
            out.write_all(&full).await?;
        }
        progress.advance(1);
    }
    let consistency = export
        .await
        .map_err(|e| StoreError::Backend(format!("the export stopped: {e}")))??;
    let rest = encoder.finish()?;
    hasher.update(&rest);
    bytes += rest.len() as u64;
    out.write_all(&rest).await?;
    out.flush().await?;
    counts.blobs = blobs.len() as u64;
    Ok(Records {
        file,
        entry: RecordsEntry {
            bytes,
            sha256: hex::encode(hasher.finalize()),
            counts,
        },
        blobs,
        consistency,
    })
}

/// Writes a backup of everything `parts` holds to `out`; its manifest. `source` names the back
/// ends. Each stage is told to `progress`. `out` is left incomplete when this fails.
pub async fn backup<W: AsyncWrite + Unpin + Send>(
    parts: &CoreParts,
    scratch: &Path,
    source: &str,
    out: W,
    progress: &dyn Progress,
) -> Result<Manifest, BackupError> {
    let records = export_records(parts, scratch, progress).await?;

    progress.stage("looking up the blobs", records.blobs.len() as u64);
    let (mut blobs, mut missing) = (Vec::new(), Vec::new());
    for (key, &cache) in &records.blobs {
        progress.advance(1);
        let Some(parsed) = BlobKey::parse(key) else {
            missing.push(key.clone());
            continue;
        };
        let size = parts
            .blobs
            .head(&parsed)
            .await
            .map_err(|source| BackupError::Blob {
                key: key.clone(),
                source,
            })?;
        match size {
            None => missing.push(key.clone()),
            Some(size) => blobs.push(BlobEntry {
                key: key.clone(),
                size,
                cache,
            }),
        }
    }

    let now = time::OffsetDateTime::now_utc();
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        id: hex::encode(rand::random::<[u8; 12]>()),
        created_at: crate::core::timestamps::iso(now),
        written_by: format!("pantry-registry {}", env!("CARGO_PKG_VERSION")),
        source: source.into(),
        consistency: records.consistency,
        records: records.entry,
        blobs,
        base: None,
        blobs_in_base: Vec::new(),
        missing,
    };

    let mut tar = TarWriter::new(out, now.unix_timestamp().max(0) as u64);
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
    tar.entry(MANIFEST, &manifest_json).await?;

    tar.start_entry(RECORDS, manifest.records.bytes).await?;
    let mut file = tokio::fs::File::open(records.file.path()).await?;
    let mut buf = vec![0u8; CHUNK];
    let mut left = manifest.records.bytes;
    while left > 0 {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        let n = n.min(left as usize);
        tar.content(&buf[..n]).await?;
        left -= n as u64;
    }
    tar.end_entry(manifest.records.bytes).await?;
    drop(records.file);

    progress.stage("copying the blobs", manifest.blobs.len() as u64);
    for entry in &manifest.blobs {
        copy_blob(parts, &mut tar, entry).await?;
        progress.advance(1);
    }
    tar.finish().await?;
    Ok(manifest)
}

async fn copy_blob<W: AsyncWrite + Unpin>(
    parts: &CoreParts,
    tar: &mut TarWriter<W>,
    entry: &BlobEntry,
) -> Result<(), BackupError> {
    let blob_error = |source| BackupError::Blob {
        key: entry.key.clone(),
        source,
    };
    let key = BlobKey::parse(&entry.key).expect("keys were parsed before");
    let mut reader = match parts.blobs.open(&key).await {
        Ok(reader) => reader,
        Err(BlobError::Missing(_)) => return Err(BackupError::Vanished(entry.key.clone())),
        Err(e) => return Err(blob_error(e)),
    };
    tar.start_entry(&format!("{BLOB_PREFIX}{}", entry.key), entry.size)
        .await?;
    let mut written = 0u64;
    while let Some(chunk) = reader.content.next().await {
        let chunk = chunk.map_err(blob_error)?;
        written += chunk.len() as u64;
        if written > entry.size {
            break;
        }
        tar.content(&chunk).await?;
    }
    if written != entry.size {
        // Content-addressed blobs do not change size; one that did is damaged.
        return Err(blob_error(BlobError::Io(std::io::Error::other(format!(
            "read {written} bytes of a blob of {}",
            entry.size
        )))));
    }
    tar.end_entry(entry.size).await?;
    Ok(())
}
