//! Updates from real HTTP mirrors on loopback, built with `publish::build`.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use bulwark_update::index::{Index, IndexFile, INDEX_FILE};
use bulwark_update::publish::{self, BuildOptions};
use bulwark_update::{run, Outcome};
use common::{dead_url, write_sigs, Fault, FileServer, Setup};

#[test]
fn update_from_nothing_then_nothing_to_do_then_only_what_changed() {
    let s = Setup::new();
    s.build(100);
    let srv = FileServer::start(&s.mirror);
    let req = s.request(&[srv.url()]);

    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
    assert_eq!(r.exit_code(), 1);
    assert_eq!(r.files, 2);
    assert!(r.signatures >= 2, "{}", r.summary());
    assert_eq!(s.version(), Some(100));
    assert!(s.installed("test.ndb").unwrap().contains("MARKER-ONE"));
    assert!(std::fs::symlink_metadata(&s.db)
        .unwrap()
        .file_type()
        .is_symlink());
    srv.take_requests();

    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Current, "{}", r.summary());
    assert_eq!(r.exit_code(), 0);
    assert_eq!(srv.take_requests(), vec![INDEX_FILE.to_string()]);

    // A new version changing one file: only that file is downloaded.
    std::fs::write(
        s.src.join("extra.ndb"),
        "Bulwark.Test.Extra:0:*:4142434445464748\n",
    )
    .unwrap();
    s.build(101);
    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
    assert_eq!(r.files, 1);
    let mut got = srv.take_requests();
    got.sort();
    assert_eq!(got, vec![INDEX_FILE.to_string(), "extra.ndb".to_string()]);
    assert_eq!(s.version(), Some(101));
    // The previous version is the backup.
    let backup = bulwark_update::install::sibling(&s.db, ".backup");
    assert_eq!(
        bulwark_update::install::read_index(&backup).map(|i| i.version),
        Some(100)
    );
}

#[test]
fn a_dead_first_mirror_falls_back_to_the_second() {
    let s = Setup::new();
    s.build(5);
    let srv = FileServer::start(&s.mirror);
    let broken = FileServer::start(&s.mirror);
    broken.fault(INDEX_FILE, Fault::Error);
    let req = s.request(&[dead_url(), broken.url(), srv.url()]);
    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
    assert_eq!(r.source.as_deref(), Some(srv.url().as_str()));
    assert_eq!(
        r.notes.iter().filter(|n| n.contains("127.0.0.1")).count(),
        2,
        "{:?}",
        r.notes
    );
    // The 500 was retried once (retries = 1).
    assert_eq!(broken.take_requests().len(), 2);
}

/// Version `version` built, served by a mirror and installed from it: the setup, the mirror
/// and the request that installed it.
fn installed_from_mirror(version: u64) -> (Setup, FileServer, bulwark_update::UpdateRequest) {
    let s = Setup::new();
    s.build(version);
    let srv = FileServer::start(&s.mirror);
    let req = s.request(&[srv.url()]);
    assert_eq!(run(&req).outcome, Outcome::Updated);
    (s, srv, req)
}

/// Installs version 1, then makes the mirror offer a broken version 2 with `spoil`; the update
/// must fail with exit code 10 and leave version 1 in place. Returns its report and the paths
/// it requested.
fn refused(spoil: impl FnOnce(&Setup, &FileServer)) -> (bulwark_update::Report, Vec<String>) {
    let (s, srv, req) = installed_from_mirror(1);
    let before = s.installed("test.ndb").unwrap();
    write_sigs(&s.src, "MARKER-TWO");
    s.build(2);
    spoil(&s, &srv);
    srv.take_requests();
    let r = run(&req);
    let requested = srv.take_requests();
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.summary());
    assert_eq!(r.exit_code(), 10);
    assert_eq!(s.version(), Some(1), "{}", r.summary());
    assert_eq!(s.installed("test.ndb").unwrap(), before);
    // No staging directory is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(s.db.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("staging"))
        .collect();
    assert!(leftovers.is_empty());
    (r, requested)
}

#[test]
fn a_mirror_that_publishes_while_files_download_is_read_again() {
    let (s, srv, req) = installed_from_mirror(1);
    // The updater reads version 2's index; by the time it asks for the files, version 3 has
    // replaced them (test.ndb differs from what that index says).
    write_sigs(&s.src, "MARKER-TWO");
    s.build(2);
    let v2 = std::fs::read(s.mirror.join(INDEX_FILE)).unwrap();
    write_sigs(&s.src, "MARKER-THREE");
    s.build(3);
    std::fs::write(s.mirror.join("v2.index"), v2).unwrap();
    srv.fault(INDEX_FILE, Fault::OnceFrom("v2.index"));
    srv.take_requests();
    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
    assert_eq!(s.version(), Some(3));
    assert!(s.installed("test.ndb").unwrap().contains("MARKER-THREE"));
    let got = srv.take_requests();
    assert_eq!(
        got.iter().filter(|n| n.as_str() == INDEX_FILE).count(),
        2,
        "{got:?}"
    );
}

#[test]
fn a_tampered_file_is_refused() {
    let (r, requested) = refused(|s, _| {
        let p = s.mirror.join("test.ndb");
        let t = std::fs::read_to_string(&p)
            .unwrap()
            .replace("MARKER-TWO", "MARKER-BAD");
        std::fs::write(p, t).unwrap();
    });
    assert!(r.summary().contains("SHA-256"), "{}", r.summary());
    // The index is read again once (it might have changed), then the file is refused.
    assert_eq!(
        requested
            .iter()
            .filter(|n| n.as_str() == INDEX_FILE)
            .count(),
        2,
        "{requested:?}"
    );
}

#[test]
fn a_bad_signature_is_refused() {
    let (r, _) = refused(|s, _| {
        let p = s.mirror.join(INDEX_FILE);
        let t = std::fs::read_to_string(&p)
            .unwrap()
            .replace("Version: 2", "Version: 9");
        std::fs::write(p, t).unwrap();
    });
    assert!(r.summary().contains("signature"), "{}", r.summary());
}

#[test]
fn an_index_signed_by_an_untrusted_key_is_refused() {
    let (r, _) = refused(|s, _| {
        let other = s.tmp.path().join("other");
        publish::keygen(&other).unwrap();
        publish::sign(&s.mirror, &other).unwrap();
    });
    assert!(r.summary().contains("not trusted"), "{}", r.summary());
}

#[test]
fn an_older_version_is_refused() {
    let (s, _mirror, _) = installed_from_mirror(50);
    // A validly signed, older set (a replayed mirror).
    let old = s.tmp.path().join("old-mirror");
    publish::build(
        &s.src,
        &old,
        &s.key,
        &BuildOptions {
            version: Some(40),
            no_check: false,
        },
    )
    .unwrap();
    let old_srv = FileServer::start(&old);
    let r = run(&s.request(&[old_srv.url()]));
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.summary());
    assert!(r.summary().contains("older"), "{}", r.summary());
    assert_eq!(s.version(), Some(50));
}

#[test]
fn a_truncated_download_is_refused() {
    let (r, _) = refused(|_, srv| srv.fault("test.ndb", Fault::Truncate));
    assert!(r.summary().contains("test.ndb"), "{}", r.summary());
}

#[test]
fn a_database_that_does_not_load_is_refused() {
    refused(|s, _| {
        std::fs::write(s.src.join("test.ndb"), "this is no signature\n").unwrap();
        std::fs::write(s.src.join("test.hdb"), "nor is this\n").unwrap();
        publish::build(
            &s.src,
            &s.mirror,
            &s.key,
            &BuildOptions {
                version: Some(3),
                no_check: true,
            },
        )
        .unwrap();
    });
}

#[test]
fn a_hostile_index_with_a_path_is_refused() {
    let s = Setup::new();
    let key = bulwark_sign::read_secret(&s.key).unwrap();
    std::fs::create_dir_all(&s.mirror).unwrap();
    let mut idx = Index {
        version: 1,
        published: time::OffsetDateTime::now_utc(),
        files: vec![IndexFile {
            name: "ok.ndb".into(),
            size: 1,
            sha256: [0; 32],
        }],
        signer: String::new(),
    };
    let text = idx.sign(&key).unwrap().replace("ok.ndb", "../x.ndb");
    std::fs::write(s.mirror.join(INDEX_FILE), text).unwrap();
    let srv = FileServer::start(&s.mirror);
    let r = run(&s.request(&[srv.url()]));
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.summary());
    assert!(!s.tmp.path().join("var").join("x.ndb").exists());
}

#[test]
fn mirror_mode_output_serves_another_server() {
    let s = Setup::new();
    s.build(7);
    let upstream = FileServer::start(&s.mirror);
    let local_mirror = s.tmp.path().join("local-mirror");
    let mut req = s.request(&[upstream.url()]);
    req.mirror_to = Some(local_mirror.clone());
    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
    assert!(!s.db.exists(), "mirror mode installs nothing");
    assert_eq!(run(&req).outcome, Outcome::Current);

    let lan = FileServer::start(&local_mirror);
    let mut second = s.request(&[lan.url()]);
    second.config.database_dir = s.tmp.path().join("second").join("db");
    let r = run(&second);
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
    let db2 = second.config.database_dir.join("test.ndb");
    assert!(std::fs::read_to_string(db2).unwrap().contains("MARKER-ONE"));

    // A new upstream version reaches the mirror, then the second server.
    write_sigs(&s.src, "MARKER-THREE");
    s.build(8);
    assert_eq!(run(&req).outcome, Outcome::Updated);
    assert_eq!(run(&second).outcome, Outcome::Updated);
    let db2 = second.config.database_dir.join("test.ndb");
    assert!(std::fs::read_to_string(db2)
        .unwrap()
        .contains("MARKER-THREE"));
}

/// An index someone else wrote into the mirror (a high version signed by a foreign key) does not
/// freeze it: the next genuine version replaces it, and its files are removed.
#[test]
fn a_foreign_index_in_the_mirror_does_not_block_genuine_updates() {
    let s = Setup::new();
    s.build(7);
    let upstream = FileServer::start(&s.mirror);
    let local_mirror = s.tmp.path().join("local-mirror");
    let mut req = s.request(&[upstream.url()]);
    req.mirror_to = Some(local_mirror.clone());
    assert_eq!(run(&req).outcome, Outcome::Updated);
    let foreign = bulwark_sign::generate().unwrap();
    let mut idx = Index {
        version: 99,
        published: time::OffsetDateTime::now_utc(),
        files: vec![IndexFile {
            name: "planted.ndb".into(),
            size: 1,
            sha256: [0; 32],
        }],
        signer: String::new(),
    };
    std::fs::write(local_mirror.join("planted.ndb"), "x").unwrap();
    std::fs::write(local_mirror.join(INDEX_FILE), idx.sign(&foreign).unwrap()).unwrap();
    write_sigs(&s.src, "MARKER-EIGHT");
    s.build(8);
    let r = run(&req);
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
    let text = std::fs::read_to_string(local_mirror.join(INDEX_FILE)).unwrap();
    assert_eq!(Index::parse_unverified(text.as_bytes()).unwrap().version, 8);
    assert!(!local_mirror.join("planted.ndb").exists());
}

#[test]
fn a_local_directory_source_works() {
    let s = Setup::new();
    s.build(3);
    let r = run(&s.request(&[s.mirror.display().to_string()]));
    assert_eq!(r.outcome, Outcome::Updated, "{}", r.summary());
    assert_eq!(s.version(), Some(3));
}
