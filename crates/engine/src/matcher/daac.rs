//! Pure-Rust atom matcher (feature `pure-rust` without `vectorscan`): daachorse double-array
//! Aho-Corasick automata, one for case-sensitive atoms and one for caseless atoms (matched on an
//! ASCII-lowercased copy of the data). Streaming keeps the last `longest atom - 1` bytes so an
//! atom split across chunks is found once.
//!
//! Serialisation stores the atoms, not the automaton (daachorse's own deserialiser is unchecked,
//! and the compiled cache is input): deserialising rebuilds, which takes about a second per
//! 100k atoms. Throughput is far below Vectorscan (research §3.2: 41-1,500 MB/s); this exists so
//! the crate builds and tests without the C library.

use std::sync::Arc;

use daachorse::DoubleArrayAhoCorasick;

use super::{Hit, MatchError};

/// The matcher's identity for the compiled cache.
pub fn fingerprint() -> String {
    format!("daachorse 1; {}", std::env::consts::ARCH)
}

/// A compiled set of atoms.
pub struct DaacDb {
    exact: Option<DoubleArrayAhoCorasick<u32>>,
    caseless: Option<DoubleArrayAhoCorasick<u32>>,
    atoms: Vec<(Vec<u8>, bool)>,
    longest: usize,
}

impl std::fmt::Debug for DaacDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaacDb")
            .field("atoms", &self.atoms.len())
            .field("bytes", &self.size())
            .finish()
    }
}

fn build(pats: Vec<(Vec<u8>, u32)>) -> Result<Option<DoubleArrayAhoCorasick<u32>>, MatchError> {
    if pats.is_empty() {
        return Ok(None);
    }
    DoubleArrayAhoCorasick::with_values(pats)
        .map(Some)
        .map_err(|e| MatchError(format!("daachorse: {e}")))
}

impl DaacDb {
    /// Compiles `atoms` (literal bytes, caseless flag); pattern id = index.
    pub fn compile(atoms: &[(Vec<u8>, bool)]) -> Result<Self, MatchError> {
        if atoms.is_empty() {
            return Err(MatchError("empty atom set".into()));
        }
        let id = |i: usize| u32::try_from(i).map_err(|_| MatchError("too many atoms".into()));
        let mut exact = Vec::new();
        let mut caseless = Vec::new();
        for (i, (a, ci)) in atoms.iter().enumerate() {
            if a.is_empty() {
                return Err(MatchError("empty atom".into()));
            }
            if *ci {
                caseless.push((a.to_ascii_lowercase(), id(i)?));
            } else {
                exact.push((a.clone(), id(i)?));
            }
        }
        // daachorse rejects duplicate patterns; the builder deduplicates atoms already, but
        // guard anyway (keep the first id).
        for v in [&mut exact, &mut caseless] {
            v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            v.dedup_by(|a, b| a.0 == b.0);
        }
        Ok(DaacDb {
            exact: build(exact)?,
            caseless: build(caseless)?,
            longest: atoms.iter().map(|(a, _)| a.len()).max().unwrap_or(1),
            atoms: atoms.to_vec(),
        })
    }

    /// Bytes used by the automata.
    pub fn size(&self) -> usize {
        self.exact.as_ref().map_or(0, |d| d.heap_bytes())
            + self.caseless.as_ref().map_or(0, |d| d.heap_bytes())
    }

    /// Serialises the atom set (rebuilt on load).
    pub fn serialize(&self) -> Result<Vec<u8>, MatchError> {
        postcard::to_allocvec(&self.atoms).map_err(|e| MatchError(e.to_string()))
    }

    /// Rebuilds from [`DaacDb::serialize`]'s output.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, MatchError> {
        let atoms: Vec<(Vec<u8>, bool)> =
            postcard::from_bytes(bytes).map_err(|e| MatchError(e.to_string()))?;
        Self::compile(&atoms)
    }
}

/// One streaming scan over a [`DaacDb`].
#[derive(Debug)]
pub struct DaacStream {
    db: Arc<DaacDb>,
    base: u64,
    /// Absolute offset of the first byte of `tail`.
    seen: u64,
    tail: Vec<u8>,
    buf: Vec<u8>,
    lower: Vec<u8>,
}

impl DaacStream {
    /// Opens a stream; `base` is added to reported offsets.
    pub fn open(db: Arc<DaacDb>, base: u64) -> Result<Self, MatchError> {
        Ok(DaacStream {
            db,
            base,
            seen: 0,
            tail: Vec::new(),
            buf: Vec::new(),
            lower: Vec::new(),
        })
    }

    /// Scans the next bytes, appending hits (absolute end offsets).
    pub fn scan(&mut self, data: &[u8], hits: &mut Vec<Hit>) -> Result<(), MatchError> {
        self.buf.clear();
        self.buf.extend_from_slice(&self.tail);
        self.buf.extend_from_slice(data);
        let old = self.tail.len();
        let start = self.base + self.seen;
        let mut push = |end: usize, id: u32| {
            // Matches wholly inside the carried tail were reported by the previous call.
            if end > old {
                hits.push(Hit {
                    atom: id,
                    end: start + end as u64,
                });
            }
        };
        if let Some(d) = &self.db.exact {
            for m in d.find_overlapping_iter(&self.buf) {
                push(m.end(), m.value());
            }
        }
        if let Some(d) = &self.db.caseless {
            self.lower.clear();
            self.lower
                .extend(self.buf.iter().map(|b| b.to_ascii_lowercase()));
            for m in d.find_overlapping_iter(&self.lower) {
                push(m.end(), m.value());
            }
        }
        hits.sort_by_key(|h| h.end);
        let keep = self.db.longest.saturating_sub(1).min(self.buf.len());
        let cut = self.buf.len() - keep;
        self.seen += cut as u64;
        self.tail.clear();
        self.tail.extend_from_slice(&self.buf[cut..]);
        Ok(())
    }
}
