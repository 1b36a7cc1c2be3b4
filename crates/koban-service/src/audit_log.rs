//! Appending to the tamper-evident audit log, and answering proofs about it.
//!
//! Every audited operation calls [`AuditLog::append`] inside the operation's own database
//! transaction. The append reads the signed head (locking it on PostgreSQL), extends the
//! RFC 9162 Merkle tree by one leaf, stores the event with its leaf hash and the new root,
//! and rewrites the head with a fresh Ed25519 signature. Every so often the signed head is
//! also kept as a checkpoint row, so that an altered history is caught even if the latest
//! head is replaced wholesale.

use std::path::Path;

use koban_audit::{
    AuditEvent, Checkpoint, Frontier, Hash, MerkleTree, SigningKey, StoredCheckpoint, StoredEvent,
};
use koban_store::{AuditHead, Store, Tx};
use tokio::sync::Mutex;

use crate::ServiceError;

/// File in the data directory holding the PKCS#8 Ed25519 signing key.
pub const SIGNING_KEY_FILE: &str = "audit-signing-key.p8";

/// A checkpoint row is kept at least every this many events…
pub const CHECKPOINT_EVERY_EVENTS: u64 = 1000;
/// …and at least this often while events are being written.
pub const CHECKPOINT_EVERY_US: i64 = 60 * 1_000_000;

/// Leaves fetched per round trip when the proof cache catches up with storage.
const CACHE_FILL_BATCH: u32 = 50_000;

/// An audit event before it has a place in the log.
#[derive(Clone, Debug, Default)]
pub struct EventDraft {
    pub actor_id: Option<String>,
    pub actor_name: String,
    pub actor_roles: String,
    pub actor_unit: Option<String>,
    pub action: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub scope_pref: Option<String>,
    pub purpose: Option<String>,
    pub result: String,
    pub detail: serde_json::Map<String, serde_json::Value>,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    /// Live events the action publishes if it commits. They are not part of the audit
    /// record; they ride along so that [`crate::Koban::conclude`] writes them in the same
    /// transaction, after the audit event, or drops them with a refused action.
    pub live: Vec<crate::live::LiveDraft>,
    /// Further audit events the action records if it commits (one per record an inquiry
    /// hit). [`AuditLog::append_many`] appends them right after this one under the same
    /// head signature: signing is the largest single cost of an audited inquiry, and a
    /// hit used to pay for it twice.
    pub also: Vec<EventDraft>,
}

impl EventDraft {
    /// Records a further event if the action commits (see [`EventDraft::also`]).
    pub fn also(&mut self, draft: EventDraft) -> &mut Self {
        self.also.push(draft);
        self
    }
    /// Publishes a live event if the action commits.
    pub fn publish(&mut self, draft: crate::live::LiveDraft) -> &mut Self {
        self.live.push(draft);
        self
    }
    /// Sets the object the event is about.
    pub fn object(&mut self, kind: &str, id: impl Into<String>) -> &mut Self {
        self.object_type = Some(kind.to_string());
        self.object_id = Some(id.into());
        self
    }
    /// Records a detail field.
    pub fn detail(&mut self, key: &str, value: impl Into<serde_json::Value>) -> &mut Self {
        self.detail.insert(key.to_string(), value.into());
        self
    }
}

/// The signing key and the in-memory Merkle tree that answers proofs.
#[derive(Debug)]
pub struct AuditLog {
    key: SigningKey,
    origin: String,
    tree: Mutex<MerkleTree>,
}

impl AuditLog {
    /// Loads the signing key from the data directory, creating it (mode 0600) on first use.
    pub fn open(data_dir: &Path, origin: &str) -> Result<AuditLog, ServiceError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let pkcs8 = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = SigningKey::generate_pkcs8().map_err(|e| {
                    ServiceError::Internal(format!("generating the audit key: {e}"))
                })?;
                write_private(&path, &bytes)?;
                bytes
            }
            Err(e) => {
                return Err(ServiceError::Internal(format!(
                    "reading {}: {e}",
                    path.display()
                )));
            }
        };
        let key = SigningKey::from_pkcs8(&pkcs8).map_err(|e| {
            ServiceError::Internal(format!(
                "the audit key in {} is unusable: {e}",
                path.display()
            ))
        })?;
        Ok(AuditLog {
            key,
            origin: origin.to_string(),
            tree: Mutex::new(MerkleTree::new()),
        })
    }

    pub fn key_id(&self) -> String {
        self.key.key_id()
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.public_key()
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Appends one event (and the events it carries in [`EventDraft::also`]) inside `tx`.
    /// Returns the stored event.
    pub async fn append(
        &self,
        tx: &mut dyn Tx,
        draft: EventDraft,
        now_us: i64,
    ) -> Result<StoredEvent, ServiceError> {
        let stored = self.append_many(tx, vec![draft], now_us).await?;
        stored
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Internal("append produced no event".into()))
    }

    /// Appends several events inside `tx`, each followed by those it carries in
    /// [`EventDraft::also`], reading and re-signing the head once (bulk operations record
    /// one event per item without paying for a signature each).
    pub async fn append_many(
        &self,
        tx: &mut dyn Tx,
        drafts: Vec<EventDraft>,
        now_us: i64,
    ) -> Result<Vec<StoredEvent>, ServiceError> {
        let head = tx.audit_head_for_update().await?;
        let mut frontier = match &head {
            Some(h) => Frontier::from_bytes(&h.frontier)
                .map_err(|e| ServiceError::AuditIntegrity(format!("stored frontier: {e}")))?,
            None => Frontier::new(),
        };
        if let Some(h) = &head {
            // The frontier and the signed root must agree before we extend them; if someone
            // edited the head row, stop writing rather than sign over the damage.
            if frontier.size() != h.tree_size || frontier.root() != h.root_hash {
                return Err(ServiceError::AuditIntegrity(
                    "the stored head does not match its own frontier".into(),
                ));
            }
        }
        let mut out = Vec::with_capacity(drafts.len());
        let drafts = drafts.into_iter().flat_map(|mut d| {
            let also = std::mem::take(&mut d.also);
            std::iter::once(d).chain(also)
        });
        for draft in drafts {
            let event = AuditEvent {
                seq: frontier.size(),
                time_us: now_us,
                actor_id: draft.actor_id,
                actor_name: draft.actor_name,
                actor_roles: draft.actor_roles,
                actor_unit: draft.actor_unit,
                action: draft.action,
                object_type: draft.object_type,
                object_id: draft.object_id,
                scope_pref: draft.scope_pref,
                purpose: draft.purpose,
                result: draft.result,
                detail: serde_json::Value::Object(draft.detail).to_string(),
                client_addr: draft.client_addr,
                request_id: draft.request_id,
            };
            let leaf = event.leaf_hash();
            frontier.push(leaf);
            let root = frontier.root();
            let stored = StoredEvent {
                event,
                leaf_hash: leaf,
                tree_root: root,
            };
            tx.insert_audit_event(&stored).await?;
            out.push(stored);
        }
        let root = frontier.root();

        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            tree_size: frontier.size(),
            root_hash: root,
            timestamp_us: now_us,
        };
        let signature = self
            .key
            .sign(&checkpoint)
            .map_err(|e| ServiceError::Internal(format!("signing a checkpoint: {e}")))?;
        let (mut last_cp_size, mut last_cp_us) = head
            .as_ref()
            .map(|h| (h.last_checkpoint_size, h.last_checkpoint_us))
            .unwrap_or((0, i64::MIN));
        if frontier.size() - last_cp_size >= CHECKPOINT_EVERY_EVENTS
            || now_us.saturating_sub(last_cp_us) >= CHECKPOINT_EVERY_US
        {
            tx.insert_checkpoint(&StoredCheckpoint {
                checkpoint: checkpoint.clone(),
                key_id: self.key.key_id(),
                signature: signature.to_vec(),
            })
            .await?;
            last_cp_size = frontier.size();
            last_cp_us = now_us;
        }
        tx.put_audit_head(&AuditHead {
            tree_size: frontier.size(),
            frontier: frontier.to_bytes(),
            root_hash: root,
            timestamp_us: now_us,
            origin: self.origin.clone(),
            key_id: self.key.key_id(),
            signature: signature.to_vec(),
            last_checkpoint_size: last_cp_size,
            last_checkpoint_us: last_cp_us,
        })
        .await?;
        Ok(out)
    }

    /// Brings the in-memory tree up to the committed head and returns the head. The
    /// cached tree is checked against the signed root, so proofs are never served from a
    /// tree that storage no longer agrees with.
    pub async fn synced_head(&self, store: &dyn Store) -> Result<Option<AuditHead>, ServiceError> {
        let Some(head) = store.audit_head().await? else {
            return Ok(None);
        };
        let mut tree = self.tree.lock().await;
        while tree.size() < head.tree_size {
            let leaves = store
                .audit_leaves_from(tree.size(), CACHE_FILL_BATCH)
                .await?;
            if leaves.is_empty() {
                return Err(ServiceError::AuditIntegrity(format!(
                    "the head covers {} events but only {} are stored",
                    head.tree_size,
                    tree.size()
                )));
            }
            for (seq, leaf) in leaves {
                if seq != tree.size() {
                    return Err(ServiceError::AuditIntegrity(format!(
                        "audit event {} is missing",
                        tree.size()
                    )));
                }
                tree.push(leaf);
            }
        }
        let root = tree
            .root_at(head.tree_size)
            .map_err(|e| ServiceError::AuditIntegrity(e.to_string()))?;
        if root != head.root_hash {
            return Err(ServiceError::AuditIntegrity(
                "stored events do not hash to the signed root".into(),
            ));
        }
        Ok(Some(head))
    }

    /// Inclusion proof of event `seq` in the tree of `tree_size` events.
    pub async fn inclusion(
        &self,
        seq: u64,
        tree_size: u64,
    ) -> Result<(Hash, Vec<Hash>), ServiceError> {
        let tree = self.tree.lock().await;
        let leaf = tree.leaf(seq).ok_or(ServiceError::NotFound {
            what: "audit event",
        })?;
        let proof = tree.inclusion_proof(seq, tree_size).map_err(|e| {
            ServiceError::invalid("tree_size", "invalid_proof_request", e.to_string())
        })?;
        Ok((leaf, proof))
    }

    /// Consistency proof between two tree sizes.
    pub async fn consistency(&self, first: u64, second: u64) -> Result<Vec<Hash>, ServiceError> {
        let tree = self.tree.lock().await;
        tree.consistency_proof(first, second)
            .map_err(|e| ServiceError::invalid("first", "invalid_proof_request", e.to_string()))
    }

    /// Root of the tree at an earlier size (for clients that hold only a size).
    pub async fn root_at(&self, size: u64) -> Result<Hash, ServiceError> {
        let tree = self.tree.lock().await;
        tree.root_at(size)
            .map_err(|e| ServiceError::invalid("tree_size", "invalid_proof_request", e.to_string()))
    }
}

/// Reads a key file, creating it (readable by its owner only) with `make` on first use.
pub(crate) fn read_or_create_secret(
    path: &Path,
    make: impl FnOnce() -> Result<Vec<u8>, ServiceError>,
) -> Result<Vec<u8>, ServiceError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = make()?;
            write_private(path, &bytes)?;
            Ok(bytes)
        }
        Err(e) => Err(ServiceError::Internal(format!(
            "reading {}: {e}",
            path.display()
        ))),
    }
}

/// Writes a secret file readable only by its owner.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServiceError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| ServiceError::Internal(format!("creating {}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| ServiceError::Internal(format!("writing {}: {e}", path.display())))
}
