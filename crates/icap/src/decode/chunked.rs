//! The chunked body state machine (RFC 9112 §7.1 as used by RFC 3507 §4.4.2), with ICAP's
//! chunk extensions `ieof` and `use-original-body`.

use bytes::{Buf, Bytes, BytesMut};

use super::head::{bad, find_head_end, is_tchar, parse_fields, split_lines, Values};
use crate::{Error, Headers, Limits};

/// Largest chunk size accepted (1 TiB); larger sizes are refused as malformed.
pub(crate) const MAX_CHUNK_SIZE: u64 = 1 << 40;

/// What the chunked decoder produced.
#[derive(Debug)]
pub(crate) enum ChunkEvent {
    /// Body bytes (never empty).
    Data(Bytes),
    /// The last chunk and its trailers were read.
    Last {
        /// The last chunk carried `ieof`.
        ieof: bool,
        /// The last chunk carried `use-original-body=N`.
        use_original_body: Option<u64>,
        /// Trailer fields.
        trailers: Headers,
    },
}

#[derive(Debug)]
enum State {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data.
    Data { remaining: u64 },
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk's line: expecting trailers and the final blank line.
    Trailers {
        ieof: bool,
        use_original_body: Option<u64>,
    },
    /// The last chunk was read.
    Done,
}

/// Incremental chunked-body decoder. `budget`, when set, caps the total data bytes before the
/// last chunk (the announced preview size).
#[derive(Debug)]
pub(crate) struct Chunked {
    state: State,
    budget: Option<u64>,
    preview: Option<u64>,
}

impl Chunked {
    /// A decoder at the start of a body; `preview` caps the data bytes (a preview).
    pub(crate) fn new(preview: Option<u64>) -> Self {
        Self {
            state: State::Size,
            budget: preview,
            preview,
        }
    }

    /// Decodes the next event. `Ok(None)`: more bytes are needed (or the body is done).
    pub(crate) fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<ChunkEvent>, Error> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Size => {
                    let window =
                        &buf[..buf.len().min(limits.max_chunk_line_bytes.saturating_add(1))];
                    let Some(nl) = memchr::memchr(b'\n', window) else {
                        if buf.len() > limits.max_chunk_line_bytes {
                            return Err(bad(format!(
                                "chunk-size line longer than {} bytes",
                                limits.max_chunk_line_bytes
                            )));
                        }
                        return Ok(None);
                    };
                    let line = &buf[..nl];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let parsed = parse_chunk_line(line)?;
                    buf.advance(nl + 1);
                    if parsed.size == 0 {
                        self.state = State::Trailers {
                            ieof: parsed.ieof,
                            use_original_body: parsed.use_original_body,
                        };
                        continue;
                    }
                    if let Some(budget) = self.budget.as_mut() {
                        if parsed.size > *budget {
                            return Err(bad(format!(
                                "preview data exceeds the announced Preview: {}",
                                self.preview.unwrap_or(0)
                            )));
                        }
                        *budget -= parsed.size;
                    }
                    self.state = State::Data {
                        remaining: parsed.size,
                    };
                }
                State::Data { remaining } => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
                    let data = buf.split_to(n).freeze();
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data { remaining: left }
                    };
                    return Ok(Some(ChunkEvent::Data(data)));
                }
                State::DataEnd => match &buf[..] {
                    [] | [b'\r'] => return Ok(None),
                    [b'\r', b'\n', ..] => {
                        buf.advance(2);
                        self.state = State::Size;
                    }
                    [b'\n', ..] => {
                        buf.advance(1);
                        self.state = State::Size;
                    }
                    _ => return Err(bad("chunk data not followed by CRLF")),
                },
                State::Trailers {
                    ieof,
                    use_original_body,
                } => {
                    let trailers = match &buf[..] {
                        [] | [b'\r'] => return Ok(None),
                        [b'\r', b'\n', ..] => {
                            buf.advance(2);
                            Headers::new()
                        }
                        [b'\n', ..] => {
                            buf.advance(1);
                            Headers::new()
                        }
                        _ => {
                            let max = limits.max_chunk_line_bytes;
                            let window = &buf[..buf.len().min(max.saturating_add(1))];
                            let Some(end) = find_head_end(window, 0) else {
                                if buf.len() > max {
                                    return Err(bad(format!(
                                        "trailer section longer than {max} bytes"
                                    )));
                                }
                                return Ok(None);
                            };
                            let lines = split_lines(&buf[..end])?;
                            let trailers = parse_fields(
                                &lines,
                                limits.max_header_fields,
                                Values::Lenient,
                                "trailer",
                            )?;
                            buf.advance(end);
                            trailers
                        }
                    };
                    self.state = State::Done;
                    return Ok(Some(ChunkEvent::Last {
                        ieof,
                        use_original_body,
                        trailers,
                    }));
                }
            }
        }
    }
}

/// A parsed chunk-size line.
#[derive(Debug, PartialEq, Eq)]
struct ChunkLine {
    size: u64,
    ieof: bool,
    use_original_body: Option<u64>,
}

/// Parses `hex-size *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`.
fn parse_chunk_line(line: &[u8]) -> Result<ChunkLine, Error> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad(format!(
            "malformed chunk-size line {:?}",
            super::head::excerpt(line)
        )));
    }
    let mut size: u64 = 0;
    for &d in &line[..digits] {
        let v = u64::from(char::from(d).to_digit(16).unwrap_or(0));
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(v))
            .filter(|&s| s <= MAX_CHUNK_SIZE)
            .ok_or_else(|| bad(format!("chunk size exceeds {MAX_CHUNK_SIZE} bytes")))?;
    }
    let mut out = ChunkLine {
        size,
        ieof: false,
        use_original_body: None,
    };
    let mut p = Parser { s: line, i: digits };
    loop {
        p.skip_ws();
        if p.done() {
            return Ok(out);
        }
        if !p.eat(b';') {
            return Err(bad("malformed chunk extension: expected ';'"));
        }
        p.skip_ws();
        let name = p.token();
        if name.is_empty() {
            return Err(bad("malformed chunk extension: empty name"));
        }
        p.skip_ws();
        let value = if p.eat(b'=') {
            p.skip_ws();
            Some(p.value()?)
        } else {
            None
        };
        if name.eq_ignore_ascii_case(b"ieof") {
            out.ieof = true;
        } else if name.eq_ignore_ascii_case(b"use-original-body") {
            let v = value
                .as_deref()
                .filter(|v| !v.is_empty() && v.len() <= 20 && v.iter().all(u8::is_ascii_digit))
                .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
                .ok_or_else(|| bad("invalid use-original-body value"))?;
            out.use_original_body = Some(v);
        }
    }
}

/// A cursor over a chunk-size line's extensions.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn skip_ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn token(&mut self) -> &'a [u8] {
        let s: &'a [u8] = self.s;
        let start = self.i;
        while s.get(self.i).is_some_and(|&b| is_tchar(b)) {
            self.i += 1;
        }
        &s[start..self.i]
    }

    /// A token or a quoted-string (unescaped).
    fn value(&mut self) -> Result<Vec<u8>, Error> {
        if !self.eat(b'"') {
            let t = self.token();
            if t.is_empty() {
                return Err(bad("malformed chunk extension: empty value"));
            }
            return Ok(t.to_vec());
        }
        let mut v = Vec::new();
        loop {
            match self.s.get(self.i) {
                None => return Err(bad("malformed chunk extension: unterminated quoted string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(v);
                }
                Some(b'\\') => {
                    match self.s.get(self.i + 1) {
                        Some(&c) if c == b'\t' || !c.is_ascii_control() => v.push(c),
                        _ => return Err(bad("malformed chunk extension: bad escape")),
                    }
                    self.i += 2;
                }
                Some(&c) if c == b'\t' || !c.is_ascii_control() => {
                    v.push(c);
                    self.i += 1;
                }
                Some(_) => return Err(bad("malformed chunk extension: control character")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Result<ChunkLine, Error> {
        parse_chunk_line(s.as_bytes())
    }

    #[test]
    fn chunk_lines() {
        assert_eq!(line("1a").unwrap().size, 26);
        assert_eq!(line("00FF").unwrap().size, 255);
        let l = line("0; ieof").unwrap();
        assert!(l.ieof && l.size == 0);
        assert!(line("0;IEOF").unwrap().ieof);
        let l = line("0; use-original-body=1234").unwrap();
        assert_eq!(l.use_original_body, Some(1234));
        let l = line("5 ; foo=bar ; baz=\"q;\\\"x\" ;ieof").unwrap();
        assert_eq!(l.size, 5);
        assert!(l.ieof);
        assert_eq!(line("10000000000").unwrap().size, MAX_CHUNK_SIZE);
        for bad_line in [
            "",
            " 1",
            "x",
            "1 x",
            "1;",
            "1;=v",
            "1;a=",
            "1;a=\"unterminated",
            "10000000001",
            "ffffffffffffffffffffffff",
            "0; use-original-body=x",
            "0; use-original-body",
        ] {
            assert!(line(bad_line).is_err(), "{bad_line:?} accepted");
        }
    }

    fn run(input: &[u8], preview: Option<u64>) -> Result<(Vec<u8>, Option<ChunkEvent>), Error> {
        let mut c = Chunked::new(preview);
        let mut buf = BytesMut::from(input);
        let mut body = Vec::new();
        let limits = Limits::default();
        while let Some(ev) = c.decode(&mut buf, &limits)? {
            match ev {
                ChunkEvent::Data(d) => body.extend_from_slice(&d),
                last @ ChunkEvent::Last { .. } => return Ok((body, Some(last))),
            }
        }
        Ok((body, None))
    }

    #[test]
    fn bodies_and_trailers() {
        let (body, last) = run(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", None).unwrap();
        assert_eq!(body, b"hello world");
        assert!(matches!(last, Some(ChunkEvent::Last { ieof: false, .. })));
        let (_, last) = run(b"1\nx\n0\nA: b\nC: d\n\n", None).unwrap();
        let Some(ChunkEvent::Last { trailers, .. }) = last else {
            panic!("no last chunk")
        };
        assert_eq!(trailers.get("c"), Some("d"));
        assert!(run(b"5\r\nhelloX\r\n", None).is_err());
        assert!(run(b"3\r\nabc\r\n0\r\n", None).unwrap().1.is_none());
        // Preview budget.
        assert!(run(b"4\r\nabcd\r\n0\r\n\r\n", Some(4)).is_ok());
        assert!(run(b"4\r\nabcd\r\n1\r\ne\r\n0\r\n\r\n", Some(4)).is_err());
    }

    #[test]
    fn limits_on_lines_and_trailers() {
        let limits = Limits {
            max_chunk_line_bytes: 16,
            ..Limits::default()
        };
        let mut c = Chunked::new(None);
        let mut buf = BytesMut::from(&b"1; aaaaaaaaaaaaaaaaaaaaaaaaaaa"[..]);
        assert!(c.decode(&mut buf, &limits).is_err());
        let mut c = Chunked::new(None);
        let mut buf = BytesMut::from(&b"0\r\nX-Long-Trailer: aaaaaaaaaaaaa"[..]);
        assert!(c.decode(&mut buf, &limits).is_err());
    }

    #[test]
    fn data_is_handed_out_as_it_arrives() {
        let mut c = Chunked::new(None);
        let limits = Limits::default();
        let mut buf = BytesMut::from(&b"a00000\r\nabc"[..]);
        match c.decode(&mut buf, &limits).unwrap() {
            Some(ChunkEvent::Data(d)) => assert_eq!(&d[..], b"abc"),
            other => panic!("{other:?}"),
        }
        assert!(c.decode(&mut buf, &limits).unwrap().is_none());
        buf.extend_from_slice(b"def");
        match c.decode(&mut buf, &limits).unwrap() {
            Some(ChunkEvent::Data(d)) => assert_eq!(&d[..], b"def"),
            other => panic!("{other:?}"),
        }
    }
}
