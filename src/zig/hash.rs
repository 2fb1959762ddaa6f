//! The Zig package hash, computed exactly as `zig fetch` computes it (0.14 to 0.17), and the
//! legacy `1220…` multihash of the same digest (0.11 to 0.13).
//!
//! What zig does, and therefore what this does (see `shared/reference/zig-hash.md`):
//! 1. Unpack the archive (tar, tar.gz, tar.xz, tar.zst or zip) in memory, with zig's path
//!    rules: `.` and empty components dropped, `..` popping one, an escape or absolute path an
//!    error; only regular files, directories and symlinks allowed in a tar.
//! 2. Strip the single top-level directory when every entry shares one.
//! 3. Read `build.zig.zon` at the package root (a package without one is "naked": `N`, `V`).
//! 4. Keep the files that `paths` includes (whole path components; `""`/`.` means all).
//! 5. Hash each kept file as `SHA-256(path ‖ 0 ‖ 0 ‖ bytes)` and each symlink as
//!    `SHA-256(path ‖ target)`, sort by path bytes, and hash the concatenation.
//! 6. Encode `name-version-base64url(id ‖ size ‖ digest[..25])`, and `1220` + hex(digest).

use std::collections::BTreeMap;
use std::io::{self, Read};

use base64::Engine;
use sha2::{Digest, Sha256};

use super::zon::{self, Manifest};

/// The archive formats zig unpacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Tar,
    TarGz,
    TarXz,
    TarZst,
    Zip,
}

impl ArchiveKind {
    /// Recognises an archive by its first bytes; anything else that looks like a tar is a tar.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Some(Self::TarGz)
        } else if bytes.starts_with(b"\xfd7zXZ\x00") {
            Some(Self::TarXz)
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Self::TarZst)
        } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            Some(Self::Zip)
        } else if bytes.len() >= 512 && &bytes[257..262] == b"ustar" {
            Some(Self::Tar)
        } else if bytes.len() >= 512 && bytes.len().is_multiple_of(512) {
            // Old v7 tars have no magic; a header checksum check would be the next step.
            Some(Self::Tar)
        } else {
            None
        }
    }

    /// The file extension zig recognises for this format.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Tar => "tar",
            Self::TarGz => "tar.gz",
            Self::TarXz => "tar.xz",
            Self::TarZst => "tar.zst",
            Self::Zip => "zip",
        }
    }

    /// The `Content-Type` every zig version from 0.12 (0.13 for zip) maps to this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Tar => "application/x-tar",
            Self::TarGz => "application/gzip",
            Self::TarXz => "application/x-xz",
            Self::TarZst => "application/zstd",
            Self::Zip => "application/zip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZigError {
    #[error("not an archive zig can unpack (tar, tar.gz, tar.xz, tar.zst or zip)")]
    NotAnArchive,
    #[error("the archive is corrupt or truncated: {0}")]
    Corrupt(String),
    #[error("path escapes the package: {0:?}")]
    Escape(String),
    #[error("duplicate path in the archive: {0:?}")]
    Duplicate(String),
    #[error("unsupported tar entry type for {0:?} (only files, directories and symlinks)")]
    Unsupported(String),
    #[error("the archive unpacks to more than {0} bytes")]
    TooLarge(u64),
    #[error("the archive has more than {0} entries")]
    TooManyEntries(u64),
    /// Another limit of [`crate::archive`]: an extended header, decoder memory.
    #[error(transparent)]
    Limit(crate::archive::Exceeded),
    #[error(transparent)]
    Manifest(#[from] zon::ZonError),
    #[error("build.zig.zon is not valid UTF-8")]
    ManifestEncoding,
    #[error("missing top-level 'paths' field")]
    MissingPaths,
}

/// Bounds on what an upload may unpack to.
pub type UnpackLimits = crate::archive::Limits;

/// A file or symlink of the unpacked package, by its stripped path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File(Vec<u8>),
    Symlink(Vec<u8>),
}

/// An archive unpacked in memory the way zig unpacks it.
#[derive(Debug, Clone, Default)]
pub struct Unpacked {
    /// Stripped path -> file or symlink. Directories are not kept (they never count).
    pub entries: BTreeMap<String, Entry>,
    /// The stripped top-level directory (empty when none was stripped).
    pub root: String,
    /// Stripped paths of tar entries zig cannot unpack; an error only if `paths` includes one.
    pub unsupported: Vec<String>,
    /// Some entry name carries `./` or empty components (`tar -C dir .` output): zig 0.14 and
    /// 0.15 fail to unpack such archives, though the hash is the same.
    pub trips_old_zig: bool,
}

/// zig's path sanitising: drop empty and `.` components, let `..` pop one. `None` when the
/// path is absolute or escapes the root.
pub fn sanitize(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// Tracks zig's "single top-level directory" rule while entries are read.
#[derive(Default)]
struct RootTracker {
    seen: bool,
    root: String,
}

impl RootTracker {
    fn see(&mut self, path: &str, is_dir: bool) {
        if path.is_empty() {
            return;
        }
        let candidate = match path.split_once('/') {
            Some((first, _)) => first,
            None if is_dir => path,
            None => "",
        };
        if !self.seen {
            self.seen = true;
            self.root = candidate.to_string();
        } else if !self.root.is_empty() && candidate != self.root {
            self.root.clear();
        }
    }
}

fn strip<'a>(path: &'a str, root: &str) -> &'a str {
    if !root.is_empty()
        && let Some(rest) = path.strip_prefix(root)
        && let Some(rest) = rest.strip_prefix('/')
    {
        return rest;
    }
    path
}

/// The error for a failed read of the archive: the limit it hit, or corruption.
fn read_error(e: io::Error) -> ZigError {
    match crate::archive::exceeded(&e) {
        Some(crate::archive::Exceeded::Unpacked(n)) => ZigError::TooLarge(n),
        Some(crate::archive::Exceeded::Entries(n)) => ZigError::TooManyEntries(n),
        Some(crate::archive::Exceeded::Sparse) => {
            ZigError::Unsupported("a GNU sparse or multi-volume entry".into())
        }
        Some(other) => ZigError::Limit(other),
        None => ZigError::Corrupt(e.to_string()),
    }
}

struct Budget {
    limits: UnpackLimits,
    entries: u64,
    bytes: u64,
}

impl Budget {
    fn entry(&mut self) -> Result<(), ZigError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ZigError::TooManyEntries(self.limits.max_entries));
        }
        Ok(())
    }

    fn bytes(&mut self, n: u64) -> Result<(), ZigError> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.limits.max_unpacked_bytes {
            return Err(ZigError::TooLarge(self.limits.max_unpacked_bytes));
        }
        Ok(())
    }
}

/// Unpacks an archive of `kind` the way zig does, within `limits`.
pub fn unpack(bytes: &[u8], kind: ArchiveKind, limits: UnpackLimits) -> Result<Unpacked, ZigError> {
    use crate::archive::Codec;
    let codec = match kind {
        ArchiveKind::Tar | ArchiveKind::Zip => Codec::None,
        ArchiveKind::TarGz => Codec::Gzip,
        ArchiveKind::TarXz => Codec::Xz,
        ArchiveKind::TarZst => Codec::Zstd,
    };
    let mut budget = Budget {
        limits,
        entries: 0,
        bytes: 0,
    };
    let mut raw: Vec<(String, Entry)> = Vec::new();
    let mut unsupported_raw = Vec::new();
    let mut root = RootTracker::default();
    let mut trips_old_zig = false;
    if kind == ArchiveKind::Zip {
        let mut zip = zip::ZipArchive::new(io::Cursor::new(bytes))
            .map_err(|e| ZigError::Corrupt(e.to_string()))?;
        let mut first = true;
        for i in 0..zip.len() {
            budget.entry()?;
            let mut file = zip
                .by_index(i)
                .map_err(|e| ZigError::Corrupt(e.to_string()))?;
            let name = file
                .name()
                .map_err(|e| ZigError::Corrupt(e.to_string()))?
                .replace('\\', "/");
            if name.starts_with('/') || name.split('/').any(|c| c == "..") {
                return Err(ZigError::Escape(name));
            }
            let is_dir = name.ends_with('/');
            if first {
                first = false;
                root.seen = true;
                root.root = name
                    .split_once('/')
                    .map(|(r, _)| r.to_string())
                    .unwrap_or_default();
            } else if !root.root.is_empty() && !name.starts_with(&format!("{}/", root.root)) {
                root.root.clear();
            }
            if is_dir {
                continue;
            }
            let declared = file.size();
            budget.bytes(declared)?;
            // Never more than the entry declares: an entry that inflates past its stated size
            // is corrupt, and is not read on.
            let mut content = Vec::with_capacity(declared.min(1 << 20) as usize);
            (&mut file)
                .take(declared.saturating_add(1))
                .read_to_end(&mut content)
                .map_err(|e| ZigError::Corrupt(e.to_string()))?;
            if content.len() as u64 > declared {
                return Err(ZigError::Corrupt(format!(
                    "{name} inflates past its declared size"
                )));
            }
            raw.push((name, Entry::File(content)));
        }
    } else {
        // Streamed: decompressed as read, each header checked before the tar reader acts on it.
        let decoded = crate::archive::decoder(bytes, codec, &limits).map_err(read_error)?;
        let mut archive = tar::Archive::new(crate::archive::TarGuard::new(decoded, limits));
        let entries = archive.entries().map_err(read_error)?;
        for entry in entries {
            let mut entry = entry.map_err(read_error)?;
            let kind = entry.header().entry_type();
            if kind == tar::EntryType::XGlobalHeader {
                continue;
            }
            budget.entry()?;
            let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            trips_old_zig |= raw_path
                .trim_end_matches('/')
                .split('/')
                .any(|c| c.is_empty() || c == ".");
            let is_dir = kind == tar::EntryType::Directory;
            let is_file = kind == tar::EntryType::Regular;
            let is_link = kind == tar::EntryType::Symlink;
            if !(is_dir || is_file || is_link) {
                unsupported_raw.push(sanitize(&raw_path).unwrap_or(raw_path));
                continue;
            }
            let path = sanitize(&raw_path).ok_or_else(|| ZigError::Escape(raw_path.clone()))?;
            if path.is_empty() && !is_dir {
                return Err(ZigError::Escape(raw_path));
            }
            root.see(&path, is_dir);
            if is_dir {
                continue;
            }
            if is_file {
                budget.bytes(entry.size())?;
                let mut content = Vec::with_capacity(entry.size().min(1 << 20) as usize);
                entry.read_to_end(&mut content).map_err(read_error)?;
                raw.push((path, Entry::File(content)));
            } else {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                raw.push((path, Entry::Symlink(target)));
            }
        }
        // Read to the end of the compressed stream (bounded), so a truncated or damaged one is
        // caught as the whole-buffer decompression caught it.
        io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(read_error)?;
    }
    let root = root.root;
    let mut entries = BTreeMap::new();
    for (path, entry) in raw {
        let rel = strip(&path, &root).to_string();
        if entries.insert(rel.clone(), entry).is_some() {
            return Err(ZigError::Duplicate(rel));
        }
    }
    let unsupported = unsupported_raw
        .iter()
        .map(|p| strip(p, &root).to_string())
        .collect();
    Ok(Unpacked {
        entries,
        root,
        unsupported,
        trips_old_zig,
    })
}

/// A canonical `.tar.gz` of an unpacked package: every entry under `<top>/`, no `./` prefixes,
/// regular files and symlinks only, one gzip member. zig hashes it exactly as the original.
pub fn repack(unpacked: &Unpacked, top: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in &unpacked.entries {
        let full = format!("{top}/{path}");
        let mut header = tar::Header::new_gnu();
        match entry {
            Entry::File(data) => {
                header.set_size(data.len() as u64);
                header.set_mode(0o644);
                header.set_cksum();
                builder
                    .append_data(&mut header, &full, data.as_slice())
                    .expect("writing a tar to memory");
            }
            Entry::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                let target = String::from_utf8_lossy(target).into_owned();
                builder
                    .append_link(&mut header, &full, target)
                    .expect("writing a tar to memory");
            }
        }
    }
    let tar = builder.into_inner().expect("writing a tar to memory");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    io::Write::write_all(&mut gz, &tar).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

/// Whether `paths` (already normalised) includes `rel`: whole path components.
pub fn included(paths: Option<&[String]>, rel: &str) -> bool {
    let Some(paths) = paths else { return true };
    if paths.iter().any(|p| p.is_empty() || p == "." || p == rel) {
        return true;
    }
    let mut dir = rel;
    while let Some((parent, _)) = dir.rsplit_once('/') {
        if paths.iter().any(|p| p == parent) {
            return true;
        }
        dir = parent;
    }
    false
}

/// The result of hashing a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageHash {
    /// `name-version-<44 base64url>` (what zig 0.14+ writes), `N-V-…` for a naked package.
    pub hash: String,
    /// `1220` + hex of the digest (what zig 0.11–0.13 write).
    pub legacy: String,
    pub digest: [u8; 32],
    /// Bytes of the hashed regular files (symlinks count 0).
    pub total_size: u64,
    pub package_id: u32,
    /// Files and symlinks hashed.
    pub file_count: usize,
}

/// The package id zig gives a package without build.zig.zon.
pub const NAKED_ID: u32 = 0xffff;

/// Hashes an unpacked package as zig would for `name`/`version`/`id` and `paths`.
pub fn hash_unpacked(
    unpacked: &Unpacked,
    name_version: Option<(&str, &str)>,
    package_id: u32,
    paths: Option<&[String]>,
) -> Result<PackageHash, ZigError> {
    if let Some(bad) = unpacked.unsupported.iter().find(|p| included(paths, p)) {
        return Err(ZigError::Unsupported(bad.clone()));
    }
    let mut hashed: Vec<(&str, [u8; 32])> = Vec::new();
    let mut total: u64 = 0;
    for (rel, entry) in &unpacked.entries {
        if !included(paths, rel) {
            continue;
        }
        let mut h = Sha256::new();
        h.update(rel.as_bytes());
        match entry {
            Entry::File(data) => {
                h.update([0u8, 0u8]);
                h.update(data);
                total += data.len() as u64;
            }
            Entry::Symlink(target) => h.update(target),
        }
        hashed.push((rel.as_str(), h.finalize().into()));
    }
    // BTreeMap order is already byte order of the paths.
    let mut outer = Sha256::new();
    for (_, h) in &hashed {
        outer.update(h);
    }
    let digest: [u8; 32] = outer.finalize().into();
    let size32 = total.min(u32::MAX as u64) as u32;
    let mut plus = Vec::with_capacity(33);
    plus.extend_from_slice(&package_id.to_le_bytes());
    plus.extend_from_slice(&size32.to_le_bytes());
    plus.extend_from_slice(&digest[..25]);
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&plus);
    let (name, version) = name_version.unwrap_or(("N", "V"));
    Ok(PackageHash {
        hash: format!("{name}-{version}-{encoded}"),
        legacy: format!("1220{}", hex::encode(digest)),
        digest,
        total_size: total,
        package_id,
        file_count: hashed.len(),
    })
}

/// A package read from an archive: its manifest (if any) and its hash.
#[derive(Debug, Clone)]
pub struct HashedPackage {
    pub kind: ArchiveKind,
    pub manifest: Option<Manifest>,
    pub unpacked: Unpacked,
    pub hash: PackageHash,
}

/// Unpacks and hashes an archive as `zig fetch <url>` would. With `as_dependency`, a missing
/// `paths` means everything (as when the package is fetched from another build.zig.zon);
/// otherwise it is an error, as on zig's command line.
pub fn hash_archive(
    bytes: &[u8],
    limits: UnpackLimits,
    as_dependency: bool,
) -> Result<HashedPackage, ZigError> {
    let kind = ArchiveKind::detect(bytes).ok_or(ZigError::NotAnArchive)?;
    let unpacked = unpack(bytes, kind, limits)?;
    let manifest = match unpacked.entries.get("build.zig.zon") {
        Some(Entry::File(text)) => {
            let text = std::str::from_utf8(text).map_err(|_| ZigError::ManifestEncoding)?;
            Some(zon::parse_manifest(text)?)
        }
        _ => None,
    };
    let hash = match &manifest {
        Some(m) => {
            let paths = match (&m.paths, as_dependency) {
                (Some(p), _) => Some(p.as_slice()),
                (None, true) => None,
                (None, false) => return Err(ZigError::MissingPaths),
            };
            hash_unpacked(
                &unpacked,
                Some((&m.name, &m.version)),
                m.package_id(),
                paths,
            )?
        }
        None => hash_unpacked(&unpacked, None, NAKED_ID, None)?,
    };
    Ok(HashedPackage {
        kind,
        manifest,
        unpacked,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zig-vectors");

    fn limits() -> UnpackLimits {
        UnpackLimits {
            max_unpacked_bytes: 64 << 20,
            max_entries: 10_000,
            max_header_bytes: 65_536,
        }
    }

    #[test]
    fn paths_match_whole_components() {
        let p = vec!["src".to_string(), "build.zig".to_string()];
        assert!(included(Some(&p), "src/a.zig"));
        assert!(included(Some(&p), "src/deep/b.zig"));
        assert!(included(Some(&p), "build.zig"));
        assert!(!included(Some(&p), "srcx/a.zig"));
        assert!(!included(Some(&p), "README.md"));
        assert!(included(Some(&[".".to_string()]), "anything/at/all"));
    }

    #[test]
    fn sanitising_follows_zig() {
        assert_eq!(sanitize("./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(sanitize("a/../b").as_deref(), Some("b"));
        assert_eq!(sanitize("../x"), None);
        assert_eq!(sanitize("/etc/passwd"), None);
        assert_eq!(sanitize("./").as_deref(), Some(""));
    }

    #[test]
    fn every_public_vector_hashes_as_zig_printed() {
        let vectors: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(format!("{VECTORS}/vectors.json")).unwrap(),
        )
        .unwrap();
        assert!(vectors.len() >= 19);
        for v in &vectors {
            let file = v["file"].as_str().unwrap();
            let bytes = std::fs::read(format!("{VECTORS}/{file}")).unwrap();
            let cli = hash_archive(&bytes, limits(), false);
            let dep = hash_archive(&bytes, limits(), true);
            match v["hash"].as_str() {
                Some(expected) => {
                    let got = cli.unwrap_or_else(|e| panic!("{file}: {e}"));
                    assert_eq!(got.hash.hash, expected, "{file}");
                    assert_eq!(
                        Some(got.hash.legacy.as_str()),
                        v["legacy_multihash"].as_str(),
                        "{file}"
                    );
                    assert_eq!(
                        got.hash.total_size,
                        v["total_size"].as_u64().unwrap(),
                        "{file}"
                    );
                    assert_eq!(
                        got.unpacked.root,
                        v["stripped_root_dir"].as_str().unwrap_or(""),
                        "{file}"
                    );
                }
                None => {
                    let expected_error = v["expect_error"].as_str().unwrap();
                    match cli {
                        // zig 0.17 rejects old-style manifests; we accept them for 0.14/0.15
                        // users and give the 0.14-compatible hash.
                        Ok(got) => {
                            assert!(
                                got.manifest.as_ref().is_some_and(|m| m.old_style),
                                "{file}: {expected_error}"
                            );
                            assert_eq!(
                                Some(got.hash.hash.as_str()),
                                v["hash_0_14_compat"].as_str(),
                                "{file}"
                            );
                            assert_eq!(
                                Some(got.hash.legacy.as_str()),
                                v["legacy_multihash"].as_str(),
                                "{file}"
                            );
                        }
                        Err(e) => {
                            let key = expected_error.split(':').next().unwrap();
                            assert!(
                                e.to_string().contains(key),
                                "{file}: got {e}, zig said {expected_error}"
                            );
                        }
                    }
                }
            }
            if let Some(dep_hash) = v["dependency_hash"].as_str() {
                assert_eq!(dep.unwrap().hash.hash, dep_hash, "{file} as a dependency");
            }
        }
    }

    #[test]
    fn limits_are_enforced() {
        let bytes = std::fs::read(format!("{VECTORS}/plain_pkg-1.0.0.tar.gz")).unwrap();
        let tight = UnpackLimits {
            max_unpacked_bytes: 100,
            ..limits()
        };
        assert!(matches!(
            hash_archive(&bytes, tight, false),
            Err(ZigError::TooLarge(_))
        ));
        let few = UnpackLimits {
            max_entries: 1,
            ..limits()
        };
        assert!(matches!(
            hash_archive(&bytes, few, false),
            Err(ZigError::TooManyEntries(1))
        ));
        assert!(matches!(
            hash_archive(b"not an archive", limits(), false),
            Err(ZigError::NotAnArchive)
        ));
        assert!(matches!(
            hash_archive(&bytes[..bytes.len() / 2], limits(), false),
            Err(ZigError::Corrupt(_))
        ));
    }
}
