//! Content-addressed tarball storage.
//!
//! A blob's key is the SHA-256 of its bytes ([`BlobKey`]), so a key can only ever name the
//! content it was made from, and nothing a request sends becomes a path unchecked. A put is
//! atomic (write to a temporary name, fsync, rename); metadata that references a blob is
//! committed only after its put returns, so a crash leaves at worst an unreferenced blob.

pub mod fs;

use async_trait::async_trait;
use bytes::Bytes;

/// The lowercase hex SHA-256 of a blob's content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `data` under `key` (which must be its SHA-256). Storing existing content is a no-op.
    async fn put(&self, key: &BlobKey, data: Bytes) -> Result<(), BlobError>;
    async fn get(&self, key: &BlobKey) -> Result<Bytes, BlobError>;
    /// Removes a blob; removing a missing one is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
    /// Every stored blob with its size in bytes.
    async fn list(&self) -> Result<Vec<(BlobKey, u64)>, BlobError>;
}
