//! Self-tests of the harness, against the peer c-icap (a real ICAP server): the origin, the
//! proxy client, Squid wiring, c-icap and clamd launchers.

use std::time::Duration;

use bulwark_testkit::cicap::{CIcap, CIcapOptions};
use bulwark_testkit::clamd::{Clamd, ClamdDb};
use bulwark_testkit::client::{self, ProxyClient};
use bulwark_testkit::origin::Origin;
use bulwark_testkit::squid::{Squid, SquidOptions};
use bulwark_testkit::{eicar, pattern, sha256_hex};

const T: Duration = Duration::from_secs(30);

#[test]
fn origin_serves_bytes_chunked_eicar_and_uploads() {
    let origin = Origin::start().expect("origin");
    let r = client::get_direct(origin.addr(), "/bytes/100000", T).expect("get");
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.body, pattern(100_000));

    let r = client::get_direct(origin.addr(), "/chunked/70000?chunk=1000", T).expect("get");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.complete);
    assert_eq!(r.body, pattern(70_000));

    let r = client::get_direct(origin.addr(), "/eicar?pad=10&tail=5", T).expect("get");
    let mut want = pattern(10);
    want.extend_from_slice(&eicar());
    assert_eq!(&r.body[..78], &want[..]);
    assert_eq!(r.body.len(), 83);

    let r = client::get_direct(origin.addr(), "/eicar-split?pad=5&at=20", T).expect("get");
    assert!(r.complete);
    assert_eq!(&r.body[5..], &eicar()[..]);

    let r = client::get_direct(origin.addr(), "/bytes/3000?slow_ms=5&slice=1000", T).expect("get");
    assert_eq!(r.body, pattern(3000));

    let body = pattern(12345);
    let r = client::post_direct(origin.addr(), "/upload", &body, T).expect("post");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-received-length"), Some("12345"));
    assert_eq!(
        r.header("x-received-sha256"),
        Some(sha256_hex(&body).as_str())
    );
    let reqs = origin.requests();
    assert_eq!(reqs.last().map(|r| r.method.as_str()), Some("POST"));
}

#[test]
fn squid_through_cicap_echo_delivers_bytes_exactly() {
    let origin = Origin::start().expect("origin");
    let cicap = CIcap::start(CIcapOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let squid = Squid::start_with(SquidOptions {
        icap_port: Some(cicap.port()),
        services: Some(("echo".into(), "echo".into())),
        ..SquidOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let c = ProxyClient::new(squid.addr());
    for path in ["/bytes/1024", "/bytes/2000000", "/chunked/300000"] {
        let r = c.get(&origin.url(path)).expect("get through squid");
        assert_eq!(r.status, 200, "{path}: {}\n{}", r.body_text(), squid.logs());
        assert!(r.complete, "{path}: {:?}", r.error);
        let n: usize = path
            .rsplit('/')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("n");
        assert!(r.body == pattern(n), "{path}: body differs");
    }
    let body = pattern(50_000);
    let r = c
        .post(&origin.url("/upload"), "application/octet-stream", &body)
        .expect("post");
    assert_eq!(
        r.header("x-received-sha256"),
        Some(sha256_hex(&body).as_str())
    );
    // Stopping the essential ICAP service: Squid must answer with an error, never the object.
    drop(cicap);
    let r = c.get(&origin.url("/bytes/1024")).expect("get");
    assert!(r.status >= 500, "status {} with c-icap down", r.status);
}

#[test]
fn cicap_virus_scan_with_clamd_blocks_eicar_through_squid() {
    let origin = Origin::start().expect("origin");
    let clamd = Clamd::start(ClamdDb::Eicar).unwrap_or_else(|e| panic!("{e}"));
    let cicap = CIcap::start(CIcapOptions {
        clamd_socket: Some(clamd.socket().to_path_buf()),
        ..CIcapOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let squid = Squid::start_with(SquidOptions {
        icap_port: Some(cicap.port()),
        services: Some(("virus_scan".into(), "virus_scan".into())),
        ..SquidOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let c = ProxyClient::new(squid.addr());
    let r = c.get(&origin.url("/eicar?pad=100")).expect("get");
    assert_eq!(r.status, 403, "{}\n{}", r.body_text(), squid.logs());
    assert!(r.body_text().contains("VIRUS FOUND"));
    let r = c.get(&origin.url("/bytes/15000")).expect("get");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pattern(15_000));
}
