//! The file types Bulwark recognises from an object's first bytes: one enum, [`FileType`],
//! and one table of magic numbers, [`TABLE`].
//!
//! Each consumer maps from it: the engine types an object for ClamAV's signature targets
//! (`bulwark_engine::filetype::detect`, which adds what is not a magic number: the PE headers,
//! the Java class version, `%PDF-` further in, text, mail and HTML), the deep scanner chooses
//! the opener of a format (`bulwark_containers::Kind`, whose openers also check what they need
//! to open it, e.g. gzip's deflate method), and the policy classifies the object as an
//! executable, an archive… against a Content-Type exclusion (`bulwark_policy::sniff`).
//!
//! This crate depends on nothing, so that the policy reaches it without the engine's FFI.

/// A file type recognised by its magic number ([`TABLE`]).
///
/// The variants are declared in [`TABLE`]'s order, which is [`sniff`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileType {
    /// `MZ`: a DOS or PE executable (the PE headers are not checked here).
    Pe,
    /// ELF executable.
    Elf,
    /// Mach-O executable, 32 or 64 bits, either byte order.
    MachO,
    /// `CAFEBABE`: a Mach-O universal binary or a Java class (told apart by the version).
    MachOFatOrClass,
    /// A script with a `#!` interpreter line.
    Script,
    /// Flash (SWF), uncompressed, zlib or LZMA.
    Swf,
    /// ZIP (also docx/xlsx/jar/apk…): a local header, an empty archive's end record or a
    /// spanned archive's marker.
    Zip,
    /// RAR.
    Rar,
    /// 7-Zip.
    SevenZ,
    /// gzip (any method).
    Gzip,
    /// bzip2.
    Bzip2,
    /// xz.
    Xz,
    /// Microsoft cabinet.
    Cab,
    /// PDF (`%PDF-` at the start).
    Pdf,
    /// OLE2 compound file (doc, xls, msi…).
    Ole2,
    /// RTF.
    Rtf,
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// WebP (a RIFF container).
    Webp,
    /// Windows icon.
    Ico,
    /// MP3 (an ID3 tag or an MPEG-1 layer 3 frame).
    Mp3,
    /// AAC in ADTS frames.
    Aac,
    /// Ogg.
    Ogg,
    /// FLAC.
    Flac,
    /// WAVE (a RIFF container).
    Wav,
    /// MP4 and other ISO base media files (`ftyp`).
    Mp4,
    /// Matroska / WebM.
    Matroska,
    /// Flash video.
    Flv,
    /// AVI (a RIFF container).
    Avi,
    /// MPEG program stream.
    MpegPs,
    /// ASF (wmv, wma).
    Asf,
    /// Zstandard frame.
    Zstd,
    /// Microsoft `compress.exe` output (SZDD).
    Szdd,
    /// A script encoded with Microsoft's Script Encoder (`.jse`, `.vbe`).
    Screnc,
    /// Windows bitmap (`BM`).
    Bmp,
    /// TIFF, either byte order.
    Tiff,
}

/// One magic number: every `(offset, bytes)` of it is found in the object.
pub type Magic = &'static [(usize, &'static [u8])];

/// Every file type with its magic numbers (any one recognises it), in [`FileType`]'s order.
pub const TABLE: &[(FileType, &[Magic])] = &[
    (FileType::Pe, &[&[(0, b"MZ")]]),
    (FileType::Elf, &[&[(0, b"\x7fELF")]]),
    (
        FileType::MachO,
        &[
            &[(0, b"\xfe\xed\xfa\xce")],
            &[(0, b"\xfe\xed\xfa\xcf")],
            &[(0, b"\xce\xfa\xed\xfe")],
            &[(0, b"\xcf\xfa\xed\xfe")],
        ],
    ),
    (FileType::MachOFatOrClass, &[&[(0, b"\xca\xfe\xba\xbe")]]),
    (FileType::Script, &[&[(0, b"#!")]]),
    (
        FileType::Swf,
        &[&[(0, b"FWS")], &[(0, b"CWS")], &[(0, b"ZWS")]],
    ),
    (
        FileType::Zip,
        &[
            &[(0, b"PK\x03\x04")],
            &[(0, b"PK\x05\x06")],
            &[(0, b"PK\x07\x08")],
        ],
    ),
    (FileType::Rar, &[&[(0, b"Rar!\x1a\x07")]]),
    (FileType::SevenZ, &[&[(0, b"7z\xbc\xaf\x27\x1c")]]),
    (FileType::Gzip, &[&[(0, b"\x1f\x8b")]]),
    (FileType::Bzip2, &[&[(0, b"BZh")]]),
    (FileType::Xz, &[&[(0, b"\xfd7zXZ\x00")]]),
    (FileType::Cab, &[&[(0, b"MSCF")]]),
    (FileType::Pdf, &[&[(0, b"%PDF-")]]),
    (
        FileType::Ole2,
        &[&[(0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")]],
    ),
    (FileType::Rtf, &[&[(0, b"{\\rtf")]]),
    (FileType::Png, &[&[(0, b"\x89PNG")]]),
    (FileType::Jpeg, &[&[(0, b"\xff\xd8\xff")]]),
    (FileType::Gif, &[&[(0, b"GIF8")]]),
    (FileType::Webp, &[&[(0, b"RIFF"), (8, b"WEBP")]]),
    (FileType::Ico, &[&[(0, b"\x00\x00\x01\x00")]]),
    (
        FileType::Mp3,
        &[
            &[(0, b"ID3")],
            &[(0, b"\xff\xfb")],
            &[(0, b"\xff\xf3")],
            &[(0, b"\xff\xf2")],
        ],
    ),
    (FileType::Aac, &[&[(0, b"\xff\xf1")], &[(0, b"\xff\xf9")]]),
    (FileType::Ogg, &[&[(0, b"OggS")]]),
    (FileType::Flac, &[&[(0, b"fLaC")]]),
    (FileType::Wav, &[&[(0, b"RIFF"), (8, b"WAVE")]]),
    (FileType::Mp4, &[&[(4, b"ftyp")]]),
    (FileType::Matroska, &[&[(0, b"\x1a\x45\xdf\xa3")]]),
    (FileType::Flv, &[&[(0, b"FLV\x01")]]),
    (FileType::Avi, &[&[(0, b"RIFF"), (8, b"AVI ")]]),
    (FileType::MpegPs, &[&[(0, b"\x00\x00\x01\xba")]]),
    (FileType::Asf, &[&[(0, b"\x30\x26\xb2\x75")]]),
    (FileType::Zstd, &[&[(0, b"\x28\xb5\x2f\xfd")]]),
    (FileType::Szdd, &[&[(0, b"SZDD\x88\xf0\x27\x33")]]),
    (FileType::Screnc, &[&[(0, b"#@~^")]]),
    (FileType::Bmp, &[&[(0, b"BM")]]),
    (FileType::Tiff, &[&[(0, b"II*\0")], &[(0, b"MM\0*")]]),
];

/// How many first bytes every magic number in [`TABLE`] fits in.
pub const HEAD_LEN: usize = 16;

/// Whether `head` holds `magic`.
fn holds(head: &[u8], magic: Magic) -> bool {
    magic
        .iter()
        .all(|&(at, bytes)| head.get(at..at + bytes.len()) == Some(bytes))
}

impl FileType {
    /// Its magic numbers.
    pub fn magics(self) -> &'static [Magic] {
        // TABLE is in the enum's order (checked by a test).
        TABLE.get(self as usize).map_or(&[], |&(_, m)| m)
    }

    /// Whether `head` (an object's first bytes) holds one of this type's magic numbers.
    pub fn matches(self, head: &[u8]) -> bool {
        self.magics().iter().any(|&m| holds(head, m))
    }

    /// Its short name (`pe`, `zip`, `ms-office`…), as the policy's configuration spells it.
    pub fn name(self) -> &'static str {
        match self {
            FileType::Pe => "pe",
            FileType::Elf => "elf",
            FileType::MachO => "macho",
            FileType::MachOFatOrClass => "macho-fat-or-class",
            FileType::Script => "script",
            FileType::Swf => "swf",
            FileType::Zip => "zip",
            FileType::Rar => "rar",
            FileType::SevenZ => "7z",
            FileType::Gzip => "gzip",
            FileType::Bzip2 => "bzip2",
            FileType::Xz => "xz",
            FileType::Cab => "cab",
            FileType::Pdf => "pdf",
            FileType::Ole2 => "ms-office",
            FileType::Rtf => "rtf",
            FileType::Png => "png",
            FileType::Jpeg => "jpeg",
            FileType::Gif => "gif",
            FileType::Webp => "webp",
            FileType::Ico => "ico",
            FileType::Mp3 => "mp3",
            FileType::Aac => "aac",
            FileType::Ogg => "ogg",
            FileType::Flac => "flac",
            FileType::Wav => "wav",
            FileType::Mp4 => "mp4",
            FileType::Matroska => "matroska",
            FileType::Flv => "flv",
            FileType::Avi => "avi",
            FileType::MpegPs => "mpeg-ps",
            FileType::Asf => "asf",
            FileType::Zstd => "zstd",
            FileType::Szdd => "szdd",
            FileType::Screnc => "screnc",
            FileType::Bmp => "bmp",
            FileType::Tiff => "tiff",
        }
    }

    /// Every file type, in [`TABLE`]'s order.
    pub fn all() -> impl Iterator<Item = FileType> {
        TABLE.iter().map(|&(t, _)| t)
    }
}

/// The type of an object from its first bytes ([`HEAD_LEN`] are enough): the first in
/// [`TABLE`] whose magic number they hold.
pub fn sniff(head: &[u8]) -> Option<FileType> {
    FileType::all().find(|t| t.matches(head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_the_enums_order_and_fits_the_head() {
        for (i, &(t, magics)) in TABLE.iter().enumerate() {
            assert_eq!(t as usize, i, "{t:?}");
            assert!(!magics.is_empty(), "{t:?}");
            for m in magics {
                for &(at, bytes) in *m {
                    assert!(at + bytes.len() <= HEAD_LEN, "{t:?}");
                }
            }
        }
        assert_eq!(TABLE.len(), FileType::Tiff as usize + 1);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = FileType::all().map(FileType::name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    /// Magic numbers of one run at offset 0 are prefix-free: at most one type's matches the
    /// start of an object, so the consumers' orders of tests only matter for the RIFF types
    /// and MP4 (whose magic numbers are further in).
    #[test]
    fn magics_at_the_start_exclude_each_other() {
        let starts: Vec<(FileType, &[u8])> = TABLE
            .iter()
            .flat_map(|&(t, ms)| ms.iter().map(move |m| (t, *m)))
            .filter_map(|(t, m)| match m {
                [(0, b)] => Some((t, *b)),
                _ => None,
            })
            .collect();
        for &(t, a) in &starts {
            for &(u, b) in &starts {
                if t != u {
                    assert!(!a.starts_with(b), "{t:?} {u:?}");
                }
            }
        }
    }

    #[test]
    fn sniffs_common_types() {
        assert_eq!(sniff(b"MZ\x90\x00"), Some(FileType::Pe));
        assert_eq!(sniff(b"PK\x03\x04\x14\x00"), Some(FileType::Zip));
        assert_eq!(sniff(b"\x1f\x8b\x08"), Some(FileType::Gzip));
        assert_eq!(sniff(b"\x00\x00\x00\x20ftypisom"), Some(FileType::Mp4));
        assert_eq!(sniff(b"RIFF\x10\x00\x00\x00WEBPVP8 "), Some(FileType::Webp));
        assert_eq!(sniff(b"XXXX\x00\x00\x00\x00WEBP"), None);
        assert_eq!(sniff(b"\x28\xb5\x2f\xfd"), Some(FileType::Zstd));
        assert_eq!(sniff(b"BM\x00\x00"), Some(FileType::Bmp));
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"M"), None);
        assert!(FileType::Tiff.matches(b"MM\0*\0\0"));
        assert!(!FileType::Gzip.matches(b"\x1f"));
    }
}
