//! The command line: `serve` (the default); `token`, `user`, `cache`, `gc`, `reindex`,
//! `verify`, `backup`, `import` and `audit`, which act on a running server when there is one
//! (through the admin socket in the data directory, or `--url` with an admin token) and on the
//! data directory itself when no server holds it, with the same output and exit codes either
//! way; `restore`, `migrate` and `init-aws`; `config show|example`.

mod backup;
mod remote;

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
    /// The server's flags, for `pantry-registry` with no command (which serves).
    #[command(flatten)]
    server: ServerFlags,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Where the server listens and the URL it hands out: flags of `serve` only.
#[derive(Args, Debug, Default, Clone)]
struct ServerFlags {
    /// Address to listen on (server.host).
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on (server.port).
    #[arg(long)]
    port: Option<String>,
    /// Public URL used in every URL handed out (server.base_url).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
}

impl ServerFlags {
    /// The first flag given, as typed.
    fn given(&self) -> Option<&'static str> {
        [
            (self.host.is_some(), "--host"),
            (self.port.is_some(), "--port"),
            (self.base_url.is_some(), "--base-url"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

/// Flags that override every other configuration source.
#[derive(Args, Debug, Default)]
struct Overrides {
    /// Configuration file (default: ./pantry-registry.toml if it exists; env PANTRY_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (storage.data_dir).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Log lines as `json` or `pretty` (log.format; default: pretty on a terminal, else JSON).
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Any configuration key, as in config.example.toml: --set limits.max_tarball_bytes=1000000
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Administer the server at this URL instead of the local data directory (needs an admin
    /// token: --admin-token or PANTRY_ADMIN_TOKEN).
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    /// The admin token for --url (prefer the PANTRY_ADMIN_TOKEN environment variable: a flag
    /// shows in the process list).
    #[arg(long, global = true, value_name = "TOKEN")]
    admin_token: Option<String>,
    /// Let an admin command create an empty registry in the data directory when there is none.
    #[arg(long, global = true)]
    init: bool,
    /// Print results as JSON, for scripts.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the registry server (the default command).
    Serve(ServerFlags),
    /// Manage tokens (on the running server, or in the data directory).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage user accounts (on the running server, or in the data directory).
    #[command(subcommand)]
    User(UserCommand),
    /// The npm fallback's cache of upstream packages.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Delete blobs (tarballs, Zig archives, cached packuments) that no record references any
    /// more, and report records whose blob is missing. Safe while the server runs.
    Gc {
        /// List what would be deleted, and how many bytes, without deleting anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rebuild the search index from the database (the running server keeps answering searches
    /// from the old index until the new one is complete).
    Reindex,
    /// Check the data: re-hash every blob against its key, check every record against its blob
    /// (size, shasum, integrity), and list blobs no record names. Repairs nothing; the exit
    /// status is 0 only when everything is whole. Safe while the server runs.
    Verify,
    /// Write a backup of the whole registry to FILE while it keeps serving: one tar archive
    /// holding a manifest, every metadata record (from one read snapshot on redb) and every
    /// blob they name. From the running server when there is one (socket or --url), else from
    /// the data directory. Every hash is checked as the archive is written; FILE appears only
    /// when the whole archive checked out.
    Backup {
        file: PathBuf,
        /// Leave out the blobs this earlier full backup holds: an incremental backup, which
        /// `restore` needs together with that one (`--base`).
        #[arg(long, value_name = "FULL_BACKUP")]
        incremental: Option<PathBuf>,
    },
    /// Restore a backup into an empty registry: the data directory (redb and disk), or the
    /// empty DynamoDB table and S3 bucket configured. Blobs are restored and checked first,
    /// records written last, then the search index is rebuilt. Not while a server runs on it.
    Restore {
        file: PathBuf,
        /// The full backup an incremental FILE builds on.
        #[arg(long, value_name = "FULL_BACKUP")]
        base: Option<PathBuf>,
        /// Only read the archive through and check every hash; restore nothing.
        #[arg(long)]
        check: bool,
    },
    /// Import packages from the seed's data directory or a Verdaccio storage directory: every
    /// version's tarball is checked against the source's checksum and published here with its
    /// publish time, then the dist-tags, deprecations and owners are applied. Safe to run again:
    /// what is already here is skipped. Exit status 1 when something could not be imported.
    /// With a running server (or --url) the server reads DIR: with --url, a path on its machine.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["from_seed", "from_verdaccio"])))]
    Import {
        /// The seed's `.registry` folder, or the folder that holds it.
        #[arg(long, value_name = "DIR")]
        from_seed: Option<PathBuf>,
        /// A Verdaccio storage directory (what its `storage:` setting names).
        #[arg(long, value_name = "DIR")]
        from_verdaccio: Option<PathBuf>,
    },
    /// Read the audit log: every state change and login, oldest first.
    Audit {
        /// From this time on: RFC 3339 (2026-12-01T10:00:00Z) or a day (2026-12-01).
        #[arg(long)]
        since: Option<String>,
        /// Only what this user did.
        #[arg(long)]
        actor: Option<String>,
        /// Only what was done to this package.
        #[arg(long)]
        package: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Create what running on AWS (or compatible servers) needs when it is missing: the
    /// DynamoDB tables (storage.dynamodb_table and its analytics table, with their keys and
    /// TTL) and the S3 bucket (storage.s3_bucket). Safe to run twice; says what it did.
    InitAws,
    /// Move the whole registry between its back ends, then check the destination holds the
    /// same (counts of every record kind, and every blob read back and re-hashed): `--to aws`
    /// from the data directory (redb and disk) to the DynamoDB table and S3 bucket configured,
    /// `--to local` back. Stop the servers first; run it again to finish an interrupted one.
    Migrate {
        /// `aws` (also `dynamodb+s3`) or `local`.
        #[arg(long)]
        to: String,
    },
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
        /// Remove what was not used within this long: `30d`, `2w`, `12h`, `45m`; `0` removes
        /// everything cached.
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
        /// Then remove least recently used tarballs until they total at most this much: bytes,
        /// or `500MB`, `10GB`, `2GiB`.
        #[arg(long, value_name = "SIZE")]
        max_bytes: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user. The password is asked for without echo on a terminal, read from standard
    /// input (one line) otherwise; with --invite there is none, and an invitation is printed.
    Create {
        name: String,
        #[arg(long)]
        email: String,
        /// Make the account an admin.
        #[arg(long)]
        admin: bool,
        /// Print an invitation that lets its holder set the password (POST /-/invite).
        #[arg(long)]
        invite: bool,
    },
    /// List users.
    List,
    /// Delete a user and revoke their tokens.
    Delete { name: String },
    /// Disable a user: they cannot log in, and their tokens are refused.
    Disable { name: String },
    /// Enable a disabled user again.
    Enable { name: String },
    /// Set a user's password (asked for as at `user create`).
    Passwd { name: String },
    /// Make a user an admin, or with --remove no longer one.
    Admin {
        name: String,
        #[arg(long)]
        remove: bool,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a token and print it once.
    Create {
        /// The user the token acts as (an existing account, or see --service); the first
        /// publisher of a package becomes its owner.
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
        /// Create --user as a service account (no password, for CI) if there is no such user.
        #[arg(long)]
        service: bool,
    },
    /// List tokens (never their secrets), with when each was last used.
    List,
    /// Revoke a token by its id.
    Revoke { id: String },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the effective configuration and where each value came from (secrets redacted).
    Show,
    /// Print a configuration file with every key, its default and its description
    /// (`config.example.toml` is this).
    Example,
    /// Print the configuration reference as a Markdown table (docs/configuration.md holds it).
    Reference,
}

fn layers_from(o: &Overrides, server: &ServerFlags) -> Result<Layers, String> {
    let mut layers = config::load_layers(o.config.as_deref()).map_err(|e| e.to_string())?;
    let mut set = |key: &str, value: String| {
        layers
            .set(key, value, Source::Flag)
            .map_err(|e| e.to_string())
    };
    if let Some(v) = &server.host {
        set("server.host", v.clone())?;
    }
    if let Some(v) = &server.port {
        set("server.port", v.clone())?;
    }
    if let Some(v) = &server.base_url {
        set("server.base_url", v.clone())?;
    }
    if let Some(v) = &o.data_dir {
        set("storage.data_dir", v.to_string_lossy().into_owned())?;
    }
    if let Some(v) = &o.log_format {
        set("log.format", v.clone())?;
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
/// and every record whose blob is missing; from the report as the admin API gives it.
fn render_gc(report: &serde_json::Value, dry_run: bool) -> String {
    let mut out = String::new();
    let verb = if dry_run { "would delete" } else { "deleted" };
    let none = Vec::new();
    let unreferenced = report["unreferenced"].as_array().unwrap_or(&none);
    for blob in unreferenced {
        out.push_str(&format!(
            "{verb} {} ({} bytes)\n",
            blob["blob"].as_str().unwrap_or_default(),
            blob["bytes"]
        ));
    }
    for missing in report["missing"].as_array().unwrap_or(&none) {
        for owner in missing["records"].as_array().unwrap_or(&none) {
            out.push_str(&format!(
                "MISSING {}: named by {}\n",
                missing["blob"].as_str().unwrap_or_default(),
                owner.as_str().unwrap_or_default()
            ));
        }
    }
    let n = unreferenced.len();
    let bytes = report["bytes"].as_u64().unwrap_or(0);
    out.push_str(&if dry_run {
        format!(
            "Dry run: {n} unreferenced blobs ({bytes} bytes) would be removed; nothing was deleted.\n"
        )
    } else {
        format!("Removed {n} unreferenced blobs ({bytes} bytes).\n")
    });
    out
}

/// Parses `30d`, `12h`, `45m`, `90s` or an RFC 3339 time into an instant.
pub fn parse_expiry(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let invalid =
        || format!("invalid expiry {text:?}: use 2w, 30d, 12h, 45m, 90s or an RFC 3339 time");
    let unit = text.chars().last().ok_or_else(invalid)?;
    let n: i64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| invalid())?;
    let seconds_per_unit = match unit {
        'w' => 7 * 86_400,
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => return Err(invalid()),
    };
    if n <= 0 {
        return Err(format!(
            "expiry {text:?} must be in the future: a token that expires now could not be used"
        ));
    }
    n.checked_mul(seconds_per_unit)
        .and_then(|secs| now.checked_add(time::Duration::seconds(secs)))
        .ok_or_else(|| format!("expiry {text:?} is too far in the future"))
}

/// Whether log lines are JSON records (`log.format`, or off a terminal) rather than text.
fn json_logs(format: LogFormat) -> bool {
    match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::IsTerminal::is_terminal(&std::io::stderr()),
    }
}

fn init_tracing(settings: &crate::Settings) {
    use tracing_subscriber::EnvFilter;
    // `Layers::resolve` already checked the filter's syntax.
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = json_logs(settings.log_format);
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
    if settings.port == 0 {
        // Port 0 picks a free port: URLs made outside a request must name the one bound.
        builder = builder
            .setting("server.port", bound.port().to_string())
            .map_err(|e| e.to_string())?;
    }
    if settings.base_url.is_empty() && !settings.host.is_loopback() {
        tracing::warn!(
            listen = %bound,
            "server.base_url is not set: the URLs handed out (tarballs in packuments, and so in \
             lockfiles) follow the address each client used. Set server.base_url to the one \
             address clients should record (and server.trusted_proxies for a reverse proxy)"
        );
    }
    let registry = builder.build().await.map_err(|e| e.to_string())?;
    let settings = registry.settings().clone();
    let base = settings.public_url();
    let npm_registry = format!("{base}/npm/");
    // One format per stream: a terminal gets a banner to read; a log pipeline (JSON) gets the
    // same facts as records.
    let terminal = !json_logs(settings.log_format);
    if terminal {
        eprintln!(
            "Pantry Registry on {base}\n  \
             web UI and search   {base}/\n  \
             API docs            {base}/docs\n  \
             npm, pnpm, yarn, bun: registry={npm_registry}\n  \
             Pantry CLI          {base} (pantry publish --registry {base})\n  \
             zig fetch           {base}/zig/packages/<name>/<version>/tarball"
        );
    }
    if !registry.has_tokens().await {
        let how = "create an admin and a token (the server can keep running), in this directory \
                   or with the same --data-dir: `pantry-registry user create <your-name> --email \
                   <you@example.com> --admin`, then `pantry-registry token create --user \
                   <your-name> --scope admin`; or set PANTRY_REGISTRY_TOKEN to a long random secret";
        if terminal {
            eprintln!(
                "\nNo tokens exist yet, so nobody can publish. Create an admin and a token (the server \
                 can keep running), in this directory or with the same --data-dir:\n  \
                 pantry-registry user create <your-name> --email <you@example.com> --admin\n  \
                 pantry-registry token create --user <your-name> --scope admin\n\
                 or set PANTRY_REGISTRY_TOKEN to a long random secret.\n"
            );
        } else {
            tracing::warn!(how, "no tokens exist yet, so nobody can publish");
        }
    }
    tracing::info!(
        listen = %bound,
        base_url = %base,
        npm_registry = %npm_registry,
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

/// What an admin command acts on.
enum Target {
    /// The data directory itself: no server holds it.
    Local(crate::Registry),
    /// A running server.
    Server(remote::Server),
}

/// The flags that choose and shape an admin command.
struct AdminFlags {
    url: Option<String>,
    admin_token: Option<String>,
    init: bool,
    json: bool,
}

/// Finds what an admin command acts on, and says so on standard error: the server at `--url`;
/// else the server running on the data directory (its admin socket); else the data directory
/// itself, which must hold a registry already unless `--init`.
async fn target(layers: Layers, flags: &AdminFlags) -> Result<Target, String> {
    if let Some(url) = &flags.url {
        let token = flags
            .admin_token
            .clone()
            .ok_or("--url needs an admin token: set PANTRY_ADMIN_TOKEN (or pass --admin-token)")?;
        let server = remote::Server::http(url, token)?;
        eprintln!("Acting on {}.", server.shown);
        return Ok(Target::Server(server));
    }
    let settings = layers.resolve().map_err(|e| e.to_string())?;
    let dir = settings.data_dir.clone();
    let socket = crate::app::admin_socket_path(&dir);
    if socket.exists()
        && let Some(server) = remote::Server::socket(&socket).await
    {
        eprintln!("Acting on {}.", server.shown);
        return Ok(Target::Server(server));
    }
    if !crate::app::holds_a_registry(&settings) && !flags.init {
        return Err(format!(
            "there is no registry in {} (no registry.redb there): pass --data-dir with the \
             server's data directory, start the server there once, or pass --init to create an \
             empty registry",
            dir.display()
        ));
    }
    let registry = open_registry(layers).await?;
    eprintln!("Acting on the data directory {}.", dir.display());
    Ok(Target::Local(registry))
}

/// A password for `name`: asked for without echo on a terminal, else one line of standard
/// input.
fn read_password(name: &str) -> Result<String, String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let first = rpassword::prompt_password(format!("Password for {name}: "))
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let again = rpassword::prompt_password("Once more: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != again {
            return Err("the two passwords differ".into());
        }
        return Ok(first);
    }
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    Ok(password.trim_end_matches(['\r', '\n']).to_string())
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}

async fn user(layers: Layers, flags: &AdminFlags, cmd: UserCommand) -> Result<(), String> {
    use crate::core::admin::UserChange;
    // The password comes first: asked for before anything is opened or reached.
    let password = match &cmd {
        UserCommand::Create {
            name,
            invite: false,
            ..
        }
        | UserCommand::Passwd { name } => Some(read_password(name)?),
        _ => None,
    };
    let target = target(layers, flags).await?;
    let change = |name: &str, change: UserChange| {
        let body = serde_json::json!({
            "email": change.email, "password": change.password,
            "disabled": change.disabled, "admin": change.admin,
        });
        (name.to_string(), change, body)
    };
    let patch = match &cmd {
        UserCommand::Disable { name } => Some(change(
            name,
            UserChange {
                disabled: Some(true),
                ..Default::default()
            },
        )),
        UserCommand::Enable { name } => Some(change(
            name,
            UserChange {
                disabled: Some(false),
                ..Default::default()
            },
        )),
        UserCommand::Passwd { name } => Some(change(
            name,
            UserChange {
                password: password.clone(),
                ..Default::default()
            },
        )),
        UserCommand::Admin { name, remove } => Some(change(
            name,
            UserChange {
                admin: Some(!remove),
                ..Default::default()
            },
        )),
        _ => None,
    };
    if let Some((name, change, body)) = patch {
        let done = change_summary(&change);
        match &target {
            Target::Local(r) => {
                r.update_user(&name, change).await?;
            }
            Target::Server(s) => {
                s.call(
                    reqwest::Method::PATCH,
                    &format!("/-/admin/users/{name}"),
                    Some(body),
                )
                .await?;
            }
        }
        eprintln!("User {name}: {done}.");
        return Ok(());
    }
    match cmd {
        UserCommand::Create {
            name,
            email,
            admin,
            invite,
        } => {
            let created = match &target {
                Target::Local(r) => {
                    let (user, invite) =
                        r.create_account(&name, &email, password.as_deref(), admin).await?;
                    serde_json::json!({"user": {"name": user.name}, "invite": invite})
                }
                Target::Server(s) => {
                    s.post(
                        "/-/admin/users",
                        serde_json::json!({"name": name, "email": email, "password": password, "admin": admin}),
                    )
                    .await?
                }
            };
            if flags.json {
                print_json(&created);
            } else if invite {
                eprintln!(
                    "Created user {name}, invited. The invitation (shown only this once) sets the \
                     password with POST /-/invite {{\"name\", \"invite\", \"password\"}} within 7 days:"
                );
                println!("{}", created["invite"].as_str().unwrap_or_default());
            } else {
                eprintln!("Created user {name}.");
            }
        }
        UserCommand::List => {
            let users: Vec<serde_json::Value> = match &target {
                Target::Local(r) => r
                    .list_users()
                    .await?
                    .iter()
                    .map(|u| {
                        serde_json::json!({"name": u.name, "email": u.email, "admin": u.admin, "disabled": u.disabled})
                    })
                    .collect(),
                Target::Server(s) => s.get("/-/admin/users").await?["users"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            };
            if flags.json {
                print_json(&serde_json::Value::Array(users));
            } else {
                for u in users {
                    let mut flags_shown = Vec::new();
                    if u["admin"] == true {
                        flags_shown.push("admin");
                    }
                    if u["disabled"] == true {
                        flags_shown.push("disabled");
                    }
                    println!(
                        "{}\t{}\t{}",
                        u["name"].as_str().unwrap_or_default(),
                        u["email"].as_str().unwrap_or_default(),
                        flags_shown.join(",")
                    );
                }
            }
        }
        UserCommand::Delete { name } => {
            let revoked = match &target {
                Target::Local(r) => r.delete_user(&name).await? as u64,
                Target::Server(s) => s
                    .call(
                        reqwest::Method::DELETE,
                        &format!("/-/admin/users/{name}"),
                        None,
                    )
                    .await?["tokensRevoked"]
                    .as_u64()
                    .unwrap_or(0),
            };
            eprintln!("Deleted user {name} and revoked {revoked} tokens.");
        }
        _ => unreachable!("changes are handled above"),
    }
    Ok(())
}

fn change_summary(change: &crate::core::admin::UserChange) -> &'static str {
    match (change.disabled, change.admin, change.password.is_some()) {
        (Some(true), _, _) => "disabled (they cannot log in, and their tokens are refused)",
        (Some(false), _, _) => "enabled",
        (_, Some(true), _) => "now an admin",
        (_, Some(false), _) => "no longer an admin",
        (_, _, true) => "password set",
        _ => "changed",
    }
}

fn print_cache_stats(s: &serde_json::Value) {
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    println!("packuments        {}", n("packuments"));
    println!("packument bytes   {}", n("packumentBytes"));
    println!("negative entries  {}", n("negative"));
    println!("tarballs          {}", n("tarballs"));
    println!("tarball bytes     {}", n("tarballBytes"));
}

async fn cache(layers: Layers, flags: &AdminFlags, cmd: CacheCommand) -> Result<(), String> {
    if let CacheCommand::Prune {
        older_than: None,
        max_bytes: None,
    } = &cmd
    {
        return Err("say what to prune: --older-than and/or --max-bytes".into());
    }
    // What the command asks is checked before anything is opened or reached.
    let prune = match &cmd {
        CacheCommand::Prune {
            older_than,
            max_bytes,
        } => Some((
            older_than
                .as_deref()
                .map(|text| {
                    config::units::parse_age(text)
                        .map(|age| {
                            time::Duration::seconds(age.as_secs().min(i64::MAX as u64) as i64)
                        })
                        .map_err(|e| format!("--older-than: {e}"))
                })
                .transpose()?,
            max_bytes
                .as_deref()
                .map(|text| {
                    config::units::parse_bytes(text).map_err(|e| format!("--max-bytes: {e}"))
                })
                .transpose()?,
        )),
        CacheCommand::Stats => None,
    };
    let target = target(layers, flags).await?;
    if let Some((age, max_bytes)) = prune {
        let report = match &target {
            Target::Local(r) => {
                crate::core::jobs::prune_json(&r.prune_cache(age, max_bytes).await?)
            }
            Target::Server(s) => {
                let ticker = Ticker::new();
                s.run_job(
                    serde_json::json!({
                        "kind": "cache-prune",
                        "olderThanSecs": age.map(|a| a.whole_seconds().max(0)),
                        "maxBytes": max_bytes,
                    }),
                    &|line| ticker.say(line),
                )
                .await?
            }
        };
        if flags.json {
            print_json(&report);
            return Ok(());
        }
        eprintln!(
            "Removed {} tarballs from the cache ({} bytes freed) and {} packuments.",
            report["tarballsRemoved"], report["bytesFreed"], report["packumentsRemoved"]
        );
    }
    let s = match &target {
        Target::Local(r) => crate::core::jobs::stats_json(&r.cache_stats().await?),
        Target::Server(s) => s.get("/-/admin/cache").await?,
    };
    if flags.json {
        print_json(&s);
    } else {
        print_cache_stats(&s);
    }
    Ok(())
}

async fn token(layers: Layers, flags: &AdminFlags, cmd: TokenCommand) -> Result<(), String> {
    // What the command asks is checked before anything is opened or reached.
    if let TokenCommand::Create {
        expires: Some(e), ..
    } = &cmd
    {
        parse_expiry(e, OffsetDateTime::now_utc())?;
    }
    let target = target(layers, flags).await?;
    match cmd {
        TokenCommand::Create {
            user,
            name,
            scope,
            package,
            expires,
            service,
        } => {
            let user = user.trim().to_string();
            let expires_at = expires
                .map(|e| parse_expiry(&e, OffsetDateTime::now_utc()))
                .transpose()?;
            let name = name.unwrap_or_else(|| user.clone());
            let (id, secret) = match &target {
                Target::Local(r) => {
                    let created = r
                        .create_token_for(
                            &user,
                            &name,
                            scope,
                            package.as_deref(),
                            expires_at,
                            service,
                        )
                        .await?;
                    (created.id, created.secret)
                }
                Target::Server(s) => {
                    let days = expires_at.map(|at| {
                        ((at - OffsetDateTime::now_utc()).whole_seconds() as f64 / 86_400.0).ceil()
                            as i64
                    });
                    let body = remote::token_body(
                        &user,
                        &name,
                        &scope.to_string(),
                        package.as_deref(),
                        days,
                        service,
                    );
                    let created = s.post("/-/admin/tokens", body).await?;
                    (
                        created["id"].as_str().unwrap_or_default().to_string(),
                        created["token"].as_str().unwrap_or_default().to_string(),
                    )
                }
            };
            if flags.json {
                print_json(
                    &serde_json::json!({"id": id, "token": secret, "user": user, "scope": scope.to_string()}),
                );
            } else {
                eprintln!(
                    "Created token {id} ({scope}) for user {user}. It is shown only this once:"
                );
                println!("{secret}");
            }
        }
        TokenCommand::List => {
            let tokens: Vec<serde_json::Value> = match &target {
                Target::Local(r) => r
                    .list_tokens()
                    .await?
                    .iter()
                    .map(crate::core::jobs::token_json)
                    .collect(),
                Target::Server(s) => s.get("/-/admin/tokens").await?["tokens"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            };
            if flags.json {
                print_json(&serde_json::Value::Array(tokens));
                return Ok(());
            }
            println!(
                "{:<14} {:<16} {:<16} {:<8} {:<20} {:<26} LAST USED",
                "ID", "USER", "NAME", "SCOPE", "PACKAGE", "EXPIRES"
            );
            for t in &tokens {
                let [id, user, name, scope, package, expires, last] = remote::token_row(t);
                println!(
                    "{id:<14} {user:<16} {name:<16} {scope:<8} {package:<20} {expires:<26} {last}"
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let revoked = match &target {
                Target::Local(r) => r.revoke_token(&id).await?,
                Target::Server(s) => match s
                    .call(
                        reqwest::Method::DELETE,
                        &format!("/-/admin/tokens/{id}"),
                        None,
                    )
                    .await
                {
                    Ok(_) => true,
                    Err(e) if e.starts_with("no such token") => false,
                    Err(e) => return Err(e),
                },
            };
            if revoked {
                eprintln!("Revoked token {id}.");
            } else {
                return Err(format!("no token with id {id}"));
            }
        }
    }
    Ok(())
}

async fn gc(layers: Layers, flags: &AdminFlags, dry_run: bool) -> Result<(), String> {
    let target = target(layers, flags).await?;
    let ticker = Ticker::new();
    let report = match target {
        Target::Local(r) => {
            crate::core::jobs::gc_json(&r.gc(dry_run, &|line| ticker.say(&line)).await?, dry_run)
        }
        Target::Server(s) => {
            s.run_job(
                serde_json::json!({"kind": "gc", "dryRun": dry_run}),
                &|line| ticker.say(line),
            )
            .await?
        }
    };
    drop(ticker);
    if flags.json {
        print_json(&report);
    } else {
        print!("{}", render_gc(&report, dry_run));
    }
    let missing = report["missing"].as_array().map_or(0, Vec::len);
    if missing == 0 {
        Ok(())
    } else {
        Err(format!(
            "{missing} blob(s) named by records are missing from the blob store (listed above); restore them from a backup"
        ))
    }
}

async fn verify(layers: Layers, flags: &AdminFlags) -> Result<(), String> {
    let target = target(layers, flags).await?;
    let ticker = Ticker::new();
    let report = match target {
        Target::Local(r) => {
            crate::core::jobs::verify_json(&r.verify(&|line| ticker.say(&line)).await?)
        }
        Target::Server(s) => {
            s.run_job(serde_json::json!({"kind": "verify"}), &|line| {
                ticker.say(line)
            })
            .await?
        }
    };
    drop(ticker);
    if flags.json {
        print_json(&report);
    } else {
        print!("{}", render_verify(&report));
    }
    if report["clean"].as_bool() == Some(true) {
        Ok(())
    } else {
        Err("the data is not whole (listed above); nothing was changed".into())
    }
}

/// A verify report as lines: one per problem, then a summary.
fn render_verify(report: &serde_json::Value) -> String {
    let none = Vec::new();
    let list = |field: &str| report[field].as_array().unwrap_or(&none).clone();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let records = |v: &serde_json::Value| {
        v["records"]
            .as_array()
            .unwrap_or(&none)
            .iter()
            .map(text)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    for c in list("corrupt") {
        out.push_str(&format!(
            "CORRUPT {}: its content hashes to {}; named by {}\n",
            text(&c["blob"]),
            text(&c["actual"]),
            records(&c)
        ));
    }
    for m in list("missing") {
        out.push_str(&format!(
            "MISSING {}: named by {}\n",
            text(&m["blob"]),
            records(&m)
        ));
    }
    for m in list("mismatched") {
        out.push_str(&format!(
            "MISMATCH {}: {}\n",
            text(&m["record"]),
            text(&m["problem"])
        ));
    }
    for o in list("orphaned") {
        out.push_str(&format!(
            "ORPHAN {} ({} bytes): no record names it (`gc` removes it)\n",
            text(&o["blob"]),
            o["bytes"]
        ));
    }
    let problems = ["corrupt", "missing", "mismatched", "orphaned"]
        .iter()
        .map(|f| list(f).len())
        .sum::<usize>();
    out.push_str(&format!(
        "Verified {} blobs ({} bytes): {}.\n",
        report["checked"],
        report["bytes"],
        if problems == 0 {
            "everything is whole".to_string()
        } else {
            format!("{problems} problem(s)")
        }
    ));
    out
}

async fn import(
    layers: Layers,
    flags: &AdminFlags,
    from_seed: Option<PathBuf>,
    from_verdaccio: Option<PathBuf>,
) -> Result<(), String> {
    use crate::core::import::Source;
    let (source, dir) = match (from_seed, from_verdaccio) {
        (Some(dir), None) => (Source::Seed, dir),
        (None, Some(dir)) => (Source::Verdaccio, dir),
        _ => return Err("give one of --from-seed DIR and --from-verdaccio DIR".into()),
    };
    let dir = if flags.url.is_some() {
        if !dir.is_absolute() {
            return Err(
                "with --url the server reads the directory: give an absolute path on the server's machine"
                    .into(),
            );
        }
        dir
    } else {
        std::path::absolute(&dir).map_err(|e| format!("{}: {e}", dir.display()))?
    };
    let report = match target(layers, flags).await? {
        Target::Local(r) => {
            let progress = Bars::default();
            let report = r.import(source, &dir, &progress).await;
            progress.finish();
            report?.to_json()
        }
        Target::Server(s) => {
            let ticker = Ticker::new();
            s.run_job(
                serde_json::json!({"kind": "import", "from": source.name(), "dir": dir}),
                &|line| ticker.say(line),
            )
            .await?
        }
    };
    if flags.json {
        print_json(&report);
    } else {
        print!("{}", render_import(&report));
    }
    match report["failed"].as_u64() {
        Some(0) => Ok(()),
        Some(n) => Err(format!(
            "{n} thing(s) could not be imported (listed above); what was imported stays, and \
             running the import again after fixing them imports only what is missing"
        )),
        None => Err("the import's report has no failure count".into()),
    }
}

/// An import report as lines: what was imported (a line per package), skipped (a line each,
/// with the reason; "already imported" only counted), changed and created, then the summary.
fn render_import(report: &serde_json::Value) -> String {
    let none = Vec::new();
    let list = |field: &str| report[field].as_array().unwrap_or(&none).clone();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut out = String::new();
    let mut by_package: Vec<(String, Vec<String>)> = Vec::new();
    for v in list("imported") {
        let (name, version) = (text(&v["package"]), text(&v["version"]));
        match by_package.last_mut() {
            Some((last, versions)) if *last == name => versions.push(version),
            _ => by_package.push((name, vec![version])),
        }
    }
    for (name, versions) in by_package {
        out.push_str(&format!("imported {name}: {}\n", versions.join(", ")));
    }
    for s in list("skipped") {
        if s["kind"] != "already-imported" {
            out.push_str(&format!(
                "skipped {}: {}\n",
                text(&s["target"]),
                text(&s["reason"])
            ));
        }
    }
    for c in list("changes") {
        out.push_str(&format!("set {}\n", text(&c)));
    }
    for a in list("accountsCreated") {
        let a = text(&a);
        out.push_str(&format!(
            "created account {a} without a password (set one: pantry-registry user passwd {a})\n"
        ));
    }
    out.push_str(&text(&report["summary"]));
    out.push('\n');
    out
}

async fn reindex(layers: Layers, flags: &AdminFlags) -> Result<(), String> {
    let target = target(layers, flags).await?;
    let ticker = Ticker::new();
    let documents = match target {
        Target::Local(r) => {
            ticker.say("rebuilding the search index from the store");
            r.reindex().await? as u64
        }
        Target::Server(s) => s
            .run_job(serde_json::json!({"kind": "reindex"}), &|line| {
                ticker.say(line)
            })
            .await?["documents"]
            .as_u64()
            .unwrap_or(0),
    };
    drop(ticker);
    if flags.json {
        print_json(&serde_json::json!({"documents": documents}));
    } else {
        println!("Search index rebuilt: {documents} packages.");
    }
    Ok(())
}

async fn audit(
    layers: Layers,
    flags: &AdminFlags,
    since: Option<String>,
    actor: Option<String>,
    package: Option<String>,
    limit: u32,
) -> Result<(), String> {
    if let Some(s) = &since {
        crate::core::timestamps::parse(s)?;
    }
    let entries: Vec<serde_json::Value> = match target(layers, flags).await? {
        Target::Local(r) => {
            let filter = crate::core::audit::AuditFilter {
                since: since
                    .as_deref()
                    .map(crate::core::timestamps::parse)
                    .transpose()?,
                actor,
                package,
                after: None,
                limit: limit as usize,
            };
            r.audit(&filter)
                .await?
                .iter()
                .map(crate::core::jobs::audit_json)
                .collect()
        }
        Target::Server(s) => {
            let mut all = Vec::new();
            let mut after: Option<String> = None;
            while all.len() < limit as usize {
                let page_size = (limit as usize - all.len()).min(1000);
                let q = remote::query(&[
                    ("since", since.clone()),
                    ("actor", actor.clone()),
                    ("package", package.clone()),
                    ("after", after.clone()),
                    ("limit", Some(page_size.to_string())),
                ]);
                let page = s.get(&format!("/-/admin/audit{q}")).await?;
                all.extend(page["entries"].as_array().cloned().unwrap_or_default());
                match page["next"].as_str() {
                    Some(next) => after = Some(next.to_string()),
                    None => break,
                }
            }
            all
        }
    };
    if flags.json {
        print_json(&serde_json::Value::Array(entries));
        return Ok(());
    }
    for e in entries {
        let s = |k: &str| e[k].as_str().unwrap_or("-").to_string();
        let detail = e["detail"]
            .as_str()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        println!(
            "{} {} {} {} by {} [token {}] from {}{detail}",
            s("at"),
            s("action"),
            s("target"),
            s("outcome"),
            s("user"),
            s("tokenId"),
            s("address"),
        );
    }
    Ok(())
}

async fn init_aws(layers: Layers, flags: &AdminFlags) -> Result<(), String> {
    use crate::config::{BlobBackend, MetadataBackend};
    let settings = layers.resolve().map_err(|e| e.to_string())?;
    let tables = settings.metadata_backend == MetadataBackend::DynamoDb;
    let bucket = settings.blob_backend == BlobBackend::S3;
    if !tables && !bucket {
        return Err("nothing to create: set storage.dynamodb_table (env DYNAMODB_TABLE) and/or storage.s3_bucket (env S3_BUCKET)".into());
    }
    let mut done: Vec<(String, String, &str)> = Vec::new();
    if tables {
        for table in crate::store::dynamo::DynamoStore::init(&settings.dynamodb)
            .await
            .map_err(|e| format!("creating the DynamoDB tables: {e}"))?
        {
            done.push(match table {
                crate::store::dynamo::TableInit::Created(t) => ("table".into(), t, "created"),
                crate::store::dynamo::TableInit::Existed(t) => ("table".into(), t, "exists"),
            });
        }
    }
    if bucket {
        let outcome = crate::blobs::s3::ensure_bucket(&settings.s3)
            .await
            .map_err(|e| format!("creating the bucket: {e}"))?;
        let what = match outcome {
            crate::blobs::s3::BucketInit::Created => "created",
            crate::blobs::s3::BucketInit::Existed => "exists",
        };
        done.push(("bucket".into(), settings.s3.bucket.clone(), what));
    }
    if flags.json {
        print_json(&serde_json::Value::Array(
            done.iter()
                .map(|(kind, name, state)| serde_json::json!({"kind": kind, "name": name, "state": state}))
                .collect(),
        ));
    } else {
        for (kind, name, state) in &done {
            println!("{kind} {name}: {state}");
        }
    }
    Ok(())
}

/// A long command's progress told as lines (a job's): on a terminal a spinner showing the
/// latest, otherwise each line as it comes.
struct Ticker {
    spinner: indicatif::ProgressBar,
}

impl Ticker {
    fn new() -> Self {
        let spinner =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        spinner.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .expect("a valid template"),
        );
        if !spinner.is_hidden() {
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        }
        Self { spinner }
    }

    fn say(&self, line: &str) {
        if self.spinner.is_hidden() {
            eprintln!("{line}");
        } else {
            self.spinner.set_message(line.to_string());
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.spinner.finish_and_clear();
    }
}

/// A progress bar per stage of a long command on a terminal, a line per stage otherwise.
#[derive(Default)]
struct Bars {
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Bars {
    /// Ends the last stage's bar.
    fn finish(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish();
        }
    }
}

impl crate::core::transfer::Progress for Bars {
    fn stage(&self, what: &str, total: u64) {
        let mut bar = self.bar.lock().expect("progress lock");
        if let Some(done) = bar.take() {
            done.finish();
        }
        let next = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if next.is_hidden() {
            if total > 0 {
                eprintln!("{what}: {total}");
            } else {
                eprintln!("{what}");
            }
        }
        let template = if total > 0 {
            "{msg:>26} [{bar:40}] {pos}/{len} ({eta})"
        } else {
            "{msg:>26} {spinner} {pos}"
        };
        next.set_style(
            indicatif::ProgressStyle::with_template(template)
                .expect("a valid template")
                .progress_chars("=> "),
        );
        next.set_message(what.to_string());
        *bar = Some(next);
    }

    fn advance(&self, done: u64) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            bar.inc(done);
        }
    }
}

async fn migrate(layers: Layers, flags: &AdminFlags, to: &str) -> Result<(), String> {
    let target = match to {
        "aws" | "dynamodb+s3" | "s3+dynamodb" => crate::app::MigrationTarget::Aws,
        "local" | "redb" => crate::app::MigrationTarget::Local,
        other => {
            return Err(format!(
                "unknown destination {other:?}: --to aws (DynamoDB + S3) or --to local (redb + disk)"
            ));
        }
    };
    let settings = layers.resolve().map_err(|e| e.to_string())?;
    let progress = Bars::default();
    let report = crate::app::migrate(&settings, target, &progress).await;
    progress.finish();
    let report = report?;
    if flags.json {
        print_json(&serde_json::to_value(&report).unwrap_or_default());
    } else {
        let c = &report.counts;
        println!(
            "Migrated and verified: {}; {} blobs ({} copied, {} bytes; {} already there), every one re-hashed.",
            c.records_summary(),
            c.blobs,
            report.blobs_copied,
            report.bytes_copied,
            report.blobs_already_there,
        );
    }
    Ok(())
}

/// Runs the command line; the binary's `main` is only this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server's flags, given before `serve` or after it.
    let server = match &cli.command {
        Some(Command::Serve(flags)) => ServerFlags {
            host: flags.host.clone().or(cli.server.host.clone()),
            port: flags.port.clone().or(cli.server.port.clone()),
            base_url: flags.base_url.clone().or(cli.server.base_url.clone()),
        },
        // `config show` shows what serving with these flags would use.
        None | Some(Command::Config(ConfigCommand::Show)) => cli.server.clone(),
        Some(_) => {
            if let Some(flag) = cli.server.given() {
                eprintln!(
                    "error: {flag} is a flag of `serve` (where the server listens); this command does not serve, so it does not take it"
                );
                return ExitCode::from(2);
            }
            ServerFlags::default()
        }
    };
    let layers = match layers_from(&cli.overrides, &server) {
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
    let flags = AdminFlags {
        url: cli.overrides.url.clone(),
        admin_token: cli.overrides.admin_token.clone().or_else(|| {
            std::env::var("PANTRY_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
        }),
        init: cli.overrides.init,
        json: cli.overrides.json,
    };
    let result = match cli
        .command
        .unwrap_or(Command::Serve(ServerFlags::default()))
    {
        Command::Serve(_) => runtime.block_on(serve(layers)),
        Command::Token(cmd) => runtime.block_on(token(layers, &flags, cmd)),
        Command::User(cmd) => runtime.block_on(user(layers, &flags, cmd)),
        Command::Cache(cmd) => runtime.block_on(cache(layers, &flags, cmd)),
        Command::Gc { dry_run } => runtime.block_on(gc(layers, &flags, dry_run)),
        Command::Reindex => runtime.block_on(reindex(layers, &flags)),
        Command::Verify => runtime.block_on(verify(layers, &flags)),
        Command::Backup { file, incremental } => runtime.block_on(backup::run_backup(
            layers,
            &flags,
            &file,
            incremental.as_deref(),
        )),
        Command::Restore { file, base, check } => runtime.block_on(backup::run_restore(
            layers,
            &flags,
            &file,
            base.as_deref(),
            check,
        )),
        Command::Import {
            from_seed,
            from_verdaccio,
        } => runtime.block_on(import(layers, &flags, from_seed, from_verdaccio)),
        Command::Audit {
            since,
            actor,
            package,
            limit,
        } => runtime.block_on(audit(layers, &flags, since, actor, package, limit)),
        Command::InitAws => runtime.block_on(init_aws(layers, &flags)),
        Command::Migrate { to } => runtime.block_on(migrate(layers, &flags, &to)),
        Command::Config(ConfigCommand::Show) => layers
            .resolve()
            .map(|_| print!("{}", layers.render()))
            .map_err(|e| e.to_string()),
        Command::Config(ConfigCommand::Example) => {
            print!("{}", config::example_toml());
            Ok(())
        }
        Command::Config(ConfigCommand::Reference) => {
            print!("{}", config::reference_markdown());
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
