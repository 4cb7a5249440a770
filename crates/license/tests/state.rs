//! Enforcement: evaluate, backup activation, quota, databases, traffic persistence.

mod common;

use std::cell::Cell;

use bulwark_config::LicenseConfig;
use bulwark_license::cli_ops;
use bulwark_license::{
    Clock, LicenseDir, LicenseError, LicenseState, LicenseStatus, Licensing, ACTIVE_FILE,
    BACKUP_FILE,
};
use common::{Fixture, TestClock, NOW};
use time::macros::{date, datetime};
use time::Duration;

fn config(f: &Fixture) -> LicenseConfig {
    LicenseConfig {
        required: true,
        dir: f.licdir(),
        trusted_keys: vec![f.path("issuer.pub")],
    }
}

#[test]
fn no_key_and_valid_key() {
    let f = Fixture::new();
    let mut lic = Licensing::open(&config(&f)).unwrap();
    assert_eq!(lic.check(NOW), LicenseStatus::NoKey);
    assert!(!lic.check(NOW).allows_scanning());
    cli_ops::add(&f.licdir(), &f.good("a.key", "A"), &f.trusted, NOW).unwrap();
    lic.reload().unwrap();
    let st = lic.check(NOW);
    assert!(st.is_valid() && st.allows_scanning(), "{st}");
    assert_eq!(
        st,
        LicenseStatus::Valid {
            serial: "A".into(),
            expires: date!(2026 - 01 - 01),
            days_left: 305,
            traffic_left: None
        }
    );
}

#[test]
fn backup_activates_when_the_active_key_expires() {
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
    let clock = TestClock(Cell::new(datetime!(2025-03-31 23:59 UTC)));
    let mut lic = Licensing::open(&config(&f)).unwrap();
    assert!(
        matches!(lic.check(clock.now()), LicenseStatus::Valid { ref serial, .. } if serial == "A")
    );
    assert_eq!(lic.take_promotion(), None);
    // No warning: a backup is installed.
    assert_eq!(lic.expiring_soon(clock.now()), None);
    clock.0.set(clock.now() + Duration::minutes(1));
    let st = lic.check(clock.now());
    assert!(
        matches!(st, LicenseStatus::Valid { ref serial, .. } if serial == "B"),
        "{st}"
    );
    let p = lic.take_promotion().unwrap();
    assert_eq!(
        (p.expired_serial.as_deref(), p.new_serial.as_str()),
        (Some("A"), "B")
    );
    assert_eq!(lic.take_promotion(), None);
    // The move reaches the disk on save and survives a restart.
    lic.save().unwrap();
    assert!(!dir.join(BACKUP_FILE).exists());
    assert_eq!(
        std::fs::read(dir.join(ACTIVE_FILE)).unwrap(),
        std::fs::read(f.path("b.key")).unwrap()
    );
    let mut again = Licensing::open(&config(&f)).unwrap();
    assert!(
        matches!(again.check(clock.now()), LicenseStatus::Valid { ref serial, .. } if serial == "B")
    );
    assert!(again.state().backup().is_none());
}

#[test]
fn expired_without_backup_keeps_old_databases_only() {
    let f = Fixture::new();
    let dir = f.licdir();
    cli_ops::add(
        &dir,
        &f.issue("a.key", "A", date!(2025 - 01 - 01), 90, None),
        &f.trusted,
        NOW,
    )
    .unwrap();
    let mut state = LicenseState::load(&LicenseDir::new(&dir), &f.trusted).unwrap();
    assert_eq!(state.expiring_soon(datetime!(2025-03-17 12:00 UTC)), None); // 14 days left
    assert_eq!(
        state.expiring_soon(datetime!(2025-03-18 12:00 UTC)),
        Some(13)
    );
    assert_eq!(
        state.expiring_soon(datetime!(2025-03-31 12:00 UTC)),
        Some(0)
    );
    let later = datetime!(2025-05-01 00:00 UTC);
    let st = state.evaluate(later);
    assert_eq!(
        st,
        LicenseStatus::Expired {
            serial: "A".into(),
            expired_on: date!(2025 - 04 - 01)
        }
    );
    assert!(st.allows_scanning() && !st.is_valid());
    assert_eq!(state.expiring_soon(later), None);
    assert!(state.allows_database(datetime!(2025-03-31 23:00 UTC)));
    assert!(!state.allows_database(datetime!(2025-04-01 00:00 UTC)));
    assert!(!state.allows_database(later));
    // A backup that is itself expired does not take over.
    std::fs::copy(
        f.issue("b.key", "B", date!(2025 - 01 - 01), 100, None),
        dir.join(BACKUP_FILE),
    )
    .unwrap();
    let mut state = LicenseState::load(&LicenseDir::new(&dir), &f.trusted).unwrap();
    assert!(matches!(
        state.evaluate(later),
        LicenseStatus::Expired { .. }
    ));
    assert!(state.take_promotion().is_none());
}

#[test]
fn not_yet_valid_and_invalid_installed_keys() {
    let f = Fixture::new();
    let dir = f.licdir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        f.issue("a.key", "A", date!(2025 - 06 - 01), 30, None),
        dir.join(ACTIVE_FILE),
    )
    .unwrap();
    let mut lic = Licensing::open(&config(&f)).unwrap();
    assert_eq!(
        lic.check(NOW),
        LicenseStatus::NotYetValid {
            serial: "A".into(),
            valid_from: date!(2025 - 06 - 01)
        }
    );
    assert!(!lic.check(NOW).allows_scanning());
    // An installed key that was edited is invalid, and the reason says why.
    let text = common::read(&dir.join(ACTIVE_FILE)).replace("Seats: 50", "Seats: 51");
    std::fs::write(dir.join(ACTIVE_FILE), text).unwrap();
    lic.reload().unwrap();
    match lic.check(NOW) {
        LicenseStatus::Invalid { reason } => assert!(reason.contains("tampered"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(!lic.allows_database(NOW - Duration::days(365)));
    // A key from another issuer is invalid too.
    let other = Fixture::new();
    std::fs::copy(other.good("o.key", "O"), dir.join(ACTIVE_FILE)).unwrap();
    lic.reload().unwrap();
    assert!(
        matches!(lic.check(NOW), LicenseStatus::Invalid { ref reason } if reason.contains("not a trusted issuer"))
    );
}

#[test]
fn quota_is_exhausted_and_resets_the_next_day() {
    let f = Fixture::new();
    cli_ops::add(
        &f.licdir(),
        &f.issue("a.key", "A", date!(2025 - 01 - 01), 365, Some(10)),
        &f.trusted,
        NOW,
    )
    .unwrap();
    let mut lic = Licensing::open(&config(&f)).unwrap();
    let mb = 1024 * 1024;
    lic.record_traffic(4 * mb, NOW);
    assert!(
        matches!(lic.check(NOW), LicenseStatus::Valid { traffic_left: Some(l), .. } if l == 6 * mb)
    );
    lic.record_traffic(6 * mb - 1, NOW);
    assert!(lic.check(NOW).is_valid());
    lic.record_traffic(1, NOW);
    let st = lic.check(NOW);
    assert_eq!(
        st,
        LicenseStatus::QuotaExhausted {
            serial: "A".into(),
            quota_mb: 10,
            used: 10 * mb
        }
    );
    assert!(!st.allows_scanning());
    assert!(st.to_string().contains("quota exhausted"));
    let tomorrow = NOW + Duration::days(1);
    assert!(
        matches!(lic.check(tomorrow), LicenseStatus::Valid { traffic_left: Some(l), .. } if l == 10 * mb)
    );
    lic.record_traffic(mb, tomorrow);
    assert_eq!(lic.state().traffic_used(tomorrow), mb);
}

#[test]
fn traffic_survives_a_reopen() {
    let f = Fixture::new();
    cli_ops::add(
        &f.licdir(),
        &f.issue("a.key", "A", date!(2025 - 01 - 01), 365, Some(10)),
        &f.trusted,
        NOW,
    )
    .unwrap();
    let mut lic = Licensing::open(&config(&f)).unwrap();
    lic.record_traffic(3_000_000, NOW);
    lic.record_traffic(2_000_000, NOW + Duration::hours(1));
    drop(lic); // not saved: lost
    let mut lic = Licensing::open(&config(&f)).unwrap();
    assert_eq!(lic.state().traffic_used(NOW), 0);
    lic.record_traffic(3_000_000, NOW);
    lic.save().unwrap();
    lic.save().unwrap(); // nothing new: no error
    let lic = Licensing::open(&config(&f)).unwrap();
    assert_eq!(lic.state().traffic_used(NOW), 3_000_000);
    assert_eq!(lic.state().traffic_used(NOW + Duration::days(1)), 0);
    let text = common::read(&f.licdir().join("traffic"));
    assert_eq!(text, "Day: 2025-03-01\nBytes: 3000000\n");
    // A damaged counter is reported, not silently reset.
    std::fs::write(f.licdir().join("traffic"), "Day: yesterday\n").unwrap();
    let e = Licensing::open(&config(&f)).unwrap_err();
    assert!(matches!(e, LicenseError::Traffic { .. }), "{e}");
}

#[test]
fn open_checks_the_configuration() {
    let f = Fixture::new();
    let mut cfg = config(&f);
    cfg.trusted_keys.clear();
    assert!(matches!(
        Licensing::open(&cfg),
        Err(LicenseError::NoTrustedKeys)
    ));
    cfg.required = false;
    let mut lic = Licensing::open(&cfg).unwrap();
    assert!(!lic.required());
    assert_eq!(lic.check(NOW), LicenseStatus::NoKey);
    cfg.trusted_keys = vec![f.path("missing.pub")];
    assert!(matches!(Licensing::open(&cfg), Err(LicenseError::Key(_))));
}

#[test]
fn config_defaults_and_license_table() {
    let d = LicenseConfig::default();
    assert!(!d.required);
    assert_eq!(d.dir, std::path::PathBuf::from("/var/lib/bulwark/license"));
    let f = Fixture::new();
    let p = f.path("bulwark.toml");
    std::fs::write(&p, "[server]\nlisten = [\"127.0.0.1:1344\"]\n").unwrap();
    assert_eq!(bulwark_license::license_config_from_file(&p).unwrap(), d);
    std::fs::write(&p, "[server]\nx = 1\n[license]\nrequired = true\ndir = \"/tmp/l\"\ntrusted_keys = [\"/etc/bulwark/issuer.pub\"]\n").unwrap();
    let c = bulwark_license::license_config_from_file(&p).unwrap();
    assert!(c.required);
    assert_eq!(c.dir, std::path::PathBuf::from("/tmp/l"));
    assert_eq!(c.trusted_keys.len(), 1);
    std::fs::write(&p, "[license]\nrequierd = true\n").unwrap();
    let e = bulwark_license::license_config_from_file(&p).unwrap_err();
    assert!(e.to_string().contains("requierd"), "{e}");
}
