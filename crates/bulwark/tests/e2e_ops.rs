//! Operations end to end: reload under load through a real Squid, the statistics files, the
//! metrics endpoint and `bulwark ctl` (issue: running it in production).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_testkit::icap;
use common::{bulwark_bin, Stack};

fn config(dir: &Path, ttl: u64, metrics_port: u16) -> String {
    format!(
        r#"
[server]
options_ttl_secs = {ttl}
[answer]
# Something that decides answers, so that each reload's configuration has its own ISTag.
holdback_bytes = {holdback}
[log]
av_stats_file = "{d}/av.stats"
counter_stats_file = "{d}/counter.stats"
[metrics]
listen = ["127.0.0.1:{metrics_port}"]
[control]
socket = "{d}/control.sock"
pid_file = "{d}/bulwark.pid"
"#,
        d = dir.display(),
        holdback = 4096 + ttl
    )
}

fn istag(stack: &Stack) -> String {
    let head = icap::options(stack.bulwark.addr(), "av/respmod", Duration::from_secs(5))
        .expect("OPTIONS answers");
    head.header("ISTag").expect("ISTag").to_string()
}

fn ctl(dir: &Path, action: &str) -> (bool, String) {
    let out = Command::new(bulwark_bin())
        .args(["ctl", action, "--socket"])
        .arg(dir.join("control.sock"))
        .arg("--pid-file")
        .arg(dir.join("bulwark.pid"))
        .output()
        .expect("run bulwark ctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn hup(pid: u32) {
    let ok = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -HUP failed");
}

#[test]
fn reload_under_load_drops_nothing_and_counters_add_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics_port = bulwark_testkit::net::free_port().expect("port");
    let stack = Stack::start_with_config(Some(&config(dir.path(), 3600, metrics_port)));
    let config_path = stack.bulwark.dir().join("bulwark.toml");
    let stack = Arc::new(stack);
    let stop = Arc::new(AtomicBool::new(false));
    let (clean, infected, failed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let expected = bulwark_testkit::pattern(20_000);
    let mut workers = Vec::new();
    for w in 0..8 {
        let (stack, stop) = (stack.clone(), stop.clone());
        let (clean, infected, failed) = (clean.clone(), infected.clone(), failed.clone());
        let expected = expected.clone();
        workers.push(std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && i < 5000 {
                i += 1;
                if (i + w).is_multiple_of(10) {
                    match stack.client.get(&stack.origin.url("/eicar?pad=100")) {
                        Ok(r) if r.status == 403 => infected.fetch_add(1, Ordering::Relaxed),
                        other => {
                            eprintln!("infected object not blocked: {:?}", other.map(|r| r.status));
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                } else {
                    // With a Content-Length and chunked without one, both beyond the holdback
                    // (streamed: a late failure would show as a cut or a reset).
                    let path = if i.is_multiple_of(2) {
                        "/bytes/20000"
                    } else {
                        "/bytes/20000?chunked=1"
                    };
                    match stack.client.get(&stack.origin.url(path)) {
                        Ok(r) if r.status == 200 && r.complete && r.body == expected => {
                            clean.fetch_add(1, Ordering::Relaxed)
                        }
                        other => {
                            eprintln!(
                                "clean object {path} damaged: {:?}",
                                other.map(|r| (r.status, r.complete, r.body.len()))
                            );
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            }
        }));
    }
    let pid = stack.bulwark.pid();
    let mut tags = vec![istag(&stack)];
    for round in 1..=5u64 {
        std::thread::sleep(Duration::from_millis(800));
        std::fs::write(&config_path, config(dir.path(), 3600 + round, metrics_port))
            .expect("write config");
        hup(pid);
        // The ISTag changes only once the new snapshot is live.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = istag(&stack);
            if !tags.contains(&t) {
                tags.push(t);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "ISTag did not change after reload {round}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // A broken configuration is refused and the old one keeps serving.
    std::fs::write(&config_path, "[server]\nmax_connections = \"lots\"\n").expect("write");
    let (ok, out) = ctl(dir.path(), "reload");
    assert!(!ok, "a broken configuration was accepted: {out}");
    assert!(out.contains("line 2"), "no line number in {out:?}");
    assert_eq!(istag(&stack), *tags.last().expect("tag"));
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let (clean, infected, failed) = (
        clean.load(Ordering::Relaxed),
        infected.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    assert_eq!(
        failed,
        0,
        "{failed} requests failed during reloads\n{}",
        stack.diagnostics()
    );
    assert!(
        clean > 50 && infected > 5,
        "too little load: {clean} clean, {infected} infected"
    );

    // Counters add up: every object sent was counted once, in every output.
    let (ok, out) = ctl(dir.path(), "stats");
    assert!(ok, "ctl stats: {out}");
    let counters =
        std::fs::read_to_string(dir.path().join("counter.stats")).expect("counter.stats");
    let get = |name: &str| -> u64 {
        counters
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from counter.stats:\n{counters}"))
    };
    assert_eq!(get("total_requests"), clean + infected, "{counters}");
    assert_eq!(get("infected_requests"), infected);
    assert_eq!(get("clean_traffic"), clean * 20_000);
    let av = std::fs::read_to_string(dir.path().join("av.stats")).expect("av.stats");
    let lines: Vec<&str> = av.lines().collect();
    assert_eq!(lines.len() as u64, clean + infected);
    let infected_lines = lines
        .iter()
        .filter(|l| l.contains(" INFECTED Eicar-Test-Signature RESPMOD "))
        .count();
    assert_eq!(
        infected_lines as u64,
        infected,
        "{}",
        lines.iter().take(5).copied().collect::<Vec<_>>().join("\n")
    );
    assert!(
        lines.iter().all(
            |l| (l.ends_with("ms delivered") || l.ends_with("ms blocked"))
                && l.contains(" RESPMOD default - 127.0.0.1 http://")
        ),
        "{}",
        lines[0]
    );
    let metrics = bulwark_testkit::client::get_direct(
        format!("127.0.0.1:{metrics_port}").parse().expect("addr"),
        "/metrics",
        Duration::from_secs(5),
    )
    .expect("metrics endpoint");
    let text = metrics.body_text();
    assert!(
        text.contains(&format!(
            "bulwark_objects_total{{status=\"infected\"}} {infected}"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "bulwark_objects_total{{status=\"clean\"}} {clean}"
    )));
    assert!(text.contains("bulwark_reloads_total{kind=\"config\",result=\"failed\"} 1"));
    // Prometheus' classic text format by default: counter families named after their samples.
    assert!(
        text.contains("# TYPE bulwark_verdict_cache_hits_total counter"),
        "{text}"
    );
    assert!(!text.contains("# EOF"), "{text}");
    let (ok, status) = ctl(dir.path(), "status");
    assert!(
        ok && status.contains(&format!("objects_infected {infected}")),
        "{status}"
    );
}

#[test]
fn ctl_stop_drains_and_removes_the_pid_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = bulwark_testkit::net::free_port().expect("port");
    let mut b = bulwark_testkit::bulwark::Bulwark::start_with_config(
        bulwark_bin(),
        Some(&config(dir.path(), 60, port)),
    )
    .expect("start");
    let pid_file = dir.path().join("bulwark.pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("pid file").trim(),
        b.pid().to_string()
    );
    let (ok, out) = ctl(dir.path(), "stop");
    assert!(ok, "{out}");
    let status = b.stop(Duration::from_secs(10)).expect("exited");
    assert!(status.success(), "exit status {status:?}");
    assert!(!pid_file.exists(), "pid file left behind");
    let (ok, _) = ctl(dir.path(), "status");
    assert!(!ok, "ctl status succeeded with the server stopped");
}
