//! Which packer made an executable (UPX, ASPack, PECompact, FSG, MEW, Petite, …), from its
//! section names and packer marks.

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
    let h = crate::pe::Headers::parse(d).ok()?;
    h.sections.iter().find_map(|s| {
        SECTIONS
            .iter()
            .find(|(p, _)| s.name().starts_with(p))
            .map(|&(_, packer)| packer)
    })
}
