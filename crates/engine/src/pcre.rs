//! PCRE subsignatures as ClamAV 1.4 runs them: compilation from the flags (`i s m x A E U`) and
//! the match count under the ClamAV flags `g` (global), `r` (rolling) and `e` (encompass).
//!
//! With an offset other than `*`, ClamAV hands PCRE the data from the resolved offset on:
//! without `r` and without a maxshift the match must start exactly there (auto-anchoring);
//! with `r` it may start anywhere after; with a maxshift it must start within the shift, and
//! with `e` it must also end within it (the subject is cut at offset + maxshift).

use pcre2::bytes::{Regex, RegexBuilder};

use crate::sigs::offset::{self, Base, ExeInfo, Offset};
use crate::sigs::LineError;

/// At most this many matches are counted for a `g` subsignature.
const MAX_GLOBAL: u32 = 1000;

/// Rewrites unescaped `$` outside character classes to `\z` (PCRE's `DOLLAR_ENDONLY`, flag
/// `E`, which has no inline form); `E` is ignored with `m`, as in PCRE.
fn dollar_end_only(re: &str) -> String {
    let mut out = String::with_capacity(re.len() + 8);
    let (mut esc, mut class) = (false, false);
    for c in re.chars() {
        match c {
            _ if esc => {
                esc = false;
                out.push(c);
            }
            '\\' => {
                esc = true;
                out.push(c);
            }
            '[' if !class => {
                class = true;
                out.push(c);
            }
            ']' if class => {
                class = false;
                out.push(c);
            }
            '$' if !class => out.push_str("\\z"),
            _ => out.push(c),
        }
    }
    out
}

/// Compiles a PCRE subsignature's expression with its flags.
pub(crate) fn compile(regex: &str, flags: &str) -> Result<Regex, LineError> {
    let mut b = RegexBuilder::new();
    b.caseless(flags.contains('i'))
        .dotall(flags.contains('s'))
        .multi_line(flags.contains('m'))
        .extended(flags.contains('x'))
        .jit_if_available(true);
    let body = if flags.contains('E') && !flags.contains('m') {
        dollar_end_only(regex)
    } else {
        regex.to_string()
    };
    let mut re = String::new();
    if flags.contains('U') {
        re.push_str("(?U)");
    }
    if flags.contains('A') {
        re.push_str("\\A(?:");
        re.push_str(&body);
        re.push(')');
    } else {
        re.push_str(&body);
    }
    b.build(&re)
        .map_err(|_| LineError::Unsupported("pcre does not compile"))
}

/// The longest byte string every match of `regex` contains, when it can be told (the
/// expression parses as a byte regex, is case-sensitive, and such a string of 3+ bytes
/// exists): an object without it cannot match, and a substring search rules that out at
/// memory speed before PCRE runs over the whole object.
pub(crate) fn required_literal(regex: &str, flags: &str) -> Option<Box<[u8]>> {
    if flags.contains('i') {
        return None;
    }
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .ignore_whitespace(flags.contains('x'))
        .dot_matches_new_line(flags.contains('s'))
        .multi_line(flags.contains('m'))
        .swap_greed(flags.contains('U'))
        .build()
        .parse(regex)
        .ok()?;
    required(&hir)
        .filter(|l| l.len() >= 3)
        .map(Vec::into_boxed_slice)
}

/// The longest literal every match of `h` contains (see [`required_literal`]).
fn required(h: &regex_syntax::hir::Hir) -> Option<Vec<u8>> {
    use regex_syntax::hir::HirKind;
    let longer = |a: Option<Vec<u8>>, b: Option<Vec<u8>>| match (a, b) {
        (Some(a), Some(b)) => Some(if b.len() > a.len() { b } else { a }),
        (a, b) => a.or(b),
    };
    match h.kind() {
        HirKind::Literal(l) => Some(l.0.to_vec()),
        HirKind::Capture(c) => required(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub),
        HirKind::Concat(v) => {
            // Adjacent literals join into one run; elsewhere, the best of each part.
            let mut best = None;
            let mut run: Vec<u8> = Vec::new();
            for c in v {
                if let HirKind::Literal(l) = c.kind() {
                    run.extend_from_slice(&l.0);
                    continue;
                }
                best = longer(best, (!run.is_empty()).then(|| std::mem::take(&mut run)));
                best = longer(best, required(c));
            }
            longer(best, (!run.is_empty()).then_some(run))
        }
        _ => None,
    }
}

/// How many times a PCRE subsignature matches `data` (the whole object) at `off` under `flags`
/// (0 or 1 without `g`). An offset that cannot be resolved (e.g. `EP` of a non-executable)
/// never matches.
pub(crate) fn count(
    re: &Regex,
    data: &[u8],
    off: &Offset,
    flags: &str,
    exe: Option<&ExeInfo>,
) -> u32 {
    let global = flags.contains('g');
    let (subject, anchored, max_start) = if off.base == Base::Any {
        (data, false, None)
    } else {
        let Some((lo, hi)) = offset::resolve(off, data.len() as u64, exe) else {
            return 0;
        };
        let shift = hi - lo;
        let Ok(lo) = usize::try_from(lo) else {
            return 0;
        };
        if lo > data.len() {
            return 0;
        }
        let (rolling, encompass) = (flags.contains('r'), flags.contains('e'));
        let end = if encompass && shift > 0 {
            usize::try_from(hi).map_or(data.len(), |h| h.min(data.len()))
        } else {
            data.len()
        };
        let max_start = (!rolling && !encompass && shift > 0).then_some(shift);
        (&data[lo..end], !rolling && shift == 0, max_start)
    };
    let mut n = 0u32;
    let mut at = 0usize;
    while at <= subject.len() {
        let Ok(Some(m)) = re.find_at(subject, at) else {
            break;
        };
        if (anchored && m.start() != at) || max_start.is_some_and(|s| m.start() as u64 > s) {
            break;
        }
        n += 1;
        if !global || n >= MAX_GLOBAL {
            break;
        }
        at = if m.end() > m.start() {
            m.end()
        } else {
            m.end() + 1
        };
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cnt(re: &str, flags: &str, off: &str, data: &[u8]) -> u32 {
        let r = compile(re, flags).unwrap();
        count(&r, data, &offset::parse(off).unwrap(), flags, None)
    }

    fn at(pos: usize, s: &[u8]) -> Vec<u8> {
        let mut d = vec![b'.'; pos];
        d.extend_from_slice(s);
        d.extend_from_slice(&[b'.'; 64]);
        d
    }

    /// The examples of ClamAV's LogicalSignatures documentation ("PCRE subsignatures").
    #[test]
    fn documented_offsets_and_flags() {
        // Find.ClamAV.OnlyAt.299: auto-anchored at 299.
        assert_eq!(cnt("clamav", "", "299", &at(299, b"clamav")), 1);
        assert_eq!(cnt("clamav", "", "299", &at(300, b"clamav")), 0);
        assert_eq!(cnt("clamav", "", "299", &at(298, b"clamav")), 0);
        // Find.ClamAV.StartAt.300: rolling from 300.
        assert_eq!(cnt("clamav", "r", "300", &at(300, b"clamav")), 1);
        assert_eq!(cnt("clamav", "r", "300", &at(500, b"clamav")), 1);
        assert_eq!(cnt("clamav", "r", "300", &at(299, b"clamav")), 0);
        // Find.All.Encompassed.ClamAV: 200,300 with g and e: inside [200, 500].
        assert_eq!(cnt("clamav", "ge", "200,300", &at(250, b"clamav")), 1);
        assert_eq!(cnt("clamav", "ge", "200,300", &at(497, b"clamav")), 0);
        assert_eq!(cnt("clamav", "ge", "200,300", &at(199, b"clamav")), 0);
        let mut d = at(300, b"clamav");
        d[210..216].copy_from_slice(b"clamav");
        assert_eq!(cnt("clamav", "ge", "200,300", &d), 2);
        assert_eq!(cnt("clamav", "e", "200,300", &d), 1);
        // A maxshift without e: the start must lie within it, the end need not.
        assert_eq!(cnt("clamav", "", "200,100", &at(300, b"clamav")), 1);
        assert_eq!(cnt("clamav", "", "200,100", &at(301, b"clamav")), 0);
        // No offset: anywhere.
        assert_eq!(cnt("clamav", "", "*", &at(1000, b"clamav")), 1);
        assert_eq!(cnt("a", "g", "*", b"aaxa"), 3);
    }

    #[test]
    fn pcre_flags() {
        assert_eq!(cnt("ABC", "i", "*", b"xabc"), 1);
        assert_eq!(cnt("a.c", "", "*", b"a\nc"), 0);
        assert_eq!(cnt("a.c", "s", "*", b"a\nc"), 1);
        assert_eq!(cnt("^b", "", "*", b"a\nb"), 0);
        assert_eq!(cnt("^b", "m", "*", b"a\nb"), 1);
        assert_eq!(cnt("a b c", "x", "*", b"abc"), 1);
        assert_eq!(cnt("bc", "A", "*", b"abc"), 0);
        assert_eq!(cnt("ab", "A", "*", b"abc"), 1);
        assert_eq!(cnt("abc$", "", "*", b"abc\n"), 1);
        assert_eq!(cnt("abc$", "E", "*", b"abc\n"), 0);
        assert_eq!(cnt("abc[$]", "E", "*", b"abc$"), 1);
        assert_eq!(cnt("abc$", "Em", "*", b"abc\n"), 1);
        let r = compile("a.+c", "U").unwrap();
        assert_eq!(r.find(b"abcbc").unwrap().unwrap().end(), 3);
        // An offset relative to the entry point of a non-executable never matches.
        assert_eq!(cnt("a", "", "EP+0", b"a"), 0);
    }

    #[test]
    fn required_literals() {
        let lit = |re: &str, f: &str| required_literal(re, f).map(|b| b.to_vec());
        assert_eq!(lit(r"[A-Z]{3}[0-9]{7}\.exe", ""), Some(b".exe".to_vec()));
        assert_eq!(
            lit(r"Bank_Details\-pdf\.exe", ""),
            Some(b"Bank_Details-pdf.exe".to_vec())
        );
        assert_eq!(
            lit(r"\bVisualizar\s\-\sFatura\sN\-[\d]{13,17}\.exe", ""),
            Some(b"Visualizar".to_vec())
        );
        assert_eq!(
            lit(r"c\x00o\x00m(\x2E\x00e)+", ""),
            Some(b"c\x00o\x00m".to_vec())
        );
        assert_eq!(lit(r"(abcd)+xy", ""), Some(b"abcd".to_vec()));
        // Optional parts, alternatives, case folding, short literals: nothing required.
        assert_eq!(lit(r"(abcd)?xy", ""), None);
        assert_eq!(lit(r"abcd|efgh", ""), None);
        assert_eq!(lit(r"abcdef", "i"), None);
        assert_eq!(lit(r"(?i)abcdef", ""), None);
        assert_eq!(lit(r"ab[0-9]", ""), None);
        // PCRE syntax the parser does not know (look-behind): no prefilter, PCRE decides.
        assert_eq!(lit(r"(?<=x)abcdef", ""), None);
        assert_eq!(lit(r"a b c d", "x"), Some(b"abcd".to_vec()));
    }
}
