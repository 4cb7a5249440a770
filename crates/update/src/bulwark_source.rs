//! Updating from a Bulwark-layout source: a signed `bulwark-db.index` and the files it lists.

use crate::error::UpdateError;
use crate::fetch::Location;
use crate::index::{Index, INDEX_FILE, MAX_INDEX_BYTES};
use crate::install::Installation;
use crate::run::{Ctx, Step};
use crate::verify::{get_file, test_load};

/// Fetches and checks the index of `loc`: signed by a trusted key, allowed by the licence.
pub(crate) fn fetch_index(ctx: &Ctx, loc: &Location) -> Result<(Vec<u8>, Index), UpdateError> {
    let bytes = ctx.fetcher.bytes(loc, INDEX_FILE, MAX_INDEX_BYTES)?;
    let index = Index::verify(&bytes, &ctx.trusted)?;
    ctx.check_published(index.published)?;
    Ok((bytes, index))
}

/// Compares an offered version with the installed one: `Ok(true)` when it is newer.
pub(crate) fn is_newer(offered: u64, installed: Option<u64>) -> Result<bool, UpdateError> {
    match installed {
        Some(i) if offered < i => Err(UpdateError::Older {
            offered: offered.to_string(),
            installed: i.to_string(),
        }),
        Some(i) if offered == i => Ok(false),
        _ => Ok(true),
    }
}

/// One update from `loc` into `inst`.
pub(crate) fn update(ctx: &Ctx, loc: &Location, inst: &Installation) -> Result<Step, UpdateError> {
    let current_dir = inst.current_dir();
    let current = inst.current_index();
    let (bytes, index) = fetch_index(ctx, loc)?;
    let installed = current.as_ref().map(|c| c.version);
    if !is_newer(index.version, installed)? {
        return Ok(Step::Current {
            version: index.version.to_string(),
        });
    }
    let staging = inst.staging()?;
    let mut downloaded = 0usize;
    let mut bytes_in = 0u64;
    for f in &index.files {
        let local = current
            .as_ref()
            .and_then(|c| c.file(&f.name))
            .filter(|c| c.sha256 == f.sha256 && c.size == f.size)
            .and(current_dir.as_ref())
            .map(|d| d.join(&f.name));
        let dest = staging.path().join(&f.name);
        let n = get_file(&ctx.fetcher, loc, f, local.as_deref(), &dest, ctx.max_file)?;
        if local.is_none() || n > 0 {
            downloaded += 1;
            bytes_in += n;
        }
    }
    let idx_path = staging.path().join(INDEX_FILE);
    std::fs::write(&idx_path, &bytes).map_err(|e| UpdateError::io(&idx_path, e))?;
    let loaded = test_load(staging.path())?;
    inst.install(staging, &format!("v{}", index.version))?;
    Ok(Step::Installed {
        from: installed.map(|v| v.to_string()),
        to: index.version.to_string(),
        files: downloaded,
        bytes: bytes_in,
        signatures: loaded.signatures,
    })
}
