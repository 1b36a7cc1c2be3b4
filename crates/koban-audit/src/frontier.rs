//! Compact append-only state of a Merkle tree.

use crate::{AuditError, HASH_LEN, Hash, empty_root, node_hash};

/// The largest tree size [`Frontier::from_bytes`] accepts.
///
/// Capping loaded sizes one bit below `u64::MAX` means that `Frontier::push`
/// could only overflow its counter after 2^63 further appends, which can never
/// happen, so hostile serialised state cannot make a later append panic.
pub const MAX_FRONTIER_SIZE: u64 = u64::MAX >> 1;

/// O(log n) append state: the roots of the perfect subtrees that make up the tree so far.
///
/// A tree of `size` leaves decomposes uniquely into perfect subtrees whose
/// sizes are the set bits of `size`, largest (leftmost) first. Keeping only
/// their roots is enough to append further leaves and to compute the RFC 9162
/// root, which is what a log writer needs after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Roots of the perfect subtrees, left to right (largest first); there is
    /// exactly one per set bit of `size`.
    nodes: Vec<Hash>,
}

impl Frontier {
    /// An empty frontier (tree size 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a frontier from parts the caller has already made consistent.
    pub(crate) fn from_parts(size: u64, nodes: Vec<Hash>) -> Self {
        debug_assert_eq!(nodes.len(), size.count_ones() as usize);
        Self { size, nodes }
    }

    /// Number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, largest (leftmost) subtree first.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        // Appending a leaf is binary increment: every trailing one bit of the
        // old size is a perfect subtree of equal size that merges with the
        // carry, exactly like a carry propagating through the bits.
        let mut carry = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            match self.nodes.pop() {
                Some(left) => carry = node_hash(&left, &carry),
                // The invariant (one node per set bit) makes this unreachable;
                // stopping keeps a corrupted state from panicking.
                None => break,
            }
            size >>= 1;
        }
        self.nodes.push(carry);
        // Cannot overflow: sizes loaded from bytes are capped at
        // MAX_FRONTIER_SIZE and reaching u64::MAX needs 2^63 more appends.
        self.size += 1;
    }

    /// The RFC 9162 Merkle Tree Hash of all leaves so far (`empty_root()` when empty).
    pub fn root(&self) -> Hash {
        // MTH splits at the largest power of two, so the root is the right fold
        // of the perfect subtrees: node(p0, node(p1, ... node(pk-1, pk))).
        let mut iter = self.nodes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// Serialises as the 8-byte big-endian size followed by the node hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.nodes.len() * HASH_LEN);
        out.extend_from_slice(&self.size.to_be_bytes());
        for n in &self.nodes {
            out.extend_from_slice(n);
        }
        out
    }

    /// Parses the output of [`Frontier::to_bytes`], rejecting any encoding
    /// whose node count is not `popcount(size)`.
    pub fn from_bytes(b: &[u8]) -> Result<Self, AuditError> {
        let (size_bytes, rest) = b
            .split_first_chunk::<8>()
            .ok_or(AuditError::InvalidFrontier("shorter than the 8-byte size"))?;
        let size = u64::from_be_bytes(*size_bytes);
        if size > MAX_FRONTIER_SIZE {
            return Err(AuditError::InvalidFrontier(
                "tree size is implausibly large",
            ));
        }
        if rest.len() % HASH_LEN != 0 {
            return Err(AuditError::InvalidFrontier(
                "node data is not a whole number of hashes",
            ));
        }
        if rest.len() / HASH_LEN != size.count_ones() as usize {
            return Err(AuditError::InvalidFrontier(
                "node count does not match the number of set bits of the size",
            ));
        }
        let nodes = rest
            .chunks_exact(HASH_LEN)
            .map(|c| {
                let mut h = [0u8; HASH_LEN];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Ok(Self { size, nodes })
    }
}
