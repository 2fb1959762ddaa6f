//! Streaming archive readers under limits, for npm tarballs and Zig archives alike.
//!
//! An upload is never decompressed whole before it is checked. Bytes flow
//! `decoder → Counted → TarGuard → tar::Archive`, and every limit is checked as they pass:
//! - [`Counted`] bounds the decompressed bytes (content, headers and padding);
//! - [`TarGuard`] reads each tar header as it streams by, before the tar crate acts on it, and
//!   refuses oversized PAX / GNU long-name headers (which the tar crate would read into memory
//!   whole), too many entries, and declared entry sizes past the unpacked limit, so a bomb is
//!   refused from its headers, before its content is inflated;
//! - the xz decoder runs under a memory limit (liblzma's own accounting) and the zstd decoder
//!   under a window limit, so a crafted header cannot make the decoder itself allocate
//!   gigabytes.
//!
//! A limit hit anywhere becomes an [`io::Error`] carrying an [`Exceeded`], which callers find
//! with [`exceeded`] however deep the tar crate wrapped it.

use std::io::{self, Read};

/// Decoder memory an xz stream may need: enough for `xz -9` (a 64 MiB dictionary).
pub const XZ_MEMORY_LIMIT: u64 = 96 << 20;
/// The largest zstd window accepted (2^24 = 16 MiB; `zstd -19` uses 8 MiB). zig's own
/// decoder has a fixed window buffer of this order, so larger windows would not fetch anyway.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// What an archive may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of the entries' content (and of extended headers' content).
    pub max_unpacked_bytes: u64,
    /// Entries (files, directories, links), not counting PAX / GNU name headers.
    pub max_entries: u64,
    /// The content of one PAX extended header or GNU long name / long link.
    pub max_header_bytes: u64,
}

impl Limits {
    /// The most a decompressed tar stream can be: content (extended headers' content counts
    /// as content), three 512-byte blocks (header, extended header, padding) per entry, and
    /// the end blocks.
    pub fn stream_bytes(&self) -> u64 {
        self.max_unpacked_bytes
            .saturating_add(self.max_entries.saturating_mul(1536))
            .saturating_add(10_240)
    }
}

/// Which limit an archive went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("the archive unpacks to more than {0} bytes")]
    Unpacked(u64),
    #[error("the archive has more than {0} entries")]
    Entries(u64),
    #[error("a tar extended header (PAX or GNU long name) is larger than {0} bytes")]
    Header(u64),
    #[error("the xz stream needs more than {} MiB of decoder memory", .0 >> 20)]
    XzMemory(u64),
    #[error("the zstd stream's window is larger than {} MiB", (1u64 << .0) >> 20)]
    ZstdWindow(u32),
}

impl From<Exceeded> for io::Error {
    fn from(e: Exceeded) -> Self {
        io::Error::other(e)
    }
}

/// The [`Exceeded`] inside an error from reading an archive, if a limit caused it.
pub fn exceeded(err: &(dyn std::error::Error + 'static)) -> Option<Exceeded> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(x) = e.downcast_ref::<Exceeded>() {
            return Some(*x);
        }
        if let Some(io) = e.downcast_ref::<io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(x) = exceeded(inner)
        {
            return Some(x);
        }
        current = e.source();
    }
    None
}

/// A compression around a tar stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Xz,
    Zstd,
}

/// A streaming decoder of `bytes`, bounded by `limits` (see [`Counted`]).
pub fn decoder<'a>(
    bytes: &'a [u8],
    codec: Codec,
    limits: &Limits,
) -> io::Result<Counted<Box<dyn Read + 'a>>> {
    let inner: Box<dyn Read + 'a> = match codec {
        Codec::None => Box::new(bytes),
        Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
        Codec::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(XZ_MEMORY_LIMIT, 0)
                .map_err(io::Error::other)?;
            Box::new(XzMemoryLimit(liblzma::read::XzDecoder::new_stream(
                bytes, stream,
            )))
        }
        Codec::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(bytes)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(ZstdWindowLimit(d))
        }
    };
    Ok(Counted::new(inner, limits.stream_bytes()))
}

/// Turns liblzma's "memory limit reached" into [`Exceeded::XzMemory`].
struct XzMemoryLimit<R>(R);

impl<R: Read> Read for XzMemoryLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let memlimit = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<liblzma::stream::Error>())
                .is_some_and(|x| matches!(x, liblzma::stream::Error::MemLimit));
            if memlimit {
                Exceeded::XzMemory(XZ_MEMORY_LIMIT).into()
            } else {
                e
            }
        })
    }
}

/// Turns zstd's "frame requires too much memory" into [`Exceeded::ZstdWindow`].
struct ZstdWindowLimit<R>(R);

impl<R: Read> Read for ZstdWindowLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.to_string().contains("Frame requires too much memory") {
                Exceeded::ZstdWindow(ZSTD_WINDOW_LOG_MAX).into()
            } else {
                e
            }
        })
    }
}

/// Reads at most `limit` bytes from `inner`; one byte more is [`Exceeded::Unpacked`], not a
/// silent cut.
pub struct Counted<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R> Counted<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            left: limit,
            limit,
        }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Never ask for more than one byte past the limit: the decoder does no work beyond it.
        let want = buf.len().min(self.left.saturating_add(1) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(Exceeded::Unpacked(self.limit).into());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Watches a tar stream's headers as they pass (see the module docs).
pub struct TarGuard<R> {
    inner: R,
    limits: Limits,
    /// Bytes of the stream passed so far.
    pos: u64,
    /// Where the next header starts.
    next_header: u64,
    header: [u8; 512],
    header_fill: usize,
    /// The content of a PAX header being read (to find a `size` record), and how much is left.
    pax: Option<(Vec<u8>, u64)>,
    /// A `size` from a PAX header, for the entry that follows.
    pax_size: Option<u64>,
    entries: u64,
    content: u64,
    /// Past the end-of-archive block: nothing more is checked (the tar crate stops reading).
    ended: bool,
}

impl<R> TarGuard<R> {
    pub fn new(inner: R, limits: Limits) -> Self {
        Self {
            inner,
            limits,
            pos: 0,
            next_header: 0,
            header: [0; 512],
            header_fill: 0,
            pax: None,
            pax_size: None,
            entries: 0,
            content: 0,
            ended: false,
        }
    }

    /// Walks `data`, the next bytes of the stream.
    fn watch(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() && !self.ended {
            if self.pos >= self.next_header {
                let take = (512 - self.header_fill).min(data.len());
                self.header[self.header_fill..self.header_fill + take]
                    .copy_from_slice(&data[..take]);
                self.header_fill += take;
                self.pos += take as u64;
                data = &data[take..];
                if self.header_fill == 512 {
                    self.header_fill = 0;
                    self.on_header()?;
                }
                continue;
            }
            let before_next = (self.next_header - self.pos).min(data.len() as u64) as usize;
            if let Some((buf, left)) = &mut self.pax {
                let take = (*left).min(before_next as u64) as usize;
                buf.extend_from_slice(&data[..take]);
                *left -= take as u64;
                if *left == 0 {
                    let (buf, _) = self.pax.take().expect("just matched");
                    self.pax_size = pax_size(&buf);
                }
            }
            self.pos += before_next as u64;
            data = &data[before_next..];
        }
        Ok(())
    }

    fn on_header(&mut self) -> io::Result<()> {
        let h = &self.header;
        if h.iter().all(|b| *b == 0) {
            // An end-of-archive block (the tar crate stops at the first).
            self.ended = true;
            return Ok(());
        }
        let declared = header_size(&h[124..136])
            .ok_or_else(|| io::Error::other("a tar header has an unreadable size"))?;
        let size = match h[156] {
            b'x' | b'g' | b'L' | b'K' => {
                if declared > self.limits.max_header_bytes {
                    return Err(Exceeded::Header(self.limits.max_header_bytes).into());
                }
                if h[156] == b'x' {
                    self.pax = (declared > 0).then(|| (Vec::new(), declared));
                }
                // Extended headers count as content, so many of them cannot add up unbounded.
                self.content = self.content.saturating_add(declared);
                if self.content > self.limits.max_unpacked_bytes {
                    return Err(Exceeded::Unpacked(self.limits.max_unpacked_bytes).into());
                }
                declared
            }
            _ => {
                self.entries += 1;
                if self.entries > self.limits.max_entries {
                    return Err(Exceeded::Entries(self.limits.max_entries).into());
                }
                let size = self.pax_size.take().unwrap_or(declared);
                self.content = self.content.saturating_add(size);
                if self.content > self.limits.max_unpacked_bytes {
                    return Err(Exceeded::Unpacked(self.limits.max_unpacked_bytes).into());
                }
                size
            }
        };
        self.next_header = self
            .pos
            .saturating_add(size.div_ceil(512).saturating_mul(512));
        Ok(())
    }
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.watch(&buf[..n])?;
        Ok(n)
    }
}

/// A tar header's size field: octal text, or base-256 when the high bit is set.
fn header_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut n: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            n = n.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(n);
    }
    let text = std::str::from_utf8(field).ok()?;
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// The `size` record of a PAX extended header (`<len> size=<n>\n`), if any.
fn pax_size(content: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(content);
    // The last record of a key wins, as in the tar crate.
    text.lines()
        .rev()
        .filter_map(|record| record.split_once(' ').map(|(_, kv)| kv))
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "size")
        .find_map(|(_, v)| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_unpacked_bytes: 10_000,
            max_entries: 3,
            max_header_bytes: 1024,
        }
    }

    fn tar_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, data.as_slice()).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn read_all(bytes: &[u8], limits: Limits) -> io::Result<Vec<(String, Vec<u8>)>> {
        let mut archive =
            tar::Archive::new(TarGuard::new(decoder(bytes, Codec::None, &limits)?, limits));
        let mut out = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data)?;
            out.push((path, data));
        }
        Ok(out)
    }

    #[test]
    fn an_ordinary_tar_passes_untouched() {
        let long = "d/".repeat(80) + "file.txt";
        let tar = tar_of(&[("a.txt", b"hello".to_vec()), (&long, vec![7; 3000])]);
        let read = read_all(&tar, limits()).unwrap();
        assert_eq!(read[0], ("a.txt".to_string(), b"hello".to_vec()));
        assert_eq!(read[1].0, long);
        assert_eq!(read[1].1.len(), 3000);
    }

    #[test]
    fn declared_sizes_entries_and_long_headers_are_refused_from_the_headers() {
        let e = |bytes: &[u8], l: Limits| {
            exceeded(&read_all(bytes, l).unwrap_err()).expect("a limit error")
        };
        let big = tar_of(&[("a", vec![0; 6000]), ("b", vec![0; 6000])]);
        assert_eq!(e(&big, limits()), Exceeded::Unpacked(10_000));
        let many = tar_of(&[("a", vec![]), ("b", vec![]), ("c", vec![]), ("d", vec![])]);
        assert_eq!(e(&many, limits()), Exceeded::Entries(3));
        let long = "x".repeat(2000);
        let named = tar_of(&[(&long, vec![])]);
        assert_eq!(e(&named, limits()), Exceeded::Header(1024));
    }

    #[test]
    fn a_pax_header_declaring_a_gigabyte_is_refused_before_it_is_read() {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(1 << 30);
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend_from_slice(&[b'a'; 4096]);
        let err = read_all(&tar, limits()).unwrap_err();
        assert_eq!(exceeded(&err), Some(Exceeded::Header(1024)));
    }

    #[test]
    fn a_pax_size_is_followed_so_the_guard_stays_in_step() {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("size", b"12".as_slice())])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(12);
        h.set_cksum();
        b.append_data(&mut h, "p.txt", b"twelve bytes".as_slice())
            .unwrap();
        let tar = b.into_inner().unwrap();
        let read = read_all(&tar, limits()).unwrap();
        assert_eq!(read, vec![("p.txt".to_string(), b"twelve bytes".to_vec())]);
        assert_eq!(pax_size(b"12 size=12\n"), Some(12));
        assert_eq!(header_size(b"00000001750\0"), Some(1000));
    }

    #[test]
    fn decompression_stops_one_byte_past_the_limit() {
        let zeros = vec![0u8; 200_000];
        let gz = {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&zeros).unwrap();
            e.finish().unwrap()
        };
        let mut d = decoder(&gz, Codec::Gzip, &limits()).unwrap();
        let mut out = Vec::new();
        let err = d.read_to_end(&mut out).unwrap_err();
        assert!(matches!(exceeded(&err), Some(Exceeded::Unpacked(_))));
        assert!(out.len() as u64 <= limits().stream_bytes());
    }
}
