//! The transaction implementation shared by both backends.
//!
//! sqlx's generic executor bounds make one generic `impl` unreadable, so the bodies are
//! written once here and stamped onto `SqliteTx` and `PgTx` by `impl_tx!`. The only
//! dialect difference these queries need is the row lock on the audit head, passed in as
//! `$for_update`.

macro_rules! impl_tx {
    ($tx:ident, $db:ty, $for_update:literal) => {
        /// A transaction on this backend.
        pub struct $tx {
            tx: sqlx::Transaction<'static, $db>,
        }

        impl std::fmt::Debug for $tx {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($tx))
            }
        }

        impl $tx {
            pub(crate) fn new(tx: sqlx::Transaction<'static, $db>) -> Self {
                Self { tx }
            }

            fn unit_from_row(r: &<$db as sqlx::Database>::Row) -> Result<$crate::UnitRow, $crate::StoreError> {
                use sqlx::Row;
                let kind: String = r.try_get("kind")?;
                Ok($crate::UnitRow {
                    unit: koban_org::OrgUnit {
                        id: r.try_get("id")?,
                        kind: koban_org::UnitKind::parse(&kind)
                            .map_err(|e| $crate::StoreError::Corrupt(format!("unit kind: {e}")))?,
                        parent_id: r.try_get("parent_id")?,
                        name_ja: r.try_get("name_ja")?,
                        name_en: r.try_get("name_en")?,
                        pref_code: $crate::pref_opt(r.try_get("pref_code")?)?,
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

            fn user_from_row(r: &<$db as sqlx::Database>::Row) -> Result<$crate::UserRow, $crate::StoreError> {
                use sqlx::Row;
                let roles: String = r.try_get("roles")?;
                let failed: i64 = r.try_get("failed_count")?;
                Ok($crate::UserRow {
                    id: r.try_get("id")?,
                    username: r.try_get("username")?,
                    display_name: r.try_get("display_name")?,
                    unit_id: r.try_get("unit_id")?,
                    pref_code: $crate::pref_opt(r.try_get("pref_code")?)?,
                    roles: koban_access::Roles::from_csv(&roles)
                        .map_err(|e| $crate::StoreError::Corrupt(format!("roles: {e}")))?,
                    password_hash: r.try_get("password_hash")?,
                    totp_secret: r.try_get("totp_secret")?,
                    totp_last_step: r.try_get("totp_last_step")?,
                    failed_count: u32::try_from(failed)
                        .map_err(|_| $crate::StoreError::Corrupt("failed_count".into()))?,
                    failed_window_start_us: r.try_get("failed_window_start_us")?,
                    locked_at_us: r.try_get("locked_at_us")?,
                    disabled_at_us: r.try_get("disabled_at_us")?,
                    allow_concurrent: r.try_get("allow_concurrent")?,
                    last_login_us: r.try_get("last_login_us")?,
                    created_at_us: r.try_get("created_at_us")?,
                    updated_at_us: r.try_get("updated_at_us")?,
                })
            }

            fn terminal_from_row(r: &<$db as sqlx::Database>::Row) -> Result<$crate::TerminalRow, $crate::StoreError> {
                use sqlx::Row;
                Ok($crate::TerminalRow {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    unit_id: r.try_get("unit_id")?,
                    pref_code: $crate::pref_opt(r.try_get("pref_code")?)?,
                    key_hash: r.try_get("key_hash")?,
                    idle_exempt: r.try_get("idle_exempt")?,
                    created_at_us: r.try_get("created_at_us")?,
                    disabled_at_us: r.try_get("disabled_at_us")?,
                })
            }

            fn session_from_row(r: &<$db as sqlx::Database>::Row) -> Result<$crate::SessionRow, $crate::StoreError> {
                use sqlx::Row;
                Ok($crate::SessionRow {
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

            pub(crate) fn head_from_row(r: &<$db as sqlx::Database>::Row) -> Result<$crate::AuditHead, $crate::StoreError> {
                use sqlx::Row;
                Ok($crate::AuditHead {
                    tree_size: $crate::u64_of(r.try_get("tree_size")?, "tree_size")?,
                    frontier: r.try_get("frontier")?,
                    root_hash: $crate::hash32(r.try_get("root_hash")?, "root_hash")?,
                    timestamp_us: r.try_get("timestamp_us")?,
                    origin: r.try_get("origin")?,
                    key_id: r.try_get("key_id")?,
                    signature: r.try_get("signature")?,
                    last_checkpoint_size: $crate::u64_of(r.try_get("last_checkpoint_size")?, "last_checkpoint_size")?,
                    last_checkpoint_us: r.try_get("last_checkpoint_us")?,
                })
            }

            pub(crate) fn event_from_row(r: &<$db as sqlx::Database>::Row) -> Result<koban_audit::AuditEvent, $crate::StoreError> {
                use sqlx::Row;
                Ok(koban_audit::AuditEvent {
                    seq: $crate::u64_of(r.try_get("seq")?, "seq")?,
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

            pub(crate) fn stored_event_from_row(r: &<$db as sqlx::Database>::Row) -> Result<koban_audit::StoredEvent, $crate::StoreError> {
                use sqlx::Row;
                Ok(koban_audit::StoredEvent {
                    event: Self::event_from_row(r)?,
                    leaf_hash: $crate::hash32(r.try_get("leaf_hash")?, "leaf_hash")?,
                    tree_root: $crate::hash32(r.try_get("tree_root")?, "tree_root")?,
                })
            }

            pub(crate) fn checkpoint_from_row(r: &<$db as sqlx::Database>::Row) -> Result<koban_audit::StoredCheckpoint, $crate::StoreError> {
                use sqlx::Row;
                Ok(koban_audit::StoredCheckpoint {
                    checkpoint: koban_audit::Checkpoint {
                        origin: r.try_get("origin")?,
                        tree_size: $crate::u64_of(r.try_get("tree_size")?, "tree_size")?,
                        root_hash: $crate::hash32(r.try_get("root_hash")?, "root_hash")?,
                        timestamp_us: r.try_get("timestamp_us")?,
                    },
                    key_id: r.try_get("key_id")?,
                    signature: r.try_get("signature")?,
                })
            }
        }

        #[async_trait::async_trait]
        impl $crate::Tx for $tx {
            async fn commit(self: Box<Self>) -> Result<(), $crate::StoreError> {
                self.tx.commit().await.map_err($crate::StoreError::from_sqlx)
            }

            async fn insert_unit(&mut self, row: &$crate::UnitRow) -> Result<(), $crate::StoreError> {
                let u = &row.unit;
                sqlx::query(
                    "INSERT INTO org_units (id, kind, parent_id, name_ja, name_en, pref_code, latitude, longitude, \
                     address, builtin, disabled, created_at_us, updated_at_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
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
                .map_err($crate::StoreError::from_sqlx)?;
                Ok(())
            }

            async fn get_unit(&mut self, id: &str) -> Result<Option<$crate::UnitRow>, $crate::StoreError> {
                let row = sqlx::query("SELECT * FROM org_units WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(Self::unit_from_row).transpose()
            }

            async fn update_unit(&mut self, row: &$crate::UnitRow) -> Result<(), $crate::StoreError> {
                let u = &row.unit;
                sqlx::query(
                    "UPDATE org_units SET name_ja = $2, name_en = $3, latitude = $4, longitude = $5, address = $6, \
                     disabled = $7, updated_at_us = $8, parent_id = $9 WHERE id = $1",
                )
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
                .map_err($crate::StoreError::from_sqlx)?;
                Ok(())
            }

            async fn list_units(&mut self, f: &$crate::UnitFilter) -> Result<Vec<$crate::UnitRow>, $crate::StoreError> {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM org_units WHERE 1 = 1");
                if let Some(prefs) = &f.prefs {
                    q.push(" AND (builtin OR pref_code IN (");
                    let mut sep = q.separated(", ");
                    sep.push_bind("--");
                    for p in prefs {
                        sep.push_bind(p.as_str());
                    }
                    q.push("))");
                }
                if let Some(kind) = f.kind {
                    q.push(" AND kind = ").push_bind(kind.as_str());
                }
                if let Some(parent) = &f.parent_id {
                    q.push(" AND parent_id = ").push_bind(parent.clone());
                }
                if let Some(after) = &f.after_id {
                    q.push(" AND id > ").push_bind(after.clone());
                }
                q.push(" ORDER BY id LIMIT ")
                    .push_bind(i64::from(f.limit.clamp(1, $crate::MAX_PAGE_ROWS)));
                let rows = q.build().fetch_all(&mut *self.tx).await?;
                rows.iter().map(Self::unit_from_row).collect()
            }

            async fn count_units(&mut self) -> Result<u64, $crate::StoreError> {
                use sqlx::Row;
                let row = sqlx::query("SELECT COUNT(*) AS n FROM org_units").fetch_one(&mut *self.tx).await?;
                $crate::u64_of(row.try_get("n")?, "count")
            }

            async fn insert_user(&mut self, u: &$crate::UserRow) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO users (id, username, display_name, unit_id, pref_code, roles, password_hash, \
                     totp_secret, totp_last_step, failed_count, failed_window_start_us, locked_at_us, \
                     disabled_at_us, allow_concurrent, last_login_us, created_at_us, updated_at_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                )
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
                .map_err($crate::StoreError::from_sqlx)?;
                Ok(())
            }

            async fn get_user(&mut self, id: &str) -> Result<Option<$crate::UserRow>, $crate::StoreError> {
                let row = sqlx::query("SELECT * FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(Self::user_from_row).transpose()
            }

            async fn get_user_by_username(&mut self, username: &str) -> Result<Option<$crate::UserRow>, $crate::StoreError> {
                let row = sqlx::query("SELECT * FROM users WHERE username = $1")
                    .bind(username)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(Self::user_from_row).transpose()
            }

            async fn update_user(&mut self, u: &$crate::UserRow) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "UPDATE users SET display_name = $2, unit_id = $3, pref_code = $4, roles = $5, \
                     password_hash = $6, totp_secret = $7, totp_last_step = $8, failed_count = $9, \
                     failed_window_start_us = $10, locked_at_us = $11, disabled_at_us = $12, \
                     allow_concurrent = $13, last_login_us = $14, updated_at_us = $15 WHERE id = $1",
                )
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
                .map_err($crate::StoreError::from_sqlx)?;
                Ok(())
            }

            async fn list_users(&mut self, f: &$crate::UserFilter) -> Result<Vec<$crate::UserRow>, $crate::StoreError> {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM users WHERE 1 = 1");
                if let Some(prefs) = &f.prefs {
                    q.push(" AND pref_code IN (");
                    let mut sep = q.separated(", ");
                    sep.push_bind("--");
                    for p in prefs {
                        sep.push_bind(p.as_str());
                    }
                    q.push(")");
                }
                if let Some(unit) = &f.unit_id {
                    q.push(" AND unit_id = ").push_bind(unit.clone());
                }
                if let Some(after) = &f.after_username {
                    q.push(" AND username > ").push_bind(after.clone());
                }
                q.push(" ORDER BY username LIMIT ")
                    .push_bind(i64::from(f.limit.clamp(1, $crate::MAX_PAGE_ROWS)));
                let rows = q.build().fetch_all(&mut *self.tx).await?;
                rows.iter().map(Self::user_from_row).collect()
            }

            async fn user_grants(&mut self, user_id: &str) -> Result<Vec<koban_org::PrefCode>, $crate::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT pref_code FROM user_grants WHERE user_id = $1 ORDER BY pref_code")
                    .bind(user_id)
                    .fetch_all(&mut *self.tx)
                    .await?;
                rows.iter()
                    .map(|r| {
                        let s: String = r.try_get("pref_code")?;
                        koban_org::PrefCode::parse(&s)
                            .map_err(|e| $crate::StoreError::Corrupt(format!("grant: {e}")))
                    })
                    .collect()
            }

            async fn put_grant(&mut self, user_id: &str, pref: koban_org::PrefCode, by: &str, at_us: i64) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query(
                    "INSERT INTO user_grants (user_id, pref_code, granted_by, granted_at_us) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, pref_code) DO NOTHING",
                )
                .bind(user_id)
                .bind(pref.as_str())
                .bind(by)
                .bind(at_us)
                .execute(&mut *self.tx)
                .await
                .map_err($crate::StoreError::from_sqlx)?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_grant(&mut self, user_id: &str, pref: koban_org::PrefCode) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query("DELETE FROM user_grants WHERE user_id = $1 AND pref_code = $2")
                    .bind(user_id)
                    .bind(pref.as_str())
                    .execute(&mut *self.tx)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_terminal(&mut self, t: &$crate::TerminalRow) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO terminals (id, name, unit_id, pref_code, key_hash, idle_exempt, created_at_us, disabled_at_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
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
                .map_err($crate::StoreError::from_sqlx)?;
                Ok(())
            }

            async fn get_terminal(&mut self, id: &str) -> Result<Option<$crate::TerminalRow>, $crate::StoreError> {
                let row = sqlx::query("SELECT * FROM terminals WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(Self::terminal_from_row).transpose()
            }

            async fn get_terminal_by_key(&mut self, key_hash: &[u8]) -> Result<Option<$crate::TerminalRow>, $crate::StoreError> {
                let row = sqlx::query("SELECT * FROM terminals WHERE key_hash = $1")
                    .bind(key_hash)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(Self::terminal_from_row).transpose()
            }

            async fn list_terminals(&mut self, prefs: Option<&[koban_org::PrefCode]>) -> Result<Vec<$crate::TerminalRow>, $crate::StoreError> {
                let mut q = sqlx::QueryBuilder::<$db>::new("SELECT * FROM terminals WHERE 1 = 1");
                if let Some(prefs) = prefs {
                    q.push(" AND pref_code IN (");
                    let mut sep = q.separated(", ");
                    sep.push_bind("--");
                    for p in prefs {
                        sep.push_bind(p.as_str());
                    }
                    q.push(")");
                }
                q.push(" ORDER BY id LIMIT ").push_bind(i64::from($crate::MAX_PAGE_ROWS));
                let rows = q.build().fetch_all(&mut *self.tx).await?;
                rows.iter().map(Self::terminal_from_row).collect()
            }

            async fn disable_terminal(&mut self, id: &str, at_us: i64) -> Result<(), $crate::StoreError> {
                sqlx::query("UPDATE terminals SET disabled_at_us = $2 WHERE id = $1 AND disabled_at_us IS NULL")
                    .bind(id)
                    .bind(at_us)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn insert_session(&mut self, s: &$crate::SessionRow) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO sessions (token_hash, id, user_id, created_at_us, last_seen_us, ended_at_us, \
                     end_reason, terminal_id, idle_exempt, client_addr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
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
                .map_err($crate::StoreError::from_sqlx)?;
                Ok(())
            }

            async fn get_session(&mut self, token_hash: &[u8]) -> Result<Option<$crate::SessionRow>, $crate::StoreError> {
                let row = sqlx::query("SELECT * FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(Self::session_from_row).transpose()
            }

            async fn touch_session(&mut self, token_hash: &[u8], now_us: i64) -> Result<(), $crate::StoreError> {
                sqlx::query("UPDATE sessions SET last_seen_us = $2 WHERE token_hash = $1 AND ended_at_us IS NULL")
                    .bind(token_hash)
                    .bind(now_us)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn end_session(&mut self, token_hash: &[u8], now_us: i64, reason: &str) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "UPDATE sessions SET ended_at_us = $2, end_reason = $3 WHERE token_hash = $1 AND ended_at_us IS NULL",
                )
                .bind(token_hash)
                .bind(now_us)
                .bind(reason)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn end_user_sessions(&mut self, user_id: &str, now_us: i64, reason: &str) -> Result<u64, $crate::StoreError> {
                let done = sqlx::query(
                    "UPDATE sessions SET ended_at_us = $2, end_reason = $3 WHERE user_id = $1 AND ended_at_us IS NULL",
                )
                .bind(user_id)
                .bind(now_us)
                .bind(reason)
                .execute(&mut *self.tx)
                .await?;
                Ok(done.rows_affected())
            }

            async fn audit_head_for_update(&mut self) -> Result<Option<$crate::AuditHead>, $crate::StoreError> {
                let row = sqlx::query(concat!("SELECT * FROM audit_head WHERE id = 1", $for_update))
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(Self::head_from_row).transpose()
            }

            async fn put_audit_head(&mut self, h: &$crate::AuditHead) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO audit_head (id, tree_size, frontier, root_hash, timestamp_us, origin, key_id, signature, \
                     last_checkpoint_size, last_checkpoint_us) VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (id) DO UPDATE SET tree_size = excluded.tree_size, frontier = excluded.frontier, \
                     root_hash = excluded.root_hash, timestamp_us = excluded.timestamp_us, origin = excluded.origin, \
                     key_id = excluded.key_id, signature = excluded.signature, \
                     last_checkpoint_size = excluded.last_checkpoint_size, last_checkpoint_us = excluded.last_checkpoint_us",
                )
                .bind($crate::i64_of(h.tree_size, "tree_size")?)
                .bind(&h.frontier)
                .bind(&h.root_hash[..])
                .bind(h.timestamp_us)
                .bind(&h.origin)
                .bind(&h.key_id)
                .bind(&h.signature)
                .bind($crate::i64_of(h.last_checkpoint_size, "last_checkpoint_size")?)
                .bind(h.last_checkpoint_us)
                .execute(&mut *self.tx)
                .await
                .map_err($crate::StoreError::from_sqlx)?;
                Ok(())
            }

            async fn insert_audit_event(&mut self, s: &koban_audit::StoredEvent) -> Result<(), $crate::StoreError> {
                let e = &s.event;
                sqlx::query(
                    "INSERT INTO audit_events (seq, time_us, actor_id, actor_name, actor_roles, actor_unit, action, \
                     object_type, object_id, scope_pref, purpose, result, detail, client_addr, request_id, leaf_hash, \
                     tree_root) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                )
                .bind($crate::i64_of(e.seq, "seq")?)
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
                .map_err($crate::StoreError::from_sqlx)?;
                Ok(())
            }

            async fn insert_checkpoint(&mut self, c: &koban_audit::StoredCheckpoint) -> Result<(), $crate::StoreError> {
                let cp = &c.checkpoint;
                sqlx::query(
                    "INSERT INTO audit_checkpoints (tree_size, root_hash, timestamp_us, origin, key_id, signature) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind($crate::i64_of(cp.tree_size, "tree_size")?)
                .bind(&cp.root_hash[..])
                .bind(cp.timestamp_us)
                .bind(&cp.origin)
                .bind(&c.key_id)
                .bind(&c.signature)
                .execute(&mut *self.tx)
                .await
                .map_err($crate::StoreError::from_sqlx)?;
                Ok(())
            }

            async fn put_audit_key(&mut self, key_id: &str, public_key: &[u8], at_us: i64) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO audit_keys (key_id, public_key, created_at_us) VALUES ($1, $2, $3) \
                     ON CONFLICT (key_id) DO NOTHING",
                )
                .bind(key_id)
                .bind(public_key)
                .bind(at_us)
                .execute(&mut *self.tx)
                .await
                .map_err($crate::StoreError::from_sqlx)?;
                Ok(())
            }

            async fn search_audit(&mut self, a: &$crate::AuditQuery) -> Result<Vec<koban_audit::AuditEvent>, $crate::StoreError> {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "SELECT seq, time_us, actor_id, actor_name, actor_roles, actor_unit, action, object_type, object_id, \
                     scope_pref, purpose, result, detail, client_addr, request_id FROM audit_events WHERE 1 = 1",
                );
                if let Some(prefs) = &a.prefs {
                    q.push(" AND scope_pref IN (");
                    let mut sep = q.separated(", ");
                    sep.push_bind("--");
                    for p in prefs {
                        sep.push_bind(p.as_str());
                    }
                    q.push(")");
                }
                if let Some(actor) = &a.actor {
                    // An actor is named by account id or by the username they presented,
                    // so failed logons under a mistyped name can be found too.
                    q.push(" AND (actor_id = ").push_bind(actor.clone());
                    q.push(" OR actor_name = ").push_bind(actor.clone()).push(")");
                }
                if let Some(t) = &a.object_type {
                    q.push(" AND object_type = ").push_bind(t.clone());
                }
                if let Some(id) = &a.object_id {
                    q.push(" AND object_id = ").push_bind(id.clone());
                }
                if let Some(action) = &a.action {
                    q.push(" AND action = ").push_bind(action.clone());
                }
                if let Some(from) = a.from_us {
                    q.push(" AND time_us >= ").push_bind(from);
                }
                if let Some(to) = a.to_us {
                    q.push(" AND time_us < ").push_bind(to);
                }
                if let Some(before) = a.before_seq {
                    q.push(" AND seq < ").push_bind($crate::i64_of(before, "before_seq")?);
                }
                q.push(" ORDER BY seq DESC LIMIT ")
                    .push_bind(i64::from(a.limit.clamp(1, $crate::MAX_PAGE_ROWS)));
                let rows = q.build().fetch_all(&mut *self.tx).await?;
                rows.iter().map(Self::event_from_row).collect()
            }
        }
    };
}

pub(crate) use impl_tx;

/// Read-only queries that run on a pool outside any transaction, shared by both
/// backends in the same way as `impl_tx!`.
macro_rules! impl_reads {
    ($db:ty, $tx:ident) => {
        pub(crate) async fn audit_events_from(
            pool: &sqlx::Pool<$db>,
            from_seq: u64,
            limit: u32,
        ) -> Result<Vec<koban_audit::StoredEvent>, $crate::StoreError> {
            let rows =
                sqlx::query("SELECT * FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2")
                    .bind($crate::i64_of(from_seq, "from_seq")?)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?;
            rows.iter().map($tx::stored_event_from_row).collect()
        }

        pub(crate) async fn audit_leaves_from(
            pool: &sqlx::Pool<$db>,
            from_seq: u64,
            limit: u32,
        ) -> Result<Vec<(u64, koban_audit::Hash)>, $crate::StoreError> {
            use sqlx::Row;
            let rows = sqlx::query(
                "SELECT seq, leaf_hash FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2",
            )
            .bind($crate::i64_of(from_seq, "from_seq")?)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        $crate::u64_of(r.try_get("seq")?, "seq")?,
                        $crate::hash32(r.try_get("leaf_hash")?, "leaf_hash")?,
                    ))
                })
                .collect()
        }

        pub(crate) async fn audit_checkpoints(
            pool: &sqlx::Pool<$db>,
        ) -> Result<Vec<koban_audit::StoredCheckpoint>, $crate::StoreError> {
            let rows = sqlx::query("SELECT * FROM audit_checkpoints ORDER BY tree_size")
                .fetch_all(pool)
                .await?;
            rows.iter().map($tx::checkpoint_from_row).collect()
        }

        pub(crate) async fn audit_head(
            pool: &sqlx::Pool<$db>,
        ) -> Result<Option<$crate::AuditHead>, $crate::StoreError> {
            let row = sqlx::query("SELECT * FROM audit_head WHERE id = 1")
                .fetch_optional(pool)
                .await?;
            row.as_ref().map($tx::head_from_row).transpose()
        }

        pub(crate) async fn audit_keys(
            pool: &sqlx::Pool<$db>,
        ) -> Result<Vec<(String, Vec<u8>)>, $crate::StoreError> {
            use sqlx::Row;
            let rows = sqlx::query("SELECT key_id, public_key FROM audit_keys ORDER BY key_id")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("key_id")?, r.try_get("public_key")?)))
                .collect()
        }

        pub(crate) async fn migrations(
            pool: &sqlx::Pool<$db>,
        ) -> Result<Vec<i64>, $crate::StoreError> {
            use sqlx::Row;
            let rows =
                sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                    .fetch_all(pool)
                    .await?;
            rows.iter().map(|r| Ok(r.try_get("version")?)).collect()
        }
    };
}

pub(crate) use impl_reads;
