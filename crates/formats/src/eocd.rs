//! ZIP end-of-central-directory records (ours, fuzzed): which `PK\x05\x06` signatures in some
//! bytes are real end records, and where the archive each one ends lies.
//!
//! A signature only counts when the record is consistent with the bytes around it: its
//! central directory fits before it, starts with a central-directory header signature
//! (`PK\x01\x02`) where the record says (or where it says once shifted by a prefix: the
//! directory then ends at the record and the offsets count from where the archive begins), its
//! entry count is plausible against the directory's size (each header takes 46 bytes at least),
//! its comment fits in the bytes that follow (or the record ends the data), and a zip64 locator
//! and record are followed only when they agree with each other and with the data. Executables
//! and other files often hold the signature as data (`zip`, `sqlite3`…): without these checks a
//! bogus entry count would hit the member limit on an ordinary program.

/// The end record's signature.
pub const SIG: &[u8; 4] = b"PK\x05\x06";
/// A central-directory header's signature.
const CD_SIG: &[u8; 4] = b"PK\x01\x02";
/// The zip64 end-record locator's signature.
const LOC_SIG: &[u8; 4] = b"PK\x06\x07";
/// The zip64 end record's signature.
const REC64_SIG: &[u8; 4] = b"PK\x06\x06";
/// Fixed size of the end record.
pub const LEN: u64 = 22;
/// Smallest central-directory header.
const MIN_CD_HEADER: u64 = 46;
/// Largest central-directory header (three 16-bit variable fields).
const MAX_CD_HEADER: u64 = 46 + 3 * 65_535;

/// Random access to the bytes searched.
pub trait Source {
    /// Their length.
    fn size(&self) -> u64;
    /// Fills `buf` from `pos`; `false` when that runs past the end or cannot be read.
    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> bool;
}

impl Source for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> bool {
        let Ok(start) = usize::try_from(pos) else {
            return false;
        };
        match start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
        {
            Some(s) => {
                buf.copy_from_slice(s);
                true
            }
            None => false,
        }
    }
}

/// A consistent end record and the archive it ends (every position is absolute in the data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    /// Where the record starts.
    pub pos: u64,
    /// Just past the record's comment (past the record when the data ends inside the comment).
    pub end: u64,
    /// Where the archive's offsets count from: 0 for a plain zip or an adjusted self-extractor,
    /// the prefix's length for a zip that was prepended something without adjusting them.
    pub base: u64,
    /// Where the central directory starts.
    pub cd_start: u64,
    /// The central directory's size.
    pub cd_size: u64,
    /// Entries the central directory holds (at most `cd_size / 46`).
    pub entries: u64,
    /// Whether the counts came from a zip64 end record.
    pub zip64: bool,
}

fn u16at(b: &[u8], o: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[o], b[o + 1]]))
}

fn u32at(b: &[u8], o: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]))
}

fn u64at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

fn sig_at<S: Source + ?Sized>(src: &mut S, pos: u64, sig: &[u8; 4]) -> bool {
    let mut b = [0u8; 4];
    src.read_at(pos, &mut b) && &b == sig
}

/// The end record at `pos` when it is consistent with the bytes around it.
pub fn check<S: Source + ?Sized>(src: &mut S, pos: u64) -> Option<End> {
    let len = src.size();
    let mut e = [0u8; LEN as usize];
    if !src.read_at(pos, &mut e) || &e[..4] != SIG {
        return None;
    }
    let (disk, cd_disk) = (u16at(&e, 4), u16at(&e, 6));
    let (disk_entries, entries) = (u16at(&e, 8), u16at(&e, 10));
    let (cd_size, cd_off, comment) = (u32at(&e, 12), u32at(&e, 16), u16at(&e, 20));
    let rec_end = pos.checked_add(LEN)?;
    let end = match rec_end.checked_add(comment) {
        Some(end) if end <= len => end,
        // The data ends with the record: a cut comment, which readers accept.
        _ if rec_end == len => len,
        _ => return None,
    };
    if entries == 0xffff || cd_size == 0xffff_ffff || cd_off == 0xffff_ffff {
        // A zip64 archive when its locator sits just before the record (as readers decide);
        // then the locator and the zip64 record must be consistent too.
        if let Some(loc) = pos.checked_sub(20) {
            if sig_at(src, loc, LOC_SIG) {
                return zip64(src, pos, end, loc);
            }
        }
    }
    if disk != 0 || cd_disk != 0 || disk_entries != entries {
        return None;
    }
    directory(src, pos, end, pos, entries, cd_size, cd_off, None)
}

/// The zip64 record that the locator at `loc` points to, and the directory it describes.
fn zip64<S: Source + ?Sized>(src: &mut S, pos: u64, end: u64, loc: u64) -> Option<End> {
    let mut l = [0u8; 20];
    if !src.read_at(loc, &mut l) {
        return None;
    }
    let (rec_disk, rec_off, disks) = (u32at(&l, 4), u64at(&l, 8), u32at(&l, 16));
    if disks > 1 || rec_off >= loc {
        return None;
    }
    // The record ends at the locator: where the locator says (no prefix), or right before the
    // locator (a prefix shifted the archive; the usual record has no extensible data).
    let mut tried = None;
    for cand in [Some(rec_off), loc.checked_sub(56)] {
        let Some(cand) = cand.filter(|c| Some(*c) != tried && *c >= rec_off) else {
            continue;
        };
        tried = Some(cand);
        let mut r = [0u8; 56];
        if !src.read_at(cand, &mut r) || &r[..4] != REC64_SIG {
            continue;
        }
        let size = u64at(&r, 4);
        if size < 44 || cand.checked_add(12).and_then(|x| x.checked_add(size)) != Some(loc) {
            continue;
        }
        let (disk, cd_disk) = (u32at(&r, 16), u32at(&r, 20));
        let (disk_entries, entries) = (u64at(&r, 24), u64at(&r, 32));
        let (cd_size, cd_off) = (u64at(&r, 40), u64at(&r, 48));
        if disk != 0 || cd_disk != rec_disk || disk_entries != entries {
            continue;
        }
        let base = cand - rec_off;
        if let Some(e) = directory(src, pos, end, cand, entries, cd_size, cd_off, Some(base)) {
            return Some(e);
        }
    }
    None
}

/// The central directory ending by `limit` (the end record, or the zip64 record), at `cd_off`
/// from the archive's start: that start is `base` when known (zip64), else 0 or what puts the
/// directory right before `limit`.
#[allow(clippy::too_many_arguments)]
fn directory<S: Source + ?Sized>(
    src: &mut S,
    pos: u64,
    end: u64,
    limit: u64,
    entries: u64,
    cd_size: u64,
    cd_off: u64,
    base: Option<u64>,
) -> Option<End> {
    let found = |base: u64, cd_start: u64| End {
        pos,
        end,
        base,
        cd_start,
        cd_size,
        entries,
        zip64: limit != pos,
    };
    if entries == 0 {
        // An empty archive: nothing between its start and the record.
        if cd_size != 0 {
            return None;
        }
        let base = match base {
            Some(b) => b,
            None => limit.checked_sub(cd_off)?,
        };
        return (base <= limit).then(|| found(base, limit));
    }
    if entries.checked_mul(MIN_CD_HEADER)? > cd_size
        || cd_size > entries.saturating_mul(MAX_CD_HEADER)
        || cd_size > limit
    {
        return None;
    }
    let candidates = match base {
        Some(b) => [b.checked_add(cd_off).map(|s| (b, s)), None],
        None => {
            // The directory right before the record first (as other readers do), then where
            // the offset puts it without a prefix.
            let abut = limit - cd_size;
            [
                abut.checked_sub(cd_off).map(|b| (b, abut)),
                Some((0, cd_off)),
            ]
        }
    };
    for (base, cd_start) in candidates.into_iter().flatten() {
        if cd_start.checked_add(cd_size).is_some_and(|e| e <= limit)
            && sig_at(src, cd_start, CD_SIG)
        {
            return Some(found(base, cd_start));
        }
    }
    None
}

/// Every consistent end record in `data`, in order.
pub fn find_all(data: &[u8]) -> Vec<End> {
    let mut src = data;
    memchr::memmem::find_iter(data, SIG)
        .filter_map(|p| check(&mut src, p as u64))
        .collect()
}

/// Entry count claimed by the last consistent end record in `data` (`None` without one).
pub fn claimed_entries(data: &[u8]) -> Option<u64> {
    let mut src = data;
    memchr::memmem::rfind_iter(data, SIG)
        .find_map(|p| check(&mut src, p as u64))
        .map(|e| e.entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le16(v: &mut Vec<u8>, x: u16) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    fn le32(v: &mut Vec<u8>, x: u32) {
        v.extend_from_slice(&x.to_le_bytes());
    }
    fn le64(v: &mut Vec<u8>, x: u64) {
        v.extend_from_slice(&x.to_le_bytes());
    }

    /// `n` minimal central-directory headers (names "a", "b"…), all pointing at offset 0.
    fn cd(n: u16) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            v.extend_from_slice(CD_SIG);
            v.extend_from_slice(&[0; 24]);
            le16(&mut v, 1);
            v.extend_from_slice(&[0; 16]);
            v.push(b'a' + (i % 26) as u8);
        }
        v
    }

    fn end(entries: u16, cd_size: u32, cd_off: u32, comment: u16) -> Vec<u8> {
        let mut v = SIG.to_vec();
        le16(&mut v, 0);
        le16(&mut v, 0);
        le16(&mut v, entries);
        le16(&mut v, entries);
        le32(&mut v, cd_size);
        le32(&mut v, cd_off);
        le16(&mut v, comment);
        v
    }

    /// A zip-like layout: `body` bytes, then a directory of `n` headers and its end record.
    fn archive(body: usize, n: u16) -> Vec<u8> {
        let mut v = vec![b'x'; body];
        let c = cd(n);
        let off = v.len() as u32;
        v.extend_from_slice(&c);
        v.extend_from_slice(&end(n, c.len() as u32, off, 0));
        v
    }

    #[test]
    fn reads_counts() {
        let v = archive(10, 3);
        assert_eq!(claimed_entries(&v), Some(3));
        let e = find_all(&v);
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].base, e[0].cd_start, e[0].end),
            (0, 10, v.len() as u64)
        );
        assert_eq!(claimed_entries(b"nothing"), None);
        assert_eq!(claimed_entries(b"PK\x05\x06short"), None);
        // An empty archive is consistent.
        assert_eq!(claimed_entries(&end(0, 0, 0, 0)), Some(0));
    }

    #[test]
    fn bogus_records_do_not_count() {
        // A count with no directory behind it (what `/usr/bin/zip` holds as data).
        let mut v = vec![0u8; 100];
        v.extend_from_slice(&end(30063, 1_668_440_352, 1_702_259_048, 25376));
        v.extend_from_slice(&[0; 100]);
        assert_eq!(claimed_entries(&v), None);
        // A directory size that fits but no header signature where it starts.
        let mut v = vec![0u8; 46 * 3];
        v.extend_from_slice(&end(3, 46 * 3, 0, 0));
        assert_eq!(claimed_entries(&v), None);
        // More entries than the directory can hold.
        let mut v = cd(2);
        v.extend_from_slice(&end(1000, 92, 0, 0));
        assert_eq!(claimed_entries(&v), None);
        // A comment longer than what follows.
        let mut v = archive(0, 1);
        let n = v.len();
        v[n - 2..].copy_from_slice(&10u16.to_le_bytes());
        v.extend_from_slice(b"abc");
        assert_eq!(claimed_entries(&v), None);
        // Multi-disk.
        let mut v = archive(0, 1);
        let n = v.len();
        v[n - 18] = 1;
        assert_eq!(claimed_entries(&v), None);
        // A zip64 locator that points nowhere.
        let mut v = cd(1);
        v.extend_from_slice(LOC_SIG);
        le32(&mut v, 0);
        le64(&mut v, 5);
        le32(&mut v, 1);
        v.extend_from_slice(&end(0xffff, 0xffff_ffff, 0xffff_ffff, 0));
        assert_eq!(claimed_entries(&v), None);
    }

    #[test]
    fn comments_and_cut_comments() {
        let mut v = archive(0, 1);
        let n = v.len();
        v[n - 2..].copy_from_slice(&3u16.to_le_bytes());
        // The data ends with the record: accepted, the comment is cut.
        assert_eq!(claimed_entries(&v), Some(1));
        v.extend_from_slice(b"abc");
        let e = find_all(&v);
        assert_eq!(e[0].end, v.len() as u64);
        // Bytes after the comment (another archive, trailing data) are allowed.
        v.extend_from_slice(&archive(5, 2));
        let e = find_all(&v);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].entries, 1);
        assert_eq!(e[1].entries, 2);
    }

    #[test]
    fn prefix_shift() {
        // The archive's offsets count from its own start, 7 bytes into the data.
        let a = archive(10, 2);
        let mut v = b"prefix!".to_vec();
        v.extend_from_slice(&a);
        let e = find_all(&v);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].base, e[0].cd_start), (7, 17));
        // Two archives one after the other, each with its own offsets.
        let mut v = archive(10, 1);
        let first = v.len() as u64;
        v.extend_from_slice(&archive(20, 3));
        let e = find_all(&v);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].base, e[0].entries), (0, 1));
        assert_eq!((e[1].base, e[1].entries), (first, 3));
    }

    fn zip64(prefix: usize, n: u16) -> Vec<u8> {
        let mut v = vec![b'p'; prefix];
        let start = v.len() as u64;
        let c = cd(n);
        v.extend_from_slice(&c);
        let rec = v.len() as u64 - start;
        v.extend_from_slice(REC64_SIG);
        le64(&mut v, 44);
        le16(&mut v, 45);
        le16(&mut v, 45);
        le32(&mut v, 0);
        le32(&mut v, 0);
        le64(&mut v, u64::from(n));
        le64(&mut v, u64::from(n));
        le64(&mut v, c.len() as u64);
        le64(&mut v, 0);
        v.extend_from_slice(LOC_SIG);
        le32(&mut v, 0);
        le64(&mut v, rec);
        le32(&mut v, 1);
        v.extend_from_slice(&end(0xffff, 0xffff_ffff, 0xffff_ffff, 0));
        v
    }

    #[test]
    fn zip64_records() {
        let v = zip64(0, 4);
        let e = find_all(&v);
        assert_eq!(e.len(), 1);
        assert!(e[0].zip64);
        assert_eq!((e[0].entries, e[0].base), (4, 0));
        let v = zip64(33, 2);
        let e = find_all(&v);
        assert_eq!((e[0].entries, e[0].base, e[0].cd_start), (2, 33, 33));
        // A record whose count the directory cannot hold.
        let mut v = zip64(0, 1);
        let at = 47 + 32;
        v[at..at + 8].copy_from_slice(&1_000_000u64.to_le_bytes());
        v[at - 8..at].copy_from_slice(&1_000_000u64.to_le_bytes());
        assert_eq!(claimed_entries(&v), None);
    }

    #[test]
    fn no_panic_on_truncations() {
        let v = zip64(3, 2);
        for i in 0..v.len() {
            let _ = find_all(&v[i..]);
            let _ = find_all(&v[..i]);
        }
        let mut src: &[u8] = &v;
        assert_eq!(check(&mut src, u64::MAX - 3), None);
    }
}
