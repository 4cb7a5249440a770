//! `bulwark`: the command-line binary. It parses arguments and wires the crates together; the
//! logic lives in the libraries.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use bulwark_config::{Config, Loaded};
use bulwark_engine::Database;
use bulwark_server::Snapshot;
use clap::{Args, Parser, Subcommand};
use tracing::{info, warn};

/// Bulwark: an anti-virus ICAP server for HTTP proxies.
#[derive(Debug, Parser)]
#[command(name = "bulwark", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the ICAP server.
    Serve(ServeArgs),
    /// Check or print configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Configuration file (TOML). Without it the embedded defaults apply.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address, replacing `server.listen` (repeatable).
    #[arg(short, long, value_name = "ADDR:PORT")]
    listen: Vec<SocketAddr>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file: errors and unknown keys with their line numbers.
    Check {
        /// The file to check.
        file: PathBuf,
    },
    /// Print the effective configuration (defaults filled in) as TOML.
    Show {
        /// Configuration file; without it the embedded defaults are shown.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Config(c) => config_command(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bulwark: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Loads the configuration file, or the embedded defaults without one.
fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Loaded> {
    match path {
        Some(p) => Ok(bulwark_config::load_file(p)?),
        None => Ok(Loaded {
            config: Config::default(),
            warnings: Vec::new(),
        }),
    }
}

fn config_command(c: ConfigCommand) -> anyhow::Result<ExitCode> {
    match c {
        ConfigCommand::Check { file } => match bulwark_config::load_file(&file) {
            Ok(l) => {
                for w in &l.warnings {
                    println!("{}: warning: {w}", file.display());
                }
                println!("{}: OK ({} warning(s))", file.display(), l.warnings.len());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("{e}");
                Ok(ExitCode::from(1))
            }
        },
        ConfigCommand::Show { config } => {
            let l = load_config(config.as_ref())?;
            for w in &l.warnings {
                eprintln!("warning: {w}");
            }
            print!(
                "{}",
                toml::to_string(&l.config).context("serialising the configuration")?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_logging(cfg: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},bulwark=info", cfg.log.level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_config(args.config.as_ref())?;
    let mut config = loaded.config;
    if !args.listen.is_empty() {
        config.server.listen = args.listen.clone();
    }
    init_logging(&config);
    match &args.config {
        Some(p) => info!(file = %p.display(), "configuration loaded"),
        None => info!("no --config: using the embedded defaults"),
    }
    for w in &loaded.warnings {
        warn!("configuration: {w}");
    }
    let database = Arc::new(Database::builtin());
    info!(version = database.version(), "signature database loaded");
    let snapshot = Snapshot::new(Arc::new(config), database);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listeners = bulwark_server::bind(&snapshot.config).await?;
        for addr in listeners.local_addrs() {
            info!(istag = %snapshot.istag, "listening on {addr}");
        }
        for addr in listeners.tls_addrs() {
            info!(istag = %snapshot.istag, "listening on {addr} (TLS)");
        }
        let stats = Arc::new(bulwark_server::Stats::default());
        let shared = Arc::new(ArcSwap::from_pointee(snapshot));
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_stop_signal().await;
            let _ = tx.send(true);
        });
        bulwark_server::serve(listeners, shared, stats, rx).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT.
async fn wait_for_stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => info!("SIGTERM received"),
                _ = int.recv() => info!("SIGINT received"),
            }
        }
        _ => {
            warn!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}
