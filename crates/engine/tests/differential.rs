//! Differential test against ClamAV: samples generated from a few hundred real signatures (and a
//! near-miss of each) are scanned by `clamscan` with the same signature lines and by this engine;
//! verdicts and names (ClamAV's `.UNOFFICIAL` suffix removed) must agree on >= 99% of samples.
//! Ignored by default (needs clamscan, takes ~1 minute): run `bench/engine-differential.sh`.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::Command;
use std::sync::Arc;

use bulwark_engine::sigs::logical::{parse_ldb, parse_ndb};
use bulwark_engine::{Database, LoadOptions, ScanOptions, Scanner};

#[test]
#[ignore]
fn same_verdicts_as_clamscan() {
    let Some(_) = common::sigs_dir() else {
        eprintln!("skipped: no signature files");
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let dbdir = work.path().join("db");
    let samples = work.path().join("samples");
    std::fs::create_dir_all(&dbdir).unwrap();
    std::fs::create_dir_all(&samples).unwrap();
    let mut ndb = Vec::new();
    let mut ldb = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for l in common::read_lines("daily.ndb.gz") {
        if let Ok(ls) = parse_ndb(&l) {
            if let (Some(a), Some(b)) = (common::sample(&ls, false), common::sample(&ls, true)) {
                files.push((format!("n{}-hit", ndb.len()), a));
                files.push((format!("n{}-miss", ndb.len()), b));
                ndb.push(l.clone());
            }
        }
    }
    for l in common::read_lines("main.ldb.gz").iter().step_by(97) {
        if let Ok(ls) = parse_ldb(l) {
            if let (Some(a), Some(b)) = (common::sample(&ls, false), common::sample(&ls, true)) {
                files.push((format!("l{}-hit", ldb.len()), a));
                files.push((format!("l{}-miss", ldb.len()), b));
                ldb.push(l.clone());
            }
        }
    }
    std::fs::write(dbdir.join("t.ndb"), ndb.join("\n") + "\n").unwrap();
    std::fs::write(dbdir.join("t.ldb"), ldb.join("\n") + "\n").unwrap();
    for (n, d) in &files {
        std::fs::File::create(samples.join(n))
            .unwrap()
            .write_all(d)
            .unwrap();
    }
    let out = Command::new("clamscan")
        .args(["--no-summary", "-d"])
        .arg(&dbdir)
        .arg("-r")
        .arg(&samples)
        .output()
        .expect("clamscan (apt-get install clamav)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut clam: HashMap<String, Option<String>> = HashMap::new();
    for line in text.lines() {
        let Some((path, rest)) = line.rsplit_once(": ") else {
            continue;
        };
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        let v = rest
            .strip_suffix(" FOUND")
            .map(|n| n.trim_end_matches(".UNOFFICIAL").to_string());
        clam.insert(name, v);
    }
    let (db, _) =
        Database::load(std::slice::from_ref(&dbdir), &LoadOptions::default()).expect("load");
    let db = Arc::new(db);
    let mut diffs = Vec::new();
    for (n, d) in &files {
        let mut s = Scanner::new(Arc::clone(&db), &ScanOptions::default());
        s.feed(d);
        let ours: Vec<String> = s.finish().threats.into_iter().map(|t| t.name).collect();
        let theirs = clam.get(n).cloned().flatten();
        let agree = match &theirs {
            None => ours.is_empty(),
            Some(t) => ours.contains(t),
        };
        if !agree {
            diffs.push(format!("{n}: clamscan {theirs:?}, bulwark {ours:?}"));
        }
    }
    let total = files.len();
    eprintln!(
        "differential: {} samples ({} ndb + {} ldb signatures), {} differences",
        total,
        ndb.len(),
        ldb.len(),
        diffs.len()
    );
    for d in &diffs {
        eprintln!("  DIFF {d}");
    }
    assert!(total >= 300, "only {total} samples");
    assert!(
        (total - diffs.len()) as f64 >= 0.99 * total as f64,
        "{} differences of {total}",
        diffs.len()
    );
}
