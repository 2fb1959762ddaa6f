//! The backup archive's framing: a plain ustar stream (readable by any `tar`), written and read
//! entry by entry without seeking, so an archive can be streamed over HTTP and checked as it
//! arrives.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const BLOCK: usize = 512;

/// How much of an entry is read or written at a time.
pub const CHUNK: usize = 256 * 1024;

/// The longest entry name this format uses (ustar's name field without the prefix).
const MAX_NAME: usize = 100;

fn padding(size: u64) -> usize {
    (BLOCK - (size % BLOCK as u64) as usize) % BLOCK
}

/// Writes entries to `out`.
pub struct TarWriter<W> {
    out: W,
    mtime: u64,
    /// Bytes written so far.
    pub written: u64,
}

impl<W: AsyncWrite + Unpin> TarWriter<W> {
    pub fn new(out: W, mtime: u64) -> Self {
        Self {
            out,
            mtime,
            written: 0,
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes).await?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Starts an entry of `size` bytes; its content follows with [`TarWriter::content`], then
    /// [`TarWriter::end_entry`].
    pub async fn start_entry(&mut self, name: &str, size: u64) -> std::io::Result<()> {
        assert!(name.len() <= MAX_NAME, "backup entry names are short");
        let mut header = tar::Header::new_ustar();
        header.set_path(name)?;
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        self.write(header.as_bytes()).await
    }

    pub async fn content(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write(bytes).await
    }

    /// Pads the entry of `size` bytes to its block.
    pub async fn end_entry(&mut self, size: u64) -> std::io::Result<()> {
        self.write(&[0u8; BLOCK][..padding(size)]).await
    }

    /// A whole entry from memory.
    pub async fn entry(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.start_entry(name, bytes.len() as u64).await?;
        self.content(bytes).await?;
        self.end_entry(bytes.len() as u64).await
    }

    /// The end-of-archive marker, then a flush; the writer back.
    pub async fn finish(mut self) -> std::io::Result<W> {
        self.write(&[0u8; 2 * BLOCK]).await?;
        self.out.flush().await?;
        Ok(self.out)
    }
}

/// Why an archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FramingError {
    #[error("the archive ends in the middle (truncated: was the backup interrupted?)")]
    Truncated,
    #[error("the archive is not a backup archive: {0}")]
    Malformed(String),
    #[error("reading the archive: {0}")]
    Io(std::io::Error),
}

impl From<std::io::Error> for FramingError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FramingError::Truncated
        } else {
            FramingError::Io(e)
        }
    }
}

/// Reads entries from `input` one after another.
pub struct TarReader<R> {
    input: R,
    /// What is left of the current entry's content, then its padding.
    left: u64,
    pad: usize,
    /// Bytes read so far.
    pub read: u64,
}

impl<R: AsyncRead + Unpin> TarReader<R> {
    pub fn new(input: R) -> Self {
        Self {
            input,
            left: 0,
            pad: 0,
            read: 0,
        }
    }

    async fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), FramingError> {
        self.input.read_exact(buf).await?;
        self.read += buf.len() as u64;
        Ok(())
    }

    /// The next entry's name and size, or `None` at the end-of-archive marker. The rest of the
    /// entry before it, if any, is skipped.
    pub async fn next_entry(&mut self) -> Result<Option<(String, u64)>, FramingError> {
        while self.chunk().await?.is_some() {}
        let mut pad = [0u8; BLOCK];
        let n = self.pad;
        self.read_exact(&mut pad[..n]).await?;
        self.pad = 0;
        let mut block = [0u8; BLOCK];
        self.read_exact(&mut block).await?;
        if block.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        let header = tar::Header::from_byte_slice(&block);
        let sum = header
            .cksum()
            .map_err(|_| FramingError::Malformed("a header without a checksum".into()))?;
        let computed: u32 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    b as u32
                }
            })
            .sum();
        if sum != computed {
            return Err(FramingError::Malformed(
                "a header whose checksum does not match (damaged archive)".into(),
            ));
        }
        if header.entry_type() != tar::EntryType::Regular {
            return Err(FramingError::Malformed(
                "an entry that is not a plain file".into(),
            ));
        }
        let name = header
            .path()
            .map_err(|_| FramingError::Malformed("an entry name that is not text".into()))?
            .to_string_lossy()
            .into_owned();
        let size = header
            .size()
            .map_err(|_| FramingError::Malformed(format!("{name}: an unreadable size")))?;
        self.left = size;
        self.pad = padding(size);
        Ok(Some((name, size)))
    }

    /// The next piece of the current entry's content (at most [`CHUNK`] bytes), or `None` when
    /// it is all read.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, FramingError> {
        if self.left == 0 {
            return Ok(None);
        }
        let n = self.left.min(CHUNK as u64) as usize;
        let mut buf = BytesMut::zeroed(n);
        self.read_exact(&mut buf).await?;
        self.left -= n as u64;
        Ok(Some(buf.freeze()))
    }

    /// The current entry's whole content, refused past `max` bytes.
    pub async fn content(&mut self, max: u64) -> Result<Vec<u8>, FramingError> {
        if self.left > max {
            return Err(FramingError::Malformed(format!(
                "an entry of {} bytes where at most {max} are expected",
                self.left
            )));
        }
        let mut out = Vec::with_capacity(self.left as usize);
        while let Some(chunk) = self.chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}
