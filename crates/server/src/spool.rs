//! A body held until its verdict, in the one buffer type ([`SpillBuffer`]: memory up to
//! `answer.spool_memory_bytes`, then an unlinked temp file). Bytes are handed out from the
//! front as they may be sent (freed from memory as they go), while more are appended behind.

use std::path::Path;

use bulwark_spool::SpillBuffer;
use bytes::Bytes;

/// Holds the unsent part of a body in arrival order.
#[derive(Debug)]
pub struct Spool {
    buf: SpillBuffer,
}

impl Spool {
    /// A spool keeping up to `memory_limit` unsent bytes in memory; beyond that the body moves
    /// to an unlinked file in `dir`.
    pub fn new(memory_limit: usize, dir: &Path) -> Self {
        Self {
            buf: SpillBuffer::new(memory_limit as u64, dir),
        }
    }

    /// Appends bytes.
    pub fn push(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.buf.push(data)
    }

    /// Bytes received but not handed out yet.
    pub fn unsent(&self) -> u64 {
        self.buf.held()
    }

    /// Bytes handed out so far.
    pub fn sent(&self) -> u64 {
        self.buf.taken()
    }

    /// True when the body went to disk.
    #[cfg(test)]
    pub fn spilled(&self) -> bool {
        self.buf.is_spilled()
    }

    /// The next piece of at most `max` unsent bytes, keeping the last `keep` bytes back;
    /// `None` when nothing may be sent.
    pub fn next_piece(&mut self, max: usize, keep: u64) -> std::io::Result<Option<Bytes>> {
        let avail = self.unsent().saturating_sub(keep);
        let n = avail.min(max.max(1) as u64) as usize;
        if n == 0 {
            return Ok(None);
        }
        self.buf.take_front(n).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(s: &mut Spool, keep: u64, out: &mut Vec<u8>) {
        while let Some(b) = s.next_piece(4096, keep).expect("read") {
            assert!(b.len() <= 4096);
            out.extend_from_slice(&b);
        }
    }

    #[test]
    fn spills_beyond_the_limit_and_hands_out_in_order_while_growing() {
        let dir = std::env::temp_dir();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = Spool::new(10_000, &dir);
        let mut back = Vec::new();
        for (i, c) in data.chunks(777).enumerate() {
            s.push(c).expect("push");
            if i > 40 && i % 5 == 0 {
                drain(&mut s, 4096, &mut back);
                assert!(s.unsent() <= 4096 || back.is_empty());
            }
        }
        assert!(s.spilled());
        drain(&mut s, 0, &mut back);
        assert_eq!(back, data);
        assert_eq!(s.unsent(), 0);
    }

    #[test]
    fn small_bodies_stay_in_memory_and_keep_their_tail() {
        let mut s = Spool::new(100, Path::new("/nonexistent"));
        s.push(b"hello world").expect("push");
        assert!(!s.spilled());
        assert_eq!(
            s.next_piece(100, 5).expect("read").as_deref(),
            Some(&b"hello "[..])
        );
        assert_eq!(s.next_piece(100, 5).expect("read"), None);
        assert_eq!(
            s.next_piece(100, 0).expect("read").as_deref(),
            Some(&b"world"[..])
        );
    }
}
