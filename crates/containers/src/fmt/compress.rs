//! Single-stream compressors: gzip (multi-member), bzip2 (multi-stream), xz, zstd. The
//! decompressed stream is one member at the same path.

use std::io::Read;

use crate::blob::Blob;
use crate::kind::Kind;
use crate::scan::{note, Abort, Counted, Counter, Finding, Packed, Scan, Walked};

/// Largest zstd window accepted (2^27 = 128 MiB, zstd's default limit for decoders).
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// A streaming decoder for `kind` over `r`; `None` for other kinds.
pub(crate) fn decoder<'a>(kind: Kind, r: Box<dyn Read + 'a>) -> Option<Box<dyn Read + 'a>> {
    Some(match kind {
        Kind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Kind::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Kind::Xz => Box::new(lzma_rust2::XzReader::new(r, true)),
        Kind::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(r).ok()?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX).ok()?;
            Box::new(d)
        }
        _ => return None,
    })
}

/// Decompresses `blob` into one member at `path`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    kind: Kind,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    let Ok(r) = blob.reader() else {
        ctx.note(Finding::Error);
        return Ok(w);
    };
    let count = Counter::default();
    let counted: Box<dyn Read> = Box::new(Counted::new(r, count.clone()));
    let Some(mut d) = decoder(kind, counted) else {
        return Ok(w);
    };
    let r = ctx.member(&mut d, path, depth, Packed::Counted(count))?;
    note(&mut w, 0, r);
    Ok(w)
}
