//! koban's application services: every operation on police data, with its
//! authentication, authorisation and audit, independent of HTTP and of the database.
//!
//! This crate is *the audit layer*: the API and the CLI reach data only through the
//! methods of [`Koban`], and each method follows one protocol:
//!
//! 1. begin a transaction and authenticate the session inside it;
//! 2. check the role grants the action and the object lies in the caller's scope
//!    (an object outside the scope is reported exactly like a missing one);
//! 3. do the work in the same transaction;
//! 4. append the audit event in the same transaction and commit both together.
//!
//! A refused request rolls back whatever it had done and commits only its audit event
//! (`denied`, `not_found`, `invalid`), so the log never claims something happened that
//! did not, and nothing happens without an event.

use std::path::Path;
use std::sync::Arc;

use koban_access::{Action, DataScope, Roles, scope_covers};
use koban_auth::password::HashAlgorithm;
use koban_auth::policy::SessionPolicy;
use koban_org::{PrefCode, Scope};
use koban_store::{Store, Tx, UserRow};

pub mod audit_log;
mod audit_ops;
mod auth;
pub mod clock;
pub mod eido;
mod error;
pub mod fleet;
pub mod geo;
pub mod incidents;
pub mod live;
pub mod mapdata;
pub mod messages;
mod org;
pub mod registry;
pub mod registry_import;
mod terminals;
mod users;
pub mod verify;

pub use audit_log::{AuditLog, EventDraft};
pub use audit_ops::{AuditEventView, AuditSearch, CheckpointView, checkpoint_view};
pub use auth::{LoginRequest, LoginResponse, SessionView};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{LineProblem, ServiceError};
pub use org::{ImportReport, UnitPatch, UnitView};
pub use terminals::{NewTerminal, TerminalCreated, TerminalView};
pub use users::{AccountChange, NewUser, UserCreated, UserPatch, UserView};

/// Default file, in the data directory, of the key that seals secrets at rest.
pub const SECRETS_KEY_FILE: &str = "secrets.key";

/// Settings of the service layer.
#[derive(Clone, Debug)]
pub struct Config {
    /// Argon2id normally; PBKDF2-HMAC-SHA256 where a FIPS-validated algorithm is required.
    pub password_algorithm: HashAlgorithm,
    pub session: SessionPolicy,
    /// Name of this log in signed checkpoints.
    pub audit_origin: String,
    /// Issuer shown in authenticator apps.
    pub totp_issuer: String,
    /// The incident types in force (Japanese police defaults unless configured).
    pub incident_types: koban_dispatch::IncidentTypeList,
    /// The disposition codes accepted when closing an incident.
    pub dispositions: koban_dispatch::DispositionList,
    /// File holding the key that seals TOTP secrets at rest. `None`: `secrets.key` in the
    /// data directory. Instances sharing a PostgreSQL database must share this key.
    pub secrets_key_file: Option<std::path::PathBuf>,
    /// The NENA EIDO OpenAPI schema file. `None`: EIDO import is unavailable (export
    /// still works, since koban writes documents it knows to be valid).
    pub eido_schema: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            password_algorithm: HashAlgorithm::Argon2id,
            session: SessionPolicy::default(),
            audit_origin: "koban".into(),
            totp_issuer: "koban".into(),
            incident_types: koban_dispatch::IncidentTypeList::default(),
            dispositions: koban_dispatch::DispositionList::default(),
            secrets_key_file: None,
            eido_schema: None,
        }
    }
}

/// Facts about the request that go into its audit event.
#[derive(Clone, Debug, Default)]
pub struct RequestCtx {
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    /// Why the caller is accessing the data, where the operation asks for one.
    pub purpose: Option<String>,
}

impl RequestCtx {
    /// The context of a command run on the server itself.
    pub fn cli() -> Self {
        RequestCtx {
            client_addr: Some("local-cli".into()),
            request_id: None,
            purpose: None,
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user: UserRow,
    pub session_id: Option<String>,
    pub token_hash: Option<Vec<u8>>,
    /// The unit's scope widened by grants.
    pub scope: Scope,
    pub grants: Vec<PrefCode>,
}

impl Actor {
    /// The operator at the server's console (`koban user add` and friends): national
    /// scope, every action, and audited under the name given.
    pub fn system(name: &str) -> Actor {
        Actor {
            user: UserRow {
                id: String::new(),
                username: name.to_string(),
                display_name: name.to_string(),
                unit_id: "npa".into(),
                pref_code: None,
                roles: Roles::new([
                    koban_access::Role::Administrator,
                    koban_access::Role::Auditor,
                ]),
                password_hash: String::new(),
                totp_secret: String::new(),
                totp_last_step: None,
                failed_count: 0,
                failed_window_start_us: None,
                locked_at_us: None,
                disabled_at_us: None,
                allow_concurrent: true,
                last_login_us: None,
                created_at_us: 0,
                updated_at_us: 0,
            },
            session_id: None,
            token_hash: None,
            scope: Scope::National,
            grants: Vec::new(),
        }
    }

    fn is_system(&self) -> bool {
        self.user.id.is_empty()
    }

    /// Denies unless a role grants the action.
    pub fn require(&self, action: Action) -> Result<(), ServiceError> {
        if self.user.roles.allows(action) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden {
                action: action.as_str(),
            })
        }
    }

    /// Whether data of this scope is visible to the actor.
    pub fn sees(&self, data: DataScope) -> bool {
        scope_covers(&self.scope, data)
    }

    /// The prefectures to restrict list queries to; `None` for national scope.
    pub fn pref_filter(&self) -> Option<Vec<PrefCode>> {
        match &self.scope {
            Scope::National => None,
            Scope::Prefectures(set) => Some(set.iter().copied().collect()),
        }
    }

    /// A draft audit event for an action by this actor.
    pub fn draft(&self, ctx: &RequestCtx, action: &str) -> EventDraft {
        EventDraft {
            actor_id: (!self.is_system()).then(|| self.user.id.clone()),
            actor_name: self.user.username.clone(),
            actor_roles: self.user.roles.to_csv(),
            actor_unit: Some(self.user.unit_id.clone()),
            action: action.to_string(),
            scope_pref: self.user.pref_code.map(|p| p.to_string()),
            purpose: ctx.purpose.clone(),
            client_addr: ctx.client_addr.clone(),
            request_id: ctx.request_id.clone(),
            ..EventDraft::default()
        }
    }
}

/// The application: storage, clock, audit log and settings.
#[derive(Debug, Clone)]
pub struct Koban {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    config: Config,
    geo: geo::SharedGeo,
    secrets: koban_auth::sealed::SecretBox,
    live: live::LiveHub,
    units: fleet::UnitCache,
    /// The EIDO validator, loaded once from `Config::eido_schema`.
    eido: Option<koban_eido::Schema>,
}

impl Koban {
    /// Opens the application over a store: loads (or creates) the audit signing key from
    /// `data_dir`, registers its public key, and loads the built-in organisation on first
    /// start. Both happen in audited transactions.
    pub async fn open(
        store: Arc<dyn Store>,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> Result<Koban, ServiceError> {
        let audit = AuditLog::open(data_dir, &config.audit_origin)?;
        let key_path = config
            .secrets_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join(SECRETS_KEY_FILE));
        let key = audit_log::read_or_create_secret(&key_path, || {
            koban_auth::sealed::SecretBox::generate_key()
                .map(|k| k.to_vec())
                .map_err(|e| ServiceError::Internal(format!("secrets key: {e}")))
        })?;
        let secrets = koban_auth::sealed::SecretBox::from_key(&key).map_err(|_| {
            ServiceError::Internal(format!("{} is not a 32-byte key", key_path.display()))
        })?;
        let eido = eido::load_schema(config.eido_schema.as_deref())?;
        let app = Koban {
            inner: Arc::new(Inner {
                store,
                clock,
                audit,
                config,
                geo: Default::default(),
                secrets,
                live: Default::default(),
                units: Default::default(),
                eido,
            }),
        };
        app.bootstrap().await?;
        app.reload_geo().await?;
        // A bulk load that stopped before its final pass (or a migration of the index)
        // leaves records without index rows; nothing is answered until they are built.
        app.system_build_registry_index("koban", None).await?;
        Ok(app)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }
    pub fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    pub(crate) fn secrets(&self) -> &koban_auth::sealed::SecretBox {
        &self.inner.secrets
    }
    pub(crate) fn unit_cache(&self) -> &fleet::UnitCache {
        &self.inner.units
    }
    pub(crate) fn geo(&self) -> &geo::SharedGeo {
        &self.inner.geo
    }
    pub fn now_us(&self) -> i64 {
        self.inner.clock.now_us()
    }

    async fn bootstrap(&self) -> Result<(), ServiceError> {
        let system = Actor::system("system:bootstrap");
        let ctx = RequestCtx::default();
        let key_id = self.inner.audit.key_id();
        let known = self.inner.store.audit_keys().await?;
        let mut tx = self.inner.store.begin().await?;
        let now = self.now_us();
        if !known.iter().any(|(id, _)| *id == key_id) {
            tx.put_audit_key(&key_id, &self.inner.audit.public_key(), now)
                .await?;
            let mut ev = system.draft(&ctx, "audit.key_register");
            ev.object("audit_key", key_id.clone());
            ev.result = "success".into();
            self.inner.audit.append(&mut *tx, ev, now).await?;
        }
        if tx.count_units().await? == 0 {
            let units = koban_org::builtin_units();
            for unit in &units {
                tx.insert_unit(&koban_store::UnitRow {
                    unit: unit.clone(),
                    builtin: true,
                    disabled: false,
                    created_at_us: now,
                    updated_at_us: now,
                })
                .await?;
            }
            let mut ev = system.draft(&ctx, "org.bootstrap");
            ev.detail("units", units.len());
            ev.result = "success".into();
            self.inner.audit.append(&mut *tx, ev, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ends an audited operation: on success appends `ev` as `success` and commits; on a
    /// refusal rolls the work back and commits the event alone with the refusal's result.
    pub(crate) async fn conclude<T>(
        &self,
        mut tx: Box<dyn Tx>,
        mut ev: EventDraft,
        outcome: Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        match outcome {
            Ok(value) => {
                ev.result = "success".into();
                let live = std::mem::take(&mut ev.live);
                if live.len() > live::MAX_EVENTS_PER_CHANGE {
                    return Err(ServiceError::Internal(format!(
                        "a change published {} live events",
                        live.len()
                    )));
                }
                let now = self.now_us();
                self.inner.audit.append(&mut *tx, ev, now).await?;
                // After the audit append: its head lock orders concurrent writers, so the
                // live sequence increases in commit order.
                let published = !live.is_empty();
                if published {
                    let rows: Vec<_> = live.into_iter().map(live::LiveDraft::into_new).collect();
                    tx.append_live_events(&rows, now).await?;
                }
                tx.commit().await?;
                if published {
                    self.inner.live.nudge();
                }
                Ok(value)
            }
            Err(err) => {
                ev.live.clear();
                ev.also.clear();
                let Some(result) = err.audit_result() else {
                    return Err(err);
                };
                // Throw away whatever the refused operation wrote, then record the attempt.
                drop(tx);
                ev.result = result.into();
                ev.detail("error", err.to_string());
                let mut tx = self.inner.store.begin().await?;
                self.inner.audit.append(&mut *tx, ev, self.now_us()).await?;
                tx.commit().await?;
                Err(err)
            }
        }
    }

    /// Begins a transaction for an authenticated caller.
    pub(crate) async fn begin_as(&self, token: &str) -> Result<(Box<dyn Tx>, Actor), ServiceError> {
        let tx = self.inner.store.begin().await?;
        self.authenticate(tx, token).await
    }

    /// Begins a transaction for the server console (CLI) actor.
    pub(crate) async fn begin_system(
        &self,
        name: &str,
    ) -> Result<(Box<dyn Tx>, Actor), ServiceError> {
        let tx = self.inner.store.begin().await?;
        Ok((tx, Actor::system(name)))
    }
}

/// Checks that a free-text field is present, not too long and free of control characters.
pub(crate) fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), ServiceError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ServiceError::invalid(
            field,
            "required",
            "must not be empty",
        ));
    }
    if value.chars().count() > max_chars {
        return Err(ServiceError::invalid(
            field,
            "too_long",
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            field,
            "control_characters",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A new random identifier with a readable prefix, e.g. `usr_0190f3…`. UUIDv7 keeps ids
/// roughly time-ordered, which keeps B-tree inserts local.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    let hex = uuid::Uuid::now_v7().simple().encode_lower(&mut buf);
    let mut id = String::with_capacity(prefix.len() + 1 + hex.len());
    id.push_str(prefix);
    id.push('_');
    id.push_str(hex);
    id
}

/// Checks an id taken from a request path before it reaches storage.
pub(crate) fn check_id(field: &str, id: &str, prefix: &str) -> Result<(), ServiceError> {
    let ok = id
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            field,
            "invalid_id",
            format!("not a valid {prefix} id"),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_checked() {
        let id = new_id("usr");
        assert!(check_id("id", &id, "usr").is_ok());
        assert!(
            check_id("id", &id, "trm").is_err(),
            "a user id is not a terminal id"
        );
        for bad in [
            "",
            "usr_",
            "usr_xyz",
            "usr_0190",
            &format!("{id}0"),
            "usr_0190f3c2e6a07c5b9e1d2a3b4c5d6e7G",
        ] {
            assert!(check_id("id", bad, "usr").is_err(), "{bad}");
        }
        assert_ne!(new_id("usr"), new_id("usr"));
    }

    #[test]
    fn text_fields_are_bounded_and_visible() {
        assert!(check_text("name", "丸の内警察署", 100).is_ok());
        assert!(check_text("name", "  ", 100).is_err());
        assert!(check_text("name", &"x".repeat(101), 100).is_err());
        assert!(check_text("name", "a\u{0}b", 100).is_err());
    }

    #[test]
    fn times_are_utc_microseconds() {
        assert_eq!(clock::rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            clock::rfc3339(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            clock::parse_rfc3339("2023-11-14T22:13:20.123456Z"),
            Some(1_700_000_000_123_456)
        );
        assert_eq!(
            clock::parse_rfc3339("2023-11-15T07:13:20.123456+09:00"),
            Some(1_700_000_000_123_456)
        );
        assert_eq!(clock::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn refusals_map_to_audit_results() {
        assert_eq!(
            ServiceError::Forbidden { action: "x" }.audit_result(),
            Some("denied")
        );
        assert_eq!(
            ServiceError::NotFound { what: "x" }.audit_result(),
            Some("not_found")
        );
        assert_eq!(
            ServiceError::InvalidCredentials.audit_result(),
            Some("failure")
        );
        assert_eq!(
            ServiceError::Internal("x".into()).audit_result(),
            None,
            "storage failures cannot be audited"
        );
    }
}
