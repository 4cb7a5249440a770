//! A database that would scan and find nothing is refused at load (issue 15, SPEC F-ENG-1):
//! an empty directory, a directory without ClamAV files, a random-bytes `daily.hdb`, a file of
//! only malformed lines, a database whose files load no signature. Malformed lines are reported
//! with their numbers; `lenient` (for `bulwark db info`) reports instead of failing.

use std::path::{Path, PathBuf};

use bulwark_engine::{Database, LoadError, LoadOptions, MALFORMED_LINES_KEPT};

const EICAR_MD5_LINE: &str = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature.HDB\n";

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write");
    p
}

fn load(paths: &[PathBuf]) -> Result<Database, LoadError> {
    Database::load(paths, &LoadOptions::default()).map(|(db, _)| db)
}

/// Deterministic bytes that are not text (xorshift).
fn random_bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn an_empty_directory_is_refused() {
    let d = tempfile::tempdir().expect("tempdir");
    match load(&[d.path().to_path_buf()]) {
        Err(LoadError::NoSignatureFiles { dir }) => {
            assert!(dir.contains(d.path().file_name().and_then(|n| n.to_str()).unwrap_or("?")))
        }
        other => panic!("expected NoSignatureFiles, got {other:?}"),
    }
}

#[test]
fn a_directory_of_other_files_is_refused() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "README.txt", b"not signatures\n");
    write(d.path(), "freshclam.dat", &random_bytes(300));
    let e = load(&[d.path().to_path_buf()]).expect_err("no ClamAV file");
    assert!(matches!(e, LoadError::NoSignatureFiles { .. }), "{e}");
    assert!(e.to_string().contains("no ClamAV signature file"), "{e}");
}

#[test]
fn a_random_bytes_hdb_is_refused_with_its_first_line() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "daily.hdb", &random_bytes(4096));
    let e = load(&[d.path().to_path_buf()]).expect_err("random bytes");
    match &e {
        LoadError::UnusableFile {
            path,
            malformed,
            first,
        } => {
            assert!(path.ends_with("daily.hdb"), "{path}");
            assert!(*malformed > 0);
            assert!(first.starts_with("line "), "{first}");
        }
        other => panic!("expected UnusableFile, got {other:?}"),
    }
    // Next to a good file, the bad one still refuses the whole database (as a reload must).
    write(d.path(), "good.hdb", EICAR_MD5_LINE.as_bytes());
    let e = load(&[d.path().to_path_buf()]).expect_err("one bad file");
    assert!(matches!(e, LoadError::UnusableFile { .. }), "{e}");
}

#[test]
fn a_file_of_malformed_lines_names_file_line_and_reason() {
    let d = tempfile::tempdir().expect("tempdir");
    let p = write(d.path(), "bad.ndb", b"# a comment\n\nNotASig\nAlso:bad\n");
    let e = load(&[p]).expect_err("malformed");
    let text = e.to_string();
    assert!(text.contains("bad.ndb"), "{text}");
    assert!(text.contains("2 malformed line(s)"), "{text}");
    assert!(text.contains("line 3:"), "{text}");
}

#[test]
fn a_database_without_any_signature_is_refused() {
    let d = tempfile::tempdir().expect("tempdir");
    // Comments and blank lines only: nothing malformed, nothing loaded.
    let p = write(d.path(), "empty.hdb", b"# nothing here\n\n");
    let e = load(&[p]).expect_err("no signature");
    assert!(matches!(e, LoadError::NoSignatures { files: 1 }), "{e}");
    assert!(e.to_string().contains("loads no signature"), "{e}");
}

#[test]
fn a_good_file_with_a_few_bad_lines_loads_and_reports_their_numbers() {
    let d = tempfile::tempdir().expect("tempdir");
    let mut text = String::from(EICAR_MD5_LINE);
    for _ in 0..(MALFORMED_LINES_KEPT + 5) {
        text.push_str("zz:1:Broken\n");
    }
    let p = write(d.path(), "mixed.hdb", text.as_bytes());
    let (_, r) = Database::load(&[p], &LoadOptions::default()).expect("loads");
    let f = &r.files[0];
    assert_eq!(f.loaded, 1);
    assert_eq!(
        f.malformed.values().sum::<u64>(),
        (MALFORMED_LINES_KEPT + 5) as u64
    );
    assert_eq!(f.malformed_lines.len(), MALFORMED_LINES_KEPT);
    assert_eq!(f.malformed_lines[0].line, 2);
    assert_eq!(f.malformed_lines[1].line, 3);
    r.check().expect("usable");
}

#[test]
fn lenient_reports_instead_of_failing() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "daily.hdb", &random_bytes(2048));
    let opts = LoadOptions {
        lenient: true,
        ..LoadOptions::default()
    };
    let (_, r) = Database::load(&[d.path().to_path_buf()], &opts).expect("lenient load");
    assert!(r.files[0].unusable());
    assert!(matches!(r.check(), Err(LoadError::UnusableFile { .. })));
}

#[test]
fn skipped_on_purpose_is_not_unusable() {
    // A PUA file with PUA off loads nothing and is not an error while another file loads.
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "main.hdb", EICAR_MD5_LINE.as_bytes());
    write(
        d.path(),
        "pua.hdu",
        b"0123456789abcdef0123456789abcdef:10:PUA.Test\n",
    );
    let (_, r) = Database::load(&[d.path().to_path_buf()], &LoadOptions::default())
        .expect("PUA skipped, main loads");
    let pua = r
        .files
        .iter()
        .find(|f| f.path.ends_with("pua.hdu"))
        .expect("pua file reported");
    assert_eq!(pua.loaded, 0);
    assert!(!pua.unusable());
}
