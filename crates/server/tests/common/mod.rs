//! Shared helpers for the server's in-process tests: start a server, talk ICAP to it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bulwark_config::Config;
use bulwark_engine::Database;
use bulwark_icap::{Limits, Response, ResponseDecoder, ResponseEvent};
use bulwark_server::Snapshot;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Any byte stream a test client talks over (TCP or TLS).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub struct Server {
    pub addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    pub tls: Option<bulwark_server::TlsHandle>,
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<()>,
    pub ctx: Arc<bulwark_server::Context>,
}

pub async fn start(mut cfg: Config) -> Server {
    cfg.server.listen = vec!["127.0.0.1:0".parse().expect("addr")];
    let snap = Snapshot::new(Arc::new(cfg), Arc::new(Database::builtin())).expect("snapshot");
    let listeners = bulwark_server::bind(&snap.config).await.expect("bind");
    let addr = listeners.local_addrs()[0];
    let tls_addr = listeners.tls_addrs().first().copied();
    let tls = listeners.tls_handle();
    let license = bulwark_server::licensing::Enforcer::open(&snap.config.license).expect("licence");
    let notifier = bulwark_notify::Notifier::spawn(snap.config.notify.clone());
    let ctx =
        bulwark_server::Context::new(snap, bulwark_server::LogFile::disabled(), license, notifier);
    let (stop, rx) = watch::channel(false);
    let shared = ctx.clone();
    let task = tokio::spawn(async move {
        bulwark_server::serve(listeners, ctx, rx)
            .await
            .expect("serve");
    });
    Server {
        addr,
        tls_addr,
        tls,
        stop,
        task,
        ctx: shared,
    }
}

/// A decoded answer: head, body, end marker.
#[derive(Debug)]
pub struct Answer {
    pub head: Response,
    pub body: Vec<u8>,
    pub complete: bool,
}

pub struct Client {
    s: Box<dyn Stream>,
    buf: BytesMut,
    dec: ResponseDecoder,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::over(TcpStream::connect(addr).await.expect("connect"))
    }

    pub fn over(s: impl Stream + 'static) -> Self {
        Self {
            s: Box::new(s),
            buf: BytesMut::new(),
            dec: ResponseDecoder::new(Limits::default()),
        }
    }

    pub async fn send(&mut self, data: &[u8]) {
        // A peer that refused us may have closed already; reading then tells.
        let _ = self.s.write_all(data).await;
    }

    pub async fn event(&mut self) -> Option<ResponseEvent> {
        loop {
            if let Some(ev) = self.dec.decode(&mut self.buf).expect("valid response") {
                return Some(ev);
            }
            let n = tokio::time::timeout(Duration::from_secs(10), self.s.read_buf(&mut self.buf))
                .await
                .expect("answer within 10 s");
            // A reset or TLS alert ends the conversation like a close does.
            match n {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads one whole answer; `complete` is false when the connection closed mid-body.
    pub async fn answer(&mut self) -> Answer {
        let head = match self.event().await {
            Some(ResponseEvent::Head(h)) => *h,
            other => panic!("expected a head, got {other:?}"),
        };
        let mut body = Vec::new();
        loop {
            match self.event().await {
                Some(ResponseEvent::Body(b)) => body.extend_from_slice(&b),
                Some(ResponseEvent::End { .. }) => {
                    return Answer {
                        head,
                        body,
                        complete: true,
                    };
                }
                Some(ResponseEvent::Head(_)) => panic!("head inside a body"),
                None => {
                    return Answer {
                        head,
                        body,
                        complete: false,
                    }
                }
            }
        }
    }

    /// True when the server closed the connection (EOF with nothing more).
    pub async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.s.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}
