//! `apply` against the real Squid (Debian 12's 5.7 at /usr/sbin/squid). These tests fail, not
//! skip, when Squid is missing: install it with `scripts/deps.sh test` (or `apt-get install
//! squid`). Everything happens in temporary directories; `squid -k parse -f FILE` only parses.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use bulwark_squid::{
    apply, plan_edit, probe_squid, snippet, ApplyError, Placement, SnippetOptions, SquidVersion,
    TlsLibrary, TlsOptions,
};

const MINIMAL: &str = "http_port 127.0.0.1:3128\nhttp_access deny all\n";

fn squid_bin() -> PathBuf {
    let p = std::env::var_os("BULWARK_TEST_SQUID")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/squid"));
    assert!(
        p.is_file(),
        "these tests need a real Squid at {} (set BULWARK_TEST_SQUID to use another one); \
         install it with `scripts/deps.sh test` or `apt-get install squid`",
        p.display()
    );
    p
}

/// `squid -k parse -f FILE`, run independently of the crate: (success, combined output).
fn squid_parse(file: &Path) -> (bool, String) {
    let out = Command::new(squid_bin())
        .args(["-k", "parse", "-f"])
        .arg(file)
        .output()
        .expect("running squid -k parse");
    let mut s = String::from_utf8_lossy(&out.stderr).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stdout));
    (out.status.success() && !s.contains("FATAL:"), s)
}

fn temp_conf(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("squid.conf");
    fs::write(&p, content).expect("write squid.conf");
    (dir, p)
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    dir_entries(dir)
        .into_iter()
        .filter(|n| n.starts_with("squid.conf.bulwark-backup-"))
        .map(|n| dir.join(n))
        .collect()
}

#[test]
fn debian_default_squid_conf_applies_idempotently_and_parses() {
    let bin = squid_bin();
    let debian = fs::read("/etc/squid/squid.conf").expect(
        "this test copies Debian's default /etc/squid/squid.conf: install the squid package",
    );
    let (dir, conf) = temp_conf(&debian);
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o640)).expect("chmod");

    let r = apply(&conf, &SnippetOptions::default(), &bin).expect("first apply");
    assert!(r.changed);
    assert!(
        matches!(r.placement, Placement::BeforeDenyAll { .. }),
        "{:?}",
        r.placement
    );
    assert_eq!(r.squid.version, "5.7", "expected Debian 12's Squid 5.7");
    let once = fs::read(&conf).expect("read applied");
    let backup = r.backup.clone().expect("backup path");
    assert_eq!(fs::read(&backup).expect("read backup"), debian);
    let name = backup.file_name().unwrap().to_string_lossy().into_owned();
    let stamp = name.trim_start_matches("squid.conf.bulwark-backup-");
    assert!(
        stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()),
        "{name}"
    );
    assert_eq!(
        fs::metadata(&conf).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    // Squid really reads the block's directives (not hidden in a comment or a continuation).
    let (ok, out) = squid_parse(&conf);
    assert!(ok, "{out}");
    for d in [
        "Processing: icap_enable on",
        "Processing: icap_send_client_ip on",
        "Processing: icap_service bulwark_resp respmod_precache bypass=off icap://127.0.0.1:1344/av/respmod",
        "Processing: icap_service bulwark_req reqmod_precache bypass=off icap://127.0.0.1:1344/av/reqmod",
        "Processing: acl bulwark_get method GET",
        "Processing: adaptation_access bulwark_req allow !bulwark_get",
    ] {
        assert!(out.contains(d), "missing {d:?} in:\n{out}");
    }
    // Before `http_access deny all`, and Debian's comment stays with that line.
    let text = String::from_utf8_lossy(&once).into_owned();
    let end = text.find("# END bulwark\n").unwrap();
    let deny = text.find("\nhttp_access deny all\n").unwrap();
    assert!(end < deny);
    assert!(text[end..deny].contains("# And finally deny all other access to this proxy"));

    // Idempotent: a second apply changes nothing and writes no backup.
    let r2 = apply(&conf, &SnippetOptions::default(), &bin).expect("second apply");
    assert!(!r2.changed);
    assert!(r2.backup.is_none());
    assert!(matches!(r2.placement, Placement::Replaced { .. }));
    assert_eq!(fs::read(&conf).unwrap(), once);
    assert_eq!(backups(dir.path()).len(), 1);

    // Other options replace the block in place; going back gives the first file again.
    let other = SnippetOptions {
        squid_version: SquidVersion::V3_0,
        bypass: true,
        reqmod_get: true,
        ..Default::default()
    };
    let r3 = apply(&conf, &other, &bin).expect("3.0 dialect apply");
    assert!(r3.changed);
    assert!(
        r3.warnings.iter().any(|w| w.contains("deprecated")),
        "Squid 5.7 warns about icap_class/icap_access: {:?}",
        r3.warnings
    );
    let r4 = apply(&conf, &SnippetOptions::default(), &bin).expect("back to default");
    assert!(r4.changed);
    assert_eq!(fs::read(&conf).unwrap(), once);
    // No temporary files left behind.
    assert!(
        dir_entries(dir.path())
            .iter()
            .all(|n| n == "squid.conf" || n.starts_with("squid.conf.bulwark-backup-")),
        "{:?}",
        dir_entries(dir.path())
    );
}

#[test]
fn every_option_combination_parses() {
    let bin = squid_bin();
    let mut n = 0;
    for squid_version in [SquidVersion::V3_0, SquidVersion::V3_1Plus] {
        for bypass in [false, true] {
            for reqmod_get in [false, true] {
                for address in [None, Some("[::1]:1345"), Some("localhost:2000")] {
                    let o = SnippetOptions {
                        squid_version,
                        bypass,
                        reqmod_get,
                        address: address.map(str::to_string),
                        respmod_path: "/scan/resp".into(),
                        ..Default::default()
                    };
                    let (_dir, conf) = temp_conf(MINIMAL.as_bytes());
                    let r = apply(&conf, &o, &bin)
                        .unwrap_or_else(|e| panic!("{o:?}: {e}\n{}", snippet(&o)));
                    assert!(r.changed);
                    let (ok, out) = squid_parse(&conf);
                    assert!(ok, "{o:?}:\n{out}");
                    assert!(
                        out.contains("Processing: icap_service bulwark_resp"),
                        "{out}"
                    );
                    n += 1;
                }
            }
        }
    }
    assert_eq!(n, 24);
}

#[test]
fn broken_squid_conf_is_restored_byte_for_byte() {
    let bin = squid_bin();
    let original: &[u8] =
        b"http_port 127.0.0.1:3128\r\nthis_is_not_a_directive on\n# caf\xe9\nhttp_access deny all";
    let (dir, conf) = temp_conf(original);
    let e = apply(&conf, &SnippetOptions::default(), &bin).expect_err("must fail");
    match &e {
        ApplyError::ParseFailed {
            original_already_broken,
            backup,
            output,
            ..
        } => {
            assert!(*original_already_broken);
            let b = backup.as_ref().expect("backup written first");
            assert_eq!(fs::read(b).unwrap(), original);
            assert!(output.contains("this_is_not_a_directive"), "{output}");
        }
        other => panic!("unexpected error: {other}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("already fails"), "{msg}");
    assert!(msg.contains("restored byte for byte"), "{msg}");
    assert_eq!(fs::read(&conf).unwrap(), original);
    assert_eq!(backups(dir.path()).len(), 1);
    assert_eq!(
        dir_entries(dir.path()).len(),
        2,
        "{:?}",
        dir_entries(dir.path())
    );
}

#[test]
fn result_rejected_by_squid_is_restored_byte_for_byte() {
    let bin = squid_bin();
    // A valid file whose own `bulwark_get` acl clashes with the block's `acl bulwark_get method
    // GET`: Squid accepts the original and rejects the result.
    let original =
        b"http_port 127.0.0.1:3128\nacl bulwark_get src 10.0.0.0/8\nhttp_access deny all\n";
    let (dir, conf) = temp_conf(original);
    assert!(squid_parse(&conf).0, "the original must be valid");
    let planned = plan_edit(original, &SnippetOptions::default()).unwrap();
    assert!(planned.warnings.iter().any(|w| w.contains("line 2")));

    let e = apply(&conf, &SnippetOptions::default(), &bin).expect_err("must fail");
    match &e {
        ApplyError::ParseFailed {
            original_already_broken,
            backup,
            output,
            ..
        } => {
            assert!(!*original_already_broken);
            assert_eq!(fs::read(backup.as_ref().unwrap()).unwrap(), original);
            assert!(output.contains("bulwark_get"), "{output}");
            assert!(!output.contains("CPU Usage"), "{output}");
        }
        other => panic!("unexpected error: {other}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("rejected"), "{msg}");
    assert!(
        msg.contains("note: line 2 uses a name the managed block defines"),
        "{msg}"
    );
    assert_eq!(fs::read(&conf).unwrap(), original);
    assert_eq!(
        dir_entries(dir.path()).len(),
        2,
        "{:?}",
        dir_entries(dir.path())
    );
    // With GET sent to REQMOD the block defines no acl, and it applies.
    let o = SnippetOptions {
        reqmod_get: true,
        ..Default::default()
    };
    assert!(apply(&conf, &o, &bin).is_ok());
}

fn openssl_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("this test needs the openssl command (apt-get install openssl)");
    assert!(
        st.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    (cert, key)
}

#[test]
fn tls_snippet_parses_as_far_as_this_squid_supports_it() {
    let bin = squid_bin();
    let build = probe_squid(&bin).expect("squid -v");

    // Bare icaps:// (no tls-* options) parses on both OpenSSL and GnuTLS builds.
    let bare = SnippetOptions {
        tls: Some(TlsOptions::default()),
        ..Default::default()
    };
    let (_d, conf) = temp_conf(MINIMAL.as_bytes());
    apply(&conf, &bare, &bin).expect("bare icaps");
    let (ok, out) = squid_parse(&conf);
    assert!(ok, "{out}");
    assert!(
        out.contains("bypass=off icaps://127.0.0.1:11344/av/respmod"),
        "{out}"
    );

    // With client certificate and CA file.
    let (dir, conf) = temp_conf(MINIMAL.as_bytes());
    let (ca, _) = openssl_cert(dir.path(), "bulwark-ca");
    let (cert, key) = openssl_cert(dir.path(), "squid-client");
    let full = SnippetOptions {
        tls: Some(TlsOptions {
            cert: Some(cert),
            key: Some(key),
            cafile: Some(ca),
            domain: None,
        }),
        ..Default::default()
    };
    match build.tls {
        Some(TlsLibrary::OpenSsl) => {
            apply(&conf, &full, &bin).expect("tls options on an OpenSSL Squid");
            let (ok, out) = squid_parse(&conf);
            assert!(ok, "{out}");
        }
        Some(TlsLibrary::GnuTls) => {
            // apply refuses up front, naming the reason, and touches nothing.
            let e = apply(&conf, &full, &bin).expect_err("GnuTLS Squid");
            assert!(matches!(e, ApplyError::TlsUnsupported(_)), "{e}");
            assert!(e.to_string().contains("GnuTLS"), "{e}");
            assert_eq!(fs::read(&conf).unwrap(), MINIMAL.as_bytes());
            assert!(backups(dir.path()).is_empty());
            // ...and that refusal matches what this Squid does with the same block.
            let raw = dir.path().join("raw.conf");
            fs::write(&raw, format!("{MINIMAL}{}", snippet(&full))).unwrap();
            let (ok, out) = squid_parse(&raw);
            assert!(
                !ok,
                "GnuTLS Squid unexpectedly accepted tls-* options:\n{out}"
            );
            assert!(out.contains("requires --with-openssl"), "{out}");
        }
        None => panic!(
            "{} has no TLS support: expected Debian's GnuTLS build",
            bin.display()
        ),
    }
}

#[test]
fn refuses_missing_files_directories_and_squid() {
    let bin = squid_bin();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.conf");
    let e = apply(&missing, &SnippetOptions::default(), &bin).expect_err("missing");
    assert!(matches!(e, ApplyError::NotReadable { .. }), "{e}");
    assert!(e.to_string().contains("nope.conf"), "{e}");

    let e = apply(dir.path(), &SnippetOptions::default(), &bin).expect_err("directory");
    assert!(matches!(e, ApplyError::NotRegularFile { .. }), "{e}");

    let (d2, conf) = temp_conf(MINIMAL.as_bytes());
    let e = apply(
        &conf,
        &SnippetOptions::default(),
        Path::new("/nonexistent/squid"),
    )
    .expect_err("no squid");
    assert!(matches!(e, ApplyError::SquidNotRunnable { .. }), "{e}");
    assert_eq!(fs::read(&conf).unwrap(), MINIMAL.as_bytes());
    assert_eq!(dir_entries(d2.path()), vec!["squid.conf".to_string()]);

    let bad = SnippetOptions {
        address: Some("127.0.0.1".into()),
        ..Default::default()
    };
    let e = apply(&conf, &bad, &bin).expect_err("bad address");
    assert!(matches!(e, ApplyError::Options(_)), "{e}");
    assert_eq!(dir_entries(d2.path()), vec!["squid.conf".to_string()]);
}

#[test]
fn symlinked_squid_conf_edits_the_target() {
    let bin = squid_bin();
    let (dir, conf) = temp_conf(MINIMAL.as_bytes());
    let link = dir.path().join("link.conf");
    std::os::unix::fs::symlink(&conf, &link).unwrap();
    let r = apply(&link, &SnippetOptions::default(), &bin).expect("apply via symlink");
    assert_eq!(r.path, fs::canonicalize(&conf).unwrap());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(String::from_utf8(fs::read(&link).unwrap())
        .unwrap()
        .contains("# END bulwark"));
}
