//! Finding versions: the one `latest` names, one by number, all of them in semver order; and
//! reading a package wherever it comes from (published here, else the npm fallback's).

use serde_json::Value;

use crate::core::Core;
use crate::core::access::{ReadRefused, Reader};
use crate::core::names::{PackageName, Version};
use crate::core::proxy::{Freshness, Proxied, ProxyError};
use crate::store::{PackageRecord, StoreError, StoreResult, VersionRecord};

/// The version the `latest` dist-tag points at, if the package exists.
pub async fn latest(core: &Core, name: &str) -> StoreResult<Option<VersionRecord>> {
    let Some(pkg) = core.store.package(name).await? else {
        return Ok(None);
    };
    match pkg.dist_tags.get("latest") {
        Some(v) => core.store.version(name, v).await,
        None => Ok(None),
    }
}

/// All versions, newest first by semver precedence.
pub async fn versions_newest_first(core: &Core, name: &str) -> StoreResult<Vec<VersionRecord>> {
    let mut versions = core.store.versions(name).await?;
    versions.sort_by_cached_key(|v| std::cmp::Reverse(Version::parse(&v.version).ok()));
    Ok(versions)
}

/// Version strings, newest first by semver precedence (unparseable ones last).
pub fn sort_newest_first(mut versions: Vec<String>) -> Vec<String> {
    versions.sort_by_cached_key(|v| std::cmp::Reverse(Version::parse(v).ok()));
    versions
}

/// The latest rule, for npm and Zig packages alike: a version without a prerelease outranks
/// every prerelease; otherwise the higher version wins. Whether `candidate` should take the
/// place of `current` (which it does when there is none, or it does not parse).
pub fn better_latest(current: Option<&str>, candidate: &Version) -> bool {
    let Some(current) = current.and_then(|c| Version::parse(c).ok()) else {
        return true;
    };
    match (current.pre.is_empty(), candidate.pre.is_empty()) {
        (true, false) => false,
        (false, true) => true,
        _ => candidate > &current,
    }
}

/// The version the latest rule picks among `versions`: the highest without a prerelease, else
/// the highest prerelease.
pub fn best_latest<'a>(versions: impl Iterator<Item = &'a str>) -> Option<String> {
    let parsed: Vec<Version> = versions.filter_map(|v| Version::parse(v).ok()).collect();
    parsed
        .iter()
        .filter(|v| v.pre.is_empty())
        .max()
        .or_else(|| parsed.iter().max())
        .map(Version::to_string)
}

// Reading a package wherever it comes from: published here, else the upstream's through the
// npm fallback (when the proxy policy allows). Every door asks here, so "local first, else
// upstream" and the dist-tag rule are written once.

/// What a name resolves to.
pub enum Source {
    /// Published here.
    Local(PackageRecord),
    /// The upstream's packument, through the cache.
    Proxied(Proxied),
}

/// Why a read found nothing to show.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no such package")]
    NoSuchPackage,
    #[error("no such version")]
    NoSuchVersion,
    /// The npm fallback could not answer (its `NotFound` is a package the upstream lacks).
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The caller may not read it (see [`crate::core::access`]).
    #[error("{0}")]
    SignInRequired(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ReadRefused> for ResolveError {
    fn from(e: ReadRefused) -> Self {
        match e {
            ReadRefused::SignInRequired(why) => ResolveError::SignInRequired(why),
            ReadRefused::Store(e) => ResolveError::Store(e),
        }
    }
}

/// Which version a read asks for.
#[derive(Debug, Clone, Copy)]
pub enum Wanted<'a> {
    /// The one the `latest` dist-tag names.
    Latest,
    /// This version number, exactly.
    Exact(&'a str),
    /// A dist-tag if there is one of that name, else a version number (npm's rule).
    TagOrExact(&'a str),
}

/// One version, wherever it comes from.
pub enum ResolvedVersion {
    Local(VersionRecord),
    Proxied {
        version: String,
        /// The upstream's version document, as it sent it.
        manifest: Value,
        /// The upstream's publish time of the version, if it says.
        published_at: Option<String>,
        freshness: Freshness,
    },
}

/// `name`: published here, or else the upstream's, if `reader` may read it.
pub async fn package(
    core: &Core,
    reader: &Reader,
    name: &PackageName,
) -> Result<Source, ResolveError> {
    core.access
        .before_npm_lookup(core, reader, name.as_str())
        .await?;
    if let Some(pkg) = core.store.package(name.as_str()).await? {
        core.access.local(core, reader, name.as_str()).await?;
        return Ok(Source::Local(pkg));
    }
    core.access.upstream(core, reader, name.as_str()).await?;
    Ok(Source::Proxied(core.fallback.packument(core, name).await?))
}

/// The version number `wanted` names among `tags`, or `None` for [`Wanted::Latest`] without
/// a `latest` tag.
fn pick<'a>(wanted: Wanted<'a>, tag: impl Fn(&str) -> Option<String>) -> Option<String> {
    match wanted {
        Wanted::Latest => tag("latest"),
        Wanted::Exact(v) => Some(v.to_string()),
        Wanted::TagOrExact(spec) => Some(tag(spec).unwrap_or_else(|| spec.to_string())),
    }
}

/// One version of `name`, local or proxied.
pub async fn version(
    core: &Core,
    reader: &Reader,
    name: &PackageName,
    wanted: Wanted<'_>,
) -> Result<ResolvedVersion, ResolveError> {
    match package(core, reader, name).await? {
        Source::Local(pkg) => {
            let number = pick(wanted, |t| pkg.dist_tags.get(t).cloned())
                .ok_or(ResolveError::NoSuchPackage)?;
            core.store
                .version(name.as_str(), &number)
                .await?
                .map(ResolvedVersion::Local)
                .ok_or(ResolveError::NoSuchVersion)
        }
        Source::Proxied(up) => {
            let doc = &up.doc;
            let number = pick(wanted, |t| {
                doc.get("dist-tags")
                    .and_then(|tags| tags.get(t))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .ok_or(ResolveError::NoSuchPackage)?;
            let manifest = doc
                .get("versions")
                .and_then(|v| v.get(&number))
                .cloned()
                .ok_or(ResolveError::NoSuchVersion)?;
            let published_at = doc
                .get("time")
                .and_then(|t| t.get(&number))
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok(ResolvedVersion::Proxied {
                version: number,
                manifest,
                published_at,
                freshness: up.freshness,
            })
        }
    }
}

/// The dist-tags of `name` as a JSON object, and how fresh they are when proxied.
pub async fn dist_tags(
    core: &Core,
    reader: &Reader,
    name: &PackageName,
) -> Result<(Value, Option<Freshness>), ResolveError> {
    Ok(match package(core, reader, name).await? {
        Source::Local(pkg) => (
            serde_json::to_value(&pkg.dist_tags).expect("JSON values serialize"),
            None,
        ),
        Source::Proxied(up) => (
            up.doc
                .get("dist-tags")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({})),
            Some(up.freshness),
        ),
    })
}

/// Every version number of `name`, newest first by semver precedence.
pub async fn version_numbers(
    core: &Core,
    reader: &Reader,
    name: &PackageName,
) -> Result<Vec<String>, ResolveError> {
    Ok(match package(core, reader, name).await? {
        Source::Local(_) => versions_newest_first(core, name.as_str())
            .await?
            .into_iter()
            .map(|v| v.version)
            .collect(),
        Source::Proxied(up) => sort_newest_first(
            up.doc
                .get("versions")
                .and_then(Value::as_object)
                .map(|v| v.keys().cloned().collect())
                .unwrap_or_default(),
        ),
    })
}

/// A tarball, wherever it comes from.
pub enum ResolvedTarball {
    /// Published here: its record (digests, size, the blob key).
    Local(VersionRecord),
    /// Through the npm fallback: kept from before, or streaming in from the upstream now.
    Proxied {
        name: PackageName,
        version: String,
        source: crate::core::proxy::TarballSource,
    },
}

/// How a door reads a tarball. A HEAD wants the headers only: no blob is read and nothing is
/// counted. A GET wants the bytes, and is a download once all of them went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarballRead {
    Head,
    Get,
}

/// The tarball of `name@version`: published here, else the upstream's (a name with a local
/// package never reaches the upstream, whatever version is asked for).
pub async fn tarball(
    core: &Core,
    reader: &Reader,
    name: &PackageName,
    version: &str,
) -> Result<ResolvedTarball, ResolveError> {
    core.access
        .before_npm_lookup(core, reader, name.as_str())
        .await?;
    if let Some(record) = core.store.version(name.as_str(), version).await? {
        core.access.local(core, reader, name.as_str()).await?;
        return Ok(ResolvedTarball::Local(record));
    }
    if core.store.package(name.as_str()).await?.is_some() {
        core.access.local(core, reader, name.as_str()).await?;
        return Err(ResolveError::NoSuchVersion);
    }
    core.access.upstream(core, reader, name.as_str()).await?;
    let source = core.fallback.tarball(core, name, version).await?;
    Ok(ResolvedTarball::Proxied {
        name: name.clone(),
        version: version.to_string(),
        source,
    })
}

/// `len` bytes of a local tarball from byte `start` on (a range request: never counted as a
/// download).
pub async fn tarball_part(
    core: &Core,
    record: &VersionRecord,
    start: u64,
    len: u64,
) -> Result<crate::blobs::BlobReader, crate::blobs::BlobError> {
    let key = crate::blobs::BlobKey::parse(&record.tarball.sha256).ok_or_else(|| {
        crate::blobs::BlobError::Missing(format!(
            "{} (the stored sha256 of {}@{} is not a blob key)",
            record.tarball.sha256, record.name, record.version
        ))
    })?;
    core.blobs.open_range(&key, start, len).await
}

/// A tarball a client may be sent to fetch from the blob store itself.
pub struct Redirectable {
    key: crate::blobs::BlobKey,
    name: String,
    version: String,
}

impl Redirectable {
    /// Where to send the client instead of streaming the bytes, when the blob store gives
    /// direct URLs (a presigned S3 URL). The download is counted as the redirect is given.
    pub async fn url(
        self,
        core: &std::sync::Arc<Core>,
    ) -> Result<Option<String>, crate::blobs::BlobError> {
        let url = core.blobs.download_url(&self.key).await?;
        if url.is_some() {
            crate::core::downloads::count_download(core, &self.name, &self.version)();
        }
        Ok(url)
    }
}

impl ResolvedTarball {
    /// What a GET may be redirected to download directly from the blob store: a tarball
    /// published here (its blob key, name and version).
    pub fn redirectable(&self, read: TarballRead) -> Option<Redirectable> {
        let ResolvedTarball::Local(record) = self else {
            return None;
        };
        (read == TarballRead::Get).then_some(())?;
        Some(Redirectable {
            key: crate::blobs::BlobKey::parse(&record.tarball.sha256)?,
            name: record.name.clone(),
            version: record.version.clone(),
        })
    }

    /// The bytes to send for `read` (none for a HEAD of a local tarball), with the download
    /// to count once they have all gone out (none for a HEAD).
    pub async fn content(
        self,
        core: &std::sync::Arc<Core>,
        read: TarballRead,
    ) -> Result<
        Option<(
            crate::core::proxy::TarballSource,
            Option<crate::core::downloads::Downloaded>,
        )>,
        crate::blobs::BlobError,
    > {
        let count = |name: &str, version: &str| {
            (read == TarballRead::Get)
                .then(|| crate::core::downloads::count_download(core, name, version))
        };
        match self {
            ResolvedTarball::Local(_) if read == TarballRead::Head => Ok(None),
            ResolvedTarball::Local(record) => {
                let key =
                    crate::blobs::BlobKey::parse(&record.tarball.sha256).ok_or_else(|| {
                        crate::blobs::BlobError::Missing(format!(
                            "{} (the stored sha256 of {}@{} is not a blob key)",
                            record.tarball.sha256, record.name, record.version
                        ))
                    })?;
                let reader = core.blobs.open(&key).await?;
                Ok(Some((
                    crate::core::proxy::TarballSource::Stored(reader),
                    count(&record.name, &record.version),
                )))
            }
            ResolvedTarball::Proxied {
                name,
                version,
                source,
            } => Ok(Some((source, count(name.as_str(), &version)))),
        }
    }
}
