//! Content-addressed tarball storage.
//!
//! A blob's key is the SHA-256 of its bytes ([`BlobKey`]), so a key can only ever name the
//! content it was made from, and nothing a request sends becomes a path unchecked. A put is
//! atomic (write to a temporary name, fsync, rename); metadata that references a blob is
//! committed only after its put returns, so a crash leaves at worst an unreferenced blob.

pub mod fs;
pub mod s3;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

/// The lowercase hex SHA-256 of a blob's content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    /// Accepts exactly 64 lowercase hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} is missing")]
    Missing(String),
    /// The content passed the size the caller allows; nothing was stored.
    #[error("blob content is larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// The content's SHA-256 is not the key it was stored under; nothing was stored.
    #[error("blob content hashes to {actual}, not to its key {expected}")]
    HashMismatch { expected: String, actual: String },
    /// The backend is throttled or down; a retry later may succeed.
    #[error("blob storage unavailable: {0}")]
    Unavailable(String),
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
}

/// Bytes as they come, from a request, an upstream or a stored blob.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send>>;

/// A blob being read: its length first, then its content as it is read.
pub struct BlobReader {
    pub size: u64,
    pub content: ByteStream,
}

/// Where tarballs are kept. Every implementation passes the blob contract suite
/// (`tests/blob_contract.rs`).
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores what `content` yields under `key`, hashing it as it passes. Refused with
    /// [`BlobError::TooLarge`] once past `max_bytes`, and with [`BlobError::HashMismatch`] when
    /// the content is not `key`'s; either way nothing is stored. Nothing is visible under `key`
    /// before the whole content is durable. Storing content that is already there succeeds.
    /// Returns the size stored.
    async fn put_stream(
        &self,
        key: &BlobKey,
        content: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError>;

    /// Stores `data` whole, as [`BlobStore::put_stream`] does.
    async fn put(&self, key: &BlobKey, data: Bytes) -> Result<(), BlobError> {
        let size = data.len() as u64;
        let content: ByteStream = Box::pin(futures_util::stream::once(async move { Ok(data) }));
        self.put_stream(key, content, size).await.map(|_| ())
    }

    /// Opens a blob for reading; [`BlobError::Missing`] if there is none.
    async fn open(&self, key: &BlobKey) -> Result<BlobReader, BlobError>;

    /// Opens `len` bytes of a blob from byte `start` on (the caller keeps them within its
    /// size); [`BlobError::Missing`] if there is none. This default skips through the content;
    /// a store that can seek does.
    async fn open_range(
        &self,
        key: &BlobKey,
        start: u64,
        len: u64,
    ) -> Result<BlobReader, BlobError> {
        use futures_util::StreamExt;
        let reader = self.open(key).await?;
        let mut skip = start;
        let mut left = len;
        let content = reader.content.filter_map(move |chunk| {
            let out = match chunk {
                Err(e) => Some(Err(e)),
                Ok(mut bytes) => {
                    let skipped = skip.min(bytes.len() as u64);
                    skip -= skipped;
                    let _ = bytes.split_to(skipped as usize);
                    let taken = left.min(bytes.len() as u64);
                    left -= taken;
                    bytes.truncate(taken as usize);
                    (!bytes.is_empty()).then_some(Ok(bytes))
                }
            };
            std::future::ready(out)
        });
        Ok(BlobReader {
            size: len,
            content: Box::pin(content),
        })
    }

    /// Reads a whole blob.
    async fn get(&self, key: &BlobKey) -> Result<Bytes, BlobError> {
        use futures_util::StreamExt;
        let mut reader = self.open(key).await?;
        let mut data = bytes::BytesMut::with_capacity(reader.size as usize);
        while let Some(chunk) = reader.content.next().await {
            data.extend_from_slice(&chunk?);
        }
        Ok(data.freeze())
    }

    /// The size of a blob, or `None` if there is none.
    async fn head(&self, key: &BlobKey) -> Result<Option<u64>, BlobError>;

    /// Removes a blob; removing a missing one is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;

    /// Whether the store answers, for readiness checks: cheap, and an error when it cannot be
    /// read. The default lists one blob.
    async fn probe(&self) -> Result<(), BlobError> {
        self.list_page(None, 1).await.map(drop)
    }

    /// A URL the client may download the blob from directly, instead of through the registry
    /// (a presigned S3 URL when `storage.s3_redirect` is on); `None` to stream it. The default
    /// is `None`.
    async fn download_url(&self, key: &BlobKey) -> Result<Option<String>, BlobError> {
        let _ = key;
        Ok(None)
    }

    /// Up to `limit` blobs with their sizes, in key order, starting after `after`.
    async fn list_page(
        &self,
        after: Option<&BlobKey>,
        limit: usize,
    ) -> Result<Vec<(BlobKey, u64)>, BlobError>;

    /// Every stored blob with its size in bytes, in key order.
    async fn list(&self) -> Result<Vec<(BlobKey, u64)>, BlobError> {
        crate::paging::read_all_pages(
            1000,
            |(key, _): &(BlobKey, u64)| key.clone(),
            |after: Option<BlobKey>, limit| async move {
                self.list_page(after.as_ref(), limit).await
            },
        )
        .await
    }
}
