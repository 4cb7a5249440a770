//! End-to-end: a real Squid 5 (Debian) uses a real `bulwark serve` as its essential RESPMOD and
//! REQMOD service; objects come from an in-process origin. Everything listens on loopback ports
//! chosen at run time.

mod common;

use std::time::Duration;

use bulwark_testkit::{eicar, pattern, sha256_hex};
use common::{contains, describe, Stack};

/// Asserts the answer is Bulwark's block page: HTTP 403, HTML, no EICAR bytes.
fn assert_block_page(stack: &Stack, what: &str, r: &bulwark_testkit::client::HttpResponse) {
    assert_eq!(
        r.status,
        403,
        "{what}: expected the 403 block page, got {}\n{}",
        describe(r),
        stack.diagnostics()
    );
    let ct = r.header("content-type").unwrap_or("");
    assert!(ct.starts_with("text/html"), "{what}: content-type {ct:?}");
    assert!(
        !contains(&r.body, &eicar()),
        "{what}: the block page carries the EICAR string"
    );
}

#[test]
fn clean_objects_arrive_byte_exact() {
    let stack = Stack::start();
    for (path, n) in [
        ("/bytes/1024", 1024usize),
        ("/bytes/102400", 102_400),
        ("/bytes/10485760", 10_485_760),
        ("/chunked/300000?chunk=7000", 300_000),
        ("/chunked/3000000", 3_000_000),
        ("/bytes/0", 0),
    ] {
        let r = stack.get(path);
        assert_eq!(
            r.status,
            200,
            "{path}: {}\n{}",
            describe(&r),
            stack.diagnostics()
        );
        assert!(
            r.complete,
            "{path}: {}\n{}",
            describe(&r),
            stack.diagnostics()
        );
        assert_eq!(r.body.len(), n, "{path}: length");
        assert!(
            r.body == pattern(n),
            "{path}: body differs from the origin's"
        );
    }
}

#[test]
fn many_small_objects_in_a_row_are_exact() {
    // Squid reuses its ICAP connection: exercises persistent connections and preview.
    let stack = Stack::start();
    for i in 0..40usize {
        let n = 15 * 1024 + i * 97;
        let r = stack.get(&format!("/bytes/{n}"));
        assert_eq!(r.status, 200, "request {i}: {}", describe(&r));
        assert!(
            r.complete && r.body == pattern(n),
            "request {i}: body differs"
        );
    }
}

#[test]
fn eicar_plain_gets_block_page() {
    let stack = Stack::start();
    let r = stack.get("/eicar");
    assert_block_page(&stack, "EICAR alone", &r);
    let r = stack.get("/eicar?pad=5000&tail=5000");
    assert_block_page(&stack, "EICAR in the middle of 10 KB", &r);
    let r = stack.get("/eicar?pad=100&chunked=1");
    assert_block_page(&stack, "EICAR, chunked response", &r);
}

#[test]
fn eicar_split_across_chunks_gets_block_page() {
    let stack = Stack::start();
    for at in [1usize, 34, 67] {
        let r = stack.get(&format!("/eicar-split?pad=1000&at={at}"));
        assert_block_page(&stack, &format!("EICAR split at {at}"), &r);
    }
}

/// EICAR after 1 MB: the server may already be streaming; then the answer must be cut short.
/// Either way the client never gets the whole infected body.
fn assert_never_whole(stack: &Stack, path: &str, full_len: usize) {
    let r = stack.get(path);
    eprintln!("{path}: {}", describe(&r));
    if r.status == 403 {
        assert_block_page(stack, path, &r);
        return;
    }
    let whole = r.complete && r.body.len() == full_len;
    assert!(
        !whole,
        "{path}: the client received the WHOLE infected body: {}\n{}",
        describe(&r),
        stack.diagnostics()
    );
    assert!(
        !contains(&r.body, &eicar()),
        "{path}: the client received the EICAR bytes ({})",
        describe(&r)
    );
}

#[test]
fn eicar_after_1mb_padding_never_delivered_whole() {
    let stack = Stack::start();
    let pad = 1024 * 1024;
    assert_never_whole(&stack, &format!("/eicar?pad={pad}"), pad + 68);
    assert_never_whole(&stack, &format!("/eicar?pad={pad}&tail=1000"), pad + 1068);
    assert_never_whole(
        &stack,
        &format!("/eicar?pad={pad}&tail=200000&chunked=1"),
        pad + 200_068,
    );
}

#[test]
fn eicar_late_in_a_slow_download_never_delivered_whole() {
    // About 3 s of trickling: longer than the default max_send_delay, so the server starts
    // streaming before it sees the EICAR string and must abort the answer.
    let stack = Stack::start();
    let pad = 1024 * 1024;
    assert_never_whole(
        &stack,
        &format!("/eicar?pad={pad}&tail=100&slow_ms=100&slice=40000"),
        pad + 168,
    );
    // And a clean slow download arrives whole.
    let r = stack.get("/bytes/600000?slow_ms=100&slice=30000");
    assert_eq!(r.status, 200, "{}", describe(&r));
    assert!(
        r.complete && r.body == pattern(600_000),
        "slow clean body differs"
    );
}

#[test]
fn upload_with_eicar_is_blocked_by_reqmod() {
    let stack = Stack::start();
    // A clean upload passes unchanged.
    let clean = pattern(200_000);
    let r = stack.post("/upload", &clean);
    assert_eq!(r.status, 200, "{}\n{}", describe(&r), stack.diagnostics());
    assert_eq!(
        r.header("x-received-sha256"),
        Some(sha256_hex(&clean).as_str()),
        "the clean upload reached the origin altered"
    );
    // An infected one is refused, and never reaches the origin.
    let mut infected = pattern(3000);
    infected.extend_from_slice(&eicar());
    infected.extend_from_slice(&pattern(3000));
    let sha = sha256_hex(&infected);
    let r = stack.post("/upload-infected", &infected);
    assert_block_page(&stack, "POST with EICAR", &r);
    let leaked = stack
        .origin
        .requests()
        .iter()
        .any(|q| q.body_sha256 == sha || q.target.contains("upload-infected"));
    assert!(!leaked, "the infected upload reached the origin");
}

#[test]
fn with_bulwark_stopped_squid_fails_closed() {
    let mut stack = Stack::start();
    let r = stack.get("/bytes/2048");
    assert_eq!(r.status, 200, "{}", describe(&r));
    let status = stack.bulwark.stop(Duration::from_secs(10));
    assert!(status.is_some(), "bulwark did not exit after SIGTERM");
    let r = stack.get("/bytes/2048");
    assert!(
        r.status >= 500,
        "with Bulwark stopped Squid answered {} (expected its ICAP error page)",
        describe(&r)
    );
    assert!(r.body != pattern(2048), "the object passed unscanned");
    let before = stack.origin.requests().len();
    let r = stack.post("/upload-while-down", &pattern(1000));
    assert!(
        r.status >= 500,
        "POST with Bulwark stopped: {}",
        describe(&r)
    );
    let reached = stack.origin.requests()[before..]
        .iter()
        .any(|q| q.target.contains("upload-while-down"));
    assert!(!reached, "an unscanned upload reached the origin");
}

#[test]
fn eicar_in_a_gzip_encoded_response_is_blocked_and_clean_gzip_passes() {
    let stack = Stack::start();
    let r = stack.get("/eicar?pad=5000&encoding=gzip");
    assert_eq!(r.status, 403, "{}", common::describe(&r));
    let r = stack.get("/bytes/30000?encoding=gzip");
    assert_eq!(r.status, 200, "{}", common::describe(&r));
    assert_eq!(
        r.header("content-encoding"),
        Some("gzip"),
        "delivered as sent"
    );
}

#[test]
fn a_multipart_upload_with_an_infected_zip_is_blocked() {
    let stack = Stack::start();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("eicar.com"), bulwark_testkit::eicar()).expect("write");
    let ok = std::process::Command::new("zip")
        .current_dir(dir.path())
        .args(["-q", "-X", "a.zip", "eicar.com"])
        .status()
        .expect("zip (Debian package zip)");
    assert!(ok.success());
    let zip = std::fs::read(dir.path().join("a.zip")).expect("zip file");
    let boundary = "XyZbOuNdArY";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.zip\"\r\nContent-Type: application/zip\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&zip);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = stack
        .client
        .post(&stack.origin.url("/upload"), &ct, &body)
        .expect("upload");
    assert_eq!(r.status, 403, "{}", common::describe(&r));
    assert!(
        stack.origin.requests().iter().all(|q| q.method != "POST"),
        "the infected upload reached the origin"
    );
}

/// Runs `cmd` in `dir` with `sh -c`; false when the tool is missing or fails.
fn sh(dir: &std::path::Path, cmd: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn installers_and_legacy_archives_through_squid() {
    // Made by the real tools (Debian packages arj and nsis, installed by scripts/deps.sh test).
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut e = eicar();
    e.extend_from_slice(&[b' '; 58]);
    std::fs::write(d.join("eicar.com"), &e).expect("write");
    std::fs::write(d.join("clean.txt"), b"hello world\n".repeat(200)).expect("write");
    let nsi = |name: &str, file: &str| {
        format!(
            "SetCompressor /SOLID lzma\nOutFile {name}\nRequestExecutionLevel user\nSection\n\
             SetOutPath $INSTDIR\nFile clean.txt\nFile {file}\nSectionEnd\n"
        )
    };
    std::fs::write(d.join("bad.nsi"), nsi("bad.exe", "eicar.com")).expect("write");
    std::fs::write(d.join("good.nsi"), nsi("good.exe", "clean.txt")).expect("write");
    if !sh(d, "arj a -y bad.arj clean.txt eicar.com >/dev/null")
        || !sh(d, "makensis -V1 bad.nsi && makensis -V1 good.nsi")
    {
        panic!("arj and makensis are needed: scripts/deps.sh test installs them");
    }
    let stack = Stack::start();
    for f in ["bad.arj", "bad.exe", "good.exe"] {
        stack
            .origin
            .put_file(f, std::fs::read(d.join(f)).expect("read"));
    }
    // Small enough to be held whole: the block page.
    let r = stack.get("/files/bad.arj");
    assert_block_page(&stack, "bad.arj", &r);
    // An installer is larger than what partial mode holds: blocked or cut, never whole.
    let bad = std::fs::read(d.join("bad.exe")).expect("read");
    assert_never_whole(&stack, "/files/bad.exe", bad.len());
    // Its clean twin arrives byte-exact.
    let good = std::fs::read(d.join("good.exe")).expect("read");
    let r = stack.get("/files/good.exe");
    assert_eq!(r.status, 200, "{}", describe(&r));
    assert_eq!(sha256_hex(&r.body), sha256_hex(&good), "good.exe changed");
}

/// Debian's clamav-testfiles through Squid 5.7 with the single hash line ClamAV uses: every
/// one of the 44 is stopped (the block page, or cut before its end when larger than the hold
/// budget), and the seven packed executables (ASPack, MEW, PESpin, Petite, Upack, WWPack32,
/// yC: unpacked by emulation) get the block page naming the threat.
#[test]
fn clamav_testfiles_are_stopped_and_packed_ones_blocked_by_name() {
    let dir = std::path::Path::new("/usr/share/clamav-testfiles");
    let Ok(rd) = std::fs::read_dir(dir) else {
        eprintln!(
            "skipped: {} missing (scripts/deps.sh test installs it)",
            dir.display()
        );
        return;
    };
    let db = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        db.path().join("test.hsb"),
        "71e7b604d18aefd839e51a39c88df8383bb4c071dc31f87f00a2b5df580d4495:544:ClamAV-Test-File\n",
    )
    .expect("hsb");
    let stack = Stack::start_with_config(Some(&format!(
        "[engine]\ndatabase = [\"{}\"]\n",
        db.path().display()
    )));
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    for n in &names {
        stack
            .origin
            .put_file(n, std::fs::read(dir.join(n)).expect("read testfile"));
    }
    let packed = [
        "clam-aspack.exe",
        "clam-mew.exe",
        "clam-pespin.exe",
        "clam-petite.exe",
        "clam-upack.exe",
        "clam-wwpack.exe",
        "clam-yc.exe",
    ];
    let mut delivered = Vec::new();
    for n in &names {
        let full = std::fs::read(dir.join(n)).expect("read").len();
        let r = stack.get(&format!("/files/{n}"));
        if packed.contains(&n.as_str()) {
            assert_eq!(
                r.status,
                403,
                "{n}: {}\n{}",
                describe(&r),
                stack.diagnostics()
            );
            assert!(
                r.body_text().contains("ClamAV-Test-File"),
                "{n}: the block page does not name the threat"
            );
        } else if r.status != 403 && r.complete && r.body.len() == full {
            delivered.push(n.clone());
        }
    }
    assert!(
        delivered.is_empty(),
        "delivered whole through Squid: {delivered:?}\n{}",
        stack.diagnostics()
    );
    eprintln!("{} clamav-testfiles stopped through Squid", names.len());
}
