//! Executables (PE, ELF): the packer (reported), the image a packer compressed (UPX by
//! `bulwark_formats::upx`, every other packer by emulation), the files of the installers we
//! read (NSIS, AutoIt, InstallShield), zips appended to them and the objects embedded in them.

use crate::blob::Blob;
use crate::fmt;
use crate::kind::Kind;
use crate::scan::{clean_name, join, merge, note, shown, Abort, Finding, Limit, Scan, Walked};

/// An executable: its packer (reported), the files of the installer it is (NSIS), and the
/// objects embedded in it, each as members at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    head: &[u8],
    kind: Kind,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let o = ctx.options();
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
            ctx.note(Finding::Error);
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
fn unpacked<'o>(
    ctx: &mut impl Scan<'o>,
    data: &[u8],
    path: &str,
    depth: u32,
) -> Result<(Walked, bool), Abort> {
    let mut w = Walked::default();
    let l = &ctx.options().limits;
    let budget = l
        .max_member_bytes
        .min(l.max_total_bytes.saturating_sub(ctx.usage().bytes))
        .min(fmt::nsis::MAX_DECOMPRESSED) as usize;
    match bulwark_formats::upx::unpack(data, budget) {
        Ok(image) => {
            let r = ctx.member_bytes(&image, &join(path, "upx-unpacked"), depth)?;
            note(&mut w, 0, r);
            return Ok((w, true));
        }
        Err(bulwark_formats::upx::UpxError::TooBig(_)) => ctx.hit(Limit::MemberSize),
        Err(e) => ctx.note(Finding::Note(format!(
            "{}: UPX not unpacked: {e}",
            shown(path)
        ))),
    }
    Ok((w, false))
}

/// The files of the installers our own parsers read (AutoIt, InstallShield), as members at
/// `depth`.
fn installer_files<'o>(
    ctx: &mut impl Scan<'o>,
    data: &[u8],
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    let l = &ctx.options().limits;
    let budget = l
        .max_total_bytes
        .saturating_sub(ctx.usage().bytes)
        .min(fmt::nsis::MAX_DECOMPRESSED) as usize;
    let max_files = l.max_members.saturating_sub(ctx.usage().members) as usize;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    if memchr::memmem::find(data, b"AU3!EA0").is_some() {
        match bulwark_formats::autoit::extract(data, budget, max_files) {
            Ok(v) => files.extend(v.into_iter().map(|e| (e.name, e.data))),
            Err(bulwark_formats::autoit::AutoItError::NotAutoIt) => {}
            Err(e @ bulwark_formats::autoit::AutoItError::OutputLimit { .. })
            | Err(e @ bulwark_formats::autoit::AutoItError::TooManyFiles { .. }) => {
                ctx.note(Finding::Note(format!("{}: AutoIt: {e}", shown(path))));
                ctx.hit(Limit::TotalBytes);
            }
            Err(e) => {
                ctx.note(Finding::Note(format!("{}: AutoIt: {e}", shown(path))));
                ctx.note(Finding::Corrupted);
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
                ctx.note(Finding::Note(format!(
                    "{}: InstallShield: {e}",
                    shown(path)
                )));
                ctx.hit(Limit::TotalBytes);
            }
            Err(e) => {
                ctx.note(Finding::Note(format!(
                    "{}: InstallShield: {e}",
                    shown(path)
                )));
                ctx.note(Finding::Corrupted);
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
