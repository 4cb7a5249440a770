//! A body held until its verdict: in memory up to a threshold, then in an unlinked temp file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use bytes::{Bytes, BytesMut};

/// Holds a body in arrival order.
#[derive(Debug)]
pub struct Spool {
    memory: BytesMut,
    file: Option<File>,
    limit: usize,
    len: u64,
}

impl Spool {
    /// A spool keeping up to `memory_limit` bytes in memory; beyond that everything moves to an
    /// unlinked file in `dir`.
    pub fn new(memory_limit: usize) -> Self {
        Self {
            memory: BytesMut::new(),
            file: None,
            limit: memory_limit,
            len: 0,
        }
    }

    /// Appends bytes, spilling to a new temp file in `dir` when the memory limit is passed.
    pub fn push(&mut self, data: &[u8], dir: &Path) -> std::io::Result<()> {
        self.len += data.len() as u64;
        if let Some(f) = &mut self.file {
            return f.write_all(data);
        }
        if self.memory.len() + data.len() <= self.limit {
            self.memory.extend_from_slice(data);
            return Ok(());
        }
        let mut f = tempfile::tempfile_in(dir)?;
        f.write_all(&self.memory)?;
        f.write_all(data)?;
        self.memory = BytesMut::new();
        self.file = Some(f);
        Ok(())
    }

    /// True when the body went to disk.
    #[cfg(test)]
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Turns the spool into a reader that hands the body back in order.
    pub fn into_reader(self) -> std::io::Result<SpoolReader> {
        let file = match self.file {
            Some(mut f) => {
                f.seek(SeekFrom::Start(0))?;
                Some(f)
            }
            None => None,
        };
        Ok(SpoolReader {
            memory: self.memory,
            file,
        })
    }
}

/// Reads a [`Spool`]'s body back in pieces.
#[derive(Debug)]
pub struct SpoolReader {
    memory: BytesMut,
    file: Option<File>,
}

impl SpoolReader {
    /// The next piece of at most `max` bytes, or `None` at the end.
    pub fn next_piece(&mut self, max: usize) -> std::io::Result<Option<Bytes>> {
        let max = max.max(1);
        if let Some(f) = &mut self.file {
            let mut buf = vec![0u8; max];
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            return Ok(Some(Bytes::from(buf)));
        }
        if self.memory.is_empty() {
            return Ok(None);
        }
        let n = self.memory.len().min(max);
        Ok(Some(self.memory.split_to(n).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_beyond_the_limit_and_reads_back_in_order() {
        let dir = std::env::temp_dir();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = Spool::new(10_000);
        for c in data.chunks(777) {
            s.push(c, &dir).expect("push");
        }
        assert!(s.spilled());
        let mut back = Vec::new();
        let mut r = s.into_reader().expect("reader");
        while let Some(b) = r.next_piece(4096).expect("read") {
            assert!(b.len() <= 4096);
            back.extend_from_slice(&b);
        }
        assert_eq!(back, data);
    }

    #[test]
    fn small_bodies_stay_in_memory() {
        let mut s = Spool::new(10);
        s.push(b"hello", Path::new("/nonexistent")).expect("push");
        assert!(!s.spilled());
    }
}
