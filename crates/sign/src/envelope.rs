//! The signed envelope: a text body followed by one line `Signature: <base64>`, the Ed25519
//! signature over every byte of the body exactly as stored. Licence key files and update
//! indexes are both envelopes; only how strictly the signature line must end the text differs
//! ([`Envelope::parse`] for indexes, [`Envelope::parse_lenient`] for hand-copied licence keys).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

use crate::error::EnvelopeError;
use crate::signature::{sign, verify};

/// The start of the signature line.
pub const SIGNATURE_PREFIX: &str = "Signature: ";

/// A signed text split into its body and its (still encoded) signature. Nothing is verified
/// until [`Envelope::verify`]; parse the body only after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    body: &'a [u8],
    signature: &'a str,
    line: usize,
}

impl<'a> Envelope<'a> {
    /// Splits an exact envelope: the body ends at the first line starting with `Signature: `,
    /// and that line must be the last, ending in exactly one newline.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        let marker = marker();
        let pos = bytes
            .windows(marker.len())
            .position(|w| w == marker.as_slice())
            .ok_or(EnvelopeError::Unsigned)?;
        let body = &bytes[..pos + 1];
        let line = newlines(body) + 1;
        let rest = std::str::from_utf8(&bytes[pos + marker.len()..])
            .map_err(|_| EnvelopeError::NotUtf8)?;
        let signature = rest
            .strip_suffix('\n')
            .ok_or(EnvelopeError::NoFinalNewline)?;
        if signature.contains(['\n', '\r']) {
            return Err(EnvelopeError::TextAfter { line: line + 1 });
        }
        Ok(Envelope {
            body,
            signature,
            line,
        })
    }

    /// Splits a lenient envelope: the body ends at the last line starting with `Signature: `
    /// (or is empty when the text starts with one); blank text after the signature line, a
    /// missing final newline and spaces around the base64 are tolerated.
    pub fn parse_lenient(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        let prefix = SIGNATURE_PREFIX.as_bytes();
        let start = if bytes.starts_with(prefix) {
            0
        } else {
            let marker = marker();
            bytes
                .windows(marker.len())
                .rposition(|w| w == marker.as_slice())
                .map(|i| i + 1)
                .ok_or(EnvelopeError::Unsigned)?
        };
        let body = &bytes[..start];
        let line = newlines(body) + 1;
        let rest = std::str::from_utf8(&bytes[start + prefix.len()..])
            .map_err(|_| EnvelopeError::NotUtf8)?;
        let (signature, after) = rest.split_once('\n').unwrap_or((rest, ""));
        if !after.trim().is_empty() {
            return Err(EnvelopeError::TextAfter { line: line + 1 });
        }
        Ok(Envelope {
            body,
            signature: signature.trim(),
            line,
        })
    }

    /// The signed bytes: everything before the signature line, exactly as stored.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The 1-based line number of the signature line.
    pub fn signature_line(&self) -> usize {
        self.line
    }

    /// The decoded signature; [`EnvelopeError::Encoding`] unless it is 64 bytes of base64.
    pub fn signature(&self) -> Result<Signature, EnvelopeError> {
        STANDARD
            .decode(self.signature)
            .ok()
            .and_then(|v| <[u8; 64]>::try_from(v.as_slice()).ok())
            .map(|b| Signature::from_bytes(&b))
            .ok_or(EnvelopeError::Encoding { line: self.line })
    }

    /// Checks the signature over the body with `key` (strictly, see [`crate::verify`]).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), EnvelopeError> {
        verify(key, self.body, &self.signature()?)?;
        Ok(())
    }
}

/// A body with its signature line appended, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The whole text: the body, then `Signature: <base64>\n`.
    pub text: String,
    /// The signature over the body.
    pub signature: Signature,
}

/// Signs `body` with `key` and appends the signature line. `body` should end with a newline
/// and contain no line starting with `Signature: `, or the result does not parse back.
pub fn seal(body: &str, key: &SigningKey) -> Sealed {
    let signature = sign(key, body.as_bytes());
    let text = format!(
        "{body}{SIGNATURE_PREFIX}{}\n",
        STANDARD.encode(signature.to_bytes())
    );
    Sealed { text, signature }
}

fn marker() -> Vec<u8> {
    let mut m = b"\n".to_vec();
    m.extend_from_slice(SIGNATURE_PREFIX.as_bytes());
    m
}

fn newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn sealed_text_parses_back_and_verifies() {
        let sealed = seal("A: 1\nB: 2\n", &key(1));
        for env in [
            Envelope::parse(sealed.text.as_bytes()).unwrap(),
            Envelope::parse_lenient(sealed.text.as_bytes()).unwrap(),
        ] {
            assert_eq!(env.body(), b"A: 1\nB: 2\n");
            assert_eq!(env.signature_line(), 3);
            assert_eq!(env.signature().unwrap(), sealed.signature);
            env.verify(&key(1).verifying_key()).unwrap();
            assert!(matches!(
                env.verify(&key(2).verifying_key()),
                Err(EnvelopeError::Mismatch(_))
            ));
        }
    }

    #[test]
    fn a_changed_body_does_not_verify() {
        let text = seal("A: 1\n", &key(1)).text.replace("A: 1", "A: 2");
        let env = Envelope::parse(text.as_bytes()).unwrap();
        assert!(env.verify(&key(1).verifying_key()).is_err());
    }

    #[test]
    fn exact_envelopes_end_with_the_signature_line() {
        let text = seal("A: 1\n", &key(1)).text;
        let e = |t: &str| Envelope::parse(t.as_bytes()).unwrap_err();
        assert_eq!(e("A: 1\n"), EnvelopeError::Unsigned);
        assert_eq!(
            e(text.trim_end_matches('\n')),
            EnvelopeError::NoFinalNewline
        );
        assert_eq!(
            e(&format!("{text}\n")),
            EnvelopeError::TextAfter { line: 3 }
        );
        assert_eq!(
            e(&format!("{text}{}", text.lines().last().unwrap())),
            EnvelopeError::NoFinalNewline
        );
        let bad = Envelope::parse(b"A: 1\nSignature: AAAA\n").unwrap();
        assert_eq!(bad.signature(), Err(EnvelopeError::Encoding { line: 2 }));
        let mut not_utf8 = b"A: 1\nSignature: ".to_vec();
        not_utf8.extend_from_slice(&[0xff, b'\n']);
        assert_eq!(
            Envelope::parse(&not_utf8).unwrap_err(),
            EnvelopeError::NotUtf8
        );
    }

    #[test]
    fn lenient_envelopes_tolerate_blank_endings() {
        let text = seal("A: 1\n", &key(1)).text;
        let k = key(1).verifying_key();
        for t in [
            format!("{text}\n  \n"),
            text.trim_end_matches('\n').to_string(),
            text.replace("Signature: ", "Signature:  "),
        ] {
            Envelope::parse_lenient(t.as_bytes())
                .unwrap()
                .verify(&k)
                .unwrap();
        }
        assert_eq!(
            Envelope::parse_lenient(format!("{text}x\n").as_bytes()).unwrap_err(),
            EnvelopeError::TextAfter { line: 3 }
        );
        // The last signature line ends the body; a text starting with one has an empty body.
        let twice = format!("{text}{}", text.lines().last().unwrap());
        assert_eq!(
            Envelope::parse_lenient(twice.as_bytes()).unwrap().body(),
            text.as_bytes()
        );
        let only = Envelope::parse_lenient(b"Signature: AAAA\n").unwrap();
        assert_eq!((only.body(), only.signature_line()), (&b""[..], 1));
    }
}
