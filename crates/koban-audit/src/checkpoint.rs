//! Signed checkpoints (signed tree heads) using Ed25519.

use ring::digest::{self, SHA256};
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::{AuditError, HASH_LEN, Hash, hex};

/// First line of every checkpoint body; versioning the format lets it evolve
/// without old signatures ever verifying against a new interpretation.
const CHECKPOINT_HEADER: &str = "koban-audit-checkpoint/v1";

/// Length of an Ed25519 signature.
const SIGNATURE_LEN: usize = 64;

/// A tree head: the log `origin` had `tree_size` events with root `root_hash`
/// at `timestamp_us` (UTC microseconds since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: Hash,
    pub timestamp_us: i64,
}

/// Rejects origins that would make the line-based body ambiguous.
fn validate_origin(origin: &str) -> Result<(), AuditError> {
    if origin.is_empty() {
        return Err(AuditError::InvalidOrigin("origin is empty"));
    }
    // A newline would let an origin forge the following fields of the note;
    // other control characters are rejected too because no sane origin has
    // them and they hide in terminals.
    if origin.chars().any(char::is_control) {
        return Err(AuditError::InvalidOrigin(
            "origin contains a newline or other control character",
        ));
    }
    Ok(())
}

impl Checkpoint {
    /// Constructs a checkpoint, rejecting an empty origin or one containing
    /// newlines or other control characters.
    pub fn new(
        origin: impl Into<String>,
        tree_size: u64,
        root_hash: Hash,
        timestamp_us: i64,
    ) -> Result<Self, AuditError> {
        let origin = origin.into();
        validate_origin(&origin)?;
        Ok(Self {
            origin,
            tree_size,
            root_hash,
            timestamp_us,
        })
    }

    /// The exact bytes that are signed: a text note, one field per line:
    /// `"koban-audit-checkpoint/v1\n{origin}\n{tree_size}\n{base64 root}\n{timestamp_us}\n"`.
    ///
    /// The root uses standard padded base64. Origins with newlines are
    /// rejected by [`SigningKey::sign`] and [`verify_checkpoint`], which is
    /// what keeps this encoding unambiguous.
    pub fn signed_body(&self) -> Vec<u8> {
        format!(
            "{CHECKPOINT_HEADER}\n{}\n{}\n{}\n{}\n",
            self.origin,
            self.tree_size,
            data_encoding::BASE64.encode(&self.root_hash),
            self.timestamp_us
        )
        .into_bytes()
    }

    /// Parses a body produced by [`Checkpoint::signed_body`]. Only the exact
    /// canonical form is accepted, so that a parsed note re-encodes to the
    /// very bytes whose signature is checked.
    pub fn parse_body(body: &[u8]) -> Result<Self, AuditError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| AuditError::InvalidCheckpoint("body is not UTF-8"))?;
        let mut lines = text.split('\n');
        if lines.next() != Some(CHECKPOINT_HEADER) {
            return Err(AuditError::InvalidCheckpoint("unknown header line"));
        }
        let mut field = || {
            lines
                .next()
                .ok_or(AuditError::InvalidCheckpoint("missing field"))
        };
        let origin = field()?;
        let tree_size = field()?
            .parse::<u64>()
            .map_err(|_| AuditError::InvalidCheckpoint("tree size is not an unsigned integer"))?;
        let root_b64 = field()?;
        let timestamp_us = field()?
            .parse::<i64>()
            .map_err(|_| AuditError::InvalidCheckpoint("timestamp is not an integer"))?;
        if !field()?.is_empty() || lines.next().is_some() {
            return Err(AuditError::InvalidCheckpoint(
                "body must end with exactly one newline after the timestamp",
            ));
        }
        let root = data_encoding::BASE64
            .decode(root_b64.as_bytes())
            .map_err(|_| AuditError::InvalidCheckpoint("root hash is not valid base64"))?;
        let root_hash: Hash = root
            .as_slice()
            .try_into()
            .map_err(|_| AuditError::InvalidCheckpoint("root hash is not 32 bytes"))?;
        let cp = Self::new(origin, tree_size, root_hash, timestamp_us)?;
        // Number parsing accepts forms such as "+5" or "007"; requiring a
        // byte-exact round trip rules out every such alternative spelling.
        if cp.signed_body() != body {
            return Err(AuditError::InvalidCheckpoint(
                "body is not in canonical form",
            ));
        }
        Ok(cp)
    }
}

/// An Ed25519 checkpoint signing key.
pub struct SigningKey {
    key_pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only public material is shown so that logging a key never leaks it.
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .field("public_key", &hex(&self.public_key()))
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key as a PKCS#8 v2 document, using the system RNG.
    /// The bytes contain the secret key; the caller must store them safely.
    pub fn generate_pkcs8() -> Result<Vec<u8>, AuditError> {
        let rng = SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| AuditError::KeyGeneration)?;
        Ok(doc.as_ref().to_vec())
    }

    /// Loads a key from a PKCS#8 document. Version 2 documents (as generated
    /// here) have their embedded public key checked against the private key;
    /// version 1 documents (as `openssl genpkey -algorithm ed25519` writes)
    /// are accepted too and the public key is derived.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, AuditError> {
        let key_pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|e| AuditError::KeyRejected(e.to_string()))?;
        Ok(Self { key_pair })
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // Ed25519 public keys are always 32 bytes.
        out.copy_from_slice(self.key_pair.public_key().as_ref());
        out
    }

    /// The key identifier: [`key_id_of`] the public key.
    pub fn key_id(&self) -> String {
        key_id_of(&self.public_key())
    }

    /// Signs the checkpoint's [`signed_body`](Checkpoint::signed_body).
    pub fn sign(&self, cp: &Checkpoint) -> Result<[u8; 64], AuditError> {
        validate_origin(&cp.origin)?;
        let sig = self.key_pair.sign(&cp.signed_body());
        let mut out = [0u8; SIGNATURE_LEN];
        if sig.as_ref().len() != SIGNATURE_LEN {
            // Ed25519 signatures are always 64 bytes; fail rather than panic.
            return Err(AuditError::BadSignature);
        }
        out.copy_from_slice(sig.as_ref());
        Ok(out)
    }
}

/// A short key identifier: hex of the first 8 bytes of SHA-256(public key).
pub fn key_id_of(public_key: &[u8; 32]) -> String {
    let d = digest::digest(&SHA256, public_key);
    let bytes = d.as_ref();
    debug_assert_eq!(bytes.len(), HASH_LEN);
    hex(&bytes[..8])
}

/// Verifies an Ed25519 signature over the checkpoint's signed body.
pub fn verify_checkpoint(
    public_key: &[u8; 32],
    cp: &Checkpoint,
    signature: &[u8],
) -> Result<(), AuditError> {
    validate_origin(&cp.origin)?;
    if signature.len() != SIGNATURE_LEN {
        return Err(AuditError::BadSignature);
    }
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&cp.signed_body(), signature)
        .map_err(|_| AuditError::BadSignature)
}
