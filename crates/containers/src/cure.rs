//! Cure (SPEC F-ENG-5): rebuild a zip, tar or MIME message with each infected member replaced by
//! a short text file that names the threat. Clean members are copied byte for byte (zip: raw
//! compressed data; tar: data; MIME: the raw body).

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::blob::{Blob, Spool};
use crate::fmt::mime::PartRange;
use crate::DeepOptions;

/// The text that replaces an infected member.
pub(crate) fn stub(threat: &str) -> Vec<u8> {
    format!("This file was removed by Bulwark because it contained a threat: {threat}.\r\n")
        .into_bytes()
}

/// Why a container could not be rebuilt.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CureError {
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The zip library refused.
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
}

fn threat_of(infected: &[(usize, String)], i: usize) -> Option<&str> {
    infected
        .iter()
        .find(|(j, _)| *j == i)
        .map(|(_, t)| t.as_str())
}

/// Rebuilds the zip in `blob`.
pub(crate) fn zip(
    blob: &Blob,
    infected: &[(usize, String)],
    opts: &DeepOptions,
) -> Result<Blob, CureError> {
    use zip::write::SimpleFileOptions;
    // The archive the walk numbered the members of.
    let mut za = crate::fmt::zip::primary(blob)?;
    let f = tempfile::tempfile_in(&opts.temp_dir).or_else(|_| tempfile::tempfile())?;
    let mut zw = zip::ZipWriter::new(f);
    for i in 0..za.len() {
        match threat_of(infected, i) {
            Some(t) => {
                let name = za.by_index_data(i)?.name()?.to_string();
                let o =
                    SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
                zw.start_file(format!("{name}.removed.txt"), o)?;
                zw.write_all(&stub(t))?;
            }
            None => zw.raw_copy_file(za.by_index_raw(i)?)?,
        }
    }
    let mut f = zw.finish()?;
    let len = f.seek(SeekFrom::End(0))?;
    Ok(Blob::File(f, len))
}

/// Rebuilds the tar in `blob`.
pub(crate) fn tar(
    blob: &Blob,
    infected: &[(usize, String)],
    opts: &DeepOptions,
) -> Result<Blob, CureError> {
    let mut ar = tar::Archive::new(blob.reader()?);
    let spool = Spool::new(opts.limits.spill_bytes, &opts.temp_dir);
    let mut b = tar::Builder::new(spool);
    b.mode(tar::HeaderMode::Complete);
    for (i, e) in ar.entries()?.enumerate() {
        let mut e = e?;
        let path = e.path()?.into_owned();
        let mut h = e.header().clone();
        match threat_of(infected, i) {
            Some(t) => {
                let s = stub(t);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(s.len() as u64);
                let mut p = path.into_os_string();
                p.push(".removed.txt");
                b.append_data(&mut h, p, s.as_slice())?;
            }
            None => {
                let link = e.link_name()?.map(|l| l.into_owned());
                match link {
                    Some(l) if h.entry_type().is_symlink() || h.entry_type().is_hard_link() => {
                        b.append_link(&mut h, &path, &l)?
                    }
                    _ => b.append_data(&mut h, &path, &mut e)?,
                }
            }
        }
    }
    let spool = b.into_inner()?;
    Ok(spool.finish())
}

/// Rebuilds the MIME message in `blob` (part bodies replaced in place; heads kept).
pub(crate) fn mime(
    blob: &Blob,
    parts: &[PartRange],
    infected: &[(usize, String)],
    opts: &DeepOptions,
) -> Result<Blob, CureError> {
    let mut r = blob.reader()?;
    let mut out = Spool::new(opts.limits.spill_bytes, &opts.temp_dir);
    let mut pos = 0u64;
    let mut list: Vec<(&PartRange, &str)> = infected
        .iter()
        .filter_map(|(i, t)| parts.get(*i).map(|p| (p, t.as_str())))
        .collect();
    list.sort_by_key(|(p, _)| p.start);
    for (p, t) in list {
        if p.start < pos {
            continue;
        }
        io::copy(&mut (&mut r).take(p.start - pos), &mut out)?;
        r.seek(SeekFrom::Start(p.end))?;
        pos = p.end;
        let s = stub(t);
        if p.base64 {
            out.push(&base64_lines(&s))?;
        } else {
            out.push(&s)?;
        }
    }
    io::copy(&mut r, &mut out)?;
    Ok(out.finish())
}

fn base64_lines(d: &[u8]) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for (n, c) in d.chunks(3).enumerate() {
        if n > 0 && n % 19 == 0 {
            out.extend_from_slice(b"\r\n");
        }
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        out.push(T[(b[0] >> 2) as usize]);
        out.push(T[((b[0] & 3) << 4 | b[1] >> 4) as usize]);
        out.push(if c.len() > 1 {
            T[((b[1] & 15) << 2 | b[2] >> 6) as usize]
        } else {
            b'='
        });
        out.push(if c.len() > 2 {
            T[(b[2] & 63) as usize]
        } else {
            b'='
        });
    }
    out
}

/// Compresses `blob` again with gzip or bzip2 (the codings cure can restore).
pub(crate) fn recompress(
    blob: &Blob,
    kind: crate::kind::Kind,
    opts: &DeepOptions,
) -> Result<Blob, CureError> {
    let out = Spool::new(opts.limits.spill_bytes, &opts.temp_dir);
    let mut r = blob.reader()?;
    match kind {
        crate::kind::Kind::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            io::copy(&mut r, &mut e)?;
            Ok(e.finish()?.finish())
        }
        crate::kind::Kind::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(out, bzip2::Compression::default());
            io::copy(&mut r, &mut e)?;
            Ok(e.finish()?.finish())
        }
        _ => Err(CureError::Io(io::Error::other("cannot recompress"))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_stub() {
        assert_eq!(super::base64_lines(b"hello"), b"aGVsbG8=");
    }
}
