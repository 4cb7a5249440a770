//! Pages with scripts encoded by Microsoft's Script Encoder, for the view tests: an encoder (the
//! public algorithm: `#@~^`, the length in base64 and `==`, each byte substituted through the
//! table its position picks, `@` escapes, the checksum, `==^#~@`) and a generator of pages that
//! mix encoded blocks (`JScript.Encode`, `VBScript.Encode`, `<%@ … %>` pages), plain scripts and
//! text, with blocks across ClamAV's 8,191-byte chunks and broken ones.

use bulwark_engine::normalise::screnc::decode_byte;

/// A small deterministic generator (xorshift), so that a failure can be replayed.
pub struct Rng(pub u64);

impl Rng {
    /// A number below `n`.
    pub fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a [u8]]) -> &'a [u8] {
        from[self.next(from.len())]
    }
}

/// A number as a header field: the base64 of its 4 little-endian bytes (8 characters, `==`
/// included).
pub fn field(n: u32) -> [u8; 8] {
    const B: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let [a, b, c, d] = n.to_le_bytes();
    let x = |v: u8| B[usize::from(v & 63)];
    [
        x(a >> 2),
        x((a << 4) | (b >> 4)),
        x((b << 2) | (c >> 6)),
        x(c),
        x(d >> 2),
        x(d << 4),
        b'=',
        b'=',
    ]
}

/// The encoded text of `plain` (no header or trailer), its length as the decoder counts it
/// and the checksum. A byte from 0x80 is copied with the next one (a double-byte character).
pub fn encode_body(plain: &[u8]) -> (Vec<u8>, u32, u32) {
    let (mut body, mut count, mut sum, mut pos) = (Vec::new(), 0u32, 0u32, 0usize);
    let mut i = 0;
    while i < plain.len() {
        let c = plain[i];
        if c >= 0x80 {
            body.extend_from_slice(&plain[i..(i + 2).min(plain.len())]);
            count += 1;
            i += 2;
            continue;
        }
        let esc = match c {
            b'\n' => Some(b'&'),
            b'\r' => Some(b'#'),
            b'<' => Some(b'!'),
            b'>' => Some(b'*'),
            b'@' => Some(b'$'),
            _ => None,
        };
        if let Some(e) = esc {
            body.extend_from_slice(&[b'@', e]);
            count += 2;
        } else {
            let e = (0u8..0x80)
                .filter(|&e| e != b'\n' && e != b'\r')
                .find(|&e| decode_byte(pos, e) == c)
                .expect("every byte below 0x80 but @, CR and LF has an encoding");
            body.push(e);
            count += 1;
        }
        sum = sum.wrapping_add(u32::from(c));
        pos += 1;
        i += 1;
    }
    (body, count, sum)
}

/// `plain` as the Script Encoder writes it: `#@~^` + length + text + checksum + `^#~@`.
pub fn encode(plain: &[u8]) -> Vec<u8> {
    let (body, count, sum) = encode_body(plain);
    let mut out = b"#@~^".to_vec();
    out.extend_from_slice(&field(count));
    out.extend_from_slice(&body);
    out.extend_from_slice(&field(sum));
    out.extend_from_slice(b"^#~@");
    out
}

const SCRIPT: &[&[u8]] = &[
    b"var a = 1;",
    b"alert(\"Hello <b>World</b>\");",
    b"function Foo(x) { var y = x * 2; return y; }",
    b"document.write('<p>hi</p>');",
    b"e = \"a@b.c\";",
    b"if (a < b && c > d) { a++; }",
    b"eval(\"alert(1)\");",
    b"document.write(unescape('%3Cb%3E'));",
    b"// comment\r\n",
    b"MsgBox \"Hi\"",
    b"Dim X",
    b"\r\n",
    b"\n",
    b"\t",
    b"  ",
    b"caf\xc3\xa9",
    b"\x01",
    b"'q'",
    b"&amp;",
    b"<!-- x -->",
    b"</script><p>mid</p><script language=\"jscript.encode\">",
    b"</script><script>var k = 1;</script>",
];

const OPENS: &[&[u8]] = &[
    b"<script language=\"JScript.Encode\">",
    b"<SCRIPT LANGUAGE=\"VBScript.Encode\">",
    b"<script language='jscript.encode' type=\"text/JScript\">",
    b"<script type=\"text/javascript\" language=VBSCRIPT.ENCODE defer>",
    b"<script language=\"JScript&#46;Encode\">",
    b"<script language=\"JScript.Encode\">\r\n  ",
    b"<script language=\"JScript.Encode\">lead Text ",
];

const CLOSES: &[&[u8]] = &[b"</script>", b"\n</script>\n", b" </SCRIPT> ", b""];

const HTML: &[&[u8]] = &[
    b"<p>Some TEXT</p>",
    b"<b>Bold</b>\n",
    b"&amp; &lt;x&gt;",
    b"<!-- c -->",
    b"<script>var q = 'Two';</script>",
    b"<script language=\"JavaScript\">x = 1;</script>",
    b"<img src=\"I.GIF\"><a href=x>L</a>",
    b"\xc3\xa9t\xc3\xa9 ",
    b"\r\n",
];

/// A block that ClamAV may read differently from what its header says: cut short, a header
/// byte garbled, a wrong length (an escape as the last counted byte among them), a broken
/// trailer, or line breaks, white space and odd escapes inside.
fn mangle(rng: &mut Rng, plain: &[u8]) -> Vec<u8> {
    let enc = encode(plain);
    match rng.next(12) {
        0 => enc[..4 + rng.next(enc.len() - 3)].to_vec(),
        1 => {
            let mut e = enc;
            e[4 + rng.next(8)] =
                rng.pick(&[&b"#"[..], b"!", b"~", b" ", b"\n", b"\r", b"*", b"@"])[0];
            e
        }
        2 => {
            let (body, count, sum) = encode_body(plain);
            let wrong = [0, 1, 3, 50, 100_000][rng.next(5)];
            let count = if rng.next(2) == 0 {
                count.saturating_sub(wrong)
            } else {
                count + wrong
            };
            let mut e = b"#@~^".to_vec();
            e.extend_from_slice(&field(count));
            e.extend_from_slice(&body);
            e.extend_from_slice(&field(sum));
            e.extend_from_slice(b"^#~@");
            e
        }
        3 => {
            let mut e = enc[..enc.len() - 6].to_vec();
            e.extend_from_slice(rng.pick(&[&b""[..], b"xx", b"^#~", b"</script>"]));
            e
        }
        4 | 5 => {
            let mut e = enc;
            for _ in 0..1 + rng.next(5) {
                let at = 12 + rng.next(e.len().saturating_sub(24).max(1));
                let ins = rng.pick(&[&b"\r\n"[..], b"\n", b" \n ", b"  ", b"@", b"@x", b"\x00"]);
                e.splice(at..at, ins.iter().copied());
            }
            e
        }
        _ => enc,
    }
}

/// Padding that puts what follows near the end of one of ClamAV's chunks (8,191 bytes, cut
/// back to the last white space), or a long run without white space across one.
fn pad(rng: &mut Rng, d: &mut Vec<u8>) {
    match rng.next(6) {
        0 | 1 => {
            let edge = 8191 * (1 + d.len() / 8191);
            let n = edge.saturating_sub(d.len() + rng.next(40) + 1);
            d.extend(std::iter::repeat_n(b'w', n));
            d.extend_from_slice(rng.pick(&[&b" "[..], b"\n", b"  "]));
        }
        2 => d.extend(std::iter::repeat_n(b'v', 100 + rng.next(9000))),
        _ => {}
    }
}

/// The `i`th page of a set: `<html>` text, plain scripts and encoded blocks, one page in four
/// an ASP page (`<%@ language=…encode %>`, whose blocks are decoded anywhere), with `script`
/// statements (encoded as one block, or encoded blocks inside blocks).
pub fn page(rng: &mut Rng, i: usize, script: Option<&[&[u8]]>) -> Vec<u8> {
    let statements = script.unwrap_or(SCRIPT);
    let mut d = Vec::new();
    let asp = i % 4 == 1;
    if asp {
        d.extend_from_slice(rng.pick(&[
            &b"<%@ LANGUAGE=\"VBScript.Encode\" %>\n"[..],
            b"<%@ Language=JScript.Encode %>",
            b"<%@ language=\"jscript.encode\"%>\r\n",
        ]));
    }
    d.extend_from_slice(b"<html><head><title>T</title></head><body>\n");
    for _ in 0..1 + rng.next(5) {
        if i % 3 == 2 {
            pad(rng, &mut d);
        }
        let mut plain = Vec::new();
        let n = [1, 5, 20, 60, 800][rng.next(5)];
        for _ in 0..n {
            plain.extend_from_slice(rng.pick(statements));
            plain.extend_from_slice(rng.pick(&[&b" "[..], b"\r\n", b""]));
        }
        if rng.next(8) == 0 {
            // A block inside a block.
            let mut outer = b"x = 1;</script><script language=\"jscript.encode\">".to_vec();
            outer.extend_from_slice(&encode(&plain));
            outer.extend_from_slice(b"</script>");
            plain = outer;
        }
        let block = mangle(rng, &plain);
        match rng.next(10) {
            0..=5 => {
                d.extend_from_slice(rng.pick(OPENS));
                d.extend_from_slice(&block);
                d.extend_from_slice(rng.pick(CLOSES));
            }
            6 | 7 => {
                d.extend_from_slice(if asp { b"<%" } else { b" " });
                d.extend_from_slice(&block);
                d.extend_from_slice(if asp { b"%>" } else { b" " });
            }
            _ => {
                d.extend_from_slice(rng.pick(HTML));
                d.extend_from_slice(rng.pick(HTML));
            }
        }
        d.extend_from_slice(rng.pick(&[&b"<p>after</p>"[..], b"", b"\n", b" text "]));
    }
    d.extend_from_slice(b"</body></html>\n");
    d
}
