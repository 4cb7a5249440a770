//! The console of a real `bulwark serve` in a real headless Chromium (Debian's `chromium`),
//! driven by playwright-core from `crates/console/browser-tests`: log in, counters move after
//! ICAP requests, a database reload, a detection appears, markup in data shows as text,
//! detections filtered by client, threat and day, a refused configuration edit, the form editor
//! refusing a bad client then applying a new group, a phone-sized screen. Screenshots of every
//! page go to `target/console-screenshots/`.
//!
//! Needs `node`, `npm ci` in `crates/console/browser-tests`, and `/usr/bin/chromium`; it is
//! ignored in the default run (CI runs it in its own step):
//!
//! ```sh
//! (cd crates/console/browser-tests && npm ci) && cargo test -p bulwark --test e2e_console_browser -- --ignored
//! ```

mod common;
mod console;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use console::{ConsoleServer, PASSWORD};

fn target_dir() -> PathBuf {
    // target/<profile>/deps/e2e_console_browser-<hash>
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node, npm ci in crates/console/browser-tests, and /usr/bin/chromium; CI runs it in its own step"]
async fn console_in_headless_chromium() {
    let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("../console/browser-tests");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no browser at {chromium}: install Debian's chromium and chromium-driver (scripts/deps.sh test)"
    );
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(node_ok, "node is missing: install Debian's nodejs and npm");
    assert!(
        runner.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm ci` in {}",
        runner.display()
    );

    let h = ConsoleServer::start("# <script>window.__xss=4</script> shows as text in the editor");
    // A line whose threat name is markup, as a hostile signature name could be.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&h.av_stats)
        .expect("av.stats");
    writeln!(
        f,
        "01-01-2026 10:00:00 68 INFECTED <script>window.__xss=2</script> RESPMOD default - 10.0.0.9 http://seeded.test/x 1ms"
    )
    .expect("seed");
    drop(f);

    let shots = target_dir().join("console-screenshots");
    let mut child = tokio::process::Command::new("node")
        .arg("console.test.js")
        .current_dir(&runner)
        .env("CONSOLE_URL", format!("http://{}/", h.base))
        .env("CONSOLE_PASSWORD", PASSWORD)
        .env("ICAP_ADDR", h.bulwark.addr().to_string())
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .spawn()
        .expect("start node");
    let status = tokio::time::timeout(Duration::from_secs(240), child.wait())
        .await
        .expect("the browser test finishes within 4 minutes")
        .expect("node ran");
    assert!(status.success(), "browser test failed (output above)");
    for name in [
        "01-status",
        "02-statistics",
        "04-detections",
        "04b-detections-filtered",
        "05-configuration",
        "05b-configuration-form",
    ] {
        assert!(shots.join(format!("{name}.png")).exists(), "{name}.png");
    }
}
