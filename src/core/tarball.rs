//! Reading an npm package tarball: is it a complete gzip'd tar, what does its `package.json`
//! say, and what are its digests. All reads are bounded by the configured limits, so a
//! decompression bomb or a truncated upload is refused without using more than the limits.

use std::io::{self, Read};

use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::archive;
use crate::config::Limits;

pub use crate::store::TarballInfo;

/// What an inspection found.
#[derive(Debug, Clone)]
pub struct InspectedTarball {
    pub info: TarballInfo,
    /// The parsed `package.json` at the package root.
    pub manifest: serde_json::Map<String, serde_json::Value>,
    /// The README at the package root (`README.md`, `readme.markdown`, `README`, …): its file
    /// name and its text, cut at `limits.max_readme_bytes`.
    pub readme: Option<(String, String)>,
}

/// Whether a file at the package root is its README, as npm finds it.
fn is_readme(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "readme" | "readme.md" | "readme.markdown" | "readme.txt"
    )
}

#[derive(Debug, thiserror::Error)]
pub enum TarballError {
    #[error("Tarball is not gzip-compressed")]
    NotGzip,
    #[error("Tarball is truncated or corrupt: {0}")]
    Corrupt(String),
    #[error("Tarball is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("Tarball unpacks to more than the limit of {0} bytes")]
    UnpackedTooLarge(u64),
    #[error("Tarball has more than the limit of {0} entries")]
    TooManyEntries(u64),
    #[error(
        "Tarball has an extended tar header (PAX or long name) larger than the limit of {0} bytes"
    )]
    HeaderTooLarge(u64),
    #[error("package.json in the tarball is larger than the limit of {0} bytes")]
    ManifestTooLarge(u64),
    #[error("Tarball has no package.json at its root")]
    NoManifest,
    #[error("package.json in the tarball is not a valid JSON object: {0}")]
    BadManifest(String),
}

/// Computes the digests every wire shape hands out.
pub fn digests(bytes: &[u8]) -> (String, String, String) {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let sha1 = hex::encode(Sha1::digest(bytes));
    let sha512 = Sha512::digest(bytes);
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha512)
    );
    (sha256, sha1, integrity)
}

/// The archive limits of an npm tarball.
pub fn archive_limits(limits: &Limits) -> archive::Limits {
    archive::Limits {
        max_unpacked_bytes: limits.max_unpacked_bytes,
        max_entries: limits.max_tarball_entries,
        max_header_bytes: limits.max_archive_header_bytes,
    }
}

fn io_error(e: io::Error, limits: &Limits) -> TarballError {
    match archive::exceeded(&e) {
        Some(archive::Exceeded::Entries(_)) => {
            TarballError::TooManyEntries(limits.max_tarball_entries)
        }
        Some(archive::Exceeded::Header(n)) => TarballError::HeaderTooLarge(n),
        Some(archive::Exceeded::Sparse) => {
            TarballError::Corrupt(archive::Exceeded::Sparse.to_string())
        }
        Some(_) => TarballError::UnpackedTooLarge(limits.max_unpacked_bytes),
        None => TarballError::Corrupt(e.to_string()),
    }
}

/// Checks that `bytes` is a complete gzip'd tar within the limits and reads its `package.json`
/// (the file `package.json` one directory below the root, like `package/package.json`).
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<InspectedTarball, TarballError> {
    if bytes.len() as u64 > limits.max_tarball_bytes {
        return Err(TarballError::TooLarge(limits.max_tarball_bytes));
    }
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return Err(TarballError::NotGzip);
    }
    // Streamed under the limits: headers are checked before the tar reader acts on them.
    let bounds = archive_limits(limits);
    let decoded =
        archive::decoder(bytes, archive::Codec::Gzip, &bounds).map_err(|e| io_error(e, limits))?;
    let mut archive = tar::Archive::new(archive::TarGuard::new(decoded, bounds));
    let mut manifest = None;
    let mut readme: Option<(String, String)> = None;
    let mut has_shrinkwrap = false;
    let mut has_binding_gyp = false;
    let mut entries_seen = 0u64;
    let mut file_count = 0u64;
    let mut unpacked = 0u64;
    let entries = archive.entries().map_err(|e| io_error(e, limits))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| io_error(e, limits))?;
        entries_seen += 1;
        if entries_seen > limits.max_tarball_entries {
            return Err(TarballError::TooManyEntries(limits.max_tarball_entries));
        }
        let header_type = entry.header().entry_type();
        // PAX/GNU metadata entries are consumed by the tar reader itself; count only real ones.
        if header_type.is_file() {
            file_count += 1;
            unpacked = unpacked.saturating_add(entry.size());
            if unpacked > limits.max_unpacked_bytes {
                return Err(TarballError::UnpackedTooLarge(limits.max_unpacked_bytes));
            }
        }
        // A file at the package root: one directory below the archive root (`package/x`).
        let root_file = if header_type.is_file() {
            let path = entry.path().map_err(|e| io_error(e, limits))?;
            let parts: Vec<_> = path
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect();
            (parts.len() == 2).then(|| parts[1].as_os_str().to_string_lossy().into_owned())
        } else {
            None
        };
        match root_file.as_deref() {
            Some("npm-shrinkwrap.json") => has_shrinkwrap = true,
            Some("binding.gyp") => has_binding_gyp = true,
            _ => {}
        }
        let is_root_manifest = root_file.as_deref() == Some("package.json");
        if is_root_manifest && manifest.is_none() {
            if entry.size() > limits.max_manifest_bytes {
                return Err(TarballError::ManifestTooLarge(limits.max_manifest_bytes));
            }
            let mut text = Vec::with_capacity(entry.size() as usize);
            entry
                .read_to_end(&mut text)
                .map_err(|e| io_error(e, limits))?;
            let value: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| TarballError::BadManifest(e.to_string()))?;
            match value {
                serde_json::Value::Object(map) => manifest = Some(map),
                _ => return Err(TarballError::BadManifest("not an object".into())),
            }
        } else if readme.is_none()
            && let Some(file) = root_file.as_deref().filter(|f| is_readme(f))
        {
            let mut text = Vec::new();
            (&mut entry)
                .take(limits.max_readme_bytes)
                .read_to_end(&mut text)
                .map_err(|e| io_error(e, limits))?;
            io::copy(&mut entry, &mut io::sink()).map_err(|e| io_error(e, limits))?;
            readme = Some((
                file.to_string(),
                String::from_utf8_lossy(&text).into_owned(),
            ));
        } else {
            io::copy(&mut entry, &mut io::sink()).map_err(|e| io_error(e, limits))?;
        }
    }
    // Read to the end of the gzip stream so a truncated upload or a bad CRC is caught too.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| io_error(e, limits))?;
    if entries_seen == 0 {
        return Err(TarballError::Corrupt("the archive is empty".into()));
    }
    let manifest = manifest.ok_or(TarballError::NoManifest)?;
    let (sha256, sha1, integrity) = digests(bytes);
    Ok(InspectedTarball {
        info: TarballInfo {
            sha256,
            sha1,
            integrity,
            size: bytes.len() as u64,
            file_count,
            unpacked_size: unpacked,
            has_shrinkwrap,
            has_binding_gyp,
        },
        manifest,
        readme,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::Settings;

    /// Builds a gzip'd tar holding `package/package.json` with the given text plus one file.
    pub fn npm_tarball(package_json: &str) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in [
            ("package/package.json", package_json.as_bytes()),
            ("package/index.js", b"module.exports = 1;\n".as_slice()),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    fn limits() -> Limits {
        Settings::default().limits
    }

    #[test]
    fn reads_manifest_and_counts_files() {
        let t = npm_tarball(r#"{"name":"a","version":"1.0.0"}"#);
        let got = inspect(&t, &limits()).unwrap();
        assert_eq!(got.manifest["name"], "a");
        assert_eq!(got.info.file_count, 2);
        assert_eq!(got.info.size, t.len() as u64);
        assert!(got.info.integrity.starts_with("sha512-"));
    }

    #[test]
    fn refuses_truncated_and_non_gzip() {
        let t = npm_tarball(r#"{"name":"a","version":"1.0.0"}"#);
        assert!(matches!(
            inspect(&t[..t.len() - 10], &limits()),
            Err(TarballError::Corrupt(_))
        ));
        assert!(matches!(
            inspect(b"hello world", &limits()),
            Err(TarballError::NotGzip)
        ));
    }

    #[test]
    fn refuses_bombs() {
        let mut l = limits();
        l.max_unpacked_bytes = 10;
        let t = npm_tarball(r#"{"name":"a","version":"1.0.0"}"#);
        assert!(matches!(
            inspect(&t, &l),
            Err(TarballError::UnpackedTooLarge(10))
        ));
    }
}
