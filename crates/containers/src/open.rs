//! The openers' registry: for each kind of object, how it is recognised from its first bytes
//! (`sniff`) and how it is opened (`open`), in the order they are tried. [`detect`] is the first
//! opener whose sniff says yes; the walk opens a blob with the opener of its kind. Adding a
//! format is adding one entry here and one module in `fmt`.

use bulwark_engine::filetype::{self, Target};

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
    /// Whether an object starting with `head` is of this kind.
    pub sniff: fn(&[u8]) -> bool,
    /// Whether the options let it be opened.
    pub enabled: fn(&DeepOptions) -> bool,
    /// Scans its members.
    pub open: fn(&mut ScanSession, &Blob, &At) -> Result<Walked, Abort>,
}

fn archives(o: &DeepOptions) -> bool {
    o.scan_archives
}
fn always(_: &DeepOptions) -> bool {
    true
}

macro_rules! opener {
    ($kind:ident, $sniff:expr, $enabled:expr, $open:expr) => {
        Opener {
            kind: Kind::$kind,
            sniff: $sniff,
            enabled: $enabled,
            open: $open,
        }
    };
}

/// Every opener, in the order their sniffs are tried.
pub(crate) static OPENERS: &[Opener] = &[
    opener!(
        Zip,
        |h| h.starts_with(b"PK\x03\x04")
            || h.starts_with(b"PK\x05\x06")
            || h.starts_with(b"PK\x07\x08PK\x03\x04"),
        archives,
        |c, b, a| fmt::zip::walk(c, b, a.path, a.depth + 1, Kind::Zip)
    ),
    opener!(
        Gzip,
        |h| h.starts_with(b"\x1f\x8b\x08"),
        archives,
        compressed
    ),
    opener!(
        Bzip2,
        |h| h.len() >= 10
            && h.starts_with(b"BZh")
            && (b'1'..=b'9').contains(&h[3])
            && &h[4..10] == b"1AY&SY",
        archives,
        compressed
    ),
    opener!(Xz, |h| h.starts_with(b"\xfd7zXZ\x00"), archives, compressed),
    opener!(
        Zstd,
        |h| h.starts_with(b"\x28\xb5\x2f\xfd"),
        archives,
        compressed
    ),
    opener!(
        SevenZ,
        |h| h.starts_with(b"7z\xbc\xaf\x27\x1c"),
        archives,
        |c, b, a| fmt::sevenz::walk(c, b, a.path, a.depth + 1)
    ),
    opener!(
        Cab,
        |h| h.starts_with(b"MSCF\0\0\0\0"),
        archives,
        |c, b, a| fmt::cab::walk(c, b, a.path, a.depth + 1)
    ),
    opener!(
        Ole2,
        |h| h.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
        archives,
        |c, b, a| fmt::ole::walk(c, b, a.path, a.depth + 1)
    ),
    opener!(Tar, fmt::tar::sniff, archives, |c, b, a| fmt::tar::walk(
        c,
        b,
        a.path,
        a.depth + 1
    )),
    opener!(
        Szdd,
        |h| h.starts_with(bulwark_formats::szdd::MAGIC),
        archives,
        |c, b, a| fmt::szdd::walk(c, b, a.path, a.depth + 1)
    ),
    // ClamAV opens it when it parses HTML (not an archive option): always here.
    opener!(Screnc, |h| h.starts_with(b"#@~^"), always, |c, b, a| {
        fmt::screnc::walk(c, b, a.path, a.depth + 1)
    }),
    opener!(Chm, fmt::chm::detect, archives, |c, b, a| fmt::chm::walk(
        c,
        b,
        a.path,
        a.depth + 1
    )),
    opener!(
        Legacy,
        |h| fmt::legacy::detect(h).is_some(),
        archives,
        |c, b, a| match fmt::legacy::detect(a.head) {
            Some(f) => fmt::legacy::walk(c, b, f, a.path, a.depth + 1),
            None => Ok(Walked::default()),
        }
    ),
    opener!(
        Pe,
        |h| h.starts_with(b"MZ") && filetype::detect(h) == Target::Pe,
        always,
        |c, b, a| fmt::exe::walk(c, b, a.head, Kind::Pe, a.path, a.depth + 1)
    ),
    // `MZ` that is no PE: nothing below is tried (a DOS program, a bare `MZ` before a zip).
    opener!(Other, |h| h.starts_with(b"MZ"), archives, other),
    opener!(Elf, |h| h.starts_with(b"\x7fELF"), always, |c, b, a| {
        fmt::exe::walk(c, b, a.head, Kind::Elf, a.path, a.depth + 1)
    }),
    opener!(Pdf, fmt::pdf::detect, archives, pdf),
    opener!(
        Mbox,
        |h| h.starts_with(b"From ") && fmt::mime::looks_like_mail(h.split(|&b| b == b'\n').skip(1)),
        |o| o.scan_mail_bases,
        |c, b, a| fmt::mime::walk(c, b, a.path, a.depth + 1, true, None)
    ),
    opener!(
        Mail,
        |h| header_line_start(h) && fmt::mime::looks_like_mail(h.split(|&b| b == b'\n')),
        |o| o.scan_mail_plain,
        |c, b, a| fmt::mime::walk(c, b, a.path, a.depth + 1, false, None)
    ),
];

/// What every object no sniff recognised is opened as.
static OTHER: Opener = opener!(Other, |_| true, archives, other);

/// The kind of an object from its head (at least the first 4 KiB when the object is that long).
pub fn detect(head: &[u8]) -> Kind {
    sniffed(head).kind
}

/// The opener whose sniff recognises `head` first.
pub(crate) fn sniffed(head: &[u8]) -> &'static Opener {
    OPENERS.iter().find(|o| (o.sniff)(head)).unwrap_or(&OTHER)
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
    }
}
