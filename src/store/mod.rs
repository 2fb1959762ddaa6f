//! The metadata store: packages, versions, owners, dist-tags, tokens and download counts.
//!
//! The core talks to the store only through the traits here, grouped by aggregate. The redb
//! implementation ([`redb_store::RedbStore`]) is the default; a DynamoDB one can implement the same
//! traits. Writes that must be exclusive (publishing a version) are a single call that checks
//! and writes atomically, so the store, not the caller, is the arbiter of "already exists".

pub mod dynamo;
pub mod export;
pub mod rates;
pub mod redb_store;
pub mod schema;

use std::collections::BTreeMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::paging::read_all_pages;

/// Digests and sizes of a tarball, as stored with its version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TarballInfo {
    /// Lowercase hex SHA-256 of the tarball bytes; also the blob key.
    pub sha256: String,
    /// Lowercase hex SHA-1 (npm's `dist.shasum`).
    pub sha1: String,
    /// Subresource-integrity SHA-512 (npm's `dist.integrity`), `sha512-<base64>`.
    pub integrity: String,
    /// Size of the tarball in bytes.
    pub size: u64,
    /// Number of regular files inside.
    pub file_count: u64,
    /// Sum of the sizes of the files inside.
    pub unpacked_size: u64,
    /// The package ships an `npm-shrinkwrap.json` (npm's `_hasShrinkwrap`).
    #[serde(default)]
    pub has_shrinkwrap: bool,
    /// The package has a `binding.gyp`, so npm builds it with node-gyp on install.
    #[serde(default)]
    pub has_binding_gyp: bool,
}

/// A package: the facts that span its versions.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PackageRecord {
    pub name: String,
    /// Tag -> version. `latest` is kept at the highest non-prerelease version.
    pub dist_tags: BTreeMap<String, String>,
    /// User names allowed to publish new versions.
    pub owners: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Bumped by every write to the package; clients see it as `_rev`, caches key on it.
    #[serde(default)]
    pub rev: u64,
    /// Users who starred it (`npm star`); npm shows them as the packument's `users`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub stars: std::collections::BTreeSet<String>,
}

impl PackageRecord {
    /// The revision as npm clients see it (`_rev`): `<rev>-<16 hex>`, new on every write.
    pub fn rev_string(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{}:{}", self.name, self.rev));
        format!("{}-{}", self.rev, &hex::encode(digest)[..16])
    }
}

/// One published version with its full manifest (dependencies and all) and its tarball's facts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VersionRecord {
    pub name: String,
    pub version: String,
    /// The package.json of this version, as published.
    pub manifest: serde_json::Map<String, serde_json::Value>,
    pub tarball: TarballInfo,
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
    /// The user who published it.
    pub published_by: String,
}

/// What a token may do, from least to most.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    Read,
    Publish,
    Admin,
}

impl std::str::FromStr for TokenScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Self::Read),
            "publish" => Ok(Self::Publish),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown scope {other:?}: expected read, publish or admin"
            )),
        }
    }
}

impl std::fmt::Display for TokenScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Publish => "publish",
            Self::Admin => "admin",
        })
    }
}

/// A stored token. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenRecord {
    /// Public identifier, safe to show and used to revoke.
    pub id: String,
    /// Lowercase hex SHA-256 of the secret token.
    pub hash: String,
    /// A label for people ("ci", "laptop").
    pub name: String,
    /// The user this token acts as; package ownership is recorded by user.
    pub user: String,
    pub scope: TokenScope,
    /// Limits the token to one package (`name`, `@s/name`) or one scope (`@s/*`).
    pub restriction: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When the token last authenticated a request (to the minute or so: uses are written in
    /// batches). (Schema 9; absent before.)
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used: Option<OffsetDateTime>,
}

/// A user account (for npm login and package ownership).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UserRecord {
    pub name: String,
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// A disabled account cannot log in, and its tokens are refused. (Schema 9.)
    #[serde(default)]
    pub disabled: bool,
    /// An administrator: `npm login` gives them an admin token, and the admin API may create
    /// admin tokens for them. (Schema 9.)
    #[serde(default)]
    pub admin: bool,
    /// SHA-256 of an invitation that lets its holder set the first password, and until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_hash: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub invite_expires_at: Option<OffsetDateTime>,
}

impl UserRecord {
    /// A new, enabled, non-admin account created now.
    pub fn new(name: &str, email: &str, password_hash: String) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            name: name.to_string(),
            email: email.to_string(),
            password_hash,
            created_at: now,
            updated_at: now,
            disabled: false,
            admin: false,
            invite_hash: None,
            invite_expires_at: None,
        }
    }
}

/// What a [`PackageChange`] decided: the package to write (or `None` to delete the package),
/// versions to write, and versions to remove (they are tombstoned: their numbers stay used).
#[derive(Debug, Clone, Default)]
pub struct PackageEdit {
    pub package: Option<PackageRecord>,
    pub upsert_versions: Vec<VersionRecord>,
    pub remove_versions: Vec<String>,
}

/// A change to an existing package, given it and all its versions. Like [`PackageUpdate`] it may
/// run more than once, so it must be pure.
pub type PackageChange =
    Box<dyn Fn(PackageRecord, Vec<VersionRecord>) -> Result<PackageEdit, Denied> + Send + Sync>;

/// An upstream packument as cached: validators, when it was fetched, and where its body is (the
/// zstd'd JSON, a blob: a metadata record never holds a multi-megabyte document).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CachedPackument {
    pub name: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub fetched_at: OffsetDateTime,
    /// The upstream answered 404 (a negative entry, without a body).
    pub missing: bool,
    /// The blob key of the body; `None` for a negative entry. (Schema 8; before, bodies were
    /// kept in the database: see [`CacheStore::inline_packument_bodies`].)
    #[serde(default)]
    pub body: Option<String>,
    /// The body's size in bytes, compressed.
    #[serde(default)]
    pub body_size: u64,
}

/// A tarball fetched from the upstream, verified, and kept in the blob store.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProxiedTarball {
    pub name: String,
    pub version: String,
    /// Blob key.
    pub sha256: String,
    /// The upstream's `dist.integrity` (or `sha1-…` from `dist.shasum`) it was verified against.
    pub integrity: String,
    pub size: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub fetched_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_used: OffsetDateTime,
}

/// A Zig package: the facts that span its versions.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZigPackageRecord {
    pub name: String,
    pub owners: Vec<String>,
    /// The highest version (non-prerelease first), not the last one published.
    pub latest: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Bumped by every write to the package, as [`PackageRecord::rev`]. (Schema 8.)
    #[serde(default)]
    pub rev: u64,
}

/// One published Zig package version and its hashes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZigVersionRecord {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    /// The hash current zig writes (`name-version-…`), or `1220…` for an old-style manifest.
    pub hash: String,
    /// The other form, when there is one.
    pub legacy_hash: Option<String>,
    pub package_id: u32,
    pub total_size: u64,
    /// Blob key of the archive as served.
    pub sha256: String,
    /// `tar.gz`, `tar.xz`, `tar.zst`, `tar` or `zip`.
    pub archive: String,
    pub size: u64,
    /// The upload was re-packed into a canonical tar.gz (same hash) so that every zig unpacks it.
    #[serde(default)]
    pub normalized: bool,
    /// The manifest's `.dependencies`.
    #[serde(default)]
    pub dependencies: Vec<ZigDependency>,
    pub minimum_zig_version: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
    pub published_by: String,
}

/// One entry of a build.zig.zon's `.dependencies`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZigDependency {
    pub name: String,
    pub url: Option<String>,
    pub path: Option<String>,
    pub hash: Option<String>,
    pub lazy: bool,
}

/// The caller's rule for a Zig publish (see [`PackageUpdate`]).
pub type ZigPackageUpdate =
    Box<dyn Fn(Option<ZigPackageRecord>) -> Result<ZigPackageRecord, Denied> + Send + Sync>;

/// Downloads of one version on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DownloadCount {
    pub name: String,
    pub version: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub count: u64,
}

/// Counts written together, under an id of their own: a store applies a batch once, however
/// often it is sent (a flush whose answer was lost is sent again, and must not count twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadBatch {
    /// Unique, and ordered by creation time (see [`DownloadBatch::new`]).
    pub id: String,
    pub counts: Vec<DownloadCount>,
}

impl DownloadBatch {
    /// A batch with a fresh id: the creation time in milliseconds, zero-padded so ids sort by
    /// time, then random hex (two instances flushing in the same millisecond differ).
    pub fn new(counts: Vec<DownloadCount>) -> Self {
        let millis = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        Self {
            id: format!("{millis:016}-{:016x}", rand::random::<u64>()),
            counts,
        }
    }
}

/// What kind of refusal a caller's rule made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialKind {
    /// Not allowed (ownership, scope, policy).
    Forbidden,
    /// Something the change names does not exist (a version, a tag).
    NotFound,
    /// The change itself makes no sense.
    Invalid,
    /// The change was made against an older state of the package.
    Conflict,
}

/// Why a package update was refused by the caller's rule.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    pub kind: DenialKind,
    pub message: String,
}

impl Denied {
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            kind: DenialKind::Forbidden,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            kind: DenialKind::NotFound,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: DenialKind::Invalid,
            message: message.into(),
        }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            kind: DenialKind::Conflict,
            message: message.into(),
        }
    }
}

/// The caller's rule for a publish: given the package as stored (if any), the record to write.
/// It may run more than once (a store may retry on a concurrent change), so it must be pure.
pub type PackageUpdate =
    Box<dyn Fn(Option<PackageRecord>) -> Result<PackageRecord, Denied> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("version {0} already exists")]
    VersionExists(String),
    #[error("version {0} was unpublished; its number cannot be used again")]
    VersionUnpublished(String),
    #[error("no such package")]
    NoSuchPackage,
    #[error("user {0} already exists")]
    UserExists(String),
    #[error(transparent)]
    Denied(#[from] Denied),
    /// A concurrent change got there first (an expected revision no longer holds): the caller
    /// may read again and retry, or tell the client 409.
    #[error("a concurrent change got there first: {0}")]
    Conflict(String),
    /// The backend is throttled, down or timed out; nothing was changed, and a retry later may
    /// succeed (503 with `Retry-After`).
    #[error("metadata store unavailable: {0}")]
    Unavailable(String),
    #[error("metadata store: {0}")]
    Backend(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The page size the listing defaults read with.
const LIST_PAGE: usize = 500;

#[async_trait]
pub trait PackageStore: Send + Sync {
    async fn package(&self, name: &str) -> StoreResult<Option<PackageRecord>>;
    async fn version(&self, name: &str, version: &str) -> StoreResult<Option<VersionRecord>>;
    /// Every version of a package, in no particular order.
    async fn versions(&self, name: &str) -> StoreResult<Vec<VersionRecord>>;
    /// How many bytes a package's version records take as stored (each at least its
    /// manifest's JSON), for the size cap on a package's metadata. The default reads them all;
    /// a store that knows its records' sizes answers without decoding them.
    async fn versions_size(&self, name: &str) -> StoreResult<u64> {
        Ok(self
            .versions(name)
            .await?
            .iter()
            .map(|v| serde_json::to_vec(&v.manifest).map_or(0, |b| b.len() as u64))
            .sum())
    }
    /// Atomically: refuses with [`StoreError::VersionExists`] if the version exists, else applies
    /// `update` to the package and writes the package and the version together. For a name whose
    /// package was wholly unpublished, `update` sees a package with the former owners (and no
    /// tags), so only they can take the name back.
    async fn publish_version(
        &self,
        version: VersionRecord,
        update: PackageUpdate,
    ) -> StoreResult<PackageRecord>;
    /// Atomically applies `change` to an existing package (else [`StoreError::NoSuchPackage`]).
    /// Removed versions are tombstoned; the package's `rev` is bumped. A deleted package leaves
    /// a name tombstone holding its owners. Returns the package as
    /// written, `None` if it was deleted.
    async fn modify_package(
        &self,
        name: &str,
        change: PackageChange,
    ) -> StoreResult<Option<PackageRecord>>;
    /// Up to `limit` packages in name order, starting after `after`.
    async fn packages_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<PackageRecord>>;
    /// Every package, by name (page after page).
    async fn list_packages(&self) -> StoreResult<Vec<PackageRecord>> {
        read_all_pages(
            LIST_PAGE,
            |p: &PackageRecord| p.name.clone(),
            |after: Option<String>, limit| async move {
                self.packages_page(after.as_deref(), limit).await
            },
        )
        .await
    }
    /// Whether any local package (or wholly unpublished one) is in `scope` (`@scope`). Asked on
    /// every proxied read, so it must be a keyed lookup, never a scan: redb reads the first key
    /// of the scope's range; a store without ordered keys keeps an item per scope, written with
    /// the scope's first package.
    async fn scope_has_packages(&self, scope: &str) -> StoreResult<bool>;
    /// Whether `name` was a local package that was wholly unpublished (its name stays ours).
    async fn name_was_local(&self, name: &str) -> StoreResult<bool>;
}

/// A kind of record that names a blob. Every record kind that points into the blob store is
/// one of these, so "referenced" means the same to `gc`, to the cache's eviction and to any
/// check of the blob store: a blob is in use exactly while some record names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlobOwner {
    /// A version published here (the npm namespace: `npm publish`, `POST /publish`).
    NpmVersion { name: String, version: String },
    /// A Zig package version.
    ZigVersion { name: String, version: String },
    /// An upstream tarball fetched through the npm fallback and kept.
    ProxiedTarball { name: String, version: String },
    /// The body of a cached upstream packument.
    CachedPackument { name: String },
}

impl std::fmt::Display for BlobOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobOwner::NpmVersion { name, version } => write!(f, "npm version {name}@{version}"),
            BlobOwner::ZigVersion { name, version } => write!(f, "Zig version {name}@{version}"),
            BlobOwner::ProxiedTarball { name, version } => {
                write!(f, "cached upstream tarball {name}@{version}")
            }
            BlobOwner::CachedPackument { name } => write!(f, "cached upstream packument {name}"),
        }
    }
}

/// One record's reference to a blob (its key, the lowercase hex SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobReference {
    pub key: String,
    pub owner: BlobOwner,
}

/// The parts of stored records that name blobs, decoded without the rest (manifests and
/// readmes are skipped over, since this runs at every cache eviction): what every store reads
/// for [`BlobReferenceStore::blob_references`].
pub(crate) mod referencing {
    use super::{BlobOwner, BlobReference};

    #[derive(serde::Deserialize)]
    struct Keyed {
        sha256: String,
    }

    /// An npm version record's name, version and tarball key.
    #[derive(serde::Deserialize)]
    pub struct NpmVersion {
        name: String,
        version: String,
        tarball: Keyed,
    }

    impl NpmVersion {
        pub fn reference(self) -> BlobReference {
            BlobReference {
                key: self.tarball.sha256,
                owner: BlobOwner::NpmVersion {
                    name: self.name,
                    version: self.version,
                },
            }
        }
    }

    /// A Zig version's or a proxied tarball's name, version and blob key.
    #[derive(serde::Deserialize)]
    pub struct Named {
        name: String,
        version: String,
        sha256: String,
    }

    impl Named {
        pub fn zig(self) -> BlobReference {
            BlobReference {
                key: self.sha256,
                owner: BlobOwner::ZigVersion {
                    name: self.name,
                    version: self.version,
                },
            }
        }

        pub fn proxied(self) -> BlobReference {
            BlobReference {
                key: self.sha256,
                owner: BlobOwner::ProxiedTarball {
                    name: self.name,
                    version: self.version,
                },
            }
        }
    }

    /// A cached packument's name and body key (none for a negative entry).
    #[derive(serde::Deserialize)]
    pub struct Bodied {
        name: String,
        #[serde(default)]
        body: Option<String>,
    }

    impl Bodied {
        pub fn reference(self) -> Option<BlobReference> {
            let key = self.body?;
            Some(BlobReference {
                key,
                owner: BlobOwner::CachedPackument { name: self.name },
            })
        }
    }
}

/// Which blobs the metadata names.
#[async_trait]
pub trait BlobReferenceStore: Send + Sync {
    /// Every reference from every record kind that names a blob ([`BlobOwner`]), read in one
    /// consistent view of the store.
    async fn blob_references(&self) -> StoreResult<Vec<BlobReference>>;
}

/// The upstream cache: packuments fetched from the upstream registry and the tarballs proxied.
#[async_trait]
pub trait CacheStore: Send + Sync {
    async fn cached_packument(&self, name: &str) -> StoreResult<Option<CachedPackument>>;
    /// Writes a cached packument's record (its body is already in the blob store).
    async fn put_cached_packument(&self, packument: CachedPackument) -> StoreResult<()>;
    /// Up to `limit` cached packuments in name order, starting after `after`.
    async fn cached_packuments_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<CachedPackument>>;
    /// Every cached packument, by name (page after page).
    async fn list_cached_packuments(&self) -> StoreResult<Vec<CachedPackument>> {
        read_all_pages(
            LIST_PAGE,
            |p: &CachedPackument| p.name.clone(),
            |after: Option<String>, limit| async move {
                self.cached_packuments_page(after.as_deref(), limit).await
            },
        )
        .await
    }
    async fn remove_cached_packuments(&self, names: Vec<String>) -> StoreResult<()>;
    /// Up to `limit` packument bodies that a database from before schema 8 holds inline, with
    /// the names of their records, for moving into the blob store (a store that never held
    /// bodies has none). Writing a name's record with [`CacheStore::put_cached_packument`] or
    /// removing it drops its inline body.
    async fn inline_packument_bodies(&self, limit: usize) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let _ = limit;
        Ok(Vec::new())
    }
    async fn proxied_tarball(
        &self,
        name: &str,
        version: &str,
    ) -> StoreResult<Option<ProxiedTarball>>;
    async fn put_proxied_tarball(&self, tarball: ProxiedTarball) -> StoreResult<()>;
    /// Records uses: (name, version, when).
    async fn touch_proxied_tarballs(
        &self,
        uses: Vec<(String, String, OffsetDateTime)>,
    ) -> StoreResult<()>;
    /// Up to `limit` proxied tarballs in (name, version) order, starting after `after`.
    async fn proxied_tarballs_page(
        &self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> StoreResult<Vec<ProxiedTarball>>;
    /// Every proxied tarball (page after page).
    async fn list_proxied_tarballs(&self) -> StoreResult<Vec<ProxiedTarball>> {
        read_all_pages(
            LIST_PAGE,
            |t: &ProxiedTarball| (t.name.clone(), t.version.clone()),
            |after: Option<(String, String)>, limit| async move {
                let after = after.as_ref().map(|(n, v)| (n.as_str(), v.as_str()));
                self.proxied_tarballs_page(after, limit).await
            },
        )
        .await
    }
    async fn remove_proxied_tarballs(&self, keys: Vec<(String, String)>) -> StoreResult<()>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn user(&self, name: &str) -> StoreResult<Option<UserRecord>>;
    /// Creates a user; [`StoreError::UserExists`] if the name is taken.
    async fn insert_user(&self, user: UserRecord) -> StoreResult<()>;
    /// Replaces an existing user's record.
    async fn update_user(&self, user: UserRecord) -> StoreResult<()>;
    /// Removes a user; `false` if there was none. Their tokens are the caller's to revoke.
    async fn delete_user(&self, name: &str) -> StoreResult<bool>;
    /// Up to `limit` users in name order, starting after `after`.
    async fn users_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<UserRecord>>;
    /// Every user, by name (page after page).
    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        read_all_pages(
            LIST_PAGE,
            |u: &UserRecord| u.name.clone(),
            |after: Option<String>, limit| async move {
                self.users_page(after.as_deref(), limit).await
            },
        )
        .await
    }
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_token(&self, token: TokenRecord) -> StoreResult<()>;
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRecord>>;
    /// The token with this public id (a keyed lookup, not a scan).
    async fn token_by_id(&self, id: &str) -> StoreResult<Option<TokenRecord>>;
    /// Up to `limit` tokens in public id order, starting after the id `after`.
    async fn tokens_page(&self, after: Option<&str>, limit: usize)
    -> StoreResult<Vec<TokenRecord>>;
    /// Every token, by public id (page after page).
    async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        read_all_pages(
            LIST_PAGE,
            |t: &TokenRecord| t.id.clone(),
            |after: Option<String>, limit| async move {
                self.tokens_page(after.as_deref(), limit).await
            },
        )
        .await
    }
    /// Removes the token with this public id; `false` if there was none.
    async fn revoke_token(&self, id: &str) -> StoreResult<bool>;
    /// Records when tokens were last used: (token SHA-256, when). A token gone meanwhile is
    /// skipped; an older time never replaces a newer one.
    async fn touch_tokens(&self, uses: Vec<(String, OffsetDateTime)>) -> StoreResult<()>;
}

#[async_trait]
pub trait DownloadStore: Send + Sync {
    /// Adds the batch's counts to the stored totals, in one atomic write, unless a batch with
    /// its id was applied before (then nothing changes and the call succeeds). Batch ids are
    /// remembered for at least a week.
    async fn add_downloads(&self, batch: DownloadBatch) -> StoreResult<()>;
    /// Every stored count of a package.
    async fn downloads(&self, name: &str) -> StoreResult<Vec<DownloadCount>>;
    /// Total downloads of every package with any, by name.
    async fn download_totals(&self) -> StoreResult<Vec<(String, u64)>>;
    /// Downloads per name on `since` (`YYYY-MM-DD`, UTC) and later; names with none are left
    /// out.
    async fn download_totals_since(&self, since: &str) -> StoreResult<Vec<(String, u64)>>;
    /// Downloads per package and day (every version summed, so `version` is empty) on the
    /// days `first..=last` (`YYYY-MM-DD`): work in proportion to the period, not to history.
    async fn downloads_between(&self, first: &str, last: &str) -> StoreResult<Vec<DownloadCount>>;
}

/// Zig packages: their own namespace, indexed by hash too.
#[async_trait]
pub trait ZigStore: Send + Sync {
    async fn zig_package(&self, name: &str) -> StoreResult<Option<ZigPackageRecord>>;
    async fn zig_version(&self, name: &str, version: &str)
    -> StoreResult<Option<ZigVersionRecord>>;
    async fn zig_versions(&self, name: &str) -> StoreResult<Vec<ZigVersionRecord>>;
    /// The version with this hash (either form).
    async fn zig_by_hash(&self, hash: &str) -> StoreResult<Option<ZigVersionRecord>>;
    /// Atomically: [`StoreError::VersionExists`] if the version exists, else applies `update`
    /// and writes package, version and hash index together.
    async fn publish_zig_version(
        &self,
        version: ZigVersionRecord,
        update: ZigPackageUpdate,
    ) -> StoreResult<ZigPackageRecord>;
    /// Up to `limit` Zig packages in name order, starting after `after`.
    async fn zig_packages_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<ZigPackageRecord>>;
    /// Every Zig package, by name (page after page).
    async fn list_zig_packages(&self) -> StoreResult<Vec<ZigPackageRecord>> {
        read_all_pages(
            LIST_PAGE,
            |p: &ZigPackageRecord| p.name.clone(),
            |after: Option<String>, limit| async move {
                self.zig_packages_page(after.as_deref(), limit).await
            },
        )
        .await
    }
}

/// What a change feed entry says changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Changed {
    /// The npm package of this name, local or cached from the upstream.
    Npm(String),
    /// The Zig package of this name.
    Zig(String),
    /// The store as a whole (created, or migrated to a new schema): followers start over.
    Whole,
}

/// One entry of the change feed: a write changed what a package shows (a publish, a package
/// change, a cached upstream packument written or removed, a Zig publish).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// The entry's place in the feed, given by the store: ids sort in the order the changes
    /// were made, and a database written elsewhere, or restored and written since, has others.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    pub changed: Changed,
}

impl Change {
    /// A change to the npm package `name` (local or cached), to be given its id by the store.
    pub fn npm(name: &str) -> Self {
        Self::of(Changed::Npm(name.to_string()))
    }

    /// A change to the Zig package `name`.
    pub fn zig(name: &str) -> Self {
        Self::of(Changed::Zig(name.to_string()))
    }

    /// A change to everything (see [`Changed::Whole`]).
    pub fn whole() -> Self {
        Self::of(Changed::Whole)
    }

    fn of(changed: Changed) -> Self {
        Self {
            id: String::new(),
            changed,
        }
    }
}

/// How long the change feed keeps an entry; whoever follows the feed from further back starts
/// over from the whole store.
pub const CHANGE_RETENTION: time::Duration = time::Duration::days(30);

/// The ordered log of writes to what packages show. Every such write appends its entry in the
/// same atomic write, so no global counter is written by everyone: derived data (the search
/// index, caches, other instances) follows the feed and catches up with what changed since the
/// last entry it saw.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// The newest entry's id; `None` when nothing was ever changed (or nothing is retained).
    async fn latest_change(&self) -> StoreResult<Option<String>>;
    /// Up to `limit` entries after the entry `after` (from the oldest retained when `None`), in
    /// order. `None` when `after` is not in the feed (older than [`CHANGE_RETENTION`], or never
    /// written by this store): the follower must start over from the whole store.
    async fn changes_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Option<Vec<Change>>>;
    /// Up to `limit` entries whose ids sort after `lower`, in order. `lower` need not be an
    /// entry's id: a [`schema::time_key`] is a lower bound in time. Instances sharing a store
    /// follow each other with it, reading again a little way back, because entries written by
    /// two instances can commit out of id order.
    async fn changes_from(&self, lower: &str, limit: usize) -> StoreResult<Vec<Change>>;
}

/// One entry of the audit log: a state change or a login, who asked, from where, on what, and
/// how it ended. Secrets never appear in it: a token is named by its public id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    /// Given by the store: ids sort in the order entries were appended (time first).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What was done: `npm.publish`, `package.dist-tag.set`, `token.create`, `user.login`, …
    pub action: String,
    /// What it was done to: `npm:left-pad@1.0.0`, `zig:my_lib@0.1.0`, `user:alice`, `token:<id>`.
    pub target: String,
    /// `ok`, `denied` (refused: not allowed, not found, invalid) or `failed` (a fault).
    pub outcome: String,
    /// Why, for a refusal or a failure; what changed, for some successes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The acting user (`$admin` for the configured admin token, `$cli` for the local CLI);
    /// `None` for an anonymous request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The public id of the token used, if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// The audit log, in the store.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `entries`, in order, in one atomic write; each is given its id.
    async fn append_audit(&self, entries: Vec<AuditRecord>) -> StoreResult<()>;
    /// Up to `limit` entries after the id `after` (from the oldest when `None`), in order. An
    /// `after` that is not an id is a lower bound: `after` = the 16 hex digits of a time in
    /// microseconds since the epoch starts at that time.
    async fn audit_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<AuditRecord>>;
    /// Removes entries older than `before`; how many.
    async fn prune_audit(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Counters for rate limits, shared by every instance that shares the store.
#[async_trait]
pub trait RateStore: Send + Sync {
    /// Takes one request from the bucket `key`, which holds `per_minute` and refills at that
    /// rate: `None` when there was one to take, or the seconds until there will be.
    async fn take(&self, key: &str, per_minute: u32) -> StoreResult<Option<u64>>;
}

/// Reading and writing records as they are (revisions and ids kept, no rule run), for moving a
/// registry from one store to another (`pantry-registry migrate`). Every import replaces what
/// the store held under the same key, so running one again changes nothing.
#[async_trait]
pub trait TransferStore: Send + Sync {
    /// The unpublished version numbers of an npm package, each with when (RFC 3339).
    async fn unpublished_versions(&self, name: &str) -> StoreResult<Vec<(String, String)>>;
    /// Up to `limit` wholly unpublished npm names with their former owners, in name order,
    /// after `after`.
    async fn name_tombstones_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<String>)>>;
    /// Every wholly unpublished npm name with its former owners, in name order.
    async fn list_name_tombstones(&self) -> StoreResult<Vec<(String, Vec<String>)>> {
        read_all_pages(
            LIST_PAGE,
            |(name, _): &(String, Vec<String>)| name.clone(),
            |after: Option<String>, limit| async move {
                self.name_tombstones_page(after.as_deref(), limit).await
            },
        )
        .await
    }
    /// Sends every record the store holds to `sink`, each in the form its import takes, and
    /// says how consistent the whole is: redb reads one snapshot; others read page by page,
    /// each package whole at one revision ([`export::by_pages`]).
    async fn export(
        &self,
        sink: tokio::sync::mpsc::Sender<export::ExportRecord>,
    ) -> StoreResult<export::Consistency>;
    /// Writes an npm package with exactly these versions and unpublished numbers (its `rev`
    /// as given), and appends a change-feed entry for it.
    async fn import_package(
        &self,
        package: PackageRecord,
        versions: Vec<VersionRecord>,
        unpublished: Vec<(String, String)>,
    ) -> StoreResult<()>;
    /// Writes the tombstone of a wholly unpublished npm name.
    async fn import_name_tombstone(&self, name: &str, owners: Vec<String>) -> StoreResult<()>;
    /// Writes a Zig package with exactly these versions (and their hashes' index entries), and
    /// appends a change-feed entry for it.
    async fn import_zig_package(
        &self,
        package: ZigPackageRecord,
        versions: Vec<ZigVersionRecord>,
    ) -> StoreResult<()>;
    /// Writes audit entries under the ids they carry.
    async fn import_audit(&self, entries: Vec<AuditRecord>) -> StoreResult<()>;
}

/// Everything the registry needs from a metadata store.
pub trait MetadataStore:
    PackageStore
    + TokenStore
    + DownloadStore
    + UserStore
    + CacheStore
    + ZigStore
    + BlobReferenceStore
    + ChangeFeed
    + AuditStore
    + TransferStore
{
}
impl<
    T: PackageStore
        + TokenStore
        + DownloadStore
        + UserStore
        + CacheStore
        + ZigStore
        + BlobReferenceStore
        + ChangeFeed
        + AuditStore
        + TransferStore,
> MetadataStore for T
{
}
