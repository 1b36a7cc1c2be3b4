//! The national records registry (登録・照会・回答): prefectures enter records into one
//! national database and query it from their query centres.
//!
//! Every operation follows the service protocol. Owner operations (entry, modify, cancel,
//! verification, validation, clear, answers to hit confirmations, reading a record and its
//! history) see only records of the caller's scope; a record of another prefecture answers
//! "not found". Inquiries are national, and so are the messages an inquirer sends about a
//! record it hit (hit-confirmation requests, re-sends, locates): those see every record in
//! the active file. Each inquiry is audited in its own transaction with the officer, the
//! purpose and a stable subject id (the normalised key), and each hit adds an event on the
//! record, so an auditor can ask who queried a plate, a person or a record, when and why.

use std::collections::{BTreeSet, HashMap};

use koban_access::Action;
use koban_registry::index;
use koban_registry::{
    Date, ExistingRecord, HitAnswer, HitRequest, HitRequestState, Lifecycle, Message,
    OverdueAction, Priority, Query, QueryKey, RawQuery, RecordFile, RecordState, RegistryError,
    check_entry, date::jst_date,
};
use koban_store::{
    AuditQuery, HitQueueFilter, HitQueueSide, HitRequestRow, MAX_PAGE_ROWS, RegistryRow,
    TombstoneRow, Tx,
};
use serde::{Deserialize, Serialize};

use crate::audit_ops::AuditEventView;
use crate::clock::rfc3339;
use crate::live::{LiveDraft, kinds};
use crate::{Actor, EventDraft, Koban, RequestCtx, ServiceError, new_id};

/// The reminder every answer carries: a hit alone is not grounds for action.
pub const HIT_REMINDER: &str = "A hit is not grounds for action: confirm it with the owning prefecture (hit confirmation) before acting. 回答のみで措置をとらず、登録元に照会確認すること。";
/// Most hits returned by one inquiry.
pub const MAX_HITS: usize = 50;
/// Most record ids read from the name index per token of a person query.
pub const MAX_NAME_CANDIDATES: u32 = 5_000;
/// Most candidates scored when no record carries every token of the query.
const MAX_LOOSE_CANDIDATES: usize = 200;
/// Audit object type of an inquiry's subject (a normalised key).
pub const SUBJECT_OBJECT: &str = "registry_subject";
/// Audit object type of a record.
pub const RECORD_OBJECT: &str = "registry_record";

/// A record as its owner (and an inquirer acting on a hit) sees it.
#[derive(Clone, Debug, Serialize)]
pub struct RecordView {
    pub id: String,
    pub kind: String,
    pub owner_pref: String,
    pub state: RecordState,
    /// True while inquiries return it.
    pub in_active_file: bool,
    pub entered_by: String,
    pub entered_at: String,
    pub updated_at: String,
    /// When the current validation window closes.
    pub validation_due: String,
    pub caution: Vec<&'static str>,
    pub file: RecordFile,
    pub hit_requests: Vec<HitRequest>,
    /// Unanswered hit confirmation requests past their deadline, and what to do next.
    pub overdue_requests: Vec<OverdueView>,
}

/// An overdue hit confirmation request.
#[derive(Clone, Debug, Serialize)]
pub struct OverdueView {
    pub request_id: String,
    pub action: OverdueAction,
}

/// The answer to an entry: the record, and the live records of other owners on the same
/// subject that the person entering must be shown.
#[derive(Clone, Debug, Serialize)]
pub struct EntryView {
    pub record: RecordView,
    pub same_subject: Vec<String>,
}

/// A record's history: every accepted message, and its hit confirmation requests.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryView {
    pub id: String,
    pub state: RecordState,
    pub history: Vec<koban_registry::HistoryEntry>,
    pub hit_requests: Vec<HitRequest>,
}

/// One hit of an inquiry.
#[derive(Clone, Debug, Serialize)]
pub struct HitView {
    pub record_id: String,
    pub kind: String,
    pub owner_pref: String,
    pub state: RecordState,
    /// Cautions the officer must know before approaching.
    pub caution: Vec<&'static str>,
    /// Name similarity for person queries (1.0 for the same reading).
    pub score: Option<f64>,
    pub file: RecordFile,
}

/// The answer to an inquiry.
#[derive(Clone, Debug, Serialize)]
pub struct InquiryAnswer {
    /// True if anything was found.
    pub hit: bool,
    /// The normalised subject the inquiry was recorded under.
    pub subject: String,
    pub hits: Vec<HitView>,
    /// The reminder that a hit must be confirmed before acting.
    pub reminder: &'static str,
    /// False while a bulk load's index is being built: records it loaded are not searched
    /// yet, so "no hit" is not yet an answer.
    pub complete: bool,
}

/// A hit confirmation request as the inquirer sends it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HitRequestIn {
    /// `urgent` (10 minutes: the person or object is in front of the officer) or
    /// `routine` (1 hour, the default).
    pub priority: Option<Priority>,
}

/// The owner's answer to a hit confirmation request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HitResponseIn {
    /// `confirmed`, `not_confirmed` or `need_more_time`.
    pub answer: Option<String>,
    /// With `need_more_time`: how many more minutes the owner needs (1 to 1,440).
    pub extra_minutes: Option<i64>,
}

/// "Who queried this?": one subject, named as an inquiry would name it, or a record id.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhoQueried {
    pub record_id: Option<String>,
    pub plate: Option<String>,
    pub vehicle_id: Option<String>,
    pub document_number: Option<String>,
    pub issuing_state: Option<String>,
    pub document_type: Option<String>,
    pub firearm_serial: Option<String>,
    pub firearm_make: Option<String>,
    pub article_serial: Option<String>,
    pub owner_applied_number: Option<String>,
    pub name: Option<String>,
    pub date_of_birth: Option<String>,
    pub limit: Option<u32>,
}

/// Maps a domain error to the service error: input errors name their field; rule
/// violations (state, ownership, duplicates) are conflicts with the domain's stable code.
pub(crate) fn registry_error(e: RegistryError) -> ServiceError {
    let code = e.code();
    match e.field() {
        Some(field) => ServiceError::invalid(field.to_string(), code, e.to_string()),
        None => match e {
            RegistryError::EmptyQuery | RegistryError::AmbiguousQuery => {
                ServiceError::invalid("query", code, e.to_string())
            }
            _ => ServiceError::Conflict {
                code,
                message: e.to_string(),
            },
        },
    }
}

fn first_error(errors: Vec<RegistryError>) -> ServiceError {
    match errors.into_iter().next() {
        Some(e) => registry_error(e),
        None => ServiceError::Internal("validation failed without an error".into()),
    }
}

fn corrupt(what: &str, e: serde_json::Error) -> ServiceError {
    ServiceError::Internal(format!("stored {what} does not parse: {e}"))
}

/// The registry actor (user and prefecture) of a caller who acts for a prefecture.
fn registry_actor(actor: &Actor) -> Result<koban_registry::Actor, ServiceError> {
    let pref = actor.user.pref_code.ok_or_else(|| {
        ServiceError::invalid(
            "unit",
            "no_prefecture",
            "registry records are kept by a prefecture's staff",
        )
    })?;
    let user = if actor.user.id.is_empty() {
        actor.user.username.clone()
    } else {
        actor.user.id.clone()
    };
    Ok(koban_registry::Actor { user, pref })
}

/// The index rows of a record file.
pub fn index_rows(file: &RecordFile) -> (Vec<String>, Vec<(String, i64)>) {
    let keys = index::search_keys(file);
    let names = match index::person_of(file) {
        Some((name, dob)) => {
            let d = index::date_number(dob);
            index::name_tokens(name)
                .into_iter()
                .map(|t| (t, d))
                .collect()
        }
        None => Vec::new(),
    };
    (keys, names)
}

/// The stored row of a record (index rows included).
pub fn record_row(
    id: &str,
    file: &RecordFile,
    life: &Lifecycle,
    now: i64,
) -> Result<RegistryRow, ServiceError> {
    let (keys, names) = index_rows(file);
    Ok(RegistryRow {
        id: id.to_string(),
        kind: file.kind().as_str().to_string(),
        owner_pref: life.owner(),
        state: life.state().as_str().to_string(),
        entered_at_us: life.entered_at(),
        updated_at_us: now,
        validation_due_us: life.validation_window().1,
        file: json_string(file, 256)?,
        lifecycle: json_string(life, 512)?,
        keys,
        names,
    })
}

/// JSON of a stored value, written into a buffer of about its usual size: growing the
/// buffer from serde_json's default was a tenth of building an imported record's row.
fn json_string<T: Serialize>(value: &T, capacity: usize) -> Result<String, ServiceError> {
    let mut buf = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut buf, value).map_err(|e| ServiceError::Internal(e.to_string()))?;
    String::from_utf8(buf).map_err(|e| ServiceError::Internal(e.to_string()))
}

/// A stored record, parsed.
struct Loaded {
    row: RegistryRow,
    file: RecordFile,
    life: Lifecycle,
}

fn parse_row(row: RegistryRow) -> Result<Loaded, ServiceError> {
    let file = serde_json::from_str(&row.file).map_err(|e| corrupt("record file", e))?;
    let life = serde_json::from_str(&row.lifecycle).map_err(|e| corrupt("lifecycle", e))?;
    Ok(Loaded { row, file, life })
}

fn record_view(l: &Loaded, now: i64) -> RecordView {
    RecordView {
        id: l.row.id.clone(),
        kind: l.row.kind.clone(),
        owner_pref: l.life.owner().to_string(),
        state: l.life.state(),
        in_active_file: l.life.in_active_file(),
        entered_by: l.life.entered_by().to_string(),
        entered_at: rfc3339(l.life.entered_at()),
        updated_at: rfc3339(l.row.updated_at_us),
        validation_due: rfc3339(l.life.validation_window().1),
        caution: l.file.caution().names(),
        file: l.file.clone(),
        hit_requests: l.life.requests().to_vec(),
        overdue_requests: l
            .life
            .overdue_requests(now)
            .into_iter()
            .map(|(r, action)| OverdueView {
                request_id: r.id.clone(),
                action,
            })
            .collect(),
    }
}

/// Who may see a record for an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Only callers whose scope covers the owner.
    Owner,
    /// Also any prefecture while the record is in the active file (an inquirer acting on
    /// a hit).
    ActiveFile,
}

/// Whether an operation changes the record it loads (and so must lock it first).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Change,
}

/// Loads a record the actor may reach; anything else — including a malformed id — is
/// "not found", so ids cannot be probed. A record about to change is locked, so that
/// concurrent changes (an answer and the sweep's re-send) apply one after the other.
async fn reachable(
    tx: &mut dyn Tx,
    actor: &Actor,
    id: &str,
    reach: Reach,
    access: Access,
) -> Result<Loaded, ServiceError> {
    let well_formed = id
        .strip_prefix("rec_")
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !well_formed {
        return Err(ServiceError::NotFound { what: "record" });
    }
    let row = match access {
        Access::Read => tx.get_registry_record(id).await?,
        Access::Change => tx.get_registry_record_for_update(id).await?,
    };
    let Some(row) = row else {
        return Err(ServiceError::NotFound { what: "record" });
    };
    let l = parse_row(row)?;
    let visible =
        actor.sees(Some(l.life.owner())) || (reach == Reach::ActiveFile && l.life.in_active_file());
    if visible {
        Ok(l)
    } else {
        Err(ServiceError::NotFound { what: "record" })
    }
}

/// The live records on any of `keys`, for the entry conflict check (excluding `except`).
async fn existing_on(
    tx: &mut dyn Tx,
    keys: &[String],
    except: Option<&str>,
) -> Result<Vec<ExistingRecord>, ServiceError> {
    let mut found: Vec<ExistingRecord> = Vec::new();
    for key in keys {
        for row in tx.registry_by_key(key).await? {
            if Some(row.id.as_str()) == except {
                continue;
            }
            if let Some(e) = found.iter_mut().find(|e| e.id == row.id) {
                e.subject_keys.push(key.clone());
                continue;
            }
            let life: Lifecycle =
                serde_json::from_str(&row.lifecycle).map_err(|e| corrupt("lifecycle", e))?;
            found.push(ExistingRecord {
                id: row.id,
                owner: life.owner(),
                kind: life.kind(),
                state: life.state(),
                subject_keys: vec![key.clone()],
            });
        }
    }
    Ok(found)
}

/// Applies a lifecycle message to a loaded record and stores the result: the record row,
/// and the work-queue rows the change touched (with their live events). Every lifecycle
/// message after the entry goes through here or through a modify.
async fn apply_and_store(
    tx: &mut dyn Tx,
    l: &mut Loaded,
    msg: &Message,
    ra: &koban_registry::Actor,
    ev: &mut EventDraft,
    now: i64,
) -> Result<(), ServiceError> {
    let before = l.life.clone();
    let to = l.life.apply(msg, ra, now).map_err(registry_error)?;
    ev.detail("state", to.as_str());
    let mut row = l.row.clone();
    row.state = to.as_str().to_string();
    row.updated_at_us = now;
    row.validation_due_us = l.life.validation_window().1;
    row.lifecycle =
        serde_json::to_string(&l.life).map_err(|e| ServiceError::Internal(e.to_string()))?;
    tx.update_registry_record(&row, false).await?;
    sync_hit_queue(tx, &row.id, &before, &l.life, ev, now).await?;
    l.row = row;
    Ok(())
}

/// The work-queue rows of a record's hit confirmation requests, as its lifecycle says they
/// are. The queue is derived here and nowhere else, so it cannot disagree with the records.
pub fn hit_request_rows(record_id: &str, life: &Lifecycle) -> Vec<HitRequestRow> {
    life.requests()
        .iter()
        .map(|r| HitRequestRow {
            record_id: record_id.to_string(),
            request_id: r.id.clone(),
            record_kind: life.kind().as_str().to_string(),
            owner_pref: life.owner(),
            from_pref: r.from,
            priority: r.priority.as_str().to_string(),
            sent_at_us: r.sent_at,
            due_at_us: r.due_at,
            resends: i64::from(r.resends),
            escalated_at_us: r.escalated_at,
            state: life.request_state(r).as_str().to_string(),
        })
        .collect()
}

/// Brings the work queue in line with one lifecycle change, in the change's transaction:
/// writes the rows that differ, and publishes each change live to the owner's prefecture
/// (whose query centre must answer) and to the inquirer's (which waits for the answer).
async fn sync_hit_queue(
    tx: &mut dyn Tx,
    record_id: &str,
    before: &Lifecycle,
    after: &Lifecycle,
    ev: &mut EventDraft,
    now: i64,
) -> Result<(), ServiceError> {
    let old = hit_request_rows(record_id, before);
    let changed: Vec<HitRequestRow> = hit_request_rows(record_id, after)
        .into_iter()
        .filter(|n| !old.contains(n))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    tx.put_registry_hit_requests(&changed).await?;
    for n in &changed {
        let was = old.iter().find(|o| o.request_id == n.request_id);
        let kind = match was {
            None => kinds::HIT_REQUEST_SENT,
            Some(_) if n.state != HitRequestState::Open.as_str() => kinds::HIT_REQUEST_CLOSED,
            Some(o) if n.escalated_at_us.is_some() && o.escalated_at_us.is_none() => {
                kinds::HIT_REQUEST_ESCALATED
            }
            Some(o) if n.resends > o.resends => kinds::HIT_REQUEST_RESENT,
            Some(_) => kinds::HIT_REQUEST_UPDATED,
        };
        let item = queue_item(n, now);
        ev.publish(LiveDraft::of(kind, Some(n.owner_pref), &item)?);
        if n.from_pref != n.owner_pref {
            ev.publish(LiveDraft::of(kind, Some(n.from_pref), &item)?);
        }
    }
    Ok(())
}

/// One hit confirmation request as the query centres' work queue shows it.
#[derive(Clone, Debug, Serialize)]
pub struct HitQueueItem {
    pub record_id: String,
    pub record_kind: String,
    pub request_id: String,
    /// The prefecture that must answer.
    pub owner_pref: String,
    /// The prefecture that asked.
    pub from_pref: String,
    pub priority: String,
    /// `open`, `answered` or `closed`.
    pub state: String,
    pub sent_at: String,
    pub due_at: String,
    /// Seconds past the deadline (0 while it is not yet due).
    pub overdue_s: i64,
    pub resends: i64,
    pub escalated: bool,
    pub escalated_at: Option<String>,
    /// `await_answer` (not yet due), `resend`, `escalate` (what the sweep does next),
    /// `await_supervisor` (escalated), or `none` once answered or closed.
    pub next_action: &'static str,
}

fn queue_item(r: &HitRequestRow, now: i64) -> HitQueueItem {
    let next_action = if r.state == HitRequestState::Open.as_str() {
        let resends = u32::try_from(r.resends).unwrap_or(u32::MAX);
        koban_registry::lifecycle::overdue_action(
            r.due_at_us,
            resends,
            r.escalated_at_us.is_some(),
            now,
        )
        .map_or("await_answer", OverdueAction::as_str)
    } else {
        "none"
    };
    HitQueueItem {
        record_id: r.record_id.clone(),
        record_kind: r.record_kind.clone(),
        request_id: r.request_id.clone(),
        owner_pref: r.owner_pref.to_string(),
        from_pref: r.from_pref.to_string(),
        priority: r.priority.clone(),
        state: r.state.clone(),
        sent_at: rfc3339(r.sent_at_us),
        due_at: rfc3339(r.due_at_us),
        overdue_s: now.saturating_sub(r.due_at_us).max(0) / 1_000_000,
        resends: r.resends,
        escalated: r.escalated_at_us.is_some(),
        escalated_at: r.escalated_at_us.map(rfc3339),
        next_action,
    }
}

/// Parses a record file from JSON, naming the failing field. The file's own struct is
/// parsed after `kind` is taken out, because an internally tagged enum buffers its content
/// and would lose the path of a field inside it.
pub fn parse_file(mut body: serde_json::Value) -> Result<RecordFile, ServiceError> {
    let Some(obj) = body.as_object_mut() else {
        return Err(ServiceError::invalid(
            "file",
            "invalid_field",
            "a record file is a JSON object",
        ));
    };
    let kind = kind_name(obj.remove("kind"))?;
    file_of_kind(&kind, FileValue(body))
}

/// Parses a record file straight from the JSON text of an object, without building a
/// `serde_json::Value` first (a bulk load parses millions, and the intermediate tree was
/// a third of the work). `kind` is the object's `kind` member, read beforehand; members
/// that are not fields of the file are ignored, as [`parse_file`] ignores them.
pub fn parse_file_json(
    kind: Option<serde_json::Value>,
    text: &str,
) -> Result<RecordFile, ServiceError> {
    let kind = kind_name(kind)?;
    file_of_kind(&kind, FileText(text))
}

/// The `kind` member of a record file.
fn kind_name(kind: Option<serde_json::Value>) -> Result<String, ServiceError> {
    match kind {
        Some(serde_json::Value::String(k)) => Ok(k),
        Some(_) => Err(ServiceError::invalid(
            "kind",
            "invalid_field",
            "kind is a string",
        )),
        None => Err(ServiceError::invalid(
            "kind",
            "required",
            "kind is required",
        )),
    }
}

/// Where a record file's fields are read from: a parsed JSON tree or the JSON text.
trait FileSource {
    fn parse<T: serde::de::DeserializeOwned>(self) -> Result<T, ServiceError>;
}

struct FileValue(serde_json::Value);

impl FileSource for FileValue {
    fn parse<T: serde::de::DeserializeOwned>(self) -> Result<T, ServiceError> {
        serde_path_to_error::deserialize(self.0).map_err(field_error)
    }
}

struct FileText<'a>(&'a str);

impl FileSource for FileText<'_> {
    fn parse<T: serde::de::DeserializeOwned>(self) -> Result<T, ServiceError> {
        // Tracking the path costs an allocation per member, and nearly every file parses;
        // only a failed parse is repeated with tracking, to name the failing field (the
        // same text fails the same way).
        if let Ok(t) = serde_json::from_str(self.0) {
            return Ok(t);
        }
        let mut de = serde_json::Deserializer::from_str(self.0);
        let t = serde_path_to_error::deserialize(&mut de).map_err(field_error)?;
        de.end()
            .map_err(|e| ServiceError::invalid("file", "invalid_field", e.to_string()))?;
        Ok(t)
    }
}

/// A deserialisation error as an invalid field, named by its path in the file.
fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> ServiceError {
    let path = e.path().to_string();
    let message = e.inner().to_string();
    let field = if path == "." {
        // serde reports missing fields at the parent; take the name from the text.
        message
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_else(|| "file".into())
    } else {
        path
    };
    ServiceError::invalid(field, "invalid_field", message)
}

/// The file of a kind, its fields read from `src`.
fn file_of_kind(kind: &str, src: impl FileSource) -> Result<RecordFile, ServiceError> {
    Ok(match kind {
        "wanted" => RecordFile::Wanted(src.parse()?),
        "missing" => RecordFile::Missing(src.parse()?),
        "unidentified" => RecordFile::Unidentified(src.parse()?),
        "stolen_vehicle" => RecordFile::StolenVehicle(src.parse()?),
        "stolen_plate" => RecordFile::StolenPlate(src.parse()?),
        "stolen_firearm" => RecordFile::StolenFirearm(src.parse()?),
        "stolen_article" => RecordFile::StolenArticle(src.parse()?),
        "travel_document" => RecordFile::TravelDocument(src.parse()?),
        _ => {
            return Err(ServiceError::invalid(
                "kind",
                "unknown_kind",
                "kind is one of wanted, missing, unidentified, stolen_vehicle, stolen_plate, stolen_firearm, stolen_article, travel_document",
            ));
        }
    })
}

impl Koban {
    /// Entry: validates the file, checks for existing records on the same subject, and
    /// stores the record pending a second person's verification.
    pub async fn enter_record(
        &self,
        ctx: &RequestCtx,
        token: &str,
        file: RecordFile,
    ) -> Result<EntryView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "registry.entry");
        let r = async {
            actor.require(Action::RecordEnter)?;
            let ra = registry_actor(&actor)?;
            let now = self.now_us();
            ev.detail("kind", file.kind().as_str());
            let errors = file.validate(jst_date(now));
            if !errors.is_empty() {
                return Err(first_error(errors));
            }
            let keys = file.subject_keys();
            let existing = existing_on(&mut *tx, &keys, None).await?;
            let check =
                check_entry(ra.pref, file.kind(), &keys, &existing).map_err(registry_error)?;
            let life = Lifecycle::enter(file.kind(), &ra, now).map_err(registry_error)?;
            let id = new_id("rec");
            let row = record_row(&id, &file, &life, now)?;
            tx.insert_registry_records(std::slice::from_ref(&row))
                .await?;
            ev.object(RECORD_OBJECT, id.clone());
            ev.scope_pref = Some(ra.pref.to_string());
            let loaded = Loaded { row, file, life };
            Ok(EntryView {
                record: record_view(&loaded, now),
                same_subject: check.show,
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Modify: the owner replaces the record's file (same kind); the conflict check runs
    /// again on the new subject.
    pub async fn modify_record(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        body: serde_json::Value,
    ) -> Result<RecordView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "registry.modify");
        ev.object(RECORD_OBJECT, id);
        let r = async {
            actor.require(Action::RecordEnter)?;
            let mut l = reachable(&mut *tx, &actor, id, Reach::Owner, Access::Change).await?;
            ev.scope_pref = Some(l.life.owner().to_string());
            let ra = registry_actor(&actor)?;
            let file = parse_file(body)?;
            if file.kind() != l.life.kind() {
                return Err(ServiceError::invalid(
                    "kind",
                    "inconsistent",
                    "a modify keeps the record's kind; cancel and enter anew instead",
                ));
            }
            let now = self.now_us();
            let errors = file.validate(jst_date(now));
            if !errors.is_empty() {
                return Err(first_error(errors));
            }
            let keys = file.subject_keys();
            let existing = existing_on(&mut *tx, &keys, Some(id)).await?;
            check_entry(l.life.owner(), file.kind(), &keys, &existing).map_err(registry_error)?;
            let before = l.life.clone();
            l.life
                .apply(&Message::Modify, &ra, now)
                .map_err(registry_error)?;
            let row = record_row(id, &file, &l.life, now)?;
            tx.update_registry_record(&row, true).await?;
            sync_hit_queue(&mut *tx, id, &before, &l.life, &mut ev, now).await?;
            let loaded = Loaded {
                row,
                file,
                life: l.life,
            };
            Ok(record_view(&loaded, now))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Applies one lifecycle message to a record and stores the result.
    async fn record_message(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        (action, permission, reach): (&str, Action, Reach),
        make: impl FnOnce(&Lifecycle) -> Result<Message, ServiceError> + Send,
    ) -> Result<RecordView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, action);
        ev.object(RECORD_OBJECT, id);
        let r = async {
            actor.require(permission)?;
            let mut l = reachable(&mut *tx, &actor, id, reach, Access::Change).await?;
            ev.scope_pref = Some(l.life.owner().to_string());
            let ra = registry_actor(&actor)?;
            let msg = make(&l.life)?;
            if let Message::HitConfirmationRequest { request_id, .. } = &msg {
                ev.detail("request_id", request_id.clone());
            }
            let now = self.now_us();
            apply_and_store(&mut *tx, &mut l, &msg, &ra, &mut ev, now).await?;
            Ok(record_view(&l, now))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// The second person's check of a new entry.
    pub async fn verify_record(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<RecordView, ServiceError> {
        let op = ("registry.verify", Action::RecordVerify, Reach::Owner);
        self.record_message(ctx, token, id, op, |_| Ok(Message::Verify))
            .await
    }

    /// Cancel: the owner removes a record that was wrong or is no longer valid.
    pub async fn cancel_record(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<RecordView, ServiceError> {
        let op = ("registry.cancel", Action::RecordEnter, Reach::Owner);
        self.record_message(ctx, token, id, op, |_| Ok(Message::Cancel))
            .await
    }

    /// The owner's periodic validation.
    pub async fn validate_record(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<RecordView, ServiceError> {
        let op = ("registry.validate", Action::RecordEnter, Reach::Owner);
        self.record_message(ctx, token, id, op, |_| Ok(Message::Validate))
            .await
    }

    /// Clear: the owner closes the record because the person or object was found.
    pub async fn clear_record(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<RecordView, ServiceError> {
        let op = ("registry.clear", Action::RecordEnter, Reach::Owner);
        self.record_message(ctx, token, id, op, |_| Ok(Message::Clear))
            .await
    }

    /// Locate: another prefecture found the person or object, after a confirmed hit.
    pub async fn locate_record(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<RecordView, ServiceError> {
        let op = ("registry.locate", Action::RecordQuery, Reach::ActiveFile);
        self.record_message(ctx, token, id, op, |_| Ok(Message::Locate))
            .await
    }

    /// An inquirer asks the owner to confirm a hit (10 minutes urgent, 1 hour routine).
    pub async fn request_hit_confirmation(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        body: HitRequestIn,
    ) -> Result<RecordView, ServiceError> {
        let op = (
            "registry.hit_request",
            Action::RecordQuery,
            Reach::ActiveFile,
        );
        let priority = body.priority.unwrap_or(Priority::Routine);
        self.record_message(ctx, token, id, op, move |_| {
            Ok(Message::HitConfirmationRequest {
                request_id: new_id("hcr"),
                priority,
            })
        })
        .await
    }

    /// The inquirer re-sends an unanswered request (its clock starts again).
    pub async fn resend_hit_confirmation(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        request_id: &str,
    ) -> Result<RecordView, ServiceError> {
        let op = (
            "registry.hit_resend",
            Action::RecordQuery,
            Reach::ActiveFile,
        );
        let request_id = request_id.to_string();
        self.record_message(ctx, token, id, op, move |_| {
            Ok(Message::HitConfirmationResend { request_id })
        })
        .await
    }

    /// The owner answers a hit confirmation request.
    pub async fn answer_hit_confirmation(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        request_id: &str,
        body: HitResponseIn,
    ) -> Result<RecordView, ServiceError> {
        let op = ("registry.hit_response", Action::RecordEnter, Reach::Owner);
        let request_id = request_id.to_string();
        self.record_message(ctx, token, id, op, move |_| {
            let answer = match (body.answer.as_deref(), body.extra_minutes) {
                (Some("confirmed"), None) => HitAnswer::Confirmed,
                (Some("not_confirmed"), None) => HitAnswer::NotConfirmed,
                (Some("need_more_time"), Some(m)) if (1..=1440).contains(&m) => {
                    HitAnswer::NeedMoreTime {
                        extra_us: m * 60_000_000,
                    }
                }
                (Some("need_more_time"), _) => {
                    return Err(ServiceError::invalid(
                        "extra_minutes",
                        "out_of_range",
                        "say how many more minutes are needed, 1 to 1,440",
                    ));
                }
                (Some("confirmed" | "not_confirmed"), Some(_)) => {
                    return Err(ServiceError::invalid(
                        "extra_minutes",
                        "inconsistent",
                        "only need_more_time takes extra_minutes",
                    ));
                }
                (None, _) => {
                    return Err(ServiceError::invalid(
                        "answer",
                        "required",
                        "answer confirmed, not_confirmed or need_more_time",
                    ));
                }
                (Some(_), _) => {
                    return Err(ServiceError::invalid(
                        "answer",
                        "invalid_format",
                        "answer confirmed, not_confirmed or need_more_time",
                    ));
                }
            };
            Ok(Message::HitConfirmationResponse { request_id, answer })
        })
        .await
    }

    /// One record of the caller's scope.
    pub async fn get_record(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<RecordView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "registry.read");
        ev.object(RECORD_OBJECT, id);
        let r = async {
            actor.require(Action::RecordRead)?;
            let l = reachable(&mut *tx, &actor, id, Reach::Owner, Access::Read).await?;
            ev.scope_pref = Some(l.life.owner().to_string());
            Ok(record_view(&l, self.now_us()))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// A record's history: every accepted message, oldest first.
    pub async fn record_history(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<HistoryView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "registry.history");
        ev.object(RECORD_OBJECT, id);
        let r = async {
            actor.require(Action::RecordRead)?;
            let l = reachable(&mut *tx, &actor, id, Reach::Owner, Access::Read).await?;
            ev.scope_pref = Some(l.life.owner().to_string());
            Ok(HistoryView {
                id: l.row.id.clone(),
                state: l.life.state(),
                history: l.life.history().to_vec(),
                hit_requests: l.life.requests().to_vec(),
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// An inquiry against the whole national registry. The purpose comes from the request
    /// context (the `X-Koban-Purpose` header) or the query; the officer from the query.
    pub async fn inquire(
        &self,
        ctx: &RequestCtx,
        token: &str,
        mut raw: RawQuery,
    ) -> Result<InquiryAnswer, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "registry.inquiry");
        let r = async {
            actor.require(Action::RecordQuery)?;
            if let Some(p) = ctx.purpose.as_deref().filter(|p| !p.trim().is_empty()) {
                raw.purpose = p.to_string();
            }
            let now = self.now_us();
            let query = Query::parse(&raw, jst_date(now)).map_err(first_error)?;
            ev.purpose = Some(query.purpose.clone());
            ev.detail("officer", query.officer.clone());
            let (subject, hits) = search(&mut *tx, &query.key).await?;
            ev.object(SUBJECT_OBJECT, subject.clone());
            ev.detail("hits", hits.len());
            // One event per hit record, so "who queried this record" is a search by object.
            for h in &hits {
                let mut hit_ev = actor.draft(ctx, "registry.hit");
                hit_ev.object(RECORD_OBJECT, h.record_id.clone());
                hit_ev.purpose = Some(query.purpose.clone());
                hit_ev.scope_pref = Some(h.owner_pref.clone());
                hit_ev.detail("subject", subject.clone());
                hit_ev.detail("officer", query.officer.clone());
                hit_ev.result = "success".into();
                ev.also(hit_ev);
            }
            let complete = tx.registry_index_pending().await?.is_none();
            ev.detail("complete", complete);
            Ok(InquiryAnswer {
                hit: !hits.is_empty(),
                subject,
                hits,
                reminder: HIT_REMINDER,
                complete,
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Who queried a subject (or hit a record), when and why: the audit events, newest
    /// first, and the subjects searched.
    ///
    /// A person is recorded under the reading of the name the officer gave (or its kanji
    /// when none was given), so a name is searched in its other scripts too, with the
    /// registry as the dictionary: for kanji, the readings of the person records with those
    /// kanji and that date of birth; for a reading, the kanji of the records with that
    /// reading. Kanji are never read with Chinese readings, so a person the registry does
    /// not hold (or holds only in prefectures outside the auditor's scope) is found only in
    /// the script the auditor typed.
    pub async fn who_queried(
        &self,
        ctx: &RequestCtx,
        token: &str,
        w: WhoQueried,
    ) -> Result<WhoQueriedAnswer, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "registry.who_queried");
        let r = async {
            actor.require(Action::AuditRead)?;
            let limit = w.limit.unwrap_or(100).clamp(1, MAX_PAGE_ROWS);
            let mut searches: Vec<(&str, String)> = Vec::new();
            if let Some(id) = w.record_id.as_deref().filter(|s| !s.trim().is_empty()) {
                if id.len() > 64 {
                    return Err(ServiceError::invalid(
                        "record_id",
                        "too_long",
                        "not a record id",
                    ));
                }
                searches.push((RECORD_OBJECT, id.to_string()));
            } else {
                let raw = RawQuery {
                    plate: w.plate,
                    vehicle_id: w.vehicle_id,
                    document_number: w.document_number,
                    issuing_state: w.issuing_state,
                    document_type: w.document_type,
                    firearm_serial: w.firearm_serial,
                    firearm_make: w.firearm_make,
                    article_serial: w.article_serial,
                    owner_applied_number: w.owner_applied_number,
                    name: w.name,
                    date_of_birth: w.date_of_birth,
                    dob_tolerance_years: None,
                    // The subject is all that is parsed here; the auditor's own purpose is
                    // in the audit event of this search.
                    officer: "audit".into(),
                    purpose: "audit".into(),
                };
                let q = Query::parse(&raw, jst_date(self.now_us())).map_err(first_error)?;
                match &q.key {
                    QueryKey::Person {
                        name,
                        date_of_birth,
                        ..
                    } => {
                        for subject in
                            person_subjects(&mut *tx, &actor, name, *date_of_birth).await?
                        {
                            searches.push((SUBJECT_OBJECT, subject));
                        }
                    }
                    other => searches.push((SUBJECT_OBJECT, subject_of(other))),
                }
                // Inquiries heard without the place name concern this plate too.
                if let QueryKey::Plate { plate } = &q.key
                    && plate.is_complete()
                {
                    searches.push((
                        SUBJECT_OBJECT,
                        format!("{}|{}", index::PLATE_NO_PLACE, plate.key_without_place()),
                    ));
                }
            }
            ev.object(searches[0].0, searches[0].1.clone());
            if searches.len() > 1 {
                ev.detail(
                    "subjects",
                    searches
                        .iter()
                        .map(|(_, id)| id.clone())
                        .collect::<Vec<_>>(),
                );
            }
            let subjects: Vec<String> = searches.iter().map(|(_, id)| id.clone()).collect();
            let mut out = Vec::new();
            for (kind, id) in searches {
                // A record's own events include its owner's work on it; only the hits are
                // queries.
                let action = (kind == RECORD_OBJECT).then(|| "registry.hit".to_string());
                let q = AuditQuery {
                    prefs: actor.pref_filter(),
                    object_type: Some(kind.to_string()),
                    object_id: Some(id),
                    action,
                    limit,
                    ..AuditQuery::default()
                };
                out.extend(tx.search_audit(&q).await?);
            }
            out.sort_by_key(|e| std::cmp::Reverse(e.seq));
            out.dedup_by_key(|e| e.seq);
            out.truncate(limit as usize);
            ev.detail("count", out.len());
            Ok(WhoQueriedAnswer {
                subjects,
                events: out.into_iter().map(AuditEventView::from).collect(),
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}

/// A listing of the hit-confirmation work queue.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HitQueueQuery {
    /// `owner`: requests the caller's prefecture must answer; `inquirer`: requests it sent.
    pub side: Option<String>,
    /// `true`: only overdue requests; `false`: only those not yet due; absent: all open.
    pub overdue: Option<String>,
    /// At most this many (1 to 1,000; default 100). Taken as text so that a malformed
    /// number is refused naming the field, like every other bad value here.
    pub limit: Option<String>,
}

/// Requests listed by default.
const DEFAULT_QUEUE_ROWS: u32 = 100;

/// Open requests one sweep handles at most; the rest wait for the next run.
pub const SWEEP_BATCH: u32 = 500;

/// What the sweep did about one request.
#[derive(Clone, Debug, Serialize)]
pub struct SweepStep {
    pub record_id: String,
    pub request_id: String,
    /// `resend` or `escalate`.
    pub action: &'static str,
}

/// What one sweep of the hit-confirmation work queue did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SweepReport {
    /// Overdue, unescalated requests the queue named.
    pub examined: usize,
    pub resent: usize,
    pub escalated: usize,
    /// Named, but found answered, re-sent or escalated already (by an answer, or by another
    /// instance's sweep) when the record was read again.
    pub skipped: usize,
    pub steps: Vec<SweepStep>,
}

impl Koban {
    /// The hit-confirmation work queue of the caller's prefectures, soonest due first: on
    /// the owner side what they must answer (needs the right to answer, `record_enter`),
    /// on the inquirer side what they asked and wait for (needs `record_query`).
    pub async fn hit_queue(
        &self,
        ctx: &RequestCtx,
        token: &str,
        q: HitQueueQuery,
    ) -> Result<Vec<HitQueueItem>, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "registry.hit_queue");
        let r = async {
            let side = match q.side.as_deref() {
                Some("owner") => HitQueueSide::Owner,
                Some("inquirer") => HitQueueSide::Inquirer,
                Some(_) => {
                    return Err(ServiceError::invalid(
                        "side",
                        "invalid_format",
                        "side is owner or inquirer",
                    ));
                }
                None => {
                    return Err(ServiceError::invalid(
                        "side",
                        "required",
                        "side is owner (requests to answer) or inquirer (requests sent)",
                    ));
                }
            };
            actor.require(match side {
                HitQueueSide::Owner => Action::RecordEnter,
                HitQueueSide::Inquirer => Action::RecordQuery,
            })?;
            let overdue = match q.overdue.as_deref() {
                None => None,
                Some("true") => Some(true),
                Some("false") => Some(false),
                Some(_) => {
                    return Err(ServiceError::invalid(
                        "overdue",
                        "invalid_format",
                        "overdue is true or false",
                    ));
                }
            };
            let limit = match q.limit.as_deref() {
                None => DEFAULT_QUEUE_ROWS,
                Some(text) => text.parse::<u32>().map_err(|_| {
                    ServiceError::invalid("limit", "invalid_format", "limit is a whole number")
                })?,
            };
            if !(1..=MAX_PAGE_ROWS).contains(&limit) {
                return Err(ServiceError::invalid(
                    "limit",
                    "out_of_range",
                    format!("limit is 1 to {MAX_PAGE_ROWS}"),
                ));
            }
            let now = self.now_us();
            let filter = HitQueueFilter {
                side,
                prefs: actor.pref_filter(),
                due_before_us: (overdue == Some(true)).then_some(now),
                due_from_us: (overdue == Some(false)).then_some(now),
                limit,
            };
            let rows = tx.list_registry_hit_requests(&filter).await?;
            ev.detail("side", q.side.clone().unwrap_or_default());
            if let Some(o) = overdue {
                ev.detail("overdue", o);
            }
            ev.detail("count", rows.len());
            Ok(rows.iter().map(|r| queue_item(r, now)).collect())
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// The sweep of the hit-confirmation work queue (every 30 s in `koban serve`, or
    /// `koban registry sweep`): each overdue, unescalated open request is re-sent (with a
    /// new deadline) while re-sends are left, else escalated once. The queue's due-time
    /// index names at most [`SWEEP_BATCH`] requests; each is then handled in its own audited
    /// transaction that locks and re-reads the record and asks its lifecycle what is due,
    /// so a request answered meanwhile, or handled by a sweep on another instance, is left
    /// alone, and a second run at once does nothing. The messages are sent for the
    /// inquiring prefecture under the operator's name and appear in the record's history.
    pub async fn system_sweep_hit_requests(
        &self,
        operator: &str,
    ) -> Result<SweepReport, ServiceError> {
        let now = self.now_us();
        let candidates = {
            let (mut tx, _) = self.begin_system(operator).await?;
            tx.registry_hit_requests_to_sweep(now, SWEEP_BATCH).await?
        };
        let mut report = SweepReport {
            examined: candidates.len(),
            ..SweepReport::default()
        };
        for c in candidates {
            match self.sweep_one(operator, &c).await? {
                Some(step) => {
                    match step.action {
                        "resend" => report.resent += 1,
                        _ => report.escalated += 1,
                    }
                    report.steps.push(step);
                }
                None => report.skipped += 1,
            }
        }
        Ok(report)
    }

    /// Re-sends or escalates one request, if its record's lifecycle still says so.
    async fn sweep_one(
        &self,
        operator: &str,
        c: &HitRequestRow,
    ) -> Result<Option<SweepStep>, ServiceError> {
        let (mut tx, actor) = self.begin_system(operator).await?;
        let Some(row) = tx.get_registry_record_for_update(&c.record_id).await? else {
            return Ok(None);
        };
        let mut l = parse_row(row)?;
        let now = self.now_us();
        let Some(msg) = l.life.sweep_message(&c.request_id, now) else {
            return Ok(None);
        };
        let Some(from) = l
            .life
            .requests()
            .iter()
            .find(|r| r.id == c.request_id)
            .map(|r| r.from)
        else {
            return Ok(None);
        };
        let (action, step) = match msg {
            Message::HitConfirmationEscalate { .. } => ("registry.hit_escalate", "escalate"),
            _ => ("registry.hit_resend", "resend"),
        };
        let mut ev = actor.draft(&RequestCtx::cli(), action);
        ev.object(RECORD_OBJECT, c.record_id.clone());
        ev.scope_pref = Some(l.life.owner().to_string());
        ev.detail("request_id", c.request_id.clone());
        ev.detail("automatic", true);
        // The inquiring prefecture re-sends and escalates its own requests; the sweep does
        // it on its behalf, under the operator's name.
        let ra = koban_registry::Actor {
            user: operator.to_string(),
            pref: from,
        };
        let r = apply_and_store(&mut *tx, &mut l, &msg, &ra, &mut ev, now).await;
        self.conclude(tx, ev, r).await?;
        Ok(Some(SweepStep {
            record_id: c.record_id.clone(),
            request_id: c.request_id.clone(),
            action: step,
        }))
    }
}

/// The answer to "who queried": the audit events, newest first, and every subject id (or
/// record id) searched for them.
#[derive(Clone, Debug, Serialize)]
pub struct WhoQueriedAnswer {
    pub subjects: Vec<String>,
    pub events: Vec<AuditEventView>,
}

/// Most subjects one "who queried" search looks up in the audit log.
pub const MAX_WHO_SUBJECTS: usize = 16;
/// Most person records read as the dictionary of one name's other scripts.
const MAX_DICTIONARY_RECORDS: usize = 32;

/// The subjects inquiries about a person may have been recorded under: the name as the
/// auditor gave it, and the name in each script of the person records in the auditor's
/// scope that carry every kanji token, or every reading token, of it with exactly that date
/// of birth. Kanji and readings are only ever taken from records, never derived from each
/// other. At most [`MAX_WHO_SUBJECTS`], the auditor's own first.
async fn person_subjects(
    tx: &mut dyn Tx,
    actor: &Actor,
    name: &str,
    dob: Date,
) -> Result<Vec<String>, ServiceError> {
    let mut subjects = vec![index::person_subject(name, dob)];
    let day = index::date_number(dob);
    let (kanji, readings) = index::query_tokens(name);
    let mut seqs: BTreeSet<i64> = BTreeSet::new();
    for tokens in [&kanji, &readings] {
        let mut common: Option<BTreeSet<i64>> = None;
        for t in tokens {
            let found: BTreeSet<i64> = tx
                .registry_name_candidates(t, day, day, MAX_NAME_CANDIDATES)
                .await?
                .into_iter()
                .collect();
            common = Some(match common {
                None => found,
                Some(c) => c.intersection(&found).cloned().collect(),
            });
        }
        seqs.extend(common.unwrap_or_default());
    }
    for seq in seqs.into_iter().take(MAX_DICTIONARY_RECORDS) {
        let Some(row) = tx.get_registry_record_by_seq(seq).await? else {
            continue;
        };
        // A record the auditor may not see is not used: the subjects searched are shown,
        // and would tell that another prefecture holds the person.
        if !actor.sees(Some(row.owner_pref)) {
            continue;
        }
        let l = parse_row(row)?;
        let Some((person, born)) = index::person_of(&l.file) else {
            continue;
        };
        if born != dob {
            continue;
        }
        for form in [&person.kanji, &person.kana, &person.latin]
            .into_iter()
            .flatten()
        {
            let s = index::person_subject(form, dob);
            if !subjects.contains(&s) {
                subjects.push(s);
            }
        }
    }
    subjects.truncate(MAX_WHO_SUBJECTS);
    Ok(subjects)
}

/// What a purge run removed, by reason.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PurgeReport {
    pub examined: usize,
    pub purged: std::collections::BTreeMap<String, usize>,
    /// Tombstones of earlier purges dropped after their retention.
    pub tombstones_pruned: u64,
}

/// How long the tombstone of a purged record is kept, so that a site catching up by
/// difference learns of the removal: well beyond the 24–48 hours between refreshes of an
/// offline copy. A site further behind than this takes a full copy.
pub const TOMBSTONE_RETENTION_US: i64 = 400 * koban_registry::date::DAY_US;

/// Records examined per purge transaction.
const PURGE_BATCH: u32 = 10_000;

impl Koban {
    /// The scheduled purge (run from the console, e.g. nightly): removes records whose
    /// lifecycle says they are due — unvalidated past their window, stolen articles past
    /// their retention, located records not cleared within two weeks, located missing
    /// persons at once. Each removal is one audit event naming the reason; the record's
    /// earlier history stays in the audit log.
    pub async fn system_purge_records(&self, operator: &str) -> Result<PurgeReport, ServiceError> {
        let now = self.now_us();
        let articles_before =
            koban_registry::date::jst_year_start(koban_registry::date::jst_year(now) - 1);
        let mut report = PurgeReport::default();
        loop {
            let (mut tx, actor) = self.begin_system(operator).await?;
            let rows = tx
                .registry_purge_candidates(now, articles_before, PURGE_BATCH)
                .await?;
            let mut drafts = Vec::new();
            for row in &rows {
                let life: Lifecycle =
                    serde_json::from_str(&row.lifecycle).map_err(|e| corrupt("lifecycle", e))?;
                let Some(reason) = life.purge_reason(now) else {
                    continue;
                };
                let reason = serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                // The tombstone goes with the deletion, so an export by difference reports it.
                tx.delete_registry_record(&TombstoneRow {
                    record_id: row.id.clone(),
                    owner_pref: row.owner_pref,
                    removed_at_us: now,
                    reason: reason.clone(),
                })
                .await?;
                let mut ev = actor.draft(&RequestCtx::cli(), "registry.purge");
                ev.object(RECORD_OBJECT, row.id.clone());
                ev.scope_pref = Some(row.owner_pref.to_string());
                ev.detail("reason", reason.clone());
                ev.detail("kind", row.kind.clone());
                ev.result = "success".into();
                drafts.push(ev);
                *report.purged.entry(reason).or_default() += 1;
            }
            report.examined += rows.len();
            let removed = drafts.len();
            if !drafts.is_empty() {
                self.audit().append_many(&mut *tx, drafts, now).await?;
            }
            tx.commit().await?;
            // Candidates not due (a missing person overdue for validation is kept) come back
            // on every page; stop once a page removes nothing new.
            if rows.len() < PURGE_BATCH as usize || removed == 0 {
                break;
            }
        }
        let (mut tx, actor) = self.begin_system(operator).await?;
        let mut ev = actor.draft(&RequestCtx::cli(), "registry.tombstone_prune");
        let r = async {
            let before = now.saturating_sub(TOMBSTONE_RETENTION_US);
            let n = tx.prune_registry_tombstones(before).await?;
            ev.detail("before", rfc3339(before));
            ev.detail("pruned", n);
            Ok(n)
        }
        .await;
        report.tombstones_pruned = match r {
            // Nothing pruned is nothing to record: the nightly run stays one event per
            // removal.
            Ok(0) => 0,
            r => self.conclude(tx, ev, r).await?,
        };
        Ok(report)
    }
}

/// What an export wrote.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ExportReport {
    /// Records in the active file written in full.
    pub records: u64,
    /// Records that left the active file since the cursor, written as removals.
    pub removed: u64,
    /// The version to ask from next time (the newest change written, or the one given).
    pub version: String,
}

/// Records read per export transaction (SQLite transactions hold the write lock, so an
/// export of millions of records is read in pages).
const EXPORT_PAGE: u32 = 10_000;

/// One change an export by difference reports: a record changed, or a record purged.
enum Change {
    Record(RegistryRow),
    Purged(TombstoneRow),
}

impl Change {
    /// Where the change lies in the export order: `updated_at_us` (or the purge time) and
    /// record id. Written `TIME.ID`, it is the version a site's next export continues
    /// exactly after.
    fn cursor(&self) -> (i64, &str) {
        match self {
            Change::Record(r) => (r.updated_at_us, &r.id),
            Change::Purged(t) => (t.removed_at_us, &t.record_id),
        }
    }
}

impl Koban {
    /// The offline copy of the hot files for sites with poor links: every record in the
    /// active file changed after `since` (a version from the previous export; empty for a
    /// full copy), one JSON object per line, oldest change first, and a removal line for
    /// each record that has left the active file since — the purged ones included, from
    /// their tombstones. A `since` older than the tombstones kept (see
    /// [`TOMBSTONE_RETENTION_US`]) is refused with `full_copy_required`. Audited as one
    /// event.
    pub async fn system_export_records(
        &self,
        operator: &str,
        since: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<ExportReport, ServiceError> {
        let (mut after_us, mut after_id) = if since.is_empty() {
            (i64::MIN, String::new())
        } else {
            let parsed = since
                .split_once('.')
                .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_string())));
            parsed.ok_or_else(|| {
                ServiceError::invalid("since", "invalid_format", "a version is TIME.ID")
            })?
        };
        let full = since.is_empty();
        if !full {
            // Removals older than the horizon may have been forgotten with their pruned
            // tombstones: a copy that old cannot be brought up to date by difference.
            let (mut tx, actor) = self.begin_system(operator).await?;
            if let Some(horizon) = tx.registry_tombstone_horizon().await?
                && after_us < horizon
            {
                let mut ev = actor.draft(&RequestCtx::cli(), "registry.export");
                ev.detail("since", since);
                let refusal = ServiceError::invalid(
                    "since",
                    "full_copy_required",
                    format!(
                        "the copy is older than {}, before which removals are no longer kept; take a full copy (no --since)",
                        rfc3339(horizon)
                    ),
                );
                return self.conclude(tx, ev, Err(refusal)).await;
            }
        }
        let mut report = ExportReport {
            version: since.to_string(),
            ..ExportReport::default()
        };
        let io = |e: std::io::Error| ServiceError::Internal(format!("writing the export: {e}"));
        loop {
            let (mut tx, _) = self.begin_system(operator).await?;
            let rows = tx
                .registry_changed_since(after_us, &after_id, EXPORT_PAGE)
                .await?;
            // A full copy holds only the active file; a difference also reports records
            // the purge deleted since.
            let tombstones = if full {
                Vec::new()
            } else {
                tx.registry_tombstones_since(after_us, &after_id, EXPORT_PAGE)
                    .await?
            };
            drop(tx);
            let more =
                rows.len() == EXPORT_PAGE as usize || tombstones.len() == EXPORT_PAGE as usize;
            let mut changes: Vec<Change> = rows
                .into_iter()
                .map(Change::Record)
                .chain(tombstones.into_iter().map(Change::Purged))
                .collect();
            changes.sort_by(|a, b| a.cursor().cmp(&b.cursor()));
            changes.truncate(EXPORT_PAGE as usize);
            for change in &changes {
                let (at_us, id) = change.cursor();
                let version = format!("{at_us}.{id}");
                let line = match change {
                    Change::Record(row) => {
                        let l = parse_row(row.clone())?;
                        if l.life.in_active_file() {
                            report.records += 1;
                            serde_json::json!({
                                "id": row.id, "version": version, "kind": row.kind,
                                "owner_pref": row.owner_pref.as_str(), "state": l.life.state(),
                                "caution": l.file.caution().names(), "file": l.file,
                            })
                        } else if full {
                            continue;
                        } else {
                            report.removed += 1;
                            serde_json::json!({"id": row.id, "version": version, "removed": true})
                        }
                    }
                    Change::Purged(t) => {
                        report.removed += 1;
                        serde_json::json!({"id": t.record_id, "version": version, "removed": true})
                    }
                };
                serde_json::to_writer(&mut *out, &line)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                out.write_all(b"\n").map_err(io)?;
            }
            if let Some(last) = changes.last() {
                let (at_us, id) = last.cursor();
                after_us = at_us;
                after_id = id.to_string();
                report.version = format!("{at_us}.{id}");
            }
            if !more {
                break;
            }
        }
        out.flush().map_err(io)?;
        let (mut tx, actor) = self.begin_system(operator).await?;
        if full
            && let Some(horizon) = tx.registry_tombstone_horizon().await?
            && after_us < horizon
        {
            // A full copy holds everything up to now, but its newest change may be older
            // than the horizon (nothing changed for a long time): give the horizon as its
            // version, or the site's next export by difference would be refused.
            report.version = format!("{horizon}.");
        }
        let mut ev = actor.draft(&RequestCtx::cli(), "registry.export");
        ev.detail("since", since);
        ev.detail("version", report.version.clone());
        ev.detail("records", report.records);
        ev.detail("removed", report.removed);
        self.conclude(tx, ev, Ok(report)).await
    }
}

/// Most passengers in one screening request (a flight's manifest; bigger lists are sent
/// in several requests).
pub const MAX_MANIFEST: usize = 300;

/// One passenger of a manifest (advance passenger information).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassengerIn {
    pub passenger_id: String,
    /// The name as in the passport's machine-readable zone or the booking.
    pub name: String,
    pub date_of_birth: String,
    #[serde(default)]
    pub document_number: Option<String>,
    #[serde(default)]
    pub issuing_state: Option<String>,
}

/// A manifest to screen against the person files and the travel-document file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestIn {
    pub passengers: Vec<PassengerIn>,
    #[serde(default)]
    pub dob_tolerance_years: Option<u8>,
    pub officer: String,
    #[serde(default)]
    pub purpose: String,
}

/// One suspected match of a screening.
#[derive(Clone, Debug, Serialize)]
pub struct ScreeningHit {
    pub passenger_id: String,
    /// `name` or `document`.
    pub by: &'static str,
    pub hit: HitView,
}

/// The answer to a screening.
#[derive(Clone, Debug, Serialize)]
pub struct ScreeningAnswer {
    pub screened: usize,
    pub hits: Vec<ScreeningHit>,
    pub reminder: &'static str,
}

impl Koban {
    /// Screens a passenger manifest: each passenger by name and date of birth against the
    /// person files, and by document number against the travel-document file. One audit
    /// event for the manifest, and one `registry.hit` event per record hit.
    pub async fn screen_manifest(
        &self,
        ctx: &RequestCtx,
        token: &str,
        m: ManifestIn,
    ) -> Result<ScreeningAnswer, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "registry.screening");
        let r = async {
            actor.require(Action::RecordQuery)?;
            if m.passengers.is_empty() {
                return Err(ServiceError::invalid(
                    "passengers",
                    "required",
                    "a manifest lists at least one passenger",
                ));
            }
            if m.passengers.len() > MAX_MANIFEST {
                return Err(ServiceError::invalid(
                    "passengers",
                    "batch_too_large",
                    format!("at most {MAX_MANIFEST} passengers per request"),
                ));
            }
            let purpose = ctx
                .purpose
                .clone()
                .filter(|p| !p.trim().is_empty())
                .unwrap_or(m.purpose.clone());
            let now = self.now_us();
            let today = jst_date(now);
            let mut queries = Vec::new();
            for (i, p) in m.passengers.iter().enumerate() {
                let at = |e: ServiceError| match e {
                    ServiceError::Invalid {
                        field,
                        code,
                        message,
                    } => ServiceError::Invalid {
                        field: format!("passengers[{i}].{field}"),
                        code,
                        message,
                    },
                    other => other,
                };
                if p.passenger_id.trim().is_empty() || p.passenger_id.chars().count() > 64 {
                    return Err(ServiceError::invalid(
                        format!("passengers[{i}].passenger_id"),
                        "invalid_format",
                        "1 to 64 characters",
                    ));
                }
                let base = RawQuery {
                    officer: m.officer.clone(),
                    purpose: purpose.clone(),
                    ..RawQuery::default()
                };
                let by_name = RawQuery {
                    name: Some(p.name.clone()),
                    date_of_birth: Some(p.date_of_birth.clone()),
                    dob_tolerance_years: m.dob_tolerance_years,
                    ..base.clone()
                };
                let q = Query::parse(&by_name, today).map_err(|e| at(first_error(e)))?;
                queries.push((i, "name", q.key));
                if let Some(n) = p
                    .document_number
                    .as_deref()
                    .filter(|n| !n.trim().is_empty())
                {
                    let by_doc = RawQuery {
                        document_number: Some(n.to_string()),
                        issuing_state: p.issuing_state.clone(),
                        ..base
                    };
                    let q = Query::parse(&by_doc, today).map_err(|e| at(first_error(e)))?;
                    queries.push((i, "document", q.key));
                }
            }
            ev.purpose = Some(purpose.clone());
            ev.detail("officer", m.officer.clone());
            ev.detail("passengers", m.passengers.len());
            let mut hits = Vec::new();
            for (i, by, key) in queries {
                let (subject, found) = search(&mut *tx, &key).await?;
                for h in found {
                    let mut hit_ev = actor.draft(ctx, "registry.hit");
                    hit_ev.object(RECORD_OBJECT, h.record_id.clone());
                    hit_ev.purpose = Some(purpose.clone());
                    hit_ev.scope_pref = Some(h.owner_pref.clone());
                    hit_ev.detail("subject", subject.clone());
                    hit_ev.detail("officer", m.officer.clone());
                    hit_ev.detail("screening", true);
                    hit_ev.result = "success".into();
                    ev.also(hit_ev);
                    hits.push(ScreeningHit {
                        passenger_id: m.passengers[i].passenger_id.clone(),
                        by,
                        hit: h,
                    });
                }
            }
            ev.detail("hits", hits.len());
            Ok(ScreeningAnswer {
                screened: m.passengers.len(),
                hits,
                reminder: HIT_REMINDER,
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}

/// The subject id an inquiry is recorded under.
fn subject_of(key: &QueryKey) -> String {
    match key {
        QueryKey::Person {
            name,
            date_of_birth,
            ..
        } => index::person_subject(name, *date_of_birth),
        other => index::lookup_key(other).unwrap_or_default(),
    }
}

/// Runs a query against the indexes: the subject id and the hits in the active file.
pub(crate) async fn search(
    tx: &mut dyn Tx,
    key: &QueryKey,
) -> Result<(String, Vec<HitView>), ServiceError> {
    let subject = subject_of(key);
    let mut hits = Vec::new();
    match key {
        QueryKey::Person {
            name,
            date_of_birth,
            tolerance_years,
        } => {
            let (lo, hi) = index::date_range(*date_of_birth, *tolerance_years);
            let (kanji, readings) = index::query_tokens(name);
            let mut counts: HashMap<i64, (usize, usize)> = HashMap::new();
            for t in &kanji {
                for id in tx
                    .registry_name_candidates(t, lo, hi, MAX_NAME_CANDIDATES)
                    .await?
                {
                    counts.entry(id).or_default().0 += 1;
                }
            }
            for t in &readings {
                for id in tx
                    .registry_name_candidates(t, lo, hi, MAX_NAME_CANDIDATES)
                    .await?
                {
                    counts.entry(id).or_default().1 += 1;
                }
            }
            // A record that carries every token of the query (in kanji, or as readings) is
            // a candidate; only when there is none are partial matches scored, because the
            // scorer tolerates typos in names from outside Japan.
            let full = |c: &(usize, usize)| {
                (!kanji.is_empty() && c.0 == kanji.len())
                    || (!readings.is_empty() && c.1 == readings.len())
            };
            let mut candidates: Vec<(i64, usize)> = counts
                .iter()
                .filter(|(_, c)| full(c))
                .map(|(seq, c)| (*seq, c.0 + c.1))
                .collect();
            if candidates.is_empty() {
                candidates = counts.into_iter().map(|(id, c)| (id, c.0 + c.1)).collect();
                candidates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                candidates.truncate(MAX_LOOSE_CANDIDATES);
            }
            let qkey = koban_names::name_key(name);
            for (seq, _) in candidates {
                let Some(row) = tx.get_registry_record_by_seq(seq).await? else {
                    continue;
                };
                let l = parse_row(row)?;
                if !l.life.in_active_file() {
                    continue;
                }
                let Some((person, dob)) = index::person_of(&l.file) else {
                    continue;
                };
                if !koban_registry::dob_matches(*date_of_birth, dob, *tolerance_years) {
                    continue;
                }
                let score = koban_names::compare_keys(&qkey, &person.name_key());
                if score >= koban_names::DEFAULT_THRESHOLD {
                    hits.push(hit_view(&l, Some(score)));
                }
            }
            hits.sort_by(|a: &HitView, b: &HitView| {
                b.score
                    .unwrap_or(0.0)
                    .total_cmp(&a.score.unwrap_or(0.0))
                    .then_with(|| a.record_id.cmp(&b.record_id))
            });
        }
        other => {
            for row in tx.registry_by_key(&subject).await? {
                // Cheap column check before parsing: most keys of cleared and cancelled
                // records are never parsed at all.
                if !matches!(row.state.as_str(), "active" | "located") {
                    continue;
                }
                let l = parse_row(row)?;
                if l.life.in_active_file() && index::matches_record(other, &l.file) {
                    hits.push(hit_view(&l, None));
                }
            }
        }
    }
    hits.truncate(MAX_HITS);
    Ok((subject, hits))
}

fn hit_view(l: &Loaded, score: Option<f64>) -> HitView {
    HitView {
        record_id: l.row.id.clone(),
        kind: l.row.kind.clone(),
        owner_pref: l.life.owner().to_string(),
        state: l.life.state(),
        caution: l.file.caution().names(),
        score,
        file: l.file.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn domain_errors_keep_their_codes_and_fields() {
        let e = registry_error(RegistryError::Required {
            field: "warrant.offence".into(),
        });
        match e {
            ServiceError::Invalid { field, code, .. } => {
                assert_eq!((field.as_str(), code), ("warrant.offence", "required"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            registry_error(RegistryError::DuplicateRecord("rec_x".into())),
            ServiceError::Conflict {
                code: "duplicate_record",
                ..
            }
        ));
        assert!(matches!(
            registry_error(RegistryError::EmptyQuery),
            ServiceError::Invalid {
                code: "empty_query",
                ..
            }
        ));
    }
}
