//! Debian's clamdscan against Bulwark's clamd listener and against a real clamd on the same
//! signatures (`Bulwark.Test.EICAR`, an .ndb line): `--stream`, `--fdpass`, `--multiscan`
//! (paths read by the server) and `--multiscan --fdpass` (an IDSESSION of FILDES) on a
//! directory of clean, infected, archived, bomb and empty files, over the Unix socket and TCP.
//! Output lines (less the timing lines) and exit codes must be equal. One name differs by
//! design and is normalised: clamd reports the test database's EICAR line as
//! `Bulwark.Test.EICAR.UNOFFICIAL` (ClamAV tags every name from an unsigned database), while
//! Bulwark's engine reports EICAR under ClamAV's official name, `Eicar-Test-Signature`.

mod common;

use std::path::Path;
use std::process::Command;

use bulwark_testkit::clamd::{Clamd, ClamdDb};
use common::{samples, Bulwark};

/// clamdscan's output without its timing lines, sorted when the scan runs in parallel.
fn run(
    clamdscan: &Path,
    conf: &Path,
    args: &[&str],
    target: &Path,
    sort: bool,
) -> (Vec<String>, i32) {
    let out = Command::new(clamdscan)
        .arg(format!("--config-file={}", conf.display()))
        .args(args)
        .arg(target)
        .output()
        .expect("clamdscan runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            !l.starts_with("Time:") && !l.starts_with("Start Date:") && !l.starts_with("End Date:")
        })
        .map(|l| l.replace("Bulwark.Test.EICAR.UNOFFICIAL", "Eicar-Test-Signature"))
        .collect();
    if sort {
        lines.sort();
    }
    (lines, out.status.code().unwrap_or(-1))
}

#[test]
fn clamdscan_sees_bulwark_as_it_sees_clamd() {
    let clamdscan = bulwark_testkit::find_program("clamdscan", "clamdscan").expect("clamdscan");
    let clamd = Clamd::start(ClamdDb::Eicar).expect("real clamd");
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("samples");
    samples(&dir);
    let bulwark = Bulwark::start(&clamd.dir().join("db"), &[&dir], |_| {});

    let conf = |name: &str, text: String| {
        let p = work.path().join(name);
        std::fs::write(&p, text).expect("conf");
        p
    };
    let real = conf(
        "real.conf",
        format!("LocalSocket {}\n", clamd.socket().display()),
    );
    let ours = conf(
        "ours.conf",
        format!("LocalSocket {}\n", bulwark.socket.display()),
    );
    let ours_tcp = conf(
        "ours-tcp.conf",
        format!("TCPSocket {}\nTCPAddr 127.0.0.1\n", bulwark.tcp.port()),
    );

    let modes: &[(&[&str], bool)] = &[
        (&["--stream"], false),
        (&["--fdpass"], false),
        (&["--multiscan"], true),
        (&["--multiscan", "--fdpass"], true),
        (&["--stream", "--allmatch"], false),
        (&["--infected", "--stream"], false),
    ];
    let mut report = String::new();
    for (args, sort) in modes {
        let want = run(&clamdscan, &real, args, &dir, *sort);
        let got = run(&clamdscan, &ours, args, &dir, *sort);
        report += &format!("clamdscan {args:?}: exit {} / {}\n", want.1, got.1);
        assert_eq!(
            got, want,
            "clamdscan {args:?}: Bulwark (left) vs clamd (right)"
        );
        assert!(want.1 == 1, "the samples hold viruses: {want:?}");
    }
    // One file at a time, and over TCP.
    for f in [
        "clean.txt",
        "eicar.com",
        "sub/archive.zip",
        "bomb.zip",
        "empty.txt",
    ] {
        let target = dir.join(f);
        let want = run(&clamdscan, &real, &["--stream"], &target, false);
        assert_eq!(
            run(&clamdscan, &ours, &["--stream"], &target, false),
            want,
            "{f}"
        );
        assert_eq!(
            run(&clamdscan, &ours, &["--fdpass"], &target, false),
            run(&clamdscan, &real, &["--fdpass"], &target, false),
            "{f} fdpass"
        );
        assert_eq!(
            run(&clamdscan, &ours_tcp, &["--stream"], &target, false),
            want,
            "{f} over TCP"
        );
        report += &format!("{f}: {:?}\n", want.0.first());
    }
    eprintln!("{report}");
    // Counted in the server's statistics.
    let p = bulwark.ctx.stats.prometheus();
    assert!(
        !p.contains("bulwark_icap_requests_total{method=\"clamd\"} 0"),
        "{p}"
    );
    assert!(bulwark.ctx.stats.objects_of("infected") > 0);
}
