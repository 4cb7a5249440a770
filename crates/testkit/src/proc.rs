//! Child processes that are always stopped: [`ChildGuard`] kills its process group on drop.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::Error;

/// A child process in its own process group, stopped on drop: SIGTERM, a bounded grace period,
/// then SIGKILL to the whole group (so forked workers, e.g. c-icap's, die too).
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    name: String,
    grace: Duration,
    status: Option<ExitStatus>,
}

impl ChildGuard {
    /// Spawns `cmd` in a new process group. `grace` is how long a stop waits after SIGTERM
    /// before SIGKILL (zero: SIGKILL at once).
    pub fn spawn(mut cmd: Command, name: &str, grace: Duration) -> Result<Self, Error> {
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("cannot start {name} ({cmd:?})"), e))?;
        Ok(Self {
            child,
            name: name.to_string(),
            grace,
            status: None,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name given at spawn time (for messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns [`Error::Exited`] (with its status) if the process has already exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        let status = match self.status {
            Some(st) => st,
            None => match self.child.try_wait() {
                Ok(Some(st)) => {
                    self.status = Some(st);
                    st
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(Error::io(format!("{}: cannot poll", self.name), e)),
            },
        };
        Err(Error::Exited {
            name: self.name.clone(),
            status,
        })
    }

    /// Sends `sig` to the process (not to its group).
    pub fn signal(&self, sig: libc::c_int) {
        if self.status.is_none() {
            // SAFETY: kill(2) has no memory-safety preconditions.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, sig);
            }
        }
    }

    /// Stops the process: SIGTERM, wait up to `grace`, then SIGKILL its group. Returns the exit
    /// status (None if it could not be collected).
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.status.is_none() && !grace.is_zero() {
            self.signal(libc::SIGTERM);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                match self.child.try_wait() {
                    Ok(Some(st)) => {
                        self.status = Some(st);
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    Err(_) => break,
                }
            }
        }
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: killpg(2) has no memory-safety preconditions; the group is the one we created.
        #[allow(unsafe_code)]
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
        if self.status.is_none() {
            // After SIGKILL the process exits promptly; poll with a bound anyway.
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(st)) = self.child.try_wait() {
                    self.status = Some(st);
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.status
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let grace = self.grace;
        self.stop(grace);
    }
}
