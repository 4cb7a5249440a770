//! One object through the deep scanner, and its verdict in clamd's words: `NAME FOUND`, `OK`
//! or `REASON ERROR`. The group's engine options and the `[engine.limits]` apply, as for ICAP.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_config::ClamdConfig;
use bulwark_containers::heuristics::heuristic_name;
use bulwark_containers::{DeepOptions, DeepScanner, DeepVerdict};
use bulwark_engine::{Database, ScanOptions, Status, Verdict};
use bulwark_server::{Context, Snapshot};

/// Bytes of an object's start kept to name an encrypted or broken object.
const HEAD: usize = 64;

/// Bytes read from a file per feed.
const PIECE: usize = 64 * 1024;

/// Which heuristic statuses are reported as detections (clamd's Alert* options).
#[derive(Debug, Clone, Copy, Default)]
pub struct Alerts {
    /// AlertExceedsMax.
    pub exceeds_max: bool,
    /// AlertEncrypted.
    pub encrypted: bool,
    /// AlertBrokenExecutables.
    pub broken: bool,
}

/// What every scan of one command uses: database, deep options, alerts, group name.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The snapshot's database.
    pub db: Arc<Database>,
    /// The group's deep options.
    pub deep: DeepOptions,
    /// Which heuristics alert.
    pub alerts: Alerts,
    /// The group's name, for the statistics.
    pub group: String,
    /// The client's address (TCP), for the statistics and notifications.
    pub client: Option<String>,
}

impl Settings {
    /// The settings of `[clamd]` on a snapshot for a client of `listener` (a `listen` entry as
    /// written): that listener's group in `listener_groups`, else `group`.
    pub fn new(snap: &Snapshot, cfg: &ClamdConfig, listener: Option<&str>) -> Self {
        let group = listener
            .and_then(|l| cfg.listener_group(l))
            .unwrap_or(&cfg.group);
        let alerts = Alerts {
            exceeds_max: cfg.alert_exceeds_max,
            encrypted: cfg.alert_encrypted,
            broken: cfg.alert_broken,
        };
        Self::for_group(snap, group, alerts)
    }

    /// The settings of the policy group named `group` (the default group when empty or
    /// unknown): its engine options, the limits, the verdict cache.
    pub fn for_group(snap: &Snapshot, group: &str, alerts: Alerts) -> Self {
        let policy = &snap.policy;
        let group = policy
            .groups()
            .iter()
            .find(|g| !group.is_empty() && g.name() == group)
            .unwrap_or_else(|| policy.default_group());
        let e = group.engine();
        let c = &snap.config;
        let mut limits = c.engine.limits.clone();
        if e.max_scan_time_secs > 0 {
            limits.max_scan_time =
                Duration::from_secs(e.max_scan_time_secs).min(limits.max_scan_time);
        }
        let sets = &e.signature_sets;
        let deep = DeepOptions {
            scan_archives: e.scan_archives,
            scan_packed: e.scan_packed,
            scan_mail_plain: e.scan_mail_plain,
            scan_mail_bases: e.scan_mail_bases,
            cure: false,
            limits,
            temp_dir: c.server.temp_path.clone(),
            engine: ScanOptions {
                sets: (!sets.is_empty()).then(|| sets.clone()),
                ..ScanOptions::default()
            },
            verdict_cache: (c.engine.verdict_cache_entries > 0).then(|| snap.verdicts.clone()),
            ..DeepOptions::default()
        };
        Self {
            db: snap.database.clone(),
            deep,
            alerts,
            group: group.name().to_string(),
            client: None,
        }
    }

    /// A deep scanner for one object.
    pub fn scanner(&self, all_matches: bool) -> DeepScanner {
        let mut s = DeepScanner::new(self.db.clone(), self.deep.clone());
        s.set_all_matches(all_matches);
        s
    }
}

/// A verdict as clamd reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `OK`.
    Clean,
    /// `NAME FOUND` (one line per name with ALLMATCHSCAN).
    Found(Vec<String>),
    /// `REASON ERROR`.
    Error(String),
}

impl Outcome {
    /// The verdict of a deep scan, with the heuristic names of clamd's alerts.
    pub fn of(v: &DeepVerdict, head: &[u8], alerts: &Alerts) -> Self {
        let status = v.verdict.status;
        if !v.verdict.threats.is_empty() && !matches!(status, Status::Error | Status::LicenseError)
        {
            return Outcome::Found(v.verdict.threats.iter().map(|t| t.name.clone()).collect());
        }
        let alert = match status {
            Status::LimitsExceeded => alerts.exceeds_max,
            Status::Protected => alerts.encrypted,
            Status::Corrupted => alerts.broken,
            _ => false,
        };
        if let (true, Some(name)) = (alert, heuristic_name(v, head)) {
            return Outcome::Found(vec![name.to_string()]);
        }
        match status {
            Status::Error | Status::LicenseError | Status::BasesError | Status::TooLarge => {
                Outcome::Error(v.notes.last().cloned().unwrap_or_else(|| {
                    format!("Scan failed ({})", status.as_str().to_ascii_lowercase())
                }))
            }
            _ => Outcome::Clean,
        }
    }

    /// The reply texts for an object called `name` (`stream`, `fd[N]`, a path): the first
    /// name found, or every one with `all`.
    pub fn lines(&self, name: &str, all: bool) -> Vec<String> {
        match self {
            Outcome::Clean => vec![format!("{name}: OK")],
            Outcome::Found(names) => names
                .iter()
                .take(if all { names.len() } else { 1 })
                .map(|n| format!("{name}: {n} FOUND"))
                .collect(),
            Outcome::Error(e) => vec![format!("{name}: {e} ERROR")],
        }
    }
}

/// A finished scan: the verdict, the object's first bytes and size.
#[derive(Debug)]
pub struct Scanned {
    /// The deep verdict.
    pub verdict: DeepVerdict,
    /// The object's first bytes.
    pub head: Vec<u8>,
    /// The object's size.
    pub size: u64,
}

/// Feeds a stream to a scanner, keeping the first bytes; for INSTREAM.
#[derive(Debug)]
pub struct Feeder {
    scanner: DeepScanner,
    head: Vec<u8>,
    size: u64,
}

impl Feeder {
    /// A feeder around a new scanner.
    pub fn new(settings: &Settings, all_matches: bool) -> Self {
        Self {
            scanner: settings.scanner(all_matches),
            head: Vec::new(),
            size: 0,
        }
    }

    /// More bytes of the object.
    pub fn feed(&mut self, data: &[u8]) {
        if self.head.len() < HEAD {
            let n = (HEAD - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
        }
        self.size += data.len() as u64;
        self.scanner.feed(data);
    }

    /// The verdict (blocking: unpacking may take a while).
    pub fn finish(self) -> Scanned {
        Scanned {
            verdict: self.scanner.finish(),
            head: self.head,
            size: self.size,
        }
    }

    /// The verdict, from an async task ([`bulwark_server::finish_scan`]: a light scan finishes
    /// here, anything else on a blocking thread). An error when that thread's task failed.
    pub async fn finish_async(self) -> Result<Scanned, tokio::task::JoinError> {
        let Feeder {
            scanner,
            head,
            size,
        } = self;
        let verdict = bulwark_server::finish_scan(scanner).await?;
        Ok(Scanned {
            verdict,
            head,
            size,
        })
    }
}

/// Scans what `r` reads to its end (blocking).
pub fn scan_reader(
    settings: &Settings,
    mut r: impl Read,
    all_matches: bool,
) -> std::io::Result<Scanned> {
    let mut f = Feeder::new(settings, all_matches);
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        f.feed(&buf[..n]);
    }
    Ok(f.finish())
}

/// Counts a scanned object as ICAP objects are counted (statistics, `av.stats`, licence,
/// notifications, access log); `object` is what was scanned (a path, `stream`, `fd[N]`).
pub fn record(
    ctx: &Context,
    settings: &Settings,
    object: &str,
    size: u64,
    v: &Verdict,
    started: Instant,
) {
    bulwark_server::record_direct(
        ctx,
        &bulwark_server::DirectScan {
            protocol: "CLAMD",
            group: &settings.group,
            client: settings.client.as_deref(),
            object,
            size,
            verdict: v,
            started,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_engine::Threat;

    fn deep(status: Status, threats: &[&str]) -> DeepVerdict {
        DeepVerdict {
            verdict: Verdict {
                status,
                threats: threats.iter().map(|t| Threat::new(*t, "")).collect(),
                error: None,
            },
            cured: None,
            packers: Vec::new(),
            notes: Vec::new(),
            unpacked_bytes: 0,
        }
    }

    #[test]
    fn outcomes_in_clamd_words() {
        let none = Alerts::default();
        let all = Alerts {
            exceeds_max: true,
            encrypted: true,
            broken: true,
        };
        let v = deep(Status::Infected, &["Eicar-Test-Signature", "Other"]);
        assert_eq!(
            Outcome::of(&v, b"", &none).lines("stream", false),
            vec!["stream: Eicar-Test-Signature FOUND"]
        );
        assert_eq!(
            Outcome::of(&v, b"", &none).lines("/f", true),
            vec!["/f: Eicar-Test-Signature FOUND", "/f: Other FOUND"]
        );
        let clean = deep(Status::Clean, &[]);
        assert_eq!(
            Outcome::of(&clean, b"", &none).lines("stream", false),
            vec!["stream: OK"]
        );
        let limits = deep(Status::LimitsExceeded, &[]);
        assert_eq!(Outcome::of(&limits, b"", &none), Outcome::Clean);
        assert_eq!(
            Outcome::of(&limits, b"", &all),
            Outcome::Found(vec!["Heuristics.Limits.Exceeded".into()])
        );
        let enc = deep(Status::Protected, &[]);
        assert_eq!(Outcome::of(&enc, b"PK\x03\x04", &none), Outcome::Clean);
        assert_eq!(
            Outcome::of(&enc, b"PK\x03\x04", &all),
            Outcome::Found(vec!["Heuristics.Encrypted.Zip".into()])
        );
        let err = deep(Status::Error, &[]);
        assert!(matches!(Outcome::of(&err, b"", &none), Outcome::Error(_)));
    }
}
