//! 7-Zip through `sevenz-rust2` (pure Rust; needs a seekable source, so large 7z objects are
//! spilled to a temp file first). Encrypted members give `protected`.

use sevenz_rust2::{ArchiveReader, EntryDecision, Password};

use crate::blob::Blob;
use crate::scan::{clean_name, join, note, Abort, Finding, Limit, Packed, Scan, Walked};

/// Memory limit for 7z headers and decoder dictionaries (KiB).
const MEM_LIMIT_KB: usize = 64 << 10;

/// Scans every member of the 7z in `blob` at `depth`.
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
    let mut ar = match ArchiveReader::new_with_memory_limit(r, Password::empty(), MEM_LIMIT_KB) {
        Ok(a) => a,
        Err(e) => {
            let msg = e.to_string();
            if msg.to_ascii_lowercase().contains("password") {
                ctx.note(Finding::Protected);
            } else {
                ctx.note(Finding::Corrupted);
            }
            return Ok(w);
        }
    };
    ar.set_thread_count(1);
    let n = ar.archive().files.len() as u64;
    if ctx.usage().members.saturating_add(n) > ctx.options().limits.max_members {
        return Err(Abort::Limit(Limit::MemberCount));
    }
    let encrypted: Vec<bool> = (0..ar.archive().files.len())
        .map(|i| ar.archive().is_file_encrypted(i))
        .collect();
    if encrypted.iter().any(|e| *e) {
        ctx.note(Finding::Protected);
    }
    let mut abort = None;
    let mut index = 0usize;
    let res = ar.for_each_entries_with_decision(|entry, rd| {
        let i = index;
        index += 1;
        if entry.is_directory() || !entry.has_stream() {
            return Ok(EntryDecision::Continue);
        }
        if encrypted.get(i).copied().unwrap_or(false) {
            return Ok(EntryDecision::SkipBlock);
        }
        let mpath = join(path, &clean_name(entry.name(), &format!("#{i}")));
        match ctx.member(rd, &mpath, depth, Packed::None) {
            Ok(r) => {
                note(&mut w, i, r);
                Ok(EntryDecision::Continue)
            }
            Err(a) => {
                abort = Some(a);
                Ok(EntryDecision::Stop)
            }
        }
    });
    if let Some(a) = abort {
        return Err(a);
    }
    if let Err(e) = res {
        let msg = e.to_string();
        if msg.to_ascii_lowercase().contains("password") {
            ctx.note(Finding::Protected);
        } else {
            ctx.note(Finding::Corrupted);
        }
    }
    Ok(w)
}
