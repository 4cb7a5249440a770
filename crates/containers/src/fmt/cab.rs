//! Microsoft cabinets through the `cab` crate (stored, MSZIP, LZX; not Quantum).

use crate::blob::Blob;
use crate::scan::{clean_name, join, note, Abort, Finding, Packed, Scan, Walked};

/// Scans every file of the cabinet in `blob` at `depth`.
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
    let mut cab = match cab::Cabinet::new(r) {
        Ok(c) => c,
        Err(_) => {
            ctx.note(Finding::Corrupted);
            return Ok(w);
        }
    };
    let names: Vec<String> = cab
        .folder_entries()
        .flat_map(|f| f.file_entries().map(|e| e.name().to_string()))
        .take(ctx.options().limits.max_members as usize + 1)
        .collect();
    for (i, name) in names.iter().enumerate() {
        let mpath = join(path, &clean_name(name, &format!("#{i}")));
        let mut rd = match cab.read_file(name) {
            Ok(r) => r,
            Err(_) => {
                ctx.note(Finding::Corrupted);
                continue;
            }
        };
        let r = ctx.member(&mut rd, &mpath, depth, Packed::None)?;
        note(&mut w, i, r);
    }
    Ok(w)
}
