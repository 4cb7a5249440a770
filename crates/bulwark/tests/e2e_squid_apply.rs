//! `bulwark squid apply` on a copy of Debian's default squid.conf, then a real Squid started
//! from the applied file blocks EICAR and delivers clean objects.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::client::ProxyClient;
use bulwark_testkit::origin::Origin;
use bulwark_testkit::proc::ChildGuard;
use common::bulwark_bin;

#[test]
fn applied_debian_squid_conf_blocks_eicar() {
    let default_conf = std::fs::read_to_string("/etc/squid/squid.conf")
        .expect("Debian's /etc/squid/squid.conf (apt-get install squid-openssl)");
    let dir = bulwark_testkit::shared_tempdir("squid-apply-").expect("tempdir");
    let d = dir.path();
    let bulwark = Bulwark::start(bulwark_bin()).expect("bulwark");
    let origin = Origin::start().expect("origin");
    let port = bulwark_testkit::net::free_port().expect("port");
    // Debian's file, made hermetic: our port, files in the temp dir, no DNS, no pinger. The
    // ICAP lines come from `bulwark squid apply`, not from the test.
    let conf_text = default_conf.replace("\nhttp_port 3128\n", &format!("\nhttp_port 127.0.0.1:{port}\n"))
        .replace("\ninclude /etc/squid/conf.d/*.conf\n", "\n")
        + &format!(
            "pid_filename {d}/squid.pid\ncache_log {d}/cache.log\naccess_log stdio:{d}/access.log\ncoredump_dir {d}\npinger_enable off\ndns_nameservers 127.0.0.1\nshutdown_lifetime 0 seconds\ncache deny all\n",
            d = d.display()
        );
    let conf = d.join("squid.conf");
    std::fs::write(&conf, conf_text).expect("write conf");
    let out = Command::new(bulwark_bin())
        .args(["squid", "apply", "--squid-conf"])
        .arg(&conf)
        .args(["--address", &bulwark.addr().to_string()])
        .output()
        .expect("bulwark squid apply");
    assert!(
        out.status.success(),
        "apply failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let applied = std::fs::read_to_string(&conf).expect("read");
    assert!(applied.contains("# BEGIN bulwark") && applied.contains(&bulwark.addr().to_string()));
    let service = bulwark_testkit::squid::service_name(port);
    let mut cmd = Command::new("squid");
    cmd.arg("-N")
        .arg("-n")
        .arg(&service)
        .arg("-f")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut squid = ChildGuard::spawn(cmd, "squid", Duration::from_secs(5)).expect("start squid");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    bulwark_testkit::net::wait_for_port(addr, Duration::from_secs(30), || squid.check_running())
        .unwrap_or_else(|e| {
            panic!(
                "squid: {e}\n{}",
                bulwark_testkit::tail_of_file(&d.join("cache.log"), 4000)
            )
        });
    let client = ProxyClient::new(addr);
    let r = client.get(&origin.url("/bytes/100000")).expect("clean");
    assert_eq!(r.status, 200, "{}", common::describe(&r));
    assert_eq!(r.body, bulwark_testkit::pattern(100_000));
    let r = client.get(&origin.url("/eicar")).expect("eicar");
    assert_eq!(r.status, 403, "{}", common::describe(&r));
    squid.stop(Duration::from_secs(5));
    bulwark_testkit::squid::remove_shm(&service);
}
