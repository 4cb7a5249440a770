//! The normalised views ClamAV 1.4 matches target 3 (HTML) and target 7 (text) signatures on,
//! and target 0 signatures too for HTML and text objects (observed with clamscan 1.4.6; its
//! `--leave-temps` shows the HTML views as `nocomment.html` and `notags.html`).
//!
//! * Text (ClamAV's script normaliser): ASCII letters lower-cased, every run of white space
//!   (TAB, LF, VT, FF, CR, space) one space, other control bytes and bytes >= 0x80 dropped.
//!   This reproduces ClamAV's output.
//! * HTML (`nocomment` and `notags` views): ClamAV's HTML normaliser reproduced byte for byte,
//!   quirks included (module `html`), scripts encoded with Microsoft's Script Encoder
//!   (`JScript.Encode`, `VBScript.Encode`, `#@~^…^#~@`) decoded where ClamAV decodes them
//!   (module `screnc`).
//! * JavaScript (`javascript` view, ClamAV's third HTML view): its JavaScript normaliser's output
//!   for the page's scripts (identifiers renamed `n000`…, strings re-quoted and decoded,
//!   `eval`/`unescape`/packer decoded), reproduced byte for byte (module `js`). ClamAV matches
//!   it as HTML (targets 0 and 3) and as text (targets 0 and 7).
//!
//! Every function is linear in its input.

mod entities;
mod html;
mod js;
pub mod screnc;

/// Largest object whose normalised views are built (ClamAV: MaxHTMLNormalize 40 MB,
/// MaxScriptNormalize 20 MB; bounded here by the in-memory object limit).
pub const MAX_NORMALISE: u64 = 16 << 20;

/// Largest object whose `notags` view is built (ClamAV skips it from 2 MB).
pub const MAX_NOTAGS: usize = 2 << 20;

/// Formerly the load-report reason for every target 3 signature, while ClamAV's
/// JavaScript-normalised view was not produced; no longer reported (all three HTML views are
/// reproduced), kept for compatibility.
pub const HTML_APPROXIMATED: &str = "target 3: matched on ClamAV's nocomment/notags HTML views \
     (reproduced exactly); its JavaScript-normalised view is not produced";

/// Formerly the load-report reason for target 3 signatures written for ClamAV's
/// JavaScript-normalised view (identifiers `n000`…); no longer reported (the view is produced,
/// see [`HtmlViews::javascript`]), kept for compatibility.
pub const JS_NORMALISER_MISSING: &str =
    "target 3: written for ClamAV's JavaScript-normalised view (identifiers n000…), not produced";

/// How a body signature's semantics differ from ClamAV's because of normalisation (the
/// load-report reason), or `None` when they do not. Target 3 and 7 signatures run on ClamAV's
/// views reproduced byte for byte (`nocomment`, `notags`, `javascript`, normalised text,
/// scripts encoded with Microsoft's Script Encoder decoded as ClamAV decodes them), so none is
/// reported.
pub fn approximation(_ls: &crate::sigs::logical::LogicalSig) -> Option<&'static str> {
    None
}

const fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// [`text`]'s byte classes: 0 dropped, 1 white space, else the byte to write (lower-cased).
const TEXT_MAP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if is_space(c) {
            1
        } else if c >= 0x20 && c < 0x80 {
            c.to_ascii_lowercase()
        } else {
            0
        };
        b += 1;
    }
    t
};

/// ClamAV's text normalisation (see the module documentation).
pub fn text(data: &[u8]) -> Vec<u8> {
    // One extra byte: the last write may land one past the kept bytes.
    let mut out = vec![0u8; data.len() + 1];
    let mut n = 0usize;
    let mut in_space = false;
    let mut blocks = data.chunks_exact(TEXT_BLOCK);
    for blk in blocks.by_ref() {
        // Most text keeps every byte (printable ASCII, single spaces): such a block is mapped
        // at once (the arithmetic below vectorises); any other goes byte by byte.
        if let Some((mapped, ends_in_space)) = text_block(blk, in_space) {
            if let Some(o) = out.get_mut(n..n + TEXT_BLOCK) {
                o.copy_from_slice(&mapped);
                n += TEXT_BLOCK;
                in_space = ends_in_space;
                continue;
            }
        }
        text_bytes(blk, &mut out, &mut n, &mut in_space);
    }
    text_bytes(blocks.remainder(), &mut out, &mut n, &mut in_space);
    out.truncate(n);
    out
}

/// Bytes of text mapped at once by [`text_block`].
const TEXT_BLOCK: usize = 32;

/// `blk` normalised when every byte of it is kept (printable ASCII and lone white space, none
/// right after `in_space`), with whether it ends in white space; `None` otherwise.
fn text_block(blk: &[u8], in_space: bool) -> Option<([u8; TEXT_BLOCK], bool)> {
    let blk: &[u8; TEXT_BLOCK] = blk.try_into().ok()?;
    // Lane-wise arithmetic over fixed arrays, no bit tricks across lanes: the compiler turns
    // both loops into vector instructions.
    let mut mapped = [0u8; TEXT_BLOCK];
    let mut ws = [0u8; TEXT_BLOCK];
    let mut bad = 0u8;
    for k in 0..TEXT_BLOCK {
        let c = blk[k];
        let w = u8::from(c == b' ') | u8::from(c.wrapping_sub(b'\t') < 5);
        let printable = u8::from(c.wrapping_sub(0x20) < 0x60);
        let upper = u8::from(c.wrapping_sub(b'A') < 26);
        mapped[k] = if w == 1 { b' ' } else { c | (upper << 5) };
        ws[k] = w;
        bad |= !w & !printable & 1;
    }
    // A space right after another (or after the white space before the block) is dropped.
    let mut doubled = ws[0] & u8::from(in_space);
    for k in 1..TEXT_BLOCK {
        doubled |= ws[k] & ws[k - 1];
    }
    (bad == 0 && doubled == 0).then_some((mapped, ws[TEXT_BLOCK - 1] == 1))
}

/// [`text`] byte by byte over `data`, writing at `*n` in `out` (at least one byte longer than
/// what is left to write).
fn text_bytes(data: &[u8], out: &mut [u8], n: &mut usize, in_space: &mut bool) {
    // Branch-free (the branches mispredicted on ordinary text): every byte is written at `n`
    // and `n` advances only when it is kept. `n` never passes the input position, so every
    // write is inside `out`.
    for &b in data {
        let c = TEXT_MAP[b as usize];
        let space = c == 1;
        let keep = c != 0 && !(space && *in_space);
        if let Some(o) = out.get_mut(*n) {
            *o = if space { b' ' } else { c };
        }
        *n += usize::from(keep);
        *in_space = if c == 0 { *in_space } else { space };
    }
}

/// The two HTML views ClamAV scans (see the module documentation).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HtmlViews {
    /// Comments removed, tags and text normalised.
    pub nocomment: Vec<u8>,
    /// Text only (and link targets); empty for objects from [`MAX_NOTAGS`] bytes.
    pub notags: Vec<u8>,
    /// The scripts as ClamAV's JavaScript normaliser writes them (its `javascript` file);
    /// empty when the page has no `<script>`.
    pub javascript: Vec<u8>,
}

/// The normalised HTML views of `data`, as ClamAV 1.4 writes them.
pub fn html(data: &[u8]) -> HtmlViews {
    let (nocomment, notags, javascript) = html::normalise(data, data.len() < MAX_NOTAGS);
    HtmlViews {
        nocomment,
        notags: notags.unwrap_or_default(),
        javascript,
    }
}

#[cfg(test)]
mod tests {
    /// The block path and the byte path agree on text of every kind: printable runs, single
    /// and doubled white space of each kind, control and non-ASCII bytes, at every alignment.
    #[test]
    fn text_blocks_equal_byte_by_byte() {
        let alphabet: &[u8] = b"aZ09 ,.<\t\n\r\x0b\x0c\x00\x1b\x7f\x80\xff  Ee";
        let mut x = 0x2545_f491u32;
        for len in [0usize, 1, 31, 32, 33, 64, 65, 200, 4096] {
            for density in [0u32, 1, 4, 16] {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        // Mostly letters; `density` in 16 from the whole alphabet.
                        if x % 16 < density {
                            alphabet[(x >> 8) as usize % alphabet.len()]
                        } else {
                            b'a' + (x >> 8) as u8 % 26 - 32 * u8::from(x & 0x100 != 0)
                        }
                    })
                    .collect();
                let mut want = vec![0u8; data.len() + 1];
                let (mut n, mut sp) = (0, false);
                super::text_bytes(&data, &mut want, &mut n, &mut sp);
                want.truncate(n);
                assert_eq!(super::text(&data), want, "len {len} density {density}");
            }
        }
    }

    use super::*;

    /// Outputs observed with clamscan 1.4.6 (`--leave-temps`, and target 7 signatures).
    #[test]
    fn text_as_clamav() {
        assert_eq!(
            text(b"  Leading\tTabs  AND\r\n\r\nCRLF  end  \n"),
            b" leading tabs and crlf end "
        );
        assert_eq!(text(b"x\xc3\xa9y utf8"), b"xy utf8");
        assert_eq!(text(b"a \x1b b"), b"a b");
        assert_eq!(text(b"a\x7fb P\x0b\x0cQ"), b"a\x7fb p q");
        assert_eq!(
            text(b"Hello, World! <>&;'\"[]{}~`"),
            b"hello, world! <>&;'\"[]{}~`"
        );
    }

    /// `(input, nocomment, notags)` as clamscan 1.4.6 writes them (`--leave-temps`), one row per
    /// rule of the normaliser: white space, comments, attribute quoting, references, scripts and
    /// styles, `data:` URIs, non-ASCII bytes, NUL and control bytes.
    const HTML_CASES: &[(&[u8], &[u8], &[u8])] = &[
        (
            b"<html>A  B\tC\r\nD</html>",
            b"<html>a b c d</html>",
            b" a b c d ",
        ),
        (
            b"<html>  lead <b>x</b> <i> y </i>\n\n<p>\n z</p></html>",
            b"<html>lead <b>x</b><i>y </i><p>z</p></html>",
            b" lead x y z ",
        ),
        (
            b"<html><!-- c1 --> a <!-- c2 > b --> c <!x> d</html>",
            b"<html>a b --> c d</html>",
            b" a b --> c d ",
        ),
        (
            b"<html><P CLASS=Foo ID=\"Bar\" Title='Q'>T</P><BR/><img   src = a.gif  ><br /></html>",
            b"<html><p class=foo id=\"bar\" title=\"q\">t</p><br/><img src=a.gif><br /></html>",
            b" t a.gif ",
        ),
        (
            b"<html>a &amp; b &lt;x&gt; &AMP; &apos; &check; &NewLine; &#65;&#x42;&#X43; &#65 z &#x1F600; &#255; &#0; &bogus; &amp c</html>",
            b"<html>a & b <x> &amp; ' &#x2713; &newline; abc A z &#xf600; &#x00ff; \x00 &bogus; &amp c</html>",
            b" a b x z c ",
        ),
        (
            b"<html><script>\n  var A = 1 ;\n  if (a < b) { x = 'Y  Z'; }\n</script> after</html>",
            b"<html><script>vara=1;if(a<b){x=\"yz\";}</script>after</html>",
            b" after ",
        ),
        (
            b"<html><style>\n  BODY { Color : Red }\n</style> S</html>",
            b"<html><style>body{color:red}</style>s</html>",
            b" s ",
        ),
        (
            b"<html><script><style>x</style>y</script> z</html>",
            b"<html><script><style>x</style>y</script>z</html>",
            b" z ",
        ),
        (
            b"<html><style><script>x</script> y <b>z</b></html>",
            b"<html><style><script>x</script>y <b>z</b></html>",
            b" y z ",
        ),
        (
            b"<html>x < y</html>",
            b"<html>x <y</html>",
            b" x ",
        ),
        (
            b"<html><a HREF=\"HTTP://A.COM/X?a=1&amp;b=2\" title=\"T\">L</a><img SRC=\"I.GIF\"> Some  TEXT</html>",
            b"<html><a href=\"http://a.com/x?a=1&b=2\" title=\"t\">l</a><img src=\"i.gif\">some text</html>",
            b" HTTP://A.COM/X?a=1&b=2 l I.GIF some text ",
        ),
        (
            b"<html><p title=\"a  b\">x</p><p title=\"a b\"c=d>y</p><?xml version=\"1.0\" ?></html>",
            b"<html><p title=\"a b\">x</p><p title=\"a b\"c=d>y</p><?xml version=\"1.0\" ?></html>",
            b" x y ",
        ),
        (
            b"<html><img src=\"data:text/plain;base64,QUJD\" alt=\"x\"><img src=data:x,%41%4 alt=y></html>",
            b"<html><img src=\"data\"alt=\"x\"><img src=data</html>",
            b" ",
        ),
        (
            b"<html>caf\xc3\xa9 \xe2\x80\x94 \xe3\x80\x82 \xe9 \xf0\x9f\x98\x80 \xa1C<p title=\"\xc3\xa9t\xc3\xa9\">x</p></html>",
            b"<html>caf\xc3\xa9 \xe2\x80\x94 . \xe9 \xf0\x9f\x98\x80 .\x00<p title=\"\xc3\xa9t\">x</p></html>",
            b" caf\xc3\xc3 \xe2\x80\x80.\x00\xf0\x9f\x9f\x00.\x00x ",
        ),
        (
            b"<html>a\x00b\x01c</html>",
            b"<html>ab\x01c</html>",
            b" ab c ",
        ),
    ];

    #[test]
    fn html_views_as_clamav() {
        for (input, nocomment, notags) in HTML_CASES {
            let v = html(input);
            assert_eq!(
                v.nocomment.escape_ascii().to_string(),
                nocomment.escape_ascii().to_string(),
                "nocomment of {}",
                input.escape_ascii()
            );
            assert_eq!(
                v.notags.escape_ascii().to_string(),
                notags.escape_ascii().to_string(),
                "notags of {}",
                input.escape_ascii()
            );
        }
    }

    /// ClamAV reads 8,191-byte chunks, cut back to their last white space, and skips the white
    /// space that starts a chunk: a line break right after a full chunk vanishes (observed).
    #[test]
    fn html_chunks_as_clamav() {
        let mut d = b"<html>".to_vec();
        d.extend(std::iter::repeat_n(b'y', 8185));
        d.extend_from_slice(b"\n next</html>");
        assert!(html(&d).nocomment.ends_with(b"yyynext</html>"));
        assert!(html(&d).notags.ends_with(b"yyynext "));
        let mut d = b"<html>".to_vec();
        d.extend(std::iter::repeat_n(b'y', 8190));
        d.extend_from_slice(b"\nnext line</html>");
        assert!(html(&d).nocomment.ends_with(b"yyy next line</html>"));
        let mut d = b"<html>".to_vec();
        d.extend(std::iter::repeat_n(b'y', 8200));
        d.extend_from_slice(b" tail</html>");
        assert!(html(&d).nocomment.ends_with(b"yyy tail</html>"));
    }

    /// `(page, javascript view)` as clamscan 1.4.6 writes them (`--leave-temps`): renaming of
    /// declarations, `//` comments ending at a space, numbers as C prints them (`0x1F` is `0`
    /// then `x1f`), folds and decoders (`unescape`, `eval`, packer, `dF`), string escapes,
    /// several scripts, an unfinished script.
    const JS_CASES: &[(&[u8], &[u8])] = &[
        (
            b"<html><script type=\"text/javascript\">\nvar greeting = 'Hello';\nfunction foo(bar, baz) { var x = bar + baz; return x * 2; }\ndocument.write(unescape('%3Cb%3Ebold%3C/b%3E') + String.fromCharCode(72,105));\neval(\"alert(1)\");\nvar s = \"a\\x41\\u0042\";\n</script></html>",
            b"<script>var n000=\"hello\";function n001(n002,n003){var n004=n002+n003;return n004*2;}document.write(\"<b>bold</b>\"+string.fromcharcode(72,105));alert(1)var n005=\"aab\";</script>",
        ),
        (
            b"<html><script>var a = 1; // a comment here\nvar b = 2; /* c d */ c = a+b;</script></html>",
            b"<script>var n000=1;n000 comment here var n001=2;c=n000+n001;</script>",
        ),
        (
            b"<html><script>x = 0x1F + 077 + 1.5e3 + 2.50 + 123456789012 + 1e21 + 0.0001 + 1234567.5 + 10px;</script></html>",
            b"<script>x=0 x1f+77+1500+2.5+-1097262572+1 e21+0.0001+1.23457e+06+10 px;</script>",
        ),
        (
            b"<html><script>function f(a) { var b = 1, c = 2; var a = 3; return a + b + c + d; } var g = 1, h = [1,2], i;</script></html>",
            b"<script>function n000(n003){var n002=1,c=2;var n003=3;return n003+n002+c+d;}var n004=1,n005=[1,2],n006;</script>",
        ),
        (
            b"<html><script>var s = \"ab\" + 'cd' + \"e\"; Var X = s.Length; obj.var = 1;</script></html>",
            b"<script>var n000=\"abcde\";var x=n000.length;obj.var=1;</script>",
        ),
        (
            b"<html><script>eval(function(p,a,c,k,e,d){while(c--){if(k[c]){p=p.replace(new RegExp('\\\\b'+c+'\\\\b','g'),k[c])}}return p}('0 1=\\'2\\';3(1)',10,4,'var|x|hi|alert'.split('|'),0,{}))</script></html>",
            b"<script>eval(function(n000,n001,n002,n003,n004,n005){while(n002--){if(n003[n002]){n000=n000.replace(new regexp(\"\\b\"+n002+\"\\b\",\"g\"),n003[n002])}}return n000}(var n006=\"hi\";alert(n006)))</script>",
        ),
        (
            b"<html><script>dF('%264Dwhfe%263D%2638%264F4')</script></html>",
            b"<script></script>\"0@sdba\"/\"/4\"0</script>",
        ),
        (
            b"<html><script>var t = \"\\x4G\\u12\\q\\0\" + 'it\\'s';</script><p>between</p><script src=\"a.js\"></script></html>",
            b"<script>var n000=\"\xff\xef\xbf\xbf\x01it's\";</script>\n<script></script>",
        ),
        (
            b"<html><script>var a = 1; foo('unterminated",
            b"<script>var n000=1;foo(\"unterminated\")</script>",
        ),
    ];

    #[test]
    fn js_view_as_clamav() {
        for (input, js) in JS_CASES {
            assert_eq!(
                html(input).javascript.escape_ascii().to_string(),
                js.escape_ascii().to_string(),
                "javascript of {}",
                input.escape_ascii()
            );
        }
        assert!(html(b"<html><p>no script</p></html>").javascript.is_empty());
    }

    #[test]
    fn hostile_html_is_linear() {
        let mut d = Vec::new();
        for _ in 0..100_000 {
            d.extend_from_slice(b"<a href='");
        }
        let t = std::time::Instant::now();
        let v = html(&d);
        assert!(v.nocomment.len() <= 2 * d.len());
        let d2 = vec![b'<'; 1 << 20];
        let _ = html(&d2);
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
    }
}
