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
use common::{eicar, zip, Bulwark};

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
