//! Recent detections: the last lines of the AV statistics log (`log.av_stats_file`).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

/// Bytes read from the end of the log at most.
const TAIL_BYTES: u64 = 2 * 1024 * 1024;

/// One parsed `av.stats` line:
/// `DD-MM-YYYY HH:MM:SS size STATUS[ threat] MODE group user client url Nms[ delivery]`
/// (lines written before the delivery field existed have none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AvStatsLine {
    /// `YYYY-MM-DD HH:MM:SS` (UTC; the log writes `DD-MM-YYYY HH:MM:SS`).
    pub time: String,
    /// Object size in bytes.
    pub size: u64,
    /// `CLEAN`, `INFECTED`, `SUSPICIOUS`…
    pub status: String,
    /// The first threat found, if any.
    pub threat: Option<String>,
    /// `REQMOD` or `RESPMOD`.
    pub mode: String,
    /// Policy group.
    pub group: String,
    /// User name (`-` when unknown).
    pub user: String,
    /// Client address (`-` when unknown).
    pub client: String,
    /// The URL (spaces written as `%20`).
    pub url: String,
    /// Scan time in milliseconds.
    pub ms: u64,
    /// What the user saw: `delivered`, `blocked`, `cured` or `cut-after-N`; `None` on older
    /// lines.
    pub delivery: Option<String>,
}

/// Which detections to list: every criterion given must hold (text criteria match a substring,
/// without regard to ASCII case; dates are `YYYY-MM-DD`, both ends included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Clean objects too, not only detections.
    pub all: bool,
    /// Part of the client address.
    pub client: Option<String>,
    /// Part of the policy group's name.
    pub group: Option<String>,
    /// Part of the threat name.
    pub threat: Option<String>,
    /// Part of the URL.
    pub url: Option<String>,
    /// Part of the user name.
    pub user: Option<String>,
    /// First day (`YYYY-MM-DD`, UTC).
    pub from: Option<String>,
    /// Last day (`YYYY-MM-DD`, UTC).
    pub to: Option<String>,
}

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}: a date is written YYYY-MM-DD")]
pub struct BadDate(pub String);

fn contains(hay: &str, needle: &Option<String>) -> bool {
    needle
        .as_deref()
        .is_none_or(|n| hay.to_ascii_lowercase().contains(&n.to_ascii_lowercase()))
}

fn valid_day(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

impl Filter {
    /// Checks the dates; every other criterion is free text.
    pub fn validate(&self) -> Result<(), BadDate> {
        for d in [&self.from, &self.to].into_iter().flatten() {
            if !valid_day(d) {
                return Err(BadDate(d.clone()));
            }
        }
        Ok(())
    }

    /// Whether `l` passes.
    pub fn matches(&self, l: &AvStatsLine) -> bool {
        let day = &l.time[..l.time.len().min(10)];
        (self.all || !l.status.eq_ignore_ascii_case("clean"))
            && contains(&l.client, &self.client)
            && contains(&l.group, &self.group)
            && contains(l.threat.as_deref().unwrap_or(""), &self.threat)
            && contains(&l.url, &self.url)
            && contains(&l.user, &self.user)
            && self.from.as_deref().is_none_or(|f| day >= f)
            && self.to.as_deref().is_none_or(|t| day <= t)
    }
}

/// `DD-MM-YYYY HH:MM:SS` (the av.stats spelling, kav4proxy's) as `YYYY-MM-DD HH:MM:SS`, the
/// one date format of the console; other text is kept as it is.
fn iso_time(date: &str, time: &str) -> String {
    let b = date.as_bytes();
    if b.len() == 10 && b[2] == b'-' && b[5] == b'-' {
        format!("{}-{}-{} {time}", &date[6..], &date[3..5], &date[..2])
    } else {
        format!("{date} {time}")
    }
}

/// Parses one line; `None` when it is not in the expected shape.
pub fn parse_av_stats_line(line: &str) -> Option<AvStatsLine> {
    let mut f: Vec<&str> = line.split_whitespace().collect();
    let delivery = match f.last() {
        Some(last) if !last.ends_with("ms") => {
            let d = last.to_string();
            f.pop();
            Some(d)
        }
        _ => None,
    };
    let (threat, rest) = match f.len() {
        10 => (None, &f[4..]),
        11 => (Some(f[4].to_string()), &f[5..]),
        _ => return None,
    };
    let ms = f.last()?.strip_suffix("ms")?.parse().ok()?;
    Some(AvStatsLine {
        time: iso_time(f[0], f[1]),
        size: f[2].parse().ok()?,
        status: f[3].to_string(),
        threat,
        mode: rest[0].to_string(),
        group: rest[1].to_string(),
        user: rest[2].to_string(),
        client: rest[3].to_string(),
        url: rest[4].to_string(),
        ms,
        delivery,
    })
}

/// The last lines of `path` that pass `filter`, newest first, at most `limit`.
pub(crate) fn recent(
    path: &Path,
    limit: usize,
    filter: &Filter,
) -> std::io::Result<Vec<AvStatsLine>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.take(TAIL_BYTES).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // The first line read is probably cut.
        lines.remove(0);
    }
    Ok(lines
        .iter()
        .rev()
        .filter_map(|l| parse_av_stats_line(l))
        .filter(|l| filter.matches(l))
        .take(limit)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_shapes() {
        let a = parse_av_stats_line(
            "07-03-2025 10:11:12 68 INFECTED Eicar-Test-Signature RESPMOD default - 10.0.0.1 http://x/e.com 3ms",
        )
        .expect("parsed");
        assert_eq!(a.threat.as_deref(), Some("Eicar-Test-Signature"));
        assert_eq!(a.mode, "RESPMOD");
        assert_eq!(a.ms, 3);
        let b = parse_av_stats_line(
            "07-03-2025 10:11:12 1000 CLEAN REQMOD default alice 10.0.0.1 http://x/ 0ms",
        )
        .expect("parsed");
        assert_eq!(b.threat, None);
        assert_eq!(b.user, "alice");
        assert_eq!(b.delivery, None);
        let c = parse_av_stats_line(
            "07-03-2025 10:11:12 9000000 INFECTED Eicar-Test-Signature RESPMOD default - - http://x/big 40ms cut-after-8995904",
        )
        .expect("parsed");
        assert_eq!(c.delivery.as_deref(), Some("cut-after-8995904"));
        assert_eq!(c.ms, 40);
        assert!(parse_av_stats_line("garbage").is_none());
    }

    #[test]
    fn tail_newest_first() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("av.stats");
        let mut text = String::new();
        for i in 0..5 {
            text.push_str(&format!(
                "07-03-2025 10:11:1{i} 68 INFECTED T{i} RESPMOD default - - http://x/{i} 1ms\n"
            ));
            text.push_str("07-03-2025 10:11:12 1 CLEAN RESPMOD default - - http://x/ 0ms\n");
        }
        std::fs::write(&p, text).expect("write");
        let r = recent(&p, 3, &Filter::default()).expect("read");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].threat.as_deref(), Some("T4"));
        assert_eq!(r[0].time, "2025-03-07 10:11:14");
        let all = Filter {
            all: true,
            ..Filter::default()
        };
        assert_eq!(recent(&p, 100, &all).expect("read").len(), 10);
    }

    #[test]
    fn filters_by_client_group_threat_url_user_and_day() {
        let lines = [
            "07-03-2025 10:00:00 68 INFECTED Eicar-Test-Signature RESPMOD default - 10.0.0.1 http://a.test/e.com 3ms",
            "08-03-2025 11:00:00 68 INFECTED Win.Trojan.Agent RESPMOD managers bob 10.0.0.2 http://b.test/x.exe 3ms",
            "09-03-2025 12:00:00 68 SUSPICIOUS Heuristics.Encrypted.Zip REQMOD default alice 192.168.1.5 http://c.test/up 3ms",
            "09-03-2025 12:00:01 10 CLEAN RESPMOD managers bob 10.0.0.2 http://b.test/ok 0ms",
        ];
        let parsed: Vec<AvStatsLine> = lines
            .iter()
            .map(|l| parse_av_stats_line(l).expect("line"))
            .collect();
        let pick = |f: Filter| -> Vec<usize> {
            assert_eq!(f.validate(), Ok(()));
            (0..parsed.len())
                .filter(|&i| f.matches(&parsed[i]))
                .collect()
        };
        let f = Filter::default;
        assert_eq!(pick(f()), vec![0, 1, 2]);
        assert_eq!(
            pick(Filter {
                client: Some("10.0.0.".into()),
                ..f()
            }),
            vec![0, 1]
        );
        assert_eq!(
            pick(Filter {
                group: Some("MANAGERS".into()),
                ..f()
            }),
            vec![1]
        );
        assert_eq!(
            pick(Filter {
                group: Some("managers".into()),
                all: true,
                ..f()
            }),
            vec![1, 3]
        );
        assert_eq!(
            pick(Filter {
                threat: Some("eicar".into()),
                ..f()
            }),
            vec![0]
        );
        assert_eq!(
            pick(Filter {
                url: Some("c.test".into()),
                ..f()
            }),
            vec![2]
        );
        assert_eq!(
            pick(Filter {
                user: Some("bob".into()),
                ..f()
            }),
            vec![1]
        );
        assert_eq!(
            pick(Filter {
                from: Some("2025-03-08".into()),
                ..f()
            }),
            vec![1, 2]
        );
        assert_eq!(
            pick(Filter {
                to: Some("2025-03-08".into()),
                ..f()
            }),
            vec![0, 1]
        );
        assert_eq!(
            pick(Filter {
                from: Some("2025-03-08".into()),
                to: Some("2025-03-08".into()),
                ..f()
            }),
            vec![1]
        );
        let bad = Filter {
            from: Some("08-03-2025".into()),
            ..f()
        };
        assert_eq!(bad.validate(), Err(BadDate("08-03-2025".into())));
    }
}
