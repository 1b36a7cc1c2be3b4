//! Full verification of a stored audit log, for `koban audit verify` and the daily check.

use std::collections::HashMap;
use std::path::Path;

use koban_audit::{Fault, SigningKey, StoredCheckpoint, Verifier, VerifySummary};
use koban_store::{Store, StoreError};

use crate::audit_log::SIGNING_KEY_FILE;

/// Events read per round trip while verifying.
const VERIFY_BATCH: u32 = 20_000;

/// Where the public keys used for verification came from.
#[derive(Debug, Clone)]
pub struct KeySource {
    /// Keys read from the data directory's own signing key: trusted.
    pub trusted: Vec<String>,
    /// Keys known only from the database (other instances' keys): an attacker with
    /// write access to the database could have planted these.
    pub from_database: Vec<String>,
}

/// The outcome of a verification.
#[derive(Debug)]
pub enum VerifyOutcome {
    Intact {
        summary: VerifySummary,
        keys: KeySource,
    },
    Tampered {
        fault: Fault,
        keys: KeySource,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the signing key: {0}")]
    Key(String),
    #[error("external checkpoint: {0}")]
    External(String),
}

/// A checkpoint kept outside this database (saved from `/api/v1/audit/checkpoint` or
/// `koban audit checkpoint` by an auditor or a witness), with the key that signed it.
#[derive(Debug, Clone)]
pub struct ExternalCheckpoint {
    pub checkpoint: StoredCheckpoint,
    pub public_key: [u8; 32],
}

/// Parses the JSON form of a checkpoint. The body, key id and public key must agree with
/// each other; the signature itself is checked by the verifier like any other.
pub fn parse_external_checkpoint(json: &[u8]) -> Result<ExternalCheckpoint, VerifyError> {
    let view: crate::CheckpointView = serde_json::from_slice(json)
        .map_err(|e| VerifyError::External(format!("not a checkpoint document: {e}")))?;
    let checkpoint = koban_audit::Checkpoint::parse_body(view.signed_body.as_bytes())
        .map_err(|e| VerifyError::External(format!("signed_body: {e}")))?;
    let signature = data_encoding::BASE64
        .decode(view.signature.as_bytes())
        .map_err(|e| VerifyError::External(format!("signature: {e}")))?;
    let public_key: [u8; 32] = data_encoding::BASE64
        .decode(view.public_key.as_bytes())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| VerifyError::External("public_key is not a base64 Ed25519 key".into()))?;
    if koban_audit::key_id_of(&public_key) != view.key_id {
        return Err(VerifyError::External(
            "key_id does not belong to public_key".into(),
        ));
    }
    Ok(ExternalCheckpoint {
        checkpoint: StoredCheckpoint {
            checkpoint,
            key_id: view.key_id,
            signature,
        },
        public_key,
    })
}

/// Collects the verification keys: the data directory's key (if present) and the keys
/// registered in the database.
pub async fn collect_keys(
    store: &dyn Store,
    data_dir: Option<&Path>,
) -> Result<(HashMap<String, [u8; 32]>, KeySource), VerifyError> {
    let mut keys = HashMap::new();
    let mut source = KeySource {
        trusted: Vec::new(),
        from_database: Vec::new(),
    };
    if let Some(dir) = data_dir {
        let path = dir.join(SIGNING_KEY_FILE);
        if path.exists() {
            let bytes = std::fs::read(&path)
                .map_err(|e| VerifyError::Key(format!("{}: {e}", path.display())))?;
            let key =
                SigningKey::from_pkcs8(&bytes).map_err(|e| VerifyError::Key(e.to_string()))?;
            source.trusted.push(key.key_id());
            keys.insert(key.key_id(), key.public_key());
        }
    }
    for (id, pk) in store.audit_keys().await? {
        if keys.contains_key(&id) {
            continue;
        }
        if let Ok(pk) = <[u8; 32]>::try_from(pk.as_slice()) {
            // A stored key must hash to its own id, or it is not the key it claims to be.
            if koban_audit::key_id_of(&pk) == id {
                source.from_database.push(id.clone());
                keys.insert(id, pk);
            }
        }
    }
    Ok((keys, source))
}

/// Recomputes the whole tree from storage and checks every event, the stored roots,
/// every checkpoint and the signed head. Streams in batches, so memory stays flat.
pub async fn verify_store(
    store: &dyn Store,
    data_dir: Option<&Path>,
    progress: impl FnMut(u64),
) -> Result<VerifyOutcome, VerifyError> {
    verify_store_with(store, data_dir, Vec::new(), progress).await
}

/// [`verify_store`], also holding the log to checkpoints kept elsewhere. A checkpoint
/// from outside catches what no local check can: a history rewritten or rolled back by
/// someone who also holds the signing key.
pub async fn verify_store_with(
    store: &dyn Store,
    data_dir: Option<&Path>,
    external: Vec<ExternalCheckpoint>,
    mut progress: impl FnMut(u64),
) -> Result<VerifyOutcome, VerifyError> {
    let (mut keys, mut source) = collect_keys(store, data_dir).await?;
    let mut checkpoints = store.audit_checkpoints().await?;
    for ext in external {
        if !keys.contains_key(&ext.checkpoint.key_id) {
            source.trusted.push(ext.checkpoint.key_id.clone());
            keys.insert(ext.checkpoint.key_id.clone(), ext.public_key);
        }
        checkpoints.push(ext.checkpoint);
    }
    if let Some(head) = store.audit_head().await? {
        checkpoints.push(head.as_checkpoint());
    }
    let mut verifier = Verifier::new(checkpoints, keys);
    let mut next = 0u64;
    loop {
        let batch = store.audit_events_from(next, VERIFY_BATCH).await?;
        let Some(last) = batch.last() else { break };
        let last_seq = last.event.seq;
        for ev in &batch {
            if let Err(fault) = verifier.push(ev) {
                return Ok(VerifyOutcome::Tampered {
                    fault,
                    keys: source,
                });
            }
        }
        next = last_seq + 1;
        progress(next);
    }
    match verifier.finish() {
        Ok(summary) => Ok(VerifyOutcome::Intact {
            summary,
            keys: source,
        }),
        Err(fault) => Ok(VerifyOutcome::Tampered {
            fault,
            keys: source,
        }),
    }
}
