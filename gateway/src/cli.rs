//! The `paymux` command line: `serve` (the default), `migrate`, `config check`, `providers`,
//! `reconcile`, `dev seed`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{Duration, Utc};
use clap::{Parser, Subcommand};
use paymux_providers::{Registry, SecretRef};
use paymux_schema::db::activity::by_merchant_and_provider;
use paymux_schema::db::{self, PoolOptions, reconcile};

use crate::live::{Addresses, ConfigSource, LiveConfig};
use crate::progress::{ProgressLine, done_of, seconds, thousands};
use crate::reconciliation;
use crate::routes::admin::provider_statuses;
use crate::routes::list::parse_time;
use crate::seed::SeedOptions;
use crate::settings::{Overlay, Role, Settings};
use crate::startup::{Application, public_url};

#[derive(Debug, Parser)]
#[command(
    name = "paymux",
    version,
    about = "One checkout API in front of five payment providers"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API and run the background work (the default).
    Serve {
        /// `api` serves the API alone; `worker` runs the background jobs and webhook
        /// deliveries, serving only /healthz, /readyz and /metrics; `all` does both. Also
        /// `[server] role`.
        #[arg(long, value_enum)]
        role: Option<Role>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the API's OpenAPI 3.1 document, as `GET /openapi.json` serves it.
    Openapi,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Each merchant's providers from the config (FILE or $PAYMUX_CONFIG), with their checkouts
    /// and events from the database. Circuit breakers live in each server's memory: see
    /// `GET /v1/admin/providers` for them. The config is validated as a server would, every
    /// secret resolved (a provider's currencies come from its built adapter), so run it with
    /// the server's environment.
    Providers {
        /// The overlay file to read instead of $PAYMUX_CONFIG.
        file: Option<PathBuf>,
    },
    /// Print the reconciliation report of `[from, to)` from the configured database
    /// (docs/reconciliation.md).
    ///
    /// While it reads, a progress line shows on stderr when it is a terminal, and is cleared
    /// before the report is written; PAYMUX_PROGRESS=always (or never) overrides the check.
    Reconcile {
        /// Start of the period, included: RFC 3339, a date (midnight UTC) or Unix seconds.
        #[arg(long)]
        from: String,
        /// End of the period, excluded.
        #[arg(long)]
        to: String,
        /// One merchant; all of them when left out.
        #[arg(long)]
        merchant: Option<String>,
        /// One currency (ISO code); all of them when left out.
        #[arg(long)]
        currency: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: ReportFormat,
    },
    /// Developer tools.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
enum DevCommand {
    /// Write a realistic dataset of checkouts, webhooks, events and refunds across every
    /// provider, with about 1% planted discrepancies, into the configured database.
    ///
    /// While it writes, a progress line shows on stderr when it is a terminal;
    /// PAYMUX_PROGRESS=always (or never) overrides the check.
    Seed {
        /// How many events to write at least.
        #[arg(long)]
        events: u64,
        #[arg(long, default_value = "demo")]
        merchant: String,
        /// Start of the period the events fall in; 30 days before `--to` by default.
        #[arg(long)]
        from: Option<String>,
        /// End of the period; today's midnight UTC by default.
        #[arg(long)]
        to: Option<String>,
        /// The same seed writes the same dataset.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Writes the figures and discrepancies the report must show to this JSON file.
        #[arg(long)]
        expect: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration: the defaults, FILE (or $PAYMUX_CONFIG) and PAYMUX__ variables.
    /// Exits non-zero naming each bad key.
    Check {
        /// The overlay file to check instead of $PAYMUX_CONFIG.
        file: Option<PathBuf>,
    },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let result = match cli.command.unwrap_or(Command::Serve { role: None }) {
        Command::Serve { role } => serve(role),
        Command::Migrate => migrate(),
        Command::Openapi => {
            print!("{}", crate::routes::openapi::document());
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check { file },
        } => check(file),
        Command::Providers { file } => providers(file),
        Command::Reconcile {
            from,
            to,
            merchant,
            currency,
            format,
        } => reconcile(&from, &to, merchant, currency.as_deref(), format),
        Command::Dev {
            command:
                DevCommand::Seed {
                    events,
                    merchant,
                    from,
                    to,
                    seed,
                    expect,
                },
        } => seed_dataset(events, merchant, from, to, seed, expect),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load(file: Option<PathBuf>) -> Result<Settings, String> {
    let overlay = file.map_or(Overlay::FromEnvironment, Overlay::File);
    Settings::load(overlay).map_err(|error| format!("invalid configuration: {error}"))
}

fn serve(role: Option<Role>) -> Result<(), String> {
    // The flag outranks the config, on every reload too.
    let source: ConfigSource = Arc::new(move || {
        let mut settings = Settings::load(Overlay::FromEnvironment)?;
        if let Some(role) = role {
            settings.server.role = role;
        }
        Ok(settings)
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    runtime.block_on(async move {
        // The source is read once, by the application: the welcome shows what it started with.
        let app = Application::build(source).await.map_err(|error| error.to_string())?;
        let sandbox = app.settings().sandbox.enabled;
        let demo_key = welcome_key(app.settings());
        app.reload_on_sighup().map_err(|error| error.to_string())?;
        let base = app.public_url().as_str().trim_end_matches('/').to_owned();
        let role = app.settings().server.role.as_str();
        tracing::info!(address = %app.address(), backend = app.backend(), sandbox, role, "paymux listening");
        print_welcome(&base, app.backend(), sandbox, demo_key.as_deref());
        app.run_until_stopped().await.map_err(|error| error.to_string())
    })
}

/// The demo merchant's key the welcome shows: only one written in the config as it is (a
/// fake sandbox key), never one read from the environment or a file, which is a real secret.
fn welcome_key(settings: &Settings) -> Option<String> {
    settings
        .merchants
        .get("demo")
        .filter(|demo| demo.enabled && settings.sandbox.enabled)
        .and_then(|demo| demo.api_keys.iter().find_map(SecretRef::literal))
}

/// What a newcomer sees after `cargo run`: where paymux listens and how to try it.
fn print_welcome(base: &str, backend: &str, sandbox: bool, demo_key: Option<&str>) {
    let sandbox = if sandbox { "on" } else { "off" };
    println!("paymux is listening on {base} ({backend} store, sandbox {sandbox})");
    println!("API reference: {base}/docs (the OpenAPI document: {base}/openapi.json)");
    println!("Dashboard: {base}/dashboard (sign in with the admin token or a merchant's API key)");
    println!("Try it (README.md, \"Try a payment in the sandbox\", walks a whole payment):");
    println!("  curl {base}/healthz");
    if let Some(key) = demo_key {
        println!("  curl -H 'Authorization: Bearer {key}' {base}/v1/events");
        println!("  curl -X POST {base}/v1/checkouts -H 'Authorization: Bearer {key}' \\");
        println!(
            "    -H 'Content-Type: application/json' \\\n    \
             -d '{{\"amount\": 2500, \"currency\": \"USD\", \"provider\": \"sknpay\"}}'"
        );
    }
}

/// One connection to the database of `settings`.
fn connection(settings: &Settings) -> Result<db::PooledConnection, String> {
    let pool = db::connect(
        &settings.database.url,
        PoolOptions {
            max_connections: 1,
            ..PoolOptions::default()
        },
    )
    .map_err(|error| error.to_string())?;
    pool.get().map_err(|error| error.to_string())
}

/// One connection to the configured database, migrated, and how many migrations that applied.
fn database() -> Result<(db::PooledConnection, usize), String> {
    migrated(connection(&load(None)?)?)
}

fn migrated(mut conn: db::PooledConnection) -> Result<(db::PooledConnection, usize), String> {
    let applied = db::run_migrations(&mut conn).map_err(|error| error.to_string())?;
    Ok((conn, applied))
}

/// One connection to a database that exists: a command that only reads never creates a store
/// (opening a SQLite file that is not there would make an empty one).
fn existing(settings: &Settings) -> Result<db::PooledConnection, String> {
    if let Ok(db::DatabaseUrl::Sqlite(path)) = db::DatabaseUrl::parse(&settings.database.url)
        && !path.exists()
    {
        return Err(format!(
            "there is no database at {}: point PAYMUX__DATABASE__URL (or the config's \
             [database] url) at the server's database, or start the server once",
            path.display()
        ));
    }
    connection(settings)
}

fn migrate() -> Result<(), String> {
    let (_, applied) = database()?;
    println!("{applied} migration(s) applied");
    Ok(())
}

fn reconcile(
    from: &str,
    to: &str,
    merchant: Option<String>,
    currency: Option<&str>,
    format: ReportFormat,
) -> Result<(), String> {
    let scope = reconciliation::scope(from, to, currency, merchant)
        .map_err(|(param, message)| format!("--{param}: {message}"))?;
    let (mut conn, _) = migrated(existing(&load(None)?)?)?;
    let mut line = ProgressLine::stderr();
    let report = reconcile::reconcile_with_progress(&mut conn, &scope, &mut |at| {
        line.update(|elapsed| {
            format!(
                "reconciling {}: {} {} read · {}",
                at.merchant,
                at.phase,
                thousands(at.rows),
                seconds(elapsed)
            )
        });
    })
    .map_err(|error| error.to_string())?;
    line.clear();
    let mut out = std::io::stdout().lock();
    match format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report).map_err(|error| error.to_string())?;
            writeln!(out).map_err(|error| error.to_string())
        }
        ReportFormat::Csv => {
            let csv = reconciliation::to_csv(&report).map_err(|error| error.to_string())?;
            out.write_all(&csv).map_err(|error| error.to_string())
        }
    }
}

fn seed_dataset(
    events: u64,
    merchant: String,
    from: Option<String>,
    to: Option<String>,
    seed: u64,
    expect: Option<PathBuf>,
) -> Result<(), String> {
    let to = to.unwrap_or_else(|| Utc::now().date_naive().to_string());
    let from = from.unwrap_or_else(|| {
        parse_time(&to)
            .map(|to| (to - Duration::days(30)).and_utc().to_rfc3339())
            .unwrap_or_default()
    });
    let scope = reconciliation::scope(&from, &to, None, None)
        .map_err(|(param, message)| format!("--{param}: {message}"))?;
    let (mut conn, _) = database()?;
    let options = SeedOptions {
        merchant: merchant.clone(),
        events,
        from: scope.from,
        to: scope.to,
        seed,
    };
    let mut line = ProgressLine::stderr();
    let seeding =
        |written, elapsed| format!("seeding: {}", done_of(written, events, "events", elapsed));
    let seeded = crate::seed::seed_with_progress(&mut conn, &options, &mut |written| {
        line.update(|elapsed| seeding(written, elapsed));
    })
    .map_err(|error| error.to_string())?;
    line.finish(|elapsed| seeding(seeded.events, elapsed));
    if let Some(path) = expect {
        let json = serde_json::to_vec_pretty(&seeded).map_err(|error| error.to_string())?;
        std::fs::write(&path, json)
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    let (from, to) = (
        scope.from.and_utc().to_rfc3339(),
        scope.to.and_utc().to_rfc3339(),
    );
    println!(
        "seeded {} events and {} checkouts for merchant {merchant}, {} planted discrepancies",
        seeded.events,
        seeded.checkouts,
        seeded.discrepancies.len()
    );
    println!("report: paymux reconcile --from {from} --to {to} --merchant {merchant}");
    Ok(())
}

/// The config of `file` validated as a server would (at the address it would bind).
fn validate(settings: &Settings) -> Result<LiveConfig, String> {
    let bind = settings
        .bind_address()
        .map_err(|error| format!("server.bind: {error}"))?;
    let public_url = public_url(settings, bind).map_err(|error| error.to_string())?;
    let addresses = Addresses {
        public_url,
        refusing_url: None,
    };
    LiveConfig::build(settings.clone(), &Registry::standard(), &addresses)
        .map_err(|error| format!("invalid configuration:\n{error}"))
}

fn check(file: Option<PathBuf>) -> Result<(), String> {
    let settings = load(file)?;
    let mut problems = vec![];
    if let Err(error) = db::DatabaseUrl::parse(&settings.database.url) {
        problems.push(format!("database.url: {error}"));
    }
    match validate(&settings) {
        Ok(config) if problems.is_empty() => {
            let ids: Vec<_> = config.merchants.iter().map(|m| m.id.as_str()).collect();
            println!("configuration is valid: merchants {}", ids.join(", "));
        }
        Ok(_) => {}
        Err(error) => problems.push(error),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn providers(file: Option<PathBuf>) -> Result<(), String> {
    let settings = load(file)?;
    let config = validate(&settings)?;
    let mut conn = existing(&settings)?;
    let activity = by_merchant_and_provider(&mut conn)
        .map_err(|error| format!("cannot read the database (run `paymux migrate`?): {error}"))?;
    let time = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map_or_else(
            || "-".to_owned(),
            |at| at.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
    };
    println!(
        "{:<16} {:<10} {:<8} {:>8} {:>9} {:>7}  {:<19}  {:<19}",
        "MERCHANT",
        "PROVIDER",
        "ENABLED",
        "PRIORITY",
        "CHECKOUTS",
        "EVENTS",
        "LAST CHECKOUT",
        "LAST EVENT"
    );
    for status in provider_statuses(&config.merchants, &activity, None) {
        println!(
            "{:<16} {:<10} {:<8} {:>8} {:>9} {:>7}  {:<19}  {:<19}",
            status.merchant,
            status.provider,
            if status.enabled { "yes" } else { "no" },
            status.priority,
            status.checkouts,
            status.events,
            time(status.last_checkout_at),
            time(status.last_event_at),
        );
    }
    println!("Circuit states and last provider failures: GET /v1/admin/providers on a server.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(overlay: &str) -> Settings {
        Settings::load(Overlay::Toml(overlay.to_owned())).unwrap()
    }

    #[test]
    fn the_welcome_shows_the_configured_demo_key_only_when_it_is_written_out() {
        assert_eq!(welcome_key(&settings("")).as_deref(), Some("pmx_test_demo"));
        let other = settings("[merchants.demo]\napi_keys = [\"pmx_test_mine\"]\n");
        assert_eq!(welcome_key(&other).as_deref(), Some("pmx_test_mine"));
        for hidden in ["env:PAYMUX_WELCOME_TEST_KEY", "file:/run/secrets/demo_key"] {
            let overlay = format!("[merchants.demo]\napi_keys = [\"{hidden}\"]\n");
            assert_eq!(welcome_key(&settings(&overlay)), None, "{hidden}");
        }
        let off = settings("[sandbox]\nenabled = false\n");
        assert_eq!(welcome_key(&off), None);
    }
}
