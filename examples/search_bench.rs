//! Search at scale on this machine: indexing throughput and query latency.
//!
//! `cargo run --release --example search_bench [-- PACKAGES QUERIES]` (defaults: 100,000
//! packages, 2,000 queries per kind).
//!
//! Writes PACKAGES generated packages (names from a 5,000-word vocabulary, 8–20-word
//! descriptions, 3 keywords, a download count) straight into a fresh store, then:
//! 1. rebuilds the search index from the store (`pantry-registry reindex`'s path) and reports
//!    packages indexed per second;
//! 2. serves the registry on 127.0.0.1 and sends QUERIES searches of each kind, one at a time,
//!    over HTTP (`GET /search`), reporting p50/p99;
//! 3. publishes 200 packages over HTTP, one at a time, and reports how long each took to become
//!    searchable (publish answered → first search that finds it).
//!
//! Client and server share the machine's cores.

use std::time::{Duration, Instant};

use pantry_registry::store::redb_store::RedbStore;
use pantry_registry::{Registry, TokenScope};
use serde_json::json;

#[path = "../tests/common/catalogue.rs"]
mod catalogue;
use catalogue::{CataloguePackage, Lcg, write_catalogue};

/// 5,000 pronounceable words: consonant-vowel syllables.
fn vocabulary() -> Vec<String> {
    const C: &[u8] = b"bcdfghklmnprstvz";
    const V: &[u8] = b"aeiou";
    let mut rng = Lcg(7);
    let mut words = std::collections::BTreeSet::new();
    while words.len() < 5000 {
        let syllables = 2 + rng.next(2);
        let mut w = String::new();
        for _ in 0..syllables {
            w.push(C[rng.next(C.len() as u64) as usize] as char);
            w.push(V[rng.next(V.len() as u64) as usize] as char);
        }
        words.insert(w);
    }
    words.into_iter().collect()
}

fn catalogue(packages: usize, words: &[String]) -> Vec<CataloguePackage> {
    let mut rng = Lcg(42);
    let word = |rng: &mut Lcg| words[rng.next(words.len() as u64) as usize].clone();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(packages);
    while out.len() < packages {
        let name = if rng.next(5) == 0 {
            format!("@{}/{}-{}", word(&mut rng), word(&mut rng), word(&mut rng))
        } else {
            format!("{}-{}", word(&mut rng), word(&mut rng))
        };
        if !seen.insert(name.clone()) {
            continue;
        }
        let len = 8 + rng.next(13);
        let description = (0..len)
            .map(|_| word(&mut rng))
            .collect::<Vec<_>>()
            .join(" ");
        let keywords = (0..3).map(|_| word(&mut rng)).collect();
        // Popularity is skewed: most packages have few downloads.
        let downloads = rng.next(1000) * rng.next(1000) / 100;
        out.push(CataloguePackage {
            name,
            description,
            keywords,
            author: None,
            owner: "bench".into(),
            downloads,
            deprecated: None,
        });
    }
    out
}

/// The process's resident memory now and at its peak, in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn get_json(client: &reqwest::Client, url: String) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

fn encode(q: &str) -> String {
    percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn tarball(name: &str) -> Vec<u8> {
    use std::io::Write;
    let manifest =
        json!({"name": name, "version": "1.0.0", "description": "fresh bench package"}).to_string();
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "package/package.json", manifest.as_bytes())
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let packages = *args.first().unwrap_or(&100_000);
    let queries = *args.get(1).unwrap_or(&2_000);

    // `SEARCH_BENCH_KEEP=DIR` keeps the data directory (an empty or new DIR) for `bench/run`,
    // which then starts the release binary on it.
    let _temp;
    let dir: std::path::PathBuf = match std::env::var_os("SEARCH_BENCH_KEEP") {
        Some(keep) => {
            let keep = std::path::PathBuf::from(keep);
            std::fs::create_dir_all(&keep).unwrap();
            keep
        }
        None => {
            _temp = tempfile::tempdir().unwrap();
            _temp.path().to_path_buf()
        }
    };
    let words = vocabulary();
    let generated = catalogue(packages, &words);
    let started = Instant::now();
    {
        let store = RedbStore::open(&dir.as_path().join("registry.redb")).unwrap();
        write_catalogue(&store, &generated).await;
    }
    let after_write = rss_mib();
    eprintln!(
        "wrote {packages} packages to the store in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let registry = Registry::builder()
        .data_dir(dir.as_path())
        .base_url(url.clone())
        .setting("log.level", "warn")
        .unwrap()
        .setting("npm.fallback", "false")
        .unwrap()
        // The client is this process: its 200 publishes are not to be rate limited.
        .setting("rate.exempt", "127.0.0.1")
        .unwrap()
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let indexed = registry.reindex().await.unwrap();
    let rebuild = started.elapsed().as_secs_f64();
    let after_rebuild = rss_mib();
    let index_bytes: u64 = std::fs::read_dir(dir.as_path().join("search"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let token = registry
        .create_token("bench", "bench", TokenScope::Publish, None, None)
        .await
        .unwrap()
        .secret;
    tokio::spawn(registry.serve(listener, std::future::pending()));
    let client = reqwest::Client::new();
    loop {
        let health = get_json(&client, format!("{url}/health")).await;
        if health["search"]["state"] == "ready" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    println!("Search, {packages} packages, one query at a time over HTTP on 127.0.0.1\n");
    println!(
        "Index rebuild from the store: {indexed} packages in {rebuild:.2} s ({:.0} packages/s), index {:.1} MiB on disk\n",
        indexed as f64 / rebuild,
        index_bytes as f64 / 1024.0 / 1024.0
    );
    println!("| query kind | example | queries | p50 ms | p99 ms |");
    println!("|---|---|---:|---:|---:|");
    let mut rng = Lcg(99);
    type Make = fn(&mut Lcg, &[CataloguePackage], &[String]) -> String;
    let kinds: [(&str, Make); 6] = [
        ("exact name", |r, g, _| {
            g[r.next(g.len() as u64) as usize].name.clone()
        }),
        ("name prefix (4 chars)", |r, g, _| {
            g[r.next(g.len() as u64) as usize]
                .name
                .trim_start_matches('@')
                .chars()
                .take(4)
                .collect()
        }),
        ("name with a typo", |r, g, _| {
            let mut name: Vec<char> = g[r.next(g.len() as u64) as usize]
                .name
                .trim_start_matches('@')
                .replace('/', "-")
                .chars()
                .collect();
            let i = 1 + r.next(name.len() as u64 - 2) as usize;
            name.swap(i, i + 1);
            name.into_iter().collect()
        }),
        ("two words", |r, _, w| {
            format!(
                "{} {}",
                w[r.next(w.len() as u64) as usize],
                w[r.next(w.len() as u64) as usize]
            )
        }),
        ("word + keywords: qualifier", |r, _, w| {
            format!(
                "{} keywords:{}",
                w[r.next(w.len() as u64) as usize],
                w[r.next(w.len() as u64) as usize]
            )
        }),
        ("empty (all, by downloads)", |_, _, _| String::new()),
    ];
    for (label, make) in kinds {
        let mut latencies = Vec::with_capacity(queries);
        let mut example = String::new();
        for i in 0..queries {
            let q = make(&mut rng, &generated, &words);
            if i == 0 {
                example = q.clone();
            }
            let t = Instant::now();
            let r = client
                .get(format!("{url}/search?q={}", encode(&q)))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{q}");
            r.bytes().await.unwrap();
            latencies.push(t.elapsed());
        }
        latencies.sort();
        println!(
            "| {label} | `{example}` | {queries} | {:.2} | {:.2} |",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
    }

    let mut visible = Vec::new();
    for i in 0..200 {
        let name = format!("fresh-bench-{i}");
        let form = reqwest::multipart::Form::new()
            .text(
                "metadata",
                format!(r#"{{"name":"{name}","version":"1.0.0"}}"#),
            )
            .part(
                "tarball",
                reqwest::multipart::Part::bytes(tarball(&name)).file_name("p.tgz"),
            );
        let r = client
            .post(format!("{url}/publish"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let t = Instant::now();
        loop {
            let body = get_json(&client, format!("{url}/search?q={name}&limit=1")).await;
            if body["results"][0]["name"] == name.as_str() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        visible.push(t.elapsed());
    }
    visible.sort();
    println!(
        "\nPublish → searchable (200 publishes, one at a time): p50 {:.1} ms, p99 {:.1} ms",
        percentile(&visible, 0.5),
        percentile(&visible, 0.99)
    );
    let end = rss_mib();
    println!(
        "\nMemory (whole process: generator, store, index, server and client), MiB: after writing the catalogue {:.0}; after the rebuild {:.0} (peak so far {:.0}); at the end {:.0} (peak {:.0})",
        after_write.0, after_rebuild.0, after_rebuild.1, end.0, end.1
    );
}
