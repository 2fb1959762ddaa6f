//! How every time leaves the registry as text: one fixed-width form everywhere.

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;

const ISO_MILLIS: &[BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// A time as the npm registry (and JavaScript's `toISOString`) writes it: UTC, milliseconds,
/// `Z` (`2015-03-24T00:12:24.039Z`). The width never changes, so neither does a response's
/// length from one second to the next.
pub fn iso(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(ISO_MILLIS)
        .unwrap_or_default()
}

/// A time given as RFC 3339 (`2026-12-01T10:00:00Z`) or as a day (`2026-12-01`, its start in
/// UTC).
pub fn parse(text: &str) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, day)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| {
            format!(
                "{text:?} is not a time: use RFC 3339 (2026-12-01T10:00:00Z) or a day (2026-12-01)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_always_three_digits_in_utc() {
        let t = time::macros::datetime!(2026-03-29 08:50:05.148_999 +02:00);
        assert_eq!(iso(t), "2026-03-29T06:50:05.148Z");
        assert_eq!(
            iso(time::macros::datetime!(2015-03-24 00:12:24 UTC)),
            "2015-03-24T00:12:24.000Z"
        );
    }
}
