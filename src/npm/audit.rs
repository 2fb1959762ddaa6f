//! Security audits. We keep no advisory data: with `npm.fallback` on, the request goes to the
//! upstream registry; otherwise, or when the upstream fails, the answer is an empty report with
//! an `npm-notice` header saying so. Never a 5xx: npm and pnpm treat that as a failed install.

use std::collections::{BTreeMap, BTreeSet};

use poem::http::StatusCode;
use poem::{Request, Response};
use serde_json::{Map, Value, json};

use super::{NpmEndpoint, NpmResult, json};

const NOTICE: &str = "pantry-registry has no advisory data for this audit (upstream unavailable or fallback off); the report is not authoritative";

fn with_notice(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert("npm-notice", NOTICE.parse().expect("ASCII header"));
    resp
}

/// Asks the upstream's bulk advisory endpoint; `None` when off, failing or not JSON.
async fn upstream_bulk(ep: &NpmEndpoint, body: &Value) -> Option<Value> {
    ep.core.fallback.advisories(&ep.core, body).await
}

/// `POST /-/npm/v1/security/advisories/bulk` (npm, yarn, bun): `{"pkg": ["1.0.0", ...]}`.
pub async fn bulk(ep: &NpmEndpoint, req: &mut Request) -> NpmResult {
    let body = match ep
        .json_body(req, ep.core.settings.limits.max_request_bytes)
        .await
    {
        Ok(v) => v,
        Err(e) => return Err(e),
    };
    if !body.is_object() {
        return Err(crate::error::ApiError::bad_request(
            "the audit body must be a JSON object",
        ));
    }
    Ok(match upstream_bulk(ep, &body).await {
        Some(report) => json(StatusCode::OK, &report),
        None => with_notice(json(StatusCode::OK, &json!({}))),
    })
}

/// Collects `name -> versions` from an npm6 dependency tree (`{dependencies: {name: {version,
/// dependencies}}}`, pnpm nests it under `"."`), depth-limited.
fn flatten(tree: &Value, out: &mut BTreeMap<String, BTreeSet<String>>, depth: usize) {
    let Some(deps) = tree.get("dependencies").and_then(Value::as_object) else {
        return;
    };
    if depth > 64 {
        return;
    }
    for (name, node) in deps {
        if let Some(v) = node.get("version").and_then(Value::as_str) {
            out.entry(name.clone()).or_default().insert(v.to_string());
        }
        flatten(node, out, depth + 1);
    }
}

/// The npm6 report for a bulk answer (empty bulk answer: a clean report).
fn npm6_report(bulk: &Map<String, Value>, deps: &BTreeMap<String, BTreeSet<String>>) -> Value {
    let mut advisories = Map::new();
    let mut counts: BTreeMap<&str, u64> = ["info", "low", "moderate", "high", "critical"]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
    for (name, list) in bulk {
        for adv in list.as_array().into_iter().flatten() {
            let id = adv.get("id").cloned().unwrap_or(Value::Null);
            let severity = adv
                .get("severity")
                .and_then(Value::as_str)
                .unwrap_or("info");
            if let Some(c) = counts.get_mut(severity) {
                *c += 1;
            }
            let findings: Vec<Value> = deps
                .get(name)
                .into_iter()
                .flatten()
                .map(|v| json!({"version": v, "paths": [name]}))
                .collect();
            advisories.insert(
                id.to_string(),
                json!({
                    "id": id, "module_name": name, "title": adv.get("title"), "url": adv.get("url"),
                    "severity": severity, "vulnerable_versions": adv.get("vulnerable_versions"),
                    "cwe": adv.get("cwe"), "cvss": adv.get("cvss"), "findings": findings,
                    "overview": adv.get("title"), "recommendation": "Upgrade to a version outside the vulnerable range",
                    "patched_versions": "", "access": "public",
                }),
            );
        }
    }
    let total: usize = deps.values().map(BTreeSet::len).sum();
    json!({
        "actions": [], "advisories": advisories, "muted": [],
        "metadata": {
            "vulnerabilities": counts, "dependencies": total, "devDependencies": 0,
            "optionalDependencies": 0, "totalDependencies": total,
        },
    })
}

/// `POST /-/npm/v1/security/audits[/quick]` (pnpm): translated to a bulk request, answered in
/// npm6's report shape.
pub async fn npm6(ep: &NpmEndpoint, req: &mut Request) -> NpmResult {
    let tree = ep
        .json_body(req, ep.core.settings.limits.max_request_bytes)
        .await?;
    let mut deps = BTreeMap::new();
    flatten(&tree, &mut deps, 0);
    if let Some(root) = tree.get("dependencies").and_then(|d| d.get(".")) {
        flatten(root, &mut deps, 0);
        deps.remove(".");
    }
    let bulk_request: Map<String, Value> = deps
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.iter().collect::<Vec<_>>())))
        .collect();
    Ok(
        match upstream_bulk(ep, &Value::Object(bulk_request)).await {
            Some(Value::Object(bulk)) => json(StatusCode::OK, &npm6_report(&bulk, &deps)),
            _ => with_notice(json(StatusCode::OK, &npm6_report(&Map::new(), &deps))),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm6_trees_flatten_and_reports_count() {
        let tree = json!({"dependencies": {".": {"dependencies": {"a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0"}}}}}}});
        let mut deps = BTreeMap::new();
        flatten(&tree, &mut deps, 0);
        flatten(&tree["dependencies"]["."], &mut deps, 0);
        deps.remove(".");
        assert_eq!(deps.len(), 2);
        let bulk = json!({"b": [{"id": 7, "severity": "high", "title": "bad", "vulnerable_versions": "<3"}]});
        let report = npm6_report(bulk.as_object().unwrap(), &deps);
        assert_eq!(report["metadata"]["vulnerabilities"]["high"], 1);
        assert_eq!(report["advisories"]["7"]["module_name"], "b");
        assert_eq!(report["metadata"]["totalDependencies"], 2);
    }
}
