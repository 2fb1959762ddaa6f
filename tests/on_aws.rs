//! The representative suites again, with every registry on DynamoDB + S3 (each test's own moto
//! server on 127.0.0.1) instead of redb + disk: the Pantry API (`packages`, `publish`), the npm
//! protocol (`npm_api`), Zig (`zig_api`) and the npm fallback (`npm_fallback`). Each suite, a
//! module of the `suite` test binary, runs again with `PANTRY_TEST_BACKEND=aws`, which
//! `common::TestApp` reads. Skipped by name: the few tests that are about the data directory
//! itself (a second registry started on it, the redb file opened, the command line run on it).

mod common;

use std::path::PathBuf;
use std::process::Command;

/// (suite, tests about the data directory itself, fewest tests that must have run).
const SUITES: &[(&str, &[&str], usize)] = &[
    ("packages", &["downloads_are_counted_and_flushed"], 10),
    ("publish", &[], 14),
    ("npm_api", &["gc_removes_only_blobs_nothing_references"], 22),
    (
        "zig_api",
        &[
            "owners_only_and_survives_a_restart",
            "dependencies_and_minimum_zig_version_are_kept_and_downloads_counted",
        ],
        6,
    ),
    (
        "npm_fallback",
        &[
            "the_pantry_api_uses_the_same_fallback",
            "cache_prune_command_removes_proxied_tarballs_only",
            "offline_mode_serves_what_is_cached",
        ],
        15,
    ),
];

/// The newest build of the integration test binary `suite`, beside this one.
fn suite_binary() -> PathBuf {
    let here = std::env::current_exe().unwrap();
    let deps = here.parent().unwrap();
    let prefix = "suite-";
    std::fs::read_dir(deps)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.starts_with(prefix)
                && !name.contains('.')
                && name[prefix.len()..].chars().all(|c| c.is_ascii_hexdigit())
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
        .unwrap_or_else(|| panic!("no suite test binary in {}", deps.display()))
}

#[test]
fn the_api_npm_zig_and_fallback_suites_pass_on_dynamodb_and_s3() {
    // moto is installed once, here, before the suites start their servers.
    common::tools::tools();
    for (suite, skip, fewest) in SUITES {
        let mut cmd = Command::new(suite_binary());
        cmd.env(common::BACKEND_ENV, "aws")
            .args([&format!("{suite}::"), "--test-threads", "2"]);
        for name in *skip {
            cmd.args(["--skip", name]);
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the {suite} suite on DynamoDB + S3:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let passed: usize = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("test result: ok. "))
            .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
            .sum();
        assert!(
            passed >= *fewest,
            "the {suite} suite ran {passed} tests on DynamoDB + S3:\n{stdout}"
        );
        eprintln!("{suite}: {passed} tests passed on DynamoDB + S3");
    }
}
