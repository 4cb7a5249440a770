//! The errors of the harness: [`Error`] for launchers and clients, [`ParseError`] for the
//! parsers of what components send (RFC 5424, CEF, HAProxy's `show stat`, ICAP heads).
//!
//! Every message carries what a person needs at 3 a.m.: the program or file, the Debian
//! package to install, the component's exit status and the tail of its logs.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why a component could not be started, reached or read.
///
/// Tests that skip when the machine lacks something match [`Error::Missing`],
/// [`Error::MissingFile`] and [`Error::Unavailable`]; everything else is a failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A program the tests need is not installed ([`crate::find_program`]).
    #[error(
        "`{program}` not found in PATH or /usr/sbin: install the Debian package `{package}` \
         (apt-get install -y {package}; .ci/run does this)"
    )]
    Missing {
        /// The executable's name, e.g. `squid`.
        program: String,
        /// The Debian package that provides it, e.g. `squid`.
        package: String,
    },
    /// A file a component needs (a module, a packaged configuration) is not installed.
    #[error(
        "{} missing: install the Debian package {package} (apt-get install -y {package})",
        path.display()
    )]
    MissingFile {
        /// The missing file.
        path: PathBuf,
        /// The Debian package that provides it.
        package: String,
    },
    /// Something the tests need cannot be provided on this machine, for the reason given
    /// (e.g. no Debian 13 chroot with Squid 6: see [`crate::squid::trixie_root`]).
    #[error("{0}")]
    Unavailable(String),
    /// The caller asked for something that cannot work (an option missing or contradictory,
    /// a path that does not exist).
    #[error("{0}")]
    Options(String),
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing, e.g. `copying /etc/e2guardian`.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A helper command ran but failed (`htpasswd`, `gzip -dc`, `haproxy -c`, `redis-cli`…).
    #[error("{command} failed ({status}): {output}")]
    Command {
        /// The command, as a person would type it.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// What it printed (its standard error, or both outputs).
        output: String,
    },
    /// A component's process has exited ([`crate::proc::ChildGuard::check_running`]).
    #[error("{name} has exited: {status}")]
    Exited {
        /// The name the process was started under, e.g. `squid`.
        name: String,
        /// Its exit status.
        status: ExitStatus,
    },
    /// A bounded wait ended before the condition held.
    #[error("timed out after {after:?} waiting for {what}: {last}")]
    Timeout {
        /// What was awaited, e.g. `127.0.0.1:3128 to accept`.
        what: String,
        /// The bound.
        after: Duration,
        /// The last thing seen (the last error or answer), for the diagnosis.
        last: String,
    },
    /// A component did not become ready; `logs` is the tail of its logs.
    #[error("{component} did not start: {source}\n{logs}")]
    NotReady {
        /// The component, e.g. `squid` or `e2guardian (icapurl icap://127.0.0.1:1344/x)`.
        component: String,
        /// Why the harness gave up (it exited, a wait timed out…).
        source: Box<Error>,
        /// The tails of its log files, each under a `--- name ---` line.
        logs: String,
    },
    /// A component answered, but not as its protocol or the harness expects.
    #[error("{0}")]
    Protocol(String),
    /// What a component sent does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl Error {
    /// An [`Error::Io`] with `context` (what the harness was doing).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the machine lacks something the tests need ([`Error::Missing`],
    /// [`Error::MissingFile`], [`Error::Unavailable`]), so a test may skip instead of fail.
    pub fn is_missing(&self) -> bool {
        matches!(
            self,
            Self::Missing { .. } | Self::MissingFile { .. } | Self::Unavailable(_)
        )
    }
}

/// The formats the harness parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An RFC 5424 syslog message ([`crate::syslog::parse_rfc5424`]).
    Rfc5424,
    /// An ArcSight CEF line ([`crate::syslog::parse_cef`]).
    Cef,
    /// HAProxy's `show stat` CSV ([`crate::haproxy::parse_show_stat`]).
    ShowStat,
    /// The head of an ICAP response ([`crate::icap`]).
    IcapHead,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rfc5424 => "RFC 5424",
            Self::Cef => "CEF",
            Self::ShowStat => "show stat",
            Self::IcapHead => "ICAP head",
        })
    }
}

/// Why a message or a table does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{format}: {reason}")]
pub struct ParseError {
    /// What was being parsed.
    pub format: Format,
    /// What is wrong, e.g. `unescaped ] in PARAM-VALUE`.
    pub reason: String,
}

impl ParseError {
    /// A [`ParseError`] of `format`.
    pub fn new(format: Format, reason: impl Into<String>) -> Self {
        Self {
            format,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_the_hints() {
        let e = Error::Missing {
            program: "squid".into(),
            package: "squid".into(),
        };
        let text = e.to_string();
        assert!(text.contains("apt-get install -y squid"), "{text}");
        assert!(e.is_missing());
        let e = Error::io(
            "copying /etc/e2guardian",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(
            e.to_string().starts_with("copying /etc/e2guardian: "),
            "{e}"
        );
        assert!(!e.is_missing());
        let p = ParseError::new(Format::ShowStat, "no column stot");
        assert_eq!(Error::from(p).to_string(), "show stat: no column stot");
    }
}
