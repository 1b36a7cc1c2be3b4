//! The pure core of koban's tamper-evident audit log.
//!
//! Every audited action becomes an [`AuditEvent`] whose [canonical
//! encoding](AuditEvent::canonical_bytes) is hashed into a leaf of an
//! append-only Merkle tree built exactly as RFC 9162 (Certificate Transparency
//! 2.0) prescribes. Periodically the tree head is signed with Ed25519 as a
//! [`Checkpoint`]. Together these make it possible to prove that an event is in
//! the log ([`MerkleTree::inclusion_proof`] / [`verify_inclusion`]), that a
//! later log extends an earlier one without rewriting history
//! ([`MerkleTree::consistency_proof`] / [`verify_consistency`]), and to re-check
//! a whole stored log row by row ([`Verifier`]).
//!
//! The crate performs no I/O at all: it never touches files, the network or the
//! clock, so that every result is a deterministic function of its arguments and
//! the security-critical code can be tested exhaustively. Callers supply times
//! and persist state (for example [`Frontier::to_bytes`]) themselves.
//!
//! ```
//! use koban_audit::{leaf_hash, verify_inclusion, MerkleTree};
//!
//! let mut tree = MerkleTree::new();
//! for i in 0u32..10 {
//!     tree.push(leaf_hash(&i.to_be_bytes()));
//! }
//! let root = tree.root_at(7).unwrap();
//! let proof = tree.inclusion_proof(3, 7).unwrap();
//! let leaf = leaf_hash(&3u32.to_be_bytes());
//! assert!(verify_inclusion(&leaf, 3, 7, &proof, &root).is_ok());
//! ```

mod checkpoint;
mod error;
mod event;
mod frontier;
mod hash;
mod proof;
mod tree;
mod verifier;

pub use checkpoint::{Checkpoint, SigningKey, key_id_of, verify_checkpoint};
pub use error::{AuditError, ProofError};
pub use event::AuditEvent;
pub use frontier::{Frontier, MAX_FRONTIER_SIZE};
pub use hash::{HASH_LEN, Hash, empty_root, hex, leaf_hash, node_hash, parse_hex_hash};
pub use proof::{verify_consistency, verify_inclusion};
pub use tree::MerkleTree;
pub use verifier::{Fault, StoredCheckpoint, StoredEvent, Verifier, VerifySummary};

#[cfg(test)]
mod tests;
