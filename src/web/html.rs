//! Writing HTML safely: every text and attribute value goes through [`esc`], and every page
//! through [`layout`].

use std::fmt::Write;

use super::assets::asset_path;

/// `text` escaped for an HTML text node or a quoted attribute value.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `name` as a path segment of a page URL (`@scope/name` keeps its slash).
pub fn path_name(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, NAME).to_string()
}

const NAME: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'@')
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The page around `main`: header with the search box and the links every page has.
pub fn layout(title: &str, query: &str, main: &str) -> String {
    let mut page = String::with_capacity(main.len() + 2048);
    let _ = write!(
        page,
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{title} · Pantry Registry</title>
<link rel="stylesheet" href="{css}">
<script src="{js}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
<header class="top">
<a class="brand" href="/">Pantry Registry</a>
<form class="search" action="/find" method="get" role="search">
<label for="q" class="visually-hidden">Search packages</label>
<input id="q" name="q" type="search" placeholder="Search packages" autocomplete="off" value="{query}" aria-controls="suggestions" aria-autocomplete="list">
<button type="submit">Search</button>
<ul id="suggestions" role="listbox" aria-label="Packages found" hidden></ul>
</form>
<nav aria-label="Site"><a href="/connect">Connect a client</a> <a href="/docs">API</a> <a href="/account">Account</a></nav>
</header>
<main id="main">
{main}
</main>
<footer><a href="/connect">Connect a client</a> · <a href="/docs">API documentation</a> · <a href="/openapi.json">OpenAPI</a></footer>
</body>
</html>
"##,
        title = esc(title),
        query = esc(query),
        css = asset_path("app.css"),
        js = asset_path("app.js"),
    );
    page
}

/// A code line with a copy button (the button works once the script runs).
pub fn copyable(id: &str, label: &str, code: &str) -> String {
    format!(
        r#"<div class="copyable"><span class="label">{label}</span><pre><code id="{id}">{code}</code></pre><button type="button" class="copy" data-copy="{id}" aria-label="Copy: {label}">Copy</button></div>"#,
        id = esc(id),
        label = esc(label),
        code = esc(code),
    )
}

/// A byte count for people: `1.2 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The day of an RFC 3339 time (`2026-12-03`).
pub fn day(at: &str) -> &str {
    at.get(..10).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_html_reads_as_markup() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(path_name("@scope/na me"), "@scope/na%20me");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_234_567), "1.2 MB");
    }
}
