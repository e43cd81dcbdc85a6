//! The enrolment link and the server certificate's fingerprint: what the office hands a
//! device (as a QR code, a link to paste, or three fields to type) so it can enrol over
//! HTTPS with a server that has no public certificate.
//!
//! A link reads `sotay://enrol?u=<server address>&c=<one-time code>&fp=<fingerprint>`. The
//! fingerprint is the SHA-256 of the server certificate's DER bytes, base64url without
//! padding in the link (43 characters, so the whole link stays near 110 characters: a
//! version-7 QR code that a phone camera reads at a glance) and in groups of four hex
//! digits for people. `fp` is absent when the server has a public certificate (behind a
//! reverse proxy): the device then checks the certificate against the public roots.
//!
//! Shared by the server (which writes links) and the app (which reads them); depends on
//! nothing of ours.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The SHA-256 of a certificate's DER bytes, which a device pins at enrolment.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate given as DER bytes.
    pub fn of_der(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Reads a fingerprint as people copy it: 64 hex digits in any case, with or without
    /// spaces, colons or dashes between them, or the link's 43 base64url characters.
    pub fn parse(text: &str) -> Option<Fingerprint> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
        if compact.len() == 43 {
            let bytes = URL_SAFE_NO_PAD.decode(compact.as_bytes()).ok()?;
            return bytes.try_into().ok().map(Fingerprint);
        }
        let digits: String = compact.chars().filter(|c| *c != '-').collect();
        if digits.len() != 64 {
            return None;
        }
        hex::decode(digits).ok()?.try_into().ok().map(Fingerprint)
    }

    /// 64 lowercase hex digits: how the device store keeps it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// 43 base64url characters: how a link carries it.
    pub fn to_link(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Sixteen groups of four uppercase hex digits, for people to read or type.
    pub fn grouped(&self) -> String {
        let hex = hex::encode_upper(self.0);
        hex.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect::<Vec<_>>().join(" ")
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.grouped())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

/// What a device needs to enrol: the server's address, a one-time code and, for a server
/// whose certificate is not publicly trusted, that certificate's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolLink {
    pub server: String,
    pub code: String,
    pub fingerprint: Option<Fingerprint>,
}

const PREFIXES: [&str; 2] = ["sotay://enrol?", "sotay:enrol?"];

impl EnrolLink {
    /// The link, for a QR code or to paste.
    pub fn to_link(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("u", &self.server).append_pair("c", &self.code);
        if let Some(fp) = &self.fingerprint {
            query.append_pair("fp", &fp.to_link());
        }
        format!("{}{}", PREFIXES[0], query.finish())
    }

    /// Reads a pasted or scanned link (surrounding spaces and a scheme in capitals are
    /// forgiven). `None` unless it has an address and a code, and a readable fingerprint
    /// if it has one: a damaged link is refused rather than half used.
    pub fn parse(text: &str) -> Option<EnrolLink> {
        let text = text.trim();
        let query = PREFIXES.iter().find_map(|p| {
            let head = text.get(..p.len())?;
            head.eq_ignore_ascii_case(p).then(|| &text[p.len()..])
        })?;
        let (mut server, mut code, mut fingerprint) = (None, None, None);
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "u" => server = Some(v.trim().to_owned()),
                "c" => code = Some(v.trim().to_owned()),
                "fp" => fingerprint = Some(Fingerprint::parse(&v)?),
                _ => {}
            }
        }
        let (server, code) = (server.filter(|s| !s.is_empty())?, code.filter(|c| !c.is_empty())?);
        Some(EnrolLink { server, code, fingerprint })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp() -> Fingerprint {
        Fingerprint::of_der(b"a certificate")
    }

    #[test]
    fn a_fingerprint_reads_back_from_each_of_its_forms() {
        let f = fp();
        assert_eq!(Fingerprint::parse(&f.to_hex()), Some(f));
        assert_eq!(Fingerprint::parse(&f.to_link()), Some(f));
        assert_eq!(Fingerprint::parse(&f.grouped()), Some(f));
        assert_eq!(Fingerprint::parse(&f.grouped().to_lowercase().replace(' ', ":")), Some(f));
        assert_eq!(f.grouped().len(), 16 * 4 + 15);
    }

    #[test]
    fn a_damaged_fingerprint_is_refused() {
        let hex = fp().to_hex();
        assert_eq!(Fingerprint::parse(&hex[..62]), None);
        assert_eq!(Fingerprint::parse(&format!("{}zz", &hex[..62])), None);
        assert_eq!(Fingerprint::parse(""), None);
        assert_eq!(Fingerprint::parse(&"!".repeat(43)), None);
    }

    #[test]
    fn a_link_reads_back_whole_and_stays_small_enough_for_a_qr_code() {
        let link =
            EnrolLink { server: "https://192.168.1.10:8443".into(), code: "ABCD-EFGH".into(), fingerprint: Some(fp()) };
        let text = link.to_link();
        assert!(text.starts_with("sotay://enrol?u=https%3A%2F%2F192.168.1.10%3A8443&c=ABCD-EFGH&fp="), "{text}");
        assert!(text.len() <= 120, "{} characters", text.len());
        assert_eq!(EnrolLink::parse(&format!("  {}\n", text.replace("sotay://", "SOTAY://"))), Some(link.clone()));
        let public = EnrolLink { fingerprint: None, server: "https://sotay.example.vn".into(), ..link };
        assert_eq!(EnrolLink::parse(&public.to_link()), Some(public));
    }

    #[test]
    fn a_link_without_address_or_code_or_with_a_broken_fingerprint_is_refused() {
        assert_eq!(EnrolLink::parse("sotay://enrol?c=ABCD-EFGH"), None);
        assert_eq!(EnrolLink::parse("sotay://enrol?u=https%3A%2F%2Fx"), None);
        assert_eq!(EnrolLink::parse("sotay://enrol?u=https%3A%2F%2Fx&c=A&fp=abc"), None);
        assert_eq!(EnrolLink::parse("https://192.168.1.10:8443"), None);
        assert_eq!(EnrolLink::parse("sotay"), None);
    }
}
