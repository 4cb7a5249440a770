//! Launches Debian's c-icap (`c-icap -N -f <conf>`) with the `echo` service and, when a clamd
//! socket is given, the `virus_scan` service backed by clamd (`clamd_mod`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::proc::ChildGuard;
use crate::{find_program, icap, tail_of_file, Error};

/// Where Debian installs c-icap's modules and services.
pub const MODULES_DIR: &str = "/usr/lib/x86_64-linux-gnu/c_icap";

/// How to start c-icap.
#[derive(Debug, Clone)]
pub struct CIcapOptions {
    /// clamd's Unix socket; Some enables the `virus_scan` service.
    pub clamd_socket: Option<PathBuf>,
    /// Child processes (`StartServers` = `MaxServers`).
    pub servers: u32,
    /// Threads per child (`ThreadsPerChild`).
    pub threads_per_child: u32,
}

impl Default for CIcapOptions {
    fn default() -> Self {
        Self {
            clamd_socket: None,
            servers: 2,
            threads_per_child: 40,
        }
    }
}

/// A running c-icap; its process group is killed on drop.
#[derive(Debug)]
pub struct CIcap {
    child: ChildGuard,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl CIcap {
    /// Starts c-icap on a free loopback port and waits until OPTIONS on `echo` answers 200.
    pub fn start(opts: CIcapOptions) -> Result<Self, Error> {
        let bin = find_program("c-icap", "c-icap")?;
        let echo = Path::new(MODULES_DIR).join("srv_echo.so");
        if !echo.is_file() {
            return Err(Error::MissingFile {
                path: echo,
                package: "c-icap".into(),
            });
        }
        let virus_scan = Path::new(MODULES_DIR).join("virus_scan.so");
        if opts.clamd_socket.is_some() && !virus_scan.is_file() {
            return Err(Error::MissingFile {
                path: virus_scan,
                package: "libc-icap-mod-virus-scan".into(),
            });
        }
        let dir = crate::temp_dir("cicap-e2e-")?;
        let port = crate::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let conf = dir.path().join("c-icap.conf");
        crate::write_file(&conf, config_text(dir.path(), port, &opts))?;
        let (out, err) = crate::output_file(&dir.path().join("stdout.log"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("-N").arg("-f").arg(&conf);
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let mut child = ChildGuard::spawn(cmd, "c-icap", Duration::from_secs(2))?;
        let ready = icap::wait_for_options(addr, "echo", Duration::from_secs(30), || {
            child.check_running()
        });
        if let Err(e) = ready {
            child.stop(Duration::ZERO);
            return Err(Error::NotReady {
                component: "c-icap".into(),
                source: Box::new(e),
                logs: format!(
                    "--- server.log ---\n{}\n--- output ---\n{}",
                    tail_of_file(&dir.path().join("server.log"), 6000),
                    tail_of_file(&dir.path().join("stdout.log"), 4000)
                ),
            });
        }
        Ok(Self { child, addr, dir })
    }

    /// The ICAP address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The ICAP port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The main process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The temporary directory (config, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The c-icap.conf text, every file inside `dir`.
pub fn config_text(dir: &Path, port: u16, opts: &CIcapOptions) -> String {
    let d = dir.display();
    let mut c = String::new();
    let _ = writeln!(c, "PidFile {d}/c-icap.pid");
    let _ = writeln!(c, "CommandsSocket {d}/c-icap.ctl");
    let _ = writeln!(c, "Port 127.0.0.1:{port}");
    let _ = writeln!(c, "Timeout 300");
    let _ = writeln!(c, "MaxKeepAliveRequests 0");
    let _ = writeln!(c, "KeepAliveTimeout 600");
    let _ = writeln!(c, "StartServers {}", opts.servers);
    let _ = writeln!(c, "MaxServers {}", opts.servers);
    let _ = writeln!(c, "ThreadsPerChild {}", opts.threads_per_child);
    let _ = writeln!(c, "MinSpareThreads 1");
    let _ = writeln!(
        c,
        "MaxSpareThreads {}",
        opts.threads_per_child * opts.servers
    );
    let _ = writeln!(c, "MaxRequestsPerChild 0");
    let _ = writeln!(c, "TmpDir {d}");
    let _ = writeln!(c, "DebugLevel 0");
    let _ = writeln!(c, "Pipelining on");
    let _ = writeln!(c, "ModulesDir {MODULES_DIR}");
    let _ = writeln!(c, "ServicesDir {MODULES_DIR}");
    let _ = writeln!(c, "TemplateDir /usr/share/c_icap/templates/");
    let _ = writeln!(c, "LoadMagicFile /etc/c-icap/c-icap.magic");
    let _ = writeln!(c, "ServerLog {d}/server.log");
    let _ = writeln!(c, "AccessLog {d}/access.log");
    let _ = writeln!(c, "Service echo srv_echo.so");
    if let Some(sock) = &opts.clamd_socket {
        let _ = writeln!(c, "Module common clamd_mod.so");
        let _ = writeln!(c, "clamd_mod.ClamdSocket {}", sock.display());
        let _ = writeln!(c, "Service virus_scan virus_scan.so");
        let _ = writeln!(
            c,
            "virus_scan.ScanFileTypes TEXT DATA EXECUTABLE ARCHIVE GIF JPEG MSOFFICE"
        );
        let _ = writeln!(c, "virus_scan.SendPercentData 0");
        let _ = writeln!(c, "virus_scan.MaxObjectSize 100M");
        let _ = writeln!(c, "virus_scan.DefaultEngine clamd");
    }
    c
}
