//! Streaming verification of a stored audit log.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use crate::{AuditEvent, Checkpoint, Frontier, Hash, empty_root, verify_checkpoint};

/// An event as stored: the event plus the leaf hash and the tree root after
/// appending it, both as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub event: AuditEvent,
    pub leaf_hash: Hash,
    pub tree_root: Hash,
}

/// A signed checkpoint as stored, with the id of the key that signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub checkpoint: Checkpoint,
    pub key_id: String,
    pub signature: Vec<u8>,
}

/// Evidence that a stored log is not what was originally written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The next stored event does not have the expected position: an event
    /// was removed or the rows were reordered.
    #[error(
        "event seq {expected_seq} is missing or out of order: found seq {found_seq} in its place"
    )]
    Gap { expected_seq: u64, found_seq: u64 },
    /// The event's contents no longer match its stored leaf hash.
    #[error("event seq {seq} was altered: its contents do not match its stored leaf hash")]
    EventAltered { seq: u64 },
    /// The recomputed tree root after the event differs from the stored one:
    /// an event was altered, inserted or reordered together with a forged
    /// leaf hash.
    #[error(
        "tree root after event seq {seq} does not match the stored root: \
         events up to seq {seq} were altered, inserted or reordered"
    )]
    RootMismatch { seq: u64 },
    /// A validly signed checkpoint disagrees with the recomputed tree: the
    /// stored log was rewritten consistently but cannot reproduce the signed
    /// root.
    #[error(
        "signed checkpoint at tree size {tree_size} does not match the log: \
         the log was rewritten at or after event seq {first_suspect_seq}"
    )]
    CheckpointMismatch {
        tree_size: u64,
        first_suspect_seq: u64,
    },
    /// A checkpoint's signature does not verify under its key.
    #[error("signature on the checkpoint at tree size {tree_size} is invalid")]
    CheckpointSignature { tree_size: u64 },
    /// A checkpoint names a key that is not among the trusted keys.
    #[error("checkpoint is signed by unknown key {key_id}")]
    UnknownKey { key_id: String },
    /// A signed checkpoint covers events that are no longer in the log.
    #[error(
        "log was truncated: a signed checkpoint covers {checkpoint_size} events \
         but the log holds only {log_size}"
    )]
    Truncated { checkpoint_size: u64, log_size: u64 },
}

/// The result of verifying a whole log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifySummary {
    pub events_checked: u64,
    pub checkpoints_checked: u64,
    pub final_root: Hash,
    pub final_size: u64,
}

/// Re-derives the Merkle tree of a stored log event by event and checks it
/// against the stored leaf hashes, stored roots and signed checkpoints.
///
/// Memory stays O(log n + checkpoints): only a [`Frontier`] is kept, because
/// every check needs the current root only.
#[derive(Debug)]
pub struct Verifier {
    frontier: Frontier,
    /// Checkpoints by tree size; several may share a size (re-signing, key rotation).
    checkpoints: BTreeMap<u64, Vec<StoredCheckpoint>>,
    keys: HashMap<String, [u8; 32]>,
    checkpoints_checked: u64,
    /// Tree size of the last checkpoint that verified, for localising faults.
    last_good_checkpoint: u64,
    /// Whether checkpoints of size 0 have been checked yet.
    started: bool,
    /// The first fault, kept so that later calls keep failing rather than
    /// continuing from a state that no longer means anything.
    fault: Option<Fault>,
}

impl Verifier {
    /// `checkpoints` in any order; `keys` maps key_id -> public key.
    pub fn new(checkpoints: Vec<StoredCheckpoint>, keys: HashMap<String, [u8; 32]>) -> Self {
        let mut by_size: BTreeMap<u64, Vec<StoredCheckpoint>> = BTreeMap::new();
        for cp in checkpoints {
            by_size.entry(cp.checkpoint.tree_size).or_default().push(cp);
        }
        Self {
            frontier: Frontier::new(),
            checkpoints: by_size,
            keys,
            checkpoints_checked: 0,
            last_good_checkpoint: 0,
            started: false,
            fault: None,
        }
    }

    /// Feeds the next event in stored order (ascending seq) and returns the
    /// first fault found. Checks, in this order: seq is the expected next
    /// position; the recomputed leaf hash equals the stored one; after
    /// appending, the recomputed root equals the stored tree_root; and every
    /// checkpoint with tree_size equal to the new size has a valid signature
    /// and the recomputed root. Once a fault is found, every later call
    /// returns that same fault.
    pub fn push(&mut self, ev: &StoredEvent) -> Result<(), Fault> {
        if let Some(fault) = &self.fault {
            return Err(fault.clone());
        }
        let result = self.push_inner(ev);
        if let Err(fault) = &result {
            self.fault = Some(fault.clone());
        }
        result
    }

    fn push_inner(&mut self, ev: &StoredEvent) -> Result<(), Fault> {
        self.start()?;
        let expected_seq = self.frontier.size();
        let seq = ev.event.seq;
        if seq != expected_seq {
            return Err(Fault::Gap {
                expected_seq,
                found_seq: seq,
            });
        }
        if ev.event.leaf_hash() != ev.leaf_hash {
            return Err(Fault::EventAltered { seq });
        }
        self.frontier.push(ev.leaf_hash);
        let root = self.frontier.root();
        if root != ev.tree_root {
            return Err(Fault::RootMismatch { seq });
        }
        self.check_checkpoints_at(self.frontier.size(), &root)
    }

    /// Checks checkpoints of the empty tree, which no event push reaches.
    fn start(&mut self) -> Result<(), Fault> {
        if !self.started {
            self.started = true;
            self.check_checkpoints_at(0, &empty_root())?;
        }
        Ok(())
    }

    fn check_checkpoints_at(&mut self, tree_size: u64, root: &Hash) -> Result<(), Fault> {
        let Some(list) = self.checkpoints.get(&tree_size) else {
            return Ok(());
        };
        for sc in list {
            let key = self.keys.get(&sc.key_id).ok_or_else(|| Fault::UnknownKey {
                key_id: sc.key_id.clone(),
            })?;
            // The signature is checked before the root so that a forged
            // checkpoint is reported as a forgery, not as log tampering.
            verify_checkpoint(key, &sc.checkpoint, &sc.signature)
                .map_err(|_| Fault::CheckpointSignature { tree_size })?;
            if sc.checkpoint.root_hash != *root {
                return Err(Fault::CheckpointMismatch {
                    tree_size,
                    first_suspect_seq: self.last_good_checkpoint,
                });
            }
            self.checkpoints_checked += 1;
        }
        self.last_good_checkpoint = tree_size;
        Ok(())
    }

    /// Call after the last event: any checkpoint beyond the log's size is a
    /// [`Fault::Truncated`]. Returns a summary of what was checked.
    pub fn finish(mut self) -> Result<VerifySummary, Fault> {
        if let Some(fault) = self.fault {
            return Err(fault);
        }
        self.start()?;
        let log_size = self.frontier.size();
        // The smallest checkpoint beyond the end tells how much is missing at least.
        if let Some((&checkpoint_size, _)) = self
            .checkpoints
            .range((Bound::Excluded(log_size), Bound::Unbounded))
            .next()
        {
            return Err(Fault::Truncated {
                checkpoint_size,
                log_size,
            });
        }
        Ok(VerifySummary {
            events_checked: log_size,
            checkpoints_checked: self.checkpoints_checked,
            final_root: self.frontier.root(),
            final_size: log_size,
        })
    }
}
