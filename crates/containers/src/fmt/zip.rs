//! ZIP (with zip64, stored/deflated/deflate64/bzip2/lzma/xz/zstd members) through the `zip`
//! crate; encrypted members give `protected`; overlapping entries (the "better zip bomb") and
//! oversized entry counts give `limits-exceeded` before anything is unpacked.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use zip::ZipArchive;

use crate::blob::Blob;
use crate::ctx::{clean_name, join, Abort, Ctx, Packed};
use crate::walk::{note, Walked};

/// A member's identity for deduplication: SHA-256 of its compressed bytes, CRC and size, and its
/// compressed size.
type DupKey = ([u8; 32], u64);
/// What the first copy of a member cost and found: bytes, members, threat.
type Seen = (u64, u64, Option<String>);

/// Bytes at the end of a zip that can hold the end records.
const TAIL: u64 = 65_536 + 22 + 98;

/// Reads the end of `blob` and checks the claimed entry count; `Err` when over the limit.
pub(crate) fn precheck(ctx: &mut Ctx, blob: &Blob) -> Result<(), Abort> {
    let Ok(mut r) = blob.reader() else {
        return Ok(());
    };
    let len = blob.len();
    let start = len.saturating_sub(TAIL);
    let mut tail = Vec::new();
    if r.seek(SeekFrom::Start(start)).is_err() || r.take(TAIL).read_to_end(&mut tail).is_err() {
        return Ok(());
    }
    if let Some(n) = super::eocd::claimed_entries(&tail) {
        if ctx.members.saturating_add(n) > ctx.opts.limits.max_members {
            return Err(Abort::Limit("member count"));
        }
    }
    Ok(())
}

/// Opens the zip in `blob` and scans every member at `depth`.
pub(crate) fn walk(ctx: &mut Ctx, blob: &Blob, path: &str, depth: u32) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    precheck(ctx, blob)?;
    let Ok(r) = blob.reader() else {
        ctx.error = true;
        return Ok(w);
    };
    let mut za = match ZipArchive::new(r) {
        Ok(z) => z,
        Err(e) => {
            tracing::debug!(error = %e, "not a readable zip");
            ctx.corrupted = true;
            return Ok(w);
        }
    };
    match overlaps(&mut za) {
        Some(n) if n > ctx.opts.limits.max_zip_overlaps as usize => {
            ctx.hit("overlapping zip entries");
            return Ok(w);
        }
        None => ctx.corrupted = true,
        _ => {}
    }
    // Identical members (same compressed bytes) are unpacked once; each copy still counts its
    // bytes and members against the limits, and carries the first copy's threat.
    // The key is SHA-256 (not a fast keyed hash): an attacker controls both members and must not
    // be able to make a malicious member pass for a clean one.
    let mut seen: HashMap<DupKey, Seen> = HashMap::new();
    for i in 0..za.len() {
        ctx.check_time()?;
        let (name, dir, encrypted, csize) = match za.by_index_data(i) {
            Ok(e) => (
                e.name().map(|n| n.to_string()).unwrap_or_default(),
                e.is_dir(),
                e.encrypted(),
                e.compressed_size(),
            ),
            Err(_) => {
                ctx.corrupted = true;
                continue;
            }
        };
        if dir {
            continue;
        }
        if encrypted {
            ctx.protected = true;
            continue;
        }
        let mpath = join(path, &clean_name(&name, &format!("#{i}")));
        let key = za.by_index_raw(i).ok().and_then(|mut raw| {
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match raw.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => h.update(&buf[..n]),
                    Err(_) => return None,
                }
            }
            h.update(raw.crc32().to_le_bytes());
            h.update(raw.size().to_le_bytes());
            Some((h.finalize().into(), csize))
        });
        if let Some((bytes, members, threat)) = key.and_then(|k| seen.get(&k)).cloned() {
            ctx.total = ctx.total.saturating_add(bytes);
            ctx.members = ctx.members.saturating_add(members);
            if ctx.total > ctx.opts.limits.max_total_bytes {
                return Err(Abort::Limit("total unpacked bytes"));
            }
            if ctx.members > ctx.opts.limits.max_members {
                return Err(Abort::Limit("member count"));
            }
            if let Some(t) = threat {
                ctx.threats
                    .push(bulwark_engine::Threat::new(t.clone(), mpath));
                note(&mut w, i, crate::ctx::MemberResult { threat: Some(t) });
            }
            continue;
        }
        let (t0, m0) = (ctx.total, ctx.members);
        let mut f = match za.by_index(i) {
            Ok(f) => f,
            Err(zip::result::ZipError::UnsupportedArchive(m)) => {
                tracing::debug!(member = %mpath, reason = m, "zip member not unpacked");
                ctx.notes.push(format!("{mpath}: {m}"));
                continue;
            }
            Err(zip::result::ZipError::CompressionMethodNotSupported(m)) => {
                ctx.notes
                    .push(format!("{mpath}: compression method {m} not supported"));
                continue;
            }
            Err(_) => {
                ctx.corrupted = true;
                continue;
            }
        };
        let r = ctx.member(&mut f, &mpath, depth, Packed::Fixed(csize))?;
        if let Some(k) = key {
            seen.insert(k, (ctx.total - t0, ctx.members - m0, r.threat.clone()));
        }
        note(&mut w, i, r);
    }
    Ok(w)
}

/// How many members' data ranges overlap another's (`None` when the offsets cannot be read).
fn overlaps<R: Read + Seek>(za: &mut ZipArchive<R>) -> Option<usize> {
    // Reading each member's local header fixes its data start.
    let mut ranges = Vec::with_capacity(za.len());
    for i in 0..za.len() {
        let f = za.by_index_raw(i).ok()?;
        let start = f.data_start()?;
        let size = f.compressed_size();
        if size > 0 {
            ranges.push((start, start.saturating_add(size)));
        }
    }
    ranges.sort_unstable();
    Some(ranges.windows(2).filter(|w| w[0].1 > w[1].0).count())
}
