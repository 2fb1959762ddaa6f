//! The package-manager clients the tests drive, installed on first use into the target
//! directory: npm from the machine, pnpm and yarn 4 from the npm registry, bun's Linux x64
//! binary package from the npm registry, zig, schemathesis and moto (S3 and DynamoDB) from PyPI;
//! for the browser tests, Debian's Chromium (with apt-get) and playwright-core. A file lock
//! keeps parallel test binaries from installing twice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const PNPM: &str = "pnpm@10.34.9";
pub const YARN: &str = "@yarnpkg/cli-dist@4.18.1";
/// The newest bun whose npm package carries the binary on this machine's registry mirror.
pub const BUN: &str = "@oven/bun-linux-x64@1.4.0";
/// Zig from PyPI (the `ziglang` wheel carries the compiler).
pub const ZIG: &str = "ziglang==0.17.1";
/// An older zig, for the hash forms zig 0.14/0.15 print for old-style manifests.
pub const ZIG_015: &str = "ziglang==0.15.2";
/// Contract fuzzing of the OpenAPI document, from PyPI, in a virtualenv of its own.
pub const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// A real S3-compatible server (and DynamoDB), from PyPI, in a virtualenv of its own.
pub const MOTO: &str = "moto[server]==5.2.5";

pub struct Tools {
    pub dir: PathBuf,
    pub npm: PathBuf,
    pub pnpm: PathBuf,
    pub yarn: PathBuf,
    pub bun: PathBuf,
    pub zig: PathBuf,
    pub zig_015: PathBuf,
    /// schemathesis's `st` command.
    pub schemathesis: PathBuf,
    /// moto's `moto_server` command.
    pub moto_server: PathBuf,
    /// A zig global cache kept between runs: the first `zig fetch` compiles zig's fetch tool.
    pub zig_cache: PathBuf,
}

/// Pinned dependency sets for the Python tools, so that a dependency's new release cannot break a
/// fresh install.
const MOTO_CONSTRAINTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/tools/moto-constraints.txt"
);
const SCHEMATHESIS_CONSTRAINTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/tools/schemathesis-constraints.txt"
);

fn install(dir: &Path) {
    let script = format!(
        r#"if [ ! -x node_modules/.bin/pnpm ] || [ ! -x node_modules/.bin/yarn ]; then
  retry npm install --no-audit --no-fund --no-save --prefix . {PNPM} {YARN}
fi
if [ ! -x zig/ziglang/zig ]; then
  rm -rf zig
  retry python3 -m pip install --quiet --disable-pip-version-check --target zig {ZIG}
  chmod +x zig/ziglang/zig
fi
if [ ! -x zig-0.15/ziglang/zig ]; then
  rm -rf zig-0.15
  retry python3 -m pip install --quiet --disable-pip-version-check --target zig-0.15 {ZIG_015}
  chmod +x zig-0.15/ziglang/zig
fi
if [ ! -x schemathesis/bin/st ]; then
  rm -rf schemathesis
  python3 -m venv schemathesis >>install.log 2>&1
  retry schemathesis/bin/pip install --quiet --disable-pip-version-check -c "{SCHEMATHESIS_CONSTRAINTS}" {SCHEMATHESIS}
fi
if [ ! -x moto/bin/moto_server ]; then
  rm -rf moto
  python3 -m venv moto >>install.log 2>&1
  retry moto/bin/pip install --quiet --disable-pip-version-check -c "{MOTO_CONSTRAINTS}" '{MOTO}'
fi
if [ ! -x bun/package/bin/bun ]; then
  rm -rf bun && mkdir -p bun
  retry npm pack --pack-destination bun {BUN}
  tar -xzf bun/*.tgz -C bun && rm bun/*.tgz
fi"#
    );
    install_locked(dir, "the test clients", &script);
}

/// Runs `steps` in `dir` under the folder's lock, with `retry` defined: every download is
/// retried after 5, 20 and 60 s, so one dropped connection to a registry cannot fail a CI run.
/// Each step's output goes to `install.log`; a failure panics with the end of that log.
fn install_locked(dir: &Path, what: &str, steps: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let script = format!(
        r#"set -e
cd "{dir}"
retry() {{
  for wait in 5 20 60; do
    if "$@" >>install.log 2>&1; then return 0; fi
    echo "retrying in $wait s: $*" >>install.log
    sleep $wait
  done
  "$@" >>install.log 2>&1
}}
{steps}"#,
        dir = dir.display()
    );
    if !run_locked(dir, &script) {
        let log = std::fs::read_to_string(dir.join("install.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "installing {what} failed; the end of {}:\n{}",
            dir.join("install.log").display(),
            tail.join("\n")
        );
    }
}

/// Runs an install script under the folder's lock, so parallel test binaries install once;
/// whether it succeeded.
fn run_locked(dir: &Path, script: &str) -> bool {
    Command::new("flock")
        .arg(dir.join(".lock"))
        .args(["sh", "-c", script])
        .status()
        .expect("flock and sh are on the machine")
        .success()
}

/// Installs the clients once per target directory and returns their paths.
pub fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clients");
        install(&dir);
        Tools {
            npm: PathBuf::from("npm"),
            pnpm: dir.join("node_modules/.bin/pnpm"),
            yarn: dir.join("node_modules/.bin/yarn"),
            bun: dir.join("bun/package/bin/bun"),
            zig: dir.join("zig/ziglang/zig"),
            zig_015: dir.join("zig-0.15/ziglang/zig"),
            schemathesis: dir.join("schemathesis/bin/st"),
            moto_server: dir.join("moto/bin/moto_server"),
            zig_cache: dir.join("zig-cache"),
            dir,
        }
    })
}

/// Verdaccio 6.8 from the npm registry, for the import test: the script that runs it. Installed
/// once per target directory (its own folder, so that no other test pays for it), retried like
/// the other clients; node-fetch is pinned as bench/run pins it.
pub const VERDACCIO: &str = "6.8";

pub fn verdaccio() -> &'static Path {
    static VERDACCIO_JS: OnceLock<PathBuf> = OnceLock::new();
    VERDACCIO_JS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verdaccio");
        let script = format!(
            r#"if [ ! -f node_modules/verdaccio/bin/verdaccio ]; then
  cat > package.json <<'JSON'
{{"name": "import-test-verdaccio", "private": true, "dependencies": {{"verdaccio": "{VERDACCIO}"}}, "overrides": {{"node-fetch": "2.7.0"}}}}
JSON
  retry npm install --no-audit --no-fund
fi"#
        );
        install_locked(&dir, "Verdaccio", &script);
        dir.join("node_modules/verdaccio/bin/verdaccio")
    })
}

/// playwright-core from the npm registry: the browser tests' driver, pinned to the release
/// built for the Chromium Debian ships (156 when pinned: bookworm's security updates follow
/// Chromium's stable releases), so both speak the same DevTools protocol. Move it on when
/// Debian's Chromium moves far ahead.
pub const PLAYWRIGHT_CORE: &str = "1.64.1";
/// Debian's Chromium, the browser the web UI tests drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// What the browser tests run: Debian's Chromium and playwright-core.
pub struct Browser {
    /// The chromium binary.
    pub chromium: PathBuf,
    /// The installed `playwright-core` package's folder.
    pub playwright_core: PathBuf,
}

/// Installs Chromium (Debian's package, with apt-get, when the machine has none: that needs
/// root, as CI is) and playwright-core (into its own folder under the target directory, so no
/// other test pays for it), once, under the same lock and retries as the other tools. Never
/// downloads Playwright's own browser builds.
pub fn browser() -> &'static Browser {
    static BROWSER: OnceLock<Browser> = OnceLock::new();
    BROWSER.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
        let script = format!(
            r#"if [ ! -x {CHROMIUM} ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium) or run the tests as root" >>install.log
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  retry apt-get update
  retry apt-get install -y --no-install-recommends chromium
fi
if ! grep -qs '"version": "{PLAYWRIGHT_CORE}"' node_modules/playwright-core/package.json; then
  cat > package.json <<'JSON'
{{"name": "web-test-browser", "private": true, "dependencies": {{"playwright-core": "{PLAYWRIGHT_CORE}"}}}}
JSON
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  retry npm install --no-audit --no-fund
fi"#
        );
        install_locked(&dir, "Chromium and playwright-core", &script);
        Browser {
            chromium: PathBuf::from(CHROMIUM),
            playwright_core: dir.join("node_modules/playwright-core"),
        }
    })
}
