//! ICAP over TLS with client certificates, and the access list (issue: TLS and who may use the
//! service). Certificates are made at test time (`bulwark_testkit::pki`).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bulwark_config::Config;
use bulwark_testkit::eicar;
use bulwark_testkit::pki::Ca;
use common::{start, Client};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write pem");
    p
}

struct Pki {
    _dir: tempfile::TempDir,
    ca: Ca,
    other_ca: Ca,
    cfg: Config,
}

fn pki(mutual: bool) -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("Bulwark test CA");
    let other_ca = Ca::new("Some other CA");
    let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"]);
    let mut cfg = Config::default();
    cfg.tls.listen = vec!["127.0.0.1:0".parse().expect("addr")];
    cfg.tls.cert = Some(write(dir.path(), "server.pem", &cert));
    cfg.tls.key = Some(write(dir.path(), "server.key", &key));
    if mutual {
        cfg.tls.client_ca = Some(write(dir.path(), "ca.pem", &ca.pem));
    }
    Pki {
        _dir: dir,
        ca,
        other_ca,
        cfg,
    }
}

async fn tls_client(
    addr: SocketAddr,
    trust: &Ca,
    client: Option<(String, String)>,
) -> std::io::Result<Client> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(trust.pem.as_bytes()) {
        roots.add(c.expect("ca pem")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("chain");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
        None => builder.with_no_client_auth(),
    };
    let tcp = TcpStream::connect(addr).await?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await?;
    Ok(Client::over(tls))
}

const OPTIONS: &[u8] = b"OPTIONS icap://127.0.0.1/av/respmod ICAP/1.0\r\n\r\n";

fn respmod(body: &[u8]) -> Vec<u8> {
    let req = "GET http://o.test/f HTTP/1.1\r\nHost: o.test\r\n\r\n";
    let res = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut m = format!(
        "RESPMOD icap://127.0.0.1/av/respmod ICAP/1.0\r\nEncapsulated: req-hdr=0, res-hdr={}, res-body={}\r\n\r\n{req}{res}",
        req.len(),
        req.len() + res.len()
    )
    .into_bytes();
    m.extend(format!("{:x}\r\n", body.len()).as_bytes());
    m.extend_from_slice(body);
    m.extend_from_slice(b"\r\n0\r\n\r\n");
    m
}

/// True when the server answers an OPTIONS over this client.
async fn answers(c: &mut Client) -> bool {
    c.send(OPTIONS).await;
    let head = match tokio::time::timeout(Duration::from_secs(5), c.event()).await {
        Ok(Some(bulwark_icap::ResponseEvent::Head(h))) => h,
        _ => return false,
    };
    // OPTIONS answers have no body: the End event follows.
    matches!(
        c.event().await,
        Some(bulwark_icap::ResponseEvent::End { .. })
    ) && head.status == 200
}

#[tokio::test]
async fn mutual_tls_scans_and_delivers() {
    let pki = pki(true);
    let srv = start(pki.cfg.clone()).await;
    let addr = srv.tls_addr.expect("tls listener");
    let mut c = tls_client(addr, &pki.ca, Some(pki.ca.leaf(&["squid"])))
        .await
        .expect("handshake");
    assert!(answers(&mut c).await);
    let clean: Vec<u8> = (0..5000u32).map(|i| (i % 200) as u8).collect();
    c.send(&respmod(&clean)).await;
    let a = c.answer().await;
    assert_eq!(a.head.status, 200);
    assert_eq!(a.body, clean);
    let mut bad = b"xx".to_vec();
    bad.extend(eicar());
    c.send(&respmod(&bad)).await;
    let a = c.answer().await;
    assert_eq!(a.head.http_response.map(|h| h.status), Some(403));
}

#[tokio::test]
async fn clients_without_a_good_certificate_are_refused() {
    let pki = pki(true);
    let srv = start(pki.cfg.clone()).await;
    let addr = srv.tls_addr.expect("tls listener");
    // No certificate at all.
    if let Ok(mut c) = tls_client(addr, &pki.ca, None).await {
        assert!(
            !answers(&mut c).await,
            "served a client without certificate"
        );
    }
    // A certificate from another CA.
    if let Ok(mut c) = tls_client(addr, &pki.ca, Some(pki.other_ca.leaf(&["evil"]))).await {
        assert!(
            !answers(&mut c).await,
            "served a client with a foreign certificate"
        );
    }
    // Still serving good clients.
    let mut ok = tls_client(addr, &pki.ca, Some(pki.ca.leaf(&["squid"])))
        .await
        .expect("handshake");
    assert!(answers(&mut ok).await);
}

#[tokio::test]
async fn tls_without_client_ca_needs_no_certificate() {
    let pki = pki(false);
    let srv = start(pki.cfg.clone()).await;
    let mut c = tls_client(srv.tls_addr.expect("tls"), &pki.ca, None)
        .await
        .expect("handshake");
    assert!(answers(&mut c).await);
}

#[tokio::test]
async fn garbage_and_handshake_floods_do_not_disturb_established_connections() {
    let mut pki = pki(true);
    pki.cfg.tls.handshake_timeout_secs = 1;
    let srv = start(pki.cfg.clone()).await;
    let addr = srv.tls_addr.expect("tls");
    let mut good = tls_client(addr, &pki.ca, Some(pki.ca.leaf(&["squid"])))
        .await
        .expect("handshake");
    assert!(answers(&mut good).await);
    let mut junk = Vec::new();
    for i in 0..50 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        if i % 2 == 0 {
            let _ = s
                .write_all(b"GET / HTTP/1.0\r\n\r\n\x00\x01\x02garbage")
                .await;
        }
        junk.push(s); // half of them never speak: they must time out, not block others
    }
    assert!(answers(&mut good).await);
    let mut second = tls_client(addr, &pki.ca, Some(pki.ca.leaf(&["squid"])))
        .await
        .expect("handshake");
    assert!(answers(&mut second).await);
}

async fn connect_from(src: &str, addr: SocketAddr) -> Client {
    let s = TcpSocket::new_v4().expect("socket");
    s.bind(format!("{src}:0").parse().expect("src"))
        .expect("bind source");
    Client::over(s.connect(addr).await.expect("connect"))
}

#[tokio::test]
async fn access_list_refuses_other_addresses_before_icap() {
    let mut cfg = Config::default();
    cfg.access.allow = vec!["127.0.0.2/32".into()];
    let srv = start(cfg).await;
    let mut allowed = connect_from("127.0.0.2", srv.addr).await;
    assert!(answers(&mut allowed).await);
    let mut refused = connect_from("127.0.0.3", srv.addr).await;
    assert!(!answers(&mut refused).await);
}

#[tokio::test]
async fn certificates_reload_without_dropping_established_connections() {
    let pki = pki(false);
    let srv = start(pki.cfg.clone()).await;
    let addr = srv.tls_addr.expect("tls");
    let mut before = tls_client(addr, &pki.ca, None).await.expect("handshake");
    assert!(answers(&mut before).await);
    // New certificate from another CA, as after a renewal; then SIGHUP's TLS reload.
    let (cert, key) = pki.other_ca.leaf(&["localhost", "127.0.0.1"]);
    let mut cfg = pki.cfg.clone();
    cfg.tls.cert = Some(write(pki._dir.path(), "new.pem", &cert));
    cfg.tls.key = Some(write(pki._dir.path(), "new.key", &key));
    srv.tls
        .as_ref()
        .expect("handle")
        .reload(&cfg.tls)
        .expect("reload");
    // The established connection keeps working.
    assert!(answers(&mut before).await);
    // New connections get the new certificate.
    let mut after = tls_client(addr, &pki.other_ca, None)
        .await
        .expect("handshake with the new certificate");
    assert!(answers(&mut after).await);
    assert!(
        tls_client(addr, &pki.ca, None).await.is_err(),
        "old certificate still served"
    );
    // A broken certificate file is refused and the current one stays.
    let mut bad = cfg.clone();
    bad.tls.cert = Some(write(pki._dir.path(), "broken.pem", "not a certificate"));
    assert!(srv.tls.as_ref().expect("handle").reload(&bad.tls).is_err());
    let mut still = tls_client(addr, &pki.other_ca, None)
        .await
        .expect("handshake");
    assert!(answers(&mut still).await);
}
