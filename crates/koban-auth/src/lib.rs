//! Credentials for koban accounts.
//!
//! koban holds criminal-justice information, so its authentication follows the
//! FBI CJIS Security Policy v6, NIST SP 800-63B and OWASP ASVS level 3. This
//! crate provides the building blocks the server composes into a logon:
//!
//! * [`password`]: the password policy (length, no trivial or common
//!   passwords, no username inside) and memory-hard password hashing
//!   (Argon2id, or PBKDF2-HMAC-SHA256 where FIPS-validated primitives are
//!   required), stored as PHC strings.
//! * [`totp`]: the RFC 6238 time-based one-time password second factor, with
//!   replay protection so that every code can be used only once.
//! * [`token`]: opaque session tokens and terminal keys, of which the server
//!   stores only a SHA-256 hash.
//! * [`policy`]: pure decisions about account lockout and session lifetime;
//!   the server stores the state and passes the current time in.
//!
//! The crate performs no I/O apart from reading the operating system's random
//! number generator, and every function that depends on time takes the time
//! as an argument. This keeps each decision deterministic and testable, and
//! leaves clocks and storage to the caller.
//!
//! Nothing secret (passwords, TOTP secrets, raw tokens) is ever printed by a
//! `Debug` implementation in this crate, so that secrets cannot leak into
//! logs by accident.

pub mod password;
pub mod policy;
pub mod sealed;
pub mod token;
pub mod totp;

mod error;

pub use error::CredentialError;

/// Compares two byte strings in time that depends only on their lengths.
///
/// ring's own comparison is deprecated for outside use, so the crate keeps
/// this small helper: it folds the differences of every byte together instead
/// of stopping at the first difference, so the time taken does not reveal how
/// many leading bytes an attacker guessed right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        // Lengths are public in every use within this crate (fixed-size codes
        // and digests), so an early return here leaks nothing.
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    // black_box keeps the optimiser from turning the fold back into an early
    // exit.
    std::hint::black_box(diff) == 0
}

/// Fills an array with bytes from the operating system's random number
/// generator.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], CredentialError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CredentialError::Random)?;
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"123456", b"123456"));
        assert!(!constant_time_eq(b"123456", b"123457"));
        assert!(!constant_time_eq(b"12345", b"123456"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn random_arrays_differ() {
        let a: [u8; 32] = random_array().unwrap();
        let b: [u8; 32] = random_array().unwrap();
        assert_ne!(a, b);
    }
}
