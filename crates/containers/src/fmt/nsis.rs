//! NSIS installers through the `nsis` crate (pure Rust, Apache-2.0): the script's
//! `File` instructions name the embedded files, which are decompressed (zlib, bzip2 or LZMA,
//! solid or not) and scanned as members named by their install path.
//!
//! The crate needs the whole installer in memory: installers above [`MAX_INSTALLER`] bytes are
//! not opened (a member limit hit), and decompression stops at [`MAX_DECOMPRESSED`] bytes.

use std::panic::{catch_unwind, AssertUnwindSafe};

use nsis::NsisInstaller;

use crate::ctx::{clean_name, join, Abort, Ctx};
use crate::walk::{note, Walked};

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
pub(crate) fn walk(ctx: &mut Ctx, data: &[u8], path: &str, depth: u32) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    if !detect(data) {
        return Ok(w);
    }
    let budget = MAX_DECOMPRESSED
        .min(ctx.opts.limits.max_total_bytes.saturating_sub(ctx.total))
        .min(ctx.opts.limits.max_member_bytes.max(1 << 20)) as usize;
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        NsisInstaller::builder(data)
            .max_decompressed_size(budget)
            .parse()
    }));
    let installer = match parsed {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => {
            // A PE that only mentions NSIS (a stub, a tool) is not an error worth a status.
            tracing::debug!(error = %e, "nsis: not opened");
            ctx.notes
                .push(format!("{}: NSIS not opened: {e}", display(path)));
            return Ok(w);
        }
        Err(_) => {
            ctx.notes
                .push(format!("{}: NSIS parser panicked", display(path)));
            ctx.corrupted = true;
            return Ok(w);
        }
    };
    let mut i = 0usize;
    for file in installer.files() {
        ctx.check_time()?;
        if i as u64 >= ctx.opts.limits.max_members {
            return Err(Abort::Limit("member count"));
        }
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                ctx.notes
                    .push(format!("{}: NSIS entry: {e}", display(path)));
                ctx.corrupted = true;
                continue;
            }
        };
        let name = file
            .dest_path()
            .map(|n| n.to_string().replace('\\', "/"))
            .unwrap_or_default();
        let mpath = join(path, &clean_name(&name, &format!("#{i}")));
        match catch_unwind(AssertUnwindSafe(|| file.decompress())) {
            Ok(Ok(bytes)) => {
                let r = ctx.member_bytes(&bytes, &mpath, depth)?;
                note(&mut w, i, r);
            }
            Ok(Err(nsis::Error::OutputTooLarge { .. })) => ctx.hit("member size"),
            Ok(Err(e)) => {
                ctx.notes.push(format!("{mpath}: {e}"));
                ctx.corrupted = true;
            }
            Err(_) => {
                ctx.notes.push(format!("{mpath}: NSIS decoder panicked"));
                ctx.corrupted = true;
                break;
            }
        }
        i += 1;
    }
    Ok(w)
}

fn display(path: &str) -> &str {
    if path.is_empty() {
        "object"
    } else {
        path
    }
}
