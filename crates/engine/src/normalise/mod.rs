//! The normalised views ClamAV 1.4 matches target 3 (HTML) and target 7 (text) signatures on,
//! and target 0 signatures too for HTML and text objects (observed with clamscan 1.4.6; its
//! `--leave-temps` shows the HTML views as `nocomment.html` and `notags.html`).
//!
//! * Text (ClamAV's script normaliser): ASCII letters lower-cased, every run of white space
//!   (TAB, LF, VT, FF, CR, space) one space, other control bytes and bytes >= 0x80 dropped.
//!   This reproduces ClamAV's output.
//! * HTML (`nocomment` and `notags` views): ClamAV's HTML normaliser reproduced byte for byte,
//!   quirks included (module `html`); only scripts encoded with Microsoft's Script Encoder are
//!   not decoded.
//!
//! ClamAV's third HTML view, its JavaScript normaliser's output (identifiers renamed `n000`…,
//! strings re-quoted), is not produced.
//!
//! Every function is linear in its input.

mod entities;
mod html;

/// Largest object whose normalised views are built (ClamAV: MaxHTMLNormalize 40 MB,
/// MaxScriptNormalize 20 MB; bounded here by the in-memory object limit).
pub const MAX_NORMALISE: u64 = 16 << 20;

/// Largest object whose `notags` view is built (ClamAV skips it from 2 MB).
pub const MAX_NOTAGS: usize = 2 << 20;

/// Load-report reason for target 3 signatures: loaded and matched on ClamAV's `nocomment` and
/// `notags` views, reproduced exactly, but not on its third view, the JavaScript normaliser's
/// output, which ClamAV matches too (with target 0 signatures as well).
pub const HTML_APPROXIMATED: &str = "target 3: matched on ClamAV's nocomment/notags HTML views \
     (reproduced exactly); its JavaScript-normalised view is not produced";

/// Load-report reason for target 3 signatures written for ClamAV's JavaScript-normalised view
/// (identifiers renamed `n000`, `n001`…), which is not produced: they load but cannot match
/// as in ClamAV.
pub const JS_NORMALISER_MISSING: &str =
    "target 3: written for ClamAV's JavaScript-normalised view (identifiers n000…), not produced";

/// How a body signature's semantics differ from ClamAV's because of normalisation (the
/// load-report reason), or `None` when they do not: target 7 signatures run on the normalised
/// text exactly as in ClamAV.
pub fn approximation(ls: &crate::sigs::logical::LogicalSig) -> Option<&'static str> {
    use crate::sigs::hex::Elem;
    use crate::sigs::logical::Sub;
    if ls.tdb.target != crate::filetype::target::HTML {
        return None;
    }
    let js = ls.subs.iter().any(|s| match s {
        Sub::Body(b) => b.variants.iter().any(|p| {
            p.parts.iter().any(|pt| {
                pt.elems
                    .iter()
                    .any(|e| matches!(e, Elem::Lit(l) if l.windows(3).any(|w| w == b"n00")))
            })
        }),
        Sub::Pcre(p) => p.regex.contains("n00"),
    });
    Some(if js {
        JS_NORMALISER_MISSING
    } else {
        HTML_APPROXIMATED
    })
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
    // Branch-free (the branches mispredicted on ordinary text): every byte is written at `n`
    // and `n` advances only when it is kept. `n` never passes the input position, so every
    // write is inside `out`.
    for &b in data {
        let c = TEXT_MAP[b as usize];
        let space = c == 1;
        let keep = c != 0 && !(space && in_space);
        if let Some(o) = out.get_mut(n) {
            *o = if space { b' ' } else { c };
        }
        n += usize::from(keep);
        in_space = if c == 0 { in_space } else { space };
    }
    out.truncate(n);
    out
}

/// The two HTML views ClamAV scans (see the module documentation).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HtmlViews {
    /// Comments removed, tags and text normalised.
    pub nocomment: Vec<u8>,
    /// Text only (and link targets); empty for objects from [`MAX_NOTAGS`] bytes.
    pub notags: Vec<u8>,
}

/// The normalised HTML views of `data`, as ClamAV 1.4 writes them.
pub fn html(data: &[u8]) -> HtmlViews {
    let (nocomment, notags) = html::normalise(data, data.len() < MAX_NOTAGS);
    HtmlViews {
        nocomment,
        notags: notags.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
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
