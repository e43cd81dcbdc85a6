//! The citizen-ID number (số định danh cá nhân / CCCD): checked, then hashed, never kept.
//!
//! A [`CitizenId`] exists only between the form and the save. It has no `Debug`,
//! `Display` or `Serialize` that could show the digits; what leaves this module is an
//! HMAC-SHA-256 of the number under a key ([`CidKey`]) and, if the volunteer wants it,
//! the last four digits for a human check. The same number under the same key always gives
//! the same hash, so the server can count a person once across devices.

use hmac::{Hmac, Mac};
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

    /// The last four digits, kept only when the volunteer chooses to.
    pub fn last4(&self) -> String {
        String::from_utf8_lossy(&self.0[8..]).into_owned()
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
}
