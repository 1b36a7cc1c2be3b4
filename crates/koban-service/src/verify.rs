//! Full verification of a stored audit log, for `koban audit verify` and the daily check.

use std::collections::HashMap;
use std::path::Path;

use koban_audit::{Fault, SigningKey, Verifier, VerifySummary};
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
    mut progress: impl FnMut(u64),
) -> Result<VerifyOutcome, VerifyError> {
    let (keys, source) = collect_keys(store, data_dir).await?;
    let mut checkpoints = store.audit_checkpoints().await?;
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
