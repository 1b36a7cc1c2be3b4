//! Property tests for proofs, their verification and the frontier encoding.

use proptest::prelude::*;

use crate::proof::{consistency_proof_len, inclusion_proof_len};
use crate::*;

const MAX_LEAVES: u64 = 1500;

fn tree_of(n: u64) -> MerkleTree {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut out = *h;
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

/// Every single-bit variant of `h`.
fn bit_flips(h: &Hash) -> impl Iterator<Item = Hash> + '_ {
    (0..HASH_LEN * 8).map(move |bit| flip(h, bit))
}

/// Proofs with one hash added (at either end or in the middle) or removed.
fn length_variants(proof: &[Hash]) -> Vec<Vec<Hash>> {
    let extra = leaf_hash(b"extra");
    let mut out = Vec::new();
    for pos in [0, proof.len() / 2, proof.len()] {
        let mut p = proof.to_vec();
        p.insert(pos, extra);
        out.push(p);
        // Duplicating an existing hash is the most plausible forgery.
        if let Some(h) = proof.get(pos) {
            let mut p = proof.to_vec();
            p.insert(pos, *h);
            out.push(p);
        }
    }
    for pos in 0..proof.len() {
        let mut p = proof.to_vec();
        p.remove(pos);
        out.push(p);
    }
    out
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(2),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(1 << 63),
        Just((1 << 63) - 1),
        0u64..100,
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn inclusion_proofs_verify_and_resist_tampering(
        n in 1..=MAX_LEAVES,
        size_seed in any::<u64>(),
        index_seed in any::<u64>(),
    ) {
        let tree = tree_of(n);
        let size = size_seed % n + 1;
        let index = index_seed % size;
        let leaf = tree.leaf(index).unwrap();
        let root = tree.root_at(size).unwrap();
        let proof = tree.inclusion_proof(index, size).unwrap();
        prop_assert_eq!(Some(proof.len()), inclusion_proof_len(index, size));
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_ok());

        for (i, h) in proof.iter().enumerate() {
            for bad in bit_flips(h) {
                let mut p = proof.clone();
                p[i] = bad;
                prop_assert!(verify_inclusion(&leaf, index, size, &p, &root).is_err());
            }
        }
        for bad in bit_flips(&leaf) {
            prop_assert!(verify_inclusion(&bad, index, size, &proof, &root).is_err());
        }
        for bad in bit_flips(&root) {
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &bad).is_err());
        }
        // Another position in the same tree never accepts the proof.
        for other in [index.wrapping_sub(1), index + 1] {
            prop_assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
        }
        // Another size, with that size's genuine root, never accepts it.
        for other in [size - 1, size + 1] {
            let other_root = if other <= n { tree.root_at(other).unwrap() } else { leaf_hash(b"beyond") };
            prop_assert!(verify_inclusion(&leaf, index, other, &proof, &other_root).is_err());
        }
        for p in length_variants(&proof) {
            let is_wrong_length = matches!(
                verify_inclusion(&leaf, index, size, &p, &root),
                Err(ProofError::WrongProofLength { .. })
            );
            prop_assert!(is_wrong_length);
        }
    }

    #[test]
    fn consistency_proofs_verify_and_resist_tampering(
        n in 1..=MAX_LEAVES,
        new_seed in any::<u64>(),
        old_seed in any::<u64>(),
    ) {
        let tree = tree_of(n);
        let new_size = new_seed % n + 1;
        let old_size = old_seed % (new_size + 1);
        let old_root = tree.root_at(old_size).unwrap();
        let new_root = tree.root_at(new_size).unwrap();
        let proof = tree.consistency_proof(old_size, new_size).unwrap();
        prop_assert_eq!(
            proof.len(),
            consistency_proof_len(old_size, new_size).unwrap_or(0)
        );
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof).is_ok());

        for (i, h) in proof.iter().enumerate() {
            for bad in bit_flips(h) {
                let mut p = proof.clone();
                p[i] = bad;
                prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &p).is_err());
            }
        }
        for bad in bit_flips(&old_root) {
            prop_assert!(verify_consistency(old_size, new_size, &bad, &new_root, &proof).is_err());
        }
        // Every tree extends the empty tree, so the new root is unconstrained then.
        if old_size > 0 {
            for bad in bit_flips(&new_root) {
                prop_assert!(verify_consistency(old_size, new_size, &old_root, &bad, &proof).is_err());
            }
        }
        let root_of = |s: u64| if s <= n { tree.root_at(s).unwrap() } else { leaf_hash(b"beyond") };
        // Other sizes, with their genuine roots, never accept the proof.
        for other_old in [old_size.wrapping_sub(1), old_size + 1] {
            // Old size 0 is consistent with everything, so it proves nothing here; and an
            // empty proof between equal sizes with equal roots is genuinely valid.
            if other_old == 0 || (other_old == new_size && proof.is_empty()) {
                continue;
            }
            prop_assert!(
                verify_consistency(other_old, new_size, &root_of(other_old), &new_root, &proof).is_err()
            );
        }
        if old_size > 0 {
            for other_new in [new_size - 1, new_size + 1] {
                prop_assert!(
                    verify_consistency(old_size, other_new, &old_root, &root_of(other_new), &proof).is_err()
                );
            }
        }
        for p in length_variants(&proof) {
            let is_wrong_length = matches!(
                verify_consistency(old_size, new_size, &old_root, &new_root, &p),
                Err(ProofError::WrongProofLength { .. })
            );
            prop_assert!(is_wrong_length);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn verifiers_never_panic(
        a in interesting_u64(),
        b in interesting_u64(),
        len in 0usize..=130,
        use_exact_len in any::<bool>(),
        seed in any::<[u8; 32]>(),
    ) {
        // Half the time the proof has exactly the expected length, so that the
        // hashing loops run on extreme sizes too, not only the length check.
        let incl_len = if use_exact_len { inclusion_proof_len(a, b).unwrap_or(len) } else { len };
        let proof = vec![seed; incl_len];
        let r = verify_inclusion(&seed, a, b, &proof, &seed);
        // Only the one-leaf tree, whose root is its leaf, can accept this.
        prop_assert!(r.is_err() || (a == 0 && b == 1 && incl_len == 0));

        let cons_len = if use_exact_len { consistency_proof_len(a, b).unwrap_or(len) } else { len };
        let proof = vec![seed; cons_len];
        let _ = verify_consistency(a, b, &seed, &seed, &proof);
        let _ = verify_consistency(a, b, &empty_root(), &seed, &proof);
    }

    #[test]
    fn tree_queries_never_panic(n in 0u64..40, a in interesting_u64(), b in interesting_u64()) {
        let tree = tree_of(n);
        let _ = tree.leaf(a);
        prop_assert_eq!(tree.root_at(a).is_ok(), a <= n);
        prop_assert_eq!(tree.inclusion_proof(a, b).is_ok(), a < b && b <= n);
        prop_assert_eq!(tree.consistency_proof(a, b).is_ok(), a <= b && b <= n);
    }

    #[test]
    fn frontier_from_arbitrary_bytes_is_canonical_or_rejected(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        if let Ok(f) = Frontier::from_bytes(&bytes) {
            prop_assert_eq!(f.to_bytes(), bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn frontier_matches_tree_and_round_trips(n in 0u64..3000, extra in 0u64..50) {
        let tree = tree_of(n);
        let mut frontier = Frontier::new();
        for i in 0..n {
            frontier.push(leaf_hash(&i.to_be_bytes()));
        }
        prop_assert_eq!(&frontier, &tree.frontier());
        prop_assert_eq!(frontier.root(), tree.root_at(n).unwrap());
        prop_assert_eq!(frontier.nodes().len() as u32, n.count_ones());

        let bytes = frontier.to_bytes();
        let mut restored = Frontier::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&restored, &frontier);

        // A restored frontier keeps appending exactly like the original tree.
        let mut longer = tree.clone();
        for i in n..n + extra {
            restored.push(leaf_hash(&i.to_be_bytes()));
            longer.push(leaf_hash(&i.to_be_bytes()));
        }
        prop_assert_eq!(restored.root(), longer.root_at(n + extra).unwrap());

        // One hash too many or too few is rejected.
        let mut more = bytes.clone();
        more.extend_from_slice(&[7; HASH_LEN]);
        prop_assert!(Frontier::from_bytes(&more).is_err());
        if n > 0 {
            prop_assert!(Frontier::from_bytes(&bytes[..bytes.len() - HASH_LEN]).is_err());
            prop_assert!(Frontier::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        }
        // A size whose popcount differs from the node count is rejected.
        let mut resized = bytes.clone();
        let other = if (n + 1).count_ones() != n.count_ones() { n + 1 } else { n + 2 };
        prop_assume!(other.count_ones() != n.count_ones());
        resized[..8].copy_from_slice(&other.to_be_bytes());
        prop_assert!(Frontier::from_bytes(&resized).is_err());
    }
}

/// The case proptest once found: old size 0, new size 1. The empty proof then also
/// (correctly) proves size 1 consistent with itself.
#[test]
fn empty_proof_between_equal_sizes_is_valid() {
    let tree = tree_of(3);
    let root1 = tree.root_at(1).unwrap();
    let proof = tree.consistency_proof(0, 1).unwrap();
    assert!(proof.is_empty());
    assert!(verify_consistency(1, 1, &root1, &root1, &proof).is_ok());
    assert!(verify_consistency(1, 1, &root1, &tree.root_at(2).unwrap(), &proof).is_err());
}
