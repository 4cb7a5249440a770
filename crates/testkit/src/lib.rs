//! Bulwark's end-to-end test harness.
//!
//! Every helper here starts a REAL process (or an in-process tokio server) on a loopback port
//! chosen at run time, and stops it on `Drop`:
//!
//! * [`origin::Origin`]: an HTTP/1.1 origin server (in-process, tokio) with deterministic bodies,
//!   chunked answers, EICAR at chosen offsets, slow bodies and an upload sink;
//! * [`squid::Squid`]: Squid with its own `squid.conf` in a temporary directory, wired to an ICAP
//!   server for RESPMOD and REQMOD (or without ICAP, for benchmarks);
//! * [`bulwark::Bulwark`]: the `bulwark serve` binary;
//! * [`e2guardian::E2guardian`]: Debian's e2guardian 5.3 (a filtering proxy) with a copy of its
//!   packaged configuration in a temporary directory, its `icapscan` content scanner pointed at
//!   an ICAP server (RESPMOD only);
//! * [`haproxy::Haproxy`]: Debian's HAProxy as a layer-4 balancer (mode tcp, health checks by
//!   ICAP `OPTIONS` or `/readyz`) in front of several ICAP servers, with its own haproxy.cfg;
//! * [`cicap::CIcap`] and [`clamd::Clamd`]: the peer c-icap (echo and virus_scan services) and
//!   clamd with a small test database, for benchmarks and for validating the harness;
//! * [`redis::Redis`]: Debian's redis-server (no persistence, optional password and TLS), to
//!   pause (SIGSTOP), kill and restart under a fleet of Bulwarks;
//! * [`client`]: a minimal blocking HTTP client that goes through a proxy and tolerates
//!   truncated bodies;
//! * [`pki`]: a private CA and the leaf certificates it signs (rcgen), for TLS tests.
//!
//! Nothing here ever contacts an address outside `127.0.0.0/8` or `::1`: every address passes
//! through [`net::ensure_loopback`]. Every wait is bounded by a timeout.
//!
//! Launchers and the ICAP and syslog helpers fail with [`Error`]; the parsers with
//! [`ParseError`].

pub mod bulwark;
pub mod cicap;
pub mod clamd;
pub mod client;
pub mod e2guardian;
mod error;
pub mod haproxy;
pub mod icap;
pub mod net;
pub mod origin;
pub mod pki;
pub mod proc;
pub mod redis;
pub mod rsyslogd;
pub mod squid;
pub mod syslog;

use std::path::PathBuf;

pub use error::{Error, Format, ParseError};

/// The EICAR anti-virus test string (68 bytes), assembled at run time from two halves so that
/// this source file is not itself flagged by scanners.
pub fn eicar() -> Vec<u8> {
    let mut v = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$".to_vec();
    v.extend_from_slice(b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    v
}

/// Deterministic filler bytes: `pattern(n)[i]` depends only on `i`. The bytes are printable
/// ASCII, so they never form an EICAR string by accident (no `$`, `!`, `*`, `+`).
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(pattern_byte).collect()
}

/// The `i`-th byte of [`pattern`].
pub fn pattern_byte(i: usize) -> u8 {
    const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // Mix the position so that the bytes do not repeat with a short period.
    let x = i.wrapping_mul(2_654_435_761) ^ (i >> 7);
    ALPHABET[x % ALPHABET.len()]
}

/// Lower-case hex of `bytes` (signature bodies, digests).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    hex(&digest)
}

/// Finds an executable by name in `PATH`, then in the given fallback directories.
///
/// Returns [`Error::Missing`], naming the Debian package to install, when it is missing, so
/// that an e2e test FAILS with a useful message instead of skipping silently.
pub fn find_program(name: &str, debian_package: &str) -> Result<PathBuf, Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for d in [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ] {
        dirs.push(PathBuf::from(d));
    }
    for d in dirs {
        let candidate = d.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::Missing {
        program: name.to_string(),
        package: debian_package.to_string(),
    })
}

/// A temporary directory that other users can write to (Squid drops privileges to `proxy`
/// when started as root, and c-icap/clamd may too), removed on drop.
pub fn shared_tempdir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
    Ok(dir)
}

/// [`shared_tempdir`], failing with an [`Error::Io`] that says so.
fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, Error> {
    shared_tempdir(prefix)
        .map_err(|e| Error::io(format!("creating a temporary directory {prefix}*"), e))
}

/// [`net::free_port`], failing with an [`Error::Io`] that says so.
fn free_port() -> Result<u16, Error> {
    net::free_port().map_err(|e| Error::io("picking a free loopback port", e))
}

/// Writes `contents` to `path`, failing with an [`Error::Io`] that names the file.
fn write_file(path: &std::path::Path, contents: impl AsRef<[u8]>) -> Result<(), Error> {
    std::fs::write(path, contents).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Creates the file at `path` for a child's standard output and standard error (two handles
/// on the same file).
fn output_file(path: &std::path::Path) -> Result<(std::fs::File, std::fs::File), Error> {
    let context = || format!("creating {}", path.display());
    let out = std::fs::File::create(path).map_err(|e| Error::io(context(), e))?;
    let err = out.try_clone().map_err(|e| Error::io(context(), e))?;
    Ok((out, err))
}

/// Reads a log file for an error message, keeping at most its last `max` bytes.
pub fn tail_of_file(path: &std::path::Path, max: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(max);
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eicar_is_68_bytes_and_pattern_is_deterministic() {
        assert_eq!(eicar().len(), 68);
        assert_eq!(pattern(1000), pattern(1000));
        let p = pattern(100_000);
        assert!(!p.windows(4).any(|w| w == b"X5O!"));
    }
}
