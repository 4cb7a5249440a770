//! EICAR in every format, made at test time by the real tools.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::fs;

use bulwark_containers::{describe, DeepOptions};
use bulwark_engine::{Status, Verdict};
use bulwark_testkit::eicar;
use common::*;

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    // EICAR allows trailing whitespace: it makes the file compressible, so archivers deflate it
    // and the raw bytes of the archive do not show it.
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

fn infected(file: &std::path::Path) -> (Status, Vec<String>) {
    let data = fs::read(file).unwrap();
    let v = scan(&data);
    (v.verdict.status, describe(&v.verdict))
}

#[test]
fn eicar_in_each_format() {
    let d = setup();
    let p = d.path();
    let cases: &[(&str, &str)] = &[
        ("zip -q a.zip eicar.com clean1.txt", "a.zip"),
        ("zip -q -fz z64.zip eicar.com", "z64.zip"),
        ("tar cf a.tar clean1.txt eicar.com", "a.tar"),
        ("tar czf a.tgz clean1.txt eicar.com", "a.tgz"),
        ("tar cjf a.tbz clean1.txt eicar.com", "a.tbz"),
        ("tar cJf a.txz clean1.txt eicar.com", "a.txz"),
        ("gzip -c eicar.com > e.gz", "e.gz"),
        ("bzip2 -c eicar.com > e.bz2", "e.bz2"),
        ("xz -c eicar.com > e.xz", "e.xz"),
        ("zstd -q -c eicar.com > e.zst", "e.zst"),
        ("7z a -bd -bso0 a.7z eicar.com clean1.txt", "a.7z"),
        (
            "7z a -bd -bso0 -ms=on s.7z clean1.txt clean2.bin eicar.com",
            "s.7z",
        ),
        ("tar cf - eicar.com | zstd -q -c > a.tar.zst", "a.tar.zst"),
    ];
    for (cmd, file) in cases {
        if cmd.starts_with("7z") && !have("7z") {
            continue;
        }
        run(p, cmd);
        let (st, t) = infected(&p.join(file));
        assert_eq!(st, Status::Infected, "{file}: {t:?}");
        if file.ends_with("zip") || file.ends_with("7z") {
            assert!(
                t.iter().any(|t| t.contains("eicar.com")),
                "{file}: path in {t:?}"
            );
        }
    }
}

#[test]
fn nested_depth_1_to_5() {
    let d = setup();
    let p = d.path();
    // zip → tar.gz → 7z → zip → gz: EICAR at depth 1..5.
    run(p, "cp eicar.com l0");
    let steps = [
        "zip -q l1.zip l0",
        "tar czf l2.tgz l1.zip",
        "7z a -bd -bso0 l3.7z l2.tgz",
        "zip -q l4.zip l3.7z",
        "gzip -c l4.zip > l5.gz",
    ];
    let names = ["l1.zip", "l2.tgz", "l3.7z", "l4.zip", "l5.gz"];
    for (i, (s, n)) in steps.iter().zip(names).enumerate() {
        run(p, s);
        let data = fs::read(p.join(n)).unwrap();
        let opts = DeepOptions {
            name: Some(n.to_string()),
            ..DeepOptions::default()
        };
        let v = scan_with(db(), &data, opts);
        assert_eq!(
            v.verdict.status,
            Status::Infected,
            "depth {}: {:?}",
            i + 1,
            v
        );
        let t = describe(&v.verdict);
        assert!(t.iter().any(|t| t.ends_with("/l0")), "{t:?}");
    }
    let v = scan(&fs::read(p.join("l4.zip")).unwrap());
    assert!(
        describe(&v.verdict)
            .iter()
            .any(|t| t.ends_with("l3.7z/l2.tgz/l1.zip/l0")),
        "{v:?}"
    );
}

#[test]
fn depth_limit_gives_limits_exceeded() {
    let d = setup();
    let p = d.path();
    run(
        p,
        "zip -q l1.zip eicar.com && zip -q l2.zip l1.zip && zip -q l3.zip l2.zip",
    );
    let data = fs::read(p.join("l3.zip")).unwrap();
    let mut opts = DeepOptions::default();
    opts.limits.max_depth = 2;
    let v = scan_with(db(), &data, opts);
    assert_eq!(v.verdict.status, Status::LimitsExceeded, "{v:?}");
    assert!(v.verdict.threats.is_empty());
}

#[test]
fn clean_archives_pass() {
    let d = setup();
    let p = d.path();
    run(
        p,
        "zip -q c.zip clean1.txt clean2.bin && tar czf c.tgz clean1.txt clean2.bin",
    );
    for f in ["c.zip", "c.tgz"] {
        let v = scan(&fs::read(p.join(f)).unwrap());
        assert_eq!(v.verdict.status, Status::Clean, "{f}: {v:?}");
        assert!(v.cured.is_none());
    }
}

#[test]
fn encrypted_zip_is_protected() {
    let d = setup();
    let p = d.path();
    run(p, "zip -q -P secret e.zip clean1.txt");
    let v = scan(&fs::read(p.join("e.zip")).unwrap());
    assert_eq!(v.verdict.status, Status::Protected, "{v:?}");
}

#[test]
fn options_switch_parts_off() {
    let d = setup();
    let p = d.path();
    run(p, "zip -q a.zip eicar.com clean1.txt");
    let data = fs::read(p.join("a.zip")).unwrap();
    let opts = DeepOptions {
        scan_archives: false,
        ..DeepOptions::default()
    };
    assert_eq!(scan_with(db(), &data, opts).verdict.status, Status::Clean);
    assert_eq!(scan(&data).verdict.status, Status::Infected);
}

#[test]
fn content_encodings() {
    let d = setup();
    let p = d.path();
    run(p, "zip -q a.zip eicar.com");
    run(
        p,
        "gzip -c a.zip > a.zip.gz && brotli -c a.zip > a.zip.br && zstd -q -c a.zip > a.zip.zst",
    );
    run(p, "brotli -c a.zip.gz > a.zip.gz.br");
    run(p, "python3 -c \"import zlib,sys; sys.stdout.buffer.write(zlib.compress(open('a.zip','rb').read()))\" > a.zip.zlib");
    let cases = [
        ("a.zip.gz", "gzip"),
        ("a.zip.br", "br"),
        ("a.zip.zst", "zstd"),
        ("a.zip.zlib", "deflate"),
        ("a.zip.gz.br", "gzip, br"),
    ];
    for (f, ce) in cases {
        let data = fs::read(p.join(f)).unwrap();
        let opts = DeepOptions {
            content_encoding: Some(ce.to_string()),
            ..DeepOptions::default()
        };
        let v = scan_with(db(), &data, opts);
        assert_eq!(v.verdict.status, Status::Infected, "{ce}: {v:?}");
    }
    // Broken encoding.
    let mut data = fs::read(p.join("a.zip.gz")).unwrap();
    data.truncate(data.len() / 2);
    data.extend_from_slice(b"garbage garbage garbage");
    let opts = DeepOptions {
        content_encoding: Some("br".to_string()),
        ..DeepOptions::default()
    };
    let v = scan_with(db(), b"this is not brotli at all, not at all", opts);
    assert_eq!(v.verdict.status, Status::Corrupted, "{v:?}");
    let _ = data;
}

#[test]
fn mail_mbox_and_form_data() {
    let d = setup();
    let p = d.path();
    let py = r#"
import email.message, email.policy, mailbox, base64
e = open('eicar.com','rb').read()
m = email.message.EmailMessage()
m['From']='a@example.com'; m['To']='b@example.com'; m['Subject']='t'
m.set_content('hello')
inner = email.message.EmailMessage()
inner['Subject']='inner'
inner.set_content('see attached')
inner.add_attachment(e, maintype='application', subtype='octet-stream', filename='eicar.com')
m.add_attachment(b'clean data', maintype='application', subtype='octet-stream', filename='clean.bin')
m.add_attachment(inner)
open('nested.eml','wb').write(bytes(m))
q = email.message.EmailMessage()
q['From']='a@example.com'; q['To']='b@example.com'; q['Subject']='qp'
q.set_content(e.decode(), cte='quoted-printable')
open('qp.eml','wb').write(bytes(q))
u = email.message.EmailMessage()
u['From']='a@example.com'; u['To']='b@example.com'; u['Subject']='uu'
import binascii
body = 'see below\n\nbegin 644 eicar.com\n' + ''.join(binascii.b2a_uu(e[i:i+45]).decode() for i in range(0,len(e),45)) + '`\nend\n'
u.set_content(body)
open('uu.eml','wb').write(bytes(u))
mb = mailbox.mbox('box.mbox')
c = email.message.EmailMessage(); c['From']='x@example.com'; c['To']='y@example.com'; c['Subject']='clean'; c.set_content('nothing')
mb.add(c); mb.add(m); mb.flush()
"#;
    fs::write(p.join("mk.py"), py).unwrap();
    run(p, "python3 mk.py");
    for f in ["nested.eml", "qp.eml", "uu.eml", "box.mbox"] {
        let v = scan(&fs::read(p.join(f)).unwrap());
        assert_eq!(v.verdict.status, Status::Infected, "{f}: {v:?}");
    }
    let (_, t) = infected(&p.join("nested.eml"));
    assert!(t.iter().any(|t| t.ends_with("eicar.com")), "{t:?}");
    // Options: mail off.
    let data = fs::read(p.join("nested.eml")).unwrap();
    let opts = DeepOptions {
        scan_mail_plain: false,
        ..DeepOptions::default()
    };
    assert_eq!(scan_with(db(), &data, opts).verdict.status, Status::Clean);
    // multipart/form-data upload.
    let mut body = Vec::new();
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\nvalue\r\n");
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"e.zip\"\r\nContent-Type: application/octet-stream\r\n\r\n");
    run(p, "zip -q up.zip eicar.com");
    body.extend_from_slice(&fs::read(p.join("up.zip")).unwrap());
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    let opts = DeepOptions {
        multipart_boundary: Some("XyZ".into()),
        scan_mail_plain: false,
        ..DeepOptions::default()
    };
    let v = scan_with(db(), &body, opts);
    assert_eq!(v.verdict.status, Status::Infected, "{v:?}");
    assert!(
        describe(&v.verdict)
            .iter()
            .any(|t| t.ends_with("e.zip/eicar.com")),
        "{v:?}"
    );
}

#[test]
fn verdict_cache_skips_unpacking_a_known_object() {
    use bulwark_engine::VerdictCache;
    use std::sync::Arc;
    let d = setup();
    let p = d.path();
    run(
        p,
        "zip -q bad.zip clean1.txt eicar.com && zip -q good.zip clean1.txt clean2.bin",
    );
    let bad = fs::read(p.join("bad.zip")).unwrap();
    let good = fs::read(p.join("good.zip")).unwrap();
    let cache = Arc::new(VerdictCache::new(16));
    let opts = || DeepOptions {
        verdict_cache: Some(cache.clone()),
        ..DeepOptions::default()
    };
    let from_cache =
        |v: &bulwark_containers::DeepVerdict| v.notes.iter().any(|n| n.contains("verdict cache"));
    for data in [&bad, &good] {
        let first = scan_with(db(), data, opts());
        assert!(!from_cache(&first));
        let second = scan_with(db(), data, opts());
        assert!(from_cache(&second), "{:?}", second.notes);
        assert_eq!(second.verdict, first.verdict);
    }
    assert_eq!(
        scan_with(db(), &bad, opts()).verdict.status,
        Status::Infected
    );
    assert_eq!(cache.hits(), 3);
    // Other options, another key: archives off gives its own (clean) verdict.
    let off = DeepOptions {
        scan_archives: false,
        ..opts()
    };
    let v = scan_with(db(), &bad, off);
    assert!(!from_cache(&v));
    assert_eq!(v.verdict.status, Status::Clean);
    // Cure never reads the cache (it needs the cured body).
    let cure = DeepOptions {
        cure: true,
        ..opts()
    };
    let v = scan_with(db(), &bad, cure);
    assert!(!from_cache(&v));
    assert_eq!(v.verdict.status, Status::Cured);
    // Plain objects are not worth a digest: never cached.
    let plain = b"just some text\n".repeat(100);
    scan_with(db(), &plain, opts());
    assert!(!from_cache(&scan_with(db(), &plain, opts())));
}

/// A shared tier in memory, as another instance would see it through Redis.
#[derive(Debug, Default)]
struct Shared(std::sync::Mutex<std::collections::HashMap<bulwark_engine::VerdictKey, Verdict>>);

impl bulwark_engine::SharedVerdicts for Shared {
    fn get(&self, key: &bulwark_engine::VerdictKey) -> Option<Verdict> {
        self.0.lock().ok()?.get(key).cloned()
    }
    fn put(&self, key: &bulwark_engine::VerdictKey, verdict: &Verdict) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(*key, verdict.clone());
        }
    }
}

#[test]
fn a_verdict_shared_by_another_instance_skips_unpacking() {
    use bulwark_containers::CacheTier;
    use bulwark_engine::VerdictCache;
    use std::sync::Arc;
    let d = setup();
    let p = d.path();
    run(p, "zip -q bad.zip clean1.txt eicar.com");
    let bad = fs::read(p.join("bad.zip")).unwrap();
    let shared = Arc::new(Shared::default());
    // Two instances: their own local caches, one shared tier.
    let opts = |local: &Arc<VerdictCache>, name: &str| DeepOptions {
        verdict_cache: Some(local.clone()),
        shared_verdicts: Some(shared.clone()),
        name: Some(name.to_string()),
        ..DeepOptions::default()
    };
    let (a, b) = (
        Arc::new(VerdictCache::new(16)),
        Arc::new(VerdictCache::new(16)),
    );
    let first = scan_with(db(), &bad, opts(&a, "a.zip"));
    assert_eq!(first.cached(), None);
    assert_eq!(first.verdict.status, Status::Infected);
    assert_eq!(
        shared.0.lock().unwrap().len(),
        1,
        "offered to the other instances"
    );
    let on_b = scan_with(db(), &bad, opts(&b, "b.zip"));
    assert_eq!(on_b.cached(), Some(CacheTier::Shared), "{:?}", on_b.notes);
    assert_eq!(on_b.verdict.status, Status::Infected);
    // Threat paths follow B's name for the object, not A's.
    assert!(
        on_b.verdict
            .threats
            .iter()
            .all(|t| t.path.starts_with("b.zip")),
        "{:?}",
        on_b.verdict
    );
    // Now B knows it locally.
    let again = scan_with(db(), &bad, opts(&b, "b.zip"));
    assert_eq!(again.cached(), Some(CacheTier::Local));
}

#[test]
fn cached_verdicts_follow_the_object_name() {
    use bulwark_engine::VerdictCache;
    use std::sync::Arc;
    let d = setup();
    run(d.path(), "zip -q bad.zip clean1.txt eicar.com");
    let bad = fs::read(d.path().join("bad.zip")).unwrap();
    let cache = Arc::new(VerdictCache::new(16));
    let named = |n: Option<&str>| DeepOptions {
        verdict_cache: Some(cache.clone()),
        name: n.map(str::to_string),
        ..DeepOptions::default()
    };
    let first = scan_with(db(), &bad, named(Some("a.zip")));
    assert_eq!(
        describe(&first.verdict),
        vec!["Eicar-Test-Signature@a.zip/eicar.com"]
    );
    let other = scan_with(db(), &bad, named(Some("mirror.zip")));
    assert!(other.notes.iter().any(|n| n.contains("verdict cache")));
    assert_eq!(
        describe(&other.verdict),
        vec!["Eicar-Test-Signature@mirror.zip/eicar.com"]
    );
    let bare = scan_with(db(), &bad, named(None));
    assert_eq!(
        describe(&bare.verdict),
        vec!["Eicar-Test-Signature@eicar.com"]
    );
    assert_eq!(cache.hits(), 2);
}
