//! Listening sockets (plain and TLS), the access list, the connection limit, and graceful
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bulwark_config::{Config, TlsConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::context::Context;
use crate::perclient::PerClient;
use crate::tls::{self, TlsError};
use crate::{answer, connection};

/// How long a new connection waits for an evicted idle one to give up its place.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

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
    /// The TLS listener could not be set up.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
}

/// The TLS acceptor in use; [`TlsHandle::reload`] swaps in new certificates without touching
/// established connections.
#[derive(Clone)]
pub struct TlsHandle(Arc<ArcSwap<TlsAcceptor>>);

impl std::fmt::Debug for TlsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsHandle")
    }
}

impl TlsHandle {
    /// Rebuilds the acceptor from `cfg`; on error the old one stays.
    pub fn reload(&self, cfg: &TlsConfig) -> Result<(), TlsError> {
        let acceptor = tls::acceptor(cfg)?;
        self.0.store(Arc::new(acceptor));
        Ok(())
    }
}

/// Bound listening sockets, ready to serve.
pub struct Listeners {
    plain: Vec<TcpListener>,
    tls: Vec<TcpListener>,
    acceptor: Option<TlsHandle>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("plain", &self.plain)
            .field("tls", &self.tls)
            .finish()
    }
}

impl Listeners {
    /// The plain addresses actually bound (with the ports chosen when 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.plain
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The TLS addresses actually bound.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.tls
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The handle to reload TLS certificates, when TLS is on.
    pub fn tls_handle(&self) -> Option<TlsHandle> {
        self.acceptor.clone()
    }
}

async fn bind_all(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, ServeError> {
    let mut out = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        out.push(l);
    }
    Ok(out)
}

/// Binds every plain and TLS address of `cfg` and loads the TLS certificates; fails on the
/// first problem, so the server never starts half-configured.
pub async fn bind(cfg: &Config) -> Result<Listeners, ServeError> {
    let acceptor = if cfg.tls.listen.is_empty() {
        None
    } else {
        Some(TlsHandle(Arc::new(ArcSwap::from_pointee(tls::acceptor(
            &cfg.tls,
        )?))))
    };
    Ok(Listeners {
        plain: bind_all(&cfg.server.listen).await?,
        tls: bind_all(&cfg.tls.listen).await?,
        acceptor,
    })
}

/// Serves connections until `shutdown` becomes true, then stops accepting, lets in-flight
/// transactions finish for up to the configured grace period, and returns.
pub async fn serve(
    listeners: Listeners,
    ctx: Arc<Context>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let (max, handshake) = {
        let snap = ctx.snapshot.load();
        (
            snap.config.server.max_connections,
            Duration::from_secs(snap.config.tls.handshake_timeout_secs.max(1)),
        )
    };
    let permits = Arc::new(Semaphore::new(max));
    let per_client = Arc::new(PerClient::default());
    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::channel::<(TcpStream, SocketAddr, bool)>(64);
    let mut acceptors = JoinSet::new();
    let tagged = listeners
        .plain
        .into_iter()
        .map(|l| (l, false))
        .chain(listeners.tls.into_iter().map(|l| (l, true)));
    for (l, is_tls) in tagged {
        let tx = conn_tx.clone();
        acceptors.spawn(async move {
            loop {
                match l.accept().await {
                    Ok((s, peer)) => {
                        if tx.send((s, peer, is_tls)).await.is_err() {
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
    let tls = listeners.acceptor;
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some((stream, peer, is_tls)) = conn_rx.recv() => {
                // The live snapshot, once per connection: its access list, limits and ISTag
                // (a reload changes them for new connections).
                let snap = ctx.snapshot.load_full();
                // The access list applies before a single byte is read.
                if !snap.access.allows(peer.ip()) {
                    ctx.stats.connection_refused("access");
                    warn!(%peer, "client address not in access.allow; connection refused");
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                // One client may not take every connection (read live: a reload changes it).
                // A limit as large as the total leaves it to the total, whose idle eviction
                // makes room.
                let per_limit = {
                    let s = &snap.config.server;
                    let n = s.per_client_limit();
                    if n < s.max_connections {
                        n
                    } else {
                        0
                    }
                };
                // At its limit, the client's own connection idle the longest makes room.
                let slot = match per_client.try_take(peer.ip(), per_limit) {
                    Some(s) => Some(s),
                    None if ctx.idle.evict_oldest_of(peer.ip()) => {
                        let deadline = tokio::time::Instant::now() + EVICTION_WAIT;
                        let mut got = None;
                        while got.is_none() && tokio::time::Instant::now() < deadline {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            got = per_client.try_take(peer.ip(), per_limit);
                        }
                        got
                    }
                    None => None,
                };
                let Some(slot) = slot else {
                    ctx.stats.connection_refused("per_client");
                    warn!(%peer, limit = per_limit, "connection limit of this client address reached, none idle; refusing");
                    let istag = snap.istag.clone();
                    tokio::spawn(refuse(stream, istag));
                    continue;
                };
                let permit = match permits.clone().try_acquire_owned() {
                    Ok(p) => p,
                    // At the limit: the connection idle the longest makes room (it closes
                    // within moments); only when none is idle is the new one refused.
                    Err(_) if ctx.idle.evict_oldest() => {
                        match tokio::time::timeout(EVICTION_WAIT, permits.clone().acquire_owned())
                            .await
                        {
                            Ok(Ok(p)) => p,
                            _ => {
                                ctx.stats.connection_refused("limit");
                                let istag = snap.istag.clone();
                                tokio::spawn(refuse(stream, istag));
                                continue;
                            }
                        }
                    }
                    Err(_) => {
                        ctx.stats.connection_refused("limit");
                        warn!(%peer, max, "connection limit reached, none idle; refusing");
                        let istag = snap.istag.clone();
                        tokio::spawn(refuse(stream, istag));
                        continue;
                    }
                };
                let ctx = ctx.clone();
                let rx = shutdown.clone();
                let acceptor = tls.as_ref().map(|h| h.0.load_full());
                conns.spawn(async move {
                    ctx.stats.connection_opened();
                    match (is_tls, acceptor) {
                        (true, Some(acceptor)) => {
                            match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                                Ok(Ok(tls_stream)) => {
                                    connection::serve(tls_stream, peer, ctx.clone(), rx).await
                                }
                                Ok(Err(e)) => {
                                    ctx.stats.connection_refused("tls");
                                    warn!(%peer, "TLS handshake failed: {e}");
                                }
                                Err(_) => {
                                    ctx.stats.connection_refused("tls");
                                    warn!(%peer, "TLS handshake timed out");
                                }
                            }
                        }
                        _ => connection::serve(stream, peer, ctx.clone(), rx).await,
                    }
                    ctx.stats.connection_closed();
                    drop(permit);
                    drop(slot);
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    acceptors.shutdown().await;
    let grace = Duration::from_secs(ctx.snapshot.load().config.server.shutdown_grace_secs);
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
