//! What the index holds about one package: its latest version's description, keywords,
//! people, links and readme, whether it is deprecated, where it comes from, and its downloads in
//! the last 30 days; and the [`Documents`] port the index reads them through.

use async_trait::async_trait;

use super::{DocKey, Ecosystem, Origin};
use crate::store::StoreResult;

/// How much of a readme is indexed.
pub const README_EXCERPT_BYTES: usize = 4096;

/// One package as the index knows it. Stored (without the readme) as the document's payload.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchDoc {
    pub ecosystem: Ecosystem,
    pub name: String,
    /// The `latest` version.
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    /// The author's name from the manifest.
    pub author: Option<String>,
    /// Who published the latest version.
    pub publisher: Option<String>,
    /// Owners' user names.
    pub maintainers: Vec<String>,
    /// The deprecation message of the latest version.
    pub deprecated: Option<String>,
    pub origin: Origin,
    /// Downloads in the last 30 UTC days, today included.
    pub downloads_30d: u64,
    /// When the package last changed (RFC 3339).
    pub date: Option<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
    pub repository: Option<String>,
    pub bugs: Option<String>,
    #[serde(skip)]
    pub readme: String,
}

impl SearchDoc {
    pub fn key(&self) -> DocKey {
        DocKey::new(self.ecosystem, &self.name)
    }

    /// The scope without `@`, for scoped names.
    pub fn scope(&self) -> Option<&str> {
        crate::core::names::scope_of(&self.name).map(|s| &s[1..])
    }
}

/// Where the index's documents come from: the registry's packages as they stand now. The core
/// implements it (`core::catalog`), so the index knows no package format and no proxy policy.
#[async_trait]
pub trait Documents: Send + Sync {
    /// Every package the index should hold.
    async fn keys(&self) -> StoreResult<Vec<DocKey>>;
    /// The package `key` as the index should show it (its `downloads_30d` is filled in by the
    /// index), or `None` when it should not be in the index.
    async fn document(&self, key: &DocKey) -> StoreResult<Option<SearchDoc>>;
    /// The settings that decide which packages are indexed, as text: an index built under
    /// other settings is rebuilt.
    fn policy(&self) -> String;
}
