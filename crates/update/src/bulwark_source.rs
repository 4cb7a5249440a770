//! A Bulwark-layout source: a signed `bulwark-db.index` and the files it lists, installed into
//! the database or copied into a mirror.

use std::path::Path;

use crate::error::UpdateError;
use crate::fetch::Location;
use crate::index::{Index, INDEX_FILE, MAX_INDEX_BYTES};
use crate::install::{read_index, Installation};
use crate::mirror;
use crate::source::{Source, Step, UpdateEnv};
use crate::verify::{get_file, test_load};

/// A source with the layout `bulwark db build` writes.
#[derive(Debug, Clone)]
pub(crate) struct BulwarkSource {
    location: Location,
}

impl BulwarkSource {
    /// The source at `location`.
    pub(crate) fn new(location: Location) -> Self {
        BulwarkSource { location }
    }

    /// Fetches and checks the index: signed by a trusted key, allowed by the licence.
    fn fetch_index(&self, env: &UpdateEnv) -> Result<(Vec<u8>, Index), UpdateError> {
        let bytes = env
            .fetcher
            .bytes(&self.location, INDEX_FILE, MAX_INDEX_BYTES)?;
        let index = Index::verify(&bytes, &env.trusted)?;
        env.check_published(index.published)?;
        Ok((bytes, index))
    }

    /// Runs `apply` with the source's index; when a listed file was missing or differed (the
    /// mirror published a new version after its index was read: [`UpdateError::may_be_torn`]),
    /// reads the index again and, if it changed, runs `apply` once more with the new one.
    /// A file that differs from an unchanged index is refused as before.
    fn with_index(
        &self,
        env: &UpdateEnv,
        apply: impl Fn(&[u8], Index) -> Result<Step, UpdateError>,
    ) -> Result<Step, UpdateError> {
        let (bytes, index) = self.fetch_index(env)?;
        let version = index.version;
        match apply(&bytes, index) {
            Err(e) if e.may_be_torn() => {
                let (again, index) = self.fetch_index(env)?;
                if again == bytes {
                    return Err(e);
                }
                tracing::info!(
                    source = %self.location.display(),
                    read = version,
                    now = index.version,
                    error = %e,
                    "the source changed while its files were downloaded; starting again with its new index"
                );
                apply(&again, index)
            }
            r => r,
        }
    }
}

impl Source for BulwarkSource {
    fn name(&self) -> String {
        self.location.display()
    }

    fn needs_trusted_keys(&self) -> bool {
        true
    }

    fn install(&self, env: &UpdateEnv, inst: &Installation) -> Result<Step, UpdateError> {
        self.with_index(env, |bytes, index| {
            install_index(env, inst, &self.location, bytes, index)
        })
    }

    fn mirror(&self, env: &UpdateEnv, dir: &Path) -> Result<Step, UpdateError> {
        self.with_index(env, |bytes, index| {
            mirror_index(env, dir, &self.location, bytes, index)
        })
    }
}

/// Installs the files `index` (whose signed text is `bytes`) lists, from `location`.
fn install_index(
    env: &UpdateEnv,
    inst: &Installation,
    location: &Location,
    bytes: &[u8],
    index: Index,
) -> Result<Step, UpdateError> {
    let current_dir = inst.current_dir();
    let current = inst.current_index();
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
        let n = get_file(
            &env.fetcher,
            location,
            f,
            local.as_deref(),
            &dest,
            env.max_file,
        )?;
        if local.is_none() || n > 0 {
            downloaded += 1;
            bytes_in += n;
        }
    }
    let idx_path = staging.path().join(INDEX_FILE);
    std::fs::write(&idx_path, bytes).map_err(|e| UpdateError::io(&idx_path, e))?;
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

/// Copies the files `index` (whose signed text is `bytes`) lists from `location` into the
/// mirror directory `dir`, then the index.
fn mirror_index(
    env: &UpdateEnv,
    dir: &Path,
    location: &Location,
    bytes: &[u8],
    index: Index,
) -> Result<Step, UpdateError> {
    // Any index there, for the files it lists (removed when the new index does not list them).
    let old: Option<Index> = read_index(dir);
    let trusted = trusted_index(env, dir);
    if old.is_some() && trusted.is_none() {
        tracing::warn!(
            mirror = %dir.display(),
            "the mirror's index is not signed by a trusted key; it is replaced"
        );
    }
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
        let local = existing.is_file().then_some(existing.as_path());
        let n = mirror::put(dir, &f.name, |tmp| {
            get_file(&env.fetcher, location, f, local, tmp, env.max_file)
        })?;
        if n > 0 {
            files += 1;
            total += n;
        }
    }
    mirror::write(dir, INDEX_FILE, bytes)?;
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

/// Compares an offered version with the installed one: `Ok(true)` when it is newer.
fn is_newer(offered: u64, installed: Option<u64>) -> Result<bool, UpdateError> {
    match installed {
        Some(i) if offered < i => Err(UpdateError::Older {
            offered: offered.to_string(),
            installed: i.to_string(),
        }),
        Some(i) if offered == i => Ok(false),
        _ => Ok(true),
    }
}

/// The index already in the mirror when a trusted key signed it. Only such an index counts
/// for the rollback check: one written there by anyone else (a higher version signed by a
/// foreign key) would otherwise refuse every genuine update from then on.
fn trusted_index(env: &UpdateEnv, dir: &Path) -> Option<Index> {
    let p = dir.join(INDEX_FILE);
    let meta = std::fs::metadata(&p).ok()?;
    if meta.len() > MAX_INDEX_BYTES {
        return None;
    }
    Index::verify(&std::fs::read(&p).ok()?, &env.trusted).ok()
}
