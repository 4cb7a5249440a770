//! One ICAP connection: owns the socket, the read buffer and the decoder; enforces the read
//! and idle timeouts; turns decoding errors into ICAP error answers.

use std::net::SocketAddr;
use std::time::Duration;

use bulwark_icap::{ErrorKind, Limits, RequestDecoder, RequestEvent};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::context::Context;
use crate::{answer, transaction};
use std::sync::Arc;

/// Read buffer kept by an idle connection; grown while a body streams, shrunk after.
const IDLE_BUFFER: usize = 4 * 1024;
/// Read size while a body streams.
const READ_BUFFER: usize = 64 * 1024;

/// Why a connection stopped reading.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    /// The peer closed between requests.
    #[error("closed by peer")]
    Closed,
    /// The peer closed in the middle of a request.
    #[error("connection closed in the middle of a request")]
    Truncated,
    /// No bytes within the read or idle timeout.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    /// The server is shutting down and the connection was idle.
    #[error("server shutting down")]
    Shutdown,
    /// A socket error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not valid ICAP.
    #[error("{0}")]
    Decode(#[from] bulwark_icap::Error),
}

/// The socket side of one connection.
pub(crate) struct Conn<S> {
    stream: S,
    buf: BytesMut,
    pub(crate) decoder: RequestDecoder,
    /// Bytes to write; `flush` sends them.
    pub(crate) out: BytesMut,
    read_timeout: Duration,
    idle_timeout: Duration,
    shutdown: watch::Receiver<bool>,
    /// The peer's address.
    pub(crate) peer: SocketAddr,
    /// True once any byte of the current transaction's answer was written.
    pub(crate) answered: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(crate) fn new(
        stream: S,
        peer: SocketAddr,
        limits: Limits,
        read_timeout: Duration,
        idle_timeout: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            stream,
            buf: BytesMut::with_capacity(IDLE_BUFFER),
            decoder: RequestDecoder::new(limits),
            out: BytesMut::new(),
            read_timeout,
            idle_timeout,
            shutdown,
            peer,
            answered: false,
        }
    }

    /// The next decoded event, reading from the socket as needed.
    pub(crate) async fn next_event(&mut self) -> Result<RequestEvent, ConnError> {
        loop {
            if let Some(ev) = self.decoder.decode(&mut self.buf)? {
                return Ok(ev);
            }
            let idle = self.decoder.is_idle() && self.buf.is_empty();
            if self.buf.capacity() - self.buf.len() < 1024 {
                self.buf
                    .reserve(if idle { IDLE_BUFFER } else { READ_BUFFER });
            }
            let (limit, what) = if idle {
                (self.idle_timeout, "the next request")
            } else {
                (self.read_timeout, "the rest of the request")
            };
            let n = if idle {
                let mut shutdown = self.shutdown.clone();
                if *shutdown.borrow() {
                    return Err(ConnError::Shutdown);
                }
                tokio::select! {
                    r = tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf)) => r,
                    _ = shutdown.changed() => return Err(ConnError::Shutdown),
                }
            } else {
                tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf)).await
            };
            match n {
                Err(_) => return Err(ConnError::Timeout(limit, what)),
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(0)) if idle => return Err(ConnError::Closed),
                Ok(Ok(0)) => return Err(ConnError::Truncated),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Like [`Conn::next_event`], but gives up at `deadline` with `Ok(None)` (for timed work
    /// such as trickling). Reading is cancel-safe: no byte is lost when the deadline hits.
    pub(crate) async fn next_event_until(
        &mut self,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Option<RequestEvent>, ConnError> {
        match deadline {
            None => self.next_event().await.map(Some),
            Some(d) => match tokio::time::timeout_at(d, self.next_event()).await {
                Ok(r) => r.map(Some),
                Err(_) => Ok(None),
            },
        }
    }

    /// Writes everything in `out`.
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.answered = true;
            let res =
                tokio::time::timeout(self.read_timeout, self.stream.write_all(&self.out)).await;
            self.out.clear();
            match res {
                Ok(r) => r?,
                Err(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "peer stopped reading the answer",
                    ))
                }
            }
        }
        Ok(())
    }

    /// Called between transactions: gives back a large read buffer so idle connections stay
    /// small.
    fn settle(&mut self) {
        self.answered = false;
        if self.buf.is_empty() && self.buf.capacity() > 4 * IDLE_BUFFER {
            self.buf = BytesMut::with_capacity(IDLE_BUFFER);
        }
        if self.out.capacity() > 4 * IDLE_BUFFER {
            self.out = BytesMut::new();
        }
    }

    /// Shuts the write side down (a clean close after the last answer).
    async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.shutdown()).await;
    }
}

/// Serves one connection until the peer closes, an error ends it, or shutdown.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    peer: SocketAddr,
    ctx: Arc<Context>,
    shutdown: watch::Receiver<bool>,
) {
    let snap = ctx.snapshot.load_full();
    let cfg = &snap.config.server;
    let limits = Limits {
        max_header_bytes: cfg.max_header_bytes,
        ..Limits::default()
    };
    let mut conn = Conn::new(
        stream,
        peer,
        limits,
        Duration::from_secs(cfg.read_timeout_secs),
        Duration::from_secs(cfg.idle_timeout_secs),
        shutdown,
    );
    drop(snap);
    debug!(%peer, "connection opened");
    loop {
        let ev = match conn.next_event().await {
            Ok(ev) => ev,
            Err(e) => {
                finish_with_error(&mut conn, &ctx, e).await;
                break;
            }
        };
        let bulwark_icap::RequestEvent::Head(req) = ev else {
            // The decoder yields a head first; anything else means we lost the framing.
            warn!(%peer, "event outside a request; closing");
            break;
        };
        // Every transaction runs on the snapshot current at its start.
        let snap = ctx.snapshot.load_full();
        match transaction::run(&mut conn, &ctx, &snap, *req).await {
            Ok(transaction::Next::KeepAlive) => conn.settle(),
            Ok(transaction::Next::Close) => {
                conn.close().await;
                break;
            }
            Err(e) => {
                finish_with_error(&mut conn, &ctx, e).await;
                break;
            }
        }
    }
    debug!(%peer, "connection closed");
}

/// Answers an error when no answer was started yet, logs it, and closes.
async fn finish_with_error<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    ctx: &Context,
    e: ConnError,
) {
    let peer = conn.peer;
    let reply = match &e {
        ConnError::Closed | ConnError::Shutdown => None,
        ConnError::Truncated | ConnError::Io(_) => {
            info!(%peer, "{e}; transaction abandoned");
            None
        }
        ConnError::Timeout(..) => {
            info!(%peer, "{e}; closing");
            Some((408, "Request Timeout"))
        }
        ConnError::Decode(d) => {
            warn!(%peer, status = d.kind.status(), "bad request: {d}");
            Some(match d.kind {
                ErrorKind::MethodNotImplemented => (501, "Method Not Implemented"),
                ErrorKind::VersionNotSupported => (505, "ICAP Version Not Supported"),
                ErrorKind::HeaderTooLarge | ErrorKind::BadRequest => (400, "Bad Request"),
            })
        }
    };
    if let Some((status, reason)) = reply {
        if !conn.answered {
            let istag = ctx.snapshot.load().istag.clone();
            answer::error(status, reason, &istag, true, &mut conn.out);
            let _ = conn.flush().await;
        }
    }
    conn.close().await;
}
