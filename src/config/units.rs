//! The forms a person types for sizes, switches and ages, read the same way in the
//! configuration file, the environment and on the command line: `10GB`, `512 MiB`, `0`/`1`,
//! `yes`/`no`, `2w`, `0d`.

/// A size: a whole number of bytes, or with a unit (`KB`, `MB`, `GB`, `TB` are powers of 1000;
/// `KiB`, `MiB`, `GiB`, `TiB` (or `K`, `M`, `G`, `T`) powers of 1024; case does not matter).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{text:?} is not a size: write a number of bytes, or one with a unit like 512MiB or 10GB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "{text:?}: unknown size unit {other:?}; use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// A switch: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (case does not matter).
pub fn parse_flag(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "{text:?} is not a switch: use true or false (1/0, yes/no and on/off also work)"
        )),
    }
}

/// An age: a number with a unit, `s`, `m` (minutes), `h`, `d` or `w`; `0` (any unit, or none)
/// means no age at all.
pub fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not an age: write a number and a unit, like 30d, 2w, 12h or 45m")
    })?;
    let seconds: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" if number == 0 => 0,
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?}; use s, m (minutes), h, d or w, like 30d or 2w"
            ));
        }
    };
    number
        .checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("10GB"), Ok(10_000_000_000));
        assert_eq!(parse_bytes("10 gb"), Ok(10_000_000_000));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("1_000"), Ok(1000));
        assert!(parse_bytes("10XB").unwrap_err().contains("MiB"));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999TB").is_err());
    }

    #[test]
    fn switches() {
        for yes in ["true", "1", "yes", "ON", "True"] {
            assert_eq!(parse_flag(yes), Ok(true), "{yes}");
        }
        for no in ["false", "0", "no", "off"] {
            assert_eq!(parse_flag(no), Ok(false), "{no}");
        }
        assert!(parse_flag("maybe").unwrap_err().contains("true or false"));
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("0"), Ok(std::time::Duration::ZERO));
        assert_eq!(parse_age("0d"), Ok(std::time::Duration::ZERO));
        assert_eq!(parse_age("2w").unwrap().as_secs(), 14 * 86_400);
        assert_eq!(parse_age("12h").unwrap().as_secs(), 12 * 3600);
        assert_eq!(parse_age("45m").unwrap().as_secs(), 45 * 60);
        assert!(parse_age("3y").unwrap_err().contains("2w"));
        assert!(parse_age("soon").is_err());
    }
}
