//! PE (Windows executable) headers: the one reader of the DOS stub pointer, the COFF header, the
//! optional header and the section table that every part of Bulwark uses (file typing, ClamAV's
//! section hashes and offsets, the packer detector, the embedded-object carver, the
//! InstallShield overlay, the UPX unpacker and the emulator's loader).
//!
//! It reads fields as they are written and interprets nothing: each user applies its own rules
//! (ClamAV's alignment of section pointers, the Windows loader's rounding) to the raw values.
//! It works on a truncated head: the optional header's fields are read only as far as the data
//! goes, and the section table keeps every complete entry (at most [`MAX_SECTIONS`]).

use crate::le::{u16_at, u32_at, u64_at};

/// Most section entries read (ClamAV's and Windows' practical limit).
pub const MAX_SECTIONS: usize = 96;
/// The COFF machine value of i386 executables.
pub const MACHINE_I386: u16 = 0x14c;
/// The optional header magic of PE32 (32-bit) executables.
pub const MAGIC_PE32: u16 = 0x10b;
/// The optional header magic of PE32+ (64-bit) executables.
pub const MAGIC_PE32_PLUS: u16 = 0x20b;
/// The section flag "memory is writable".
pub const SCN_MEM_WRITE: u32 = 0x8000_0000;
/// Data directory index of the import table.
pub const DIR_IMPORT: usize = 1;
/// Data directory index of the resource table.
pub const DIR_RESOURCE: usize = 2;

/// Why bytes are not a PE executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeError {
    /// The data does not start with `MZ`.
    #[error("no MZ header")]
    NoMz,
    /// The headers end before the field that was needed.
    #[error("headers cut short")]
    Short,
    /// `e_lfanew` does not point at `PE\0\0`.
    #[error("no PE signature")]
    NoSignature,
}

/// One section table entry, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// The name field (8 bytes, NUL-padded).
    pub name_field: [u8; 8],
    /// `VirtualSize`.
    pub virtual_size: u32,
    /// `VirtualAddress` (RVA of the section in memory).
    pub rva: u32,
    /// `SizeOfRawData`.
    pub raw_size: u32,
    /// `PointerToRawData` (file offset of its data).
    pub raw_offset: u32,
    /// `Characteristics`.
    pub flags: u32,
}

impl Section {
    /// The name without its NUL padding.
    pub fn name(&self) -> &[u8] {
        let n = self.name_field.iter().position(|&c| c == 0).unwrap_or(8);
        &self.name_field[..n]
    }

    /// Whether the section is mapped writable.
    pub fn writable(&self) -> bool {
        self.flags & SCN_MEM_WRITE != 0
    }

    /// Whether `rva` lies in the section's memory span (the larger of its virtual and raw size).
    pub fn contains_rva(&self, rva: u32) -> bool {
        let span = self.virtual_size.max(self.raw_size);
        rva >= self.rva && rva - self.rva < span
    }
}

/// The optional header's fields that Bulwark reads (those the data holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Optional {
    /// `Magic`: [`MAGIC_PE32`], [`MAGIC_PE32_PLUS`] or something else.
    pub magic: u16,
    /// `AddressOfEntryPoint`.
    pub entry: u32,
    /// `ImageBase`.
    pub image_base: u64,
    /// `SectionAlignment`.
    pub section_alignment: u32,
    /// `FileAlignment`.
    pub file_alignment: u32,
    /// `SizeOfImage`.
    pub size_of_image: u32,
    /// `SizeOfHeaders`.
    pub size_of_headers: u32,
}

/// The headers of a PE executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// File offset of the `PE\0\0` signature (`e_lfanew`).
    pub signature: usize,
    /// COFF `Machine`.
    pub machine: u16,
    /// COFF `NumberOfSections`, as declared (the table may hold fewer).
    pub declared_sections: usize,
    /// COFF `SizeOfOptionalHeader`.
    pub optional_size: usize,
    /// The optional header, when the data holds it up to `SizeOfHeaders`.
    pub optional: Option<Optional>,
    /// `AddressOfEntryPoint` alone, when the data holds it (a head too short for the whole
    /// optional header still gives it).
    pub entry: Option<u32>,
    /// File offset of the section table.
    pub section_table: usize,
    /// The complete section entries the data holds, at most [`MAX_SECTIONS`].
    pub sections: Vec<Section>,
    /// File offset of the data directories and how many the header declares.
    data_dirs: Option<(usize, u32)>,
}

impl Headers {
    /// Reads the headers of the PE that `d` starts with.
    pub fn parse(d: &[u8]) -> Result<Headers, PeError> {
        if !d.starts_with(b"MZ") {
            return Err(PeError::NoMz);
        }
        let signature = u32_at(d, 0x3c).ok_or(PeError::Short)? as usize;
        match d.get(signature..signature.saturating_add(4)) {
            Some(b"PE\0\0") => {}
            Some(_) => return Err(PeError::NoSignature),
            None if signature < d.len() => return Err(PeError::Short),
            None => return Err(PeError::NoSignature),
        }
        let coff = signature + 4;
        let machine = u16_at(d, coff).ok_or(PeError::Short)?;
        let declared_sections = usize::from(u16_at(d, coff + 2).ok_or(PeError::Short)?);
        let optional_size = usize::from(u16_at(d, coff + 16).ok_or(PeError::Short)?);
        let o = coff + 20;
        let magic = u16_at(d, o);
        let entry = u32_at(d, o + 16);
        let plus = magic == Some(MAGIC_PE32_PLUS);
        let optional = (|| {
            let f = |off: usize| u32_at(d, o + off);
            Some(Optional {
                magic: magic?,
                entry: entry?,
                image_base: if plus {
                    u64_at(d, o + 24)?
                } else {
                    u64::from(f(28)?)
                },
                section_alignment: f(32)?,
                file_alignment: f(36)?,
                size_of_image: f(56)?,
                size_of_headers: f(60)?,
            })
        })();
        let dirs = o + if plus { 112 } else { 96 };
        let data_dirs = magic.map(|_| (dirs, u32_at(d, dirs - 4).unwrap_or(0)));
        let section_table = o + optional_size;
        let sections = (0..declared_sections.min(MAX_SECTIONS))
            .map_while(|i| section(d, section_table + 40 * i))
            .collect();
        Ok(Headers {
            signature,
            machine,
            declared_sections,
            optional_size,
            optional,
            entry,
            section_table,
            sections,
            data_dirs,
        })
    }

    /// Whether the optional header says PE32+ (64-bit).
    pub fn is_plus(&self) -> bool {
        self.optional.is_some_and(|o| o.magic == MAGIC_PE32_PLUS)
    }

    /// `NumberOfRvaAndSizes`: how many data directories the header declares.
    pub fn declared_data_dirs(&self) -> u32 {
        self.data_dirs.map_or(0, |(_, n)| n)
    }

    /// The `(RVA, size)` of data directory `index` as written where it would be, whether or
    /// not `NumberOfRvaAndSizes` counts it (ClamAV reads it so; a loader checks
    /// [`Headers::declared_data_dirs`] first).
    pub fn data_dir(&self, d: &[u8], index: usize) -> Option<(u32, u32)> {
        let (at, _) = self.data_dirs?;
        let e = at + 8 * index;
        Some((u32_at(d, e)?, u32_at(d, e + 4)?))
    }

    /// The file offset of the entry point: through the first section whose memory span holds
    /// it, else the RVA itself (headers map one to one).
    pub fn entry_offset(&self) -> Option<u64> {
        let ep = self.entry?;
        Some(
            self.sections
                .iter()
                .find(|s| s.contains_rva(ep))
                .map(|s| u64::from(s.raw_offset) + u64::from(ep - s.rva))
                .unwrap_or(u64::from(ep)),
        )
    }

    /// Where the image as laid out in the file ends: the end of the declared section table or
    /// of the furthest section data, whichever is later (the overlay, if any, starts there).
    pub fn file_end(&self) -> u64 {
        let table = self.section_table as u64 + 40 * self.declared_sections as u64;
        self.sections
            .iter()
            .filter(|s| s.raw_size > 0)
            .map(|s| u64::from(s.raw_offset) + u64::from(s.raw_size))
            .fold(table, u64::max)
    }

    /// The section whose memory span holds `rva` (the first one, in table order).
    pub fn section_of(&self, rva: u32) -> Option<(usize, &Section)> {
        self.sections
            .iter()
            .enumerate()
            .find(|(_, s)| s.contains_rva(rva))
    }
}

fn section(d: &[u8], s: usize) -> Option<Section> {
    let name = d.get(s..s.checked_add(8)?)?;
    let mut name_field = [0u8; 8];
    name_field.copy_from_slice(name);
    Some(Section {
        name_field,
        virtual_size: u32_at(d, s + 8)?,
        rva: u32_at(d, s + 12)?,
        raw_size: u32_at(d, s + 16)?,
        raw_offset: u32_at(d, s + 20)?,
        flags: u32_at(d, s + 36)?,
    })
}

/// Builders of small PE files for the tests below.
#[cfg(test)]
mod build {
    /// A minimal i386 PE32: headers at 0, one section `.text` (RVA 0x1000, file offset 0x200)
    /// holding `code`, the entry point at its start.
    pub fn tiny(code: &[u8]) -> Vec<u8> {
        sections(&[(b".text", 0x1000, code, 0x6000_0020)], 0x1000)
    }

    /// A PE32 whose sections are `(name, RVA, data, flags)`, their data placed one after the
    /// other from file offset 0x200 (each padded to 0x200), entry point at RVA `entry`.
    pub fn sections(secs: &[(&[u8], u32, &[u8], u32)], entry: u32) -> Vec<u8> {
        let mut d = vec![0u8; 0x200];
        d[..2].copy_from_slice(b"MZ");
        d[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        d[0x80..0x84].copy_from_slice(b"PE\0\0");
        let put16 =
            |d: &mut Vec<u8>, o: usize, v: u16| d[o..o + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |d: &mut Vec<u8>, o: usize, v: u32| d[o..o + 4].copy_from_slice(&v.to_le_bytes());
        put16(&mut d, 0x84, super::MACHINE_I386);
        put16(&mut d, 0x86, secs.len() as u16);
        put16(&mut d, 0x94, 0xe0);
        let o = 0x98;
        put16(&mut d, o, super::MAGIC_PE32);
        put32(&mut d, o + 16, entry);
        put32(&mut d, o + 28, 0x0040_0000);
        put32(&mut d, o + 32, 0x1000);
        put32(&mut d, o + 36, 0x200);
        let image_end = secs
            .iter()
            .map(|s| s.1 + (s.2.len() as u32).div_ceil(0x1000).max(1) * 0x1000)
            .max()
            .unwrap_or(0x1000);
        put32(&mut d, o + 56, image_end);
        put32(&mut d, o + 60, 0x200);
        put32(&mut d, o + 92, 16);
        let mut raw = 0x200u32;
        let mut body = Vec::new();
        for (i, (name, rva, data, flags)) in secs.iter().enumerate() {
            let s = o + 0xe0 + 40 * i;
            let n = name.len().min(8);
            d[s..s + n].copy_from_slice(&name[..n]);
            let size = (data.len() as u32).div_ceil(0x200) * 0x200;
            put32(&mut d, s + 8, data.len() as u32);
            put32(&mut d, s + 12, *rva);
            put32(&mut d, s + 16, size);
            put32(&mut d, s + 20, raw);
            put32(&mut d, s + 36, *flags);
            let mut chunk = data.to_vec();
            chunk.resize(size as usize, 0);
            body.extend_from_slice(&chunk);
            raw += size;
        }
        d.extend_from_slice(&body);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_headers_sections_entry_and_end() {
        let pe = build::sections(
            &[
                (b".text", 0x1000, &[0x90; 0x300], 0x6000_0020),
                (b"UPX1", 0x3000, &[1; 10], 0xe000_0040),
            ],
            0x3004,
        );
        let h = Headers::parse(&pe).expect("pe");
        assert_eq!(h.signature, 0x80);
        assert_eq!(h.machine, MACHINE_I386);
        assert_eq!(h.sections.len(), 2);
        assert_eq!(h.sections[0].name(), b".text");
        assert_eq!(h.sections[1].name(), b"UPX1");
        assert!(h.sections[1].writable() && !h.sections[0].writable());
        let o = h.optional.expect("optional");
        assert_eq!(
            (o.magic, o.image_base, o.size_of_image),
            (MAGIC_PE32, 0x40_0000, 0x4000)
        );
        // .text takes 0x400 bytes of file from 0x200; UPX1's data follows at 0x600.
        assert_eq!(h.entry_offset(), Some(0x604));
        assert_eq!(h.file_end(), 0x800);
        assert_eq!(h.section_of(0x3004).map(|s| s.0), Some(1));
        assert_eq!(h.data_dir(&pe, DIR_IMPORT), Some((0, 0)));
        assert_eq!(h.declared_data_dirs(), 16);
        assert!(!h.is_plus());
    }

    #[test]
    fn a_truncated_head_keeps_what_it_holds() {
        let pe = build::tiny(&[0xc3; 16]);
        let h = Headers::parse(&pe[..0x98 + 20]).expect("coff only");
        assert_eq!(h.entry, Some(0x1000));
        assert!(h.optional.is_none());
        assert!(h.sections.is_empty());
        assert_eq!(h.declared_sections, 1);
        // Cut in the middle of the only section entry: no section, no panic.
        let h = Headers::parse(&pe[..0x98 + 0xe0 + 20]).expect("headers");
        assert!(h.optional.is_some() && h.sections.is_empty());
    }

    #[test]
    fn refuses_what_is_not_a_pe() {
        assert_eq!(Headers::parse(b"ZM"), Err(PeError::NoMz));
        assert_eq!(Headers::parse(b"MZ"), Err(PeError::Short));
        let mut pe = build::tiny(&[0xc3]);
        pe[0x80] = b'X';
        assert_eq!(Headers::parse(&pe), Err(PeError::NoSignature));
        pe[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Headers::parse(&pe), Err(PeError::NoSignature));
        assert_eq!(
            Headers::parse(&pe[..0x82]).err(),
            Some(PeError::NoSignature)
        );
    }
}
