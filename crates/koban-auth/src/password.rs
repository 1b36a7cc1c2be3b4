//! Password policy and password hashing.
//!
//! The policy follows NIST SP 800-63B and the CJIS Security Policy v6: a
//! minimum length, a generous maximum, no composition rules, and a refusal of
//! passwords that are known to be common, trivially predictable or built from
//! the user name. Composition rules ("one upper-case letter, one digit") are
//! deliberately absent, because they push users toward predictable patterns
//! such as "Password1!" without adding real strength.
//!
//! Hashes are stored as PHC strings so that the algorithm and its parameters
//! travel with each hash: Argon2id by default, and PBKDF2-HMAC-SHA256 for
//! deployments that must use FIPS-validated primitives.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use data_encoding::BASE64_NOPAD;
use ring::pbkdf2;
use serde::{Deserialize, Serialize};

use crate::{CredentialError, random_array};

/// The shortest password accepted, in Unicode scalar values.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted, in Unicode scalar values. It is long
/// enough for passphrases, and bounded so that a request cannot make the
/// server hash megabytes of input.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// User names shorter than this are not looked for inside passwords, because
/// a two-letter name would turn up in too many good passwords by chance.
const MIN_USERNAME_CHARS_FOR_CHECK: usize = 3;

/// Argon2id memory cost in KiB (the OWASP recommendation of 19 MiB).
pub const ARGON2_M_COST_KIB: u32 = 19_456;
/// Argon2id number of passes (OWASP recommendation).
pub const ARGON2_T_COST: u32 = 2;
/// Argon2id parallelism (OWASP recommendation).
pub const ARGON2_P_COST: u32 = 1;
/// PBKDF2-HMAC-SHA256 iterations (the OWASP recommendation for 2023 onward).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// Salt length in bytes for both algorithms (128 bits, as SP 800-132 asks).
const SALT_LEN: usize = 16;
/// Length of the derived hash in bytes.
const HASH_LEN: usize = 32;

// Stored hashes carry their own parameters, and verification honours them so
// that old hashes keep working after the defaults rise. A tampered or corrupt
// row could therefore ask for an absurd amount of work; these ceilings turn
// such a row into an error instead of a denial of service.
const MAX_ARGON2_M_COST_KIB: u32 = 1_048_576;
const MAX_ARGON2_T_COST: u32 = 64;
const MAX_ARGON2_P_COST: u32 = 16;
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
const MIN_PBKDF2_SALT_LEN: usize = 8;
const MAX_PBKDF2_SALT_LEN: usize = 64;

const ARGON2ID_ID: &str = "argon2id";
const PBKDF2_ID: &str = "pbkdf2-sha256";

/// A fixed salt for [`dummy_verify`]. It never protects a real password; it
/// only lets the dummy computation do exactly the work of a real one.
const DUMMY_SALT: [u8; SALT_LEN] = *b"koban-dummy-salt";

/// Why a password was refused by [`check_password_policy`].
///
/// The `Display` text is a message for the user; [`code`](Self::code) is a
/// stable identifier for clients and audit records. No variant carries the
/// password itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordPolicyError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("the password must be at least {min} characters long")]
    TooShort {
        /// The minimum length in characters.
        min: usize,
    },
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("the password must be at most {max} characters long")]
    TooLong {
        /// The maximum length in characters.
        max: usize,
    },
    /// Contains a control character (such as a tab or newline), which cannot
    /// be typed reliably on every terminal.
    #[error("the password must not contain control characters")]
    ControlCharacter,
    /// Equals or contains the user name.
    #[error("the password must not contain the user name")]
    ContainsUsername,
    /// A single repeated character, a short repeated pattern or a simple
    /// sequence such as "12345678".
    #[error("the password is too predictable; avoid repeated characters and simple sequences")]
    Trivial,
    /// A commonly used password, or a trivial variant of one.
    #[error("the password is too common; choose a longer phrase that others are unlikely to use")]
    Common,
}

impl PasswordPolicyError {
    /// A stable machine-readable code for API responses and audit records.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "password_too_short",
            Self::TooLong { .. } => "password_too_long",
            Self::ControlCharacter => "password_control_character",
            Self::ContainsUsername => "password_contains_username",
            Self::Trivial => "password_trivial",
            Self::Common => "password_common",
        }
    }

    /// The human-readable message (the same as the `Display` text).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// The common-password list, parsed once on first use.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// The number of entries in the built-in common-password list.
pub fn common_password_count() -> usize {
    COMMON_PASSWORDS.len()
}

/// Checks a proposed password against the policy.
///
/// The checks run in a fixed order (length, control characters, user name,
/// trivial patterns, common passwords), so the first failing rule decides the
/// error reported.
pub fn check_password_policy(password: &str, username: &str) -> Result<(), PasswordPolicyError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort {
            min: MIN_PASSWORD_CHARS,
        });
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooLong {
            max: MAX_PASSWORD_CHARS,
        });
    }
    if password.chars().any(char::is_control) {
        return Err(PasswordPolicyError::ControlCharacter);
    }

    let folded = fold(password);
    let user = fold(username.trim());
    if user.chars().count() >= MIN_USERNAME_CHARS_FOR_CHECK && folded.contains(&user) {
        return Err(PasswordPolicyError::ContainsUsername);
    }
    if is_trivial(&folded) {
        return Err(PasswordPolicyError::Trivial);
    }
    if is_common_folded(&folded) {
        return Err(PasswordPolicyError::Common);
    }
    Ok(())
}

/// Whether a password is on the common-password list, directly or as a
/// trivial variant (different case, digits or punctuation before or after,
/// leetspeak, separators between words, or the word repeated).
pub fn is_common_password(password: &str) -> bool {
    is_common_folded(&fold(password))
}

/// Folds a string for comparison: full-width ASCII (as typed with a Japanese
/// input method) becomes ordinary ASCII, the ideographic space becomes a
/// space, and everything is lower-cased. Without this, "ＰＡＳＳＷＯＲＤ"
/// would slip past the list.
fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Characters that users put before or after a word to satisfy old
/// composition rules ("password123!", "2024sakura").
fn is_affix_char(c: char) -> bool {
    c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace()
}

/// Characters that users put between the words of a common phrase
/// ("i love you", "pass-word").
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '_' | '.')
}

/// Whether a folded password is predictable without any list: empty, one
/// repeated character, a short repeated pattern, or a simple sequence. The
/// same is asked of the password with its trailing digits and punctuation
/// removed, so "abcdefgh1" and "aaaaaaaa!" are caught too.
fn is_trivial(folded: &str) -> bool {
    let chars: Vec<char> = folded.chars().collect();
    if is_trivial_chars(&chars) {
        return true;
    }
    let stem: Vec<char> = folded.trim_end_matches(is_affix_char).chars().collect();
    // A stem of fewer than four characters says little: "ab" followed by
    // digits is judged by the other rules instead.
    stem.len() >= 4 && stem.len() < chars.len() && is_trivial_chars(&stem)
}

fn is_trivial_chars(chars: &[char]) -> bool {
    let Some(&first) = chars.first() else {
        return true;
    };
    if chars.iter().all(|&c| c == first) || is_sequence(chars) {
        return true;
    }
    match smallest_period(chars) {
        // "abababab", "12341234": a unit of up to four characters repeated.
        Some(period) if period <= 4 => true,
        // "1234567812345678": a repeated sequence.
        Some(period) => is_sequence(&chars[..period]),
        None => false,
    }
}

/// Whether the characters ascend or descend by one code point at each step
/// ("12345678", "abcdefgh", "87654321"). Digits also wrap from 9 to 0, as on
/// a keyboard's number row ("7890123").
fn is_sequence(chars: &[char]) -> bool {
    if chars.len() < 2 {
        return false;
    }
    let step = |a: char, b: char| -> i8 {
        let (a32, b32) = (u32::from(a), u32::from(b));
        if b32 == a32.wrapping_add(1) || (a == '9' && b == '0') {
            1
        } else if b32 == a32.wrapping_sub(1) || (a == '0' && b == '9') {
            -1
        } else {
            0
        }
    };
    let first = step(chars[0], chars[1]);
    first != 0 && chars.windows(2).all(|w| step(w[0], w[1]) == first)
}

/// The length of the shortest unit that, repeated at least twice, makes up
/// the whole string.
fn smallest_period(chars: &[char]) -> Option<usize> {
    let len = chars.len();
    (1..=len / 2).find(|&p| len % p == 0 && (p..len).all(|i| chars[i] == chars[i % p]))
}

/// How leetspeak characters are read back as letters. '1' is ambiguous
/// between 'i' and 'l', so the caller tries both readings.
fn unleet(s: &str, one_as: char) -> String {
    s.chars()
        .map(|c| match c {
            '1' => one_as,
            '!' => 'i',
            '|' => 'l',
            '3' => 'e',
            '4' | '@' => 'a',
            '0' => 'o',
            '5' | '$' => 's',
            '7' | '+' => 't',
            '8' => 'b',
            _ => c,
        })
        .collect()
}

fn is_listed(candidate: &str) -> bool {
    if candidate.is_empty() {
        return false;
    }
    if COMMON_PASSWORDS.contains(candidate) {
        return true;
    }
    // "dragondragon" is as weak as "dragon".
    let chars: Vec<char> = candidate.chars().collect();
    smallest_period(&chars).is_some_and(|p| {
        let unit: String = chars[..p].iter().collect();
        COMMON_PASSWORDS.contains(unit.as_str())
    })
}

fn is_common_folded(folded: &str) -> bool {
    let joined: String = folded.chars().filter(|&c| !is_separator(c)).collect();
    [folded, joined.as_str()].iter().any(|base| {
        // The stems to look up: the whole password, the password without its
        // trailing digits and punctuation ("sakura2024"), and without them at
        // both ends ("!!sakura2024"). Leetspeak is undone after stripping,
        // because stripping first keeps a trailing "2024" from being read as
        // letters, while a leading "$" of "$ecret1" survives the first form.
        let stems = [
            *base,
            base.trim_end_matches(is_affix_char),
            base.trim_matches(is_affix_char),
        ];
        stems.iter().any(|stem| {
            is_listed(stem) || is_listed(&unleet(stem, 'i')) || is_listed(&unleet(stem, 'l'))
        })
    })
}

/// The password hashing algorithms this crate can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashAlgorithm {
    /// Argon2id with the OWASP parameters (m=19456 KiB, t=2, p=1); the
    /// default, because it is memory-hard and so expensive to attack with
    /// GPUs.
    #[default]
    Argon2id,
    /// PBKDF2-HMAC-SHA256 with 600,000 iterations, for deployments that must
    /// use only FIPS 140 approved algorithms.
    Pbkdf2Sha256,
}

impl HashAlgorithm {
    /// The PHC identifier of the algorithm ("argon2id", "pbkdf2-sha256").
    pub fn phc_id(self) -> &'static str {
        match self {
            Self::Argon2id => ARGON2ID_ID,
            Self::Pbkdf2Sha256 => PBKDF2_ID,
        }
    }
}

fn argon2_hasher() -> Result<Argon2<'static>, CredentialError> {
    let params = Params::new(
        ARGON2_M_COST_KIB,
        ARGON2_T_COST,
        ARGON2_P_COST,
        Some(HASH_LEN),
    )
    .map_err(|e| CredentialError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn pbkdf2_iterations() -> NonZeroU32 {
    NonZeroU32::new(PBKDF2_ITERATIONS).unwrap_or(NonZeroU32::MIN)
}

/// Hashes a password with a fresh random salt and returns a PHC string.
///
/// The caller is expected to have applied [`check_password_policy`] first;
/// hashing does not judge the password.
pub fn hash_password(password: &str, alg: HashAlgorithm) -> Result<String, CredentialError> {
    match alg {
        HashAlgorithm::Argon2id => {
            let salt_bytes: [u8; SALT_LEN] = random_array()?;
            let salt = SaltString::encode_b64(&salt_bytes)
                .map_err(|e| CredentialError::Hashing(e.to_string()))?;
            let hash = argon2_hasher()?
                .hash_password(password.as_bytes(), &salt)
                .map_err(|e| CredentialError::Hashing(e.to_string()))?;
            Ok(hash.to_string())
        }
        HashAlgorithm::Pbkdf2Sha256 => hash_pbkdf2(password, pbkdf2_iterations()),
    }
}

/// PBKDF2 hashing with an explicit iteration count; the tests use it to make
/// an old-style hash cheaply.
fn hash_pbkdf2(password: &str, iterations: NonZeroU32) -> Result<String, CredentialError> {
    let salt: [u8; SALT_LEN] = random_array()?;
    let mut hash = [0u8; HASH_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &mut hash,
    );
    Ok(format!(
        "${PBKDF2_ID}$i={iterations}${}${}",
        BASE64_NOPAD.encode(&salt),
        BASE64_NOPAD.encode(&hash)
    ))
}

/// The parts of a `$pbkdf2-sha256$i=N$salt$hash` string.
struct Pbkdf2Phc {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse_pbkdf2(phc: &str) -> Result<Pbkdf2Phc, CredentialError> {
    let malformed = CredentialError::MalformedHash;
    let mut parts = phc.split('$');
    if parts.next() != Some("") || parts.next() != Some(PBKDF2_ID) {
        return Err(malformed("not a pbkdf2-sha256 PHC string"));
    }
    let (Some(params), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("wrong number of pbkdf2-sha256 fields"));
    };
    let digits = params
        .strip_prefix("i=")
        .ok_or(malformed("missing pbkdf2 iteration count"))?;
    // u32::from_str would also accept a leading '+'; a PHC decimal is digits
    // only.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("invalid pbkdf2 iteration count"));
    }
    let iterations = digits
        .parse::<u32>()
        .ok()
        .and_then(NonZeroU32::new)
        .filter(|i| i.get() <= MAX_PBKDF2_ITERATIONS)
        .ok_or(malformed("pbkdf2 iteration count out of range"))?;
    let salt = BASE64_NOPAD
        .decode(salt.as_bytes())
        .map_err(|_| malformed("invalid pbkdf2 salt encoding"))?;
    if !(MIN_PBKDF2_SALT_LEN..=MAX_PBKDF2_SALT_LEN).contains(&salt.len()) {
        return Err(malformed("pbkdf2 salt length out of range"));
    }
    let hash = BASE64_NOPAD
        .decode(hash.as_bytes())
        .map_err(|_| malformed("invalid pbkdf2 hash encoding"))?;
    if hash.len() != HASH_LEN {
        return Err(malformed("pbkdf2 hash has the wrong length"));
    }
    Ok(Pbkdf2Phc {
        iterations,
        salt,
        hash,
    })
}

/// The algorithm identifier of a PHC string, if it has the PHC shape
/// (`$id$...`, with an identifier of lower-case letters, digits and '-').
fn phc_identifier(phc: &str) -> Option<&str> {
    let id = phc.strip_prefix('$')?.split('$').next()?;
    let valid = !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    // A PHC string always has something after the identifier.
    (valid && phc.len() > id.len() + 1).then_some(id)
}

/// Verifies a password against a stored PHC string.
///
/// Returns `Ok(false)` for a wrong password and an error for a hash that
/// cannot be parsed or uses an algorithm this crate does not support. The
/// parameters stored in the hash are honoured, so hashes made under older
/// defaults still verify; use [`needs_rehash`] after a successful
/// verification to upgrade them.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, CredentialError> {
    match phc_identifier(phc) {
        Some(ARGON2ID_ID) => verify_argon2id(password, phc),
        Some(PBKDF2_ID) => {
            let parsed = parse_pbkdf2(phc)?;
            // ring compares the derived bytes in constant time.
            Ok(pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA256,
                parsed.iterations,
                &parsed.salt,
                password.as_bytes(),
                &parsed.hash,
            )
            .is_ok())
        }
        Some(_) => Err(CredentialError::UnsupportedAlgorithm),
        None => Err(CredentialError::MalformedHash("not a PHC string")),
    }
}

fn verify_argon2id(password: &str, phc: &str) -> Result<bool, CredentialError> {
    let malformed = CredentialError::MalformedHash;
    let hash = PasswordHash::new(phc).map_err(|_| malformed("unparsable argon2id PHC string"))?;
    let params = Params::try_from(&hash).map_err(|_| malformed("invalid argon2id parameters"))?;
    if !argon2_params_within_limits(&params) {
        return Err(malformed("argon2id parameters exceed the accepted maximum"));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(malformed("argon2id PHC string lacks salt or hash"));
    }
    // The verifier recomputes with the parameters, version and salt from the
    // string and compares the outputs in constant time.
    match Argon2::default().verify_password(password.as_bytes(), &hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(_) => Err(malformed("argon2id PHC string could not be verified")),
    }
}

/// Whether a stored hash should be replaced by a fresh one made with `alg`
/// and the current parameters: it uses another algorithm, weaker parameters
/// than the current ones, or cannot be parsed at all.
///
/// Call it after a successful [`verify_password`], while the plain password
/// is at hand to rehash.
pub fn needs_rehash(phc: &str, alg: HashAlgorithm) -> bool {
    match alg {
        HashAlgorithm::Argon2id => !argon2id_is_current(phc),
        HashAlgorithm::Pbkdf2Sha256 => match parse_pbkdf2(phc) {
            Ok(parsed) => {
                parsed.iterations.get() < PBKDF2_ITERATIONS || parsed.salt.len() < SALT_LEN
            }
            Err(_) => true,
        },
    }
}

fn argon2_params_within_limits(params: &Params) -> bool {
    params.m_cost() <= MAX_ARGON2_M_COST_KIB
        && params.t_cost() <= MAX_ARGON2_T_COST
        && params.p_cost() <= MAX_ARGON2_P_COST
}

fn argon2id_is_current(phc: &str) -> bool {
    if phc_identifier(phc) != Some(ARGON2ID_ID) {
        return false;
    }
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let salt_len = hash.salt.and_then(|salt| {
        let mut buf = [0u8; 64];
        salt.decode_b64(&mut buf).ok().map(<[u8]>::len)
    });
    // A hash that verification would refuse must count as outdated too.
    argon2_params_within_limits(&params)
        && hash.version == Some(u32::from(Version::V0x13))
        && params.m_cost() >= ARGON2_M_COST_KIB
        && params.t_cost() >= ARGON2_T_COST
        && salt_len.is_some_and(|len| len >= SALT_LEN)
        && hash.hash.is_some_and(|h| h.len() >= HASH_LEN)
}

/// Spends about as long as verifying a password against an Argon2id hash
/// with the current parameters, and throws the result away.
///
/// Call it when a logon names an unknown user, so that the answer takes as
/// long as for a known user and the response time does not reveal which
/// user names exist.
pub fn dummy_verify(password: &str) {
    dummy_verify_with(password, HashAlgorithm::Argon2id);
}

/// Like [`dummy_verify`], for deployments whose stored hashes use `alg`.
pub fn dummy_verify_with(password: &str, alg: HashAlgorithm) {
    let mut out = [0u8; HASH_LEN];
    match alg {
        HashAlgorithm::Argon2id => {
            // A real verification is one Argon2id computation plus a cheap
            // parse and compare, so a single computation matches its cost.
            if let Ok(hasher) = argon2_hasher() {
                let _ = hasher.hash_password_into(password.as_bytes(), &DUMMY_SALT, &mut out);
            }
        }
        HashAlgorithm::Pbkdf2Sha256 => pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            pbkdf2_iterations(),
            &DUMMY_SALT,
            password.as_bytes(),
            &mut out,
        ),
    }
    // Keep the optimiser from discarding the unused computation.
    std::hint::black_box(&out);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn code_of(password: &str, username: &str) -> Option<&'static str> {
        check_password_policy(password, username)
            .err()
            .map(|e| e.code())
    }

    #[test]
    fn list_is_loaded_and_large() {
        assert!(
            common_password_count() >= 1000,
            "{}",
            common_password_count()
        );
        for word in [
            "123456", "password", "qwerty", "sakura", "keisatsu", "koban", "dragon",
        ] {
            assert!(COMMON_PASSWORDS.contains(word), "{word}");
        }
        // The list must be lower case, or case-folded lookups would miss.
        for word in COMMON_PASSWORDS.iter() {
            assert_eq!(*word, word.to_lowercase());
        }
    }

    #[test]
    fn accepts_decent_passphrases() {
        for pw in [
            "correct horse battery staple",
            "交番の夜勤は長い2026",
            "Tr0mbone-Quasar-Lantern",
            "kx7#Lp2!vQ9z",
        ] {
            assert_eq!(check_password_policy(pw, "tanaka.h"), Ok(()), "{pw}");
        }
    }

    #[test]
    fn rejects_by_length() {
        assert_eq!(code_of("abc1234", "x"), Some("password_too_short"));
        // Length counts characters, not bytes: six characters are too short
        // even though they take 18 bytes.
        assert_eq!(code_of("交番の夜勤長", "x"), Some("password_too_short"));
        let long = "ab9".repeat(43);
        assert_eq!(long.chars().count(), 129);
        assert_eq!(code_of(&long, "x"), Some("password_too_long"));
        let max: String = "ab9#".repeat(32);
        assert_eq!(max.chars().count(), MAX_PASSWORD_CHARS);
        assert_eq!(code_of(&max, "x"), Some("password_trivial"));
        assert_eq!(
            check_password_policy("abc", "x"),
            Err(PasswordPolicyError::TooShort { min: 8 })
        );
    }

    #[test]
    fn rejects_control_characters() {
        assert_eq!(
            code_of("good\tpassphrase", "x"),
            Some("password_control_character")
        );
        assert_eq!(
            code_of("good\npassphrase", "x"),
            Some("password_control_character")
        );
        assert_eq!(
            code_of("good\u{7f}passphrase", "x"),
            Some("password_control_character")
        );
    }

    #[test]
    fn rejects_username() {
        assert_eq!(
            code_of("Yamada-Taro-77x", "yamada"),
            Some("password_contains_username")
        );
        assert_eq!(
            code_of("kq-YAMADA-zz", "Yamada"),
            Some("password_contains_username")
        );
        assert_eq!(
            code_of("officer-k9z", "officer-k9z"),
            Some("password_contains_username")
        );
        // Full-width letters from a Japanese input method are the same name.
        assert_eq!(
            code_of("ｙａｍａｄａ-zq81x", "yamada"),
            Some("password_contains_username")
        );
        // Very short user names are not looked for.
        assert_eq!(code_of("xyzzy-ab-lantern", "ab"), None);
    }

    #[test]
    fn rejects_trivial() {
        for pw in [
            "aaaaaaaa",
            "11111111",
            "12345678",
            "87654321",
            "abcdefgh",
            "HGFEDCBA",
            "7890123456",
            "abababab",
            "12341234",
            "abcdefgh1!",
            "zzzzzzzz2024",
            "1234567812345678",
        ] {
            assert_eq!(code_of(pw, "user"), Some("password_trivial"), "{pw}");
        }
    }

    #[test]
    fn rejects_common_and_variants() {
        for pw in [
            "password",
            "PASSWORD",
            "Password123!",
            "password123!",
            "p@ssw0rd",
            "P@55w0rd!",
            "Sakura2024",
            "sakura2024!",
            "2024sakura",
            "Dr4gon2024",
            "d0raem0n",
            "1loveyou",
            "i love you",
            "qwertyuiop",
            "1qaz2wsx",
            "zaq12wsx",
            "asdfghjkl",
            "keisatsu110",
            "Keishicho!",
            "tokyo110",
            "koban2026",
            "$ecret123",
            "welc0me1",
            "dragondragon",
            "ＰＡＳＳＷＯＲＤ",
            "monkey12345",
            "letmein!!",
            "m4tr1x!!",
        ] {
            assert_eq!(code_of(pw, "user"), Some("password_common"), "{pw}");
        }
    }

    #[test]
    fn error_codes_and_messages() {
        let all = [
            PasswordPolicyError::TooShort { min: 8 },
            PasswordPolicyError::TooLong { max: 128 },
            PasswordPolicyError::ControlCharacter,
            PasswordPolicyError::ContainsUsername,
            PasswordPolicyError::Trivial,
            PasswordPolicyError::Common,
        ];
        let codes: HashSet<&str> = all.iter().map(PasswordPolicyError::code).collect();
        assert_eq!(codes.len(), all.len());
        for e in &all {
            assert!(e.code().starts_with("password_"));
            assert!(!e.message().is_empty());
        }
        assert!(all[0].message().contains('8'));
    }

    #[test]
    fn argon2id_round_trip() {
        let phc = hash_password("交番の夜勤は長い2026", HashAlgorithm::Argon2id).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("交番の夜勤は長い2026", &phc).unwrap());
        assert!(!verify_password("交番の夜勤は長い2027", &phc).unwrap());
        assert!(!needs_rehash(&phc, HashAlgorithm::Argon2id));
        assert!(needs_rehash(&phc, HashAlgorithm::Pbkdf2Sha256));
    }

    #[test]
    fn pbkdf2_round_trip() {
        let phc =
            hash_password("correct horse battery staple", HashAlgorithm::Pbkdf2Sha256).unwrap();
        let parts: Vec<&str> = phc.split('$').collect();
        assert_eq!(parts[..3], ["", "pbkdf2-sha256", "i=600000"]);
        assert_eq!(BASE64_NOPAD.decode(parts[3].as_bytes()).unwrap().len(), 16);
        assert_eq!(BASE64_NOPAD.decode(parts[4].as_bytes()).unwrap().len(), 32);
        assert!(verify_password("correct horse battery staple", &phc).unwrap());
        assert!(!verify_password("correct horse battery stapler", &phc).unwrap());
        assert!(!needs_rehash(&phc, HashAlgorithm::Pbkdf2Sha256));
        assert!(needs_rehash(&phc, HashAlgorithm::Argon2id));
    }

    #[test]
    fn pbkdf2_honours_stored_iterations() {
        let phc = hash_pbkdf2("old password", NonZeroU32::new(1000).unwrap()).unwrap();
        assert!(phc.starts_with("$pbkdf2-sha256$i=1000$"));
        assert!(verify_password("old password", &phc).unwrap());
        assert!(!verify_password("old passwore", &phc).unwrap());
        assert!(needs_rehash(&phc, HashAlgorithm::Pbkdf2Sha256));
        // The same salt and hash under another count must not verify, which
        // shows the count in the string is what is used.
        let altered = phc.replace("i=1000$", "i=1001$");
        assert!(!verify_password("old password", &altered).unwrap());
    }

    #[test]
    fn argon2id_weaker_parameters_need_rehash() {
        // A hash made with lower costs than the current policy still
        // verifies, but is flagged for an upgrade.
        let params = Params::new(1024, 1, 1, Some(32)).unwrap();
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let phc = weak
            .hash_password(b"legacy pass", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password("legacy pass", &phc).unwrap());
        assert!(needs_rehash(&phc, HashAlgorithm::Argon2id));
    }

    #[test]
    fn rejects_foreign_and_garbage_hashes() {
        let unsupported = [
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNo",
            "$scrypt$ln=16,r=8,p=1$c29tZXNhbHQ$aGFzaA",
        ];
        for phc in unsupported {
            assert_eq!(
                verify_password("x", phc),
                Err(CredentialError::UnsupportedAlgorithm),
                "{phc}"
            );
            assert!(needs_rehash(phc, HashAlgorithm::Argon2id));
        }
        let garbage = [
            "",
            "$",
            "$$",
            "password",
            "$argon2id",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$!!!$???",
            "$argon2id$v=19$m=99999999,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "$pbkdf2-sha256$",
            "$pbkdf2-sha256$i=600000",
            "$pbkdf2-sha256$i=0$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "$pbkdf2-sha256$i=+5$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "$pbkdf2-sha256$i=99999999999$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "$pbkdf2-sha256$n=5$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "$pbkdf2-sha256$i=5$c29tZXNhbHRzb21lc2FsdA$c2hvcnQ",
            "$pbkdf2-sha256$i=5$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g$extra",
            "$pbkdf2-sha256$i=5$c29tZXNhbHRzb21lc2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "$PBKDF2$i=5$c2FsdA$aGFzaA",
        ];
        for phc in garbage {
            assert!(
                matches!(
                    verify_password("x", phc),
                    Err(CredentialError::MalformedHash(_))
                ),
                "{phc}: {:?}",
                verify_password("x", phc)
            );
            assert!(needs_rehash(phc, HashAlgorithm::Argon2id), "{phc}");
            assert!(needs_rehash(phc, HashAlgorithm::Pbkdf2Sha256), "{phc}");
        }
    }

    #[test]
    fn dummy_verify_runs_for_both_algorithms() {
        // Only checks that the dummy work completes without panicking; its
        // timing is a property of the shared parameters.
        dummy_verify("whatever");
        dummy_verify_with("whatever", HashAlgorithm::Pbkdf2Sha256);
    }

    #[test]
    fn hash_algorithm_ids() {
        assert_eq!(HashAlgorithm::default(), HashAlgorithm::Argon2id);
        assert_eq!(HashAlgorithm::Argon2id.phc_id(), "argon2id");
        assert_eq!(HashAlgorithm::Pbkdf2Sha256.phc_id(), "pbkdf2-sha256");
    }
}
