//! The built-in EICAR test signature, matched anywhere in a stream, across feed boundaries.

use std::sync::OnceLock;

use memchr::memmem;

/// Threat name reported for EICAR (ClamAV's name in its official database).
pub const NAME: &str = "Eicar-Test-Signature";

/// The 68-byte EICAR string, stored in two halves so that scanners do not flag this source.
const PART1: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$";
const PART2: &[u8] = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The searcher for the EICAR string, built once for the process (building one costs more than
/// searching a small piece: objects may come in pieces of a byte).
fn finder() -> &'static memmem::Finder<'static> {
    static FINDER: OnceLock<memmem::Finder<'static>> = OnceLock::new();
    FINDER.get_or_init(|| memmem::Finder::new(&[PART1, PART2].concat()).into_owned())
}

/// Length of the EICAR string.
const LEN: usize = PART1.len() + PART2.len();

/// Streaming EICAR search: keeps the last 67 bytes to catch a string split across feeds.
/// No allocation after the first feed, and work proportional to the bytes fed, however small
/// the pieces.
#[derive(Debug, Clone, Default)]
pub struct EicarMatcher {
    /// The last bytes fed (at most `LEN - 1` between feeds).
    carry: Vec<u8>,
    found: bool,
}

impl EicarMatcher {
    /// Feeds the next bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.found || data.is_empty() {
            return;
        }
        let keep = LEN - 1;
        if data.len() <= keep {
            // A small piece: every string ending in it lies in the carried tail plus the piece.
            self.carry.extend_from_slice(data);
            self.found = finder().find(&self.carry).is_some();
        } else {
            // The strings that start in the carried tail, then those inside the piece.
            let head = &data[..keep];
            self.carry.extend_from_slice(head);
            self.found = finder().find(&self.carry).is_some() || finder().find(data).is_some();
            self.carry.clear();
            self.carry.extend_from_slice(&data[data.len() - keep..]);
        }
        let excess = self.carry.len().saturating_sub(keep);
        self.carry.drain(..excess);
    }

    /// True once EICAR was seen.
    pub fn found(&self) -> bool {
        self.found
    }
}

/// The EICAR test file, for the engine's own tests (the other crates' tests use
/// `bulwark_testkit::eicar`, which the engine's cannot without depending on the test harness).
#[cfg(test)]
pub(crate) fn test_file() -> Vec<u8> {
    [PART1, PART2].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_eicar_split_at_every_offset_and_in_tiny_pieces() {
        let mut body = vec![b'a'; 1000];
        body.extend_from_slice(&test_file());
        body.extend_from_slice(&[b'z'; 10]);
        for split in 0..body.len() {
            let mut m = EicarMatcher::default();
            m.feed(&body[..split]);
            m.feed(&body[split..]);
            assert!(m.found(), "split at {split}");
        }
        for piece in (1..8).chain([66, 67, 68, 69, 135, 136, 137]) {
            let mut m = EicarMatcher::default();
            for c in body.chunks(piece) {
                m.feed(c);
            }
            assert!(m.found(), "pieces of {piece}");
        }
        // Small and large pieces in turn, after a first piece of every length up to 200.
        for phase in 1..200 {
            let mut m = EicarMatcher::default();
            m.feed(&body[..phase]);
            let (mut at, mut k) = (phase, phase);
            while at < body.len() {
                let n = [1, 70, 3, 200, 66][k % 5].min(body.len() - at);
                m.feed(&body[at..at + n]);
                at += n;
                k += 1;
            }
            assert!(m.found(), "phase {phase}");
        }
    }

    #[test]
    fn clean_and_near_miss_are_not_found() {
        let mut m = EicarMatcher::default();
        let mut near = test_file();
        near[10] ^= 1;
        for c in near.chunks(5) {
            m.feed(c);
        }
        m.feed(&[0u8; 4096]);
        assert!(!m.found());
    }
}
