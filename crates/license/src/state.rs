//! The installed keys and the traffic counter, and the enforcement logic over them.

use bulwark_sign::VerifyingKey;
use time::OffsetDateTime;

use crate::error::LicenseError;
use crate::keyfile::{LicenseKey, SignedKey};
use crate::status::{LicenseStatus, WARN_DAYS};
use crate::store::{LicenseDir, Slot};
use crate::traffic::TrafficCounter;

/// What a key slot holds.
#[derive(Debug)]
pub enum Installed {
    /// A key whose signature checks against a trusted issuer.
    Verified(SignedKey),
    /// A readable key whose signature does not check (tampered, untrusted issuer, no trusted
    /// key configured).
    Unverified(SignedKey, LicenseError),
    /// A file that is not a key at all.
    Unreadable(LicenseError),
}

impl Installed {
    /// The key's terms when the file could be parsed.
    pub fn key(&self) -> Option<&LicenseKey> {
        match self {
            Installed::Verified(k) | Installed::Unverified(k, _) => Some(k.key()),
            Installed::Unreadable(_) => None,
        }
    }

    /// The verified key, if the slot holds one.
    pub fn verified(&self) -> Option<&LicenseKey> {
        match self {
            Installed::Verified(k) => Some(k.key()),
            _ => None,
        }
    }

    /// Why the key cannot be used, if it cannot.
    pub fn problem(&self) -> Option<&LicenseError> {
        match self {
            Installed::Verified(_) => None,
            Installed::Unverified(_, e) | Installed::Unreadable(e) => Some(e),
        }
    }

    fn read(bytes: &[u8], trusted: &[VerifyingKey]) -> Installed {
        match SignedKey::parse(bytes) {
            Err(e) => Installed::Unreadable(e),
            Ok(k) => match k.verify(trusted) {
                Ok(()) => Installed::Verified(k),
                Err(e) => Installed::Unverified(k, e),
            },
        }
    }
}

/// A backup key took over from an expired active key (reported once by `take_promotion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// Serial of the expired key, if it was readable.
    pub expired_serial: Option<String>,
    /// Serial of the key now active.
    pub new_serial: String,
}

/// The licence directory's contents in memory, with the enforcement logic.
#[derive(Debug)]
pub struct LicenseState {
    dir: LicenseDir,
    active: Option<Installed>,
    backup: Option<Installed>,
    traffic: Option<TrafficCounter>,
    promoted_pending_save: bool,
    traffic_dirty: bool,
    promotion: Option<Promotion>,
}

impl LicenseState {
    /// Reads the keys and the traffic counter of `dir`, checking the keys against `trusted`.
    /// A missing directory is an empty one. Keys that fail their check are kept as
    /// [`Installed::Unverified`] / [`Installed::Unreadable`] so they can be shown.
    pub fn load(dir: &LicenseDir, trusted: &[VerifyingKey]) -> Result<Self, LicenseError> {
        let slot = |s| -> Result<Option<Installed>, LicenseError> {
            Ok(dir.read_slot(s)?.map(|b| Installed::read(&b, trusted)))
        };
        Ok(LicenseState {
            dir: dir.clone(),
            active: slot(Slot::Active)?,
            backup: slot(Slot::Backup)?,
            traffic: TrafficCounter::load(&dir.traffic_path())?,
            promoted_pending_save: false,
            traffic_dirty: false,
            promotion: None,
        })
    }

    /// The licence directory.
    pub fn dir(&self) -> &LicenseDir {
        &self.dir
    }

    /// The active slot.
    pub fn active(&self) -> Option<&Installed> {
        self.active.as_ref()
    }

    /// The backup slot.
    pub fn backup(&self) -> Option<&Installed> {
        self.backup.as_ref()
    }

    /// Evaluates the licence at `now`. When the active key is missing or expired and the
    /// backup is verified and within its dates, the backup becomes the active key (written
    /// to disk by the next [`LicenseState::save`]; reported once by `take_promotion`).
    pub fn evaluate(&mut self, now: OffsetDateTime) -> LicenseStatus {
        self.promote_if_due(now);
        let Some(active) = &self.active else {
            return LicenseStatus::NoKey;
        };
        let key = match active {
            Installed::Verified(k) => k.key(),
            other => {
                let reason = other.problem().map(ToString::to_string).unwrap_or_default();
                return LicenseStatus::Invalid { reason };
            }
        };
        if key.is_not_yet_valid(now) {
            return LicenseStatus::NotYetValid {
                serial: key.serial.clone(),
                valid_from: key.created,
            };
        }
        if key.is_expired(now) {
            return LicenseStatus::Expired {
                serial: key.serial.clone(),
                expired_on: key.expires,
            };
        }
        let used = self.traffic_used(now);
        let traffic_left = key.quota_bytes().map(|q| q.saturating_sub(used));
        if let (Some(0), Some(quota_mb)) = (traffic_left, key.traffic_mb_per_day) {
            return LicenseStatus::QuotaExhausted {
                serial: key.serial.clone(),
                quota_mb,
                used,
            };
        }
        LicenseStatus::Valid {
            serial: key.serial.clone(),
            expires: key.expires,
            days_left: key.days_left(now),
            traffic_left,
        }
    }

    fn promote_if_due(&mut self, now: OffsetDateTime) {
        let active_done = match &self.active {
            None => true,
            Some(Installed::Verified(k)) => k.key().is_expired(now),
            Some(_) => false,
        };
        let backup_ready = matches!(&self.backup,
            Some(Installed::Verified(k)) if k.key().check_dates(now).is_ok());
        if !(active_done && backup_ready) {
            return;
        }
        let old = self.active.take();
        self.active = self.backup.take();
        self.promoted_pending_save = true;
        self.promotion = Some(Promotion {
            expired_serial: old.as_ref().and_then(|o| o.key()).map(|k| k.serial.clone()),
            new_serial: self
                .active
                .as_ref()
                .and_then(Installed::key)
                .map(|k| k.serial.clone())
                .unwrap_or_default(),
        });
    }

    /// The last promotion of the backup key, once (for the server's log).
    pub fn take_promotion(&mut self) -> Option<Promotion> {
        self.promotion.take()
    }

    /// Days left when the active key expires within [`WARN_DAYS`] days and no backup key is
    /// installed to take over; `None` otherwise.
    pub fn expiring_soon(&self, now: OffsetDateTime) -> Option<i64> {
        let key = self.active.as_ref()?.verified()?;
        if key.is_expired(now) || key.is_not_yet_valid(now) {
            return None;
        }
        if self.backup.as_ref().and_then(Installed::verified).is_some() {
            return None;
        }
        let left = key.days_left(now);
        (left < WARN_DAYS).then_some(left)
    }

    /// Whether a signature database published at `published` may be loaded: only databases
    /// published before the active key's expiry (none without a verified active key).
    pub fn allows_database(&self, published: OffsetDateTime) -> bool {
        self.active
            .as_ref()
            .and_then(Installed::verified)
            .is_some_and(|k| !k.is_expired(published))
    }

    /// Counts `bytes` of scanned traffic at `now` (per UTC day; kept in memory until `save`).
    pub fn record_traffic(&mut self, bytes: u64, now: OffsetDateTime) {
        self.traffic
            .get_or_insert_with(|| TrafficCounter::new(now))
            .add(bytes, now);
        self.traffic_dirty = true;
    }

    /// Bytes counted on the day of `now`.
    pub fn traffic_used(&self, now: OffsetDateTime) -> u64 {
        self.traffic.map_or(0, |t| t.used_on(now))
    }

    /// Writes what changed since the last save: the promoted backup key, the traffic counter.
    pub fn save(&mut self) -> Result<(), LicenseError> {
        if self.promoted_pending_save {
            self.dir.promote_backup()?;
            self.promoted_pending_save = false;
        }
        if self.traffic_dirty {
            if let Some(t) = &self.traffic {
                t.save(&self.dir.traffic_path())?;
            }
            self.traffic_dirty = false;
        }
        Ok(())
    }

    /// Re-reads the key slots from disk (after `add`/`remove-*` by the licence manager),
    /// keeping the in-memory traffic counter. Pending changes are saved first.
    pub fn reload_keys(&mut self, trusted: &[VerifyingKey]) -> Result<(), LicenseError> {
        self.save()?;
        let fresh = LicenseState::load(&self.dir, trusted)?;
        self.active = fresh.active;
        self.backup = fresh.backup;
        Ok(())
    }
}
