//! The one task that writes the search index. It is fed [`Op`]s through a channel, applies
//! everything queued as one commit, and makes readers reload. It also opens the index (and
//! rebuilds it when needed), refreshes the 30-day download figures every
//! `search.downloads_refresh_secs`, and at shutdown marks the index clean.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tantivy::schema::Value;
use tantivy::{Index, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::document::{self, SearchDoc};
use super::schema::{self, Fields, SCHEMA_VERSION};
use super::{CLEAN_MARKER, DocKey, Ecosystem, Inner, Live, Op, Search, SearchError};
use crate::core::downloads::utc_day;
use crate::store::MetadataStore;

/// Memory the index writer may buffer before it flushes a segment.
const WRITER_MEMORY_BYTES: usize = 64 * 1024 * 1024;
/// Documents loaded from the store per step of a rebuild.
const REBUILD_CHUNK: usize = 1000;
/// The download figure is over this many UTC days, today included.
pub const DOWNLOAD_WINDOW_DAYS: i64 = 30;

/// The first day of the download window.
pub fn window_start(now: OffsetDateTime) -> String {
    utc_day(now - time::Duration::days(DOWNLOAD_WINDOW_DAYS - 1))
}

/// Downloads per counted name in the window.
async fn window_totals(store: &dyn MetadataStore) -> Result<HashMap<String, u64>, SearchError> {
    let counts = store
        .downloads_between(&window_start(OffsetDateTime::now_utc()), "9999-12-31")
        .await
        .map_err(search_error)?;
    let mut totals = HashMap::new();
    for c in counts {
        *totals.entry(c.name).or_default() += c.count;
    }
    Ok(totals)
}

/// The tantivy document for `doc`.
fn to_tantivy(doc: &SearchDoc, f: &Fields) -> TantivyDocument {
    let mut d = TantivyDocument::new();
    d.add_text(f.key, doc.key().term());
    d.add_text(f.ecosystem, doc.ecosystem.as_str());
    d.add_text(f.name, &doc.name);
    d.add_text(f.name_words, &doc.name);
    d.add_text(f.name_prefix, &doc.name);
    if let Some(scope) = doc.scope() {
        d.add_text(f.scope, scope);
        if let Some((_, bare)) = doc.name.split_once('/') {
            d.add_text(f.name_prefix, bare);
        }
    }
    d.add_text(f.description, &doc.description);
    for k in &doc.keywords {
        d.add_text(f.keywords, k);
        d.add_text(f.keyword_exact, k);
    }
    for person in doc.author.iter().chain(doc.publisher.iter()) {
        d.add_text(f.author, person);
    }
    for m in &doc.maintainers {
        d.add_text(f.maintainer, m);
    }
    d.add_text(f.readme, &doc.readme);
    d.add_u64(f.deprecated, u64::from(doc.deprecated.is_some()));
    d.add_text(f.origin, doc.origin.as_str());
    d.add_u64(f.downloads, doc.downloads_30d);
    for (field, value) in f.name_order.iter().zip(schema::name_order(&doc.name)) {
        d.add_u64(*field, value);
    }
    d.add_text(
        f.payload,
        serde_json::to_string(doc).expect("search docs serialize"),
    );
    d
}

/// An open index with its writer.
struct Opened {
    live: Live,
    writer: IndexWriter,
    /// The index was created empty and must be filled from the store.
    needs_rebuild: bool,
}

/// Opens the index in `dir`, or creates it empty when it is missing, unreadable, of another
/// schema or was not closed cleanly. Removes the clean marker: it is in use now.
fn open(dir: &Path, force_rebuild: bool) -> Result<Opened, SearchError> {
    let (schema, fields) = schema::schema();
    let marker = dir.join(CLEAN_MARKER);
    let clean =
        std::fs::read_to_string(&marker).is_ok_and(|v| v.trim() == SCHEMA_VERSION.to_string());
    let existing = (clean && !force_rebuild)
        .then(|| Index::open_in_dir(dir).ok())
        .flatten()
        .filter(|index| index.schema() == schema);
    let (index, needs_rebuild) = match existing {
        Some(index) => (index, false),
        None => {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(|e| SearchError::Index(e.to_string()))?;
            }
            std::fs::create_dir_all(dir).map_err(|e| SearchError::Index(e.to_string()))?;
            (Index::create_in_dir(dir, schema)?, true)
        }
    };
    schema::register_tokenizers(&index);
    let writer = index.writer(WRITER_MEMORY_BYTES)?;
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    match std::fs::remove_file(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(SearchError::Index(e.to_string())),
    }
    Ok(Opened {
        live: Live {
            index,
            reader,
            fields,
        },
        writer,
        needs_rebuild,
    })
}

/// The 30-day download figure each indexed package was indexed with, read from the payloads.
fn indexed_downloads(live: &Live) -> Result<HashMap<String, u64>, SearchError> {
    let mut out = HashMap::new();
    let searcher = live.reader.searcher();
    for segment in searcher.segment_readers() {
        let store = segment
            .get_store_reader(1)
            .map_err(|e| SearchError::Index(e.to_string()))?;
        for doc in store.iter::<TantivyDocument>(segment.alive_bitset()) {
            let doc = doc?;
            if let Some(d) = doc
                .get_first(live.fields.payload)
                .and_then(|v| v.as_str())
                .and_then(|json| serde_json::from_str::<SearchDoc>(json).ok())
                && d.downloads_30d > 0
            {
                out.insert(d.key().downloads_key(), d.downloads_30d);
            }
        }
    }
    Ok(out)
}

fn search_error(e: impl std::fmt::Display) -> SearchError {
    SearchError::Index(e.to_string())
}

/// The writer and what it knows.
pub(crate) struct Writer {
    search: Weak<Inner>,
    dir: std::path::PathBuf,
    store: Arc<dyn MetadataStore>,
    live: Live,
    writer: Arc<Mutex<Option<IndexWriter>>>,
    /// Downloads key -> the 30-day figure the index holds for it.
    downloads: HashMap<String, u64>,
}

impl Writer {
    async fn open(
        search: &Search,
        store: Arc<dyn MetadataStore>,
        force_rebuild: bool,
    ) -> Result<Writer, SearchError> {
        let dir = search.dir().to_path_buf();
        let opened = tokio::task::spawn_blocking(move || open(&dir, force_rebuild))
            .await
            .map_err(search_error)??;
        let downloads = if opened.needs_rebuild {
            HashMap::new()
        } else {
            let live = opened.live.clone();
            tokio::task::spawn_blocking(move || indexed_downloads(&live))
                .await
                .map_err(search_error)??
        };
        search.set_live(Some(opened.live.clone()));
        let mut writer = Writer {
            search: Arc::downgrade(&search.inner),
            dir: search.dir().to_path_buf(),
            store,
            live: opened.live,
            writer: Arc::new(Mutex::new(Some(opened.writer))),
            downloads,
        };
        if opened.needs_rebuild {
            writer.rebuild().await?;
        }
        Ok(writer)
    }

    fn with_search(&self, f: impl FnOnce(&Search)) {
        if let Some(inner) = self.search.upgrade() {
            f(&Search { inner });
        }
    }

    /// Runs `work` with the index writer on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut IndexWriter) -> Result<T, SearchError> + Send + 'static,
    ) -> Result<T, SearchError> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = writer.lock().expect("index writer lock");
            let w = guard
                .as_mut()
                .ok_or_else(|| SearchError::Index("the index writer is closed".into()))?;
            work(w)
        })
        .await
        .map_err(search_error)?
    }

    /// Commits and makes the readers see it.
    async fn commit(&self) -> Result<(), SearchError> {
        let reader = self.live.reader.clone();
        self.blocking(move |w| {
            w.commit()?;
            reader.reload()?;
            Ok(())
        })
        .await
    }

    /// Replaces the index's content with what the store holds.
    pub(crate) async fn rebuild(&mut self) -> Result<usize, SearchError> {
        self.with_search(|s| s.set_building(true));
        let result = self.rebuild_inner().await;
        self.with_search(|s| s.set_building(false));
        result
    }

    async fn rebuild_inner(&mut self) -> Result<usize, SearchError> {
        let started = std::time::Instant::now();
        let store = self.store.clone();
        let keys = document::all_keys(store.as_ref())
            .await
            .map_err(search_error)?;
        let totals = window_totals(store.as_ref()).await?;
        self.blocking(|w| {
            w.delete_all_documents()?;
            Ok(())
        })
        .await?;
        let mut indexed = 0;
        for chunk in keys.chunks(REBUILD_CHUNK) {
            let mut docs = Vec::with_capacity(chunk.len());
            for key in chunk {
                let d30 = totals.get(&key.downloads_key()).copied().unwrap_or(0);
                if let Some(doc) = document::load(store.as_ref(), key, d30)
                    .await
                    .map_err(search_error)?
                {
                    docs.push(doc);
                }
            }
            indexed += docs.len();
            let fields = self.live.fields;
            self.blocking(move |w| {
                for doc in &docs {
                    w.add_document(to_tantivy(doc, &fields))?;
                }
                Ok(())
            })
            .await?;
        }
        self.commit().await?;
        self.downloads = totals;
        tracing::info!(
            documents = indexed,
            millis = started.elapsed().as_millis() as u64,
            "search index rebuilt"
        );
        Ok(indexed)
    }

    /// Re-reads `keys` from the store and commits them.
    async fn apply(&mut self, keys: Vec<DocKey>) -> Result<(), SearchError> {
        let since = window_start(OffsetDateTime::now_utc());
        let mut changes = Vec::with_capacity(keys.len());
        for key in keys {
            let downloads_key = key.downloads_key();
            let d30: u64 = self
                .store
                .downloads(&downloads_key)
                .await
                .map_err(search_error)?
                .iter()
                .filter(|c| c.day >= since)
                .map(|c| c.count)
                .sum();
            let doc = document::load(self.store.as_ref(), &key, d30)
                .await
                .map_err(search_error)?;
            self.downloads.insert(downloads_key, d30);
            changes.push((key, doc));
        }
        let fields = self.live.fields;
        self.blocking(move |w| {
            for (key, doc) in &changes {
                w.delete_term(Term::from_field_text(fields.key, &key.term()));
                if let Some(doc) = doc {
                    w.add_document(to_tantivy(doc, &fields))?;
                }
            }
            Ok(())
        })
        .await?;
        self.commit().await
    }

    /// Re-indexes the packages whose 30-day download figure moved since they were indexed.
    async fn refresh_downloads(&mut self) -> Result<(), SearchError> {
        let current = window_totals(self.store.as_ref()).await?;
        let mut changed: HashSet<String> = current
            .iter()
            .filter(|(k, v)| self.downloads.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        changed.extend(
            self.downloads
                .iter()
                .filter(|(k, v)| **v > 0 && !current.contains_key(*k))
                .map(|(k, _)| k.clone()),
        );
        if changed.is_empty() {
            return Ok(());
        }
        let keys = changed
            .into_iter()
            .map(
                |k| match k.strip_prefix(Ecosystem::Zig.count_key("").as_str()) {
                    Some(name) => DocKey::new(Ecosystem::Zig, name),
                    None => DocKey::new(Ecosystem::Npm, &k),
                },
            )
            .collect();
        self.apply(keys).await
    }

    /// Waits for merges, releases the index lock and marks the index clean.
    async fn close(self) -> Result<(), SearchError> {
        let writer = self.writer.lock().expect("index writer lock").take();
        let marker = self.dir.join(CLEAN_MARKER);
        tokio::task::spawn_blocking(move || -> Result<(), SearchError> {
            if let Some(w) = writer {
                w.wait_merging_threads()?;
            }
            std::fs::write(marker, SCHEMA_VERSION.to_string()).map_err(search_error)
        })
        .await
        .map_err(search_error)?
    }
}

/// Starts the writer task for `search`.
pub fn start(
    search: &Search,
    store: Arc<dyn MetadataStore>,
    refresh_every: Duration,
) -> tokio::task::JoinHandle<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    search.install_writer(tx);
    let search = search.clone();
    tokio::spawn(async move {
        let writer = match Writer::open(&search, store, false).await {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "search index unavailable");
                return;
            }
        };
        drop(search);
        run(writer, rx, refresh_every).await;
    })
}

async fn run(mut writer: Writer, mut rx: mpsc::UnboundedReceiver<Op>, refresh_every: Duration) {
    let mut tick = tokio::time::interval(refresh_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            op = rx.recv() => {
                let mut keys: HashSet<DocKey> = HashSet::new();
                let mut received = 0u64;
                let mut done = None;
                let mut closed = false;
                let mut take = |op: Option<Op>| match op {
                    Some(Op::Changed(k)) => {
                        received += 1;
                        keys.insert(k);
                    }
                    Some(Op::Shutdown(d)) => done = Some(d),
                    None => closed = true,
                };
                take(op);
                while let Ok(op) = rx.try_recv() {
                    take(Some(op));
                }
                if !keys.is_empty()
                    && let Err(e) = writer.apply(keys.into_iter().collect()).await
                {
                    tracing::error!(error = %e, "could not update the search index");
                }
                writer.with_search(|s| {
                    s.inner.applied.fetch_add(received, std::sync::atomic::Ordering::SeqCst);
                });
                if done.is_some() || closed {
                    if let Err(e) = writer.close().await {
                        tracing::error!(error = %e, "could not close the search index");
                    }
                    if let Some(d) = done {
                        let _ = d.send(());
                    }
                    return;
                }
            }
            _ = tick.tick() => {
                if let Err(e) = writer.refresh_downloads().await {
                    tracing::warn!(error = %e, "could not refresh download figures in the search index");
                }
            }
        }
    }
}

/// Rebuilds the index from the store and closes it clean (`pantry-registry reindex`). The
/// registry must not be serving from the same data directory.
pub async fn reindex(search: &Search, store: Arc<dyn MetadataStore>) -> Result<usize, SearchError> {
    let writer = Writer::open(search, store, true).await?;
    let documents = writer.live.reader.searcher().num_docs() as usize;
    writer.close().await?;
    search.set_live(None);
    Ok(documents)
}
