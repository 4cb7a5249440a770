//! What `bulwark scan` does to each file: the server's default policy group (engine options
//! and actions) and `[engine.limits]`, then the clamscan-style switches on top.

use std::time::Duration;

use bulwark_config::policy::Action;
use bulwark_config::Config;
use bulwark_containers::DeepOptions;
use bulwark_engine::ScanOptions;

use super::ScanArgs;

/// Which non-threat statuses are reported as `Heuristics.*` detections (`FOUND`, counted as
/// infected, exit 1) rather than `OK`.
#[derive(Debug, Clone)]
pub(super) struct Alerts {
    /// Limits exceeded (`--alert-exceeds-max`).
    pub exceeds_max: bool,
    /// Encrypted content (`--alert-encrypted`).
    pub encrypted: bool,
    /// Corrupted executables and containers (`--alert-broken`).
    pub broken: bool,
}

/// The options of every file's scan.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// The deep scanner's options.
    pub deep: DeepOptions,
    /// Report every threat (`--allmatch`).
    pub allmatch: bool,
    /// Which statuses alert.
    pub alerts: Alerts,
}

/// The settings for `a` over the configuration `cfg`: the same deep options as the server
/// builds for the default group (`deep_options` in the server crate), without cure, HTTP
/// encodings or the verdict cache.
pub(super) fn settings(a: &ScanArgs, cfg: &Config) -> Settings {
    let group = &cfg.policy.default_group;
    let e = &group.engine;
    let mut limits = cfg.engine.limits.clone();
    if e.max_scan_time_secs > 0 {
        limits.max_scan_time = Duration::from_secs(e.max_scan_time_secs).min(limits.max_scan_time);
    }
    let unlimited = |n: u64| if n == 0 { u64::MAX } else { n };
    if let Some(n) = a.max_filesize {
        limits.max_member_bytes = unlimited(n);
        limits.max_object_bytes = unlimited(n);
    }
    if let Some(n) = a.max_scansize {
        limits.max_total_bytes = unlimited(n);
    }
    if let Some(n) = a.max_files {
        limits.max_members = unlimited(n);
    }
    if let Some(n) = a.max_recursion {
        // clamscan opens members at depths below N (N = 1 opens nothing); Bulwark's
        // `max_depth` is the deepest member opened.
        limits.max_depth = n - 1;
    }
    if let Some(ms) = a.max_scantime {
        limits.max_scan_time = if ms == 0 {
            Duration::MAX
        } else {
            Duration::from_millis(ms)
        };
    }
    let archives = !a.no_archive && a.scan_archive != Some(false);
    let mail = archives && a.scan_mail != Some(false);
    let sets = if a.sets.is_empty() {
        e.signature_sets.clone()
    } else {
        a.sets.clone()
    };
    let deep = DeepOptions {
        scan_archives: archives && e.scan_archives,
        scan_packed: archives && e.scan_packed,
        scan_mail_plain: mail && e.scan_mail_plain,
        scan_mail_bases: mail && e.scan_mail_bases,
        cure: false,
        content_encoding: None,
        multipart_boundary: None,
        name: None,
        limits,
        temp_dir: a
            .tempdir
            .clone()
            .unwrap_or_else(|| cfg.server.temp_path.clone()),
        engine: ScanOptions {
            sets: (!sets.is_empty()).then_some(sets),
            ..ScanOptions::default()
        },
        verdict_cache: None,
        shared_verdicts: None,
    };
    let acts = &group.actions;
    let alerts = Alerts {
        exceeds_max: a
            .alert_exceeds_max
            .unwrap_or(acts.limits_exceeded != Action::Skip),
        encrypted: a.alert_encrypted.unwrap_or(acts.protected != Action::Skip),
        broken: a.alert_broken.unwrap_or(acts.corrupted != Action::Skip),
    };
    Settings {
        deep,
        allmatch: a.allmatch,
        alerts,
    }
}

/// clamscan's `[=yes/no]` values.
pub(super) fn yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" | "on" => Ok(true),
        "no" | "n" | "false" | "0" | "off" => Ok(false),
        _ => Err(format!("expected yes or no, not {s:?}")),
    }
}

/// `--max-recursion`: at least 1.
pub(super) fn recursion(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("expected a number from 1, not {s:?}")),
    }
}

/// A symlink mode: 0, 1 or 2.
pub(super) fn follow(s: &str) -> Result<u8, String> {
    match s {
        "0" => Ok(0),
        "1" => Ok(1),
        "2" => Ok(2),
        _ => Err(format!("expected 0, 1 or 2, not {s:?}")),
    }
}

/// A size as clamscan writes it: bytes, or a number followed by K, M or G (powers of 1024).
pub(super) fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&t[..i], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("expected a size such as 1048576, 512K, 100M or 2G, not {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_clamscan_suffixes() {
        assert_eq!(size("1024"), Ok(1024));
        assert_eq!(size("512K"), Ok(512 << 10));
        assert_eq!(size("512k"), Ok(512 << 10));
        assert_eq!(size("100M"), Ok(100 << 20));
        assert_eq!(size("2G"), Ok(2 << 30));
        assert_eq!(size("0"), Ok(0));
        for bad in ["", "M", "1.5M", "-1", "10T", "99999999999999999999G"] {
            assert!(size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn yes_no_values() {
        assert_eq!(yes_no("yes"), Ok(true));
        assert_eq!(yes_no("NO"), Ok(false));
        assert!(yes_no("maybe").is_err());
        assert_eq!(follow("2"), Ok(2));
        assert!(follow("3").is_err());
    }

    #[test]
    fn defaults_are_the_default_groups() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            a: ScanArgs,
        }
        let parse = |extra: &[&str]| {
            let mut v = vec!["scan"];
            v.extend_from_slice(extra);
            v.push("file");
            settings(&Cli::parse_from(v).a, &Config::default())
        };
        let cfg = Config::default();
        let s = parse(&[]);
        let e = &cfg.policy.default_group.engine;
        assert_eq!(s.deep.scan_archives, e.scan_archives);
        assert_eq!(s.deep.scan_packed, e.scan_packed);
        assert_eq!(s.deep.scan_mail_plain, e.scan_mail_plain);
        assert!(!s.deep.cure);
        let mut want = cfg.engine.limits.clone();
        want.max_scan_time = Duration::from_secs(e.max_scan_time_secs).min(want.max_scan_time);
        assert_eq!(s.deep.limits, want);
        assert!(s.alerts.exceeds_max && s.alerts.encrypted && s.alerts.broken);
        assert!(!s.allmatch);

        let s = parse(&[
            "--no-archive",
            "--max-filesize=1M",
            "--max-scansize",
            "2M",
            "--max-files=0",
            "--max-recursion=3",
            "--max-scantime=1500",
            "--alert-exceeds-max=no",
            "--alert-encrypted",
            "-z",
        ]);
        assert!(!s.deep.scan_archives && !s.deep.scan_packed && !s.deep.scan_mail_bases);
        assert_eq!(s.deep.limits.max_member_bytes, 1 << 20);
        assert_eq!(s.deep.limits.max_object_bytes, 1 << 20);
        assert_eq!(s.deep.limits.max_total_bytes, 2 << 20);
        assert_eq!(s.deep.limits.max_members, u64::MAX);
        assert_eq!(s.deep.limits.max_depth, 2);
        assert_eq!(s.deep.limits.max_scan_time, Duration::from_millis(1500));
        assert!(!s.alerts.exceeds_max && s.alerts.encrypted && s.allmatch);

        let s = parse(&["--scan-mail=no"]);
        assert!(s.deep.scan_archives && !s.deep.scan_mail_plain && !s.deep.scan_mail_bases);
    }
}
