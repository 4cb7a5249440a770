//! The server's ICAP behaviour, in process, over real loopback sockets: OPTIONS, preview,
//! 204/200, streaming with a held-back tail, block pages, errors, limits.

mod common;

use std::time::Duration;

use bulwark_config::Config;
use bulwark_icap::ResponseEvent;
use bulwark_testkit::eicar;
use common::{start, Client};
use tokio::net::TcpStream;

const REQ_HDR: &str = "GET http://origin.test/file HTTP/1.1\r\nHost: origin.test\r\n\r\n";

fn res_hdr(len: Option<usize>) -> String {
    match len {
        Some(n) => format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {n}\r\n\r\n"),
        None => "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n".to_string(),
    }
}

/// A Squid-shaped RESPMOD head; `extra` holds extra ICAP header lines.
fn respmod_head(extra: &str, body_len: Option<usize>) -> Vec<u8> {
    let res = res_hdr(body_len);
    format!(
        "RESPMOD icap://127.0.0.1/av/respmod ICAP/1.0\r\nHost: 127.0.0.1\r\n{extra}Encapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n{REQ_HDR}{res}",
        REQ_HDR.len(),
        REQ_HDR.len() + res.len()
    )
    .into_bytes()
}

fn chunked(data: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(piece.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn body_of(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test]
async fn options_advertises_the_service() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(b"OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\nHost: x\r\n\r\n")
        .await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 200);
    let h = &a.head.headers;
    assert_eq!(h.get("Methods"), Some("RESPMOD"));
    assert!(h.has_token("Allow", "204"));
    assert_eq!(h.get("Preview"), Some("4096"));
    // What one client may open: by default three quarters of max_connections (1024).
    assert_eq!(h.get("Max-Connections"), Some("768"));
    let istag = h.get("ISTag").expect("ISTag");
    assert!(istag.starts_with('"') && istag.len() <= 34);
    // Persistent: a second request on the same connection.
    c.send(b"OPTIONS icap://127.0.0.1/av/reqmod ICAP/1.0\r\nHost: x\r\n\r\n")
        .await;
    let a = c.answer().await;
    assert_eq!(a.head.headers.get("Methods"), Some("REQMOD"));
    let _ = srv.stop.send(true);
}

#[tokio::test]
async fn preview_with_ieof_gets_204_and_never_100() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let body = body_of(100);
    let mut msg = respmod_head("Allow: 204, trailers\r\nPreview: 4096\r\n", Some(100));
    msg.extend(chunked(&body, 60));
    msg.extend_from_slice(b"0; ieof\r\n\r\n");
    c.send(&msg).await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 204, "{:?}", a.head);
}

#[tokio::test]
async fn preview_then_continue_then_echo_byte_exact() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let body = body_of(20_000);
    let mut msg = respmod_head("Preview: 1024\r\n", None);
    msg.extend(chunked(&body[..1024], 1024));
    msg.extend_from_slice(b"0\r\n\r\n");
    c.send(&msg).await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 100);
    c.send(&chunked(&body[1024..], 3000)).await;
    c.send(b"0\r\n\r\n").await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 200);
    assert!(a.complete);
    assert_eq!(a.head.http_response.as_ref().map(|h| h.status), Some(200));
    assert_eq!(a.body, body);
}

#[tokio::test]
async fn eicar_in_preview_is_blocked_without_100() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let mut body = body_of(50);
    body.extend(eicar());
    let mut msg = respmod_head("Allow: 204\r\nPreview: 4096\r\n", Some(body.len()));
    msg.extend(chunked(&body, 10));
    msg.extend_from_slice(b"0; ieof\r\n\r\n");
    c.send(&msg).await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 200);
    let http = a.head.http_response.expect("block page head");
    assert_eq!(http.status, 403);
    assert_eq!(http.headers.get("Cache-Control"), Some("no-store"));
    assert!(a
        .head
        .headers
        .get("X-Infection-Found")
        .expect("header")
        .contains("Threat=Eicar"));
    assert!(a.head.headers.get("X-Virus-ID").is_some());
    assert!(String::from_utf8_lossy(&a.body).contains("blocked"));
    // The connection stays usable.
    c.send(b"OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\n\r\n")
        .await;
    assert_eq!(c.answer().await.head.status, 200);
}

#[tokio::test]
async fn large_clean_body_streams_before_the_end_and_arrives_whole() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let body = body_of(1_000_000);
    c.send(&respmod_head("", None)).await;
    // Send the first 200 KB only: the answer must start before the body ends.
    c.send(&chunked(&body[..200_000], 8192)).await;
    let head = match c.event().await {
        Some(ResponseEvent::Head(h)) => h,
        other => panic!("no early answer: {other:?}"),
    };
    assert_eq!(head.status, 200);
    let mut got = Vec::new();
    while got.len() < 200_000 - 4096 {
        match c.event().await {
            Some(ResponseEvent::Body(b)) => got.extend_from_slice(&b),
            other => panic!("unexpected {other:?}"),
        }
    }
    // The held-back tail is at least 4 KB.
    assert!(
        got.len() <= 200_000 - 4096,
        "sent {} of 200000 before the end",
        got.len()
    );
    c.send(&chunked(&body[200_000..], 65536)).await;
    c.send(b"0\r\n\r\n").await;
    loop {
        match c.event().await {
            Some(ResponseEvent::Body(b)) => got.extend_from_slice(&b),
            Some(ResponseEvent::End { .. }) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got.len(), body.len());
    assert!(got == body, "body differs");
}

#[tokio::test]
async fn late_eicar_aborts_a_streamed_answer() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let mut body = body_of(1_000_000);
    body.extend(eicar());
    c.send(&respmod_head("", None)).await;
    c.send(&chunked(&body, 16384)).await;
    c.send(b"0\r\n\r\n").await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 200);
    assert!(
        !a.complete,
        "an infected object must not be delivered whole"
    );
    assert!(a.body.len() < body.len());
}

#[tokio::test]
async fn eicar_split_across_chunks_small_body_is_blocked() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let mut body = body_of(3000);
    body.extend(eicar());
    body.extend(body_of(100));
    c.send(&respmod_head("Allow: 204\r\n", Some(body.len())))
        .await;
    c.send(&chunked(&body, 7)).await;
    c.send(b"0\r\n\r\n").await;
    let a = c.answer().await;
    assert_eq!(a.head.http_response.map(|h| h.status), Some(403));
    assert!(a.complete);
}

#[tokio::test]
async fn small_clean_body_with_allow_204_gets_204() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let body = body_of(50_000);
    c.send(&respmod_head("Allow: 204\r\n", Some(body.len())))
        .await;
    c.send(&chunked(&body, 4000)).await;
    c.send(b"0\r\n\r\n").await;
    assert_eq!(c.answer().await.head.status, 204);
}

#[tokio::test]
async fn reqmod_upload_with_eicar_gets_a_403_response() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let mut body = b"field=".to_vec();
    body.extend(eicar());
    let req = format!(
        "POST http://origin.test/upload HTTP/1.1\r\nHost: origin.test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut msg = format!(
        "REQMOD icap://127.0.0.1/av/reqmod ICAP/1.0\r\nHost: x\r\nAllow: 204\r\nEncapsulated: req-hdr=0, req-body={}\r\n\r\n{req}",
        req.len()
    )
    .into_bytes();
    msg.extend(chunked(&body, 20));
    msg.extend_from_slice(b"0\r\n\r\n");
    c.send(&msg).await;
    let a = c.answer().await;
    assert_eq!(a.head.http_response.map(|h| h.status), Some(403));
    assert!(a.head.http_request.is_none());
}

#[tokio::test]
async fn clean_reqmod_is_echoed_without_allow_204() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let body = body_of(1000);
    let req = format!(
        "POST http://origin.test/upload HTTP/1.1\r\nHost: origin.test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut msg = format!(
        "REQMOD icap://127.0.0.1/av/reqmod ICAP/1.0\r\nHost: x\r\nEncapsulated: req-hdr=0, req-body={}\r\n\r\n{req}",
        req.len()
    )
    .into_bytes();
    msg.extend(chunked(&body, 100));
    msg.extend_from_slice(b"0\r\n\r\n");
    c.send(&msg).await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 200);
    assert_eq!(
        a.head.http_request.map(|h| h.method),
        Some("POST".to_string())
    );
    assert_eq!(a.body, body);
}

#[tokio::test]
async fn bodyless_requests_get_204_at_once() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let req = "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n";
    let msg = format!(
        "REQMOD icap://127.0.0.1/av/reqmod ICAP/1.0\r\nHost: x\r\nAllow: 204\r\nEncapsulated: req-hdr=0, null-body={}\r\n\r\n{req}",
        req.len()
    );
    c.send(msg.as_bytes()).await;
    assert_eq!(c.answer().await.head.status, 204);
}

#[tokio::test]
async fn errors_get_their_status_and_close() {
    let srv = start(Config::default()).await;
    for (msg, status) in [
        (&b"OPTIONS icap://127.0.0.1/nosuch ICAP/1.0\r\n\r\n"[..], 404),
        (b"REQMOD icap://127.0.0.1/av/respmod ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=18\r\n\r\nGET / HTTP/1.1\r\n\r\n", 405),
        (b"BREW icap://127.0.0.1/av/respmod ICAP/1.0\r\n\r\n", 501),
        (b"OPTIONS icap://127.0.0.1/av/respmod ICAP/2.0\r\n\r\n", 505),
        (b"RESPMOD icap://127.0.0.1/av/respmod ICAP/1.0\r\nEncapsulated: res-body=19, res-hdr=0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 400),
        (b"\x00\x01garbage\r\n\r\n", 400),
    ] {
        let mut c = Client::connect(srv.addr).await;
        c.send(msg).await;
        let a = c.answer().await;
        assert_eq!(a.head.status, status, "for {:?}", String::from_utf8_lossy(msg));
        assert!(a.head.headers.get("ISTag").is_some());
        assert!(c.closed().await, "connection left open after {status}");
    }
}

#[tokio::test]
async fn oversized_head_is_refused() {
    let mut cfg = Config::default();
    cfg.server.max_header_bytes = 2048;
    let srv = start(cfg).await;
    let mut c = Client::connect(srv.addr).await;
    let big = format!(
        "OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\nX-Big: {}\r\n\r\n",
        "a".repeat(5000)
    );
    c.send(big.as_bytes()).await;
    assert_eq!(c.answer().await.head.status, 400);
}

#[tokio::test]
async fn read_timeout_answers_408_and_closes() {
    let mut cfg = Config::default();
    cfg.server.read_timeout_secs = 1;
    let srv = start(cfg).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(&respmod_head("", None)).await;
    c.send(b"10\r\nonly part").await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 408);
    assert!(c.closed().await);
}

#[tokio::test]
async fn connections_over_the_limit_get_503() {
    let mut cfg = Config::default();
    cfg.server.max_connections = 2;
    let srv = start(cfg).await;
    // Two connections in the middle of a request head: busy, not idle.
    let mut a = Client::connect(srv.addr).await;
    let mut b = Client::connect(srv.addr).await;
    for c in [&mut a, &mut b] {
        c.send(b"OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\n")
            .await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = Client::connect(srv.addr).await;
    assert_eq!(third.answer().await.head.status, 503);
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = Client::connect(srv.addr).await;
    fourth
        .send(b"OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\n\r\n")
        .await;
    assert_eq!(fourth.answer().await.head.status, 200);
}

#[tokio::test]
async fn one_client_address_cannot_take_every_connection() {
    let mut cfg = Config::default();
    cfg.server.max_connections = 10;
    cfg.server.max_connections_per_client = 3;
    let srv = start(cfg).await;
    // Three busy connections from 127.0.0.1 (in the middle of a request head).
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect(srv.addr).await;
        c.send(b"OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\n")
            .await;
        held.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = Client::connect(srv.addr).await;
    assert_eq!(fourth.answer().await.head.status, 503);
    // Another client address (127.0.0.2, still loopback) is served meanwhile.
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.bind("127.0.0.2:0".parse().expect("addr"))
        .expect("bind 127.0.0.2");
    let mut other = Client::over(sock.connect(srv.addr).await.expect("connect"));
    other
        .send(b"OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\n\r\n")
        .await;
    assert_eq!(other.answer().await.head.status, 200);
    // Once one of the first client's connections closes, it may open another.
    held.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = Client::connect(srv.addr).await;
    again
        .send(b"OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\n\r\n")
        .await;
    assert_eq!(again.answer().await.head.status, 200);
}

#[tokio::test]
async fn at_the_limit_the_longest_idle_connection_makes_room() {
    let mut cfg = Config::default();
    cfg.server.max_connections = 2;
    let srv = start(cfg).await;
    let mut a = Client::connect(srv.addr).await;
    let mut b = Client::connect(srv.addr).await;
    for c in [&mut a, &mut b] {
        c.send(b"OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\n\r\n")
            .await;
        assert_eq!(c.answer().await.head.status, 200);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Both idle now: a third client is served, and the one idle the longest (a) is closed.
    let mut third = Client::connect(srv.addr).await;
    third
        .send(b"OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\n\r\n")
        .await;
    assert_eq!(third.answer().await.head.status, 200);
    assert!(
        a.closed().await,
        "the longest idle connection was not closed"
    );
    b.send(b"OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\n\r\n")
        .await;
    assert_eq!(
        b.answer().await.head.status,
        200,
        "the other one still serves"
    );
}

#[tokio::test]
async fn shutdown_drains_in_flight_transactions() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let body = body_of(10_000);
    c.send(&respmod_head("", None)).await;
    c.send(&chunked(&body[..5000], 5000)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = srv.stop.send(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused once shutdown began.
    assert!(TcpStream::connect(srv.addr).await.is_err());
    c.send(&chunked(&body[5000..], 5000)).await;
    c.send(b"0\r\n\r\n").await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 200);
    assert_eq!(a.body, body);
    tokio::time::timeout(Duration::from_secs(5), srv.task)
        .await
        .expect("server stops")
        .expect("join");
}

#[tokio::test]
async fn complete_mode_spools_and_echoes() {
    let mut cfg = Config::default();
    cfg.answer.mode = bulwark_config::AnswerMode::Complete;
    cfg.answer.spool_memory_bytes = 10_000;
    let srv = start(cfg).await;
    let mut c = Client::connect(srv.addr).await;
    let body = body_of(300_000);
    c.send(&respmod_head("", None)).await;
    c.send(&chunked(&body, 30_000)).await;
    c.send(b"0\r\n\r\n").await;
    let a = c.answer().await;
    assert!(a.complete);
    assert!(a.body == body);
}

#[tokio::test]
async fn client_identity_is_accepted() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let mut msg = respmod_head(
        "X-Client-IP: 192.0.2.7\r\nX-Authenticated-User: dXNlcg==\r\nPreview: 0\r\n",
        Some(0),
    );
    msg.extend_from_slice(b"0; ieof\r\n\r\n");
    c.send(&msg).await;
    assert_eq!(c.answer().await.head.status, 204);
}

/// A gzip-encoded RESPMOD head (the deep scan decodes it: worth a verdict-cache entry).
fn gzip_respmod(path: &str, body_len: usize) -> Vec<u8> {
    let req = format!("GET http://origin.test/{path} HTTP/1.1\r\nHost: origin.test\r\n\r\n");
    let res = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: {body_len}\r\n\r\n"
    );
    format!(
        "RESPMOD icap://127.0.0.1/av/respmod ICAP/1.0\r\nHost: 127.0.0.1\r\nAllow: 204\r\nEncapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n{req}{res}",
        req.len(),
        req.len() + res.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn repeated_objects_take_their_verdict_from_the_cache() {
    use std::io::Write;
    let srv = start(Config::default()).await;
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    };
    let mut infected = body_of(2000);
    infected.extend(eicar());
    let bad = gz(&infected);
    let good = gz(&body_of(20_000));
    for round in 0..2 {
        let mut c = Client::connect(srv.addr).await;
        c.send(&gzip_respmod(&format!("bad{round}.txt"), bad.len()))
            .await;
        c.send(&chunked(&bad, 1000)).await;
        c.send(b"0\r\n\r\n").await;
        let a = c.answer().await;
        assert_eq!(
            a.head.http_response.map(|h| h.status),
            Some(403),
            "round {round}"
        );
        let mut c = Client::connect(srv.addr).await;
        c.send(&gzip_respmod("good.txt", good.len())).await;
        c.send(&chunked(&good, 1000)).await;
        c.send(b"0\r\n\r\n").await;
        let a = c.answer().await;
        assert_eq!(a.head.status, 204, "round {round}: {:?}", a.head);
    }
    let cache = &srv.ctx.snapshot.load().verdicts;
    assert_eq!((cache.hits(), cache.len()), (2, 2), "{cache:?}");
}

#[tokio::test]
async fn late_eicar_with_content_length_ends_short_and_keeps_the_connection() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let mut body = body_of(1_000_000);
    body.extend(eicar());
    c.send(&respmod_head("", Some(body.len()))).await;
    c.send(&chunked(&body, 16384)).await;
    c.send(b"0\r\n\r\n").await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 200);
    // A clean end of the ICAP message (no service failure for Squid), short of the
    // Content-Length: the held-back tail, signature included, never goes out.
    assert!(a.complete, "the ICAP answer ends cleanly");
    assert!(a.body.len() + 4096 <= body.len(), "sent {}", a.body.len());
    assert!(!a.body.windows(4).any(|w| w == b"X5O!"));
    // The connection stays usable.
    let small = body_of(1000);
    c.send(&respmod_head("", Some(small.len()))).await;
    c.send(&chunked(&small, 4096)).await;
    c.send(b"0\r\n\r\n").await;
    let a = c.answer().await;
    assert!(a.complete && a.body == small);
    assert_eq!(srv.ctx.stats.stopped_of("cut"), 1);
}

#[tokio::test]
async fn late_eicar_without_content_length_resets_after_reading_the_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = start(Config::default()).await;
    let mut s = TcpStream::connect(srv.addr).await.expect("connect");
    let mut body = body_of(300_000);
    body.extend(eicar());
    s.write_all(&respmod_head("", None)).await.expect("write");
    s.write_all(&chunked(&body, 16384)).await.expect("write");
    s.write_all(b"0\r\n\r\n").await.expect("write");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let end = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) => break None,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => break Some(e.kind()),
            Err(_) => panic!("no end within 10 s"),
        }
    };
    assert_eq!(
        end,
        Some(std::io::ErrorKind::ConnectionReset),
        "a reset, not a close"
    );
    assert!(got.starts_with(b"ICAP/1.0 200"));
    assert!(!got.ends_with(b"0\r\n\r\n"), "no last chunk");
    assert_eq!(srv.ctx.stats.stopped_of("reset"), 1);
}

#[tokio::test]
async fn an_upload_is_held_until_its_verdict() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let body = body_of(300_000);
    let req = format!(
        "POST http://origin.test/up HTTP/1.1\r\nHost: origin.test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let head = format!(
        "REQMOD icap://127.0.0.1/av/reqmod ICAP/1.0\r\nHost: x\r\nEncapsulated: req-hdr=0, req-body={}\r\n\r\n{req}",
        req.len()
    );
    c.send(head.as_bytes()).await;
    c.send(&chunked(&body, 16384)).await;
    // Everything but the end is there, long past the send delay: still nothing goes out.
    let early = tokio::time::timeout(std::time::Duration::from_millis(2500), c.event()).await;
    assert!(
        early.is_err(),
        "an upload streamed before its verdict: {early:?}"
    );
    c.send(b"0\r\n\r\n").await;
    let a = c.answer().await;
    assert!(a.complete && a.body == body);
    assert!(a.head.http_request.is_some());
}

#[tokio::test]
async fn a_client_that_allows_204_is_held_to_the_end_and_gets_204() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let body = body_of(500_000);
    c.send(&respmod_head("Allow: 204\r\n", Some(body.len())))
        .await;
    c.send(&chunked(&body, 65536)).await;
    c.send(b"0\r\n\r\n").await;
    let a = c.answer().await;
    assert_eq!(
        a.head.status, 204,
        "e2guardian takes any 200 for a verdict against"
    );
    let mut bad = body_of(500_000);
    bad.extend(eicar());
    c.send(&respmod_head("Allow: 204\r\n", Some(bad.len())))
        .await;
    c.send(&chunked(&bad, 65536)).await;
    c.send(b"0\r\n\r\n").await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 200);
    let infection = a
        .head
        .headers
        .get("X-Infection-Found")
        .expect("verdict header");
    assert!(
        infection.contains("Threat=Eicar") && infection.ends_with(';'),
        "{infection}"
    );
    assert_eq!(a.head.http_response.map(|h| h.status), Some(403));
}
