//! Compiled HTML Help files (`.chm`: ITSF directory, LZX-compressed section) through the
//! `libchm` crate (pure Rust, MIT). Every file entry (user files and the `/#`, `/$` system
//! files) is a member.
//!
//! `libchm` reads from a file path and decodes an entry into memory: the object is reached
//! through `/proc/self/fd` when it was spilled to an (unlinked) temp file, or written to a
//! named temp file first when it is in memory; entries are capped at [`MAX_ENTRY`] bytes.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use libchm::{ChmFile, EntrySel};

use crate::blob::Blob;
use crate::scan::{clean_name, join, Abort, Failure, Finding, Limit, Scan, Walked};

/// Largest entry decoded into memory.
pub const MAX_ENTRY: u64 = 64 << 20;

/// Whether `head` starts a CHM file (ITSF version 2 or 3).
pub fn detect(head: &[u8]) -> bool {
    head.len() >= 8 && head.starts_with(b"ITSF") && matches!(head[4], 2 | 3) && head[5..8] == [0; 3]
}

/// Scans every file entry of the CHM file in `blob` at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    // Keep the named temp file (if any) alive while the CHM is open.
    let (_keep, file_path) = match chm_path(ctx, blob) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, "chm: no path to open");
            ctx.note(Finding::Error);
            return Ok(w);
        }
    };
    let opened = catch_unwind(AssertUnwindSafe(|| ChmFile::open(&file_path)));
    let mut chm = match opened {
        Ok(Ok(c)) => c,
        _ => {
            ctx.note(Finding::Corrupted);
            return Ok(w);
        }
    };
    let entries = match catch_unwind(AssertUnwindSafe(|| {
        chm.entries(EntrySel::NORMAL | EntrySel::SPECIAL | EntrySel::FILES)
    })) {
        Ok(Ok(e)) => e,
        _ => {
            ctx.note(Finding::Corrupted);
            return Ok(w);
        }
    };
    let cap = MAX_ENTRY.min(ctx.options().limits.max_member_bytes);
    for (i, entry) in entries.iter().filter(|e| e.length > 0).enumerate() {
        if i as u64 >= ctx.options().limits.max_members {
            return Err(Abort::Limit(Limit::MemberCount));
        }
        let mpath = join(path, &clean_name(&entry.path, &format!("#{i}")));
        if entry.length > cap {
            ctx.hit(Limit::MemberSize);
            continue;
        }
        if ctx.usage().bytes + entry.length > ctx.options().limits.max_total_bytes {
            return Err(Abort::Limit(Limit::TotalBytes));
        }
        ctx.check_time()?;
        let data = catch_unwind(AssertUnwindSafe(|| chm.read(entry)));
        if !ctx.decoded_member(&mut w, i, &mpath, depth, data, |_| Failure::Corrupt)? {
            break;
        }
    }
    Ok(w)
}

/// A path `libchm` can open for `blob`, and the temp file to keep alive while it is open.
fn chm_path<'o>(
    ctx: &impl Scan<'o>,
    blob: &Blob,
) -> std::io::Result<(Option<tempfile::NamedTempFile>, PathBuf)> {
    match blob {
        Blob::File(f, _) => {
            use std::os::fd::AsRawFd;
            Ok((
                None,
                PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd())),
            ))
        }
        Blob::Memory(v, _) => {
            let mut t = tempfile::NamedTempFile::new_in(&ctx.options().temp_dir)
                .or_else(|_| tempfile::NamedTempFile::new())?;
            t.write_all(v)?;
            t.flush()?;
            let p = t.path().to_path_buf();
            Ok((Some(t), p))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn detect_needs_the_version() {
        assert!(super::detect(b"ITSF\x03\0\0\0\x60\0\0\0"));
        assert!(!super::detect(b"ITSF\x09\0\0\0"));
        assert!(!super::detect(b"ITSF"));
    }
}
