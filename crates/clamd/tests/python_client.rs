//! The Python `clamd` client (PyPI's `clamd`, not packaged by Debian) against Bulwark and a
//! real clamd: the same calls must return the same results. Runs when the interpreter named by
//! `BULWARK_PYTHON` (default Debian's `/usr/bin/python3`) can `import clamd`; otherwise the
//! test says so and passes without running (nothing is installed at test time).

mod common;

use std::path::Path;
use std::process::Command;

use bulwark_testkit::clamd::{Clamd, ClamdDb};
use common::{samples, Bulwark};

const SCRIPT: &str = r#"
import io, json, sys
import clamd
sock, d, eicar = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
c = clamd.ClamdUnixSocket(path=sock, timeout=30)
out = {
    "ping": c.ping(),
    "instream_eicar": c.instream(io.BytesIO(eicar)),
    "instream_clean": c.instream(io.BytesIO(b"nothing here" * 1000)),
    "scan_file": c.scan(d + "/eicar.com"),
    "scan_clean": c.scan(d + "/clean.txt"),
    "contscan": c.contscan(d),
    "multiscan": c.multiscan(d + "/sub"),
}
v = c.version()
assert v.startswith("ClamAV "), v
assert "POOLS" in c.stats()
print(json.dumps(out, sort_keys=True))
"#;

fn run(python: &str, socket: &Path, dir: &Path) -> String {
    let eicar: String = bulwark_testkit::eicar()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(socket)
        .arg(dir)
        .arg(eicar)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .replace("Bulwark.Test.EICAR.UNOFFICIAL", "Eicar-Test-Signature")
}

#[test]
fn python_clamd_client_gets_what_clamd_gives() {
    let python = std::env::var("BULWARK_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let probe = Command::new(&python).args(["-c", "import clamd"]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!(
            "SKIPPED: {python} cannot `import clamd` (PyPI's clamd is not a Debian package); \
             set BULWARK_PYTHON to an interpreter that has it to run this test"
        );
        return;
    }
    let clamd = Clamd::start(ClamdDb::Eicar).expect("real clamd");
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("samples");
    samples(&dir);
    let bulwark = Bulwark::start(&clamd.dir().join("db"), &[&dir], |_| {});
    let want = run(&python, clamd.socket(), &dir);
    let got = run(&python, &bulwark.socket, &dir);
    eprintln!("{got}");
    assert_eq!(got, want);
}
