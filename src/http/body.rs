//! Reading request bodies by hand: bounded (413 past the limit, declared or not) and, when the
//! client compressed it (npm gzips audit bodies), inflated within the same bound.

use std::io::Read;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
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
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
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
