//! End-to-end with Debian 13's Squid 6.13 (run in the chroot `scripts/trixie-squid.sh` makes,
//! next to the host's Squid 5.7), configured exactly as `bulwark squid snippet` writes it:
//! no `icap_service_failure_limit -1`, so a suspended ICAP service would show in cache.log.
//!
//! Skipped (with a `skipped: …` line) when the chroot cannot be made, e.g. without network
//! access to the Debian mirror, or with `BULWARK_SKIP_TRIXIE=1`.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::client::ProxyClient;
use bulwark_testkit::origin::Origin;
use bulwark_testkit::squid::{trixie_root, Squid, SquidOptions};
use bulwark_testkit::{eicar, pattern};
use common::{bulwark_bin, contains, describe};

/// The Debian 13 root, or None after printing why the test is skipped.
fn squid6_root(test: &str) -> Option<PathBuf> {
    let start = Instant::now();
    match trixie_root() {
        Ok(root) => {
            eprintln!(
                "{test}: Debian 13 root {} ready in {:.1} s",
                root.display(),
                start.elapsed().as_secs_f64()
            );
            Some(root)
        }
        Err(e) => {
            eprintln!("skipped: {test}: no Squid 6 chroot: {e}");
            None
        }
    }
}

/// Origin, Bulwark (answer mode `complete`) and Squid 6 in its chroot with the snippet.
struct Stack6 {
    squid: Squid,
    bulwark: Bulwark,
    origin: Origin,
    client: ProxyClient,
}

impl Stack6 {
    fn start(root: PathBuf) -> Stack6 {
        Self::start_with(root, false)
    }

    /// `cache`: let Squid keep objects in memory ([`SquidOptions::cache`]).
    fn start_with(root: PathBuf, cache: bool) -> Stack6 {
        let origin = Origin::start().expect("origin server");
        let bulwark =
            Bulwark::start_with_config(bulwark_bin(), Some("[answer]\nmode = \"complete\"\n"))
                .unwrap_or_else(|e| panic!("starting bulwark: {e}"));
        let snippet = common::squid_snippet(bulwark.addr());
        let squid = Squid::start_with(SquidOptions {
            chroot: Some(root),
            icap_snippet: Some(snippet),
            cache,
            ..SquidOptions::default()
        })
        .unwrap_or_else(|e| panic!("starting squid 6: {e}"));
        let client = ProxyClient::new(squid.addr());
        Stack6 {
            squid,
            bulwark,
            origin,
            client,
        }
    }

    fn get(&self, path: &str) -> bulwark_testkit::client::HttpResponse {
        self.client
            .get(&self.origin.url(path))
            .unwrap_or_else(|e| panic!("GET {path} through squid 6: {e}\n{}", self.diagnostics()))
    }

    fn diagnostics(&self) -> String {
        let log = self.bulwark.log();
        let start = log.len().saturating_sub(6000);
        format!(
            "{}\n--- bulwark log ---\n{}",
            self.squid.logs(),
            log.get(start..).unwrap_or(&log)
        )
    }
}

#[test]
fn squid6_with_the_snippet_passes_clean_and_blocks_eicar_in_complete_mode() {
    let Some(root) = squid6_root("squid6_with_the_snippet") else {
        return;
    };
    let stack = Stack6::start(root);
    let version = stack.squid.version();
    eprintln!("squid in the chroot: {version}");
    assert!(
        version.contains("Version 6."),
        "expected Squid 6 in the chroot, got {version:?}"
    );

    // A clean 10 MB object passes byte-exact.
    let n = 10 * 1024 * 1024;
    let t = Instant::now();
    let r = stack.get(&format!("/bytes/{n}"));
    eprintln!(
        "clean 10 MB: {} in {:.2} s",
        describe(&r),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(r.status, 200, "{}\n{}", describe(&r), stack.diagnostics());
    assert!(r.complete, "{}\n{}", describe(&r), stack.diagnostics());
    assert_eq!(r.body.len(), n, "clean 10 MB: length");
    assert!(r.body == pattern(n), "clean 10 MB: body differs");

    // A 9 MB object with EICAR at its very end: the block page.
    let total = 9 * 1024 * 1024;
    let t = Instant::now();
    let r = stack.get(&format!("/eicar?pad={}", total - eicar().len()));
    eprintln!(
        "9 MB with EICAR at the end: {} in {:.2} s",
        describe(&r),
        t.elapsed().as_secs_f64()
    );
    assert_eq!(
        r.status,
        403,
        "expected the 403 block page, got {}\n{}",
        describe(&r),
        stack.diagnostics()
    );
    let ct = r.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("text/html"),
        "block page content-type {ct:?}"
    );
    assert!(
        !contains(&r.body, &eicar()),
        "the block page carries the EICAR string"
    );

    // And Squid never suspended Bulwark's services.
    let suspensions = stack.squid.suspensions();
    assert!(
        suspensions.is_empty(),
        "Squid 6 suspended an ICAP service:\n{}\n{}",
        suspensions.join("\n"),
        stack.diagnostics()
    );
    let warnings: Vec<String> = std::fs::read_to_string(stack.squid.cache_log_path())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("WARNING") || l.contains("ERROR"))
        .map(str::to_string)
        .collect();
    if !warnings.is_empty() {
        eprintln!("squid 6 cache.log warnings:\n{}", warnings.join("\n"));
    }
}

#[test]
fn squid6_memory_cache_serves_a_scanned_object_again_without_the_origin() {
    let Some(root) = squid6_root("squid6_memory_cache") else {
        return;
    };
    let stack = Stack6::start_with(root, true);
    let n = 2 * 1024 * 1024;
    let path = format!("/bytes/{n}?cacheable=1");
    for round in 0..2 {
        let r = stack.get(&path);
        assert_eq!(
            r.status,
            200,
            "round {round}: {}\n{}",
            describe(&r),
            stack.diagnostics()
        );
        assert!(
            r.complete && r.body == pattern(n),
            "round {round}: body differs"
        );
    }
    let fetched = stack
        .origin
        .requests()
        .iter()
        .filter(|q| q.target.contains("cacheable=1"))
        .count();
    assert_eq!(
        fetched,
        1,
        "with caching on, Squid 6 should fetch the object once\n{}",
        stack.diagnostics()
    );
    assert!(
        stack.squid.suspensions().is_empty(),
        "{}",
        stack.diagnostics()
    );
}
