//! Packed executables: which packer made them (UPX, ASPack, PECompact, FSG, MEW, Petite, …),
//! from section names and packer marks. Packed code is not unpacked (yet): the packer is
//! reported in the verdict's notes so that policy can act on it.

use crate::blob::Blob;
use crate::ctx::{Abort, Ctx};

/// Section names (or name prefixes) left by packers.
const SECTIONS: [(&[u8], &str); 22] = [
    (b"UPX0", "UPX"),
    (b"UPX1", "UPX"),
    (b"UPX2", "UPX"),
    (b".aspack", "ASPack"),
    (b".adata", "ASPack"),
    (b"pec1", "PECompact"),
    (b"PEC2", "PECompact"),
    (b"PECompact2", "PECompact"),
    (b".petite", "Petite"),
    (b"MEW", "MEW"),
    (b".nsp0", "NsPack"),
    (b".nsp1", "NsPack"),
    (b".MPRESS1", "MPRESS"),
    (b".MPRESS2", "MPRESS"),
    (b".themida", "Themida"),
    (b".enigma1", "Enigma"),
    (b".yP", "yoda's Crypter"),
    (b"y0da", "yoda's Crypter"),
    (b".WWP32", "WWPack32"),
    (b"PESpin", "PESpin"),
    (b".taz", "PESpin"),
    (b".vmp0", "VMProtect"),
];

/// The packer of the executable whose first bytes are `head`, if one is recognised.
pub fn identify(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"MZKERNEL32.DLL") {
        return Some("Upack");
    }
    if memchr::memmem::find(head, b"AU3!EA05").is_some()
        || memchr::memmem::find(head, b"AU3!EA06").is_some()
    {
        return Some("AutoIt");
    }
    if head.starts_with(b"MZ") {
        if let Some(name) = pe_sections(head) {
            return Some(name);
        }
        if memchr::memmem::find(head, b"Nullsoft").is_some() {
            return Some("NSIS");
        }
    }
    if head.starts_with(b"\x7fELF") || head.starts_with(b"MZ") {
        // UPX's own mark ("UPX!") sits near the headers of every UPX-packed file.
        if memchr::memmem::find(&head[..head.len().min(4096)], b"UPX!").is_some() {
            return Some("UPX");
        }
    }
    None
}

fn pe_sections(d: &[u8]) -> Option<&'static str> {
    let pe = d
        .get(0x3c..0x40)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)?;
    if d.get(pe..pe + 4)? != b"PE\0\0" {
        return None;
    }
    let nsec = d
        .get(pe + 6..pe + 8)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)?;
    let opt = d
        .get(pe + 20..pe + 22)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)?;
    let table = pe + 24 + opt;
    for i in 0..nsec.min(96) {
        let name = d.get(table + i * 40..table + i * 40 + 8)?;
        let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(8)];
        for (p, packer) in SECTIONS {
            if name.starts_with(p) {
                return Some(packer);
            }
        }
    }
    None
}

/// Notes the packer of the executable in `blob`, if any.
pub(crate) fn walk(
    ctx: &mut Ctx,
    _blob: &Blob,
    head: &[u8],
    path: &str,
    _depth: u32,
) -> Result<(), Abort> {
    if let Some(p) = identify(head) {
        ctx.packers
            .push((crate::ctx::shown(path).to_string(), p.to_string()));
    }
    Ok(())
}
