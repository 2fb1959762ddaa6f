//! Hostile input does no harm: what an attacker (or a careless client) sends is refused with a
//! clear JSON error and changes nothing, and secrets never reach the log.

use crate::common;

use common::{BinServer, TestApp, run_bin};
use reqwest::Method;

#[tokio::test]
async fn versions_npm_cannot_read_are_refused_on_every_publish_path() {
    let app = TestApp::start().await;
    let huge = "9999999999999999999.0.0";
    let (r, _) = app.publish(&app.tokens.alice, "big-number", huge).await;
    let message = r.error(400);
    assert!(message.contains("at most 9007199254740991"), "{message}");
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "big-number", huge, "latest")
        .await;
    assert!(r.error(400).contains("at most 9007199254740991"));
    // Nothing was stored: the package does not exist, and a sane version still publishes.
    app.npm(Method::GET, "/big-number", None, None)
        .await
        .error(404);
    let (r, _) = app
        .npm_publish(
            &app.tokens.alice,
            "big-number",
            "9007199254740991.0.0",
            "latest",
        )
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn token_routes_never_write_the_token_to_the_log_at_any_level() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let (ok, out, err) = run_bin(
        &[
            "token",
            "create",
            "--user",
            "alice",
            "--service",
            "--init",
            "--data-dir",
            data_arg,
        ],
        &[],
    );
    assert!(ok, "{err}");
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("ptry_"))
        .expect("the new token is printed")
        .to_string();
    let log = dir.path().join("server.log");
    let server = BinServer::start_logged(
        &data,
        &[("PANTRY_LOG_LEVEL", "trace"), ("NPM_FALLBACK", "false")],
        &log,
    );
    let client = reqwest::Client::new();
    let unknown = "ptry_00000000000000000000000000000000000000000000000000000000deadbeef";
    for secret in [unknown, token.as_str()] {
        for path in [
            format!("/npm/-/user/token/{secret}"),
            format!("/npm/-/npm/v1/tokens/token/{secret}"),
        ] {
            client
                .delete(format!("{}{path}", server.url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(server.terminate().code(), Some(0));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("/npm/-/user/token/<redacted>"),
        "the requests were logged:\n{logged}"
    );
    for secret in [unknown, token.as_str()] {
        assert!(
            !logged.contains(secret),
            "a token is in the log:\n{}",
            logged
                .lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A tar stream holding one file entry that declares `declared` bytes and carries `actual`
/// zero bytes, written through `encode` (so a bomb of any size is built in little memory).
fn bomb_tar(path: &str, declared: u64, actual: u64, mut out: impl std::io::Write) {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).unwrap();
    h.set_size(declared);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    out.write_all(h.as_bytes()).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = actual;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    out.write_all(&[0u8; 1024]).unwrap();
}

fn compressed(codec: &str, write: impl FnOnce(&mut dyn std::io::Write)) -> Vec<u8> {
    match codec {
        "tar.gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            write(&mut e);
            e.finish().unwrap()
        }
        "tar.xz" => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
            write(&mut e);
            e.finish().unwrap()
        }
        "tar.zst" => {
            let mut e = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
            write(&mut e);
            e.finish().unwrap()
        }
        other => panic!("{other}"),
    }
}

/// The server's peak resident memory so far, from `/proc`.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}

/// The documented bound on the server's peak memory while it refuses the bombs below (README,
/// "Hostile input"): the debug build, with every bomb sent four at a time.
const PEAK_RSS_BOUND_MIB: u64 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_bombs_are_refused_with_413_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let token = "hostile-admin-token-0123456789";
    let server = BinServer::start(
        &dir.path().join("data"),
        &[("PANTRY_REGISTRY_TOKEN", token), ("NPM_FALLBACK", "false")],
    );
    let pid = server.child.id();
    let before = peak_rss_mib(pid);
    let gib = 1u64 << 30;
    let client = reqwest::Client::new();

    // Zig archives in every compressed format: one whose header declares a gigabyte, and one
    // whose header lies (1 KiB declared) above 300 MiB of zeros.
    let mut cases = Vec::new();
    for codec in ["tar.gz", "tar.xz", "tar.zst"] {
        cases.push((
            codec,
            "declares 1 GiB",
            compressed(codec, |w| bomb_tar("bomb-1.0.0/big.bin", gib, 64 << 20, w)),
        ));
        cases.push((
            codec,
            "lies about 300 MiB",
            compressed(codec, |w| {
                bomb_tar("bomb-1.0.0/big.bin", 1024, 300 << 20, w)
            }),
        ));
    }
    for (codec, what, archive) in &cases {
        assert!(
            archive.len() < 4 << 20,
            "{codec} {what}: {} bytes",
            archive.len()
        );
        let sends = (0..4).map(|_| {
            let form = reqwest::multipart::Form::new().part(
                "tarball",
                reqwest::multipart::Part::bytes(archive.clone())
                    .file_name(format!("bomb-1.0.0.{codec}")),
            );
            client
                .post(format!("{}/zig/publish", server.url))
                .bearer_auth(token)
                .multipart(form)
                .send()
        });
        for r in futures_util::future::join_all(sends).await {
            let r = r.unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(status, 413, "{codec} {what}: {body}");
            assert!(
                body["error"].as_str().unwrap().contains("more than"),
                "{codec} {what}: {body}"
            );
        }
    }

    // npm tarballs: a PAX header that declares a gigabyte (the tar reader would read it into
    // memory whole), sent eight at a time.
    let pax_bomb = compressed("tar.gz", |w| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(gib);
        h.set_cksum();
        w.write_all(h.as_bytes()).unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..64 {
            w.write_all(&chunk).unwrap();
        }
    });
    let sends = (0..8).map(|_| {
        let form = reqwest::multipart::Form::new()
            .text("metadata", r#"{"name":"pax-bomb","version":"1.0.0"}"#)
            .part(
                "tarball",
                reqwest::multipart::Part::bytes(pax_bomb.clone()).file_name("p.tgz"),
            );
        client
            .post(format!("{}/publish", server.url))
            .bearer_auth(token)
            .multipart(form)
            .send()
    });
    for r in futures_util::future::join_all(sends).await {
        let r = r.unwrap();
        assert_eq!(r.status(), 413);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(
                "extended tar header (PAX or long name) larger than the limit of 65536 bytes"
            ),
            "{body}"
        );
    }
    let peak = peak_rss_mib(pid);
    eprintln!("peak RSS: {before} MiB before the bombs, {peak} MiB after");
    assert!(
        peak < PEAK_RSS_BOUND_MIB,
        "the server peaked at {peak} MiB (bound {PEAK_RSS_BOUND_MIB} MiB)"
    );
    // Nothing was stored, and the server still serves.
    let r = client
        .get(format!("{}/zig/packages/bomb", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// CRC-32 (IEEE), for patching an xz block header in the test below.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn an_xz_stream_asking_for_a_4_gib_dictionary_is_refused_before_it_is_allocated() {
    let app = TestApp::start().await;
    let mut xz = compressed("tar.xz", |w| bomb_tar("x-1.0.0/a", 1, 1, w));
    // The block header after the 12-byte stream header: size, flags, LZMA2 filter (0x21),
    // one property byte (the dictionary size), padding, CRC-32.
    let block = 12;
    assert_eq!(xz[block + 2], 0x21, "an LZMA2 block");
    xz[block + 4] = 40; // 4 GiB - 1
    let header_len = (usize::from(xz[block]) + 1) * 4;
    let crc = crc32(&xz[block..block + header_len - 4]);
    xz[block + header_len - 4..block + header_len].copy_from_slice(&crc.to_le_bytes());
    let r = app
        .zig_publish(Some(&app.tokens.alice), "x-1.0.0.tar.xz", xz, None)
        .await;
    assert_eq!(
        r.error(413),
        "the xz stream needs more than 96 MiB of decoder memory"
    );
}

#[tokio::test]
async fn a_restricted_token_is_refused_before_the_archive_is_opened() {
    let app = TestApp::start().await;
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/zig-vectors/plain_pkg-1.0.0.tar.gz"
    ))
    .unwrap();
    // team_only may publish @team/* only: a Zig name it declares is checked first, and a
    // request that declares none is refused without being unpacked.
    let r = app
        .zig_publish(
            Some(&app.tokens.team_only),
            "plain_pkg-1.0.0.tar.gz",
            bytes.clone(),
            None,
        )
        .await;
    assert!(r.error(403).contains("cannot publish plain_pkg"));
    let r = app
        .zig_publish(
            Some(&app.tokens.team_only),
            "upload.tar.gz",
            bytes.clone(),
            None,
        )
        .await;
    assert!(r.error(403).contains("name the package"));
    // A bomb sent by a token that may not publish it is refused as cheaply.
    let bomb = compressed("tar.gz", |w| {
        bomb_tar("bomb-1.0.0/big.bin", 1 << 30, 64 << 20, w)
    });
    let r = app
        .zig_publish(Some(&app.tokens.team_only), "bomb-1.0.0.tar.gz", bomb, None)
        .await;
    assert_eq!(r.status, 403);
    // Someone else's package: refused from the declared name, before unpacking.
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    let r = app
        .zig_publish(Some(&app.tokens.bob), "plain_pkg-1.0.1.tar.gz", bytes, None)
        .await;
    assert!(r.error(403).contains("not an owner of plain_pkg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stall_mid_request_are_closed_while_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::start_with(|b| b.setting("server.idle_timeout_secs", "2").unwrap()).await;
    let addr = app.url.trim_start_matches("http://").to_string();
    let stalls: [&[u8]; 3] = [
        b"GET /hea",
        b"GET /health HTTP/1.1\r\nHost: x\r\nUser-Ag",
        b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    ];
    let mut stalled = Vec::new();
    for bytes in stalls {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        stalled.push(s);
    }
    let started = std::time::Instant::now();
    // A normal client is served throughout.
    for _ in 0..5 {
        assert_eq!(app.get("/health").await.status, 200);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    for (i, mut s) in stalled.into_iter().enumerate() {
        let mut buf = Vec::new();
        let closed =
            tokio::time::timeout(std::time::Duration::from_secs(6), s.read_to_end(&mut buf)).await;
        assert!(
            closed.is_ok(),
            "stalled connection {i} still open {:?} after it went quiet",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn head_answers_exactly_as_get_without_the_body_everywhere() {
    let app = TestApp::start().await;
    app.npm_publish(&app.tokens.alice, "@s/headed", "1.0.0", "latest")
        .await;
    app.zig_publish_fixture("plain_pkg-1.0.0.tar.gz").await;
    // Search is updated within a second of a publish: wait, so GET and HEAD see one state.
    app.search_settled().await;
    let paths = [
        "/",
        "/health",
        "/openapi.json",
        "/packages/@s/headed",
        "/packages/@s/headed/1.0.0/tarball",
        "/npm/@s%2fheaded",
        "/npm/@s/headed/-/headed-1.0.0.tgz",
        "/zig/packages/plain_pkg/1.0.0/tarball",
        "/search?q=headed",
        "/packages/nothing-here",
        "/no/such/route",
    ];
    for path in paths {
        let url = format!("{}{path}", app.url);
        let get = app.client.get(&url).send().await.unwrap();
        let head = app.client.head(&url).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        for h in [
            "content-type",
            "etag",
            "cache-control",
            "content-disposition",
        ] {
            assert_eq!(head.headers().get(h), get.headers().get(h), "{path}: {h}");
        }
        let head_length = head.headers().get("content-length").cloned();
        let body = get.bytes().await.unwrap();
        assert_eq!(
            head_length.and_then(|v| v.to_str().ok().map(str::to_string)),
            Some(body.len().to_string()),
            "{path}: HEAD's Content-Length is the GET body's length"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
    // A HEAD is not a download.
    let stats = app.get("/analytics/@s/headed").await.json();
    assert_eq!(stats["totalDownloads"], 2, "{stats}");
}

#[tokio::test]
async fn huge_readmes_and_metadata_do_not_grow_every_packument() {
    let app = TestApp::start().await;
    // npm sends the readme inside the version document: 8 MiB of it.
    let tgz = common::npm_tarball(&serde_json::json!({"name": "wordy", "version": "1.0.0"}));
    let mut doc = common::npm_publish_doc("wordy", "1.0.0", "latest", &tgz);
    doc["versions"]["1.0.0"]["readme"] = serde_json::json!("# wordy\n".repeat(1 << 20));
    let r = app
        .npm(Method::PUT, "/wordy", Some(&app.tokens.alice), Some(doc))
        .await;
    assert_eq!(r.status, 201);
    let packument = app.npm(Method::GET, "/wordy", None, None).await;
    assert!(
        packument.body.len() < 100 * 1024,
        "the packument is {} bytes",
        packument.body.len()
    );
    let readme = packument.json()["readme"].as_str().unwrap().len();
    assert_eq!(readme, 65_536, "the first 64 KiB of the readme are kept");
    // A description of 2 MiB sent beside the tarball is over the manifest cap: 413, nothing kept.
    let tgz = common::npm_tarball(&serde_json::json!({"name": "wordier", "version": "1.0.0"}));
    let mut doc = common::npm_publish_doc("wordier", "1.0.0", "latest", &tgz);
    doc["versions"]["1.0.0"]["description"] = serde_json::json!("x".repeat(2 << 20));
    let r = app
        .npm(Method::PUT, "/wordier", Some(&app.tokens.alice), Some(doc))
        .await;
    assert!(
        r.error(413)
            .contains("larger than the limit of 1048576 bytes")
    );
    app.npm(Method::GET, "/wordier", None, None)
        .await
        .error(404);
}

/// CPU seconds the process has used (user + system), from `/proc`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_server_waits_instead_of_spinning_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    // 96 descriptors, and a connection cap above that: accepting runs out of descriptors.
    let mut cmd = std::process::Command::new("sh");
    cmd.args([
        "-c",
        "ulimit -n 96 && exec \"$0\" serve --host 127.0.0.1 --port 0 --data-dir \"$1\" \
         --set server.max_connections=1000 --set server.idle_timeout_secs=3",
    ])
    .arg(common::bin_path())
    .arg(dir.path().join("data"));
    common::clean_env(&mut cmd);
    cmd.env("NPM_FALLBACK", "false");
    let server = BinServer::spawn(cmd, &dir.path().join("server.log"));
    let (url, port, pid) = (server.url.clone(), server.port, server.child.id());

    // An unauthenticated host opens more idle connections than the process has descriptors.
    let mut idle = Vec::new();
    for _ in 0..150 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let cpu_before = cpu_seconds(pid);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let spent = cpu_seconds(pid) - cpu_before;
    assert!(
        spent < 0.5,
        "the server used {spent:.2} s of CPU in 1.5 s while out of descriptors"
    );
    // The idle ones are closed after their timeout; then a normal client is served again.
    drop(idle);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .unwrap();
    let r = client.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    server.kill();
}

#[tokio::test]
async fn clients_over_their_rate_get_429_with_retry_after_and_others_are_not_slowed() {
    let app = TestApp::start_with(|b| {
        b.setting("rate.exempt", "")
            .unwrap()
            .setting("rate.publish_per_minute", "3")
            .unwrap()
            .setting("rate.login_per_minute", "2")
            .unwrap()
    })
    .await;
    for n in 0..3 {
        let (r, _) = app
            .publish(&app.tokens.alice, "rated", &format!("1.0.{n}"))
            .await;
        assert_eq!(r.status, 201);
    }
    let (r, _) = app.publish(&app.tokens.alice, "rated", "1.0.3").await;
    let message = r.error(429);
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert!((1..=20).contains(&retry), "Retry-After: {retry}");
    assert_eq!(
        message,
        format!("Too many write requests: at most 3 a minute from one client; retry in {retry} s")
    );
    // The refused publish did nothing. The limit is the address's, whatever token it sends
    // (a fresh bucket per bearer string would be no limit at all)...
    app.get("/packages/rated/1.0.3").await.error(404);
    let (r, _) = app.publish(&app.tokens.bob, "bobs-own", "1.0.0").await;
    assert_eq!(r.status, 429);
    // ...while another address is not slowed.
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let tgz = common::npm_tarball(&serde_json::json!({"name": "bobs-own", "version": "1.0.0"}));
    let form = reqwest::multipart::Form::new()
        .text("metadata", r#"{"name":"bobs-own","version":"1.0.0"}"#)
        .part(
            "tarball",
            reqwest::multipart::Part::bytes(tgz).file_name("b.tgz"),
        );
    let r = elsewhere
        .post(format!("{}/publish", app.url))
        .bearer_auth(&app.tokens.bob)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Reads are not writes: alice still reads.
    assert_eq!(app.get("/packages/rated").await.status, 200);
    // Login attempts are limited by address, whatever the credentials.
    let login = |n: u32| {
        let body = serde_json::json!({"name": "alice", "password": format!("wrong-{n}")});
        app.npm(
            Method::PUT,
            "/-/user/org.couchdb.user:alice",
            None,
            Some(body),
        )
    };
    assert_ne!(login(0).await.status, 429);
    assert_ne!(login(1).await.status, 429);
    assert_eq!(login(2).await.status, 429);
}

#[tokio::test]
async fn dist_tags_are_capped_on_every_path_that_adds_one() {
    let app = TestApp::start_with(|b| b.setting("limits.max_dist_tags", "3").unwrap()).await;
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "tagged", "1.0.0", "latest")
        .await;
    assert_eq!(r.status, 201);
    let app = &app;
    let tag = |t: &'static str| async move {
        let path = format!("/-/package/tagged/dist-tags/{t}");
        app.npm(
            Method::PUT,
            &path,
            Some(&app.tokens.alice),
            Some(serde_json::json!("1.0.0")),
        )
        .await
    };
    assert_eq!(tag("beta").await.status, 201);
    assert_eq!(tag("next").await.status, 201);
    let message = tag("canary").await.error(400);
    assert_eq!(
        message,
        "A package has at most 3 dist-tags (limits.max_dist_tags); remove one first"
    );
    // Moving an existing tag is fine; a publish that adds a fourth is refused like the PUT.
    assert_eq!(tag("beta").await.status, 201);
    let (r, _) = app
        .npm_publish(&app.tokens.alice, "tagged", "1.1.0", "canary")
        .await;
    assert_eq!(r.error(400), message);
    let tags = app
        .npm(Method::GET, "/-/package/tagged/dist-tags", None, None)
        .await
        .json();
    assert_eq!(tags.as_object().unwrap().len(), 3, "{tags}");
}

#[tokio::test]
async fn a_gnu_sparse_entry_is_refused_before_its_holes_are_made_up() {
    let app = TestApp::start().await;
    // A GNU sparse header claiming a 2^62-byte file made of one hole: the tar reader would
    // produce the zeros itself, forever, with nothing on the wire to count.
    let mut h = tar::Header::new_gnu();
    h.set_path("package/package.json").unwrap();
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_size(0);
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.realsize = [0x80, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    }
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend_from_slice(&[0; 1024]);
    let tgz = compressed("tar.gz", |w| w.write_all(&tar).unwrap());
    let r = app
        .publish_multipart(
            Some(&app.tokens.alice),
            r#"{"name":"holes","version":"1.0.0"}"#,
            tgz,
        )
        .await;
    assert!(r.error(400).contains("GNU sparse"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    use tokio::io::AsyncReadExt;
    let app = TestApp::start_with(common::with_settings(&[
        ("rate.exempt", ""),
        ("server.max_connections_per_address", "4"),
    ]))
    .await;
    let addr = app.url.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // The fifth from the same address is closed at once.
    let mut fifth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), fifth.read(&mut buf))
        .await
        .expect("the fifth connection was left open");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    // Another address is served meanwhile.
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = elsewhere
        .get(format!("{}/health", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // When one of the four closes, the address gets its place back, once the server has seen
    // the close (until then a new connection is still the fifth).
    drop(held.pop());
    let closed_at = std::time::Instant::now();
    let status = loop {
        let fresh = reqwest::Client::new();
        match fresh.get(format!("{}/health", app.url)).send().await {
            Ok(r) => break r.status(),
            Err(e) => assert!(
                closed_at.elapsed() < std::time::Duration::from_secs(10),
                "the address did not get its place back: {e}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(status, 200);
}

/// Reads what the server sends until it closes the connection, for at most `secs`; `None` when
/// the connection is still open then.
async fn read_until_closed(
    s: &mut (impl tokio::io::AsyncRead + Unpin),
    secs: u64,
) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(secs), async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&buf).into_owned())
}

/// Sends `PUT /npm/probe` from `ip` with a body of `length` bytes that is no publish document,
/// again until the answer starts with `expected` (15 s at most), and returns that answer: the
/// moment the body budget is as a test set it up. The whole body goes at once, so a probe the
/// budget admits is answered 400 at once and gives its room back before anyone waits for it.
async fn probe_body_budget(
    addr: &str,
    ip: &str,
    token: &str,
    length: usize,
    expected: &str,
) -> String {
    use tokio::io::AsyncWriteExt;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        let s = socket.connect(addr.parse().unwrap()).await.unwrap();
        let mut request = format!(
            "PUT /npm/probe HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\
             Connection: close\r\n\r\n"
        )
        .into_bytes();
        request.resize(request.len() + length, b'x');
        let (mut reader, mut writer) = tokio::io::split(s);
        // A refused probe is answered without its body being read: the write may stall, so
        // the answer is read alongside it.
        let (_, answer) = tokio::join!(
            async move { writer.write_all(&request).await },
            read_until_closed(&mut reader, 5)
        );
        let answer = answer.unwrap_or_default();
        if answer.starts_with(expected) {
            return answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the body budget never answered {expected:?}; the last answer: {answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Opens a connection, sends `head`, then `drip` every `every_ms` until the server closes it.
/// Returns what the server answered, or `None` if it did not close within `secs`.
async fn trickle(
    addr: &str,
    head: String,
    drip: &'static [u8],
    every_ms: u64,
    secs: u64,
) -> Option<String> {
    use tokio::io::AsyncWriteExt;
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = tokio::io::split(s);
    writer.write_all(head.as_bytes()).await.unwrap();
    let dripping = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(every_ms)).await;
            if writer.write_all(drip).await.is_err() {
                break;
            }
        }
    });
    let answer = read_until_closed(&mut reader, secs).await;
    dripping.abort();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_headers_and_bodies_are_cut_off_while_others_are_served() {
    let app = TestApp::start_with(common::with_settings(&[
        ("server.header_read_timeout_secs", "2"),
        ("server.body_min_bytes_per_sec", "2000"),
        ("server.body_rate_grace_secs", "1"),
    ]))
    .await;
    let addr = app.url.trim_start_matches("http://").to_string();
    // Each drip keeps the connection far from its idle timeout (120 s): only the header
    // timeout and the body's minimum rate can end these.
    let headers = tokio::spawn({
        let addr = addr.clone();
        async move {
            let started = std::time::Instant::now();
            let answer = trickle(
                &addr,
                "GET /health HTTP/1.1\r\nHost: x\r\n".into(),
                b"X",
                200,
                8,
            )
            .await;
            (answer, started.elapsed())
        }
    });
    let body = tokio::spawn({
        let addr = addr.clone();
        let token = app.tokens.alice.clone();
        async move {
            let head = format!(
                "PUT /npm/trickled HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"name\":"
            );
            let started = std::time::Instant::now();
            // 50 bytes every 100 ms: 500 bytes a second, under the 2,000 required.
            let answer = trickle(&addr, head, &[b' '; 50], 100, 10).await;
            (answer, started.elapsed())
        }
    });
    // A normal client is served throughout.
    for _ in 0..6 {
        assert_eq!(app.get("/health").await.status, 200);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let (answer, took) = headers.await.unwrap();
    assert!(
        answer.is_some(),
        "trickled headers still open after {took:?}"
    );
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    let (answer, took) = body.await.unwrap();
    let answer = answer.unwrap_or_else(|| panic!("a trickled body still open after {took:?}"));
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
    assert!(answer.contains("server.body_min_bytes_per_sec"), "{answer}");
    app.npm(Method::GET, "/trickled", None, None)
        .await
        .error(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_slower_to_handle_than_the_idle_timeout_is_answered() {
    let up = common::upstream::FakeUpstream::start().await;
    up.publish("slow-upstream", "1.0.0", serde_json::json!({}));
    up.state
        .packument_delay_ms
        .store(2_500, std::sync::atomic::Ordering::SeqCst);
    let app = TestApp::start_with(common::fallback_to(
        &up.url,
        &[("server.idle_timeout_secs", "1")],
    ))
    .await;
    // The client waits in silence for 2.5 s while the server asks the upstream: that quiet is
    // the server's, not the client's, and does not close the connection.
    let r = app.npm(Method::GET, "/slow-upstream", None, None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["name"], "slow-upstream");
}

#[tokio::test]
async fn oversized_and_unparsable_requests_get_json_errors() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::start().await;
    let addr = app.url.trim_start_matches("http://").to_string();
    let send = |request: Vec<u8>| {
        let addr = addr.clone();
        async move {
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            // The server may answer (and close) before it has read everything.
            let _ = s.write_all(&request).await;
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                s.read_to_end(&mut answer),
            )
            .await;
            let text = String::from_utf8_lossy(&answer).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let error = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| panic!("no JSON error in {text:?}"));
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: application/json"),
                "{head}"
            );
            (status, error)
        }
    };
    let big_header = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    let (status, error) = send(big_header.into_bytes()).await;
    assert_eq!(status, 431);
    assert!(error.contains("server.max_header_bytes"), "{error}");
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, error) =
        send(format!("GET /health HTTP/1.1\r\nHost: x\r\n{many}\r\n").into_bytes()).await;
    assert_eq!(status, 431);
    assert!(error.contains("server.max_headers"), "{error}");
    let long_target = format!(
        "GET /search?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "q".repeat(9_000)
    );
    let (status, error) = send(long_target.into_bytes()).await;
    assert_eq!(status, 414);
    assert!(error.contains("8192 bytes"), "{error}");
    let (status, _) = send(b"NOT HTTP AT ALL\r\n\r\n".to_vec()).await;
    assert_eq!(status, 400);
    // Nothing above disturbed the server.
    assert_eq!(app.get("/health").await.status, 200);
}

#[tokio::test]
async fn http2_clients_are_served() {
    let app = TestApp::start().await;
    app.npm_publish(&app.tokens.alice, "@s/two", "1.0.0", "latest")
        .await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2.get(format!("{}/health", app.url)).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let r = h2
        .get(format!("{}/npm/@s%2ftwo", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    // Many requests at once on the one connection.
    let all = futures_util::future::join_all(
        (0..50).map(|_| h2.get(format!("{}/health", app.url)).send()),
    )
    .await;
    assert!(all.into_iter().all(|r| r.unwrap().status() == 200));
}

#[tokio::test]
async fn long_lists_and_metadata_past_the_packument_cap_are_refused() {
    let app =
        TestApp::start_with(|b| b.setting("limits.max_packument_bytes", "4000").unwrap()).await;
    let publish = |manifest: serde_json::Value| {
        let app = &app;
        async move {
            let name = manifest["name"].as_str().unwrap().to_string();
            let version = manifest["version"].as_str().unwrap().to_string();
            let tgz = common::npm_tarball(&manifest);
            let doc = common::npm_publish_doc(&name, &version, "latest", &tgz);
            app.npm(
                Method::PUT,
                &format!("/{name}"),
                Some(&app.tokens.alice),
                Some(doc),
            )
            .await
        }
    };
    let keywords: Vec<String> = (0..101).map(|i| format!("k{i}")).collect();
    let r = publish(serde_json::json!({"name": "listy", "version": "1.0.0", "keywords": keywords}))
        .await;
    assert!(r.error(400).contains("limits.max_keywords"));
    let deps: serde_json::Map<String, serde_json::Value> = (0..1001)
        .map(|i| (format!("d{i}"), "^1.0.0".into()))
        .collect();
    let r = publish(serde_json::json!({"name": "listy", "version": "1.0.0", "dependencies": deps}))
        .await;
    assert!(r.error(400).contains("`dependencies` has 1001 entries"));
    let people: Vec<serde_json::Value> = (0..101)
        .map(|i| serde_json::json!({"name": format!("p{i}")}))
        .collect();
    let r =
        publish(serde_json::json!({"name": "listy", "version": "1.0.0", "contributors": people}))
            .await;
    assert!(r.error(400).contains("limits.max_maintainers"));
    app.npm(Method::GET, "/listy", None, None).await.error(404);
    // Each version's manifest is about 700 bytes: the sixth or so passes 4,000.
    let mut published = 0;
    let refusal = loop {
        let version = format!("1.0.{published}");
        let r = publish(serde_json::json!({
            "name": "growing", "version": version, "description": "x".repeat(500)
        }))
        .await;
        if r.status != 200 && r.status != 201 {
            break r;
        }
        published += 1;
        assert!(published < 20, "the packument cap never applied");
    };
    assert!(published >= 2, "{published}");
    assert!(refusal.error(413).contains("limits.max_packument_bytes"));
    let doc = app.npm(Method::GET, "/growing", None, None).await.json();
    assert_eq!(doc["versions"].as_object().unwrap().len(), published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_held_in_memory_at_once_are_bounded() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::start_with(common::with_settings(&[
        ("limits.max_body_memory_bytes", "1048576"),
        ("limits.unpack_wait_secs", "1"),
        ("server.body_min_bytes_per_sec", "0"),
    ]))
    .await;
    let addr = app.url.trim_start_matches("http://").to_string();
    // A publish whose 900 KB body is still arriving holds 900 KB of the 1 MiB.
    let mut holding = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /npm/held HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 900000\r\n\r\n{{\"name\":",
        app.tokens.alice
    );
    holding.write_all(head.as_bytes()).await.unwrap();
    let alice = app.tokens.alice.clone();
    probe_body_budget(&addr, "127.0.0.1", &alice, 300_000, "HTTP/1.1 503 ").await;
    // A 300 KB publish does not fit beside it: 503 after the wait, nothing stored.
    // Incompressible: the tarball stays as large as its content.
    let noise = common::incompressible(300_000, 0x9e37_79b9_7f4a_7c15u64);
    let tgz = common::tarball_with(&[
        (
            "package/package.json",
            br#"{"name":"roomy","version":"1.0.0"}"#.to_vec(),
        ),
        ("package/noise.bin", noise),
    ]);
    assert!(tgz.len() > 250_000, "{}", tgz.len());
    let meta = r#"{"name":"roomy","version":"1.0.0"}"#;
    let r = app
        .publish_multipart(Some(&app.tokens.alice), meta, tgz.clone())
        .await;
    assert!(r.error(503).contains("limits.max_body_memory_bytes"));
    assert!(!r.header("retry-after").is_empty());
    // Small requests still pass, and reads are not held up.
    assert_eq!(app.get("/health").await.status, 200);
    app.get("/packages/roomy").await.error(404);
    // A body larger than any route takes is refused before it is read.
    let mut huge = tokio::net::TcpStream::connect(&addr).await.unwrap();
    huge.write_all(
        format!(
            "PUT /npm/huge HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 999999999999\r\n\r\n",
            app.tokens.alice
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (mut reader, _writer) = tokio::io::split(huge);
    let answer = read_until_closed(&mut reader, 5).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    // Once the first upload is gone, its memory is free again.
    drop(holding);
    probe_body_budget(&addr, "127.0.0.1", &alice, 300_000, "HTTP/1.1 400 ").await;
    let r = app
        .publish_multipart(Some(&app.tokens.alice), meta, tgz)
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_large_bodies_at_once_stay_within_the_memory_bound() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let token = "hostile-admin-token-0123456789";
    let server = BinServer::start(
        &dir.path().join("data"),
        &[
            ("PANTRY_REGISTRY_TOKEN", token),
            ("NPM_FALLBACK", "false"),
            ("PANTRY_LIMITS_MAX_BODY_MEMORY_BYTES", "167772160"),
        ],
    );
    let pid = server.child.id();
    let before = peak_rss_mib(pid);
    // Twelve 40 MiB publish documents at once, each sent but for its last bytes and then held:
    // without its body budget the server would keep all twelve, 480 MiB, in memory.
    let addr = server.url.trim_start_matches("http://").to_string();
    let chunk = vec![b'a'; 1 << 20];
    let senders: Vec<_> = (0..12)
        .map(|i| {
            let (addr, chunk) = (addr.clone(), chunk.clone());
            tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
                let head = format!(
                    "PUT /npm/big{i} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                     Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"filler\":\"",
                    40 << 20
                );
                s.write_all(head.as_bytes()).await.unwrap();
                for _ in 0..39 {
                    if s.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let peak = peak_rss_mib(pid);
    for sender in senders {
        sender.abort();
    }
    eprintln!("peak RSS {peak} MiB, from {before} MiB at start");
    assert!(
        peak < PEAK_BODY_RSS_BOUND_MIB,
        "peak RSS {peak} MiB (from {before} MiB) with twelve 40 MiB bodies arriving at once"
    );
    // The server is fine afterwards.
    assert_eq!(
        reqwest::get(format!("{}/health", server.url))
            .await
            .unwrap()
            .status(),
        200
    );
}

/// The documented bound on the server's peak memory while twelve 40 MiB bodies arrive at once
/// (README, "Hostile input"), with limits.max_body_memory_bytes at its default of 160 MiB.
const PEAK_BODY_RSS_BOUND_MIB: u64 = 400;

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = TestApp::start_with(common::with_settings(&[
        ("rate.exempt", ""),
        ("rate.publish_per_minute", "2"),
        ("server.trusted_proxies", "127.0.0.1"),
    ]))
    .await;
    let publish_from = |client: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/publish", app.url))
                .header("x-forwarded-for", format!("198.51.100.1, {client}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(publish_from("203.0.113.7").await, 401);
    assert_eq!(publish_from("203.0.113.7").await, 401);
    assert_eq!(publish_from("203.0.113.7").await, 429);
    // Another client behind the same proxy is not slowed by the first.
    assert_eq!(publish_from("203.0.113.8").await, 401);

    // Without the proxy trusted, the header is a client's own claim: one bucket for all.
    let direct = TestApp::start_with(common::with_settings(&[
        ("rate.exempt", ""),
        ("rate.publish_per_minute", "2"),
    ]))
    .await;
    let mut statuses = Vec::new();
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let r = direct
            .client
            .post(format!("{}/publish", direct.url))
            .header("x-forwarded-for", client)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_holds_at_most_half_the_body_budget_and_anonymous_bodies_are_small() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::start_with(common::with_settings(&[
        ("rate.exempt", ""),
        ("limits.max_body_memory_bytes", "1048576"),
        ("limits.unpack_wait_secs", "1"),
        ("server.body_min_bytes_per_sec", "0"),
    ]))
    .await;
    let addr = app.url.trim_start_matches("http://").to_string();
    let held_from = |ip: &'static str, length: usize| {
        let (addr, token) = (addr.clone(), app.tokens.alice.clone());
        async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
            let mut s = socket.connect(addr.parse().unwrap()).await.unwrap();
            let head = format!(
                "PUT /npm/held HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
            );
            s.write_all(head.as_bytes()).await.unwrap();
            s
        }
    };
    // 127.0.0.1 holds 600 KB of the 1 MiB; a second 300 KB body of its own is past its half.
    let _first = held_from("127.0.0.1", 600_000).await;
    // Held once a 500 KB body from elsewhere no longer fits beside it. (A probe from 127.0.0.1
    // itself, admitted before the first body, would take that body's place.)
    let alice = app.tokens.alice.clone();
    probe_body_budget(&addr, "127.0.0.3", &alice, 500_000, "HTTP/1.1 503 ").await;
    let mut second = held_from("127.0.0.1", 300_000).await;
    let answer = read_until_closed(&mut second, 5).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(
        answer.contains("as many uploads in memory as one client may"),
        "{answer}"
    );
    // Another address still has room.
    let mut other = held_from("127.0.0.2", 300_000).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // Not refused at once: still waiting for the rest of its body.
    let waited = tokio::time::timeout(std::time::Duration::from_millis(500), {
        use tokio::io::AsyncReadExt;
        let mut byte = [0u8; 1];
        async move { other.read(&mut byte).await.map(|n| n > 0) }
    })
    .await;
    assert!(
        waited.is_err(),
        "a body with room was answered early: {waited:?}"
    );

    // Without credentials, a body past limits.max_anonymous_body_bytes is refused unread.
    let mut anonymous = tokio::net::TcpStream::connect(&addr).await.unwrap();
    anonymous
        .write_all(
            b"POST /npm/-/npm/v1/security/advisories/bulk HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nContent-Length: 9000000\r\n\r\n",
        )
        .await
        .unwrap();
    let (mut reader, _w) = tokio::io::split(anonymous);
    let answer = read_until_closed(&mut reader, 5).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(
        answer.contains("limits.max_anonymous_body_bytes"),
        "{answer}"
    );
}
