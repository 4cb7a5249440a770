//! The signature database a server runs on (issue 15, SPEC F-ENG-1): a reload onto a database
//! that would find nothing is refused and the old one keeps serving; a server left on the
//! built-in EICAR signature says so at start and in `bulwark ctl status`. Verdicts are asked
//! with Debian's `c-icap-client`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::{find_program, hex, pattern};

/// The `.hdb` line (MD5:size:name) of `data`, computed with coreutils' md5sum.
fn hdb_line(dir: &Path, data: &[u8], name: &str) -> String {
    let p = dir.join("sample.bin");
    std::fs::write(&p, data).expect("write sample");
    let out = Command::new("md5sum").arg(&p).output().expect("md5sum");
    let text = String::from_utf8_lossy(&out.stdout);
    let md5 = text.split_whitespace().next().expect("md5sum output");
    format!("{md5}:{}:{name}\n", data.len())
}

/// RESPMOD of `file` through c-icap-client; its verbose output. `out` names the answer's file
/// (c-icap-client does not overwrite one) and the URL (a URL already found infected would be
/// answered from the blocked-object cache at the preview, which c-icap-client does not print).
fn respmod(bulwark: &Bulwark, file: &Path, out: &str) -> String {
    let bin = find_program("c-icap-client", "c-icap").unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(bin)
        .args(["-i", "127.0.0.1", "-p", &bulwark.port().to_string()])
        .args(["-s", "av/respmod", "-v", "-resp"])
        .arg(format!("http://127.0.0.1/{out}.bin"))
        .arg("-f")
        .arg(file)
        .arg("-o")
        .arg(file.with_extension(out))
        .output()
        .expect("run c-icap-client");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ctl(dir: &Path, action: &str) -> (bool, String) {
    let out = Command::new(common::bulwark_bin())
        .args(["ctl", action, "--socket"])
        .arg(dir.join("control.sock"))
        .arg("--pid-file")
        .arg(dir.join("bulwark.pid"))
        .output()
        .expect("run bulwark ctl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A server on the signatures in `db`, its control socket and pid file in `dir`.
fn start_on(dir: &Path, db: &Path) -> Bulwark {
    let config = format!(
        "[engine]\ndatabase = [\"{db}\"]\n[control]\nsocket = \"{d}/control.sock\"\npid_file = \
         \"{d}/bulwark.pid\"\n",
        db = db.display(),
        d = dir.display()
    );
    Bulwark::start_with_config(common::bulwark_bin(), Some(&config))
        .unwrap_or_else(|e| panic!("starting bulwark: {e}"))
}

/// Deterministic non-text bytes.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 11) as u8 | 0x80
        })
        .collect()
}

#[test]
fn a_reload_onto_a_database_that_finds_nothing_is_refused_and_the_old_one_serves() {
    let work = tempfile::tempdir().expect("tempdir");
    let db = work.path().join("db");
    std::fs::create_dir(&db).expect("mkdir db");
    let sample = pattern(5000);
    let line = hdb_line(work.path(), &sample, "Bulwark.Test.Sample");
    std::fs::write(db.join("local.hdb"), &line).expect("write local.hdb");
    let bulwark = start_on(work.path(), &db);
    let file = work.path().join("sample.bin");
    let first = respmod(&bulwark, &file, "first");
    assert!(
        first.contains("Bulwark.Test.Sample"),
        "the sample is not found with its signature:\n{first}"
    );
    let (ok, status) = ctl(work.path(), "status");
    assert!(ok, "ctl status failed: {status}");
    assert!(
        !status.contains("built-in EICAR"),
        "a real database is reported as the built-in one:\n{status}"
    );

    // The signature file is overwritten with binary garbage: a reload is refused, naming the
    // file and its first line, and the previous database keeps finding the sample.
    std::fs::write(db.join("local.hdb"), noise(3000)).expect("overwrite local.hdb");
    let (ok, out) = ctl(work.path(), "reload-db");
    assert!(!ok, "a database of garbage was accepted: {out}");
    assert!(
        out.contains("local.hdb") && out.contains("line 1"),
        "the refusal names neither the file nor the line: {out}"
    );
    let again = respmod(&bulwark, &file, "again");
    assert!(
        again.contains("Bulwark.Test.Sample"),
        "after the refused reload the old database no longer serves:\n{again}"
    );

    // An emptied directory is refused too.
    std::fs::remove_file(db.join("local.hdb")).expect("rm local.hdb");
    let (ok, out) = ctl(work.path(), "reload-db");
    assert!(!ok, "an empty database directory was accepted: {out}");
    assert!(out.contains("no ClamAV signature file"), "{out}");
    let (ok, status) = ctl(work.path(), "status");
    assert!(ok, "{status}");
    drop(bulwark);
}

#[test]
fn a_server_on_the_built_in_signature_says_so() {
    let system_db_in_use = std::fs::read_dir("/var/lib/clamav")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .any(|e| bulwark_engine::is_signature_file(&e.path()))
        })
        .unwrap_or(false);
    if system_db_in_use {
        eprintln!("skipped: /var/lib/clamav holds ClamAV files, so the server would use them");
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "[control]\nsocket = \"{d}/control.sock\"\npid_file = \"{d}/bulwark.pid\"\n",
        d = work.path().display()
    );
    let bulwark = Bulwark::start_with_config(common::bulwark_bin(), Some(&config))
        .unwrap_or_else(|e| panic!("starting bulwark: {e}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !bulwark.log().contains("EICAR test signature ONLY") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        bulwark.log().contains("WARN") && bulwark.log().contains("EICAR test signature ONLY"),
        "no warning at start:\n{}",
        bulwark.log()
    );
    let (ok, status) = ctl(work.path(), "status");
    assert!(ok, "ctl status failed: {status}");
    assert!(
        status.contains("warning the built-in EICAR test signature only"),
        "ctl status does not say it:\n{status}"
    );
}

/// The last `signature database loaded` line of the server's log, after `n` earlier ones.
fn loaded_line(bulwark: &Bulwark, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = bulwark.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("signature database loaded"))
            .collect();
        if lines.len() > n {
            return lines[lines.len() - 1].to_string();
        }
        assert!(Instant::now() < deadline, "no load logged:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_update_of_daily_compiles_only_its_matcher_and_serves_the_new_signature() {
    let work = tempfile::tempdir().expect("tempdir");
    let db = work.path().join("db");
    std::fs::create_dir(&db).expect("mkdir db");
    // `main` big enough for matchers of its own, as ClamAV's is; `daily` small.
    let mut main = format!("E2e.Main.Sample-1:0:*:{}\n", hex(b"e2e-main-sample-marker"));
    for i in 0..16_384 {
        main.push_str(&format!(
            "E2e.Main.Gen-{i}:0:*:{}\n",
            hex(format!("e2e-gen-{i:05}").as_bytes())
        ));
    }
    std::fs::write(db.join("main.ndb"), main).expect("write main.ndb");
    let daily1 = format!("E2e.Daily.One-1:0:*:{}\n", hex(b"e2e-daily-first-marker"));
    std::fs::write(db.join("daily.ndb"), &daily1).expect("write daily.ndb");
    let bulwark = start_on(work.path(), &db);
    loaded_line(&bulwark, 0);
    let sample = |name: &str, marker: &str| {
        let p = work.path().join(format!("{name}.bin"));
        let mut data = noise(20_000);
        data.splice(9_000..9_000, marker.bytes());
        std::fs::write(&p, data).expect("write sample");
        p
    };
    let a = sample("a", "e2e-main-sample-marker");
    let b = sample("b", "e2e-daily-second-marker");
    let out = respmod(&bulwark, &a, "a1");
    assert!(
        out.contains("E2e.Main.Sample-1"),
        "main's signature:\n{out}"
    );
    let out = respmod(&bulwark, &b, "b1");
    assert!(
        !out.contains("E2e.Daily.Two-1"),
        "found before the update:\n{out}"
    );

    // The update adds a signature to daily: the reload compiles daily's matcher only, takes
    // main's from the database serving, and both sets detect.
    let daily2 = format!(
        "{daily1}E2e.Daily.Two-1:0:*:{}\n",
        hex(b"e2e-daily-second-marker")
    );
    std::fs::write(db.join("daily.ndb"), daily2).expect("update daily.ndb");
    let (ok, out) = ctl(work.path(), "reload-db");
    assert!(ok, "reload-db failed: {out}");
    let line = loaded_line(&bulwark, 1);
    assert!(
        line.contains("matchers_compiled=1") && !line.contains("matchers_reused=0"),
        "the reload did not reuse main's matchers: {line}"
    );
    let out = respmod(&bulwark, &b, "b2");
    assert!(
        out.contains("E2e.Daily.Two-1"),
        "daily's new signature:\n{out}"
    );
    let out = respmod(&bulwark, &a, "a2");
    assert!(
        out.contains("E2e.Main.Sample-1"),
        "main's after the update:\n{out}"
    );
}
