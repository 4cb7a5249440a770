//! The console's tests run it over a fake [`Backend`]: a configuration file in a temporary
//! directory (what the fake's reload reads), counters the tests move by hand, reloads that can
//! be made to fail, an optional updater; and a minimal HTTP/1.1 client. The real server behind
//! the console is tested end to end in `crates/bulwark/tests/e2e_console.rs`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use bulwark_config::Config;
use bulwark_console::{Backend, BackendError, BoxFuture, Counters, ServerStatus, UpdateFuture};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

pub const PASSWORD: &str = "correct horse";
pub const TOKEN: &str = "test-token-0123456789";
/// The ISTag and database version the fake reports.
pub const ISTAG: &str = "\"BW-fake-1\"";
pub const DATABASE: &str = "fake-db 1";
/// When the fake's database was loaded (Unix time).
pub const DATABASE_LOADED: i64 = 1_700_000_000;

/// A cheap Argon2id hash (debug builds are slow at the default cost).
pub fn cheap_hash(pw: &str) -> String {
    let params = Params::new(256, 1, 1, None).expect("params");
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
    a.hash_password(pw.as_bytes(), &salt)
        .expect("hash")
        .to_string()
}

/// A database update the fake runs.
pub type Updater = Arc<dyn Fn() -> UpdateFuture + Send + Sync>;

/// The server as the console sees it, played by the test.
pub struct Fake {
    config: Mutex<Arc<Config>>,
    config_path: Option<PathBuf>,
    counters: Mutex<Counters>,
    started: Instant,
    updater: Option<Updater>,
    /// Reloads answer an error while set.
    pub refuse_reloads: AtomicBool,
    /// Configuration reloads that succeeded.
    pub reloads: AtomicUsize,
    /// Database reloads.
    pub db_reloads: AtomicUsize,
}

impl Fake {
    /// A fake running `config`; its reload reads `config_path` (or keeps `config` without).
    pub fn new(config: Config, config_path: Option<PathBuf>, updater: Option<Updater>) -> Self {
        let mut counters = Counters {
            database_loaded: DATABASE_LOADED,
            scan_seconds: vec![(0.001, 0), (0.01, 0), (f64::INFINITY, 0)],
            ..Default::default()
        };
        for m in ["options", "reqmod", "respmod"] {
            counters.requests.insert(m.into(), 0);
        }
        for st in ["clean", "infected"] {
            counters.objects.insert(st.into(), 0);
        }
        Self {
            config: Mutex::new(Arc::new(config)),
            config_path,
            counters: Mutex::new(counters),
            started: Instant::now(),
            updater,
            refuse_reloads: AtomicBool::new(false),
            reloads: AtomicUsize::new(0),
            db_reloads: AtomicUsize::new(0),
        }
    }

    /// One RESPMOD of `size` bytes found `status`, scanned in `secs`.
    pub fn scan(&self, status: &str, size: u64, secs: f64) {
        let mut c = self.counters.lock().expect("counters");
        *c.requests.entry("respmod".into()).or_default() += 1;
        *c.objects.entry(status.into()).or_default() += 1;
        c.bytes += size;
        c.connections += 1;
        for (le, n) in c.scan_seconds.iter_mut() {
            if secs <= *le {
                *n += 1;
            }
        }
    }

    /// The configuration in force (public for the tests' assertions).
    pub fn running(&self) -> Arc<Config> {
        self.config.lock().expect("config").clone()
    }

    fn reload_now(&self) -> Result<String, BackendError> {
        if self.refuse_reloads.load(Ordering::SeqCst) {
            return Err(BackendError::new("refused by the test"));
        }
        if let Some(p) = &self.config_path {
            let text = std::fs::read_to_string(p).map_err(BackendError::new)?;
            let loaded = bulwark_config::load_str(&text, &p.display().to_string())
                .map_err(BackendError::new)?;
            *self.config.lock().expect("config") = Arc::new(loaded.config);
        }
        self.reloads.fetch_add(1, Ordering::SeqCst);
        Ok(format!(
            "configuration reloaded; database {DATABASE}; ISTag {ISTAG}"
        ))
    }
}

impl Backend for Fake {
    fn config(&self) -> Arc<Config> {
        self.running()
    }

    fn check_config(&self, config: &Config) -> bulwark_config::Findings {
        bulwark_policy::check_config(&config.policy)
    }

    fn status(&self) -> ServerStatus {
        ServerStatus {
            istag: ISTAG.into(),
            uptime_secs: self.started.elapsed().as_secs(),
            database_version: DATABASE.into(),
            license: None,
        }
    }

    fn counters(&self) -> Counters {
        self.counters.lock().expect("counters").clone()
    }

    fn reload(&self) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move { self.reload_now() })
    }

    fn reload_db(&self) -> BoxFuture<'_, Result<String, BackendError>> {
        Box::pin(async move {
            if self.refuse_reloads.load(Ordering::SeqCst) {
                return Err(BackendError::new("refused by the test"));
            }
            self.db_reloads.fetch_add(1, Ordering::SeqCst);
            Ok(format!("database reloaded: {DATABASE}"))
        })
    }

    fn update_available(&self) -> bool {
        self.updater.is_some()
    }

    fn update(&self) -> Option<UpdateFuture> {
        self.updater.as_ref().map(|u| u())
    }
}

pub struct Options {
    /// Write a configuration file and pass its path (else: no --config).
    pub with_file: bool,
    pub updater: Option<Updater>,
    pub max_logins: u32,
    pub extra: String,
    /// `console.password_hash` (default: [`cheap_hash`] of [`PASSWORD`]).
    pub password_hash: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            with_file: true,
            updater: None,
            max_logins: 100,
            extra: String::new(),
            password_hash: None,
        }
    }
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub base: SocketAddr,
    pub config_path: Option<PathBuf>,
    pub av_stats: PathBuf,
    pub backend: Arc<Fake>,
    pub stop: watch::Sender<bool>,
}

pub fn config_text(
    dir: &Path,
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
    let console = bulwark_console::bind_console(&cfg.console)
        .await
        .expect("bind console");
    let base = console[0].local_addr().expect("addr");
    let config_path = opts.with_file.then(|| path.clone());
    let backend = Arc::new(Fake::new(cfg, config_path.clone(), opts.updater));
    let (stop, rx) = watch::channel(false);
    tokio::spawn(bulwark_console::serve_console(
        console,
        backend.clone(),
        None,
        config_path.clone(),
        rx,
    ));
    Harness {
        dir,
        base,
        config_path,
        av_stats,
        backend,
        stop,
    }
}

/// Appends `lines` to the AV statistics log, as the server writes it.
pub fn write_av_stats(h: &Harness, lines: &[&str]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&h.av_stats)
        .expect("av.stats");
    for l in lines {
        writeln!(f, "{l}").expect("write av.stats");
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
