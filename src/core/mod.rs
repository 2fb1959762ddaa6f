//! The use cases every wire shape shares: publish, resolve, download, authenticate.
//! Nothing here knows about HTTP; the routes translate to and from these calls.

pub mod access;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod browse;
pub mod budget;
pub mod catalog;
pub mod downloads;
pub mod follow;
pub mod import;
pub mod install;
pub mod jobs;
pub mod names;
pub mod packages;
pub mod proxy;
pub mod publish;
pub mod references;
pub mod rendered;
pub mod resolve;
pub mod tarball;
pub mod timestamps;
pub mod transfer;
pub mod users;
pub mod verify;

use std::sync::Arc;

use crate::blobs::BlobStore;
use crate::config::Settings;
use crate::store::{MetadataStore, StoreError, StoreResult};

tokio::task_local! {
    /// The scheme and host the client used for the request being answered (`http://host:port`),
    /// when `server.base_url` is unset: URLs handed out (tarballs in packuments and lockfiles)
    /// then work through whichever address the client reached the registry by. Set by the HTTP
    /// edge around each request.
    pub static REQUEST_BASE: String;

    /// The address of the client whose request is being answered (see
    /// [`crate::http::edge::client_address`]), for what is remembered per client (a download
    /// an install report then names). Set by the HTTP edge around each request.
    pub static CLIENT_ADDRESS: Option<std::net::IpAddr>;
}

/// The address of the client being answered, if a request is.
pub fn client_address() -> Option<std::net::IpAddr> {
    CLIENT_ADDRESS.try_with(|a| *a).ok().flatten()
}

/// The registry's parts, shared by every request.
pub struct Core {
    pub settings: Settings,
    /// The public URL without a trailing slash: `server.base_url`, or when it is unset, what
    /// URLs outside any request use (see [`Core::url_base`]).
    pub public_url: String,
    pub store: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub downloads: downloads::DownloadCounter,
    /// Failed password checks per user name, for throttling guessers.
    pub login_failures: users::LoginThrottle,
    /// The npm fallback: the upstream, its locks, the cache's bookkeeping.
    pub fallback: proxy::Fallback,
    /// The package search index.
    pub search: crate::search::Search,
    /// Orders blob stores and their records against blob deletion.
    pub blob_gate: references::BlobGate,
    /// Slots for unpacking and hashing uploads.
    pub work: budget::WorkBudget,
    /// Counters for rate limits, in this process.
    pub rates: Arc<dyn crate::store::RateStore>,
    /// Counters in the shared store, when instances share one: the login, token and write
    /// limits hold across all of them (reads stay counted per instance, so that no read
    /// waits on a counter write).
    pub shared_rates: Option<Arc<dyn crate::store::RateStore>>,
    /// Audit entries on their way to the store.
    pub audit: audit::AuditLog,
    /// Token uses on their way to the store.
    pub token_uses: auth::TokenUses,
    /// Maintenance jobs started while serving.
    pub jobs: jobs::Jobs,
    /// Who may read what.
    pub access: access::ReadPolicy,
    /// Documents as served, until their package changes.
    pub rendered: Arc<rendered::RenderedCache>,
}

/// The shareable parts of [`Core`] that background work (a tarball transfer, an eviction)
/// needs after the request that started it is gone.
#[derive(Clone)]
pub struct CoreParts {
    pub store: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub cache_max_bytes: u64,
    pub blob_gate: references::BlobGate,
    /// With a store other instances write to: how long `gc` waits, between finding the blobs
    /// nothing names and deleting them, for their uploads' records to commit.
    pub gc_grace: Option<std::time::Duration>,
}

/// The canonical tarball URL of an npm package version: `{public}/npm/{name}/-/{bare}-{version}.tgz`.
pub fn tarball_url(core: &Core, name: &str, version: &str) -> String {
    let bare = name.rsplit('/').next().unwrap_or(name);
    format!("{}/npm/{name}/-/{bare}-{version}.tgz", core.url_base())
}

impl Core {
    /// Runs a store write that changes what search shows, then drops the package's rendered
    /// documents and tells the search index. All
    /// run to completion even when the request that started them is dropped: a client hanging
    /// up mid-publish must not leave a published package unsearchable.
    pub async fn write_and_index<T: Send + 'static>(
        &self,
        ecosystem: crate::search::Ecosystem,
        name: &str,
        write: impl std::future::Future<Output = StoreResult<T>> + Send + 'static,
    ) -> StoreResult<T> {
        let search = self.search.clone();
        let rendered = self.rendered.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let result = write.await;
            if result.is_ok() {
                rendered.invalidate(&name);
                search.changed(ecosystem, &name);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    /// The registry's packages as the search index reads them.
    pub fn catalog(&self) -> Arc<dyn crate::search::Documents> {
        Arc::new(catalog::Catalog {
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            npm: self.settings.npm.clone(),
        })
    }

    /// The base of every URL handed out while answering the current request: the request's own
    /// address when `server.base_url` is unset (see [`REQUEST_BASE`]), else the configured one.
    pub fn url_base(&self) -> String {
        REQUEST_BASE
            .try_with(Clone::clone)
            .unwrap_or_else(|_| self.public_url.clone())
    }

    pub fn clone_parts(&self) -> CoreParts {
        CoreParts {
            store: self.store.clone(),
            blobs: self.blobs.clone(),
            cache_max_bytes: self.settings.npm.cache_max_bytes,
            blob_gate: self.blob_gate.clone(),
            gc_grace: self
                .settings
                .metadata_backend
                .is_shared()
                .then_some(self.settings.gc_grace),
        }
    }
}
