//! Putting the registry together: the [`Registry`] builder, its routes, and serving them with
//! graceful shutdown and the background download-count flusher.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use poem::listener::TcpAcceptor;
use poem::{Endpoint, EndpointExt, IntoEndpoint, Route};
use poem_openapi::OpenApiService;

use crate::api::analytics::AnalyticsApi;
use crate::api::downloads::DownloadsApi;
use crate::api::packages::PackagesApi;
use crate::api::publish::PublishApi;
use crate::api::search::SearchApi;
use crate::api::zig::ZigApi;
use crate::blobs::BlobStore;
use crate::blobs::fs::FsBlobStore;
use crate::config::{BlobBackend, Layers, MetadataBackend, Settings, Source};
use crate::core::audit::Actor;
use crate::core::{Core, auth};
use crate::http::health::HealthApi;
use crate::store::redb_store::{OpenError, RedbStore};
use crate::store::{MetadataStore, TokenScope};

/// Why a registry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] OpenError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot open the blob store: {0}")]
    Blobs(crate::blobs::BlobError),
    #[error("cannot open the DynamoDB store: {0}")]
    Dynamo(crate::store::dynamo::DynamoOpenError),
    #[error("cannot move cached packument bodies into the blob store: {0}")]
    Migration(#[from] crate::store::StoreError),
}

/// Builds a [`Registry`] from settings; every setter overrides one setting.
#[derive(Clone)]
pub struct RegistryBuilder {
    layers: Layers,
}

impl RegistryBuilder {
    fn set(mut self, key: &str, value: String) -> Self {
        self.layers
            .set(key, value, Source::Code)
            .expect("builder keys are declared");
        self
    }

    /// Starts from already-layered settings (file, environment, flags), as the binary does.
    pub fn layers(mut self, layers: Layers) -> Self {
        self.layers = layers;
        self
    }

    /// Where the metadata database and tarballs live (default `./.registry`).
    pub fn data_dir(self, dir: impl Into<PathBuf>) -> Self {
        let dir: PathBuf = dir.into();
        self.set("storage.data_dir", dir.to_string_lossy().into_owned())
    }

    /// The public URL used in every URL the server hands out.
    pub fn base_url(self, url: impl Into<String>) -> Self {
        self.set("server.base_url", url.into())
    }

    /// A token accepted with admin scope (what `PANTRY_REGISTRY_TOKEN` sets).
    pub fn admin_token(self, token: impl Into<String>) -> Self {
        self.set("auth.admin_token", token.into())
    }

    /// Sets any configuration key by its dotted name, as in `config.example.toml`.
    pub fn setting(mut self, key: &str, value: impl Into<String>) -> Result<Self, BuildError> {
        self.layers.set(key, value.into(), Source::Code)?;
        Ok(self)
    }

    /// Opens the data directory and the metadata store (migrating it if needed).
    pub async fn build(self) -> Result<Registry, BuildError> {
        let settings = self.layers.resolve()?;
        crate::http::metrics::install();
        let dir = settings.data_dir.clone();
        let (metadata, blob_backend) = (settings.metadata_backend, settings.blob_backend);
        let s3 = settings.s3.clone();
        // The one place backends are chosen: each setting names an implementation.
        // A shared store also keeps the rate counters every instance must agree on.
        let dynamo = match metadata {
            MetadataBackend::DynamoDb => Some(
                crate::store::dynamo::DynamoStore::open(&settings.dynamodb)
                    .await
                    .map_err(BuildError::Dynamo)?,
            ),
            MetadataBackend::Redb => None,
        };
        let shared_rates = dynamo
            .clone()
            .map(|d| Arc::new(d) as Arc<dyn crate::store::RateStore>);
        let opened = tokio::task::spawn_blocking(move || -> Result<_, BuildError> {
            std::fs::create_dir_all(&dir).map_err(|source| BuildError::DataDir {
                path: dir.clone(),
                source,
            })?;
            let store: Arc<dyn MetadataStore> = match dynamo {
                Some(d) => Arc::new(d),
                None => Arc::new(RedbStore::open(&dir.join("registry.redb"))?),
            };
            let blobs: Arc<dyn BlobStore> = match blob_backend {
                BlobBackend::Disk => {
                    Arc::new(FsBlobStore::open(&dir.join("blobs")).map_err(|source| {
                        BuildError::DataDir {
                            path: dir.join("blobs"),
                            source,
                        }
                    })?)
                }
                BlobBackend::S3 => {
                    Arc::new(crate::blobs::s3::S3BlobStore::open(&s3).map_err(BuildError::Blobs)?)
                }
            };
            Ok((store, blobs))
        })
        .await
        .expect("opening the store does not panic")?;
        let (store, blobs) = opened;
        let public_url = settings.public_url();
        let upstream = crate::upstream::UpstreamClient::new(crate::upstream::ClientSettings {
            upstream: settings.npm.upstream.clone(),
            token: settings.npm.upstream_token.clone(),
            timeout: settings.npm.upstream_timeout,
            max_packument_bytes: settings.npm.max_packument_bytes,
            max_tarball_bytes: settings.limits.max_tarball_bytes,
        });
        let search = crate::search::Search::new(
            settings.data_dir.join("search"),
            settings.search.max_query_chars,
        );
        let work = crate::core::budget::WorkBudget::new(
            settings.limits.max_concurrent_unpacks,
            settings.limits.unpack_wait,
        );
        let access = crate::core::access::ReadPolicy::new(&settings.access, settings.npm.fallback);
        let rendered = Arc::new(crate::core::rendered::RenderedCache::new(
            settings.rendered_max_bytes,
        ));
        let core = Arc::new(Core {
            access,
            rendered,
            settings,
            public_url,
            store,
            blobs,
            downloads: Default::default(),
            login_failures: Default::default(),
            fallback: crate::core::proxy::Fallback::new(Arc::new(upstream)),
            search,
            blob_gate: Default::default(),
            work,
            rates: Arc::new(crate::store::rates::MemoryRates::default()),
            shared_rates,
            audit: Default::default(),
            token_uses: Default::default(),
            jobs: Default::default(),
        });
        // Packument bodies a schema-7 database kept inline move into the blob store (the
        // schema-8 step that needs both stores).
        let moved = crate::core::proxy::cache::move_inline_bodies(&core.clone_parts()).await?;
        if moved > 0 {
            tracing::info!(
                packuments = moved,
                "moved cached packument bodies into the blob store"
            );
        }
        Ok(Registry { core })
    }
}

/// Whether the configured data directory holds a registry already (an admin command must not
/// make an empty one by mistake: the wrong directory would give an empty database and tokens
/// the real server rejects).
pub fn holds_a_registry(settings: &Settings) -> bool {
    match settings.metadata_backend {
        MetadataBackend::Redb => settings.data_dir.join("registry.redb").exists(),
        // Opening the tables checks they were made by `init-aws`.
        MetadataBackend::DynamoDb => true,
    }
}

/// Where `pantry-registry migrate` moves a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationTarget {
    /// From `storage.data_dir` (its redb file and blobs) to the DynamoDB table and S3 bucket.
    Aws,
    /// From the DynamoDB table and S3 bucket to `storage.data_dir`.
    Local,
}

/// Moves everything from one back end to the other and checks the destination holds the same
/// (see `core::transfer`). The local side is `storage.data_dir` (its `registry.redb` and
/// `blobs/`), the other the configured DynamoDB table and S3 bucket (created when moving to
/// them, as `init-aws` does). Safe to run again after an interruption.
pub async fn migrate(
    settings: &Settings,
    target: MigrationTarget,
    progress: &dyn crate::core::transfer::Progress,
) -> Result<crate::core::transfer::Report, String> {
    use crate::core::transfer::Side;
    if settings.dynamodb.table.is_empty() || settings.s3.bucket.is_empty() {
        return Err("migrate needs both a DynamoDB table (storage.dynamodb_table, env DYNAMODB_TABLE) and an S3 bucket (storage.s3_bucket, env S3_BUCKET)".into());
    }
    let dir = settings.data_dir.clone();
    let database = dir.join("registry.redb");
    if target == MigrationTarget::Aws && !database.exists() {
        return Err(format!(
            "there is no registry in {} to migrate (no registry.redb)",
            dir.display()
        ));
    }
    let local = tokio::task::spawn_blocking(move || -> Result<Side, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let store = RedbStore::open(&database).map_err(|e| e.to_string())?;
        let blobs = FsBlobStore::open(&dir.join("blobs"))
            .map_err(|e| format!("{}: {e}", dir.join("blobs").display()))?;
        Ok(Side {
            store: Arc::new(store),
            blobs: Arc::new(blobs),
        })
    })
    .await
    .map_err(|e| e.to_string())??;
    if target == MigrationTarget::Aws {
        crate::store::dynamo::DynamoStore::init(&settings.dynamodb)
            .await
            .map_err(|e| format!("creating the DynamoDB tables: {e}"))?;
        crate::blobs::s3::ensure_bucket(&settings.s3)
            .await
            .map_err(|e| format!("creating the bucket: {e}"))?;
    }
    let aws = Side {
        store: Arc::new(
            crate::store::dynamo::DynamoStore::open(&settings.dynamodb)
                .await
                .map_err(|e| e.to_string())?,
        ),
        blobs: Arc::new(
            crate::blobs::s3::S3BlobStore::open(&settings.s3).map_err(|e| e.to_string())?,
        ),
    };
    let (from, to) = match target {
        MigrationTarget::Aws => (local, aws),
        MigrationTarget::Local => (aws, local),
    };
    crate::core::transfer::migrate(&from, &to, progress)
        .await
        .map_err(|e| e.to_string())
}

/// The admin socket of the data directory `data_dir`.
pub fn admin_socket_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// How often the server drops audit entries past `audit.retention_days`.
const AUDIT_PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Every `#[OpenApi]` area of the Pantry API, in the order the document lists them.
type PantryApis = (
    HealthApi,
    PackagesApi,
    SearchApi,
    PublishApi,
    ZigApi,
    AnalyticsApi,
    DownloadsApi,
    crate::api::install::InstallApi,
    crate::api::admin::AdminApi,
);

/// A token just created: its public id and its secret, which is not shown again.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub id: String,
    pub secret: String,
}

/// A package registry, ready to serve.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let registry = pantry_registry::Registry::builder()
///     .data_dir("/var/lib/pantry")
///     .base_url("https://registry.example.com")
///     .build()
///     .await?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// registry.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
/// # Ok(()) }
/// ```
pub struct Registry {
    core: Arc<Core>,
}

impl Registry {
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            layers: Layers::default(),
        }
    }

    /// The settings the registry runs with.
    pub fn settings(&self) -> &Settings {
        &self.core.settings
    }

    /// Whether any token exists (configured admin token or stored tokens).
    pub async fn has_tokens(&self) -> bool {
        self.core.settings.admin_token.is_some()
            || self
                .core
                .store
                .list_tokens()
                .await
                .map(|t| !t.is_empty())
                .unwrap_or(true)
    }

    /// Creates a token and returns its secret (shown once; only its hash is stored).
    pub async fn create_token(
        &self,
        user: &str,
        name: &str,
        scope: TokenScope,
        restriction: Option<&str>,
        expires_at: Option<time::OffsetDateTime>,
    ) -> Result<CreatedToken, String> {
        auth::validate_user_name(user)?;
        let restriction = restriction.map(auth::parse_restriction).transpose()?;
        let minted = auth::mint(user, name, scope, restriction, expires_at);
        let created = crate::core::users::create_token(&self.core, &Actor::cli(), &minted).await;
        self.flush_audit().await;
        created.map_err(|e| e.to_string())?;
        Ok(CreatedToken {
            id: minted.record.id,
            secret: minted.secret,
        })
    }

    /// The blob store the registry keeps tarballs in, for tools and tests that work through
    /// its contract rather than its layout.
    pub fn blob_store(&self) -> Arc<dyn crate::blobs::BlobStore> {
        self.core.blobs.clone()
    }

    /// Every stored token (their records: ids, owners, scopes; never secrets), oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<crate::store::TokenRecord>, String> {
        let mut tokens = self
            .core
            .store
            .list_tokens()
            .await
            .map_err(|e| e.to_string())?;
        tokens.sort_by_key(|t| t.created_at);
        Ok(tokens)
    }

    /// Every user account.
    pub async fn list_users(&self) -> Result<Vec<crate::store::UserRecord>, String> {
        self.core
            .store
            .list_users()
            .await
            .map_err(|e| e.to_string())
    }

    /// Creates a user account (for npm login and package ownership).
    pub async fn create_user(&self, name: &str, email: &str, password: &str) -> Result<(), String> {
        let created =
            crate::core::users::create_user(&self.core, &Actor::cli(), name, email, password).await;
        self.flush_audit().await;
        created.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Creates an account from the command line: with a password, or else an invitation
    /// (returned once). See [`crate::core::admin::create_user`].
    pub async fn create_account(
        &self,
        name: &str,
        email: &str,
        password: Option<&str>,
        admin: bool,
    ) -> Result<(crate::store::UserRecord, Option<String>), String> {
        let created = crate::core::admin::create_user(
            &self.core,
            &Actor::cli(),
            name,
            email,
            password,
            admin,
        )
        .await;
        self.flush_audit().await;
        created.map_err(|e| e.to_string())
    }

    /// Changes an account (disable, enable, admin, password, email).
    pub async fn update_user(
        &self,
        name: &str,
        change: crate::core::admin::UserChange,
    ) -> Result<crate::store::UserRecord, String> {
        let updated =
            crate::core::admin::update_user(&self.core, &Actor::cli(), name, change).await;
        self.flush_audit().await;
        updated.map_err(|e| e.to_string())
    }

    /// Deletes an account and revokes its tokens; how many tokens went.
    pub async fn delete_user(&self, name: &str) -> Result<usize, String> {
        let deleted = crate::core::admin::delete_user(&self.core, &Actor::cli(), name).await;
        self.flush_audit().await;
        deleted.map_err(|e| e.to_string())
    }

    /// Creates a token for an existing account, or (with `service`) for a service account made
    /// for it; an admin token only for an admin account.
    pub async fn create_token_for(
        &self,
        user: &str,
        name: &str,
        scope: TokenScope,
        restriction: Option<&str>,
        expires_at: Option<time::OffsetDateTime>,
        service: bool,
    ) -> Result<CreatedToken, String> {
        use crate::core::admin::TokenFor;
        let for_whom = if service {
            TokenFor::AccountOrService
        } else {
            TokenFor::Account
        };
        let minted = crate::core::admin::create_token(
            &self.core,
            &Actor::cli(),
            user,
            name,
            scope,
            restriction,
            expires_at,
            for_whom,
        )
        .await;
        self.flush_audit().await;
        let minted = minted.map_err(|e| e.to_string())?;
        Ok(CreatedToken {
            id: minted.record.id,
            secret: minted.secret,
        })
    }

    /// Writes the audit entries made so far (the CLI does after each action: it may be stopped
    /// at any time).
    async fn flush_audit(&self) {
        if let Err(e) = self.core.audit.flush(&self.core.store).await {
            tracing::error!(error = %e, "could not write the audit log");
        }
    }

    /// Audit log entries, oldest first.
    pub async fn audit(
        &self,
        filter: &crate::core::audit::AuditFilter,
    ) -> Result<Vec<crate::store::AuditRecord>, String> {
        crate::core::audit::read(&self.core.store, &self.core.audit, filter)
            .await
            .map_err(|e| e.to_string())
    }

    /// What the npm fallback's cache holds.
    pub async fn cache_stats(&self) -> Result<crate::core::proxy::cache::CacheStats, String> {
        crate::core::proxy::cache::stats(&self.core.clone_parts())
            .await
            .map_err(|e| e.to_string())
    }

    /// Prunes the npm fallback's cache (never locally published packages): entries unused for
    /// `older_than`, then least recently used tarballs down to `max_bytes`.
    pub async fn prune_cache(
        &self,
        older_than: Option<time::Duration>,
        max_bytes: Option<u64>,
    ) -> Result<crate::core::proxy::cache::PruneReport, String> {
        let report =
            crate::core::proxy::cache::prune(&self.core.clone_parts(), older_than, max_bytes)
                .await
                .map_err(|e| e.to_string())?;
        if report.packuments_removed > 0 {
            // Cached packages left the store: the index catches up at the next start.
            self.core.search.mark_stale();
        }
        Ok(report)
    }

    /// Deletes blobs that nothing references, or with `dry_run` only lists them (see
    /// [`crate::core::references::gc`]).
    pub async fn gc(
        &self,
        dry_run: bool,
        progress: &(dyn Fn(String) + Send + Sync),
    ) -> Result<crate::core::references::GcReport, String> {
        crate::core::references::gc(&self.core.clone_parts(), dry_run, progress)
            .await
            .map_err(|e| e.to_string())
    }

    /// Re-hashes every blob and checks every record against it (see
    /// [`crate::core::verify::verify`]); repairs nothing.
    pub async fn verify(
        &self,
        progress: &(dyn Fn(String) + Send + Sync),
    ) -> Result<crate::core::verify::VerifyReport, String> {
        crate::core::verify::verify(&self.core.clone_parts(), progress)
            .await
            .map_err(|e| e.to_string())
    }

    /// Writes a backup of the whole registry to `out` (see [`crate::core::backup`]); its
    /// manifest.
    pub async fn backup<W: tokio::io::AsyncWrite + Unpin + Send>(
        &self,
        out: W,
        progress: &dyn crate::core::backup::Progress,
    ) -> Result<crate::core::backup::Manifest, String> {
        let result = crate::core::backup::backup_registry(&self.core, &Actor::cli(), out, progress)
            .await
            .map_err(|e| e.to_string());
        self.flush_audit().await;
        result
    }

    /// Restores a backup (and, for an incremental one, its base) into this registry, which
    /// must be empty, then rebuilds the search index.
    pub async fn restore<R, B>(
        &self,
        input: R,
        base: Option<B>,
        progress: &dyn crate::core::backup::Progress,
    ) -> Result<crate::core::backup::RestoreReport, String>
    where
        R: tokio::io::AsyncRead + Unpin,
        B: tokio::io::AsyncRead + Unpin,
    {
        let scratch = self.core.settings.data_dir.clone();
        let report = crate::core::backup::restore(
            &self.core.clone_parts(),
            &scratch,
            4 * self.core.settings.limits.max_packument_bytes,
            input,
            base,
            progress,
        )
        .await;
        let target = "registry".to_string();
        match &report {
            Ok(r) => self.core.audit.record(
                &Actor::cli(),
                "registry.restore",
                target,
                crate::core::audit::Outcome::OkWith(format!("backup {} of {}", r.id, r.created_at)),
            ),
            Err(e) => self.core.audit.record(
                &Actor::cli(),
                "registry.restore",
                target,
                crate::core::audit::Outcome::Failed(e.to_string()),
            ),
        }
        self.flush_audit().await;
        let report = report.map_err(|e| e.to_string())?;
        progress.stage("rebuilding the search index", 0);
        self.reindex().await?;
        Ok(report)
    }

    /// Imports another registry's storage directory (see [`crate::core::import`]), as the
    /// command line.
    pub async fn import(
        &self,
        from: crate::core::import::Source,
        dir: &std::path::Path,
        progress: &dyn crate::core::transfer::Progress,
    ) -> Result<crate::core::import::ImportReport, String> {
        let report =
            crate::core::import::import(&self.core, &Actor::cli(), from, dir, progress).await;
        self.flush_audit().await;
        report.map_err(|e| e.to_string())
    }

    /// Rebuilds the search index from the store (`pantry-registry reindex`); the number of
    /// packages indexed. Not while a server runs on the same data directory.
    pub async fn reindex(&self) -> Result<usize, String> {
        crate::search::writer::reindex(
            &self.core.search,
            self.core.store.clone(),
            self.core.catalog(),
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// Revokes a token by its public id; `false` if there was none.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, String> {
        let revoked = crate::core::users::revoke_token(&self.core, &Actor::cli(), id).await;
        self.flush_audit().await;
        revoked.map_err(|e| e.to_string())
    }

    /// The OpenAPI service describing every Pantry API route.
    fn openapi(&self) -> OpenApiService<PantryApis, ()> {
        let core = &self.core;
        OpenApiService::new(
            (
                HealthApi { core: core.clone() },
                PackagesApi { core: core.clone() },
                SearchApi { core: core.clone() },
                PublishApi { core: core.clone() },
                ZigApi { core: core.clone() },
                AnalyticsApi { core: core.clone() },
                DownloadsApi { core: core.clone() },
                crate::api::install::InstallApi { core: core.clone() },
                crate::api::admin::AdminApi { core: core.clone() },
            ),
            "Pantry Registry",
            env!("CARGO_PKG_VERSION"),
        )
        .description(
            "A self-hosted registry for npm and Zig packages. Errors are always JSON: `{\"error\": \"...\"}`.",
        )
        .server(core.public_url.clone())
    }

    /// The whole HTTP application, to serve or to nest in another poem app.
    pub fn endpoint(&self) -> impl Endpoint + 'static {
        let connections = &self.core.settings.connections;
        let api = self.openapi();
        let document = crate::api::spec::complete(&api.spec());
        let mut routes = crate::api::spec::path_methods(&document);
        for site_path in [
            "/",
            "/openapi.json",
            "/docs",
            "/metrics",
            "/find",
            "/connect",
            "/login",
            "/logout",
            "/account",
            "/account/tokens",
            "/account/tokens/revoke",
            "/account/users",
            "/account/users/change",
            "/account/audit",
            "/package/{name}",
            "/package/{scope}/{name}",
            "/zig/package/{name}",
            "/assets/{file}",
        ] {
            routes.push((
                site_path.split('/').map(str::to_string).collect(),
                vec!["GET".into()],
            ));
        }
        // npm's reads and publishes of packages named like the Pantry CLI's POST routes.
        for npm_path in ["/npm/resolve", "/npm/download"] {
            routes.push((
                npm_path.split('/').map(str::to_string).collect(),
                vec!["GET".into(), "PUT".into()],
            ));
        }
        let rules = Arc::new(crate::http::edge::EdgeRules {
            trusted_proxies: connections.trusted_proxies.clone(),
            follow_request_base: self.core.settings.base_url.is_empty(),
            routes: crate::http::edge::RouteMethods::new(routes)
                .with_bodies(crate::api::spec::body_types(&document)),
            limiter: crate::http::rate::RateLimiter::new(
                self.core.settings.rate.clone(),
                self.core.rates.clone(),
                self.core.shared_rates.clone(),
            ),
            max_uri_bytes: connections.max_uri_bytes,
            body_pace: crate::http::body::Pace {
                min_bytes_per_sec: connections.body_min_bytes_per_sec,
                grace: connections.body_rate_grace,
            },
            body_memory: crate::http::body::BodyMemory::new(crate::http::body::BodyLimits {
                total: self.core.settings.limits.max_body_memory_bytes,
                max_body: self.core.settings.limits.max_request_bytes,
                max_anonymous: self.core.settings.limits.max_anonymous_body_bytes,
                wait: self.core.settings.limits.unpack_wait,
                exempt: self.core.settings.rate.exempt.clone(),
            }),
        });
        // Swagger UI's files, out of the page poem-openapi generates, for `/docs` (which loads
        // the document from /openapi.json, under the pages' CSP).
        crate::web::docs::install(&api.swagger_ui_html());
        let spec = poem::endpoint::make_sync(move |_| {
            poem::Response::builder()
                .content_type("application/json; charset=utf-8")
                .body(document.clone())
        });
        let scraped = self.core.clone();
        let blob_totals = Arc::new(crate::http::metrics::BlobTotals::default());
        let metrics = poem::endpoint::make(move |req: poem::Request| {
            let (core, totals) = (scraped.clone(), blob_totals.clone());
            async move { crate::http::metrics::scrape(&core, &totals, &req).await }
        });
        let web = crate::web::state(self.core.clone());
        let site = Route::new()
            .at("/openapi.json", spec)
            .at("/metrics", poem::get(metrics))
            .at("/docs", poem::get(crate::web::docs::docs))
            .nest("/", crate::web::routes(web.clone()));
        crate::web::with_account_routes(Route::new(), web)
            .nest(
                "/npm",
                crate::npm::NpmEndpoint::new(self.core.clone())
                    .with_pantry_posts(self.openapi().into_endpoint().map_to_response().boxed()),
            )
            .nest(
                "/",
                crate::web::HtmlNotFound(crate::http::edge::Fallback::new(
                    api.into_endpoint(),
                    site,
                )),
            )
            .data(self.core.clone())
            .around(move |ep, req| {
                let rules = rules.clone();
                async move { crate::http::edge::edge(ep, req, &rules).await }
            })
    }

    /// Serves on `listener` until `shutdown` completes, then lets in-flight requests finish (up to
    /// `server.shutdown_timeout_secs`) and writes pending download counts.
    /// Where the admin socket of this data directory is.
    pub fn admin_socket_path(&self) -> PathBuf {
        admin_socket_path(&self.core.settings.data_dir)
    }

    /// Serves the whole application, as the local admin, on the admin socket in the data
    /// directory (owner-only: whoever can reach it can read the data directory, and so
    /// administers it already). The command line talks to a running server through it.
    fn serve_admin_socket(&self) -> Option<(tokio::task::JoinHandle<()>, PathBuf)> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.admin_socket_path();
        // A socket left by a server that died: this process holds the database, so no other
        // server is behind it.
        let _ = std::fs::remove_file(&path);
        let listener = match std::os::unix::net::UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "no admin socket: the command line cannot reach this server locally");
                return None;
            }
        };
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| listener.set_nonblocking(true))
        {
            tracing::warn!(path = %path.display(), error = %e, "no admin socket");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        let listener = match tokio::net::UnixListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "no admin socket");
                return None;
            }
        };
        let endpoint: Arc<dyn poem::endpoint::DynEndpoint<Output = poem::Response>> =
            Arc::new(poem::endpoint::ToDynEndpoint(
                self.endpoint()
                    .data(crate::api::auth::LocalAdmin)
                    .map_to_response(),
            ));
        let header_timeout = self.core.settings.connections.header_read_timeout;
        let task = tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "admin socket accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let endpoint = endpoint.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let endpoint = endpoint.clone();
                        async move {
                            let here = poem::Addr::Custom("unix", "admin.sock".into());
                            let req: poem::Request = (
                                req,
                                poem::web::LocalAddr(here.clone()),
                                poem::web::RemoteAddr(here),
                                poem::http::uri::Scheme::HTTP,
                            )
                                .into();
                            let resp = endpoint.get_response(req).await;
                            Ok::<_, std::convert::Infallible>(hyper::Response::<
                                http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>,
                            >::from(
                                resp
                            ))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(header_timeout)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        tracing::info!(path = %path.display(), "admin socket ready");
        Some((task, path))
    }

    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let core = self.core.clone();
        let acceptor = crate::http::connection::HygienicAcceptor::new(
            TcpAcceptor::from_tokio(listener)?,
            crate::http::connection::ConnectionLimits {
                idle: core.settings.connections.idle_timeout,
                max_connections: core.settings.connections.max_connections,
                per_address: core.settings.connections.max_connections_per_address,
                exempt: core
                    .settings
                    .rate
                    .exempt
                    .iter()
                    .chain(&core.settings.connections.trusted_proxies)
                    .copied()
                    .collect(),
            },
        );
        let indexer = crate::search::writer::start(
            &core.search,
            core.store.clone(),
            core.catalog(),
            core.settings.search.downloads_refresh,
        );
        let follower = core.settings.metadata_backend.is_shared().then(|| {
            tokio::spawn(crate::core::follow::follow(
                core.clone(),
                core.settings.feed_poll,
            ))
        });
        let admin_socket = self.serve_admin_socket();
        let flusher = tokio::spawn({
            let core = core.clone();
            async move {
                let mut tick = tokio::time::interval(core.settings.download_flush_interval);
                // The first tick prunes at once, then hourly.
                let mut last_audit_prune = std::time::Instant::now() - AUDIT_PRUNE_EVERY;
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = core.downloads.flush(&core.store).await {
                        tracing::warn!(error = %e, "could not write download counts; will retry");
                    }
                    core.fallback.flush_uses(&core).await;
                    if let Err(e) = core.audit.flush(&core.store).await {
                        tracing::warn!(error = %e, "could not write the audit log; will retry");
                    }
                    if let Err(e) = core.token_uses.flush(core.store.as_ref()).await {
                        tracing::warn!(error = %e, "could not record token uses; will retry");
                    }
                    if last_audit_prune.elapsed() >= AUDIT_PRUNE_EVERY {
                        last_audit_prune = std::time::Instant::now();
                        match crate::core::audit::prune(
                            core.store.as_ref(),
                            core.settings.audit_retention,
                        )
                        .await
                        {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(
                                entries = n,
                                "pruned the audit log past audit.retention_days"
                            ),
                            Err(e) => tracing::warn!(error = %e, "could not prune the audit log"),
                        }
                    }
                }
            }
        });
        let result = crate::http::server::serve(
            acceptor,
            self.endpoint(),
            &core.settings.connections,
            shutdown,
            core.settings.shutdown_timeout,
        )
        .await;
        flusher.abort();
        if let Some(follower) = follower {
            follower.abort();
        }
        if let Some((task, path)) = admin_socket {
            task.abort();
            let _ = std::fs::remove_file(path);
        }
        if let Err(e) = core.downloads.flush(&core.store).await {
            tracing::error!(error = %e, "could not write download counts at shutdown");
        }
        core.fallback.flush_uses(&core).await;
        if let Err(e) = core.audit.flush(&core.store).await {
            tracing::error!(error = %e, "could not write the audit log at shutdown");
        }
        if let Err(e) = core.token_uses.flush(core.store.as_ref()).await {
            tracing::error!(error = %e, "could not record token uses at shutdown");
        }
        core.search.shutdown().await;
        if let Err(e) = indexer.await {
            tracing::error!(error = %e, "the search indexer failed");
        }
        tracing::info!("stopped");
        result
    }
}
