//! InstallShield setup executables: the files they carry, for scanning.
//!
//! Two layouts are read, both searched for anywhere in the setup file:
//!
//! * **`InstallShield\0` streams** (InstallShield "MSI" setups): the tag, a `u16` file count,
//!   then from tag + 0x2e one entry per file: a 0x104-byte NUL-padded name, 52 bytes of fields
//!   (the compressed size at entry + 0x10c) and the data. The data is obfuscated with a key made
//!   from the file name (nibble swap, XOR with the key, bitwise NOT) and is a zlib stream. Every
//!   occurrence of the tag is tried (the first 64); a tag whose first entry does not decode to
//!   a zlib header is a stray string and is ignored.
//! * **Overlay file lists with InstallShield cabinets** (InstallShield "cab" setups): after the
//!   PE image, records `name\0 path\0 version\0 decimal-size\0` each followed by that many
//!   bytes of file data. The list is looked for where the PE image ends and, failing that, in
//!   front of each `ISc(` signature (then records before that one are missed). Every listed file
//!   is returned as it is (named by its path, e.g. `Disk1/engine32.cab`); in addition, when the
//!   files include an InstallShield cabinet (`ISc(` signature: `data1.hdr` holding the
//!   descriptor and file table, or `data1.cab` when there is no `.hdr`; `data1.cab`,
//!   `data2.cab`, … holding the data), the files of that cabinet are extracted too, named by
//!   their directory and name inside it: stored, or compressed as raw-deflate chunks each
//!   preceded by its `u16` length (or, failing that, the older layout of chunks ended by sync
//!   flushes), optionally obfuscated, possibly split across volumes. Header versions 0 to 16
//!   (8-bit names) and 17+ (UTF-16 names) are read. The layout follows what the MIT-licensed
//!   `unshield` project documents; this code is written from scratch.
//!
//! Not supported: InstallShield 3 (`.z` / "JRchive") archives, cabinet files stored outside the
//! cabinet (v0 "external" files) or in volumes that are not in the setup file, the encrypted
//! "ISSetupStream" layout of newer setups, and MD5 verification (for scanning, data that
//! decodes is data worth scanning). Files sharing data with an earlier file (`LINK_PREV`) are
//! not returned twice.
//!
//! Limits: `max_out` bounds the bytes decompressed, including those of broken entries that are
//! thrown away; `max_files` bounds the files returned; stored data decoded is bounded by a few
//! times the input size and deflate chunks by the byte budget, so that many entries pointing at
//! the same data cannot make the work grow faster than the input.
//!
//! Error policy: a broken entry is skipped and extraction goes on; `extract` returns
//! [`IShieldError::Corrupt`] only when it recognised an InstallShield container but could take
//! no file at all out of it. Exceeding `max_out` or `max_files` is always an error. A setup file
//! with no InstallShield container gives `Ok` with no files.

use std::borrow::Cow;

use flate2::{Decompress, FlushDecompress, Status};

use crate::le::{u16_at, u32_at, u64_at};

mod cabinet;
mod overlay;
mod stream;
#[cfg(test)]
mod tests;

use cabinet::*;
use overlay::*;
use stream::*;

/// Why an InstallShield container could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IShieldError {
    /// The extracted files would add up to more than the byte budget.
    #[error("InstallShield: extracted data would exceed the limit of {limit} bytes")]
    TooLarge {
        /// The byte budget (`max_out`).
        limit: usize,
    },
    /// The container holds more files than allowed.
    #[error("InstallShield: more than {limit} files")]
    TooManyFiles {
        /// The file limit (`max_files`).
        limit: usize,
    },
    /// A container was recognised but no file could be taken out of it.
    #[error("InstallShield: corrupt container: {0}")]
    Corrupt(&'static str),
}

/// One file taken out of an InstallShield container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Its name (path inside the container, `\` turned into `/`).
    pub name: String,
    /// Its bytes, decoded and decompressed.
    pub data: Vec<u8>,
}

/// Most occurrences of a signature (`InstallShield\0`, `ISc(`) examined in one setup file.
const MAX_HITS: usize = 64;
/// Most overlay records read from one setup file.
const MAX_RECORDS: usize = 4096;
/// Most volumes one cabinet file may span.
const MAX_VOLUMES: u32 = 64;
/// Longest name or path read from a header.
const MAX_NAME: usize = 1024;

/// Finds the InstallShield containers in `exe` (the whole setup file) and extracts their files.
/// Stops with an error when the sum of extracted bytes would exceed `max_out` or after
/// `max_files` files.
///
/// Returns `Ok` with no files when `exe` holds no InstallShield container, and
/// [`IShieldError::Corrupt`] when it holds one from which no file could be extracted.
pub fn extract(
    exe: &[u8],
    max_out: usize,
    max_files: usize,
) -> Result<Vec<Extracted>, IShieldError> {
    let mut sink = Sink {
        out: Vec::new(),
        used: 0,
        max_out,
        max_files,
        corrupt: None,
        work_left: exe.len().saturating_mul(4).saturating_add(1 << 20),
        chunks_left: (max_out / 4096)
            .saturating_add(max_files)
            .saturating_add(1024),
    };
    streams(exe, &mut sink)?;
    overlay(exe, &mut sink)?;
    match sink.corrupt {
        Some(why) if sink.out.is_empty() => Err(IShieldError::Corrupt(why)),
        _ => Ok(sink.out),
    }
}

/// The extracted files and what is left of the limits.
struct Sink {
    out: Vec<Extracted>,
    used: usize,
    max_out: usize,
    max_files: usize,
    /// Why the last broken entry of a recognised container was skipped.
    corrupt: Option<&'static str>,
    /// Stored bytes that may still be decoded: every file's stored bytes once, with room to
    /// spare, so that many entries pointing at the same data cannot make the work quadratic.
    work_left: usize,
    /// Deflate chunks that may still be inflated (each costs a decompressor reset).
    chunks_left: usize,
}

impl Sink {
    /// Bytes that may still be extracted.
    fn remaining(&self) -> usize {
        self.max_out.saturating_sub(self.used)
    }

    /// Fails when one more file would break the file limit.
    fn check_count(&self) -> Result<(), IShieldError> {
        if self.out.len() >= self.max_files {
            return Err(IShieldError::TooManyFiles {
                limit: self.max_files,
            });
        }
        Ok(())
    }

    /// Counts `n` stored bytes about to be decoded; false when the work budget is spent.
    fn spend(&mut self, n: usize) -> bool {
        match self.work_left.checked_sub(n) {
            Some(left) => {
                self.work_left = left;
                true
            }
            None => {
                self.corrupt = Some("more stored data than the setup file holds");
                false
            }
        }
    }

    /// Counts bytes that were decompressed and then thrown away (a broken entry): they were
    /// work all the same, and are charged to the byte budget.
    fn waste(&mut self, n: usize) {
        self.used = self.used.saturating_add(n);
    }

    /// Adds a file, within both limits.
    fn push(&mut self, name: String, data: Vec<u8>) -> Result<(), IShieldError> {
        self.check_count()?;
        if data.len() > self.remaining() {
            return Err(IShieldError::TooLarge {
                limit: self.max_out,
            });
        }
        self.used += data.len();
        self.out.push(Extracted { name, data });
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Little helpers

/// `d[off..off + len]` with untrusted 64-bit offsets.
fn slice_at(d: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let off = usize::try_from(off).ok()?;
    let len = usize::try_from(len).ok()?;
    d.get(off..off.checked_add(len)?)
}

/// A name as the scanner shows it: `\` turned into `/`.
fn clean_name(s: &str) -> String {
    s.replace('\\', "/")
}

/// Why inflating stopped early.
enum InflateError {
    /// The output would be larger than the cap.
    OverCap,
    /// The input is not valid deflate data.
    Bad,
}

/// Inflates `input` (zlib-wrapped when `zlib`, raw deflate otherwise) with `z` (reset first),
/// appending to `out` while `out` stays at most `cap` bytes long. A raw stream that ends
/// without its final block (chunks ending in a sync flush) is accepted once the input is used
/// up. Returns how much input was used; on error, `out` keeps what was inflated.
fn inflate_into(
    z: &mut Decompress,
    input: &[u8],
    zlib: bool,
    out: &mut Vec<u8>,
    cap: usize,
) -> Result<usize, InflateError> {
    z.reset(zlib);
    let mut buf = [0u8; 32 * 1024];
    let mut in_pos = 0usize;
    loop {
        let rest = input.get(in_pos..).ok_or(InflateError::Bad)?;
        let (before_in, before_out) = (z.total_in(), z.total_out());
        let status = z
            .decompress(rest, &mut buf, FlushDecompress::None)
            .map_err(|_| InflateError::Bad)?;
        let consumed = usize::try_from(z.total_in() - before_in).map_err(|_| InflateError::Bad)?;
        let produced =
            usize::try_from(z.total_out() - before_out).map_err(|_| InflateError::Bad)?;
        in_pos = in_pos.checked_add(consumed).ok_or(InflateError::Bad)?;
        let got = buf.get(..produced).ok_or(InflateError::Bad)?;
        if got.len() > cap.saturating_sub(out.len()) {
            return Err(InflateError::OverCap);
        }
        out.extend_from_slice(got);
        match status {
            Status::StreamEnd => return Ok(in_pos),
            Status::Ok | Status::BufError => {
                if consumed == 0 && produced == 0 {
                    // No progress: all input used (a truncated stream, or a chunk ending in a
                    // sync flush) or a stuck stream.
                    return if in_pos >= input.len() && !zlib {
                        Ok(in_pos)
                    } else {
                        Err(InflateError::Bad)
                    };
                }
            }
        }
    }
}
