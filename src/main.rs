//! The `enumd` command line: `serve` (the default) and `check`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::ArcSwap;
use clap::{Parser, Subcommand};
use tracing::{error, info};

use enumd::config::{Config, LogFormat};
use enumd::reload::{self, ZoneSet};
use enumd::server::{Listeners, Serving};
use enumd::zone::Zone;

/// An authoritative DNS server for ENUM (RFC 6116): E.164 numbers to URIs.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(short, long, global = true, default_value = "config/enumd.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Load the zones and answer queries over UDP and TCP (the default). SIGHUP reloads.
    Serve,
    /// Load the configuration and every zone as `serve` would, print each problem as
    /// `file:line: reason` and a summary per zone; exit 0 only if all is well.
    Check {
        /// Treat warnings as errors for every zone, as `strict = true` does for one.
        #[arg(long)]
        strict: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("enumd: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Check { strict } => check(&config, strict),
    }
}

fn check(config: &Config, strict: bool) -> ExitCode {
    let mut ok = true;
    if config.zones.is_empty() {
        println!("no zones configured");
    }
    for zc in &config.zones {
        match Zone::load(&zc.apex_wire(), &zc.file, strict || zc.strict) {
            Ok(zone) => {
                for w in &zone.warnings {
                    println!("{w}");
                }
                let warnings = zone.warnings.len() + zone.unlisted_warnings;
                let s = &zone.stats;
                println!(
                    "zone {}: ok, serial {}, {} names, {} records, {} numbers, {} warning(s) ({})",
                    zc.apex,
                    zone.serial,
                    s.names,
                    s.records,
                    s.numbers,
                    warnings,
                    zc.file.display()
                );
            }
            Err(errors) => {
                ok = false;
                for e in &errors {
                    println!("{e}");
                }
                let count = errors.iter().filter(|e| !e.warning).count();
                println!("zone {}: {count} error(s), not loadable", zc.apex);
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log.format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(config: Config) -> ExitCode {
    init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listeners = match Listeners::bind(&config.listen).await {
            Ok(l) => l,
            Err(e) => {
                error!("cannot bind {:?}: {e}", config.listen);
                return ExitCode::FAILURE;
            }
        };
        let zones = {
            let config = config.clone();
            match tokio::task::spawn_blocking(move || ZoneSet::load(&config)).await {
                Ok(z) => z,
                Err(e) => {
                    error!("zone loading failed: {e}");
                    return ExitCode::FAILURE;
                }
            }
        };
        let store = Arc::new(ArcSwap::from_pointee(zones.snapshot()));
        let serving = Serving::new(&config, store.clone());
        tokio::spawn(reload::run(zones, store, config.watch));
        tokio::spawn(listeners.serve(serving));
        info!("serving");
        shutdown_signal().await;
        info!("shutting down");
        ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot listen for SIGTERM: {e}");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
