//! `import`: packages from another registry's storage directory, the seed's (`seed.rs`) or
//! Verdaccio's (`verdaccio.rs`). A source reader lists what the directory holds, checked (names,
//! versions, where each tarball must be); this driver then publishes each version through the
//! publish use case, in semver order and with the source's publish time, after reading its
//! tarball under the size cap and checking it against the source's checksum. Each version is
//! its own atomic publish, so an import stopped half way leaves whole versions, and running it
//! again imports only what is missing: a version already here with the same bytes is "already
//! imported". Afterwards the source's dist-tags, deprecations and owners are applied where they
//! differ. Nothing the source says is a path: every file name is built from a validated name
//! and version, and a file that resolves outside the directory is not read.

pub mod seed;
pub mod verdaccio;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha1::Digest as _;
use time::OffsetDateTime;

use crate::core::Core;
use crate::core::admin;
use crate::core::audit::{Actor, Outcome};
use crate::core::auth::{ADMIN_USER, Caller};
use crate::core::names::{PackageName, Version};
use crate::core::packages::{self, DocumentChange, MAX_OWNERS};
use crate::core::publish::{self, PublishError, PublishRequest};
use crate::core::transfer::Progress;
use crate::store::{StoreError, TokenScope};

/// Where packages come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The seed registry's `.registry` folder: `metadata.json` and `tarballs/`.
    Seed,
    /// A Verdaccio storage directory: `<name>/package.json` and the tarballs beside it.
    Verdaccio,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Seed => "seed",
            Source::Verdaccio => "verdaccio",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "seed" => Some(Source::Seed),
            "verdaccio" => Some(Source::Verdaccio),
            _ => None,
        }
    }

    fn shown(self) -> &'static str {
        match self {
            Source::Seed => "the seed",
            Source::Verdaccio => "Verdaccio",
        }
    }
}

/// Why the import as a whole could not run (a version that cannot be imported is a
/// [`Skip`] instead).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The directory is not one the source could have written.
    #[error("{0}")]
    Source(String),
    #[error("the registry's storage failed, so the import stopped (run it again to resume): {0}")]
    Store(String),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        ImportError::Store(e.to_string())
    }
}

/// One person a source names as a package's maintainer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub name: String,
    pub email: Option<String>,
}

/// What the source expects a tarball to hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Lowercase hex SHA-256 (the seed's `checksum`).
    Sha256(String),
    /// npm's `dist.integrity` (SRI, `sha512-…`) and/or `dist.shasum` (hex SHA-1).
    Npm {
        integrity: Option<String>,
        shasum: Option<String>,
    },
}

/// One version as the source holds it.
#[derive(Debug, Clone)]
pub struct SourceVersion {
    pub version: Version,
    /// The tarball, relative to the source's directory (built from the validated name and
    /// version, never taken from the source's JSON).
    pub tarball: PathBuf,
    pub expected: Expected,
    pub published_at: Option<OffsetDateTime>,
    /// The version's deprecation message, if the source has one.
    pub deprecated: Option<String>,
}

/// One package as the source holds it.
#[derive(Debug, Clone)]
pub struct SourcePackage {
    pub name: PackageName,
    pub versions: Vec<SourceVersion>,
    pub dist_tags: BTreeMap<String, String>,
    /// Who maintains it, in the source's order; empty when the source does not say.
    pub owners: Vec<Owner>,
    /// Descriptive fields the source keeps beside the tarballs (the seed's description,
    /// keywords…): they fill gaps in the tarball's package.json, never override it.
    pub metadata: Map<String, Value>,
}

/// Why something was not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipKind {
    /// The same bytes are published here already (an earlier run).
    AlreadyImported,
    /// Not the source's own package: Verdaccio's copy of an uplink's package.
    NotLocal,
    /// It could not be imported: the reason says why.
    Failed,
}

/// Something not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// `name@version`, or `name` for a whole package or a package-level change.
    pub target: String,
    pub kind: SkipKind,
    pub reason: String,
}

impl Skip {
    fn failed(target: impl Into<String>, reason: impl Into<String>) -> Self {
        Skip {
            target: target.into(),
            kind: SkipKind::Failed,
            reason: reason.into(),
        }
    }
}

/// What a source reader found: the packages to import, and what it could not use at all.
#[derive(Debug, Default)]
pub struct Listing {
    pub packages: Vec<SourcePackage>,
    pub skipped: Vec<Skip>,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub source: Source,
    pub dir: String,
    /// `(name, version)` published by this run.
    pub imported: Vec<(String, String)>,
    pub skipped: Vec<Skip>,
    /// Accounts made for owners who had none here (no password: an admin sets one).
    pub accounts_created: Vec<String>,
    /// Package-level changes applied: dist-tags, deprecations, owners.
    pub changes: Vec<String>,
}

impl ImportReport {
    fn count(&self, kind: SkipKind) -> usize {
        self.skipped.iter().filter(|s| s.kind == kind).count()
    }

    /// What could not be imported for a reason other than "already here" or "not the
    /// source's own package": the command's exit status is non-zero when this is not 0.
    pub fn failed(&self) -> usize {
        self.count(SkipKind::Failed)
    }

    /// The one-line summary.
    pub fn summary(&self) -> String {
        let packages: std::collections::BTreeSet<&str> =
            self.imported.iter().map(|(n, _)| n.as_str()).collect();
        let mut line = format!(
            "Imported {} version(s) of {} package(s) from {} ({}); skipped {} already imported, {} not local, {} failed",
            self.imported.len(),
            packages.len(),
            self.source.shown(),
            self.dir,
            self.count(SkipKind::AlreadyImported),
            self.count(SkipKind::NotLocal),
            self.failed(),
        );
        if !self.accounts_created.is_empty() {
            line.push_str(&format!(
                "; created {} account(s) without a password: {}",
                self.accounts_created.len(),
                self.accounts_created.join(", ")
            ));
        }
        line.push('.');
        line
    }

    /// The report as the admin API and `--json` give it.
    pub fn to_json(&self) -> Value {
        json!({
            "source": self.source.name(),
            "dir": self.dir,
            "summary": self.summary(),
            "failed": self.failed(),
            "imported": self.imported.iter().map(|(name, version)| {
                json!({"package": name, "version": version})
            }).collect::<Vec<_>>(),
            "skipped": self.skipped.iter().map(|s| {
                json!({"target": s.target, "kind": s.kind, "reason": s.reason})
            }).collect::<Vec<_>>(),
            "accountsCreated": self.accounts_created,
            "changes": self.changes,
        })
    }
}

/// Imports what `dir` holds from `source`; `actor` is who asked (audited as `import.seed` or
/// `import.verdaccio`, with the summary; each version is also audited as `npm.publish`, by the
/// package's first owner).
pub async fn import(
    core: &Core,
    actor: &Actor,
    source: Source,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<ImportReport, ImportError> {
    let result = run(core, actor, source, dir, progress).await;
    let action = format!("import.{}", source.name());
    let target = format!("dir:{}", dir.display());
    let outcome = match &result {
        Ok(report) => Outcome::OkWith(report.summary()),
        Err(ImportError::Source(e)) => Outcome::Denied(e.clone()),
        Err(e) => Outcome::Failed(e.to_string()),
    };
    core.audit.record(actor, &action, target, outcome);
    result
}

async fn run(
    core: &Core,
    actor: &Actor,
    source: Source,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<ImportReport, ImportError> {
    if !dir.is_absolute() {
        return Err(ImportError::Source(format!(
            "{} is a relative path; give the directory's absolute path",
            dir.display()
        )));
    }
    let max_name = core.settings.limits.max_name_length;
    let owned = dir.to_path_buf();
    let (root, listing) = tokio::task::spawn_blocking(move || match source {
        Source::Seed => seed::read(&owned, max_name),
        Source::Verdaccio => verdaccio::read(&owned, max_name),
    })
    .await
    .map_err(|e| ImportError::Source(e.to_string()))??;
    let mut report = ImportReport {
        source,
        dir: root.display().to_string(),
        imported: Vec::new(),
        skipped: listing.skipped,
        accounts_created: Vec::new(),
        changes: Vec::new(),
    };
    let total = listing
        .packages
        .iter()
        .map(|p| p.versions.len() as u64)
        .sum();
    progress.stage("importing versions", total);
    for package in listing.packages {
        import_package(core, actor, &root, package, &mut report, progress).await?;
    }
    Ok(report)
}

/// The directory as it really is (symbolic links resolved), which every file read must stay in.
pub(crate) fn real_dir(dir: &Path) -> Result<PathBuf, ImportError> {
    let real = std::fs::canonicalize(dir)
        .map_err(|e| ImportError::Source(format!("cannot open {}: {e}", dir.display())))?;
    if !real.is_dir() {
        return Err(ImportError::Source(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    Ok(real)
}

/// A cap on a file's size, and the name it goes by in messages.
pub(crate) struct Cap {
    pub bytes: u64,
    pub named: &'static str,
}

/// Reads `root/rel` whole, at most `cap` bytes, refusing a path that is not plain names or that
/// resolves (through a symbolic link) outside `root`. The error is the skip's reason.
pub(crate) fn read_inside(root: &Path, rel: &Path, cap: Cap) -> Result<Vec<u8>, String> {
    let max = cap.bytes;
    use std::io::Read;
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!("{} is not a plain relative path", rel.display()));
    }
    let real = match std::fs::canonicalize(root.join(rel)) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{} is missing", rel.display()));
        }
        Err(e) => return Err(format!("cannot read {}: {e}", rel.display())),
    };
    if !real.starts_with(root) {
        return Err(format!(
            "{} leads outside the directory (a symbolic link); not read",
            rel.display()
        ));
    }
    let file =
        std::fs::File::open(&real).map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", rel.display()));
    }
    let too_big = |size: u64| {
        format!(
            "{} is {size} bytes, more than {} ({max})",
            rel.display(),
            cap.named
        )
    };
    if meta.len() > max {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", rel.display()))?;
    if bytes.len() as u64 > max {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Whether `bytes` are what the source says they are; the mismatch, if not.
fn check_expected(expected: &Expected, bytes: &[u8]) -> Result<(), String> {
    match expected {
        Expected::Sha256(hex_digest) => {
            let actual = hex::encode(sha2::Sha256::digest(bytes));
            if &actual == hex_digest {
                Ok(())
            } else {
                Err(format!(
                    "checksum mismatch: the source records sha256:{hex_digest}, the tarball hashes to sha256:{actual}"
                ))
            }
        }
        Expected::Npm { integrity, shasum } => {
            if integrity.is_none() && shasum.is_none() {
                return Err("the source records no integrity or shasum for it".into());
            }
            if let Some(integrity) = integrity {
                let digest = |algo: &str| -> Option<Vec<u8>> {
                    Some(match algo {
                        "sha512" => sha2::Sha512::digest(bytes).to_vec(),
                        "sha384" => sha2::Sha384::digest(bytes).to_vec(),
                        "sha256" => sha2::Sha256::digest(bytes).to_vec(),
                        "sha1" => sha1::Sha1::digest(bytes).to_vec(),
                        _ => return None,
                    })
                };
                // SRI may list several hashes; each one we know must match, and one must.
                let mut known = 0;
                for part in integrity.split_whitespace() {
                    let Some((algo, b64)) = part.split_once('-') else {
                        continue;
                    };
                    let Some(actual) = digest(algo) else { continue };
                    known += 1;
                    let actual = base64::engine::general_purpose::STANDARD.encode(actual);
                    if actual != b64 {
                        return Err(format!(
                            "integrity mismatch: the source records {part}, the tarball hashes to {algo}-{actual}"
                        ));
                    }
                }
                if known == 0 && shasum.is_none() {
                    return Err(format!(
                        "the source's integrity {integrity:?} names no hash this registry knows"
                    ));
                }
            }
            if let Some(shasum) = shasum {
                let actual = hex::encode(sha1::Sha1::digest(bytes));
                if !actual.eq_ignore_ascii_case(shasum) {
                    return Err(format!(
                        "shasum mismatch: the source records {shasum}, the tarball hashes to {actual}"
                    ));
                }
            }
            Ok(())
        }
    }
}

/// The account every version of a package is published by: its first valid owner, or the admin
/// user (as a publish with the configured admin token would) when the source names none. It
/// has publish scope, not admin: the import takes over no package that someone else owns here,
/// and the shadowing guard applies as to any publish.
fn importer(owners: &[String]) -> Caller {
    Caller {
        user: owners
            .first()
            .cloned()
            .unwrap_or_else(|| ADMIN_USER.to_string()),
        scope: TokenScope::Publish,
        restriction: None,
        token_hash: None,
        token_id: None,
        address: None,
    }
}

/// The owner names the source gives that can be accounts here, in order, at most
/// [`MAX_OWNERS`]; the others are reported.
fn owner_names(package: &SourcePackage, report: &mut ImportReport) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for owner in &package.owners {
        if names.contains(&owner.name) || names.len() >= MAX_OWNERS {
            continue;
        }
        match crate::core::auth::validate_user_name(&owner.name) {
            Ok(()) => names.push(owner.name.clone()),
            Err(e) => report.skipped.push(Skip::failed(
                package.name.as_str(),
                format!("maintainer {:?} cannot be an owner here: {e}", owner.name),
            )),
        }
    }
    names
}

/// Makes the accounts (without a password) of the owners who have none; the owners who have
/// one now.
async fn owner_accounts(
    core: &Core,
    actor: &Actor,
    package: &SourcePackage,
    names: Vec<String>,
    report: &mut ImportReport,
) -> Result<Vec<String>, ImportError> {
    let mut accounts = Vec::new();
    for name in names {
        if core.store.user(&name).await?.is_none() {
            let email = package
                .owners
                .iter()
                .find(|o| o.name == name)
                .and_then(|o| o.email.as_deref())
                .filter(|e| crate::core::users::validate_email(e).is_ok());
            let why = format!(
                "imported from {} as a maintainer of {}; no password",
                report.source.shown(),
                package.name
            );
            match admin::create_passwordless(core, actor, &name, email.unwrap_or(""), &why).await {
                Ok(_) => report.accounts_created.push(name.clone()),
                // Made meanwhile by someone else: it exists, which is all that is needed.
                Err(admin::AdminError::Conflict(_)) => {}
                Err(e) => {
                    report.skipped.push(Skip::failed(
                        package.name.as_str(),
                        format!("cannot create the account of maintainer {name}: {e}"),
                    ));
                    continue;
                }
            }
        }
        accounts.push(name);
    }
    Ok(accounts)
}

async fn import_package(
    core: &Core,
    actor: &Actor,
    root: &Path,
    mut package: SourcePackage,
    report: &mut ImportReport,
    progress: &dyn Progress,
) -> Result<(), ImportError> {
    let owners = owner_names(&package, report);
    let caller = importer(&owners);
    package.versions.sort_by(|a, b| a.version.cmp(&b.version));
    for version in &package.versions {
        let target = format!("{}@{}", package.name, version.version);
        match import_version(core, &caller, root, &package, version).await? {
            None => report
                .imported
                .push((package.name.to_string(), version.version.to_string())),
            Some((kind, reason)) => report.skipped.push(Skip {
                target,
                kind,
                reason,
            }),
        }
        progress.advance(1);
    }
    // Accounts are made only for a package that is here: none for one that failed whole.
    let Some(here) = core.store.package(package.name.as_str()).await? else {
        return Ok(());
    };
    let owners = owner_accounts(core, actor, &package, owners, report).await?;
    apply_package_state(core, &caller, &package, here, &owners, report).await
}

/// Imports one version: `None` when it was published, else why not.
async fn import_version(
    core: &Core,
    caller: &Caller,
    root: &Path,
    package: &SourcePackage,
    version: &SourceVersion,
) -> Result<Option<(SkipKind, String)>, ImportError> {
    let failed = |reason: String| Ok(Some((SkipKind::Failed, reason)));
    let max = core.settings.limits.max_tarball_bytes;
    let (dir, rel) = (root.to_path_buf(), version.tarball.clone());
    let bytes = match tokio::task::spawn_blocking(move || {
        let cap = Cap {
            bytes: max,
            named: "limits.max_tarball_bytes",
        };
        read_inside(&dir, &rel, cap)
    })
    .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(reason)) => return failed(reason),
        Err(e) => return failed(e.to_string()),
    };
    if let Err(reason) = check_expected(&version.expected, &bytes) {
        return failed(reason);
    }
    let name = package.name.as_str();
    let number = version.version.to_string();
    if let Some(here) = core.store.version(name, &number).await? {
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        return Ok(Some(if here.tarball.sha256 == sha256 {
            (SkipKind::AlreadyImported, "already imported".into())
        } else {
            (
                SkipKind::Failed,
                format!("a different tarball is already published as {name}@{number}"),
            )
        }));
    }
    let mut metadata = package.metadata.clone();
    metadata.insert("name".into(), Value::String(name.to_string()));
    metadata.insert("version".into(), Value::String(number.clone()));
    let tarball = Bytes::from(bytes);
    // The work budget may be taken by uploads the server is unpacking: wait for a slot.
    let mut waits = 0;
    loop {
        let request = PublishRequest {
            metadata: Some(metadata.clone()),
            tarball: tarball.clone(),
            tags: None,
            published_at: version.published_at,
        };
        return match publish::publish(core, caller, request).await {
            Ok(_) => Ok(None),
            Err(PublishError::Busy(_)) if waits < 100 => {
                waits += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
            Err(PublishError::Store(e)) => Err(e.into()),
            Err(PublishError::Blob(e)) => Err(ImportError::Store(e.to_string())),
            Err(e) => failed(e.to_string()),
        };
    }
}

/// Applies the source's dist-tags, deprecations and owners where the package here differs.
async fn apply_package_state(
    core: &Core,
    caller: &Caller,
    package: &SourcePackage,
    here: crate::store::PackageRecord,
    owners: &[String],
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let name = package.name.as_str();
    let stored: BTreeMap<String, Option<String>> = core
        .store
        .versions(name)
        .await?
        .into_iter()
        .map(|v| {
            let deprecated = v.manifest.get("deprecated").and_then(Value::as_str);
            (v.version.clone(), deprecated.map(str::to_string))
        })
        .collect();
    for (tag, version) in &package.dist_tags {
        if !stored.contains_key(version) || here.dist_tags.get(tag) == Some(version) {
            continue;
        }
        match packages::set_dist_tag(core, caller, name, tag, version).await {
            Ok(_) => report
                .changes
                .push(format!("{name}: dist-tag {tag} -> {version}")),
            Err(packages::ChangeError::Store(e)) => return Err(e.into()),
            Err(e) => report.skipped.push(Skip::failed(
                name,
                format!("cannot set the dist-tag {tag} -> {version}: {e}"),
            )),
        }
    }
    let mut change = DocumentChange::default();
    for version in &package.versions {
        let number = version.version.to_string();
        if let (Some(message), Some(current)) = (&version.deprecated, stored.get(&number))
            && current.as_ref() != Some(message)
        {
            change.deprecations.insert(number, Some(message.clone()));
        }
    }
    let missing: Vec<&String> = owners.iter().filter(|o| !here.owners.contains(o)).collect();
    if !missing.is_empty() {
        let mut all = here.owners.clone();
        all.extend(missing.into_iter().cloned());
        all.truncate(MAX_OWNERS);
        change.owners = Some(all);
    }
    if change.deprecations.is_empty() && change.owners.is_none() {
        return Ok(());
    }
    let described: Vec<String> = change
        .deprecations
        .keys()
        .map(|v| format!("{name}@{v}: deprecated"))
        .chain(
            change
                .owners
                .iter()
                .map(|o| format!("{name}: owners {}", o.join(", "))),
        )
        .collect();
    match packages::apply_document(core, caller, name, change).await {
        Ok(_) => report.changes.extend(described),
        Err(packages::ChangeError::Store(e)) => return Err(e.into()),
        Err(e) => report.skipped.push(Skip::failed(
            name,
            format!("cannot apply the deprecations and owners: {e}"),
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_checks() {
        let bytes = b"tarball bytes";
        let sri = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes))
        );
        let sha1 = hex::encode(sha1::Sha1::digest(bytes));
        let npm = |integrity: Option<&str>, shasum: Option<&str>| Expected::Npm {
            integrity: integrity.map(str::to_string),
            shasum: shasum.map(str::to_string),
        };
        assert!(check_expected(&npm(Some(&sri), Some(&sha1)), bytes).is_ok());
        assert!(check_expected(&npm(None, Some(&sha1)), bytes).is_ok());
        assert!(check_expected(&npm(Some(&sri), None), b"other").is_err());
        assert!(check_expected(&npm(None, Some(&sha1)), b"other").is_err());
        assert!(check_expected(&npm(None, None), bytes).is_err());
        assert!(check_expected(&npm(Some("md5-xyz"), None), bytes).is_err());
        let sha256 = hex::encode(sha2::Sha256::digest(bytes));
        assert!(check_expected(&Expected::Sha256(sha256), bytes).is_ok());
        assert!(check_expected(&Expected::Sha256("00".repeat(32)), bytes).is_err());
    }

    fn cap(bytes: u64) -> Cap {
        Cap {
            bytes,
            named: "the cap",
        }
    }

    #[test]
    fn reads_stay_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("in")).unwrap();
        std::fs::write(root.join("in/a.tgz"), b"abc").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("in/link.tgz"))
            .unwrap();
        assert_eq!(
            read_inside(&root, Path::new("in/a.tgz"), cap(10)).unwrap(),
            b"abc"
        );
        assert!(
            read_inside(&root, Path::new("in/a.tgz"), cap(2))
                .unwrap_err()
                .contains("more than")
        );
        assert!(
            read_inside(&root, Path::new("in/link.tgz"), cap(10))
                .unwrap_err()
                .contains("outside")
        );
        assert!(read_inside(&root, Path::new("../x"), cap(10)).is_err());
        assert!(read_inside(&root, Path::new("/etc/passwd"), cap(10)).is_err());
        assert!(
            read_inside(&root, Path::new("in/none.tgz"), cap(10))
                .unwrap_err()
                .contains("missing")
        );
    }
}
