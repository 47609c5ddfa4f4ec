//! The `paymux` command line: `serve` (the default), `migrate`, `config check`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use paymux_providers::Registry;
use paymux_schema::db::{self, PoolOptions};

use crate::settings::{Overlay, Settings};
use crate::startup::{Application, build_merchants, public_url};

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
        let app = Application::build(settings).await.map_err(|error| error.to_string())?;
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

fn check(file: Option<PathBuf>) -> Result<(), String> {
    let settings = load(file)?;
    let mut problems = vec![];
    if let Err(error) = db::DatabaseUrl::parse(&settings.database.url) {
        problems.push(format!("database.url: {error}"));
    }
    match settings.bind_address() {
        Err(error) => problems.push(format!("server.bind: {error}")),
        Ok(bind) => {
            let registry = Registry::standard();
            match public_url(&settings, bind)
                .and_then(|url| build_merchants(&settings, &registry, &url))
            {
                Ok(merchants) => {
                    if problems.is_empty() {
                        let ids: Vec<_> = merchants.iter().map(|m| m.id.as_str()).collect();
                        println!("configuration is valid: merchants {}", ids.join(", "));
                    }
                }
                Err(error) => problems.push(error.to_string()),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
