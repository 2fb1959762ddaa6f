//! The integration suite, one test binary: each module below is one area (its file in
//! `tests/`), run with `cargo test --test suite <module>::`. One binary instead of one per
//! file: the helpers in `common` are compiled once and the suite is linked once, which keeps a
//! clean build within a small disk (each test binary is ~100 MB) and saves a link per area.
//!
//! Two areas are binaries of their own, because they need the process to themselves:
//! `operations` (the metrics recorder is one per process, and its scrape counts what its own
//! session did) and `on_aws` (it runs this binary's suites again on DynamoDB + S3, alone).

mod common;

mod access;
mod admin;
mod analytics;
mod backup;
mod binary;
mod blob_contract;
mod blobs;
mod contract;
mod crash;
mod downloads;
mod fuzz;
mod hostile;
mod import;
mod install;
mod logs;
mod migrate;
mod migration;
mod npm_api;
mod npm_clients;
mod npm_corpus;
mod npm_fallback;
mod openapi;
mod packages;
mod publish;
mod rendered;
mod s3;
mod scale_out;
mod search;
mod shadowing;
mod store_contract;
mod walls;
mod web;
mod web_pages;
mod zig_api;
mod zig_clients;
