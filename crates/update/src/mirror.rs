//! Mirror mode (`--mirror-to DIR`, keepup2date `-x`): keep a directory with the layout of an
//! update server, for other Bulwark servers to use as their source. Files are written under
//! temporary names and renamed; the index is written last, so a client never sees an index
//! whose files are missing.

use std::path::Path;

use crate::bulwark_source::{fetch_index, is_newer};
use crate::clamav_source::{fetch_cvd, newer_on};
use crate::error::UpdateError;
use crate::fetch::{Layout, Location, Source};
use crate::index::{Index, INDEX_FILE, MAX_INDEX_BYTES};
use crate::install::read_index;
use crate::run::{Ctx, Step};
use crate::verify::get_file;

fn part(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!(".{name}.part"))
}

fn rename(from: &Path, to: &Path) -> Result<(), UpdateError> {
    std::fs::rename(from, to).map_err(|e| UpdateError::io(to, e))
}

/// Brings the mirror at `dir` up to date from `src`.
pub(crate) fn update(ctx: &Ctx, src: &Source, dir: &Path) -> Result<Step, UpdateError> {
    std::fs::create_dir_all(dir).map_err(|e| UpdateError::io(dir, e))?;
    match src.layout {
        Layout::Bulwark => bulwark(ctx, &src.location, dir),
        Layout::ClamAv => clamav(ctx, &src.location, dir),
    }
}

/// The index already in the mirror when a trusted key signed it. Only such an index counts
/// for the rollback check: one written there by anyone else (a higher version signed by a
/// foreign key) would otherwise refuse every genuine update from then on.
fn trusted_index(ctx: &Ctx, dir: &Path) -> Option<Index> {
    let p = dir.join(INDEX_FILE);
    let meta = std::fs::metadata(&p).ok()?;
    if meta.len() > MAX_INDEX_BYTES {
        return None;
    }
    Index::verify(&std::fs::read(&p).ok()?, &ctx.trusted).ok()
}

fn bulwark(ctx: &Ctx, loc: &Location, dir: &Path) -> Result<Step, UpdateError> {
    // Any index there, for the files it lists (removed when the new index does not list them).
    let old: Option<Index> = read_index(dir);
    let trusted = trusted_index(ctx, dir);
    if old.is_some() && trusted.is_none() {
        tracing::warn!(
            mirror = %dir.display(),
            "the mirror's index is not signed by a trusted key; it is replaced"
        );
    }
    let (bytes, index) = fetch_index(ctx, loc)?;
    let installed = trusted.as_ref().map(|o| o.version);
    if !is_newer(index.version, installed)? {
        return Ok(Step::Current {
            version: index.version.to_string(),
        });
    }
    let mut files = 0;
    let mut total = 0;
    for f in &index.files {
        let existing = dir.join(&f.name);
        let tmp = part(dir, &f.name);
        let n = get_file(
            &ctx.fetcher,
            loc,
            f,
            existing.is_file().then_some(existing.as_path()),
            &tmp,
            ctx.max_file,
        );
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        rename(&tmp, &existing)?;
        if n > 0 {
            files += 1;
            total += n;
        }
    }
    let tmp = part(dir, INDEX_FILE);
    std::fs::write(&tmp, &bytes).map_err(|e| UpdateError::io(&tmp, e))?;
    rename(&tmp, &dir.join(INDEX_FILE))?;
    if let Some(old) = &old {
        for f in &old.files {
            if index.file(&f.name).is_none() {
                let _ = std::fs::remove_file(dir.join(&f.name));
            }
        }
    }
    Ok(Step::Installed {
        from: installed.map(|v| v.to_string()),
        to: index.version.to_string(),
        files,
        bytes: total,
        signatures: 0,
    })
}

fn clamav(ctx: &Ctx, loc: &Location, dir: &Path) -> Result<Step, UpdateError> {
    let (fetch, _) = newer_on(ctx, loc, Some(dir))?;
    if fetch.is_empty() {
        return Ok(Step::Current {
            version: String::new(),
        });
    }
    let mut bytes = 0;
    for (name, announced) in &fetch {
        let file = format!("{name}.cvd");
        let tmp = part(dir, &file);
        match fetch_cvd(ctx, loc, name, announced, &tmp) {
            Ok(n) => bytes += n,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
        rename(&tmp, &dir.join(&file))?;
    }
    let to = fetch
        .iter()
        .map(|(n, h)| format!("{n}.cvd {}", h.version))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Step::Installed {
        from: None,
        to,
        files: fetch.len(),
        bytes,
        signatures: 0,
    })
}
