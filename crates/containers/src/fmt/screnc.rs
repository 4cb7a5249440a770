//! Scripts encoded with Microsoft's Script Encoder as files of their own (`.jse`, `.vbe`:
//! ClamAV's `CL_TYPE_SCRENC`): the decoded script, as ClamAV writes it for its scan
//! (`bulwark_engine::normalise::screnc::decode_file`), is one member.

use bulwark_engine::normalise::screnc::decode_file;

use crate::blob::Blob;
use crate::scan::{join, note, Abort, Limit, Scan, Walked};

/// Scans the decoded script of the encoded-script `blob` as one member at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    // Decoded in memory, as ClamAV does it: a script beyond the member limit is not one.
    let max = ctx.options().limits.max_member_bytes;
    let Some(data) = ctx.bytes_within(blob, max, Limit::MemberSize) else {
        return Ok(w);
    };
    let Some(script) = decode_file(&data) else {
        // A marker without a whole header: ClamAV scans nothing more either.
        return Ok(w);
    };
    let r = ctx.member_bytes(&script, &join(path, "screnc.html"), depth)?;
    note(&mut w, 0, r);
    Ok(w)
}
