//! A body held until its verdict: in memory up to a threshold, then in an unlinked temp file.
//! Bytes are handed out from the front as they may be sent, while more are appended behind.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use bytes::{Bytes, BytesMut};

/// Holds the unsent part of a body in arrival order.
#[derive(Debug)]
pub struct Spool {
    memory: BytesMut,
    file: Option<File>,
    limit: usize,
    /// Bytes pushed so far.
    len: u64,
    /// Bytes handed out so far.
    sent: u64,
}

impl Spool {
    /// A spool keeping up to `memory_limit` unsent bytes in memory; beyond that the body moves
    /// to an unlinked file.
    pub fn new(memory_limit: usize) -> Self {
        Self {
            memory: BytesMut::new(),
            file: None,
            limit: memory_limit,
            len: 0,
            sent: 0,
        }
    }

    /// Appends bytes, spilling to a new temp file in `dir` when the memory limit is passed.
    pub fn push(&mut self, data: &[u8], dir: &Path) -> std::io::Result<()> {
        if let Some(f) = &mut self.file {
            f.write_all_at(data, self.len)?;
        } else if self.memory.len() + data.len() <= self.limit {
            self.memory.extend_from_slice(data);
        } else {
            // The file holds the whole body from offset 0; what was sent is simply not read.
            let f = tempfile::tempfile_in(dir)?;
            f.write_all_at(&self.memory, self.sent)?;
            f.write_all_at(data, self.len)?;
            self.memory = BytesMut::new();
            self.file = Some(f);
        }
        self.len += data.len() as u64;
        Ok(())
    }

    /// Bytes received but not handed out yet.
    pub fn unsent(&self) -> u64 {
        self.len - self.sent
    }

    /// Bytes handed out so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// True when the body went to disk.
    #[cfg(test)]
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// The next piece of at most `max` unsent bytes, keeping the last `keep` bytes back;
    /// `None` when nothing may be sent.
    pub fn next_piece(&mut self, max: usize, keep: u64) -> std::io::Result<Option<Bytes>> {
        let avail = self.unsent().saturating_sub(keep);
        let n = avail.min(max.max(1) as u64) as usize;
        if n == 0 {
            return Ok(None);
        }
        let piece = match &self.file {
            Some(f) => {
                let mut buf = vec![0u8; n];
                f.read_exact_at(&mut buf, self.sent)?;
                Bytes::from(buf)
            }
            None => self.memory.split_to(n).freeze(),
        };
        self.sent += n as u64;
        Ok(Some(piece))
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
        let mut s = Spool::new(10_000);
        let mut back = Vec::new();
        for (i, c) in data.chunks(777).enumerate() {
            s.push(c, &dir).expect("push");
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
        let mut s = Spool::new(100);
        s.push(b"hello world", Path::new("/nonexistent"))
            .expect("push");
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
