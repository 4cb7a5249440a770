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

fn u16_at(d: &[u8], o: usize) -> Option<u16> {
    let b = d.get(o..o.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(d: &[u8], o: usize) -> Option<u32> {
    let b = d.get(o..o.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(d: &[u8], o: usize) -> Option<u64> {
    let lo = u32_at(d, o)?;
    let hi = u32_at(d, o.checked_add(4)?)?;
    Some(u64::from(lo) | (u64::from(hi) << 32))
}

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

// ---------------------------------------------------------------------------------------------
// A. `InstallShield\0` streams

const STREAM_TAG: &[u8] = b"InstallShield\0";
/// Where the first entry starts, from the tag.
const STREAM_FIRST: usize = 0x2e;
/// Length of an entry's name field.
const ENTRY_NAME: usize = 0x104;
/// Where an entry's compressed size is, from the entry.
const ENTRY_CSIZE: usize = 0x10c;
/// Where an entry's data starts, from the entry.
const ENTRY_DATA: usize = 0x138;
/// What the file name is XORed with to make the key.
const NAME_KEY: [u8; 4] = [0x13, 0x35, 0x86, 0x07];

/// Extracts every `InstallShield\0` stream in `exe`.
fn streams(exe: &[u8], sink: &mut Sink) -> Result<(), IShieldError> {
    for pos in memchr::memmem::find_iter(exe, STREAM_TAG).take(MAX_HITS) {
        stream(exe, pos, sink)?;
    }
    Ok(())
}

/// Extracts the stream whose tag is at `exe[pos]`.
fn stream(exe: &[u8], pos: usize, sink: &mut Sink) -> Result<(), IShieldError> {
    let Some(count) = pos
        .checked_add(STREAM_TAG.len())
        .and_then(|o| u16_at(exe, o))
    else {
        return Ok(());
    };
    let Some(mut entry) = pos.checked_add(STREAM_FIRST) else {
        return Ok(());
    };
    let mut z = Decompress::new(true);
    for i in 0..count {
        let Some((name, csize)) = entry_head(exe, entry) else {
            if i > 0 {
                sink.corrupt = Some("truncated InstallShield stream entry");
            }
            return Ok(());
        };
        let data_at = entry + ENTRY_DATA; // entry_head checked that this is in bounds
        let Some(raw) = slice_at(exe, data_at as u64, csize) else {
            if i > 0 {
                sink.corrupt = Some("InstallShield stream entry larger than the file");
            }
            return Ok(());
        };
        // A first entry whose data does not decode to a zlib header means the tag was a stray
        // string, not a stream. From here on the stream is recognised.
        if i == 0 && !zlib_header(&decode_stream_data(raw.get(..2).unwrap_or(raw), name)) {
            return Ok(());
        }
        sink.check_count()?;
        if !sink.spend(raw.len()) {
            return Ok(());
        }
        let decoded = decode_stream_data(raw, name);
        let mut data = Vec::new();
        match inflate_into(&mut z, &decoded, true, &mut data, sink.remaining()) {
            Ok(_) => {
                let name = clean_name(&String::from_utf8_lossy(name));
                sink.push(name, data)?;
            }
            Err(InflateError::OverCap) => {
                return Err(IShieldError::TooLarge {
                    limit: sink.max_out,
                })
            }
            Err(InflateError::Bad) => {
                sink.waste(data.len());
                sink.corrupt = Some("bad compressed data in stream entry");
            }
        }
        entry = data_at + raw.len();
    }
    Ok(())
}

/// The name and compressed size of the stream entry at `exe[entry]`, when it looks like one:
/// a printable, NUL-terminated name and the whole fixed part present.
fn entry_head(exe: &[u8], entry: usize) -> Option<(&[u8], u64)> {
    let fixed = exe.get(entry..entry.checked_add(ENTRY_DATA)?)?;
    let field = fixed.get(..ENTRY_NAME)?;
    let len = memchr::memchr(0, field)?;
    let name = field.get(..len)?;
    if name.is_empty() || name.iter().any(|&b| b < 0x20) {
        return None;
    }
    let csize = u64_at(fixed, ENTRY_CSIZE)?;
    Some((name, csize))
}

/// Whether `d` starts with a zlib header (deflate, valid check bits).
fn zlib_header(d: &[u8]) -> bool {
    match d {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// Undoes the obfuscation of stream entry data, keyed by the entry's file name.
fn decode_stream_data(raw: &[u8], name: &[u8]) -> Vec<u8> {
    let key: Vec<u8> = name
        .iter()
        .zip(NAME_KEY.iter().cycle())
        .map(|(n, k)| n ^ k)
        .collect();
    raw.iter()
        .enumerate()
        .map(|(j, &b)| {
            let k = key.get((j % 1024) % key.len().max(1)).copied().unwrap_or(0);
            !(b.rotate_left(4) ^ k)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// B. Overlay file list

/// One file of the overlay list.
struct OverlayFile<'a> {
    /// Its bare name (`data1.hdr`).
    name: &'a [u8],
    /// Its path (`Disk1\data1.hdr`).
    path: &'a [u8],
    data: &'a [u8],
}

/// Where the PE image in `d` ends, when `d` starts with one.
fn pe_end(d: &[u8]) -> Option<usize> {
    if !d.starts_with(b"MZ") {
        return None;
    }
    let pe = usize::try_from(u32_at(d, 0x3c)?).ok()?;
    if d.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let nsec = usize::from(u16_at(d, pe.checked_add(6)?)?);
    let opt = usize::from(u16_at(d, pe.checked_add(20)?)?);
    let table = pe.checked_add(24)?.checked_add(opt)?;
    let mut end = table.checked_add(nsec.checked_mul(40)?)?;
    for i in 0..nsec.min(96) {
        let s = table.checked_add(i * 40)?;
        let size = usize::try_from(u32_at(d, s.checked_add(16)?)?).ok()?;
        let ptr = usize::try_from(u32_at(d, s.checked_add(20)?)?).ok()?;
        if size > 0 {
            end = end.max(ptr.checked_add(size)?);
        }
    }
    Some(end)
}

/// Reads a NUL-terminated field of 1..=`max` bytes accepted by `ok` at `d[pos]`; returns it and
/// where the next field starts.
fn field(d: &[u8], pos: usize, max: usize, ok: impl Fn(u8) -> bool) -> Option<(&[u8], usize)> {
    let window = d.get(pos..)?;
    let window = window.get(..window.len().min(max + 1))?;
    let len = memchr::memchr(0, window)?;
    let f = window.get(..len)?;
    if f.is_empty() || !f.iter().all(|&b| ok(b)) {
        return None;
    }
    Some((f, pos + len + 1))
}

fn name_byte(b: u8) -> bool {
    b >= 0x20 && b != 0x7f
}

/// The overlay record at `d[pos]`, and where the next one starts.
fn record(d: &[u8], pos: usize) -> Option<(OverlayFile<'_>, usize)> {
    let (name, p) = field(d, pos, 260, name_byte)?;
    let (path, p) = field(d, p, 520, name_byte)?;
    let (_version, p) = field(d, p, 32, |b| b.is_ascii_digit() || b == b'.')?;
    let (size, p) = field(d, p, 20, |b| b.is_ascii_digit())?;
    let size: u64 = std::str::from_utf8(size).ok()?.parse().ok()?;
    let data = slice_at(d, p as u64, size)?;
    let path_tail = path.rsplit(|&b| b == b'\\' || b == b'/').next()?;
    if !path_tail.eq_ignore_ascii_case(name) {
        return None;
    }
    Some((OverlayFile { name, path, data }, p + data.len()))
}

/// Where a record ending right before `d[data]` starts, when there is one.
fn record_before(d: &[u8], data: usize) -> Option<usize> {
    // Walk back over `size\0`, `version\0`, `path\0`, then the name that ends the path.
    let mut end = data.checked_sub(1)?; // the NUL ending the size
    for _ in 0..3 {
        let head = d.get(..end)?;
        let start = memchr::memrchr(0, head).map_or(0, |z| z + 1);
        if start == 0 {
            return None;
        }
        end = start - 1;
        if end == 0 {
            return None;
        }
    }
    // `end` is the NUL after the name; the path follows it.
    let path_start = end + 1;
    let path_end = path_start + memchr::memchr(0, d.get(path_start..)?)?;
    let path = d.get(path_start..path_end)?;
    let tail = path.rsplit(|&b| b == b'\\' || b == b'/').next()?;
    let start = end.checked_sub(tail.len())?;
    if d.get(start..end)? != tail {
        return None;
    }
    Some(start)
}

/// Reads the overlay file list(s) of `exe`, returns their files and extracts the InstallShield
/// cabinets among them.
fn overlay(exe: &[u8], sink: &mut Sink) -> Result<(), IShieldError> {
    let mut starts = Vec::new();
    if let Some(end) = pe_end(exe) {
        starts.push(end);
    }
    for hit in memchr::memmem::find_iter(exe, b"ISc(").take(MAX_HITS) {
        if let Some(s) = record_before(exe, hit) {
            starts.push(s);
        }
    }
    let mut files: Vec<OverlayFile<'_>> = Vec::new();
    let mut seen_until = 0usize;
    for start in starts {
        if start < seen_until {
            continue; // already read as part of an earlier list
        }
        let mut pos = start;
        while files.len() < MAX_RECORDS {
            let Some((f, next)) = record(exe, pos) else {
                break;
            };
            files.push(f);
            pos = next;
            seen_until = next;
        }
    }
    for f in &files {
        let name = clean_name(&String::from_utf8_lossy(f.path));
        sink.check_count()?;
        sink.push(name, f.data.to_vec())?;
    }
    cabinets(&files, sink)
}

// ---------------------------------------------------------------------------------------------
// B. InstallShield cabinets (`ISc(`)

const CAB_SIG: &[u8] = b"ISc(";
const FILE_SPLIT: u16 = 1;
const FILE_OBFUSCATED: u16 = 2;
const FILE_COMPRESSED: u16 = 4;
const FILE_INVALID: u16 = 8;
const LINK_PREV: u8 = 1;

/// The volume-name stem of a cabinet file name: the name up to its first digit or dot, as
/// `data` for `data1.hdr`.
fn stem(name: &[u8]) -> &[u8] {
    let end = name
        .iter()
        .position(|&b| b == b'.' || b.is_ascii_digit())
        .unwrap_or(name.len());
    name.get(..end).unwrap_or(name)
}

/// Extracts every InstallShield cabinet among the overlay files.
fn cabinets(files: &[OverlayFile<'_>], sink: &mut Sink) -> Result<(), IShieldError> {
    let mut done: Vec<&[u8]> = Vec::new();
    for f in files.iter().take(MAX_RECORDS) {
        if !f.data.starts_with(CAB_SIG) || u32_at(f.data, 0x10).unwrap_or(0) == 0 {
            continue; // not a cabinet, or a data volume without descriptor
        }
        let st = stem(f.name);
        if done.iter().any(|d| d.eq_ignore_ascii_case(st)) || done.len() >= MAX_HITS {
            continue;
        }
        done.push(st);
        // Volume n is `<stem><n>.cab`; volume 0 never exists.
        let volumes: Vec<Option<&[u8]>> = (0..=MAX_VOLUMES)
            .map(|n| {
                let want = format!("{}{}.cab", String::from_utf8_lossy(st), n);
                files
                    .iter()
                    .find(|g| n > 0 && g.name.eq_ignore_ascii_case(want.as_bytes()))
                    .map(|g| g.data)
                    .filter(|d| d.starts_with(CAB_SIG))
            })
            .collect();
        let Some(cab) = Cabinet::parse(f.data) else {
            sink.corrupt = Some("bad InstallShield cabinet header");
            continue;
        };
        cab.extract_all(&volumes, sink)?;
    }
    Ok(())
}

/// A parsed cabinet header (`.hdr`, or the first `.cab` when there is no `.hdr`).
struct Cabinet<'a> {
    hdr: &'a [u8],
    major: u32,
    /// Where the file table starts: descriptor offset + file table offset.
    base: usize,
    dir_count: usize,
    file_count: usize,
    /// Offset of the v6+ file descriptors from `base`.
    table2: usize,
}

/// One file descriptor.
struct FileDesc {
    name_off: usize,
    dir: usize,
    flags: u16,
    esize: u64,
    csize: u64,
    data_off: u64,
    volume: u32,
    link_flags: u8,
}

/// The fields of a volume header that say where a split file's part is.
struct VolumeHeader {
    first_index: u64,
    last_index: u64,
    first_off: u64,
    first_esize: u64,
    first_csize: u64,
    last_off: u64,
    last_esize: u64,
    last_csize: u64,
}

impl<'a> Cabinet<'a> {
    fn parse(hdr: &'a [u8]) -> Option<Self> {
        if !hdr.starts_with(CAB_SIG) {
            return None;
        }
        let version = u32_at(hdr, 4)?;
        let major = match version >> 24 {
            1 => (version >> 12) & 0xf,
            2 | 4 => (version & 0xffff) / 100,
            _ => 0,
        };
        let desc = usize::try_from(u32_at(hdr, 0xc)?).ok()?;
        let table = usize::try_from(u32_at(hdr, desc.checked_add(0xc)?)?).ok()?;
        let dir_count = usize::try_from(u32_at(hdr, desc.checked_add(0x1c)?)?).ok()?;
        let file_count = usize::try_from(u32_at(hdr, desc.checked_add(0x28)?)?).ok()?;
        let table2 = usize::try_from(u32_at(hdr, desc.checked_add(0x2c)?)?).ok()?;
        let base = desc.checked_add(table)?;
        // The tables the counts promise must be inside the header: directory name offsets, then
        // (up to v5) file descriptor offsets.
        let offsets = if major <= 5 {
            dir_count.checked_add(file_count)?
        } else {
            dir_count
        };
        let offsets_end = offsets.checked_mul(4)?.checked_add(base)?;
        if offsets_end > hdr.len() {
            return None;
        }
        if major > 5 {
            let descs_end = file_count
                .checked_mul(0x57)?
                .checked_add(base)?
                .checked_add(table2)?;
            if descs_end > hdr.len() {
                return None;
            }
        }
        Some(Cabinet {
            hdr,
            major,
            base,
            dir_count,
            file_count,
            table2,
        })
    }

    fn unicode(&self) -> bool {
        self.major >= 17
    }

    /// The string at `base + off` (UTF-16LE from version 17 on).
    fn string(&self, off: usize) -> Option<String> {
        let start = self.base.checked_add(off)?;
        let rest = self.hdr.get(start..)?;
        if self.unicode() {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .take(MAX_NAME)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            Some(String::from_utf16_lossy(&units))
        } else {
            let rest = rest.get(..rest.len().min(MAX_NAME))?;
            let len = memchr::memchr(0, rest).unwrap_or(rest.len());
            Some(String::from_utf8_lossy(rest.get(..len)?).into_owned())
        }
    }

    /// Entry `i` of the file table (directories first, then v5 file descriptors).
    fn table_entry(&self, i: usize) -> Option<usize> {
        let at = self.base.checked_add(i.checked_mul(4)?)?;
        usize::try_from(u32_at(self.hdr, at)?).ok()
    }

    fn file(&self, i: usize) -> Option<FileDesc> {
        let h = self.hdr;
        if self.major <= 5 {
            let p = self
                .base
                .checked_add(self.table_entry(self.dir_count.checked_add(i)?)?)?;
            Some(FileDesc {
                name_off: usize::try_from(u32_at(h, p)?).ok()?,
                dir: usize::from(u16_at(h, p.checked_add(4)?)?),
                flags: u16_at(h, p.checked_add(8)?)?,
                esize: u64::from(u32_at(h, p.checked_add(0xa)?)?),
                csize: u64::from(u32_at(h, p.checked_add(0xe)?)?),
                data_off: u64::from(u32_at(h, p.checked_add(0x26)?)?),
                volume: 1,
                link_flags: 0,
            })
        } else {
            let p = self
                .base
                .checked_add(self.table2)?
                .checked_add(i.checked_mul(0x57)?)?;
            Some(FileDesc {
                flags: u16_at(h, p)?,
                esize: u64_at(h, p.checked_add(2)?)?,
                csize: u64_at(h, p.checked_add(0xa)?)?,
                data_off: u64_at(h, p.checked_add(0x12)?)?,
                name_off: usize::try_from(u32_at(h, p.checked_add(0x3a)?)?).ok()?,
                dir: usize::from(u16_at(h, p.checked_add(0x3e)?)?),
                link_flags: *h.get(p.checked_add(0x54)?)?,
                volume: u32::from(u16_at(h, p.checked_add(0x55)?)?),
            })
        }
    }

    /// The volume header of a data volume.
    fn volume_header(&self, vol: &[u8]) -> Option<VolumeHeader> {
        const AT: usize = 0x14;
        if self.major <= 5 {
            let f = |k: usize| u32_at(vol, AT + 4 * k).map(u64::from);
            let last_off = match f(7)? {
                0 => 0x7fff_ffff,
                o => o,
            };
            Some(VolumeHeader {
                first_index: f(2)?,
                last_index: f(3)?,
                first_off: f(4)?,
                first_esize: f(5)?,
                first_csize: f(6)?,
                last_off,
                last_esize: f(8)?,
                last_csize: f(9)?,
            })
        } else {
            let f = |k: usize| u32_at(vol, AT + 4 * k).map(u64::from);
            let g = |k: usize| u64_at(vol, AT + 4 * k);
            Some(VolumeHeader {
                first_index: f(2)?,
                last_index: f(3)?,
                first_off: g(4)?,
                first_esize: g(6)?,
                first_csize: g(8)?,
                last_off: g(10)?,
                last_esize: g(12)?,
                last_csize: g(14)?,
            })
        }
    }

    /// Extracts the cabinet's files; `volumes[n]` is data volume `n`.
    fn extract_all(&self, volumes: &[Option<&[u8]>], sink: &mut Sink) -> Result<(), IShieldError> {
        let mut z = Decompress::new(false);
        for i in 0..self.file_count {
            let Some(fd) = self.file(i) else {
                sink.corrupt = Some("truncated cabinet file descriptor");
                continue;
            };
            if fd.flags & FILE_INVALID != 0
                || fd.name_off == 0
                || fd.data_off == 0
                || fd.link_flags & LINK_PREV != 0
            {
                continue;
            }
            let Some(file_name) = self.string(fd.name_off) else {
                sink.corrupt = Some("cabinet file name outside the header");
                continue;
            };
            let dir = if fd.dir < self.dir_count {
                self.table_entry(fd.dir).and_then(|o| self.string(o))
            } else {
                None
            };
            let name = match dir {
                Some(d) if !d.is_empty() => format!("{d}\\{file_name}"),
                _ => file_name,
            };
            sink.check_count()?;
            let Some(parts) = self.locate(i, &fd, volumes) else {
                sink.corrupt = Some("cabinet file data outside its volume");
                continue;
            };
            let stored: usize = parts.iter().map(|p| p.len()).sum();
            if !sink.spend(stored) {
                return Ok(());
            }
            let raw = gather(&parts, fd.flags & FILE_OBFUSCATED != 0);
            if fd.flags & FILE_COMPRESSED == 0 {
                sink.push(clean_name(&name), raw.into_owned())?;
                continue;
            }
            let mut data = Vec::new();
            let mut decoded = chunks(&mut z, &raw, &mut data, sink);
            if matches!(decoded, Err(InflateError::Bad)) {
                sink.waste(data.len());
                data.clear();
                decoded = chunks_old(&mut z, &raw, &mut data, sink);
            }
            match decoded {
                Ok(()) => sink.push(clean_name(&name), data)?,
                Err(InflateError::OverCap) => {
                    return Err(IShieldError::TooLarge {
                        limit: sink.max_out,
                    })
                }
                Err(InflateError::Bad) => {
                    sink.waste(data.len());
                    sink.corrupt = Some("bad compressed data in cabinet");
                }
            }
        }
        Ok(())
    }

    /// Where the stored bytes of file `index` (still compressed when it is) are: one slice per
    /// volume it spans.
    fn locate<'v>(
        &self,
        index: usize,
        fd: &FileDesc,
        volumes: &[Option<&'v [u8]>],
    ) -> Option<Vec<&'v [u8]>> {
        let volume = |n: u32| volumes.get(usize::try_from(n).ok()?).copied().flatten();
        let index = u64::try_from(index).ok()?;
        let compressed = fd.flags & FILE_COMPRESSED != 0;
        let total = if compressed { fd.csize } else { fd.esize };
        let mut vol_no = fd.volume;
        // Old cabinets do not say which volume a file starts in.
        let (mut vol, mut head) = loop {
            let v = volume(vol_no)?;
            let h = self.volume_header(v)?;
            if self.major <= 5 && index > h.last_index && vol_no < MAX_VOLUMES {
                vol_no += 1;
                continue;
            }
            break (v, h);
        };
        let mut need = total;
        let mut parts: Vec<&'v [u8]> = Vec::new();
        loop {
            let split_last = index == head.last_index
                && (fd.flags & FILE_SPLIT != 0
                    || (self.major == 5
                        && index.checked_add(1)? < self.file_count as u64
                        && head.last_csize != fd.csize));
            let split_first = index == head.first_index
                && (fd.flags & FILE_SPLIT != 0
                    || (self.major == 5 && index > 0 && head.first_csize != fd.csize));
            let (off, left) = if parts.is_empty() && !split_last && !split_first {
                (fd.data_off, total)
            } else if split_last && head.last_off != 0x7fff_ffff {
                let l = if compressed {
                    head.last_csize
                } else {
                    head.last_esize
                };
                (head.last_off, l)
            } else if split_first {
                let l = if compressed {
                    head.first_csize
                } else {
                    head.first_esize
                };
                (head.first_off, l)
            } else {
                return None;
            };
            let take = need.min(left);
            if take == 0 {
                return None;
            }
            parts.push(slice_at(vol, off, take)?);
            need -= take;
            if need == 0 {
                break;
            }
            vol_no = vol_no.checked_add(1).filter(|&n| n <= MAX_VOLUMES)?;
            vol = volume(vol_no)?;
            head = self.volume_header(vol)?;
        }
        Some(parts)
    }
}

/// A file's stored bytes in one piece, deobfuscated when `obfuscated`.
fn gather<'v>(parts: &[&'v [u8]], obfuscated: bool) -> Cow<'v, [u8]> {
    let mut raw: Cow<'v, [u8]> = match parts {
        [one] => Cow::Borrowed(one),
        many => Cow::Owned(many.concat()),
    };
    if obfuscated {
        for (seed, b) in raw.to_mut().iter_mut().enumerate() {
            // The seed modulo 0x47 fits in a byte.
            let sub = (seed % 0x47) as u8;
            *b = (*b ^ 0xd5).rotate_right(2).wrapping_sub(sub);
        }
    }
    raw
}

/// Inflates a cabinet file's data (raw-deflate chunks, each preceded by its `u16` length) into
/// `out`, within the byte and chunk budgets of `sink`.
fn chunks(
    z: &mut Decompress,
    raw: &[u8],
    out: &mut Vec<u8>,
    sink: &mut Sink,
) -> Result<(), InflateError> {
    let cap = sink.remaining();
    let mut pos = 0usize;
    while pos < raw.len() {
        let len = usize::from(u16_at(raw, pos).ok_or(InflateError::Bad)?);
        if len == 0 {
            return Err(InflateError::Bad);
        }
        let start = pos + 2;
        let end = start.checked_add(len).ok_or(InflateError::Bad)?;
        let chunk = raw.get(start..end).ok_or(InflateError::Bad)?;
        sink.chunks_left = sink.chunks_left.checked_sub(1).ok_or(InflateError::Bad)?;
        inflate_into(z, chunk, false, out, cap)?;
        pos = end;
    }
    Ok(())
}

/// Inflates a cabinet file's data in the older layout (what `unshield` calls old compression):
/// raw-deflate chunks with no length prefix, each ending in a sync flush (`00 00 ff ff`). Read
/// as one deflate stream, restarted wherever a chunk ends with a final block.
fn chunks_old(
    z: &mut Decompress,
    raw: &[u8],
    out: &mut Vec<u8>,
    sink: &mut Sink,
) -> Result<(), InflateError> {
    let cap = sink.remaining();
    let mut pos = 0usize;
    while let Some(rest) = raw.get(pos..).filter(|r| !r.is_empty()) {
        sink.chunks_left = sink.chunks_left.checked_sub(1).ok_or(InflateError::Bad)?;
        let used = inflate_into(z, rest, false, out, cap)?;
        if used == 0 {
            return Err(InflateError::Bad);
        }
        pos = pos.checked_add(used).ok_or(InflateError::Bad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const DIR: &str = "/usr/share/clamav-testfiles";
    const BIG: usize = 64 << 20;

    fn testfile(name: &str) -> Option<Vec<u8>> {
        match std::fs::read(format!("{DIR}/{name}")) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("skipping: {DIR}/{name}: {e}");
                None
            }
        }
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn deflate_raw(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Checks that a result keeps within the limits it was given.
    fn within(r: &Result<Vec<Extracted>, IShieldError>, max_out: usize, max_files: usize) {
        if let Ok(v) = r {
            assert!(v.len() <= max_files);
            assert!(v.iter().map(|e| e.data.len()).sum::<usize>() <= max_out);
        }
    }

    /// A format A stream holding `files`, after some unrelated bytes and a false tag.
    fn make_stream(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut d = b"MZ junk InstallShield\0\0\0 more junk".to_vec();
        let tag = d.len();
        d.extend_from_slice(STREAM_TAG);
        d.extend_from_slice(&(files.len() as u16).to_le_bytes());
        d.resize(tag + STREAM_FIRST, 0);
        for (name, data) in files {
            let z = zlib(data);
            let key: Vec<u8> = name
                .bytes()
                .zip(NAME_KEY.iter().cycle())
                .map(|(n, k)| n ^ k)
                .collect();
            let mut entry = vec![0u8; ENTRY_DATA];
            entry[..name.len()].copy_from_slice(name.as_bytes());
            entry[0x104..0x108].copy_from_slice(&6u32.to_le_bytes());
            entry[ENTRY_CSIZE..ENTRY_CSIZE + 4].copy_from_slice(&(z.len() as u32).to_le_bytes());
            d.extend_from_slice(&entry);
            for (j, b) in z.iter().enumerate() {
                let s = !b ^ key[(j % 1024) % key.len()];
                d.push(s.rotate_left(4));
            }
        }
        d.extend_from_slice(b"trailer");
        d
    }

    fn overlay_record(out: &mut Vec<u8>, name: &str, data: &[u8]) {
        out.extend_from_slice(
            format!("{name}\0Disk1\\{name}\x000.0.0.0\0{}\0", data.len()).as_bytes(),
        );
        out.extend_from_slice(data);
    }

    fn put32(d: &mut [u8], o: usize, v: u32) {
        d[o..o + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put64(d: &mut [u8], o: usize, v: usize) {
        d[o..o + 8].copy_from_slice(&(v as u64).to_le_bytes());
    }

    /// `data` as cabinet chunks: cut in `pieces`, each raw-deflated behind its `u16` length.
    fn cab_chunks(data: &[u8], pieces: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for part in data.chunks(data.len().div_ceil(pieces).max(1)) {
            let z = deflate_raw(part);
            out.extend_from_slice(&(z.len() as u16).to_le_bytes());
            out.extend_from_slice(&z);
        }
        out
    }

    /// `data` as a cabinet stores it with the obfuscated flag.
    fn obfuscate(data: &[u8]) -> Vec<u8> {
        data.iter()
            .enumerate()
            .map(|(seed, &x)| x.wrapping_add((seed % 0x47) as u8).rotate_left(2) ^ 0xd5)
            .collect()
    }

    /// One file of a synthetic cabinet: flags, name, directory index, expanded size, and which
    /// stored blob holds its data.
    struct Spec {
        flags: u16,
        name: &'static str,
        dir: u16,
        esize: usize,
        blob: usize,
    }

    /// A setup file: a minimal PE image, then an overlay with `readme.txt` and a v9 cabinet
    /// (`data1.hdr`, `data1.cab`, `data2.cab`) whose one directory is `dir`. Each blob is stored
    /// once in `data1.cab`, except the last, which is split: its first `split_at` bytes end
    /// `data1.cab` and the rest start `data2.cab`.
    fn make_cab_setup_with(blobs: &[Vec<u8>], files: &[Spec], split_at: usize) -> Vec<u8> {
        let n = files.len();
        let desc = 0x200;
        let base = 0x300;
        let strings = 0x10 + n * 0x57;
        let mut hdr = vec![0u8; base + strings + 0x20 * (n + 1)];
        hdr[0..4].copy_from_slice(CAB_SIG);
        put32(&mut hdr, 4, 0x0100_9000);
        put32(&mut hdr, 0xc, desc as u32);
        put32(&mut hdr, 0x10, 0x100);
        put32(&mut hdr, desc + 0xc, 0x100); // file table offset
        put32(&mut hdr, desc + 0x1c, 1); // directories
        put32(&mut hdr, desc + 0x28, n as u32); // files
        put32(&mut hdr, desc + 0x2c, 0x10); // descriptors
        put32(&mut hdr, base, strings as u32); // directory 0 name
        hdr[base + strings..base + strings + 4].copy_from_slice(b"dir\0");

        let mut cab1 = vec![0u8; 0x200];
        let mut cab2 = vec![0u8; 0x200];
        for cab in [&mut cab1, &mut cab2] {
            cab[0..4].copy_from_slice(CAB_SIG);
            put32(cab, 4, 0x0100_9000);
        }
        let last = blobs.len() - 1;
        let mut offsets = Vec::new();
        for (i, blob) in blobs.iter().enumerate() {
            offsets.push(cab1.len());
            if i == last {
                cab1.extend_from_slice(&blob[..split_at]);
                cab2.extend_from_slice(&blob[split_at..]);
            } else {
                cab1.extend_from_slice(blob);
            }
        }
        for (i, f) in files.iter().enumerate() {
            let p = base + 0x10 + i * 0x57;
            let name_at = strings + 0x20 * (i + 1);
            hdr[base + name_at..base + name_at + f.name.len()].copy_from_slice(f.name.as_bytes());
            let mut flags = f.flags;
            if f.blob == last {
                flags |= FILE_SPLIT;
                // Volume 1 ends with this file's first part; volume 2 starts with the rest.
                put32(&mut cab1, 0x14 + 12, i as u32);
                put64(&mut cab1, 0x14 + 40, offsets[last]);
                put64(&mut cab1, 0x14 + 56, split_at);
                put32(&mut cab2, 0x14 + 8, i as u32);
                put64(&mut cab2, 0x14 + 16, 0x200);
                put64(&mut cab2, 0x14 + 32, blobs[last].len() - split_at);
            }
            hdr[p..p + 2].copy_from_slice(&flags.to_le_bytes());
            put64(&mut hdr, p + 2, f.esize);
            put64(&mut hdr, p + 0xa, blobs[f.blob].len());
            put64(&mut hdr, p + 0x12, offsets[f.blob]);
            put32(&mut hdr, p + 0x3a, name_at as u32);
            hdr[p + 0x3e..p + 0x40].copy_from_slice(&f.dir.to_le_bytes());
            hdr[p + 0x55..p + 0x57].copy_from_slice(&1u16.to_le_bytes());
        }
        // A minimal PE image: one section whose raw data ends at 0x90, where the overlay starts.
        let mut setup = vec![0u8; 0x90];
        setup[0..2].copy_from_slice(b"MZ");
        setup[0x3c] = 0x40;
        setup[0x40..0x44].copy_from_slice(b"PE\0\0");
        setup[0x46] = 1; // one section, no optional header
        put32(&mut setup, 0x40 + 24 + 16, 0x10);
        put32(&mut setup, 0x40 + 24 + 20, 0x80);
        overlay_record(&mut setup, "readme.txt", b"hello");
        overlay_record(&mut setup, "data1.hdr", &hdr);
        overlay_record(&mut setup, "data1.cab", &cab1);
        overlay_record(&mut setup, "data2.cab", &cab2);
        setup
    }

    /// A setup file whose cabinet holds `dir\a.txt` (compressed in two chunks), `b.bin`
    /// (stored, obfuscated) and `c.txt` (compressed, split across the two volumes).
    fn make_cab_setup(a: &[u8], b: &[u8]) -> Vec<u8> {
        let c = b"split file, split file, split file!".repeat(40);
        let blobs = [cab_chunks(a, 2), obfuscate(b), cab_chunks(&c, 3)];
        let files = [
            Spec {
                flags: FILE_COMPRESSED,
                name: "a.txt",
                dir: 0,
                esize: a.len(),
                blob: 0,
            },
            Spec {
                flags: FILE_OBFUSCATED,
                name: "b.bin",
                dir: 5,
                esize: b.len(),
                blob: 1,
            },
            Spec {
                flags: FILE_COMPRESSED,
                name: "c.txt",
                dir: 0,
                esize: c.len(),
                blob: 2,
            },
        ];
        make_cab_setup_with(&blobs, &files, blobs[2].len() / 2)
    }

    #[test]
    fn ismsi_ext_gives_clam_exe() {
        let (Some(exe), Some(clam)) = (testfile("clam_ISmsi_ext.exe"), testfile("clam.exe")) else {
            return;
        };
        let files = extract(&exe, BIG, 100).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "clam.exe409.bmp",
                "0x0409.ini",
                "EvalMarker.dat",
                "clam.msi",
                "Setup.ini"
            ]
        );
        assert_eq!(files[0].data, clam);
        assert_eq!(files[3].data.len(), 724_992);
        assert!(files[3].data.starts_with(&[0xd0, 0xcf, 0x11, 0xe0]));
    }

    #[test]
    fn ismsi_int_gives_clam_msi() {
        let Some(exe) = testfile("clam_ISmsi_int.exe") else {
            return;
        };
        let files = extract(&exe, BIG, 100).unwrap();
        assert_eq!(files.len(), 4);
        let msi = files.iter().find(|f| f.name == "clam.msi").unwrap();
        assert_eq!(msi.data.len(), 658_432);
        assert!(msi.data.starts_with(&[0xd0, 0xcf, 0x11, 0xe0]));
    }

    #[test]
    fn iscab_int_gives_clam_exe() {
        let (Some(exe), Some(clam)) = (testfile("clam_IScab_int.exe"), testfile("clam.exe")) else {
            return;
        };
        let files = extract(&exe, BIG, 1000).unwrap();
        let hit = files.iter().find(|f| f.data == clam).unwrap();
        assert_eq!(hit.name, "clam.exe");
        let engine = files
            .iter()
            .find(|f| f.name == "Disk1/engine32.cab")
            .unwrap();
        assert!(engine.data.starts_with(b"MSCF"));
        assert_eq!(engine.data.len(), 543_481);
        assert_eq!(
            files
                .iter()
                .filter(|f| f.name.starts_with("Disk1/"))
                .count(),
            9
        );
        let isrt = files.iter().find(|f| f.name == "isrt.dll").unwrap();
        assert_eq!(isrt.data.len(), 425_984);
        assert!(isrt.data.starts_with(b"MZ"));
    }

    #[test]
    fn iscab_ext_gives_clam_exe() {
        let (Some(exe), Some(clam)) = (testfile("clam_IScab_ext.exe"), testfile("clam.exe")) else {
            return;
        };
        let files = extract(&exe, BIG, 1000).unwrap();
        assert!(files
            .iter()
            .any(|f| f.name == "Disk1/clam.exe" && f.data == clam));
    }

    #[test]
    fn synthetic_stream_round_trips() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let exe = make_stream(&[("first.bin", &payload), ("sub\\second.txt", b"second file")]);
        let files = extract(&exe, BIG, 10).unwrap();
        assert_eq!(
            files,
            vec![
                Extracted {
                    name: "first.bin".into(),
                    data: payload.clone()
                },
                Extracted {
                    name: "sub/second.txt".into(),
                    data: b"second file".to_vec()
                },
            ]
        );
    }

    #[test]
    fn synthetic_cabinet_round_trips() {
        let a: Vec<u8> = (0..70_000u32).map(|i| (i % 13) as u8).collect();
        let b = b"obfuscated stored bytes".to_vec();
        let c = b"split file, split file, split file!".repeat(40);
        let exe = make_cab_setup(&a, &b);
        let files = extract(&exe, BIG, 10).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Disk1/readme.txt",
                "Disk1/data1.hdr",
                "Disk1/data1.cab",
                "Disk1/data2.cab",
                "dir/a.txt",
                "b.bin",
                "dir/c.txt"
            ]
        );
        assert_eq!(files[0].data, b"hello");
        assert_eq!(files[4].data, a);
        assert_eq!(files[5].data, b);
        assert_eq!(files[6].data, c);

        // Not a PE: the list is found from the cabinet signature, records before it are missed.
        let mut not_pe = exe.clone();
        not_pe[0..2].copy_from_slice(b"XX");
        let files = extract(&not_pe, BIG, 10).unwrap();
        assert_eq!(files.len(), 6);
        assert_eq!(files[0].name, "Disk1/data1.hdr");
    }

    #[test]
    fn old_compression_is_read() {
        // Two chunks, each a raw-deflate stream ended by a sync flush, no length prefixes.
        let a: Vec<u8> = (0..50_000u32).map(|i| (i % 29) as u8).collect();
        let mut blob = Vec::new();
        for part in a.chunks(30_000) {
            let mut z = flate2::Compress::new(flate2::Compression::default(), false);
            let mut buf = vec![0u8; 64 * 1024];
            z.compress(part, &mut buf, flate2::FlushCompress::Sync)
                .unwrap();
            blob.extend_from_slice(&buf[..z.total_out() as usize]);
            assert!(blob.ends_with(&[0, 0, 0xff, 0xff]));
        }
        let files = [Spec {
            flags: FILE_COMPRESSED,
            name: "old.bin",
            dir: 0,
            esize: a.len(),
            blob: 0,
        }];
        let exe = make_cab_setup_with(&[blob, cab_chunks(b"tail", 1)], &files, 2);
        let out = extract(&exe, BIG, 10).unwrap();
        assert_eq!(out.last().unwrap().name, "dir/old.bin");
        assert_eq!(out.last().unwrap().data, a);
    }

    #[test]
    fn shared_data_does_not_amplify() {
        // Many descriptors naming one 200 KB obfuscated blob: the work budget (a few times the
        // input size) stops the copies long before the output budget would.
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let spec = |i: usize| Spec {
            flags: FILE_OBFUSCATED,
            name: ["x", "y"][i & 1],
            dir: 9,
            esize: big.len(),
            blob: 0,
        };
        let files: Vec<Spec> = (0..2000).map(spec).collect();
        let blobs = [obfuscate(&big), cab_chunks(b"tail", 1)];
        let exe = make_cab_setup_with(&blobs, &files, 2);
        let out = extract(&exe, usize::MAX, usize::MAX).unwrap();
        let copies = out.iter().filter(|f| f.data == big).count();
        assert!(
            copies >= 1 && copies <= 4 * exe.len() / big.len() + 8,
            "{copies}"
        );

        // Many descriptors naming one broken stream that inflates to 1 MB first: the thrown-away
        // output is charged to the byte budget.
        let mut broken = cab_chunks(&vec![0u8; 1 << 20], 1);
        broken.extend_from_slice(&[3, 0, 0xff, 0xff, 0xff]);
        let files: Vec<Spec> = (0..2000)
            .map(|_| Spec {
                flags: FILE_COMPRESSED,
                name: "z",
                dir: 0,
                esize: 1 << 20,
                blob: 0,
            })
            .collect();
        let exe = make_cab_setup_with(&[broken, cab_chunks(b"tail", 1)], &files, 2);
        assert!(matches!(
            extract(&exe, 16 << 20, usize::MAX),
            Err(IShieldError::TooLarge { .. })
        ));
    }

    #[test]
    fn nothing_to_find() {
        assert!(extract(b"", BIG, 10).unwrap().is_empty());
        assert!(extract(b"MZ plain program", BIG, 10).unwrap().is_empty());
        // A tag with no files, as found in ordinary InstallShield binaries.
        assert!(extract(b"InstallShield\0\0\0This Setup was", BIG, 10)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn stray_tag_is_not_a_container() {
        // A tag with a count and a plausible first entry whose data is not zlib.
        let mut d = STREAM_TAG.to_vec();
        d.extend_from_slice(&3u16.to_le_bytes());
        d.resize(STREAM_FIRST, 0);
        let mut entry = vec![0u8; ENTRY_DATA];
        entry[..8].copy_from_slice(b"name.txt");
        entry[ENTRY_CSIZE] = 16;
        d.extend_from_slice(&entry);
        d.extend_from_slice(&[0x55; 64]);
        assert!(extract(&d, BIG, 10).unwrap().is_empty());
    }

    #[test]
    fn corrupt_only_container_is_an_error() {
        let mut exe = make_stream(&[("x.bin", b"some data to compress")]);
        let data_at = exe.len() - b"trailer".len() - 5;
        exe[data_at] ^= 0xff; // break the zlib data
        assert!(matches!(
            extract(&exe, BIG, 10),
            Err(IShieldError::Corrupt(_))
        ));
    }

    #[test]
    fn limits_are_errors() {
        let payload = vec![0u8; 100_000];
        let exe = make_stream(&[("a", &payload), ("b", b"x")]);
        assert!(matches!(
            extract(&exe, 99_999, 10),
            Err(IShieldError::TooLarge { .. })
        ));
        assert!(matches!(
            extract(&exe, 100_000, 10),
            Err(IShieldError::TooLarge { .. })
        ));
        assert_eq!(extract(&exe, 100_001, 10).unwrap().len(), 2);
        assert!(matches!(
            extract(&exe, BIG, 1),
            Err(IShieldError::TooManyFiles { .. })
        ));
        assert!(matches!(
            extract(&exe, BIG, 0),
            Err(IShieldError::TooManyFiles { .. })
        ));

        let a = vec![7u8; 300_000];
        let cab = make_cab_setup(&a, b"b");
        assert!(matches!(
            extract(&cab, 200_000, 10),
            Err(IShieldError::TooLarge { .. })
        ));
        assert!(matches!(
            extract(&cab, BIG, 6),
            Err(IShieldError::TooManyFiles { .. })
        ));

        if let Some(exe) = testfile("clam_IScab_int.exe") {
            assert!(matches!(
                extract(&exe, 1000, 100),
                Err(IShieldError::TooLarge { .. })
            ));
            assert!(matches!(
                extract(&exe, BIG, 3),
                Err(IShieldError::TooManyFiles { .. })
            ));
        }
        if let Some(exe) = testfile("clam_ISmsi_ext.exe") {
            assert!(matches!(
                extract(&exe, 100, 100),
                Err(IShieldError::TooLarge { .. })
            ));
            assert!(matches!(
                extract(&exe, BIG, 2),
                Err(IShieldError::TooManyFiles { .. })
            ));
        }
    }

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let a: Vec<u8> = (0..3000u32).map(|i| (i % 17) as u8).collect();
        let seeds = [
            make_stream(&[("one.bin", &a), ("two", b"2")]),
            make_cab_setup(&a, b"stored"),
        ];
        for seed in &seeds {
            // Every truncation.
            for len in 0..seed.len() {
                let r = extract(&seed[..len], 4096, 3);
                within(&r, 4096, 3);
            }
            // Random corruption, including of sizes and offsets.
            for _ in 0..400 {
                let mut d = seed.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(d.len());
                    d[i] = match rng.below(3) {
                        0 => rng.next() as u8,
                        1 => 0xff,
                        _ => 0,
                    };
                }
                let (max_out, max_files) = (rng.below(10_000), rng.below(6));
                within(&extract(&d, max_out, max_files), max_out, max_files);
            }
        }
        // Random bytes around signatures.
        for _ in 0..200 {
            let mut d: Vec<u8> = (0..rng.below(2000)).map(|_| rng.next() as u8).collect();
            let at = rng.below(d.len());
            let sig: &[u8] = if rng.below(2) == 0 {
                STREAM_TAG
            } else {
                b"1\0ISc("
            };
            d.splice(at..at, sig.iter().copied());
            within(&extract(&d, 1 << 20, 8), 1 << 20, 8);
        }
    }

    #[test]
    fn truncated_real_files_do_not_panic() {
        for name in ["clam_IScab_int.exe", "clam_ISmsi_ext.exe"] {
            let Some(exe) = testfile(name) else {
                return;
            };
            let mut rng = Rng(exe.len() as u64);
            for _ in 0..3 {
                let len = rng.below(exe.len());
                within(&extract(&exe[..len], BIG, 1000), BIG, 1000);
            }
        }
        // Corrupt the cabinet header of the real file.
        if let Some(exe) = testfile("clam_IScab_int.exe") {
            let mut rng = Rng(99);
            let hdr = 0x7077b; // data1.hdr
            for _ in 0..6 {
                let mut d = exe.clone();
                for _ in 0..8 {
                    let i = hdr + rng.below(10471);
                    d[i] = rng.next() as u8;
                }
                within(&extract(&d, BIG, 1000), BIG, 1000);
            }
        }
    }
}
