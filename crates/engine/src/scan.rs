//! The streaming scanner: type detection on the first bytes, atom matching as bytes arrive,
//! verification of atom hits in a bounded window, then at the end offset-anchored signatures,
//! PCRE, logical expressions, size-gated hashes and allow lists.

use std::collections::VecDeque;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::Arc;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::cltype::ClType;
use crate::db::{CBody, CPart, Compiled, Group};
use crate::filetype::{self, Target};
use crate::matcher::{self, AtomStreamImpl, Hit};
use crate::sigs::hash::Algo;
use crate::sigs::hex::{first_byte, match_part_at, verify_split, Window};
use crate::sigs::offset::{self, ExeInfo};
use crate::store::{Hashers, Store};
use crate::{eicar, Database, ScanOptions, Threat, Verdict};

/// Default bytes kept in memory per object before spilling (executables) or keeping head+tail.
pub const DEFAULT_MEMORY_LIMIT: usize = 16 << 20;
/// Default maximum spill size per object.
pub const DEFAULT_SPILL_LIMIT: u64 = 512 << 20;
/// Largest object PCRE subsignatures run on (ClamAV's PCREMaxFileSize is 100 MB).
const PCRE_MAX: u64 = 64 << 20;

/// The logical signatures with a matched subsignature: per signature, its subsignatures' match
/// counts and the end (+ 1) of each one's last match, in two arrays all of them share (no
/// allocation per signature: a web page touches dozens).
#[derive(Debug, Default)]
struct LStates {
    /// Where each signature's subsignatures start in `counts` and `last_end`.
    at: HashMap<u32, u32>,
    counts: Vec<u32>,
    last_end: Vec<u64>,
}

impl LStates {
    /// The counts of `lsig`'s `n` subsignatures, if it has a state.
    fn counts(&self, lsig: u32, n: usize) -> Option<&[u32]> {
        let a = *self.at.get(&lsig)? as usize;
        self.counts.get(a..a + n)
    }

    /// Where `lsig`'s `n` subsignatures are, its state made (all zero) if it has none.
    fn entry(&mut self, lsig: u32, n: usize) -> usize {
        let LStates {
            at,
            counts,
            last_end,
        } = self;
        *at.entry(lsig).or_insert_with(|| {
            let a = counts.len();
            counts.resize(a + n, 0);
            last_end.resize(a + n, 0);
            a as u32
        }) as usize
    }

    fn contains(&self, lsig: u32) -> bool {
        self.at.contains_key(&lsig)
    }

    /// The signatures with a state, in ascending order.
    fn sorted(&self) -> Vec<u32> {
        let mut keys: Vec<u32> = self.at.keys().copied().collect();
        keys.sort_unstable();
        keys
    }
}

/// One scan of one object (see [`crate::Scanner`]).
#[derive(Debug)]
pub(crate) struct Inner {
    db: Arc<Database>,
    set_mask: u64,
    size: u64,
    size_hint: Option<u64>,
    started: bool,
    finished: bool,
    ftype: Target,
    /// The groups scanned: target 0's, and the object type's own (if it has signatures).
    groups: [usize; 2],
    /// Per scanned group, a stream per matcher slice with the slice's first atom id and count.
    streams: [Vec<(AtomStreamImpl, u32, u32)>; 2],
    hits: Vec<Hit>,
    pending: [VecDeque<Hit>; 2],
    /// Bytes of look-behind the verifier may need (largest of the groups').
    keep: usize,
    win: Vec<u8>,
    win_base: u64,
    store: Store,
    mem_limit: usize,
    spill_limit: u64,
    spill_dir: Option<std::path::PathBuf>,
    hashers: Option<Hashers>,
    state: LStates,
    chains: HashMap<u32, Vec<Vec<(u64, u64)>>>,
    detected: HashSet<u32>,
    /// Per scanned group, a bit per atom whose hits can change nothing any more (its one
    /// reference's signature is detected or its subsignature's count saturated): dropped as
    /// they arrive, unverified.
    dead: [Vec<u64>; 2],
    found: Vec<String>,
    error: Option<String>,
    /// Set on the scan of a normalised view: its target type (3 or 7), not detected; no hashes,
    /// allow list or further views.
    view: Option<Target>,
    /// The containers the object was found in, outermost first (empty: a root object), for
    /// `Container:`/`Intermediates:` conditions.
    ancestry: Vec<ClType>,
    /// Which PCRE required literals the object contains (see [`crate::db::PcreLiterals`]),
    /// found on the first PCRE evaluation.
    pcre_seen: Option<Option<Vec<bool>>>,
    /// What matched HandlerType signatures ask (the type to scan the object again as, and
    /// their names, reported after that rescan).
    handler: Option<crate::HandlerRequest>,
    /// Set on a HandlerType rescan: the target type the object is scanned as, whatever its
    /// content; no hashes (the object's own scan has them).
    forced: Option<Target>,
    /// On a view's scan: whether target 0's signatures run too (not on a second scan of the
    /// same view for another target).
    view_target_0: bool,
}

/// Where an anchored body may start (see [`Inner::eval_anchored`]): at each occurrence of its
/// first byte (of either case), or at every position when it has no fixed first byte. An enum
/// rather than a boxed iterator: one allocation less per candidate body.
enum Starts<'h> {
    Byte(memchr::Memchr<'h>),
    Either(memchr::Memchr2<'h>),
    Every(std::ops::RangeInclusive<usize>),
}

impl Iterator for Starts<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            Starts::Byte(it) => it.next(),
            Starts::Either(it) => it.next(),
            Starts::Every(it) => it.next(),
        }
    }
}

fn mask_for(db: &Database, opts: &ScanOptions) -> u64 {
    match &opts.sets {
        None => u64::MAX,
        Some(names) => db
            .sets
            .iter()
            .enumerate()
            .filter(|(_, s)| names.iter().any(|n| n == *s))
            .fold(0u64, |m, (i, _)| m | (1 << i)),
    }
}

impl Inner {
    pub fn new(db: Arc<Database>, opts: &ScanOptions) -> Self {
        let set_mask = mask_for(&db, opts);
        Inner {
            set_mask,
            size: 0,
            size_hint: None,
            started: false,
            finished: false,
            ftype: Target::Any,
            groups: [0, usize::MAX],
            streams: [Vec::new(), Vec::new()],
            hits: Vec::new(),
            pending: [VecDeque::new(), VecDeque::new()],
            keep: 256,
            win: Vec::new(),
            win_base: 0,
            store: Store::new(),
            mem_limit: opts
                .memory_limit
                .unwrap_or(DEFAULT_MEMORY_LIMIT)
                .max(filetype::DETECT_LEN),
            spill_limit: opts.spill_limit.unwrap_or(DEFAULT_SPILL_LIMIT),
            spill_dir: opts.spill_dir.clone(),
            hashers: None,
            state: LStates::default(),
            chains: HashMap::default(),
            detected: HashSet::default(),
            dead: [Vec::new(), Vec::new()],
            found: Vec::new(),
            error: None,
            view: None,
            ancestry: Vec::new(),
            pcre_seen: None,
            handler: None,
            forced: None,
            view_target_0: true,
            db,
        }
    }

    /// Sets the containers the object was found in (outermost first).
    pub fn set_ancestry(&mut self, ancestry: Vec<ClType>) {
        self.ancestry = ancestry;
    }

    /// Scans the object as target type `ftype` whatever its content (a HandlerType rescan).
    pub fn force_type(&mut self, ftype: Target) {
        self.forced = Some(ftype);
    }

    /// A scan of a normalised view of type `ftype` (HTML 3 or text 7) with the same signature
    /// sets: target 0 (unless `target_0` is false) and `ftype` signatures run on it.
    fn new_view(
        db: Arc<Database>,
        set_mask: u64,
        ftype: Target,
        target_0: bool,
        ancestry: &[ClType],
    ) -> Self {
        let mut v = Inner::new(db, &ScanOptions::default());
        v.set_mask = set_mask;
        v.view = Some(ftype);
        v.view_target_0 = target_0;
        v.ancestry = ancestry.to_vec();
        v
    }

    /// Scans `view` as an object of type `ftype` (and target 0 when `target_0`); returns the
    /// names detected.
    fn scan_view(
        db: &Arc<Database>,
        set_mask: u64,
        view: Vec<u8>,
        (ftype, target_0): (Target, bool),
        ancestry: &[ClType],
    ) -> Vec<String> {
        if view.is_empty() {
            return Vec::new();
        }
        let mut v = Inner::new_view(Arc::clone(db), set_mask, ftype, target_0, ancestry);
        v.set_size_hint(view.len() as u64);
        v.feed_owned(view);
        v.finish(false)
            .threats
            .into_iter()
            .map(|t| t.name)
            .collect()
    }

    /// ClamAV 1.4 matches HTML and text objects on normalised views (see [`crate::normalise`]):
    /// an object typed HTML on its `nocomment` and `notags` views and on its scripts' view
    /// (`javascript`, matched both as HTML and as text), its raw bytes not matched against body
    /// signatures; a text object on its raw bytes (target 0) and on its normalised text
    /// (targets 0 and 7), or, when HTML magic appears later in it, on the HTML views instead of
    /// the normalised text.
    fn scan_views(&mut self) {
        if self.view.is_some()
            || !matches!(self.ftype, Target::Html | Target::Text)
            || self.size > crate::normalise::MAX_NORMALISE
            || !self.store.complete()
        {
            return;
        }
        let (db, mask, html) = (
            Arc::clone(&self.db),
            self.set_mask,
            self.ftype == Target::Html,
        );
        // A view is matched by target 0 and the view's own target (3 or 7): when the database
        // has no signature for either, nothing can match it and it is not built (the
        // built-in EICAR database, or a hash-only one).
        let c = &db.c;
        let can_match = |t: Target| {
            [c.group_of[Target::Any.index()], c.group_of[t.index()]]
                .iter()
                .any(|&g| c.groups.get(g).is_some_and(|g| !g.is_empty()))
        };
        if !can_match(Target::Html) && !can_match(Target::Text) {
            return;
        }
        let Some(data) = self.store.read(0, self.size as usize) else {
            return;
        };
        let mut names = Vec::new();
        let anc = &self.ancestry;
        if html || filetype::html_magic(&data) {
            let v = crate::normalise::html(&data);
            let html_view = (Target::Html, true);
            names.extend(Self::scan_view(&db, mask, v.nocomment, html_view, anc));
            names.extend(Self::scan_view(&db, mask, v.notags, html_view, anc));
            // The scripts' view is matched twice, as HTML and as text (targets 0 and 3, then 0
            // and 7), as ClamAV does; the second time only when there are target 7 signatures,
            // and by them only: target 0's have run on the same bytes already (each logical
            // signature belongs to one target, so nothing of theirs is left to match).
            let text_sigs = c.groups.get(c.group_of[Target::Text.index()]);
            if text_sigs.is_some_and(|g| !g.is_empty())
                && c.group_of[Target::Text.index()] != c.group_of[Target::Any.index()]
            {
                let js = v.javascript.clone();
                names.extend(Self::scan_view(&db, mask, js, html_view, anc));
                let text_only = (Target::Text, false);
                names.extend(Self::scan_view(&db, mask, v.javascript, text_only, anc));
            } else {
                names.extend(Self::scan_view(&db, mask, v.javascript, html_view, anc));
            }
        } else {
            let t = crate::normalise::text(&data);
            names.extend(Self::scan_view(&db, mask, t, (Target::Text, true), anc));
        }
        self.found.extend(names);
    }

    pub fn set_size_hint(&mut self, n: u64) {
        self.size_hint = Some(n);
        // Reserve the in-memory copy once instead of growing it by doubling (each growth
        // copies everything so far).
        let want = usize::try_from(n).unwrap_or(usize::MAX).min(self.mem_limit);
        let room = want.saturating_sub(self.store.len() as usize);
        if self.store.reserve(room, self.mem_limit) {
            if let Store::Mem(v, _) = &mut self.store {
                v.reserve(room);
            }
        }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    fn c(&self) -> &Compiled {
        &self.db.c
    }

    pub fn early(&self) -> Option<&str> {
        self.found.first().map(String::as_str)
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Feeds a whole object held in `data` (a view built for this scan): kept as the
    /// in-memory copy instead of copied into it, when it fits.
    fn feed_owned(&mut self, data: Vec<u8>) {
        if self.size == 0 && self.store.reserve(data.len(), self.mem_limit) {
            if let Store::Mem(v, _) = &mut self.store {
                self.size = data.len() as u64;
                *v = data;
                self.start();
                return;
            }
        }
        self.feed(&data);
    }

    pub fn feed(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.size += data.len() as u64;
        // While the object is in memory the verifier reads it there (no copy into `win`); when
        // it is about to leave memory, seed `win` with the tail the verifier may still need.
        let fits = self.store.reserve(data.len(), self.mem_limit);
        if let Store::Mem(v, _) = &self.store {
            if self.started && !fits {
                let n = v.len().min(2 * self.keep + (64 << 10));
                self.win = v[v.len() - n..].to_vec();
                self.win_base = (v.len() - n) as u64;
            }
        }
        let was_complete = self.store.complete() && matches!(self.store, Store::Mem(..));
        let spill = matches!(self.ftype, Target::Pe | Target::Elf | Target::MachO);
        self.store.append(
            data,
            fits,
            self.mem_limit,
            spill,
            self.spill_limit,
            self.spill_dir.as_deref(),
        );
        if was_complete && !matches!(self.store, Store::Mem(..)) {
            self.start_hashers(data.len());
        } else if let Some(h) = &mut self.hashers {
            h.update(data);
            self.gate_hashers();
        }
        if self.started {
            self.scan_chunk(data);
        } else if self.size >= filetype::DETECT_LEN as u64 {
            self.start();
        }
    }

    /// The object left memory: hash what was there (if a hash signature could still match).
    fn start_hashers(&mut self, last: usize) {
        let c = &self.db.c;
        let want = |a: Algo| {
            let t = &c.hashes;
            t.wild(a)
                || self
                    .size_hint
                    .map_or(t.max_size(a) >= self.size, |h| t.has_size(a, h))
        };
        let mut h = Hashers {
            md5: want(Algo::Md5).then(Md5::new),
            sha1: want(Algo::Sha1).then(Sha1::new),
            sha256: want(Algo::Sha256).then(Sha256::new),
        };
        if h.is_empty() {
            return;
        }
        let before = (self.size - last as u64) as usize;
        // Re-read what was in memory (now in the store) plus the last chunk.
        if let Some(d) = self.store.read(0, self.size as usize) {
            h.update(&d[..before.min(d.len())]);
            h.update(&d[before.min(d.len())..]);
            self.hashers = Some(h);
        } else {
            tracing::debug!("object not retained; hashes of objects this large are not checked");
        }
    }

    fn gate_hashers(&mut self) {
        let c = &self.db.c.hashes;
        if let Some(h) = &mut self.hashers {
            if !c.wild(Algo::Md5) && c.max_size(Algo::Md5) < self.size {
                h.md5 = None;
            }
            if !c.wild(Algo::Sha1) && c.max_size(Algo::Sha1) < self.size {
                h.sha1 = None;
            }
            if !c.wild(Algo::Sha256) && c.max_size(Algo::Sha256) < self.size {
                h.sha256 = None;
            }
        }
    }

    fn start(&mut self) {
        self.started = true;
        let n = (self.size as usize).min(filetype::DETECT_LEN);
        let head = self
            .store
            .read(0, n)
            .map(|c| c.into_owned())
            .unwrap_or_default();
        self.ftype = self
            .view
            .or(self.forced)
            .unwrap_or_else(|| filetype::detect(&head));
        let g0 = self.c().group_of[Target::Any.index()];
        let gt = self.c().group_of[self.ftype.index()];
        self.groups = match (self.view, self.ftype) {
            // Raw HTML is not matched (ClamAV's HTMLSKIPRAW); its views are.
            (None, Target::Html) => [usize::MAX, usize::MAX],
            // Raw text is matched by target 0 only; target 7 runs on the normalised text.
            (None, Target::Text) => [g0, usize::MAX],
            // A view whose target 0 matches ran on the same bytes already: its own target only.
            (Some(_), _) if !self.view_target_0 => {
                [usize::MAX, if gt == g0 { usize::MAX } else { gt }]
            }
            _ => [g0, if gt == g0 { usize::MAX } else { gt }],
        };
        for i in 0..2 {
            let Some(g) = self.db.c.groups.get(self.groups[i]) else {
                continue;
            };
            self.keep = self.keep.max(g.keep);
            for sl in &g.slices {
                let Some(db) = &sl.db else { continue };
                match matcher::open(db) {
                    Ok(s) => self.streams[i].push((s, sl.base, sl.atoms)),
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
        }
        if let Store::Mem(all, _) = &self.store {
            // Everything so far is in memory: match it where it lies (no copy).
            match_streams(
                &mut self.streams,
                &mut self.hits,
                &mut self.pending,
                &self.dead,
                all,
                &mut self.error,
            );
            self.process(false);
        } else if let Some(all) = self
            .store
            .read(0, self.size as usize)
            .map(|c| c.into_owned())
        {
            self.scan_chunk(&all);
        }
    }

    fn scan_chunk(&mut self, data: &[u8]) {
        if self.streams.iter().all(Vec::is_empty) {
            return;
        }
        let in_store = matches!(self.store, Store::Mem(..));
        if !in_store {
            self.win.extend_from_slice(data);
        }
        match_streams(
            &mut self.streams,
            &mut self.hits,
            &mut self.pending,
            &self.dead,
            data,
            &mut self.error,
        );
        self.process(false);
        let keep = self.keep;
        if !in_store && self.win.len() > 2 * keep + (64 << 10) {
            let mut cut = self.win.len() - keep;
            for q in &self.pending {
                if let Some(h) = q.front() {
                    cut = cut.min(
                        h.end
                            .saturating_sub(keep as u64)
                            .saturating_sub(self.win_base) as usize,
                    );
                }
            }
            self.win.drain(..cut);
            self.win_base += cut as u64;
        }
    }

    fn process(&mut self, last: bool) {
        let db = Arc::clone(&self.db);
        let mut matches: Vec<(u32, u16, u64, u64)> = Vec::new();
        for i in 0..2 {
            let Some(g) = db.c.groups.get(self.groups[i]) else {
                continue;
            };
            while let Some(&h) = self.pending[i].front() {
                let need = g.need_after.get(h.atom as usize).copied().unwrap_or(0);
                if !last && h.end + u64::from(need) > self.size {
                    break;
                }
                self.pending[i].pop_front();
                if is_dead(&self.dead[i], h.atom) {
                    continue;
                }
                // Hit by hit, so that a part's verification sees the parts before it that
                // earlier hits matched (see `verify`).
                if self.verify(&db.c, g, h, &mut matches) {
                    let d = &mut self.dead[i];
                    let w = h.atom as usize / 64;
                    if d.len() <= w {
                        d.resize(g.atoms().div_ceil(64).max(w + 1), 0);
                    }
                    d[w] |= 1 << (h.atom % 64);
                }
                for (body, part, st, en) in matches.drain(..) {
                    self.on_part(&db.c, body, part, st, en);
                }
            }
        }
    }

    /// True when part `part` (> 0) of a multi-part body cannot complete a chain: no earlier
    /// part has matched. Hits come in the order of their end offsets and a part's atom ends
    /// after the part starts, so a match of the part before it that a later hit finds would end
    /// after this part's start: it could never chain to this hit.
    fn chain_dead(&self, body: u32, part: u16) -> bool {
        part > 0
            && self
                .chains
                .get(&body)
                .is_none_or(|ch| ch.get(part as usize - 1).is_none_or(Vec::is_empty))
    }

    /// Verifies the bodies behind one atom hit into `out`; true when the atom's hits can
    /// change nothing any more in this scan (see `dead`).
    fn verify(&self, c: &Compiled, g: &Group, h: Hit, out: &mut Vec<(u32, u16, u64, u64)>) -> bool {
        // Atom ids come from the matcher database (possibly read from the cache): checked.
        let (Some(&alen), Some(refs)) = (g.atom_len.get(h.atom as usize), g.refs_of(h.atom)) else {
            return false;
        };
        let alen = u64::from(alen);
        let (data, base) = match &self.store {
            Store::Mem(v, _) => (v.as_slice(), 0),
            _ => (self.win.as_slice(), self.win_base),
        };
        let Some(rel_s) = h.end.saturating_sub(alen).checked_sub(base) else {
            return false;
        };
        let rel_s = rel_s as usize;
        let w = Window {
            data,
            at_start: base == 0,
            at_end: self.finished,
        };
        for r in refs {
            let b = &c.bodies[r.body as usize];
            let ls = &c.lsigs[b.lsig as usize];
            if self.set_mask & (1 << ls.set) == 0
                || self.detected.contains(&b.lsig)
                || self.saturated(ls, b.lsig, b.sub)
            {
                // This reference is done for the scan: with no other, so is the atom.
                if refs.len() == 1 {
                    return true;
                }
                continue;
            }
            if self.chain_dead(r.body, r.part) {
                continue;
            }
            let Some((part, sp)) = c
                .parts(b)
                .get(usize::from(r.part))
                .and_then(|p| Some((p, p.split?)))
            else {
                continue;
            };
            if let Some((s, e)) = verify_split(
                c.elems(part),
                &sp,
                w,
                rel_s,
                rel_s + alen as usize,
                b.nocase,
            ) {
                if b.fullword && !fullword_ok(&w, s, e) {
                    continue;
                }
                out.push((r.body, r.part, base + s as u64, base + e as u64));
            }
        }
        false
    }

    /// True when subsignature `sub` of `lsig` has matched as often as anything can tell.
    fn saturated(&self, ls: &crate::db::CLsig, lsig: u32, sub: u8) -> bool {
        let Some(&limit) = ls.saturation.get(sub as usize) else {
            return false;
        };
        self.state
            .counts(lsig, usize::from(ls.nsubs))
            .and_then(|s| s.get(sub as usize))
            .is_some_and(|&n| n >= limit)
    }

    fn on_part(&mut self, c: &Compiled, body: u32, part: u16, st: u64, en: u64) {
        let b = &c.bodies[body as usize];
        let parts = c.parts(b);
        let n = parts.len();
        if n == 1 {
            self.on_sub(c, b.lsig, b.sub, st, en);
            return;
        }
        let ch = self
            .chains
            .entry(body)
            .or_insert_with(|| vec![Vec::new(); n]);
        let p = part as usize;
        let entry = if p == 0 {
            Some((st, en))
        } else {
            let Some(&CPart {
                gap: (min, max), ..
            }) = parts.get(p)
            else {
                return;
            };
            ch[p - 1]
                .iter()
                .find(|&&(_, e)| {
                    st >= e + u64::from(min) && max.is_none_or(|m| st <= e + u64::from(m))
                })
                .map(|&(cs, _)| (cs, en))
        };
        let Some(entry) = entry else { return };
        if p + 1 == n {
            self.on_sub(c, b.lsig, b.sub, entry.0, entry.1);
        } else {
            let v = &mut ch[p];
            if v.len() >= 16 {
                v.remove(1);
            }
            v.push(entry);
        }
    }

    fn on_sub(&mut self, c: &Compiled, lsig: u32, sub: u8, _st: u64, en: u64) {
        let ls = &c.lsigs[lsig as usize];
        let n = usize::from(ls.nsubs);
        let a = self.state.entry(lsig, n);
        let i = sub as usize;
        let s = &mut self.state;
        if i >= n || s.last_end[a + i] == en + 1 {
            return;
        }
        s.last_end[a + i] = en + 1;
        s.counts[a + i] += 1;
        if ls.early && c.expr(ls).eval(&s.counts[a..a + n]) {
            self.detect(c, lsig);
        }
    }

    fn detect(&mut self, c: &Compiled, lsig: u32) {
        if self.detected.insert(lsig) {
            let ls = &c.lsigs[lsig as usize];
            match c.tdb(ls).handler {
                // A HandlerType signature asks for the object to be scanned again as that
                // type (the first such request counts) before it reports.
                Some(t) => self
                    .handler
                    .get_or_insert_with(|| crate::HandlerRequest {
                        ty: t,
                        names: Vec::new(),
                    })
                    .names
                    .push(c.lsig_name(lsig).to_string()),
                None => self.found.push(c.lsig_name(lsig).to_string()),
            }
        }
    }

    fn exe_info(&mut self) -> Option<ExeInfo> {
        let head = self
            .store
            .read(0, (self.size as usize).min(1 << 20))?
            .into_owned();
        match self.ftype {
            Target::Pe => filetype::pe_layout(&head),
            Target::Elf => filetype::elf_layout(&head),
            _ => None,
        }
    }

    /// The verdict, matched HandlerType signatures included (nothing here rescans).
    pub fn finish(self, eicar_found: bool) -> Verdict {
        let (mut v, h) = self.finish_with_handler(eicar_found);
        if let Some(h) = h {
            v.add_names(h.names);
        }
        v
    }

    /// The verdict without matched HandlerType signatures, and what they ask (see
    /// [`crate::HandlerRequest`]).
    pub fn finish_with_handler(
        mut self,
        eicar_found: bool,
    ) -> (Verdict, Option<crate::HandlerRequest>) {
        let verdict = self.verdict(eicar_found);
        if self.handler.is_some()
            && self.view.is_none()
            && self.allow_listed(&Arc::clone(&self.db).c)
        {
            tracing::debug!("HandlerType detection suppressed by the allow list");
            return (verdict, None);
        }
        (verdict, self.handler.take())
    }

    fn verdict(&mut self, eicar_found: bool) -> Verdict {
        if !self.started {
            self.start();
        }
        self.finished = true;
        self.process(true);
        self.scan_views();
        let db = Arc::clone(&self.db);
        let c = &db.c;
        let exe = if matches!(self.ftype, Target::Pe | Target::Elf) {
            self.exe_info()
        } else {
            None
        };
        let used: Vec<&Group> = self
            .groups
            .iter()
            .filter_map(|&i| c.groups.get(i))
            .collect();
        // The anchored bodies that can match: most are rejected by one byte of the object,
        // without touching the body itself.
        let candidates: Vec<u32> = {
            let whole = match &self.store {
                Store::Mem(v, _) if self.store.complete() => Some(v.as_slice()),
                _ => None,
            };
            used.iter()
                .flat_map(|g| &g.anchored)
                .filter(|a| {
                    self.set_mask & (1 << a.set) != 0 && whole.is_none_or(|d| a.may_match(d))
                })
                .map(|a| a.body)
                .collect()
        };
        for bi in candidates {
            let b = &c.bodies[bi as usize];
            if self.detected.contains(&b.lsig) {
                continue;
            }
            if let Some((st, en)) = self.eval_anchored(c, b, exe.as_ref()) {
                self.on_sub(c, b.lsig, b.sub, st, en);
            }
        }
        for p in used.iter().flat_map(|g| &g.pcre) {
            // Without a matched subsignature only an unconditional trigger can fire.
            if p.unconditional || self.state.contains(p.lsig) {
                self.eval_pcre(c, p.lsig, exe.as_ref());
            }
        }
        for li in self.state.sorted() {
            let ls = &c.lsigs[li as usize];
            if self.detected.contains(&li) || self.set_mask & (1 << ls.set) == 0 {
                continue;
            }
            let in_range = |r: Option<(u64, u64)>, v: Option<u64>| {
                r.is_none_or(|(a, b)| v.is_some_and(|v| v >= a && v <= b))
            };
            let tdb = c.tdb(ls);
            if tdb
                .container
                .as_ref()
                .is_some_and(|c| !c.matches(&self.ancestry))
            {
                continue;
            }
            if !in_range(tdb.file_size, Some(self.size))
                || !in_range(tdb.entry_point, exe.as_ref().map(|e| e.ep))
                || !in_range(tdb.sections, exe.as_ref().map(|e| e.sections.len() as u64))
            {
                continue;
            }
            if self
                .state
                .counts(li, usize::from(ls.nsubs))
                .is_some_and(|s| c.expr(ls).eval(s))
            {
                self.detect(c, li);
            }
        }
        let mut names: Vec<String> = Vec::new();
        if eicar_found {
            names.push(eicar::NAME.to_string());
        }
        if self.view.is_none() && self.forced.is_none() {
            names.extend(self.hash_hits(c));
        }
        names.append(&mut self.found);
        if !names.is_empty() && self.view.is_none() && self.allow_listed(c) {
            tracing::debug!("detection suppressed by the allow list");
            names.clear();
        }
        let mut seen = HashSet::default();
        names.retain(|n| seen.insert(n.clone()));
        if names.is_empty() {
            if let Some(e) = &self.error {
                tracing::warn!(error = %e, "scan error");
                return Verdict::error(crate::ErrorDetail::ScanFailed);
            }
            return Verdict::clean();
        }
        Verdict::infected(names.into_iter().map(|n| Threat::new(n, "")).collect())
    }

    fn eval_anchored(
        &mut self,
        c: &Compiled,
        b: &CBody,
        exe: Option<&ExeInfo>,
    ) -> Option<(u64, u64)> {
        if b.offset.base == offset::Base::VersionInfo {
            return self.eval_version_info(c, b);
        }
        let (lo, hi) = offset::resolve(&b.offset, self.size, exe)?;
        if lo >= self.size {
            return None;
        }
        let hi = hi.min(self.size - 1);
        let parts = c.parts(b);
        let first = c.elems(parts.first()?);
        let span: u64 = if parts.len() == 1 {
            // + 2: a trailing `(L)` looks at up to two bytes after the part (CR LF).
            u64::from(crate::sigs::hex::seq_max(first)) + 2
        } else {
            self.size
        };
        let len = (hi - lo + span).min(64 << 20) as usize;
        let size = self.size;
        let data = self.store.read(lo, len)?;
        let w = Window {
            data: &data,
            at_start: lo == 0,
            at_end: lo + data.len() as u64 >= size,
        };
        if data.is_empty() {
            return None;
        }
        let last = ((hi - lo) as usize).min(data.len() - 1);
        let starts = match first_byte(first) {
            // The start positions are where the first byte is (found with memchr: a range
            // offset such as `0,8192` or `*` would otherwise test every byte).
            Some(f) if b.nocase => Starts::Either(memchr::memchr2_iter(
                f.to_ascii_lowercase(),
                f.to_ascii_uppercase(),
                &data[..=last],
            )),
            Some(f) => Starts::Byte(memchr::memchr_iter(f, &data[..=last])),
            None => Starts::Every(0..=(hi - lo) as usize),
        };
        for s in starts {
            let Some(mut end) = match_part_at(first, w, s, b.nocase) else {
                continue;
            };
            if b.fullword && !fullword_ok(&w, s, end) {
                continue;
            }
            let mut ok = true;
            for part in parts.iter().skip(1) {
                let (min, max) = part.gap;
                let from = end + min as usize;
                let to = max.map_or(data.len(), |m| (end + m as usize).min(data.len()));
                let elems = c.elems(part);
                match (from..=to).find_map(|p| match_part_at(elems, w, p, b.nocase)) {
                    Some(e) => end = e,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                return Some((lo + s as u64, lo + end as u64));
            }
        }
        None
    }

    /// A `VI` subsignature: its pattern must match at the start of one of the PE's
    /// version-information key/value pairs, within the pair.
    fn eval_version_info(&mut self, c: &Compiled, b: &CBody) -> Option<(u64, u64)> {
        if self.ftype != Target::Pe || !self.store.complete() {
            return None;
        }
        let data = self.store.read(0, self.size as usize)?;
        for (s, e) in crate::pe::version_info(&data) {
            let Some(pair) = data.get(s..e) else {
                continue;
            };
            let w = Window {
                data: pair,
                at_start: true,
                at_end: true,
            };
            let mut end = 0;
            let mut ok = true;
            for (pi, part) in c.parts(b).iter().enumerate() {
                let (from, to) = if pi == 0 {
                    (0, 0)
                } else {
                    let (min, max) = part.gap;
                    (
                        end + min as usize,
                        max.map_or(pair.len(), |m| (end + m as usize).min(pair.len())),
                    )
                };
                let elems = c.elems(part);
                match (from..=to).find_map(|p| match_part_at(elems, w, p, b.nocase)) {
                    Some(x) => end = x,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                return Some((s as u64, (s + end) as u64));
            }
        }
        None
    }

    fn eval_pcre(&mut self, c: &Compiled, li: u32, exe: Option<&ExeInfo>) {
        let ls = &c.lsigs[li as usize];
        if self.detected.contains(&li) || self.set_mask & (1 << ls.set) == 0 || self.size > PCRE_MAX
        {
            return;
        }
        let n = usize::from(ls.nsubs);
        let mut counts = self
            .state
            .counts(li, n)
            .map_or_else(|| vec![0; n], <[u32]>::to_vec);
        let size = self.size;
        let mut any = false;
        let mut data = None;
        // Built on first use; sets each PCRE's literal index read below.
        let lits = c.pcre_literals();
        for p in &ls.pcre {
            if !p.trigger.eval(&counts) {
                continue;
            }
            if data.is_none() {
                data = self.store.read(0, size as usize);
            }
            let Some(d) = data.as_deref() else {
                return;
            };
            // Skipped when the object lacks a string every match contains.
            if let Some(id) = p.literal.get().copied().flatten() {
                let seen = self.pcre_seen.get_or_insert_with(|| lits.present(d));
                if seen
                    .as_ref()
                    .is_some_and(|s| !s.get(id as usize).copied().unwrap_or(true))
                {
                    if let Some(slot) = counts.get_mut(p.sub as usize) {
                        *slot = 0;
                    }
                    continue;
                }
            }
            let n = p.count(d, exe);
            if let Some(slot) = counts.get_mut(p.sub as usize) {
                *slot = n;
                any |= n > 0;
            }
        }
        if any {
            let a = self.state.entry(li, n);
            for (dst, &k) in self.state.counts[a..a + n].iter_mut().zip(&counts) {
                *dst = k;
            }
        }
    }

    fn digests(&mut self, want: impl Fn(Algo) -> bool) -> Vec<(Algo, Vec<u8>)> {
        let mut out = Vec::new();
        let size = self.size;
        if self.store.complete() {
            let Some(d) = self.store.read(0, size as usize) else {
                return out;
            };
            if want(Algo::Md5) {
                out.push((Algo::Md5, Md5::digest(&d).to_vec()));
            }
            if want(Algo::Sha1) {
                out.push((Algo::Sha1, Sha1::digest(&d).to_vec()));
            }
            if want(Algo::Sha256) {
                out.push((Algo::Sha256, Sha256::digest(&d).to_vec()));
            }
        } else if let Some(h) = self.hashers.clone() {
            if let Some(x) = h.md5.filter(|_| want(Algo::Md5)) {
                out.push((Algo::Md5, x.finalize().to_vec()));
            }
            if let Some(x) = h.sha1.filter(|_| want(Algo::Sha1)) {
                out.push((Algo::Sha1, x.finalize().to_vec()));
            }
            if let Some(x) = h.sha256.filter(|_| want(Algo::Sha256)) {
                out.push((Algo::Sha256, x.finalize().to_vec()));
            }
        }
        out
    }

    fn hash_hits(&mut self, c: &Compiled) -> Vec<String> {
        let size = self.size;
        let mut names = Vec::new();
        for (a, d) in self.digests(|a| c.hashes.wants(a, size)) {
            if let Some(id) = c.hashes.lookup(a, &d, size, self.set_mask) {
                names.push(c.hashes.names.get(id).to_string());
            }
        }
        if self.ftype == Target::Pe && c.imports.count > 0 && self.store.complete() {
            if let Some(imp) = self
                .store
                .read(0, size as usize)
                .and_then(|d| crate::pe::import_string(&d))
            {
                let len = imp.len() as u64;
                for a in [Algo::Md5, Algo::Sha1, Algo::Sha256] {
                    if !c.imports.wants(a, len) {
                        continue;
                    }
                    let dg = match a {
                        Algo::Md5 => Md5::digest(&imp).to_vec(),
                        Algo::Sha1 => Sha1::digest(&imp).to_vec(),
                        Algo::Sha256 => Sha256::digest(&imp).to_vec(),
                    };
                    if let Some(id) = c.imports.lookup(a, &dg, len, self.set_mask) {
                        names.push(c.imports.names.get(id).to_string());
                    }
                }
            }
        }
        if self.ftype == Target::Pe && c.sections.count > 0 && self.store.complete() {
            if let Some(d) = self.store.read(0, size as usize).map(|d| d.into_owned()) {
                for (off, len) in filetype::pe_sections(&d) {
                    let Some(sec) = d.get(off as usize..(off + len) as usize) else {
                        continue;
                    };
                    for a in [Algo::Md5, Algo::Sha1, Algo::Sha256] {
                        if !c.sections.wants(a, len) {
                            continue;
                        }
                        let dg = match a {
                            Algo::Md5 => Md5::digest(sec).to_vec(),
                            Algo::Sha1 => Sha1::digest(sec).to_vec(),
                            Algo::Sha256 => Sha256::digest(sec).to_vec(),
                        };
                        if let Some(id) = c.sections.lookup(a, &dg, len, self.set_mask) {
                            names.push(c.sections.names.get(id).to_string());
                        }
                    }
                }
            }
        }
        names
    }

    fn allow_listed(&mut self, c: &Compiled) -> bool {
        if c.fp.count == 0 {
            return false;
        }
        let size = self.size;
        self.digests(|a| c.fp.wants(a, size))
            .iter()
            .any(|(a, d)| c.fp.lookup(*a, d, size, u64::MAX).is_some())
    }
}

/// Runs `data` through the open atom streams and queues their hits (all but dead atoms').
/// A function of the fields it needs, so that the data may be borrowed from the store.
fn match_streams(
    streams: &mut [Vec<(AtomStreamImpl, u32, u32)>; 2],
    hits: &mut Vec<Hit>,
    pending: &mut [VecDeque<Hit>; 2],
    dead: &[Vec<u64>; 2],
    data: &[u8],
    error: &mut Option<String>,
) {
    for i in 0..2 {
        let mut slice_hits = 0;
        for (stream, base, n) in &mut streams[i] {
            let from = hits.len();
            if let Err(e) = stream.scan(data, hits) {
                *error = Some(e.to_string());
            }
            // Slice atom ids to group ids (an id past the slice, which a database that does
            // not match its index could give, is dropped).
            let mut w = from;
            for r in from..hits.len() {
                let h = hits[r];
                if h.atom < *n {
                    hits[w] = Hit {
                        atom: h.atom + *base,
                        end: h.end,
                    };
                    w += 1;
                }
            }
            hits.truncate(w);
            slice_hits += usize::from(w > from);
        }
        // Each stream reports in the order of end offsets; hits of several streams are merged
        // into that order (verification relies on it: see `chain_dead`).
        if slice_hits > 1 {
            hits.sort_by_key(|h| h.end);
        }
        pending[i].extend(hits.drain(..).filter(|h| !is_dead(&dead[i], h.atom)));
    }
}

/// True when atom `a`'s bit is set in `dead`.
fn is_dead(dead: &[u64], a: u32) -> bool {
    dead.get(a as usize / 64)
        .is_some_and(|w| w & (1 << (a % 64)) != 0)
}

fn fullword_ok(w: &Window<'_>, s: usize, e: usize) -> bool {
    let before = s
        .checked_sub(1)
        .and_then(|p| w.data.get(p))
        .is_none_or(|b| !b.is_ascii_alphanumeric());
    let after = w.data.get(e).is_none_or(|b| !b.is_ascii_alphanumeric());
    before && after
}
