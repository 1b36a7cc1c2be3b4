//! Reference behaviour: the crate against the naive RFC transcription.

use super::naive;
use crate::proof::{consistency_proof_len, inclusion_proof_len};
use crate::tree::split_point;
use crate::*;

const MAX_N: usize = 64;

fn build(d: &[Vec<u8>]) -> (MerkleTree, Frontier) {
    let mut tree = MerkleTree::new();
    let mut frontier = Frontier::new();
    for x in d {
        tree.push(leaf_hash(x));
        frontier.push(leaf_hash(x));
    }
    (tree, frontier)
}

#[test]
fn primitives_match_the_rfc_definitions() {
    assert_eq!(leaf_hash(b"abc"), naive::leaf(b"abc"));
    let (a, b) = (naive::leaf(b"a"), naive::leaf(b"b"));
    assert_eq!(node_hash(&a, &b), naive::node(&a, &b));
    assert_eq!(
        hex(&empty_root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(empty_root(), naive::mth(&[]));
}

#[test]
fn split_point_is_largest_power_of_two_below() {
    for n in 2..=1000usize {
        assert_eq!(split_point(n as u64), naive::k_for(n) as u64, "n = {n}");
    }
    assert_eq!(split_point(u64::MAX), 1 << 63);
    assert_eq!(split_point((1 << 63) + 1), 1 << 63);
    assert_eq!(split_point(1 << 63), 1 << 62);
}

#[test]
fn roots_agree_with_naive_mth_for_all_sizes() {
    let d = naive::inputs(MAX_N);
    let (tree, _) = build(&d);
    let mut frontier = Frontier::new();
    assert_eq!(frontier.root(), naive::mth(&[]));
    for n in 0..=MAX_N {
        let expected = naive::mth(&d[..n]);
        assert_eq!(frontier.size(), n as u64);
        assert_eq!(frontier.root(), expected, "frontier root, n = {n}");
        assert_eq!(
            tree.root_at(n as u64).unwrap(),
            expected,
            "root_at, n = {n}"
        );
        // A tree holding exactly n leaves must agree with the bigger one.
        let (small, _) = build(&d[..n]);
        assert_eq!(small.root_at(n as u64).unwrap(), expected);
        assert_eq!(small.frontier(), frontier, "frontier from tree, n = {n}");
        if n < MAX_N {
            frontier.push(leaf_hash(&d[n]));
        }
    }
}

#[test]
fn inclusion_proofs_match_naive_path_and_verify() {
    let d = naive::inputs(MAX_N);
    let (tree, _) = build(&d);
    for n in 1..=MAX_N {
        let root = naive::mth(&d[..n]);
        for m in 0..n {
            let expected = naive::path(m, &d[..n]);
            let got = tree.inclusion_proof(m as u64, n as u64).unwrap();
            assert_eq!(got, expected, "PATH({m}, D[{n}])");
            assert_eq!(
                inclusion_proof_len(m as u64, n as u64),
                Some(expected.len())
            );
            verify_inclusion(&naive::leaf(&d[m]), m as u64, n as u64, &got, &root).unwrap();
        }
    }
}

#[test]
fn consistency_proofs_match_naive_proof_and_verify() {
    let d = naive::inputs(MAX_N);
    let (tree, _) = build(&d);
    for n in 1..=MAX_N {
        let new_root = naive::mth(&d[..n]);
        for m in 0..=n {
            let old_root = naive::mth(&d[..m]);
            let got = tree.consistency_proof(m as u64, n as u64).unwrap();
            if m == 0 || m == n {
                assert!(got.is_empty());
                assert_eq!(consistency_proof_len(m as u64, n as u64), None);
            } else {
                let expected = naive::proof(m, &d[..n]);
                assert_eq!(got, expected, "PROOF({m}, D[{n}])");
                assert_eq!(
                    consistency_proof_len(m as u64, n as u64),
                    Some(expected.len())
                );
            }
            verify_consistency(m as u64, n as u64, &old_root, &new_root, &got).unwrap();
        }
    }
}

/// RFC 6962's reference test tree from the Certificate Transparency code base.
#[test]
fn rfc6962_reference_vectors() {
    let inputs: Vec<Vec<u8>> = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap())
    .collect();
    // Roots for sizes 1..=8 as published with the CT reference tests; each is
    // also checked against the naive MTH rather than trusted on its own.
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let (tree, frontier) = build(&inputs);
    for (i, want) in roots.iter().enumerate() {
        let n = i + 1;
        let want = parse_hex_hash(want).unwrap();
        assert_eq!(
            naive::mth(&inputs[..n]),
            want,
            "naive MTH disagrees with vector, n = {n}"
        );
        assert_eq!(tree.root_at(n as u64).unwrap(), want, "n = {n}");
    }
    assert_eq!(hex(&frontier.root()), roots[7]);
}

#[test]
fn tree_rejects_out_of_range_requests() {
    let d = naive::inputs(10);
    let (tree, _) = build(&d);
    let empty = MerkleTree::new();
    assert_eq!(empty.size(), 0);
    assert_eq!(empty.root_at(0).unwrap(), empty_root());
    assert_eq!(empty.leaf(0), None);
    assert!(matches!(
        empty.root_at(1),
        Err(ProofError::SizeOutOfRange { .. })
    ));
    assert!(matches!(
        empty.inclusion_proof(0, 0),
        Err(ProofError::IndexOutOfRange { .. })
    ));
    assert_eq!(empty.consistency_proof(0, 0).unwrap(), Vec::<Hash>::new());

    assert_eq!(tree.leaf(9), Some(leaf_hash(&d[9])));
    assert_eq!(tree.leaf(10), None);
    assert_eq!(tree.leaf(u64::MAX), None);
    for size in [11, 12, u64::MAX] {
        assert!(matches!(
            tree.root_at(size),
            Err(ProofError::SizeOutOfRange { .. })
        ));
        assert!(matches!(
            tree.inclusion_proof(0, size),
            Err(ProofError::SizeOutOfRange { .. })
        ));
        assert!(matches!(
            tree.consistency_proof(1, size),
            Err(ProofError::SizeOutOfRange { .. })
        ));
    }
    for (index, size) in [(10, 10), (5, 5), (0, 0), (u64::MAX, 10)] {
        assert_eq!(
            tree.inclusion_proof(index, size),
            Err(ProofError::IndexOutOfRange { index, size })
        );
    }
    assert_eq!(
        tree.consistency_proof(6, 5),
        Err(ProofError::OldSizeExceedsNewSize {
            old_size: 6,
            new_size: 5
        })
    );
    assert_eq!(
        tree.consistency_proof(u64::MAX, 5),
        Err(ProofError::OldSizeExceedsNewSize {
            old_size: u64::MAX,
            new_size: 5
        })
    );
}

#[test]
fn verifiers_reject_degenerate_inputs() {
    let h = leaf_hash(b"x");
    let e = empty_root();
    // Size 0 holds nothing.
    assert!(matches!(
        verify_inclusion(&h, 0, 0, &[], &e),
        Err(ProofError::IndexOutOfRange { .. })
    ));
    // Index equal to or beyond the size.
    assert!(matches!(
        verify_inclusion(&h, 1, 1, &[], &h),
        Err(ProofError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        verify_inclusion(&h, u64::MAX, u64::MAX, &[h; 64], &h),
        Err(ProofError::IndexOutOfRange { .. })
    ));
    // A single leaf tree: the leaf is the root and the proof is empty.
    verify_inclusion(&h, 0, 1, &[], &h).unwrap();
    assert!(matches!(
        verify_inclusion(&h, 0, 1, &[h], &h),
        Err(ProofError::WrongProofLength {
            expected: 0,
            actual: 1
        })
    ));
    // The full 64 levels of a huge tree still verify hash by hash.
    for (index, want_len) in [(0, 64), (u64::MAX - 1, 63), (1 << 62, 64)] {
        let len = inclusion_proof_len(index, u64::MAX).unwrap();
        assert_eq!(len, want_len);
        assert_eq!(
            verify_inclusion(&h, index, u64::MAX, &vec![h; len], &h),
            Err(ProofError::RootMismatch)
        );
    }

    // Consistency edge cases.
    verify_consistency(0, 0, &e, &e, &[]).unwrap();
    verify_consistency(0, 5, &e, &h, &[]).unwrap();
    assert_eq!(
        verify_consistency(0, 5, &h, &h, &[]),
        Err(ProofError::OldRootMismatch)
    );
    assert!(matches!(
        verify_consistency(0, 5, &e, &h, &[h]),
        Err(ProofError::WrongProofLength { .. })
    ));
    verify_consistency(7, 7, &h, &h, &[]).unwrap();
    assert_eq!(
        verify_consistency(7, 7, &h, &e, &[]),
        Err(ProofError::RootMismatch)
    );
    assert!(matches!(
        verify_consistency(7, 7, &h, &h, &[h]),
        Err(ProofError::WrongProofLength { .. })
    ));
    assert!(matches!(
        verify_consistency(8, 7, &h, &h, &[]),
        Err(ProofError::OldSizeExceedsNewSize { .. })
    ));
    assert!(matches!(
        verify_consistency(3, 7, &h, &h, &[]),
        Err(ProofError::WrongProofLength { actual: 0, .. })
    ));
    assert!(matches!(
        verify_consistency(u64::MAX - 1, u64::MAX, &h, &h, &[]),
        Err(ProofError::WrongProofLength { .. })
    ));
    let len = consistency_proof_len(u64::MAX - 1, u64::MAX).unwrap();
    assert!(verify_consistency(u64::MAX - 1, u64::MAX, &h, &h, &vec![h; len]).is_err());
    let len = consistency_proof_len(1, u64::MAX).unwrap();
    assert!(verify_consistency(1, u64::MAX, &h, &h, &vec![h; len]).is_err());
}

/// An inclusion proof binds the leaf to a (size, root) pair only: where two
/// sizes give the leaf's path the same shape, a proof checks out under the
/// other size with the same root. This is inherent in RFC 9162 and why sizes
/// and roots must come together from one signed checkpoint. Against the
/// genuine root of the other size it fails.
#[test]
fn inclusion_proof_binds_size_and_root_only_together() {
    let d = naive::inputs(4);
    let (tree, _) = build(&d);
    let proof = tree.inclusion_proof(0, 4).unwrap();
    let root4 = tree.root_at(4).unwrap();
    let leaf0 = leaf_hash(&d[0]);
    assert!(verify_inclusion(&leaf0, 0, 3, &proof, &root4).is_ok());
    assert_eq!(
        verify_inclusion(&leaf0, 0, 3, &proof, &tree.root_at(3).unwrap()),
        Err(ProofError::RootMismatch)
    );
}

#[test]
fn hex_helpers() {
    let h = leaf_hash(b"abc");
    let s = hex(&h);
    assert_eq!(s.len(), 64);
    assert_eq!(s, s.to_lowercase());
    assert_eq!(parse_hex_hash(&s).unwrap(), h);
    assert_eq!(parse_hex_hash(&s.to_uppercase()).unwrap(), h);
    assert!(parse_hex_hash(&s[..62]).is_err());
    assert!(parse_hex_hash(&format!("{s}00")).is_err());
    assert!(parse_hex_hash(&format!("{}zz", &s[..62])).is_err());
    assert!(parse_hex_hash("").is_err());
    // Multi-byte characters must not be mistaken for hex digits or cause a panic.
    assert!(parse_hex_hash(&"é".repeat(32)).is_err());
    assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
}

#[test]
fn frontier_bytes_reject_inconsistent_input() {
    let mut f = Frontier::new();
    assert_eq!(f.to_bytes(), vec![0; 8]);
    assert_eq!(Frontier::from_bytes(&[0; 8]).unwrap(), f);
    for i in 0..7u32 {
        f.push(leaf_hash(&i.to_be_bytes()));
    }
    let bytes = f.to_bytes();
    assert_eq!(bytes.len(), 8 + 3 * 32);
    assert_eq!(Frontier::from_bytes(&bytes).unwrap(), f);
    assert!(Frontier::from_bytes(&[]).is_err());
    assert!(Frontier::from_bytes(&bytes[..7]).is_err());
    assert!(Frontier::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    assert!(Frontier::from_bytes(&bytes[..bytes.len() - 32]).is_err());
    let mut extra = bytes.clone();
    extra.extend_from_slice(&[0; 32]);
    assert!(Frontier::from_bytes(&extra).is_err());
    // Size 8 has one set bit, so three nodes are inconsistent with it.
    let mut wrong_size = bytes.clone();
    wrong_size[..8].copy_from_slice(&8u64.to_be_bytes());
    assert!(Frontier::from_bytes(&wrong_size).is_err());
    // Size 11 also has three set bits: structurally valid, so it is accepted.
    wrong_size[..8].copy_from_slice(&11u64.to_be_bytes());
    assert_eq!(Frontier::from_bytes(&wrong_size).unwrap().size(), 11);
    // Huge sizes are refused so that later pushes can never overflow.
    let mut huge = u64::MAX.to_be_bytes().to_vec();
    huge.extend_from_slice(&[0; 64 * 32]);
    assert!(Frontier::from_bytes(&huge).is_err());
    let mut max = MAX_FRONTIER_SIZE.to_be_bytes().to_vec();
    max.extend_from_slice(&[0; 63 * 32]);
    let mut loaded = Frontier::from_bytes(&max).unwrap();
    loaded.push(leaf_hash(b"next"));
    assert_eq!(loaded.size(), MAX_FRONTIER_SIZE + 1);
    assert_eq!(loaded.nodes().len(), 1);
}
