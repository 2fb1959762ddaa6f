//! The search index's schema: its fields, the tokenizers they use, and the version that says
//! when an index on disk was built with another schema (and must be rebuilt).

use tantivy::Index;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{LowerCaser, NgramTokenizer, RawTokenizer, TextAnalyzer};

/// Bumped whenever the fields, their tokenizers or the stored payload change. An index built
/// with another version is rebuilt from the store at start.
pub const SCHEMA_VERSION: u32 = 1;

/// Name prefixes longer than this do not rank as prefix matches (they still match by BM25).
pub const MAX_PREFIX_CHARS: usize = 64;

/// Lower-cased, untokenised: exact matches and qualifier filters.
const RAW_LOWER: &str = "raw_lower";
/// Lower-cased edge n-grams of a name: `exp`, `expr`, … for prefix matches.
const NAME_PREFIX: &str = "name_prefix";
/// tantivy's default: split on non-alphanumerics, drop very long tokens, lower-case.
const WORDS: &str = "default";

/// Every field, resolved once.
#[derive(Clone, Copy)]
pub struct Fields {
    /// `npm:<name>` or `zig:<name>`: the document's identity, for replacing and deleting it.
    pub key: Field,
    /// `npm` or `zig`.
    pub ecosystem: Field,
    /// The whole name, lower-cased: exact-name matches.
    pub name: Field,
    /// The name split into words: BM25 and typo tolerance.
    pub name_words: Field,
    /// Edge n-grams of the whole name and of a scoped name's bare part.
    pub name_prefix: Field,
    /// The scope without `@`, for `scope:`.
    pub scope: Field,
    pub description: Field,
    pub keywords: Field,
    /// Each keyword whole, for `keywords:`.
    pub keyword_exact: Field,
    /// The author's name and the publisher's user name, whole, for `author:`.
    pub author: Field,
    /// Owners' user names, whole, for `maintainer:`.
    pub maintainer: Field,
    /// The start of the readme.
    pub readme: Field,
    /// 1 when the latest version is deprecated.
    pub deprecated: Field,
    /// `local` or `cached` (an upstream package fetched through this registry).
    pub origin: Field,
    /// Downloads in the last 30 days: ranking tie-breaker.
    pub downloads: Field,
    /// Bytes 0..8 and 8..16 of the name, big-endian, then a hash of the whole name: the last,
    /// stable tie-breakers (alphabetical, then arbitrary but the same after every rebuild).
    pub name_order: [Field; 3],
    /// The stored [`super::SearchDoc`] as JSON, which the responses are built from.
    pub payload: Field,
}

pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let raw = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(RAW_LOWER)
            .set_index_option(IndexRecordOption::Basic),
    );
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let prefix = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(NAME_PREFIX)
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    let fields = Fields {
        key: b.add_text_field("key", STRING),
        ecosystem: b.add_text_field("ecosystem", STRING),
        name: b.add_text_field("name", raw.clone()),
        name_words: b.add_text_field("name_words", words.clone()),
        name_prefix: b.add_text_field("name_prefix", prefix),
        scope: b.add_text_field("scope", raw.clone()),
        description: b.add_text_field("description", words.clone()),
        keywords: b.add_text_field("keywords", words.clone()),
        keyword_exact: b.add_text_field("keyword_exact", raw.clone()),
        author: b.add_text_field("author", raw.clone()),
        maintainer: b.add_text_field("maintainer", raw.clone()),
        readme: b.add_text_field("readme", words),
        deprecated: b.add_u64_field("deprecated", INDEXED),
        origin: b.add_text_field("origin", raw),
        downloads: b.add_u64_field("downloads", FAST),
        name_order: [
            b.add_u64_field("name_order_0", FAST),
            b.add_u64_field("name_order_1", FAST),
            b.add_u64_field("name_order_2", FAST),
        ],
        payload: b.add_text_field("payload", STORED),
    };
    (b.build(), fields)
}

/// Registers the tokenizers the schema names; tantivy does not persist them, so this runs on
/// every open.
pub fn register_tokenizers(index: &Index) {
    let tokenizers = index.tokenizers();
    tokenizers.register(
        RAW_LOWER,
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .build(),
    );
    tokenizers.register(
        NAME_PREFIX,
        TextAnalyzer::builder(
            NgramTokenizer::prefix_only(1, MAX_PREFIX_CHARS).expect("valid n-gram bounds"),
        )
        .filter(LowerCaser)
        .build(),
    );
}

/// The values of the three `name_order` fields: bytes 0..8 and 8..16 of the lower-cased name
/// as big-endian numbers, then the first eight bytes of its SHA-256.
pub fn name_order(name: &str) -> [u64; 3] {
    use sha2::Digest;
    let lower = name.to_lowercase();
    let chunk = |from: usize| {
        let mut bytes = [0u8; 8];
        for (slot, b) in bytes.iter_mut().zip(lower.bytes().skip(from)) {
            *slot = b;
        }
        u64::from_be_bytes(bytes)
    };
    let digest = sha2::Sha256::digest(lower.as_bytes());
    let hash = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    [chunk(0), chunk(8), hash]
}
