//! Scripts encoded with Microsoft's Script Encoder as files of their own (`.jse`, `.vbe`): the
//! decoded script is scanned (as ClamAV scans its `screnc.html`), so a signature on the script
//! finds the encoded file, as clamscan finds it (checked against clamscan when installed).

mod common;

#[path = "../../engine/tests/clam_views/screnc.rs"]
#[allow(dead_code)]
mod screnc;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulwark_containers::DeepOptions;
use bulwark_engine::{Database, LoadOptions};
use bulwark_testkit::hex;

/// A target 3 (HTML) signature on the script's normalised text, and a target 0 one on the same
/// words as written (HTML's raw bytes are not matched: ClamAV finds only the first).
fn write_db(dir: &Path) -> PathBuf {
    let p = dir.join("s.ndb");
    std::fs::write(
        &p,
        format!(
            "Test.Screnc.Html:3:*:{}\nTest.Screnc.Raw:0:*:{}\n",
            hex(b"\"bulwark-screnc-marker-0042\""),
            hex(b"Bulwark-Screnc-Marker-0042"),
        ),
    )
    .expect("ndb");
    p
}

/// A script that holds the marker after `pad` bytes of other statements.
fn script(pad: usize) -> Vec<u8> {
    let mut s = Vec::new();
    while s.len() < pad {
        s.extend_from_slice(b"var a = 1; document.write('<p>hi</p>');\r\n");
    }
    s.extend_from_slice(b"var m = \"Bulwark-Screnc-Marker-0042\"; WScript.Echo(m);\r\n");
    s
}

/// (file, bytes, clamscan's name or none).
fn samples() -> Vec<(&'static str, Vec<u8>, Option<&'static str>)> {
    let mut cut = screnc::encode(&script(0));
    cut.truncate(10);
    let mut garbled = screnc::encode(&script(0));
    garbled[6] = b'!';
    vec![
        (
            "short.jse",
            screnc::encode(&script(0)),
            Some("Test.Screnc.Html"),
        ),
        // The marker past ClamAV's first 8,191-byte chunk.
        (
            "long.vbe",
            screnc::encode(&script(20_000)),
            Some("Test.Screnc.Html"),
        ),
        ("plain.js", script(0), Some("Test.Screnc.Raw")),
        // The header cut short: nothing is decoded.
        ("cut.jse", cut, None),
        ("garbled.jse", garbled, Some("Test.Screnc.Html")),
    ]
}

fn load(p: &Path) -> Arc<Database> {
    let (db, _) = Database::load(&[p.to_path_buf()], &LoadOptions::default()).expect("load");
    Arc::new(db)
}

#[test]
fn encoded_script_files_are_decoded_and_scanned() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = load(&write_db(tmp.path()));
    for (name, data, want) in samples() {
        let v = common::scan_with(db.clone(), &data, DeepOptions::default()).verdict;
        let got = v.threats.first().map(|t| t.name.as_str());
        assert_eq!(got, want, "{name}: {v:?}");
    }
}

#[test]
fn clamscan_agrees_on_encoded_script_files() {
    if !common::have("clamscan") {
        eprintln!("skipped: clamscan missing");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = write_db(tmp.path());
    let dir = tmp.path().join("s");
    std::fs::create_dir(&dir).expect("mkdir");
    for (name, data, _) in samples() {
        std::fs::write(dir.join(name), data).expect("sample");
    }
    let found = common::clamscan_names(&[db], &dir, false);
    for (name, _, want) in samples() {
        assert_eq!(
            found.get(name).and_then(|n| n.first()).map(String::as_str),
            want,
            "clamscan on {name}"
        );
    }
}
