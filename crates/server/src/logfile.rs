//! Append-only log files that can be reopened (after logrotate moved them away).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A log file shared by every writer; lines are written whole.
#[derive(Debug, Clone)]
pub struct LogFile {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: Option<PathBuf>,
    file: Mutex<Option<File>>,
}

fn open(path: &Path, append: bool) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    OpenOptions::new()
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append)
        .open(path)
}

impl LogFile {
    /// A log at `path` (none: every write is dropped). `append` false truncates at open.
    pub fn open(path: Option<&Path>, append: bool) -> std::io::Result<Self> {
        let file = match path {
            Some(p) => Some(open(p, append)?),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.map(Path::to_path_buf),
                file: Mutex::new(file),
            }),
        })
    }

    /// A log that writes nowhere.
    pub fn disabled() -> Self {
        Self {
            inner: Arc::new(Inner {
                path: None,
                file: Mutex::new(None),
            }),
        }
    }

    /// True when lines go to a file.
    pub fn enabled(&self) -> bool {
        self.inner.path.is_some()
    }

    /// Writes bytes (one or more whole lines).
    pub fn write(&self, data: &[u8]) {
        if let Ok(mut g) = self.inner.file.lock() {
            if let Some(f) = g.as_mut() {
                // A full disk must not stop scanning; the failure shows in the file's absence.
                let _ = f.write_all(data);
            }
        }
    }

    /// Reopens the file at its path (logrotate's `postrotate`, SIGUSR2).
    pub fn reopen(&self) -> std::io::Result<()> {
        let Some(path) = &self.inner.path else {
            return Ok(());
        };
        let f = open(path, true)?;
        if let Ok(mut g) = self.inner.file.lock() {
            *g = Some(f);
        }
        Ok(())
    }
}

/// Lets a [`LogFile`] serve as a `std::io::Write` sink (for the report log).
#[derive(Debug)]
pub struct LineWriter(LogFile);

impl LogFile {
    /// A writer for formatters that write a line in pieces and flush at the end.
    pub fn writer(&self) -> LineWriter {
        LineWriter(self.clone())
    }
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_follows_a_rotated_file() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("sub/av.stats");
        let log = LogFile::open(Some(&p), true).expect("open");
        log.write(b"one\n");
        std::fs::rename(&p, dir.path().join("av.stats.1")).expect("rotate");
        log.write(b"two\n");
        log.reopen().expect("reopen");
        log.write(b"three\n");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "three\n");
        let old = std::fs::read_to_string(dir.path().join("av.stats.1")).expect("read");
        assert_eq!(old, "one\ntwo\n");
    }
}
