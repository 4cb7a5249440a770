//! The three ways to the receiver: a Unix datagram socket, UDP, TCP with octet counting.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket, UnixDatagram};

use bulwark_config::syslog::{split_host_port, Transport};
use bulwark_config::SyslogConfig;

/// Largest payload of one UDP datagram over IPv4.
const MAX_DATAGRAM: usize = 65_507;

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    Local(PathBuf),
    Udp(String),
    Tcp(String),
}

impl Destination {
    /// The destination of `cfg`, `None` when it sends nothing.
    pub(crate) fn of(cfg: &SyslogConfig) -> Option<Self> {
        match cfg.transport {
            Transport::Off => None,
            Transport::Local => Some(Destination::Local(cfg.socket.clone())),
            Transport::Udp => Some(Destination::Udp(cfg.address.clone())),
            Transport::Tcp => Some(Destination::Tcp(cfg.address.clone())),
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Local(p) => write!(f, "unix:{}", p.display()),
            Destination::Udp(a) => write!(f, "udp://{a}"),
            Destination::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Why a message did not reach the receiver.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The receiver's address could not be resolved or is malformed.
    #[error("cannot resolve the receiver's address: {0}")]
    Resolve(String),
    /// Connecting or sending failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The receiver did not accept the connection or the bytes in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The message does not fit one datagram.
    #[error("{0} bytes do not fit one datagram")]
    TooLarge(usize),
}

/// An open way to the receiver.
#[derive(Debug)]
pub(crate) enum Conn {
    Local(UnixDatagram),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

async fn within<T>(
    limit: Duration,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> Result<T, SendError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(SendError::Timeout(limit)),
    }
}

async fn resolve(addr: &str, limit: Duration) -> Result<Vec<std::net::SocketAddr>, SendError> {
    let (host, port) = split_host_port(addr).map_err(|e| SendError::Resolve(e.into()))?;
    let found: Vec<_> = within(limit, tokio::net::lookup_host((host, port)))
        .await?
        .collect();
    if found.is_empty() {
        return Err(SendError::Resolve(format!("{host}: no address")));
    }
    Ok(found)
}

/// Opens the way to `dest`, taking at most `limit`.
pub(crate) async fn connect(dest: &Destination, limit: Duration) -> Result<Conn, SendError> {
    match dest {
        Destination::Local(path) => {
            let s = UnixDatagram::unbound()?;
            s.connect(path)?;
            Ok(Conn::Local(s))
        }
        Destination::Udp(addr) => {
            let to = resolve(addr, limit).await?[0];
            let any: std::net::SocketAddr = if to.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let s = UdpSocket::bind(any).await?;
            s.connect(to).await?;
            Ok(Conn::Udp(s))
        }
        Destination::Tcp(addr) => {
            let mut last = None;
            for to in resolve(addr, limit).await? {
                match within(limit, TcpStream::connect(to)).await {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        return Ok(Conn::Tcp(s));
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| SendError::Resolve(addr.clone())))
        }
    }
}

impl Conn {
    /// True for a connection that a failed send should close (UDP keeps its socket: its
    /// errors are about earlier datagrams).
    pub(crate) fn reconnects(&self) -> bool {
        !matches!(self, Conn::Udp(_))
    }

    /// False once the receiver closed a TCP connection (a restarted receiver), so that the
    /// next message is not written into a dead connection and lost.
    pub(crate) fn alive(&self) -> bool {
        match self {
            Conn::Tcp(s) => {
                let mut b = [0u8; 64];
                // Receivers send nothing: 0 is the end of the stream, an error a reset.
                match s.try_read(&mut b) {
                    Ok(0) => false,
                    Ok(_) => true,
                    Err(e) => e.kind() == io::ErrorKind::WouldBlock,
                }
            }
            _ => true,
        }
    }

    /// Sends one message: a datagram, or `LEN SP MSG` on TCP (RFC 6587 octet counting).
    pub(crate) async fn send(&mut self, msg: &[u8], limit: Duration) -> Result<(), SendError> {
        match self {
            Conn::Local(s) => datagram(within(limit, s.send(msg)).await, msg.len()),
            Conn::Udp(s) => {
                if msg.len() > MAX_DATAGRAM {
                    return Err(SendError::TooLarge(msg.len()));
                }
                datagram(within(limit, s.send(msg)).await, msg.len())
            }
            Conn::Tcp(s) => {
                let mut frame = Vec::with_capacity(msg.len() + 8);
                frame.extend_from_slice(msg.len().to_string().as_bytes());
                frame.push(b' ');
                frame.extend_from_slice(msg);
                within(limit, s.write_all(&frame)).await
            }
        }
    }

    /// Closes a TCP connection cleanly (what was written is delivered first).
    pub(crate) async fn close(self, limit: Duration) {
        if let Conn::Tcp(mut s) = self {
            let _ = tokio::time::timeout(limit, s.shutdown()).await;
        }
    }
}

/// A datagram send's result: a message the socket refuses for its size is `TooLarge`.
fn datagram(r: Result<usize, SendError>, len: usize) -> Result<(), SendError> {
    match r {
        Ok(_) => Ok(()),
        Err(SendError::Io(e)) if e.raw_os_error() == Some(libc_emsgsize()) => {
            Err(SendError::TooLarge(len))
        }
        Err(e) => Err(e),
    }
}

/// `EMSGSIZE` on Linux.
fn libc_emsgsize() -> i32 {
    nix::errno::Errno::EMSGSIZE as i32
}
