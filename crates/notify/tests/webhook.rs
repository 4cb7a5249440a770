//! The webhook against a tiny HTTP server on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use bulwark_config::NotifyConfig;
use bulwark_notify::{Event, Message, Notifier};
use common::*;

fn hook(url: String) -> NotifyConfig {
    NotifyConfig {
        webhook: Some(url),
        dedup_window_secs: 0,
        max_per_minute: 0,
        timeout_secs: 1,
        ..NotifyConfig::default()
    }
}

#[tokio::test]
async fn posts_json() {
    let (url, rx) = http_server(200, Duration::ZERO);
    let n = Notifier::spawn(hook(url));
    n.notify(detection("Eicar", "http://x/e.com"));
    n.shutdown().await;
    let got = rx.recv_timeout(Duration::from_secs(2)).expect("request");
    assert!(
        got.head.starts_with("post /hook http/1.1\r\n"),
        "{}",
        got.head
    );
    assert!(
        got.head.contains("content-type: application/json\r\n"),
        "{}",
        got.head
    );
    let msg: Message = serde_json::from_str(&got.body).expect("JSON body");
    assert_eq!(msg.event, detection("Eicar", "http://x/e.com"));
    let v: serde_json::Value = serde_json::from_str(&got.body).expect("JSON");
    assert_eq!(v["event"], "detection");
    assert_eq!(v["client"], "192.0.2.7");
    assert_eq!(v["threats"][0], "Eicar");
    assert_eq!(n.stats().sent, 1);
}

#[tokio::test]
async fn server_error_counts_as_failed() {
    let (url, rx) = http_server(500, Duration::ZERO);
    let n = Notifier::spawn(hook(url));
    n.notify(Event::UpdateDone {
        version: "27000".into(),
    });
    n.shutdown().await;
    let got = rx.recv_timeout(Duration::from_secs(2)).expect("request");
    assert!(got.body.contains("\"update_done\""));
    let s = n.stats();
    assert_eq!((s.sent, s.failed), (0, 1), "{s:?}");
}

#[tokio::test]
async fn slow_server_times_out_and_script_still_runs() {
    let (url, _rx) = http_server(200, Duration::from_secs(5));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "notify.sh", RECORDER);
    let n = Notifier::spawn(NotifyConfig {
        script: Some(path),
        ..hook(url)
    });
    let t = Instant::now();
    n.notify(Event::DatabaseOld { age_days: 9 });
    n.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let s = n.stats();
    assert_eq!((s.sent, s.failed), (1, 1), "{s:?}");
    assert_eq!(records(dir.path())[0]["ARG13"], "9");
}

#[tokio::test]
async fn refused_connection_counts_as_failed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let n = Notifier::spawn(hook(format!("http://127.0.0.1:{port}/")));
    n.notify(Event::EngineError { reason: "x".into() });
    n.shutdown().await;
    assert_eq!(n.stats().failed, 1);
}
