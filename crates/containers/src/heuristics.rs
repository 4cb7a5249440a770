//! ClamAV's `Heuristics.*` names for what the deep scanner reports without a signature: a
//! limit hit, an encrypted object, a broken executable or container. `bulwark scan` and the
//! clamd listener print the same names (each decides whether a name is an alert).

use bulwark_engine::filetype::FileType;
use bulwark_engine::Status;

use crate::kind::Kind;
use crate::open::detect;
use crate::DeepVerdict;

/// The `Heuristics.*` name of a verdict whose status is limits-exceeded, protected or
/// corrupted; `None` for every other status. `head` is the object's first bytes (its kind
/// picks the name of an encrypted or broken object).
pub fn heuristic_name(v: &DeepVerdict, head: &[u8]) -> Option<&'static str> {
    match v.verdict.status {
        Status::LimitsExceeded => Some(limit_name(v.limit())),
        Status::Protected => Some(encrypted_name(head)),
        Status::Corrupted => Some(broken_name(head)),
        _ => None,
    }
}

/// ClamAV's name for the limit the deep scanner reports (`DeepVerdict::limit`). ClamAV has
/// no compression-ratio limit and no mail-header limit: those get Bulwark's own names in the
/// same family.
pub fn limit_name(limit: Option<&str>) -> &'static str {
    match limit {
        Some("object size" | "member size" | "NSIS data size") => {
            "Heuristics.Limits.Exceeded.MaxFileSize"
        }
        Some("total unpacked bytes") => "Heuristics.Limits.Exceeded.MaxScanSize",
        Some("member count") => "Heuristics.Limits.Exceeded.MaxFiles",
        Some("nesting depth") => "Heuristics.Limits.Exceeded.MaxRecursion",
        Some("scan time") => "Heuristics.Limits.Exceeded.MaxScanTime",
        Some("overlapping zip entries") => "Heuristics.Zip.OverlappingFiles",
        Some("compression ratio") => "Heuristics.Limits.Exceeded.MaxRatio",
        Some("mail headers") => "Heuristics.Limits.Exceeded.MaxMailHeaders",
        _ => "Heuristics.Limits.Exceeded",
    }
}

/// ClamAV's name for an encrypted file of this kind (the file's own kind: an encrypted archive
/// inside another container gets the generic name).
pub fn encrypted_name(head: &[u8]) -> &'static str {
    match detect(head) {
        Kind::Zip => "Heuristics.Encrypted.Zip",
        Kind::SevenZ => "Heuristics.Encrypted.7Zip",
        Kind::Legacy if FileType::Rar.matches(head) => "Heuristics.Encrypted.RAR",
        _ if FileType::Pdf.matches(head) => "Heuristics.Encrypted.PDF",
        _ => "Heuristics.Encrypted",
    }
}

/// ClamAV's name for a broken executable; Bulwark's for a broken container.
pub fn broken_name(head: &[u8]) -> &'static str {
    match detect(head) {
        Kind::Pe | Kind::Elf => "Heuristics.Broken.Executable",
        k if k.is_container() => "Heuristics.Broken.Archive",
        _ => "Heuristics.Broken",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamav_names() {
        assert_eq!(
            limit_name(Some("total unpacked bytes")),
            "Heuristics.Limits.Exceeded.MaxScanSize"
        );
        assert_eq!(
            limit_name(Some("member size")),
            "Heuristics.Limits.Exceeded.MaxFileSize"
        );
        assert_eq!(
            limit_name(Some("nesting depth")),
            "Heuristics.Limits.Exceeded.MaxRecursion"
        );
        assert_eq!(limit_name(None), "Heuristics.Limits.Exceeded");
        assert_eq!(
            encrypted_name(b"PK\x03\x04rest"),
            "Heuristics.Encrypted.Zip"
        );
        assert_eq!(
            encrypted_name(b"7z\xbc\xaf\x27\x1c\0\x04"),
            "Heuristics.Encrypted.7Zip"
        );
        assert_eq!(
            broken_name(b"\x7fELF\x02\x01\x01\0"),
            "Heuristics.Broken.Executable"
        );
        assert_eq!(broken_name(b"\x1f\x8b\x08\0"), "Heuristics.Broken.Archive");
    }
}
