//! The scanning API over real HTTP on loopback: verdicts, authentication and its limit, the
//! body limit, the concurrency limit, the database endpoint, and curl as a client.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{read_answer, request, scan, send_head, zip, Bulwark, TOKEN};

#[test]
fn clean_eicar_and_eicar_in_a_zip() {
    let b = Bulwark::start(|_| {});
    let a = scan(b.addr, b"nothing to see here\n");
    assert_eq!(a.status, 200, "{a:?}");
    let j = a.json();
    assert_eq!(j["status"], "clean", "{j}");
    assert_eq!(j["bytes"], 20);
    assert!(j["database"].as_str().is_some_and(|d| !d.is_empty()), "{j}");
    assert!(j["duration_ms"].is_u64());

    let j = scan(b.addr, &bulwark_testkit::eicar()).json();
    assert_eq!(j["status"], "infected", "{j}");
    let names: Vec<&str> = j["threats"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&"Api.Test.EICAR"), "{j}");

    let z = zip(
        &[
            ("readme.txt", b"hello"),
            ("eicar.com", &bulwark_testkit::eicar()),
        ],
        0,
    );
    let j = scan(b.addr, &z).json();
    assert_eq!(j["status"], "infected", "{j}");
    assert!(
        j["threats"][0]["path"]
            .as_str()
            .is_some_and(|p| p.contains("eicar.com")),
        "{j}"
    );
    let m = b.ctx.stats.prometheus();
    assert!(
        m.contains("bulwark_icap_requests_total{method=\"api\"} 3"),
        "{m}"
    );
}

#[test]
fn zip_bomb_exceeds_the_limits() {
    let b = Bulwark::start(|c| c.engine.limits.max_total_bytes = 1024 * 1024);
    let j = scan(b.addr, &zip(&[], 8)).json();
    assert_eq!(j["status"], "limits_exceeded", "{j}");
    assert!(
        j["heuristic"]
            .as_str()
            .is_some_and(|h| h.starts_with("Heuristics.Limits")),
        "{j}"
    );
}

#[test]
fn tokens_are_required_and_wrong_ones_limited() {
    let b = Bulwark::start(|c| c.api.max_auth_failures_per_minute = 3);
    let a = request(b.addr, "POST", "/v1/scan", None, b"x");
    assert_eq!(a.status, 401, "{a:?}");
    assert!(a.head.contains("www-authenticate: bearer"), "{a:?}");
    assert_eq!(a.json()["error"], "unauthorized");
    for _ in 0..2 {
        let a = request(
            b.addr,
            "GET",
            "/v1/database",
            Some("wrong-token-0123456789"),
            b"",
        );
        assert_eq!(a.status, 401, "{a:?}");
    }
    // Three failures: the address is refused, even with the right token.
    let a = request(b.addr, "POST", "/v1/scan", Some(TOKEN), b"x");
    assert_eq!(a.status, 429, "{a:?}");
    assert!(a.head.contains("retry-after: "), "{a:?}");
    // Health needs no token.
    assert_eq!(request(b.addr, "GET", "/v1/health", None, b"").status, 200);
}

#[test]
fn bodies_over_the_limit_are_refused_unread() {
    let b = Bulwark::start(|c| c.api.max_body_bytes = 1000);
    // A declared gigabyte of which only a few bytes are sent: 413 at once.
    let started = Instant::now();
    let mut s = send_head(b.addr, "POST", "/v1/scan", Some(TOKEN), 1 << 30);
    s.write_all(b"only this").expect("send");
    let a = read_answer(&mut s);
    assert_eq!(a.status, 413, "{a:?}");
    assert_eq!(a.json()["error"], "too_large");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Chunked, without a length: refused once the limit is passed.
    let mut s = std::net::TcpStream::connect(b.addr).expect("connect");
    write!(
        s,
        "POST /v1/scan HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer \
         {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n{}\r\n",
        "a".repeat(0x800)
    )
    .expect("send");
    let a = read_answer(&mut s);
    assert_eq!(a.status, 413, "{a:?}");
    // At the limit: scanned.
    assert_eq!(scan(b.addr, &[b'a'; 1000]).json()["status"], "clean");
}

#[test]
fn scans_beyond_the_concurrency_limit_get_503() {
    let b = Bulwark::start(|c| c.api.max_concurrent_scans = 1);
    // One scan in flight: its body never ends.
    let mut slow = send_head(b.addr, "POST", "/v1/scan", Some(TOKEN), 1000);
    slow.write_all(b"partial").expect("send");
    std::thread::sleep(Duration::from_millis(300));
    let a = scan(b.addr, b"x");
    assert_eq!(a.status, 503, "{a:?}");
    assert!(a.head.contains("retry-after: 1"), "{a:?}");
    assert_eq!(a.json()["error"], "busy");
    slow.write_all(&[b'a'; 993]).expect("rest");
    assert_eq!(read_answer(&mut slow).json()["status"], "clean");
    assert_eq!(scan(b.addr, b"x").status, 200);
}

#[test]
fn database_describes_the_signatures() {
    let b = Bulwark::start(|_| {});
    let j = request(b.addr, "GET", "/v1/database", Some(TOKEN), b"").json();
    assert_eq!(
        j["version"],
        b.ctx.snapshot.load().database.version(),
        "{j}"
    );
    assert_eq!(j["builtin"], false);
    assert!(j["signature_sets"].is_array(), "{j}");
    assert!(
        j["loaded_at"].as_str().is_some_and(|t| t.contains('T')),
        "{j}"
    );
    assert!(j["age_seconds"].is_u64(), "{j}");
}

#[test]
fn curl_posts_a_file() {
    let b = Bulwark::start(|_| {});
    let file = b.dir.path().join("eicar.com");
    std::fs::write(&file, bulwark_testkit::eicar()).expect("write");
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail-with-body", "-H"])
        .arg(format!("Authorization: Bearer {TOKEN}"))
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("http://{}/v1/scan?name=eicar.com", b.addr))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(j["status"], "infected", "{j}");
    assert_eq!(j["bytes"], 68);
}

#[test]
fn openapi_lists_every_route() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/api-openapi.yaml"
    ))
    .expect("docs/api-openapi.yaml");
    for (method, path) in bulwark_api::ROUTES {
        let at = doc
            .find(&format!("\n  {path}:\n"))
            .unwrap_or_else(|| panic!("{path} is not in docs/api-openapi.yaml"));
        let section = &doc[at + 1..];
        let end = section[3..].find("\n  /").map_or(section.len(), |e| e + 3);
        assert!(
            section[..end].contains(&format!("\n    {method}:")),
            "{method} {path} is not in docs/api-openapi.yaml"
        );
    }
}
