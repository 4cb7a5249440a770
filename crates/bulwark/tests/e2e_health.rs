//! Health checks for a load balancer (issue 20): `/healthz` (alive) and `/readyz` (ready for
//! work) on the metrics listener; `/readyz` turns `503 draining` as soon as SIGTERM starts the
//! drain, while a transaction in flight is still being finished, so a balancer stops sending
//! work before the grace period ends.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::client::get_direct;

#[test]
fn readiness_follows_the_drain() {
    let port = bulwark_testkit::net::free_port().expect("port");
    let mut bulwark = Bulwark::start_with_config(
        common::bulwark_bin(),
        Some(&format!(
            "[server]\nshutdown_grace_secs = 8\n[metrics]\nlisten = [\"127.0.0.1:{port}\"]\n"
        )),
    )
    .unwrap_or_else(|e| panic!("starting bulwark: {e}"));
    let metrics = format!("127.0.0.1:{port}").parse().expect("addr");
    let get = |path: &str| get_direct(metrics, path, Duration::from_secs(5));
    let alive = get("/healthz").expect("healthz");
    assert_eq!((alive.status, alive.body_text().trim()), (200, "alive"));
    let ready = get("/readyz").expect("readyz");
    assert_eq!(ready.status, 200, "{}", ready.body_text());
    assert!(ready
        .body_text()
        .starts_with("ready: database builtin-1, ISTag \"BW-"));

    // A transaction in flight: a RESPMOD whose body never ends.
    let addr = bulwark.addr();
    let mut icap = TcpStream::connect(addr).expect("connect");
    let res = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n";
    let head = format!(
        "RESPMOD icap://{addr}/av/respmod ICAP/1.0\r\nHost: {addr}\r\nEncapsulated: res-hdr=0, \
         res-body={}\r\n\r\n{res}",
        res.len()
    );
    icap.write_all(head.as_bytes()).expect("head");
    icap.write_all(b"400\r\n").expect("chunk size");
    icap.write_all(&[b'a'; 1024]).expect("chunk data");
    std::thread::sleep(Duration::from_millis(300));

    let ok = Command::new("kill")
        .args(["-TERM", &bulwark.pid().to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -TERM");
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut seen = None;
    while Instant::now() < deadline {
        if let Ok(r) = get("/readyz") {
            if r.status == 503 {
                seen = Some(r.body_text());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let body = seen.expect("/readyz never said 503 during the drain");
    assert!(body.starts_with("draining"), "{body}");
    // Still alive while draining.
    assert_eq!(get("/healthz").expect("healthz while draining").status, 200);
    drop(icap);
    let status = bulwark.stop(Duration::from_secs(15));
    assert!(status.is_some(), "the server did not exit");
}
