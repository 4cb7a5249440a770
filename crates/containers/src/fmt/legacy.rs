//! Archives the other modules do not open — RAR (1.3 to 7), ARJ, ACE, LHA/LZH, ZOO, UC2, SQZ
//! and Unix `.Z` — through the `unarc-rs` crate (pure Rust, MIT/Apache-2.0; its RAR decoder is
//! the `rars` crate, Apache-2.0, not RARLAB's UnRAR).
//!
//! The crate decodes a member into memory, so each member is capped at [`MAX_ENTRY`] bytes (and
//! the object's remaining total budget) before decoding; a larger member is a member limit hit.
//! Decoding runs under `catch_unwind`: a panic in the crate marks the object `corrupted` instead
//! of ending the scan.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bulwark_engine::filetype::FileType;
use unarc_rs::unified::{ArchiveFormat, ArchiveOptions, UnifiedArchive};

use crate::blob::Blob;
use crate::scan::{clean_name, join, Abort, Failure, Finding, Limit, Scan, Walked};

/// Largest member decoded into memory (the crate has no streaming reader).
pub const MAX_ENTRY: u64 = 64 << 20;

/// The legacy archive format whose head is `head`, when its magic is unambiguous (formats with a
/// one- or two-byte magic that random data often starts with are left out, except ARJ whose
/// header is checked further).
pub fn detect(head: &[u8]) -> Option<ArchiveFormat> {
    let h = |m: &[u8]| head.starts_with(m);
    if FileType::Rar.matches(head) || h(b"RE~^") {
        return Some(ArchiveFormat::Rar);
    }
    if head.len() >= 14 && &head[7..14] == b"**ACE**" {
        return Some(ArchiveFormat::Ace);
    }
    // ARJ: 0x60 0xEA, a basic header of 1..=2600 bytes whose first byte is its own length.
    if head.len() >= 10 && h(b"\x60\xea") {
        let size = u16::from_le_bytes([head[2], head[3]]);
        if (1..=2600).contains(&size) && head[4] as u16 <= size {
            return Some(ArchiveFormat::Arj);
        }
    }
    // LHA: "-lh?-" / "-lz?-" at offset 2.
    if head.len() >= 7
        && head[2] == b'-'
        && head[3] == b'l'
        && (head[4] == b'h' || head[4] == b'z')
        && head[6] == b'-'
    {
        return Some(ArchiveFormat::Lha);
    }
    if head.len() >= 24 && h(b"ZOO ") && head[20..24] == [0xdc, 0xa7, 0xc4, 0xfd] {
        return Some(ArchiveFormat::Zoo);
    }
    if h(b"UC2\x1a") {
        return Some(ArchiveFormat::Uc2);
    }
    if h(b"HLSQZ") {
        return Some(ArchiveFormat::Sqz);
    }
    if h(b"\x1f\x9d") {
        return Some(ArchiveFormat::Z);
    }
    None
}

/// Scans every member of the legacy archive in `blob` (of format `format`) at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    format: ArchiveFormat,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    let Ok(r) = blob.reader() else {
        ctx.note(Finding::Error);
        return Ok(w);
    };
    let limits = &ctx.options().limits;
    let entry_cap = MAX_ENTRY.min(limits.max_member_bytes);
    let total_cap = limits.max_total_bytes.saturating_sub(ctx.usage().bytes);
    let options = ArchiveOptions::new()
        .with_max_entry_size(Some(entry_cap))
        .with_max_total_size(Some(total_cap));
    let opened = catch_unwind(AssertUnwindSafe(|| {
        UnifiedArchive::open_with_format_and_options(r, format, options)
    }));
    let mut archive = match opened {
        Ok(Ok(a)) => a,
        _ => {
            ctx.note(Finding::Corrupted);
            return Ok(w);
        }
    };
    let max = ctx.options().limits.max_members;
    let mut i = 0usize;
    loop {
        ctx.check_time()?;
        let next = catch_unwind(AssertUnwindSafe(|| archive.next_entry()));
        let entry = match next {
            Ok(Ok(Some(e))) => e,
            Ok(Ok(None)) => break,
            _ => {
                ctx.note(Finding::Corrupted);
                break;
            }
        };
        if entry.is_directory() {
            continue;
        }
        if i as u64 >= max {
            return Err(Abort::Limit(Limit::MemberCount));
        }
        let mpath = join(path, &clean_name(entry.name(), &format!("#{i}")));
        if entry.is_encrypted() {
            ctx.note(Finding::Protected);
            i += 1;
            continue;
        }
        if entry.original_size() > entry_cap {
            // Declared too large to decode in memory: the member limit, like a cut member.
            ctx.hit(Limit::MemberSize);
            let _ = catch_unwind(AssertUnwindSafe(|| archive.skip(&entry)));
            i += 1;
            continue;
        }
        let data = catch_unwind(AssertUnwindSafe(|| archive.read(&entry)));
        let go_on = ctx.decoded_member(&mut w, i, &mpath, depth, data, |e| match e {
            unarc_rs::error::ArchiveError::SizeLimitExceeded { .. } => Failure::TooLarge,
            _ => Failure::Corrupt,
        })?;
        if !go_on {
            break;
        }
        i += 1;
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_magics_only() {
        assert_eq!(detect(b"Rar!\x1a\x07\x01\x00"), Some(ArchiveFormat::Rar));
        assert_eq!(
            detect(b"\x60\xea\x29\x00\x1e\x0b\x01\x02\x10\x00"),
            Some(ArchiveFormat::Arj)
        );
        // An absurd ARJ header size is not ARJ.
        assert_eq!(detect(b"\x60\xea\xff\xff\x1e\x0b\x01\x02\x10\x00"), None);
        assert_eq!(
            detect(b"\x1a\x02junk"),
            None,
            "ARC's weak magic is not used"
        );
        assert_eq!(detect(b"HA\x01\x00"), None);
        assert_eq!(detect(b"xx-lh5-yyyy"), Some(ArchiveFormat::Lha));
        assert_eq!(detect(b""), None);
    }
}
