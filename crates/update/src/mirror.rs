//! Mirror mode (`--mirror-to DIR`, keepup2date `-x`): keep a directory with the layout of an
//! update server, for other Bulwark servers to use as their source. Each source mirrors its own
//! layout (`Source::mirror`); these are the file steps they share. Files are written under
//! temporary names and renamed, and a source writes its index last, so a client never sees an
//! index whose files are missing.

use std::path::{Path, PathBuf};

use crate::error::UpdateError;

/// Creates the mirror directory if needed.
pub(crate) fn create(dir: &Path) -> Result<(), UpdateError> {
    std::fs::create_dir_all(dir).map_err(|e| UpdateError::io(dir, e))
}

/// Puts `dir/name` in place: `fill` writes the temporary file it is given (and returns the
/// bytes downloaded), which is then renamed over `name`; on an error it is removed.
pub(crate) fn put(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&Path) -> Result<u64, UpdateError>,
) -> Result<u64, UpdateError> {
    let tmp = part(dir, name);
    let n = match fill(&tmp) {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    rename(&tmp, &dir.join(name))?;
    Ok(n)
}

/// Writes `bytes` as `dir/name` through a temporary file.
pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), UpdateError> {
    let tmp = part(dir, name);
    std::fs::write(&tmp, bytes).map_err(|e| UpdateError::io(&tmp, e))?;
    rename(&tmp, &dir.join(name))
}

fn part(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.part"))
}

fn rename(from: &Path, to: &Path) -> Result<(), UpdateError> {
    std::fs::rename(from, to).map_err(|e| UpdateError::io(to, e))
}
