//! Many tarballs in one answer: an uncompressed ustar archive holding `manifest.json` and
//! `packages/<file>.tgz` for every package asked for, the tarballs' bytes exactly as stored.
//!
//! Everything that can fail is checked before the first byte goes out ([`plan_batch`]): the
//! count and byte caps, that every tarball URL is this registry's or its upstream's (nothing is
//! ever fetched from a URL a client names: the URL only says which package it means), that
//! every package exists and may be read, that an integrity the client expects is the one
//! here, and that every upstream tarball is in the cache. Each tarball counts as one download
//! once all of its bytes are written.

use std::collections::HashSet;
use std::sync::Arc;

use base64::Engine;
use futures_util::StreamExt;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use tokio::io::AsyncWrite;

use crate::blobs::BlobKey;
use crate::core::Core;
use crate::core::access::Reader;
use crate::core::backup::framing::TarWriter;
use crate::core::names::PackageName;
use crate::core::proxy::{ProxyError, TarballSource};
use crate::core::resolve::{self, ResolveError, ResolvedTarball};
use crate::store::StoreError;

/// One package a client asks for.
#[derive(Debug, Clone)]
pub struct BatchItem {
    pub name: String,
    pub version: String,
    /// Where the client was told the tarball is (this registry's or its upstream's URL).
    pub tarball: Option<String>,
    /// The integrity the client expects (`sha512-…`, or a SHA-256 in hex).
    pub integrity: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_packages: usize,
    pub max_bytes: u64,
    pub concurrency: usize,
}

/// Why a batch is refused; nothing has been sent.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("packages[{index}]: {why}")]
    BadItem { index: usize, why: String },
    #[error(
        "{count} packages asked for; at most {max} fit in one download (install.max_batch_packages)"
    )]
    TooMany { count: usize, max: usize },
    #[error(
        "the tarballs asked for come to more than {max} bytes (install.max_batch_bytes); ask for fewer at a time"
    )]
    TooLarge { max: u64 },
    #[error(
        "packages[{index}]: {url:?} is not a tarball URL of this registry or its upstream; tarballs are only served from here, never fetched from a URL a client names"
    )]
    NotOurs { index: usize, url: String },
    #[error("packages[{index}]: the tarball URL {url:?} is {named}, not {name}@{version}")]
    UrlMismatch {
        index: usize,
        url: String,
        named: String,
        name: String,
        version: String,
    },
    #[error("no such package version: {name}@{version}")]
    NotFound { name: String, version: String },
    #[error("the tarball of {name}@{version} here has integrity {ours}, not {theirs}")]
    IntegrityDiffers {
        name: String,
        version: String,
        ours: String,
        theirs: String,
    },
    #[error("{0}")]
    SignInRequired(String),
    #[error("the npm fallback could not supply {name}@{version}: {why}")]
    Unavailable {
        name: String,
        version: String,
        why: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One archive entry, ready to be written.
#[derive(Debug, Clone)]
pub struct PlannedEntry {
    pub name: String,
    pub version: String,
    /// The URL the manifest names: the one asked with, else this registry's.
    pub tarball: String,
    /// The entry's name under `packages/`.
    pub file: String,
    pub integrity: String,
    pub size: u64,
    blob: String,
}

/// Everything to send, checked.
#[derive(Debug)]
pub struct BatchPlan {
    pub entries: Vec<PlannedEntry>,
    /// Who asked, for the downloads the archive counts.
    client: Option<std::net::IpAddr>,
}

/// The part of a tarball URL after a base, if `url` starts with `base` and a `/`.
fn after_base<'a>(url: &'a str, base: &str) -> Option<&'a str> {
    let base = base.trim_end_matches('/');
    let head = url.get(..base.len())?;
    head.eq_ignore_ascii_case(base)
        .then(|| &url[base.len()..])
        .filter(|rest| rest.starts_with('/'))
}

/// The package and version a registry tarball path names: `/{name}/-/{bare}-{version}.tgz`
/// (npm's form) or `/packages/{name}/{version}/tarball` (the Pantry API's).
fn named_by(path: &str, npm_prefix: &str) -> Option<(String, String)> {
    let decoded = percent_decode_str(path).decode_utf8().ok()?;
    if let Some(rest) = decoded.strip_prefix(npm_prefix) {
        let (name, file) = rest.rsplit_once("/-/")?;
        let name = name.trim_start_matches('/');
        let bare = name.rsplit('/').next()?;
        let version = file
            .strip_prefix(bare)?
            .strip_prefix('-')?
            .strip_suffix(".tgz")?;
        return Some((name.to_string(), version.to_string()));
    }
    let rest = decoded
        .strip_prefix("/packages/")?
        .strip_suffix("/tarball")?;
    let (name, version) = rest.rsplit_once('/')?;
    Some((name.to_string(), version.to_string()))
}

/// Which package `url` names, if it is a tarball URL of this registry or its upstream.
fn tarball_target(core: &Core, url: &str) -> Option<(String, String)> {
    if url.contains(['?', '#']) {
        return None;
    }
    for base in [core.url_base(), core.public_url.clone()] {
        if let Some(path) = after_base(url, &base) {
            return named_by(path, "/npm");
        }
    }
    let upstream = core.settings.npm.upstream.trim_end_matches('/');
    after_base(url, upstream).and_then(|path| named_by(path, ""))
}

/// The SRI tokens (`algo-base64`) of an integrity value; a 64-digit hex value is a SHA-256.
fn sri_tokens(integrity: &str) -> Vec<String> {
    integrity
        .split_whitespace()
        .map(|t| {
            if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
                let bytes = hex::decode(t.to_ascii_lowercase()).unwrap_or_default();
                format!(
                    "sha256-{}",
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                )
            } else {
                t.split('?').next().unwrap_or(t).to_string()
            }
        })
        .collect()
}

/// Whether an integrity the client expects contradicts the tarball here: they share an
/// algorithm and agree on none of its digests.
fn contradicts(ours: &[String], theirs: &str) -> bool {
    let algo = |t: &str| t.split_once('-').map(|(a, _)| a.to_string());
    let theirs = sri_tokens(theirs);
    let shared: Vec<&String> = theirs
        .iter()
        .filter(|t| ours.iter().any(|o| algo(o) == algo(t)))
        .collect();
    !shared.is_empty() && !shared.iter().any(|t| ours.contains(t))
}

/// What the archive needs of one tarball: size, integrity, every digest known, blob key.
struct Located {
    size: u64,
    integrity: String,
    digests: Vec<String>,
    blob: String,
}

async fn locate(
    core: &Core,
    reader: &Reader,
    name: &PackageName,
    version: &str,
) -> Result<Located, BatchError> {
    let not_found = || BatchError::NotFound {
        name: name.to_string(),
        version: version.to_string(),
    };
    let unavailable = |why: String| BatchError::Unavailable {
        name: name.to_string(),
        version: version.to_string(),
        why,
    };
    match resolve::tarball(core, reader, name, version).await {
        Ok(ResolvedTarball::Local(record)) => {
            let t = &record.tarball;
            let mut digests = sri_tokens(&t.integrity);
            digests.extend(sri_tokens(&t.sha256));
            digests.extend(super::sha1_sri(&t.sha1));
            Ok(Located {
                size: t.size,
                integrity: t.integrity.clone(),
                digests,
                blob: t.sha256.clone(),
            })
        }
        Ok(ResolvedTarball::Proxied { source, .. }) => {
            // An upstream tarball not cached yet comes in now, and is stored once whole.
            if let TarballSource::Streaming { mut chunks, .. } = source {
                while let Some(chunk) = chunks.recv().await {
                    chunk.map_err(|e| unavailable(e.to_string()))?;
                }
            }
            let stored = core
                .store
                .proxied_tarball(name.as_str(), version)
                .await?
                .ok_or_else(|| unavailable("the tarball could not be kept".into()))?;
            let mut digests = sri_tokens(&stored.integrity);
            digests.extend(sri_tokens(&stored.sha256));
            Ok(Located {
                size: stored.size,
                integrity: stored.integrity,
                digests,
                blob: stored.sha256,
            })
        }
        Err(
            ResolveError::NoSuchPackage
            | ResolveError::NoSuchVersion
            | ResolveError::Proxy(ProxyError::NotFound),
        ) => Err(not_found()),
        Err(ResolveError::SignInRequired(why)) => Err(BatchError::SignInRequired(why)),
        Err(ResolveError::Store(e)) => Err(BatchError::Store(e)),
        Err(ResolveError::Proxy(e)) => Err(unavailable(e.to_string())),
    }
}

/// The entry name of `name@version` under `packages/`, the way `npm pack` names a tarball
/// (`@scope/name` → `scope-name-1.0.0.tgz`), unique in the archive and within ustar's limit.
fn file_name(name: &str, version: &str, blob: &str, taken: &mut HashSet<String>) -> String {
    const MAX: usize = 100 - "packages/".len();
    let plain = format!(
        "{}-{version}.tgz",
        name.trim_start_matches('@').replace('/', "-")
    );
    let safe = plain.len() <= MAX
        && plain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~+".contains(c));
    let mut file = if safe {
        plain
    } else {
        format!("{}.tgz", &blob[..blob.len().min(40)])
    };
    let mut n = 1;
    while !taken.insert(file.clone()) {
        n += 1;
        file = format!("{n}-{}.tgz", &blob[..blob.len().min(40)]);
    }
    file
}

/// Checks a batch and everything it needs, as `reader` may read; nothing is sent yet.
pub async fn plan_batch(
    core: &Core,
    reader: &Reader,
    items: &[BatchItem],
    limits: BatchLimits,
) -> Result<BatchPlan, BatchError> {
    if items.len() > limits.max_packages {
        return Err(BatchError::TooMany {
            count: items.len(),
            max: limits.max_packages,
        });
    }
    // Shape and URLs first: a refusal costs no lookup.
    let mut wanted: Vec<(usize, PackageName, String, &BatchItem)> = Vec::new();
    let mut seen = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let bad = |why: String| BatchError::BadItem { index, why };
        let name = PackageName::parse_legacy(&item.name, core.settings.limits.max_name_length)
            .map_err(|e| bad(format!("invalid package name {:?}: {e}", item.name)))?;
        crate::core::names::parse_version(&item.version)
            .map_err(|e| bad(format!("invalid version {:?}: {e}", item.version)))?;
        if let Some(url) = item.tarball.as_deref().filter(|u| !u.is_empty()) {
            let Some((named, version)) = tarball_target(core, url) else {
                return Err(BatchError::NotOurs {
                    index,
                    url: url.to_string(),
                });
            };
            if named != item.name || version != item.version {
                return Err(BatchError::UrlMismatch {
                    index,
                    url: url.to_string(),
                    named: format!("{named}@{version}"),
                    name: item.name.clone(),
                    version: item.version.clone(),
                });
            }
        }
        if seen.insert((item.name.clone(), item.version.clone())) {
            wanted.push((index, name, item.version.clone(), item));
        }
    }
    let lookups: Vec<_> = wanted
        .iter()
        .map(|(_, name, version, _)| Box::pin(locate(core, reader, name, version)))
        .collect();
    let mut located = futures_util::stream::iter(lookups).buffered(limits.concurrency.max(1));
    let mut entries = Vec::with_capacity(wanted.len());
    let mut total = 0u64;
    let mut taken = HashSet::new();
    for (_, name, version, item) in &wanted {
        let found = located.next().await.expect("one answer per package")?;
        if let Some(theirs) = item.integrity.as_deref().filter(|i| !i.trim().is_empty())
            && contradicts(&found.digests, theirs)
        {
            return Err(BatchError::IntegrityDiffers {
                name: name.to_string(),
                version: version.clone(),
                ours: found.integrity,
                theirs: theirs.to_string(),
            });
        }
        total = total.saturating_add(found.size);
        if total > limits.max_bytes {
            return Err(BatchError::TooLarge {
                max: limits.max_bytes,
            });
        }
        entries.push(PlannedEntry {
            name: name.to_string(),
            version: version.clone(),
            tarball: item
                .tarball
                .clone()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| crate::core::tarball_url(core, name.as_str(), version)),
            file: file_name(name.as_str(), version, &found.blob, &mut taken),
            integrity: found.integrity,
            size: found.size,
            blob: found.blob,
        });
    }
    Ok(BatchPlan {
        entries,
        client: crate::core::client_address(),
    })
}

impl BatchPlan {
    /// `manifest.json`: `{"packages":[{name, version, tarball, file, integrity, size}]}`, `file`
    /// being the entry's path in the archive.
    pub fn manifest(&self) -> Value {
        json!({
            "packages": self.entries.iter().map(|e| json!({
                "name": e.name,
                "version": e.version,
                "tarball": e.tarball,
                "file": format!("packages/{}", e.file),
                "integrity": e.integrity,
                "size": e.size,
            })).collect::<Vec<_>>()
        })
    }

    /// Writes the archive to `out`: `manifest.json`, then every tarball as stored, each
    /// counted as a download once all of its bytes are written.
    pub async fn write<W: AsyncWrite + Unpin>(
        self,
        core: &Arc<Core>,
        out: W,
    ) -> Result<(), String> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        let mut tar = TarWriter::new(out, now);
        let manifest = serde_json::to_vec_pretty(&self.manifest()).expect("JSON serializes");
        tar.entry("manifest.json", &manifest)
            .await
            .map_err(|e| e.to_string())?;
        let client = self.client;
        for entry in self.entries {
            let key = BlobKey::parse(&entry.blob)
                .ok_or_else(|| format!("{} is not a blob key", entry.blob))?;
            let blob = core.blobs.open(&key).await.map_err(|e| e.to_string())?;
            if blob.size != entry.size {
                return Err(format!(
                    "the blob of {}@{} is {} bytes, its record says {}",
                    entry.name, entry.version, blob.size, entry.size
                ));
            }
            tar.start_entry(&format!("packages/{}", entry.file), entry.size)
                .await
                .map_err(|e| e.to_string())?;
            let mut content = blob.content;
            let mut sent = 0u64;
            while let Some(chunk) = content.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                sent += chunk.len() as u64;
                if sent > entry.size {
                    return Err(format!("the blob of {}@{} grew", entry.name, entry.version));
                }
                tar.content(&chunk).await.map_err(|e| e.to_string())?;
            }
            if sent != entry.size {
                return Err(format!(
                    "the blob of {}@{} ended after {sent} of {} bytes",
                    entry.name, entry.version, entry.size
                ));
            }
            tar.end_entry(entry.size).await.map_err(|e| e.to_string())?;
            core.downloads
                .record_by(client, &entry.name, &entry.version);
        }
        tar.finish().await.map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tarball_paths_name_their_package() {
        let n = |p: &str| named_by(p, "/npm");
        assert_eq!(
            n("/npm/left-pad/-/left-pad-1.3.0.tgz"),
            Some(("left-pad".into(), "1.3.0".into()))
        );
        assert_eq!(
            n("/npm/@s/n/-/n-1.0.0-beta.1.tgz"),
            Some(("@s/n".into(), "1.0.0-beta.1".into()))
        );
        assert_eq!(
            n("/npm/@s%2fn/-/n-2.0.0.tgz"),
            Some(("@s/n".into(), "2.0.0".into()))
        );
        assert_eq!(
            n("/packages/@s/n/1.0.0/tarball"),
            Some(("@s/n".into(), "1.0.0".into()))
        );
        assert_eq!(n("/npm/a/-/b-1.0.0.tgz"), None);
        assert_eq!(n("/other/a/-/a-1.0.0.tgz"), None);
        assert_eq!(
            named_by("/a/-/a-1.0.0.tgz", ""),
            Some(("a".into(), "1.0.0".into()))
        );
    }

    #[test]
    fn bases_match_whole_origins_only() {
        assert_eq!(after_base("http://h:1/npm/x", "http://h:1"), Some("/npm/x"));
        assert_eq!(
            after_base("HTTP://H:1/npm/x", "http://h:1/"),
            Some("/npm/x")
        );
        assert_eq!(after_base("http://h:12/npm/x", "http://h:1"), None);
        assert_eq!(after_base("http://h:1.evil/x", "http://h:1"), None);
        assert_eq!(after_base("http://h", "http://h"), None);
    }

    #[test]
    fn integrity_contradiction_needs_a_shared_algorithm() {
        let ours = sri_tokens("sha512-AAAA sha1-BBBB");
        assert!(!contradicts(&ours, "sha512-AAAA"));
        assert!(contradicts(&ours, "sha512-CCCC"));
        assert!(!contradicts(&ours, "sha256-DDDD"));
        assert!(!contradicts(&ours, "sha1-BBBB"));
        let hex = "ab".repeat(32);
        let ours = sri_tokens(&hex);
        assert!(!contradicts(&ours, &hex.to_uppercase()));
        assert!(contradicts(&ours, &"cd".repeat(32)));
    }

    #[test]
    fn file_names_are_unique_and_short() {
        let mut taken = HashSet::new();
        let blob = "f".repeat(64);
        assert_eq!(
            file_name("@s/n", "1.0.0", &blob, &mut taken),
            "s-n-1.0.0.tgz"
        );
        assert_eq!(
            file_name("s-n", "1.0.0", &blob, &mut taken),
            format!("2-{}.tgz", &blob[..40])
        );
        let long = "x".repeat(200);
        assert!(file_name(&long, "1.0.0", &blob, &mut taken).len() <= 91);
    }
}
