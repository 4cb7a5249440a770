//! Certificates made at test time (rcgen): a private certificate authority and the leaf
//! certificates it signs, as PEM text, for the tests of ICAP over TLS and of `rediss://`.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A private certificate authority.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// Its self-signed certificate, PEM.
    pub pem: String,
}

impl Ca {
    /// A new self-signed CA whose common name is `name`.
    ///
    /// # Panics
    /// When rcgen cannot make a key or a certificate (a test set-up failure).
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.self_signed(&key).expect("self-signed CA");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// A leaf certificate signed by this CA for `names` (DNS names or IP addresses; the first
    /// is also its common name): `(certificate PEM, private key PEM)`.
    ///
    /// # Panics
    /// When `names` is empty, or rcgen cannot make a key or sign (a test set-up failure).
    pub fn leaf(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().expect("leaf key");
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("leaf params");
        p.distinguished_name.push(DnType::CommonName, names[0]);
        let cert = p.signed_by(&key, &self.issuer).expect("sign leaf");
        (cert.pem(), key.serialize_pem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_signs_leaves() {
        let ca = Ca::new("Test CA");
        assert!(ca.pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"]);
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key.contains("PRIVATE KEY"));
    }
}
