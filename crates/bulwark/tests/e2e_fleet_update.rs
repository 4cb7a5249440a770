//! The fleet's update mirror (issue 20 item 3, "an update published to the mirror reaches
//! both"): a publisher (a signed update source made by `bulwark db build`, served over HTTP), the
//! fleet's mirror (`bulwark update --source <publisher> --trusted-key … --mirror-to DIR`, DIR
//! served over HTTP), and two `bulwark serve` instances whose `[update] sources` name the
//! mirror only, with a short `[update] interval_secs` so that they poll it themselves. All on
//! loopback, ports chosen at run time.
//!
//! - At version N both instances answer with the same ISTag (OPTIONS), the same database
//!   (`/readyz`, `bulwark ctl status`), and let an object with a marker string through.
//! - The publisher publishes N+1 (a body signature for the marker) and the mirror is refreshed
//!   with the same `--mirror-to` command: both instances install N+1 from the mirror on their
//!   own, agree again on a new ISTag and database, and block the marked object in RESPMOD.
//!   The time each took after the mirror was refreshed is printed (docs/scale-out.md).
//! - The mirror then offers N+2 signed by another key: both instances refuse it, keep N+1 (same
//!   ISTag, the new N+2 signature does not apply) and their logs name the untrusted signer.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::client::get_direct;
use bulwark_testkit::icap::{self, IcapAnswer};
use bulwark_testkit::origin::Origin;
use bulwark_testkit::{net, pattern};
use common::{bulwark_bin, db_build, hex, run_bulwark, serve_dir};

/// Timeout of one request to an instance.
const T: Duration = Duration::from_secs(10);
/// Longest wait for both instances to take (or refuse) what the mirror offers; they poll it
/// every second.
const CONVERGE: Duration = Duration::from_secs(30);
/// Pause between two looks at the instances while waiting.
const POLL: Duration = Duration::from_millis(50);
/// How often the instances look at the mirror (`[update] interval_secs`).
const INTERVAL_SECS: u64 = 1;

/// The publisher's first version (N); it then publishes N+1, and a foreign key offers N+2.
const N: u64 = 41;
/// What every version detects.
const BASE_THREAT: &str = "Fleet.Base.Marker";
const BASE_MARKER: &[u8] = b"fleet base marker, in every published version";
/// What version N+1 adds.
const NEW_THREAT: &str = "Fleet.Update.Marker";
const NEW_MARKER: &[u8] = b"fleet update marker, published as version N+1";
/// What the foreign-signed N+2 would add.
const ROGUE_THREAT: &str = "Fleet.Rogue.Marker";
const ROGUE_MARKER: &[u8] = b"rogue marker, offered under a key nobody trusts";

/// An `.ndb` line: a body signature for `marker` anywhere in an object.
fn ndb(threat: &str, marker: &[u8]) -> String {
    format!("{threat}:0:*:{}\n", hex(marker))
}

/// A download of some 6 KB carrying `marker` in its middle.
fn object(marker: &[u8]) -> Vec<u8> {
    let mut body = pattern(3000);
    body.extend_from_slice(marker);
    body.extend_from_slice(&pattern(3000));
    body
}

/// `bulwark db keygen --out PREFIX`; returns the key id it prints.
fn keygen(dir: &Path, prefix: &Path) -> String {
    let (code, out) = run_bulwark(
        &["db", "keygen", "--out", &prefix.display().to_string()],
        dir,
    );
    assert_eq!(code, 0, "bulwark db keygen: {out}");
    out.split("key id ")
        .nth(1)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no key id in {out:?}"))
}

/// What an instance says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    /// The ISTag of OPTIONS on `/av/respmod`.
    istag: String,
    /// The `database` line of `bulwark ctl status`.
    database: String,
    /// The published version installed (`<database_dir>` links to `db.ver-v<N>`).
    installed: String,
}

/// One `bulwark serve` of the fleet, its database kept by its own update schedule.
struct Node {
    name: &'static str,
    bulwark: Bulwark,
    metrics: SocketAddr,
    /// The database, its versions and backup, the update report, the control socket.
    data: tempfile::TempDir,
}

impl Node {
    /// Installs the mirror's current version with `bulwark update -c` (what an operator does
    /// before the first start), then starts `bulwark serve` with the same configuration.
    fn start(name: &'static str, mirror: &str, trusted: &Path) -> Node {
        let data = tempfile::tempdir().expect("instance tempdir");
        let d = data.path().display();
        let port = net::free_port().expect("port");
        let config = format!(
            r#"[engine]
database = ["{d}/db"]
[update]
sources = ["{mirror}"]
database_dir = "{d}/db"
trusted_keys = ["{key}"]
interval_secs = {INTERVAL_SECS}
jitter_secs = 0
timeout_secs = 10
retries = 1
report_file = "{d}/update-report.log"
[metrics]
listen = ["127.0.0.1:{port}"]
[control]
socket = "{d}/control.sock"
pid_file = "{d}/bulwark.pid"
"#,
            key = trusted.display(),
        );
        let path = data.path().join("bulwark.toml");
        std::fs::write(&path, &config).expect("write bulwark.toml");
        let (code, out) = run_bulwark(
            &["update", "-c", &path.display().to_string(), "--no-reload"],
            data.path(),
        );
        assert_eq!(code, 1, "{name}: first install from the mirror: {out}");
        let bulwark = Bulwark::start_with_config(bulwark_bin(), Some(&config))
            .unwrap_or_else(|e| panic!("starting bulwark {name}: {e}"));
        Node {
            name,
            bulwark,
            metrics: SocketAddr::from(([127, 0, 0, 1], port)),
            data,
        }
    }

    fn config(&self) -> PathBuf {
        self.data.path().join("bulwark.toml")
    }

    fn istag(&self) -> String {
        let head = icap::options(self.bulwark.addr(), "av/respmod", T)
            .unwrap_or_else(|e| panic!("OPTIONS to {}: {e}\n{}", self.name, self.log()));
        head.header("ISTag").expect("ISTag header").to_string()
    }

    /// `/readyz` on the metrics listener (must be 200).
    fn readyz(&self) -> String {
        let r = get_direct(self.metrics, "/readyz", T)
            .unwrap_or_else(|e| panic!("GET /readyz on {}: {e}", self.name));
        assert_eq!(r.status, 200, "{}: /readyz {}", self.name, r.body_text());
        r.body_text().trim().to_string()
    }

    /// A line of `bulwark ctl status -c <config>` (through the control socket), after `key `.
    fn status_line(status: &str, key: &str) -> String {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {key} line in `bulwark ctl status`:\n{status}"))
            .to_string()
    }

    /// What it reports through OPTIONS, `/readyz`, `bulwark ctl status` and its database link,
    /// checked to agree with each other.
    fn state(&self) -> State {
        let istag = self.istag();
        let (code, status) = run_bulwark(
            &["ctl", "status", "-c", &self.config().display().to_string()],
            self.data.path(),
        );
        assert_eq!(code, 0, "{}: bulwark ctl status: {status}", self.name);
        let database = Self::status_line(&status, "database");
        assert_eq!(
            Self::status_line(&status, "istag"),
            istag,
            "{}: ctl status and OPTIONS",
            self.name
        );
        let ready = self.readyz();
        assert_eq!(
            ready,
            format!("ready: database {database}, ISTag {istag}"),
            "{}: /readyz",
            self.name
        );
        let link = std::fs::read_link(self.data.path().join("db")).expect("database link");
        let installed = link
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("db.ver-v"))
            .unwrap_or_else(|| panic!("{}: database link {}", self.name, link.display()))
            .to_string();
        State {
            istag,
            database,
            installed,
        }
    }

    fn respmod(&self, url: &str, body: &[u8]) -> IcapAnswer {
        icap::respmod(self.bulwark.addr(), url, &[], body, T)
            .unwrap_or_else(|e| panic!("RESPMOD {url} to {}: {e}\n{}", self.name, self.log()))
    }

    /// Asserts that the download of `body` at `url` passes (`None`) or is blocked as `threat`.
    fn expect_verdict(&self, url: &str, body: &[u8], threat: Option<&str>, when: &str) {
        let r = self.respmod(url, body);
        let page = String::from_utf8_lossy(&r.rest);
        match threat {
            None => assert_eq!(
                r.http_status,
                Some(200),
                "{} {when}: {url} should pass; got {:?}\n{page:.400}",
                self.name,
                r.http_status
            ),
            Some(t) => {
                assert_eq!(
                    r.http_status,
                    Some(403),
                    "{} {when}: {url} should be blocked as {t}\n{page:.400}",
                    self.name
                );
                assert!(page.contains(t), "{} {when}: {page:.400}", self.name);
            }
        }
    }

    /// The update report file (a line per run: the start-up install and every scheduled look).
    fn report(&self) -> String {
        std::fs::read_to_string(self.data.path().join("update-report.log")).unwrap_or_default()
    }

    fn log(&self) -> String {
        let log = self.bulwark.log();
        let start = log.len().saturating_sub(6000);
        format!(
            "--- bulwark {} log ---\n{}",
            self.name,
            log.get(start..).unwrap_or(&log)
        )
    }
}

/// Waits until `done` holds for every node, looking every [`POLL`] for at most [`CONVERGE`];
/// returns for each node the time from `t0` to the first look at which it held.
fn wait_each(nodes: &[&Node], t0: Instant, what: &str, done: impl Fn(&Node) -> bool) -> Vec<f64> {
    let mut when: Vec<Option<f64>> = vec![None; nodes.len()];
    let max_looks = (CONVERGE.as_millis() / POLL.as_millis()) as usize + 1;
    for _ in 0..max_looks {
        for (i, n) in nodes.iter().enumerate() {
            if when[i].is_none() && done(n) {
                when[i] = Some(t0.elapsed().as_secs_f64());
            }
        }
        if when.iter().all(Option::is_some) || t0.elapsed() > CONVERGE {
            break;
        }
        std::thread::sleep(POLL);
    }
    nodes
        .iter()
        .zip(&when)
        .map(|(n, w)| {
            w.unwrap_or_else(|| {
                panic!(
                    "{} did not {what} within {CONVERGE:?}\n--- update report ---\n{}\n{}",
                    n.name,
                    n.report(),
                    n.log()
                )
            })
        })
        .collect()
}

#[test]
fn an_update_published_to_the_fleet_mirror_reaches_both_instances() {
    let work = tempfile::tempdir().expect("tempdir");
    let w = work.path();
    let (src, published, mirror) = (w.join("src"), w.join("published"), w.join("mirror"));
    std::fs::create_dir_all(&src).expect("src");

    // 1. The publisher: version N, served over HTTP.
    let key = w.join("publisher-key");
    keygen(w, &key);
    let trusted = w.join("publisher-key.pub");
    std::fs::write(src.join("base.ndb"), ndb(BASE_THREAT, BASE_MARKER)).expect("ndb");
    db_build(w, &src, &published, &key, N);
    let publisher = Origin::start().expect("publisher web server");
    let publisher_url = serve_dir(&publisher, &published);

    // 2. The fleet's mirror: what an operator runs from cron on the mirror host.
    let mirror_args = [
        "update",
        "--source",
        &publisher_url,
        "--trusted-key",
        &trusted.display().to_string(),
        "--mirror-to",
        &mirror.display().to_string(),
    ]
    .map(str::to_string);
    let mirror_to = || {
        let args: Vec<&str> = mirror_args.iter().map(String::as_str).collect();
        let t = Instant::now();
        let (code, out) = run_bulwark(&args, w);
        assert_eq!(code, 1, "bulwark update --mirror-to: {out}");
        t.elapsed().as_secs_f64()
    };
    let first_mirror = mirror_to();
    let mirror_http = Origin::start().expect("mirror web server");
    let mirror_url = serve_dir(&mirror_http, &mirror);

    // 3. Two instances following the mirror, at version N.
    let a = Node::start("a", &mirror_url, &trusted);
    let b = Node::start("b", &mirror_url, &trusted);
    let nodes = [&a, &b];
    let before = a.state();
    assert_eq!(before.installed, N.to_string(), "{}", a.report());
    assert_eq!(b.state(), before, "the instances disagree at version N");
    let new_url = "http://origin.test/fleet/new-marker.bin";
    let rogue_url = "http://origin.test/fleet/rogue-marker.bin";
    for n in nodes {
        n.expect_verdict(new_url, &object(NEW_MARKER), None, "at version N");
        n.expect_verdict(
            "http://origin.test/fleet/base-marker.bin",
            &object(BASE_MARKER),
            Some(BASE_THREAT),
            "at version N",
        );
    }

    // 4. The publisher publishes N+1; the mirror is refreshed with the same command; the
    // instances take it from the mirror at their next look.
    std::fs::write(src.join("update.ndb"), ndb(NEW_THREAT, NEW_MARKER)).expect("ndb");
    db_build(w, &src, &published, &key, N + 1);
    serve_dir(&publisher, &published);
    let second_mirror = mirror_to();
    serve_dir(&mirror_http, &mirror);
    let t0 = Instant::now();
    let converged = wait_each(&nodes, t0, "install N+1", |n| n.istag() != before.istag);
    let after = a.state();
    assert_eq!(after.installed, (N + 1).to_string(), "{}", a.report());
    assert_ne!(after.istag, before.istag);
    assert_ne!(after.database, before.database);
    assert_eq!(b.state(), after, "the instances disagree after the update");
    for n in nodes {
        n.expect_verdict(new_url, &object(NEW_MARKER), Some(NEW_THREAT), "at N+1");
        let report = n.report();
        let line = report
            .lines()
            .find(|l| l.contains(&format!("updated {N} -> {}", N + 1)))
            .unwrap_or_else(|| panic!("{}: no install of N+1 in the report:\n{report}", n.name));
        assert!(
            line.contains(&format!("source {mirror_url}"))
                && line.contains("the running server reloaded the databases"),
            "{}: N+1 came from elsewhere or was not reloaded: {line}",
            n.name
        );
    }
    // Only the mirror went to the publisher: one index download per `--mirror-to`.
    let asked = publisher
        .requests()
        .iter()
        .filter(|r| r.target.ends_with("/bulwark-db.index"))
        .count();
    assert_eq!(asked, 2, "index requests at the publisher");

    // 5. Someone with write access to the mirror (not the publisher's key) offers N+2.
    let rogue_key = w.join("rogue-key");
    let rogue_id = keygen(w, &rogue_key);
    let rogue_src = w.join("rogue-src");
    std::fs::create_dir_all(&rogue_src).expect("rogue src");
    for f in ["base.ndb", "update.ndb"] {
        std::fs::copy(src.join(f), rogue_src.join(f)).expect("copy ndb");
    }
    std::fs::write(rogue_src.join("rogue.ndb"), ndb(ROGUE_THREAT, ROGUE_MARKER)).expect("ndb");
    db_build(w, &rogue_src, &mirror, &rogue_key, N + 2);
    serve_dir(&mirror_http, &mirror);
    let refusal = format!("signer {rogue_id} is not trusted");
    let t1 = Instant::now();
    let refused = wait_each(&nodes, t1, "refuse the foreign-signed index", |n| {
        n.bulwark.log().contains(&refusal)
    });
    for n in nodes {
        assert_eq!(n.state(), after, "{} changed after the refusal", n.name);
        n.expect_verdict(rogue_url, &object(ROGUE_MARKER), None, "after N+2");
        // A new URL: scanned with the database in use, not answered by the blocked-object cache.
        n.expect_verdict(
            "http://origin.test/fleet/new-marker-again.bin",
            &object(NEW_MARKER),
            Some(NEW_THREAT),
            "after N+2",
        );
        let report = n.report();
        assert!(
            report
                .lines()
                .any(|l| l.contains("exit code 10") && l.contains(&refusal)),
            "{}: the report does not say why:\n{report}",
            n.name
        );
    }
    eprintln!(
        "fleet update: --mirror-to {first_mirror:.3} s (N) and {second_mirror:.3} s (N+1); \
         N+1 on a after {:.3} s, on b after {:.3} s; foreign-signed N+2 refused by a after \
         {:.3} s, by b after {:.3} s (interval {INTERVAL_SECS} s, no jitter)",
        converged[0], converged[1], refused[0], refused[1]
    );
}
