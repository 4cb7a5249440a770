//! Per-object records for the central log (`[log.syslog]`): what phase 7 knows of an object,
//! as a [`bulwark_syslog::ObjectRecord`].

use std::time::Duration;

use bulwark_engine::Status;
use bulwark_syslog::{Action, ObjectRecord, RecordKind};

use crate::context::Context;
use crate::record::{status_label, DirectScan, Report};

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

/// Sends the record of an ICAP transaction's object.
pub(crate) fn object(ctx: &Context, r: &Report<'_>, elapsed: Duration) {
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

/// Sends the record of a clamd or API scan (no SHA-256: those paths do not compute one).
pub(crate) fn direct(ctx: &Context, s: &DirectScan<'_>) {
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
