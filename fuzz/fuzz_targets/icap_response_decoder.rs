//! Feeds arbitrary bytes, in arbitrary pieces, to the client-side `ResponseDecoder`.
//!
//! Input layout: the first byte seeds the piece sizes and picks the limits; the rest is the
//! byte stream. Checked invariants: no panic, no empty `Body`, errors are sticky, and the
//! events do not depend on how the bytes were split.
#![no_main]

use bulwark_icap::{Limits, ResponseDecoder, ResponseEvent};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
enum Ev {
    Head(String),
    Body(Vec<u8>),
    End(Option<u64>, usize),
    Error(String),
}

fn run(data: &[u8], seed: u8, limits: Limits, split: bool) -> Vec<Ev> {
    let mut d = ResponseDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut evs: Vec<Ev> = Vec::new();
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
                Ok(Some(ResponseEvent::Head(r))) => evs.push(Ev::Head(format!("{r:?}"))),
                Ok(Some(ResponseEvent::Body(b))) => {
                    assert!(!b.is_empty(), "empty Body event");
                    match evs.last_mut() {
                        Some(Ev::Body(prev)) => prev.extend_from_slice(&b),
                        _ => evs.push(Ev::Body(b.to_vec())),
                    }
                }
                Ok(Some(ResponseEvent::End {
                    use_original_body,
                    trailers,
                })) => evs.push(Ev::End(use_original_body, trailers.len())),
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
