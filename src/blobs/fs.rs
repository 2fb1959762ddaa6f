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
    /// Uses `<root>/sha256/` for blobs and `<root>/tmp/` for uploads in progress. Leftovers in
    /// `tmp/` are from a process that died mid-upload (nothing is in flight yet), so they go.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("sha256"))?;
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn path_of(&self, key: &BlobKey) -> PathBuf {
        let hex = key.as_str();
        self.root.join("sha256").join(&hex[..2]).join(hex)
    }

    fn put_blocking(root: &Path, final_path: &Path, data: &[u8]) -> std::io::Result<()> {
        let dir = final_path.parent().expect("blob paths have a parent");
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            // The new fan-out directory's own entry must be durable too.
            sync_dir(&root.join("sha256"))?;
        }
        if !final_path.exists() {
            let mut tmp = tempfile::NamedTempFile::new_in(root.join("tmp"))?;
            tmp.write_all(data)?;
            tmp.as_file().sync_all()?;
            tmp.persist(final_path).map_err(|e| e.error)?;
        }
        // Also when the blob already existed: another writer may not have made its rename
        // durable yet, and the caller is about to commit a record that points at it.
        sync_dir(dir)
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
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

    async fn list(&self) -> Result<Vec<(BlobKey, u64)>, BlobError> {
        let root = self.root.join("sha256");
        let listed =
            tokio::task::spawn_blocking(move || -> std::io::Result<Vec<(BlobKey, u64)>> {
                let mut out = Vec::new();
                for fan in std::fs::read_dir(&root)? {
                    let fan = fan?;
                    if !fan.file_type()?.is_dir() {
                        continue;
                    }
                    for blob in std::fs::read_dir(fan.path())? {
                        let blob = blob?;
                        // Only names that are keys are blobs; anything else is not ours to touch.
                        if let Some(key) = blob.file_name().to_str().and_then(BlobKey::parse) {
                            out.push((key, blob.metadata()?.len()));
                        }
                    }
                }
                Ok(out)
            })
            .await
            .map_err(std::io::Error::other)??;
        Ok(listed)
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[tokio::test]
    async fn put_is_content_addressed_and_cleans_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::write(dir.path().join("tmp/.tmpHALF"), b"half an upload").unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
        let data = Bytes::from_static(b"tarball bytes");
        let key = BlobKey::parse(&hex::encode(Sha256::digest(&data))).unwrap();
        store.put(&key, data.clone()).await.unwrap();
        store.put(&key, data.clone()).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap(), data);
        let other = BlobKey::parse(&"0".repeat(64)).unwrap();
        assert!(matches!(
            store.get(&other).await,
            Err(BlobError::Missing(_))
        ));
        assert!(BlobKey::parse("../../etc/passwd").is_none());
        assert!(BlobKey::parse(&"A".repeat(64)).is_none());
    }
}
