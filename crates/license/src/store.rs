//! The licence directory: `active.key`, `backup.key` and the `traffic` counter, each written
//! atomically (temporary file in the same directory, fsync, rename).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::LicenseError;

/// File name of the active key in the licence directory.
pub const ACTIVE_FILE: &str = "active.key";
/// File name of the backup key in the licence directory.
pub const BACKUP_FILE: &str = "backup.key";
/// File name of the daily traffic counter in the licence directory.
pub const TRAFFIC_FILE: &str = "traffic";

/// One of the two key slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The key in force.
    Active,
    /// The key that takes over when the active one expires.
    Backup,
}

impl Slot {
    /// `active` or `backup`.
    pub fn name(self) -> &'static str {
        match self {
            Slot::Active => "active",
            Slot::Backup => "backup",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Slot::Active => ACTIVE_FILE,
            Slot::Backup => BACKUP_FILE,
        }
    }
}

/// A licence directory on disk.
#[derive(Debug, Clone)]
pub struct LicenseDir {
    path: PathBuf,
}

impl LicenseDir {
    /// Names the directory (nothing is read or created yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LicenseDir { path: path.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of a slot's key file.
    pub fn slot_path(&self, slot: Slot) -> PathBuf {
        self.path.join(slot.file())
    }

    /// The path of the traffic counter.
    pub fn traffic_path(&self) -> PathBuf {
        self.path.join(TRAFFIC_FILE)
    }

    /// The bytes of a slot's key file, `None` when the slot is empty.
    pub fn read_slot(&self, slot: Slot) -> Result<Option<Vec<u8>>, LicenseError> {
        read_optional(&self.slot_path(slot))
    }

    /// Installs `bytes` in a slot, atomically.
    pub fn write_slot(&self, slot: Slot, bytes: &[u8]) -> Result<(), LicenseError> {
        write_atomic(&self.slot_path(slot), bytes)
    }

    /// Empties a slot (no error when already empty).
    pub fn clear_slot(&self, slot: Slot) -> Result<(), LicenseError> {
        let p = self.slot_path(slot);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LicenseError::io(p, e)),
            _ => Ok(()),
        }
    }

    /// Moves the backup key to the active slot (one atomic rename), replacing the active key.
    pub fn promote_backup(&self) -> Result<(), LicenseError> {
        let from = self.slot_path(Slot::Backup);
        fs::rename(&from, self.slot_path(Slot::Active)).map_err(|e| LicenseError::io(from, e))?;
        sync_dir(&self.path)
    }
}

/// Largest key or counter file read (a key file is well under 1 KiB).
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Reads a file of at most [`MAX_FILE_BYTES`], `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, LicenseError> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LicenseError::io(path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| LicenseError::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes: not a licence file"),
        );
        return Err(LicenseError::io(path, e));
    }
    Ok(Some(bytes))
}

/// Reads a file that must exist, of at most [`MAX_FILE_BYTES`].
pub(crate) fn read_required(path: &Path) -> Result<Vec<u8>, LicenseError> {
    read_optional(path)?
        .ok_or_else(|| LicenseError::io(path, std::io::Error::from(std::io::ErrorKind::NotFound)))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory (created if
/// needed), fsync, rename over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LicenseError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| LicenseError::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(LicenseError::io(&tmp, e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(LicenseError::io(path, e));
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), LicenseError> {
    #[cfg(unix)]
    {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| LicenseError::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
