//! Differential test against ClamAV: samples generated from a few hundred real signatures (and a
//! near-miss of each) are scanned by `clamscan` with the same signature lines and by this engine;
//! verdicts and names (ClamAV's `.UNOFFICIAL` suffix removed) must agree on >= 99% of samples.
//! Ignored by default (needs clamscan, takes ~1 minute): run `bench/engine-differential.sh`.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;
#[path = "common/pe_build.rs"]
mod pe_build;

use pe_build::version_resource;

use std::collections::HashMap;
use std::io::Write;
use std::process::Command;
use std::sync::Arc;

use bulwark_engine::sigs::logical::{parse_ldb, parse_ndb};
use bulwark_engine::{Database, LoadOptions, ScanOptions, Scanner};

#[test]
#[ignore]
fn same_verdicts_as_clamscan() {
    let Some(_) = common::sigs_dir() else {
        eprintln!("skipped: no signature files");
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let dbdir = work.path().join("db");
    let samples = work.path().join("samples");
    std::fs::create_dir_all(&dbdir).unwrap();
    std::fs::create_dir_all(&samples).unwrap();
    let mut ndb = Vec::new();
    let mut ldb = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for l in common::read_lines("daily.ndb.gz") {
        if let Ok(ls) = parse_ndb(&l) {
            if let (Some(a), Some(b)) = (common::sample(&ls, false), common::sample(&ls, true)) {
                files.push((format!("n{}-hit", ndb.len()), a));
                files.push((format!("n{}-miss", ndb.len()), b));
                ndb.push(l.clone());
            }
        }
    }
    for l in common::read_lines("main.ldb.gz").iter().step_by(97) {
        if let Ok(ls) = parse_ldb(l) {
            if let (Some(a), Some(b)) = (common::sample(&ls, false), common::sample(&ls, true)) {
                files.push((format!("l{}-hit", ldb.len()), a));
                files.push((format!("l{}-miss", ldb.len()), b));
                ldb.push(l.clone());
            }
        }
    }
    std::fs::write(dbdir.join("t.ndb"), ndb.join("\n") + "\n").unwrap();
    std::fs::write(dbdir.join("t.ldb"), ldb.join("\n") + "\n").unwrap();
    for (n, d) in &files {
        std::fs::File::create(samples.join(n))
            .unwrap()
            .write_all(d)
            .unwrap();
    }
    let out = Command::new("clamscan")
        .args(["--no-summary", "-d"])
        .arg(&dbdir)
        .arg("-r")
        .arg(&samples)
        .output()
        .expect("clamscan (apt-get install clamav)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut clam: HashMap<String, Option<String>> = HashMap::new();
    for line in text.lines() {
        let Some((path, rest)) = line.rsplit_once(": ") else {
            continue;
        };
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        let v = rest
            .strip_suffix(" FOUND")
            .map(|n| n.trim_end_matches(".UNOFFICIAL").to_string());
        clam.insert(name, v);
    }
    let (db, _) =
        Database::load(std::slice::from_ref(&dbdir), &LoadOptions::default()).expect("load");
    let db = Arc::new(db);
    let mut diffs = Vec::new();
    for (n, d) in &files {
        let mut s = Scanner::new(Arc::clone(&db), &ScanOptions::default());
        s.feed(d);
        let ours: Vec<String> = s.finish().threats.into_iter().map(|t| t.name).collect();
        let theirs = clam.get(n).cloned().flatten();
        let agree = match &theirs {
            None => ours.is_empty(),
            Some(t) => ours.contains(t),
        };
        if !agree {
            diffs.push(format!("{n}: clamscan {theirs:?}, bulwark {ours:?}"));
        }
    }
    let total = files.len();
    eprintln!(
        "differential: {} samples ({} ndb + {} ldb signatures), {} differences",
        total,
        ndb.len(),
        ldb.len(),
        diffs.len()
    );
    for d in &diffs {
        eprintln!("  DIFF {d}");
    }
    assert!(total >= 300, "only {total} samples");
    assert!(
        (total - diffs.len()) as f64 >= 0.99 * total as f64,
        "{} differences of {total}",
        diffs.len()
    );
}

/// True when `clamscan` runs.
fn have_clamscan() -> bool {
    Command::new("clamscan")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Scans `samples` with clamscan and with this engine, both loading `sigs` (file name, content:
/// a tiny `.ndb`/`.ldb` written for the test), and returns the disagreements (samples whose
/// sets of names differ; clamscan runs with `--allmatch`) and the number of samples clamscan
/// detected.
fn disagreements(sigs: &[(&str, &str)], samples: &[(&str, Vec<u8>)]) -> (Vec<String>, usize) {
    let work = tempfile::tempdir().expect("tempdir");
    let dbdir = work.path().join("db");
    let dir = work.path().join("samples");
    std::fs::create_dir_all(&dbdir).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in sigs {
        std::fs::write(dbdir.join(name), format!("{text}\n")).unwrap();
    }
    for (n, d) in samples {
        std::fs::write(dir.join(n), d).unwrap();
    }
    let out = Command::new("clamscan")
        .args(["--no-summary", "--allmatch", "-d"])
        .arg(&dbdir)
        .arg("-r")
        .arg(&dir)
        .output()
        .expect("clamscan");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "clamscan failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut clam: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines() {
        let Some((path, rest)) = line.rsplit_once(": ") else {
            continue;
        };
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        let e = clam.entry(name).or_default();
        if let Some(n) = rest.strip_suffix(" FOUND") {
            e.push(n.trim_end_matches(".UNOFFICIAL").to_string());
        }
    }
    for v in clam.values_mut() {
        v.sort();
        v.dedup();
    }
    let (db, r) =
        Database::load(std::slice::from_ref(&dbdir), &LoadOptions::default()).expect("load");
    for f in &r.files {
        assert!(
            f.malformed.is_empty() && f.unsupported.is_empty(),
            "{}: {:?} {:?}",
            f.path,
            f.malformed,
            f.unsupported
        );
    }
    let db = Arc::new(db);
    let mut diffs = Vec::new();
    for (n, d) in samples {
        let mut s = Scanner::new(Arc::clone(&db), &ScanOptions::default());
        for c in d.chunks(7) {
            s.feed(c);
        }
        let mut ours: Vec<String> = s.finish().threats.into_iter().map(|t| t.name).collect();
        ours.sort();
        ours.dedup();
        let theirs = clam.get(*n).cloned().unwrap_or_default();
        if ours != theirs {
            diffs.push(format!("{n}: clamscan {theirs:?}, bulwark {ours:?}"));
        }
    }
    let hits = clam.values().filter(|v| !v.is_empty()).count();
    (diffs, hits)
}

/// Binary padding (NUL and high bytes) so that ClamAV types the sample as binary data and does
/// not also scan a normalised text view of it.
const PAD: &[u8] = b"\x00\x81\x00\x82\x00\x83\x00\x84\x00\x85QQQQ\x00\x00\x00\x00\x00";

/// `PAD + middle + PAD`.
fn padded(middle: &[u8]) -> Vec<u8> {
    [PAD, middle, PAD].concat()
}

/// Nested generic alternatives and `(B)`/`(L)`/`(W)` markers at every position ClamAV accepts,
/// on the documented examples and on every byte next to a marker.
#[test]
fn markers_and_alternatives_as_clamscan() {
    if !have_clamscan() {
        eprintln!("skipped: no clamscan");
        return;
    }
    let ndb = [
        "Nest.A:0:*:6161(6a6a|66(6767|6868)66|6969)6161",
        "Nest.B:0:*:6262((63|64)(65|66)|(67(68|69)))6262",
        "Nest.C:0:*:6363(64|6464)6565",
        "Mark.BL:0:*:(B)41414242",
        "Mark.BR:0:*:43434444(B)",
        "Mark.BM:0:*:4545(B)4646",
        "Mark.LL:0:*:(L)47474848",
        "Mark.LR:0:*:49494a4a(L)",
        "Mark.LM:0:*:4b4b(L)4c4c",
        "Mark.WL:0:*:(W)4d4d4e4e",
        "Mark.WR:0:*:4f4f5050(W)",
        "Mark.WM:0:*:5151(W)5252",
        "Mark.Star:0:*:5353*(B)5454",
        "Mark.Range:0:*:5555{1-5}(W)5656",
        "Mark.Fixed:0:*:5757{3}(B)5858",
    ]
    .join("\n");
    let mut samples: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, m) in [
        b"aajjaa".as_slice(),
        b"aafggfaa",
        b"aafhhfaa",
        b"aaiiaa",
        b"aafgffaa",
        b"bbcebb",
        b"bbdfbb",
        b"bbghbb",
        b"bbgbb",
        b"ccdee",
        b"ccddee",
        b"ccdddee",
        b"SSxx-TT",
        b"SSxxTT",
        b"UU-VV",
        b"UUVV",
        b"UUx.VV",
        b"WWxxx-XX",
        b"WWxx-XX",
    ]
    .iter()
    .enumerate()
    {
        samples.push((format!("fixed{i}"), padded(m)));
    }
    for x in 0..=255u8 {
        let b = [x];
        samples.push((format!("bl{x}"), padded(&[&b[..], b"AABB"].concat())));
        samples.push((format!("br{x}"), padded(&[b"CCDD".as_slice(), &b].concat())));
        samples.push((
            format!("bm{x}"),
            padded(&[b"EE".as_slice(), &b, b"FF"].concat()),
        ));
        samples.push((format!("ll{x}"), padded(&[&b[..], b"GGHH"].concat())));
        samples.push((format!("lr{x}"), padded(&[b"IIJJ".as_slice(), &b].concat())));
        samples.push((
            format!("lm{x}"),
            padded(&[b"KK".as_slice(), &b, b"LL"].concat()),
        ));
        samples.push((format!("wl{x}"), padded(&[&b[..], b"MMNN"].concat())));
        samples.push((format!("wr{x}"), padded(&[b"OOPP".as_slice(), &b].concat())));
        samples.push((
            format!("wm{x}"),
            padded(&[b"QQ".as_slice(), &b, b"RR"].concat()),
        ));
    }
    samples.push(("crlf".into(), padded(b"IIJJ\r\nx")));
    samples.push(("crlf-mid".into(), padded(b"KK\r\nLL")));
    samples.push((
        "edges".into(),
        b"AABB\x00CCDD\x00\x01\x02\x03\x04\x05\x06\x07".to_vec(),
    ));
    let refs: Vec<(&str, Vec<u8>)> = samples
        .iter()
        .map(|(n, d)| (n.as_str(), d.clone()))
        .collect();
    let (diffs, hits) = disagreements(&[("t.ndb", &ndb)], &refs);
    eprintln!("{} samples, clamscan detected {hits}", refs.len());
    assert!(hits > 300, "clamscan detected only {hits}");
    assert!(diffs.is_empty(), "{} differences: {diffs:#?}", diffs.len());
}

/// `len` NUL bytes (binary data for ClamAV) with `items` written at their offsets.
fn placed(len: usize, items: &[(usize, &[u8])]) -> Vec<u8> {
    let mut d = vec![0u8; len];
    d[1] = 0x81;
    for (at, b) in items {
        d[*at..*at + b.len()].copy_from_slice(b);
    }
    d
}

/// PCRE subsignatures with offsets and the flags `r`, `e`, `g`, `E` (the examples of ClamAV's
/// LogicalSignatures documentation, plus a maxshift without `e`), on samples placing the match
/// inside and just outside what each allows.
#[test]
fn pcre_offsets_and_flags_as_clamscan() {
    if !have_clamscan() {
        eprintln!("skipped: no clamscan");
        return;
    }
    let ldb = [
        "Find.ClamAV.OnlyAt.299;Engine:81-255,Target:0;2;7374756c747a67657473;7063726572656765786c6f6c;299:0&1/clamav/",
        "Find.ClamAV.StartAt.300;Engine:81-255,Target:0;3;616c61696e;62756731393238;636c6f736564;300:0&1&2/clamav/r",
        "Find.All.Encompassed.ClamAV;Engine:81-255,Target:0;3;7768796172656e2774;796f757573696e67;79617261;200,300:0&1&2/clamav/ge",
        "Pcre.Shift;Engine:81-255,Target:0;1;7368696674;200,100:0/clamav/",
        "Pcre.EndOnly;Engine:81-255,Target:0;1;656e646f6e6c79;0/clamav$/E",
        "Pcre.Dollar;Engine:81-255,Target:0;1;646f6c6c6172;0/clamav$/",
        "Pcre.Count;Engine:81-255,Target:0;1>2;636f756e74;0/clamav/g",
        "Pcre.Nocase;Engine:81-255,Target:0;1;6e6f63617365;0/CLAMAV/i",
    ]
    .join("\n");
    let t1: &[(usize, &[u8])] = &[(600, b"stultzgets"), (620, b"pcreregexlol")];
    let t2: &[(usize, &[u8])] = &[(600, b"alain"), (620, b"bug1928"), (640, b"closed")];
    let t3: &[(usize, &[u8])] = &[(600, b"whyaren't"), (620, b"youusing"), (640, b"yara")];
    let with = |t: &[(usize, &[u8])], at: usize| {
        let mut v = t.to_vec();
        v.push((at, b"clamav".as_slice()));
        placed(700, &v)
    };
    let mut samples: Vec<(String, Vec<u8>)> = Vec::new();
    for at in [298, 299, 300, 310] {
        samples.push((format!("only{at}"), with(t1, at)));
    }
    for at in [299, 300, 301, 500] {
        samples.push((format!("start{at}"), with(t2, at)));
    }
    for at in [199, 200, 250, 494, 495, 497, 501] {
        samples.push((format!("enc{at}"), with(t3, at)));
    }
    for at in [199, 200, 300, 301] {
        samples.push((format!("shift{at}"), with(&[(600, b"shift")], at)));
    }
    for (n, tail) in [("nl", b"clamav\n".as_slice()), ("end", b"clamav")] {
        let mut e = placed(100, &[(10, b"endonly"), (30, b"dollar")]);
        e.extend_from_slice(tail);
        samples.push((format!("dollar-{n}"), e));
    }
    for k in 1..=4usize {
        let items: Vec<(usize, &[u8])> = (0..k)
            .map(|i| (100 + 20 * i, b"clamav".as_slice()))
            .chain([(10, b"count".as_slice()), (30, b"nocase")])
            .collect();
        samples.push((format!("count{k}"), placed(300, &items)));
    }
    let refs: Vec<(&str, Vec<u8>)> = samples
        .iter()
        .map(|(n, d)| (n.as_str(), d.clone()))
        .collect();
    let (diffs, hits) = disagreements(&[("t.ldb", &ldb)], &refs);
    eprintln!("{} samples, clamscan detected {hits}", refs.len());
    assert!(hits >= 10, "clamscan detected only {hits}");
    assert!(diffs.is_empty(), "{} differences: {diffs:#?}", diffs.len());
}

/// The hex form of `s`.
fn hx(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Target 3 (HTML) and 7 (text) signatures, and target 0 ones, on HTML and text objects that
/// need ClamAV's normalisation (case, white space, comments, character references, attribute
/// quoting, scripts, HTML magic anywhere in text) to match or not.
#[test]
fn normalised_views_as_clamscan() {
    if !have_clamscan() {
        eprintln!("skipped: no clamscan");
        return;
    }
    let ndb = [
        format!(
            "H.Meta:3:*:{}",
            hx("<meta http-equiv=\"x-ua-compatible\" content=\"ie=9\">")
        ),
        format!("H.Write:3:*:{}", hx("document.write(\"<iframesrc=")),
        format!("H.Url:3:*:{}", hx("http://example.com/login")),
        format!("H.Text:3:*:{}", hx("click here to verify your account")),
        format!("H.Amp:3:*:{}", hx("tom & jerry")),
        format!("H.Nbsp:3:*:{}", hx("pay\u{a0}now").replace("c2a0", "a0")),
        format!(
            "H.Tag:3:*:{}",
            hx("<a href=\"http://x.test/\" class=\"btn\">")
        ),
        format!("H.Notags:3:*:{}", hx(" verify your account now ")),
        format!("H.Raw:3:*:{}", hx("Click Here")),
        format!(
            "Z.Iframe:0:*:{}",
            hx("<iframe src=\"http://evil.test/\" width=0>")
        ),
        format!("Z.RawHtml:0:*:{}", hx("IFRAME SRC")),
        format!("T.Shell:7:*:{}", hx("createobject(\"wscript.shell\")")),
        format!("T.Ps:7:*:{}", hx("powershell -enc aqbfafga")),
        format!("T.Raw:7:*:{}", hx("PowerShell")),
        format!("Z.Mixed:0:*:{}", hx("PowerShell  -Enc")),
    ]
    .join("\n");
    let docs: Vec<(&str, &[u8])> = vec![
        ("meta", b"<HTML><HEAD><META HTTP-EQUIV='X-UA-Compatible'  CONTENT = \"IE=9\" ></HEAD></HTML>\n"),
        ("meta2", b"<html>\n<head>\n  <meta http-equiv=\"x-ua-compatible\" content=\"ie=9\">\n</head></html>"),
        ("script", b"<html><body><SCRIPT>\n document.write( '<IFRAME SRC=http://evil.test/>' );\n</SCRIPT></body></html>"),
        ("url", b"<html><body><a href=\"HTTP://EXAMPLE.COM/LOGIN\">Log in</a></body></html>"),
        ("text", b"<html><body><P>Click   Here\n to <b>verify</b> your\taccount</P></body></html>"),
        ("text2", b"<html><body><P>Click   Here\n to verify your\taccount now</P></body></html>"),
        ("comment", b"<html><body>Click here <!-- hidden --> to verify your account</body></html>"),
        ("amp", b"<html><body>Tom &amp; Jerry, pay&nbsp;now</body></html>"),
        ("tag", b"<html><body><A  HREF='http://x.test/'   CLASS=\"btn\" >go</A></body></html>"),
        ("iframe", b"<html><body><IFRAME SRC=\"http://evil.test/\" WIDTH=0></IFRAME></body></html>"),
        ("img-late", b"just some text\nClick   Here to verify your account\n<img src=x>"),
        ("late-ps", b"PowerShell  -Enc AQBFAGgA and <iframe src=\"http://evil.test/\" width=0>"),
        ("shell", b"Set o = CreateObject(\"WScript.Shell\")\r\no.Run \"PowerShell   -enc  AQBFAGgA\"\r\n"),
        ("shell-bin", b"Set o = CreateObject(\"WScript.Shell\")\x00\x01\x02\x03\x81\x82\x00\x00\x00"),
        ("ps-space", b"  POWERSHELL\t\t-ENC\n\nAQBFAGGA  "),
        ("ps-utf8", b"powershell \xc3\xa9-enc aqbfafga"),
        ("body-only", b"<body>Click here to verify your account</body>"),
        ("doctype", b"<!DOCTYPE html>\n<HTML lang=en><BODY>Click here to verify your account</BODY>"),
        ("capital", b"<Html><Body>Click Here To Verify Your Account</Body></Html>"),
    ];
    let samples: Vec<(&str, Vec<u8>)> = docs.iter().map(|(n, d)| (*n, d.to_vec())).collect();
    let (diffs, hits) = disagreements(&[("t.ndb", &ndb)], &samples);
    eprintln!("{} samples, clamscan detected {hits}", samples.len());
    assert!(hits >= 10, "clamscan detected only {hits}");
    assert!(diffs.is_empty(), "{} differences: {diffs:#?}", diffs.len());
}

/// Signatures written for ClamAV's JavaScript-normalised view (identifiers `n000`…, decoded
/// strings): ClamAV matches that view as HTML (targets 0 and 3) and as text (targets 0 and 7).
#[test]
fn javascript_view_as_clamscan() {
    if !have_clamscan() {
        eprintln!("skipped: no clamscan");
        return;
    }
    let ndb = [
        format!("J.Var:3:*:{}", hx("var n000=\"hello\";")),
        format!("J.Func:3:*:{}", hx("function n001(n002,n003){")),
        format!("J.Eval:3:*:{}", hx("alert(1)var")),
        format!("J.Unesc:3:*:{}", hx("document.write(\"<b>bold</b>\")")),
        format!("J.Packed:3:*:{}", hx("var n006=\"hi\";alert(n006)")),
        format!("J.Zero:0:*:{}", hx("<script>var n000=")),
        format!("J.Text:7:*:{}", hx("n004=n002+n003;")),
        format!("J.Raw:3:*:{}", hx("var greeting")),
    ]
    .join("\n");
    let docs: Vec<(&str, &[u8])> = vec![
        ("plain", b"<html><script type=\"text/javascript\">\nvar greeting = 'Hello';\nfunction foo(bar, baz) { var x = bar + baz; return x * 2; }\n</script></html>"),
        ("decoders", b"<html><SCRIPT>var A = 'x';\ndocument.write(unescape('%3Cb%3Ebold%3C/b%3E'));\neval(\"alert(1)\");\nvar b;</SCRIPT></html>"),
        ("packed", b"<html><script>eval(function(p,a,c,k,e,d){while(c--){if(k[c]){p=p.replace(new RegExp('\\\\b'+c+'\\\\b','g'),k[c])}}return p}('0 1=\\'2\\';3(1)',10,4,'var|x|hi|alert'.split('|'),0,{}))</script></html>"),
        ("none", b"<html><body>var greeting = 'Hello';</body></html>"),
        ("late", b"some text first\n<script>var greeting='hello';</script>"),
    ];
    let samples: Vec<(&str, Vec<u8>)> = docs.iter().map(|(n, d)| (*n, d.to_vec())).collect();
    let (diffs, hits) = disagreements(&[("t.ndb", &ndb)], &samples);
    eprintln!("{} samples, clamscan detected {hits}", samples.len());
    assert!(hits >= 5, "clamscan detected only {hits}");
    assert!(diffs.is_empty(), "{} differences: {diffs:#?}", diffs.len());
}

/// Imports of a PE image: DLL name and its functions (names, or ordinals as `Err`).
type Imports<'a> = &'a [(&'a str, &'a [Result<&'a str, u16>])];

/// A PE32 image (`total` bytes): `.text` (pointer `ptr`, raw size `size`, file alignment
/// `falign`) and `.idata` at RVA 0x2000 / raw 0x400 importing `imports` (names, or ordinals as
/// `Err`), with random-looking section bytes.
fn pe_image(ptr: u32, size: u32, falign: u32, imports: Imports<'_>, total: usize) -> Vec<u8> {
    let mut d = vec![0u8; total];
    let mut x = 0x1234_5678u32 ^ ptr ^ (size << 8) ^ (falign << 16) ^ (imports.len() as u32);
    for b in d.iter_mut().skip(0x200) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let put = |d: &mut Vec<u8>, o: usize, v: &[u8]| d[o..o + v.len()].copy_from_slice(v);
    put(&mut d, 0, b"MZ");
    put(&mut d, 0x3c, &0x80u32.to_le_bytes());
    put(&mut d, 0x80, b"PE\0\0");
    let c = 0x84;
    put(&mut d, c, &0x14cu16.to_le_bytes());
    put(&mut d, c + 2, &2u16.to_le_bytes());
    put(&mut d, c + 16, &0xe0u16.to_le_bytes());
    put(&mut d, c + 18, &0x0102u16.to_le_bytes());
    let o = c + 20;
    for (k, v) in [
        (16, 0x1000u32),
        (28, 0x400000),
        (32, 0x1000),
        (36, falign),
        (56, 0x3000),
        (60, 0x200),
        (92, 16),
    ] {
        put(&mut d, o + k, &v.to_le_bytes());
    }
    put(&mut d, o, &0x10bu16.to_le_bytes());
    put(&mut d, o + 40, &4u16.to_le_bytes());
    put(&mut d, o + 48, &4u16.to_le_bytes());
    put(&mut d, o + 68, &2u16.to_le_bytes());
    let s = o + 0xe0;
    put(&mut d, s, b".text\0\0\0");
    for (k, v) in [
        (8, 0x200u32),
        (12, 0x1000),
        (16, size),
        (20, ptr),
        (36, 0x6000_0020),
    ] {
        put(&mut d, s + k, &v.to_le_bytes());
    }
    let s2 = s + 40;
    put(&mut d, s2, b".idata\0\0");
    for (k, v) in [
        (8, 0x200u32),
        (12, 0x2000),
        (16, 0x200),
        (20, 0x400),
        (36, 0xc000_0040),
    ] {
        put(&mut d, s2 + k, &v.to_le_bytes());
    }
    let (rva0, raw0) = (0x2000usize, 0x400usize);
    d[raw0..raw0 + 0x200].fill(0);
    let ndesc = imports.len() + 1;
    let mut pos = ndesc * 20;
    let mut tables = Vec::new();
    for (_, f) in imports {
        tables.push((pos, pos + 4 * (f.len() + 1)));
        pos += 8 * (f.len() + 1);
    }
    for (i, (dll, funcs)) in imports.iter().enumerate() {
        let (ilt, iat) = tables[i];
        for (k, f) in funcs.iter().enumerate() {
            let v = match f {
                Ok(name) => {
                    let r = (rva0 + pos) as u32;
                    put(&mut d, raw0 + pos + 2, name.as_bytes());
                    pos += 2 + name.len() + 1;
                    pos += pos & 1;
                    r
                }
                Err(ord) => 0x8000_0000 | u32::from(*ord),
            };
            put(&mut d, raw0 + ilt + 4 * k, &v.to_le_bytes());
            put(&mut d, raw0 + iat + 4 * k, &v.to_le_bytes());
        }
        let name_rva = (rva0 + pos) as u32;
        put(&mut d, raw0 + pos, dll.as_bytes());
        pos += dll.len() + 1;
        let e = raw0 + 20 * i;
        put(&mut d, e, &((rva0 + ilt) as u32).to_le_bytes());
        put(&mut d, e + 12, &name_rva.to_le_bytes());
        put(&mut d, e + 16, &((rva0 + iat) as u32).to_le_bytes());
    }
    put(&mut d, o + 104, &(rva0 as u32).to_le_bytes());
    put(&mut d, o + 108, &((ndesc * 20) as u32).to_le_bytes());
    d
}

fn md5_hex(d: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(d).iter().map(|b| format!("{b:02x}")).collect()
}

/// `.mdb` section hashes over ClamAV's aligned section ranges and `.imp` import-table hashes,
/// on PE images built here (the signatures describe what clamscan 1.4.6 hashes; each has a
/// decoy signature over the unaligned range / another spelling that must not match).
#[test]
fn section_and_import_hashes_as_clamscan() {
    if !have_clamscan() {
        eprintln!("skipped: no clamscan");
        return;
    }
    let mut mdb = Vec::new();
    let mut samples: Vec<(String, Vec<u8>)> = Vec::new();
    // (pointer, size, file alignment) -> (offset, length) hashed by ClamAV.
    let cases = [
        (0x310u32, 0x180u32, 0x200u32, (0x200usize, 0x200usize)),
        (0x300, 0x100, 0x100, (0x300, 0x100)),
        (0x280, 0x90, 0x80, (0x280, 0x100)),
        (0x200, 0x100, 0x1000, (0x200, 0x200)),
        (0x410, 0x120, 0x400, (0x400, 0x400)),
        (0x600, 0x500, 0x200, (0x600, 0x400)),
    ];
    for (i, (ptr, size, fa, (off, len))) in cases.iter().enumerate() {
        let d = pe_image(*ptr, *size, *fa, &[("k.dll", &[Ok("F")])], 0xa00);
        let (p, s) = (*ptr as usize, *size as usize);
        mdb.push(format!(
            "{len}:{}:Sect.Aligned{i}",
            md5_hex(&d[*off..off + len])
        ));
        if (p, s) != (*off, *len) && p + s <= d.len() {
            mdb.push(format!("{s}:{}:Sect.Raw{i}", md5_hex(&d[p..p + s])));
        }
        samples.push((format!("sect{i}"), d));
    }
    let imports: [(&str, Imports<'_>); 6] = [
        (
            "kernel",
            &[
                ("KERNEL32.dll", &[Ok("ExitProcess"), Ok("GetProcAddress")]),
                ("User32.DLL", &[Ok("MessageBoxA")]),
            ],
        ),
        (
            "ws",
            &[
                ("WS2_32.dll", &[Err(23), Err(115), Ok("WSACleanup")]),
                ("wsock32.dll", &[Err(3)]),
            ],
        ),
        ("ole", &[("OLEAUT32.dll", &[Err(2), Err(6), Err(9999)])]),
        (
            "ext",
            &[
                ("x.sys", &[Ok("Baz")]),
                ("y.drv", &[Ok("Q")]),
                ("my.lib.dll", &[Ok("H")]),
                ("noext", &[Ok("Bar")]),
            ],
        ),
        ("bad", &[("a.dll", &[Ok("b-c")])]),
        ("ocx", &[("Other.OCX", &[Err(5)])]),
    ];
    let strings = [
        "kernel32.exitprocess,kernel32.getprocaddress,user32.messageboxa",
        "ws2_32.socket,ws2_32.wsastartup,ws2_32.wsacleanup,wsock32.closesocket",
        "oleaut32.sysallocstring,oleaut32.sysfreestring,oleaut32.ord9999",
        "x.baz,y.drv.q,my.lib.dll.h,noext.bar",
        "a.b-c",
        "other.ord5",
    ];
    let mut imp = Vec::new();
    for ((name, im), s) in imports.iter().zip(strings) {
        imp.push(format!("{}:{}:Imp.{name}", md5_hex(s.as_bytes()), s.len()));
        let upper = s.to_uppercase();
        imp.push(format!(
            "{}:{}:Imp.{name}.Upper",
            md5_hex(upper.as_bytes()),
            s.len()
        ));
        samples.push((
            format!("imp-{name}"),
            pe_image(0x200, 0x200, 0x200, im, 0x1000),
        ));
    }
    let refs: Vec<(&str, Vec<u8>)> = samples
        .iter()
        .map(|(n, d)| (n.as_str(), d.clone()))
        .collect();
    let (diffs, hits) = disagreements(
        &[("t.mdb", &mdb.join("\n")), ("t.imp", &imp.join("\n"))],
        &refs,
    );
    eprintln!("{} samples, clamscan detected {hits}", refs.len());
    assert!(hits >= 10, "clamscan detected only {hits}");
    assert!(diffs.is_empty(), "{} differences: {diffs:#?}", diffs.len());
}

/// A PE image whose second section (RVA 0x2000, raw 0x400, 0x800 bytes) holds a version
/// resource with `pairs`.
fn pe_with_version_info(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut d = pe_image(0x200, 0x200, 0x200, &[], 0x1000);
    let res = version_resource(pairs, 0x2000);
    d[0x400..0xc00].fill(0);
    d[0x400..0x400 + res.len()].copy_from_slice(&res);
    let o = 0x84 + 20;
    d[o + 104..o + 112].fill(0);
    d[o + 112..o + 116].copy_from_slice(&0x2000u32.to_le_bytes());
    d[o + 116..o + 120].copy_from_slice(&(res.len() as u32).to_le_bytes());
    let s2 = o + 0xe0 + 40;
    d[s2 + 8..s2 + 12].copy_from_slice(&0x800u32.to_le_bytes());
    d[s2 + 16..s2 + 20].copy_from_slice(&0x800u32.to_le_bytes());
    d
}

/// `VI` offsets (the documentation's example pairs): a pattern matching at the start of a
/// version-information pair, in `.ndb` and `.ldb` signatures.
#[test]
fn version_info_offsets_as_clamscan() {
    if !have_clamscan() {
        eprintln!("skipped: no clamscan");
        return;
    }
    let u = |s: &str| -> String {
        s.encode_utf16()
            .flat_map(u16::to_le_bytes)
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let company = format!(
        "{}00000000{}0000",
        u("CompanyName"),
        u("Microsoft Corporation")
    );
    let ndb = [
        format!("VI.Full:1:VI:{company}"),
        format!("VI.Key:1:VI:{}0000", u("CompanyName")),
        format!("VI.Value:1:VI:{}", u("Microsoft")),
        format!("VI.Longer:1:VI:{company}0000"),
        format!(
            "VI.Alt:1:VI:{}00000000(4d|4e)00{}",
            u("CompanyName"),
            u("icrosoft")
        ),
        format!(
            "VI.Internal:1:VI:{}0000{}",
            u("InternalName"),
            u("freecell")
        ),
    ]
    .join("\n");
    let ldb = format!(
        "VI.Both;Engine:51-255,Target:1;0&1;VI:{}0000;VI:{}0000",
        u("FileVersion"),
        u("InternalName")
    );
    let pairs = [
        ("CompanyName", "Microsoft Corporation"),
        ("InternalName", "freecell"),
        ("FileVersion", "5.1"),
    ];
    let other = [("CompanyName", "Nobody"), ("InternalName", "freecel")];
    let mut raw = b"MZ not a PE ".to_vec();
    raw.extend(hex_bytes(&company));
    let samples = vec![
        ("vi", pe_with_version_info(&pairs)),
        ("vi-other", pe_with_version_info(&other)),
        ("not-pe", raw),
    ];
    let (diffs, hits) = disagreements(&[("t.ndb", &ndb), ("t.ldb", &ldb)], &samples);
    eprintln!("{} samples, clamscan detected {hits}", samples.len());
    assert!(hits >= 1, "clamscan detected only {hits}");
    assert!(diffs.is_empty(), "{} differences: {diffs:#?}", diffs.len());
}

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok())
        .collect()
}
