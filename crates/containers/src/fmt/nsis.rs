//! NSIS installers through the `nsis` crate (pure Rust, Apache-2.0): the script's
//! `File` instructions name the embedded files, which are decompressed (zlib, bzip2 or LZMA,
//! solid or not) and scanned as members named by their install path.
//!
//! The crate needs the whole installer in memory: installers above [`MAX_INSTALLER`] bytes are
//! not opened (a member limit hit), and decompression stops at [`MAX_DECOMPRESSED`] bytes.

use std::panic::{catch_unwind, AssertUnwindSafe};

use nsis::NsisInstaller;

use crate::scan::{clean_name, join, note, shown, Abort, Failure, Finding, Limit, Scan, Walked};

/// Largest installer opened.
pub const MAX_INSTALLER: u64 = 128 << 20;
/// Most bytes decompressed from one installer (its solid block, or each compressed file).
pub const MAX_DECOMPRESSED: u64 = 128 << 20;

/// Whether the PE `data` carries an NSIS first header (`0xDEADBEEF`-style flags, then
/// `NullsoftInst`).
pub fn detect(data: &[u8]) -> bool {
    memchr::memmem::find(data, b"NullsoftInst").is_some()
}

/// Scans the files embedded in the NSIS installer `data` (a whole PE, at most
/// [`MAX_INSTALLER`] bytes) as members at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    data: &[u8],
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    if !detect(data) {
        return Ok(w);
    }
    let budget = MAX_DECOMPRESSED
        .min(
            ctx.options()
                .limits
                .max_total_bytes
                .saturating_sub(ctx.usage().bytes),
        )
        .min(ctx.options().limits.max_member_bytes.max(1 << 20)) as usize;
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        NsisInstaller::builder(data)
            .max_decompressed_size(budget)
            .parse()
    }));
    let installer = match parsed {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => {
            ctx.note(Finding::Note(format!(
                "{}: NSIS not opened: {e}",
                shown(path)
            )));
            match e {
                // The crate could not decode the header (it fails, e.g., when an LZMA match runs
                // across the header's end, as a block of zeros after it makes happen): read the
                // solid stream ourselves, so that no installer passes unseen.
                nsis::Error::OutputTooLarge { .. }
                | nsis::Error::UnsupportedCompression
                | nsis::Error::DecompressionFailed { .. } => {
                    return solid_fallback(ctx, data, budget, path, depth);
                }
                // A PE that only mentions NSIS (a stub, a tool, a plug-in): not an installer.
                _ => tracing::debug!(error = %e, "nsis: not opened"),
            }
            return Ok(w);
        }
        Err(_) => {
            ctx.note(Finding::Note(format!(
                "{}: NSIS parser panicked",
                shown(path)
            )));
            ctx.note(Finding::Corrupted);
            return Ok(w);
        }
    };
    let mut i = 0usize;
    for file in installer.files() {
        ctx.check_time()?;
        if i as u64 >= ctx.options().limits.max_members {
            return Err(Abort::Limit(Limit::MemberCount));
        }
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                ctx.note(Finding::Note(format!("{}: NSIS entry: {e}", shown(path))));
                match e {
                    nsis::Error::OutputTooLarge { .. } => ctx.hit(Limit::NsisDataSize),
                    _ => ctx.note(Finding::Corrupted),
                }
                continue;
            }
        };
        let name = file
            .dest_path()
            .map(|n| n.to_string().replace('\\', "/"))
            .unwrap_or_default();
        let mpath = join(path, &clean_name(&name, &format!("#{i}")));
        let data = catch_unwind(AssertUnwindSafe(|| file.decompress()));
        let go_on = ctx.decoded_member(&mut w, i, &mpath, depth, data, |e| match e {
            nsis::Error::OutputTooLarge { .. } => Failure::TooLarge,
            _ => Failure::Corrupt,
        })?;
        if !go_on {
            break;
        }
        i += 1;
    }
    Ok(w)
}

/// The first header's signature (after its 4-byte flags): `0xDEADBEEF`, `NullsoftInst`.
const FIRST_HEADER: &[u8] = b"\xef\xbe\xad\xdeNullsoftInst";

/// Why the solid stream could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum SolidError {
    /// No first header, or not a solid LZMA/deflate stream after it.
    NotSolid,
    /// The stream decodes to more than the budget.
    TooLarge,
    /// The stream is damaged before its first block ends.
    Corrupt,
}

/// Decodes the solid (LZMA or deflate) stream that follows the NSIS first header in `exe`,
/// at most `max_out` bytes, and splits it into its length-prefixed blocks: the script header
/// first, then one block per embedded file. A stream damaged after some blocks gives those.
pub fn solid_blocks(exe: &[u8], max_out: usize) -> Result<Vec<Vec<u8>>, SolidError> {
    use std::io::Read;
    let at = memchr::memmem::find(exe, FIRST_HEADER).ok_or(SolidError::NotSolid)?;
    let start = at
        .checked_add(FIRST_HEADER.len() + 8)
        .ok_or(SolidError::NotSolid)?;
    let data = exe.get(start..).ok_or(SolidError::NotSolid)?;
    let (reader, lzma): (Box<dyn Read + '_>, bool) = match data {
        // LZMA as NSIS writes it: properties 0x5d (lc=3, lp=0, pb=2), a 4-byte dictionary size.
        [0x5d, d0, d1, d2, d3, rest @ ..] => {
            // No match reaches back further than the output: the budget caps the dictionary.
            let dict = u32::from_le_bytes([*d0, *d1, *d2, *d3])
                .clamp(4096, u32::try_from(max_out.max(4096)).unwrap_or(u32::MAX));
            match lzma_rust2::LzmaReader::new(rest, u64::MAX, 3, 0, 2, dict, None) {
                Ok(r) => (Box::new(r), true),
                Err(_) => return Err(SolidError::NotSolid),
            }
        }
        // Otherwise a raw deflate stream (NSIS's zlib compressor writes no zlib header); a
        // non-solid installer starts with a block length instead and fails to inflate.
        _ => (Box::new(flate2::read::DeflateDecoder::new(data)), false),
    };
    let mut out = Vec::new();
    let read = reader.take(max_out as u64 + 1).read_to_end(&mut out);
    if out.len() > max_out {
        return Err(SolidError::TooLarge);
    }
    // A stream without an end marker ends where the input does: keep what decoded.
    if read.is_err() && out.len() < 4 {
        return Err(if lzma {
            SolidError::Corrupt
        } else {
            SolidError::NotSolid
        });
    }
    let mut blocks = Vec::new();
    let mut pos = 0usize;
    while let Some(len) = out.get(pos..pos + 4) {
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) & 0x7fff_ffff;
        let begin = pos + 4;
        let Some(end) = begin.checked_add(len as usize).filter(|&e| e <= out.len()) else {
            break;
        };
        blocks.push(out[begin..end].to_vec());
        pos = end;
    }
    if blocks.is_empty() {
        return Err(SolidError::Corrupt);
    }
    Ok(blocks)
}

/// Scans the blocks of the installer's solid stream as members `#0` (the script header),
/// `#1`… (the files) when the `nsis` crate could not open it.
fn solid_fallback<'o>(
    ctx: &mut impl Scan<'o>,
    data: &[u8],
    budget: usize,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    match solid_blocks(data, budget) {
        Ok(blocks) => {
            for (i, b) in blocks.iter().enumerate() {
                if i as u64 >= ctx.options().limits.max_members {
                    return Err(Abort::Limit(Limit::MemberCount));
                }
                let r = ctx.member_bytes(b, &join(path, &format!("#{i}")), depth)?;
                note(&mut w, i, r);
            }
        }
        // Its files cannot be seen within the limits: not clean.
        Err(SolidError::TooLarge) => ctx.hit(Limit::NsisDataSize),
        Err(SolidError::Corrupt) => ctx.note(Finding::Corrupted),
        // Not solid either: what the crate could not read stays unread (noted).
        Err(SolidError::NotSolid) => {}
    }
    Ok(w)
}
