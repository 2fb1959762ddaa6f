//! Reading request bodies by hand: bounded (413 past the limit, declared or not) and, when the
//! client compressed it (npm gzips audit bodies), inflated within the same bound. Every request
//! body is also paced ([`Paced`]): one that trickles in slower than `server.body_min_bytes_per_sec`
//! fails with 408, so a stalled upload cannot hold its connection. And every body is counted
//! against one memory budget ([`BodyMemory`]) while its request is handled.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use poem::Body;
use poem::http::HeaderMap;
use poem::http::header::{CONTENT_ENCODING, CONTENT_LENGTH};

use crate::error::ApiError;

fn too_large(limit: u64) -> ApiError {
    ApiError::too_large(format!(
        "Request body is larger than the limit of {limit} bytes"
    ))
}

/// Reads the whole body, refusing with 413 once it passes `limit` bytes. A gzip or deflate
/// `Content-Encoding` is undone, and the inflated size is held to the same limit.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut stream = body.into_bytes_stream();
    // Room for the declared length at once: growing by doubling would copy it, twice the memory.
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            if e.kind() == io::ErrorKind::TimedOut {
                ApiError::new(crate::error::ErrorKind::RequestTimeout, e.to_string())
            } else {
                ApiError::bad_request(format!("Could not read the request body: {e}"))
            }
        })?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    let raw = buf.freeze();
    let encoding = headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let reader: Box<dyn Read> = match encoding.as_deref() {
        None | Some("") | Some("identity") => return Ok(raw),
        Some("gzip") | Some("x-gzip") => Box::new(flate2::read::GzDecoder::new(&raw[..])),
        Some("deflate") => Box::new(flate2::read::ZlibDecoder::new(&raw[..])),
        Some(other) => {
            return Err(ApiError::unsupported_media_type(format!(
                "Unsupported Content-Encoding {other:?}"
            )));
        }
    };
    let mut inflated = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| {
            ApiError::bad_request(format!("Could not decompress the request body: {e}"))
        })?;
    if inflated.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(Bytes::from(inflated))
}

/// How fast a request body must arrive: `min_bytes_per_sec` on average once `grace` is over.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub min_bytes_per_sec: u64,
    pub grace: Duration,
}

impl Pace {
    /// `body`, failing with `TimedOut` once it falls behind this pace; an empty body or a pace of
    /// 0 bytes a second is left as it is.
    pub fn apply(self, body: Body) -> Body {
        if self.min_bytes_per_sec == 0 || body.is_empty() {
            return body;
        }
        let started = tokio::time::Instant::now();
        Body::from_bytes_stream(Paced {
            inner: Box::pin(body.into_bytes_stream()),
            pace: self,
            started,
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until(started + self.grace)),
            failed: false,
        })
    }
}

/// A body stream under a [`Pace`]: by `grace + n / rate` after the first poll it must have
/// delivered more than `n` bytes.
struct Paced {
    inner: Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>,
    pace: Pace,
    started: tokio::time::Instant,
    received: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
    failed: bool,
}

impl Stream for Paced {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.len() as u64;
                let earned = Duration::from_secs_f64(
                    self.received as f64 / self.pace.min_bytes_per_sec as f64,
                );
                let next = self.started + self.pace.grace + earned;
                self.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.failed = true;
                    Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "The request body arrived slower than {} bytes a second (server.body_min_bytes_per_sec)",
                            self.pace.min_bytes_per_sec
                        ),
                    ))))
                }
                Poll::Pending => Poll::Pending,
            },
            done => done,
        }
    }
}

/// The memory request bodies may take at once: each request with a body reserves its size
/// (its `Content-Length`, or the largest body accepted when it declares none) before it is
/// handled and gives it back when its answer is ready. A request that does not fit waits up
/// to `wait`, then is refused with 503; a body larger than any route accepts is refused with
/// 413 before anything is read.
pub struct BodyMemory {
    kib: std::sync::Arc<tokio::sync::Semaphore>,
    total_kib: u32,
    max_body: u64,
    wait: Duration,
}

/// A request's share of [`BodyMemory`], given back when dropped.
pub type BodyShare = Option<tokio::sync::OwnedSemaphorePermit>;

impl BodyMemory {
    /// `total` bytes at most, bodies of `max_body` bytes at most, waiting `wait` for room.
    pub fn new(total: u64, max_body: u64, wait: Duration) -> Self {
        let total_kib = total.div_ceil(1024).clamp(1, u32::MAX as u64 >> 4) as u32;
        Self {
            kib: std::sync::Arc::new(tokio::sync::Semaphore::new(total_kib as usize)),
            total_kib,
            max_body,
            wait,
        }
    }

    /// Reserves room for the body a request with `headers` carries (none for a request without
    /// a body).
    pub async fn reserve(
        &self,
        headers: &HeaderMap,
        has_body: bool,
    ) -> Result<BodyShare, ApiError> {
        if !has_body {
            return Ok(None);
        }
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(too_large(self.max_body));
        }
        let bytes = declared.unwrap_or(self.max_body);
        if bytes == 0 {
            return Ok(None);
        }
        // One body larger than the whole budget may still be handled, alone.
        let kib = (bytes.div_ceil(1024).min(self.total_kib as u64)) as u32;
        match tokio::time::timeout(self.wait, self.kib.clone().acquire_many_owned(kib)).await {
            Ok(Ok(share)) => Ok(Some(share)),
            _ => Err(ApiError::unavailable(
                "The server is holding as many uploads in memory as it may (limits.max_body_memory_bytes); nothing was changed, try again in a few seconds",
            )),
        }
    }
}
