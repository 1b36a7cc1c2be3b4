//! Opaque session tokens and terminal keys.
//!
//! A token is 32 random bytes, shown to the client as a short prefix and the
//! bytes in unpadded base64url ("kbn_…" for sessions, "kbt_…" for terminal
//! keys). The prefix lets secret scanners recognise a leaked token and tells
//! the two kinds apart. The server stores only the SHA-256 of the raw bytes,
//! so a copy of the database does not contain usable tokens. Because the
//! bytes are uniformly random, a plain (unsalted, fast) hash is enough: there
//! is nothing to guess that a slow hash would protect.

use std::fmt;

use data_encoding::{BASE64URL_NOPAD, HEXLOWER_PERMISSIVE};
use ring::digest;

use crate::{CredentialError, random_array};

/// The prefix of a session token's text.
pub const SESSION_TOKEN_PREFIX: &str = "kbn_";
/// The prefix of a terminal key's text.
pub const TERMINAL_KEY_PREFIX: &str = "kbt_";
/// The number of random bytes in a token (256 bits).
pub const TOKEN_BYTES: usize = 32;
/// The length of the base64url text of [`TOKEN_BYTES`] bytes, without
/// padding.
const TOKEN_B64_LEN: usize = 43;

/// The SHA-256 of a token's raw bytes: what the server stores and looks
/// tokens up by.
///
/// The hash is not secret (it cannot be turned back into a token), so its
/// `Debug` output shows it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    fn of(raw: &[u8; TOKEN_BYTES]) -> Self {
        let digest = digest::digest(&digest::SHA256, raw);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Self(out)
    }

    /// The hash as 64 lower-case hexadecimal digits.
    pub fn to_hex(&self) -> String {
        HEXLOWER_PERMISSIVE.encode(&self.0)
    }

    /// Parses 64 hexadecimal digits (either case), as written by
    /// [`to_hex`](Self::to_hex).
    pub fn from_hex(text: &str) -> Result<Self, CredentialError> {
        let bytes = HEXLOWER_PERMISSIVE
            .decode(text.as_bytes())
            .map_err(|_| CredentialError::MalformedToken)?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| CredentialError::MalformedToken)?;
        Ok(Self(array))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

/// A session token's raw bytes. `Debug` does not show them.
#[derive(Clone)]
pub struct SessionToken([u8; TOKEN_BYTES]);

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

impl SessionToken {
    /// Generates a new session token and returns its text (to send to the
    /// client, once) and its hash (to store).
    pub fn generate() -> Result<(String, TokenHash), CredentialError> {
        generate_prefixed(SESSION_TOKEN_PREFIX)
    }

    /// Parses a session token's text as presented by a client.
    pub fn parse(text: &str) -> Result<Self, CredentialError> {
        decode_prefixed(text, SESSION_TOKEN_PREFIX).map(Self)
    }

    /// The token's text, "kbn_" followed by base64url.
    pub fn to_text(&self) -> String {
        encode_prefixed(SESSION_TOKEN_PREFIX, &self.0)
    }

    /// The hash under which the server stores the token.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

fn encode_prefixed(prefix: &str, raw: &[u8; TOKEN_BYTES]) -> String {
    format!("{prefix}{}", BASE64URL_NOPAD.encode(raw))
}

fn generate_prefixed(prefix: &str) -> Result<(String, TokenHash), CredentialError> {
    let raw: [u8; TOKEN_BYTES] = random_array()?;
    Ok((encode_prefixed(prefix, &raw), TokenHash::of(&raw)))
}

/// Decodes "prefix + 43 base64url characters" into the raw bytes. Anything
/// else, including a non-canonical encoding of the last character, is
/// refused, so each token has exactly one valid text.
fn decode_prefixed(text: &str, prefix: &str) -> Result<[u8; TOKEN_BYTES], CredentialError> {
    let body = text
        .strip_prefix(prefix)
        .ok_or(CredentialError::MalformedToken)?;
    if body.len() != TOKEN_B64_LEN {
        return Err(CredentialError::MalformedToken);
    }
    let bytes = BASE64URL_NOPAD
        .decode(body.as_bytes())
        .map_err(|_| CredentialError::MalformedToken)?;
    bytes
        .try_into()
        .map_err(|_| CredentialError::MalformedToken)
}

/// Hashes a session token's text for lookup. Text that is not a well-formed
/// session token is an error, so that the server can refuse it without a
/// database query.
pub fn hash_token(token_text: &str) -> Result<TokenHash, CredentialError> {
    decode_prefixed(token_text, SESSION_TOKEN_PREFIX).map(|raw| TokenHash::of(&raw))
}

/// Generates a key for a fixed terminal (a kōban workstation), returned as
/// text ("kbt_…") and hash, like [`SessionToken::generate`].
pub fn generate_terminal_key() -> Result<(String, TokenHash), CredentialError> {
    generate_prefixed(TERMINAL_KEY_PREFIX)
}

/// Hashes a terminal key's text for lookup, refusing malformed text.
pub fn hash_terminal_key(key_text: &str) -> Result<TokenHash, CredentialError> {
    decode_prefixed(key_text, TERMINAL_KEY_PREFIX).map(|raw| TokenHash::of(&raw))
}

/// `N` bytes from the operating system's random number generator, for
/// identifiers that must not be guessable.
pub fn random_id_bytes<const N: usize>() -> Result<[u8; N], CredentialError> {
    random_array()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn session_token_shape_and_hash() {
        let (text, hash) = SessionToken::generate().unwrap();
        assert!(text.starts_with("kbn_"));
        assert_eq!(text.len(), 4 + 43);
        assert!(
            text[4..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(hash_token(&text).unwrap(), hash);

        let parsed = SessionToken::parse(&text).unwrap();
        assert_eq!(parsed.to_text(), text);
        assert_eq!(parsed.hash(), hash);
        // The stored hash is the SHA-256 of the raw bytes.
        let raw = BASE64URL_NOPAD.decode(&text.as_bytes()[4..]).unwrap();
        assert_eq!(
            hash.0.as_slice(),
            digest::digest(&digest::SHA256, &raw).as_ref()
        );

        let (other, other_hash) = SessionToken::generate().unwrap();
        assert_ne!(text, other);
        assert_ne!(hash, other_hash);
    }

    #[test]
    fn known_hash() {
        let token = SessionToken([0u8; 32]);
        assert_eq!(
            token.to_text(),
            "kbn_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        );
        assert_eq!(
            hash_token(&token.to_text()).unwrap().to_hex(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn terminal_keys_are_distinct_kind() {
        let (key, hash) = generate_terminal_key().unwrap();
        assert!(key.starts_with("kbt_"));
        assert_eq!(hash_terminal_key(&key).unwrap(), hash);
        // A terminal key is not accepted as a session token, or vice versa.
        assert_eq!(hash_token(&key), Err(CredentialError::MalformedToken));
        let (session, _) = SessionToken::generate().unwrap();
        assert_eq!(
            hash_terminal_key(&session),
            Err(CredentialError::MalformedToken)
        );
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let (good, _) = SessionToken::generate().unwrap();
        let body = &good[4..];
        let bad = [
            String::new(),
            "kbn_".to_string(),
            body.to_string(),
            format!("KBN_{body}"),
            format!("kbx_{body}"),
            format!("kbn_{}", &body[1..]),
            format!("{good}A"),
            format!("kbn_{}+", &body[..42]),
            format!("kbn_{}=", &body[..42]),
            format!(" {good}"),
            format!("{good}\n"),
            format!("kbn_{}", "あ".repeat(14) + "a"),
            // 'B' as the last character sets bits that 32 bytes do not
            // have, so it is a non-canonical encoding.
            "kbn_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB".to_string(),
        ];
        for text in &bad {
            assert_eq!(
                hash_token(text),
                Err(CredentialError::MalformedToken),
                "{text:?}"
            );
            assert!(SessionToken::parse(text).is_err());
        }
    }

    #[test]
    fn debug_hides_token_bytes() {
        let token = SessionToken([0x41; 32]);
        assert_eq!(format!("{token:?}"), "SessionToken(<redacted>)");
    }

    #[test]
    fn token_hash_hex_round_trip() {
        let hash = TokenHash([0xab; 32]);
        let hex = hash.to_hex();
        assert_eq!(hex, "ab".repeat(32));
        assert_eq!(TokenHash::from_hex(&hex).unwrap(), hash);
        assert_eq!(TokenHash::from_hex(&hex.to_uppercase()).unwrap(), hash);
        assert!(TokenHash::from_hex("abcd").is_err());
        assert!(TokenHash::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(format!("{hash:?}"), format!("TokenHash({hex})"));
    }

    #[test]
    fn random_ids() {
        let a: [u8; 16] = random_id_bytes().unwrap();
        let b = random_id_bytes::<16>().unwrap();
        assert_ne!(a, b);
        assert_eq!(random_id_bytes::<0>().unwrap(), []);
    }
}
