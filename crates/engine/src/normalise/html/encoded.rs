//! The HTML normaliser's side of scripts encoded with Microsoft's Script Encoder, as ClamAV 1.4
//! does it (see the parent module's documentation): where a block is looked for, its header,
//! what `nocomment` gets around it, and the bound on the extra work. The decoding itself is
//! [`crate::normalise::screnc`]'s.

use super::{Norm, St, CHUNK};
use crate::normalise::screnc;

/// Bytes searched, decoded or read again for encoded scripts per chunk (8 chunks' worth).
pub(super) const MAX_SCRENC_WORK: usize = 8 * CHUNK;

/// What ClamAV keeps about encoded scripts from chunk to chunk.
pub(super) struct Encoded {
    /// The state to return to after `LookforScrenc` (ClamAV's `saved_next_state`).
    saved_next: St,
    /// Every chunk is searched for a block (after `<%@ … language=…encode %>`).
    look_for: bool,
    /// Where to read the chunk again from: just after a block's marker found by the search.
    reread: Option<usize>,
    /// A block is being decoded (and goes on in the next chunk).
    in_block: bool,
    /// The block being decoded.
    decoder: screnc::Decoder,
    /// Bytes searched, decoded or read again in the current chunk.
    work: usize,
}

impl Encoded {
    pub(super) fn new() -> Encoded {
        Encoded {
            saved_next: St::Bad,
            look_for: false,
            reread: None,
            in_block: false,
            decoder: screnc::Decoder::default(),
            work: 0,
        }
    }
}

/// Whether a `language` value names an encoded script (ClamAV compares ignoring case).
fn is_encoded(lang: &[u8]) -> bool {
    lang.eq_ignore_ascii_case(b"jscript.encode") || lang.eq_ignore_ascii_case(b"vbscript.encode")
}

impl Norm {
    /// What ClamAV does on reading a chunk: a block goes on (decoded from the chunk's first
    /// byte, the machine's state left behind), or the chunk is searched.
    pub(super) fn screnc_chunk_start(&mut self) {
        let e = &mut self.enc;
        e.work = 0;
        if e.in_block {
            self.state = St::JsDecodeDecrypt;
            self.next = St::Bad;
        } else if e.look_for && e.reread.is_none() && self.state != St::LookforScrenc {
            e.saved_next = self.next;
            self.next = self.state;
            self.state = St::LookforScrenc;
        }
    }

    /// After a reading of the chunk (of `len` bytes now): where to read it again from, when the
    /// search found a block in it (the machine then reads its header).
    pub(super) fn screnc_reread(&mut self, len: usize) -> Option<usize> {
        let q = self.enc.reread.take()?;
        if self.enc.work >= MAX_SCRENC_WORK {
            return None;
        }
        self.enc.work += len.saturating_sub(q);
        self.state = St::JsDecodeLength;
        self.next = St::Bad;
        Some(q)
    }

    /// `<%@ … %>` (at `ProcessTag`): with an encoded `language`, this chunk from here and every
    /// next one are searched for a block.
    pub(super) fn asp_language(&mut self) {
        if self.args.value(b"language").is_some_and(is_encoded) {
            self.enc.saved_next = self.next;
            self.next = self.state;
            self.enc.look_for = false;
            self.state = St::LookforScrenc;
        }
    }

    /// The `LookforScrenc` state at `p` (consumes no byte): the first marker from `p` on
    /// becomes `//~^` and the chunk will be read again from just after it (no search once the
    /// chunk's [`MAX_SCRENC_WORK`] is spent).
    pub(super) fn look_for_block(&mut self, line: &mut [u8], p: usize) {
        let e = &mut self.enc;
        e.look_for = true;
        e.reread = None;
        if e.work < MAX_SCRENC_WORK {
            match memchr::memmem::find(&line[p..], screnc::START) {
                Some(i) => {
                    e.work += i + screnc::START.len();
                    line[p + i] = b'/';
                    line[p + i + 1] = b'/';
                    e.reread = Some(p + i + screnc::START.len());
                }
                None => e.work += line.len() - p,
            }
        }
        self.state = self.next;
        self.next = e.saved_next;
    }

    /// `<script language="jscript.encode">` (or `vbscript.encode`, at `ProcessTag`): ClamAV
    /// writes the tag again with the plain language, every value lower-cased, and reads the
    /// script's bytes up to its block in `JsDecode`.
    pub(super) fn encoded_script(&mut self) {
        let Some(lang) = self.args.value(b"language").filter(|v| is_encoded(v)) else {
            return;
        };
        let plain: &[u8] = if lang.first().is_some_and(|c| c.eq_ignore_ascii_case(&b'j')) {
            b"javascript"
        } else {
            b"vbscript"
        };
        self.args.set_value(b"language", plain);
        self.state = St::SkipWs;
        self.next = St::JsDecode;
        self.out.push(b'<');
        self.out.extend_from_slice(&self.tag);
        for (name, value) in self.args.iter() {
            self.out.push(b' ');
            self.out.extend_from_slice(name);
            if let Some(v) = value {
                self.out.extend_from_slice(b"=\"");
                self.out.extend(v.iter().map(u8::to_ascii_lowercase));
                self.out.push(b'"');
            }
        }
        self.out.push(b'>');
    }

    /// The `JsDecode` state at `p`: the marker (which becomes `//~^`) starts the block's
    /// header; any other byte goes to `nocomment` lower-cased. Returns the next position.
    pub(super) fn js_decode(&mut self, line: &mut [u8], p: usize) -> usize {
        if !line[p..].starts_with(screnc::START) {
            self.out.push(line[p].to_ascii_lowercase());
            return p + 1;
        }
        line[p] = b'/';
        line[p + 1] = b'/';
        self.state = St::JsDecodeLength;
        self.next = St::Bad;
        p + screnc::START.len()
    }

    /// The `JsDecodeLength` state at `p`: a block's header (its length and `==`), or text when
    /// the chunk has fewer than 8 bytes left (or its [`MAX_SCRENC_WORK`] is spent). Returns the
    /// next position.
    pub(super) fn screnc_header(&mut self, line: &mut [u8], p: usize) -> usize {
        let header = line
            .get(p..p + 8)
            .and_then(|h| <[u8; 6]>::try_from(&h[..6]).ok());
        let Some(field) = header.filter(|_| self.enc.work < MAX_SCRENC_WORK) else {
            self.state = St::Norm;
            self.next = St::Bad;
            return p;
        };
        self.enc.decoder = screnc::Decoder::new(screnc::field_value(&field));
        self.enc.in_block = true;
        self.state = St::JsDecodeDecrypt;
        self.next = St::Bad;
        // ClamAV ends the header with a line feed, for the JavaScript normaliser (the marker
        // became `//`: a comment to here).
        line[p + 7] = b'\n';
        p + 8
    }

    /// The `JsDecodeDecrypt` state at `p`: the block decoded in place from `p` (to its length
    /// or the chunk's end), then read on in `Norm`.
    pub(super) fn screnc_decrypt(&mut self, line: &mut Vec<u8>, p: usize) {
        let e = &mut self.enc;
        e.work += e.decoder.decode(line, p);
        if e.decoder.done() {
            e.in_block = false;
        }
        self.state = St::Norm;
        self.next = St::Bad;
    }
}

#[cfg(test)]
mod tests {
    use crate::normalise::html;
    use crate::normalise::screnc::testing::encode;

    fn page(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// A page and its `nocomment`, `notags` and `javascript` views.
    type Case = (Vec<u8>, &'static [u8], &'static [u8], &'static [u8]);

    /// `(page, nocomment, notags, javascript)` as clamscan 1.4.6 writes them (`--leave-temps`).
    #[test]
    fn encoded_scripts_as_clamav() {
        let js: &[u8] = b"var Greeting = 'Hi <b>there</b>';\r\nalert(Greeting);";
        let enc = encode(js);
        let cases: Vec<Case> = vec![
            (
                page(&[
                    b"<html><script language=\"JScript.Encode\" type=text/JScript>",
                    &enc,
                    b"</script><p>After</p></html>",
                ]),
                b"<html><script language=\"jscript.encode\" type=text/jscript><script language=\"javascript\" type=\"text/jscript\">vargreeting=\"hi<b>there</b>\";alert(greeting);</script><p>after</p></html>",
                b" after ",
                b"<script>var n000=\"hi <b>there</b>\";alert(n000);</script>",
            ),
            (
                page(&[
                    b"<html><SCRIPT LANGUAGE=VBScript.Encode>",
                    &encode(b"MsgBox \"Hi\"\r\nDim X\r\n"),
                    b"</SCRIPT></html>",
                ]),
                b"<html><script language=vbscript.encode><script language=\"vbscript\">msgbox\"hi\"dimx</script></html>",
                b" ",
                b"<script>msgbox\"hi\"dim x</script>",
            ),
            // A block after `<%@ … %>`: the chunk read as it is, then again from the block on.
            (
                page(&[
                    b"<%@ LANGUAGE=\"JScript.Encode\" %>\n<html><body>Text ",
                    &encode(b"Response.Write(\"<b>hi</b>\")"),
                    b" more</body></html>",
                ]),
                b"<%@ language=\"jscript.encode\" %><html><body>text //~^hwaaaa==]\x7f/2kxk+rqdbo+vj@!4@*tr@!j4@*rb1qgaaa==^#~@ more</body></html>response.write(\"<b>hi</b>\") more</body></html>",
                b" text //~^hwaaaa==]\x7f/2kxk+rqdbo+vj@!4@*tr@!j4@*rb1qgaaa==^#~@ more response.write(\" hi \") more ",
                b"",
            ),
            // No block: the rest of the page written lower-cased as it is.
            (
                b"<html><script language=\"JScript.Encode\">Var X = 1;\n  Y\t= 2;</script><p>After TEXT</p></html>".to_vec(),
                b"<html><script language=\"jscript.encode\"><script language=\"javascript\">var x = 1;   y\t= 2;</script><p>after text</p></html>",
                b" ",
                b"<script>var x=1;y=2;</script><p>after text</p></html></script>",
            ),
            // Cut short.
            (
                page(&[b"<html><script language=\"JScript.Encode\">", &enc[..30]]),
                b"<html><script language=\"jscript.encode\"><script language=\"javascript\">vargreeting=\"hi",
                b" ",
                b"<script>var n000=\"hi\"</script>",
            ),
            // A header shorter than 8 bytes: read as text.
            (
                b"<html><script language=\"JScript.Encode\">Lead #@~^AbC".to_vec(),
                b"<html><script language=\"jscript.encode\"><script language=\"javascript\">lead abc",
                b" ",
                b"<script>lead</script>",
            ),
            // A garbled length: ClamAV's arithmetic makes it 61,439, decoding to the end.
            (
                page(&[
                    b"<html><script language=\"JScript.Encode\">#@~^A#AAAA==",
                    &enc[12..],
                    b"</script><p>x</p></html>",
                ]),
                b"<html><script language=\"jscript.encode\"><script language=\"javascript\">vargreeting=\"hi<b>there</b>\";alert(greeting);cjwebb~~l)\xff\x7fl.ou;h><q>n<cq><cwmc:>",
                b" \x00",
                b"<script>var n000=\"hi <b>there</b>\";alert(n000);cjwebb~~l)l.ou;h><q>n<cq><cwmc:></script>",
            ),
        ];
        for (input, nocomment, notags, javascript) in cases {
            let v = crate::normalise::html(&input);
            for (view, ours, theirs) in [
                ("nocomment", &v.nocomment[..], nocomment),
                ("notags", &v.notags[..], notags),
                ("javascript", &v.javascript[..], javascript),
            ] {
                assert_eq!(
                    ours.escape_ascii().to_string(),
                    theirs.escape_ascii().to_string(),
                    "{view} of {}",
                    input.escape_ascii()
                );
            }
        }
    }

    /// Blocks inside blocks (in scripts, and after `<%@ … %>`, read again and again) and
    /// `<%@ … %>` over and over, one such unit per chunk over 2 MB: the extra work per chunk
    /// stops at `MAX_SCRENC_WORK`, so the views stay within a few times the page's size.
    #[test]
    fn hostile_encoded_pages_are_bounded() {
        let mut nested = b"alert(1);".to_vec();
        for _ in 0..30 {
            let mut outer = b"</script><script language=\"jscript.encode\">".to_vec();
            outer.extend_from_slice(&encode(&nested));
            nested = outer;
        }
        let mut asp = b"alert(1);".to_vec();
        for _ in 0..40 {
            let mut outer = b"<%@ language=jscript.encode %>".to_vec();
            outer.extend_from_slice(&encode(&asp));
            asp = outer;
        }
        let mut many = Vec::new();
        for _ in 0..200 {
            many.extend_from_slice(b"<%@ language=jscript.encode %>");
        }
        many.extend_from_slice(&b"#@~^".repeat(60));
        many.push(b' ');
        let t = std::time::Instant::now();
        for mut unit in [
            [&b"<html><script>"[..], &nested, b"</script></html>"].concat(),
            // A marker first, which the search at the chunk's start finds, so that the one
            // after `<%@ … %>` finds the block (and the chunk is read again, and again).
            [&b"#@~^ <html>"[..], &asp, b"</html>"].concat(),
            [&b"<html>"[..], &many].concat(),
        ] {
            // One unit per chunk (8,191 bytes, the last white space).
            assert!(unit.len() < super::CHUNK - 1);
            unit.resize(super::CHUNK - 1, b' ');
            let mut d = Vec::new();
            while d.len() < 2 << 20 {
                d.extend_from_slice(&unit);
            }
            let v = html::normalise(&d, true);
            // (The page of `<%@ … %>` blocks in blocks gets 12 times its size without the
            // bound, 4 with it.)
            assert!(v.0.len() <= 6 * d.len(), "{} for {}", v.0.len(), d.len());
            assert!(v.2.len() <= 6 * d.len(), "{} for {}", v.2.len(), d.len());
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(60));
    }
}
