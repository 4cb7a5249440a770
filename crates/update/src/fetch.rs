//! Getting files from a source: an HTTP(S) mirror (through a proxy if configured, with
//! timeouts and retries) or a local directory. Everything fetched is treated as hostile: sizes
//! are capped while reading and names are checked before use.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{FetchError, ProxyError, SourceError};

/// What kind of layout a source has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Bulwark's: `bulwark-db.index` and the files it lists.
    Bulwark,
    /// ClamAV's: `main.cvd`, `daily.cvd`, `bytecode.cvd`.
    ClamAv,
}

/// Where files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An `http://` or `https://` base URL (no trailing slash).
    Http(String),
    /// A local directory.
    Dir(PathBuf),
}

impl Location {
    /// The location for the log (credentials removed).
    pub fn display(&self) -> String {
        match self {
            Location::Http(u) => redact(u),
            Location::Dir(p) => p.display().to_string(),
        }
    }
}

/// One configured update source, as written: its layout and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// Its layout.
    pub layout: Layout,
    /// Where it is.
    pub location: Location,
}

impl SourceSpec {
    /// Parses a source as written in the configuration or on the command line: a URL, a
    /// `file://` URL or a path, optionally prefixed `clamav:`.
    pub fn parse(text: &str) -> Result<SourceSpec, SourceError> {
        let (layout, rest) = match text.strip_prefix("clamav:") {
            Some(r) => (Layout::ClamAv, r),
            None => (Layout::Bulwark, text),
        };
        let lower = rest.to_ascii_lowercase();
        let location = if lower.starts_with("http://") || lower.starts_with("https://") {
            Location::Http(rest.trim_end_matches('/').to_string())
        } else if let Some(p) = rest.strip_prefix("file://") {
            Location::Dir(PathBuf::from(p))
        } else if rest.contains("://") {
            return Err(SourceError::UnsupportedScheme(text.to_string()));
        } else if rest.is_empty() {
            return Err(SourceError::Empty);
        } else {
            Location::Dir(PathBuf::from(rest))
        };
        Ok(SourceSpec { layout, location })
    }

    /// The source for the log (credentials removed).
    pub fn display(&self) -> String {
        let loc = self.location.display();
        match self.layout {
            Layout::Bulwark => loc,
            Layout::ClamAv => format!("clamav:{loc}"),
        }
    }
}

/// `url` with any `user:password@` removed.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_string(),
    }
}

/// A file fetched to disk.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Bytes written.
    pub size: u64,
    /// SHA-256 of what was written.
    pub sha256: [u8; 32],
}

/// Fetches files from sources.
#[derive(Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
    retries: u32,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("retries", &self.retries)
            .finish()
    }
}

impl Fetcher {
    /// A fetcher with a per-request `timeout`, `retries` further attempts on transient
    /// failures, and an optional HTTP proxy (`http://[user:password@]host:port`).
    pub fn new(timeout: Duration, retries: u32, proxy: Option<&str>) -> Result<Self, ProxyError> {
        let proxy = match proxy {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|source| ProxyError {
                proxy: redact(p),
                source,
            })?),
            None => None,
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(30))))
            .http_status_as_error(false)
            .max_redirects(3)
            .proxy(proxy)
            .user_agent(concat!("bulwark-update/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Fetcher { agent, retries })
    }

    /// Reads `name` whole, refusing more than `limit` bytes.
    pub fn bytes(&self, loc: &Location, name: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
        self.retrying(|| {
            let mut out = Vec::new();
            let mut r = self.open(loc, name, None)?;
            copy_capped(&mut r.reader, &mut out, limit, &r.what)?;
            Ok(out)
        })
    }

    /// Reads the first `n` bytes of `name` (an HTTP range request; the rest is not read).
    pub fn head(&self, loc: &Location, name: &str, n: u64) -> Result<Vec<u8>, FetchError> {
        self.retrying(|| {
            let mut r = self.open(loc, name, Some(n))?;
            let mut out = Vec::new();
            (&mut r.reader)
                .take(n)
                .read_to_end(&mut out)
                .map_err(|e| transport(&r.what, e))?;
            Ok(out)
        })
    }

    /// Downloads `name` to `dest` (created or truncated), at most `limit` bytes, hashing it.
    pub fn to_file(
        &self,
        loc: &Location,
        name: &str,
        dest: &Path,
        limit: u64,
    ) -> Result<Fetched, FetchError> {
        self.retrying(|| {
            let mut r = self.open(loc, name, None)?;
            let io = |e| FetchError::Io {
                path: dest.into(),
                source: e,
            };
            let file = File::create(dest).map_err(io)?;
            let mut w = HashingWriter {
                inner: std::io::BufWriter::new(file),
                hash: Sha256::new(),
                size: 0,
            };
            copy_capped(&mut r.reader, &mut w, limit, &r.what)?;
            let file = w.inner.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
            Ok(Fetched {
                size: w.size,
                sha256: w.hash.finalize().into(),
            })
        })
    }

    fn retrying<T>(&self, mut f: impl FnMut() -> Result<T, FetchError>) -> Result<T, FetchError> {
        let mut attempt = 0;
        loop {
            match f() {
                Err(e) if e.is_transient() && attempt < self.retries => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "download failed; retrying");
                    std::thread::sleep(Duration::from_millis(300 * u64::from(attempt)));
                }
                other => return other,
            }
        }
    }

    fn open(&self, loc: &Location, name: &str, range: Option<u64>) -> Result<Opened, FetchError> {
        match loc {
            Location::Dir(dir) => {
                let path = dir.join(name);
                let what = path.display().to_string();
                match File::open(&path) {
                    Ok(f) => Ok(Opened {
                        reader: Box::new(f),
                        what,
                    }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Err(FetchError::NotFound(what))
                    }
                    Err(e) => Err(FetchError::Io { path, source: e }),
                }
            }
            Location::Http(base) => {
                let url = format!("{base}/{name}");
                let what = redact(&url);
                let mut req = self.agent.get(&url);
                if let Some(n) = range {
                    req = req.header("Range", format!("bytes=0-{}", n.saturating_sub(1)));
                }
                let resp = req.call().map_err(|e| FetchError::Transport {
                    url: what.clone(),
                    reason: e.to_string(),
                })?;
                let status = resp.status().as_u16();
                match status {
                    200 => {}
                    206 if range.is_some() => {}
                    404 | 410 => return Err(FetchError::NotFound(what)),
                    _ => return Err(FetchError::Status { url: what, status }),
                }
                let reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
                Ok(Opened {
                    reader: Box::new(reader),
                    what,
                })
            }
        }
    }
}

struct Opened {
    reader: Box<dyn Read + Send>,
    what: String,
}

fn transport(what: &str, e: std::io::Error) -> FetchError {
    FetchError::Transport {
        url: what.to_string(),
        reason: e.to_string(),
    }
}

/// Copies at most `limit` bytes; more is an error.
fn copy_capped(
    r: &mut dyn Read,
    w: &mut dyn Write,
    limit: u64,
    what: &str,
) -> Result<u64, FetchError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(transport(what, e)),
        };
        total += n as u64;
        if total > limit {
            return Err(FetchError::TooLarge {
                url: what.to_string(),
                limit,
            });
        }
        w.write_all(&buf[..n]).map_err(|e| FetchError::Io {
            path: PathBuf::from(what),
            source: e,
        })?;
    }
}

struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// SHA-256 and size of a local file.
pub fn hash_file(path: &Path) -> std::io::Result<Fetched> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let size = std::io::copy(&mut f, &mut h)?;
    Ok(Fetched {
        size,
        sha256: h.finalize().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        let s = SourceSpec::parse("https://u:p@mirror.example/db/").unwrap();
        assert_eq!(
            s.location,
            Location::Http("https://u:p@mirror.example/db".into())
        );
        assert_eq!(s.display(), "https://***@mirror.example/db");
        let c = SourceSpec::parse("clamav:/srv/clamav").unwrap();
        assert_eq!(c.layout, Layout::ClamAv);
        assert_eq!(c.location, Location::Dir("/srv/clamav".into()));
        assert_eq!(
            SourceSpec::parse("ftp://x"),
            Err(SourceError::UnsupportedScheme("ftp://x".into()))
        );
        assert_eq!(SourceSpec::parse("clamav:"), Err(SourceError::Empty));
        let e = Fetcher::new(Duration::from_secs(1), 0, Some("http://u:secret@[::1")).unwrap_err();
        assert!(e.proxy.starts_with("http://***@"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
        assert_eq!(
            SourceSpec::parse("file:///srv/db").unwrap().location,
            Location::Dir("/srv/db".into())
        );
    }
}
