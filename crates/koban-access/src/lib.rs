//! Who may do what, and on whose data.
//!
//! koban's authorisation is deny-by-default and two-dimensional: a user's *roles* grant
//! *actions*, and the user's organisation unit (plus any explicit grants) fixes the
//! *scope* of prefectures whose data those actions may touch. This crate holds both
//! halves as plain data and pure functions so that the policy can be read in one place
//! and tested exhaustively; it does no I/O and knows nothing of HTTP or storage.

use std::collections::BTreeSet;
use std::fmt;

use koban_org::{PrefCode, Scope};
use serde::{Deserialize, Serialize};

/// The jobs people do in a police information system. Each is a role an account can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 110 call-taker (受付台).
    CallTaker,
    /// Dispatcher (指令台).
    Dispatcher,
    /// Officer in a patrol car or on foot.
    FieldOfficer,
    /// Query-centre operator (照会センター).
    QueryOperator,
    /// Records clerk who registers records.
    RecordsClerk,
    /// Crime analyst.
    Analyst,
    /// Auditor / security officer.
    Auditor,
    /// System administrator for the user's scope.
    Administrator,
}

impl Role {
    /// Every role, in a stable order (used by the demo and by exhaustive tests).
    pub const ALL: [Role; 8] = [
        Role::CallTaker,
        Role::Dispatcher,
        Role::FieldOfficer,
        Role::QueryOperator,
        Role::RecordsClerk,
        Role::Analyst,
        Role::Auditor,
        Role::Administrator,
    ];

    /// The stable wire name, as stored and as sent over the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CallTaker => "call_taker",
            Role::Dispatcher => "dispatcher",
            Role::FieldOfficer => "field_officer",
            Role::QueryOperator => "query_operator",
            Role::RecordsClerk => "records_clerk",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
            Role::Administrator => "administrator",
        }
    }

    /// The name users know the role by.
    pub fn label_ja(self) -> &'static str {
        match self {
            Role::CallTaker => "受付",
            Role::Dispatcher => "指令",
            Role::FieldOfficer => "現場警察官",
            Role::QueryOperator => "照会センター",
            Role::RecordsClerk => "登録担当",
            Role::Analyst => "分析官",
            Role::Auditor => "監査",
            Role::Administrator => "システム管理者",
        }
    }

    /// Parses a wire name; unknown names are an error, never a default role.
    pub fn parse(s: &str) -> Result<Role, AccessError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| AccessError::UnknownRole(s.chars().take(40).collect()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of roles as held by one account. Kept sorted and free of duplicates so that
/// its text form (stored in the database and in audit events) is canonical.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Roles(BTreeSet<Role>);

impl Roles {
    /// Upper bound on the number of roles; there are only eight, so more means bad input.
    pub const MAX: usize = Role::ALL.len();

    pub fn new(roles: impl IntoIterator<Item = Role>) -> Roles {
        Roles(roles.into_iter().collect())
    }
    pub fn contains(&self, r: Role) -> bool {
        self.0.contains(&r)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }
    /// Comma-separated wire names, e.g. `dispatcher,field_officer`.
    pub fn to_csv(&self) -> String {
        self.0
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
    /// Parses the comma-separated form; the empty string is the empty set.
    pub fn from_csv(s: &str) -> Result<Roles, AccessError> {
        if s.is_empty() {
            return Ok(Roles::default());
        }
        s.split(',')
            .map(Role::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Roles)
    }
    /// Whether any held role grants the action. An empty role set grants nothing.
    pub fn allows(&self, action: Action) -> bool {
        self.0.iter().any(|r| role_allows(*r, action))
    }
}

/// Everything the API lets a user attempt. New capabilities add variants here and a row
/// in [`role_allows`]; a variant without a row is denied to everyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// See one's own session and change one's own password.
    SelfService,
    /// Read organisation units (stations, boxes) in scope.
    OrgRead,
    /// Create, change and import stations and boxes in scope.
    OrgManage,
    /// Read user accounts in scope.
    UserRead,
    /// Create, change, lock, unlock and disable accounts in scope.
    UserManage,
    /// Grant a user extra prefectures beyond their unit's scope.
    GrantManage,
    /// Register and disable command-room terminals.
    TerminalManage,
    /// Search the audit log.
    AuditRead,
    /// Fetch checkpoints and Merkle proofs of the audit log.
    AuditProof,
    /// Look up addresses and places in the imported reference data.
    GeoRead,
    /// Import reference data (address points, boundaries).
    GeoManage,
    /// Read 110 calls and incidents in scope.
    IncidentRead,
    /// Record 110 calls, create incidents and link calls to them.
    IncidentWrite,
    /// Move incidents through their states (dispatch, arrival, clearing, closing).
    IncidentCommand,
    /// Register dispatchable units (cars, bikes, foot patrols, aircraft, boats).
    UnitManage,
    /// Report unit positions and statuses (car terminals, AVL gateways, dispatchers).
    UnitReport,
    /// Send messages from the command room to units and stations.
    MessageSend,
    /// Receive and acknowledge messages on a unit's terminal.
    MessageReceive,
    /// Report to the command room from the field: text, a photo, a location.
    MessageReport,
    /// Read registry records of one's own prefecture with their history.
    RecordRead,
    /// Enter, modify, cancel, validate and clear registry records, and answer hit
    /// confirmation requests, for one's own prefecture.
    RecordEnter,
    /// The second person's check of a new registry entry.
    RecordVerify,
    /// Query the national registry, ask for hit confirmation and send locates.
    RecordQuery,
}

impl Action {
    /// Stable name used in audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SelfService => "self_service",
            Action::OrgRead => "org_read",
            Action::OrgManage => "org_manage",
            Action::UserRead => "user_read",
            Action::UserManage => "user_manage",
            Action::GrantManage => "grant_manage",
            Action::TerminalManage => "terminal_manage",
            Action::AuditRead => "audit_read",
            Action::AuditProof => "audit_proof",
            Action::GeoRead => "geo_read",
            Action::GeoManage => "geo_manage",
            Action::IncidentRead => "incident_read",
            Action::IncidentWrite => "incident_write",
            Action::IncidentCommand => "incident_command",
            Action::UnitManage => "unit_manage",
            Action::UnitReport => "unit_report",
            Action::MessageSend => "message_send",
            Action::MessageReceive => "message_receive",
            Action::MessageReport => "message_report",
            Action::RecordRead => "record_read",
            Action::RecordEnter => "record_enter",
            Action::RecordVerify => "record_verify",
            Action::RecordQuery => "record_query",
        }
    }

    pub const ALL: [Action; 23] = [
        Action::SelfService,
        Action::OrgRead,
        Action::OrgManage,
        Action::UserRead,
        Action::UserManage,
        Action::GrantManage,
        Action::TerminalManage,
        Action::AuditRead,
        Action::AuditProof,
        Action::GeoRead,
        Action::GeoManage,
        Action::IncidentRead,
        Action::IncidentWrite,
        Action::IncidentCommand,
        Action::UnitManage,
        Action::UnitReport,
        Action::MessageSend,
        Action::MessageReceive,
        Action::MessageReport,
        Action::RecordRead,
        Action::RecordEnter,
        Action::RecordVerify,
        Action::RecordQuery,
    ];
}

/// The role/action matrix. It is written as an exhaustive match on the action so that
/// adding an action forces a decision here; the default for anything unlisted is "no".
pub fn role_allows(role: Role, action: Action) -> bool {
    use Role::*;
    match action {
        Action::SelfService | Action::OrgRead | Action::GeoRead => true,
        Action::OrgManage
        | Action::UserManage
        | Action::GrantManage
        | Action::TerminalManage
        | Action::GeoManage => role == Administrator,
        // Auditors must be able to see who holds which account to review access; they
        // cannot change anything.
        Action::UserRead => matches!(role, Administrator | Auditor),
        Action::AuditRead => role == Auditor,
        Action::AuditProof => matches!(role, Auditor | Administrator),
        // The command room and the officers it sends read incidents; analysts read them
        // for statistics. Call-takers and dispatchers record them; only dispatchers move
        // them on (officers' status reports arrive through their assignments).
        Action::IncidentRead => matches!(role, CallTaker | Dispatcher | FieldOfficer | Analyst),
        Action::IncidentWrite => matches!(role, CallTaker | Dispatcher),
        Action::IncidentCommand => role == Dispatcher,
        Action::UnitManage => matches!(role, Administrator | Dispatcher),
        Action::UnitReport => matches!(role, FieldOfficer | Dispatcher),
        Action::MessageSend => role == Dispatcher,
        Action::MessageReceive => matches!(role, FieldOfficer | Dispatcher),
        Action::MessageReport => matches!(role, FieldOfficer | Dispatcher),
        // Records clerks keep their prefecture's records (and check each other's entries);
        // query-centre operators query the whole registry for the officers on the radio
        // and see the records they act on. Auditors review records and their histories.
        Action::RecordRead => matches!(role, RecordsClerk | QueryOperator | Auditor),
        Action::RecordEnter | Action::RecordVerify => role == RecordsClerk,
        Action::RecordQuery => matches!(role, QueryOperator | RecordsClerk),
    }
}

/// The prefecture a piece of data belongs to, or `None` for national-level data
/// (the NPA, bureaus, and accounts attached to them).
pub type DataScope = Option<PrefCode>;

/// Whether a user whose effective scope is `scope` may touch data belonging to `data`.
/// National-level data is visible only to national-scope users: a bureau's staff see
/// their prefectures, not the NPA's own records.
pub fn scope_covers(scope: &Scope, data: DataScope) -> bool {
    match data {
        Some(p) => scope.covers(p),
        None => scope.is_national(),
    }
}

/// The user's effective scope: their unit's scope widened by explicit grants.
pub fn effective_scope(unit_scope: &Scope, grants: &[PrefCode]) -> Scope {
    if grants.is_empty() {
        return unit_scope.clone();
    }
    unit_scope.union(&Scope::Prefectures(grants.iter().copied().collect()))
}

/// Errors of parsing access-control data.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    #[error("unknown role `{0}`")]
    UnknownRole(String),
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roles_round_trip_and_reject_unknown() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("root").is_err());
        assert!(Role::parse("").is_err());
        assert!(Roles::from_csv("dispatcher,,auditor").is_err());
        let rs = Roles::from_csv("auditor,dispatcher,auditor").unwrap();
        assert_eq!(rs.to_csv(), "dispatcher,auditor");
    }

    #[test]
    fn empty_role_set_is_denied_everything() {
        for a in Action::ALL {
            assert!(!Roles::default().allows(a), "{a:?}");
        }
    }

    #[test]
    fn only_administrators_manage_and_only_auditors_read_the_log() {
        for r in Role::ALL {
            let admin = r == Role::Administrator;
            assert_eq!(role_allows(r, Action::UserManage), admin);
            assert_eq!(role_allows(r, Action::OrgManage), admin);
            assert_eq!(role_allows(r, Action::TerminalManage), admin);
            assert_eq!(role_allows(r, Action::AuditRead), r == Role::Auditor);
            assert!(role_allows(r, Action::OrgRead));
        }
    }

    #[test]
    fn registry_work_is_split_between_clerks_and_query_centres() {
        for r in Role::ALL {
            assert_eq!(role_allows(r, Action::RecordEnter), r == Role::RecordsClerk);
            assert_eq!(
                role_allows(r, Action::RecordQuery),
                matches!(r, Role::QueryOperator | Role::RecordsClerk)
            );
        }
        assert!(!role_allows(Role::Administrator, Action::RecordQuery));
    }

    #[test]
    fn national_data_needs_national_scope() {
        let kanagawa = Scope::Prefectures([PrefCode::parse("14").unwrap()].into());
        assert!(!scope_covers(&kanagawa, None));
        assert!(scope_covers(
            &kanagawa,
            Some(PrefCode::parse("14").unwrap())
        ));
        assert!(!scope_covers(
            &kanagawa,
            Some(PrefCode::parse("13").unwrap())
        ));
        assert!(scope_covers(&Scope::National, None));
    }

    proptest! {
        #[test]
        fn grants_only_widen(unit in 1u8..=47, grants in proptest::collection::vec(1u8..=47, 0..5), probe in 1u8..=47) {
            let unit_scope = Scope::Prefectures([PrefCode::new(unit).unwrap()].into());
            let g: Vec<PrefCode> = grants.iter().map(|n| PrefCode::new(*n).unwrap()).collect();
            let eff = effective_scope(&unit_scope, &g);
            let p = PrefCode::new(probe).unwrap();
            prop_assert_eq!(eff.covers(p), probe == unit || grants.contains(&probe));
            prop_assert!(!eff.is_national());
        }

        #[test]
        fn role_sets_allow_iff_some_member_allows(mask in 0u8..=255) {
            let roles = Roles::new(Role::ALL.into_iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, r)| r));
            for a in Action::ALL {
                prop_assert_eq!(roles.allows(a), roles.iter().any(|r| role_allows(r, a)));
            }
        }
    }
}
