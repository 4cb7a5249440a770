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

/// The result of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The overall status.
    pub status: Status,
    /// Every threat found (empty when clean).
    pub threats: Vec<Threat>,
}

impl Verdict {
    /// Nothing found.
    pub fn clean() -> Self {
        Self {
            status: Status::Clean,
            threats: Vec::new(),
        }
    }

    /// Infected with `threats`.
    pub fn infected(threats: Vec<Threat>) -> Self {
        Self {
            status: Status::Infected,
            threats,
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
