//! Connections: plain HTTP/1.1 or HTTPS (with the acceptor the binary builds), each served by
//! hyper with the client's address attached for the handlers (rate limits, logs).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

/// Accepts connections until `stop`; each is served on its own task.
pub(crate) async fn serve_listener(
    listener: TcpListener,
    app: Router,
    acceptor: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    warn!("console: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let app = app.clone();
        let acceptor = acceptor.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(tcp, peer, app, stop).await,
                Some(a) => {
                    match tokio::time::timeout(Duration::from_secs(10), a.accept(tcp)).await {
                        Ok(Ok(tls)) => serve_connection(tls, peer, app, stop).await,
                        Ok(Err(e)) => debug!(%peer, "console: TLS handshake failed: {e}"),
                        Err(_) => debug!(%peer, "console: TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Serves one connection until it ends or `stop` (then gracefully, for up to 5 s).
async fn serve_connection<I>(io: I, peer: SocketAddr, app: Router, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move { tower_service::Service::call(&mut app, req).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                debug!(%peer, "console connection: {e}");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}
