//! Raw ICAP and HTTP exchanges: request bytes prepared once, a small response parser (status,
//! headers, `Encapsulated`, chunked bodies), and the worker loops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stats::WorkerStats;

/// Largest response head accepted.
const MAX_HEAD: usize = 128 * 1024;
/// Connection attempts per worker per second at most (a failing server must not spin us).
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// A RESPMOD request prepared once: what to send first, and what after `100 Continue`.
#[derive(Debug)]
pub struct RespmodPlan {
    /// Head, encapsulated HTTP heads, and the body (whole, or the preview part).
    pub first: Vec<u8>,
    /// The rest of the body after a `100 Continue` (None without preview or when it all fit).
    pub rest: Option<Vec<u8>>,
    /// Object size.
    pub size: usize,
}

fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    if !data.is_empty() {
        out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
}

impl RespmodPlan {
    /// Prepares `RESPMOD icap://addr/service` carrying `body` as a 200 response.
    pub fn new(
        addr: SocketAddr,
        service: &str,
        body: &[u8],
        preview: usize,
        allow_204: bool,
    ) -> Self {
        let service = service.trim_start_matches('/');
        let req_hdr = "GET /object HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: icap-load\r\n\r\n";
        let res_hdr = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut head = format!("RESPMOD icap://{addr}/{service} ICAP/1.0\r\nHost: {addr}\r\n");
        if allow_204 {
            head.push_str("Allow: 204\r\n");
        }
        if preview > 0 {
            head.push_str(&format!("Preview: {}\r\n", preview.min(body.len())));
        }
        head.push_str(&format!(
            "Encapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n",
            req_hdr.len(),
            req_hdr.len() + res_hdr.len()
        ));
        let mut first = head.into_bytes();
        first.extend_from_slice(req_hdr.as_bytes());
        first.extend_from_slice(res_hdr.as_bytes());
        let mut rest = None;
        if preview > 0 {
            let p = preview.min(body.len());
            chunk(&mut first, &body[..p]);
            if p == body.len() {
                first.extend_from_slice(b"0; ieof\r\n\r\n");
            } else {
                first.extend_from_slice(b"0\r\n\r\n");
                let mut r = Vec::with_capacity(body.len() - p + 32);
                chunk(&mut r, &body[p..]);
                r.extend_from_slice(b"0\r\n\r\n");
                rest = Some(r);
            }
        } else {
            chunk(&mut first, body);
            first.extend_from_slice(b"0\r\n\r\n");
        }
        Self {
            first,
            rest,
            size: body.len(),
        }
    }
}

/// A buffered reader over a socket half.
struct Reader<R> {
    r: R,
    buf: Vec<u8>,
    pos: usize,
}

fn err(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn new(r: R) -> Self {
        Self {
            r,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
        }
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 32 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + 64 * 1024, 0);
        let n = self.r.read(&mut self.buf[old..]).await;
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(old);
                return Err(e);
            }
        };
        self.buf.truncate(old + n);
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        Ok(())
    }

    /// Reads up to and including CRLF CRLF; returns the head text.
    async fn head(&mut self) -> std::io::Result<String> {
        loop {
            let avail = &self.buf[self.pos..];
            if let Some(p) = avail.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&avail[..p + 4]).into_owned();
                self.pos += p + 4;
                return Ok(text);
            }
            if avail.len() > MAX_HEAD {
                return Err(err("response head too large"));
            }
            self.fill().await?;
        }
    }

    async fn skip(&mut self, mut n: usize) -> std::io::Result<()> {
        while n > 0 {
            if self.pos == self.buf.len() {
                self.fill().await?;
            }
            let take = n.min(self.buf.len() - self.pos);
            self.pos += take;
            n -= take;
        }
        Ok(())
    }

    async fn line(&mut self) -> std::io::Result<String> {
        loop {
            let avail = &self.buf[self.pos..];
            if let Some(p) = avail.windows(2).position(|w| w == b"\r\n") {
                let text = String::from_utf8_lossy(&avail[..p]).into_owned();
                self.pos += p + 2;
                return Ok(text);
            }
            if avail.len() > MAX_HEAD {
                return Err(err("line too long"));
            }
            self.fill().await?;
        }
    }

    /// Reads a chunked body to its end; returns the payload length.
    async fn chunked(&mut self) -> std::io::Result<u64> {
        let mut total = 0u64;
        for _ in 0..100_000_000u64 {
            let line = self.line().await?;
            let size_str = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_str, 16)
                .map_err(|_| err(format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                // Trailers up to the empty line.
                for _ in 0..1000 {
                    if self.line().await?.is_empty() {
                        return Ok(total);
                    }
                }
                return Err(err("too many trailer lines"));
            }
            self.skip(size).await?;
            total += size as u64;
            if !self.line().await?.is_empty() {
                return Err(err("missing CRLF after a chunk"));
            }
        }
        Err(err("too many chunks"))
    }
}

/// Status code and headers of a head.
fn parse_head(text: &str) -> std::io::Result<(u16, Vec<(String, String)>)> {
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers))
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Reads the rest of a final ICAP response after its head: the encapsulated HTTP heads and the
/// chunked body. Returns body bytes.
async fn icap_body<R: AsyncRead + Unpin>(
    rd: &mut Reader<R>,
    headers: &[(String, String)],
) -> std::io::Result<u64> {
    let Some(enc) = header(headers, "encapsulated") else {
        return Ok(0);
    };
    // The last entry is the body (or null-body); its offset is the size of the heads before it.
    let last = enc
        .split(',')
        .next_back()
        .ok_or_else(|| err("empty Encapsulated"))?;
    let (name, off) = last
        .trim()
        .split_once('=')
        .ok_or_else(|| err(format!("bad Encapsulated {enc:?}")))?;
    let off: usize = off
        .trim()
        .parse()
        .map_err(|_| err(format!("bad Encapsulated offset {enc:?}")))?;
    rd.skip(off).await?;
    if name.trim().ends_with("-body") && name.trim() != "null-body" {
        rd.chunked().await
    } else {
        Ok(0)
    }
}

/// Sends one RESPMOD and reads the final answer. Returns (status, body bytes, keep-alive).
async fn respmod_once(
    sock: &mut TcpStream,
    plan: &RespmodPlan,
) -> std::io::Result<(u16, u64, bool)> {
    let (r, mut w) = sock.split();
    let mut rd = Reader::new(r);
    // Write the first part while reading: a streaming server may answer before it has read it.
    let write_first = async {
        w.write_all(&plan.first).await?;
        Ok::<_, std::io::Error>(w)
    };
    let read_first = async {
        let text = rd.head().await?;
        parse_head(&text)
    };
    let (wres, rres) = tokio::join!(write_first, read_first);
    let mut w = wres?;
    let (mut status, mut headers) = rres?;
    if status == 100 {
        let rest = plan
            .rest
            .as_deref()
            .ok_or_else(|| err("100 Continue after the whole body (ieof)"))?;
        let write_rest = w.write_all(rest);
        let read_final = async {
            let text = rd.head().await?;
            parse_head(&text)
        };
        let (wres, rres) = tokio::join!(write_rest, read_final);
        (status, headers) = rres?;
        // A server that answered early may close without reading the rest.
        if wres.is_err() && header(&headers, "connection") != Some("close") {
            wres?;
        }
    }
    let body = match status {
        200 | 206 => icap_body(&mut rd, &headers).await?,
        204 => 0,
        other => {
            // Read what the server says and report it.
            icap_body(&mut rd, &headers).await.unwrap_or(0);
            return Err(err(format!("ICAP status {other}")));
        }
    };
    if rd.pos != rd.buf.len() {
        return Err(err("unexpected bytes after the response"));
    }
    let keep = !header(&headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    Ok((status, body, keep))
}

/// One RESPMOD worker: a persistent connection, requests back to back until `deadline`.
pub async fn respmod_worker(
    plan: Arc<RespmodPlan>,
    deadline: Instant,
    timeout: Duration,
) -> WorkerStats {
    let addr = plan_addr(&plan);
    let mut st = WorkerStats::default();
    let mut conn: Option<TcpStream> = None;
    while Instant::now() < deadline {
        if conn.is_none() {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    conn = Some(s);
                }
                Ok(Err(e)) => {
                    st.errors += 1;
                    st.note_error(format!("connect: {e}"));
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
                Err(_) => {
                    st.errors += 1;
                    st.note_error("connect timeout".into());
                    continue;
                }
            }
        }
        let Some(sock) = conn.as_mut() else { continue };
        let t0 = Instant::now();
        match tokio::time::timeout(timeout, respmod_once(sock, &plan)).await {
            Ok(Ok((status, body, keep))) => {
                st.latencies_us
                    .push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                st.count_status(status);
                st.body_bytes += body;
                st.bytes += plan.size as u64 + body;
                if !keep {
                    conn = None;
                }
            }
            Ok(Err(e)) => {
                st.errors += 1;
                st.note_error(e.to_string());
                conn = None;
            }
            Err(_) => {
                st.errors += 1;
                st.note_error(format!("request timeout ({timeout:?})"));
                conn = None;
            }
        }
    }
    st
}

/// The address in the plan's request line (`RESPMOD icap://ADDR/...`).
fn plan_addr(plan: &RespmodPlan) -> SocketAddr {
    let text = String::from_utf8_lossy(&plan.first[..plan.first.len().min(200)]).into_owned();
    text.split("icap://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 1344)))
}

/// Sends one GET through the proxy; returns (status, body bytes, keep-alive).
async fn http_once(sock: &mut TcpStream, request: &[u8]) -> std::io::Result<(u16, u64, bool)> {
    let (r, mut w) = sock.split();
    let mut rd = Reader::new(r);
    w.write_all(request).await?;
    let text = rd.head().await?;
    let (status, headers) = parse_head(&text)?;
    let body = if header(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        rd.chunked().await?
    } else if let Some(n) = header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok())
    {
        rd.skip(n).await?;
        n as u64
    } else {
        return Err(err("response without length (cannot keep the connection)"));
    };
    let keep = !header(&headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    if status != 200 {
        return Err(err(format!("HTTP status {status}")));
    }
    Ok((status, body, keep))
}

/// One HTTP worker through a proxy, keep-alive, until `deadline`.
pub async fn http_worker(
    proxy: SocketAddr,
    request: Arc<Vec<u8>>,
    deadline: Instant,
    timeout: Duration,
) -> WorkerStats {
    let mut st = WorkerStats::default();
    let mut conn: Option<TcpStream> = None;
    while Instant::now() < deadline {
        if conn.is_none() {
            match tokio::time::timeout(timeout, TcpStream::connect(proxy)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    conn = Some(s);
                }
                _ => {
                    st.errors += 1;
                    st.note_error("connect to the proxy failed".into());
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            }
        }
        let Some(sock) = conn.as_mut() else { continue };
        let t0 = Instant::now();
        match tokio::time::timeout(timeout, http_once(sock, &request)).await {
            Ok(Ok((status, body, keep))) => {
                st.latencies_us
                    .push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                st.count_status(status);
                st.body_bytes += body;
                st.bytes += body;
                if !keep {
                    conn = None;
                }
            }
            Ok(Err(e)) => {
                st.errors += 1;
                st.note_error(e.to_string());
                conn = None;
            }
            Err(_) => {
                st.errors += 1;
                st.note_error(format!("request timeout ({timeout:?})"));
                conn = None;
            }
        }
    }
    st
}

/// Opens a connection and (unless `silent`) completes one OPTIONS on it, leaving it open.
pub async fn open_idle(
    addr: SocketAddr,
    service: &str,
    silent: bool,
) -> std::io::Result<TcpStream> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .map_err(|_| err("connect timeout"))??;
    if silent {
        return Ok(s);
    }
    let req = format!(
        "OPTIONS icap://{addr}/{} ICAP/1.0\r\nHost: {addr}\r\nEncapsulated: null-body=0\r\n\r\n",
        service.trim_start_matches('/')
    );
    s.write_all(req.as_bytes()).await?;
    let (r, _w) = s.split();
    let mut rd = Reader::new(r);
    let text = tokio::time::timeout(Duration::from_secs(5), rd.head())
        .await
        .map_err(|_| err("OPTIONS timeout"))??;
    let (status, _) = parse_head(&text)?;
    if status != 200 {
        return Err(err(format!("OPTIONS status {status}")));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 1344))
    }

    #[test]
    fn plan_without_preview_is_one_chunked_message() {
        let p = RespmodPlan::new(addr(), "av/respmod", b"hello", 0, false);
        let text = String::from_utf8_lossy(&p.first).into_owned();
        assert!(text.starts_with("RESPMOD icap://127.0.0.1:1344/av/respmod ICAP/1.0\r\n"));
        assert!(!text.contains("Preview:") && !text.contains("Allow:"));
        assert!(text.ends_with("5\r\nhello\r\n0\r\n\r\n"));
        assert!(p.rest.is_none());
        // Encapsulated offsets point at the heads and the body.
        let enc = text
            .lines()
            .find_map(|l| l.strip_prefix("Encapsulated: "))
            .expect("Encapsulated");
        let body_off: usize = enc
            .rsplit("res-body=")
            .next()
            .and_then(|v| v.trim().parse().ok())
            .expect("offset");
        let start = text.find("\r\n\r\n").expect("end of ICAP head") + 4;
        assert!(text[start + body_off..].starts_with("5\r\nhello"));
    }

    #[test]
    fn plan_with_preview_splits_or_sends_ieof() {
        let p = RespmodPlan::new(addr(), "echo", b"0123456789", 4, true);
        let text = String::from_utf8_lossy(&p.first).into_owned();
        assert!(text.contains("Preview: 4\r\n") && text.contains("Allow: 204\r\n"));
        assert!(text.ends_with("4\r\n0123\r\n0\r\n\r\n"));
        assert_eq!(p.rest.as_deref(), Some(&b"6\r\n456789\r\n0\r\n\r\n"[..]));
        let p = RespmodPlan::new(addr(), "echo", b"abc", 4, false);
        assert!(p.first.ends_with(b"3\r\nabc\r\n0; ieof\r\n\r\n"));
        assert!(p.rest.is_none());
    }

    #[tokio::test]
    async fn parses_a_200_with_chunked_body_and_extensions() {
        let resp: &[u8] = b"ICAP/1.0 200 OK\r\nISTag: \"x\"\r\nEncapsulated: res-hdr=0, res-body=19\r\n\r\nHTTP/1.1 200 OK\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0; use-original-body=5\r\n\r\n";
        let mut rd = Reader::new(resp);
        let (status, headers) = parse_head(&rd.head().await.expect("head")).expect("parse");
        assert_eq!(status, 200);
        assert_eq!(icap_body(&mut rd, &headers).await.expect("body"), 5);
        assert_eq!(rd.pos, rd.buf.len());
    }

    #[tokio::test]
    async fn truncated_body_is_an_error() {
        let resp: &[u8] =
            b"ICAP/1.0 200 OK\r\nEncapsulated: res-hdr=0, res-body=19\r\n\r\nHTTP/1.1 200 OK\r\n\r\n10\r\nabc";
        let mut rd = Reader::new(resp);
        let (_, headers) = parse_head(&rd.head().await.expect("head")).expect("parse");
        assert!(icap_body(&mut rd, &headers).await.is_err());
    }
}
