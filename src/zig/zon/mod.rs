//! `build.zig.zon`, the Zig package manifest: a tokenizer and parser for ZON (the value subset of
//! Zig's expression syntax) and the manifest rules zig 0.17.1 applies when it fetches a package.
//!
//! This module owns the answer to "would zig accept this build.zig.zon, and what does it say?".
//! It follows zig's own two steps: `std.zig.Ast.parse` in ZON mode (any syntax error rejects the
//! file), then `Package.Manifest.parse`, which looks only at the fields it knows. Consequently:
//!
//! * Unknown fields are ignored but must parse. Their string escapes, number literals and
//!   character literals are not validated, because zig's parser does not validate them either.
//! * Each occurrence of a known field is validated and, for `.name`, `.version`, `.fingerprint`
//!   and `.minimum_zig_version`, the last one wins. Repeated `.paths` and `.dependencies` fields
//!   accumulate (zig adds them to the same map), and a repeated dependency name keeps its first
//!   position but takes the last value.
//! * Comments may not contain control characters (TAB included, as in zig 0.14+); `///` and `//!`
//!   doc comments are syntax errors in ZON; a `\r` in a comment or a `\\` line must precede `\n`.
//!
//! Old-style manifests (zig 0.12/0.13: the name is a string that is a valid identifier and there
//! is no fingerprint) are accepted and flagged [`Manifest::old_style`], as zig 0.14/0.15 accept
//! them. zig 0.16+ reject them with "expected enum literal".
//!
//! Known limits, all of which reject rather than accept: zig's parser accepts any Zig expression
//! as a value (operators, calls, field access, typed initializers `T{ ... }`, `if`, ...), while
//! this parser accepts only ZON values (anonymous structs and tuples, enum literals, string,
//! multiline string, number and character literals, identifiers, and prefix operators such as
//! `-`). Nesting deeper than [`MAX_DEPTH`] is rejected. A known string field whose escapes decode
//! to invalid UTF-8 is rejected because the manifest is exposed as Rust `String`s.
//!
//! Error positions are 1-based `line:column`, the column counted in bytes as zig counts it.

use std::collections::{HashMap, HashSet, VecDeque};

/// zig refuses a build.zig.zon larger than this.
pub const MAX_MANIFEST_BYTES: usize = 10 * 1024 * 1024;
/// Maximum nesting of `.{ }` initializers; deeper input is rejected to bound recursion.
pub const MAX_DEPTH: usize = 256;
const MAX_NAME_LEN: usize = 32;
const MAX_VERSION_LEN: usize = 32;
/// Longest package hash: 32-byte name, `-`, 32-byte version, `-`, 44 base64 characters.
const MAX_HASH_LEN: usize = 110;
const HASHPLUS_LEN: usize = 44;

/// Zig's keywords: they tokenize as keywords, so `.fn` is not an enum literal.
const KEYWORDS: &str = "addrspace align allowzero and anyframe anytype asm break callconv catch \
    comptime const continue defer else enum errdefer error export extern fn for if inline \
    linksection noalias noinline nosuspend opaque or orelse packed pub resume return struct \
    suspend switch test threadlocal try union unreachable var volatile while";

fn is_keyword(word: &str) -> bool {
    KEYWORDS.split_whitespace().any(|keyword| keyword == word)
}

/// A parsed and validated build.zig.zon.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The enum-literal name (or the string name for old-style manifests).
    pub name: String,
    /// Verbatim.
    pub version: String,
    /// `None` only for old-style manifests (string name, no fingerprint).
    pub fingerprint: Option<u64>,
    pub minimum_zig_version: Option<String>,
    pub dependencies: Vec<Dependency>,
    /// Normalised like `std.fs.path.resolve` (`"./a/"` becomes `"a"`, `""` becomes `"."`),
    /// without duplicates, in first-seen order. `None` when the field is absent.
    pub paths: Option<Vec<String>>,
    /// Name given as a string literal and no fingerprint (0.12/0.13 style, accepted by 0.14/0.15).
    pub old_style: bool,
}

/// One entry of `.dependencies`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    pub name: String,
    pub url: Option<String>,
    pub path: Option<String>,
    pub hash: Option<String>,
    pub lazy: bool,
}

/// Why a build.zig.zon was rejected, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("build.zig.zon:{line}:{column}: {message}")]
pub struct ZonError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Manifest {
    /// The package id: the fingerprint's low 32 bits (0 for old-style manifests).
    pub fn package_id(&self) -> u32 {
        self.fingerprint.map_or(0, |fingerprint| fingerprint as u32)
    }
}

/// Parses and validates with zig 0.17's rules; old-style manifests (string name, no fingerprint)
/// are accepted and marked `old_style` (zig 0.14/0.15 accept them; 0.16+ do not).
pub fn parse_manifest(text: &str) -> Result<Manifest, ZonError> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(error_at(
            text,
            0,
            format!("file is larger than the maximum of {MAX_MANIFEST_BYTES} bytes"),
        ));
    }
    let root = Parser::new(text).root()?;
    Checker { src: text }.manifest(&root)
}

fn error_at(src: &str, offset: usize, message: impl Into<String>) -> ZonError {
    let before = src.as_bytes().get(..offset).unwrap_or(src.as_bytes());
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    ZonError {
        line,
        column: before.len() - line_start + 1,
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tokenizer (mirrors std.zig.Tokenizer for everything that can appear in a ZON file)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    /// `foo` or `@"any string"`.
    Identifier,
    Keyword,
    /// `@name`, a builtin function: valid Zig, but not a ZON value.
    Builtin,
    StringLiteral,
    MultilineStringLine,
    CharLiteral,
    NumberLiteral,
    Period,
    LBrace,
    RBrace,
    Comma,
    Equal,
    /// `-`, `-%`, `!`, `~`, `&`.
    PrefixOp,
    /// Any other operator or punctuation: valid Zig, but not part of a ZON value.
    Operator,
    Eof,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    tag: Tag,
    start: usize,
    end: usize,
}

struct Tokenizer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

/// Bytes zig rejects inside comments and `\\` lines (`\r` is handled separately).
fn forbidden_in_line(b: u8) -> bool {
    matches!(b, 0x00..=0x09 | 0x0b | 0x0c | 0x0e..=0x1f | 0x7f)
}

/// Bytes zig rejects inside string and character literals (`\n` ends them with an error).
fn forbidden_in_literal(b: u8) -> bool {
    matches!(b, 0x00..=0x09 | 0x0b..=0x1f | 0x7f)
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A character that continues a number literal without starting an exponent.
fn is_number_char(b: u8) -> bool {
    is_ident_char(b) && !matches!(b, b'e' | b'E' | b'p' | b'P')
}

fn describe_byte(b: u8) -> String {
    match b {
        b'\t' => "'\\t'".to_string(),
        b'\r' => "'\\r'".to_string(),
        0x20..=0x7e => format!("'{}'", char::from(b)),
        _ => format!("'\\x{b:02x}'"),
    }
}

impl<'a> Tokenizer<'a> {
    fn new(src: &'a str) -> Self {
        let pos = if src.starts_with('\u{feff}') { 3 } else { 0 };
        Tokenizer {
            src,
            bytes: src.as_bytes(),
            pos,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> ZonError {
        error_at(self.src, offset, message)
    }

    fn next(&mut self) -> Result<Token, ZonError> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(b' ' | b'\n' | b'\t' | b'\r'), _) => self.pos += 1,
                (Some(b'/'), Some(b'/')) => self.comment()?,
                _ => break,
            }
        }
        let start = self.pos;
        let Some(c) = self.peek(0) else {
            return Ok(Token {
                tag: Tag::Eof,
                start,
                end: start,
            });
        };
        self.pos += 1;
        let tag = match c {
            b'"' => {
                self.quoted(start, b'"')?;
                Tag::StringLiteral
            }
            b'\'' => {
                self.quoted(start, b'\'')?;
                Tag::CharLiteral
            }
            b'@' => match self.peek(0) {
                Some(b'"') => {
                    self.pos += 1;
                    self.quoted(start, b'"')?;
                    Tag::Identifier
                }
                Some(b) if is_ident_start(b) => {
                    self.eat_while(is_ident_char);
                    Tag::Builtin
                }
                _ => return Err(self.error(start, "expected a builtin name or '\"' after '@'")),
            },
            b if is_ident_start(b) => {
                self.eat_while(is_ident_char);
                let word = self.src.get(start..self.pos).unwrap_or("");
                if is_keyword(word) {
                    Tag::Keyword
                } else {
                    Tag::Identifier
                }
            }
            b'0'..=b'9' => {
                self.number();
                Tag::NumberLiteral
            }
            b'\\' => {
                if self.peek(0) != Some(b'\\') {
                    return Err(self.error(start, "invalid character: '\\'"));
                }
                self.pos += 1;
                self.multiline_line()?;
                Tag::MultilineStringLine
            }
            b'.' => match self.peek(0) {
                Some(b'.' | b'*') => self.operator(1),
                _ => Tag::Period,
            },
            b'{' => Tag::LBrace,
            b'}' => Tag::RBrace,
            b',' => Tag::Comma,
            b'=' => match self.peek(0) {
                Some(b'=' | b'>') => self.operator(1),
                _ => Tag::Equal,
            },
            b'-' => match (self.peek(0), self.peek(1)) {
                (Some(b'%' | b'|'), Some(b'=')) => self.operator(2),
                (Some(b'>' | b'=' | b'|'), _) => self.operator(1),
                (Some(b'%'), _) => {
                    self.pos += 1;
                    Tag::PrefixOp
                }
                _ => Tag::PrefixOp,
            },
            b'!' | b'&' => match self.peek(0) {
                Some(b'=') => self.operator(1),
                _ => Tag::PrefixOp,
            },
            b'~' => Tag::PrefixOp,
            b'(' | b')' | b'[' | b']' | b';' | b'?' | b':' | b'%' | b'*' | b'+' | b'<' | b'>'
            | b'^' | b'|' | b'/' => Tag::Operator,
            _ => {
                let shown = self
                    .src
                    .get(start..)
                    .and_then(|rest| rest.chars().next())
                    .map_or_else(|| describe_byte(c), |ch| format!("{ch:?}"));
                return Err(self.error(start, format!("invalid character: {shown}")));
            }
        };
        Ok(Token {
            tag,
            start,
            end: self.pos,
        })
    }

    fn operator(&mut self, extra: usize) -> Tag {
        self.pos += extra;
        Tag::Operator
    }

    fn eat_while(&mut self, keep: fn(u8) -> bool) {
        while self.peek(0).is_some_and(keep) {
            self.pos += 1;
        }
    }

    /// Skips a `//` comment. `///` and `//!` are doc comments, which ZON does not allow.
    fn comment(&mut self) -> Result<(), ZonError> {
        let start = self.pos;
        self.pos += 2;
        match (self.peek(0), self.peek(1)) {
            (Some(b'!'), _) => {
                return Err(
                    self.error(start, "expected expression, found a document comment (//!)")
                );
            }
            (Some(b'/'), next) if next != Some(b'/') => {
                return Err(
                    self.error(start, "expected expression, found a document comment (///)")
                );
            }
            _ => {}
        }
        loop {
            match self.peek(0) {
                None => return Ok(()),
                Some(b'\n') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\r') if self.peek(1) == Some(b'\n') => {
                    self.pos += 2;
                    return Ok(());
                }
                Some(b) if b == b'\r' || forbidden_in_line(b) => {
                    return Err(self.error(
                        self.pos,
                        format!("comment contains invalid byte: {}", describe_byte(b)),
                    ));
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Scans a string or character literal body; `self.pos` is just after the opening quote.
    fn quoted(&mut self, start: usize, quote: u8) -> Result<(), ZonError> {
        let what = if quote == b'"' {
            "string literal"
        } else {
            "character literal"
        };
        loop {
            match self.peek(0) {
                None | Some(b'\n') => {
                    return Err(self.error(start, format!("unterminated {what}")));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek(0) {
                        None | Some(b'\n') => {
                            return Err(self.error(start, format!("unterminated {what}")));
                        }
                        Some(b) if forbidden_in_literal(b) => {
                            return Err(self.error(
                                self.pos,
                                format!("{what} contains invalid byte: {}", describe_byte(b)),
                            ));
                        }
                        Some(_) => self.pos += 1,
                    }
                }
                Some(b) if b == quote => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b) if forbidden_in_literal(b) => {
                    return Err(self.error(
                        self.pos,
                        format!("{what} contains invalid byte: {}", describe_byte(b)),
                    ));
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Scans the rest of a `\\` line; the newline is left for the whitespace skipper.
    fn multiline_line(&mut self) -> Result<(), ZonError> {
        loop {
            match self.peek(0) {
                None | Some(b'\n') => return Ok(()),
                Some(b'\r') if self.peek(1) == Some(b'\n') => return Ok(()),
                Some(b) if b == b'\r' || forbidden_in_line(b) => {
                    return Err(self.error(
                        self.pos,
                        format!(
                            "multiline string literal contains invalid byte: {}",
                            describe_byte(b)
                        ),
                    ));
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Scans a number literal as zig's tokenizer does: greedily, without validating it
    /// (`0xZZ` is one token; only code that needs the value parses it).
    fn number(&mut self) {
        #[derive(Clone, Copy)]
        enum State {
            Int,
            IntExponent,
            IntPeriod,
            Float,
            FloatExponent,
        }
        let mut state = State::Int;
        loop {
            state = match state {
                State::Int | State::Float => match self.peek(0) {
                    Some(b'.') if matches!(state, State::Int) => State::IntPeriod,
                    Some(b) if is_number_char(b) => {
                        self.pos += 1;
                        state
                    }
                    Some(b'e' | b'E' | b'p' | b'P') => match state {
                        State::Int => State::IntExponent,
                        _ => State::FloatExponent,
                    },
                    _ => return,
                },
                State::IntExponent | State::FloatExponent => {
                    self.pos += 1;
                    match (self.peek(0), state) {
                        (Some(b'-' | b'+'), _) => {
                            self.pos += 1;
                            State::Float
                        }
                        (_, State::IntExponent) => State::Int,
                        _ => State::Float,
                    }
                }
                State::IntPeriod => match self.peek(1) {
                    Some(b) if is_number_char(b) => {
                        self.pos += 2;
                        State::Float
                    }
                    Some(b'e' | b'E' | b'p' | b'P') => {
                        self.pos += 1;
                        State::FloatExponent
                    }
                    // `1..2` or `1.foo`: the period is a separate token.
                    _ => return,
                },
            };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parser (the ZON subset of std.zig.Ast.parse)
// ---------------------------------------------------------------------------------------------

struct Node<'a> {
    /// Byte offset of the node's main token (for an initializer, its `{`).
    pos: usize,
    kind: Kind<'a>,
}

enum Kind<'a> {
    /// The identifier token after the `.`, bare or `@"quoted"`.
    EnumLiteral(&'a str),
    /// The whole token, quotes included, escapes not yet decoded.
    StringLiteral(&'a str),
    MultilineString,
    CharLiteral,
    NumberLiteral(&'a str),
    Identifier(&'a str),
    /// A prefix operator applied to an operand (`-1`): never an integer literal for zig.
    PrefixOp,
    /// `.{ .a = x, ... }`; also `.{}`, which zig parses as an empty struct initializer.
    Struct(Vec<FieldInit<'a>>),
    /// `.{ x, y, ... }` with at least one element.
    Tuple(Vec<Node<'a>>),
}

struct FieldInit<'a> {
    /// The identifier token, bare or `@"quoted"`.
    name: &'a str,
    name_pos: usize,
    value: Node<'a>,
}

struct Parser<'a> {
    src: &'a str,
    tokenizer: Tokenizer<'a>,
    lookahead: VecDeque<Token>,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            src,
            tokenizer: Tokenizer::new(src),
            lookahead: VecDeque::new(),
            depth: 0,
        }
    }

    fn peek(&mut self, ahead: usize) -> Result<Token, ZonError> {
        while self.lookahead.len() <= ahead {
            let token = self.tokenizer.next()?;
            self.lookahead.push_back(token);
        }
        Ok(self.lookahead[ahead])
    }

    fn advance(&mut self) -> Result<Token, ZonError> {
        let token = self.peek(0)?;
        self.lookahead.pop_front();
        Ok(token)
    }

    fn text(&self, token: Token) -> &'a str {
        self.src.get(token.start..token.end).unwrap_or("")
    }

    fn describe(&self, token: Token) -> String {
        match token.tag {
            Tag::Eof => "EOF".to_string(),
            Tag::StringLiteral => "a string literal".to_string(),
            Tag::MultilineStringLine => "a multiline string literal".to_string(),
            Tag::CharLiteral => "a character literal".to_string(),
            Tag::NumberLiteral => "a number literal".to_string(),
            Tag::Identifier => format!("identifier '{}'", self.text(token)),
            _ => format!("'{}'", self.text(token)),
        }
    }

    fn error(&self, offset: usize, message: impl Into<String>) -> ZonError {
        error_at(self.src, offset, message)
    }

    fn root(mut self) -> Result<Node<'a>, ZonError> {
        let node = self.expr()?;
        let after = self.advance()?;
        if after.tag != Tag::Eof {
            return Err(self.error(
                after.start,
                format!("expected 'EOF', found {}", self.describe(after)),
            ));
        }
        Ok(node)
    }

    fn expr(&mut self) -> Result<Node<'a>, ZonError> {
        let first = self.peek(0)?;
        if first.tag != Tag::PrefixOp {
            return self.primary();
        }
        while self.peek(0)?.tag == Tag::PrefixOp {
            self.advance()?;
        }
        self.primary()?;
        Ok(Node {
            pos: first.start,
            kind: Kind::PrefixOp,
        })
    }

    fn primary(&mut self) -> Result<Node<'a>, ZonError> {
        let token = self.advance()?;
        let text = self.text(token);
        let kind = match token.tag {
            Tag::Period => {
                let next = self.peek(0)?;
                return match next.tag {
                    Tag::Identifier => {
                        self.advance()?;
                        Ok(Node {
                            pos: next.start,
                            kind: Kind::EnumLiteral(self.text(next)),
                        })
                    }
                    Tag::LBrace => {
                        self.advance()?;
                        self.init_list(next.start)
                    }
                    _ => Err(self.error(token.start, "expected expression, found '.'")),
                };
            }
            Tag::StringLiteral => Kind::StringLiteral(text),
            Tag::MultilineStringLine => {
                while self.peek(0)?.tag == Tag::MultilineStringLine {
                    self.advance()?;
                }
                Kind::MultilineString
            }
            Tag::CharLiteral => Kind::CharLiteral,
            Tag::NumberLiteral => Kind::NumberLiteral(text),
            Tag::Identifier => Kind::Identifier(text),
            Tag::Keyword | Tag::Builtin | Tag::Operator => {
                return Err(self.error(
                    token.start,
                    format!(
                        "unsupported expression starting with '{text}': only ZON values \
                         (anonymous structs and tuples, literals, enum literals) are accepted"
                    ),
                ));
            }
            _ => {
                return Err(self.error(
                    token.start,
                    format!("expected expression, found {}", self.describe(token)),
                ));
            }
        };
        Ok(Node {
            pos: token.start,
            kind,
        })
    }

    /// Whether the next tokens are `.name =`, which makes an initializer a struct.
    fn at_field_init(&mut self) -> Result<bool, ZonError> {
        Ok(self.peek(0)?.tag == Tag::Period
            && self.peek(1)?.tag == Tag::Identifier
            && self.peek(2)?.tag == Tag::Equal)
    }

    /// Parses the rest of `.{ ... }`; `lbrace` is the offset of the `{` just consumed.
    fn init_list(&mut self, lbrace: usize) -> Result<Node<'a>, ZonError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(
                lbrace,
                format!("initializers nested more than {MAX_DEPTH} deep"),
            ));
        }
        self.depth += 1;
        let kind = if self.at_field_init()? {
            Kind::Struct(self.struct_fields()?)
        } else {
            let elements = self.tuple_elements()?;
            if elements.is_empty() {
                Kind::Struct(Vec::new())
            } else {
                Kind::Tuple(elements)
            }
        };
        self.depth -= 1;
        Ok(Node { pos: lbrace, kind })
    }

    /// After one element or field: consumes `,` or `}`; returns true at the closing `}`.
    fn separator(&mut self) -> Result<bool, ZonError> {
        let token = self.advance()?;
        match token.tag {
            Tag::Comma if self.peek(0)?.tag == Tag::RBrace => {
                self.advance()?;
                Ok(true)
            }
            Tag::Comma => Ok(false),
            Tag::RBrace => Ok(true),
            _ => Err(self.error(
                token.start,
                format!(
                    "expected ',' or '}}' after initializer, found {}",
                    self.describe(token)
                ),
            )),
        }
    }

    fn struct_fields(&mut self) -> Result<Vec<FieldInit<'a>>, ZonError> {
        let mut fields = Vec::new();
        loop {
            if !self.at_field_init()? {
                let token = self.peek(0)?;
                return Err(self.error(
                    token.start,
                    format!(
                        "expected field initializer '.name = value', found {}",
                        self.describe(token)
                    ),
                ));
            }
            self.advance()?;
            let name = self.advance()?;
            self.advance()?;
            let value = self.expr()?;
            fields.push(FieldInit {
                name: self.text(name),
                name_pos: name.start,
                value,
            });
            if self.separator()? {
                return Ok(fields);
            }
        }
    }

    fn tuple_elements(&mut self) -> Result<Vec<Node<'a>>, ZonError> {
        let mut elements = Vec::new();
        if self.peek(0)?.tag == Tag::RBrace {
            self.advance()?;
            return Ok(elements);
        }
        loop {
            elements.push(self.expr()?);
            if self.separator()? {
                return Ok(elements);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Literal decoding
// ---------------------------------------------------------------------------------------------

/// Decodes a string literal token (quotes included) like `std.zig.string_literal.parseWrite`.
fn decode_string_literal(raw: &str) -> Result<Vec<u8>, String> {
    let bytes = raw.as_bytes();
    let body = bytes
        .get(1..bytes.len().saturating_sub(1))
        .ok_or_else(|| "malformed string literal".to_string())?;
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let escape = body.get(i + 1).copied().unwrap_or(b'"');
        i += 2;
        match escape {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'\\' | b'\'' | b'"' => out.push(escape),
            b'x' => {
                let mut value = 0u8;
                for _ in 0..2 {
                    let c = body.get(i).copied().unwrap_or(b'"');
                    let digit = char::from(c)
                        .to_digit(16)
                        .ok_or_else(|| format!("expected hex digit, found {}", describe_byte(c)))?;
                    value = value * 16 + digit as u8;
                    i += 1;
                }
                out.push(value);
            }
            b'u' => {
                let c = body.get(i).copied().unwrap_or(b'"');
                if c != b'{' {
                    return Err(format!("expected '{{', found {}", describe_byte(c)));
                }
                i += 1;
                if body.get(i) == Some(&b'}') {
                    return Err("empty unicode escape sequence".to_string());
                }
                let mut value = 0u32;
                loop {
                    let c = body.get(i).copied().unwrap_or(b'"');
                    i += 1;
                    if c == b'}' {
                        break;
                    }
                    let digit = char::from(c).to_digit(16).ok_or_else(|| {
                        format!("expected hex digit or '}}', found {}", describe_byte(c))
                    })?;
                    value = value * 16 + digit;
                    if value > 0x10_ffff {
                        return Err(
                            "unicode escape does not correspond to a valid unicode scalar value"
                                .to_string(),
                        );
                    }
                }
                let ch = char::from_u32(value).ok_or_else(|| {
                    "unicode escape does not correspond to a valid unicode scalar value".to_string()
                })?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            other => {
                return Err(format!(
                    "invalid escape character: {}",
                    describe_byte(other)
                ));
            }
        }
    }
    Ok(out)
}

/// The bytes an identifier token names: itself, or the decoded string of `@"..."`.
fn identifier_bytes(raw: &str) -> Result<Vec<u8>, String> {
    match raw.strip_prefix('@') {
        Some(quoted) => decode_string_literal(quoted),
        None => Ok(raw.as_bytes().to_vec()),
    }
}

/// What `std.zig.parseNumberLiteral` makes of a number token.
#[derive(Debug, PartialEq)]
enum NumberLiteral {
    Int(u64),
    BigInt,
    Float,
    Failure(&'static str),
}

/// A port of `std.zig.parseNumberLiteral` (valid for any input).
fn parse_number_literal(bytes: &[u8]) -> NumberLiteral {
    use NumberLiteral::Failure;
    let mut i = 0;
    let mut base: u8 = 10;
    if bytes.len() >= 2 && bytes[0] == b'0' {
        match bytes[1] {
            b'b' => (base, i) = (2, 2),
            b'o' => (base, i) = (8, 2),
            b'x' => (base, i) = (16, 2),
            b'B' | b'O' | b'X' => return Failure("upper_case_base"),
            b'.' | b'e' | b'E' => {}
            _ => return Failure("leading_zero"),
        }
    }
    if bytes.len() == 2 && base != 10 {
        return Failure("digit_after_base");
    }
    let mut x: u64 = 0;
    let mut overflow = false;
    let mut underscore = false;
    let mut period = false;
    let mut special: u8 = 0;
    let mut exponent = false;
    let mut float = false;
    while let Some(&c) = bytes.get(i) {
        let index = i;
        i += 1;
        match c {
            b'_' => {
                if (index == 2 && base != 10) || special != 0 {
                    return Failure("invalid_underscore_after_special");
                }
                if underscore {
                    return Failure("repeated_underscore");
                }
                underscore = true;
                continue;
            }
            b'e' | b'E' | b'p' | b'P'
                if (base == 10 && matches!(c, b'e' | b'E'))
                    || (base == 16 && matches!(c, b'p' | b'P')) =>
            {
                if base == 16 && index == 2 {
                    return Failure("digit_after_base");
                }
                float = true;
                if exponent {
                    return Failure("duplicate_exponent");
                }
                if underscore {
                    return Failure("exponent_after_underscore");
                }
                special = c;
                exponent = true;
                continue;
            }
            b'.' => {
                if exponent
                    && index
                        .checked_sub(2)
                        .and_then(|d| bytes.get(d))
                        .is_some_and(u8::is_ascii_digit)
                {
                    return Failure("period_after_exponent");
                }
                float = true;
                if base != 10 && base != 16 {
                    return Failure("invalid_float_base");
                }
                if period {
                    return Failure("duplicate_period");
                }
                period = true;
                if underscore {
                    return Failure("special_after_underscore");
                }
                special = c;
                continue;
            }
            b'+' | b'-' => {
                match special {
                    b'p' | b'P' => {}
                    b'e' | b'E' if base == 10 => {}
                    _ => return Failure("invalid_exponent_sign"),
                }
                special = c;
                continue;
            }
            _ => {}
        }
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            b'a'..=b'z' => c - b'a' + 10,
            _ => return Failure("invalid_character"),
        };
        if digit >= base {
            return Failure("invalid_digit");
        }
        if exponent && digit >= 10 {
            return Failure("invalid_digit_exponent");
        }
        underscore = false;
        special = 0;
        if float {
            continue;
        }
        if x != 0 {
            let (product, wrapped) = x.overflowing_mul(u64::from(base));
            overflow |= wrapped;
            x = product;
        }
        let (sum, wrapped) = x.overflowing_add(u64::from(digit));
        overflow |= wrapped;
        x = sum;
    }
    if underscore {
        return Failure("trailing_underscore");
    }
    if special != 0 {
        return Failure("trailing_special");
    }
    if float {
        NumberLiteral::Float
    } else if overflow {
        NumberLiteral::BigInt
    } else {
        NumberLiteral::Int(x)
    }
}

// ---------------------------------------------------------------------------------------------
// Value checks
// ---------------------------------------------------------------------------------------------

const INVALID_VERSION: &str = "InvalidVersion";

/// `std.SemanticVersion.parse`: strict SemVer 2.0; the error is zig's error name.
fn check_semver(text: &str) -> Result<(), &'static str> {
    let extra_index = text.find(['-', '+']);
    let (required, extra) = text.split_at(extra_index.unwrap_or(text.len()));
    let mut numbers = required.split('.');
    parse_version_number(numbers.next().unwrap_or(""))?;
    parse_version_number(numbers.next().ok_or(INVALID_VERSION)?)?;
    parse_version_number(numbers.next().ok_or(INVALID_VERSION)?)?;
    if numbers.next().is_some() {
        return Err(INVALID_VERSION);
    }
    let (pre, build) = if let Some(rest) = extra.strip_prefix('-') {
        match rest.split_once('+') {
            Some((pre, build)) => (Some(pre), Some(build)),
            None => (Some(rest), None),
        }
    } else {
        (None, extra.strip_prefix('+'))
    };
    let valid_identifier =
        |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    for id in pre.into_iter().flat_map(|pre| pre.split('.')) {
        if !valid_identifier(id) {
            return Err(INVALID_VERSION);
        }
        if id.bytes().all(|b| b.is_ascii_digit()) {
            parse_version_number(id)?;
        }
    }
    for id in build.into_iter().flat_map(|build| build.split('.')) {
        if !valid_identifier(id) {
            return Err(INVALID_VERSION);
        }
    }
    Ok(())
}

/// One numeric SemVer part: no leading zero, then `std.fmt.parseUnsigned(usize, _, 10)`,
/// which skips `_` separators that are neither first nor last.
fn parse_version_number(text: &str) -> Result<u64, &'static str> {
    let bytes = text.as_bytes();
    if bytes.len() > 1 && bytes[0] == b'0' {
        return Err(INVALID_VERSION);
    }
    if bytes.first().is_none_or(|&b| b == b'_') || bytes.last() == Some(&b'_') {
        return Err(INVALID_VERSION);
    }
    let mut value: u64 = 0;
    for &b in bytes {
        if b == b'_' {
            continue;
        }
        if !b.is_ascii_digit() {
            return Err(INVALID_VERSION);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or("Overflow")?;
    }
    Ok(value)
}

/// `std.zig.isValidId`: a bare identifier that is not a keyword.
fn is_valid_id(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.first().is_some_and(|&b| is_ident_start(b))
        && bytes.iter().all(|&b| is_ident_char(b))
        && !is_keyword(name)
}

/// `Package.Hash.validate` (zig 0.16+); old-style manifests may also use a legacy multihash.
fn check_dependency_hash(hash: &str, old_style: bool) -> Result<(), &'static str> {
    let bytes = hash.as_bytes();
    let legacy = bytes.len() == 68
        && bytes.starts_with(b"1220")
        && bytes[4..]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if old_style && legacy {
        return Ok(());
    }
    if bytes.len() > MAX_HASH_LEN {
        return Err("invalid hash: long");
    }
    if bytes.len() < HASHPLUS_LEN {
        return Err("invalid hash: short");
    }
    let dashes = bytes[..bytes.len() - HASHPLUS_LEN]
        .iter()
        .filter(|&&b| b == b'-')
        .count();
    if dashes < 2 {
        return Err("invalid hash: incomplete");
    }
    Ok(())
}

/// `std.fs.path.resolvePosix` for a single path: removes `.`, empty components and trailing
/// slashes, applies `..` (keeping leading ones of a relative path), and gives `.` for nothing.
fn resolve_posix(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut components: Vec<&str> = Vec::new();
    let mut parents = 0usize;
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if components.pop().is_none() && !absolute {
                    parents += 1;
                }
            }
            _ => components.push(component),
        }
    }
    let mut parts = vec![".."; parents];
    parts.extend(components);
    match (absolute, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".to_string(),
        (false, false) => parts.join("/"),
    }
}

const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32/ISO-HDLC (zlib's CRC, zig's `std.hash.Crc32`): the fingerprint's high 32 bits.
fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| {
        CRC32_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8)
    })
}

// ---------------------------------------------------------------------------------------------
// Manifest rules (Package.Manifest.parse)
// ---------------------------------------------------------------------------------------------

struct Checker<'a> {
    src: &'a str,
}

/// The `.name` field as given.
struct Name {
    value: String,
    as_string: bool,
    pos: usize,
}

impl Checker<'_> {
    fn error(&self, offset: usize, message: impl Into<String>) -> ZonError {
        error_at(self.src, offset, message)
    }

    fn field_name(&self, field: &FieldInit<'_>) -> Result<Vec<u8>, ZonError> {
        identifier_bytes(field.name).map_err(|message| self.error(field.name_pos, message))
    }

    fn utf8(&self, bytes: Vec<u8>, pos: usize) -> Result<String, ZonError> {
        String::from_utf8(bytes).map_err(|_| {
            self.error(
                pos,
                "escapes produce bytes that are not valid UTF-8 (not supported)",
            )
        })
    }

    fn string(&self, node: &Node<'_>) -> Result<String, ZonError> {
        let Kind::StringLiteral(raw) = node.kind else {
            return Err(self.error(node.pos, "expected string literal"));
        };
        let bytes = decode_string_literal(raw).map_err(|message| self.error(node.pos, message))?;
        self.utf8(bytes, node.pos)
    }

    fn manifest(&self, root: &Node<'_>) -> Result<Manifest, ZonError> {
        let Kind::Struct(fields) = &root.kind else {
            return Err(self.error(root.pos, "expected top level expression to be a struct"));
        };
        let mut name: Option<Name> = None;
        let mut version = None;
        let mut fingerprint = None;
        let mut minimum_zig_version = None;
        let mut dependencies = Dependencies::default();
        let mut paths: Option<Vec<String>> = None;
        let mut seen_paths = HashSet::new();
        for field in fields {
            let value = &field.value;
            match self.field_name(field)?.as_slice() {
                b"dependencies" => self.dependencies(value, &mut dependencies)?,
                b"paths" => {
                    self.paths(value, paths.get_or_insert_with(Vec::new), &mut seen_paths)?;
                }
                b"name" => name = Some(self.name(value)?),
                b"fingerprint" => fingerprint = Some(self.fingerprint(value)?),
                b"version" => {
                    let text = self.string(value)?;
                    if text.len() > MAX_VERSION_LEN {
                        return Err(self.error(
                            value.pos,
                            format!(
                                "version string length {} exceeds maximum of {MAX_VERSION_LEN}",
                                text.len()
                            ),
                        ));
                    }
                    self.semver(&text, value.pos)?;
                    version = Some(text);
                }
                b"minimum_zig_version" => {
                    let text = self.string(value)?;
                    self.semver(&text, value.pos)?;
                    minimum_zig_version = Some(text);
                }
                // Unknown fields are ignored so that newer zig versions can add fields.
                _ => {}
            }
        }

        let Some(name) = name else {
            return Err(self.error(root.pos, "missing top-level 'name' field"));
        };
        let checksum = crc32(name.value.as_bytes());
        let old_style = match fingerprint {
            Some(_) if name.as_string => {
                return Err(self.error(
                    name.pos,
                    "expected enum literal (a string name is only accepted in old-style \
                     manifests, which have no fingerprint)",
                ));
            }
            Some(fingerprint) => {
                let id = fingerprint as u32;
                if id == 0 || id == u32::MAX || (fingerprint >> 32) as u32 != checksum {
                    return Err(self.error(
                        root.pos,
                        format!(
                            "invalid fingerprint: 0x{fingerprint:x}; its high 32 bits must be \
                             0x{checksum:08x} (the CRC-32 of the name) and its low 32 bits, the \
                             package id, must not be 0 or 0xffffffff"
                        ),
                    ));
                }
                false
            }
            None if name.as_string => true,
            None => {
                return Err(self.error(
                    root.pos,
                    format!(
                        "missing top-level 'fingerprint' field; its high 32 bits must be \
                         0x{checksum:08x} and its low 32 bits a random package id"
                    ),
                ));
            }
        };
        let Some(version) = version else {
            return Err(self.error(root.pos, "missing top-level 'version' field"));
        };
        for (dependency, hash_pos) in &dependencies.list {
            if let Some(hash) = &dependency.hash {
                check_dependency_hash(hash, old_style)
                    .map_err(|message| self.error(*hash_pos, message))?;
            }
        }
        Ok(Manifest {
            name: name.value,
            version,
            fingerprint,
            minimum_zig_version,
            dependencies: dependencies.list.into_iter().map(|(dep, _)| dep).collect(),
            paths,
            old_style,
        })
    }

    fn semver(&self, text: &str, pos: usize) -> Result<(), ZonError> {
        check_semver(text)
            .map_err(|why| self.error(pos, format!("unable to parse semantic version: {why}")))
    }

    fn name(&self, node: &Node<'_>) -> Result<Name, ZonError> {
        let (value, as_string) = match node.kind {
            Kind::EnumLiteral(raw) => {
                if raw.starts_with('@') {
                    return Err(self.error(node.pos, "name must be a valid bare zig identifier"));
                }
                (raw.to_string(), false)
            }
            // Old-style (zig 0.12/0.13) string name.
            Kind::StringLiteral(_) => {
                let value = self.string(node)?;
                if !is_valid_id(&value) {
                    return Err(self.error(
                        node.pos,
                        "name must be a valid bare zig identifier (hint: switch from string to \
                         enum literal)",
                    ));
                }
                (value, true)
            }
            _ => return Err(self.error(node.pos, "expected enum literal")),
        };
        if value.len() > MAX_NAME_LEN {
            return Err(self.error(
                node.pos,
                format!("name '{value}' exceeds max length of {MAX_NAME_LEN}"),
            ));
        }
        Ok(Name {
            value,
            as_string,
            pos: node.pos,
        })
    }

    fn fingerprint(&self, node: &Node<'_>) -> Result<u64, ZonError> {
        let Kind::NumberLiteral(raw) = node.kind else {
            return Err(self.error(node.pos, "expected integer literal"));
        };
        match parse_number_literal(raw.as_bytes()) {
            NumberLiteral::Int(value) => Ok(value),
            NumberLiteral::BigInt => {
                Err(self.error(node.pos, "expected u64 integer literal, found big_int"))
            }
            NumberLiteral::Float => {
                Err(self.error(node.pos, "expected u64 integer literal, found float"))
            }
            NumberLiteral::Failure(why) => {
                Err(self.error(node.pos, format!("bad integer literal: {why}")))
            }
        }
    }

    fn paths(
        &self,
        node: &Node<'_>,
        out: &mut Vec<String>,
        seen: &mut HashSet<String>,
    ) -> Result<(), ZonError> {
        let Kind::Tuple(elements) = &node.kind else {
            return Err(self.error(
                node.pos,
                "expected paths expression to be a list of strings",
            ));
        };
        for element in elements {
            let path = resolve_posix(&self.string(element)?);
            if seen.insert(path.clone()) {
                out.push(path);
            }
        }
        Ok(())
    }

    fn dependencies(&self, node: &Node<'_>, out: &mut Dependencies) -> Result<(), ZonError> {
        let Kind::Struct(fields) = &node.kind else {
            return Err(self.error(node.pos, "expected dependencies expression to be a struct"));
        };
        for field in fields {
            let name = self.utf8(self.field_name(field)?, field.name_pos)?;
            let entry = self.dependency(name, &field.value)?;
            out.insert(entry);
        }
        Ok(())
    }

    fn dependency(&self, name: String, node: &Node<'_>) -> Result<(Dependency, usize), ZonError> {
        let Kind::Struct(fields) = &node.kind else {
            return Err(self.error(node.pos, "expected dependency expression to be a struct"));
        };
        let mut dependency = Dependency {
            name,
            url: None,
            path: None,
            hash: None,
            lazy: false,
        };
        let mut hash_pos = node.pos;
        for field in fields {
            let value = &field.value;
            match self.field_name(field)?.as_slice() {
                key @ (b"url" | b"path") => {
                    if dependency.url.is_some() || dependency.path.is_some() {
                        return Err(self.error(
                            value.pos,
                            "dependency should specify only one of 'url' and 'path' fields.",
                        ));
                    }
                    let location = Some(self.string(value)?);
                    if key == b"url" {
                        dependency.url = location;
                    } else {
                        dependency.path = location;
                    }
                }
                b"hash" => {
                    dependency.hash = Some(self.string(value)?);
                    hash_pos = value.pos;
                }
                b"lazy" => {
                    dependency.lazy = match value.kind {
                        Kind::Identifier("true") => true,
                        Kind::Identifier("false") => false,
                        Kind::Identifier(_) => {
                            return Err(self.error(value.pos, "expected boolean"));
                        }
                        _ => return Err(self.error(value.pos, "expected identifier")),
                    };
                }
                _ => {}
            }
        }
        if dependency.url.is_none() && dependency.path.is_none() {
            return Err(self.error(
                node.pos,
                "dependency requires location field, one of 'url' or 'path'.",
            ));
        }
        Ok((dependency, hash_pos))
    }
}

/// Dependencies in first-seen order; a repeated name replaces the earlier value in place.
#[derive(Default)]
struct Dependencies {
    /// Each dependency with the offset of its `.hash` value (for deferred validation).
    list: Vec<(Dependency, usize)>,
    index: HashMap<String, usize>,
}

impl Dependencies {
    fn insert(&mut self, entry: (Dependency, usize)) {
        match self.index.get(&entry.0.name) {
            Some(&i) => {
                if let Some(slot) = self.list.get_mut(i) {
                    *slot = entry;
                }
            }
            None => {
                self.index.insert(entry.0.name.clone(), self.list.len());
                self.list.push(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const VECTORS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zig-vectors");

    /// A valid manifest for the package `.a` with `extra` appended inside the top-level struct.
    fn with_fields(extra: &str) -> String {
        format!(
            ".{{ .name = .a, .version = \"1.0.0\", .fingerprint = 0xe8b7be4300001234, {extra} }}"
        )
    }

    fn accepts(text: &str) -> bool {
        parse_manifest(text).is_ok()
    }

    #[test]
    fn zig_0_17_1_manifest_cases() {
        let path = format!("{VECTORS_DIR}/zon-manifest-cases.json");
        let json = std::fs::read_to_string(&path).expect("read zon-manifest-cases.json");
        let doc: serde_json::Value = serde_json::from_str(&json).expect("parse the cases");
        let cases = doc["cases"].as_array().expect("a cases array");
        let (mut accepted, mut rejected) = (0, 0);
        for case in cases {
            let name = case["case"].as_str().expect("case name");
            let text = case["build_zig_zon"].as_str().expect("build_zig_zon");
            let zig_accepts = case["zig_0_17_1_accepts"].as_bool().expect("verdict");
            let ours = parse_manifest(text);
            assert_eq!(
                ours.is_ok(),
                zig_accepts,
                "{name}: zig said {:?}, we said {ours:?}",
                case["error"]
            );
            if let Ok(manifest) = ours {
                assert!(!manifest.old_style, "{name}");
                accepted += 1;
            } else {
                rejected += 1;
            }
        }
        assert_eq!(accepted + rejected, cases.len());
        assert!(accepted > 0 && rejected > 0);
        eprintln!("{accepted} accepted and {rejected} rejected, as zig 0.17.1 does");
    }

    #[test]
    fn manifests_inside_the_vector_archives() {
        let path = format!("{VECTORS_DIR}/vectors.json");
        let json = std::fs::read_to_string(&path).expect("read vectors.json");
        let vectors: Vec<serde_json::Value> = serde_json::from_str(&json).expect("parse vectors");
        let mut checked = 0;
        for vector in &vectors {
            let file = vector["file"].as_str().expect("file");
            if !file.ends_with(".tar.gz") {
                continue;
            }
            let archive = std::fs::File::open(format!("{VECTORS_DIR}/{file}")).expect("open");
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(archive));
            // The package's own manifest is the shallowest build.zig.zon.
            let mut best: Option<(usize, String)> = None;
            for entry in archive.entries().expect("entries") {
                let mut entry = entry.expect("entry");
                let entry_path = entry.path().expect("path").to_string_lossy().into_owned();
                let entry_path = entry_path.trim_start_matches("./").to_string();
                if entry_path.rsplit('/').next() != Some("build.zig.zon") {
                    continue;
                }
                let depth = entry_path.matches('/').count();
                if best.as_ref().is_none_or(|(d, _)| depth < *d) {
                    let mut text = String::new();
                    entry.read_to_string(&mut text).expect("read manifest");
                    best = Some((depth, text));
                }
            }
            let expected_name = vector["name"].as_str();
            let expect_error = vector["expect_error"].as_str().unwrap_or("");
            let Some((_, text)) = best else {
                assert!(expected_name.is_none(), "{file}: no build.zig.zon");
                continue;
            };
            let parsed = parse_manifest(&text);
            if expect_error.starts_with("invalid fingerprint") {
                assert!(parsed.is_err(), "{file}");
            } else {
                let manifest = parsed.unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(Some(manifest.name.as_str()), expected_name, "{file}");
                assert_eq!(
                    Some(manifest.version.as_str()),
                    vector["version"].as_str(),
                    "{file}"
                );
                assert_eq!(
                    Some(u64::from(manifest.package_id())),
                    vector["package_id"].as_u64(),
                    "{file}"
                );
                // zig 0.16+ refuse the old-style one with "expected enum literal".
                assert_eq!(manifest.old_style, expect_error == "expected enum literal");
                assert_eq!(
                    manifest.paths.is_none(),
                    expect_error.contains("missing top-level 'paths'"),
                    "{file}"
                );
            }
            checked += 1;
        }
        assert!(checked >= 8, "only {checked} archives checked");
    }

    #[test]
    fn fingerprint_checksum_is_the_crc32_of_the_name() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xe8b7_be43);

        let manifest = parse_manifest(&with_fields(".paths = .{\"\"}")).expect("valid");
        assert_eq!(manifest.fingerprint, Some(0xe8b7_be43_0000_1234));
        assert_eq!(manifest.package_id(), 0x1234);

        let good =
            |fp: &str| format!(".{{ .name = .pkg, .version = \"1.0.0\", .fingerprint = {fp} }}");
        assert!(accepts(&good("0xfe6ff7d5_00000001")));
        assert!(accepts(&good("0xFE6FF7D5DEADBEEF")));
        assert!(accepts(&good(&format!("0o{:o}", 0xfe6f_f7d5_0000_0001u64))));
        assert!(accepts(&good(&format!("0b{:b}", 0xfe6f_f7d5_0000_0001u64))));
        assert!(accepts(&good(&format!("{}", 0xfe6f_f7d5_0000_0001u64))));
        // Wrong checksum, reserved ids, and what is not a plain u64 literal.
        assert!(!accepts(&good("0xfe6ff7d600000001")));
        assert!(!accepts(&good("0xfe6ff7d500000000")));
        assert!(!accepts(&good("0xfe6ff7d5ffffffff")));
        assert!(!accepts(&good("-0xfe6ff7d500000001")));
        assert!(!accepts(&good("0Xfe6ff7d500000001")));
        assert!(!accepts(&good("0xfe6ff7d5_00000001_")));
        assert!(!accepts(&good("0x1fe6ff7d500000001")));
        assert!(!accepts(&good("1.5")));
        assert!(!accepts(&good("0xfe6ff7d500000001.0")));
        assert!(!accepts(&good("01")));
        // A string name needs no fingerprint (old style), an enum-literal name does.
        assert!(!accepts(".{ .name = .pkg, .version = \"1.0.0\" }"));
    }

    #[test]
    fn number_literals_follow_zig() {
        use NumberLiteral::*;
        assert_eq!(parse_number_literal(b"0"), Int(0));
        assert_eq!(parse_number_literal(b"1_000"), Int(1000));
        assert_eq!(parse_number_literal(b"0xff_ff"), Int(0xffff));
        assert_eq!(parse_number_literal(b"0o777"), Int(0o777));
        assert_eq!(parse_number_literal(b"0b1010"), Int(10));
        assert_eq!(parse_number_literal(b"18446744073709551615"), Int(u64::MAX));
        assert_eq!(parse_number_literal(b"18446744073709551616"), BigInt);
        assert_eq!(parse_number_literal(b"1e3"), Float);
        assert_eq!(parse_number_literal(b"0x1p-2"), Float);
        assert_eq!(parse_number_literal(b"0x"), Failure("digit_after_base"));
        assert_eq!(
            parse_number_literal(b"0x_1"),
            Failure("invalid_underscore_after_special")
        );
        assert_eq!(
            parse_number_literal(b"1__0"),
            Failure("repeated_underscore")
        );
        assert_eq!(parse_number_literal(b"1_"), Failure("trailing_underscore"));
        assert_eq!(parse_number_literal(b"0b12"), Failure("invalid_digit"));
        assert_eq!(parse_number_literal(b"00"), Failure("leading_zero"));
        assert_eq!(parse_number_literal(b"1e"), Failure("trailing_special"));
    }

    #[test]
    fn paths_are_normalised_like_std_fs_path_resolve() {
        let manifest = parse_manifest(&with_fields(
            r#".paths = .{ "./a/", "", "src/", "./docs/../LICENSE", "a//b/./c", "../up", "x/../../y", "/abs/./p/..", "a" }"#,
        ))
        .expect("valid");
        assert_eq!(
            manifest.paths.expect("paths"),
            ["a", ".", "src", "LICENSE", "a/b/c", "../up", "../y", "/abs"]
        );
        assert_eq!(resolve_posix("a/.."), ".");
        assert_eq!(resolve_posix("../.."), "../..");
        assert_eq!(resolve_posix("/.."), "/");

        // Repeated `.paths` fields accumulate, as in zig (both go into one map).
        let manifest = parse_manifest(&with_fields(
            r#".paths = .{"src"}, .paths = .{"build.zig", "src"}"#,
        ))
        .expect("valid");
        assert_eq!(manifest.paths.expect("paths"), ["src", "build.zig"]);

        // Absent is allowed here (a dependency fetch); `.{}` and a bare string are not.
        assert_eq!(parse_manifest(&with_fields("")).expect("valid").paths, None);
        assert!(!accepts(&with_fields(".paths = .{}")));
        assert!(!accepts(&with_fields(".paths = \"src\"")));
        assert!(!accepts(&with_fields(".paths = .{ .a = \"src\" }")));
        assert!(!accepts(&with_fields(".paths = .{ \\\\src\n }")));
    }

    #[test]
    fn errors_carry_line_and_column() {
        let text = ".{\n    .name = .a,\n    .version = \"1.0\",\n}\n";
        let err = parse_manifest(text).expect_err("bad version");
        assert_eq!((err.line, err.column), (3, 16));
        assert_eq!(
            err.message,
            "unable to parse semantic version: InvalidVersion"
        );
        assert_eq!(
            err.to_string(),
            "build.zig.zon:3:16: unable to parse semantic version: InvalidVersion"
        );

        let err = parse_manifest(".{\n  // a\tcomment\n}").expect_err("tab in comment");
        assert_eq!((err.line, err.column), (2, 7));
        assert!(err.message.contains("'\\t'"), "{}", err.message);

        // Like zig, columns count bytes, including a leading BOM.
        let err = parse_manifest("\u{feff}.{ .name = .fn }").expect_err("keyword");
        assert_eq!((err.line, err.column), (1, 15));
        assert_eq!(err.message, "expected expression, found '.'");

        let err = parse_manifest(".{ .name = .a, .version = \"1.0.0\" } .{}").expect_err("garbage");
        assert_eq!((err.line, err.column), (1, 37));

        // Semantic errors about the whole manifest point at its `{`.
        let err = parse_manifest("\n\n  .{ .version = \"1.0.0\" }").expect_err("no name");
        assert_eq!((err.line, err.column), (3, 4));
        assert_eq!(err.message, "missing top-level 'name' field");
    }

    #[test]
    fn old_style_manifests_are_accepted_and_flagged() {
        let legacy_hash = format!("1220{}", "ab".repeat(32));
        let text = format!(
            r#".{{
    .name = "legacy",
    .version = "0.1.0",
    .dependencies = .{{ .dep = .{{ .url = "https://e/x.tar.gz", .hash = "{legacy_hash}" }} }},
    .paths = .{{""}},
}}"#
        );
        let manifest = parse_manifest(&text).expect("old style");
        assert!(manifest.old_style);
        assert_eq!(manifest.name, "legacy");
        assert_eq!(manifest.fingerprint, None);
        assert_eq!(manifest.package_id(), 0);
        assert_eq!(
            manifest.dependencies[0].hash.as_deref(),
            Some(legacy_hash.as_str())
        );

        // The old name must be a valid bare identifier (not a keyword), at most 32 bytes.
        let named = |name: &str| format!(".{{ .name = \"{name}\", .version = \"0.1.0\" }}");
        assert!(accepts(&named("legacy_2")));
        assert!(!accepts(&named("my-pkg")));
        assert!(!accepts(&named("2pkg")));
        assert!(!accepts(&named("fn")));
        assert!(!accepts(&named("")));
        assert!(!accepts(&named(&"n".repeat(33))));
        // A string name together with a fingerprint is neither style.
        assert!(!accepts(
            ".{ .name = \"legacy\", .version = \"0.1.0\", .fingerprint = 0x17cb09ee00000001 }"
        ));
        // New-style manifests may not use the legacy hash (zig 0.16+: "invalid hash: incomplete").
        let err = parse_manifest(&with_fields(&format!(
            ".dependencies = .{{ .dep = .{{ .url = \"u\", .hash = \"{legacy_hash}\" }} }}"
        )))
        .expect_err("legacy hash in a new-style manifest");
        assert_eq!(err.message, "invalid hash: incomplete");
    }

    #[test]
    fn string_escapes_are_decoded_and_checked() {
        let manifest = parse_manifest(&with_fields(
            r#".paths = .{ "s\x72c", "\u{1F600}\u{00041}", "q\"\\\t\n'" }"#,
        ))
        .expect("valid escapes");
        assert_eq!(
            manifest.paths.expect("paths"),
            ["src", "\u{1F600}A", "q\"\\\t\n'"]
        );

        for bad in [
            r#""\q""#,
            r#""\x4""#,
            r#""\u{}""#,
            r#""\u{D800}""#,
            r#""\u{110000}""#,
            r#""\u41""#,
            r#""\xff""#,
        ] {
            assert!(
                !accepts(&with_fields(&format!(".paths = .{{ {bad} }}"))),
                "{bad}"
            );
            // In an unknown field zig's parser does not decode the string.
            assert!(accepts(&with_fields(&format!(".other = {bad}"))), "{bad}");
        }
        // Raw control characters are never allowed inside a literal.
        assert!(!accepts(&with_fields(".other = \"a\tb\"")));
        assert!(!accepts(&with_fields(".other = 'a\tb'")));

        // Field names may be quoted identifiers; at the top level their escapes are checked.
        assert!(accepts(
            r#".{ .@"name" = .a, .@"vers\x69on" = "1.0.0", .fingerprint = 0xe8b7be4300001234 }"#
        ));
        assert!(!accepts(&with_fields(r#".@"\q" = 1"#)));
        assert!(accepts(&with_fields(r#".other = .{ .@"\q" = 1 }"#)));
        // The name itself must be a bare identifier.
        assert!(!accepts(
            r#".{ .name = .@"a", .version = "1.0.0", .fingerprint = 0xe8b7be4300001234 }"#
        ));
    }

    #[test]
    fn comments_whitespace_and_syntax() {
        let text = "\u{feff}// leading comment\r\n.{\r\n\t.name = .a, // trailing\r\n\t.version =\n \"1.0.0\",\n.fingerprint = 0xe8b7be4300001234,\r\n\r\n//// four slashes are a plain comment\n}\n// end";
        assert!(accepts(text));
        assert!(accepts(&with_fields("// ünïcödé comment\n")));
        // Spaces between `.` and `{` or the field name are fine: they are separate tokens.
        assert!(accepts(
            ". { . name = . a, .version = \"1.0.0\", .fingerprint = 0xe8b7be4300001234, }"
        ));

        assert!(!accepts(&with_fields("/// a doc comment\n")));
        assert!(!accepts(&with_fields("//! a doc comment\n")));
        assert!(!accepts(&with_fields("// lone\r carriage return\n")));
        assert!(!accepts(&with_fields(".other = \\\\a\tb\n")));
        assert!(!accepts(&with_fields("# not zig")));
        assert!(!accepts(&with_fields(".other = 1 .other2 = 2")));
        assert!(!accepts(&with_fields(".other = .{ .a = 1, 2 }")));
        assert!(!accepts(&with_fields(".other = .{ 1, .a = 2 }")));
        assert!(!accepts(&with_fields(".other = .{ 1,, }")));
        assert!(!accepts(&with_fields(".other = .{ 1 2 }")));
        assert!(!accepts(&with_fields(".other = ")));
        assert!(!accepts(".{ .name = .a"));
        assert!(!accepts(""));
        assert!(!accepts(".{ 1, 2 }"));
        assert!(!accepts("\"manifest\""));

        // Unknown fields: any ZON value, unvalidated literals, identifiers, prefix operators.
        assert!(accepts(&with_fields(
            ".x = .{ 1, -2.5e3, 0x1p-2, 'c', '', null, true, .enumlit, undefined, foo, -%1, !true, ~0, &.{}, .{ .nested = \"s\" } },\n .y = 0xZZ, .z = 01, .w = \\\\multi\n\\\\line\n, .v = .{}"
        )));
        // Valid Zig but not ZON: rejected (a known limit; zig's parser would accept these).
        assert!(!accepts(&with_fields(".x = 1 + 2")));
        assert!(!accepts(&with_fields(".x = @import(\"std\")")));
        assert!(!accepts(&with_fields(".x = .a.b")));

        let deep = format!(
            "{}{}",
            ".{".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(!accepts(&with_fields(&format!(".x = {deep}"))));
        let ok = format!(
            "{}{}",
            ".{".repeat(MAX_DEPTH - 1),
            "}".repeat(MAX_DEPTH - 1)
        );
        assert!(accepts(&with_fields(&format!(".x = {ok}"))));
    }

    #[test]
    fn versions_are_strict_semver() {
        for good in [
            "0.0.0",
            "1.2.3-rc.1+build.5",
            "1.0.0+001",
            "1.0.0-x-y-z.--",
            "1_0.0.0",
        ] {
            assert!(check_semver(good).is_ok(), "{good}");
        }
        for bad in [
            "1.0",
            "v1.0.0",
            "01.0.0",
            "1.0.0-01",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-a..b",
            "1.0.0-a_b",
            "_1.0.0",
            "1.0.0.0",
            "",
            "1.0.0+a+b",
        ] {
            assert_eq!(check_semver(bad), Err("InvalidVersion"), "{bad}");
        }
        assert_eq!(check_semver("18446744073709551616.0.0"), Err("Overflow"));

        assert!(!accepts(&with_fields(
            ".version = \"1.0.0-xxxxxxxxxxxxxxxxxxxxxxxxxxx\""
        )));
        assert!(accepts(&with_fields(
            ".minimum_zig_version = \"0.16.0-dev.1234+abcdef012\""
        )));
        assert!(!accepts(&with_fields(".minimum_zig_version = \"0.15\"")));
        // Each occurrence is checked even though the last one wins.
        assert!(!accepts(&with_fields(
            ".version = \"bad\", .version = \"1.0.0\""
        )));
        let manifest = parse_manifest(&with_fields(".version = \"2.0.0\"")).expect("valid");
        assert_eq!(manifest.version, "2.0.0");
    }

    #[test]
    fn dependencies_follow_zig() {
        let hash = "clap-0.10.0-oBajB434AQBDh-Ei3YtoKIRxZacVPF1iSwp3IX_ZB8f0";
        let text = with_fields(&format!(
            r#".dependencies = .{{
                .clap = .{{ .url = "https://e/clap.tar.gz", .hash = "{hash}", .extra = 1 }},
                .@"local-helper" = .{{ .path = "vendor/helper", .lazy = true }},
                .clap = .{{ .path = "p2", .lazy = false }},
            }},
            .dependencies = .{{ .more = .{{ .path = "m" }} }}"#
        ));
        let manifest = parse_manifest(&text).expect("valid");
        let names: Vec<_> = manifest
            .dependencies
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, ["clap", "local-helper", "more"]);
        assert_eq!(
            manifest.dependencies[0],
            Dependency {
                name: "clap".into(),
                url: None,
                path: Some("p2".into()),
                hash: None,
                lazy: false
            }
        );
        assert!(manifest.dependencies[1].lazy);

        let dep = |body: &str| with_fields(&format!(".dependencies = .{{ .d = .{{ {body} }} }}"));
        assert!(accepts(&with_fields(".dependencies = .{}")));
        assert!(!accepts(&dep(".url = \"a\", .path = \"b\"")));
        assert!(!accepts(&dep(".url = \"a\", .url = \"b\"")));
        assert!(!accepts(&dep(".lazy = true")));
        assert!(!accepts(&dep(".path = \"a\", .lazy = 1")));
        assert!(!accepts(&dep(".path = \"a\", .lazy = yes")));
        assert!(!accepts(&dep(".path = .a")));
        assert!(!accepts(&dep(&format!(
            ".path = \"a\", .hash = \"{}\"",
            &hash[..40]
        ))));
        assert!(!accepts(&dep(&format!(
            ".path = \"a\", .hash = \"{}{hash}\"",
            "x".repeat(60)
        ))));
        assert!(!accepts(&with_fields(".dependencies = .{ .d = \"url\" }")));
        assert!(!accepts(&with_fields(
            ".dependencies = .{ .{ .path = \"a\" } }"
        )));
    }
}
