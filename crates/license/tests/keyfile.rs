//! The signed key-file format.

mod common;

use bulwark_license::{LicenseError, LicenseType, SignedKey};
use common::{Fixture, NOW};
use time::macros::{date, datetime};

#[test]
fn issued_key_parses_and_verifies() {
    let f = Fixture::new();
    let p = f.issue(
        "k.key",
        "0001-000001-00000001",
        date!(2025 - 01 - 01),
        365,
        Some(500),
    );
    let text = common::read(&p);
    assert!(
        text.starts_with("Bulwark-License: 1\nProduct: Bulwark Anti-Virus ICAP Server\n"),
        "{text}"
    );
    assert!(
        text.contains("\nLifespan: 365\nCreated: 2025-01-01\nExpires: 2026-01-01\n"),
        "{text}"
    );
    assert!(text.contains("\nTraffic-Per-Day-MB: 500\n"));
    let k = SignedKey::load(text.as_bytes(), &f.trusted).unwrap();
    let k = k.key();
    assert_eq!(k.serial, "0001-000001-00000001");
    assert_eq!(k.seats, 50);
    assert_eq!(k.license_type, LicenseType::Commercial);
    assert_eq!(k.quota_bytes(), Some(500 * 1024 * 1024));
    assert_eq!(k.issuer, bulwark_sign::key_id(&f.trusted[0]));
    assert!(k.check_dates(NOW).is_ok());
}

#[test]
fn tampered_body_is_refused() {
    let f = Fixture::new();
    let text = common::read(&f.good("k.key", "S1"));
    let forged = text.replace("Seats: 50", "Seats: 5000");
    let e = SignedKey::load(forged.as_bytes(), &f.trusted).unwrap_err();
    assert!(matches!(e, LicenseError::Tampered { .. }), "{e}");
    assert!(e.to_string().contains("tampered"), "{e}");
    let forged = text
        .replace("Expires: 2026-01-01\n", "Expires: 2027-01-01\n")
        .replace("Lifespan: 365", "Lifespan: 730");
    assert!(matches!(
        SignedKey::load(forged.as_bytes(), &f.trusted),
        Err(LicenseError::Tampered { .. })
    ));
}

#[test]
fn wrong_issuer_and_no_trusted_keys_are_refused() {
    let f = Fixture::new();
    let other = Fixture::new();
    let bytes = std::fs::read(f.good("k.key", "S1")).unwrap();
    let e = SignedKey::load(&bytes, &other.trusted).unwrap_err();
    assert!(matches!(e, LicenseError::WrongIssuer { .. }), "{e}");
    assert!(e.to_string().contains("not a trusted issuer"), "{e}");
    // Two trusted issuers: the right one is found.
    let both = [other.trusted[0], f.trusted[0]];
    assert!(SignedKey::load(&bytes, &both).is_ok());
    let e = SignedKey::load(&bytes, &[]).unwrap_err();
    assert!(matches!(e, LicenseError::NoTrustedKeys), "{e}");
}

#[test]
fn dates_are_checked() {
    let f = Fixture::new();
    let bytes = std::fs::read(f.issue("k.key", "S1", date!(2025 - 01 - 01), 30, None)).unwrap();
    let k = SignedKey::load(&bytes, &f.trusted).unwrap();
    let k = k.key();
    assert!(k.check_dates(datetime!(2025-01-01 00:00 UTC)).is_ok());
    assert!(k.check_dates(datetime!(2025-01-30 23:59 UTC)).is_ok());
    assert_eq!(k.days_left(datetime!(2025-01-30 23:59 UTC)), 0);
    let e = k.check_dates(datetime!(2025-01-31 00:00 UTC)).unwrap_err();
    assert!(matches!(e, LicenseError::Expired { .. }));
    assert_eq!(e.to_string(), "licence key S1 expired on 2025-01-31");
    let e = k.check_dates(datetime!(2024-12-31 23:59 UTC)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "licence key S1 is not valid before 2025-01-01"
    );
}

#[test]
fn malformed_files_are_refused_with_a_line() {
    let f = Fixture::new();
    let text = common::read(&f.good("k.key", "S1"));
    let cases = [
        (text.replace('\n', "\r\n"), "CRLF"),
        (text.replace("Signature: ", "Sig: "), "no `Signature:` line"),
        (text.replace("Seats: 50\n", ""), "missing field `Seats`"),
        (
            text.replace("Seats: 50\n", "Seats: 50\nColour: blue\n"),
            "unknown field `Colour`",
        ),
        (
            text.replace("Seats: 50\n", "Seats: 50\nSeats: 50\n"),
            "duplicate field",
        ),
        (
            text.replace("Lifespan: 365", "Lifespan: 366"),
            "does not match",
        ),
        (
            text.replace("Bulwark-License: 1", "Bulwark-License: 2"),
            "unsupported format",
        ),
        (format!("{text}extra\n"), "after the `Signature:` line"),
        ("".to_string(), "no `Signature:` line"),
    ];
    for (bad, want) in cases {
        let e = SignedKey::parse(bad.as_bytes()).unwrap_err();
        assert!(matches!(e, LicenseError::Malformed { .. }), "{e}");
        assert!(e.to_string().contains(want), "{e} should mention {want}");
    }
    assert!(SignedKey::parse(&[0xff, 0xfe]).is_err());
}

#[test]
fn bad_signature_encoding_is_malformed() {
    let f = Fixture::new();
    let text = common::read(&f.good("k.key", "S1"));
    let i = text.find("Signature: ").unwrap();
    let bad = format!("{}Signature: AAAA\n", &text[..i]);
    let e = SignedKey::parse(bad.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("line 10"), "{e}");
}

#[test]
fn a_genuine_key_for_another_product_is_refused() {
    let f = Fixture::new();
    let mut o = bulwark_license::cli_ops::IssueOptions::new(f.issuer(), f.path("other.key"));
    o.product = Some("Bulwark Mail Gateway".into());
    bulwark_license::cli_ops::issue(&o, NOW).expect("issue");
    let bytes = std::fs::read(f.path("other.key")).expect("read");
    let e = SignedKey::load(&bytes, &f.trusted).unwrap_err();
    assert!(matches!(e, LicenseError::WrongProduct { .. }), "{e}");
    assert!(e.to_string().contains("Bulwark Mail Gateway"), "{e}");
}

/// A key file issued before licence keys moved onto `bulwark-sign` (issuer seed 0x11 × 32):
/// it still parses and verifies (strictly), and issuing the same terms today writes the same
/// bytes.
#[test]
fn an_existing_key_file_still_verifies_and_is_reissued_identically() {
    const OLD: &str = "Bulwark-License: 1\nProduct: Bulwark Anti-Virus ICAP Server\nType: commercial\n\
        Serial: 0001-000001-00000001\nSeats: 50\nLifespan: 365\nCreated: 2025-01-01\n\
        Expires: 2026-01-01\nTraffic-Per-Day-MB: 500\nIssuer: 10ba682c8ad13513\n\
        Signature: iTxjO53ZMUERrXi+Bl1VNn5qu7MUQqjiL7bof7W1uHv1bYIm6bDuFTmb7TA6o0iRfCgnGdQ96j2AQbvprgZpBQ==\n";
    let issuer = bulwark_sign::SigningKey::from_bytes(&[0x11; 32]);
    let trusted = [issuer.verifying_key()];
    let k = SignedKey::load(OLD.as_bytes(), &trusted).unwrap();
    assert_eq!(k.key().serial, "0001-000001-00000001");
    assert_eq!(k.key().issuer, "10ba682c8ad13513");
    let again = k.key().clone().sign(&issuer).unwrap();
    assert_eq!(again.bytes(), OLD.as_bytes());
    // Hand-copied endings are still accepted.
    let trailing = format!("{OLD}\n\n");
    assert!(SignedKey::load(trailing.as_bytes(), &trusted).is_ok());
    assert!(SignedKey::load(OLD.trim_end().as_bytes(), &trusted).is_ok());
}

#[test]
fn dates_and_types_have_typed_errors() {
    let e = bulwark_license::parse_date("2025-13-01").unwrap_err();
    assert_eq!(e.text, "2025-13-01");
    assert!(
        e.to_string()
            .starts_with("bad date `2025-13-01` (expected YYYY-MM-DD): "),
        "{e}"
    );
    let e = "gratis".parse::<LicenseType>().unwrap_err();
    assert_eq!(e, bulwark_license::LicenseTypeError("gratis".into()));
    assert_eq!(
        e.to_string(),
        "unknown licence type `gratis` (commercial, trial or test)"
    );
    assert_eq!("trial".parse::<LicenseType>(), Ok(LicenseType::Trial));
}
