//! PDF objects as far as the encryption dictionary needs them: dictionaries, arrays, names,
//! numbers, references, booleans, and literal and hexadecimal strings (escapes decoded).
//! Malformed input yields fewer entries, never a panic; nesting is bounded.

/// Deepest nesting of dictionaries and arrays read.
const MAX_DEPTH: usize = 16;
/// Most entries read from one dictionary or array.
const MAX_ITEMS: usize = 4096;

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    /// A dictionary: its text, from `<<` to `>>` included.
    Dict(&'a [u8]),
    /// An array's values.
    Array(Vec<Value<'a>>),
    /// A name, without its `/` (`#xx` escapes left as written).
    Name(&'a [u8]),
    /// A string, escapes decoded.
    Str(Vec<u8>),
    /// An integer.
    Int(i64),
    /// `N G R`.
    Ref(u64, u64),
    /// `true` or `false`.
    Bool(bool),
    /// Anything else (a real number, `null`, an operator).
    Other,
}

impl<'a> Value<'a> {
    /// The integer, if it is one.
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The name, if it is one.
    pub(crate) fn name(&self) -> Option<&'a [u8]> {
        match self {
            Value::Name(n) => Some(n),
            _ => None,
        }
    }

    /// The names of a name or of an array of names (a `/Filter`).
    pub(crate) fn names(&self) -> Vec<&'a [u8]> {
        match self {
            Value::Name(n) => vec![n],
            Value::Array(a) => a.iter().filter_map(Value::name).collect(),
            _ => Vec::new(),
        }
    }

    /// The string's bytes, if it is one.
    pub(crate) fn string(&self) -> Option<Vec<u8>> {
        match self {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// The boolean, if it is one.
    pub(crate) fn boolean(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The dictionary, parsed, if it is one.
    pub(crate) fn dict(&self) -> Option<Dict<'a>> {
        match self {
            Value::Dict(d) => Some(parse(d)),
            _ => None,
        }
    }
}

/// A dictionary's entries, in order (a repeated key: the first one wins).
#[derive(Debug, Default)]
pub(crate) struct Dict<'a>(Vec<(&'a [u8], Value<'a>)>);

impl<'a> Dict<'a> {
    /// The value of `/key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, 0 | b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

fn is_delim(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn skip_space(t: &[u8], mut i: usize) -> usize {
    while i < t.len() {
        if is_space(t[i]) {
            i += 1;
        } else if t[i] == b'%' {
            // A comment runs to the end of the line.
            while i < t.len() && t[i] != b'\n' && t[i] != b'\r' {
                i += 1;
            }
        } else {
            break;
        }
    }
    i
}

/// The entries of the dictionary that `t` starts with (after white space).
pub(crate) fn parse(t: &[u8]) -> Dict<'_> {
    match value(t) {
        Some((Value::Dict(d), _)) => entries(d, 0),
        _ => Dict::default(),
    }
}

fn entries(d: &[u8], depth: usize) -> Dict<'_> {
    let mut out = Vec::new();
    let inner = &d[2..d.len().saturating_sub(2).max(2)];
    let mut i = 0;
    while out.len() < MAX_ITEMS {
        i = skip_space(inner, i);
        if inner.get(i) != Some(&b'/') {
            break;
        }
        let (k, next) = token(inner, i + 1);
        let Some((v, used)) = value_at(&inner[next..], depth + 1) else {
            break;
        };
        out.push((k, v));
        i = next + used;
    }
    Dict(out)
}

/// The value `t` starts with (after white space) and the bytes it took.
pub(crate) fn value(t: &[u8]) -> Option<(Value<'_>, usize)> {
    value_at(t, 0)
}

fn value_at(t: &[u8], depth: usize) -> Option<(Value<'_>, usize)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let i = skip_space(t, 0);
    let c = *t.get(i)?;
    match c {
        b'<' if t.get(i + 1) == Some(&b'<') => {
            let end = dict_end(t, i)?;
            Some((Value::Dict(&t[i..end]), end))
        }
        b'<' => {
            let close = i + memchr::memchr(b'>', &t[i..])?;
            Some((Value::Str(hex_string(&t[i + 1..close])), close + 1))
        }
        b'(' => {
            let (s, end) = literal_string(t, i)?;
            Some((Value::Str(s), end))
        }
        b'[' => {
            let mut items = Vec::new();
            let mut j = i + 1;
            loop {
                j = skip_space(t, j);
                match t.get(j)? {
                    b']' => return Some((Value::Array(items), j + 1)),
                    _ if items.len() >= MAX_ITEMS => return None,
                    _ => {
                        let (v, used) = value_at(&t[j..], depth + 1)?;
                        items.push(v);
                        j += used.max(1);
                    }
                }
            }
        }
        b'/' => {
            let (n, end) = token(t, i + 1);
            Some((Value::Name(n), end))
        }
        _ => {
            let (tok, end) = token(t, i);
            if tok.is_empty() {
                return Some((Value::Other, end + 1));
            }
            match tok {
                b"true" => return Some((Value::Bool(true), end)),
                b"false" => return Some((Value::Bool(false), end)),
                _ => {}
            }
            let Some(n) = std::str::from_utf8(tok)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
            else {
                return Some((Value::Other, end));
            };
            // `N G R` is a reference.
            let j = skip_space(t, end);
            let (g, gend) = token(t, j);
            let k = skip_space(t, gend);
            if let (Some(gen), Some(b'R')) = (
                std::str::from_utf8(g)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok()),
                t.get(k),
            ) {
                if !t.get(k + 1).is_some_and(|c| !is_space(*c) && !is_delim(*c)) {
                    if let Ok(num) = u64::try_from(n) {
                        return Some((Value::Ref(num, gen), k + 1));
                    }
                }
            }
            Some((Value::Int(n), end))
        }
    }
}

/// A run of regular characters from `i`, and where it ends.
fn token(t: &[u8], i: usize) -> (&[u8], usize) {
    let mut j = i;
    while j < t.len() && !is_space(t[j]) && !is_delim(t[j]) {
        j += 1;
    }
    (&t[i.min(j)..j], j)
}

/// Where the dictionary opening at `t[i]` (`<<`) ends (after its `>>`), strings skipped.
fn dict_end(t: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < t.len() {
        match t[j] {
            b'(' => j = literal_string(t, j)?.1,
            b'<' if t.get(j + 1) == Some(&b'<') => {
                depth += 1;
                j += 2;
            }
            b'>' if t.get(j + 1) == Some(&b'>') => {
                depth = depth.checked_sub(1)?;
                j += 2;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => j += 1,
        }
    }
    None
}

fn hex_string(h: &[u8]) -> Vec<u8> {
    let digits: Vec<u8> = h
        .iter()
        .filter_map(|c| (*c as char).to_digit(16).map(|d| d as u8))
        .collect();
    digits
        .chunks(2)
        .map(|p| p[0] << 4 | p.get(1).copied().unwrap_or(0))
        .collect()
}

/// The literal string opening at `t[i]` (`(`), decoded, and where it ends.
fn literal_string(t: &[u8], i: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut j = i;
    loop {
        let c = *t.get(j)?;
        j += 1;
        match c {
            b'(' => {
                depth += 1;
                if depth > 1 {
                    out.push(c);
                }
            }
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some((out, j));
                }
                out.push(c);
            }
            b'\\' => {
                let e = *t.get(j)?;
                j += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'\r' => {
                        if t.get(j) == Some(&b'\n') {
                            j += 1;
                        }
                    }
                    b'\n' => {}
                    b'0'..=b'7' => {
                        let mut v = u32::from(e - b'0');
                        for _ in 0..2 {
                            match t.get(j) {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    j += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(v as u8);
                    }
                    other => out.push(other),
                }
            }
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_encryption_dictionary() {
        let d = parse(
            b"<< /Filter /Standard /V 4 /R 4 /Length 128 /P -1028 /EncryptMetadata false\n\
              /O <0102ff> /U (a\\)b\\n\\101\\\n(c)) /CF << /StdCF << /CFM /AESV2 /Length 16 >> >>\n\
              /StmF /StdCF /Ref 12 0 R /A [ /Fl /AHx ] >>",
        );
        assert_eq!(
            d.get(b"Filter").and_then(Value::name),
            Some(&b"Standard"[..])
        );
        assert_eq!(d.get(b"P").and_then(Value::int), Some(-1028));
        assert_eq!(
            d.get(b"EncryptMetadata").and_then(Value::boolean),
            Some(false)
        );
        assert_eq!(d.get(b"O").and_then(Value::string), Some(vec![1, 2, 0xff]));
        assert_eq!(
            d.get(b"U").and_then(Value::string),
            Some(b"a)b\nA(c)".to_vec())
        );
        let cf = d.get(b"CF").and_then(Value::dict).expect("CF");
        let std = cf.get(b"StdCF").and_then(Value::dict).expect("StdCF");
        assert_eq!(std.get(b"CFM").and_then(Value::name), Some(&b"AESV2"[..]));
        assert_eq!(d.get(b"Ref"), Some(&Value::Ref(12, 0)));
        assert_eq!(
            d.get(b"A").map(Value::names),
            Some(vec![&b"Fl"[..], &b"AHx"[..]])
        );
        assert_eq!(d.get(b"Length").and_then(Value::int), Some(128));
    }

    #[test]
    fn malformed_input_gives_what_it_can() {
        for t in [
            &b"<< /A (unterminated"[..],
            b"<< /A [ 1 2",
            b"<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<",
            b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
            b"",
            b"<< /A 1 0 >>",
            b"<< /A <4> >>",
        ] {
            let _ = parse(t);
            let _ = value(t);
        }
        assert_eq!(parse(b"<< /A 1 0 >>").get(b"A"), Some(&Value::Int(1)));
        assert_eq!(
            parse(b"<< /A <4> >>").get(b"A").and_then(Value::string),
            Some(vec![0x40])
        );
    }
}
