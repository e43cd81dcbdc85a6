//! Volunteers' PINs: what a PIN may be, how it is hashed, and how wrong guesses slow down.
//!
//! A PIN only unlocks the app for a volunteer on a shared tablet; it never derives the
//! store's key (a 6-digit PIN has a million values: the store key is random, see
//! `store::key`). PINs are kept as argon2id hashes in PHC strings, with parameters a cheap
//! phone checks in a fraction of a second. Pure: the store keeps the counts, the UI words
//! the answers.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest PIN accepted.
pub const MIN_LEN: usize = 6;
/// Longest PIN accepted.
pub const MAX_LEN: usize = 12;
/// Wrong PINs in a row allowed without waiting.
pub const FREE_TRIES: u32 = 3;
/// Wrong PINs in a row after which only the team lead can unblock the volunteer.
pub const BLOCK_AFTER: u32 = 10;

/// Why a new PIN is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinProblem {
    /// Not 6 to 12 digits.
    Format,
    /// All one digit, or a run like 123456 / 654321: the first guesses anyone tries.
    TooEasy,
    /// The confirmation differs.
    Mismatch,
}

/// Checks a new PIN and its confirmation.
pub fn check_new(pin: &str, again: &str) -> Result<(), PinProblem> {
    let digits: Vec<u8> = pin.bytes().collect();
    if !(MIN_LEN..=MAX_LEN).contains(&digits.len()) || !digits.iter().all(u8::is_ascii_digit) {
        return Err(PinProblem::Format);
    }
    let steps: Vec<i16> = digits.windows(2).map(|w| w[1] as i16 - w[0] as i16).collect();
    if steps.iter().all(|&s| s == 0) || steps.iter().all(|&s| s == 1) || steps.iter().all(|&s| s == -1) {
        return Err(PinProblem::TooEasy);
    }
    if pin != again {
        return Err(PinProblem::Mismatch);
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    // 19 MiB, 2 passes: OWASP's minimum for argon2id, a few hundred ms on a cheap phone.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string kept for a PIN (salted, so two volunteers' equal PINs differ).
pub fn hash(pin: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher().hash_password(pin.as_bytes(), &salt).expect("argon2 hashing cannot fail for these inputs").to_string()
}

/// True if `pin` matches a hash made by [`hash`]. A damaged hash matches nothing.
pub fn verify(phc: &str, pin: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher().verify_password(pin.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// How long the volunteer must wait before the next try after `failures` wrong PINs in a
/// row: nothing for the first three, then 5 s doubling (5, 10, 20 … 320 s), and from
/// [`BLOCK_AFTER`] on the volunteer is blocked (see [`is_blocked`]).
pub fn wait_secs(failures: u32) -> u64 {
    if failures < FREE_TRIES {
        0
    } else {
        5u64 << (failures - FREE_TRIES).min(6)
    }
}

/// True when the team lead must unblock the volunteer.
pub fn is_blocked(failures: u32) -> bool {
    failures >= BLOCK_AFTER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_pins_are_checked() {
        assert_eq!(check_new("12345", "12345"), Err(PinProblem::Format));
        assert_eq!(check_new("12a456", "12a456"), Err(PinProblem::Format));
        assert_eq!(check_new("1234567890123", "1234567890123"), Err(PinProblem::Format));
        assert_eq!(check_new("111111", "111111"), Err(PinProblem::TooEasy));
        assert_eq!(check_new("123456", "123456"), Err(PinProblem::TooEasy));
        assert_eq!(check_new("987654", "987654"), Err(PinProblem::TooEasy));
        assert_eq!(check_new("240681", "240618"), Err(PinProblem::Mismatch));
        assert_eq!(check_new("240681", "240681"), Ok(()));
    }

    #[test]
    fn a_hash_verifies_its_pin_only() {
        let h = hash("240681");
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("240681"));
        assert!(verify(&h, "240681"));
        assert!(!verify(&h, "240682"));
        assert!(!verify("not a hash", "240681"));
        assert_ne!(hash("240681"), h, "salted");
    }

    #[test]
    fn wrong_pins_slow_down_then_block() {
        assert_eq!((0..3).map(wait_secs).collect::<Vec<_>>(), vec![0, 0, 0]);
        assert_eq!(wait_secs(3), 5);
        assert_eq!(wait_secs(4), 10);
        assert_eq!(wait_secs(9), 320);
        assert_eq!(wait_secs(40), 320);
        assert!(!is_blocked(9));
        assert!(is_blocked(10));
    }
}
