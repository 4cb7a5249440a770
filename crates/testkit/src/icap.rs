//! A tiny blocking ICAP client: OPTIONS (to wait until a server is ready) and one-shot
//! RESPMOD and REQMOD exchanges.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::{net, Error, Format, ParseError};

/// The head of an ICAP response.
#[derive(Debug, Clone)]
pub struct IcapHead {
    /// Status code (e.g. 200).
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
}

impl IcapHead {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An ICAP response head (the bytes before its blank line): status line and headers.
fn parse_head(head: &[u8]) -> Result<IcapHead, ParseError> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ParseError::new(
                Format::IcapHead,
                format!("bad ICAP status line {status_line:?}"),
            )
        })?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(IcapHead { status, headers })
}

/// Sends `OPTIONS icap://addr/service` and returns the response head.
pub fn options(addr: SocketAddr, service: &str, timeout: Duration) -> Result<IcapHead, Error> {
    let mut sock =
        net::connect(addr, timeout).map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
    let deadline = Instant::now() + timeout;
    let service = service.trim_start_matches('/');
    let req = format!(
        "OPTIONS icap://{addr}/{service} ICAP/1.0\r\nHost: {addr}\r\nEncapsulated: null-body=0\r\nConnection: close\r\n\r\n"
    );
    let sending = || format!("sending OPTIONS to {addr}");
    sock.set_write_timeout(Some(timeout))
        .map_err(|e| Error::io(sending(), e))?;
    sock.write_all(req.as_bytes())
        .map_err(|e| Error::io(sending(), e))?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let reading = || format!("reading the OPTIONS response of {addr}");
    loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(parse_head(&buf[..p])?);
        }
        if buf.len() > 64 * 1024 {
            return Err(Error::Protocol(format!(
                "{addr}: OPTIONS response head too large"
            )));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout {
                what: format!("the OPTIONS response of {addr}"),
                after: timeout,
                last: format!("{} bytes received", buf.len()),
            });
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| Error::io(reading(), e))?;
        let n = sock.read(&mut tmp).map_err(|e| Error::io(reading(), e))?;
        if n == 0 {
            return Err(Error::Protocol(format!(
                "{addr}: connection closed after {} bytes of the OPTIONS response",
                buf.len()
            )));
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// Polls OPTIONS until it answers 200 or `timeout` passes; `alive` may abort the wait.
pub fn wait_for_options(
    addr: SocketAddr,
    service: &str,
    timeout: Duration,
    mut alive: impl FnMut() -> Result<(), Error>,
) -> Result<IcapHead, Error> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        alive()?;
        match options(addr, service, Duration::from_secs(2)) {
            Ok(h) if h.status == 200 => return Ok(h),
            Ok(h) => last = format!("OPTIONS answered {}", h.status),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(Error::Timeout {
        what: format!("icap://{addr}/{service} to answer OPTIONS 200"),
        after: timeout,
        last,
    })
}

/// What a one-shot ICAP exchange got back.
#[derive(Debug, Clone)]
pub struct IcapAnswer {
    /// The ICAP head.
    pub head: IcapHead,
    /// The status of the encapsulated HTTP response, when there is one (a block page is 403).
    pub http_status: Option<u16>,
    /// Everything after the ICAP head (encapsulated heads and chunked body).
    pub rest: Vec<u8>,
}

/// Sends a RESPMOD for a download of `url` whose HTTP response carries `headers` (beside
/// `Content-Length`) and `body`, with `Connection: close`, and reads the whole answer.
pub fn respmod(
    addr: SocketAddr,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<IcapAnswer, Error> {
    let req = format!("GET {url} HTTP/1.1\r\nHost: origin\r\n\r\n");
    let mut res = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        res.push_str(&format!("{k}: {v}\r\n"));
    }
    res.push_str("\r\n");
    let head = format!(
        "RESPMOD icap://{addr}/av/respmod ICAP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\
         Encapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n{req}{res}",
        req.len(),
        req.len() + res.len()
    );
    exchange(addr, head.as_bytes(), body, timeout)
}

/// Sends a REQMOD for an upload (`POST url`) of `body`, with `Connection: close`, and reads
/// the whole answer.
pub fn reqmod(
    addr: SocketAddr,
    url: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<IcapAnswer, Error> {
    let req = format!(
        "POST {url} HTTP/1.1\r\nHost: origin\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let head = format!(
        "REQMOD icap://{addr}/av/reqmod ICAP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\
         Encapsulated: req-hdr=0, req-body={}\r\n\r\n{req}",
        req.len()
    );
    exchange(addr, head.as_bytes(), body, timeout)
}

/// Writes `head` and `body` as one chunk, reads to the end (bounded by `timeout`).
fn exchange(
    addr: SocketAddr,
    head: &[u8],
    body: &[u8],
    timeout: Duration,
) -> Result<IcapAnswer, Error> {
    let mut sock =
        net::connect(addr, timeout).map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
    let deadline = Instant::now() + timeout;
    let sending = || format!("sending the request to {addr}");
    sock.set_write_timeout(Some(timeout))
        .map_err(|e| Error::io(sending(), e))?;
    let mut msg = head.to_vec();
    if !body.is_empty() {
        msg.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        msg.extend_from_slice(body);
        msg.extend_from_slice(b"\r\n");
    }
    msg.extend_from_slice(b"0\r\n\r\n");
    sock.write_all(&msg).map_err(|e| Error::io(sending(), e))?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16384];
    let reading = || format!("reading the answer of {addr}");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout {
                what: format!("a complete answer from {addr}"),
                after: timeout,
                last: format!("{} bytes received", buf.len()),
            });
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| Error::io(reading(), e))?;
        match sock.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) => return Err(Error::io(reading(), e)),
        }
    }
    let p = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Error::Protocol(format!("{addr}: no ICAP head in {} bytes", buf.len())))?;
    let head = parse_head(&buf[..p])?;
    let rest = buf[p + 4..].to_vec();
    let start = String::from_utf8_lossy(&rest[..rest.len().min(64)]).into_owned();
    let http_status = start
        .strip_prefix("HTTP/")
        .and_then(|t| t.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    Ok(IcapAnswer {
        head,
        http_status,
        rest,
    })
}
