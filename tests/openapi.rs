//! The API documents itself: every Pantry API route is in /openapi.json with its responses,
//! the Swagger UI at /docs is served from the binary, and the spec matches the committed
//! snapshot so an accidental contract change shows up in review.

use crate::common;

use common::TestApp;
use serde_json::Value;

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/openapi.json");

fn statuses(spec: &Value, path: &str, method: &str) -> Vec<String> {
    let op = &spec["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not in the spec");
    assert!(
        !op["summary"].as_str().unwrap_or("").is_empty(),
        "{method} {path} has no summary"
    );
    assert!(
        !op["description"].as_str().unwrap_or("").is_empty(),
        "{method} {path} has no description"
    );
    let mut codes: Vec<String> = op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    codes.sort();
    codes
}

#[tokio::test]
async fn every_route_is_documented_with_its_responses() {
    let app = TestApp::start().await;
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status, 200);
    let spec = r.json();
    assert_eq!(statuses(&spec, "/health", "get"), ["200", "429", "503"]);
    assert_eq!(
        statuses(&spec, "/packages/{name}", "get"),
        ["200", "401", "404", "429", "500", "502", "504"]
    );
    assert_eq!(
        statuses(&spec, "/packages/{name}/{version}", "get"),
        ["200", "401", "404", "429", "500", "502", "504"]
    );
    assert_eq!(
        statuses(&spec, "/packages/{name}/versions", "get"),
        ["200", "401", "429", "500", "502", "504"]
    );
    assert_eq!(
        statuses(&spec, "/packages/{name}/{version}/tarball", "get"),
        [
            "200", "206", "307", "401", "404", "416", "429", "500", "502", "504"
        ]
    );
    assert_eq!(
        statuses(&spec, "/publish", "post"),
        [
            "201", "400", "401", "403", "408", "409", "413", "415", "422", "429", "500", "503"
        ]
    );
    for path in [
        "/downloads/point/{period}/{pkg}",
        "/downloads/range/{period}/{pkg}",
        "/versions/{pkg}/last-week",
    ] {
        assert_eq!(
            statuses(&spec, path, "get"),
            ["200", "400", "401", "404", "429", "500"]
        );
    }
    for path in ["/downloads/point/{period}", "/downloads/range/{period}"] {
        assert_eq!(statuses(&spec, path, "get"), ["200", "400", "429", "500"]);
    }
    let publish = &spec["paths"]["/publish"]["post"];
    assert!(publish["requestBody"]["content"]["multipart/form-data"].is_object());
    assert!(publish["requestBody"]["content"]["application/json"].is_object());
    assert_eq!(publish["security"][0]["bearerToken"], serde_json::json!([]));
    // Reads take a token when the package is private, and need none otherwise.
    assert_eq!(
        spec["paths"]["/packages/{name}"]["get"]["security"],
        serde_json::json!([{"bearerToken": []}, {}])
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["bearerToken"]["scheme"],
        "bearer"
    );
    assert!(spec["paths"]["/packages/{name}/{version}/tarball"]["get"]["responses"]["200"]["content"]["application/gzip"].is_object());
    // Every format a Zig archive is served in, not only the last one declared.
    let zig_archive = &spec["paths"]["/zig/packages/{name}/{version}/tarball"]["get"]["responses"]
        ["200"]["content"];
    for content_type in [
        "application/gzip",
        "application/x-xz",
        "application/zstd",
        "application/x-tar",
        "application/zip",
    ] {
        assert!(zig_archive[content_type].is_object(), "{content_type}");
    }
    // What the edge answers before any handler runs is documented on every operation.
    assert!(
        spec["paths"]["/health"]["get"]["responses"]["429"]["headers"]["Retry-After"].is_object()
    );
    assert!(publish_has_retry_after(&spec));
    assert_eq!(spec["servers"][0]["url"], app.url.as_str());

    // Snapshot, without the per-run server URL. UPDATE_SNAPSHOTS=1 rewrites it.
    let mut stable = spec.clone();
    stable.as_object_mut().unwrap().remove("servers");
    let text = serde_json::to_string_pretty(&stable).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(SNAPSHOT, &text).unwrap();
    }
    let committed = std::fs::read_to_string(SNAPSHOT)
        .expect("tests/snapshots/openapi.json exists (UPDATE_SNAPSHOTS=1 creates it)");
    assert_eq!(
        committed, text,
        "the API contract changed: review it, then UPDATE_SNAPSHOTS=1 cargo test --test openapi"
    );
}

/// The schema `schema` stands for, following a `$ref` into the components.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{reference} is not a component schema"));
            let target = &spec["components"]["schemas"][name];
            assert!(target.is_object(), "{reference} is not in the components");
            target
        }
        None => schema,
    }
}

/// Whether `schema` (or what its `$ref` names) carries an example. A union poem-openapi
/// cannot give one (`Counts`: one package's answer or a map of them) has one when each of
/// its branches does, a map when its values do: Swagger UI composes it from those.
fn has_example(spec: &Value, schema: &Value) -> bool {
    let schema = resolve(spec, schema);
    if !schema["example"].is_null() {
        return true;
    }
    if let Some(branches) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
        return branches.iter().all(|b| has_example(spec, b));
    }
    match &schema["additionalProperties"] {
        values @ Value::Object(_) => has_example(spec, values),
        _ => false,
    }
}

/// The JSON media types of `content` (`application/json`, with or without a charset).
fn json_media(content: &Value) -> Vec<(&String, &Value)> {
    content
        .as_object()
        .map(|media| {
            media
                .iter()
                .filter(|(ty, _)| ty.split(';').next() == Some("application/json"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn every_json_body_and_success_answer_has_an_example() {
    let app = TestApp::start().await;
    let spec = app.get("/openapi.json").await.json();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let mut bodies = Vec::new();
            for (ty, media) in json_media(&op["requestBody"]["content"]) {
                bodies.push((format!("request {ty}"), media));
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('2') {
                    for (ty, media) in json_media(&response["content"]) {
                        bodies.push((format!("{status} {ty}"), media));
                    }
                }
            }
            for (what, media) in bodies {
                checked += 1;
                if media["example"].is_null() && !has_example(&spec, &media["schema"]) {
                    missing.push(format!("{} {path}: {what}", method.to_uppercase()));
                }
            }
        }
    }
    assert!(checked > 40, "only {checked} JSON bodies found");
    assert!(
        missing.is_empty(),
        "no example for:\n{}",
        missing.join("\n")
    );
}

fn publish_has_retry_after(spec: &Value) -> bool {
    spec["paths"]["/publish"]["post"]["responses"]["503"]["headers"]["Retry-After"].is_object()
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = TestApp::start().await;
    let r = app.get("/docs").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").starts_with("text/html"));
    assert!(
        r.header("content-security-policy")
            .contains("script-src 'self';"),
        "/docs is under the pages' CSP"
    );
    let html = String::from_utf8(r.body).unwrap();
    for cdn in ["unpkg.com", "jsdelivr", "cdnjs", "<script src=\"http"] {
        assert!(!html.contains(cdn), "/docs loads {cdn}");
    }
    assert!(!html.contains("<script>"), "no inline script: {html}");
    // The bundle is served from the binary under a hashed name, cached for good.
    let bundle = html
        .split("<script src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    assert!(bundle.starts_with("/assets/swagger-ui-bundle."), "{bundle}");
    let r = app.get(&bundle).await;
    assert_eq!(r.status, 200);
    assert!(r.header("cache-control").contains("immutable"));
    assert!(String::from_utf8_lossy(&r.body).contains("SwaggerUIBundle"));
    let home = app.get("/").await;
    assert_eq!(
        app.client
            .delete(format!("{}/", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    assert_eq!(home.status, 200);
    assert!(String::from_utf8(home.body).unwrap().contains("/docs"));
}
