//! Running the NotifyScript: directly (no shell), arguments + environment + JSON on stdin,
//! bounded output capture, killed (with its process group) after the timeout.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::event::Message;
use crate::macros;
use crate::DeliveryError;

/// Bytes of stdout and of stderr kept for the log; the rest is read and discarded.
pub const MAX_OUTPUT_BYTES: usize = 4096;

/// How long output is still collected after the script exited (a background child of the
/// script may hold the pipes open).
const OUTPUT_GRACE: Duration = Duration::from_millis(200);

/// Runs `path` for `msg`; `Ok` only when it exits 0 within `timeout`.
pub async fn run(path: &Path, msg: &Message, timeout: Duration) -> Result<Output, DeliveryError> {
    let mut cmd = Command::new(path);
    cmd.args(macros::args(msg))
        .envs(macros::env(msg))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Own process group, so a timeout kills whatever the script started too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(DeliveryError::Spawn)?;
    let pid = child.id();

    let json = msg.to_json();
    let stdin = child.stdin.take();
    let writer = tokio::spawn(async move {
        if let Some(mut stdin) = stdin {
            // A script that does not read its stdin is fine: ignore EPIPE.
            let _ = stdin.write_all(json.as_bytes()).await;
            let _ = stdin.write_all(b"\n").await;
        }
    });
    let out = child.stdout.take().map(|r| tokio::spawn(read_bounded(r)));
    let err = child.stderr.take().map(|r| tokio::spawn(read_bounded(r)));

    let waited = tokio::time::timeout(timeout, child.wait()).await;
    writer.abort();
    let status = match waited {
        Ok(status) => status.map_err(DeliveryError::Wait)?,
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill().await;
            abort(out);
            abort(err);
            return Err(DeliveryError::Timeout(timeout));
        }
    };
    let output = Output {
        stdout: collect(out).await,
        stderr: collect(err).await,
    };
    if status.success() {
        Ok(output)
    } else {
        Err(DeliveryError::Exit {
            status: status.to_string(),
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }
}

/// What a script printed (each at most [`MAX_OUTPUT_BYTES`], lossy UTF-8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Reads to EOF, keeping the first [`MAX_OUTPUT_BYTES`].
async fn read_bounded<R: AsyncRead + Unpin>(mut r: R) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return kept,
            Ok(n) => {
                let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
}

type Reader = Option<tokio::task::JoinHandle<Vec<u8>>>;

fn abort(task: Reader) {
    if let Some(t) = task {
        t.abort();
    }
}

async fn collect(task: Reader) -> String {
    let Some(mut task) = task else {
        return String::new();
    };
    match tokio::time::timeout(OUTPUT_GRACE, &mut task).await {
        Ok(Ok(bytes)) => String::from_utf8_lossy(&bytes).trim_end().to_string(),
        _ => {
            task.abort();
            String::new()
        }
    }
}
