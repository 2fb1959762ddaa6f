//! `GET /metrics`: the Prometheus text format. Counters and histograms are recorded where things
//! happen through the `metrics` facade (requests here at the edge; publishes, downloads and the
//! upstream in the core); gauges of the registry's state (search, rendered documents, jobs, the
//! store's and the blob store's size) are read when scraped. With `metrics.token` set, a scrape
//! must send it as a bearer token.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::StatusCode;
use poem::{Request, Response};

use crate::core::Core;

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder: installed by the first registry built in it, shared by any other.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let latency = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
            .expect("valid buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder installed by an embedding program wins; ours still renders.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        // Histogram samples wait in a buffer until drained into their buckets: drained here
        // every few seconds, so memory stays flat whether or not anyone scrapes.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            })
            .expect("a thread for the metrics upkeep");
        handle
    })
}

/// Installs the recorder (idempotent): call before anything is recorded.
pub fn install() {
    handle();
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "pantry_http_requests_total",
        "Requests answered, by route template, method and status."
    );
    describe_histogram!(
        "pantry_http_request_seconds",
        Unit::Seconds,
        "Time to the response head, by route template."
    );
    describe_counter!(
        "pantry_http_response_bytes_total",
        Unit::Bytes,
        "Bytes of response bodies whose length was known, by route template."
    );
    describe_counter!(
        "pantry_publishes_total",
        "Versions published, by ecosystem."
    );
    describe_counter!(
        "pantry_downloads_total",
        "Tarball and archive downloads counted, by ecosystem."
    );
    describe_counter!(
        "pantry_events_total",
        "Audited actions (publishes, package changes, tokens, logins, jobs), by action and outcome."
    );
    describe_counter!(
        "pantry_upstream_packuments_total",
        "Upstream packuments asked for through the npm fallback, by outcome: hit, miss, revalidated, stale, not_found, offline, error."
    );
    describe_histogram!(
        "pantry_upstream_request_seconds",
        Unit::Seconds,
        "Requests to the upstream registry, by kind (packument, tarball)."
    );
    describe_counter!(
        "pantry_upstream_errors_total",
        "Upstream requests that failed (timeouts, unreachable, bad answers), by kind."
    );
    describe_counter!(
        "pantry_rendered_hits_total",
        "Documents served from the rendered-document cache."
    );
    describe_counter!(
        "pantry_rendered_misses_total",
        "Documents that had to be rendered."
    );
    describe_gauge!(
        "pantry_rendered_bytes",
        Unit::Bytes,
        "Bytes held by the rendered-document cache."
    );
    describe_gauge!(
        "pantry_rendered_entries",
        "Documents held by the rendered-document cache."
    );
    describe_gauge!("pantry_search_documents", "Packages in the search index.");
    describe_gauge!(
        "pantry_search_pending",
        "Package changes not yet searchable."
    );
    describe_gauge!(
        "pantry_jobs",
        "Maintenance jobs known to this server, by state."
    );
    describe_gauge!(
        "pantry_store_bytes",
        Unit::Bytes,
        "Size of the metadata database file (redb; absent for DynamoDB)."
    );
    describe_gauge!(
        "pantry_blobs",
        "Blobs in the blob store (counted at most every metrics.blob_totals_secs)."
    );
    describe_gauge!(
        "pantry_blob_bytes",
        Unit::Bytes,
        "Bytes in the blob store (counted at most every metrics.blob_totals_secs)."
    );
}

/// The label for `path`: its route template with `:name` for each parameter
/// (`/packages/:name/:version`), so that label values stay few.
pub fn route_label(templates: &super::edge::RouteMethods, path: &str) -> String {
    if let Some(npm) = path.strip_prefix("/npm") {
        return npm_route(npm);
    }
    match templates.template(path) {
        Some(template) => template
            .split('/')
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => format!(":{name}"),
                    None => s.to_string(),
                },
            )
            .collect::<Vec<_>>()
            .join("/"),
        None => "unmatched".to_string(),
    }
}

/// The npm door's routes, which `/openapi.json` does not list.
fn npm_route(path: &str) -> String {
    if path.is_empty() || path == "/" {
        return "/npm/".into();
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segments[0] == "-" {
        return match segments.get(1) {
            Some(first) if !first.is_empty() && first.len() <= 32 && !first.contains(':') => {
                format!("/npm/-/{first}")
            }
            _ => "/npm/-/other".into(),
        };
    }
    // `@scope/name` is two segments (`@scope%2fname` one).
    let rest = if segments[0].starts_with('@') && !segments[0].contains('%') {
        &segments[2.min(segments.len())..]
    } else {
        &segments[1..]
    };
    match rest {
        [] => "/npm/:package".into(),
        ["-", _] => "/npm/:package/-/:tarball".into(),
        ["-", _, "-rev", _] => "/npm/:package/-/:tarball/-rev/:rev".into(),
        ["-rev", _] => "/npm/:package/-rev/:rev".into(),
        [_] => "/npm/:package/:version".into(),
        _ => "/npm/:package/other".into(),
    }
}

/// Records one answered request.
pub fn record_request(
    route: String,
    method: &poem::http::Method,
    status: u16,
    took: Duration,
    bytes: Option<u64>,
) {
    metrics::histogram!("pantry_http_request_seconds", "route" => route.clone())
        .record(took.as_secs_f64());
    if let Some(n) = bytes {
        metrics::counter!("pantry_http_response_bytes_total", "route" => route.clone())
            .increment(n);
    }
    metrics::counter!(
        "pantry_http_requests_total",
        "route" => route,
        "method" => method.as_str().to_string(),
        "status" => status.to_string()
    )
    .increment(1);
}

/// The blob store's totals, listed at most every `metrics.blob_totals_secs` (a listing reads
/// every key).
#[derive(Default)]
pub struct BlobTotals(Mutex<Option<(Instant, u64, u64)>>);

impl BlobTotals {
    async fn refresh(&self, core: &Core) {
        let due = self
            .0
            .lock()
            .expect("blob totals lock")
            .is_none_or(|(at, _, _)| at.elapsed() >= core.settings.metrics_blob_totals);
        if !due {
            return;
        }
        match core.blobs.list().await {
            Ok(all) => {
                let bytes = all.iter().map(|(_, n)| n).sum();
                *self.0.lock().expect("blob totals lock") =
                    Some((Instant::now(), all.len() as u64, bytes));
            }
            Err(e) => tracing::warn!(error = %e, "metrics: could not list the blob store"),
        }
    }

    fn get(&self) -> Option<(u64, u64)> {
        self.0
            .lock()
            .expect("blob totals lock")
            .map(|(_, count, bytes)| (count, bytes))
    }
}

/// The scrape: the gauges read now, then everything in the text format.
pub async fn scrape(core: &Arc<Core>, totals: &BlobTotals, req: &Request) -> Response {
    if let Some(expected) = &core.settings.metrics_token {
        let sent = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        use subtle::ConstantTimeEq;
        if !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
            return crate::error::ApiError::unauthorized(
                "metrics need the token in metrics.token: send it as `Authorization: Bearer …`",
            )
            .into_http_response();
        }
    }
    let rendered = core.rendered.stats();
    metrics::counter!("pantry_rendered_hits_total").absolute(rendered.hits);
    metrics::counter!("pantry_rendered_misses_total").absolute(rendered.misses);
    metrics::gauge!("pantry_rendered_bytes").set(rendered.bytes as f64);
    metrics::gauge!("pantry_rendered_entries").set(rendered.entries as f64);
    metrics::gauge!("pantry_search_documents").set(core.search.documents() as f64);
    metrics::gauge!("pantry_search_pending").set(core.search.pending() as f64);
    for (state, n) in core.jobs.counts() {
        metrics::gauge!("pantry_jobs", "state" => state).set(n as f64);
    }
    if core.settings.metadata_backend == crate::config::MetadataBackend::Redb
        && let Ok(meta) = tokio::fs::metadata(core.settings.data_dir.join("registry.redb")).await
    {
        metrics::gauge!("pantry_store_bytes").set(meta.len() as f64);
    }
    totals.refresh(core).await;
    if let Some((count, bytes)) = totals.get() {
        metrics::gauge!("pantry_blobs").set(count as f64);
        metrics::gauge!("pantry_blob_bytes").set(bytes as f64);
    }
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle().render())
}

#[cfg(test)]
mod tests {
    use super::npm_route;

    #[test]
    fn npm_paths_become_few_route_labels() {
        for (path, label) in [
            ("", "/npm/"),
            ("/left-pad", "/npm/:package"),
            ("/@scope/pkg", "/npm/:package"),
            ("/@scope%2fpkg", "/npm/:package"),
            ("/@scope/pkg/1.0.0", "/npm/:package/:version"),
            ("/left-pad/latest", "/npm/:package/:version"),
            ("/left-pad/-/left-pad-1.0.0.tgz", "/npm/:package/-/:tarball"),
            ("/@scope/pkg/-/pkg-1.0.0.tgz", "/npm/:package/-/:tarball"),
            (
                "/doc/-/doc-2.1.0.tgz/-rev/6-x",
                "/npm/:package/-/:tarball/-rev/:rev",
            ),
            ("/doc/-rev/3-abc", "/npm/:package/-rev/:rev"),
            ("/-/v1/search", "/npm/-/v1"),
            ("/-/user/org.couchdb.user:alice", "/npm/-/user"),
            ("/-/whoami", "/npm/-/whoami"),
            ("/-/", "/npm/-/other"),
            ("/a/b/c/d", "/npm/:package/other"),
        ] {
            assert_eq!(npm_route(path), label, "{path}");
        }
    }
}
