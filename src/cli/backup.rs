//! `backup` and `restore` on the command line: the archive comes from the running server's
//! admin API (socket or `--url`) or from the data directory, and is checked as it is saved.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::{AdminFlags, Bars, Target, print_json, target};
use crate::config::Layers;
use crate::core::backup::{self, Manifest, Progress};

/// How long a backup from a server may go without a byte before it is given up.
const IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// `FILE.partial`, where an archive is written until it checked out.
fn partial_of(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    file.with_file_name(name)
}

async fn manifest_of(path: &Path) -> Result<Manifest, String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    backup::manifest_of(tokio::io::BufReader::new(file))
        .await
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Copies the server's answer into `writer`, giving up after [`IDLE`] without a byte.
async fn pump(
    mut response: reqwest::Response,
    mut writer: tokio::io::DuplexStream,
) -> Result<(), String> {
    loop {
        let chunk = tokio::time::timeout(IDLE, response.chunk())
            .await
            .map_err(|_| format!("the server sent nothing for {} s", IDLE.as_secs()))?
            .map_err(|e| format!("the backup stream broke: {e}"))?;
        let Some(chunk) = chunk else { return Ok(()) };
        if writer.write_all(&chunk).await.is_err() {
            // The reader stopped: its error says why.
            return Ok(());
        }
    }
}

pub(super) async fn run_backup(
    layers: Layers,
    flags: &AdminFlags,
    file: &Path,
    incremental: Option<&Path>,
) -> Result<(), String> {
    let base = match incremental {
        Some(path) => Some(manifest_of(path).await?),
        None => None,
    };
    let target = target(layers, flags).await?;
    let partial = partial_of(file);
    let out = tokio::fs::File::create(&partial)
        .await
        .map_err(|e| format!("{}: {e}", partial.display()))?;
    let mut out = tokio::io::BufWriter::with_capacity(1024 * 1024, out);
    let progress = Bars::default();
    let (writer, reader) = tokio::io::duplex(1024 * 1024);
    let saving = backup::save(reader, &mut out, base.as_ref(), &progress);
    let saved = match &target {
        Target::Local(registry) => {
            let writing = async {
                let written = registry.backup(writer, &backup::Unwatched).await;
                written.map(|_| ())
            };
            let (written, saved) = tokio::join!(writing, saving);
            written.and(saved.map_err(|e| e.to_string()))
        }
        Target::Server(server) => {
            progress.stage("the server reads the records", 0);
            let response = server.stream("/-/admin/backup").await?;
            let (pumped, saved) = tokio::join!(pump(response, writer), saving);
            pumped.and(saved.map_err(|e| e.to_string()))
        }
    };
    progress.finish();
    let finished = match saved {
        Ok(manifest) => durable(&mut out)
            .await
            .map(|()| manifest)
            .map_err(|e| format!("{}: {e}", partial.display())),
        Err(e) => Err(e),
    };
    let manifest = match finished {
        Ok(m) => m,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(format!("the backup was not written: {e}"));
        }
    };
    tokio::fs::rename(&partial, file)
        .await
        .map_err(|e| format!("{}: {e}", file.display()))?;
    if flags.json {
        print_json(&serde_json::to_value(&manifest).unwrap_or_default());
    } else {
        println!("{}", describe(&manifest, file));
    }
    for key in &manifest.missing {
        eprintln!("MISSING {key}: named by a record, not in the blob store (see `verify`)");
    }
    if manifest.missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the backup in {} holds every record, but {} blob(s) they name were already missing from the blob store (listed above)",
            file.display(),
            manifest.missing.len()
        ))
    }
}

/// Flushes the archive and waits until it is on disk.
async fn durable(out: &mut tokio::io::BufWriter<tokio::fs::File>) -> std::io::Result<()> {
    out.flush().await?;
    out.get_mut().sync_all().await
}

/// One line saying what an archive holds.
fn describe(m: &Manifest, file: &Path) -> String {
    let c = &m.records.counts;
    let base = match &m.base {
        Some(b) => format!(
            "; incremental on backup {} ({} blobs there)",
            b.id,
            m.blobs_in_base.len()
        ),
        None => String::new(),
    };
    format!(
        "Backup {} of {} ({}, {}) in {}: {}; {} blobs ({} bytes){base}.",
        m.id,
        m.created_at,
        m.source,
        match m.consistency {
            crate::store::export::Consistency::Snapshot => "one snapshot",
            crate::store::export::Consistency::PerPackage => "each package at one revision",
        },
        file.display(),
        c.records_summary(),
        m.blobs.len(),
        m.blob_bytes(),
    )
}

async fn open_archive(path: &Path) -> Result<tokio::io::BufReader<tokio::fs::File>, String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(tokio::io::BufReader::with_capacity(1024 * 1024, file))
}

pub(super) async fn run_restore(
    layers: Layers,
    flags: &AdminFlags,
    file: &Path,
    base: Option<&Path>,
    check: bool,
) -> Result<(), String> {
    let input = open_archive(file).await?;
    let progress = Bars::default();
    if check {
        let checked = backup::check(input, &progress).await;
        progress.finish();
        let manifest = checked.map_err(|e| format!("{}: {e}", file.display()))?;
        if flags.json {
            print_json(&serde_json::to_value(&manifest).unwrap_or_default());
        } else {
            println!("{} Every hash checks out.", describe(&manifest, file));
        }
        return Ok(());
    }
    if flags.url.is_some() {
        return Err("restore writes into the registry's own storage: run it on the machine that has the data directory (or the AWS credentials), without --url".into());
    }
    let settings = layers.resolve().map_err(|e| e.to_string())?;
    let socket = crate::app::admin_socket_path(&settings.data_dir);
    if socket.exists() && super::remote::Server::socket(&socket).await.is_some() {
        return Err(format!(
            "a server is running on {}: stop it first (a restore fills an empty registry)",
            settings.data_dir.display()
        ));
    }
    let base_input = match base {
        Some(path) => Some(open_archive(path).await?),
        None => None,
    };
    let registry = super::open_registry(layers).await?;
    eprintln!(
        "Restoring {} into {}.",
        file.display(),
        match settings.metadata_backend {
            crate::config::MetadataBackend::Redb => settings.data_dir.display().to_string(),
            crate::config::MetadataBackend::DynamoDb => settings.backends(),
        }
    );
    let restored = registry.restore(input, base_input, &progress).await;
    progress.finish();
    let report = restored?;
    if flags.json {
        print_json(&serde_json::to_value(&report).unwrap_or_default());
        return Ok(());
    }
    let c = &report.counts;
    println!(
        "Restored backup {} of {}: {}; {} blobs ({} bytes), every one checked against its hash.",
        report.id,
        report.created_at,
        c.records_summary(),
        report.blobs_restored,
        report.bytes_restored,
    );
    if report.cache_entries_skipped > 0 {
        println!(
            "{} entries of the npm fallback's cache were left out: their bytes were evicted before the backup (the fallback fetches them again).",
            report.cache_entries_skipped
        );
    }
    for key in &report.missing_at_backup {
        eprintln!("MISSING {key}: it was already missing when the backup was taken");
    }
    Ok(())
}
