//! Launches the `bulwark serve` binary on a free loopback port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::proc::ChildGuard;
use crate::{icap, tail_of_file, Error};

/// A running `bulwark serve`; stopped with SIGTERM (then SIGKILL after 10 s) on drop.
#[derive(Debug)]
pub struct Bulwark {
    child: ChildGuard,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Bulwark {
    /// Starts `bin serve --listen 127.0.0.1:<free>` with the embedded default configuration.
    pub fn start(bin: &Path) -> Result<Self, Error> {
        Self::start_with_config(bin, None)
    }

    /// Starts `bin serve --listen 127.0.0.1:<free> [--config <file>]`; `config` is TOML text
    /// written to a temporary file. Returns once OPTIONS on `/av/respmod` answers 200.
    pub fn start_with_config(bin: &Path, config: Option<&str>) -> Result<Self, Error> {
        if !bin.is_file() {
            return Err(Error::Options(format!(
                "bulwark binary {} does not exist",
                bin.display()
            )));
        }
        let dir = crate::temp_dir("bulwark-e2e-")?;
        let port = crate::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = dir.path().join("bulwark.log");
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg("--listen").arg(addr.to_string());
        if let Some(text) = config {
            let path = dir.path().join("bulwark.toml");
            crate::write_file(&path, text)?;
            cmd.arg("--config").arg(&path);
        }
        let (out, err) = crate::output_file(&log)?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        cmd.env("TMPDIR", dir.path());
        // Never the packaged /etc/bulwark/bulwark.toml of the machine running the tests.
        cmd.env("BULWARK_CONFIG", "");
        let mut child = ChildGuard::spawn(cmd, "bulwark", Duration::from_secs(10))?;
        let ready = icap::wait_for_options(addr, "av/respmod", Duration::from_secs(30), || {
            child.check_running()
        });
        if let Err(e) = ready {
            child.stop(Duration::from_secs(2));
            return Err(Error::NotReady {
                component: "bulwark".into(),
                source: Box::new(e),
                logs: format!("--- bulwark log ---\n{}", tail_of_file(&log, 8000)),
            });
        }
        Ok(Self {
            child,
            addr,
            dir,
            log,
        })
    }

    /// The ICAP listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The ICAP port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The process id (for /proc measurements).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The temporary directory of this instance.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server has logged so far (stderr and stdout).
    pub fn log(&self) -> String {
        tail_of_file(&self.log, 1 << 20)
    }

    /// Sends SIGTERM and waits (bounded by `grace`, then SIGKILL) for the process to exit.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.child.stop(grace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_that_exits_is_reported_with_its_status_and_log() {
        let Err(e) = Bulwark::start(Path::new("/bin/false")) else {
            panic!("/bin/false became ready");
        };
        let Error::NotReady { source, logs, .. } = &e else {
            panic!("not NotReady: {e}");
        };
        assert!(matches!(**source, Error::Exited { .. }), "{e}");
        assert!(logs.starts_with("--- bulwark log ---"), "{e}");
        assert!(
            e.to_string()
                .starts_with("bulwark did not start: bulwark has exited: exit status: 1"),
            "{e}"
        );
        let missing = Bulwark::start(Path::new("/nonexistent/bulwark"));
        assert!(matches!(missing, Err(Error::Options(_))));
    }
}
