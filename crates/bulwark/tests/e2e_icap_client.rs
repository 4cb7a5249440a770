//! End-to-end with a second, independent ICAP client: `c-icap-client` from Debian's c-icap
//! package, against a real `bulwark serve`.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::{eicar, find_program, pattern};

/// Runs c-icap-client with `args` against `bulwark`, bounded by 60 s.
fn c_icap_client(bulwark: &Bulwark, args: &[&str]) -> (Output, String) {
    let bin = find_program("c-icap-client", "c-icap").unwrap_or_else(|e| panic!("{e}"));
    let port = bulwark.port().to_string();
    let mut cmd = Command::new(bin);
    cmd.args(["-i", "127.0.0.1", "-p", &port]).args(args);
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn c-icap-client");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait().expect("poll c-icap-client") {
            Some(_) => break,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                panic!("c-icap-client {args:?} did not finish within 60 s");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = child.wait_with_output().expect("c-icap-client output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

fn start() -> Bulwark {
    Bulwark::start(common::bulwark_bin()).unwrap_or_else(|e| panic!("starting bulwark: {e}"))
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write test file");
    p.to_string_lossy().into_owned()
}

#[test]
fn options_answers_for_both_services() {
    let bulwark = start();
    for service in ["av/respmod", "av/reqmod"] {
        let (_, text) = c_icap_client(&bulwark, &["-s", service]);
        assert!(text.contains("ICAP/1.0 200"), "OPTIONS {service}:\n{text}");
        assert!(
            text.contains("ISTag"),
            "OPTIONS {service} has no ISTag:\n{text}"
        );
        let method = if service.ends_with("respmod") {
            "RESPMOD"
        } else {
            "REQMOD"
        };
        assert!(
            text.contains(method),
            "OPTIONS {service} lacks {method}:\n{text}"
        );
    }
}

#[test]
fn respmod_clean_with_preview_is_unmodified() {
    let bulwark = start();
    let dir = tempfile::tempdir().expect("tempdir");
    let body = pattern(20_000);
    let file = write(dir.path(), "clean.bin", &body);
    let out = dir.path().join("out.bin");
    let out_s = out.to_string_lossy().into_owned();
    let (_, text) = c_icap_client(
        &bulwark,
        &[
            "-s",
            "av/respmod",
            "-f",
            &file,
            "-resp",
            "http://127.0.0.1/clean.bin",
            "-o",
            &out_s,
            "-v",
        ],
    );
    // Either 204 (no modification), or 200/206 with the very same body.
    if text.contains("ICAP/1.0 204") {
        return;
    }
    assert!(
        text.contains("ICAP/1.0 200") || text.contains("ICAP/1.0 206"),
        "RESPMOD clean with preview:\n{text}"
    );
    let got = std::fs::read(&out).expect("c-icap-client wrote no output");
    assert!(got == body, "echoed body differs ({} bytes)", got.len());
}

#[test]
fn respmod_clean_without_preview_or_204_echoes_exactly() {
    let bulwark = start();
    let dir = tempfile::tempdir().expect("tempdir");
    let body = pattern(300_000);
    let file = write(dir.path(), "clean.bin", &body);
    let out = dir.path().join("out.bin");
    let out_s = out.to_string_lossy().into_owned();
    let (_, text) = c_icap_client(
        &bulwark,
        &[
            "-s",
            "av/respmod",
            "-f",
            &file,
            "-resp",
            "http://127.0.0.1/clean.bin",
            "-nopreview",
            "-no204",
            "-o",
            &out_s,
            "-v",
        ],
    );
    assert!(text.contains("ICAP/1.0 200"), "RESPMOD -no204:\n{text}");
    let got = std::fs::read(&out).expect("c-icap-client wrote no output");
    assert!(got == body, "echoed body differs ({} bytes)", got.len());
}

#[test]
fn respmod_eicar_with_preview_gets_block_page() {
    let bulwark = start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut body = pattern(1000);
    body.extend_from_slice(&eicar());
    let file = write(dir.path(), "eicar.com", &body);
    let out = dir.path().join("out.html");
    let out_s = out.to_string_lossy().into_owned();
    let (_, text) = c_icap_client(
        &bulwark,
        &[
            "-s",
            "av/respmod",
            "-f",
            &file,
            "-resp",
            "http://127.0.0.1/eicar.com",
            "-o",
            &out_s,
            "-v",
        ],
    );
    assert!(text.contains("ICAP/1.0 200"), "RESPMOD EICAR:\n{text}");
    assert!(
        text.contains("X-Infection-Found"),
        "no X-Infection-Found:\n{text}"
    );
    assert!(text.contains("X-Virus-ID"), "no X-Virus-ID:\n{text}");
    assert!(text.contains(" 403"), "no HTTP 403 in the answer:\n{text}");
    let page = std::fs::read(&out).expect("no block page written");
    assert!(!page.is_empty(), "empty block page");
    assert!(
        !page.windows(68).any(|w| w == eicar().as_slice()),
        "the block page carries the EICAR string"
    );
}

#[test]
fn reqmod_eicar_upload_gets_block_page() {
    let bulwark = start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut body = pattern(500);
    body.extend_from_slice(&eicar());
    let file = write(dir.path(), "upload.bin", &body);
    let (_, text) = c_icap_client(
        &bulwark,
        &[
            "-s",
            "av/reqmod",
            "-f",
            &file,
            "-req",
            "http://127.0.0.1/upload",
            "-method",
            "POST",
            "-v",
        ],
    );
    assert!(text.contains("X-Infection-Found"), "REQMOD EICAR:\n{text}");
    assert!(
        text.contains(" 403"),
        "no HTTP 403 in the REQMOD answer:\n{text}"
    );
}
