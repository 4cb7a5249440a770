//! tar (POSIX, GNU, PAX) through the `tar` crate, streaming.

use crate::blob::Blob;
use crate::ctx::{clean_name, join, Abort, Ctx, Packed};
use crate::walk::{note, Walked};

/// Scans every regular file of the tar in `blob` at `depth`.
pub(crate) fn walk(ctx: &mut Ctx, blob: &Blob, path: &str, depth: u32) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    let Ok(r) = blob.reader() else {
        ctx.error = true;
        return Ok(w);
    };
    let mut ar = tar::Archive::new(r);
    let entries = match ar.entries() {
        Ok(e) => e,
        Err(_) => {
            ctx.corrupted = true;
            return Ok(w);
        }
    };
    for (i, e) in entries.enumerate() {
        ctx.check_time()?;
        let mut e = match e {
            Ok(e) => e,
            Err(_) => {
                ctx.corrupted = true;
                break;
            }
        };
        let t = e.header().entry_type();
        if !(t.is_file() || t == tar::EntryType::Continuous || t == tar::EntryType::GNUSparse) {
            // Still counted: a million empty directories is a bomb too.
            ctx.members += 1;
            if ctx.members > ctx.opts.limits.max_members {
                return Err(Abort::Limit("member count"));
            }
            continue;
        }
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mpath = join(path, &clean_name(&name, &format!("#{i}")));
        let r = ctx.member(&mut e, &mpath, depth, Packed::None)?;
        note(&mut w, i, r);
    }
    Ok(w)
}
