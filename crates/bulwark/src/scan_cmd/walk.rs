//! The files a `bulwark scan` visits: arguments, then directories in name order. Symlinks are
//! followed as clamscan does by default (`--follow-dir-symlinks=1`, `--follow-file-symlinks=1`:
//! only when named on the command line); one met inside a directory is reported as
//! `Symbolic link` and skipped. FIFOs, sockets and devices inside a directory are skipped
//! silently (reading one could block); named on the command line they are read.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What the walk found.
pub(super) enum Entry<'a> {
    /// A file to scan.
    File(&'a Path),
    /// `-`: standard input.
    Stdin,
    /// A symlink not followed.
    Symlink(&'a Path),
    /// A path that cannot be read.
    Error(&'a Path, String),
}

/// Walks paths, counting the directories it enters.
pub(super) struct Walker {
    dir_symlinks: u8,
    file_symlinks: u8,
    max_depth: Option<u32>,
    dirs: u64,
}

impl Walker {
    /// A walker with clamscan's symlink modes (0 never, 1 named on the command line, 2
    /// always) and an optional directory depth limit.
    pub fn new(dir_symlinks: u8, file_symlinks: u8, max_depth: Option<u32>) -> Self {
        Walker {
            dir_symlinks,
            file_symlinks,
            max_depth,
            dirs: 0,
        }
    }

    /// Directories entered so far.
    pub fn dirs(&self) -> u64 {
        self.dirs
    }

    /// Visits `p` (and what it holds); stops at the first error `f` returns.
    pub fn run(
        &mut self,
        p: &Path,
        f: &mut dyn FnMut(Entry<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        if p == Path::new("-") {
            return f(Entry::Stdin);
        }
        self.visit(p, 0, &mut Vec::new(), f)
    }

    fn visit(
        &mut self,
        p: &Path,
        depth: u32,
        open: &mut Vec<(u64, u64)>,
        f: &mut dyn FnMut(Entry<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        let top = depth == 0;
        let meta = match fs::symlink_metadata(p) {
            Ok(m) => m,
            Err(e) => return f(Entry::Error(p, describe(&e))),
        };
        let meta = if meta.file_type().is_symlink() {
            let Ok(target) = fs::metadata(p) else {
                return f(Entry::Symlink(p));
            };
            let mode = if target.is_dir() {
                self.dir_symlinks
            } else {
                self.file_symlinks
            };
            if !(mode == 2 || (mode == 1 && top)) {
                return f(Entry::Symlink(p));
            }
            target
        } else {
            meta
        };
        if meta.is_dir() {
            if self.max_depth.is_some_and(|m| depth > m) {
                return Ok(());
            }
            let id = (meta.dev(), meta.ino());
            if open.contains(&id) {
                // A followed symlink leads back to a directory being walked.
                return Ok(());
            }
            let mut children: Vec<_> = match fs::read_dir(p) {
                Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                Err(e) => return f(Entry::Error(p, describe(&e))),
            };
            children.sort();
            self.dirs += 1;
            open.push(id);
            let r = children
                .iter()
                .try_for_each(|c| self.visit(c, depth + 1, open, f));
            open.pop();
            r
        } else if meta.is_file() || top {
            f(Entry::File(p))
        } else {
            Ok(())
        }
    }
}

/// An I/O error as clamscan words it, without Rust's `(os error N)`.
pub(super) fn describe(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
