//! A receiver nobody here wrote: Debian's rsyslogd, on loopback ports chosen at run time and a
//! Unix socket in a temporary directory, parses what the central log sends — RFC 5424 over UDP,
//! CEF over TCP with octet counting, the `syslog(3)` header on a local socket — and writes the
//! fields it parsed to a file. Skipped, with a message, where rsyslog is not installed
//! (`scripts/deps.sh test` installs it).

use std::time::Duration;

use bulwark_config::syslog::Facility;
use bulwark_config::syslog::Format;
use bulwark_config::syslog::Transport;
use bulwark_config::SyslogConfig;
use bulwark_syslog::{Action, CentralLog, ObjectRecord, RecordKind};
use bulwark_testkit::rsyslogd::{rsyslogd_binary, Rsyslogd};
use bulwark_testkit::syslog::{parse_cef, parse_rfc5424};

/// rsyslog escapes control characters on receipt (`#012`): no line breaks here, but every
/// character RFC 5424 and CEF escape.
const URL: &str = "http://evil.example/a|b=c\\d\"e]f?x=1";

fn record(url: &str) -> ObjectRecord<'_> {
    ObjectRecord {
        kind: RecordKind::Detection,
        protocol: "RESPMOD",
        status: "infected",
        threats: &["Eicar-Test-Signature"],
        url,
        client: Some("192.0.2.10"),
        user: Some("alice"),
        group: "default",
        action: Action::Blocked,
        answer: "block",
        size: 68,
        sha256: Some(&[0x42; 32]),
        istag: "\"BW-1\"",
        database: "builtin-1",
        millis: 1,
    }
}

/// `key=value` of one line of the rsyslogd output (`pri=… host=… app=… procid=… msgid=…
/// sd=… msg=…`); `msg` runs to the end of the line, `sd` to ` msg=`.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("{key} in {line}"))
        + key.len()
        + 1;
    let rest = &line[start..];
    match key {
        "msg" => rest,
        "sd" => &rest[..rest.find(" msg=").unwrap_or(rest.len())],
        _ => rest.split(' ').next().unwrap_or(""),
    }
}

#[test]
fn rsyslogd_parses_udp_rfc5424_tcp_cef_and_the_local_socket() {
    if let Err(e) = rsyslogd_binary() {
        eprintln!("skipped: {e}");
        return;
    }
    let tcp_port = bulwark_testkit::net::free_port().expect("port");
    let sock_dir = tempfile::tempdir().expect("dir");
    let sock = sock_dir.path().join("log.sock");
    let mut rsyslogd = Rsyslogd::start(&format!(
        "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{tcp_port}\")\n\
         module(load=\"imuxsock\" SysSock.Use=\"off\")\ninput(type=\"imuxsock\" Socket=\"{}\")\n",
        sock.display()
    ))
    .unwrap_or_else(|e| panic!("starting rsyslogd: {e}"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let base = SyslogConfig {
        hostname: "scan1".into(),
        facility: Facility::Local4,
        ..SyslogConfig::default()
    };
    let logs = [
        SyslogConfig {
            transport: Transport::Udp,
            address: rsyslogd.udp().to_string(),
            ..base.clone()
        },
        SyslogConfig {
            transport: Transport::Tcp,
            address: format!("127.0.0.1:{tcp_port}"),
            format: Format::Cef,
            ..base.clone()
        },
        SyslogConfig {
            transport: Transport::Local,
            socket: sock.clone(),
            ..base
        },
    ]
    .map(|cfg| CentralLog::new(&cfg));
    rt.block_on(async {
        for (i, log) in logs.iter().enumerate() {
            log.start();
            log.object(&record(&format!("{URL}&via{i}")));
        }
        for log in &logs {
            log.shutdown(Duration::from_secs(2)).await;
        }
    });
    let lines = rsyslogd
        .wait_lines(Duration::from_secs(15), |l| l.len() >= 3)
        .unwrap_or_else(|e| panic!("{e}"));
    let by_via = |i: usize| {
        lines
            .iter()
            .find(|l| l.contains(&format!("via{i}")))
            .unwrap_or_else(|| panic!("via{i} in {lines:#?}"))
            .as_str()
    };
    let pid = std::process::id().to_string();

    // UDP, RFC 5424: every header field and the structured data as rsyslog parsed them.
    let udp = by_via(0);
    assert_eq!(
        [
            field(udp, "pri"),
            field(udp, "host"),
            field(udp, "app"),
            field(udp, "procid"),
            field(udp, "msgid")
        ],
        ["164", "scan1", "bulwark", pid.as_str(), "detection"],
        "{udp}"
    );
    let sd = parse_rfc5424(&format!(
        "<0>1 2024-01-01T00:00:00Z h a p m {}",
        field(udp, "sd")
    ))
    .unwrap_or_else(|e| panic!("{e}: {udp}"));
    assert_eq!(
        sd.param("bulwark@32473", "url"),
        Some(format!("{URL}&via0").as_str())
    );
    assert_eq!(
        sd.param("bulwark@32473", "sha256"),
        Some("42".repeat(32).as_str())
    );

    // TCP, octet-counted CEF: rsyslog found the frame's end and the header; the CEF line is
    // the message.
    let tcp = by_via(1);
    assert_eq!(
        [field(tcp, "app"), field(tcp, "msgid"), field(tcp, "sd")],
        ["bulwark", "detection", "-"],
        "{tcp}"
    );
    let cef = parse_cef(field(tcp, "msg")).unwrap_or_else(|e| panic!("{e}: {tcp}"));
    assert_eq!(cef.get("request"), Some(format!("{URL}&via1").as_str()));
    assert_eq!(cef.get("fileHash"), Some("42".repeat(32).as_str()));

    // The local socket, default header: rsyslog's socket parser reads the tag and the pid.
    let local = by_via(2);
    assert_eq!(
        [
            field(local, "pri"),
            field(local, "app"),
            field(local, "procid")
        ],
        ["164", "bulwark", pid.as_str()],
        "{local}"
    );
    assert!(
        field(local, "msg")
            .trim_start()
            .starts_with("detection [bulwark@32473 protocol=\"RESPMOD\""),
        "{local}"
    );
}
