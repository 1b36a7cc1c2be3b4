//! The record lifecycle: the registry messages as a state machine.
//!
//! ```text
//!  entry ─► pending_verification ─verify (another person)─► active ─locate─► located
//!               │                                             │  ▲            │
//!               └──── cancel ─► cancelled ◄──── cancel ───────┘  └ validate   clear ─► cleared
//! ```
//!
//! Modify, validate and hit confirmations leave the state as it is; every accepted message
//! appends one [`HistoryEntry`], and a refused message changes nothing at all.

use koban_org::PrefCode;
use serde::{Deserialize, Serialize};

use crate::date::{DAY_US, jst_year, jst_year_start};
use crate::error::RegistryError;
use crate::records::RecordKind;

/// Microseconds in a minute.
pub const MINUTE_US: i64 = 60_000_000;
/// The owner must answer an urgent hit confirmation within 10 minutes.
pub const URGENT_DEADLINE_US: i64 = 10 * MINUTE_US;
/// The owner must answer a routine hit confirmation within 1 hour.
pub const ROUTINE_DEADLINE_US: i64 = 60 * MINUTE_US;
/// The longest extension an owner may ask for in one answer.
pub const MAX_EXTENSION_US: i64 = 24 * 60 * MINUTE_US;
/// Times an unanswered request is re-sent before it is escalated.
pub const MAX_RESENDS: u32 = 1;
/// The first validation window opens 60 days after entry…
pub const FIRST_VALIDATION_OPENS_US: i64 = 60 * DAY_US;
/// …and closes 90 days after entry.
pub const FIRST_VALIDATION_CLOSES_US: i64 = 90 * DAY_US;
/// Later validations are due yearly: the window closes 365 days after the last one…
pub const YEARLY_VALIDATION_CLOSES_US: i64 = 365 * DAY_US;
/// …and opens 30 days before that.
pub const YEARLY_VALIDATION_OPENS_US: i64 = 335 * DAY_US;
/// A located record the owner does not clear is purged after two weeks.
pub const LOCATED_RETENTION_US: i64 = 14 * DAY_US;
/// Longest actor or request id, in characters.
pub const MAX_ID_LEN: usize = 64;
/// Most hit confirmation requests one record keeps (answered ones included): the
/// lifecycle is stored whole on every change, and each request is a row of the query
/// centres' work queue that one change may have to update.
pub const MAX_REQUESTS_PER_RECORD: usize = 500;

/// Where a record is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    /// Entered, waiting for the second person's check; not yet searchable.
    PendingVerification,
    /// Verified and searchable.
    Active,
    /// Found by another agency after a confirmed hit, waiting for the owner to clear it.
    Located,
    /// Closed by the owner because the person or object was found.
    Cleared,
    /// Removed by the owner because it was wrong or no longer valid.
    Cancelled,
}

impl RecordState {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::PendingVerification => "pending_verification",
            RecordState::Active => "active",
            RecordState::Located => "located",
            RecordState::Cleared => "cleared",
            RecordState::Cancelled => "cancelled",
        }
    }

    /// True while the record still matters (neither cleared nor cancelled).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            RecordState::PendingVerification | RecordState::Active | RecordState::Located
        )
    }
}

/// Who sends a message: a person and the prefecture they act for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The person's user id.
    pub user: String,
    /// The prefecture the person acts for.
    pub pref: PrefCode,
}

/// How fast the inquirer needs the owner's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// 10 minutes: the person or object is in front of the officer.
    Urgent,
    /// 1 hour.
    Routine,
}

impl Priority {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::Routine => "routine",
        }
    }

    /// The answer deadline, in microseconds.
    pub fn deadline_us(self) -> i64 {
        match self {
            Priority::Urgent => URGENT_DEADLINE_US,
            Priority::Routine => ROUTINE_DEADLINE_US,
        }
    }
}

/// The owner's answer to a hit confirmation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "answer")]
pub enum HitAnswer {
    /// The record is valid and names the same person or object.
    Confirmed,
    /// Not valid, or not the same.
    NotConfirmed,
    /// The owner needs this much more time (microseconds, at most one day).
    NeedMoreTime {
        /// The extension.
        extra_us: i64,
    },
}

/// One hit confirmation request and what became of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitRequest {
    /// The request id, unique per record.
    pub id: String,
    /// The inquiring prefecture.
    pub from: PrefCode,
    /// The inquiring person.
    pub requested_by: String,
    /// Urgent or routine.
    pub priority: Priority,
    /// When it was (last) sent.
    pub sent_at: i64,
    /// When the answer is due.
    pub due_at: i64,
    /// How often it has been re-sent.
    pub resends: u32,
    /// The final answer, once given (`NeedMoreTime` only moves `due_at`).
    pub answer: Option<bool>,
    /// When the unanswered request was escalated to the owner's supervisor, if it was.
    /// Histories stored before escalation existed have no such field: they read as `None`.
    #[serde(default)]
    pub escalated_at: Option<i64>,
}

impl HitRequest {
    /// What to do about the request at `now`: nothing while it is answered or not yet due;
    /// once overdue, re-send it while re-sends are left, then escalate it once, then wait
    /// for the owner's supervisor. (Whether the record is still in the active file is the
    /// lifecycle's business, see [`Lifecycle::overdue_requests`].)
    pub fn overdue_action(&self, now: i64) -> Option<OverdueAction> {
        if self.answer.is_some() {
            return None;
        }
        overdue_action(self.due_at, self.resends, self.escalated_at.is_some(), now)
    }
}

/// What to do at `now` about an unanswered request due at `due_at`, re-sent `resends`
/// times and perhaps escalated: nothing before the deadline; after it, re-send while
/// re-sends are left, then escalate once, then wait for the owner's supervisor. The rule
/// of [`HitRequest::overdue_action`], for callers holding only a request's figures (the
/// work queue's rows).
pub fn overdue_action(
    due_at: i64,
    resends: u32,
    escalated: bool,
    now: i64,
) -> Option<OverdueAction> {
    if now <= due_at {
        return None;
    }
    Some(if escalated {
        OverdueAction::AwaitSupervisor
    } else if resends < MAX_RESENDS {
        OverdueAction::Resend
    } else {
        OverdueAction::Escalate
    })
}

/// Where a hit confirmation request stands, as the query centres' work queue shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitRequestState {
    /// Waiting for the owner's answer.
    Open,
    /// The owner answered (confirmed or not).
    Answered,
    /// Unanswered, but the record left the active file (cancelled, cleared, a located
    /// missing person): there is nothing left to confirm.
    Closed,
}

impl HitRequestState {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            HitRequestState::Open => "open",
            HitRequestState::Answered => "answered",
            HitRequestState::Closed => "closed",
        }
    }
}

/// What to do about an unanswered request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverdueAction {
    /// Send it again.
    Resend,
    /// It was already re-sent: escalate to the owner's supervisor.
    Escalate,
    /// It was escalated: the owner's supervisor must answer; nothing more is sent.
    AwaitSupervisor,
}

impl OverdueAction {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            OverdueAction::Resend => "resend",
            OverdueAction::Escalate => "escalate",
            OverdueAction::AwaitSupervisor => "await_supervisor",
        }
    }
}

/// A registry message applied to an existing record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "message")]
pub enum Message {
    /// The second person's check of a new entry (owner's prefecture, another person).
    Verify,
    /// The owner changed fields (the caller stores the new file).
    Modify,
    /// The owner removes the record.
    Cancel,
    /// The owner's periodic validation.
    Validate,
    /// An inquirer asks the owner to confirm a hit.
    HitConfirmationRequest {
        /// Request id, unique per record.
        request_id: String,
        /// Urgent or routine.
        priority: Priority,
    },
    /// The inquirer re-sends an overdue request.
    HitConfirmationResend {
        /// Request id.
        request_id: String,
    },
    /// An overdue request that was already re-sent is escalated to the owner's supervisor
    /// (once; sent for the inquiring prefecture, usually by the scheduled sweep).
    HitConfirmationEscalate {
        /// Request id.
        request_id: String,
    },
    /// The owner answers a request.
    HitConfirmationResponse {
        /// Request id.
        request_id: String,
        /// The answer.
        answer: HitAnswer,
    },
    /// Another agency found the person or object (needs its own confirmed hit).
    Locate,
    /// The owner closes the record after it was found.
    Clear,
}

impl Message {
    /// The stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Message::Verify => "verify",
            Message::Modify => "modify",
            Message::Cancel => "cancel",
            Message::Validate => "validate",
            Message::HitConfirmationRequest { .. } => "hit_confirmation_request",
            Message::HitConfirmationResend { .. } => "hit_confirmation_resend",
            Message::HitConfirmationEscalate { .. } => "hit_confirmation_escalate",
            Message::HitConfirmationResponse { .. } => "hit_confirmation_response",
            Message::Locate => "locate",
            Message::Clear => "clear",
        }
    }
}

/// One accepted message in a record's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// When (UTC microseconds).
    pub at: i64,
    /// Who.
    pub actor: String,
    /// For which prefecture.
    pub pref: PrefCode,
    /// Which message (`entry` for the first).
    pub message: &'static str,
    /// The state before (none for the entry).
    pub from: Option<RecordState>,
    /// The state after.
    pub to: RecordState,
}

/// Every message name a history may hold, so stored histories read back into the
/// `&'static str` the lifecycle writes (and an unknown name is refused, not invented).
pub const MESSAGE_NAMES: [&str; 12] = [
    "entry",
    "import",
    "verify",
    "modify",
    "cancel",
    "validate",
    "hit_confirmation_request",
    "hit_confirmation_resend",
    "hit_confirmation_escalate",
    "hit_confirmation_response",
    "locate",
    "clear",
];

/// A history entry as stored, read back through [`MESSAGE_NAMES`].
#[derive(Deserialize)]
struct HistoryEntryWire {
    at: i64,
    actor: String,
    pref: PrefCode,
    message: String,
    from: Option<RecordState>,
    to: RecordState,
}

impl<'de> Deserialize<'de> for HistoryEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = HistoryEntryWire::deserialize(d)?;
        HistoryEntry::try_from(wire).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<HistoryEntryWire> for HistoryEntry {
    type Error = String;
    fn try_from(w: HistoryEntryWire) -> Result<Self, Self::Error> {
        let message = MESSAGE_NAMES
            .iter()
            .find(|n| **n == w.message)
            .copied()
            .ok_or_else(|| format!("unknown message {:?}", w.message))?;
        Ok(HistoryEntry {
            at: w.at,
            actor: w.actor,
            pref: w.pref,
            message,
            from: w.from,
            to: w.to,
        })
    }
}

/// Why a record should be purged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeReason {
    /// Not validated by the end of its validation window.
    Unvalidated,
    /// A stolen article past the end of the year after its entry.
    RetentionExpired,
    /// Located and not cleared by the owner within two weeks.
    LocatedNotCleared,
    /// A missing person was located: the record leaves the active file at once.
    MissingPersonLocated,
}

/// A record's lifecycle: state, ownership, hit confirmations, validation and history.
///
/// Stored as JSON beside every record (see [`LifecycleOut`] for the stored form and
/// [`LifecycleIn`] for the forms that read back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    kind: RecordKind,
    owner: PrefCode,
    entered_by: String,
    entered_at: i64,
    state: RecordState,
    last_validated_at: Option<i64>,
    located_at: Option<i64>,
    located_by: Option<PrefCode>,
    requests: Vec<HitRequest>,
    history: Vec<HistoryEntry>,
}

/// The stored form of a lifecycle. A bulk load writes millions of fresh lifecycles, so the
/// form is lean:
/// - absent values are left out rather than written as `null` or `[]`;
/// - the history's first entry, the entry message, follows from `entered_by`,
///   `entered_at` and `owner` whenever it is the usual one (see
///   [`Lifecycle::entry_entry`]); then only the entries after it are written, as `later`,
///   and `history` is left out;
/// - a history entry without a previous state leaves `from` out.
///
/// An imported lifecycle went from 343 to about 215 bytes.
#[derive(Serialize)]
struct LifecycleOut<'a> {
    kind: RecordKind,
    owner: PrefCode,
    entered_by: &'a str,
    entered_at: i64,
    state: RecordState,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_validated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    located_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    located_by: Option<PrefCode>,
    #[serde(skip_serializing_if = "<[HitRequest]>::is_empty")]
    requests: &'a [HitRequest],
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<StoredEntries<'a>>,
    #[serde(skip_serializing_if = "StoredEntries::is_empty")]
    later: StoredEntries<'a>,
}

/// History entries, written in their stored form.
struct StoredEntries<'a>(&'a [HistoryEntry]);

impl StoredEntries<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for StoredEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(StoredEntry::from))
    }
}

/// A history entry as stored: `from` is left out when there was no previous state.
#[derive(Serialize)]
struct StoredEntry<'a> {
    at: i64,
    actor: &'a str,
    pref: PrefCode,
    message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<RecordState>,
    to: RecordState,
}

impl<'a> From<&'a HistoryEntry> for StoredEntry<'a> {
    fn from(e: &'a HistoryEntry) -> Self {
        StoredEntry {
            at: e.at,
            actor: &e.actor,
            pref: e.pref,
            message: e.message,
            from: e.from,
            to: e.to,
        }
    }
}

/// A stored lifecycle as it reads back: the current form, and every earlier one (a full
/// `history`; explicit `null` and `[]` for absent values; `from: null`).
#[derive(Deserialize)]
struct LifecycleIn {
    kind: RecordKind,
    owner: PrefCode,
    entered_by: String,
    entered_at: i64,
    state: RecordState,
    #[serde(default)]
    last_validated_at: Option<i64>,
    #[serde(default)]
    located_at: Option<i64>,
    #[serde(default)]
    located_by: Option<PrefCode>,
    #[serde(default)]
    requests: Vec<HitRequest>,
    #[serde(default)]
    history: Option<Vec<HistoryEntry>>,
    #[serde(default)]
    later: Vec<HistoryEntry>,
}

impl Serialize for Lifecycle {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (history, later) = match self.history.split_first() {
            Some((first, later)) if self.is_entry_entry(first) => (None, later),
            _ => (Some(StoredEntries(&self.history)), &[][..]),
        };
        LifecycleOut {
            kind: self.kind,
            owner: self.owner,
            entered_by: &self.entered_by,
            entered_at: self.entered_at,
            state: self.state,
            last_validated_at: self.last_validated_at,
            located_at: self.located_at,
            located_by: self.located_by,
            requests: &self.requests,
            history,
            later: StoredEntries(later),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Lifecycle {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = LifecycleIn::deserialize(d)?;
        if w.history.is_some() && !w.later.is_empty() {
            return Err(serde::de::Error::custom(
                "a stored lifecycle has either history or later, not both",
            ));
        }
        let mut l = Lifecycle {
            kind: w.kind,
            owner: w.owner,
            entered_by: w.entered_by,
            entered_at: w.entered_at,
            state: w.state,
            last_validated_at: w.last_validated_at,
            located_at: w.located_at,
            located_by: w.located_by,
            requests: w.requests,
            history: Vec::new(),
        };
        l.history = match w.history {
            Some(history) => history,
            None => {
                let mut history = Vec::with_capacity(1 + w.later.len());
                history.push(l.entry_entry());
                history.extend(w.later);
                history
            }
        };
        Ok(l)
    }
}

impl Lifecycle {
    /// Whether `e` is the usual first history entry ([`Lifecycle::entry_entry`]).
    fn is_entry_entry(&self, e: &HistoryEntry) -> bool {
        e.at == self.entered_at
            && e.actor == self.entered_by
            && e.pref == self.owner
            && e.message == "entry"
            && e.from.is_none()
            && e.to == RecordState::PendingVerification
    }

    /// The usual first history entry: the entry message, by whoever entered the record,
    /// for the owning prefecture, when it was entered. The stored form leaves it out.
    fn entry_entry(&self) -> HistoryEntry {
        HistoryEntry {
            at: self.entered_at,
            actor: self.entered_by.clone(),
            pref: self.owner,
            message: "entry",
            from: None,
            to: RecordState::PendingVerification,
        }
    }

    /// The entry message: the actor's prefecture owns the record, which waits for the second
    /// person's check.
    pub fn enter(kind: RecordKind, actor: &Actor, now: i64) -> Result<Lifecycle, RegistryError> {
        check_id("actor", &actor.user)?;
        Ok(Lifecycle {
            kind,
            owner: actor.pref,
            entered_by: actor.user.clone(),
            entered_at: now,
            state: RecordState::PendingVerification,
            last_validated_at: None,
            located_at: None,
            located_by: None,
            requests: Vec::new(),
            history: vec![HistoryEntry {
                at: now,
                actor: actor.user.clone(),
                pref: actor.pref,
                message: "entry",
                from: None,
                to: RecordState::PendingVerification,
            }],
        })
    }

    /// A record carried over by a bulk load from another system, where it was entered on
    /// `entered_at` by `entered_by` and already verified by a second person there. It is
    /// active at once; its history says it was imported, by whom and when, so the missing
    /// second-person check in koban is never mistaken for one that happened here.
    pub fn imported(
        kind: RecordKind,
        owner: PrefCode,
        entered_by: &str,
        entered_at: i64,
        importer: &Actor,
        now: i64,
    ) -> Result<Lifecycle, RegistryError> {
        check_id("entered_by", entered_by)?;
        check_id("actor", &importer.user)?;
        Ok(Lifecycle {
            kind,
            owner,
            entered_by: entered_by.to_string(),
            entered_at,
            state: RecordState::Active,
            last_validated_at: None,
            located_at: None,
            located_by: None,
            requests: Vec::new(),
            history: vec![
                HistoryEntry {
                    at: entered_at,
                    actor: entered_by.to_string(),
                    pref: owner,
                    message: "entry",
                    from: None,
                    to: RecordState::PendingVerification,
                },
                HistoryEntry {
                    at: now,
                    actor: importer.user.clone(),
                    pref: importer.pref,
                    message: "import",
                    from: Some(RecordState::PendingVerification),
                    to: RecordState::Active,
                },
            ],
        })
    }

    /// The kind of record.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }
    /// The owning prefecture.
    pub fn owner(&self) -> PrefCode {
        self.owner
    }
    /// The current state.
    pub fn state(&self) -> RecordState {
        self.state
    }
    /// Who entered the record.
    pub fn entered_by(&self) -> &str {
        &self.entered_by
    }
    /// When it was entered.
    pub fn entered_at(&self) -> i64 {
        self.entered_at
    }
    /// When it was last validated.
    pub fn last_validated_at(&self) -> Option<i64> {
        self.last_validated_at
    }
    /// When and by whom it was located.
    pub fn located(&self) -> Option<(i64, PrefCode)> {
        self.located_at.zip(self.located_by)
    }
    /// The hit confirmation requests.
    pub fn requests(&self) -> &[HitRequest] {
        &self.requests
    }
    /// Every accepted message, oldest first.
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// True if inquiries should return the record: active, or located but not yet cleared
    /// — except a located missing person, who leaves the active file at once.
    pub fn in_active_file(&self) -> bool {
        match self.state {
            RecordState::Active => true,
            RecordState::Located => self.kind != RecordKind::Missing,
            _ => false,
        }
    }

    /// Applies a message at `now`. On error nothing changes.
    pub fn apply(
        &mut self,
        msg: &Message,
        actor: &Actor,
        now: i64,
    ) -> Result<RecordState, RegistryError> {
        use RecordState as S;
        check_id("actor", &actor.user)?;
        let name = msg.as_str();
        let from = self.state;
        let illegal = || RegistryError::IllegalTransition {
            message: name,
            from: from.as_str(),
        };
        let owner_only = |l: &Lifecycle| {
            if actor.pref == l.owner {
                Ok(())
            } else {
                Err(RegistryError::NotOwner { message: name })
            }
        };
        let to = match msg {
            Message::Verify => {
                if from != S::PendingVerification {
                    return Err(illegal());
                }
                owner_only(self)?;
                if actor.user == self.entered_by {
                    return Err(RegistryError::SameVerifier);
                }
                S::Active
            }
            Message::Modify => {
                if !from.is_live() {
                    return Err(illegal());
                }
                owner_only(self)?;
                from
            }
            Message::Cancel => {
                if !from.is_live() {
                    return Err(illegal());
                }
                owner_only(self)?;
                S::Cancelled
            }
            Message::Validate => {
                if !matches!(from, S::Active | S::Located) {
                    return Err(illegal());
                }
                owner_only(self)?;
                self.last_validated_at = Some(now);
                from
            }
            Message::HitConfirmationRequest {
                request_id,
                priority,
            } => {
                if !self.in_active_file() {
                    return Err(illegal());
                }
                check_id("request_id", request_id)?;
                if self.requests.iter().any(|r| &r.id == request_id) {
                    return Err(RegistryError::UnknownRequest(request_id.clone()));
                }
                if self.requests.len() >= MAX_REQUESTS_PER_RECORD {
                    return Err(RegistryError::TooManyRequests(MAX_REQUESTS_PER_RECORD));
                }
                self.requests.push(HitRequest {
                    id: request_id.clone(),
                    from: actor.pref,
                    requested_by: actor.user.clone(),
                    priority: *priority,
                    sent_at: now,
                    due_at: now.saturating_add(priority.deadline_us()),
                    resends: 0,
                    answer: None,
                    escalated_at: None,
                });
                from
            }
            Message::HitConfirmationResend { request_id } => {
                if !self.in_active_file() {
                    return Err(illegal());
                }
                let r = self.open_request(request_id)?;
                if r.from != actor.pref {
                    return Err(RegistryError::UnknownRequest(request_id.clone()));
                }
                r.resends = r.resends.saturating_add(1);
                r.sent_at = now;
                r.due_at = now.saturating_add(r.priority.deadline_us());
                from
            }
            Message::HitConfirmationEscalate { request_id } => {
                if !self.in_active_file() {
                    return Err(illegal());
                }
                let r = self.open_request(request_id)?;
                if r.from != actor.pref {
                    return Err(RegistryError::UnknownRequest(request_id.clone()));
                }
                if r.overdue_action(now) != Some(OverdueAction::Escalate) {
                    return Err(RegistryError::NotEscalable(request_id.clone()));
                }
                r.escalated_at = Some(now);
                from
            }
            Message::HitConfirmationResponse { request_id, answer } => {
                if !self.in_active_file() {
                    return Err(illegal());
                }
                owner_only(self)?;
                if let HitAnswer::NeedMoreTime { extra_us } = answer
                    && !(1..=MAX_EXTENSION_US).contains(extra_us)
                {
                    return Err(RegistryError::OutOfRange {
                        field: "extra_us".into(),
                        reason: "an extension is more than 0 and at most one day",
                    });
                }
                let r = self.open_request(request_id)?;
                match answer {
                    HitAnswer::Confirmed => r.answer = Some(true),
                    HitAnswer::NotConfirmed => r.answer = Some(false),
                    HitAnswer::NeedMoreTime { extra_us } => {
                        r.due_at = now.max(r.due_at).saturating_add(*extra_us);
                    }
                }
                from
            }
            Message::Locate => {
                if from != S::Active {
                    return Err(illegal());
                }
                let confirmed = self
                    .requests
                    .iter()
                    .any(|r| r.from == actor.pref && r.answer == Some(true));
                if !confirmed {
                    return Err(RegistryError::HitNotConfirmed);
                }
                self.located_at = Some(now);
                self.located_by = Some(actor.pref);
                S::Located
            }
            Message::Clear => {
                if !matches!(from, S::Active | S::Located) {
                    return Err(illegal());
                }
                owner_only(self)?;
                S::Cleared
            }
        };
        self.state = to;
        self.history.push(HistoryEntry {
            at: now,
            actor: actor.user.clone(),
            pref: actor.pref,
            message: name,
            from: Some(from),
            to,
        });
        Ok(to)
    }

    fn open_request(&mut self, id: &str) -> Result<&mut HitRequest, RegistryError> {
        self.requests
            .iter_mut()
            .find(|r| r.id == id && r.answer.is_none())
            .ok_or_else(|| RegistryError::UnknownRequest(id.to_string()))
    }

    /// The unanswered requests past their deadline at `now`, and what to do about each:
    /// re-send once, then escalate, then wait for the owner's supervisor.
    pub fn overdue_requests(&self, now: i64) -> Vec<(&HitRequest, OverdueAction)> {
        if !self.in_active_file() {
            return Vec::new();
        }
        self.requests
            .iter()
            .filter_map(|r| r.overdue_action(now).map(|a| (r, a)))
            .collect()
    }

    /// Where a request stands: answered once answered; otherwise open while the record is
    /// in the active file, and closed once it left it. This is the one rule the query
    /// centres' work queue is derived from.
    pub fn request_state(&self, r: &HitRequest) -> HitRequestState {
        if r.answer.is_some() {
            HitRequestState::Answered
        } else if self.in_active_file() {
            HitRequestState::Open
        } else {
            HitRequestState::Closed
        }
    }

    /// The message the scheduled sweep sends about request `request_id` at `now`, if any:
    /// a re-send while re-sends are left, else one escalation. `None` when the request is
    /// unknown, answered, not yet due, already escalated, or the record left the active
    /// file — so a sweep that runs twice, or on two instances at once, acts only once.
    pub fn sweep_message(&self, request_id: &str, now: i64) -> Option<Message> {
        let r = self.requests.iter().find(|r| r.id == request_id)?;
        if self.request_state(r) != HitRequestState::Open {
            return None;
        }
        let request_id = r.id.clone();
        match r.overdue_action(now)? {
            OverdueAction::Resend => Some(Message::HitConfirmationResend { request_id }),
            OverdueAction::Escalate => Some(Message::HitConfirmationEscalate { request_id }),
            OverdueAction::AwaitSupervisor => None,
        }
    }

    /// The validation window `(opens, closes)`: 60–90 days after entry, then the 30 days
    /// before each anniversary of the last validation. Validating early is allowed (it
    /// only moves the next window forward).
    pub fn validation_window(&self) -> (i64, i64) {
        match self.last_validated_at {
            None => (
                self.entered_at.saturating_add(FIRST_VALIDATION_OPENS_US),
                self.entered_at.saturating_add(FIRST_VALIDATION_CLOSES_US),
            ),
            Some(t) => (
                t.saturating_add(YEARLY_VALIDATION_OPENS_US),
                t.saturating_add(YEARLY_VALIDATION_CLOSES_US),
            ),
        }
    }

    /// True if the record is in the active file and its validation window has closed.
    pub fn is_validation_overdue(&self, now: i64) -> bool {
        matches!(self.state, RecordState::Active | RecordState::Located)
            && now > self.validation_window().1
    }

    /// The end (exclusive) of a stolen article's retention: the end of the year after the
    /// year of entry, in Japan.
    pub fn retention_ends_at(&self) -> Option<i64> {
        (self.kind == RecordKind::StolenArticle)
            .then(|| jst_year_start(jst_year(self.entered_at) + 2))
    }

    /// Why the record should be purged at `now`, if it should.
    ///
    /// Missing-person records are kept until located or cancelled, so they are never purged
    /// for want of validation (the overdue validation is still reported by
    /// [`Lifecycle::is_validation_overdue`]). Pending entries are not purged here: an entry
    /// nobody verified is the entering desk's work queue, not the registry's.
    pub fn purge_reason(&self, now: i64) -> Option<PurgeReason> {
        match self.state {
            RecordState::Located if self.kind == RecordKind::Missing => {
                return Some(PurgeReason::MissingPersonLocated);
            }
            RecordState::Located => {
                if let Some(t) = self.located_at
                    && now >= t.saturating_add(LOCATED_RETENTION_US)
                {
                    return Some(PurgeReason::LocatedNotCleared);
                }
            }
            RecordState::Active => {}
            _ => return None,
        }
        if let Some(end) = self.retention_ends_at()
            && now >= end
        {
            return Some(PurgeReason::RetentionExpired);
        }
        if self.kind != RecordKind::Missing && self.is_validation_overdue(now) {
            return Some(PurgeReason::Unvalidated);
        }
        None
    }
}

fn check_id(field: &str, s: &str) -> Result<(), RegistryError> {
    crate::text::check_required_text(field, s, MAX_ID_LEN)
}
