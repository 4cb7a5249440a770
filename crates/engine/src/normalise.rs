//! The normalised views ClamAV 1.4 matches target 3 (HTML) and target 7 (text) signatures on,
//! and target 0 signatures too for HTML and text objects (observed with clamscan 1.4.6; its
//! `--leave-temps` shows the HTML views as `nocomment.html` and `notags.html`).
//!
//! * Text (ClamAV's script normaliser): ASCII letters lower-cased, every run of white space
//!   (TAB, LF, VT, FF, CR, space) one space, other control bytes and bytes >= 0x80 dropped.
//!   This reproduces ClamAV's output.
//! * HTML, `nocomment` view: `<!…>` constructs (comments, doctype) removed up to the first `>`,
//!   tags lower-cased with white space collapsed (none around `=` nor before `>`, single quotes
//!   made double), white space after a tag dropped and collapsed elsewhere, character references
//!   decoded (Latin-1 named ones, numeric ones below 256; larger ones re-encoded `&#xNNNN;`),
//!   `<script>`/`<style>` content lower-cased with all white space removed. This follows
//!   ClamAV's output on ordinary documents; corner cases of its hand-written parser (malformed
//!   tags, quotes inside scripts…) may differ.
//! * HTML, `notags` view: the text outside tags (lower-cased, collapsed, character references
//!   dropped) with `href`/`src` attribute values (as written), space-separated. Approximate.
//!
//! ClamAV's third HTML view, its JavaScript normaliser's output (identifiers renamed `n000`…,
//! strings re-quoted), is not produced.
//!
//! Every function is linear in its input.

/// Largest object whose normalised views are built (ClamAV: MaxHTMLNormalize 40 MB,
/// MaxScriptNormalize 20 MB; bounded here by the in-memory object limit).
pub const MAX_NORMALISE: u64 = 16 << 20;

/// Largest object whose `notags` view is built (ClamAV skips it from 2 MB).
pub const MAX_NOTAGS: usize = 2 << 20;

/// Load-report reason for target 3 signatures: loaded, matched on these views.
pub const HTML_APPROXIMATED: &str = "target 3: matched on Bulwark's HTML normalisation \
     (ClamAV's nocomment/notags views, approximated in corner cases; no JavaScript-normalised view)";

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
    let mut out = vec![0u8; data.len()];
    let mut n = 0;
    let mut in_space = false;
    // `n` never passes the input position, so every write is inside `out`.
    for &b in data {
        match TEXT_MAP[b as usize] {
            0 => {}
            1 => {
                if !in_space {
                    if let Some(o) = out.get_mut(n) {
                        *o = b' ';
                    }
                    n += 1;
                    in_space = true;
                }
            }
            c => {
                if let Some(o) = out.get_mut(n) {
                    *o = c;
                }
                n += 1;
                in_space = false;
            }
        }
    }
    out.truncate(n);
    out
}

/// Latin-1 named character references (HTML 4), code points 160..=255 in order.
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// Decodes the character reference at `d[0] == b'&'`: `(bytes, consumed)`, or `None` when it
/// is not one (kept literally).
fn entity(d: &[u8]) -> Option<(Vec<u8>, usize)> {
    let end = d.iter().take(12).position(|&c| c == b';')?;
    let name = std::str::from_utf8(&d[1..end]).ok()?;
    let code: u32 = if let Some(n) = name.strip_prefix('#') {
        if let Some(h) = n.strip_prefix(['x', 'X']) {
            u32::from_str_radix(h, 16).ok()?
        } else {
            n.parse().ok()?
        }
    } else {
        match name {
            "amp" => 38,
            "lt" => 60,
            "gt" => 62,
            "quot" => 34,
            "apos" => 39,
            _ => 160 + LATIN1.iter().position(|&e| e == name)? as u32,
        }
    };
    let bytes = match u8::try_from(code) {
        Ok(b) => vec![b.to_ascii_lowercase()],
        Err(_) if code <= 0xffff => format!("&#x{code:04x};").into_bytes(),
        Err(_) => Vec::new(),
    };
    Some((bytes, end + 1))
}

/// The two HTML views ClamAV scans (see the module documentation).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HtmlViews {
    /// Comments removed, tags and text normalised.
    pub nocomment: Vec<u8>,
    /// Text only (and link targets); empty for objects from [`MAX_NOTAGS`] bytes.
    pub notags: Vec<u8>,
}

/// Bytes that end a run of ordinary text in [`html`]: white space, `<` and `&`.
const HTML_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = is_space(b as u8) || b == b'<' as usize || b == b'&' as usize;
        b += 1;
    }
    t
};

/// What a lower-cased text byte adds to the `notags` view: itself (letters, digits and
/// punctuation but `&` and `"`), else 0 (a space).
const NOTAGS_MAP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || (c.is_ascii_punctuation() && c != b'&' && c != b'"') {
            t[b] = c;
        }
        b += 1;
    }
    t
};

/// Pushes a space to a `notags` buffer unless it ends with one.
fn notags_space(v: &mut Vec<u8>) {
    if v.last() != Some(&b' ') {
        v.push(b' ');
    }
}

/// The normalised HTML views of `data`.
pub fn html(data: &[u8]) -> HtmlViews {
    let want_notags = data.len() < MAX_NOTAGS;
    let mut out = Vec::with_capacity(data.len());
    let mut nt: Vec<u8> = Vec::with_capacity(if want_notags { data.len() / 2 } else { 0 });
    nt.push(b' ');
    let mut i = 0;
    let mut pending_space = false;
    // White space right after a tag is dropped.
    let mut after_tag = true;
    while i < data.len() {
        let b = data[i];
        if is_space(b) {
            if !after_tag {
                pending_space = true;
            }
            notags_space(&mut nt);
            i += 1;
            continue;
        }
        if b == b'<' {
            if data.get(i + 1) == Some(&b'!') {
                // Comment or declaration: up to the first `>`.
                let end = memchr::memchr(b'>', &data[i..]).map_or(data.len(), |e| i + e + 1);
                if pending_space {
                    out.push(b' ');
                    pending_space = false;
                }
                notags_space(&mut nt);
                i = end;
                after_tag = true;
                continue;
            }
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            let (next, name) = tag(data, i, &mut out, want_notags.then_some(&mut nt));
            notags_space(&mut nt);
            i = next;
            after_tag = true;
            if name == b"script" || name == b"style" {
                i = raw_content(data, i, &name, &mut out);
            }
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        after_tag = false;
        if b == b'&' {
            if let Some((bytes, n)) = entity(&data[i..]) {
                out.extend_from_slice(&bytes);
                notags_space(&mut nt);
                i += n;
                continue;
            }
        }
        // A run of ordinary text (no white space, tag or reference), in one tight loop.
        let run_end = data[i + 1..]
            .iter()
            .position(|&c| HTML_SPECIAL[c as usize])
            .map_or(data.len(), |e| i + 1 + e);
        for &c in &data[i..run_end] {
            let l = c.to_ascii_lowercase();
            out.push(l);
            match NOTAGS_MAP[l as usize] {
                0 => notags_space(&mut nt),
                k => nt.push(k),
            }
        }
        i = run_end;
    }
    notags_space(&mut nt);
    HtmlViews {
        nocomment: out,
        notags: if want_notags { nt } else { Vec::new() },
    }
}

/// Copies the tag starting at `data[i] == b'<'` normalised into `out`; returns the index after
/// it and its lower-cased name. `href`/`src` values go to `notags`.
fn tag(
    data: &[u8],
    i: usize,
    out: &mut Vec<u8>,
    mut notags: Option<&mut Vec<u8>>,
) -> (usize, Vec<u8>) {
    out.push(b'<');
    let mut j = i + 1;
    while j < data.len() && is_space(data[j]) {
        j += 1;
    }
    let mut name = Vec::new();
    let mut attr = Vec::new();
    let mut in_name = true;
    let mut space = false;
    while j < data.len() {
        let c = data[j];
        if c == b'>' {
            out.push(b'>');
            return (j + 1, name);
        }
        if is_space(c) {
            space = true;
            in_name = false;
            j += 1;
            continue;
        }
        if c == b'=' {
            out.push(b'=');
            space = false;
            j += 1;
            while j < data.len() && is_space(data[j]) {
                j += 1;
            }
            // The value: quoted or up to white space / `>`.
            let q = data.get(j).copied();
            let (start, end, next) = match q {
                Some(q @ (b'"' | b'\'')) => {
                    let e = memchr::memchr(q, &data[j + 1..]).map_or(data.len(), |e| j + 1 + e);
                    (j + 1, e, (e + 1).min(data.len()))
                }
                _ => {
                    let e = data[j..]
                        .iter()
                        .position(|&c| is_space(c) || c == b'>')
                        .map_or(data.len(), |e| j + e);
                    (j, e, e)
                }
            };
            let quoted = matches!(q, Some(b'"' | b'\''));
            if quoted {
                out.push(b'"');
            }
            let mut sp = false;
            for &v in &data[start..end] {
                if is_space(v) {
                    sp = true;
                    continue;
                }
                if sp {
                    out.push(b' ');
                    sp = false;
                }
                out.push(v.to_ascii_lowercase());
            }
            if quoted {
                out.push(b'"');
            }
            if attr == b"href" || attr == b"src" {
                if let Some(nt) = notags.as_deref_mut() {
                    notags_space(nt);
                    nt.extend_from_slice(&data[start..end]);
                    notags_space(nt);
                }
            }
            attr.clear();
            j = next;
            continue;
        }
        if space {
            out.push(b' ');
            space = false;
            attr.clear();
        }
        let l = c.to_ascii_lowercase();
        out.push(l);
        if in_name {
            name.push(l);
        } else {
            attr.push(l);
        }
        j += 1;
    }
    (j, name)
}

/// Copies `<script>`/`<style>` content up to its closing tag (not included): lower-cased,
/// white space removed, single quotes made double. Returns the index of the closing tag.
fn raw_content(data: &[u8], i: usize, name: &[u8], out: &mut Vec<u8>) -> usize {
    let mut j = i;
    while j < data.len() {
        // Up to the next `<`, byte by byte without other tests.
        let seg_end = memchr::memchr(b'<', &data[j..]).map_or(data.len(), |e| j + e);
        for &c in &data[j..seg_end] {
            if !is_space(c) {
                out.push(if c == b'\'' {
                    b'"'
                } else {
                    c.to_ascii_lowercase()
                });
            }
        }
        j = seg_end;
        if j >= data.len() {
            break;
        }
        if data.get(j + 1) == Some(&b'/')
            && data
                .get(j + 2..j + 2 + name.len())
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        {
            return j;
        }
        out.push(b'<');
        j += 1;
    }
    j
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

    #[test]
    fn html_nocomment_as_clamav() {
        let n = |s: &[u8]| html(s).nocomment;
        assert_eq!(n(b"<html>A  B\tC\r\nD</html>"), b"<html>a b c d</html>");
        assert_eq!(
            n(b"<html>  lead <b>x</b> <i> y </i>\n\n<p>\n z</p></html>"),
            b"<html>lead <b>x</b><i>y </i><p>z</p></html>"
        );
        assert_eq!(
            n(b"<html><!-- c1 --> a <!-- c2 > b --> c <!x> d</html>"),
            b"<html>a b --> c d</html>"
        );
        assert_eq!(
            n(b"<html><P CLASS=Foo ID=\"Bar\" Title='Q'>T</P><BR/><img   src = a.gif  ></html>"),
            b"<html><p class=foo id=\"bar\" title=\"q\">t</p><br/><img src=a.gif></html>"
        );
        assert_eq!(
            n(b"<html>a &amp; b &lt;x&gt; &quot;q&quot; &#65;&#x42;&#X43; &copy; &nbsp;z &bogus; &amp c &#1234; &#0;</html>"),
            b"<html>a & b <x> \"q\" abc \xa9 \xa0z &bogus; &amp c &#x04d2; \x00</html>"
        );
        assert_eq!(
            n(b"<html><script>\n  var A = 1 ;\n  if (a < b) { x = 'Y  Z'; }\n</script> after</html>"),
            b"<html><script>vara=1;if(a<b){x=\"yz\";}</script>after</html>"
        );
        assert_eq!(
            n(b"<html><style>\n  BODY { Color : Red }\n</style> S</html>"),
            b"<html><style>body{color:red}</style>s</html>"
        );
        assert_eq!(n(b"<html>x < y</html>"), b"<html>x <y</html>");
    }

    #[test]
    fn html_notags_keeps_text_and_links() {
        let v = html(b"<html><a HREF=\"HTTP://A.COM/X\" title=\"T\">L</a><img SRC=\"I.GIF\"> Some  TEXT</html>");
        assert_eq!(v.notags, b" HTTP://A.COM/X l I.GIF some text ");
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
