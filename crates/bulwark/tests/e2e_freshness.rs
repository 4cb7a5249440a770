//! Freshness (issue 22, item 5): signatures older than `engine.max_database_age_days` raise a
//! `database_old` notification through the NotifyScript at once, and their age is on /metrics —
//! whatever the update mirror answers.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::client::get_direct;

#[test]
fn old_signatures_are_notified_and_measured() {
    let work = tempfile::tempdir().expect("tempdir");
    let db = work.path().join("db");
    std::fs::create_dir(&db).expect("mkdir");
    let sig = db.join("local.hdb");
    std::fs::write(
        &sig,
        "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature.HDB\n",
    )
    .expect("hdb");
    let ok = Command::new("touch")
        .args(["-d", "10 days ago"])
        .arg(&sig)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "touch -d");
    let events = work.path().join("events.txt");
    let script = work.path().join("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1 ${{13}}\" >> {}\n", events.display()),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let port = bulwark_testkit::net::free_port().expect("port");
    let config = format!(
        "[engine]\ndatabase = [\"{}\"]\nmax_database_age_days = 7\n[notify]\nscript = \"{}\"\n\
         [metrics]\nlisten = [\"127.0.0.1:{port}\"]\n",
        db.display(),
        script.display()
    );
    let bulwark = Bulwark::start_with_config(common::bulwark_bin(), Some(&config))
        .unwrap_or_else(|e| panic!("starting bulwark: {e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = String::new();
    while Instant::now() < deadline {
        got = std::fs::read_to_string(&events).unwrap_or_default();
        if got.contains("database_old") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        got.lines().any(|l| l == "database_old 10"),
        "no database_old notification: {got:?}\n{}",
        bulwark.log()
    );
    let metrics = get_direct(
        format!("127.0.0.1:{port}").parse().expect("addr"),
        "/metrics",
        Duration::from_secs(5),
    )
    .expect("metrics")
    .body_text();
    let age: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("bulwark_database_age_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .expect("bulwark_database_age_seconds");
    assert!(age >= 10 * 86_400 - 60, "{age}");
}
