//! Literal decoding: what zig makes of a string literal (`std.zig.string_literal`), of a quoted
//! identifier `@"..."`, and of a number literal (`std.zig.parseNumberLiteral`). Only the manifest
//! rules call these, so literals in unknown fields are never decoded, as in zig.

use super::tokenizer::describe_byte;

/// Decodes a string literal token (quotes included) like `std.zig.string_literal.parseWrite`.
pub(super) fn decode_string_literal(raw: &str) -> Result<Vec<u8>, String> {
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
pub(super) fn identifier_bytes(raw: &str) -> Result<Vec<u8>, String> {
    match raw.strip_prefix('@') {
        Some(quoted) => decode_string_literal(quoted),
        None => Ok(raw.as_bytes().to_vec()),
    }
}

/// What `std.zig.parseNumberLiteral` makes of a number token.
#[derive(Debug, PartialEq)]
pub(super) enum NumberLiteral {
    Int(u64),
    BigInt,
    Float,
    Failure(&'static str),
}

/// A port of `std.zig.parseNumberLiteral` (valid for any input).
pub(super) fn parse_number_literal(bytes: &[u8]) -> NumberLiteral {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zig::zon::parse_manifest;
    use crate::zig::zon::tests::{accepts, with_fields};
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
}
