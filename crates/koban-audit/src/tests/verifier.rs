//! The streaming verifier against a clean log and every kind of tampering.

use std::collections::HashMap;

use super::event::sample_event;
use crate::*;

const EVENTS: u64 = 300;
const CHECKPOINT_EVERY: u64 = 50;
const ORIGIN: &str = "koban.test/audit";

struct Log {
    events: Vec<StoredEvent>,
    checkpoints: Vec<StoredCheckpoint>,
    keys: HashMap<String, [u8; 32]>,
    key: SigningKey,
}

/// Recomputes every stored leaf hash and root from the events, as a writer
/// with database access (but without the signing key) could.
fn restamp(events: &mut [StoredEvent]) {
    let mut f = Frontier::new();
    for ev in events {
        ev.leaf_hash = ev.event.leaf_hash();
        f.push(ev.leaf_hash);
        ev.tree_root = f.root();
    }
}

fn stored(events: Vec<AuditEvent>) -> Vec<StoredEvent> {
    let mut out: Vec<StoredEvent> = events
        .into_iter()
        .map(|event| StoredEvent {
            event,
            leaf_hash: [0; 32],
            tree_root: [0; 32],
        })
        .collect();
    restamp(&mut out);
    out
}

fn sign_at(key: &SigningKey, events: &[StoredEvent], size: u64) -> StoredCheckpoint {
    let root = if size == 0 {
        empty_root()
    } else {
        events[size as usize - 1].tree_root
    };
    let checkpoint =
        Checkpoint::new(ORIGIN, size, root, 1_700_000_000_000_000 + size as i64).unwrap();
    StoredCheckpoint {
        signature: key.sign(&checkpoint).unwrap().to_vec(),
        key_id: key.key_id(),
        checkpoint,
    }
}

fn clean_log() -> Log {
    let key = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
    let events = stored((0..EVENTS).map(sample_event).collect());
    let mut checkpoints: Vec<StoredCheckpoint> = (1..=EVENTS / CHECKPOINT_EVERY)
        .map(|i| sign_at(&key, &events, i * CHECKPOINT_EVERY))
        .collect();
    // The verifier must not depend on the order checkpoints arrive in.
    checkpoints.reverse();
    checkpoints.swap(0, 3);
    let keys = HashMap::from([(key.key_id(), key.public_key())]);
    Log {
        events,
        checkpoints,
        keys,
        key,
    }
}

fn verify(
    events: &[StoredEvent],
    checkpoints: &[StoredCheckpoint],
    keys: &HashMap<String, [u8; 32]>,
) -> Result<VerifySummary, Fault> {
    let mut v = Verifier::new(checkpoints.to_vec(), keys.clone());
    for ev in events {
        v.push(ev)?;
    }
    v.finish()
}

fn run(log: &Log) -> Result<VerifySummary, Fault> {
    verify(&log.events, &log.checkpoints, &log.keys)
}

#[test]
fn clean_log_passes() {
    let log = clean_log();
    let summary = run(&log).unwrap();
    assert_eq!(summary.events_checked, EVENTS);
    assert_eq!(summary.final_size, EVENTS);
    assert_eq!(summary.checkpoints_checked, EVENTS / CHECKPOINT_EVERY);
    assert_eq!(summary.final_root, log.events.last().unwrap().tree_root);
    let tree: MerkleTree = log.events.iter().map(|e| e.leaf_hash).collect();
    assert_eq!(summary.final_root, tree.root_at(EVENTS).unwrap());
}

#[test]
fn empty_log_passes_and_checks_size_zero_checkpoints() {
    let key = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
    let keys = HashMap::from([(key.key_id(), key.public_key())]);
    let summary = verify(&[], &[], &keys).unwrap();
    assert_eq!(summary.final_size, 0);
    assert_eq!(summary.final_root, empty_root());
    let zero = sign_at(&key, &[], 0);
    assert_eq!(
        verify(&[], std::slice::from_ref(&zero), &keys)
            .unwrap()
            .checkpoints_checked,
        1
    );
    let mut bad = zero;
    bad.checkpoint.root_hash = leaf_hash(b"not empty");
    bad.signature = key.sign(&bad.checkpoint).unwrap().to_vec();
    assert_eq!(
        verify(&[], &[bad], &keys),
        Err(Fault::CheckpointMismatch {
            tree_size: 0,
            first_suspect_seq: 0
        })
    );
}

#[test]
fn altered_event_with_stale_leaf_hash() {
    let mut log = clean_log();
    log.events[137].event.result = "failure".into();
    assert_eq!(run(&log), Err(Fault::EventAltered { seq: 137 }));
    let mut log = clean_log();
    log.events[0].event.detail = "{}".into();
    assert_eq!(run(&log), Err(Fault::EventAltered { seq: 0 }));
}

#[test]
fn altered_event_with_recomputed_leaf_hash() {
    let mut log = clean_log();
    log.events[137].event.actor_name = "someone-else".into();
    log.events[137].leaf_hash = log.events[137].event.leaf_hash();
    assert_eq!(run(&log), Err(Fault::RootMismatch { seq: 137 }));
}

#[test]
fn altered_event_with_everything_recomputed_is_caught_by_checkpoint() {
    let mut log = clean_log();
    log.events[137].event.scope_pref = None;
    restamp(&mut log.events);
    assert_eq!(
        run(&log),
        Err(Fault::CheckpointMismatch {
            tree_size: 150,
            first_suspect_seq: 100
        })
    );
}

#[test]
fn deleted_event() {
    for k in [0usize, 42, 150, 298] {
        let mut log = clean_log();
        log.events.remove(k);
        assert_eq!(
            run(&log),
            Err(Fault::Gap {
                expected_seq: k as u64,
                found_seq: k as u64 + 1
            }),
            "deleted {k}"
        );
    }
    // Deleting the very last event leaves no gap; the final checkpoint catches it.
    let mut log = clean_log();
    log.events.pop();
    assert_eq!(
        run(&log),
        Err(Fault::Truncated {
            checkpoint_size: 300,
            log_size: 299
        })
    );
}

#[test]
fn swapped_events_keeping_their_seqs() {
    let mut log = clean_log();
    log.events.swap(70, 71);
    assert_eq!(
        run(&log),
        Err(Fault::Gap {
            expected_seq: 70,
            found_seq: 71
        })
    );
}

#[test]
fn swapped_events_renumbered() {
    // Seqs rewritten to look contiguous, stored hashes left alone.
    let mut log = clean_log();
    log.events.swap(70, 71);
    log.events[70].event.seq = 70;
    log.events[71].event.seq = 71;
    assert_eq!(run(&log), Err(Fault::EventAltered { seq: 70 }));

    // Leaf hashes recomputed too, roots left alone.
    for ev in &mut log.events[70..=71] {
        ev.leaf_hash = ev.event.leaf_hash();
    }
    assert_eq!(run(&log), Err(Fault::RootMismatch { seq: 70 }));

    // Everything recomputed: only the signed checkpoint can tell.
    restamp(&mut log.events);
    assert_eq!(
        run(&log),
        Err(Fault::CheckpointMismatch {
            tree_size: 100,
            first_suspect_seq: 50
        })
    );
}

#[test]
fn swapped_events_with_only_seqs_and_hashes_swapped() {
    // Rows swapped wholesale but each keeps its original seq and hashes, then
    // the seq columns swapped back: contents and stored leaf hashes match,
    // but the leaf hash binds the seq, so the renumbered event is altered.
    let mut log = clean_log();
    log.events.swap(10, 11);
    let (a, b) = (log.events[10].event.seq, log.events[11].event.seq);
    log.events[10].event.seq = b;
    log.events[11].event.seq = a;
    assert_eq!(run(&log), Err(Fault::EventAltered { seq: 10 }));
}

#[test]
fn inserted_forged_event() {
    let mut log = clean_log();
    let mut forged = sample_event(120);
    forged.action = "user.create".into();
    forged.actor_name = "intruder".into();
    let mut events: Vec<AuditEvent> = log.events.iter().map(|e| e.event.clone()).collect();
    events.insert(120, forged);
    for (i, ev) in events.iter_mut().enumerate() {
        ev.seq = i as u64;
    }
    log.events = stored(events);
    assert_eq!(
        run(&log),
        Err(Fault::CheckpointMismatch {
            tree_size: 150,
            first_suspect_seq: 100
        })
    );
    // Before the first checkpoint the suspect range starts at seq 0.
    let mut log = clean_log();
    let mut events: Vec<AuditEvent> = log.events.iter().map(|e| e.event.clone()).collect();
    events.insert(3, sample_event(3));
    for (i, ev) in events.iter_mut().enumerate() {
        ev.seq = i as u64;
    }
    log.events = stored(events);
    assert_eq!(
        run(&log),
        Err(Fault::CheckpointMismatch {
            tree_size: 50,
            first_suspect_seq: 0
        })
    );
}

#[test]
fn truncated_tail() {
    let mut log = clean_log();
    log.events.truncate(280);
    assert_eq!(
        run(&log),
        Err(Fault::Truncated {
            checkpoint_size: 300,
            log_size: 280
        })
    );
    let mut log = clean_log();
    log.events.truncate(230);
    assert_eq!(
        run(&log),
        Err(Fault::Truncated {
            checkpoint_size: 250,
            log_size: 230
        })
    );
    let mut log = clean_log();
    log.events.clear();
    assert_eq!(
        run(&log),
        Err(Fault::Truncated {
            checkpoint_size: 50,
            log_size: 0
        })
    );
    // Truncating exactly at a checkpoint is only detectable if a later one exists.
    let mut log = clean_log();
    log.events.truncate(250);
    assert_eq!(
        run(&log),
        Err(Fault::Truncated {
            checkpoint_size: 300,
            log_size: 250
        })
    );
}

#[test]
fn forged_checkpoint_signature() {
    let mut log = clean_log();
    let cp = log
        .checkpoints
        .iter_mut()
        .find(|c| c.checkpoint.tree_size == 200)
        .unwrap();
    cp.signature[5] ^= 0x20;
    assert_eq!(
        run(&log),
        Err(Fault::CheckpointSignature { tree_size: 200 })
    );

    // A checkpoint edited to match a rewritten log no longer verifies.
    let mut log = clean_log();
    log.events[160].event.purpose = None;
    restamp(&mut log.events);
    for cp in &mut log.checkpoints {
        let size = cp.checkpoint.tree_size as usize;
        cp.checkpoint.root_hash = log.events[size - 1].tree_root;
    }
    assert_eq!(
        run(&log),
        Err(Fault::CheckpointSignature { tree_size: 200 })
    );

    // Signed by an attacker's key that claims the trusted key's id.
    let mut log = clean_log();
    let attacker = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
    let cp = log
        .checkpoints
        .iter_mut()
        .find(|c| c.checkpoint.tree_size == 100)
        .unwrap();
    cp.signature = attacker.sign(&cp.checkpoint).unwrap().to_vec();
    assert_eq!(
        run(&log),
        Err(Fault::CheckpointSignature { tree_size: 100 })
    );

    // A truncated signature is a bad signature, not a panic.
    let mut log = clean_log();
    log.checkpoints[0].signature.truncate(10);
    let size = log.checkpoints[0].checkpoint.tree_size;
    assert_eq!(
        run(&log),
        Err(Fault::CheckpointSignature { tree_size: size })
    );
}

#[test]
fn unknown_key() {
    let mut log = clean_log();
    let attacker = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
    let extra = sign_at(&attacker, &log.events, 75);
    log.checkpoints.push(extra);
    assert_eq!(
        run(&log),
        Err(Fault::UnknownKey {
            key_id: attacker.key_id()
        })
    );
    // Trusting the key makes the same (honest) checkpoint acceptable.
    log.keys.insert(attacker.key_id(), attacker.public_key());
    assert_eq!(
        run(&log).unwrap().checkpoints_checked,
        EVENTS / CHECKPOINT_EVERY + 1
    );
}

#[test]
fn several_checkpoints_at_one_size() {
    let mut log = clean_log();
    let again = sign_at(&log.key, &log.events, 100);
    log.checkpoints.push(again);
    assert_eq!(
        run(&log).unwrap().checkpoints_checked,
        EVENTS / CHECKPOINT_EVERY + 1
    );
}

#[test]
fn faults_are_sticky_and_displayed_by_seq() {
    let mut log = clean_log();
    log.events[20].event.action = "case.delete".into();
    let mut v = Verifier::new(log.checkpoints.clone(), log.keys.clone());
    let mut first = None;
    for ev in &log.events {
        if let Err(f) = v.push(ev) {
            first.get_or_insert(f.clone());
            assert_eq!(Some(&f), first.as_ref());
        }
    }
    assert_eq!(v.finish(), Err(Fault::EventAltered { seq: 20 }));
    assert!(
        Fault::EventAltered { seq: 20 }
            .to_string()
            .contains("seq 20")
    );
    assert!(
        Fault::Gap {
            expected_seq: 7,
            found_seq: 9
        }
        .to_string()
        .contains("seq 7")
    );
    assert!(Fault::RootMismatch { seq: 3 }.to_string().contains("seq 3"));
    let s = Fault::CheckpointMismatch {
        tree_size: 150,
        first_suspect_seq: 100,
    }
    .to_string();
    assert!(s.contains("150") && s.contains("seq 100"), "{s}");
    assert!(
        Fault::Truncated {
            checkpoint_size: 300,
            log_size: 280
        }
        .to_string()
        .contains("300")
    );
}

#[test]
fn stored_roots_match_tree_and_proofs_verify() {
    // The stored log is also a valid source for proofs: cross-check a few.
    let log = clean_log();
    let tree: MerkleTree = log.events.iter().map(|e| e.leaf_hash).collect();
    for cp in &log.checkpoints {
        let size = cp.checkpoint.tree_size;
        assert_eq!(tree.root_at(size).unwrap(), cp.checkpoint.root_hash);
        let proof = tree.inclusion_proof(size - 1, size).unwrap();
        verify_inclusion(
            &tree.leaf(size - 1).unwrap(),
            size - 1,
            size,
            &proof,
            &cp.checkpoint.root_hash,
        )
        .unwrap();
        let proof = tree.consistency_proof(size, EVENTS).unwrap();
        verify_consistency(
            size,
            EVENTS,
            &cp.checkpoint.root_hash,
            &tree.root_at(EVENTS).unwrap(),
            &proof,
        )
        .unwrap();
    }
}
