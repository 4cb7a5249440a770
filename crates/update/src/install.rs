//! The installed database directory: staging, atomic switch, backup, rollback, lock.
//!
//! `database_dir` (e.g. `/var/lib/bulwark/db`) is a symbolic link to a version directory beside
//! it, `db.ver-<LABEL>`. An install fills a hidden staging directory (`.db.staging-…`), renames
//! it to its version name, then points a new link at it and renames the link over
//! `database_dir` (one atomic `rename`). The previous version directory is then renamed to the
//! backup directory (`db.backup` unless configured), replacing the older backup. A
//! `database_dir` that is a plain directory (made by hand or by freshclam) is moved aside and
//! becomes the backup the same way.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};

use crate::error::UpdateError;
use crate::index::{Index, INDEX_FILE, MAX_INDEX_BYTES};

/// `path` with `suffix` appended to its file name (`/a/db` + `.backup` = `/a/db.backup`).
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn hidden_sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "db".into());
    parent_of(path).join(format!(".{name}{suffix}"))
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn nonce() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}-{}-{}",
        std::process::id(),
        d.as_secs(),
        d.subsec_nanos()
    )
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UpdateError + '_ {
    move |e| UpdateError::io(path, e)
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}

/// The installed database and its backup.
#[derive(Debug, Clone)]
pub struct Installation {
    database_dir: PathBuf,
    backup_dir: PathBuf,
}

/// The exclusive update lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    _flock: Flock<File>,
}

/// A staging directory being filled; removed on drop unless installed.
#[derive(Debug)]
pub struct Staging {
    path: PathBuf,
    done: bool,
}

impl Staging {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

impl Installation {
    /// The installation at `database_dir`, keeping its backup at `backup_dir`.
    pub fn new(database_dir: &Path, backup_dir: &Path) -> Self {
        Installation {
            database_dir: database_dir.to_path_buf(),
            backup_dir: backup_dir.to_path_buf(),
        }
    }

    /// The database path the server loads.
    pub fn database_dir(&self) -> &Path {
        &self.database_dir
    }

    /// The backup directory.
    pub fn backup_dir(&self) -> &Path {
        &self.backup_dir
    }

    /// Takes the update lock (`.<name>.lock` beside the database), creating the parent
    /// directory if needed; fails at once when another update holds it.
    pub fn lock(&self) -> Result<Lock, UpdateError> {
        let parent = parent_of(&self.database_dir);
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let path = hidden_sibling(&self.database_dir, ".lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        Flock::lock(f, FlockArg::LockExclusiveNonblock)
            .map(|flock| Lock { _flock: flock })
            .map_err(|_| UpdateError::Locked(path))
    }

    /// The directory holding the current database, if one is installed.
    pub fn current_dir(&self) -> Option<PathBuf> {
        let meta = std::fs::symlink_metadata(&self.database_dir).ok()?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&self.database_dir).ok()?;
            let full = parent_of(&self.database_dir).join(target);
            full.is_dir().then_some(full)
        } else if meta.is_dir() {
            Some(self.database_dir.clone())
        } else {
            None
        }
    }

    /// The index of the installed database (`None` when there is none or it has no index).
    pub fn current_index(&self) -> Option<Index> {
        read_index(&self.current_dir()?)
    }

    /// Creates an empty staging directory beside the database.
    pub fn staging(&self) -> Result<Staging, UpdateError> {
        let parent = parent_of(&self.database_dir);
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let path = hidden_sibling(&self.database_dir, &format!(".staging-{}", nonce()));
        std::fs::create_dir(&path).map_err(io(&path))?;
        Ok(Staging { path, done: false })
    }

    /// Installs a verified, test-loaded staging directory as version `label` and keeps the
    /// previous database as the backup. On failure the installed database is unchanged.
    pub fn install(&self, mut staging: Staging, label: &str) -> Result<PathBuf, UpdateError> {
        let parent = parent_of(&self.database_dir);
        let current = self.current_dir();
        let mut target = sibling(&self.database_dir, &format!(".ver-{label}"));
        if current.as_deref() == Some(target.as_path()) {
            target = sibling(&self.database_dir, &format!(".ver-{label}-{}", nonce()));
        } else if target.exists() {
            std::fs::remove_dir_all(&target).map_err(io(&target))?;
        }
        std::fs::rename(&staging.path, &target).map_err(io(&target))?;
        staging.done = true;
        sync_dir(&parent);
        match self.switch(&target) {
            Ok(previous) => {
                if let Some(prev) = previous {
                    self.keep_backup(&prev);
                }
                self.remove_stale(&target);
                Ok(target)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&target);
                Err(e)
            }
        }
    }

    /// Points `database_dir` at `target` atomically; returns the directory it pointed at.
    fn switch(&self, target: &Path) -> Result<Option<PathBuf>, UpdateError> {
        let parent = parent_of(&self.database_dir);
        let mut previous = None;
        let mut moved_legacy = None;
        match std::fs::symlink_metadata(&self.database_dir) {
            Ok(m) if m.file_type().is_symlink() => previous = self.current_dir(),
            Ok(m) if m.is_dir() => {
                let aside = sibling(&self.database_dir, &format!(".ver-legacy-{}", nonce()));
                std::fs::rename(&self.database_dir, &aside).map_err(io(&self.database_dir))?;
                previous = Some(aside.clone());
                moved_legacy = Some(aside);
            }
            Ok(_) => {
                return Err(UpdateError::io(
                    &self.database_dir,
                    std::io::Error::other("exists and is neither a directory nor a link"),
                ))
            }
            Err(_) => {}
        }
        let link = hidden_sibling(&self.database_dir, ".link-new");
        let _ = std::fs::remove_file(&link);
        let name = target.file_name().map(PathBuf::from).unwrap_or_default();
        let res = std::os::unix::fs::symlink(&name, &link)
            .map_err(io(&link))
            .and_then(|()| {
                std::fs::rename(&link, &self.database_dir).map_err(io(&self.database_dir))
            });
        if let Err(e) = res {
            let _ = std::fs::remove_file(&link);
            if let Some(aside) = moved_legacy {
                let _ = std::fs::rename(&aside, &self.database_dir);
            }
            return Err(e);
        }
        sync_dir(&parent);
        Ok(previous)
    }

    fn keep_backup(&self, prev: &Path) {
        if prev == self.backup_dir {
            return;
        }
        if let Err(e) = remove_any(&self.backup_dir) {
            tracing::warn!(backup = %self.backup_dir.display(), error = %e,
                "could not remove the old backup; the previous database stays where it was");
            return;
        }
        if let Err(e) = std::fs::rename(prev, &self.backup_dir) {
            tracing::warn!(previous = %prev.display(), backup = %self.backup_dir.display(),
                error = %e, "could not move the previous database to the backup directory");
        }
    }

    /// Removes version directories other than `keep` (left by earlier installs).
    fn remove_stale(&self, keep: &Path) {
        let parent = parent_of(&self.database_dir);
        let Some(name) = self.database_dir.file_name() else {
            return;
        };
        let prefix = format!("{}.ver-", name.to_string_lossy());
        let Ok(rd) = std::fs::read_dir(&parent) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let stale = e.file_name().to_string_lossy().starts_with(&prefix)
                && p != keep
                && p != self.backup_dir
                && e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if stale {
                let _ = std::fs::remove_dir_all(&p);
            }
        }
    }

    /// Switches back to the backup. With `discard_current` the database being replaced is
    /// deleted; otherwise it becomes the new backup (so a rollback can be undone).
    pub fn rollback(&self, discard_current: bool) -> Result<PathBuf, UpdateError> {
        if !self.backup_dir.is_dir() {
            return Err(UpdateError::io(
                &self.backup_dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no backup to roll back to"),
            ));
        }
        let label = read_index(&self.backup_dir)
            .map(|i| format!("v{}", i.version))
            .unwrap_or_else(|| "backup".into());
        let target = sibling(&self.database_dir, &format!(".ver-{label}-{}", nonce()));
        std::fs::rename(&self.backup_dir, &target).map_err(io(&self.backup_dir))?;
        match self.switch(&target) {
            Ok(Some(failed)) if discard_current => {
                let _ = std::fs::remove_dir_all(&failed);
            }
            Ok(Some(failed)) => self.keep_backup(&failed),
            Ok(None) => {}
            Err(e) => {
                let _ = std::fs::rename(&target, &self.backup_dir);
                return Err(e);
            }
        }
        Ok(target)
    }
}

/// Reads the (already verified) index in an installed directory.
pub fn read_index(dir: &Path) -> Option<Index> {
    let p = dir.join(INDEX_FILE);
    let meta = std::fs::metadata(&p).ok()?;
    if meta.len() > MAX_INDEX_BYTES {
        return None;
    }
    Index::parse_unverified(&std::fs::read(&p).ok()?).ok()
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(inst: &Installation, content: &str) -> Staging {
        let s = inst.staging().unwrap();
        std::fs::write(s.path().join("x.ndb"), content).unwrap();
        s
    }

    #[test]
    fn install_switch_backup_rollback() {
        let t = tempfile::tempdir().unwrap();
        let db = t.path().join("db");
        let inst = Installation::new(&db, &sibling(&db, ".backup"));
        assert!(inst.current_dir().is_none());
        inst.install(stage(&inst, "one"), "v1").unwrap();
        assert_eq!(std::fs::read_to_string(db.join("x.ndb")).unwrap(), "one");
        inst.install(stage(&inst, "two"), "v2").unwrap();
        assert_eq!(std::fs::read_to_string(db.join("x.ndb")).unwrap(), "two");
        let backup = sibling(&db, ".backup");
        assert_eq!(
            std::fs::read_to_string(backup.join("x.ndb")).unwrap(),
            "one"
        );
        inst.rollback(false).unwrap();
        assert_eq!(std::fs::read_to_string(db.join("x.ndb")).unwrap(), "one");
        assert_eq!(
            std::fs::read_to_string(backup.join("x.ndb")).unwrap(),
            "two"
        );
        // Only the live version directory and the backup remain.
        let mut names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn a_plain_directory_becomes_the_backup() {
        let t = tempfile::tempdir().unwrap();
        let db = t.path().join("db");
        std::fs::create_dir(&db).unwrap();
        std::fs::write(db.join("x.ndb"), "old").unwrap();
        let inst = Installation::new(&db, &sibling(&db, ".backup"));
        inst.install(stage(&inst, "new"), "v1").unwrap();
        assert!(std::fs::symlink_metadata(&db)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(db.join("x.ndb")).unwrap(), "new");
        let b = sibling(&db, ".backup").join("x.ndb");
        assert_eq!(std::fs::read_to_string(b).unwrap(), "old");
    }

    #[test]
    fn a_dropped_staging_directory_is_removed_and_the_lock_is_exclusive() {
        let t = tempfile::tempdir().unwrap();
        let db = t.path().join("db");
        let inst = Installation::new(&db, &sibling(&db, ".backup"));
        let p = {
            let s = stage(&inst, "x");
            s.path().to_path_buf()
        };
        assert!(!p.exists());
        let l = inst.lock().unwrap();
        assert!(matches!(inst.lock(), Err(UpdateError::Locked(_))));
        drop(l);
        inst.lock().unwrap();
    }
}
