//! The recursion: what is this blob, and which format module opens it.

use crate::blob::Blob;
use crate::ctx::{clean_name, join, shown, Abort, Ctx};
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
    let handler = ctx.next_handler.take();
    let head = match blob.head(8192) {
        Ok(h) => h,
        Err(_) => {
            ctx.error = true;
            return Ok(Walked::default());
        }
    };
    let kind = detect(&head);
    // Every member found below is inside this blob: its ClamAV type joins the ancestry for
    // the walk, and leaves it whatever the walk's outcome.
    let cl = crate::ancestry::cl_type(kind, &head);
    let mut w = walk_as(ctx, blob, &head, kind, cl, path, depth)?;
    // A `HandlerType` signature matched the blob: open it as that type too (ClamAV hands the
    // object to the type's handler), unless it was opened so already.
    if let Some(t) = handler {
        match handler_kind(t) {
            Some(k) if k != kind && (!ctx.stop_at_first || ctx.threats.is_empty()) => {
                tracing::debug!(handler = %t, "HandlerType signature: opened as {}", k.name());
                merge(&mut w, walk_as(ctx, blob, &head, k, t, path, depth)?);
            }
            _ => {}
        }
    }
    Ok(w)
}

/// [`walk_kind`] with `cl` (the ClamAV type the blob is opened as) in the ancestry of every
/// member found below, whatever the walk's outcome.
fn walk_as(
    ctx: &mut Ctx,
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

/// [`walk`] once the blob's kind is known.
fn walk_kind(
    ctx: &mut Ctx,
    blob: &Blob,
    head: &[u8],
    kind: Kind,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let o = ctx.opts;
    let d = depth + 1;
    // A compression layer (gzip, bzip2, xz, zstd) holds one member and cannot fan out: it adds a
    // depth level only when it sits directly in another compression layer (so a .tar.gz counts
    // once, while a gzip quine still meets the depth limit).
    let parent_compressed = std::mem::replace(&mut ctx.in_compress, false);
    let corrupted = ctx.corrupted;
    let mut w = match kind {
        Kind::Zip if o.scan_archives => fmt::zip::walk(ctx, blob, path, d, kind)?,
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
        Kind::Chm if o.scan_archives => fmt::chm::walk(ctx, blob, path, d)?,
        Kind::Pdf if o.scan_archives => {
            // Its streams, and what any other object is searched for (a PDF head in front of
            // a zip is a known polyglot).
            let mut w = fmt::pdf::walk(ctx, blob, path, d)?;
            merge(
                &mut w,
                fmt::embedded::walk(ctx, blob, Kind::Other, path, d)?,
            );
            fmt::text::walk(ctx, blob, path, d, &mut w)?;
            merge(&mut w, fmt::zip::walk(ctx, blob, path, d, Kind::Other)?);
            w
        }
        Kind::Szdd if o.scan_archives => fmt::szdd::walk(ctx, blob, path, d)?,
        Kind::Legacy if o.scan_archives => match fmt::legacy::detect(head) {
            Some(f) => fmt::legacy::walk(ctx, blob, f, path, d)?,
            None => Walked::default(),
        },
        Kind::Pe | Kind::Elf => executable(ctx, blob, head, kind, path, d)?,
        Kind::Other if o.scan_archives => {
            let mut w = fmt::embedded::walk(ctx, blob, kind, path, d)?;
            fmt::text::walk(ctx, blob, path, d, &mut w)?;
            // A zip behind any prefix (a script, an image head, a bare `MZ`…) opens in unzip.
            merge(&mut w, fmt::zip::walk(ctx, blob, path, d, kind)?);
            w
        }
        _ => Walked::default(),
    };
    // A container that does not parse may be only a prefix in front of a zip (readers find
    // the zip from its end). Tar, mail and PDF are left out: their members are opened already
    // (a PDF is searched for a zip anyway), and the zips they hold would be counted twice.
    if o.scan_archives
        && ctx.corrupted
        && !corrupted
        && kind.is_container()
        && !matches!(
            kind,
            Kind::Zip | Kind::Tar | Kind::Mail | Kind::Mbox | Kind::Pdf
        )
    {
        merge(&mut w, fmt::zip::walk(ctx, blob, path, d, Kind::Other)?);
    }
    w.kind = Some(kind);
    if w.first_threat.is_none() {
        w.first_threat = w.infected.first().map(|(_, t)| t.clone());
    }
    Ok(w)
}

/// An executable: its packer (reported), the files of the installer it is (NSIS), and the
/// objects embedded in it, each as members at `depth`.
fn executable(
    ctx: &mut Ctx,
    blob: &Blob,
    head: &[u8],
    kind: Kind,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let o = ctx.opts;
    let mut w = Walked::default();
    if o.scan_packed {
        fmt::packer::walk(ctx, blob, head, path, depth)?;
    }
    if !(o.scan_packed || o.scan_archives) {
        return Ok(w);
    }
    if o.scan_archives {
        // Self-extracting zips, and zips appended to any executable.
        merge(&mut w, fmt::zip::walk(ctx, blob, path, depth, kind)?);
    }
    // One copy in memory for every parser below (executables above the cap are searched
    // by the embedded-object carver only).
    let data = match blob.bytes(fmt::nsis::MAX_INSTALLER) {
        Ok(Some(d)) => d,
        Ok(None) if o.scan_archives => {
            merge(&mut w, fmt::embedded::walk(ctx, blob, kind, path, depth)?);
            return Ok(w);
        }
        Ok(None) => return Ok(w),
        Err(_) => {
            ctx.error = true;
            return Ok(w);
        }
    };
    if o.scan_packed && kind == Kind::Pe {
        // UPX by our unpacker; every other packer (and UPX it could not open) by emulation.
        let packer = bulwark_formats::packer::identify(head);
        let mut opened = false;
        if packer == Some("UPX") {
            let (u, ok) = unpacked(ctx, &data, path, depth)?;
            merge(&mut w, u);
            opened = ok;
        }
        let packer = match packer {
            Some("NSIS" | "AutoIt") => None,
            Some(p) => Some(p),
            None if bulwark_formats::emu::looks_packed(&data) => Some("unknown packer"),
            None => None,
        };
        if let (Some(p), false) = (packer, opened) {
            merge(&mut w, fmt::emu::walk(ctx, &data, path, depth, p)?);
        }
    }
    if !o.scan_archives {
        return Ok(w);
    }
    if kind == Kind::Pe {
        merge(&mut w, fmt::nsis::walk(ctx, &data, path, depth)?);
        merge(&mut w, installer_files(ctx, &data, path, depth)?);
    }
    merge(
        &mut w,
        fmt::embedded::walk_data(ctx, &data, kind, path, depth)?,
    );
    Ok(w)
}

/// The image a packer (UPX) compressed, as one member at `depth`, so that signatures and the
/// embedded-object carver see the original code and data; `true` when it was unpacked.
fn unpacked(ctx: &mut Ctx, data: &[u8], path: &str, depth: u32) -> Result<(Walked, bool), Abort> {
    let mut w = Walked::default();
    let l = &ctx.opts.limits;
    let budget = l
        .max_member_bytes
        .min(l.max_total_bytes.saturating_sub(ctx.total))
        .min(fmt::nsis::MAX_DECOMPRESSED) as usize;
    match bulwark_formats::upx::unpack(data, budget) {
        Ok(image) => {
            let r = ctx.member_bytes(&image, &join(path, "upx-unpacked"), depth)?;
            note(&mut w, 0, r);
            return Ok((w, true));
        }
        Err(bulwark_formats::upx::UpxError::TooBig(_)) => ctx.hit("member size"),
        Err(e) => ctx
            .notes
            .push(format!("{}: UPX not unpacked: {e}", shown(path))),
    }
    Ok((w, false))
}

/// The files of the installers our own parsers read (AutoIt, InstallShield), as members at
/// `depth`.
fn installer_files(ctx: &mut Ctx, data: &[u8], path: &str, depth: u32) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    let l = &ctx.opts.limits;
    let budget = l
        .max_total_bytes
        .saturating_sub(ctx.total)
        .min(fmt::nsis::MAX_DECOMPRESSED) as usize;
    let max_files = l.max_members.saturating_sub(ctx.members) as usize;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    if memchr::memmem::find(data, b"AU3!EA0").is_some() {
        match bulwark_formats::autoit::extract(data, budget, max_files) {
            Ok(v) => files.extend(v.into_iter().map(|e| (e.name, e.data))),
            Err(bulwark_formats::autoit::AutoItError::NotAutoIt) => {}
            Err(e @ bulwark_formats::autoit::AutoItError::OutputLimit { .. })
            | Err(e @ bulwark_formats::autoit::AutoItError::TooManyFiles { .. }) => {
                ctx.notes.push(format!("{}: AutoIt: {e}", shown(path)));
                ctx.hit("total unpacked bytes");
            }
            Err(e) => {
                ctx.notes.push(format!("{}: AutoIt: {e}", shown(path)));
                ctx.corrupted = true;
            }
        }
    }
    if memchr::memmem::find(data, b"InstallShield\0").is_some()
        || memchr::memmem::find(data, b"ISc(").is_some()
    {
        let max_files = max_files.saturating_sub(files.len());
        let budget = budget.saturating_sub(files.iter().map(|f| f.1.len()).sum());
        match bulwark_formats::ishield::extract(data, budget, max_files) {
            Ok(v) => files.extend(v.into_iter().map(|e| (e.name, e.data))),
            Err(e @ bulwark_formats::ishield::IShieldError::TooLarge { .. })
            | Err(e @ bulwark_formats::ishield::IShieldError::TooManyFiles { .. }) => {
                ctx.notes
                    .push(format!("{}: InstallShield: {e}", shown(path)));
                ctx.hit("total unpacked bytes");
            }
            Err(e) => {
                ctx.notes
                    .push(format!("{}: InstallShield: {e}", shown(path)));
                ctx.corrupted = true;
            }
        }
    }
    for (i, (name, bytes)) in files.iter().enumerate() {
        let name = clean_name(&name.replace('\\', "/"), &format!("#{i}"));
        let r = ctx.member_bytes(bytes, &join(path, &name), depth)?;
        note(&mut w, i, r);
    }
    Ok(w)
}

/// Adds what another walk of the same blob found to `w`.
fn merge(w: &mut Walked, other: Walked) {
    if w.first_threat.is_none() {
        w.first_threat = other.first_threat;
    }
    w.infected.extend(other.infected);
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

#[cfg(test)]
mod tests {
    /// Every file type the engine says a `HandlerType` signature may name has an opener here.
    #[test]
    fn every_handled_type_has_an_opener() {
        for t in bulwark_engine::cltype::HANDLED {
            assert!(super::handler_kind(t).is_some(), "{t}");
        }
        assert!(super::handler_kind(bulwark_engine::cltype::ClType::Graphics).is_none());
    }
}
