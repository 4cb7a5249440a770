//! What a transaction decided before its body — who asked, which group, which URL, which
//! object — and what follows from it: the answer flow's plan, the deep scanner's options, the
//! block page, the blocked-object cache entry.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_config::policy::Action;
use bulwark_containers::DeepOptions;
use bulwark_engine::{ErrorDetail, ScanOptions, SharedVerdicts, Status, Verdict};
use bulwark_icap::{Headers, Request};
use bulwark_policy::{Group, ObjectInfo, PageValues, SkipReason, Template};

use crate::answer;
use crate::blocked::ObjectKey;
use crate::context::Context;
use crate::flow::{Direction, OverBudget, Plan};
use crate::identify::Identity;
use crate::record::{record, Report, Reported};
use crate::snapshot::Snapshot;

/// Bytes of the body's start kept for file-type sniffing.
pub(crate) const SNIFF_KEEP: usize = 64;

/// Everything a transaction decided before its body: who, which group, which URL.
pub(crate) struct Txn<'a> {
    pub(crate) ctx: &'a Context,
    pub(crate) snap: &'a Snapshot,
    pub(crate) req: &'a Request,
    pub(crate) group: &'a Group,
    pub(crate) id: Identity,
    pub(crate) url: String,
    pub(crate) started: Instant,
    /// The group marks what it lets through as uncacheable: a 204 cannot say so.
    pub(crate) uncacheable: bool,
}

impl Txn<'_> {
    /// Phase 7: counts and logs how the transaction ended; `whole` is the whole object's
    /// SHA-256 and size, when it was computed and every byte of the object was read.
    pub(crate) fn report(
        &self,
        size: u64,
        verdict: &Verdict,
        answer: Reported,
        whole: Option<([u8; 32], u64)>,
    ) {
        record(
            self.ctx,
            &Report {
                req: self.req,
                id: &self.id,
                url: &self.url,
                group: self.group.name(),
                started: self.started,
                size,
                verdict,
                answer,
                whole,
                istag: &self.snap.istag,
                database: self.snap.database.version(),
            },
        );
    }

    /// The heads of the object: the response's for a download, the request's for an upload.
    pub(crate) fn object_headers(&self) -> Option<&Headers> {
        match (&self.req.http_response, &self.req.http_request) {
            (Some(h), _) => Some(&h.headers),
            (None, Some(h)) => Some(&h.headers),
            (None, None) => None,
        }
    }

    /// Writes the block page for `verdict` (or `template`, for blocks without a scan).
    pub(crate) fn block(
        &self,
        conn_out: &mut bytes::BytesMut,
        verdict: &Verdict,
        template: Option<Template>,
    ) {
        let threats: Vec<String> = verdict.threats.iter().map(|t| t.name.clone()).collect();
        let date = answer::httpdate_now();
        let values = PageValues {
            url: &self.url,
            client_addr: self
                .id
                .client
                .as_deref()
                .and_then(|c| c.parse::<IpAddr>().ok()),
            user: self.id.user.as_deref(),
            group: self.group.name(),
            action: Some(Action::Deny),
            threats: &threats,
            date: &date,
        };
        let lang = self
            .req
            .http_request
            .as_ref()
            .and_then(|h| h.headers.get("Accept-Language"));
        let page = match template {
            Some(t) => self.snap.policy.render_block_page(t, &values, lang),
            None => self
                .snap
                .policy
                .render_block_page(verdict.status, &values, lang),
        };
        answer::block_page(&self.snap.istag, verdict, &page.html, &page.lang, conn_out);
    }

    /// Remembers an infected download so a retry of the same object is blocked at once.
    pub(crate) fn remember(&self, v: &Verdict) {
        if v.status != Status::Infected {
            return;
        }
        if let Some(key) = self.key() {
            let ttl = Duration::from_secs(self.snap.config.answer.blocked_url_ttl_secs);
            if let Some(c) = &self.ctx.cluster {
                c.remember_blocked(&key.shared_id(), v, ttl);
            }
            self.ctx.blocked.insert(key, v, ttl);
        }
    }

    /// The object's identity in the blocked-object cache: downloads only, with the cache on.
    fn key(&self) -> Option<ObjectKey> {
        let a = &self.snap.config.answer;
        let h = self.req.http_response.as_ref()?;
        if a.blocked_url_ttl_secs == 0 || a.blocked_url_max == 0 {
            return None;
        }
        ObjectKey::new(
            &self.url,
            &h.headers,
            options_fingerprint(self.group, self.snap),
        )
    }

    /// The verdict that blocked this very object before, when the group blocks it too.
    pub(crate) fn cached_block(&self) -> Option<Verdict> {
        // Nothing remembered (the usual case): no key to build.
        if self.ctx.blocked.len() == 0 {
            return None;
        }
        let v = self.ctx.blocked.get(&self.key()?)?;
        (self.group.action(v.status) != Action::Skip).then_some(v)
    }

    /// The verdict that blocked this very object on another instance (the shared cache, asked
    /// within `cluster.timeout_ms`), when the group blocks it too; remembered locally as long
    /// as it stays blocked there.
    pub(crate) async fn shared_block(&self) -> Option<Verdict> {
        let c = self.ctx.cluster.as_ref().filter(|c| c.shares_blocked())?;
        let key = self.key()?;
        let (v, left) = c.blocked(&key.shared_id()).await?;
        let ttl = Duration::from_secs(self.snap.config.answer.blocked_url_ttl_secs);
        self.ctx.blocked.insert(key, &v, left.min(ttl));
        (self.group.action(v.status) != Action::Skip).then_some(v)
    }

    /// The answer flow's plan for this transaction.
    pub(crate) fn plan(&self) -> Plan {
        let a = &self.snap.config.answer;
        let heads = self.object_headers();
        // A Content-Length beside a Transfer-Encoding does not count (RFC 9112 §6.3).
        let content_length = heads
            .filter(|h| h.get("Transfer-Encoding").is_none())
            .and_then(|h| h.get("Content-Length"))
            .and_then(|v| v.trim().parse().ok());
        Plan {
            direction: if self.req.http_response.is_some() {
                Direction::Download
            } else {
                Direction::Upload
            },
            mode: a.mode,
            preview: self.req.preview.is_some(),
            allows_204: self.req.allows_204(),
            allows_206: self.req.allows_206(),
            content_length,
            uncacheable: self.uncacheable,
            hold_bytes: a.max_hold_bytes as u64,
            holdback_bytes: a.holdback_bytes as u64,
            send_delay: Duration::from_millis(a.max_send_delay_ms),
            trickle_bytes: a.trickle_bytes as u64,
            trickle_interval: Duration::from_secs(a.trickle_interval_secs),
            upload_hold_bytes: a.upload_hold_bytes,
            upload_over_budget: match a.upload_over_budget {
                bulwark_config::OverBudget::Block => OverBudget::Block,
                bulwark_config::OverBudget::Stream => OverBudget::Stream,
            },
        }
    }
}

/// What decides a verdict besides the bytes: the group's engine options, the limits and the
/// database. Two transactions with the same fingerprint reach the same verdict on the same
/// object; stable across runs and builds (FNV-1a), so the instances of a fleet agree on it.
pub(crate) fn options_fingerprint(g: &Group, snap: &Snapshot) -> u64 {
    let mut h = crate::snapshot::Fnv::default();
    for part in [
        format!("{:?}", g.engine()),
        format!("{:?}", snap.config.engine.limits),
        snap.database.version().to_string(),
    ] {
        h.write(part.as_bytes());
        h.write(&[0]);
    }
    h.finish()
}

/// What the policy knows of the object from its heads (and first bytes).
pub(crate) fn object_info<'a>(
    req: &'a Request,
    url: &'a str,
    first: Option<&'a [u8]>,
) -> ObjectInfo<'a> {
    let req_head = req.http_request.as_ref();
    let res_head = req.http_response.as_ref();
    let headers = match res_head {
        Some(h) => Some(&h.headers),
        None => req_head.map(|h| &h.headers),
    };
    ObjectInfo {
        method: req_head.map(|h| h.method.as_str()).unwrap_or(""),
        url,
        content_type: headers.and_then(|h| h.get("Content-Type")),
        content_length: headers
            .and_then(|h| h.get("Content-Length"))
            .and_then(|v| v.trim().parse().ok()),
        http_status: res_head.map(|h| h.status),
        first_bytes: first,
    }
}

pub(crate) fn skip_label(r: SkipReason) -> &'static str {
    match r {
        SkipReason::Method => "method",
        SkipReason::ExcludedUrl => "url",
        SkipReason::ExcludedMimeType => "mime_type",
        SkipReason::TooLarge => "too_large",
        SkipReason::PartialResponse => "partial_response",
    }
}

/// The verdict recorded for an object blocked without a scan.
pub(crate) fn unscanned_verdict(t: Template) -> Verdict {
    match t {
        Template::ObjectTooLarge => Verdict::of(Status::TooLarge),
        Template::LicenseError => Verdict::of(Status::LicenseError),
        Template::BasesError => Verdict::of(Status::BasesError),
        Template::ObjectPartial => Verdict::error(ErrorDetail::PartialRefused),
        _ => Verdict::of(Status::Error),
    }
}

/// The engine's options for a group.
fn scan_options(g: &Group) -> ScanOptions {
    let sets = &g.engine().signature_sets;
    ScanOptions {
        sets: (!sets.is_empty()).then(|| sets.clone()),
        ..ScanOptions::default()
    }
}

/// What the deep scan opens for this object: the group's engine options, the HTTP encoding,
/// a form upload's boundary, the limits.
pub(crate) fn deep_options(t: &Txn<'_>) -> DeepOptions {
    let e = t.group.engine();
    let cfg = &t.snap.config;
    let mut limits = cfg.engine.limits.clone();
    if e.max_scan_time_secs > 0 {
        limits.max_scan_time = Duration::from_secs(e.max_scan_time_secs).min(limits.max_scan_time);
    }
    let heads = match &t.req.http_response {
        Some(h) => &h.headers,
        None => match &t.req.http_request {
            Some(h) => &h.headers,
            None => return DeepOptions::default(),
        },
    };
    let boundary = heads.get("Content-Type").and_then(|ct| {
        let lower = ct.to_ascii_lowercase();
        if !lower.trim_start().starts_with("multipart/form-data") {
            return None;
        }
        let i = lower.find("boundary=")?;
        Some(
            ct[i + 9..]
                .split(';')
                .next()?
                .trim()
                .trim_matches('"')
                .to_string(),
        )
    });
    let name = t
        .url
        .split(['?', '#'])
        .next()
        .and_then(|u| u.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    DeepOptions {
        scan_archives: e.scan_archives,
        scan_packed: e.scan_packed,
        scan_mail_plain: e.scan_mail_plain,
        scan_mail_bases: e.scan_mail_bases,
        cure: e.cure,
        content_encoding: heads.get("Content-Encoding").map(str::to_string),
        multipart_boundary: if t.req.http_response.is_none() {
            boundary
        } else {
            None
        },
        name,
        limits,
        temp_dir: cfg.server.temp_path.clone(),
        engine: scan_options(t.group),
        verdict_cache: (cfg.engine.verdict_cache_entries > 0).then(|| t.snap.verdicts.clone()),
        shared_verdicts: t
            .ctx
            .cluster
            .as_ref()
            .filter(|c| c.shares_verdicts())
            .map(|c| c.clone() as Arc<dyn SharedVerdicts>),
    }
}
