//! `HandlerType` logical signatures as ClamAV 1.4.6 runs them: when one matches, the object is
//! scanned again as the named type (a layer of its own: target 0's and that type's target
//! signatures, where the `HandlerType` signature matches again and reports; then the type's
//! parser), so the signature itself is reported unless the rescan found something first.
//! The expected names are clamscan's (`--no-summary`, and `--allmatch`), checked against
//! clamscan itself when it is installed.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulwark_containers::DeepOptions;
use bulwark_engine::{Database, LoadOptions, Status};
use bulwark_testkit::hex;

/// What `Test.Payload` finds (not EICAR: the engine always knows EICAR, clamscan `-d` not).
const PAYLOAD: &[u8] = b"bulwark handler-type payload 0123456789";

/// `HandlerType` signatures for GRAPHICS (no opener: target 5 only), PDF and ZIP, a target 5
/// body signature and one for the payload.
fn write_db(dir: &Path) -> Vec<PathBuf> {
    let ldb = dir.join("h.ldb");
    let ndb = dir.join("h.ndb");
    let mut l = String::new();
    for (name, ty, marker) in [
        ("Test.H", "CL_TYPE_GRAPHICS", "HANDLER_A"),
        ("Test.Handler", "CL_TYPE_PDF", "HANDLEPDF"),
        ("Test.H2", "CL_TYPE_ZIP", "ZIPHANDLE"),
    ] {
        l += &format!(
            "{name};Engine:51-255,HandlerType:{ty},Target:0;0;{}\n",
            hex(marker.as_bytes())
        );
    }
    std::fs::write(&ldb, l).expect("ldb");
    std::fs::write(
        &ndb,
        format!(
            "Test.T5:5:*:{}\nTest.Payload:0:*:{}\n",
            hex(b"BBBBBBBBBB"),
            hex(PAYLOAD)
        ),
    )
    .expect("ndb");
    vec![ldb, ndb]
}

fn zlib(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(d).expect("deflate");
    e.finish().expect("deflate")
}

/// A one-object PDF whose Flate stream holds the payload.
fn pdf() -> Vec<u8> {
    let z = zlib(PAYLOAD);
    let mut d = b"%PDF-1.4\n1 0 obj\n".to_vec();
    d.extend(format!("<< /Length {} /Filter /FlateDecode >>\nstream\n", z.len()).as_bytes());
    d.extend(&z);
    d.extend(b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
    d
}

fn stored_zip(name: &str, data: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file(name, o).expect("zip entry");
    w.write_all(data).expect("zip data");
    w.finish().expect("zip").into_inner()
}

type Sample = (
    &'static str,
    Vec<u8>,
    Option<&'static str>,
    Vec<&'static str>,
);

/// (file, bytes, clamscan's name without all-match, clamscan's names with `--allmatch`).
fn samples() -> Vec<Sample> {
    let cat = |parts: &[&[u8]]| parts.concat();
    let hb = b"hello HANDLER_A world BBBBBBBBBB\n".to_vec();
    let mut zh = b"ZIPHANDLE ".to_vec();
    zh.extend(stored_zip("e.txt", &cat(&[b"inner ", PAYLOAD])));
    vec![
        (
            "h.txt",
            b"hello HANDLER_A world\n".to_vec(),
            Some("Test.H"),
            vec!["Test.H"],
        ),
        // The GRAPHICS rescan runs target 5: its finding comes before the handler's name.
        (
            "hb.txt",
            hb.clone(),
            Some("Test.T5"),
            vec!["Test.H", "Test.T5"],
        ),
        ("b.txt", b"hello BBBBBBBBBB\n".to_vec(), None, vec![]),
        (
            "hb.zip",
            stored_zip("hb.txt", &hb),
            Some("Test.T5"),
            vec!["Test.H", "Test.T5"],
        ),
        // `%PDF-` past the first 1,024 bytes: the PDF rescan opens nothing.
        (
            "hp.bin",
            cat(&[b"HANDLEPDF ", &[b'.'; 2000], &pdf()]),
            Some("Test.Handler"),
            vec!["Test.Handler"],
        ),
        (
            "hp5.bin",
            cat(&[b"HANDLEPDF ", &[b'.'; 500], &pdf()]),
            Some("Test.Handler"),
            vec!["Test.Payload", "Test.Handler"],
        ),
        // An executable's head: only the PDF rescan finds the stream.
        (
            "hp5m.bin",
            cat(&[b"MZ", &[0; 100], b"HANDLEPDF ", &[b'.'; 500], &pdf()]),
            Some("Test.Handler"),
            vec!["Test.Payload", "Test.Handler"],
        ),
        (
            "zh.txt",
            zh,
            Some("Test.Payload"),
            vec!["Test.Payload", "Test.H2"],
        ),
    ]
}

fn load(paths: &[PathBuf]) -> Arc<Database> {
    let (db, r) = Database::load(paths, &LoadOptions::default()).expect("load");
    for f in &r.files {
        assert!(f.approximated.is_empty(), "{:?}", f.approximated);
    }
    Arc::new(db)
}

#[test]
fn handler_type_signatures_rescan_then_report_as_clamscan() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = load(&write_db(tmp.path()));
    for (name, data, first, all) in samples() {
        let v = common::scan_with(db.clone(), &data, DeepOptions::default()).verdict;
        let got = v.threats.first().map(|t| t.name.as_str());
        assert_eq!(got, first, "{name} without all-match: {v:?}");
        let want = if first.is_some() {
            Status::Infected
        } else {
            Status::Clean
        };
        assert_eq!(v.status, want, "{name}");
        let mut d = bulwark_containers::DeepScanner::new(db.clone(), DeepOptions::default());
        d.set_all_matches(true);
        d.feed(&data);
        let v = d.finish().verdict;
        let got: BTreeSet<&str> = v.threats.iter().map(|t| t.name.as_str()).collect();
        let want: BTreeSet<&str> = all.iter().copied().collect();
        assert_eq!(got, want, "{name} with all-match: {v:?}");
    }
}

#[test]
fn clamscan_agrees_on_handler_type_samples() {
    if !common::have("clamscan") {
        eprintln!("skipped: clamscan missing");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = write_db(tmp.path());
    let dir = tmp.path().join("s");
    std::fs::create_dir(&dir).expect("mkdir");
    for (name, data, _, _) in samples() {
        std::fs::write(dir.join(name), data).expect("sample");
    }
    let first = common::clamscan_names(&db, &dir, false);
    let all = common::clamscan_names(&db, &dir, true);
    for (name, _, want_first, want_all) in samples() {
        let got: Vec<&str> = first[name].iter().map(String::as_str).collect();
        let want: Vec<&str> = want_first.into_iter().collect();
        assert_eq!(got, want, "clamscan on {name}");
        let got: BTreeSet<&str> = all[name].iter().map(String::as_str).collect();
        let want: BTreeSet<&str> = want_all.into_iter().collect();
        assert_eq!(got, want, "clamscan --allmatch on {name}");
    }
}
