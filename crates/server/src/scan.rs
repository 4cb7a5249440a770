//! Phases 3 to 6 of a REQMOD or RESPMOD: select the group, filter, scan the body as it arrives
//! while the answer streams (or is held, or trickles), decide, answer, record.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_config::AnswerMode;
use bulwark_containers::{CuredBody, DeepOptions, DeepScanner};
use bulwark_engine::{ScanOptions, Status, Threat, Verdict};
use bulwark_icap::{encode, Request, RequestEvent};
use bulwark_policy::{Action, FilterDecision, Group, ObjectInfo, PageValues, SkipReason, Template};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::answer;
use crate::connection::{Conn, ConnError};
use crate::context::Context;
use crate::snapshot::Snapshot;
use crate::spool::Spool;
use crate::transaction::{framing_lost, identify, record, skip_body, Identity, Next, Report};

/// Largest piece written per chunk when a held body is released.
const PIECE: usize = 64 * 1024;
/// Bytes of the body's start kept for file-type sniffing.
const SNIFF_KEEP: usize = 64;

/// Everything a transaction decided before its body: who, which group, which URL.
struct Txn<'a> {
    ctx: &'a Context,
    snap: &'a Snapshot,
    req: &'a Request,
    group: &'a Group,
    id: Identity,
    url: String,
    started: Instant,
    /// The group marks what it lets through as uncacheable: a 204 cannot say so.
    uncacheable: bool,
}

impl Txn<'_> {
    fn report(&self, size: u64, verdict: &Verdict, answer: &'static str) {
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
            },
        );
    }

    /// Writes the block page for `verdict` (or `template`, for blocks without a scan).
    fn block(&self, conn_out: &mut bytes::BytesMut, verdict: &Verdict, template: Option<Template>) {
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

    /// Remembers an infected URL so a retry is blocked at once.
    fn remember(&self, v: &Verdict) {
        if v.status == Status::Infected {
            let a = &self.snap.config.answer;
            self.ctx.blocked.insert(
                &self.url,
                v,
                Duration::from_secs(a.blocked_url_ttl_secs),
                a.blocked_url_max,
            );
        }
    }
}

/// What the policy knows of the object from its heads (and first bytes).
fn object_info<'a>(req: &'a Request, url: &'a str, first: Option<&'a [u8]>) -> ObjectInfo<'a> {
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

fn skip_label(r: SkipReason) -> &'static str {
    match r {
        SkipReason::Method => "method",
        SkipReason::ExcludedUrl => "url",
        SkipReason::ExcludedMimeType => "mime_type",
        SkipReason::TooLarge => "too_large",
        SkipReason::PartialResponse => "partial_response",
    }
}

/// The verdict recorded for an object blocked without a scan.
fn unscanned_verdict(t: Template) -> Verdict {
    match t {
        Template::ObjectTooLarge => Verdict::of(Status::TooLarge),
        Template::LicenseError => Verdict::of(Status::LicenseError),
        Template::BasesError => Verdict::of(Status::BasesError),
        _ => Verdict {
            status: Status::Error,
            threats: vec![Threat::new(t.verdict(), "")],
        },
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
fn deep_options(t: &Txn<'_>) -> DeepOptions {
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
    }
}

/// Phases 3 to 6 for a REQMOD or RESPMOD.
pub(crate) async fn scan<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    ctx: &Context,
    snap: &Arc<Snapshot>,
    req: &Request,
) -> Result<Next, ConnError> {
    let id = identify(snap, req);
    let url = req
        .http_request
        .as_ref()
        .map(|h| h.url())
        .unwrap_or_default();
    let client_ip = id.client.as_deref().and_then(|c| c.parse::<IpAddr>().ok());
    let group = snap.policy.select(client_ip, id.user.as_deref(), &url);
    let t = Txn {
        ctx,
        snap,
        req,
        group,
        id,
        url,
        started: Instant::now(),
        uncacheable: group.config().mark_uncacheable && req.http_response.is_some(),
    };

    if !req.has_body {
        // Nothing to scan (CONNECT, HEAD, GET in REQMOD, bodiless answers): pass at once.
        skip_body(conn).await?;
        ctx.stats.excluded("no_body");
        if req.preview.is_some() || req.allows_204() {
            answer::no_content(&snap.istag, &mut conn.out);
        } else {
            answer::echo_head(req, &snap.istag, false, &mut conn.out);
        }
        conn.flush().await?;
        return Ok(Next::KeepAlive);
    }

    if ctx.license.as_ref().is_some_and(|l| !l.allows_scanning()) {
        // No usable licence: LicenseErrorAction for every object.
        let v = Verdict::of(Status::LicenseError);
        if group.action(Status::LicenseError) == Action::Skip {
            ctx.stats.excluded("license");
            return pass_unscanned(conn, &t).await;
        }
        t.block(&mut conn.out, &v, Some(Template::LicenseError));
        t.report(0, &v, "block-unscanned");
        conn.flush().await?;
        skip_body(conn).await?;
        return Ok(Next::KeepAlive);
    }

    if let Some(v) = ctx.blocked.get(&t.url) {
        t.block(&mut conn.out, &v, None);
        t.report(0, &v, "block-cached");
        conn.flush().await?;
        skip_body(conn).await?;
        return Ok(Next::KeepAlive);
    }

    let mut sniff_after = None;
    match group.filter(&object_info(req, &t.url, None)) {
        FilterDecision::Scan => {}
        FilterDecision::NeedBytes(n) => sniff_after = Some(n.min(SNIFF_KEEP)),
        FilterDecision::Skip(reason) => {
            ctx.stats.excluded(skip_label(reason));
            return pass_unscanned(conn, &t).await;
        }
        FilterDecision::Deny(template) => {
            let v = unscanned_verdict(template);
            t.block(&mut conn.out, &v, Some(template));
            t.report(0, &v, "block-unscanned");
            conn.flush().await?;
            skip_body(conn).await?;
            return Ok(Next::KeepAlive);
        }
    }
    Body::new(&t, sniff_after).run(conn).await
}

/// Delivers the object without scanning it.
async fn pass_unscanned<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    t: &Txn<'_>,
) -> Result<Next, ConnError> {
    let skipped = Verdict::clean();
    if t.req.preview.is_some() && (!t.uncacheable || t.req.allows_206()) {
        // 204 is always allowed in answer to a preview; 206 when the heads change. The rest of
        // the body never comes.
        let label = preview_pass(conn, t);
        conn.flush().await?;
        skip_body(conn).await?;
        t.report(0, &skipped, label);
        return Ok(Next::KeepAlive);
    }
    let (preview, more) = if t.req.preview.is_some() {
        // The heads must change and 206 is not offered: take the whole body and echo it.
        read_preview_and_continue(conn).await?
    } else {
        (Vec::new(), true)
    };
    answer::echo_head(t.req, &t.snap.istag, t.uncacheable, &mut conn.out);
    encode::chunk(&preview, &mut conn.out);
    conn.flush().await?;
    let mut size = preview.len() as u64;
    // An `ieof` preview already held the whole body.
    if !more {
        encode::last_chunk(&mut conn.out);
        conn.flush().await?;
        t.report(size, &skipped, "200-unscanned");
        return Ok(Next::KeepAlive);
    }
    loop {
        match conn.next_event().await? {
            RequestEvent::Body(b) => {
                size += b.len() as u64;
                encode::chunk(&b, &mut conn.out);
                conn.flush().await?;
            }
            RequestEvent::End { .. } => break,
            RequestEvent::PreviewEnd | RequestEvent::Head(_) => return Err(framing_lost()),
        }
    }
    encode::last_chunk(&mut conn.out);
    conn.flush().await?;
    t.report(size, &skipped, "200-unscanned");
    Ok(Next::KeepAlive)
}

/// Finishes a deep scan off the async workers: unpacking may take a while.
async fn finish_deep(s: DeepScanner) -> bulwark_containers::DeepVerdict {
    match tokio::task::spawn_blocking(move || s.finish()).await {
        Ok(v) => v,
        Err(e) => bulwark_containers::DeepVerdict {
            verdict: Verdict {
                status: Status::Error,
                threats: vec![Threat::new(format!("scan failed: {e}"), "")],
            },
            cured: None,
            packers: Vec::new(),
            notes: Vec::new(),
            unpacked_bytes: 0,
        },
    }
}

/// Answers a preview whose object passes unscanned: 204, or 206 with the changed heads and
/// `use-original-body=0` when the group marks objects uncacheable.
fn preview_pass<S>(conn: &mut Conn<S>, t: &Txn<'_>) -> &'static str {
    if t.uncacheable {
        answer::use_original(t.req, &t.snap.istag, true, &mut conn.out);
        "206-unscanned"
    } else {
        answer::no_content(&t.snap.istag, &mut conn.out);
        "204-unscanned"
    }
}

/// Reads the preview to its end: its bytes, and whether the body continues (then `100
/// Continue` was sent and the rest follows); an `ieof` preview holds the whole body.
async fn read_preview_and_continue<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
) -> Result<(Vec<u8>, bool), ConnError> {
    let mut held = Vec::new();
    loop {
        match conn.next_event().await? {
            RequestEvent::Body(b) => held.extend_from_slice(&b),
            RequestEvent::PreviewEnd => {
                answer::continue_100(&mut conn.out);
                conn.flush().await?;
                conn.answered = false;
                conn.decoder.continue_body();
                return Ok((held, true));
            }
            RequestEvent::End { .. } => return Ok((held, false)),
            RequestEvent::Head(_) => return Err(framing_lost()),
        }
    }
}

/// The body phase: scanner, held bytes and the answer's progress.
struct Body<'t, 'a> {
    t: &'t Txn<'a>,
    /// `None` once the policy decided not to scan (the rest passes through).
    scanner: Option<DeepScanner>,
    held: Spool,
    /// The body's first bytes, for sniffing.
    head: Vec<u8>,
    /// Sniff once this many bytes arrived.
    sniff_after: Option<usize>,
    /// Bytes received.
    size: u64,
    /// The `200` head went out: from now on a block can only abort.
    streaming: bool,
    in_preview: bool,
    mode: AnswerMode,
}

/// What the body phase decided before the end of the body.
enum Early {
    /// Keep reading.
    Continue,
    /// The transaction is over (answered or aborted).
    Done(Next),
}

impl<'t, 'a> Body<'t, 'a> {
    fn new(t: &'t Txn<'a>, sniff_after: Option<usize>) -> Self {
        let a = &t.snap.config.answer;
        Self {
            t,
            scanner: Some(DeepScanner::new(t.snap.database.clone(), deep_options(t))),
            held: Spool::new(
                a.spool_memory_bytes
                    .max(a.holdback_bytes + a.max_hold_bytes),
            ),
            head: Vec::new(),
            sniff_after,
            size: 0,
            streaming: false,
            in_preview: t.req.preview.is_some(),
            mode: a.mode,
        }
    }

    /// Bytes that wait for the verdict.
    fn holdback(&self) -> u64 {
        if self.scanner.is_some() {
            self.t.snap.config.answer.holdback_bytes as u64
        } else {
            0
        }
    }

    /// In `partial` mode, when streaming starts.
    fn start_after(&self) -> u64 {
        let a = &self.t.snap.config.answer;
        // A client that allows 204 outside preview can buffer the whole body (Squid: under
        // 64 KiB), so holding more lets a clean object end in a cheap 204.
        let hold = if self.t.req.allows_204() {
            a.max_hold_bytes.max(128 * 1024)
        } else {
            a.max_hold_bytes
        };
        (a.holdback_bytes + hold) as u64
    }

    /// The next time something is due without new bytes (partial's send delay, trickle).
    fn next_tick(&self, last_trickle: Instant) -> Option<tokio::time::Instant> {
        let a = &self.t.snap.config.answer;
        if self.in_preview || self.sniff_after.is_some() {
            return None;
        }
        let at = match self.mode {
            AnswerMode::Partial if !self.streaming => {
                self.t.started + Duration::from_millis(a.max_send_delay_ms)
            }
            AnswerMode::Trickle => last_trickle + Duration::from_secs(a.trickle_interval_secs),
            _ => return None,
        };
        Some(tokio::time::Instant::from_std(at))
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        mut self,
        conn: &mut Conn<S>,
    ) -> Result<Next, ConnError> {
        let mut last_trickle = Instant::now();
        loop {
            let ev = match conn.next_event_until(self.next_tick(last_trickle)).await? {
                Some(ev) => ev,
                None => {
                    // Time is up for something: start streaming, or send a trickle.
                    if self.mode == AnswerMode::Trickle {
                        last_trickle = Instant::now();
                        self.trickle(conn).await?;
                    } else {
                        self.release(conn, true).await?;
                    }
                    continue;
                }
            };
            match ev {
                RequestEvent::Body(b) => {
                    if let Early::Done(next) = self.on_bytes(conn, &b).await? {
                        return Ok(next);
                    }
                }
                RequestEvent::PreviewEnd => {
                    self.in_preview = false;
                    if let Early::Done(next) = self.decide_sniff(conn).await? {
                        return Ok(next);
                    }
                    if self.scanner.is_none() && (!self.t.uncacheable || self.t.req.allows_206()) {
                        // Not to be scanned after all: the original body serves.
                        conn.decoder.abandon_body();
                        let label = preview_pass(conn, self.t);
                        conn.flush().await?;
                        self.t.report(self.size, &Verdict::clean(), label);
                        return Ok(Next::KeepAlive);
                    }
                    answer::continue_100(&mut conn.out);
                    conn.flush().await?;
                    conn.answered = false;
                    conn.decoder.continue_body();
                }
                RequestEvent::End { ieof, .. } => {
                    if let Early::Done(next) = self.decide_sniff(conn).await? {
                        return Ok(next);
                    }
                    return self.finish(conn, ieof).await;
                }
                RequestEvent::Head(_) => return Err(framing_lost()),
            }
        }
    }

    /// New body bytes: scan, hold, check limits, stream what may go.
    async fn on_bytes<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        b: &[u8],
    ) -> Result<Early, ConnError> {
        self.size += b.len() as u64;
        if self.head.len() < SNIFF_KEEP {
            let n = (SNIFF_KEEP - self.head.len()).min(b.len());
            self.head.extend_from_slice(&b[..n]);
        }
        if let Some(s) = self.scanner.as_mut() {
            s.feed(b);
        }
        self.held.push(b, &self.t.snap.config.server.temp_path)?;
        if self.sniff_after.is_some_and(|n| self.head.len() >= n) {
            if let Early::Done(n) = self.decide_sniff(conn).await? {
                return Ok(Early::Done(n));
            }
        }
        if self
            .scanner
            .as_ref()
            .is_some_and(|s| s.early_detection().is_some())
        {
            if let Some(s) = self.scanner.take() {
                let v = finish_deep(s).await.verdict;
                if self.t.group.action(v.status) != Action::Skip {
                    return self.deny(conn, &v).await.map(Early::Done);
                }
                // Configured to pass this status: deliver the rest unscanned.
            }
        }
        if let Some(max) = self.t.group.max_req_length() {
            if self.size > max && self.scanner.is_some() {
                match self.t.group.too_large() {
                    FilterDecision::Deny(template) => {
                        let v = unscanned_verdict(template);
                        return self
                            .deny_template(conn, &v, template)
                            .await
                            .map(Early::Done);
                    }
                    _ => {
                        self.t.ctx.stats.excluded(skip_label(SkipReason::TooLarge));
                        self.scanner = None;
                    }
                }
            }
        }
        if !self.in_preview {
            self.release(conn, false).await?;
        }
        Ok(Early::Continue)
    }

    /// Applies a pending Content-Type decision once the first bytes are known.
    async fn decide_sniff<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
    ) -> Result<Early, ConnError> {
        if self.sniff_after.take().is_none() {
            return Ok(Early::Continue);
        }
        let info = object_info(self.t.req, &self.t.url, Some(&self.head));
        match self.t.group.filter(&info) {
            FilterDecision::Skip(reason) => {
                self.t.ctx.stats.excluded(skip_label(reason));
                self.scanner = None;
            }
            FilterDecision::Deny(template) => {
                // deny_with drains the rest, preview end included.
                let v = unscanned_verdict(template);
                return self
                    .deny_template(conn, &v, template)
                    .await
                    .map(Early::Done);
            }
            FilterDecision::Scan | FilterDecision::NeedBytes(_) => {}
        }
        Ok(Early::Continue)
    }

    /// Sends what the answer mode allows now. `timer`: the send delay has passed.
    async fn release<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        timer: bool,
    ) -> Result<(), ConnError> {
        if self.sniff_after.is_some() || self.in_preview {
            return Ok(());
        }
        let keep = self.holdback();
        let passing = self.scanner.is_none();
        let due = match self.mode {
            AnswerMode::Partial => {
                self.streaming
                    || passing
                    || timer
                    || self.held.unsent() > self.start_after()
                    || self.t.started.elapsed()
                        >= Duration::from_millis(self.t.snap.config.answer.max_send_delay_ms)
            }
            AnswerMode::Complete | AnswerMode::Trickle => passing,
        };
        if !due || self.held.unsent() <= keep {
            return Ok(());
        }
        self.start_stream(conn);
        while let Some(piece) = self.held.next_piece(PIECE, keep)? {
            encode::chunk(&piece, &mut conn.out);
            conn.flush().await?;
        }
        Ok(())
    }

    /// Trickle mode: one small piece, never from the held-back tail.
    async fn trickle<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
    ) -> Result<(), ConnError> {
        let keep = self.holdback();
        let n = self.t.snap.config.answer.trickle_bytes;
        if self.held.unsent() <= keep {
            return Ok(());
        }
        self.start_stream(conn);
        if let Some(piece) = self.held.next_piece(n, keep)? {
            encode::chunk(&piece, &mut conn.out);
        }
        conn.flush().await?;
        Ok(())
    }

    fn start_stream<S>(&mut self, conn: &mut Conn<S>) {
        if !self.streaming {
            self.streaming = true;
            answer::echo_head(
                self.t.req,
                &self.t.snap.istag,
                self.t.uncacheable,
                &mut conn.out,
            );
        }
    }

    /// Blocks for a scan verdict: the block page when nothing went out yet, else abort.
    async fn deny<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        v: &Verdict,
    ) -> Result<Next, ConnError> {
        self.t.remember(v);
        self.deny_with(conn, v, None).await
    }

    async fn deny_template<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        v: &Verdict,
        template: Template,
    ) -> Result<Next, ConnError> {
        self.deny_with(conn, v, Some(template)).await
    }

    async fn deny_with<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
        v: &Verdict,
        template: Option<Template>,
    ) -> Result<Next, ConnError> {
        if self.streaming {
            // Part of the object is out: abort so the client never gets it whole.
            self.t.report(self.size, v, "abort");
            return Ok(Next::Close);
        }
        self.t.block(&mut conn.out, v, template);
        self.t.report(self.size, v, "block");
        conn.flush().await?;
        skip_body(conn).await?;
        Ok(Next::KeepAlive)
    }

    /// The body is complete: verdict, decision, answer.
    async fn finish<S: AsyncRead + AsyncWrite + Unpin>(
        mut self,
        conn: &mut Conn<S>,
        ieof: bool,
    ) -> Result<Next, ConnError> {
        let (v, cured) = match self.scanner.take() {
            Some(s) => {
                let d = finish_deep(s).await;
                (d.verdict, d.cured)
            }
            None => (Verdict::clean(), None),
        };
        let action = if v.status == Status::Clean {
            Action::Skip
        } else {
            self.t.group.action(v.status)
        };
        // A cured copy replaces the object when nothing of the original went out yet; `cure`
        // without a cured copy denies (SPEC F-POL-2).
        if v.status == Status::Cured && action != Action::Deny && !self.streaming {
            if let Some(body) = cured {
                return self.deliver_cured(conn, &v, body).await;
            }
        }
        if action != Action::Skip || v.status == Status::Cured {
            self.t.remember(&v);
            if self.streaming {
                self.t.report(self.size, &v, "abort");
                return Ok(Next::Close);
            }
            self.t.block(&mut conn.out, &v, None);
            self.t.report(self.size, &v, "block");
            conn.flush().await?;
            return Ok(Next::KeepAlive);
        }
        let label = if self.streaming {
            self.release_all(conn).await?;
            encode::last_chunk(&mut conn.out);
            "200-stream"
        } else if !self.t.uncacheable && (ieof || self.t.req.allows_204()) {
            answer::no_content(&self.t.snap.istag, &mut conn.out);
            "204"
        } else {
            self.start_stream(conn);
            self.release_all(conn).await?;
            encode::last_chunk(&mut conn.out);
            "200-echo"
        };
        conn.flush().await?;
        self.t.report(self.size, &v, label);
        Ok(Next::KeepAlive)
    }

    /// Sends the cured copy in place of the object, with the HTTP head adjusted.
    async fn deliver_cured<S: AsyncRead + AsyncWrite + Unpin>(
        mut self,
        conn: &mut Conn<S>,
        v: &Verdict,
        body: CuredBody,
    ) -> Result<Next, ConnError> {
        let len = body.len();
        answer::cured_head(
            self.t.req,
            &self.t.snap.istag,
            v,
            len,
            body.decoded,
            &mut conn.out,
        );
        let mut reader = body.reader();
        let mut buf = vec![0u8; PIECE];
        loop {
            let n = std::io::Read::read(&mut reader, &mut buf)?;
            if n == 0 {
                break;
            }
            encode::chunk(&buf[..n], &mut conn.out);
            conn.flush().await?;
        }
        encode::last_chunk(&mut conn.out);
        conn.flush().await?;
        self.held = Spool::new(0);
        self.t.report(self.size, v, "200-cured");
        Ok(Next::KeepAlive)
    }

    async fn release_all<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
    ) -> Result<(), ConnError> {
        while let Some(piece) = self.held.next_piece(PIECE, 0)? {
            encode::chunk(&piece, &mut conn.out);
            conn.flush().await?;
        }
        Ok(())
    }
}
