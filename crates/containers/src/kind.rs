//! The kinds of object the deep scanner opens ([`Kind`]): which opener handles an object.
//! Which kind an object is, is the openers' registry's to say (`crate::detect`): most kinds
//! are a file type of the engine's magic-number table (`bulwark_engine::filetype::FileType`)
//! that the opener confirms, the others (tar, CHM, the legacy archives, PDF, mail) are told by
//! their content.

/// The kinds of object the deep scanner knows how to open: one opener each.
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
    /// A script encoded with Microsoft's Script Encoder (`.jse`, `.vbe`: `#@~^` at its start).
    Screnc,
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
            Kind::Screnc => "screnc",
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
