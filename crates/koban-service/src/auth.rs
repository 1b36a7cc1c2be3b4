//! Logon, sessions and logoff.

use koban_access::{Action, effective_scope};
use koban_auth::password::{check_password_policy, dummy_verify, hash_password, verify_password};
use koban_auth::policy::{ACCOUNT_INACTIVE_DISABLE_S, LockoutState, SessionEnd};
use koban_auth::token::{SessionToken, hash_terminal_key, hash_token};
use koban_auth::totp::{TotpSecret, verify_totp};
use koban_store::{SessionRow, Tx, UserRow};
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::{Actor, Koban, RequestCtx, ServiceError, UserView, new_id};

/// Longest username accepted at logon; anything longer cannot exist.
const MAX_USERNAME_BYTES: usize = 64;
/// Longest password accepted at logon, in bytes (128 characters of up to 4 bytes).
const MAX_PASSWORD_BYTES: usize = 512;
/// How stale a session's recorded last use may get before a request records it again.
const SESSION_TOUCH_EVERY_US: i64 = 5_000_000;

/// A logon: both factors at once, so a wrong password and a wrong code look the same.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    pub totp_code: String,
    /// Key of a registered command-room terminal, which may exempt the session from the
    /// idle lock.
    #[serde(default)]
    pub terminal_key: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LoginResponse {
    /// The bearer token. Shown once; only its hash is stored.
    pub token: String,
    pub session: SessionView,
}

/// What a client may know about its own session.
#[derive(Clone, Debug, Serialize)]
pub struct SessionView {
    pub session_id: String,
    pub user: UserView,
    pub created_at: String,
    pub expires_at: String,
    /// Seconds of inactivity after which the session locks; absent on exempt terminals.
    pub idle_timeout_s: Option<i64>,
    pub terminal_id: Option<String>,
    /// Prefectures whose data the user may see; `["*"]` for national scope.
    pub scope: Vec<String>,
}

impl Koban {
    /// Logs a user on. Every attempt, successful or not, is audited.
    pub async fn login(
        &self,
        ctx: &RequestCtx,
        req: LoginRequest,
    ) -> Result<LoginResponse, ServiceError> {
        if req.username.is_empty() || req.username.len() > MAX_USERNAME_BYTES {
            return Err(ServiceError::invalid(
                "username",
                "invalid_username",
                "must be 1 to 64 bytes",
            ));
        }
        if req.password.len() > MAX_PASSWORD_BYTES {
            return Err(ServiceError::invalid(
                "password",
                "password_too_long",
                "is too long",
            ));
        }
        if req.totp_code.len() > 16 {
            return Err(ServiceError::invalid(
                "totp_code",
                "invalid_totp_code",
                "is too long",
            ));
        }
        let store = self.store().clone();
        let mut ev = crate::EventDraft {
            actor_name: req.username.clone(),
            action: "auth.login".into(),
            client_addr: ctx.client_addr.clone(),
            request_id: ctx.request_id.clone(),
            ..Default::default()
        };

        // The expensive password check runs before the write transaction opens, so a
        // burst of logons does not hold the database's write lock for tens of
        // milliseconds each. The decision below re-reads the account and insists the hash
        // is unchanged.
        let before = store
            .peek_user(koban_store::UserKey::Username(&req.username))
            .await?;
        let password = req.password.clone();
        let hash_before = before.as_ref().map(|u| u.password_hash.clone());
        let password_ok = tokio::task::spawn_blocking(move || match hash_before {
            Some(hash) => verify_password(&password, &hash).unwrap_or(false),
            None => {
                dummy_verify(&password);
                false
            }
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("password check: {e}")))?;

        let now = self.now_us();
        let mut tx = store.begin().await?;
        let Some(mut user) = tx.get_user_by_username(&req.username).await? else {
            ev.detail("reason", "unknown_user");
            return self
                .conclude(tx, ev, Err(ServiceError::InvalidCredentials))
                .await;
        };
        ev.actor_id = Some(user.id.clone());
        ev.actor_roles = user.roles.to_csv();
        ev.actor_unit = Some(user.unit_id.clone());
        ev.scope_pref = user.pref_code.map(|p| p.to_string());
        ev.object("user", user.id.clone());

        if user.disabled_at_us.is_some() {
            ev.detail("reason", "disabled");
            return self
                .conclude(tx, ev, Err(ServiceError::AccountDisabled))
                .await;
        }
        let last_use = user.last_login_us.unwrap_or(user.created_at_us);
        if now - last_use > ACCOUNT_INACTIVE_DISABLE_S * 1_000_000 {
            // Disabling is itself the action here, so it commits with a failure event.
            user.disabled_at_us = Some(now);
            user.updated_at_us = now;
            tx.update_user(&user).await?;
            ev.detail("reason", "inactive_90_days");
            ev.result = "failure".into();
            self.audit().append(&mut *tx, ev, now).await?;
            tx.commit().await?;
            return Err(ServiceError::AccountDisabled);
        }
        let lockout = LockoutState {
            failed_count: user.failed_count,
            window_start_us: user.failed_window_start_us,
            locked_at_us: user.locked_at_us,
        };
        if lockout.is_locked() {
            ev.detail("reason", "locked");
            return self
                .conclude(tx, ev, Err(ServiceError::AccountLocked))
                .await;
        }

        let unchanged = before
            .as_ref()
            .is_some_and(|b| b.password_hash == user.password_hash);
        let secret = self.open_totp(&user)?;
        let step = verify_totp(
            &secret,
            &req.totp_code,
            now / 1_000_000,
            user.totp_last_step,
        );
        let terminal = match &req.terminal_key {
            Some(key) => match hash_terminal_key(key) {
                Ok(h) => tx
                    .get_terminal_by_key(&h.0)
                    .await?
                    .filter(|t| t.disabled_at_us.is_none() && t.pref_code == user.pref_code),
                Err(_) => None,
            },
            None => None,
        };
        let terminal_ok = req.terminal_key.is_none() || terminal.is_some();

        let (Some(step), true, true) = (step, password_ok && unchanged, terminal_ok) else {
            let reason = if !(password_ok && unchanged) {
                "bad_password"
            } else if step.is_none() {
                "bad_totp"
            } else {
                "unknown_terminal"
            };
            let after = lockout.after_failure(now);
            user.failed_count = after.failed_count;
            user.failed_window_start_us = after.window_start_us;
            user.locked_at_us = after.locked_at_us;
            user.updated_at_us = now;
            tx.update_user(&user).await?;
            ev.detail("reason", reason);
            ev.detail("failed_count", after.failed_count);
            ev.result = "failure".into();
            let locked_now = after.is_locked();
            self.audit().append(&mut *tx, ev.clone(), now).await?;
            if locked_now {
                let mut lock_ev = ev;
                lock_ev.action = "auth.lockout".into();
                lock_ev.detail = Default::default();
                lock_ev.detail("failed_count", after.failed_count);
                lock_ev.result = "success".into();
                self.audit().append(&mut *tx, lock_ev, now).await?;
            }
            tx.commit().await?;
            return Err(if locked_now {
                ServiceError::AccountLocked
            } else {
                ServiceError::InvalidCredentials
            });
        };

        let after = lockout.after_success();
        user.failed_count = after.failed_count;
        user.failed_window_start_us = after.window_start_us;
        user.totp_last_step = Some(step);
        user.last_login_us = Some(now);
        user.updated_at_us = now;
        tx.update_user(&user).await?;
        if !user.allow_concurrent {
            let ended = tx.end_user_sessions(&user.id, now, "superseded").await?;
            if ended > 0 {
                ev.detail("ended_sessions", ended);
            }
        }
        let (token, token_hash) =
            SessionToken::generate().map_err(|e| ServiceError::Internal(format!("token: {e}")))?;
        let session = SessionRow {
            token_hash: token_hash.0.to_vec(),
            id: new_id("ses"),
            user_id: user.id.clone(),
            created_at_us: now,
            last_seen_us: now,
            ended_at_us: None,
            end_reason: None,
            terminal_id: terminal.as_ref().map(|t| t.id.clone()),
            idle_exempt: terminal.as_ref().is_some_and(|t| t.idle_exempt),
            client_addr: ctx.client_addr.clone(),
        };
        tx.insert_session(&session).await?;
        ev.detail("session_id", session.id.clone());
        if let Some(t) = &terminal {
            ev.detail("terminal_id", t.id.clone());
        }
        let actor = self.actor_for(&mut *tx, user, Some(&session)).await?;
        let view = self.session_view(&actor, &session);
        ev.result = "success".into();
        self.audit().append(&mut *tx, ev, now).await?;
        tx.commit().await?;
        Ok(LoginResponse {
            token,
            session: view,
        })
    }

    /// Ends the caller's session.
    pub async fn logout(&self, ctx: &RequestCtx, token: &str) -> Result<(), ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "auth.logout");
        if let Some(id) = &actor.session_id {
            ev.object("session", id.clone());
        }
        let r = match &actor.token_hash {
            Some(h) => tx
                .end_session(h, self.now_us(), "logout")
                .await
                .map_err(Into::into),
            None => Ok(()),
        };
        self.conclude(tx, ev, r).await
    }

    /// The caller's own session.
    pub async fn session(
        &self,
        ctx: &RequestCtx,
        token: &str,
    ) -> Result<SessionView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "auth.session");
        let r = async {
            actor.require(Action::SelfService)?;
            let hash = actor.token_hash.clone().unwrap_or_default();
            let s = tx
                .get_session(&hash)
                .await?
                .ok_or(ServiceError::Unauthenticated {
                    reason: "session_ended",
                })?;
            ev.object("session", s.id.clone());
            Ok(self.session_view(&actor, &s))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Changes the caller's own password; every session of the user ends, so the user
    /// logs on again with the new password.
    pub async fn change_own_password(
        &self,
        ctx: &RequestCtx,
        token: &str,
        current: &str,
        new: &str,
    ) -> Result<(), ServiceError> {
        // Hash first, outside the transaction, for the same reason as at logon.
        let (peek_tx, peek_actor) = self.begin_as(token).await?;
        peek_tx.commit().await?;
        // A refused new password is recorded like any other refusal, so the check's
        // outcome is carried into the audited transaction below.
        let prepared = match check_password_policy(new, &peek_actor.user.username) {
            Err(e) => Err(ServiceError::invalid(
                "new_password",
                e.code(),
                e.to_string(),
            )),
            Ok(()) => {
                let (cur, old_hash, new_pw, alg) = (
                    current.to_string(),
                    peek_actor.user.password_hash.clone(),
                    new.to_string(),
                    self.config().password_algorithm,
                );
                let (ok, new_hash) = tokio::task::spawn_blocking(move || {
                    (
                        verify_password(&cur, &old_hash).unwrap_or(false),
                        hash_password(&new_pw, alg),
                    )
                })
                .await
                .map_err(|e| ServiceError::Internal(format!("password hashing: {e}")))?;
                new_hash
                    .map(|h| (ok, h))
                    .map_err(|e| ServiceError::Internal(format!("password hashing: {e}")))
            }
        };

        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "auth.password_change");
        ev.object("user", actor.user.id.clone());
        let r = async {
            actor.require(Action::SelfService)?;
            let (ok, new_hash) = prepared?;
            if !ok || actor.user.password_hash != peek_actor.user.password_hash {
                return Err(ServiceError::invalid(
                    "current_password",
                    "wrong_password",
                    "the current password is not correct",
                ));
            }
            let now = self.now_us();
            let mut user = actor.user.clone();
            user.password_hash = new_hash;
            user.updated_at_us = now;
            tx.update_user(&user).await?;
            // Every session ends, this one included: any of them may belong to whoever
            // knew the old password, and the rule is a fresh token at every re-authentication.
            tx.end_user_sessions(&user.id, now, "password_changed")
                .await?;
            Ok(())
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Validates a bearer token inside `tx` and builds the actor. Expired sessions are
    /// ended (and that is audited) before the refusal is returned.
    pub(crate) async fn authenticate(
        &self,
        mut tx: Box<dyn Tx>,
        token: &str,
    ) -> Result<(Box<dyn Tx>, Actor), ServiceError> {
        let hash = hash_token(token).map_err(|_| ServiceError::Unauthenticated {
            reason: "malformed_token",
        })?;
        let Some(session) = tx.get_session(&hash.0).await? else {
            return Err(ServiceError::Unauthenticated {
                reason: "unknown_token",
            });
        };
        if session.ended_at_us.is_some() {
            return Err(ServiceError::Unauthenticated {
                reason: "session_ended",
            });
        }
        let now = self.now_us();
        let user = tx
            .get_user(&session.user_id)
            .await?
            .ok_or_else(|| ServiceError::Internal("session of a missing user".into()))?;
        let expiry = self.config().session.check(
            session.created_at_us,
            session.last_seen_us,
            now,
            session.idle_exempt,
        );
        let refusal = match expiry {
            Err(SessionEnd::Idle) => Some(("idle_timeout", "session_idle_timeout")),
            Err(SessionEnd::Absolute) => Some(("absolute_timeout", "session_expired")),
            Ok(()) if user.disabled_at_us.is_some() => {
                Some(("account_disabled", "account_disabled"))
            }
            Ok(()) if user.locked_at_us.is_some() => Some(("account_locked", "account_locked")),
            Ok(()) => None,
        };
        if let Some((end_reason, client_reason)) = refusal {
            tx.end_session(&hash.0, now, end_reason).await?;
            let actor = self.actor_for(&mut *tx, user, Some(&session)).await?;
            let mut ev = actor.draft(&RequestCtx::default(), "auth.session_end");
            ev.object("session", session.id.clone());
            ev.detail("reason", end_reason);
            ev.result = "success".into();
            self.audit().append(&mut *tx, ev, now).await?;
            tx.commit().await?;
            return Err(ServiceError::Unauthenticated {
                reason: client_reason,
            });
        }
        // Recording the last use dirties the session's page on every request (a page more
        // in every commit of a busy query centre); a few seconds' granularity is plenty
        // for an idle timeout of minutes, and a session ends at most that much early.
        if now.saturating_sub(session.last_seen_us) >= SESSION_TOUCH_EVERY_US {
            tx.touch_session(&hash.0, now).await?;
        }
        let actor = self.actor_for(&mut *tx, user, Some(&session)).await?;
        Ok((tx, actor))
    }

    /// Builds the actor for a user: effective scope from the unit and the grants.
    pub(crate) async fn actor_for(
        &self,
        tx: &mut dyn Tx,
        user: UserRow,
        session: Option<&SessionRow>,
    ) -> Result<Actor, ServiceError> {
        let unit = tx.get_unit(&user.unit_id).await?.ok_or_else(|| {
            ServiceError::Internal(format!("unit of user {} is missing", user.id))
        })?;
        let unit_scope = koban_org::scope_of(&unit.unit)
            .map_err(|e| ServiceError::Internal(format!("scope of unit {}: {e}", unit.unit.id)))?;
        let grants = tx.user_grants(&user.id).await?;
        Ok(Actor {
            scope: effective_scope(&unit_scope, &grants),
            grants,
            session_id: session.map(|s| s.id.clone()),
            token_hash: session.map(|s| s.token_hash.clone()),
            user,
        })
    }

    fn session_view(&self, actor: &Actor, s: &SessionRow) -> SessionView {
        let policy = &self.config().session;
        SessionView {
            session_id: s.id.clone(),
            user: UserView::from_row(&actor.user, &actor.grants),
            created_at: rfc3339(s.created_at_us),
            expires_at: rfc3339(s.created_at_us + policy.absolute_timeout_s * 1_000_000),
            idle_timeout_s: (!s.idle_exempt).then_some(policy.idle_timeout_s),
            terminal_id: s.terminal_id.clone(),
            scope: match &actor.scope {
                koban_org::Scope::National => vec!["*".into()],
                koban_org::Scope::Prefectures(p) => p.iter().map(|p| p.to_string()).collect(),
            },
        }
    }
}

impl Koban {
    /// The stored TOTP secret of a user, unsealed. Values written before sealing existed
    /// are plain base32 and are still accepted.
    pub(crate) fn open_totp(&self, user: &UserRow) -> Result<TotpSecret, ServiceError> {
        let text = if koban_auth::sealed::SecretBox::is_sealed(&user.totp_secret) {
            let raw = self
                .secrets()
                .open(&user.totp_secret, &user.id)
                .map_err(|_| {
                    ServiceError::Internal(format!(
                        "the TOTP secret of {} does not open with this secrets key",
                        user.id
                    ))
                })?;
            String::from_utf8(raw)
                .map_err(|_| ServiceError::Internal("sealed TOTP secret is not text".into()))?
        } else {
            user.totp_secret.clone()
        };
        TotpSecret::from_base32(&text)
            .map_err(|e| ServiceError::Internal(format!("stored TOTP secret of {}: {e}", user.id)))
    }

    /// Seals a TOTP secret for storage with its owner's account.
    pub(crate) fn seal_totp(
        &self,
        user_id: &str,
        secret: &TotpSecret,
    ) -> Result<String, ServiceError> {
        self.secrets()
            .seal(secret.to_base32().as_bytes(), user_id)
            .map_err(|e| ServiceError::Internal(format!("sealing a TOTP secret: {e}")))
    }

    /// Checks a session without touching police data (for endpoints such as the API
    /// description, which need a signed-in caller but record nothing).
    pub async fn check_session(&self, token: &str) -> Result<(), ServiceError> {
        let (tx, _actor) = self.begin_as(token).await?;
        tx.commit().await?;
        Ok(())
    }
}
