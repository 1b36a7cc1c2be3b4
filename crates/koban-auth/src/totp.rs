//! Time-based one-time passwords (RFC 6238) as the second factor.
//!
//! The parameters are the ones every authenticator app supports: HMAC-SHA1,
//! 30-second steps and 6 digits. SHA-1 is acceptable here because HOTP only
//! relies on HMAC's pseudo-randomness, which collision attacks on SHA-1 do
//! not affect.
//!
//! Verification is replay-resistant: the caller stores the step of the last
//! accepted code and passes it back, and no code of that step or any earlier
//! step is accepted again. This makes every code single-use, as SP 800-63B
//! requires of OTP authenticators.

use std::fmt;
use std::fmt::Write as _;

use data_encoding::BASE32_NOPAD;
use ring::hmac;

use crate::{CredentialError, constant_time_eq, random_array};

/// The length of a TOTP step in seconds.
pub const TOTP_STEP_S: i64 = 30;
/// The number of digits in a code.
pub const TOTP_DIGITS: u32 = 6;
/// How many steps before and after the current one are accepted, to allow
/// for clock drift between the server and the user's phone.
pub const TOTP_DRIFT_STEPS: i64 = 1;
/// The length of a generated secret in bytes (160 bits, as RFC 4226
/// recommends for HMAC-SHA1).
pub const TOTP_SECRET_LEN: usize = 20;
/// The shortest secret accepted from outside (128 bits, the RFC 4226
/// minimum).
pub const MIN_TOTP_SECRET_LEN: usize = 16;
/// The longest secret accepted from outside; longer keys add nothing to
/// HMAC-SHA1 and only suggest a mistake in the input.
const MAX_TOTP_SECRET_LEN: usize = 64;

/// A shared TOTP secret.
///
/// `Debug` prints no part of the secret, and the bytes are overwritten when
/// the value is dropped (best effort: copies made by the caller, such as the
/// base32 text, are the caller's to protect).
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl Drop for TotpSecret {
    fn drop(&mut self) {
        self.0.fill(0);
        // black_box makes the zeroing an observable use, so that the
        // optimiser does not drop it as a dead store.
        std::hint::black_box(&self.0);
    }
}

impl TotpSecret {
    /// Generates a new random secret of [`TOTP_SECRET_LEN`] bytes.
    pub fn generate() -> Result<Self, CredentialError> {
        let bytes: [u8; TOTP_SECRET_LEN] = random_array()?;
        Ok(Self(bytes.to_vec()))
    }

    /// The secret as RFC 4648 base32 without padding, the form authenticator
    /// apps expect for manual entry and in `otpauth://` URIs.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// Parses a base32 secret, as stored or as typed by a person: lower case,
    /// spaces between groups and trailing '=' padding are accepted. Secrets
    /// shorter than [`MIN_TOTP_SECRET_LEN`] bytes are refused as too weak.
    pub fn from_base32(text: &str) -> Result<Self, CredentialError> {
        let cleaned: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = BASE32_NOPAD
            .decode(cleaned.trim_end_matches('=').as_bytes())
            .map_err(|_| CredentialError::InvalidTotpSecret("not valid base32"))?;
        if bytes.len() < MIN_TOTP_SECRET_LEN {
            return Err(CredentialError::InvalidTotpSecret("shorter than 16 bytes"));
        }
        if bytes.len() > MAX_TOTP_SECRET_LEN {
            return Err(CredentialError::InvalidTotpSecret("longer than 64 bytes"));
        }
        Ok(Self(bytes))
    }

    /// The raw secret bytes, for storage (encrypted) by the caller.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// HOTP (RFC 4226): the HMAC-SHA1 of the counter, dynamically truncated to
/// `digits` decimal digits. More than ten digits add nothing, because the
/// truncated value has only 31 bits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // An HMAC-SHA1 tag is always 20 bytes, so the offset (at most 15) plus
    // the four bytes read stays in bounds.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3]);
    let modulus = 10u64.pow(digits.min(10));
    // The remainder is at most `binary`, so it always fits back into a u32.
    u32::try_from(u64::from(binary) % modulus).unwrap_or(binary)
}

/// The TOTP step number for a time in unix seconds.
pub fn totp_step(unix_s: i64) -> i64 {
    unix_s.div_euclid(TOTP_STEP_S)
}

fn code_for_step(secret: &TotpSecret, step: i64) -> String {
    // Steps before 1970 do not occur on a correct clock; they are computed as
    // step 0 rather than wrapping around to a huge counter.
    let counter = u64::try_from(step).unwrap_or(0);
    format!("{:06}", hotp(secret.as_bytes(), counter, TOTP_DIGITS))
}

/// The 6-digit code for the step containing `unix_s`, zero-padded.
pub fn totp_code(secret: &TotpSecret, unix_s: i64) -> String {
    code_for_step(secret, totp_step(unix_s))
}

/// Verifies a code typed by the user at time `unix_s`.
///
/// Spaces are ignored ("123 456"), and otherwise the code must be exactly six
/// ASCII digits. The current step and one step either side are tried, but
/// never a step at or before `last_used_step`, so a code (and every code
/// older than it) works only once. On success the matched step is returned;
/// the caller must store it as the new `last_used_step` before answering the
/// user, or a replay in the meantime could slip through.
pub fn verify_totp(
    secret: &TotpSecret,
    code: &str,
    unix_s: i64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let typed: Vec<u8> = code.bytes().filter(|&b| b != b' ').collect();
    if typed.len() != 6 || !typed.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let current = totp_step(unix_s);
    let mut matched = None;
    // Every candidate is computed and compared without stopping early, so the
    // response time does not reveal which step matched. If two steps happen
    // to share a code, the latest wins, which burns the most steps.
    for step in current.saturating_sub(TOTP_DRIFT_STEPS)..=current.saturating_add(TOTP_DRIFT_STEPS)
    {
        let replayed = last_used_step.is_some_and(|last| step <= last);
        if step < 0 || replayed {
            continue;
        }
        if constant_time_eq(code_for_step(secret, step).as_bytes(), &typed) {
            matched = Some(step);
        }
    }
    matched
}

/// Percent-encodes everything except the RFC 3986 unreserved characters.
/// Issuers and account names may be Japanese, and their UTF-8 bytes are
/// encoded one by one as authenticator apps expect.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The `otpauth://` URI for enrolling an authenticator app, usually shown as
/// a QR code. It contains the secret, so it must only be shown to the user
/// who is enrolling and never logged.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &TotpSecret) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits=6&period=30",
        account = percent_encode(account),
        secret = secret.to_base32(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn rfc_secret() -> TotpSecret {
        TotpSecret(RFC_SECRET.to_vec())
    }

    #[test]
    fn rfc4226_appendix_d() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.into_iter().enumerate() {
            assert_eq!(
                hotp(RFC_SECRET, counter as u64, 6),
                want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1() {
        let vectors = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (time, want) in vectors {
            let step = u64::try_from(totp_step(time)).unwrap();
            assert_eq!(hotp(RFC_SECRET, step, 8), want, "time {time}");
            // The 6-digit code is the last six digits of the 8-digit one.
            assert_eq!(
                totp_code(&rfc_secret(), time),
                format!("{:06}", want % 1_000_000)
            );
        }
        assert_eq!(totp_code(&rfc_secret(), 1111111109), "081804");
    }

    #[test]
    fn hotp_digit_counts() {
        // The truncated value for counter 0 is 0x4c93cf18 = 1284755224.
        assert_eq!(hotp(RFC_SECRET, 0, 10), 1284755224);
        assert_eq!(hotp(RFC_SECRET, 0, 12), 1284755224);
        assert_eq!(hotp(RFC_SECRET, 0, 0), 0);
    }

    #[test]
    fn base32_round_trip_and_leniency() {
        let secret = TotpSecret::generate().unwrap();
        assert_eq!(secret.as_bytes().len(), TOTP_SECRET_LEN);
        let text = secret.to_base32();
        assert_eq!(text.len(), 32);
        assert!(!text.contains('='));
        assert_eq!(
            TotpSecret::from_base32(&text).unwrap().as_bytes(),
            secret.as_bytes()
        );

        let spaced: String = text
            .to_lowercase()
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            TotpSecret::from_base32(&spaced).unwrap().as_bytes(),
            secret.as_bytes()
        );

        // RFC 4648 test vector: "foobar" is "MZXW6YTBOI".
        assert_eq!(TotpSecret(b"foobar".to_vec()).to_base32(), "MZXW6YTBOI");
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
                .unwrap()
                .as_bytes(),
            RFC_SECRET
        );
    }

    #[test]
    fn base32_rejects_bad_input() {
        // Ten bytes: valid base32 but too short.
        assert!(matches!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQ"),
            Err(CredentialError::InvalidTotpSecret(_))
        ));
        for bad in [
            "",
            "not base32 at all!",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",
            "0000000000000000000000000000",
        ] {
            assert!(TotpSecret::from_base32(bad).is_err(), "{bad}");
        }
        let too_long = BASE32_NOPAD.encode(&[1u8; 65]);
        assert!(TotpSecret::from_base32(&too_long).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let secret = rfc_secret();
        let shown = format!("{secret:?}");
        assert_eq!(shown, "TotpSecret(<redacted>)");
        assert!(!shown.contains("1234"));
    }

    #[test]
    fn accepts_current_and_drift() {
        let s = rfc_secret();
        let t = 1_700_000_015;
        let step = totp_step(t);
        assert_eq!(verify_totp(&s, &totp_code(&s, t), t, None), Some(step));
        // A phone running 30 s behind or ahead is still accepted.
        assert_eq!(
            verify_totp(&s, &totp_code(&s, t - 30), t, None),
            Some(step - 1)
        );
        assert_eq!(
            verify_totp(&s, &totp_code(&s, t + 30), t, None),
            Some(step + 1)
        );
        // Two steps away is not.
        assert_eq!(verify_totp(&s, &totp_code(&s, t - 60), t, None), None);
        assert_eq!(verify_totp(&s, &totp_code(&s, t + 60), t, None), None);
    }

    #[test]
    fn refuses_replay_and_older_codes() {
        let s = rfc_secret();
        let t = 1_700_000_015;
        let code = totp_code(&s, t);
        let used = verify_totp(&s, &code, t, None).unwrap();
        assert_eq!(verify_totp(&s, &code, t, Some(used)), None);
        assert_eq!(verify_totp(&s, &code, t + 29, Some(used)), None);
        // An older code is refused once a newer one was used.
        assert_eq!(verify_totp(&s, &totp_code(&s, t - 30), t, Some(used)), None);
        // The next step's code still works.
        assert_eq!(
            verify_totp(&s, &totp_code(&s, t + 30), t + 30, Some(used)),
            Some(used + 1)
        );
    }

    #[test]
    fn code_format_is_strict() {
        let s = rfc_secret();
        let t = 59;
        let code = totp_code(&s, t);
        assert_eq!(code, "287082");
        assert_eq!(verify_totp(&s, " 287 082 ", t, None), Some(1));
        for bad in [
            "28708",
            "2870822",
            "287o82",
            "２８７０８２",
            "+87082",
            "",
            "287\t082",
        ] {
            assert_eq!(verify_totp(&s, bad, t, None), None, "{bad:?}");
        }
    }

    #[test]
    fn negative_time_is_never_accepted_before_step_zero() {
        let s = rfc_secret();
        assert_eq!(totp_step(-1), -1);
        // At t = -31 the window is steps -3..=-1, none of which is valid.
        assert_eq!(verify_totp(&s, &totp_code(&s, 0), -31, None), None);
    }

    #[test]
    fn otpauth_uri_is_encoded() {
        let s = rfc_secret();
        let uri = otpauth_uri("警視庁 koban", "tanaka@example.jp", &s);
        assert_eq!(
            uri,
            "otpauth://totp/%E8%AD%A6%E8%A6%96%E5%BA%81%20koban:tanaka%40example.jp\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=%E8%AD%A6%E8%A6%96%E5%BA%81%20koban&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(percent_encode("a:b/c?d&e=f"), "a%3Ab%2Fc%3Fd%26e%3Df");
        assert_eq!(percent_encode("Az09-._~"), "Az09-._~");
    }

    proptest! {
        #[test]
        fn code_never_accepted_twice(
            secret in proptest::collection::vec(any::<u8>(), 20),
            t in 0i64..4_000_000_000,
            drift in -30i64..=30,
            later in 0i64..=120,
        ) {
            let s = TotpSecret(secret);
            let code = totp_code(&s, t);
            let step = totp_step(t);
            // With one chance in a million, a neighbouring step has the same
            // code; such a secret would test the coincidence, not the replay
            // logic, so it is skipped.
            let unique = (step - 3..=step + 6)
                .filter(|&other| other != step)
                .all(|other| code_for_step(&s, other) != code);
            prop_assume!(unique);

            let first = verify_totp(&s, &code, t + drift, None);
            prop_assert!(first.is_some());
            prop_assert_eq!(first, Some(step));
            let again = verify_totp(&s, &code, t + drift + later, first);
            prop_assert_eq!(again, None);
        }
    }
}
