//! Logical signatures with `Container:` and `Intermediates:` conditions (ClamAV's
//! LogicalSignatures documentation): a marker matches only in the containers the signature
//! names, and — when clamscan is installed — clamscan agrees on every file.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use bulwark_containers::DeepOptions;
use bulwark_engine::{Database, LoadOptions, Status};
use bulwark_testkit::hex;
use common::zip_of;

const MARKER: &[u8] = b"bulwark container condition marker 0123456789";

/// One signature per condition, all on the same marker.
fn ldb() -> String {
    let m = hex(MARKER);
    [
        ("Test.InZip", "Container:CL_TYPE_ZIP"),
        ("Test.InMail", "Container:CL_TYPE_MAIL"),
        ("Test.RootOnly", "Container:CL_TYPE_ANY"),
        ("Test.ZipInMail", "Intermediates:CL_TYPE_MAIL>CL_TYPE_ZIP"),
        ("Test.AnyThenZip", "Intermediates:CL_TYPE_ANY>CL_TYPE_ZIP"),
        ("Test.InTar", "Container:CL_TYPE_POSIX_TAR"),
    ]
    .iter()
    .map(|(name, cond)| format!("{name};Engine:81-255,{cond},Target:0;0;{m}\n"))
    .collect()
}

fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).expect("tar entry");
    b.into_inner().expect("tar finish")
}

/// A mail with `data` attached in base64.
fn mail_of(name: &str, data: &[u8]) -> Vec<u8> {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            b64.push(if k <= c.len() {
                B64[((n >> (18 - 6 * k)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    let wrapped: Vec<String> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: \
         text/plain\r\n\r\nhello\r\n--B\r\nContent-Type: application/octet-stream\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; \
         filename=\"{name}\"\r\n\r\n{}\r\n--B--\r\n",
        wrapped.join("\r\n")
    )
    .into_bytes()
}

/// The samples and the names Bulwark must report (in any order).
fn samples() -> Vec<(&'static str, Vec<u8>, Vec<&'static str>)> {
    let mut plain = b"text before ".to_vec();
    plain.extend_from_slice(MARKER);
    let zip = zip_of("m.txt", &plain);
    vec![
        ("plain.txt", plain.clone(), vec!["Test.RootOnly"]),
        // `CL_TYPE_ANY>CL_TYPE_ZIP` names two layers: a zip at the root has one.
        ("in.zip", zip.clone(), vec!["Test.InZip"]),
        // A tar stores its member as it is: the tar itself, a root object, holds the marker.
        (
            "in.tar",
            tar_of("m.txt", &plain),
            vec!["Test.InTar", "Test.RootOnly"],
        ),
        ("in.eml", mail_of("m.txt", &plain), vec!["Test.InMail"]),
        (
            "zip-in.eml",
            mail_of("m.zip", &zip),
            vec!["Test.InZip", "Test.ZipInMail", "Test.AnyThenZip"],
        ),
        (
            "zip-in.tar",
            tar_of("m.zip", &zip),
            vec!["Test.InZip", "Test.AnyThenZip"],
        ),
    ]
}

fn db(dir: &Path) -> Arc<Database> {
    let p = dir.join("cond.ldb");
    std::fs::write(&p, ldb()).expect("write ldb");
    let (db, r) = Database::load(&[p], &LoadOptions::default()).expect("load");
    let f = &r.files[0];
    assert_eq!(f.loaded, 6, "{:?} {:?}", f.unsupported, f.malformed);
    Arc::new(db)
}

#[test]
fn conditions_match_only_in_their_containers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = db(tmp.path());
    for (name, data, want) in samples() {
        let mut opts = DeepOptions {
            name: Some(name.to_string()),
            ..DeepOptions::default()
        };
        opts.engine = Default::default();
        let mut d = bulwark_containers::DeepScanner::new(db.clone(), opts);
        d.set_all_matches(true);
        d.feed(&data);
        let v = d.finish();
        let mut got: Vec<&str> = v.verdict.threats.iter().map(|t| t.name.as_str()).collect();
        got.sort_unstable();
        got.dedup();
        let mut want = want.clone();
        want.sort_unstable();
        assert_eq!(got, want, "{name}: {:?}", v.verdict);
        assert_eq!(v.verdict.status, Status::Infected, "{name}");
    }
}

#[test]
fn clamscan_agrees_on_container_conditions() {
    if !common::have("clamscan") {
        eprintln!("skipped: clamscan missing");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dbp = tmp.path().join("cond.ldb");
    std::fs::write(&dbp, ldb()).expect("ldb");
    let dir = tmp.path().join("s");
    std::fs::create_dir(&dir).expect("mkdir");
    for (name, data, _) in samples() {
        std::fs::write(dir.join(name), data).expect("write sample");
    }
    let clam = common::clamscan_names(&[dbp], &dir, true);
    for (name, _, want) in samples() {
        let got = clam.get(name).cloned().unwrap_or_default();
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "clamscan on {name}");
    }
}
