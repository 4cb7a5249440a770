//! The openers' registry: for each kind of object, how it is recognised from its first bytes
//! and how it is opened (`open`), in the order they are tried. An opener recognises either a
//! file type of the engine's magic-number table (`magic`, [`FileType`]), confirmed by what the
//! opener needs to open it (`sniff`), or, for formats without a magic number at their start
//! (tar, CHM, the legacy archives, PDF, mail), the object's content (`sniff` alone). [`detect`]
//! is the first opener that recognises the object; the walk opens a blob with the opener of its
//! kind. Adding a format is adding one entry here and one module in `fmt`.

use bulwark_engine::filetype::{self, FileType, Target};

use crate::blob::Blob;
use crate::fmt;
use crate::kind::Kind;
use crate::options::DeepOptions;
use crate::scan::{merge, Abort, Walked};
use crate::session::ScanSession;

/// Where a blob is being opened.
pub(crate) struct At<'a> {
    /// Its first bytes (at least 8 KiB when it is that long).
    pub head: &'a [u8],
    /// Its path (members are found below it).
    pub path: &'a str,
    /// Its depth (its members are at `depth + 1`).
    pub depth: u32,
    /// Whether it is itself the output of a compression layer.
    pub in_compress: bool,
    /// The kind it is opened as (its sniffed kind, or the one a `HandlerType` signature names).
    pub kind: Kind,
}

/// One kind of object: how to recognise it and how to open it.
pub(crate) struct Opener {
    /// The kind it opens.
    pub kind: Kind,
    /// The engine's file type it opens, when that is told by a magic number.
    pub magic: Option<FileType>,
    /// Whether an object starting with `head` is of this kind: with a `magic`, what the opener
    /// checks beyond the magic number (its format's other fixed fields); without, all of it.
    pub sniff: fn(&[u8]) -> bool,
    /// Whether the options let it be opened.
    pub enabled: fn(&DeepOptions) -> bool,
    /// Scans its members.
    pub open: fn(&mut ScanSession, &Blob, &At) -> Result<Walked, Abort>,
}

impl Opener {
    /// Whether it recognises an object starting with `head`.
    fn recognises(&self, head: &[u8]) -> bool {
        self.magic.is_none_or(|t| t.matches(head)) && (self.sniff)(head)
    }
}

fn archives(o: &DeepOptions) -> bool {
    o.scan_archives
}
fn always(_: &DeepOptions) -> bool {
    true
}

fn anything(_: &[u8]) -> bool {
    true
}

macro_rules! opener {
    ($kind:ident, $magic:expr, $sniff:expr, $enabled:expr, $open:expr) => {
        Opener {
            kind: Kind::$kind,
            magic: $magic,
            sniff: $sniff,
            enabled: $enabled,
            open: $open,
        }
    };
}

/// Every opener, in the order they are tried.
pub(crate) static OPENERS: &[Opener] = &[
    // A spanned archive's marker only before a local header.
    opener!(
        Zip,
        Some(FileType::Zip),
        |h| !h.starts_with(b"PK\x07\x08")
            || h.get(4..).is_some_and(|r| r.starts_with(b"PK\x03\x04")),
        archives,
        |c, b, a| fmt::zip::walk(c, b, a.path, a.depth + 1, Kind::Zip)
    ),
    // Deflate, the one method gzip defines.
    opener!(
        Gzip,
        Some(FileType::Gzip),
        |h| h.get(2) == Some(&8),
        archives,
        compressed
    ),
    // A block size digit and the first block's magic.
    opener!(
        Bzip2,
        Some(FileType::Bzip2),
        |h| h.len() >= 10 && (b'1'..=b'9').contains(&h[3]) && &h[4..10] == b"1AY&SY",
        archives,
        compressed
    ),
    opener!(Xz, Some(FileType::Xz), anything, archives, compressed),
    opener!(Zstd, Some(FileType::Zstd), anything, archives, compressed),
    opener!(
        SevenZ,
        Some(FileType::SevenZ),
        anything,
        archives,
        |c, b, a| fmt::sevenz::walk(c, b, a.path, a.depth + 1)
    ),
    // The header's first reserved field, zero.
    opener!(
        Cab,
        Some(FileType::Cab),
        |h| h.get(4..8) == Some(&[0; 4]),
        archives,
        |c, b, a| fmt::cab::walk(c, b, a.path, a.depth + 1)
    ),
    opener!(Ole2, Some(FileType::Ole2), anything, archives, |c, b, a| {
        fmt::ole::walk(c, b, a.path, a.depth + 1)
    }),
    opener!(Tar, None, fmt::tar::sniff, archives, |c, b, a| {
        fmt::tar::walk(c, b, a.path, a.depth + 1)
    }),
    opener!(Szdd, Some(FileType::Szdd), anything, archives, |c, b, a| {
        fmt::szdd::walk(c, b, a.path, a.depth + 1)
    }),
    // ClamAV opens it when it parses HTML (not an archive option): always here.
    opener!(
        Screnc,
        Some(FileType::Screnc),
        anything,
        always,
        |c, b, a| { fmt::screnc::walk(c, b, a.path, a.depth + 1) }
    ),
    opener!(Chm, None, fmt::chm::detect, archives, |c, b, a| {
        fmt::chm::walk(c, b, a.path, a.depth + 1)
    }),
    opener!(
        Legacy,
        None,
        |h| fmt::legacy::detect(h).is_some(),
        archives,
        |c, b, a| match fmt::legacy::detect(a.head) {
            Some(f) => fmt::legacy::walk(c, b, f, a.path, a.depth + 1),
            None => Ok(Walked::default()),
        }
    ),
    // `MZ` with PE headers.
    opener!(
        Pe,
        Some(FileType::Pe),
        |h| filetype::detect(h) == Target::Pe,
        always,
        |c, b, a| fmt::exe::walk(c, b, a.head, Kind::Pe, a.path, a.depth + 1)
    ),
    // `MZ` that is no PE: nothing below is tried (a DOS program, a bare `MZ` before a zip).
    opener!(Other, Some(FileType::Pe), anything, archives, other),
    opener!(Elf, Some(FileType::Elf), anything, always, |c, b, a| {
        fmt::exe::walk(c, b, a.head, Kind::Elf, a.path, a.depth + 1)
    }),
    opener!(Pdf, None, fmt::pdf::detect, archives, pdf),
    opener!(
        Mbox,
        None,
        |h| h.starts_with(b"From ") && fmt::mime::looks_like_mail(h.split(|&b| b == b'\n').skip(1)),
        |o| o.scan_mail_bases,
        |c, b, a| fmt::mime::walk(c, b, a.path, a.depth + 1, true, None)
    ),
    opener!(
        Mail,
        None,
        |h| header_line_start(h) && fmt::mime::looks_like_mail(h.split(|&b| b == b'\n')),
        |o| o.scan_mail_plain,
        |c, b, a| fmt::mime::walk(c, b, a.path, a.depth + 1, false, None)
    ),
];

/// What every object no opener recognised is opened as.
static OTHER: Opener = opener!(Other, None, anything, archives, other);

/// The kind of an object from its head (at least the first 4 KiB when the object is that long).
pub fn detect(head: &[u8]) -> Kind {
    sniffed(head).kind
}

/// The first opener that recognises `head`.
pub(crate) fn sniffed(head: &[u8]) -> &'static Opener {
    OPENERS
        .iter()
        .find(|o| o.recognises(head))
        .unwrap_or(&OTHER)
}

/// The opener of `kind` (the first registered; [`Kind::Other`] has one of its own).
pub(crate) fn opener(kind: Kind) -> &'static Opener {
    OPENERS.iter().find(|o| o.kind == kind).unwrap_or(&OTHER)
}

/// A compression layer (gzip, bzip2, xz, zstd) holds one member and cannot fan out: it adds a
/// depth level only when it sits directly in another compression layer (so a .tar.gz counts
/// once, while a gzip quine still meets the depth limit).
fn compressed(ctx: &mut ScanSession, blob: &Blob, at: &At) -> Result<Walked, Abort> {
    let depth = if at.in_compress {
        at.depth + 1
    } else {
        at.depth.max(1)
    };
    ctx.in_compress = true;
    let r = fmt::compress::walk(ctx, blob, at.kind, at.path, depth);
    ctx.in_compress = false;
    r
}

/// A PDF: its streams, and what any other object is searched for (a PDF head in front of a
/// zip is a known polyglot).
fn pdf(ctx: &mut ScanSession, blob: &Blob, at: &At) -> Result<Walked, Abort> {
    let d = at.depth + 1;
    let mut w = fmt::pdf::walk(ctx, blob, at.path, d)?;
    merge(
        &mut w,
        fmt::embedded::walk(ctx, blob, Kind::Other, at.path, d)?,
    );
    fmt::text::walk(ctx, blob, at.path, d, &mut w)?;
    merge(&mut w, fmt::zip::walk(ctx, blob, at.path, d, Kind::Other)?);
    Ok(w)
}

/// Anything else: embedded objects, text-encoded objects, and a zip behind any prefix (a
/// script, an image head, a bare `MZ`…), as unzip finds it.
fn other(ctx: &mut ScanSession, blob: &Blob, at: &At) -> Result<Walked, Abort> {
    let d = at.depth + 1;
    let mut w = fmt::embedded::walk(ctx, blob, Kind::Other, at.path, d)?;
    fmt::text::walk(ctx, blob, at.path, d, &mut w)?;
    merge(&mut w, fmt::zip::walk(ctx, blob, at.path, d, Kind::Other)?);
    Ok(w)
}

/// Whether `head` can start a mail header: a field name and its colon within the first
/// 998 bytes (RFC 5322's line limit). A cheap test that spares binary and most text objects
/// the line-by-line one.
fn header_line_start(head: &[u8]) -> bool {
    let w = &head[..head.len().min(998)];
    match memchr::memchr2(b':', b'\n', w) {
        Some(p) if w[p] == b':' => fmt::mime::is_field_name(&w[..p]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind is opened by one opener, and sniffs run in the registry's order.
    #[test]
    fn one_opener_per_kind_and_order_matters() {
        for (i, o) in OPENERS.iter().enumerate() {
            let first = OPENERS.iter().position(|p| p.kind == o.kind);
            assert!(first == Some(i) || o.kind == Kind::Other, "{:?}", o.kind);
        }
        assert_eq!(detect(b"PK\x03\x04rest"), Kind::Zip);
        assert_eq!(detect(b"MZ\0\0 not a pe"), Kind::Other);
        assert_eq!(detect(b"\x7fELF\x02\x01"), Kind::Elf);
        assert_eq!(detect(b"%PDF-1.4\n"), Kind::Pdf);
        assert_eq!(
            detect(b"From a@b Mon\nSubject: x\nFrom: a@b\n\n"),
            Kind::Mbox
        );
        assert_eq!(detect(b"hello"), Kind::Other);
        assert_eq!(detect(b"\x1f\x8b\x08\x00"), Kind::Gzip);
        assert_eq!(detect(b"\x1f\x8b\x00\x00"), Kind::Other);
        assert_eq!(detect(b"PK\x07\x08PK\x03\x04"), Kind::Zip);
        assert_eq!(detect(b"PK\x07\x08PK\x05\x06"), Kind::Other);
        assert_eq!(detect(b"MSCF\0\0\0\0\x10"), Kind::Cab);
        assert_eq!(detect(b"MSCF\0\0\0\x01"), Kind::Other);
        assert_eq!(detect(b"BZh91AY&SY\x00"), Kind::Bzip2);
        assert_eq!(detect(b"BZh0x"), Kind::Other);
    }

    /// The engine's table holds SZDD's magic as the SZDD decoder knows it.
    #[test]
    fn szdd_magic_is_the_decoders() {
        assert!(FileType::Szdd.matches(bulwark_formats::szdd::MAGIC));
        assert_eq!(
            FileType::Szdd.magics(),
            &[&[(0, bulwark_formats::szdd::MAGIC.as_slice())][..]][..]
        );
    }
}
