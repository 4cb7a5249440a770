//! Policy in the server: groups by client, exclusions with sniffing, actions, size limits,
//! block pages by language, the blocked-URL cache, and the answer modes over time.

mod common;

use std::time::{Duration, Instant};

use bulwark_config::Config;
use bulwark_icap::ResponseEvent;
use bulwark_testkit::eicar;
use common::{start, Client};

fn config(text: &str) -> Config {
    bulwark_config::load_str(text, "test")
        .expect("valid config")
        .config
}

/// A RESPMOD for `url` with `content_type`, extra ICAP header lines and the whole body, with
/// a preview of `preview` bytes when given (the rest follows a 100 Continue).
fn respmod(url: &str, content_type: &str, extra: &str, body_len: usize) -> Vec<u8> {
    let req = format!(
        "GET {url} HTTP/1.1\r\nHost: h\r\nAccept-Language: de-DE,de;q=0.9,en;q=0.5\r\n\r\n"
    );
    let res = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {body_len}\r\n\r\n"
    );
    format!(
        "RESPMOD icap://127.0.0.1/av/respmod ICAP/1.0\r\nHost: x\r\n{extra}Encapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n{req}{res}",
        req.len(),
        req.len() + res.len()
    )
    .into_bytes()
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\r\n");
    v
}

/// Sends a whole object (no preview) and returns the answer.
async fn send(c: &mut Client, url: &str, ct: &str, extra: &str, body: &[u8]) -> common::Answer {
    let mut m = respmod(url, ct, extra, body.len());
    m.extend(chunk(body));
    m.extend_from_slice(b"0\r\n\r\n");
    c.send(&m).await;
    c.answer().await
}

fn infected_body() -> Vec<u8> {
    let mut b = b"prefix ".to_vec();
    b.extend(eicar());
    b
}

fn blocked(a: &common::Answer) -> bool {
    a.head.http_response.as_ref().map(|h| h.status) == Some(403)
}

#[tokio::test]
async fn groups_by_client_address_choose_actions() {
    let srv = start(config(
        r#"
[[policy.group]]
name = "lab"
priority = 10
clients = ["10.9.0.0/255.255.0.0"]
[policy.group.actions]
infected = "skip"
"#,
    ))
    .await;
    let mut c = Client::connect(srv.addr).await;
    let body = infected_body();
    let a = send(
        &mut c,
        "http://e.test/a",
        "text/plain",
        "X-Client-IP: 10.9.1.2\r\n",
        &body,
    )
    .await;
    assert!(!blocked(&a), "the lab group skips infected objects");
    assert_eq!(a.body, body);
    let a = send(
        &mut c,
        "http://e.test/b",
        "text/plain",
        "X-Client-IP: 10.10.1.2\r\n",
        &body,
    )
    .await;
    assert!(blocked(&a), "other clients get the default group");
    let a = send(&mut c, "http://e.test/c", "text/plain", "", &body).await;
    assert!(blocked(&a), "no client address: default group");
}

#[tokio::test]
async fn excluded_urls_and_media_types_pass_unscanned_but_sniffing_catches_executables() {
    let srv = start(config(
        r#"
[policy.default.filter]
exclude_urls = ["^www\\.trusted\\.test/"]
"#,
    ))
    .await;
    let mut c = Client::connect(srv.addr).await;
    let body = infected_body();
    let a = send(&mut c, "http://www.trusted.test/x", "text/plain", "", &body).await;
    assert!(
        !blocked(&a) && a.body == body,
        "excluded URL is not scanned"
    );
    // Streaming media is excluded by default...
    let a = send(&mut c, "http://e.test/movie", "video/mp4", "", &body).await;
    assert!(!blocked(&a), "video/mp4 is excluded by default");
    // ...unless the content is an executable.
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    exe.extend(eicar());
    let a = send(&mut c, "http://e.test/movie2", "video/mp4", "", &exe).await;
    assert!(blocked(&a), "an executable named video/mp4 is scanned");
    // The same with a preview: the decision uses the preview bytes.
    let mut m = respmod(
        "http://e.test/movie3",
        "video/mp4",
        "Preview: 4096\r\n",
        exe.len(),
    );
    m.extend(chunk(&exe));
    m.extend_from_slice(b"0; ieof\r\n\r\n");
    c.send(&m).await;
    assert!(blocked(&c.answer().await));
}

#[tokio::test]
async fn too_large_objects_follow_their_action() {
    let srv = start(config(
        r#"
[policy.default.filter]
max_req_length = 1000
[policy.default.actions]
too_large = "deny"
"#,
    ))
    .await;
    let mut c = Client::connect(srv.addr).await;
    let a = send(
        &mut c,
        "http://e.test/big",
        "text/plain",
        "",
        &vec![b'a'; 5000],
    )
    .await;
    assert!(blocked(&a));
    assert!(
        a.head
            .headers
            .get("X-Infection-Found")
            .is_some_and(|v| v.contains("TOO_LARGE")),
        "{:?}",
        a.head.headers
    );
    let a = send(
        &mut c,
        "http://e.test/small",
        "text/plain",
        "",
        &[b'a'; 500],
    )
    .await;
    assert!(!blocked(&a));
}

#[tokio::test]
async fn block_pages_follow_accept_language_and_escape_values() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let a = send(
        &mut c,
        "http://e.test/<script>alert(1)</script>",
        "text/plain",
        "",
        &infected_body(),
    )
    .await;
    assert!(blocked(&a));
    let html = String::from_utf8_lossy(&a.body);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;"));
    let http = a.head.http_response.expect("head");
    assert_eq!(http.headers.get("Content-Language"), Some("de"));
    assert_eq!(http.headers.get("Cache-Control"), Some("no-store"));
}

/// A RESPMOD whose response head carries `validators` (e.g. an ETag).
async fn send_object(c: &mut Client, url: &str, validators: &str, body: &[u8]) -> common::Answer {
    let req = format!("GET {url} HTTP/1.1\r\nHost: h\r\n\r\n");
    let res = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n{validators}Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut m = format!(
        "RESPMOD icap://127.0.0.1/av/respmod ICAP/1.0\r\nHost: x\r\nEncapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n{req}{res}",
        req.len(),
        req.len() + res.len()
    )
    .into_bytes();
    m.extend(chunk(body));
    m.extend_from_slice(b"0\r\n\r\n");
    c.send(&m).await;
    c.answer().await
}

#[tokio::test]
async fn an_object_found_infected_is_blocked_again_at_once_but_not_another_at_its_url() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let infected = infected_body();
    let a = send_object(&mut c, "http://e.test/dl", "ETag: \"v1\"\r\n", &infected).await;
    assert!(blocked(&a));
    // The same object again (same URL, ETag and length): blocked from the cache, before any
    // byte of its body is scanned — whatever the body holds.
    let same_length_clean = vec![b'x'; infected.len()];
    let a = send_object(
        &mut c,
        "http://e.test/dl",
        "ETag: \"v1\"\r\n",
        &same_length_clean,
    )
    .await;
    assert!(blocked(&a), "retry not blocked");
    let html = String::from_utf8_lossy(&a.body);
    assert!(
        html.contains("Eicar"),
        "threat name on the cached block page: {html}"
    );
    // Another object at the same URL (new ETag; or another length) is scanned and delivered.
    let a = send_object(
        &mut c,
        "http://e.test/dl",
        "ETag: \"v2\"\r\n",
        &same_length_clean,
    )
    .await;
    assert!(
        !blocked(&a) && a.body == same_length_clean,
        "a new object at the URL"
    );
    let a = send_object(&mut c, "http://e.test/dl", "ETag: \"v1\"\r\n", b"clean").await;
    assert!(!blocked(&a), "other length");
    let a = send_object(&mut c, "http://e.test/other", "", b"clean").await;
    assert!(!blocked(&a));
}

#[tokio::test]
async fn an_infected_upload_never_blocks_downloads_of_its_url() {
    let srv = start(Config::default()).await;
    let mut c = Client::connect(srv.addr).await;
    let body = infected_body();
    let req = format!(
        "POST http://victim.test/index.html HTTP/1.1\r\nHost: victim.test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut m = format!(
        "REQMOD icap://127.0.0.1/av/reqmod ICAP/1.0\r\nHost: x\r\nEncapsulated: req-hdr=0, req-body={}\r\n\r\n{req}",
        req.len()
    )
    .into_bytes();
    m.extend(chunk(&body));
    m.extend_from_slice(b"0\r\n\r\n");
    c.send(&m).await;
    let a = c.answer().await;
    assert!(blocked(&a), "infected upload blocked");
    for _ in 0..2 {
        let a = send_object(
            &mut c,
            "http://victim.test/index.html",
            "",
            b"<html>fine</html>",
        )
        .await;
        assert!(!blocked(&a), "the page itself is clean");
    }
}

/// A chunked RESPMOD head without Content-Length (no preview, no Allow: 204).
fn chunked_head() -> Vec<u8> {
    let req = "GET http://e.test/slow HTTP/1.1\r\nHost: e.test\r\n\r\n";
    let res = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n";
    format!(
        "RESPMOD icap://127.0.0.1/av/respmod ICAP/1.0\r\nEncapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n{req}{res}",
        req.len(),
        req.len() + res.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn partial_mode_starts_streaming_after_the_send_delay_without_new_bytes() {
    let mut cfg = Config::default();
    cfg.answer.max_send_delay_ms = 300;
    let srv = start(cfg).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(&chunked_head()).await;
    c.send(&chunk(&vec![b'x'; 10_000])).await;
    let t0 = Instant::now();
    let head = match c.event().await {
        Some(ResponseEvent::Head(h)) => h,
        other => panic!("{other:?}"),
    };
    assert_eq!(head.status, 200);
    assert!(t0.elapsed() < Duration::from_secs(3));
    let mut got = 0;
    while got < 10_000 - 4096 {
        match c.event().await {
            Some(ResponseEvent::Body(b)) => got += b.len(),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, 10_000 - 4096, "the tail is held back");
    c.send(b"0\r\n\r\n").await;
    loop {
        match c.event().await {
            Some(ResponseEvent::Body(b)) => got += b.len(),
            Some(ResponseEvent::End { .. }) => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, 10_000);
}

#[tokio::test]
async fn trickle_mode_sends_small_pieces_and_holds_the_tail() {
    let cfg = config(
        r#"
[answer]
mode = "trickle"
trickle_bytes = 100
trickle_interval_secs = 1
"#,
    );
    let srv = start(cfg).await;
    let mut c = Client::connect(srv.addr).await;
    c.send(&chunked_head()).await;
    c.send(&chunk(&vec![b'y'; 50_000])).await;
    let mut got = 0;
    let t0 = Instant::now();
    assert!(matches!(c.event().await, Some(ResponseEvent::Head(_))));
    while got < 300 {
        match c.event().await {
            Some(ResponseEvent::Body(b)) => {
                assert!(b.len() <= 100);
                got += b.len();
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "trickled too fast"
    );
    let mut late = eicar();
    late.extend_from_slice(b" tail");
    c.send(&chunk(&late)).await;
    c.send(b"0\r\n\r\n").await;
    // Infected: the answer is aborted; only trickled bytes ever left.
    let mut rest = 0;
    while let Some(ev) = c.event().await {
        match ev {
            ResponseEvent::Body(b) => rest += b.len(),
            ResponseEvent::End { .. } => panic!("infected object completed"),
            ResponseEvent::Head(_) => panic!("second head"),
        }
    }
    assert!(got + rest < 50_000);
}

#[tokio::test]
async fn detections_reach_the_notify_script() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("notify.sh");
    let out = dir.path().join("out.txt");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\necho \"client=$BULWARK_CLIENT_ADDR\" >> {}\n",
            out.display(),
            out.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let srv = start(config(&format!(
        "[notify]\nscript = \"{}\"\n",
        script.display()
    )))
    .await;
    let mut c = Client::connect(srv.addr).await;
    let a = send(
        &mut c,
        "http://e.test/evil.exe",
        "application/octet-stream",
        "X-Client-IP: 10.1.2.3\r\n",
        &infected_body(),
    )
    .await;
    assert!(blocked(&a));
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let t = std::fs::read_to_string(&out).unwrap_or_default();
        if t.contains("client=") || Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        text.contains(
            "detection DENY INFECTED http://e.test/evil.exe 10.1.2.3 Eicar-Test-Signature"
        ),
        "{text}"
    );
    assert!(text.contains("client=10.1.2.3"), "{text}");
}

#[tokio::test]
async fn uncacheable_groups_mark_what_they_pass_with_206_or_an_echo() {
    let srv = start(config(
        r#"
[[policy.group]]
name = "lax"
clients = ["10.7.0.0/16"]
mark_uncacheable = true
[policy.group.actions]
suspicious = "skip"
"#,
    ))
    .await;
    let body = vec![b'v'; 3000];
    // Excluded media in a preview, 206 offered: the heads change, the original body serves.
    let mut c = Client::connect(srv.addr).await;
    let mut m = respmod(
        "http://e.test/m.mp4",
        "video/mp4",
        "X-Client-IP: 10.7.1.1\r\nAllow: 204, 206\r\nPreview: 1024\r\n",
        body.len(),
    );
    m.extend(chunk(&body[..1024]));
    m.extend_from_slice(b"0\r\n\r\n");
    c.send(&m).await;
    let head = match c.event().await {
        Some(ResponseEvent::Head(h)) => h,
        other => panic!("{other:?}"),
    };
    assert_eq!(head.status, 206);
    let http = head.http_response.as_ref().expect("res-hdr");
    assert_eq!(http.headers.get("Cache-Control"), Some("private, no-store"));
    match c.event().await {
        Some(ResponseEvent::End {
            use_original_body, ..
        }) => assert_eq!(use_original_body, Some(0)),
        other => panic!("{other:?}"),
    }
    // Without 206: the whole body is echoed with the marked heads.
    let mut c = Client::connect(srv.addr).await;
    let mut m = respmod(
        "http://e.test/m2.mp4",
        "video/mp4",
        "X-Client-IP: 10.7.1.1\r\nAllow: 204\r\nPreview: 1024\r\n",
        body.len(),
    );
    m.extend(chunk(&body[..1024]));
    m.extend_from_slice(b"0\r\n\r\n");
    c.send(&m).await;
    assert_eq!(c.answer().await.head.status, 100);
    c.send(&chunk(&body[1024..])).await;
    c.send(b"0\r\n\r\n").await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 200);
    assert_eq!(a.body, body);
    assert_eq!(
        a.head
            .http_response
            .expect("res-hdr")
            .headers
            .get("Cache-Control"),
        Some("private, no-store")
    );
    // A scanned clean object: no 204 (it could not carry the mark), an echo instead.
    let a = send(
        &mut c,
        "http://e.test/f.bin",
        "application/octet-stream",
        "X-Client-IP: 10.7.1.1\r\nAllow: 204\r\n",
        &body,
    )
    .await;
    assert_eq!(a.head.status, 200);
    assert_eq!(
        a.head
            .http_response
            .expect("res-hdr")
            .headers
            .get("Cache-Control"),
        Some("private, no-store")
    );
    // Other clients: a plain 204.
    let a = send(
        &mut c,
        "http://e.test/f.bin",
        "application/octet-stream",
        "Allow: 204\r\n",
        &body,
    )
    .await;
    assert_eq!(a.head.status, 204);
}
