//! A fleet of two Bulwarks (issue 20): the same database and policy on both, behind Debian's
//! HAProxy (mode tcp, health checks) behind Squid 5.7 configured with `bulwark squid snippet`;
//! and, as the simple alternative, Squid's own `adaptation_service_set` failover without a
//! balancer. Everything on loopback ports chosen at run time, under a steady load of clean and
//! EICAR GETs whose every answer is checked. docs/scale-out.md reports what these measure.
//!
//! The tests take turns (one lock): each runs a load on a 2-core machine.

mod common;
mod fleet;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bulwark_testkit::client::ProxyClient;
use bulwark_testkit::haproxy::{self, Backend, Haproxy, HaproxyOptions, HealthCheck};
use bulwark_testkit::origin::Origin;
use bulwark_testkit::squid::{Squid, SquidOptions};
use common::bulwark_bin;
use fleet::{describe_failures, failures, shared_config, Instance, Load, Outcome};

static SERIAL: Mutex<()> = Mutex::new(());

/// Load clients and the pause between two requests of one client.
const CLIENTS: usize = 4;
const PACE: Duration = Duration::from_millis(5);

/// Squid (first, so it is dropped first), the balancer, the instances, the origin.
struct Fleet {
    squid: Squid,
    haproxy: Option<Haproxy>,
    instances: Vec<Instance>,
    origin: Origin,
    client: ProxyClient,
    _db: tempfile::TempDir,
}

impl Fleet {
    /// Two instances behind HAProxy (health check `check`) behind Squid.
    fn behind_haproxy(check: HealthCheck) -> Fleet {
        let (db, instances, origin) = instances(&["a", "b"]);
        let backends = instances
            .iter()
            .map(|i| Backend {
                name: i.name.clone(),
                icap: i.icap,
                metrics_port: Some(i.metrics.port()),
            })
            .collect();
        let haproxy = Haproxy::start(&HaproxyOptions::new(backends, check))
            .unwrap_or_else(|e| panic!("starting haproxy: {e}"));
        for i in &instances {
            haproxy
                .wait_for_server(&i.name, true, Duration::from_secs(20))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let snippet = common::squid_snippet(haproxy.addr());
        let squid = start_squid(snippet);
        Fleet::assemble(squid, Some(haproxy), instances, origin, db)
    }

    /// Two instances in one `adaptation_service_set` of Squid, no balancer; Squid asks a
    /// suspended service for OPTIONS again after `revival`.
    fn service_set(revival: Duration) -> Fleet {
        let (db, instances, origin) = instances(&["first", "second"]);
        let mut snippet = service_set_snippet(&instances);
        snippet.push_str(&format!(
            "icap_service_revival_delay {}\n",
            revival.as_secs()
        ));
        let squid = start_squid(snippet);
        Fleet::assemble(squid, None, instances, origin, db)
    }

    fn assemble(
        squid: Squid,
        haproxy: Option<Haproxy>,
        instances: Vec<Instance>,
        origin: Origin,
        db: tempfile::TempDir,
    ) -> Fleet {
        let mut client = ProxyClient::new(squid.addr());
        client.timeout = Duration::from_secs(60);
        eprintln!("{}", squid.version());
        Fleet {
            squid,
            haproxy,
            instances,
            origin,
            client,
            _db: db,
        }
    }

    fn haproxy(&self) -> &Haproxy {
        self.haproxy.as_ref().expect("this fleet has a balancer")
    }

    fn load(&self, clients: usize, tag: &str) -> Load {
        Load::start(&self.client, &self.origin.url(""), clients, PACE, tag)
    }

    /// Logs of every piece, for failure messages.
    fn diagnostics(&self) -> String {
        let mut s = self.squid.logs();
        if let Some(h) = &self.haproxy {
            let log = h.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            s.push_str("\n--- haproxy.log (last 40 lines) ---\n");
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        for i in &self.instances {
            s.push('\n');
            s.push_str(&i.log());
        }
        s
    }
}

/// The shared database, instances `names` started with the same configuration, an origin.
fn instances(names: &[&str]) -> (tempfile::TempDir, Vec<Instance>, Origin) {
    let db = fleet::shared_database();
    let shared = shared_config(db.path(), "");
    let mut v: Vec<Instance> = names.iter().map(|n| Instance::new(n, &shared)).collect();
    for i in &mut v {
        i.start(bulwark_bin());
    }
    let origin = Origin::start().expect("origin server");
    (db, v, origin)
}

/// Squid with `snippet`; full URLs in access.log, and Squid's debug sections from
/// `BULWARK_FLEET_SQUID_DEBUG` (e.g. `ALL,1 93,3`) when investigating.
fn start_squid(snippet: String) -> Squid {
    let mut extra = vec!["strip_query_terms off".to_string()];
    if let Ok(d) = std::env::var("BULWARK_FLEET_SQUID_DEBUG") {
        extra.push(format!("debug_options {d}"));
    }
    Squid::start_with(SquidOptions {
        icap_snippet: Some(snippet),
        extra,
        ..SquidOptions::default()
    })
    .unwrap_or_else(|e| panic!("starting squid: {e}"))
}

/// `bulwark squid snippet` for the first instance, with each `icap_service` line doubled (the
/// copy names the second instance) and the two grouped in an `adaptation_service_set` that the
/// `adaptation_access` lines name instead. The snippet command writes one address only, so the
/// test writes these lines.
fn service_set_snippet(instances: &[Instance]) -> String {
    let (first, second) = (instances[0].icap, instances[1].icap);
    let snippet = common::squid_snippet(first);
    let mut out = String::new();
    for line in snippet.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["icap_service", name, rest @ ..] => {
                let rest = rest.join(" ");
                out.push_str(&format!("icap_service {name}_1 {rest}\n"));
                let other = rest.replace(&first.to_string(), &second.to_string());
                out.push_str(&format!("icap_service {name}_2 {other}\n"));
                out.push_str(&format!(
                    "adaptation_service_set {name}_set {name}_1 {name}_2\n"
                ));
            }
            ["adaptation_access", name, rest @ ..] => {
                out.push_str(&format!(
                    "adaptation_access {name}_set {}\n",
                    rest.join(" ")
                ));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Requests and failures of `outcomes`, for the report.
fn summary(outcomes: &[Outcome]) -> String {
    let infected = outcomes.iter().filter(|o| o.infected).count();
    let uploads = outcomes
        .iter()
        .filter(|o| o.path.starts_with("/up?"))
        .count();
    format!(
        "{} requests ({} EICAR, {} uploads), {} failed",
        outcomes.len(),
        infected,
        uploads,
        failures(outcomes).len()
    )
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn have_haproxy(test: &str) -> bool {
    match haproxy::program() {
        Ok(_) => true,
        Err(e) => {
            eprintln!("skipped {test}: {e}");
            false
        }
    }
}

/// Waits (bounded) until `f` is true; how long that took.
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// After a signal to instance `k`: how long until HAProxy marks it down and until the process
/// exits (bounded: 20 s).
fn watch_stop(fleet: &mut Fleet, k: usize) -> (Duration, Duration) {
    let start = Instant::now();
    let name = fleet.instances[k].name.clone();
    let (mut down, mut exit) = (None, None);
    while start.elapsed() < Duration::from_secs(20) && (down.is_none() || exit.is_none()) {
        if down.is_none() && fleet.haproxy().server(&name).is_ok_and(|s| !s.is_up()) {
            down = Some(start.elapsed());
        }
        if exit.is_none() && !fleet.instances[k].running() {
            exit = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    match (down, exit) {
        (Some(d), Some(e)) => (d, e),
        _ => panic!(
            "{name}: marked down {down:?}, exited {exit:?} within 20 s\n{}",
            fleet.diagnostics()
        ),
    }
}

#[test]
fn same_configuration_and_database_give_one_istag_and_the_options_check_works() {
    if !have_haproxy("istag") {
        return;
    }
    let _serial = lock();
    let fleet = Fleet::behind_haproxy(HealthCheck::IcapOptions);
    let tags: Vec<String> = fleet.instances.iter().map(Instance::istag).collect();
    eprintln!("ISTags: {tags:?}");
    assert_eq!(
        tags[0], tags[1],
        "two instances with the same database and policy answer with different ISTags"
    );
    for i in &fleet.instances {
        let (status, body) = i.metrics_get("/readyz");
        assert_eq!(status, 200, "{}: {body}", i.name);
        assert!(body.contains(&tags[0]), "{}: /readyz says {body}", i.name);
    }
    // Through the balancer (each OPTIONS a new connection, spread by leastconn): one ISTag.
    for n in 0..6 {
        let head = bulwark_testkit::icap::options(
            fleet.haproxy().addr(),
            "av/respmod",
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("OPTIONS {n} through haproxy: {e}"));
        assert_eq!(head.header("ISTag"), Some(tags[0].as_str()));
    }
    let servers = fleet.haproxy().servers().expect("show stat");
    assert!(
        servers.iter().all(|s| s.sessions_total > 0),
        "the balancer did not use both: {servers:?}"
    );
    // A different policy is a different ISTag (Squid must not reuse answers across them).
    let db = fleet::shared_database();
    let mut other = Instance::new(
        "other",
        &shared_config(db.path(), "[answer]\nmode = \"complete\"\n"),
    );
    other.start(bulwark_bin());
    assert_ne!(
        other.istag(),
        tags[0],
        "a different answer mode, the same ISTag"
    );
    // The documented tcp-check sees a drain: SIGTERM → down.
    let t = Instant::now();
    fleet.instances[0].sigterm();
    fleet
        .haproxy()
        .wait_for_server("a", false, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "OPTIONS tcp-check: a marked down {:?} after SIGTERM",
        t.elapsed()
    );
}

#[test]
fn rolling_drain_behind_haproxy_fails_no_request() {
    if !have_haproxy("rolling drain") {
        return;
    }
    let _serial = lock();
    let mut fleet = Fleet::behind_haproxy(HealthCheck::Readyz);
    let load = fleet.load(CLIENTS, "d");
    std::thread::sleep(Duration::from_secs(2));
    let before: Vec<u64> = fleet.instances.iter().map(Instance::respmods).collect();
    eprintln!("RESPMODs before the drain: {before:?}");
    assert!(before.iter().all(|&n| n > 0), "not balanced: {before:?}");
    let mut marks = Vec::new();
    for k in 0..2 {
        let name = fleet.instances[k].name.clone();
        let t_term = load.now();
        fleet.instances[k].sigterm();
        let (down, exit) = watch_stop(&mut fleet, k);
        std::thread::sleep(Duration::from_secs(1));
        let t_start = Instant::now();
        fleet.instances[k].start(bulwark_bin());
        let up = fleet
            .haproxy()
            .wait_for_server(&name, true, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}\n{}", fleet.diagnostics()));
        let rejoin = t_start.elapsed();
        eprintln!(
            "{name}: SIGTERM at {t_term:?}, marked down after {down:?}, exited after {exit:?}, \
             restarted and marked up {rejoin:?} after the start (of which waiting for the \
             check {up:?})"
        );
        marks.push((name, t_term));
        std::thread::sleep(Duration::from_secs(2));
    }
    let outcomes = load.finish();
    let failed = failures(&outcomes);
    eprintln!(
        "rolling drain: {} {marks:?}; {} connections redispatched by HAProxy",
        summary(&outcomes),
        fleet.haproxy().redispatched()
    );
    assert!(
        failed.is_empty(),
        "requests failed during the drains:\n{}\n{}",
        describe_failures(&failed),
        fleet.diagnostics()
    );
    assert!(outcomes.iter().filter(|o| o.infected).count() > 10);
    let suspended = fleet.squid.suspensions();
    assert!(
        suspended.is_empty(),
        "Squid suspended its ICAP service: {suspended:?}"
    );
    let after: Vec<u64> = fleet.instances.iter().map(Instance::respmods).collect();
    eprintln!("RESPMODs of the restarted instances: {after:?}");
}

#[test]
fn crash_behind_haproxy_fails_only_in_flight_and_the_instance_rejoins() {
    if !have_haproxy("crash") {
        return;
    }
    let _serial = lock();
    let mut fleet = Fleet::behind_haproxy(HealthCheck::Readyz);
    let load = fleet.load(CLIENTS, "k");
    std::thread::sleep(Duration::from_secs(2));
    let before = fleet.instances[1].respmods();
    let t_kill = load.now();
    fleet.instances[1].sigkill();
    let t_killed = load.now();
    let down = fleet
        .haproxy()
        .wait_for_server("b", false, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", fleet.diagnostics()));
    std::thread::sleep(Duration::from_secs(3));
    let t_start = Instant::now();
    fleet.instances[1].start(bulwark_bin());
    let up = fleet
        .haproxy()
        .wait_for_server("b", true, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", fleet.diagnostics()));
    let rejoin = t_start.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let steady = fleet.instances[1].respmods();
    // More clients than Squid has ICAP connections open: the new connections are balanced
    // onto the instance with the fewest (the one that rejoined).
    let burst = fleet.load(2 * CLIENTS, "kb");
    std::thread::sleep(Duration::from_secs(3));
    let burst = burst.finish();
    let outcomes = load.finish();
    let rejoined = fleet.instances[1].respmods();
    let failed = failures(&outcomes);
    let in_flight = outcomes
        .iter()
        .filter(|o| o.start <= t_killed && o.end >= t_kill)
        .count();
    eprintln!(
        "crash: b had {before} RESPMODs; SIGKILL at {t_kill:?}, {in_flight} requests in flight; \
         marked down after {down:?}; restarted, marked up {rejoin:?} after the start (check \
         {up:?}); RESPMODs of the new b: {steady} under the same load, {rejoined} after a burst"
    );
    eprintln!(
        "crash: load {}; burst {}; {} connections redispatched by HAProxy",
        summary(&outcomes),
        summary(&burst),
        fleet.haproxy().redispatched()
    );
    eprint!("{}", describe_failures(&failed));
    let late: Vec<_> = failed
        .iter()
        .filter(|o| o.start > t_killed || o.end < t_kill)
        .copied()
        .collect();
    assert!(
        late.is_empty(),
        "requests not in flight at the SIGKILL failed:\n{}\n{}",
        describe_failures(&late),
        fleet.diagnostics()
    );
    assert!(failed.len() <= in_flight);
    let burst_failed = failures(&burst);
    assert!(
        burst_failed.is_empty(),
        "{}\n{}",
        describe_failures(&burst_failed),
        fleet.diagnostics()
    );
    assert!(
        rejoined > 0,
        "the restarted instance got no RESPMOD\n{}",
        fleet.diagnostics()
    );
    let suspended = fleet.squid.suspensions();
    assert!(
        suspended.is_empty(),
        "Squid suspended its ICAP service: {suspended:?}"
    );
    // The balancer itself down: Squid fails closed (its ICAP error page), nothing unscanned.
    fleet.haproxy.as_mut().expect("haproxy").stop();
    let mut statuses = Vec::new();
    for (k, path) in [
        "/bytes/5000?u=h1",
        "/eicar?u=h2",
        "/bytes/70000?u=h3",
        "/eicar?u=h4",
    ]
    .iter()
    .enumerate()
    {
        let r = fleet
            .client
            .get(&fleet.origin.url(path))
            .unwrap_or_else(|e| panic!("GET {path} with haproxy down: {e}"));
        assert!(
            !common::contains(&r.body, &bulwark_testkit::eicar()),
            "EICAR delivered with the balancer down"
        );
        assert_ne!(
            r.status,
            200,
            "request {k} passed unscanned: {}",
            common::describe(&r)
        );
        statuses.push(r.status);
    }
    eprintln!("crash: haproxy down, Squid answers {statuses:?}");
}

/// The cache.log lines about ICAP services (suspensions, failures, downs).
fn icap_lines(squid: &Squid) -> Vec<String> {
    let log = std::fs::read(squid.cache_log_path()).unwrap_or_default();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|l| l.contains("ICAP") || l.contains("icap"))
        .map(str::to_string)
        .collect()
}

/// Squid's revival delay in the service-set test: the shortest Squid allows (the default is
/// 180 s); a suspended service is asked for OPTIONS again after it.
const REVIVAL: Duration = Duration::from_secs(30);

#[test]
fn squid_service_set_fails_over_to_the_second_instance_without_a_balancer() {
    let _serial = lock();
    let mut fleet = Fleet::service_set(REVIVAL);
    let load = fleet.load(CLIENTS, "s");
    std::thread::sleep(Duration::from_secs(2));
    let before: Vec<u64> = fleet.instances.iter().map(Instance::respmods).collect();
    let t_kill = load.now();
    fleet.instances[0].sigkill();
    let t_killed = load.now();
    // The second takes over (bounded wait), then the load runs on for a while.
    let second = &fleet.instances[1];
    let took_over = wait_until(Duration::from_secs(60), || {
        second.respmods() > before[1] + 20
    });
    std::thread::sleep(Duration::from_secs(4));
    let t_restart = load.now();
    fleet.instances[0].start(bulwark_bin());
    let first = &fleet.instances[0];
    let back = wait_until(REVIVAL * 2 + Duration::from_secs(30), || {
        first.respmods() > 0
    });
    std::thread::sleep(Duration::from_secs(1));
    let outcomes = load.finish();
    let failed = failures(&outcomes);
    let in_flight = outcomes
        .iter()
        .filter(|o| o.start <= t_killed && o.end >= t_kill)
        .count();
    let last_failure = failed.iter().map(|o| o.end).max();
    let cache_log = icap_lines(&fleet.squid);
    eprintln!(
        "service set: RESPMODs before the kill {before:?}; SIGKILL of the first at {t_kill:?} \
         ({in_flight} requests in flight); the second took over after {took_over:?}; last \
         failure ends at {last_failure:?}; the first, restarted at {t_restart:?}, got work \
         again after {back:?}"
    );
    eprintln!("service set: {}", summary(&outcomes));
    eprint!("{}", describe_failures(&failed));
    for l in &cache_log {
        eprintln!("  cache.log: {l}");
    }
    assert!(
        before[0] > 0 && before[1] == 0,
        "the set did not use the first: {before:?}"
    );
    assert!(
        took_over.is_some(),
        "the second instance never took over\n{}",
        fleet.diagnostics()
    );
    // What fails: the transactions in flight on the first, and those Squid starts on a
    // persistent connection to it that it has not yet seen die (retried on the same service,
    // not on the next one), at most one per connection Squid had open: a few, within moments.
    let late: Vec<_> = failed
        .iter()
        .filter(|o| o.start > t_killed + Duration::from_secs(2))
        .copied()
        .collect();
    assert!(
        late.is_empty(),
        "requests failed more than 2 s after the kill:\n{}\n{}",
        describe_failures(&late),
        fleet.diagnostics()
    );
    assert!(
        failed.len() <= 3 * CLIENTS,
        "{} failed:\n{}",
        failed.len(),
        describe_failures(&failed)
    );
    assert!(
        cache_log
            .iter()
            .any(|l| l.contains("suspending ICAP service for too many failures")),
        "Squid did not suspend the dead service: {cache_log:?}"
    );
    assert!(
        back.is_some(),
        "the restarted first instance got no work within {:?}\n{}",
        REVIVAL * 2 + Duration::from_secs(30),
        fleet.diagnostics()
    );
}
