//! Secrets at rest: AES-256-GCM sealing of the TOTP secrets stored with each account, so
//! a copy of the database alone does not yield anyone's second factor.
//!
//! The key lives outside the database (a file in the data directory, or one shared by all
//! instances of a PostgreSQL deployment). Each sealed value is bound to its owner through
//! the additional authenticated data, so a secret cannot be moved to another account.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::CredentialError;

/// Prefix of sealed values, with the format version.
pub const SEALED_PREFIX: &str = "kbs1:";
/// Length of a sealing key in bytes.
pub const KEY_LEN: usize = 32;

/// An AES-256-GCM key for sealing secrets.
pub struct SecretBox {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<redacted>)")
    }
}

impl SecretBox {
    /// A new random key.
    pub fn generate_key() -> Result<[u8; KEY_LEN], CredentialError> {
        let mut k = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut k)
            .map_err(|_| CredentialError::Random)?;
        Ok(k)
    }

    pub fn from_key(key: &[u8]) -> Result<SecretBox, CredentialError> {
        let unbound =
            UnboundKey::new(&AES_256_GCM, key).map_err(|_| CredentialError::MalformedToken)?;
        Ok(SecretBox {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Seals `plaintext` for `owner`: `kbs1:` + base64url(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plaintext: &[u8], owner: &str) -> Result<String, CredentialError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CredentialError::Random)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut buf,
            )
            .map_err(|_| CredentialError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!(
            "{SEALED_PREFIX}{}",
            data_encoding::BASE64URL_NOPAD.encode(&out)
        ))
    }

    /// Opens a value sealed for `owner`; a wrong key, owner or any altered byte fails.
    pub fn open(&self, sealed: &str, owner: &str) -> Result<Vec<u8>, CredentialError> {
        let body = sealed
            .strip_prefix(SEALED_PREFIX)
            .ok_or(CredentialError::MalformedToken)?;
        let raw = data_encoding::BASE64URL_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| CredentialError::MalformedToken)?;
        if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(CredentialError::MalformedToken);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| CredentialError::MalformedToken)?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut buf)
            .map_err(|_| CredentialError::MalformedToken)?;
        Ok(plain.to_vec())
    }

    /// Whether a stored value is sealed (older databases hold plain base32 secrets).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(SEALED_PREFIX)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_refuse_tampering() {
        let b = SecretBox::from_key(&SecretBox::generate_key().unwrap()).unwrap();
        let s = b.seal(b"JBSWY3DPEHPK3PXP", "usr_1").unwrap();
        assert!(SecretBox::is_sealed(&s));
        assert!(!s.contains("JBSWY3DP"));
        assert_eq!(b.open(&s, "usr_1").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(b.open(&s, "usr_2").is_err(), "bound to its owner");
        let other = SecretBox::from_key(&SecretBox::generate_key().unwrap()).unwrap();
        assert!(other.open(&s, "usr_1").is_err(), "wrong key");
        let mut t = s.clone().into_bytes();
        let last = t.len() - 3;
        t[last] = if t[last] == b'A' { b'B' } else { b'A' };
        assert!(
            b.open(std::str::from_utf8(&t).unwrap(), "usr_1").is_err(),
            "altered"
        );
        assert!(b.open("kbs1:", "usr_1").is_err());
        assert!(b.open("plain", "usr_1").is_err());
        assert_ne!(
            b.seal(b"x", "u").unwrap(),
            b.seal(b"x", "u").unwrap(),
            "fresh nonce each time"
        );
    }
}
