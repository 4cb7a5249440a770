//! The licence key file: a `Key: value` body and an Ed25519 signature over its exact bytes (a
//! lenient `bulwark_sign::Envelope`). The format is described in the crate's README.md.

use std::fmt;
use std::str::FromStr;

use bulwark_sign::{
    find_key, key_id, seal, verify, Envelope, EnvelopeError, Signature, SigningKey, VerifyingKey,
};
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::error::{DateError, LicenseError, LicenseTypeError};

/// First line of every licence key file (the format version).
pub const FORMAT_LINE: &str = "Bulwark-License: 1";
/// The product name written by `issue` unless told otherwise.
pub const DEFAULT_PRODUCT: &str = "Bulwark Anti-Virus ICAP Server";

/// The kind of licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseType {
    /// A purchased licence.
    Commercial,
    /// A time-limited evaluation licence.
    Trial,
    /// A key for tests and development.
    Test,
}

impl LicenseType {
    /// The lower-case name used in key files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseType::Commercial => "commercial",
            LicenseType::Trial => "trial",
            LicenseType::Test => "test",
        }
    }
}

impl fmt::Display for LicenseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LicenseType {
    type Err = LicenseTypeError;
    fn from_str(s: &str) -> Result<Self, LicenseTypeError> {
        match s {
            "commercial" => Ok(LicenseType::Commercial),
            "trial" => Ok(LicenseType::Trial),
            "test" => Ok(LicenseType::Test),
            _ => Err(LicenseTypeError(s.to_string())),
        }
    }
}

/// The terms of a licence: what a key file's body says.
///
/// Dates are UTC days. The key is valid from `created` 00:00 UTC until `expires` 00:00 UTC:
/// `expires` is the first day on which it is no longer valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseKey {
    /// Product name.
    pub product: String,
    /// Commercial, trial or test.
    pub license_type: LicenseType,
    /// Serial number (letters, digits and `-`).
    pub serial: String,
    /// Number of users (seats) licensed.
    pub seats: u32,
    /// First day of validity (also the creation date).
    pub created: Date,
    /// First day on which the key is no longer valid.
    pub expires: Date,
    /// Daily traffic quota in MB (1 MB = 1,048,576 bytes); `None` means unlimited.
    pub traffic_mb_per_day: Option<u64>,
    /// Key id (`bulwark_sign::key_id`) of the issuer's public key.
    pub issuer: String,
}

/// Formats a date as `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Result<Date, DateError> {
    Date::parse(s, format_description!("[year]-[month]-[day]")).map_err(|source| DateError {
        text: s.to_string(),
        source,
    })
}

impl LicenseKey {
    /// Lifespan in days (`expires - created`).
    pub fn lifespan_days(&self) -> i64 {
        (self.expires - self.created).whole_days()
    }

    /// The daily quota in bytes, if there is one.
    pub fn quota_bytes(&self) -> Option<u64> {
        self.traffic_mb_per_day
            .map(|mb| mb.saturating_mul(1024 * 1024))
    }

    /// Whether the key has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now.date() >= self.expires
    }

    /// Whether the key's first day is still to come at `now`.
    pub fn is_not_yet_valid(&self, now: OffsetDateTime) -> bool {
        now.date() < self.created
    }

    /// Whole days left until expiry at `now` (0 on the last valid day, negative once expired).
    pub fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.expires - now.date()).whole_days() - 1
    }

    /// `Ok` when the key is within its dates at `now`, otherwise `Expired` or `NotYetValid`.
    pub fn check_dates(&self, now: OffsetDateTime) -> Result<(), LicenseError> {
        if self.is_not_yet_valid(now) {
            Err(LicenseError::NotYetValid {
                serial: self.serial.clone(),
                valid_from: self.created,
            })
        } else if self.is_expired(now) {
            Err(LicenseError::Expired {
                serial: self.serial.clone(),
                expired_on: self.expires,
            })
        } else {
            Ok(())
        }
    }

    /// Checks the fields are writable (no line breaks, a sane serial, positive lifespan).
    pub fn validate(&self) -> Result<(), LicenseError> {
        let bad = |m: String| Err(LicenseError::Invalid(m));
        if self.product.is_empty() || self.product.chars().any(char::is_control) {
            return bad("the product name must be non-empty, without control characters".into());
        }
        if !valid_serial(&self.serial) {
            return bad(format!(
                "bad serial `{}`: 1 to 64 letters, digits and `-`",
                self.serial
            ));
        }
        if self.expires <= self.created {
            return bad("the expiry date must come after the creation date".into());
        }
        if !self.issuer.chars().all(|c| c.is_ascii_hexdigit()) || self.issuer.is_empty() {
            return bad(format!("bad issuer id `{}`", self.issuer));
        }
        Ok(())
    }

    /// The canonical body: the exact bytes the signature covers.
    pub fn body(&self) -> String {
        let mut s = format!(
            "{FORMAT_LINE}\nProduct: {}\nType: {}\nSerial: {}\nSeats: {}\nLifespan: {}\n\
             Created: {}\nExpires: {}\n",
            self.product,
            self.license_type,
            self.serial,
            self.seats,
            self.lifespan_days(),
            format_date(self.created),
            format_date(self.expires),
        );
        if let Some(mb) = self.traffic_mb_per_day {
            s.push_str(&format!("Traffic-Per-Day-MB: {mb}\n"));
        }
        s.push_str(&format!("Issuer: {}\n", self.issuer));
        s
    }

    /// Signs the key with `issuer` (the `issuer` field is set from it) and returns the file.
    pub fn sign(mut self, issuer: &SigningKey) -> Result<SignedKey, LicenseError> {
        self.issuer = key_id(&issuer.verifying_key());
        self.validate()?;
        let body = self.body();
        let sealed = seal(&body, issuer);
        Ok(SignedKey {
            key: self,
            bytes: sealed.text.into_bytes(),
            body_len: body.len(),
            signature: sealed.signature,
        })
    }
}

fn valid_serial(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A parsed key file: its terms, its exact bytes and its signature.
#[derive(Debug, Clone)]
pub struct SignedKey {
    key: LicenseKey,
    bytes: Vec<u8>,
    body_len: usize,
    signature: Signature,
}

impl SignedKey {
    /// Parses a key file without checking its signature (see [`SignedKey::verify`]).
    pub fn parse(bytes: &[u8]) -> Result<SignedKey, LicenseError> {
        let text = std::str::from_utf8(bytes).map_err(|_| malformed(0, "not UTF-8 text"))?;
        if let Some(i) = text.find('\r') {
            return Err(malformed(
                text[..i].matches('\n').count() + 1,
                "carriage return found (was the file converted to CRLF line endings?)",
            ));
        }
        let envelope = Envelope::parse_lenient(bytes).map_err(envelope_malformed)?;
        let signature = envelope.signature().map_err(envelope_malformed)?;
        let body = &text[..envelope.body().len()];
        let key = parse_body(body)?;
        Ok(SignedKey {
            key,
            bytes: bytes.to_vec(),
            body_len: body.len(),
            signature,
        })
    }

    /// Parses a key file and checks it was signed by one of `trusted` (dates are not checked).
    pub fn load(bytes: &[u8], trusted: &[VerifyingKey]) -> Result<SignedKey, LicenseError> {
        let k = SignedKey::parse(bytes)?;
        k.verify(trusted)?;
        Ok(k)
    }

    /// Checks the signature: `Tampered` when the named issuer is trusted but the signature
    /// does not match, `WrongIssuer` when the issuer is not among `trusted`; then the product:
    /// `WrongProduct` for a genuine key issued for another product.
    pub fn verify(&self, trusted: &[VerifyingKey]) -> Result<(), LicenseError> {
        self.verify_signature(trusted)?;
        if self.key.product != DEFAULT_PRODUCT {
            return Err(LicenseError::WrongProduct {
                serial: self.key.serial.clone(),
                product: self.key.product.clone(),
                expected: DEFAULT_PRODUCT.to_string(),
            });
        }
        Ok(())
    }

    fn verify_signature(&self, trusted: &[VerifyingKey]) -> Result<(), LicenseError> {
        if trusted.is_empty() {
            return Err(LicenseError::NoTrustedKeys);
        }
        let body = &self.bytes[..self.body_len];
        let verifies = |k: &VerifyingKey| verify(k, body, &self.signature).is_ok();
        match find_key(trusted, &self.key.issuer) {
            Some(k) if verifies(k) => Ok(()),
            Some(_) => Err(LicenseError::Tampered {
                serial: self.key.serial.clone(),
            }),
            None if trusted.iter().any(verifies) => {
                // Signed by a trusted key although the Issuer line names another one.
                Err(LicenseError::Tampered {
                    serial: self.key.serial.clone(),
                })
            }
            None => Err(LicenseError::WrongIssuer {
                serial: self.key.serial.clone(),
                issuer: self.key.issuer.clone(),
            }),
        }
    }

    /// The licence terms.
    pub fn key(&self) -> &LicenseKey {
        &self.key
    }

    /// The exact bytes of the file (what gets installed).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

fn malformed(line: usize, reason: impl Into<String>) -> LicenseError {
    LicenseError::Malformed {
        line,
        reason: reason.into(),
    }
}

/// A signature line that is missing, followed by text or not base64, as a malformed key.
fn envelope_malformed(e: EnvelopeError) -> LicenseError {
    match e {
        EnvelopeError::Unsigned => malformed(0, "no `Signature:` line"),
        EnvelopeError::TextAfter { line } => malformed(line, "text after the `Signature:` line"),
        EnvelopeError::Encoding { line } => {
            malformed(line, "the signature is not 64 bytes of base64")
        }
        other => malformed(0, other.to_string()),
    }
}

#[derive(Default)]
struct Fields<'a> {
    product: Option<&'a str>,
    license_type: Option<&'a str>,
    serial: Option<&'a str>,
    seats: Option<&'a str>,
    lifespan: Option<&'a str>,
    created: Option<&'a str>,
    expires: Option<&'a str>,
    traffic: Option<&'a str>,
    issuer: Option<&'a str>,
}

fn parse_body(body: &str) -> Result<LicenseKey, LicenseError> {
    let mut lines = body.lines().enumerate();
    match lines.next() {
        Some((_, l)) if l == FORMAT_LINE => {}
        Some((_, l)) if l.starts_with("Bulwark-License:") => {
            return Err(malformed(1, format!("unsupported format version `{l}`")))
        }
        _ => {
            return Err(malformed(
                1,
                format!("the first line must be `{FORMAT_LINE}`"),
            ))
        }
    }
    let mut f = Fields::default();
    for (i, line) in lines {
        let n = i + 1;
        let (name, value) = line
            .split_once(": ")
            .ok_or_else(|| malformed(n, "expected `Name: value`"))?;
        let slot = match name {
            "Product" => &mut f.product,
            "Type" => &mut f.license_type,
            "Serial" => &mut f.serial,
            "Seats" => &mut f.seats,
            "Lifespan" => &mut f.lifespan,
            "Created" => &mut f.created,
            "Expires" => &mut f.expires,
            "Traffic-Per-Day-MB" => &mut f.traffic,
            "Issuer" => &mut f.issuer,
            _ => return Err(malformed(n, format!("unknown field `{name}`"))),
        };
        if slot.replace(value).is_some() {
            return Err(malformed(n, format!("duplicate field `{name}`")));
        }
    }
    let key = LicenseKey {
        product: need(f.product, "Product")?.to_string(),
        license_type: need(f.license_type, "Type")?
            .parse()
            .map_err(|e: LicenseTypeError| malformed(0, e.to_string()))?,
        serial: need(f.serial, "Serial")?.to_string(),
        seats: number(need(f.seats, "Seats")?, "Seats")?,
        created: parse_date(need(f.created, "Created")?)
            .map_err(|e| malformed(0, e.to_string()))?,
        expires: parse_date(need(f.expires, "Expires")?)
            .map_err(|e| malformed(0, e.to_string()))?,
        traffic_mb_per_day: f
            .traffic
            .map(|t| number(t, "Traffic-Per-Day-MB"))
            .transpose()?,
        issuer: need(f.issuer, "Issuer")?.to_string(),
    };
    let lifespan: i64 = number(need(f.lifespan, "Lifespan")?, "Lifespan")?;
    if lifespan != key.lifespan_days() {
        return Err(malformed(
            0,
            format!(
                "Lifespan {lifespan} does not match Created..Expires ({} days)",
                key.lifespan_days()
            ),
        ));
    }
    key.validate().map_err(|e| malformed(0, e.to_string()))?;
    Ok(key)
}

fn need<'a>(v: Option<&'a str>, name: &str) -> Result<&'a str, LicenseError> {
    v.ok_or_else(|| malformed(0, format!("missing field `{name}`")))
}

fn number<T: FromStr>(v: &str, name: &str) -> Result<T, LicenseError> {
    v.parse()
        .map_err(|_| malformed(0, format!("`{name}` is not a number: `{v}`")))
}
