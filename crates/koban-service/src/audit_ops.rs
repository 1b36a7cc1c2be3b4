//! The audit log as auditors see it: search, checkpoints and proofs. Reading the log is
//! itself audited.

use koban_access::Action;
use koban_audit::{AuditEvent, hex};
use koban_store::{AuditQuery, MAX_PAGE_ROWS};
use serde::{Deserialize, Serialize};

use crate::clock::{parse_rfc3339, rfc3339};
use crate::{Koban, RequestCtx, ServiceError};

/// Search conditions as a client sends them.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSearch {
    /// Account id or the username presented.
    pub actor: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub action: Option<String>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    pub before_seq: Option<u64>,
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AuditEventView {
    pub seq: u64,
    pub time: String,
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
    pub detail: serde_json::Value,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        AuditEventView {
            seq: e.seq,
            time: rfc3339(e.time_us),
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::String(e.detail)),
            actor_id: e.actor_id,
            actor_name: e.actor_name,
            actor_roles: e.actor_roles,
            actor_unit: e.actor_unit,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            scope_pref: e.scope_pref,
            purpose: e.purpose,
            result: e.result,
            client_addr: e.client_addr,
            request_id: e.request_id,
        }
    }
}

/// A signed tree head, with everything a client needs to check the signature.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointView {
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: String,
    pub timestamp: String,
    pub timestamp_us: i64,
    pub key_id: String,
    /// Base64 Ed25519 signature over `signed_body`.
    pub signature: String,
    /// The exact signed text.
    pub signed_body: String,
    /// Base64 public key of `key_id`.
    pub public_key: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct InclusionProofView {
    pub seq: u64,
    pub tree_size: u64,
    pub leaf_hash: String,
    pub root_hash: String,
    pub audit_path: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConsistencyProofView {
    pub first: u64,
    pub second: u64,
    pub first_root: String,
    pub second_root: String,
    pub proof: Vec<String>,
}

fn field_len(field: &str, v: &Option<String>) -> Result<(), ServiceError> {
    match v {
        Some(s) if s.len() > 200 => Err(ServiceError::invalid(
            field,
            "too_long",
            "must be at most 200 bytes",
        )),
        _ => Ok(()),
    }
}

fn time_field(field: &str, v: &Option<String>) -> Result<Option<i64>, ServiceError> {
    v.as_deref()
        .map(|s| {
            parse_rfc3339(s).ok_or_else(|| {
                ServiceError::invalid(field, "invalid_time", "must be an RFC 3339 time")
            })
        })
        .transpose()
}

impl Koban {
    pub async fn search_audit(
        &self,
        ctx: &RequestCtx,
        token: &str,
        s: AuditSearch,
    ) -> Result<Vec<AuditEventView>, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "audit.search");
        let r = async {
            actor.require(Action::AuditRead)?;
            for (f, v) in [
                ("actor", &s.actor),
                ("object_type", &s.object_type),
                ("object_id", &s.object_id),
                ("action", &s.action),
            ] {
                field_len(f, v)?;
            }
            let q = AuditQuery {
                prefs: actor.pref_filter(),
                from_us: time_field("from", &s.from)?,
                to_us: time_field("to", &s.to)?,
                actor: s.actor.clone(),
                object_type: s.object_type.clone(),
                object_id: s.object_id.clone(),
                action: s.action.clone(),
                before_seq: s.before_seq,
                limit: s.limit.unwrap_or(100).clamp(1, MAX_PAGE_ROWS),
            };
            // The search terms are part of the record: who looked for whom.
            ev.detail(
                "query",
                serde_json::json!({
                    "actor": s.actor, "object_type": s.object_type, "object_id": s.object_id,
                    "action": s.action, "from": s.from, "to": s.to,
                }),
            );
            let rows = tx.search_audit(&q).await?;
            ev.detail("count", rows.len());
            Ok(rows.into_iter().map(AuditEventView::from).collect())
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// The latest signed head.
    pub async fn audit_checkpoint(
        &self,
        ctx: &RequestCtx,
        token: &str,
    ) -> Result<CheckpointView, ServiceError> {
        let (tx, actor) = self.begin_as(token).await?;
        let ev = actor.draft(ctx, "audit.checkpoint");
        let r = async {
            actor.require(Action::AuditProof)?;
            let head = self
                .audit()
                .synced_head(self.store().as_ref())
                .await?
                .ok_or(ServiceError::NotFound { what: "checkpoint" })?;
            let keys = self.store().audit_keys().await?;
            Ok(checkpoint_view(&head, &keys))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Proof that event `seq` is in the tree of `tree_size` events (default: the head).
    pub async fn audit_inclusion(
        &self,
        ctx: &RequestCtx,
        token: &str,
        seq: u64,
        tree_size: Option<u64>,
    ) -> Result<InclusionProofView, ServiceError> {
        let (tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "audit.proof_inclusion");
        ev.object("audit_event", seq.to_string());
        let r = async {
            actor.require(Action::AuditProof)?;
            let head = self
                .audit()
                .synced_head(self.store().as_ref())
                .await?
                .ok_or(ServiceError::NotFound {
                    what: "audit event",
                })?;
            let size = tree_size.unwrap_or(head.tree_size);
            if size > head.tree_size {
                return Err(ServiceError::invalid(
                    "tree_size",
                    "beyond_head",
                    "larger than the signed head",
                ));
            }
            if seq >= size {
                return Err(ServiceError::NotFound {
                    what: "audit event",
                });
            }
            let (leaf, path) = self.audit().inclusion(seq, size).await?;
            Ok(InclusionProofView {
                seq,
                tree_size: size,
                leaf_hash: hex(&leaf),
                root_hash: hex(&self.audit().root_at(size).await?),
                audit_path: path.iter().map(|h| hex(h)).collect(),
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Proof that the tree of `first` events is a prefix of the tree of `second`.
    pub async fn audit_consistency(
        &self,
        ctx: &RequestCtx,
        token: &str,
        first: u64,
        second: Option<u64>,
    ) -> Result<ConsistencyProofView, ServiceError> {
        let (tx, actor) = self.begin_as(token).await?;
        let ev = actor.draft(ctx, "audit.proof_consistency");
        let r = async {
            actor.require(Action::AuditProof)?;
            let head = self
                .audit()
                .synced_head(self.store().as_ref())
                .await?
                .ok_or(ServiceError::NotFound { what: "checkpoint" })?;
            let second = second.unwrap_or(head.tree_size);
            if second > head.tree_size {
                return Err(ServiceError::invalid(
                    "second",
                    "beyond_head",
                    "larger than the signed head",
                ));
            }
            if first == 0 || first > second {
                return Err(ServiceError::invalid(
                    "first",
                    "invalid_range",
                    "must be between 1 and second",
                ));
            }
            let proof = self.audit().consistency(first, second).await?;
            Ok(ConsistencyProofView {
                first,
                second,
                first_root: hex(&self.audit().root_at(first).await?),
                second_root: hex(&self.audit().root_at(second).await?),
                proof: proof.iter().map(|h| hex(h)).collect(),
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}

/// The public form of a signed head: what `/audit/checkpoint` returns and what
/// `koban audit checkpoint` prints, for auditors and witnesses to keep.
pub fn checkpoint_view(
    head: &koban_store::AuditHead,
    keys: &[(String, Vec<u8>)],
) -> CheckpointView {
    let cp = head.as_checkpoint();
    let public_key = keys
        .iter()
        .find(|(id, _)| *id == cp.key_id)
        .map(|(_, k)| b64(k))
        .unwrap_or_default();
    CheckpointView {
        origin: cp.checkpoint.origin.clone(),
        tree_size: cp.checkpoint.tree_size,
        root_hash: hex(&cp.checkpoint.root_hash),
        timestamp: rfc3339(cp.checkpoint.timestamp_us),
        timestamp_us: cp.checkpoint.timestamp_us,
        signed_body: String::from_utf8_lossy(&cp.checkpoint.signed_body()).into_owned(),
        key_id: cp.key_id,
        signature: b64(&cp.signature),
        public_key,
    }
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}
