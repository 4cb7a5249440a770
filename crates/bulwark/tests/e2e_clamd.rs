//! `bulwark serve` with `[clamd]`: the listener starts and stops with the server, RELOAD
//! reloads the signature database (as `bulwark ctl reload-db`), SHUTDOWN stops the server
//! when `allow_shutdown` is on, and clamd commands are counted in the server's statistics.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use bulwark_testkit::hex;

fn bulwark_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_bulwark"))
}

fn talk(socket: &Path, input: &[u8]) -> Vec<u8> {
    let mut s = UnixStream::connect(socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(input).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn instream(data: &[u8]) -> Vec<u8> {
    let mut v = b"zINSTREAM\0".to_vec();
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}

#[test]
fn serve_runs_the_clamd_listener_reload_and_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).expect("mkdir");
    let eicar = bulwark_testkit::eicar();
    std::fs::write(
        db.join("a.ndb"),
        format!("Test.Eicar:0:*:{}\n", hex(&eicar)),
    )
    .expect("db");
    let config = format!(
        "[engine]\ndatabase = [\"{d}/db\"]\n\n[control]\nsocket = \"{d}/control.sock\"\n\
         pid_file = \"{d}/bulwark.pid\"\n\n[clamd]\nlisten = [\"{d}/clamd.sock\"]\n\
         allow_shutdown = true\n"
    );
    let mut b = bulwark_testkit::bulwark::Bulwark::start_with_config(bulwark_bin(), Some(&config))
        .expect("start");
    let sock = dir.path().join("clamd.sock");
    assert_eq!(talk(&sock, b"zPING\0"), b"PONG\0");
    assert_eq!(
        talk(&sock, &instream(&eicar)),
        b"stream: Eicar-Test-Signature FOUND\0"
    );

    // A new signature, then RELOAD: found once the new database is in.
    let marker = b"bulwark clamd reload marker 7f3a";
    assert_eq!(talk(&sock, &instream(marker)), b"stream: OK\0");
    std::fs::write(
        db.join("b.ndb"),
        format!("Test.Marker:0:*:{}\n", hex(marker)),
    )
    .expect("db");
    assert_eq!(talk(&sock, b"zRELOAD\0"), b"RELOADING\0");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = talk(&sock, &instream(marker));
        if got == b"stream: Test.Marker FOUND\0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not reloaded: {got:?}\n{}",
            b.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // SHUTDOWN stops the whole server; the socket goes with it.
    let _ = talk(&sock, b"zSHUTDOWN\0");
    // The server exits on its own (it removes its pid file last), no signal needed.
    let pid_file = dir.path().join("bulwark.pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    while pid_file.exists() {
        assert!(Instant::now() < deadline, "SHUTDOWN ignored\n{}", b.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = b.stop(Duration::from_secs(15)).expect("exited");
    assert!(status.success(), "exit status {status:?}\n{}", b.log());
    assert!(!sock.exists(), "clamd socket left behind");
    let log = b.log();
    assert!(log.contains("clamd protocol on unix:"), "{log}");
}
