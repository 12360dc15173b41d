//! The `enumd` command line: `serve` (the default) and `check`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing::{error, info};

use enumd::client;
use enumd::config::{Config, LogFormat};
use enumd::e164::{self, DialPlan};
use enumd::owner::Owner;
use enumd::server::{Listeners, Serving};
use enumd::zone::Zone;

/// `enumd --version`: the version and the commit built from (see build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ENUMD_COMMIT"),
    ")"
);

/// An authoritative DNS server for ENUM (RFC 6116): E.164 numbers to URIs.
#[derive(Parser)]
#[command(version = VERSION, about, long_about = None)]
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
    /// Resolve a dialled number as RFC 6116 prescribes and print its URIs in order. Exit 0
    /// with at least one URI, 1 when the number has none, 2 on errors.
    Lookup(LookupArgs),
    /// Control a running server over its control socket (`control` in the config). Exit 0
    /// when done, 1 when the command failed, 2 when the server is not reachable.
    Ctl(CtlArgs),
    /// Apply number ranges and portability lists to a zone on any RFC 2136 server: check
    /// every record, read the zone, send only the difference as UPDATEs guarded by
    /// prerequisites. Exit 0 when applied or nothing to do, 1 when some UPDATE was refused or
    /// not answered (run again to finish), 2 on usage or input errors (nothing sent), 3 when
    /// the server or zone could not be read (nothing sent).
    Provision(ProvisionArgs),
    /// Write a zone's numbers as `provision` input (csv) or as a portability list, from a
    /// server by AXFR or from a zone file.
    Export(ExportArgs),
}

#[derive(clap::Args)]
struct ProvisionArgs {
    /// Operations: CSV with the header action,number,service,uri,order,preference,ttl; JSON
    /// lines with those keys; or a portability list number,routing_number[,operator].
    #[arg(required_unless_present = "plan")]
    file: Option<PathBuf>,
    /// With --dry-run: also write the difference to this file, for --plan.
    #[arg(long, requires = "dry_run")]
    save_plan: Option<PathBuf>,
    /// Send the difference a dry run saved with --save-plan, exactly: a number changed since
    /// makes its UPDATE refused rather than overwritten.
    #[arg(long, conflicts_with_all = ["file", "dry_run"])]
    plan: Option<PathBuf>,
    /// The zone's apex, e.g. 3.4.e164.arpa. (its digit labels say which numbers it holds).
    #[arg(long)]
    zone: String,
    /// The zone's primary server [default: the first `listen` address of --config, else
    /// 127.0.0.1:53].
    #[arg(long)]
    server: Option<std::net::SocketAddr>,
    /// TSIG key: the name of a [[key]] of --config, or ALGORITHM:NAME:SECRET as nsupdate -y
    /// takes it.
    #[arg(long)]
    key: Option<String>,
    /// Print the difference and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Send even when the ENUM checks gave warnings (errors always stop the run).
    #[arg(long)]
    force: bool,
    /// Records changed per UPDATE message at most (a number's changes are never split).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// UPDATE messages sent before the first is answered (1: one at a time, for a server that
    /// drops a connection whose requests wait, such as Knot DNS with its default
    /// tcp-io-timeout while a large zone commits)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    in_flight: u16,
    #[arg(long, value_enum, default_value_t = client::input::Format::Auto)]
    format: client::input::Format,
    /// How the current data is read.
    #[arg(long, value_enum, default_value_t = client::provision::ReadMode::Auto)]
    read: client::provision::ReadMode,
    /// TTL of records whose line gives none.
    #[arg(long, default_value_t = client::input::Defaults::STANDARD.ttl.to_string())]
    ttl: String,
    /// ORDER of records whose line gives none (and of portability records).
    #[arg(long, default_value_t = client::input::Defaults::STANDARD.order)]
    order: u16,
    /// PREFERENCE of records whose line gives none (and of portability records).
    #[arg(long, default_value_t = client::input::Defaults::STANDARD.preference)]
    preference: u16,
    /// Numbers whose changes a dry run prints.
    #[arg(long, default_value_t = 10)]
    show: usize,
}

#[derive(clap::Args)]
struct ExportArgs {
    /// The zone's apex.
    #[arg(long)]
    zone: String,
    /// Read the zone from this server by AXFR [default: the first `listen` address of
    /// --config, else 127.0.0.1:53].
    #[arg(long, conflicts_with = "file")]
    server: Option<std::net::SocketAddr>,
    /// Read the zone from this zone file instead.
    #[arg(long)]
    file: Option<PathBuf>,
    /// TSIG key for the transfer, as for provision.
    #[arg(long)]
    key: Option<String>,
    #[arg(long, value_enum, default_value_t = client::export::ExportFormat::Csv)]
    format: client::export::ExportFormat,
}

#[derive(clap::Args)]
struct CtlArgs {
    /// What to do: status; zone-status [ZONE]; reload [ZONE] (waits, and says what came of
    /// each zone); flush [ZONE] (write pending changes to zone files); notify ZONE;
    /// retransfer ZONE (a secondary's whole zone again); stats (queries answered, by rcode,
    /// kind and type); stop.
    #[arg(value_parser = ["status", "zone-status", "reload", "flush", "notify", "retransfer", "stats", "stop"])]
    command: String,
    /// The zone, for the commands that take one.
    zone: Option<String>,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
    /// The control socket [default: `control` of --config].
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Seconds to wait for the answer (a reload of a large zone takes a while); none within
    /// them exits 1.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

#[derive(clap::Args)]
struct LookupArgs {
    /// The number as dialled: "+43 1 79780 1234", "0043 1 79780-1234", "*431797801234",
    /// "(01) 79780 1234" with --country-code 43.
    dialled: String,
    /// DNS server to ask [default: the first `listen` address of --config, else 127.0.0.1:53].
    #[arg(long)]
    server: Option<std::net::SocketAddr>,
    /// ENUM apex the number's domain is built under.
    #[arg(long, default_value = "e164.arpa.")]
    apex: String,
    /// Only rules with this Enumservice (`sip`, `voice:tel`; a type alone matches its subtypes).
    #[arg(long)]
    service: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Country code for national numbers (dialled with the national prefix).
    #[arg(long)]
    country_code: Option<String>,
    /// National (trunk) prefix.
    #[arg(long, default_value = "0")]
    national_prefix: String,
    /// International access code; repeat for several [default: 011 with --country-code 1,
    /// 00 with another country code, both without one].
    #[arg(long = "international-prefix")]
    international_prefixes: Vec<String>,
    /// Follow NS referrals down to Tier-3 servers (asked on the same port as --server).
    #[arg(long)]
    follow_referrals: bool,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 2)]
    timeout: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Lookup(args)) = &cli.command {
        return lookup(args, &cli.config);
    }
    if let Some(Command::Ctl(args)) = &cli.command {
        return ctl(args, &cli.config);
    }
    if let Some(Command::Provision(args)) = &cli.command {
        return ExitCode::from(provision(args, &cli.config));
    }
    if let Some(Command::Export(args)) = &cli.command {
        return ExitCode::from(export(args, &cli.config));
    }
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
        Command::Lookup(_) | Command::Ctl(_) | Command::Provision(_) | Command::Export(_) => {
            unreachable!("handled before the config is required")
        }
    }
}

fn check(config: &Config, strict: bool) -> ExitCode {
    let mut ok = true;
    if config.zones.is_empty() {
        println!("no zones configured");
    }
    for zc in &config.zones {
        if zc.is_secondary() && !zc.file.exists() {
            println!(
                "zone {}: secondary of {}, no stored copy yet ({})",
                zc.apex,
                zc.primaries.join(", "),
                zc.file.display()
            );
            continue;
        }
        let loaded = if zc.catalog {
            enumd::zone::catalog::build(&zc.apex_wire(), &zc.catalog_members, 1)
        } else {
            Zone::load(
                &zc.apex_wire(),
                &zc.file,
                strict || zc.strict,
                zc.max_records,
            )
        };
        match loaded {
            Ok(zone) => {
                for w in &zone.warnings {
                    println!("{w}");
                }
                let warnings = zone.warnings.len() + zone.unlisted_warnings;
                let s = &zone.stats;
                if zc.catalog {
                    println!(
                        "zone {}: ok, a catalog of {} zone(s), built at start",
                        zc.apex,
                        zc.catalog_members.len()
                    );
                    continue;
                }
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
                if let Some(c) = &zc.concealment {
                    report_views(&zc.apex, &zone, c);
                }
            }
            Err(failure) => {
                ok = false;
                for e in &failure.problems {
                    println!("{e}");
                }
                println!(
                    "zone {}: {} error(s), not loadable",
                    zc.apex, failure.errors
                );
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What each view's `hide_services` rules leave out of a zone for clients outside it.
fn report_views(apex: &str, zone: &Zone, concealment: &enumd::view::Concealment) {
    for view in concealment.views() {
        let Some(hide) = concealment.outside(view) else {
            continue;
        };
        let r = enumd::view::report(zone, hide);
        if r.hidden == 0 {
            println!(
                "zone {apex}: view {view}: hides nothing (none of {} NAPTRs match its services)",
                r.naptrs
            );
            continue;
        }
        let by: Vec<String> = r
            .by_services
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        println!(
            "zone {apex}: view {view}: outside it, {} of {} NAPTRs are hidden ({}); e.g. at {}",
            r.hidden,
            r.naptrs,
            by.join(", "),
            r.examples.join(", ")
        );
    }
}

/// The server a client command talks to: `--server`, else the config's first listen address.
fn server_of(
    arg: Option<std::net::SocketAddr>,
    config_path: &std::path::Path,
) -> std::net::SocketAddr {
    arg.unwrap_or_else(|| {
        Config::load(config_path)
            .ok()
            .and_then(|c| c.listen.first().copied())
            .unwrap_or_else(|| ([127, 0, 0, 1], 53).into())
    })
}

/// `--key`: ALGORITHM:NAME:SECRET, or the name of a key in the config.
fn key_of(
    arg: Option<&str>,
    config_path: &std::path::Path,
) -> Result<Option<enumd::config::Key>, String> {
    use base64::Engine;
    let Some(arg) = arg else { return Ok(None) };
    let parts: Vec<&str> = arg.splitn(3, ':').collect();
    if let [alg, name, secret] = parts[..] {
        let algorithm = enumd::xfr::tsig::Algorithm::from_config(alg)
            .ok_or_else(|| format!("--key: algorithm {alg:?}: expected hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1"))?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret)
            .map_err(|e| format!("--key: the secret is not base64: {e}"))?;
        let name = enumd::name::parse(name.as_bytes(), enumd::name::ROOT)
            .map_err(|e| format!("--key: {name:?}: {e}"))?;
        return Ok(Some(enumd::config::Key {
            name,
            algorithm,
            secret,
        }));
    }
    let config = Config::load(config_path).map_err(|e| format!("--key {arg}: {e}"))?;
    let wanted = enumd::name::parse(arg.as_bytes(), enumd::name::ROOT)
        .map_err(|e| format!("--key: {arg:?}: {e}"))?;
    config
        .keys()?
        .into_iter()
        .find(|k| enumd::name::eq_ignore_case(&k.name, &wanted))
        .map(Some)
        .ok_or_else(|| format!("--key {arg}: no such [[key]] in {}", config_path.display()))
}

fn apex_of(text: &str) -> Result<Vec<u8>, String> {
    let text = if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    };
    enumd::name::parse(text.as_bytes(), enumd::name::ROOT)
        .map(|n| enumd::name::to_lowercase(&n))
        .map_err(|e| format!("--zone {text:?}: {e}"))
}

fn provision(args: &ProvisionArgs, config_path: &std::path::Path) -> u8 {
    use client::provision::{self, exit};
    let setup = || -> Result<provision::Args, String> {
        let ttl =
            enumd::rdata::parse_ttl(args.ttl.as_bytes()).map_err(|e| format!("--ttl: {e}"))?;
        if args.batch == 0 {
            return Err("--batch must be at least 1".into());
        }
        Ok(provision::Args {
            file: args.file.clone(),
            save_plan: args.save_plan.clone(),
            plan: args.plan.clone(),
            apex: apex_of(&args.zone)?,
            server: server_of(args.server, config_path),
            key: key_of(args.key.as_deref(), config_path)?,
            dry_run: args.dry_run,
            force: args.force,
            batch: args.batch,
            in_flight: usize::from(args.in_flight),
            format: args.format,
            read: args.read,
            defaults: client::input::Defaults {
                ttl,
                order: args.order,
                preference: args.preference,
            },
            show: args.show,
        })
    };
    match setup() {
        Ok(a) => provision::run(&a),
        Err(e) => {
            eprintln!("enumd provision: {e}");
            exit::INPUT
        }
    }
}

fn export(args: &ExportArgs, config_path: &std::path::Path) -> u8 {
    use client::export::{self, Source};
    let setup = || -> Result<(Vec<u8>, Source), String> {
        let apex = apex_of(&args.zone)?;
        let source = match &args.file {
            Some(f) => Source::File(f.clone()),
            None => Source::Server(
                server_of(args.server, config_path),
                key_of(args.key.as_deref(), config_path)?,
            ),
        };
        Ok((apex, source))
    };
    match setup() {
        Ok((apex, source)) => {
            export::run(&apex, &source, args.format, &mut std::io::stdout().lock())
        }
        Err(e) => {
            eprintln!("enumd export: {e}");
            client::provision::exit::INPUT
        }
    }
}

fn ctl(args: &CtlArgs, config_path: &std::path::Path) -> ExitCode {
    let socket = match &args.socket {
        Some(s) => s.clone(),
        None => match Config::load(config_path) {
            Ok(c) => match c.control {
                Some(s) => s,
                None => {
                    eprintln!(
                        "enumd ctl: {} sets no control socket (control = \"/run/enumd/control.sock\")",
                        config_path.display()
                    );
                    return ExitCode::from(2);
                }
            },
            Err(e) => {
                eprintln!("enumd ctl: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let request = enumd::ops::control::Request {
        command: args.command.clone(),
        zone: args.zone.clone(),
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let answer = match enumd::ops::control::ask(&socket, &request, timeout) {
        Ok(a) => a,
        Err(enumd::ops::control::AskError::Unreachable(e)) => {
            eprintln!("enumd ctl: not reachable: {e}");
            return ExitCode::from(2);
        }
        Err(enumd::ops::control::AskError::NoAnswer(e)) => {
            eprintln!("enumd ctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        let out =
            serde_json::json!({ "ok": answer.ok, "data": answer.data, "lines": answer.lines });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for line in &answer.lines {
            if answer.ok {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
        }
    }
    if answer.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn lookup(args: &LookupArgs, config_path: &std::path::Path) -> ExitCode {
    let mut plan = DialPlan::for_country(args.country_code.clone());
    plan.national_prefix = args.national_prefix.clone();
    if !args.international_prefixes.is_empty() {
        plan.international_prefixes = args.international_prefixes.clone();
    }
    let number = match e164::normalize(&args.dialled, &plan) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("enumd lookup: {e}");
            return ExitCode::from(2);
        }
    };
    let server = server_of(args.server, config_path);
    let opts = client::lookup::Options {
        server,
        follow_referrals: args.follow_referrals,
        service: args.service.clone(),
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let res = match client::lookup::resolve(&number, &args.apex, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("enumd lookup: {e}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&res) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("enumd lookup: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print_resolution(&res);
    }
    if res.outcome == client::lookup::Outcome::Found {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_resolution(res: &client::lookup::Resolution) {
    println!("{} → {} (asked {})", res.number, res.domain, res.server);
    if res.results.is_empty() {
        println!("no URI: {}", client::lookup::describe(res.outcome));
        if res.filtered > 0 {
            println!("note: {} rule(s) left out by --service", res.filtered);
        }
    } else {
        let width = res
            .results
            .iter()
            .map(|f| f.services.join("+").len())
            .max()
            .unwrap_or(0)
            .max(11);
        println!("order pref  {:width$}  uri", "enumservice");
        for f in &res.results {
            let via = if f.domain == res.domain {
                String::new()
            } else {
                format!("   (via {})", f.domain)
            };
            println!(
                "{:<5} {:<5} {:width$}  {}{via}",
                f.order,
                f.preference,
                f.services.join("+"),
                f.uri
            );
        }
    }
    for s in &res.skipped {
        if s.rule.is_empty() {
            println!("note: {}: {}", s.domain, s.reason);
        } else {
            println!("skipped: {} {}: {}", s.domain, s.rule, s.reason);
        }
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
    // The counters' clock starts now: uptime and process_start_time_seconds count from here.
    enumd::ops::metrics::global();
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
                error!("cannot listen on any configured address: {e}");
                return ExitCode::FAILURE;
            }
        };
        let owner = {
            let config = config.clone();
            match tokio::task::spawn_blocking(move || Owner::open(&config)).await {
                Ok(o) => o,
                Err(e) => {
                    error!("zone loading failed: {e}");
                    return ExitCode::FAILURE;
                }
            }
        };
        let store = owner.store();
        let summary = owner.summary();
        let owner = match owner.spawn() {
            Ok(h) => h,
            Err(e) => {
                error!("cannot start the zone owner thread: {e}");
                return ExitCode::FAILURE;
            }
        };
        let serving = match Serving::new(&config, store, owner.clone()) {
            Ok(s) => s,
            Err(e) => {
                error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) =
            enumd::ops::control::start(&config, owner.clone(), serving.secondaries.clone())
        {
            error!("{e}");
            return ExitCode::FAILURE;
        }
        if let Some(addr) = config.metrics {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    let addr = l.local_addr().unwrap_or(addr);
                    info!(metrics = %addr, "metrics at http://{addr}/metrics");
                    tokio::spawn(enumd::ops::metrics::serve(l, owner.clone()));
                }
                Err(e) => {
                    error!("metrics: cannot listen on {addr}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        let tap = serving.tap.clone();
        tokio::spawn(enumd::owner::signals(owner, config.watch));
        tokio::spawn(listeners.serve(serving));
        info!(version = VERSION, "serving");
        // The sockets were bound before the zones loaded, so queries that came meanwhile are
        // waiting in them: ready now means answered now.
        enumd::ops::systemd::ready(&summary);
        shutdown_signal().await;
        info!("shutting down");
        enumd::ops::systemd::stopping();
        if let Some(tap) = tap {
            tokio::task::spawn_blocking(move || tap.finish(Duration::from_secs(2)))
                .await
                .ok();
        }
        if let Some(socket) = &config.control {
            let _ = std::fs::remove_file(socket);
        }
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
