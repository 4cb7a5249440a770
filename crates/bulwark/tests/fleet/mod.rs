//! Pieces of the fleet tests (e2e_fleet.rs): Bulwark instances that restart on the same ICAP
//! and metrics ports, a shared signature database, and a steady load of GETs through Squid
//! whose every outcome is timed and checked.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bulwark_testkit::client::{get_direct, ProxyClient};
use bulwark_testkit::proc::ChildGuard;
use bulwark_testkit::{eicar, icap, net, pattern, tail_of_file};

/// The threat name of the EICAR signature in the shared database.
pub const THREAT: &str = "Fleet.Test.EICAR";

/// A signature directory both instances load: one `.ndb` body signature for EICAR, so that
/// what they find comes from a real database file and not from the built-in signature.
pub fn shared_database() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("database tempdir");
    let hex: String = eicar().iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        dir.path().join("fleet.ndb"),
        format!("{THREAT}:0:*:{hex}\n"),
    )
    .expect("write fleet.ndb");
    dir
}

/// What the instances share: the database and the policy (everything that decides verdicts).
pub fn shared_config(db: &Path, extra: &str) -> String {
    format!(
        "[server]\nshutdown_grace_secs = 10\n[engine]\ndatabase = [\"{}\"]\n{extra}",
        db.display()
    )
}

/// One `bulwark serve` of the fleet. Its ICAP and metrics ports are chosen once, so a restart
/// comes back on the same addresses (as behind a balancer's fixed server list); its control
/// socket and pid file are its own.
pub struct Instance {
    /// A short name (`a`, `b`…), also its HAProxy server name.
    pub name: String,
    /// The ICAP address.
    pub icap: SocketAddr,
    /// The metrics listener (`/metrics`, `/readyz`).
    pub metrics: SocketAddr,
    config: PathBuf,
    dir: tempfile::TempDir,
    child: Option<ChildGuard>,
    starts: u32,
}

impl Instance {
    /// An instance (not started) with `shared` (see [`shared_config`]) plus its own metrics
    /// listener, control socket and pid file.
    pub fn new(name: &str, shared: &str) -> Instance {
        let dir = bulwark_testkit::shared_tempdir("fleet-").expect("instance tempdir");
        let icap = SocketAddr::from(([127, 0, 0, 1], net::free_port().expect("port")));
        let metrics = SocketAddr::from(([127, 0, 0, 1], net::free_port().expect("port")));
        let d = dir.path().display();
        let text = format!(
            "{shared}\n[metrics]\nlisten = [\"{metrics}\"]\n[control]\nsocket = \"{d}/control.sock\"\n\
             pid_file = \"{d}/bulwark.pid\"\n"
        );
        let config = dir.path().join("bulwark.toml");
        std::fs::write(&config, text).expect("write bulwark.toml");
        Instance {
            name: name.to_string(),
            icap,
            metrics,
            config,
            dir,
            child: None,
            starts: 0,
        }
    }

    /// The log of the current (or last) run.
    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("bulwark-{}.log", self.starts))
    }

    /// Starts `bin serve` and waits (at most 30 s) until OPTIONS answers 200.
    pub fn start(&mut self, bin: &Path) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let err = log.try_clone().expect("log file");
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(self.icap.to_string())
            .arg("--config")
            .arg(&self.config);
        cmd.stdin(Stdio::null()).stdout(log).stderr(err);
        cmd.env("TMPDIR", self.dir.path()).env("BULWARK_CONFIG", "");
        let name = format!("bulwark {}", self.name);
        let mut child =
            ChildGuard::spawn(cmd, &name, Duration::from_secs(15)).expect("spawn bulwark");
        let ready =
            icap::wait_for_options(self.icap, "av/respmod", Duration::from_secs(30), || {
                child.check_running()
            });
        if let Err(e) = ready {
            panic!("{name} did not become ready: {e}\n{}", self.log());
        }
        self.child = Some(child);
    }

    /// Sends SIGTERM (the drain).
    pub fn sigterm(&self) {
        if let Some(c) = &self.child {
            c.signal(nix::libc::SIGTERM);
        }
    }

    /// SIGKILL (a crash) and reap.
    pub fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.stop(Duration::ZERO);
        }
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        let alive = self
            .child
            .as_mut()
            .is_some_and(|c| c.check_running().is_ok());
        if !alive {
            self.child = None;
        }
        alive
    }

    /// The ISTag of OPTIONS on `/av/respmod`.
    pub fn istag(&self) -> String {
        let head = icap::options(self.icap, "av/respmod", Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("OPTIONS to {}: {e}", self.name));
        head.header("ISTag").expect("ISTag header").to_string()
    }

    /// The body of `GET path` on the metrics listener (status, text).
    pub fn metrics_get(&self, path: &str) -> (u16, String) {
        let r = get_direct(self.metrics, path, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("GET {path} on {}: {e}", self.name));
        (r.status, r.body_text())
    }

    /// `bulwark_icap_requests_total{method="respmod"}` of the running process.
    pub fn respmods(&self) -> u64 {
        metric(
            &self.metrics_get("/metrics").1,
            r#"bulwark_icap_requests_total{method="respmod"}"#,
        )
    }

    /// The log of the current (or last) run.
    pub fn log(&self) -> String {
        format!(
            "--- bulwark {} log (run {}) ---\n{}",
            self.name,
            self.starts,
            tail_of_file(&self.log_path(), 6000)
        )
    }
}

/// The value of the sample `series` (name and labels, exactly) in Prometheus text.
pub fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

/// One request of the load and how it ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The URL path and query.
    pub path: String,
    /// True for an EICAR object (must get the 403 block page).
    pub infected: bool,
    /// When it started and ended, from the start of the load.
    pub start: Duration,
    /// See `start`.
    pub end: Duration,
    /// Err with a description when the answer was not the expected one.
    pub result: Result<(), String>,
}

/// A steady load through Squid: `threads` clients, each a sequence of requests (every fifth an
/// EICAR GET; one in ten a clean upload (POST, REQMOD) of 1 to 256 KB; the others GETs of clean
/// objects of 1 to 256 KB, one in ten of all requests sent slowly by the origin, 16 KB every
/// 60 ms; every URL distinct so that each is scanned), a pause of `pace` between two requests.
pub struct Load {
    stop: Arc<AtomicBool>,
    t0: Instant,
    handles: Vec<JoinHandle<Vec<Outcome>>>,
}

/// Bounds of a load: requests per client and its whole duration.
const MAX_PER_THREAD: usize = 20_000;
const MAX_LOAD: Duration = Duration::from_secs(180);

impl Load {
    /// Starts the clients (`tag` keeps the URLs of two loads apart).
    pub fn start(
        client: &ProxyClient,
        base: &str,
        threads: usize,
        pace: Duration,
        tag: &str,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let t0 = Instant::now();
        let handles = (0..threads)
            .map(|t| {
                let (client, base, stop) = (client.clone(), base.to_string(), stop.clone());
                let tag = format!("{tag}{t}");
                std::thread::spawn(move || client_loop(&client, &base, &tag, t, &stop, t0, pace))
            })
            .collect();
        Load { stop, t0, handles }
    }

    /// Time since the load started.
    pub fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// Stops the clients (each finishes its request in flight) and returns every outcome.
    pub fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Vec::new();
        for h in self.handles {
            all.extend(h.join().expect("load thread panicked"));
        }
        all.sort_by_key(|o| o.start);
        all
    }
}

fn client_loop(
    client: &ProxyClient,
    base: &str,
    tag: &str,
    seed: usize,
    stop: &AtomicBool,
    t0: Instant,
    pace: Duration,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut x = (seed as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for i in 0..MAX_PER_THREAD {
        if stop.load(Ordering::SeqCst) || t0.elapsed() > MAX_LOAD {
            break;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let infected = i % 5 == 4;
        let upload = i % 10 == 2;
        let n = 1024 + (x % (255 * 1024)) as usize;
        let path = if infected {
            format!("/eicar?pad={}&tail=100&u={tag}x{i}", n % 20_000)
        } else if upload {
            format!("/up?u={tag}x{i}")
        } else if i % 10 == 7 {
            // About a second on the wire: a transaction in flight for a while.
            format!("/bytes/{n}?slow_ms=60&slice=16384&u={tag}x{i}")
        } else {
            format!("/bytes/{n}?u={tag}x{i}")
        };
        let url = format!("{base}{path}");
        let start = t0.elapsed();
        let r = if upload {
            // A clean upload goes through REQMOD (the snippet sends POST there).
            client.post(&url, "application/octet-stream", &pattern(n))
        } else {
            client.get(&url)
        };
        let end = t0.elapsed();
        let result = match r {
            Err(e) => Err(format!("no answer: {e}")),
            Ok(r) => {
                let ok = if infected {
                    r.status == 403 && !crate::common::contains(&r.body, &eicar())
                } else if upload {
                    let len = n.to_string();
                    r.status == 200 && r.header("X-Received-Length") == Some(len.as_str())
                } else {
                    r.status == 200 && r.complete && r.body == pattern(n)
                };
                if ok {
                    Ok(())
                } else {
                    Err(crate::common::describe(&r))
                }
            }
        };
        out.push(Outcome {
            path,
            infected,
            start,
            end,
            result,
        });
        std::thread::sleep(pace);
    }
    out
}

/// Outcomes that failed.
pub fn failures(outcomes: &[Outcome]) -> Vec<&Outcome> {
    outcomes.iter().filter(|o| o.result.is_err()).collect()
}

/// A short account of failed outcomes, for messages.
pub fn describe_failures(outcomes: &[&Outcome]) -> String {
    outcomes
        .iter()
        .take(20)
        .map(|o| {
            format!(
                "  {} at {:.3}-{:.3} s: {}\n",
                o.path,
                o.start.as_secs_f64(),
                o.end.as_secs_f64(),
                o.result.as_ref().err().map_or("", String::as_str)
            )
        })
        .collect()
}
