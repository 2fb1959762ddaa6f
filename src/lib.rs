//! Pantry Registry: a self-hosted package registry for npm and Zig packages, in one binary.
//!
//! The binary is a thin layer over this library; another Rust program can embed the registry
//! with [`Registry::builder`] and [`Registry::serve`] (see the README for a full example).

pub mod api;
pub mod app;
pub mod archive;
pub mod blobs;
pub mod cli;
pub mod config;
pub mod core;
pub mod error;
pub mod http;
pub mod npm;
pub mod paging;
pub mod search;
pub mod store;
pub mod upstream;
pub mod web;
pub mod zig;

pub use app::{BuildError, CreatedToken, Registry, RegistryBuilder};
pub use config::Settings;
pub use store::TokenScope;

/// The README's code blocks, compiled and run as doc tests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The guides' code blocks (`docs/`), doc tests too.
#[cfg(doctest)]
#[doc = include_str!("../docs/embedding.md")]
#[doc = include_str!("../docs/npm.md")]
#[doc = include_str!("../docs/zig.md")]
#[doc = include_str!("../docs/pantry-api.md")]
#[doc = include_str!("../docs/search-and-analytics.md")]
#[doc = include_str!("../docs/users.md")]
#[doc = include_str!("../docs/configuration.md")]
#[doc = include_str!("../docs/security.md")]
#[doc = include_str!("../docs/operations.md")]
#[doc = include_str!("../docs/web-ui.md")]
#[doc = include_str!("../docs/benchmarks.md")]
#[doc = include_str!("../docs/testing.md")]
pub struct GuideDoctests;
