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
    let gzip = match encoding.as_deref() {
        None | Some("") | Some("identity") => return Ok(raw),
        Some("gzip") | Some("x-gzip") => true,
        Some("deflate") => false,
        Some(other) => {
            return Err(ApiError::unsupported_media_type(format!(
                "Unsupported Content-Encoding {other:?}: a request body may be sent as is (identity), gzip or deflate"
            )));
        }
    };
    // Inflating is CPU work: on the blocking pool, not on a runtime worker.
    let inflated = tokio::task::spawn_blocking(move || {
        let reader: Box<dyn Read> = if gzip {
            Box::new(flate2::read::GzDecoder::new(&raw[..]))
        } else {
            Box::new(flate2::read::ZlibDecoder::new(&raw[..]))
        };
        let mut inflated = Vec::new();
        reader
            .take(limit + 1)
            .read_to_end(&mut inflated)
            .map(|_| inflated)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::bad_request(format!("Could not decompress the request body: {e}")))?;
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
        Body::from_bytes_stream(Paced {
            inner: Box::pin(body.into_bytes_stream()),
            pace: self,
            started: None,
            received: 0,
            deadline: Box::pin(tokio::time::sleep(self.grace)),
            failed: false,
        })
    }
}

/// A body stream under a [`Pace`]: by `grace + n / rate` after the first poll it must have
/// delivered more than `n` bytes.
struct Paced {
    inner: Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>,
    pace: Pace,
    /// When the handler first asked for the body: work it does before reading is not the
    /// client's slowness.
    started: Option<tokio::time::Instant>,
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
        let started = match self.started {
            Some(at) => at,
            None => {
                let now = tokio::time::Instant::now();
                self.started = Some(now);
                let grace = self.pace.grace;
                self.deadline.as_mut().reset(now + grace);
                now
            }
        };
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.len() as u64;
                let earned = Duration::from_secs_f64(
                    self.received as f64 / self.pace.min_bytes_per_sec as f64,
                );
                let next = started + self.pace.grace + earned;
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
/// (its `Content-Length`; the largest body it may send when it declares none, or when it is
/// compressed and may inflate) before it is handled, and gives it back when its answer is ready.
/// A request that does not fit waits up to `wait`, then is refused with 503. A body larger
/// than any route accepts is refused with 413 before anything is read, and so is one over
/// `max_anonymous` from a request without credentials (only login and audits take those).
/// One client address holds at most half of the budget, so one host cannot take it all.
pub struct BodyMemory {
    kib: std::sync::Arc<tokio::sync::Semaphore>,
    total_kib: u32,
    max_body: u64,
    max_anonymous: u64,
    wait: Duration,
    per_address: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, u64>>>,
    exempt: Vec<std::net::IpAddr>,
}

/// A request's share of [`BodyMemory`], given back when dropped.
pub struct BodyShare {
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    address: Option<(AddressShares, std::net::IpAddr, u64)>,
}

type AddressShares =
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, u64>>>;

impl Drop for BodyShare {
    fn drop(&mut self) {
        if let Some((shares, ip, kib)) = &self.address {
            let mut shares = shares.lock().expect("body shares");
            if let Some(held) = shares.get_mut(ip) {
                *held = held.saturating_sub(*kib);
                if *held == 0 {
                    shares.remove(ip);
                }
            }
        }
    }
}

/// The limits of a [`BodyMemory`].
pub struct BodyLimits {
    /// All bodies together, in bytes.
    pub total: u64,
    /// The largest body any route takes.
    pub max_body: u64,
    /// The largest body a request without credentials may send.
    pub max_anonymous: u64,
    /// How long a request waits for room.
    pub wait: Duration,
    /// Addresses held to no share (`rate.exempt`).
    pub exempt: Vec<std::net::IpAddr>,
}

fn busy_bodies() -> ApiError {
    ApiError::unavailable(
        "The server is holding as many uploads in memory as it may (limits.max_body_memory_bytes); nothing was changed, try again in a few seconds",
    )
}

impl BodyMemory {
    pub fn new(limits: BodyLimits) -> Self {
        let total_kib = limits.total.div_ceil(1024).clamp(1, u32::MAX as u64 >> 4) as u32;
        Self {
            kib: std::sync::Arc::new(tokio::sync::Semaphore::new(total_kib as usize)),
            total_kib,
            max_body: limits.max_body,
            max_anonymous: limits.max_anonymous.min(limits.max_body),
            wait: limits.wait,
            per_address: Default::default(),
            exempt: limits.exempt,
        }
    }

    /// Reserves room for the body a request from `client` with `headers` carries (none for a
    /// request without a body).
    pub async fn reserve(
        &self,
        headers: &HeaderMap,
        has_body: bool,
        client: Option<std::net::IpAddr>,
    ) -> Result<Option<BodyShare>, ApiError> {
        if !has_body {
            return Ok(None);
        }
        let anonymous = !headers.contains_key(poem::http::header::AUTHORIZATION);
        let max = if anonymous {
            self.max_anonymous
        } else {
            self.max_body
        };
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(if anonymous {
                ApiError::too_large(format!(
                    "Request body is larger than the limit of {max} bytes for a request without credentials (limits.max_anonymous_body_bytes)"
                ))
            } else {
                too_large(max)
            });
        }
        let encoded = headers
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("identity"));
        // A compressed body may inflate to the route's limit; one of unknown length may be
        // that long.
        let bytes = match declared {
            Some(n) if !encoded => n,
            _ => max,
        };
        if bytes == 0 {
            return Ok(None);
        }
        // One body larger than the whole budget may still be handled, alone.
        let kib = bytes.div_ceil(1024).min(self.total_kib as u64);
        let address = match client.filter(|ip| !self.exempt.contains(ip)) {
            Some(ip) => {
                let mut shares = self.per_address.lock().expect("body shares");
                let held = shares.entry(ip).or_insert(0);
                let half = (self.total_kib as u64 / 2).max(kib);
                if *held + kib > half {
                    return Err(ApiError::unavailable(
                        "This client already has as many uploads in memory as one client may (half of limits.max_body_memory_bytes); nothing was changed, try again when they are done",
                    ));
                }
                *held += kib;
                Some((self.per_address.clone(), ip, kib))
            }
            None => None,
        };
        // From here on the address's share is counted; the guard gives it back on any exit.
        let mut share = BodyShare {
            _permit: None,
            address,
        };
        match tokio::time::timeout(self.wait, self.kib.clone().acquire_many_owned(kib as u32)).await
        {
            Ok(Ok(permit)) => {
                share._permit = Some(permit);
                Ok(Some(share))
            }
            _ => Err(busy_bodies()),
        }
    }
}
