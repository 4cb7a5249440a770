//! Syslog receivers on loopback ports chosen at run time (UDP; TCP with RFC 6587 octet
//! counting, every frame checked) and strict parsers for what they receive (RFC 5424 with its
//! structured data, ArcSight CEF with its escapes). Debian's rsyslogd, a receiver nobody here
//! wrote, is in [`crate::rsyslogd`].

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{Error, Format, ParseError};

/// Messages received so far, and framing errors seen.
#[derive(Debug, Default)]
struct Inbox {
    messages: Vec<String>,
    errors: Vec<String>,
}

fn wait_for(
    inbox: &Arc<Mutex<Inbox>>,
    timeout: Duration,
    done: impl Fn(&[String]) -> bool,
) -> Result<Vec<String>, Error> {
    let until = Instant::now() + timeout;
    loop {
        {
            // A receiving thread that panicked left whole messages behind: keep reading them.
            let g = inbox
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(e) = g.errors.first() {
                return Err(Error::Protocol(format!("framing error: {e}")));
            }
            if done(&g.messages) {
                return Ok(g.messages.clone());
            }
            if Instant::now() >= until {
                return Err(Error::Timeout {
                    what: "the expected syslog messages".into(),
                    after: timeout,
                    last: format!("{} message(s): {:#?}", g.messages.len(), g.messages),
                });
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A UDP receiver on `127.0.0.1:<free>`: one message per datagram.
#[derive(Debug)]
pub struct UdpReceiver {
    addr: SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
}

impl UdpReceiver {
    /// Binds `127.0.0.1:0` and receives in a background thread (for the test's life).
    pub fn start() -> std::io::Result<Self> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        let addr = sock.local_addr()?;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let shared = inbox.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 70_000];
            while let Ok(n) = sock.recv(&mut buf) {
                if let Ok(mut g) = shared.lock() {
                    match String::from_utf8(buf[..n].to_vec()) {
                        Ok(m) => g.messages.push(m),
                        Err(e) => g.errors.push(format!("not UTF-8: {e}")),
                    }
                }
            }
        });
        Ok(Self { addr, inbox })
    }

    /// The address to send to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until `done` holds for the messages received (or `timeout`).
    pub fn wait(
        &self,
        timeout: Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> Result<Vec<String>, Error> {
        wait_for(&self.inbox, timeout, done)
    }
}

/// A TCP receiver on `127.0.0.1:<free>` that reads RFC 6587 octet-counted frames
/// (`LEN SP MSG`) and records any byte stream that is not exactly that.
#[derive(Debug)]
pub struct TcpReceiver {
    addr: SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
    stopped: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

/// Reads frames from one connection until it closes.
fn read_frames(stream: std::net::TcpStream, inbox: &Arc<Mutex<Inbox>>) {
    let mut r = BufReader::new(stream);
    loop {
        let mut len = Vec::new();
        match r.read_until(b' ', &mut len) {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => return,
        }
        let push_err = |e: String| {
            if let Ok(mut g) = inbox.lock() {
                g.errors.push(e);
            }
        };
        let Some(digits) = len.strip_suffix(b" ") else {
            push_err(format!("stream ended inside a length: {len:?}"));
            return;
        };
        let text = String::from_utf8_lossy(digits).to_string();
        if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
            push_err(format!("not an octet count: {text:?}"));
            return;
        }
        let Ok(n) = text.parse::<usize>() else {
            push_err(format!("octet count too large: {text}"));
            return;
        };
        let mut msg = vec![0u8; n];
        if let Err(e) = r.read_exact(&mut msg) {
            push_err(format!("frame of {n} bytes cut short: {e}"));
            return;
        }
        if let Ok(mut g) = inbox.lock() {
            match String::from_utf8(msg) {
                Ok(m) => g.messages.push(m),
                Err(e) => g.errors.push(format!("not UTF-8: {e}")),
            }
        }
    }
}

impl TcpReceiver {
    /// Listens on `127.0.0.1:0` and accepts connections in a background thread.
    pub fn start() -> std::io::Result<Self> {
        Self::on(TcpListener::bind("127.0.0.1:0")?)
    }

    /// Receives on `listener`.
    pub fn on(listener: TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (shared, stop, open) = (inbox.clone(), stopped.clone(), conns.clone());
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { return };
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                if let (Ok(c), Ok(mut g)) = (s.try_clone(), open.lock()) {
                    g.push(c);
                }
                let inbox = shared.clone();
                std::thread::spawn(move || read_frames(s, &inbox));
            }
        });
        Ok(Self {
            addr,
            inbox,
            stopped,
            conns,
        })
    }

    /// Stops as a restarted receiver does: the listening socket and every connection close.
    pub fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop, which then drops the listener.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Ok(mut g) = self.conns.lock() {
            for c in g.drain(..) {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until `done` holds for the messages received (or `timeout`); a framing error
    /// fails at once.
    pub fn wait(
        &self,
        timeout: Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> Result<Vec<String>, Error> {
        wait_for(&self.inbox, timeout, done)
    }
}

/// An RFC 5424 message, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc5424 {
    /// PRI: facility × 8 + severity.
    pub pri: u8,
    /// TIMESTAMP.
    pub timestamp: String,
    /// HOSTNAME.
    pub hostname: String,
    /// APP-NAME.
    pub app_name: String,
    /// PROCID.
    pub procid: String,
    /// MSGID.
    pub msgid: String,
    /// SD-ELEMENTs: the SD-ID and its parameters, unescaped, in order.
    pub sd: Vec<(String, Vec<(String, String)>)>,
    /// MSG (empty when absent).
    pub msg: String,
}

impl Rfc5424 {
    /// The values of parameter `name` in SD-ELEMENT `id`.
    pub fn params(&self, id: &str, name: &str) -> Vec<&str> {
        self.sd
            .iter()
            .filter(|(i, _)| i == id)
            .flat_map(|(_, ps)| ps.iter())
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first value of `name` in SD-ELEMENT `id`.
    pub fn param(&self, id: &str, name: &str) -> Option<&str> {
        self.params(id, name).first().copied()
    }
}

/// A [`ParseError`] of an RFC 5424 message.
fn rfc(reason: impl Into<String>) -> ParseError {
    ParseError::new(Format::Rfc5424, reason)
}

/// A [`ParseError`] of a CEF line.
fn cef(reason: impl Into<String>) -> ParseError {
    ParseError::new(Format::Cef, reason)
}

/// Checks an SD-ID or PARAM-NAME (RFC 5424 §6.3.2, §6.3.3).
fn sd_name(s: &str) -> Result<(), ParseError> {
    if s.is_empty() || s.len() > 32 {
        return Err(rfc(format!("SD name of {} characters: {s:?}", s.len())));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '=' | ']' | '"'))
    {
        return Err(rfc(format!("{c:?} in SD name {s:?}")));
    }
    Ok(())
}

/// Parses one RFC 5424 message strictly (§6): header fields, structured data with its escapes
/// (`\"`, `\\`, `\]`), the message.
pub fn parse_rfc5424(m: &str) -> Result<Rfc5424, ParseError> {
    let rest = m.strip_prefix('<').ok_or_else(|| rfc("no <PRI>"))?;
    let (pri, rest) = rest.split_once('>').ok_or_else(|| rfc("no > after PRI"))?;
    let pri: u8 = pri.parse().map_err(|_| rfc(format!("PRI {pri:?}")))?;
    if pri > 191 {
        return Err(rfc(format!("PRI {pri} out of range")));
    }
    let rest = rest
        .strip_prefix("1 ")
        .ok_or_else(|| rfc("VERSION is not 1"))?;
    let mut parts = rest.splitn(6, ' ');
    let mut next = |what: &str| parts.next().ok_or_else(|| rfc(format!("no {what}")));
    let timestamp = next("TIMESTAMP")?.to_string();
    let hostname = next("HOSTNAME")?.to_string();
    let app_name = next("APP-NAME")?.to_string();
    let procid = next("PROCID")?.to_string();
    let msgid = next("MSGID")?.to_string();
    let mut rest = next("STRUCTURED-DATA")?;
    for (what, v, max) in [
        ("HOSTNAME", &hostname, 255),
        ("APP-NAME", &app_name, 48),
        ("PROCID", &procid, 128),
        ("MSGID", &msgid, 32),
    ] {
        if v.is_empty() || v.len() > max || !v.bytes().all(|b| (33..=126).contains(&b)) {
            return Err(rfc(format!("{what} {v:?}")));
        }
    }
    check_timestamp(&timestamp)?;
    let mut sd = Vec::new();
    if let Some(r) = rest.strip_prefix('-') {
        rest = r;
    } else {
        while let Some(r) = rest.strip_prefix('[') {
            let (id, r) = r.split_at(
                r.find([' ', ']'])
                    .ok_or_else(|| rfc("SD-ELEMENT not closed"))?,
            );
            sd_name(id)?;
            let mut params = Vec::new();
            let mut r = r;
            while let Some(p) = r.strip_prefix(' ') {
                let (name, p) = p
                    .split_once("=\"")
                    .ok_or_else(|| rfc("SD-PARAM without =\""))?;
                sd_name(name)?;
                let mut value = String::new();
                let mut chars = p.char_indices();
                let end = loop {
                    match chars.next() {
                        None => return Err(rfc("PARAM-VALUE not closed")),
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, c @ ('"' | '\\' | ']'))) => value.push(c),
                            Some((_, c)) => {
                                value.push('\\');
                                value.push(c);
                            }
                            None => return Err(rfc("PARAM-VALUE ends in \\")),
                        },
                        Some((_, ']')) => return Err(rfc("unescaped ] in PARAM-VALUE")),
                        Some((_, c)) => value.push(c),
                    }
                };
                params.push((name.to_string(), value));
                r = &p[end + 1..];
            }
            rest = r
                .strip_prefix(']')
                .ok_or_else(|| rfc("SD-ELEMENT not closed by ]"))?;
            sd.push((id.to_string(), params));
        }
        if sd.is_empty() {
            return Err(rfc("STRUCTURED-DATA is neither - nor ["));
        }
    }
    let msg = match rest {
        "" => String::new(),
        r => r
            .strip_prefix(' ')
            .ok_or_else(|| rfc("no space before MSG"))?
            .to_string(),
    };
    Ok(Rfc5424 {
        pri,
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        sd,
        msg,
    })
}

/// `YYYY-MM-DDThh:mm:ss[.1-6 digits](Z|±hh:mm)` (RFC 5424 §6.2.3).
fn check_timestamp(t: &str) -> Result<(), ParseError> {
    let bad = || rfc(format!("TIMESTAMP {t:?}"));
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return Err(bad());
    }
    let (mut i, digits) = (19, |r: &[u8]| r.iter().all(u8::is_ascii_digit));
    if !digits(&b[..4]) || !digits(&b[17..19]) {
        return Err(bad());
    }
    if b[i] == b'.' {
        let n = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=6).contains(&n) {
            return Err(bad());
        }
        i += 1 + n;
    }
    match &t[i..] {
        "Z" => Ok(()),
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) => Ok(()),
        _ => Err(bad()),
    }
}

/// A CEF line, split and unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cef {
    /// The seven header fields after `CEF:0`: vendor, product, version, signature id, name,
    /// severity — unescaped.
    pub header: Vec<String>,
    /// The extension's `key=value` pairs, unescaped, in order.
    pub ext: Vec<(String, String)>,
}

impl Cef {
    /// The value of extension key `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.ext
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the custom field labelled `label` (`cs1Label=group` → `cs1`'s value).
    pub fn labelled(&self, label: &str) -> Option<&str> {
        let (k, _) = self
            .ext
            .iter()
            .find(|(k, v)| k.ends_with("Label") && v == label)?;
        self.get(k.trim_end_matches("Label"))
    }
}

/// Parses a CEF line as a SIEM does: `CEF:0|` then six `|`-separated header fields (`\|`,
/// `\\` escaped), then `key=value` pairs where a value runs to the space before the next
/// unescaped `key=` and escapes `\=`, `\\`, `\n`, `\r`. An unescaped `=` inside a value, or a
/// raw line break anywhere, is an error.
pub fn parse_cef(line: &str) -> Result<Cef, ParseError> {
    if line.contains(['\n', '\r']) {
        return Err(cef("raw line break in a CEF line"));
    }
    let mut rest = line
        .strip_prefix("CEF:0|")
        .ok_or_else(|| cef("no CEF:0| prefix"))?;
    let mut header = Vec::new();
    for _ in 0..6 {
        let mut field = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(cef(format!("header ends after {} fields", header.len()))),
                Some((i, '|')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, c @ ('|' | '\\'))) => field.push(c),
                    other => return Err(cef(format!("bad header escape {other:?}"))),
                },
                Some((_, c)) => field.push(c),
            }
        };
        header.push(field);
        rest = &rest[end + 1..];
    }
    // Keys: the positions of unescaped `=` preceded by a key that follows a space (or the
    // start).
    let b = rest.as_bytes();
    let mut eqs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'=' => {
                eqs.push(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    let mut ext = Vec::new();
    let mut key_starts = Vec::new();
    for &e in &eqs {
        let start = rest[..e].rfind(' ').map(|s| s + 1).unwrap_or(0);
        let key = &rest[start..e];
        if key.is_empty() || !key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
            return Err(cef(format!("unescaped = after {:?}", &rest[..e])));
        }
        key_starts.push((start, e));
    }
    for (n, &(start, e)) in key_starts.iter().enumerate() {
        let end = match key_starts.get(n + 1) {
            Some(&(next, _)) => next.checked_sub(1).ok_or_else(|| cef("keys overlap"))?,
            None => rest.len(),
        };
        if n + 1 < key_starts.len() && rest.as_bytes().get(end) != Some(&b' ') {
            return Err(cef("no space before a key"));
        }
        let raw = &rest[e + 1..end];
        let mut v = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                v.push(c);
                continue;
            }
            match chars.next() {
                Some('\\') => v.push('\\'),
                Some('=') => v.push('='),
                Some('n') => v.push('\n'),
                Some('r') => v.push('\r'),
                other => return Err(cef(format!("bad extension escape \\{other:?}"))),
            }
        }
        ext.push((rest[start..e].to_string(), v));
    }
    Ok(Cef { header, ext })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5424_parser() {
        let m = "<165>1 2003-10-11T22:14:15.003Z host app 12 ID47 [ex@32473 a=\"x\\\"y\\]z\" \
                 b=\"1\"][x@1] text";
        let p = parse_rfc5424(m).expect("parses");
        assert_eq!((p.pri, p.msgid.as_str()), (165, "ID47"));
        assert_eq!(p.param("ex@32473", "a"), Some("x\"y]z"));
        assert_eq!(p.sd[1], ("x@1".to_string(), vec![]));
        assert_eq!(p.msg, "text");
        assert!(parse_rfc5424("<165>1 2003-10-11T22:14:15.0031234Z h a p m -").is_err());
        assert!(parse_rfc5424("<165>1 2003-10-11T22:14:15Z h a p m [x a=\"]\"]").is_err());
    }

    #[test]
    fn cef_parser() {
        let c = parse_cef("CEF:0|V|P|1|sig\\|x|name|5|a=1 b=x\\=y z c=p\\\\q\\n").expect("cef");
        assert_eq!(c.header[3], "sig|x");
        assert_eq!(c.get("b"), Some("x=y z"));
        assert_eq!(c.get("c"), Some("p\\q\n"));
        assert!(parse_cef("CEF:0|V|P|1|s|n|5|a=x=y").is_err());
    }
}
