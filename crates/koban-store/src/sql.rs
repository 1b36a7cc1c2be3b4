//! SQL text shared by both backends. Placeholders are written `$n`; the SQLite
//! implementation rewrites them to `?n`, which SQLite binds by number.

pub(crate) const INSERT_UNIT: &str = "INSERT INTO org_units (id, kind, parent_id, name_ja, name_en, pref_code, latitude, longitude, address, builtin, disabled, created_at_us, updated_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

pub(crate) const UNIT_BY_ID: &str = "SELECT * FROM org_units WHERE id = $1";

pub(crate) const UPDATE_UNIT: &str = "UPDATE org_units SET name_ja = $2, name_en = $3, latitude = $4, longitude = $5, address = $6, disabled = $7, updated_at_us = $8, parent_id = $9 WHERE id = $1";

pub(crate) const COUNT_UNITS: &str = "SELECT COUNT(*) AS n FROM org_units";

pub(crate) const INSERT_USER: &str = "INSERT INTO users (id, username, display_name, unit_id, pref_code, roles, password_hash, totp_secret, totp_last_step, failed_count, failed_window_start_us, locked_at_us, disabled_at_us, allow_concurrent, last_login_us, created_at_us, updated_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

pub(crate) const USER_BY_ID: &str = "SELECT * FROM users WHERE id = $1";

pub(crate) const USER_BY_USERNAME: &str = "SELECT * FROM users WHERE username = $1";

pub(crate) const UPDATE_USER: &str = "UPDATE users SET display_name = $2, unit_id = $3, pref_code = $4, roles = $5, password_hash = $6, totp_secret = $7, totp_last_step = $8, failed_count = $9, failed_window_start_us = $10, locked_at_us = $11, disabled_at_us = $12, allow_concurrent = $13, last_login_us = $14, updated_at_us = $15 WHERE id = $1";

pub(crate) const GRANTS_OF_USER: &str =
    "SELECT pref_code FROM user_grants WHERE user_id = $1 ORDER BY pref_code";

pub(crate) const INSERT_GRANT: &str = "INSERT INTO user_grants (user_id, pref_code, granted_by, granted_at_us) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, pref_code) DO NOTHING";

pub(crate) const DELETE_GRANT: &str =
    "DELETE FROM user_grants WHERE user_id = $1 AND pref_code = $2";

pub(crate) const INSERT_TERMINAL: &str = "INSERT INTO terminals (id, name, unit_id, pref_code, key_hash, idle_exempt, created_at_us, disabled_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(crate) const TERMINAL_BY_ID: &str = "SELECT * FROM terminals WHERE id = $1";

pub(crate) const TERMINAL_BY_KEY: &str = "SELECT * FROM terminals WHERE key_hash = $1";

pub(crate) const DISABLE_TERMINAL: &str =
    "UPDATE terminals SET disabled_at_us = $2 WHERE id = $1 AND disabled_at_us IS NULL";

pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions (token_hash, id, user_id, created_at_us, last_seen_us, ended_at_us, end_reason, terminal_id, idle_exempt, client_addr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub(crate) const SESSION_BY_HASH: &str = "SELECT * FROM sessions WHERE token_hash = $1";

pub(crate) const TOUCH_SESSION: &str =
    "UPDATE sessions SET last_seen_us = $2 WHERE token_hash = $1 AND ended_at_us IS NULL";

pub(crate) const END_SESSION: &str = "UPDATE sessions SET ended_at_us = $2, end_reason = $3 WHERE token_hash = $1 AND ended_at_us IS NULL";

pub(crate) const END_USER_SESSIONS: &str = "UPDATE sessions SET ended_at_us = $2, end_reason = $3 WHERE user_id = $1 AND ended_at_us IS NULL";

pub(crate) const UPSERT_AUDIT_HEAD: &str = "INSERT INTO audit_head (id, tree_size, frontier, root_hash, timestamp_us, origin, key_id, signature, last_checkpoint_size, last_checkpoint_us) VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET tree_size = excluded.tree_size, frontier = excluded.frontier, root_hash = excluded.root_hash, timestamp_us = excluded.timestamp_us, origin = excluded.origin, key_id = excluded.key_id, signature = excluded.signature, last_checkpoint_size = excluded.last_checkpoint_size, last_checkpoint_us = excluded.last_checkpoint_us";

pub(crate) const INSERT_AUDIT_EVENT: &str = "INSERT INTO audit_events (seq, time_us, actor_id, actor_name, actor_roles, actor_unit, action, object_type, object_id, scope_pref, purpose, result, detail, client_addr, request_id, leaf_hash, tree_root) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

pub(crate) const INSERT_CHECKPOINT: &str = "INSERT INTO audit_checkpoints (tree_size, root_hash, timestamp_us, origin, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6)";

pub(crate) const INSERT_AUDIT_KEY: &str = "INSERT INTO audit_keys (key_id, public_key, created_at_us) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING";

pub(crate) const AUDIT_EVENTS_FROM: &str =
    "SELECT * FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2";

pub(crate) const AUDIT_LEAVES_FROM: &str =
    "SELECT seq, leaf_hash FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2";

pub(crate) const ALL_CHECKPOINTS: &str = "SELECT * FROM audit_checkpoints ORDER BY tree_size";

pub(crate) const AUDIT_HEAD: &str = "SELECT * FROM audit_head WHERE id = 1";

pub(crate) const ALL_AUDIT_KEYS: &str = "SELECT key_id, public_key FROM audit_keys ORDER BY key_id";

pub(crate) const DATASET_PARTS: &str = "SELECT source_name, sha256, bytes, imported_at_us FROM reference_datasets WHERE kind = $1 ORDER BY part";

pub(crate) const DELETE_DATASET: &str = "DELETE FROM reference_datasets WHERE kind = $1";

pub(crate) const INSERT_DATASET_PART: &str = "INSERT INTO reference_datasets (kind, part, source_name, sha256, bytes, imported_at_us) VALUES ($1, $2, $3, $4, $5, $6)";

pub(crate) const INSERT_INCIDENT: &str = "INSERT INTO incidents (id, pref_code, state, type_code, priority, lat, lon, created_at_us, updated_at_us, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub(crate) const UPDATE_INCIDENT: &str = "UPDATE incidents SET state = $2, type_code = $3, priority = $4, lat = $5, lon = $6, updated_at_us = $7, doc = $8 WHERE id = $1";

pub(crate) const INCIDENT_BY_ID: &str = "SELECT * FROM incidents WHERE id = $1";

pub(crate) const INSERT_CALL: &str = "INSERT INTO calls (id, pref_code, received_at_us, incident_id, doc) VALUES ($1, $2, $3, $4, $5)";

pub(crate) const CALL_BY_ID: &str = "SELECT * FROM calls WHERE id = $1";

pub(crate) const CALLS_OF_INCIDENT: &str =
    "SELECT * FROM calls WHERE incident_id = $1 ORDER BY received_at_us";

pub(crate) const LINK_CALL: &str = "UPDATE calls SET incident_id = $2 WHERE id = $1";

pub(crate) const INSERT_DISPATCH_UNIT: &str = "INSERT INTO dispatch_units (id, pref_code, status, lat, lon, position_at_us, updated_at_us, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub(crate) const UPDATE_DISPATCH_UNIT: &str = "UPDATE dispatch_units SET status = $2, lat = $3, lon = $4, position_at_us = $5, updated_at_us = $6, doc = $7 WHERE id = $1";

pub(crate) const DISPATCH_UNIT_BY_ID: &str = "SELECT * FROM dispatch_units WHERE id = $1";

pub(crate) const EIDO_IMPORT: &str = "SELECT incident_id FROM eido_imports WHERE pref_code = $1 AND source_element = $2 AND source_incident_id = $3";
pub(crate) const INSERT_EIDO_IMPORT: &str = "INSERT INTO eido_imports (pref_code, source_element, source_incident_id, incident_id, imported_at_us) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const INSERT_ASSIGNMENT: &str = "INSERT INTO assignments (id, incident_id, unit_id, pref_code, active, updated_at_us, doc) VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(crate) const UPDATE_ASSIGNMENT: &str =
    "UPDATE assignments SET active = $2, updated_at_us = $3, doc = $4 WHERE id = $1";

pub(crate) const ASSIGNMENTS_OF_INCIDENT: &str =
    "SELECT * FROM assignments WHERE incident_id = $1 ORDER BY id";

pub(crate) const ACTIVE_ASSIGNMENTS_OF_UNIT: &str =
    "SELECT * FROM assignments WHERE unit_id = $1 AND active ORDER BY id";

pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO messages (id, pref_code, sender_id, created_at_us, target_kind, target_id, incident_id, text, lat, lon, image_type, image) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

pub(crate) const INSERT_RECEIPT: &str =
    "INSERT INTO message_receipts (message_id, unit_id) VALUES ($1, $2)";

pub(crate) const MESSAGE_BY_ID: &str = "SELECT * FROM messages WHERE id = $1";

pub(crate) const RECEIPTS_OF_MESSAGE: &str =
    "SELECT * FROM message_receipts WHERE message_id = $1 ORDER BY unit_id";

pub(crate) const MESSAGES_OF_UNIT: &str = "SELECT m.*, r.unit_id, r.delivered_at_us, r.read_at_us FROM message_receipts r JOIN messages m ON m.id = r.message_id WHERE r.unit_id = $1 ORDER BY m.created_at_us DESC LIMIT $2";

pub(crate) const MARK_DELIVERED: &str = "UPDATE message_receipts SET delivered_at_us = COALESCE(delivered_at_us, $3) WHERE message_id = $1 AND unit_id = $2";

pub(crate) const MARK_READ: &str = "UPDATE message_receipts SET delivered_at_us = COALESCE(delivered_at_us, $3), read_at_us = COALESCE(read_at_us, $3) WHERE message_id = $1 AND unit_id = $2";

// ---- National records registry -------------------------------------------------------

pub(crate) const INSERT_REGISTRY_RECORD: &str = "INSERT INTO registry_records (id, kind, owner_pref, state, entered_at_us, updated_at_us, validation_due_us, index_terms, file, lifecycle) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Index rows may already exist (a record written normally during a bulk load is indexed
/// at once, and again by the load's final pass).
pub(crate) const INSERT_REGISTRY_KEY: &str =
    "INSERT INTO registry_keys (key_hash, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING";

pub(crate) const INSERT_REGISTRY_NAME: &str =
    "INSERT INTO registry_names (token_hash, dob, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

/// [`INSERT_REGISTRY_RECORD`] for `rows` records at once, with SQLite's `?` parameters.
pub(crate) fn insert_registry_records_many(rows: usize) -> String {
    let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; rows].join(", ");
    format!(
        "INSERT INTO registry_records (id, kind, owner_pref, state, entered_at_us, updated_at_us, validation_due_us, index_terms, file, lifecycle) VALUES {values}"
    )
}

pub(crate) const REGISTRY_SEQ_BY_ID: &str = "SELECT seq FROM registry_records WHERE id = $1";

/// [`INSERT_REGISTRY_KEY`] for `rows` rows at once, with SQLite's `?` parameters.
pub(crate) fn insert_registry_keys_many(rows: usize) -> String {
    let values = vec!["(?, ?)"; rows].join(", ");
    format!("INSERT INTO registry_keys (key_hash, seq) VALUES {values} ON CONFLICT DO NOTHING")
}

/// [`INSERT_REGISTRY_NAME`] for `rows` rows at once, with SQLite's `?` parameters.
pub(crate) fn insert_registry_names_many(rows: usize) -> String {
    let values = vec!["(?, ?, ?)"; rows].join(", ");
    format!(
        "INSERT INTO registry_names (token_hash, dob, seq) VALUES {values} ON CONFLICT DO NOTHING"
    )
}

pub(crate) const UPDATE_REGISTRY_RECORD: &str = "UPDATE registry_records SET state = $2, updated_at_us = $3, validation_due_us = $4, file = $5, lifecycle = $6 WHERE id = $1";

pub(crate) const UPDATE_REGISTRY_TERMS: &str =
    "UPDATE registry_records SET index_terms = $2 WHERE id = $1";

pub(crate) const REGISTRY_TERMS_BY_ID: &str =
    "SELECT seq, index_terms FROM registry_records WHERE id = $1";

pub(crate) const REGISTRY_TERMS_FROM: &str =
    "SELECT seq, index_terms FROM registry_records WHERE seq > $1 ORDER BY seq LIMIT $2";

pub(crate) const DELETE_REGISTRY_KEY: &str =
    "DELETE FROM registry_keys WHERE key_hash = $1 AND seq = $2";

pub(crate) const DELETE_REGISTRY_NAME: &str =
    "DELETE FROM registry_names WHERE token_hash = $1 AND dob = $2 AND seq = $3";

pub(crate) const REGISTRY_PENDING: &str = "SELECT from_seq FROM registry_unindexed WHERE id = 1";

/// An earlier mark stays: it covers everything after it.
pub(crate) const SET_REGISTRY_PENDING: &str =
    "INSERT INTO registry_unindexed (id, from_seq) VALUES (1, $1) ON CONFLICT (id) DO NOTHING";

pub(crate) const CLEAR_REGISTRY_PENDING: &str = "DELETE FROM registry_unindexed";
pub(crate) const REGISTRY_MAX_SEQ: &str = "SELECT MAX(seq) FROM registry_records";

pub(crate) const REGISTRY_BY_ID: &str = "SELECT r.id, r.kind, r.owner_pref, r.state, r.entered_at_us, r.updated_at_us, r.validation_due_us, r.file, r.lifecycle FROM registry_records r WHERE r.id = $1";

/// The record's own terms come along so that a digest collision is filtered out.
pub(crate) const REGISTRY_BY_KEY: &str = "SELECT r.id, r.kind, r.owner_pref, r.state, r.entered_at_us, r.updated_at_us, r.validation_due_us, r.file, r.lifecycle, r.index_terms FROM registry_keys k JOIN registry_records r ON r.seq = k.seq WHERE k.key_hash = $1 ORDER BY r.id";

pub(crate) const REGISTRY_NAME_CANDIDATES: &str =
    "SELECT seq FROM registry_names WHERE token_hash = $1 AND dob BETWEEN $2 AND $3 LIMIT $4";

pub(crate) const REGISTRY_BY_SEQ: &str = "SELECT r.id, r.kind, r.owner_pref, r.state, r.entered_at_us, r.updated_at_us, r.validation_due_us, r.file, r.lifecycle FROM registry_records r WHERE r.seq = $1";

pub(crate) const REGISTRY_PURGE_CANDIDATES: &str = "SELECT r.id, r.kind, r.owner_pref, r.state, r.entered_at_us, r.updated_at_us, r.validation_due_us, r.file, r.lifecycle FROM registry_records r WHERE r.state IN ('active', 'located') AND (r.validation_due_us < $1 OR r.state = 'located' OR (r.kind = 'stolen_article' AND r.entered_at_us < $2)) ORDER BY r.id LIMIT $3";

pub(crate) const REGISTRY_CHANGED_SINCE: &str = "SELECT r.id, r.kind, r.owner_pref, r.state, r.entered_at_us, r.updated_at_us, r.validation_due_us, r.file, r.lifecycle FROM registry_records r WHERE r.updated_at_us > $1 OR (r.updated_at_us = $1 AND r.id > $2) ORDER BY r.updated_at_us, r.id LIMIT $3";

pub(crate) const DELETE_REGISTRY_RECORD: &str = "DELETE FROM registry_records WHERE id = $1";

pub(crate) const REGISTRY_BY_ID_FOR_UPDATE: &str = "SELECT r.id, r.kind, r.owner_pref, r.state, r.entered_at_us, r.updated_at_us, r.validation_due_us, r.file, r.lifecycle FROM registry_records r WHERE r.id = $1 FOR UPDATE";

// ---- The hit-confirmation work queue ----

pub(crate) const UPSERT_HIT_REQUEST: &str = "INSERT INTO registry_hit_requests (record_id, request_id, record_kind, owner_pref, from_pref, priority, sent_at_us, due_at_us, resends, escalated_at_us, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (record_id, request_id) DO UPDATE SET record_kind = excluded.record_kind, owner_pref = excluded.owner_pref, from_pref = excluded.from_pref, priority = excluded.priority, sent_at_us = excluded.sent_at_us, due_at_us = excluded.due_at_us, resends = excluded.resends, escalated_at_us = excluded.escalated_at_us, state = excluded.state";

pub(crate) const DELETE_HIT_REQUESTS_OF_RECORD: &str =
    "DELETE FROM registry_hit_requests WHERE record_id = $1";

/// The columns of a work-queue row, in the order the row mappers read them.
const HIT_REQUEST_COLUMNS: &str = "record_id, request_id, record_kind, owner_pref, from_pref, priority, sent_at_us, due_at_us, resends, escalated_at_us, state";

pub(crate) const HIT_REQUESTS_TO_SWEEP: &str = "SELECT record_id, request_id, record_kind, owner_pref, from_pref, priority, sent_at_us, due_at_us, resends, escalated_at_us, state FROM registry_hit_requests WHERE state = 'open' AND escalated_at_us IS NULL AND due_at_us < $1 ORDER BY due_at_us, record_id, request_id LIMIT $2";

// ---- Tombstones of purged records ----

pub(crate) const INSERT_TOMBSTONE: &str = "INSERT INTO registry_tombstones (record_id, owner_pref, removed_at_us, reason) VALUES ($1, $2, $3, $4) ON CONFLICT (record_id) DO NOTHING";

pub(crate) const TOMBSTONES_SINCE: &str = "SELECT record_id, owner_pref, removed_at_us, reason FROM registry_tombstones WHERE removed_at_us > $1 OR (removed_at_us = $1 AND record_id > $2) ORDER BY removed_at_us, record_id LIMIT $3";

pub(crate) const PRUNE_TOMBSTONES: &str =
    "DELETE FROM registry_tombstones WHERE removed_at_us < $1";

pub(crate) const TOMBSTONE_HORIZON: &str =
    "SELECT pruned_before_us FROM registry_tombstone_horizon WHERE id = 1";

pub(crate) const PUT_TOMBSTONE_HORIZON: &str = "INSERT INTO registry_tombstone_horizon (id, pruned_before_us) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET pruned_before_us = excluded.pruned_before_us";

pub(crate) const REGISTRY_ANY: &str = "SELECT id FROM registry_records LIMIT 1";

pub(crate) const REGISTRY_SCAN_CONTAINS: &str =
    "SELECT id FROM registry_records WHERE file LIKE $1 LIMIT $2";

pub(crate) const PG_MIGRATIONS: &str =
    "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";

/// A bound value of a query built at run time.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    Real(f64),
}

/// A query built at run time (optional filters, `IN` lists), with `$n` placeholders.
#[derive(Debug, Default)]
pub(crate) struct Dyn {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Dyn {
    fn new(sql: &str) -> Dyn {
        Dyn {
            sql: sql.to_string(),
            params: Vec::new(),
        }
    }

    /// Appends `text` followed by a placeholder bound to `p`.
    fn bind(&mut self, text: &str, p: Param) -> &mut Self {
        self.params.push(p);
        self.sql.push_str(text);
        self.sql.push('$');
        self.sql.push_str(&self.params.len().to_string());
        self
    }

    /// Appends ` AND <column> IN (…)`. The list always holds a value no code can equal,
    /// so an empty scope yields an empty result instead of invalid SQL.
    fn in_list(&mut self, column: &str, prefs: &[PrefCode]) -> &mut Self {
        self.sql.push_str(" AND ");
        self.sql.push_str(column);
        self.sql.push_str(" IN (");
        self.bind("", Param::Text("--".into()));
        for p in prefs {
            self.bind(", ", Param::Text(p.to_string()));
        }
        self.sql.push(')');
        self
    }

    fn limit(&mut self, limit: u32) -> &mut Self {
        self.bind(
            " LIMIT ",
            Param::Int(i64::from(limit.clamp(1, MAX_PAGE_ROWS))),
        )
    }
}

use crate::{
    AuditQuery, HitQueueFilter, HitQueueSide, IncidentFilter, MAX_PAGE_ROWS, UnitFilter, UserFilter,
};
use koban_org::PrefCode;

pub(crate) fn list_units(f: &UnitFilter) -> Dyn {
    let mut q = Dyn::new("SELECT * FROM org_units WHERE 1 = 1");
    if let Some(prefs) = &f.prefs {
        // Built-in units (the organisation chart) are listed whatever the scope.
        q.sql.push_str(" AND (builtin OR pref_code IN (");
        q.bind("", Param::Text("--".into()));
        for p in prefs {
            q.bind(", ", Param::Text(p.to_string()));
        }
        q.sql.push_str("))");
    }
    if let Some(kind) = f.kind {
        q.bind(" AND kind = ", Param::Text(kind.as_str().into()));
    }
    if let Some(parent) = &f.parent_id {
        q.bind(" AND parent_id = ", Param::Text(parent.clone()));
    }
    if let Some(after) = &f.after_id {
        q.bind(" AND id > ", Param::Text(after.clone()));
    }
    q.sql.push_str(" ORDER BY id");
    q.limit(f.limit);
    q
}

pub(crate) fn list_users(f: &UserFilter) -> Dyn {
    let mut q = Dyn::new("SELECT * FROM users WHERE 1 = 1");
    if let Some(prefs) = &f.prefs {
        q.in_list("pref_code", prefs);
    }
    if let Some(unit) = &f.unit_id {
        q.bind(" AND unit_id = ", Param::Text(unit.clone()));
    }
    if let Some(after) = &f.after_username {
        q.bind(" AND username > ", Param::Text(after.clone()));
    }
    q.sql.push_str(" ORDER BY username");
    q.limit(f.limit);
    q
}

pub(crate) fn list_terminals(prefs: Option<&[PrefCode]>) -> Dyn {
    let mut q = Dyn::new("SELECT * FROM terminals WHERE 1 = 1");
    if let Some(prefs) = prefs {
        q.in_list("pref_code", prefs);
    }
    q.sql.push_str(" ORDER BY id");
    q.limit(MAX_PAGE_ROWS);
    q
}

pub(crate) fn search_audit(a: &AuditQuery) -> Result<Dyn, crate::StoreError> {
    let mut q = Dyn::new(
        "SELECT seq, time_us, actor_id, actor_name, actor_roles, actor_unit, action, object_type, object_id, \
         scope_pref, purpose, result, detail, client_addr, request_id FROM audit_events WHERE 1 = 1",
    );
    if let Some(prefs) = &a.prefs {
        q.in_list("scope_pref", prefs);
    }
    if let Some(actor) = &a.actor {
        // An actor is named by account id or by the username they presented, so failed
        // logons under a mistyped name can be found too.
        q.bind(" AND (actor_id = ", Param::Text(actor.clone()));
        q.bind(" OR actor_name = ", Param::Text(actor.clone()));
        q.sql.push(')');
    }
    if let Some(t) = &a.object_type {
        q.bind(" AND object_type = ", Param::Text(t.clone()));
    }
    if let Some(id) = &a.object_id {
        q.bind(" AND object_id = ", Param::Text(id.clone()));
    }
    if let Some(action) = &a.action {
        q.bind(" AND action = ", Param::Text(action.clone()));
    }
    if let Some(from) = a.from_us {
        q.bind(" AND time_us >= ", Param::Int(from));
    }
    if let Some(to) = a.to_us {
        q.bind(" AND time_us < ", Param::Int(to));
    }
    if let Some(before) = a.before_seq {
        q.bind(
            " AND seq < ",
            Param::Int(crate::i64_of(before, "before_seq")?),
        );
    }
    q.sql.push_str(" ORDER BY seq DESC");
    q.limit(a.limit);
    Ok(q)
}

pub(crate) fn list_incidents(f: &IncidentFilter) -> Dyn {
    let mut q = Dyn::new("SELECT * FROM incidents WHERE 1 = 1");
    if let Some(prefs) = &f.prefs {
        q.in_list("pref_code", prefs);
    }
    if f.open_only {
        q.sql
            .push_str(" AND state IN ('created', 'dispatched', 'on_scene')");
    }
    if let Some(since) = f.since_us {
        q.bind(" AND created_at_us >= ", Param::Int(since));
    }
    if let Some([a, b, c, d]) = f.within {
        q.bind(" AND lat >= ", Param::Real(a));
        q.bind(" AND lon >= ", Param::Real(b));
        q.bind(" AND lat <= ", Param::Real(c));
        q.bind(" AND lon <= ", Param::Real(d));
    }
    q.sql.push_str(" ORDER BY created_at_us DESC, id");
    q.limit(f.limit);
    q
}

/// The open requests of one side of the hit-confirmation work queue, soonest due first.
/// The literal `state = 'open'` lets both databases use the partial indexes on open rows.
pub(crate) fn list_hit_requests(f: &HitQueueFilter) -> Dyn {
    let mut q = Dyn::new(&format!(
        "SELECT {HIT_REQUEST_COLUMNS} FROM registry_hit_requests WHERE state = 'open'"
    ));
    let column = match f.side {
        HitQueueSide::Owner => "owner_pref",
        HitQueueSide::Inquirer => "from_pref",
    };
    if let Some(prefs) = &f.prefs {
        q.in_list(column, prefs);
    }
    if let Some(before) = f.due_before_us {
        q.bind(" AND due_at_us < ", Param::Int(before));
    }
    if let Some(from) = f.due_from_us {
        q.bind(" AND due_at_us >= ", Param::Int(from));
    }
    q.sql.push_str(" ORDER BY due_at_us, record_id, request_id");
    q.limit(f.limit);
    q
}

/// Most dispatchable units listed at once (a large prefecture has a few thousand).
pub(crate) const MAX_DISPATCH_UNITS: u32 = 20_000;

pub(crate) fn list_dispatch_units(prefs: Option<&[PrefCode]>) -> Dyn {
    let mut q = Dyn::new("SELECT * FROM dispatch_units WHERE 1 = 1");
    if let Some(prefs) = prefs {
        q.in_list("pref_code", prefs);
    }
    q.sql.push_str(" ORDER BY id");
    q.bind(" LIMIT ", Param::Int(i64::from(MAX_DISPATCH_UNITS)));
    q
}

pub(crate) const LIVE_LAST_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) FROM live_events";

pub(crate) const INSERT_LIVE_EVENT: &str =
    "INSERT INTO live_events (seq, at_us, kind, pref_code, data) VALUES ($1, $2, $3, $4, $5)";

pub(crate) const LIVE_EVENTS_AFTER: &str = "SELECT seq, at_us, kind, pref_code, data, published_at_us FROM live_events WHERE seq > $1 ORDER BY seq LIMIT $2";

pub(crate) const LIVE_BOUNDS: &str =
    "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM live_events";

pub(crate) const LIVE_OUTBOX: &str = "SELECT seq, at_us, kind, pref_code, data, published_at_us FROM live_events WHERE published_at_us IS NULL ORDER BY seq LIMIT $1";

pub(crate) const MARK_LIVE_PUBLISHED: &str =
    "UPDATE live_events SET published_at_us = $1 WHERE seq <= $2 AND published_at_us IS NULL";

pub(crate) const PRUNE_LIVE_EVENTS: &str = "DELETE FROM live_events WHERE at_us < $1 AND seq < (SELECT MAX(seq) FROM live_events) AND ($2 OR published_at_us IS NOT NULL)";
