//! The seed's Pantry API (`/packages/…`, `/publish`), described with poem-openapi.
//!
//! Each area is one `#[OpenApi]` struct with a tag; every operation's response enum documents
//! each status it can answer. Authentication is the [`auth::Caller`] security scheme.

pub mod admin;
pub mod analytics;
pub mod auth;
pub mod downloads;
pub mod install;
pub mod packages;
pub mod publish;
pub mod search;
pub mod spec;
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
    /// A whole project's install with the Pantry CLI: resolve the tree, download its tarballs
    /// in one archive, report what was installed.
    Install,
    /// Administration while the server runs: accounts, tokens, owners, jobs, the audit log
    /// (an admin token is required).
    Admin,
}

/// One response per status: those declared more than once (one per content type) become one
/// whose content lists every type, described by the first. poem-openapi would keep only the
/// last of them in the document.
pub(crate) fn merge_same_status(
    meta: poem_openapi::registry::MetaResponses,
) -> poem_openapi::registry::MetaResponses {
    let mut merged: Vec<poem_openapi::registry::MetaResponse> = Vec::new();
    for response in meta.responses {
        match merged
            .iter_mut()
            .find(|m| m.status.is_some() && m.status == response.status)
        {
            Some(first) => first.content.extend(response.content),
            None => merged.push(response),
        }
    }
    poem_openapi::registry::MetaResponses { responses: merged }
}
