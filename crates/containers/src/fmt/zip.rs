//! ZIP (with zip64, stored/deflated/deflate64/bzip2/lzma/xz/zstd members) through the `zip`
//! crate, found wherever readers find it: every consistent end-of-central-directory record in
//! the object opens an archive (a zip behind any prefix, with or without adjusted offsets; zips
//! concatenated; self-extractors), and the local headers no central directory covers are walked
//! too (members left out of the directory). Encrypted members give `protected`; overlapping
//! entries (the "better zip bomb") and oversized entry counts give `limits-exceeded` before
//! anything is unpacked. Every path stays within the [`Limits`](bulwark_config::Limits): an archive's
//! count is checked before its directory is read, members count one by one, the searches are
//! capped and timed.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use zip::read::{ArchiveOffset, Config};
use zip::{ZipArchive, ZipReadOptions};

use crate::blob::{Blob, ReadSeek};
use crate::kind::Kind;
use crate::scan::{
    clean_name, join, note, Abort, Finding, Limit, MemberResult, Packed, Scan, Walked,
};
use bulwark_formats::eocd::{self, End};

/// A member's identity for deduplication: SHA-256 of its compressed bytes, CRC and size, and its
/// compressed size.
type DupKey = ([u8; 32], u64);
/// What the first copy of a member cost and found: bytes, members, threat.
type Seen = (u64, u64, Option<String>);

/// Bytes read at a time when searching for signatures.
const CHUNK: usize = 1 << 20;
/// End-record signatures checked in one object; beyond, a limit is hit.
const MAX_END_SIGS: usize = 1 << 16;
/// Signatures collected where no archive lies (local headers, data descriptors, directory
/// headers, end records); beyond, a limit is hit.
const MAX_SIGS: usize = 1 << 20;
/// Data descriptors tried for one member whose sizes follow its data.
const MAX_DESC_CHECKS: usize = 256;
/// Compression methods a local header may name (stored, deflate, deflate64, bzip2, lzma,
/// zstd, xz, PPMd, AES).
const METHODS: [u16; 9] = [0, 8, 9, 12, 14, 93, 95, 98, 99];
/// General-purpose flag bits no writer sets (reserved or unused).
const RESERVED_FLAGS: u16 = 0xd780;

/// Reads `buf.len()` bytes at `pos`.
fn read_at(r: &mut dyn ReadSeek, pos: u64, buf: &mut [u8]) -> bool {
    r.seek(SeekFrom::Start(pos)).is_ok() && r.read_exact(buf).is_ok()
}

/// Fills as much of `buf` as the reader has; returns the count.
fn read_full(r: &mut dyn ReadSeek, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A blob's reader as a source for [`eocd::check`].
struct At<'r>(&'r mut dyn ReadSeek, u64);

impl eocd::Source for At<'_> {
    fn size(&self) -> u64 {
        self.1
    }

    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> bool {
        pos.checked_add(buf.len() as u64)
            .is_some_and(|e| e <= self.1)
            && read_at(self.0, pos, buf)
    }
}

/// What [`scan_sigs`] calls for each signature found: the reader, the offset, the two bytes
/// after `PK`; `false` stops the search.
type OnSig<'a> = dyn FnMut(&mut dyn ReadSeek, u64, [u8; 2]) -> bool + 'a;

/// Calls `f` with each signature `PK` + one of `want` that starts in `[from, to)` of `r` (of
/// length `len`), in order, until `f` returns `false`. `mem`: the same bytes when they are in
/// memory (searched where they lie instead of read through `r`).
fn scan_sigs(
    r: &mut dyn ReadSeek,
    mem: Option<&[u8]>,
    len: u64,
    from: u64,
    to: u64,
    want: &[[u8; 2]],
    f: &mut OnSig<'_>,
) -> io::Result<()> {
    let to = to.min(len);
    if let Some(m) = mem.filter(|m| m.len() as u64 == len) {
        let (from, to) = (from as usize, to as usize);
        let Some(hay) = m.get(from..(to + 3).min(m.len())) else {
            return Ok(());
        };
        for i in memchr::memmem::find_iter(hay, b"PK") {
            let p = from + i;
            if p >= to {
                break;
            }
            let Some(k) = m.get(p + 2..p + 4) else {
                break;
            };
            let k = [k[0], k[1]];
            if want.contains(&k) && !f(r, p as u64, k) {
                break;
            }
        }
        return Ok(());
    }
    let mut buf = vec![0u8; (to.saturating_sub(from)).min(CHUNK as u64) as usize + 3];
    let mut pos = from;
    while pos < to {
        let step = (to - pos).min(CHUNK as u64) as usize;
        let n = (step as u64 + 3).min(len - pos) as usize;
        r.seek(SeekFrom::Start(pos))?;
        let got = read_full(r, &mut buf[..n])?;
        let chunk = &buf[..got];
        for i in memchr::memmem::find_iter(chunk, b"PK") {
            if i >= step {
                break;
            }
            let Some(k) = chunk.get(i + 2..i + 4) else {
                break;
            };
            let k = [k[0], k[1]];
            if want.contains(&k) && !f(r, pos + i as u64, k) {
                return Ok(());
            }
        }
        if got < n {
            break;
        }
        pos += step as u64;
    }
    Ok(())
}

/// Every consistent end record in `r` (of length `len`), in order, and whether the search
/// stopped at [`MAX_END_SIGS`].
fn find_ends(r: &mut dyn ReadSeek, mem: Option<&[u8]>, len: u64) -> io::Result<(Vec<End>, bool)> {
    let mut ends = Vec::new();
    let mut seen = 0usize;
    let mut capped = false;
    scan_sigs(r, mem, len, 0, len, &[[5, 6]], &mut |r, pos, _| {
        seen += 1;
        if seen > MAX_END_SIGS {
            capped = true;
            return false;
        }
        if let Some(e) = eocd::check(&mut At(r, len), pos) {
            ends.push(e);
        }
        true
    })?;
    Ok((ends, capped))
}

/// One archive's bytes inside a blob: `[start, start + len)`, with the bytes from `zero_from`
/// on read as zeros (the end record's comment length: the window stops at the record, so the
/// zip reader takes exactly that record).
pub(crate) struct Window<R> {
    inner: R,
    start: u64,
    len: u64,
    pos: u64,
    zero_from: u64,
}

impl<R: Read + Seek> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let n = usize::try_from(self.len - self.pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let got = self.inner.read(&mut buf[..n])?;
        let end = self.pos + got as u64;
        if end > self.zero_from {
            let from = self.zero_from.saturating_sub(self.pos) as usize;
            buf[from..got].fill(0);
        }
        self.pos = end;
        Ok(got)
    }
}

impl<R: Read + Seek> Seek for Window<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let p = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match p {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start",
            )),
        }
    }
}

/// An archive of a blob, read through its window.
pub(crate) type Archive<'a> = ZipArchive<Window<Box<dyn ReadSeek + 'a>>>;

/// Opens the archive that `e` ends (`None` when the zip reader refuses it, or reads another
/// directory than `e`'s).
fn open<'a>(r: Box<dyn ReadSeek + 'a>, e: &End) -> Option<Archive<'a>> {
    let len = e.pos + eocd::LEN - e.base;
    let w = Window {
        inner: r,
        start: e.base,
        len,
        pos: 0,
        zero_from: len - 2,
    };
    let config = Config {
        archive_offset: ArchiveOffset::Known(0),
    };
    match ZipArchive::with_config(config, w) {
        Ok(za) if za.central_directory_start() == e.cd_start - e.base => Some(za),
        Ok(_) => None,
        Err(err) => {
            tracing::debug!(error = %err, at = e.pos, "zip end record not readable");
            None
        }
    }
}

/// The archive whose members [`walk`] numbers for cure: the last consistent end record's (of a
/// non-empty archive) that opens.
pub(crate) fn primary(blob: &Blob) -> io::Result<Archive<'_>> {
    let len = blob.len();
    let (ends, _) = find_ends(&mut *blob.reader()?, blob.in_memory(), len)?;
    for e in ends.iter().rev().filter(|e| e.entries > 0) {
        if let Some(za) = open(blob.reader()?, e) {
            return Ok(za);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "no readable zip",
    ))
}

/// Byte ranges an opened archive accounts for (headers, data, directory, end record), merged:
/// signatures inside them belong to members (a stored zip in a zip) and are not followed.
#[derive(Debug, Default)]
struct Cover(BTreeMap<u64, u64>);

impl Cover {
    /// Adds `[a, b)`.
    fn add(&mut self, a: u64, b: u64) {
        if b <= a {
            return;
        }
        let (mut a, mut b) = (a, b);
        if let Some((&s, &e)) = self.0.range(..=a).next_back() {
            if e >= a {
                a = s;
                b = b.max(e);
            }
        }
        let inside: Vec<u64> = self.0.range(a..=b).map(|(&s, _)| s).collect();
        for s in inside {
            if let Some(e) = self.0.remove(&s) {
                b = b.max(e);
            }
        }
        self.0.insert(a, b);
    }

    /// Whether `p` lies in a range.
    fn contains(&self, p: u64) -> bool {
        self.0.range(..=p).next_back().is_some_and(|(_, &e)| e > p)
    }

    /// Where the first range after `p` starts.
    fn next_after(&self, p: u64) -> Option<u64> {
        self.0.range(p.saturating_add(1)..).next().map(|(&s, _)| s)
    }

    /// The ranges of `[0, len)` outside every range.
    fn gaps(&self, len: u64) -> Vec<(u64, u64)> {
        let mut gaps = Vec::new();
        let mut at = 0;
        for (&a, &b) in &self.0 {
            if a > at {
                gaps.push((at, a.min(len)));
            }
            at = at.max(b);
        }
        if at < len {
            gaps.push((at, len));
        }
        gaps.retain(|g| g.1 > g.0);
        gaps
    }
}

/// Records a threat found in a member that cure does not number.
fn note_threat(w: &mut Walked, r: MemberResult) {
    if let Some(t) = r.threat {
        w.first_threat.get_or_insert(t);
    }
}

/// Opens the zips in `blob` (the object itself when `host` is [`Kind::Zip`], else zips found
/// inside an object of kind `host`) and scans every member at `depth`. With a zip host, the
/// members of the primary archive are numbered for cure, and an object without a readable
/// archive is corrupted; elsewhere what is found is a guess and never makes the host corrupted.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    path: &str,
    depth: u32,
    host: Kind,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    let is_zip = host == Kind::Zip;
    let len = blob.len();
    let Ok(mut r) = blob.reader() else {
        ctx.note(Finding::Error);
        return Ok(w);
    };
    let ends = match find_ends(&mut *r, blob.in_memory(), len) {
        Ok((ends, capped)) => {
            if capped {
                ctx.hit(Limit::ZipSignatures);
            }
            ends
        }
        Err(_) => {
            ctx.note(Finding::Error);
            return Ok(w);
        }
    };
    ctx.check_time()?;
    let corrupted = ctx.corrupted();
    let mut cover = Cover::default();
    let mut seen: HashMap<DupKey, Seen> = HashMap::new();
    let (mut opened, mut empty) = (false, false);
    // Last first: the archive readers open is the primary one.
    for e in ends.iter().rev() {
        ctx.check_time()?;
        if e.entries == 0 {
            // An empty archive holds nothing (and is not a broken zip).
            empty = true;
            continue;
        }
        if cover.contains(e.pos) {
            continue;
        }
        if ctx.usage().members.saturating_add(e.entries) > ctx.options().limits.max_members {
            return Err(Abort::Limit(Limit::MemberCount));
        }
        let Ok(r2) = blob.reader() else {
            ctx.note(Finding::Error);
            break;
        };
        let Some(mut za) = open(r2, e) else {
            continue;
        };
        let numbered = is_zip && !opened;
        opened = true;
        cover.add(e.cd_start, e.end);
        let a = Opened {
            end: e,
            numbered,
            is_zip,
        };
        archive(ctx, &mut w, &mut za, &a, path, depth, &mut seen, &mut cover)?;
    }
    if is_zip && !opened && !empty {
        tracing::debug!("no readable zip end record");
        ctx.note(Finding::Corrupted);
    }
    if !is_zip {
        ctx.restore_corrupted(corrupted);
    }
    locals(
        ctx,
        &mut w,
        &mut *r,
        blob.in_memory(),
        len,
        &cover,
        path,
        depth,
        is_zip,
    )?;
    Ok(w)
}

/// How one opened archive is reported.
struct Opened<'e> {
    end: &'e End,
    /// Its members are numbered for cure.
    numbered: bool,
    /// The host object is a zip.
    is_zip: bool,
}

/// Scans the members of one opened archive.
#[allow(clippy::too_many_arguments)]
fn archive<'o, R: Read + Seek>(
    ctx: &mut impl Scan<'o>,
    w: &mut Walked,
    za: &mut ZipArchive<R>,
    a: &Opened,
    path: &str,
    depth: u32,
    seen: &mut HashMap<DupKey, Seen>,
    cover: &mut Cover,
) -> Result<(), Abort> {
    let base = a.end.base;
    let (spans, broken) = layout(za);
    for &(h, _, d_end) in &spans {
        cover.add(base.saturating_add(h), base.saturating_add(d_end));
    }
    let start = spans
        .iter()
        .map(|s| s.0)
        .min()
        .map_or(base, |h| base.saturating_add(h));
    let prefix = if a.numbered {
        path.to_string()
    } else {
        join(path, &format!("@{start}.zip"))
    };
    if overlapping(&spans) > ctx.options().limits.max_zip_overlaps as usize {
        ctx.hit(Limit::OverlappingZipEntries);
        cover.add(base, a.end.end);
        return Ok(());
    }
    if broken && a.is_zip {
        ctx.note(Finding::Corrupted);
    }
    let record = |w: &mut Walked, i: usize, r: MemberResult| {
        if a.numbered {
            note(w, i, r);
        } else {
            note_threat(w, r);
        }
    };
    // Identical members (same compressed bytes) are unpacked once; each copy still counts its
    // bytes and members against the limits, and carries the first copy's threat.
    // The key is SHA-256 (not a fast keyed hash): an attacker controls both members and must not
    // be able to make a malicious member pass for a clean one.
    for i in 0..za.len() {
        ctx.check_time()?;
        let (name, dir, encrypted, csize) = match za.by_index_data(i) {
            Ok(e) => (
                e.name().map(|n| n.to_string()).unwrap_or_default(),
                e.is_dir(),
                e.encrypted(),
                e.compressed_size(),
            ),
            Err(_) => {
                ctx.note(Finding::Corrupted);
                continue;
            }
        };
        if dir {
            continue;
        }
        if encrypted {
            ctx.note(Finding::Protected);
            continue;
        }
        let mpath = join(&prefix, &clean_name(&name, &format!("#{i}")));
        let key = za.by_index_raw(i).ok().and_then(|mut raw| {
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match raw.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => h.update(&buf[..n]),
                    Err(_) => return None,
                }
            }
            h.update(raw.crc32().to_le_bytes());
            h.update(raw.size().to_le_bytes());
            Some((h.finalize().into(), csize))
        });
        if let Some((bytes, members, threat)) = key.and_then(|k| seen.get(&k)).cloned() {
            ctx.charge(bytes, members)?;
            if let Some(t) = threat {
                ctx.note(Finding::Threat {
                    name: t.clone(),
                    path: mpath,
                });
                record(w, i, MemberResult { threat: Some(t) });
            }
            continue;
        }
        let (t0, m0) = (ctx.usage().bytes, ctx.usage().members);
        let mut f = match za.by_index(i) {
            Ok(f) => f,
            Err(zip::result::ZipError::UnsupportedArchive(m)) => {
                tracing::debug!(member = %mpath, reason = m, "zip member not unpacked");
                ctx.note(Finding::Note(format!("{mpath}: {m}")));
                continue;
            }
            Err(zip::result::ZipError::CompressionMethodNotSupported(m)) => {
                ctx.note(Finding::Note(format!(
                    "{mpath}: compression method {m} not supported"
                )));
                continue;
            }
            Err(_) => {
                ctx.note(Finding::Corrupted);
                continue;
            }
        };
        let r = ctx.member(&mut f, &mpath, depth, Packed::Fixed(csize))?;
        if let Some(k) = key {
            seen.insert(
                k,
                (
                    ctx.usage().bytes - t0,
                    ctx.usage().members - m0,
                    r.threat.clone(),
                ),
            );
        }
        record(w, i, r);
    }
    Ok(())
}

/// Each member's header start, data start and data end (offsets in the archive's window), and
/// whether some member's local header could not be read.
fn layout<R: Read + Seek>(za: &mut ZipArchive<R>) -> (Vec<(u64, u64, u64)>, bool) {
    let mut spans = Vec::with_capacity(za.len());
    let mut broken = false;
    for i in 0..za.len() {
        // Reading each member's local header fixes its data start.
        match za.by_index_raw(i) {
            Ok(f) => match f.data_start() {
                Some(d) => spans.push((f.header_start(), d, d.saturating_add(f.compressed_size()))),
                None => broken = true,
            },
            Err(_) => broken = true,
        }
    }
    (spans, broken)
}

/// How many members' data ranges overlap another's.
fn overlapping(spans: &[(u64, u64, u64)]) -> usize {
    let mut ranges: Vec<(u64, u64)> = spans
        .iter()
        .filter(|s| s.2 > s.1)
        .map(|s| (s.1, s.2))
        .collect();
    ranges.sort_unstable();
    ranges.windows(2).filter(|w| w[0].1 > w[1].0).count()
}

/// Signatures found where no opened archive lies, each list in order.
#[derive(Default)]
struct Sigs {
    /// Local headers (`PK\x03\x04`).
    local: Vec<u64>,
    /// Data descriptors (`PK\x07\x08`).
    desc: Vec<u64>,
    /// Central-directory headers and end records.
    other: Vec<u64>,
}

/// A local header that looks like a writer's.
struct Local {
    flags: u16,
    method: u16,
    csize: u64,
    usize: u64,
    name: Vec<u8>,
    data_start: u64,
    zip64: bool,
}

fn le16(b: &[u8], o: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[o], b[o + 1]]))
}

fn le32(b: &[u8], o: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]))
}

fn le64(b: &[u8], o: usize) -> Option<u64> {
    let s = b.get(o..o.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// The data of the extra field `id` in `extra`.
fn extra_field(extra: &[u8], id: u64) -> Option<&[u8]> {
    let mut i = 0usize;
    while i + 4 <= extra.len() {
        let (t, n) = (le16(extra, i), le16(extra, i + 2) as usize);
        let d = extra.get(i + 4..i + 4 + n)?;
        if t == id {
            return Some(d);
        }
        i += 4 + n;
    }
    None
}

/// The local header at `p`, when it is plausible and its name and extra fields end by `limit`.
fn local_header(r: &mut dyn ReadSeek, p: u64, limit: u64) -> Option<Local> {
    let mut h = [0u8; 30];
    if !read_at(r, p, &mut h) {
        return None;
    }
    let flags = le16(&h, 6) as u16;
    let method = le16(&h, 8) as u16;
    if h[4] > 100 || flags & RESERVED_FLAGS != 0 || !METHODS.contains(&method) {
        return None;
    }
    let (mut csize, mut usize) = (le32(&h, 18), le32(&h, 22));
    let (nlen, xlen) = (le16(&h, 26), le16(&h, 28));
    if nlen == 0 || nlen > 4096 {
        return None;
    }
    let data_start = p + 30 + nlen + xlen;
    if data_start > limit {
        return None;
    }
    let mut nx = vec![0u8; (nlen + xlen) as usize];
    if !read_at(r, p + 30, &mut nx) {
        return None;
    }
    let (name, extra) = nx.split_at(nlen as usize);
    if name.iter().any(|&c| c < 0x20 || c == 0x7f) {
        return None;
    }
    let mut zip64 = false;
    if csize == 0xffff_ffff || usize == 0xffff_ffff {
        let z = extra_field(extra, 1)?;
        let mut o = 0;
        if usize == 0xffff_ffff {
            usize = le64(z, o)?;
            o += 8;
        }
        if csize == 0xffff_ffff {
            csize = le64(z, o)?;
        }
        zip64 = true;
    }
    Some(Local {
        flags,
        method,
        csize,
        usize,
        name: name.to_vec(),
        data_start,
        zip64,
    })
}

/// A reader of at most `left` bytes of `inner` that ends early once `stop` is set.
struct Cut<'a> {
    inner: &'a mut dyn ReadSeek,
    left: u64,
    stop: &'a Cell<bool>,
}

impl Read for Cut<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.get() || self.left == 0 {
            return Ok(0);
        }
        let n = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

/// Where a local member's data ends.
struct Sizes {
    /// Compressed size.
    csize: u64,
    /// The data descriptor's length after the data.
    desc_len: u64,
    /// CRC and uncompressed size from the data descriptor.
    descriptor: Option<(u32, u64)>,
    /// Whether `csize` is known (else it is what is left, and the decoder finds the end).
    exact: bool,
}

/// The sizes of the member whose local header is `h`, its data ending by `limit`.
fn sizes(r: &mut dyn ReadSeek, h: &Local, s: &Sigs, limit: u64) -> Option<Sizes> {
    let ds = h.data_start;
    let room = limit - ds;
    let described = h.flags & 8 != 0;
    if !described || h.csize != 0 {
        if h.csize > room || (h.method == 0 && !described && h.csize != h.usize) {
            return None;
        }
        let desc_len = if !described {
            0
        } else {
            let mut sig = [0u8; 4];
            match read_at(r, ds + h.csize, &mut sig) && &sig == b"PK\x07\x08" {
                true if h.zip64 => 24,
                true => 16,
                false => 12,
            }
        };
        return Some(Sizes {
            csize: h.csize,
            desc_len,
            descriptor: None,
            exact: true,
        });
    }
    // The sizes follow the data: a descriptor with its signature whose size is the distance…
    let i = s.desc.partition_point(|&q| q < ds);
    for &q in s.desc[i..].iter().take(MAX_DESC_CHECKS) {
        if q >= limit {
            break;
        }
        let dist = q - ds;
        let mut d = [0u8; 24];
        let n = if read_at(r, q, &mut d) {
            24
        } else if read_at(r, q, &mut d[..16]) {
            16
        } else {
            0
        };
        if n >= 16 && le32(&d, 8) == dist {
            return Some(Sizes {
                csize: dist,
                desc_len: 16,
                descriptor: Some((le32(&d, 4) as u32, le32(&d, 12))),
                exact: true,
            });
        }
        if n == 24 && le64(&d, 8) == Some(dist) {
            return Some(Sizes {
                csize: dist,
                desc_len: 24,
                descriptor: Some((le32(&d, 4) as u32, le64(&d, 16).unwrap_or(0))),
                exact: true,
            });
        }
    }
    // …or one without a signature right before the next header…
    let after = |v: &[u64]| v.get(v.partition_point(|&q| q <= ds)).copied();
    let next = [after(&s.local), after(&s.other)]
        .into_iter()
        .flatten()
        .fold(limit, u64::min);
    for dl in [12u64, 20] {
        let Some(at) = next.checked_sub(dl).filter(|&a| a >= ds) else {
            continue;
        };
        let mut d = [0u8; 20];
        if !read_at(r, at, &mut d[..dl as usize]) {
            continue;
        }
        let (c, u) = if dl == 12 {
            (Some(le32(&d, 4)), Some(le32(&d, 8)))
        } else {
            (le64(&d, 4), le64(&d, 12))
        };
        if c == Some(at - ds) {
            return Some(Sizes {
                csize: at - ds,
                desc_len: dl,
                descriptor: Some((le32(&d, 0) as u32, u.unwrap_or(0))),
                exact: true,
            });
        }
    }
    // …else stored data runs to the next signature, and a decoder finds its own end.
    Some(if h.method == 0 {
        Sizes {
            csize: next - ds,
            desc_len: 0,
            descriptor: None,
            exact: true,
        }
    } else {
        Sizes {
            csize: room,
            desc_len: 0,
            descriptor: None,
            exact: false,
        }
    })
}

/// Scans the members found from the local headers outside `cover` (what no central directory
/// lists) at `depth`. They are guesses: one that does not decode does not make the object
/// corrupted.
#[allow(clippy::too_many_arguments)]
fn locals<'o>(
    ctx: &mut impl Scan<'o>,
    w: &mut Walked,
    r: &mut dyn ReadSeek,
    mem: Option<&[u8]>,
    len: u64,
    cover: &Cover,
    path: &str,
    depth: u32,
    is_zip: bool,
) -> Result<(), Abort> {
    let gaps = cover.gaps(len);
    let mut s = Sigs::default();
    let mut n = 0usize;
    let mut capped = false;
    for &(a, b) in &gaps {
        let res = scan_sigs(
            r,
            mem,
            len,
            a,
            b,
            &[[3, 4], [7, 8], [1, 2], [5, 6]],
            &mut |_, p, k| {
                n += 1;
                if n > MAX_SIGS {
                    capped = true;
                    return false;
                }
                match k {
                    [3, 4] => s.local.push(p),
                    [7, 8] => s.desc.push(p),
                    _ => s.other.push(p),
                }
                true
            },
        );
        if res.is_err() {
            ctx.note(Finding::Error);
            return Ok(());
        }
        if capped {
            ctx.hit(Limit::ZipSignatures);
            break;
        }
        ctx.check_time()?;
    }
    let corrupted = ctx.corrupted();
    let mut resume = 0u64;
    // The current run of back-to-back members: where it starts, where its next member would.
    let mut run = (0u64, u64::MAX);
    for &p in &s.local {
        if p < resume {
            continue;
        }
        ctx.check_time()?;
        let limit = cover.next_after(p).map_or(len, |c| c.min(len));
        let Some(h) = local_header(r, p, limit) else {
            continue;
        };
        let Some(sz) = sizes(r, &h, &s, limit) else {
            continue;
        };
        let next = h.data_start + sz.csize + sz.desc_len;
        resume = if sz.exact { next } else { h.data_start };
        if p != run.1 {
            run.0 = p;
        }
        run.1 = next;
        if h.name.ends_with(b"/") && sz.csize == 0 {
            continue;
        }
        let name = clean_name(&String::from_utf8_lossy(&h.name), &format!("@{p}"));
        let mpath = if is_zip {
            join(path, &name)
        } else {
            join(&join(path, &format!("@{}.zip", run.0)), &name)
        };
        if h.flags & 1 != 0 {
            if is_zip {
                ctx.note(Finding::Protected);
            } else {
                ctx.note(Finding::Note(format!("{mpath}: encrypted, not unpacked")));
            }
            continue;
        }
        if r.seek(SeekFrom::Start(p)).is_err() {
            ctx.note(Finding::Error);
            break;
        }
        let mut opts = ZipReadOptions::new().override_compressed_size(sz.csize);
        match sz.descriptor {
            Some((crc, size)) => {
                opts = opts.override_crc(crc).override_uncompressed_size(size);
            }
            None if h.flags & 8 != 0 => opts = opts.ignore_crc32(true),
            None => {}
        }
        let stop = Cell::new(false);
        let mut t = Cut {
            inner: &mut *r,
            left: limit - p,
            stop: &stop,
        };
        let mut f = match zip::read::read_zipfile_from_stream_with_options(&mut t, opts) {
            Ok(Some(f)) => f,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!(member = %mpath, error = %e, "local zip member not read");
                ctx.note(Finding::Note(format!("{mpath}: {e}")));
                continue;
            }
        };
        tracing::debug!(member = %mpath, method = h.method, "zip member from its local header");
        let res = ctx.member(&mut f, &mpath, depth, Packed::Fixed(sz.csize));
        // The next member is found by seeking: no need for the zip reader to read past this
        // one's data on drop (what is left can be the whole object for a member whose size
        // is not known).
        stop.set(true);
        drop(f);
        ctx.restore_corrupted(corrupted);
        note_threat(w, res?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_reads_its_range_with_the_comment_length_zeroed() {
        let data: Vec<u8> = (0u8..100).collect();
        let mut w = Window {
            inner: io::Cursor::new(data),
            start: 10,
            len: 20,
            pos: 0,
            zero_from: 18,
        };
        let mut out = Vec::new();
        w.read_to_end(&mut out).unwrap();
        let mut want: Vec<u8> = (10u8..28).collect();
        want.extend_from_slice(&[0, 0]);
        assert_eq!(out, want);
        assert_eq!(w.seek(SeekFrom::End(-3)).unwrap(), 17);
        let mut b = [9u8; 8];
        assert_eq!(w.read(&mut b).unwrap(), 3);
        assert_eq!(&b[..3], &[27, 0, 0]);
        assert!(w.seek(SeekFrom::Current(-100)).is_err());
        assert_eq!(w.seek(SeekFrom::Start(500)).unwrap(), 500);
        assert_eq!(w.read(&mut b).unwrap(), 0);
    }

    #[test]
    fn signatures_across_chunks() {
        let mut data = vec![0u8; CHUNK * 2 + 10];
        let at = [0, CHUNK - 3, CHUNK + 5, 2 * CHUNK + 6];
        for p in at {
            data[p..p + 4].copy_from_slice(b"PK\x05\x06");
        }
        let len = data.len() as u64;
        let want: Vec<u64> = at.iter().map(|&p| p as u64).collect();
        // Read through the reader, and searched in memory: the same signatures, also from
        // inside the object and up to a limit.
        for mem in [None, Some(data.as_slice())] {
            let mut r: Box<dyn ReadSeek> = Box::new(io::Cursor::new(data.clone()));
            for (from, to) in [
                (0, len),
                (1, len),
                (0, len - 4),
                (CHUNK as u64 - 3, CHUNK as u64 + 6),
            ] {
                let mut found = Vec::new();
                scan_sigs(&mut *r, mem, len, from, to, &[[5, 6]], &mut |_, p, _| {
                    found.push(p);
                    true
                })
                .unwrap();
                let expect: Vec<u64> = want
                    .iter()
                    .copied()
                    .filter(|&p| p >= from && p < to)
                    .collect();
                assert_eq!(found, expect, "{from}..{to} in memory: {}", mem.is_some());
            }
            // `false` stops the search.
            let mut n = 0;
            scan_sigs(&mut *r, mem, len, 0, len, &[[5, 6]], &mut |_, _, _| {
                n += 1;
                false
            })
            .unwrap();
            assert_eq!(n, 1);
        }
    }

    #[test]
    fn cover_merges_ranges() {
        let mut c = Cover::default();
        c.add(10, 20);
        c.add(30, 40);
        c.add(5, 5);
        assert!(c.contains(10) && c.contains(19) && !c.contains(20) && !c.contains(9));
        assert_eq!(c.next_after(12), Some(30));
        assert_eq!(c.next_after(30), None);
        assert_eq!(c.gaps(50), vec![(0, 10), (20, 30), (40, 50)]);
        c.add(15, 35);
        assert_eq!(c.0.len(), 1);
        assert!(c.contains(25));
        c.add(0, 12);
        assert_eq!(c.gaps(45), vec![(40, 45)]);
        assert_eq!(c.gaps(30), Vec::<(u64, u64)>::new());
    }

    #[test]
    fn local_headers_in_program_data_are_not_members() {
        // What /usr/bin/zip holds at its `PK\x03\x04` strings: text after the signature.
        let mut d = b"PK\x03\x04".to_vec();
        d.extend_from_slice(b"\0Dinvalid local header.. reading local entry: \0reading entry");
        let len = d.len() as u64;
        let mut r: Box<dyn ReadSeek> = Box::new(io::Cursor::new(d));
        assert!(local_header(&mut *r, 0, len).is_none());
    }
}
