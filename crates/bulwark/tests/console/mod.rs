//! A real `bulwark serve` with its web console on, for the console's end-to-end tests: the
//! configuration (console password, token, AV statistics log), the console's address, and a
//! minimal blocking HTTP/1.1 client (plain, or HTTPS through rustls).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use bulwark_testkit::bulwark::Bulwark;

pub const PASSWORD: &str = "correct horse";
pub const TOKEN: &str = "e2e-console-token-0123456789";

/// A cheap Argon2id hash (the server is a debug build: the default cost is slow there).
pub fn cheap_hash(pw: &str) -> String {
    let params = Params::new(256, 1, 1, None).expect("params");
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
    a.hash_password(pw.as_bytes(), &salt)
        .expect("hash")
        .to_string()
}

/// A running server with its console.
pub struct ConsoleServer {
    pub bulwark: Bulwark,
    /// The console's address.
    pub base: SocketAddr,
    /// Where the AV statistics log is.
    pub av_stats: PathBuf,
    /// Beside the log (the log's directory; removed on drop).
    pub dir: tempfile::TempDir,
}

impl ConsoleServer {
    /// Starts `bulwark serve` with the console on a free port; `extra` goes at the end of the
    /// `[console]` section (more sections may follow it). Returns once the console accepts.
    pub fn start(extra: &str) -> Self {
        let s = Self::start_unchecked(extra);
        bulwark_testkit::net::wait_for_port(s.base, Duration::from_secs(20), || Ok(()))
            .unwrap_or_else(|e| panic!("{e}\n--- bulwark log ---\n{}", s.bulwark.log()));
        s
    }

    /// [`ConsoleServer::start`] without waiting for the console (which may stay off).
    pub fn start_unchecked(extra: &str) -> Self {
        let dir = bulwark_testkit::shared_tempdir("bulwark-console-").expect("tempdir");
        let port = bulwark_testkit::net::free_port().expect("free port");
        let base = SocketAddr::from(([127, 0, 0, 1], port));
        let av_stats = dir.path().join("av.stats");
        let text = format!(
            r#"# end-to-end test configuration
[log]
av_stats_file = "{}"

[console]
listen = ["{base}"]
password_hash = "{}"
token = "{TOKEN}"
sample_interval_secs = 1
{extra}
"#,
            av_stats.display(),
            cheap_hash(PASSWORD),
        );
        let bulwark = Bulwark::start_with_config(crate::common::bulwark_bin(), Some(&text))
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            bulwark,
            base,
            av_stats,
            dir,
        }
    }

    /// The configuration file the server runs with.
    pub fn config_path(&self) -> PathBuf {
        self.bulwark.dir().join("bulwark.toml")
    }

    /// One request with the bearer token.
    pub fn api(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Reply {
        let auth = format!("Bearer {TOKEN}");
        let text = body.map(|b| b.to_string());
        let mut headers = vec![("Authorization", auth.as_str())];
        if text.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        request(self.base, method, path, &headers, text.as_deref())
    }
}

/// An HTTP answer.
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

/// The request's bytes (`Connection: close`).
fn request_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\n\r\n",
        body.map_or(0, str::len)
    ));
    req.push_str(body.unwrap_or(""));
    req.into_bytes()
}

/// One HTTP/1.1 request on a fresh connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut s = bulwark_testkit::net::connect(addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(&request_bytes(addr, method, path, headers, body))
        .expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    parse_reply(&buf)
}

/// One HTTPS request on a fresh connection to `name` at `addr`, trusting only `ca_pem`.
pub fn request_tls(
    (addr, name): (SocketAddr, &str),
    ca_pem: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_pem).expect("CA file") {
        roots.add(c.expect("CA")).expect("add CA");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server = ServerName::try_from(name.to_string()).expect("name");
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), server).expect("TLS");
    let tcp: TcpStream =
        bulwark_testkit::net::connect(addr, Duration::from_secs(5)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(&request_bytes(addr, method, path, headers, body))
        .expect("send");
    let mut buf = Vec::new();
    // The server may close without close_notify; what was read is the answer.
    let _ = tls.read_to_end(&mut buf);
    parse_reply(&buf)
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

/// Splits an HTTP/1.1 answer into status, headers and (de-chunked) body.
pub fn parse_reply(buf: &[u8]) -> Reply {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(buf)));
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
