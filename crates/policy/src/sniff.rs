//! File types sniffed from an object's first bytes, so that a renamed executable does not slip
//! through a Content-Type exclusion: the magic numbers are `bulwark_filetype`'s (the engine's
//! and the deep scanner's too); the policy classifies the types into kinds ([`FileKind::of`]).

pub use bulwark_filetype::FileType;

/// How many first bytes [`sniff`] looks at; every magic number fits in them.
pub const SNIFF_BYTES: usize = bulwark_filetype::HEAD_LEN;

/// A broad class of file types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// Native code or active content (PE, ELF, Mach-O, scripts with `#!`, Flash).
    Executable,
    /// Containers and compressed streams.
    Archive,
    /// Documents that can carry macros or scripts (PDF, MS Office, RTF).
    Document,
    /// Still images.
    Image,
    /// Audio streams.
    Audio,
    /// Video streams.
    Video,
}

impl FileKind {
    /// Every kind.
    pub const ALL: [FileKind; 6] = [
        FileKind::Executable,
        FileKind::Archive,
        FileKind::Document,
        FileKind::Image,
        FileKind::Audio,
        FileKind::Video,
    ];

    /// The kind's name in configuration (`executable`, `archive`…).
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Executable => "executable",
            FileKind::Archive => "archive",
            FileKind::Document => "document",
            FileKind::Image => "image",
            FileKind::Audio => "audio",
            FileKind::Video => "video",
        }
    }

    /// The kind of `t`; `None` for the types only the scanners tell apart (Zstandard, SZDD,
    /// Script Encoder, BMP, TIFF), which the policy does not classify: configuration names
    /// and filter decisions stay what they were before the scanners' types were shared.
    pub fn of(t: FileType) -> Option<FileKind> {
        use FileKind::*;
        use FileType as T;
        Some(match t {
            T::Pe | T::Elf | T::MachO | T::MachOFatOrClass | T::Script | T::Swf => Executable,
            T::Zip | T::Rar | T::SevenZ | T::Gzip | T::Bzip2 | T::Xz | T::Cab => Archive,
            T::Pdf | T::Ole2 | T::Rtf => Document,
            T::Png | T::Jpeg | T::Gif | T::Webp | T::Ico => Image,
            T::Mp3 | T::Aac | T::Ogg | T::Flac | T::Wav => Audio,
            T::Mp4 | T::Matroska | T::Flv | T::Avi | T::MpegPs | T::Asf => Video,
            T::Zstd | T::Szdd | T::Screnc | T::Bmp | T::Tiff => return None,
        })
    }
}

/// The type of an object from its first bytes, when it is one the policy classifies
/// ([`FileKind::of`]).
pub fn sniff(bytes: &[u8]) -> Option<FileType> {
    // The unclassified types come last in the table: they never hide a classified one.
    bulwark_filetype::sniff(bytes).filter(|&t| FileKind::of(t).is_some())
}

/// Whether `name` is a kind or type name [`sniff`] can produce.
pub fn is_known_name(name: &str) -> bool {
    FileKind::ALL.iter().any(|k| k.as_str() == name)
        || FileType::all().any(|t| FileKind::of(t).is_some() && t.name() == name)
}

/// Whether the sniffed type `t` is listed in `names` (kinds or type names).
pub fn listed(t: FileType, names: &[String]) -> bool {
    let kind = FileKind::of(t).map(FileKind::as_str);
    names.iter().any(|n| {
        n.eq_ignore_ascii_case(t.name()) || kind.is_some_and(|k| n.eq_ignore_ascii_case(k))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(b: &[u8]) -> Option<&'static str> {
        sniff(b).map(FileType::name)
    }

    #[test]
    fn table_recognises_common_types() {
        assert_eq!(name(b"MZ\x90\x00"), Some("pe"));
        assert_eq!(name(b"\x7fELF\x02\x01"), Some("elf"));
        assert_eq!(name(b"PK\x03\x04\x14\x00"), Some("zip"));
        assert_eq!(name(b"Rar!\x1a\x07\x00"), Some("rar"));
        assert_eq!(name(b"7z\xbc\xaf\x27\x1c\x00\x04"), Some("7z"));
        assert_eq!(name(b"\x1f\x8b\x08"), Some("gzip"));
        assert_eq!(name(b"%PDF-1.7"), Some("pdf"));
        assert_eq!(name(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), Some("ms-office"));
        assert_eq!(name(b"\x89PNG\r\n\x1a\n"), Some("png"));
        assert_eq!(name(b"\x00\x00\x00\x20ftypisom"), Some("mp4"));
        assert_eq!(name(b"RIFF\x10\x00\x00\x00WEBPVP8 "), Some("webp"));
        assert_eq!(name(b"RIFF\x10\x00\x00\x00AVI LIST"), Some("avi"));
        assert_eq!(name(b"ID3\x04"), Some("mp3"));
        assert_eq!(
            sniff(b"MZ").and_then(FileKind::of),
            Some(FileKind::Executable)
        );
    }

    #[test]
    fn unknown_and_short_inputs() {
        assert_eq!(name(b""), None);
        assert_eq!(name(b"M"), None);
        assert_eq!(name(b"<html>"), None);
        assert_eq!(name(b"XXXX\x00\x00\x00\x00WEBP"), None);
    }

    /// The scanners' own types are not classified, and do not hide a classified one.
    #[test]
    fn unclassified_types_are_not_sniffed() {
        assert_eq!(name(b"BM\x36\x00\x00\x00"), None);
        assert_eq!(name(b"\x28\xb5\x2f\xfd\x00"), None);
        assert_eq!(name(b"#@~^xx"), None);
        assert_eq!(name(b"BM\x00\x00ftypisom"), Some("mp4"));
        assert!(!is_known_name("bmp") && !is_known_name("zstd"));
    }

    #[test]
    fn names_and_kinds_are_listed() {
        let t = FileType::Pe;
        assert!(listed(t, &["Executable".into()]));
        assert!(listed(t, &["pe".into()]));
        assert!(!listed(t, &["archive".into()]));
        assert!(is_known_name("zip") && is_known_name("video") && !is_known_name("exe"));
        assert!(is_known_name("macho-fat-or-class") && is_known_name("mpeg-ps"));
    }
}
