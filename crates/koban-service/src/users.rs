//! User accounts: created, changed, locked and unlocked by administrators in scope.

use koban_access::{Action, Role, Roles};
use koban_auth::password::{check_password_policy, hash_password};
use koban_auth::totp::{TotpSecret, otpauth_uri};
use koban_org::PrefCode;
use koban_store::{MAX_PAGE_ROWS, Tx, UserFilter, UserRow};
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::{Actor, Koban, RequestCtx, ServiceError, check_id, check_text, new_id};

/// An account as the API shows it: never the password hash or the TOTP secret.
#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub unit_id: String,
    pub pref_code: Option<String>,
    pub roles: Roles,
    pub grants: Vec<String>,
    pub locked: bool,
    pub disabled: bool,
    pub allow_concurrent: bool,
    pub last_login_at: Option<String>,
    pub created_at: String,
}

impl UserView {
    pub fn from_row(u: &UserRow, grants: &[PrefCode]) -> Self {
        UserView {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            unit_id: u.unit_id.clone(),
            pref_code: u.pref_code.map(|p| p.to_string()),
            roles: u.roles.clone(),
            grants: grants.iter().map(|p| p.to_string()).collect(),
            locked: u.locked_at_us.is_some(),
            disabled: u.disabled_at_us.is_some(),
            allow_concurrent: u.allow_concurrent,
            last_login_at: u.last_login_us.map(rfc3339),
            created_at: rfc3339(u.created_at_us),
        }
    }
}

/// A new account.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub unit_id: String,
    pub roles: Vec<Role>,
    pub password: String,
    #[serde(default)]
    pub allow_concurrent: bool,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("unit_id", &self.unit_id)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// The created account with its TOTP enrolment, shown exactly once.
#[derive(Clone, Debug, Serialize)]
pub struct UserCreated {
    pub user: UserView,
    pub totp_secret: String,
    pub totp_uri: String,
}

/// Changes to an account. Absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub unit_id: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub allow_concurrent: Option<bool>,
}

/// Account states an administrator can set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountChange {
    Unlock,
    Disable,
    Enable,
}

fn check_username(u: &str) -> Result<(), ServiceError> {
    let ok = (3..=64).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && u.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "username",
            "invalid_username",
            "3 to 64 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
        ))
    }
}

fn check_roles(roles: &[Role]) -> Result<Roles, ServiceError> {
    if roles.is_empty() {
        return Err(ServiceError::invalid(
            "roles",
            "required",
            "at least one role is required",
        ));
    }
    if roles.len() > Roles::MAX {
        return Err(ServiceError::invalid("roles", "too_many", "too many roles"));
    }
    Ok(Roles::new(roles.iter().copied()))
}

impl Koban {
    pub async fn create_user(
        &self,
        ctx: &RequestCtx,
        token: &str,
        new: NewUser,
    ) -> Result<UserCreated, ServiceError> {
        let prepared = self.prepare_user(&new).await;
        let (tx, actor) = self.begin_as(token).await?;
        self.create_user_as(ctx, tx, actor, new, prepared).await
    }

    /// Creates an account from the server console (`koban user add`, the demo).
    pub async fn system_create_user(
        &self,
        name: &str,
        new: NewUser,
    ) -> Result<UserCreated, ServiceError> {
        let prepared = self.prepare_user(&new).await;
        let (tx, actor) = self.begin_system(name).await?;
        self.create_user_as(&RequestCtx::cli(), tx, actor, new, prepared)
            .await
    }

    /// The slow, storage-free part of account creation: the password check and hash.
    async fn prepare_user(&self, new: &NewUser) -> Result<String, ServiceError> {
        self.prepare_password("password", &new.username, &new.password)
            .await
    }

    /// Checks a new password against the policy (errors name `field`) and hashes it off
    /// the async workers.
    async fn prepare_password(
        &self,
        field: &str,
        username: &str,
        password: &str,
    ) -> Result<String, ServiceError> {
        check_password_policy(password, username)
            .map_err(|e| ServiceError::invalid(field, e.code(), e.to_string()))?;
        let (pw, alg) = (password.to_string(), self.config().password_algorithm);
        tokio::task::spawn_blocking(move || hash_password(&pw, alg))
            .await
            .map_err(|e| ServiceError::Internal(format!("password hashing: {e}")))?
            .map_err(|e| ServiceError::Internal(format!("password hashing: {e}")))
    }

    async fn create_user_as(
        &self,
        ctx: &RequestCtx,
        mut tx: Box<dyn Tx>,
        actor: Actor,
        new: NewUser,
        prepared: Result<String, ServiceError>,
    ) -> Result<UserCreated, ServiceError> {
        let mut ev = actor.draft(ctx, "user.create");
        ev.object("user", new.username.clone());
        let r = async {
            actor.require(Action::UserManage)?;
            check_username(&new.username)?;
            check_text("display_name", &new.display_name, 100)?;
            let roles = check_roles(&new.roles)?;
            let unit = match tx.get_unit(&new.unit_id).await? {
                Some(u) if actor.sees(u.unit.pref_code) => u,
                _ => {
                    return Err(ServiceError::invalid(
                        "unit_id",
                        "unknown_unit",
                        "no such organisation unit",
                    ));
                }
            };
            let password_hash = prepared?;
            let secret = TotpSecret::generate()
                .map_err(|e| ServiceError::Internal(format!("TOTP secret: {e}")))?;
            let now = self.now_us();
            let id = new_id("usr");
            let sealed = self.seal_totp(&id, &secret)?;
            let row = UserRow {
                id,
                username: new.username.clone(),
                display_name: new.display_name.clone(),
                unit_id: unit.unit.id.clone(),
                pref_code: unit.unit.pref_code,
                roles,
                password_hash,
                totp_secret: sealed,
                totp_last_step: None,
                failed_count: 0,
                failed_window_start_us: None,
                locked_at_us: None,
                disabled_at_us: None,
                allow_concurrent: new.allow_concurrent,
                last_login_us: None,
                created_at_us: now,
                updated_at_us: now,
            };
            ev.object("user", row.id.clone());
            ev.scope_pref = row.pref_code.map(|p| p.to_string());
            ev.detail("username", row.username.clone());
            ev.detail("roles", row.roles.to_csv());
            ev.detail("unit_id", row.unit_id.clone());
            tx.insert_user(&row).await.map_err(|e| match e {
                koban_store::StoreError::Duplicate { .. } => ServiceError::Conflict {
                    code: "duplicate_username",
                    message: format!("the username {} is taken", row.username),
                },
                other => other.into(),
            })?;
            Ok(UserCreated {
                user: UserView::from_row(&row, &[]),
                totp_uri: otpauth_uri(&self.config().totp_issuer, &row.username, &secret),
                totp_secret: secret.to_base32(),
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    pub async fn list_users(
        &self,
        ctx: &RequestCtx,
        token: &str,
        mut filter: UserFilter,
    ) -> Result<Vec<UserView>, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "user.list");
        let r = async {
            actor.require(Action::UserRead)?;
            filter.prefs = actor.pref_filter();
            if filter.limit == 0 || filter.limit > MAX_PAGE_ROWS {
                filter.limit = MAX_PAGE_ROWS;
            }
            let rows = tx.list_users(&filter).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let grants = tx.user_grants(&row.id).await?;
                out.push(UserView::from_row(row, &grants));
            }
            ev.detail("count", out.len());
            Ok(out)
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    pub async fn get_user(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<UserView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "user.read");
        ev.object("user", id);
        let r = async {
            actor.require(Action::UserRead)?;
            let row = visible_user(&mut *tx, &actor, id).await?;
            ev.scope_pref = row.pref_code.map(|p| p.to_string());
            let grants = tx.user_grants(&row.id).await?;
            Ok(UserView::from_row(&row, &grants))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    pub async fn update_user(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        patch: UserPatch,
    ) -> Result<UserView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "user.update");
        ev.object("user", id);
        let r = async {
            actor.require(Action::UserManage)?;
            let mut row = visible_user(&mut *tx, &actor, id).await?;
            ev.scope_pref = row.pref_code.map(|p| p.to_string());
            let mut reauth = false;
            if let Some(name) = patch.display_name {
                check_text("display_name", &name, 100)?;
                row.display_name = name;
            }
            if let Some(unit_id) = patch.unit_id {
                let unit = match tx.get_unit(&unit_id).await? {
                    Some(u) if actor.sees(u.unit.pref_code) => u,
                    _ => {
                        return Err(ServiceError::invalid(
                            "unit_id",
                            "unknown_unit",
                            "no such organisation unit",
                        ));
                    }
                };
                reauth |= unit.unit.id != row.unit_id;
                row.unit_id = unit.unit.id;
                row.pref_code = unit.unit.pref_code;
            }
            if let Some(roles) = patch.roles {
                let roles = check_roles(&roles)?;
                reauth |= roles != row.roles;
                ev.detail("roles", roles.to_csv());
                row.roles = roles;
            }
            if let Some(c) = patch.allow_concurrent {
                row.allow_concurrent = c;
            }
            let now = self.now_us();
            row.updated_at_us = now;
            tx.update_user(&row).await?;
            if reauth {
                // Privileges changed: the user must authenticate again to use the new ones.
                let n = tx
                    .end_user_sessions(&row.id, now, "privileges_changed")
                    .await?;
                ev.detail("ended_sessions", n);
            }
            let grants = tx.user_grants(&row.id).await?;
            Ok(UserView::from_row(&row, &grants))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Unlocks, disables or re-enables an account.
    pub async fn change_account(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        change: AccountChange,
    ) -> Result<UserView, ServiceError> {
        let (tx, actor) = self.begin_as(token).await?;
        self.change_account_as(ctx, tx, actor, id, change).await
    }

    /// The same from the server console, addressing the account by username.
    pub async fn system_change_account(
        &self,
        name: &str,
        username: &str,
        change: AccountChange,
    ) -> Result<UserView, ServiceError> {
        let (mut tx, actor) = self.begin_system(name).await?;
        let id = match tx.get_user_by_username(username).await? {
            Some(u) => u.id,
            None => return Err(ServiceError::NotFound { what: "user" }),
        };
        self.change_account_as(&RequestCtx::cli(), tx, actor, &id, change)
            .await
    }

    async fn change_account_as(
        &self,
        ctx: &RequestCtx,
        mut tx: Box<dyn Tx>,
        actor: Actor,
        id: &str,
        change: AccountChange,
    ) -> Result<UserView, ServiceError> {
        let action = match change {
            AccountChange::Unlock => "user.unlock",
            AccountChange::Disable => "user.disable",
            AccountChange::Enable => "user.enable",
        };
        let mut ev = actor.draft(ctx, action);
        ev.object("user", id);
        let r = async {
            actor.require(Action::UserManage)?;
            let mut row = visible_user(&mut *tx, &actor, id).await?;
            ev.scope_pref = row.pref_code.map(|p| p.to_string());
            let now = self.now_us();
            match change {
                AccountChange::Unlock => {
                    row.locked_at_us = None;
                    row.failed_count = 0;
                    row.failed_window_start_us = None;
                }
                AccountChange::Disable => {
                    if row.id == actor.user.id {
                        return Err(ServiceError::Conflict {
                            code: "self_disable",
                            message: "you cannot disable your own account".into(),
                        });
                    }
                    row.disabled_at_us = Some(now);
                    tx.end_user_sessions(&row.id, now, "account_disabled")
                        .await?;
                }
                AccountChange::Enable => {
                    row.disabled_at_us = None;
                    // Re-enabled accounts restart the 90-day inactivity clock.
                    row.last_login_us = Some(now);
                }
            }
            row.updated_at_us = now;
            tx.update_user(&row).await?;
            let grants = tx.user_grants(&row.id).await?;
            Ok(UserView::from_row(&row, &grants))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Sets a new password (administrator reset) and ends the user's sessions.
    pub async fn reset_password(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        new_password: &str,
    ) -> Result<(), ServiceError> {
        // The password policy needs the username; read it before the transaction so the
        // slow hash runs without the write lock. Authorisation happens below, as always.
        let username = if check_id("id", id, "usr").is_ok() {
            self.store()
                .peek_user(koban_store::UserKey::Id(id))
                .await?
                .map(|u| u.username)
        } else {
            None
        };
        let prepared = match username {
            Some(username) => {
                self.prepare_password("new_password", &username, new_password)
                    .await
            }
            None => Err(ServiceError::NotFound { what: "user" }),
        };
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "user.password_reset");
        ev.object("user", id);
        let r = async {
            actor.require(Action::UserManage)?;
            let mut row = visible_user(&mut *tx, &actor, id).await?;
            ev.scope_pref = row.pref_code.map(|p| p.to_string());
            let hash = prepared?;
            let now = self.now_us();
            row.password_hash = hash;
            row.updated_at_us = now;
            tx.update_user(&row).await?;
            tx.end_user_sessions(&row.id, now, "password_reset").await?;
            Ok(())
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Issues a new TOTP secret (lost phone) and ends the user's sessions.
    pub async fn reset_totp(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<UserCreated, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "user.totp_reset");
        ev.object("user", id);
        let r = async {
            actor.require(Action::UserManage)?;
            let mut row = visible_user(&mut *tx, &actor, id).await?;
            ev.scope_pref = row.pref_code.map(|p| p.to_string());
            let secret = TotpSecret::generate()
                .map_err(|e| ServiceError::Internal(format!("TOTP secret: {e}")))?;
            let now = self.now_us();
            row.totp_secret = self.seal_totp(&row.id, &secret)?;
            row.totp_last_step = None;
            row.updated_at_us = now;
            tx.update_user(&row).await?;
            tx.end_user_sessions(&row.id, now, "totp_reset").await?;
            let grants = tx.user_grants(&row.id).await?;
            Ok(UserCreated {
                user: UserView::from_row(&row, &grants),
                totp_uri: otpauth_uri(&self.config().totp_issuer, &row.username, &secret),
                totp_secret: secret.to_base32(),
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Grants (or revokes) a user access to one more prefecture's data. The granting
    /// administrator must cover that prefecture themselves.
    pub async fn set_grant(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        pref: &str,
        granted: bool,
    ) -> Result<UserView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, if granted { "user.grant" } else { "user.revoke" });
        ev.object("user", id);
        let r = async {
            actor.require(Action::GrantManage)?;
            let pref = PrefCode::parse(pref).map_err(|e| {
                ServiceError::invalid("pref_code", "invalid_prefecture", e.to_string())
            })?;
            ev.detail("pref_code", pref.as_str());
            let row = visible_user(&mut *tx, &actor, id).await?;
            ev.scope_pref = row.pref_code.map(|p| p.to_string());
            if !actor.sees(Some(pref)) {
                return Err(ServiceError::Forbidden {
                    action: "grant outside your scope",
                });
            }
            let now = self.now_us();
            let changed = if granted {
                tx.put_grant(&row.id, pref, &actor.user.username, now)
                    .await?
            } else {
                tx.delete_grant(&row.id, pref).await?
            };
            if changed {
                tx.end_user_sessions(&row.id, now, "privileges_changed")
                    .await?;
            }
            let grants = tx.user_grants(&row.id).await?;
            Ok(UserView::from_row(&row, &grants))
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}

/// Loads an account the actor may see; anything else is "not found".
async fn visible_user(tx: &mut dyn Tx, actor: &Actor, id: &str) -> Result<UserRow, ServiceError> {
    check_id("id", id, "usr")?;
    match tx.get_user(id).await? {
        Some(row) if actor.sees(row.pref_code) => Ok(row),
        _ => Err(ServiceError::NotFound { what: "user" }),
    }
}
