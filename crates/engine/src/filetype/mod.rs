//! File-type detection mapped to ClamAV's signature target types ([`Target`]): the magic
//! numbers are `bulwark_filetype`'s ([`FileType`], one table shared with the deep scanner and
//! the policy), completed by ClamAV's typing rules that are no magic number (PE headers, the
//! Java class version, `%PDF-` further in, text, mail and HTML); and executable layouts (entry
//! point and sections) for PE and ELF.

mod exe;
mod target;

pub use bulwark_filetype::{sniff, FileType, Magic, HEAD_LEN, TABLE};
pub use exe::{elf_layout, pe_layout, pe_sections};
pub use target::{Target, UnknownTarget};

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

/// The file types ClamAV's graphics target applies to.
const GRAPHICS: [FileType; 5] = [
    FileType::Gif,
    FileType::Png,
    FileType::Jpeg,
    FileType::Bmp,
    FileType::Tiff,
];

/// Mail header fields that type a text object as mail when it starts with one.
const MAIL_HEADERS: [&[u8]; 6] = [
    b"From ",
    b"Received:",
    b"Return-Path:",
    b"Delivered-To:",
    b"X-Mailer:",
    b"Message-ID:",
];

/// Detects the target type of an object from its first bytes.
pub fn detect(head: &[u8]) -> Target {
    // Executables and OLE2 by their magic numbers first: an `MZ` that is no PE is nothing else.
    if FileType::Pe.matches(head) {
        return if pe_layout(head).is_some() {
            Target::Pe
        } else {
            Target::Any
        };
    }
    if FileType::Elf.matches(head) {
        return Target::Elf;
    }
    if FileType::Ole2.matches(head) {
        return Target::Ole2;
    }
    if FileType::MachO.matches(head) {
        return Target::MachO;
    }
    if FileType::MachOFatOrClass.matches(head) {
        // A Java class's major version is above 30; a universal binary's count of
        // architectures is not.
        let v = head
            .get(4..8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0);
        return if v > 30 { Target::Java } else { Target::MachO };
    }
    if FileType::Swf.matches(head) {
        return Target::Flash;
    }
    if head[..head.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
    {
        return Target::Pdf;
    }
    if GRAPHICS.iter().any(|t| t.matches(head)) {
        return Target::Graphics;
    }
    let text = head.iter().all(|&b| {
        b >= 0x20 || matches!(b, 0x07 | 0x08 | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1b)
    });
    if text && MAIL_HEADERS.iter().any(|m| head.starts_with(m)) {
        return Target::Mail;
    }
    // ClamAV applies its HTML magic to binary data too.
    if html_magic(&head[..head.len().min(HTML_HEAD)]) {
        return Target::Html;
    }
    if text {
        return Target::Text;
    }
    Target::Any
}

#[cfg(test)]
pub(crate) mod tests {
    /// HTML typing as clamscan 1.4.6 does it (samples of tests/differential.rs
    /// `html_typing_as_clamscan`).
    #[test]
    fn html_is_typed_as_clamav_does() {
        use super::Target::{Html as HTML, Text as TEXT};
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
        assert_eq!(detect(&pe), Target::Pe);
        let l = pe_layout(&pe).unwrap();
        assert_eq!(l.ep, 0x200);
        assert_eq!(l.sections, vec![(0x200, 0x200)]);
        assert_eq!(pe_sections(&pe), vec![(0x200, 0x200)]);
        assert_eq!(detect(b"\x7fELF\x02\x01"), Target::Elf);
        assert_eq!(detect(b"%PDF-1.4\n"), Target::Pdf);
        assert_eq!(detect(b"<HTML><body>x"), Target::Html);
        assert_eq!(detect(b"hello world\n"), Target::Text);
        assert_eq!(detect(b"From a@b\nSubject: x\n"), Target::Mail);
        assert_eq!(detect(b"\x00\x01\x02\xff"), Target::Any);
        assert_eq!(detect(b"\xca\xfe\xba\xbe\x00\x00\x00\x34"), Target::Java);
        assert_eq!(detect(b"\xca\xfe\xba\xbe\x00\x00\x00\x02"), Target::MachO);
        assert_eq!(detect(b"\xcf\xfa\xed\xfe\x07"), Target::MachO);
        assert_eq!(detect(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), Target::Ole2);
        assert_eq!(detect(b"CWS\x0a"), Target::Flash);
        assert_eq!(detect(b"MZ\0\0 %PDF-1.4"), Target::Any);
        assert_eq!(detect(b"\x00\x01 %PDF-1.4"), Target::Pdf);
        for g in [
            b"GIF89a\x01".as_slice(),
            b"GIF80",
            b"\x89PNG\r\n",
            b"\xff\xd8\xff\xe0",
            b"BM\x00\x00ftypisom",
            b"II*\0",
            b"MM\0*",
        ] {
            assert_eq!(detect(g), Target::Graphics, "{g:?}");
        }
    }
}
