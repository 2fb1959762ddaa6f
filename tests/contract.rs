//! Contract fuzzing: schemathesis reads `/openapi.json` from a running registry and throws
//! generated requests at every operation, valid and invalid, with and without a token. Nothing
//! may answer 5xx, and every answer must match what the document says: its status, content
//! type, headers and body schema; invalid input must be refused; a path must answer an
//! undeclared method with 405 and `Allow`; an operation that needs a token must refuse one
//! without.
//!
//! One check is left out everywhere, and one on two paths: `unsupported_method` on
//! `/npm/resolve` and `/npm/download`, which npm also uses (GET, PUT) for packages of those
//! names; and `positive_data_acceptance` wants every request the schema allows
//! accepted, but the schema cannot state every rule (a tarball must be a real package, a date
//! must exist on the calendar), and those requests are rightly refused.
//!
//! The run is bounded by `--max-examples`; schemathesis prints the seed of a failing run, so
//! `st run --seed N` replays it.

use crate::common;

use common::TestApp;
use common::tools::tools;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_answer_that_breaks_the_documented_contract() {
    let st = tools().schemathesis.clone();
    let app = TestApp::start().await;
    // Something to find: without it every read is a 404 and the handlers' real paths go untried.
    let (r, _) = app
        .publish(&app.tokens.alice, "contract-pkg", "1.0.0")
        .await;
    assert_eq!(r.status, 201);
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    let zig = app.get("/zig/packages/plain_pkg/1.0.0").await.json();
    let hash = zig["hash"].as_str().expect("a Zig hash").to_string();
    app.get("/packages/contract-pkg/1.0.0/tarball").await;

    // Half the generated names, versions and hashes are ones that exist.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("schemathesis.toml"),
        format!(
            r#"# Every check but positive_data_acceptance (see above); set here rather than on the
# command line, where it would override the per-operation setting below.
[checks]
positive_data_acceptance.enabled = false

[dictionaries.names]
values = ["contract-pkg", "plain_pkg"]
[dictionaries.versions]
values = ["1.0.0"]
[dictionaries.hashes]
values = ["{hash}"]
[parameters]
"path.name" = {{ dictionary = "names", probability = 0.5 }}
"path.pkg" = {{ dictionary = "names", probability = 0.5 }}
"path.version" = {{ dictionary = "versions", probability = 0.5 }}
"path.hash" = {{ dictionary = "hashes", probability = 0.5 }}

# /npm/resolve and /npm/download are also the npm protocol's paths of packages named
# `resolve` and `download`, which npm reads with GET and publishes with PUT: those methods
# are not undeclared there (the Pantry API takes POST; tests/install.rs checks both sides).
[[operations]]
include-path-regex = "^/npm/(resolve|download)$"
checks.unsupported_method.enabled = false
"#
        ),
    )
    .unwrap();
    let spec = format!("{}/openapi.json", app.url);
    let auth = format!("Authorization: Bearer {}", app.tokens.alice);
    // `timeout`: a hung run fails the test instead of holding CI.
    let out = tokio::process::Command::new("timeout")
        .arg("600")
        .arg(&st)
        .current_dir(dir.path())
        .args(["run", &spec, "-H", &auth])
        // One worker: with several threads, CPython 3.11 can fail inside hypothesis with "AST
        // constructor recursion depth mismatch" (a race in ast.parse), a fault of the tool.
        .args(["--max-examples", "40", "--workers", "1"])
        .args(["--request-timeout", "10", "--max-failures", "20"])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .await
        .unwrap();
    let output =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found contract violations ({}):\n{output}",
        out.status
    );
    // It really ran: every operation was tested.
    let operations = app.get("/openapi.json").await.json()["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|ops| ops.as_object().unwrap().len())
        .sum::<usize>();
    assert!(
        output.contains(&format!("Tested: {operations}")),
        "not every one of {operations} operations was tested:\n{output}"
    );
}
