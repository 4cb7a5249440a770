//! The recursion: what is this blob, and which format module opens it.

use crate::blob::Blob;
use crate::ctx::{Abort, Ctx};
use crate::detect::{detect, Kind};
use crate::fmt;

/// What walking one blob found.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// The first threat found inside (members at any depth).
    pub first_threat: Option<String>,
    /// Indexes of the direct members found infected, with a threat name (for cure).
    pub infected: Vec<(usize, String)>,
    /// What the blob was.
    pub kind: Option<Kind>,
    /// Raw body ranges of a MIME message's leaf parts (for cure), indexed like `infected`.
    pub parts: Vec<fmt::mime::PartRange>,
}

/// Opens `blob` (already scanned as one object by the caller) and scans its members at
/// `depth + 1`.
pub(crate) fn walk(ctx: &mut Ctx, blob: &Blob, path: &str, depth: u32) -> Result<Walked, Abort> {
    let head = match blob.head(8192) {
        Ok(h) => h,
        Err(_) => {
            ctx.error = true;
            return Ok(Walked::default());
        }
    };
    let kind = detect(&head);
    let o = ctx.opts;
    let d = depth + 1;
    // A compression layer (gzip, bzip2, xz, zstd) holds one member and cannot fan out: it adds a
    // depth level only when it sits directly in another compression layer (so a .tar.gz counts
    // once, while a gzip quine still meets the depth limit).
    let parent_compressed = std::mem::replace(&mut ctx.in_compress, false);
    let mut w = match kind {
        Kind::Zip if o.scan_archives => fmt::zip::walk(ctx, blob, path, d)?,
        Kind::Gzip | Kind::Bzip2 | Kind::Xz | Kind::Zstd if o.scan_archives => {
            let cd = if parent_compressed { d } else { depth.max(1) };
            ctx.in_compress = true;
            let r = fmt::compress::walk(ctx, blob, kind, path, cd);
            ctx.in_compress = false;
            r?
        }
        Kind::Tar if o.scan_archives => fmt::tar::walk(ctx, blob, path, d)?,
        Kind::SevenZ if o.scan_archives => fmt::sevenz::walk(ctx, blob, path, d)?,
        Kind::Cab if o.scan_archives => fmt::cab::walk(ctx, blob, path, d)?,
        Kind::Ole2 if o.scan_archives => fmt::ole::walk(ctx, blob, path, d)?,
        Kind::Mail if o.scan_mail_plain => fmt::mime::walk(ctx, blob, path, d, false, None)?,
        Kind::Mbox if o.scan_mail_bases => fmt::mime::walk(ctx, blob, path, d, true, None)?,
        Kind::Pe | Kind::Elf => {
            if o.scan_packed {
                fmt::packer::walk(ctx, blob, &head, path, d)?;
            }
            if o.scan_archives {
                fmt::embedded::walk(ctx, blob, kind, path, d)?
            } else {
                Walked::default()
            }
        }
        Kind::Other if o.scan_archives => {
            let mut w = fmt::embedded::walk(ctx, blob, kind, path, d)?;
            fmt::text::walk(ctx, blob, path, d, &mut w)?;
            w
        }
        _ => Walked::default(),
    };
    w.kind = Some(kind);
    if w.first_threat.is_none() {
        w.first_threat = w.infected.first().map(|(_, t)| t.clone());
    }
    Ok(w)
}

/// Records a member's result into `w`.
pub(crate) fn note(w: &mut Walked, index: usize, r: crate::ctx::MemberResult) {
    if let Some(t) = r.threat {
        if w.first_threat.is_none() {
            w.first_threat = Some(t.clone());
        }
        w.infected.push((index, t));
    }
}
