//! Debian's `redis-server` on a free loopback port, in a temporary directory, never persisted
//! (`--save '' --appendonly no`), optionally with a password (`requirepass`) and TLS; killed on
//! drop. Tests skip (with a message) when the package is not installed: see [`Redis::find`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::proc::ChildGuard;
use crate::{net, Error};

/// How a [`Redis`] is started.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// `requirepass`: clients must AUTH with it.
    pub password: Option<String>,
    /// Serve TLS only, with these PEM files.
    pub tls: Option<RedisTls>,
}

/// The PEM files of a TLS-only [`Redis`].
#[derive(Debug, Clone)]
pub struct RedisTls {
    /// The server's certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA that signed it (what `redis-cli --cacert` trusts).
    pub ca: PathBuf,
}

/// A running `redis-server`.
#[derive(Debug)]
pub struct Redis {
    bin: PathBuf,
    child: Option<ChildGuard>,
    port: u16,
    dir: tempfile::TempDir,
    opts: RedisOptions,
}

impl Redis {
    /// The `redis-server` binary, or `None` when the `redis-server` package is missing (the
    /// caller prints why it skips).
    pub fn find() -> Option<PathBuf> {
        crate::find_program("redis-server", "redis-server").ok()
    }

    /// Starts `bin` on a free loopback port; returns once it answers PING.
    pub fn start(bin: &Path, opts: RedisOptions) -> Result<Self, Error> {
        let dir = crate::temp_dir("bulwark-redis-")?;
        let port = crate::free_port()?;
        let mut r = Self {
            bin: bin.to_path_buf(),
            child: None,
            port,
            dir,
            opts,
        };
        r.spawn()?;
        Ok(r)
    }

    /// Starts the process and waits until it answers PING.
    fn spawn(&mut self) -> Result<(), Error> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--daemonize")
            .arg("no")
            .arg("--logfile")
            .arg(self.dir.path().join("redis.log"));
        match &self.opts.tls {
            Some(RedisTls { cert, key, .. }) => {
                cmd.arg("--port")
                    .arg("0")
                    .arg("--tls-port")
                    .arg(self.port.to_string())
                    .arg("--tls-cert-file")
                    .arg(cert)
                    .arg("--tls-key-file")
                    .arg(key)
                    .arg("--tls-auth-clients")
                    .arg("no");
            }
            None => {
                cmd.arg("--port").arg(self.port.to_string());
            }
        }
        if let Some(p) = &self.opts.password {
            cmd.arg("--requirepass").arg(p);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = ChildGuard::spawn(cmd, "redis-server", Duration::from_secs(5))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let ready = net::wait_for_port(addr, Duration::from_secs(10), || child.check_running())
            .and_then(|()| self.wait_for_ping(Duration::from_secs(10)));
        if let Err(e) = ready {
            child.stop(Duration::ZERO);
            return Err(Error::NotReady {
                component: "redis-server".into(),
                source: Box::new(e),
                logs: format!("--- redis.log ---\n{}", self.log()),
            });
        }
        self.child = Some(child);
        Ok(())
    }

    /// Polls `redis-cli PING` until it answers `PONG`, bounded by `timeout`.
    fn wait_for_ping(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.cli(&["PING"]) {
                Ok(out) if out.trim() == "PONG" => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(25))
                }
                Ok(out) => {
                    return Err(Error::Protocol(format!(
                        "redis-server: PING answered {out:?}"
                    )))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The port it listens on (the same after [`Redis::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0` (`rediss://` with TLS), without credentials.
    pub fn url(&self) -> String {
        let scheme = if self.opts.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// Runs `redis-cli` against it (with the password, over TLS when it serves TLS, bounded
    /// to 5 s); its standard output.
    pub fn cli(&self, args: &[&str]) -> Result<String, Error> {
        let mut cmd = Command::new("timeout");
        cmd.arg("5")
            .arg("redis-cli")
            .arg("-h")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(self.port.to_string())
            .arg("--no-auth-warning");
        if let Some(t) = &self.opts.tls {
            cmd.arg("--tls").arg("--cacert").arg(&t.ca);
        }
        if let Some(p) = &self.opts.password {
            cmd.arg("-a").arg(p);
        }
        let out = cmd.args(args).stdin(Stdio::null()).output().map_err(|e| {
            Error::io(
                "cannot run timeout 5 redis-cli (apt-get install redis-tools)",
                e,
            )
        })?;
        if !out.status.success() {
            return Err(Error::Command {
                command: format!("redis-cli {args:?}"),
                status: out.status,
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The keys matching `pattern`, sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut k: Vec<String> = self
            .cli(&["--scan", "--pattern", pattern])
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect();
        k.sort();
        k
    }

    /// SIGSTOP: it keeps its socket (connections are accepted by the kernel) but answers
    /// nothing until [`Redis::resume`].
    pub fn pause(&self) {
        if let Some(c) = &self.child {
            c.signal(libc::SIGSTOP);
        }
    }

    /// SIGCONT after [`Redis::pause`].
    pub fn resume(&self) {
        if let Some(c) = &self.child {
            c.signal(libc::SIGCONT);
        }
    }

    /// SIGKILL: gone at once, connections reset.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.stop(Duration::ZERO);
        }
    }

    /// Starts it again on the same port, empty (after [`Redis::kill`]).
    pub fn restart(&mut self) -> Result<(), Error> {
        self.kill();
        self.spawn()
    }

    /// Its log, for failure messages.
    pub fn log(&self) -> String {
        crate::tail_of_file(&self.dir.path().join("redis.log"), 4000)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // A paused server would sit out the whole SIGTERM grace.
        self.resume();
    }
}
