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
    /// CONTSCAN (and MULTISCAN on a single file): every file.
    Cont,
    /// MULTISCAN: every file, on several threads.
    Multi,
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
    lines: Vec<String>,
}

/// What a directory walk finds.
#[derive(Debug)]
enum Item {
    /// A regular file and its size.
    File(PathBuf, u64),
    /// An entry that could not be read: its reply text.
    Error(String),
}

/// Walks `top` (already checked) and returns the reply texts (blocking). MULTISCAN scans the
/// files on up to `threads` threads, so its lines come in the order the scans end.
pub fn scan_path(
    ctx: &Context,
    settings: &Settings,
    shown: &str,
    top: &Path,
    kind: PathScan,
    threads: usize,
) -> Vec<String> {
    let mut w = Walk::default();
    let items = match fs::metadata(top) {
        Ok(m) if m.is_dir() => {
            let mut items = Vec::new();
            collect(top, &mut items);
            items
        }
        Ok(m) if m.is_file() => vec![Item::File(top.to_path_buf(), m.len())],
        Ok(_) => {
            return vec![format!("{shown}: Not supported file type ERROR")];
        }
        Err(e) => vec![Item::Error(format!(
            "{shown}: lstat() failed: {}. ERROR",
            errno_text(&e)
        ))],
    };
    let one = |item: &Item| match item {
        Item::File(p, len) => {
            let name = if p == top {
                shown.to_string()
            } else {
                p.display().to_string()
            };
            scan_file(ctx, settings, &name, p, *len, kind)
        }
        Item::Error(line) => (Found::Error, vec![line.clone()]),
    };
    let tally = |w: &mut Walk, (found, lines): (Found, Vec<String>)| {
        w.total += 1;
        match found {
            Found::Virus => w.infected += 1,
            Found::Error => w.errors += 1,
            Found::Nothing => {}
        }
        w.lines.extend(lines);
    };
    if kind == PathScan::Multi && threads > 1 && items.len() > 1 {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|sc| {
            for _ in 0..threads.min(items.len()) {
                sc.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = one(item);
                    if let Ok(mut v) = results.lock() {
                        v.push(r);
                    }
                });
            }
        });
        for r in results.into_inner().unwrap_or_default() {
            tally(&mut w, r);
        }
    } else {
        for item in &items {
            let r = one(item);
            let stop = r.0 == Found::Virus && matches!(kind, PathScan::Scan | PathScan::AllMatch);
            tally(&mut w, r);
            if stop {
                break;
            }
        }
    }
    if w.infected == 0 && w.errors != w.total {
        w.lines.push(format!("{shown}: OK"));
    }
    w.lines
}

/// The regular files under `dir`, sorted, symbolic links and special files left out.
fn collect(dir: &Path, items: &mut Vec<Item>) {
    let entries = match fs::read_dir(dir) {
        Ok(rd) => {
            let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            v.sort();
            v
        }
        Err(e) => {
            items.push(Item::Error(format!(
                "{}: Can't open directory: {}. ERROR",
                dir.display(),
                errno_text(&e)
            )));
            return;
        }
    };
    for p in entries {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                tracing::debug!(path = %p.display(), "clamd: skipping symlink");
            }
            Ok(m) if m.is_dir() => collect(&p, items),
            Ok(m) if m.is_file() => items.push(Item::File(p, m.len())),
            Ok(_) => {}
            Err(e) => items.push(Item::Error(format!(
                "{}: lstat() failed: {}. ERROR",
                p.display(),
                errno_text(&e)
            ))),
        }
    }
}

/// What one file's scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Nothing,
    Virus,
    Error,
}

/// Scans one file: what it found and its reply lines (none when clean).
fn scan_file(
    ctx: &Context,
    settings: &Settings,
    shown: &str,
    path: &Path,
    len: u64,
    kind: PathScan,
) -> (Found, Vec<String>) {
    if len == 0 {
        return (Found::Nothing, Vec::new());
    }
    let started = Instant::now();
    let all = kind == PathScan::AllMatch;
    let s = match File::open(path).and_then(|f| scan_reader(settings, f, all)) {
        Ok(s) => s,
        Err(e) => {
            let text = if e.kind() == io::ErrorKind::PermissionDenied {
                "Access denied.".to_string()
            } else {
                format!("{}.", errno_text(&e))
            };
            return (Found::Error, vec![format!("{shown}: {text} ERROR")]);
        }
    };
    record(ctx, settings, shown, s.size, &s.verdict.verdict, started);
    match Outcome::of(&s.verdict, &s.head, &settings.alerts) {
        Outcome::Clean => (Found::Nothing, Vec::new()),
        o @ Outcome::Found(_) => (Found::Virus, o.lines(shown, all)),
        o @ Outcome::Error(_) => (Found::Error, o.lines(shown, false)),
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
