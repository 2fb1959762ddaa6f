//! Blobs as files: `<data_dir>/blobs/sha256/<first two hex>/<hex>`.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;

use super::{BlobError, BlobKey, BlobReader, BlobStore, ByteStream};

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

    /// Makes a finished temporary file the blob at `final_path`, durably.
    fn persist_blocking(
        root: &Path,
        final_path: &Path,
        tmp: Option<tempfile::TempPath>,
    ) -> std::io::Result<()> {
        let dir = final_path.parent().expect("blob paths have a parent");
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            // The new fan-out directory's own entry must be durable too.
            sync_dir(&root.join("sha256"))?;
        }
        if let Some(tmp) = tmp {
            tmp.persist(final_path).map_err(|e| e.error)?;
        }
        // Also when the blob already existed: another writer may not have made its rename
        // durable yet, and the caller is about to commit a record that points at it.
        sync_dir(dir)
    }

    /// Every blob on disk with its size, in key order.
    fn walk_blocking(root: &Path) -> std::io::Result<Vec<(BlobKey, u64)>> {
        let mut out = Vec::new();
        for fan in std::fs::read_dir(root)? {
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
        out.sort();
        Ok(out)
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn missing_or(key: &BlobKey, e: std::io::Error) -> BlobError {
    if e.kind() == std::io::ErrorKind::NotFound {
        BlobError::Missing(key.as_str().to_string())
    } else {
        e.into()
    }
}

/// Chunks read from a blob file at a time.
const READ_CHUNK: usize = 256 * 1024;

/// A file's content, a chunk at a time.
fn stream_file(file: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> ByteStream {
    use tokio::io::AsyncReadExt;
    Box::pin(futures_util::stream::try_unfold(
        file,
        |mut file| async move {
            let mut buf = bytes::BytesMut::with_capacity(READ_CHUNK);
            let n = file.read_buf(&mut buf).await?;
            Ok::<_, BlobError>((n > 0).then(|| (buf.freeze(), file)))
        },
    ))
}
/// Blobs up to this size are read in one go when opened.
const READ_WHOLE: u64 = 1024 * 1024;

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put_stream(
        &self,
        key: &BlobKey,
        mut content: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        use sha2::{Digest, Sha256};
        use tokio::io::AsyncWriteExt;
        let root = self.root.clone();
        let path = self.path_of(key);
        let tmp = {
            let dir = root.join("tmp");
            tokio::task::spawn_blocking(move || tempfile::NamedTempFile::new_in(dir))
                .await
                .map_err(std::io::Error::other)??
        };
        let (file, tmp_path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        // On any refusal the temporary file is dropped, and with it removed.
        while let Some(chunk) = content.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(BlobError::TooLarge(max_bytes));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        let actual = hex::encode(hasher.finalize());
        if actual != key.as_str() {
            return Err(BlobError::HashMismatch {
                expected: key.as_str().to_string(),
                actual,
            });
        }
        // tokio's file hands writes to a blocking thread: only flush reports a write that
        // failed (a full disk), and sync_all would swallow it.
        file.flush().await?;
        file.sync_all().await?;
        let written = file.metadata().await?.len();
        if written != size {
            return Err(BlobError::Io(std::io::Error::other(format!(
                "wrote {written} of {size} bytes of blob {}",
                key.as_str()
            ))));
        }
        drop(file);
        tokio::task::spawn_blocking(move || {
            // Content already there of the right size is the same content: keep it, drop the
            // copy. One of another size is damaged (a write that failed before this check
            // existed): replace it.
            let intact = std::fs::metadata(&path).is_ok_and(|m| m.len() == size);
            let tmp = (!intact).then_some(tmp_path);
            Self::persist_blocking(&root, &path, tmp)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(size)
    }

    async fn open(&self, key: &BlobKey) -> Result<BlobReader, BlobError> {
        enum Opened {
            Whole(Vec<u8>),
            Streamed(std::fs::File, u64),
        }
        let path = self.path_of(key);
        // One trip to the blocking pool: most tarballs are small and are read at once; a large
        // one is streamed a chunk at a time.
        let opened = tokio::task::spawn_blocking(move || -> std::io::Result<Opened> {
            use std::io::Read;
            let mut file = std::fs::File::open(&path)?;
            let size = file.metadata()?.len();
            if size <= READ_WHOLE {
                let mut data = Vec::with_capacity(size as usize);
                file.read_to_end(&mut data)?;
                Ok(Opened::Whole(data))
            } else {
                Ok(Opened::Streamed(file, size))
            }
        })
        .await
        .map_err(std::io::Error::other)?
        .map_err(|e| missing_or(key, e))?;
        Ok(match opened {
            Opened::Whole(data) => BlobReader {
                size: data.len() as u64,
                content: Box::pin(futures_util::stream::once(
                    async move { Ok(Bytes::from(data)) },
                )),
            },
            Opened::Streamed(file, size) => BlobReader {
                size,
                content: stream_file(tokio::fs::File::from_std(file)),
            },
        })
    }

    async fn open_range(
        &self,
        key: &BlobKey,
        start: u64,
        len: u64,
    ) -> Result<BlobReader, BlobError> {
        use tokio::io::AsyncReadExt;
        let path = self.path_of(key);
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            use std::io::{Seek, SeekFrom};
            let mut file = std::fs::File::open(&path)?;
            file.seek(SeekFrom::Start(start))?;
            Ok(file)
        })
        .await
        .map_err(std::io::Error::other)?
        .map_err(|e| missing_or(key, e))?;
        Ok(BlobReader {
            size: len,
            content: stream_file(tokio::fs::File::from_std(file).take(len)),
        })
    }

    async fn get(&self, key: &BlobKey) -> Result<Bytes, BlobError> {
        tokio::fs::read(self.path_of(key))
            .await
            .map(Bytes::from)
            .map_err(|e| missing_or(key, e))
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        match tokio::fs::metadata(self.path_of(key)).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn list_page(
        &self,
        after: Option<&BlobKey>,
        limit: usize,
    ) -> Result<Vec<(BlobKey, u64)>, BlobError> {
        let root = self.root.join("sha256");
        let all = tokio::task::spawn_blocking(move || Self::walk_blocking(&root))
            .await
            .map_err(std::io::Error::other)??;
        Ok(all
            .into_iter()
            .filter(|(k, _)| after.is_none_or(|a| k > a))
            .take(limit)
            .collect())
    }

    async fn probe(&self) -> Result<(), BlobError> {
        let root = self.root.join("sha256");
        tokio::task::spawn_blocking(move || std::fs::read_dir(&root).map(drop))
            .await
            .map_err(std::io::Error::other)??;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<(BlobKey, u64)>, BlobError> {
        let root = self.root.join("sha256");
        Ok(
            tokio::task::spawn_blocking(move || Self::walk_blocking(&root))
                .await
                .map_err(std::io::Error::other)??,
        )
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
