//! tar (POSIX, GNU, PAX) through the `tar` crate, streaming.

use crate::blob::Blob;
use crate::scan::{clean_name, join, note, Abort, Finding, Packed, Scan, Walked};

/// Scans every regular file of the tar in `blob` at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    blob: &Blob,
    path: &str,
    depth: u32,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    let Ok(r) = blob.reader() else {
        ctx.note(Finding::Error);
        return Ok(w);
    };
    let mut ar = tar::Archive::new(r);
    let entries = match ar.entries() {
        Ok(e) => e,
        Err(_) => {
            ctx.note(Finding::Corrupted);
            return Ok(w);
        }
    };
    for (i, e) in entries.enumerate() {
        ctx.check_time()?;
        let mut e = match e {
            Ok(e) => e,
            Err(_) => {
                ctx.note(Finding::Corrupted);
                break;
            }
        };
        let t = e.header().entry_type();
        if !(t.is_file() || t == tar::EntryType::Continuous || t == tar::EntryType::GNUSparse) {
            // Still counted: a million empty directories is a bomb too.
            ctx.charge(0, 1)?;
            continue;
        }
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mpath = join(path, &clean_name(&name, &format!("#{i}")));
        let r = ctx.member(&mut e, &mpath, depth, Packed::None)?;
        note(&mut w, i, r);
    }
    Ok(w)
}

/// A tar header block: `ustar` magic, or an old-style header whose checksum is right.
pub fn sniff(head: &[u8]) -> bool {
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
