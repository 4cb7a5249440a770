//! An in-process HTTP/1.1 origin server (tokio, hand-rolled) for end-to-end tests.
//!
//! Routes (all bodies are [`crate::pattern`] bytes unless stated):
//!
//! * `GET /bytes/<n>`: `n` bytes with `Content-Length`;
//! * `GET /chunked/<n>[?chunk=<k>]`: `n` bytes, `Transfer-Encoding: chunked`, chunks of `k`
//!   (default 8192);
//! * `GET /eicar?pad=<n>[&tail=<m>][&chunked=1]`: `n` filler bytes, the EICAR string, `m` filler
//!   bytes;
//! * `GET /eicar-split?pad=<n>[&at=<k>]`: chunked; the EICAR string is split `k` bytes into it
//!   (default 34) across two chunks, written with a pause between them;
//! * any route accepts `slow_ms=<ms>&slice=<bytes>`: the body is written `slice` bytes at a time
//!   (default 16384) with a pause of `slow_ms` between writes;
//! * `GET /files/<name>`: the bytes stored with [`Origin::put_file`] (404 when none); storing
//!   other bytes under the same name makes a new object at the same URL (new `ETag`,
//!   `Last-Modified`);
//! * `chunked=1` on `/bytes`, `/files` and `/eicar` answers with `Transfer-Encoding: chunked`
//!   and no `Content-Length`;
//! * `validators=1` on any `GET` route adds an `ETag` and a `Last-Modified` that stay the same
//!   for the same object (same target; for `/files`, the same stored bytes) and change with it;
//! * `POST`/`PUT` to any path: the body (Content-Length or chunked) is read and answered with
//!   `200`, headers `X-Received-Length` / `X-Received-Sha256`, and a text body
//!   `len=<n>\nsha256=<hex>\n`.
//!
//! Every request is recorded ([`Origin::requests`]) so a test can check what reached the origin.
//! [`Origin::arrivals`] records more: every request from the moment its head arrives, with the
//! body bytes received so far, even when the body never ends (an upload cut short).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{eicar, pattern_byte, sha256_hex};

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted (uploads).
const MAX_BODY: usize = 256 * 1024 * 1024;
/// Requests served on one persistent connection before it is closed.
const MAX_REQUESTS_PER_CONN: usize = 10_000;
/// How long a connection may stay idle or stall mid-request.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// One request seen by the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Request target as received (path and query).
    pub target: String,
    /// Length of the request body received.
    pub body_len: usize,
    /// SHA-256 (hex) of the request body.
    pub body_sha256: String,
}

/// One request as it arrived: recorded when its head is read, then updated while its body
/// arrives, so a request whose body is cut short (or never sent) is seen too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// HTTP method.
    pub method: String,
    /// Request target as received (path and query).
    pub target: String,
    /// Request headers in order.
    pub headers: Vec<(String, String)>,
    /// The request's `Content-Length`, when it had one.
    pub declared_length: Option<usize>,
    /// Whether the body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// Body bytes received so far.
    pub body_received: usize,
    /// True once the whole body (as framed) was read.
    pub body_complete: bool,
    /// SHA-256 (hex) of the body, once complete.
    pub body_sha256: Option<String>,
}

impl Arrival {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running origin server; stopped when dropped.
#[derive(Debug)]
pub struct Origin {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    log: Arc<Mutex<Vec<RequestRecord>>>,
    arrivals: Arrivals,
    files: Files,
}

/// A body stored with [`Origin::put_file`].
#[derive(Debug)]
struct StoredFile {
    body: Arc<Vec<u8>>,
    /// `ETag` value (quoted), from the body's digest and a store counter.
    etag: String,
    /// `Last-Modified`: when it was stored.
    last_modified: std::time::SystemTime,
}

/// Bodies served under `/files/<name>`.
type Files = Arc<Mutex<HashMap<String, StoredFile>>>;

/// Every request from the moment its head arrives.
type Arrivals = Arc<Mutex<Vec<Arrival>>>;

/// Locks `m`, ignoring poisoning (a panicking test thread must not hide the log).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Origin {
    /// Starts the origin on `127.0.0.1:<free port>`, with its own tokio runtime.
    pub fn start() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("origin")
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = Arc::clone(&log);
        let arrivals: Arrivals = Arc::default();
        let arrivals2 = Arc::clone(&arrivals);
        let files: Files = Arc::default();
        let files2 = Arc::clone(&files);
        runtime.spawn(async move {
            let listener = match TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("origin: cannot register listener: {e}");
                    return;
                }
            };
            loop {
                match listener.accept().await {
                    Ok((sock, _)) => {
                        let log = Arc::clone(&log2);
                        let arrivals = Arc::clone(&arrivals2);
                        let files = Arc::clone(&files2);
                        tokio::spawn(async move {
                            let _ = serve_connection(sock, log, arrivals, files).await;
                        });
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
        Ok(Self {
            addr,
            runtime: Some(runtime),
            log,
            arrivals,
            files,
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An absolute `http://` URL for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stores `body` to be served at `/files/<name>` (e.g. an archive made by a test). Storing
    /// again under the same name replaces the object: with `validators=1` its `ETag` and
    /// `Last-Modified` change.
    pub fn put_file(&self, name: &str, body: Vec<u8>) {
        static STORED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STORED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let digest = sha256_hex(&body);
        let file = StoredFile {
            etag: format!("\"f{n}-{}\"", &digest[..16]),
            body: Arc::new(body),
            last_modified: std::time::SystemTime::now(),
        };
        let mut g = lock(&self.files);
        // A replacement made within the same second still gets a later Last-Modified (HTTP
        // dates count whole seconds).
        let secs = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        let file = match g.get(name) {
            Some(old) if secs(old.last_modified) >= secs(file.last_modified) => StoredFile {
                last_modified: std::time::UNIX_EPOCH
                    + Duration::from_secs(secs(old.last_modified) + 1),
                ..file
            },
            _ => file,
        };
        g.insert(name.to_string(), file);
    }

    /// The `ETag` that `/files/<name>?validators=1` carries now (None when nothing is stored).
    pub fn file_etag(&self, name: &str) -> Option<String> {
        lock(&self.files).get(name).map(|f| f.etag.clone())
    }

    /// The requests received so far (those whose body was read whole).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.log).clone()
    }

    /// Every request whose head has arrived so far, with the body bytes received for each (also
    /// for bodies still arriving or cut short).
    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.arrivals).clone()
    }

    /// The [`Origin::arrivals`] whose target contains `fragment`.
    pub fn arrivals_matching(&self, fragment: &str) -> Vec<Arrival> {
        lock(&self.arrivals)
            .iter()
            .filter(|a| a.target.contains(fragment))
            .cloned()
            .collect()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A parsed request head.
struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// A buffered reader over the socket that keeps leftover bytes between requests.
struct Conn {
    sock: TcpStream,
    buf: Vec<u8>,
}

/// Where the body bytes of the request being read are counted: an entry of the arrivals log.
struct Progress<'a> {
    arrivals: &'a Arrivals,
    index: usize,
}

impl Progress<'_> {
    fn update(&self, f: impl FnOnce(&mut Arrival)) {
        if let Some(a) = lock(self.arrivals).get_mut(self.index) {
            f(a);
        }
    }
}

impl Conn {
    async fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 65536];
        let n = tokio::time::timeout(IO_TIMEOUT, self.sock.read(&mut tmp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "read timeout"))??;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// Reads up to and including the next CRLF CRLF; None on a clean EOF before any byte.
    async fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..pos + 4).collect();
                return Ok(Some(head));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad("request head too large"));
            }
            if self.fill().await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(bad("EOF inside the request head"))
                };
            }
        }
    }

    async fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(pos) = find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                return Ok(line[..pos].to_vec());
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad("line too long"));
            }
            if self.fill().await? == 0 {
                return Err(bad("EOF inside a line"));
            }
        }
    }

    /// Appends the next `n` body bytes to `out`, counting them in `progress` as they arrive.
    async fn read_body_bytes(
        &mut self,
        n: usize,
        out: &mut Vec<u8>,
        progress: &Progress<'_>,
    ) -> io::Result<()> {
        let target = out.len() + n;
        loop {
            let take = self.buf.len().min(target - out.len());
            if take > 0 {
                out.extend(self.buf.drain(..take));
                let got = out.len();
                progress.update(|a| a.body_received = got);
            }
            if out.len() == target {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err(bad("EOF inside the body"));
            }
        }
    }

    async fn read_body(&mut self, head: &Head, progress: &Progress<'_>) -> io::Result<Vec<u8>> {
        let chunked = head
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            let mut body = Vec::new();
            for _ in 0..10_000_000 {
                let line = self.read_line().await?;
                let text = String::from_utf8_lossy(&line);
                let size_str = text.split(';').next().unwrap_or("").trim();
                let size =
                    usize::from_str_radix(size_str, 16).map_err(|_| bad("bad chunk size"))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    for _ in 0..1000 {
                        if self.read_line().await?.is_empty() {
                            return Ok(body);
                        }
                    }
                    return Err(bad("too many trailers"));
                }
                if body.len() + size > MAX_BODY {
                    return Err(bad("body too large"));
                }
                self.read_body_bytes(size, &mut body, progress).await?;
                if !self.read_line().await?.is_empty() {
                    return Err(bad("missing CRLF after chunk"));
                }
            }
            Err(bad("too many chunks"))
        } else if let Some(cl) = head.header("content-length") {
            let n: usize = cl.trim().parse().map_err(|_| bad("bad content-length"))?;
            if n > MAX_BODY {
                return Err(bad("body too large"));
            }
            let mut body = Vec::with_capacity(n.min(1 << 20));
            self.read_body_bytes(n, &mut body, progress).await?;
            Ok(body)
        } else {
            Ok(Vec::new())
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(raw: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(raw).map_err(|_| bad("non-UTF-8 head"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or_else(|| bad("empty head"))?;
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().ok_or_else(|| bad("no target"))?.to_string();
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Head {
        method,
        target,
        headers,
    })
}

async fn serve_connection(
    sock: TcpStream,
    log: Arc<Mutex<Vec<RequestRecord>>>,
    arrivals: Arrivals,
    files: Files,
) -> io::Result<()> {
    let _ = sock.set_nodelay(true);
    let mut conn = Conn {
        sock,
        buf: Vec::new(),
    };
    for _ in 0..MAX_REQUESTS_PER_CONN {
        let Some(raw) = conn.read_head().await? else {
            return Ok(());
        };
        let head = parse_head(&raw)?;
        let index = {
            let mut g = lock(&arrivals);
            g.push(Arrival {
                method: head.method.clone(),
                target: head.target.clone(),
                headers: head.headers.clone(),
                declared_length: head
                    .header("content-length")
                    .and_then(|v| v.trim().parse().ok()),
                chunked: head
                    .header("transfer-encoding")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("chunked")),
                body_received: 0,
                body_complete: false,
                body_sha256: None,
            });
            g.len() - 1
        };
        let progress = Progress {
            arrivals: &arrivals,
            index,
        };
        let body = conn.read_body(&head, &progress).await?;
        let body_sha256 = sha256_hex(&body);
        progress.update(|a| {
            a.body_received = body.len();
            a.body_complete = true;
            a.body_sha256 = Some(body_sha256.clone());
        });
        let record = RequestRecord {
            method: head.method.clone(),
            target: head.target.clone(),
            body_len: body.len(),
            body_sha256,
        };
        lock(&log).push(record.clone());
        let close = head
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        respond(&mut conn.sock, &head, &record, &files, close).await?;
        if close {
            return Ok(());
        }
    }
    Ok(())
}

/// Splits the target into path and query parameters.
fn split_target(target: &str) -> (String, HashMap<String, String>) {
    // Squid forwards origin-form; accept absolute-form too.
    let path_and_query = match target.find("://") {
        Some(i) => {
            let rest = &target[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => target,
    };
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let params = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    (path.to_string(), params)
}

fn num(params: &HashMap<String, String>, key: &str, default: usize) -> usize {
    params
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Filler bytes `start..start+len` of [`crate::pattern`].
fn pattern_range(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(pattern_byte).collect()
}

/// How a body is laid out: a sequence of segments written in order.
enum Segment {
    Filler {
        start: usize,
        len: usize,
    },
    Bytes(Vec<u8>),
    /// A stored file's bytes (not copied per request).
    Shared(Arc<Vec<u8>>),
    /// Flush and pause (only meaningful for chunked bodies: forces a chunk boundary).
    Pause(Duration),
}

struct Plan {
    status: &'static str,
    content_type: &'static str,
    segments: Vec<Segment>,
    chunked: bool,
    chunk: usize,
    slow: Option<(Duration, usize)>,
    extra_headers: Vec<(String, String)>,
    /// The object's `ETag` and `Last-Modified` (sent with `validators=1`).
    validators: Option<(String, std::time::SystemTime)>,
}

/// The plan for a request; `encoding=gzip` compresses the whole body and labels it with
/// `Content-Encoding: gzip` (at most 64 MiB of content).
fn plan_for(head: &Head, record: &RequestRecord, files: &Files) -> Plan {
    let mut plan = plan_for_identity(head, record, files);
    let (_, params) = split_target(&head.target);
    let is_post = head.method == "POST" || head.method == "PUT";
    if !is_post && plan.status.starts_with("200") {
        if params.get("chunked").is_some_and(|v| v == "1") {
            plan.chunked = true;
        }
        if params.get("validators").is_some_and(|v| v == "1") {
            let (etag, modified) = plan.validators.take().unwrap_or_else(|| {
                // A generated body depends only on the target.
                let digest = sha256_hex(head.target.as_bytes());
                // 2024-05-01 10:00:00 UTC.
                let modified = std::time::UNIX_EPOCH + Duration::from_secs(1_714_557_600);
                (format!("\"g-{}\"", &digest[..16]), modified)
            });
            plan.extra_headers.push(("ETag".into(), etag));
            plan.extra_headers
                .push(("Last-Modified".into(), http_date(modified)));
        }
    }
    if params.get("encoding").map(String::as_str) == Some("gzip") {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut total = 0usize;
        for seg in &plan.segments {
            let data = match seg {
                Segment::Bytes(b) => b.clone(),
                Segment::Shared(b) => b.to_vec(),
                Segment::Filler { start, len } => pattern_range(*start, *len),
                Segment::Pause(_) => continue,
            };
            total += data.len();
            if total > 64 << 20 || enc.write_all(&data).is_err() {
                break;
            }
        }
        let body = enc.finish().unwrap_or_default();
        plan.segments = vec![Segment::Bytes(body)];
        plan.extra_headers
            .push(("Content-Encoding".into(), "gzip".into()));
    }
    plan
}

fn plan_for_identity(head: &Head, record: &RequestRecord, files: &Files) -> Plan {
    let (path, params) = split_target(&head.target);
    // `/site/<name>/<route>` serves `<route>`: distinct URLs for URL rules (e.g. an excluded
    // site) with the same content.
    let path = match path
        .strip_prefix("/site/")
        .and_then(|r| r.find('/').map(|i| &r[i..]))
    {
        Some(route) => route.to_string(),
        None => path,
    };
    let slow = params
        .get("slow_ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| {
            (
                Duration::from_millis(ms),
                num(&params, "slice", 16384).max(1),
            )
        });
    let chunk = num(&params, "chunk", 8192).max(1);
    let mut plan = Plan {
        status: "200 OK",
        content_type: "application/octet-stream",
        segments: Vec::new(),
        chunked: false,
        chunk,
        slow,
        extra_headers: Vec::new(),
        validators: None,
    };
    // `type=video|html|text` sets the Content-Type (for MIME rules).
    match params.get("type").map(String::as_str) {
        Some("video") => plan.content_type = "video/mp4",
        Some("html") => plan.content_type = "text/html",
        Some("text") => plan.content_type = "text/plain",
        _ => {}
    }
    if head.method == "POST" || head.method == "PUT" {
        plan.content_type = "text/plain";
        plan.segments.push(Segment::Bytes(
            format!("len={}\nsha256={}\n", record.body_len, record.body_sha256).into_bytes(),
        ));
        plan.extra_headers
            .push(("X-Received-Length".into(), record.body_len.to_string()));
        plan.extra_headers
            .push(("X-Received-Sha256".into(), record.body_sha256.clone()));
        return plan;
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        if let Ok(n) = n.parse::<usize>() {
            plan.segments.push(Segment::Filler { start: 0, len: n });
            return plan;
        }
    }
    if let Some(n) = path.strip_prefix("/chunked/") {
        if let Ok(n) = n.parse::<usize>() {
            plan.chunked = true;
            plan.segments.push(Segment::Filler { start: 0, len: n });
            return plan;
        }
    }
    if let Some(name) = path.strip_prefix("/files/") {
        let file = lock(files)
            .get(name)
            .map(|f| (Arc::clone(&f.body), f.etag.clone(), f.last_modified));
        if let Some((body, etag, modified)) = file {
            plan.segments.push(Segment::Shared(body));
            plan.validators = Some((etag, modified));
            return plan;
        }
    }
    if path == "/eicar" {
        let pad = num(&params, "pad", 0);
        let tail = num(&params, "tail", 0);
        plan.chunked = params.get("chunked").is_some_and(|v| v == "1");
        plan.segments.push(Segment::Filler { start: 0, len: pad });
        plan.segments.push(Segment::Bytes(eicar()));
        plan.segments.push(Segment::Filler {
            start: pad + 68,
            len: tail,
        });
        return plan;
    }
    if path == "/eicar-split" {
        let pad = num(&params, "pad", 0);
        let e = eicar();
        let at = num(&params, "at", 34).clamp(1, e.len() - 1);
        plan.chunked = true;
        plan.segments.push(Segment::Filler { start: 0, len: pad });
        plan.segments.push(Segment::Bytes(e[..at].to_vec()));
        plan.segments.push(Segment::Pause(Duration::from_millis(
            num(&params, "pause_ms", 50) as u64,
        )));
        plan.segments.push(Segment::Bytes(e[at..].to_vec()));
        return plan;
    }
    plan.status = "404 Not Found";
    plan.content_type = "text/plain";
    plan.segments
        .push(Segment::Bytes(b"no such route\n".to_vec()));
    plan
}

async fn respond(
    sock: &mut TcpStream,
    head: &Head,
    record: &RequestRecord,
    files: &Files,
    close: bool,
) -> io::Result<()> {
    let plan = plan_for(head, record, files);
    let total: usize = plan
        .segments
        .iter()
        .map(|s| match s {
            Segment::Filler { len, .. } => *len,
            Segment::Bytes(b) => b.len(),
            Segment::Shared(b) => b.len(),
            Segment::Pause(_) => 0,
        })
        .sum();
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nCache-Control: no-store\r\n",
        plan.status, plan.content_type
    );
    for (k, v) in &plan.extra_headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if plan.chunked {
        out.push_str("Transfer-Encoding: chunked\r\n");
    } else {
        out.push_str(&format!("Content-Length: {total}\r\n"));
    }
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    write_all(sock, out.as_bytes()).await?;
    if head.method == "HEAD" {
        return Ok(());
    }
    let slice = plan.slow.map_or(64 * 1024, |(_, s)| s);
    let piece = if plan.chunked {
        slice.min(plan.chunk)
    } else {
        slice
    };
    for seg in &plan.segments {
        match seg {
            Segment::Pause(d) => {
                sock.flush().await?;
                tokio::time::sleep(*d).await;
            }
            Segment::Bytes(b) => {
                for part in b.chunks(piece.max(1)) {
                    write_body(sock, part, plan.chunked, plan.slow).await?;
                }
            }
            Segment::Shared(b) => {
                for part in b.chunks(piece.max(1)) {
                    write_body(sock, part, plan.chunked, plan.slow).await?;
                }
            }
            Segment::Filler { start, len } => {
                let mut off = 0;
                while off < *len {
                    let n = piece.min(len - off);
                    let data = pattern_range(start + off, n);
                    write_body(sock, &data, plan.chunked, plan.slow).await?;
                    off += n;
                }
            }
        }
    }
    if plan.chunked {
        write_all(sock, b"0\r\n\r\n").await?;
    }
    sock.flush().await
}

async fn write_body(
    sock: &mut TcpStream,
    data: &[u8],
    chunked: bool,
    slow: Option<(Duration, usize)>,
) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    if chunked {
        let mut buf = format!("{:x}\r\n", data.len()).into_bytes();
        buf.extend_from_slice(data);
        buf.extend_from_slice(b"\r\n");
        write_all(sock, &buf).await?;
    } else {
        write_all(sock, data).await?;
    }
    if let Some((pause, _)) = slow {
        sock.flush().await?;
        tokio::time::sleep(pause).await;
    }
    Ok(())
}

async fn write_all(sock: &mut TcpStream, data: &[u8]) -> io::Result<()> {
    tokio::time::timeout(IO_TIMEOUT, sock.write_all(data))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write timeout"))?
}

/// `time` as an HTTP date (`Wed, 01 May 2024 10:00:00 GMT`).
fn http_date(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{self, Framing};
    use std::io::Write as _;

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn chunked_validators_replaced_files_and_arrivals() {
        let origin = Origin::start().expect("origin");
        let r = client::get_direct(origin.addr(), "/bytes/5000?chunked=1&validators=1", T)
            .expect("get");
        assert_eq!(r.framing, Framing::Chunked);
        assert!(r.complete && r.body == crate::pattern(5000));
        assert_eq!(r.header("content-length"), None);
        let etag = r.header("etag").expect("etag").to_string();
        assert_eq!(
            r.header("last-modified"),
            Some("Wed, 01 May 2024 10:00:00 GMT")
        );
        let again = client::get_direct(origin.addr(), "/bytes/5000?chunked=1&validators=1", T)
            .expect("get");
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        let r = client::get_direct(origin.addr(), "/bytes/5000", T).expect("get");
        assert_eq!(r.framing, Framing::Length(5000));
        assert_eq!(r.header("etag"), None);

        origin.put_file("x", b"first".to_vec());
        let a = client::get_direct(origin.addr(), "/files/x?validators=1", T).expect("get");
        origin.put_file("x", b"second!".to_vec());
        let b =
            client::get_direct(origin.addr(), "/files/x?validators=1&chunked=1", T).expect("get");
        assert_eq!(
            (a.body.as_slice(), b.body.as_slice()),
            (&b"first"[..], &b"second!"[..])
        );
        assert_eq!(b.framing, Framing::Chunked);
        assert_ne!(a.header("etag"), b.header("etag"));
        assert_ne!(a.header("last-modified"), b.header("last-modified"));
        assert_eq!(b.header("etag"), origin.file_etag("x").as_deref());

        let body = crate::pattern(300_000);
        let r = client::post_direct(origin.addr(), "/up", &body, T).expect("post");
        assert_eq!(r.request_body_sent, body.len());
        let a = origin.arrivals_matching("/up");
        assert_eq!(a.len(), 1);
        assert!(a[0].body_complete && a[0].body_received == body.len());
        assert_eq!(a[0].declared_length, Some(body.len()));
        assert_eq!(
            a[0].body_sha256.as_deref(),
            Some(sha256_hex(&body).as_str())
        );

        // An upload cut short: seen, with the bytes that came.
        let mut s = crate::net::connect(origin.addr(), T).expect("connect");
        s.write_all(b"POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            .expect("write");
        s.write_all(&[b'a'; 400]).expect("write");
        s.flush().expect("flush");
        let deadline = std::time::Instant::now() + T;
        while origin
            .arrivals_matching("/cut")
            .first()
            .map(|a| a.body_received)
            != Some(400)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                origin.arrivals()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(s);
        let a = &origin.arrivals_matching("/cut")[0];
        assert!(!a.body_complete && a.body_sha256.is_none());
        assert!(origin.requests().iter().all(|r| r.target != "/cut"));
    }

    #[test]
    fn http_dates() {
        let t = |s| http_date(std::time::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(t(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(t(1_714_557_600), "Wed, 01 May 2024 10:00:00 GMT");
        assert_eq!(t(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(t(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 GMT");
    }
}
