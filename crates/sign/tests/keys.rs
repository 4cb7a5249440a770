//! The key-pair files (moved here from bulwark-license, whose issuers use them, as do the
//! signers of update indexes).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use bulwark_sign::{
    key_id, public_path, read_public, read_secret, read_trusted, write_pair, KeyError, SigningKey,
};

fn read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn pair_round_trips_and_public_matches_secret() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("k");
    let key = bulwark_sign::generate().unwrap();
    write_pair(&prefix, &key).unwrap();
    let secret = read_secret(&prefix).unwrap();
    let public = read_public(&public_path(&prefix)).unwrap();
    assert_eq!(secret.to_bytes(), key.to_bytes());
    assert_eq!(public, key.verifying_key());
    let text = read(&public_path(&prefix));
    assert!(
        text.starts_with("bulwark-ed25519-public-key-v1\n"),
        "{text}"
    );
    assert!(text.contains(&key_id(&public)));
    assert_eq!(key_id(&public).len(), 16);
}

#[cfg(unix)]
#[test]
fn secret_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("k");
    write_pair(&prefix, &bulwark_sign::generate().unwrap()).unwrap();
    let mode = std::fs::metadata(&prefix).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("k");
    write_pair(&prefix, &bulwark_sign::generate().unwrap()).unwrap();
    let err = write_pair(&prefix, &bulwark_sign::generate().unwrap()).unwrap_err();
    assert!(matches!(err, KeyError::Exists { .. }), "{err}");
}

#[test]
fn bad_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("k");
    write_pair(&prefix, &bulwark_sign::generate().unwrap()).unwrap();
    // A secret file is not a public one, and vice versa.
    let e = read_public(&prefix).unwrap_err();
    assert!(
        e.to_string()
            .contains("expected `bulwark-ed25519-public-key-v1`"),
        "{e}"
    );
    assert!(read_secret(&public_path(&prefix)).is_err());
    let bad = dir.path().join("bad");
    std::fs::write(&bad, "bulwark-ed25519-public-key-v1\nnot*base64\n").unwrap();
    assert!(read_public(&bad)
        .unwrap_err()
        .to_string()
        .contains("bad base64"));
    std::fs::write(&bad, "bulwark-ed25519-public-key-v1\nAAAA\n").unwrap();
    assert!(read_public(&bad)
        .unwrap_err()
        .to_string()
        .contains("3 bytes, expected 32"));
    std::fs::write(&bad, "hello\n").unwrap();
    assert!(read_public(&bad).is_err());
    let e = read_public(&dir.path().join("missing")).unwrap_err();
    assert!(matches!(e, KeyError::Io { .. }));
}

/// The files `write_pair` wrote before this crate existed (bulwark-license's key module, seed
/// 0x11 × 32): the format is unchanged, and they still read back.
#[test]
fn existing_key_files_keep_their_format() {
    const SECRET: &str = "bulwark-ed25519-secret-key-v1\n# key id 10ba682c8ad13513: keep this file private\nERERERERERERERERERERERERERERERERERERERERERE=\n";
    const PUBLIC: &str = "bulwark-ed25519-public-key-v1\n# key id 10ba682c8ad13513\n0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc=\n";
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("golden");
    let key = SigningKey::from_bytes(&[0x11; 32]);
    write_pair(&prefix, &key).unwrap();
    assert_eq!(read(&prefix), SECRET);
    assert_eq!(read(&public_path(&prefix)), PUBLIC);
    let old = dir.path().join("old");
    std::fs::write(&old, SECRET).unwrap();
    std::fs::write(public_path(&old), PUBLIC).unwrap();
    assert_eq!(read_secret(&old).unwrap().to_bytes(), key.to_bytes());
    let trusted = read_trusted(&[public_path(&old)]).unwrap();
    assert_eq!(trusted, vec![key.verifying_key()]);
    assert_eq!(key_id(&trusted[0]), "10ba682c8ad13513");
    assert_eq!(
        bulwark_sign::find_key(&trusted, "10ba682c8ad13513"),
        Some(&trusted[0])
    );
    assert!(bulwark_sign::find_key(&trusted, "0000000000000000").is_none());
    assert!(matches!(
        read_trusted(&[public_path(&old), dir.path().join("missing.pub")]),
        Err(KeyError::Io { .. })
    ));
}
