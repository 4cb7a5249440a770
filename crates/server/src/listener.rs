//! Listening sockets, the connection limit, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::snapshot::Shared;
use crate::{answer, connection};

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause (e.g. address in use, permission denied).
        source: std::io::Error,
    },
}

/// Bound listening sockets, ready to serve.
#[derive(Debug)]
pub struct Listeners {
    listeners: Vec<TcpListener>,
}

impl Listeners {
    /// The addresses actually bound (with the ports chosen when 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }
}

/// Binds every address; fails on the first that cannot be bound.
pub async fn bind(addrs: &[SocketAddr]) -> Result<Listeners, ServeError> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        listeners.push(l);
    }
    Ok(Listeners { listeners })
}

/// Serves connections until `shutdown` becomes true, then stops accepting, lets in-flight
/// transactions finish for up to the configured grace period, and returns.
pub async fn serve(
    listeners: Listeners,
    shared: Shared,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let max = shared.load().config.server.max_connections;
    let permits = Arc::new(Semaphore::new(max));
    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::channel::<(TcpStream, SocketAddr)>(64);
    let mut acceptors = JoinSet::new();
    for l in listeners.listeners {
        let tx = conn_tx.clone();
        acceptors.spawn(async move {
            loop {
                match l.accept().await {
                    Ok(c) => {
                        if tx.send(c).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        // EMFILE and friends: wait a little instead of spinning.
                        warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    drop(conn_tx);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some((stream, peer)) = conn_rx.recv() => {
                let _ = stream.set_nodelay(true);
                match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let shared = shared.clone();
                        let rx = shutdown.clone();
                        conns.spawn(async move {
                            connection::serve(stream, peer, shared, rx).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        warn!(%peer, max, "connection limit reached; refusing");
                        let istag = shared.load().istag.clone();
                        tokio::spawn(refuse(stream, istag));
                    }
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    acceptors.shutdown().await;
    let grace = Duration::from_secs(shared.load().config.server.shutdown_grace_secs);
    info!(
        in_flight = conns.len(),
        ?grace,
        "shutting down: no new connections, draining"
    );
    let drained =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        warn!(
            cut = conns.len(),
            "grace period over; cutting remaining connections"
        );
        conns.shutdown().await;
    }
    info!("stopped");
    Ok(())
}

/// Answers `503` to a connection over the limit and closes it.
async fn refuse(mut stream: TcpStream, istag: String) {
    use tokio::io::AsyncWriteExt;
    let mut out = bytes::BytesMut::new();
    answer::error(503, "Service Unavailable", &istag, true, &mut out);
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(&out)).await;
    let _ = stream.shutdown().await;
}
