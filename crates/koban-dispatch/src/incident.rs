//! Calls, incidents, the incident state machine and duplicate detection.
//!
//! A call is one person ringing 110; an incident is the event the police respond to. One
//! traffic accident seen by ten drivers is ten calls and one incident, so the two are kept
//! apart and an incident lists the calls linked to it.

use serde::{Deserialize, Serialize};

use crate::codes::{DispositionList, IncidentType, IncidentTypeList};
use crate::error::{DispatchError, excerpt};
use crate::geo::{LatLon, haversine_m};

/// Microseconds in one second, for turning `_us` timestamps into `_s` durations.
pub const US_PER_S: i64 = 1_000_000;

/// A location with its uncertainty, as a mobile network or a call-taker reports it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UncertainLocation {
    /// Best estimate of the position.
    pub point: LatLon,
    /// Radius in metres of the circle the true position lies in (at the source's confidence).
    pub radius_m: f64,
}

/// One 110 call as the call-taker received it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Call id.
    pub id: String,
    /// When the call reached the command room, UTC µs.
    pub received_us: i64,
    /// When a call-taker answered, UTC µs; `None` while it rings or if abandoned.
    pub answered_us: Option<i64>,
    /// Caller's number; `None` when withheld (非通知).
    pub caller_number: Option<String>,
    /// Caller's position from the network, with its uncertainty; `None` when not delivered.
    pub caller_location: Option<UncertainLocation>,
    /// Language the call was taken in (BCP 47, e.g. `ja`, `en`, `vi`).
    pub language: String,
    /// The call-taker's user id.
    pub call_taker_id: String,
    /// What the caller said, as the call-taker wrote it down.
    pub statement: String,
}

impl Call {
    /// Seconds from arrival to answer (the NENA-STA-020 measure), if answered.
    pub fn answer_delay_s(&self) -> Option<f64> {
        self.answered_us
            .map(|a| (a - self.received_us) as f64 / US_PER_S as f64)
    }
}

/// Hazards officers must know before they arrive. Flags not mentioned are false.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CautionFlags {
    /// A weapon is reported or suspected.
    pub armed: bool,
    /// Violence is under way or threatened.
    pub violent: bool,
    /// A person in mental-health crisis is involved.
    pub mental_health: bool,
    /// A child is involved.
    pub child: bool,
}

/// Where an incident stands in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Recorded, no unit sent yet.
    Created,
    /// At least one unit has been ordered to go.
    Dispatched,
    /// At least one unit has arrived.
    OnScene,
    /// Units have finished at the scene; paperwork remains.
    Cleared,
    /// Finished, with a disposition.
    Closed,
    /// Withdrawn before it was cleared (mistaken call, merged, caller rang back).
    Cancelled,
}

impl IncidentState {
    /// Every state, for tests and exhaustive tables.
    pub const ALL: [IncidentState; 6] = [
        IncidentState::Created,
        IncidentState::Dispatched,
        IncidentState::OnScene,
        IncidentState::Cleared,
        IncidentState::Closed,
        IncidentState::Cancelled,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Created => "created",
            IncidentState::Dispatched => "dispatched",
            IncidentState::OnScene => "on_scene",
            IncidentState::Cleared => "cleared",
            IncidentState::Closed => "closed",
            IncidentState::Cancelled => "cancelled",
        }
    }

    /// Whether the incident still needs police attention (and may absorb new calls).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            IncidentState::Created | IncidentState::Dispatched | IncidentState::OnScene
        )
    }
}

/// A request to move an incident to another state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum IncidentCommand {
    /// created → dispatched.
    Dispatch,
    /// dispatched → on_scene.
    ArriveOnScene,
    /// on_scene → cleared.
    Clear,
    /// cleared → closed, with a disposition code from the list in force.
    Close {
        /// The disposition code; `None` is refused with `disposition_required`.
        disposition: Option<String>,
    },
    /// created, dispatched or on_scene → cancelled.
    Cancel,
    /// cleared, closed or cancelled → created.
    Reopen,
}

impl IncidentCommand {
    /// The state the command asks for.
    pub fn target(&self) -> IncidentState {
        match self {
            IncidentCommand::Dispatch => IncidentState::Dispatched,
            IncidentCommand::ArriveOnScene => IncidentState::OnScene,
            IncidentCommand::Clear => IncidentState::Cleared,
            IncidentCommand::Close { .. } => IncidentState::Closed,
            IncidentCommand::Cancel => IncidentState::Cancelled,
            IncidentCommand::Reopen => IncidentState::Created,
        }
    }
}

/// Whether the incident state machine allows `from` → `to`.
pub fn incident_transition_allowed(from: IncidentState, to: IncidentState) -> bool {
    use IncidentState::*;
    matches!(
        (from, to),
        (Created, Dispatched)
            | (Dispatched, OnScene)
            | (OnScene, Cleared)
            | (Cleared, Closed)
            | (Created | Dispatched | OnScene, Cancelled)
            | (Cleared | Closed | Cancelled, Created)
    )
}

/// One accepted change of an incident's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When it happened, UTC µs.
    pub at_us: i64,
    /// Who did it (user id, or a system name).
    pub actor: String,
    /// The state before; `None` for the entry that records creation.
    pub from: Option<IncidentState>,
    /// The state after.
    pub to: IncidentState,
    /// Free text (reason for a cancel, the disposition on close).
    pub note: String,
}

/// What a call-taker fixes when a new incident is recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct NewIncident {
    /// Incident id.
    pub id: String,
    /// Incident type code (must be in the list in force).
    pub type_code: String,
    /// Priority; `None` takes the type's default.
    pub priority: Option<u8>,
    /// Where it happens.
    pub location: UncertainLocation,
    /// Narrative.
    pub narrative: String,
    /// Hazards.
    pub cautions: CautionFlags,
    /// The call that caused it, if any (an officer may also raise one on the street).
    pub call_id: Option<String>,
}

/// An incident and its own timeline.
///
/// The state and disposition are private so that they can only change through
/// [`Incident::apply`], which keeps the timeline in step with them. Deserialising goes
/// through [`Incident::restore`], so a stored record that contradicts itself is refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "IncidentRecord")]
pub struct Incident {
    /// Incident id.
    pub id: String,
    /// Incident type code.
    pub type_code: String,
    /// Priority, 1 (highest) to 5.
    pub priority: u8,
    /// Where it happens.
    pub location: UncertainLocation,
    /// Narrative.
    pub narrative: String,
    /// Hazards.
    pub cautions: CautionFlags,
    /// Calls linked to this incident, in the order they were linked, without repeats.
    pub call_ids: Vec<String>,
    /// When it was recorded, UTC µs.
    pub created_us: i64,
    state: IncidentState,
    disposition: Option<String>,
    timeline: Vec<TimelineEntry>,
}

/// An incident as storage holds it, before [`Incident::restore`] checks it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct IncidentRecord {
    /// Incident id.
    pub id: String,
    /// Incident type code.
    pub type_code: String,
    /// Priority.
    pub priority: u8,
    /// Location.
    pub location: UncertainLocation,
    /// Narrative.
    pub narrative: String,
    /// Hazards.
    pub cautions: CautionFlags,
    /// Linked calls.
    pub call_ids: Vec<String>,
    /// Creation time, UTC µs.
    pub created_us: i64,
    /// State.
    pub state: IncidentState,
    /// Disposition code.
    pub disposition: Option<String>,
    /// Timeline.
    pub timeline: Vec<TimelineEntry>,
}

impl TryFrom<IncidentRecord> for Incident {
    type Error = DispatchError;
    fn try_from(record: IncidentRecord) -> Result<Self, Self::Error> {
        Incident::restore(record)
    }
}

impl Incident {
    /// Rebuilds an incident from storage, checking that the record agrees with itself: the
    /// timeline starts with creation, every step is one the state machine allows and
    /// follows from the one before, the last step is the current state, and a disposition
    /// is held exactly when the state is `closed`.
    ///
    /// The type and disposition codes are not checked against today's lists, because a
    /// list may since have retired a code that was valid when the incident was recorded.
    pub fn restore(r: IncidentRecord) -> Result<Self, DispatchError> {
        let bad = DispatchError::InvalidRecord;
        if !(crate::codes::PRIORITY_HIGHEST..=crate::codes::PRIORITY_LOWEST).contains(&r.priority) {
            return Err(bad("priority outside 1 to 5"));
        }
        match r.timeline.first() {
            Some(e) if e.from.is_none() && e.to == IncidentState::Created => {}
            _ => return Err(bad("timeline must start with creation")),
        }
        for w in r.timeline.windows(2) {
            if w[1].from != Some(w[0].to) || !incident_transition_allowed(w[0].to, w[1].to) {
                return Err(bad("timeline steps do not follow each other"));
            }
        }
        if r.timeline.last().map(|e| e.to) != Some(r.state) {
            return Err(bad("state differs from the timeline"));
        }
        if (r.state == IncidentState::Closed) != r.disposition.is_some() {
            return Err(bad("disposition must be present exactly when closed"));
        }
        Ok(Incident {
            id: r.id,
            type_code: r.type_code,
            priority: r.priority,
            location: r.location,
            narrative: r.narrative,
            cautions: r.cautions,
            call_ids: r.call_ids,
            created_us: r.created_us,
            state: r.state,
            disposition: r.disposition,
            timeline: r.timeline,
        })
    }

    /// Records a new incident in state `created`, with one timeline entry saying so.
    pub fn create(
        new: NewIncident,
        types: &IncidentTypeList,
        at_us: i64,
        actor: &str,
    ) -> Result<Self, DispatchError> {
        let t: &IncidentType = types.get(&new.type_code)?;
        let priority = new.priority.unwrap_or(t.default_priority);
        if !(crate::codes::PRIORITY_HIGHEST..=crate::codes::PRIORITY_LOWEST).contains(&priority) {
            return Err(DispatchError::InvalidPriority {
                code: excerpt(&new.type_code),
                priority,
            });
        }
        LatLon::new(new.location.point.lat, new.location.point.lon)?;
        if !new.location.radius_m.is_finite() || new.location.radius_m < 0.0 {
            return Err(DispatchError::OutOfRange { field: "radius_m" });
        }
        Ok(Incident {
            id: new.id,
            type_code: new.type_code,
            priority,
            location: new.location,
            narrative: new.narrative,
            cautions: new.cautions,
            call_ids: new.call_id.into_iter().collect(),
            created_us: at_us,
            state: IncidentState::Created,
            disposition: None,
            timeline: vec![TimelineEntry {
                at_us,
                actor: actor.to_owned(),
                from: None,
                to: IncidentState::Created,
                note: String::new(),
            }],
        })
    }

    /// The current state.
    pub fn state(&self) -> IncidentState {
        self.state
    }

    /// The disposition code; `Some` exactly when the state is `closed`.
    pub fn disposition(&self) -> Option<&str> {
        self.disposition.as_deref()
    }

    /// Every accepted change, oldest first; the first entry records creation.
    pub fn timeline(&self) -> &[TimelineEntry] {
        &self.timeline
    }

    /// Changes the priority (1 to 5), e.g. when a later call reveals a weapon.
    pub fn set_priority(&mut self, priority: u8) -> Result<(), DispatchError> {
        if !(crate::codes::PRIORITY_HIGHEST..=crate::codes::PRIORITY_LOWEST).contains(&priority) {
            return Err(DispatchError::InvalidPriority {
                code: excerpt(&self.type_code),
                priority,
            });
        }
        self.priority = priority;
        Ok(())
    }

    /// Links a call; linking the same call twice is a no-op. Returns whether it was new.
    pub fn link_call(&mut self, call_id: &str) -> bool {
        if self.call_ids.iter().any(|c| c == call_id) {
            return false;
        }
        self.call_ids.push(call_id.to_owned());
        true
    }

    /// Applies a command. On success the state changes and one timeline entry is appended;
    /// on error nothing changes.
    ///
    /// Times are recorded as given, even if earlier than the previous entry: a field
    /// terminal's clock may lag, and losing its report would be worse than an odd order.
    pub fn apply(
        &mut self,
        command: &IncidentCommand,
        dispositions: &DispositionList,
        at_us: i64,
        actor: &str,
        note: &str,
    ) -> Result<&TimelineEntry, DispatchError> {
        let from = self.state;
        let to = command.target();
        if !incident_transition_allowed(from, to) {
            return Err(DispatchError::IllegalTransition {
                machine: "incident",
                from: from.as_str(),
                to: to.as_str(),
            });
        }
        let disposition = match command {
            IncidentCommand::Close { disposition } => {
                let code = disposition
                    .as_deref()
                    .ok_or(DispatchError::DispositionRequired)?;
                if !dispositions.contains(code) {
                    return Err(DispatchError::UnknownDisposition(excerpt(code)));
                }
                Some(code.to_owned())
            }
            // Any other accepted move leaves `closed`, so the old disposition no longer holds.
            _ => None,
        };
        self.state = to;
        self.disposition = disposition;
        self.timeline.push(TimelineEntry {
            at_us,
            actor: actor.to_owned(),
            from: Some(from),
            to,
            note: note.to_owned(),
        });
        let last = self.timeline.len() - 1;
        Ok(&self.timeline[last])
    }
}

/// Limits for duplicate detection.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DuplicateConfig {
    /// Farthest an open incident may be from the new call, in metres.
    pub max_distance_m: f64,
    /// Largest gap between the incident's creation and the call, in seconds (either way,
    /// because calls are sometimes entered after the incident they report).
    pub window_s: i64,
}

/// Default radius: a few hundred metres covers callers who see an accident from a distance.
pub const DEFAULT_DUPLICATE_DISTANCE_M: f64 = 300.0;
/// Default window: later callers keep ringing for a quarter of an hour after an event.
pub const DEFAULT_DUPLICATE_WINDOW_S: i64 = 15 * 60;

impl Default for DuplicateConfig {
    fn default() -> Self {
        DuplicateConfig {
            max_distance_m: DEFAULT_DUPLICATE_DISTANCE_M,
            window_s: DEFAULT_DUPLICATE_WINDOW_S,
        }
    }
}

/// What is known about a new call when looking for duplicates.
#[derive(Clone, Debug, PartialEq)]
pub struct DuplicateQuery<'a> {
    /// The call's (or the call-taker's fixed) location.
    pub location: LatLon,
    /// When the call was received, UTC µs.
    pub at_us: i64,
    /// The call's type code; `None` while unknown, which matches every type.
    pub type_code: Option<&'a str>,
}

/// An open incident that may be the one the new call is about.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DuplicateCandidate {
    /// The incident's id.
    pub incident_id: String,
    /// Distance from the call to the incident, metres.
    pub distance_m: f64,
    /// Seconds from the incident's creation to the call (negative if the call is older).
    pub age_s: f64,
}

/// Open incidents within the configured distance and time of a new call whose type is
/// compatible, nearest first (ties by smaller time gap, then id, so the order is stable).
pub fn duplicate_candidates(
    types: &IncidentTypeList,
    query: &DuplicateQuery<'_>,
    incidents: &[Incident],
    config: &DuplicateConfig,
) -> Result<Vec<DuplicateCandidate>, DispatchError> {
    if let Some(code) = query.type_code {
        types.get(code)?;
    }
    let window_us = config.window_s.saturating_mul(US_PER_S);
    let mut out: Vec<DuplicateCandidate> = incidents
        .iter()
        .filter(|i| i.state().is_open())
        .filter(|i| query.at_us.abs_diff(i.created_us) <= window_us.unsigned_abs())
        .filter(|i| {
            query
                .type_code
                .is_none_or(|c| types.compatible(c, &i.type_code))
        })
        .filter_map(|i| {
            let distance_m = haversine_m(query.location, i.location.point);
            (distance_m <= config.max_distance_m).then(|| DuplicateCandidate {
                incident_id: i.id.clone(),
                distance_m,
                age_s: (query.at_us - i.created_us) as f64 / US_PER_S as f64,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        a.distance_m
            .total_cmp(&b.distance_m)
            .then(a.age_s.abs().total_cmp(&b.age_s.abs()))
            .then_with(|| a.incident_id.cmp(&b.incident_id))
    });
    Ok(out)
}

#[cfg(test)]
mod tests;
