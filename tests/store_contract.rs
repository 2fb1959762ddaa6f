//! The metadata store contract: what every implementation of the store traits
//! (`pantry_registry::store`) must do, written once against the traits and run against each
//! implementation.
//!
//! Each `*_contract` function takes a fresh, empty store as `&dyn MetadataStore` (or
//! `&dyn RateStore`) and checks what the traits' doc comments promise and what a user of the
//! registry would notice if an implementation got it wrong: a publish that is not exclusive, an
//! unpublished version number that comes back, a refused change that half-happened, a count
//! that goes missing, a search index that is never (or always) stale.
//!
//! To run the suite against another implementation (DynamoDB, say), write an `async fn` that
//! opens a fresh, empty store and returns it with whatever must outlive it (a directory, a
//! table to drop), then add one line at the bottom of this file:
//!
//! ```ignore
//! store_contract_tests!(dynamo, open_dynamo);
//! ```
//!
//! That generates one `#[tokio::test]` per contract, in a module named after the
//! implementation. Implementation-specific behaviour (redb surviving a reopen) is tested
//! separately, below the macro.

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use pantry_registry::core::tarball::TarballInfo;
use pantry_registry::store::rates::MemoryRates;
use pantry_registry::store::redb_store::RedbStore;
use pantry_registry::store::{
    AuditRecord, BlobOwner, BlobReference, CachedPackument, Changed, DenialKind, Denied,
    DownloadBatch, DownloadCount, MetadataStore, PackageChange, PackageEdit, PackageRecord,
    PackageStore, PackageUpdate, ProxiedTarball, RateStore, StoreError, TokenRecord, TokenScope,
    UserRecord, VersionRecord, ZigDependency, ZigPackageRecord, ZigPackageUpdate, ZigVersionRecord,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::datetime;

// ---------------------------------------------------------------------------------------------
// Records to write. Times are whole seconds so that any storage format keeps them exactly.
// ---------------------------------------------------------------------------------------------

const CREATED: OffsetDateTime = datetime!(2026-01-02 03:04:05 UTC);
const LATER: OffsetDateTime = datetime!(2026-02-03 04:05:06 UTC);

fn sha256_hex(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// A version whose every field is distinct per (name, version, publisher), so that reading back
/// the wrong record cannot pass for the right one.
fn npm_version(name: &str, version: &str, published_by: &str) -> VersionRecord {
    let manifest = json!({
        "name": name,
        "version": version,
        "description": format!("{name} at {version}"),
        "dependencies": { "left-pad": "^1.0.0" },
    });
    VersionRecord {
        name: name.to_string(),
        version: version.to_string(),
        manifest: manifest.as_object().expect("an object").clone(),
        tarball: TarballInfo {
            sha256: sha256_hex(&format!("{name}@{version}")),
            sha1: sha256_hex(&format!("sha1 {name}@{version}"))[..40].to_string(),
            integrity: format!("sha512-{name}{version}"),
            size: 1234,
            file_count: 3,
            unpacked_size: 4567,
            has_shrinkwrap: false,
            has_binding_gyp: true,
        },
        published_at: CREATED,
        published_by: published_by.to_string(),
    }
}

/// A publish rule as the core writes one: a new package is owned by the publisher, and the
/// version becomes `latest`; an existing package keeps everything else.
fn publish_as(owner: &str, name: &str, version: &str) -> PackageUpdate {
    tag_on_publish(owner, name, "latest", version)
}

/// Like [`publish_as`], with the version put under `tag`.
fn tag_on_publish(owner: &str, name: &str, tag: &str, version: &str) -> PackageUpdate {
    let (owner, name, tag, version) = (
        owner.to_string(),
        name.to_string(),
        tag.to_string(),
        version.to_string(),
    );
    Box::new(move |current| {
        let mut package = current.unwrap_or_else(|| PackageRecord {
            name: name.clone(),
            dist_tags: BTreeMap::new(),
            owners: vec![owner.clone()],
            created_at: CREATED,
            updated_at: CREATED,
            rev: 0,
            stars: Default::default(),
        });
        package.dist_tags.insert(tag.clone(), version.clone());
        package.updated_at = LATER;
        Ok(package)
    })
}

/// A publish rule that records the package it was given (the last time it ran: a store may run
/// it more than once).
fn observing_publish(
    owner: &str,
    name: &str,
    version: &str,
) -> (PackageUpdate, Arc<Mutex<Option<Option<PackageRecord>>>>) {
    let seen = Arc::new(Mutex::new(None));
    let inner = publish_as(owner, name, version);
    let record = seen.clone();
    let update: PackageUpdate = Box::new(move |current: Option<PackageRecord>| {
        *record.lock().expect("seen") = Some(current.clone());
        inner(current)
    });
    (update, seen)
}

fn refuse_publish() -> PackageUpdate {
    Box::new(|_| Err(Denied::forbidden("not an owner")))
}

fn set_tag(tag: &str, version: &str) -> PackageChange {
    let (tag, version) = (tag.to_string(), version.to_string());
    Box::new(move |mut package, _| {
        package.dist_tags.insert(tag.clone(), version.clone());
        Ok(PackageEdit {
            package: Some(package),
            ..Default::default()
        })
    })
}

fn remove_version(version: &str) -> PackageChange {
    let version = version.to_string();
    Box::new(move |package, _| {
        Ok(PackageEdit {
            package: Some(package),
            remove_versions: vec![version.clone()],
            ..Default::default()
        })
    })
}

fn delete_package() -> PackageChange {
    Box::new(|_, _| Ok(PackageEdit::default()))
}

fn user(name: &str, email: &str) -> UserRecord {
    UserRecord {
        name: name.to_string(),
        email: email.to_string(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1${name}"),
        created_at: CREATED,
        updated_at: CREATED,
        disabled: false,
        admin: false,
        invite_hash: None,
        invite_expires_at: None,
    }
}

fn token(id: &str, user: &str, created_at: OffsetDateTime) -> TokenRecord {
    TokenRecord {
        id: id.to_string(),
        hash: sha256_hex(&format!("secret of {id}")),
        name: format!("label {id}"),
        user: user.to_string(),
        scope: TokenScope::Publish,
        restriction: Some("@team/*".to_string()),
        created_at,
        expires_at: Some(LATER),
        last_used: None,
    }
}

fn count(name: &str, version: &str, day: &str, count: u64) -> DownloadCount {
    DownloadCount {
        name: name.to_string(),
        version: version.to_string(),
        day: day.to_string(),
        count,
    }
}

/// Download counts as comparable tuples, sorted: the traits promise no order.
fn tuples(counts: Vec<DownloadCount>) -> Vec<(String, String, String, u64)> {
    let mut out: Vec<_> = counts
        .into_iter()
        .map(|c| (c.name, c.version, c.day, c.count))
        .collect();
    out.sort();
    out
}

/// A cached packument whose body is the blob of `body`'s hash (a made-up body: the store keeps
/// only the reference).
fn packument(name: &str, etag: &str, body: &[u8]) -> CachedPackument {
    CachedPackument {
        name: name.to_string(),
        etag: Some(etag.to_string()),
        last_modified: Some("Fri, 02 Jan 2026 03:04:05 GMT".to_string()),
        fetched_at: CREATED,
        missing: false,
        body: Some(hex::encode(Sha256::digest(body))),
        body_size: body.len() as u64,
    }
}

fn missing_packument(name: &str) -> CachedPackument {
    CachedPackument {
        name: name.to_string(),
        etag: None,
        last_modified: None,
        fetched_at: LATER,
        missing: true,
        body: None,
        body_size: 0,
    }
}

fn proxied(name: &str, version: &str, last_used: OffsetDateTime) -> ProxiedTarball {
    ProxiedTarball {
        name: name.to_string(),
        version: version.to_string(),
        sha256: sha256_hex(&format!("upstream {name}@{version}")),
        integrity: format!("sha512-upstream-{name}-{version}"),
        size: 99,
        fetched_at: CREATED,
        last_used,
    }
}

fn zig_version(name: &str, version: &str, published_by: &str) -> ZigVersionRecord {
    let seed = sha256_hex(&format!("zig {name}@{version}"));
    ZigVersionRecord {
        name: name.to_string(),
        version: version.to_string(),
        description: Some(format!("{name} {version}")),
        hash: format!("{name}-{version}-{}", &seed[..44]),
        legacy_hash: Some(format!("1220{seed}")),
        package_id: 0xbeef,
        total_size: 2048,
        sha256: sha256_hex(&format!("zig archive {name}@{version}")),
        archive: "tar.gz".to_string(),
        size: 777,
        normalized: true,
        dependencies: vec![ZigDependency {
            name: "dep".to_string(),
            url: Some("https://example.com/dep.tar.gz".to_string()),
            path: None,
            hash: Some("dep-0.1.0-AAAA".to_string()),
            lazy: true,
        }],
        minimum_zig_version: Some("0.14.0".to_string()),
        published_at: CREATED,
        published_by: published_by.to_string(),
    }
}

fn zig_publish_as(owner: &str, name: &str, version: &str) -> ZigPackageUpdate {
    let (owner, name, version) = (owner.to_string(), name.to_string(), version.to_string());
    Box::new(move |current| {
        Ok(match current {
            Some(mut package) => {
                package.latest = version.clone();
                package.updated_at = LATER;
                package
            }
            None => ZigPackageRecord {
                name: name.clone(),
                owners: vec![owner.clone()],
                latest: version.clone(),
                created_at: CREATED,
                updated_at: CREATED,
                rev: 0,
            },
        })
    })
}

async fn package_names(store: &dyn MetadataStore) -> Vec<String> {
    let packages = store.list_packages().await.expect("list packages");
    packages.into_iter().map(|p| p.name).collect()
}

async fn version_numbers(store: &dyn MetadataStore, name: &str) -> Vec<String> {
    let versions = store.versions(name).await.expect("versions");
    let mut numbers: Vec<String> = versions.into_iter().map(|v| v.version).collect();
    numbers.sort();
    numbers
}

// ---------------------------------------------------------------------------------------------
// The contracts.
// ---------------------------------------------------------------------------------------------

/// Publishing and reading npm packages and versions.
/// Listing comes in pages: in name order, none larger than asked, each starting after the
/// last name of the one before, adding up to the whole list.
async fn paged_listing_contract(store: &dyn MetadataStore) {
    let names = ["@s/b", "alpha", "beta", "delta", "gamma", "omega", "zeta"];
    for name in names.iter().rev() {
        store
            .publish_version(
                npm_version(name, "1.0.0", "alice"),
                publish_as("alice", name, "1.0.0"),
            )
            .await
            .unwrap();
        store
            .publish_zig_version(
                zig_version(&name.replace(['@', '/'], "_"), "1.0.0", "alice"),
                zig_publish_as("alice", &name.replace(['@', '/'], "_"), "1.0.0"),
            )
            .await
            .unwrap();
    }
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.packages_page(after.as_deref(), 3).await.unwrap();
        assert!(page.len() <= 3, "{} in a page of 3", page.len());
        if page.is_empty() {
            break;
        }
        after = page.last().map(|p| p.name.clone());
        paged.extend(page.into_iter().map(|p| p.name));
    }
    assert_eq!(paged, names);
    assert_eq!(package_names(store).await, names);
    let zig_first = store.zig_packages_page(None, 2).await.unwrap();
    let zig_next = store
        .zig_packages_page(Some(&zig_first[1].name), 100)
        .await
        .unwrap();
    let zig: Vec<String> = zig_first
        .iter()
        .chain(&zig_next)
        .map(|z| z.name.clone())
        .collect();
    let mut expected: Vec<String> = names.iter().map(|n| n.replace(['@', '/'], "_")).collect();
    expected.sort();
    assert_eq!(zig, expected);
    assert_eq!(store.list_zig_packages().await.unwrap().len(), names.len());
}

async fn package_contract(store: &dyn MetadataStore) {
    assert_eq!(store.package("widget").await.unwrap(), None);
    assert_eq!(store.version("widget", "1.0.0").await.unwrap(), None);
    assert!(store.versions("widget").await.unwrap().is_empty());
    assert!(store.list_packages().await.unwrap().is_empty());
    assert_eq!(store.versions_size("widget").await.unwrap(), 0);

    // A first publish: the rule sees no package, and what it returns is what is stored.
    let first = npm_version("widget", "1.0.0", "alice");
    let (update, seen) = observing_publish("alice", "widget", "1.0.0");
    let written = store.publish_version(first.clone(), update).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        Some(None),
        "a new name has no package"
    );
    assert_eq!(written.name, "widget");
    assert_eq!(written.owners, vec!["alice".to_string()]);
    assert_eq!(written.dist_tags["latest"], "1.0.0");
    assert_eq!(
        store.package("widget").await.unwrap().as_ref(),
        Some(&written)
    );
    assert_eq!(
        store.version("widget", "1.0.0").await.unwrap(),
        Some(first.clone())
    );

    // A second version: the rule sees the package as stored, and the package is written anew.
    let second = npm_version("widget", "1.1.0", "bob");
    let (update, seen) = observing_publish("bob", "widget", "1.1.0");
    let rewritten = store.publish_version(second.clone(), update).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        Some(Some(written.clone())),
        "the rule is given the stored package"
    );
    assert_eq!(
        rewritten.owners,
        vec!["alice".to_string()],
        "owners are kept"
    );
    assert_eq!(rewritten.dist_tags["latest"], "1.1.0");
    assert!(rewritten.rev > written.rev, "a publish bumps the revision");
    assert_ne!(rewritten.rev_string(), written.rev_string());
    assert_eq!(
        store.package("widget").await.unwrap(),
        Some(rewritten.clone())
    );
    assert_eq!(
        store.version("widget", "1.0.0").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.version("widget", "1.1.0").await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(store.version("widget", "2.0.0").await.unwrap(), None);

    // Versions of a package are its own, not those of a name that starts the same.
    store
        .publish_version(
            npm_version("widget-extra", "9.0.0", "carol"),
            publish_as("carol", "widget-extra", "9.0.0"),
        )
        .await
        .unwrap();
    store
        .publish_version(
            npm_version("@scope/widget", "3.0.0", "carol"),
            publish_as("carol", "@scope/widget", "3.0.0"),
        )
        .await
        .unwrap();
    let mut versions = store.versions("widget").await.unwrap();
    versions.sort_by(|a, b| a.version.cmp(&b.version));
    assert_eq!(versions, vec![first, second]);
    assert_eq!(version_numbers(store, "widget-extra").await, vec!["9.0.0"]);
    // The size of a package's version records covers at least every manifest in them, and
    // only that package's (not `widget-extra`'s, whose name starts the same).
    let manifests: u64 = versions
        .iter()
        .map(|v| serde_json::to_vec(&v.manifest).unwrap().len() as u64)
        .sum();
    let size = store.versions_size("widget").await.unwrap();
    assert!(size >= manifests, "{size} < {manifests}");
    assert!(
        size < manifests + 4096,
        "{size} is far more than {manifests}"
    );
    assert_eq!(store.version("widget", "9.0.0").await.unwrap(), None);

    assert_eq!(
        package_names(store).await,
        vec!["@scope/widget", "widget", "widget-extra"],
        "every package, by name"
    );
}

/// A version number is published once: the store, not the caller, decides who was first.
async fn exclusive_publish_contract(store: &dyn MetadataStore) {
    let original = npm_version("solo", "1.0.0", "alice");
    let package = store
        .publish_version(original.clone(), publish_as("alice", "solo", "1.0.0"))
        .await
        .unwrap();
    let id_before = store.latest_change().await.unwrap();

    let again = store
        .publish_version(
            npm_version("solo", "1.0.0", "mallory"),
            tag_on_publish("mallory", "solo", "evil", "1.0.0"),
        )
        .await;
    assert!(
        matches!(&again, Err(StoreError::VersionExists(v)) if v == "1.0.0"),
        "{again:?}"
    );
    // The refused publish left everything as it was: the version, the package, the change id.
    assert_eq!(
        store.version("solo", "1.0.0").await.unwrap(),
        Some(original)
    );
    assert_eq!(store.package("solo").await.unwrap(), Some(package));
    assert_eq!(store.latest_change().await.unwrap(), id_before);

    // Many publishers race for one version: exactly one wins and the rest are told it exists.
    let racers = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];
    let results = join_all(racers.iter().map(|who| {
        store.publish_version(
            npm_version("contested", "1.0.0", who),
            tag_on_publish(who, "contested", "latest", "1.0.0"),
        )
    }))
    .await;
    let mut winners = Vec::new();
    for (who, result) in racers.iter().zip(results) {
        match result {
            Ok(package) => winners.push((who.to_string(), package)),
            Err(StoreError::VersionExists(v)) => assert_eq!(v, "1.0.0"),
            Err(other) => panic!("{who}: unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one concurrent publish wins");
    let (winner, package) = winners.pop().unwrap();
    let stored = store.version("contested", "1.0.0").await.unwrap().unwrap();
    assert_eq!(
        stored.published_by, winner,
        "the stored version is the winner's"
    );
    assert_eq!(
        store.package("contested").await.unwrap(),
        Some(package.clone())
    );
    assert_eq!(package.owners, vec![winner]);

    // Two different versions published at once both land, and neither's package change is
    // lost to the other's.
    let (a, b) = tokio::join!(
        store.publish_version(
            npm_version("pair", "1.0.0", "alice"),
            tag_on_publish("alice", "pair", "one", "1.0.0"),
        ),
        store.publish_version(
            npm_version("pair", "2.0.0", "alice"),
            tag_on_publish("alice", "pair", "two", "2.0.0"),
        ),
    );
    a.unwrap();
    b.unwrap();
    let pair = store.package("pair").await.unwrap().unwrap();
    assert_eq!(pair.dist_tags.get("one").map(String::as_str), Some("1.0.0"));
    assert_eq!(pair.dist_tags.get("two").map(String::as_str), Some("2.0.0"));
    assert_eq!(version_numbers(store, "pair").await, vec!["1.0.0", "2.0.0"]);
}

/// Changes to an existing package: tags, owners, deprecations, unpublishing and deletion.
async fn modify_package_contract(store: &dyn MetadataStore) {
    let missing = store
        .modify_package("ghost", set_tag("beta", "1.0.0"))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NoSuchPackage)),
        "{missing:?}"
    );
    assert_eq!(store.package("ghost").await.unwrap(), None);

    let v1 = npm_version("@team/gadget", "1.0.0", "alice");
    let v2 = npm_version("@team/gadget", "2.0.0-beta.1", "alice");
    store
        .publish_version(v1.clone(), publish_as("alice", "@team/gadget", "1.0.0"))
        .await
        .unwrap();
    let published = store
        .publish_version(
            v2.clone(),
            tag_on_publish("alice", "@team/gadget", "beta", "2.0.0-beta.1"),
        )
        .await
        .unwrap();

    // The change sees the stored package and every version of it.
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    let change: PackageChange = Box::new(move |mut package, versions| {
        let mut numbers: Vec<String> = versions.iter().map(|v| v.version.clone()).collect();
        numbers.sort();
        *record.lock().unwrap() = Some((package.clone(), numbers));
        package
            .dist_tags
            .insert("next".into(), "2.0.0-beta.1".into());
        package.owners.push("bob".into());
        Ok(PackageEdit {
            package: Some(package),
            ..Default::default()
        })
    });
    let changed = store
        .modify_package("@team/gadget", change)
        .await
        .unwrap()
        .expect("the package is kept");
    assert_eq!(
        *seen.lock().unwrap(),
        Some((
            published.clone(),
            vec!["1.0.0".to_string(), "2.0.0-beta.1".to_string()]
        ))
    );
    assert!(changed.rev > published.rev, "a change bumps the revision");
    assert_eq!(changed.owners, vec!["alice".to_string(), "bob".to_string()]);
    assert_eq!(changed.dist_tags["next"], "2.0.0-beta.1");
    assert_eq!(
        store.package("@team/gadget").await.unwrap(),
        Some(changed.clone())
    );

    // A dist-tag removed and a version rewritten (as a deprecation does) in one change.
    let mut deprecated = v1.clone();
    deprecated
        .manifest
        .insert("deprecated".into(), json!("use 2.x"));
    let rewrite = deprecated.clone();
    let change: PackageChange = Box::new(move |mut package, _| {
        package.dist_tags.remove("next");
        Ok(PackageEdit {
            package: Some(package),
            upsert_versions: vec![rewrite.clone()],
            ..Default::default()
        })
    });
    let untagged = store
        .modify_package("@team/gadget", change)
        .await
        .unwrap()
        .unwrap();
    assert!(!untagged.dist_tags.contains_key("next"));
    assert!(untagged.rev > changed.rev);
    assert_eq!(
        store.version("@team/gadget", "1.0.0").await.unwrap(),
        Some(deprecated.clone())
    );
    assert_eq!(
        store.package("@team/gadget").await.unwrap(),
        Some(untagged.clone())
    );

    // A refused change leaves the package, its versions and the change id as they were.
    let id_before = store.latest_change().await.unwrap();
    let refused: PackageChange = Box::new(|_, _| Err(Denied::not_found("no such tag")));
    let denied = store.modify_package("@team/gadget", refused).await;
    match denied {
        Err(StoreError::Denied(d)) => {
            assert_eq!(d.kind, DenialKind::NotFound);
            assert_eq!(d.message, "no such tag");
        }
        other => panic!("expected Denied, got {other:?}"),
    }
    assert_eq!(
        store.package("@team/gadget").await.unwrap(),
        Some(untagged.clone())
    );
    assert_eq!(
        version_numbers(store, "@team/gadget").await,
        vec!["1.0.0", "2.0.0-beta.1"]
    );
    assert_eq!(store.latest_change().await.unwrap(), id_before);

    // Unpublishing one version: it is gone, and its number can never be used again.
    let unpublished = store
        .modify_package("@team/gadget", remove_version("2.0.0-beta.1"))
        .await
        .unwrap()
        .unwrap();
    assert!(unpublished.rev > untagged.rev);
    assert_eq!(
        store.version("@team/gadget", "2.0.0-beta.1").await.unwrap(),
        None
    );
    assert_eq!(version_numbers(store, "@team/gadget").await, vec!["1.0.0"]);
    let reuse = store
        .publish_version(
            npm_version("@team/gadget", "2.0.0-beta.1", "alice"),
            publish_as("alice", "@team/gadget", "2.0.0-beta.1"),
        )
        .await;
    assert!(
        matches!(&reuse, Err(StoreError::VersionUnpublished(v)) if v == "2.0.0-beta.1"),
        "{reuse:?}"
    );
    assert_eq!(
        store.version("@team/gadget", "2.0.0-beta.1").await.unwrap(),
        None
    );
    // A new number is fine.
    store
        .publish_version(
            npm_version("@team/gadget", "2.0.0", "alice"),
            publish_as("alice", "@team/gadget", "2.0.0"),
        )
        .await
        .unwrap();
    assert_eq!(
        version_numbers(store, "@team/gadget").await,
        vec!["1.0.0", "2.0.0"]
    );

    // Deleting the whole package: nothing is left to read, but the name stays ours, the scope
    // stays claimed, and no former version number comes back.
    assert!(!store.name_was_local("@team/gadget").await.unwrap());
    let deleted = store
        .modify_package("@team/gadget", delete_package())
        .await
        .unwrap();
    assert_eq!(deleted, None);
    assert_eq!(store.package("@team/gadget").await.unwrap(), None);
    assert!(store.versions("@team/gadget").await.unwrap().is_empty());
    assert_eq!(store.version("@team/gadget", "1.0.0").await.unwrap(), None);
    assert!(
        !package_names(store)
            .await
            .contains(&"@team/gadget".to_string())
    );
    assert!(store.name_was_local("@team/gadget").await.unwrap());
    assert!(!store.name_was_local("never-here").await.unwrap());
    assert!(store.scope_has_packages("@team").await.unwrap());
    let gone = store
        .modify_package("@team/gadget", set_tag("latest", "1.0.0"))
        .await;
    assert!(matches!(gone, Err(StoreError::NoSuchPackage)), "{gone:?}");
    for former in ["1.0.0", "2.0.0", "2.0.0-beta.1"] {
        let reuse = store
            .publish_version(
                npm_version("@team/gadget", former, "alice"),
                publish_as("alice", "@team/gadget", former),
            )
            .await;
        assert!(
            matches!(&reuse, Err(StoreError::VersionUnpublished(v)) if v == former),
            "{former}: {reuse:?}"
        );
    }

    // Taking the name back: the rule sees the former owners and no tags, so only they can.
    let (update, seen) = observing_publish("mallory", "@team/gadget", "3.0.0");
    let revived = store
        .publish_version(npm_version("@team/gadget", "3.0.0", "bob"), update)
        .await
        .unwrap();
    let given = seen.lock().unwrap().clone().expect("the rule ran");
    let given = given.expect("a wholly unpublished name has a package for the rule");
    assert_eq!(given.name, "@team/gadget");
    assert_eq!(given.owners, vec!["alice".to_string(), "bob".to_string()]);
    assert!(given.dist_tags.is_empty(), "{:?}", given.dist_tags);
    assert_eq!(revived.owners, vec!["alice".to_string(), "bob".to_string()]);
    assert_eq!(version_numbers(store, "@team/gadget").await, vec!["3.0.0"]);
}

/// A refused publish writes nothing, not even for a name the store has never seen.
async fn denied_publish_contract(store: &dyn MetadataStore) {
    let id_before = store.latest_change().await.unwrap();
    let denied = store
        .publish_version(
            npm_version("@locked/thing", "1.0.0", "mallory"),
            refuse_publish(),
        )
        .await;
    match denied {
        Err(StoreError::Denied(d)) => assert_eq!(d.kind, DenialKind::Forbidden),
        other => panic!("expected Denied, got {other:?}"),
    }
    assert_eq!(store.package("@locked/thing").await.unwrap(), None);
    assert_eq!(store.version("@locked/thing", "1.0.0").await.unwrap(), None);
    assert!(store.list_packages().await.unwrap().is_empty());
    assert!(!store.scope_has_packages("@locked").await.unwrap());
    assert_eq!(store.latest_change().await.unwrap(), id_before);

    // And the number was not used up: the rightful publisher can still take it.
    store
        .publish_version(
            npm_version("@locked/thing", "1.0.0", "alice"),
            publish_as("alice", "@locked/thing", "1.0.0"),
        )
        .await
        .unwrap();

    // Refused for an existing package: the package and its versions stay as they were.
    let before = store.package("@locked/thing").await.unwrap();
    let denied = store
        .publish_version(
            npm_version("@locked/thing", "1.1.0", "mallory"),
            refuse_publish(),
        )
        .await;
    assert!(matches!(denied, Err(StoreError::Denied(_))), "{denied:?}");
    assert_eq!(store.package("@locked/thing").await.unwrap(), before);
    assert_eq!(version_numbers(store, "@locked/thing").await, vec!["1.0.0"]);
}

/// Which scopes hold local packages: a name only claims its own scope.
async fn scope_contract(store: &dyn MetadataStore) {
    assert!(!store.scope_has_packages("@acme").await.unwrap());
    store
        .publish_version(
            npm_version("@acmecorp/tool", "1.0.0", "alice"),
            publish_as("alice", "@acmecorp/tool", "1.0.0"),
        )
        .await
        .unwrap();
    store
        .publish_version(
            npm_version("acme", "1.0.0", "alice"),
            publish_as("alice", "acme", "1.0.0"),
        )
        .await
        .unwrap();
    assert!(
        !store.scope_has_packages("@acme").await.unwrap(),
        "@acmecorp/tool and acme are not in @acme"
    );
    assert!(store.scope_has_packages("@acmecorp").await.unwrap());
    store
        .publish_version(
            npm_version("@acme/tool", "1.0.0", "alice"),
            publish_as("alice", "@acme/tool", "1.0.0"),
        )
        .await
        .unwrap();
    assert!(store.scope_has_packages("@acme").await.unwrap());
}

/// What the feed says changed after `after`, in order.
async fn changed_after(store: &dyn MetadataStore, after: &Option<String>) -> Vec<Changed> {
    store
        .changes_after(after.as_deref(), 100)
        .await
        .unwrap()
        .expect("the entry is in the feed")
        .into_iter()
        .map(|c| c.changed)
        .collect()
}

/// The change feed: every write to what a package shows appends one entry naming it, in order;
/// reads and refused writes append nothing.
async fn change_feed_contract(store: &dyn MetadataStore) {
    let fresh = store.latest_change().await.unwrap();
    assert_eq!(
        store.latest_change().await.unwrap(),
        fresh,
        "reading it changes nothing"
    );
    store
        .publish_version(
            npm_version("indexed", "1.0.0", "alice"),
            publish_as("alice", "indexed", "1.0.0"),
        )
        .await
        .unwrap();
    let after_publish = store.latest_change().await.unwrap();
    assert_ne!(after_publish, fresh, "a publish");
    assert_eq!(
        changed_after(store, &fresh).await,
        vec![Changed::Npm("indexed".into())]
    );

    // Reads of every kind leave it alone, so derived data stays current.
    store.package("indexed").await.unwrap();
    store.version("indexed", "1.0.0").await.unwrap();
    store.versions("indexed").await.unwrap();
    store.list_packages().await.unwrap();
    store.scope_has_packages("@x").await.unwrap();
    store.name_was_local("indexed").await.unwrap();
    store.cached_packument("indexed").await.unwrap();
    store.list_cached_packuments().await.unwrap();
    store.zig_package("indexed").await.unwrap();
    store.list_zig_packages().await.unwrap();
    store.blob_references().await.unwrap();
    store.download_totals().await.unwrap();
    assert_eq!(store.latest_change().await.unwrap(), after_publish, "reads");

    store
        .modify_package("indexed", set_tag("beta", "1.0.0"))
        .await
        .unwrap();
    store
        .put_cached_packument(packument("upstream-pkg", "\"e1\"", b"zstd bytes"))
        .await
        .unwrap();
    store
        .publish_zig_version(
            zig_version("zigpkg", "0.1.0", "alice"),
            zig_publish_as("alice", "zigpkg", "0.1.0"),
        )
        .await
        .unwrap();
    store
        .remove_cached_packuments(vec!["upstream-pkg".into()])
        .await
        .unwrap();
    assert_eq!(
        changed_after(store, &after_publish).await,
        vec![
            Changed::Npm("indexed".into()),
            Changed::Npm("upstream-pkg".into()),
            Changed::Zig("zigpkg".into()),
            Changed::Npm("upstream-pkg".into()),
        ],
        "a package change, a cached packument written and removed, a Zig publish"
    );

    // Ids sort in the order of the changes, pages follow each other, and the newest is the
    // latest.
    let all = store.changes_after(None, 100).await.unwrap().unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "ids increase");
    assert_eq!(
        store.latest_change().await.unwrap().as_deref(),
        ids.last().copied()
    );
    let first_two = store.changes_after(None, 2).await.unwrap().unwrap();
    assert_eq!(first_two, all[..2]);
    let rest = store
        .changes_after(Some(&first_two[1].id), 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, all[2..]);
    assert_eq!(
        store.changes_after(ids.last().copied(), 100).await.unwrap(),
        Some(Vec::new()),
        "nothing after the latest"
    );
    // A lower bound need not be an id: from the epoch is everything, from an id what follows.
    assert_eq!(
        store.changes_from("0000000000000000", 100).await.unwrap(),
        all
    );
    assert_eq!(
        store.changes_from(&first_two[1].id, 100).await.unwrap(),
        all[2..]
    );
    assert_eq!(
        store
            .changes_after(Some("0000000000000001-00000000"), 100)
            .await
            .unwrap(),
        None,
        "an id this feed never held: start over"
    );
}

/// Two databases never share a change id, or derived data built from one would pass as current
/// for the other.
async fn distinct_databases_contract(one: &dyn MetadataStore, other: &dyn MetadataStore) {
    for store in [one, other] {
        store
            .publish_version(
                npm_version("same", "1.0.0", "alice"),
                publish_as("alice", "same", "1.0.0"),
            )
            .await
            .unwrap();
    }
    let one_latest = one.latest_change().await.unwrap();
    assert_ne!(one_latest, other.latest_change().await.unwrap());
    assert_eq!(
        other
            .changes_after(one_latest.as_deref(), 10)
            .await
            .unwrap(),
        None
    );
}

/// User accounts.
async fn user_contract(store: &dyn MetadataStore) {
    assert_eq!(store.user("alice").await.unwrap(), None);
    assert!(store.list_users().await.unwrap().is_empty());

    let alice = user("alice", "alice@example.com");
    store.insert_user(alice.clone()).await.unwrap();
    assert_eq!(store.user("alice").await.unwrap(), Some(alice.clone()));

    // The name is taken: the second account is refused and the first is untouched.
    let impostor = user("alice", "impostor@example.com");
    let taken = store.insert_user(impostor).await;
    assert!(
        matches!(&taken, Err(StoreError::UserExists(n)) if n == "alice"),
        "{taken:?}"
    );
    assert_eq!(store.user("alice").await.unwrap(), Some(alice.clone()));

    let bob = user("bob", "bob@example.com");
    store.insert_user(bob.clone()).await.unwrap();
    assert_eq!(store.user("bob").await.unwrap(), Some(bob.clone()));
    assert_eq!(store.user("carol").await.unwrap(), None);

    // Updating replaces the record (a new password, a new email).
    let mut changed = alice.clone();
    changed.email = "alice@new.example.com".into();
    changed.password_hash = "$argon2id$new".into();
    changed.updated_at = LATER;
    store.update_user(changed.clone()).await.unwrap();
    assert_eq!(store.user("alice").await.unwrap(), Some(changed.clone()));
    assert_eq!(store.user("bob").await.unwrap(), Some(bob.clone()));

    let mut users = store.list_users().await.unwrap();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(users, vec![changed.clone(), bob.clone()]);

    // The account flags and an invitation are kept as written.
    let mut flagged = changed.clone();
    flagged.disabled = true;
    flagged.admin = true;
    flagged.invite_hash = Some(sha256_hex("an invitation"));
    flagged.invite_expires_at = Some(LATER);
    store.update_user(flagged.clone()).await.unwrap();
    assert_eq!(store.user("alice").await.unwrap(), Some(flagged));

    // Deleting removes one account, once.
    assert!(store.delete_user("bob").await.unwrap());
    assert!(!store.delete_user("bob").await.unwrap());
    assert_eq!(store.user("bob").await.unwrap(), None);
    assert_eq!(store.list_users().await.unwrap().len(), 1);
}

/// The audit log: entries in the order appended, ids in order, pages, a time as a lower bound,
/// and pruning by age.
async fn audit_contract(store: &dyn MetadataStore) {
    let entry = |action: &str, at: OffsetDateTime| AuditRecord {
        id: String::new(),
        at,
        action: action.to_string(),
        target: "npm:thing@1.0.0".to_string(),
        outcome: "ok".to_string(),
        detail: Some("what changed".to_string()),
        user: Some("alice".to_string()),
        token_id: Some("tok_1".to_string()),
        address: Some("192.0.2.7".to_string()),
    };
    assert!(store.audit_page(None, 10).await.unwrap().is_empty());
    store
        .append_audit(vec![entry("first", CREATED), entry("second", CREATED)])
        .await
        .unwrap();
    store
        .append_audit(vec![entry("third", LATER)])
        .await
        .unwrap();
    store.append_audit(Vec::new()).await.unwrap();
    let all = store.audit_page(None, 10).await.unwrap();
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["first", "second", "third"]);
    let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "ids increase");
    assert_eq!(
        AuditRecord {
            id: String::new(),
            ..all[0].clone()
        },
        entry("first", CREATED),
        "kept as written"
    );
    let page = store.audit_page(Some(&all[0].id), 1).await.unwrap();
    assert_eq!(page, all[1..2]);
    // Entries are appended now, so a time just before now bounds them all from below, and
    // one in the future none.
    let before = pantry_registry::store::schema::time_key(
        OffsetDateTime::now_utc() - time::Duration::minutes(5),
    );
    assert_eq!(store.audit_page(Some(&before), 10).await.unwrap().len(), 3);
    let future = pantry_registry::store::schema::time_key(
        OffsetDateTime::now_utc() + time::Duration::minutes(5),
    );
    assert!(
        store
            .audit_page(Some(&future), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Pruning goes by when entries were appended.
    assert_eq!(
        store
            .prune_audit(OffsetDateTime::now_utc() - time::Duration::minutes(5))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .prune_audit(OffsetDateTime::now_utc() + time::Duration::minutes(5))
            .await
            .unwrap(),
        3
    );
    assert!(store.audit_page(None, 10).await.unwrap().is_empty());
}

/// Tokens: stored by the hash of their secret, revoked by their public id.
async fn token_contract(store: &dyn MetadataStore) {
    assert!(store.list_tokens().await.unwrap().is_empty());
    let ci = token("tok_ci", "alice", CREATED);
    let laptop = token("tok_laptop", "bob", LATER);
    store.insert_token(ci.clone()).await.unwrap();
    store.insert_token(laptop.clone()).await.unwrap();

    assert_eq!(
        store.token_by_hash(&ci.hash).await.unwrap(),
        Some(ci.clone())
    );
    assert_eq!(
        store.token_by_hash(&laptop.hash).await.unwrap(),
        Some(laptop.clone())
    );
    assert_eq!(
        store.token_by_hash(&sha256_hex("a guess")).await.unwrap(),
        None
    );
    // The public id is not a credential, but it finds the token's record.
    assert_eq!(store.token_by_hash(&ci.id).await.unwrap(), None);
    assert_eq!(store.token_by_id(&ci.id).await.unwrap(), Some(ci.clone()));
    assert_eq!(store.token_by_id(&ci.hash).await.unwrap(), None);

    let mut tokens = store.list_tokens().await.unwrap();
    tokens.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(tokens, vec![ci.clone(), laptop.clone()]);

    // Uses: the latest time is kept, an older one never replaces it, a gone token is skipped.
    store
        .touch_tokens(vec![
            (ci.hash.clone(), LATER),
            (ci.hash.clone(), CREATED),
            (sha256_hex("a token long gone"), LATER),
        ])
        .await
        .unwrap();
    let used = store.token_by_hash(&ci.hash).await.unwrap().unwrap();
    assert_eq!(used.last_used, Some(LATER));
    assert_eq!(
        store
            .token_by_hash(&laptop.hash)
            .await
            .unwrap()
            .unwrap()
            .last_used,
        None
    );
    let ci = used;

    // Revoking goes by id: the hash is not an id, and an unknown id revokes nothing.
    assert!(!store.revoke_token(&ci.hash).await.unwrap());
    assert!(!store.revoke_token("tok_unknown").await.unwrap());
    assert_eq!(store.list_tokens().await.unwrap().len(), 2);

    assert!(store.revoke_token("tok_ci").await.unwrap());
    assert_eq!(store.token_by_hash(&ci.hash).await.unwrap(), None);
    assert_eq!(store.token_by_id("tok_ci").await.unwrap(), None);
    assert_eq!(store.list_tokens().await.unwrap(), vec![laptop.clone()]);
    assert!(
        !store.revoke_token("tok_ci").await.unwrap(),
        "already revoked"
    );
    assert_eq!(
        store.token_by_hash(&laptop.hash).await.unwrap(),
        Some(laptop)
    );
}

/// Download batches are applied once: a flush whose answer was lost is sent again under the
/// same id and must not count twice; the same counts in a new batch do count.
async fn download_batch_contract(store: &dyn MetadataStore) {
    // A batch sent again under its id (a flush whose answer was lost) is not counted again;
    // the same counts in a new batch are.
    let once = DownloadBatch::new(vec![count("dl-once", "1.0.0", "2026-03-01", 3)]);
    store.add_downloads(once.clone()).await.unwrap();
    store.add_downloads(once.clone()).await.unwrap();
    assert_eq!(store.downloads("dl-once").await.unwrap()[0].count, 3);
    store
        .add_downloads(DownloadBatch::new(once.counts.clone()))
        .await
        .unwrap();
    assert_eq!(store.downloads("dl-once").await.unwrap()[0].count, 6);
}

/// Download counts: added up per (name, version, day), read back per package, per period and
/// in total.
async fn download_contract(store: &dyn MetadataStore) {
    assert!(store.download_totals().await.unwrap().is_empty());
    assert!(store.downloads("dl").await.unwrap().is_empty());
    store
        .add_downloads(DownloadBatch::new(Vec::new()))
        .await
        .unwrap();
    assert!(store.download_totals().await.unwrap().is_empty());

    store
        .add_downloads(DownloadBatch::new(vec![
            count("dl", "1.0.0", "2026-03-01", 2),
            count("dl", "2.0.0", "2026-03-01", 3),
            count("dl", "1.0.0", "2026-03-02", 1),
            // The same key twice in one batch adds up.
            count("dl", "1.0.0", "2026-03-02", 4),
            count("dl-other", "0.1.0", "2026-02-28", 10),
            count("zig:dl", "0.1.0", "2026-03-03", 7),
        ]))
        .await
        .unwrap();
    // A later batch adds to the stored totals, it does not replace them.
    store
        .add_downloads(DownloadBatch::new(vec![
            count("dl", "2.0.0", "2026-03-01", 5),
            count("dl", "2.0.0", "2026-03-04", 1),
        ]))
        .await
        .unwrap();

    let s = |text: &str| text.to_string();
    assert_eq!(
        tuples(store.downloads("dl").await.unwrap()),
        vec![
            (s("dl"), s("1.0.0"), s("2026-03-01"), 2),
            (s("dl"), s("1.0.0"), s("2026-03-02"), 5),
            (s("dl"), s("2.0.0"), s("2026-03-01"), 8),
            (s("dl"), s("2.0.0"), s("2026-03-04"), 1),
        ],
        "only this package's counts, not those of names that start the same"
    );
    assert_eq!(
        tuples(store.downloads("dl-other").await.unwrap()),
        vec![(s("dl-other"), s("0.1.0"), s("2026-02-28"), 10)]
    );
    assert!(store.downloads("nobody").await.unwrap().is_empty());

    assert_eq!(
        store.download_totals().await.unwrap(),
        vec![(s("dl"), 16), (s("dl-other"), 10), (s("zig:dl"), 7)],
        "totals by name"
    );

    // A period: every version of a package summed per day, both ends included.
    assert_eq!(
        tuples(
            store
                .downloads_between("2026-03-01", "2026-03-03")
                .await
                .unwrap()
        ),
        vec![
            (s("dl"), s(""), s("2026-03-01"), 10),
            (s("dl"), s(""), s("2026-03-02"), 5),
            (s("zig:dl"), s(""), s("2026-03-03"), 7),
        ]
    );
    assert_eq!(
        tuples(
            store
                .downloads_between("2026-03-04", "2026-03-04")
                .await
                .unwrap()
        ),
        vec![(s("dl"), s(""), s("2026-03-04"), 1)]
    );
    assert!(
        store
            .downloads_between("2026-04-01", "2026-04-30")
            .await
            .unwrap()
            .is_empty()
    );

    // Since a day: that day and later; a name with nothing in the period is left out.
    let mut since = store.download_totals_since("2026-03-01").await.unwrap();
    since.sort();
    assert_eq!(since, vec![(s("dl"), 16), (s("zig:dl"), 7)]);
    let mut since = store.download_totals_since("2026-03-02").await.unwrap();
    since.sort();
    assert_eq!(since, vec![(s("dl"), 6), (s("zig:dl"), 7)]);
    assert!(
        store
            .download_totals_since("2026-03-05")
            .await
            .unwrap()
            .is_empty()
    );
}

/// The upstream cache: packuments (with negative entries) and proxied tarballs.
async fn cache_contract(store: &dyn MetadataStore) {
    assert_eq!(store.cached_packument("lodash").await.unwrap(), None);
    assert!(store.list_cached_packuments().await.unwrap().is_empty());

    let lodash = packument("lodash", "\"v1\"", b"zstd'd lodash packument");
    store.put_cached_packument(lodash.clone()).await.unwrap();
    assert_eq!(
        store.cached_packument("lodash").await.unwrap(),
        Some(lodash)
    );

    // A refetch replaces the entry, body and validators alike.
    let refetched = CachedPackument {
        fetched_at: LATER,
        ..packument("lodash", "\"v2\"", b"a newer, longer lodash packument")
    };
    store.put_cached_packument(refetched.clone()).await.unwrap();
    assert_eq!(
        store.cached_packument("lodash").await.unwrap(),
        Some(refetched.clone())
    );

    // The upstream said 404: a negative entry, with no body.
    store
        .put_cached_packument(missing_packument("no-such-pkg"))
        .await
        .unwrap();
    let negative = store
        .cached_packument("no-such-pkg")
        .await
        .unwrap()
        .unwrap();
    assert!(negative.missing);
    assert_eq!(negative.body, None);
    assert_eq!(negative, missing_packument("no-such-pkg"));

    // A package that went missing upstream loses its old body.
    store
        .put_cached_packument(packument("left-pad", "\"lp\"", b"left-pad body"))
        .await
        .unwrap();
    store
        .put_cached_packument(missing_packument("left-pad"))
        .await
        .unwrap();
    let unpublished = store.cached_packument("left-pad").await.unwrap().unwrap();
    assert!(unpublished.missing);
    assert_eq!(unpublished.body, None);

    // Listing, by name, with the body references and sizes.
    let listed = store.list_cached_packuments().await.unwrap();
    assert_eq!(
        listed,
        vec![
            unpublished.clone(),
            refetched.clone(),
            missing_packument("no-such-pkg"),
        ]
    );
    assert_eq!(
        store
            .cached_packuments_page(Some("left-pad"), 1)
            .await
            .unwrap(),
        vec![refetched.clone()],
        "a page after a name"
    );

    store
        .remove_cached_packuments(vec!["lodash".into(), "left-pad".into()])
        .await
        .unwrap();
    assert_eq!(store.cached_packument("lodash").await.unwrap(), None);
    assert_eq!(store.cached_packument("left-pad").await.unwrap(), None);
    assert!(
        store
            .cached_packument("no-such-pkg")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.list_cached_packuments().await.unwrap().len(), 1);

    // Proxied tarballs.
    assert_eq!(
        store.proxied_tarball("lodash", "4.17.21").await.unwrap(),
        None
    );
    let tarball = proxied("lodash", "4.17.21", CREATED);
    let other = proxied("lodash", "4.17.20", CREATED);
    store.put_proxied_tarball(tarball.clone()).await.unwrap();
    store.put_proxied_tarball(other.clone()).await.unwrap();
    assert_eq!(
        store.proxied_tarball("lodash", "4.17.21").await.unwrap(),
        Some(tarball.clone())
    );
    assert_eq!(
        store.proxied_tarball("lodash", "4.17.22").await.unwrap(),
        None
    );

    // A use moves `last_used` forward; an older use (recorded late) does not move it back, so
    // eviction never drops a tarball that was just used. A use of an unknown tarball creates
    // nothing.
    store
        .touch_proxied_tarballs(vec![
            ("lodash".into(), "4.17.21".into(), LATER),
            ("lodash".into(), "9.9.9".into(), LATER),
        ])
        .await
        .unwrap();
    store
        .touch_proxied_tarballs(vec![("lodash".into(), "4.17.21".into(), CREATED)])
        .await
        .unwrap();
    let used = store
        .proxied_tarball("lodash", "4.17.21")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.last_used, LATER);
    assert_eq!(
        used,
        ProxiedTarball {
            last_used: LATER,
            ..tarball.clone()
        }
    );
    assert_eq!(
        store.proxied_tarball("lodash", "9.9.9").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .proxied_tarball("lodash", "4.17.20")
            .await
            .unwrap()
            .unwrap()
            .last_used,
        CREATED
    );

    let mut all = store.list_proxied_tarballs().await.unwrap();
    all.sort_by(|a, b| a.version.cmp(&b.version));
    assert_eq!(all, vec![other.clone(), used]);

    store
        .remove_proxied_tarballs(vec![("lodash".into(), "4.17.21".into())])
        .await
        .unwrap();
    assert_eq!(
        store.proxied_tarball("lodash", "4.17.21").await.unwrap(),
        None
    );
    assert_eq!(store.list_proxied_tarballs().await.unwrap(), vec![other]);
}

/// Zig packages: published once per version, found by name, version and either hash.
async fn zig_contract(store: &dyn MetadataStore) {
    assert_eq!(store.zig_package("zlib").await.unwrap(), None);
    assert_eq!(store.zig_version("zlib", "1.0.0").await.unwrap(), None);
    assert!(store.zig_versions("zlib").await.unwrap().is_empty());
    assert!(store.list_zig_packages().await.unwrap().is_empty());

    let first = zig_version("zlib", "1.0.0", "alice");
    let package = store
        .publish_zig_version(first.clone(), zig_publish_as("alice", "zlib", "1.0.0"))
        .await
        .unwrap();
    assert_eq!(package.owners, vec!["alice".to_string()]);
    assert_eq!(package.latest, "1.0.0");
    assert_eq!(
        store.zig_package("zlib").await.unwrap(),
        Some(package.clone())
    );
    assert_eq!(
        store.zig_version("zlib", "1.0.0").await.unwrap(),
        Some(first.clone())
    );

    // Found by hash, in either form.
    assert_eq!(
        store.zig_by_hash(&first.hash).await.unwrap(),
        Some(first.clone())
    );
    let legacy = first.legacy_hash.clone().expect("a legacy hash");
    assert_eq!(
        store.zig_by_hash(&legacy).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store
            .zig_by_hash("zlib-1.0.0-doesnotexistdoesnotexistdoesnotex")
            .await
            .unwrap(),
        None
    );

    // The same version again is refused, whoever publishes it, and changes nothing.
    let duplicate = zig_version("zlib", "1.0.0", "mallory");
    let again = store
        .publish_zig_version(duplicate, zig_publish_as("mallory", "zlib", "1.0.0"))
        .await;
    assert!(
        matches!(&again, Err(StoreError::VersionExists(v)) if v == "1.0.0"),
        "{again:?}"
    );
    assert_eq!(
        store.zig_version("zlib", "1.0.0").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.zig_package("zlib").await.unwrap(),
        Some(package.clone())
    );

    // A second version: the rule sees the stored package.
    let second = zig_version("zlib", "1.1.0", "alice");
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    let inner = zig_publish_as("alice", "zlib", "1.1.0");
    let update: ZigPackageUpdate = Box::new(move |current: Option<ZigPackageRecord>| {
        *record.lock().unwrap() = Some(current.clone());
        inner(current)
    });
    let updated = store
        .publish_zig_version(second.clone(), update)
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(Some(package.clone())));
    assert_eq!(updated.latest, "1.1.0");
    assert_eq!(
        store.zig_package("zlib").await.unwrap(),
        Some(updated.clone())
    );
    assert_eq!(
        store.zig_by_hash(&second.hash).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        store.zig_by_hash(&first.hash).await.unwrap(),
        Some(first.clone())
    );

    // Versions of one package only, not of a name that starts the same.
    let neighbour = zig_version("zlib-ng", "2.0.0", "bob");
    store
        .publish_zig_version(neighbour.clone(), zig_publish_as("bob", "zlib-ng", "2.0.0"))
        .await
        .unwrap();
    let mut versions = store.zig_versions("zlib").await.unwrap();
    versions.sort_by(|a, b| a.version.cmp(&b.version));
    assert_eq!(versions, vec![first.clone(), second.clone()]);
    let mut names: Vec<String> = store
        .list_zig_packages()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    assert_eq!(names, vec!["zlib", "zlib-ng"]);

    // A refused publish writes neither the package, the version nor its hashes.
    let refused = zig_version("locked", "1.0.0", "mallory");
    let denied = store
        .publish_zig_version(
            refused.clone(),
            Box::new(|_| Err(Denied::forbidden("not an owner"))),
        )
        .await;
    match denied {
        Err(StoreError::Denied(d)) => assert_eq!(d.kind, DenialKind::Forbidden),
        other => panic!("expected Denied, got {other:?}"),
    }
    assert_eq!(store.zig_package("locked").await.unwrap(), None);
    assert_eq!(store.zig_version("locked", "1.0.0").await.unwrap(), None);
    assert_eq!(store.zig_by_hash(&refused.hash).await.unwrap(), None);
    assert_eq!(
        store
            .zig_by_hash(refused.legacy_hash.as_deref().unwrap())
            .await
            .unwrap(),
        None
    );

    // Zig names are their own namespace: nothing here is an npm package.
    assert!(store.list_packages().await.unwrap().is_empty());
    assert_eq!(store.package("zlib").await.unwrap(), None);

    // Racing publishers of one Zig version: exactly one wins.
    let racers = ["z0", "z1", "z2", "z3", "z4", "z5"];
    let results = join_all(racers.iter().map(|who| {
        store.publish_zig_version(
            zig_version("raced", "0.1.0", who),
            zig_publish_as(who, "raced", "0.1.0"),
        )
    }))
    .await;
    let winners: Vec<&str> = racers
        .iter()
        .zip(&results)
        .filter_map(|(who, r)| match r {
            Ok(_) => Some(*who),
            Err(StoreError::VersionExists(_)) => None,
            Err(other) => panic!("{who}: unexpected {other:?}"),
        })
        .collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = store.zig_version("raced", "0.1.0").await.unwrap().unwrap();
    assert_eq!(stored.published_by, winners[0]);
    assert_eq!(
        store.zig_package("raced").await.unwrap().unwrap().owners,
        vec![winners[0].to_string()]
    );
}

/// Which blobs the records name: every kind, and no more once a record is gone.
async fn blob_reference_contract(store: &dyn MetadataStore) {
    assert!(store.blob_references().await.unwrap().is_empty());

    let kept = npm_version("refd", "1.0.0", "alice");
    let dropped = npm_version("refd", "1.1.0", "alice");
    store
        .publish_version(kept.clone(), publish_as("alice", "refd", "1.0.0"))
        .await
        .unwrap();
    store
        .publish_version(dropped.clone(), publish_as("alice", "refd", "1.1.0"))
        .await
        .unwrap();
    let zig = zig_version("refzig", "0.1.0", "alice");
    store
        .publish_zig_version(zig.clone(), zig_publish_as("alice", "refzig", "0.1.0"))
        .await
        .unwrap();
    let upstream = proxied("upstream-dep", "1.2.3", CREATED);
    store.put_proxied_tarball(upstream.clone()).await.unwrap();
    // A cached packument names its body's blob; a negative entry names none.
    let cached = packument("upstream-dep", "\"u\"", b"body");
    store.put_cached_packument(cached.clone()).await.unwrap();
    store
        .put_cached_packument(missing_packument("gone-upstream"))
        .await
        .unwrap();

    let npm_ref = |v: &VersionRecord| BlobReference {
        key: v.tarball.sha256.clone(),
        owner: BlobOwner::NpmVersion {
            name: v.name.clone(),
            version: v.version.clone(),
        },
    };
    let zig_ref = BlobReference {
        key: zig.sha256.clone(),
        owner: BlobOwner::ZigVersion {
            name: zig.name.clone(),
            version: zig.version.clone(),
        },
    };
    let proxied_ref = BlobReference {
        key: upstream.sha256.clone(),
        owner: BlobOwner::ProxiedTarball {
            name: upstream.name.clone(),
            version: upstream.version.clone(),
        },
    };
    let body_ref = BlobReference {
        key: cached.body.clone().unwrap(),
        owner: BlobOwner::CachedPackument {
            name: cached.name.clone(),
        },
    };
    let sorted = |mut refs: Vec<BlobReference>| {
        refs.sort_by(|a, b| (&a.owner, &a.key).cmp(&(&b.owner, &b.key)));
        refs
    };
    assert_eq!(
        sorted(store.blob_references().await.unwrap()),
        sorted(vec![
            npm_ref(&kept),
            npm_ref(&dropped),
            zig_ref.clone(),
            proxied_ref.clone(),
            body_ref.clone(),
        ])
    );

    // An unpublished version, an evicted tarball and a removed packument no longer hold their
    // blobs.
    store
        .modify_package("refd", remove_version("1.1.0"))
        .await
        .unwrap();
    store
        .remove_proxied_tarballs(vec![("upstream-dep".into(), "1.2.3".into())])
        .await
        .unwrap();
    store
        .remove_cached_packuments(vec!["upstream-dep".into()])
        .await
        .unwrap();
    assert_eq!(
        sorted(store.blob_references().await.unwrap()),
        sorted(vec![npm_ref(&kept), zig_ref.clone()])
    );

    // Deleting the package releases the rest of its blobs.
    store
        .modify_package("refd", delete_package())
        .await
        .unwrap();
    assert_eq!(store.blob_references().await.unwrap(), vec![zig_ref]);
}

/// Rate limit counters: a bucket of `per_minute` that refills at that rate, one per key.
async fn rate_contract(rates: &dyn RateStore) {
    const PER_MINUTE: u32 = 5;
    for n in 0..PER_MINUTE {
        assert_eq!(
            rates.take("client-a", PER_MINUTE).await.unwrap(),
            None,
            "request {n} of a burst within the limit"
        );
    }
    let retry = rates
        .take("client-a", PER_MINUTE)
        .await
        .unwrap()
        .expect("the bucket is empty");
    // One request refills in 60 / PER_MINUTE seconds; the answer is whole seconds, at least 1.
    assert!(
        (1..=u64::from(60 / PER_MINUTE)).contains(&retry),
        "retry after {retry}s"
    );
    // Still empty a moment later.
    assert!(rates.take("client-a", PER_MINUTE).await.unwrap().is_some());

    // Another key has its own bucket.
    for n in 0..PER_MINUTE {
        assert_eq!(
            rates.take("client-b", PER_MINUTE).await.unwrap(),
            None,
            "client-b request {n}"
        );
    }
    assert!(rates.take("client-b", PER_MINUTE).await.unwrap().is_some());
}

// ---------------------------------------------------------------------------------------------
// Running the contracts per implementation.
// ---------------------------------------------------------------------------------------------

/// One `#[tokio::test]` per contract for the implementation `$open` opens: `$open().await` gives
/// `(guard, store)`, a fresh empty store and whatever must outlive it.
macro_rules! store_contract_tests {
    ($implementation:ident, $open:path) => {
        mod $implementation {
            use super::*;

            store_contract_tests!(@each $open;
                packages_read_back_what_was_published => package_contract,
                listing_comes_in_pages => paged_listing_contract,
                a_version_is_published_once => exclusive_publish_contract,
                package_changes_apply_atomically => modify_package_contract,
                a_refused_publish_writes_nothing => denied_publish_contract,
                a_scope_holds_only_its_own_names => scope_contract,
                the_change_feed_follows_package_writes => change_feed_contract,
                users_are_unique_by_name => user_contract,
                tokens_are_found_by_hash_revoked_by_id => token_contract,
                download_counts_add_up => download_contract,
                a_download_batch_counts_once => download_batch_contract,
                the_upstream_cache_keeps_what_was_fetched => cache_contract,
                zig_versions_are_found_by_name_and_hash => zig_contract,
                blob_references_name_every_kind => blob_reference_contract,
                the_audit_log_keeps_entries_in_order => audit_contract,
            );

            #[tokio::test]
            async fn two_databases_have_different_change_ids() {
                let (_one_guard, one) = $open().await;
                let (_other_guard, other) = $open().await;
                distinct_databases_contract(&one, &other).await;
            }
        }
    };
    // Multi-threaded, so that the concurrent publishes really do run at the same time.
    (@each $open:path; $($test:ident => $contract:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let (_guard, store) = $open().await;
                $contract(&store).await;
            }
        )*
    };
}

async fn open_redb() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = RedbStore::open(&dir.path().join("registry.redb")).expect("open the redb store");
    (dir, store)
}

store_contract_tests!(redb, open_redb);

/// A DynamoDB store on a moto server of its own (every test gets a fresh, empty one).
async fn open_dynamodb() -> (
    common::s3::Moto,
    pantry_registry::store::dynamo::DynamoStore,
) {
    let moto = common::s3::Moto::start_dynamodb().await;
    let table = format!("pantry-{:08x}", rand::random::<u32>());
    let store = moto.dynamo_store(&table).await;
    (moto, store)
}

store_contract_tests!(dynamodb, open_dynamodb);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_rates_keep_a_bucket_per_key() {
    let (_moto, store) = open_dynamodb().await;
    rate_contract(&store).await;
}

#[tokio::test]
async fn memory_rates_keep_a_bucket_per_key() {
    rate_contract(&MemoryRates::default()).await;
}

// ---------------------------------------------------------------------------------------------
// redb only: the store is a file, and what it holds (change feed included) survives a reopen.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn redb_keeps_records_and_change_feed_across_a_reopen() {
    let (dir, store) = open_redb().await;
    let version = npm_version("durable", "1.0.0", "alice");
    let package = store
        .publish_version(version.clone(), publish_as("alice", "durable", "1.0.0"))
        .await
        .unwrap();
    use pantry_registry::store::ChangeFeed;
    let id = store.latest_change().await.unwrap();
    drop(store);

    let reopened = RedbStore::open(&dir.path().join("registry.redb")).expect("reopen");
    // The search index built before the restart is still current: the id did not move.
    assert_eq!(reopened.latest_change().await.unwrap(), id);
    assert_eq!(reopened.package("durable").await.unwrap(), Some(package));
    assert_eq!(
        reopened.version("durable", "1.0.0").await.unwrap(),
        Some(version)
    );
}

// ---------------------------------------------------------------------------------------------
// DynamoDB only: the limits of the engine (100 actions per transaction, 400 KB per item).
// ---------------------------------------------------------------------------------------------

/// A deprecation of every version of a package with more versions than one transaction holds
/// is written whole, and a deletion of it leaves every number used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_changes_a_package_larger_than_a_transaction() {
    let (_moto, store) = open_dynamodb().await;
    for patch in 0..130 {
        let version = format!("1.0.{patch}");
        store
            .publish_version(
                npm_version("big", &version, "alice"),
                publish_as("alice", "big", &version),
            )
            .await
            .unwrap();
    }
    let before = pantry_registry::store::ChangeFeed::latest_change(&store)
        .await
        .unwrap();
    let deprecate_all: PackageChange = Box::new(|package, versions| {
        let upsert_versions = versions
            .into_iter()
            .map(|mut v| {
                v.manifest.insert("deprecated".into(), json!("use 2.x"));
                v
            })
            .collect();
        Ok(PackageEdit {
            package: Some(package),
            upsert_versions,
            remove_versions: Vec::new(),
        })
    });
    let written = store
        .modify_package("big", deprecate_all)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written.rev, 131);
    let versions = store.versions("big").await.unwrap();
    assert_eq!(versions.len(), 130);
    assert!(
        versions
            .iter()
            .all(|v| v.manifest["deprecated"] == "use 2.x")
    );
    assert_eq!(
        changed_after(&store, &before).await,
        vec![Changed::Npm("big".into())],
        "one change, however many transactions"
    );
    assert_eq!(
        store.modify_package("big", delete_package()).await.unwrap(),
        None
    );
    assert!(store.versions("big").await.unwrap().is_empty());
    assert!(store.name_was_local("big").await.unwrap());
    let again = store
        .publish_version(
            npm_version("big", "1.0.77", "alice"),
            publish_as("alice", "big", "1.0.77"),
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::VersionUnpublished(_))),
        "{again:?}"
    );
}

/// A manifest too big for one item as JSON is kept compressed and reads back the same; one
/// that stays too big compressed is refused as the client's mistake, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_keeps_large_manifests_and_refuses_what_cannot_fit() {
    let (_moto, store) = open_dynamodb().await;
    let mut large = npm_version("wordy", "1.0.0", "alice");
    let readme = "A README that goes on and on about the package. ".repeat(20_000);
    large.manifest.insert("readme".into(), json!(readme));
    assert!(serde_json::to_vec(&large.manifest).unwrap().len() > 900_000);
    store
        .publish_version(large.clone(), publish_as("alice", "wordy", "1.0.0"))
        .await
        .unwrap();
    assert_eq!(
        store.version("wordy", "1.0.0").await.unwrap(),
        Some(large.clone())
    );
    assert!(store.versions_size("wordy").await.unwrap() > 900_000);

    let mut noise = npm_version("noisy", "1.0.0", "alice");
    // Six bits of noise per character: about 450 KB however well it is compressed.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let random: String = common::incompressible(600_000, 7)
        .into_iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 64)]))
        .collect();
    noise.manifest.insert("readme".into(), json!(random));
    let refused = store
        .publish_version(noise, publish_as("alice", "noisy", "1.0.0"))
        .await;
    assert!(
        matches!(&refused, Err(StoreError::Denied(d)) if d.kind == DenialKind::Invalid),
        "{refused:?}"
    );
    assert_eq!(store.package("noisy").await.unwrap(), None);
}
