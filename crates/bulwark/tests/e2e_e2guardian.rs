//! End-to-end: a real e2guardian 5.3 (Debian 12) is the filtering proxy, and its `icapscan`
//! content scanner uses a real `bulwark serve` as its RESPMOD service; objects come from the
//! in-process origin. Everything listens on loopback ports chosen at run time.
//!
//! How e2guardian talks ICAP (docs/e2guardian.md): it downloads the WHOLE object first, then
//! sends one RESPMOD per object on a new connection, with `Allow: 204`, a dummy HTTP head
//! (`HTTP/1.0 200 OK`, no headers) and a preview when the object is larger than the advertised
//! `Preview`. It reads only the ICAP status line and headers of the answer: `204` means clean;
//! ANY `200` means infected (the body is never read); the threat name on its block page comes
//! from `X-Infection-Found: …Threat=<name>;`, but only when the OPTIONS answer carried an
//! `X-Allow-Out:` header naming `X-Infection-Found` (otherwise the page says `Unknown`).
//! Its block page is its own HTML template, sent with HTTP status 200.

mod common;

use std::time::{Duration, Instant};

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::client::{HttpResponse, ProxyClient};
use bulwark_testkit::e2guardian::E2guardian;
use bulwark_testkit::origin::Origin;
use bulwark_testkit::{eicar, pattern, sha256_hex};
use common::{bulwark_bin, contains, describe};

/// The name Bulwark's engine reports for EICAR (`bulwark_engine`'s built-in signature,
/// crates/engine/src/eicar.rs).
const EICAR_NAME: &str = "Eicar-Test-Signature";

/// The reason e2guardian's block page gives for an infection (language string 1100 of its
/// `ukenglish` messages), followed by the threat name.
const E2G_VIRUS_REASON: &str = "Virus or bad content detected.";

/// Origin + Bulwark + e2guardian. Dropped in the order of the fields: e2guardian first.
struct Stack {
    e2g: E2guardian,
    bulwark: Bulwark,
    origin: Origin,
    client: ProxyClient,
}

impl Stack {
    /// Starts the origin, Bulwark with its embedded defaults, then e2guardian.
    fn start() -> Stack {
        Self::start_with_config(None)
    }

    /// Starts the origin, Bulwark with `config` (TOML) when given, then e2guardian (which
    /// sends OPTIONS to Bulwark at startup and refuses to start without it).
    fn start_with_config(config: Option<&str>) -> Stack {
        let origin = Origin::start().expect("origin server");
        let bulwark = Bulwark::start_with_config(bulwark_bin(), config)
            .unwrap_or_else(|e| panic!("starting bulwark: {e}"));
        let e2g = E2guardian::start(bulwark.port(), "av/respmod")
            .unwrap_or_else(|e| panic!("starting e2guardian: {e}"));
        let mut client = ProxyClient::new(e2g.addr());
        // e2guardian waits up to 60 s (contentscannertimeout) on each ICAP read or write: leave
        // room for one such wait, so that its own answer is seen rather than a client timeout.
        client.timeout = Duration::from_secs(180);
        Stack {
            e2g,
            bulwark,
            origin,
            client,
        }
    }

    /// GET `path` from the origin through e2guardian.
    fn get(&self, path: &str) -> HttpResponse {
        self.client.get(&self.origin.url(path)).unwrap_or_else(|e| {
            panic!("GET {path} through e2guardian: {e}\n{}", self.diagnostics())
        })
    }

    /// True once e2guardian's access log has a line for `path` flagged `*SCANNED*` (it logs
    /// after answering the client; waits at most 5 s).
    fn e2g_logged_scanned(&self, path: &str) -> bool {
        let url = format!("{}\t", self.origin.url(path));
        eventually(|| {
            std::fs::read_to_string(self.e2g.access_log_path()).is_ok_and(|log| {
                log.lines()
                    .any(|l| l.contains(&url) && l.contains("*SCANNED*"))
            })
        })
    }

    /// True once Bulwark's log mentions `needle` (waits at most 5 s).
    fn bulwark_logged(&self, needle: &str) -> bool {
        eventually(|| self.bulwark.log().contains(needle))
    }

    /// Logs of e2guardian and Bulwark, for failure messages.
    fn diagnostics(&self) -> String {
        let log = self.bulwark.log();
        let start = log.len().saturating_sub(6000);
        format!(
            "{}\n--- bulwark log ---\n{}",
            self.e2g.logs(),
            log.get(start..).unwrap_or(&log)
        )
    }
}

/// Polls `cond` for at most 5 s.
fn eventually(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The texts of the `<span class="errortext">` elements of e2guardian's block page (the
/// reason and the category), joined; empty when `r` is not its block page.
fn block_reason(r: &HttpResponse) -> String {
    let text = r.body_text();
    let mut reasons = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("errortext\">") {
        rest = &rest[i + "errortext\">".len()..];
        let end = rest.find('<').unwrap_or(rest.len());
        reasons.push(rest[..end].trim().replace("&nbsp;", " "));
        rest = &rest[end..];
    }
    reasons.join(" | ")
}

/// True when `r` is e2guardian's HTML block page (its template's title).
fn is_e2g_block_page(r: &HttpResponse) -> bool {
    r.header("content-type")
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/html"))
        && r.body_text().contains("E2Guardian - Access Denied")
}

/// GETs `/bytes/<n>` and checks it arrives whole and byte-exact (SHA-256), and that
/// e2guardian scanned it (rather than passing it unscanned for its size).
fn assert_clean_arrives(n: usize) {
    assert_clean_arrives_with(&Stack::start(), n);
}

/// [`assert_clean_arrives`] on a running stack.
fn assert_clean_arrives_with(stack: &Stack, n: usize) {
    let path = format!("/bytes/{n}");
    let r = stack.get(&path);
    let why = if is_e2g_block_page(&r) {
        format!(
            "e2guardian answered its block page instead: {:?}. (e2guardian takes ANY ICAP 200 \
             for an infection and never reads its body: a clean object must get 204.)",
            block_reason(&r)
        )
    } else {
        String::new()
    };
    assert_eq!(
        r.status,
        200,
        "{path}: {}\n{why}\n{}",
        describe(&r),
        stack.diagnostics()
    );
    assert!(
        r.complete && r.body.len() == n,
        "{path}: incomplete or wrong length: {}\n{why}\n{}",
        describe(&r),
        stack.diagnostics()
    );
    assert_eq!(
        sha256_hex(&r.body),
        sha256_hex(&pattern(n)),
        "{path}: the body differs from the origin's: {}\n{why}\n{}",
        describe(&r),
        stack.diagnostics()
    );
    assert!(
        stack.e2g_logged_scanned(&path),
        "{path}: e2guardian did not log the object as *SCANNED* (passed unscanned?)\n{}",
        stack.diagnostics()
    );
}

/// GETs an EICAR route of `total` bytes and checks e2guardian answers its block page naming
/// the threat, without the EICAR bytes.
fn assert_infected_blocked(path: &str, total: usize) {
    let stack = Stack::start();
    let r = stack.get(path);
    let reason = block_reason(&r);
    eprintln!("{path}: {} ; e2guardian reason: {reason:?}", describe(&r));
    assert!(
        !contains(&r.body, &eicar()),
        "{path}: the client received the EICAR bytes: {}\n{}",
        describe(&r),
        stack.diagnostics()
    );
    assert!(
        !(r.complete && r.body.len() == total && r.status == 200 && !is_e2g_block_page(&r)),
        "{path}: the client received the whole infected object: {}\n{}",
        describe(&r),
        stack.diagnostics()
    );
    assert!(
        is_e2g_block_page(&r),
        "{path}: expected e2guardian's block page: {}\n{}",
        describe(&r),
        stack.diagnostics()
    );
    assert!(
        reason.contains(E2G_VIRUS_REASON),
        "{path}: the block page does not give the virus reason (reason {reason:?}; \
         \"WARNING: Could not perform content scan!\" is e2guardian's scan-error page)\n{}",
        stack.diagnostics()
    );
    assert!(
        stack.bulwark_logged(EICAR_NAME),
        "{path}: Bulwark's log does not report {EICAR_NAME}: e2guardian blocked the object \
         without Bulwark having found the virus (any ICAP 200 is an infection to e2guardian, \
         e.g. a 200 streamed before the end of the object was scanned)\n{}",
        stack.diagnostics()
    );
    assert!(
        reason.contains(EICAR_NAME),
        "{path}: e2guardian's block page does not name the threat {EICAR_NAME:?}: reason \
         {reason:?}. (e2guardian 5.3 reads `X-Infection-Found: …Threat=<name>;` only if the \
         OPTIONS answer had an `X-Allow-Out:` header containing `X-Infection-Found`; \
         otherwise it shows \"Unknown\".)\n{}",
        stack.diagnostics()
    );
}

#[test]
fn clean_1kb_arrives_byte_exact() {
    assert_clean_arrives(1024);
}

#[test]
fn clean_20kb_arrives_byte_exact() {
    assert_clean_arrives(20 * 1024);
}

#[test]
fn clean_300kb_arrives_byte_exact() {
    assert_clean_arrives(300 * 1024);
}

#[test]
fn clean_2mb_arrives_byte_exact() {
    // Exactly maxcontentramcachescansize: scanned from memory (scanMemory).
    assert_clean_arrives(2 * 1024 * 1024);
}

#[test]
fn clean_20mb_arrives_byte_exact() {
    // Above maxcontentramcachescansize: spooled to e2guardian's cache, scanned from the file
    // (scanFile); below the raised maxcontentfilecachescansize, so it IS scanned.
    assert_clean_arrives(20 * 1024 * 1024);
}

#[test]
fn eicar_at_the_start_of_1kb_is_blocked_with_its_name() {
    // 1024 bytes, smaller than Bulwark's Preview (4096): sent whole, without preview.
    assert_infected_blocked("/eicar?pad=0&tail=956", 1024);
}

#[test]
fn eicar_at_the_end_of_300kb_is_blocked_with_its_name() {
    let total = 300 * 1024;
    assert_infected_blocked(&format!("/eicar?pad={}", total - 68), total);
}

#[test]
fn eicar_at_the_end_of_5mb_is_blocked_with_its_name() {
    // Scanned from e2guardian's file cache (larger than maxcontentramcachescansize).
    let total = 5 * 1024 * 1024;
    assert_infected_blocked(&format!("/eicar?pad={}", total - 68), total);
}

#[test]
fn with_answer_mode_complete_a_clean_20mb_object_arrives_byte_exact() {
    // docs/e2guardian.md recommends `answer.mode = "complete"` for e2guardian (which buffers
    // the whole object anyway): Bulwark then answers only once the object is scanned, so a
    // clean object always gets 204.
    let stack = Stack::start_with_config(Some("[answer]\nmode = \"complete\"\n"));
    assert_clean_arrives_with(&stack, 20 * 1024 * 1024);
}
