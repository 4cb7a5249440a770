//! The normalised HTML views equal clamscan's own, byte for byte: 150 generated hostile documents
//! (tags, quoting, references, scripts and styles, comments, `data:` URIs, non-ASCII, NUL and
//! control bytes, white space at ClamAV's 8,191-byte chunk edges) are normalised by this engine
//! and by `clamscan --leave-temps` (which keeps its `nocomment.html` and `notags.html`).
//! `bench/html-views.sh DIR` runs the same comparison on any directory of pages.

use std::path::Path;
use std::process::Command;

const ATOMS: &[&[u8]] = &[
    b"<html>",
    b"<HTML>",
    b"<body>",
    b"</p>",
    b"<p class=x>",
    b"<P CLASS='Y z'>",
    b"<a href=\"HTTP://A.COM/X?a=1&amp;b=2\" title='T'>",
    b"<a href=x>",
    b"</a>",
    b"<img src=\"I.GIF\">",
    b"<img SRC='data:image/png;base64,QUJD'>",
    b"<img src=data:text/plain,AB%41C alt=x>",
    b"<!-- c -->",
    b"<!doctype html>",
    b"<!x>",
    b"<script>",
    b"</script>",
    b"<SCRIPT language='javascript'>",
    b"<style>",
    b"</style>",
    b"var A = 'B';",
    b" if (a < b) { x = 1; } ",
    b"&amp;",
    b"&lt;",
    b"&nbsp;",
    b"&ndash;",
    b"&check;",
    b"&bogus;",
    b"&amp ",
    b"&#65;",
    b"&#x42;",
    b"&#1234;",
    b"&#65",
    b"&#;",
    b"&#x1F600;",
    b"&",
    b"\xc3\xa9",
    b"\xe2\x80\x94",
    b"\xe3\x80\x82",
    b"\xf0\x9f\x98\x80",
    b"\xa1C",
    b"\xe9",
    b"\x01",
    b"\x00",
    b"\r\n",
    b"\n",
    b"\t",
    b"   ",
    b"\r",
    b"Hello",
    b"World, ",
    b"=",
    b"\"",
    b"'",
    b">",
    b"<",
    b"< b>",
    b"<br/>",
    b"<br />",
    b"<td  width = 5 >",
    b"<input value=\"a  b\"c=d>",
    b"<q a=\"b\\\"c\">",
    b"<div title=\"&quot;x&quot;\">",
    b"<?xml version=\"1.0\" ?>",
];

/// A small deterministic generator (xorshift), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn document(rng: &mut Rng, i: usize) -> Vec<u8> {
    let mut d = b"<html>".to_vec();
    if i.is_multiple_of(10) {
        // Text up to and across the first chunk's edge, then something that cares.
        d.extend(std::iter::repeat_n(b'y', 8180 + rng.next(20)));
        d.extend_from_slice(
            [&b" "[..], b"\n", b"\n\n", b"<b>", b"&amp;", b"\xc3\xa9"][rng.next(6)],
        );
    }
    for _ in 0..5 + rng.next(300) {
        let a = ATOMS[rng.next(ATOMS.len())];
        let times = if rng.next(20) == 0 {
            2 + rng.next(20)
        } else {
            1
        };
        for _ in 0..times {
            d.extend_from_slice(a);
        }
    }
    if i.is_multiple_of(7) {
        d.extend(std::iter::repeat_n(b'z', 1 + rng.next(12000)));
        d.extend_from_slice(b" \n q <p>end");
    }
    d
}

fn have_clamscan() -> bool {
    Command::new("clamscan").arg("--version").output().is_ok()
}

fn clam_view(temps: &Path, name: &str, view: &str) -> Option<Vec<u8>> {
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

#[test]
fn html_views_equal_clamscans() {
    if !have_clamscan() {
        eprintln!("clamscan is not installed (Debian: clamav): skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    let temps = dir.path().join("temps");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::create_dir_all(&temps).unwrap();
    let db = dir.path().join("none.ldb");
    std::fs::write(
        &db,
        "Bulwark.Nothing;Engine:51-255,Target:0;0;6e6f7468696e672d746f2d6d61746368000102\n",
    )
    .unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut inputs = Vec::new();
    for i in 0..150 {
        let name = format!("g{i:04}.html");
        let d = document(&mut rng, i);
        std::fs::write(docs.join(&name), &d).unwrap();
        inputs.push((name, d));
    }
    let out = Command::new("clamscan")
        .args(["--no-summary", "--disable-cache", "--leave-temps"])
        .arg(format!("--tempdir={}", temps.display()))
        .arg("-d")
        .arg(&db)
        .arg("-r")
        .arg(&docs)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "clamscan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut differ = Vec::new();
    for (name, d) in &inputs {
        let ours = bulwark_engine::normalise::html(d);
        let nocomment = clam_view(&temps, name, "nocomment.html")
            .unwrap_or_else(|| panic!("clamscan kept no view of {name}"));
        let notags = clam_view(&temps, name, "notags.html").unwrap_or_default();
        if ours.nocomment != nocomment {
            differ.push(format!("{name}: nocomment"));
        }
        if ours.notags != notags {
            differ.push(format!("{name}: notags"));
        }
    }
    assert!(
        differ.is_empty(),
        "views differ from clamscan's: {differ:?}"
    );
}
