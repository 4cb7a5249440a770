//! Tests on the real ClamAV signature files in ../shared/clamav-sigs (skipped when absent): load
//! coverage, and samples built from real `.ndb`/`.ldb` signatures detected with the right name.

mod common;

use std::sync::Arc;

use bulwark_engine::sigs::logical::{parse_ldb, parse_ndb};
use bulwark_engine::{Database, LoadOptions, ScanOptions, Scanner};

#[test]
fn real_files_load_and_samples_are_detected() {
    let Some(dir) = common::sigs_dir() else {
        eprintln!("skipped: no ../shared/clamav-sigs (set BULWARK_CLAMAV_SIGS)");
        return;
    };
    let (db, r) = Database::load(&[dir], &LoadOptions::default()).expect("load");
    for f in &r.files {
        let pct = 100.0 * f.loaded as f64 / f.total().max(1) as f64;
        eprintln!(
            "{}: {}/{} ({pct:.2}%) {:?} {:?}",
            f.path,
            f.loaded,
            f.total(),
            f.unsupported,
            f.malformed
        );
        let min = if f.path.contains(".ldb") { 95.0 } else { 99.0 };
        assert!(pct >= min, "{} loads only {pct:.2}%", f.path);
        // Every loaded signature has ClamAV's full semantics; only icon signatures (which
        // need main.idb, not among these files) are left out.
        assert!(
            f.approximated.is_empty(),
            "{}: {:?}",
            f.path,
            f.approximated
        );
        assert!(
            f.unsupported.keys().all(|k| k.contains("IconGroup")),
            "{}: {:?}",
            f.path,
            f.unsupported
        );
    }
    let db = Arc::new(db);
    let mut lsigs: Vec<_> = common::read_lines("daily.ndb.gz")
        .iter()
        .filter_map(|l| parse_ndb(l).ok())
        .collect();
    lsigs.extend(
        common::read_lines("main.ldb.gz")
            .iter()
            .step_by(37)
            .filter_map(|l| parse_ldb(l).ok()),
    );
    let (mut tried, mut ok, mut misses_ok) = (0, 0, 0);
    let mut failures = Vec::new();
    for ls in &lsigs {
        let Some(sample) = common::sample(ls, false) else {
            continue;
        };
        tried += 1;
        let mut s = Scanner::new(Arc::clone(&db), &ScanOptions::default());
        for c in sample.chunks(4096) {
            s.feed(c);
        }
        let v = s.finish();
        if v.threats.iter().any(|t| t.name == ls.name) {
            ok += 1;
        } else {
            failures.push(ls.name.clone());
        }
        if let Some(miss) = common::sample(ls, true) {
            let mut s = Scanner::new(Arc::clone(&db), &ScanOptions::default());
            s.feed(&miss);
            if !s.finish().threats.iter().any(|t| t.name == ls.name) {
                misses_ok += 1;
            }
        }
    }
    eprintln!("samples: {ok}/{tried} detected by name; near-misses not detected: {misses_ok}; failures: {failures:?}");
    assert!(tried >= 200, "only {tried} samples built");
    assert!(
        ok as f64 >= 0.99 * tried as f64,
        "{} of {tried} samples missed: {failures:?}",
        tried - ok
    );
}
