//! The NotifyScript with real processes: fields, hanging scripts, failures.

mod common;

use std::time::{Duration, Instant};

use bulwark_config::NotifyConfig;
use bulwark_notify::{Event, Message, Notifier};
use common::*;

#[tokio::test]
async fn detection_fields_reach_args_env_and_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "notify.sh", RECORDER);
    let n = Notifier::spawn(config(path));
    // A URL with shell metacharacters is passed as one plain argument.
    let url = "http://evil.test/a b;$(touch pwned)`id`'\"?x=1";
    n.notify(detection("Eicar-Test-Signature", url));
    n.shutdown().await;
    let recs = records(dir.path());
    assert_eq!(recs.len(), 1, "{recs:?}");
    let r = &recs[0];
    let arg = |i: usize| r.get(&format!("ARG{i}")).map(String::as_str).unwrap_or("");
    assert_eq!(r["ARGC"], "14");
    assert_eq!(arg(1), "detection");
    assert_eq!(arg(2), "DENY");
    assert_eq!(arg(3), "INFECTED");
    assert_eq!(arg(4), url);
    assert_eq!(arg(5), "192.0.2.7");
    assert_eq!(arg(6), "Eicar-Test-Signature");
    assert_eq!((arg(7), arg(8), arg(9)), ("", "", ""));
    assert_eq!((arg(10), arg(11), arg(12)), ("alice", "managers", "68"));
    assert_eq!((arg(13), arg(14)), ("", "0"));
    for (k, v) in [
        ("BULWARK_EVENT", "detection"),
        ("BULWARK_URL", url),
        ("BULWARK_CLIENT_ADDR", "192.0.2.7"),
        ("BULWARK_VIRUS_LIST", "Eicar-Test-Signature"),
        ("BULWARK_VERDICT", "INFECTED"),
        ("BULWARK_ACTION", "DENY"),
        ("BULWARK_USER", "alice"),
        ("BULWARK_GROUP", "managers"),
        ("BULWARK_SIZE", "68"),
        ("URL", url),
        ("CLIENT_ADDR", "192.0.2.7"),
        ("VIRUS_LIST", "Eicar-Test-Signature"),
        ("VERDICT", "INFECTED"),
        ("ACTION", "DENY"),
        ("PRODUCT", "Bulwark"),
    ] {
        assert_eq!(r.get(k).map(String::as_str), Some(v), "{k}");
    }
    let msg: Message = serde_json::from_str(&r["STDIN"]).expect("JSON on stdin");
    assert_eq!(msg.event, detection("Eicar-Test-Signature", url));
    assert_eq!((msg.repeats, msg.dropped), (0, 0));
    assert!(msg.time.ends_with('Z'), "{}", msg.time);
    assert!(!dir.path().join("pwned").exists());
    assert_eq!(n.stats().sent, 1);
    assert_eq!(n.stats().failed, 0);
}

#[tokio::test]
async fn operational_event_has_detail_argument() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "notify.sh", RECORDER);
    let n = Notifier::spawn(config(path));
    n.notify(Event::ReloadFailed {
        reason: "line 3: bad key".into(),
    });
    n.notify(Event::LicenseExpiring { days: 5 });
    n.shutdown().await;
    let mut recs = records(dir.path());
    recs.sort_by(|a, b| a["ARG1"].cmp(&b["ARG1"]));
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["ARG1"], "license_expiring");
    assert_eq!(recs[0]["ARG13"], "5");
    assert_eq!(recs[1]["ARG1"], "reload_failed");
    assert_eq!(recs[1]["BULWARK_DETAIL"], "line 3: bad key");
    assert_eq!(recs[1]["URL"], "");
    let msg: Message = serde_json::from_str(&recs[1]["STDIN"]).expect("JSON");
    assert_eq!(msg.event.kind(), "reload_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_script_is_killed_and_blocks_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "notify.sh", RECORDER);
    let n = Notifier::spawn(NotifyConfig {
        timeout_secs: 2,
        ..config(path)
    });
    let t = Instant::now();
    n.notify(detection("A", "http://x/hang"));
    assert!(eventually(2, || dir.path().join("sleep.pid").exists()).await);
    for i in 0..3 {
        n.notify(detection("B", &format!("http://x/{i}")));
    }
    assert!(t.elapsed() < Duration::from_secs(1), "notify waited");
    let recs = wait_records(dir.path(), 3).await;
    assert_eq!(recs.len(), 3);
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).expect("pid file");
    let (sh, sleep) = (read("hang.pid"), read("sleep.pid"));
    if t.elapsed() < Duration::from_millis(1800) {
        assert!(!is_dead(&sh), "the hanging script ended early");
    }
    // Killed with its whole process group after the timeout, and counted as failed.
    assert!(
        eventually(4, || n.stats().failed == 1).await,
        "{:?}",
        n.stats()
    );
    assert!(eventually(2, || is_dead(&sh) && is_dead(&sleep)).await);
    assert!(t.elapsed() < Duration::from_secs(4));
    // Later events are still delivered.
    n.notify(detection("C", "http://x/later"));
    n.shutdown().await;
    assert_eq!(records(dir.path()).len(), 4);
    assert_eq!(n.stats().sent, 4);
}

#[tokio::test]
async fn failing_and_missing_scripts_count_as_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "fail.sh", "echo oops >&2; exit 3");
    let n = Notifier::spawn(config(path));
    n.notify(detection("A", "http://x/"));
    n.notify(Event::EngineError { reason: "x".into() });
    n.shutdown().await;
    let s = n.stats();
    assert_eq!((s.sent, s.failed), (0, 2), "{s:?}");

    let n = Notifier::spawn(config(dir.path().join("missing.sh")));
    n.notify(detection("A", "http://x/"));
    n.shutdown().await;
    assert_eq!(n.stats().failed, 1);
}

#[tokio::test]
async fn unwanted_kinds_and_disabled_notifier_do_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "notify.sh", RECORDER);
    let n = Notifier::spawn(NotifyConfig {
        events: vec!["update_failed".into()],
        ..config(path)
    });
    n.notify(detection("A", "http://x/"));
    n.notify(Event::UpdateFailed { reason: "r".into() });
    n.shutdown().await;
    let recs = records(dir.path());
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["ARG1"], "update_failed");
    // After shutdown, events are refused and counted.
    n.notify(Event::UpdateFailed { reason: "s".into() });
    assert_eq!(n.stats().dropped_full, 1);

    let off = Notifier::disabled();
    assert!(!off.is_enabled());
    off.notify(detection("A", "http://x/"));
    off.shutdown().await;
    assert_eq!(off.stats(), Default::default());
}
