//! `verify`: every blob a record names is read back and hashed, and every record is checked
//! against its blob (an npm version's size, SHA-1 and SHA-512 integrity; a Zig archive's and a
//! proxied tarball's size and integrity; a cached packument body's size). Blobs nothing names
//! are listed as orphans. Nothing is repaired: the report says what is wrong, and the command's
//! exit status whether anything is.

use base64::Engine;
use futures_util::StreamExt;
use sha1::Digest as _;

use crate::blobs::{BlobError, BlobKey};
use crate::core::CoreParts;
use crate::core::references::References;
use crate::store::{BlobOwner, StoreError, StoreResult};

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blobs read back and hashed.
    pub checked: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Blobs whose content does not hash to their key: (key, the content's SHA-256, records).
    pub corrupt: Vec<(String, String, Vec<BlobOwner>)>,
    /// Blobs records name that the blob store does not hold (dangling references).
    pub missing: Vec<(String, Vec<BlobOwner>)>,
    /// Blobs no record names: (key, size).
    pub orphaned: Vec<(BlobKey, u64)>,
    /// Records whose facts disagree with their blob: (record, what disagrees).
    pub mismatched: Vec<(BlobOwner, String)>,
}

impl VerifyReport {
    /// Nothing is missing, corrupt or mismatched (orphans are garbage, not damage, but they
    /// count: `gc` removes them).
    pub fn clean(&self) -> bool {
        self.corrupt.is_empty()
            && self.missing.is_empty()
            && self.orphaned.is_empty()
            && self.mismatched.is_empty()
    }
}

/// The digests of a blob's content.
struct Digests {
    size: u64,
    sha256: String,
    sha1: String,
    sha512: String,
}

async fn digest(parts: &CoreParts, key: &BlobKey) -> Result<Digests, BlobError> {
    let mut reader = parts.blobs.open(key).await?;
    let (mut sha256, mut sha1, mut sha512) =
        (sha2::Sha256::new(), sha1::Sha1::new(), sha2::Sha512::new());
    let mut size = 0u64;
    while let Some(chunk) = reader.content.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        sha256.update(&chunk);
        sha1.update(&chunk);
        sha512.update(&chunk);
    }
    Ok(Digests {
        size,
        sha256: hex::encode(sha256.finalize()),
        sha1: hex::encode(sha1.finalize()),
        sha512: format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(sha512.finalize())
        ),
    })
}

/// Whether `integrity` (`sha512-…` or `sha1-…`, SRI form) describes content with `d`.
fn integrity_matches(integrity: &str, d: &Digests) -> bool {
    if let Some(b64) = integrity.strip_prefix("sha1-") {
        let hex_form = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(hex::encode)
            .unwrap_or_default();
        return hex_form == d.sha1;
    }
    integrity == d.sha512
}

/// What disagrees between `owner`'s record and the blob with digests `d`, if anything.
async fn check_record(
    parts: &CoreParts,
    owner: &BlobOwner,
    d: &Digests,
) -> StoreResult<Option<String>> {
    let store = parts.store.as_ref();
    let size = |expected: u64| {
        (expected != d.size).then(|| format!("size {expected} recorded, {} stored", d.size))
    };
    Ok(match owner {
        BlobOwner::NpmVersion { name, version } => match store.version(name, version).await? {
            None => None,
            Some(v) => size(v.tarball.size)
                .or_else(|| {
                    (v.tarball.sha1 != d.sha1)
                        .then(|| format!("shasum {} recorded, {} stored", v.tarball.sha1, d.sha1))
                })
                .or_else(|| {
                    (!integrity_matches(&v.tarball.integrity, d)).then(|| {
                        format!(
                            "integrity {} does not match the content",
                            v.tarball.integrity
                        )
                    })
                }),
        },
        BlobOwner::ZigVersion { name, version } => match store.zig_version(name, version).await? {
            None => None,
            Some(v) => size(v.size),
        },
        BlobOwner::ProxiedTarball { name, version } => {
            match store.proxied_tarball(name, version).await? {
                None => None,
                Some(t) => size(t.size).or_else(|| {
                    (!integrity_matches(&t.integrity, d))
                        .then(|| format!("integrity {} does not match the content", t.integrity))
                }),
            }
        }
        BlobOwner::CachedPackument { name } => match store.cached_packument(name).await? {
            None => None,
            Some(p) => size(p.body_size),
        },
    })
}

/// Checks every blob and record; `progress` is told how far it got.
pub async fn verify(
    parts: &CoreParts,
    progress: &(dyn Fn(String) + Send + Sync),
) -> StoreResult<VerifyReport> {
    let blob_error = |e: BlobError| StoreError::Backend(e.to_string());
    progress("reading every record's blob references".into());
    let references = References::load(parts.store.as_ref()).await?;
    progress(format!(
        "{} blobs referenced; listing the blob store",
        references.len()
    ));
    let stored = parts.blobs.list().await.map_err(blob_error)?;
    let mut report = VerifyReport::default();
    for (key, size) in &stored {
        if !references.contains(key.as_str()) {
            report.orphaned.push((key.clone(), *size));
        }
    }
    let total = references.len();
    for (done, (key, owners)) in references.iter().enumerate() {
        if done % 100 == 0 {
            progress(format!("hashed {done} of {total} blobs"));
        }
        let Some(parsed) = BlobKey::parse(key) else {
            report.missing.push((key.to_string(), owners.to_vec()));
            continue;
        };
        let digests = match digest(parts, &parsed).await {
            Ok(d) => d,
            Err(BlobError::Missing(_)) => {
                report.missing.push((key.to_string(), owners.to_vec()));
                continue;
            }
            Err(e) => return Err(blob_error(e)),
        };
        report.checked += 1;
        report.bytes += digests.size;
        if digests.sha256 != key {
            tracing::error!(blob = key, actual = %digests.sha256, "integrity error: a blob's content does not hash to its key");
            report
                .corrupt
                .push((key.to_string(), digests.sha256.clone(), owners.to_vec()));
            continue;
        }
        for owner in owners {
            if let Some(why) = check_record(parts, owner, &digests).await? {
                report.mismatched.push((owner.clone(), why));
            }
        }
    }
    for (key, owners) in &report.missing {
        for owner in owners {
            tracing::error!(blob = key, record = %owner, "integrity error: a record names a blob the blob store does not hold");
        }
    }
    progress(format!("hashed {total} of {total} blobs"));
    Ok(report)
}
