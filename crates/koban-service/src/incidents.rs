//! 110 calls and incidents: recorded, linked, moved through their states, and read —
//! each scoped to the prefecture of the command room and audited like any police data.

use koban_access::Action;
use koban_dispatch::{
    CautionFlags, DuplicateCandidate, DuplicateConfig, DuplicateQuery, Incident, IncidentCommand,
    IncidentState, LatLon, NewIncident, UncertainLocation,
};
use koban_org::PrefCode;
use koban_store::{CallRow, IncidentFilter, IncidentRow, MAX_PAGE_ROWS, Tx};
use serde::{Deserialize, Serialize};

use crate::live::{LiveDraft, kinds};
use crate::{Actor, Koban, RequestCtx, ServiceError, check_id, check_text, new_id};

/// Longest free text of a call or incident.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Open incidents examined for duplicates of a new call.
const DUPLICATE_SCAN_LIMIT: u32 = MAX_PAGE_ROWS;

/// A point with its uncertainty, as clients send it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointIn {
    pub lat: f64,
    pub lon: f64,
    #[serde(default)]
    pub radius_m: f64,
}

/// A 110 call as the call-taker records it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCall {
    pub caller_number: Option<String>,
    /// When the call reached the command room (RFC 3339); default: now.
    pub received_at: Option<String>,
    pub answered_at: Option<String>,
    /// The caller's position from the phone network, with its uncertainty.
    pub caller_location: Option<PointIn>,
    #[serde(default = "default_language")]
    pub language: String,
    /// What the caller said.
    pub statement: String,
    /// The incident type if already known, for duplicate detection.
    pub type_code: Option<String>,
}

fn default_language() -> String {
    "ja".into()
}

/// A stored call and the open incidents it may duplicate.
#[derive(Clone, Debug, Serialize)]
pub struct CallView {
    pub call: koban_dispatch::Call,
    pub pref_code: String,
    pub incident_id: Option<String>,
    /// Open incidents near in place and time with a compatible type, nearest first.
    pub likely_duplicates: Vec<DuplicateCandidate>,
}

/// A new incident.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIncidentIn {
    pub type_code: String,
    pub priority: Option<u8>,
    pub location: PointIn,
    #[serde(default)]
    pub narrative: String,
    #[serde(default)]
    pub cautions: CautionFlags,
    /// Calls to link at once.
    #[serde(default)]
    pub call_ids: Vec<String>,
}

/// A state change requested by a dispatcher: `command` is one of dispatch,
/// arrive_on_scene, clear, close (with `disposition`), cancel, reopen.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionIn {
    pub command: String,
    #[serde(default)]
    pub disposition: Option<String>,
    #[serde(default)]
    pub note: String,
}

impl TransitionIn {
    fn command(&self) -> Result<IncidentCommand, ServiceError> {
        Ok(match self.command.as_str() {
            "dispatch" => IncidentCommand::Dispatch,
            "arrive_on_scene" => IncidentCommand::ArriveOnScene,
            "clear" => IncidentCommand::Clear,
            "close" => IncidentCommand::Close {
                disposition: self.disposition.clone(),
            },
            "cancel" => IncidentCommand::Cancel,
            "reopen" => IncidentCommand::Reopen,
            _ => {
                return Err(ServiceError::invalid(
                    "command",
                    "unknown_command",
                    "one of dispatch, arrive_on_scene, clear, close, cancel, reopen",
                ));
            }
        })
    }
}

/// An incident as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct IncidentView {
    #[serde(flatten)]
    pub incident: Incident,
    pub state: IncidentState,
    pub disposition: Option<String>,
    pub pref_code: String,
}

impl IncidentView {
    pub(crate) fn of(incident: Incident, pref: PrefCode) -> Self {
        IncidentView {
            state: incident.state(),
            disposition: incident.disposition().map(str::to_string),
            pref_code: pref.to_string(),
            incident,
        }
    }
}

/// Checks a point lies in Japan and its uncertainty is sane.
pub(crate) fn check_point(field: &str, p: PointIn) -> Result<UncertainLocation, ServiceError> {
    if !p.lat.is_finite()
        || !p.lon.is_finite()
        || !(20.0..=46.0).contains(&p.lat)
        || !(122.0..=154.0).contains(&p.lon)
    {
        return Err(ServiceError::invalid(
            field,
            "outside_japan",
            "the point is not in Japan (lat 20–46, lon 122–154)",
        ));
    }
    if !p.radius_m.is_finite() || !(0.0..=100_000.0).contains(&p.radius_m) {
        return Err(ServiceError::invalid(
            field,
            "invalid_radius",
            "radius_m must be 0 to 100,000",
        ));
    }
    Ok(UncertainLocation {
        point: LatLon {
            lat: p.lat,
            lon: p.lon,
        },
        radius_m: p.radius_m,
    })
}

pub(crate) fn dispatch_error(field: &str, e: koban_dispatch::DispatchError) -> ServiceError {
    match e.code() {
        "illegal_transition" | "disposition_required" | "unknown_disposition" => {
            ServiceError::Conflict {
                code: e.code(),
                message: e.to_string(),
            }
        }
        code => ServiceError::invalid(field, code, e.to_string()),
    }
}

/// The prefecture a command-room user records calls for.
pub(crate) fn home_pref(actor: &Actor) -> Result<PrefCode, ServiceError> {
    actor.user.pref_code.ok_or_else(|| {
        ServiceError::invalid(
            "unit",
            "no_prefecture",
            "calls and incidents are recorded by a prefecture's staff",
        )
    })
}

pub(crate) fn to_row(
    incident: &Incident,
    pref: PrefCode,
    created_at_us: i64,
    now: i64,
) -> Result<IncidentRow, ServiceError> {
    Ok(IncidentRow {
        id: incident.id.clone(),
        pref_code: pref,
        state: incident.state().as_str().to_string(),
        type_code: incident.type_code.clone(),
        priority: i64::from(incident.priority),
        lat: incident.location.point.lat,
        lon: incident.location.point.lon,
        created_at_us,
        updated_at_us: now,
        doc: serde_json::to_string(incident)
            .map_err(|e| ServiceError::Internal(format!("incident document: {e}")))?,
    })
}

pub(crate) fn from_row(row: &IncidentRow) -> Result<Incident, ServiceError> {
    serde_json::from_str(&row.doc).map_err(|e| {
        ServiceError::Internal(format!("stored incident {} does not validate: {e}", row.id))
    })
}

/// Loads an incident the actor may see; anything else is "not found".
pub(crate) async fn visible_incident(
    tx: &mut dyn Tx,
    actor: &Actor,
    id: &str,
) -> Result<(IncidentRow, Incident), ServiceError> {
    check_id("id", id, "inc")?;
    match tx.get_incident(id).await? {
        Some(row) if actor.sees(Some(row.pref_code)) => {
            let incident = from_row(&row)?;
            Ok((row, incident))
        }
        _ => Err(ServiceError::NotFound { what: "incident" }),
    }
}

async fn visible_call(tx: &mut dyn Tx, actor: &Actor, id: &str) -> Result<CallRow, ServiceError> {
    check_id("call_id", id, "cal")?;
    match tx.get_call(id).await? {
        Some(row) if actor.sees(Some(row.pref_code)) => Ok(row),
        _ => Err(ServiceError::NotFound { what: "call" }),
    }
}

fn time_field(field: &str, v: &Option<String>, default: i64) -> Result<i64, ServiceError> {
    match v {
        None => Ok(default),
        Some(s) => crate::clock::parse_rfc3339(s).ok_or_else(|| {
            ServiceError::invalid(field, "invalid_time", "must be an RFC 3339 time")
        }),
    }
}

impl Koban {
    /// Records a 110 call and offers the open incidents it probably duplicates.
    pub async fn create_call(
        &self,
        ctx: &RequestCtx,
        token: &str,
        new: NewCall,
    ) -> Result<CallView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "call.create");
        let r = async {
            actor.require(Action::IncidentWrite)?;
            let pref = home_pref(&actor)?;
            check_text("statement", &new.statement, MAX_TEXT_CHARS)?;
            if let Some(n) = &new.caller_number {
                if n.len() > 32
                    || !n
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b"+-() ".contains(&b))
                {
                    return Err(ServiceError::invalid(
                        "caller_number",
                        "invalid_phone_number",
                        "digits, +, -, spaces and brackets, at most 32",
                    ));
                }
            }
            if new.language.len() > 16 {
                return Err(ServiceError::invalid(
                    "language",
                    "too_long",
                    "at most 16 bytes",
                ));
            }
            let now = self.now_us();
            let received = time_field("received_at", &new.received_at, now)?;
            let answered = new
                .answered_at
                .as_ref()
                .map(|_| time_field("answered_at", &new.answered_at, now))
                .transpose()?;
            let location = new
                .caller_location
                .map(|p| check_point("caller_location", p))
                .transpose()?;
            let types = &self.config().incident_types;
            if let Some(code) = &new.type_code {
                types
                    .get(code)
                    .map_err(|e| dispatch_error("type_code", e))?;
            }
            let call = koban_dispatch::Call {
                id: new_id("cal"),
                received_us: received,
                answered_us: answered,
                caller_number: new.caller_number.clone(),
                caller_location: location,
                language: new.language.clone(),
                call_taker_id: actor.user.id.clone(),
                statement: new.statement.clone(),
            };
            let mut likely = Vec::new();
            if let Some(loc) = location {
                let dup = DuplicateConfig::default();
                let window_us = dup.window_s * 1_000_000;
                // A box a little larger than the duplicate radius; the exact distance test
                // is the domain's.
                let dlat = dup.max_distance_m * 1.1 / 111_000.0;
                let dlon = dlat / loc.point.lat.to_radians().cos().max(0.1);
                let p = loc.point;
                let open = tx
                    .list_incidents(&IncidentFilter {
                        prefs: Some(vec![pref]),
                        open_only: true,
                        since_us: Some(received - window_us),
                        within: Some([p.lat - dlat, p.lon - dlon, p.lat + dlat, p.lon + dlon]),
                        limit: DUPLICATE_SCAN_LIMIT,
                    })
                    .await?;
                let incidents: Vec<Incident> =
                    open.iter().map(from_row).collect::<Result<_, _>>()?;
                likely = koban_dispatch::duplicate_candidates(
                    types,
                    &DuplicateQuery {
                        location: loc.point,
                        at_us: received,
                        type_code: new.type_code.as_deref(),
                    },
                    &incidents,
                    &DuplicateConfig::default(),
                )
                .map_err(|e| dispatch_error("type_code", e))?;
            }
            tx.insert_call(&CallRow {
                id: call.id.clone(),
                pref_code: pref,
                received_at_us: received,
                incident_id: None,
                doc: serde_json::to_string(&call)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?,
            })
            .await?;
            ev.object("call", call.id.clone());
            ev.scope_pref = Some(pref.to_string());
            ev.detail("likely_duplicates", likely.len());
            Ok(CallView {
                call,
                pref_code: pref.to_string(),
                incident_id: None,
                likely_duplicates: likely,
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Creates an incident, linking the given calls.
    pub async fn create_incident(
        &self,
        ctx: &RequestCtx,
        token: &str,
        new: NewIncidentIn,
    ) -> Result<IncidentView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "incident.create");
        let r = async {
            actor.require(Action::IncidentWrite)?;
            let pref = home_pref(&actor)?;
            if new.narrative.chars().count() > MAX_TEXT_CHARS {
                return Err(ServiceError::invalid(
                    "narrative",
                    "too_long",
                    format!("at most {MAX_TEXT_CHARS} characters"),
                ));
            }
            if new.call_ids.len() > 100 {
                return Err(ServiceError::invalid(
                    "call_ids",
                    "too_many",
                    "at most 100 calls at once",
                ));
            }
            let location = check_point("location", new.location)?;
            let now = self.now_us();
            let mut incident = Incident::create(
                NewIncident {
                    id: new_id("inc"),
                    type_code: new.type_code.clone(),
                    priority: new.priority,
                    location,
                    narrative: new.narrative.clone(),
                    cautions: new.cautions,
                    call_id: None,
                },
                &self.config().incident_types,
                now,
                &actor.user.id,
            )
            .map_err(|e| {
                dispatch_error(
                    if e.code() == "invalid_priority" {
                        "priority"
                    } else {
                        "type_code"
                    },
                    e,
                )
            })?;
            // Check and link the calls in memory first, so the incident is written once,
            // complete; the calls' own rows point at it after it exists.
            for call_id in &new.call_ids {
                let call = visible_call(&mut *tx, &actor, call_id).await.map_err(|_| {
                    ServiceError::invalid(
                        "call_ids",
                        "unknown_call",
                        format!("no such call {call_id}"),
                    )
                })?;
                incident.link_call(&call.id);
            }
            tx.insert_incident(&to_row(&incident, pref, now, now)?)
                .await?;
            for call_id in &incident.call_ids {
                tx.link_call(call_id, &incident.id).await?;
            }
            ev.object("incident", incident.id.clone());
            ev.scope_pref = Some(pref.to_string());
            ev.detail("type_code", incident.type_code.clone());
            ev.detail("priority", incident.priority);
            let view = IncidentView::of(incident, pref);
            ev.publish(LiveDraft::of(kinds::INCIDENT_CREATED, Some(pref), &view)?);
            Ok(view)
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    pub async fn get_incident(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
    ) -> Result<IncidentView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "incident.read");
        ev.object("incident", id);
        let r = async {
            actor.require(Action::IncidentRead)?;
            let (row, incident) = visible_incident(&mut *tx, &actor, id).await?;
            ev.scope_pref = Some(row.pref_code.to_string());
            Ok(IncidentView::of(incident, row.pref_code))
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Incidents in scope, newest first.
    pub async fn list_incidents(
        &self,
        ctx: &RequestCtx,
        token: &str,
        open_only: bool,
        limit: u32,
    ) -> Result<Vec<IncidentView>, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "incident.list");
        let r = async {
            actor.require(Action::IncidentRead)?;
            let rows = tx
                .list_incidents(&IncidentFilter {
                    prefs: actor.pref_filter(),
                    open_only,
                    since_us: None,
                    within: None,
                    limit: limit.clamp(1, MAX_PAGE_ROWS),
                })
                .await?;
            ev.detail("count", rows.len());
            rows.iter()
                .map(|r| Ok(IncidentView::of(from_row(r)?, r.pref_code)))
                .collect()
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Moves an incident to another state; illegal moves are refused with 409.
    pub async fn transition_incident(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        t: TransitionIn,
    ) -> Result<IncidentView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "incident.transition");
        ev.object("incident", id);
        let r = async {
            actor.require(Action::IncidentCommand)?;
            check_note(&t.note)?;
            let command = t.command()?;
            let (row, mut incident) = visible_incident(&mut *tx, &actor, id).await?;
            ev.scope_pref = Some(row.pref_code.to_string());
            let now = self.now_us();
            let from = incident.state();
            incident
                .apply(
                    &command,
                    &self.config().dispositions,
                    now,
                    &actor.user.id,
                    &t.note,
                )
                .map_err(|e| dispatch_error("command", e))?;
            ev.detail("from", from.as_str());
            ev.detail("to", incident.state().as_str());
            save_incident(&mut *tx, &mut ev, incident, &row, now).await
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Links a call to an incident (one action for the call-taker).
    pub async fn link_call(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        call_id: &str,
    ) -> Result<IncidentView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "incident.link_call");
        ev.object("incident", id);
        let r = async {
            actor.require(Action::IncidentWrite)?;
            let (row, mut incident) = visible_incident(&mut *tx, &actor, id).await?;
            let call = visible_call(&mut *tx, &actor, call_id).await?;
            ev.scope_pref = Some(row.pref_code.to_string());
            ev.detail("call_id", call.id.clone());
            if call.pref_code != row.pref_code {
                return Err(ServiceError::invalid(
                    "call_id",
                    "other_prefecture",
                    "the call belongs to another prefecture",
                ));
            }
            incident.link_call(&call.id);
            tx.link_call(&call.id, &incident.id).await?;
            save_incident(&mut *tx, &mut ev, incident, &row, self.now_us()).await
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}

/// Stores an incident's new state and publishes it live. Every update of an existing
/// incident goes through here, so no write path can change one without its subscribers
/// hearing of it.
pub(crate) async fn save_incident(
    tx: &mut dyn Tx,
    ev: &mut crate::EventDraft,
    incident: Incident,
    row: &IncidentRow,
    now_us: i64,
) -> Result<IncidentView, ServiceError> {
    tx.update_incident(&to_row(
        &incident,
        row.pref_code,
        row.created_at_us,
        now_us,
    )?)
    .await?;
    let view = IncidentView::of(incident, row.pref_code);
    ev.publish(LiveDraft::of(
        kinds::INCIDENT_UPDATED,
        Some(row.pref_code),
        &view,
    )?);
    Ok(view)
}

fn check_note(note: &str) -> Result<(), ServiceError> {
    if note.chars().count() > MAX_TEXT_CHARS || note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ServiceError::invalid(
            "note",
            "invalid_text",
            "at most 4,000 visible characters",
        ));
    }
    Ok(())
}
