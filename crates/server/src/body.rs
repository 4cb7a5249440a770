//! The body phase of a REQMOD or RESPMOD: the thin async driver around the answer flow
//! ([`crate::flow`]). It reads the body, feeds the scanner and the spool, turns the policy's and
//! the scanner's decisions into flow events, and carries out the flow's actions on the socket.
//! Every decision about what to send, and when, is the flow's.

use std::collections::VecDeque;

use bulwark_config::policy::Action as Policy;
use bulwark_containers::{CacheTier, CuredBody, DeepScanner, DeepVerdict};
use bulwark_engine::{Status, Verdict};
use bulwark_icap::{encode, RequestEvent};
use bulwark_policy::{FilterDecision, SkipReason, Template};
use sha2::{Digest, Sha256};

use crate::answer;
use crate::conn::{framing_lost, skip_body, Conn, ConnError, Next, Transport};
use crate::flow::{Action, BlockReason, Event, Flow, Start};
use crate::record::Reported;
use crate::spool::Spool;
use crate::txn::{deep_options, object_info, skip_label, unscanned_verdict, Txn, SNIFF_KEEP};

/// Largest piece written per chunk when held bytes are released.
const PIECE: u64 = 64 * 1024;

/// How far the request body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// More of it may come.
    Reading,
    /// The preview ended; the client waits for our answer or `100 Continue`.
    PreviewEnded,
    /// Read to its end.
    Ended,
}

/// The body phase: the flow, the scanner, the held bytes.
pub(crate) struct Body<'t, 'a> {
    t: &'t Txn<'a>,
    flow: Flow,
    /// What the flow asked to do before any byte.
    first: Vec<Action>,
    /// `None` once the scan finished or was dropped.
    scanner: Option<DeepScanner>,
    held: Spool,
    /// The body's first bytes, for sniffing.
    head: Vec<u8>,
    /// A policy decision waits until this many bytes arrived.
    sniff_after: Option<usize>,
    /// Body bytes received.
    size: u64,
    read: Read,
    /// What the logs and the block page say.
    verdict: Verdict,
    /// The block page of a decision without a scan verdict.
    template: Option<Template>,
    /// The cured copy, once the scan made one.
    cured: Option<CuredBody>,
    /// SHA-256 of every body byte and their count, for the central log (only while it wants
    /// objects).
    digest: Option<(Sha256, u64)>,
}

impl<'t, 'a> Body<'t, 'a> {
    pub(crate) fn new(t: &'t Txn<'a>, start: Start, sniff_after: Option<usize>) -> Self {
        let (flow, first) = Flow::new(t.plan(), start);
        let scanner = (start != Start::Pass)
            .then(|| DeepScanner::new(t.snap.database.clone(), deep_options(t)));
        Self {
            t,
            flow,
            first,
            scanner,
            held: Spool::new(
                t.snap.config.answer.spool_memory_bytes,
                &t.snap.config.server.temp_path,
            ),
            head: Vec::new(),
            sniff_after,
            size: 0,
            read: Read::Reading,
            verdict: Verdict::clean(),
            template: None,
            cured: None,
            digest: t.ctx.central.wants_objects().then(|| (Sha256::new(), 0)),
        }
    }

    pub(crate) async fn run<S: Transport>(mut self, conn: &mut Conn<S>) -> Result<Next, ConnError> {
        let first = std::mem::take(&mut self.first);
        if let Some(next) = self.exec(conn, first).await? {
            return Ok(next);
        }
        loop {
            let deadline = self
                .flow
                .deadline()
                .map(|d| tokio::time::Instant::from_std(self.t.started + d));
            let events = match conn.next_event_until(deadline).await? {
                None => vec![Event::Tick],
                Some(RequestEvent::Body(b)) => self.on_body(&b).await?,
                Some(RequestEvent::PreviewEnd) => {
                    self.read = Read::PreviewEnded;
                    let mut v = self.sniff_now();
                    v.push(Event::PreviewEnd);
                    v
                }
                Some(RequestEvent::End { .. }) => {
                    self.read = Read::Ended;
                    let mut v = self.sniff_now();
                    v.push(Event::End);
                    v
                }
                Some(RequestEvent::Head(_)) => return Err(framing_lost()),
            };
            for ev in events {
                let actions = self.step(ev)?;
                if let Some(next) = self.exec(conn, actions).await? {
                    return Ok(next);
                }
            }
        }
    }

    fn step(&mut self, ev: Event) -> Result<Vec<Action>, ConnError> {
        let actions = self.flow.handle(self.t.started.elapsed(), ev)?;
        if !self.flow.scanning() && self.read != Read::Ended {
            // Passing unscanned from here on (the final verdict keeps its scanner).
            if !actions.contains(&Action::FinishScan) {
                self.scanner = None;
            }
        }
        Ok(actions)
    }

    /// New body bytes: scan, hold, and the decisions they allow.
    async fn on_body(&mut self, b: &[u8]) -> Result<Vec<Event>, ConnError> {
        self.size += b.len() as u64;
        if let Some((d, n)) = &mut self.digest {
            d.update(b);
            *n += b.len() as u64;
        }
        if self.head.len() < SNIFF_KEEP {
            let n = (SNIFF_KEEP - self.head.len()).min(b.len());
            self.head.extend_from_slice(&b[..n]);
        }
        self.held.push(b)?;
        // A pending policy decision comes first: an excluded type is not scanned at all.
        let decided = if self.sniff_after.is_some_and(|n| self.head.len() >= n) {
            self.sniff_now()
        } else {
            Vec::new()
        };
        let mut events = Vec::with_capacity(3);
        if let Some(s) = self.scanner.as_mut() {
            s.feed(b);
            if s.early_detection().is_some() {
                if let Some(s) = self.scanner.take() {
                    let d = finish_deep(s).await;
                    match self.decide(d, true) {
                        // The bytes that carried it never go out.
                        Event::Block => return Ok(vec![Event::Block]),
                        other => {
                            // Passed from here on: the pending decision no longer matters.
                            events.push(other);
                            events.push(Event::Bytes(b.len() as u64));
                            return Ok(events);
                        }
                    }
                }
            }
        }
        events.push(Event::Bytes(b.len() as u64));
        events.extend(decided);
        if let Some(max) = self.t.group.max_req_length() {
            if self.size > max && self.scanner.is_some() {
                self.scanner = None;
                match self.t.group.too_large() {
                    FilterDecision::Deny(template) => {
                        self.verdict = unscanned_verdict(template);
                        self.template = Some(template);
                        events.push(Event::Block);
                    }
                    _ => {
                        self.t.ctx.stats.excluded(skip_label(SkipReason::TooLarge));
                        events.push(Event::Pass);
                    }
                }
            }
        }
        Ok(events)
    }

    /// The pending Content-Type decision, once the first bytes are known (or the body ended).
    fn sniff_now(&mut self) -> Vec<Event> {
        if self.sniff_after.take().is_none() {
            return Vec::new();
        }
        let info = object_info(self.t.req, &self.t.url, Some(&self.head));
        vec![match self.t.group.filter(&info) {
            FilterDecision::Skip(reason) => {
                self.t.ctx.stats.excluded(skip_label(reason));
                self.scanner = None;
                Event::Pass
            }
            FilterDecision::Deny(template) => {
                self.scanner = None;
                self.verdict = unscanned_verdict(template);
                self.template = Some(template);
                Event::Block
            }
            FilterDecision::Scan | FilterDecision::NeedBytes(_) => Event::Scan,
        }]
    }

    /// Turns a scan verdict into the group's decision.
    fn decide(&mut self, d: DeepVerdict, early: bool) -> Event {
        if d.cached() == Some(CacheTier::Shared) {
            tracing::info!(
                target: "bulwark::cluster",
                url = %self.t.url,
                status = d.verdict.status.as_str(),
                "verdict from the shared verdict cache: not unpacked again"
            );
        }
        let v = d.verdict;
        self.verdict = v.clone();
        if v.status == Status::Clean {
            return Event::Clean;
        }
        let action = self.t.group.action(v.status);
        // A cured copy replaces the object unless the group denies cured objects; `cure`
        // without a cured copy denies (SPEC F-POL-2).
        if v.status == Status::Cured && action != Policy::Deny {
            if let Some(body) = d.cured {
                self.cured = Some(body);
                return Event::Cured;
            }
        }
        if action == Policy::Skip && v.status != Status::Cured {
            return if early { Event::Pass } else { Event::Clean };
        }
        self.t.remember(&v);
        Event::Block
    }

    /// Carries out the flow's actions in order; `Some` once the transaction is over.
    async fn exec<S: Transport>(
        &mut self,
        conn: &mut Conn<S>,
        actions: Vec<Action>,
    ) -> Result<Option<Next>, ConnError> {
        let t = self.t;
        let istag = &t.snap.istag;
        let mut queue = VecDeque::from(actions);
        while let Some(a) = queue.pop_front() {
            match a {
                Action::Continue => {
                    answer::continue_100(&mut conn.out);
                    conn.flush().await?;
                    conn.answered = false;
                    conn.decoder.continue_body();
                    self.read = Read::Reading;
                }
                Action::NoContent => {
                    answer::no_content(istag, &mut conn.out);
                    conn.flush().await?;
                }
                Action::UseOriginal => {
                    answer::use_original(t.req, istag, true, &mut conn.out);
                    conn.flush().await?;
                }
                Action::EchoHead => answer::echo_head(t.req, istag, t.uncacheable, &mut conn.out),
                Action::Release(to) => {
                    while self.held.sent() < to {
                        let n = (to - self.held.sent()).min(PIECE) as usize;
                        let Some(piece) = self.held.next_piece(n, 0)? else {
                            break;
                        };
                        encode::chunk(&piece, &mut conn.out);
                        conn.flush().await?;
                    }
                    // The head alone (nothing to release yet) still goes out.
                    conn.flush().await?;
                }
                Action::LastChunk => {
                    encode::last_chunk(&mut conn.out);
                    conn.flush().await?;
                }
                Action::BlockPage(reason) => {
                    if reason == BlockReason::TooLarge {
                        self.verdict = Verdict::of(Status::TooLarge);
                        self.template = Some(Template::ObjectTooLarge);
                    }
                    t.block(&mut conn.out, &self.verdict, self.template);
                    conn.flush().await?;
                }
                Action::SendCured => self.send_cured(conn).await?,
                Action::FinishScan => {
                    let ev = match self.scanner.take() {
                        Some(s) => {
                            let d = finish_deep(s).await;
                            self.decide(d, false)
                        }
                        None => Event::Clean,
                    };
                    queue.extend(self.step(ev)?);
                }
                Action::Drain => match self.read {
                    Read::Ended => {}
                    Read::PreviewEnded => conn.decoder.abandon_body(),
                    Read::Reading if self.digest.is_some() => self.drain_hashing(conn).await?,
                    Read::Reading => {
                        skip_body(conn).await?;
                        self.read = Read::Ended;
                    }
                },
                // The connection loop resets the connection (Next::Reset below).
                Action::Reset => {}
                Action::Done(o) => {
                    // A hash of part of the object would name another object: none then.
                    let sha = match self.read {
                        Read::Ended => self.digest.take().map(|(d, n)| (d.finalize().into(), n)),
                        _ => None,
                    };
                    t.report(self.size, &self.verdict, Reported::Flow(o), sha);
                    return Ok(Some(if o.close {
                        Next::Reset
                    } else {
                        Next::KeepAlive
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Reads the rest of a body nobody needs any more, hashing it for the central log: to its
    /// end, or to the end of the preview (whose rest the client then never sends: no hash).
    async fn drain_hashing<S: Transport>(&mut self, conn: &mut Conn<S>) -> Result<(), ConnError> {
        loop {
            match conn.next_event().await? {
                RequestEvent::End { .. } => {
                    self.read = Read::Ended;
                    return Ok(());
                }
                RequestEvent::PreviewEnd => {
                    conn.decoder.abandon_body();
                    // As `skip_body` leaves it; the partial hash goes.
                    self.read = Read::Ended;
                    self.digest = None;
                    return Ok(());
                }
                RequestEvent::Body(b) => {
                    if let Some((d, n)) = &mut self.digest {
                        d.update(&b);
                        *n += b.len() as u64;
                    }
                }
                RequestEvent::Head(_) => return Err(framing_lost()),
            }
        }
    }

    /// Sends the cured copy in place of the object, with the HTTP head adjusted.
    async fn send_cured<S: Transport>(&mut self, conn: &mut Conn<S>) -> Result<(), ConnError> {
        let Some(body) = self.cured.take() else {
            return Err(ConnError::Flow(crate::flow::FlowError::Failed));
        };
        let t = self.t;
        answer::cured_head(
            t.req,
            &t.snap.istag,
            &self.verdict,
            body.len(),
            body.decoded,
            &mut conn.out,
        );
        let mut reader = body.reader();
        let mut buf = vec![0u8; PIECE as usize];
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
        Ok(())
    }
}

/// Finishes a deep scan: a light one (a small object with nothing to unpack: most web pages,
/// scripts and style sheets) here on the async worker, where it costs less than the trip to a
/// blocking thread and back; anything else, or a light one whose walk found something to open,
/// off the workers, since unpacking may take a while (`DeepScanner::finish_light`). An error
/// when the blocking thread's task failed. Every async front end (ICAP, clamd, the API) ends
/// its scans here.
pub async fn finish_scan(s: DeepScanner) -> Result<DeepVerdict, tokio::task::JoinError> {
    match s.finish_light() {
        Ok(v) => Ok(v),
        Err(rest) => tokio::task::spawn_blocking(move || rest.finish()).await,
    }
}

/// [`finish_scan`]; a scan that panicked is an engine error, not a threat.
async fn finish_deep(s: DeepScanner) -> DeepVerdict {
    match finish_scan(s).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("scan task failed: {e}");
            DeepVerdict {
                verdict: Verdict::error(bulwark_engine::ErrorDetail::ScanFailed),
                cured: None,
                packers: Vec::new(),
                notes: Vec::new(),
                unpacked_bytes: 0,
            }
        }
    }
}
