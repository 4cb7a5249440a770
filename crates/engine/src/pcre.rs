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
}
