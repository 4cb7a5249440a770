//! The verdict cache (F-ENG-8): content digest + database version + scan options → verdict,
//! bounded (CLOCK eviction, an LRU approximation with one bit per entry), shared by all scans.
//!
//! Keys are [`VerdictKey`]s: a blake3 digest over the database version, the options that can
//! change a verdict and the content's blake3 digest. blake3 runs at several GB/s per core, so the
//! content digest costs a small fraction of a scan (see docs/engine-benchmarks.md); a
//! [`crate::Scanner`] computes it while it scans when asked to
//! ([`crate::Scanner::compute_content_digest`]).
//!
//! Only final, content-determined verdicts are cached (clean and infected); errors, limits and
//! the like are not, so a transient failure is not repeated from the cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::{Database, ScanOptions, Status, Verdict};

/// A blake3 digest of an object's bytes, computed incrementally.
#[derive(Debug, Clone, Default)]
pub struct ContentHasher(blake3::Hasher);

impl ContentHasher {
    /// A new, empty digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything added so far.
    pub fn digest(&self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// The key of a cached verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerdictKey(pub [u8; 32]);

impl VerdictKey {
    /// The key of content with blake3 digest `content` scanned with `db` and `opts`.
    pub fn new(db: &Database, opts: &ScanOptions, content: &[u8; 32]) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"bulwark-verdict-1\0");
        h.update(db.version().as_bytes());
        h.update(&[0]);
        match &opts.sets {
            None => {
                h.update(b"*");
            }
            Some(sets) => {
                let mut s: Vec<&String> = sets.iter().collect();
                s.sort();
                s.dedup();
                for x in s {
                    h.update(&(x.len() as u64).to_le_bytes());
                    h.update(x.as_bytes());
                }
            }
        }
        h.update(&[1]);
        h.update(
            &opts
                .memory_limit
                .map_or(u64::MAX, |m| m as u64)
                .to_le_bytes(),
        );
        h.update(&opts.spill_limit.unwrap_or(u64::MAX).to_le_bytes());
        h.update(content);
        VerdictKey(*h.finalize().as_bytes())
    }

    /// The key of `content` (hashed here) scanned with `db` and `opts`.
    pub fn of_content(db: &Database, opts: &ScanOptions, content: &[u8]) -> Self {
        Self::new(db, opts, blake3::hash(content).as_bytes())
    }
}

/// A second tier behind a [`VerdictCache`], shared with other instances (through Redis, say):
/// consulted after a local miss, offered every verdict the local cache keeps. It never fails
/// a scan: one that cannot answer in its small bounded time answers `None`.
pub trait SharedVerdicts: Send + Sync + std::fmt::Debug {
    /// The verdict another instance found for `key`, if one is known (bounded in time).
    fn get(&self, key: &VerdictKey) -> Option<Verdict>;
    /// Offers `verdict` (clean or infected) for `key` to the other instances; never waits.
    fn put(&self, key: &VerdictKey, verdict: &Verdict);
}

struct Slot {
    key: VerdictKey,
    verdict: Verdict,
    referenced: bool,
}

#[derive(Default)]
struct Inner {
    index: HashMap<VerdictKey, usize>,
    slots: Vec<Slot>,
    hand: usize,
}

/// A bounded, thread-safe verdict cache.
pub struct VerdictCache {
    capacity: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for VerdictCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerdictCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}

impl VerdictCache {
    /// A cache of at most `capacity` verdicts (0 disables it).
    pub fn new(capacity: usize) -> Self {
        VerdictCache {
            capacity,
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters (worst case a stale slot); keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached verdict for `key`, if any.
    pub fn get(&self, key: &VerdictKey) -> Option<Verdict> {
        let mut g = self.lock();
        let Some(&i) = g.index.get(key) else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let slot = &mut g.slots[i];
        slot.referenced = true;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(slot.verdict.clone())
    }

    /// Caches `verdict` for `key` (only clean and infected verdicts are kept).
    pub fn insert(&self, key: VerdictKey, verdict: Verdict) {
        if self.capacity == 0 || !matches!(verdict.status, Status::Clean | Status::Infected) {
            return;
        }
        let mut g = self.lock();
        if let Some(&i) = g.index.get(&key) {
            g.slots[i].verdict = verdict;
            g.slots[i].referenced = true;
            return;
        }
        if g.slots.len() < self.capacity {
            let i = g.slots.len();
            g.slots.push(Slot {
                key,
                verdict,
                referenced: false,
            });
            g.index.insert(key, i);
            return;
        }
        // CLOCK: advance the hand, clearing reference bits, to the first unreferenced slot.
        let n = g.slots.len();
        let victim = loop {
            let h = g.hand;
            g.hand = (h + 1) % n;
            if g.slots[h].referenced {
                g.slots[h].referenced = false;
            } else {
                break h;
            }
        };
        let old = g.slots[victim].key;
        g.index.remove(&old);
        g.slots[victim] = Slot {
            key,
            verdict,
            referenced: false,
        };
        g.index.insert(key, victim);
    }

    /// Number of cached verdicts.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry (e.g. after a database reload; keys include the database version, so
    /// this only frees memory early).
    pub fn clear(&self) {
        let mut g = self.lock();
        g.index.clear();
        g.slots.clear();
        g.hand = 0;
    }

    /// Lookups that found a verdict.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that found nothing.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Threat;

    fn key(i: u8) -> VerdictKey {
        VerdictKey([i; 32])
    }

    #[test]
    fn bounded_clock_eviction_and_only_final_verdicts() {
        let c = VerdictCache::new(3);
        for i in 0..3 {
            c.insert(key(i), Verdict::clean());
        }
        assert_eq!(c.get(&key(0)), Some(Verdict::clean()));
        c.insert(key(3), Verdict::clean());
        assert_eq!(c.len(), 3);
        // 0 was referenced, so 1 went.
        assert!(c.get(&key(1)).is_none());
        assert!(c.get(&key(0)).is_some() && c.get(&key(3)).is_some());
        c.insert(key(9), Verdict::of(Status::Error));
        assert!(c.get(&key(9)).is_none());
        let inf = Verdict::infected(vec![Threat::new("X", "")]);
        c.insert(key(8), inf.clone());
        assert_eq!(c.get(&key(8)), Some(inf));
        assert_eq!(c.len(), 3);
        assert!(c.hits() >= 4 && c.misses() >= 2);
        c.clear();
        assert!(c.is_empty());
        let z = VerdictCache::new(0);
        z.insert(key(1), Verdict::clean());
        assert!(z.get(&key(1)).is_none());
    }

    #[test]
    fn keys_depend_on_database_options_and_content() {
        let db = Database::builtin();
        let o = ScanOptions::default();
        let a = VerdictKey::of_content(&db, &o, b"hello");
        assert_eq!(a, VerdictKey::of_content(&db, &o, b"hello"));
        assert_ne!(a, VerdictKey::of_content(&db, &o, b"hellO"));
        let o2 = ScanOptions {
            sets: Some(vec!["main".into()]),
            ..ScanOptions::default()
        };
        assert_ne!(a, VerdictKey::of_content(&db, &o2, b"hello"));
        let mut h = ContentHasher::new();
        h.update(b"hel");
        h.update(b"lo");
        assert_eq!(a, VerdictKey::new(&db, &o, &h.digest()));
    }
}
