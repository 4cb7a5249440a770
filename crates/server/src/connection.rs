//! One ICAP connection's life: read a request head, run its transaction, again, until the peer
//! closes, an error or a reset ends it, or the server shuts down; decoding errors become ICAP
//! error answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bulwark_icap::{ErrorKind, Limits};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::conn::{Conn, ConnError, Next, Timeouts, Transport};
use crate::context::Context;
use crate::{answer, transaction};

/// Serves one connection until the peer closes, an error ends it, or shutdown.
pub(crate) async fn serve<S: Transport>(
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
    let timeouts = Timeouts {
        read: Duration::from_secs(cfg.read_timeout_secs),
        idle: Duration::from_secs(cfg.idle_timeout_secs),
        head: Duration::from_secs(cfg.head_timeout_secs),
    };
    let mut conn = Conn::new(stream, peer, limits, timeouts, shutdown, ctx.clone());
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
            Ok(Next::KeepAlive) => conn.settle(),
            Ok(Next::Close) => {
                conn.close().await;
                break;
            }
            Ok(Next::Reset) => {
                // Dropped without a clean close: the peer reads a reset.
                if let Err(e) = conn.reset() {
                    warn!(%peer, "cannot reset the connection: {e}");
                }
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
async fn finish_with_error<S: Transport>(conn: &mut Conn<S>, ctx: &Context, e: ConnError) {
    let peer = conn.peer;
    let reply = match &e {
        ConnError::Closed | ConnError::Shutdown => None,
        ConnError::Evicted => {
            debug!(%peer, "{e}");
            None
        }
        ConnError::Truncated | ConnError::Io(_) => {
            info!(%peer, "{e}; transaction abandoned");
            None
        }
        ConnError::Flow(f) => {
            warn!(%peer, "internal error: {f}");
            Some((500, "Server Error"))
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
