//! A database update while a steady load runs through Squid: no request fails, and the next
//! object is scanned with the new signatures (a sample that only the new set detects).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{db_build, hex, run_bulwark, Stack};

#[test]
fn an_update_under_load_fails_no_request_and_the_new_signatures_apply_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let p = |s: &str| d.join(s).display().to_string();
    std::fs::create_dir_all(d.join("src")).expect("src");
    // Version 1: a signature for something else.
    std::fs::write(
        d.join("src/local.ndb"),
        format!("Test.Other:0:*:{}\n", hex(b"some other marker string")),
    )
    .expect("ndb");
    assert_eq!(run_bulwark(&["db", "keygen", "--out", &p("key")], d).0, 0);
    db_build(d, &d.join("src"), &d.join("mirror"), &d.join("key"), 1);
    let config = format!(
        r#"
[engine]
database = ["{db}"]
[update]
sources = ["{mirror}"]
database_dir = "{db}"
backup_dir = "{backup}"
trusted_keys = ["{key}"]
interval_secs = 0
[control]
socket = "{sock}"
pid_file = "{pid}"
"#,
        db = p("db"),
        mirror = p("mirror"),
        backup = p("db.backup"),
        key = p("key.pub"),
        sock = p("control.sock"),
        pid = p("bulwark.pid"),
    );
    std::fs::write(d.join("bulwark.toml"), &config).expect("config");
    let (c, out) = run_bulwark(&["update", "-c", &p("bulwark.toml"), "--no-reload"], d);
    assert_eq!(c, 1, "first install: {out}");

    let stack = Arc::new(Stack::start_with_config(Some(&config)));
    // The sample: bytes the origin serves at /bytes/N, detected only by version 2.
    let sample = bulwark_testkit::pattern(5000);
    assert_eq!(
        stack.get("/bytes/5000").status,
        200,
        "version 1 does not detect the sample"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for w in 0..6u64 {
        let (stack, stop, ok, failed) = (stack.clone(), stop.clone(), ok.clone(), failed.clone());
        workers.push(std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && i < 5000 {
                i += 1;
                let body = format!("clean upload {w} {i}").repeat(50);
                match stack
                    .client
                    .post(&stack.origin.url("/upload"), "text/plain", body.as_bytes())
                {
                    Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    other => {
                        eprintln!(
                            "request failed during the update: {:?}",
                            other.map(|r| r.status)
                        );
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(700));
    // Version 2 adds a signature for the sample, published and installed under load.
    std::fs::write(
        d.join("src/new.ndb"),
        format!("Test.New.Sample:0:*:{}\n", hex(&sample[1000..1040])),
    )
    .expect("ndb");
    db_build(d, &d.join("src"), &d.join("mirror"), &d.join("key"), 2);
    let (c, out) = run_bulwark(&["update", "-c", &p("bulwark.toml")], d);
    assert_eq!(c, 1, "second install with reload: {out}");
    let r = stack.get("/bytes/5000");
    assert_eq!(
        r.status,
        403,
        "the next request uses the new signatures: {}",
        common::describe(&r)
    );
    assert!(
        r.body_text().contains("Test.New.Sample"),
        "{}",
        r.body_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the update"
    );
    assert!(ok.load(Ordering::Relaxed) > 20, "too little load");
    // Nothing to do now.
    assert_eq!(run_bulwark(&["update", "-c", &p("bulwark.toml")], d).0, 0);
}

/// `bulwark update -c FILE` reads `[license]` too: required without a key refuses the update
/// (exit code 60) and installs nothing; a key makes it run; a bad `[license]` table is a
/// configuration error (75). No server is needed.
#[test]
fn a_required_licence_gates_the_update_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let p = |s: &str| d.join(s).display().to_string();
    std::fs::create_dir_all(d.join("src")).expect("src");
    std::fs::write(
        d.join("src/local.ndb"),
        format!("Test.Other:0:*:{}\n", hex(b"some other marker string")),
    )
    .expect("ndb");
    assert_eq!(run_bulwark(&["db", "keygen", "--out", &p("key")], d).0, 0);
    db_build(d, &d.join("src"), &d.join("mirror"), &d.join("key"), 1);
    assert_eq!(
        run_bulwark(&["license", "keygen", "--out", &p("issuer")], d).0,
        0
    );
    let config = |license_extra: &str| {
        format!(
            "[update]\nsources = [\"{mirror}\"]\ndatabase_dir = \"{db}\"\ntrusted_keys = [\"{key}\"]\n\
             control_socket = \"{sock}\"\n[license]\nrequired = true\ndir = \"{lic}\"\n\
             trusted_keys = [\"{issuer}\"]\n{license_extra}",
            mirror = p("mirror"),
            db = p("db"),
            key = p("key.pub"),
            sock = p("none.sock"),
            lic = p("license"),
            issuer = p("issuer.pub"),
        )
    };
    std::fs::write(d.join("bulwark.toml"), config("")).expect("config");
    let (c, out) = run_bulwark(&["update", "-c", &p("bulwark.toml")], d);
    assert_eq!(c, 60, "no licence key: {out}");
    assert!(!d.join("db").exists(), "nothing installed: {out}");

    let issue = [
        "license",
        "issue",
        "--issuer-key",
        "issuer",
        "--out",
        "k.lic",
    ];
    assert_eq!(run_bulwark(&issue, d).0, 0);
    let add = ["license", "add", "k.lic", "-c", "bulwark.toml"];
    assert_eq!(run_bulwark(&add, d).0, 0);
    let (c, out) = run_bulwark(&["update", "-c", &p("bulwark.toml")], d);
    assert_eq!(c, 1, "licensed: {out}");

    std::fs::write(d.join("bad.toml"), config("colour = \"blue\"\n")).expect("config");
    let (c, out) = run_bulwark(&["update", "-c", &p("bad.toml")], d);
    assert_eq!(c, 75, "{out}");
    assert!(
        out.contains("configuration") && out.contains("colour"),
        "{out}"
    );
}
