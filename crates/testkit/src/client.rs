//! A minimal blocking HTTP/1.1 client for tests: absolute-URI requests through a proxy (or
//! direct), one request per connection, tolerant of truncated or aborted bodies.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::net;

/// Largest response head accepted.
const MAX_HEAD: usize = 256 * 1024;

/// How a response body was delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body by definition (1xx, 204, 304).
    NoBody,
    /// `Content-Length: n`: complete when `n` bytes arrived.
    Length(usize),
    /// `Transfer-Encoding: chunked`: complete when the last (zero) chunk arrived.
    Chunked,
    /// Neither: the body ends when the connection closes, so a cut is only visible as a reset.
    UntilClose,
}

/// What came back. A response whose body was cut short is still returned, with `complete`
/// false and the reason in `error`.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes received (de-chunked).
    pub body: Vec<u8>,
    /// True when the body ended as framed (Content-Length reached, last chunk, or clean EOF
    /// for unframed bodies).
    pub complete: bool,
    /// Why the body is incomplete, when it is.
    pub error: Option<String>,
    /// How the body was delimited; with `complete` false it says how the cut showed (fewer
    /// bytes than `Content-Length`, no last chunk, or a reset of an unframed body).
    pub framing: Framing,
    /// Bytes of the request body written before the exchange ended (all of them unless the
    /// server answered and closed early).
    pub request_body_sent: usize,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text, for messages.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// True when the body visibly failed per HTTP framing: fewer bytes than `Content-Length`,
    /// a chunked body without its last chunk, or an unframed body ended by an error (reset)
    /// rather than a clean close.
    pub fn visibly_truncated(&self) -> bool {
        match self.framing {
            Framing::NoBody => false,
            Framing::Length(n) => self.body.len() < n,
            Framing::Chunked => !self.complete,
            Framing::UntilClose => self.error.is_some(),
        }
    }
}

/// How a request failed before any response head arrived.
#[derive(Debug)]
pub struct ClientError(pub String);

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError(e.to_string())
    }
}

/// A client that sends every request to `proxy` with an absolute URI.
#[derive(Debug, Clone)]
pub struct ProxyClient {
    /// The proxy (e.g. Squid) address.
    pub proxy: SocketAddr,
    /// Bound on the whole exchange.
    pub timeout: Duration,
    /// Local address to connect from (e.g. 127.0.0.2, standing in for a client network).
    pub source: Option<std::net::IpAddr>,
}

impl ProxyClient {
    /// A client for `proxy` with a 60 s bound per exchange.
    pub fn new(proxy: SocketAddr) -> Self {
        Self {
            proxy,
            timeout: Duration::from_secs(60),
            source: None,
        }
    }

    /// `GET url` through the proxy.
    pub fn get(&self, url: &str) -> Result<HttpResponse, ClientError> {
        check_url(url)?;
        let req = format!(
            "GET {url} HTTP/1.1\r\nHost: {}\r\nUser-Agent: bulwark-testkit\r\nConnection: close\r\n\r\n",
            host_of(url)
        );
        exchange_from(self.proxy, self.source, req.as_bytes(), &[], self.timeout)
    }

    /// `POST url` with `body` through the proxy.
    pub fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<HttpResponse, ClientError> {
        check_url(url)?;
        let req = format!(
            "POST {url} HTTP/1.1\r\nHost: {}\r\nUser-Agent: bulwark-testkit\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            host_of(url),
            body.len()
        );
        exchange_from(self.proxy, self.source, req.as_bytes(), body, self.timeout)
    }
}

/// `GET path` directly from `addr` (no proxy).
pub fn get_direct(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<HttpResponse, ClientError> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    exchange(addr, req.as_bytes(), &[], timeout)
}

/// `POST path` directly to `addr` (no proxy).
pub fn post_direct(
    addr: SocketAddr,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<HttpResponse, ClientError> {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    exchange(addr, req.as_bytes(), body, timeout)
}

/// Only `http://127.x.x.x:port/...` or `http://[::1]:port/...` URLs are allowed.
fn check_url(url: &str) -> Result<(), ClientError> {
    let host = host_of(url);
    let addr: SocketAddr = host
        .parse()
        .map_err(|_| ClientError(format!("URL {url}: host must be a loopback IP:port")))?;
    net::ensure_loopback(addr)?;
    Ok(())
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// Sends `head` + `body` to `addr` and reads one response, bounded by `timeout` overall.
pub fn exchange(
    addr: SocketAddr,
    head: &[u8],
    body: &[u8],
    timeout: Duration,
) -> Result<HttpResponse, ClientError> {
    exchange_from(addr, None, head, body, timeout)
}

/// Connects to `addr` from `source` (a loopback address) when given.
fn connect_from(
    addr: SocketAddr,
    source: Option<std::net::IpAddr>,
) -> io::Result<std::net::TcpStream> {
    let Some(src) = source else {
        return net::connect(addr, Duration::from_secs(5));
    };
    net::ensure_loopback(addr)?;
    net::ensure_loopback(SocketAddr::new(src, 0))?;
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    sock.bind(&SocketAddr::new(src, 0).into())?;
    sock.connect_timeout(&addr.into(), Duration::from_secs(5))?;
    Ok(sock.into())
}

/// [`exchange`] from a chosen local address.
pub fn exchange_from(
    addr: SocketAddr,
    source: Option<std::net::IpAddr>,
    head: &[u8],
    body: &[u8],
    timeout: Duration,
) -> Result<HttpResponse, ClientError> {
    let deadline = Instant::now() + timeout;
    let sock = connect_from(addr, source)?;
    sock.set_write_timeout(Some(timeout))?;
    (&sock).write_all(head)?;
    // The body is written by another thread while this one reads the answer: a server may
    // answer (and stop reading, or close) before the whole upload is sent; that is not an
    // error here.
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = if body.is_empty() {
        None
    } else {
        let w = sock.try_clone()?;
        let data = body.to_vec();
        let sent = std::sync::Arc::clone(&sent);
        Some(std::thread::spawn(move || -> io::Result<()> {
            let mut w = w;
            for part in data.chunks(64 * 1024) {
                w.write_all(part)?;
                sent.fetch_add(part.len(), std::sync::atomic::Ordering::Relaxed);
            }
            w.flush()
        }))
    };
    let result = read_response(&sock, deadline);
    // Unblocks the writer if the server stopped reading; then collect it.
    let _ = sock.shutdown(std::net::Shutdown::Both);
    if let Some(h) = writer {
        // Its error (the server closed first) shows as `request_body_sent`.
        let _ = h.join();
    }
    let mut resp = result?;
    resp.request_body_sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    Ok(resp)
}

/// Reads one response from `sock`, bounded by `deadline`.
fn read_response(
    sock: &std::net::TcpStream,
    deadline: Instant,
) -> Result<HttpResponse, ClientError> {
    let sock = sock.try_clone()?;
    let mut r = Reader {
        sock,
        buf: Vec::new(),
        deadline,
        eof: false,
    };
    let raw_head = r.read_head()?;
    let text = String::from_utf8_lossy(&raw_head).into_owned();
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ClientError(format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut resp = HttpResponse {
        status,
        reason,
        headers,
        body: Vec::new(),
        complete: false,
        error: None,
        framing: Framing::UntilClose,
        request_body_sent: 0,
    };
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = resp
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok());
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    resp.framing = if no_body {
        Framing::NoBody
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    let result = if no_body {
        Ok(true)
    } else if chunked {
        r.read_chunked(&mut resp.body)
    } else if let Some(n) = length {
        r.read_length(n, &mut resp.body)
    } else {
        r.read_to_eof(&mut resp.body)
    };
    match result {
        Ok(done) => {
            resp.complete = done;
            if !done {
                resp.error = Some("connection closed before the end of the body".into());
            }
        }
        Err(e) => resp.error = Some(e.to_string()),
    }
    Ok(resp)
}

struct Reader {
    sock: std::net::TcpStream,
    buf: Vec<u8>,
    deadline: Instant,
    eof: bool,
}

impl Reader {
    /// Reads more bytes; Ok(0) at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "overall timeout"));
        }
        self.sock.set_read_timeout(Some(left))?;
        let mut tmp = [0u8; 65536];
        let n = self.sock.read(&mut tmp)?;
        if n == 0 {
            self.eof = true;
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn read_head(&mut self) -> Result<Vec<u8>, ClientError> {
        loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..p + 4).collect();
                return Ok(head);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ClientError("response head too large".into()));
            }
            if self.fill()? == 0 {
                return Err(ClientError(format!(
                    "connection closed before a response head ({} bytes received)",
                    self.buf.len()
                )));
            }
        }
    }

    fn read_length(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            let take = self.buf.len().min(n - out.len());
            out.extend(self.buf.drain(..take));
            if out.len() == n {
                return Ok(true);
            }
            if self.fill()? == 0 {
                return Ok(false);
            }
        }
    }

    fn read_to_eof(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            out.append(&mut self.buf);
            if self.fill()? == 0 {
                return Ok(true);
            }
        }
    }

    fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..p + 2).collect();
                return Ok(Some(line[..p].to_vec()));
            }
            if self.fill()? == 0 {
                return Ok(None);
            }
        }
    }

    fn read_chunked(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        // Bounded by the overall deadline (every fill checks it) and by the chunk count.
        for _ in 0..10_000_000u32 {
            let Some(line) = self.read_line()? else {
                return Ok(false);
            };
            let text = String::from_utf8_lossy(&line);
            let size_str = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_str, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {text:?}"),
                )
            })?;
            if size == 0 {
                for _ in 0..1000 {
                    match self.read_line()? {
                        Some(l) if l.is_empty() => return Ok(true),
                        Some(_) => continue,
                        None => return Ok(false),
                    }
                }
                return Ok(false);
            }
            let target = out.len() + size;
            loop {
                let take = self.buf.len().min(target - out.len());
                out.extend(self.buf.drain(..take));
                if out.len() == target {
                    break;
                }
                if self.fill()? == 0 {
                    return Ok(false);
                }
            }
            match self.read_line()? {
                Some(l) if l.is_empty() => {}
                Some(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "missing CRLF after a chunk",
                    ))
                }
                None => return Ok(false),
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `answer` once on a loopback port, then closes (after reading the request head).
    fn serve_once(answer: &'static [u8]) -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(answer);
            }
        });
        addr
    }

    #[test]
    fn truncated_bodies_show_per_framing() {
        let t = Duration::from_secs(10);
        let cases: [(&'static [u8], Framing, bool); 4] = [
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345",
                Framing::Length(10),
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12345",
                Framing::Length(5),
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n",
                Framing::Chunked,
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n0\r\n\r\n",
                Framing::Chunked,
                false,
            ),
        ];
        for (answer, framing, cut) in cases {
            let r = get_direct(serve_once(answer), "/", t).expect("response");
            assert_eq!(r.framing, framing);
            assert_eq!(r.body, b"12345");
            assert_eq!(
                r.visibly_truncated(),
                cut,
                "{:?}",
                String::from_utf8_lossy(answer)
            );
            assert_eq!(r.complete, !cut);
        }
    }
}
