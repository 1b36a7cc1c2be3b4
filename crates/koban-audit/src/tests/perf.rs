//! Timing checks at production scale. Ignored by default because they only
//! mean something in release mode:
//! `cargo test --release -p koban-audit -- --ignored --nocapture`.

use std::time::Instant;

use super::event::sample_event;
use crate::*;

const N: u64 = 1_000_000;

#[test]
#[ignore = "slow in debug builds; run with --release --ignored"]
fn verify_one_million_events() {
    // Build the stored log first; its cost is not part of verification.
    let mut f = Frontier::new();
    let events: Vec<StoredEvent> = (0..N)
        .map(|i| {
            let event = sample_event(i);
            let leaf_hash = event.leaf_hash();
            f.push(leaf_hash);
            StoredEvent {
                event,
                leaf_hash,
                tree_root: f.root(),
            }
        })
        .collect();

    let start = Instant::now();
    let mut v = Verifier::new(Vec::new(), Default::default());
    for ev in &events {
        v.push(ev).unwrap();
    }
    let summary = v.finish().unwrap();
    let elapsed = start.elapsed();
    println!(
        "verified {} events in {:?}",
        summary.events_checked, elapsed
    );
    assert_eq!(summary.final_root, f.root());
    assert!(elapsed.as_secs() < 10, "verification took {elapsed:?}");
}

#[test]
#[ignore = "slow in debug builds; run with --release --ignored"]
fn proofs_on_one_million_leaves() {
    let tree: MerkleTree = (0..N).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let start = Instant::now();
    let mut count = 0u32;
    for i in (0..N).step_by(997) {
        let size = N - (i % 5000);
        let root = tree.root_at(size).unwrap();
        let p = tree.inclusion_proof(i.min(size - 1), size).unwrap();
        verify_inclusion(
            &tree.leaf(i.min(size - 1)).unwrap(),
            i.min(size - 1),
            size,
            &p,
            &root,
        )
        .unwrap();
        let old = i.max(1);
        let c = tree.consistency_proof(old, size.max(old)).unwrap();
        verify_consistency(
            old,
            size.max(old),
            &tree.root_at(old).unwrap(),
            &tree.root_at(size.max(old)).unwrap(),
            &c,
        )
        .unwrap();
        count += 1;
    }
    let elapsed = start.elapsed();
    println!(
        "{count} rounds of root/inclusion/consistency generation+verification in {elapsed:?} ({:?} per round)",
        elapsed / count
    );
}
