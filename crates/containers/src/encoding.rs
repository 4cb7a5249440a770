//! HTTP `Content-Encoding` (gzip, deflate, br, zstd, stacked in any order) undone before
//! scanning.

use std::io::{BufRead, BufReader, Read};

use crate::blob::Blob;
use crate::kind::Kind;
use crate::scan::{Abort, Counted, Counter, Finding, Packed, Scan};

/// One coding of a `Content-Encoding` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// gzip / x-gzip.
    Gzip,
    /// deflate (zlib-wrapped, or raw as some servers send it).
    Deflate,
    /// Brotli.
    Br,
    /// Zstandard.
    Zstd,
    /// identity (nothing to undo).
    Identity,
}

/// A coding of a `Content-Encoding` value that is not undone here (`compress`, a typo…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content-encoding {0} not supported")]
pub struct UnknownCoding(pub String);

/// The codings of a header value in the order they were applied; `Err` with the first unknown one.
pub fn parse(value: &str) -> Result<Vec<Coding>, UnknownCoding> {
    value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| match t.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Ok(Coding::Gzip),
            "deflate" => Ok(Coding::Deflate),
            "br" => Ok(Coding::Br),
            "zstd" => Ok(Coding::Zstd),
            "identity" => Ok(Coding::Identity),
            other => Err(UnknownCoding(other.to_string())),
        })
        .collect()
}

/// A reader that undoes `coding` over `r`.
fn undo<'a>(coding: Coding, r: Box<dyn Read + 'a>) -> Box<dyn Read + 'a> {
    match coding {
        Coding::Gzip => crate::fmt::compress::decoder(Kind::Gzip, r).unwrap_or_else(|| failing()),
        Coding::Zstd => crate::fmt::compress::decoder(Kind::Zstd, r).unwrap_or_else(|| failing()),
        Coding::Br => Box::new(brotli::Decompressor::new(r, 64 << 10)),
        Coding::Deflate => {
            let mut b = BufReader::new(r);
            let zlib = match b.fill_buf() {
                Ok(h) if h.len() >= 2 => {
                    h[0] & 0x0f == 8 && (u16::from(h[0]) << 8 | u16::from(h[1])) % 31 == 0
                }
                _ => true,
            };
            if zlib {
                Box::new(flate2::read::ZlibDecoder::new(b))
            } else {
                Box::new(flate2::read::DeflateDecoder::new(b))
            }
        }
        Coding::Identity => r,
    }
}

fn failing<'a>() -> Box<dyn Read + 'a> {
    struct Fail;
    impl Read for Fail {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("decoder could not start"))
        }
    }
    Box::new(Fail)
}

/// Decodes `blob` as encoded with `codings`; the decoded object is scanned by the engine as
/// it is produced (threats under `path`). Returns the decoded blob, or `None` when a limit cut it.
/// A broken encoding marks the scan corrupted (what decoded so far is kept and scanned).
pub(crate) fn decode<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    codings: &[Coding],
    path: &str,
) -> Result<Option<Blob>, Abort> {
    let Ok(r) = blob.reader() else {
        ctx.note(Finding::Error);
        return Ok(None);
    };
    let count = Counter::default();
    let mut r: Box<dyn Read> = Box::new(Counted::new(r, count.clone()));
    for c in codings.iter().rev() {
        r = undo(*c, r);
    }
    let Some(mut sink) = ctx.begin(0, Packed::Counted(count))? else {
        return Ok(None);
    };
    let out = match ctx.pump(&mut sink, &mut r) {
        Ok(true) => Ok(()),
        Ok(false) => {
            ctx.note(Finding::Corrupted);
            Ok(())
        }
        Err(e) => Err(e),
    };
    let (_, b) = ctx.end_raw(sink, path, out)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codings() {
        assert_eq!(parse("gzip, br").unwrap(), vec![Coding::Gzip, Coding::Br]);
        assert_eq!(parse("x-gzip").unwrap(), vec![Coding::Gzip]);
        let unknown = parse("gzip, compress").unwrap_err();
        assert_eq!(unknown, UnknownCoding("compress".into()));
        assert_eq!(
            unknown.to_string(),
            "content-encoding compress not supported"
        );
        assert!(parse("").unwrap().is_empty());
    }
}
