//! SZDD files (`SETUP.EX_`, `*.DL_`): the member inside, decoded by `bulwark_formats::szdd`.

use bulwark_formats::szdd::{decode, SzddError};

use crate::blob::Blob;
use crate::scan::{join, note, Abort, Finding, Limit, Packed, Scan, Walked};

/// Scans the file inside the SZDD `blob` as one member at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    // SZDD was made for floppies: anything beyond 64 MiB packed is not worth holding in memory.
    let Some(data) = ctx.bytes_within(blob, 64 << 20, Limit::MemberSize) else {
        return Ok(w);
    };
    let last = data.get(9).copied().filter(|c| c.is_ascii_graphic());
    let name = match last {
        Some(c) => format!("#0 (last character '{}')", c as char),
        None => "#0".to_string(),
    };
    let mpath = join(path, &name);
    let Some(mut sink) = ctx.begin(depth, Packed::Fixed(data.len() as u64))? else {
        return Ok(w);
    };
    let max = ctx.options().limits.max_member_bytes;
    let res = decode(&data, max, |chunk| ctx.write(&mut sink, chunk));
    let outcome = match res {
        Ok(Ok((_, truncated))) => {
            if truncated {
                ctx.note(Finding::Corrupted);
            }
            Ok(())
        }
        Ok(Err(SzddError::TooLarge(_))) => Err(Abort::Member(Limit::MemberSize)),
        Ok(Err(SzddError::NotSzdd)) => {
            ctx.note(Finding::Corrupted);
            Ok(())
        }
        Err(e) => Err(e),
    };
    let r = ctx.end(sink, &mpath, depth, outcome)?;
    note(&mut w, 0, r);
    Ok(w)
}
