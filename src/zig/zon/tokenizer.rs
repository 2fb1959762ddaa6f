//! The ZON tokenizer: mirrors `std.zig.Tokenizer` for everything that can appear in a ZON file
//! (whitespace, comments, string, character and number literals, identifiers, keywords and
//! punctuation), including the bytes zig rejects inside comments and literals. Literals are
//! scanned, not decoded; that is left to `literals`.

use super::{ZonError, error_at};

/// Zig's keywords: they tokenize as keywords, so `.fn` is not an enum literal.
const KEYWORDS: &str = "addrspace align allowzero and anyframe anytype asm break callconv catch \
    comptime const continue defer else enum errdefer error export extern fn for if inline \
    linksection noalias noinline nosuspend opaque or orelse packed pub resume return struct \
    suspend switch test threadlocal try union unreachable var volatile while";

pub(super) fn is_keyword(word: &str) -> bool {
    KEYWORDS.split_whitespace().any(|keyword| keyword == word)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
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
pub(super) struct Token {
    pub(super) tag: Tag,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) struct Tokenizer<'a> {
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

pub(super) fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(super) fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A character that continues a number literal without starting an exponent.
fn is_number_char(b: u8) -> bool {
    is_ident_char(b) && !matches!(b, b'e' | b'E' | b'p' | b'P')
}

pub(super) fn describe_byte(b: u8) -> String {
    match b {
        b'\t' => "'\\t'".to_string(),
        b'\r' => "'\\r'".to_string(),
        0x20..=0x7e => format!("'{}'", char::from(b)),
        _ => format!("'\\x{b:02x}'"),
    }
}

impl<'a> Tokenizer<'a> {
    pub(super) fn new(src: &'a str) -> Self {
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

    pub(super) fn next(&mut self) -> Result<Token, ZonError> {
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
