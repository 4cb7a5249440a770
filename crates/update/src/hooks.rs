//! After an install: the running server's reload (control socket or a callback) and the
//! optional PostUpdateCmd.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{CommandLineError, PostUpdateError, ReloadError};

/// Why the server refused a reload: its own error, whatever its type (this crate does not know
/// the server's).
pub type ReloadFailure = Box<dyn std::error::Error + Send + Sync>;

/// A reload function supplied by the server itself (`Err` carries why it was refused).
pub type ReloadFn = Arc<dyn Fn() -> Result<(), ReloadFailure> + Send + Sync>;

/// How the running server is told to load the new database.
#[derive(Clone, Default)]
pub enum ReloadHook {
    /// Nobody is told.
    #[default]
    None,
    /// Send `reload-db` to the control socket at this path (no server listening is not an
    /// error: nothing is running that needs the new database).
    ControlSocket(PathBuf),
    /// Call this function (the server's own reload, when the schedule runs inside `serve`).
    Callback(ReloadFn),
}

impl std::fmt::Debug for ReloadHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadHook::None => f.write_str("None"),
            ReloadHook::ControlSocket(p) => write!(f, "ControlSocket({})", p.display()),
            ReloadHook::Callback(_) => f.write_str("Callback"),
        }
    }
}

/// What the reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The server loaded the new database.
    Done,
    /// No hook, or no server listening on the socket.
    NotRunning,
    /// The server refused or failed (the reason).
    Failed(String),
}

/// How long a reload may take (compiling a large database takes a while).
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(600);

impl ReloadHook {
    /// Runs the hook.
    pub fn run(&self) -> Reloaded {
        match self {
            ReloadHook::None => Reloaded::NotRunning,
            ReloadHook::Callback(f) => match f() {
                Ok(()) => Reloaded::Done,
                Err(e) => Reloaded::Failed(e.to_string()),
            },
            ReloadHook::ControlSocket(p) => match reload_via_socket(p, RELOAD_TIMEOUT) {
                Ok(true) => Reloaded::Done,
                Ok(false) => Reloaded::NotRunning,
                Err(e) => Reloaded::Failed(e.to_string()),
            },
        }
    }
}

/// Sends `reload-db` to the control socket and reads the first line of the answer (`OK` or
/// `ERROR …`). `Ok(false)`: no server is listening there.
pub fn reload_via_socket(path: &std::path::Path, timeout: Duration) -> Result<bool, ReloadError> {
    let mut s = match UnixStream::connect(path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(false)
        }
        Err(source) => {
            return Err(ReloadError::Io {
                path: path.into(),
                source,
            })
        }
    };
    let err = |source| ReloadError::Io {
        path: path.into(),
        source,
    };
    s.set_read_timeout(Some(timeout)).map_err(err)?;
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(err)?;
    s.write_all(b"reload-db\n").map_err(err)?;
    let mut line = String::new();
    BufReader::new(&s).take_line(&mut line, 4096).map_err(err)?;
    let line = line.trim_end();
    if line == "OK" || line.starts_with("OK ") {
        Ok(true)
    } else if line.is_empty() {
        Err(ReloadError::NoAnswer)
    } else {
        Err(ReloadError::Refused(line.to_string()))
    }
}

trait TakeLine {
    fn take_line(&mut self, out: &mut String, limit: u64) -> std::io::Result<usize>;
}

impl<R: BufRead> TakeLine for R {
    fn take_line(&mut self, out: &mut String, limit: u64) -> std::io::Result<usize> {
        use std::io::Read;
        let mut buf = Vec::new();
        let n = self.by_ref().take(limit).read_until(b'\n', &mut buf)?;
        out.push_str(&String::from_utf8_lossy(&buf));
        Ok(n)
    }
}

/// Splits a command line into arguments: spaces separate, single and double quotes group,
/// a backslash escapes the next character outside single quotes. No variables, globs or
/// other shell syntax.
pub fn split_args(cmd: &str) -> Result<Vec<String>, CommandLineError> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut quote: Option<char> = None;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => match chars.next() {
                Some(n) => cur.push(n),
                None => return Err(CommandLineError::TrailingBackslash),
            },
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_arg = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_arg {
                    args.push(std::mem::take(&mut cur));
                    in_arg = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_arg = true;
            }
        }
        if quote.is_some() || !cur.is_empty() {
            in_arg = true;
        }
    }
    if quote.is_some() {
        return Err(CommandLineError::UnterminatedQuote);
    }
    if in_arg {
        args.push(cur);
    }
    if args.is_empty() {
        return Err(CommandLineError::Empty);
    }
    Ok(args)
}

/// Runs PostUpdateCmd (split by [`split_args`], no shell); `Err` when it cannot start or
/// exits unsuccessfully.
pub fn run_post_update(cmd: &str) -> Result<(), PostUpdateError> {
    let args = split_args(cmd)?;
    let (prog, rest) = args.split_first().ok_or(CommandLineError::Empty)?;
    let out = Command::new(prog)
        .args(rest)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| PostUpdateError::Start {
            program: prog.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: String = stderr
            .chars()
            .rev()
            .take(400)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(PostUpdateError::Failed {
            program: prog.clone(),
            status: out.status,
            stderr: tail.trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_without_a_shell() {
        assert_eq!(
            split_args(r#"/bin/echo "a b" 'c $HOME' d\ e ;rm"#).unwrap(),
            vec!["/bin/echo", "a b", "c $HOME", "d e", ";rm"]
        );
        assert_eq!(split_args("x ''").unwrap(), vec!["x", ""]);
        assert_eq!(split_args("  "), Err(CommandLineError::Empty));
        assert_eq!(split_args("x 'y"), Err(CommandLineError::UnterminatedQuote));
        assert_eq!(split_args("x \\"), Err(CommandLineError::TrailingBackslash));
    }

    #[test]
    fn post_update_exit_status_counts() {
        assert!(run_post_update("true").is_ok());
        let e = run_post_update("false").unwrap_err();
        assert!(matches!(e, PostUpdateError::Failed { .. }), "{e}");
        assert!(e.to_string().starts_with("false: exit status: 1"), "{e}");
        let e = run_post_update("/nonexistent/cmd").unwrap_err();
        assert!(matches!(e, PostUpdateError::Start { .. }), "{e}");
        assert!(matches!(
            run_post_update("'"),
            Err(PostUpdateError::CommandLine(
                CommandLineError::UnterminatedQuote
            ))
        ));
    }

    #[test]
    fn no_server_on_the_socket_is_not_an_error() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("none.sock");
        assert!(matches!(
            reload_via_socket(&p, Duration::from_secs(1)),
            Ok(false)
        ));
    }
}
