//! Typed settings and where each value came from.
//!
//! Sources, lowest to highest: built-in defaults, the TOML file (`pantry-registry.toml` in the
//! working directory, or `--config`/`PANTRY_CONFIG`), the environment (the seed's names such as
//! `PORT` and `BASE_URL`, plus `PANTRY_<SECTION>_<KEY>` for every key), then command-line flags.
//! Every key is declared once in [`KEYS`]; `config.example.toml` and `config show` follow it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod keys;
pub mod units;

pub use keys::{KEYS, KeySpec};

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag,
    Code,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag => write!(f, "flag"),
            Source::Code => write!(f, "code"),
        }
    }
}

/// A configuration error; the message always names the key and the source of the bad value.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The raw layered values, before typing: key -> (text, source).
#[derive(Debug, Clone)]
pub struct Layers {
    values: BTreeMap<&'static str, (String, Source)>,
}

impl Default for Layers {
    fn default() -> Self {
        Self {
            values: KEYS
                .iter()
                .map(|k| (k.key, (k.default.to_string(), Source::Default)))
                .collect(),
        }
    }
}

fn spec(key: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.key == key)
}

/// The automatic environment name of a key: `server.port` -> `PANTRY_SERVER_PORT`.
pub fn auto_env_name(key: &str) -> String {
    format!("PANTRY_{}", key.replace('.', "_").to_uppercase())
}

impl Layers {
    /// Sets one key from some source; unknown keys are an error naming the key.
    pub fn set(&mut self, key: &str, value: String, source: Source) -> Result<(), ConfigError> {
        let spec = spec(key).ok_or_else(|| {
            ConfigError(format!("unknown configuration key `{key}` (from {source})"))
        })?;
        self.values.insert(spec.key, (value, source));
        Ok(())
    }

    /// Reads a TOML file; tables become dotted keys. Unknown keys are an error.
    pub fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        let table: toml::Table = text.parse().map_err(|e| {
            ConfigError(format!(
                "config file {} is not valid TOML: {e}",
                path.display()
            ))
        })?;
        let mut flat = Vec::new();
        flatten("", &toml::Value::Table(table), &mut flat);
        for (key, value) in flat {
            self.set(&key, value, Source::File(path.to_path_buf()))?;
        }
        Ok(())
    }

    /// Applies every environment variable that names a key, using `lookup` to read them.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        for spec in KEYS {
            let auto = auto_env_name(spec.key);
            let names = std::iter::once(auto.as_str()).chain(spec.env.iter().copied());
            for name in names {
                if let Some(value) = lookup(name).filter(|v| !v.is_empty()) {
                    self.values
                        .insert(spec.key, (value, Source::Env(name.to_string())));
                    break;
                }
            }
        }
    }

    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map(|(v, _)| v.as_str()).unwrap_or("")
    }

    pub fn source(&self, key: &str) -> Source {
        self.values
            .get(key)
            .map(|(_, s)| s.clone())
            .unwrap_or(Source::Default)
    }

    fn parse<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        let raw = self.get(key).trim();
        raw.parse().map_err(|e| {
            ConfigError(format!(
                "invalid value {raw:?} for `{key}` (from {}): expected {what} ({e})",
                self.source(key)
            ))
        })
    }

    /// The value of `key`, which must be one of `allowed`.
    fn choice(&self, key: &str, allowed: &[&'static str]) -> Result<&'static str, ConfigError> {
        let value = self.get(key).trim();
        allowed
            .iter()
            .copied()
            .find(|a| *a == value)
            .ok_or_else(|| {
                ConfigError(format!(
                    "invalid value {value:?} for `{key}` (from {}): expected {}",
                    self.source(key),
                    allowed.join(" or ")
                ))
            })
    }

    /// A switch: true/false, 1/0, yes/no, on/off.
    fn flag(&self, key: &str) -> Result<bool, ConfigError> {
        units::parse_flag(self.get(key)).map_err(|e| {
            ConfigError(format!(
                "invalid value for `{key}` (from {}): {e}",
                self.source(key)
            ))
        })
    }

    /// A size: bytes, or with a unit (`10GB`, `512MiB`); 0 allowed.
    fn bytes(&self, key: &str) -> Result<u64, ConfigError> {
        units::parse_bytes(self.get(key)).map_err(|e| {
            ConfigError(format!(
                "invalid value for `{key}` (from {}): {e}",
                self.source(key)
            ))
        })
    }

    /// A whole number greater than zero; for a `…_bytes` key, also a size with a unit (`10GB`,
    /// `512MiB`).
    fn positive(&self, key: &str) -> Result<u64, ConfigError> {
        let v: u64 = if key.ends_with("_bytes") {
            self.bytes(key)?
        } else {
            self.parse(key, "a positive integer")?
        };
        if v == 0 {
            return Err(ConfigError(format!(
                "invalid value 0 for `{key}` (from {}): must be greater than zero",
                self.source(key)
            )));
        }
        Ok(v)
    }

    fn scopes(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        self.get(key)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let scope = if s.starts_with('@') { s.to_string() } else { format!("@{s}") };
                crate::core::names::PackageName::parse(&format!("{scope}/x"), 214)
                    .map(|_| scope)
                    .map_err(|_| {
                        ConfigError(format!(
                            "invalid scope {s:?} in `{key}` (from {}): expected a list like @ours,@team",
                            self.source(key)
                        ))
                    })
            })
            .collect()
    }

    /// A comma-separated list of IP addresses.
    fn addresses(&self, key: &str) -> Result<Vec<IpAddr>, ConfigError> {
        self.get(key)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse().map_err(|_| {
                    ConfigError(format!(
                        "invalid address {s:?} in `{key}` (from {}): expected IP addresses like 10.0.0.5,::1",
                        self.source(key)
                    ))
                })
            })
            .collect()
    }

    /// A comma-separated list of package names (scoped ones belong in `npm.local_scopes`).
    fn names(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        self.get(key)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let valid = !s.starts_with('@')
                    && crate::core::names::PackageName::parse(s, 214).is_ok();
                if valid {
                    Ok(s.to_string())
                } else {
                    Err(ConfigError(format!(
                        "invalid name {s:?} in `{key}` (from {}): expected unscoped package names like left-pad,my-tool (list scopes in npm.local_scopes)",
                        self.source(key)
                    )))
                }
            })
            .collect()
    }

    fn read_rule(&self, key: &str) -> Result<ReadRule, ConfigError> {
        match self.get(key).trim() {
            "public" => Ok(ReadRule::Public),
            "authenticated" => Ok(ReadRule::Authenticated),
            other => Err(ConfigError(format!(
                "invalid value {other:?} for `{key}` (from {}): expected public or authenticated",
                self.source(key)
            ))),
        }
    }

    /// A comma-separated list of package names or `*` patterns (`@team/*`, `internal-*`).
    fn name_patterns(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        self.get(key)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let chars_ok = s.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b"-._~*/@".contains(&b)
                });
                let shape_ok = match s.strip_prefix('@') {
                    Some(rest) => rest.matches('/').count() == 1 && !rest.contains('@'),
                    None => !s.contains('/') && !s.contains('@'),
                };
                if chars_ok && shape_ok {
                    Ok(s.to_string())
                } else {
                    Err(ConfigError(format!(
                        "invalid pattern {s:?} in `{key}` (from {}): expected lower-case package names or patterns with `*`, like @team/*,internal-*",
                        self.source(key)
                    )))
                }
            })
            .collect()
    }

    /// Types and checks every value.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let port: u16 = self.parse("server.port", "a port number 0-65535")?;
        let host: IpAddr = self.parse("server.host", "an IP address")?;
        let base_url = self
            .get("server.base_url")
            .trim()
            .trim_end_matches('/')
            .to_string();
        if !(base_url.is_empty()
            || base_url.starts_with("http://")
            || base_url.starts_with("https://"))
        {
            return Err(ConfigError(format!(
                "invalid value {base_url:?} for `server.base_url` (from {}): must start with http:// or https://",
                self.source("server.base_url")
            )));
        }
        let data_dir = PathBuf::from(self.get("storage.data_dir"));
        if data_dir.as_os_str().is_empty() {
            return Err(ConfigError(
                "`storage.data_dir` must not be empty".to_string(),
            ));
        }
        self.choice("storage.metadata", &["redb", "dynamodb"])?;
        let dynamodb = {
            let id = self
                .get("storage.dynamodb_access_key_id")
                .trim()
                .to_string();
            let secret = self
                .get("storage.dynamodb_secret_access_key")
                .trim()
                .to_string();
            if id.is_empty() != secret.is_empty() {
                return Err(ConfigError(
                    "storage.dynamodb_access_key_id and storage.dynamodb_secret_access_key go together: set both or neither".into(),
                ));
            }
            crate::store::dynamo::DynamoSettings {
                table: self.get("storage.dynamodb_table").trim().to_string(),
                analytics_table: self
                    .get("storage.dynamodb_analytics_table")
                    .trim()
                    .to_string(),
                region: self.get("storage.dynamodb_region").trim().to_string(),
                endpoint: self.get("storage.dynamodb_endpoint").trim().to_string(),
                credentials: (!id.is_empty()).then_some((id, secret)),
                timeout: Duration::from_millis(self.positive("storage.dynamodb_timeout_ms")?),
            }
        };
        let metadata_backend = if !dynamodb.table.is_empty() {
            MetadataBackend::DynamoDb
        } else if self.get("storage.metadata").trim() == "dynamodb" {
            return Err(ConfigError(format!(
                "`storage.metadata` is dynamodb (from {}) but no table is named: set storage.dynamodb_table (env DYNAMODB_TABLE)",
                self.source("storage.metadata")
            )));
        } else {
            MetadataBackend::Redb
        };
        let feed_poll = Duration::from_millis(self.positive("storage.feed_poll_ms")?);
        let gc_grace =
            Duration::from_secs(self.parse("storage.gc_grace_secs", "a number of seconds")?);
        self.choice("storage.blobs", &["disk", "s3"])?;
        let s3 = crate::blobs::s3::S3Settings {
            bucket: self.get("storage.s3_bucket").trim().to_string(),
            region: self.get("storage.s3_region").trim().to_string(),
            endpoint: self.get("storage.s3_endpoint").trim().to_string(),
            prefix: self.get("storage.s3_prefix").trim().to_string(),
            credentials: None,
            redirect: self
                .flag("storage.s3_redirect")?
                .then(|| {
                    self.positive("storage.s3_redirect_secs")
                        .map(Duration::from_secs)
                })
                .transpose()?,
        };
        let s3 = {
            let id = self.get("storage.s3_access_key_id").trim().to_string();
            let secret = self.get("storage.s3_secret_access_key").trim().to_string();
            if id.is_empty() != secret.is_empty() {
                return Err(ConfigError(
                    "storage.s3_access_key_id and storage.s3_secret_access_key go together: set both or neither".into(),
                ));
            }
            crate::blobs::s3::S3Settings {
                credentials: (!id.is_empty()).then_some((id, secret)),
                ..s3
            }
        };
        let blob_backend = if !s3.bucket.is_empty() {
            BlobBackend::S3
        } else if self.get("storage.blobs").trim() == "s3" {
            return Err(ConfigError(format!(
                "`storage.blobs` is s3 (from {}) but no bucket is named: set storage.s3_bucket (env S3_BUCKET)",
                self.source("storage.blobs")
            )));
        } else {
            BlobBackend::Disk
        };
        let metrics_token =
            Some(self.get("metrics.token").trim().to_string()).filter(|t| !t.is_empty());
        let admin_token =
            Some(self.get("auth.admin_token").trim().to_string()).filter(|t| !t.is_empty());
        if let Some(t) = &admin_token
            && t.len() < 8
        {
            return Err(ConfigError(format!(
                "`auth.admin_token` (from {}) is too short: use at least 8 characters",
                self.source("auth.admin_token")
            )));
        }
        let limits = Limits {
            max_tarball_bytes: self.positive("limits.max_tarball_bytes")?,
            max_request_bytes: self.positive("limits.max_request_bytes")?,
            max_unpacked_bytes: self.positive("limits.max_unpacked_bytes")?,
            max_tarball_entries: self.positive("limits.max_tarball_entries")?,
            max_manifest_bytes: self.positive("limits.max_manifest_bytes")?,
            max_archive_header_bytes: self.positive("limits.max_archive_header_bytes")?,
            max_readme_bytes: self.positive("limits.max_readme_bytes")?,
            max_dist_tags: self.positive("limits.max_dist_tags")?,
            max_keywords: self.positive("limits.max_keywords")? as usize,
            max_dependencies: self.positive("limits.max_dependencies")? as usize,
            max_maintainers: self.positive("limits.max_maintainers")? as usize,
            max_packument_bytes: self.positive("limits.max_packument_bytes")?,
            max_concurrent_unpacks: self.positive("limits.max_concurrent_unpacks")? as usize,
            unpack_wait: Duration::from_secs(self.positive("limits.unpack_wait_secs")?),
            max_body_memory_bytes: self.positive("limits.max_body_memory_bytes")?,
            max_anonymous_body_bytes: self.positive("limits.max_anonymous_body_bytes")?,
            max_name_length: self.positive("limits.max_name_length")? as usize,
        };
        let upstream = self.get("npm.upstream").trim().to_string();
        if !(upstream.starts_with("http://") || upstream.starts_with("https://")) {
            return Err(ConfigError(format!(
                "invalid value {upstream:?} for `npm.upstream` (from {}): must start with http:// or https://",
                self.source("npm.upstream")
            )));
        }
        let npm = NpmSettings {
            fallback: self.flag("npm.fallback")?,
            upstream: format!("{}/", upstream.trim_end_matches('/')),
            upstream_token: Some(self.get("npm.upstream_token").trim().to_string())
                .filter(|t| !t.is_empty()),
            upstream_timeout: Duration::from_secs(self.positive("npm.upstream_timeout_secs")?),
            unpublish_window: Duration::from_secs(
                self.parse::<u64>("npm.unpublish_window_hours", "a number of hours")?
                    .saturating_mul(3600),
            ),
            local_scopes: self.scopes("npm.local_scopes")?,
            local_names: self.names("npm.local_names")?,
            cache_max_age: Duration::from_secs(
                self.parse("npm.cache_max_age_secs", "a number of seconds")?,
            ),
            negative_cache: Duration::from_secs(
                self.parse("npm.negative_cache_secs", "a number of seconds")?,
            ),
            offline: self.flag("npm.offline")?,
            cache_max_bytes: self.bytes("npm.cache_max_bytes")?,
            max_packument_bytes: self.positive("npm.max_packument_bytes")?,
        };
        let log_level = self.get("log.level").trim().to_string();
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_level) {
            return Err(ConfigError(format!(
                "invalid value {log_level:?} for `log.level` (from {}): {e}",
                self.source("log.level")
            )));
        }
        let log_format = match self.get("log.format").trim() {
            "auto" => LogFormat::Auto,
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError(format!(
                    "invalid value {other:?} for `log.format` (from {}): expected auto, pretty or json",
                    self.source("log.format")
                )));
            }
        };
        Ok(Settings {
            host,
            port,
            base_url,
            connections: ConnectionSettings {
                idle_timeout: Duration::from_secs(self.positive("server.idle_timeout_secs")?),
                header_read_timeout: Duration::from_secs(
                    self.positive("server.header_read_timeout_secs")?,
                ),
                body_min_bytes_per_sec: self.parse(
                    "server.body_min_bytes_per_sec",
                    "a number of bytes a second",
                )?,
                body_rate_grace: Duration::from_secs(
                    self.parse("server.body_rate_grace_secs", "a number of seconds")?,
                ),
                max_header_bytes: (self.positive("server.max_header_bytes")? as usize).max(8192),
                max_headers: self.positive("server.max_headers")? as usize,
                max_uri_bytes: self.positive("server.max_uri_bytes")? as usize,
                http2_max_streams: self
                    .positive("server.http2_max_streams")?
                    .min(u32::MAX as u64) as u32,
                max_connections: self.positive("server.max_connections")? as usize,
                max_connections_per_address: self.positive("server.max_connections_per_address")?
                    as usize,
                trusted_proxies: self.addresses("server.trusted_proxies")?,
            },
            shutdown_timeout: Duration::from_secs(
                self.parse("server.shutdown_timeout_secs", "a number of seconds")?,
            ),
            data_dir,
            metadata_backend,
            blob_backend,
            s3,
            dynamodb,
            feed_poll,
            gc_grace,
            admin_token,
            metrics_token,
            metrics_blob_totals: Duration::from_secs(
                self.parse("metrics.blob_totals_secs", "a number of seconds")?,
            ),
            allow_signup: self.flag("auth.allow_signup")?,
            rendered_max_bytes: self.bytes("cache.rendered_max_bytes")?,
            access: AccessSettings {
                read: self.read_rule("access.read")?,
                authenticated: self.name_patterns("access.authenticated")?,
                upstream_read: self.read_rule("access.upstream_read")?,
            },
            audit_retention: time::Duration::days(
                self.positive("audit.retention_days")?.min(100_000) as i64,
            ),
            npm,
            limits,
            download_flush_interval: Duration::from_millis(
                self.positive("downloads.flush_interval_ms")?,
            ),
            rate: RateSettings {
                login_per_minute: self.parse("rate.login_per_minute", "a number of requests")?,
                token_per_minute: self.parse("rate.token_per_minute", "a number of requests")?,
                publish_per_minute: self
                    .parse("rate.publish_per_minute", "a number of requests")?,
                read_per_minute: self.parse("rate.read_per_minute", "a number of requests")?,
                exempt: self.addresses("rate.exempt")?,
            },
            install: InstallSettings {
                max_body_bytes: self.positive("install.max_body_bytes")?,
                max_resolved_packages: self.positive("install.max_resolved_packages")? as usize,
                resolve_timeout: Duration::from_secs(
                    self.positive("install.resolve_timeout_secs")?,
                ),
                max_batch_packages: self.positive("install.max_batch_packages")? as usize,
                max_batch_bytes: self.positive("install.max_batch_bytes")?,
                max_events: self.positive("install.max_events")? as usize,
                concurrency: self.positive("install.concurrency")? as usize,
            },
            search: SearchSettings {
                max_query_chars: self.positive("search.max_query_length")? as usize,
                downloads_refresh: Duration::from_secs(
                    self.positive("search.downloads_refresh_secs")?,
                ),
            },
            log_level,
            log_format,
        })
    }

    /// The effective values and their sources, one `key = value  # source` line each, secrets redacted.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut section = "";
        for spec in KEYS {
            let (sec, name) = spec.key.split_once('.').unwrap_or(("", spec.key));
            if sec != section {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!("[{sec}]\n"));
                section = sec;
            }
            let value = self.get(spec.key);
            let shown = if spec.secret && !value.is_empty() {
                "\"<redacted>\"".to_string()
            } else {
                toml_literal(value)
            };
            out.push_str(&format!("{name} = {shown}  # {}\n", self.source(spec.key)));
        }
        out
    }
}

fn toml_literal(value: &str) -> String {
    if !value.is_empty() && (value.parse::<i64>().is_ok() || value == "true" || value == "false") {
        value.to_string()
    } else {
        toml::Value::String(value.to_string()).to_string()
    }
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// The npm side: the upstream registry and the unpublish policy.
#[derive(Debug, Clone)]
pub struct NpmSettings {
    pub fallback: bool,
    /// With a trailing slash.
    pub upstream: String,
    pub upstream_token: Option<String>,
    pub upstream_timeout: Duration,
    pub unpublish_window: Duration,
    /// Scopes (with `@`) never proxied.
    pub local_scopes: Vec<String>,
    /// Names never proxied, which a publish token may claim although the upstream has them.
    pub local_names: Vec<String>,
    pub cache_max_age: Duration,
    pub negative_cache: Duration,
    pub offline: bool,
    /// 0: no cap.
    pub cache_max_bytes: u64,
    pub max_packument_bytes: u64,
}

/// Who may read a package: anyone, or only a caller with a valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRule {
    Public,
    Authenticated,
}

/// Who may read what (`access.*`); publishing rules are elsewhere.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    /// The rule for packages published here.
    pub read: ReadRule,
    /// Names and `*` patterns only signed-in callers may read, wherever the package comes from.
    pub authenticated: Vec<String>,
    /// The rule for upstream packages read through the npm fallback.
    pub upstream_read: ReadRule,
}

/// Size and count limits applied to uploads.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_tarball_bytes: u64,
    pub max_request_bytes: u64,
    pub max_unpacked_bytes: u64,
    pub max_tarball_entries: u64,
    pub max_manifest_bytes: u64,
    pub max_archive_header_bytes: u64,
    pub max_readme_bytes: u64,
    pub max_dist_tags: u64,
    pub max_keywords: usize,
    pub max_dependencies: usize,
    pub max_maintainers: usize,
    pub max_packument_bytes: u64,
    pub max_concurrent_unpacks: usize,
    pub unpack_wait: Duration,
    pub max_body_memory_bytes: u64,
    pub max_anonymous_body_bytes: u64,
    pub max_name_length: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Auto,
    Pretty,
    Json,
}

/// Requests a client may make a minute, by class (0: no limit), and who is exempt.
#[derive(Debug, Clone)]
pub struct RateSettings {
    pub login_per_minute: u32,
    pub token_per_minute: u32,
    pub publish_per_minute: u32,
    pub read_per_minute: u32,
    pub exempt: Vec<IpAddr>,
}

/// What one project-install request may cost (`install.*`).
#[derive(Debug, Clone)]
pub struct InstallSettings {
    pub max_body_bytes: u64,
    pub max_resolved_packages: usize,
    pub resolve_timeout: Duration,
    pub max_batch_packages: usize,
    pub max_batch_bytes: u64,
    pub max_events: usize,
    pub concurrency: usize,
}

/// Search limits and refresh.
#[derive(Debug, Clone)]
pub struct SearchSettings {
    pub max_query_chars: usize,
    pub downloads_refresh: Duration,
}

/// How the HTTP server bounds connections and the requests on them (`server.*`).
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// Connections with no traffic either way for this long (outside a handler) are closed.
    pub idle_timeout: Duration,
    /// An HTTP/1.1 request head must arrive within this long; also the keep-alive idle time.
    pub header_read_timeout: Duration,
    /// Slowest average a request body may arrive at once past the grace; 0 means no check.
    pub body_min_bytes_per_sec: u64,
    pub body_rate_grace: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_uri_bytes: usize,
    pub http2_max_streams: u32,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Most connections from one address at once.
    pub max_connections_per_address: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
}

/// The metadata store implementations (`storage.metadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataBackend {
    /// `registry.redb` in the data directory.
    Redb,
    /// DynamoDB tables shared by every instance (`storage.dynamodb_*`).
    DynamoDb,
}

impl MetadataBackend {
    /// Whether other instances may write to the same store (and this one must follow them).
    pub fn is_shared(self) -> bool {
        self == MetadataBackend::DynamoDb
    }
}

/// The blob store implementations (`storage.blobs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobBackend {
    /// Files under `blobs/` in the data directory.
    Disk,
    /// Objects in an S3 or S3-compatible bucket (`storage.s3_*`).
    S3,
}

/// The typed, validated settings the registry runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    /// Without a trailing slash; empty means `http://localhost:<port>`.
    pub base_url: String,
    pub shutdown_timeout: Duration,
    pub connections: ConnectionSettings,
    pub data_dir: PathBuf,
    /// Which metadata store the registry runs on.
    pub metadata_backend: MetadataBackend,
    /// Which blob store the registry keeps tarballs in.
    pub blob_backend: BlobBackend,
    /// The bucket, when `blob_backend` is S3.
    pub s3: crate::blobs::s3::S3Settings,
    /// The tables, when `metadata_backend` is DynamoDB.
    pub dynamodb: crate::store::dynamo::DynamoSettings,
    /// How often a shared store's change feed is read for other instances' writes.
    pub feed_poll: Duration,
    /// How long gc waits for other instances' uploads in flight (shared stores only).
    pub gc_grace: Duration,
    pub admin_token: Option<String>,
    /// The bearer token `/metrics` needs, if any (`metrics.token`).
    pub metrics_token: Option<String>,
    /// How often a scrape may list the blob store for its totals.
    pub metrics_blob_totals: Duration,
    /// Whether `npm adduser` may create accounts.
    pub allow_signup: bool,
    /// Who may read what (`access.*`).
    pub access: AccessSettings,
    /// Bytes of rendered documents kept in memory (`cache.rendered_max_bytes`).
    pub rendered_max_bytes: u64,
    /// How long the audit log keeps an entry (`audit.retention_days`).
    pub audit_retention: time::Duration,
    pub npm: NpmSettings,
    pub limits: Limits,
    pub download_flush_interval: Duration,
    pub search: SearchSettings,
    pub install: InstallSettings,
    pub rate: RateSettings,
    pub log_level: String,
    pub log_format: LogFormat,
}

impl Default for Settings {
    fn default() -> Self {
        Layers::default()
            .resolve()
            .expect("built-in defaults are valid")
    }
}

impl Settings {
    /// The back ends the registry runs on: `redb + disk`, `DynamoDB + S3`, …
    pub fn backends(&self) -> String {
        let metadata = match self.metadata_backend {
            MetadataBackend::DynamoDb => "DynamoDB",
            MetadataBackend::Redb => "redb",
        };
        let blobs = match self.blob_backend {
            BlobBackend::S3 => "S3",
            BlobBackend::Disk => "disk",
        };
        format!("{metadata} + {blobs}")
    }

    /// The public URL, without a trailing slash.
    pub fn public_url(&self) -> String {
        if self.base_url.is_empty() {
            format!("http://localhost:{}", self.port)
        } else {
            self.base_url.clone()
        }
    }
}

/// Builds the layers from the usual sources: file (explicit path, or `pantry-registry.toml` if present), then env.
pub fn load_layers(config_file: Option<&Path>) -> Result<Layers, ConfigError> {
    let mut layers = Layers::default();
    let env_file = std::env::var("PANTRY_CONFIG")
        .ok()
        .filter(|v| !v.is_empty());
    let path = config_file
        .map(Path::to_path_buf)
        .or(env_file.map(PathBuf::from))
        .or_else(|| {
            let p = PathBuf::from("pantry-registry.toml");
            p.exists().then_some(p)
        });
    if let Some(path) = path {
        layers.apply_file(&path)?;
    }
    layers.apply_env(|name| std::env::var(name).ok());
    Ok(layers)
}

/// The text of `config.example.toml`: every key with its default and its description.
pub fn example_toml() -> String {
    let mut out = String::from(
        "# Pantry Registry configuration. Every key is shown with its default.\n\
         # Precedence, lowest to highest: defaults < this file < environment < command-line flags.\n\
         # Each key can also be set as PANTRY_<SECTION>_<KEY> in the environment (for example\n\
         # PANTRY_SERVER_PORT); other environment names a key accepts are listed with it.\n",
    );
    let mut section = "";
    for spec in KEYS {
        let (sec, name) = spec.key.split_once('.').unwrap_or(("", spec.key));
        if sec != section {
            out.push_str(&format!("\n[{sec}]\n"));
            section = sec;
        }
        out.push_str(&format!("# {}\n", spec.doc));
        let mut envs = vec![auto_env_name(spec.key)];
        envs.extend(spec.env.iter().map(|s| s.to_string()));
        out.push_str(&format!("# env: {}\n", envs.join(", ")));
        out.push_str(&format!("{name} = {}\n", toml_literal(spec.default)));
    }
    out
}

/// The configuration reference in Markdown (`docs/configuration.md` holds it between its
/// `keys` markers; `pantry-registry config reference` prints it): every key, its default, the
/// environment variables it reads and what it does, from the same table the code reads.
pub fn reference_markdown() -> String {
    let mut out =
        String::from("| key | default | environment | what it does |\n|---|---|---|---|\n");
    for spec in KEYS {
        let mut envs = vec![auto_env_name(spec.key)];
        envs.extend(spec.env.iter().map(|s| s.to_string()));
        let default = if spec.default.is_empty() {
            "(none)".to_string()
        } else {
            format!("`{}`", spec.default)
        };
        let envs: Vec<String> = envs.iter().map(|e| format!("`{e}`")).collect();
        out.push_str(&format!(
            "| `{}` | {default} | {} | {} |\n",
            spec.key,
            envs.join(", "),
            spec.doc.replace('|', "\\|").replace('\n', " ")
        ));
    }
    out
}

/// The markers around the generated table in `docs/configuration.md`.
pub const REFERENCE_BEGIN: &str =
    "<!-- keys:begin (generated by `pantry-registry config reference`; do not edit) -->";
pub const REFERENCE_END: &str = "<!-- keys:end -->";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_reference_is_the_keys_table() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/configuration.md"
        ))
        .expect("docs/configuration.md exists");
        let (_, rest) = text.split_once(REFERENCE_BEGIN).expect("the begin marker");
        let (table, _) = rest.split_once(REFERENCE_END).expect("the end marker");
        assert_eq!(
            table.trim(),
            reference_markdown().trim(),
            "regenerate the table with `pantry-registry config reference`"
        );
    }

    #[test]
    fn env_beats_file_and_names_the_bad_key() {
        let mut layers = Layers::default();
        layers.apply_env(|name| (name == "PORT").then(|| "not-a-port".to_string()));
        let err = layers.resolve().unwrap_err().to_string();
        assert!(
            err.contains("server.port") && err.contains("env PORT"),
            "{err}"
        );
    }

    #[test]
    fn pantry_prefixed_env_wins_over_seed_name() {
        let mut layers = Layers::default();
        layers.apply_env(|name| match name {
            "PORT" => Some("4000".into()),
            "PANTRY_SERVER_PORT" => Some("5000".into()),
            _ => None,
        });
        assert_eq!(layers.resolve().unwrap().port, 5000);
    }

    #[test]
    fn secrets_are_redacted() {
        let mut layers = Layers::default();
        layers
            .set("auth.admin_token", "supersecret-token".into(), Source::Flag)
            .unwrap();
        let shown = layers.render();
        assert!(!shown.contains("supersecret"));
        assert!(shown.contains("admin_token = \"<redacted>\"  # flag"));
    }

    #[test]
    fn example_file_lists_every_key_with_its_default() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
                .expect("config.example.toml exists");
        assert_eq!(
            text,
            example_toml(),
            "regenerate with `pantry-registry config example > config.example.toml`"
        );
    }
}
