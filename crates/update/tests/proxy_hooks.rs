//! Through a real Squid with basic authentication; reload through a control socket;
//! PostUpdateCmd; licence and configuration exit codes; the schedule.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use bulwark_testkit::squid::{Squid, SquidOptions};
use bulwark_update::{
    run, run_schedule, DatabaseAllowance, FileSettings, LicenseGate, LicenseRefused, Outcome,
    ReloadHook,
};
use common::{write_sigs, FileServer, Setup};

#[test]
fn update_through_squid_with_basic_auth() {
    let squid = Squid::start_with(SquidOptions {
        basic_auth: Some(("updater".into(), "s3cret".into())),
        ..SquidOptions::default()
    })
    .expect("squid");
    let s = Setup::new();
    s.build(11);
    let srv = FileServer::start(&s.mirror);

    let mut req = s.request(&[srv.url()]);
    req.config.proxy = Some(format!("http://updater:wrong@{}", squid.addr()));
    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.summary());
    assert!(
        srv.take_requests().is_empty(),
        "nothing passed without the right password"
    );
    assert!(
        !r.summary().contains("wrong"),
        "the password is not logged: {}",
        r.summary()
    );

    req.config.proxy = Some(format!("http://updater:s3cret@{}", squid.addr()));
    let r = run(&req);
    assert_eq!(
        r.outcome,
        Outcome::Updated,
        "{}\n{}",
        r.summary(),
        squid.logs()
    );
    assert_eq!(s.version(), Some(11));
    let log = std::fs::read_to_string(squid.dir().join("access.log")).unwrap_or_default();
    assert!(log.contains("updater"), "{log}");
}

/// A fake server control socket answering `reply` to `reload-db`; returns the lines received.
fn control_socket(path: &std::path::Path, reply: &'static str) -> std::thread::JoinHandle<String> {
    let l = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        (&s).write_all(reply.as_bytes()).unwrap();
        line
    })
}

#[test]
fn the_running_server_is_told_to_reload() {
    let s = Setup::new();
    s.build(1);
    let sock = s.tmp.path().join("control.sock");
    let got = control_socket(&sock, "OK\n");
    let mut req = s.request(&[s.mirror.display().to_string()]);
    req.reload = ReloadHook::ControlSocket(sock);
    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
    assert_eq!(got.join().unwrap(), "reload-db\n");
    assert!(r.summary().contains("reloaded"), "{}", r.summary());
}

#[test]
fn a_refused_reload_rolls_back() {
    let s = Setup::new();
    s.build(1);
    let src = s.mirror.display().to_string();
    assert_eq!(
        run(&s.request(std::slice::from_ref(&src))).outcome,
        Outcome::Updated
    );
    write_sigs(&s.src, "MARKER-TWO");
    s.build(2);
    let sock = s.tmp.path().join("control.sock");
    let got = control_socket(&sock, "ERROR engine.database: broken\n");
    let mut req = s.request(&[src]);
    req.reload = ReloadHook::ControlSocket(sock);
    let r = run(&req);
    got.join().unwrap();
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.summary());
    assert!(r.summary().contains("rolled back"), "{}", r.summary());
    assert_eq!(s.version(), Some(1));
    assert!(s.installed("test.ndb").unwrap().contains("MARKER-ONE"));
}

#[test]
fn post_update_cmd_runs_and_its_failure_is_exit_code_30() {
    let s = Setup::new();
    s.build(1);
    let marker = s.tmp.path().join("ran");
    let mut req = s.request(&[s.mirror.display().to_string()]);
    req.config.post_update_cmd = Some(format!("/usr/bin/touch '{}'", marker.display()));
    req.config.report_file = Some(s.tmp.path().join("report.log"));
    assert_eq!(run(&req).exit_code(), 1);
    assert!(marker.exists());

    write_sigs(&s.src, "MARKER-TWO");
    s.build(2);
    req.config.post_update_cmd = Some("/bin/false".into());
    let r = run(&req);
    assert_eq!(r.exit_code(), 30, "{}", r.summary());
    assert_eq!(s.version(), Some(2), "the database stays installed");
    let report = std::fs::read_to_string(s.tmp.path().join("report.log")).unwrap();
    assert_eq!(report.lines().count(), 2, "{report}");
    assert!(report.contains("exit code 30"), "{report}");
}

/// A licence as the caller supplies it: refusing every run, or allowing databases published
/// before a moment.
#[derive(Debug)]
enum TestLicense {
    Refused,
    PublishedBefore(time::OffsetDateTime),
}

struct Before(time::OffsetDateTime);

impl DatabaseAllowance for Before {
    fn allows_database(&self, published: time::OffsetDateTime) -> bool {
        published < self.0
    }
}

impl LicenseGate for TestLicense {
    fn open(&self) -> Result<Box<dyn DatabaseAllowance>, LicenseRefused> {
        match self {
            TestLicense::Refused => Err(LicenseRefused("no key installed".into())),
            TestLicense::PublishedBefore(t) => Ok(Box::new(Before(*t))),
        }
    }
}

#[test]
fn licence_and_configuration_problems_have_their_exit_codes() {
    let s = Setup::new();
    s.build(1);
    let mut req = s.request(&[s.mirror.display().to_string()]);
    req.license = Some(std::sync::Arc::new(TestLicense::Refused));
    let r = run(&req);
    assert_eq!(r.exit_code(), 60);
    assert!(r.summary().contains("no key installed"), "{}", r.summary());
    assert!(s.version().is_none());
    // A database published after the licence's end is refused too; one before it is installed.
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    req.license = Some(std::sync::Arc::new(TestLicense::PublishedBefore(past)));
    let r = run(&req);
    assert_eq!(r.exit_code(), 60, "{}", r.summary());
    assert!(r.summary().contains("newer than the licence allows"));
    assert!(s.version().is_none());
    let future = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    req.license = Some(std::sync::Arc::new(TestLicense::PublishedBefore(future)));
    assert_eq!(run(&req).exit_code(), 1);
    assert_eq!(s.version(), Some(1));

    let mut req = s.request(&[]);
    assert_eq!(run(&req).exit_code(), 75);
    req.config.sources = vec![s.mirror.display().to_string()];
    req.config.trusted_keys = vec![s.tmp.path().join("missing.pub")];
    assert_eq!(run(&req).exit_code(), 75);
    req.config.trusted_keys = vec![];
    assert_eq!(run(&req).exit_code(), 75);
}

#[test]
fn settings_come_from_the_configuration_file() {
    let text = r#"
[control]
socket = "/tmp/x.sock"
pid_file = "/tmp/x.pid"

[update]
sources = ["https://a.example/db", "clamav:/srv/clamav"]
interval_secs = 600
proxy = "http://u:p@proxy:3128"

[license]
required = true
"#;
    let f = FileSettings::from_str(text, std::path::Path::new("t.toml")).unwrap();
    assert_eq!(f.update.sources.len(), 2);
    assert_eq!(f.update.interval_secs, 600);
    assert_eq!(
        f.update.control_socket.as_deref(),
        Some(std::path::Path::new("/tmp/x.sock"))
    );
    let bad = FileSettings::from_str("[update]\nnope = 1\n", std::path::Path::new("t.toml"));
    assert!(bad.is_err());
}

#[tokio::test]
async fn the_schedule_updates_and_stops() {
    let s = Setup::new();
    s.build(1);
    let mut req = s.request(&[s.mirror.display().to_string()]);
    req.config.interval_secs = 1;
    req.config.jitter_secs = 0;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (rtx, mut rrx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(run_schedule(req, rx, move |r| {
        let _ = rtx.send(r.outcome);
    }));
    let first = tokio::time::timeout(Duration::from_secs(30), rrx.recv())
        .await
        .unwrap();
    assert_eq!(first, Some(Outcome::Updated));
    let second = tokio::time::timeout(Duration::from_secs(30), rrx.recv())
        .await
        .unwrap();
    assert_eq!(second, Some(Outcome::Current));
    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.version(), Some(1));
}
