//! The answer logic of one REQMOD or RESPMOD as a pure state machine: no socket, no clock, no
//! scanner. The driver (`crate::scan`) feeds it [`Event`]s — body bytes, the end of the preview
//! or of the body, time, the policy's and the scan's decisions — with the time elapsed since the
//! transaction started, and carries out the [`Action`]s it returns, in order.
//!
//! What it decides (SPEC F-ICAP-2, F-ICAP-3):
//! * how long the body is held: inside the preview; while a MIME decision waits for the first
//!   bytes; to its end for clients that keep their own copy (`Allow: 204`), for uploads (up to
//!   their budget) and in `complete` mode; up to the hold budget or the send delay in `partial`
//!   mode; between trickles in `trickle` mode. A held-back tail waits for the verdict whenever
//!   the object streams while it is scanned.
//! * how it is answered: `204`, `206`, a `200` echo, a streamed `200`, a cured copy, a block
//!   page — or, when the verdict comes after part of the object went out, a *cut*: the answer
//!   ends cleanly short of the object's `Content-Length` (Squid then drops the truncated object
//!   and closes the client's connection early, and does not count a service failure), or, when
//!   the object has no `Content-Length`, a TCP reset after the whole request was read (Squid
//!   reads the reset as an I/O error, not a service failure; a plain close would be one).
//!
//! A failed state stays failed: an event the machine does not expect is an error, and every
//! event after it is refused.

use std::time::Duration;

use bulwark_config::AnswerMode;

#[cfg(test)]
mod tests;

/// Which way the object travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// RESPMOD: a download, from the origin to the user.
    Download,
    /// REQMOD: an upload, from the user to the origin.
    Upload,
}

/// What happens to an upload larger than its hold budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverBudget {
    /// Block it as too large (the origin receives nothing).
    Block,
    /// Stream it while it is scanned, with the held-back tail, like a large download.
    Stream,
}

/// How the scan starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Scan the body.
    Scan,
    /// Scan, but a policy decision waits for the first bytes: hold everything until
    /// [`Event::Scan`], [`Event::Pass`] or [`Event::Block`].
    Sniff,
    /// Deliver without scanning.
    Pass,
}

/// Everything the machine needs to know about the transaction, fixed at its start.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Download or upload.
    pub direction: Direction,
    /// The configured answer mode.
    pub mode: AnswerMode,
    /// The request carries a preview.
    pub preview: bool,
    /// The client allows `204` outside the preview (it keeps its own copy of the body).
    pub allows_204: bool,
    /// The client allows `206`.
    pub allows_206: bool,
    /// The object's `Content-Length`, when its HTTP head has one.
    pub content_length: Option<u64>,
    /// The group marks what it lets through as uncacheable (a `204` cannot say so).
    pub uncacheable: bool,
    /// `partial`: whole objects up to this many bytes are scanned before anything goes out.
    pub hold_bytes: u64,
    /// Bytes kept back until the verdict while an object streams.
    pub holdback_bytes: u64,
    /// `partial`: streaming starts at the latest this long after the transaction started.
    pub send_delay: Duration,
    /// `trickle`: bytes sent per interval.
    pub trickle_bytes: u64,
    /// `trickle`: time between two trickles.
    pub trickle_interval: Duration,
    /// Uploads are held whole up to this many bytes.
    pub upload_hold_bytes: u64,
    /// What happens past `upload_hold_bytes`.
    pub upload_over_budget: OverBudget,
}

/// What the driver tells the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// This many more body bytes arrived (the driver already fed them to the scanner and
    /// appended them to the held body).
    Bytes(u64),
    /// The preview ended and the body continues (after a `100 Continue`).
    PreviewEnd,
    /// The body is complete.
    End,
    /// The deadline given by [`Flow::deadline`] passed.
    Tick,
    /// The pending policy decision: scan the object.
    Scan,
    /// Deliver the rest without scanning: the policy says so, or the scan found something the
    /// group lets through.
    Pass,
    /// The verdict at the end: deliver the object.
    Clean,
    /// The verdict at the end: deliver the cured copy instead.
    Cured,
    /// Block the object (the scan's verdict, early or late, or a policy decision).
    Block,
}

/// Which block page to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockReason {
    /// The one the driver's verdict or policy decision calls for.
    Decided,
    /// The upload is larger than its hold budget.
    TooLarge,
}

/// What the driver does, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send `100 Continue` and let the body continue.
    Continue,
    /// Answer `204 No Content`: the client's own copy serves.
    NoContent,
    /// Answer `206` with the changed heads and `use-original-body=0`.
    UseOriginal,
    /// Send the `200` head echoing the object's HTTP head.
    EchoHead,
    /// Send the held body up to this offset (bytes from its start).
    Release(u64),
    /// End the answer's body (the last chunk).
    LastChunk,
    /// Answer with a block page.
    BlockPage(BlockReason),
    /// Answer with the cured copy.
    SendCured,
    /// The body is complete: finish the scan and feed back [`Event::Clean`],
    /// [`Event::Cured`], [`Event::Block`] or [`Event::Pass`].
    FinishScan,
    /// Read the rest of the request body and discard it (after a preview: abandon it).
    Drain,
    /// Close the connection with a TCP reset.
    Reset,
    /// The transaction is over.
    Done(Outcome),
}

/// How the object was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `204 No Content`.
    NoContent,
    /// `206`, the original body with changed heads.
    UseOriginal,
    /// A `200` echo of an object held whole.
    Echo,
    /// A `200` streamed while the object was scanned, completed.
    Stream,
    /// The cured copy.
    Cured,
    /// The block page.
    Blocked,
    /// Streamed, then stopped short of its `Content-Length` by a late verdict.
    Cut,
    /// Streamed, then stopped by a late verdict with a TCP reset (no `Content-Length`).
    Reset,
}

impl Answer {
    /// The label used in logs and statistics.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::NoContent => "204",
            Answer::UseOriginal => "206",
            Answer::Echo => "200-echo",
            Answer::Stream => "200-stream",
            Answer::Cured => "200-cured",
            Answer::Blocked => "block",
            Answer::Cut => "cut",
            Answer::Reset => "reset",
        }
    }

    /// True when the client did not get the object.
    pub fn denied(self) -> bool {
        matches!(self, Answer::Blocked | Answer::Cut | Answer::Reset)
    }
}

/// The end of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// How it was answered.
    pub answer: Answer,
    /// Bytes of the object's body that reached the client.
    pub sent: u64,
    /// The body was scanned (false when it passed unscanned).
    pub scanned: bool,
    /// The connection must close.
    pub close: bool,
}

/// An event the machine cannot take in its state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// This event makes no sense now.
    #[error("answer flow: {event:?} is not expected while {state}")]
    Unexpected {
        /// The event.
        event: Event,
        /// The state, for the message.
        state: &'static str,
    },
    /// An earlier event failed; the transaction cannot go on.
    #[error("answer flow: already failed")]
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Inside the preview.
    Preview,
    /// After the preview (or without one), before the end of the body.
    Body,
    /// The body is complete; the verdict is awaited.
    Verdict,
    /// Answered.
    Done,
    /// An unexpected event came.
    Failed,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Preview => "in the preview",
            Phase::Body => "reading the body",
            Phase::Verdict => "waiting for the verdict",
            Phase::Done => "done",
            Phase::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scanning {
    /// A policy decision waits for the first bytes.
    Sniff,
    /// The body is being scanned.
    Yes,
    /// The rest passes without a scan.
    Pass,
}

/// The state of one transaction's answer.
#[derive(Debug, Clone)]
pub struct Flow {
    plan: Plan,
    phase: Phase,
    scanning: Scanning,
    /// The scan was started at all (for the outcome).
    scanned: bool,
    /// Body bytes received.
    received: u64,
    /// Body bytes released to the client.
    released: u64,
    /// The `200` head went out: from now on a block can only cut.
    streaming: bool,
    /// The body ended inside the preview (`ieof`): a `204` is always allowed.
    ended_in_preview: bool,
    /// An upload past its budget streams.
    upload_streams: bool,
    /// When the last trickle went out.
    last_trickle: Duration,
    /// `partial`: the send delay passed (the next bytes stream).
    delay_passed: bool,
}

impl Flow {
    /// A new transaction, and what to do before any body byte.
    pub fn new(plan: Plan, start: Start) -> (Self, Vec<Action>) {
        let mut f = Flow {
            phase: if plan.preview {
                Phase::Preview
            } else {
                Phase::Body
            },
            scanning: match start {
                Start::Scan => Scanning::Yes,
                Start::Sniff => Scanning::Sniff,
                Start::Pass => Scanning::Pass,
            },
            scanned: start != Start::Pass,
            received: 0,
            released: 0,
            streaming: false,
            ended_in_preview: false,
            upload_streams: false,
            last_trickle: Duration::ZERO,
            delay_passed: false,
            plan,
        };
        let mut out = Vec::new();
        if f.phase == Phase::Preview && f.scanning == Scanning::Pass {
            f.preview_pass(&mut out);
        }
        (f, out)
    }

    /// Bytes of the body received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// True once the transaction is answered.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// True while the body is scanned (the driver keeps feeding its scanner).
    pub fn scanning(&self) -> bool {
        self.scanning != Scanning::Pass && matches!(self.phase, Phase::Preview | Phase::Body)
    }

    /// When (since the start) the driver must send [`Event::Tick`] if nothing else happens.
    pub fn deadline(&self) -> Option<Duration> {
        if self.phase != Phase::Body || self.scanning != Scanning::Yes || self.holds_to_end() {
            return None;
        }
        match self.plan.mode {
            AnswerMode::Partial if !self.streaming && !self.delay_passed => {
                Some(self.plan.send_delay)
            }
            AnswerMode::Trickle => Some(self.last_trickle + self.plan.trickle_interval),
            _ => None,
        }
    }

    /// Takes one event at `now` (time since the transaction started).
    pub fn handle(&mut self, now: Duration, event: Event) -> Result<Vec<Action>, FlowError> {
        let mut out = Vec::new();
        let ok = match (self.phase, event) {
            (Phase::Failed, _) => return Err(FlowError::Failed),
            (Phase::Preview | Phase::Body, Event::Bytes(n)) => {
                self.received += n;
                self.on_bytes(now, &mut out);
                true
            }
            (Phase::Preview, Event::PreviewEnd) if self.scanning != Scanning::Sniff => {
                self.on_preview_end(now, &mut out);
                true
            }
            (Phase::Preview | Phase::Body, Event::End) if self.scanning != Scanning::Sniff => {
                self.ended_in_preview = self.phase == Phase::Preview;
                if self.scanning == Scanning::Yes {
                    self.phase = Phase::Verdict;
                    out.push(Action::FinishScan);
                } else {
                    self.deliver(&mut out);
                }
                true
            }
            (Phase::Body, Event::Tick) => {
                self.on_tick(now, &mut out);
                true
            }
            (Phase::Preview | Phase::Body, Event::Scan) if self.scanning == Scanning::Sniff => {
                self.scanning = Scanning::Yes;
                self.pump(now, &mut out);
                true
            }
            (Phase::Preview | Phase::Body, Event::Pass) => {
                if self.scanning == Scanning::Sniff {
                    // The policy decided before any scan: the object is not scanned at all.
                    self.scanned = false;
                }
                self.scanning = Scanning::Pass;
                self.pump(now, &mut out);
                true
            }
            (Phase::Verdict, Event::Pass | Event::Clean) => {
                self.deliver(&mut out);
                true
            }
            (Phase::Verdict, Event::Cured) => {
                if self.streaming {
                    self.stop_late(&mut out);
                } else {
                    out.push(Action::SendCured);
                    self.finish(Answer::Cured, 0, false, &mut out);
                }
                true
            }
            (Phase::Preview | Phase::Body | Phase::Verdict, Event::Block) => {
                self.block(BlockReason::Decided, &mut out);
                true
            }
            _ => false,
        };
        if ok {
            Ok(out)
        } else {
            let state = self.phase.name();
            self.phase = Phase::Failed;
            Err(FlowError::Unexpected { event, state })
        }
    }

    /// Clients that keep their own copy, uploads within budget and `complete` mode hold the
    /// whole body.
    fn holds_to_end(&self) -> bool {
        if self.plan.allows_204 {
            return true;
        }
        match self.plan.direction {
            Direction::Upload => !self.upload_streams,
            Direction::Download => self.plan.mode == AnswerMode::Complete,
        }
    }

    fn on_bytes(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.phase == Phase::Body
            && self.plan.direction == Direction::Upload
            && self.scanning != Scanning::Pass
            && !self.upload_streams
            && !self.plan.allows_204
            && self.received > self.plan.upload_hold_bytes
        {
            match self.plan.upload_over_budget {
                OverBudget::Block => return self.block(BlockReason::TooLarge, out),
                OverBudget::Stream => self.upload_streams = true,
            }
        }
        self.pump(now, out);
    }

    fn on_preview_end(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.scanning == Scanning::Pass && (!self.plan.uncacheable || self.plan.allows_206) {
            return self.preview_pass(out);
        }
        self.phase = Phase::Body;
        out.push(Action::Continue);
        self.pump(now, out);
    }

    /// An unscanned object answered from its preview: the rest of the body never comes.
    fn preview_pass(&mut self, out: &mut Vec<Action>) {
        // As with a block page: the answer goes out once the preview is read.
        out.push(Action::Drain);
        let answer = if self.plan.uncacheable {
            out.push(Action::UseOriginal);
            Answer::UseOriginal
        } else {
            out.push(Action::NoContent);
            Answer::NoContent
        };
        self.finish(answer, 0, false, out);
    }

    fn on_tick(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.scanning != Scanning::Yes || self.holds_to_end() {
            return;
        }
        match self.plan.mode {
            AnswerMode::Partial => {
                self.delay_passed |= now >= self.plan.send_delay;
                self.pump(now, out)
            }
            AnswerMode::Trickle if now >= self.last_trickle + self.plan.trickle_interval => {
                self.last_trickle = now;
                let limit = self.received.saturating_sub(self.plan.holdback_bytes);
                let to = limit.min(self.released + self.plan.trickle_bytes);
                self.release(to, out);
            }
            _ => {}
        }
    }

    /// Sends what may go now.
    fn pump(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.phase != Phase::Body {
            return;
        }
        match self.scanning {
            Scanning::Sniff => {}
            Scanning::Pass => self.release(self.received, out),
            Scanning::Yes => {
                if self.may_stream(now) {
                    let to = self.received.saturating_sub(self.plan.holdback_bytes);
                    self.release(to, out);
                }
            }
        }
    }

    /// Whether a scanned object may stream now (its tail still waits).
    fn may_stream(&self, now: Duration) -> bool {
        if self.streaming && self.plan.mode != AnswerMode::Trickle {
            return true;
        }
        if self.holds_to_end() {
            return false;
        }
        match self.plan.direction {
            // An upload past its budget streams as soon as it is over.
            Direction::Upload => true,
            Direction::Download => match self.plan.mode {
                AnswerMode::Partial => {
                    let budget = self.plan.hold_bytes + self.plan.holdback_bytes;
                    self.received > budget
                        || self.plan.content_length.is_some_and(|cl| cl > budget)
                        || self.delay_passed
                        || now >= self.plan.send_delay
                }
                AnswerMode::Complete | AnswerMode::Trickle => false,
            },
        }
    }

    /// Releases the body up to `to`, sending the `200` head first.
    fn release(&mut self, to: u64, out: &mut Vec<Action>) {
        if to <= self.released {
            return;
        }
        if !self.streaming {
            self.streaming = true;
            out.push(Action::EchoHead);
        }
        self.released = to;
        out.push(Action::Release(to));
    }

    /// Delivers the whole object (clean, or passing unscanned).
    fn deliver(&mut self, out: &mut Vec<Action>) {
        let answer = if self.streaming {
            Answer::Stream
        } else if !self.plan.uncacheable && (self.ended_in_preview || self.plan.allows_204) {
            out.push(Action::NoContent);
            return self.finish(Answer::NoContent, 0, false, out);
        } else {
            Answer::Echo
        };
        let all = self.received;
        self.release(all, out);
        if !self.streaming {
            // An empty body: the head still goes out.
            self.streaming = true;
            out.push(Action::EchoHead);
        }
        out.push(Action::LastChunk);
        self.finish(answer, all, false, out);
    }

    /// Blocks the object: the block page while nothing went out, else a cut.
    fn block(&mut self, reason: BlockReason, out: &mut Vec<Action>) {
        if self.streaming {
            return self.stop_late(out);
        }
        // The page goes out only once the client stopped sending (the body read to its end, or
        // to the end of the preview, whose rest is then abandoned): Squid answers its user 502
        // instead of the page when the answer races the body it is still sending.
        if self.phase != Phase::Verdict {
            out.push(Action::Drain);
        }
        out.push(Action::BlockPage(reason));
        self.finish(Answer::Blocked, 0, false, out);
    }

    /// Stops an object that is streaming: cut short of its Content-Length, or reset.
    fn stop_late(&mut self, out: &mut Vec<Action>) {
        let body_left = self.phase != Phase::Verdict;
        let sent = self.released;
        if self.plan.content_length.is_some_and(|cl| sent < cl) {
            out.push(Action::LastChunk);
            if body_left {
                out.push(Action::Drain);
            }
            self.finish(Answer::Cut, sent, false, out);
        } else {
            // Squid must not be writing when the reset comes (a failed write is a service
            // failure): read the request to its end first.
            if body_left {
                out.push(Action::Drain);
            }
            out.push(Action::Reset);
            self.finish(Answer::Reset, sent, true, out);
        }
    }

    fn finish(&mut self, answer: Answer, sent: u64, close: bool, out: &mut Vec<Action>) {
        self.phase = Phase::Done;
        out.push(Action::Done(Outcome {
            answer,
            sent,
            scanned: self.scanned,
            close,
        }));
    }
}
