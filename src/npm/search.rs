//! `GET /-/v1/search`: the search index in npm's response shape, with every field `npm search`
//! prints (version, date, publisher, maintainers), so it never shows `???` or crashes.
//! `score.final` is relevance relative to the best match (0..1), `searchScore` the raw score.

use std::collections::HashMap;

use poem::Request;
use poem::http::StatusCode;
use serde_json::{Value, json};

use super::{NpmEndpoint, NpmResult, json};
use crate::error::ApiError;
use crate::search::{Ecosystem, Origin};

pub(crate) fn query_params(req: &Request) -> HashMap<String, String> {
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
    let reader = ep.reader(req).await?;
    let params = query_params(req);
    let page = crate::api::search::search(
        &ep.core,
        &reader,
        params.get("text").cloned().unwrap_or_default(),
        Ecosystem::Npm,
        params.get("from").map(String::as_str),
        params.get("size").map(String::as_str),
        "size",
    )
    .await?;
    // Accounts here say nothing about upstream maintainers of the same name, so only local
    // packages show e-mail addresses; each user is looked up once per page.
    let mut emails: HashMap<String, Option<String>> = HashMap::new();
    for hit in page.hits.iter().filter(|h| h.doc.origin == Origin::Local) {
        for user in hit.doc.maintainers.iter().chain(hit.doc.publisher.iter()) {
            if !emails.contains_key(user) {
                let found = ep.core.store.user(user).await.map_err(ApiError::internal)?;
                emails.insert(user.clone(), found.map(|u| u.email));
            }
        }
    }
    let person = |u: &str, origin: Origin| {
        let email = match origin {
            Origin::Local => emails.get(u).cloned().flatten().unwrap_or_default(),
            Origin::Cached => String::new(),
        };
        json!({"username": u, "email": email})
    };
    let max = page.max_score.max(f64::MIN_POSITIVE);
    let objects: Vec<Value> = page
        .hits
        .into_iter()
        .map(|hit| {
            let d = hit.doc;
            let relevance = if page.max_score > 0.0 { hit.score / max } else { 1.0 };
            let popularity = ((1.0 + d.downloads_30d as f64).log10() / 6.0).min(1.0);
            let mut links = json!({"npm": format!("{}/npm/{}", ep.core.url_base(), d.name)});
            for (key, value) in [("homepage", &d.homepage), ("repository", &d.repository), ("bugs", &d.bugs)] {
                if let Some(v) = value {
                    links[key] = json!(v);
                }
            }
            let mut package = json!({
                "name": d.name,
                "scope": d.scope().unwrap_or("unscoped"),
                "version": d.version,
                "description": d.description,
                "keywords": d.keywords,
                "date": d.date,
                "links": links,
                "publisher": person(d.publisher.as_deref().unwrap_or(""), d.origin),
                "maintainers": d.maintainers.iter().map(|m| person(m, d.origin)).collect::<Vec<_>>(),
            });
            if let Some(author) = &d.author {
                package["author"] = json!({"name": author});
            }
            if let Some(license) = &d.license {
                package["license"] = json!(license);
            }
            let mut flags = json!({});
            if let Some(message) = &d.deprecated {
                flags["deprecated"] = json!(message);
            }
            json!({
                "package": package,
                "flags": flags,
                "local": d.origin == Origin::Local,
                "downloads": {"monthly": d.downloads_30d},
                "score": {"final": relevance, "detail": {"quality": relevance, "popularity": popularity, "maintenance": 1.0}},
                "searchScore": hit.score,
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({"objects": objects, "total": page.total, "time": httpdate::fmt_http_date(std::time::SystemTime::now())}),
    ))
}
