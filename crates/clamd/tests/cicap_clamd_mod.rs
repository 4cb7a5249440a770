//! c-icap's own virus_scan service with its clamd_mod (Debian's libc-icap-mod-virus-scan)
//! pointed at Bulwark's clamd socket, and at a real clamd: the same RESPMODs get the same
//! verdicts (an infected download is replaced by c-icap's "VIRUS FOUND" page naming the
//! signature, a clean one comes back whole).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bulwark_testkit::cicap::{CIcap, CIcapOptions};
use bulwark_testkit::clamd::{Clamd, ClamdDb};
use bulwark_testkit::eicar;
use common::{zip, Bulwark};

/// One RESPMOD of `body` to c-icap's virus_scan; the whole answer.
fn respmod(addr: SocketAddr, body: &[u8]) -> String {
    let req_hdr = "GET /file.bin HTTP/1.1\r\nHost: origin.test\r\n\r\n";
    let res_hdr = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut msg = format!(
        "RESPMOD icap://{addr}/virus_scan ICAP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\
         Encapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n{req_hdr}{res_hdr}{:x}\r\n",
        req_hdr.len(),
        req_hdr.len() + res_hdr.len(),
        body.len()
    )
    .into_bytes();
    msg.extend_from_slice(body);
    msg.extend_from_slice(b"\r\n0\r\n\r\n");
    let mut s = TcpStream::connect(addr).expect("connect c-icap");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    s.write_all(&msg).expect("send");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) if out.ends_with(b"\r\n0\r\n\r\n") => break,
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The verdict in c-icap's answer: the encapsulated HTTP status and whether the page names
/// the EICAR signature.
fn verdict(answer: &str) -> (String, bool) {
    let http = answer
        .lines()
        .find(|l| l.starts_with("HTTP/1."))
        .unwrap_or("(no HTTP head)")
        .to_string();
    let named = answer.contains("Bulwark.Test.EICAR") || answer.contains("Eicar-Test-Signature");
    (http, named)
}

#[test]
fn cicap_clamd_mod_uses_bulwark_as_it_uses_clamd() {
    let clamd = Clamd::start(ClamdDb::Eicar).expect("real clamd");
    let bulwark = Bulwark::start(&clamd.dir().join("db"), &[], |_| {});
    let with = |socket: &std::path::Path| {
        CIcap::start(CIcapOptions {
            clamd_socket: Some(socket.to_path_buf()),
            ..CIcapOptions::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let real = with(clamd.socket());
    let ours = with(&bulwark.socket);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("eicar", eicar()),
        ("zip", zip(&[("a.txt", b"a"), ("eicar.com", &eicar())])),
        ("clean", b"just some bytes\n".repeat(500)),
    ];
    for (name, body) in &bodies {
        let want = verdict(&respmod(real.addr(), body));
        let got = verdict(&respmod(ours.addr(), body));
        eprintln!("{name}: {got:?}");
        assert_eq!(
            got, want,
            "{name}: c-icap with Bulwark (left) vs with clamd (right)"
        );
        assert_eq!(want.1, *name != "clean", "{name}: {want:?}");
    }
    assert!(bulwark.ctx.stats.objects_of("infected") >= 2);
}

/// The whole chain a c-icap site runs, with Bulwark in clamd's place: Debian's Squid sends each
/// download to c-icap's virus_scan, whose clamd_mod asks Bulwark's clamd socket. Infected
/// downloads get c-icap's "VIRUS FOUND" page naming the signature, clean ones arrive
/// byte-exact, and Squid never suspends the service.
#[test]
fn squid_cicap_clamd_mod_bulwark_chain() {
    use bulwark_testkit::client::ProxyClient;
    use bulwark_testkit::origin::Origin;
    use bulwark_testkit::squid::{Squid, SquidOptions};

    let clamd = Clamd::start(ClamdDb::Eicar).expect("real clamd (for its signatures)");
    let bulwark = Bulwark::start(&clamd.dir().join("db"), &[], |_| {});
    let cicap = CIcap::start(CIcapOptions {
        clamd_socket: Some(bulwark.socket.clone()),
        ..CIcapOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let origin = Origin::start().expect("origin");
    let clean: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    origin.put_file("clean.bin", clean.clone());
    origin.put_file("eicar.com", eicar());
    origin.put_file(
        "archive.zip",
        zip(&[("readme.txt", b"hello"), ("eicar.com", &eicar())]),
    );
    let squid = Squid::start_with(SquidOptions {
        icap_port: Some(cicap.port()),
        services: Some(("virus_scan".into(), "virus_scan".into())),
        no_reqmod: true,
        ..SquidOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let client = ProxyClient::new(squid.addr());
    for round in 0..3 {
        for name in ["eicar.com", "archive.zip"] {
            let r = client
                .get(&origin.url(&format!("/files/{name}")))
                .expect("get");
            let page = r.body_text();
            assert!(
                page.contains("Eicar-Test-Signature") || page.contains("EICAR"),
                "round {round}, {name}: {} {page}",
                r.status
            );
        }
        let r = client.get(&origin.url("/files/clean.bin")).expect("get");
        assert_eq!(r.status, 200, "round {round}: clean");
        assert!(r.complete && r.body == clean, "round {round}: clean body");
    }
    assert!(
        squid.suspensions().is_empty(),
        "Squid suspended the service: {:?}",
        squid.suspensions()
    );
    assert!(bulwark.ctx.stats.objects_of("infected") >= 6);
}
