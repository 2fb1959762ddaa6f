//! A project install, the way the Pantry CLI does one (`pantry install` in a folder whose
//! `package.json` has dependencies): resolve the whole tree into one flat install set
//! ([`tree`]), hand over all of its tarballs in one archive ([`batch`]), and take the client's
//! report of what it installed ([`events`]).
//!
//! The same read rules hold as on every other door: a name with a local package never reaches
//! the upstream, the access policy decides who may read what, and the npm fallback answers for
//! the rest.

pub mod batch;
pub mod events;
pub mod spec;
pub mod tree;

pub use batch::{BatchError, BatchItem, BatchLimits, BatchPlan, plan_batch};
pub use events::{EventOutcome, InstallEvent, record_events};
pub use tree::{InstallSet, Picked, TreeError, TreeLimits, resolve_tree};

/// The SRI form (`sha1-<base64>`) of a SHA-1 written in hex (a version's `shasum`), if it is
/// one.
fn sha1_sri(hex_digest: &str) -> Option<String> {
    use base64::Engine;
    hex::decode(hex_digest)
        .ok()
        .filter(|b| b.len() == 20)
        .map(|b| {
            format!(
                "sha1-{}",
                base64::engine::general_purpose::STANDARD.encode(b)
            )
        })
}
