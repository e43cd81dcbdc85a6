//! HTTPS for `sotay-server`: the certificate (given, or self-signed at first start and kept
//! in the data folder), the public address devices enrol with, and the listener.
//!
//! A commune office has a LAN and no domain name, so by default the server makes its own
//! certificate with `rcgen` (ECDSA P-256, named for the public address, `localhost` and
//! `127.0.0.1`), keeps it as `tls-cert.pem` and `tls-key.pem` (mode 0600) in the data folder,
//! and puts its SHA-256 in every enrolment link: devices pin it, so no certificate authority
//! is involved. A given certificate (PEM) is served as is; its fingerprint goes into links
//! only when asked (`pin`), because a public certificate is renewed every few months and
//! devices check it against the public roots instead. Plain HTTP is only for a loopback
//! address behind a reverse proxy that terminates TLS (the binary enforces that).
//!
//! [`serve`] runs the router over rustls (ring provider, HTTP/1.1) with `axum-server`: a TLS
//! handshake must finish within [`Timeouts::handshake`] and a request's headers arrive
//! within [`Timeouts::header_read`] (an idle kept-alive connection is closed after that
//! too), so connections that dribble bytes cannot pile up. Handlers see the peer's address
//! as `ConnectInfo<SocketAddr>`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::enrol_link::{EnrolLink, Fingerprint};

/// The self-signed certificate's file in the data folder.
pub const CERT_FILE: &str = "tls-cert.pem";
/// Its private key's file (mode 0600).
pub const KEY_FILE: &str = "tls-key.pem";

/// Why the server cannot serve HTTPS; worded for the operator, naming files, never keys.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::ErrorKind),
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("{0} holds no PEM private key")]
    NoKey(PathBuf),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::ErrorKind),
    #[error("{0} exists but {1} is missing; restore it, or delete both to make a new certificate (every device must then enrol again)")]
    Half(PathBuf, PathBuf),
    #[error("cannot make a certificate for {0:?}: {1}")]
    Make(Vec<String>, String),
    #[error("the certificate and key cannot be used together: {0}")]
    Config(String),
}

/// The certificate this server presents.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// SHA-256 of the end-entity certificate.
    pub fingerprint: Fingerprint,
    /// Whether enrolment links carry the fingerprint for devices to pin.
    pub pin: bool,
}

impl Identity {
    /// Whether the certificate names `host` (an IP address or a DNS name), as a browser
    /// would check it. A device that pinned the fingerprint does not look at names.
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let (Some(cert), Ok(name)) = (self.chain.first(), ServerName::try_from(host)) else {
            return false;
        };
        rustls::server::ParsedCertificate::try_from(cert)
            .and_then(|parsed| rustls::client::verify_server_name(&parsed, &name))
            .is_ok()
    }

    /// The rustls configuration that serves this certificate (ring, TLS 1.2 and 1.3,
    /// HTTP/1.1 only).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Config(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(self.chain.clone(), self.key.clone_key())
                .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Reads a certificate chain and its key from PEM files the operator gives.
pub fn load_given(cert: &Path, key: &Path, pin: bool) -> Result<Identity, TlsError> {
    use rustls::pki_types::pem::Error;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).and_then(|certs| certs.collect()).map_err(|e| match e {
            Error::Io(io) => TlsError::Read(cert.to_owned(), io.kind()),
            _ => TlsError::NoCertificate(cert.to_owned()),
        })?;
    let end_entity = chain.first().ok_or_else(|| TlsError::NoCertificate(cert.to_owned()))?;
    let fingerprint = Fingerprint::of_der(end_entity);
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        Error::Io(io) => TlsError::Read(key.to_owned(), io.kind()),
        _ => TlsError::NoKey(key.to_owned()),
    })?;
    let identity = Identity { chain, key, fingerprint, pin };
    identity.server_config()?;
    Ok(identity)
}

/// The server's own certificate in `data`: read if it is there, made (for `names`, plus
/// `localhost` and `127.0.0.1`) if not. The second value says whether it was made now.
pub fn self_signed(data: &Path, names: &[String]) -> Result<(Identity, bool), TlsError> {
    let (cert_path, key_path) = (data.join(CERT_FILE), data.join(KEY_FILE));
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => return Ok((load_given(&cert_path, &key_path, true)?, false)),
        (true, false) => return Err(TlsError::Half(cert_path, key_path)),
        // A key without its certificate is what a crash between the two writes leaves (the
        // key is written first): no device can have pinned a certificate never written.
        (false, _) => {}
    }
    let mut all: Vec<String> = Vec::new();
    for n in names.iter().map(|n| n.trim_start_matches('[').trim_end_matches(']')).chain(["localhost", "127.0.0.1"]) {
        if !n.is_empty() && !all.iter().any(|a| a.eq_ignore_ascii_case(n)) {
            all.push(n.to_owned());
        }
    }
    let made = make(&all).map_err(|e| TlsError::Make(all.clone(), e.to_string()))?;
    write_file(&key_path, made.signing_key.serialize_pem().as_bytes(), true)?;
    write_file(&cert_path, made.cert.pem().as_bytes(), false)?;
    Ok((load_given(&cert_path, &key_path, true)?, true))
}

fn make(names: &[String]) -> Result<rcgen::CertifiedKey<rcgen::KeyPair>, rcgen::Error> {
    use chrono::Datelike;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "Sổ tay commune server (self-signed)");
    let today = chrono::Utc::now().date_naive();
    // Devices pin the certificate itself and ignore its dates; browsers warn about a
    // self-signed certificate whatever its dates. Ten years spares a renewal that would
    // force every device to enrol again.
    params.not_before = rcgen::date_time_ymd(today.year() - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(today.year() + 10, 1, 1);
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let signing_key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&signing_key)?;
    Ok(rcgen::CertifiedKey { cert, signing_key })
}

/// Writes `bytes` to a new temporary file (mode 0600 for a key), syncs it and renames it
/// over `path`, so a crash leaves the old file or the new one, never half of one.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), TlsError> {
    let failed = |e: std::io::Error| TlsError::Write(path.to_owned(), e.kind());
    let tmp = path.with_extension("pem.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(&tmp).map_err(failed)?;
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)?;
    if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The address devices enrol with, and the fingerprint they pin if they must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicAddress {
    pub url: String,
    pub fingerprint: Option<Fingerprint>,
}

impl PublicAddress {
    /// The enrolment link for a one-time code.
    pub fn link(&self, code: &str) -> EnrolLink {
        EnrolLink { server: self.url.clone(), code: code.to_owned(), fingerprint: self.fingerprint }
    }
}

/// A public address as the operator gives it (`https://192.168.1.10:8443`), checked:
/// `https://` (or `http://` to a loopback address, for trying things on one machine), a
/// host, no query; the trailing `/` dropped. Returns the address and its host.
pub fn parse_public_url(text: &str) -> Result<(String, String), String> {
    let url = text.trim().trim_end_matches('/');
    let uri: axum::http::Uri =
        url.parse().map_err(|_| format!("{url:?} is not an address like https://192.168.1.10:8443"))?;
    let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| format!("{url:?} names no host"))?.to_owned();
    if uri.query().is_some() {
        return Err(format!("{url:?} has a query string"));
    }
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if is_loopback_host(&host) => {}
        Some("http") => {
            return Err(format!("{url:?}: devices refuse plain http:// except to this machine; use https://"))
        }
        _ => return Err(format!("{url:?} must start with https://")),
    }
    Ok((url.to_owned(), host))
}

/// `localhost` or an address in 127.0.0.0/8 or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// How long a connection may take over what it must send first.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From accepting the connection to the end of the TLS handshake.
    pub handshake: Duration,
    /// From the first byte of a request (or the end of the previous one, on a kept-alive
    /// connection) to the end of its headers.
    pub header_read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { handshake: Duration::from_secs(10), header_read: Duration::from_secs(10) }
    }
}

/// Serves `app` on `listener`, over TLS when `tls` is given, until the process ends.
/// Handlers can extract `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    timeouts: Timeouts,
) -> std::io::Result<()> {
    let make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    // A refused handshake (a device with another pin, a port scan) is no server error.
    let on_accept_error = |_: Option<&SocketAddr>, e: &std::io::Error| {
        tracing::debug!(kind = ?e.kind(), "connection dropped before its first request");
    };
    match tls {
        Some(config) => {
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(
                axum_server::tls_rustls::RustlsConfig::from_config(config),
            )
            .handshake_timeout(timeouts.handshake);
            let mut server =
                axum_server::from_tcp(listener)?.acceptor(acceptor).http1_only().accept_error_handler(on_accept_error);
            server.http_builder().http1().header_read_timeout(timeouts.header_read);
            server.serve(make_service).await
        }
        None => {
            let mut server = axum_server::from_tcp(listener)?.http1_only().accept_error_handler(on_accept_error);
            server.http_builder().http1().header_read_timeout(timeouts.header_read);
            server.serve(make_service).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_address_must_be_https_unless_it_is_this_machine() {
        assert_eq!(
            parse_public_url("https://192.168.1.10:8443/").unwrap(),
            ("https://192.168.1.10:8443".to_owned(), "192.168.1.10".to_owned())
        );
        assert_eq!(parse_public_url("https://sotay.example.vn").unwrap().1, "sotay.example.vn");
        assert!(parse_public_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_public_url("http://localhost:8080").is_ok());
        assert!(parse_public_url("http://192.168.1.10:8080").is_err());
        assert!(parse_public_url("192.168.1.10:8443").is_err());
        assert!(parse_public_url("https://x/?a=b").is_err());
        assert!(parse_public_url("").is_err());
    }
}
