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

/// The markers `(B)`, `(L)`, `(W)` as ClamAV 1.4 matches them (observed with clamscan 1.4.6).
/// At a subpattern's edge they are zero-width checks ([`Elem::Boundary`]; the object's edges
/// always pass); in the middle of a subpattern they consume one byte of their class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BoundaryKind {
    /// `(B)`: before a subpattern one of `` -./<@_``; after it one of LF, CR, space,
    /// `"'-/=>_`; in the middle one byte of either set.
    Word,
    /// `(L)`: before a subpattern a LF; after it a LF or CR LF; in the middle a LF.
    Line,
    /// `(W)`: a non-alphanumeric byte (either side, or consumed in the middle).
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
/// Most bytes a run of elements spans.
pub(crate) fn seq_max(s: &[Elem]) -> u32 {
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

/// Deepest nesting of alternative groups accepted.
const MAX_NESTING: u32 = 16;

/// Index of the `)` closing the `(` at `open` (nested groups counted).
fn close_paren(s: &[u8], open: usize) -> Result<usize, HexError> {
    let mut depth = 0u32;
    for (i, &c) in s.iter().enumerate().skip(open) {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    Err(HexError("unclosed ("))
}

/// Splits a group body at its top-level `|`.
fn split_branches(body: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut from) = (0u32, 0usize);
    for (i, c) in body.bytes().enumerate() {
        match c {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'|' if depth == 0 => {
                out.push(&body[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(&body[from..]);
    out
}

/// Parses one branch of an alternative: bytes, nibbles, `??`, `{n}` (`n < 128`) and nested
/// (non-negated) groups. ClamAV rejects ranged gaps, `*`, `[n-m]`, markers and negation there.
fn parse_branch(s: &str, nesting: u32) -> Result<Vec<Elem>, HexError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'*' | b'[' => return Err(HexError("unbounded or anchored gap inside alternative")),
            b'{' => {
                let end = s[i..].find('}').ok_or(HexError("unclosed {"))? + i;
                let n =
                    num(&s[i + 1..end]).map_err(|_| HexError("ranged gap inside alternative"))?;
                if n >= 128 {
                    return Err(HexError("gap of 128 bytes or more inside alternative"));
                }
                if n > 0 {
                    out.push(Elem::Gap { min: n, max: n });
                }
                i = end + 1;
            }
            b'!' => return Err(HexError("negation inside alternative")),
            b'(' => {
                let end = close_paren(b, i)?;
                let body = &s[i + 1..end];
                if matches!(body, "B" | "L" | "W") {
                    return Err(HexError("(B)/(L)/(W) marker inside alternative"));
                }
                out.extend(alt_group(body, nesting + 1)?);
                i = end + 1;
            }
            _ => {
                out.push(byte_tok(b, i)?);
                i += 2;
            }
        }
    }
    Ok(out)
}

/// Parses the body of a non-negated group into the elements it stands for: a byte class (all
/// branches single bytes), the branch itself (one non-empty branch) or an alternative. Empty
/// branches never match (ClamAV accepts and ignores them).
fn alt_group(body: &str, nesting: u32) -> Result<Vec<Elem>, HexError> {
    if nesting > MAX_NESTING {
        return Err(HexError("alternatives nested too deeply"));
    }
    let mut alts: Vec<Vec<Elem>> = Vec::new();
    for br in split_branches(body) {
        let seq = parse_branch(br, nesting)?;
        if !seq.is_empty() {
            alts.push(seq);
        }
    }
    if alts.is_empty() {
        return Err(HexError("empty alternative"));
    }
    if alts.iter().all(|a| matches!(a.as_slice(), [Elem::Byte(_)])) {
        let mut set = [0u64; 4];
        for a in &alts {
            if let [Elem::Byte(b)] = a.as_slice() {
                set[usize::from(*b >> 6)] |= 1 << (b & 63);
            }
        }
        return Ok(vec![Elem::Class(Box::new(set))]);
    }
    if alts.len() == 1 {
        return Ok(alts.pop().unwrap_or_default());
    }
    Ok(vec![Elem::Alt(alts)])
}

/// Parses a negated group `!(…)`: plain-byte branches of one length (ClamAV refuses negation
/// of generic alternatives).
fn neg_group(body: &str) -> Result<Elem, HexError> {
    let mut alts: Vec<Vec<Elem>> = Vec::new();
    for br in split_branches(body) {
        let seq = parse_branch(br, 1)?;
        if seq.is_empty() || !seq.iter().all(|e| matches!(e, Elem::Byte(_))) {
            return Err(HexError("negated generic alternative"));
        }
        alts.push(seq);
    }
    let len0 = alts.first().map_or(0, Vec::len);
    if alts.iter().any(|a| a.len() != len0) {
        return Err(HexError("negated alternative of variable length"));
    }
    if len0 == 1 {
        let mut set = [u64::MAX; 4];
        for a in &alts {
            if let [Elem::Byte(b)] = a.as_slice() {
                set[usize::from(*b >> 6)] &= !(1 << (b & 63));
            }
        }
        return Ok(Elem::Class(Box::new(set)));
    }
    Ok(Elem::NegAlt(alts, len0 as u32))
}

/// The one-byte class a marker stands for in the middle of a subpattern, where ClamAV makes it
/// consume a byte: `(B)` any byte allowed on either side of a word boundary, `(L)` a line feed,
/// `(W)` a non-alphanumeric byte.
fn marker_class(kind: BoundaryKind) -> Elem {
    let mut set = [0u64; 4];
    for b in 0..=255u8 {
        let ok = match kind {
            BoundaryKind::Word => {
                verify::word_boundary_byte(b, true) || verify::word_boundary_byte(b, false)
            }
            BoundaryKind::Line => b == b'\n',
            BoundaryKind::NonAlnum => !b.is_ascii_alphanumeric(),
        };
        if ok {
            set[usize::from(b >> 6)] |= 1 << (b & 63);
        }
    }
    Elem::Class(Box::new(set))
}

/// A gap `{…}` body: `(min, max)`, `max == None` unbounded.
fn gap_bounds(inner: &str) -> Result<(u32, Option<u32>), HexError> {
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
    Ok((min, max))
}

/// True when ClamAV splits the pattern into two subpatterns at this gap (every gap but `{n}`
/// with `n < 128`): a marker next to it is a zero-width edge check, not a consumed byte.
fn clam_splits(inner: &str) -> bool {
    !matches!(gap_bounds(inner), Ok((a, Some(b))) if a == b && b < 128 && !inner.contains('-'))
}

/// True when a marker ending at `s[after..]` closes a ClamAV subpattern.
fn at_right_edge(sig: &str, after: usize) -> bool {
    match sig.as_bytes().get(after) {
        None | Some(b'*') => true,
        Some(b'{') => sig[after..]
            .find('}')
            .is_some_and(|e| clam_splits(&sig[after + 1..after + e])),
        _ => false,
    }
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
///
/// Markers follow ClamAV 1.4: `(B)`, `(L)`, `(W)` at the start (or end) of a subpattern —
/// the pattern's edges and next to `*` or a ranged gap — check the byte before (or after)
/// without consuming it; elsewhere they consume one byte of their class (see
/// [`BoundaryKind`]). Alternatives may nest, with variable-length branches.
pub fn parse(sig: &str) -> Result<Pattern, HexError> {
    let s = sig.as_bytes();
    let mut parts = Vec::new();
    let mut gaps = Vec::new();
    let mut cur: Vec<Elem> = Vec::new();
    let mut i = 0;
    // True at the start of a ClamAV subpattern (where a marker is a leading edge check).
    let mut edge_left = true;
    let split = |cur: &mut Vec<Elem>, parts: &mut Vec<Part>, gaps: &mut Vec<_>, g| {
        parts.push(Part {
            elems: std::mem::take(cur),
        });
        gaps.push(g);
    };
    while i < s.len() {
        let was_edge = std::mem::replace(&mut edge_left, false);
        match s[i] {
            b'*' => {
                split(&mut cur, &mut parts, &mut gaps, (0, None));
                edge_left = true;
                i += 1;
            }
            b'{' => {
                let end = sig[i..].find('}').ok_or(HexError("unclosed {"))? + i;
                let inner = &sig[i + 1..end];
                let (min, max) = gap_bounds(inner)?;
                match max {
                    Some(m) if m <= MAX_INLINE_GAP => {
                        if m > 0 {
                            cur.push(Elem::Gap { min, max: m });
                        }
                    }
                    _ => split(&mut cur, &mut parts, &mut gaps, (min, max)),
                }
                edge_left = clam_splits(inner);
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
            b'!' => {
                if s.get(i + 1) != Some(&b'(') {
                    return Err(HexError("! not followed by ("));
                }
                let end = close_paren(s, i + 1)?;
                cur.push(neg_group(&sig[i + 2..end])?);
                i = end + 1;
            }
            b'(' => {
                let end = close_paren(s, i)?;
                let body = &sig[i + 1..end];
                let kind = match body {
                    "B" => Some(BoundaryKind::Word),
                    "L" => Some(BoundaryKind::Line),
                    "W" => Some(BoundaryKind::NonAlnum),
                    _ => None,
                };
                match kind {
                    Some(kind) if was_edge => {
                        cur.push(Elem::Boundary { kind, before: true });
                        // A following marker is in the middle again.
                    }
                    Some(kind) if at_right_edge(sig, end + 1) => cur.push(Elem::Boundary {
                        kind,
                        before: false,
                    }),
                    Some(kind) => cur.push(marker_class(kind)),
                    None => cur.extend(alt_group(body, 1)?),
                }
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

    /// The atom bytes in the part's elements `elems` (empty when the split does not fit them).
    pub fn atom<'p>(&self, elems: &'p [Elem]) -> &'p [u8] {
        let l = elems.get(self.elem as usize).map_or(&[][..], lit_of);
        l.get(self.off as usize..(self.off as usize + self.len as usize))
            .unwrap_or(&[])
    }
}

mod verify;
pub use verify::{
    first_byte, match_lit, match_part_at, match_seq, verify_split, Dir, MatchWindow, Window,
};

#[cfg(test)]
mod tests;
