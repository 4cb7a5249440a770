//! What `bulwark scan` prints: one clamscan-style line per file (`path: OK`,
//! `path: NAME FOUND`, `path: Empty file`, `path: Symbolic link`, `path: REASON ERROR`) or one
//! JSON object per file, then the `SCAN SUMMARY` block. Standard output is written through a
//! locked handle and every write is checked, so a closed pipe (`bulwark scan … | head`) ends
//! the scan instead of panicking.
//!
//! A file on which a limit was hit, that is encrypted or that is corrupted is reported under
//! ClamAV's `Heuristics.*` name for that case (as clamscan does with `--alert-exceeds-max`,
//! `--alert-encrypted`, `--alert-broken`) when the default group does not `skip` that status;
//! otherwise it is `OK`, as in clamscan's defaults.

use std::io::{self, Write};
use std::time::Duration;

use bulwark_containers::heuristics::heuristic_name;
use bulwark_containers::DeepVerdict;
use bulwark_engine::Status;

use super::opts::Alerts;

/// One scanned file, ready to print.
pub(super) struct Scanned {
    status: Status,
    /// (name, path inside the file) of each threat.
    threats: Vec<(String, String)>,
    /// The `Heuristics.*` name of a limits-exceeded, protected or corrupted file.
    heuristic: Option<&'static str>,
    /// Whether that heuristic is reported as a detection.
    alert: bool,
    /// Why the scan failed (status `Error`).
    error: Option<String>,
    raw: u64,
    unpacked: u64,
    notes: Vec<String>,
}

/// What became of one path.
pub(super) enum Report {
    /// Scanned.
    Scanned(Scanned),
    /// Zero bytes: not scanned (clamscan's `Empty file`).
    Empty,
    /// A symlink not followed.
    Symlink,
    /// Could not be read.
    Error(String),
}

/// Sorts a deep verdict into what is printed.
pub(super) fn classify(v: &DeepVerdict, head: &[u8], alerts: &Alerts, raw: u64) -> Scanned {
    let status = v.verdict.status;
    let heuristic = heuristic_name(v, head);
    let alert = match status {
        Status::LimitsExceeded => alerts.exceeds_max,
        Status::Protected => alerts.encrypted,
        Status::Corrupted => alerts.broken,
        _ => false,
    };
    let error = matches!(
        status,
        Status::Error | Status::LicenseError | Status::BasesError
    )
    .then(|| {
        v.notes
            .last()
            .cloned()
            .unwrap_or_else(|| "scan error".to_string())
    });
    Scanned {
        status,
        threats: v
            .verdict
            .threats
            .iter()
            .map(|t| (t.name.clone(), t.path.clone()))
            .collect(),
        heuristic,
        alert,
        error,
        raw,
        unpacked: v.unpacked_bytes,
        notes: v.notes.clone(),
    }
}

/// Counts for the summary and the exit code.
#[derive(Debug, Default)]
pub(super) struct Totals {
    pub dirs: u64,
    files: u64,
    infected: u64,
    errors: u64,
    raw: u64,
    unpacked: u64,
}

impl Totals {
    /// clamscan's: 1 when something was found (even if errors occurred too), else 2 when an
    /// error occurred, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.infected > 0 {
            1
        } else if self.errors > 0 {
            2
        } else {
            0
        }
    }
}

/// Standard output, locked; every write returns its error.
pub(super) struct Out {
    w: io::StdoutLock<'static>,
    json: bool,
    infected_only: bool,
    allmatch: bool,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Out {
    /// Text or JSON lines; `infected_only` hides clean and skipped files.
    pub fn new(json: bool, infected_only: bool, allmatch: bool) -> Self {
        Out {
            w: io::stdout().lock(),
            json,
            infected_only,
            allmatch,
        }
    }

    fn line(&mut self, s: &str) -> io::Result<()> {
        self.w.write_all(s.as_bytes())?;
        self.w.write_all(b"\n")
    }

    fn json(&mut self, v: serde_json::Value) -> io::Result<()> {
        self.line(&v.to_string())
    }

    /// Counts and prints what became of `path`.
    pub fn report(&mut self, t: &mut Totals, path: &str, r: Report) -> io::Result<()> {
        match r {
            Report::Empty | Report::Symlink => {
                let (what, reason) = match r {
                    Report::Empty => ("Empty file", "empty file"),
                    _ => ("Symbolic link", "symbolic link"),
                };
                if self.infected_only {
                    Ok(())
                } else if self.json {
                    self.json(
                        serde_json::json!({"path": path, "status": "SKIPPED", "reason": reason}),
                    )
                } else {
                    self.line(&format!("{path}: {what}"))
                }
            }
            Report::Error(msg) => {
                t.errors += 1;
                if self.json {
                    self.json(serde_json::json!({"path": path, "status": "ERROR", "error": msg}))
                } else {
                    self.line(&format!("{path}: {msg} ERROR"))
                }
            }
            Report::Scanned(s) => self.scanned(t, path, s),
        }
    }

    fn scanned(&mut self, t: &mut Totals, path: &str, s: Scanned) -> io::Result<()> {
        t.raw += s.raw;
        t.unpacked += s.unpacked;
        let found = !s.threats.is_empty() || (s.heuristic.is_some() && s.alert);
        if s.error.is_some() && !found {
            t.errors += 1;
        } else {
            t.files += 1;
        }
        if found {
            t.infected += 1;
        }
        if self.infected_only && !found && s.error.is_none() {
            return Ok(());
        }
        if self.json {
            let names: Vec<&str> = s.threats.iter().map(|(n, _)| n.as_str()).collect();
            let members: Vec<&str> = s.threats.iter().map(|(_, p)| p.as_str()).collect();
            let mut o = serde_json::json!({"path": path, "status": s.status.as_str(),
                "threats": names, "members": members, "bytes": s.raw,
                "unpacked_bytes": s.unpacked});
            if let Some(h) = s.heuristic {
                o["heuristic"] = h.into();
                o["alert"] = s.alert.into();
            }
            if let Some(e) = &s.error {
                o["error"] = e.as_str().into();
            }
            if !s.notes.is_empty() {
                o["notes"] = s.notes.clone().into();
            }
            return self.json(o);
        }
        if !s.threats.is_empty() {
            let n = if self.allmatch { s.threats.len() } else { 1 };
            for (name, _) in s.threats.iter().take(n) {
                self.line(&format!("{path}: {name} FOUND"))?;
            }
            Ok(())
        } else if let (Some(h), true) = (s.heuristic, s.alert) {
            self.line(&format!("{path}: {h} FOUND"))
        } else if let Some(e) = &s.error {
            self.line(&format!("{path}: {e} ERROR"))
        } else {
            self.line(&format!("{path}: OK"))
        }
    }

    /// The summary: clamscan's block, or a JSON object.
    pub fn summary(
        &mut self,
        t: &Totals,
        known: u64,
        db_version: &str,
        scan: Duration,
        total: Duration,
    ) -> io::Result<()> {
        let scanned = t.raw + t.unpacked;
        if self.json {
            return self.json(serde_json::json!({"summary": {"known_signatures": known,
                "database": db_version, "scanned_directories": t.dirs, "scanned_files": t.files,
                "infected_files": t.infected, "errors": t.errors, "bytes": t.raw,
                "unpacked_bytes": t.unpacked, "scan_seconds": scan.as_secs_f64(),
                "total_seconds": total.as_secs_f64()}}));
        }
        let mut s = String::from("\n----------- SCAN SUMMARY -----------\n");
        s += &format!("Known viruses: {known}\n");
        s += &format!(
            "Engine version: bulwark {} ({db_version})\n",
            env!("CARGO_PKG_VERSION")
        );
        s += &format!("Scanned directories: {}\n", t.dirs);
        s += &format!("Scanned files: {}\n", t.files);
        s += &format!("Infected files: {}\n", t.infected);
        if t.errors > 0 {
            s += &format!("Total errors: {}\n", t.errors);
        }
        s += &format!("Data scanned: {:.2} MB\n", scanned as f64 / MIB);
        let ratio = if t.raw > 0 {
            scanned as f64 / t.raw as f64
        } else {
            0.0
        };
        s += &format!(
            "Data read: {:.2} MB (ratio {ratio:.2}:1)\n",
            t.raw as f64 / MIB
        );
        s += &format!(
            "Scan speed: {:.1} MB/s\n",
            scanned as f64 / MIB / scan.as_secs_f64().max(1e-9)
        );
        let secs = total.as_secs();
        s += &format!(
            "Time: {:.3} sec ({} m {} s)",
            total.as_secs_f64(),
            secs / 60,
            secs % 60
        );
        self.line(&s)
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}
