//! Light finishes (`DeepScanner::finish_light`): which objects finish on the caller's thread,
//! and that every object gets the verdict `finish` gives, whichever way it went.

mod common;

use std::io::Write;

use base64::Engine as _;
use bulwark_containers::{describe, DeepOptions, DeepScanner, LIGHT_BYTES};
use bulwark_engine::Status;
use bulwark_testkit::eicar;
use common::zip_of;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn page(body: &str) -> Vec<u8> {
    format!("<!DOCTYPE html>\n<html><head><title>t</title></head><body>\n{body}\n</body></html>\n")
        .into_bytes()
}

fn scanner(data: &[u8], opts: &DeepOptions) -> DeepScanner {
    let mut s = DeepScanner::new(common::db(), opts.clone());
    for c in data.chunks(4096) {
        s.feed(c);
    }
    s
}

/// Whether it finished light, and the verdict (threats described, limit, status).
fn light(data: &[u8], opts: &DeepOptions) -> (bool, Status, Vec<String>, Option<String>) {
    let (here, v) = match scanner(data, opts).finish_light() {
        Ok(v) => (true, v),
        Err(rest) => (false, rest.finish()),
    };
    let limit = v.limit().map(str::to_string);
    (here, v.verdict.status, describe(&v.verdict), limit)
}

fn full(data: &[u8], opts: &DeepOptions) -> (Status, Vec<String>, Option<String>) {
    let v = scanner(data, opts).finish();
    let limit = v.limit().map(str::to_string);
    (v.verdict.status, describe(&v.verdict), limit)
}

#[test]
fn small_objects_with_nothing_to_open_finish_light_with_the_verdict_finish_gives() {
    let plain = DeepOptions::default();
    let gzip_encoded = DeepOptions {
        content_encoding: Some("gzip".to_string()),
        ..DeepOptions::default()
    };
    let eicar_text = String::from_utf8(eicar()).expect("in memory");
    let zipped = zip_of("inner/eicar.com", &eicar());
    let mut prefixed_zip = b"#!/bin/sh\necho self-extracting\nexit 0\n".to_vec();
    prefixed_zip.extend_from_slice(&zipped);
    let big = page(&"<p>words and more words</p>\n".repeat(LIGHT_BYTES as usize / 20));
    let cases: Vec<(&str, Vec<u8>, &DeepOptions, bool, Status)> = vec![
        ("an HTML page", page("<p>hello</p>"), &plain, true, Status::Clean),
        ("an empty object", Vec::new(), &plain, true, Status::Clean),
        ("EICAR as text", eicar(), &plain, true, Status::Infected),
        (
            "EICAR in a page",
            page(&format!("<pre>{eicar_text}</pre>")),
            &plain,
            true,
            Status::Infected,
        ),
        // The walk finds something to open: handed back, and the member is scanned.
        (
            "a zip behind a script",
            prefixed_zip,
            &plain,
            false,
            Status::Infected,
        ),
        (
            "a data: URI holding a zip",
            page(&format!(
                "<a href=\"data:application/zip;base64,{}\">x</a>",
                base64::engine::general_purpose::STANDARD.encode(&zipped)
            )),
            &plain,
            false,
            Status::Infected,
        ),
        (
            "a clean data: URI",
            page(&format!(
                "<img src=\"data:image/gif;base64,{}\">",
                base64::engine::general_purpose::STANDARD.encode(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
            )),
            &plain,
            false,
            Status::Clean,
        ),
        // Not light at all: containers, executables, encodings, large objects.
        ("a zip", zipped.clone(), &plain, false, Status::Infected),
        ("a page over the light size", big, &plain, false, Status::Clean),
        (
            "a gzip-encoded body",
            gzip(&page("<p>hello</p>")),
            &gzip_encoded,
            false,
            Status::Clean,
        ),
        (
            "an executable",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec(),
            &plain,
            false,
            Status::Clean,
        ),
    ];
    for (what, data, opts, want_light, want_status) in cases {
        let (here, status, threats, limit) = light(&data, opts);
        let (f_status, f_threats, f_limit) = full(&data, opts);
        assert_eq!(here, want_light, "{what}: finished light");
        assert_eq!(status, want_status, "{what}: {threats:?} {limit:?}");
        assert_eq!(
            (status, threats, limit),
            (f_status, f_threats, f_limit),
            "{what}: the same verdict as finish"
        );
    }
}

/// The light attempt never reports a limit of its own: an object whose walk would open more
/// members than allowed gets the real limit from the full walk, not the light one's.
#[test]
fn a_light_attempt_hands_back_instead_of_reporting_its_own_limit() {
    let zipped = zip_of("a.txt", b"nothing here");
    let mut data = b"prefix text before a zip\n".to_vec();
    data.extend_from_slice(&zipped);
    let mut opts = DeepOptions::default();
    let (here, status, _, limit) = light(&data, &opts);
    assert!(!here);
    assert_eq!((status, limit), (Status::Clean, None));
    opts.limits.max_members = 0;
    let (here, status, _, limit) = light(&data, &opts);
    assert!(!here);
    assert_eq!(status, Status::LimitsExceeded);
    assert_eq!(limit.as_deref(), Some("member count"));
}
