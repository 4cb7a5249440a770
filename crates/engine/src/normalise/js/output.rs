//! How ClamAV writes a normalised script: `<script>`, each token lower-cased with white space
//! as spaces (strings between `"`, declared identifiers as `n` and three digits, numbers as C's
//! `%ld` and `%g` print them), a space only between two alphanumeric bytes, and `</script>`
//! unless the tokens end with it.
//!
//! ClamAV writes through a 64 KiB buffer and only looks for the closing `</script>` in what is
//! still in it; that quirk is kept (it adds a second `</script>` when the tokens' own one ends
//! right after a 64 KiB boundary).

use super::{Kind, Scope, Token, Val, MAX_SCOPE_DEPTH};

/// ClamAV's output buffer size.
const BLOCK: usize = 65536;

/// The view being written, with the position in ClamAV's buffer.
struct Out<'a> {
    view: &'a mut Vec<u8>,
    pos: usize,
}

impl Out<'_> {
    /// A byte as is.
    fn byte(&mut self, c: u8) {
        if self.pos >= BLOCK {
            self.pos = 0;
        }
        self.view.push(c);
        self.pos += 1;
    }

    /// Bytes lower-cased, white space as a space.
    fn text(&mut self, s: &[u8]) {
        for &c in s {
            if self.pos == BLOCK {
                self.pos = 0;
            }
            self.view.push(if is_space(c) {
                b' '
            } else {
                c.to_ascii_lowercase()
            });
            self.pos += 1;
            if self.pos == BLOCK {
                self.pos = 0;
            }
        }
    }

    /// A space between two alphanumeric bytes.
    fn space(&mut self, last: u8, next: u8) {
        if last.is_ascii_alphanumeric() && next.is_ascii_alphanumeric() {
            self.byte(b' ');
        }
    }
}

const fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// The number of `name` as seen from scope `s`, if declared there or in a scope around it.
fn lookup(scopes: &[Scope], mut s: usize, name: &[u8]) -> Option<u64> {
    for _ in 0..MAX_SCOPE_DEPTH {
        let scope = scopes.get(s)?;
        if let Some(Some(id)) = scope.names.get(name) {
            return Some(*id);
        }
        s = scope.parent?;
    }
    None
}

/// C's `printf("%g", x)`.
pub(super) fn fmt_g(x: f64) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Six significant digits; the exponent after rounding decides the style.
    let e = format!("{x:.5e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", strip(mant), sign, exp.abs())
    } else {
        let prec = (5 - exp).max(0) as usize;
        strip(&format!("{x:.prec$}"))
    }
}

/// Appends the script's normalised form to `view`.
pub(super) fn write(tokens: &[Token], scopes: &[Scope], view: &mut Vec<u8>) {
    let separate = !view.is_empty();
    let mut out = Out { view, pos: 0 };
    if separate {
        out.byte(b'\n');
    }
    out.text(b"<script>");
    let mut cur = 0usize;
    let mut last = 0u8;
    for t in tokens {
        if t.kind == Kind::Function {
            match t.val {
                Val::Scope(Some(s)) => cur = s,
                _ => {
                    if let Some(p) = scopes.get(cur).and_then(|s| s.parent) {
                        cur = p;
                    }
                    continue;
                }
            }
        }
        last = token(&mut out, t, scopes, cur, last);
    }
    let ends = out.pos >= 9 && out.view.ends_with(b"</script>");
    if !ends {
        out.text(b"</script>");
    }
}

/// Writes one token; returns the class of its last byte for the spacing rule.
fn token(out: &mut Out<'_>, t: &Token, scopes: &[Scope], cur: usize, last: u8) -> u8 {
    match t.kind {
        Kind::Str => {
            out.space(last, b'"');
            out.byte(b'"');
            if let Some(s) = t.string() {
                out.text(s);
            }
            out.byte(b'"');
            b'"'
        }
        Kind::Int => {
            out.space(last, b'0');
            if let Val::Int(v) = t.val {
                out.text(v.to_string().as_bytes());
            }
            b'0'
        }
        Kind::Float => {
            out.space(last, b'0');
            if let Val::Float(v) = t.val {
                out.text(fmt_g(v).as_bytes());
            }
            b'0'
        }
        Kind::Ident => {
            out.space(last, b'a');
            if let Some(name) = t.text() {
                match lookup(scopes, cur, name) {
                    Some(id) => out.text(format!("n{id:03}").as_bytes()),
                    None => out.text(name),
                }
            }
            b'a'
        }
        Kind::Function => {
            out.space(last, b'a');
            out.text(b"function");
            b'a'
        }
        _ => match t.text() {
            Some(s) => {
                out.space(last, s.first().copied().unwrap_or(0));
                out.text(s);
                s.last().copied().unwrap_or(0)
            }
            None => 0,
        },
    }
}
