//! Verification of RFC 9162 inclusion and consistency proofs.
//!
//! These functions take hostile input. Before hashing anything they compute
//! the exact number of hashes the claimed sizes require and reject any other
//! length, then run the RFC's algorithms, whose loops are bounded by that
//! length. All arithmetic is on `u64` values that were checked first, so no
//! input (index >= size, size 0, `u64::MAX`, any proof length) can panic.

use crate::{Hash, ProofError, empty_root, node_hash};

/// Number of bits needed to represent `x` (0 for 0).
fn bit_len(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// Splits an inclusion proof for `index < size` into its "inner" part (the
/// levels below where the paths to `index` and to the last leaf diverge) and
/// its "border" part (the left siblings above that point).
fn decompose_inclusion(index: u64, size: u64) -> (u32, u32) {
    let inner = bit_len(index ^ (size - 1));
    // `inner` can be 64, where a plain shift would overflow; nothing is left then.
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

/// The exact inclusion proof length for `index` in a tree of `size` leaves,
/// or `None` when `index >= size`.
pub(crate) fn inclusion_proof_len(index: u64, size: u64) -> Option<usize> {
    if index >= size {
        return None;
    }
    let (inner, border) = decompose_inclusion(index, size);
    Some((inner + border) as usize)
}

/// The exact consistency proof length for `0 < old_size < new_size`, or
/// `None` outside that range (where the proof must be empty or is invalid).
pub(crate) fn consistency_proof_len(old_size: u64, new_size: u64) -> Option<usize> {
    if old_size == 0 || old_size >= new_size {
        return None;
    }
    let (inner, border) = decompose_inclusion(old_size - 1, new_size);
    let shift = old_size.trailing_zeros();
    // When the old tree is itself a perfect subtree, its root is the verifier's
    // starting point and the proof omits it; otherwise the proof starts with
    // the root of the largest perfect subtree the old tree ends with.
    let seed = usize::from(old_size != 1u64 << shift);
    // inner > shift always holds for old_size < new_size, but saturate anyway.
    Some(seed + inner.saturating_sub(shift) as usize + border as usize)
}

/// Verifies an RFC 9162 §2.1.3.2 inclusion proof of the leaf hash `leaf` at
/// `index` in the tree of `size` leaves whose root is `root`.
///
/// The proof only binds the leaf to `(size, root)` as a pair; callers must
/// take both from the same authenticated source, such as one signed
/// [`Checkpoint`](crate::Checkpoint).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let Some(expected) = inclusion_proof_len(index, size) else {
        return Err(ProofError::IndexOutOfRange { index, size });
    };
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    // RFC 9162 §2.1.3.2 steps 2 to 5, with `f` and `s` for the RFC's fn and sn.
    let mut f = index;
    let mut s = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies an RFC 9162 §2.1.4.2 consistency proof that the tree of
/// `new_size` leaves with root `new_root` extends the tree of `old_size`
/// leaves with root `old_root`.
///
/// Edge cases the RFC leaves to the caller: equal sizes need an empty proof
/// and equal roots; an old size of 0 needs an empty proof and `old_root ==
/// empty_root()` (every tree extends the empty tree, so `new_root` is not
/// constrained then); an old size above the new size is an error.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OldSizeExceedsNewSize { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                expected: 0,
                actual: proof.len(),
            });
        }
        if old_size == 0 && *old_root != empty_root() {
            return Err(ProofError::OldRootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let Some(expected) = consistency_proof_len(old_size, new_size) else {
        // Unreachable: 0 < old_size < new_size here. Failing closed is still
        // the only acceptable behaviour.
        return Err(ProofError::OldSizeExceedsNewSize { old_size, new_size });
    };
    let wrong_length = ProofError::WrongProofLength {
        expected,
        actual: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }

    // Step 2: when the old tree is a perfect subtree its root starts the path.
    let old_is_perfect = old_size.is_power_of_two();
    let mut path = old_is_perfect
        .then_some(*old_root)
        .into_iter()
        .chain(proof.iter().copied());
    // Step 1 (non-empty path) is implied by the exact length check, but the
    // iterator is consulted anyway rather than indexed.
    let Some(first) = path.next() else {
        return Err(wrong_length);
    };
    // Steps 3 and 4.
    let mut f = old_size - 1;
    let mut s = new_size - 1;
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    // Step 5.
    let mut fr = first;
    let mut sr = first;
    // Step 6.
    for c in path {
        if s == 0 {
            return Err(wrong_length);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(&c, &fr);
            sr = node_hash(&c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, &c);
        }
        f >>= 1;
        s >>= 1;
    }
    // Step 7.
    if s != 0 {
        return Err(wrong_length);
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}
