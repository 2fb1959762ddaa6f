//! Browser tests: a scenario in `tests/browser/` runs in Debian's headless Chromium, driven by
//! playwright-core through `tests/browser/run.mjs`, against a registry the test started; what
//! the browser did comes back as a [`ScenarioResult`]. Screenshots go to `target/screenshots/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use super::TestApp;
use super::tools::browser;

/// How long one scenario may take in the browser, and how long the whole node process may take
/// (Chromium's start and close included) before it is stopped.
const SCENARIO_DEADLINE_SECS: u64 = 120;
const PROCESS_TIMEOUT_SECS: u64 = 150;

/// One request the browser made (or tried to: `failure` says why it did not complete, such as
/// `net::ERR_BLOCKED_BY_CLIENT` for one to another origin, which the runner never sends).
#[derive(Debug, Clone, Deserialize)]
pub struct BrowserRequest {
    pub url: String,
    pub method: String,
    /// Playwright's resource type: document, script, stylesheet, image, fetch, websocket, …
    #[serde(rename = "type")]
    pub resource_type: String,
    /// `desktop` or `phone`.
    pub context: String,
    #[serde(default)]
    pub failure: Option<String>,
}

/// What the browser did during a scenario.
#[derive(Debug, Clone, Deserialize)]
pub struct ScenarioResult {
    pub requests: Vec<BrowserRequest>,
    pub console_errors: Vec<Value>,
    pub page_errors: Vec<Value>,
    /// `securitypolicyviolation` events: a script, style or request the page's CSP refused.
    pub csp_violations: Vec<Value>,
    /// Calls of alert/confirm/prompt and pushes to `window.__xss`, as the pages made them.
    pub effects: Vec<Value>,
    /// Dialogs the pages opened (each was dismissed).
    pub dialogs: Vec<Value>,
    /// What the scenario's `run` returned.
    pub value: Value,
    /// The scenario's exception, when it threw.
    pub error: Option<String>,
}

impl ScenarioResult {
    /// Whether any XSS hook fired: a dialog, an alert/confirm/prompt call or a `window.__xss`
    /// push.
    pub fn xss_fired(&self) -> bool {
        !self.effects.is_empty() || !self.dialogs.is_empty()
    }

    /// The requests to anywhere but `base`'s origin (`data:` URLs and `blob:` URLs of that
    /// origin are the page's own).
    pub fn foreign_requests(&self, base: &str) -> Vec<&BrowserRequest> {
        let origin = reqwest::Url::parse(base).expect("a base URL").origin();
        self.requests
            .iter()
            .filter(|r| {
                !r.url.starts_with("data:")
                    && reqwest::Url::parse(&r.url).map(|u| u.origin()).ok() != Some(origin.clone())
            })
            .collect()
    }

    /// Asserts that no request left `base`'s origin.
    pub fn assert_same_origin(&self, base: &str) {
        let foreign = self.foreign_requests(base);
        assert!(
            foreign.is_empty(),
            "requests left the registry's origin {base}:\n{}",
            foreign
                .iter()
                .map(|r| format!(
                    "  {} {} ({}, {})",
                    r.method, r.url, r.resource_type, r.context
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Asserts that the pages logged no console error, threw nothing and broke no CSP rule.
    pub fn assert_clean(&self) {
        assert!(
            self.console_errors.is_empty()
                && self.page_errors.is_empty()
                && self.csp_violations.is_empty(),
            "the pages reported errors:\nconsole: {:#?}\npage: {:#?}\nCSP: {:#?}",
            self.console_errors,
            self.page_errors,
            self.csp_violations
        );
    }
}

/// Where the tests write their screenshots: `target/screenshots/` (the target directory in use).
pub fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("screenshots")
}

/// Runs `tests/browser/<script>` against the registry at `base_url`, screenshots into
/// `shots_dir`; panics when the scenario throws (with its error, console and page errors).
/// Blocking: from a test that serves the registry in-process, call it on the blocking pool
/// ([`scenario`] does).
pub fn run_scenario(script: &str, base_url: &str, shots_dir: &Path) -> ScenarioResult {
    run_scenario_with(script, base_url, shots_dir, &Value::Null)
}

/// [`run_scenario`] with `params` handed to the scenario (its `params`).
pub fn run_scenario_with(
    script: &str,
    base_url: &str,
    shots_dir: &Path,
    params: &Value,
) -> ScenarioResult {
    let tools = browser();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    // Chromium's profile, caches and certificate store stay in the run's own folder.
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .args(["--kill-after=10", &PROCESS_TIMEOUT_SECS.to_string(), "node"])
        .arg(scripts.join("run.mjs"))
        .arg(scripts.join(script))
        .arg(base_url)
        .arg(shots_dir)
        .env("HOME", home.path())
        .env("TMPDIR", home.path())
        .env("PLAYWRIGHT_CORE", &tools.playwright_core)
        .env("CHROMIUM", &tools.chromium)
        .env("SCENARIO_PARAMS", params.to_string())
        .env(
            "SCENARIO_DEADLINE_MS",
            (SCENARIO_DEADLINE_SECS * 1000).to_string(),
        )
        .output()
        .expect("node is on the machine");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let result: ScenarioResult = match serde_json::from_str(&stdout) {
        Ok(result) => result,
        Err(e) => panic!(
            "scenario {script} printed no result ({}, {e}):\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        ),
    };
    if let Some(error) = &result.error {
        panic!(
            "scenario {script} failed (screenshots as it failed in {}):\n{error}\n\
             console errors: {:#?}\npage errors: {:#?}\nstderr: {stderr}",
            shots_dir.display(),
            result.console_errors,
            result.page_errors
        );
    }
    result
}

/// One browser at a time in a test process: several Chromiums on two cores slow each other
/// past their timeouts.
static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `script` against `app` on the blocking pool, so the in-process server keeps serving,
/// with screenshots in [`screenshots_dir`].
pub async fn scenario(app: &TestApp, script: &str, params: Value) -> ScenarioResult {
    let (script, base) = (script.to_string(), app.url.clone());
    tokio::task::spawn_blocking(move || {
        let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
        run_scenario_with(&script, &base, &screenshots_dir(), &params)
    })
    .await
    .unwrap()
}
