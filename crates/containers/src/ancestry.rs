//! The ClamAV file type of each container a member is found in, so that logical signatures
//! with `Container:`/`Intermediates:` conditions (536 in ClamAV's main.ldb, mostly
//! `CL_TYPE_MAIL` and `CL_TYPE_ZIP`) match where ClamAV matches them.

use bulwark_engine::cltype::ClType;
use unarc_rs::unified::ArchiveFormat;

use crate::kind::Kind;

/// The ClamAV type of a container whose format is `kind` and whose first bytes are `head`.
pub(crate) fn cl_type(kind: Kind, head: &[u8]) -> ClType {
    match kind {
        Kind::Zip => office_type(head).unwrap_or(ClType::Zip),
        Kind::Gzip => ClType::Gz,
        Kind::Bzip2 => ClType::Bz,
        Kind::Xz => ClType::Xz,
        // ClamAV 1.4 has no type for Zstandard: its members are seen as binary data there.
        Kind::Zstd => ClType::BinaryData,
        Kind::Tar => ClType::PosixTar,
        Kind::SevenZ => ClType::SevenZ,
        Kind::Cab => ClType::MsCab,
        Kind::Ole2 => ClType::MsOle2,
        Kind::Mbox | Kind::Mail => ClType::Mail,
        Kind::Chm => ClType::MsChm,
        Kind::Pdf => ClType::Pdf,
        Kind::Szdd => ClType::MsSzdd,
        Kind::Screnc => ClType::Screnc,
        Kind::Legacy => match crate::fmt::legacy::detect(head) {
            Some(ArchiveFormat::Rar) => ClType::Rar,
            Some(ArchiveFormat::Arj) => ClType::Arj,
            _ => ClType::BinaryData,
        },
        Kind::Pe => ClType::MsExe,
        Kind::Elf => ClType::Elf,
        Kind::Other => other_type(head),
    }
}

/// A zip that is an Office Open XML document, by the part names in its first local headers.
fn office_type(head: &[u8]) -> Option<ClType> {
    let has = |n: &[u8]| memchr::memmem::find(head, n).is_some();
    if !has(b"[Content_Types].xml") {
        return None;
    }
    if has(b"word/") {
        Some(ClType::OoxmlWord)
    } else if has(b"xl/") {
        Some(ClType::OoxmlXl)
    } else if has(b"ppt/") {
        Some(ClType::OoxmlPpt)
    } else {
        None
    }
}

/// Formats we do not open as archives but carve objects from (PDF, RTF, HTML, scripts…).
fn other_type(head: &[u8]) -> ClType {
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&head[..0], |i| &head[i..]);
    if head.starts_with(b"%PDF-")
        || memchr::memmem::find(&head[..head.len().min(1024)], b"%PDF-").is_some()
    {
        ClType::Pdf
    } else if start.starts_with(b"{\\rt") {
        ClType::Rtf
    } else if bulwark_engine::filetype::html_magic(head) {
        ClType::Html
    } else {
        ClType::BinaryData
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_get_clamav_types() {
        assert_eq!(cl_type(Kind::Mail, b"From: a\r\n"), ClType::Mail);
        assert_eq!(cl_type(Kind::Zip, b"PK\x03\x04....a.txt"), ClType::Zip);
        assert_eq!(
            cl_type(
                Kind::Zip,
                b"PK\x03\x04..[Content_Types].xmlPK\x03\x04..word/document.xml"
            ),
            ClType::OoxmlWord
        );
        assert_eq!(cl_type(Kind::Other, b"%PDF-1.7\n"), ClType::Pdf);
        assert_eq!(cl_type(Kind::Other, b"  {\\rtf1\\ansi"), ClType::Rtf);
        assert_eq!(cl_type(Kind::Legacy, b"Rar!\x1a\x07\x00"), ClType::Rar);
        assert_eq!(cl_type(Kind::Gzip, b"\x1f\x8b"), ClType::Gz);
    }
}
