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

use std::fmt::Write as _;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::proc::ChildGuard;
use crate::{find_program, net, tail_of_file};

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
}

/// A running Squid, killed on drop.
#[derive(Debug)]
pub struct Squid {
    child: ChildGuard,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    service: String,
}

/// A service name of its own for each Squid (`squid -n`): Squid names its shared-memory
/// segments after it (`/dev/shm/<name>-cf__*.shm`), and two instances starting at the same
/// moment under the default name race for the same segments ("shm_open … File exists").
pub fn service_name(port: u16) -> String {
    format!("bwtest{}x{port}", std::process::id())
}

/// Removes the shared-memory segments a killed Squid called `service` leaves behind.
pub fn remove_shm(service: &str) {
    let Ok(rd) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    let prefix = format!("{service}-");
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        self.child.stop(Duration::ZERO);
        remove_shm(&self.service);
    }
}

impl Squid {
    /// Starts Squid with ICAP services at `icap://127.0.0.1:<icap_port>/av/{respmod,reqmod}`,
    /// both essential (`bypass=off`).
    pub fn start(icap_port: u16) -> Result<Self, String> {
        Self::start_with(SquidOptions {
            icap_port: Some(icap_port),
            ..SquidOptions::default()
        })
    }

    /// Starts Squid as described by `opts` and waits (at most 30 s) until its port accepts.
    pub fn start_with(opts: SquidOptions) -> Result<Self, String> {
        let squid = find_program("squid", "squid")?;
        let dir = crate::shared_tempdir("squid-e2e-").map_err(|e| e.to_string())?;
        let port = net::free_port().map_err(|e| e.to_string())?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if let Some((user, password)) = &opts.basic_auth {
            write_htpasswd(&dir.path().join(HTPASSWD), user, password)?;
        }
        let conf = dir.path().join("squid.conf");
        std::fs::write(&conf, config_text(dir.path(), port, &opts)).map_err(|e| e.to_string())?;
        let stdout = File::create(dir.path().join("stdout.log")).map_err(|e| e.to_string())?;
        let stderr = stdout.try_clone().map_err(|e| e.to_string())?;
        let service = service_name(port);
        let mut cmd = Command::new(squid);
        cmd.arg("-N").arg("-n").arg(&service).arg("-f").arg(&conf);
        cmd.current_dir(dir.path());
        cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        // Squid needs no graceful stop here: it holds nothing worth saving.
        let mut child =
            ChildGuard::spawn(cmd, "squid", Duration::ZERO).map_err(|e| e.to_string())?;
        let dir_path = dir.path().to_path_buf();
        if let Err(e) = net::wait_for_port(addr, Duration::from_secs(30), || child.check_running())
        {
            child.stop(Duration::ZERO);
            remove_shm(&service);
            return Err(format!(
                "squid did not start: {e}\n--- cache.log ---\n{}\n--- stdout/stderr ---\n{}",
                tail_of_file(&dir_path.join("cache.log"), 8000),
                tail_of_file(&dir_path.join("stdout.log"), 4000)
            ));
        }
        Ok(Self {
            child,
            addr,
            dir,
            service,
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

    /// The tail of cache.log and access.log, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- squid cache.log ---\n{}\n--- squid access.log ---\n{}",
            tail_of_file(&self.cache_log_path(), 6000),
            tail_of_file(&self.dir.path().join("access.log"), 4000)
        )
    }
}

/// The password file of `SquidOptions::basic_auth`, inside Squid's directory.
const HTPASSWD: &str = "passwd";

/// Writes an htpasswd file (MD5 hashes, which `basic_ncsa_auth` reads) with one user.
fn write_htpasswd(path: &Path, user: &str, password: &str) -> Result<(), String> {
    let htpasswd = find_program("htpasswd", "apache2-utils")?;
    let out = Command::new(htpasswd)
        .args(["-c", "-b", "-m"])
        .arg(path)
        .args([user, password])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "htpasswd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The squid.conf text for `opts`, with every file inside `dir`.
pub fn config_text(dir: &Path, port: u16, opts: &SquidOptions) -> String {
    let d = dir.display();
    let mut c = String::new();
    let _ = writeln!(c, "http_port 127.0.0.1:{port}");
    let _ = writeln!(c, "pid_filename {d}/squid.pid");
    let _ = writeln!(c, "access_log stdio:{d}/access.log");
    let _ = writeln!(c, "cache_log {d}/cache.log");
    let _ = writeln!(c, "cache_store_log none");
    let _ = writeln!(c, "coredump_dir {d}");
    let _ = writeln!(c, "cache deny all");
    let _ = writeln!(c, "cache_mem 16 MB");
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
    if let Some(icap) = opts.icap_port {
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
