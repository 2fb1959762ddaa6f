//! Rendered documents: a package's packuments and version documents as a door serialized them,
//! with their digest and a gzip'd copy, kept in memory so a read repeats none of the work (no
//! store read, no JSON building, no hashing, no compression) until the package changes.
//!
//! Validity is by generation, not by time: every write to a package (publish, unpublish,
//! deprecation, dist-tag, owners, and a changed upstream copy) bumps its generation right after
//! the store committed it, before the writer is answered ([`crate::core::Core::write_and_index`]).
//! A reader takes a [`Stamp`] *before* it reads the store and files its rendering under that
//! stamp; an entry is served only while its stamp is still current. So a rendering made from
//! data older than the last write is never served, however the two raced. Generations are
//! striped over a fixed table (two names may share a stripe: a write then also drops the other's
//! entries, which costs a re-render, never a stale read). A user's change (an e-mail address
//! shows in packuments) drops everything.
//!
//! Entries taken from the upstream also expire when the upstream copy needs revalidating. The
//! whole cache is bounded by `cache.rendered_max_bytes`; the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;

const STRIPES: usize = 4096;
/// Bodies smaller than this are not worth compressing.
const GZIP_MIN_BYTES: usize = 1024;

/// The generation of a name (its stripe's) and of the whole cache, taken before a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    stripe: u64,
    all: u64,
}

impl Stamp {
    /// For a rendering never filed in the cache (no current stamp ever equals it).
    pub const UNKEPT: Stamp = Stamp {
        stripe: u64::MAX,
        all: u64::MAX,
    };
}

/// One rendered document.
#[derive(Debug)]
pub struct Rendered {
    pub body: Bytes,
    /// The body gzip'd, when it is large enough to be worth it.
    pub gzip: Option<Bytes>,
    /// The first 32 hex digits of the body's SHA-256: the base of its ETag.
    pub digest: String,
    /// Published here (`true`), or an upstream package's (`false`).
    pub local: bool,
    /// How fresh the upstream copy was when rendered (`None` for a local package).
    pub freshness: Option<crate::core::proxy::Freshness>,
    /// When an upstream copy must be revalidated; never for a local package.
    pub expires: Option<Instant>,
    stamp: Stamp,
}

impl Rendered {
    /// Renders `body`: digest and gzip'd copy. CPU work: call it off the async runtime.
    pub fn new(body: Vec<u8>, local: bool, stamp: Stamp) -> Rendered {
        use sha2::{Digest, Sha256};
        use std::io::Write;
        let digest = hex::encode(Sha256::digest(&body))[..32].to_string();
        let gzip = (body.len() > GZIP_MIN_BYTES).then(|| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&body).expect("writing to a Vec");
            Bytes::from(enc.finish().expect("writing to a Vec"))
        });
        Rendered {
            body: Bytes::from(body),
            gzip,
            digest,
            local,
            freshness: None,
            expires: None,
            stamp,
        }
    }

    /// Renders `body` without a gzip'd copy (for a door that never compresses).
    pub fn plain(body: Vec<u8>, local: bool, stamp: Stamp) -> Rendered {
        use sha2::{Digest, Sha256};
        Rendered {
            digest: hex::encode(Sha256::digest(&body))[..32].to_string(),
            body: Bytes::from(body),
            gzip: None,
            local,
            freshness: None,
            expires: None,
            stamp,
        }
    }

    /// A stored file kept as it is (a small tarball published here), with `digest` its own.
    pub fn file(body: Bytes, digest: String, stamp: Stamp) -> Rendered {
        Rendered {
            body,
            gzip: None,
            digest,
            local: true,
            freshness: None,
            expires: None,
            stamp,
        }
    }

    /// Marks an upstream rendering: how fresh its copy was and when it must be revalidated.
    pub fn upstream(mut self, freshness: crate::core::proxy::Freshness, expires: Instant) -> Self {
        self.local = false;
        self.freshness = Some(freshness);
        self.expires = Some(expires);
        self
    }

    fn weight(&self, key: &Key) -> u64 {
        (self.body.len() + self.gzip.as_ref().map_or(0, Bytes::len) + key.len()) as u64 + 256
    }
}

/// `<package name>\0<view>`: the view names the door, the form and anything else the bytes
/// depend on (the base URL in tarball links, the version asked for).
type Key = String;

fn key_of(name: &str, view: &str) -> Key {
    let mut key = String::with_capacity(name.len() + 1 + view.len());
    key.push_str(name);
    key.push('\0');
    key.push_str(view);
    key
}

#[derive(Default)]
struct Entries {
    map: HashMap<Key, (u64, std::sync::Arc<Rendered>)>,
    /// Insertion order, oldest first, with the sequence number each entry had then.
    order: VecDeque<(Key, u64)>,
    bytes: u64,
    next: u64,
}

/// Hits, misses and what is held, for operators.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderedStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    pub bytes: u64,
}

/// The cache (see the module documentation).
pub struct RenderedCache {
    stripes: Box<[AtomicU64]>,
    all: AtomicU64,
    entries: Mutex<Entries>,
    max_bytes: u64,
    hasher: std::collections::hash_map::RandomState,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl RenderedCache {
    /// A cache holding at most `max_bytes` of renderings (0: nothing is kept).
    pub fn new(max_bytes: u64) -> RenderedCache {
        RenderedCache {
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            all: AtomicU64::new(0),
            entries: Mutex::default(),
            max_bytes,
            hasher: Default::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn stripe(&self, name: &str) -> &AtomicU64 {
        &self.stripes[(self.hasher.hash_one(name) as usize) % STRIPES]
    }

    /// The stamp to file a rendering of `name` under: take it before reading what it is made of.
    pub fn stamp(&self, name: &str) -> Stamp {
        Stamp {
            all: self.all.load(Ordering::SeqCst),
            stripe: self.stripe(name).load(Ordering::SeqCst),
        }
    }

    /// A write to `name` was committed: its renderings are out of date.
    pub fn invalidate(&self, name: &str) {
        self.stripe(name).fetch_add(1, Ordering::SeqCst);
    }

    /// Something every rendering may show changed (a user's e-mail address, a pruned cache).
    pub fn invalidate_all(&self) {
        self.all.fetch_add(1, Ordering::SeqCst);
    }

    /// The current rendering of `view` of `name`, if there is one.
    pub fn get(&self, name: &str, view: &str) -> Option<std::sync::Arc<Rendered>> {
        let current = self.stamp(name);
        let key = key_of(name, view);
        let mut entries = self.entries.lock().expect("rendered cache lock");
        let found = match entries.map.get(&key) {
            Some((_, r))
                if r.stamp == current && r.expires.is_none_or(|at| at > Instant::now()) =>
            {
                Some(r.clone())
            }
            Some(_) => {
                if let Some((_, old)) = entries.map.remove(&key) {
                    entries.bytes -= old.weight(&key);
                }
                None
            }
            None => None,
        };
        drop(entries);
        match &found {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        found
    }

    /// Files `rendered` as `view` of `name`, unless the package changed since its stamp was
    /// taken (it would be out of date already) or it alone is over the cap.
    pub fn put(&self, name: &str, view: &str, rendered: std::sync::Arc<Rendered>) {
        let key = key_of(name, view);
        let weight = rendered.weight(&key);
        if rendered.stamp != self.stamp(name) || weight > self.max_bytes {
            return;
        }
        let mut guard = self.entries.lock().expect("rendered cache lock");
        let entries = &mut *guard;
        entries.next += 1;
        let seq = entries.next;
        if let Some((_, old)) = entries.map.insert(key.clone(), (seq, rendered)) {
            entries.bytes -= old.weight(&key);
        }
        entries.bytes += weight;
        entries.order.push_back((key, seq));
        while entries.bytes > self.max_bytes {
            let Some((key, seq)) = entries.order.pop_front() else {
                break;
            };
            if entries.map.get(&key).is_some_and(|(s, _)| *s == seq)
                && let Some((_, old)) = entries.map.remove(&key)
            {
                entries.bytes -= old.weight(&key);
            }
        }
        // Replaced and dropped entries leave their place in the order behind; sweep them out
        // once they outnumber the live ones.
        if entries.order.len() > 2 * entries.map.len() + 1024 {
            let map = &entries.map;
            entries
                .order
                .retain(|(key, seq)| map.get(key).is_some_and(|(s, _)| s == seq));
        }
    }

    pub fn stats(&self) -> RenderedStats {
        let entries = self.entries.lock().expect("rendered cache lock");
        RenderedStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: entries.map.len() as u64,
            bytes: entries.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn render(cache: &RenderedCache, name: &str, body: &str) -> Arc<Rendered> {
        Arc::new(Rendered::new(body.into(), true, cache.stamp(name)))
    }

    #[test]
    fn a_write_after_the_stamp_keeps_the_rendering_out() {
        let cache = RenderedCache::new(1 << 20);
        let stamp = cache.stamp("a");
        cache.invalidate("a");
        cache.put(
            "a",
            "full",
            Arc::new(Rendered::new(b"old".to_vec(), true, stamp)),
        );
        assert!(cache.get("a", "full").is_none());
        cache.put("a", "full", render(&cache, "a", "new"));
        assert_eq!(&cache.get("a", "full").unwrap().body[..], b"new");
        cache.invalidate("a");
        assert!(cache.get("a", "full").is_none());
        cache.put("b", "full", render(&cache, "b", "b"));
        cache.invalidate_all();
        assert!(cache.get("b", "full").is_none());
    }

    #[test]
    fn the_oldest_go_first_past_the_cap() {
        let cache = RenderedCache::new(3 * (300 + 256 + 6));
        for name in ["a", "b", "c", "d"] {
            cache.put(name, "full", render(&cache, name, &"x".repeat(300)));
        }
        assert!(cache.get("a", "full").is_none());
        for name in ["b", "c", "d"] {
            assert!(cache.get(name, "full").is_some(), "{name}");
        }
        assert!(cache.stats().bytes <= 3 * (300 + 256 + 6));
    }
}
