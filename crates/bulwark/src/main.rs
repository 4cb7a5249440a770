//! `bulwark`: the command-line binary. It parses arguments and wires the crates together; the
//! logic lives in the libraries.

mod console_backend;
mod console_cmd;
mod ctl_cmd;
mod import_cmd;
mod license_cmd;
mod scan_cmd;
mod serve_cmd;
mod squid_cmd;
mod update_cmd;
mod update_license;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
    Serve(serve_cmd::ServeArgs),
    /// Scan files and directories (clamscan-like output; exit 0 clean, 1 found, 2 error).
    Scan(scan_cmd::ScanArgs),
    /// Signature databases: what loads and what does not.
    #[command(subcommand)]
    Db(scan_cmd::DbCommand),
    /// Update the signature databases (keepup2date: -q -l FILE -g DIR -x DIR -c FILE; exit 0
    /// nothing to do, 1 updated, 10 error, 30 PostUpdateCmd failed, 60 licence, 75 config).
    Update(update_cmd::UpdateArgs),
    /// Control a running server: status, reload, reload-db, stats, stop.
    Ctl(ctl_cmd::CtlArgs),
    /// Check, print or import configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Web console helpers (hash a password for `[console] password_hash`).
    #[command(subcommand)]
    Console(console_cmd::ConsoleCommand),
    /// Print or apply the squid.conf lines that point Squid at Bulwark.
    Squid(squid_cmd::SquidArgs),
    /// Manage licence keys (kav4proxy's licensemanager flags -s -k -a -da -dr -i work too).
    License(license_cmd::LicenseArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file: every error and warning in one pass, with line numbers;
    /// unknown keys are errors (exit 1), as the server refuses them.
    Check {
        /// The file to check.
        file: PathBuf,
        /// Unknown keys are warnings, not errors (the server still refuses them).
        #[arg(long)]
        lenient: bool,
    },
    /// Print the effective configuration (defaults filled in) as TOML.
    Show {
        /// Configuration file. Default: `$BULWARK_CONFIG` when set (empty: none), else
        /// /etc/bulwark/bulwark.toml when it exists, else the embedded defaults.
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Convert a kav4proxy.conf to Bulwark's TOML (printed; notes on standard error).
    Import {
        /// The kav4proxy.conf to convert.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve_cmd::run(args),
        Command::Ctl(args) => ctl_cmd::run(args).map(code),
        Command::Scan(args) => scan_cmd::run(args).map(code),
        Command::Db(cmd) => scan_cmd::run_db(cmd).map(code),
        Command::Config(c) => config_command(c),
        Command::License(args) => license_cmd::run(args).map(code),
        Command::Squid(args) => squid_cmd::run(args).map(code),
        Command::Update(args) => update_cmd::run(args).map(code),
        Command::Console(c) => console_cmd::run(c).map(code),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bulwark: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn code(c: i32) -> ExitCode {
    ExitCode::from(u8::try_from(c).unwrap_or(1))
}

fn config_command(c: ConfigCommand) -> anyhow::Result<ExitCode> {
    match c {
        ConfigCommand::Check { file, lenient } => match bulwark_config::load_file_with(
            &file,
            if lenient {
                bulwark_config::Strictness::Lenient
            } else {
                bulwark_config::Strictness::Strict
            },
            &bulwark_server::Snapshot::check,
        ) {
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
            let l = serve_cmd::load_config(serve_cmd::config_path(config.as_ref()).as_ref())?;
            for w in &l.warnings {
                eprintln!("warning: {w}");
            }
            print!(
                "{}",
                toml::to_string(&l.config).context("serialising the configuration")?
            );
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Import { file } => import_cmd::run(&file).map(code),
    }
}
