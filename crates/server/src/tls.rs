//! ICAP over TLS: the rustls acceptor built from `[tls]`, with optional client certificates.

use std::path::Path;
use std::sync::Arc;

use bulwark_config::TlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Why a TLS configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file is missing from the configuration.
    #[error("tls.{0} is not set")]
    Missing(&'static str),
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {why}")]
    Pem {
        /// The file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// rustls refused the certificate, key or CA set.
    #[error("TLS setup: {0}")]
    Rustls(String),
}

fn pem_err(path: &Path, why: impl ToString) -> TlsError {
    TlsError::Pem {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(path, e))?;
    if certs.is_empty() {
        return Err(pem_err(path, "no certificate in file"));
    }
    Ok(certs)
}

/// Builds the acceptor: modern protocol versions only (TLS 1.2 and 1.3, rustls has nothing
/// older); with `client_ca`, every client must present a certificate that chains to it.
pub fn acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let cert_path = cfg.cert.as_deref().ok_or(TlsError::Missing("cert"))?;
    let key_path = cfg.key.as_deref().ok_or(TlsError::Missing("key"))?;
    let chain = certs(cert_path)?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| pem_err(key_path, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match &cfg.client_ca {
        Some(ca_path) => {
            let mut roots = RootCertStore::empty();
            for c in certs(ca_path)? {
                roots.add(c).map_err(|e| pem_err(ca_path, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
