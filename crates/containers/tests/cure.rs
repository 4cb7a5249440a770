//! Cure: one infected and two clean members come back `cured`, valid for the standard tools,
//! with the clean members byte-exact.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::fs;
use std::io::Read;

use bulwark_containers::DeepOptions;
use bulwark_engine::Status;
use bulwark_testkit::eicar;
use common::*;

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let mut e = eicar();
    e.extend_from_slice(&[b' '; 58]);
    fs::write(d.path().join("eicar.com"), e).unwrap();
    fs::write(d.path().join("clean1.txt"), b"hello world\n".repeat(100)).unwrap();
    fs::write(
        d.path().join("clean2.bin"),
        (0..=255u8).cycle().take(70_000).collect::<Vec<_>>(),
    )
    .unwrap();
    d
}

fn cure(data: &[u8]) -> (Status, Option<Vec<u8>>) {
    let opts = DeepOptions {
        cure: true,
        ..DeepOptions::default()
    };
    let v = scan_with(db(), data, opts);
    let body = v.cured.map(|c| {
        let mut out = Vec::new();
        c.reader().read_to_end(&mut out).unwrap();
        out
    });
    (v.verdict.status, body)
}

#[test]
fn zip_is_cured() {
    let d = setup();
    let p = d.path();
    run(p, "zip -q a.zip clean1.txt eicar.com clean2.bin");
    let (st, body) = cure(&fs::read(p.join("a.zip")).unwrap());
    assert_eq!(st, Status::Cured);
    fs::write(p.join("cured.zip"), body.unwrap()).unwrap();
    run(p, "unzip -tq cured.zip");
    run(p, "mkdir x && cd x && unzip -q ../cured.zip");
    assert_eq!(
        fs::read(p.join("x/clean1.txt")).unwrap(),
        fs::read(p.join("clean1.txt")).unwrap()
    );
    assert_eq!(
        fs::read(p.join("x/clean2.bin")).unwrap(),
        fs::read(p.join("clean2.bin")).unwrap()
    );
    assert!(!p.join("x/eicar.com").exists());
    let stub = fs::read_to_string(p.join("x/eicar.com.removed.txt")).unwrap();
    assert!(stub.contains("Eicar"), "{stub}");
    // Without cure the same zip is infected and nothing is rebuilt.
    let v = scan(&fs::read(p.join("a.zip")).unwrap());
    assert_eq!(v.verdict.status, Status::Infected);
    assert!(v.cured.is_none());
}

#[test]
fn tar_and_tgz_are_cured() {
    let d = setup();
    let p = d.path();
    run(p, "tar cf a.tar clean1.txt eicar.com clean2.bin && gzip -c a.tar > a.tgz && bzip2 -c a.tar > a.tbz");
    for (f, flag) in [("a.tar", ""), ("a.tgz", "z"), ("a.tbz", "j")] {
        let (st, body) = cure(&fs::read(p.join(f)).unwrap());
        assert_eq!(st, Status::Cured, "{f}");
        let out = format!("cured-{f}");
        fs::write(p.join(&out), body.unwrap()).unwrap();
        run(p, &format!("tar t{flag}f {out} > /dev/null"));
        let x = format!("x-{f}");
        run(p, &format!("mkdir {x} && tar x{flag}f {out} -C {x}"));
        assert_eq!(
            fs::read(p.join(&x).join("clean1.txt")).unwrap(),
            fs::read(p.join("clean1.txt")).unwrap()
        );
        assert_eq!(
            fs::read(p.join(&x).join("clean2.bin")).unwrap(),
            fs::read(p.join("clean2.bin")).unwrap()
        );
        assert!(!p.join(&x).join("eicar.com").exists());
        assert!(p.join(&x).join("eicar.com.removed.txt").exists());
    }
}

#[test]
fn mime_is_cured() {
    let d = setup();
    let p = d.path();
    let py = r#"
import email.message
e = open('eicar.com','rb').read()
m = email.message.EmailMessage()
m['From']='a@example.com'; m['To']='b@example.com'; m['Subject']='t'
m.set_content('hello')
m.add_attachment(open('clean1.txt','rb').read(), maintype='application', subtype='octet-stream', filename='clean1.txt')
m.add_attachment(e, maintype='application', subtype='octet-stream', filename='eicar.com')
m.add_attachment(open('clean2.bin','rb').read(), maintype='application', subtype='octet-stream', filename='clean2.bin')
open('m.eml','wb').write(bytes(m))
"#;
    fs::write(p.join("mk.py"), py).unwrap();
    run(p, "python3 mk.py");
    let (st, body) = cure(&fs::read(p.join("m.eml")).unwrap());
    assert_eq!(st, Status::Cured);
    fs::write(p.join("cured.eml"), body.unwrap()).unwrap();
    let check = r#"
import email, email.policy
m = email.message_from_bytes(open('cured.eml','rb').read(), policy=email.policy.default)
parts = {p.get_filename(): p.get_content() for p in m.iter_attachments()}
assert parts['clean1.txt'] == open('clean1.txt','rb').read(), 'clean1'
assert parts['clean2.bin'] == open('clean2.bin','rb').read(), 'clean2'
assert b'Eicar' in parts['eicar.com'], parts['eicar.com']
assert m.defects == [], m.defects
"#;
    fs::write(p.join("check.py"), check).unwrap();
    run(p, "python3 check.py");
}

#[test]
fn uncurable_stays_infected() {
    let d = setup();
    let p = d.path();
    run(p, "7z a -bd -bso0 a.7z clean1.txt eicar.com");
    let (st, body) = cure(&fs::read(p.join("a.7z")).unwrap());
    assert_eq!(st, Status::Infected);
    assert!(body.is_none());
}
