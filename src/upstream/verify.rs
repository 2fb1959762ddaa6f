//! A tarball's bytes checked against what the upstream promised (`dist.integrity`, else
//! `dist.shasum`) as they stream: the last chunk is held back until the whole content is
//! verified, so a reader never receives a complete body that failed verification.

use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine;
use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::BoxStream;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha512};

/// What the upstream promises about a tarball's bytes.
pub enum Expected {
    Sha512(String),
    Sha1(String),
}

impl Expected {
    /// From a manifest's `dist`: its `sha512-` integrity if it has one, else its `shasum`.
    pub fn from_dist(dist: &Value) -> Option<Self> {
        let sri = dist.get("integrity").and_then(Value::as_str).unwrap_or("");
        if let Some(b64) = sri
            .split_whitespace()
            .find_map(|h| h.strip_prefix("sha512-"))
        {
            return Some(Expected::Sha512(b64.to_string()));
        }
        dist.get("shasum")
            .and_then(Value::as_str)
            .map(|s| Expected::Sha1(s.to_ascii_lowercase()))
    }

    /// As a subresource-integrity string (`sha512-…`, or `sha1-<hex>` from a shasum).
    pub fn sri(&self) -> String {
        match self {
            Expected::Sha512(b) => format!("sha512-{b}"),
            Expected::Sha1(h) => format!("sha1-{h}"),
        }
    }
}

enum Hasher {
    Sha512(Sha512),
    Sha1(Sha1),
}

/// The upstream's bytes, verified as they pass; an error item ends the stream when the
/// transfer breaks, passes `limit` bytes, or does not match.
pub struct Verified {
    inner: BoxStream<'static, reqwest::Result<Bytes>>,
    expected: Expected,
    hasher: Hasher,
    held: Option<Bytes>,
    read: u64,
    limit: u64,
    url: String,
    done: bool,
}

impl Verified {
    pub fn new(
        inner: BoxStream<'static, reqwest::Result<Bytes>>,
        expected: Expected,
        limit: u64,
        url: String,
    ) -> Self {
        let hasher = match expected {
            Expected::Sha512(_) => Hasher::Sha512(Sha512::new()),
            Expected::Sha1(_) => Hasher::Sha1(Sha1::new()),
        };
        Self {
            inner,
            expected,
            hasher,
            held: None,
            read: 0,
            limit,
            url,
            done: false,
        }
    }

    fn fail(&mut self, why: String) -> Poll<Option<std::io::Result<Bytes>>> {
        tracing::warn!(url = %self.url, reason = %why, "upstream tarball refused");
        self.done = true;
        self.held = None;
        Poll::Ready(Some(Err(std::io::Error::other(why))))
    }

    fn matches(&mut self) -> bool {
        let hasher = std::mem::replace(&mut self.hasher, Hasher::Sha1(Sha1::new()));
        match (&self.expected, hasher) {
            (Expected::Sha512(b64), Hasher::Sha512(h)) => {
                base64::engine::general_purpose::STANDARD.encode(h.finalize()) == *b64
            }
            (Expected::Sha1(hex_sum), Hasher::Sha1(h)) => hex::encode(h.finalize()) == *hex_sum,
            _ => false,
        }
    }
}

impl Stream for Verified {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    return this.fail(format!("upstream transfer broke: {e}"));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    this.read += chunk.len() as u64;
                    if this.read > this.limit {
                        return this.fail(format!(
                            "upstream tarball is larger than limits.max_tarball_bytes ({})",
                            this.limit
                        ));
                    }
                    match &mut this.hasher {
                        Hasher::Sha512(h) => h.update(&chunk),
                        Hasher::Sha1(h) => h.update(&chunk),
                    }
                    if let Some(previous) = this.held.replace(chunk) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Poll::Ready(None) => {
                    if !this.matches() {
                        let expected = this.expected.sri();
                        return this.fail(format!(
                            "upstream tarball failed integrity verification (expected {expected})"
                        ));
                    }
                    this.done = true;
                    return Poll::Ready(this.held.take().map(Ok));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn integrity_prefers_sha512() {
        let both = serde_json::json!({"integrity": "sha1-x sha512-abc", "shasum": "DEF"});
        assert_eq!(Expected::from_dist(&both).unwrap().sri(), "sha512-abc");
        let sha1 = serde_json::json!({"shasum": "DEF"});
        assert_eq!(Expected::from_dist(&sha1).unwrap().sri(), "sha1-def");
        assert!(Expected::from_dist(&serde_json::json!({})).is_none());
    }

    fn chunks(parts: &[&'static [u8]]) -> BoxStream<'static, reqwest::Result<Bytes>> {
        let items: Vec<reqwest::Result<Bytes>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures_util::stream::iter(items).boxed()
    }

    async fn collect(v: Verified) -> Vec<std::io::Result<Bytes>> {
        v.collect().await
    }

    #[tokio::test]
    async fn matching_bytes_pass_whole_and_a_mismatch_never_delivers_the_last_chunk() {
        let sha1 = hex::encode(Sha1::digest(b"abcdef"));
        let good = Verified::new(
            chunks(&[b"ab", b"cd", b"ef"]),
            Expected::Sha1(sha1),
            100,
            "u".into(),
        );
        let got: Vec<Bytes> = collect(good)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got.concat(), b"abcdef");

        let bad = Verified::new(
            chunks(&[b"ab", b"cd", b"ef"]),
            Expected::Sha1(hex::encode(Sha1::digest(b"other"))),
            100,
            "u".into(),
        );
        let got = collect(bad).await;
        assert_eq!(
            got.len(),
            3,
            "two chunks, then the error instead of the last"
        );
        assert!(got[2].is_err());
        let delivered: Vec<u8> = got[..2]
            .iter()
            .flat_map(|c| c.as_ref().unwrap().to_vec())
            .collect();
        assert_eq!(delivered, b"abcd");

        let large = Verified::new(
            chunks(&[b"abc", b"def"]),
            Expected::Sha1(hex::encode(Sha1::digest(b"abcdef"))),
            4,
            "u".into(),
        );
        let got = collect(large).await;
        assert!(got.last().unwrap().is_err(), "over the limit is an error");
    }
}
