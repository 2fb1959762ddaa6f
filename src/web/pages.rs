//! The pages: home, search results, connect, an npm package, a Zig package, and not-found.

use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Response, handler};

use super::chart;
use super::html::{bytes, copyable, day, esc, layout, path_name};
use super::markdown;
use super::page_response;
use crate::core::Core;
use crate::core::access::Reader;
use crate::core::browse::{self, BrowseError, Origin, Overview, PackageView, ZigView};
use crate::search::{Ecosystem, SearchRequest};

/// How long the home page's figures are kept before they are counted again.
const OVERVIEW_TTL: Duration = Duration::from_secs(30);

/// What the pages share: the core, and the home page's figures while they are fresh.
pub struct WebState {
    pub core: Arc<Core>,
    overview: Mutex<Option<(Instant, Overview)>>,
    dependents: Mutex<Option<(Instant, Arc<Dependents>)>>,
}

/// Name → the packages published here that depend on it.
type Dependents = std::collections::BTreeMap<String, Vec<String>>;

impl WebState {
    pub fn new(core: Arc<Core>) -> Self {
        Self {
            core,
            overview: Mutex::new(None),
            dependents: Mutex::new(None),
        }
    }

    /// Who depends on whom, read again at most every [`OVERVIEW_TTL`].
    async fn dependents(&self) -> Result<Arc<Dependents>, crate::store::StoreError> {
        if let Some((at, d)) = self.dependents.lock().expect("dependents lock").as_ref()
            && at.elapsed() < OVERVIEW_TTL
        {
            return Ok(d.clone());
        }
        let fresh = Arc::new(browse::dependents(&self.core).await?);
        *self.dependents.lock().expect("dependents lock") = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    async fn overview(&self, reader: &Reader) -> Result<Overview, BrowseError> {
        if let Some((at, o)) = self.overview.lock().expect("overview lock").as_ref()
            && at.elapsed() < OVERVIEW_TTL
        {
            return Ok(o.clone());
        }
        let fresh = browse::overview(&self.core, reader).await?;
        *self.overview.lock().expect("overview lock") = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }
}

/// The npm registry URL clients are given.
fn npm_url(core: &Core) -> String {
    format!("{}/npm/", core.url_base().trim_end_matches('/'))
}

/// A page saying why there is nothing to show (404 for a missing or unreadable package, 503
/// when the store or the upstream cannot answer now).
fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    let main = format!(
        r#"<h1>{title}</h1><p class="lead">{message}</p><p><a href="/">Home</a> · <a href="/find">Search packages</a></p>"#,
        title = esc(title),
        message = esc(message)
    );
    page_response(status, layout(title, "", &main))
}

/// The page for a store that cannot answer now.
pub fn unavailable() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again shortly",
        "The registry could not read what this page shows just now.",
    )
}

/// Who is reading: the signed-in user of the session cookie, else anonymous.
async fn reader_of(core: &Core, req: &poem::Request) -> Reader {
    match super::account::session(core, req).await {
        Some((caller, _)) => Reader::signed_in(caller),
        None => Reader::anonymous(),
    }
}

/// The HTML 404 for a path nothing serves.
pub fn not_found(path: &str) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("Nothing is served at {path}. Search for a package, or go back home."),
    )
}

fn browse_problem(e: BrowseError, what: &str) -> Response {
    use crate::core::resolve::ResolveError;
    match e {
        BrowseError::NotFound(_)
        | BrowseError::Resolve(ResolveError::NoSuchPackage | ResolveError::NoSuchVersion) => {
            problem(
                StatusCode::NOT_FOUND,
                "Package not found",
                &format!("There is no package {what} on this registry."),
            )
        }
        BrowseError::Resolve(ResolveError::Proxy(p)) if p.to_string().contains("not found") => {
            problem(
                StatusCode::NOT_FOUND,
                "Package not found",
                &format!("There is no package {what} here or upstream."),
            )
        }
        BrowseError::Refused(_) | BrowseError::Resolve(ResolveError::SignInRequired(_)) => problem(
            StatusCode::NOT_FOUND,
            "Package not found",
            &format!("There is no package {what} that you may read without signing in."),
        ),
        other => {
            tracing::warn!(error = %other, package = %what, "a page could not be built");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again shortly",
                "The registry could not read what this page shows just now.",
            )
        }
    }
}

fn package_link(name: &str, ecosystem: Ecosystem) -> String {
    match ecosystem {
        Ecosystem::Npm => format!("/package/{}", path_name(name)),
        Ecosystem::Zig => format!("/zig/package/{}", path_name(name)),
    }
}

/// The lines that point each client at this registry.
fn connect_lines(core: &Core) -> String {
    let npm = npm_url(core);
    let base = core.url_base();
    let base = base.trim_end_matches('/');
    [
        copyable(
            "connect-npm",
            "npm, pnpm",
            &format!("npm config set registry {npm}"),
        ),
        copyable("connect-npmrc", ".npmrc", &format!("registry={npm}")),
        copyable(
            "connect-yarn",
            ".yarnrc.yml",
            &format!("npmRegistryServer: \"{npm}\""),
        ),
        copyable(
            "connect-bun",
            "bunfig.toml",
            &format!("[install]\nregistry = \"{npm}\""),
        ),
        copyable(
            "connect-pantry",
            "Pantry CLI",
            &format!("PANTRY_REGISTRY_URL={base}"),
        ),
    ]
    .concat()
}

/// `GET /`: search, what is new and popular, the registry's figures, how to connect.
#[handler]
pub async fn home(state: Data<&Arc<WebState>>) -> Response {
    let core = &state.core;
    let overview = match state.overview(&Reader::anonymous()).await {
        Ok(o) => o,
        Err(e) => return browse_problem(e, "(overview)"),
    };
    let mut main = String::from(
        r#"<section class="hero"><h1>Find a package</h1><p class="lead">npm and Zig packages published here, and the public npm registry through it.</p></section>"#,
    );
    let _ = write!(
        main,
        r#"<section id="figures" aria-label="Registry figures"><dl class="figures"><div><dt>Packages</dt><dd>{}</dd></div><div><dt>Versions</dt><dd>{}</dd></div><div><dt>Zig packages</dt><dd>{}</dd></div><div><dt>Downloads this week</dt><dd>{}</dd></div><div><dt>Cached upstream packages</dt><dd>{}</dd></div></dl></section>"#,
        overview.packages,
        overview.versions,
        overview.zig_packages,
        overview.downloads_this_week,
        overview.cached_upstream
    );
    main.push_str(r#"<div class="columns"><section id="recent"><h2>Recently published</h2><ul class="packages">"#);
    for p in &overview.recent {
        let _ = write!(
            main,
            r#"<li><a href="{href}">{name}</a> <span class="version">{version}</span> <span class="eco">{eco}</span> <time datetime="{at}">{day}</time></li>"#,
            href = package_link(&p.name, p.ecosystem),
            name = esc(&p.name),
            version = esc(&p.version),
            eco = if p.ecosystem == Ecosystem::Zig {
                "Zig"
            } else {
                "npm"
            },
            at = crate::core::timestamps::iso(p.at),
            day = day(&crate::core::timestamps::iso(p.at)),
        );
    }
    if overview.recent.is_empty() {
        main.push_str("<li class=\"none\">Nothing published yet.</li>");
    }
    main.push_str("</ul></section>");
    for (id, title, list, eco) in [
        (
            "popular-npm",
            "Most downloaded this week: npm",
            &overview.popular_npm,
            Ecosystem::Npm,
        ),
        (
            "popular-zig",
            "Most downloaded this week: Zig",
            &overview.popular_zig,
            Ecosystem::Zig,
        ),
    ] {
        let _ = write!(
            main,
            r#"<section id="{id}"><h2>{title}</h2><ol class="packages">"#
        );
        for (name, n) in list.iter() {
            let _ = write!(
                main,
                r#"<li><a href="{}">{}</a> <span class="count">{n}</span></li>"#,
                package_link(name, eco),
                esc(name)
            );
        }
        if list.is_empty() {
            main.push_str("<li class=\"none\">No downloads this week.</li>");
        }
        main.push_str("</ol></section>");
    }
    main.push_str("</div>");
    let _ = write!(
        main,
        r#"<section id="connect"><h2>Connect your client</h2>{}<p><a href="/connect">Every client, and tokens</a></p></section>"#,
        connect_lines(core)
    );
    page_response(StatusCode::OK, layout("Home", "", &main))
}

#[derive(serde::Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    /// `json`: the results as JSON for the live search.
    format: Option<String>,
}

/// `GET /find?q=`: results as a page, or with `format=json` as the live search's list.
#[handler]
pub async fn search_page(
    state: Data<&Arc<WebState>>,
    req: &poem::Request,
    Query(params): Query<SearchParams>,
) -> Response {
    let core = &state.core;
    let q = params.q.unwrap_or_default();
    let reader = reader_of(core, req).await;
    let mut hits = Vec::new();
    let mut total = 0;
    let mut failed = None;
    // What the reader may not see is worked out once, for both ecosystems; a store that
    // cannot say is a 503, not the reader's mistake.
    let excluded = match core.access.hidden(core, &reader).await {
        Ok(h) => h.for_search(),
        Err(e) => {
            tracing::warn!(error = %e, "search could not tell what the reader may see");
            return unavailable();
        }
    };
    for eco in [Ecosystem::Npm, Ecosystem::Zig] {
        let mut request = match SearchRequest::new(q.clone(), eco, None, Some("20"), "size") {
            Ok(r) => r,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        request.excluded = excluded.clone();
        match core.search.search(request).await {
            Ok(page) => {
                total += page.total;
                hits.extend(page.hits.into_iter().map(|h| (eco, h)));
            }
            Err(e) => {
                failed = Some(e.to_string());
                break;
            }
        }
    }
    hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    if params.format.as_deref() == Some("json") {
        let list: Vec<serde_json::Value> = hits
            .iter()
            .take(10)
            .map(|(eco, h)| {
                serde_json::json!({
                    "name": h.doc.name,
                    "version": h.doc.version,
                    "description": h.doc.description,
                    "url": package_link(&h.doc.name, *eco),
                    "ecosystem": if *eco == Ecosystem::Zig { "zig" } else { "npm" },
                })
            })
            .collect();
        let mut resp = Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(serde_json::json!({"results": list}).to_string());
        super::secure(&mut resp);
        return resp;
    }
    let mut main = String::new();
    let _ = write!(main, "<h1>Search</h1>");
    if let Some(e) = failed {
        let _ = write!(main, r#"<p class="lead" role="alert">{}</p>"#, esc(&e));
        return page_response(StatusCode::BAD_REQUEST, layout("Search", &q, &main));
    }
    let _ = write!(
        main,
        r#"<p class="lead">{total} packages match <q>{}</q>.</p><ul id="search-results" class="results">"#,
        esc(&q)
    );
    for (eco, h) in &hits {
        let d = &h.doc;
        let _ = write!(
            main,
            r#"<li><a href="{href}">{name}</a> <span class="version">{version}</span> <span class="eco">{eco}</span>{origin}<p>{description}</p></li>"#,
            href = package_link(&d.name, *eco),
            name = esc(&d.name),
            version = esc(&d.version),
            eco = if *eco == Ecosystem::Zig { "Zig" } else { "npm" },
            origin = if d.origin == crate::search::Origin::Cached {
                r#" <span class="badge">from upstream</span>"#
            } else {
                ""
            },
            description = esc(&d.description),
        );
    }
    main.push_str("</ul>");
    page_response(StatusCode::OK, layout(&format!("Search: {q}"), &q, &main))
}

/// `GET /connect`: every client's settings for this registry.
#[handler]
pub async fn connect(state: Data<&Arc<WebState>>) -> Response {
    let core = &state.core;
    let main = format!(
        r#"<h1>Connect a client</h1><p class="lead">npm, pnpm, yarn and bun use the npm URL, <code>{npm}</code>; the Pantry CLI and the Pantry API use the base URL. Publishing needs a token (<code>pantry-registry token create</code>, or <code>npm login</code>).</p><section id="connect">{lines}</section><section><h2>Zig</h2>{zig}</section>"#,
        npm = esc(&npm_url(core)),
        lines = connect_lines(core),
        zig = copyable(
            "connect-zig",
            "zig fetch",
            &format!(
                "zig fetch --save {}/zig/packages/<name>/<version>/tarball",
                core.url_base().trim_end_matches('/')
            )
        ),
    );
    page_response(StatusCode::OK, layout("Connect a client", "", &main))
}

#[derive(serde::Deserialize)]
pub struct PageParams {
    days: Option<i64>,
}

fn period(params: &PageParams) -> i64 {
    params
        .days
        .filter(|d| chart::PERIODS.contains(d))
        .unwrap_or(chart::PERIODS[0])
}

fn dependency_list(title: &str, id: &str, deps: &[(String, String)]) -> String {
    if deps.is_empty() {
        return String::new();
    }
    let mut out = format!(
        r#"<section id="{id}"><h3>{title} ({})</h3><ul class="deps">"#,
        deps.len()
    );
    for (name, range) in deps {
        let _ = write!(
            out,
            r#"<li><a href="/package/{}">{}</a> <code>{}</code></li>"#,
            path_name(name),
            esc(name),
            esc(range)
        );
    }
    out.push_str("</ul></section>");
    out
}

fn package_body(core: &Core, view: &PackageView, dependents: &[String], days: i64) -> String {
    let l = &view.latest;
    let name = &view.name;
    let href = format!("/package/{}", path_name(name));
    let mut main = String::new();
    let _ = write!(
        main,
        r#"<div class="title"><h1>{name}</h1><span class="version" id="latest-version">{version}</span>{origin}</div>"#,
        name = esc(name),
        version = esc(&l.version),
        origin = match &view.origin {
            Origin::Local => String::new(),
            Origin::Proxied {
                upstream,
                stale,
                fetched_at,
            } => format!(
                r#" <span class="badge" id="proxied">from {}{}{}</span>"#,
                esc(upstream),
                fetched_at
                    .as_deref()
                    .map(|at| format!(", fetched {}", esc(at)))
                    .unwrap_or_default(),
                if *stale {
                    ", an older copy (the upstream did not answer)"
                } else {
                    ""
                }
            ),
        }
    );
    if let Some(d) = &l.description {
        let _ = write!(main, r#"<p class="lead">{}</p>"#, esc(d));
    }
    if let Some(msg) = &l.deprecated {
        let _ = write!(
            main,
            r#"<p class="deprecated" role="note" id="deprecated"><strong>Deprecated:</strong> {}</p>"#,
            esc(msg)
        );
    }
    main.push_str(r#"<div class="package"><div class="main-column">"#);
    let npm = npm_url(core);
    let spec = if l.version.is_empty() {
        name.clone()
    } else {
        format!("{name}@{}", l.version)
    };
    let _ = write!(
        main,
        r#"<section id="install"><h2>Install</h2>{}{}{}{}{}<details><summary>Use this registry</summary>{}{}{}</details></section>"#,
        copyable("install-npm", "npm", &format!("npm install {spec}")),
        copyable("install-pnpm", "pnpm", &format!("pnpm add {spec}")),
        copyable("install-yarn", "yarn", &format!("yarn add {spec}")),
        copyable("install-bun", "bun", &format!("bun add {spec}")),
        copyable(
            "install-pantry",
            "Pantry CLI",
            &format!("pantry install {spec}")
        ),
        copyable("npmrc", ".npmrc", &format!("registry={npm}")),
        copyable(
            "bunfig",
            "bunfig.toml",
            &format!("[install]\nregistry = \"{npm}\"")
        ),
        copyable(
            "yarnrc",
            ".yarnrc.yml",
            &format!("npmRegistryServer: \"{npm}\"")
        ),
    );
    main.push_str(r#"<section id="readme" aria-label="README">"#);
    match &view.readme {
        Some(readme) => main.push_str(&markdown::render(readme, l.repository.as_deref())),
        None => main.push_str("<p class=\"muted\">This package has no README.</p>"),
    }
    main.push_str("</section>");
    main.push_str(&chart::downloads(&view.downloads, days, &href));
    main.push_str(r#"</div><aside class="side">"#);
    let mut facts = String::new();
    let mut fact = |label: &str, value: String| {
        let _ = write!(facts, "<div><dt>{label}</dt><dd>{value}</dd></div>");
    };
    if let Some(license) = &l.license {
        fact("License", esc(license));
    }
    if let Some(repo) = &l.repository {
        fact(
            "Repository",
            format!(
                r#"<a href="{0}" rel="noopener noreferrer nofollow">{0}</a>"#,
                esc(repo)
            ),
        );
    }
    if let Some(homepage) = &l.homepage {
        fact(
            "Homepage",
            format!(
                r#"<a href="{0}" rel="noopener noreferrer nofollow">{0}</a>"#,
                esc(homepage)
            ),
        );
    }
    if let Some(n) = l.unpacked_size {
        fact("Unpacked size", bytes(n));
    }
    if let Some(n) = l.tarball_size {
        fact("Tarball size", bytes(n));
    }
    if let Some(n) = l.file_count {
        fact("Files", n.to_string());
    }
    if let Some(i) = &l.integrity {
        fact(
            "Integrity",
            format!("<code class=\"wrap\">{}</code>", esc(i)),
        );
    }
    if !view.maintainers.is_empty() {
        fact(
            "Maintainers",
            view.maintainers
                .iter()
                .map(|m| esc(m))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if view.stars > 0 {
        fact(
            "Stars",
            format!(
                r#"<span id="stars">{}</span> <span class="muted">(npm star)</span>"#,
                view.stars
            ),
        );
    }
    if !l.keywords.is_empty() {
        fact(
            "Keywords",
            l.keywords
                .iter()
                .map(|k| esc(k))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let _ = write!(main, r#"<dl class="facts">{facts}</dl>"#);
    main.push_str(&dependency_list(
        "Dependencies",
        "dependencies",
        &l.dependencies,
    ));
    main.push_str(&dependency_list(
        "Peer dependencies",
        "peer-dependencies",
        &l.peer_dependencies,
    ));
    main.push_str(&dependency_list(
        "Optional dependencies",
        "optional-dependencies",
        &l.optional_dependencies,
    ));
    if !dependents.is_empty() {
        let _ = write!(
            main,
            r#"<section id="dependents"><h3>Used by ({}) on this registry</h3><ul class="deps">"#,
            dependents.len()
        );
        for name in dependents {
            let _ = write!(
                main,
                r#"<li><a href="/package/{}">{}</a></li>"#,
                path_name(name),
                esc(name)
            );
        }
        main.push_str("</ul></section>");
    }
    let _ = write!(
        main,
        r#"<section id="versions"><h2>Versions ({})</h2><table><thead><tr><th scope="col">Version</th><th scope="col">Published</th><th scope="col">Tags</th></tr></thead><tbody>"#,
        view.versions.len()
    );
    for v in view.versions.iter().take(200) {
        let _ = write!(
            main,
            r#"<tr{class}><td>{version}{deprecated}</td><td>{at}</td><td>{tags}</td></tr>"#,
            class = if v.deprecated.is_some() {
                r#" class="is-deprecated""#
            } else {
                ""
            },
            version = esc(&v.version),
            deprecated = if v.deprecated.is_some() {
                r#" <span class="badge">deprecated</span>"#
            } else {
                ""
            },
            at = v
                .published_at
                .as_deref()
                .map(day)
                .map(esc)
                .unwrap_or_default(),
            tags = v.tags.iter().map(|t| esc(t)).collect::<Vec<_>>().join(", "),
        );
    }
    main.push_str("</tbody></table></section></aside></div>");
    main
}

/// `GET /package/<name>`: an npm package, published here or read through the fallback.
#[handler]
pub async fn package(
    state: Data<&Arc<WebState>>,
    req: &poem::Request,
    Path(name): Path<String>,
    Query(params): Query<PageParams>,
) -> Response {
    let core = &state.core;
    let name = name.trim_matches('/').to_string();
    let reader = reader_of(core, req).await;
    let view = match browse::npm_package(core, &reader, &name).await {
        Ok(view) => view,
        Err(e) => return browse_problem(e, &name),
    };
    let all = match state.dependents().await {
        Ok(d) => d,
        Err(e) => return browse_problem(e.into(), &name),
    };
    let hidden = match core.access.hidden(core, &reader).await {
        Ok(h) => h,
        Err(e) => return browse_problem(e.into(), &name),
    };
    let dependents: Vec<String> = all
        .get(&view.name)
        .map(|d| {
            d.iter()
                .filter(|n| hidden.shows(n, true))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    page_response(
        StatusCode::OK,
        layout(
            &view.name,
            "",
            &package_body(core, &view, &dependents, period(&params)),
        ),
    )
}

fn zig_body(core: &Core, view: &ZigView, days: i64) -> String {
    let base = core.url_base();
    let base = base.trim_end_matches('/');
    let name = &view.name;
    let mut main = format!(
        r#"<div class="title"><h1>{}</h1><span class="version" id="latest-version">{}</span> <span class="eco">Zig</span></div>"#,
        esc(name),
        esc(&view.latest)
    );
    let latest = view.versions.iter().find(|v| v.version == view.latest);
    if let Some(v) = latest {
        if let Some(d) = &v.description {
            let _ = write!(main, r#"<p class="lead">{}</p>"#, esc(d));
        }
        let url = format!("{base}/zig/packages/{name}/{}/tarball", v.version);
        let _ = write!(
            main,
            r#"<section id="install"><h2>Use it</h2>{}{}<dl class="facts"><div><dt>Hash</dt><dd><code class="wrap" id="zig-hash">{}</code></dd></div>{}<div><dt>Archive</dt><dd>{} ({})</dd></div>{}</dl></section>"#,
            copyable("zig-fetch", "zig fetch", &format!("zig fetch --save {url}")),
            copyable(
                "zig-dependency",
                "build.zig.zon",
                &format!(".{name} = .{{\n    .url = \"{url}\",\n    .hash = \"{}\",\n}},", v.hash)
            ),
            esc(&v.hash),
            v.legacy_hash
                .as_ref()
                .map(|h| format!(r#"<div><dt>Legacy hash</dt><dd><code class="wrap" id="zig-legacy-hash">{}</code></dd></div>"#, esc(h)))
                .unwrap_or_default(),
            esc(&v.archive),
            bytes(v.size),
            v.minimum_zig_version
                .as_ref()
                .map(|z| format!("<div><dt>Minimum Zig version</dt><dd>{}</dd></div>", esc(z)))
                .unwrap_or_default(),
        );
        if !v.dependencies.is_empty() {
            main.push_str(r#"<section id="dependencies"><h2>Dependencies</h2><ul class="deps">"#);
            for d in &v.dependencies {
                let _ = write!(
                    main,
                    "<li><code>{}</code> {}</li>",
                    esc(&d.name),
                    esc(d.url.as_deref().or(d.path.as_deref()).unwrap_or(""))
                );
            }
            main.push_str("</ul></section>");
        }
    }
    let href = format!("/zig/package/{}", path_name(name));
    main.push_str(&chart::downloads(&view.downloads, days, &href));
    let _ = write!(
        main,
        r#"<section id="versions"><h2>Versions ({})</h2><table><thead><tr><th scope="col">Version</th><th scope="col">Published</th><th scope="col">Hash</th></tr></thead><tbody>"#,
        view.versions.len()
    );
    for v in &view.versions {
        let _ = write!(
            main,
            r#"<tr><td>{}</td><td>{}</td><td><code class="wrap">{}</code></td></tr>"#,
            esc(&v.version),
            day(&crate::core::timestamps::iso(v.published_at)),
            esc(&v.hash)
        );
    }
    main.push_str("</tbody></table></section>");
    if !view.owners.is_empty() {
        let _ = write!(
            main,
            "<p>Owners: {}</p>",
            view.owners
                .iter()
                .map(|o| esc(o))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    main
}

/// `GET /zig/package/<name>`: a Zig package.
#[handler]
pub async fn zig_package(
    state: Data<&Arc<WebState>>,
    req: &poem::Request,
    Path(name): Path<String>,
    Query(params): Query<PageParams>,
) -> Response {
    let core = &state.core;
    match browse::zig_package(core, &reader_of(core, req).await, &name).await {
        Ok(view) => page_response(
            StatusCode::OK,
            layout(&view.name, "", &zig_body(core, &view, period(&params))),
        ),
        Err(e) => browse_problem(e, &name),
    }
}
