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
    /// `DD-MM-YYYY HH:MM:SS` as written (UTC).
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
        time: format!("{} {}", f[0], f[1]),
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

/// The last lines of `path`, newest first: non-clean ones only unless `all`, at most `limit`.
pub(crate) fn recent(path: &Path, limit: usize, all: bool) -> std::io::Result<Vec<AvStatsLine>> {
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
        .filter(|l| all || !l.status.eq_ignore_ascii_case("clean"))
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
        let r = recent(&p, 3, false).expect("read");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].threat.as_deref(), Some("T4"));
        assert_eq!(recent(&p, 100, true).expect("read").len(), 10);
    }
}
