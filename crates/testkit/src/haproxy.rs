//! Launches Debian's HAProxy (2.6 in Debian 12) as a layer-4 (mode tcp) balancer in front of
//! ICAP servers, with its own `haproxy.cfg` in a temporary directory.
//!
//! Never the system service: the process is `haproxy -f <tmp>/haproxy.cfg -db` (foreground, no
//! daemon), listening on a loopback port chosen at run time, with its log (`log stdout`, server
//! state changes and one `option tcplog` line per connection) and its warnings in
//! `<tmp>/haproxy.log`, and an admin socket (`<tmp>/stats.sock`) that [`Haproxy::servers`]
//! reads with `show stat`.
//!
//! Health checks ([`HealthCheck`]) are the ones docs/operations.md documents: an ICAP `OPTIONS`
//! through `option tcp-check`, or `option httpchk GET /readyz` on each instance's metrics listener (which
//! answers 503 from the moment a drain starts).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::proc::ChildGuard;
use crate::{find_program, net, tail_of_file, Error, Format, ParseError};

/// The name of the backend section in the generated configuration.
pub const BACKEND: &str = "bulwark";

/// One ICAP server behind the balancer.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Server name in HAProxy's configuration and statistics (e.g. `a`).
    pub name: String,
    /// The ICAP listen address (loopback).
    pub icap: SocketAddr,
    /// The metrics listener port on the same host, for [`HealthCheck::Readyz`].
    pub metrics_port: Option<u16>,
}

/// How HAProxy decides that a server is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheck {
    /// `option tcp-check`: an ICAP `OPTIONS` on the ICAP port must answer `ICAP/1.0 200`
    /// (the example of docs/operations.md). A draining instance fails it because it stops
    /// listening.
    IcapOptions,
    /// `option httpchk GET /readyz` on each server's metrics port (`check port …`): HTTP 2xx
    /// while the instance is ready, 503 from the start of a drain or when the licence forbids
    /// scanning.
    Readyz,
}

/// How to start HAProxy.
#[derive(Debug, Clone)]
pub struct HaproxyOptions {
    /// The servers, in order.
    pub backends: Vec<Backend>,
    /// The health check.
    pub check: HealthCheck,
    /// The ICAP service path the `OPTIONS` check asks for (without a leading `/`).
    pub service: String,
    /// `inter`: time between two checks of a server.
    pub inter: Duration,
    /// `fall`: consecutive failed checks before a server is marked down.
    pub fall: u32,
    /// `rise`: consecutive passed checks before a server is marked up again.
    pub rise: u32,
    /// The `balance` algorithm (`leastconn`, `roundrobin`…).
    pub balance: String,
}

impl HaproxyOptions {
    /// Options for `backends`: the given check, service `av/respmod`, `inter 250ms fall 2
    /// rise 2`, `balance leastconn`.
    pub fn new(backends: Vec<Backend>, check: HealthCheck) -> Self {
        Self {
            backends,
            check,
            service: "av/respmod".into(),
            inter: Duration::from_millis(250),
            fall: 2,
            rise: 2,
            balance: "leastconn".into(),
        }
    }
}

/// One server's line of `show stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStat {
    /// The server name.
    pub name: String,
    /// Its state as HAProxy prints it: `UP`, `DOWN`, `UP 1/2` (going down), `DOWN 1/2` (going
    /// up), `MAINT`, `no check`…
    pub status: String,
    /// Sessions (connections) this server has received since HAProxy started (`stot`).
    pub sessions_total: u64,
    /// Sessions open now (`scur`).
    pub sessions_now: u64,
}

impl ServerStat {
    /// True when HAProxy sends new connections to the server (`UP`, or `UP n/m` while failing
    /// checks but not yet down).
    pub fn is_up(&self) -> bool {
        self.status == "UP" || self.status.starts_with("UP ")
    }
}

/// A running HAProxy, killed on drop.
#[derive(Debug)]
pub struct Haproxy {
    child: ChildGuard,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

/// The HAProxy binary (Debian package `haproxy`), or why there is none (tests skip with it).
pub fn program() -> Result<PathBuf, Error> {
    find_program("haproxy", "haproxy")
}

impl Haproxy {
    /// Writes the configuration for `opts`, checks it with `haproxy -c`, starts `haproxy -f
    /// cfg -db` and waits (at most 30 s) until its frontend accepts connections.
    pub fn start(opts: &HaproxyOptions) -> Result<Self, Error> {
        let program = program()?;
        for b in &opts.backends {
            if let Err(e) = net::ensure_loopback(b.icap) {
                return Err(Error::Options(format!("server {}: {e}", b.name)));
            }
        }
        let dir = crate::temp_dir("haproxy-e2e-")?;
        let port = crate::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let cfg = dir.path().join("haproxy.cfg");
        crate::write_file(&cfg, config_text(dir.path(), port, opts)?)?;
        let check = Command::new(&program)
            .arg("-c")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::io(format!("cannot run {} -c", program.display()), e))?;
        if !check.status.success() {
            return Err(Error::Command {
                command: format!(
                    "haproxy -c -f {} (checking the configuration)",
                    cfg.display()
                ),
                status: check.status,
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&check.stdout),
                    String::from_utf8_lossy(&check.stderr)
                ),
            });
        }
        let log = dir.path().join("haproxy.log");
        let (out, err) = crate::output_file(&log)?;
        let mut cmd = Command::new(&program);
        cmd.arg("-f").arg(&cfg).arg("-db");
        cmd.current_dir(dir.path());
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let mut child = ChildGuard::spawn(cmd, "haproxy", Duration::from_secs(2))?;
        if let Err(e) = net::wait_for_port(addr, Duration::from_secs(30), || child.check_running())
        {
            child.stop(Duration::ZERO);
            return Err(Error::NotReady {
                component: "haproxy".into(),
                source: Box::new(e),
                logs: format!("--- haproxy.log ---\n{}", tail_of_file(&log, 6000)),
            });
        }
        Ok(Self { child, addr, dir })
    }

    /// The frontend address (where Squid sends ICAP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The frontend port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The temporary directory holding haproxy.cfg, the log and the admin socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration HAProxy runs with.
    pub fn config(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.cfg")).unwrap_or_default()
    }

    /// HAProxy's log so far (at most its last MiB).
    pub fn log(&self) -> String {
        tail_of_file(&self.dir.path().join("haproxy.log"), 1 << 20)
    }

    /// Connections HAProxy had to retry on another server (`option redispatch`) because the
    /// one it chose refused them, e.g. an instance that stopped listening before its health
    /// check failed: the `tcplog` lines whose retry count carries a `+`.
    pub fn redispatched(&self) -> usize {
        count_redispatched(&self.log())
    }

    /// Sends one command to the admin socket and returns the whole answer.
    pub fn command(&self, command: &str) -> Result<String, Error> {
        let path = self.dir.path().join("stats.sock");
        let mut sock = UnixStream::connect(&path)
            .map_err(|e| Error::io(format!("cannot connect to {}", path.display()), e))?;
        let timeout = Some(Duration::from_secs(5));
        let sending = || format!("sending {command:?} to {}", path.display());
        sock.set_read_timeout(timeout)
            .map_err(|e| Error::io(sending(), e))?;
        sock.set_write_timeout(timeout)
            .map_err(|e| Error::io(sending(), e))?;
        sock.write_all(format!("{command}\n").as_bytes())
            .map_err(|e| Error::io(sending(), e))?;
        let mut answer = Vec::new();
        // HAProxy closes the socket after one command (non-interactive mode); the read is
        // bounded by the timeout and the size.
        sock.take(16 << 20)
            .read_to_end(&mut answer)
            .map_err(|e| Error::io(format!("reading the answer to {command:?}"), e))?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }

    /// The servers of the backend, from `show stat`.
    pub fn servers(&self) -> Result<Vec<ServerStat>, Error> {
        Ok(parse_show_stat(&self.command("show stat")?)?)
    }

    /// The server called `name`.
    pub fn server(&self, name: &str) -> Result<ServerStat, Error> {
        self.servers()?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::Protocol(format!("no server {name} in show stat")))
    }

    /// Polls until server `name` is (`up` true) or is not (false) taking new connections;
    /// returns how long that took. Bounded by `timeout`.
    pub fn wait_for_server(
        &self,
        name: &str,
        up: bool,
        timeout: Duration,
    ) -> Result<Duration, Error> {
        let start = Instant::now();
        let mut last = String::from("no answer yet");
        while start.elapsed() < timeout {
            match self.server(name) {
                Ok(s) if s.is_up() == up => return Ok(start.elapsed()),
                Ok(s) => last = s.status,
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(Error::Timeout {
            what: format!("server {name} to be {}", if up { "up" } else { "down" }),
            after: timeout,
            last: format!(
                "last state {last}\n--- haproxy.log ---\n{}",
                tail_of_file(&self.dir.path().join("haproxy.log"), 4000)
            ),
        })
    }

    /// Stops HAProxy (SIGTERM, a short grace, then SIGKILL).
    pub fn stop(&mut self) {
        self.child.stop(Duration::from_secs(2));
    }
}

/// Parses `show stat` CSV: the servers of [`BACKEND`] (not its FRONTEND/BACKEND summary rows).
pub fn parse_show_stat(csv: &str) -> Result<Vec<ServerStat>, ParseError> {
    let mut lines = csv.lines();
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or_else(|| ParseError::new(Format::ShowStat, format!("no header in {csv:?}")))?;
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .ok_or_else(|| ParseError::new(Format::ShowStat, format!("no column {name}")))
    };
    let (px, sv, status, stot, scur) = (
        col("pxname")?,
        col("svname")?,
        col("status")?,
        col("stot")?,
        col("scur")?,
    );
    let mut out = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        if get(px) != BACKEND || get(sv) == "BACKEND" || get(sv) == "FRONTEND" {
            continue;
        }
        out.push(ServerStat {
            name: get(sv).to_string(),
            status: get(status).to_string(),
            sessions_total: get(stot).parse().unwrap_or(0),
            sessions_now: get(scur).parse().unwrap_or(0),
        });
    }
    Ok(out)
}

/// Counts the `option tcplog` lines of `log` whose retries field (the last of the five
/// `actconn/feconn/beconn/srv_conn/retries` counters) starts with `+` (redispatched).
pub fn count_redispatched(log: &str) -> usize {
    log.lines()
        .filter(|l| {
            l.split_whitespace().any(|w| {
                let parts: Vec<&str> = w.split('/').collect();
                parts.len() == 5
                    && parts[..4].iter().all(|p| p.parse::<u64>().is_ok())
                    && parts[4].starts_with('+')
            })
        })
        .count()
}

/// The backend's health-check lines for `check` and the ICAP service `service`.
fn check_lines(check: HealthCheck, service: &str) -> Vec<String> {
    match check {
        HealthCheck::IcapOptions => vec![
            "option tcp-check".into(),
            format!(
                r#"tcp-check send "OPTIONS icap://bulwark/{service} ICAP/1.0\r\nHost: bulwark\r\nEncapsulated: null-body=0\r\n\r\n""#
            ),
            r#"tcp-check expect string "ICAP/1.0 200""#.into(),
        ],
        HealthCheck::Readyz => vec![
            "option httpchk GET /readyz".into(),
            "http-check expect status 200".into(),
        ],
    }
}

/// The haproxy.cfg text: a frontend on `127.0.0.1:port`, one backend in mode tcp with the
/// health check of `opts`, the admin socket and the log in `dir`.
///
/// [`Error::Options`] when a server has no metrics port for the `/readyz` check.
pub fn config_text(dir: &Path, port: u16, opts: &HaproxyOptions) -> Result<String, Error> {
    let d = dir.display();
    let mut c = String::new();
    let _ = writeln!(c, "global");
    let _ = writeln!(c, "    log stdout format raw local0 info");
    let _ = writeln!(c, "    stats socket {d}/stats.sock mode 600 level admin");
    let _ = writeln!(c, "    maxconn 4096");
    let _ = writeln!(c, "defaults");
    let _ = writeln!(c, "    mode tcp");
    let _ = writeln!(c, "    log global");
    let _ = writeln!(c, "    option tcplog");
    // One line per connection once it is established (with its retries), not when it ends.
    let _ = writeln!(c, "    option logasap");
    // A refused connection (an instance that stopped listening) goes to another server at
    // once instead of retrying the same one.
    let _ = writeln!(c, "    option redispatch 1");
    let _ = writeln!(c, "    retries 3");
    let _ = writeln!(c, "    timeout connect 2s");
    // Squid keeps its ICAP connections open between transactions.
    let _ = writeln!(c, "    timeout client 10m");
    let _ = writeln!(c, "    timeout server 10m");
    let _ = writeln!(c, "    timeout check 2s");
    let _ = writeln!(c, "frontend icap");
    let _ = writeln!(c, "    bind 127.0.0.1:{port}");
    let _ = writeln!(c, "    default_backend {BACKEND}");
    let _ = writeln!(c, "backend {BACKEND}");
    let _ = writeln!(c, "    balance {}", opts.balance);
    for line in check_lines(opts.check, opts.service.trim_start_matches('/')) {
        let _ = writeln!(c, "    {line}");
    }
    let inter = opts.inter.as_millis().max(10);
    for b in &opts.backends {
        let mut line = format!(
            "    server {} {} check inter {inter}ms fall {} rise {}",
            b.name, b.icap, opts.fall, opts.rise
        );
        if opts.check == HealthCheck::Readyz {
            let m = b.metrics_port.ok_or_else(|| {
                Error::Options(format!(
                    "server {}: the /readyz check needs its metrics port",
                    b.name
                ))
            })?;
            let _ = write!(line, " port {m}");
        }
        let _ = writeln!(c, "{line}");
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends() -> Vec<Backend> {
        ["a", "b"]
            .iter()
            .zip([(1344u16, 9344u16), (1345, 9345)])
            .map(|(n, (icap, m))| Backend {
                name: n.to_string(),
                icap: SocketAddr::from(([127, 0, 0, 1], icap)),
                metrics_port: Some(m),
            })
            .collect()
    }

    #[test]
    fn options_check_is_the_documented_tcp_check() {
        let opts = HaproxyOptions::new(backends(), HealthCheck::IcapOptions);
        let c = config_text(Path::new("/tmp/h"), 3344, &opts).expect("config");
        assert!(c.contains("    option tcp-check\n"));
        assert!(c.contains(
            r#"tcp-check send "OPTIONS icap://bulwark/av/respmod ICAP/1.0\r\nHost: bulwark\r\n"#
        ));
        assert!(c.contains(r#"tcp-check expect string "ICAP/1.0 200""#));
        assert!(c.contains("server a 127.0.0.1:1344 check inter 250ms fall 2 rise 2\n"));
        assert!(c.contains("bind 127.0.0.1:3344\n"));
        assert!(!c.contains("httpchk"));
    }

    #[test]
    fn readyz_check_uses_each_metrics_port() {
        let opts = HaproxyOptions::new(backends(), HealthCheck::Readyz);
        let c = config_text(Path::new("/tmp/h"), 3344, &opts).expect("config");
        assert!(c.contains("option httpchk GET /readyz\n"));
        assert!(c.contains("server b 127.0.0.1:1345 check inter 250ms fall 2 rise 2 port 9345\n"));
        let mut no_port = backends();
        no_port[1].metrics_port = None;
        let opts = HaproxyOptions::new(no_port, HealthCheck::Readyz);
        assert!(config_text(Path::new("/tmp/h"), 3344, &opts).is_err());
    }

    #[test]
    fn show_stat_rows_of_the_backend_servers() {
        let csv = "# pxname,svname,qcur,scur,stot,status\nicap,FRONTEND,,3,10,OPEN\n\
                   bulwark,a,0,2,7,UP\nbulwark,b,0,0,3,DOWN 1/2\nbulwark,BACKEND,0,2,10,UP\n";
        let s = parse_show_stat(csv).expect("parse");
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].name.as_str(), s[0].sessions_now, s[0].sessions_total),
            ("a", 2, 7)
        );
        assert!(s[0].is_up() && !s[1].is_up());
        assert!(parse_show_stat("garbage").is_err());
    }

    #[test]
    fn redispatched_lines_are_counted() {
        let log = "127.0.0.1:4 [07/Dec/2026:03:16:03.559] icap bulwark/a 1/0/+5 +0 -- 3/3/2/1/0 0/0\n\
                   127.0.0.1:5 [07/Dec/2026:03:16:03.600] icap bulwark/b 1/0/+9 +0 -- 3/3/2/1/+1 0/0\n\
                   Server bulwark/a is DOWN, reason: Layer7 wrong status\n";
        assert_eq!(count_redispatched(log), 1);
    }
}
