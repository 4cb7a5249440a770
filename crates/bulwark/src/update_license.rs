//! The licence check of database updates: `bulwark_update::LicenseGate` over
//! `bulwark_license::Licensing` (the update crate reads no licence itself). An update runs
//! when the licence is valid, or expired (databases published before its end), or its daily
//! quota is used up; any other state refuses it with exit code 60.

use std::sync::Arc;

use bulwark_config::LicenseConfig;
use bulwark_license::{LicenseStatus, Licensing, OffsetDateTime};
use bulwark_update::{DatabaseAllowance, LicenseGate, LicenseRefused};

/// The gate for `[license]`: `None` (no check) unless the licence is required.
pub fn gate(cfg: &LicenseConfig) -> Option<Arc<dyn LicenseGate>> {
    cfg.required
        .then(|| Arc::new(RequiredLicense(cfg.clone())) as Arc<dyn LicenseGate>)
}

/// `[license] required = true`: the licence directory is read at the start of every run.
#[derive(Debug)]
struct RequiredLicense(LicenseConfig);

impl LicenseGate for RequiredLicense {
    fn open(&self) -> Result<Box<dyn DatabaseAllowance>, LicenseRefused> {
        let mut licensing = Licensing::open(&self.0).map_err(|e| LicenseRefused(e.to_string()))?;
        match licensing.check(OffsetDateTime::now_utc()) {
            LicenseStatus::Valid { .. }
            | LicenseStatus::Expired { .. }
            | LicenseStatus::QuotaExhausted { .. } => Ok(Box::new(Allowance(licensing))),
            other => Err(LicenseRefused(other.to_string())),
        }
    }
}

/// The licence read for one run.
struct Allowance(Licensing);

impl DatabaseAllowance for Allowance {
    fn allows_database(&self, published: OffsetDateTime) -> bool {
        self.0.allows_database(published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_license::cli_ops::{self, IssueOptions};

    #[test]
    fn only_a_required_licence_is_checked() {
        assert!(gate(&LicenseConfig::default()).is_none());
    }

    #[test]
    fn no_key_refuses_and_a_valid_key_allows_databases_until_it_expires() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path();
        cli_ops::keygen(&d.join("issuer")).expect("keygen");
        let cfg = LicenseConfig {
            required: true,
            dir: d.join("license"),
            trusted_keys: vec![d.join("issuer.pub")],
        };
        let gate = gate(&cfg).expect("required");
        let refused = gate.open().err().expect("no key installed");
        assert!(refused.to_string().contains("no licence key"), "{refused}");

        let now = OffsetDateTime::now_utc();
        let mut o = IssueOptions::new(d.join("issuer"), d.join("k.key"));
        o.days = 30;
        cli_ops::issue(&o, now).expect("issue");
        cli_ops::add(&cfg.dir, &d.join("k.key"), &trusted(d), now).expect("add");
        let allowance = gate.open().expect("a valid key");
        assert!(allowance.allows_database(now));
        assert!(!allowance.allows_database(now + time_days(31)));
    }

    fn trusted(d: &std::path::Path) -> Vec<bulwark_license::VerifyingKey> {
        bulwark_license::load_trusted(&[d.join("issuer.pub")]).expect("trusted key")
    }

    fn time_days(n: i64) -> std::time::Duration {
        std::time::Duration::from_secs(n as u64 * 86_400)
    }
}
