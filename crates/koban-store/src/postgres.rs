//! The server database: PostgreSQL, for several koban instances sharing one store.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::sql::{self, Dyn, Param};
use crate::{Backend, Store, StoreError, Tx};

/// Binds the parameters of a query built at run time.
fn bind_dyn(d: &Dyn) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut q = sqlx::query(&d.sql);
    for p in &d.params {
        q = match p {
            Param::Text(s) => q.bind(s.clone()),
            Param::Int(i) => q.bind(*i),
            Param::Real(x) => q.bind(*x),
        };
    }
    q
}

/// A transaction on this backend.
pub struct PgTx {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
}

impl std::fmt::Debug for PgTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(stringify!(PgTx))
    }
}

impl PgTx {
    pub(crate) fn new(tx: sqlx::Transaction<'static, sqlx::Postgres>) -> Self {
        Self { tx }
    }

    fn unit_from_row(
        r: &<sqlx::Postgres as sqlx::Database>::Row,
    ) -> Result<crate::UnitRow, crate::StoreError> {
        use sqlx::Row;
        let kind: String = r.try_get("kind")?;
        Ok(crate::UnitRow {
            unit: koban_org::OrgUnit {
                id: r.try_get("id")?,
                kind: koban_org::UnitKind::parse(&kind)
                    .map_err(|e| crate::StoreError::Corrupt(format!("unit kind: {e}")))?,
                parent_id: r.try_get("parent_id")?,
                name_ja: r.try_get("name_ja")?,
                name_en: r.try_get("name_en")?,
                pref_code: crate::pref_opt(r.try_get("pref_code")?)?,
                latitude: r.try_get("latitude")?,
                longitude: r.try_get("longitude")?,
                address: r.try_get("address")?,
            },
            builtin: r.try_get("builtin")?,
            disabled: r.try_get("disabled")?,
            created_at_us: r.try_get("created_at_us")?,
            updated_at_us: r.try_get("updated_at_us")?,
        })
    }

    fn user_from_row(
        r: &<sqlx::Postgres as sqlx::Database>::Row,
    ) -> Result<crate::UserRow, crate::StoreError> {
        use sqlx::Row;
        let roles: String = r.try_get("roles")?;
        let failed: i64 = r.try_get("failed_count")?;
        Ok(crate::UserRow {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            display_name: r.try_get("display_name")?,
            unit_id: r.try_get("unit_id")?,
            pref_code: crate::pref_opt(r.try_get("pref_code")?)?,
            roles: koban_access::Roles::from_csv(&roles)
                .map_err(|e| crate::StoreError::Corrupt(format!("roles: {e}")))?,
            password_hash: r.try_get("password_hash")?,
            totp_secret: r.try_get("totp_secret")?,
            totp_last_step: r.try_get("totp_last_step")?,
            failed_count: u32::try_from(failed)
                .map_err(|_| crate::StoreError::Corrupt("failed_count".into()))?,
            failed_window_start_us: r.try_get("failed_window_start_us")?,
            locked_at_us: r.try_get("locked_at_us")?,
            disabled_at_us: r.try_get("disabled_at_us")?,
            allow_concurrent: r.try_get("allow_concurrent")?,
            last_login_us: r.try_get("last_login_us")?,
            created_at_us: r.try_get("created_at_us")?,
            updated_at_us: r.try_get("updated_at_us")?,
        })
    }

    fn terminal_from_row(
        r: &<sqlx::Postgres as sqlx::Database>::Row,
    ) -> Result<crate::TerminalRow, crate::StoreError> {
        use sqlx::Row;
        Ok(crate::TerminalRow {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            unit_id: r.try_get("unit_id")?,
            pref_code: crate::pref_opt(r.try_get("pref_code")?)?,
            key_hash: r.try_get("key_hash")?,
            idle_exempt: r.try_get("idle_exempt")?,
            created_at_us: r.try_get("created_at_us")?,
            disabled_at_us: r.try_get("disabled_at_us")?,
        })
    }

    fn session_from_row(
        r: &<sqlx::Postgres as sqlx::Database>::Row,
    ) -> Result<crate::SessionRow, crate::StoreError> {
        use sqlx::Row;
        Ok(crate::SessionRow {
            token_hash: r.try_get("token_hash")?,
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            created_at_us: r.try_get("created_at_us")?,
            last_seen_us: r.try_get("last_seen_us")?,
            ended_at_us: r.try_get("ended_at_us")?,
            end_reason: r.try_get("end_reason")?,
            terminal_id: r.try_get("terminal_id")?,
            idle_exempt: r.try_get("idle_exempt")?,
            client_addr: r.try_get("client_addr")?,
        })
    }

    pub(crate) fn head_from_row(
        r: &<sqlx::Postgres as sqlx::Database>::Row,
    ) -> Result<crate::AuditHead, crate::StoreError> {
        use sqlx::Row;
        Ok(crate::AuditHead {
            tree_size: crate::u64_of(r.try_get("tree_size")?, "tree_size")?,
            frontier: r.try_get("frontier")?,
            root_hash: crate::hash32(r.try_get("root_hash")?, "root_hash")?,
            timestamp_us: r.try_get("timestamp_us")?,
            origin: r.try_get("origin")?,
            key_id: r.try_get("key_id")?,
            signature: r.try_get("signature")?,
            last_checkpoint_size: crate::u64_of(
                r.try_get("last_checkpoint_size")?,
                "last_checkpoint_size",
            )?,
            last_checkpoint_us: r.try_get("last_checkpoint_us")?,
        })
    }

    pub(crate) fn event_from_row(
        r: &<sqlx::Postgres as sqlx::Database>::Row,
    ) -> Result<koban_audit::AuditEvent, crate::StoreError> {
        use sqlx::Row;
        Ok(koban_audit::AuditEvent {
            seq: crate::u64_of(r.try_get("seq")?, "seq")?,
            time_us: r.try_get("time_us")?,
            actor_id: r.try_get("actor_id")?,
            actor_name: r.try_get("actor_name")?,
            actor_roles: r.try_get("actor_roles")?,
            actor_unit: r.try_get("actor_unit")?,
            action: r.try_get("action")?,
            object_type: r.try_get("object_type")?,
            object_id: r.try_get("object_id")?,
            scope_pref: r.try_get("scope_pref")?,
            purpose: r.try_get("purpose")?,
            result: r.try_get("result")?,
            detail: r.try_get("detail")?,
            client_addr: r.try_get("client_addr")?,
            request_id: r.try_get("request_id")?,
        })
    }

    pub(crate) fn stored_event_from_row(
        r: &<sqlx::Postgres as sqlx::Database>::Row,
    ) -> Result<koban_audit::StoredEvent, crate::StoreError> {
        use sqlx::Row;
        Ok(koban_audit::StoredEvent {
            event: Self::event_from_row(r)?,
            leaf_hash: crate::hash32(r.try_get("leaf_hash")?, "leaf_hash")?,
            tree_root: crate::hash32(r.try_get("tree_root")?, "tree_root")?,
        })
    }

    pub(crate) fn checkpoint_from_row(
        r: &<sqlx::Postgres as sqlx::Database>::Row,
    ) -> Result<koban_audit::StoredCheckpoint, crate::StoreError> {
        use sqlx::Row;
        Ok(koban_audit::StoredCheckpoint {
            checkpoint: koban_audit::Checkpoint {
                origin: r.try_get("origin")?,
                tree_size: crate::u64_of(r.try_get("tree_size")?, "tree_size")?,
                root_hash: crate::hash32(r.try_get("root_hash")?, "root_hash")?,
                timestamp_us: r.try_get("timestamp_us")?,
            },
            key_id: r.try_get("key_id")?,
            signature: r.try_get("signature")?,
        })
    }
}

#[async_trait::async_trait]
impl crate::Tx for PgTx {
    async fn commit(self: Box<Self>) -> Result<(), crate::StoreError> {
        self.tx.commit().await.map_err(crate::StoreError::from_sqlx)
    }

    async fn insert_unit(&mut self, row: &crate::UnitRow) -> Result<(), crate::StoreError> {
        let u = &row.unit;
        sqlx::query(sql::INSERT_UNIT)
            .bind(&u.id)
            .bind(u.kind.as_str())
            .bind(&u.parent_id)
            .bind(&u.name_ja)
            .bind(&u.name_en)
            .bind(u.pref_code.map(|p| p.as_str()))
            .bind(u.latitude)
            .bind(u.longitude)
            .bind(&u.address)
            .bind(row.builtin)
            .bind(row.disabled)
            .bind(row.created_at_us)
            .bind(row.updated_at_us)
            .execute(&mut *self.tx)
            .await
            .map_err(crate::StoreError::from_sqlx)?;
        Ok(())
    }

    async fn get_unit(&mut self, id: &str) -> Result<Option<crate::UnitRow>, crate::StoreError> {
        let row = sqlx::query(sql::UNIT_BY_ID)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::unit_from_row).transpose()
    }

    async fn update_unit(&mut self, row: &crate::UnitRow) -> Result<(), crate::StoreError> {
        let u = &row.unit;
        sqlx::query(sql::UPDATE_UNIT)
            .bind(&u.id)
            .bind(&u.name_ja)
            .bind(&u.name_en)
            .bind(u.latitude)
            .bind(u.longitude)
            .bind(&u.address)
            .bind(row.disabled)
            .bind(row.updated_at_us)
            .bind(&u.parent_id)
            .execute(&mut *self.tx)
            .await
            .map_err(crate::StoreError::from_sqlx)?;
        Ok(())
    }

    async fn list_units(
        &mut self,
        f: &crate::UnitFilter,
    ) -> Result<Vec<crate::UnitRow>, crate::StoreError> {
        let d = sql::list_units(f);
        let rows = bind_dyn(&d).fetch_all(&mut *self.tx).await?;
        rows.iter().map(Self::unit_from_row).collect()
    }

    async fn count_units(&mut self) -> Result<u64, crate::StoreError> {
        use sqlx::Row;
        let row = sqlx::query(sql::COUNT_UNITS)
            .fetch_one(&mut *self.tx)
            .await?;
        crate::u64_of(row.try_get("n")?, "count")
    }

    async fn insert_user(&mut self, u: &crate::UserRow) -> Result<(), crate::StoreError> {
        sqlx::query(sql::INSERT_USER)
            .bind(&u.id)
            .bind(&u.username)
            .bind(&u.display_name)
            .bind(&u.unit_id)
            .bind(u.pref_code.map(|p| p.as_str()))
            .bind(u.roles.to_csv())
            .bind(&u.password_hash)
            .bind(&u.totp_secret)
            .bind(u.totp_last_step)
            .bind(i64::from(u.failed_count))
            .bind(u.failed_window_start_us)
            .bind(u.locked_at_us)
            .bind(u.disabled_at_us)
            .bind(u.allow_concurrent)
            .bind(u.last_login_us)
            .bind(u.created_at_us)
            .bind(u.updated_at_us)
            .execute(&mut *self.tx)
            .await
            .map_err(crate::StoreError::from_sqlx)?;
        Ok(())
    }

    async fn get_user(&mut self, id: &str) -> Result<Option<crate::UserRow>, crate::StoreError> {
        let row = sqlx::query(sql::USER_BY_ID)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    async fn get_user_by_username(
        &mut self,
        username: &str,
    ) -> Result<Option<crate::UserRow>, crate::StoreError> {
        let row = sqlx::query(sql::USER_BY_USERNAME)
            .bind(username)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    async fn update_user(&mut self, u: &crate::UserRow) -> Result<(), crate::StoreError> {
        sqlx::query(sql::UPDATE_USER)
            .bind(&u.id)
            .bind(&u.display_name)
            .bind(&u.unit_id)
            .bind(u.pref_code.map(|p| p.as_str()))
            .bind(u.roles.to_csv())
            .bind(&u.password_hash)
            .bind(&u.totp_secret)
            .bind(u.totp_last_step)
            .bind(i64::from(u.failed_count))
            .bind(u.failed_window_start_us)
            .bind(u.locked_at_us)
            .bind(u.disabled_at_us)
            .bind(u.allow_concurrent)
            .bind(u.last_login_us)
            .bind(u.updated_at_us)
            .execute(&mut *self.tx)
            .await
            .map_err(crate::StoreError::from_sqlx)?;
        Ok(())
    }

    async fn list_users(
        &mut self,
        f: &crate::UserFilter,
    ) -> Result<Vec<crate::UserRow>, crate::StoreError> {
        let d = sql::list_users(f);
        let rows = bind_dyn(&d).fetch_all(&mut *self.tx).await?;
        rows.iter().map(Self::user_from_row).collect()
    }

    async fn user_grants(
        &mut self,
        user_id: &str,
    ) -> Result<Vec<koban_org::PrefCode>, crate::StoreError> {
        use sqlx::Row;
        let rows = sqlx::query(sql::GRANTS_OF_USER)
            .bind(user_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get("pref_code")?;
                crate::pref_of(&s, "grant")
            })
            .collect()
    }

    async fn put_grant(
        &mut self,
        user_id: &str,
        pref: koban_org::PrefCode,
        by: &str,
        at_us: i64,
    ) -> Result<bool, crate::StoreError> {
        let done = sqlx::query(sql::INSERT_GRANT)
            .bind(user_id)
            .bind(pref.as_str())
            .bind(by)
            .bind(at_us)
            .execute(&mut *self.tx)
            .await
            .map_err(crate::StoreError::from_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_grant(
        &mut self,
        user_id: &str,
        pref: koban_org::PrefCode,
    ) -> Result<bool, crate::StoreError> {
        let done = sqlx::query(sql::DELETE_GRANT)
            .bind(user_id)
            .bind(pref.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_terminal(&mut self, t: &crate::TerminalRow) -> Result<(), crate::StoreError> {
        sqlx::query(sql::INSERT_TERMINAL)
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.unit_id)
            .bind(t.pref_code.map(|p| p.as_str()))
            .bind(&t.key_hash)
            .bind(t.idle_exempt)
            .bind(t.created_at_us)
            .bind(t.disabled_at_us)
            .execute(&mut *self.tx)
            .await
            .map_err(crate::StoreError::from_sqlx)?;
        Ok(())
    }

    async fn get_terminal(
        &mut self,
        id: &str,
    ) -> Result<Option<crate::TerminalRow>, crate::StoreError> {
        let row = sqlx::query(sql::TERMINAL_BY_ID)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::terminal_from_row).transpose()
    }

    async fn get_terminal_by_key(
        &mut self,
        key_hash: &[u8],
    ) -> Result<Option<crate::TerminalRow>, crate::StoreError> {
        let row = sqlx::query(sql::TERMINAL_BY_KEY)
            .bind(key_hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::terminal_from_row).transpose()
    }

    async fn list_terminals(
        &mut self,
        prefs: Option<&[koban_org::PrefCode]>,
    ) -> Result<Vec<crate::TerminalRow>, crate::StoreError> {
        let d = sql::list_terminals(prefs);
        let rows = bind_dyn(&d).fetch_all(&mut *self.tx).await?;
        rows.iter().map(Self::terminal_from_row).collect()
    }

    async fn disable_terminal(&mut self, id: &str, at_us: i64) -> Result<(), crate::StoreError> {
        sqlx::query(sql::DISABLE_TERMINAL)
            .bind(id)
            .bind(at_us)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn insert_session(&mut self, s: &crate::SessionRow) -> Result<(), crate::StoreError> {
        sqlx::query(sql::INSERT_SESSION)
            .bind(&s.token_hash)
            .bind(&s.id)
            .bind(&s.user_id)
            .bind(s.created_at_us)
            .bind(s.last_seen_us)
            .bind(s.ended_at_us)
            .bind(&s.end_reason)
            .bind(&s.terminal_id)
            .bind(s.idle_exempt)
            .bind(&s.client_addr)
            .execute(&mut *self.tx)
            .await
            .map_err(crate::StoreError::from_sqlx)?;
        Ok(())
    }

    async fn get_session(
        &mut self,
        token_hash: &[u8],
    ) -> Result<Option<crate::SessionRow>, crate::StoreError> {
        let row = sqlx::query(sql::SESSION_BY_HASH)
            .bind(token_hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::session_from_row).transpose()
    }

    async fn touch_session(
        &mut self,
        token_hash: &[u8],
        now_us: i64,
    ) -> Result<(), crate::StoreError> {
        sqlx::query(sql::TOUCH_SESSION)
            .bind(token_hash)
            .bind(now_us)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn end_session(
        &mut self,
        token_hash: &[u8],
        now_us: i64,
        reason: &str,
    ) -> Result<(), crate::StoreError> {
        sqlx::query(sql::END_SESSION)
            .bind(token_hash)
            .bind(now_us)
            .bind(reason)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn end_user_sessions(
        &mut self,
        user_id: &str,
        now_us: i64,
        reason: &str,
    ) -> Result<u64, crate::StoreError> {
        let done = sqlx::query(sql::END_USER_SESSIONS)
            .bind(user_id)
            .bind(now_us)
            .bind(reason)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected())
    }

    async fn audit_head_for_update(
        &mut self,
    ) -> Result<Option<crate::AuditHead>, crate::StoreError> {
        let row = sqlx::query("SELECT * FROM audit_head WHERE id = 1 FOR UPDATE")
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::head_from_row).transpose()
    }

    async fn put_audit_head(&mut self, h: &crate::AuditHead) -> Result<(), crate::StoreError> {
        sqlx::query(sql::UPSERT_AUDIT_HEAD)
            .bind(crate::i64_of(h.tree_size, "tree_size")?)
            .bind(&h.frontier)
            .bind(&h.root_hash[..])
            .bind(h.timestamp_us)
            .bind(&h.origin)
            .bind(&h.key_id)
            .bind(&h.signature)
            .bind(crate::i64_of(
                h.last_checkpoint_size,
                "last_checkpoint_size",
            )?)
            .bind(h.last_checkpoint_us)
            .execute(&mut *self.tx)
            .await
            .map_err(crate::StoreError::from_sqlx)?;
        Ok(())
    }

    async fn insert_audit_event(
        &mut self,
        s: &koban_audit::StoredEvent,
    ) -> Result<(), crate::StoreError> {
        let e = &s.event;
        sqlx::query(sql::INSERT_AUDIT_EVENT)
            .bind(crate::i64_of(e.seq, "seq")?)
            .bind(e.time_us)
            .bind(&e.actor_id)
            .bind(&e.actor_name)
            .bind(&e.actor_roles)
            .bind(&e.actor_unit)
            .bind(&e.action)
            .bind(&e.object_type)
            .bind(&e.object_id)
            .bind(&e.scope_pref)
            .bind(&e.purpose)
            .bind(&e.result)
            .bind(&e.detail)
            .bind(&e.client_addr)
            .bind(&e.request_id)
            .bind(&s.leaf_hash[..])
            .bind(&s.tree_root[..])
            .execute(&mut *self.tx)
            .await
            .map_err(crate::StoreError::from_sqlx)?;
        Ok(())
    }

    async fn insert_checkpoint(
        &mut self,
        c: &koban_audit::StoredCheckpoint,
    ) -> Result<(), crate::StoreError> {
        let cp = &c.checkpoint;
        sqlx::query(sql::INSERT_CHECKPOINT)
            .bind(crate::i64_of(cp.tree_size, "tree_size")?)
            .bind(&cp.root_hash[..])
            .bind(cp.timestamp_us)
            .bind(&cp.origin)
            .bind(&c.key_id)
            .bind(&c.signature)
            .execute(&mut *self.tx)
            .await
            .map_err(crate::StoreError::from_sqlx)?;
        Ok(())
    }

    async fn put_audit_key(
        &mut self,
        key_id: &str,
        public_key: &[u8],
        at_us: i64,
    ) -> Result<(), crate::StoreError> {
        sqlx::query(sql::INSERT_AUDIT_KEY)
            .bind(key_id)
            .bind(public_key)
            .bind(at_us)
            .execute(&mut *self.tx)
            .await
            .map_err(crate::StoreError::from_sqlx)?;
        Ok(())
    }

    async fn insert_incident(&mut self, i: &crate::IncidentRow) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_INCIDENT)
            .bind(&i.id)
            .bind(i.pref_code.as_str())
            .bind(&i.state)
            .bind(&i.type_code)
            .bind(i.priority)
            .bind(i.lat)
            .bind(i.lon)
            .bind(i.created_at_us)
            .bind(i.updated_at_us)
            .bind(&i.doc)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn update_incident(&mut self, i: &crate::IncidentRow) -> Result<(), StoreError> {
        sqlx::query(sql::UPDATE_INCIDENT)
            .bind(&i.id)
            .bind(&i.state)
            .bind(&i.type_code)
            .bind(i.priority)
            .bind(i.lat)
            .bind(i.lon)
            .bind(i.updated_at_us)
            .bind(&i.doc)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn get_incident(&mut self, id: &str) -> Result<Option<crate::IncidentRow>, StoreError> {
        let row = sqlx::query(sql::INCIDENT_BY_ID)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(incident_from_row).transpose()
    }

    async fn list_incidents(
        &mut self,
        f: &crate::IncidentFilter,
    ) -> Result<Vec<crate::IncidentRow>, StoreError> {
        let d = sql::list_incidents(f);
        let rows = bind_dyn(&d).fetch_all(&mut *self.tx).await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn insert_call(&mut self, c: &crate::CallRow) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_CALL)
            .bind(&c.id)
            .bind(c.pref_code.as_str())
            .bind(c.received_at_us)
            .bind(&c.incident_id)
            .bind(&c.doc)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn get_call(&mut self, id: &str) -> Result<Option<crate::CallRow>, StoreError> {
        let row = sqlx::query(sql::CALL_BY_ID)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(call_from_row).transpose()
    }

    async fn calls_of_incident(
        &mut self,
        incident_id: &str,
    ) -> Result<Vec<crate::CallRow>, StoreError> {
        let rows = sqlx::query(sql::CALLS_OF_INCIDENT)
            .bind(incident_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(call_from_row).collect()
    }

    async fn link_call(&mut self, call_id: &str, incident_id: &str) -> Result<(), StoreError> {
        sqlx::query(sql::LINK_CALL)
            .bind(call_id)
            .bind(incident_id)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn insert_dispatch_unit(&mut self, u: &crate::DispatchUnitRow) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_DISPATCH_UNIT)
            .bind(&u.id)
            .bind(u.pref_code.as_str())
            .bind(&u.status)
            .bind(u.lat)
            .bind(u.lon)
            .bind(u.position_at_us)
            .bind(u.updated_at_us)
            .bind(&u.doc)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn update_dispatch_unit(&mut self, u: &crate::DispatchUnitRow) -> Result<(), StoreError> {
        sqlx::query(sql::UPDATE_DISPATCH_UNIT)
            .bind(&u.id)
            .bind(&u.status)
            .bind(u.lat)
            .bind(u.lon)
            .bind(u.position_at_us)
            .bind(u.updated_at_us)
            .bind(&u.doc)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn get_dispatch_unit(
        &mut self,
        id: &str,
    ) -> Result<Option<crate::DispatchUnitRow>, StoreError> {
        let row = sqlx::query(sql::DISPATCH_UNIT_BY_ID)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(dispatch_unit_from_row).transpose()
    }

    async fn list_dispatch_units(
        &mut self,
        prefs: Option<&[koban_org::PrefCode]>,
    ) -> Result<Vec<crate::DispatchUnitRow>, StoreError> {
        let d = sql::list_dispatch_units(prefs);
        let rows = bind_dyn(&d).fetch_all(&mut *self.tx).await?;
        rows.iter().map(dispatch_unit_from_row).collect()
    }

    async fn eido_import(
        &mut self,
        pref: koban_org::PrefCode,
        source_element: &str,
        source_incident_id: &str,
    ) -> Result<Option<String>, StoreError> {
        use sqlx::Row;
        let row = sqlx::query(sql::EIDO_IMPORT)
            .bind(pref.as_str())
            .bind(source_element)
            .bind(source_incident_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row
            .map(|r| r.try_get::<String, _>("incident_id"))
            .transpose()?)
    }

    async fn insert_eido_import(&mut self, row: &crate::EidoImportRow) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_EIDO_IMPORT)
            .bind(row.pref_code.as_str())
            .bind(&row.source_element)
            .bind(&row.source_incident_id)
            .bind(&row.incident_id)
            .bind(row.imported_at_us)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn insert_assignment(&mut self, a: &crate::AssignmentRow) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_ASSIGNMENT)
            .bind(&a.id)
            .bind(&a.incident_id)
            .bind(&a.unit_id)
            .bind(a.pref_code.as_str())
            .bind(a.active)
            .bind(a.updated_at_us)
            .bind(&a.doc)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn update_assignment(&mut self, a: &crate::AssignmentRow) -> Result<(), StoreError> {
        sqlx::query(sql::UPDATE_ASSIGNMENT)
            .bind(&a.id)
            .bind(a.active)
            .bind(a.updated_at_us)
            .bind(&a.doc)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn assignments_of_incident(
        &mut self,
        incident_id: &str,
    ) -> Result<Vec<crate::AssignmentRow>, StoreError> {
        let rows = sqlx::query(sql::ASSIGNMENTS_OF_INCIDENT)
            .bind(incident_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(assignment_from_row).collect()
    }

    async fn active_assignments_of_unit(
        &mut self,
        unit_id: &str,
    ) -> Result<Vec<crate::AssignmentRow>, StoreError> {
        let rows = sqlx::query(sql::ACTIVE_ASSIGNMENTS_OF_UNIT)
            .bind(unit_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(assignment_from_row).collect()
    }

    async fn insert_message(
        &mut self,
        m: &crate::MessageRow,
        unit_ids: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_MESSAGE)
            .bind(&m.id)
            .bind(m.pref_code.as_str())
            .bind(&m.sender_id)
            .bind(m.created_at_us)
            .bind(&m.target_kind)
            .bind(&m.target_id)
            .bind(&m.incident_id)
            .bind(&m.text)
            .bind(m.lat)
            .bind(m.lon)
            .bind(&m.image_type)
            .bind(&m.image)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        for u in unit_ids {
            sqlx::query(sql::INSERT_RECEIPT)
                .bind(&m.id)
                .bind(u)
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        Ok(())
    }

    async fn append_live_events(
        &mut self,
        events: &[crate::NewLiveEvent],
        at_us: i64,
    ) -> Result<u64, StoreError> {
        let (mut seq,): (i64,) = sqlx::query_as(sql::LIVE_LAST_SEQ)
            .fetch_one(&mut *self.tx)
            .await?;
        for e in events {
            seq += 1;
            sqlx::query(sql::INSERT_LIVE_EVENT)
                .bind(seq)
                .bind(at_us)
                .bind(&e.kind)
                .bind(e.pref_code.map(|p| p.as_str()))
                .bind(&e.data)
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        crate::u64_of(seq, "seq")
    }

    async fn mark_live_published(&mut self, up_to_seq: u64, at_us: i64) -> Result<u64, StoreError> {
        let r = sqlx::query(sql::MARK_LIVE_PUBLISHED)
            .bind(at_us)
            .bind(crate::i64_of(up_to_seq, "seq")?)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(r.rows_affected())
    }

    async fn prune_live_events(&mut self, before_us: i64, all: bool) -> Result<u64, StoreError> {
        let r = sqlx::query(sql::PRUNE_LIVE_EVENTS)
            .bind(before_us)
            .bind(all)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(r.rows_affected())
    }

    async fn get_message(&mut self, id: &str) -> Result<Option<crate::MessageRow>, StoreError> {
        let row = sqlx::query(sql::MESSAGE_BY_ID)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn receipts_of_message(
        &mut self,
        id: &str,
    ) -> Result<Vec<crate::ReceiptRow>, StoreError> {
        let rows = sqlx::query(sql::RECEIPTS_OF_MESSAGE)
            .bind(id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(receipt_from_row).collect()
    }

    async fn messages_of_unit(
        &mut self,
        unit_id: &str,
        limit: u32,
    ) -> Result<Vec<(crate::MessageRow, crate::ReceiptRow)>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::query(sql::MESSAGES_OF_UNIT)
            .bind(unit_id)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    message_from_row(r)?,
                    crate::ReceiptRow {
                        message_id: r.try_get("id")?,
                        unit_id: r.try_get("unit_id")?,
                        delivered_at_us: r.try_get("delivered_at_us")?,
                        read_at_us: r.try_get("read_at_us")?,
                    },
                ))
            })
            .collect()
    }

    async fn mark_receipt(
        &mut self,
        message_id: &str,
        unit_id: &str,
        at_us: i64,
        read: bool,
    ) -> Result<bool, StoreError> {
        let sql = if read {
            sql::MARK_READ
        } else {
            sql::MARK_DELIVERED
        };
        let done = sqlx::query(sql)
            .bind(message_id)
            .bind(unit_id)
            .bind(at_us)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(done.rows_affected() == 1)
    }

    async fn replace_dataset(
        &mut self,
        kind: &str,
        parts: &[crate::Dataset],
    ) -> Result<(), StoreError> {
        sqlx::query(sql::DELETE_DATASET)
            .bind(kind)
            .execute(&mut *self.tx)
            .await?;
        for (i, d) in parts.iter().enumerate() {
            sqlx::query(sql::INSERT_DATASET_PART)
                .bind(kind)
                .bind(i as i64)
                .bind(&d.source_name)
                .bind(&d.sha256)
                .bind(&d.bytes)
                .bind(d.imported_at_us)
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        Ok(())
    }

    async fn insert_registry_records(
        &mut self,
        rows: &[crate::RegistryRow],
    ) -> Result<(), StoreError> {
        // Bind arrays of bounded size: PostgreSQL's wire protocol limits one message.
        for chunk in rows.chunks(10_000) {
            let seqs = insert_registry_batch(&mut self.tx, chunk).await?;
            let (mut keys, mut names) = (Vec::new(), Vec::new());
            for (r, seq) in chunk.iter().zip(seqs) {
                crate::IndexTerms::of(r).rows(seq, &mut keys, &mut names);
            }
            crate::sort_index_rows(&mut keys, &mut names);
            insert_index_rows(&mut self.tx, &keys, &names).await?;
        }
        Ok(())
    }

    async fn insert_registry_records_deferred(
        &mut self,
        rows: &[crate::RegistryRow],
    ) -> Result<Vec<i64>, StoreError> {
        let mut seqs = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(10_000) {
            seqs.extend(insert_registry_batch(&mut self.tx, chunk).await?);
        }
        if let Some(first) = seqs.iter().min() {
            sqlx::query(sql::SET_REGISTRY_PENDING)
                .bind(first)
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        Ok(seqs)
    }

    async fn registry_index_pending(&mut self) -> Result<Option<i64>, StoreError> {
        use sqlx::Row;
        let row = sqlx::query(sql::REGISTRY_PENDING)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn build_registry_index(
        &mut self,
        collected: Option<crate::CollectedIndex>,
    ) -> Result<u64, StoreError> {
        use sqlx::Row;
        let Some(from) = self.registry_index_pending().await? else {
            return Ok(0);
        };
        let collected = match collected {
            Some(c) => {
                let max_seq: Option<i64> = sqlx::query_scalar(sql::REGISTRY_MAX_SEQ)
                    .fetch_one(&mut *self.tx)
                    .await
                    .map_err(StoreError::from_sqlx)?;
                c.covers(from, max_seq).then_some(c)
            }
            None => None,
        };
        let rows = match collected {
            Some(c) => {
                // The keys are written while the names still sort.
                let (keys, names) = c.into_sorted_keys()?;
                insert_index_rows(&mut self.tx, &keys, &[]).await?;
                let names = names.finish()?;
                insert_index_rows(&mut self.tx, &[], &names).await?;
                keys.len() + names.len()
            }
            None => {
                let mut builder = crate::IndexRowsBuilder::start()?;
                let mut after = Some(from.saturating_sub(1));
                while let Some(cursor) = after {
                    let terms = sqlx::query(sql::REGISTRY_TERMS_FROM)
                        .bind(cursor)
                        .bind(crate::INDEX_BUILD_PAGE)
                        .fetch_all(&mut *self.tx)
                        .await?
                        .iter()
                        .map(|r| Ok((r.try_get(0)?, r.try_get::<String, _>(1)?)))
                        .collect::<Result<Vec<(i64, String)>, sqlx::Error>>()?;
                    // The hand-over blocks only while the builder is two pages behind.
                    after = builder.push_page(terms)?;
                }
                let (keys, names) = builder.finish()?;
                insert_index_rows(&mut self.tx, &keys, &names).await?;
                keys.len() + names.len()
            }
        };
        sqlx::query(sql::CLEAR_REGISTRY_PENDING)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(rows as u64)
    }

    async fn update_registry_record(
        &mut self,
        r: &crate::RegistryRow,
        reindex: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::UPDATE_REGISTRY_RECORD)
            .bind(&r.id)
            .bind(&r.state)
            .bind(r.updated_at_us)
            .bind(r.validation_due_us)
            .bind(&r.file)
            .bind(&r.lifecycle)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        if reindex && let Some(seq) = delete_index_rows(&mut self.tx, &r.id).await? {
            let terms = crate::IndexTerms::of(r);
            sqlx::query(sql::UPDATE_REGISTRY_TERMS)
                .bind(&r.id)
                .bind(terms.to_json()?)
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::from_sqlx)?;
            let (mut keys, mut names) = (Vec::new(), Vec::new());
            terms.rows(seq, &mut keys, &mut names);
            crate::sort_index_rows(&mut keys, &mut names);
            insert_index_rows(&mut self.tx, &keys, &names).await?;
        }
        Ok(())
    }

    async fn get_registry_record(
        &mut self,
        id: &str,
    ) -> Result<Option<crate::RegistryRow>, StoreError> {
        let row = sqlx::query(sql::REGISTRY_BY_ID)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(registry_from_row).transpose()
    }

    async fn get_registry_record_by_seq(
        &mut self,
        seq: i64,
    ) -> Result<Option<crate::RegistryRow>, StoreError> {
        let row = sqlx::query(sql::REGISTRY_BY_SEQ)
            .bind(seq)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(registry_from_row).transpose()
    }

    async fn registry_purge_candidates(
        &mut self,
        now_us: i64,
        articles_before_us: i64,
        limit: u32,
    ) -> Result<Vec<crate::RegistryRow>, StoreError> {
        let rows = sqlx::query(sql::REGISTRY_PURGE_CANDIDATES)
            .bind(now_us)
            .bind(articles_before_us)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(registry_from_row).collect()
    }

    async fn registry_changed_since(
        &mut self,
        after_us: i64,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<crate::RegistryRow>, StoreError> {
        let rows = sqlx::query(sql::REGISTRY_CHANGED_SINCE)
            .bind(after_us)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(registry_from_row).collect()
    }

    async fn get_registry_record_for_update(
        &mut self,
        id: &str,
    ) -> Result<Option<crate::RegistryRow>, StoreError> {
        let row = sqlx::query(sql::REGISTRY_BY_ID_FOR_UPDATE)
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(registry_from_row).transpose()
    }

    async fn delete_registry_record(&mut self, t: &crate::TombstoneRow) -> Result<(), StoreError> {
        delete_index_rows(&mut self.tx, &t.record_id).await?;
        for sql in [
            sql::DELETE_HIT_REQUESTS_OF_RECORD,
            sql::DELETE_REGISTRY_RECORD,
        ] {
            sqlx::query(sql)
                .bind(&t.record_id)
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        sqlx::query(sql::INSERT_TOMBSTONE)
            .bind(&t.record_id)
            .bind(t.owner_pref.as_str())
            .bind(t.removed_at_us)
            .bind(&t.reason)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    async fn registry_tombstones_since(
        &mut self,
        after_us: i64,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<crate::TombstoneRow>, StoreError> {
        let rows = sqlx::query(sql::TOMBSTONES_SINCE)
            .bind(after_us)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(tombstone_from_row).collect()
    }

    async fn prune_registry_tombstones(&mut self, before_us: i64) -> Result<u64, StoreError> {
        use sqlx::Row;
        let n = sqlx::query(sql::PRUNE_TOMBSTONES)
            .bind(before_us)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::from_sqlx)?
            .rows_affected();
        if n > 0 {
            let old = sqlx::query(sql::TOMBSTONE_HORIZON)
                .fetch_optional(&mut *self.tx)
                .await?
                .map(|r| r.try_get::<i64, _>(0))
                .transpose()?;
            let horizon = old.map_or(before_us, |h| h.max(before_us));
            sqlx::query(sql::PUT_TOMBSTONE_HORIZON)
                .bind(horizon)
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        Ok(n)
    }

    async fn registry_tombstone_horizon(&mut self) -> Result<Option<i64>, StoreError> {
        use sqlx::Row;
        Ok(sqlx::query(sql::TOMBSTONE_HORIZON)
            .fetch_optional(&mut *self.tx)
            .await?
            .map(|r| r.try_get::<i64, _>(0))
            .transpose()?)
    }

    async fn put_registry_hit_requests(
        &mut self,
        rows: &[crate::HitRequestRow],
    ) -> Result<(), StoreError> {
        for r in rows {
            sqlx::query(sql::UPSERT_HIT_REQUEST)
                .bind(&r.record_id)
                .bind(&r.request_id)
                .bind(&r.record_kind)
                .bind(r.owner_pref.as_str())
                .bind(r.from_pref.as_str())
                .bind(&r.priority)
                .bind(r.sent_at_us)
                .bind(r.due_at_us)
                .bind(r.resends)
                .bind(r.escalated_at_us)
                .bind(&r.state)
                .execute(&mut *self.tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        Ok(())
    }

    async fn list_registry_hit_requests(
        &mut self,
        f: &crate::HitQueueFilter,
    ) -> Result<Vec<crate::HitRequestRow>, StoreError> {
        let d = sql::list_hit_requests(f);
        let rows = bind_dyn(&d).fetch_all(&mut *self.tx).await?;
        rows.iter().map(hit_request_from_row).collect()
    }

    async fn registry_hit_requests_to_sweep(
        &mut self,
        now_us: i64,
        limit: u32,
    ) -> Result<Vec<crate::HitRequestRow>, StoreError> {
        let rows = sqlx::query(sql::HIT_REQUESTS_TO_SWEEP)
            .bind(now_us)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(hit_request_from_row).collect()
    }

    async fn registry_is_empty(&mut self) -> Result<bool, StoreError> {
        let any = sqlx::query(sql::REGISTRY_ANY)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(any.is_none())
    }

    async fn registry_by_key(&mut self, key: &str) -> Result<Vec<crate::RegistryRow>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::query(sql::REGISTRY_BY_KEY)
            .bind(crate::registry_digest(key))
            .fetch_all(&mut *self.tx)
            .await?;
        let mut out = Vec::new();
        for r in &rows {
            let terms: String = r.try_get("index_terms")?;
            if crate::IndexTerms::lists_key(&terms, key)? {
                out.push(registry_from_row(r)?);
            }
        }
        Ok(out)
    }

    async fn registry_name_candidates(
        &mut self,
        token: &str,
        lo: i64,
        hi: i64,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::query(sql::REGISTRY_NAME_CANDIDATES)
            .bind(crate::registry_digest(token))
            .bind(lo)
            .bind(hi)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn registry_scan_contains(
        &mut self,
        needle: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::query(sql::REGISTRY_SCAN_CONTAINS)
            .bind(format!("%{needle}%"))
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn search_audit(
        &mut self,
        a: &crate::AuditQuery,
    ) -> Result<Vec<koban_audit::AuditEvent>, crate::StoreError> {
        let d = sql::search_audit(a)?;
        let rows = bind_dyn(&d).fetch_all(&mut *self.tx).await?;
        rows.iter().map(Self::event_from_row).collect()
    }
}

pub(crate) async fn audit_events_from(
    pool: &sqlx::Pool<sqlx::Postgres>,
    from_seq: u64,
    limit: u32,
) -> Result<Vec<koban_audit::StoredEvent>, crate::StoreError> {
    let rows = sqlx::query(sql::AUDIT_EVENTS_FROM)
        .bind(crate::i64_of(from_seq, "from_seq")?)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter().map(PgTx::stored_event_from_row).collect()
}

pub(crate) async fn audit_leaves_from(
    pool: &sqlx::Pool<sqlx::Postgres>,
    from_seq: u64,
    limit: u32,
) -> Result<Vec<(u64, koban_audit::Hash)>, crate::StoreError> {
    use sqlx::Row;
    let rows = sqlx::query(sql::AUDIT_LEAVES_FROM)
        .bind(crate::i64_of(from_seq, "from_seq")?)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                crate::u64_of(r.try_get("seq")?, "seq")?,
                crate::hash32(r.try_get("leaf_hash")?, "leaf_hash")?,
            ))
        })
        .collect()
}

pub(crate) async fn audit_checkpoints(
    pool: &sqlx::Pool<sqlx::Postgres>,
) -> Result<Vec<koban_audit::StoredCheckpoint>, crate::StoreError> {
    let rows = sqlx::query(sql::ALL_CHECKPOINTS).fetch_all(pool).await?;
    rows.iter().map(PgTx::checkpoint_from_row).collect()
}

pub(crate) async fn audit_head(
    pool: &sqlx::Pool<sqlx::Postgres>,
) -> Result<Option<crate::AuditHead>, crate::StoreError> {
    let row = sqlx::query(sql::AUDIT_HEAD).fetch_optional(pool).await?;
    row.as_ref().map(PgTx::head_from_row).transpose()
}

pub(crate) async fn audit_keys(
    pool: &sqlx::Pool<sqlx::Postgres>,
) -> Result<Vec<(String, Vec<u8>)>, crate::StoreError> {
    use sqlx::Row;
    let rows = sqlx::query(sql::ALL_AUDIT_KEYS).fetch_all(pool).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("key_id")?, r.try_get("public_key")?)))
        .collect()
}

pub(crate) async fn migrations(
    pool: &sqlx::Pool<sqlx::Postgres>,
) -> Result<Vec<i64>, crate::StoreError> {
    use sqlx::Row;
    let rows = sqlx::query(sql::PG_MIGRATIONS).fetch_all(pool).await?;
    rows.iter().map(|r| Ok(r.try_get("version")?)).collect()
}

/// Connections per instance. Audited writes serialise on the audit head, so more
/// connections mostly help concurrent reads and the fsync pipeline.
const MAX_CONNECTIONS: u32 = 16;

/// PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects and applies the migrations. Commits are durable: koban never turns
    /// `synchronous_commit` off.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // Skipping the per-acquire ping saves a network round trip per transaction;
            // a dead connection fails its first statement and the pool replaces it.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        let tx = self.pool.begin().await?;
        Ok(Box::new(PgTx::new(tx)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrations(&self) -> Result<Vec<i64>, StoreError> {
        migrations(&self.pool).await
    }

    async fn audit_events_from(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<koban_audit::StoredEvent>, StoreError> {
        audit_events_from(&self.pool, from_seq, limit).await
    }

    async fn audit_leaves_from(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<Vec<(u64, koban_audit::Hash)>, StoreError> {
        audit_leaves_from(&self.pool, from_seq, limit).await
    }

    async fn audit_checkpoints(&self) -> Result<Vec<koban_audit::StoredCheckpoint>, StoreError> {
        audit_checkpoints(&self.pool).await
    }

    async fn audit_head(&self) -> Result<Option<crate::AuditHead>, StoreError> {
        audit_head(&self.pool).await
    }

    async fn audit_keys(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        audit_keys(&self.pool).await
    }

    async fn peek_user(
        &self,
        by: crate::UserKey<'_>,
    ) -> Result<Option<crate::UserRow>, StoreError> {
        let (sql, key) = match by {
            crate::UserKey::Id(id) => (sql::USER_BY_ID, id),
            crate::UserKey::Username(u) => (sql::USER_BY_USERNAME, u),
        };
        let row = sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(PgTx::user_from_row).transpose()
    }

    async fn live_events_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<crate::LiveEventRow>, StoreError> {
        let rows = sqlx::query(sql::LIVE_EVENTS_AFTER)
            .bind(crate::i64_of(after, "after")?)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(live_from_row).collect()
    }

    async fn list_units_read(
        &self,
        f: &crate::UnitFilter,
    ) -> Result<Vec<crate::UnitRow>, StoreError> {
        let d = sql::list_units(f);
        let rows = bind_dyn(&d).fetch_all(&self.pool).await?;
        rows.iter().map(PgTx::unit_from_row).collect()
    }

    async fn live_bounds(&self) -> Result<(u64, u64), StoreError> {
        let (lo, hi): (i64, i64) = sqlx::query_as(sql::LIVE_BOUNDS)
            .fetch_one(&self.pool)
            .await?;
        Ok((crate::u64_of(lo, "seq")?, crate::u64_of(hi, "seq")?))
    }

    async fn live_outbox(&self, limit: u32) -> Result<Vec<crate::LiveEventRow>, StoreError> {
        let rows = sqlx::query(sql::LIVE_OUTBOX)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(live_from_row).collect()
    }

    async fn load_dataset(&self, kind: &str) -> Result<Vec<crate::Dataset>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::query(sql::DATASET_PARTS)
            .bind(kind)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::Dataset {
                    source_name: r.try_get("source_name")?,
                    sha256: r.try_get("sha256")?,
                    bytes: r.try_get("bytes")?,
                    imported_at_us: r.try_get("imported_at_us")?,
                })
            })
            .collect()
    }

    async fn checkpoint(&self) -> Result<(), StoreError> {
        // PostgreSQL checkpoints on its own schedule. What a bulk load does leave behind is
        // stale planner statistics (tables believed nearly empty), so refresh them.
        sqlx::query("ANALYZE registry_records, registry_keys, registry_names")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates a fresh, empty database next to the one `url` names and returns its URL.
/// Tests and benchmarks use this so each run starts clean and never touches real data.
pub async fn create_scratch_database(url: &str, name: &str) -> Result<String, StoreError> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        || name.len() > 60
    {
        return Err(StoreError::Config(format!("unsafe database name {name}")));
    }
    let admin = PgPoolOptions::new().max_connections(1).connect(url).await?;
    // Database names cannot be bound as parameters; the name was checked above.
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok(replace_database(url, name))
}

/// Drops a database made by [`create_scratch_database`].
pub async fn drop_scratch_database(url: &str, name: &str) -> Result<(), StoreError> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::Config(format!("unsafe database name {name}")));
    }
    let admin = PgPoolOptions::new().max_connections(1).connect(url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok(())
}

/// `postgres://u@h:5432/old?x` with the database part replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

fn incident_from_row(r: &sqlx::postgres::PgRow) -> Result<crate::IncidentRow, StoreError> {
    use sqlx::Row;
    let pref: String = r.try_get("pref_code")?;
    Ok(crate::IncidentRow {
        id: r.try_get("id")?,
        pref_code: crate::pref_of(&pref, "incident prefecture")?,
        state: r.try_get("state")?,
        type_code: r.try_get("type_code")?,
        priority: r.try_get("priority")?,
        lat: r.try_get("lat")?,
        lon: r.try_get("lon")?,
        created_at_us: r.try_get("created_at_us")?,
        updated_at_us: r.try_get("updated_at_us")?,
        doc: r.try_get("doc")?,
    })
}

fn call_from_row(r: &sqlx::postgres::PgRow) -> Result<crate::CallRow, StoreError> {
    use sqlx::Row;
    let pref: String = r.try_get("pref_code")?;
    Ok(crate::CallRow {
        id: r.try_get("id")?,
        pref_code: crate::pref_of(&pref, "call prefecture")?,
        received_at_us: r.try_get("received_at_us")?,
        incident_id: r.try_get("incident_id")?,
        doc: r.try_get("doc")?,
    })
}

fn dispatch_unit_from_row(r: &sqlx::postgres::PgRow) -> Result<crate::DispatchUnitRow, StoreError> {
    use sqlx::Row;
    let pref: String = r.try_get("pref_code")?;
    Ok(crate::DispatchUnitRow {
        id: r.try_get("id")?,
        pref_code: crate::pref_of(&pref, "unit prefecture")?,
        status: r.try_get("status")?,
        lat: r.try_get("lat")?,
        lon: r.try_get("lon")?,
        position_at_us: r.try_get("position_at_us")?,
        updated_at_us: r.try_get("updated_at_us")?,
        doc: r.try_get("doc")?,
    })
}

fn assignment_from_row(r: &sqlx::postgres::PgRow) -> Result<crate::AssignmentRow, StoreError> {
    use sqlx::Row;
    let pref: String = r.try_get("pref_code")?;
    Ok(crate::AssignmentRow {
        id: r.try_get("id")?,
        incident_id: r.try_get("incident_id")?,
        unit_id: r.try_get("unit_id")?,
        pref_code: crate::pref_of(&pref, "assignment prefecture")?,
        active: r.try_get("active")?,
        updated_at_us: r.try_get("updated_at_us")?,
        doc: r.try_get("doc")?,
    })
}

fn message_from_row(r: &sqlx::postgres::PgRow) -> Result<crate::MessageRow, StoreError> {
    use sqlx::Row;
    let pref: String = r.try_get("pref_code")?;
    Ok(crate::MessageRow {
        id: r.try_get("id")?,
        pref_code: crate::pref_of(&pref, "message prefecture")?,
        sender_id: r.try_get("sender_id")?,
        created_at_us: r.try_get("created_at_us")?,
        target_kind: r.try_get("target_kind")?,
        target_id: r.try_get("target_id")?,
        incident_id: r.try_get("incident_id")?,
        text: r.try_get("text")?,
        lat: r.try_get("lat")?,
        lon: r.try_get("lon")?,
        image_type: r.try_get("image_type")?,
        image: r.try_get("image")?,
    })
}

fn live_from_row(r: &sqlx::postgres::PgRow) -> Result<crate::LiveEventRow, StoreError> {
    use sqlx::Row;
    let pref: Option<String> = r.try_get(3)?;
    Ok(crate::LiveEventRow {
        seq: crate::u64_of(r.try_get(0)?, "seq")?,
        at_us: r.try_get(1)?,
        kind: r.try_get(2)?,
        pref_code: crate::pref_opt(pref)?,
        data: r.try_get(4)?,
        published_at_us: r.try_get(5)?,
    })
}

fn receipt_from_row(r: &sqlx::postgres::PgRow) -> Result<crate::ReceiptRow, StoreError> {
    use sqlx::Row;
    Ok(crate::ReceiptRow {
        message_id: r.try_get("message_id")?,
        unit_id: r.try_get("unit_id")?,
        delivered_at_us: r.try_get("delivered_at_us")?,
        read_at_us: r.try_get("read_at_us")?,
    })
}

// ---- National records registry -------------------------------------------------------

fn registry_from_row(r: &sqlx::postgres::PgRow) -> Result<crate::RegistryRow, StoreError> {
    use sqlx::Row;
    let pref: String = r.try_get("owner_pref")?;
    Ok(crate::RegistryRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        owner_pref: crate::pref_of(&pref, "registry owner")?,
        state: r.try_get("state")?,
        entered_at_us: r.try_get("entered_at_us")?,
        updated_at_us: r.try_get("updated_at_us")?,
        validation_due_us: r.try_get("validation_due_us")?,
        file: r.try_get("file")?,
        lifecycle: r.try_get("lifecycle")?,
        keys: Vec::new(),
        names: Vec::new(),
    })
}

fn hit_request_from_row(r: &sqlx::postgres::PgRow) -> Result<crate::HitRequestRow, StoreError> {
    use sqlx::Row;
    let owner: String = r.try_get("owner_pref")?;
    let from: String = r.try_get("from_pref")?;
    Ok(crate::HitRequestRow {
        record_id: r.try_get("record_id")?,
        request_id: r.try_get("request_id")?,
        record_kind: r.try_get("record_kind")?,
        owner_pref: crate::pref_of(&owner, "hit request owner")?,
        from_pref: crate::pref_of(&from, "hit request inquirer")?,
        priority: r.try_get("priority")?,
        sent_at_us: r.try_get("sent_at_us")?,
        due_at_us: r.try_get("due_at_us")?,
        resends: r.try_get("resends")?,
        escalated_at_us: r.try_get("escalated_at_us")?,
        state: r.try_get("state")?,
    })
}

fn tombstone_from_row(r: &sqlx::postgres::PgRow) -> Result<crate::TombstoneRow, StoreError> {
    use sqlx::Row;
    let owner: String = r.try_get("owner_pref")?;
    Ok(crate::TombstoneRow {
        record_id: r.try_get("record_id")?,
        owner_pref: crate::pref_of(&owner, "tombstone owner")?,
        removed_at_us: r.try_get("removed_at_us")?,
        reason: r.try_get("reason")?,
    })
}

/// Bulk insert through `UNNEST`: one statement per table for the whole batch, because a
/// round trip per row would cap a bulk load at a few thousand rows a second.
const UNNEST_REGISTRY_RECORDS: &str = "INSERT INTO registry_records (id, kind, owner_pref, state, entered_at_us, updated_at_us, validation_due_us, index_terms, file, lifecycle) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::text[]) RETURNING id, seq";
const UNNEST_REGISTRY_KEYS: &str = "INSERT INTO registry_keys (key_hash, seq) SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING";
const UNNEST_REGISTRY_NAMES: &str = "INSERT INTO registry_names (token_hash, dob, seq) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[]) ON CONFLICT DO NOTHING";

/// Inserts records (with their terms) and returns their sequence numbers in row order.
async fn insert_registry_batch(
    tx: &mut sqlx::PgConnection,
    rows: &[crate::RegistryRow],
) -> Result<Vec<i64>, StoreError> {
    use sqlx::Row;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let n = rows.len();
    let (mut ids, mut kinds, mut owners, mut states) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut entered, mut updated, mut due) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut terms, mut files, mut lives) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for r in rows {
        ids.push(r.id.as_str());
        kinds.push(r.kind.as_str());
        owners.push(r.owner_pref.as_str());
        states.push(r.state.as_str());
        entered.push(r.entered_at_us);
        updated.push(r.updated_at_us);
        due.push(r.validation_due_us);
        terms.push(crate::IndexTerms::of(r).to_json()?);
        files.push(r.file.as_str());
        lives.push(r.lifecycle.as_str());
    }
    let returned = sqlx::query(UNNEST_REGISTRY_RECORDS)
        .bind(&ids)
        .bind(&kinds)
        .bind(&owners)
        .bind(&states)
        .bind(&entered)
        .bind(&updated)
        .bind(&due)
        .bind(&terms)
        .bind(&files)
        .bind(&lives)
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from_sqlx)?;
    // RETURNING gives no order guarantee; match by id.
    let mut by_id = std::collections::HashMap::with_capacity(n);
    for r in &returned {
        let id: String = r.try_get(0)?;
        let seq: i64 = r.try_get(1)?;
        by_id.insert(id, seq);
    }
    rows.iter()
        .map(|r| {
            by_id
                .get(&r.id)
                .copied()
                .ok_or_else(|| StoreError::Corrupt(format!("no sequence number for {}", r.id)))
        })
        .collect()
}

/// Writes index rows (sorted by the caller) in bounded chunks.
async fn insert_index_rows(
    tx: &mut sqlx::PgConnection,
    keys: &[(i64, i64)],
    names: &[(i64, i64, i64)],
) -> Result<(), StoreError> {
    for chunk in keys.chunks(50_000) {
        let (k, s): (Vec<i64>, Vec<i64>) = chunk.iter().copied().unzip();
        sqlx::query(UNNEST_REGISTRY_KEYS)
            .bind(&k)
            .bind(&s)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
    }
    for chunk in names.chunks(50_000) {
        let t: Vec<i64> = chunk.iter().map(|r| r.0).collect();
        let d: Vec<i64> = chunk.iter().map(|r| r.1).collect();
        let s: Vec<i64> = chunk.iter().map(|r| r.2).collect();
        sqlx::query(UNNEST_REGISTRY_NAMES)
            .bind(&t)
            .bind(&d)
            .bind(&s)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
    }
    Ok(())
}

/// Removes a record's index rows, as its stored terms list them; returns its sequence
/// number (none if there is no such record).
async fn delete_index_rows(
    tx: &mut sqlx::PgConnection,
    id: &str,
) -> Result<Option<i64>, StoreError> {
    use sqlx::Row;
    let Some(row) = sqlx::query(sql::REGISTRY_TERMS_BY_ID)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    let seq: i64 = row.try_get(0)?;
    let terms: String = row.try_get(1)?;
    let (mut keys, mut names) = (Vec::new(), Vec::new());
    crate::IndexTerms::parse(&terms)?.rows(seq, &mut keys, &mut names);
    for (k, s) in keys {
        sqlx::query(sql::DELETE_REGISTRY_KEY)
            .bind(k)
            .bind(s)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
    }
    for (t, d, s) in names {
        sqlx::query(sql::DELETE_REGISTRY_NAME)
            .bind(t)
            .bind(d)
            .bind(s)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
    }
    Ok(Some(seq))
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::replace_database("postgres://p@h:5432/x", "y"),
            "postgres://p@h:5432/y"
        );
        assert_eq!(
            super::replace_database("postgres://p@h:5432", "y"),
            "postgres://p@h:5432/y"
        );
        assert_eq!(
            super::replace_database("postgres://p@h/x?sslmode=disable", "y"),
            "postgres://p@h/y?sslmode=disable"
        );
    }
}
