//! Central logs from the real `bulwark serve` (issue 20 item 4): per-object records of an
//! EICAR download and a clean one reach a syslog receiver started by the test — RFC 5424 over
//! UDP, CEF over TCP with octet counting — with the SHA-256 of each object; with the receiver
//! down the server keeps answering, the drops show on /metrics, and it still stops promptly.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::client::get_direct;
use bulwark_testkit::syslog::{parse_cef, parse_rfc5424, Rfc5424, TcpReceiver, UdpReceiver};

const SD: &str = "bulwark@32473";
const WAIT: Duration = Duration::from_secs(15);
const CLEAN: &[u8] = b"just an ordinary text file, nothing to see here\n";

/// One RESPMOD of `body` as a download of `url` by client 192.0.2.44 (user alice); the ICAP
/// status code.
fn respmod(addr: SocketAddr, url: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req = format!("GET {url} HTTP/1.1\r\nHost: origin.test\r\n\r\n");
    let res = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let head = format!(
        "RESPMOD icap://{addr}/av/respmod ICAP/1.0\r\nHost: {addr}\r\nX-Client-IP: 192.0.2.44\r\n\
         X-Client-Username: alice\r\nEncapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n\
         {req}{res}",
        req.len(),
        req.len() + res.len()
    );
    let mut msg = head.into_bytes();
    msg.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
    msg.extend_from_slice(body);
    msg.extend_from_slice(b"\r\n0\r\n\r\n");
    s.write_all(&msg).expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    // The head, then (for a 200) the encapsulated answer to its last chunk.
    loop {
        let n = s.read(&mut buf).expect("answer");
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(end) = text.find("\r\n\r\n") {
            let code: u16 = text[9..12].parse().expect("status");
            if code != 200 || text[end..].ends_with("0\r\n\r\n") {
                return code;
            }
        }
    }
}

fn start(syslog: &str, extra: &str) -> Bulwark {
    Bulwark::start_with_config(common::bulwark_bin(), Some(&format!("{extra}\n{syslog}")))
        .unwrap_or_else(|e| panic!("starting bulwark: {e}"))
}

fn object_records(messages: &[String]) -> Vec<Rfc5424> {
    messages
        .iter()
        .filter_map(|m| parse_rfc5424(m).ok())
        .filter(|p| p.msgid != "report")
        .collect()
}

#[test]
fn rfc5424_records_over_udp_carry_the_objects_sha256() {
    let rx = UdpReceiver::start().expect("receiver");
    let bulwark = start(
        &format!(
            "[log.syslog]\ntransport = \"udp\"\naddress = \"{}\"\nhostname = \"scan-a\"\n",
            rx.addr()
        ),
        "",
    );
    let eicar = bulwark_testkit::eicar();
    assert_eq!(
        respmod(bulwark.addr(), "http://origin.test/eicar.com", &eicar),
        200
    );
    assert_eq!(
        respmod(bulwark.addr(), "http://origin.test/a|b=c.txt", CLEAN),
        200
    );
    // EICAR first, then 300 KB: detected early, the rest drained (and hashed) unscanned.
    let mut long = eicar.clone();
    long.extend_from_slice(&bulwark_testkit::pattern(300_000));
    assert_eq!(
        respmod(bulwark.addr(), "http://origin.test/long.bin", &long),
        200
    );
    let got = rx
        .wait(WAIT, |m| object_records(m).len() >= 3)
        .unwrap_or_else(|e| panic!("{e}\n--- bulwark log ---\n{}", bulwark.log()));
    // Every message parses, the report log's included.
    for m in &got {
        parse_rfc5424(m).unwrap_or_else(|e| panic!("{e}: {m:?}"));
    }
    assert!(
        got.iter()
            .any(|m| m.contains(" report ") && m.contains("listening on")),
        "the report log goes too: {got:#?}"
    );
    // A record leaves once its transaction ends, after the answer (the rest of a blocked object
    // is still read and hashed), so records of back-to-back objects need not arrive in order.
    let records = object_records(&got);
    let by_url = |url: &str| {
        records
            .iter()
            .find(|r| r.param(SD, "url") == Some(url))
            .unwrap_or_else(|| panic!("no record for {url}: {records:#?}"))
    };
    let det = by_url("http://origin.test/eicar.com");
    let clean = by_url("http://origin.test/a|b=c.txt");
    assert_eq!((det.msgid.as_str(), det.pri), ("detection", 28));
    assert_eq!(det.hostname, "scan-a");
    assert_eq!(det.app_name, "bulwark");
    assert_eq!(det.procid, bulwark.pid().to_string());
    assert_eq!(det.param(SD, "threat"), Some("Eicar-Test-Signature"));
    assert_eq!(det.param(SD, "url"), Some("http://origin.test/eicar.com"));
    assert_eq!(det.param(SD, "client"), Some("192.0.2.44"));
    assert_eq!(det.param(SD, "user"), Some("alice"));
    assert_eq!(det.param(SD, "group"), Some("default"));
    assert_eq!(det.param(SD, "action"), Some("blocked"));
    assert_eq!(det.param(SD, "answer"), Some("block"));
    assert_eq!(det.param(SD, "size"), Some("68"));
    let eicar_sha = bulwark_testkit::sha256_hex(&eicar);
    assert_eq!(det.param(SD, "sha256"), Some(eicar_sha.as_str()));
    assert!(det
        .param(SD, "istag")
        .is_some_and(|t| t.starts_with("\"BW-")));
    assert_eq!(det.param(SD, "database"), Some("builtin-1"));

    assert_eq!((clean.msgid.as_str(), clean.pri), ("clean", 30));
    assert_eq!(clean.param(SD, "url"), Some("http://origin.test/a|b=c.txt"));
    assert_eq!(clean.param(SD, "action"), Some("delivered"));
    let clean_sha = bulwark_testkit::sha256_hex(CLEAN);
    assert_eq!(clean.param(SD, "sha256"), Some(clean_sha.as_str()));

    // The whole object's hash and size, though the scan stopped at its first bytes.
    let drained = by_url("http://origin.test/long.bin");
    assert_eq!(drained.msgid, "detection");
    let long_sha = bulwark_testkit::sha256_hex(&long);
    assert_eq!(drained.param(SD, "sha256"), Some(long_sha.as_str()));
    assert_eq!(drained.param(SD, "size"), Some("300068"));
}

#[test]
fn cef_records_over_tcp_carry_the_objects_sha256() {
    let rx = TcpReceiver::start().expect("receiver");
    let bulwark = start(
        &format!(
            "[log.syslog]\ntransport = \"tcp\"\naddress = \"{}\"\nformat = \"cef\"\n\
             facility = \"local4\"\nreport = false\n",
            rx.addr()
        ),
        "",
    );
    let eicar = bulwark_testkit::eicar();
    respmod(bulwark.addr(), "http://origin.test/x.com?q=a=b", &eicar);
    respmod(bulwark.addr(), "http://origin.test/clean.txt", CLEAN);
    let got = rx
        .wait(WAIT, |m| m.len() >= 2)
        .unwrap_or_else(|e| panic!("{e}\n--- bulwark log ---\n{}", bulwark.log()));
    assert_eq!(got.len(), 2, "report = false: objects only: {got:#?}");
    let lines: Vec<_> = got
        .iter()
        .map(|m| {
            let p = parse_rfc5424(m).unwrap_or_else(|e| panic!("{e}: {m:?}"));
            assert!(p.sd.is_empty());
            (
                p.pri,
                parse_cef(&p.msg).unwrap_or_else(|e| panic!("{e}: {:?}", p.msg)),
            )
        })
        .collect();
    // In the order the transactions ended, which need not be the order they were sent in.
    let by_url = |url: &str| {
        lines
            .iter()
            .find(|(_, c)| c.get("request") == Some(url))
            .unwrap_or_else(|| panic!("no record for {url}: {got:#?}"))
    };
    let (pri, det) = by_url("http://origin.test/x.com?q=a=b");
    assert_eq!(*pri, 20 * 8 + 4);
    assert_eq!(det.header[3..], ["infected", "Eicar-Test-Signature", "8"]);
    assert_eq!(det.get("request"), Some("http://origin.test/x.com?q=a=b"));
    assert_eq!(det.get("src"), Some("192.0.2.44"));
    assert_eq!(det.get("suser"), Some("alice"));
    assert_eq!(det.labelled("group"), Some("default"));
    assert_eq!(det.get("act"), Some("blocked"));
    let eicar_sha = bulwark_testkit::sha256_hex(&eicar);
    assert_eq!(det.get("fileHash"), Some(eicar_sha.as_str()));
    let (_, clean) = by_url("http://origin.test/clean.txt");
    assert_eq!(clean.header[3..], ["clean", "clean object", "1"]);
    let clean_sha = bulwark_testkit::sha256_hex(CLEAN);
    assert_eq!(clean.get("fileHash"), Some(clean_sha.as_str()));
    assert_eq!(clean.get("act"), Some("delivered"));
}

/// The value of a sample line `name value` in a /metrics text.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in\n{text}"))
}

#[test]
fn the_server_keeps_answering_with_the_receiver_down() {
    for transport in ["tcp", "udp"] {
        // A port nobody listens on: TCP refused, UDP unanswered.
        let port = bulwark_testkit::net::free_port().expect("port");
        let metrics_port = bulwark_testkit::net::free_port().expect("port");
        let mut bulwark = start(
            &format!(
                "[log.syslog]\ntransport = \"{transport}\"\naddress = \"127.0.0.1:{port}\"\n\
                 queue = 4\n"
            ),
            &format!("[metrics]\nlisten = [\"127.0.0.1:{metrics_port}\"]\n"),
        );
        let started = Instant::now();
        for i in 0..30 {
            let code = respmod(bulwark.addr(), &format!("http://origin.test/{i}"), CLEAN);
            assert_eq!(code, 200, "{transport}: request {i}");
        }
        let per_request = started.elapsed() / 30;
        assert!(
            per_request < Duration::from_millis(200),
            "{transport}: {per_request:?} per request"
        );
        let metrics: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().expect("addr");
        let text = get_direct(metrics, "/metrics", Duration::from_secs(5))
            .expect("metrics")
            .body_text();
        let full = sample(
            &text,
            "bulwark_syslog_messages_dropped_total{reason=\"queue_full\"}",
        );
        let failed = sample(
            &text,
            "bulwark_syslog_messages_dropped_total{reason=\"send_failed\"}",
        );
        let sent = sample(&text, "bulwark_syslog_messages_sent_total");
        match transport {
            // Refused: nothing sent, the queue full, drops counted.
            "tcp" => assert!(sent == 0 && full >= 20, "{transport}: {text}"),
            // Unanswered datagrams: sent, or refused by ICMP (counted as failed).
            _ => assert!(sent + failed + full >= 30, "{transport}: {text}"),
        }
        if transport == "tcp" {
            assert!(
                bulwark.log().contains("syslog: receiver slow or down"),
                "a warning: {}",
                bulwark.log()
            );
        }
        let t = Instant::now();
        let status = bulwark.stop(Duration::from_secs(20)).expect("exit status");
        assert!(
            status.success(),
            "{transport}: {status:?}\n{}",
            bulwark.log()
        );
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "{transport}: shutdown took {:?}",
            t.elapsed()
        );
    }
}
