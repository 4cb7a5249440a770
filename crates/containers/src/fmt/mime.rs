//! MIME messages, mailboxes and multipart/form-data bodies (ours, streaming, fuzzed).
//!
//! The parser reads lines (at most [`MAX_LINE`] bytes each; longer lines come in pieces), keeps
//! a stack of open multipart boundaries, and decodes each leaf part (base64, quoted-printable,
//! uuencode inside text, or as is) straight into a member: nothing but the current line and the
//! header block is held in memory. Each leaf's raw body range is kept for cure.

use std::io::{BufRead, BufReader, Read};

use crate::blob::Blob;
use crate::scan::{clean_name, join, note, Abort, Finding, Limit, Packed, Scan, Sink, Walked};

/// Longest line read at once.
pub const MAX_LINE: usize = 64 << 10;
/// Most header lines per entity, and most header bytes.
const MAX_HEADER_LINES: usize = 2000;
const MAX_HEADER_BYTES: usize = 256 << 10;

pub use crate::scan::PartRange;

/// Whether `name` can be a header field name (letters, digits, `-`, `_`).
pub(crate) fn is_field_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

/// Whether the lines look like the header block of a mail message.
pub fn looks_like_mail<'a>(lines: impl Iterator<Item = &'a [u8]>) -> bool {
    const KNOWN: [&str; 13] = [
        "from",
        "to",
        "subject",
        "date",
        "received",
        "return-path",
        "message-id",
        "mime-version",
        "reply-to",
        "delivered-to",
        "cc",
        "x-mailer",
        "content-type",
    ];
    let mut known = 0;
    let mut strong = false;
    for (i, l) in lines.take(40).enumerate() {
        let l = trim_eol(l);
        if l.is_empty() {
            break;
        }
        if l[0] == b' ' || l[0] == b'\t' {
            if i == 0 {
                return false;
            }
            continue;
        }
        let Some(colon) = l.iter().position(|&c| c == b':') else {
            return false;
        };
        let name = &l[..colon];
        if !is_field_name(name) {
            return false;
        }
        let n = String::from_utf8_lossy(name).to_ascii_lowercase();
        if KNOWN.contains(&n.as_str()) {
            known += 1;
            strong |= n != "content-type";
        }
    }
    known >= 2 && strong
}

fn trim_eol(l: &[u8]) -> &[u8] {
    let mut e = l.len();
    while e > 0 && (l[e - 1] == b'\n' || l[e - 1] == b'\r') {
        e -= 1;
    }
    &l[..e]
}

/// One line read: its bytes without the line break, where it starts, and its break's length.
#[derive(Debug, Default, Clone)]
struct Line {
    text: Vec<u8>,
    start: u64,
    term: usize,
}

struct Lines<R> {
    r: BufReader<R>,
    pos: u64,
    back: Option<Line>,
}

impl<R: Read> Lines<R> {
    fn next(&mut self) -> Option<Line> {
        if let Some(l) = self.back.take() {
            return Some(l);
        }
        let mut text = Vec::new();
        let start = self.pos;
        loop {
            let buf = match self.r.fill_buf() {
                Ok(b) => b,
                Err(_) => return None,
            };
            if buf.is_empty() {
                break;
            }
            let room = MAX_LINE - text.len();
            let take = buf.len().min(room);
            if let Some(i) = memchr::memchr(b'\n', &buf[..take]) {
                text.extend_from_slice(&buf[..=i]);
                self.r.consume(i + 1);
                break;
            }
            text.extend_from_slice(&buf[..take]);
            self.r.consume(take);
            if text.len() >= MAX_LINE {
                break;
            }
        }
        if text.is_empty() {
            return None;
        }
        self.pos += text.len() as u64;
        let body = trim_eol(&text).len();
        let term = text.len() - body;
        text.truncate(body);
        Some(Line { text, start, term })
    }
}

/// How an entity's body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// A delimiter of the boundary at this stack index (`true`: the closing one).
    Boundary(usize, bool),
    /// A `From ` line of a mailbox.
    From,
    /// The end of the data.
    Eof,
}

#[derive(Debug, Default)]
struct Head {
    ctype: String,
    boundary: Option<Vec<u8>>,
    cte: String,
    filename: Option<String>,
}

struct Parser<'c, S, R> {
    ctx: &'c mut S,
    lines: Lines<R>,
    path: String,
    depth: u32,
    mbox: bool,
    bounds: Vec<Vec<u8>>,
    w: Walked,
    parts: Vec<PartRange>,
    nparts: usize,
}

/// Scans a message (`mbox == false`), a mailbox, or (with `boundary`) a multipart body without
/// its head, such as an HTTP multipart/form-data upload. Parts are members at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    path: &str,
    depth: u32,
    mbox: bool,
    boundary: Option<&str>,
) -> Result<Walked, Abort> {
    let Ok(r) = blob.reader() else {
        ctx.note(Finding::Error);
        return Ok(Walked::default());
    };
    let mut p = Parser {
        ctx,
        lines: Lines {
            r: BufReader::with_capacity(64 << 10, r),
            pos: 0,
            back: None,
        },
        path: path.to_string(),
        depth,
        mbox,
        bounds: Vec::new(),
        w: Walked::default(),
        parts: Vec::new(),
        nparts: 0,
    };
    match boundary {
        Some(b) => {
            p.bounds.push(b.as_bytes().to_vec());
            p.multipart_body(0)?;
        }
        None if mbox => loop {
            match p.lines.next() {
                None => break,
                Some(l) if l.text.starts_with(b"From ") => {}
                Some(l) => p.lines.back = Some(l),
            }
            match p.entity(0)? {
                End::Eof => break,
                _ => continue,
            }
        },
        None => {
            p.entity(0)?;
        }
    }
    let mut w = p.w;
    w.parts = p.parts;
    Ok(w)
}

impl<'o, S: Scan<'o>, R: Read> Parser<'_, S, R> {
    /// Classifies a line: a boundary delimiter, a mailbox separator, or body.
    fn classify(&self, l: &Line) -> Option<End> {
        let t = &l.text;
        if self.mbox && t.starts_with(b"From ") {
            return Some(End::From);
        }
        if t.len() >= 2 && t[0] == b'-' && t[1] == b'-' {
            for (i, b) in self.bounds.iter().enumerate().rev() {
                if t[2..].starts_with(b) {
                    let rest = &t[2 + b.len()..];
                    let close = rest.starts_with(b"--");
                    let rest = if close { &rest[2..] } else { rest };
                    if rest.iter().all(|c| *c == b' ' || *c == b'\t') {
                        return Some(End::Boundary(i, close));
                    }
                }
            }
        }
        None
    }

    fn headers(&mut self) -> Head {
        let mut raw: Vec<Vec<u8>> = Vec::new();
        let mut bytes = 0;
        while let Some(l) = self.lines.next() {
            if self.classify(&l).is_some() {
                self.lines.back = Some(l);
                break;
            }
            if l.text.is_empty() {
                break;
            }
            bytes += l.text.len();
            if (l.text[0] == b' ' || l.text[0] == b'\t') && !raw.is_empty() {
                if let Some(last) = raw.last_mut() {
                    if last.len() < MAX_HEADER_BYTES {
                        last.push(b' ');
                        last.extend_from_slice(&l.text);
                    }
                }
            } else {
                raw.push(l.text);
            }
            if raw.len() > MAX_HEADER_LINES || bytes > MAX_HEADER_BYTES {
                self.ctx.hit(Limit::MailHeaders);
                break;
            }
        }
        let mut h = Head::default();
        for line in &raw {
            let Some(colon) = line.iter().position(|&c| c == b':') else {
                continue;
            };
            let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
            match name.trim() {
                "content-type" => {
                    h.ctype = value
                        .split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase();
                    if let Some(b) = param(&value, "boundary") {
                        if !b.is_empty() {
                            h.boundary = Some(b.into_bytes());
                        }
                    }
                    if h.filename.is_none() {
                        h.filename = param(&value, "name");
                    }
                }
                "content-transfer-encoding" => h.cte = value.trim().to_ascii_lowercase(),
                "content-disposition" => {
                    if let Some(f) = param(&value, "filename") {
                        h.filename = Some(f);
                    }
                }
                _ => {}
            }
        }
        h
    }

    /// One entity: its head, then its body. `mdepth` is the MIME nesting level.
    fn entity(&mut self, mdepth: u32) -> Result<End, Abort> {
        self.ctx.check_time()?;
        let h = self.headers();
        if h.ctype.starts_with("multipart/") {
            if let Some(b) = h.boundary.clone() {
                if mdepth >= self.ctx.options().limits.max_depth {
                    self.ctx.hit(Limit::NestingDepth);
                    return self.skip_body();
                }
                self.bounds.push(b);
                let level = self.bounds.len() - 1;
                let end = self.multipart_body(mdepth + 1)?;
                self.bounds.truncate(level);
                return Ok(match end {
                    // Our own closing delimiter: read the epilogue up to an outer delimiter.
                    End::Boundary(i, true) if i == level => self.skip_body()?,
                    e => e,
                });
            }
        }
        if h.ctype == "message/rfc822" && !matches!(h.cte.as_str(), "base64" | "quoted-printable") {
            if mdepth >= self.ctx.options().limits.max_depth {
                self.ctx.hit(Limit::NestingDepth);
                return self.skip_body();
            }
            return self.entity(mdepth + 1);
        }
        self.leaf(&h)
    }

    /// The parts of a multipart body whose boundary is the top of the stack.
    fn multipart_body(&mut self, mdepth: u32) -> Result<End, Abort> {
        let level = self.bounds.len() - 1;
        // Preamble.
        let mut end = self.skip_body()?;
        loop {
            match end {
                End::Boundary(i, false) if i == level => {
                    end = self.entity(mdepth)?;
                }
                e => return Ok(e),
            }
        }
    }

    /// Reads lines up to the next delimiter, discarding them.
    fn skip_body(&mut self) -> Result<End, Abort> {
        let mut n = 0u32;
        while let Some(l) = self.lines.next() {
            if let Some(e) = self.classify(&l) {
                return Ok(e);
            }
            n = n.wrapping_add(1);
            if n.is_multiple_of(4096) {
                self.ctx.check_time()?;
            }
        }
        Ok(End::Eof)
    }

    /// A leaf part: decoded into a member.
    fn leaf(&mut self, h: &Head) -> Result<End, Abort> {
        let idx = self.nparts;
        self.nparts += 1;
        let name = h
            .filename
            .as_deref()
            .map(|f| clean_name(f, "part"))
            .unwrap_or_else(|| format!("part{}", idx + 1));
        let mpath = join(&self.path, &name);
        let base64 = h.cte == "base64";
        let qp = h.cte == "quoted-printable";
        let mut sink = self.ctx.begin(self.depth, Packed::None)?;
        let mut state: Result<(), Abort> = Ok(());
        let mut dec = Decoder::new(if base64 {
            Cte::Base64
        } else if qp {
            Cte::Qp
        } else {
            Cte::Raw
        });
        let mut uu: Option<(Option<Sink>, Result<(), Abort>, String)> = None;
        let mut uu_results = Vec::new();
        let mut start = None;
        let end_pos;
        let mut last_term = 0usize;
        let mut out = Vec::with_capacity(MAX_LINE);
        let end = loop {
            let Some(l) = self.lines.next() else {
                end_pos = self.lines.pos;
                break End::Eof;
            };
            if let Some(e) = self.classify(&l) {
                end_pos = l.start;
                break e;
            }
            start.get_or_insert(l.start);
            last_term = l.term;
            // uuencode inside a non-base64 part: `begin 644 name` … `end`.
            if !base64 {
                if let Some((s, st, _)) = &mut uu {
                    if l.text == b"end" || l.text.starts_with(b"end ") {
                        if let Some((Some(s), st, p)) = uu.take() {
                            uu_results.push(self.ctx.end(s, &p, self.depth, st)?);
                        }
                        continue;
                    }
                    out.clear();
                    uudecode_line(&l.text, &mut out);
                    if let (Some(s), Ok(())) = (s.as_mut(), &*st) {
                        *st = self.ctx.write(s, &out);
                        if let Err(e @ (Abort::Limit(_) | Abort::Done)) = st {
                            return Err(*e);
                        }
                    }
                    continue;
                }
                if let Some(n) = uu_begin(&l.text) {
                    let p = join(&self.path, &clean_name(&n, "uuencoded"));
                    let s = self.ctx.begin(self.depth, Packed::None)?;
                    uu = Some((s, Ok(()), p));
                    continue;
                }
            }
            if let (Some(s), Ok(())) = (sink.as_mut(), &state) {
                out.clear();
                dec.line(&l, &mut out);
                state = self.ctx.write(s, &out);
                if let Err(e @ (Abort::Limit(_) | Abort::Done)) = state {
                    return Err(e);
                }
            }
        };
        if let Some((Some(s), st, p)) = uu.take() {
            uu_results.push(self.ctx.end(s, &p, self.depth, st)?);
        }
        // The line break before a delimiter belongs to the delimiter.
        let body_end = if matches!(end, End::Boundary(..)) {
            end_pos.saturating_sub(last_term as u64)
        } else {
            end_pos
        };
        let start = start.unwrap_or(body_end).min(body_end);
        let mut threat = None;
        if let Some(s) = sink {
            let r = self.ctx.end(s, &mpath, self.depth, state)?;
            threat = r.threat;
        }
        for r in uu_results {
            if threat.is_none() {
                threat = r.threat;
            }
        }
        self.parts.push(PartRange {
            start,
            end: body_end,
            base64,
        });
        note(&mut self.w, idx, crate::scan::MemberResult { threat });
        Ok(end)
    }
}

/// Content transfer encodings decoded line by line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cte {
    Base64,
    Qp,
    Raw,
}

/// A line-by-line body decoder.
struct Decoder {
    cte: Cte,
    quad: [u8; 4],
    n: usize,
    done: bool,
    /// Line break held back until the next line (the last one belongs to the delimiter).
    held: Vec<u8>,
}

impl Decoder {
    fn new(cte: Cte) -> Self {
        Decoder {
            cte,
            quad: [0; 4],
            n: 0,
            done: false,
            held: Vec::new(),
        }
    }

    fn line(&mut self, l: &Line, out: &mut Vec<u8>) {
        match self.cte {
            Cte::Base64 => {
                if !self.done {
                    self.base64(&l.text, out);
                }
            }
            Cte::Qp => {
                out.append(&mut self.held);
                let soft = qp_line(&l.text, out);
                if !soft && l.term > 0 {
                    self.held.push(b'\n');
                }
            }
            Cte::Raw => {
                out.append(&mut self.held);
                out.extend_from_slice(&l.text);
                if l.term == 2 {
                    self.held.extend_from_slice(b"\r\n");
                } else if l.term == 1 {
                    self.held.push(b'\n');
                }
            }
        }
    }

    fn base64(&mut self, s: &[u8], out: &mut Vec<u8>) {
        for &c in s {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' | b'-' => 62,
                b'/' | b'_' => 63,
                b'=' => {
                    match self.n {
                        2 => out.push(self.quad[0] << 2 | self.quad[1] >> 4),
                        3 => {
                            out.push(self.quad[0] << 2 | self.quad[1] >> 4);
                            out.push(self.quad[1] << 4 | self.quad[2] >> 2);
                        }
                        _ => {}
                    }
                    self.n = 0;
                    self.done = true;
                    return;
                }
                _ => continue,
            };
            self.quad[self.n] = v;
            self.n += 1;
            if self.n == 4 {
                let q = self.quad;
                out.push(q[0] << 2 | q[1] >> 4);
                out.push(q[1] << 4 | q[2] >> 2);
                out.push(q[2] << 6 | q[3]);
                self.n = 0;
            }
        }
    }
}

/// The value of a hexadecimal digit.
pub(crate) fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes one quoted-printable line; `true` for a soft line break.
fn qp_line(s: &[u8], out: &mut Vec<u8>) -> bool {
    let mut s = s;
    while let Some((&b' ' | &b'\t', rest)) = s.split_last() {
        s = rest;
    }
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'=' {
            if i + 1 == s.len() {
                return true;
            }
            if i + 2 < s.len() + 1 {
                if let (Some(a), Some(b)) = (
                    s.get(i + 1).copied().and_then(hexval),
                    s.get(i + 2).copied().and_then(hexval),
                ) {
                    out.push(a << 4 | b);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(s[i]);
        i += 1;
    }
    false
}

/// `begin MODE NAME` → the name.
fn uu_begin(l: &[u8]) -> Option<String> {
    let rest = l.strip_prefix(b"begin ")?;
    let sp = rest.iter().position(|&c| c == b' ')?;
    let mode = &rest[..sp];
    if mode.is_empty() || mode.len() > 4 || !mode.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return None;
    }
    Some(String::from_utf8_lossy(&rest[sp + 1..]).trim().to_string())
}

/// Decodes one uuencoded line.
fn uudecode_line(l: &[u8], out: &mut Vec<u8>) {
    let Some((&first, rest)) = l.split_first() else {
        return;
    };
    let n = (first.wrapping_sub(b' ') & 63) as usize;
    let v = |c: u8| c.wrapping_sub(b' ') & 63;
    let mut got = 0;
    for q in rest.chunks(4) {
        if got >= n {
            break;
        }
        let c = |i: usize| v(q.get(i).copied().unwrap_or(b' '));
        let b = [
            c(0) << 2 | c(1) >> 4,
            c(1) << 4 | c(2) >> 2,
            c(2) << 6 | c(3),
        ];
        let take = (n - got).min(3);
        out.extend_from_slice(&b[..take]);
        got += take;
    }
}

/// A parameter of a header value (`name=value` or `name="value"`), case-insensitive name.
fn param(value: &str, name: &str) -> Option<String> {
    for p in value.split(';').skip(1) {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_end_matches('*');
        if k.eq_ignore_ascii_case(name) {
            let v = v.trim();
            let v = v.strip_prefix("utf-8''").unwrap_or(v);
            return Some(v.trim_matches('"').to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders() {
        let mut d = Decoder::new(Cte::Base64);
        let mut out = Vec::new();
        d.base64(b"aGVs\r\nbG8=", &mut out);
        assert_eq!(out, b"hello");
        out.clear();
        assert!(!qp_line(b"a=3Db", &mut out));
        assert_eq!(out, b"a=b");
        out.clear();
        uudecode_line(b"#86)C", &mut out);
        assert_eq!(out, b"abc");
        assert_eq!(uu_begin(b"begin 644 x.exe").as_deref(), Some("x.exe"));
        assert_eq!(
            param("multipart/mixed; boundary=\"abc\"", "boundary").as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn mail_detection() {
        let m = b"From: a\nTo: b\nSubject: c\n\nbody";
        assert!(looks_like_mail(m.split(|&c| c == b'\n')));
        assert!(!looks_like_mail(b"hello world\n".split(|&c| c == b'\n')));
    }
}
