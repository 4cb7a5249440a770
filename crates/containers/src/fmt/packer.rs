//! Packed executables: the packer (named by `bulwark_formats::packer`) is reported in the
//! verdict's notes so that policy can act on it; unpacking is `walk`'s (UPX, then emulation).

use bulwark_formats::packer::identify;

use crate::blob::Blob;
use crate::scan::{Abort, Finding, Scan};

/// Notes the packer of the executable in `blob`, if any.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    _blob: &Blob,
    head: &[u8],
    path: &str,
    _depth: u32,
) -> Result<(), Abort> {
    if let Some(p) = identify(head) {
        ctx.note(Finding::Packer {
            path: crate::scan::shown(path).to_string(),
            packer: p,
        });
    }
    Ok(())
}
