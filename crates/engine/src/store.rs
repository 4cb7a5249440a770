//! What a scanner keeps of an object: all of it in memory up to a limit; above it, executables
//! (whose entry point, sections and section hashes need random access) spill to an unlinked temp
//! file (`bulwark_spool`) up to a second limit, other objects keep only a head and a tail. Plus streaming hashers for
//! objects too large to hash at the end.

use std::borrow::Cow;
use std::path::Path;

use bulwark_spool::{Reservation, SpillBuffer};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Head bytes kept for objects beyond the limits (absolute offsets are evaluated there).
pub const HEAD_KEEP: usize = 1 << 20;
/// Tail bytes kept for objects beyond the limits (`EOF-n` offsets).
pub const TAIL_KEEP: usize = 64 << 10;

/// Retained object data.
#[derive(Debug)]
pub enum Store {
    /// Everything, in memory, counted in the process's memory budget (`bulwark_spool::budget`).
    Mem(Vec<u8>, Reservation),
    /// Everything, in an unlinked temp file (Bulwark's one spill buffer, past its threshold).
    Spill(SpillBuffer),
    /// Only the head and the last [`TAIL_KEEP`] bytes (a ring).
    Partial {
        /// First bytes.
        head: Vec<u8>,
        /// Ring of the last bytes.
        tail: Vec<u8>,
        /// Total length.
        len: u64,
    },
}

impl Store {
    /// An empty store in memory, counted in the process's memory budget.
    pub fn new() -> Store {
        Store::Mem(Vec::new(), Reservation::default())
    }

    /// For a store in memory: reserves room for `n` more bytes, under `mem_limit` and within
    /// the memory budget; false when they do not fit (the next [`Store::append`] then moves the
    /// store out of memory), and always for a store already out of memory.
    pub fn reserve(&mut self, n: usize, mem_limit: usize) -> bool {
        match self {
            Store::Mem(v, r) => {
                let want = v.len() + n;
                if want > mem_limit {
                    return false;
                }
                if want <= v.capacity() {
                    return true;
                }
                // The budget counts the allocation: grow it as a vector would (doubling, never
                // past the limit), or by exactly the bytes when the budget is nearly spent.
                match r.for_allocation(want, 0, mem_limit) {
                    Some(cap) => {
                        v.reserve_exact(cap - v.len());
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }

    /// Appends bytes; `fits` is what [`Store::reserve`] answered for them. Out of memory,
    /// `spill` says whether to spill (vs drop to head+tail) — always when only the memory
    /// budget, not `mem_limit`, kept the bytes out; spilling stops at `spill_limit`. The spill
    /// file is made in `dir` (the system's temp directory when `None`).
    pub fn append(
        &mut self,
        data: &[u8],
        fits: bool,
        mem_limit: usize,
        spill: bool,
        spill_limit: u64,
        dir: Option<&Path>,
    ) {
        match self {
            Store::Mem(v, r) => {
                if fits {
                    v.extend_from_slice(data);
                    return;
                }
                // Within the limit, only the budget refused: keep every byte, in the file.
                let spill = spill || v.len() + data.len() <= mem_limit;
                let v = std::mem::take(v);
                r.release();
                *self = if spill && (v.len() + data.len()) as u64 <= spill_limit {
                    // A threshold of 0: the buffer goes to its file at once.
                    let tmp = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
                    let mut b = SpillBuffer::new(0, &tmp);
                    match b.push(&v) {
                        Ok(()) => Store::Spill(b),
                        Err(e) => {
                            tracing::warn!(error = %e, "spill file failed; keeping head and tail only");
                            Self::partial(v)
                        }
                    }
                } else {
                    Self::partial(v)
                };
                self.append(data, false, mem_limit, spill, spill_limit, dir);
            }
            Store::Spill(b) => {
                let len = b.len();
                if len + data.len() as u64 > spill_limit || b.push(data).is_err() {
                    let head =
                        Self::read_file(b, 0, HEAD_KEEP.min(len as usize)).unwrap_or_default();
                    let tail_len = TAIL_KEEP.min(len as usize);
                    let tail =
                        Self::read_file(b, len - tail_len as u64, tail_len).unwrap_or_default();
                    *self = Store::Partial { head, tail, len };
                    self.append(data, false, mem_limit, spill, spill_limit, dir);
                }
            }
            Store::Partial { tail, len, .. } => {
                push_tail(tail, data);
                *len += data.len() as u64;
            }
        }
    }

    fn partial(v: Vec<u8>) -> Store {
        let len = v.len() as u64;
        let mut tail = Vec::new();
        push_tail(&mut tail, &v);
        let mut head = v;
        head.truncate(HEAD_KEEP);
        Store::Partial { head, tail, len }
    }

    fn read_file(b: &SpillBuffer, off: u64, len: usize) -> Option<Vec<u8>> {
        let mut v = vec![0u8; len];
        b.read_at(off, &mut v).ok()?;
        Some(v)
    }

    /// Total bytes appended.
    pub fn len(&self) -> u64 {
        match self {
            Store::Mem(v, _) => v.len() as u64,
            Store::Spill(b) => b.len(),
            Store::Partial { len, .. } => *len,
        }
    }

    /// True when every byte is available.
    pub fn complete(&self) -> bool {
        !matches!(self, Store::Partial { .. })
    }

    /// Reads `[off, off + len)` clipped to the object; `None` when not retained.
    pub fn read(&mut self, off: u64, len: usize) -> Option<Cow<'_, [u8]>> {
        let total = self.len();
        if off > total {
            return None;
        }
        let len = len.min((total - off) as usize);
        match self {
            Store::Mem(v, _) => Some(Cow::Borrowed(&v[off as usize..off as usize + len])),
            Store::Spill(b) => Self::read_file(b, off, len).map(Cow::Owned),
            Store::Partial {
                head,
                tail,
                len: tl,
            } => {
                let end = off + len as u64;
                if end <= head.len() as u64 {
                    return Some(Cow::Borrowed(&head[off as usize..end as usize]));
                }
                let tail_start = *tl - tail.len() as u64;
                if off >= tail_start {
                    let s = (off - tail_start) as usize;
                    return Some(Cow::Borrowed(&tail[s..s + len]));
                }
                None
            }
        }
    }
}

fn push_tail(tail: &mut Vec<u8>, data: &[u8]) {
    if data.len() >= TAIL_KEEP {
        tail.clear();
        tail.extend_from_slice(&data[data.len() - TAIL_KEEP..]);
    } else {
        let over = (tail.len() + data.len()).saturating_sub(TAIL_KEEP);
        if over > 0 {
            tail.drain(..over);
        }
        tail.extend_from_slice(data);
    }
}

/// Streaming MD5/SHA-1/SHA-256, each optional.
#[derive(Debug, Default, Clone)]
pub struct Hashers {
    /// MD5.
    pub md5: Option<Md5>,
    /// SHA-1.
    pub sha1: Option<Sha1>,
    /// SHA-256.
    pub sha256: Option<Sha256>,
}

impl Hashers {
    /// Feeds bytes to every active hasher.
    pub fn update(&mut self, d: &[u8]) {
        if let Some(h) = &mut self.md5 {
            h.update(d);
        }
        if let Some(h) = &mut self.sha1 {
            h.update(d);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(d);
        }
    }
    /// True when no hasher is active.
    pub fn is_empty(&self) -> bool {
        self.md5.is_none() && self.sha1.is_none() && self.sha256.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under `mem_limit` but past the memory budget, any object (not only executables) goes to
    /// the spill file with every byte kept, and gives its share of the budget back.
    #[test]
    fn a_spent_budget_spills_instead_of_dropping_bytes() {
        static B: bulwark_spool::Budget = bulwark_spool::Budget::new(50_000);
        let data: Vec<u8> = (0..120_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = Store::Mem(Vec::new(), Reservation::in_budget(&B));
        for c in data.chunks(7000) {
            let fits = s.reserve(c.len(), 1 << 20);
            s.append(c, fits, 1 << 20, false, 1 << 30, None);
        }
        assert!(
            matches!(s, Store::Spill(..)),
            "spilled, not cut to head and tail"
        );
        assert!(s.complete());
        assert_eq!(B.used(), 0);
        assert_eq!(
            s.read(100_000, 10).unwrap().as_ref(),
            &data[100_000..100_010]
        );
        let mut small = Store::Mem(Vec::new(), Reservation::in_budget(&B));
        assert!(small.reserve(7000, 1 << 20));
        small.append(&data[..7000], true, 1 << 20, false, 1 << 30, None);
        // What is counted is what is allocated: 7,000 bytes in an 8 KiB vector.
        assert_eq!(B.used(), 8192);
        assert!(matches!(&small, Store::Mem(v, r) if v.capacity() as u64 == r.held()));
        // With the budget nearly spent, exactly the bytes.
        let mut tight = Store::Mem(Vec::new(), Reservation::in_budget(&B));
        assert!(tight.reserve(40_000, 1 << 20));
        assert_eq!(B.used(), 8192 + 40_000);
        drop(tight);
        drop(small);
        assert_eq!(B.used(), 0);
    }

    /// The spill file is made in the directory the scan was given (`server.temp_path`), not
    /// in the system's temp directory.
    #[test]
    fn spills_into_the_given_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![7u8; 50_000];
        let mut s = Store::new();
        for c in data.chunks(7000) {
            let fits = s.reserve(c.len(), 10_000);
            s.append(c, fits, 10_000, true, 1 << 30, Some(dir.path()));
        }
        assert!(matches!(s, Store::Spill(..)));
        // The file is unlinked at once: find it among the open descriptors.
        let ours = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .any(|l| l.starts_with(dir.path()));
        assert!(ours, "no open file in {}", dir.path().display());
        assert_eq!(s.read(49_990, 10).unwrap().as_ref(), &data[49_990..]);
    }

    #[test]
    fn memory_spill_and_partial() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = Store::new();
        for c in data.chunks(7000) {
            let fits = s.reserve(c.len(), 100_000);
            s.append(c, fits, 100_000, true, 1 << 30, None);
        }
        assert!(matches!(s, Store::Spill(..)));
        assert_eq!(
            s.read(123_456, 10).unwrap().as_ref(),
            &data[123_456..123_466]
        );
        let mut s = Store::new();
        for c in data.chunks(7000) {
            let fits = s.reserve(c.len(), 100_000);
            s.append(c, fits, 100_000, false, 0, None);
        }
        assert!(!s.complete());
        assert_eq!(s.read(10, 10).unwrap().as_ref(), &data[10..20]);
        assert_eq!(s.read(299_990, 10).unwrap().as_ref(), &data[299_990..]);
        let mut s = Store::new();
        for c in data.chunks(7000) {
            let fits = s.reserve(c.len(), 100_000);
            s.append(c, fits, 100_000, true, 200_000, None);
        }
        assert!(!s.complete());
        assert_eq!(s.read(299_000, 1000).unwrap().as_ref(), &data[299_000..]);
    }
}
