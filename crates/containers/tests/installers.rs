//! Installers and the less common archives, made at test time by real tools: NSIS (`makensis`,
//! zlib/bzip2/LZMA, solid or not), CHM (Free Pascal's `chmcmd`), SZDD (`mscompress`), ARJ
//! (`arj`), LHA (`jlha`), RAR (the `rars` crate's writer, RAR 2.9 / 5). Each case is skipped
//! with a message when its tool is missing (`scripts/deps.sh test` installs them).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::fs;
use std::path::Path;

use bulwark_containers::describe;
use bulwark_engine::Status;
use bulwark_testkit::eicar;
use common::*;

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let mut e = eicar();
    e.extend_from_slice(&[b' '; 58]);
    fs::write(d.path().join("eicar.com"), e).unwrap();
    fs::write(d.path().join("clean.txt"), b"hello world\n".repeat(300)).unwrap();
    d
}

fn verdict(file: &Path) -> (Status, Vec<String>) {
    let data = fs::read(file).unwrap();
    let v = scan(&data);
    (v.verdict.status, describe(&v.verdict))
}

fn expect_infected(file: &Path, member: &str) {
    let (st, t) = verdict(file);
    assert_eq!(st, Status::Infected, "{}: {t:?}", file.display());
    assert!(
        t.iter().any(|t| t.contains(member)),
        "{}: {member} not in {t:?}",
        file.display()
    );
}

fn expect_clean(file: &Path) {
    let (st, t) = verdict(file);
    assert_eq!(st, Status::Clean, "{}: {t:?}", file.display());
}

#[test]
fn nsis_installers_every_compressor() {
    if !have("makensis") {
        eprintln!("skipped: makensis missing (apt-get install nsis)");
        return;
    }
    let d = setup();
    let p = d.path();
    for (i, comp) in ["zlib", "bzip2", "lzma", "/SOLID lzma", "/SOLID zlib"]
        .iter()
        .enumerate()
    {
        for (file, payload) in [("bad", "eicar.com"), ("good", "clean.txt")] {
            let script = format!(
                "Unicode true\nSetCompressor {comp}\nOutFile {file}{i}.exe\n\
                 RequestExecutionLevel user\nSection\nSetOutPath $INSTDIR\n\
                 File clean.txt\nFile {payload}\nSectionEnd\n"
            );
            fs::write(p.join(format!("{file}{i}.nsi")), script).unwrap();
            run(p, &format!("makensis -V1 {file}{i}.nsi"));
        }
        expect_infected(&p.join(format!("bad{i}.exe")), "eicar.com");
        expect_clean(&p.join(format!("good{i}.exe")));
    }
}

#[test]
fn chm_help_file() {
    if !have("chmcmd") {
        eprintln!("skipped: chmcmd missing (apt-get install fp-utils)");
        return;
    }
    let d = setup();
    let p = d.path();
    fs::write(
        p.join("index.html"),
        "<html><body><p>Help</p></body></html>\n".repeat(50),
    )
    .unwrap();
    for (name, extra) in [("bad", "eicar.com"), ("good", "clean.txt")] {
        let project = format!(
            "[OPTIONS]\nCompiled file={name}.chm\nDefault topic=index.html\nTitle=T\n\n\
             [FILES]\nindex.html\n{extra}\n"
        );
        fs::write(p.join(format!("{name}.hhp")), project).unwrap();
        run(p, &format!("chmcmd {name}.hhp >/dev/null"));
    }
    expect_infected(&p.join("bad.chm"), "eicar.com");
    expect_clean(&p.join("good.chm"));
}

#[test]
fn szdd_compressed_file() {
    if !have("mscompress") {
        eprintln!("skipped: mscompress missing (apt-get install mscompress)");
        return;
    }
    let d = setup();
    let p = d.path();
    // mscompress writes NAME_ next to NAME.
    run(
        p,
        "cp eicar.com e.com && mscompress e.com && cp clean.txt c.txt && mscompress c.txt",
    );
    let data = fs::read(p.join("e.com_")).unwrap();
    assert!(data.starts_with(b"SZDD"), "not SZDD");
    let (st, t) = verdict(&p.join("e.com_"));
    assert_eq!(st, Status::Infected, "{t:?}");
    expect_clean(&p.join("c.txt_"));
}

#[test]
fn arj_and_lha_archives() {
    let d = setup();
    let p = d.path();
    if have("arj") {
        run(p, "arj a -y bad.arj clean.txt eicar.com >/dev/null");
        run(p, "arj a -y -m4 bad4.arj eicar.com >/dev/null");
        run(p, "arj a -y good.arj clean.txt >/dev/null");
        expect_infected(&p.join("bad.arj"), "eicar.com");
        expect_infected(&p.join("bad4.arj"), "eicar.com");
        expect_clean(&p.join("good.arj"));
    } else {
        eprintln!("skipped: arj missing (apt-get install arj)");
    }
    if have("jlha") {
        run(p, "jlha a bad.lzh clean.txt eicar.com >/dev/null");
        run(p, "jlha a good.lzh clean.txt >/dev/null");
        expect_infected(&p.join("bad.lzh"), "eicar.com");
        expect_clean(&p.join("good.lzh"));
    } else {
        eprintln!("skipped: jlha missing (apt-get install jlha-utils)");
    }
}

#[test]
fn rar_archives() {
    use rars::version::ArchiveVersion;
    let d = setup();
    let out = d.path().join("out.rar");
    let build = |b: rars::Builder| {
        b.write_to_path(&out, None).unwrap();
        fs::read(&out).unwrap()
    };
    let eicar = fs::read(d.path().join("eicar.com")).unwrap();
    let clean = fs::read(d.path().join("clean.txt")).unwrap();
    for version in [ArchiveVersion::Rar29, ArchiveVersion::Rar50] {
        for solid in [false, true] {
            let mut b = rars::Builder::new(version).solid(solid);
            b.add_bytes(b"docs/clean.txt".to_vec(), clean.clone(), None, None)
                .unwrap();
            b.add_bytes(b"docs/eicar.com".to_vec(), eicar.clone(), None, None)
                .unwrap();
            let v = scan(&build(b));
            let t = describe(&v.verdict);
            assert_eq!(v.verdict.status, Status::Infected, "{version:?} {t:?}");
            assert!(t.iter().any(|t| t.contains("docs/eicar.com")), "{t:?}");

            let mut b = rars::Builder::new(version).solid(solid);
            b.add_bytes(b"clean.txt".to_vec(), clean.clone(), None, None)
                .unwrap();
            assert_eq!(scan(&build(b)).verdict.status, Status::Clean, "{version:?}");
        }
    }
    // An encrypted RAR member cannot be scanned: protected.
    let mut b = rars::Builder::new(ArchiveVersion::Rar50).password(Some(b"secret".to_vec()));
    b.add_bytes(b"eicar.com".to_vec(), eicar.clone(), None, None)
        .unwrap();
    let v = scan(&build(b));
    assert_eq!(
        v.verdict.status,
        Status::Protected,
        "{:?}",
        describe(&v.verdict)
    );
}

#[test]
fn installer_inside_an_archive() {
    // A zip holding an NSIS installer holding EICAR: the path names every level.
    if !have("makensis") {
        eprintln!("skipped: makensis missing (apt-get install nsis)");
        return;
    }
    let d = setup();
    let p = d.path();
    fs::write(
        p.join("s.nsi"),
        "SetCompressor /SOLID lzma\nOutFile setup.exe\nSection\nSetOutPath $INSTDIR\n\
         File eicar.com\nSectionEnd\n",
    )
    .unwrap();
    run(p, "makensis -V1 s.nsi && zip -q pack.zip setup.exe");
    expect_infected(&p.join("pack.zip"), "setup.exe/$INSTDIR/eicar.com");
}

#[test]
fn legacy_members_over_the_limit_are_limits_exceeded() {
    // A RAR member declared larger than the member limit is not decoded into memory.
    use bulwark_config::Limits;
    use bulwark_containers::DeepOptions;
    use rars::version::ArchiveVersion;
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("big.rar");
    let mut b = rars::Builder::new(ArchiveVersion::Rar50);
    b.add_bytes(b"zeros.bin".to_vec(), vec![0u8; 3 << 20], None, None)
        .unwrap();
    b.write_to_path(&out, None).unwrap();
    let data = fs::read(&out).unwrap();
    let opts = DeepOptions {
        limits: Limits {
            max_member_bytes: 1 << 20,
            ..Limits::default()
        },
        ..DeepOptions::default()
    };
    let v = scan_with(db(), &data, opts);
    assert_eq!(v.verdict.status, Status::LimitsExceeded, "{:?}", v.notes);
}

#[test]
fn nsis_installers_the_crate_cannot_open_are_read_by_the_fallback() {
    // Some installers with a block of zeros right after the script header are not decoded by
    // the `nsis` crate ("none of the supported compression methods succeeded"): our reader of the
    // solid stream takes over. An installer whose data passes the budget is not "clean": its
    // files were never seen.
    use bulwark_config::Limits;
    use bulwark_containers::DeepOptions;
    if !have("makensis") {
        eprintln!("skipped: makensis missing (apt-get install nsis)");
        return;
    }
    let d = setup();
    let p = d.path();
    for (name, payload) in [("bad", "eicar.com"), ("good", "clean.txt")] {
        // One file: 8 MB of zeros, then the payload.
        let mut file = vec![0u8; 8 << 20];
        file.extend(fs::read(p.join(payload)).unwrap());
        fs::write(p.join(format!("{name}.bin")), file).unwrap();
        fs::write(
            p.join(format!("{name}.nsi")),
            format!(
                "SetCompressor /SOLID lzma\nOutFile {name}.exe\nSection\nSetOutPath $INSTDIR\n\
                 File {name}.bin\nSectionEnd\n"
            ),
        )
        .unwrap();
        run(p, &format!("makensis -V1 {name}.nsi"));
    }
    let bad = fs::read(p.join("bad.exe")).unwrap();
    let v = scan(&bad);
    assert_eq!(v.verdict.status, Status::Infected, "{:?}", v.notes);
    // The fallback reader on its own: the script header, then the file, byte for byte.
    use bulwark_containers::fmt::nsis::{solid_blocks, SolidError};
    let blocks = solid_blocks(&bad, 64 << 20).unwrap();
    let file = fs::read(p.join("bad.bin")).unwrap();
    assert_eq!(blocks.len(), 2, "header and one file");
    assert_eq!(blocks[1], file);
    assert_eq!(solid_blocks(&bad, 1 << 20), Err(SolidError::TooLarge));
    assert_eq!(
        solid_blocks(b"MZ no installer", 1 << 20),
        Err(SolidError::NotSolid)
    );
    let v = scan(&fs::read(p.join("good.exe")).unwrap());
    assert_eq!(v.verdict.status, Status::Clean, "{:?}", v.notes);
    let small = DeepOptions {
        limits: Limits {
            max_total_bytes: 4 << 20,
            ..Limits::default()
        },
        ..DeepOptions::default()
    };
    let v = scan_with(db(), &bad, small);
    assert_eq!(v.verdict.status, Status::LimitsExceeded, "{:?}", v.notes);
}
