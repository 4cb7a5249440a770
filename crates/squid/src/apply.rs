//! Applying the block to a squid.conf file, checked by the real Squid.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::edit::{plan_edit, Placement};
use crate::snippet::SnippetOptions;
use crate::ApplyError;

/// How long `squid -k parse` (or `squid -v`) may take before it is killed.
pub const PARSE_TIMEOUT: Duration = Duration::from_secs(60);

/// The TLS library a Squid was built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsLibrary {
    /// `--with-openssl`: `icaps://` and every `tls-*` service option.
    OpenSsl,
    /// `--with-gnutls` (Debian 12's Squid 5.7): `icaps://` works, but `icap_service` rejects
    /// every `tls-*` option ("requires --with-openssl").
    GnuTls,
}

/// What `squid -v` says about a Squid binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SquidBuild {
    /// The version (`5.7`), or empty when `squid -v` did not show one.
    pub version: String,
    /// The TLS library, if any.
    pub tls: Option<TlsLibrary>,
}

impl SquidBuild {
    /// Parses the output of `squid -v`.
    pub fn from_version_output(out: &str) -> SquidBuild {
        let version = out
            .lines()
            .find_map(|l| l.split_once("Version ").map(|(_, v)| v.trim().to_string()))
            .unwrap_or_default();
        let tls = if out.contains("--with-openssl") {
            Some(TlsLibrary::OpenSsl)
        } else if out.contains("--with-gnutls") {
            Some(TlsLibrary::GnuTls)
        } else {
            None
        };
        SquidBuild { version, tls }
    }

    /// The major version number, if known.
    pub fn major(&self) -> Option<u32> {
        self.version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse().ok())
    }

    /// The major and minor version numbers, if known.
    pub fn major_minor(&self) -> Option<(u32, u32)> {
        let mut parts = self.version.split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
        Some((major, minor))
    }

    /// Whether this Squid can wait for an ICAP server that holds a whole RESPMOD body: Squid
    /// before 6.9 stalls such bodies above about 64 KiB (Squid bug 5352, fixed in 6.9).
    pub fn holds_whole_objects(&self) -> Option<bool> {
        self.major_minor().map(|v| v >= (6, 9))
    }

    /// Whether this Squid drops uploads held by the ICAP server once its request buffer fills
    /// (Squid bug 5405, fixed in 6.13); unknown versions are assumed to.
    pub fn drops_held_uploads(&self) -> bool {
        self.major_minor().is_none_or(|v| v < (6, 13))
    }

    /// The hold budget (`[answer] max_hold_bytes` in bulwark.toml) that fits this Squid:
    /// 32 MiB where it holds whole objects (every infected download up to that size then gets
    /// the block page), else Bulwark's default of 32 KiB.
    pub fn recommended_hold_bytes(&self) -> Option<u64> {
        self.holds_whole_objects()
            .map(|whole| if whole { HOLD_WHOLE } else { HOLD_SAFE })
    }

    /// One sentence for the administrator about the hold budget.
    pub fn hold_advice(&self) -> String {
        match self.holds_whole_objects() {
            Some(true) => format!(
                "Squid {} holds whole objects: set `max_hold_bytes = {HOLD_WHOLE}` under [answer] \
                 in bulwark.toml, so every infected download up to 32 MiB gets the block page \
                 (larger ones are cut off mid-stream)",
                self.version
            ),
            Some(false) => format!(
                "Squid {} stalls bodies the ICAP server holds above 64 KiB (Squid bug 5352): keep \
                 [answer] max_hold_bytes at its default ({HOLD_SAFE}); infected downloads above \
                 it are cut off mid-stream. Squid 6.9 and later (Debian 13) can hold 32 MiB",
                self.version
            ),
            None => "Squid's version is unknown: keep [answer] max_hold_bytes at its default \
                     (32768) unless it is Squid 6.9 or later"
                .to_string(),
        }
    }
}

/// A hold budget every Squid can live with (Bulwark's default).
const HOLD_SAFE: u64 = 32 * 1024;
/// The hold budget for Squid versions that hold whole objects.
const HOLD_WHOLE: u64 = 32 * 1024 * 1024;

/// Runs `squid_bin -v`.
pub fn probe_squid(squid_bin: &Path) -> Result<SquidBuild, ApplyError> {
    let not_runnable = |detail: String| ApplyError::SquidNotRunnable {
        bin: squid_bin.to_path_buf(),
        what: "squid -v",
        detail,
    };
    let (status, out) = run(squid_bin, &["-v"]).map_err(|e| not_runnable(e.to_string()))?;
    if !status.success() {
        return Err(not_runnable(format!("{status}: {}", out.trim())));
    }
    Ok(SquidBuild::from_version_output(&out))
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// The file changed (symbolic links resolved).
    pub path: PathBuf,
    /// The backup of the original; `None` when the file already held this exact block.
    pub backup: Option<PathBuf>,
    /// Whether the file content changed.
    pub changed: bool,
    /// Where the block went.
    pub placement: Placement,
    /// The Squid that checked the result.
    pub squid: SquidBuild,
    /// Things worth a look: other adaptation lines in the file, and Squid's WARNING/ERROR
    /// lines from `squid -k parse` (which passed).
    pub warnings: Vec<String>,
}

/// Applies the block for `opts` to `squid_conf`, checked with `squid_bin -k parse -f FILE`.
///
/// Order: check the options and the Squid binary (`squid -v`; refuses `tls-*` options on a
/// Squid built without OpenSSL), read the file and check it is writable, compute the new text
/// ([`plan_edit`]), write a backup `FILE.bulwark-backup-YYYYmmddHHMMSS` (UTC) next to it, replace
/// the file atomically (temporary file, same mode and owner, fsync, rename), run
/// `squid -k parse`. If Squid rejects it, the original bytes are put back the same atomic way
/// and [`ApplyError::ParseFailed`] carries Squid's output. When the file already holds exactly
/// this block nothing is written and the file is only checked.
pub fn apply(
    squid_conf: &Path,
    opts: &SnippetOptions,
    squid_bin: &Path,
) -> Result<ApplyReport, ApplyError> {
    opts.validate()?;
    let squid = probe_squid(squid_bin)?;
    check_tls_support(opts, &squid)?;

    let path = fs::canonicalize(squid_conf).map_err(|error| ApplyError::NotReadable {
        path: squid_conf.to_path_buf(),
        error,
    })?;
    let meta = fs::metadata(&path).map_err(|error| ApplyError::NotReadable {
        path: path.clone(),
        error,
    })?;
    if !meta.is_file() {
        return Err(ApplyError::NotRegularFile { path });
    }
    let original = read_all(&path).map_err(|error| ApplyError::NotReadable {
        path: path.clone(),
        error,
    })?;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|error| ApplyError::NotWritable {
            path: path.clone(),
            error,
        })?;

    let edit = plan_edit(&original, opts)?;
    let mut warnings = edit.warnings;

    if !edit.changed {
        let (ok, output) = parse_check(squid_bin, &path)?;
        if !ok {
            return Err(ApplyError::ParseFailed {
                path,
                backup: None,
                original_already_broken: true,
                output,
                notes: warnings,
            });
        }
        warnings.extend(squid_warnings(&output));
        return Ok(ApplyReport {
            path,
            backup: None,
            changed: false,
            placement: edit.placement,
            squid,
            warnings,
        });
    }

    let backup = write_backup(&path, &original, &meta)?;
    atomic_write(&path, &edit.text, &meta).map_err(|error| ApplyError::Write {
        path: path.clone(),
        error,
    })?;

    let checked = parse_check(squid_bin, &path);
    let (ok, output) = match checked {
        Ok(r) => r,
        Err(e) => {
            // Squid could not judge the file: do not keep an unchecked change.
            restore(&path, &original, &meta, &backup, String::new())?;
            return Err(e);
        }
    };
    if ok {
        warnings.extend(squid_warnings(&output));
        return Ok(ApplyReport {
            path,
            backup: Some(backup),
            changed: true,
            placement: edit.placement,
            squid,
            warnings,
        });
    }
    restore(&path, &original, &meta, &backup, output.clone())?;
    let original_already_broken = matches!(parse_check(squid_bin, &path), Ok((false, _)));
    Err(ApplyError::ParseFailed {
        path,
        backup: Some(backup),
        original_already_broken,
        output,
        notes: warnings,
    })
}

fn check_tls_support(opts: &SnippetOptions, squid: &SquidBuild) -> Result<(), ApplyError> {
    let Some(tls) = &opts.tls else {
        return Ok(());
    };
    if let Some(m) = squid.major() {
        if m < 4 {
            return Err(ApplyError::TlsUnsupported(format!(
                "this Squid is {}: icaps:// (ICAP over TLS) needs Squid 4 or later",
                squid.version
            )));
        }
    }
    match squid.tls {
        None => Err(ApplyError::TlsUnsupported(format!(
            "this Squid {} was built without TLS support (neither --with-openssl nor \
             --with-gnutls in `squid -v`): it cannot use icaps://",
            squid.version
        ))),
        Some(TlsLibrary::GnuTls) if tls.has_service_options() => {
            Err(ApplyError::TlsUnsupported(format!(
                "this Squid {} is built with GnuTLS, and rejects the tls-cert/tls-key/tls-cafile/\
                 tls-domain options of icap_service (they need --with-openssl). Use --tls without \
                 them (Squid then verifies Bulwark's certificate against the system CA store: \
                 install the CA with update-ca-certificates, and make the certificate name the \
                 ICAP host), or a Squid built with OpenSSL (Debian: squid-openssl)",
                squid.version
            )))
        }
        Some(_) => Ok(()),
    }
}

fn read_all(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let mut v = Vec::new();
    f.read_to_end(&mut v)?;
    Ok(v)
}

fn backup_name(path: &Path, n: u32) -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".bulwark-backup-{stamp}"));
    if n > 0 {
        s.push(format!("-{n}"));
    }
    PathBuf::from(s)
}

/// Writes the original bytes to a new backup file (never overwriting an older backup).
fn write_backup(path: &Path, original: &[u8], meta: &fs::Metadata) -> Result<PathBuf, ApplyError> {
    let mut n = 0;
    loop {
        let b = backup_name(path, n);
        match OpenOptions::new().write(true).create_new(true).open(&b) {
            Ok(mut f) => {
                let r = (|| {
                    f.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
                    let _ = std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()));
                    f.write_all(original)?;
                    f.sync_all()
                })();
                return match r {
                    Ok(()) => Ok(b),
                    Err(error) => {
                        let _ = fs::remove_file(&b);
                        Err(ApplyError::Backup { path: b, error })
                    }
                };
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(ApplyError::NotWritable {
                    path: path.parent().unwrap_or(Path::new("/")).to_path_buf(),
                    error: e,
                })
            }
            Err(error) => return Err(ApplyError::Backup { path: b, error }),
        }
    }
}

/// Replaces `path` with `bytes`: a temporary file in the same directory with the original's
/// mode and owner, fsync, rename over `path`, fsync the directory.
fn atomic_write(path: &Path, bytes: &[u8], meta: &fs::Metadata) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "squid.conf".to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{name}.bulwark-tmp-{}-{nanos}",
        std::process::id()
    ));
    let r = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        let _ = std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()));
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Puts the original bytes back and checks they are there.
fn restore(
    path: &Path,
    original: &[u8],
    meta: &fs::Metadata,
    backup: &Path,
    output: String,
) -> Result<(), ApplyError> {
    let r = atomic_write(path, original, meta).and_then(|()| {
        if read_all(path)? == original {
            Ok(())
        } else {
            Err(io::Error::other(
                "the restored file differs from the original",
            ))
        }
    });
    r.map_err(|error| ApplyError::RestoreFailed {
        path: path.to_path_buf(),
        backup: backup.to_path_buf(),
        error,
        output,
    })
}

/// Runs `squid -k parse -f FILE`: (passed, relevant output lines).
fn parse_check(squid_bin: &Path, path: &Path) -> Result<(bool, String), ApplyError> {
    let p = path.as_os_str().to_string_lossy().into_owned();
    let (status, out) =
        run(squid_bin, &["-k", "parse", "-f", &p]).map_err(|e| ApplyError::SquidNotRunnable {
            bin: squid_bin.to_path_buf(),
            what: "squid -k parse",
            detail: e.to_string(),
        })?;
    let relevant = relevant_lines(&out);
    let fatal = out.lines().any(|l| l.contains("FATAL:"));
    Ok((status.success() && !fatal, relevant))
}

/// Lines of Squid's output that say nothing about the configuration.
const NOISE: &[&str] = &[
    "| Processing: ",
    "| Startup: ",
    "| Processing Configuration File:",
    "| Initializing https:// proxy context",
    "| Not currently OK to rewrite swap log.",
    "| storeDirWriteCleanLogs: Operation aborted.",
    "| Set Current Directory to ",
];

/// Lines of Squid's output that start the resource summary printed when it dies.
const SUMMARY: &[&str] = &[
    "CPU Usage:",
    "Maximum Resident Size:",
    "Page faults with physical i/o:",
];

/// Squid's output without its progress lines ("Processing: …", "Startup: …") and exit
/// summary, at most 60 lines (the last ones).
fn relevant_lines(out: &str) -> String {
    let keep: Vec<&str> = out
        .lines()
        .filter(|l| {
            !(NOISE.iter().any(|n| l.contains(n))
                || SUMMARY.iter().any(|n| l.starts_with(n))
                || l.trim().is_empty())
        })
        .collect();
    let skip = keep.len().saturating_sub(60);
    let mut s = keep[skip..].join("\n");
    if s.is_empty() {
        s.push_str("(no diagnostics; exit status only)");
    }
    s
}

fn squid_warnings(relevant: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for l in relevant.lines() {
        if !(l.contains("WARNING") || l.contains("ERROR") || l.contains("UPGRADE")) {
            continue;
        }
        // Drop Squid's "YYYY/MM/DD HH:MM:SS| " prefix; Squid repeats some lines per service.
        let text = l.split_once("| ").map_or(l, |(_, t)| t).trim();
        let w = format!("squid -k parse: {text}");
        if !v.contains(&w) {
            v.push(w);
        }
    }
    v
}

/// Runs a command with stdin closed, stdout and stderr captured together (stderr first), and
/// [`PARSE_TIMEOUT`].
fn run(bin: &Path, args: &[&str]) -> io::Result<(ExitStatus, String)> {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = so.as_mut() {
            let _ = s.read_to_end(&mut v);
        }
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = se.as_mut() {
            let _ = s.read_to_end(&mut v);
        }
        v
    });
    let deadline = Instant::now() + PARSE_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {} s", PARSE_TIMEOUT.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = t_out.join().unwrap_or_default();
    let err = t_err.join().unwrap_or_default();
    let mut s = String::from_utf8_lossy(&err).into_owned();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(&String::from_utf8_lossy(&out));
    Ok((status, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_budget_follows_the_squid_version() {
        let b = |v: &str| SquidBuild::from_version_output(&format!("Squid Cache: Version {v}\n"));
        assert_eq!(b("5.7").recommended_hold_bytes(), Some(32 * 1024));
        assert_eq!(b("6.6").recommended_hold_bytes(), Some(32 * 1024));
        assert_eq!(b("6.9").recommended_hold_bytes(), Some(32 * 1024 * 1024));
        assert_eq!(b("6.13").recommended_hold_bytes(), Some(32 * 1024 * 1024));
        assert_eq!(b("7.1").recommended_hold_bytes(), Some(32 * 1024 * 1024));
        assert!(b("6.13").hold_advice().contains("33554432"));
        assert!(b("5.7").hold_advice().contains("bug 5352"));
        assert_eq!(SquidBuild::default().recommended_hold_bytes(), None);
        assert!(b("5.7").drops_held_uploads() && b("6.12").drops_held_uploads());
        assert!(!b("6.13").drops_held_uploads() && !b("7.0").drops_held_uploads());
    }

    #[test]
    fn build_info() {
        let b = SquidBuild::from_version_output(
            "Squid Cache: Version 5.7\nService Name: squid\nconfigure options: '--with-gnutls' '--enable-icap-client'\n",
        );
        assert_eq!(b.version, "5.7");
        assert_eq!(b.major(), Some(5));
        assert_eq!(b.tls, Some(TlsLibrary::GnuTls));
        let o = SquidBuild::from_version_output(
            "Squid Cache: Version 6.10\nconfigure options: '--with-openssl' '--without-gnutls'",
        );
        assert_eq!(o.tls, Some(TlsLibrary::OpenSsl));
        let n = SquidBuild::from_version_output(
            "Squid Cache: Version 3.0.STABLE26\n'--without-openssl'",
        );
        assert_eq!(n.tls, None);
        assert_eq!(n.major(), Some(3));
    }

    #[test]
    fn tls_support_rules() {
        use crate::snippet::TlsOptions;
        let gnutls = SquidBuild {
            version: "5.7".into(),
            tls: Some(TlsLibrary::GnuTls),
        };
        let bare = SnippetOptions {
            tls: Some(TlsOptions::default()),
            ..Default::default()
        };
        assert!(check_tls_support(&bare, &gnutls).is_ok());
        let with_ca = SnippetOptions {
            tls: Some(TlsOptions {
                cafile: Some("/ca.pem".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(matches!(
            check_tls_support(&with_ca, &gnutls),
            Err(ApplyError::TlsUnsupported(m)) if m.contains("GnuTLS")
        ));
        let openssl = SquidBuild {
            tls: Some(TlsLibrary::OpenSsl),
            ..gnutls.clone()
        };
        assert!(check_tls_support(&with_ca, &openssl).is_ok());
        let none = SquidBuild {
            tls: None,
            ..gnutls
        };
        assert!(check_tls_support(&bare, &none).is_err());
        assert!(check_tls_support(&SnippetOptions::default(), &none).is_ok());
    }

    #[test]
    fn output_filtering() {
        let out = "2026/11/23 22:05:40| Startup: Initializing Authentication Schemes ...\n\
                   2026/11/23 22:05:40| Processing: http_port 3128\n\
                   2026/11/23 22:05:40| /tmp/x.conf(2): unrecognized: 'bogus'\n\
                   2026/11/23 22:05:40| WARNING: 'icap_class' is deprecated.\n\
                   2026/11/23 22:05:40| Not currently OK to rewrite swap log.\n\
                   CPU Usage: 0.009 seconds = 0.009 user + 0.000 sys\n\
                   Maximum Resident Size: 56784 KB\n";
        let r = relevant_lines(out);
        assert_eq!(r.lines().count(), 2);
        assert_eq!(
            squid_warnings(&format!("{r}\n{r}")),
            vec!["squid -k parse: WARNING: 'icap_class' is deprecated.".to_string()]
        );
        assert_eq!(relevant_lines(""), "(no diagnostics; exit status only)");
    }
}
