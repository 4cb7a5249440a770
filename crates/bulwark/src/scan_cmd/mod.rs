//! `bulwark scan` (clamscan-like command-line scanning through the same deep scanner as the
//! server) and `bulwark db info` (what a signature database loads, and what it does not).
//!
//! Modules: `opts` (switches → deep-scan options, from the default policy group), `walk`
//! (files and directories, symlinks as clamscan treats them), `report` (per-file lines, JSON,
//! `Heuristics.*` names, the summary, standard output that may be a closed pipe), `db`
//! (`bulwark db …`).

mod db;
mod opts;
mod report;
mod walk;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bulwark_containers::{DeepScanner, DeepVerdict};
use bulwark_engine::{Database, LoadOptions, LoadReport};
use clap::Args;

pub use db::{run_db, DbCommand};

use opts::Settings;
use report::{Out, Report, Totals};
use walk::{Entry, Walker};

/// Arguments of `bulwark scan`. Archives, compressed files, mail and installers are opened
/// with the default policy group's options and `[engine.limits]` (built-in defaults, or those
/// of `--config`), as the server does.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Signature directory or file (repeatable); default the `--config` file's
    /// `[engine] database`, else /var/lib/clamav when present, else the built-in EICAR
    /// signature only.
    #[arg(short = 'd', long, value_name = "DIR")]
    pub database: Vec<PathBuf>,
    /// Configuration file whose `[policy.default]` engine options, actions and
    /// `[engine.limits]` apply (default: the built-in defaults).
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print one JSON object per file, then a JSON summary.
    #[arg(long)]
    pub json: bool,
    /// Only these signature sets (repeatable), e.g. `--set main`.
    #[arg(long = "set", value_name = "NAME")]
    pub sets: Vec<String>,
    /// Print only infected files and errors.
    #[arg(short, long)]
    pub infected: bool,
    /// Accepted for clamscan compatibility: directories are always scanned recursively.
    #[arg(short, long)]
    pub recursive: bool,
    /// Do not print the summary at the end.
    #[arg(long)]
    pub no_summary: bool,
    /// Report every threat of a file, not only the first (unpacking goes on after a match).
    #[arg(short = 'z', long)]
    pub allmatch: bool,
    /// Scan files as they are: open no archive, compressed file, mail or packed executable.
    #[arg(long)]
    pub no_archive: bool,
    /// `--scan-archive=no` is `--no-archive`.
    #[arg(long, value_name = "yes|no", num_args = 0..=1, require_equals = true,
          default_missing_value = "yes", value_parser = opts::yes_no)]
    pub scan_archive: Option<bool>,
    /// `--scan-mail=no`: do not open mail messages and mailboxes.
    #[arg(long, value_name = "yes|no", num_args = 0..=1, require_equals = true,
          default_missing_value = "yes", value_parser = opts::yes_no)]
    pub scan_mail: Option<bool>,
    /// Largest file opened as a container, and largest member once unpacked (K, M, G
    /// suffixes; 0: no limit). A larger file is still scanned as it is (clamscan skips it).
    #[arg(long, value_name = "SIZE", value_parser = opts::size)]
    pub max_filesize: Option<u64>,
    /// Most bytes unpacked from one file over all its members (K, M, G; 0: no limit).
    #[arg(long, value_name = "SIZE", value_parser = opts::size)]
    pub max_scansize: Option<u64>,
    /// Most members unpacked from one file (0: no limit).
    #[arg(long, value_name = "N")]
    pub max_files: Option<u64>,
    /// Nesting of containers, counted as clamscan does: members are opened down to depth
    /// N-1 (1: no container is opened).
    #[arg(long, value_name = "N", value_parser = opts::recursion)]
    pub max_recursion: Option<u32>,
    /// Longest time to unpack and scan one file, in milliseconds (0: no limit).
    #[arg(long, value_name = "MS")]
    pub max_scantime: Option<u64>,
    /// Deepest directory level walked (default: no limit).
    #[arg(long, value_name = "N")]
    pub max_dir_recursion: Option<u32>,
    /// Report a file on which a limit was hit as `Heuristics.Limits.Exceeded.*` (default:
    /// yes unless the group's `limits_exceeded` action is `skip`; no prints `OK`).
    #[arg(long, value_name = "yes|no", num_args = 0..=1, require_equals = true,
          default_missing_value = "yes", value_parser = opts::yes_no)]
    pub alert_exceeds_max: Option<bool>,
    /// Report encrypted archives as `Heuristics.Encrypted.*` (default: yes unless the
    /// group's `protected` action is `skip`).
    #[arg(long, value_name = "yes|no", num_args = 0..=1, require_equals = true,
          default_missing_value = "yes", value_parser = opts::yes_no)]
    pub alert_encrypted: Option<bool>,
    /// Report corrupted executables and containers as `Heuristics.Broken.*` (default: yes
    /// unless the group's `corrupted` action is `skip`).
    #[arg(long, value_name = "yes|no", num_args = 0..=1, require_equals = true,
          default_missing_value = "yes", value_parser = opts::yes_no)]
    pub alert_broken: Option<bool>,
    /// Directory symlinks: 0 never followed, 1 only when given on the command line, 2 always.
    #[arg(long, value_name = "0|1|2", default_value_t = 1, value_parser = opts::follow)]
    pub follow_dir_symlinks: u8,
    /// File symlinks: 0 never followed, 1 only when given on the command line, 2 always.
    #[arg(long, value_name = "0|1|2", default_value_t = 1, value_parser = opts::follow)]
    pub follow_file_symlinks: u8,
    /// Directory for temporary files (default: the configuration's `server.temp_path`).
    #[arg(long, value_name = "DIR")]
    pub tempdir: Option<PathBuf>,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Files or directories (scanned recursively); `-` is standard input.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Where the compiled signature cache lives.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Directory of the compiled signature cache; default /var/cache/bulwark when writable, else
    /// $XDG_CACHE_HOME/bulwark or ~/.cache/bulwark.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile the signatures every time (neither read nor write the cache).
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
}

impl CacheArgs {
    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            cache_dir: if self.no_cache {
                None
            } else {
                self.cache_dir
                    .clone()
                    .or_else(bulwark_engine::default_cache_dir)
            },
            ..LoadOptions::default()
        }
    }
}

fn load(paths: &[PathBuf], cache: &CacheArgs) -> anyhow::Result<(Database, Option<LoadReport>)> {
    let paths = bulwark_engine::database_paths(paths);
    if paths.is_empty() {
        eprintln!(
            "WARNING: no signature database given (-d) and none in {}: scanning for the EICAR \
             test signature only",
            bulwark_engine::SYSTEM_DATABASE_DIR
        );
        return Ok((Database::builtin(), None));
    }
    let (db, r) =
        Database::load(&paths, &cache.load_options()).context("loading the signature database")?;
    Ok((db, Some(r)))
}

/// A file's deep scan: the verdict, the raw bytes read and the first bytes (to name the kind
/// of an encrypted or broken file).
struct FileScan {
    verdict: DeepVerdict,
    raw: u64,
    head: Vec<u8>,
}

thread_local! {
    /// Each scanning thread's read buffer: allocating and zeroing 256 KiB for every file cost
    /// more than reading a small file.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 256 << 10]);
}

/// Feeds `r` to a deep scan (stopping at the first raw detection unless `--allmatch`);
/// `None` when it holds no byte.
fn scan_stream(db: &Arc<Database>, s: &Settings, r: &mut dyn Read) -> io::Result<Option<FileScan>> {
    let mut d = DeepScanner::new(Arc::clone(db), s.deep.clone());
    d.set_all_matches(s.allmatch);
    let mut head = Vec::new();
    READ_BUF.with_borrow_mut(|buf| feed_all(r, buf, s, &mut d, &mut head))?;
    let raw = d.bytes_scanned();
    if raw == 0 {
        return Ok(None);
    }
    Ok(Some(FileScan {
        verdict: d.finish(),
        raw,
        head,
    }))
}

/// Reads `r` through `buf` into the scan `d`, keeping its first 8 KiB in `head`.
fn feed_all(
    r: &mut dyn Read,
    buf: &mut [u8],
    s: &Settings,
    d: &mut DeepScanner,
    head: &mut Vec<u8>,
) -> io::Result<()> {
    loop {
        let n = match r.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if head.len() < 8192 {
            let k = (8192 - head.len()).min(n);
            head.extend_from_slice(&buf[..k]);
        }
        d.feed(&buf[..n]);
        if !s.allmatch && d.early_detection().is_some() {
            break;
        }
    }
    Ok(())
}

fn scan_path(db: &Arc<Database>, s: &Settings, p: Option<&Path>) -> io::Result<Option<FileScan>> {
    match p {
        Some(p) => scan_stream(db, s, &mut std::fs::File::open(p)?),
        None => scan_stream(db, s, &mut io::stdin().lock()),
    }
}

/// Runs `bulwark scan`; returns 1 when something was found, else 2 when an error occurred,
/// else 0 (clamscan's codes). Standard output closed early (`| head`) ends the scan quietly,
/// with 1 when something was found before, else 2 (the scan is incomplete).
pub fn run(args: ScanArgs) -> anyhow::Result<i32> {
    let t0 = Instant::now();
    let loaded = crate::serve_cmd::load_config(args.config.as_ref())?;
    for w in &loaded.warnings {
        eprintln!("bulwark: warning: {w}");
    }
    let cfg = loaded.config;
    let dbs = if args.database.is_empty() {
        cfg.engine.database.clone()
    } else {
        args.database.clone()
    };
    let (db, load_report) = load(&dbs, &args.cache)?;
    let known: u64 = load_report
        .as_ref()
        .map_or(1, |r| r.files.iter().map(|f| f.loaded).sum::<u64>() + 1);
    let db = Arc::new(db);
    let settings = opts::settings(&args, &cfg);
    let mut walker = Walker::new(
        args.follow_dir_symlinks,
        args.follow_file_symlinks,
        args.max_dir_recursion,
    );
    let mut out = Out::new(args.json, args.infected, args.allmatch);
    let mut totals = Totals::default();
    let t_scan = Instant::now();
    let mut visit = |e: Entry<'_>| -> io::Result<()> {
        let (shown, file) = match e {
            Entry::Symlink(p) => {
                return out.report(&mut totals, &p.display().to_string(), Report::Symlink)
            }
            Entry::Error(p, msg) => {
                return out.report(&mut totals, &p.display().to_string(), Report::Error(msg))
            }
            Entry::File(p) => (p.display().to_string(), Some(p)),
            Entry::Stdin => ("stdin".to_string(), None),
        };
        let r = match scan_path(&db, &settings, file) {
            Ok(None) => Report::Empty,
            Ok(Some(sc)) => Report::Scanned(report::classify(
                &sc.verdict,
                &sc.head,
                &settings.alerts,
                sc.raw,
            )),
            Err(e) => Report::Error(walk::describe(&e)),
        };
        out.report(&mut totals, &shown, r)
    };
    let mut written = Ok(());
    for p in &args.paths {
        written = walker.run(p, &mut visit);
        if written.is_err() {
            break;
        }
    }
    totals.dirs = walker.dirs();
    if written.is_ok() && !args.no_summary {
        let db_version = db.version().to_string();
        written = out.summary(&totals, known, &db_version, t_scan.elapsed(), t0.elapsed());
    }
    if let Err(e) = written.and_then(|()| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(if totals.exit_code() == 1 { 1 } else { 2 });
        }
        return Err(anyhow::Error::new(e).context("writing to standard output"));
    }
    Ok(totals.exit_code())
}
