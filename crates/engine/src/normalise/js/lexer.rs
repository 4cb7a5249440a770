//! The tokenizer of ClamAV's JavaScript normaliser, as it behaves: it is fed one buffer at a
//! time (a chunk of the page) and keeps its state between buffers, so a token cut by a chunk
//! edge continues in the next one.
//!
//! Its rules, learnt from ClamAV's behaviour:
//! * a `//` comment ends at the first space or line feed (the HTML reader has already turned
//!   line feeds into spaces), a `/*` comment at `*/`; a `/` is otherwise an operator (there
//!   are no regular expression literals);
//! * operators are the longest of ClamAV's list (up to 4 bytes); `[ ] { } ( ) , . ;` stand
//!   alone; other bytes (`#`, `@`, `` ` ``, control bytes, bytes >= 0x80) are skipped;
//! * a number is digits with one optional `.` and, after it, exponent letters; `0x1F` is the
//!   number 0 then the identifier `x1F`;
//! * identifiers are `$ _ 0-9 A-Z a-z` (case kept, keywords matched case-sensitively); a
//!   backslash followed by `u` keeps the backslash and drops the `u`, any other ends the
//!   identifier and is dropped;
//! * a string ends at its quote unless the byte before it is a backslash; its escapes are
//!   decoded ([`append_escaped`]).

use super::{Kind, Val};

/// What the tokenizer is in the middle of, between buffers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum LexState {
    Initial,
    MultiComment,
    LineComment,
    Number,
    DqString,
    SqString,
    Identifier,
}

/// Byte classes of the first byte of a token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Space,
    Slash,
    Op,
    Dq,
    Sq,
    Digit,
    Id,
    Single(Kind, &'static str),
    Skip,
}

fn class(c: u8) -> Class {
    match c {
        b'\t' | b'\n' | 0x0b | b'\r' | b' ' => Class::Space,
        b'/' => Class::Slash,
        b'!' | b'%' | b'&' | b'*' | b'+' | b'-' | b':' | b'<' | b'=' | b'>' | b'?' | b'^'
        | b'|' | b'~' => Class::Op,
        b'"' => Class::Dq,
        b'\'' => Class::Sq,
        b'0'..=b'9' => Class::Digit,
        b'$' | b'A'..=b'Z' | b'\\' | b'_' | b'a'..=b'z' => Class::Id,
        b'[' => Class::Single(Kind::BracketOpen, "["),
        b']' => Class::Single(Kind::BracketClose, "]"),
        b',' => Class::Single(Kind::Comma, ","),
        b'{' => Class::Single(Kind::CurlyOpen, "{"),
        b'}' => Class::Single(Kind::CurlyClose, "}"),
        b'(' => Class::Single(Kind::ParOpen, "("),
        b')' => Class::Single(Kind::ParClose, ")"),
        b'.' => Class::Single(Kind::Dot, "."),
        b';' => Class::Single(Kind::Semicolon, ";"),
        _ => Class::Skip,
    }
}

/// Bytes that continue an identifier (the backslash is handled apart).
fn is_id(c: u8) -> bool {
    matches!(c, b'$' | b'0'..=b'9' | b'A'..=b'Z' | b'_' | b'a'..=b'z')
}

/// ClamAV's operators.
const OPERATORS: &[&str] = &[
    ">", ">>", ">>>", ">=", ">>=", ">>>=", "=", "==", "===", "<=", "<<=", "<", "<<", "/=", "|=",
    "*=", "~", "-=", "/", "+=", "%=", "|", "||", "*", "&=", "-", "--", "!=", "!==", "+", "++", "%",
    "^=", "?", "&", "&&", ":", "!", "^",
];

/// ClamAV's keywords (case-sensitive) and the token kind each gives.
fn keyword(w: &[u8]) -> Option<(Kind, &'static str)> {
    const WORDS: &[&str] = &[
        "new",
        "enum",
        "return",
        "in",
        "int",
        "null",
        "break",
        "delete",
        "default",
        "debugger",
        "interface",
        "instanceof",
        "if",
        "try",
        "true",
        "final",
        "finally",
        "function",
        "transient",
        "const",
        "do",
        "continue",
        "else",
        "class",
        "double",
        "boolean",
        "for",
        "case",
        "catch",
        "native",
        "char",
        "float",
        "private",
        "abstract",
        "protected",
        "false",
        "public",
        "long",
        "super",
        "export",
        "extends",
        "this",
        "throw",
        "throws",
        "byte",
        "static",
        "with",
        "import",
        "void",
        "implements",
        "typeof",
        "package",
        "volatile",
        "goto",
        "var",
        "short",
        "while",
        "switch",
        "synchronized",
    ];
    let k = WORDS.iter().find(|k| k.as_bytes() == w)?;
    let kind = match *k {
        "function" => Kind::Function,
        "var" => Kind::Var,
        _ => Kind::Other,
    };
    Some((kind, k))
}

/// The value of a hex digit, or -1 (ClamAV's `cli_hex2int`).
pub(super) fn hex(c: u8) -> i32 {
    match c {
        b'0'..=b'9' => i32::from(c - b'0'),
        b'a'..=b'f' => i32::from(c - b'a' + 10),
        b'A'..=b'F' => i32::from(c - b'A' + 10),
        _ => -1,
    }
}

/// UTF-8 of a 16-bit code unit as ClamAV writes it (0 written as 0x01).
pub(super) fn push_utf8(out: &mut Vec<u8>, u: u16) {
    match u {
        0 => out.push(1),
        1..=0x7f => out.push(u as u8),
        0x80..=0x7ff => {
            out.push(0xc0 | (u >> 6) as u8);
            out.push(0x80 | (u & 0x3f) as u8);
        }
        _ => {
            out.push(0xe0 | (u >> 12) as u8);
            out.push(0x80 | ((u >> 6) & 0x3f) as u8);
            out.push(0x80 | (u & 0x3f) as u8);
        }
    }
}

/// A string literal's bytes with their escapes decoded as ClamAV does: `\0 \b \t \n \v \f \r`,
/// `\xHH` (a bad low digit gives 0xff), `\uHHHH` as UTF-8, any other escaped byte itself; NUL
/// bytes become 0x01.
pub(super) fn append_escaped(out: &mut Vec<u8>, s: &[u8]) {
    let mut i = 0;
    while i < s.len() {
        let mut c = s[i];
        if c == b'\\' && i + 1 < s.len() {
            i += 1;
            match s[i] {
                b'0' => c = 0,
                b'b' => c = 8,
                b't' => c = 9,
                b'n' => c = 10,
                b'v' => c = 11,
                b'f' => c = 12,
                b'r' => c = 13,
                b'x' => {
                    if i + 2 < s.len() {
                        c = ((hex(s[i + 1]).max(0) << 4) | hex(s[i + 2])) as u8;
                    }
                    i += 2;
                }
                b'u' => {
                    if i + 4 < s.len() {
                        let u = (hex(s[i + 1]).max(0) << 12)
                            | (hex(s[i + 2]).max(0) << 8)
                            | (hex(s[i + 3]).max(0) << 4)
                            | hex(s[i + 4]);
                        push_utf8(out, u as u16);
                        i += 5;
                        continue;
                    }
                }
                x => c = x,
            }
        }
        out.push(if c == 0 { 1 } else { c });
        i += 1;
    }
}

/// The tokenizer's state kept between buffers.
pub(super) struct Lexer {
    pub(super) state: LexState,
    buf: Vec<u8>,
}

/// One buffer being read.
pub(super) struct Input<'a> {
    data: &'a [u8],
    pos: usize,
    last: Option<(usize, LexState)>,
}

impl<'a> Input<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Input {
            data,
            pos: 0,
            last: None,
        }
    }
}

/// A C `atoi` (through `strtol`): the leading decimal digits, saturated to `i64::MAX`, then
/// truncated to 32 bits.
fn atoi(s: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for &c in s.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    i64::from(v as i32)
}

/// A C `atof` of what the number reader kept: the longest prefix that is a decimal number.
fn atof(s: &[u8]) -> f64 {
    let mut n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if s.get(n) == Some(&b'.') {
        n += 1;
        n += s[n..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    if matches!(s.get(n), Some(b'e' | b'E')) {
        let mut m = n + 1;
        if matches!(s.get(m), Some(b'+' | b'-')) {
            m += 1;
        }
        let d = s[m.min(s.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if d > 0 {
            n = m + d;
        }
    }
    let t = std::str::from_utf8(&s[..n]).unwrap_or("0");
    if t.is_empty() || t == "." {
        return 0.0;
    }
    t.parse::<f64>().unwrap_or(0.0)
}

impl Lexer {
    pub(super) fn new() -> Self {
        Lexer {
            state: LexState::Initial,
            buf: Vec::new(),
        }
    }

    /// The next token of `inp`, or `None` at its end (also when a token continues in the next
    /// buffer).
    pub(super) fn next(&mut self, inp: &mut Input<'_>) -> Option<(Kind, Val)> {
        // ClamAV's guard against a loop: called twice at one place in one state, skip a byte.
        if inp.last == Some((inp.pos, self.state)) {
            inp.pos += 1;
        }
        inp.last = Some((inp.pos, self.state));
        let d = inp.data;
        while inp.pos < d.len() {
            match self.state {
                LexState::Initial => {
                    self.buf.clear();
                    let c = d[inp.pos];
                    inp.pos += 1;
                    match class(c) {
                        Class::Space | Class::Skip => {}
                        Class::Slash => {
                            match d.get(inp.pos) {
                                Some(b'*') => {
                                    self.state = LexState::MultiComment;
                                    inp.pos += 1;
                                    continue;
                                }
                                Some(b'/') => {
                                    self.state = LexState::LineComment;
                                    inp.pos += 1;
                                    continue;
                                }
                                _ => {}
                            }
                            inp.pos -= 1;
                            return Some(operator(inp));
                        }
                        Class::Op => {
                            inp.pos -= 1;
                            return Some(operator(inp));
                        }
                        Class::Dq => return self.string(inp, b'"', LexState::DqString),
                        Class::Sq => return self.string(inp, b'\'', LexState::SqString),
                        Class::Digit => {
                            inp.pos -= 1;
                            return self.number(inp);
                        }
                        Class::Id => {
                            inp.pos -= 1;
                            return self.ident(inp);
                        }
                        Class::Single(k, s) => return Some((k, Val::Static(s))),
                    }
                }
                LexState::DqString => return self.string(inp, b'"', LexState::DqString),
                LexState::SqString => return self.string(inp, b'\'', LexState::SqString),
                LexState::Identifier => return self.ident(inp),
                LexState::Number => return self.number(inp),
                LexState::MultiComment => {
                    let rest = &d[inp.pos..];
                    match memchr::memmem::find(rest, b"*/") {
                        Some(k) => {
                            self.state = LexState::Initial;
                            inp.pos += k + 2;
                        }
                        None => inp.pos = d.len(),
                    }
                }
                LexState::LineComment => {
                    let rest = &d[inp.pos..];
                    inp.pos += memchr::memchr2(b'\n', b' ', rest).unwrap_or(rest.len());
                    self.state = LexState::Initial;
                }
            }
        }
        None
    }

    fn string(&mut self, inp: &mut Input<'_>, q: u8, cont: LexState) -> Option<(Kind, Val)> {
        let d = inp.data;
        let start = inp.pos;
        let mut from = start;
        let end = loop {
            match memchr::memchr(q, &d[from..]) {
                Some(k) => {
                    let e = from + k;
                    if e > start && d[e - 1] == b'\\' {
                        from = e + 1;
                        continue;
                    }
                    break Some(e);
                }
                None => break None,
            }
        };
        let len = end.map_or(d.len() - start, |e| e - start);
        append_escaped(&mut self.buf, &d[start..start + len]);
        if end.is_some() {
            inp.pos += len + 1;
            self.state = LexState::Initial;
            Some((Kind::Str, Val::Str(Some(std::mem::take(&mut self.buf)))))
        } else {
            inp.pos += len;
            self.state = cont;
            None
        }
    }

    fn number(&mut self, inp: &mut Input<'_>) -> Option<(Kind, Val)> {
        let d = inp.data;
        let mut float = false;
        while inp.pos < d.len() {
            let c = d[inp.pos];
            inp.pos += 1;
            if c.is_ascii_digit() {
                self.buf.push(c);
                continue;
            }
            if c == b'.' && !float {
                float = true;
                self.buf.push(c);
                continue;
            }
            if (c == b'e' || c == b'E') && float {
                self.buf.push(c);
                if inp.pos < d.len() {
                    let c = d[inp.pos];
                    inp.pos += 1;
                    if c == b'+' || c == b'-' || c.is_ascii_digit() {
                        self.buf.push(c);
                        continue;
                    }
                }
            }
            inp.pos -= 1;
            self.state = LexState::Initial;
            return Some(if float {
                (Kind::Float, Val::Float(atof(&self.buf)))
            } else {
                (Kind::Int, Val::Int(atoi(&self.buf)))
            });
        }
        self.state = LexState::Number;
        None
    }

    fn ident(&mut self, inp: &mut Input<'_>) -> Option<(Kind, Val)> {
        let d = inp.data;
        self.state = LexState::Initial;
        while inp.pos < d.len() {
            let c = d[inp.pos];
            inp.pos += 1;
            if is_id(c) {
                self.buf.push(c);
                continue;
            }
            if c == b'\\' {
                if inp.pos < d.len() {
                    let n = d[inp.pos];
                    inp.pos += 1;
                    if n == b'u' {
                        self.buf.push(c);
                        continue;
                    }
                }
                if inp.pos == d.len() {
                    inp.pos += 1;
                }
            }
            // The byte is not part of the identifier.
            inp.pos -= 1;
            return Some(match keyword(&self.buf) {
                Some((k, s)) => (k, Val::Static(s)),
                None => (Kind::Ident, Val::Name(self.buf.as_slice().into())),
            });
        }
        self.state = LexState::Identifier;
        None
    }
}

/// The longest operator at the reader's position (there always is one: every operator byte is
/// an operator alone).
fn operator(inp: &mut Input<'_>) -> (Kind, Val) {
    let rest = &inp.data[inp.pos..];
    for len in (1..=rest.len().min(5)).rev() {
        if let Some(op) = OPERATORS.iter().find(|o| o.as_bytes() == &rest[..len]) {
            inp.pos += len;
            let kind = if *op == "+" { Kind::Plus } else { Kind::Other };
            return (kind, Val::Static(op));
        }
    }
    inp.pos += 1;
    (Kind::Other, Val::None)
}
