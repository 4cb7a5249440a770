//! Deduplication, the rate limit and the bounded queue, end to end with a real script.

mod common;

use std::time::{Duration, Instant};

use bulwark_config::NotifyConfig;
use bulwark_notify::{Event, Notifier};
use common::*;

#[tokio::test]
async fn same_detection_is_sent_once_per_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "notify.sh", RECORDER);
    let n = Notifier::spawn(NotifyConfig {
        dedup_window_secs: 300,
        ..config(path)
    });
    n.notify(detection("Eicar", "http://x/1"));
    n.notify(detection("Eicar", "http://x/2")); // same threat and client: a repeat
    n.notify(detection("Other", "http://x/1")); // different threat: sent
    n.shutdown().await;
    let recs = records(dir.path());
    let mut threats: Vec<&str> = recs.iter().map(|r| r["ARG6"].as_str()).collect();
    threats.sort();
    assert_eq!(threats, ["Eicar", "Other"]);
    let s = n.stats();
    assert_eq!((s.sent, s.suppressed_dedup), (2, 1), "{s:?}");
}

#[tokio::test]
async fn repeats_are_reported_in_the_next_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "notify.sh", RECORDER);
    let n = Notifier::spawn(NotifyConfig {
        dedup_window_secs: 1,
        ..config(path)
    });
    for _ in 0..3 {
        n.notify(detection("Eicar", "http://x/"));
    }
    assert_eq!(wait_records(dir.path(), 1).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    n.notify(detection("Eicar", "http://x/"));
    n.shutdown().await;
    let recs = records(dir.path());
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["BULWARK_REPEATS"], "0");
    assert_eq!(recs[1]["BULWARK_REPEATS"], "2");
    assert_eq!(recs[1]["ARG14"], "2");
    assert_eq!(n.stats().suppressed_dedup, 2);
}

#[tokio::test]
async fn rate_limit_drops_and_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "notify.sh", RECORDER);
    let n = Notifier::spawn(NotifyConfig {
        max_per_minute: 3,
        ..config(path)
    });
    for i in 0..5 {
        n.notify(Event::UpdateFailed {
            reason: format!("r{i}"),
        });
    }
    n.shutdown().await;
    assert_eq!(records(dir.path()).len(), 3);
    let s = n.stats();
    assert_eq!((s.sent, s.dropped_rate), (3, 2), "{s:?}");
}

/// Single-threaded runtime: the worker cannot run while the test notifies, so the queue of
/// one fills at once and the rest is dropped without waiting.
#[tokio::test]
async fn full_queue_drops_without_blocking_and_reports_drops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "notify.sh", RECORDER);
    let n = Notifier::spawn(NotifyConfig {
        queue: 1,
        ..config(path)
    });
    let t = Instant::now();
    for i in 0..1000 {
        n.notify(Event::EngineError {
            reason: format!("e{i}"),
        });
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(n.stats().dropped_full, 999);
    // Let the worker take the queued one, then the next message reports the drops.
    assert_eq!(wait_records(dir.path(), 1).await.len(), 1);
    n.notify(Event::EngineError {
        reason: "last".into(),
    });
    n.shutdown().await;
    let recs = records(dir.path());
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["BULWARK_DROPPED"], "0");
    assert_eq!(recs[1]["BULWARK_DETAIL"], "last");
    assert_eq!(recs[1]["BULWARK_DROPPED"], "999");
}
