//! End-to-end SEQUENCES through a real Squid configured exactly as `bulwark squid snippet`
//! writes it (so Squid's default `icap_service_failure_limit 10` applies: ten ICAP failures
//! and Squid suspends Bulwark, after which every request fails), with Bulwark on its defaults
//! (partial mode, hold budget 32 KiB, held-back tail 4 KiB) unless stated:
//!
//! * many infected downloads in a row (100 KiB to 20 MiB, with and without Content-Length,
//!   EICAR at the end so the verdict comes late): each one is cut short VISIBLY at the client
//!   (fewer bytes than Content-Length, or a chunked body without its last chunk), never
//!   delivered whole; EICAR inside the preview gets the 403 block page naming the threat;
//! * the retry of every infected URL (same object, same validators) gets the block page fast
//!   (the blocked-object cache);
//! * then 200 clean downloads and uploads, every one byte-exact, and a different clean object
//!   at a URL that was infected before is delivered (the blocked-object cache keys on the
//!   validators, not only the URL);
//! * infected uploads up to 50 MiB are refused with the block page and not one byte reaches
//!   the origin, while a clean upload to the same URL right after arrives byte-exact;
//! * with Squid's memory cache on, an object cut late is not stored (the next request does
//!   not come truncated from Squid's cache);
//! * Debian 13's Squid 6.13 with `[answer] max_hold_bytes = 32 MiB`: every infected object up
//!   to 32 MiB gets the block page, none is cut.
//!
//! Every test ends by asserting that Squid never suspended the ICAP service (cache.log), and
//! reports ALL the failures of its sequence at once (not only the first).

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::client::{Framing, HttpResponse, ProxyClient};
use bulwark_testkit::origin::{Arrival, Origin};
use bulwark_testkit::squid::{trixie_root, Squid, SquidOptions};
use bulwark_testkit::{eicar, pattern_byte, sha256_hex, tail_of_file};
use common::{bulwark_bin, contains, describe};

/// The name Bulwark's engine gives EICAR (its built-in signature).
const THREAT: &str = "Eicar-Test-Signature";
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// Sizes of the infected downloads, cycled.
const DOWNLOAD_SIZES: [usize; 6] = [100 * KIB, 300 * KIB, MIB, 3 * MIB, 5 * MIB, 20 * MIB];
/// A retry of a URL known infected is answered from the blocked-object cache: no download,
/// no scan. Generous for a debug build on two busy cores.
const RETRY_BOUND: Duration = Duration::from_millis(1500);
/// Bound on one exchange through Squid (the largest is a 50 MiB upload).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(45);
/// Failures listed in a test's panic message (all are counted).
const MAX_LISTED: usize = 25;

fn eicar_bytes() -> &'static [u8] {
    static E: OnceLock<Vec<u8>> = OnceLock::new();
    E.get_or_init(eicar)
}

/// An object the origin serves or a test uploads: filler `pattern_byte(i + shift)` with the
/// EICAR string at `eicar_at` (the `/eicar?pad=P&tail=T` route is `shift` 0, `eicar_at` P).
#[derive(Debug, Clone, Copy)]
struct Object {
    len: usize,
    shift: usize,
    eicar_at: Option<usize>,
}

impl Object {
    fn clean(len: usize, shift: usize) -> Object {
        Object {
            len,
            shift,
            eicar_at: None,
        }
    }

    fn byte(&self, i: usize) -> u8 {
        if let Some(p) = self.eicar_at {
            if (p..p + 68).contains(&i) {
                return eicar_bytes()[i - p];
            }
        }
        pattern_byte(i + self.shift)
    }

    fn bytes(&self) -> Vec<u8> {
        (0..self.len).map(|i| self.byte(i)).collect()
    }

    /// Where `body` first differs from this object (None when it is a prefix of it, or all of
    /// it).
    fn first_difference(&self, body: &[u8]) -> Option<usize> {
        if body.len() > self.len {
            return Some(self.len);
        }
        body.iter()
            .enumerate()
            .position(|(i, &b)| b != self.byte(i))
    }

    /// True when `body` is exactly this object.
    fn is_exactly(&self, body: &[u8]) -> bool {
        body.len() == self.len && self.first_difference(body).is_none()
    }
}

/// An infected download: the `/eicar` route of the origin.
#[derive(Debug, Clone)]
struct Infected {
    path: String,
    object: Object,
    chunked: bool,
}

impl Infected {
    /// `len` bytes with EICAR `at` bytes in (`len - 68`: at the very end), unique by `id`.
    fn new(id: &str, len: usize, at: usize, chunked: bool) -> Infected {
        let tail = len - at - 68;
        let mut path = format!("/eicar?pad={at}&tail={tail}&validators=1&id={id}");
        if chunked {
            path.push_str("&chunked=1");
        }
        Infected {
            path,
            object: Object {
                len,
                shift: 0,
                eicar_at: Some(at),
            },
            chunked,
        }
    }

    fn late(&self) -> bool {
        self.object.eicar_at.is_some_and(|p| p >= 4096)
    }

    fn label(&self) -> String {
        format!(
            "{} KiB {}, EICAR at {}",
            self.object.len / KIB,
            if self.chunked {
                "chunked (no Content-Length)"
            } else {
                "with Content-Length"
            },
            match self.object.eicar_at {
                Some(p) if p + 68 == self.object.len => "the end".to_string(),
                Some(p) => format!("byte {p}"),
                None => "nowhere".to_string(),
            }
        )
    }
}

/// The sequence of infected downloads: `late` ones with EICAR at the end, sizes cycling over
/// [`DOWNLOAD_SIZES`], half with Content-Length and half chunked (each size both ways), and
/// one with EICAR at the start (inside the 4 KiB preview) after every `early_every` of them.
fn infected_sequence(prefix: &str, late: usize, early_every: usize) -> Vec<Infected> {
    let mut v = Vec::new();
    for i in 0..late {
        let len = DOWNLOAD_SIZES[i % DOWNLOAD_SIZES.len()];
        let chunked = (i + i / DOWNLOAD_SIZES.len()) % 2 == 1;
        v.push(Infected::new(
            &format!("{prefix}-late{i}"),
            len,
            len - 68,
            chunked,
        ));
        if early_every > 0 && i % early_every == early_every - 1 {
            let k = i / early_every;
            let at = [0, 1000][k % 2];
            v.push(Infected::new(
                &format!("{prefix}-early{k}"),
                DOWNLOAD_SIZES[(k * 5 + 2) % DOWNLOAD_SIZES.len()],
                at,
                k % 2 == 1,
            ));
        }
    }
    v
}

/// Deterministic sizes, log-uniform between `min` and `max` (both included once).
fn spread_sizes(count: usize, min: usize, max: usize, seed: u64) -> Vec<usize> {
    let mut x = seed | 1;
    (0..count)
        .map(|i| match i {
            0 => max,
            1 => min,
            _ => {
                // xorshift64*
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                let u = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
                let ratio = max as f64 / min as f64;
                ((min as f64) * ratio.powf(u)) as usize
            }
        })
        .collect()
}

/// Origin, Bulwark and Squid (configured with the snippet). Dropped in field order: Squid
/// first.
struct Rig {
    squid: Squid,
    bulwark: Bulwark,
    origin: Origin,
    client: ProxyClient,
    name: &'static str,
}

#[derive(Default)]
struct RigOptions {
    /// Bulwark's configuration (TOML); None: the embedded defaults.
    config: Option<&'static str>,
    /// Run the Squid of this Debian root (Squid 6.13); None: the host's Squid 5.7.
    chroot: Option<PathBuf>,
    /// Squid's memory cache on.
    cache: bool,
}

impl Rig {
    fn start(name: &'static str, opts: RigOptions) -> Rig {
        let origin = Origin::start().expect("origin server");
        let bulwark = Bulwark::start_with_config(bulwark_bin(), opts.config)
            .unwrap_or_else(|e| panic!("{name}: starting bulwark: {e}"));
        // Full URLs in access.log (Squid strips the query by default), and Squid's debug
        // sections from BULWARK_SEQ_SQUID_DEBUG (e.g. `ALL,1 11,3 93,3`) when investigating.
        let snippet = common::squid_snippet(bulwark.addr());
        // The sequences count on Squid's own failure limit, which the snippet leaves alone.
        assert!(
            !snippet.contains("icap_service_failure_limit"),
            "unexpected snippet:\n{snippet}"
        );
        let mut extra = vec!["strip_query_terms off".to_string()];
        if let Ok(d) = std::env::var("BULWARK_SEQ_SQUID_DEBUG") {
            extra.push(format!("debug_options {d}"));
        }
        let squid = Squid::start_with(SquidOptions {
            icap_snippet: Some(snippet),
            chroot: opts.chroot,
            cache: opts.cache,
            extra,
            ..SquidOptions::default()
        })
        .unwrap_or_else(|e| panic!("{name}: starting squid: {e}"));
        let mut client = ProxyClient::new(squid.addr());
        client.timeout = REQUEST_TIMEOUT;
        eprintln!(
            "{name}: {} (bulwark config: {:?})",
            squid.version(),
            opts.config.unwrap_or("defaults")
        );
        Rig {
            squid,
            bulwark,
            origin,
            client,
            name,
        }
    }

    /// GET `path` through Squid, timed; Err when no response head came back.
    fn get(&self, path: &str) -> (Result<HttpResponse, String>, Duration) {
        let t = Instant::now();
        let r = self
            .client
            .get(&self.origin.url(path))
            .map_err(|e| e.to_string());
        (r, t.elapsed())
    }

    /// POST `body` to `path` through Squid, timed.
    fn post(&self, path: &str, body: &[u8]) -> (Result<HttpResponse, String>, Duration) {
        let t = Instant::now();
        let r = self
            .client
            .post(&self.origin.url(path), "application/octet-stream", body)
            .map_err(|e| e.to_string());
        (r, t.elapsed())
    }

    /// The origin's arrivals whose target is exactly `path`.
    fn arrivals(&self, path: &str) -> Vec<Arrival> {
        self.origin
            .arrivals()
            .into_iter()
            .filter(|a| a.target == path)
            .collect()
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.squid.dir().join("access.log")).unwrap_or_default()
    }

    /// The access.log lines for `path` once there are at least `n` (waits at most 5 s: Squid
    /// logs a transaction when it ends).
    fn access_lines(&self, path: &str, n: usize) -> Vec<String> {
        let url = self.origin.url(path);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let lines: Vec<String> = self
                .access_log()
                .lines()
                .filter(|l| l.split_whitespace().any(|w| w == url))
                .map(str::to_string)
                .collect();
            if lines.len() >= n || Instant::now() >= deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Copies Squid's cache.log and access.log and Bulwark's log to the directory named by
    /// BULWARK_SEQ_KEEP_LOGS, if set (the temporary directories go with the test).
    fn keep_logs(&self, test: &str) {
        let Some(dir) = std::env::var_os("BULWARK_SEQ_KEEP_LOGS") else {
            return;
        };
        let dir = PathBuf::from(dir);
        let _ = std::fs::create_dir_all(&dir);
        for (from, name) in [
            (self.squid.cache_log_path(), "squid-cache.log"),
            (self.squid.dir().join("access.log"), "squid-access.log"),
        ] {
            let _ = std::fs::copy(from, dir.join(format!("{test}-{name}")));
        }
        let _ = std::fs::write(dir.join(format!("{test}-bulwark.log")), self.bulwark.log());
        eprintln!("{test}: logs kept in {}", dir.display());
    }

    /// Squid's access.log lines for `path` (waiting for `n`), for a failure message.
    fn access_note(&self, path: &str, n: usize) -> String {
        let lines = self.access_lines(path, n);
        let mut s = String::from("\n    squid access.log:");
        for l in lines {
            let _ = write!(s, "\n      {l}");
        }
        s
    }

    fn diagnostics(&self) -> String {
        let log = self.bulwark.log();
        let start = log.len().saturating_sub(8000);
        format!(
            "{}\n--- bulwark log (tail) ---\n{}",
            self.squid.logs(),
            log.get(start..).unwrap_or(&log)
        )
    }

    /// The cache.log lines about ICAP or with WARNING/ERROR (for the report), at most `max`.
    fn squid_complaints(&self, max: usize) -> (usize, Vec<String>) {
        let log = tail_of_file(&self.squid.cache_log_path(), 4 << 20);
        let lines: Vec<String> = log
            .lines()
            .filter(|l| {
                l.contains("ICAP")
                    || l.contains("icap")
                    || l.contains("WARNING")
                    || l.contains("ERROR")
                    || l.contains("assertion")
            })
            .map(str::to_string)
            .collect();
        let n = lines.len();
        (n, lines.into_iter().take(max).collect())
    }
}

/// Failures of a sequence, collected so that one run reports all of them.
struct Tally {
    test: &'static str,
    failures: Vec<String>,
    notes: Vec<String>,
}

impl Tally {
    fn new(test: &'static str) -> Tally {
        Tally {
            test,
            failures: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn fail(&mut self, msg: String) {
        eprintln!("{}: FAIL: {msg}", self.test);
        self.failures.push(msg);
    }

    /// Records `result`'s error, with Squid's access.log lines for `path`.
    fn check_at(&mut self, rig: &Rig, path: &str, what: &str, result: Result<(), String>) {
        if let Err(e) = result {
            self.fail(format!("{what}: {e}{}", rig.access_note(path, 1)));
        }
    }

    fn note(&mut self, msg: String) {
        eprintln!("{}: {msg}", self.test);
        self.notes.push(msg);
    }

    /// Asserts no failure and no ICAP service suspension in Squid's cache.log.
    fn finish(mut self, rig: &Rig) {
        rig.keep_logs(self.test);
        let suspensions = rig.squid.suspensions();
        if !suspensions.is_empty() {
            self.fail(format!(
                "Squid suspended the ICAP service ({} cache.log lines):\n  {}",
                suspensions.len(),
                suspensions.join("\n  ")
            ));
        }
        let (n, complaints) = rig.squid_complaints(40);
        eprintln!(
            "{}: squid cache.log has {n} ICAP/WARNING/ERROR lines{}",
            self.test,
            if n > 0 { ", first ones:" } else { "" }
        );
        for l in &complaints {
            eprintln!("  {l}");
        }
        if self.failures.is_empty() {
            eprintln!("{}: all checks passed", self.test);
            return;
        }
        let mut msg = format!(
            "{} ({}): {} failure(s):\n",
            self.test,
            rig.name,
            self.failures.len()
        );
        for f in self.failures.iter().take(MAX_LISTED) {
            let _ = writeln!(msg, "- {f}");
        }
        if self.failures.len() > MAX_LISTED {
            let _ = writeln!(msg, "- … and {} more", self.failures.len() - MAX_LISTED);
        }
        if !self.notes.is_empty() {
            let _ = writeln!(msg, "notes:\n  {}", self.notes.join("\n  "));
        }
        panic!("{msg}\n{}", rig.diagnostics());
    }
}

/// [`describe`], plus what Squid says about its own error pages (`X-Squid-Error`, the title).
fn summary(r: &HttpResponse) -> String {
    let mut s = describe(r);
    if let Some(e) = r.header("x-squid-error") {
        let text = r.body_text();
        let title = text
            .split_once("<title>")
            .and_then(|(_, t)| t.split_once("</title>"))
            .map_or("", |(t, _)| t);
        s = format!(
            "status {} {}: Squid's error page X-Squid-Error {e:?}, title {title:?}",
            r.status, r.reason
        );
    }
    s
}

/// Checks Bulwark's block page: HTTP 403, HTML, complete, naming the threat, without the
/// EICAR bytes.
fn check_block_page(r: &HttpResponse) -> Result<(), String> {
    if r.status != 403 {
        return Err(format!("expected the 403 block page, got {}", summary(r)));
    }
    let ct = r.header("content-type").unwrap_or("");
    if !ct.starts_with("text/html") {
        return Err(format!("block page content-type {ct:?}: {}", summary(r)));
    }
    if !r.complete {
        return Err(format!("block page incomplete: {}", summary(r)));
    }
    let named = r.body_text().contains(THREAT) || r.headers.iter().any(|(_, v)| v.contains(THREAT));
    if !named {
        return Err(format!(
            "the block page does not name {THREAT}: {}",
            summary(r)
        ));
    }
    if contains(&r.body, eicar_bytes()) {
        return Err("the block page carries the EICAR string".into());
    }
    Ok(())
}

/// How a late infected download ended at the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LateOutcome {
    /// 200, cut short visibly.
    Cut,
    /// The block page (the object was held whole).
    Blocked,
}

/// Checks a first download of an infected object: never the complete body; either the block
/// page, or an answer cut short VISIBLY per HTTP framing (fewer bytes than the object's
/// Content-Length and the connection closed; or a chunked body without its last chunk),
/// whose bytes are a prefix of the object without the EICAR string.
fn check_infected_download(
    d: &Infected,
    r: &HttpResponse,
    took: Duration,
) -> Result<LateOutcome, String> {
    if r.status == 403 {
        check_block_page(r)?;
        return Ok(LateOutcome::Blocked);
    }
    let whole = d.object.is_exactly(&r.body);
    if whole {
        return Err(format!(
            "the client received the WHOLE infected body ({} bytes, complete {}, sha256 {}) in \
             {took:.2?}",
            r.body.len(),
            r.complete,
            &sha256_hex(&r.body)[..16]
        ));
    }
    if r.status != 200 {
        return Err(format!(
            "expected 200 cut short (or the 403 block page), got {}",
            summary(r)
        ));
    }
    if contains(&r.body, eicar_bytes()) {
        return Err(format!(
            "the client received the EICAR bytes: {}",
            summary(r)
        ));
    }
    if let Some(at) = d.object.first_difference(&r.body) {
        if at < r.body.len() {
            return Err(format!(
                "the bytes delivered differ from the object at byte {at} of {}",
                r.body.len()
            ));
        }
    }
    let visible = match (d.chunked, r.framing) {
        // With Content-Length: fewer bytes than announced, connection closed.
        (false, Framing::Length(n)) if n == d.object.len => r.body.len() < n && !r.complete,
        (false, f) => {
            return Err(format!(
                "the origin sent Content-Length {}, the client got framing {f:?}: {}",
                d.object.len,
                summary(r)
            ))
        }
        // Without: a chunked body that never got its last chunk (closed or reset).
        (true, Framing::Chunked) => !r.complete,
        // An unframed body only shows a cut as a reset.
        (true, Framing::UntilClose) => r.error.is_some(),
        (true, f) => {
            return Err(format!(
                "chunked at the origin, framing {f:?} at the client: {}",
                summary(r)
            ))
        }
    };
    if !visible {
        return Err(format!(
            "cut short but NOT visibly per HTTP framing (the client cannot tell the file is \
             incomplete): {}",
            summary(r)
        ));
    }
    if let Some(e) = &r.error {
        if e.contains("timed out") || e.contains("timeout") || e.contains("temporarily") {
            return Err(format!(
                "the connection was not closed: the client timed out after {took:.2?}: {}",
                summary(r)
            ));
        }
    }
    Ok(LateOutcome::Cut)
}

/// Checks a retry of an infected URL: the block page, within [`RETRY_BOUND`].
fn check_retry(r: &HttpResponse, took: Duration) -> Result<(), String> {
    check_block_page(r)?;
    if took > RETRY_BOUND {
        return Err(format!(
            "the block page took {took:.2?} (more than {RETRY_BOUND:?}): not answered from the \
             blocked-object cache?"
        ));
    }
    Ok(())
}

/// Checks a clean download: 200, complete per its framing, byte-exact.
fn check_clean_get(
    obj: &Object,
    chunked: bool,
    r: &HttpResponse,
    took: Duration,
) -> Result<(), String> {
    if r.status != 200 {
        return Err(format!("expected 200, got {} after {took:.2?}", summary(r)));
    }
    if !r.complete {
        return Err(format!("incomplete after {took:.2?}: {}", summary(r)));
    }
    let framing_ok = match r.framing {
        Framing::Length(n) => n == obj.len,
        Framing::Chunked | Framing::UntilClose => chunked,
        Framing::NoBody => false,
    };
    if !framing_ok {
        return Err(format!(
            "framing {:?} for {} bytes {}",
            r.framing,
            obj.len,
            if chunked {
                "chunked"
            } else {
                "with Content-Length"
            }
        ));
    }
    if !obj.is_exactly(&r.body) {
        return Err(format!(
            "body differs from the origin's ({} bytes, expected {}; first difference at {:?})",
            r.body.len(),
            obj.len,
            obj.first_difference(&r.body)
        ));
    }
    Ok(())
}

/// Checks a clean upload: answered 200 by the origin, which received exactly `body` once.
fn check_clean_post(rig: &Rig, path: &str, body: &[u8], r: &HttpResponse) -> Result<(), String> {
    let sha = sha256_hex(body);
    if r.status != 200 || !r.complete {
        return Err(format!("expected the origin's 200, got {}", summary(r)));
    }
    if r.header("x-received-length") != Some(body.len().to_string().as_str())
        || r.header("x-received-sha256") != Some(sha.as_str())
    {
        return Err(format!(
            "the origin received other bytes: length {:?}, sha256 {:?} (sent {} bytes, {})",
            r.header("x-received-length"),
            r.header("x-received-sha256"),
            body.len(),
            &sha[..16]
        ));
    }
    let want = format!("len={}\nsha256={sha}\n", body.len());
    if r.body != want.as_bytes() {
        return Err(format!("the origin's answer was altered: {}", summary(r)));
    }
    let arrivals = rig.arrivals(path);
    let exact = arrivals.iter().filter(|a| {
        a.body_complete
            && a.body_received == body.len()
            && a.body_sha256.as_deref() == Some(sha.as_str())
    });
    if arrivals.len() != 1 || exact.count() != 1 {
        return Err(format!(
            "expected exactly one arrival at the origin with the {} bytes sent, got {:?}",
            body.len(),
            arrivals
                .iter()
                .map(|a| (a.method.as_str(), a.body_received, a.body_complete))
                .collect::<Vec<_>>()
        ));
    }
    Ok(())
}

/// Downloads every object of `seq` (checking each), retrying each URL right after; then
/// retries all of them once more. `expect_block`: every first download must be the block page
/// (a hold budget that fits them).
fn run_infected_sequence(rig: &Rig, tally: &mut Tally, seq: &[Infected], expect_block: bool) {
    let started = Instant::now();
    let (mut cut, mut blocked, mut bad) = (0usize, 0usize, 0usize);
    let mut slowest_retry = Duration::ZERO;
    for (i, d) in seq.iter().enumerate() {
        let what = format!("infected download #{i} ({})", d.label());
        let (r, took) = rig.get(&d.path);
        let outcome = match r {
            Err(e) => Err(format!("no response after {took:.2?}: {e}")),
            Ok(r) if !d.late() || expect_block => check_block_page(&r)
                .map(|()| LateOutcome::Blocked)
                .map_err(|e| format!("{e} (after {took:.2?})")),
            Ok(r) => check_infected_download(d, &r, took),
        };
        match outcome {
            Ok(LateOutcome::Cut) => cut += 1,
            Ok(LateOutcome::Blocked) => blocked += 1,
            Err(e) => {
                bad += 1;
                tally.fail(format!("{what}: {e}{}", rig.access_note(&d.path, 1)));
            }
        }
        let (r, took) = rig.get(&d.path);
        slowest_retry = slowest_retry.max(took);
        if let Err(e) = r.and_then(|r| check_retry(&r, took)) {
            tally.fail(format!(
                "retry of {what} (same URL, same validators): {e}{}",
                rig.access_note(&d.path, 2)
            ));
        }
    }
    tally.note(format!(
        "{} infected downloads in {:.1} s: {cut} cut visibly, {blocked} blocked with the page, \
         {bad} wrong; slowest immediate retry {slowest_retry:.2?}",
        seq.len(),
        started.elapsed().as_secs_f64()
    ));
    let started = Instant::now();
    for (i, d) in seq.iter().enumerate() {
        let (r, took) = rig.get(&d.path);
        tally.check_at(
            rig,
            &d.path,
            &format!("second retry of infected download #{i} ({})", d.label()),
            r.and_then(|r| check_retry(&r, took)),
        );
    }
    tally.note(format!(
        "second pass of {} retries in {:.1} s",
        seq.len(),
        started.elapsed().as_secs_f64()
    ));
}

/// `count` clean requests, sizes spread between 1 KiB and 5 MiB: GETs with Content-Length
/// (with validators), chunked GETs (with and without validators) and POST uploads.
fn run_clean_sequence(rig: &Rig, tally: &mut Tally, prefix: &str, count: usize) {
    let started = Instant::now();
    let sizes = spread_sizes(count, KIB, 5 * MIB, 0x5eed_0000 + count as u64);
    let (mut ok, mut bytes) = (0usize, 0usize);
    for (i, &n) in sizes.iter().enumerate() {
        let (what, path, result) = match i % 4 {
            0 | 1 | 3 => {
                let (path, chunked) = match i % 4 {
                    0 => (format!("/bytes/{n}?validators=1&id={prefix}{i}"), false),
                    1 => (
                        format!("/bytes/{n}?chunked=1&validators=1&id={prefix}{i}"),
                        true,
                    ),
                    _ => (
                        format!("/chunked/{n}?chunk={}&id={prefix}{i}", 1000 + i * 131),
                        true,
                    ),
                };
                let what = format!("clean GET #{i} {path}");
                let (r, took) = rig.get(&path);
                let obj = Object::clean(n, 0);
                let result = r.and_then(|r| check_clean_get(&obj, chunked, &r, took));
                (what, path, result)
            }
            _ => {
                let path = format!("/upload/{prefix}{i}");
                let body = Object::clean(n, 7919 * (i + 1)).bytes();
                let what = format!("clean POST #{i} of {n} bytes to {path}");
                let (r, took) = rig.post(&path, &body);
                let result = r.and_then(|r| {
                    check_clean_post(rig, &path, &body, &r)
                        .map_err(|e| format!("{e} (after {took:.2?})"))
                });
                (what, path, result)
            }
        };
        match result {
            Ok(()) => {
                ok += 1;
                bytes += n;
            }
            Err(e) => tally.fail(format!("{what}: {e}{}", rig.access_note(&path, 1))),
        }
    }
    tally.note(format!(
        "{count} clean requests in {:.1} s: {ok} byte-exact ({:.0} MiB)",
        started.elapsed().as_secs_f64(),
        bytes as f64 / MIB as f64
    ));
}

/// A URL that served an infected object (cut, or blocked at once) now serves a different clean
/// object (new ETag and Last-Modified; new length or not): it must be delivered byte-exact.
fn run_replaced_objects(rig: &Rig, tally: &mut Tally) {
    struct Case {
        name: &'static str,
        infected: Object,
        clean: Object,
        chunked: bool,
    }
    let cases = [
        Case {
            name: "swap-cl-late",
            infected: Object {
                len: MIB,
                shift: 0,
                eicar_at: Some(MIB - 68),
            },
            clean: Object::clean(MIB + 1000, 11),
            chunked: false,
        },
        Case {
            name: "swap-chunked-late",
            infected: Object {
                len: 3 * MIB,
                shift: 0,
                eicar_at: Some(3 * MIB - 68),
            },
            // Same length, other bytes: only the validators tell the objects apart.
            clean: Object::clean(3 * MIB, 13),
            chunked: true,
        },
        Case {
            name: "swap-cl-same-length",
            infected: Object {
                len: 5 * MIB,
                shift: 0,
                eicar_at: Some(5 * MIB - 68),
            },
            clean: Object::clean(5 * MIB, 17),
            chunked: false,
        },
        Case {
            name: "swap-cl-early",
            infected: Object {
                len: 200 * KIB,
                shift: 0,
                eicar_at: Some(0),
            },
            clean: Object::clean(200 * KIB, 19),
            chunked: false,
        },
    ];
    for c in &cases {
        let path = format!(
            "/files/{}?validators=1{}",
            c.name,
            if c.chunked { "&chunked=1" } else { "" }
        );
        rig.origin.put_file(c.name, c.infected.bytes());
        let d = Infected {
            path: path.clone(),
            object: c.infected,
            chunked: c.chunked,
        };
        let (r, took) = rig.get(&path);
        let first = if d.late() {
            r.and_then(|r| check_infected_download(&d, &r, took).map(|_| ()))
        } else {
            r.and_then(|r| check_block_page(&r))
        };
        tally.check_at(
            rig,
            &path,
            &format!("{}: the infected object", c.name),
            first,
        );
        let (r, took) = rig.get(&path);
        tally.check_at(
            rig,
            &path,
            &format!("{}: retry of the infected object", c.name),
            r.and_then(|r| check_retry(&r, took)),
        );
        let old_etag = rig.origin.file_etag(c.name);
        rig.origin.put_file(c.name, c.clean.bytes());
        assert_ne!(
            old_etag,
            rig.origin.file_etag(c.name),
            "the ETag must change"
        );
        let (r, took) = rig.get(&path);
        tally.check_at(
            rig,
            &path,
            &format!(
                "{}: the DIFFERENT clean object now at the same URL ({} bytes, new ETag)",
                c.name, c.clean.len
            ),
            r.and_then(|r| check_clean_get(&c.clean, c.chunked, &r, took)),
        );
    }
}

#[test]
fn squid5_fifty_cut_downloads_then_retries_then_200_clean_requests() {
    let rig = Rig::start("squid 5.7, defaults", RigOptions::default());
    let mut tally = Tally::new("squid5_sequence");
    let seq = infected_sequence("s5", 50, 10);
    assert_eq!(seq.iter().filter(|d| d.late()).count(), 50);
    assert_eq!(seq.iter().filter(|d| d.late() && d.chunked).count(), 25);
    run_infected_sequence(&rig, &mut tally, &seq, false);
    run_replaced_objects(&rig, &mut tally);
    run_clean_sequence(&rig, &mut tally, "s5c", 200);
    tally.finish(&rig);
}

#[test]
fn squid5_infected_uploads_never_reach_the_origin_and_clean_ones_follow() {
    let rig = Rig::start("squid 5.7, defaults", RigOptions::default());
    let mut tally = Tally::new("squid5_uploads");
    for (k, n) in [100 * KIB, MIB, 10 * MIB, 50 * MIB].into_iter().enumerate() {
        let path = format!("/upload/infected-{k}");
        let infected = Object {
            len: n,
            shift: k,
            eicar_at: Some(n - 68),
        }
        .bytes();
        let (r, took) = rig.post(&path, &infected);
        if let Err(e) = r.and_then(|r| check_block_page(&r)) {
            tally.fail(format!(
                "infected upload of {} KiB (EICAR at the end): {e} (after {took:.2?}){}",
                n / KIB,
                rig.access_note(&path, 1)
            ));
        }
        let arrived = rig.arrivals(&path);
        if !arrived.is_empty() {
            tally.fail(format!(
                "infected upload of {} KiB: {} request(s) reached the origin, with {:?} body \
                 bytes",
                n / KIB,
                arrived.len(),
                arrived.iter().map(|a| a.body_received).collect::<Vec<_>>()
            ));
        }
        eprintln!("infected upload of {} KiB: answered in {took:.2?}", n / KIB);
        // A clean upload to the same URL right after.
        let clean = Object::clean(MIB, 101 + k).bytes();
        let (r, took) = rig.post(&path, &clean);
        if let Err(e) = r.and_then(|r| check_clean_post(&rig, &path, &clean, &r)) {
            tally.fail(format!(
                "clean 1 MiB upload to the URL of the infected {} KiB one: {e} (after \
                 {took:.2?}){}",
                n / KIB,
                rig.access_note(&path, 2)
            ));
        }
    }
    // No infected byte reached the origin by any URL.
    let leaked: Vec<String> = rig
        .origin
        .arrivals()
        .iter()
        .filter(|a| a.body_received > 0 && a.body_received != MIB)
        .map(|a| format!("{} {} ({} bytes)", a.method, a.target, a.body_received))
        .collect();
    if !leaked.is_empty() {
        tally.fail(format!("unexpected bodies at the origin: {leaked:?}"));
    }
    tally.finish(&rig);
}

#[test]
fn squid5_memory_cache_does_not_keep_an_object_cut_late() {
    let rig = Rig::start(
        "squid 5.7, memory cache",
        RigOptions {
            cache: true,
            ..RigOptions::default()
        },
    );
    let mut tally = Tally::new("squid5_cache");
    // The cache works: a clean object is fetched once and then served from memory.
    let clean = "/bytes/1048576?validators=1&id=cache-clean";
    for round in 0..2 {
        let (r, took) = rig.get(clean);
        tally.check_at(
            &rig,
            clean,
            &format!("clean 1 MiB, round {round}"),
            r.and_then(|r| check_clean_get(&Object::clean(MIB, 0), false, &r, took)),
        );
    }
    let lines = rig.access_lines(clean, 2);
    let fetched = rig.arrivals(clean).len();
    if fetched != 1 || !lines.get(1).is_some_and(|l| l.contains("HIT")) {
        tally.fail(format!(
            "Squid's memory cache does not keep a clean object (origin fetched it {fetched} \
             times; access.log: {lines:?}): the checks below would prove nothing"
        ));
    }
    for (id, chunked) in [("cache-cut-cl", false), ("cache-cut-chunked", true)] {
        let d = Infected::new(id, MIB, MIB - 68, chunked);
        let (r, took) = rig.get(&d.path);
        tally.check_at(
            &rig,
            &d.path,
            &format!("first download of {}", d.label()),
            r.and_then(|r| check_infected_download(&d, &r, took).map(|_| ())),
        );
        // Squid logs the transaction when it is over: then it has decided whether to keep it.
        let _ = rig.access_lines(&d.path, 1);
        for round in 1..3 {
            let (r, took) = rig.get(&d.path);
            let lines = rig.access_lines(&d.path, round + 1);
            let last = lines.last().cloned().unwrap_or_default();
            let mut result = r.and_then(|r| check_block_page(&r).map(|()| r));
            if let Ok(r) = &result {
                if r.status == 200 || last.contains("HIT") {
                    result = Err(format!(
                        "served from Squid's cache: {} (access.log: {last})",
                        summary(r)
                    ));
                }
            }
            tally.check_at(
                &rig,
                &d.path,
                &format!(
                    "download #{round} of the object cut late ({}) after {took:.2?}",
                    d.label()
                ),
                result.map(|_| ()),
            );
        }
        let fetched = rig.arrivals(&d.path).len();
        if fetched != 3 {
            tally.fail(format!(
                "{}: the origin saw {fetched} requests for 3 downloads (the others came from \
                 Squid's cache)",
                d.label()
            ));
        }
        eprintln!(
            "{}: access.log:\n  {}",
            d.label(),
            rig.access_lines(&d.path, 3).join("\n  ")
        );
    }
    tally.finish(&rig);
}

/// The Debian 13 root, or None after printing why the test is skipped.
fn squid6_root(test: &str) -> Option<PathBuf> {
    match trixie_root() {
        Ok(root) => Some(root),
        Err(e) => {
            eprintln!("skipped: {test}: no Squid 6 chroot: {e}");
            None
        }
    }
}

#[test]
fn squid6_with_a_32_mib_hold_budget_blocks_every_infected_download_with_the_page() {
    let Some(root) = squid6_root("squid6_sequence") else {
        return;
    };
    let rig = Rig::start(
        "squid 6.13, max_hold_bytes = 32 MiB",
        RigOptions {
            config: Some("[answer]\nmax_hold_bytes = 33554432\n"),
            chroot: Some(root),
            cache: false,
        },
    );
    let version = rig.squid.version();
    assert!(
        version.contains("Version 6."),
        "expected Squid 6 in the chroot, got {version:?}"
    );
    let mut tally = Tally::new("squid6_sequence");
    let mut seq = infected_sequence("s6", 12, 6);
    // Exactly the hold budget, with and without Content-Length: still held whole.
    for (id, chunked) in [("s6-budget-cl", false), ("s6-budget-chunked", true)] {
        seq.push(Infected::new(id, 32 * MIB, 32 * MIB - 68, chunked));
    }
    run_infected_sequence(&rig, &mut tally, &seq, true);
    run_clean_sequence(&rig, &mut tally, "s6c", 20);
    tally.finish(&rig);
}
