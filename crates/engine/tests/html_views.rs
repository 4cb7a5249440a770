//! The normalised HTML views equal clamscan's own, byte for byte: 150 generated hostile documents
//! (tags, quoting, references, scripts and styles, comments, `data:` URIs, non-ASCII, NUL and
//! control bytes, white space at ClamAV's 8,191-byte chunk edges) are normalised by this engine
//! and by `clamscan --leave-temps` (which keeps its `nocomment.html` and `notags.html`).
//! `bench/html-views.sh DIR` runs the same comparison on any directory of pages.

mod clam_views;

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

#[test]
fn html_views_equal_clamscans() {
    if !clam_views::have_clamscan() {
        eprintln!("clamscan is not installed (Debian: clamav): skipped");
        return;
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let inputs: Vec<(String, Vec<u8>)> = (0..150)
        .map(|i| (format!("g{i:04}.html"), document(&mut rng, i)))
        .collect();
    let clam = clam_views::run(&inputs);
    let mut differ = Vec::new();
    for (name, d) in &inputs {
        let ours = bulwark_engine::normalise::html(d);
        let nocomment = clam
            .view(name, "nocomment.html")
            .unwrap_or_else(|| panic!("clamscan kept no view of {name}"));
        let notags = clam.view(name, "notags.html").unwrap_or_default();
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

/// Pages with scripts encoded by Microsoft's Script Encoder (`JScript.Encode` and
/// `VBScript.Encode` scripts, `<%@ … %>` pages, plain scripts and text beside them, blocks
/// across chunk edges, cut short, with garbled headers, wrong lengths and broken trailers, blocks
/// in blocks; see `clam_views/screnc.rs`), four seeds: all three views equal clamscan's, which
/// decodes them.
#[test]
fn encoded_script_views_equal_clamscans() {
    use clam_views::screnc::{page, Rng};
    if !clam_views::have_clamscan() {
        eprintln!("clamscan is not installed (Debian: clamav): skipped");
        return;
    }
    let mut inputs = Vec::new();
    for seed in [0x5c0d_e001u64, 0x5c0d_e002, 0x5c0d_e003, 0x5c0d_e004] {
        let mut rng = Rng(seed);
        for i in 0..40 {
            inputs.push((format!("e{seed:x}-{i:03}.html"), page(&mut rng, i, None)));
        }
    }
    let clam = clam_views::run(&inputs);
    let mut differ = Vec::new();
    let (mut decoded, mut searched) = (0, 0);
    for (name, d) in &inputs {
        let ours = bulwark_engine::normalise::html(d);
        let nocomment = clam
            .view(name, "nocomment.html")
            .unwrap_or_else(|| panic!("clamscan kept no view of {name}"));
        let notags = clam.view(name, "notags.html").unwrap_or_default();
        let javascript = clam.view(name, "javascript").unwrap_or_default();
        let has = |s: &[u8]| nocomment.windows(s.len()).any(|w| w == s);
        decoded += usize::from(has(b"language=\"javascript\"") || has(b"language=\"vbscript\""));
        searched += usize::from(has(b"//~^"));
        for (view, theirs, ours) in [
            ("nocomment", &nocomment, &ours.nocomment),
            ("notags", &notags, &ours.notags),
            ("javascript", &javascript, &ours.javascript),
        ] {
            if theirs != ours {
                differ.push(format!("{name}: {view}"));
            }
        }
    }
    // The pages do exercise clamscan's decoder, both ways it finds blocks.
    assert!(
        decoded >= 80 && searched >= 20,
        "{decoded} pages decoded, {searched} searched"
    );
    assert!(
        differ.is_empty(),
        "views differ from clamscan's: {differ:?}"
    );
}

/// Signatures written for an encoded script's decoded text detect the encoded pages: a target 3
/// one on the script as `nocomment` writes it, a target 3 one on the javascript view, one on the
/// text wherever it is decoded (also an ASP page's block, decoded as text); none on the page's
/// own bytes. clamscan finds the same (when installed).
#[test]
fn target_3_signature_detects_an_encoded_script() {
    use bulwark_engine::{Database, LoadOptions, ScanOptions, Scanner};
    use clam_views::screnc::encode;
    use std::sync::Arc;
    let hx = |s: &[u8]| s.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let ndb = format!(
        "Enc.Nocomment:3:*:{}\nEnc.Js:3:*:{}\nEnc.Text:3:*:{}\nEnc.Raw:0:*:{}\n",
        hx(b"varpayload=\"evil-marker-42\";"),
        hx(b"var n000=\"evil-marker-42\";"),
        hx(b"evil-marker-42"),
        hx(b"EVIL-MARKER-42"),
    );
    let js = b"var Payload = \"EVIL-MARKER-42\";\r\nWScript.Echo(Payload);\r\n";
    let vbs = b"Payload = \"EVIL-MARKER-42\"\r\nMsgBox Payload\r\n";
    let wrap = |head: &[u8], block: &[u8], tail: &[u8]| {
        let mut d = head.to_vec();
        d.extend_from_slice(block);
        d.extend_from_slice(tail);
        d
    };
    let docs = vec![
        (
            "jscript.html".to_string(),
            wrap(
                b"<html><body><script language=\"JScript.Encode\">",
                &encode(js),
                b"</script></body></html>\n",
            ),
        ),
        (
            "vbscript.html".to_string(),
            wrap(
                b"<html><body><SCRIPT LANGUAGE=\"VBScript.Encode\">",
                &encode(vbs),
                b"</SCRIPT></body></html>\n",
            ),
        ),
        (
            "asp.html".to_string(),
            wrap(
                b"<%@ LANGUAGE=\"JScript.Encode\" %>\n<html><body><%",
                &encode(js),
                b"%></body></html>\n",
            ),
        ),
    ];
    let want: &[(&str, &[&str])] = &[
        ("asp.html", &["Enc.Text"]),
        ("jscript.html", &["Enc.Js", "Enc.Nocomment", "Enc.Text"]),
        ("vbscript.html", &["Enc.Text"]),
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("enc.ndb"), &ndb).unwrap();
    let (db, _) = Database::load(&[dir.path().to_path_buf()], &LoadOptions::default()).unwrap();
    let db = Arc::new(db);
    let mut ours = Vec::new();
    for (name, d) in &docs {
        let mut s = Scanner::new(Arc::clone(&db), &ScanOptions::default());
        s.feed(d);
        for t in s.finish().threats {
            ours.push((name.clone(), t.name));
        }
    }
    ours.sort();
    ours.dedup();
    let expected: Vec<(String, String)> = want
        .iter()
        .flat_map(|(n, sigs)| sigs.iter().map(|s| (n.to_string(), s.to_string())))
        .collect();
    assert_eq!(ours, expected);
    if !clam_views::have_clamscan() {
        eprintln!("clamscan is not installed (Debian: clamav): comparison skipped");
        return;
    }
    assert_eq!(clam_views::detections(&ndb, &docs), expected);
}
