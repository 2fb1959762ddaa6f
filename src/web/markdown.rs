//! A package's README, Markdown to HTML (`pulldown-cmark`), then sanitised (`ammonia`): no
//! script, event handler, `javascript:` URL, style or frame from a package survives. Nothing
//! in it makes the browser ask another origin: images become links (a relative one resolved
//! against the package's repository when it is on GitHub, else left as its text), and relative
//! links resolve against the repository or lose their target.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Where a README's relative paths point: a GitHub repository's files.
fn base_of(repository: Option<&str>) -> Option<String> {
    let repo = repository?;
    let rest = repo.strip_prefix("https://github.com/")?;
    let mut parts = rest.split('/');
    let (owner, name) = (parts.next()?, parts.next()?);
    if owner.is_empty() || name.is_empty() {
        return None;
    }
    Some(format!("https://github.com/{owner}/{name}/blob/HEAD/"))
}

/// `url` absolute (http or https), resolved against `base` when relative; `None` when it
/// cannot be.
fn absolute(url: &str, base: Option<&str>) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Some(url.to_string());
    }
    if lower.contains(':') || url.starts_with("//") || url.starts_with('#') {
        return None;
    }
    let base = base?;
    Some(format!(
        "{base}{}",
        url.trim_start_matches("./").trim_start_matches('/')
    ))
}

/// The README as safe HTML.
pub fn render(markdown: &str, repository: Option<&str>) -> String {
    let base = base_of(repository);
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    options.insert(Options::ENABLE_FOOTNOTES);
    // Images become links to where they are (or their text): the page loads nothing from
    // another origin.
    let mut in_image: Vec<Option<String>> = Vec::new();
    let events = Parser::new_ext(markdown, options).filter_map(|event| match event {
        Event::Start(Tag::Image { dest_url, .. }) => {
            let target = absolute(&dest_url, base.as_deref()).map(|t| t.replace("/blob/", "/raw/"));
            let open = target.as_ref().map(|t| {
                Event::Html(
                    format!("<a class=\"image-link\" href=\"{}\">", super::html::esc(t)).into(),
                )
            });
            in_image.push(target);
            Some(open.unwrap_or(Event::Text("".into())))
        }
        Event::End(TagEnd::Image) => in_image.pop().flatten().map(|_| Event::Html("</a>".into())),
        other => Some(other),
    });
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut raw, events);
    let mut cleaner = ammonia::Builder::default();
    cleaner
        .rm_tags(["img", "picture", "source", "video", "audio", "iframe"])
        .link_rel(Some("noopener noreferrer nofollow ugc"))
        .add_tag_attributes("a", ["class"])
        .url_schemes(["http", "https", "mailto"].into_iter().collect());
    match &base {
        Some(base) => match ammonia::Url::parse(base) {
            Ok(url) => cleaner.url_relative(ammonia::UrlRelative::RewriteWithBase(url)),
            Err(_) => cleaner.url_relative(ammonia::UrlRelative::Deny),
        },
        None => cleaner.url_relative(ammonia::UrlRelative::Deny),
    };
    cleaner.clean(&raw).to_string()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn scripts_handlers_and_javascript_urls_do_not_survive() {
        let html = render(
            "# Hi\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n\
             [click](javascript:alert(3))\n\n<a href=\"javascript:alert(4)\" onclick=\"x()\">a</a>\n\n\
             <iframe src=\"https://evil.example\"></iframe><style>body{}</style>",
            None,
        );
        for bad in [
            "<script",
            "onerror",
            "href=\"javascript",
            "onclick",
            "<iframe",
            "<style",
            "<img",
        ] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("click"), "the link's text stays: {html}");
        assert!(html.contains("<h1>Hi</h1>"), "{html}");
    }

    #[test]
    fn images_become_links_and_relative_paths_follow_the_repository() {
        let repo = Some("https://github.com/acme/widget");
        let html = render("![logo](docs/logo.png) [guide](docs/guide.md)", repo);
        assert!(
            html.contains("href=\"https://github.com/acme/widget/raw/HEAD/docs/logo.png\""),
            "{html}"
        );
        assert!(
            html.contains("href=\"https://github.com/acme/widget/blob/HEAD/docs/guide.md\""),
            "{html}"
        );
        assert!(!html.contains("<img"), "{html}");
        // Without a repository, a relative image is its text and a relative link has no target.
        let html = render("![logo](logo.png) [guide](guide.md)", None);
        assert!(
            html.contains("logo") && !html.contains("logo.png"),
            "{html}"
        );
        assert!(!html.contains("guide.md"), "{html}");
    }
}
