//! ClamAV body-signature hex grammar (shared by `.ndb` and `.ldb` subsignatures): parsing into
//! [`Pattern`]s made of bounded [`Part`]s, and backtracking verification of a part at a position.
//!
//! A pattern is split into parts at `*`, `{n-}` and gaps longer than [`MAX_INLINE_GAP`]; inside a
//! part every gap is bounded, so a part has a known maximum span and can be verified around an
//! atom hit with a bounded window of data.

use std::fmt;

/// Gaps up to this many bytes stay inside a part; longer gaps split the pattern.
pub const MAX_INLINE_GAP: u32 = 128;

/// Why a hex pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexError(pub &'static str);

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Zero-width assertions `(B)`, `(L)`, `(W)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BoundaryKind {
    /// Word boundary (file edges count).
    Word,
    /// CR, LF or a file edge.
    Line,
    /// A non-alphanumeric byte or a file edge.
    NonAlnum,
}

/// Bytes kept inline up to this length (most literals are short); longer ones are boxed.
const INLINE_LIT: usize = 22;

#[derive(Clone, PartialEq, Eq)]
enum LitRepr {
    Inline(u8, [u8; INLINE_LIT]),
    Heap(Box<[u8]>),
}

/// The bytes of a literal run: inline up to 22 bytes (no allocation), else boxed. Derefs to
/// `[u8]`.
#[derive(Clone, PartialEq, Eq)]
pub struct LitBytes(LitRepr);

impl From<&[u8]> for LitBytes {
    fn from(b: &[u8]) -> Self {
        if b.len() <= INLINE_LIT {
            let mut a = [0u8; INLINE_LIT];
            a[..b.len()].copy_from_slice(b);
            LitBytes(LitRepr::Inline(b.len() as u8, a))
        } else {
            LitBytes(LitRepr::Heap(b.into()))
        }
    }
}

impl std::ops::Deref for LitBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            LitRepr::Inline(n, a) => &a[..usize::from(*n).min(INLINE_LIT)],
            LitRepr::Heap(b) => b,
        }
    }
}

impl fmt::Debug for LitBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl serde::Serialize for LitBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self)
    }
}

struct LitVisitor;

impl serde::de::Visitor<'_> for LitVisitor {
    type Value = LitBytes;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("literal bytes")
    }
    fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<LitBytes, E> {
        Ok(LitBytes::from(b))
    }
}

impl<'de> serde::Deserialize<'de> for LitBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_byte_buf(LitVisitor)
    }
}

/// One element of a part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Elem {
    /// An exact byte (case-folded when the subsignature is `::i`).
    Byte(u8),
    /// A run of exact bytes (built from consecutive [`Elem::Byte`]s after parsing).
    Lit(LitBytes),
    /// A byte with a nibble fixed: `(b & mask) == val`.
    Mask {
        /// Expected bits.
        val: u8,
        /// Which bits are fixed.
        mask: u8,
    },
    /// Any byte (`??`).
    Any,
    /// One byte from a set (single-byte alternates, possibly negated).
    Class(Box<[u64; 4]>),
    /// A bounded gap of `min..=max` arbitrary bytes.
    Gap {
        /// Fewest bytes.
        min: u32,
        /// Most bytes.
        max: u32,
    },
    /// Alternatives, each a sequence (fixed or variable length).
    Alt(Vec<Vec<Elem>>),
    /// Negated fixed-length alternatives: `len` bytes matching none of them.
    NegAlt(Vec<Vec<Elem>>, u32),
    /// A zero-width check; `before` checks the byte preceding the position, else the byte at it.
    Boundary {
        /// Which assertion.
        kind: BoundaryKind,
        /// Side checked.
        before: bool,
    },
}

impl Elem {
    fn min_len(&self) -> u32 {
        match self {
            Elem::Byte(_) | Elem::Mask { .. } | Elem::Any | Elem::Class(_) => 1,
            Elem::Lit(l) => l.len() as u32,
            Elem::Gap { min, .. } => *min,
            Elem::Alt(a) => a.iter().map(|s| seq_min(s)).min().unwrap_or(0),
            Elem::NegAlt(_, n) => *n,
            Elem::Boundary { .. } => 0,
        }
    }
    fn max_len(&self) -> u32 {
        match self {
            Elem::Gap { max, .. } => *max,
            Elem::Alt(a) => a.iter().map(|s| seq_max(s)).max().unwrap_or(0),
            _ => self.min_len(),
        }
    }
}

fn seq_min(s: &[Elem]) -> u32 {
    s.iter().map(Elem::min_len).sum()
}
fn seq_max(s: &[Elem]) -> u32 {
    s.iter().map(Elem::max_len).sum()
}
/// A bounded piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    /// The elements in order.
    pub elems: Vec<Elem>,
}

impl Part {
    /// Maximum number of bytes the part spans.
    pub fn max_len(&self) -> u32 {
        seq_max(&self.elems)
    }
    /// Minimum number of bytes the part spans.
    pub fn min_len(&self) -> u32 {
        seq_min(&self.elems)
    }
}

/// A parsed hex signature: parts separated by gaps `(min, max)` (`max == None` is unbounded).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pattern {
    /// The parts, at least one.
    pub parts: Vec<Part>,
    /// `gaps[i]` separates `parts[i]` and `parts[i + 1]`.
    pub gaps: Vec<(u32, Option<u32>)>,
}

fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn num(s: &str) -> Result<u32, HexError> {
    s.trim()
        .parse::<u32>()
        .map_err(|_| HexError("bad number in gap"))
}

/// Parses one byte token at `s[i..i+2]`.
fn byte_tok(s: &[u8], i: usize) -> Result<Elem, HexError> {
    let (a, b) = match (s.get(i), s.get(i + 1)) {
        (Some(&a), Some(&b)) => (a, b),
        _ => return Err(HexError("odd number of hex digits")),
    };
    Ok(match (a, b) {
        (b'?', b'?') => Elem::Any,
        (b'?', x) => Elem::Mask {
            val: hexval(x).ok_or(HexError("bad hex digit"))?,
            mask: 0x0f,
        },
        (x, b'?') => Elem::Mask {
            val: hexval(x).ok_or(HexError("bad hex digit"))? << 4,
            mask: 0xf0,
        },
        (x, y) => Elem::Byte(
            (hexval(x).ok_or(HexError("bad hex digit"))? << 4)
                | hexval(y).ok_or(HexError("bad hex digit"))?,
        ),
    })
}

/// Parses a sequence without top-level `*` (used inside alternatives).
fn parse_seq(s: &str) -> Result<Vec<Elem>, HexError> {
    let p = parse(s)?;
    if p.parts.len() != 1 {
        return Err(HexError("unbounded gap inside alternative"));
    }
    Ok(p.parts
        .into_iter()
        .next()
        .map(|p| p.elems)
        .unwrap_or_default())
}

fn parse_group(body: &str, negated: bool, first: bool) -> Result<Elem, HexError> {
    match body {
        "B" => {
            return Ok(Elem::Boundary {
                kind: BoundaryKind::Word,
                before: first,
            })
        }
        "L" => {
            return Ok(Elem::Boundary {
                kind: BoundaryKind::Line,
                before: first,
            })
        }
        "W" => {
            return Ok(Elem::Boundary {
                kind: BoundaryKind::NonAlnum,
                before: first,
            })
        }
        _ => {}
    }
    let alts: Vec<Vec<Elem>> = body.split('|').map(parse_seq).collect::<Result<_, _>>()?;
    if alts.len() < 2 && !negated {
        return Err(HexError("alternative with one branch"));
    }
    if alts.iter().any(|a| a.is_empty()) {
        return Err(HexError("empty alternative"));
    }
    let single = alts
        .iter()
        .all(|a| a.len() == 1 && matches!(a[0], Elem::Byte(_)));
    if single {
        let mut set = [0u64; 4];
        for a in &alts {
            if let Elem::Byte(b) = a[0] {
                set[(b >> 6) as usize] |= 1 << (b & 63);
            }
        }
        if negated {
            for w in &mut set {
                *w = !*w;
            }
        }
        return Ok(Elem::Class(Box::new(set)));
    }
    let fixed = alts
        .iter()
        .all(|a| a.iter().all(|e| e.min_len() == e.max_len()));
    let len0 = seq_min(&alts[0]);
    if negated {
        if !fixed || alts.iter().any(|a| seq_min(a) != len0) {
            return Err(HexError("negated alternative of variable length"));
        }
        return Ok(Elem::NegAlt(alts, len0));
    }
    Ok(Elem::Alt(alts))
}

/// Merges runs of [`Elem::Byte`] into [`Elem::Lit`] (recursively inside alternatives).
fn compact(elems: Vec<Elem>) -> Vec<Elem> {
    let mut out: Vec<Elem> = Vec::with_capacity(elems.len());
    let mut run: Vec<u8> = Vec::new();
    let flush = |run: &mut Vec<u8>, out: &mut Vec<Elem>| match run.len() {
        0 => {}
        1 => out.push(Elem::Byte(run[0])),
        _ => out.push(Elem::Lit(LitBytes::from(std::mem::take(run).as_slice()))),
    };
    for e in elems {
        match e {
            Elem::Byte(b) => run.push(b),
            Elem::Alt(a) => {
                flush(&mut run, &mut out);
                run.clear();
                out.push(Elem::Alt(a.into_iter().map(compact).collect()));
            }
            Elem::NegAlt(a, n) => {
                flush(&mut run, &mut out);
                run.clear();
                out.push(Elem::NegAlt(a.into_iter().map(compact).collect(), n));
            }
            e => {
                flush(&mut run, &mut out);
                run.clear();
                out.push(e);
            }
        }
    }
    flush(&mut run, &mut out);
    out.shrink_to_fit();
    out
}

/// Parses a ClamAV hex signature.
pub fn parse(sig: &str) -> Result<Pattern, HexError> {
    let s = sig.as_bytes();
    let mut parts = Vec::new();
    let mut gaps = Vec::new();
    let mut cur: Vec<Elem> = Vec::new();
    let mut i = 0;
    let split = |cur: &mut Vec<Elem>, parts: &mut Vec<Part>, gaps: &mut Vec<_>, g| {
        parts.push(Part {
            elems: std::mem::take(cur),
        });
        gaps.push(g);
    };
    while i < s.len() {
        match s[i] {
            b'*' => {
                split(&mut cur, &mut parts, &mut gaps, (0, None));
                i += 1;
            }
            b'{' => {
                let end = sig[i..].find('}').ok_or(HexError("unclosed {"))? + i;
                let inner = &sig[i + 1..end];
                let (min, max) = match inner.split_once('-') {
                    None => {
                        let n = num(inner)?;
                        (n, Some(n))
                    }
                    Some(("", m)) => (0, Some(num(m)?)),
                    Some((n, "")) => (num(n)?, None),
                    Some((n, m)) => (num(n)?, Some(num(m)?)),
                };
                if let Some(m) = max {
                    if m < min {
                        return Err(HexError("gap with max < min"));
                    }
                }
                match max {
                    Some(m) if m <= MAX_INLINE_GAP => {
                        if m > 0 {
                            cur.push(Elem::Gap { min, max: m });
                        }
                    }
                    _ => split(&mut cur, &mut parts, &mut gaps, (min, max)),
                }
                i = end + 1;
            }
            b'[' => {
                let end = sig[i..].find(']').ok_or(HexError("unclosed ["))? + i;
                let (a, b) = sig[i + 1..end]
                    .split_once('-')
                    .ok_or(HexError("bad [n-m]"))?;
                let (min, max) = (num(a)?, num(b)?);
                if max < min || max > 32 {
                    return Err(HexError("bad [n-m] range"));
                }
                cur.push(Elem::Gap { min, max });
                i = end + 1;
            }
            b'!' | b'(' => {
                let negated = s[i] == b'!';
                let open = if negated { i + 1 } else { i };
                if s.get(open) != Some(&b'(') {
                    return Err(HexError("! not followed by ("));
                }
                let end = sig[open..].find(')').ok_or(HexError("unclosed ("))? + open;
                let first = cur.is_empty() && parts.is_empty();
                cur.push(parse_group(&sig[open + 1..end], negated, first)?);
                i = end + 1;
            }
            _ => {
                cur.push(byte_tok(s, i)?);
                i += 2;
            }
        }
    }
    parts.push(Part { elems: cur });
    for p in &mut parts {
        p.elems = compact(std::mem::take(&mut p.elems));
    }
    if parts
        .iter()
        .any(|p| p.elems.iter().all(|e| matches!(e, Elem::Boundary { .. })))
    {
        return Err(HexError("empty part"));
    }
    Ok(Pattern { parts, gaps })
}

/// Applies `::w` (wide: every byte followed by 0x00) to a pattern.
pub fn widen(p: &Pattern) -> Pattern {
    fn w(seq: &[Elem]) -> Vec<Elem> {
        let mut out = Vec::with_capacity(seq.len() * 2);
        for e in seq {
            match e {
                Elem::Byte(_) | Elem::Mask { .. } | Elem::Any | Elem::Class(_) => {
                    out.push(e.clone());
                    out.push(Elem::Byte(0));
                }
                Elem::Lit(l) => {
                    for &b in l.iter() {
                        out.push(Elem::Byte(b));
                        out.push(Elem::Byte(0));
                    }
                }
                Elem::Gap { min, max } => out.push(Elem::Gap {
                    min: min * 2,
                    max: max * 2,
                }),
                Elem::Alt(a) => out.push(Elem::Alt(a.iter().map(|s| w(s)).collect())),
                Elem::NegAlt(a, n) => {
                    out.push(Elem::NegAlt(a.iter().map(|s| w(s)).collect(), n * 2))
                }
                Elem::Boundary { .. } => out.push(e.clone()),
            }
        }
        compact(out)
    }
    Pattern {
        parts: p
            .parts
            .iter()
            .map(|pt| Part {
                elems: w(&pt.elems),
            })
            .collect(),
        gaps: p
            .gaps
            .iter()
            .map(|&(a, b)| (a * 2, b.map(|b| b * 2)))
            .collect(),
    }
}

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

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn check_boundary(w: &Window<'_>, pos: usize, kind: BoundaryKind, before: bool) -> bool {
    let byte = if before {
        if pos == 0 {
            if w.at_start {
                None
            } else {
                return false;
            }
        } else {
            w.data.get(pos - 1).copied()
        }
    } else if pos >= w.data.len() {
        if w.at_end {
            None
        } else {
            return false;
        }
    } else {
        Some(w.data[pos])
    };
    match kind {
        BoundaryKind::Line => byte.is_none_or(|b| b == b'\r' || b == b'\n'),
        BoundaryKind::Word | BoundaryKind::NonAlnum => byte.is_none_or(|b| !is_alnum(b)),
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

/// Verifier context.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The data.
    pub w: Window<'a>,
    /// Case-insensitive byte comparison (`::i`).
    pub nocase: bool,
    /// Direction of matching.
    pub dir: Dir,
}

#[inline]
fn take(ctx: &Ctx<'_>, pos: usize) -> Option<(u8, usize)> {
    match ctx.dir {
        Dir::Fwd => ctx.w.data.get(pos).map(|&b| (b, pos + 1)),
        Dir::Back => pos.checked_sub(1).map(|p| (ctx.w.data[p], p)),
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

fn advance(ctx: &Ctx<'_>, pos: usize, k: usize) -> Option<usize> {
    match ctx.dir {
        Dir::Fwd => (pos + k <= ctx.w.data.len()).then_some(pos + k),
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

/// Matches a literal run in `ctx.dir` from `pos`; returns the new position.
#[inline]
pub fn match_lit(lit: &[u8], ctx: &Ctx<'_>, pos: usize) -> Option<usize> {
    let d = ctx.w.data;
    match ctx.dir {
        Dir::Fwd => {
            let end = pos.checked_add(lit.len())?;
            (end <= d.len() && lit_ok(lit, &d[pos..end], ctx.nocase)).then_some(end)
        }
        Dir::Back => {
            let st = pos.checked_sub(lit.len())?;
            (pos <= d.len() && lit_ok(lit, &d[st..pos], ctx.nocase)).then_some(st)
        }
    }
}

/// Matches `elems` from `pos` in `ctx.dir` (backward consumes the elements from the last one);
/// returns the position reached (first solution found, gaps tried shortest first). `budget`
/// bounds the backtracking work.
pub fn match_seq(elems: &[Elem], ctx: &Ctx<'_>, pos: usize, budget: &mut u32) -> Option<usize> {
    if *budget == 0 {
        return None;
    }
    *budget -= 1;
    let mut pos = pos;
    let mut rest = elems;
    loop {
        let (e, r) = match ctx.dir {
            Dir::Fwd => match rest.split_first() {
                Some(x) => x,
                None => return Some(pos),
            },
            Dir::Back => match rest.split_last() {
                Some(x) => x,
                None => return Some(pos),
            },
        };
        rest = r;
        match e {
            Elem::Byte(_) | Elem::Mask { .. } | Elem::Any | Elem::Class(_) => {
                let (b, np) = take(ctx, pos)?;
                if !byte_ok(e, b, ctx.nocase) {
                    return None;
                }
                pos = np;
            }
            Elem::Lit(l) => pos = match_lit(l, ctx, pos)?,
            Elem::Boundary { kind, before } => {
                if !check_boundary(&ctx.w, pos, *kind, *before) {
                    return None;
                }
            }
            Elem::Gap { min, max } => {
                for k in *min..=*max {
                    let np = advance(ctx, pos, k as usize)?;
                    if let Some(end) = match_seq(rest, ctx, np, budget) {
                        return Some(end);
                    }
                    if *budget == 0 {
                        return None;
                    }
                }
                return None;
            }
            Elem::Alt(alts) => {
                for a in alts {
                    if let Some(np) = match_seq(a, ctx, pos, budget) {
                        if let Some(end) = match_seq(rest, ctx, np, budget) {
                            return Some(end);
                        }
                    }
                }
                return None;
            }
            Elem::NegAlt(alts, n) => {
                let np = advance(ctx, pos, *n as usize)?;
                if alts
                    .iter()
                    .any(|a| match_seq(a, ctx, pos, budget).is_some())
                {
                    return None;
                }
                pos = np;
            }
        }
    }
}

/// Where a part's atom sits: element `elem` (a literal), bytes `off..off + len` of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Split {
    /// Element index of the literal holding the atom.
    pub elem: u32,
    /// Byte offset of the atom in the literal.
    pub off: u32,
    /// Atom length.
    pub len: u32,
    /// Most bytes before the atom.
    pub pre_max: u32,
    /// Most bytes after the atom.
    pub post_max: u32,
}

fn lit_of(e: &Elem) -> &[u8] {
    match e {
        Elem::Lit(l) => l,
        _ => &[],
    }
}

impl Split {
    /// The atom of `part` at literal element `elem`, bytes `off..off + len`.
    pub fn new(part: &Part, elem: usize, off: usize, len: usize) -> Self {
        let l = lit_of(&part.elems[elem]).len();
        Split {
            elem: elem as u32,
            off: off as u32,
            len: len as u32,
            pre_max: seq_max(&part.elems[..elem]) + off as u32,
            post_max: seq_max(&part.elems[elem + 1..]) + (l - off - len) as u32,
        }
    }

    /// The atom bytes.
    pub fn atom<'p>(&self, part: &'p Part) -> &'p [u8] {
        let l = lit_of(&part.elems[self.elem as usize]);
        &l[self.off as usize..(self.off + self.len) as usize]
    }
}

/// Matches a whole part forward from `pos`; returns its end.
pub fn match_part_at(part: &Part, w: Window<'_>, pos: usize, nocase: bool) -> Option<usize> {
    let ctx = Ctx {
        w,
        nocase,
        dir: Dir::Fwd,
    };
    let mut budget = 100_000;
    match_seq(&part.elems, &ctx, pos, &mut budget)
}

/// Verifies `part` around its atom found at `data[s..e]`; returns `(start, end)` in window terms.
pub fn verify_split(
    part: &Part,
    sp: &Split,
    w: Window<'_>,
    s: usize,
    e: usize,
    nocase: bool,
) -> Option<(usize, usize)> {
    let mut budget = 100_000;
    let i = sp.elem as usize;
    let lit = lit_of(&part.elems[i]);
    let fwd = Ctx {
        w,
        nocase,
        dir: Dir::Fwd,
    };
    let e = match_lit(&lit[(sp.off + sp.len) as usize..], &fwd, e)?;
    let end = match_seq(&part.elems[i + 1..], &fwd, e, &mut budget)?;
    let back = Ctx {
        w,
        nocase,
        dir: Dir::Back,
    };
    let s = match_lit(&lit[..sp.off as usize], &back, s)?;
    let start = match_seq(&part.elems[..i], &back, s, &mut budget)?;
    Some((start, end))
}

#[cfg(test)]
mod tests;
