//! Bombs, generated at test time (small on disk, never committed): each gives
//! `limits-exceeded` within its time limit, and the scanning process's peak memory (VmHWM,
//! measured in a child process that runs only the scan) stays under 256 MB.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bulwark_containers::{DeepOptions, DeepScanner};
use common::*;
use flate2::{Compress, Compression, FlushCompress};

/// Raw deflate of `blocks` MiB of zeros, without compressing them all: after the first block
/// the sync-flushed output of every further block of zeros is the same bytes.
fn deflate_zeros(blocks: u64) -> Vec<u8> {
    let zeros = vec![0u8; 1 << 20];
    let mut c = Compress::new(Compression::best(), false);
    let chunk = |c: &mut Compress, input: &[u8], flush| {
        let mut out = Vec::with_capacity(4 << 20);
        let before = c.total_in();
        c.compress_vec(input, &mut out, flush).unwrap();
        assert_eq!(c.total_in() - before, input.len() as u64);
        out
    };
    let a = chunk(&mut c, &zeros, FlushCompress::Sync);
    let b = chunk(&mut c, &zeros, FlushCompress::Sync);
    let b2 = chunk(&mut c, &zeros, FlushCompress::Sync);
    assert_eq!(b, b2, "steady state");
    let fin = chunk(&mut c, &[], FlushCompress::Finish);
    let mut out = a;
    for _ in 1..blocks {
        out.extend_from_slice(&b);
    }
    out.extend_from_slice(&fin);
    out
}

/// A gzip member of `gib` GiB of zeros (~1 MB per GiB on disk; the CRC is not checked before
/// the limits stop the scan).
fn gzip_zeros(path: &Path, gib: u64) {
    let mut f = fs::File::create(path).unwrap();
    f.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]).unwrap();
    f.write_all(&deflate_zeros(gib << 10)).unwrap();
    f.write_all(&[0; 8]).unwrap();
}

fn le16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// A zip whose `n` central-directory entries all point at one local header holding 256 MiB of
/// deflated zeros (the overlapping-entry construction of the "better zip bomb").
fn overlapping_zip(path: &Path, n: u16) {
    let data = deflate_zeros(256);
    let mut v = Vec::new();
    v.extend_from_slice(b"PK\x03\x04");
    le16(&mut v, 20);
    le16(&mut v, 0);
    le16(&mut v, 8);
    le32(&mut v, 0);
    le32(&mut v, 0); // crc (not checked before the limits)
    le32(&mut v, data.len() as u32);
    le32(&mut v, 256 << 20);
    le16(&mut v, 1);
    le16(&mut v, 0);
    v.push(b'k');
    v.extend_from_slice(&data);
    let cd = v.len() as u32;
    for i in 0..n {
        let name = format!("{i:05}");
        v.extend_from_slice(b"PK\x01\x02");
        le16(&mut v, 20);
        le16(&mut v, 20);
        le16(&mut v, 0);
        le16(&mut v, 8);
        le32(&mut v, 0);
        le32(&mut v, 0);
        le32(&mut v, data.len() as u32);
        le32(&mut v, 256 << 20);
        le16(&mut v, name.len() as u16);
        le16(&mut v, 0);
        le16(&mut v, 0);
        le16(&mut v, 0);
        le16(&mut v, 0);
        le32(&mut v, 0);
        le32(&mut v, 0); // every entry's local header is at offset 0
        v.extend_from_slice(name.as_bytes());
    }
    let cd_size = v.len() as u32 - cd;
    v.extend_from_slice(b"PK\x05\x06");
    le16(&mut v, 0);
    le16(&mut v, 0);
    le16(&mut v, n);
    le16(&mut v, n);
    le32(&mut v, cd_size);
    le32(&mut v, cd);
    le16(&mut v, 0);
    fs::write(path, v).unwrap();
}

/// 42.zip-style nesting: 16 copies of 8 MiB of zeros per zip, 16 copies of that zip, then three
/// more single-member levels (depth 5, 2 GiB unpacked from 2 MB).
fn nested_zip(dir: &Path) -> std::path::PathBuf {
    use zip::write::SimpleFileOptions;
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    // Level 0: one deflated member, compressed once and then copied raw.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("0", deflated).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..8 {
        w.write_all(&zeros).unwrap();
    }
    let l0 = w.finish().unwrap().into_inner();
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(l0)).unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..16 {
        w.raw_copy_file_rename(src.by_index_raw(0).unwrap(), format!("{i}.bin"))
            .unwrap();
    }
    let mut level = w.finish().unwrap().into_inner();
    for l in 2..=5 {
        let copies = if l <= 2 { 16 } else { 1 };
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..copies {
            w.start_file(format!("l{}-{i}.zip", l - 1), stored).unwrap();
            w.write_all(&level).unwrap();
        }
        level = w.finish().unwrap().into_inner();
    }
    let p = dir.join("nested.zip");
    fs::write(&p, level).unwrap();
    p
}

/// A tar.gz of a million empty members: one gzip member of 1000 identical tar headers,
/// concatenated 1000 times (~1 MB on disk).
fn million_members(path: &Path) {
    let mut h = tar::Header::new_ustar();
    h.set_path("a").unwrap();
    h.set_size(0);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let block: Vec<u8> = h.as_bytes().repeat(1000);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(&block).unwrap();
    let g = e.finish().unwrap();
    let mut f = fs::File::create(path).unwrap();
    for _ in 0..1000 {
        f.write_all(&g).unwrap();
    }
}

/// A MIME message nested 50,000 multiparts deep.
fn deep_mime(path: &Path) {
    let mut v =
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
            .to_vec();
    let n = 50_000;
    for i in 0..n {
        v.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                .as_bytes(),
        );
    }
    v.extend_from_slice(b"Content-Type: text/plain\r\n\r\nhello\r\n");
    for i in (0..n).rev() {
        v.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
    }
    fs::write(path, v).unwrap();
}

/// Runs this test binary's `bomb_child` on `file`; returns (status, peak KiB, elapsed).
fn child(file: &Path) -> (String, u64, Duration) {
    let t = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["bomb_child", "--exact", "--nocapture", "--test-threads=1"])
        .env("BULWARK_BOMB", file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find_map(|l| l.find("BOMB ").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no result: {text} {}", String::from_utf8_lossy(&out.stderr)));
    let mut it = line.split_whitespace().skip(1);
    let status = it.next().unwrap_or_default().to_string();
    let hwm = it.next().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    (status, hwm, t.elapsed())
}

/// The child: scans `$BULWARK_BOMB` fed in 64 KiB chunks and prints status and VmHWM.
#[test]
fn bomb_child() {
    let Ok(path) = std::env::var("BULWARK_BOMB") else {
        return;
    };
    let mut s = DeepScanner::new(db(), DeepOptions::default());
    let mut f = fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        s.feed(&buf[..n]);
    }
    let v = s.finish();
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("0");
    println!("\nBOMB {} {hwm} {:?}", v.verdict.status, v.notes);
}

fn check(name: &str, file: &Path, limit: Duration) {
    let size = fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let (status, hwm, t) = child(file);
    eprintln!(
        "bomb {name}: {size} bytes on disk -> {status}, peak {} MiB, {t:?}",
        hwm / 1024
    );
    assert_eq!(status, "LIMITS_EXCEEDED", "{name}");
    assert!(hwm < 256 * 1024, "{name}: peak {hwm} KiB");
    assert!(t < limit, "{name}: {t:?}");
}

#[test]
fn bombs_give_limits_exceeded_in_bounded_memory() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let f = p.join("zeros.gz");
    gzip_zeros(&f, 10);
    check("10 GiB of zeros (gzip member)", &f, Duration::from_secs(20));
    let f = p.join("overlap.zip");
    overlapping_zip(&f, 2000);
    check("overlapping zip entries", &f, Duration::from_secs(20));
    let f = nested_zip(p);
    check("42.zip-style nesting", &f, Duration::from_secs(20));
    let f = p.join("million.tgz");
    million_members(&f);
    check("1 million tiny members", &f, Duration::from_secs(30));
    let f = p.join("deep.eml");
    deep_mime(&f);
    check("deeply nested MIME", &f, Duration::from_secs(20));
}
