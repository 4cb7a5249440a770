//! Bulwark's one buffer for an object's bytes: [`SpillBuffer`] keeps them in memory up to a
//! threshold, then moves them to an unlinked temp file (gone when the buffer is dropped, even
//! after a crash). The server holds ICAP bodies in it until their verdict, the deep scanner
//! spools members in it, and the engine spills large executables to it.
//!
//! Bytes are pushed at the end and may be taken from the front ([`SpillBuffer::take_front`]):
//! in memory, their room is reused when the buffer next grows (it compacts), so the threshold
//! bounds the bytes *held*, not the bytes ever pushed; once in the file, reads are positional
//! (`pread`), so a shared reference reads while nothing moves a file cursor.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod budget;

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

pub use budget::{Budget, Reservation};

/// The smallest allocation for bytes in memory.
const MIN_ALLOCATION: usize = 4096;

/// Bytes in arrival order, in memory up to a threshold, then in an unlinked temp file.
#[derive(Debug)]
pub struct SpillBuffer {
    /// The held bytes `[front, len)` while in memory.
    memory: BytesMut,
    /// Every byte from offset 0 once spilled (bytes before `front` are simply not read).
    file: Option<File>,
    /// Bytes taken from the front so far.
    front: u64,
    /// Bytes pushed so far.
    len: u64,
    /// Most bytes held in memory.
    threshold: u64,
    /// Where the temp file is made.
    dir: PathBuf,
    /// The memory budget's share for the bytes held in memory.
    reservation: Reservation,
}

/// What a finished buffer holds: all of it, in memory or in the file.
#[derive(Debug)]
pub enum Spilled {
    /// In memory (the bytes not taken from the front), still counted in the memory budget.
    Memory(Vec<u8>, Reservation),
    /// In an unlinked temp file: every byte from offset 0, and how many there are.
    File(File, u64),
}

/// A readable, seekable source.
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

impl Spilled {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Spilled::Memory(v, _) => v.len() as u64,
            Spilled::File(_, n) => *n,
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The content when it is in memory (nothing read, nothing copied).
    pub fn in_memory(&self) -> Option<&[u8]> {
        match self {
            Spilled::Memory(v, _) => Some(v),
            Spilled::File(..) => None,
        }
    }

    /// A reader from its start (each reader of the file has its own position).
    pub fn reader(&self) -> io::Result<Box<dyn ReadSeek + '_>> {
        match self {
            Spilled::Memory(v, _) => Ok(Box::new(Cursor::new(v.as_slice()))),
            Spilled::File(f, _) => {
                let mut f = f.try_clone()?;
                f.seek(SeekFrom::Start(0))?;
                Ok(Box::new(f))
            }
        }
    }

    /// Up to `n` bytes from its start.
    pub fn head(&self, n: usize) -> io::Result<Vec<u8>> {
        match self {
            Spilled::Memory(v, _) => Ok(v[..v.len().min(n)].to_vec()),
            Spilled::File(f, len) => {
                let mut out = vec![0u8; n.min(*len as usize)];
                f.read_exact_at(&mut out, 0)?;
                Ok(out)
            }
        }
    }

    /// The whole content in memory when it is at most `cap` bytes (borrowed when it is).
    pub fn bytes(&self, cap: u64) -> io::Result<Option<Cow<'_, [u8]>>> {
        match self {
            Spilled::Memory(v, _) => Ok(Some(Cow::Borrowed(v))),
            Spilled::File(f, n) if *n <= cap => {
                let mut out = vec![0u8; *n as usize];
                f.read_exact_at(&mut out, 0)?;
                Ok(Some(Cow::Owned(out)))
            }
            Spilled::File(..) => Ok(None),
        }
    }
}

impl SpillBuffer {
    /// An empty buffer holding up to `threshold` bytes in memory, spilling into a temp file in
    /// `dir` (or the system's temp directory when `dir` cannot take one).
    pub fn new(threshold: u64, dir: &Path) -> Self {
        Self::in_budget(threshold, dir, Reservation::default())
    }

    /// [`SpillBuffer::new`], its memory counted in `reservation`'s budget (the process's by
    /// default): when the budget cannot cover a push, the buffer goes to its file.
    pub fn in_budget(threshold: u64, dir: &Path, reservation: Reservation) -> Self {
        SpillBuffer {
            memory: BytesMut::new(),
            file: None,
            front: 0,
            len: 0,
            threshold,
            dir: dir.to_path_buf(),
            reservation,
        }
    }

    /// Bytes pushed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes pushed and not taken from the front.
    pub fn held(&self) -> u64 {
        self.len - self.front
    }

    /// Bytes taken from the front so far.
    pub fn taken(&self) -> u64 {
        self.front
    }

    /// Whether the bytes are in the temp file.
    pub fn is_spilled(&self) -> bool {
        self.file.is_some()
    }

    /// The held bytes, while they are in memory.
    pub fn memory(&self) -> Option<&[u8]> {
        self.file.is_none().then_some(&self.memory[..])
    }

    /// Appends `data`, moving everything to the temp file when the held bytes would pass the
    /// threshold or the memory budget cannot cover them. On an error nothing is appended.
    pub fn push(&mut self, data: &[u8]) -> io::Result<()> {
        let n = data.len() as u64;
        if let Some(f) = &self.file {
            f.write_all_at(data, self.len)?;
        } else if self.held() + n <= self.threshold && self.make_room(data.len()) {
            self.memory.extend_from_slice(data);
        } else {
            let f = tempfile::tempfile_in(&self.dir).or_else(|_| tempfile::tempfile())?;
            f.write_all_at(&self.memory, self.front)?;
            f.write_all_at(data, self.len)?;
            self.memory = BytesMut::new();
            self.reservation.release();
            self.file = Some(f);
        }
        self.len += data.len() as u64;
        Ok(())
    }

    /// Makes room for `n` more bytes in memory; false when the memory budget cannot cover it.
    ///
    /// The budget counts the allocation, not the bytes in it ([`Reservation::for_allocation`]),
    /// and bytes taken from the front stay allocated until the buffer moves. So the buffer
    /// allocates exactly what it reserved (doubling, capped at the threshold), compacting the
    /// held bytes into the new allocation, and its reservation is that allocation's size for as
    /// long as it lives.
    fn make_room(&mut self, n: usize) -> bool {
        let len = self.memory.len();
        if self.memory.capacity() - len >= n {
            return true;
        }
        let limit = usize::try_from(self.threshold).unwrap_or(usize::MAX);
        let Some(cap) = self
            .reservation
            .for_allocation(len + n, MIN_ALLOCATION, limit)
        else {
            return false;
        };
        self.memory = if self.front == 0 {
            // Nothing was ever handed out: the bytes are one plain allocation, which the
            // allocator grows in place or, for large blocks, remaps (no copy, and none of a
            // new block's pages to fault in). `reserve_exact` asks for exactly `cap`; the
            // conversions back to `BytesMut` keep the allocation (it is the only handle).
            let mut v = Vec::from(std::mem::take(&mut self.memory));
            v.reserve_exact(cap - len);
            BytesMut::from(Bytes::from(v))
        } else {
            let mut memory = BytesMut::with_capacity(cap);
            memory.extend_from_slice(&self.memory);
            memory
        };
        debug_assert_eq!(
            self.memory.capacity(),
            cap,
            "the budget counts this allocation"
        );
        true
    }

    /// Reads `buf.len()` bytes at offset `off` (counted from the first byte ever pushed);
    /// fails when they are not all held.
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = off.checked_add(buf.len() as u64);
        if off < self.front || end.is_none_or(|e| e > self.len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "range not held by the buffer",
            ));
        }
        match &self.file {
            Some(f) => f.read_exact_at(buf, off),
            None => {
                let s = (off - self.front) as usize;
                buf.copy_from_slice(&self.memory[s..s + buf.len()]);
                Ok(())
            }
        }
    }

    /// Takes the next `n` held bytes (fewer when fewer are held) from the front. In memory
    /// they are handed out without a copy and freed from the buffer.
    pub fn take_front(&mut self, n: usize) -> io::Result<Bytes> {
        let n = (n as u64).min(self.held()) as usize;
        let piece = match &self.file {
            Some(f) => {
                let mut buf = vec![0u8; n];
                f.read_exact_at(&mut buf, self.front)?;
                Bytes::from(buf)
            }
            // The allocation stays (and stays reserved) until the buffer moves or is dropped.
            None => self.memory.split_to(n).freeze(),
        };
        self.front += n as u64;
        Ok(piece)
    }

    /// What the buffer holds, for reading at leisure.
    pub fn finish(self) -> Spilled {
        match self.file {
            Some(f) => Spilled::File(f, self.len),
            None => Spilled::Memory(self.memory.into(), self.reservation),
        }
    }
}

impl io::Write for SpillBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: u32) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn small_objects_stay_in_memory() {
        let mut b = SpillBuffer::new(100, Path::new("/nonexistent"));
        b.push(b"hello ").expect("push");
        b.push(b"world").expect("push");
        assert!(!b.is_spilled());
        assert_eq!(b.memory(), Some(&b"hello world"[..]));
        let mut w = [0u8; 5];
        b.read_at(6, &mut w).expect("read");
        assert_eq!(&w, b"world");
        assert!(matches!(b.finish(), Spilled::Memory(v, _) if v == b"hello world"));
    }

    #[test]
    fn spills_past_the_threshold_and_reads_anywhere() {
        let d = data(300_000);
        let mut b = SpillBuffer::new(100_000, &std::env::temp_dir());
        for c in d.chunks(7000) {
            b.push(c).expect("push");
        }
        assert!(b.is_spilled() && b.memory().is_none());
        let mut w = vec![0u8; 10];
        b.read_at(123_456, &mut w).expect("read");
        assert_eq!(w, &d[123_456..123_466]);
        assert!(b.read_at(299_995, &mut w).is_err());
        let done = b.finish();
        assert!(matches!(done, Spilled::File(_, 300_000)));
        assert_eq!(done.head(5).expect("head"), &d[..5]);
        assert!(done.bytes(1000).expect("bytes").is_none());
        let all = done.bytes(1 << 20).expect("bytes").expect("under the cap");
        assert_eq!(&all[..], &d[..]);
        let mut r = done.reader().expect("reader");
        let mut back = Vec::new();
        r.read_to_end(&mut back).expect("read");
        assert_eq!(back, d);
    }

    #[test]
    fn taking_from_the_front_frees_memory_and_keeps_order_across_the_spill() {
        let d = data(100_000);
        let mut b = SpillBuffer::new(10_000, &std::env::temp_dir());
        let mut back = Vec::new();
        for (i, c) in d.chunks(777).enumerate() {
            b.push(c).expect("push");
            // Taking keeps the held bytes under the threshold for a while.
            if i < 40 {
                back.extend_from_slice(&b.take_front(700).expect("take"));
            }
        }
        assert!(b.is_spilled());
        let mut w = [0u8; 4];
        assert!(b.read_at(0, &mut w).is_err(), "taken bytes are gone");
        while b.held() > 0 {
            back.extend_from_slice(&b.take_front(4096).expect("take"));
        }
        assert_eq!(back, d);
        assert_eq!(b.taken(), 100_000);
        assert!(b.take_front(10).expect("take").is_empty());
    }

    /// A spent memory budget sends a buffer to its file below its threshold; what buffers
    /// hold in memory (until finished and dropped) is counted, and given back.
    #[test]
    fn a_spent_budget_spills_early_and_is_given_back() {
        static B: Budget = Budget::new(1000);
        let dir = std::env::temp_dir();
        let mut a = SpillBuffer::in_budget(10_000, &dir, Reservation::in_budget(&B));
        let mut b = SpillBuffer::in_budget(10_000, &dir, Reservation::in_budget(&B));
        a.push(&data(800)).expect("push");
        assert_eq!(B.used(), 800);
        b.push(&data(300)).expect("push");
        assert!(b.is_spilled(), "300 more than the budget's 200 left");
        assert!(!a.is_spilled());
        a.take_front(500).expect("take");
        assert_eq!(
            B.used(),
            800,
            "taken bytes stay allocated until the buffer moves"
        );
        let done = a.finish();
        assert_eq!(B.used(), 800, "a finished buffer in memory still counts");
        drop(done);
        assert_eq!(B.used(), 0);
        let mut c = SpillBuffer::in_budget(10_000, &dir, Reservation::in_budget(&B));
        c.push(&data(900)).expect("push");
        c.push(&data(200)).expect("push");
        assert!(c.is_spilled());
        assert_eq!(B.used(), 0, "a spilled buffer holds no memory");
        let mut back = vec![0u8; 1100];
        c.read_at(0, &mut back).expect("read");
        assert_eq!(&back[..900], &data(900)[..]);
    }

    /// The budget counts what is allocated: a buffer that grows by doubling holds more than
    /// its bytes, and that is what it reserves (it allocated exactly that).
    #[test]
    fn the_budget_counts_allocations_not_bytes() {
        static B: Budget = Budget::new(1 << 20);
        let dir = std::env::temp_dir();
        let mut a = SpillBuffer::in_budget(1 << 20, &dir, Reservation::in_budget(&B));
        for c in data(5000).chunks(1000) {
            a.push(c).expect("push");
        }
        assert_eq!(B.used(), 8192, "5,000 bytes in an 8 KiB allocation");
        // Taking from the front and pushing again compacts into an allocation for what is held.
        a.take_front(4500).expect("take");
        a.push(&data(4000)).expect("push");
        assert_eq!(a.held(), 4500);
        assert_eq!(B.used(), 8192);
        let mut back = vec![0u8; 4500];
        a.read_at(4500, &mut back).expect("read");
        assert_eq!(&back[..500], &data(5000)[4500..]);
        assert_eq!(&back[500..], &data(4000)[..]);
        // Never past the threshold: a 3,000-byte threshold allocates 3,000, not 4 KiB.
        let mut t = SpillBuffer::in_budget(3000, &dir, Reservation::in_budget(&B));
        t.push(&data(2500)).expect("push");
        assert_eq!(B.used(), 8192 + 3000);
        drop((a, t));
        assert_eq!(B.used(), 0);
    }

    /// A buffer nothing was taken from grows in place (the allocator's realloc), still by
    /// doubling, with the bytes intact and the budget counting the allocation exactly.
    #[test]
    fn growing_in_place_keeps_the_bytes_and_the_count() {
        static B: Budget = Budget::new(8 << 20);
        let d = data(600_000);
        let mut b =
            SpillBuffer::in_budget(4 << 20, &std::env::temp_dir(), Reservation::in_budget(&B));
        for c in d.chunks(7000) {
            b.push(c).expect("push");
        }
        assert!(!b.is_spilled());
        assert_eq!(b.memory(), Some(&d[..]));
        assert_eq!(B.used(), 1 << 20, "600,000 bytes in a 1 MiB allocation");
        // Taking from the front afterwards still works (and a later growth copies).
        let first = b.take_front(100_000).expect("take");
        assert_eq!(&first[..], &d[..100_000]);
        b.push(&d[..500_000]).expect("push");
        let mut w = vec![0u8; 10];
        b.read_at(600_000 + 499_990, &mut w).expect("read");
        assert_eq!(w, &d[499_990..500_000]);
        drop((b, first));
        assert_eq!(B.used(), 0);
    }

    #[test]
    fn an_unusable_directory_falls_back_to_the_system_one() {
        let mut b = SpillBuffer::new(1, Path::new("/nonexistent/dir"));
        b.push(b"abc").expect("push");
        assert!(b.is_spilled());
    }
}
