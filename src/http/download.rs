//! Tarballs as response bodies. A stored blob is streamed from the blob store a chunk at a
//! time, with its exact length known up front (so `Content-Length` is sent, and HEAD can tell
//! it), instead of being read whole into memory first; a proxied one as it arrives.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::blobs::{BlobReader, ByteStream};
use crate::core::downloads::Downloaded;
use crate::core::proxy::TarballSource;

/// The body of a tarball, local or proxied. `downloaded` runs when the whole tarball has gone
/// to the client: at once for a stored one; for one streaming in from the upstream at the
/// clean end of the transfer, so a transfer the upstream breaks, that fails verification, or
/// that the client abandons is not a download.
pub fn tarball_body(source: TarballSource, downloaded: Option<Downloaded>) -> poem::Body {
    match source {
        TarballSource::Stored(reader) => {
            if let Some(done) = downloaded {
                done();
            }
            blob_body(reader)
        }
        TarballSource::Streaming { chunks, size } => {
            // With a known size the server stops reading the body after the last byte, so the
            // download is complete when that many bytes went out (the transfer holds its last
            // chunk back until the bytes verify and are stored); otherwise at the stream's end.
            let stream = futures_util::stream::unfold(
                (chunks, downloaded, size),
                |(mut chunks, mut done, mut remaining)| async move {
                    match chunks.recv().await {
                        Some(Ok(bytes)) => {
                            remaining = remaining.map(|r| r.saturating_sub(bytes.len() as u64));
                            if remaining == Some(0)
                                && let Some(done) = done.take()
                            {
                                done();
                            }
                            Some((Ok(bytes), (chunks, done, remaining)))
                        }
                        Some(Err(e)) => Some((Err(e), (chunks, None, remaining))),
                        None => {
                            if let Some(done) = done.take() {
                                done();
                            }
                            None
                        }
                    }
                },
            );
            poem::Body::from_bytes_stream(stream)
        }
    }
}

/// The body of a download: `reader`'s content, `reader.size` bytes.
pub fn blob_body(reader: BlobReader) -> poem::Body {
    let body = SizedBlob {
        content: std::sync::Mutex::new(reader.content),
        left: reader.size,
    };
    poem::Body::from(http_body_util::combinators::BoxBody::new(body))
}

/// The body of a HEAD answer for a blob of `size` bytes: it tells that length (so the answer's
/// `Content-Length` is the GET's) and holds nothing, since a HEAD's body is never sent.
pub fn head_body(size: u64) -> poem::Body {
    let nothing: ByteStream = Box::pin(futures_util::stream::empty());
    let body = SizedBlob {
        content: std::sync::Mutex::new(nothing),
        left: size,
    };
    poem::Body::from(http_body_util::combinators::BoxBody::new(body))
}

struct SizedBlob {
    /// In a mutex only so the body is `Sync`, as poem's body requires; polling goes through
    /// `get_mut`, which never locks.
    content: std::sync::Mutex<ByteStream>,
    left: u64,
}

impl http_body::Body for SizedBlob {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let content = self.content.get_mut().unwrap_or_else(|e| e.into_inner());
        match content.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.left = self.left.saturating_sub(chunk.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(std::io::Error::other(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// What a `Range` header asks of a body of `size` bytes whose ETag is `etag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No range, one this server does not serve (several ranges, another unit, a malformed
    /// one: the whole body answers, as RFC 9110 allows), or an `If-Range` that no longer
    /// matches.
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// A range that starts past the end: 416.
    Unsatisfiable,
}

impl ByteRange {
    pub fn of(headers: &poem::http::HeaderMap, size: u64, etag: &str) -> ByteRange {
        use poem::http::header::{IF_RANGE, RANGE};
        let Some(value) = headers.get(RANGE).and_then(|v| v.to_str().ok()) else {
            return ByteRange::Whole;
        };
        if let Some(if_range) = headers.get(IF_RANGE)
            && if_range.to_str().ok().map(str::trim) != Some(etag)
        {
            return ByteRange::Whole;
        }
        let value = value.trim();
        let Some(spec) = value
            .get(..6)
            .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
            .map(|_| value[6..].trim())
        else {
            return ByteRange::Whole;
        };
        if spec.contains(',') {
            return ByteRange::Whole;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return ByteRange::Whole;
        };
        let number = |s: &str| s.trim().parse::<u64>().ok();
        match (first.trim().is_empty(), number(first), number(last)) {
            // `-n`: the last n bytes.
            (true, _, Some(n)) => {
                if n == 0 || size == 0 {
                    ByteRange::Unsatisfiable
                } else {
                    ByteRange::Part {
                        start: size.saturating_sub(n),
                        end: size - 1,
                    }
                }
            }
            (false, Some(start), end) if last.trim().is_empty() || end.is_some() => {
                if end.is_some_and(|e| e < start) {
                    ByteRange::Whole
                } else if start >= size {
                    ByteRange::Unsatisfiable
                } else {
                    ByteRange::Part {
                        start,
                        end: end.map_or(size - 1, |e| e.min(size - 1)),
                    }
                }
            }
            _ => ByteRange::Whole,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange;
    use poem::http::HeaderMap;

    fn range(value: &str, size: u64) -> ByteRange {
        let mut headers = HeaderMap::new();
        headers.insert("range", value.parse().unwrap());
        ByteRange::of(&headers, size, "\"tag\"")
    }

    #[test]
    fn ranges() {
        let part = |start, end| ByteRange::Part { start, end };
        assert_eq!(range("bytes=0-99", 1000), part(0, 99));
        assert_eq!(range("bytes=900-", 1000), part(900, 999));
        assert_eq!(range("bytes=900-5000", 1000), part(900, 999));
        assert_eq!(range("bytes=-100", 1000), part(900, 999));
        assert_eq!(range("bytes=-5000", 1000), part(0, 999));
        assert_eq!(range("BYTES=1-1", 10), part(1, 1));
        assert_eq!(range("bytes=1000-", 1000), ByteRange::Unsatisfiable);
        assert_eq!(range("bytes=-0", 1000), ByteRange::Unsatisfiable);
        assert_eq!(range("bytes=5-1", 1000), ByteRange::Whole);
        assert_eq!(range("bytes=0-1,5-6", 1000), ByteRange::Whole);
        assert_eq!(range("items=0-1", 1000), ByteRange::Whole);
        assert_eq!(range("bytes=x-1", 1000), ByteRange::Whole);
        assert_eq!(range("bytes=", 1000), ByteRange::Whole);
        let mut headers = HeaderMap::new();
        headers.insert("range", "bytes=0-1".parse().unwrap());
        headers.insert("if-range", "\"other\"".parse().unwrap());
        assert_eq!(ByteRange::of(&headers, 10, "\"tag\""), ByteRange::Whole);
        headers.insert("if-range", "\"tag\"".parse().unwrap());
        assert_eq!(ByteRange::of(&headers, 10, "\"tag\""), part(0, 1));
    }
}
