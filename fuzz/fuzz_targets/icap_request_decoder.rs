//! Feeds arbitrary bytes, in arbitrary pieces, to the server-side `RequestDecoder`.
//!
//! Input layout: the first byte seeds the piece sizes and the preview decision; the rest is
//! the byte stream. Each `PreviewEnd` is answered with `continue_body` or `abandon_body`.
//! Checked invariants: no panic, no empty `Body`, errors are sticky, `Ok(None)` after
//! `PreviewEnd` consumes nothing, and the events do not depend on how the bytes were split.
#![no_main]

use bulwark_icap::{Limits, RequestDecoder, RequestEvent};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

/// What one run produced: body pieces merged, so runs with different splits compare equal.
#[derive(Debug, PartialEq)]
enum Ev {
    Head(String),
    Body(Vec<u8>),
    PreviewEnd,
    End(bool, usize),
    Error(String),
}

fn run(data: &[u8], seed: u8, limits: Limits, split: bool) -> Vec<Ev> {
    let mut d = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut evs: Vec<Ev> = Vec::new();
    let mut previews = 0u32;
    let mut rest = data;
    let mut step = usize::from(seed) + 1;
    while !rest.is_empty() {
        let n = if split {
            step = step.wrapping_mul(31).wrapping_add(7) % 97;
            (step % 13 + 1).min(rest.len())
        } else {
            rest.len()
        };
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match d.decode(&mut buf) {
                Ok(None) => break,
                Ok(Some(RequestEvent::Head(r))) => evs.push(Ev::Head(format!("{r:?}"))),
                Ok(Some(RequestEvent::Body(b))) => {
                    assert!(!b.is_empty(), "empty Body event");
                    match evs.last_mut() {
                        Some(Ev::Body(prev)) => prev.extend_from_slice(&b),
                        _ => evs.push(Ev::Body(b.to_vec())),
                    }
                }
                Ok(Some(RequestEvent::PreviewEnd)) => {
                    evs.push(Ev::PreviewEnd);
                    let before = buf.len();
                    assert_eq!(d.decode(&mut buf), Ok(None));
                    assert_eq!(buf.len(), before, "consumed while waiting");
                    previews += 1;
                    if (u32::from(seed) >> (previews % 8)) & 1 == 0 {
                        d.continue_body();
                    } else {
                        d.abandon_body();
                    }
                }
                Ok(Some(RequestEvent::End { ieof, trailers })) => {
                    evs.push(Ev::End(ieof, trailers.len()))
                }
                Err(e) => {
                    assert_eq!(d.decode(&mut buf), Err(e.clone()), "error not sticky");
                    evs.push(Ev::Error(format!("{:?}: {}", e.kind, e.reason)));
                    return evs;
                }
            }
        }
    }
    evs
}

fuzz_target!(|input: &[u8]| {
    let Some((&seed, data)) = input.split_first() else {
        return;
    };
    let limits = if seed & 0x80 != 0 {
        Limits {
            max_header_bytes: 1024,
            max_header_fields: 8,
            max_chunk_line_bytes: 32,
        }
    } else {
        Limits::default()
    };
    let whole = run(data, seed, limits, false);
    let split = run(data, seed, limits, true);
    assert_eq!(whole, split, "events depend on how the input was split");
});
