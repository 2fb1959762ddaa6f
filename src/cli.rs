//! The command line: `serve` (the default), `token create|list|revoke`, `config show|example`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::{self, Layers, LogFormat, Source};

use crate::store::TokenScope;

#[derive(Parser, Debug)]
#[command(
    name = "pantry-registry",
    version,
    about = "A self-hosted registry for npm and Zig packages"
)]
pub struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Flags that override every other configuration source.
#[derive(Args, Debug, Default)]
struct Overrides {
    /// Configuration file (default: ./pantry-registry.toml if it exists; env PANTRY_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (server.host).
    #[arg(long, global = true)]
    host: Option<String>,
    /// Port to listen on (server.port).
    #[arg(long, global = true)]
    port: Option<String>,
    /// Public URL used in every URL handed out (server.base_url).
    #[arg(long, global = true, value_name = "URL")]
    base_url: Option<String>,
    /// Data directory (storage.data_dir).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Any configuration key, as in config.example.toml: --set limits.max_tarball_bytes=1000000
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the registry server (the default command).
    Serve,
    /// Manage tokens in the database (stop the server first: the database allows one process).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage user accounts (stop the server first: the database allows one process).
    #[command(subcommand)]
    User(UserCommand),
    /// The npm fallback's cache of upstream packages (stop the server first).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Delete blobs (tarballs, Zig archives) that no record references any more, and report
    /// records whose blob is missing (stop the server first).
    Gc {
        /// List what would be deleted, and how many bytes, without deleting anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rebuild the search index from the database (stop the server first).
    Reindex,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
enum CacheCommand {
    /// Entries and bytes held for upstream packages.
    Stats,
    /// Remove cached upstream tarballs (and packuments) by age and/or to a size cap. Locally
    /// published packages are never touched.
    Prune {
        /// Remove what was not used within this long: `30d`, `12h`, `45m`.
        #[arg(long)]
        older_than: Option<String>,
        /// Then remove least recently used tarballs until they total at most this many bytes.
        #[arg(long)]
        max_bytes: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user; the password is read from standard input (one line).
    Create {
        name: String,
        #[arg(long)]
        email: String,
    },
    /// List users.
    List,
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token and print it once.
    Create {
        /// The user the token acts as; the first publisher of a package becomes its owner.
        #[arg(long)]
        user: String,
        /// A label for the token (default: the user name).
        #[arg(long)]
        name: Option<String>,
        /// read, publish or admin.
        #[arg(long, default_value = "publish")]
        scope: TokenScope,
        /// Restrict the token to one package (`name`, `@scope/name`) or a scope (`@scope/*`).
        #[arg(long)]
        package: Option<String>,
        /// Expiry: a duration (`30d`, `12h`, `45m`) or an RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its id.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the effective configuration and where each value came from (secrets redacted).
    Show,
    /// Print a configuration file with every key, its default and its description.
    Example,
}

fn layers_from(o: &Overrides) -> Result<Layers, String> {
    let mut layers = config::load_layers(o.config.as_deref()).map_err(|e| e.to_string())?;
    let mut set = |key: &str, value: String| {
        layers
            .set(key, value, Source::Flag)
            .map_err(|e| e.to_string())
    };
    if let Some(v) = &o.host {
        set("server.host", v.clone())?;
    }
    if let Some(v) = &o.port {
        set("server.port", v.clone())?;
    }
    if let Some(v) = &o.base_url {
        set("server.base_url", v.clone())?;
    }
    if let Some(v) = &o.data_dir {
        set("storage.data_dir", v.to_string_lossy().into_owned())?;
    }
    for kv in &o.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--set expects KEY=VALUE, got {kv:?}"))?;
        set(k.trim(), v.to_string())?;
    }
    Ok(layers)
}

/// What `gc` prints: each unreferenced blob (deleted, or on a dry run, to be deleted), a total,
/// and every record whose blob is missing.
fn render_gc(report: &crate::core::references::GcReport, dry_run: bool) -> String {
    let mut out = String::new();
    let verb = if dry_run { "would delete" } else { "deleted" };
    for (key, size) in &report.unreferenced {
        out.push_str(&format!("{verb} {} ({size} bytes)\n", key.as_str()));
    }
    for (key, owners) in &report.missing {
        for owner in owners {
            out.push_str(&format!("MISSING {key}: named by {owner}\n"));
        }
    }
    let n = report.unreferenced.len();
    out.push_str(&if dry_run {
        format!(
            "Dry run: {n} unreferenced blobs ({} bytes) would be removed; nothing was deleted.\n",
            report.bytes
        )
    } else {
        format!("Removed {n} unreferenced blobs ({} bytes).\n", report.bytes)
    });
    out
}

/// Parses `30d`, `12h`, `45m`, `90s` or an RFC 3339 time into an instant.
pub fn parse_expiry(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let invalid = || format!("invalid expiry {text:?}: use 30d, 12h, 45m, 90s or an RFC 3339 time");
    let unit = text.chars().last().ok_or_else(invalid)?;
    let n: i64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| invalid())?;
    let seconds_per_unit = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => return Err(invalid()),
    };
    if n <= 0 {
        return Err(format!("expiry {text:?} must be in the future"));
    }
    n.checked_mul(seconds_per_unit)
        .and_then(|secs| now.checked_add(time::Duration::seconds(secs)))
        .ok_or_else(|| format!("expiry {text:?} is too far in the future"))
}

fn init_tracing(settings: &crate::Settings) {
    use tracing_subscriber::EnvFilter;
    // `Layers::resolve` already checked the filter's syntax.
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match settings.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// Installs the SIGINT/SIGTERM handlers now (before the port is bound, so a signal that comes
/// early still means a graceful stop) and returns the future that completes on either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutdown requested; finishing in-flight requests");
    }
}

async fn serve(layers: Layers) -> Result<(), String> {
    let settings = layers.resolve().map_err(|e| e.to_string())?;
    init_tracing(&settings);
    let shutdown = shutdown_signal();
    let addr = std::net::SocketAddr::new(settings.host, settings.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let mut builder = crate::Registry::builder().layers(layers);
    if settings.base_url.is_empty() && settings.port == 0 {
        // Port 0 picks a free port: the URLs handed out must name the one actually bound.
        builder = builder.base_url(format!("http://localhost:{}", bound.port()));
    }
    let registry = builder.build().await.map_err(|e| e.to_string())?;
    let settings = registry.settings().clone();
    if !registry.has_tokens().await {
        eprintln!(
            "No tokens exist yet, so nobody can publish. Stop the server and create one:\n  \
             pantry-registry token create --user <your-name> --scope admin\n\
             or set PANTRY_REGISTRY_TOKEN to a long random secret."
        );
    }
    tracing::info!(
        listen = %bound,
        base_url = %settings.public_url(),
        data_dir = %settings.data_dir.display(),
        "pantry-registry listening"
    );
    registry
        .serve(listener, shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// The registry on the configured data directory, for a command that works on it directly.
async fn open_registry(layers: Layers) -> Result<crate::Registry, String> {
    crate::Registry::builder()
        .layers(layers)
        .build()
        .await
        .map_err(|e| e.to_string())
}

async fn user(layers: Layers, cmd: UserCommand) -> Result<(), String> {
    match cmd {
        UserCommand::Create { name, email } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            let password = password.trim_end_matches(['\r', '\n']);
            let registry = open_registry(layers).await?;
            registry.create_user(&name, &email, password).await?;
            eprintln!("Created user {name}.");
        }
        UserCommand::List => {
            for u in open_registry(layers).await?.list_users().await? {
                println!("{}\t{}", u.name, u.email);
            }
        }
    }
    Ok(())
}

async fn cache(layers: Layers, cmd: CacheCommand) -> Result<(), String> {
    let registry = open_registry(layers).await?;
    let print_stats = |s: crate::core::proxy::cache::CacheStats| {
        println!("packuments        {}", s.packuments);
        println!("packument bytes   {}", s.packument_bytes);
        println!("negative entries  {}", s.negative);
        println!("tarballs          {}", s.tarballs);
        println!("tarball bytes     {}", s.tarball_bytes);
    };
    match cmd {
        CacheCommand::Stats => print_stats(registry.cache_stats().await?),
        CacheCommand::Prune {
            older_than,
            max_bytes,
        } => {
            if older_than.is_none() && max_bytes.is_none() {
                return Err("say what to prune: --older-than and/or --max-bytes".into());
            }
            let age = older_than
                .map(|text| {
                    let now = OffsetDateTime::now_utc();
                    parse_expiry(&text, now).map(|later| later - now)
                })
                .transpose()?;
            let report = registry.prune_cache(age, max_bytes).await?;
            eprintln!(
                "Removed {} tarballs from the cache ({} bytes freed) and {} packuments.",
                report.tarballs_removed, report.bytes_freed, report.packuments_removed
            );
            print_stats(registry.cache_stats().await?);
        }
    }
    Ok(())
}

async fn token(layers: Layers, cmd: TokenCommand) -> Result<(), String> {
    let registry = open_registry(layers).await?;
    match cmd {
        TokenCommand::Create {
            user,
            name,
            scope,
            package,
            expires,
        } => {
            let user = user.trim().to_string();
            let expires_at = expires
                .map(|e| parse_expiry(&e, OffsetDateTime::now_utc()))
                .transpose()?;
            let name = name.unwrap_or_else(|| user.clone());
            let created = registry
                .create_token(&user, &name, scope, package.as_deref(), expires_at)
                .await?;
            eprintln!(
                "Created token {} ({scope}) for user {user}. It is shown only this once:",
                created.id
            );
            println!("{}", created.secret);
        }
        TokenCommand::List => {
            let tokens = registry.list_tokens().await?;
            println!(
                "{:<14} {:<16} {:<16} {:<8} {:<20} EXPIRES",
                "ID", "USER", "NAME", "SCOPE", "PACKAGE"
            );
            for t in tokens {
                let expires = t
                    .expires_at
                    .and_then(|e| e.format(&Rfc3339).ok())
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{:<14} {:<16} {:<16} {:<8} {:<20} {expires}",
                    t.id,
                    t.user,
                    t.name,
                    t.scope.to_string(),
                    t.restriction.as_deref().unwrap_or("*"),
                );
            }
        }
        TokenCommand::Revoke { id } => {
            if registry.revoke_token(&id).await? {
                eprintln!("Revoked token {id}.");
            } else {
                return Err(format!("no token with id {id}"));
            }
        }
    }
    Ok(())
}

/// Runs the command line; the binary's `main` is only this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let layers = match layers_from(&cli.overrides) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(layers)),
        Command::Token(cmd) => runtime.block_on(token(layers, cmd)),
        Command::User(cmd) => runtime.block_on(user(layers, cmd)),
        Command::Cache(cmd) => runtime.block_on(cache(layers, cmd)),
        Command::Gc { dry_run } => runtime.block_on(async {
            let registry = open_registry(layers).await?;
            let report = registry.gc(dry_run).await?;
            print!("{}", render_gc(&report, dry_run));
            if report.missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} blob(s) named by records are missing from the blob store (listed above); restore them from a backup",
                    report.missing.len()
                ))
            }
        }),
        Command::Reindex => runtime.block_on(async {
            let registry = open_registry(layers).await?;
            let documents = registry.reindex().await?;
            println!("Search index rebuilt: {documents} packages.");
            Ok(())
        }),
        Command::Config(ConfigCommand::Show) => layers
            .resolve()
            .map(|_| print!("{}", layers.render()))
            .map_err(|e| e.to_string()),
        Command::Config(ConfigCommand::Example) => {
            print!("{}", config::example_toml());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_forms() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            parse_expiry("30d", now).unwrap(),
            now + time::Duration::days(30)
        );
        assert_eq!(
            parse_expiry("12h", now).unwrap(),
            now + time::Duration::hours(12)
        );
        assert!(parse_expiry("2030-01-01T00:00:00Z", now).is_ok());
        assert!(parse_expiry("soon", now).is_err());
        assert!(parse_expiry("0d", now).is_err());
        assert!(parse_expiry("5y", now).is_err());
        assert!(parse_expiry("30é", now).is_err());
        assert!(parse_expiry("99999999999999d", now).is_err());
        assert!(parse_expiry("", now).is_err());
    }
}
