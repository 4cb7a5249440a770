//! Raw clamd conversations: the same bytes to a real clamd and to Bulwark must get the same
//! replies; then the bad inputs (oversized INSTREAM, truncated chunk length, a client that
//! never ends its stream, a path outside the roots, too many connections).

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bulwark_testkit::clamd::{Clamd, ClamdDb};
use bulwark_testkit::eicar;
use common::{instream, samples, talk_tcp, talk_unix, Bulwark};

#[test]
fn replies_equal_clamds() {
    let clamd = Clamd::start(ClamdDb::Eicar).expect("real clamd");
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("samples");
    samples(&dir);
    let bulwark = Bulwark::start(&clamd.dir().join("db"), &[&dir], |_| {});
    let d = dir.display();
    let mut session = b"zIDSESSION\0zPING\0".to_vec();
    session.extend(instream(b"zINSTREAM\0", &eicar(), 10));
    session.extend(instream(b"zINSTREAM\0", b"clean bytes", 4));
    session.extend_from_slice(format!("zSCAN {d}/eicar.com\0zEND\0").as_bytes());
    let mut bad_session = b"nIDSESSION\nnPING\n".to_vec();
    bad_session.extend_from_slice(format!("nCONTSCAN {d}\n").as_bytes());
    let cases: Vec<(String, Vec<u8>)> = vec![
        ("zPING".into(), b"zPING\0".to_vec()),
        ("nPING".into(), b"nPING\n".to_vec()),
        ("old PING".into(), b"PING\n".to_vec()),
        ("unknown".into(), b"zHELLO\0".to_vec()),
        ("trailing".into(), b"nPINGPONG\n".to_vec()),
        ("END alone".into(), b"zEND\0".to_vec()),
        ("old STATS".into(), b"STATS\n".to_vec()),
        ("old INSTREAM".into(), b"INSTREAM\n".to_vec()),
        ("SCAN no arg".into(), b"zSCAN\0".to_vec()),
        (
            "instream eicar".into(),
            instream(b"zINSTREAM\0", &eicar(), 7),
        ),
        (
            "instream clean".into(),
            instream(b"nINSTREAM\n", b"hello", 2),
        ),
        ("instream empty".into(), instream(b"zINSTREAM\0", b"", 2)),
        (
            "instream bomb".into(),
            instream(
                b"zINSTREAM\0",
                &std::fs::read(dir.join("bomb.zip")).expect("bomb"),
                65536,
            ),
        ),
        (
            "instream zip".into(),
            instream(
                b"zINSTREAM\0",
                &std::fs::read(dir.join("sub/archive.zip")).expect("zip"),
                1000,
            ),
        ),
        ("session".into(), session),
        ("bad session".into(), bad_session),
        ("SCAN dir".into(), format!("zSCAN {d}\0").into_bytes()),
        (
            "CONTSCAN dir".into(),
            format!("zCONTSCAN {d}\0").into_bytes(),
        ),
        (
            "MULTISCAN dir".into(),
            format!("zMULTISCAN {d}\0").into_bytes(),
        ),
        (
            "MULTISCAN file".into(),
            format!("zMULTISCAN {d}/eicar.com\0").into_bytes(),
        ),
        (
            "ALLMATCHSCAN clean".into(),
            format!("zALLMATCHSCAN {d}/clean.zip\0").into_bytes(),
        ),
        (
            "SCAN clean".into(),
            format!("nSCAN {d}/clean.txt\n").into_bytes(),
        ),
        (
            "SCAN slash".into(),
            format!("nSCAN {d}/sub/\n").into_bytes(),
        ),
        (
            "SCAN missing".into(),
            format!("zSCAN {d}/missing\0").into_bytes(),
        ),
        ("FILDES without fd".into(), b"zFILDES\0\0".to_vec()),
    ];
    let mut failures = Vec::new();
    for (name, input) in &cases {
        // See clamdscan.rs: the one name that differs by design.
        let want = String::from_utf8_lossy(&talk_unix(clamd.socket(), input))
            .replace("Bulwark.Test.EICAR.UNOFFICIAL", "Eicar-Test-Signature")
            .into_bytes();
        let raw = talk_unix(&bulwark.socket, input);
        let mut got = raw.clone();
        let mut want = want;
        if name == "session" || name == "MULTISCAN dir" {
            // clamd runs a session's scans, and MULTISCAN's files, in parallel: the replies
            // come in any order.
            let sorted = |b: &[u8]| {
                let mut v: Vec<&[u8]> = b.split(|&c| c == 0).collect();
                v.sort();
                v.join(&0u8)
            };
            want = sorted(&want);
            got = sorted(&got);
        }
        let show = |b: &[u8]| String::from_utf8_lossy(b).replace('\0', "\\0");
        if got != want {
            failures.push(format!(
                "{name}:\n  clamd:   {}\n  bulwark: {}",
                show(&want),
                show(&got)
            ));
        } else {
            eprintln!("{name}: {}", show(&got));
        }
        // TCP answers the same.
        assert_eq!(talk_tcp(bulwark.tcp, input), raw, "{name} over TCP");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // ALLMATCHSCAN names every signature: Bulwark's database here has two for EICAR (the
    // engine's built-in one and the test .ndb line; clamd's has only the latter).
    let all = talk_unix(
        &bulwark.socket,
        format!("zALLMATCHSCAN {d}/sub\0").as_bytes(),
    );
    assert_eq!(
        String::from_utf8_lossy(&all),
        format!(
            "{d}/sub/archive.zip: Eicar-Test-Signature FOUND\0\
             {d}/sub/archive.zip: Bulwark.Test.EICAR FOUND\0"
        )
    );
    // STATS has clamd's layout: the same lines, each with the same words before its figures.
    let shape = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .lines()
            // clamd lists its idle worker threads, one line each; Bulwark has none to list.
            .filter(|l| !l.starts_with("\tIDLE"))
            .map(|l| {
                l.split(' ')
                    .filter(|w| !w.starts_with(|c: char| c.is_ascii_digit()) && *w != "N/A")
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    let want = talk_unix(clamd.socket(), b"nSTATS\n");
    assert_eq!(
        shape(&talk_unix(&bulwark.socket, b"nSTATS\n")),
        shape(&want)
    );
    // VERSION and STATS have clamd's shape.
    let v = talk_unix(&bulwark.socket, b"zVERSION\0");
    assert!(v.starts_with(b"ClamAV ") && v.ends_with(b"\0"), "{v:?}");
    let s = String::from_utf8_lossy(&talk_unix(&bulwark.socket, b"nSTATS\n")).into_owned();
    assert!(s.starts_with("POOLS: ") && s.ends_with("END\n"), "{s}");
    let s = String::from_utf8_lossy(&talk_unix(&bulwark.socket, b"zIDSESSION\0zSTATS\0zEND\0"))
        .into_owned();
    assert!(s.starts_with("1: POOLS: ") && s.ends_with("END\0"), "{s}");
}

/// A work directory with the sample files and a database of one EICAR body signature:
/// (work, samples, database).
fn samples_and_eicar_db() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("samples");
    samples(&dir);
    let db = work.path().join("db");
    std::fs::create_dir(&db).expect("mkdir");
    let sig = bulwark_testkit::hex(&eicar());
    std::fs::write(db.join("t.ndb"), format!("Bulwark.Test.EICAR:0:*:{sig}\n")).expect("db");
    (work, dir, db)
}

#[test]
fn bad_input_gets_clamds_errors_and_never_hangs() {
    let (work, dir, db) = samples_and_eicar_db();
    let bulwark = Bulwark::start(&db, &[&dir], |c| {
        c.clamd.stream_max_length = 1024 * 1024;
        c.clamd.read_timeout_secs = 1;
        c.clamd.command_read_timeout_secs = 1;
        c.clamd.max_connections = 2;
        c.clamd.alert_exceeds_max = true;
    });

    // With clamd.alert_exceeds_max (clamd's AlertExceedsMax), a bomb is reported under
    // ClamAV's Heuristics.Limits.Exceeded family (the name `bulwark scan` prints too).
    let bomb = std::fs::read(dir.join("bomb.zip")).expect("bomb");
    let got = String::from_utf8_lossy(&talk_unix(
        &bulwark.socket,
        &instream(b"zINSTREAM\0", &bomb, 65536),
    ))
    .into_owned();
    assert!(
        got.starts_with("stream: Heuristics.Limits.Exceeded") && got.ends_with(" FOUND\0"),
        "{got}"
    );

    // Oversized INSTREAM: clamd's text, then the connection closes (even mid-stream).
    let big = vec![b'a'; 1024 * 1024 + 1];
    let got = talk_unix(&bulwark.socket, &instream(b"zINSTREAM\0", &big, 64 * 1024));
    assert_eq!(got, b"INSTREAM size limit exceeded. ERROR\0");
    let got = talk_unix(
        &bulwark.socket,
        &instream(b"zIDSESSION\0zINSTREAM\0", &big, 1 << 20),
    );
    assert_eq!(got, b"1: INSTREAM size limit exceeded. ERROR\0");
    // Over TCP too, with the client still sending: the reply is not lost to a reset.
    let huge = vec![b'a'; 8 * 1024 * 1024];
    let got = talk_tcp(bulwark.tcp, &instream(b"zINSTREAM\0", &huge, 64 * 1024));
    assert_eq!(got, b"INSTREAM size limit exceeded. ERROR\0");
    // Exactly the limit passes.
    let got = talk_unix(
        &bulwark.socket,
        &instream(b"zINSTREAM\0", &big[1..], 100_000),
    );
    assert_eq!(got, b"stream: OK\0");

    // Truncated chunk length, then EOF: closed without a reply.
    let t = Instant::now();
    assert_eq!(talk_unix(&bulwark.socket, b"zINSTREAM\0\0\0"), b"");
    assert!(t.elapsed() < Duration::from_secs(5));

    // A stream that never ends: dropped after the read timeout, no reply, no hang.
    let mut s = UnixStream::connect(&bulwark.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"zINSTREAM\0\0\0\0\x10abcd").expect("write");
    let t = Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert_eq!(out, b"");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // Paths outside the roots, relative, with `..`.
    let outside = work.path().join("db/t.ndb");
    for p in [
        outside.display().to_string(),
        "etc/passwd".into(),
        format!("{}/../db", dir.display()),
    ] {
        let got = talk_unix(&bulwark.socket, format!("zSCAN {p}\0").as_bytes());
        assert_eq!(got, format!("{p}: Access denied. ERROR\0").into_bytes());
    }

    // max_connections: two silent clients hold both slots; a third waits, then is served
    // as soon as one slot frees (the silent ones time out after 1 s).
    let a = UnixStream::connect(&bulwark.socket).expect("a");
    let b = UnixStream::connect(&bulwark.socket).expect("b");
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(talk_unix(&bulwark.socket, b"zPING\0"), b"PONG\0");
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    drop((a, b));
}

/// clamd scans are counted as ICAP objects are: a line each in `av.stats` (mode `CLAMD`, the
/// group, the client's address on TCP, what was scanned), under the group of the listener they
/// came through (`clamd.listener_groups`), and in the object counters.
#[test]
fn clamd_scans_are_counted_under_their_listeners_group() {
    let (_work, dir, db) = samples_and_eicar_db();
    let bulwark = Bulwark::start(&db, &[&dir], |c| {
        let groups = bulwark_config::load_str(
            "[[policy.group]]\nname = \"mail\"\nclients = [\"192.0.2.1\"]\n",
            "test",
        )
        .expect("groups");
        c.policy = groups.config.policy;
        c.clamd.listener_groups = vec!["127.0.0.1:0 = mail".to_string()];
    });
    let got = talk_tcp(bulwark.tcp, &instream(b"zINSTREAM\0", &eicar(), 4096));
    assert_eq!(got, b"stream: Eicar-Test-Signature FOUND\0");
    let got = talk_unix(&bulwark.socket, &instream(b"zINSTREAM\0", b"clean", 4096));
    assert_eq!(got, b"stream: OK\0");
    let path = dir.join("clean.txt");
    std::fs::write(&path, "nothing here").expect("write");
    let got = talk_unix(
        &bulwark.socket,
        format!("zSCAN {}\0", path.display()).as_bytes(),
    );
    assert_eq!(got, format!("{}: OK\0", path.display()).as_bytes());

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let lines = loop {
        let text = std::fs::read_to_string(&bulwark.av_stats).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= 3 || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(lines.len(), 3, "{lines:?}");
    let fields = |l: &str| l.split(' ').map(str::to_string).collect::<Vec<_>>();
    // date time size status [threat] mode group user client object time delivery
    let infected = fields(&lines[0]);
    assert_eq!(
        &infected[2..11],
        &[
            "68",
            "INFECTED",
            "Eicar-Test-Signature",
            "CLAMD",
            "mail",
            "-",
            "127.0.0.1",
            "stream",
            infected[10].as_str()
        ],
        "{lines:?}"
    );
    assert!(
        infected[10].ends_with("ms") && infected[11] == "reported",
        "{lines:?}"
    );
    let clean = fields(&lines[1]);
    assert_eq!(
        &clean[3..8],
        &["CLEAN", "CLAMD", "default", "-", "-"],
        "{lines:?}"
    );
    let scanned = fields(&lines[2]);
    assert_eq!(scanned[8], path.display().to_string(), "{lines:?}");
    let metrics = bulwark.ctx.stats.prometheus();
    assert!(
        metrics.contains("group=\"mail\""),
        "the mail group's counters: {metrics}"
    );
}
