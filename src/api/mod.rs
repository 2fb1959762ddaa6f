//! The seed's Pantry API (`/packages/…`, `/publish`), described with poem-openapi.
//!
//! Each area is one `#[OpenApi]` struct with a tag; every operation's response enum documents
//! each status it can answer. Authentication is the [`auth::Caller`] security scheme.

pub mod analytics;
pub mod auth;
pub mod downloads;
pub mod packages;
pub mod publish;
pub mod search;
pub mod zig;

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Reading packages: metadata, versions and tarballs.
    Packages,
    /// Publishing packages (needs a token with publish scope).
    Publish,
    /// Service health.
    Health,
    /// Zig packages: publish, metadata, archives, lookup by hash, search.
    Zig,
    /// Download counts.
    Analytics,
}
