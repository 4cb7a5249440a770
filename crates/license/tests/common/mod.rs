//! Shared helpers: an issuer key pair in a temporary directory and keys issued with it.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::cell::Cell;
use std::path::{Path, PathBuf};

use bulwark_license::cli_ops::{self, IssueOptions};
use bulwark_license::Clock;
use bulwark_sign::VerifyingKey;
use tempfile::TempDir;
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

/// 2025-03-01 12:00 UTC, the "today" of most tests.
pub const NOW: OffsetDateTime = datetime!(2025-03-01 12:00 UTC);

/// A clock the test moves by hand.
pub struct TestClock(pub Cell<OffsetDateTime>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        self.0.get()
    }
}

/// A temporary workspace with one issuer key pair (`issuer`, `issuer.pub`).
pub struct Fixture {
    pub tmp: TempDir,
    pub trusted: Vec<VerifyingKey>,
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let prefix = tmp.path().join("issuer");
        cli_ops::keygen(&prefix).unwrap();
        let trusted = vec![bulwark_sign::read_public(&bulwark_sign::public_path(&prefix)).unwrap()];
        Fixture { tmp, trusted }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn issuer(&self) -> PathBuf {
        self.path("issuer")
    }

    pub fn licdir(&self) -> PathBuf {
        self.path("license")
    }

    /// Issues `name` with serial `serial`, valid `days` from `from`.
    pub fn issue(
        &self,
        name: &str,
        serial: &str,
        from: Date,
        days: u32,
        traffic: Option<u64>,
    ) -> PathBuf {
        let out = self.path(name);
        let mut o = IssueOptions::new(self.issuer(), &out);
        o.serial = Some(serial.into());
        o.days = days;
        o.seats = 50;
        o.traffic_mb = traffic;
        o.not_before = Some(from);
        cli_ops::issue(&o, NOW).unwrap();
        out
    }

    /// A key valid 2025-01-01 .. 2026-01-01.
    pub fn good(&self, name: &str, serial: &str) -> PathBuf {
        self.issue(name, serial, date!(2025 - 01 - 01), 365, None)
    }
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}
