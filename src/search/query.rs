//! Turning a search string into a tantivy query, and ranking what it matches.
//!
//! A query is free text plus npm's qualifiers: `keywords:a,b` (any of them; repeat the
//! qualifier to require several), `author:`, `maintainer:`, `scope:`, `is:deprecated`,
//! `not:deprecated`, and ours `is:local` / `is:cached`. Ranking, strongest first:
//! 1. the whole text is the package's name;
//! 2. the whole text starts the name (or a scoped name's bare part);
//! 3. BM25 over name words (×3), keywords (×2), description (×1) and readme (×0.5), plus small
//!    bonuses for a whole name or name words within one or two typos (`raect`, `exprss`) and
//!    for a name word the last query word starts;
//! 4. downloads in the last 30 days; 5. the name, alphabetically.

use std::sync::Arc;

use tantivy::collector::{Count, TopDocs};
use tantivy::columnar::ColumnValues;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, RegexQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocId, Score, SegmentReader, TantivyDocument, Term};

use super::schema::{Fields, MAX_PREFIX_CHARS};
use super::{Ecosystem, Live, Origin, SearchDoc, SearchError};

/// Score added when the text is the whole name.
const EXACT: Score = 20_000.0;
/// Score added when the text starts the name.
const PREFIX: Score = 10_000.0;
/// At most this many words of the text are scored, so BM25 stays far below [`PREFIX`].
const MAX_WORDS: usize = 16;
/// Typo tolerance is costly (an automaton per word): only this many words get it, and only a
/// text this short is compared whole with names.
const MAX_FUZZY_WORDS: usize = 4;
const MAX_FUZZY_NAME_CHARS: usize = 64;

/// One search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub text: String,
    pub ecosystem: Ecosystem,
    pub from: usize,
    pub size: usize,
    /// What this caller may not see.
    pub excluded: Excluded,
}

/// Documents a search leaves out, whatever they match: names matching any of `name_patterns`
/// (`*` stands for any run of characters, compared lower-cased) and documents of `origins`.
#[derive(Debug, Clone, Default)]
pub struct Excluded {
    pub name_patterns: Vec<String>,
    pub origins: Vec<Origin>,
}

/// The regular expression (whole-term, as tantivy matches) for a `*` name pattern.
fn pattern_regex(pattern: &str) -> String {
    pattern
        .to_lowercase()
        .split('*')
        .map(regex_syntax::escape)
        .collect::<Vec<_>>()
        .join(".*")
}

/// Results per page when the request does not say.
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// Larger page sizes are cut to this (npm's registry does the same).
pub const MAX_PAGE_SIZE: usize = 250;
/// Results past this position (`from + size`) are not served: deep paging costs the server
/// what it costs to rank everything before the page.
pub const MAX_RESULT_WINDOW: usize = 10_000;

impl SearchRequest {
    /// Validates the paging parameters as they came in a URL: `size` (or the seed's `limit`,
    /// named by `size_param` in the errors) 1 and up (cut to [`MAX_PAGE_SIZE`]), `from` 0 and up; the error says what is wrong.
    pub fn new(
        text: String,
        ecosystem: Ecosystem,
        from: Option<&str>,
        size: Option<&str>,
        size_param: &str,
    ) -> Result<SearchRequest, String> {
        let number = |name: &str, value: &str| {
            value
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("`{name}` must be a whole number, not {value:?}"))
        };
        let size = match size {
            None | Some("") => DEFAULT_PAGE_SIZE,
            Some(v) => match number(size_param, v)? {
                0 => return Err(format!("`{size_param}` must be at least 1")),
                n => n.min(MAX_PAGE_SIZE),
            },
        };
        let from = match from {
            None | Some("") => 0,
            Some(v) => number("from", v)?,
        };
        if from.saturating_add(size) > MAX_RESULT_WINDOW {
            return Err(format!(
                "results past the first {MAX_RESULT_WINDOW} are not served: narrow the query"
            ));
        }
        Ok(SearchRequest {
            text,
            ecosystem,
            from,
            size,
            excluded: Excluded::default(),
        })
    }
}

/// One result.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub doc: SearchDoc,
    /// tantivy's score: 30,000+ for an exact name, 10,000+ for a prefix, else BM25.
    pub score: f64,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// Everything that matched, not just this page.
    pub total: usize,
    pub hits: Vec<SearchHit>,
    /// The best score of the whole result set (for normalising scores to 0..1).
    pub max_score: f64,
}

/// A search string taken apart.
#[derive(Debug, Default, PartialEq)]
pub struct ParsedQuery {
    /// The free text, lower-cased, single-spaced.
    pub text: String,
    /// Each inner list is one `keywords:` qualifier: any of its keywords must be present.
    pub keywords: Vec<Vec<String>>,
    pub authors: Vec<String>,
    pub maintainers: Vec<String>,
    pub scopes: Vec<String>,
    pub deprecated: Option<bool>,
    pub origin: Option<Origin>,
}

/// Splits qualifiers from free text. Unknown `x:y` words stay text.
pub fn parse(q: &str) -> ParsedQuery {
    let mut parsed = ParsedQuery::default();
    let mut words = Vec::new();
    for word in q.split_whitespace() {
        let lower = word.to_lowercase();
        let Some((qualifier, value)) = lower.split_once(':') else {
            words.push(lower);
            continue;
        };
        let list = || -> Vec<String> {
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect()
        };
        match (qualifier, value) {
            // An empty list (`keywords:`) asks for nothing, so it filters nothing.
            ("keywords" | "keyword", _) if !list().is_empty() => parsed.keywords.push(list()),
            ("keywords" | "keyword", _) => {}
            ("author", _) => parsed.authors.extend(list()),
            ("maintainer", _) => parsed.maintainers.extend(list()),
            ("scope", _) => parsed.scopes.extend(
                list()
                    .into_iter()
                    .map(|s| s.trim_start_matches('@').to_string()),
            ),
            ("is", "deprecated") => parsed.deprecated = Some(true),
            ("not", "deprecated") => parsed.deprecated = Some(false),
            ("is", "local") => parsed.origin = Some(Origin::Local),
            ("is", "cached") => parsed.origin = Some(Origin::Cached),
            _ => words.push(lower),
        }
    }
    parsed.text = words.join(" ");
    parsed
}

fn term_query(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    ))
}

/// A clause that filters without changing the score.
fn filter(query: Box<dyn Query>) -> (Occur, Box<dyn Query>) {
    (Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0)))
}

/// Any of `values` in `field`.
fn any_of(field: Field, values: &[String]) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        values
            .iter()
            .map(|v| (Occur::Should, term_query(field, v)))
            .collect(),
    ))
}

/// Typo tolerance for a word: one edit from 4 characters, two from 8.
fn typo_distance(word: &str) -> Option<u8> {
    match word.chars().count() {
        0..=3 => None,
        4..=7 => Some(1),
        _ => Some(2),
    }
}

/// The words of `text` as the `default` tokenizer cuts them.
fn words(live: &Live, field: Field, text: &str) -> Vec<String> {
    let mut analyzer = match live.index.tokenizer_for_field(field) {
        Ok(a) => a,
        Err(_) => return Vec::new(),
    };
    let mut stream = analyzer.token_stream(text);
    let mut out: Vec<String> = Vec::new();
    while stream.advance() {
        let t = stream.token().text.clone();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out.truncate(MAX_WORDS);
    out
}

/// The free-text part: exact name, prefix, then per-word BM25 and typo/prefix bonuses.
fn text_query(live: &Live, text: &str) -> Option<Box<dyn Query>> {
    let f = &live.fields;
    let mut should: Vec<(Occur, Box<dyn Query>)> = vec![(
        Occur::Should,
        Box::new(ConstScoreQuery::new(term_query(f.name, text), EXACT)),
    )];
    if !text.contains(' ') && text.chars().count() <= MAX_PREFIX_CHARS {
        should.push((
            Occur::Should,
            Box::new(ConstScoreQuery::new(
                term_query(f.name_prefix, text),
                PREFIX,
            )),
        ));
    }
    // A typo in a whole name (`raect`, `lodahs`) outweighs the same typo in one name word.
    if let Some(distance) = typo_distance(text)
        .filter(|_| !text.contains(' ') && text.chars().count() <= MAX_FUZZY_NAME_CHARS)
    {
        let fuzzy = FuzzyTermQuery::new(Term::from_field_text(f.name, text), distance, true);
        should.push((
            Occur::Should,
            Box::new(ConstScoreQuery::new(Box::new(fuzzy), 2.0)),
        ));
    }
    let words = words(live, f.description, text);
    for (i, word) in words.iter().enumerate() {
        for (field, boost) in [
            (f.name_words, 3.0),
            (f.keywords, 2.0),
            (f.description, 1.0),
            (f.readme, 0.5),
        ] {
            should.push((
                Occur::Should,
                Box::new(BoostQuery::new(term_query(field, word), boost)),
            ));
        }
        if let Some(distance) = typo_distance(word).filter(|_| i < MAX_FUZZY_WORDS) {
            let fuzzy =
                FuzzyTermQuery::new(Term::from_field_text(f.name_words, word), distance, true);
            should.push((
                Occur::Should,
                Box::new(ConstScoreQuery::new(Box::new(fuzzy), 1.0)),
            ));
        }
        // As-you-type: the last word may be unfinished.
        if i + 1 == words.len() && word.chars().count() >= 3 {
            let prefix =
                FuzzyTermQuery::new_prefix(Term::from_field_text(f.name_words, word), 0, false);
            should.push((
                Occur::Should,
                Box::new(ConstScoreQuery::new(Box::new(prefix), 0.5)),
            ));
        }
    }
    (!text.is_empty()).then(|| Box::new(BooleanQuery::new(should)) as Box<dyn Query>)
}

/// The whole query for `parsed` in `ecosystem`.
pub(crate) fn build(
    live: &Live,
    parsed: &ParsedQuery,
    ecosystem: Ecosystem,
    excluded: &Excluded,
) -> Result<Box<dyn Query>, SearchError> {
    let f = &live.fields;
    let mut clauses = vec![filter(Box::new(TermQuery::new(
        Term::from_field_text(f.ecosystem, ecosystem.as_str()),
        IndexRecordOption::Basic,
    )))];
    if let Some(text) = text_query(live, &parsed.text) {
        clauses.push((Occur::Must, text));
    }
    for group in &parsed.keywords {
        clauses.push(filter(any_of(f.keyword_exact, group)));
    }
    if !parsed.authors.is_empty() {
        clauses.push(filter(any_of(f.author, &parsed.authors)));
    }
    if !parsed.maintainers.is_empty() {
        clauses.push(filter(any_of(f.maintainer, &parsed.maintainers)));
    }
    if !parsed.scopes.is_empty() {
        clauses.push(filter(any_of(f.scope, &parsed.scopes)));
    }
    let deprecated = || {
        Box::new(TermQuery::new(
            Term::from_field_u64(f.deprecated, 1),
            IndexRecordOption::Basic,
        )) as Box<dyn Query>
    };
    match parsed.deprecated {
        Some(true) => clauses.push(filter(deprecated())),
        Some(false) => clauses.push((Occur::MustNot, deprecated())),
        None => {}
    }
    if let Some(origin) = parsed.origin {
        clauses.push(filter(term_query(f.origin, origin.as_str())));
    }
    for origin in &excluded.origins {
        clauses.push((Occur::MustNot, term_query(f.origin, origin.as_str())));
    }
    for pattern in &excluded.name_patterns {
        let regex = RegexQuery::from_pattern(&pattern_regex(pattern), f.name)
            .map_err(|e| SearchError::Index(format!("name pattern {pattern:?}: {e}")))?;
        clauses.push((Occur::MustNot, Box::new(regex)));
    }
    Ok(Box::new(BooleanQuery::new(clauses)))
}

/// The sort key: tier (exact+prefix 3, exact 2, prefix 1, else 0), relevance in hundredths,
/// downloads, then the name alphabetically (the `u64::MAX - order` parts), then its hash.
type RankKey = (u8, u32, u64, u64, u64, u64);

fn rank_key(score: Score, downloads: u64, order: [u64; 3]) -> RankKey {
    let tier = (score / PREFIX).floor().clamp(0.0, 3.0);
    let relevance = ((score - tier * PREFIX).max(0.0) * 100.0).round() as u32;
    (
        tier as u8,
        relevance,
        downloads,
        u64::MAX - order[0],
        u64::MAX - order[1],
        u64::MAX - order[2],
    )
}

fn key_score(key: &RankKey) -> f64 {
    f64::from(key.0) * f64::from(PREFIX) + f64::from(key.1) / 100.0
}

type Column = Arc<dyn ColumnValues<u64>>;

/// Reads the fast fields the ranking needs, per segment.
fn ranker(fields: Fields) -> impl Fn(&SegmentReader) -> Box<dyn Fn(DocId, Score) -> RankKey> {
    move |segment: &SegmentReader| {
        let column = |field: Field| -> Column {
            let name = segment.schema().get_field_name(field).to_string();
            match segment.fast_fields().u64(&name) {
                Ok(c) => c.first_or_default_col(0),
                Err(_) => Arc::new(tantivy::columnar::column_values::VecColumn::from(vec![])),
            }
        };
        let downloads = column(fields.downloads);
        let orders = fields.name_order.map(column);
        Box::new(move |doc: DocId, score: Score| {
            let get = |c: &Column| {
                if doc < c.num_vals() {
                    c.get_val(doc)
                } else {
                    0
                }
            };
            rank_key(
                score,
                get(&downloads),
                [get(&orders[0]), get(&orders[1]), get(&orders[2])],
            )
        })
    }
}

/// Runs `request` on `live`. Blocking: call it from the blocking pool.
pub(crate) fn run(live: &Live, request: &SearchRequest) -> Result<SearchPage, SearchError> {
    let parsed = parse(&request.text);
    let query = build(live, &parsed, request.ecosystem, &request.excluded)?;
    let searcher = live.reader.searcher();
    let page = TopDocs::with_limit(request.size.max(1))
        .and_offset(request.from)
        .tweak_score(ranker(live.fields));
    let best = TopDocs::with_limit(1).tweak_score(ranker(live.fields));
    let (total, page, best) = searcher.search(&query, &(Count, page, best))?;
    let mut hits = Vec::with_capacity(page.len());
    for (key, address) in page.into_iter().take(request.size) {
        let stored: TantivyDocument = searcher.doc(address)?;
        let Some(doc) = stored
            .get_first(live.fields.payload)
            .and_then(|v| v.as_str())
            .and_then(|json| serde_json::from_str::<SearchDoc>(json).ok())
        else {
            continue;
        };
        hits.push(SearchHit {
            doc,
            score: key_score(&key),
        });
    }
    Ok(SearchPage {
        total,
        hits,
        max_score: best.first().map(|(k, _)| key_score(k)).unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns_become_whole_name_regexes() {
        assert_eq!(pattern_regex("@team/*"), "@team/.*");
        assert_eq!(pattern_regex("internal-*.js"), "internal\\-.*\\.js");
    }

    #[test]
    fn qualifiers_are_taken_out_of_the_text() {
        let p = parse(
            "HTTP  Server keywords:web,api keywords:fast author:Ann maintainer:bob scope:@acme not:deprecated is:cached foo:bar",
        );
        assert_eq!(p.text, "http server foo:bar");
        assert_eq!(
            p.keywords,
            vec![
                vec!["web".to_string(), "api".to_string()],
                vec!["fast".to_string()]
            ]
        );
        assert_eq!(p.authors, vec!["ann"]);
        assert_eq!(p.maintainers, vec!["bob"]);
        assert_eq!(p.scopes, vec!["acme"]);
        assert_eq!(p.deprecated, Some(false));
        assert_eq!(p.origin, Some(Origin::Cached));
    }

    #[test]
    fn empty_qualifiers_filter_nothing() {
        let p = parse("react keywords: keywords:, author:");
        assert_eq!(p.text, "react");
        assert!(p.keywords.is_empty() && p.authors.is_empty());
    }

    #[test]
    fn tiers_outrank_relevance_and_downloads() {
        let exact = rank_key(EXACT + PREFIX + 3.0, 0, [0; 3]);
        let prefix = rank_key(PREFIX + 50.0, 1_000_000, [0; 3]);
        let text = rank_key(900.0, u64::MAX, [0; 3]);
        assert!(exact > prefix && prefix > text);
        // Equal relevance: downloads decide, then the name (alphabetical).
        assert!(rank_key(5.0, 10, [1; 3]) > rank_key(5.0, 9, [0; 3]));
        assert!(rank_key(5.0, 10, [1, 0, 0]) > rank_key(5.0, 10, [2, 0, 0]));
    }
}
