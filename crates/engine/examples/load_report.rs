//! Prints the load report of a signature directory: per file, signatures loaded with full
//! semantics, approximated (by reason), unsupported (by reason) and malformed.
//!
//! `cargo run -p bulwark-engine --example load_report -- /path/to/sigs`

use bulwark_engine::{Database, LoadOptions};

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: load_report <signature directory or file>...");
        std::process::exit(2);
    };
    let paths: Vec<std::path::PathBuf> = std::iter::once(dir)
        .chain(std::env::args_os().skip(2))
        .map(Into::into)
        .collect();
    let (_, r) = match Database::load(&paths, &LoadOptions::default()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("load failed: {e}");
            std::process::exit(1);
        }
    };
    let (mut full, mut approx, mut unsup, mut bad) = (0u64, 0u64, 0u64, 0u64);
    for f in &r.files {
        let a: u64 = f.approximated.values().sum();
        let u: u64 = f.unsupported.values().sum();
        let m: u64 = f.malformed.values().sum();
        println!(
            "{}: total {} full {} approximated {} {:?} unsupported {} {:?} malformed {} {:?} flevel {}",
            f.path,
            f.total(),
            f.loaded - a,
            a,
            f.approximated,
            u,
            f.unsupported,
            m,
            f.malformed,
            f.flevel_skipped
        );
        full += f.loaded - a;
        approx += a;
        unsup += u;
        bad += m;
    }
    println!("all: full {full} approximated {approx} unsupported {unsup} malformed {bad}");
}
