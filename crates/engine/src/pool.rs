//! Compiled atom matchers shared between databases: what makes a database update compile only
//! the signature sets that changed.
//!
//! Each target group holds a matcher per big signature set and one for the small sets
//! together ([`crate::db::Slice`]), each identified by a digest of its atoms. Building a database takes each slice's matcher, in this order, from
//! a database still alive in this process (the one serving while a reload builds the next:
//! shared, not copied), from the stale cache file of the same sources (read from disk instead of
//! compiled), and only then compiles it. An update of `daily` thus compiles the small sets'
//! few atoms while `main`'s matchers, which hold nearly all of them, are reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::matcher::{AtomDb, MatchError};

/// The matchers alive in this process, by digest (entries whose databases are gone are pruned
/// when a new one is registered).
static LIVE: Mutex<Option<HashMap<[u8; 32], Weak<AtomDb>>>> = Mutex::new(None);

/// What identifies a compiled matcher: the matcher build (Vectorscan version and CPU features)
/// and its atoms in order.
pub(crate) fn digest(atoms: &[(Vec<u8>, bool)]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    let fp = crate::matcher::fingerprint();
    h.update(&(fp.len() as u64).to_le_bytes());
    h.update(fp.as_bytes());
    for (a, nocase) in atoms {
        h.update(&(a.len() as u32).to_le_bytes());
        h.update(a);
        h.update(&[u8::from(*nocase)]);
    }
    *h.finalize().as_bytes()
}

/// Makes `db` (whose atoms have `digest`) available to later builds in this process.
pub(crate) fn register(digest: [u8; 32], db: &Arc<AtomDb>) {
    let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    let map = live.get_or_insert_with(HashMap::new);
    map.retain(|_, w| w.strong_count() > 0);
    map.insert(digest, Arc::downgrade(db));
}

fn alive(digest: &[u8; 32]) -> Option<Arc<AtomDb>> {
    let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    live.as_ref()?.get(digest)?.upgrade()
}

/// A source of compiled matchers besides the live ones (the stale cache file): the matcher
/// with that digest, if it has it.
pub(crate) type Salvage<'a> = dyn FnMut(&[u8; 32]) -> Option<AtomDb> + 'a;

/// Where one build takes its matchers from, and what it did.
pub(crate) struct Reuse<'a> {
    salvage: Option<&'a mut Salvage<'a>>,
    /// Matchers compiled.
    pub compiled: usize,
    /// Matchers shared with a live database or read from a stale cache file.
    pub reused: usize,
}

impl<'a> Reuse<'a> {
    /// Live matchers only.
    pub fn live() -> Self {
        Reuse {
            salvage: None,
            compiled: 0,
            reused: 0,
        }
    }

    /// Live matchers, then `salvage`.
    pub fn with_salvage(salvage: &'a mut Salvage<'a>) -> Self {
        Reuse {
            salvage: Some(salvage),
            compiled: 0,
            reused: 0,
        }
    }

    /// The matcher of `atoms` and its digest: reused when possible, else compiled.
    pub fn get(
        &mut self,
        atoms: &[(Vec<u8>, bool)],
    ) -> Result<([u8; 32], Arc<AtomDb>), MatchError> {
        let d = digest(atoms);
        if let Some(db) = alive(&d) {
            self.reused += 1;
            return Ok((d, db));
        }
        if let Some(db) = self.salvage.as_mut().and_then(|s| s(&d)) {
            let db = Arc::new(db);
            register(d, &db);
            self.reused += 1;
            return Ok((d, db));
        }
        let db = Arc::new(AtomDb::compile(atoms)?);
        register(d, &db);
        self.compiled += 1;
        Ok((d, db))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atoms(tag: &str) -> Vec<(Vec<u8>, bool)> {
        vec![
            (format!("pool-test-{tag}-one").into_bytes(), false),
            (format!("pool-test-{tag}-two").into_bytes(), true),
        ]
    }

    #[test]
    fn a_live_matcher_is_shared_and_a_dropped_one_compiled_again() {
        let a = atoms("live");
        let mut r = Reuse::live();
        let (d1, db1) = r.get(&a).unwrap();
        let (d2, db2) = r.get(&a).unwrap();
        assert_eq!(d1, d2);
        assert!(Arc::ptr_eq(&db1, &db2));
        assert_eq!((r.compiled, r.reused), (1, 1));
        drop((db1, db2));
        let mut r = Reuse::live();
        r.get(&a).unwrap();
        assert_eq!((r.compiled, r.reused), (1, 0));
    }

    #[test]
    fn salvage_is_asked_before_compiling_and_only_for_the_digest_it_has() {
        let a = atoms("salvage-a");
        let b = atoms("salvage-b");
        let want = digest(&a);
        let mut asked = Vec::new();
        let mut f = |d: &[u8; 32]| {
            asked.push(*d);
            (*d == want).then(|| AtomDb::compile(&atoms("salvage-a")).unwrap())
        };
        let counts = {
            let mut r = Reuse::with_salvage(&mut f);
            let (_, da) = r.get(&a).unwrap();
            let (_, db) = r.get(&b).unwrap();
            drop((da, db));
            (r.compiled, r.reused)
        };
        assert_eq!(counts, (1, 1));
        assert_eq!(asked, vec![want, digest(&b)]);
    }

    #[test]
    fn the_digest_depends_on_bytes_case_and_order() {
        let a = atoms("d");
        let mut swapped = a.clone();
        swapped.swap(0, 1);
        let mut case = a.clone();
        case[0].1 = true;
        let all = [digest(&a), digest(&swapped), digest(&case)];
        assert!(all[0] != all[1] && all[0] != all[2] && all[1] != all[2]);
    }
}
