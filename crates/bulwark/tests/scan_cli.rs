//! `bulwark scan` as a user runs it: the built binary on files made at run time (EICAR inside a
//! deflated zip, a gzip, a tar.gz; a zip bomb; an encrypted zip; empty files; symlinks), the
//! clamscan switches, exit codes, a closed pipe, and — when clamscan is installed — the same
//! files through clamscan with the same one-line database, compared file by file.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use bulwark_testkit::{eicar, hex};
use flate2::write::GzEncoder;
use flate2::Compression;
use zip::write::SimpleFileOptions;

const BIN: &str = env!("CARGO_BIN_EXE_bulwark");

/// A second signature, for `--allmatch`.
const MARKER: &[u8] = b"bulwark scan allmatch marker";

/// A temporary directory with the test database (`test.ndb`: EICAR under ClamAV's name and
/// [`MARKER`]) and the files below it.
struct Fx {
    dir: tempfile::TempDir,
}

impl Fx {
    fn new() -> Fx {
        let dir = tempfile::tempdir().unwrap();
        let db = format!(
            "Eicar-Test-Signature:0:*:{}\nBulwark.Test.Marker:0:*:{}\n",
            hex(&eicar()),
            hex(MARKER)
        );
        fs::write(dir.path().join("test.ndb"), db).unwrap();
        Fx { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn db(&self) -> PathBuf {
        self.path("test.ndb")
    }

    /// `bulwark scan --no-cache -d test.ndb ARGS…`, run in the fixture directory.
    fn scan(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .current_dir(self.dir.path())
            .arg("scan")
            .arg("--no-cache")
            .arg("-d")
            .arg(self.db())
            .args(args)
            .output()
            .unwrap()
    }

    /// The files with and without EICAR, in `sub/`.
    fn samples(&self, sub: &str) -> PathBuf {
        let d = self.path(sub);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("eicar.com"), eicar()).unwrap();
        fs::write(d.join("eicar.zip"), zip_of(&[("eicar.com", &eicar())])).unwrap();
        fs::write(d.join("eicar.com.gz"), gzip(&eicar())).unwrap();
        fs::write(
            d.join("eicar.tar.gz"),
            gzip(&tar_of("dir/eicar.com", &eicar())),
        )
        .unwrap();
        fs::write(
            d.join("clean.zip"),
            zip_of(&[("readme.txt", b"nothing to see here\n")]),
        )
        .unwrap();
        fs::write(d.join("clean.txt"), b"hello\n").unwrap();
        fs::write(d.join("empty"), b"").unwrap();
        std::os::unix::fs::symlink("eicar.com", d.join("link")).unwrap();
        d
    }
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in members {
        w.start_file(*name, o).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

/// A zip bomb: `copies` members of 8 MiB of zeros each, deflated once and copied raw
/// (1280 copies claim 10 GiB in about 10 MB).
fn bomb(copies: usize) -> Vec<u8> {
    let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("zeros", o).unwrap();
    let mb = vec![0u8; 1 << 20];
    for _ in 0..8 {
        w.write_all(&mb).unwrap();
    }
    let one = w.finish().unwrap().into_inner();
    let mut src = zip::ZipArchive::new(std::io::Cursor::new(one)).unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..copies {
        w.raw_copy_file_rename(src.by_index_raw(0).unwrap(), format!("zeros-{i}"))
            .unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn encrypted_zip() -> Vec<u8> {
    use zip::unstable::write::FileOptionsExt;
    let o = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .with_deprecated_encryption(b"secret")
        .unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("eicar.com", o).unwrap();
    w.write_all(&eicar()).unwrap();
    w.finish().unwrap().into_inner()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// `path: verdict` lines as a map (the summary excluded).
fn verdicts(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let (p, v) = l.rsplit_once(": ")?;
            Some((p.to_string(), v.to_string()))
        })
        .collect()
}

fn found(name: &str) -> String {
    format!("{name} FOUND")
}

#[test]
fn containers_are_opened() {
    let fx = Fx::new();
    fx.samples("s");
    let o = fx.scan(&["--no-summary", "-r", "s"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = verdicts(&stdout(&o));
    let want: BTreeMap<String, String> = [
        ("s/clean.txt", "OK".to_string()),
        ("s/clean.zip", "OK".to_string()),
        ("s/eicar.com", found("Eicar-Test-Signature")),
        ("s/eicar.com.gz", found("Eicar-Test-Signature")),
        ("s/eicar.tar.gz", found("Eicar-Test-Signature")),
        ("s/eicar.zip", found("Eicar-Test-Signature")),
        ("s/empty", "Empty file".to_string()),
        ("s/link", "Symbolic link".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(v, want);
    assert!(!stdout(&o).contains("SCAN SUMMARY"));
}

#[test]
fn no_archive_scans_files_as_they_are() {
    let fx = Fx::new();
    fx.samples("s");
    for flag in ["--no-archive", "--scan-archive=no"] {
        let o = fx.scan(&["--no-summary", flag, "s"]);
        let v = verdicts(&stdout(&o));
        assert_eq!(v["s/eicar.zip"], "OK", "{flag}");
        assert_eq!(v["s/eicar.com.gz"], "OK", "{flag}");
        assert_eq!(v["s/eicar.tar.gz"], "OK", "{flag}");
        assert_eq!(v["s/eicar.com"], found("Eicar-Test-Signature"), "{flag}");
        assert_eq!(code(&o), 1);
    }
}

#[test]
fn infected_only_and_the_summary() {
    let fx = Fx::new();
    fx.samples("s");
    let o = fx.scan(&["-i", "s"]);
    let out = stdout(&o);
    let (lines, summary) = out
        .split_once("\n\n")
        .expect("a summary after a blank line");
    let mut lines: Vec<&str> = lines.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "s/eicar.com.gz: Eicar-Test-Signature FOUND",
            "s/eicar.com: Eicar-Test-Signature FOUND",
            "s/eicar.tar.gz: Eicar-Test-Signature FOUND",
            "s/eicar.zip: Eicar-Test-Signature FOUND",
        ]
    );
    assert!(
        summary.starts_with("----------- SCAN SUMMARY -----------\n"),
        "{summary}"
    );
    for l in [
        "Known viruses: ",
        "Scanned directories: 1\n",
        "Scanned files: 6\n",
        "Infected files: 4\n",
        "Data scanned: ",
        "Time: ",
    ] {
        assert!(summary.contains(l), "{l:?} in {summary}");
    }
    assert!(!summary.contains("Total errors"), "{summary}");
    assert_eq!(code(&o), 1);
}

#[test]
fn zip_bomb_hits_the_scan_size_limit() {
    let fx = Fx::new();
    fs::write(fx.path("bomb.zip"), bomb(1280)).unwrap();
    let t = std::time::Instant::now();
    let o = fx.scan(&["--no-summary", "--max-scansize=16M", "bomb.zip"]);
    assert_eq!(
        stdout(&o),
        "bomb.zip: Heuristics.Limits.Exceeded.MaxScanSize FOUND\n"
    );
    assert_eq!(code(&o), 1);
    assert!(t.elapsed().as_secs() < 30, "{:?}", t.elapsed());
    // One member larger than --max-filesize.
    let o = fx.scan(&["--no-summary", "--max-filesize=1M", "bomb.zip"]);
    assert_eq!(
        stdout(&o),
        "bomb.zip: Heuristics.Limits.Exceeded.MaxFileSize FOUND\n"
    );
    // clamscan's default: no alert.
    let o = fx.scan(&[
        "--no-summary",
        "--max-scansize=16M",
        "--alert-exceeds-max=no",
        "bomb.zip",
    ]);
    assert_eq!(stdout(&o), "bomb.zip: OK\n");
    assert_eq!(code(&o), 0);
}

#[test]
fn limits_and_actions_come_from_the_config_file() {
    let fx = Fx::new();
    fs::write(fx.path("bomb.zip"), bomb(1280)).unwrap();
    fs::write(
        fx.path("small.toml"),
        "[engine.limits]\nmax_total_bytes = 16777216\n",
    )
    .unwrap();
    let o = fx.scan(&["--no-summary", "-c", "small.toml", "bomb.zip"]);
    assert_eq!(
        stdout(&o),
        "bomb.zip: Heuristics.Limits.Exceeded.MaxScanSize FOUND\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    fs::write(
        fx.path("skip.toml"),
        "[engine.limits]\nmax_total_bytes = 16777216\n\
         [policy.default.actions]\nlimits_exceeded = \"skip\"\n",
    )
    .unwrap();
    let o = fx.scan(&["--no-summary", "-c", "skip.toml", "bomb.zip"]);
    assert_eq!(stdout(&o), "bomb.zip: OK\n");
    assert_eq!(code(&o), 0);
    // The JSON line still says what happened.
    let o = fx.scan(&["--no-summary", "--json", "-c", "skip.toml", "bomb.zip"]);
    let j: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(j["status"], "LIMITS_EXCEEDED");
    assert_eq!(j["heuristic"], "Heuristics.Limits.Exceeded.MaxScanSize");
    assert_eq!(j["alert"], false);
}

#[test]
fn nesting_depth_counts_as_clamscan_does() {
    let fx = Fx::new();
    let inner = zip_of(&[("eicar.com", &eicar())]);
    fs::write(fx.path("one.zip"), &inner).unwrap();
    fs::write(fx.path("two.zip"), zip_of(&[("one.zip", &inner)])).unwrap();
    let run = |r: &str| {
        verdicts(&stdout(&fx.scan(&[
            "--no-summary",
            r,
            "one.zip",
            "two.zip",
        ])))
    };
    let depth = found("Heuristics.Limits.Exceeded.MaxRecursion");
    let eicar = found("Eicar-Test-Signature");
    let v = run("--max-recursion=1");
    assert_eq!((&v["one.zip"], &v["two.zip"]), (&depth, &depth));
    let v = run("--max-recursion=2");
    assert_eq!((&v["one.zip"], &v["two.zip"]), (&eicar, &depth));
    let v = run("--max-recursion=3");
    assert_eq!((&v["one.zip"], &v["two.zip"]), (&eicar, &eicar));
}

#[test]
fn encrypted_zip_is_reported() {
    let fx = Fx::new();
    fs::write(fx.path("enc.zip"), encrypted_zip()).unwrap();
    let o = fx.scan(&["--no-summary", "enc.zip"]);
    assert_eq!(stdout(&o), "enc.zip: Heuristics.Encrypted.Zip FOUND\n");
    assert_eq!(code(&o), 1);
    let o = fx.scan(&["--no-summary", "--alert-encrypted=no", "enc.zip"]);
    assert_eq!(stdout(&o), "enc.zip: OK\n");
    assert_eq!(code(&o), 0);
}

#[test]
fn allmatch_reports_every_threat() {
    let fx = Fx::new();
    fs::write(
        fx.path("two.zip"),
        zip_of(&[("a/eicar.com", &eicar()), ("b/marker.txt", MARKER)]),
    )
    .unwrap();
    let o = fx.scan(&["--no-summary", "two.zip"]);
    assert_eq!(stdout(&o), "two.zip: Eicar-Test-Signature FOUND\n");
    for flag in ["--allmatch", "-z"] {
        let o = fx.scan(&["--no-summary", flag, "two.zip"]);
        assert_eq!(
            stdout(&o),
            "two.zip: Eicar-Test-Signature FOUND\ntwo.zip: Bulwark.Test.Marker FOUND\n"
        );
    }
    let o = fx.scan(&["--no-summary", "--json", "-z", "two.zip"]);
    let j: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        j["threats"],
        serde_json::json!(["Eicar-Test-Signature", "Bulwark.Test.Marker"])
    );
    assert_eq!(
        j["members"],
        serde_json::json!(["a/eicar.com", "b/marker.txt"])
    );
}

#[test]
fn exit_codes_and_errors() {
    let fx = Fx::new();
    fx.samples("s");
    let o = fx.scan(&["--no-summary", "s/clean.txt", "s/clean.zip", "s/empty"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let o = fx.scan(&["s/clean.txt", "missing"]);
    assert_eq!(code(&o), 2);
    let out = stdout(&o);
    assert!(
        out.contains("missing: No such file or directory ERROR\n"),
        "{out}"
    );
    assert!(out.contains("Total errors: 1\n"), "{out}");
    // As clamscan: a detection outranks an error.
    let o = fx.scan(&["--no-summary", "s/eicar.zip", "missing"]);
    assert_eq!(code(&o), 1);
    // A bad switch value is a usage error (clap: 2), never a scan.
    let o = fx.scan(&["--max-filesize=lots", "s"]);
    assert_eq!(code(&o), 2);
    assert!(o.stdout.is_empty());
}

#[test]
fn symlinks_as_clamscan_follows_them() {
    let fx = Fx::new();
    fx.samples("s");
    // Named on the command line: followed (mode 1, the default).
    let o = fx.scan(&["--no-summary", "s/link"]);
    assert_eq!(stdout(&o), "s/link: Eicar-Test-Signature FOUND\n");
    let o = fx.scan(&["--no-summary", "--follow-file-symlinks=0", "s/link"]);
    assert_eq!(stdout(&o), "s/link: Symbolic link\n");
    assert_eq!(code(&o), 0);
    // Inside a directory: only with mode 2.
    let o = fx.scan(&["--no-summary", "--follow-file-symlinks=2", "s"]);
    assert_eq!(
        verdicts(&stdout(&o))["s/link"],
        found("Eicar-Test-Signature")
    );
    // A directory symlink loop ends.
    std::os::unix::fs::symlink("..", fx.path("s/up")).unwrap();
    let o = fx.scan(&["--no-summary", "--follow-dir-symlinks=2", "s"]);
    assert_eq!(code(&o), 1);
    let o = fx.scan(&["--no-summary", "s"]);
    assert_eq!(verdicts(&stdout(&o))["s/up"], "Symbolic link");
}

#[test]
fn standard_input() {
    let fx = Fx::new();
    let mut c = Command::new(BIN)
        .args(["scan", "--no-cache", "--no-summary", "-d"])
        .arg(fx.db())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(&gzip(&eicar())).unwrap();
    let o = c.wait_with_output().unwrap();
    assert_eq!(stdout(&o), "stdin: Eicar-Test-Signature FOUND\n");
}

#[test]
fn json_lines_and_summary() {
    let fx = Fx::new();
    fx.samples("s");
    let o = fx.scan(&["--json", "s"]);
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_path = |p: &str| lines.iter().find(|j| j["path"] == p).unwrap().clone();
    assert_eq!(by_path("s/eicar.tar.gz")["status"], "INFECTED");
    assert_eq!(
        by_path("s/eicar.zip")["members"],
        serde_json::json!(["eicar.com"])
    );
    assert_eq!(by_path("s/clean.zip")["status"], "CLEAN");
    assert_eq!(by_path("s/empty")["status"], "SKIPPED");
    assert_eq!(by_path("s/link")["reason"], "symbolic link");
    let s = &lines.last().unwrap()["summary"];
    assert_eq!(s["infected_files"], 4);
    assert_eq!(s["scanned_files"], 6);
    assert_eq!(code(&o), 1);
}

/// `bulwark scan … | head -1`: the reader goes away; the scan ends quietly.
#[test]
fn broken_pipe_ends_quietly() {
    let fx = Fx::new();
    let d = fx.path("many");
    fs::create_dir(&d).unwrap();
    for i in 0..3000 {
        fs::write(d.join(format!("file-with-a-longish-name-{i:05}.txt")), b"x").unwrap();
    }
    for json in [false, true] {
        let mut c = Command::new(BIN)
            .current_dir(fx.dir.path())
            .args(["scan", "--no-cache", "-d"])
            .arg(fx.db())
            .args(if json { &["--json"][..] } else { &[][..] })
            .arg("many")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(c.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is dropped here: the pipe's read end is closed.
        assert!(
            first.contains("file-with-a-longish-name-00000.txt"),
            "{first}"
        );
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.is_empty(), "stderr: {err}");
        assert_eq!(o.status.code(), Some(2), "{:?}", o.status);
    }
}

/// The same files through clamscan (when installed) with the same database: the same verdict
/// per file, with clamscan's `--alert-*` switches for the cases Bulwark reports by default.
#[test]
fn clamscan_agrees() {
    if Command::new("clamscan").arg("--version").output().is_err() {
        eprintln!("clamscan not installed: skipped");
        return;
    }
    let fx = Fx::new();
    let d = fx.samples("s");
    fs::write(d.join("enc.zip"), encrypted_zip()).unwrap();
    fs::write(d.join("bomb.zip"), bomb(16)).unwrap();
    let inner = zip_of(&[("eicar.com", &eicar())]);
    fs::write(d.join("nested.zip"), zip_of(&[("one.zip", &inner)])).unwrap();
    let common = ["--no-summary", "--max-scansize=16M", "--max-recursion=5"];
    let ours = fx.scan(&[&common[..], &["s"]].concat());
    let theirs = Command::new("clamscan")
        .current_dir(fx.dir.path())
        .args(common)
        .args(["--alert-exceeds-max", "--alert-encrypted", "-d"])
        .arg(fx.db())
        .arg("s")
        .output()
        .unwrap();
    let mut clam = verdicts(&stdout(&theirs));
    for v in clam.values_mut() {
        *v = v.replace(".UNOFFICIAL FOUND", " FOUND");
    }
    let ours_v = verdicts(&stdout(&ours));
    assert_eq!(ours_v, clam, "bulwark vs clamscan");
    assert_eq!(
        ours_v["s/bomb.zip"],
        found("Heuristics.Limits.Exceeded.MaxScanSize")
    );
    assert_eq!(code(&ours), code(&theirs));
}
