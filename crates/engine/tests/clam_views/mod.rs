//! clamscan's normalised views of documents (`--leave-temps`), and its detections, for the view
//! tests.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

pub mod screnc;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether clamscan is installed.
pub fn have_clamscan() -> bool {
    Command::new("clamscan").arg("--version").output().is_ok()
}

/// The temp files clamscan kept for a set of documents.
pub struct ClamViews {
    _dir: tempfile::TempDir,
    temps: PathBuf,
}

/// Writes `docs` (name, bytes) and has clamscan normalise them with a database that matches
/// nothing, keeping its temp files.
pub fn run(docs: &[(String, Vec<u8>)]) -> ClamViews {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = dir.path().join("docs");
    let temps = dir.path().join("temps");
    std::fs::create_dir_all(&in_dir).unwrap();
    std::fs::create_dir_all(&temps).unwrap();
    let db = dir.path().join("none.ldb");
    std::fs::write(
        &db,
        "Bulwark.Nothing;Engine:51-255,Target:0;0;6e6f7468696e672d746f2d6d61746368000102\n",
    )
    .unwrap();
    for (name, d) in docs {
        std::fs::write(in_dir.join(name), d).unwrap();
    }
    let out = Command::new("clamscan")
        .args(["--no-summary", "--disable-cache", "--leave-temps"])
        .arg(format!("--tempdir={}", temps.display()))
        .arg("-d")
        .arg(&db)
        .arg("-r")
        .arg(&in_dir)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "clamscan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ClamViews { _dir: dir, temps }
}

/// What clamscan finds in `docs` (name, bytes) with the `.ndb` signatures `ndb`, every match
/// (`--allmatch`): `(document name, signature name)` pairs, sorted, without duplicates.
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub fn detections(ndb: &str, docs: &[(String, Vec<u8>)]) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = dir.path().join("docs");
    std::fs::create_dir_all(&in_dir).unwrap();
    let db = dir.path().join("sigs.ndb");
    std::fs::write(&db, ndb).unwrap();
    for (name, d) in docs {
        std::fs::write(in_dir.join(name), d).unwrap();
    }
    let out = Command::new("clamscan")
        .args([
            "--no-summary",
            "--disable-cache",
            "--allmatch",
            "--infected",
        ])
        .arg("-d")
        .arg(&db)
        .arg("-r")
        .arg(&in_dir)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "clamscan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (path, sig) = l.strip_suffix(" FOUND")?.rsplit_once(": ")?;
            let name = Path::new(path).file_name()?.to_string_lossy().into_owned();
            let sig = sig.strip_suffix(".UNOFFICIAL").unwrap_or(sig);
            Some((name, sig.to_string()))
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

impl ClamViews {
    /// The view file `view` (`nocomment.html`, `notags.html`, `javascript`) clamscan wrote for
    /// the document `name`, if any.
    pub fn view(&self, name: &str, view: &str) -> Option<Vec<u8>> {
        find_view(&self.temps, name, view)
    }
}

fn find_view(temps: &Path, name: &str, view: &str) -> Option<Vec<u8>> {
    for run in std::fs::read_dir(temps).ok()?.flatten() {
        let run_name = run.file_name().to_string_lossy().into_owned();
        if !run_name.contains(&format!("-{name}.")) {
            continue;
        }
        let mut stack = vec![run.path()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).ok()?.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.file_name().is_some_and(|f| f == view) {
                    return std::fs::read(p).ok();
                }
            }
        }
    }
    None
}
