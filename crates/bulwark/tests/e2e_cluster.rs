//! A fleet sharing its caches through Redis (issue 20, SPEC F-FLEET-2): two real `bulwark
//! serve` processes and Debian's real `redis-server`, all on loopback, started here.
//!
//! - EICAR found on A is blocked on B without a scan (B's report log: `block-shared`); an upload
//!   never poisons a download, here or there.
//! - An archive scanned on A is a verdict-cache hit on B (B's log says so).
//! - Redis paused (SIGSTOP) or killed (SIGKILL) under load: every request answered, in bounded
//!   time, a warning and `bulwark_cluster_redis_up 0`; Redis back: sharing resumes.
//! - A wrong password: local caches only, requests fine; the right one (file or URL): shared.
//!
//! Skipped, with a message, when `redis-server` is not installed (`scripts/deps.sh test`).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::client::get_direct;
use bulwark_testkit::icap::{reqmod, respmod, IcapAnswer};
use bulwark_testkit::redis::{Redis, RedisOptions};
use bulwark_testkit::{eicar, pattern};

const T: Duration = Duration::from_secs(10);

fn redis_or_skip() -> Option<std::path::PathBuf> {
    let bin = Redis::find();
    if bin.is_none() {
        eprintln!("skipped: redis-server is not installed (scripts/deps.sh test installs it)");
    }
    bin
}

/// One instance of the fleet, with its metrics listener.
struct Node {
    bulwark: Bulwark,
    metrics: SocketAddr,
}

impl Node {
    /// `bulwark serve` sharing through `redis` (a URL), with `extra` lines in `[cluster]`.
    fn start(redis: &str, extra: &str) -> Node {
        let port = bulwark_testkit::net::free_port().expect("port");
        let config = format!(
            "[metrics]\nlisten = [\"127.0.0.1:{port}\"]\n[cluster]\nredis = \"{redis}\"\n{extra}\n"
        );
        let bulwark = Bulwark::start_with_config(common::bulwark_bin(), Some(&config))
            .unwrap_or_else(|e| panic!("starting bulwark: {e}"));
        Node {
            bulwark,
            metrics: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// The value of one series (`name` or `name{labels}`) on /metrics.
    fn metric(&self, series: &str) -> Option<f64> {
        let r = get_direct(self.metrics, "/metrics", T).ok()?;
        r.body_text().lines().find_map(|l| {
            let v = l.strip_prefix(series)?.strip_prefix(' ')?;
            v.trim().parse().ok()
        })
    }

    /// Waits (bounded) until `series` reaches `at_least`.
    fn wait_metric(&self, series: &str, at_least: f64, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.metric(series);
            if v.is_some_and(|v| v >= at_least) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{series} = {v:?}, expected >= {at_least} within {limit:?}\n{}",
                self.bulwark.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (bounded) until the log holds `text`.
    fn wait_log(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.bulwark.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "`{text}` not logged within {limit:?}:\n{}",
                self.bulwark.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn get(&self, url: &str, headers: &[(&str, &str)], body: &[u8]) -> IcapAnswer {
        respmod(self.bulwark.addr(), url, headers, body, T)
            .unwrap_or_else(|e| panic!("RESPMOD {url}: {e}\n{}", self.bulwark.log()))
    }

    fn up(&self) -> Option<f64> {
        self.metric("bulwark_cluster_redis_up")
    }
}

const BLOCKED_STORED: &str = "bulwark_cluster_stores_total{cache=\"blocked\",result=\"stored\"}";
const VERDICT_STORED: &str = "bulwark_cluster_stores_total{cache=\"verdict\",result=\"stored\"}";
const BLOCKED_HITS: &str = "bulwark_cluster_lookups_total{cache=\"blocked\",result=\"hit\"}";
const VERDICT_HITS: &str = "bulwark_cluster_lookups_total{cache=\"verdict\",result=\"hit\"}";

fn lines_with<'a>(log: &'a str, text: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(text)).collect()
}

#[test]
fn an_object_found_infected_on_a_is_blocked_on_b_without_a_scan() {
    let Some(bin) = redis_or_skip() else { return };
    let redis = Redis::start(&bin, RedisOptions::default()).expect("redis");
    let a = Node::start(&redis.url(), "");
    let b = Node::start(&redis.url(), "");
    a.wait_metric("bulwark_cluster_redis_up", 1.0, T);
    b.wait_metric("bulwark_cluster_redis_up", 1.0, T);

    let url = "http://origin.test/files/setup.exe";
    let v1 = [
        ("ETag", "\"v1\""),
        ("Content-Type", "application/octet-stream"),
    ];
    let mut bad = pattern(3000);
    bad.extend(eicar());
    assert_eq!(a.get(url, &v1, &bad).http_status, Some(403));
    a.wait_metric(BLOCKED_STORED, 1.0, T);

    // B has never seen it: blocked before its body, from the shared cache.
    assert_eq!(b.get(url, &v1, &bad).http_status, Some(403));
    assert_eq!(b.metric(BLOCKED_HITS), Some(1.0));
    let log = b.bulwark.log();
    let shared = lines_with(&log, "block-shared");
    assert_eq!(shared.len(), 1, "{log}");
    assert!(
        shared[0].contains(url) && shared[0].contains("Eicar"),
        "{log}"
    );
    // Now B knows it itself.
    assert_eq!(b.get(url, &v1, &bad).http_status, Some(403));
    assert_eq!(lines_with(&b.bulwark.log(), "block-cached").len(), 1);
    assert_eq!(b.metric(BLOCKED_HITS), Some(1.0));
    // Another object at that URL (another ETag) is scanned afresh: clean, delivered.
    let v2 = [
        ("ETag", "\"v2\""),
        ("Content-Type", "application/octet-stream"),
    ];
    assert_eq!(b.get(url, &v2, &pattern(3000)).http_status, Some(200));

    // An upload of EICAR to a page on A poisons no download of that page on B (issue 22).
    let page = "http://origin.test/index.html";
    let up = reqmod(a.bulwark.addr(), page, &eicar(), T).expect("REQMOD");
    assert_eq!(up.http_status, Some(403), "the upload is blocked");
    std::thread::sleep(Duration::from_millis(300));
    let html = [("Content-Type", "text/html")];
    assert_eq!(
        b.get(page, &html, b"<html>hello</html>").http_status,
        Some(200)
    );
    assert_eq!(
        a.get(page, &html, b"<html>hello</html>").http_status,
        Some(200)
    );
    assert_eq!(
        redis.keys("bulwark:b:*").len(),
        1,
        "only the download is shared"
    );
}

/// A zip (deflated, so only unpacking finds what is inside) of `members`.
fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).expect("zip entry");
        w.write_all(data).expect("zip data");
    }
    w.finish().expect("zip").into_inner()
}

#[test]
fn an_archive_scanned_on_a_is_a_verdict_cache_hit_on_b() {
    let Some(bin) = redis_or_skip() else { return };
    let redis = Redis::start(&bin, RedisOptions::default()).expect("redis");
    let a = Node::start(&redis.url(), "");
    let b = Node::start(&redis.url(), "");
    a.wait_metric("bulwark_cluster_redis_up", 1.0, T);
    b.wait_metric("bulwark_cluster_redis_up", 1.0, T);
    let zip_type = [("Content-Type", "application/zip")];

    let clean = zip_of(&[("a.txt", &pattern(5000)), ("b.txt", &pattern(7000))]);
    assert_eq!(
        a.get("http://origin.test/a/tools.zip", &zip_type, &clean)
            .http_status,
        Some(200)
    );
    a.wait_metric(VERDICT_STORED, 1.0, T);
    // The same bytes under another URL on B: not unpacked again.
    assert_eq!(
        b.get("http://mirror.test/b/tools-copy.zip", &zip_type, &clean)
            .http_status,
        Some(200)
    );
    assert_eq!(b.metric(VERDICT_HITS), Some(1.0));
    b.wait_log("verdict from the shared verdict cache", T);

    let bad = zip_of(&[("readme.txt", &pattern(2000)), ("eicar.com", &eicar())]);
    assert_eq!(
        a.get("http://origin.test/a/bad.zip", &zip_type, &bad)
            .http_status,
        Some(403)
    );
    a.wait_metric(VERDICT_STORED, 2.0, T);
    assert_eq!(
        b.get("http://mirror.test/b/renamed.zip", &zip_type, &bad)
            .http_status,
        Some(403)
    );
    assert_eq!(b.metric(VERDICT_HITS), Some(2.0));
    let log = b.bulwark.log();
    let hits = lines_with(&log, "verdict from the shared verdict cache");
    assert_eq!(hits.len(), 2, "{log}");
    assert!(
        hits[1].contains("INFECTED") && hits[1].contains("renamed.zip"),
        "{log}"
    );
    // The threat path names B's object, not A's.
    let blocked = lines_with(&log, "bulwark::access");
    assert!(blocked.iter().any(|l| l.contains("renamed.zip")), "{log}");
    assert_eq!(redis.keys("bulwark:v:*").len(), 2);
}

/// `n` requests to `node` from two threads, half clean documents and half EICAR downloads
/// (each a new object); their latencies. Panics on any failed request or wrong answer.
fn load(node: &Node, tag: &str, n: usize) -> Vec<Duration> {
    let addr = node.bulwark.addr();
    let run = |t: usize| {
        let mut times = Vec::new();
        for i in 0..n / 2 {
            let infected = i % 2 == 1;
            let url = format!("http://origin.test/{tag}/{t}/{i}");
            let etag = format!("\"{tag}{t}{i}\"");
            let mut body = pattern(2000 + i);
            if infected {
                body.extend(eicar());
            }
            let start = Instant::now();
            let r = respmod(addr, &url, &[("ETag", &etag)], &body, T)
                .unwrap_or_else(|e| panic!("{tag}: request {t}/{i} failed: {e}"));
            times.push(start.elapsed());
            let want = if infected { 403 } else { 200 };
            assert_eq!(r.http_status, Some(want), "{tag}: {t}/{i}");
        }
        times
    };
    std::thread::scope(|s| {
        let h: Vec<_> = (0..2).map(|t| s.spawn(move || run(t))).collect();
        h.into_iter()
            .flat_map(|h| h.join().expect("load thread"))
            .collect()
    })
}

fn median_and_max(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() - 1])
}

#[test]
fn redis_paused_or_killed_costs_no_request_and_sharing_resumes() {
    let Some(bin) = redis_or_skip() else { return };
    let mut redis = Redis::start(&bin, RedisOptions::default()).expect("redis");
    let a = Node::start(&redis.url(), "");
    let b = Node::start(&redis.url(), "");
    a.wait_metric("bulwark_cluster_redis_up", 1.0, T);
    b.wait_metric("bulwark_cluster_redis_up", 1.0, T);

    let (base_med, base_max) = median_and_max(load(&b, "up", 80));
    eprintln!("redis up: 80 requests, median {base_med:?}, max {base_max:?}");

    // Stopped but listening: lookups get no answer.
    redis.pause();
    let (med, max) = median_and_max(load(&b, "paused", 80));
    eprintln!("redis paused: 80 requests, median {med:?}, max {max:?}");
    // At most one lookup per request waits, for timeout_ms (20 ms); the rest skip Redis.
    assert!(max < base_max + Duration::from_millis(200), "{max:?}");
    assert!(med < base_med + Duration::from_millis(20), "{med:?}");
    assert_eq!(b.up(), Some(0.0));
    b.wait_log("local caches only", T);
    let log = b.bulwark.log();
    assert!(
        lines_with(&log, "local caches only")[0].contains("WARN"),
        "{log}"
    );
    assert!(b
        .metric("bulwark_cluster_redis_errors_total{kind=\"timeout\"}")
        .is_some_and(|v| v >= 1.0));
    redis.resume();
    b.wait_metric("bulwark_cluster_redis_up", 1.0, T);

    // Killed: connections reset, nothing listens.
    redis.kill();
    let (med, max) = median_and_max(load(&b, "killed", 80));
    eprintln!("redis killed: 80 requests, median {med:?}, max {max:?}");
    assert!(max < base_max + Duration::from_millis(200), "{max:?}");
    assert!(med < base_med + Duration::from_millis(20), "{med:?}");
    assert_eq!(b.up(), Some(0.0));
    redis.restart().expect("restart redis");
    let back = Instant::now();
    a.wait_metric("bulwark_cluster_redis_up", 1.0, Duration::from_secs(15));
    b.wait_metric("bulwark_cluster_redis_up", 1.0, Duration::from_secs(15));
    eprintln!(
        "redis restarted: both instances share again after {:?}",
        back.elapsed()
    );

    // Sharing resumed: found on A, blocked on B without a scan.
    let before = a.metric(BLOCKED_STORED).unwrap_or(0.0);
    let url = "http://origin.test/after/restart.bin";
    let mut bad = pattern(1000);
    bad.extend(eicar());
    assert_eq!(a.get(url, &[], &bad).http_status, Some(403));
    a.wait_metric(BLOCKED_STORED, before + 1.0, T);
    assert_eq!(b.get(url, &[], &bad).http_status, Some(403));
    assert_eq!(lines_with(&b.bulwark.log(), "block-shared").len(), 1);
    // The warnings were rate-limited: a handful, not one per request.
    let log = b.bulwark.log();
    let warnings = lines_with(&log, "WARN")
        .iter()
        .filter(|l| l.contains("bulwark::cluster"))
        .count();
    assert!((1..=4).contains(&warnings), "{warnings} warnings:\n{log}");
}

#[test]
fn a_wrong_password_keeps_caches_local_and_the_right_one_shares() {
    let Some(bin) = redis_or_skip() else { return };
    let pass = "fleet-secret-7f3a";
    let redis = Redis::start(
        &bin,
        RedisOptions {
            password: Some(pass.into()),
            tls: None,
        },
    )
    .expect("redis");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{text}\n")).expect("write");
        p.display().to_string()
    };
    let right = file("right", pass);
    let wrong = file("wrong", "not-the-password");
    let a = Node::start(&redis.url(), &format!("password_file = \"{right}\""));
    let b = Node::start(&redis.url(), &format!("password_file = \"{wrong}\""));
    let in_url = format!("redis://default:{pass}@127.0.0.1:{}/0", redis.port());
    let c = Node::start(&in_url, "");
    a.wait_metric("bulwark_cluster_redis_up", 1.0, T);
    c.wait_metric("bulwark_cluster_redis_up", 1.0, T);
    b.wait_metric("bulwark_cluster_redis_errors_total{kind=\"auth\"}", 1.0, T);
    b.wait_log("credentials refused", T);
    assert_eq!(b.up(), Some(0.0));
    assert!(
        !b.bulwark.log().contains(pass),
        "the password is never logged"
    );
    assert!(
        !c.bulwark.log().contains(pass),
        "the password is never logged"
    );

    // B answers as a lone instance would.
    let url = "http://origin.test/auth/thing.bin";
    let mut bad = pattern(1500);
    bad.extend(eicar());
    assert_eq!(
        b.get("http://origin.test/b.txt", &[], &pattern(900))
            .http_status,
        Some(200)
    );
    assert_eq!(
        b.get("http://origin.test/b.bin", &[], &bad).http_status,
        Some(403)
    );
    // A and C share.
    assert_eq!(a.get(url, &[], &bad).http_status, Some(403));
    a.wait_metric(BLOCKED_STORED, 1.0, T);
    assert_eq!(c.get(url, &[], &bad).http_status, Some(403));
    assert_eq!(lines_with(&c.bulwark.log(), "block-shared").len(), 1);
    assert_eq!(b.metric(BLOCKED_HITS), Some(0.0));
}
