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
//! * `GET /files/<name>`: the bytes stored with [`Origin::put_file`] (404 when none);
//! * `POST`/`PUT` to any path: the body (Content-Length or chunked) is read and answered with
//!   `200`, headers `X-Received-Length` / `X-Received-Sha256`, and a text body
//!   `len=<n>\nsha256=<hex>\n`.
//!
//! Every request is recorded ([`Origin::requests`]) so a test can check what reached the origin.

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

/// A running origin server; stopped when dropped.
#[derive(Debug)]
pub struct Origin {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    log: Arc<Mutex<Vec<RequestRecord>>>,
    files: Files,
}

/// Bodies served under `/files/<name>`.
type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

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
                        let files = Arc::clone(&files2);
                        tokio::spawn(async move {
                            let _ = serve_connection(sock, log, files).await;
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

    /// Stores `body` to be served at `/files/<name>` (e.g. an archive made by a test).
    pub fn put_file(&self, name: &str, body: Vec<u8>) {
        match self.files.lock() {
            Ok(mut g) => {
                g.insert(name.to_string(), body);
            }
            Err(p) => {
                p.into_inner().insert(name.to_string(), body);
            }
        }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        match self.log.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
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

    async fn read_exact_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Err(bad("EOF inside the body"));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn read_body(&mut self, head: &Head) -> io::Result<Vec<u8>> {
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
                body.extend_from_slice(&self.read_exact_n(size).await?);
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
            self.read_exact_n(n).await
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
        let body = conn.read_body(&head).await?;
        let record = RequestRecord {
            method: head.method.clone(),
            target: head.target.clone(),
            body_len: body.len(),
            body_sha256: sha256_hex(&body),
        };
        if let Ok(mut g) = log.lock() {
            g.push(record.clone());
        }
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
}

/// The plan for a request; `encoding=gzip` compresses the whole body and labels it with
/// `Content-Encoding: gzip` (at most 64 MiB of content).
fn plan_for(head: &Head, record: &RequestRecord, files: &Files) -> Plan {
    let mut plan = plan_for_identity(head, record, files);
    let (_, params) = split_target(&head.target);
    if params.get("encoding").map(String::as_str) == Some("gzip") {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut total = 0usize;
        for seg in &plan.segments {
            let data = match seg {
                Segment::Bytes(b) => b.clone(),
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
        let body = files.lock().ok().and_then(|g| g.get(name).cloned());
        if let Some(body) = body {
            plan.segments.push(Segment::Bytes(body));
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
