//! Package search: one tantivy index for npm and Zig packages, derived from the store.
//!
//! The index lives in `<data_dir>/search/`. One writer task ([`writer`]) owns it: the use cases
//! that change a package (publish, deprecate, unpublish, dist-tags, owners, a cached upstream
//! packument) call [`Search::changed`], the writer re-reads that package from the store,
//! commits, and the readers reload, within a second. The index is never the source of truth:
//! when it is missing, corrupt, of an older schema or other settings, was not closed cleanly,
//! or reflects another state of the database (its change count), the writer rebuilds it from
//! the store at start (`pantry-registry reindex` does so on demand).
//!
//! Ranking ([`query`]): exact name, then name prefix, then BM25 over name words, keywords,
//! description and readme (with typo-tolerant name matching), downloads in the last 30 days as
//! the tie-breaker, then the name.

pub mod document;
pub mod query;
pub mod schema;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tantivy::{Index, IndexReader};
use tokio::sync::{mpsc, oneshot};

pub use crate::core::downloads::Ecosystem;
pub use document::{Documents, README_EXCERPT_BYTES, SearchDoc};
pub use query::{Excluded, SearchHit, SearchPage, SearchRequest};

use schema::Fields;

/// Where a package's metadata comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Published here.
    Local,
    /// An upstream npm package fetched (and cached) through this registry.
    Cached,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Cached => "cached",
        }
    }
}

/// A package's identity in the index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocKey {
    pub ecosystem: Ecosystem,
    pub name: String,
}

impl DocKey {
    pub fn new(ecosystem: Ecosystem, name: &str) -> DocKey {
        DocKey {
            ecosystem,
            name: name.to_string(),
        }
    }

    /// The value of the `key` field.
    pub fn term(&self) -> String {
        format!("{}:{}", self.ecosystem.as_str(), self.name)
    }

    /// The name download counts are kept under (Zig packages as `zig:<name>`).
    pub fn downloads_key(&self) -> String {
        self.ecosystem.count_key(&self.name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the query is longer than {0} characters")]
    QueryTooLong(usize),
    #[error("search index: {0}")]
    Index(String),
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::Index(e.to_string())
    }
}

/// Whether the index can answer, for `/health` and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexState {
    /// No writer has opened the index yet (the registry is not serving).
    Closed,
    /// Being rebuilt from the store; searches answer from what was there before (maybe nothing).
    Building,
    Ready,
}

/// An open index and its reader. Swapped whole when the index is rebuilt.
#[derive(Clone)]
pub(crate) struct Live {
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
}

pub(crate) enum Op {
    Changed(DocKey),
    /// Rebuild from the store now; answers with the number of documents, or why not.
    Rebuild(oneshot::Sender<Result<usize, String>>),
    Shutdown(oneshot::Sender<()>),
}

/// The shared search handle: queries, change notifications, state.
#[derive(Clone)]
pub struct Search {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    max_query_chars: usize,
    live: RwLock<Option<Live>>,
    building: AtomicBool,
    writer: Mutex<Option<mpsc::UnboundedSender<Op>>>,
    /// Changes sent to the writer, and changes it has committed.
    queued: AtomicU64,
    applied: AtomicU64,
    /// A change reached the store while no writer listened: the index on disk is stale.
    stale: AtomicBool,
}

impl Inner {
    fn is_stale(&self) -> bool {
        self.stale.load(Ordering::SeqCst)
    }
}

/// The file that says the index on disk was closed cleanly, holding the schema version.
const CLEAN_MARKER: &str = "pantry-clean";

impl Search {
    /// A handle on the index in `dir`; nothing is opened until [`Search::start`].
    pub fn new(dir: PathBuf, max_query_chars: usize) -> Search {
        Search {
            inner: Arc::new(Inner {
                dir,
                max_query_chars,
                live: RwLock::new(None),
                building: AtomicBool::new(false),
                writer: Mutex::new(None),
                queued: AtomicU64::new(0),
                applied: AtomicU64::new(0),
                stale: AtomicBool::new(false),
            }),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn state(&self) -> IndexState {
        if self.inner.building.load(Ordering::SeqCst) {
            IndexState::Building
        } else if self.live().is_some() {
            IndexState::Ready
        } else {
            IndexState::Closed
        }
    }

    /// Runs a search. An index that is not open yet (or is being built for the first time)
    /// answers with no results.
    pub async fn search(&self, request: SearchRequest) -> Result<SearchPage, SearchError> {
        if request.text.chars().count() > self.inner.max_query_chars {
            return Err(SearchError::QueryTooLong(self.inner.max_query_chars));
        }
        let Some(live) = self.live() else {
            return Ok(SearchPage {
                total: 0,
                hits: Vec::new(),
                max_score: 0.0,
            });
        };
        tokio::task::spawn_blocking(move || query::run(&live, &request))
            .await
            .map_err(|e| SearchError::Index(e.to_string()))?
    }

    /// Changes not yet searchable (sent to the writer, not committed).
    pub fn pending(&self) -> u64 {
        let queued = self.inner.queued.load(Ordering::SeqCst);
        queued.saturating_sub(self.inner.applied.load(Ordering::SeqCst))
    }

    /// Documents in the index as the readers see it.
    pub fn documents(&self) -> u64 {
        self.live()
            .map(|l| l.reader.searcher().num_docs())
            .unwrap_or(0)
    }

    /// A package changed in the store: the writer re-reads it. Without a running writer (a CLI
    /// command changing the store offline) the index is marked stale, so the next start rebuilds it.
    pub fn changed(&self, ecosystem: Ecosystem, name: &str) {
        let writer = self.inner.writer.lock().expect("search writer lock");
        match writer.as_ref() {
            Some(tx) => {
                if tx.send(Op::Changed(DocKey::new(ecosystem, name))).is_ok() {
                    self.inner.queued.fetch_add(1, Ordering::SeqCst);
                }
            }
            None => self.mark_stale(),
        }
    }

    /// Makes the next start rebuild the index (the store changed while no writer ran).
    pub fn mark_stale(&self) {
        self.inner.stale.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_file(self.inner.dir.join(CLEAN_MARKER));
    }

    /// Rebuilds the index from the store while the server runs (searches keep answering from
    /// the old content until the rebuild commits); the number of documents indexed.
    pub async fn rebuild(&self) -> Result<usize, SearchError> {
        let tx = self
            .inner
            .writer
            .lock()
            .expect("search writer lock")
            .clone();
        let Some(tx) = tx else {
            return Err(SearchError::Index("the search index is not running".into()));
        };
        let (done, wait) = oneshot::channel();
        tx.send(Op::Rebuild(done))
            .map_err(|_| SearchError::Index("the search index has stopped".into()))?;
        wait.await
            .map_err(|_| SearchError::Index("the search index stopped during the rebuild".into()))?
            .map_err(SearchError::Index)
    }

    /// Stops the writer task after it has applied what is queued and marked the index clean.
    pub async fn shutdown(&self) {
        let tx = self.inner.writer.lock().expect("search writer lock").take();
        if let Some(tx) = tx {
            let (done, wait) = oneshot::channel();
            if tx.send(Op::Shutdown(done)).is_ok() {
                let _ = wait.await;
            }
        }
    }

    pub(crate) fn live(&self) -> Option<Live> {
        self.inner.live.read().expect("search live lock").clone()
    }

    pub(crate) fn set_live(&self, live: Option<Live>) {
        *self.inner.live.write().expect("search live lock") = live;
    }

    pub(crate) fn set_building(&self, building: bool) {
        self.inner.building.store(building, Ordering::SeqCst);
    }

    pub(crate) fn install_writer(&self, tx: mpsc::UnboundedSender<Op>) {
        *self.inner.writer.lock().expect("search writer lock") = Some(tx);
    }
}
