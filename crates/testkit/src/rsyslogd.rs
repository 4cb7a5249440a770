//! Debian's rsyslogd as a syslog receiver nobody here wrote: its own configuration, pid file
//! and work directory in a temporary directory, a loopback UDP port chosen at run time, every
//! message written to a file with the header fields rsyslog parsed.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::proc::ChildGuard;
use crate::Error;

/// Debian's rsyslogd receiving on a loopback UDP port (and optionally TCP with octet
/// counting, or a Unix socket) and writing every message, raw, to a file.
#[derive(Debug)]
pub struct Rsyslogd {
    child: ChildGuard,
    dir: tempfile::TempDir,
    udp: SocketAddr,
    out: PathBuf,
}

/// rsyslogd, or why it cannot run here.
pub fn rsyslogd_binary() -> Result<PathBuf, Error> {
    crate::find_program("rsyslogd", "rsyslog")
}

impl Rsyslogd {
    /// Starts rsyslogd in the foreground with its own configuration, pid file and work
    /// directory, listening on `127.0.0.1:<free>` UDP; `extra` is added to its configuration.
    /// Every message is written to a file as `%msg%`, with its parsed header fields in front.
    pub fn start(extra: &str) -> Result<Self, Error> {
        let bin = rsyslogd_binary()?;
        let dir = crate::temp_dir("rsyslogd-")?;
        let port = free_udp_port().map_err(|e| Error::io("picking a free loopback UDP port", e))?;
        let udp = SocketAddr::from(([127, 0, 0, 1], port));
        let out = dir.path().join("messages.log");
        let conf = dir.path().join("rsyslog.conf");
        let text = format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imudp\")\n\
             input(type=\"imudp\" address=\"127.0.0.1\" port=\"{port}\")\n\
             {extra}\n\
             template(name=\"fields\" type=\"string\" string=\"pri=%pri% host=%hostname% \
             app=%app-name% procid=%procid% msgid=%msgid% sd=%structured-data% msg=%msg%\\n\")\n\
             action(type=\"omfile\" file=\"{out}\" template=\"fields\")\n",
            d = dir.path().display(),
            out = out.display()
        );
        crate::write_file(&conf, text)?;
        let mut cmd = Command::new(bin);
        cmd.arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = ChildGuard::spawn(cmd, "rsyslogd", Duration::from_secs(5))?;
        // rsyslogd has no readiness signal on UDP: wait for its pid file.
        let pid = dir.path().join("rsyslogd.pid");
        let timeout = Duration::from_secs(10);
        let until = Instant::now() + timeout;
        while !pid.exists() {
            if Instant::now() >= until {
                return Err(Error::Timeout {
                    what: "rsyslogd to write its pid file".into(),
                    after: timeout,
                    last: format!("no {}", pid.display()),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        Ok(Self {
            child,
            dir,
            udp,
            out,
        })
    }

    /// The UDP address it listens on.
    pub fn udp(&self) -> SocketAddr {
        self.udp
    }

    /// Its temporary directory (for a Unix socket path in `extra`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits until the output file has lines for which `done` holds.
    pub fn wait_lines(
        &mut self,
        timeout: Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> Result<Vec<String>, Error> {
        let until = Instant::now() + timeout;
        loop {
            let text = std::fs::read_to_string(&self.out).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if done(&lines) {
                return Ok(lines);
            }
            self.child.check_running()?;
            if Instant::now() >= until {
                return Err(Error::Timeout {
                    what: "the expected lines from rsyslogd".into(),
                    after: timeout,
                    last: format!("rsyslogd wrote {lines:#?}"),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A UDP port free at the time of asking.
fn free_udp_port() -> std::io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}
