//! OLE2 compound files (doc, xls, ppt, msi…) through the `cfb` crate: every stream is a member.

use std::path::PathBuf;

use crate::blob::Blob;
use crate::scan::{clean_name, join, note, Abort, Finding, Packed, Scan, Walked};

/// Scans every stream of the compound file in `blob` at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    let Ok(r) = blob.reader() else {
        ctx.note(Finding::Error);
        return Ok(w);
    };
    let mut cf = match cfb::CompoundFile::open(r) {
        Ok(c) => c,
        Err(_) => {
            ctx.note(Finding::Corrupted);
            return Ok(w);
        }
    };
    let streams: Vec<PathBuf> = cf
        .walk()
        .filter(|e| e.is_stream())
        .map(|e| e.path().to_path_buf())
        .take(ctx.options().limits.max_members as usize + 1)
        .collect();
    for (i, p) in streams.iter().enumerate() {
        let name = p.to_string_lossy();
        let mpath = join(path, &clean_name(&name, &format!("#{i}")));
        let mut s = match cf.open_stream(p) {
            Ok(s) => s,
            Err(_) => {
                ctx.note(Finding::Corrupted);
                continue;
            }
        };
        let r = ctx.member(&mut s, &mpath, depth, Packed::None)?;
        note(&mut w, i, r);
    }
    Ok(w)
}
