//! Filling a staging directory from a source and checking it: sizes, hashes, CVD signatures,
//! and a test load with the engine.

use std::path::Path;

use bulwark_engine::{Database, LoadOptions};

use crate::error::UpdateError;
use crate::fetch::{hash_file, Fetcher, Location};
use crate::hex::hex;
use crate::index::IndexFile;

/// Gets `f` into `dest`: copied from `local` when that file has the same size and SHA-256
/// (only what changed is downloaded), else downloaded from `loc`; checked against `f` either
/// way. Returns the bytes downloaded.
pub fn get_file(
    fetcher: &Fetcher,
    loc: &Location,
    f: &IndexFile,
    local: Option<&Path>,
    dest: &Path,
    max_file: u64,
) -> Result<u64, UpdateError> {
    if f.size > max_file {
        return Err(UpdateError::Mismatch {
            name: f.name.clone(),
            reason: format!("{} bytes is over the limit of {max_file}", f.size),
        });
    }
    if let Some(l) = local {
        if copy_verified(l, dest, f).is_ok() {
            return Ok(0);
        }
    }
    let got = fetcher.to_file(loc, &f.name, dest, f.size)?;
    if got.size != f.size {
        return Err(UpdateError::Mismatch {
            name: f.name.clone(),
            reason: format!("{} bytes received, the index says {}", got.size, f.size),
        });
    }
    if got.sha256 != f.sha256 {
        return Err(UpdateError::Mismatch {
            name: f.name.clone(),
            reason: format!(
                "SHA-256 {} differs from the signed index ({})",
                hex(&got.sha256),
                hex(&f.sha256)
            ),
        });
    }
    Ok(got.size)
}

/// Copies `src` to `dest` when its content is what `f` describes.
fn copy_verified(src: &Path, dest: &Path, f: &IndexFile) -> Result<(), ()> {
    let meta = std::fs::metadata(src).map_err(|_| ())?;
    if meta.len() != f.size {
        return Err(());
    }
    std::fs::copy(src, dest).map_err(|_| ())?;
    match hash_file(dest) {
        Ok(h) if h.size == f.size && h.sha256 == f.sha256 => Ok(()),
        _ => {
            let _ = std::fs::remove_file(dest);
            Err(())
        }
    }
}

/// What a test load found.
#[derive(Debug, Clone)]
pub struct TestLoad {
    /// Signatures loaded.
    pub signatures: u64,
    /// Signature files read.
    pub files: usize,
    /// The engine's version string of the new database.
    pub version: String,
}

/// Loads the database in `dir` with the engine, as the server will. A load error, or no
/// signature loaded at all, refuses the update.
pub fn test_load(dir: &Path) -> Result<TestLoad, UpdateError> {
    let (db, report) = Database::load(&[dir.to_path_buf()], &LoadOptions::default())
        .map_err(|e| UpdateError::Load(e.to_string()))?;
    let signatures: u64 = report.files.iter().map(|f| f.loaded).sum();
    for f in &report.files {
        let malformed: u64 = f.malformed.values().sum();
        if malformed > 0 {
            tracing::warn!(file = %f.path, malformed, loaded = f.loaded,
                "the new database has malformed signatures");
        }
    }
    if signatures == 0 {
        return Err(UpdateError::Load(format!(
            "no signature loaded from {} file(s)",
            report.files.len()
        )));
    }
    Ok(TestLoad {
        signatures,
        files: report.files.len(),
        version: db.version().to_string(),
    })
}
