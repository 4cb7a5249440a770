//! Executable layouts: entry point and sections, for PE (`bulwark_formats::pe`) and ELF
//! (goblin).

use crate::sigs::offset::ExeInfo;

/// PE layout from the headers alone (works on a truncated head): entry point file offset and
/// section raw ranges.
pub fn pe_layout(d: &[u8]) -> Option<ExeInfo> {
    let h = bulwark_formats::pe::Headers::parse(d).ok()?;
    Some(ExeInfo {
        ep: h.entry_offset()?,
        sections: h
            .sections
            .iter()
            .map(|s| (u64::from(s.raw_offset), u64::from(s.raw_size)))
            .collect(),
    })
}

/// ELF layout via goblin's header parsers: entry point mapped through the program headers.
pub fn elf_layout(d: &[u8]) -> Option<ExeInfo> {
    use goblin::elf::{
        header::Header, program_header::ProgramHeader, section_header::SectionHeader,
    };
    let hdr: Header = goblin::elf::Elf::parse_header(d).ok()?;
    let ctx = goblin::container::Ctx::new(
        if hdr.e_ident[4] == 2 {
            goblin::container::Container::Big
        } else {
            goblin::container::Container::Little
        },
        if hdr.e_ident[5] == 2 {
            goblin::container::Endian::Big
        } else {
            goblin::container::Endian::Little
        },
    );
    let phs = ProgramHeader::parse(
        d,
        hdr.e_phoff as usize,
        (hdr.e_phnum as usize).min(256),
        ctx,
    )
    .ok()?;
    let ep = phs
        .iter()
        .find(|p| {
            p.p_type == goblin::elf::program_header::PT_LOAD
                && hdr.e_entry >= p.p_vaddr
                && hdr.e_entry < p.p_vaddr + p.p_filesz
        })
        .map(|p| p.p_offset + (hdr.e_entry - p.p_vaddr))
        .unwrap_or(hdr.e_entry);
    let sections = SectionHeader::parse(
        d,
        hdr.e_shoff as usize,
        (hdr.e_shnum as usize).min(256),
        ctx,
    )
    .map(|v| v.iter().map(|s| (s.sh_offset, s.sh_size)).collect())
    .unwrap_or_default();
    Some(ExeInfo { ep, sections })
}

/// PE sections' raw data ranges `(offset, size)` as ClamAV 1.4 hashes them for `.mdb`/`.msb`
/// signatures: pointer and size aligned to the file alignment (with ClamAV's 0x200 fallback),
/// size cut at the end of the file (see `crate::pe`).
pub fn pe_sections(d: &[u8]) -> Vec<(u64, u64)> {
    crate::pe::section_ranges(d)
}
