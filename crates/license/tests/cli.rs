//! The licence-manager commands (`cli_ops`).

mod common;

use bulwark_license::cli_ops::{self, IssueOptions};
use bulwark_license::{LicenseError, LicenseType, ACTIVE_FILE, BACKUP_FILE};
use common::{Fixture, NOW};
use time::macros::date;

#[test]
fn keygen_writes_a_pair_and_refuses_to_overwrite() {
    let f = Fixture::new();
    let out = cli_ops::keygen(&f.path("second")).unwrap();
    assert!(
        out.contains("Public key: ") && out.contains("second.pub"),
        "{out}"
    );
    assert!(f.path("second.pub").exists());
    assert!(cli_ops::keygen(&f.path("second")).is_err());
}

#[test]
fn issue_applies_options() {
    let f = Fixture::new();
    let mut o = IssueOptions::new(f.issuer(), f.path("t.key"));
    o.license_type = LicenseType::Trial;
    o.days = 30;
    o.traffic_mb = Some(250);
    o.product = Some("Bulwark test".into());
    let out = cli_ops::issue(&o, NOW).unwrap();
    assert!(out.contains("Key type            : trial"), "{out}");
    assert!(out.contains("Creation date       : 2025-03-01"), "{out}");
    assert!(out.contains("Expiration date     : 2025-03-31"), "{out}");
    assert!(out.contains("Traffic per day     : 250 MB"), "{out}");
    // A random serial in the seed's XXXX-XXXXXX-XXXXXXXX shape.
    let text = common::read(&f.path("t.key"));
    let serial = text
        .lines()
        .find_map(|l| l.strip_prefix("Serial: "))
        .unwrap();
    assert_eq!(serial.len(), 20, "{serial}");
    o.days = 0;
    assert!(cli_ops::issue(&o, NOW).is_err());
    o.days = 1;
    o.serial = Some("bad serial\n".into());
    assert!(matches!(
        cli_ops::issue(&o, NOW),
        Err(LicenseError::Invalid(_))
    ));
    o.issuer_key = f.path("issuer.pub");
    assert!(cli_ops::issue(&o, NOW).is_err(), "a public key cannot sign");
}

#[test]
fn info_shows_a_valid_key() {
    let f = Fixture::new();
    let k = f.issue(
        "k.key",
        "0001-000001-00000001",
        date!(2025 - 01 - 01),
        365,
        Some(500),
    );
    let out = cli_ops::info(&k, &f.trusted, NOW).unwrap();
    for want in [
        "Serial number       : 0001-000001-00000001",
        "Seats               : 50",
        "Lifespan            : 365 days",
        "Expiration date     : 2026-01-01",
        "Traffic per day     : 500 MB",
        "Key status          : valid (305 days left)",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

/// Each bad key is refused by `info` and `add` with its own error.
#[test]
fn info_and_add_refuse_bad_keys() {
    let f = Fixture::new();
    let other = Fixture::new();
    let expired = f.issue("old.key", "OLD", date!(2024 - 01 - 01), 30, None);
    let future = f.issue("new.key", "NEW", date!(2025 - 06 - 01), 30, None);
    let foreign = other.good("foreign.key", "FOREIGN");
    let tampered = f.path("tampered.key");
    let text = common::read(&f.good("good.key", "GOOD"));
    std::fs::write(&tampered, text.replace("Seats: 50", "Seats: 99")).unwrap();
    let cases: [(&std::path::Path, &str); 4] = [
        (&expired, "licence key OLD expired on 2024-01-31"),
        (&future, "licence key NEW is not valid before 2025-06-01"),
        (&foreign, "not a trusted issuer"),
        (&tampered, "tampered with"),
    ];
    for (file, want) in cases {
        let e = cli_ops::info(file, &f.trusted, NOW).unwrap_err();
        assert!(e.to_string().contains(want), "info: {e}");
        let e = cli_ops::add(&f.licdir(), file, &f.trusted, NOW).unwrap_err();
        assert!(e.to_string().contains(want), "add: {e}");
    }
    assert!(!f.licdir().join(ACTIVE_FILE).exists());
    let e = cli_ops::info(&f.path("missing.key"), &f.trusted, NOW).unwrap_err();
    assert!(matches!(e, LicenseError::Io { .. }));
    let huge = f.path("huge.key");
    std::fs::write(&huge, vec![b'a'; 100_000]).unwrap();
    let e = cli_ops::info(&huge, &f.trusted, NOW).unwrap_err();
    assert!(e.to_string().contains("not a licence file"), "{e}");
    let e = cli_ops::info(&f.path("good.key"), &[], NOW).unwrap_err();
    assert!(matches!(e, LicenseError::NoTrustedKeys));
}

#[test]
fn add_fills_active_then_backup_then_refuses() {
    let f = Fixture::new();
    let dir = f.licdir();
    let (a, b, c) = (
        f.good("a.key", "A"),
        f.good("b.key", "B"),
        f.good("c.key", "C"),
    );
    let out = cli_ops::add(&dir, &a, &f.trusted, NOW).unwrap();
    assert!(out.contains("installed as the active key"), "{out}");
    let e = cli_ops::add(&dir, &a, &f.trusted, NOW).unwrap_err();
    assert!(matches!(e, LicenseError::AlreadyInstalled { .. }), "{e}");
    let out = cli_ops::add(&dir, &b, &f.trusted, NOW).unwrap();
    assert!(out.contains("installed as the backup key"), "{out}");
    let e = cli_ops::add(&dir, &c, &f.trusted, NOW).unwrap_err();
    assert!(matches!(e, LicenseError::BackupTaken), "{e}");
    // Installed files are the exact bytes of the key files.
    assert_eq!(
        std::fs::read(dir.join(ACTIVE_FILE)).unwrap(),
        std::fs::read(&a).unwrap()
    );
    assert_eq!(
        std::fs::read(dir.join(BACKUP_FILE)).unwrap(),
        std::fs::read(&b).unwrap()
    );
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn remove_active_promotes_the_backup_and_remove_backup_empties_it() {
    let f = Fixture::new();
    let dir = f.licdir();
    let e = cli_ops::remove_active(&dir).unwrap_err();
    assert_eq!(e.to_string(), "there is no active key to remove");
    assert!(cli_ops::remove_backup(&dir).is_err());
    cli_ops::add(&dir, &f.good("a.key", "A"), &f.trusted, NOW).unwrap();
    cli_ops::add(&dir, &f.good("b.key", "B"), &f.trusted, NOW).unwrap();
    let out = cli_ops::remove_active(&dir).unwrap();
    assert_eq!(
        out,
        "Active key A removed.\nBackup key B is now the active key.\n"
    );
    let show = cli_ops::show(&dir, &f.trusted, NOW).unwrap();
    assert!(show.contains("Serial number       : B"), "{show}");
    assert!(
        show.contains("Backup key information:\n    none\n"),
        "{show}"
    );
    cli_ops::add(&dir, &f.good("c.key", "C"), &f.trusted, NOW).unwrap();
    assert_eq!(
        cli_ops::remove_backup(&dir).unwrap(),
        "Backup key C removed.\n"
    );
    assert_eq!(
        cli_ops::remove_active(&dir).unwrap(),
        "Active key B removed.\n"
    );
    assert!(!dir.join(ACTIVE_FILE).exists() && !dir.join(BACKUP_FILE).exists());
}

#[test]
fn show_reports_status_and_both_keys() {
    let f = Fixture::new();
    let dir = f.licdir();
    let out = cli_ops::show(&dir, &f.trusted, NOW).unwrap();
    assert!(
        out.starts_with("Licence status: no licence key installed\n"),
        "{out}"
    );
    assert!(out.contains("Active key information:\n    none\n"), "{out}");
    cli_ops::add(
        &dir,
        &f.issue("a.key", "A", date!(2025 - 01 - 01), 65, None),
        &f.trusted,
        NOW,
    )
    .unwrap();
    let out = cli_ops::show(&dir, &f.trusted, NOW).unwrap();
    assert!(
        out.starts_with("Licence status: valid (key A, expires 2025-03-07, 5 days left)\n"),
        "{out}"
    );
    assert!(out.contains("Warning: the licence expires on 2025-03-07 (5 days left) and no backup key is installed."), "{out}");
    cli_ops::add(&dir, &f.good("b.key", "B"), &f.trusted, NOW).unwrap();
    let out = cli_ops::show(&dir, &f.trusted, NOW).unwrap();
    assert!(!out.contains("Warning"), "{out}");
    assert!(
        out.contains("Backup key information:\n    Product"),
        "{out}"
    );
    // Without the trusted key the keys are shown but marked invalid.
    let out = cli_ops::show(&dir, &[], NOW).unwrap();
    assert!(
        out.starts_with("Licence status: invalid: no trusted issuer key"),
        "{out}"
    );
    assert!(
        out.contains("Key status          : invalid: no trusted issuer key"),
        "{out}"
    );
    // A damaged installed key is reported, not fatal.
    std::fs::write(dir.join(BACKUP_FILE), "garbage").unwrap();
    let out = cli_ops::show(&dir, &f.trusted, NOW).unwrap();
    assert!(
        out.contains("Key status          : invalid: not a valid Bulwark licence key"),
        "{out}"
    );
}

#[test]
fn show_after_expiry_reports_the_backup_taking_over() {
    let f = Fixture::new();
    let dir = f.licdir();
    cli_ops::add(
        &dir,
        &f.issue("a.key", "A", date!(2025 - 01 - 01), 90, None),
        &f.trusted,
        NOW,
    )
    .unwrap();
    cli_ops::add(&dir, &f.good("b.key", "B"), &f.trusted, NOW).unwrap();
    let later = time::macros::datetime!(2025-04-02 00:00 UTC);
    let out = cli_ops::show(&dir, &f.trusted, later).unwrap();
    assert!(out.starts_with("Licence status: valid (key B"), "{out}");
    assert!(out.contains("backup key B takes over"), "{out}");
}

#[test]
fn traffic_reports_licensed_used_and_left() {
    let f = Fixture::new();
    let dir = f.licdir();
    let out = cli_ops::traffic(&dir, &f.trusted, NOW).unwrap();
    assert!(out.contains("Traffic per day     : no active key"), "{out}");
    cli_ops::add(
        &dir,
        &f.issue("a.key", "A", date!(2025 - 01 - 01), 365, Some(100)),
        &f.trusted,
        NOW,
    )
    .unwrap();
    std::fs::write(dir.join("traffic"), "Day: 2025-03-01\nBytes: 26214400\n").unwrap();
    let out = cli_ops::traffic(&dir, &f.trusted, NOW).unwrap();
    assert_eq!(
        out,
        "    Traffic per day     : 100 MB\n    Used today          : 25.00 MB\n    Left today          : 75.00 MB\n"
    );
    // Yesterday's count does not count today.
    let tomorrow = time::macros::datetime!(2025-03-02 08:00 UTC);
    let out = cli_ops::traffic(&dir, &f.trusted, tomorrow).unwrap();
    assert!(out.contains("Used today          : 0.00 MB"), "{out}");
    cli_ops::remove_active(&dir).unwrap();
    cli_ops::add(&dir, &f.good("b.key", "B"), &f.trusted, NOW).unwrap();
    let out = cli_ops::traffic(&dir, &f.trusted, NOW).unwrap();
    assert!(
        out.contains(
            ": unlimited\n    Used today          : 25.00 MB\n    Left today          : unlimited"
        ),
        "{out}"
    );
}
