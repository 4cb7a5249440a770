//! What an object is, from its first bytes.

use bulwark_engine::filetype::{self, target};

/// The kinds of object the deep scanner knows how to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// ZIP (also docx/xlsx/jar/apk…).
    Zip,
    /// gzip.
    Gzip,
    /// bzip2.
    Bzip2,
    /// xz.
    Xz,
    /// Zstandard frame.
    Zstd,
    /// POSIX/GNU tar.
    Tar,
    /// 7-Zip.
    SevenZ,
    /// Microsoft cabinet.
    Cab,
    /// OLE2 compound file (doc, xls, msi…).
    Ole2,
    /// A mailbox (mbox): messages separated by `From ` lines.
    Mbox,
    /// One RFC 822 / MIME message.
    Mail,
    /// Compiled HTML Help (ITSF).
    Chm,
    /// A PDF document (its streams).
    Pdf,
    /// Microsoft `compress.exe` output (SZDD).
    Szdd,
    /// An archive opened through `unarc-rs` (RAR, ARJ, ACE, LHA, ZOO, UC2, SQZ, `.Z`).
    Legacy,
    /// A PE executable.
    Pe,
    /// An ELF executable.
    Elf,
    /// Anything else.
    Other,
}

impl Kind {
    /// A short name for logs and notes.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Zip => "zip",
            Kind::Gzip => "gzip",
            Kind::Bzip2 => "bzip2",
            Kind::Xz => "xz",
            Kind::Zstd => "zstd",
            Kind::Tar => "tar",
            Kind::SevenZ => "7z",
            Kind::Cab => "cab",
            Kind::Ole2 => "ole2",
            Kind::Mbox => "mbox",
            Kind::Mail => "mail",
            Kind::Chm => "chm",
            Kind::Pdf => "pdf",
            Kind::Szdd => "szdd",
            Kind::Legacy => "legacy-archive",
            Kind::Pe => "pe",
            Kind::Elf => "elf",
            Kind::Other => "other",
        }
    }

    /// Whether this kind is a container that needs the whole object to be opened.
    pub fn is_container(self) -> bool {
        !matches!(self, Kind::Pe | Kind::Elf | Kind::Other)
    }
}

/// The kind of an object from its head (at least the first 4 KiB when the object is that long).
pub fn detect(head: &[u8]) -> Kind {
    let h = |m: &[u8]| head.starts_with(m);
    if h(b"PK\x03\x04") || h(b"PK\x05\x06") || h(b"PK\x07\x08PK\x03\x04") {
        return Kind::Zip;
    }
    if h(b"\x1f\x8b\x08") {
        return Kind::Gzip;
    }
    if head.len() >= 10
        && h(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        && &head[4..10] == b"1AY&SY"
    {
        return Kind::Bzip2;
    }
    if h(b"\xfd7zXZ\x00") {
        return Kind::Xz;
    }
    if h(b"\x28\xb5\x2f\xfd") {
        return Kind::Zstd;
    }
    if h(b"7z\xbc\xaf\x27\x1c") {
        return Kind::SevenZ;
    }
    if h(b"MSCF\0\0\0\0") {
        return Kind::Cab;
    }
    if h(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        return Kind::Ole2;
    }
    if is_tar(head) {
        return Kind::Tar;
    }
    if head.starts_with(bulwark_formats::szdd::MAGIC) {
        return Kind::Szdd;
    }
    if crate::fmt::chm::detect(head) {
        return Kind::Chm;
    }
    if crate::fmt::legacy::detect(head).is_some() {
        return Kind::Legacy;
    }
    if h(b"MZ") {
        return match filetype::detect(head) {
            target::PE => Kind::Pe,
            _ => Kind::Other,
        };
    }
    if h(b"\x7fELF") {
        return Kind::Elf;
    }
    if crate::fmt::pdf::detect(head) {
        return Kind::Pdf;
    }
    if h(b"From ") && crate::fmt::mime::looks_like_mail(head.split(|&b| b == b'\n').skip(1)) {
        return Kind::Mbox;
    }
    if header_line_start(head) && crate::fmt::mime::looks_like_mail(head.split(|&b| b == b'\n')) {
        return Kind::Mail;
    }
    Kind::Other
}

/// Whether `head` can start a mail header: a field name and its colon within the first
/// 998 bytes (RFC 5322's line limit). A cheap test that spares binary and most text objects
/// the line-by-line one.
fn header_line_start(head: &[u8]) -> bool {
    let w = &head[..head.len().min(998)];
    match memchr::memchr2(b':', b'\n', w) {
        Some(p) if w[p] == b':' => crate::fmt::mime::is_field_name(&w[..p]),
        _ => false,
    }
}

/// A tar header block: `ustar` magic, or an old-style header whose checksum is right.
pub fn is_tar(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    let b = &head[..512];
    if &b[257..262] == b"ustar" {
        return true;
    }
    // v7 tar: checksum of the header with the checksum field as spaces.
    let field = &b[148..156];
    let digits: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|c| *c == b' ')
        .take_while(|c| (b'0'..=b'7').contains(c))
        .collect();
    if digits.is_empty() || b[0] == 0 {
        return false;
    }
    let want = digits.iter().fold(0u32, |a, d| {
        a.wrapping_mul(8).wrapping_add((d - b'0') as u32)
    });
    let sum: u32 = b
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if (148..156).contains(&i) {
                32
            } else {
                c as u32
            }
        })
        .sum();
    want == sum
}
