//! File types sniffed from an object's first bytes, so that a renamed executable does not slip
//! through a Content-Type exclusion.

/// How many first bytes [`sniff`] looks at; every magic in the table fits in them.
pub const SNIFF_BYTES: usize = 16;

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
}

/// A sniffed file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType {
    /// Short name (`pe`, `zip`, `mp4`…).
    pub name: &'static str,
    /// Its kind.
    pub kind: FileKind,
}

use FileKind::*;

/// `(offset, magic, name, kind)`; the first match wins.
const TABLE: &[(usize, &[u8], &str, FileKind)] = &[
    (0, b"MZ", "pe", Executable),
    (0, b"\x7fELF", "elf", Executable),
    (0, b"\xfe\xed\xfa\xce", "macho", Executable),
    (0, b"\xfe\xed\xfa\xcf", "macho", Executable),
    (0, b"\xce\xfa\xed\xfe", "macho", Executable),
    (0, b"\xcf\xfa\xed\xfe", "macho", Executable),
    (0, b"\xca\xfe\xba\xbe", "macho-fat-or-class", Executable),
    (0, b"#!", "script", Executable),
    (0, b"FWS", "swf", Executable),
    (0, b"CWS", "swf", Executable),
    (0, b"ZWS", "swf", Executable),
    (0, b"PK\x03\x04", "zip", Archive),
    (0, b"PK\x05\x06", "zip", Archive),
    (0, b"PK\x07\x08", "zip", Archive),
    (0, b"Rar!\x1a\x07", "rar", Archive),
    (0, b"7z\xbc\xaf\x27\x1c", "7z", Archive),
    (0, b"\x1f\x8b", "gzip", Archive),
    (0, b"BZh", "bzip2", Archive),
    (0, b"\xfd7zXZ\x00", "xz", Archive),
    (0, b"MSCF", "cab", Archive),
    (0, b"%PDF-", "pdf", Document),
    (
        0,
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "ms-office",
        Document,
    ),
    (0, b"{\\rtf", "rtf", Document),
    (0, b"\x89PNG\r\n\x1a\n", "png", Image),
    (0, b"\xff\xd8\xff", "jpeg", Image),
    (0, b"GIF87a", "gif", Image),
    (0, b"GIF89a", "gif", Image),
    (8, b"WEBP", "webp", Image),
    (0, b"\x00\x00\x01\x00", "ico", Image),
    (0, b"ID3", "mp3", Audio),
    (0, b"\xff\xfb", "mp3", Audio),
    (0, b"\xff\xf3", "mp3", Audio),
    (0, b"\xff\xf2", "mp3", Audio),
    (0, b"\xff\xf1", "aac", Audio),
    (0, b"\xff\xf9", "aac", Audio),
    (0, b"OggS", "ogg", Audio),
    (0, b"fLaC", "flac", Audio),
    (8, b"WAVE", "wav", Audio),
    (4, b"ftyp", "mp4", Video),
    (0, b"\x1a\x45\xdf\xa3", "matroska", Video),
    (0, b"FLV\x01", "flv", Video),
    (8, b"AVI ", "avi", Video),
    (0, b"\x00\x00\x01\xba", "mpeg-ps", Video),
    (0, b"\x30\x26\xb2\x75", "asf", Video),
];

/// The type of an object from its first bytes, when the table knows it.
///
/// `RIFF` containers (`WEBP`, `WAVE`, `AVI `) are only recognised with the `RIFF` tag at 0.
pub fn sniff(bytes: &[u8]) -> Option<FileType> {
    TABLE.iter().find_map(|&(off, magic, name, kind)| {
        let hit = bytes.get(off..off + magic.len()) == Some(magic)
            && (off != 8 || bytes.starts_with(b"RIFF"));
        hit.then_some(FileType { name, kind })
    })
}

/// Whether `name` is a kind or type name [`sniff`] can produce.
pub fn is_known_name(name: &str) -> bool {
    TABLE
        .iter()
        .any(|&(_, _, n, k)| n == name || k.as_str() == name)
}

/// Whether the sniffed type `t` is listed in `names` (kinds or type names).
pub fn listed(t: FileType, names: &[String]) -> bool {
    names
        .iter()
        .any(|n| n.eq_ignore_ascii_case(t.name) || n.eq_ignore_ascii_case(t.kind.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(b: &[u8]) -> Option<&'static str> {
        sniff(b).map(|t| t.name)
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
        assert_eq!(sniff(b"MZ").map(|t| t.kind), Some(FileKind::Executable));
    }

    #[test]
    fn unknown_and_short_inputs() {
        assert_eq!(name(b""), None);
        assert_eq!(name(b"M"), None);
        assert_eq!(name(b"<html>"), None);
        assert_eq!(name(b"XXXX\x00\x00\x00\x00WEBP"), None);
    }

    #[test]
    fn names_and_kinds_are_listed() {
        let t = FileType {
            name: "pe",
            kind: FileKind::Executable,
        };
        assert!(listed(t, &["Executable".into()]));
        assert!(listed(t, &["pe".into()]));
        assert!(!listed(t, &["archive".into()]));
        assert!(is_known_name("zip") && is_known_name("video") && !is_known_name("exe"));
    }
}
