//! The folders and decoders ClamAV runs once a script is parsed: `unescape("…")` of a constant
//! becomes the string, and `eval("…")`, scriptasylum's `dF('…')` and Dean Edwards' packer are
//! replaced by the normalised tokens of the text they decode.
//!
//! As in ClamAV, the decoders walk the tokens once, front to back: text decoded at a token is
//! normalised with the script's own tokenizer and scopes and put in the place of the call (for
//! `dF`, at the end of the script), and the walk goes on through it, so nested calls are
//! decoded too, except one that comes first in the decoded text. The walk follows scopes as it
//! goes, but a `function` it inspects for the packer's signature is not entered (ClamAV's
//! quirk), which decides the scope decoded code is parsed in.

use std::collections::VecDeque;

use super::lexer::{hex, push_utf8};
use super::{Kind, Script, Token, Val, MAX_DECODED, MAX_PACKED};

/// JavaScript's `unescape` as ClamAV writes it: `%uHHHH` as UTF-8, `%HH` as the byte, NUL
/// bytes as 0x01.
pub(super) fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let len = s.len();
    let mut k = 0;
    let xd = |c: u8| c.is_ascii_hexdigit();
    while k < len {
        let mut c = s[k];
        if c == b'%' {
            if k + 5 >= len
                || s[k + 1] != b'u'
                || !xd(s[k + 2])
                || !xd(s[k + 3])
                || !xd(s[k + 4])
                || !xd(s[k + 5])
            {
                if k + 2 < len && xd(s[k + 1]) && xd(s[k + 2]) {
                    c = ((hex(s[k + 1]) << 4) | hex(s[k + 2])) as u8;
                    k += 2;
                }
            } else {
                let u = (hex(s[k + 2]) << 12)
                    | (hex(s[k + 3]) << 8)
                    | (hex(s[k + 4]) << 4)
                    | hex(s[k + 5]);
                push_utf8(&mut out, u as u16);
                k += 6;
                continue;
            }
        }
        out.push(if c == 0 { 1 } else { c });
        k += 1;
    }
    out
}

/// `unescape ( "…" x` becomes the unescaped string (`x`, normally `)`, goes too).
pub(super) fn fold_unescape(tokens: &mut Vec<Token>) {
    if !tokens.iter().any(|t| t.is_ident(b"unescape")) {
        return;
    }
    let old = std::mem::take(tokens);
    let mut it = old.into_iter();
    // A window of the next four tokens.
    let mut window: VecDeque<Token> = VecDeque::with_capacity(4);
    loop {
        while window.len() < 4 {
            match it.next() {
                Some(t) => window.push_back(t),
                None => break,
            }
        }
        if window.len() >= 4
            && window[0].is_ident(b"unescape")
            && window[1].kind == Kind::ParOpen
            && window[2].kind == Kind::Str
        {
            let s = unescape(window[2].text().unwrap_or_default());
            window.clear();
            tokens.push(Token {
                kind: Kind::Str,
                val: Val::Str(Some(s)),
            });
            continue;
        }
        match window.pop_front() {
            Some(t) => tokens.push(t),
            None => break,
        }
    }
}

/// What a decoder found: the tokens to replace (`begin..end` from the walk's position), the
/// text to normalise in their place, and whether its tokens go at the end instead.
struct Decoded {
    begin: usize,
    end: usize,
    text: Vec<u8>,
    append: bool,
}

/// Whether `t` (from a `(`) starts the packer's parameters: ClamAV checks `(p,a,c,` only.
fn packer_params(t: &VecDeque<Token>, from: usize) -> bool {
    let at = |i: usize| t.get(from + i);
    if at(0).map(|x| x.kind) != Some(Kind::ParOpen) {
        return false;
    }
    for (n, name) in [b"p", b"a", b"c"].iter().enumerate() {
        let i = 1 + 2 * n;
        match at(i) {
            Some(x) if x.is_ident(*name) => {}
            _ => return false,
        }
        if at(i + 1).map(|x| x.kind) != Some(Kind::Comma) {
            return false;
        }
    }
    true
}

/// The packer's decoding of one call's six arguments (their first tokens).
/// Stops once `out` passes `limit` bytes.
fn unpack(params: [&Token; 6], k_token: &mut Option<Vec<u8>>, out: &mut Vec<u8>, limit: usize) {
    let p = params[0].text().map(<[u8]>::to_vec);
    let a = match params[1].val {
        Val::Int(v) => v,
        _ => -1,
    };
    let Some(p) = p else {
        return;
    };
    let Some(k) = params[3].string().map(<[u8]>::to_vec) else {
        return;
    };
    // ClamAV cuts the word list in place: the string keeps its first word.
    let first = k.split(|&c| c == b'|').next().unwrap_or_default().to_vec();
    *k_token = Some(first);
    let words: Vec<&[u8]> = k.split(|&c| c == b'|').collect();
    let mut i = 0;
    loop {
        while i < p.len() && !p[i].is_ascii_alphanumeric() {
            if p[i] == b'\\' && matches!(p.get(i + 1), Some(b'\'' | b'"')) {
                i += 1;
            } else {
                out.push(p[i]);
                i += 1;
            }
        }
        if i >= p.len() {
            break;
        }
        let start = i;
        let mut val: u32 = 0;
        while i < p.len() && p[i].is_ascii_alphanumeric() {
            let v = p[i];
            i += 1;
            let x = if v >= b'a' {
                10 + u32::from(v - b'a')
            } else if v >= b'A' {
                36 + u32::from(v - b'A')
            } else {
                u32::from(v - b'0')
            };
            val = val.wrapping_mul(a as u32).wrapping_add(x);
        }
        match words.get(val as usize) {
            Some(w) if !w.is_empty() => out.extend_from_slice(w),
            _ => out.extend_from_slice(&p[start..i]),
        }
        if i >= p.len() || out.len() > limit {
            break;
        }
    }
}

/// Collects a call's six arguments from `i` (just after its `(`): the first token of each,
/// up to `,` (the last up to `)`). Returns their positions and where the walk stops.
fn call_args(t: &VecDeque<Token>, mut i: usize) -> (Option<[usize; 6]>, usize) {
    let cnt = t.len();
    let mut params = [0usize; 6];
    let mut j = 0;
    while j < 6 && i < cnt {
        params[j] = i;
        i += 1;
        let stop = if j != 5 { Kind::Comma } else { Kind::ParClose };
        while i < cnt && t[i].kind != stop {
            i += 1;
        }
        i += 1;
        j += 1;
    }
    ((j == 6).then_some(params), i)
}

/// The packer: `function(p,a,c,…){…}` whose `(` is at `start`, called right there or later by
/// `name`.
fn packer(
    t: &mut VecDeque<Token>,
    start: usize,
    name: Option<&[u8]>,
    limit: usize,
) -> Option<Decoded> {
    let cnt = t.len();
    let mut nesting = 1usize;
    let mut i = start;
    while i < cnt {
        if t[i].kind == Kind::Function {
            if matches!(t[i].val, Val::Scope(Some(_))) {
                nesting += 1;
            } else {
                nesting -= 1;
            }
            if nesting == 0 {
                break;
            }
        }
        i += 1;
    }
    if nesting != 0 {
        return None;
    }
    let mut text = Vec::new();
    let mut first = None;
    let mut last = None;
    let mut decode_at = |t: &mut VecDeque<Token>, params: [usize; 6], text: &mut Vec<u8>| {
        first.get_or_insert(params[0]);
        last = Some(params[5]);
        let mut k_new = None;
        let ps = [
            &t[params[0]],
            &t[params[1]],
            &t[params[2]],
            &t[params[3]],
            &t[params[4]],
            &t[params[5]],
        ];
        unpack(ps, &mut k_new, text, limit);
        if let (Some(k), Val::Str(Some(s))) = (k_new, &mut t[params[3]].val) {
            *s = k;
        }
    };
    if let Some(name) = name {
        while i + 2 < cnt {
            if t[i].is_ident(name) && t[i + 1].kind == Kind::ParOpen {
                let (params, next) = call_args(t, i + 2);
                i = next;
                if let Some(p) = params {
                    decode_at(t, p, &mut text);
                }
            }
            i += 1;
        }
    } else {
        while i < cnt && t[i].kind != Kind::ParOpen {
            i += 1;
        }
        i += 1;
        if i >= cnt {
            return None;
        }
        if let (Some(p), _) = call_args(t, i) {
            decode_at(t, p, &mut text);
        }
    }
    let (first, last) = (first?, last?);
    let mut end = last + 1;
    if end + 2 < cnt
        && t[end].kind == Kind::BracketOpen
        && t[end + 1].kind == Kind::BracketClose
        && t[end + 2].kind == Kind::ParClose
    {
        end += 3;
    } else if end < cnt {
        end += 1;
    }
    Some(Decoded {
        begin: first,
        end,
        text,
        append: false,
    })
}

/// scriptasylum's encoder: `dF('…N')`, the string unescaped, each byte lowered by N, unescaped
/// again; its tokens go at the end of the script.
fn df(t: &mut VecDeque<Token>, start: usize) -> Option<Decoded> {
    let tok = t.get_mut(start)?;
    if tok.kind != Kind::Str {
        return None;
    }
    let Val::Str(Some(s)) = &mut tok.val else {
        return None;
    };
    let last = s.pop()?;
    let shift = last.wrapping_sub(b'0');
    let mut s1 = unescape(s);
    for b in &mut s1 {
        *b = b.wrapping_sub(shift);
    }
    let cut = s1.iter().position(|&b| b == 0).unwrap_or(s1.len());
    let mut r = unescape(&s1[..cut]);
    if let Some(z) = r.iter().position(|&b| b == 0) {
        r.truncate(z);
    }
    Some(Decoded {
        begin: start - 2,
        end: start + 2,
        text: r,
        append: true,
    })
}

/// `eval("…")` of a constant string.
fn eval(t: &mut VecDeque<Token>, start: usize) -> Option<Decoded> {
    if start + 1 >= t.len() {
        return None;
    }
    t[start].string()?;
    if t[start + 1].kind != Kind::ParClose {
        return None;
    }
    let Val::Str(s) = &mut t[start].val else {
        return None;
    };
    let text = s.take()?;
    Some(Decoded {
        begin: start - 2,
        end: start + 2,
        text,
        append: false,
    })
}

impl Script {
    /// Moves the decoders' walk (like the writer) into and out of function scopes.
    fn follow_scope(&mut self, t: &Token) {
        if t.kind == Kind::Function {
            match t.val {
                Val::Scope(Some(s)) => self.current = s,
                _ => {
                    if let Some(p) = self.scopes[self.current].parent {
                        self.current = p;
                    }
                }
            }
        }
    }

    /// ClamAV's decoders, in one walk over the tokens (see the module documentation).
    pub(super) fn run_decoders(&mut self) {
        let mut done: Vec<Token> = Vec::with_capacity(self.tokens.len());
        let mut rest: VecDeque<Token> = std::mem::take(&mut self.tokens).into();
        let mut budget = MAX_DECODED.saturating_add(self.fed.saturating_mul(8));
        let mut packed = 0usize;
        while !rest.is_empty() {
            let mut res = None;
            let front = &rest[0];
            if front.kind == Kind::Function && rest.len() > 13 {
                // The `function` token is passed without entering its scope.
                done.extend(rest.pop_front());
                let mut name = None;
                if rest.front().map(|t| t.kind) == Some(Kind::Ident) {
                    name = rest.front().and_then(|t| t.text()).map(<[u8]>::to_vec);
                    done.extend(rest.pop_front());
                }
                if packed < MAX_PACKED && packer_params(&rest, 0) {
                    packed += 1;
                    res = packer(&mut rest, 0, name.as_deref(), budget);
                }
            } else if rest.len() > 2 && rest[1].kind == Kind::ParOpen {
                if front.is_ident(b"dF") {
                    res = df(&mut rest, 2);
                } else if front.is_ident(b"eval") {
                    res = eval(&mut rest, 2);
                }
            }
            if let Some(mut r) = res.filter(|r| r.end > r.begin) {
                if rest.get(r.end).map(|t| t.kind) == Some(Kind::Semicolon) {
                    r.end += 1;
                }
                if r.text.len() > budget {
                    // Over the budget: the call stays as written.
                    if let Some(Token {
                        kind: Kind::Str,
                        val: v @ Val::Str(None),
                    }) = rest.get_mut(r.begin + 2)
                    {
                        *v = Val::Str(Some(r.text));
                    }
                    budget = 0;
                } else {
                    budget -= r.text.len();
                    let mut nested = Vec::new();
                    self.parse(&r.text, &mut nested);
                    place(&mut rest, &r, nested);
                }
            }
            if let Some(t) = rest.pop_front() {
                self.follow_scope(&t);
                done.push(t);
            }
        }
        self.tokens = done;
    }
}

/// Puts the decoded tokens in place of the call (or at the end); nothing changes when the
/// range is out of the tokens, but tokens to append are appended.
fn place(rest: &mut VecDeque<Token>, r: &Decoded, nested: Vec<Token>) {
    let valid = r.begin < rest.len() && r.end <= rest.len();
    if !r.append {
        if valid {
            splice(rest, r.begin, r.end, nested);
        }
    } else {
        if valid {
            splice(rest, r.begin, r.end, Vec::new());
        }
        rest.extend(nested);
    }
}

/// Replaces `t[begin..end]` with `with`.
fn splice(t: &mut VecDeque<Token>, begin: usize, end: usize, with: Vec<Token>) {
    if begin == 0 {
        t.drain(..end);
        for tok in with.into_iter().rev() {
            t.push_front(tok);
        }
    } else {
        let tail = t.split_off(end);
        t.truncate(begin);
        t.extend(with);
        t.extend(tail);
    }
}
