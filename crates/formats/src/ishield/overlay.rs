//! Layout B, first half: the overlay file list after the PE image.

use super::*;

/// One file of the overlay list.
pub(super) struct OverlayFile<'a> {
    /// Its bare name (`data1.hdr`).
    pub(super) name: &'a [u8],
    /// Its path (`Disk1\data1.hdr`).
    pub(super) path: &'a [u8],
    pub(super) data: &'a [u8],
}

/// Where the PE image in `d` ends, when `d` starts with one.
pub(super) fn pe_end(d: &[u8]) -> Option<usize> {
    let h = crate::pe::Headers::parse(d).ok()?;
    if h.sections.len() < h.declared_sections.min(crate::pe::MAX_SECTIONS) {
        return None;
    }
    usize::try_from(h.file_end()).ok()
}

/// Reads a NUL-terminated field of 1..=`max` bytes accepted by `ok` at `d[pos]`; returns it and
/// where the next field starts.
pub(super) fn field(
    d: &[u8],
    pos: usize,
    max: usize,
    ok: impl Fn(u8) -> bool,
) -> Option<(&[u8], usize)> {
    let window = d.get(pos..)?;
    let window = window.get(..window.len().min(max + 1))?;
    let len = memchr::memchr(0, window)?;
    let f = window.get(..len)?;
    if f.is_empty() || !f.iter().all(|&b| ok(b)) {
        return None;
    }
    Some((f, pos + len + 1))
}

pub(super) fn name_byte(b: u8) -> bool {
    b >= 0x20 && b != 0x7f
}

/// The overlay record at `d[pos]`, and where the next one starts.
pub(super) fn record(d: &[u8], pos: usize) -> Option<(OverlayFile<'_>, usize)> {
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
pub(super) fn record_before(d: &[u8], data: usize) -> Option<usize> {
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
pub(super) fn overlay(exe: &[u8], sink: &mut Sink) -> Result<(), IShieldError> {
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
