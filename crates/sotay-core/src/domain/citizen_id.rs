//! The citizen-ID number (số định danh cá nhân / CCCD): checked, then sealed and hashed,
//! never kept.
//!
//! A [`CitizenId`] exists only between the form and the save. It has no `Display` or
//! `Serialize`, and its `Debug` shows no digit. What leaves this module:
//! - the number **sealed** to the server's public key ([`SealKey`], HPKE of RFC 9180 with
//!   X25519, HKDF-SHA256 and ChaCha20-Poly1305 from the `hpke` crate): the device keeps and
//!   sends only these bytes and cannot read them back; only the holder of the server's
//!   [`OpenKey`] can;
//! - an HMAC-SHA-256 of the number under a key ([`CidKey`]): on the device under a key of
//!   that device only (to count a person once among its own records), on the server under
//!   the commune's key, which lives in the server's key file, never in its database and
//!   never on a device. An ID number has about 40 bits of entropy, so whoever holds a hash
//!   and its key recovers the number in seconds: keys never sit beside their hashes;
//! - if the person asks for it, the last four digits for a human check.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use sha2::Sha256;

/// A 12-digit citizen-ID number that passed the format check.
pub struct CitizenId([u8; 12]);

impl std::fmt::Debug for CitizenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CitizenId(<redacted>)")
    }
}

/// Why an entered number is not a citizen-ID number. Carries no digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CitizenIdError {
    /// Something other than digits and spaces was typed.
    NotDigits,
    /// The number does not have exactly 12 digits.
    WrongLength,
    /// The first three digits are not a province code (001–096).
    BadProvince,
}

impl CitizenId {
    /// Checks the 12-digit form: digits only (spaces, dots and dashes a person types between
    /// groups are ignored), exactly twelve, starting with a province code from 001 to 096.
    pub fn parse(input: &str) -> Result<CitizenId, CitizenIdError> {
        let mut digits = [0u8; 12];
        let mut n = 0usize;
        for c in input.chars() {
            match c {
                ' ' | '.' | '-' => continue,
                '0'..='9' => {
                    if n < 12 {
                        digits[n] = c as u8;
                    }
                    n += 1;
                }
                _ => return Err(CitizenIdError::NotDigits),
            }
        }
        if n != 12 {
            return Err(CitizenIdError::WrongLength);
        }
        let province = (digits[0] - b'0') as u32 * 100 + (digits[1] - b'0') as u32 * 10 + (digits[2] - b'0') as u32;
        if !(1..=96).contains(&province) {
            return Err(CitizenIdError::BadProvince);
        }
        Ok(CitizenId(digits))
    }

    /// The keyed hash that stands for this person in records, as lowercase hex.
    pub fn hash(&self, key: &CidKey) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.bytes).expect("HMAC takes any key length");
        mac.update(&self.0);
        hex::encode(mac.finalize().into_bytes())
    }

    /// The last four digits, kept only when the person asks for it.
    pub fn last4(&self) -> String {
        String::from_utf8_lossy(&self.0[8..]).into_owned()
    }

    /// The 4th digit encodes the century of birth and the sex (0/1: 1900s male/female,
    /// 2/3: 2000s, 4/5: 2100s, 6/7: 2200s, 8/9: 1800s); the 5th and 6th digits are the last
    /// two digits of the birth year. Gives (birth year, sex is female).
    pub fn birth(&self) -> (u16, bool) {
        let d = |i: usize| (self.0[i] - b'0') as u16;
        let century = match d(3) / 2 {
            0 => 1900,
            1 => 2000,
            2 => 2100,
            3 => 2200,
            _ => 1800,
        };
        (century + d(4) * 10 + d(5), d(3) % 2 == 1)
    }

    /// The number as a 40-bit integer (every 12-digit number is below 2^40).
    fn packed(&self) -> [u8; PACKED] {
        let n = self.0.iter().fold(0u64, |n, d| n * 10 + (d - b'0') as u64);
        let mut out = [0u8; PACKED];
        out.copy_from_slice(&n.to_be_bytes()[8 - PACKED..]);
        out
    }

    fn from_packed(bytes: &[u8]) -> Option<CitizenId> {
        if bytes.len() != PACKED {
            return None;
        }
        let n = bytes.iter().fold(0u64, |n, b| (n << 8) | *b as u64);
        CitizenId::parse(&format!("{n:012}")).ok()
    }

    /// Seals the number to the server's public key: random every time (a fresh ephemeral
    /// key), readable only with the server's [`OpenKey`]. Base64url without padding,
    /// [`SEALED_LEN`] characters (in a gzip push a third smaller than hex).
    pub fn seal(&self, key: &SealKey) -> String {
        let (encapped, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeS::Base,
            &key.0,
            SEAL_INFO,
            &self.packed(),
            &[],
        )
        .expect("sealing to a valid X25519 public key cannot fail");
        let mut out = encapped.to_bytes().to_vec();
        out.extend_from_slice(&ciphertext);
        URL_SAFE_NO_PAD.encode(out)
    }
}

type Kem = X25519HkdfSha256;
/// Binds sealed numbers to this use (RFC 9180's `info`).
const SEAL_INFO: &[u8] = b"sotay citizen-id v1";
const PACKED: usize = 5;
const ENCAPPED: usize = 32;
const TAG: usize = 16;
/// Bytes of a sealed number: the encapsulated key, the packed number and the tag.
const SEALED_BYTES: usize = ENCAPPED + PACKED + TAG;
/// Length of a sealed number in base64url without padding (53 bytes → 71 characters).
pub const SEALED_LEN: usize = (SEALED_BYTES * 4).div_ceil(3);

/// True when `text` has the shape of a sealed number (whether it opens is another matter).
pub fn looks_sealed(text: &str) -> bool {
    text.len() == SEALED_LEN && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The server's public key devices seal ID numbers to; delivered at enrolment.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey(<Kem as hpke::Kem>::PublicKey);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey({})", self.to_hex())
    }
}

impl SealKey {
    pub fn from_hex(text: &str) -> Option<SealKey> {
        let bytes = hex::decode(text).ok()?;
        <Kem as hpke::Kem>::PublicKey::from_bytes(&bytes).ok().map(SealKey)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }
}

/// The server's private key that opens sealed ID numbers. Kept in the server's key file.
pub struct OpenKey {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: SealKey,
}

impl std::fmt::Debug for OpenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenKey(<secret>, {:?})", self.public)
    }
}

impl OpenKey {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> OpenKey {
        let (secret, public) = Kem::gen_keypair();
        OpenKey { secret, public: SealKey(public) }
    }

    pub fn from_hex(text: &str) -> Option<OpenKey> {
        let bytes = hex::decode(text).ok()?;
        let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(&bytes).ok()?;
        let public = SealKey(Kem::sk_to_pk(&secret));
        Some(OpenKey { secret, public })
    }

    /// The secret, for the key file only.
    pub fn secret_hex(&self) -> String {
        hex::encode(self.secret.to_bytes())
    }

    pub fn seal_key(&self) -> &SealKey {
        &self.public
    }

    /// The number inside a sealed value, or `None` if it was not sealed to this key,
    /// was altered, or does not hold a valid number.
    pub fn open(&self, sealed: &str) -> Option<CitizenId> {
        if !looks_sealed(sealed) {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() != SEALED_BYTES {
            return None;
        }
        let (encapped, ciphertext) = bytes.split_at(ENCAPPED);
        let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(encapped).ok()?;
        let plain = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &self.secret,
            &encapped,
            SEAL_INFO,
            ciphertext,
            &[],
        )
        .ok()?;
        CitizenId::from_packed(&plain)
    }
}

/// The key citizen-ID numbers are hashed under, with a name saying where it came from
/// ("device:…" before enrolment, "commune:…" after).
#[derive(Clone)]
pub struct CidKey {
    pub id: String,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for CidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CidKey({})", self.id)
    }
}

impl CidKey {
    pub fn new(id: impl Into<String>, bytes: Vec<u8>) -> CidKey {
        CidKey { id: id.into(), bytes }
    }

    /// A fresh random 256-bit key for a device that is not enrolled yet.
    pub fn generate_device_key() -> CidKey {
        use rand::RngCore;
        let mut bytes = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let id = format!("device:{}", &hex::encode(&bytes[..4]));
        CidKey { id, bytes }
    }

    pub fn to_hex(&self) -> String {
        hex::encode(&self.bytes)
    }

    pub fn from_hex(id: impl Into<String>, hex_bytes: &str) -> Option<CidKey> {
        Some(CidKey { id: id.into(), bytes: hex::decode(hex_bytes).ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_digits_with_a_province_code_are_accepted() {
        assert!(CitizenId::parse("051 203 004 567").is_ok());
        assert!(CitizenId::parse("051203004567").is_ok());
    }

    #[test]
    fn malformed_numbers_are_refused_with_a_reason() {
        assert_eq!(CitizenId::parse("05120300456").unwrap_err(), CitizenIdError::WrongLength);
        assert_eq!(CitizenId::parse("0512030045678").unwrap_err(), CitizenIdError::WrongLength);
        assert_eq!(CitizenId::parse("05120300456a").unwrap_err(), CitizenIdError::NotDigits);
        assert_eq!(CitizenId::parse("000203004567").unwrap_err(), CitizenIdError::BadProvince);
        assert_eq!(CitizenId::parse("").unwrap_err(), CitizenIdError::WrongLength);
    }

    #[test]
    fn the_hash_is_keyed_stable_and_hides_the_number() {
        let key = CidKey::new("k1", b"commune-key".to_vec());
        let other = CidKey::new("k2", b"another-key".to_vec());
        let id = CitizenId::parse("051203004567").unwrap();
        let h = id.hash(&key);
        assert_eq!(h, CitizenId::parse("051 203 004 567").unwrap().hash(&key));
        assert_ne!(h, id.hash(&other));
        assert_eq!(h.len(), 64);
        assert!(!h.contains("051203004567"));
        assert_eq!(id.last4(), "4567");
        assert!(!format!("{id:?}").contains("4567"));
    }

    #[test]
    fn a_sealed_number_opens_only_with_the_servers_key_and_is_never_the_same_twice() {
        let server = OpenKey::generate();
        let other = OpenKey::generate();
        let id = CitizenId::parse("051203004567").unwrap();
        let sealed = id.seal(server.seal_key());
        assert_eq!(sealed.len(), SEALED_LEN);
        assert!(looks_sealed(&sealed));
        assert_ne!(sealed, id.seal(server.seal_key()), "an ephemeral key each time");
        assert!(!sealed.contains("051203004567") && !sealed.contains("4567"));
        let key = CidKey::new("commune:1", b"k".to_vec());
        assert_eq!(server.open(&sealed).unwrap().hash(&key), id.hash(&key));
        assert!(other.open(&sealed).is_none());
        // One flipped bit anywhere, or a cut, and it does not open.
        for i in [0, 40, SEALED_LEN - 2] {
            let mut bad = sealed.clone().into_bytes();
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            assert!(server.open(std::str::from_utf8(&bad).unwrap()).is_none());
        }
        assert!(server.open(&sealed[..SEALED_LEN - 2]).is_none());
        assert!(server.open("zz").is_none());
        // The server's key survives its file.
        let again = OpenKey::from_hex(&server.secret_hex()).unwrap();
        assert_eq!(again.seal_key(), server.seal_key());
        assert!(again.open(&sealed).is_some());
        assert!(!format!("{server:?}").contains(&server.secret_hex()));
    }

    #[test]
    fn every_twelve_digit_number_survives_packing() {
        for n in ["001000000000", "096999999999", "051203004567", "001000000001"] {
            let id = CitizenId::parse(n).unwrap();
            let back = CitizenId::from_packed(&id.packed()).unwrap();
            assert_eq!(back.0, id.0);
        }
    }

    #[test]
    fn the_fourth_digit_gives_century_and_sex() {
        assert_eq!(CitizenId::parse("051080004567").unwrap().birth(), (1980, false));
        assert_eq!(CitizenId::parse("051180004567").unwrap().birth(), (1980, true));
        assert_eq!(CitizenId::parse("051205004567").unwrap().birth(), (2005, false));
        assert_eq!(CitizenId::parse("051305004567").unwrap().birth(), (2005, true));
    }
}
