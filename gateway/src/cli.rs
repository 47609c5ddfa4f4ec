//! The `paymux` command line: `serve` (the default), `migrate`, `config check`, `providers`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use paymux_providers::Registry;
use paymux_schema::db::activity::by_merchant_and_provider;
use paymux_schema::db::{self, PoolOptions};

use crate::admin::provider_statuses;
use crate::live::{Addresses, ConfigSource, LiveConfig};
use crate::settings::{Overlay, Settings};
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
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Each merchant's providers from the config (FILE or $PAYMUX_CONFIG), with their checkouts
    /// and events from the database. Circuit breakers live in each server's memory: see
    /// `GET /v1/admin/providers` for them.
    Providers {
        /// The overlay file to read instead of $PAYMUX_CONFIG.
        file: Option<PathBuf>,
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
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Migrate => migrate(),
        Command::Config {
            command: ConfigCommand::Check { file },
        } => check(file),
        Command::Providers { file } => providers(file),
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

fn serve() -> Result<(), String> {
    let settings = load(None)?;
    let source: ConfigSource = Arc::new(|| Settings::load(Overlay::FromEnvironment));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    runtime.block_on(async move {
        let sandbox = settings.sandbox.enabled;
        let demo_key = settings
            .merchants
            .get("demo")
            .filter(|demo| demo.enabled && sandbox)
            .map(|_| "pmx_test_demo");
        let app = Application::build(source).await.map_err(|error| error.to_string())?;
        app.reload_on_sighup().map_err(|error| error.to_string())?;
        let base = app.public_url().as_str().trim_end_matches('/').to_owned();
        tracing::info!(address = %app.address(), backend = app.backend(), sandbox, "paymux listening");
        print_welcome(&base, app.backend(), sandbox, demo_key);
        app.run_until_stopped().await.map_err(|error| error.to_string())
    })
}

/// What a newcomer sees after `cargo run`: where paymux listens and how to try it.
fn print_welcome(base: &str, backend: &str, sandbox: bool, demo_key: Option<&str>) {
    let sandbox = if sandbox { "on" } else { "off" };
    println!("paymux is listening on {base} ({backend} store, sandbox {sandbox})");
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

fn migrate() -> Result<(), String> {
    let settings = load(None)?;
    let pool = db::connect(
        &settings.database.url,
        PoolOptions {
            max_connections: 1,
            ..PoolOptions::default()
        },
    )
    .map_err(|error| error.to_string())?;
    let mut conn = pool.get().map_err(|error| error.to_string())?;
    let applied = db::run_migrations(&mut conn).map_err(|error| error.to_string())?;
    println!("{applied} migration(s) applied");
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
    let pool = db::connect(
        &settings.database.url,
        PoolOptions {
            max_connections: 1,
            ..PoolOptions::default()
        },
    )
    .map_err(|error| error.to_string())?;
    let mut conn = pool.get().map_err(|error| error.to_string())?;
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
