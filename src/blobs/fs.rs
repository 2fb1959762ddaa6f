//! Blobs as files: `<data_dir>/blobs/sha256/<first two hex>/<hex>`.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{BlobError, BlobKey, BlobStore};

pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Uses `<root>/sha256/` for blobs and `<root>/tmp/` for uploads in progress.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("sha256"))?;
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn path_of(&self, key: &BlobKey) -> PathBuf {
        let hex = key.as_str();
        self.root.join("sha256").join(&hex[..2]).join(hex)
    }

    fn put_blocking(root: &Path, final_path: &Path, data: &[u8]) -> std::io::Result<()> {
        if final_path.exists() {
            return Ok(());
        }
        let dir = final_path.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(root.join("tmp"))?;
        tmp.write_all(data)?;
        tmp.as_file().sync_all()?;
        tmp.persist(final_path).map_err(|e| e.error)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &BlobKey, data: Bytes) -> Result<(), BlobError> {
        let root = self.root.clone();
        let path = self.path_of(key);
        tokio::task::spawn_blocking(move || Self::put_blocking(&root, &path, &data))
            .await
            .map_err(std::io::Error::other)??;
        Ok(())
    }

    async fn get(&self, key: &BlobKey) -> Result<Bytes, BlobError> {
        match tokio::fs::read(self.path_of(key)).await {
            Ok(data) => Ok(Bytes::from(data)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(BlobError::Missing(key.as_str().to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }
}
