//! The answer state machine under arbitrary plans and event sequences: it never panics, never
//! releases bytes it has not received or twice, sends at most one answer head, ends with exactly
//! one `Done` as its last action, and a failed flow stays failed.
#![no_main]

use std::time::Duration;

use bulwark_config::AnswerMode;
use bulwark_server::flow::{Action, Direction, Event, Flow, FlowError, OverBudget, Plan, Start};
use libfuzzer_sys::fuzz_target;

fn plan(b: &[u8]) -> (Plan, Start) {
    let bit = |i: usize| b.get(i / 8).is_some_and(|x| x >> (i % 8) & 1 == 1);
    let num = |i: usize| u64::from(b.get(i).copied().unwrap_or(0));
    let mode = match num(2) % 3 {
        0 => AnswerMode::Partial,
        1 => AnswerMode::Complete,
        _ => AnswerMode::Trickle,
    };
    let start = match num(3) % 3 {
        0 => Start::Scan,
        1 => Start::Sniff,
        _ => Start::Pass,
    };
    let plan = Plan {
        direction: if bit(0) {
            Direction::Upload
        } else {
            Direction::Download
        },
        mode,
        preview: bit(1),
        allows_204: bit(2),
        allows_206: bit(3),
        content_length: bit(4).then(|| num(4) * 1000),
        uncacheable: bit(5),
        hold_bytes: num(5) * 100,
        holdback_bytes: 4096 + num(6),
        send_delay: Duration::from_millis(num(7) * 10),
        trickle_bytes: num(8) + 1,
        trickle_interval: Duration::from_millis(num(9) * 10 + 1),
        upload_hold_bytes: num(10) * 1000,
        upload_over_budget: if bit(6) {
            OverBudget::Stream
        } else {
            OverBudget::Block
        },
    };
    (plan, start)
}

/// What the actions so far did.
#[derive(Default)]
struct Seen {
    released: u64,
    heads: u32,
    done: bool,
}

impl Seen {
    fn check(&mut self, actions: &[Action], received: u64) {
        for (i, a) in actions.iter().enumerate() {
            assert!(!self.done, "action after Done: {actions:?}");
            match *a {
                Action::EchoHead => {
                    self.heads += 1;
                    assert_eq!(self.heads, 1, "two heads");
                }
                Action::Release(to) => {
                    assert!(self.heads == 1, "body before its head");
                    assert!(
                        to > self.released && to <= received,
                        "release {to} of {received}"
                    );
                    self.released = to;
                }
                Action::Done(_) => {
                    assert_eq!(i, actions.len() - 1, "Done not last");
                    self.done = true;
                }
                _ => {}
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 11 {
        return;
    }
    let (plan, start) = plan(&data[..11]);
    let (mut flow, first) = Flow::new(plan, start);
    let mut seen = Seen::default();
    let mut failed = false;
    let mut now = Duration::ZERO;
    seen.check(&first, 0);
    for pair in data[11..].chunks(2) {
        let (k, v) = (pair[0], u64::from(pair.get(1).copied().unwrap_or(0)));
        now += Duration::from_millis(v * 7);
        let ev = match k % 10 {
            0..=2 => Event::Bytes(v * v * 4 + 1),
            3 => Event::PreviewEnd,
            4 => Event::End,
            5 => Event::Tick,
            6 => Event::Scan,
            7 => Event::Pass,
            8 => [Event::Clean, Event::Cured][(v % 2) as usize],
            _ => Event::Block,
        };
        match flow.handle(now, ev) {
            Ok(actions) => {
                assert!(!failed, "a failed flow took an event");
                seen.check(&actions, flow.received());
            }
            Err(FlowError::Failed) => assert!(failed || seen.done),
            Err(FlowError::Unexpected { .. }) => failed = true,
        }
        // Done stays done until an event comes that a done flow cannot take (then: failed).
        if seen.done && !failed {
            assert!(flow.is_done());
        }
    }
});
