//! Reference Merkle tree algorithms transcribed from RFC 6962 §2.1 / RFC 9162 §2.1.

use ring::digest::{SHA256, digest};

use crate::Hash;

fn sha256(bytes: &[u8]) -> Hash {
    digest(&SHA256, bytes).as_ref().try_into().unwrap()
}

/// MTH({d0}) = SHA-256(0x00 || d0).
pub fn leaf(d: &[u8]) -> Hash {
    let mut buf = vec![0x00];
    buf.extend_from_slice(d);
    sha256(&buf)
}

/// SHA-256(0x01 || left || right).
pub fn node(left: &Hash, right: &Hash) -> Hash {
    let mut buf = vec![0x01];
    buf.extend_from_slice(left);
    buf.extend_from_slice(right);
    sha256(&buf)
}

/// The largest power of two smaller than n (n > 1), found by counting up.
pub fn k_for(n: usize) -> usize {
    assert!(n > 1);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]) over raw leaf inputs.
pub fn mth(d: &[Vec<u8>]) -> Hash {
    match d.len() {
        0 => sha256(b""),
        1 => leaf(&d[0]),
        n => {
            let k = k_for(n);
            node(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// PATH(m, D[n]).
pub fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    let n = d.len();
    assert!(m < n);
    if n == 1 {
        return Vec::new();
    }
    let k = k_for(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// SUBPROOF(m, D[n], b).
fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let k = k_for(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

/// PROOF(m, D[n]) for 0 < m < n.
pub fn proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    assert!(0 < m && m < d.len());
    subproof(m, d, true)
}

/// Leaf inputs used throughout the tests: distinct, of varying lengths.
pub fn inputs(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("leaf-{i}").repeat(i % 3 + 1).into_bytes())
        .collect()
}
