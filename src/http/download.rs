//! A stored blob as a response body: streamed from the blob store a chunk at a time, with its
//! exact length known up front (so `Content-Length` is sent, and HEAD can tell it), instead of
//! being read whole into memory first.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::blobs::{BlobReader, ByteStream};

/// The body of a download: `reader`'s content, `reader.size` bytes.
pub fn blob_body(reader: BlobReader) -> poem::Body {
    let body = SizedBlob {
        content: std::sync::Mutex::new(reader.content),
        left: reader.size,
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
