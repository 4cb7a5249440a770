//! A clamd connection's socket: TCP, or a Unix socket whose reads also collect the file
//! descriptors passed with SCM_RIGHTS (FILDES).

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpStream, UnixStream};

/// Descriptors kept waiting for their FILDES command; more are closed at once.
const MAX_PENDING_FDS: usize = 8;

/// One accepted connection.
#[derive(Debug)]
pub enum Sock {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix-socket connection.
    Unix(UnixStream),
}

impl Sock {
    /// Reads some bytes (0 at the end); passed descriptors go to `fds`.
    pub async fn read(&mut self, buf: &mut [u8], fds: &mut VecDeque<OwnedFd>) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf).await,
            Sock::Unix(s) => loop {
                s.readable().await?;
                let raw = s.as_raw_fd();
                match s.try_io(Interest::READABLE, || recv_with_fds(raw, buf, fds)) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => return other,
                }
            },
        }
    }

    /// Writes all of `data`.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.write_all(data).await,
            Sock::Unix(s) => s.write_all(data).await,
        }
    }

    /// Closes the sending side.
    pub async fn shutdown(&mut self) {
        let _ = match self {
            Sock::Tcp(s) => s.shutdown().await,
            Sock::Unix(s) => s.shutdown().await,
        };
    }
}

/// One `recvmsg` on a non-blocking Unix socket, keeping the descriptors it carries.
fn recv_with_fds(raw: RawFd, buf: &mut [u8], fds: &mut VecDeque<OwnedFd>) -> io::Result<usize> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!([RawFd; MAX_PENDING_FDS]);
    let msg = recvmsg::<()>(
        raw,
        &mut iov,
        Some(space.as_mut_slice()),
        MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let bytes = msg.bytes;
    // A truncated control message: the kernel closed what did not fit; the rest is read.
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(list) = c {
                for fd in list {
                    // SAFETY: `fd` was installed in this process by the kernel for this very
                    // SCM_RIGHTS message (recvmsg just returned it); nothing else knows or owns
                    // it, so taking ownership once here is sound and closes it exactly once.
                    #[allow(unsafe_code)]
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    if fds.len() < MAX_PENDING_FDS {
                        fds.push_back(owned);
                    }
                }
            }
        }
    }
    Ok(bytes)
}
