//! Debian's clamav-testfiles: 44 copies of one test executable wrapped in every container ClamAV
//! supports. With the single hash line ClamAV uses, Bulwark must find all 44 (see
//! docs/containers.md for every miss and why).

mod common;

use std::path::Path;
use std::sync::Arc;

use bulwark_containers::DeepOptions;
use bulwark_engine::{Database, LoadOptions, Status};

const DIR: &str = "/usr/share/clamav-testfiles";
const HSB: &str =
    "71e7b604d18aefd839e51a39c88df8383bb4c071dc31f87f00a2b5df580d4495:544:ClamAV-Test-File\n";
/// The floor this build reaches; raise it as formats are added.
const MIN_FOUND: usize = 44;

#[test]
fn clamav_testfiles_score() {
    let dir = Path::new(DIR);
    if !dir.is_dir() {
        eprintln!("skipped: {DIR} missing (apt-get install clamav-testfiles)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let sig = tmp.path().join("test.hsb");
    std::fs::write(&sig, HSB).unwrap();
    let (db, _) = Database::load(&[sig], &LoadOptions::default()).unwrap();
    let db = Arc::new(db);
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let (mut found, mut missed) = (Vec::new(), Vec::new());
    for n in &names {
        let data = std::fs::read(dir.join(n)).unwrap();
        let opts = DeepOptions {
            name: Some(n.clone()),
            ..DeepOptions::default()
        };
        let v = common::scan_with(db.clone(), &data, opts);
        if v.verdict.status == Status::Infected {
            found.push(n.clone());
        } else {
            missed.push(format!(
                "{n} ({}; packers {:?})",
                v.verdict.status, v.packers
            ));
        }
    }
    eprintln!("clamav-testfiles: {}/{} found", found.len(), names.len());
    for m in &missed {
        eprintln!("  missed: {m}");
    }
    assert!(
        found.len() >= MIN_FOUND,
        "{} found; missed {missed:#?}",
        found.len()
    );
}
