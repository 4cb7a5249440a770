//! Objects embedded in other objects (ours, fuzzed): PE executables at any offset, carved by
//! the size their section table gives, and archives appended to executables (self-extracting
//! 7z, cab, and OLE2/MSI installers; zips are found by `fmt::zip`).

use crate::blob::Blob;
use crate::kind::Kind;
use crate::scan::{note, Abort, Finding, Scan, Walked};

/// Largest object searched for embedded objects.
const MAX_SEARCH: u64 = 64 << 20;
/// Most embedded objects taken from one object.
const MAX_CARVED: usize = 16;

/// The size of the PE image starting at `d[0]` as laid out in the file (headers and the raw
/// data of every section), when `d` starts with a valid PE.
pub fn pe_size(d: &[u8]) -> Option<usize> {
    use bulwark_formats::pe::{Headers, MAX_SECTIONS};
    let h = Headers::parse(d).ok()?;
    if h.signature > 0x10000
        || !(1..=MAX_SECTIONS).contains(&h.declared_sections)
        || h.sections.len() < h.declared_sections
    {
        return None;
    }
    usize::try_from(h.file_end()).ok()
}

/// Where embedded objects may start in `d`, with their kind and length (carved to the end when
/// the format finds its own end).
pub fn candidates(d: &[u8], host: Kind) -> Vec<(usize, usize, Kind)> {
    let mut out = Vec::new();
    for pos in memchr::memmem::find_iter(d, b"MZ") {
        if out.len() >= MAX_CARVED {
            break;
        }
        if pos == 0 {
            continue;
        }
        if let Some(n) = pe_size(&d[pos..]) {
            let n = n.min(d.len() - pos);
            out.push((pos, n, Kind::Pe));
        }
    }
    if matches!(host, Kind::Pe | Kind::Elf) {
        // Zips are found by the zip walker itself, at any offset in any object.
        let sigs: [(&[u8], Kind); 3] = [
            (b"7z\xbc\xaf\x27\x1c", Kind::SevenZ),
            (b"MSCF\0\0\0\0", Kind::Cab),
            (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", Kind::Ole2),
        ];
        for (sig, kind) in sigs {
            let found = d.get(1..).and_then(|t| memchr::memmem::find(t, sig));
            if let Some(pos) = found.map(|p| p + 1) {
                let len = match kind {
                    Kind::Cab => d
                        .get(pos + 8..pos + 12)
                        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                        .unwrap_or(0)
                        .min(d.len() - pos),
                    _ => d.len() - pos,
                };
                if len > 0 && out.len() < MAX_CARVED {
                    out.push((pos, len, kind));
                }
            }
        }
    }
    out
}

/// Scans objects embedded in `blob` as members at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    host: Kind,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let data = match blob.bytes(MAX_SEARCH) {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(Walked::default()),
        Err(_) => {
            ctx.note(Finding::Error);
            return Ok(Walked::default());
        }
    };
    walk_data(ctx, &data, host, path, depth)
}

/// [`walk`] on bytes already in memory (searched up to 64 MiB).
pub(crate) fn walk_data<'o>(
    ctx: &mut impl Scan<'o>,
    data: &[u8],
    host: Kind,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    let data = &data[..data.len().min(MAX_SEARCH as usize)];
    for (i, (pos, len, kind)) in candidates(data, host).into_iter().enumerate() {
        let name = format!("@{pos}.{}", kind.name());
        let mpath = crate::scan::join(path, &name);
        // A carved object is a guess: one that does not parse is not a corrupted host.
        let corrupted = ctx.corrupted();
        let r = ctx.member_bytes(&data[pos..pos + len], &mpath, depth)?;
        ctx.restore_corrupted(corrupted);
        note(&mut w, i, r);
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_panic_on_junk() {
        assert_eq!(pe_size(b"MZ"), None);
        let mut d = vec![0u8; 0x100];
        d[0] = b'M';
        d[1] = b'Z';
        d[0x3c] = 0x40;
        d[0x40..0x44].copy_from_slice(b"PE\0\0");
        assert_eq!(pe_size(&d), None);
        assert!(candidates(&d, Kind::Pe).is_empty());
        // Found by fuzzing: an empty object.
        assert!(candidates(b"", Kind::Pe).is_empty());
    }
}
