//! `deepscan SIGNATURES FILE…`: deep-scans each file (as the server would, fed in 64 KiB pieces)
//! and prints one line per file, then the throughput. Used by bench/containers.sh.
//!
//! `DEEPSCAN_NOTES=1` prints each verdict's notes and packers; `DEEPSCAN_PASSES=N` scans the
//! files N times with one verdict cache (as the server does), printing each pass's throughput.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bulwark_containers::{describe, DeepOptions, DeepScanner};
use bulwark_engine::{Database, LoadOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((sigs, files)) = args.split_first() else {
        eprintln!("usage: deepscan SIGNATURES FILE…");
        std::process::exit(2);
    };
    let (db, _) = match Database::load(&[PathBuf::from(sigs)], &LoadOptions::default()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot load {sigs}: {e}");
            std::process::exit(2);
        }
    };
    let db = Arc::new(db);
    let passes: usize = std::env::var("DEEPSCAN_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let cache = (passes > 1).then(|| Arc::new(bulwark_engine::VerdictCache::new(65_536)));
    for _ in 0..passes.max(1) {
        let opts = DeepOptions {
            verdict_cache: cache.clone(),
            ..DeepOptions::default()
        };
        let t = Instant::now();
        let mut bytes = 0u64;
        let mut buf = vec![0u8; 64 << 10];
        for f in files {
            let mut s = DeepScanner::new(db.clone(), opts.clone());
            let Ok(mut file) = std::fs::File::open(f) else {
                println!("{f}: cannot open");
                continue;
            };
            while let Ok(n) = file.read(&mut buf) {
                if n == 0 {
                    break;
                }
                bytes += n as u64;
                s.feed(&buf[..n]);
            }
            let v = s.finish();
            println!("{f}: {} {:?}", v.verdict.status, describe(&v.verdict));
            if std::env::var_os("DEEPSCAN_NOTES").is_some() {
                for n in &v.notes {
                    println!("  note: {n}");
                }
                for (p, k) in &v.packers {
                    println!("  packer: {p}: {k}");
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "scanned {} files, {bytes} bytes in {secs:.3} s: {:.1} MB/s",
            files.len(),
            bytes as f64 / secs / 1e6
        );
    }
}
