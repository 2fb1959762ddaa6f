//! A real S3-compatible (and DynamoDB-compatible) server on 127.0.0.1 for the tests: moto (from
//! PyPI), started fresh per test on a port the system picks, with one bucket; its requests are
//! handled one at a time (`tests/tools/moto_serial.py`), as DynamoDB isolates transactions.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tools::tools;

pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts moto and creates `bucket` in it.
    pub async fn start(bucket: &str) -> Moto {
        // moto's own server, with its requests handled one at a time (see the script), on a
        // port the system picks: it prints the port once it is bound.
        let python = tools().moto_server.with_file_name("python");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/moto_serial.py");
        let child = Command::new(python)
            .args([script, "127.0.0.1", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs");
        // Owned from here on, so the process is killed however starting fails.
        let mut moto = Moto {
            endpoint: String::new(),
            child,
        };
        let stdout = moto.child.stdout.take().expect("moto's stdout");
        let (said, first_line) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = said.send(line);
            // Whatever moto prints later is drained, so it never writes into a closed pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = tokio::time::timeout(Duration::from_secs(60), first_line)
            .await
            .expect("moto did not say its port within a minute")
            .unwrap_or_default();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("moto's first line was not its port: {line:?}"));
        moto.endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Path-style CreateBucket; moto checks no signature.
            match client
                .put(format!("{}/{bucket}", moto.endpoint))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => break,
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                other => panic!("moto did not start: {other:?}"),
            }
        }
        moto
    }

    /// The store settings for `bucket` on this server.
    pub fn settings(&self, bucket: &str) -> pantry_registry::blobs::s3::S3Settings {
        pantry_registry::blobs::s3::S3Settings {
            bucket: bucket.to_string(),
            region: "us-east-1".into(),
            endpoint: self.endpoint.clone(),
            prefix: "blobs/".into(),
            credentials: Some(("testing".into(), "testing".into())),
            redirect: None,
        }
    }
}

impl Moto {
    /// Starts moto for its DynamoDB side only.
    pub async fn start_dynamodb() -> Moto {
        Self::start("unused").await
    }

    /// The store settings for the table `table` (and `<table>-analytics`) on this server.
    pub fn dynamo_settings(&self, table: &str) -> pantry_registry::store::dynamo::DynamoSettings {
        pantry_registry::store::dynamo::DynamoSettings {
            table: table.to_string(),
            analytics_table: String::new(),
            region: "us-east-1".into(),
            endpoint: self.endpoint.clone(),
            credentials: Some(("testing".into(), "testing".into())),
            timeout: Duration::from_secs(10),
        }
    }

    /// Registry settings that keep tarballs in `bucket` on this server, plus `extra`.
    pub fn bucket_settings(
        &self,
        bucket: &'static str,
        extra: &[(&'static str, &'static str)],
    ) -> &'static [(&'static str, &'static str)] {
        let endpoint: &'static str = Box::leak(self.endpoint.clone().into_boxed_str());
        let mut all = vec![
            ("storage.s3_bucket", bucket),
            ("storage.s3_endpoint", endpoint),
            ("storage.s3_region", "us-east-1"),
            ("storage.s3_access_key_id", "testing"),
            ("storage.s3_secret_access_key", "testing"),
        ];
        all.extend_from_slice(extra);
        Box::leak(all.into_boxed_slice())
    }

    /// A fresh DynamoDB store on this server: the tables created as `init-aws` does.
    pub async fn dynamo_store(&self, table: &str) -> pantry_registry::store::dynamo::DynamoStore {
        let settings = self.dynamo_settings(table);
        pantry_registry::store::dynamo::DynamoStore::init(&settings)
            .await
            .expect("create the tables");
        pantry_registry::store::dynamo::DynamoStore::open(&settings)
            .await
            .expect("open the DynamoDB store")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
