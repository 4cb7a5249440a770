//! One client can never starve the others (issue 22, item 3): 2,000 idle connections and 500
//! slowloris connections (a byte now and then, never a whole head) against the default
//! connection limit (1,024), while a well-behaved client keeps getting answers in under a
//! second; the slowloris connections get `408` once the head deadline passes.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::icap;

const IDLE: usize = 2000;
const SLOW: usize = 500;
const HEAD_TIMEOUT_SECS: u64 = 4;

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()
}

/// The soft limit on open files of this process.
fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn idle_and_slowloris_connections_do_not_lock_out_a_good_client() {
    let need = (IDLE + SLOW + 256) as u64;
    if open_files_limit() < need {
        eprintln!(
            "skipped: {need} open files needed, the limit is {} (`.ci/run` raises it with ulimit -n)",
            open_files_limit()
        );
        return;
    }
    let config = format!("[server]\nhead_timeout_secs = {HEAD_TIMEOUT_SECS}\n");
    let bulwark = Bulwark::start_with_config(common::bulwark_bin(), Some(&config))
        .unwrap_or_else(|e| panic!("starting bulwark: {e}"));
    let addr = bulwark.addr();

    // Slowloris first: each starts a head and then sends one byte at a time.
    let head = format!("OPTIONS icap://{addr}/av/respmod ICAP/1.0\r\nHost: x\r\n");
    let mut slow: Vec<TcpStream> = (0..SLOW).filter_map(|_| connect(addr)).collect();
    for s in &mut slow {
        let _ = s.write_all(&head.as_bytes()[..10]);
        let _ = s.set_nonblocking(true);
    }
    // Then 2,000 connections that send nothing at all.
    let idle: Vec<TcpStream> = (0..IDLE).filter_map(|_| connect(addr)).collect();
    assert!(
        slow.len() == SLOW && idle.len() == IDLE,
        "could not open the connections: {} slow, {} idle",
        slow.len(),
        idle.len()
    );

    // A well-behaved client, on fresh connections, while the slowloris trickle on.
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    let mut answered = 0;
    let mut sent = 10usize;
    while started.elapsed() < Duration::from_secs(HEAD_TIMEOUT_SECS + 3) {
        let t0 = Instant::now();
        let r = icap::options(addr, "av/respmod", Duration::from_secs(5));
        let took = t0.elapsed();
        worst = worst.max(took);
        let status = r.as_ref().map(|h| h.status).ok();
        assert_eq!(
            status,
            Some(200),
            "a good client got no 200 after {took:?} ({answered} answered before): {:?}\n{}",
            r.err(),
            bulwark
                .log()
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .join("\n")
        );
        answered += 1;
        // One more byte on every slowloris connection (a byte per ~200 ms each).
        for s in &mut slow {
            if sent < head.len() {
                let _ = s.write_all(&head.as_bytes()[sent..sent + 1]);
            }
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        worst < Duration::from_secs(1),
        "the slowest answer to the good client took {worst:?}"
    );

    // The head deadline has passed for every slowloris connection: each got 408 and was closed.
    let mut got_408 = 0;
    for s in &mut slow {
        let _ = s.set_nonblocking(false);
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        if buf.starts_with(b"ICAP/1.0 408") {
            got_408 += 1;
        }
    }
    assert_eq!(
        got_408, SLOW,
        "only {got_408} of {SLOW} slowloris connections got 408 after the head deadline"
    );
    eprintln!(
        "good client: {answered} answers, slowest {worst:?}; {got_408} slowloris got 408; {} \
         idle connections held",
        idle.len()
    );
    drop(idle);
}
