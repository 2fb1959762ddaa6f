//! `GET /-/v1/search`: local packages in npm's response shape, with every field `npm search`
//! prints (version, date, publisher, maintainers), so it never shows `???` or crashes.

use std::collections::HashMap;

use poem::Request;
use poem::http::StatusCode;
use serde_json::{Value, json};

use super::packument::iso;
use super::{NpmEndpoint, NpmResult, json};
use crate::error::ApiError;

fn query_params(req: &Request) -> HashMap<String, String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    req.uri()
        .query()
        .map(|q| {
            q.split('&')
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub async fn search(ep: &NpmEndpoint, req: &Request) -> NpmResult {
    ep.caller(req).await?;
    let params = query_params(req);
    let text = params
        .get("text")
        .map(|t| t.to_lowercase())
        .unwrap_or_default();
    let terms: Vec<&str> = text.split_whitespace().collect();
    let size = params
        .get("size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 250);
    let from = params
        .get("from")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);

    let packages = ep
        .core
        .store
        .list_packages()
        .await
        .map_err(ApiError::internal)?;
    let mut hits = Vec::new();
    for pkg in packages {
        let Some(latest) = pkg.dist_tags.get("latest") else {
            continue;
        };
        let Some(v) = ep
            .core
            .store
            .version(&pkg.name, latest)
            .await
            .map_err(ApiError::internal)?
        else {
            continue;
        };
        let description = v
            .manifest
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let keywords: Vec<String> = v
            .manifest
            .get("keywords")
            .and_then(Value::as_array)
            .map(|k| {
                k.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let haystack =
            format!("{} {} {}", pkg.name, description, keywords.join(" ")).to_lowercase();
        if !terms.iter().all(|t| haystack.contains(t)) {
            continue;
        }
        let score: f64 = if terms.len() == 1 && pkg.name == terms[0] {
            1.0
        } else if terms.iter().all(|t| pkg.name.contains(t)) {
            0.8
        } else {
            0.5
        };
        hits.push((score, pkg, v, description, keywords));
    }
    hits.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let total = hits.len();
    let mut emails: HashMap<String, String> = HashMap::new();
    for user in ep
        .core
        .store
        .list_users()
        .await
        .map_err(ApiError::internal)?
    {
        emails.insert(user.name, user.email);
    }
    let person =
        |u: &str| json!({"username": u, "email": emails.get(u).cloned().unwrap_or_default()});
    let objects: Vec<Value> = hits
        .into_iter()
        .skip(from)
        .take(size)
        .map(|(score, pkg, v, description, keywords)| {
            json!({
                "package": {
                    "name": pkg.name,
                    "scope": pkg.name.strip_prefix('@').and_then(|s| s.split_once('/')).map(|(s, _)| s).unwrap_or("unscoped"),
                    "version": v.version,
                    "description": description,
                    "keywords": keywords,
                    "date": iso(v.published_at),
                    "links": {"npm": format!("{}/npm/{}", ep.core.public_url, pkg.name)},
                    "publisher": person(&v.published_by),
                    "maintainers": pkg.owners.iter().map(|o| person(o)).collect::<Vec<_>>(),
                },
                "flags": {},
                "score": {"final": score, "detail": {"quality": score, "popularity": 0.0, "maintenance": 1.0}},
                "searchScore": score,
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({"objects": objects, "total": total, "time": httpdate::fmt_http_date(std::time::SystemTime::now())}),
    ))
}
