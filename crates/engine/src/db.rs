//! The compiled, immutable database: logical signatures (`.ndb` lines are one-subsignature
//! logical signatures), their body patterns split around atoms, one atom matcher per target type,
//! hash tables keyed by size, and allow lists.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::atoms;
use crate::filetype::target;
use crate::matcher::{AtomDb, MatchError};
use crate::sigs::hash::{Algo, HashSig};
use crate::sigs::hex::{Pattern, Split};
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
    pub global: bool,
}

impl CPcre {
    /// The compiled expression (`None` if it no longer compiles, which load already excluded).
    pub fn regex(&self) -> Option<&pcre2::bytes::Regex> {
        self.re
            .get_or_init(|| pcre_compile(&self.regex, &self.flags).ok())
            .as_ref()
    }
}

/// A compiled logical signature.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CLsig {
    pub name: String,
    pub set: u16,
    pub tdb: Tdb,
    pub expr: Expr,
    pub nsubs: u8,
    pub pcre: Vec<CPcre>,
    /// May be reported as soon as the expression holds (no `=`/`<`, no size/EP/PCRE conditions).
    pub early: bool,
}

/// One body pattern variant of one subsignature.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CBody {
    pub lsig: u32,
    pub sub: u8,
    pub pattern: Pattern,
    pub offset: Offset,
    pub nocase: bool,
    pub fullword: bool,
    /// Per part: the split around its atom (empty for anchored bodies).
    pub splits: Box<[Split]>,
}

/// Where an atom leads.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct AtomRef {
    pub body: u32,
    pub part: u16,
}

/// The matcher for one target type (its own signatures plus target 0).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Group {
    /// Stored beside the serialised rest in the compiled cache.
    #[serde(skip)]
    pub db: Option<Arc<AtomDb>>,
    pub refs: Vec<Vec<AtomRef>>,
    pub atom_len: Vec<u32>,
    /// Bytes needed after an atom's end before it can be verified.
    pub need_after: Vec<u32>,
    /// Bodies evaluated at their offset at the end of the scan.
    pub anchored: Vec<u32>,
    /// Logical signatures with PCRE subsignatures.
    pub pcre: Vec<u32>,
    /// Largest span kept for verification.
    pub keep: usize,
}

/// Entries of one digest: (size or `*`, name index).
pub(crate) type HashEntries = Vec<(Option<u64>, u32)>;

/// Hash signatures of one kind, keyed by digest.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct HashTable {
    pub map: HashMap<(Algo, Box<[u8]>), HashEntries>,
    pub sizes: [HashSet<u64>; 3],
    pub wild: [bool; 3],
    pub count: u64,
    /// Threat names; entries refer to them by index.
    pub names: Vec<(String, u16)>,
}

pub(crate) fn algo_idx(a: Algo) -> usize {
    match a {
        Algo::Md5 => 0,
        Algo::Sha1 => 1,
        Algo::Sha256 => 2,
    }
}

impl HashTable {
    pub fn insert(&mut self, s: HashSig, set: u16) {
        let id = self.names.len() as u32;
        self.names.push((s.name, set));
        match s.size {
            Some(z) => {
                self.sizes[algo_idx(s.algo)].insert(z);
            }
            None => self.wild[algo_idx(s.algo)] = true,
        }
        self.map
            .entry((s.algo, s.digest.into_boxed_slice()))
            .or_default()
            .push((s.size, id));
        self.count += 1;
    }

    /// True when an object of `size` needs hashing with `a`.
    pub fn wants(&self, a: Algo, size: u64) -> bool {
        self.wild[algo_idx(a)] || self.sizes[algo_idx(a)].contains(&size)
    }

    /// Looks up a digest of an object of `size`; returns the name index of a match.
    pub fn lookup(&self, a: Algo, digest: &[u8], size: u64, set_mask: u64) -> Option<u32> {
        let v = self.map.get(&(a, Box::from(digest)))?;
        v.iter()
            .find(|(z, id)| {
                z.is_none_or(|z| z == size) && set_mask & (1 << self.names[*id as usize].1) != 0
            })
            .map(|&(_, id)| id)
    }

    pub fn max_size(&self, a: Algo) -> u64 {
        self.sizes[algo_idx(a)].iter().copied().max().unwrap_or(0)
    }
}

/// Everything a scan needs.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Compiled {
    pub lsigs: Vec<CLsig>,
    pub bodies: Vec<CBody>,
    pub groups: Vec<Group>,
    /// Which group serves each target type.
    pub group_of: [usize; target::COUNT],
    pub hashes: HashTable,
    pub sections: HashTable,
    pub fp: HashTable,
    pub weak_atoms: u64,
}

impl Compiled {
    pub fn empty() -> Self {
        Compiled {
            lsigs: Vec::new(),
            bodies: Vec::new(),
            groups: Vec::new(),
            group_of: [usize::MAX; target::COUNT],
            hashes: HashTable::default(),
            sections: HashTable::default(),
            fp: HashTable::default(),
            weak_atoms: 0,
        }
    }
}

impl Compiled {
    /// Checks the index invariants the scanner relies on (used on databases read from the
    /// compiled cache, which is input: a bad index must be rejected, not panic a scan).
    pub fn validate(&self, nsets: usize) -> Result<(), &'static str> {
        let nsets = nsets.min(64);
        let (nl, nb) = (self.lsigs.len(), self.bodies.len());
        if self
            .lsigs
            .iter()
            .any(|l| usize::from(l.set) >= nsets || l.pcre.iter().any(|p| p.sub >= l.nsubs))
        {
            return Err("logical signature set or subsignature out of range");
        }
        for b in &self.bodies {
            let np = b.pattern.parts.len();
            if b.lsig as usize >= nl
                || np == 0
                || b.pattern.gaps.len() + 1 != np
                || !(b.splits.is_empty() || b.splits.len() == np)
            {
                return Err("body signature out of range");
            }
            for (part, sp) in b.pattern.parts.iter().zip(b.splits.iter()) {
                let ok = match part.elems.get(sp.elem as usize) {
                    Some(crate::sigs::hex::Elem::Lit(l)) => {
                        u64::from(sp.off) + u64::from(sp.len) <= l.len() as u64
                    }
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
            let n = g.refs.len();
            if g.atom_len.len() != n || g.need_after.len() != n {
                return Err("atom tables of different lengths");
            }
            let bad_ref = g.refs.iter().flatten().any(|r| {
                self.bodies
                    .get(r.body as usize)
                    .is_none_or(|b| usize::from(r.part) >= b.splits.len())
            });
            if bad_ref
                || g.anchored.iter().any(|&b| b as usize >= nb)
                || g.pcre.iter().any(|&l| l as usize >= nl)
            {
                return Err("atom reference out of range");
            }
        }
        for t in [&self.hashes, &self.sections, &self.fp] {
            let nn = t.names.len();
            if t.names
                .iter()
                .any(|(_, set)| usize::from(*set) >= nsets.max(1))
                || t.map.values().flatten().any(|&(_, id)| id as usize >= nn)
            {
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
}

fn needs_finish(o: &Offset) -> bool {
    !matches!(o.base, Base::Any)
}

/// Offsets with a shift at most this large are evaluated in place; larger ones are searched.
const MAX_DIRECT_SHIFT: u64 = 1 << 20;

fn pcre_compile(regex: &str, flags: &str) -> Result<pcre2::bytes::Regex, LineError> {
    let mut b = pcre2::bytes::RegexBuilder::new();
    b.caseless(flags.contains('i'))
        .dotall(flags.contains('s'))
        .multi_line(flags.contains('m'))
        .extended(flags.contains('x'))
        .jit_if_available(true);
    let mut re = String::new();
    if flags.contains('U') {
        re.push_str("(?U)");
    }
    if flags.contains('A') {
        re.push_str("\\A(?:");
        re.push_str(regex);
        re.push(')');
    } else {
        re.push_str(regex);
    }
    b.build(&re)
        .map_err(|_| LineError::Unsupported("pcre does not compile"))
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            c: Compiled::empty(),
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
            && ls.tdb.sections.is_none();
        let mut weak = 0;
        for (i, sub) in ls.subs.into_iter().enumerate() {
            let sub_i = i as u8;
            match sub {
                Sub::Pcre(p) => {
                    early = false;
                    let re = pcre_compile(&p.regex, &p.flags)?;
                    pcre.push(CPcre {
                        sub: sub_i,
                        offset: p.offset,
                        trigger: p.trigger,
                        global: p.flags.contains('g'),
                        regex: p.regex,
                        flags: p.flags,
                        re: OnceLock::from(Some(re)),
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
                        bodies.push(CBody {
                            lsig,
                            sub: sub_i,
                            pattern,
                            offset: b.offset,
                            nocase: b.nocase,
                            fullword: b.fullword,
                            splits: splits.into_boxed_slice(),
                        });
                    }
                }
            }
        }
        self.c.weak_atoms += weak;
        self.c.bodies.extend(bodies);
        self.c.lsigs.push(CLsig {
            name: ls.name,
            set,
            tdb: ls.tdb,
            expr: ls.expr,
            nsubs: 0,
            pcre,
            early,
        });
        Ok(())
    }

    /// Builds the per-target atom matchers.
    pub fn finish(mut self) -> Result<Compiled, MatchError> {
        for l in &mut self.c.lsigs {
            l.nsubs = l.expr.max_sub() + 1;
        }
        let mut targets_used = [false; target::COUNT];
        for l in &self.c.lsigs {
            targets_used[l.tdb.target as usize] = true;
        }
        targets_used[0] = true;
        let mut groups = Vec::new();
        for (t, used) in targets_used.iter().enumerate() {
            if !used {
                continue;
            }
            let g = self.build_group(t as u8)?;
            self.c.group_of[t] = groups.len();
            groups.push(g);
        }
        let g0 = self.c.group_of[0];
        for t in 0..target::COUNT {
            if self.c.group_of[t] == usize::MAX {
                self.c.group_of[t] = g0;
            }
        }
        self.c.groups = groups;
        Ok(self.c)
    }

    fn build_group(&self, t: u8) -> Result<Group, MatchError> {
        let mut ids: HashMap<(Vec<u8>, bool), u32> = HashMap::new();
        let mut atoms: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut refs: Vec<Vec<AtomRef>> = Vec::new();
        let mut need_after: Vec<u32> = Vec::new();
        let mut anchored = Vec::new();
        let mut keep = 256usize;
        for (bi, b) in self.c.bodies.iter().enumerate() {
            let tt = self.c.lsigs[b.lsig as usize].tdb.target;
            if tt != 0 && tt != t {
                continue;
            }
            if b.splits.is_empty() {
                anchored.push(bi as u32);
                continue;
            }
            for (pi, (part, sp)) in b.pattern.parts.iter().zip(&b.splits).enumerate() {
                let bytes = sp.atom(part).to_vec();
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
                need_after[id as usize] = need_after[id as usize].max(sp.post_max + 1);
                keep = keep.max((sp.pre_max + sp.post_max + sp.len) as usize + 2);
            }
        }
        let pcre = self
            .c
            .lsigs
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.pcre.is_empty() && (l.tdb.target == 0 || l.tdb.target == t))
            .map(|(i, _)| i as u32)
            .collect();
        let atom_len = atoms.iter().map(|(a, _)| a.len() as u32).collect();
        let db = if atoms.is_empty() {
            None
        } else {
            Some(Arc::new(AtomDb::compile(&atoms)?))
        };
        Ok(Group {
            db,
            refs,
            atom_len,
            need_after,
            anchored,
            pcre,
            keep,
        })
    }
}
