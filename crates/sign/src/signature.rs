//! Signing and verifying bytes. Verification is always `verify_strict`: besides the signature
//! equation it refuses small-order ("weak") public keys and signature points, so one message
//! has one valid signature per key and no signature verifies under several keys.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::error::BadSignature;

/// Signs `message` with `key` (deterministic Ed25519).
pub fn sign(key: &SigningKey, message: &[u8]) -> Signature {
    key.sign(message)
}

/// Checks that `signature` is `key`'s signature over `message`, strictly (`verify_strict`).
pub fn verify(
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), BadSignature> {
    key.verify_strict(message, signature)
        .map_err(|_| BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier as _;

    #[test]
    fn a_signature_verifies_with_its_key_only() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let sig = sign(&key, b"body");
        assert_eq!(verify(&key.verifying_key(), b"body", &sig), Ok(()));
        assert_eq!(
            verify(&key.verifying_key(), b"other", &sig),
            Err(BadSignature)
        );
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert_eq!(verify(&other, b"body", &sig), Err(BadSignature));
    }

    #[test]
    fn a_weak_key_is_refused_although_lax_verification_accepts_it() {
        // The identity point as the public key and as R, with s = 0: [0]B = R + [k]A holds for
        // every message, so plain `verify` accepts this "signature" of anything.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).expect("the identity decompresses");
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&identity);
        let forged = Signature::from_bytes(&forged);
        assert!(weak.verify(b"anything", &forged).is_ok());
        assert_eq!(verify(&weak, b"anything", &forged), Err(BadSignature));
    }
}
