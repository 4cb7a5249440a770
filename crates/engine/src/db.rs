//! The compiled, immutable database: logical signatures (`.ndb` lines are one-subsignature
//! logical signatures), their body patterns split around atoms, one atom matcher per target type,
//! hash tables keyed by size, and allow lists.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::atoms;
use crate::filetype::Target;
use crate::matcher::{AtomDb, MatchError};
use crate::sigs::hash::{Algo, HashSig};
use crate::sigs::hex::{Elem, Pattern, Split};
use crate::sigs::logical::{LogicalSig, Sub, Tdb};
use crate::sigs::offset::{Base, Offset};
use crate::sigs::{Expr, LineError};

/// A PCRE subsignature: checked to compile at load, compiled (with JIT) on first use, so that
/// loading from the compiled cache does not pay for hundreds of JIT compilations.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CPcre {
    pub sub: u8,
    pub offset: Offset,
    pub trigger: Expr,
    pub regex: String,
    pub flags: String,
    #[serde(skip)]
    pub re: OnceLock<Option<pcre2::bytes::Regex>>,
    /// The index in [`PcreLiterals`] of a byte string every match contains (see
    /// [`crate::pcre::required_literal`]), or `None`; set when [`Compiled::pcre_literals`] is
    /// first built.
    #[serde(skip)]
    pub literal: OnceLock<Option<u32>>,
    pub global: bool,
}

/// The required literals of every PCRE subsignature (deduplicated), found together in one pass
/// over an object, so that a PCRE whose literal is absent is not run: one pass
/// with the atom matcher instead of a substring search per PCRE (on archives, hundreds of PCREs
/// share literals such as `.exe` and each searched the whole object).
#[derive(Debug)]
pub(crate) struct PcreLiterals {
    matcher: Option<Arc<crate::matcher::AtomDb>>,
    count: usize,
}

impl PcreLiterals {
    /// Which literals `data` contains, by index; `None` when the matcher failed (then nothing
    /// may be skipped).
    pub fn present(&self, data: &[u8]) -> Option<Vec<bool>> {
        let mut seen = vec![false; self.count];
        let Some(db) = &self.matcher else {
            return Some(seen);
        };
        let mut stream = crate::matcher::open(db).ok()?;
        let mut hits = Vec::new();
        // In slices, so that the hits of a literal repeated all over a large object stay few.
        for chunk in data.chunks(64 << 10) {
            stream.scan(chunk, &mut hits).ok()?;
            for h in hits.drain(..) {
                if let Some(s) = seen.get_mut(h.atom as usize) {
                    *s = true;
                }
            }
        }
        Some(seen)
    }
}

impl CPcre {
    /// How many times this subsignature matches `data` (see [`crate::pcre::count`]).
    pub fn count(&self, data: &[u8], exe: Option<&crate::sigs::offset::ExeInfo>) -> u32 {
        match self.regex() {
            Some(re) => crate::pcre::count(re, data, &self.offset, &self.flags, exe),
            None => 0,
        }
    }

    /// The compiled expression (`None` if it no longer compiles, which load already excluded).
    pub fn regex(&self) -> Option<&pcre2::bytes::Regex> {
        self.re
            .get_or_init(|| crate::pcre::compile(&self.regex, &self.flags).ok())
            .as_ref()
    }
}

/// A compiled logical signature.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CLsig {
    pub set: u16,
    /// Its target description in [`Compiled::tdbs`] (see [`Compiled::tdb`]).
    pub tdb: u32,
    /// Its expression in [`Compiled::exprs`] (see [`Compiled::expr`]).
    pub expr: u32,
    pub nsubs: u8,
    pub pcre: Vec<CPcre>,
    /// May be reported as soon as the expression holds (no `=`/`<`, no size/EP/PCRE conditions).
    pub early: bool,
    /// Per subsignature, the count past which more matches change nothing (neither the
    /// expression nor a PCRE trigger): hits beyond it are not verified.
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub saturation: Vec<u32>,
}

/// One body pattern variant of one subsignature. Its parts live in [`Compiled::parts`] and their
/// elements in [`Compiled::elems`] (one array each for the whole database: the real database's
/// 170,000 bodies would otherwise cost three small allocations each).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct CBody {
    pub lsig: u32,
    /// Its first part in [`Compiled::parts`].
    pub first: u32,
    /// How many parts (at least one).
    pub nparts: u16,
    pub sub: u8,
    pub nocase: bool,
    pub fullword: bool,
    /// No atom: evaluated at its offset when the scan finishes (every part's `split` is `None`);
    /// otherwise every part has one.
    pub anchored: bool,
    pub offset: Offset,
}

/// One part of a body: a bounded run of elements.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct CPart {
    /// Its first element in [`Compiled::elems`].
    pub start: u32,
    /// How many elements.
    pub len: u32,
    /// The split around its atom (`None` in anchored bodies).
    pub split: Option<Split>,
    /// The gap `(min, max)` from the previous part's end (`max == None`: unbounded); unused on
    /// a body's first part.
    pub gap: (u32, Option<u32>),
}

/// Where an atom leads.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct AtomRef {
    pub body: u32,
    pub part: u16,
}

/// The matcher for one target type (its own signatures only; target 0's group is scanned
/// beside it).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Group {
    /// The atom matchers: one per big signature set with atoms here and one for the small
    /// sets together (see [`Slice`]).
    pub slices: Vec<Slice>,
    /// Where each atom leads: `refs[ref_start[a]..ref_start[a + 1]]` (one flat array instead of
    /// a vector per atom).
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub ref_start: Vec<u32>,
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub refs: Vec<AtomRef>,
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub atom_len: Vec<u32>,
    /// Bytes needed after an atom's end before it can be verified.
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub need_after: Vec<u32>,
    /// Bodies evaluated at their offset at the end of the scan, with what rejects most of
    /// them without reading the body itself (one contiguous array: no cache miss per body).
    pub anchored: Vec<Anchor>,
    /// Logical signatures with PCRE subsignatures.
    pub pcre: Vec<PcreSig>,
    /// Largest span kept for verification.
    pub keep: usize,
}

/// The atom matcher of one big signature set, or of the small sets together, in one group
/// (see [`OWN_SLICE_PARTS`]): atoms `base..base + atoms` of the group, in a Vectorscan database
/// of their own. A database update recompiles only the slices whose atoms changed (usually the
/// small sets' one, with `daily`); the others are reused (see [`crate::pool`]).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Slice {
    /// Stored beside the serialised rest in the compiled cache.
    #[serde(skip)]
    pub db: Option<Arc<AtomDb>>,
    /// The group's id of this slice's atom 0.
    pub base: u32,
    /// Number of atoms.
    pub atoms: u32,
    /// What identifies the compiled database: see [`crate::pool::digest`].
    pub digest: [u8; 32],
}

/// Sets with at least this many atom parts in a group get a matcher of their own there; the
/// smaller ones share one. Every matcher costs each scan a pass over the bytes, so
/// the slices are few (ClamAV's official database: `main` alone, `daily` and any small
/// third-party sets together), while an update of the small sets, the frequent case, still
/// leaves the big matcher as it is.
pub(crate) const OWN_SLICE_PARTS: usize = 16_384;

/// Which slice each set's atoms go to, from each set's number of atom parts in the group: a
/// big set's own index, or `parts.len()` for the shared slice of the small ones.
fn slice_of_sets(parts: &[usize]) -> Vec<usize> {
    parts
        .iter()
        .enumerate()
        .map(|(set, &n)| {
            if n >= OWN_SLICE_PARTS {
                set
            } else {
                parts.len()
            }
        })
        .collect()
}

/// An offset-anchored body as the end-of-scan loop first sees it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Anchor {
    /// Index into [`Compiled::bodies`].
    pub body: u32,
    /// Its logical signature's set (tested against the scan's set mask).
    pub set: u16,
    /// For `n` offsets without a shift, the one position the body can start at, and the exact
    /// byte it must start with there (case-folded for `::i` bodies).
    pub quick: Option<(u64, u8)>,
    /// The body is `::i`.
    pub nocase: bool,
}

impl Anchor {
    /// False when `data` (the whole object) shows the body cannot match.
    pub fn may_match(&self, data: &[u8]) -> bool {
        match self.quick {
            None => true,
            Some((at, b)) => usize::try_from(at)
                .ok()
                .and_then(|i| data.get(i))
                .is_some_and(|x| *x == b || (self.nocase && x.eq_ignore_ascii_case(&b))),
        }
    }
}

/// A logical signature with PCRE subsignatures, as the end-of-scan loop first sees it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct PcreSig {
    /// Index into [`Compiled::lsigs`].
    pub lsig: u32,
    /// Some PCRE trigger is true with no subsignature matched: the expressions run even when
    /// nothing else of the signature was found.
    pub unconditional: bool,
}

impl Group {
    /// True when the group holds no signature at all (no atom, nothing anchored, no PCRE).
    pub fn is_empty(&self) -> bool {
        self.atom_len.is_empty() && self.anchored.is_empty() && self.pcre.is_empty()
    }
}

impl Group {
    /// Number of distinct atoms.
    pub fn atoms(&self) -> usize {
        self.ref_start.len().saturating_sub(1)
    }

    /// Where atom `a` leads (`None` for an unknown atom id).
    pub fn refs_of(&self, a: u32) -> Option<&[AtomRef]> {
        let a = a as usize;
        let (s, e) = (*self.ref_start.get(a)?, *self.ref_start.get(a + 1)?);
        self.refs.get(s as usize..e as usize)
    }
}

/// Size recorded for `*` (any size) hash signatures.
const ANY_SIZE: u64 = u64::MAX;

/// Hash signatures of one algorithm: parallel arrays sorted by (digest, size). About 16-32 bytes
/// of digest + 12 bytes per signature, instead of a hash map with boxed keys.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct HashArr {
    /// Concatenated digests, `dlen` bytes each.
    #[serde(with = "crate::serde_bulk::big_bytes")]
    pub digests: Vec<u8>,
    /// Object size per entry ([`ANY_SIZE`] for `*`).
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub sizes: Vec<u64>,
    /// Name index per entry.
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub ids: Vec<u32>,
    /// Distinct sizes (sorted) for size-gated hashing.
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub gate: Vec<u64>,
    /// Some entry has size `*`: every object must be hashed.
    pub wild: bool,
}

/// Threat names in one string (`ends[i]` is the end of name `i`) and the set of each.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Names {
    #[serde(with = "crate::serde_bulk::big_string")]
    text: String,
    #[serde(with = "crate::serde_bulk::exact_vec")]
    ends: Vec<u32>,
    #[serde(with = "crate::serde_bulk::exact_vec")]
    sets: Vec<u16>,
}

impl Names {
    fn push(&mut self, name: &str, set: u16) -> u32 {
        self.text.push_str(name);
        self.ends.push(self.text.len() as u32);
        self.sets.push(set);
        (self.ends.len() - 1) as u32
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    /// Name `i` (empty if out of range).
    pub fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).copied().unwrap_or(0) as usize
        };
        let end = self.ends.get(i).copied().unwrap_or(0) as usize;
        self.text.get(start..end).unwrap_or("")
    }
    pub fn set(&self, i: u32) -> u16 {
        self.sets.get(i as usize).copied().unwrap_or(u16::MAX)
    }
    fn valid(&self, nsets: usize) -> bool {
        self.ends.len() == self.sets.len()
            && self.ends.windows(2).all(|w| w[0] <= w[1])
            && self
                .ends
                .last()
                .is_none_or(|&e| e as usize <= self.text.len())
            && self
                .ends
                .iter()
                .all(|&e| self.text.is_char_boundary(e as usize))
            && self.sets.iter().all(|&s| usize::from(s) < nsets)
    }
}

/// Hash signatures of one kind (file hashes, PE section hashes, allow list).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct HashTable {
    /// Per algorithm (MD5, SHA-1, SHA-256).
    pub arr: [HashArr; 3],
    pub count: u64,
    /// Threat names; entries refer to them by index.
    pub names: Names,
}

pub(crate) fn algo_idx(a: Algo) -> usize {
    match a {
        Algo::Md5 => 0,
        Algo::Sha1 => 1,
        Algo::Sha256 => 2,
    }
}

fn digest_len(i: usize) -> usize {
    [16, 20, 32][i]
}

impl HashTable {
    /// Adds a signature (unsorted until [`HashTable::finish`]).
    pub fn insert(&mut self, s: HashSig, set: u16) {
        let i = algo_idx(s.algo);
        if s.digest.len() != digest_len(i) {
            return;
        }
        let id = self.names.push(&s.name, set);
        let a = &mut self.arr[i];
        a.digests.extend_from_slice(&s.digest);
        a.sizes.push(s.size.unwrap_or(ANY_SIZE));
        a.ids.push(id);
        self.count += 1;
    }

    /// Sorts the entries and builds the size gates.
    pub fn finish(&mut self) {
        for (i, a) in self.arr.iter_mut().enumerate() {
            let dl = digest_len(i);
            let n = a.ids.len();
            let mut order: Vec<u32> = (0..n as u32).collect();
            order.sort_unstable_by(|&x, &y| {
                let (x, y) = (x as usize, y as usize);
                a.digests[x * dl..(x + 1) * dl]
                    .cmp(&a.digests[y * dl..(y + 1) * dl])
                    .then(a.sizes[x].cmp(&a.sizes[y]))
                    .then(a.ids[x].cmp(&a.ids[y]))
            });
            let mut digests = Vec::with_capacity(n * dl);
            for &o in &order {
                let o = o as usize;
                digests.extend_from_slice(&a.digests[o * dl..(o + 1) * dl]);
            }
            a.digests = digests;
            a.sizes = order.iter().map(|&o| a.sizes[o as usize]).collect();
            a.ids = order.iter().map(|&o| a.ids[o as usize]).collect();
            a.wild = a.sizes.contains(&ANY_SIZE);
            let mut gate: Vec<u64> = a.sizes.iter().copied().filter(|&z| z != ANY_SIZE).collect();
            gate.sort_unstable();
            gate.dedup();
            gate.shrink_to_fit();
            a.gate = gate;
        }
        self.names.text.shrink_to_fit();
        self.names.ends.shrink_to_fit();
        self.names.sets.shrink_to_fit();
    }

    /// Some signature of this algorithm has size `*`.
    pub fn wild(&self, a: Algo) -> bool {
        self.arr[algo_idx(a)].wild
    }

    /// Some signature of this algorithm has exactly this size.
    pub fn has_size(&self, a: Algo, size: u64) -> bool {
        self.arr[algo_idx(a)].gate.binary_search(&size).is_ok()
    }

    /// True when an object of `size` needs hashing with `a`.
    pub fn wants(&self, a: Algo, size: u64) -> bool {
        self.wild(a) || self.has_size(a, size)
    }

    /// Looks up a digest of an object of `size`; returns the name index of a match.
    pub fn lookup(&self, a: Algo, digest: &[u8], size: u64, set_mask: u64) -> Option<u32> {
        let i = algo_idx(a);
        let dl = digest_len(i);
        let t = &self.arr[i];
        if digest.len() != dl {
            return None;
        }
        let n = t.ids.len();
        let at = |k: usize| t.digests.get(k * dl..(k + 1) * dl).unwrap_or(&[]);
        let first = partition_point(n, |k| at(k) < digest);
        (first..n)
            .take_while(|&k| at(k) == digest)
            .filter(|&k| t.sizes[k] == size || t.sizes[k] == ANY_SIZE)
            .map(|k| t.ids[k])
            .find(|&id| set_mask & (1u64 << (self.names.set(id) & 63)) != 0)
    }

    /// The largest size of any signature of this algorithm (0 without one).
    pub fn max_size(&self, a: Algo) -> u64 {
        self.arr[algo_idx(a)].gate.last().copied().unwrap_or(0)
    }

    fn valid(&self, nsets: usize) -> bool {
        let nn = self.names.len();
        self.names.valid(nsets)
            && self.arr.iter().enumerate().all(|(i, a)| {
                let n = a.ids.len();
                a.sizes.len() == n
                    && a.digests.len() == n * digest_len(i)
                    && a.ids.iter().all(|&id| (id as usize) < nn)
            })
    }
}

/// First index in `0..n` for which `pred` is false (pred must be true then false).
fn partition_point(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Everything a scan needs.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Compiled {
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub lsigs: Vec<CLsig>,
    /// The logical signatures' names, in their order.
    pub lsig_names: Names,
    /// The distinct target descriptions of the logical signatures (most share one of a few
    /// hundred), each once.
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub tdbs: Vec<Tdb>,
    /// The distinct logical expressions, each once (`0&1&2` serves thousands of signatures).
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub exprs: Vec<Expr>,
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub bodies: Vec<CBody>,
    /// Every body's parts, body after body.
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub parts: Vec<CPart>,
    /// Every part's elements, part after part.
    #[serde(with = "crate::serde_bulk::exact_vec")]
    pub elems: Vec<Elem>,
    pub groups: Vec<Group>,
    /// Which group serves each target type.
    pub group_of: [usize; Target::COUNT],
    pub hashes: HashTable,
    pub sections: HashTable,
    /// `.imp` import-table hashes (size = length of the hashed string).
    pub imports: HashTable,
    pub fp: HashTable,
    pub weak_atoms: u64,
    /// Built on first use (see [`Compiled::pcre_literals`]).
    #[serde(skip)]
    pub pcre_literals: OnceLock<PcreLiterals>,
}

impl Compiled {
    /// The PCRE subsignatures' required literals, derived and compiled on first use (a few
    /// milliseconds for the real database's 564 PCREs); sets each [`CPcre::literal`].
    pub fn pcre_literals(&self) -> &PcreLiterals {
        self.pcre_literals.get_or_init(|| {
            let mut ids: rustc_hash::FxHashMap<Box<[u8]>, u32> = Default::default();
            let mut lits: Vec<Box<[u8]>> = Vec::new();
            let per_pcre: Vec<Option<u32>> = self
                .lsigs
                .iter()
                .flat_map(|l| &l.pcre)
                .map(|p| {
                    crate::pcre::required_literal(&p.regex, &p.flags).map(|lit| {
                        *ids.entry(lit.clone()).or_insert_with(|| {
                            lits.push(lit);
                            (lits.len() - 1) as u32
                        })
                    })
                })
                .collect();
            // The atom matcher (Vectorscan) finds every literal, even one inside another.
            let atoms: Vec<(Vec<u8>, bool)> = lits.iter().map(|l| (l.to_vec(), false)).collect();
            let matcher = if atoms.is_empty() {
                None
            } else {
                crate::matcher::AtomDb::compile(&atoms).ok().map(Arc::new)
            };
            // Without the matcher nothing may be skipped.
            for (p, id) in self.lsigs.iter().flat_map(|l| &l.pcre).zip(per_pcre) {
                let _ = p.literal.set(id.filter(|_| matcher.is_some()));
            }
            PcreLiterals {
                matcher,
                count: lits.len(),
            }
        })
    }

    pub fn empty() -> Self {
        Compiled {
            lsigs: Vec::new(),
            lsig_names: Names::default(),
            tdbs: Vec::new(),
            exprs: Vec::new(),
            bodies: Vec::new(),
            parts: Vec::new(),
            elems: Vec::new(),
            groups: Vec::new(),
            group_of: [usize::MAX; Target::COUNT],
            hashes: HashTable::default(),
            sections: HashTable::default(),
            imports: HashTable::default(),
            fp: HashTable::default(),
            weak_atoms: 0,
            pcre_literals: OnceLock::new(),
        }
    }

    /// The target description of `ls` (an empty one only where [`Compiled::validate`] would
    /// reject the database).
    pub fn tdb(&self, ls: &CLsig) -> &Tdb {
        static NONE: Tdb = Tdb {
            target: Target::Any,
            file_size: None,
            entry_point: None,
            sections: None,
            container: None,
            handler: None,
        };
        self.tdbs.get(ls.tdb as usize).unwrap_or(&NONE)
    }

    /// The expression of `ls` (one that never holds where [`Compiled::validate`] would reject
    /// the database).
    pub fn expr(&self, ls: &CLsig) -> &Expr {
        static NEVER: Expr = Expr::Or(Vec::new());
        self.exprs.get(ls.expr as usize).unwrap_or(&NEVER)
    }

    /// The name of logical signature `lsig`.
    pub fn lsig_name(&self, lsig: u32) -> &str {
        self.lsig_names.get(lsig)
    }

    /// The parts of `b` (empty only for a body [`Compiled::validate`] would reject).
    pub fn parts(&self, b: &CBody) -> &[CPart] {
        let first = b.first as usize;
        self.parts
            .get(first..first + usize::from(b.nparts))
            .unwrap_or(&[])
    }

    /// The elements of `p` (empty only for a part [`Compiled::validate`] would reject).
    pub fn elems(&self, p: &CPart) -> &[Elem] {
        let start = p.start as usize;
        self.elems.get(start..start + p.len as usize).unwrap_or(&[])
    }
}

impl Compiled {
    /// Counts of the main structures (for memory investigations).
    pub fn stats(&self) -> String {
        let (parts, elems) = (self.parts.len(), self.elems.len());
        let (mut lits, mut lit_bytes, mut alts) = (0, 0, 0);
        for e in &self.elems {
            match e {
                Elem::Lit(l) => {
                    lits += 1;
                    lit_bytes += l.len();
                }
                Elem::Alt(_) | Elem::NegAlt(..) | Elem::Class(_) => alts += 1,
                _ => {}
            }
        }
        let refs: usize = self.groups.iter().map(|g| g.atoms()).sum();
        let refs_n: usize = self.groups.iter().map(|g| g.refs.len()).sum();
        let names = self.lsig_names.text.len();
        let anchored: Vec<String> = (0..Target::COUNT)
            // A target without signatures of its own shares target 0's group.
            .filter(|&t| t == 0 || self.group_of[t] != self.group_of[0])
            .filter_map(|t| {
                let g = self.groups.get(self.group_of[t])?;
                let quick = g.anchored.iter().filter(|a| a.quick.is_some()).count();
                (!g.anchored.is_empty())
                    .then(|| format!("t{t} {} ({quick} at a fixed offset)", g.anchored.len()))
            })
            .collect();
        format!(
            "lsigs {} (names {names} B, {} target descriptions, {} expressions), bodies {}, parts {parts}, elems {elems}, lits {lits} ({lit_bytes} B), alts/classes {alts}, atoms {refs} (refs {refs_n}), anchored bodies {}, hashes {}+{}+{}",
            self.lsigs.len(),
            self.tdbs.len(),
            self.exprs.len(),
            self.bodies.len(),
            anchored.join(", "),
            self.hashes.count,
            self.sections.count,
            self.fp.count
        )
    }

    /// Checks the index invariants the scanner relies on (used on databases read from the
    /// compiled cache, which is input: a bad index must be rejected, not panic a scan).
    pub fn validate(&self, nsets: usize) -> Result<(), &'static str> {
        let nsets = nsets.min(64);
        let (nl, nb) = (self.lsigs.len(), self.bodies.len());
        if self.lsig_names.len() != nl
            || !self.lsig_names.valid(nsets.max(1))
            || self
                .lsigs
                .iter()
                .any(|l| l.tdb as usize >= self.tdbs.len() || l.expr as usize >= self.exprs.len())
        {
            return Err("logical signature name, target or expression out of range");
        }
        if self.lsigs.iter().any(|l| {
            usize::from(l.set) >= nsets
                || l.pcre.iter().any(|p| p.sub >= l.nsubs)
                || l.saturation.len() != usize::from(l.nsubs)
        }) {
            return Err("logical signature set or subsignature out of range");
        }
        for b in &self.bodies {
            let first = b.first as usize;
            let np = usize::from(b.nparts);
            if b.lsig as usize >= nl || np == 0 || first + np > self.parts.len() {
                return Err("body signature out of range");
            }
            for part in self.parts(b) {
                if part.start as usize + part.len as usize > self.elems.len() {
                    return Err("body part out of range");
                }
                let ok = match (part.split, b.anchored) {
                    (None, true) => true,
                    (Some(sp), false) => match self.elems(part).get(sp.elem as usize) {
                        Some(Elem::Lit(l)) => {
                            u64::from(sp.off) + u64::from(sp.len) <= l.len() as u64
                        }
                        _ => false,
                    },
                    _ => false,
                };
                if !ok {
                    return Err("atom split out of range");
                }
            }
        }
        if self.groups.is_empty() || self.group_of.iter().any(|&g| g >= self.groups.len()) {
            return Err("target group out of range");
        }
        for g in &self.groups {
            let n = g.atoms();
            if g.atom_len.len() != n
                || g.need_after.len() != n
                || g.ref_start.first().is_some_and(|&s| s != 0)
                || g.ref_start.windows(2).any(|w| w[0] > w[1])
                || g.ref_start
                    .last()
                    .is_some_and(|&e| e as usize != g.refs.len())
            {
                return Err("atom tables of different lengths");
            }
            // Slices cover the atoms in order, without overlap.
            let mut next = 0u64;
            for sl in &g.slices {
                if u64::from(sl.base) < next {
                    return Err("matcher slices overlap");
                }
                next = u64::from(sl.base) + u64::from(sl.atoms);
            }
            if next > n as u64 {
                return Err("matcher slice out of range");
            }
            let bad_ref = g.refs.iter().any(|r| {
                self.bodies
                    .get(r.body as usize)
                    .is_none_or(|b| b.anchored || r.part >= b.nparts)
            });
            if bad_ref
                || g.anchored.iter().any(|a| a.body as usize >= nb)
                || g.pcre.iter().any(|p| p.lsig as usize >= nl)
            {
                return Err("atom reference out of range");
            }
        }
        for t in [&self.hashes, &self.sections, &self.imports, &self.fp] {
            if !t.valid(nsets.max(1)) {
                return Err("hash signature out of range");
            }
        }
        Ok(())
    }
}

/// Accumulates signatures, then compiles the matchers.
#[derive(Debug)]
pub(crate) struct Builder {
    pub c: Compiled,
    /// Where each distinct target description is in `c.tdbs`.
    tdb_ids: HashMap<Tdb, u32>,
    /// Where each distinct expression is in `c.exprs`.
    expr_ids: HashMap<Expr, u32>,
}

/// The index of `v` in `all`, added when new.
fn intern<T: Clone + Eq + std::hash::Hash>(
    ids: &mut HashMap<T, u32>,
    all: &mut Vec<T>,
    v: T,
) -> u32 {
    *ids.entry(v).or_insert_with_key(|v| {
        all.push(v.clone());
        (all.len() - 1) as u32
    })
}

fn needs_finish(o: &Offset) -> bool {
    !matches!(o.base, Base::Any)
}

/// Offsets with a shift at most this large are evaluated in place; larger ones are searched.
const MAX_DIRECT_SHIFT: u64 = 1 << 20;

impl Builder {
    pub fn new() -> Self {
        Builder {
            c: Compiled::empty(),
            tdb_ids: HashMap::new(),
            expr_ids: HashMap::new(),
        }
    }

    /// Adds a logical signature; fails (adding nothing) when a part cannot be matched.
    pub fn add_logical(&mut self, ls: LogicalSig, set: u16) -> Result<(), LineError> {
        let lsig = self.c.lsigs.len() as u32;
        let mut bodies = Vec::new();
        let mut pcre = Vec::new();
        let mut early = ls.expr.monotone()
            && ls.tdb.file_size.is_none()
            && ls.tdb.entry_point.is_none()
            && ls.tdb.sections.is_none()
            && ls.tdb.container.is_none();
        let mut weak = 0;
        for (i, sub) in ls.subs.into_iter().enumerate() {
            let sub_i = i as u8;
            match sub {
                Sub::Pcre(p) => {
                    early = false;
                    let re = crate::pcre::compile(&p.regex, &p.flags)?;
                    pcre.push(CPcre {
                        sub: sub_i,
                        offset: p.offset,
                        trigger: p.trigger,
                        global: p.flags.contains('g'),
                        regex: p.regex,
                        flags: p.flags,
                        re: OnceLock::from(Some(re)),
                        literal: OnceLock::new(),
                    });
                }
                Sub::Body(b) => {
                    if needs_finish(&b.offset) {
                        early = false;
                    }
                    let direct = needs_finish(&b.offset)
                        && (b.offset.shift <= MAX_DIRECT_SHIFT || b.offset.needs_exe());
                    for pattern in b.variants {
                        let mut splits = Vec::new();
                        if !direct {
                            for part in &pattern.parts {
                                let sp = atoms::select(part)
                                    .ok_or(LineError::Unsupported("no literal atom of 2+ bytes"))?;
                                if (sp.len as usize) < atoms::GOOD_ATOM {
                                    weak += 1;
                                }
                                splits.push(sp);
                            }
                        }
                        let body = CBody {
                            lsig,
                            first: 0,
                            nparts: 0,
                            sub: sub_i,
                            nocase: b.nocase,
                            fullword: b.fullword,
                            anchored: direct,
                            offset: b.offset,
                        };
                        bodies.push((body, pattern, splits));
                    }
                }
            }
        }
        self.c.weak_atoms += weak;
        let lens = (self.c.bodies.len(), self.c.parts.len(), self.c.elems.len());
        for (body, pattern, splits) in bodies {
            if let Err(e) = self.push_body(body, pattern, splits) {
                // Adding nothing: drop what this signature's earlier bodies added.
                self.c.bodies.truncate(lens.0);
                self.c.parts.truncate(lens.1);
                self.c.elems.truncate(lens.2);
                return Err(e);
            }
        }
        self.c.lsig_names.push(&ls.name, set);
        let tdb = intern(&mut self.tdb_ids, &mut self.c.tdbs, ls.tdb);
        let expr = intern(&mut self.expr_ids, &mut self.c.exprs, ls.expr);
        self.c.lsigs.push(CLsig {
            set,
            tdb,
            expr,
            nsubs: 0,
            pcre,
            early,
            saturation: Vec::new(),
        });
        Ok(())
    }

    /// Appends a body, its parts and their elements to the database's arrays.
    fn push_body(
        &mut self,
        mut body: CBody,
        pattern: Pattern,
        splits: Vec<Split>,
    ) -> Result<(), LineError> {
        const TOO_BIG: LineError = LineError::Unsupported("database larger than 2^32 elements");
        u32::try_from(self.c.parts.len() + pattern.parts.len()).map_err(|_| TOO_BIG)?;
        body.first = self.c.parts.len() as u32;
        body.nparts = u16::try_from(pattern.parts.len())
            .map_err(|_| LineError::Unsupported("more than 65,535 parts"))?;
        let elems: usize = pattern.parts.iter().map(|p| p.elems.len()).sum();
        if u32::try_from(self.c.elems.len() + elems).is_err() {
            return Err(TOO_BIG);
        }
        let mut splits = splits.into_iter();
        for (i, part) in pattern.parts.into_iter().enumerate() {
            let gap = match i.checked_sub(1) {
                Some(g) => pattern.gaps.get(g).copied().unwrap_or((0, None)),
                None => (0, Some(0)),
            };
            self.c.parts.push(CPart {
                // In range: checked above.
                start: self.c.elems.len() as u32,
                len: part.elems.len() as u32,
                split: splits.next(),
                gap,
            });
            self.c.elems.extend(part.elems);
        }
        self.c.bodies.push(body);
        Ok(())
    }

    /// Builds the per-target atom matchers, sharing those of databases alive in this process
    /// (see [`Builder::finish_with`]).
    pub fn finish(self) -> Result<Compiled, MatchError> {
        self.finish_with(&mut crate::pool::Reuse::live())
    }

    /// Builds the per-target atom matchers, taking from `pool` every slice it already has.
    pub fn finish_with(
        mut self,
        pool: &mut crate::pool::Reuse<'_>,
    ) -> Result<Compiled, MatchError> {
        self.c.hashes.finish();
        self.c.sections.finish();
        self.c.imports.finish();
        self.c.fp.finish();
        self.c.bodies.shrink_to_fit();
        self.c.parts.shrink_to_fit();
        self.c.elems.shrink_to_fit();
        self.c.lsigs.shrink_to_fit();
        self.c.tdbs.shrink_to_fit();
        self.c.exprs.shrink_to_fit();
        for l in &mut self.c.lsigs {
            let Some(expr) = self.c.exprs.get(l.expr as usize) else {
                continue;
            };
            l.nsubs = expr.max_sub() + 1;
            let mut sat = vec![0; l.nsubs as usize];
            expr.saturation(&mut sat);
            for p in &l.pcre {
                p.trigger.saturation(&mut sat);
            }
            l.saturation = sat;
        }
        let mut targets_used = [false; Target::COUNT];
        for l in &self.c.lsigs {
            targets_used[self.c.tdb(l).target.index()] = true;
        }
        targets_used[Target::Any.index()] = true;
        let mut groups = Vec::new();
        for t in Target::ALL {
            if !targets_used[t.index()] {
                continue;
            }
            let g = self.build_group(t, pool)?;
            self.c.group_of[t.index()] = groups.len();
            groups.push(g);
        }
        let g0 = self.c.group_of[Target::Any.index()];
        for t in 0..Target::COUNT {
            if self.c.group_of[t] == usize::MAX {
                self.c.group_of[t] = g0;
            }
        }
        self.c.groups = groups;
        Ok(self.c)
    }

    fn build_group(
        &self,
        t: Target,
        pool: &mut crate::pool::Reuse<'_>,
    ) -> Result<Group, MatchError> {
        let mut ids: HashMap<(Vec<u8>, bool), u32> = HashMap::new();
        let mut atoms: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut refs: Vec<Vec<AtomRef>> = Vec::new();
        // Flattened below into `ref_start` + `refs`.
        let mut need_after: Vec<u32> = Vec::new();
        let mut anchored = Vec::new();
        let mut keep = 256usize;
        // Atoms are numbered slice by slice (see `slice_of_sets`); within a slice, bodies in
        // load order.
        let nsets = self
            .c
            .lsigs
            .iter()
            .map(|l| usize::from(l.set) + 1)
            .max()
            .unwrap_or(0);
        let mut by_set: Vec<Vec<usize>> = vec![Vec::new(); nsets];
        for (bi, b) in self.c.bodies.iter().enumerate() {
            // Each group holds only its own target's signatures; target 0's group is scanned
            // beside the object type's, so target-0 atoms exist once per slice, not once per
            // target type.
            let ls = &self.c.lsigs[b.lsig as usize];
            if self.c.tdb(ls).target != t {
                continue;
            }
            if b.anchored {
                let quick = match b.offset.base {
                    Base::Abs(n) if b.offset.shift == 0 => self
                        .c
                        .parts(b)
                        .first()
                        .and_then(|p| crate::sigs::hex::first_byte(self.c.elems(p)))
                        .map(|f| (n, f)),
                    _ => None,
                };
                anchored.push(Anchor {
                    body: bi as u32,
                    set: ls.set,
                    quick,
                    nocase: b.nocase,
                });
            } else {
                by_set[usize::from(ls.set)].push(bi);
            }
        }
        let parts: Vec<usize> = by_set
            .iter()
            .map(|bs| {
                bs.iter()
                    .map(|&bi| usize::from(self.c.bodies[bi].nparts))
                    .sum()
            })
            .collect();
        let slice_of = slice_of_sets(&parts);
        let mut by_slice: Vec<Vec<usize>> = vec![Vec::new(); nsets + 1];
        for (set, bodies) in by_set.into_iter().enumerate() {
            by_slice[slice_of[set]].extend(bodies);
        }
        // Where each slice's atoms start.
        let mut starts = Vec::new();
        for (slice, bodies) in by_slice.iter().enumerate().filter(|(_, b)| !b.is_empty()) {
            starts.push((slice, atoms.len()));
            ids.clear();
            for (bi, b) in bodies.iter().map(|&bi| (bi, &self.c.bodies[bi])) {
                for (pi, part) in self.c.parts(b).iter().enumerate() {
                    // Bodies here are not anchored: every part has its split.
                    let Some(sp) = part.split else { continue };
                    let bytes = sp.atom(self.c.elems(part)).to_vec();
                    let key = (
                        if b.nocase {
                            bytes.to_ascii_lowercase()
                        } else {
                            bytes
                        },
                        b.nocase,
                    );
                    let id = *ids.entry(key.clone()).or_insert_with(|| {
                        atoms.push(key);
                        refs.push(Vec::new());
                        need_after.push(0);
                        (atoms.len() - 1) as u32
                    });
                    refs[id as usize].push(AtomRef {
                        body: bi as u32,
                        part: pi as u16,
                    });
                    // + 2: a trailing `(L)` looks at up to two bytes after the part (CR LF).
                    need_after[id as usize] = need_after[id as usize].max(sp.post_max + 2);
                    keep = keep.max((sp.pre_max + sp.post_max + sp.len) as usize + 2);
                }
            }
        }
        let pcre = self
            .c
            .lsigs
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.pcre.is_empty() && self.c.tdb(l).target == t)
            .map(|(i, l)| PcreSig {
                lsig: i as u32,
                unconditional: l.pcre.iter().any(|p| p.trigger.eval(&[])),
            })
            .collect();
        let atom_len = atoms.iter().map(|(a, _)| a.len() as u32).collect();
        let mut slices = Vec::new();
        for (i, &(_, start)) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map_or(atoms.len(), |&(_, e)| e);
            if end == start {
                continue;
            }
            let (digest, db) = pool.get(&atoms[start..end])?;
            slices.push(Slice {
                db: Some(db),
                base: start as u32,
                atoms: (end - start) as u32,
                digest,
            });
        }
        let mut ref_start = Vec::with_capacity(refs.len() + 1);
        ref_start.push(0u32);
        for r in &refs {
            ref_start.push(ref_start[ref_start.len() - 1] + r.len() as u32);
        }
        let refs: Vec<AtomRef> = refs.into_iter().flatten().collect();
        Ok(Group {
            slices,
            ref_start,
            refs,
            atom_len,
            need_after,
            anchored,
            pcre,
            keep,
        })
    }
}
