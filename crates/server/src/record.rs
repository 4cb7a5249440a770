//! Phase 7 of a transaction: counters, the `av.stats` line, the report log, notifications and
//! the central log's per-object record (`[log.syslog]`, as a [`bulwark_syslog::ObjectRecord`]).

use std::time::{Duration, Instant};

use bulwark_engine::{Status, Verdict};
use bulwark_icap::Request;
use bulwark_syslog::{Action, ObjectRecord, RecordKind};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use tracing::info;

use crate::answer;
use crate::context::Context;
use crate::flow::{Answer, Outcome};
use crate::identify::Identity;

/// How a transaction ended, for the logs and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reported {
    /// Answered by the answer flow.
    Flow(Outcome),
    /// Blocked before its body from the blocked-object cache.
    BlockCached,
    /// Blocked before its body from the blocked-object cache shared by the fleet (another
    /// instance found it infected).
    BlockShared,
    /// Blocked before its body without a scan (licence, policy filter).
    BlockUnscanned,
}

impl Reported {
    /// The label in the report log.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Reported::BlockCached => "block-cached",
            Reported::BlockShared => "block-shared",
            Reported::BlockUnscanned => "block-unscanned",
            Reported::Flow(o) if !o.scanned => match o.answer {
                Answer::NoContent => "204-unscanned",
                Answer::UseOriginal => "206-unscanned",
                Answer::Echo | Answer::Stream => "200-unscanned",
                other => other.as_str(),
            },
            Reported::Flow(o) => o.answer.as_str(),
        }
    }

    /// True when the client did not get the object.
    pub(crate) fn denied(self) -> bool {
        match self {
            Reported::Flow(o) => o.answer.denied(),
            Reported::BlockCached | Reported::BlockShared | Reported::BlockUnscanned => true,
        }
    }

    /// What the user saw: delivered, blocked, cured, or cut after N body bytes reached the
    /// client before the verdict stopped it.
    pub(crate) fn action(self) -> Action {
        match self {
            Reported::Flow(Outcome {
                answer: Answer::Cut | Answer::Reset,
                sent,
                ..
            }) => Action::Cut { after: sent },
            Reported::Flow(Outcome {
                answer: Answer::Cured,
                ..
            }) => Action::Cured,
            r if r.denied() => Action::Blocked,
            _ => Action::Delivered,
        }
    }

    /// [`Reported::action`] for `av.stats` and notifications: `delivered`, `blocked`, `cured`,
    /// or `cut-after-N`.
    pub(crate) fn delivery(self) -> String {
        self.action().to_string()
    }

    /// True when the object was refused without its body being scanned.
    pub(crate) fn unscanned_block(self) -> bool {
        match self {
            Reported::BlockCached | Reported::BlockShared | Reported::BlockUnscanned => true,
            Reported::Flow(o) => !o.scanned && o.answer.denied(),
        }
    }

    /// The `how` label of the stopped-transfers counter, when the object was stopped.
    fn stopped(self) -> Option<&'static str> {
        match self {
            Reported::Flow(o) => match o.answer {
                Answer::Blocked => Some("block"),
                Answer::Cut => Some("cut"),
                Answer::Reset => Some("reset"),
                _ => None,
            },
            Reported::BlockCached | Reported::BlockShared | Reported::BlockUnscanned => {
                Some("block")
            }
        }
    }
}

/// What happened to the object, for the logs and counters (phase 6).
pub(crate) struct Report<'a> {
    pub(crate) req: &'a Request,
    pub(crate) id: &'a Identity,
    pub(crate) url: &'a str,
    pub(crate) group: &'a str,
    pub(crate) started: Instant,
    pub(crate) size: u64,
    pub(crate) verdict: &'a Verdict,
    pub(crate) answer: Reported,
    /// SHA-256 and size of the whole object, when central logs want it and every byte was
    /// read (`size` may stop at the verdict; these count the drained rest too).
    pub(crate) whole: Option<([u8; 32], u64)>,
    /// The ISTag of the transaction's snapshot.
    pub(crate) istag: &'a str,
    /// The database version of the transaction's snapshot.
    pub(crate) database: &'a str,
}

/// The statistics label of a status.
pub(crate) fn status_label(s: Status) -> &'static str {
    match s {
        Status::Clean => "clean",
        Status::Infected => "infected",
        Status::Suspicious => "suspicious",
        Status::Warning => "warning",
        Status::Cured => "cured",
        Status::Protected => "protected",
        Status::Corrupted => "corrupted",
        Status::Error => "error",
        Status::TooLarge => "too_large",
        Status::LimitsExceeded => "limits_exceeded",
        Status::LicenseError => "license_error",
        Status::BasesError => "bases_error",
    }
}

/// The fields of one `av.stats` line.
struct AvLine<'a> {
    size: u64,
    verdict: &'a Verdict,
    /// The ICAP method, or `CLAMD` / `API` for a direct scan.
    mode: &'a str,
    group: &'a str,
    user: &'a str,
    client: &'a str,
    /// The URL, or what a direct scan read (a path, `stream`, `fd`).
    object: &'a str,
    millis: u128,
    /// What the user saw (`delivered`, `blocked`, `cured`, `cut-after-N`; `reported` for a
    /// direct scan, whose client decides).
    delivery: &'a str,
}

/// The date and time of an `av.stats` line (kav4proxy's), e.g. `14-11-2023 22:13:20`.
const AV_STATS_DATE: &[BorrowedFormatItem<'_>] =
    format_description!("[day]-[month]-[year] [hour]:[minute]:[second]");

/// One `av.stats` line: kav4proxy's fields (date, time, size, status and threat, mode, group,
/// user, client, URL) with the scan time and what the user saw appended.
fn av_stats_line(l: &AvLine<'_>, now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let date = answer::utc(secs).format(AV_STATS_DATE).unwrap_or_default();
    let mut status = l.verdict.status.as_str().to_string();
    if !l.verdict.threats.is_empty() || l.verdict.error.is_some() {
        status.push(' ');
        status.push_str(&l.verdict.label().replace(char::is_whitespace, "_"));
    }
    let field = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.replace(char::is_whitespace, "%20")
        }
    };
    format!(
        "{date} {} {} {} {} {} {} {} {}ms {}\n",
        l.size,
        status,
        l.mode,
        field(l.group),
        field(l.user),
        field(l.client),
        field(l.object),
        l.millis,
        l.delivery
    )
}

/// What every scanned object adds, through ICAP or directly: the object counters, an
/// `av.stats` line (`line` builds it, given the scan time in ms, only when the file is on) and
/// the licence's traffic.
fn count(
    ctx: &Context,
    verdict: &Verdict,
    size: u64,
    group: &str,
    started: Instant,
    line: impl FnOnce(u128) -> String,
) {
    let elapsed = started.elapsed();
    ctx.stats.object(
        status_label(verdict.status),
        size,
        group,
        elapsed.as_secs_f64(),
    );
    let av = ctx.av_log.load();
    if av.enabled() {
        av.write(line(elapsed.as_millis()).as_bytes());
    }
    if let Some(l) = &ctx.license {
        l.record(size);
    }
}

/// A scan asked for outside ICAP: through the clamd protocol or the JSON API.
#[derive(Debug, Clone, Copy)]
pub struct DirectScan<'a> {
    /// `CLAMD` or `API`: written where `av.stats` has the ICAP method.
    pub protocol: &'a str,
    /// The policy group whose options applied.
    pub group: &'a str,
    /// The client's address, when it has one (not on a Unix socket).
    pub client: Option<&'a str>,
    /// What was scanned: a path, `stream`, `fd`, or the name the client gave.
    pub object: &'a str,
    /// Bytes scanned.
    pub size: u64,
    /// The verdict.
    pub verdict: &'a Verdict,
    /// When the scan started.
    pub started: Instant,
}

/// Counts a direct scan as ICAP transactions are counted: the object counters, an `av.stats`
/// line, the licence's traffic, a detection notification (action `REPORT`: the client decides
/// what to do) and an access-log record for what was not clean.
pub fn record_direct(ctx: &Context, s: &DirectScan<'_>) {
    count(ctx, s.verdict, s.size, s.group, s.started, |millis| {
        let line = AvLine {
            size: s.size,
            verdict: s.verdict,
            mode: s.protocol,
            group: s.group,
            user: "",
            client: s.client.unwrap_or(""),
            object: s.object,
            millis,
            delivery: "reported",
        };
        av_stats_line(&line, std::time::SystemTime::now())
    });
    central_direct(ctx, s);
    if s.verdict.status == Status::Clean {
        return;
    }
    let threats: Vec<String> = s.verdict.threats.iter().map(|t| t.name.clone()).collect();
    ctx.notifier
        .load()
        .notify(bulwark_notify::Event::Detection {
            status: s.verdict.status.as_str().to_string(),
            threats: threats.clone(),
            url: s.object.to_string(),
            client: s.client.and_then(|c| c.parse().ok()),
            user: None,
            group: s.group.to_string(),
            action: "REPORT".to_string(),
            size: s.size,
        });
    info!(
        target: "bulwark::access",
        protocol = s.protocol,
        client = s.client.unwrap_or("-"),
        group = s.group,
        object = s.object,
        size = s.size,
        status = s.verdict.status.as_str(),
        threats = %threats.join(","),
        error = s.verdict.error.map_or("", |e| e.as_str()),
        "scanned"
    );
}

pub(crate) fn record(ctx: &Context, r: &Report<'_>) {
    let threats: Vec<&str> = r.verdict.threats.iter().map(|t| t.name.as_str()).collect();
    let elapsed = r.started.elapsed();
    count(ctx, r.verdict, r.size, r.group, r.started, |millis| {
        let delivery = r.answer.delivery();
        let line = AvLine {
            size: r.size,
            verdict: r.verdict,
            mode: r.req.method.as_str(),
            group: r.group,
            user: r.id.user.as_deref().unwrap_or(""),
            client: r.id.client.as_deref().unwrap_or(""),
            object: r.url,
            millis,
            delivery: &delivery,
        };
        av_stats_line(&line, std::time::SystemTime::now())
    });
    central_object(ctx, r, elapsed);
    if let Some(how) = r.answer.stopped() {
        ctx.stats.stopped(how);
    }
    if r.verdict.status != Status::Clean {
        let denied = r.answer.denied();
        let cut = matches!(r.answer.stopped(), Some("cut" | "reset"));
        ctx.notifier
            .load()
            .notify(bulwark_notify::Event::Detection {
                status: r.verdict.status.as_str().to_string(),
                threats: threats.iter().map(|t| t.to_string()).collect(),
                url: r.url.to_string(),
                client: r.id.client.as_deref().and_then(|c| c.parse().ok()),
                user: r.id.user.clone(),
                group: r.group.to_string(),
                action: match (denied, cut) {
                    (_, true) => "CUT",
                    (true, false) => "DENY",
                    (false, false) => "SKIP",
                }
                .to_string(),
                size: r.size,
            });
    }
    let show_ok = ctx.snapshot.load().config.log.show_ok;
    if r.verdict.status == Status::Clean && !show_ok {
        return;
    }
    info!(
        target: "bulwark::access",
        method = r.req.method.as_str(),
        client = r.id.client.as_deref().unwrap_or("-"),
        user = r.id.user.as_deref().unwrap_or("-"),
        group = r.group,
        url = r.url,
        size = r.size,
        status = r.verdict.status.as_str(),
        threats = %threats.join(","),
        error = r.verdict.error.map_or("", |e| e.as_str()),
        answer = r.answer.label(),
        delivery = %r.answer.delivery(),
        ms = elapsed.as_millis() as u64,
        "scanned"
    );
}

/// The kind of a scan's record by its status.
fn kind_of(status: Status) -> RecordKind {
    match status {
        Status::Clean => RecordKind::Clean,
        Status::Infected | Status::Suspicious | Status::Warning | Status::Cured => {
            RecordKind::Detection
        }
        _ => RecordKind::Incomplete,
    }
}

/// Sends the central log's record (`[log.syslog]`) of an ICAP transaction's object.
fn central_object(ctx: &Context, r: &Report<'_>, elapsed: Duration) {
    if !ctx.central.wants_objects() {
        return;
    }
    let threats: Vec<&str> = r.verdict.threats.iter().map(|t| t.name.as_str()).collect();
    let label = r.answer.label();
    ctx.central.object(&ObjectRecord {
        kind: if r.answer.unscanned_block() {
            RecordKind::Blocked
        } else {
            kind_of(r.verdict.status)
        },
        protocol: r.req.method.as_str(),
        status: status_label(r.verdict.status),
        threats: &threats,
        url: r.url,
        client: r.id.client.as_deref(),
        user: r.id.user.as_deref(),
        group: r.group,
        action: r.answer.action(),
        answer: label,
        // The whole object's size with its hash; without, the bytes read before the verdict.
        size: r.whole.map_or(r.size, |(_, n)| n),
        sha256: r.whole.as_ref().map(|(h, _)| h),
        istag: r.istag,
        database: r.database,
        millis: elapsed.as_millis() as u64,
    });
}

/// Sends the central log's record of a clamd or API scan (no SHA-256: those paths do not compute one).
fn central_direct(ctx: &Context, s: &DirectScan<'_>) {
    if !ctx.central.wants_objects() {
        return;
    }
    let threats: Vec<&str> = s.verdict.threats.iter().map(|t| t.name.as_str()).collect();
    let snap = ctx.snapshot.load();
    ctx.central.object(&ObjectRecord {
        kind: kind_of(s.verdict.status),
        protocol: s.protocol,
        status: status_label(s.verdict.status),
        threats: &threats,
        url: s.object,
        client: s.client,
        user: None,
        group: s.group,
        action: Action::Reported,
        answer: "reported",
        size: s.size,
        sha256: None,
        istag: &snap.istag,
        database: snap.database.version(),
        millis: s.started.elapsed().as_millis() as u64,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn av_stats_line_has_kav4proxy_date_and_fields() {
        let verdict = Verdict::clean();
        let line = AvLine {
            size: 68,
            verdict: &verdict,
            mode: "RESPMOD",
            group: "",
            user: "a user",
            client: "10.0.0.1",
            object: "http://example.com/",
            millis: 3,
            delivery: "delivered",
        };
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_401);
        assert_eq!(
            av_stats_line(&line, at),
            "29-02-2000 00:00:01 68 CLEAN RESPMOD - a%20user 10.0.0.1 http://example.com/ 3ms delivered\n"
        );
    }
}
