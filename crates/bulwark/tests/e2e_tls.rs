//! ICAP over TLS with a real Squid (Debian's squid-openssl): Squid presents a client
//! certificate over icaps://; Bulwark verifies it against its CA (mutual TLS). A Squid without
//! a certificate, or with one from another CA, is refused and fails closed.

mod common;

use std::path::{Path, PathBuf};

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::client::ProxyClient;
use bulwark_testkit::origin::Origin;
use bulwark_testkit::pki::Ca;
use bulwark_testkit::squid::{Squid, SquidOptions};
use common::bulwark_bin;

/// Writes a certificate signed by `ca` for `names` as NAME.pem and NAME.key.
fn leaf(ca: &Ca, names: &[&str], dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = ca.leaf(names);
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert).expect("write cert");
    std::fs::write(&k, key).expect("write key");
    // Squid reads them after dropping to the proxy user.
    for f in [&c, &k] {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644));
    }
    (c, k)
}

struct Pki {
    dir: tempfile::TempDir,
    ca_file: PathBuf,
    ca: Ca,
    other: Ca,
}

fn pki() -> Pki {
    let dir = bulwark_testkit::shared_tempdir("bulwark-tls-").expect("tempdir");
    let ca = Ca::new("Bulwark e2e CA");
    let other = Ca::new("Another CA");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("ca");
    Pki {
        dir,
        ca_file,
        ca,
        other,
    }
}

fn start_bulwark(p: &Pki) -> (Bulwark, u16) {
    let (cert, key) = leaf(&p.ca, &["localhost", "127.0.0.1"], p.dir.path(), "server");
    let tls_port = bulwark_testkit::net::free_port().expect("port");
    let config = format!(
        r#"
[tls]
listen = ["127.0.0.1:{tls_port}"]
cert = "{}"
key = "{}"
client_ca = "{}"
[control]
socket = "{d}/control.sock"
pid_file = "{d}/bulwark.pid"
"#,
        cert.display(),
        key.display(),
        p.ca_file.display(),
        d = p.dir.path().display()
    );
    let b = Bulwark::start_with_config(bulwark_bin(), Some(&config)).expect("bulwark");
    (b, tls_port)
}

/// Squid using icaps:// with `client` as its certificate (none: no certificate).
fn start_squid(p: &Pki, tls_port: u16, client: Option<(PathBuf, PathBuf)>) -> Squid {
    let creds = match &client {
        Some((c, k)) => format!(" tls-cert={} tls-key={}", c.display(), k.display()),
        None => String::new(),
    };
    let uri = |svc: &str| format!("icaps://127.0.0.1:{tls_port}/av/{svc}");
    let opts = SquidOptions {
        icap_port: None,
        extra: vec![
            "icap_enable on".into(),
            "icap_send_client_ip on".into(),
            "icap_service_failure_limit -1".into(),
            format!(
                "icap_service svc_resp respmod_precache bypass=off {} tls-cafile={} tls-domain=localhost{creds}",
                uri("respmod"),
                p.ca_file.display()
            ),
            "adaptation_access svc_resp allow all".into(),
            format!(
                "icap_service svc_req reqmod_precache bypass=off {} tls-cafile={} tls-domain=localhost{creds}",
                uri("reqmod"),
                p.ca_file.display()
            ),
            "adaptation_access svc_req allow all".into(),
        ],
        ..SquidOptions::default()
    };
    Squid::start_with(opts).expect("squid")
}

#[test]
fn squid_with_a_client_certificate_is_served_over_tls() {
    let p = pki();
    let (bulwark, tls_port) = start_bulwark(&p);
    let origin = Origin::start().expect("origin");
    let client_cert = leaf(&p.ca, &["squid"], p.dir.path(), "squid");
    let squid = start_squid(&p, tls_port, Some(client_cert));
    let c = ProxyClient::new(squid.addr());
    let r = c.get(&origin.url("/bytes/300000")).expect("clean object");
    assert_eq!(
        r.status,
        200,
        "{}\n{}\n{}",
        common::describe(&r),
        squid.logs(),
        bulwark.log()
    );
    assert_eq!(r.body, bulwark_testkit::pattern(300_000));
    let r = c.get(&origin.url("/eicar")).expect("infected object");
    assert_eq!(r.status, 403, "{}", common::describe(&r));
    let r = c
        .post(
            &origin.url("/upload"),
            "application/octet-stream",
            &bulwark_testkit::eicar(),
        )
        .expect("upload");
    assert_eq!(r.status, 403);
    assert!(bulwark.log().contains("(TLS)"), "TLS listener not reported");
}

#[test]
fn squid_without_a_good_certificate_is_refused_and_fails_closed() {
    let p = pki();
    let (bulwark, tls_port) = start_bulwark(&p);
    let origin = Origin::start().expect("origin");
    let foreign = leaf(&p.other, &["intruder"], p.dir.path(), "intruder");
    for client in [None, Some(foreign)] {
        let squid = start_squid(&p, tls_port, client.clone());
        let c = ProxyClient::new(squid.addr());
        let r = c.get(&origin.url("/bytes/1000")).expect("answer");
        assert!(
            r.status >= 500,
            "served without a valid client certificate ({client:?}): {}",
            common::describe(&r)
        );
    }
    assert!(
        bulwark.log().contains("TLS handshake failed"),
        "{}",
        bulwark.log()
    );
}
