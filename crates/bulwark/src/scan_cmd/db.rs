//! `bulwark db info`: what a signature database loads, and what it does not, by reason.

use std::path::PathBuf;

use anyhow::Context;
use bulwark_engine::Database;
use clap::Subcommand;

use super::CacheArgs;

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
            let opts = bulwark_engine::LoadOptions {
                lenient: true,
                ..cache.load_options()
            };
            let (db, r) =
                Database::load(&paths, &opts).context("loading the signature database")?;
            // Judged as a server would judge it, after the report is printed: exit 1 when the
            // server would refuse it or a file loads nothing.
            let refused = r.check().err();
            let empty_files: Vec<&str> = r
                .files
                .iter()
                .filter(|f| f.loads_nothing())
                .map(|f| f.path.as_str())
                .collect();
            let code = i32::from(refused.is_some() || !empty_files.is_empty());
            let rss = peak_rss_kb().unwrap_or(0);
            let total_loaded: u64 = r.files.iter().map(|f| f.loaded).sum();
            let total: u64 = r.files.iter().map(|f| f.total()).sum();
            if json {
                let files: Vec<_> = r
                    .files
                    .iter()
                    .map(|f| {
                        serde_json::json!({"path": f.path, "set": f.set, "total": f.total(), "loaded": f.loaded,
                            "approximated": f.approximated, "unsupported": f.unsupported, "malformed": f.malformed,
                            "malformed_lines": f.malformed_lines, "loads_nothing": f.loads_nothing(), "flevel_skipped": f.flevel_skipped,
                            "ignored": f.ignored, "ms": f.time.as_secs_f64() * 1e3})
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"version": db.version(), "sets": db.sets(), "files": files, "loaded": total_loaded,
                        "total": total, "load_seconds": r.total_time.as_secs_f64(), "compile_seconds": r.compile_time.as_secs_f64(),
                        "matcher_bytes": r.matcher_bytes, "atoms": r.atoms, "weak_atoms": r.weak_atoms, "cache": r.cache.as_ref().map(ToString::to_string),
                        "matchers_compiled": r.matchers_compiled, "matchers_reused": r.matchers_reused, "peak_rss_kb": rss,
                        "rss_growth_kb": rss.saturating_sub(rss0), "refused": refused.as_ref().map(ToString::to_string)})
                );
                return Ok(code);
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
                for m in &f.malformed_lines {
                    println!("      {}:{m}", f.path);
                }
                let shown = f.malformed_lines.len() as u64;
                let all: u64 = f.malformed.values().sum();
                if all > shown {
                    println!("      … and {} more malformed line(s)", all - shown);
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
                "compiled cache: {}; atom matchers: {} compiled, {} reused",
                r.cache
                    .as_ref()
                    .map_or("not used".to_string(), ToString::to_string),
                r.matchers_compiled,
                r.matchers_reused
            );
            println!(
                "memory: peak RSS {:.1} MB (grew {:.1} MB while loading)",
                rss as f64 / 1024.0,
                rss.saturating_sub(rss0) as f64 / 1024.0
            );
            for p in &empty_files {
                println!("error: {p} loads no signature");
            }
            if let Some(e) = &refused {
                println!("error: a server would refuse this database: {e}");
            }
            Ok(code)
        }
    }
}
