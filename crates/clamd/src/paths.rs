//! SCAN, CONTSCAN, MULTISCAN and ALLMATCHSCAN: which paths may be read, and the walk with
//! clamd's replies. As in clamd with its defaults (FollowFileSymlinks and
//! FollowDirectorySymlinks off): the named path itself is resolved, symbolic links met inside
//! a directory are skipped, special files are skipped, an empty file counts as clean; only
//! infected files and errors get a line, then `path: OK` when nothing was found and not
//! every file failed (an empty directory gets no line at all). Only paths that resolve under
//! a configured root are read; anything else is `Access denied. ERROR`.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use bulwark_server::Context;

use crate::scan::{record, scan_reader, Outcome, Settings};

/// The kind of path scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathScan {
    /// SCAN: stop at the first virus.
    Scan,
    /// CONTSCAN and MULTISCAN: every file.
    Cont,
    /// ALLMATCHSCAN: every file, every signature (stops after the first infected file, as
    /// clamd's TYPE_SCAN does).
    AllMatch,
}

/// Where a path stands with the roots.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Resolved under a root: scan it (the path as given, trailing slashes trimmed, so the
    /// replies name files as the client named them).
    Allowed(PathBuf),
    /// The reply text (without the terminator) for a path that is not scanned.
    Refused(String),
}

/// Checks a path argument: absolute, no `..`, resolving (symlinks followed) under a root.
pub fn check(arg: &[u8], roots: &[PathBuf]) -> Checked {
    let shown = String::from_utf8_lossy(arg).into_owned();
    let mut path = PathBuf::from(OsStr::from_bytes(arg));
    // clamd trims trailing slashes.
    while path.as_os_str().len() > 1 && path.as_os_str().as_bytes().ends_with(b"/") {
        let b = path.as_os_str().as_bytes();
        path = PathBuf::from(OsStr::from_bytes(&b[..b.len() - 1]));
    }
    let denied = || Checked::Refused(format!("{shown}: Access denied. ERROR"));
    let lexical = path.is_absolute()
        && !path.components().any(|c| c == Component::ParentDir)
        && roots.iter().any(|r| path.starts_with(r));
    if !lexical {
        return denied();
    }
    let real = match fs::canonicalize(&path) {
        Ok(p) => p,
        Err(e) => {
            return Checked::Refused(format!(
                "{shown}: File path check failure: {}. ERROR",
                errno_text(&e)
            ))
        }
    };
    let under = roots.iter().any(|r| {
        fs::canonicalize(r)
            .map(|r| real.starts_with(r))
            .unwrap_or(false)
    });
    if under {
        Checked::Allowed(path)
    } else {
        denied()
    }
}

/// The C library's text of an I/O error (`No such file or directory`), without Rust's suffix.
fn errno_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Counts of a walk, for the final line.
#[derive(Debug, Default)]
struct Walk {
    total: u64,
    errors: u64,
    infected: u64,
    stop: bool,
    lines: Vec<String>,
}

/// Walks `top` (already checked) and returns the reply texts (blocking).
pub fn scan_path(
    ctx: &Context,
    settings: &Settings,
    shown: &str,
    top: &Path,
    kind: PathScan,
) -> Vec<String> {
    let mut w = Walk::default();
    match fs::metadata(top) {
        Ok(m) if m.is_dir() => walk_dir(ctx, settings, top, kind, &mut w),
        Ok(m) if m.is_file() => scan_file(ctx, settings, shown, top, m.len(), kind, &mut w),
        Ok(_) => w
            .lines
            .push(format!("{shown}: Not supported file type ERROR")),
        Err(e) => w.lines.push(format!(
            "{shown}: lstat() failed: {}. ERROR",
            errno_text(&e)
        )),
    }
    if w.infected == 0 && w.errors != w.total {
        w.lines.push(format!("{shown}: OK"));
    }
    w.lines
}

fn walk_dir(ctx: &Context, settings: &Settings, dir: &Path, kind: PathScan, w: &mut Walk) {
    let entries = match fs::read_dir(dir) {
        Ok(rd) => {
            let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            v.sort();
            v
        }
        Err(e) => {
            w.errors += 1;
            w.total += 1;
            w.lines.push(format!(
                "{}: Can't open directory: {}. ERROR",
                dir.display(),
                errno_text(&e)
            ));
            return;
        }
    };
    for p in entries {
        if w.stop {
            return;
        }
        let m = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) => {
                w.total += 1;
                w.errors += 1;
                w.lines.push(format!(
                    "{}: lstat() failed: {}. ERROR",
                    p.display(),
                    errno_text(&e)
                ));
                continue;
            }
        };
        let ft = m.file_type();
        if ft.is_symlink() {
            tracing::debug!(path = %p.display(), "clamd: skipping symlink");
        } else if ft.is_dir() {
            walk_dir(ctx, settings, &p, kind, w);
        } else if ft.is_file() {
            let shown = p.display().to_string();
            scan_file(ctx, settings, &shown, &p, m.len(), kind, w);
        }
    }
}

fn scan_file(
    ctx: &Context,
    settings: &Settings,
    shown: &str,
    path: &Path,
    len: u64,
    kind: PathScan,
    w: &mut Walk,
) {
    w.total += 1;
    if len == 0 {
        return;
    }
    let started = Instant::now();
    let all = kind == PathScan::AllMatch;
    let scanned = File::open(path).and_then(|f| scan_reader(settings, f, all));
    let s = match scanned {
        Ok(s) => s,
        Err(e) => {
            w.errors += 1;
            let text = if e.kind() == io::ErrorKind::PermissionDenied {
                "Access denied.".to_string()
            } else {
                format!("{}.", errno_text(&e))
            };
            w.lines.push(format!("{shown}: {text} ERROR"));
            return;
        }
    };
    record(ctx, settings, s.size, &s.verdict.verdict, started);
    match Outcome::of(&s.verdict, &s.head, &settings.alerts) {
        Outcome::Clean => {}
        o @ Outcome::Found(_) => {
            w.infected += 1;
            w.lines.extend(o.lines(shown, all));
            if kind != PathScan::Cont {
                w.stop = true;
            }
        }
        o @ Outcome::Error(_) => {
            w.errors += 1;
            w.lines.extend(o.lines(shown, false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_the_roots() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        fs::create_dir(&root).expect("mkdir");
        fs::write(root.join("a"), b"x").expect("write");
        fs::write(dir.path().join("outside"), b"x").expect("write");
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("link")).expect("symlink");
        let roots = vec![root.clone()];
        let b = |p: &Path| p.as_os_str().as_bytes().to_vec();
        assert_eq!(
            check(&b(&root.join("a")), &roots),
            Checked::Allowed(root.join("a"))
        );
        assert_eq!(
            check(format!("{}/", root.display()).as_bytes(), &roots),
            Checked::Allowed(root.clone())
        );
        for refused in [
            b(&dir.path().join("outside")),
            b(&root.join("link")),
            b(&root.join("../outside")),
            b"relative/a".to_vec(),
        ] {
            let Checked::Refused(text) = check(&refused, &roots) else {
                panic!("{} allowed", String::from_utf8_lossy(&refused));
            };
            assert!(text.ends_with(": Access denied. ERROR"), "{text}");
        }
        let Checked::Refused(text) = check(&b(&root.join("missing")), &roots) else {
            panic!("missing allowed");
        };
        assert!(
            text.ends_with("missing: File path check failure: No such file or directory. ERROR"),
            "{text}"
        );
        assert!(matches!(check(&b(&root), &[]), Checked::Refused(_)));
    }
}
