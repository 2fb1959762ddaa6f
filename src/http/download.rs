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
