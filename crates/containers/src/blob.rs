//! Objects and members held for unpacking: in memory while small, in an unlinked temp file
//! beyond `Limits::spill_bytes`.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A readable, seekable source.
pub(crate) trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// The bytes of one object or member.
#[derive(Debug)]
pub(crate) enum Blob {
    /// Held in memory.
    Mem(Vec<u8>),
    /// Spilled to an unlinked temp file of this length.
    File(File, u64),
}

impl Blob {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Blob::Mem(v) => v.len() as u64,
            Blob::File(_, n) => *n,
        }
    }

    /// A reader from its start.
    pub fn reader(&self) -> io::Result<Box<dyn ReadSeek + '_>> {
        match self {
            Blob::Mem(v) => Ok(Box::new(Cursor::new(v.as_slice()))),
            Blob::File(f, _) => {
                let mut f = f.try_clone()?;
                f.seek(SeekFrom::Start(0))?;
                Ok(Box::new(f))
            }
        }
    }

    /// Up to `n` bytes from its start.
    pub fn head(&self, n: usize) -> io::Result<Vec<u8>> {
        match self {
            Blob::Mem(v) => Ok(v[..v.len().min(n)].to_vec()),
            Blob::File(..) => {
                let mut out = Vec::with_capacity(n.min(1 << 20));
                self.reader()?.take(n as u64).read_to_end(&mut out)?;
                Ok(out)
            }
        }
    }

    /// The whole content in memory when it is at most `cap` bytes.
    pub fn bytes(&self, cap: u64) -> io::Result<Option<std::borrow::Cow<'_, [u8]>>> {
        match self {
            Blob::Mem(v) => Ok(Some(std::borrow::Cow::Borrowed(v))),
            Blob::File(_, n) if *n <= cap => {
                let mut out = Vec::with_capacity(*n as usize);
                self.reader()?.read_to_end(&mut out)?;
                Ok(Some(std::borrow::Cow::Owned(out)))
            }
            Blob::File(..) => Ok(None),
        }
    }
}

/// Collects bytes into a [`Blob`], spilling to `dir` past `spill` bytes.
#[derive(Debug)]
pub(crate) struct Spool {
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
    spill: u64,
    dir: PathBuf,
}

impl Spool {
    /// An empty spool.
    pub fn new(spill: u64, dir: &Path) -> Self {
        Spool {
            mem: Vec::new(),
            file: None,
            len: 0,
            spill,
            dir: dir.to_path_buf(),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Appends `data`.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if self.file.is_none() && self.len + data.len() as u64 > self.spill {
            let mut f = tempfile::tempfile_in(&self.dir).or_else(|_| tempfile::tempfile())?;
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f.write_all(data)?,
            None => self.mem.extend_from_slice(data),
        }
        self.len += data.len() as u64;
        Ok(())
    }

    /// The collected bytes.
    pub fn finish(self) -> io::Result<Blob> {
        match self.file {
            Some(mut f) => {
                f.flush()?;
                Ok(Blob::File(f, self.len))
            }
            None => Ok(Blob::Mem(self.mem)),
        }
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Spool::write(self, buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
