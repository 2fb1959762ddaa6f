//! What every request passes through, and the routes that are not part of an API area: the
//! health check and readiness, and the metrics. (The web UI's pages are `crate::web`.)

pub mod body;
pub mod connection;
pub mod download;
pub mod edge;
pub mod health;
pub mod metrics;
pub mod rate;
pub mod server;

/// `Cache-Control` for what never changes once it exists: a tarball or archive named by its
/// version (versions are never republished) or by its hash.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
