//! The recorded npm corpus (`tests/fixtures/npm-corpus/`) served on 127.0.0.1 the way the npm
//! registry serves it, as the upstream of both registries in the benchmark's install run
//! (`bench/run`). Prints its URL on the first line of standard output, then serves until killed.
//!
//! `cargo run --release --example corpus_upstream`

#[path = "../tests/common/corpus.rs"]
#[allow(dead_code)]
mod corpus;

#[tokio::main]
async fn main() {
    let upstream = corpus::CorpusUpstream::start().await;
    println!("{}", upstream.url);
    std::future::pending::<()>().await;
}
