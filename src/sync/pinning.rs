//! The certificate pin: a rustls verifier that accepts the commune server only if its
//! certificate is the one whose SHA-256 came in the enrolment link.
//!
//! A commune office's server has no public certificate, so no certificate authority can
//! vouch for it; the enrolment link (read from the office's screen or paper) does instead,
//! the way an SSH host key is pinned. The certificate's names and dates are not looked at:
//! the exact certificate is the identity. The handshake's signatures are still verified,
//! with the ring provider's own algorithms (`rustls::crypto::verify_tls1{2,3}_signature`),
//! so only the holder of that certificate's key gets through. A mismatch fails the
//! handshake before any request is written: nothing is sent to an impostor.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

use crate::enrol_link::Fingerprint;

/// Accepts exactly one end-entity certificate.
#[derive(Debug)]
struct PinnedCertificate {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if Fingerprint::of_der(end_entity) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            // The one error kind only an application's own check gives: `client` tells it
            // from the public-roots failures by it.
            Err(Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS client configuration (ring, TLS 1.2 and 1.3, HTTP/1.1) that trusts only the
/// certificate with this fingerprint.
pub fn pinned_config(pin: Fingerprint) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(ring::default_provider());
    let verifier = Arc::new(PinnedCertificate { pin, provider: provider.clone() });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// What a failed connection says about the server's certificate, found down the error's
/// chain of causes (reqwest → hyper → io::Error → rustls::Error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertProblem {
    /// Not the pinned certificate.
    NotPinned,
    /// No pin, and the public roots do not vouch for it (self-signed, expired, other name).
    Untrusted,
}

pub fn cert_problem(e: &(dyn std::error::Error + 'static)) -> Option<CertProblem> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(Error::InvalidCertificate(c)) = err.downcast_ref::<Error>() {
            return Some(match c {
                CertificateError::ApplicationVerificationFailure => CertProblem::NotPinned,
                _ => CertProblem::Untrusted,
            });
        }
        // An io::Error's `source` skips the error it wraps (tokio-rustls wraps the rustls
        // error in one, and the connector wraps that in another): step into it instead.
        next = match err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}
