//! A whole store read out record by record ([`TransferStore::export`]), in the form the
//! imports of [`TransferStore`] take back: what `backup` writes and `restore` reads.
//!
//! [`by_pages`] reads any store through its paged listings, each package whole at one revision
//! (read again when a write raced the read); a store that has read snapshots (redb) reads
//! everything in one instead.

use tokio::sync::mpsc;

use super::{
    AuditRecord, CachedPackument, DownloadCount, MetadataStore, PackageRecord, ProxiedTarball,
    StoreError, StoreResult, TokenRecord, UserRecord, VersionRecord, ZigPackageRecord,
    ZigVersionRecord,
};

/// How many audit entries one [`ExportRecord::Audit`] holds at most.
pub const AUDIT_CHUNK: usize = 500;

/// One record of a store's export, as its import takes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ExportRecord {
    /// An npm package published here, with its versions and the numbers it unpublished.
    #[serde(rename_all = "camelCase")]
    Package {
        package: PackageRecord,
        versions: Vec<VersionRecord>,
        unpublished: Vec<(String, String)>,
    },
    /// A wholly unpublished npm name and its former owners.
    NameTombstone {
        name: String,
        owners: Vec<String>,
    },
    /// A Zig package with its versions.
    ZigPackage {
        package: ZigPackageRecord,
        versions: Vec<ZigVersionRecord>,
    },
    User {
        user: UserRecord,
    },
    Token {
        token: TokenRecord,
    },
    /// An upstream packument the npm fallback keeps.
    CachedPackument {
        packument: CachedPackument,
    },
    /// An upstream tarball the npm fallback keeps.
    ProxiedTarball {
        tarball: ProxiedTarball,
    },
    /// Every download count of one name (npm, or `zig:` Zig).
    Downloads {
        name: String,
        counts: Vec<DownloadCount>,
    },
    /// Audit entries, in order, under their ids.
    Audit {
        entries: Vec<AuditRecord>,
    },
}

impl ExportRecord {
    /// The blobs this record names (lowercase hex SHA-256 keys), with whether the record is
    /// only a cache of the upstream (its bytes can be fetched again).
    pub fn blobs(&self) -> Vec<(&str, bool)> {
        match self {
            ExportRecord::Package { versions, .. } => versions
                .iter()
                .map(|v| (v.tarball.sha256.as_str(), false))
                .collect(),
            ExportRecord::ZigPackage { versions, .. } => versions
                .iter()
                .map(|v| (v.sha256.as_str(), false))
                .collect(),
            ExportRecord::CachedPackument { packument } => {
                packument.body.iter().map(|b| (b.as_str(), true)).collect()
            }
            ExportRecord::ProxiedTarball { tarball } => vec![(tarball.sha256.as_str(), true)],
            _ => Vec::new(),
        }
    }
}

/// What an export could promise about the moment its records were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// Every record as of one commit.
    Snapshot,
    /// Each package whole at one revision; records of different packages (and accounts,
    /// counts and the audit log) as of moments within the export.
    PerPackage,
}

/// The export's receiver went away (the backup stopped): nothing more to send.
fn closed<T>(_: mpsc::error::SendError<T>) -> StoreError {
    StoreError::Backend("the export's reader stopped".into())
}

/// How many times a package is read again when writes keep changing it during its read.
const REREADS: usize = 20;

/// Exports `store` through its paged listings: each npm package is read whole and read again
/// when its revision moved meanwhile.
pub async fn by_pages(
    store: &dyn MetadataStore,
    sink: &mpsc::Sender<ExportRecord>,
) -> StoreResult<Consistency> {
    let mut after: Option<String> = None;
    loop {
        let page = store.packages_page(after.as_deref(), 200).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        for listed in page {
            if let Some(record) = whole_package(store, &listed.name).await? {
                sink.send(record).await.map_err(closed)?;
            }
        }
    }
    for (name, owners) in store.list_name_tombstones().await? {
        sink.send(ExportRecord::NameTombstone { name, owners })
            .await
            .map_err(closed)?;
    }
    for package in store.list_zig_packages().await? {
        // Zig versions are published once and never changed: no revision to hold still.
        let versions = store.zig_versions(&package.name).await?;
        sink.send(ExportRecord::ZigPackage { package, versions })
            .await
            .map_err(closed)?;
    }
    for user in store.list_users().await? {
        sink.send(ExportRecord::User { user })
            .await
            .map_err(closed)?;
    }
    for token in store.list_tokens().await? {
        sink.send(ExportRecord::Token { token })
            .await
            .map_err(closed)?;
    }
    for packument in store.list_cached_packuments().await? {
        sink.send(ExportRecord::CachedPackument { packument })
            .await
            .map_err(closed)?;
    }
    for tarball in store.list_proxied_tarballs().await? {
        sink.send(ExportRecord::ProxiedTarball { tarball })
            .await
            .map_err(closed)?;
    }
    for (name, _) in store.download_totals().await? {
        let counts = store.downloads(&name).await?;
        sink.send(ExportRecord::Downloads { name, counts })
            .await
            .map_err(closed)?;
    }
    let mut after: Option<String> = None;
    loop {
        let entries = store.audit_page(after.as_deref(), AUDIT_CHUNK).await?;
        let Some(last) = entries.last() else { break };
        after = Some(last.id.clone());
        sink.send(ExportRecord::Audit { entries })
            .await
            .map_err(closed)?;
    }
    Ok(Consistency::PerPackage)
}

/// An npm package with its versions, all as of one revision (`None`: deleted meanwhile).
async fn whole_package(store: &dyn MetadataStore, name: &str) -> StoreResult<Option<ExportRecord>> {
    for _ in 0..REREADS {
        let Some(package) = store.package(name).await? else {
            return Ok(None);
        };
        let versions = store.versions(name).await?;
        let unpublished = store.unpublished_versions(name).await?;
        let again = store.package(name).await?;
        if again.as_ref().map(|p| p.rev) == Some(package.rev) {
            return Ok(Some(ExportRecord::Package {
                package,
                versions,
                unpublished,
            }));
        }
    }
    Err(StoreError::Conflict(format!(
        "{name} kept changing while it was read ({REREADS} times): run the backup again"
    )))
}
