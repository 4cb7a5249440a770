//! The socket side of one ICAP connection: the stream, the read buffer and the decoder; the
//! read and idle timeouts; reading a body to its end; a close by TCP reset.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bulwark_icap::{Limits, RequestDecoder, RequestEvent};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::context::Context;

/// What the connection does after a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close the connection.
    Close,
    /// Close the connection with a TCP reset (a late verdict on an object without a length).
    Reset,
}

/// A stream an ICAP connection runs on.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Unpin {
    /// Makes the connection end with a TCP reset (RST) instead of a FIN when it is dropped.
    fn reset_on_drop(&self) -> std::io::Result<()>;
}

impl Transport for TcpStream {
    fn reset_on_drop(&self) -> std::io::Result<()> {
        self.set_zero_linger()
    }
}

impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    fn reset_on_drop(&self) -> std::io::Result<()> {
        self.get_ref().0.set_zero_linger()
    }
}

/// The read, idle and request-head timeouts of a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// Between bytes of a request in progress.
    pub read: Duration,
    /// Between requests.
    pub idle: Duration,
    /// For a whole request head, from its first byte.
    pub head: Duration,
}

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
    /// The connection was idle the longest when the connection limit was reached: closed to
    /// make room for a new one.
    #[error("idle connection closed to make room for a new one")]
    Evicted,
    /// A socket error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not valid ICAP.
    #[error("{0}")]
    Decode(#[from] bulwark_icap::Error),
    /// The answer logic met an event it cannot take (a bug): the transaction is abandoned.
    #[error("{0}")]
    Flow(#[from] crate::flow::FlowError),
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
    head_timeout: Duration,
    /// When the current request's head must be complete (set at its first byte).
    head_deadline: Option<tokio::time::Instant>,
    shutdown: watch::Receiver<bool>,
    ctx: Arc<Context>,
    /// The peer's address.
    pub(crate) peer: SocketAddr,
    /// True once any byte of the current transaction's answer was written.
    pub(crate) answered: bool,
}

impl<S: Transport> Conn<S> {
    pub(crate) fn new(
        stream: S,
        peer: SocketAddr,
        limits: Limits,
        timeouts: Timeouts,
        shutdown: watch::Receiver<bool>,
        ctx: Arc<Context>,
    ) -> Self {
        Self {
            stream,
            buf: BytesMut::with_capacity(IDLE_BUFFER),
            decoder: RequestDecoder::new(limits),
            out: BytesMut::new(),
            read_timeout: timeouts.read,
            idle_timeout: timeouts.idle,
            head_timeout: timeouts.head,
            head_deadline: None,
            shutdown,
            ctx,
            peer,
            answered: false,
        }
    }

    /// The next decoded event, reading from the socket as needed.
    pub(crate) async fn next_event(&mut self) -> Result<RequestEvent, ConnError> {
        loop {
            if let Some(ev) = self.decoder.decode(&mut self.buf)? {
                match ev {
                    RequestEvent::Head(_) => self.head_deadline = None,
                    // The request is in: while its answer is written (for as long as a slow
                    // reader takes), the connection keeps an idle-sized read buffer, not the
                    // one a streaming body grew.
                    RequestEvent::End { .. } => self.shrink_read_buffer(),
                    _ => {}
                }
                return Ok(ev);
            }
            let idle = self.decoder.is_idle() && self.buf.is_empty();
            if !idle && self.decoder.is_idle() && self.head_deadline.is_none() {
                // The first bytes of a request head: the whole head has a deadline.
                self.head_deadline = Some(tokio::time::Instant::now() + self.head_timeout);
            }
            if self.buf.capacity() - self.buf.len() < 1024 {
                self.buf
                    .reserve(if idle { IDLE_BUFFER } else { READ_BUFFER });
            }
            let (mut limit, mut what) = if idle {
                (self.idle_timeout, "the next request")
            } else {
                (self.read_timeout, "the rest of the request")
            };
            if let Some(d) = self.head_deadline {
                let left = d.saturating_duration_since(tokio::time::Instant::now());
                if left <= limit {
                    (limit, what) = (left, "the request head");
                }
            }
            let n = if idle {
                let mut shutdown = self.shutdown.clone();
                if *shutdown.borrow() {
                    return Err(ConnError::Shutdown);
                }
                let ctx = self.ctx.clone();
                let waiting = ctx.idle.enter(self.peer.ip());
                tokio::select! {
                    r = tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf)) => r,
                    _ = shutdown.changed() => return Err(ConnError::Shutdown),
                    _ = waiting.evicted() => return Err(ConnError::Evicted),
                }
            } else {
                tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf)).await
            };
            match n {
                Err(_) if what == "the request head" => {
                    return Err(ConnError::Timeout(self.head_timeout, what))
                }
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

    /// Ends the connection with a TCP reset: nothing more is written, and the caller drops the
    /// connection without a clean close.
    pub(crate) fn reset(&mut self) -> std::io::Result<()> {
        self.out.clear();
        self.stream.reset_on_drop()
    }

    /// Called between transactions: gives back a large read buffer so idle connections stay
    /// small.
    pub(crate) fn settle(&mut self) {
        self.answered = false;
        self.shrink_read_buffer();
        if self.out.capacity() > 4 * IDLE_BUFFER {
            self.out = BytesMut::new();
        }
    }

    /// Replaces a large, empty read buffer with an idle-sized one.
    fn shrink_read_buffer(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 4 * IDLE_BUFFER {
            self.buf = BytesMut::with_capacity(IDLE_BUFFER);
        }
    }

    /// Shuts the write side down (a clean close after the last answer).
    pub(crate) async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.shutdown()).await;
    }
}

/// Reads and discards a body up to its end (OPTIONS bodies, bodies after an early answer); a
/// body still in its preview is abandoned at the preview's end.
pub(crate) async fn skip_body<S: Transport>(conn: &mut Conn<S>) -> Result<(), ConnError> {
    loop {
        match conn.next_event().await? {
            RequestEvent::End { .. } => return Ok(()),
            RequestEvent::PreviewEnd => {
                // We answer without wanting the rest.
                conn.decoder.abandon_body();
                return Ok(());
            }
            RequestEvent::Body(_) => {}
            RequestEvent::Head(_) => return Err(framing_lost()),
        }
    }
}

/// The error for a request head met inside a body.
pub(crate) fn framing_lost() -> ConnError {
    ConnError::Decode(bulwark_icap::Error::new(
        bulwark_icap::ErrorKind::BadRequest,
        "a new request head inside a body",
    ))
}
