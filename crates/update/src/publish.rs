//! Publishing a database (`bulwark db keygen|build|sign`): the key pair, and a mirror
//! directory holding the signature files and the signed index.

use std::path::Path;

use time::OffsetDateTime;

use crate::error::UpdateError;
use crate::fetch::hash_file;
use crate::index::{safe_name, Index, IndexFile, INDEX_FILE};
use crate::install::read_index;

/// Writes a new signing key pair (`PREFIX` secret, `PREFIX.pub` public); returns its key id.
pub fn keygen(prefix: &Path) -> Result<String, UpdateError> {
    let key = bulwark_sign::generate()?;
    bulwark_sign::write_pair(prefix, &key)?;
    Ok(bulwark_sign::key_id(&key.verifying_key()))
}

/// Options of [`build`].
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The version to publish; default: the current Unix time, or one more than the mirror's
    /// version when that is not smaller.
    pub version: Option<u64>,
    /// Skip the test load of the source directory.
    pub no_check: bool,
}

/// Makes (or updates) a publishable mirror in `out` from the signature files in `src` (every
/// regular, non-hidden file; names limited to `A-Z a-z 0-9 . _ -`), signed with the secret key
/// at `key`. Files are written under temporary names and renamed; the index comes last.
pub fn build(
    src: &Path,
    out: &Path,
    key: &Path,
    opts: &BuildOptions,
) -> Result<Index, UpdateError> {
    let key = bulwark_sign::read_secret(key)?;
    if !opts.no_check {
        crate::verify::test_load(src)?;
    }
    let mut names = Vec::new();
    let rd = std::fs::read_dir(src).map_err(|e| UpdateError::io(src, e))?;
    for e in rd {
        let e = e.map_err(|e| UpdateError::io(src, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        if !safe_name(&name) || name == INDEX_FILE {
            return Err(UpdateError::Index(format!(
                "{name:?}: file names must be A-Z a-z 0-9 . _ - (and not {INDEX_FILE})"
            )));
        }
        names.push(name);
    }
    names.sort();
    if names.is_empty() {
        return Err(UpdateError::Index(format!("{}: no files", src.display())));
    }
    std::fs::create_dir_all(out).map_err(|e| UpdateError::io(out, e))?;
    let old = read_index(out);
    let now = OffsetDateTime::now_utc();
    let version = match (opts.version, &old) {
        (Some(v), Some(o)) if v <= o.version => {
            return Err(UpdateError::Index(format!(
                "version {v} is not newer than the mirror's {}",
                o.version
            )))
        }
        (Some(v), _) => v,
        (None, o) => {
            let t = now.unix_timestamp().max(0) as u64;
            o.as_ref().map_or(t, |o| t.max(o.version + 1))
        }
    };
    let mut files = Vec::new();
    for name in &names {
        let from = src.join(name);
        let tmp = out.join(format!(".{name}.part"));
        std::fs::copy(&from, &tmp).map_err(|e| UpdateError::io(&from, e))?;
        let h = hash_file(&tmp).map_err(|e| UpdateError::io(&tmp, e))?;
        let dest = out.join(name);
        std::fs::rename(&tmp, &dest).map_err(|e| UpdateError::io(&dest, e))?;
        files.push(IndexFile {
            name: name.clone(),
            size: h.size,
            sha256: h.sha256,
        });
    }
    let mut index = Index {
        version,
        published: now,
        files,
        signer: String::new(),
    };
    write_index(out, &index.sign(&key)?)?;
    if let Some(old) = old {
        for f in &old.files {
            if index.file(&f.name).is_none() {
                let _ = std::fs::remove_file(out.join(&f.name));
            }
        }
    }
    Ok(index)
}

/// Re-signs the index of the mirror in `mirror` with the key at `key` (e.g. after a key
/// change), after checking that every file still matches it.
pub fn sign(mirror: &Path, key: &Path) -> Result<Index, UpdateError> {
    let key = bulwark_sign::read_secret(key)?;
    let mut index = read_index(mirror).ok_or_else(|| {
        UpdateError::Index(format!("{}: no readable {INDEX_FILE}", mirror.display()))
    })?;
    for f in &index.files {
        let p = mirror.join(&f.name);
        let h = hash_file(&p).map_err(|e| UpdateError::io(&p, e))?;
        if h.size != f.size || h.sha256 != f.sha256 {
            return Err(UpdateError::Mismatch {
                name: f.name.clone(),
                reason: "differs from the index".into(),
            });
        }
    }
    write_index(mirror, &index.sign(&key)?)?;
    Ok(index)
}

fn write_index(dir: &Path, text: &str) -> Result<(), UpdateError> {
    let tmp = dir.join(format!(".{INDEX_FILE}.part"));
    std::fs::write(&tmp, text).map_err(|e| UpdateError::io(&tmp, e))?;
    let dest = dir.join(INDEX_FILE);
    std::fs::rename(&tmp, &dest).map_err(|e| UpdateError::io(&dest, e))
}
