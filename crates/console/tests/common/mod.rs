//! An in-process server for the console's tests: ICAP server, Context, Controller and console
//! on loopback ports chosen at run time, a configuration file in a temporary directory, and a
//! minimal HTTP/1.1 client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use bulwark_console::UpdateHook;
use bulwark_server::control::{Controller, Overrides};
use bulwark_server::{Context, LogFile, Snapshot};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

pub const PASSWORD: &str = "correct horse";
pub const TOKEN: &str = "test-token-0123456789";

/// A cheap Argon2id hash (debug builds are slow at the default cost).
pub fn cheap_hash(pw: &str) -> String {
    let params = Params::new(256, 1, 1, None).expect("params");
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
    a.hash_password(pw.as_bytes(), &salt)
        .expect("hash")
        .to_string()
}

pub fn eicar() -> Vec<u8> {
    [
        &b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"[..],
        b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
    ]
    .concat()
}

pub struct Options {
    /// Write a configuration file and pass its path (else: no --config).
    pub with_file: bool,
    pub hook: Option<UpdateHook>,
    pub max_logins: u32,
    pub extra: String,
    /// `console.password_hash` (default: [`cheap_hash`] of [`PASSWORD`]).
    pub password_hash: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            with_file: true,
            hook: None,
            max_logins: 100,
            extra: String::new(),
            password_hash: None,
        }
    }
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub base: SocketAddr,
    pub icap: SocketAddr,
    pub config_path: Option<PathBuf>,
    pub av_stats: PathBuf,
    pub ctx: Arc<Context>,
    pub ctl: Arc<Controller>,
    pub stop: watch::Sender<bool>,
}

pub fn config_text(
    dir: &std::path::Path,
    max_logins: u32,
    extra: &str,
    password_hash: Option<&str>,
) -> String {
    format!(
        r#"# test configuration
[server]
listen = ["127.0.0.1:0"]

[log]
av_stats_file = "{}"

[control]
socket = "{}"

[console]
listen = ["127.0.0.1:0"]
password_hash = "{}"
token = "{TOKEN}"
max_login_attempts_per_minute = {max_logins}
sample_interval_secs = 1
{extra}
"#,
        dir.join("av.stats").display(),
        dir.join("control.sock").display(),
        password_hash
            .map(str::to_string)
            .unwrap_or_else(|| cheap_hash(PASSWORD)),
    )
}

pub async fn start(opts: Options) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config_text(
        dir.path(),
        opts.max_logins,
        &opts.extra,
        opts.password_hash.as_deref(),
    );
    let path = dir.path().join("bulwark.toml");
    std::fs::write(&path, &text).expect("write config");
    let cfg = bulwark_config::load_str(&text, "test")
        .expect("valid test config")
        .config;
    let av_stats = dir.path().join("av.stats");
    let snap = Snapshot::new(Arc::new(cfg), Arc::new(bulwark_engine::Database::builtin()))
        .expect("snapshot");
    let listeners = bulwark_server::bind(&snap.config).await.expect("bind");
    let icap = listeners.local_addrs()[0];
    let console = bulwark_console::bind_console(&snap.config.console)
        .await
        .expect("bind console");
    let base = console[0].local_addr().expect("addr");
    let av_log = LogFile::open(Some(&av_stats), true).expect("av log");
    let notifier = bulwark_notify::Notifier::spawn(snap.config.notify.clone());
    let ctx = Context::new(snap, av_log, None, notifier);
    let (stop, rx) = watch::channel(false);
    let config_path = opts.with_file.then(|| path.clone());
    let ctl = Controller::new(
        ctx.clone(),
        config_path.clone(),
        Overrides::default(),
        None,
        None,
        stop.clone(),
    );
    {
        let ctx = ctx.clone();
        let rx = rx.clone();
        tokio::spawn(async move {
            let _ = bulwark_server::serve(listeners, ctx, rx).await;
        });
    }
    tokio::spawn(bulwark_console::serve_console(
        console,
        ctx.clone(),
        ctl.clone(),
        config_path.clone(),
        opts.hook,
        rx,
    ));
    Harness {
        dir,
        base,
        icap,
        config_path,
        av_stats,
        ctx,
        ctl,
        stop,
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(i) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = i + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    } else if method == "POST" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    s.write_all(req.as_bytes()).await.expect("send");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("reply in time")
        .expect("read");
    parse_reply(&buf)
}

pub fn parse_reply(buf: &[u8]) -> Reply {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("complete head");
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let raw = &buf[end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked { dechunk(raw) } else { raw.to_vec() };
    Reply {
        status,
        headers,
        body,
    }
}

/// A logged-in browser: cookie and CSRF token.
pub struct Session {
    pub addr: SocketAddr,
    pub cookie: String,
    pub csrf: String,
}

pub async fn login(addr: SocketAddr, password: &str) -> Reply {
    let body = serde_json::json!({ "password": password }).to_string();
    request(
        addr,
        "POST",
        "/api/login",
        &[("Content-Type", "application/json")],
        Some(&body),
    )
    .await
}

pub async fn session(addr: SocketAddr) -> Session {
    let r = login(addr, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let set = r.header("set-cookie").expect("cookie").to_string();
    let cookie = set.split(';').next().expect("pair").to_string();
    let csrf = r.json()["csrf"].as_str().expect("csrf").to_string();
    Session { addr, cookie, csrf }
}

impl Session {
    pub async fn get(&self, path: &str) -> Reply {
        request(self.addr, "GET", path, &[("Cookie", &self.cookie)], None).await
    }
    pub async fn post(&self, path: &str, body: Option<&serde_json::Value>) -> Reply {
        let text = body.map(|b| b.to_string());
        let mut h = vec![
            ("Cookie", self.cookie.as_str()),
            ("X-CSRF-Token", self.csrf.as_str()),
        ];
        if text.is_some() {
            h.push(("Content-Type", "application/json"));
        }
        request(self.addr, "POST", path, &h, text.as_deref()).await
    }
}

/// Sends one RESPMOD with `body` for `url`; returns the ICAP status line.
pub async fn respmod(icap: SocketAddr, url: &str, body: &[u8]) -> String {
    let req_hdr = format!("GET {url} HTTP/1.1\r\nHost: example.test\r\n\r\n");
    let res_hdr = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut msg = format!(
        "RESPMOD icap://{icap}/av/respmod ICAP/1.0\r\nHost: {icap}\r\nConnection: close\r\nAllow: 204\r\nX-Client-IP: 10.1.2.3\r\nEncapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n",
        req_hdr.len(),
        req_hdr.len() + res_hdr.len()
    )
    .into_bytes();
    msg.extend_from_slice(req_hdr.as_bytes());
    msg.extend_from_slice(res_hdr.as_bytes());
    msg.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
    msg.extend_from_slice(body);
    msg.extend_from_slice(b"\r\n0\r\n\r\n");
    let mut s = TcpStream::connect(icap).await.expect("connect icap");
    s.write_all(&msg).await.expect("send icap");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}
