//! `bulwark update …` (kav4proxy's keepup2date) and `bulwark db keygen|build|sign`: a thin
//! clap layer over `bulwark_update`, where the logic lives (and is tested).
//!
//! keepup2date's flags work: `-q` quiet, `-l FILE` report, `-g DIR` local source, `-x DIR`
//! mirror (same as `--mirror-to`), `-c FILE` configuration; so do its exit codes: 0 nothing to
//! do, 1 updated, 10 error, 30 PostUpdateCmd failed, 60 licence problem, 75 configuration
//! error.

use std::path::{Path, PathBuf};

use bulwark_config::LicenseConfig;
use bulwark_license::LicenseError;
use bulwark_update::install::Installation;
use bulwark_update::publish::{self, BuildOptions};
use bulwark_update::{FileSettings, Outcome, UpdateError, UpdateRequest};
use clap::{Args, Subcommand};

/// Arguments of `bulwark update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// An update source, tried in order: `http(s)://…` mirror or a directory; prefix
    /// `clamav:` for a ClamAV-layout mirror. Replaces `[update] sources` (repeatable).
    #[arg(long = "source", value_name = "URL|DIR")]
    pub sources: Vec<String>,
    /// Update from a local or mounted directory (keepup2date `-g`; repeatable).
    #[arg(short = 'g', value_name = "DIR")]
    pub local: Vec<PathBuf>,
    /// The database to update [default: `[update] database_dir`, else /var/lib/bulwark/db].
    #[arg(long, value_name = "DIR")]
    pub database: Option<PathBuf>,
    /// A trusted signing key (`bulwark db keygen`'s PREFIX.pub), in addition to
    /// `[update] trusted_keys` (repeatable).
    #[arg(long = "trusted-key", value_name = "FILE")]
    pub trusted_keys: Vec<PathBuf>,
    /// HTTP proxy, `http://[user:password@]host:port` [default: `[update] proxy`].
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Mirror mode: keep DIR as an update source for other servers instead of installing
    /// (keepup2date `-x`).
    #[arg(short = 'x', long = "mirror-to", value_name = "DIR")]
    pub mirror_to: Option<PathBuf>,
    /// Print nothing (for cron); the exit code and the report file still tell.
    #[arg(short, long)]
    pub quiet: bool,
    /// Append the report of this run to FILE [default: `[update] report_file`].
    #[arg(short = 'l', long = "report", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Configuration file: `[update]`, `[control] socket` and `[license]` are read.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Switch back to the backup database (the current one becomes the backup), then reload.
    #[arg(long, conflicts_with = "mirror_to")]
    pub rollback: bool,
    /// Do not tell a running server to reload.
    #[arg(long)]
    pub no_reload: bool,
}

/// `bulwark db` subcommands that publish a database (merged into `bulwark db`).
#[derive(Debug, Subcommand)]
pub enum DbPublishCommand {
    /// Write a signing key pair: PREFIX (secret, mode 0600) and PREFIX.pub (public).
    Keygen {
        /// Where to write the pair.
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
    },
    /// Make (or update) a publishable mirror from the signature files in SRCDIR: the files and
    /// a signed `bulwark-db.index`. Serve MIRROR over HTTP(S) or share it as a directory.
    Build {
        /// Directory of signature files (regular files; hidden ones are skipped).
        srcdir: PathBuf,
        /// The mirror directory to write.
        #[arg(long, value_name = "MIRROR")]
        out: PathBuf,
        /// The secret signing key (`bulwark db keygen --out PREFIX`).
        #[arg(long, value_name = "PREFIX")]
        key: PathBuf,
        /// Version to publish [default: the current Unix time, or one more than the mirror's].
        #[arg(long = "db-version", value_name = "N")]
        db_version: Option<u64>,
        /// Skip the test load of SRCDIR.
        #[arg(long)]
        no_check: bool,
    },
    /// Re-sign a mirror's index (after checking its files) with another key.
    Sign {
        /// The mirror directory.
        mirror: PathBuf,
        /// The secret signing key.
        #[arg(long, value_name = "PREFIX")]
        key: PathBuf,
    },
}

fn init_log(quiet: bool) {
    // The run's own summary is printed below; the log adds the failed sources and such.
    let level = if quiet {
        "off"
    } else {
        "warn,bulwark_update::run=off"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs `bulwark update`; returns keepup2date's exit code (never an `Err`).
pub fn run(args: UpdateArgs) -> anyhow::Result<i32> {
    init_log(args.quiet);
    let (settings, license) = match &args.config {
        Some(path) => match read_settings(path) {
            Ok(s) => s,
            Err(e) => {
                if !args.quiet {
                    eprintln!("bulwark update: {e}");
                }
                return Ok(i32::from(Outcome::Config.exit_code()));
            }
        },
        None => (FileSettings::defaults(), LicenseConfig::default()),
    };
    let mut cfg = settings.update;
    if !args.sources.is_empty() || !args.local.is_empty() {
        cfg.sources = args.sources.clone();
        cfg.sources
            .extend(args.local.iter().map(|p| p.display().to_string()));
    }
    if let Some(d) = &args.database {
        cfg.database_dir = d.clone();
    }
    cfg.trusted_keys.extend(args.trusted_keys.iter().cloned());
    if args.proxy.is_some() {
        cfg.proxy = args.proxy.clone();
    }
    if args.report.is_some() {
        cfg.report_file = args.report.clone();
    }
    if args.no_reload {
        cfg.control_socket = None;
    }
    let mut req = UpdateRequest::new(cfg);
    req.license = crate::update_license::gate(&license);
    req.mirror_to = args.mirror_to.clone();

    if args.rollback {
        return Ok(rollback(&req, args.quiet));
    }
    let report = bulwark_update::run(&req);
    if !args.quiet {
        println!("bulwark update: {}", report.summary());
    }
    Ok(i32::from(report.exit_code()))
}

/// `[update]`, `[control] socket` and `[license]` of the configuration file; a problem in any of
/// them is a configuration error (exit code 75), worded the same.
fn read_settings(path: &Path) -> Result<(FileSettings, LicenseConfig), UpdateError> {
    let settings = FileSettings::from_file(path)?;
    let license =
        bulwark_license::license_config_from_file(path).map_err(|e| UpdateError::Config {
            path: path.into(),
            reason: match e {
                LicenseError::Config { reason, .. } => reason,
                LicenseError::Io { source, .. } => source.to_string(),
                other => other.to_string(),
            },
        })?;
    Ok((settings, license))
}

fn rollback(req: &UpdateRequest, quiet: bool) -> i32 {
    let cfg = &req.config;
    let inst = Installation::new(&cfg.database_dir, &cfg.backup_path());
    let res = inst
        .lock()
        .and_then(|_lock| inst.rollback(false))
        .map_err(|e| e.to_string())
        .and_then(|dir| match req.reload.run() {
            bulwark_update::Reloaded::Failed(e) => Err(format!("rolled back, but reload: {e}")),
            _ => Ok(dir),
        });
    match res {
        Ok(dir) => {
            if !quiet {
                println!("bulwark update: rolled back to {}", dir.display());
            }
            i32::from(Outcome::Updated.exit_code())
        }
        Err(e) => {
            if !quiet {
                eprintln!("bulwark update: rollback failed: {e}");
            }
            i32::from(Outcome::Failed.exit_code())
        }
    }
}

/// Runs `bulwark db keygen|build|sign`; 0 on success (errors are `Err`).
pub fn run_publish(cmd: DbPublishCommand) -> anyhow::Result<i32> {
    match cmd {
        DbPublishCommand::Keygen { out } => {
            let id = publish::keygen(&out)?;
            println!(
                "wrote {} (secret) and {}.pub (public); key id {id}",
                out.display(),
                out.display()
            );
        }
        DbPublishCommand::Build {
            srcdir,
            out,
            key,
            db_version,
            no_check,
        } => {
            let opts = BuildOptions {
                version: db_version,
                no_check,
            };
            let index = publish::build(&srcdir, &out, &key, &opts)?;
            println!(
                "{}: version {}, {} files, signed by {}",
                out.display(),
                index.version,
                index.files.len(),
                index.signer
            );
        }
        DbPublishCommand::Sign { mirror, key } => {
            let index = publish::sign(&mirror, &key)?;
            println!(
                "{}: version {} re-signed by {}",
                mirror.display(),
                index.version,
                index.signer
            );
        }
    }
    Ok(0)
}
