//! Backtracking verification of pattern parts against a window of data.

use super::{lit_of, BoundaryKind, Elem, Split};

/// A window of object data for verification.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// The bytes.
    pub data: &'a [u8],
    /// True when `data[0]` is the object's first byte.
    pub at_start: bool,
    /// True when `data`'s end is the object's end.
    pub at_end: bool,
}

/// Bytes ClamAV accepts before a leading `(B)` (besides the object's start).
const WORD_LEFT: &[u8] = b" -./<@_";
/// Bytes ClamAV accepts after a trailing `(B)` (besides the object's end).
const WORD_RIGHT: &[u8] = b"\n\r \"'-/=>_";

/// True when `b` may sit on the given side of a `(B)` word boundary (ClamAV 1.4, observed with
/// clamscan: the two sides use different byte sets).
pub(crate) fn word_boundary_byte(b: u8, before: bool) -> bool {
    if before {
        WORD_LEFT.contains(&b)
    } else {
        WORD_RIGHT.contains(&b)
    }
}

/// Zero-width edge check at `pos`: `before` looks at the byte preceding `pos` (a marker leading
/// a subpattern), else at the bytes from `pos` (a trailing marker). The object's edges always
/// satisfy it; a window edge that is not the object's edge fails.
fn check_boundary(w: &Window<'_>, pos: usize, kind: BoundaryKind, before: bool) -> bool {
    let byte = if before {
        match pos.checked_sub(1) {
            None if w.at_start => return true,
            None => return false,
            Some(p) => match w.data.get(p) {
                Some(&b) => b,
                None => return false,
            },
        }
    } else {
        match w.data.get(pos) {
            None if pos >= w.data.len() && w.at_end => return true,
            None => return false,
            Some(&b) => b,
        }
    };
    match kind {
        BoundaryKind::Word => word_boundary_byte(byte, before),
        BoundaryKind::Line if before => byte == b'\n',
        BoundaryKind::Line => {
            byte == b'\n' || (byte == b'\r' && w.data.get(pos + 1) == Some(&b'\n'))
        }
        BoundaryKind::NonAlnum => !byte.is_ascii_alphanumeric(),
    }
}

/// Matching direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Consume `data[pos]`, then `pos + 1`.
    Fwd,
    /// Consume `data[pos - 1]`, then `pos - 1` (elements must be reversed).
    Back,
}

/// A window of data and how a pattern is matched over it: direction and case.
#[derive(Debug, Clone, Copy)]
pub struct MatchWindow<'a> {
    /// The data.
    pub w: Window<'a>,
    /// Case-insensitive byte comparison (`::i`).
    pub nocase: bool,
    /// Direction of matching.
    pub dir: Dir,
}

#[inline]
fn take(mw: &MatchWindow<'_>, pos: usize) -> Option<(u8, usize)> {
    match mw.dir {
        Dir::Fwd => mw.w.data.get(pos).map(|&b| (b, pos + 1)),
        Dir::Back => pos
            .checked_sub(1)
            .and_then(|p| mw.w.data.get(p).map(|&b| (b, p))),
    }
}

#[inline]
fn byte_ok(e: &Elem, b: u8, nocase: bool) -> bool {
    match e {
        Elem::Byte(x) => *x == b || (nocase && x.eq_ignore_ascii_case(&b)),
        Elem::Mask { val, mask } => b & mask == *val,
        Elem::Any => true,
        Elem::Class(set) => set[(b >> 6) as usize] & (1 << (b & 63)) != 0,
        _ => false,
    }
}

fn advance(mw: &MatchWindow<'_>, pos: usize, k: usize) -> Option<usize> {
    match mw.dir {
        Dir::Fwd => (pos + k <= mw.w.data.len()).then_some(pos + k),
        Dir::Back => pos.checked_sub(k),
    }
}

fn lit_ok(lit: &[u8], data: &[u8], nocase: bool) -> bool {
    if nocase {
        lit.eq_ignore_ascii_case(data)
    } else {
        lit == data
    }
}

/// Matches a literal run in `mw.dir` from `pos`; returns the new position.
#[inline]
pub fn match_lit(lit: &[u8], mw: &MatchWindow<'_>, pos: usize) -> Option<usize> {
    let d = mw.w.data;
    match mw.dir {
        Dir::Fwd => {
            let end = pos.checked_add(lit.len())?;
            (end <= d.len() && lit_ok(lit, &d[pos..end], mw.nocase)).then_some(end)
        }
        Dir::Back => {
            let st = pos.checked_sub(lit.len())?;
            (pos <= d.len() && lit_ok(lit, &d[st..pos], mw.nocase)).then_some(st)
        }
    }
}

/// What remains to match after the current sequence (the rest of enclosing sequences), so that
/// alternatives and gaps backtrack over everything that follows them.
struct Cont<'c> {
    elems: &'c [Elem],
    next: Option<&'c Cont<'c>>,
}

/// Deepest nesting of gaps and alternatives followed in one verification (bounds the stack).
const MAX_DEPTH: u32 = 512;

/// Matches `elems` from `pos` in `mw.dir` (backward consumes the elements from the last one);
/// returns the position reached (first solution found, gaps tried shortest first, alternatives
/// in order, with full backtracking into gaps and nested alternatives). `budget` bounds the
/// backtracking work: when it runs out the match fails.
pub fn match_seq(
    elems: &[Elem],
    mw: &MatchWindow<'_>,
    pos: usize,
    budget: &mut u32,
) -> Option<usize> {
    run(elems, None, mw, pos, budget, 0)
}

fn run(
    elems: &[Elem],
    k: Option<&Cont<'_>>,
    mw: &MatchWindow<'_>,
    pos: usize,
    budget: &mut u32,
    depth: u32,
) -> Option<usize> {
    if *budget == 0 || depth > MAX_DEPTH {
        *budget = 0;
        return None;
    }
    *budget -= 1;
    let mut pos = pos;
    let mut rest = elems;
    loop {
        let next = match mw.dir {
            Dir::Fwd => rest.split_first(),
            Dir::Back => rest.split_last(),
        };
        let Some((e, r)) = next else {
            return match k {
                None => Some(pos),
                Some(c) => run(c.elems, c.next, mw, pos, budget, depth + 1),
            };
        };
        rest = r;
        match e {
            Elem::Byte(_) | Elem::Mask { .. } | Elem::Any | Elem::Class(_) => {
                let (b, np) = take(mw, pos)?;
                if !byte_ok(e, b, mw.nocase) {
                    return None;
                }
                pos = np;
            }
            Elem::Lit(l) => pos = match_lit(l, mw, pos)?,
            Elem::Boundary { kind, before } => {
                if !check_boundary(&mw.w, pos, *kind, *before) {
                    return None;
                }
            }
            Elem::Gap { min, max } => {
                // The byte the element after the gap must take first, when it is an exact
                // one: most gap lengths fail on it, without a recursion each.
                let first = match mw.dir {
                    Dir::Fwd => rest.first().and_then(|e| edge_byte(e, true)),
                    Dir::Back => rest.last().and_then(|e| edge_byte(e, false)),
                };
                for n in *min..=*max {
                    let np = advance(mw, pos, n as usize)?;
                    if let Some(x) = first {
                        let at = match mw.dir {
                            Dir::Fwd => mw.w.data.get(np),
                            Dir::Back => np.checked_sub(1).and_then(|p| mw.w.data.get(p)),
                        };
                        if at.is_some_and(|&b| b != x && !(mw.nocase && b.eq_ignore_ascii_case(&x)))
                        {
                            continue;
                        }
                    }
                    if let Some(end) = run(rest, k, mw, np, budget, depth + 1) {
                        return Some(end);
                    }
                    if *budget == 0 {
                        return None;
                    }
                }
                return None;
            }
            Elem::Alt(alts) => {
                let c = Cont {
                    elems: rest,
                    next: k,
                };
                for a in alts {
                    if let Some(end) = run(a, Some(&c), mw, pos, budget, depth + 1) {
                        return Some(end);
                    }
                    if *budget == 0 {
                        return None;
                    }
                }
                return None;
            }
            Elem::NegAlt(alts, n) => {
                let np = advance(mw, pos, *n as usize)?;
                if alts
                    .iter()
                    .any(|a| run(a, None, mw, pos, budget, depth + 1).is_some())
                {
                    return None;
                }
                pos = np;
            }
        }
    }
}

/// The exact byte element `e` matches first (`fwd`) or last, if it is an exact byte or a
/// literal.
fn edge_byte(e: &Elem, fwd: bool) -> Option<u8> {
    match e {
        Elem::Byte(b) => Some(*b),
        Elem::Lit(l) if fwd => l.first().copied(),
        Elem::Lit(l) => l.last().copied(),
        _ => None,
    }
}

/// The byte a part must start with, when its first element is an exact byte: a one-byte
/// test that rejects most positions before [`match_part_at`] is called.
pub fn first_byte(elems: &[Elem]) -> Option<u8> {
    match elems.first()? {
        Elem::Byte(b) => Some(*b),
        Elem::Lit(run) => run.first().copied(),
        _ => None,
    }
}

/// Matches a whole part (its elements `elems`) forward from `pos`; returns its end.
pub fn match_part_at(elems: &[Elem], w: Window<'_>, pos: usize, nocase: bool) -> Option<usize> {
    let mw = MatchWindow {
        w,
        nocase,
        dir: Dir::Fwd,
    };
    let mut budget = 100_000;
    match_seq(elems, &mw, pos, &mut budget)
}

/// Verifies a part (its elements `elems`) around its atom found at `data[s..e]`; returns
/// `(start, end)` in window terms.
pub fn verify_split(
    elems: &[Elem],
    sp: &Split,
    w: Window<'_>,
    s: usize,
    e: usize,
    nocase: bool,
) -> Option<(usize, usize)> {
    let mut budget = 100_000;
    let i = sp.elem as usize;
    let lit = lit_of(elems.get(i)?);
    let fwd = MatchWindow {
        w,
        nocase,
        dir: Dir::Fwd,
    };
    let e = match_lit(lit.get((sp.off + sp.len) as usize..)?, &fwd, e)?;
    let end = match_seq(elems.get(i + 1..)?, &fwd, e, &mut budget)?;
    let back = MatchWindow {
        w,
        nocase,
        dir: Dir::Back,
    };
    let s = match_lit(lit.get(..sp.off as usize)?, &back, s)?;
    let start = match_seq(elems.get(..i)?, &back, s, &mut budget)?;
    Some((start, end))
}
