//! Test helpers: recording scripts in a temp dir and a tiny loopback HTTP server.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bulwark_config::NotifyConfig;
use bulwark_notify::Event;

/// Writes `body` (after a `#!/bin/sh` line and `D=<dir>`) as an executable script in `dir`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!("#!/bin/sh\nD='{}'\n{body}\n", dir.display());
    std::fs::write(&path, text).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// Records args, selected env and stdin into `$D/rec.<pid>.done`. URLs containing `hang`
/// make it write its pids and sleep forever instead.
pub const RECORDER: &str = r#"
case "$4" in *hang*)
  echo $$ > "$D/hang.pid"; sleep 1000 & echo $! > "$D/sleep.pid"; wait; exit 0;;
esac
f="$D/rec.$$"
{
  printf 'ARGC=%s\n' "$#"
  i=1; for a in "$@"; do printf 'ARG%s=%s\n' "$i" "$a"; i=$((i+1)); done
  env | grep -E '^(BULWARK_[A-Z_]*|URL|CLIENT_ADDR|VIRUS_LIST|VERDICT|ACTION|PRODUCT)='
  printf 'STDIN='; cat
} > "$f.tmp"
mv "$f.tmp" "$f.done"
"#;

/// A config for `script` with short timeouts and no throttling unless the test sets it.
pub fn config(script: PathBuf) -> NotifyConfig {
    NotifyConfig {
        script: Some(script),
        dedup_window_secs: 0,
        max_per_minute: 0,
        timeout_secs: 2,
        queue: 100,
        ..NotifyConfig::default()
    }
}

/// One recorded run: `KEY=VALUE` lines.
pub type Record = HashMap<String, String>;

/// The finished records in `dir`, oldest first (by modification time).
pub fn records(dir: &Path) -> Vec<Record> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "done"))
        .map(|p| {
            (
                std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .expect("mtime"),
                p,
            )
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|(_, p)| {
            std::fs::read_to_string(p)
                .expect("read record")
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Waits until `dir` holds at least `n` records (or 5 s pass); returns them.
pub async fn wait_records(dir: &Path, n: usize) -> Vec<Record> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = records(dir);
        if r.len() >= n || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `f` until true or `secs` pass; returns the last value.
pub async fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// A detection event with `threat`, `url` and client 192.0.2.7.
pub fn detection(threat: &str, url: &str) -> Event {
    Event::Detection {
        status: "INFECTED".into(),
        threats: vec![threat.into()],
        url: url.into(),
        client: Some(IpAddr::from([192, 0, 2, 7])),
        user: Some("alice".into()),
        group: "managers".into(),
        action: "DENY".into(),
        size: 68,
    }
}

/// True when process `pid` is gone (or a zombie nobody reaped).
pub fn is_dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// A request the test server received.
#[derive(Debug)]
pub struct Received {
    /// Request line and headers, lowercased.
    pub head: String,
    /// The body.
    pub body: String,
}

/// A loopback HTTP server answering every request with `status` (after `delay`); returns its
/// URL and the channel of requests received.
pub fn http_server(status: u16, delay: Duration) -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
            let _ = tx.send(Received { head, body });
            std::thread::sleep(delay);
            let answer = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
            );
            let _ = s.write_all(answer.as_bytes());
        }
    });
    (url, rx)
}
