//! In-memory Merkle tree that answers proofs for any earlier tree size.

use crate::{Frontier, Hash, ProofError, empty_root, node_hash};

/// The largest power of two strictly smaller than `n`; callers guarantee `n >= 2`.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// All leaf hashes plus cached interior levels, for proofs at any earlier tree size.
///
/// `levels[0]` holds the leaves and `levels[k][i]` the root of the complete
/// subtree over leaves `[i * 2^k, (i + 1) * 2^k)`. Only complete subtrees are
/// cached, so they never change once written; the hash of any RFC 9162
/// subtree, at any tree size, is a right fold of at most `log2(n)` of them.
/// That keeps `root_at` and both proof kinds O(log n), and costs about twice
/// the leaf storage (64 MiB for a million events).
#[derive(Clone, Debug, Default)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one leaf hash in amortised O(1).
    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut carry = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(carry);
            // A new complete subtree one level up exists exactly when this
            // level now holds an even number of nodes.
            if row.len() % 2 != 0 {
                break;
            }
            let n = row.len();
            carry = node_hash(&row[n - 2], &row[n - 1]);
            level += 1;
        }
    }

    /// Number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The leaf hash at `index`, if present.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let i = usize::try_from(index).ok()?;
        self.levels.first()?.get(i).copied()
    }

    /// The RFC 9162 Merkle Tree Hash of the first `size` leaves, in O(log n).
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        self.check_size(size)?;
        if size == 0 {
            return Ok(empty_root());
        }
        Ok(self.range_hash(0, size))
    }

    /// The compact append state for the current tree, e.g. to hand over to
    /// a writer that only needs to append.
    pub fn frontier(&self) -> Frontier {
        let size = self.size();
        let mut nodes = Vec::with_capacity(size.count_ones() as usize);
        let mut offset = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                // The complete subtree [offset, offset + 2^level) exists
                // because offset + 2^level <= size.
                nodes.push(self.levels[level as usize][(offset >> level) as usize]);
                offset += 1u64 << level;
            }
        }
        Frontier::from_parts(size, nodes)
    }

    /// The RFC 9162 §2.1.3.1 inclusion proof for leaf `index` in the tree of
    /// the first `size` leaves, ordered from the leaf's sibling up to the root.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        // Walk PATH(m, D[start:end]) from the root downwards; each step records
        // the sibling subtree and the recursion's output order is the reverse.
        let mut proof = Vec::with_capacity(64);
        let (mut start, mut end) = (0u64, size);
        while end - start > 1 {
            let mid = start + split_point(end - start);
            if index < mid {
                proof.push(self.range_hash(mid, end));
                end = mid;
            } else {
                proof.push(self.range_hash(start, mid));
                start = mid;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    /// The RFC 9162 §2.1.4.1 consistency proof from the first `old_size`
    /// leaves to the first `new_size` leaves. It is empty when
    /// `old_size == 0` or `old_size == new_size`, where nothing needs proving.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(ProofError::OldSizeExceedsNewSize { old_size, new_size });
        }
        if old_size == 0 || old_size == new_size {
            return Ok(Vec::new());
        }
        // Iterative SUBPROOF(m, D[start:end], b) with m relative to `start`;
        // m stays in 1..=len throughout, so the loop always terminates.
        let mut proof = Vec::with_capacity(64);
        let (mut start, mut end) = (0u64, new_size);
        let mut m = old_size;
        let mut whole_old_tree = true;
        loop {
            let len = end - start;
            if m == len {
                if !whole_old_tree {
                    proof.push(self.range_hash(start, end));
                }
                break;
            }
            let k = split_point(len);
            if m <= k {
                proof.push(self.range_hash(start + k, end));
                end = start + k;
            } else {
                proof.push(self.range_hash(start, start + k));
                start += k;
                m -= k;
                whole_old_tree = false;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        let available = self.size();
        if size > available {
            return Err(ProofError::SizeOutOfRange { size, available });
        }
        Ok(())
    }

    /// MTH of leaves `[start, end)` for a range that RFC 9162's recursion can
    /// produce: non-empty, within the tree, and with `start` a multiple of the
    /// smallest power of two that is at least `end - start`.
    ///
    /// Such a range splits into aligned complete subtrees following the bits
    /// of its length, largest first, and its MTH is their right fold. Folding
    /// from the smallest (rightmost) piece needs no temporary storage.
    fn range_hash(&self, start: u64, end: u64) -> Hash {
        debug_assert!(start < end && end <= self.size());
        let mut remaining = end - start;
        let mut pos = end;
        let mut acc: Option<Hash> = None;
        while remaining != 0 {
            let level = remaining.trailing_zeros();
            pos -= 1u64 << level;
            debug_assert!(pos.trailing_zeros() >= level);
            // In range: the subtree [pos, pos + 2^level) lies within the tree,
            // and its index at this level is pos >> level.
            let piece = self.levels[level as usize][(pos >> level) as usize];
            acc = Some(match acc {
                None => piece,
                Some(right) => node_hash(&piece, &right),
            });
            remaining &= remaining - 1;
        }
        acc.unwrap_or_else(empty_root)
    }
}

impl Extend<Hash> for MerkleTree {
    fn extend<I: IntoIterator<Item = Hash>>(&mut self, iter: I) {
        for h in iter {
            self.push(h);
        }
    }
}

impl FromIterator<Hash> for MerkleTree {
    fn from_iter<I: IntoIterator<Item = Hash>>(iter: I) -> Self {
        let mut t = Self::new();
        t.extend(iter);
        t
    }
}
