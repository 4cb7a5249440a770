//! ClamAV-layout sources: CVDs built and signed here with a test RSA key (no real CVD is
//! available offline), served over HTTP with range requests.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

#[path = "../src/cvd_test_key.rs"]
mod cvd_test_key;

use std::io::Write;

use bulwark_update::cvd::{build_cvd, CvdKey, CvdSigningKey};
use bulwark_update::{local_header, run, Outcome, UpdateRequest};
use common::{FileServer, Setup};
use num_bigint::BigUint;

fn test_key() -> CvdSigningKey {
    CvdSigningKey {
        public: CvdKey::from_decimal(cvd_test_key::N, "65537").unwrap(),
        d: BigUint::parse_bytes(cvd_test_key::D.as_bytes(), 10).unwrap(),
    }
}

/// A CVD holding `NAME.ndb` with one signature for `marker`.
fn cvd(name: &str, version: u32, marker: &str, key: &CvdSigningKey) -> Vec<u8> {
    let hex = bulwark_testkit::hex(marker.as_bytes());
    let ndb = format!("ClamAV.Test.{marker}:0:*:{hex}\n");
    let mut tar = tar::Builder::new(Vec::new());
    for (n, data) in [
        ("COPYING", "test\n".to_string()),
        (&format!("{name}.ndb")[..], ndb),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, n, data.as_bytes()).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    build_cvd(&gz.finish().unwrap(), version, 1, 1_700_000_000, key)
}

fn request(s: &Setup, url: &str) -> UpdateRequest {
    let mut req = s.request(&[format!("clamav:{url}")]);
    req.cvd_key = test_key().public;
    req
}

#[test]
fn clamav_mirror_fetches_newer_cvds_only() {
    let s = Setup::new();
    let key = test_key();
    let dir = s.tmp.path().join("clamav-mirror");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.cvd"), cvd("main", 62, "MAIN-SIG", &key)).unwrap();
    std::fs::write(
        dir.join("daily.cvd"),
        cvd("daily", 27000, "DAILY-ONE", &key),
    )
    .unwrap();
    let srv = FileServer::start(&dir);
    let req = request(&s, &srv.url());

    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
    assert_eq!(local_header(&s.db, "daily").unwrap().1.version, 27000);
    assert_eq!(r.to.as_deref(), Some("62.27000.-"));
    srv.take_requests();

    // Nothing newer: only the headers are read.
    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Current, "{}", r.summary());

    // A new daily: main is kept, daily downloaded.
    std::fs::write(
        dir.join("daily.cvd"),
        cvd("daily", 27001, "DAILY-TWO", &key),
    )
    .unwrap();
    srv.take_requests();
    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
    assert_eq!(r.files, 1);
    let mut got = srv.take_requests();
    got.sort();
    got.dedup();
    assert_eq!(got, vec!["bytecode.cvd", "daily.cvd", "main.cvd"]);
    assert_eq!(local_header(&s.db, "main").unwrap().1.version, 62);
    assert_eq!(local_header(&s.db, "daily").unwrap().1.version, 27001);

    // An older daily on the mirror is refused.
    std::fs::write(
        dir.join("daily.cvd"),
        cvd("daily", 26000, "DAILY-OLD", &key),
    )
    .unwrap();
    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.summary());
    assert_eq!(local_header(&s.db, "daily").unwrap().1.version, 27001);
}

#[test]
fn a_cvd_with_a_bad_digital_signature_is_refused() {
    let s = Setup::new();
    let key = test_key();
    let dir = s.tmp.path().join("clamav-mirror");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.cvd"), cvd("main", 62, "MAIN-SIG", &key)).unwrap();
    let mut daily = cvd("daily", 27000, "DAILY-ONE", &key);
    let last = daily.len() - 3;
    daily[last] ^= 0x55;
    std::fs::write(dir.join("daily.cvd"), &daily).unwrap();
    let srv = FileServer::start(&dir);
    let r = run(&request(&s, &srv.url()));
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.summary());
    assert!(s.installed("main.cvd").is_none());

    // Signed with our key but checked against ClamAV's: refused.
    std::fs::write(
        dir.join("daily.cvd"),
        cvd("daily", 27000, "DAILY-ONE", &key),
    )
    .unwrap();
    let mut req = request(&s, &srv.url());
    req.cvd_key = CvdKey::clamav();
    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.summary());
    assert!(r.summary().contains("digital signature"), "{}", r.summary());
}

#[test]
fn a_clamav_mirror_can_be_mirrored() {
    let s = Setup::new();
    let key = test_key();
    let dir = s.tmp.path().join("clamav-mirror");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.cvd"), cvd("main", 1, "MAIN-SIG", &key)).unwrap();
    std::fs::write(dir.join("daily.cvd"), cvd("daily", 2, "DAILY-ONE", &key)).unwrap();
    let srv = FileServer::start(&dir);
    let out = s.tmp.path().join("lan");
    let mut req = request(&s, &srv.url());
    req.mirror_to = Some(out.clone());
    assert_eq!(run(&req).outcome, Outcome::Updated);
    assert_eq!(run(&req).outcome, Outcome::Current);
    let lan = FileServer::start(&out);
    let r = run(&request(&s, &lan.url()));
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
}
