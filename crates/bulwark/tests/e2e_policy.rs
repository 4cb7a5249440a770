//! The administrator guide's two worked examples, written in kav4proxy.conf syntax, imported
//! with `bulwark config import`, and each rule observed on the wire through a real Squid with
//! `icap_send_client_ip on`. Loopback addresses stand in for the networks: 127.0.0.2 for the
//! managers' 192.168.1.0/24, 127.0.0.3 for the sales' 192.168.2.0/255.255.255.0, and 127.0.0.1
//! for everyone else.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use bulwark_testkit::client::{HttpResponse, ProxyClient};
use common::{bulwark_bin, Stack};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policy/tests/data");

/// Imports a kav4proxy.conf (after `edit`) and returns the TOML.
fn import(name: &str, edit: impl Fn(String) -> String, dir: &Path) -> String {
    let text = std::fs::read_to_string(Path::new(DATA).join(name)).expect("example");
    let conf = dir.join(name);
    // The test gives its own pid file and control socket, and logs to stderr.
    let text: String = edit(text)
        .lines()
        .filter(|l| !l.starts_with("PidFile=") && !l.starts_with("ReportFileName="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&conf, text).expect("write");
    let out = Command::new(bulwark_bin())
        .args(["config", "import"])
        .arg(&conf)
        .output()
        .expect("bulwark config import");
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let toml = String::from_utf8(out.stdout).expect("utf-8");
    // The import names ClamAV's /var/lib/clamav, which need not hold signatures on a test
    // machine: the test runs on the server's fallback instead (the same when it does).
    assert!(
        toml.contains("database = ['/var/lib/clamav']"),
        "the import sets the database: {toml}"
    );
    let mut toml: String = toml
        .lines()
        .map(|l| {
            if l.starts_with("database = ['/var/lib/clamav']") {
                "database = []\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    toml.push_str(&format!(
        "\n[control]\nsocket = \"{d}/control.sock\"\npid_file = \"{d}/bulwark.pid\"\n",
        d = dir.display()
    ));
    toml
}

fn client(stack: &Stack, src: &str) -> ProxyClient {
    let mut c = ProxyClient::new(stack.squid.addr());
    c.source = Some(src.parse::<IpAddr>().expect("address"));
    c
}

fn get(stack: &Stack, c: &ProxyClient, path: &str) -> HttpResponse {
    c.get(&stack.origin.url(path)).unwrap_or_else(|e| {
        panic!(
            "GET {path} from {:?}: {e}\n{}",
            c.source,
            stack.diagnostics()
        )
    })
}

fn status(stack: &Stack, src: &str, path: &str) -> u16 {
    get(stack, &client(stack, src), path).status
}

#[test]
fn example_b_managers_sales_and_a_strict_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Networks become loopback addresses; the sizes shrink below Squid 5.7's 64 KiB hold limit
    // (this example uses AnswerMode=complete); the CRM site becomes a path on the origin.
    let stack = Stack::start_with(|origin| {
        let port = origin.addr().port();
        let toml = import(
            "kav4proxy-groups.conf",
            |t| {
                t.replace("192.168.1.0/24", "127.0.0.2/32")
                    .replace("192.168.2.0/255.255.255.0", "127.0.0.3/255.255.255.255")
                    .replace("ListenAddress=192.168.0.1:1344", "")
                    .replace("MaxReqLength=10485760", "MaxReqLength=40000")
                    .replace("MaxReqLength=1048576", "MaxReqLength=20000")
                    .replace(
                        "^crm\\.example\\.com/",
                        &format!("^127\\.0\\.0\\.1:{port}/site/crm/"),
                    )
            },
            dir.path(),
        );
        assert!(toml.contains("mode = 'complete'"), "{toml}");
        Some(toml)
    });

    // Everyone: infected objects are denied.
    for src in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        assert_eq!(status(&stack, src, "/eicar"), 403, "EICAR for {src}");
    }
    // Size limits: default 40000 deny; sales 20000 skip; managers none.
    assert_eq!(status(&stack, "127.0.0.1", "/bytes/30000"), 200);
    let r = get(&stack, &client(&stack, "127.0.0.1"), "/bytes/50000");
    assert_eq!(r.status, 403, "default denies objects over MaxReqLength");
    assert_eq!(
        status(&stack, "127.0.0.3", "/bytes/50000"),
        200,
        "sales skips large objects"
    );
    assert_eq!(
        status(&stack, "127.0.0.3", "/eicar?tail=30000"),
        200,
        "sales: an object over its limit is not scanned (MaxReqLengthAction=skip)"
    );
    assert_eq!(
        status(&stack, "127.0.0.2", "/bytes/50000"),
        200,
        "managers have no limit"
    );
    assert_eq!(
        status(&stack, "127.0.0.2", "/eicar?tail=50000"),
        403,
        "managers' large objects are scanned"
    );
    // The CRM site is excluded for sales only.
    assert_eq!(
        status(&stack, "127.0.0.3", "/site/crm/eicar"),
        200,
        "sales: CRM excluded"
    );
    assert_eq!(
        status(&stack, "127.0.0.1", "/site/crm/eicar"),
        403,
        "default: CRM scanned"
    );
}

#[test]
fn example_a_common_settings_for_everyone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stack = Stack::start_with(|origin| {
        let port = origin.addr().port();
        let toml = import(
            "kav4proxy-common.conf",
            |t| {
                t.replace("ListenAddress=0.0.0.0:1344", "")
                    .replace(
                        "^www\\.example\\.com\\/.*",
                        &format!("^127\\.0\\.0\\.1:{port}/site/trusted/.*"),
                    )
                    .replace("MaxSendDelayTime=10", "MaxSendDelayTime=1")
            },
            dir.path(),
        );
        assert!(toml.contains("mode = 'partial'"), "{toml}");
        Some(toml)
    });
    assert_eq!(
        status(&stack, "127.0.0.2", "/eicar"),
        403,
        "infected denied"
    );
    assert_eq!(
        status(&stack, "127.0.0.3", "/site/trusted/eicar"),
        200,
        "www.example.com (here /site/trusted/) excluded"
    );
    let r = get(&stack, &client(&stack, "127.0.0.1"), "/bytes/2000000");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        bulwark_testkit::pattern(2_000_000),
        "partial mode delivers byte-exact"
    );
}

/// Reads a GET through the proxy as a stream: (status line, time to the first body byte,
/// bytes received, whether the response ended cleanly, total time).
fn stream_get(
    proxy: std::net::SocketAddr,
    url: &str,
    expect_len: usize,
) -> (
    String,
    std::time::Duration,
    usize,
    bool,
    std::time::Duration,
) {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let t0 = Instant::now();
    let mut s = bulwark_testkit::net::connect(proxy, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let host = url.split('/').nth(2).unwrap_or("");
    write!(
        s,
        "GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut buf = vec![0u8; 1 << 20];
    let mut head = Vec::new();
    let mut body = 0usize;
    let mut first = None;
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            body += n;
        } else {
            head.extend_from_slice(&buf[..n]);
            if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                body += head.len() - (i + 4);
                head.truncate(i + 4);
            }
        }
        if body > 0 && first.is_none() {
            first = Some(t0.elapsed());
        }
        if t0.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    let status = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    (
        status,
        first.unwrap_or_default(),
        body,
        body >= expect_len,
        t0.elapsed(),
    )
}

#[test]
fn partial_mode_streams_a_200_mb_download_and_never_delivers_a_late_infection() {
    const SIZE: usize = 200_000_000;
    let stack = Stack::start_with_config(Some("[answer]\nmode = \"partial\"\n"));
    // A slow origin: 1 MiB slices every 10 ms (about 2 s in all).
    let url = stack
        .origin
        .url(&format!("/bytes/{SIZE}?slow_ms=10&slice=1048576"));
    let (status, first, got, whole, total) = stream_get(stack.squid.addr(), &url, SIZE);
    assert!(status.contains(" 200 "), "{status}");
    assert!(whole, "clean download incomplete: {got} bytes");
    assert!(
        first < total / 2,
        "first byte after {first:?} of {total:?}: not streamed"
    );

    let pad = SIZE - 500_000;
    let bad = stack
        .origin
        .url(&format!("/eicar?pad={pad}&slow_ms=10&slice=1048576"));
    let (_, _, got, whole, _) = stream_get(stack.squid.addr(), &bad, pad + 68);
    assert!(
        !whole,
        "an infected 200 MB object was delivered whole ({got} bytes)"
    );
    assert!(got < pad, "the infected part was delivered ({got} bytes)");
    // The retry is blocked at once by the blocked-URL cache.
    let t0 = std::time::Instant::now();
    let r = stack.client.get(&bad).expect("retry");
    assert_eq!(r.status, 403, "{}", common::describe(&r));
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(5),
        "retry took {:?}",
        t0.elapsed()
    );
}

#[test]
fn a_group_marking_objects_uncacheable_works_through_squid_with_206() {
    let stack = Stack::start_with_config(Some(
        "[log]\nshow_ok = true\n[[policy.group]]\nname = \"lab\"\nclients = [\"127.0.0.2\"]\nmark_uncacheable = true\n",
    ));
    // Excluded media (answered at preview time: 206 with the marked heads).
    let r = get(
        &stack,
        &client(&stack, "127.0.0.2"),
        "/bytes/300000?type=video",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        bulwark_testkit::pattern(300_000),
        "206: the original body serves"
    );
    assert_eq!(
        r.header("cache-control"),
        Some("private, no-store"),
        "{:?}",
        r.headers
    );
    assert!(
        stack.bulwark.log().contains("answer=\"206-unscanned\""),
        "206 not used:\n{}",
        stack.bulwark.log()
    );
    // A scanned object: echoed with the mark.
    let r = get(&stack, &client(&stack, "127.0.0.2"), "/bytes/20000");
    assert_eq!(r.body, bulwark_testkit::pattern(20_000));
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    // Other clients: untouched.
    let r = get(&stack, &client(&stack, "127.0.0.1"), "/bytes/20000");
    assert_eq!(r.header("cache-control"), Some("no-store"));
}
