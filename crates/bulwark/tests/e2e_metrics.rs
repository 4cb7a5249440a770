//! `/metrics` read by a parser nobody here wrote (issue 18): Debian's Python
//! `prometheus_client` parses the classic 0.0.4 text (the default answer) and OpenMetrics (when
//! the scraper asks for it in `Accept`); counters are counters, documented series exist from the
//! start at zero, and the `process_*` and build-info series are there.

mod common;

use std::path::Path;
use std::process::Command;

use bulwark_testkit::bulwark::Bulwark;

/// Python's own interpreter from Debian (the one `python3-prometheus-client` installs into).
const PYTHON: &str = "/usr/bin/python3";

const SCRIPT: &str = r#"
import json, sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families as classic
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
url = sys.argv[1]
out = {}
for name, accept, parse in (
        ("classic", "text/plain", classic),
        ("openmetrics", "application/openmetrics-text; version=1.0.0", openmetrics)):
    req = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=10) as r:
        ctype = r.headers.get("Content-Type")
        body = r.read().decode()
    fams = {}
    for f in parse(body):
        fams[f.name] = {"type": f.type,
                        "samples": [[s.name, s.labels, s.value] for s in f.samples]}
    out[name] = {"content_type": ctype, "families": fams}
print(json.dumps(out))
"#;

fn have_parser() -> bool {
    Path::new(PYTHON).exists()
        && Command::new(PYTHON)
            .args(["-c", "import prometheus_client"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

#[test]
fn prometheus_client_parses_both_formats_with_every_series_from_the_start() {
    if !have_parser() {
        eprintln!("skipped: python3-prometheus-client missing (scripts/deps.sh test installs it)");
        return;
    }
    let port = bulwark_testkit::net::free_port().expect("port");
    let bulwark = Bulwark::start_with_config(
        common::bulwark_bin(),
        Some(&format!("[metrics]\nlisten = [\"127.0.0.1:{port}\"]\n")),
    )
    .unwrap_or_else(|e| panic!("starting bulwark: {e}"));
    let url = format!("http://127.0.0.1:{port}/metrics");
    let out = Command::new(PYTHON)
        .args(["-c", SCRIPT, &url])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "the parser refused the output: {}\n--- bulwark log ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        bulwark.log()
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for (format, ctype) in [
        ("classic", "text/plain; version=0.0.4"),
        ("openmetrics", "application/openmetrics-text; version=1.0.0"),
    ] {
        let f = &v[format];
        assert!(
            f["content_type"].as_str().unwrap_or("").starts_with(ctype),
            "{format}: {}",
            f["content_type"]
        );
        let fams = &f["families"];
        // Counters are typed as counters (the classic parser names the family after the
        // samples' `_total` stem, like OpenMetrics).
        for name in [
            "bulwark_objects",
            "bulwark_reloads",
            "bulwark_icap_requests",
            "bulwark_verdict_cache_hits",
            "process_cpu_seconds",
        ] {
            assert_eq!(
                fams[name]["type"], "counter",
                "{format}: {name} is {:?}",
                fams[name]
            );
        }
        // A failed reload series exists, at zero, before any reload.
        let reloads = fams["bulwark_reloads"]["samples"]
            .as_array()
            .expect("reload samples");
        assert!(
            reloads.iter().any(|s| s[1]["kind"] == "config"
                && s[1]["result"] == "failed"
                && s[2].as_f64() == Some(0.0)),
            "{format}: {reloads:?}"
        );
        for name in [
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
            "bulwark_connections_open",
        ] {
            assert_eq!(fams[name]["type"], "gauge", "{format}: {name}");
        }
        let info = &fams["bulwark_build_info"]["samples"][0];
        assert_eq!(info[1]["version"], env!("CARGO_PKG_VERSION"), "{format}");
    }
}
