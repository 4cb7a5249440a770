//! Starts the scanning API in process on a loopback port from the OS, over a one-signature
//! EICAR database, and a minimal HTTP/1.1 client.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use bulwark_config::Config;
use bulwark_server::{Context, LogFile, Snapshot};

/// The token of the tests.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A running API; stopped with its runtime on drop.
pub struct Bulwark {
    pub addr: SocketAddr,
    pub ctx: Arc<Context>,
    stop: tokio::sync::watch::Sender<bool>,
    _rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
}

impl Bulwark {
    /// Starts with `edit` applied to the configuration.
    pub fn start(edit: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("test.ndb");
        let hex: String = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(&db, format!("Api.Test.EICAR:0:*:{hex}\n")).expect("db");
        let mut cfg = Config::default();
        cfg.engine.database = vec![db];
        cfg.api.listen = vec!["127.0.0.1:0".parse().expect("addr")];
        cfg.api.token = Some(TOKEN.into());
        cfg.server.temp_path = dir.path().to_path_buf();
        edit(&mut cfg);
        let database = bulwark_server::control::load_database(&cfg.engine).expect("database");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let snapshot = Snapshot::new(Arc::new(cfg.clone()), Arc::new(database)).expect("snap");
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (ctx, addr) = rt.block_on(async {
            let ctx = Context::new(
                snapshot,
                LogFile::open(None, true).expect("log"),
                None,
                bulwark_notify::Notifier::disabled(),
            );
            let l = bulwark_api::bind(&cfg.api).await.expect("bind");
            let addr = l[0].local_addr().expect("addr");
            tokio::spawn(bulwark_api::serve(l, ctx.clone(), stop_rx));
            (ctx, addr)
        });
        Self {
            addr,
            ctx,
            stop,
            _rt: rt,
            dir,
        }
    }
}

impl Drop for Bulwark {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// An answer: status, head (lower-cased), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Reads an answer (the connection is `close`d by the request).
pub fn read_answer(s: &mut TcpStream) -> Answer {
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// Sends a request's head with `Connection: close` (and the token, if any).
pub fn send_head(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    len: usize,
) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{auth}Content-Length: {len}\r\n\r\n"
    )
    .expect("send");
    s
}

/// One whole request.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> Answer {
    let mut s = send_head(addr, method, path, token, body.len());
    s.write_all(body).expect("body");
    read_answer(&mut s)
}

/// A scan of `body` with the right token.
pub fn scan(addr: SocketAddr, body: &[u8]) -> Answer {
    request(addr, "POST", "/v1/scan", Some(TOKEN), body)
}

/// A zip archive holding `members`.
pub fn zip(members: &[(&str, &[u8])], mib_zeros: usize) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).expect("zip member");
        w.write_all(data).expect("zip write");
    }
    if mib_zeros > 0 {
        w.start_file("zeros.bin", opts).expect("zip member");
        let block = vec![0u8; 1024 * 1024];
        for _ in 0..mib_zeros {
            w.write_all(&block).expect("zip write");
        }
    }
    w.finish().expect("zip finish").into_inner()
}
