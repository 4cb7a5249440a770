//! Running under systemd as the package's unit does (issue 18): `Type=notify` readiness only
//! once the server answers, `RELOADING=1`/`READY=1` around a SIGHUP, `STOPPING=1` on SIGTERM,
//! watchdog pings when `WATCHDOG_USEC` is set; and one pid file, one server.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bulwark_testkit::{icap, net};

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path, port: u16, env: &[(&str, String)]) -> Server {
    let mut cmd = Command::new(common::bulwark_bin());
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--config",
    ])
    .arg(config)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Server {
        child: cmd.spawn().expect("spawn bulwark serve"),
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill {sig} {pid}");
}

/// The next notification datagram (within `timeout`).
fn next(sock: &UnixDatagram, timeout: Duration) -> Option<String> {
    sock.set_read_timeout(Some(timeout)).ok()?;
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Notifications until one contains `want` (watchdog pings in between are collected too).
fn until(sock: &UnixDatagram, want: &str, seen: &mut Vec<String>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(m) = next(sock, Duration::from_secs(1)) {
            let hit = m.lines().any(|l| l == want);
            seen.push(m);
            if hit {
                return true;
            }
        }
    }
    false
}

#[test]
fn readiness_reload_stop_and_watchdog_are_notified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    let config = dir.path().join("bulwark.toml");
    std::fs::write(&config, "[server]\nshutdown_grace_secs = 1\n").expect("config");
    let port = net::free_port().expect("port");
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut server = start(
        &config,
        port,
        &[
            ("NOTIFY_SOCKET", sock_path.display().to_string()),
            ("WATCHDOG_USEC", "400000".to_string()),
            ("WATCHDOG_PID", String::new()),
        ],
    );
    let mut seen = Vec::new();
    assert!(until(&sock, "READY=1", &mut seen), "no READY=1: {seen:?}");
    // Ready means answering: OPTIONS succeeds at once.
    icap::options(addr, "av/respmod", Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("READY=1 sent before the server answers: {e}"));
    assert!(
        seen.iter()
            .any(|m| m.contains("STATUS=serving ICAP on 127.0.0.1:")),
        "{seen:?}"
    );
    // The watchdog pings at half of WATCHDOG_USEC.
    let mut pings = Vec::new();
    assert!(
        until(&sock, "WATCHDOG=1", &mut pings),
        "no watchdog ping: {pings:?}"
    );
    let pid = server.child.id();
    signal(pid, "-HUP");
    let mut reload = Vec::new();
    assert!(
        until(&sock, "RELOADING=1", &mut reload),
        "no RELOADING=1: {reload:?}"
    );
    assert!(
        until(&sock, "READY=1", &mut reload),
        "no READY=1 after the reload: {reload:?}"
    );
    signal(pid, "-TERM");
    let mut stop = Vec::new();
    assert!(
        until(&sock, "STOPPING=1", &mut stop),
        "no STOPPING=1: {stop:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = server.child.try_wait().ok().flatten();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let mut err = String::new();
    if let Some(mut e) = server.child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(err.contains("SIGHUP received"), "SIGHUP not logged:\n{err}");
}

#[test]
fn a_second_server_does_not_take_over_or_delete_the_pid_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bulwark.toml");
    let pid_file = dir.path().join("bulwark.pid");
    std::fs::write(
        &config,
        format!(
            "[control]\npid_file = \"{}\"\nsocket = \"{}\"\n",
            pid_file.display(),
            dir.path().join("control.sock").display()
        ),
    )
    .expect("config");
    let port = net::free_port().expect("port");
    let first = start(&config, port, &[]);
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    icap::wait_for_options(addr, "av/respmod", Duration::from_secs(30), || Ok(()))
        .expect("first server answers");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pid_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let first_pid = first.child.id().to_string();
    // A second server with the same configuration (another port): it serves, without the
    // pid file, and says why.
    let port2 = net::free_port().expect("port");
    let mut second = start(&config, port2, &[]);
    let addr2 = format!("127.0.0.1:{port2}").parse().expect("addr");
    icap::wait_for_options(addr2, "av/respmod", Duration::from_secs(30), || Ok(()))
        .expect("second server answers");
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("pid file").trim(),
        first_pid,
        "the pid file no longer names the first server"
    );
    let _ = second.child.kill();
    let _ = second.child.wait();
    let mut err = String::new();
    if let Some(mut e) = second.child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        err.contains(&format!("another Bulwark (pid {first_pid}) owns it")),
        "{err}"
    );
    // The second one's exit did not delete the first one's file.
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("pid file").trim(),
        first_pid
    );
    drop(first);
    // A stale file (its process gone) is taken over.
    std::fs::write(&pid_file, "999999999\n").expect("stale pid");
    let third = start(&config, port, &[]);
    icap::wait_for_options(addr, "av/respmod", Duration::from_secs(30), || Ok(()))
        .expect("third server answers");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&pid_file)
        .unwrap_or_default()
        .trim()
        != third.child.id().to_string()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("pid file").trim(),
        third.child.id().to_string()
    );
}
