//! The downloads chart, drawn on the server as SVG: one bar a day over the chosen period, each
//! with its date and count as a tooltip (`<title>`), and the period's downloads by version as
//! a table beside it.

use std::collections::BTreeMap;
use std::fmt::Write;

use time::{Date, Duration, OffsetDateTime};

use super::html::esc;
use crate::store::DownloadCount;

/// The periods offered, in days.
pub const PERIODS: [i64; 3] = [30, 90, 365];

/// The chart and table of `counts` over the `days` days up to today (UTC).
pub fn downloads(counts: &[DownloadCount], days: i64, link: &str) -> String {
    let today = OffsetDateTime::now_utc().date();
    let first = today - Duration::days(days - 1);
    let day_of = |d: Date| crate::core::downloads::day_string(d);
    let (first_key, last_key) = (day_of(first), day_of(today));
    let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_version: BTreeMap<String, u64> = BTreeMap::new();
    for c in counts {
        if c.day >= first_key && c.day <= last_key {
            *per_day.entry(c.day.clone()).or_default() += c.count;
            *per_version.entry(c.version.clone()).or_default() += c.count;
        }
    }
    let total: u64 = per_day.values().sum();
    let peak = per_day.values().copied().max().unwrap_or(0).max(1);
    let (width, height) = (720.0_f64, 160.0_f64);
    let bar = width / days as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title"><title id="chart-title">{total} downloads in the last {days} days</title>"#
    );
    for i in 0..days {
        let day = day_of(first + Duration::days(i));
        let n = per_day.get(&day).copied().unwrap_or(0);
        let h = if n == 0 {
            0.0
        } else {
            (n as f64 / peak as f64 * (height - 4.0)).max(2.0)
        };
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}"><title>{day}: {n} downloads</title></rect>"#,
            x = i as f64 * bar,
            y = height - h,
            w = (bar - 1.0).max(0.5),
        );
    }
    svg.push_str("</svg>");
    let mut periods = String::new();
    for p in PERIODS {
        if p == days {
            let _ = write!(periods, r#"<strong aria-current="true">{p} days</strong> "#);
        } else {
            let _ = write!(
                periods,
                r#"<a href="{link}?days={p}#downloads">{p} days</a> "#,
                link = esc(link)
            );
        }
    }
    let mut table = String::from(
        "<table class=\"by-version\"><caption>By version</caption><thead><tr><th scope=\"col\">Version</th><th scope=\"col\">Downloads</th></tr></thead><tbody>",
    );
    let mut rows: Vec<(&String, &u64)> = per_version.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (version, n) in &rows {
        let _ = write!(table, "<tr><td>{}</td><td>{n}</td></tr>", esc(version));
    }
    if rows.is_empty() {
        table.push_str("<tr><td colspan=\"2\">No downloads in this period.</td></tr>");
    }
    table.push_str("</tbody></table>");
    format!(
        r#"<section id="downloads" aria-labelledby="downloads-heading"><h2 id="downloads-heading">Downloads</h2><p class="periods">{periods}</p><p><strong id="downloads-total">{total}</strong> in the last {days} days</p>{svg}{table}</section>"#
    )
}
