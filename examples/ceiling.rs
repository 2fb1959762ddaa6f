//! The framework's ceiling for the benchmark (`bench/run`): a trivial poem server that answers
//! `GET /<file>` with the bytes of `<dir>/<file>` (read into memory at start), `ETag` included,
//! and 304 when `If-None-Match` matches. Whatever the registry does beyond this is its own cost.
//!
//! `cargo run --release --example ceiling -- 127.0.0.1:PORT DIR`

use std::collections::HashMap;
use std::sync::Arc;

use poem::http::StatusCode;
use poem::{Endpoint, Request, Response};

struct Files(Arc<HashMap<String, (bytes::Bytes, String)>>);

impl Endpoint for Files {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let name = req.uri().path().trim_start_matches('/');
        let Some((body, etag)) = self.0.get(name) else {
            return Ok(StatusCode::NOT_FOUND.into());
        };
        let builder = Response::builder().header("etag", etag.as_str());
        let matches = req
            .headers()
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == etag);
        Ok(if matches {
            builder.status(StatusCode::NOT_MODIFIED).finish()
        } else {
            builder
                .content_type("application/octet-stream")
                .body(body.clone())
        })
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(dir)) = (args.next(), args.next()) else {
        eprintln!("usage: ceiling ADDR DIR");
        std::process::exit(2);
    };
    let mut files = HashMap::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let bytes = std::fs::read(entry.path())?;
            let etag = format!(
                "\"{}-{}\"",
                bytes.len(),
                entry.file_name().to_string_lossy()
            );
            files.insert(
                entry.file_name().to_string_lossy().into_owned(),
                (bytes::Bytes::from(bytes), etag),
            );
        }
    }
    poem::Server::new(poem::listener::TcpListener::bind(addr))
        .run(Files(Arc::new(files)))
        .await
}
