//! File-type detection (magic numbers) mapped to ClamAV target types, and executable layout
//! (entry point and sections) for PE (`bulwark_formats::pe`) and ELF (goblin).

use crate::sigs::offset::ExeInfo;

/// ClamAV target types.
pub mod target {
    /// Any file.
    pub const ANY: u8 = 0;
    /// PE executable.
    pub const PE: u8 = 1;
    /// OLE2 compound document.
    pub const OLE2: u8 = 2;
    /// HTML (normalised).
    pub const HTML: u8 = 3;
    /// Mail.
    pub const MAIL: u8 = 4;
    /// Graphics.
    pub const GRAPHICS: u8 = 5;
    /// ELF executable.
    pub const ELF: u8 = 6;
    /// ASCII text (normalised).
    pub const TEXT: u8 = 7;
    /// Mach-O executable.
    pub const MACHO: u8 = 9;
    /// PDF.
    pub const PDF: u8 = 10;
    /// Flash.
    pub const FLASH: u8 = 11;
    /// Java class.
    pub const JAVA: u8 = 12;
    /// Number of target slots.
    pub const COUNT: usize = 13;
}

/// Bytes of the object's head used for detection.
pub const DETECT_LEN: usize = 4096;

/// Tags whose presence makes ClamAV 1.4 type a text object as HTML (its built-in file-type
/// magic: case-sensitive, in these spellings only).
const HTML_TAGS: [&[u8]; 22] = [
    b"<HEAD>",
    b"<HTML>",
    b"<Head>",
    b"<Html>",
    b"<head>",
    b"<html>",
    b"<IFRAME",
    b"<iframe",
    b"<IMG",
    b"<Img",
    b"<img",
    b"<OBJECT",
    b"<Object",
    b"<object",
    b"<SCRIPT",
    b"<Script",
    b"<script",
    b"<TABLE",
    b"<table",
    b"<A ",
    b"<a ",
    b"<%@ LANGUAGE =",
];

/// Bytes of the head in which HTML magic types an object as HTML (observed: a tag ending
/// within the first 1024 bytes does, later ones do not).
pub const HTML_HEAD: usize = 1024;

/// True when `hay` holds ClamAV's HTML magic: one of `HTML_TAGS` (`<%@ LANGUAGE =` only at
/// the start; `<a ` / `<A ` only when `href` follows somewhere, in any of the case mixes
/// `href`, `HREF`, `hREF`, `Href`…: `[hH][rR](EF|ef)`). One memchr pass over the `<`s, plus
/// at most one forward search for `href` per object.
pub fn html_magic(hay: &[u8]) -> bool {
    let mut anchor_seen = false;
    for i in memchr::memchr_iter(b'<', hay) {
        let rest = &hay[i..];
        // Every tag's second byte is one of these: most `<` of XML and markup-heavy text are
        // passed over without trying the tags one by one.
        if !matches!(
            rest.get(1),
            Some(
                b'H' | b'h'
                    | b'I'
                    | b'i'
                    | b'O'
                    | b'o'
                    | b'S'
                    | b's'
                    | b'T'
                    | b't'
                    | b'A'
                    | b'a'
                    | b'%'
            )
        ) {
            continue;
        }
        for t in HTML_TAGS {
            if !rest.starts_with(t) {
                continue;
            }
            if t.starts_with(b"<%") && i != 0 {
                continue;
            }
            if t.eq_ignore_ascii_case(b"<a ") {
                if anchor_seen {
                    continue;
                }
                anchor_seen = true;
                let after = &hay[i + 3..];
                let href = after.windows(4).any(|w| {
                    matches!(w[0], b'h' | b'H')
                        && matches!(w[1], b'r' | b'R')
                        && (&w[2..] == b"EF" || &w[2..] == b"ef")
                });
                if !href {
                    continue;
                }
            }
            return true;
        }
    }
    false
}

/// Detects the target type of an object from its first bytes.
pub fn detect(head: &[u8]) -> u8 {
    use target::*;
    let h = |m: &[u8]| head.starts_with(m);
    if h(b"MZ") {
        return if pe_layout(head).is_some() { PE } else { ANY };
    }
    if h(b"\x7fELF") {
        return ELF;
    }
    if h(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        return OLE2;
    }
    if h(b"\xfe\xed\xfa\xce")
        || h(b"\xfe\xed\xfa\xcf")
        || h(b"\xce\xfa\xed\xfe")
        || h(b"\xcf\xfa\xed\xfe")
    {
        return MACHO;
    }
    if h(b"\xca\xfe\xba\xbe") {
        let v = head
            .get(4..8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0);
        return if v > 30 { JAVA } else { MACHO };
    }
    if h(b"FWS") || h(b"CWS") || h(b"ZWS") {
        return FLASH;
    }
    if head[..head.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
    {
        return PDF;
    }
    if h(b"GIF8") || h(b"\x89PNG") || h(b"\xff\xd8\xff") || h(b"BM") || h(b"II*\0") || h(b"MM\0*") {
        return GRAPHICS;
    }
    let text = head.iter().all(|&b| {
        b >= 0x20 || matches!(b, 0x07 | 0x08 | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1b)
    });
    if text {
        let mail_hdrs: [&[u8]; 6] = [
            b"From ",
            b"Received:",
            b"Return-Path:",
            b"Delivered-To:",
            b"X-Mailer:",
            b"Message-ID:",
        ];
        if mail_hdrs.iter().any(|m| h(m)) {
            return MAIL;
        }
    }
    // ClamAV applies its HTML magic to binary data too.
    if html_magic(&head[..head.len().min(HTML_HEAD)]) {
        return HTML;
    }
    if text {
        return TEXT;
    }
    ANY
}

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

#[cfg(test)]
pub(crate) mod tests {
    /// HTML typing as clamscan 1.4.6 does it (samples of tests/differential.rs
    /// `html_typing_as_clamscan`).
    #[test]
    fn html_is_typed_as_clamav_does() {
        use super::target::{HTML, TEXT};
        for t in [
            b"xx <img src=x>".as_slice(),
            b"xx <IMG src=x>",
            b"xx <Img src=x>",
            b"<object data=x>",
            b"<table>",
            b"<TABLE border=1>",
            b"<html>",
            b"<HTML>",
            b"<Script>",
            b"<iframe src=x>",
            b"<a href=\"x\">",
            b"<a  id=1 HREF=\"x\">",
            b"<A class=b HrEF=x>",
            b"<%@ LANGUAGE = VBScript %>",
            b"\x00\x01<img src=x>",
        ] {
            assert_eq!(super::detect(t), HTML, "{:?}", String::from_utf8_lossy(t));
        }
        for t in [
            b"xx <iMg src=x>".as_slice(),
            b"<html lang=en>",
            b"<body>",
            b"<!DOCTYPE html>",
            b"<a name=x>",
            b"x <%@ LANGUAGE = VBScript %>",
            b"<sCRIPT>",
        ] {
            assert_eq!(super::detect(t), TEXT, "{:?}", String::from_utf8_lossy(t));
        }
        let mut late = vec![b'z'; 1100];
        late.extend_from_slice(b"<img src=x>");
        assert_eq!(super::detect(&late), TEXT);
        assert!(super::html_magic(&late));
    }

    use super::*;

    /// A minimal PE32 image: headers, one section `.text` at file offset 0x200 holding `code`,
    /// entry point at the section start.
    pub(crate) fn tiny_pe(code: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 0x200];
        d[0..2].copy_from_slice(b"MZ");
        d[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        d[0x80..0x84].copy_from_slice(b"PE\0\0");
        let c = 0x84;
        d[c..c + 2].copy_from_slice(&0x14cu16.to_le_bytes());
        d[c + 2..c + 4].copy_from_slice(&1u16.to_le_bytes());
        d[c + 16..c + 18].copy_from_slice(&0xe0u16.to_le_bytes());
        d[c + 18..c + 20].copy_from_slice(&0x0102u16.to_le_bytes());
        let o = c + 20;
        d[o..o + 2].copy_from_slice(&0x10bu16.to_le_bytes());
        d[o + 16..o + 20].copy_from_slice(&0x1000u32.to_le_bytes());
        d[o + 28..o + 32].copy_from_slice(&0x400000u32.to_le_bytes());
        d[o + 32..o + 36].copy_from_slice(&0x1000u32.to_le_bytes());
        d[o + 36..o + 40].copy_from_slice(&0x200u32.to_le_bytes());
        d[o + 40..o + 42].copy_from_slice(&4u16.to_le_bytes());
        d[o + 48..o + 50].copy_from_slice(&4u16.to_le_bytes());
        let raw = code.len().div_ceil(0x200) * 0x200;
        d[o + 56..o + 60]
            .copy_from_slice(&(0x1000u32 + (raw as u32).next_multiple_of(0x1000)).to_le_bytes());
        d[o + 60..o + 64].copy_from_slice(&0x200u32.to_le_bytes());
        d[o + 68..o + 70].copy_from_slice(&2u16.to_le_bytes());
        d[o + 92..o + 96].copy_from_slice(&16u32.to_le_bytes());
        let s = o + 0xe0;
        d[s..s + 5].copy_from_slice(b".text");
        d[s + 8..s + 12].copy_from_slice(&(raw as u32).to_le_bytes());
        d[s + 12..s + 16].copy_from_slice(&0x1000u32.to_le_bytes());
        d[s + 16..s + 20].copy_from_slice(&(raw as u32).to_le_bytes());
        d[s + 20..s + 24].copy_from_slice(&0x200u32.to_le_bytes());
        d[s + 36..s + 40].copy_from_slice(&0x6000_0020u32.to_le_bytes());
        let mut sec = code.to_vec();
        sec.resize(raw, 0);
        d.extend_from_slice(&sec);
        d
    }

    #[test]
    fn detects_types_and_pe_layout() {
        let pe = tiny_pe(b"\x55\x8b\xec");
        assert_eq!(detect(&pe), target::PE);
        let l = pe_layout(&pe).unwrap();
        assert_eq!(l.ep, 0x200);
        assert_eq!(l.sections, vec![(0x200, 0x200)]);
        assert_eq!(pe_sections(&pe), vec![(0x200, 0x200)]);
        assert_eq!(detect(b"\x7fELF\x02\x01"), target::ELF);
        assert_eq!(detect(b"%PDF-1.4\n"), target::PDF);
        assert_eq!(detect(b"<HTML><body>x"), target::HTML);
        assert_eq!(detect(b"hello world\n"), target::TEXT);
        assert_eq!(detect(b"From a@b\nSubject: x\n"), target::MAIL);
        assert_eq!(detect(b"\x00\x01\x02\xff"), target::ANY);
        assert_eq!(detect(b"\xca\xfe\xba\xbe\x00\x00\x00\x34"), target::JAVA);
    }
}
