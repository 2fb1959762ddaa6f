//! Crash safety of the real binary: eight clients publish and download while the server is
//! killed with SIGKILL at random moments; after every restart each publish that was
//! acknowledged (201) is there, byte-identical, and listed.

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::BinServer;

const TOKEN: &str = "crash-test-admin-token-0123456789";
const CLIENTS: usize = 8;
const KILLS: usize = 10;

/// `name@version` -> the tarball that was acknowledged.
type Acked = Arc<Mutex<BTreeMap<(String, String), Vec<u8>>>>;

async fn publish_until_killed(url: String, client_no: usize, round: usize, acked: Acked) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let name = format!("crash-client-{client_no}");
    for n in 0.. {
        let version = format!("{round}.{n}.0");
        let sent = common::publish_over_http(&client, &url, TOKEN, &name, &version).await;
        match sent {
            Ok((201, tgz)) => {
                acked
                    .lock()
                    .unwrap()
                    .insert((name.clone(), version.clone()), tgz);
            }
            // The server died under us: whatever was not acknowledged may or may not be there.
            _ => return,
        }
        // Downloads run beside the publishes, as they would in real use.
        let _ = client
            .get(format!("{url}/npm/{name}/-/{name}-{version}.tgz"))
            .send()
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_publish() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let envs = [("PANTRY_REGISTRY_TOKEN", TOKEN), ("NPM_FALLBACK", "false")];
    let acked: Acked = Arc::default();
    let verifier = reqwest::Client::new();
    for round in 0..KILLS {
        let server = BinServer::start(&data, &envs);
        let before = acked.lock().unwrap().len();
        let workers: Vec<_> = (0..CLIENTS)
            .map(|c| {
                tokio::spawn(publish_until_killed(
                    server.url.clone(),
                    c,
                    round,
                    acked.clone(),
                ))
            })
            .collect();
        // A random moment, but not before this round has an acknowledged publish to lose (a
        // loaded machine can take longer than the wait to acknowledge the first one).
        let wait = 300 + rand::random::<u64>() % 700;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let started = Instant::now();
        while acked.lock().unwrap().len() == before {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "round {round}: nothing was acknowledged in {wait} ms and 30 s more"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.kill();
        for w in workers {
            w.await.unwrap();
        }

        // Restart on the same data: every acknowledged publish, of every round so far.
        let server = BinServer::start(&data, &envs);
        let expected = acked.lock().unwrap().clone();
        for ((name, version), tgz) in &expected {
            let r = verifier
                .get(format!("{}/npm/{name}/-/{name}-{version}.tgz", server.url))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "round {round}: {name}@{version} is gone");
            assert_eq!(
                &r.bytes().await.unwrap()[..],
                &tgz[..],
                "round {round}: {name}@{version} changed"
            );
        }
        for c in 0..CLIENTS {
            let name = format!("crash-client-{c}");
            let listed = verifier
                .get(format!("{}/npm/{name}", server.url))
                .send()
                .await
                .unwrap();
            if listed.status() == 404 {
                assert!(
                    !expected.keys().any(|(n, _)| *n == name),
                    "round {round}: {name} has acknowledged versions but no packument"
                );
                continue;
            }
            let doc: serde_json::Value = listed.json().await.unwrap();
            for (n, v) in expected.keys().filter(|(n, _)| *n == name) {
                assert!(
                    doc["versions"].get(v).is_some(),
                    "round {round}: {n}@{v} is not in its packument"
                );
            }
        }
        server.kill();
    }
    let total = acked.lock().unwrap().len();
    eprintln!("{total} acknowledged publishes survived {KILLS} SIGKILLs");
}
