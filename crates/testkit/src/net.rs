//! Loopback-only networking helpers: free ports, bounded waits.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::Error;

/// Fails unless `addr` is on the loopback range (`127.0.0.0/8` or `::1`).
pub fn ensure_loopback(addr: SocketAddr) -> io::Result<()> {
    let ok = match addr.ip() {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    };
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to contact {addr}: the test harness only talks to loopback"),
        ))
    }
}

/// Picks a free TCP port on 127.0.0.1 (binds port 0, reads the port, closes the socket).
pub fn free_port() -> io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Connects to a loopback address with a timeout.
pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    ensure_loopback(addr)?;
    TcpStream::connect_timeout(&addr, timeout)
}

/// Waits until `addr` accepts a TCP connection, or `timeout` passes. `alive` is polled between
/// attempts and may abort the wait (e.g. when the child process has exited).
pub fn wait_for_port(
    addr: SocketAddr,
    timeout: Duration,
    mut alive: impl FnMut() -> Result<(), Error>,
) -> Result<(), Error> {
    ensure_loopback(addr).map_err(|e| Error::io(format!("waiting for {addr}"), e))?;
    let deadline = Instant::now() + timeout;
    loop {
        alive()?;
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(Error::Timeout {
                    what: format!("{addr} to accept"),
                    after: timeout,
                    last: e.to_string(),
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}
