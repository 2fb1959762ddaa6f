//! The OpenAPI document as served at `/openapi.json` and shown at `/docs`: poem-openapi's,
//! completed with what every operation can answer although no handler returns it. The edge
//! answers 429 (rate limits) before any handler runs, and a request body that trickles in
//! is 408; both are documented on the operations they can reach, with their `Retry-After`.
//! The same document tells the edge which methods each path takes, for 405's `Allow`.

use serde_json::{Value, json};

/// The served document: `generated` (poem-openapi's JSON) with the edge's answers added.
pub fn complete(generated: &str) -> String {
    let Ok(mut spec) = serde_json::from_str::<Value>(generated) else {
        return generated.to_string();
    };
    let error = json!({"$ref": "#/components/schemas/ErrorBody"});
    let retry_after = json!({
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "format": "int32"}
        }
    });
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|ops| ops.values_mut())
        {
            let has_body = operation.get("requestBody").is_some();
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            responses.entry("429").or_insert_with(|| {
                json!({
                    "description": "Too many requests from this client address (the `rate.*` limits); nothing was done.",
                    "headers": retry_after,
                    "content": {"application/json; charset=utf-8": {"schema": error}}
                })
            });
            if has_body {
                responses.entry("408").or_insert_with(|| {
                    json!({
                        "description": "The request body arrived slower than `server.body_min_bytes_per_sec`; nothing was stored.",
                        "content": {"application/json; charset=utf-8": {"schema": error}}
                    })
                });
            }
            if let Some(busy) = responses.get_mut("503").and_then(Value::as_object_mut) {
                busy.entry("headers").or_insert_with(|| retry_after.clone());
            }
        }
    }
    serde_json::to_string(&spec).unwrap_or_else(|_| generated.to_string())
}

/// Each documented path template (`/packages/{name}`) split in segments, with the methods it
/// takes.
pub fn path_methods(document: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let Ok(spec) = serde_json::from_str::<Value>(document) else {
        return Vec::new();
    };
    let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    paths
        .iter()
        .map(|(template, ops)| {
            let segments = template.split('/').map(str::to_string).collect();
            let methods = ops
                .as_object()
                .map(|o| o.keys().map(|m| m.to_ascii_uppercase()).collect())
                .unwrap_or_default();
            (segments, methods)
        })
        .collect()
}

/// The request body types of every operation that takes a body, from the completed document.
pub fn body_types(document: &str) -> Vec<crate::http::edge::RouteBody> {
    let Ok(spec) = serde_json::from_str::<Value>(document) else {
        return Vec::new();
    };
    let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut bodies = Vec::new();
    for (template, ops) in paths {
        for (method, op) in ops.as_object().into_iter().flatten() {
            let Some(content) = op
                .pointer("/requestBody/content")
                .and_then(Value::as_object)
            else {
                continue;
            };
            bodies.push((
                template.split('/').map(str::to_string).collect(),
                method.to_ascii_uppercase(),
                content.keys().cloned().collect(),
            ));
        }
    }
    bodies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_429_and_body_operations_408() {
        let generated = json!({
            "paths": {
                "/a": {"get": {"responses": {"200": {"description": "ok"}}}},
                "/b": {"post": {"requestBody": {}, "responses": {"503": {"description": "busy"}}}}
            },
            "components": {"schemas": {}}
        })
        .to_string();
        let done: Value = serde_json::from_str(&complete(&generated)).unwrap();
        let a = &done["paths"]["/a"]["get"]["responses"];
        assert!(a["429"]["headers"]["Retry-After"].is_object());
        assert!(a.get("408").is_none());
        let b = &done["paths"]["/b"]["post"]["responses"];
        assert!(b["408"].is_object() && b["429"].is_object());
        assert!(b["503"]["headers"]["Retry-After"].is_object());
        let methods = path_methods(&done.to_string());
        assert!(methods.contains(&(vec!["".into(), "b".into()], vec!["POST".into()])));
    }
}
