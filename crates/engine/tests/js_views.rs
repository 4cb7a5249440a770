//! The JavaScript-normalised view equals clamscan's own (`javascript`, kept by
//! `--leave-temps`), byte for byte, on 200 generated script-heavy documents: declarations and
//! scopes, strings and escapes, numbers, comments, the decoders (`unescape`, `eval`, Dean
//! Edwards' packer, `dF`), unfinished scripts and strings, scripts across ClamAV's 8,191-byte
//! chunks, and random token soup. `bench/js-views.sh DIR` runs the same comparison on any
//! directory of pages.

mod clam_views;

const PACKER: &[u8] = br"eval(function(p,a,c,k,e,d){e=function(c){return c.toString(36)};if(!''.replace(/^/,String)){while(c--){d[c.toString(a)]=k[c]||c.toString(a)}k=[function(e){return d[e]}];e=function(){return'\\w+'};c=1};while(c--){if(k[c]){p=p.replace(new RegExp('\\b'+e(c)+'\\b','g'),k[c])}}return p}('3 0=\'1\';2(0);5 4(a){6 a*2}',10,7,'x|hello|alert|var|dbl|function|return'.split('|'),0,{}))";

const STATEMENTS: &[&[u8]] = &[
    b"var a = 1;",
    b"var A = 'B', c = \"D\";",
    b"var x=[1,2,3], y = {a:1,b:2};",
    b"x = 5;",
    b"alert(x);",
    b"function f(a, b) { var c = a + b; return c; }",
    b"function () { return this; }",
    b"var g = function(q) { var r = q * 2, s = r; return s; };",
    b"document.write('<b>x</b>');",
    b"document.write(unescape('%3Cscript%3Ealert(1)%3C/script%3E'));",
    b"eval('var z = 3; alert(z)');",
    b"eval(\"alert('hi')\");",
    b"eval(unescape('%61%6c%65%72%74%28%31%29'));",
    b"eval(x);",
    b"var s = 'a' + 'b' + \"c\";",
    b"var t = \"\\x41\\u0042\\n\\t\\0\\q\\\\\";",
    b"var u = 'it\\'s';",
    b"String.fromCharCode(72,105);",
    b"x = 0x1F + 077 + 1.5 + 1e5 + 2.5e-3 + .5 + 1.0 + 123456789012;",
    b"y = 3.14159265 + 1234567.0 + 0.00001 + 100000.0 + 99999999999999999999;",
    b"// comment here\n",
    b"/* multi\n line */",
    b"if (a < b && c > d) { a++; } else { b--; }",
    b"for (var i = 0; i < 10; i++) { s += i; }",
    b"a >>>= 2; b !== c; d === e;",
    b"obj.prop = obj.method(1).other;",
    b"switch (x) { case 1: y(); break; default: z(); }",
    b"try { q(); } catch (e) { r(e); } finally { s(); }",
    b"var $el = $('#id'); _priv = 1;",
    b"re = /ab+c/i;",
    b"l = 'unterminated",
    b"q = \"with </b> tag\";",
    b"<!--\n hidden();\n//-->",
    b"dF('%264Dwhfe%263D%2638%264F4')",
    PACKER,
    b"\\u0061bc = 1;",
    b"Var X = 1; VAR y;",
    b"function outer() { function inner(p) { var v = p; return v; } return inner(1); }",
    b"}",
    b"{",
    b"(",
    b")",
    b"\"",
    b"'",
    b"\t",
    b"\n",
    b"\r\n",
    b"\xc3\xa9",
    b"\xff",
    b"\x00",
    b"setTimeout(\"go()\", 1000);",
];

const SOUP: &[&[u8]] = &[
    b"\"",
    b"'",
    b"\\",
    b"/",
    b"*",
    b"+",
    b"-",
    b".",
    b"(",
    b")",
    b"{",
    b"}",
    b"[",
    b"]",
    b";",
    b",",
    b"=",
    b"<",
    b">",
    b"!",
    b"0",
    b"9",
    b"5.",
    b"e",
    b"x",
    b"u",
    b"0041",
    b"%41",
    b"a",
    b"$",
    b"_",
    b" ",
    b"\n",
    b"\t",
    b"\r",
    b"var ",
    b"function",
    b"eval",
    b"unescape",
    b"p",
    b"c",
    b"//",
    b"/*",
    b"*/",
    b"\\x4",
    b"\\u00",
    b"\\'",
    b"<!--",
    b"-->",
    b"</",
    b"script>",
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
    let opens: &[&[u8]] = &[
        b"<script>",
        b"<script type=\"text/javascript\">",
        b"<SCRIPT LANGUAGE='JavaScript'>\n",
        b"<script src=\"a.js\">",
        b"<script\n>",
    ];
    let closes: &[&[u8]] = &[b"</script>", b"</SCRIPT>", b"</script >", b"\n</script>\n"];
    let mut d = b"<html><head><title>T</title>".to_vec();
    for s in 0..1 + rng.next(3) {
        d.extend_from_slice(opens[rng.next(opens.len())]);
        let n = [3, 10, 40, 400][rng.next(4)];
        let soup = i % 4 == 3;
        let sep: &[u8] = [&b" "[..], b"\n", b""][rng.next(3)];
        for _ in 0..n {
            if soup {
                d.extend_from_slice(SOUP[rng.next(SOUP.len())]);
            } else {
                d.extend_from_slice(STATEMENTS[rng.next(STATEMENTS.len())]);
                d.extend_from_slice(sep);
            }
        }
        if i.is_multiple_of(9) {
            // A run without white space across a chunk's edge.
            d.extend(std::iter::repeat_n(b'q', 8000 + rng.next(9000)));
        }
        if s > 0 && rng.next(10) == 0 {
            // Unfinished script at the end of the page.
            return d;
        }
        d.extend_from_slice(closes[rng.next(closes.len())]);
        d.extend_from_slice(b"<p>text</p>\n");
    }
    d.extend_from_slice(b"</html>\n");
    d
}

#[test]
fn javascript_view_equals_clamscans() {
    if !clam_views::have_clamscan() {
        eprintln!("clamscan is not installed (Debian: clamav): skipped");
        return;
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let inputs: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| (format!("j{i:04}.html"), document(&mut rng, i)))
        .collect();
    let clam = clam_views::run(&inputs);
    let mut differ = Vec::new();
    let mut with_js = 0;
    for (name, d) in &inputs {
        let ours = bulwark_engine::normalise::html(d);
        let theirs = clam.view(name, "javascript").unwrap_or_default();
        with_js += usize::from(!theirs.is_empty());
        if ours.javascript != theirs {
            differ.push(name.clone());
        }
    }
    assert!(with_js >= 190, "clamscan wrote {with_js} javascript views");
    assert!(
        differ.is_empty(),
        "javascript views differ from clamscan's: {differ:?}"
    );
}

/// The view is matched as ClamAV 1.4.6 matches it (observed with clamscan): target 3 and 0
/// signatures as HTML, target 7 ones as text, none on the raw page.
#[test]
fn javascript_view_is_scanned_for_targets_0_3_and_7() {
    use bulwark_engine::{Database, LoadOptions, ScanOptions, Scanner};
    use std::sync::Arc;
    let hx = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let dir = tempfile::tempdir().unwrap();
    let sigs = format!(
        "JS.T3:3:*:{}\nJS.T0:0:*:{}\nJS.T7:7:*:{}\nJS.Whole:3:0:{}\n",
        hx("var n000=1;"),
        hx("function n001(n002){"),
        hx("return n002*2;}"),
        hx("<script>var n000=1;function n001(n002){return n002*2;}</script>"),
    );
    std::fs::write(dir.path().join("t.ndb"), sigs).unwrap();
    let (db, _) = Database::load(&[dir.path().to_path_buf()], &LoadOptions::default()).unwrap();
    let db = Arc::new(db);
    let page = b"<html><body><script type=\"text/javascript\">\nvar greeting = 1;\nfunction Foo(X) { return X * 2; }\n</script></body></html>\n";
    let mut s = Scanner::new(Arc::clone(&db), &ScanOptions::default());
    s.feed(page);
    let mut names: Vec<String> = s.finish().threats.into_iter().map(|t| t.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names, ["JS.T0", "JS.T3", "JS.T7", "JS.Whole"]);
}

/// Scripts encoded with Microsoft's Script Encoder: on generated pages of encoded statements
/// (three seeds; `clam_views/screnc.rs`) the javascript view equals clamscan's; and a page whose
/// script is encoded has the same view as the page with it in clear (encoding, then decoding as
/// ClamAV does, round trips), as clamscan has too.
#[test]
fn encoded_javascript_view_equals_clamscans() {
    use clam_views::screnc::{encode, page, Rng};
    let mut inputs = Vec::new();
    for seed in [0x0e5c_0001u64, 0x0e5c_0002, 0x0e5c_0003] {
        let mut rng = Rng(seed);
        for i in 0..40 {
            inputs.push((
                format!("s{seed:x}-{i:03}.html"),
                page(&mut rng, i, Some(STATEMENTS)),
            ));
        }
    }
    let mut rng = Rng(0x0e5c_1000);
    let clear: Vec<&[u8]> = STATEMENTS
        .iter()
        .copied()
        .filter(|s| !s.contains(&0))
        .collect();
    for i in 0..40 {
        let mut js = Vec::new();
        for _ in 0..1 + rng.next(30) {
            js.extend_from_slice(clear[rng.next(clear.len())]);
            js.extend_from_slice([&b" "[..], b"\r\n", b""][rng.next(3)]);
        }
        let wrap = |open: &[u8], body: &[u8]| {
            let mut d = b"<html><body>".to_vec();
            d.extend_from_slice(open);
            d.extend_from_slice(body);
            d.extend_from_slice(b"</script><p>x</p></body></html>\n");
            d
        };
        let plain = wrap(b"<script>", &js);
        let encoded = wrap(b"<script language=\"JScript.Encode\">", &encode(&js));
        assert_eq!(
            bulwark_engine::normalise::html(&encoded)
                .javascript
                .escape_ascii()
                .to_string(),
            bulwark_engine::normalise::html(&plain)
                .javascript
                .escape_ascii()
                .to_string(),
            "round trip of {}",
            js.escape_ascii()
        );
        inputs.push((format!("rt{i:03}-plain.html"), plain));
        inputs.push((format!("rt{i:03}-encoded.html"), encoded));
    }
    if !clam_views::have_clamscan() {
        eprintln!("clamscan is not installed (Debian: clamav): comparison skipped");
        return;
    }
    let clam = clam_views::run(&inputs);
    let mut differ = Vec::new();
    for (name, d) in &inputs {
        let theirs = clam.view(name, "javascript").unwrap_or_default();
        if bulwark_engine::normalise::html(d).javascript != theirs {
            differ.push(name.clone());
        }
        if let Some(stem) = name.strip_suffix("-encoded.html") {
            let plain = clam.view(&format!("{stem}-plain.html"), "javascript");
            assert_eq!(Some(theirs), plain, "clamscan's round trip of {stem}");
        }
    }
    assert!(
        differ.is_empty(),
        "javascript views differ from clamscan's: {differ:?}"
    );
}
