//! Throughput and latency of the Pantry API on this machine.
//!
//! `cargo run --release --example bench [-- PACKAGES REQUESTS CONCURRENCY]`
//!
//! Starts a registry in-process on 127.0.0.1 with a fresh data directory, publishes PACKAGES
//! packages (one version each, CONCURRENCY at a time), then sends REQUESTS requests of each read
//! kind (latest metadata, one version's metadata, the version list, the tarball) with
//! CONCURRENCY in flight, and prints one Markdown table row per kind. Client and server share
//! the machine's cores, so the figures are a floor, not a ceiling.

use std::io::Write;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pantry_registry::{Registry, TokenScope};

fn tarball(name: &str, version: &str) -> Vec<u8> {
    let manifest =
        serde_json::json!({"name": name, "version": version, "description": "bench package",
        "dependencies": {"left-pad": "^1.3.0"}})
        .to_string();
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in [
        ("package/package.json", manifest.as_bytes()),
        ("package/index.js", &[b'x'; 4096][..]),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

/// Builds the URL of the i-th request from the base URL.
type UrlFor = fn(&str, usize) -> String;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Runs `total` requests produced by `make`, `concurrency` at a time; prints a table row.
async fn run<F, Fut>(label: &str, total: usize, concurrency: usize, make: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures_util::stream::iter(0..total)
        .map(|i| {
            let fut = make(i);
            async move {
                let t = Instant::now();
                let status = fut.await;
                assert!(status < 300, "{label}: status {status}");
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let wall = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "| {label} | {total} | {:.0} | {:.2} | {:.2} | {:.2} |",
        total as f64 / wall,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let packages = *args.first().unwrap_or(&500);
    let requests = *args.get(1).unwrap_or(&20_000);
    let concurrency = *args.get(2).unwrap_or(&32);

    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let registry = Registry::builder()
        .data_dir(dir.path())
        .base_url(url.clone())
        .setting("log.level", "warn")
        .unwrap()
        // The client is this process on 127.0.0.1: rate limits would measure themselves, and
        // the npm fallback's shadowing guard would ask the public registry about every name.
        .setting("rate.exempt", "127.0.0.1")
        .unwrap()
        .setting("npm.fallback", "false")
        .unwrap()
        .build()
        .await
        .unwrap();
    let token = registry
        .create_token("bench", "bench", TokenScope::Publish, None, None)
        .await
        .unwrap()
        .secret;
    tokio::spawn(registry.serve(listener, std::future::pending()));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();

    let tarballs: Vec<Vec<u8>> = (0..packages)
        .map(|i| tarball(&format!("bench-{i}"), "1.0.0"))
        .collect();
    println!(
        "Pantry API, {packages} packages, concurrency {concurrency}, in-process client on 127.0.0.1\n"
    );
    println!("| operation | requests | req/s | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    run(
        "POST /publish (multipart, 4 KiB package)",
        packages,
        concurrency,
        |i| {
            let form = reqwest::multipart::Form::new()
                .text(
                    "metadata",
                    format!(r#"{{"name":"bench-{i}","version":"1.0.0"}}"#),
                )
                .part(
                    "tarball",
                    reqwest::multipart::Part::bytes(tarballs[i].clone()).file_name("p.tgz"),
                );
            let req = client
                .post(format!("{url}/publish"))
                .bearer_auth(&token)
                .multipart(form);
            async move { req.send().await.unwrap().status().as_u16() }
        },
    )
    .await;
    let reads: [(&str, UrlFor); 6] = [
        ("GET /packages/{name}", |u, i| {
            format!("{u}/packages/bench-{i}")
        }),
        ("GET /packages/{name}/{version}", |u, i| {
            format!("{u}/packages/bench-{i}/1.0.0")
        }),
        ("GET /packages/{name}/versions", |u, i| {
            format!("{u}/packages/bench-{i}/versions")
        }),
        ("GET /packages/{name}/{version}/tarball", |u, i| {
            format!("{u}/packages/bench-{i}/1.0.0/tarball")
        }),
        ("GET /npm/{name} (full packument)", |u, i| {
            format!("{u}/npm/bench-{i}")
        }),
        ("GET /npm/{name}/-/{file}.tgz", |u, i| {
            format!("{u}/npm/bench-{i}/-/bench-{i}-1.0.0.tgz")
        }),
    ];
    for (label, path) in reads {
        run(label, requests, concurrency, |i| {
            let req = client.get(path(&url, i % packages));
            async move {
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                r.bytes().await.unwrap();
                status
            }
        })
        .await;
    }
    println!(
        "\npeak RSS (server and client together): {:.0} MiB",
        rss_mib()
    );
}
