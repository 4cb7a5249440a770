//! `bulwark ctl`: talk to a running server through its control socket, or with signals
//! through its pid file.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

/// What to ask the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Action {
    /// Version, uptime, ISTag, database, connections, counts.
    Status,
    /// Reload the configuration and the databases (like SIGHUP).
    Reload,
    /// Reload the databases only (like SIGUSR1).
    ReloadDb,
    /// Write counter.stats and reopen the log files (like SIGUSR2).
    Stats,
    /// Stop gracefully: finish in-flight transactions (like SIGTERM).
    Stop,
}

impl Action {
    fn command(self) -> &'static str {
        match self {
            Action::Status => "status",
            Action::Reload => "reload",
            Action::ReloadDb => "reload-db",
            Action::Stats => "stats",
            Action::Stop => "stop",
        }
    }
}

/// Arguments of `bulwark ctl`.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// What to do.
    pub action: Action,
    /// The server's configuration file (to find its control socket and pid file). Default:
    /// `$BULWARK_CONFIG` when set (empty: none), else /etc/bulwark/bulwark.toml when it exists.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Control socket, overriding the configuration's `control.socket`.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Pid file, used with signals when the control socket cannot be reached.
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
}

/// Runs the command; exit status 0 when the server did it, 1 when it refused, 2 when it could
/// not be reached.
pub fn run(args: CtlArgs) -> anyhow::Result<i32> {
    let path = crate::serve_cmd::config_path(args.config.as_ref());
    let cfg = crate::serve_cmd::load_config(path.as_ref())?.config;
    let socket = args.socket.clone().or(cfg.control.socket.clone());
    let pid_file = args.pid_file.clone().or(cfg.control.pid_file.clone());
    let mut socket_err = None;
    if let Some(path) = &socket {
        match ask(path, args.action.command()) {
            Ok(reply) => {
                let (status, body) = reply.split_once('\n').unwrap_or((reply.as_str(), ""));
                print!("{body}");
                return Ok(if status == "OK" { 0 } else { 1 });
            }
            Err(e) => socket_err = Some(format!("{}: {e}", path.display())),
        }
    }
    let Some(pid_path) = pid_file else {
        anyhow::bail!(
            "cannot reach the server: {}",
            socket_err.unwrap_or_else(|| "no control socket and no pid file configured".into())
        );
    };
    let pid = std::fs::read_to_string(&pid_path).with_context(|| {
        format!(
            "cannot reach the server ({}) nor read {}",
            socket_err.unwrap_or_default(),
            pid_path.display()
        )
    })?;
    let pid: i32 = pid
        .trim()
        .parse()
        .with_context(|| format!("{}: not a process id", pid_path.display()))?;
    signal(pid, args.action)
}

fn ask(path: &PathBuf, command: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    s.write_all(format!("{command}\n").as_bytes())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    Ok(reply)
}

fn signal(pid: i32, action: Action) -> anyhow::Result<i32> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let sig = match action {
        Action::Status => None,
        Action::Reload => Some(Signal::SIGHUP),
        Action::ReloadDb => Some(Signal::SIGUSR1),
        Action::Stats => Some(Signal::SIGUSR2),
        Action::Stop => Some(Signal::SIGTERM),
    };
    match kill(Pid::from_raw(pid), sig) {
        Ok(()) => {
            match sig {
                None => println!("running (pid {pid}); no control socket for details"),
                Some(s) => println!("sent {s} to pid {pid}; see the server's log for the result"),
            }
            Ok(0)
        }
        Err(e) => {
            println!("not running (pid {pid}: {e})");
            Ok(3)
        }
    }
}
