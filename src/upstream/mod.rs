//! The npm fallback's HTTP client: reaches an npm-compatible upstream registry (packuments with
//! conditional GETs, tarballs as verified byte streams, npm's bulk advisory endpoint) and knows
//! nothing else of this registry. It implements the core's [`UpstreamRegistry`] port; what to
//! ask for, what to cache and when to serve a stale copy is the core's proxy policy
//! (`core::proxy`).
//!
//! [`UpstreamRegistry`]: crate::core::proxy::UpstreamRegistry

mod client;
mod verify;

pub use client::{ClientSettings, UpstreamClient};
