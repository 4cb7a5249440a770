//! `bulwark scan` (clamscan-like command-line scanning) and `bulwark db info` (what a signature
//! database loads, and what it does not, by reason).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bulwark_engine::{Database, LoadOptions, LoadReport, ScanOptions, Scanner, Status};
use clap::{Args, Subcommand};

/// Arguments of `bulwark scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Signature directory or file (repeatable); default /var/lib/clamav when present, else the
    /// built-in EICAR signature only.
    #[arg(short = 'd', long, value_name = "DIR")]
    pub database: Vec<PathBuf>,
    /// Print one JSON object per file, then a JSON summary.
    #[arg(long)]
    pub json: bool,
    /// Only these signature sets (repeatable), e.g. `--set main`.
    #[arg(long = "set", value_name = "NAME")]
    pub sets: Vec<String>,
    /// Print only infected files and errors.
    #[arg(short, long)]
    pub infected: bool,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Files or directories (scanned recursively).
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

/// `bulwark db …` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Publishing: keygen, build, sign.
    #[command(flatten)]
    Publish(crate::update_cmd::DbPublishCommand),
    /// Load a signature directory and report, per file and in total, what loaded and what did not.
    Info {
        /// Signature directory or files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// JSON output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

fn load(paths: &[PathBuf], cache: &CacheArgs) -> anyhow::Result<(Database, Option<LoadReport>)> {
    let paths: Vec<PathBuf> = if paths.is_empty() {
        let d = PathBuf::from("/var/lib/clamav");
        if d.is_dir() {
            vec![d]
        } else {
            return Ok((Database::builtin(), None));
        }
    } else {
        paths.to_vec()
    };
    let (db, r) =
        Database::load(&paths, &cache.load_options()).context("loading the signature database")?;
    Ok((db, Some(r)))
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        match std::fs::read_dir(p) {
            Ok(rd) => {
                let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                v.sort();
                for c in v {
                    walk(&c, out);
                }
            }
            Err(_) => out.push(p.to_path_buf()),
        }
    } else {
        out.push(p.to_path_buf());
    }
}

fn scan_file(
    db: &Arc<Database>,
    opts: &ScanOptions,
    p: &Path,
) -> std::io::Result<(bulwark_engine::Verdict, u64)> {
    let mut f = std::fs::File::open(p)?;
    let mut s = Scanner::new(Arc::clone(db), opts);
    if let Ok(m) = f.metadata() {
        s.set_size_hint(m.len());
    }
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        s.feed(&buf[..n]);
    }
    let n = s.bytes_scanned();
    Ok((s.finish(), n))
}

/// Runs `bulwark scan`; returns 0 (clean), 1 (something found) or 2 (an error occurred).
pub fn run(args: ScanArgs) -> anyhow::Result<i32> {
    let t0 = Instant::now();
    let (db, report) = load(&args.database, &args.cache)?;
    let known: u64 = report
        .as_ref()
        .map_or(1, |r| r.files.iter().map(|f| f.loaded).sum::<u64>() + 1);
    let db = Arc::new(db);
    let opts = ScanOptions {
        sets: (!args.sets.is_empty()).then(|| args.sets.clone()),
        ..Default::default()
    };
    let mut files = Vec::new();
    for p in &args.paths {
        walk(p, &mut files);
    }
    let (mut scanned, mut infected, mut errors, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let t_scan = Instant::now();
    for f in &files {
        let shown = f.display().to_string();
        match scan_file(&db, &opts, f) {
            Ok((v, n)) => {
                scanned += 1;
                bytes += n;
                let found = v.status == Status::Infected;
                if found {
                    infected += 1;
                } else if v.status != Status::Clean {
                    errors += 1;
                }
                if args.json {
                    let names: Vec<&str> = v.threats.iter().map(|t| t.name.as_str()).collect();
                    println!(
                        "{}",
                        serde_json::json!({"path": shown, "status": v.status.as_str(), "threats": names})
                    );
                } else if found {
                    println!(
                        "{shown}: {} FOUND",
                        v.threats.first().map_or("", |t| t.name.as_str())
                    );
                } else if v.status != Status::Clean {
                    println!("{shown}: {} ERROR", v.status);
                } else if !args.infected {
                    println!("{shown}: OK");
                }
            }
            Err(e) => {
                errors += 1;
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"path": shown, "status": "ERROR", "error": e.to_string()})
                    );
                } else {
                    println!("{shown}: {e} ERROR");
                }
            }
        }
    }
    let scan_secs = t_scan.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"summary": {"known_signatures": known, "database": db.version(), "scanned_files": scanned,
                "infected_files": infected, "errors": errors, "bytes": bytes, "scan_seconds": scan_secs,
                "total_seconds": t0.elapsed().as_secs_f64()}})
        );
    } else {
        println!("\n----------- SCAN SUMMARY -----------");
        println!("Known viruses: {known}");
        println!(
            "Engine version: bulwark {} ({})",
            env!("CARGO_PKG_VERSION"),
            db.version()
        );
        println!("Scanned files: {scanned}");
        println!("Infected files: {infected}");
        if errors > 0 {
            println!("Total errors: {errors}");
        }
        println!("Data scanned: {:.2} MB", bytes as f64 / 1e6);
        println!(
            "Scan speed: {:.1} MB/s",
            bytes as f64 / 1e6 / scan_secs.max(1e-9)
        );
        println!("Time: {:.3} sec", t0.elapsed().as_secs_f64());
    }
    Ok(if errors > 0 {
        2
    } else if infected > 0 {
        1
    } else {
        0
    })
}

fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `bulwark db …`.
pub fn run_db(cmd: DbCommand) -> anyhow::Result<i32> {
    match cmd {
        DbCommand::Publish(c) => crate::update_cmd::run_publish(c),
        DbCommand::Info { paths, json, cache } => {
            let rss0 = peak_rss_kb().unwrap_or(0);
            let (db, r) = Database::load(&paths, &cache.load_options())
                .context("loading the signature database")?;
            let rss = peak_rss_kb().unwrap_or(0);
            let total_loaded: u64 = r.files.iter().map(|f| f.loaded).sum();
            let total: u64 = r.files.iter().map(|f| f.total()).sum();
            if json {
                let files: Vec<_> = r
                    .files
                    .iter()
                    .map(|f| {
                        serde_json::json!({"path": f.path, "set": f.set, "total": f.total(), "loaded": f.loaded,
                            "approximated": f.approximated, "unsupported": f.unsupported, "malformed": f.malformed, "flevel_skipped": f.flevel_skipped,
                            "ignored": f.ignored, "ms": f.time.as_secs_f64() * 1e3})
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"version": db.version(), "sets": db.sets(), "files": files, "loaded": total_loaded,
                        "total": total, "load_seconds": r.total_time.as_secs_f64(), "compile_seconds": r.compile_time.as_secs_f64(),
                        "matcher_bytes": r.matcher_bytes, "atoms": r.atoms, "weak_atoms": r.weak_atoms, "cache": r.cache, "peak_rss_kb": rss,
                        "rss_growth_kb": rss.saturating_sub(rss0)})
                );
                return Ok(0);
            }
            println!("database {} (sets: {})", db.version(), db.sets().join(", "));
            for f in &r.files {
                let pct = if f.total() > 0 {
                    100.0 * f.loaded as f64 / f.total() as f64
                } else {
                    100.0
                };
                println!(
                    "{}  [set {}]  {} of {} loaded ({pct:.2}%)  in {:.0} ms",
                    f.path,
                    f.set,
                    f.loaded,
                    f.total(),
                    f.time.as_secs_f64() * 1e3
                );
                for (why, n) in &f.approximated {
                    println!("    approximated:{n:>7}  {why} (counted as loaded)");
                }
                for (why, n) in &f.unsupported {
                    println!("    unsupported: {n:>7}  {why}");
                }
                for (why, n) in &f.malformed {
                    println!("    malformed:   {n:>7}  {why}");
                }
                if f.flevel_skipped > 0 {
                    println!(
                        "    skipped:     {:>7}  functionality level outside this engine's",
                        f.flevel_skipped
                    );
                }
                if f.ignored > 0 {
                    println!("    ignored:     {:>7}  by an .ign2 list", f.ignored);
                }
            }
            let approx: u64 = r.files.iter().flat_map(|f| f.approximated.values()).sum();
            println!(
                "total: {total_loaded} of {total} signatures loaded ({approx} of them approximated)"
            );
            println!(
                "load time: {:.3} s (matcher compile {:.3} s); atoms: {} ({} shorter than 4 bytes); matcher memory: {:.1} MB",
                r.total_time.as_secs_f64(),
                r.compile_time.as_secs_f64(),
                r.atoms,
                r.weak_atoms,
                r.matcher_bytes as f64 / 1e6
            );
            println!(
                "compiled cache: {}",
                r.cache.as_deref().unwrap_or("not used")
            );
            println!(
                "memory: peak RSS {:.1} MB (grew {:.1} MB while loading)",
                rss as f64 / 1024.0,
                rss.saturating_sub(rss0) as f64 / 1024.0
            );
            Ok(0)
        }
    }
}
