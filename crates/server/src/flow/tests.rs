//! Table tests of the answer flow: every answer mode × client (Squid 5.7's `Allow` rules, or a
//! client that keeps its copy like e2guardian) × preview or not × object size (inside the
//! preview, within the hold budget, above it) × arrival speed × Content-Length known or not ×
//! verdict (clean, infected, limits-exceeded, error passed by the group) × verdict early or late.
//! A small simulated driver runs each case and checks the invariants on the way; a table of
//! expected answers, written from the specification, checks the result.

use super::*;

const PREVIEW: u64 = 4096;
const HOLD: u64 = 32 * 1024;
const HOLDBACK: u64 = 4096;
const SEND_DELAY: Duration = Duration::from_secs(2);
const TRICKLE_EVERY: Duration = Duration::from_secs(10);
/// Squid 5.7 stalls when the server holds more than this (bug 5352).
const SQUID_BUFFER: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// Squid: `Allow: 204` only for bodies of known size it can buffer (64 KiB).
    Squid,
    /// e2guardian: always `Allow: 204`, keeps its own copy.
    KeepsCopy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Clean,
    Infected,
    Limits,
    /// An error the group lets through (action skip).
    ErrorPassed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// Found in the first bytes (in the preview when there is one).
    Early,
    /// Known at the end of the body.
    Late,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speed {
    /// 16 KiB pieces, 1 ms apart.
    Fast,
    /// 8 KiB pieces, one second apart.
    Slow,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    mode: AnswerMode,
    client: Client,
    preview: bool,
    size: u64,
    speed: Speed,
    content_length: bool,
    status: Status,
    when: When,
}

impl Case {
    fn allows_204(&self) -> bool {
        match self.client {
            Client::KeepsCopy => true,
            Client::Squid => self.content_length && self.size <= SQUID_BUFFER,
        }
    }

    fn pieces(&self) -> (u64, Duration) {
        match self.speed {
            Speed::Fast => (16 * 1024, Duration::from_millis(1)),
            Speed::Slow => (8 * 1024, Duration::from_secs(1)),
        }
    }

    fn plan(&self, direction: Direction) -> Plan {
        Plan {
            direction,
            mode: self.mode,
            preview: self.preview,
            allows_204: self.allows_204(),
            allows_206: false,
            content_length: self.content_length.then_some(self.size),
            uncacheable: false,
            hold_bytes: HOLD,
            holdback_bytes: HOLDBACK,
            send_delay: SEND_DELAY,
            trickle_bytes: 1024,
            trickle_interval: TRICKLE_EVERY,
            upload_hold_bytes: 1024 * 1024,
            upload_over_budget: OverBudget::Block,
        }
    }
}

/// What the simulated driver saw.
#[derive(Debug, Default)]
struct Trace {
    outcome: Option<Outcome>,
    released: u64,
    echoed: bool,
    continued: bool,
    /// Most bytes held before the first byte went out.
    max_held_unstreamed: u64,
    reset: bool,
    drained: bool,
}

/// Runs `case` through the machine as a driver would, checking invariants as it goes.
fn run(case: Case, direction: Direction) -> Trace {
    let (mut flow, first) = Flow::new(case.plan(direction), Start::Scan);
    let mut t = Trace::default();
    apply(&case, &mut t, &first, 0);
    let (piece, gap) = case.pieces();
    let mut now = Duration::ZERO;
    let mut sent_in = 0u64;
    let mut in_preview = case.preview;
    let mut verdict_sent = false;
    let verdict = match case.status {
        Status::Clean => Event::Clean,
        Status::Infected | Status::Limits => Event::Block,
        Status::ErrorPassed => Event::Pass,
    };
    let feed = |flow: &mut Flow, t: &mut Trace, now: Duration, ev: Event| {
        let actions = flow.handle(now, ev).expect("expected event");
        apply(&case, t, &actions, flow.received());
        if actions.contains(&Action::FinishScan) {
            let actions = flow.handle(now, verdict).expect("verdict");
            apply(&case, t, &actions, flow.received());
        }
    };
    let mut steps = 0;
    while !flow.is_done() && !t.drained {
        steps += 1;
        assert!(
            steps < 100_000,
            "{case:?}: the simulation does not end: {t:?} {flow:?}"
        );
        if sent_in == case.size {
            feed(&mut flow, &mut t, now, Event::End);
            break;
        }
        if in_preview && sent_in == PREVIEW.min(case.size) {
            in_preview = false;
            feed(&mut flow, &mut t, now, Event::PreviewEnd);
            assert!(t.continued || flow.is_done(), "{case:?}: no 100 Continue");
            continue;
        }
        // Ticks due before the next piece arrives.
        while let Some(d) = flow.deadline() {
            if d > now || flow.is_done() {
                break;
            }
            feed(&mut flow, &mut t, d.max(now), Event::Tick);
        }
        let limit = if in_preview {
            PREVIEW.min(case.size)
        } else {
            case.size
        };
        let n = piece.min(limit - sent_in);
        let next_time = now + gap;
        while let Some(d) = flow.deadline() {
            if d >= next_time || flow.is_done() {
                break;
            }
            feed(&mut flow, &mut t, d.max(now), Event::Tick);
        }
        now = next_time;
        if flow.is_done() {
            break;
        }
        let first_piece = sent_in == 0;
        if first_piece && case.when == When::Early && case.status != Status::Clean {
            // The scanner sees the signature in this piece before the piece is handed on.
            feed(&mut flow, &mut t, now, verdict);
            verdict_sent = true;
            if flow.is_done() || t.drained {
                break;
            }
        }
        sent_in += n;
        feed(&mut flow, &mut t, now, Event::Bytes(n));
        if !t.echoed {
            t.max_held_unstreamed = t.max_held_unstreamed.max(flow.received());
        }
    }
    let _ = verdict_sent;
    assert!(flow.is_done(), "{case:?}: never answered: {t:?}");
    // A finished machine refuses everything.
    assert!(flow.handle(now, Event::Bytes(1)).is_err());
    assert_eq!(flow.handle(now, Event::End), Err(FlowError::Failed));
    t
}

/// Carries out actions on the trace, checking their order.
fn apply(case: &Case, t: &mut Trace, actions: &[Action], received: u64) {
    for (i, a) in actions.iter().enumerate() {
        assert!(
            t.outcome.is_none(),
            "{case:?}: action after Done: {actions:?}"
        );
        match *a {
            Action::Continue => {
                assert!(!t.continued && !t.echoed, "{case:?}: {actions:?}");
                t.continued = true;
            }
            Action::EchoHead => {
                assert!(!t.echoed, "{case:?}: two heads");
                t.echoed = true;
            }
            Action::Release(to) => {
                assert!(t.echoed, "{case:?}: body before head");
                assert!(to > t.released && to <= received, "{case:?}: release {to}");
                t.released = to;
            }
            Action::NoContent | Action::UseOriginal | Action::BlockPage(_) | Action::SendCured => {
                assert!(!t.echoed, "{case:?}: second answer {a:?}");
            }
            Action::LastChunk => assert!(t.echoed, "{case:?}: last chunk without head"),
            Action::Drain => t.drained = true,
            Action::Reset => t.reset = true,
            Action::FinishScan => {}
            Action::Done(o) => {
                assert_eq!(i, actions.len() - 1, "{case:?}: Done not last");
                t.outcome = Some(o);
            }
        }
    }
}

/// The answer the specification asks for.
fn expected(c: &Case) -> Answer {
    let budget = HOLD + HOLDBACK;
    let (piece, gap) = c.pieces();
    let whole_in_preview = c.preview && c.size <= PREVIEW;
    // When the last piece arrives: piece k (from 0) arrives at (k + 1) × gap; a preview is a
    // piece of its own.
    let pieces = if whole_in_preview {
        1
    } else if c.preview {
        1 + (c.size - PREVIEW).div_ceil(piece)
    } else {
        c.size.div_ceil(piece)
    };
    let last = gap * pieces as u32;
    let holds_to_end = c.allows_204() || c.mode == AnswerMode::Complete;
    // Whether the object is streaming when its verdict comes at the end.
    let streams = !holds_to_end
        && !whole_in_preview
        && c.size > HOLDBACK
        && match c.mode {
            AnswerMode::Partial => c.size > budget || last >= SEND_DELAY,
            AnswerMode::Trickle => last > TRICKLE_EVERY,
            AnswerMode::Complete => false,
        };
    let delivered = |streams: bool| {
        if streams {
            Answer::Stream
        } else if whole_in_preview || c.allows_204() {
            Answer::NoContent
        } else {
            Answer::Echo
        }
    };
    match (c.status, c.when) {
        (Status::Clean, _) | (Status::ErrorPassed, When::Late) => delivered(streams),
        // Passed from the first bytes on: answered at the preview's end, or streamed through.
        (Status::ErrorPassed, When::Early) if c.preview => Answer::NoContent,
        (Status::ErrorPassed, When::Early) => Answer::Stream,
        (Status::Infected | Status::Limits, When::Early) => Answer::Blocked,
        (Status::Infected | Status::Limits, When::Late) if !streams => Answer::Blocked,
        (Status::Infected | Status::Limits, When::Late) if c.content_length => Answer::Cut,
        (Status::Infected | Status::Limits, When::Late) => Answer::Reset,
    }
}

fn all_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for mode in [
        AnswerMode::Partial,
        AnswerMode::Complete,
        AnswerMode::Trickle,
    ] {
        for client in [Client::Squid, Client::KeepsCopy] {
            for preview in [true, false] {
                for size in [1_000, 20_000, 200_000] {
                    for speed in [Speed::Fast, Speed::Slow] {
                        for content_length in [true, false] {
                            for status in [
                                Status::Clean,
                                Status::Infected,
                                Status::Limits,
                                Status::ErrorPassed,
                            ] {
                                for when in [When::Early, When::Late] {
                                    if status == Status::Clean && when == When::Early {
                                        continue;
                                    }
                                    v.push(Case {
                                        mode,
                                        client,
                                        preview,
                                        size,
                                        speed,
                                        content_length,
                                        status,
                                        when,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    v
}

#[test]
fn every_download_case_gets_the_answer_the_spec_asks_for() {
    let cases = all_cases();
    assert_eq!(cases.len(), 3 * 2 * 2 * 3 * 2 * 2 * 7);
    let mut failures = Vec::new();
    for c in &cases {
        let t = run(*c, Direction::Download);
        let o = t.outcome.expect("outcome");
        let want = expected(c);
        if o.answer != want {
            failures.push(format!("{c:?}: got {:?}, want {want:?}", o.answer));
        }
        // Never a whole infected object, never a reset that could be a cut.
        if matches!(c.status, Status::Infected | Status::Limits) {
            assert!(t.released < c.size, "{c:?}: infected object sent whole");
            assert!(o.answer.denied(), "{c:?}");
        }
        assert_eq!(t.reset, o.answer == Answer::Reset, "{c:?}");
        assert_eq!(o.close, o.answer == Answer::Reset, "{c:?}");
        if o.answer == Answer::Cut {
            assert_eq!(o.sent, t.released, "{c:?}");
            assert!(o.sent < c.size, "{c:?}");
        }
        // Squid 5.7 stalls beyond its buffer when a body is held (bug 5352): partial mode
        // never holds more than that for Squid, before the first byte goes out.
        if c.client == Client::Squid && c.mode == AnswerMode::Partial {
            assert!(
                t.max_held_unstreamed <= HOLD + HOLDBACK + c.pieces().0,
                "{c:?}: held {}",
                t.max_held_unstreamed
            );
        }
        // Streamed objects keep their tail back until the verdict.
        if o.answer == Answer::Stream && c.status != Status::ErrorPassed {
            assert_eq!(t.released, c.size);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn uploads_are_held_to_their_verdict_and_blocked_past_their_budget() {
    for size in [1_000u64, 200_000, 900_000, 2_000_000] {
        for status in [Status::Clean, Status::Infected] {
            let c = Case {
                mode: AnswerMode::Partial,
                client: Client::Squid,
                preview: true,
                size,
                speed: Speed::Slow,
                content_length: true,
                status,
                when: When::Late,
            };
            let t = run(c, Direction::Upload);
            let o = t.outcome.expect("outcome");
            // Nothing reaches the origin before the verdict…
            assert!(
                t.max_held_unstreamed + 8192 >= size.min(1024 * 1024),
                "{c:?}"
            );
            let want = match (size > 1024 * 1024, status) {
                (true, _) => Answer::Blocked,
                (false, Status::Infected) => Answer::Blocked,
                (false, _) if size <= PREVIEW => Answer::NoContent,
                (false, _) => Answer::Echo,
            };
            assert_eq!(o.answer, want, "{c:?}");
            if status == Status::Infected {
                assert_eq!(t.released, 0, "{c:?}: upload bytes reached the origin");
            }
        }
    }
}

#[test]
fn an_upload_past_its_budget_may_stream_when_configured() {
    let c = Case {
        mode: AnswerMode::Partial,
        client: Client::Squid,
        preview: false,
        size: 3 * 1024 * 1024,
        speed: Speed::Fast,
        content_length: true,
        status: Status::Infected,
        when: When::Late,
    };
    let mut plan = c.plan(Direction::Upload);
    plan.upload_over_budget = OverBudget::Stream;
    let (mut f, _) = Flow::new(plan, Start::Scan);
    let mut out = f
        .handle(Duration::ZERO, Event::Bytes(1024 * 1024))
        .expect("bytes");
    assert!(out.is_empty(), "held within budget: {out:?}");
    out = f.handle(Duration::ZERO, Event::Bytes(1)).expect("bytes");
    assert_eq!(
        out,
        vec![
            Action::EchoHead,
            Action::Release(1024 * 1024 + 1 - HOLDBACK)
        ]
    );
    out = f.handle(Duration::ZERO, Event::End).expect("end");
    assert_eq!(out, vec![Action::FinishScan]);
    out = f.handle(Duration::ZERO, Event::Block).expect("verdict");
    assert_eq!(out.first(), Some(&Action::LastChunk));
    assert!(matches!(
        out.last(),
        Some(Action::Done(Outcome {
            answer: Answer::Cut,
            ..
        }))
    ));
}

/// Explicit sequences, action by action, for the cases an administrator asks about.
#[test]
fn sequences() {
    use Action::*;
    let base = Case {
        mode: AnswerMode::Partial,
        client: Client::Squid,
        preview: true,
        size: 100_000,
        speed: Speed::Fast,
        content_length: true,
        status: Status::Clean,
        when: When::Late,
    };
    let done = |answer, sent, scanned, close| {
        Done(Outcome {
            answer,
            sent,
            scanned,
            close,
        })
    };
    let z = Duration::ZERO;
    type Step = (Event, Vec<Action>);
    let rows: Vec<(&str, Plan, Start, Vec<Step>)> = vec![
        (
            "infected in the preview: the preview read to its end, block page, no 100 Continue",
            base.plan(Direction::Download),
            Start::Scan,
            vec![
                (Event::Bytes(4096), vec![]),
                (
                    Event::Block,
                    vec![
                        Drain,
                        BlockPage(BlockReason::Decided),
                        done(Answer::Blocked, 0, true, false),
                    ],
                ),
            ],
        ),
        (
            "large object with Content-Length: streams at once, late detection cuts short",
            base.plan(Direction::Download),
            Start::Scan,
            vec![
                (Event::Bytes(4096), vec![]),
                (Event::PreviewEnd, vec![Continue]),
                (Event::Bytes(60_000), vec![EchoHead, Release(60_000)]),
                (Event::Bytes(35_904), vec![Release(95_904)]),
                (Event::End, vec![FinishScan]),
                (
                    Event::Block,
                    vec![LastChunk, done(Answer::Cut, 95_904, true, false)],
                ),
            ],
        ),
        (
            "no Content-Length: held to the budget, then streams; late detection resets",
            {
                let mut p = base.plan(Direction::Download);
                p.content_length = None;
                p
            },
            Start::Scan,
            vec![
                (Event::Bytes(4096), vec![]),
                (Event::PreviewEnd, vec![Continue]),
                (Event::Bytes(30_000), vec![]),
                (Event::Bytes(30_000), vec![EchoHead, Release(60_000)]),
                (Event::End, vec![FinishScan]),
                (
                    Event::Block,
                    vec![Reset, done(Answer::Reset, 60_000, true, true)],
                ),
            ],
        ),
        (
            "early detection while streaming without Content-Length: read to the end, reset",
            {
                let mut p = base.plan(Direction::Download);
                p.content_length = None;
                p.preview = false;
                p
            },
            Start::Scan,
            vec![
                (Event::Bytes(50_000), vec![EchoHead, Release(45_904)]),
                (
                    Event::Block,
                    vec![Drain, Reset, done(Answer::Reset, 45_904, true, true)],
                ),
            ],
        ),
        (
            "slow origin: streaming starts at the send delay",
            {
                let mut p = base.plan(Direction::Download);
                p.preview = false;
                p.content_length = None;
                p
            },
            Start::Scan,
            vec![
                (Event::Bytes(10_000), vec![]),
                (Event::Tick, vec![EchoHead, Release(10_000 - 4096)]),
                (Event::Bytes(1_000), vec![Release(11_000 - 4096)]),
                (Event::End, vec![FinishScan]),
                (
                    Event::Clean,
                    vec![
                        Release(11_000),
                        LastChunk,
                        done(Answer::Stream, 11_000, true, false),
                    ],
                ),
            ],
        ),
        (
            "a client that keeps its copy: held to the end, 204",
            {
                let mut p = base.plan(Direction::Download);
                p.allows_204 = true;
                p
            },
            Start::Scan,
            vec![
                (Event::Bytes(4096), vec![]),
                (Event::PreviewEnd, vec![Continue]),
                (Event::Bytes(10_000_000), vec![]),
                (Event::Tick, vec![]),
                (Event::End, vec![FinishScan]),
                (
                    Event::Clean,
                    vec![NoContent, done(Answer::NoContent, 0, true, false)],
                ),
            ],
        ),
        (
            "a MIME rule waits for the first bytes, then passes the object unscanned",
            {
                let mut p = base.plan(Direction::Download);
                p.preview = false;
                p
            },
            Start::Sniff,
            vec![
                (Event::Bytes(100_000), vec![]),
                (Event::Pass, vec![EchoHead, Release(100_000)]),
                (
                    Event::End,
                    vec![LastChunk, done(Answer::Stream, 100_000, false, false)],
                ),
            ],
        ),
        (
            "cured small object: the cured copy",
            {
                let mut p = base.plan(Direction::Download);
                p.preview = false;
                p.content_length = Some(20_000);
                p
            },
            Start::Scan,
            vec![
                (Event::Bytes(20_000), vec![]),
                (Event::End, vec![FinishScan]),
                (
                    Event::Cured,
                    vec![SendCured, done(Answer::Cured, 0, true, false)],
                ),
            ],
        ),
    ];
    for (name, plan, start, steps) in rows {
        let (mut f, first) = Flow::new(plan, start);
        assert!(first.is_empty(), "{name}: {first:?}");
        for (i, (ev, want)) in steps.into_iter().enumerate() {
            let now = if ev == Event::Tick { SEND_DELAY } else { z };
            let got = f
                .handle(now, ev)
                .unwrap_or_else(|e| panic!("{name}: step {i}: {e}"));
            assert_eq!(got, want, "{name}: step {i} ({ev:?})");
        }
        assert!(f.is_done(), "{name}");
    }
}

#[test]
fn unscanned_objects_with_a_preview_are_answered_at_once() {
    let c = Case {
        mode: AnswerMode::Partial,
        client: Client::Squid,
        preview: true,
        size: 1,
        speed: Speed::Fast,
        content_length: true,
        status: Status::Clean,
        when: When::Late,
    };
    let (f, first) = Flow::new(c.plan(Direction::Download), Start::Pass);
    assert!(f.is_done());
    assert_eq!(first[..2], [Action::Drain, Action::NoContent]);
    let mut p = c.plan(Direction::Download);
    p.uncacheable = true;
    p.allows_206 = true;
    let (_, first) = Flow::new(p, Start::Pass);
    assert_eq!(first[1], Action::UseOriginal);
    assert!(matches!(
        first.last(),
        Some(Action::Done(Outcome { scanned: false, .. }))
    ));
}

#[test]
fn a_failed_flow_stays_failed() {
    let mut p = all_cases()[0].plan(Direction::Download);
    p.preview = false;
    let (mut f, _) = Flow::new(p, Start::Sniff);
    // PreviewEnd without a preview, and End while a decision is pending, are driver bugs.
    assert!(matches!(
        f.handle(Duration::ZERO, Event::PreviewEnd),
        Err(FlowError::Unexpected { .. })
    ));
    assert_eq!(
        f.handle(Duration::ZERO, Event::Bytes(10)),
        Err(FlowError::Failed)
    );
    assert_eq!(
        f.handle(Duration::ZERO, Event::Scan),
        Err(FlowError::Failed)
    );
}
