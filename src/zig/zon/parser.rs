//! The ZON parser: the ZON subset of `std.zig.Ast.parse`. It turns the tokens into a syntax
//! tree of `Node`s (anonymous structs and tuples, enum literals, literals, identifiers and prefix
//! operators), rejects anything else and nesting deeper than `MAX_DEPTH`. Literals stay as raw
//! token text; any syntax error rejects the whole file, as in zig.

use std::collections::VecDeque;

use super::tokenizer::{Tag, Token, Tokenizer};
use super::{MAX_DEPTH, ZonError, error_at};

pub(super) struct Node<'a> {
    /// Byte offset of the node's main token (for an initializer, its `{`).
    pub(super) pos: usize,
    pub(super) kind: Kind<'a>,
}

pub(super) enum Kind<'a> {
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

pub(super) struct FieldInit<'a> {
    /// The identifier token, bare or `@"quoted"`.
    pub(super) name: &'a str,
    pub(super) name_pos: usize,
    pub(super) value: Node<'a>,
}

pub(super) struct Parser<'a> {
    src: &'a str,
    tokenizer: Tokenizer<'a>,
    lookahead: VecDeque<Token>,
    depth: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(src: &'a str) -> Self {
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

    pub(super) fn root(mut self) -> Result<Node<'a>, ZonError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zig::zon::tests::{accepts, with_fields};

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
}
