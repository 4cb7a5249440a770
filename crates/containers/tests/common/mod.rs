//! Test helpers: running real tools, deep scans (EICAR is `bulwark_testkit::eicar`).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use bulwark_containers::{DeepOptions, DeepScanner, DeepVerdict};
use bulwark_engine::Database;

/// The built-in database (EICAR).
pub fn db() -> Arc<Database> {
    static DB: OnceLock<Arc<Database>> = OnceLock::new();
    DB.get_or_init(|| Arc::new(Database::builtin())).clone()
}

/// Deep-scans `data` fed in 64 KiB chunks.
pub fn scan_with(db: Arc<Database>, data: &[u8], opts: DeepOptions) -> DeepVerdict {
    let mut s = DeepScanner::new(db, opts);
    for c in data.chunks(64 << 10) {
        s.feed(c);
    }
    s.finish()
}

/// A zip holding one member `name` with `data` (stored as the zip crate's default, deflated).
pub fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .expect("zip entry");
    w.write_all(data).expect("zip data");
    w.finish().expect("zip finish").into_inner()
}

/// Deep-scans `data` with default options and the built-in database.
pub fn scan(data: &[u8]) -> DeepVerdict {
    scan_with(db(), data, DeepOptions::default())
}

/// Runs `cmd` in `dir`, panicking with its output when it fails.
pub fn run(dir: &Path, cmd: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether a tool is installed.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// clamscan's verdicts on the files in `dir` with the databases `db` (`--allmatch` when asked):
/// file name → the names found, `.UNOFFICIAL` taken off (empty for a file that is `OK`).
pub fn clamscan_names(
    db: &[PathBuf],
    dir: &Path,
    allmatch: bool,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut c = Command::new("clamscan");
    c.arg("--no-summary");
    if allmatch {
        c.arg("--allmatch");
    }
    for p in db {
        c.arg("-d").arg(p);
    }
    let out = c.arg(dir).output().expect("clamscan");
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((path, rest)) = l.rsplit_once(": ") else {
            continue;
        };
        let file = Path::new(path)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let e = m.entry(file).or_default();
        if let Some(n) = rest.strip_suffix(" FOUND") {
            e.insert(n.trim_end_matches(".UNOFFICIAL").to_string());
        }
    }
    m
}
