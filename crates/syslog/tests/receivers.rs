//! The central log against receivers in the test, on loopback ports chosen at run time: what
//! arrives over UDP, TCP and a Unix socket parses strictly (RFC 5424 header and structured
//! data, octet-counting frames, CEF escapes) and gives back the very values sent, hostile URLs
//! included; a receiver that is down costs counted drops and a bounded shutdown, nothing more.

use std::time::{Duration, Instant};

use bulwark_config::syslog::Format;
use bulwark_config::syslog::Header;
use bulwark_config::syslog::Objects;
use bulwark_config::syslog::Transport;
use bulwark_config::SyslogConfig;
use bulwark_syslog::{Action, CentralLog, ObjectRecord, RecordKind, SyslogLayer};
use bulwark_testkit::syslog::{parse_cef, parse_rfc5424, TcpReceiver, UdpReceiver};

const SD: &str = "bulwark@32473";
const WAIT: Duration = Duration::from_secs(10);

/// URLs no receiver should choke on: CEF's and RFC 5424's special characters, line breaks.
const HOSTILE: [&str; 4] = [
    "http://evil.example/a|b=c\\d?x=1|2",
    "http://evil.example/\"quoted\"]bracket[\\",
    "http://evil.example/line\nbreak\r\nCEF:0|fake|header|1|x|y|10|src=6.6.6.6",
    "http://evil.example/ünï©ode=\\=",
];

fn record<'a>(url: &'a str, sha: Option<&'a [u8; 32]>) -> ObjectRecord<'a> {
    ObjectRecord {
        kind: RecordKind::Detection,
        protocol: "RESPMOD",
        status: "infected",
        threats: &["Eicar-Test-Signature", "Second|Name=x"],
        url,
        client: Some("192.0.2.10"),
        user: Some("DOM\\alice=admin"),
        group: "staff|=\\",
        action: Action::Blocked,
        answer: "403",
        size: 68,
        sha256: sha,
        istag: "\"BW-abc\"",
        database: "builtin-1",
        millis: 4,
    }
}

fn config(transport: Transport, address: String, format: Format) -> SyslogConfig {
    SyslogConfig {
        transport,
        address,
        format,
        hostname: "scan1.example".into(),
        ..SyslogConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_records_parse_as_rfc5424_with_every_field_back() {
    let rx = UdpReceiver::start().expect("receiver");
    let central = CentralLog::new(&config(
        Transport::Udp,
        rx.addr().to_string(),
        Format::Rfc5424,
    ));
    central.start();
    let sha = [0xabu8; 32];
    for url in HOSTILE {
        central.object(&record(url, Some(&sha)));
    }
    let clean = ObjectRecord {
        kind: RecordKind::Clean,
        threats: &[],
        status: "clean",
        action: Action::Delivered,
        answer: "204",
        client: None,
        user: None,
        sha256: None,
        ..record("http://ok.example/", None)
    };
    central.object(&clean);
    let got = rx.wait(WAIT, |m| m.len() >= 5).expect("five datagrams");
    for (m, url) in got.iter().zip(HOSTILE) {
        let p = parse_rfc5424(m).unwrap_or_else(|e| panic!("{e}: {m:?}"));
        // daemon (3) × 8 + warning (4)
        assert_eq!(p.pri, 28);
        assert_eq!(
            (p.hostname.as_str(), p.app_name.as_str(), p.msgid.as_str()),
            ("scan1.example", "bulwark", "detection")
        );
        assert_eq!(p.procid, std::process::id().to_string());
        assert_eq!(p.param(SD, "url"), Some(url));
        assert_eq!(
            p.params(SD, "threat"),
            ["Eicar-Test-Signature", "Second|Name=x"]
        );
        assert_eq!(p.param(SD, "user"), Some("DOM\\alice=admin"));
        assert_eq!(p.param(SD, "group"), Some("staff|=\\"));
        assert_eq!(p.param(SD, "client"), Some("192.0.2.10"));
        assert_eq!(p.param(SD, "action"), Some("blocked"));
        assert_eq!(p.param(SD, "size"), Some("68"));
        assert_eq!(p.param(SD, "sha256"), Some("ab".repeat(32).as_str()));
        assert_eq!(p.param(SD, "istag"), Some("\"BW-abc\""));
        assert_eq!(p.param(SD, "database"), Some("builtin-1"));
        assert!(!p.msg.contains(['\n', '\r']), "{:?}", p.msg);
        assert!(p
            .msg
            .starts_with("infected Eicar-Test-Signature,Second|Name=x: RESPMOD"));
    }
    let c = parse_rfc5424(&got[4]).expect("clean record");
    assert_eq!((c.pri, c.msgid.as_str()), (30, "clean"));
    assert_eq!(c.param(SD, "sha256"), None);
    assert_eq!(c.param(SD, "user"), None);
    central.shutdown(Duration::from_secs(2)).await;
    assert_eq!(central.stats().sent, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_frames_are_octet_counted_and_cef_escapes_round_trip() {
    let rx = TcpReceiver::start().expect("receiver");
    let central = CentralLog::new(&config(Transport::Tcp, rx.addr().to_string(), Format::Cef));
    central.start();
    let sha = [0x5au8; 32];
    for url in HOSTILE {
        central.object(&record(url, Some(&sha)));
    }
    // The receiver checks every frame: `LEN SP MSG`, LEN the exact byte count.
    let got = rx.wait(WAIT, |m| m.len() >= 4).expect("four frames");
    for (m, url) in got.iter().zip(HOSTILE) {
        let p = parse_rfc5424(m).unwrap_or_else(|e| panic!("{e}: {m:?}"));
        assert!(p.sd.is_empty(), "CEF carries no structured data: {m}");
        let cef = parse_cef(&p.msg).unwrap_or_else(|e| panic!("{e}: {:?}", p.msg));
        assert_eq!(cef.header[0..2], ["Bulwark", "Bulwark"]);
        assert_eq!(cef.header[2], env!("CARGO_PKG_VERSION"));
        assert_eq!(cef.header[3..], ["infected", "Eicar-Test-Signature", "8"]);
        assert_eq!(cef.get("request"), Some(url));
        assert_eq!(cef.get("src"), Some("192.0.2.10"));
        assert_eq!(cef.get("suser"), Some("DOM\\alice=admin"));
        assert_eq!(cef.labelled("group"), Some("staff|=\\"));
        assert_eq!(
            cef.labelled("threats"),
            Some("Eicar-Test-Signature,Second|Name=x")
        );
        assert_eq!(cef.get("act"), Some("blocked"));
        assert_eq!(cef.get("fileHash"), Some("5a".repeat(32).as_str()));
        assert_eq!(cef.get("fsize"), Some("68"));
        assert_eq!(cef.get("dvchost"), Some("scan1.example"));
        assert_eq!(cef.labelled("istag"), Some("\"BW-abc\""));
        // The injected fake header stayed inside the request value.
        assert_eq!(cef.ext.iter().filter(|(k, _)| k == "src").count(), 1);
    }
    central.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_socket_gets_the_syslog3_header() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("log.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    sock.set_read_timeout(Some(WAIT)).expect("timeout");
    let central = CentralLog::new(&SyslogConfig {
        transport: Transport::Local,
        socket: path.clone(),
        facility: bulwark_config::syslog::Facility::Local4,
        ..SyslogConfig::default()
    });
    central.start();
    central.object(&record("http://h/x", None));
    let mut buf = vec![0u8; 65_536];
    let n = sock.recv(&mut buf).expect("a datagram");
    let m = String::from_utf8(buf[..n].to_vec()).expect("utf-8");
    // `<PRI>Mmm dd hh:mm:ss APP[PID]: ` as syslog(3) writes it, no host name.
    let (head, rest) = m.split_once("]: ").expect("tag");
    assert!(head.starts_with("<164>"), "{m}");
    assert!(
        head.ends_with(&format!(" bulwark[{}", std::process::id())),
        "{m}"
    );
    assert_eq!(
        head.len(),
        "<164>Nov 14 22:13:20 bulwark[".len() + std::process::id().to_string().len()
    );
    assert!(
        rest.starts_with("detection [bulwark@32473 protocol=\"RESPMOD\""),
        "{m}"
    );
    // Forced RFC 5424 on the same socket.
    central.reconfigure(
        &SyslogConfig {
            transport: Transport::Local,
            socket: path,
            header: Header::Rfc5424,
            ..SyslogConfig::default()
        },
        Duration::from_secs(1),
    );
    central.object(&record("http://h/y", None));
    let n = sock.recv(&mut buf).expect("a datagram");
    let m = String::from_utf8(buf[..n].to_vec()).expect("utf-8");
    let p = parse_rfc5424(&m).unwrap_or_else(|e| panic!("{e}: {m}"));
    assert_eq!(p.param(SD, "url"), Some("http://h/y"));
    central.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_tcp_receiver_costs_counted_drops_and_a_bounded_shutdown() {
    // A port nobody listens on: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let central = CentralLog::new(&SyslogConfig {
        queue: 4,
        ..config(Transport::Tcp, format!("127.0.0.1:{port}"), Format::Rfc5424)
    });
    central.start();
    let started = Instant::now();
    for i in 0..100 {
        central.object(&record(&format!("http://h/{i}"), None));
    }
    // Queuing never waits on the receiver.
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = central.stats();
    assert_eq!(s.sent, 0);
    assert!(s.dropped_queue_full >= 95, "{s:?}");
    let t = Instant::now();
    central.shutdown(Duration::from_millis(500)).await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        t.elapsed()
    );
    let s = central.stats();
    assert_eq!(
        s.dropped_queue_full + s.dropped_shutdown + s.dropped_send_failed,
        100,
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_reconnects_after_the_receiver_restarts() {
    let first = TcpReceiver::start().expect("receiver");
    let addr = first.addr();
    let central = CentralLog::new(&config(Transport::Tcp, addr.to_string(), Format::Rfc5424));
    central.start();
    central.object(&record("http://h/before", None));
    first.wait(WAIT, |m| m.len() == 1).expect("first message");
    // A restart: the receiver closes its connections and its port, then listens again.
    first.stop();
    // The old listener closes as its thread ends: bind again until the port is free.
    let rebind_until = Instant::now() + Duration::from_secs(5);
    let listener = loop {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => break l,
            Err(e) if Instant::now() < rebind_until => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("rebind {addr}: {e}"),
        }
    };
    let second = TcpReceiver::on(listener).expect("rx");
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..3 {
        central.object(&record(&format!("http://h/after{i}"), None));
    }
    // The closed connection is noticed before writing: nothing is lost.
    let got = second
        .wait(WAIT, |m| m.len() >= 3)
        .expect("messages after the restart");
    for (i, m) in got.iter().enumerate() {
        let p = parse_rfc5424(m).expect("parses");
        assert_eq!(
            p.param(SD, "url"),
            Some(format!("http://h/after{i}").as_str())
        );
    }
    assert_eq!(
        central.stats().dropped_send_failed,
        0,
        "{:?}",
        central.stats()
    );
    central.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn the_report_layer_sends_events_but_not_its_own_nor_access_lines() {
    use tracing_subscriber::layer::SubscriberExt;
    let rx = UdpReceiver::start().expect("receiver");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let central = CentralLog::new(&SyslogConfig {
        objects: Objects::All,
        ..config(Transport::Udp, rx.addr().to_string(), Format::Rfc5424)
    });
    rt.block_on(async { central.start() });
    let subscriber = tracing_subscriber::registry().with(SyslogLayer::new(central.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::warn!(target: "bulwark_server::control", file = "/etc/x", "reload refused");
        tracing::warn!(target: "bulwark_syslog::worker", "about the receiver");
        tracing::info!(target: "bulwark::access", url = "http://h/", "scanned");
        tracing::info!(target: "bulwark", count = 3, "last");
    });
    let got = rx.wait(WAIT, |m| m.len() >= 2).expect("two messages");
    std::thread::sleep(Duration::from_millis(200));
    let got = rx.wait(WAIT, |m| m.len() >= got.len()).expect("messages");
    assert_eq!(got.len(), 2, "{got:#?}");
    let p = parse_rfc5424(&got[0]).expect("parses");
    assert_eq!((p.pri, p.msgid.as_str()), (28, "report"));
    assert_eq!(p.param(SD, "level"), Some("WARN"));
    assert_eq!(p.param(SD, "target"), Some("bulwark_server::control"));
    assert_eq!(p.param(SD, "file"), Some("/etc/x"));
    assert_eq!(p.msg, "reload refused file=/etc/x");
    let q = parse_rfc5424(&got[1]).expect("parses");
    assert_eq!((q.pri, q.param(SD, "count")), (30, Some("3")));
    rt.block_on(central.shutdown(Duration::from_secs(1)));
}
