//! Launches Squid (Debian 12: Squid 5.7) with its own configuration in a temporary directory.
//!
//! What running Squid as root in a container needs (found by testing here):
//! * as root Squid switches to `cache_effective_user` (Debian's default is `proxy`) before it
//!   opens its logs, so the temporary directory must be writable by that user: it is made
//!   mode 0777;
//! * no `cache_dir` (memory only) and `cache deny all`, so no `squid -z` is needed;
//! * `pinger_enable off` (the ICMP helper needs privileges and is useless here),
//!   `dns_nameservers 127.0.0.1` so nothing is ever sent to a real resolver (origins are IP
//!   literals);
//! * `-N` keeps it in the foreground as a single process; `shutdown_lifetime 0`.
//!
//! [`SquidOptions::chroot`] runs another Squid instead: the one installed in a Debian root
//! (Debian 13's Squid 6.13 from [`trixie_root`], made by `scripts/trixie-squid.sh`). Then the
//! temporary directory lives under `ROOT/tmp`, squid.conf names the paths as Squid sees them
//! from inside the root, Squid runs as the root's `proxy` user and its shared-memory segments
//! are in `ROOT/dev/shm` (a tmpfs the script mounts).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::proc::ChildGuard;
use crate::{find_program, net, tail_of_file, Error};

/// How to start Squid.
#[derive(Debug, Clone, Default)]
pub struct SquidOptions {
    /// ICAP server port on 127.0.0.1 serving `/av/respmod` and `/av/reqmod`; None: no ICAP.
    pub icap_port: Option<u16>,
    /// ICAP service paths (RESPMOD, REQMOD); default `av/respmod`, `av/reqmod`.
    pub services: Option<(String, String)>,
    /// Whether to route REQMOD too (default true when ICAP is on).
    pub no_reqmod: bool,
    /// Extra squid.conf lines appended at the end.
    pub extra: Vec<String>,
    /// Require proxy basic authentication with this user and password (`basic_ncsa_auth`
    /// over an htpasswd file made with `htpasswd` from apache2-utils); None: no authentication.
    pub basic_auth: Option<(String, String)>,
    /// Run the Squid installed in this Debian root (`chroot ROOT /usr/sbin/squid`), e.g.
    /// [`trixie_root`]'s Squid 6.13; None: the host's Squid.
    pub chroot: Option<PathBuf>,
    /// squid.conf lines that replace the built-in `icap_*` / `adaptation_access` lines, e.g.
    /// the output of `bulwark squid snippet --address 127.0.0.1:PORT`, written verbatim (then
    /// `icap_port`, `services` and `no_reqmod` are ignored, and nothing hides ICAP service
    /// suspensions: no `icap_service_failure_limit -1`).
    pub icap_snippet: Option<String>,
    /// Cache objects in memory (`cache allow all`, `cache_mem 64 MB`, objects up to 32 MB,
    /// and a `refresh_pattern` that keeps the test origin's `no-store` answers fresh for an
    /// hour), so a test can check what Squid stored; false: `cache deny all`.
    pub cache: bool,
}

/// A running Squid, killed on drop.
#[derive(Debug)]
pub struct Squid {
    child: ChildGuard,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    service: String,
    chroot: Option<PathBuf>,
    program: PathBuf,
}

/// What `BULWARK squid snippet --address ADDR` prints (the `bulwark` binary at `bulwark`), with
/// other RESPMOD and REQMOD paths when `paths` is given: the lines a user's Squid gets, for
/// [`SquidOptions::icap_snippet`].
pub fn bulwark_snippet(
    bulwark: &Path,
    addr: SocketAddr,
    paths: Option<(&str, &str)>,
) -> Result<String, Error> {
    let mut cmd = Command::new(bulwark);
    cmd.args(["squid", "snippet", "--address"])
        .arg(addr.to_string());
    if let Some((resp, req)) = paths {
        cmd.args(["--respmod-path", resp, "--reqmod-path", req]);
    }
    let out = cmd
        .output()
        .map_err(|e| Error::io(format!("running {} squid snippet", bulwark.display()), e))?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("{} squid snippet", bulwark.display()),
            status: out.status,
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    String::from_utf8(out.stdout)
        .map_err(|_| Error::Protocol("the snippet of `bulwark squid snippet` is not UTF-8".into()))
}

/// A service name of its own for each Squid (`squid -n`): Squid names its shared-memory
/// segments after it (`/dev/shm/<name>-cf__*.shm`), and two instances starting at the same
/// moment under the default name race for the same segments ("shm_open … File exists").
pub fn service_name(port: u16) -> String {
    format!("bwtest{}x{port}", std::process::id())
}

/// Removes the shared-memory segments a killed Squid called `service` leaves behind.
pub fn remove_shm(service: &str) {
    remove_shm_in(Path::new("/dev/shm"), service);
}

/// Like [`remove_shm`], for a Squid whose `/dev/shm` is `shm_dir` (`ROOT/dev/shm` in a chroot).
pub fn remove_shm_in(shm_dir: &Path, service: &str) {
    let Ok(rd) = std::fs::read_dir(shm_dir) else {
        return;
    };
    let prefix = format!("{service}-");
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The `/dev/shm` a Squid in `chroot` (None: the host's) uses.
fn shm_dir(chroot: Option<&Path>) -> PathBuf {
    match chroot {
        Some(root) => root.join("dev/shm"),
        None => PathBuf::from("/dev/shm"),
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        self.child.stop(Duration::ZERO);
        remove_shm_in(&shm_dir(self.chroot.as_deref()), &self.service);
    }
}

/// The Squid binary inside a chroot.
const CHROOT_SQUID: &str = "/usr/sbin/squid";

/// A command running `program` (a path inside `chroot` when given).
fn squid_command(chroot: Option<&Path>, program: &Path) -> Command {
    match chroot {
        Some(root) => {
            let mut cmd = Command::new("chroot");
            cmd.arg(root).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// The first line of `squid -v` for `program` (inside `chroot` when given).
fn version_of(chroot: Option<&Path>, program: &Path) -> Result<String, Error> {
    let out = squid_command(chroot, program)
        .arg("-v")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io(format!("cannot run {} -v", program.display()), e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().next() {
        Some(line) if out.status.success() => Ok(line.trim().to_string()),
        _ => Err(Error::Command {
            command: format!("{} -v", program.display()),
            status: out.status,
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
    }
}

/// The Debian 13 ("trixie") root with Squid 6.13 that `scripts/trixie-squid.sh` makes (and
/// caches, by default in `/var/cache/bulwark-tests/trixie`; about a minute the first time),
/// ready for [`SquidOptions::chroot`]. Runs the script once per process.
///
/// [`Error::Unavailable`] (with the reason, so a test can print `skipped: …`) when
/// `BULWARK_SKIP_TRIXIE=1`, or when the root cannot be made (not root, no debootstrap, no
/// network to the host's Debian mirror…).
pub fn trixie_root() -> Result<PathBuf, Error> {
    if std::env::var("BULWARK_SKIP_TRIXIE").is_ok_and(|v| v == "1") {
        return Err(Error::Unavailable(
            "BULWARK_SKIP_TRIXIE=1: no Debian 13 chroot with Squid 6".into(),
        ));
    }
    // The outcome of the script is shared by every test of the process: the reason is kept as
    // text (an `Error` cannot be cloned).
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOT.get_or_init(|| make_trixie_root().map_err(|e| e.to_string()))
        .clone()
        .map_err(Error::Unavailable)
}

/// Runs `scripts/trixie-squid.sh` and checks the root it prints.
fn make_trixie_root() -> Result<PathBuf, Error> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/trixie-squid.sh");
    if !script.is_file() {
        return Err(Error::Unavailable(format!(
            "{} is missing",
            script.display()
        )));
    }
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io(format!("cannot run {}", script.display()), e))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String = {
        let lines: Vec<&str> = stderr.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    };
    if !out.status.success() {
        return Err(Error::Unavailable(format!(
            "scripts/trixie-squid.sh could not make the Debian 13 chroot with Squid 6 ({}):\n{tail}",
            out.status
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let root = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| {
            Error::Unavailable(format!("scripts/trixie-squid.sh printed no root:\n{tail}"))
        })?;
    if !root.join(".bulwark-ready").is_file() {
        return Err(Error::Unavailable(format!(
            "scripts/trixie-squid.sh printed {}, which is not a ready root",
            root.display()
        )));
    }
    Ok(root)
}

impl Squid {
    /// Starts Squid with ICAP services at `icap://127.0.0.1:<icap_port>/av/{respmod,reqmod}`,
    /// both essential (`bypass=off`).
    pub fn start(icap_port: u16) -> Result<Self, Error> {
        Self::start_with(SquidOptions {
            icap_port: Some(icap_port),
            ..SquidOptions::default()
        })
    }

    /// Starts Squid as described by `opts` and waits (at most 30 s) until its port accepts.
    pub fn start_with(opts: SquidOptions) -> Result<Self, Error> {
        let chroot = opts.chroot.clone();
        let (program, dir, inside) = match &chroot {
            Some(root) => {
                if !root.join("tmp").is_dir() {
                    return Err(Error::Options(format!(
                        "{} is not a Debian root (no tmp/)",
                        root.display()
                    )));
                }
                let dir = shared_tempdir_in(&root.join("tmp"), "squid-e2e-").map_err(|e| {
                    Error::io(
                        format!("creating a temporary directory in {}/tmp", root.display()),
                        e,
                    )
                })?;
                let name = dir.path().file_name().expect("temporary directory name");
                let inside = Path::new("/tmp").join(name);
                (PathBuf::from(CHROOT_SQUID), dir, inside)
            }
            None => {
                let program = find_program("squid", "squid")?;
                let dir = crate::temp_dir("squid-e2e-")?;
                let inside = dir.path().to_path_buf();
                (program, dir, inside)
            }
        };
        let port = crate::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if let Some((user, password)) = &opts.basic_auth {
            write_htpasswd(&dir.path().join(HTPASSWD), user, password)?;
        }
        let conf = dir.path().join("squid.conf");
        let mut text = config_text(&inside, port, &opts);
        if chroot.is_some() {
            // Squid 6 warns when the root's /etc/hostname does not resolve.
            text.push_str("visible_hostname localhost\n");
        }
        crate::write_file(&conf, text)?;
        let (stdout, stderr) = crate::output_file(&dir.path().join("stdout.log"))?;
        let service = service_name(port);
        let mut cmd = squid_command(chroot.as_deref(), &program);
        cmd.arg("-N")
            .arg("-n")
            .arg(&service)
            .arg("-f")
            .arg(inside.join("squid.conf"));
        cmd.current_dir(dir.path());
        cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        // Squid needs no graceful stop here: it holds nothing worth saving.
        let mut child = ChildGuard::spawn(cmd, "squid", Duration::ZERO)?;
        let dir_path = dir.path().to_path_buf();
        if let Err(e) = net::wait_for_port(addr, Duration::from_secs(30), || child.check_running())
        {
            child.stop(Duration::ZERO);
            remove_shm_in(&shm_dir(chroot.as_deref()), &service);
            return Err(Error::NotReady {
                component: "squid".into(),
                source: Box::new(e),
                logs: format!(
                    "--- cache.log ---\n{}\n--- stdout/stderr ---\n{}",
                    tail_of_file(&dir_path.join("cache.log"), 8000),
                    tail_of_file(&dir_path.join("stdout.log"), 4000)
                ),
            });
        }
        Ok(Self {
            child,
            addr,
            dir,
            service,
            chroot,
            program,
        })
    }

    /// The proxy address (`http_port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The temporary directory holding squid.conf and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of `cache.log`.
    pub fn cache_log_path(&self) -> PathBuf {
        self.dir.path().join("cache.log")
    }

    /// The first line of `squid -v` of the binary this Squid runs (inside its chroot when it
    /// has one), e.g. `Squid Cache: Version 6.13`; an explanation when it cannot be run.
    pub fn version(&self) -> String {
        version_of(self.chroot.as_deref(), &self.program).unwrap_or_else(|e| e.to_string())
    }

    /// The chroot this Squid runs in, if any.
    pub fn chroot(&self) -> Option<&Path> {
        self.chroot.as_deref()
    }

    /// The cache.log lines saying that Squid suspended an ICAP service or found an essential
    /// one down (tests assert there are none).
    pub fn suspensions(&self) -> Vec<String> {
        let log = std::fs::read(self.cache_log_path()).unwrap_or_default();
        String::from_utf8_lossy(&log)
            .lines()
            .filter(|l| {
                l.contains("suspending ICAP service")
                    || l.contains("is suspended")
                    || l.contains("essential ICAP service is down")
            })
            .map(str::to_string)
            .collect()
    }

    /// The tail of cache.log and access.log, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- squid cache.log ---\n{}\n--- squid access.log ---\n{}",
            tail_of_file(&self.cache_log_path(), 6000),
            tail_of_file(&self.dir.path().join("access.log"), 4000)
        )
    }
}

/// Like [`crate::shared_tempdir`], inside `parent`.
fn shared_tempdir_in(parent: &Path, prefix: &str) -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
    Ok(dir)
}

/// The password file of `SquidOptions::basic_auth`, inside Squid's directory.
const HTPASSWD: &str = "passwd";

/// Writes an htpasswd file (MD5 hashes, which `basic_ncsa_auth` reads) with one user.
fn write_htpasswd(path: &Path, user: &str, password: &str) -> Result<(), Error> {
    let htpasswd = find_program("htpasswd", "apache2-utils")?;
    let out = Command::new(&htpasswd)
        .args(["-c", "-b", "-m"])
        .arg(path)
        .args([user, password])
        .output()
        .map_err(|e| Error::io(format!("cannot run {}", htpasswd.display()), e))?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("htpasswd -c -b -m {} {user} ***", path.display()),
            status: out.status,
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

/// The squid.conf text for `opts`, with every file inside `dir` (the path as Squid sees it:
/// inside its chroot when it has one).
pub fn config_text(dir: &Path, port: u16, opts: &SquidOptions) -> String {
    let d = dir.display();
    let mut c = String::new();
    let _ = writeln!(c, "http_port 127.0.0.1:{port}");
    let _ = writeln!(c, "pid_filename {d}/squid.pid");
    let _ = writeln!(c, "access_log stdio:{d}/access.log");
    let _ = writeln!(c, "cache_log {d}/cache.log");
    let _ = writeln!(c, "cache_store_log none");
    let _ = writeln!(c, "coredump_dir {d}");
    if opts.cache {
        let _ = writeln!(c, "cache allow all");
        let _ = writeln!(c, "cache_mem 64 MB");
        let _ = writeln!(c, "maximum_object_size 32 MB");
        let _ = writeln!(c, "maximum_object_size_in_memory 32 MB");
        // The origin answers `Cache-Control: no-store` without validators: keep its objects
        // anyway, fresh for an hour.
        let _ = writeln!(
            c,
            "refresh_pattern ^http://127\\.0\\.0\\.1: 60 100% 60 ignore-no-store"
        );
        let _ = writeln!(c, "refresh_pattern . 0 20% 4320");
    } else {
        let _ = writeln!(c, "cache deny all");
        let _ = writeln!(c, "cache_mem 16 MB");
    }
    let _ = writeln!(c, "pinger_enable off");
    let _ = writeln!(c, "dns_nameservers 127.0.0.1");
    let _ = writeln!(c, "shutdown_lifetime 0 seconds");
    let _ = writeln!(c, "forwarded_for delete");
    let _ = writeln!(c, "via off");
    let _ = writeln!(c, "acl loopback src 127.0.0.0/8 ::1");
    let _ = writeln!(c, "acl to_loopback dst 127.0.0.0/8 ::1");
    let _ = writeln!(c, "http_access deny !to_loopback");
    if opts.basic_auth.is_some() {
        let _ = writeln!(
            c,
            "auth_param basic program /usr/lib/squid/basic_ncsa_auth {d}/{HTPASSWD}"
        );
        let _ = writeln!(c, "auth_param basic realm bulwark-test");
        let _ = writeln!(c, "acl authenticated proxy_auth REQUIRED");
        let _ = writeln!(c, "http_access deny !authenticated");
    }
    let _ = writeln!(c, "http_access allow loopback");
    let _ = writeln!(c, "http_access deny all");
    if let Some(snippet) = &opts.icap_snippet {
        for line in snippet.lines() {
            let _ = writeln!(c, "{line}");
        }
    } else if let Some(icap) = opts.icap_port {
        let (resp, req) = opts
            .services
            .clone()
            .unwrap_or_else(|| ("av/respmod".into(), "av/reqmod".into()));
        let _ = writeln!(c, "icap_enable on");
        let _ = writeln!(c, "icap_send_client_ip on");
        let _ = writeln!(c, "icap_service_failure_limit -1");
        let _ = writeln!(
            c,
            "icap_service svc_resp respmod_precache bypass=off icap://127.0.0.1:{icap}/{resp}"
        );
        let _ = writeln!(c, "adaptation_access svc_resp allow all");
        if !opts.no_reqmod {
            let _ = writeln!(
                c,
                "icap_service svc_req reqmod_precache bypass=off icap://127.0.0.1:{icap}/{req}"
            );
            let _ = writeln!(c, "adaptation_access svc_req allow all");
        }
    }
    for line in &opts.extra {
        let _ = writeln!(c, "{line}");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_keeps_the_built_in_icap_lines() {
        let opts = SquidOptions {
            icap_port: Some(1344),
            ..SquidOptions::default()
        };
        let c = config_text(Path::new("/tmp/x"), 3128, &opts);
        assert!(c.contains("cache deny all\n"));
        assert!(c.contains("icap_service_failure_limit -1\n"));
        assert!(c.contains("icap://127.0.0.1:1344/av/respmod\n"));
        assert!(c.contains("cache_log /tmp/x/cache.log\n"));
    }

    #[test]
    fn snippet_replaces_the_icap_lines_and_cache_allows_caching() {
        let snippet =
            "# BEGIN bulwark\nicap_enable on\nicap_service bulwark_resp respmod_precache \
                       bypass=off icap://127.0.0.1:9/av/respmod\n# END bulwark\n";
        let opts = SquidOptions {
            icap_port: Some(1344),
            icap_snippet: Some(snippet.into()),
            cache: true,
            ..SquidOptions::default()
        };
        let c = config_text(Path::new("/tmp/x"), 3128, &opts);
        assert!(c.contains(snippet));
        assert!(!c.contains("icap_service_failure_limit"));
        assert!(!c.contains("svc_resp"));
        assert!(c.contains("cache allow all\n"));
        assert!(!c.contains("cache deny all"));
        assert!(c.contains("maximum_object_size_in_memory 32 MB\n"));
        assert!(c.contains("refresh_pattern ^http://127\\.0\\.0\\.1: 60 100% 60"));
    }
}
