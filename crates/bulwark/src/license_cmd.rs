//! `bulwark license …`: the licence manager. A thin clap layer over
//! `bulwark_license::cli_ops`, where the commands live (and are tested).
//!
//! kav4proxy's `licensemanager` flags work too: `-s` (show), `-k FILE` (info), `-a FILE`
//! (add), `-da` / `-dr` (remove the active / backup key), `-i` (traffic).

use std::path::PathBuf;

use bulwark_config::LicenseConfig;
use bulwark_license::cli_ops::{self, IssueOptions};
use bulwark_license::{
    load_trusted, parse_date, Clock, LicenseType, LicenseTypeError, SystemClock,
};
use clap::{Args, Subcommand};

/// Arguments of `bulwark license`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, arg_required_else_help = true)]
pub struct LicenseArgs {
    #[command(subcommand)]
    command: Option<LicenseCommand>,
    /// Licence directory [default: `[license] dir`, else /var/lib/bulwark/license].
    #[arg(long, global = true, value_name = "DIR")]
    license_dir: Option<PathBuf>,
    /// A trusted issuer's public key, in addition to `[license] trusted_keys` (repeatable).
    #[arg(long, global = true, value_name = "FILE")]
    trusted_key: Vec<PathBuf>,
    /// Configuration file whose `[license]` table gives the directory and trusted keys.
    #[arg(short, long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Show all installed keys (same as `show`).
    #[arg(short = 's', group = "seed")]
    show: bool,
    /// Show and check one key file (same as `info FILE`).
    #[arg(short = 'k', value_name = "FILE", group = "seed")]
    key_info: Option<PathBuf>,
    /// Install a key file (same as `add FILE`).
    #[arg(short = 'a', value_name = "FILE", group = "seed")]
    add: Option<PathBuf>,
    /// `-da` removes the active key, `-dr` the backup key.
    #[arg(short = 'd', value_name = "a|r", value_parser = ["a", "r"], group = "seed")]
    delete: Option<String>,
    /// Show the daily traffic licensed, used and left (same as `traffic`).
    #[arg(short = 'i', group = "seed")]
    usage: bool,
}

/// The `bulwark license` subcommands.
#[derive(Debug, Subcommand)]
enum LicenseCommand {
    /// Show the licence status and all installed keys.
    Show,
    /// Check and show one key file.
    Info {
        /// The key file.
        file: PathBuf,
    },
    /// Install a key: the first becomes the active key, the second the backup.
    Add {
        /// The key file.
        file: PathBuf,
    },
    /// Remove the active key; the backup key, if any, becomes active.
    RemoveActive,
    /// Remove the backup key.
    RemoveBackup,
    /// Show the daily traffic licensed, used today and left.
    Traffic,
    /// Write a new issuer key pair: PREFIX (secret) and PREFIX.pub (public).
    Keygen {
        /// Path prefix of the key pair.
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
    },
    /// Sign a new licence key with an issuer's secret key.
    Issue(IssueArgs),
}

/// Arguments of `bulwark license issue`.
#[derive(Debug, Args)]
struct IssueArgs {
    /// The issuer's secret key file (the PREFIX given to `keygen`).
    #[arg(long, value_name = "PREFIX")]
    issuer_key: PathBuf,
    /// Where to write the key file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Serial number [default: random].
    #[arg(long)]
    serial: Option<String>,
    /// Number of seats (users).
    #[arg(long, default_value_t = 1)]
    seats: u32,
    /// Lifespan in days.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Daily traffic quota in MB [default: unlimited].
    #[arg(long, value_name = "MB")]
    traffic_mb: Option<u64>,
    /// Licence type: commercial, trial or test.
    #[arg(long = "type", default_value = "commercial", value_parser = parse_type)]
    license_type: LicenseType,
    /// Product name.
    #[arg(long)]
    product: Option<String>,
    /// First valid day, YYYY-MM-DD (UTC) [default: today].
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    not_before: Option<bulwark_license::Date>,
}

fn parse_type(s: &str) -> Result<LicenseType, LicenseTypeError> {
    s.parse()
}

/// Runs `bulwark license …`; prints the result and returns the exit status (0, or 1 with
/// the error on stderr).
pub fn run(args: LicenseArgs) -> anyhow::Result<i32> {
    let config = match &args.config {
        Some(path) => bulwark_license::license_config_from_file(path)?,
        None => LicenseConfig::default(),
    };
    let dir = args.license_dir.clone().unwrap_or(config.dir);
    let mut trusted_paths = config.trusted_keys;
    trusted_paths.extend(args.trusted_key.iter().cloned());
    let trusted = || load_trusted(&trusted_paths);
    let now = SystemClock.now();
    let command = match args.command {
        Some(c) => c,
        None if args.show => LicenseCommand::Show,
        None if args.usage => LicenseCommand::Traffic,
        None => match (args.key_info, args.add, args.delete.as_deref()) {
            (Some(file), _, _) => LicenseCommand::Info { file },
            (_, Some(file), _) => LicenseCommand::Add { file },
            (_, _, Some("a")) => LicenseCommand::RemoveActive,
            (_, _, Some(_)) => LicenseCommand::RemoveBackup,
            _ => LicenseCommand::Show,
        },
    };
    let result = match command {
        LicenseCommand::Show => trusted().and_then(|t| cli_ops::show(&dir, &t, now)),
        LicenseCommand::Info { file } => trusted().and_then(|t| cli_ops::info(&file, &t, now)),
        LicenseCommand::Add { file } => trusted().and_then(|t| cli_ops::add(&dir, &file, &t, now)),
        LicenseCommand::RemoveActive => cli_ops::remove_active(&dir),
        LicenseCommand::RemoveBackup => cli_ops::remove_backup(&dir),
        LicenseCommand::Traffic => trusted().and_then(|t| cli_ops::traffic(&dir, &t, now)),
        LicenseCommand::Keygen { out } => cli_ops::keygen(&out),
        LicenseCommand::Issue(a) => {
            let mut o = IssueOptions::new(a.issuer_key, a.out);
            o.serial = a.serial;
            o.seats = a.seats;
            o.days = a.days;
            o.traffic_mb = a.traffic_mb;
            o.license_type = a.license_type;
            o.product = a.product;
            o.not_before = a.not_before;
            cli_ops::issue(&o, now)
        }
    };
    match result {
        Ok(text) => {
            print!("{text}");
            Ok(0)
        }
        Err(e) => {
            eprintln!("bulwark license: {e}");
            Ok(1)
        }
    }
}
