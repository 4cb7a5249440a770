//! Scan outcomes (SPEC F-ENG-2).

use std::fmt;

/// The status of a scanned object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Nothing found.
    Clean,
    /// A known threat.
    Infected,
    /// A heuristic detection.
    Suspicious,
    /// Resembles a known threat.
    Warning,
    /// Infected members were removed; a cured copy exists.
    Cured,
    /// Encrypted or password-protected content could not be scanned.
    Protected,
    /// A malformed container or encoding.
    Corrupted,
    /// The scan failed (internal error, timeout).
    Error,
    /// Larger than the configured maximum; not scanned.
    TooLarge,
    /// A depth, size, ratio or count limit was hit.
    LimitsExceeded,
    /// No valid licence.
    LicenseError,
    /// No usable signature database.
    BasesError,
}

impl Status {
    /// The status's name in logs and statistics (kav4proxy's upper-case spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Clean => "CLEAN",
            Status::Infected => "INFECTED",
            Status::Suspicious => "SUSPICIOUS",
            Status::Warning => "WARNING",
            Status::Cured => "CURED",
            Status::Protected => "PROTECTED",
            Status::Corrupted => "CORRUPTED",
            Status::Error => "ERROR",
            Status::TooLarge => "TOO_LARGE",
            Status::LimitsExceeded => "LIMITS_EXCEEDED",
            Status::LicenseError => "LICENSE_ERROR",
            Status::BasesError => "BASES_ERROR",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One threat found, with where it was found inside the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threat {
    /// The signature's name, e.g. `Win.Test.EICAR_HDB-1`.
    pub name: String,
    /// Path inside the object (`archive.zip/dir/a.exe`); empty for the object itself.
    pub path: String,
}

impl Threat {
    /// A threat `name` found at `path`.
    pub fn new(name: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            path: path.into(),
        }
    }
}

/// Why a verdict of status [`Status::Error`] is one: told apart from threat names, which are
/// only ever signatures' names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorDetail {
    /// The scan failed inside Bulwark (a parser panicked, the scan task died): the object's
    /// content says nothing.
    ScanFailed,
    /// A partial object (HTTP 206) refused by policy without a scan: it cannot be judged whole.
    PartialRefused,
}

impl ErrorDetail {
    /// The detail's word in logs and verdict headers (`SCAN_FAILED`, `PARTIAL`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorDetail::ScanFailed => "SCAN_FAILED",
            ErrorDetail::PartialRefused => "PARTIAL",
        }
    }
}

impl fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The overall status.
    pub status: Status,
    /// Every threat found (empty when clean); signatures' names only.
    pub threats: Vec<Threat>,
    /// Why the status is [`Status::Error`], when it is and the reason is known.
    pub error: Option<ErrorDetail>,
}

impl Verdict {
    /// Nothing found.
    pub fn clean() -> Self {
        Self {
            status: Status::Clean,
            threats: Vec::new(),
            error: None,
        }
    }

    /// Infected with `threats`.
    pub fn infected(threats: Vec<Threat>) -> Self {
        Self {
            status: Status::Infected,
            threats,
            error: None,
        }
    }

    /// Adds threats `names` found in the object itself (each once), making it infected.
    pub fn add_names(&mut self, names: Vec<String>) {
        for n in names {
            if !self
                .threats
                .iter()
                .any(|t| t.name == n && t.path.is_empty())
            {
                self.threats.push(Threat::new(n, ""));
            }
        }
        if !self.threats.is_empty() {
            self.status = Status::Infected;
        }
    }

    /// A verdict of `status` without threats (errors, limits, too large…).
    pub fn of(status: Status) -> Self {
        Self {
            status,
            threats: Vec::new(),
            error: None,
        }
    }

    /// An error verdict for `detail`.
    pub fn error(detail: ErrorDetail) -> Self {
        Self {
            status: Status::Error,
            threats: Vec::new(),
            error: Some(detail),
        }
    }

    /// What names this verdict in a log line or a verdict header: the first threat's name,
    /// else the error detail's word, else the status's.
    pub fn label(&self) -> &str {
        match (self.threats.first(), self.error) {
            (Some(t), _) => &t.name,
            (None, Some(e)) => e.as_str(),
            (None, None) => self.status.as_str(),
        }
    }
}

/// What matched `HandlerType` signatures ask of the caller: scan the object again as `ty`
/// (its target's signatures, its format's opener), then report `names` — ClamAV 1.4's order,
/// so that without all-match a threat the rescan finds is the one reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerRequest {
    /// The type the first matched signature names.
    pub ty: crate::cltype::ClType,
    /// Every matched `HandlerType` signature, in match order.
    pub names: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_its_detail_never_a_threat() {
        let v = Verdict::error(ErrorDetail::PartialRefused);
        assert_eq!((v.status, v.threats.len()), (Status::Error, 0));
        assert_eq!(v.label(), "PARTIAL");
        assert_eq!(
            Verdict::error(ErrorDetail::ScanFailed).label(),
            "SCAN_FAILED"
        );
        assert_eq!(Verdict::of(Status::Error).label(), "ERROR");
        let mut found = Verdict::clean();
        found.add_names(vec!["Eicar-Test-Signature".into()]);
        assert_eq!(found.label(), "Eicar-Test-Signature");
        assert_eq!(found.error, None);
    }
}
