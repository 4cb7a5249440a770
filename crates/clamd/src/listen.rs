//! Binding `[clamd] listen` (Unix socket paths and TCP addresses) and accepting connections,
//! at most `max_connections` served at once (the rest wait in the listen queue).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bulwark_config::ClamdConfig;
use bulwark_server::Context;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Semaphore};
use tracing::{info, warn};

use crate::conn::Conn;
use crate::hooks::Hooks;
use crate::sock::Sock;

/// Why the clamd listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClamdError {
    /// A `listen` entry is neither an absolute path nor `addr:port`.
    #[error("clamd.listen: {0:?} is neither a Unix socket path (starting with /) nor addr:port")]
    BadAddress(String),
    /// Binding failed.
    #[error("clamd.listen: cannot listen on {what}: {source}")]
    Bind {
        /// The entry.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// Another process answers on that Unix socket.
    #[error("clamd.listen: {0} is in use by another process")]
    InUse(String),
}

/// One `listen` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl Endpoint {
    /// Parses a `listen` entry.
    pub fn parse(s: &str) -> Result<Self, ClamdError> {
        if s.starts_with('/') {
            return Ok(Endpoint::Unix(PathBuf::from(s)));
        }
        s.parse()
            .map(Endpoint::Tcp)
            .map_err(|_| ClamdError::BadAddress(s.to_string()))
    }
}

/// The bound clamd sockets.
#[derive(Debug, Default)]
pub struct ClamdListeners {
    /// Each with its `listen` entry as written (the key of `listener_groups`).
    tcp: Vec<(TcpListener, String)>,
    unix: Vec<(UnixListener, PathBuf, String)>,
}

impl ClamdListeners {
    /// True when nothing is configured.
    pub fn is_empty(&self) -> bool {
        self.tcp.is_empty() && self.unix.is_empty()
    }

    /// What is listened on, for the log (`unix:/path`, `tcp:addr`).
    pub fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .unix
            .iter()
            .map(|(_, p, _)| format!("unix:{}", p.display()))
            .collect();
        v.extend(
            self.tcp
                .iter()
                .filter_map(|(l, _)| l.local_addr().ok())
                .map(|a| format!("tcp:{a}")),
        );
        v
    }

    /// The bound TCP addresses (port 0 resolved).
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }
}

/// Binds every `listen` entry. A stale Unix socket file (nobody answers) is replaced; one
/// in use is an error.
pub async fn bind(cfg: &ClamdConfig) -> Result<ClamdListeners, ClamdError> {
    let mut out = ClamdListeners::default();
    for entry in &cfg.listen {
        let bind_err = |source| ClamdError::Bind {
            what: entry.clone(),
            source,
        };
        match Endpoint::parse(entry)? {
            Endpoint::Tcp(a) => out
                .tcp
                .push((TcpListener::bind(a).await.map_err(bind_err)?, entry.clone())),
            Endpoint::Unix(p) => {
                if p.exists() {
                    if std::os::unix::net::UnixStream::connect(&p).is_ok() {
                        return Err(ClamdError::InUse(p.display().to_string()));
                    }
                    std::fs::remove_file(&p).map_err(bind_err)?;
                }
                if let Some(d) = p.parent() {
                    std::fs::create_dir_all(d).map_err(bind_err)?;
                }
                out.unix
                    .push((UnixListener::bind(&p).map_err(bind_err)?, p, entry.clone()));
            }
        }
    }
    Ok(out)
}

/// Accepts on every socket until `stop` is set; removes the Unix socket files at the end.
pub async fn serve(
    listeners: ClamdListeners,
    ctx: Arc<Context>,
    hooks: Hooks,
    mut stop: watch::Receiver<bool>,
) {
    let snap = ctx.snapshot.load_full();
    let cfg = &snap.config.clamd;
    let per_listener = cfg.listener_group_pairs().flatten().map(|(_, g)| g);
    for group in std::iter::once(cfg.group.as_str()).chain(per_listener) {
        if !group.is_empty() && !snap.policy.groups().iter().any(|g| g.name() == group) {
            warn!(group = %group, "a clamd group names no policy group: the default group applies");
        }
    }
    let max = snap.config.clamd.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max));
    let mut tasks = tokio::task::JoinSet::new();
    let mut paths = Vec::new();
    for (l, entry) in listeners.tcp {
        let (ctx, hooks, permits) = (ctx.clone(), hooks.clone(), permits.clone());
        let entry: Arc<str> = entry.into();
        tasks.spawn(async move {
            accept_loop(ctx, hooks, permits, entry, || async {
                l.accept()
                    .await
                    .map(|(s, peer)| (Sock::Tcp(s), Some(peer.ip().to_string())))
            })
            .await
        });
    }
    for (l, p, entry) in listeners.unix {
        paths.push(p);
        let (ctx, hooks, permits) = (ctx.clone(), hooks.clone(), permits.clone());
        let entry: Arc<str> = entry.into();
        tasks.spawn(async move {
            accept_loop(ctx, hooks, permits, entry, || async {
                l.accept().await.map(|(s, _)| (Sock::Unix(s), None))
            })
            .await
        });
    }
    loop {
        tokio::select! {
            r = stop.changed() => if r.is_err() || *stop.borrow() { break },
            r = tasks.join_next() => if r.is_none() { break },
        }
    }
    tasks.abort_all();
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
    info!("clamd listener stopped");
}

async fn accept_loop<F, Fut>(
    ctx: Arc<Context>,
    hooks: Hooks,
    permits: Arc<Semaphore>,
    listener: Arc<str>,
    accept: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<(Sock, Option<String>)>>,
{
    loop {
        // A permit first: beyond max_connections, clients wait in the listen queue.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (sock, client) = match accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("clamd: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (ctx, hooks, listener) = (ctx.clone(), hooks.clone(), listener.clone());
        tokio::spawn(async move {
            ctx.stats.connection_opened();
            Conn::new(sock, ctx.clone(), hooks, &listener, client)
                .run()
                .await;
            ctx.stats.connection_closed();
            drop(permit);
        });
    }
}
