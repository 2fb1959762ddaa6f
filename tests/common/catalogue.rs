//! Writes package metadata straight into a store, without tarballs: large catalogues for search
//! tests and the search benchmark, where publishing thousands of packages over HTTP would
//! measure publishing instead. Shared with `examples/search_bench.rs` through `#[path]`.

use std::collections::BTreeMap;

use pantry_registry::core::tarball::TarballInfo;
use pantry_registry::store::redb_store::RedbStore;
use pantry_registry::store::{
    DownloadCount, DownloadStore, PackageRecord, PackageStore, VersionRecord,
};
use serde_json::json;
use time::OffsetDateTime;

/// One package at version 1.0.0.
pub struct CataloguePackage {
    pub name: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub author: Option<String>,
    pub owner: String,
    /// Downloads counted today.
    pub downloads: u64,
    pub deprecated: Option<String>,
}

/// A small deterministic generator, so every run builds the same catalogue.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

/// Publishes each package (one durable transaction each) and records its downloads for today.
pub async fn write_catalogue(store: &RedbStore, packages: &[CataloguePackage]) {
    let now = OffsetDateTime::now_utc();
    let today = format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let mut counts = Vec::new();
    for p in packages {
        let mut manifest = serde_json::Map::new();
        manifest.insert("name".into(), json!(p.name));
        manifest.insert("version".into(), json!("1.0.0"));
        manifest.insert("description".into(), json!(p.description));
        manifest.insert("keywords".into(), json!(p.keywords));
        if let Some(author) = &p.author {
            manifest.insert("author".into(), json!({"name": author}));
        }
        if let Some(d) = &p.deprecated {
            manifest.insert("deprecated".into(), json!(d));
        }
        let record = VersionRecord {
            name: p.name.clone(),
            version: "1.0.0".into(),
            manifest,
            tarball: TarballInfo {
                sha256: "0".repeat(64),
                sha1: "0".repeat(40),
                integrity: "sha512-AAAA".into(),
                size: 1,
                file_count: 1,
                unpacked_size: 1,
                has_shrinkwrap: false,
                has_binding_gyp: false,
            },
            published_at: now,
            published_by: p.owner.clone(),
        };
        let (name, owner) = (p.name.clone(), p.owner.clone());
        store
            .publish_version(
                record,
                Box::new(move |_| {
                    Ok(PackageRecord {
                        name: name.clone(),
                        dist_tags: BTreeMap::from([("latest".to_string(), "1.0.0".to_string())]),
                        owners: vec![owner.clone()],
                        created_at: now,
                        updated_at: now,
                        rev: 1,
                        stars: Default::default(),
                    })
                }),
            )
            .await
            .unwrap();
        if p.downloads > 0 {
            counts.push(DownloadCount {
                name: p.name.clone(),
                version: "1.0.0".into(),
                day: today.clone(),
                count: p.downloads,
            });
        }
    }
    store
        .add_downloads(pantry_registry::store::DownloadBatch::new(counts))
        .await
        .unwrap();
}
