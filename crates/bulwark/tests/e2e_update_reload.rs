//! `[update]` changes apply on reload (issue 22, item 4): a server started without update
//! sources starts its update schedule when a reload adds one, and stops it when a reload
//! removes it again.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use bulwark_testkit::bulwark::Bulwark;

fn hup(pid: u32) {
    let ok = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -HUP");
}

fn wait_for(bulwark: &Bulwark, needle: &str, count: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if bulwark.log().matches(needle).count() >= count {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn a_reload_that_adds_an_update_source_starts_the_schedule() {
    let bulwark = Bulwark::start_with_config(common::bulwark_bin(), Some("[server]\n"))
        .unwrap_or_else(|e| panic!("starting bulwark: {e}"));
    assert!(!bulwark.log().contains("scheduled database updates on"));
    let config = bulwark.dir().join("bulwark.toml");
    // A source nobody serves (port 9, discard): only the schedule's start matters here.
    std::fs::write(
        &config,
        "[update]\nsources = [\"http://127.0.0.1:9/db\"]\ninterval_secs = 3600\n",
    )
    .expect("write config");
    hup(bulwark.pid());
    assert!(
        wait_for(&bulwark, "scheduled database updates on", 1),
        "the schedule did not start after the reload:\n{}",
        bulwark.log()
    );
    assert!(
        bulwark.log().contains("[update] changed"),
        "{}",
        bulwark.log()
    );
    // Removed again: the supervisor notices the change once more.
    std::fs::write(&config, "[server]\n").expect("write config");
    hup(bulwark.pid());
    assert!(
        wait_for(&bulwark, "[update] changed", 2),
        "the removal was not noticed:\n{}",
        bulwark.log()
    );
}
