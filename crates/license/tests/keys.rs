//! The issuer key-pair files.

mod common;

use bulwark_license::keys::{self, key_id, public_path, read_public, read_secret, write_pair};
use bulwark_license::KeyError;

#[test]
fn pair_round_trips_and_public_matches_secret() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("k");
    let key = keys::generate().unwrap();
    write_pair(&prefix, &key).unwrap();
    let secret = read_secret(&prefix).unwrap();
    let public = read_public(&public_path(&prefix)).unwrap();
    assert_eq!(secret.to_bytes(), key.to_bytes());
    assert_eq!(public, key.verifying_key());
    let text = common::read(&public_path(&prefix));
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
    write_pair(&prefix, &keys::generate().unwrap()).unwrap();
    let mode = std::fs::metadata(&prefix).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("k");
    write_pair(&prefix, &keys::generate().unwrap()).unwrap();
    let err = write_pair(&prefix, &keys::generate().unwrap()).unwrap_err();
    assert!(matches!(err, KeyError::Exists { .. }), "{err}");
}

#[test]
fn bad_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("k");
    write_pair(&prefix, &keys::generate().unwrap()).unwrap();
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
