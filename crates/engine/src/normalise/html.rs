//! ClamAV 1.4's HTML normaliser (`nocomment.html` and `notags.html`), reproduced byte for byte as
//! a state machine, quirks included, because target 3 signatures are written against its output.
//!
//! What matters for equality with ClamAV, learnt from its behaviour and checked on real pages with
//! `bench/html-views.sh` (clamscan `--leave-temps` beside this code):
//! * the input is read in chunks of at most 8,191 bytes without NUL bytes, each cut back to just
//!   after its last white space when the next byte is not white space, and the white space at the
//!   start of every chunk is skipped (so a line break that starts a chunk vanishes);
//! * LF is read as a space and CR is dropped everywhere but inside `data:` URIs;
//! * tags, attribute names and unquoted values are lower-cased; values keep `"`-quotes (single
//!   quotes become double), white space inside a quoted value is kept as one byte and ends the
//!   quoting; white space after a tag or comment is dropped, elsewhere collapsed to one space;
//! * `<!…>` is removed up to the first `>`; inside `<script>` it is kept without white space;
//!   script content is lower-cased, without white space, `'` made `"`;
//! * character references are decoded (see [`super::entities`]; numeric ones below 0x80
//!   lower-cased, 0x80–0xfe as the byte, others as `&#xhhhh;` of their low 16 bits), in text and
//!   in attribute values; a bare `&#65` gives the byte itself;
//! * bytes from 0x80 are grouped (up to three) as ClamAV groups multi-byte characters, three of
//!   them (。 ． ﹒) written as `.`;
//! * the `notags` view gets the text (lower-cased, one space for any run of white space, tag or
//!   reference) and the `href` of `<a>` and `src` of `<img>` as written, and ClamAV's own slip:
//!   for a non-ASCII character it writes the middle byte where the last belongs;
//! * `data:` URI payloads are left out of `nocomment` (only `"data"` remains).
//!
//! It also feeds each script to the JavaScript normaliser ([`super::js`]) where ClamAV does: from
//! the first non-blank byte after `<script …>`, chunk by chunk (line feeds read as spaces), up to
//! the first non-blank byte after `</script>`; a script still open at the end is finished there.
//!
//! Scripts encoded with Microsoft's Script Encoder are decoded where ClamAV decodes them
//! ([`encoded`] finds them, [`super::screnc`] decodes a block in place in the chunk, as ClamAV
//! does, and the machine goes on over the decoded text as over any other):
//! * after `<script language="jscript.encode">` (or `vbscript.encode`, any case), `nocomment`
//!   gets the tag again with that language as `javascript` (or `vbscript`) and every attribute
//!   value lower-cased; then the bytes up to `#@~^` are written lower-cased as they are (white
//!   space included but CR, to the end of the page if no block follows), and nothing to
//!   `notags`; the block's header is left out and, for the JavaScript normaliser, becomes `//~^`
//!   + 6 bytes + `=` and a line feed;
//! * after `<%@ … language="jscript.encode" %>` (or `vbscript.encode`), the rest of the chunk,
//!   then every following chunk, is searched for `#@~^`; a chunk that has it is read to its end
//!   as it is (the marker turned into `//~^`), then read again from just after the marker,
//!   decoding (so the text after the marker appears twice, and the script's part of the chunk
//!   goes to the JavaScript normaliser twice); a later block in the same chunk is decoded only
//!   if another `<%@ … %>` searches for it, the last search's result counting;
//! * a block longer than its chunk goes on in the next one (whatever state the machine was in,
//!   it reads the next chunk's decoded text from `Norm`); a header cut by the chunk's end is
//!   read as text.
//!
//! Bounded where ClamAV is not: what encoded scripts add to the reading of a chunk (searching
//! it, decoding, reading it again) stops at [`encoded::MAX_SCRENC_WORK`] bytes; past it, a
//! further block's header is read as text, the search finds nothing and the chunk is not read
//! again. Only hostile pages get there (blocks encoded in blocks, `<%@ … %>` over and over),
//! which could otherwise make the work and the views grow with the square of the chunk's size; a
//! page read as ClamAV reads it needs a few times the chunk's size at most.

mod args;
mod encoded;

use super::entities::ENTITIES;

/// ClamAV's chunk buffer size (a chunk holds one byte less).
const CHUNK: usize = 8192;

/// ClamAV's bound on tag names, attribute names and values it keeps (`HTML_STR_LENGTH`).
const STR_MAX: usize = 1024;

/// C's `isspace` in the C locale.
const fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// A table of the bytes `b` for which `pred` holds (built at compile time).
macro_rules! byte_table {
    (|$b:ident| $pred:expr) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let $b = i as u8;
            t[i] = $pred;
            i += 1;
        }
        t
    }};
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Bad,
    Norm,
    EightBit,
    Comment,
    CharRef,
    EntityRef,
    SkipWs,
    TrimWs,
    Tag,
    TagArg,
    TagArgVal,
    TagArgEqual,
    ProcessTag,
    CharRefDecode,
    DataType,
    DataInit,
    DataBody,
    DataFinish,
    DataEsc,
    EscapeChar,
    /// ClamAV's `HTML_LOOKFOR_SCRENC`: search the rest of the chunk for a block.
    LookforScrenc,
    /// ClamAV's `HTML_JSDECODE`: an encoded script's bytes before its block.
    JsDecode,
    /// ClamAV's `HTML_JSDECODE_LENGTH`: a block's header.
    JsDecodeLength,
    /// ClamAV's `HTML_JSDECODE_DECRYPT`: decode in place, then read on in `Norm`.
    JsDecodeDecrypt,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Quoted {
    Single,
    Double,
    Not,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Raw {
    None,
    Script,
    Style,
}

/// The normaliser's state between bytes (and chunks).
struct Norm {
    out: Vec<u8>,
    text: Option<Vec<u8>>,
    state: St,
    next: St,
    tag: Vec<u8>,
    tag_arg: Vec<u8>,
    tag_val: Vec<u8>,
    /// Attributes of the current tag: name, value (without its opening quote and last byte).
    args: args::Args,
    quoted: Quoted,
    value: i64,
    hex: bool,
    esc_len: u32,
    entity: Vec<u8>,
    /// Inside `<script>` or `<style>` (both read the same way).
    in_script: bool,
    /// Which of the two, since only its own end tag ends it.
    raw: Raw,
    text_space: bool,
    binary: bool,
    mbchar: u32,
    mbchar2: u32,
    /// The script being normalised by the JavaScript normaliser, and where it starts in the
    /// current chunk (`None`: at the chunk's start).
    js: Option<super::js::Script>,
    js_begin: Option<usize>,
    /// The JavaScript view (ClamAV's `javascript`).
    js_view: Vec<u8>,
    /// Scripts encoded with Microsoft's Script Encoder.
    enc: encoded::Encoded,
    /// Text runs, tag and attribute names and plain runs of attribute values are written in
    /// bulk, and white space after a step passed at once (false only to test the byte steps
    /// against it).
    bulk: bool,
}

/// The bytes ClamAV writes for a 16-bit code point (`u16_normalize`).
fn push_u16(out: &mut Vec<u8>, u: u16) {
    match u {
        0 => {}
        1..=0xfe => out.push(u as u8),
        0x3002 | 0xff0e | 0xfe52 => out.push(b'.'),
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"&#x");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[usize::from((u >> shift) & 0xf)]);
            }
            out.push(b';');
        }
    }
}

fn entity(name: &[u8]) -> Option<u16> {
    ENTITIES
        .binary_search_by(|(n, _)| n.as_bytes().cmp(name))
        .ok()
        .map(|i| ENTITIES[i].1)
}

/// The bytes ClamAV writes for a group of up to three non-ASCII bytes `mb` (its leading zero
/// bytes left out), and how many.
fn mb_bytes(mb: u32) -> ([u8; 3], usize) {
    let [_, c0, c1, c2] = mb.to_be_bytes();
    match (c0, c1) {
        (0, 0) => ([c2, 0, 0], 1),
        (0, _) => ([c1, c2, 0], 2),
        _ => ([c0, c1, c2], 3),
    }
}

/// The value of a digit of a character reference or `%` escape (decimal, or hex when `c` is
/// a hex letter).
fn digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c.to_ascii_lowercase() - b'a' + 10,
    }
}

/// The position of the first byte from `p` on that is not white space, the line feeds before it
/// turned into spaces (as ClamAV does to every byte it reads, outside `data:` payloads).
fn skip_ws(line: &mut [u8], mut p: usize, binary: bool) -> usize {
    while let Some(b) = line.get_mut(p) {
        if !is_space(*b) {
            break;
        }
        if *b == b'\n' && !binary {
            *b = b' ';
        }
        p += 1;
    }
    p
}

/// A byte [`Norm::text_run`] writes as it is (lower-cased): printable ASCII but `<` and `&`.
/// Written without short-circuits, so that [`plain_run`]'s block check vectorises.
const fn is_plain(b: u8) -> bool {
    (b > b' ') & (b < 0x80) & (b != b'<') & (b != b'&')
}

/// [`is_plain`] as a table (one load per byte in [`plain_run`]'s byte loop).
const PLAIN: [bool; 256] = byte_table!(|b| is_plain(b));

/// Bytes [`plain_run`] checks at once.
const RUN_BLOCK: usize = 16;

/// The end of the run from `p` that [`Norm::text_run`] may write in bulk: plain bytes and,
/// outside scripts, single spaces between two plain bytes (a run never starts with a space).
fn plain_run(line: &[u8], p: usize, script: bool) -> usize {
    if !line.get(p).is_some_and(|&b| PLAIN[b as usize]) {
        return p;
    }
    let mut e = p + 1;
    let spaces = !script;
    // Whole blocks of words and single spaces: every byte plain, or (outside scripts) a space
    // before a plain byte (so never after another space: the byte before a block is in the run,
    // and a space is in it only before a plain byte). Lane by lane over a fixed array, written
    // so that the compiler makes it a few vector instructions.
    while let Some(w) = line.get(e..e + RUN_BLOCK + 1) {
        let Ok(w) = <&[u8; RUN_BLOCK + 1]>::try_from(w) else {
            break;
        };
        let mut bad = 0u8;
        for k in 0..RUN_BLOCK {
            let (b, n) = (w[k], w[k + 1]);
            bad |= u8::from(!(is_plain(b) | (spaces & (b == b' ') & is_plain(n))));
        }
        if bad != 0 {
            break;
        }
        e += RUN_BLOCK;
    }
    while let Some(&b) = line.get(e) {
        if PLAIN[b as usize] {
            e += 1;
        } else if spaces && b == b' ' && line.get(e + 1).is_some_and(|&n| PLAIN[n as usize]) {
            e += 2;
        } else {
            break;
        }
    }
    e
}

/// Bytes that go on a tag's name in `Tag` (after its first byte): anything but white space
/// and `>`.
const TAG_NAME: [bool; 256] = byte_table!(|b| !is_space(b) && b != b'>');

/// Bytes that go on an attribute's name in `TagArg` (after its first byte): anything but white
/// space, `=` and `>`.
const ARG_NAME: [bool; 256] = byte_table!(|b| !is_space(b) && b != b'>' && b != b'=');

/// Bytes of an attribute value that `TagArgVal` writes as they are (lower-cased) and keeps:
/// printable ASCII but quotes, `&` and `>` (anything else takes the byte steps).
const ARG_VALUE: [bool; 256] =
    byte_table!(|b| b > b' ' && b < 0x80 && !matches!(b, b'&' | b'\'' | b'"' | b'>'));

/// The end of the run of bytes from `p` that `set` holds.
fn run_end(line: &[u8], p: usize, set: &[bool; 256]) -> usize {
    line.get(p..)
        .and_then(|rest| rest.iter().position(|&b| !set[usize::from(b)]))
        .map_or(line.len(), |n| p + n)
}

/// Writes `run` lower-cased to `out`, and to `keep` (as it is, or lower-cased when `lower`) up
/// to [`STR_MAX`] bytes, as the byte steps of a name or value do.
fn push_run(out: &mut Vec<u8>, keep: &mut Vec<u8>, run: &[u8], lower: bool) {
    out.extend(run.iter().map(u8::to_ascii_lowercase));
    let kept = &run[..run.len().min(STR_MAX.saturating_sub(keep.len()))];
    if lower {
        keep.extend(kept.iter().map(u8::to_ascii_lowercase));
    } else {
        keep.extend_from_slice(kept);
    }
}

/// True while an attribute value read so far (with its opening quote) may still become a
/// `data:` URI, which [`Norm::tag_arg_val`] checks before every byte.
fn may_become_data(val: &[u8]) -> bool {
    b"data:".starts_with(val.strip_prefix(b"\"").unwrap_or(val))
}

/// The three multi-byte sequences ClamAV writes as `.`.
fn is_dot(mb: u32) -> bool {
    matches!(mb, 0xE3_8082 | 0xEF_BC8E | 0xEF_B992)
}

impl Norm {
    fn new(want_text: bool, cap: usize) -> Norm {
        Norm {
            out: Vec::with_capacity(cap),
            text: want_text.then(|| Vec::with_capacity(cap / 2)),
            state: St::Norm,
            next: St::Bad,
            tag: Vec::new(),
            tag_arg: Vec::new(),
            tag_val: Vec::new(),
            args: args::Args::default(),
            quoted: Quoted::Not,
            value: 0,
            hex: false,
            esc_len: 0,
            entity: Vec::new(),
            in_script: false,
            raw: Raw::None,
            text_space: false,
            binary: false,
            mbchar: 0,
            mbchar2: 0,
            js: None,
            js_begin: None,
            js_view: Vec::new(),
            enc: encoded::Encoded::new(),
            bulk: true,
        }
    }

    fn text(&mut self, c: u8) {
        if let Some(t) = self.text.as_mut() {
            t.push(c);
        }
    }

    /// One space in `notags` unless one was just written (outside scripts).
    fn text_space(&mut self) {
        if !self.text_space && !self.in_script {
            self.text(b' ');
            self.text_space = true;
        }
    }

    fn val_push(&mut self, c: u8) {
        if self.tag_val.len() < STR_MAX {
            self.tag_val.push(c);
        }
    }

    /// Keeps a byte of a decoded reference in the attribute value when one is being read.
    fn ref_val(&mut self, c: u8) {
        if self.next == St::TagArgVal {
            self.val_push(c);
        }
    }

    fn add_arg(&mut self, with_value: bool) {
        // Only `href` (of `<a>`), `src` (of `<img>`), `language` (of `<%@ … %>`) and the
        // attributes of `<script>` (written again for an encoded one, `encoded.rs`) are ever
        // read: no other attribute is kept.
        if self.tag != b"script"
            && !matches!(self.tag_arg.as_slice(), b"href" | b"src" | b"language")
        {
            return;
        }
        // ClamAV keeps a C string: a NUL from a reference (`&#0;`) ends the value.
        let val = match self.tag_val.iter().position(|&b| b == 0) {
            Some(z) => &self.tag_val[..z],
            None => &self.tag_val[..],
        };
        let value = with_value.then(|| match val.split_first() {
            Some((b'"', rest)) => &rest[..rest.len().saturating_sub(1)],
            _ => val,
        });
        self.args.push(&self.tag_arg, value);
    }

    /// Writes the pending non-ASCII bytes of an attribute value (`mbchar2`); false when ClamAV
    /// then skips the current byte.
    fn flush_mb2(&mut self, c: u8) -> bool {
        let mb = self.mbchar2;
        if mb == 0 || (c >= 0x80 && mb < 0x1_0000) {
            return true;
        }
        self.mbchar2 = 0;
        if is_dot(mb) || (mb == 0xA1 && matches!(c, 0x43 | 0x44 | 0x4F)) {
            self.out.push(b'.');
            self.val_push(b'.');
            return mb != 0xA1;
        }
        let (b, n) = mb_bytes(mb);
        for &c in &b[..n] {
            self.out.push(c);
            self.val_push(c);
        }
        true
    }

    /// Processes one chunk (NUL-free, as ClamAV reads it, in ClamAV's buffer: decoding an
    /// encoded script shrinks it); `Err(())` once the machine failed.
    fn chunk(&mut self, line: &mut Vec<u8>) -> Result<(), ()> {
        self.screnc_chunk_start();
        // ClamAV's guard against a loop between chunks.
        if self.next == self.state {
            self.next = St::Bad;
        }
        self.pass(line, 0)?;
        while let Some(q) = self.screnc_reread(line.len()) {
            self.pass(line, q)?;
        }
        Ok(())
    }

    /// One reading of the chunk from `from` (its white space skipped) to its end.
    fn pass(&mut self, line: &mut Vec<u8>, from: usize) -> Result<(), ()> {
        let mut p = from
            + line[from.min(line.len())..]
                .iter()
                .position(|&c| !is_space(c))
                .unwrap_or(line.len().saturating_sub(from));
        // ClamAV turns each line feed it reads into a space in its buffer, which the JavaScript
        // normaliser reads: so does every state here, one byte at a time or in a run.
        while p < line.len() {
            if !self.binary && line[p] == b'\n' {
                line[p] = b' ';
            }
            if !self.binary && line[p] == b'\r' {
                p += 1;
                continue;
            }
            let c = line[p];
            match self.state {
                St::Bad => return Err(()),
                St::SkipWs => {
                    if is_space(c) {
                        p = skip_ws(line, p + 1, self.binary);
                    } else {
                        self.state = self.next;
                        self.next = St::Bad;
                    }
                }
                St::TrimWs => {
                    if is_space(c) {
                        p = skip_ws(line, p + 1, self.binary);
                    } else {
                        if !self.in_script {
                            self.out.push(b' ');
                        }
                        self.state = self.next;
                        self.next = St::Bad;
                    }
                }
                St::EightBit => {
                    if c < 0x80 || self.mbchar >= 0x1_0000 {
                        let mb = self.mbchar;
                        if is_dot(mb) || (mb == 0xA1 && matches!(c, 0x43 | 0x44 | 0x4F)) {
                            self.out.push(b'.');
                            self.text(b'.');
                            if mb == 0xA1 {
                                p += 1;
                                self.mbchar = 0;
                                continue;
                            }
                        } else {
                            let (b, n) = mb_bytes(mb);
                            self.out.extend_from_slice(&b[..n]);
                            for &c in &b[..n - 1] {
                                self.text(c);
                            }
                            // ClamAV writes the middle byte where the last belongs (its slip,
                            // reproduced).
                            self.text(mb.to_be_bytes()[2]);
                        }
                        self.mbchar = 0;
                        self.state = self.next;
                        self.next = St::Norm;
                    } else {
                        self.mbchar = (self.mbchar << 8) | u32::from(c);
                        p += 1;
                    }
                }
                St::Norm => p = self.norm(line, p),
                St::Tag => {
                    if self.tag.is_empty() && c == b'!' {
                        if self.in_script {
                            self.out.push(b'!');
                        } else {
                            self.out.pop();
                        }
                        self.state = St::Comment;
                        self.next = St::Bad;
                        p += 1;
                    } else if c == b'>' {
                        self.out.push(b'>');
                        p += 1;
                        self.state = St::SkipWs;
                        self.next = St::ProcessTag;
                    } else if !is_space(c) {
                        let l = c.to_ascii_lowercase();
                        self.out.push(l);
                        if self.in_script && self.tag.is_empty() && c != b'/' {
                            self.state = St::Norm;
                        }
                        if self.tag.len() < STR_MAX {
                            self.tag.push(l);
                        }
                        p += 1;
                        // The rest of the name in one go: past its first byte, every byte
                        // but white space and `>` takes the step above.
                        if self.bulk && self.state == St::Tag {
                            let e = run_end(line, p, &TAG_NAME);
                            push_run(&mut self.out, &mut self.tag, &line[p..e], true);
                            p = e;
                        }
                    } else {
                        self.state = St::SkipWs;
                        self.tag_arg.clear();
                        self.next = if self.in_script {
                            St::ProcessTag
                        } else {
                            St::TagArg
                        };
                    }
                }
                St::TagArg => {
                    if c == b'=' {
                        self.out.push(b'=');
                        p += 1;
                        self.start_value();
                    } else if is_space(c) {
                        p += 1;
                        self.state = St::SkipWs;
                        self.next = St::TagArgEqual;
                    } else if c == b'>' {
                        self.out.push(b'>');
                        if !self.tag_arg.is_empty() {
                            self.add_arg(false);
                        }
                        p += 1;
                        self.state = St::ProcessTag;
                        self.next = St::Bad;
                    } else {
                        if self.tag_arg.is_empty() {
                            self.out.push(b' ');
                        }
                        let l = c.to_ascii_lowercase();
                        self.out.push(l);
                        if self.tag_arg.len() < STR_MAX {
                            self.tag_arg.push(l);
                        }
                        p += 1;
                        // The rest of the name in one go (the same step for each byte).
                        if self.bulk {
                            let e = run_end(line, p, &ARG_NAME);
                            push_run(&mut self.out, &mut self.tag_arg, &line[p..e], true);
                            p = e;
                        }
                    }
                }
                St::TagArgEqual => {
                    if c == b'=' {
                        self.out.push(b'=');
                        p += 1;
                        self.start_value();
                    } else {
                        if !self.tag_arg.is_empty() {
                            self.add_arg(false);
                        }
                        self.tag_arg.clear();
                        self.state = St::TagArg;
                        self.next = St::Bad;
                    }
                }
                St::TagArgVal => p = self.tag_arg_val(line, p),
                St::Comment => {
                    if self.in_script && !is_space(c) {
                        let l = c.to_ascii_lowercase();
                        self.out.push(if l == b'\'' { b'"' } else { l });
                    }
                    if c == b'>' {
                        self.state = St::SkipWs;
                        self.next = St::Norm;
                    }
                    p += 1;
                }
                St::ProcessTag => self.process_tag(line, p),
                St::CharRef => {
                    if c == b'#' {
                        self.value = 0;
                        self.hex = false;
                        self.state = St::CharRefDecode;
                        p += 1;
                    } else {
                        self.state = St::EntityRef;
                    }
                }
                St::EntityRef => {
                    if c == b';' {
                        if let Some(u) = entity(&self.entity) {
                            let start = self.out.len();
                            push_u16(&mut self.out, u);
                            for i in start..self.out.len() {
                                let b = self.out[i];
                                self.ref_val(b);
                            }
                        } else {
                            self.dump_entity(true);
                        }
                        self.entity.clear();
                        self.state = self.next;
                        self.next = St::Bad;
                        p += 1;
                    } else if (c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'-'))
                        && self.entity.len() < STR_MAX
                    {
                        self.entity.push(c);
                        p += 1;
                    } else {
                        self.dump_entity(false);
                        self.state = self.next;
                        self.next = St::Bad;
                        self.entity.clear();
                    }
                }
                St::CharRefDecode => {
                    if self.value == 0 && (c == b'x' || c == b'X') {
                        self.hex = true;
                        p += 1;
                    } else if c == b';' {
                        let v = self.value;
                        self.ref_val(v as u8);
                        if v < 0x80 {
                            self.out.push((v as u8).to_ascii_lowercase());
                        } else {
                            push_u16(&mut self.out, v as u16);
                        }
                        self.state = self.next;
                        self.next = St::Bad;
                        p += 1;
                    } else if c.is_ascii_digit() || (self.hex && c.is_ascii_hexdigit()) {
                        if self.hex && (self.value >> 32) * 16 < i64::from(i32::MAX) {
                            self.value = self.value.wrapping_mul(16);
                        } else if (self.value >> 32) * 10 < i64::from(i32::MAX) {
                            self.value = self.value.wrapping_mul(10);
                        } else {
                            self.out.push(self.value as u8);
                            self.state = self.next;
                            self.next = St::Bad;
                            p += 1;
                            continue;
                        }
                        self.value = self.value.wrapping_add(i64::from(digit(c)));
                        p += 1;
                    } else {
                        self.out.push(self.value as u8);
                        self.state = self.next;
                        self.next = St::Bad;
                    }
                }
                St::DataType => p = self.data_type(c, p),
                St::DataInit => {
                    self.state = St::DataBody;
                    self.binary = true;
                }
                St::DataBody => {
                    match c {
                        b'&' => {
                            self.state = St::CharRef;
                            self.next = St::DataBody;
                        }
                        b'%' => {
                            self.esc_len = 0;
                            self.value = 0;
                            self.state = St::EscapeChar;
                            self.next = St::DataEsc;
                        }
                        b'\'' if self.quoted == Quoted::Single => self.state = St::DataFinish,
                        b'"' if self.quoted == Quoted::Double => self.state = St::DataFinish,
                        _ if (is_space(c) || c == b'>') && self.quoted == Quoted::Not => {
                            self.state = St::DataFinish
                        }
                        // The payload itself (ClamAV scans it as its own file).
                        _ => {}
                    }
                    p += 1;
                }
                St::DataFinish => {
                    self.state = St::SkipWs;
                    self.quoted = Quoted::Not;
                    self.next = St::TagArg;
                    self.binary = false;
                }
                St::DataEsc => self.state = St::DataBody,
                St::EscapeChar => {
                    if (self.value >> 32) * 16 < i64::from(i32::MAX) {
                        self.value = self.value.wrapping_mul(16);
                    } else {
                        self.state = self.next;
                        self.next = St::Bad;
                        p += 1;
                        continue;
                    }
                    self.esc_len += 1;
                    if c.is_ascii_hexdigit() {
                        self.value += i64::from(digit(c));
                    } else {
                        self.state = self.next;
                    }
                    if self.esc_len == 2 {
                        self.state = self.next;
                    }
                    p += 1;
                }
                St::LookforScrenc => self.look_for_block(line, p),
                St::JsDecode => p = self.js_decode(line, p),
                St::JsDecodeLength => p = self.screnc_header(line, p),
                St::JsDecodeDecrypt => self.screnc_decrypt(line, p),
            }
            // Most steps in tags end in `SkipWs`: its white space passed and the next state
            // entered here, as the `SkipWs` step would, without another trip through the
            // dispatch above.
            if self.bulk && self.state == St::SkipWs {
                p = skip_ws(line, p, self.binary);
                if p < line.len() {
                    self.state = self.next;
                    self.next = St::Bad;
                }
            }
        }
        // The script's part in this chunk.
        if self.js.is_some() {
            let from = self.js_begin.take().unwrap_or(0);
            self.feed_js(line, from, line.len());
        }
        Ok(())
    }

    fn start_value(&mut self) {
        self.state = St::SkipWs;
        self.quoted = Quoted::Not;
        self.tag_val.clear();
        self.next = St::TagArgVal;
    }

    /// An unknown or unfinished reference, written back lower-cased (with its `;` when `semi`).
    fn dump_entity(&mut self, semi: bool) {
        self.out.push(b'&');
        self.ref_val(b'&');
        for i in 0..self.entity.len() {
            let l = self.entity[i].to_ascii_lowercase();
            self.out.push(l);
            self.ref_val(l);
        }
        if semi {
            self.ref_val(b';');
            self.out.push(b';');
        }
    }

    /// The `Norm` state: text outside tags. Returns the next position.
    fn norm(&mut self, line: &mut [u8], p: usize) -> usize {
        let c = line[p];
        match c {
            b'<' => {
                self.out.push(b'<');
                if !self.in_script && !self.text_space {
                    self.text(b' ');
                    self.text_space = true;
                }
                self.state = St::SkipWs;
                self.tag.clear();
                self.next = St::Tag;
                p + 1
            }
            b'&' => {
                self.text_space();
                self.state = St::CharRef;
                self.next = St::Norm;
                p + 1
            }
            0x80.. => {
                self.state = St::EightBit;
                self.next = St::Norm;
                self.mbchar = u32::from(c);
                p + 1
            }
            // Text and white space.
            _ => self.text_run(line, p),
        }
    }

    /// A run of plain text in `Norm` in one loop, with the same effect as ClamAV's byte-by-byte
    /// steps: CR skipped, line feeds turned into spaces (both outside `data:` payloads), a run
    /// of white space one space (none in scripts) before the next byte; stops before `<`, `&`,
    /// a non-ASCII byte or the end of the chunk (in white space, the machine is left in
    /// `TrimWs`). Returns the next position.
    fn text_run(&mut self, line: &mut [u8], p: usize) -> usize {
        let Norm {
            out,
            text,
            text_space,
            in_script,
            binary,
            ..
        } = self;
        let (script, binary) = (*in_script, *binary);
        let mut q = p;
        while q < line.len() {
            if self.bulk {
                // Words and the single spaces between them, in one go (what the byte steps
                // below would write: each byte lower-cased in both views, a space only outside
                // scripts, where it is written to both views too).
                let e = plain_run(line, q, script);
                if e > q {
                    let run = &line[q..e];
                    if script {
                        out.extend(run.iter().map(|&b| match b.to_ascii_lowercase() {
                            b'\'' => b'"',
                            l => l,
                        }));
                    } else {
                        out.extend(run.iter().map(u8::to_ascii_lowercase));
                        if let Some(t) = text.as_mut() {
                            t.extend(run.iter().map(u8::to_ascii_lowercase));
                        }
                        *text_space = false;
                    }
                    q = e;
                    continue;
                }
            }
            let b = line[q];
            if b == b'\r' && !binary {
                q += 1;
                continue;
            }
            if is_space(b) {
                if !*text_space && !script {
                    if let Some(t) = text.as_mut() {
                        t.push(b' ');
                    }
                    *text_space = true;
                }
                q = skip_ws(line, q, binary);
                if q == line.len() {
                    self.state = St::TrimWs;
                    self.next = St::Norm;
                    return q;
                }
                if !script {
                    out.push(b' ');
                }
                continue;
            }
            if b == b'<' || b == b'&' || b >= 0x80 {
                break;
            }
            let l = b.to_ascii_lowercase();
            if script {
                out.push(if l == b'\'' { b'"' } else { l });
            } else {
                out.push(l);
                if b < 0x20 {
                    if !*text_space {
                        if let Some(t) = text.as_mut() {
                            t.push(b' ');
                        }
                        *text_space = true;
                    }
                } else {
                    if let Some(t) = text.as_mut() {
                        t.push(l);
                    }
                    *text_space = false;
                }
            }
            q += 1;
        }
        q
    }

    /// The `TagArgVal` state: an attribute value. Returns the next position.
    fn tag_arg_val(&mut self, line: &[u8], p: usize) -> usize {
        let c = line[p];
        let data = matches!(self.tag_val.as_slice(), b"data:" | b"\"data:");
        if data {
            // A `data:` URI: ClamAV writes `"data"` and takes the payload apart.
            self.out.pop();
            if self.quoted != Quoted::Not {
                self.out.push(b'"');
            }
            self.tag_val.clear();
            self.state = St::DataType;
            self.next = St::TagArg;
            return p;
        }
        match c {
            b'&' => {
                self.state = St::CharRef;
                self.next = St::TagArgVal;
                p + 1
            }
            b'\'' | b'"' => {
                let own = if c == b'\'' {
                    Quoted::Single
                } else {
                    Quoted::Double
                };
                let was_empty = self.tag_val.is_empty();
                self.out.push(b'"');
                self.val_push(b'"');
                if was_empty {
                    self.quoted = own;
                } else if self.quoted == own {
                    self.add_arg(true);
                    self.state = St::SkipWs;
                    self.tag_arg.clear();
                    self.next = St::TagArg;
                }
                p + 1
            }
            _ if is_space(c) || c == b'>' => {
                if self.quoted == Quoted::Not {
                    self.add_arg(true);
                    self.state = St::SkipWs;
                    self.tag_arg.clear();
                    self.next = St::TagArg;
                    p
                } else {
                    self.out.push(c);
                    self.val_push(if is_space(c) { b' ' } else { b'>' });
                    self.state = St::SkipWs;
                    self.quoted = Quoted::Not;
                    self.next = St::TagArgVal;
                    p + 1
                }
            }
            _ => {
                if !self.flush_mb2(c) {
                    return p + 1;
                }
                if c >= 0x80 {
                    self.mbchar2 = (self.mbchar2 << 8) | u32::from(c);
                    return p + 1;
                }
                self.out.push(c.to_ascii_lowercase());
                self.val_push(c);
                // Plain bytes after it in one go: each takes the step just taken, once the
                // value can no longer become a `data:` URI (checked before every byte).
                if !self.bulk || may_become_data(&self.tag_val) {
                    return p + 1;
                }
                let e = run_end(line, p + 1, &ARG_VALUE);
                push_run(&mut self.out, &mut self.tag_val, &line[p + 1..e], false);
                e
            }
        }
    }

    /// The `DataType` state: a `data:` URI's media type, up to `,`.
    fn data_type(&mut self, c: u8, p: usize) -> usize {
        match c {
            b'\'' | b'"' => {
                let own = if c == b'\'' {
                    Quoted::Single
                } else {
                    Quoted::Double
                };
                if self.quoted == own {
                    self.state = St::SkipWs;
                    self.tag_arg.clear();
                    self.next = St::TagArg;
                } else {
                    self.val_push(b'"');
                }
                p + 1
            }
            _ if is_space(c) || c == b'>' => {
                if self.quoted == Quoted::Not {
                    self.state = St::SkipWs;
                    self.tag_arg.clear();
                    self.next = St::TagArg;
                    p
                } else {
                    self.val_push(if is_space(c) { b' ' } else { b'>' });
                    self.state = St::SkipWs;
                    self.quoted = Quoted::Not;
                    self.next = St::DataType;
                    p + 1
                }
            }
            b',' => {
                self.state = St::DataInit;
                self.next = St::Bad;
                p + 1
            }
            _ => {
                self.val_push(c.to_ascii_lowercase());
                p + 1
            }
        }
    }

    /// Feeds `line[from..to]` to the script being normalised, as ClamAV's buffer holds it (line
    /// feeds read by the machine are spaces by then).
    fn feed_js(&mut self, line: &[u8], from: usize, to: usize) {
        let Some(js) = self.js.as_mut() else {
            return;
        };
        if let Some(piece) = line.get(from..to).filter(|p| !p.is_empty()) {
            js.feed(piece);
        }
    }

    /// The `ProcessTag` state at `p` (the first byte after the tag and its white space): what a
    /// finished tag changes (consumes no byte).
    fn process_tag(&mut self, line: &[u8], p: usize) {
        self.state = St::SkipWs;
        self.next = St::Norm;
        if self.tag == b"/script" {
            // The script ends here, `</script>` included.
            let from = self.js_begin.take().unwrap_or(0);
            self.feed_js(line, from, p);
            if let Some(js) = self.js.take() {
                js.finish(&mut self.js_view);
            }
        } else if self.tag == b"script" && self.js.is_none() {
            self.js = Some(super::js::Script::new());
            self.js_begin = Some(p);
        }
        if self.tag.first() == Some(&b'/') {
            if self.tag == b"/script" || (self.tag == b"/style" && self.raw == Raw::Style) {
                self.in_script = false;
                self.raw = Raw::None;
            }
        } else if self.tag == b"script" || self.tag == b"style" {
            if self.tag == b"script" {
                self.encoded_script();
            }
            self.in_script = true;
            self.raw = if self.tag == b"script" {
                Raw::Script
            } else {
                Raw::Style
            };
        } else if self.tag == b"a" || self.tag == b"img" {
            let key: &[u8] = if self.tag == b"a" { b"href" } else { b"src" };
            if let Some(v) = self.args.value(key).filter(|v| !v.is_empty()) {
                if let Some(t) = self.text.as_mut() {
                    t.extend_from_slice(v);
                    t.push(b' ');
                }
                self.text_space = true;
            }
        } else if self.tag == b"%@" {
            self.asp_language();
        }
        self.args.clear();
    }

    fn finish(mut self) -> (Vec<u8>, Option<Vec<u8>>, Vec<u8>) {
        // An unfinished named reference at the end.
        if let Some(u) = entity(&self.entity) {
            push_u16(&mut self.out, u);
        } else if !self.entity.is_empty() {
            self.out.push(b'&');
            for &c in &self.entity {
                self.out.push(c.to_ascii_lowercase());
            }
        }
        if let Some(js) = self.js.take() {
            js.finish(&mut self.js_view);
        }
        (self.out, self.text, self.js_view)
    }
}

/// The chunks ClamAV's reader (`cli_readchunk`) gives the normaliser, one after another, in
/// `buf`; calls `f` for each until it fails.
pub(super) fn for_each_chunk(data: &[u8], mut f: impl FnMut(&mut Vec<u8>) -> Result<(), ()>) {
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut off = 0usize;
    while off < data.len() {
        let take = (data.len() - off).min(CHUNK - 1);
        buf.clear();
        let mut end;
        let window = &data[off..off + take];
        match memchr::memchr(0, window) {
            None => {
                buf.extend_from_slice(window);
                end = off + take;
                off = end;
            }
            Some(z) => {
                buf.extend_from_slice(&window[..z]);
                end = off + z;
                while end < data.len() && buf.len() < CHUNK - 1 {
                    let c = data[end];
                    end += 1;
                    if c != 0 {
                        buf.push(c);
                    }
                }
                off = end;
            }
        }
        if end < data.len() && !is_space(data[end]) {
            // Back to just after the last white space, if the chunk has one past its first byte.
            let mut len = buf.len();
            while len > 1 && !is_space(buf[len - 1]) {
                len -= 1;
            }
            if len > 1 && len < buf.len() {
                off -= buf.len() - len;
                buf.truncate(len);
            }
        }
        if f(&mut buf).is_err() {
            return;
        }
    }
}

/// `(nocomment, notags, javascript)` of `data`; `notags` only when `want_text`.
pub(super) fn normalise(data: &[u8], want_text: bool) -> (Vec<u8>, Option<Vec<u8>>, Vec<u8>) {
    let mut n = Norm::new(want_text, data.len());
    for_each_chunk(data, |chunk| n.chunk(chunk));
    n.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `normalise` with every run written byte by byte (ClamAV's steps, as reproduced first).
    fn normalise_bytewise(data: &[u8]) -> (Vec<u8>, Option<Vec<u8>>, Vec<u8>) {
        let mut n = Norm::new(true, data.len());
        n.bulk = false;
        for_each_chunk(data, |chunk| n.chunk(chunk));
        n.finish()
    }

    /// The bulk runs write what the byte steps write, on pages of every kind: words and
    /// spaces of each kind, tags, attributes (quoted or not, `data:` URIs and values that
    /// begin like one), references, scripts and styles, comments, non-ASCII and control bytes,
    /// at chunk boundaries too.
    #[test]
    fn bulk_text_runs_equal_byte_steps() {
        let pieces: &[&[u8]] = &[
            b"Word",
            b"the",
            b" ",
            b"  ",
            b"\t",
            b"\r\n",
            b"\n",
            b"<p>",
            b"</p>",
            b"<a href='X.html'>",
            b"</a>",
            b"<script>",
            b"</script>",
            b"<style>",
            b"</style>",
            b"var X = 'A b';",
            b"&amp;",
            b"&#65;",
            b"<!-- c -->",
            b"\xc3\xa9",
            b"\x01",
            b"\x7f",
            b"'",
            b"\"",
            b"<",
            b"&",
            b"=",
            b"<img src=\"data:x,%41\">",
            b"#@~^",
            b">",
            b"x<y",
            b"\x0b",
            b"<DIV Class=\"Nav Bar\" ID=Top>",
            b"<a HREF = \"http://A.test/b?c=d&amp;e=\xc3\xa9F\">",
            b"<img SRC='Data:x'>",
            b"<img src=data:image/png,AB%41>",
            b"<a href=\"dat\">",
            b"<a href=\"datA:x\">",
            b"<a href=\"data",
            b"<input value='it''s' disabled>",
            b"<p style=\"color:Red\x01;\">",
            b"<a href=\"",
            b"<Script Language=\"JScript\">",
            b"<script language=\"JScript.Encode\">",
            b"<%@ Language=VBScript.Encode %>",
            b"x=\"",
        ];
        let mut x = 0x9e37_79b9u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for round in 0..400 {
            let mut page = b"<html>".to_vec();
            let len = if round % 20 == 0 { 20_000 } else { 300 };
            while page.len() < len {
                let r = next() as usize;
                // Mostly words and single spaces, as real text is.
                let piece: &[u8] = match r % 3 {
                    0 => pieces[(r >> 8) % pieces.len()],
                    1 => b" ",
                    _ => b"Text",
                };
                page.extend_from_slice(piece);
            }
            assert_eq!(
                normalise(&page, true),
                normalise_bytewise(&page),
                "page {}",
                page.escape_ascii()
            );
        }
    }
}
