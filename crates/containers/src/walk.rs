//! The recursion: what is this blob, and which opener of the registry (`open`) opens it; and
//! [`Scan`] for the scan's state ([`ScanSession`]), whose members recurse here.

use crate::blob::Blob;
use crate::fmt;
use crate::kind::Kind;
use crate::open::{self, detect, At};
use crate::options::DeepOptions;
use crate::scan::{merge, Abort, Finding, Limit, MemberResult, Packed, Scan, Sink, Usage, Walked};
use crate::session::ScanSession;

/// Opens `blob` (already scanned as one object by the caller) and scans its members at
/// `depth + 1`.
pub(crate) fn walk(
    ctx: &mut ScanSession,
    blob: &Blob,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let head = match blob.head(8192) {
        Ok(h) => h,
        Err(_) => {
            ctx.error = true;
            ctx.flush_handler();
            return Ok(Walked::default());
        }
    };
    let kind = detect(&head);
    // Every member found below is inside this blob: its ClamAV type joins the ancestry for
    // the walk, and leaves it whatever the walk's outcome.
    let cl = crate::ancestry::cl_type(kind, &head);
    // `HandlerType` signatures matched the blob: as ClamAV 1.4 does, scan it again as their
    // type first (a layer of its own, where they match again and report), then walk it as
    // what it is.
    let mut first = None;
    if let Some(p) = ctx.next_handler.take() {
        match rescan_as(ctx, blob, &head, kind, cl, p.req.ty, path, depth) {
            Ok(hw) => first = hw.first_threat,
            Err(e) => {
                // Cut short (time): the signatures still report.
                ctx.next_handler = Some(p);
                ctx.flush_handler();
                return Err(e);
            }
        }
        if first.is_some() && ctx.stop_at_first {
            return Err(Abort::Done);
        }
    }
    let mut w = walk_as(ctx, blob, &head, kind, cl, path, depth)?;
    if first.is_some() {
        w.first_threat = first;
    }
    Ok(w)
}

/// The rescan a `HandlerType` signature asks, as ClamAV 1.4 makes it: a layer of type `t`
/// inside `cl`, whose raw scan runs target 0's and `t`'s target's signatures (the `HandlerType`
/// signatures match again there and report, without another rescan), then, unless that stops
/// the scan, `t`'s opener when this crate has one and the blob is not of that kind already (a
/// PDF only with `%PDF-` in its first 1,024 bytes, as ClamAV's PDF parser requires).
#[allow(clippy::too_many_arguments)]
fn rescan_as(
    ctx: &mut ScanSession,
    blob: &Blob,
    head: &[u8],
    kind: Kind,
    cl: bulwark_engine::cltype::ClType,
    t: bulwark_engine::cltype::ClType,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    tracing::debug!(handler = %t, "HandlerType signature: the object is scanned again as {t}");
    ctx.ancestry.push(cl);
    let r = ctx.scan_blob_as(blob, path, Some(t));
    ctx.ancestry.pop();
    let mut w = Walked {
        first_threat: r?,
        ..Walked::default()
    };
    if w.first_threat.is_some() && ctx.stop_at_first {
        return Ok(w);
    }
    let opens = |k: &Kind| {
        *k != kind
            && (*k != Kind::Pdf
                || head[..head.len().min(1024)]
                    .windows(5)
                    .any(|x| x == b"%PDF-"))
    };
    if let Some(k) = handler_kind(t).filter(opens) {
        tracing::debug!(handler = %t, "HandlerType signature: opened as {}", k.name());
        merge(&mut w, walk_as(ctx, blob, head, k, t, path, depth)?);
    }
    Ok(w)
}

/// [`walk_kind`] with `cl` (the ClamAV type the blob is opened as) in the ancestry of every
/// member found below, whatever the walk's outcome.
fn walk_as(
    ctx: &mut ScanSession,
    blob: &Blob,
    head: &[u8],
    kind: Kind,
    cl: bulwark_engine::cltype::ClType,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    ctx.ancestry.push(cl);
    let r = walk_kind(ctx, blob, head, kind, path, depth);
    ctx.ancestry.pop();
    r
}

/// The opener for a `HandlerType` file type, for the types this crate opens (see
/// [`bulwark_engine::cltype::HANDLED`]).
pub(crate) fn handler_kind(t: bulwark_engine::cltype::ClType) -> Option<Kind> {
    use bulwark_engine::cltype::ClType;
    Some(match t {
        ClType::Zip => Kind::Zip,
        ClType::Pdf => Kind::Pdf,
        ClType::Gz => Kind::Gzip,
        ClType::Bz => Kind::Bzip2,
        ClType::Xz => Kind::Xz,
        ClType::SevenZ => Kind::SevenZ,
        ClType::MsCab => Kind::Cab,
        ClType::MsOle2 => Kind::Ole2,
        ClType::PosixTar => Kind::Tar,
        ClType::MsChm => Kind::Chm,
        ClType::Mail => Kind::Mail,
        _ => return None,
    })
}

/// [`walk`] once the blob's kind is known: its opener from the registry, then, for a container
/// that did not parse, a zip behind it.
fn walk_kind(
    ctx: &mut ScanSession,
    blob: &Blob,
    head: &[u8],
    kind: Kind,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let in_compress = std::mem::replace(&mut ctx.in_compress, false);
    let corrupted = ctx.corrupted;
    let opener = open::opener(kind);
    let at = At {
        head,
        path,
        depth,
        in_compress,
        kind,
    };
    let mut w = if (opener.enabled)(ctx.opts) {
        (opener.open)(ctx, blob, &at)?
    } else {
        Walked::default()
    };
    // A container that does not parse may be only a prefix in front of a zip (readers find
    // the zip from its end). Tar, mail and PDF are left out: their members are opened already
    // (a PDF is searched for a zip anyway), and the zips they hold would be counted twice.
    if ctx.opts.scan_archives
        && ctx.corrupted
        && !corrupted
        && kind.is_container()
        && !matches!(
            kind,
            Kind::Zip | Kind::Tar | Kind::Mail | Kind::Mbox | Kind::Pdf
        )
    {
        merge(
            &mut w,
            fmt::zip::walk(ctx, blob, path, depth + 1, Kind::Other)?,
        );
    }
    w.kind = Some(kind);
    if w.first_threat.is_none() {
        w.first_threat = w.infected.first().map(|(_, t)| t.clone());
    }
    Ok(w)
}

impl<'a> Scan<'a> for ScanSession<'a> {
    fn options(&self) -> &'a DeepOptions {
        self.opts
    }

    fn note(&mut self, f: Finding) {
        match f {
            Finding::Corrupted => self.corrupted = true,
            Finding::Protected => self.protected = true,
            Finding::Error => self.error = true,
            Finding::Limit(l) => self.hit(l),
            Finding::Note(n) => self.notes.push(n),
            Finding::Packer { path, packer } => self.packers.push((path, packer.to_string())),
            Finding::Threat { name, path } => {
                self.threats.push(bulwark_engine::Threat::new(name, path));
            }
        }
    }

    fn usage(&self) -> Usage {
        Usage {
            bytes: self.total,
            members: self.members,
        }
    }

    fn charge(&mut self, bytes: u64, members: u64) -> Result<(), Abort> {
        self.total = self.total.saturating_add(bytes);
        self.members = self.members.saturating_add(members);
        if self.total > self.opts.limits.max_total_bytes {
            return Err(Abort::Limit(Limit::TotalBytes));
        }
        if self.members > self.opts.limits.max_members {
            return Err(Abort::Limit(Limit::MemberCount));
        }
        Ok(())
    }

    fn corrupted(&self) -> bool {
        self.corrupted
    }

    fn restore_corrupted(&mut self, was: bool) {
        self.corrupted = was;
    }

    fn check_time(&self) -> Result<(), Abort> {
        ScanSession::check_time(self)
    }

    fn begin(&mut self, depth: u32, packed: Packed) -> Result<Option<Sink>, Abort> {
        ScanSession::begin(self, depth, packed)
    }

    fn write(&mut self, sink: &mut Sink, data: &[u8]) -> Result<(), Abort> {
        ScanSession::write(self, sink, data)
    }

    fn end_raw(
        &mut self,
        sink: Sink,
        path: &str,
        outcome: Result<(), Abort>,
    ) -> Result<(MemberResult, Option<Blob>), Abort> {
        ScanSession::end_raw(self, sink, path, outcome)
    }

    fn open(&mut self, blob: &Blob, path: &str, depth: u32) -> Result<Walked, Abort> {
        walk(self, blob, path, depth)
    }
}

#[cfg(test)]
mod tests {
    /// Every file type the engine says a `HandlerType` signature may name has an opener here.
    #[test]
    fn every_handled_type_has_an_opener() {
        for t in bulwark_engine::cltype::HANDLED {
            assert!(super::handler_kind(t).is_some(), "{t}");
        }
        // GRAPHICS has no opener: its rescan is by its signature target only.
        assert!(super::handler_kind(bulwark_engine::cltype::ClType::Graphics).is_none());
        assert!(bulwark_engine::cltype::ClType::Graphics.handled());
    }
}
