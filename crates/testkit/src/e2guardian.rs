//! Launches Debian 12's e2guardian 5.3 as a filtering proxy whose `icapscan` content scanner
//! sends every downloaded object to an ICAP server (Bulwark) for RESPMOD.
//!
//! The packaged configuration is COPIED from `/etc/e2guardian` into a temporary directory, every
//! `/etc/e2guardian` path inside it is rewritten to the copy, and then a few options are
//! replaced (see [`main_options`]); nothing under `/etc` or `/var` is written. What running it
//! as root in a container needs (found by testing here):
//!
//! * `-N` keeps it in the foreground as one (multi-threaded) process. It ignores SIGTERM for
//!   several seconds, so it is killed with SIGKILL: it holds nothing worth saving;
//! * as root it switches its effective user to `e2guardian` (the compiled-in `daemonuser`) after
//!   reading the configuration and before opening `access.log` and the scan cache files, so
//!   the temporary directory and the cache directory are mode 0777;
//! * the temporary directory's path has no capital letter: e2guardian lowercases the paths of
//!   the `.Include<…>` lines in phrase lists, so tempfile's usual random names (mixed case)
//!   make it fail to load its phrase lists and exit;
//! * the packaged `transparenthttpsport = 8443` would make every instance bind 8443: it is set
//!   to 0, and `filterip`/`filterports` put the proxy on `127.0.0.1:<free port>`;
//! * without `proxyip` e2guardian fetches from the origin itself; origins are IP literals, so it
//!   never resolves a name, and `reverseaddresslookups` stays off;
//! * `icapscan` sends OPTIONS to the ICAP service once, at startup, and e2guardian refuses to
//!   start if it cannot connect: start the ICAP server first;
//! * `maxcontentfilecachescansize` is raised from 20000 KiB to [`MAX_SCAN_KIB`]: objects larger
//!   than it are passed to the client UNSCANNED. Objects up to `maxcontentramcachescansize`
//!   (2048 KiB, kept) are scanned from memory, larger ones from a file in `cache/`;
//! * `debuglevel = 'ICAPC'` prints every ICAP exchange (the request head, the answer's status
//!   line and e2guardian's reading of it) to its stderr and to `debug.log`: see [`E2guardian::logs`].
//!
//! Nothing else in the packaged policy had to be relaxed for loopback tests: 5.3's
//! `checkblanketblock` (the IP-literal URL block) is empty, `bannedsiteiplist` is empty, and the
//! test routes (`/bytes/…`, `/eicar?…`) have no banned extension and are served as
//! `application/octet-stream`, which `bannedmimetypelist` does not list. e2guardian's block
//! page is its own HTML template, sent with status `200` (not 403), whose reason reads
//! `Virus or bad content detected. <threat name>`.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::proc::ChildGuard;
use crate::{find_program, net, tail_of_file, Error};

/// Where Debian installs e2guardian's configuration (copied, never modified).
pub const CONFIG_DIR: &str = "/etc/e2guardian";

/// `maxcontentfilecachescansize` in KiB: the largest object e2guardian downloads and scans
/// (100 MiB; larger objects would pass unscanned).
pub const MAX_SCAN_KIB: u64 = 100 * 1024;

/// Seconds e2guardian waits for each read or write on the ICAP connection
/// (`contentscannertimeout`, the packaged value made explicit).
pub const SCANNER_TIMEOUT_SECS: u64 = 60;

/// A running e2guardian, killed (with its process group) on drop.
#[derive(Debug)]
pub struct E2guardian {
    child: ChildGuard,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl E2guardian {
    /// Starts e2guardian on `127.0.0.1:<free port>` with `icapscan` pointed at
    /// `icap://127.0.0.1:<icap_port>/<icap_path>` (a leading `/` in `icap_path` is optional),
    /// and waits (at most 30 s) until its port accepts.
    ///
    /// The ICAP server must already be running: e2guardian sends it OPTIONS at startup and
    /// exits if it cannot connect.
    pub fn start(icap_port: u16, icap_path: &str) -> Result<Self, Error> {
        let bin = find_program("e2guardian", "e2guardian")?;
        let source = Path::new(CONFIG_DIR);
        let main_conf = source.join("e2guardian.conf");
        if !main_conf.is_file() {
            return Err(Error::MissingFile {
                path: main_conf,
                package: "e2guardian".into(),
            });
        }
        let port = crate::free_port()?;
        let dir = lowercase_tempdir(port)
            .map_err(|e| Error::io("creating a temporary directory for e2guardian", e))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let etc = dir.path().join("etc");
        copy_config(source, &etc, CONFIG_DIR.as_bytes(), path_bytes(&etc))
            .map_err(|e| Error::io(format!("copying {CONFIG_DIR}"), e))?;
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache)
            .and_then(|()| std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)))
            .map_err(|e| Error::io(format!("creating {}", cache.display()), e))?;
        let conf = etc.join("e2guardian.conf");
        edit_file(&conf, &main_options(dir.path(), port))?;
        let url = icap_url(icap_port, icap_path);
        edit_file(
            &etc.join("contentscanners").join("icapscan.conf"),
            &[
                ("plugname", Some("'icapscan'".to_string())),
                ("icapurl", Some(format!("'{url}'"))),
            ],
        )?;
        let (out, err) = crate::output_file(&dir.path().join(OUTPUT))?;
        let mut cmd = Command::new(bin);
        cmd.arg("-N").arg("-c").arg(&conf);
        cmd.current_dir(dir.path());
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let mut child = ChildGuard::spawn(cmd, "e2guardian", Duration::ZERO)?;
        if let Err(e) = net::wait_for_port(addr, Duration::from_secs(30), || child.check_running())
        {
            child.stop(Duration::ZERO);
            return Err(Error::NotReady {
                component: format!("e2guardian (icapurl {url})"),
                source: Box::new(e),
                logs: logs_of(dir.path()),
            });
        }
        Ok(Self { child, addr, dir })
    }

    /// The proxy address (`filterip`:`filterports`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The temporary directory: `etc/` (the edited configuration), `cache/`, and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of e2guardian's `access.log` (one line per request, e.g. `*SCANNED*` or
    /// `*INFECTED* * *DENIED* Virus or bad content detected. <name>`).
    pub fn access_log_path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    /// The tail of e2guardian's output (startup errors and the `ICAPC` debug trace of every
    /// ICAP exchange) and of its access log, for failure messages.
    pub fn logs(&self) -> String {
        logs_of(self.dir.path())
    }
}

/// e2guardian's stdout and stderr, inside its directory.
const OUTPUT: &str = "e2guardian.out";

/// The tails of the logs in `dir`.
fn logs_of(dir: &Path) -> String {
    format!(
        "--- e2guardian output (stderr, ICAPC trace) ---\n{}\n--- e2guardian access.log ---\n{}",
        tail_of_file(&dir.join(OUTPUT), 8000),
        tail_of_file(&dir.join("access.log"), 4000)
    )
}

/// A temporary directory whose path has no capital letter, other users may write to (like
/// [`crate::shared_tempdir`]), removed on drop.
///
/// e2guardian LOWERCASES the paths of the `.Include<…>` lines it reads in phrase lists, so a
/// copy of the configuration under a path with capitals (such as tempfile's random names)
/// fails to load (`Error opening exceptionphraselist`).
fn lowercase_tempdir(port: u16) -> std::io::Result<tempfile::TempDir> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let mut base = std::env::temp_dir();
    if base.to_string_lossy().chars().any(|c| c.is_uppercase()) {
        base = PathBuf::from("/tmp");
    }
    let name = format!(
        "e2guardian-e2e-{}-{port}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let dir = tempfile::Builder::new()
        .prefix(&name)
        .rand_bytes(0)
        .tempdir_in(base)?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
    Ok(dir)
}

/// `icap://127.0.0.1:<port>/<path>`.
pub fn icap_url(port: u16, path: &str) -> String {
    format!("icap://127.0.0.1:{port}/{}", path.trim_start_matches('/'))
}

/// The `e2guardian.conf` options replaced in the copy whose files live in `dir`; `None`
/// removes the option. Every other packaged setting is kept.
pub fn main_options(dir: &Path, port: u16) -> Vec<(&'static str, Option<String>)> {
    let d = dir.display();
    let q = |s: String| Some(format!("'{s}'"));
    vec![
        // Listen on loopback only, on our port; no transparent HTTPS or ICAP-server listener.
        ("filterip", Some("127.0.0.1".into())),
        ("filterports", Some(port.to_string())),
        ("mapportstoips", Some("off".into())),
        ("transparenthttpsport", Some("0".into())),
        ("icapport", None),
        // Fetch directly from the origin (an IP literal): no upstream proxy, no DNS.
        ("proxyip", None),
        ("proxyport", None),
        ("reverseaddresslookups", Some("off".into())),
        ("reverseclientiplookups", Some("off".into())),
        ("logclienthostnames", Some("off".into())),
        // Every file of ours in the temporary directory.
        ("languagedir", q(format!("{d}/etc/languages"))),
        ("loglocation", q(format!("{d}/access.log"))),
        ("logsyslog", Some("off".into())),
        ("rqloglocation", None),
        ("dstatlocation", None),
        ("statlocation", q(format!("{d}/stats"))),
        ("pidfilename", q(format!("{d}/e2guardian.pid"))),
        ("filecachedir", q(format!("{d}/cache"))),
        ("debuglevel", q("ICAPC".into())),
        ("debuglevelfile", q(format!("{d}/debug.log"))),
        ("nodaemon", Some("on".into())),
        ("dockermode", Some("off".into())),
        ("monitorhelper", None),
        ("monitorflagprefix", None),
        ("enablessl", Some("off".into())),
        // The content scanner, and sizes so that every test object is scanned.
        (
            "contentscanner",
            q(format!("{d}/etc/contentscanners/icapscan.conf")),
        ),
        (
            "contentscannertimeout",
            Some(SCANNER_TIMEOUT_SECS.to_string()),
        ),
        ("maxcontentfiltersize", Some("2048".into())),
        ("maxcontentramcachescansize", Some("2048".into())),
        (
            "maxcontentfilecachescansize",
            Some(MAX_SCAN_KIB.to_string()),
        ),
        // Enough workers for tests, few enough for a 1024-descriptor limit (it needs 2 each).
        ("httpworkers", Some("64".into())),
    ]
}

/// Replaces, in e2guardian's `key = value` syntax, every active line setting one of `options`
/// by a single line at the end of the text (`None`: the option is only removed). Comments and
/// every other line are kept.
pub fn set_options(text: &str, options: &[(&str, Option<String>)]) -> String {
    let mut out = String::with_capacity(text.len() + 1024);
    for line in text.lines() {
        let key = line
            .split('=')
            .next()
            .map(str::trim)
            .filter(|_| line.contains('='))
            .unwrap_or("");
        let set_here = !key.starts_with('#') && options.iter().any(|(k, _)| *k == key);
        if !set_here {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("\n# --- set by bulwark-testkit (e2guardian.rs) ---\n");
    for (k, v) in options {
        if let Some(v) = v {
            out.push_str(&format!("{k} = {v}\n"));
        }
    }
    out
}

/// Applies [`set_options`] to the file at `path`.
fn edit_file(path: &Path, options: &[(&str, Option<String>)]) -> Result<(), Error> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let text = String::from_utf8_lossy(&bytes);
    crate::write_file(path, set_options(&text, options))
}

fn path_bytes(p: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes()
}

/// Copies the tree `from` to `to` (following symbolic links), replacing every occurrence of
/// `old` by `new` in the files' bytes (the configuration files name each other by absolute
/// path, e.g. `.Include</etc/e2guardian/common.story>`).
fn copy_config(from: &Path, to: &Path, old: &[u8], new: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir(to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = std::fs::metadata(&src)?;
        if meta.is_dir() {
            copy_config(&src, &dst, old, new)?;
        } else if meta.is_file() {
            let data = std::fs::read(&src)?;
            std::fs::write(&dst, replace_bytes(&data, old, new))?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o644))?;
        }
    }
    Ok(())
}

/// `data` with every occurrence of `old` (non-empty) replaced by `new`.
fn replace_bytes(data: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(old) {
            out.extend_from_slice(new);
            i += old.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_options_replaces_active_lines_and_keeps_comments() {
        let text = "# filterports = 8080\nfilterports = 8080\nfilterports = 8081\n\
                    #contentscanner = 'x'\nproxyip = 127.0.0.1\nlanguage = 'ukenglish'\n";
        let out = set_options(
            text,
            &[
                ("filterports", Some("3128".into())),
                ("proxyip", None),
                ("contentscanner", Some("'/t/icapscan.conf'".into())),
            ],
        );
        assert!(out.contains("# filterports = 8080\n"));
        assert!(!out.contains("\nfilterports = 8080"));
        assert!(!out.contains("filterports = 8081"));
        assert!(out.contains("\nfilterports = 3128\n"));
        assert!(!out.contains("proxyip = 127"));
        assert!(out.contains("#contentscanner = 'x'\n"));
        assert!(out.contains("\ncontentscanner = '/t/icapscan.conf'\n"));
        assert!(out.contains("language = 'ukenglish'\n"));
    }

    #[test]
    fn paths_are_rewritten_and_urls_built() {
        assert_eq!(
            replace_bytes(
                b".Include</etc/e2g/a>\n/etc/e2g",
                b"/etc/e2g",
                b"/tmp/x/etc"
            ),
            b".Include</tmp/x/etc/a>\n/tmp/x/etc".to_vec()
        );
        assert_eq!(
            icap_url(1344, "/av/respmod"),
            "icap://127.0.0.1:1344/av/respmod"
        );
        assert_eq!(
            icap_url(1344, "av/respmod"),
            "icap://127.0.0.1:1344/av/respmod"
        );
    }
}
