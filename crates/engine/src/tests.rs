//! End-to-end tests of the public interface with small hand-written databases.

use super::*;
use std::io::Write;

fn db_from(files: &[(&str, &str)]) -> (Arc<Database>, LoadReport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        let mut f = std::fs::File::create(dir.path().join(name)).unwrap();
        f.write_all(body.as_bytes()).unwrap();
    }
    let (db, r) = Database::load(&[dir.path().to_path_buf()], &LoadOptions::default()).unwrap();
    (Arc::new(db), r, dir)
}

fn scan(db: &Arc<Database>, data: &[u8], chunk: usize) -> Verdict {
    let mut s = Scanner::new(Arc::clone(db), &ScanOptions::default());
    for c in data.chunks(chunk.max(1)) {
        s.feed(c);
    }
    s.finish()
}

fn names(v: &Verdict) -> Vec<String> {
    v.threats.iter().map(|t| t.name.clone()).collect()
}

#[test]
fn scanner_is_send_and_builtin_finds_eicar() {
    fn is_send<T: Send>() {}
    is_send::<Scanner>();
    fn is_sync<T: Send + Sync>() {}
    is_sync::<Database>();
    let db = Arc::new(Database::builtin());
    let e = crate::eicar::test_file();
    assert_eq!(names(&scan(&db, &e, 5)), vec!["Eicar-Test-Signature"]);
    assert_eq!(scan(&db, b"hello", 5).status, Status::Clean);
}

#[test]
fn ndb_body_signature_across_chunks() {
    let (db, r, _d) = db_from(&[("t.ndb", "Test.Body-1:0:*:68656c6c6f{2-4}776f726c64\nTest.Off-1:0:3:4142434445\nTest.Eof-1:0:EOF-5:5a5a5a5a5a\n")]);
    assert_eq!(r.files[0].loaded, 3);
    let mut data = vec![b'.'; 10_000];
    data.extend_from_slice(b"hello, world");
    data.extend(vec![b'.'; 10_000]);
    for chunk in [1, 7, 4096, 65536] {
        assert_eq!(
            names(&scan(&db, &data, chunk)),
            vec!["Test.Body-1"],
            "chunk {chunk}"
        );
    }
    assert_eq!(names(&scan(&db, b"xxxABCDEyyy", 3)), vec!["Test.Off-1"]);
    assert_eq!(scan(&db, b"xxxxABCDEyyy", 3).status, Status::Clean);
    assert_eq!(names(&scan(&db, b"..........ZZZZZ", 3)), vec!["Test.Eof-1"]);
    assert_eq!(scan(&db, b"..........ZZZZZ.", 3).status, Status::Clean);
    assert_eq!(scan(&db, b"hello,\0\0\0\0world", 3).status, Status::Clean);
    // Text is also matched normalised (white space collapsed), as clamscan 1.4.6 does.
    assert_eq!(
        names(&scan(&db, b"hello,    world", 3)),
        vec!["Test.Body-1"]
    );
}

#[test]
fn multipart_star_signature() {
    let (db, _r, _d) = db_from(&[(
        "t.ndb",
        "Test.Star-1:0:*:4142434445*464748494a{10-}4b4c4d4e4f\n",
    )]);
    let mut d = b"ABCDE".to_vec();
    d.extend(vec![0u8; 100_000]);
    d.extend_from_slice(b"FGHIJ0123456789KLMNO");
    assert_eq!(names(&scan(&db, &d, 4096)), vec!["Test.Star-1"]);
    let mut d = b"FGHIJ0123456789KLMNO".to_vec();
    d.extend_from_slice(b"ABCDE");
    assert_eq!(scan(&db, &d, 4096).status, Status::Clean);
    assert_eq!(scan(&db, b"ABCDEFGHIJ01KLMNO", 4096).status, Status::Clean);
}

#[test]
fn logical_signatures_counts_modifiers_and_pcre() {
    let (db, r, _d) = db_from(&[(
        "t.ldb",
        "Test.L1;Engine:51-255,Target:0;0&1;6576696c5f6f6e65;73656375726974795f74776f\n\
         Test.L2;Engine:51-255,Target:0;0>2;636f756e746d65\n\
         Test.L3;Engine:51-255,Target:0;0&1=0;616c7068615f7878;626574615f7979\n\
         Test.L4;Engine:51-255,Target:0;0;6e6f63617365::i\n\
         Test.L5;Engine:51-255,Target:0;0;77696465::w\n\
         Test.L6;Engine:51-255,Target:0;0&1;7472696767657230;0/ab[0-9]{3}cd/\n\
         Test.L7;Engine:51-255,Target:0,FileSize:10-20;0;73697a6564\n\
         Test.L8;Engine:51-255,Target:0;0;776f7264::f\n",
    )]);
    assert_eq!(r.files[0].loaded, 8, "{:?}", r.files[0]);
    assert_eq!(
        names(&scan(&db, b"..evil_one....security_two..", 4)),
        vec!["Test.L1"]
    );
    assert_eq!(scan(&db, b"..evil_one....", 4).status, Status::Clean);
    assert_eq!(
        names(&scan(&db, b"countme countme countme", 4)),
        vec!["Test.L2"]
    );
    assert_eq!(scan(&db, b"countme countme", 4).status, Status::Clean);
    assert_eq!(names(&scan(&db, b"alpha_xx", 4)), vec!["Test.L3"]);
    assert_eq!(scan(&db, b"alpha_xx beta_yy", 4).status, Status::Clean);
    assert_eq!(names(&scan(&db, b"..NoCaSe..", 4)), vec!["Test.L4"]);
    assert_eq!(names(&scan(&db, b"..w\0i\0d\0e\0..", 4)), vec!["Test.L5"]);
    assert_eq!(scan(&db, b"..wide..", 4).status, Status::Clean);
    assert_eq!(
        names(&scan(&db, b"trigger0 xx ab123cd", 4)),
        vec!["Test.L6"]
    );
    assert_eq!(scan(&db, b"trigger0 xx ab12cd", 4).status, Status::Clean);
    assert_eq!(names(&scan(&db, b"....sized..", 4)), vec!["Test.L7"]);
    assert_eq!(
        scan(&db, b"....sized..............", 4).status,
        Status::Clean
    );
    assert_eq!(names(&scan(&db, b"a word.", 4)), vec!["Test.L8"]);
    assert_eq!(scan(&db, b"a words.", 4).status, Status::Clean);
}

#[test]
fn hashes_allow_list_sets_and_ignore() {
    // md5("hello world\n") = 6f5902ac237024bdd0c176cb93063dc4 (12 bytes)
    let (db, r, _d) = db_from(&[
        ("a.hdb", "6f5902ac237024bdd0c176cb93063dc4:12:Test.Hash-1\n"),
        (
            "b.ndb",
            "Test.Body-2:0:*:776f726c64\nTest.Ign-1:0:*:68656c6c6f\n",
        ),
        ("b.ign2", "Test.Ign-1\n"),
    ]);
    assert_eq!(r.files.iter().map(|f| f.ignored).sum::<u64>(), 1);
    let v = scan(&db, b"hello world\n", 3);
    assert_eq!(names(&v), vec!["Test.Hash-1", "Test.Body-2"]);
    let mut s = Scanner::new(
        Arc::clone(&db),
        &ScanOptions {
            sets: Some(vec!["a".into()]),
            ..Default::default()
        },
    );
    s.feed(b"hello world\n");
    assert_eq!(names(&s.finish()), vec!["Test.Hash-1"]);
    let (db, _r, _d) = db_from(&[
        ("a.ndb", "Test.Body-2:0:*:776f726c64\n"),
        ("a.fp", "6f5902ac237024bdd0c176cb93063dc4:12:allowed\n"),
    ]);
    assert_eq!(scan(&db, b"hello world\n", 3).status, Status::Clean);
    assert_eq!(scan(&db, b"hello world!\n", 3).status, Status::Infected);
}

#[test]
fn pe_entry_point_and_sections() {
    let (db, _r, _d) = db_from(&[(
        "t.ndb",
        "Test.EP-1:1:EP+0:558bec6aff68\nTest.S0-1:1:S0+3:6aff68\nTest.PE-1:1:*:deadbeefcafe\n",
    )]);
    let pe = filetype::tests::tiny_pe(b"\x55\x8b\xec\x6a\xff\x68\x00\x00");
    assert_eq!(names(&scan(&db, &pe, 100)), vec!["Test.EP-1", "Test.S0-1"]);
    let pe = filetype::tests::tiny_pe(b"\x90\x55\x8b\xec\x6a\xff\x68\xde\xad\xbe\xef\xca\xfe");
    assert_eq!(names(&scan(&db, &pe, 100)), vec!["Test.PE-1"]);
    // Not a PE: target 1 signatures do not apply.
    assert_eq!(
        scan(
            &db,
            b"\x55\x8b\xec\x6a\xff\x68\xde\xad\xbe\xef\xca\xfe",
            100
        )
        .status,
        Status::Clean
    );
}

#[test]
fn large_objects_keep_bounded_memory() {
    let (db, _r, _d) = db_from(&[(
        "t.ndb",
        "Test.Late-1:0:*:6c6174656d61726b6572\nTest.Eof-2:0:EOF-4:656e6421\n",
    )]);
    let opts = ScanOptions {
        memory_limit: Some(1 << 20),
        ..Default::default()
    };
    let mut s = Scanner::new(Arc::clone(&db), &opts);
    let chunk = vec![b'x'; 65536];
    for _ in 0..64 {
        s.feed(&chunk);
    }
    s.feed(b"latemarker....end!");
    assert_eq!(s.bytes_scanned(), 64 * 65536 + 18);
    assert_eq!(names(&s.finish()), vec!["Test.Late-1", "Test.Eof-2"]);
}

#[test]
fn compiled_cache_hit_stale_and_corrupt() {
    let sigs = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        std::fs::write(sigs.path().join(name), body).unwrap();
    };
    write("a.ndb", "Test.Body-1:0:*:68656c6c6f{2-4}776f726c64\n");
    write(
        "b.ldb",
        "Test.Pcre-1;Engine:81-255,Target:0;0&1;41424344;0/AB+CD[0-9]{3}/\n",
    );
    write(
        "c.hdb",
        "44d88612fea8a8f36de82e1278abb02f:68:Win.Test.EICAR_HDB-1\n",
    );
    let opts = LoadOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..LoadOptions::default()
    };
    let load = || Database::load(&[sigs.path().to_path_buf()], &opts).unwrap();
    let check = |db: Database| {
        let db = Arc::new(db);
        assert_eq!(
            names(&scan(&db, b"...hello, world...", 4)),
            vec!["Test.Body-1"]
        );
        assert_eq!(
            names(&scan(&db, b"..ABCD..ABBBCD123..", 3)),
            vec!["Test.Pcre-1"]
        );
        assert_eq!(scan(&db, b"hello world", 3).status, Status::Clean);
        db.version().to_string()
    };
    let (db, r) = load();
    assert_eq!(
        r.cache.as_ref().map(ToString::to_string).as_deref(),
        Some("rebuilt (absent)")
    );
    let v1 = check(db);
    let (db, r) = load();
    assert_eq!(
        r.cache.as_ref().map(ToString::to_string).as_deref(),
        Some("hit")
    );
    assert_eq!(r.files.len(), 3);
    assert_eq!(r.files.iter().map(|f| f.loaded).sum::<u64>(), 3);
    assert_eq!(check(db), v1);

    // Corrupt every region of the file in turn: never trusted, always rebuilt.
    let file = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
        .unwrap();
    let good = std::fs::read(&file).unwrap();
    for at in [0, 9, 20, good.len() / 2, good.len() - 10] {
        let mut bad = good.clone();
        bad[at] ^= 0x5a;
        std::fs::write(&file, &bad).unwrap();
        let (db, r) = load();
        let note = r.cache.unwrap().to_string();
        assert!(note.starts_with("rebuilt ("), "{at}: {note}");
        assert_eq!(check(db), v1);
        assert_eq!(
            load().1.cache.as_ref().map(ToString::to_string).as_deref(),
            Some("hit"),
            "rewritten at {at}"
        );
    }
    std::fs::write(&file, &good[..good.len() / 3]).unwrap();
    assert!(load()
        .1
        .cache
        .unwrap()
        .to_string()
        .starts_with("rebuilt (corrupt"));

    // A changed source makes it stale.
    write("a.ndb", "Test.Body-2:0:*:68656c6c6f{2-4}776f726c64\n");
    let (db, r) = load();
    assert_eq!(
        r.cache.as_ref().map(ToString::to_string).as_deref(),
        Some("rebuilt (stale: signature files changed)")
    );
    let db = Arc::new(db);
    assert_eq!(
        names(&scan(&db, b"...hello, world...", 4)),
        vec!["Test.Body-2"]
    );
    assert_eq!(
        load().1.cache.as_ref().map(ToString::to_string).as_deref(),
        Some("hit")
    );
    // Different options: a different cache file, both kept.
    let mut o2 = opts.clone();
    o2.pua = true;
    let r = Database::load(&[sigs.path().to_path_buf()], &o2).unwrap().1;
    assert_eq!(
        r.cache.as_ref().map(ToString::to_string).as_deref(),
        Some("rebuilt (absent)")
    );
    assert_eq!(
        load().1.cache.as_ref().map(ToString::to_string).as_deref(),
        Some("hit")
    );
}

#[test]
fn an_update_compiles_only_the_sets_that_changed() {
    // Atoms unique to this test: the matchers of other tests' databases, alive in this
    // process, must not be what gets reused.
    let sigs = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| std::fs::write(sigs.path().join(name), body).unwrap();
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    // `main` is big enough for target 0 matchers of its own (`OWN_SLICE_PARTS`); `daily` and
    // `local` share one.
    let mut main = format!(
        "Main.One-1:0:*:{}\nMain.Shared-1:0:*:{}\nMain.Html-1:3:*:{}\n",
        hex("upd-main-one"),
        hex("upd-shared-atom"),
        hex("upd-main-html")
    );
    for i in 0..crate::db::OWN_SLICE_PARTS {
        main.push_str(&format!(
            "Main.Gen-{i}:0:*:{}\n",
            hex(&format!("upd-gen-{i:05}"))
        ));
    }
    write("main.ndb", &main);
    write(
        "local.ndb",
        &format!("Local.One-1:0:*:{}\n", hex("upd-local-one")),
    );
    let daily = |n: u32| {
        format!(
            "Daily.Chain-{n}:0:*:{}*{}\nDaily.Shared-{n}:0:*:{}\n",
            hex("upd-daily-first"),
            hex(&format!("upd-daily-second-{n}")),
            hex("upd-shared-atom")
        )
    };
    write("daily.ndb", &daily(1));
    let opts = LoadOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..LoadOptions::default()
    };
    let load = || {
        let (db, r) = Database::load(&[sigs.path().to_path_buf()], &opts).unwrap();
        (Arc::new(db), r)
    };
    let check = |db: &Arc<Database>, n: u32| {
        let obj =
            format!("..upd-daily-first..upd-main-one..upd-shared-atom..upd-daily-second-{n}..");
        for chunk in [1, 5, 4096] {
            let mut got = names(&scan(db, obj.as_bytes(), chunk));
            got.sort();
            assert_eq!(
                got,
                vec![
                    format!("Daily.Chain-{n}"),
                    format!("Daily.Shared-{n}"),
                    "Main.One-1".to_string(),
                    "Main.Shared-1".to_string(),
                ],
                "chunk {chunk}"
            );
        }
        // The chain's second part before its first: no match.
        let rev = format!("upd-daily-second-{n} upd-daily-first");
        assert_eq!(scan(db, rev.as_bytes(), 3).status, Status::Clean);
    };
    // First load: every matcher compiled (target 0: main's own, and one for daily and local;
    // target 3: one for main's only signature there).
    let (db1, r) = load();
    assert_eq!((r.matchers_compiled, r.matchers_reused), (3, 0));
    assert_eq!(
        names(&scan(&db1, b"upd-gen-16383 upd-local-one", 2)).len(),
        2
    );
    check(&db1, 1);

    // daily changes while the first database serves: only daily's matcher is compiled.
    write("daily.ndb", &daily(2));
    let (db2, r) = load();
    assert_eq!(
        r.cache.as_ref().map(ToString::to_string).as_deref(),
        Some("rebuilt (stale: signature files changed)")
    );
    assert_eq!((r.matchers_compiled, r.matchers_reused), (1, 2));
    check(&db2, 2);
    check(&db1, 1);

    // Nothing alive any more (a restart after an update): main's matchers come from the
    // previous cache file.
    drop((db1, db2));
    write("daily.ndb", &daily(3));
    let (db3, r) = load();
    assert_eq!((r.matchers_compiled, r.matchers_reused), (1, 2));
    check(&db3, 3);
    drop(db3);
    let (db4, r) = load();
    assert_eq!(r.cache, Some(CacheOutcome::Hit));
    assert_eq!((r.matchers_compiled, r.matchers_reused), (0, 0));
    check(&db4, 3);
    assert!(
        names(&scan(&db4, b"..upd-main-html..", 4)).is_empty(),
        "target 3 only on HTML"
    );
}

#[test]
fn html_and_text_targets_are_not_reported_as_approximated() {
    // All of ClamAV's views are produced (the JavaScript-normalised one too), so target 3
    // signatures, those written for `n000` identifiers included, are exact.
    let (db, r, _d) = db_from(&[(
        "t.ndb",
        "Html.Test-1:3:*:3c7363726970743e6576696c\nHtml.Js-1:3:*:766172206e303030\nText.Test-1:7:*:6576696c2074657874\nAny.Test-1:0:*:616e797468696e67\n",
    )]);
    assert_eq!(r.files[0].loaded, 4);
    assert!(r.files[0].approximated.is_empty());
    assert_eq!(r.files[0].total(), 4);
    let _ = db;
}

/// Target 3 and 7 signatures (and target 0 ones) on ClamAV's normalised views; the verdicts
/// are those of clamscan 1.4.6 on the same samples (tests/differential.rs
/// `normalised_views_as_clamscan`).
#[test]
fn html_and_text_objects_are_matched_on_normalised_views() {
    let hx = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let sigs = format!(
        "T3norm:3:*:{}\nT0norm:0:*:{}\nT0raw:0:*:{}\nT7norm:7:*:{}\nT7raw:7:*:{}\n",
        hx("hello world xyzzy"),
        hx("hello world xyzzy"),
        hx("Hello  WORLD"),
        hx("some text here line two"),
        hx("Some   TEXT"),
    );
    let (db, _r, _d) = db_from(&[("t.ndb", &sigs)]);
    let mut html = names(&scan(
        &db,
        b"<html><body>Hello  WORLD xyzzy</body></html>\n",
        3,
    ));
    html.sort();
    assert_eq!(html, vec!["T0norm", "T3norm"], "raw HTML is not matched");
    let text = names(&scan(&db, b"Some   TEXT here\nLine Two\nHello  WORLD\n", 3));
    assert_eq!(text, vec!["T0raw", "T7norm"]);
    // HTML magic beyond the head: raw text and HTML views, no normalised text.
    let mut late = b"xx Hello  WORLD xyzzy yy\n".to_vec();
    late.extend(vec![b'z'; 3000]);
    late.extend_from_slice(b" <img src=x> some text here line two");
    let mut v = names(&scan(&db, &late, 4096));
    v.sort();
    assert_eq!(v, vec!["T0norm", "T0raw", "T3norm"]);
}

#[test]
fn body_signature_across_the_memory_limit_transition() {
    let (db, _r, _d) = db_from(&[("t.ndb", "Test.Body-1:0:*:68656c6c6f{2-4}776f726c64\n")]);
    let opts = ScanOptions {
        memory_limit: Some(65536),
        ..ScanOptions::default()
    };
    for at in [65520usize, 65530, 65536, 65540, 130_000] {
        let mut data = vec![b'.'; 200_000];
        data[at..at + 12].copy_from_slice(b"hello, world");
        for chunk in [7usize, 1000, 4096, 65536] {
            let mut s = Scanner::new(Arc::clone(&db), &opts);
            for c in data.chunks(chunk) {
                s.feed(c);
            }
            assert_eq!(
                names(&s.finish()),
                vec!["Test.Body-1"],
                "at {at} chunk {chunk}"
            );
        }
    }
}

#[test]
fn a_database_path_that_is_missing_or_not_a_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("bases");
    let e = Database::load(&[missing], &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no such file"), "{e}");
    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "hello").unwrap();
    let e = Database::load(&[other], &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("not a ClamAV database file"), "{e}");
    // A directory may hold other files: they are skipped.
    std::fs::write(
        dir.path().join("eicar.hdb"),
        "44d88612fea8a8f36de82e1278abb02f:68:E\n",
    )
    .unwrap();
    assert!(Database::load(&[dir.path().to_path_buf()], &LoadOptions::default()).is_ok());
}

/// Hits past what a signature's expression can use are dropped unverified (saturation, dead
/// atoms): counts, shared atoms and ordered parts must still decide exactly as before.
#[test]
fn saturated_and_dead_atoms_change_no_verdict() {
    let (db, _r, _d) = db_from(&[(
        "s.ldb",
        // "hello" is shared by A (needs it once) and B (needs it more than twice).
        "Test.A;Engine:51-255,Target:0;0&1;68656c6c6f;776f726c64\n\
         Test.B;Engine:51-255,Target:0;0>2;68656c6c6f\n\
         Test.Eq;Engine:51-255,Target:0;0=2;7a6f6f6d\n\
         Test.Chain;Engine:51-255,Target:0;0;41414141*42424242\n\
         Test.Case;Engine:51-255,Target:0;0;0:636173656c657373::i\n",
    )]);
    let v = |d: &str| {
        let mut n = names(&scan(&db, d.as_bytes(), 3));
        n.sort();
        n
    };
    assert_eq!(v("hello world"), vec!["Test.A"]);
    assert_eq!(v("hello hello world hello"), vec!["Test.A", "Test.B"]);
    // Saturated after two hits would wrongly keep `=2` true: the third must still count.
    assert_eq!(v("zoom zoom"), vec!["Test.Eq"]);
    assert!(v("zoom zoom zoom").is_empty());
    assert!(v("zoom zoom zoom zoom zoom zoom").is_empty());
    // Ordered parts: the second part before the first one does not chain.
    assert!(v("BBBB .. AAAA").is_empty());
    for chunk in [1, 3, 4096] {
        assert_eq!(
            names(&scan(&db, b"BBBB .. AAAA .. BBBB", chunk)),
            vec!["Test.Chain"],
            "chunk {chunk}"
        );
    }
    assert_eq!(v("AAAA BBBB AAAA"), vec!["Test.Chain"]);
    // An anchored `::i` body: the one-byte reject folds case.
    assert_eq!(v("CaseLess start"), vec!["Test.Case"]);
    assert!(v(" caseless, not at 0").is_empty());
}

/// A PCRE subsignature whose required literal is absent is not run; present, it decides.
#[test]
fn pcre_required_literal_prefilter_keeps_verdicts() {
    let (db, _r, _d) = db_from(&[(
        "p.ldb",
        "Test.Pcre;Engine:81-255,Target:0;0&1;7061796c6f6164;0/[A-Z]{3}[0-9]{4}\\.exe/\n\
         Test.PcreG;Engine:81-255,Target:0;0&1>1;7472696767;0/v[0-9]\\.dat/g\n",
    )]);
    let v = |d: &str| names(&scan(&db, d.as_bytes(), 7));
    assert_eq!(v("payload ABC1234.exe"), vec!["Test.Pcre"]);
    assert!(v("payload ABC1234.ex").is_empty());
    assert!(v("payload abc1234.exe").is_empty());
    assert!(v("ABC1234.exe without the trigger").is_empty());
    assert_eq!(v("trigg v1.dat v2.dat"), vec!["Test.PcreG"]);
    assert!(v("trigg v1.dat").is_empty());
}

/// A `HandlerType` signature asks for the object to be scanned again as its type (the deep
/// scanner does it) and then reports itself, as clamscan 1.4.6 does (`Test.H.UNOFFICIAL FOUND`
/// for a text file matching only `HandlerType:CL_TYPE_PDF` or `CL_TYPE_GRAPHICS` signatures);
/// a plain scan, which rescans nothing, reports it at once. GRAPHICS loads in full: its rescan
/// is by target 5's signatures.
#[test]
fn handler_type_signatures_ask_for_a_rescan_then_report() {
    let (db, r, _d) = db_from(&[(
        "h.ldb",
        "Test.Handler.Pdf;Engine:51-255,HandlerType:CL_TYPE_PDF,Target:0;0;48414e444c454d45\n\
         Test.Handler.Gfx;Engine:51-255,HandlerType:CL_TYPE_GRAPHICS,Target:0;0;474658474658\n\
         Test.Handler.Rar;Engine:51-255,HandlerType:CL_TYPE_RAR,Target:0;0;5241525241525241\n\
         Test.Plain;Engine:51-255,Target:0;0;504c41494e\n",
    )]);
    assert_eq!(r.files[0].loaded, 4);
    let a = &r.files[0].approximated;
    // CL_TYPE_RAR: no opener here and no signature target, so no rescan.
    assert_eq!(a.values().sum::<u64>(), 1, "{a:?}");
    let finish = |d: &[u8]| {
        let mut s = Scanner::new(db.clone(), &ScanOptions::default());
        s.feed(d);
        s.finish_with_handler()
    };
    let (v, h) = finish(b"xx HANDLEME xx");
    assert_eq!(v.status, Status::Clean, "{v:?}");
    let h = h.expect("a handler request");
    assert_eq!(h.ty, crate::cltype::ClType::Pdf);
    assert_eq!(h.names, vec!["Test.Handler.Pdf".to_string()]);
    let (v, h) = finish(b"xx HANDLEME PLAIN GFXGFX");
    assert_eq!(names(&v), vec!["Test.Plain"]);
    let h = h.expect("a handler request");
    assert_eq!(h.ty, crate::cltype::ClType::Pdf, "the first match decides");
    assert_eq!(h.names.len(), 2, "{h:?}");
    let (v, h) = finish(b"nothing here");
    assert_eq!((v.status, h), (Status::Clean, None));
    let mut s = Scanner::new(db.clone(), &ScanOptions::default());
    s.feed(b"xx GFXGFX xx");
    assert_eq!(names(&s.finish()), vec!["Test.Handler.Gfx"]);
}

/// A scan forced to a type (a `HandlerType` rescan) runs that type's target signatures on any
/// content: target 5 (graphics) signatures match a text file scanned as `CL_TYPE_GRAPHICS`.
#[test]
fn a_scan_as_a_type_runs_its_target_signatures() {
    let (db, _r, _d) = db_from(&[("t.ndb", "Test.T5:5:*:42424242424242424242\n")]);
    let scan = |s: &mut Scanner| {
        s.feed(b"hello BBBBBBBBBB world\n");
    };
    let mut plain = Scanner::new(db.clone(), &ScanOptions::default());
    scan(&mut plain);
    assert_eq!(plain.finish().status, Status::Clean);
    let mut as_gfx = Scanner::new_as(
        db.clone(),
        &ScanOptions::default(),
        crate::cltype::ClType::Graphics,
    );
    scan(&mut as_gfx);
    assert_eq!(names(&as_gfx.finish()), vec!["Test.T5"]);
}

/// Bodies without an atom evaluated over a range of offsets (`n,m`): every start where the
/// first byte is, case-folded for `::i` bodies, and none outside the range (the `*` one has an
/// atom).
#[test]
fn anchored_bodies_over_a_range_find_each_start() {
    // Two-byte bodies have no atom (too short), so they are evaluated at their offsets.
    let (db, _r, _d) = db_from(&[
        ("r.ndb", "Test.Range:0:10,20:5a51\nTest.Star:0:*:5152\n"),
        (
            "r.ldb",
            "Test.Nocase;Engine:51-255,Target:0;0;30,20:7a71::i\n",
        ),
    ]);
    let stats = db.debug_stats();
    assert!(stats.contains("anchored bodies t0 2 "), "{stats}");
    let v = |d: &[u8]| {
        let mut s = Scanner::new(db.clone(), &ScanOptions::default());
        s.feed(d);
        let mut n = names(&s.finish());
        n.sort();
        n
    };
    let mut d = vec![b'.'; 80];
    // `Z` repeated before the real start: each candidate start is tried.
    d[12] = b'Z';
    d[20] = b'Z';
    d[21] = b'Q';
    assert_eq!(v(&d), vec!["Test.Range"]);
    d[21] = b'.';
    d[35] = b'Z';
    d[36] = b'Q';
    assert_eq!(v(&d), vec!["Test.Nocase"], "upper case matches a ::i body");
    d[35] = b'.';
    d[5] = b'Z';
    d[6] = b'Q';
    assert!(v(&d).is_empty(), "before the range");
    d[70] = b'Q';
    d[71] = b'R';
    assert_eq!(v(&d), vec!["Test.Star"]);
}
#[test]
fn validate_rejects_indexes_out_of_range() {
    // A two-part body with an atom in each part, and an anchored one (offset 0, no atoms).
    let (_, _, dir) = db_from(&[(
        "t.ndb",
        "Two.Parts:0:*:41424344*45464748\nAnchored:0:0:4d5a9000\n",
    )]);
    let check = |f: &dyn Fn(&mut db::Compiled)| {
        let (mut db, _) =
            Database::load(&[dir.path().to_path_buf()], &LoadOptions::default()).unwrap();
        f(&mut db.c);
        db.c.validate(db.sets.len())
    };
    let (db, _) = Database::load(&[dir.path().to_path_buf()], &LoadOptions::default()).unwrap();
    let c = &db.c;
    let two = c.bodies.iter().position(|b| b.nparts == 2).unwrap();
    let anchored = c.bodies.iter().position(|b| b.anchored).unwrap();
    assert_eq!(c.parts(&c.bodies[two])[1].gap, (0, None));
    assert!(c.parts(&c.bodies[two]).iter().all(|p| p.split.is_some()));
    assert!(c
        .parts(&c.bodies[anchored])
        .iter()
        .all(|p| p.split.is_none()));
    assert_eq!(check(&|_| {}), Ok(()));
    assert!(check(&|c| c.bodies[two].nparts = 3).is_err());
    assert!(check(&|c| c.bodies[two].nparts = 0).is_err());
    assert!(check(&|c| c.bodies[two].first = u32::MAX).is_err());
    assert!(check(&|c| c.parts.last_mut().unwrap().len += 1).is_err());
    assert!(check(&|c| c.bodies[anchored].anchored = false).is_err());
    assert!(check(&|c| c.bodies[two].anchored = true).is_err());
    assert!(check(&|c| c.lsigs[0].tdb = u32::MAX).is_err());
    assert!(check(&|c| c.lsigs[0].expr = c.exprs.len() as u32).is_err());
    assert!(check(&|c| c.lsig_names = db::Names::default()).is_err());
    // Both signatures share one target description and one expression.
    assert_eq!((c.tdbs.len(), c.exprs.len()), (1, 1));
    assert_eq!(c.lsig_name(c.bodies[two].lsig), "Two.Parts");
    assert!(check(&|c| {
        let first = c.bodies[two].first as usize;
        if let Some(sp) = c.parts[first].split.as_mut() {
            sp.elem = 99;
        }
    })
    .is_err());
}
