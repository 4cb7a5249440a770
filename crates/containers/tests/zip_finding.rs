//! Zips wherever readers find them (issue 22, item 1): behind any prefix that is not a valid
//! executable header, concatenated, with members left out of the central directory, appended to
//! executables. Each sample holds EICAR (assembled at run time) and must be found infected; its
//! clean twin must stay clean (not limits-exceeded, not corrupted). `unzip` and `7z` confirm the
//! samples really open. And the other way round: programs that hold zip signatures as data
//! (`/usr/bin/zip`, `sqlite3`…) are not archives with a bogus member count.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{Cursor, Write};
use std::path::Path;
use std::process::Command;

use bulwark_config::Limits;
use bulwark_containers::{describe, DeepOptions};
use bulwark_engine::Status;
use bulwark_testkit::eicar;
use common::*;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

const CLEAN: &[u8] = b"just a harmless text file\n";

fn opts(m: CompressionMethod) -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(m)
}

/// A zip of `files`, written after `prefix` in the same stream (offsets count from the start of
/// the stream: what `zip -A` makes of a self-extractor) when `adjusted`, else on its own.
fn zip_after(
    prefix: &[u8],
    adjusted: bool,
    files: &[(&str, &[u8])],
    m: CompressionMethod,
) -> Vec<u8> {
    let mut c = Cursor::new(Vec::new());
    if adjusted {
        c.write_all(prefix).unwrap();
    }
    let mut w = zip::ZipWriter::new(c);
    for (name, data) in files {
        w.start_file(*name, opts(m)).unwrap();
        w.write_all(data).unwrap();
    }
    let z = w.finish().unwrap().into_inner();
    if adjusted {
        z
    } else {
        let mut v = prefix.to_vec();
        v.extend_from_slice(&z);
        v
    }
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    zip_after(b"", false, files, CompressionMethod::Deflated)
}

/// A zip written as a stream: sizes in data descriptors after each member's data.
fn streamed(files: &[(&str, &[u8])], m: CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new_stream(Vec::new());
    for (name, data) in files {
        w.start_file(*name, opts(m)).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// `z` with the central-directory header of `name` taken out (its local header stays).
fn drop_from_directory(z: &[u8], name: &str) -> Vec<u8> {
    let e = z.len() - 22;
    assert_eq!(&z[e..e + 4], b"PK\x05\x06");
    let u16at = |o: usize| u16::from_le_bytes([z[o], z[o + 1]]) as usize;
    let u32at = |o: usize| u32::from_le_bytes([z[o], z[o + 1], z[o + 2], z[o + 3]]) as usize;
    let (n, cd_size, cd_off) = (u16at(e + 10), u32at(e + 12), u32at(e + 16));
    let mut p = cd_off;
    let mut out = z[..cd_off].to_vec();
    let mut kept = 0u16;
    while p < cd_off + cd_size {
        assert_eq!(&z[p..p + 4], b"PK\x01\x02");
        let len = 46 + u16at(p + 28) + u16at(p + 30) + u16at(p + 32);
        if &z[p + 46..p + 46 + u16at(p + 28)] != name.as_bytes() {
            out.extend_from_slice(&z[p..p + len]);
            kept += 1;
        }
        p += len;
    }
    assert_eq!(kept as usize, n - 1, "{name} not in the directory");
    let new_size = (out.len() - cd_off) as u32;
    out.extend_from_slice(&z[e..]);
    let e2 = out.len() - 22;
    out[e2 + 8..e2 + 10].copy_from_slice(&kept.to_le_bytes());
    out[e2 + 10..e2 + 12].copy_from_slice(&kept.to_le_bytes());
    out[e2 + 12..e2 + 16].copy_from_slice(&new_size.to_le_bytes());
    out
}

/// Infected, found in the member `eicar.com` (not only in the raw bytes: stored EICAR is
/// visible there already, so the member is what shows that the zip was opened).
fn expect_infected(what: &str, data: &[u8]) {
    let mut o = DeepOptions::default();
    let v = scan(data);
    let t = describe(&v.verdict);
    assert_eq!(
        v.verdict.status,
        Status::Infected,
        "{what}: {t:?} {:?}",
        v.notes
    );
    if !t.iter().any(|t| t.contains("eicar.com")) {
        // The raw scan stopped first: scan for every match to see the member too.
        o.limits = Limits::default();
        let mut s = bulwark_containers::DeepScanner::new(db(), o);
        s.set_all_matches(true);
        s.feed(data);
        let t = describe(&s.finish().verdict);
        assert!(t.iter().any(|t| t.contains("eicar.com")), "{what}: {t:?}");
    }
}

fn expect_clean(what: &str, data: &[u8]) {
    let v = scan(data);
    assert_eq!(
        v.verdict.status,
        Status::Clean,
        "{what}: {:?} {:?}",
        describe(&v.verdict),
        v.notes
    );
}

/// Which of `unzip` and `7z` list the archive in `data` (exit 0, or 1 for unzip's warnings
/// about extra bytes) with `member` in the listing.
fn readers_open(dir: &Path, name: &str, data: &[u8], member: &str) -> Vec<&'static str> {
    let f = dir.join(name);
    std::fs::write(&f, data).unwrap();
    let mut ok = Vec::new();
    let tools: [(&str, &[&str], &[i32]); 2] = [("unzip", &["-l"], &[0, 1]), ("7z", &["l"], &[0])];
    for (tool, args, codes) in tools {
        if !have(tool) {
            continue;
        }
        let out = Command::new(tool).args(args).arg(&f).output().unwrap();
        let listed = String::from_utf8_lossy(&out.stdout).contains(member);
        if out.status.code().is_some_and(|c| codes.contains(&c)) && listed {
            ok.push(tool);
        }
    }
    ok
}

fn prefixes() -> Vec<(&'static str, Vec<u8>)> {
    let mut jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    jpeg.extend_from_slice(&[0x5a; 300]);
    jpeg.extend_from_slice(b"\xff\xd9");
    let mut mp4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41".to_vec();
    mp4.extend_from_slice(b"\x00\x00\x01\x08mdat");
    mp4.extend_from_slice(&[7; 256]);
    vec![
        ("1 byte", b"x".to_vec()),
        ("shell line", b"#!/bin/sh\nexec unzip -o \"$0\"\n".to_vec()),
        ("JPEG head", jpeg),
        (
            "PDF head",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec(),
        ),
        (
            "HTML head",
            b"<!DOCTYPE html>\n<html><head><title>hi</title></head><body><p>hello</p>\n".to_vec(),
        ),
        ("MP4 head", mp4),
        ("bare MZ", b"MZ".to_vec()),
        ("MZ and junk", {
            let mut v = b"MZ".to_vec();
            v.extend_from_slice(&[0x90; 200]);
            v
        }),
    ]
}

#[test]
fn zip_behind_any_prefix() {
    let d = tempfile::tempdir().unwrap();
    let e = eicar();
    for (what, prefix) in prefixes() {
        for adjusted in [false, true] {
            for m in [CompressionMethod::Stored, CompressionMethod::Deflated] {
                let case = format!("{what}, adjusted {adjusted}, {m:?}");
                let bad = zip_after(
                    &prefix,
                    adjusted,
                    &[("readme.txt", CLEAN), ("eicar.com", &e)],
                    m,
                );
                let good = zip_after(&prefix, adjusted, &[("readme.txt", CLEAN)], m);
                assert!(
                    !readers_open(d.path(), "p.zip", &bad, "eicar.com").is_empty(),
                    "{case}: no reader opens it"
                );
                expect_infected(&case, &bad);
                expect_clean(&case, &good);
            }
        }
    }
}

#[test]
fn concatenated_zips() {
    let d = tempfile::tempdir().unwrap();
    let e = eicar();
    let bad = zip_of(&[("eicar.com", &e)]);
    let good = zip_of(&[("readme.txt", CLEAN)]);
    let other = zip_of(&[("notes.txt", b"notes\n")]);
    let cat = |a: &[u8], b: &[u8]| [a, b].concat();
    // Readers take the last archive: the first is what they call extra bytes.
    assert!(!readers_open(d.path(), "c.zip", &cat(&bad, &good), "readme.txt").is_empty());
    expect_infected("infected first", &cat(&bad, &good));
    expect_infected("infected last", &cat(&good, &bad));
    expect_infected("infected in the middle", &cat(&cat(&good, &bad), &other));
    expect_infected("behind a prefix", &cat(b"#!/bin/sh\n", &cat(&bad, &good)));
    expect_clean("two clean zips", &cat(&good, &other));
    let empty = zip::ZipWriter::new(Cursor::new(Vec::new()))
        .finish()
        .unwrap()
        .into_inner();
    expect_clean("an empty zip", &empty);
    expect_clean("an empty zip after a zip", &cat(&good, &empty));
    expect_infected("an empty zip after an infected one", &cat(&bad, &empty));
    expect_clean("the same zip twice", &cat(&good, &good));
}

#[test]
fn members_missing_from_the_central_directory() {
    let d = tempfile::tempdir().unwrap();
    let e = eicar();
    for m in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        let bad = drop_from_directory(
            &zip_after(b"", false, &[("eicar.com", &e), ("readme.txt", CLEAN)], m),
            "eicar.com",
        );
        let good = drop_from_directory(
            &zip_after(
                b"",
                false,
                &[("other.txt", b"other\n"), ("readme.txt", CLEAN)],
                m,
            ),
            "other.txt",
        );
        assert!(!readers_open(d.path(), "l.zip", &bad, "readme.txt").is_empty());
        expect_infected(&format!("local only, {m:?}"), &bad);
        expect_clean(&format!("local only, {m:?}"), &good);
        // The member left out last, and behind a prefix.
        let bad = drop_from_directory(
            &zip_after(
                b"GIF89a",
                true,
                &[("readme.txt", CLEAN), ("eicar.com", &e)],
                m,
            ),
            "eicar.com",
        );
        expect_infected(&format!("local only after a prefix, {m:?}"), &bad);
        // Sizes in data descriptors (a streamed zip).
        let bad = drop_from_directory(
            &streamed(&[("eicar.com", &e), ("readme.txt", CLEAN)], m),
            "eicar.com",
        );
        let good = drop_from_directory(
            &streamed(&[("other.txt", b"other\n"), ("readme.txt", CLEAN)], m),
            "other.txt",
        );
        expect_infected(&format!("local only, streamed, {m:?}"), &bad);
        expect_clean(&format!("local only, streamed, {m:?}"), &good);
    }
    // No central directory at all (a cut download): the local headers still give the member;
    // its clean twin is a broken zip, as unzip says too.
    let z = zip_of(&[("eicar.com", &e), ("readme.txt", CLEAN)]);
    let cut = &z[..z.len() - 150];
    expect_infected("no central directory", cut);
    let z = zip_of(&[("other.txt", b"other\n"), ("readme.txt", CLEAN)]);
    let v = scan(&z[..z.len() - 150]);
    assert_eq!(v.verdict.status, Status::Corrupted, "{:?}", v.notes);
}

#[test]
fn zips_appended_to_executables() {
    let e = eicar();
    let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
    elf.extend_from_slice(&[0; 120]);
    for adjusted in [false, true] {
        let bad = zip_after(
            &elf,
            adjusted,
            &[("eicar.com", &e)],
            CompressionMethod::Deflated,
        );
        let good = zip_after(
            &elf,
            adjusted,
            &[("readme.txt", CLEAN)],
            CompressionMethod::Deflated,
        );
        expect_infected(&format!("ELF + zip, adjusted {adjusted}"), &bad);
        expect_clean(&format!("ELF + zip, adjusted {adjusted}"), &good);
    }
}

/// The programs whose zip signatures (as data) once gave a bogus member count.
const PROGRAMS: [&str; 6] = [
    "zip",
    "zipnote",
    "zipcloak",
    "zipsplit",
    "sqlite3",
    "osslsigncode",
];

#[test]
fn programs_holding_zip_signatures_are_clean() {
    let e = eicar();
    let mut tried = 0;
    for p in PROGRAMS {
        let f = Path::new("/usr/bin").join(p);
        let Ok(data) = std::fs::read(&f) else {
            eprintln!("skipped: {} missing", f.display());
            continue;
        };
        tried += 1;
        let v = scan(&data);
        assert_eq!(
            v.verdict.status,
            Status::Clean,
            "{}: {:?} {:?}",
            f.display(),
            describe(&v.verdict),
            v.notes
        );
        assert_eq!(v.limit(), None, "{}", f.display());
        // A zip appended to the program is still found, past its stray signatures.
        let mut bad = data.clone();
        bad.extend_from_slice(&zip_of(&[("eicar.com", &e)]));
        expect_infected(&format!("{p} + zip"), &bad);
        let mut good = data;
        good.extend_from_slice(&zip_of(&[("readme.txt", CLEAN)]));
        expect_clean(&format!("{p} + zip"), &good);
    }
    if tried == 0 {
        eprintln!("skipped: none of {PROGRAMS:?} installed");
    }
}

#[test]
fn stray_end_records_do_not_count() {
    // An end record with a huge count and no directory behind it, inside an ordinary file.
    let mut v = b"some data ".repeat(100);
    v.extend_from_slice(
        b"PK\x05\x06\0\0\0\0\xff\xfe\xff\xfe\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00",
    );
    v.extend_from_slice(&b"more data ".repeat(100));
    expect_clean("stray end record", &v);
    // The same after a real zip, and as the last bytes of a real zip.
    let mut z = zip_of(&[("readme.txt", CLEAN)]);
    z.extend_from_slice(&v);
    expect_clean("zip + stray end record", &z);
    let mut z = v.clone();
    z.extend_from_slice(&zip_of(&[("readme.txt", CLEAN)]));
    expect_clean("stray end record + zip", &z);
    // Stray local headers (signature, then text).
    let mut v = b"text PK\x03\x04 more text PK\x03\x04\x14\x00\x00\x00\x00\x00".repeat(50);
    v.extend_from_slice(&[0; 64]);
    expect_clean("stray local headers", &v);
}

fn with_members(max: u64) -> DeepOptions {
    DeepOptions {
        limits: Limits {
            max_members: max,
            ..Limits::default()
        },
        ..DeepOptions::default()
    }
}

#[test]
fn new_paths_stay_within_the_limits() {
    let names: Vec<String> = (0..10).map(|i| format!("f{i}.txt")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), CLEAN)).collect();
    // A real archive behind a prefix: its count is checked before its directory is read.
    let z = zip_after(b"#!/bin/sh\n", false, &files, CompressionMethod::Deflated);
    let v = scan_with(db(), &z, with_members(5));
    assert_eq!(v.verdict.status, Status::LimitsExceeded, "{:?}", v.notes);
    assert_eq!(v.limit(), Some("member count"));
    let v = scan_with(db(), &z, with_members(10));
    assert_eq!(v.verdict.status, Status::Clean, "{:?}", v.notes);
    // Members from local headers count one by one.
    let mut z = zip_of(&files);
    let e = z.len() - 22;
    let cd_off = u32::from_le_bytes([z[e + 16], z[e + 17], z[e + 18], z[e + 19]]) as usize;
    z.truncate(cd_off);
    let v = scan_with(db(), &z, with_members(5));
    assert_eq!(v.verdict.status, Status::LimitsExceeded, "{:?}", v.notes);
    // A stored zip inside a zip (a fat jar) is opened once, not also from the outer bytes.
    let inner = zip_after(b"", false, &files, CompressionMethod::Stored);
    let outer = zip_after(
        b"",
        false,
        &[("lib/inner.jar", &inner), ("readme.txt", CLEAN)],
        CompressionMethod::Stored,
    );
    let v = scan_with(db(), &outer, with_members(12));
    assert_eq!(v.verdict.status, Status::Clean, "{:?}", v.notes);
    let cat = [&outer[..], &outer[..]].concat();
    let v = scan_with(db(), &cat, with_members(24));
    assert_eq!(v.verdict.status, Status::Clean, "{:?}", v.notes);
}

#[test]
fn cure_still_rebuilds_the_archive_it_numbered() {
    let e = eicar();
    let z = zip_after(
        b"#!/bin/sh\nexit 0\n",
        false,
        &[("readme.txt", CLEAN), ("eicar.com", &e)],
        CompressionMethod::Deflated,
    );
    // Behind a prefix the object is not a zip: it is blocked, not cured.
    let v = scan_with(
        db(),
        &z,
        DeepOptions {
            cure: true,
            ..DeepOptions::default()
        },
    );
    assert_eq!(v.verdict.status, Status::Infected);
    // Two zips, the infected one last: the last is rebuilt, the result is clean.
    let good = zip_of(&[("notes.txt", b"notes\n")]);
    let bad = zip_of(&[("readme.txt", CLEAN), ("eicar.com", &e)]);
    let cat = [&good[..], &bad[..]].concat();
    let v = scan_with(
        db(),
        &cat,
        DeepOptions {
            cure: true,
            ..DeepOptions::default()
        },
    );
    assert_eq!(v.verdict.status, Status::Cured, "{:?}", v.notes);
    let mut body = Vec::new();
    std::io::copy(&mut v.cured.unwrap().reader(), &mut body).unwrap();
    let mut za = zip::ZipArchive::new(Cursor::new(body)).unwrap();
    let names: Vec<String> = za.file_names().map(|n| n.unwrap().to_string()).collect();
    assert!(names.contains(&"readme.txt".to_string()), "{names:?}");
    assert!(
        names.contains(&"eicar.com.removed.txt".to_string()),
        "{names:?}"
    );
    let mut f = za.by_name("readme.txt").unwrap();
    let mut s = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut s).unwrap();
    assert_eq!(s, CLEAN);
}

#[test]
fn tool_made_samples() {
    if !have("zip") {
        eprintln!("skipped: zip missing");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("eicar.com"), eicar()).unwrap();
    std::fs::write(p.join("readme.txt"), CLEAN).unwrap();
    std::fs::write(
        p.join("head.sh"),
        b"#!/bin/sh\necho self-extracting\nexit 0\n",
    )
    .unwrap();
    run(
        p,
        "zip -q bad.zip readme.txt eicar.com && zip -q good.zip readme.txt",
    );
    run(
        p,
        "zip -q -fz bad64.zip eicar.com && zip -q -fz good64.zip readme.txt",
    );
    // Prepended as is, and adjusted by `zip -A` (a self-extractor's offsets).
    // (`zip -A` does not adjust a zip64 archive.)
    run(
        p,
        "for z in bad good bad64 good64; do cat head.sh $z.zip > $z.sh; done",
    );
    run(
        p,
        "for z in bad good; do cp $z.sh $z.adj.sh; zip -q -A $z.adj.sh; done",
    );
    let mut names = vec![];
    for n in ["bad.sh", "bad.adj.sh", "bad64.sh"] {
        names.push((n.to_string(), true));
    }
    for n in ["good.sh", "good.adj.sh", "good64.sh"] {
        names.push((n.to_string(), false));
    }
    if have("7z") {
        run(p, "7z a -tzip -bd -bso0 bad7.zip readme.txt eicar.com && 7z a -tzip -bd -bso0 good7.zip readme.txt");
        run(
            p,
            "cat head.sh bad7.zip > bad7.sh && cat head.sh good7.zip > good7.sh",
        );
        names.push(("bad7.sh".into(), true));
        names.push(("good7.sh".into(), false));
    }
    for (n, infected) in names {
        let data = std::fs::read(p.join(&n)).unwrap();
        if infected {
            let member = if n.contains("64") {
                "eicar.com"
            } else {
                "readme.txt"
            };
            assert!(
                !readers_open(p, "check.zip", &data, member).is_empty(),
                "{n}: no reader opens it"
            );
            expect_infected(&n, &data);
        } else {
            expect_clean(&n, &data);
        }
    }
}

/// A local header (stored or deflated) of `name` with `data`; sizes in a data descriptor that
/// is never written when `described`.
fn local(name: &str, data: &[u8], method: u16, described: bool) -> Vec<u8> {
    let mut v = b"PK\x03\x04".to_vec();
    v.extend_from_slice(&20u16.to_le_bytes());
    v.extend_from_slice(&(if described { 8u16 } else { 0 }).to_le_bytes());
    v.extend_from_slice(&method.to_le_bytes());
    v.extend_from_slice(&[0; 8]); // time, date, crc
    let size = if described { 0 } else { data.len() as u32 };
    v.extend_from_slice(&size.to_le_bytes());
    v.extend_from_slice(&size.to_le_bytes());
    v.extend_from_slice(&(name.len() as u16).to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn hostile_layouts_stay_bounded() {
    use std::time::{Duration, Instant};
    let check = |what: &str, data: &[u8], want: Status| {
        let t = Instant::now();
        let v = scan(data);
        let took = t.elapsed();
        eprintln!(
            "{what}: {} bytes -> {} in {took:?}",
            data.len(),
            v.verdict.status
        );
        assert_eq!(v.verdict.status, want, "{what}: {:?}", v.notes);
        assert!(took < Duration::from_secs(20), "{what}: {took:?}");
    };
    // Deflated members of unknown size, no descriptor anywhere: each decoder finds its own end
    // and nothing reads the rest of the object again.
    let mut v = b"GIF89a".to_vec();
    for i in 0..2000 {
        v.extend_from_slice(&local(&format!("m{i}"), &[0x03, 0x00], 8, true));
        v.extend_from_slice(&[0x55; 1000]);
    }
    check("2000 members of unknown size", &v, Status::Clean);
    // More local members than the member limit.
    let mut v = b"#!/bin/sh\n".to_vec();
    for i in 0..11_000 {
        v.extend_from_slice(&local(&format!("m{i}"), b"x", 0, false));
    }
    check("11,000 local members", &v, Status::LimitsExceeded);
    // Sixty thousand empty end records.
    let mut v = b"data".to_vec();
    for _ in 0..60_000 {
        v.extend_from_slice(b"PK\x05\x06");
        v.extend_from_slice(&[0; 18]);
    }
    check("60,000 empty end records", &v, Status::Clean);
    // Past the cap on end-record signatures: a limit, not a silent pass.
    let v = b"PK\x05\x06".repeat(70_000);
    check("70,000 end-record signatures", &v, Status::LimitsExceeded);
}

#[test]
fn zip_behind_a_broken_container_header() {
    // A prefix that another format's magic claims: that format does not parse (the object is
    // corrupted), and the zip behind it is still opened.
    let e = eicar();
    for (what, prefix) in [
        (
            "gzip magic",
            &b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"[..],
        ),
        ("7z magic", &b"7z\xbc\xaf\x27\x1c\x00\x04"[..]),
        ("cab magic", &b"MSCF\0\0\0\0\x10\0\0\0"[..]),
    ] {
        let bad = zip_after(
            prefix,
            false,
            &[("eicar.com", &e)],
            CompressionMethod::Deflated,
        );
        expect_infected(what, &bad);
        let good = zip_after(
            prefix,
            false,
            &[("readme.txt", CLEAN)],
            CompressionMethod::Deflated,
        );
        let v = scan(&good);
        assert_ne!(v.verdict.status, Status::Infected, "{what}");
        assert_eq!(v.limit(), None, "{what}");
    }
}
