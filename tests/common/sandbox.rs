//! A sandbox for the real package-manager clients: its own HOME, caches and config, so nothing
//! leaks between tests or from the developer's machine.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use super::TestApp;

/// A client's sandbox: its own HOME, caches and config, so nothing leaks between tests or from
/// the developer's machine.
pub struct Sandbox {
    pub root: tempfile::TempDir,
    pub registry: String,
}

impl Sandbox {
    pub fn new(app: &TestApp) -> Self {
        Self::at(&app.url)
    }

    /// A sandbox whose clients use the registry at `url` (a separate process, say).
    pub fn at(url: &str) -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("home")).unwrap();
        let registry = format!("{url}/npm/");
        let sandbox = Sandbox { root, registry };
        sandbox.write_npmrc(None);
        sandbox
    }

    pub fn npmrc(&self) -> PathBuf {
        self.root.path().join("npmrc")
    }

    /// `registry=` plus, when given, the token for it (what `npm login` writes).
    pub fn write_npmrc(&self, token: Option<&str>) {
        let mut text = format!("registry={}\n", self.registry);
        if let Some(t) = token {
            let host_path = self.registry.trim_start_matches("http:");
            text.push_str(&format!("{host_path}:_authToken={t}\n"));
        }
        std::fs::write(self.npmrc(), text).unwrap();
    }

    pub fn token_in_npmrc(&self) -> Option<String> {
        std::fs::read_to_string(self.npmrc())
            .unwrap()
            .lines()
            .find_map(|l| {
                l.split_once(":_authToken=")
                    .map(|(_, t)| t.trim_matches('"').to_string())
            })
    }

    /// A directory under the sandbox with a package.json and an index.js.
    pub fn package(&self, dir: &str, manifest: Value) -> PathBuf {
        let path = self.root.path().join(dir);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(
            path.join("package.json"),
            serde_json::to_string_pretty(&manifest).unwrap(),
        )
        .unwrap();
        std::fs::write(path.join("index.js"), "module.exports = 'hello';\n").unwrap();
        std::fs::write(
            path.join("README.md"),
            format!("# {}\n", manifest["name"].as_str().unwrap()),
        )
        .unwrap();
        path
    }

    /// `.yarnrc.yml` (yarn 4 against the sandbox's registry, node_modules, no telemetry, no
    /// global cache, plus `extra` lines) and an empty `yarn.lock` in `project`.
    pub fn configure_yarn(&self, project: &Path, extra: &str) {
        std::fs::write(
            project.join(".yarnrc.yml"),
            format!(
                "npmRegistryServer: \"{}\"\nunsafeHttpWhitelist: [\"127.0.0.1\"]\nnpmMinimalAgeGate: 0\nnodeLinker: node-modules\nenableTelemetry: false\nenableGlobalCache: false\n{extra}",
                self.registry
            ),
        )
        .unwrap();
        std::fs::write(project.join("yarn.lock"), "").unwrap();
    }

    /// `bunfig.toml` in `project`: bun against the sandbox's registry.
    pub fn configure_bun(&self, project: &Path) {
        std::fs::write(
            project.join("bunfig.toml"),
            format!("[install]\nregistry = \"{}\"\n", self.registry),
        )
        .unwrap();
    }

    /// Runs a client with the sandbox's environment; fails the test after 3 minutes.
    pub async fn run(&self, program: &Path, args: &[&str], cwd: &Path) -> Output {
        let home = self.root.path().join("home");
        let mut cmd = tokio::process::Command::new("timeout");
        cmd.arg("180").arg(program).args(args).current_dir(cwd);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().to_string();
            if key.to_ascii_lowercase().starts_with("npm_config_")
                || key.starts_with("YARN_")
                || key.starts_with("BUN_")
            {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", &home)
            .env("npm_config_userconfig", self.npmrc())
            .env("npm_config_cache", self.root.path().join("npm-cache"))
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("YARN_CACHE_FOLDER", self.root.path().join("yarn-cache"))
            .env("YARN_ENABLE_TELEMETRY", "0")
            .env("YARN_ENABLE_GLOBAL_CACHE", "false")
            .env("YARN_ENABLE_IMMUTABLE_INSTALLS", "false")
            .env("BUN_INSTALL_CACHE_DIR", self.root.path().join("bun-cache"))
            .env("NO_COLOR", "1")
            .env("CI", "true");
        cmd.output().await.unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub async fn ok(&self, program: &Path, args: &[&str], cwd: &Path) -> String {
        let out = self.run(program, args, cwd).await;
        assert!(
            out.status.success(),
            "{} {args:?} failed ({}):\n{}\n{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// What npm's `package-lock.json` in `project` pins: `(name@version, integrity, resolved)` for
/// every installed package, bundled ones (which come inside their parent's tarball) left out.
pub fn npm_lock(project: &Path) -> Vec<(String, String, String)> {
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("package-lock.json")).unwrap())
            .unwrap();
    lock["packages"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["inBundle"] != true)
        .filter_map(|(path, p)| {
            let name = path.rsplit_once("node_modules/")?.1.to_string();
            Some((
                format!("{name}@{}", p["version"].as_str()?),
                p["integrity"].as_str().unwrap_or_default().to_string(),
                p["resolved"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}
