//! The built-in EICAR test signature, matched anywhere in a stream, across feed boundaries.

use memchr::memmem;

/// Threat name reported for EICAR (ClamAV's name in its official database).
pub const NAME: &str = "Eicar-Test-Signature";

/// The 68-byte EICAR string, stored in two halves so that scanners do not flag this source.
const PART1: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$";
const PART2: &[u8] = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Streaming EICAR search: keeps the last 67 bytes to catch a string split across feeds.
#[derive(Debug, Clone)]
pub struct EicarMatcher {
    pattern: Vec<u8>,
    carry: Vec<u8>,
    found: bool,
}

impl Default for EicarMatcher {
    fn default() -> Self {
        Self {
            pattern: [PART1, PART2].concat(),
            carry: Vec::with_capacity(2 * 68),
            found: false,
        }
    }
}

impl EicarMatcher {
    /// Feeds the next bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.found || data.is_empty() {
            return;
        }
        let keep = self.pattern.len() - 1;
        // Boundary window: the carried tail plus the first bytes of `data`.
        if !self.carry.is_empty() {
            let take = data.len().min(keep);
            self.carry.extend_from_slice(&data[..take]);
            if memmem::find(&self.carry, &self.pattern).is_some() {
                self.found = true;
                return;
            }
        }
        if memmem::find(data, &self.pattern).is_some() {
            self.found = true;
            return;
        }
        let tail_src: Vec<u8> = if data.len() >= keep {
            data[data.len() - keep..].to_vec()
        } else {
            let mut v = std::mem::take(&mut self.carry);
            // `carry` already had data appended; rebuild from the previous tail plus data.
            v.truncate(v.len().saturating_sub(data.len()));
            v.extend_from_slice(data);
            let start = v.len().saturating_sub(keep);
            v[start..].to_vec()
        };
        self.carry = tail_src;
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
        for piece in 1..8 {
            let mut m = EicarMatcher::default();
            for c in body.chunks(piece) {
                m.feed(c);
            }
            assert!(m.found(), "pieces of {piece}");
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
