//! The `bulwark license …` commands. Each returns the text to print on success; errors are
//! [`LicenseError`]s whose messages are meant for the operator (exit status 1).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bulwark_sign::{KeyError, VerifyingKey};
use time::{Date, Duration, OffsetDateTime};

use crate::error::LicenseError;
use crate::keyfile::{format_date, LicenseKey, LicenseType, SignedKey, DEFAULT_PRODUCT};
use crate::state::{Installed, LicenseState};
use crate::store::{read_required, write_atomic, LicenseDir, Slot};

/// Options of `bulwark license issue`.
#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// The issuer's secret key file.
    pub issuer_key: PathBuf,
    /// Where to write the key file.
    pub out: PathBuf,
    /// Product name (default [`DEFAULT_PRODUCT`]).
    pub product: Option<String>,
    /// Serial number (default: random).
    pub serial: Option<String>,
    /// Seats.
    pub seats: u32,
    /// Lifespan in days.
    pub days: u32,
    /// Daily traffic quota in MB.
    pub traffic_mb: Option<u64>,
    /// Licence type.
    pub license_type: LicenseType,
    /// First valid day (default: today, UTC).
    pub not_before: Option<Date>,
}

impl IssueOptions {
    /// Defaults: 1 seat, 365 days, commercial, no quota, starting today.
    pub fn new(issuer_key: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        IssueOptions {
            issuer_key: issuer_key.into(),
            out: out.into(),
            product: None,
            serial: None,
            seats: 1,
            days: 365,
            traffic_mb: None,
            license_type: LicenseType::Commercial,
            not_before: None,
        }
    }
}

/// `bulwark license keygen --out PREFIX`: writes `PREFIX` and `PREFIX.pub`.
pub fn keygen(prefix: &Path) -> Result<String, LicenseError> {
    let key = bulwark_sign::generate()?;
    bulwark_sign::write_pair(prefix, &key)?;
    Ok(format!(
        "Secret key: {}\nPublic key: {}\nKey id    : {}\n",
        prefix.display(),
        bulwark_sign::public_path(prefix).display(),
        bulwark_sign::key_id(&key.verifying_key())
    ))
}

/// `bulwark license issue`: signs a new key file with the issuer's secret key.
pub fn issue(opts: &IssueOptions, now: OffsetDateTime) -> Result<String, LicenseError> {
    let secret = bulwark_sign::read_secret(&opts.issuer_key)?;
    if opts.days == 0 {
        return Err(LicenseError::Invalid("--days must be at least 1".into()));
    }
    let created = opts.not_before.unwrap_or(now.date());
    let expires = created
        .checked_add(Duration::days(i64::from(opts.days)))
        .ok_or_else(|| LicenseError::Invalid("--days is too large".into()))?;
    let serial = match &opts.serial {
        Some(s) => s.clone(),
        None => random_serial()?,
    };
    let key = LicenseKey {
        product: opts
            .product
            .clone()
            .unwrap_or_else(|| DEFAULT_PRODUCT.into()),
        license_type: opts.license_type,
        serial,
        seats: opts.seats,
        created,
        expires,
        traffic_mb_per_day: opts.traffic_mb,
        issuer: String::new(),
    };
    let signed = key.sign(&secret)?;
    write_atomic(&opts.out, signed.bytes())?;
    let mut out = format!("Key file written: {}\n", opts.out.display());
    describe(&mut out, signed.key());
    Ok(out)
}

/// `bulwark license info FILE` (`-k FILE`): checks a key file and shows it. Tampered,
/// wrong-issuer, expired and not-yet-valid keys are refused with their error.
pub fn info(
    file: &Path,
    trusted: &[VerifyingKey],
    now: OffsetDateTime,
) -> Result<String, LicenseError> {
    let signed = read_key_file(file, trusted, now)?;
    let key = signed.key();
    let mut out = format!(
        "Key file information:\n    Key file            : {}\n",
        file.display()
    );
    describe(&mut out, key);
    line(
        &mut out,
        "Key status",
        &format!("valid ({} days left)", key.days_left(now)),
    );
    Ok(out)
}

/// `bulwark license add FILE` (`-a FILE`): installs a checked key as the active key, or as
/// the backup key when an active key is installed.
pub fn add(
    dir: &Path,
    file: &Path,
    trusted: &[VerifyingKey],
    now: OffsetDateTime,
) -> Result<String, LicenseError> {
    let signed = read_key_file(file, trusted, now)?;
    let serial = &signed.key().serial;
    let ld = LicenseDir::new(dir);
    let state = LicenseState::load(&ld, trusted)?;
    for (slot, inst) in [
        (Slot::Active, state.active()),
        (Slot::Backup, state.backup()),
    ] {
        if inst
            .and_then(Installed::key)
            .is_some_and(|k| &k.serial == serial)
        {
            return Err(LicenseError::AlreadyInstalled {
                serial: serial.clone(),
                slot: slot.name(),
            });
        }
    }
    let slot = match (state.active(), state.backup()) {
        (None, _) => Slot::Active,
        (Some(_), None) => Slot::Backup,
        (Some(_), Some(_)) => return Err(LicenseError::BackupTaken),
    };
    ld.write_slot(slot, signed.bytes())?;
    Ok(format!(
        "Key {serial} from {} installed as the {} key.\n",
        file.display(),
        slot.name()
    ))
}

/// `bulwark license remove-active` (`-da`): removes the active key; the backup, if any,
/// becomes active.
pub fn remove_active(dir: &Path) -> Result<String, LicenseError> {
    let ld = LicenseDir::new(dir);
    let Some(active) = ld.read_slot(Slot::Active)? else {
        return Err(LicenseError::NoKeyInSlot { slot: "active" });
    };
    let mut out = format!("Active key {} removed.\n", serial_of(&active));
    match ld.read_slot(Slot::Backup)? {
        Some(backup) => {
            ld.promote_backup()?;
            let _ = writeln!(
                out,
                "Backup key {} is now the active key.",
                serial_of(&backup)
            );
        }
        None => ld.clear_slot(Slot::Active)?,
    }
    Ok(out)
}

/// `bulwark license remove-backup` (`-dr`): removes the backup key.
pub fn remove_backup(dir: &Path) -> Result<String, LicenseError> {
    let ld = LicenseDir::new(dir);
    let Some(backup) = ld.read_slot(Slot::Backup)? else {
        return Err(LicenseError::NoKeyInSlot { slot: "backup" });
    };
    ld.clear_slot(Slot::Backup)?;
    Ok(format!("Backup key {} removed.\n", serial_of(&backup)))
}

/// `bulwark license show` (`-s`): the licence status and every installed key.
pub fn show(
    dir: &Path,
    trusted: &[VerifyingKey],
    now: OffsetDateTime,
) -> Result<String, LicenseError> {
    let ld = LicenseDir::new(dir);
    let mut state = LicenseState::load(&ld, trusted)?;
    let status = state.evaluate(now);
    let mut out = format!("Licence status: {status}\n");
    if let Some(p) = state.take_promotion() {
        let _ = writeln!(
            out,
            "Note: the backup key {} takes over from the expired active key.",
            p.new_serial
        );
    }
    if let (Some(days), Some(k)) = (
        state.expiring_soon(now),
        state.active().and_then(Installed::key),
    ) {
        let _ = writeln!(
            out,
            "Warning: the licence expires on {} ({days} days left) and no backup key is installed.",
            format_date(k.expires)
        );
    }
    for (title, slot) in [("Active", state.active()), ("Backup", state.backup())] {
        let _ = write!(out, "\n{title} key information:\n");
        match slot {
            None => out.push_str("    none\n"),
            Some(inst) => {
                if let Some(k) = inst.key() {
                    describe(&mut out, k);
                }
                let st = match inst.problem() {
                    Some(e) => format!("invalid: {e}"),
                    None => inst.key().map(|k| date_status(k, now)).unwrap_or_default(),
                };
                line(&mut out, "Key status", &st);
            }
        }
    }
    Ok(out)
}

/// `bulwark license traffic` (`-i`): the daily traffic licensed, used today and left.
pub fn traffic(
    dir: &Path,
    trusted: &[VerifyingKey],
    now: OffsetDateTime,
) -> Result<String, LicenseError> {
    let mut state = LicenseState::load(&LicenseDir::new(dir), trusted)?;
    let _ = state.evaluate(now);
    let used = state.traffic_used(now);
    let quota = state
        .active()
        .and_then(Installed::key)
        .map(|k| k.traffic_mb_per_day);
    let mut out = String::new();
    match quota {
        None => line(&mut out, "Traffic per day", "no active key"),
        Some(None) => line(&mut out, "Traffic per day", "unlimited"),
        Some(Some(mb)) => line(&mut out, "Traffic per day", &format!("{mb} MB")),
    }
    line(&mut out, "Used today", &mb_text(used));
    let left = match quota {
        Some(Some(mb)) => mb_text(mb.saturating_mul(1 << 20).saturating_sub(used)),
        Some(None) => "unlimited".into(),
        None => "-".into(),
    };
    line(&mut out, "Left today", &left);
    Ok(out)
}

fn read_key_file(
    file: &Path,
    trusted: &[VerifyingKey],
    now: OffsetDateTime,
) -> Result<SignedKey, LicenseError> {
    let bytes = read_required(file)?;
    let signed = SignedKey::load(&bytes, trusted)?;
    signed.key().check_dates(now)?;
    Ok(signed)
}

fn serial_of(bytes: &[u8]) -> String {
    SignedKey::parse(bytes)
        .map(|k| k.key().serial.clone())
        .unwrap_or_else(|_| "(unreadable)".into())
}

fn random_serial() -> Result<String, LicenseError> {
    let mut b = [0u8; 9];
    getrandom::getrandom(&mut b).map_err(|e| KeyError::Random(e.to_string()))?;
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    Ok(format!("{}-{}-{}", &hex[..4], &hex[4..10], &hex[10..18]))
}

fn date_status(k: &LicenseKey, now: OffsetDateTime) -> String {
    match k.check_dates(now) {
        Ok(()) => format!("valid ({} days left)", k.days_left(now)),
        Err(LicenseError::Expired { .. }) => format!("expired on {}", format_date(k.expires)),
        Err(_) => format!("not yet valid (from {})", format_date(k.created)),
    }
}

fn mb_text(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1_048_576.0)
}

fn line(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "    {name:<20}: {value}");
}

fn describe(out: &mut String, k: &LicenseKey) {
    line(out, "Product", &k.product);
    line(out, "Key type", k.license_type.as_str());
    line(out, "Serial number", &k.serial);
    line(out, "Seats", &k.seats.to_string());
    line(out, "Lifespan", &format!("{} days", k.lifespan_days()));
    line(out, "Creation date", &format_date(k.created));
    line(out, "Expiration date", &format_date(k.expires));
    let traffic = k
        .traffic_mb_per_day
        .map_or_else(|| "unlimited".into(), |mb| format!("{mb} MB"));
    line(out, "Traffic per day", &traffic);
    line(out, "Issuer", &k.issuer);
}
