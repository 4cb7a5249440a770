//! A tiny blocking ICAP probe: OPTIONS, used to wait until a server is ready.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::net;

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

/// Sends `OPTIONS icap://addr/service` and returns the response head.
pub fn options(addr: SocketAddr, service: &str, timeout: Duration) -> Result<IcapHead, String> {
    let mut sock = net::connect(addr, timeout).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    let service = service.trim_start_matches('/');
    let req = format!(
        "OPTIONS icap://{addr}/{service} ICAP/1.0\r\nHost: {addr}\r\nEncapsulated: null-body=0\r\nConnection: close\r\n\r\n"
    );
    sock.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    sock.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buf[..p]).into_owned();
            let mut lines = text.split("\r\n");
            let status_line = lines.next().unwrap_or("");
            let status = status_line
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad ICAP status line {status_line:?}"))?;
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            return Ok(IcapHead { status, headers });
        }
        if buf.len() > 64 * 1024 {
            return Err("OPTIONS response head too large".into());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timeout waiting for the OPTIONS response".into());
        }
        sock.set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let n = sock.read(&mut tmp).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "connection closed after {} bytes of the OPTIONS response",
                buf.len()
            ));
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// Polls OPTIONS until it answers 200 or `timeout` passes; `alive` may abort the wait.
pub fn wait_for_options(
    addr: SocketAddr,
    service: &str,
    timeout: Duration,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<IcapHead, String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        alive()?;
        match options(addr, service, Duration::from_secs(2)) {
            Ok(h) if h.status == 200 => return Ok(h),
            Ok(h) => last = format!("OPTIONS answered {}", h.status),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(format!(
        "icap://{addr}/{service} did not answer OPTIONS 200 within {timeout:?}: {last}"
    ))
}
