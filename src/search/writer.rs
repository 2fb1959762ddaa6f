//! The one task that writes the search index. It is fed [`Op`]s through a channel, applies
//! everything queued as one commit, and makes readers reload. It also opens the index (and
//! rebuilds it when needed), refreshes the 30-day download figures every
//! `search.downloads_refresh_secs`, and at shutdown marks the index clean.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tantivy::query::{BooleanQuery, Occur, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::document::{Documents, SearchDoc};
use super::schema::{self, Fields, SCHEMA_VERSION};
use super::{CLEAN_MARKER, DocKey, Ecosystem, Inner, Live, Op, Origin, Search, SearchError};
use crate::core::downloads::utc_day;
use crate::store::{Changed, MetadataStore};

/// Memory the index writer may buffer before it flushes a segment, and its indexing threads.
/// One thread keeps a small registry small; a rebuild is still 10,000+ packages a second.
const WRITER_MEMORY_BYTES: usize = 32 * 1024 * 1024;
const WRITER_THREADS: usize = 1;
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
    Ok(store
        .download_totals_since(&window_start(OffsetDateTime::now_utc()))
        .await
        .map_err(search_error)?
        .into_iter()
        .collect())
}

/// What the clean marker holds: the schema version and the settings that decide which packages
/// are indexed ([`Documents::policy`]), then the id of the newest change feed entry the index
/// reflects. Another schema or other settings rebuild the index; another change id means the
/// store was written to without this index running: the index catches up with the changes
/// after it, or is rebuilt when the feed no longer holds it (older than the feed keeps, or
/// another database, one restored from a backup among them).
fn marker_text(documents: &dyn Documents, change: Option<&str>) -> String {
    format!(
        "{} change={}",
        marker_prefix(documents),
        change.unwrap_or("none")
    )
}

fn marker_prefix(documents: &dyn Documents) -> String {
    format!("{SCHEMA_VERSION} {}", documents.policy())
}

/// The most packages a start catches up with from the change feed; more are a rebuild.
const CATCH_UP_LIMIT: usize = 100_000;

/// How an index that opened stands against the store.
enum Standing {
    /// It reflects the store.
    Current,
    /// It reflects the store but for these packages, changed since.
    Behind(HashSet<DocKey>),
    /// It must be rebuilt.
    Rebuild,
}

/// Compares the clean marker `marker` (if any) with the store's change feed.
async fn standing(
    documents: &dyn Documents,
    store: &dyn MetadataStore,
    marker: Option<&str>,
) -> Result<Standing, SearchError> {
    let prefix = format!("{} change=", marker_prefix(documents));
    let Some(seen) = marker.and_then(|m| m.trim().strip_prefix(prefix.as_str())) else {
        return Ok(Standing::Rebuild);
    };
    let latest = store.latest_change().await.map_err(search_error)?;
    if latest.as_deref().unwrap_or("none") == seen {
        return Ok(Standing::Current);
    }
    if seen == "none" {
        return Ok(Standing::Rebuild);
    }
    let mut behind = HashSet::new();
    let mut after = seen.to_string();
    loop {
        let Some(page) = store
            .changes_after(Some(&after), REBUILD_CHUNK)
            .await
            .map_err(search_error)?
        else {
            return Ok(Standing::Rebuild);
        };
        let Some(last) = page.last() else {
            return Ok(Standing::Behind(behind));
        };
        after = last.id.clone();
        for change in page {
            match change.changed {
                Changed::Npm(name) => behind.insert(DocKey::new(Ecosystem::Npm, &name)),
                Changed::Zig(name) => behind.insert(DocKey::new(Ecosystem::Zig, &name)),
                Changed::Whole => return Ok(Standing::Rebuild),
            };
        }
        if behind.len() > CATCH_UP_LIMIT {
            return Ok(Standing::Rebuild);
        }
    }
}

/// Re-keys a counted name (`zig:<name>` or an npm name) as an index key.
fn key_of_counted(counted: &str) -> DocKey {
    match counted.strip_prefix(Ecosystem::Zig.count_key("").as_str()) {
        Some(name) => DocKey::new(Ecosystem::Zig, name),
        None => DocKey::new(Ecosystem::Npm, counted),
    }
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
    /// The index must be (re)filled from the store: it was just created, was not closed
    /// cleanly, or was built with another schema or other settings.
    needs_rebuild: bool,
}

/// Opens the index in `dir` and its writer and reader.
fn open_existing(dir: &Path) -> tantivy::Result<Opened> {
    let (schema, fields) = schema::schema();
    let index = Index::open_in_dir(dir)?;
    if index.schema() != schema {
        return Err(tantivy::TantivyError::SchemaError(
            "built with another schema".into(),
        ));
    }
    let opened = with_writer(index, fields, false)?;
    // Reading every segment's metadata now finds a missing or truncated file before we trust it.
    opened.live.reader.searcher().num_docs();
    Ok(opened)
}

/// Registers the tokenizers and opens the writer and a reader that reloads on commit.
fn with_writer(index: Index, fields: Fields, needs_rebuild: bool) -> tantivy::Result<Opened> {
    schema::register_tokenizers(&index);
    let writer = index.writer_with_num_threads(WRITER_THREADS, WRITER_MEMORY_BYTES)?;
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
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

/// Opens the index in `dir`. An index that opens is kept (and served) even when it must be
/// rebuilt, since a rebuild replaces its content in one commit; one that does not open, or
/// has another schema, is deleted and created empty. Removes the clean marker: it is in use
/// now.
///
/// Deleting the directory is safe only because the database lock already keeps a second
/// process off this data directory.
fn open(dir: &Path, rebuild: bool) -> Result<Opened, SearchError> {
    let marker_path = dir.join(CLEAN_MARKER);
    let opened = match open_existing(dir) {
        Ok(mut o) => {
            o.needs_rebuild = rebuild;
            o
        }
        Err(e) => {
            if dir.exists() {
                tracing::warn!(error = %e, "search index unusable; rebuilding it");
                std::fs::remove_dir_all(dir).map_err(search_error)?;
            }
            std::fs::create_dir_all(dir).map_err(search_error)?;
            let (schema, fields) = schema::schema();
            with_writer(Index::create_in_dir(dir, schema)?, fields, true)?
        }
    };
    match std::fs::remove_file(&marker_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(search_error(e)),
    }
    Ok(opened)
}

/// The 30-day download figure each indexed package was indexed with, read from the payloads.
fn indexed_downloads(live: &Live) -> Result<HashMap<String, u64>, SearchError> {
    let mut out = HashMap::new();
    let searcher = live.reader.searcher();
    for segment in searcher.segment_readers() {
        let store = segment.get_store_reader(1).map_err(search_error)?;
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

/// Packages changed per commit when catching up with download figures, so that publishes
/// queued meanwhile wait for one small commit at most.
const REFRESH_CHUNK: usize = 500;
/// How soon a failed update is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The writer and what it knows.
pub(crate) struct Writer {
    search: Weak<Inner>,
    dir: std::path::PathBuf,
    store: Arc<dyn MetadataStore>,
    documents: Arc<dyn Documents>,
    live: Live,
    writer: Arc<Mutex<Option<IndexWriter>>>,
    /// Downloads key -> the 30-day figure the index holds for it.
    downloads: HashMap<String, u64>,
    /// The index must be rebuilt from the store (the last attempt failed).
    needs_rebuild: bool,
    /// Changes whose update failed, to try again; the index is not clean until they land.
    retry: HashSet<DocKey>,
    /// Changes received and not yet committed (for `pending` in /health).
    unacknowledged: u64,
    /// Packages whose download figure moved, still to re-index.
    backlog: Vec<DocKey>,
    /// The figures the backlog was computed from.
    backlog_totals: HashMap<String, u64>,
}

impl Writer {
    async fn open(
        search: &Search,
        store: Arc<dyn MetadataStore>,
        documents: Arc<dyn Documents>,
        force_rebuild: bool,
    ) -> Result<Writer, SearchError> {
        let dir = search.dir().to_path_buf();
        let marker = std::fs::read_to_string(dir.join(CLEAN_MARKER)).ok();
        let standing = if force_rebuild {
            Standing::Rebuild
        } else {
            standing(documents.as_ref(), store.as_ref(), marker.as_deref()).await?
        };
        let rebuild = matches!(standing, Standing::Rebuild);
        let opened = tokio::task::spawn_blocking(move || open(&dir, rebuild))
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
        let catching_up = matches!(&standing, Standing::Behind(keys) if !keys.is_empty());
        search.set_building(opened.needs_rebuild || catching_up);
        search.set_live(Some(opened.live.clone()));
        let mut writer = Writer {
            search: Arc::downgrade(&search.inner),
            dir: search.dir().to_path_buf(),
            store,
            documents,
            live: opened.live,
            writer: Arc::new(Mutex::new(Some(opened.writer))),
            downloads,
            needs_rebuild: opened.needs_rebuild,
            retry: HashSet::new(),
            unacknowledged: 0,
            backlog: Vec::new(),
            backlog_totals: HashMap::new(),
        };
        writer.rebuild_if_needed().await;
        if let Standing::Behind(keys) = standing
            && !writer.needs_rebuild
            && !keys.is_empty()
        {
            tracing::info!(
                packages = keys.len(),
                "search index catching up with changes made while it was closed"
            );
            // Until it has, the index says it is building, as during a rebuild.
            writer.apply_or_retry(keys, 0).await;
            writer.with_search(|s| s.set_building(false));
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

    /// Drops what was added since the last commit (after a failed update).
    async fn rollback(&self) {
        if let Err(e) = self.blocking(|w| Ok(w.rollback()?)).await {
            tracing::error!(error = %e, "could not roll back the search index writer");
        }
    }

    /// Rebuilds from the store when needed; a failure is logged and tried again later, and
    /// searches keep answering from what was indexed before.
    async fn rebuild_if_needed(&mut self) {
        if !self.needs_rebuild {
            return;
        }
        self.with_search(|s| s.set_building(true));
        match self.rebuild().await {
            Ok(_) => self.needs_rebuild = false,
            Err(e) => {
                tracing::error!(error = %e, "could not rebuild the search index; will retry");
                self.rollback().await;
            }
        }
        let building = self.needs_rebuild;
        self.with_search(|s| s.set_building(building));
    }

    /// Replaces the index's content with what the store holds, in one commit: readers see the
    /// old content until then.
    pub(crate) async fn rebuild(&mut self) -> Result<usize, SearchError> {
        let started = std::time::Instant::now();
        let documents = self.documents.clone();
        let keys = documents.keys().await.map_err(search_error)?;
        let totals = window_totals(self.store.as_ref()).await?;
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
                if let Some(mut doc) = documents.document(key).await.map_err(search_error)? {
                    doc.downloads_30d = d30;
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

    /// Re-reads `keys` from the store and commits them. `totals` are the current 30-day
    /// figures when the caller has them; otherwise a package keeps the figure it was indexed
    /// with (the periodic refresh brings it up to date), so a publish never reads the
    /// package's whole download history.
    async fn apply(
        &mut self,
        keys: Vec<DocKey>,
        totals: Option<&HashMap<String, u64>>,
    ) -> Result<(), SearchError> {
        let mut changes = Vec::with_capacity(keys.len());
        for key in keys {
            let downloads_key = key.downloads_key();
            let d30 = totals
                .unwrap_or(&self.downloads)
                .get(&downloads_key)
                .copied()
                .unwrap_or(0);
            let doc = self
                .documents
                .document(&key)
                .await
                .map_err(search_error)?
                .map(|mut d| {
                    d.downloads_30d = d30;
                    d
                });
            changes.push((key, doc, downloads_key, d30));
        }
        let fields = self.live.fields;
        let applied = self
            .blocking(move |w| {
                for (key, doc, _, _) in &changes {
                    w.delete_term(Term::from_field_text(fields.key, &key.term()));
                    if let Some(doc) = doc {
                        // A local package in a scope makes the scope ours: the upstream
                        // packages cached in it are no longer served, so no longer found.
                        if let Some(scope) = doc.scope().filter(|_| doc.origin == Origin::Local) {
                            w.delete_query(Box::new(BooleanQuery::new(vec![
                                (Occur::Must, term(fields.ecosystem, "npm")),
                                (Occur::Must, term(fields.origin, Origin::Cached.as_str())),
                                (Occur::Must, term(fields.scope, scope)),
                            ])))?;
                        }
                        w.add_document(to_tantivy(doc, &fields))?;
                    }
                }
                Ok(changes)
            })
            .await;
        let changes = match applied {
            Ok(c) => c,
            Err(e) => {
                self.rollback().await;
                return Err(e);
            }
        };
        if let Err(e) = self.commit().await {
            self.rollback().await;
            return Err(e);
        }
        for (_, _, downloads_key, d30) in changes {
            self.downloads.insert(downloads_key, d30);
        }
        Ok(())
    }

    /// Applies `keys` plus any earlier failures; on failure keeps them all for a retry.
    async fn apply_or_retry(&mut self, keys: HashSet<DocKey>, received: u64) {
        self.unacknowledged += received;
        self.retry.extend(keys);
        if self.retry.is_empty() {
            return;
        }
        let keys: Vec<DocKey> = self.retry.iter().cloned().collect();
        match self.apply(keys, None).await {
            Ok(()) => {
                self.retry.clear();
                let done = std::mem::take(&mut self.unacknowledged);
                self.with_search(|s| {
                    s.inner
                        .applied
                        .fetch_add(done, std::sync::atomic::Ordering::SeqCst);
                });
            }
            Err(e) => {
                tracing::error!(error = %e, packages = self.retry.len(), "could not update the search index; will retry");
            }
        }
    }

    /// Finds the packages whose 30-day download figure moved since they were indexed and
    /// queues them (they are re-indexed a chunk at a time).
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
        self.backlog = changed.iter().map(|k| key_of_counted(k)).collect();
        self.backlog_totals = current;
        Ok(())
    }

    /// Re-indexes the next chunk of the download backlog.
    async fn refresh_chunk(&mut self) {
        let cut = self.backlog.len().saturating_sub(REFRESH_CHUNK);
        let chunk = self.backlog.split_off(cut);
        let totals = std::mem::take(&mut self.backlog_totals);
        if let Err(e) = self.apply(chunk, Some(&totals)).await {
            tracing::warn!(error = %e, "could not refresh download figures in the search index");
            self.backlog.clear();
        }
        self.backlog_totals = totals;
    }

    /// Waits for merges, releases the index lock and, when everything landed, marks the
    /// index clean.
    async fn close(self) -> Result<(), SearchError> {
        let writer = self.writer.lock().expect("index writer lock").take();
        let marker = self.dir.join(CLEAN_MARKER);
        let clean = !self.needs_rebuild && self.retry.is_empty();
        let latest = self.store.latest_change().await.map_err(search_error)?;
        let text = marker_text(self.documents.as_ref(), latest.as_deref());
        let search = self.search.clone();
        tokio::task::spawn_blocking(move || -> Result<(), SearchError> {
            if let Some(w) = writer {
                w.wait_merging_threads()?;
            }
            if clean {
                std::fs::write(&marker, text).map_err(search_error)?;
                // A change that arrived after the writer stopped listening made the index
                // stale: it must not look clean.
                if search.upgrade().is_some_and(|inner| inner.is_stale()) {
                    let _ = std::fs::remove_file(&marker);
                }
            }
            Ok(())
        })
        .await
        .map_err(search_error)?
    }
}

fn term(field: tantivy::schema::Field, text: &str) -> Box<dyn tantivy::query::Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::Basic,
    ))
}

/// Starts the writer task for `search`.
pub fn start(
    search: &Search,
    store: Arc<dyn MetadataStore>,
    documents: Arc<dyn Documents>,
    refresh_every: Duration,
) -> tokio::task::JoinHandle<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    search.install_writer(tx);
    let search = search.clone();
    tokio::spawn(async move {
        let writer = match Writer::open(&search, store, documents, false).await {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "search index unavailable");
                search.set_building(false);
                return;
            }
        };
        drop(search);
        run(writer, rx, refresh_every).await;
    })
}

/// Changes arriving within this long of the last commit wait for the rest of it and are
/// committed together.
const MIN_COMMIT_GAP: Duration = Duration::from_millis(100);

async fn run(mut writer: Writer, mut rx: mpsc::UnboundedReceiver<Op>, refresh_every: Duration) {
    let mut tick = tokio::time::interval(refresh_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut retry_tick = tokio::time::interval(RETRY_AFTER);
    retry_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_commit = std::time::Instant::now() - MIN_COMMIT_GAP;
    loop {
        let must_retry = !writer.retry.is_empty() || writer.needs_rebuild;
        tokio::select! {
            biased;
            op = rx.recv() => {
                let mut keys: HashSet<DocKey> = HashSet::new();
                let mut received = 0u64;
                let mut done = None;
                let mut closed = false;
                let mut rebuilds = Vec::new();
                let mut take = |op: Option<Op>| match op {
                    Some(Op::Changed(k)) => {
                        received += 1;
                        keys.insert(k);
                    }
                    Some(Op::Rebuild(reply)) => rebuilds.push(reply),
                    Some(Op::Shutdown(d)) => done = Some(d),
                    None => closed = true,
                };
                let urgent = !matches!(op, Some(Op::Changed(_)));
                take(op);
                // A burst of writes (a CI pipeline publishing one version after another) is
                // committed together: a commit builds a whole segment, so one per publish would
                // cost more CPU than the publishes. An isolated change is committed at once.
                let since = last_commit.elapsed();
                if since < MIN_COMMIT_GAP && !urgent {
                    tokio::time::sleep(MIN_COMMIT_GAP - since).await;
                }
                while let Ok(op) = rx.try_recv() {
                    take(Some(op));
                }
                writer.apply_or_retry(keys, received).await;
                last_commit = std::time::Instant::now();
                if !rebuilds.is_empty() {
                    writer.needs_rebuild = true;
                    writer.rebuild_if_needed().await;
                    let answer = if writer.needs_rebuild {
                        Err("the rebuild failed; see the server log".to_string())
                    } else {
                        Ok(writer.live.reader.searcher().num_docs() as usize)
                    };
                    for reply in rebuilds {
                        let _ = reply.send(answer.clone());
                    }
                }
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
            _ = retry_tick.tick(), if must_retry => {
                writer.rebuild_if_needed().await;
                writer.apply_or_retry(HashSet::new(), 0).await;
            }
            _ = std::future::ready(()), if !writer.backlog.is_empty() => {
                writer.refresh_chunk().await;
            }
            _ = tick.tick() => {
                if let Err(e) = writer.refresh_downloads().await {
                    tracing::warn!(error = %e, "could not read download figures for the search index");
                }
            }
        }
    }
}

/// Rebuilds the index from the store and closes it clean (`pantry-registry reindex`). The
/// registry must not be serving from the same data directory (the database lock sees to it).
pub async fn reindex(
    search: &Search,
    store: Arc<dyn MetadataStore>,
    documents: Arc<dyn Documents>,
) -> Result<usize, SearchError> {
    let writer = Writer::open(search, store, documents, true).await?;
    if writer.needs_rebuild {
        return Err(SearchError::Index("the rebuild failed; see the log".into()));
    }
    let documents = writer.live.reader.searcher().num_docs() as usize;
    writer.close().await?;
    search.set_live(None);
    Ok(documents)
}
