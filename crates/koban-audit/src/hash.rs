//! RFC 9162 hashing primitives and hex helpers.

use ring::digest::{self, SHA256};

use crate::AuditError;

/// A SHA-256 output, used for leaves, interior nodes and roots alike.
pub type Hash = [u8; 32];

/// Length in bytes of a [`Hash`].
pub const HASH_LEN: usize = 32;

/// Prefix that domain-separates leaf hashes from interior node hashes, so that
/// an interior node can never be passed off as a leaf (RFC 9162 §2.1.1).
pub(crate) const LEAF_PREFIX: u8 = 0x00;
/// Prefix for interior node hashes (RFC 9162 §2.1.1).
const NODE_PREFIX: u8 = 0x01;

pub(crate) fn to_hash(d: digest::Digest) -> Hash {
    let mut out = [0u8; HASH_LEN];
    // SHA-256 always yields exactly 32 bytes, so the lengths match.
    out.copy_from_slice(d.as_ref());
    out
}

/// The RFC 9162 leaf hash: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut ctx = digest::Context::new(&SHA256);
    ctx.update(&[LEAF_PREFIX]);
    ctx.update(data);
    to_hash(ctx.finish())
}

/// The RFC 9162 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    // One contiguous buffer hashes faster than three context updates, and this
    // function dominates the cost of proofs and verification.
    let mut buf = [0u8; 1 + 2 * HASH_LEN];
    buf[0] = NODE_PREFIX;
    buf[1..=HASH_LEN].copy_from_slice(left);
    buf[1 + HASH_LEN..].copy_from_slice(right);
    to_hash(digest::digest(&SHA256, &buf))
}

/// The Merkle Tree Hash of zero leaves: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    to_hash(digest::digest(&SHA256, b""))
}

/// Lowercase hexadecimal encoding of arbitrary bytes.
pub fn hex(h: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(h)
}

/// Parses a 64-digit hexadecimal hash (either letter case is accepted).
pub fn parse_hex_hash(s: &str) -> Result<Hash, AuditError> {
    if s.len() != 2 * HASH_LEN {
        return Err(AuditError::InvalidHex(format!(
            "expected {} hex digits, got {}",
            2 * HASH_LEN,
            s.len()
        )));
    }
    let mut out = [0u8; HASH_LEN];
    data_encoding::HEXLOWER_PERMISSIVE
        .decode_mut(s.as_bytes(), &mut out)
        .map_err(|e| AuditError::InvalidHex(e.error.to_string()))?;
    Ok(out)
}
