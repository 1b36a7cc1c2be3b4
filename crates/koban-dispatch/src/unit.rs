//! Units, their internal statuses mapped onto NENA EIDO, and the per-unit assignment
//! timeline with the automatic status changes it causes.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{DispatchError, excerpt};
use crate::geo::LatLon;

/// What kind of vehicle (or none) a unit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// パトカー.
    PatrolCar,
    /// 白バイ and other motorcycles.
    Motorcycle,
    /// 徒歩警ら.
    FootPatrol,
    /// ヘリコプター.
    Aircraft,
    /// 警備艇.
    Boat,
}

impl UnitKind {
    /// Every kind.
    pub const ALL: [UnitKind; 5] = [
        UnitKind::PatrolCar,
        UnitKind::Motorcycle,
        UnitKind::FootPatrol,
        UnitKind::Aircraft,
        UnitKind::Boat,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::PatrolCar => "patrol_car",
            UnitKind::Motorcycle => "motorcycle",
            UnitKind::FootPatrol => "foot_patrol",
            UnitKind::Aircraft => "aircraft",
            UnitKind::Boat => "boat",
        }
    }

    /// Parses the name [`UnitKind::as_str`] gives.
    pub fn parse(s: &str) -> Result<Self, DispatchError> {
        UnitKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DispatchError::InvalidCode {
                code: excerpt(s),
                reason: "unknown unit kind",
            })
    }
}

/// NENA EIDO primary unit status: exactly one at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EidoPrimaryStatus {
    /// Free for assignment.
    Available,
    /// Could be assigned, with a caveat (on break, doing paperwork).
    ConditionallyAvailable,
    /// Busy or out of service.
    NotAvailable,
}

/// NENA EIDO secondary unit statuses (any set), spelt as the EIDO registry spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EidoSecondaryStatus {
    /// Assigned to an incident.
    Assigned,
    /// Ordered to go.
    Dispatched,
    /// Has acknowledged the order.
    AcknowledgedTransmission,
    /// Travelling to the scene.
    EnRoute,
    /// At the scene.
    OnScene,
    /// Carrying a person (to hospital, to the station).
    Transporting,
    /// Finished with an incident.
    Cleared,
    /// On duty.
    InService,
    /// Off duty or unusable.
    OutofService,
    /// On a break.
    Break,
    /// At a meal.
    Meal,
    /// In training.
    Training,
    /// At its station.
    Station,
    /// Conducting a traffic stop.
    TrafficStop,
}

/// Whether a unit in a status may be sent to an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dispatchability {
    /// Send without asking.
    Dispatchable,
    /// May be sent, but the dispatcher must confirm (it means pulling the unit off
    /// something else).
    Warn,
    /// Must not be sent.
    Blocked,
}

/// The prefecture's own unit statuses, as officers and dispatchers name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    /// 待機: waiting at the station.
    AvailableAtStation,
    /// 警ら中: patrolling.
    OnPatrol,
    /// 出動中: sent to an incident, not yet there.
    Dispatched,
    /// 現着: at the scene.
    OnScene,
    /// 搬送中: carrying a person.
    Transporting,
    /// 休憩: on a break.
    Break,
    /// 整備: vehicle under maintenance.
    Maintenance,
    /// 署内: in the station on administrative work.
    AtStationAdmin,
    /// 勤務外: off duty.
    OffDuty,
}

impl UnitStatus {
    /// Every status.
    pub const ALL: [UnitStatus; 9] = [
        UnitStatus::AvailableAtStation,
        UnitStatus::OnPatrol,
        UnitStatus::Dispatched,
        UnitStatus::OnScene,
        UnitStatus::Transporting,
        UnitStatus::Break,
        UnitStatus::Maintenance,
        UnitStatus::AtStationAdmin,
        UnitStatus::OffDuty,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitStatus::AvailableAtStation => "available_at_station",
            UnitStatus::OnPatrol => "on_patrol",
            UnitStatus::Dispatched => "dispatched",
            UnitStatus::OnScene => "on_scene",
            UnitStatus::Transporting => "transporting",
            UnitStatus::Break => "break",
            UnitStatus::Maintenance => "maintenance",
            UnitStatus::AtStationAdmin => "at_station_admin",
            UnitStatus::OffDuty => "off_duty",
        }
    }

    /// The Japanese name shown in the command room.
    pub fn name_ja(self) -> &'static str {
        match self {
            UnitStatus::AvailableAtStation => "待機",
            UnitStatus::OnPatrol => "警ら中",
            UnitStatus::Dispatched => "出動中",
            UnitStatus::OnScene => "現着",
            UnitStatus::Transporting => "搬送中",
            UnitStatus::Break => "休憩",
            UnitStatus::Maintenance => "整備",
            UnitStatus::AtStationAdmin => "署内",
            UnitStatus::OffDuty => "勤務外",
        }
    }

    /// The one EIDO primary status this maps to.
    pub fn eido_primary(self) -> EidoPrimaryStatus {
        use EidoPrimaryStatus::*;
        match self {
            UnitStatus::AvailableAtStation | UnitStatus::OnPatrol => Available,
            UnitStatus::Break | UnitStatus::AtStationAdmin => ConditionallyAvailable,
            UnitStatus::Dispatched
            | UnitStatus::OnScene
            | UnitStatus::Transporting
            | UnitStatus::Maintenance
            | UnitStatus::OffDuty => NotAvailable,
        }
    }

    /// The EIDO secondary statuses this maps to.
    pub fn eido_secondary(self) -> &'static [EidoSecondaryStatus] {
        use EidoSecondaryStatus::*;
        match self {
            UnitStatus::AvailableAtStation => &[InService, Station],
            UnitStatus::OnPatrol => &[InService],
            UnitStatus::Dispatched => &[InService, Assigned, Dispatched],
            UnitStatus::OnScene => &[InService, Assigned, OnScene],
            UnitStatus::Transporting => &[InService, Assigned, Transporting],
            UnitStatus::Break => &[InService, Break],
            UnitStatus::Maintenance => &[OutofService],
            UnitStatus::AtStationAdmin => &[InService, Station],
            UnitStatus::OffDuty => &[OutofService],
        }
    }

    /// Whether a unit in this status may be sent.
    ///
    /// Busy units are `Warn`, not `Blocked`: a dispatcher may rightly divert a car from a
    /// noise complaint to a robbery. Transporting a person, maintenance and off duty are
    /// `Blocked` because the unit physically cannot go.
    pub fn dispatchability(self) -> Dispatchability {
        match self {
            UnitStatus::AvailableAtStation | UnitStatus::OnPatrol => Dispatchability::Dispatchable,
            UnitStatus::Dispatched
            | UnitStatus::OnScene
            | UnitStatus::Break
            | UnitStatus::AtStationAdmin => Dispatchability::Warn,
            UnitStatus::Transporting | UnitStatus::Maintenance | UnitStatus::OffDuty => {
                Dispatchability::Blocked
            }
        }
    }
}

impl EidoPrimaryStatus {
    /// The value as the EIDO Primary Unit Status registry spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EidoPrimaryStatus::Available => "Available",
            EidoPrimaryStatus::ConditionallyAvailable => "ConditionallyAvailable",
            EidoPrimaryStatus::NotAvailable => "NotAvailable",
        }
    }
}

impl EidoSecondaryStatus {
    /// The value as the EIDO Secondary Unit Status registry spells it.
    pub fn as_str(self) -> &'static str {
        use EidoSecondaryStatus::*;
        match self {
            Assigned => "Assigned",
            Dispatched => "Dispatched",
            AcknowledgedTransmission => "AcknowledgedTransmission",
            EnRoute => "EnRoute",
            OnScene => "OnScene",
            Transporting => "Transporting",
            Cleared => "Cleared",
            InService => "InService",
            OutofService => "OutofService",
            Break => "Break",
            Meal => "Meal",
            Training => "Training",
            Station => "Station",
            TrafficStop => "TrafficStop",
        }
    }
}

/// The status fields of an EIDO `EmergencyResourceType` (emergencyResourceComponent),
/// named exactly as the NENA-STA-021 schema names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EidoUnitStatusFields {
    /// One value from the Primary Unit Status registry.
    pub primary_unit_status_registry_text: &'static str,
    /// Values from the Secondary Unit Status registry.
    pub secondary_unit_status_registry_text: Vec<&'static str>,
    /// The prefecture's own status code, so a receiving agency can show it verbatim.
    pub unit_status_internal: Vec<&'static str>,
}

impl UnitStatus {
    /// The EIDO status fields for a unit in this status.
    pub fn eido_fields(self) -> EidoUnitStatusFields {
        EidoUnitStatusFields {
            primary_unit_status_registry_text: self.eido_primary().as_str(),
            secondary_unit_status_registry_text: self
                .eido_secondary()
                .iter()
                .map(|s| s.as_str())
                .collect(),
            unit_status_internal: vec![self.as_str()],
        }
    }
}

/// A reported position and when it was taken.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Where.
    pub point: LatLon,
    /// When the fix was taken, UTC µs.
    pub at_us: i64,
}

/// A unit: a car, a bike, officers on foot, an aircraft or a boat with its crew.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// Unit id (call sign).
    pub id: String,
    /// Kind.
    pub kind: UnitKind,
    /// Capabilities, e.g. `traffic`, `firearms_team`.
    pub capabilities: BTreeSet<String>,
    /// Officers aboard.
    pub crew_count: u8,
    /// The station the unit belongs to.
    pub home_station_id: String,
    /// Current internal status.
    pub status: UnitStatus,
    /// Last reported position, if any.
    pub position: Option<Position>,
}

impl Unit {
    /// Whether the unit has every capability in `required`.
    pub fn has_capabilities<S: AsRef<str>>(&self, required: &[S]) -> bool {
        required
            .iter()
            .all(|c| self.capabilities.contains(c.as_ref()))
    }
}

/// Steps of one unit's assignment to one incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStep {
    /// Chosen by the dispatcher, not yet told.
    Assigned,
    /// Ordered to go.
    Dispatched,
    /// Has acknowledged the order.
    Acknowledged,
    /// Travelling.
    EnRoute,
    /// Arrived.
    OnScene,
    /// Carrying a person away from the scene.
    Transporting,
    /// Finished (or withdrawn).
    Cleared,
}

impl AssignmentStep {
    /// Every step in order.
    pub const ALL: [AssignmentStep; 7] = [
        AssignmentStep::Assigned,
        AssignmentStep::Dispatched,
        AssignmentStep::Acknowledged,
        AssignmentStep::EnRoute,
        AssignmentStep::OnScene,
        AssignmentStep::Transporting,
        AssignmentStep::Cleared,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentStep::Assigned => "assigned",
            AssignmentStep::Dispatched => "dispatched",
            AssignmentStep::Acknowledged => "acknowledged",
            AssignmentStep::EnRoute => "en_route",
            AssignmentStep::OnScene => "on_scene",
            AssignmentStep::Transporting => "transporting",
            AssignmentStep::Cleared => "cleared",
        }
    }

    /// The unit status an assignment reaching this step sets automatically; `None` for
    /// `assigned`, which is only the dispatcher's plan until the order goes out.
    ///
    /// On `cleared` the unit goes back on patrol. A unit holding several assignments at
    /// once is the caller's to reconcile: it should apply this only when the last clears.
    pub fn unit_status(self) -> Option<UnitStatus> {
        match self {
            AssignmentStep::Assigned => None,
            AssignmentStep::Dispatched | AssignmentStep::Acknowledged | AssignmentStep::EnRoute => {
                Some(UnitStatus::Dispatched)
            }
            AssignmentStep::OnScene => Some(UnitStatus::OnScene),
            AssignmentStep::Transporting => Some(UnitStatus::Transporting),
            AssignmentStep::Cleared => Some(UnitStatus::OnPatrol),
        }
    }
}

/// Whether an assignment may move from `from` to `to`.
///
/// Steps only go forward. Field terminals may skip `acknowledged` and `en_route` (one tap
/// on arrival is common), but nothing happens before the order goes out, and only a unit at
/// the scene can start transporting. `cleared` is reachable from every other step because
/// an assignment may be withdrawn at any time, and it is final.
pub fn assignment_transition_allowed(from: AssignmentStep, to: AssignmentStep) -> bool {
    use AssignmentStep::*;
    match (from, to) {
        (Cleared, _) => false,
        (_, Cleared) => true,
        (Assigned, next) => next == Dispatched,
        (_, Transporting) => from == OnScene,
        (_, Assigned | Dispatched) => false,
        (from, to) => to > from,
    }
}

/// One accepted step of an assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentEntry {
    /// When, UTC µs.
    pub at_us: i64,
    /// Who recorded it (dispatcher, or the unit's own terminal).
    pub actor: String,
    /// The step before; `None` for the entry that records the assignment.
    pub from: Option<AssignmentStep>,
    /// The step reached.
    pub to: AssignmentStep,
}

/// One unit's assignment to one incident, with its timeline.
///
/// Deserialising goes through [`Assignment::restore`], which checks the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AssignmentRecord")]
pub struct Assignment {
    /// The unit.
    pub unit_id: String,
    /// The incident.
    pub incident_id: String,
    step: AssignmentStep,
    timeline: Vec<AssignmentEntry>,
}

/// An assignment as storage holds it, before [`Assignment::restore`] checks it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AssignmentRecord {
    /// The unit.
    pub unit_id: String,
    /// The incident.
    pub incident_id: String,
    /// The current step.
    pub step: AssignmentStep,
    /// Every accepted step, oldest first.
    pub timeline: Vec<AssignmentEntry>,
}

impl TryFrom<AssignmentRecord> for Assignment {
    type Error = DispatchError;
    fn try_from(record: AssignmentRecord) -> Result<Self, Self::Error> {
        Assignment::restore(record)
    }
}

impl Assignment {
    /// Rebuilds an assignment from storage, checking that the timeline starts with
    /// `assigned`, that every step is allowed and follows the one before, and that it ends
    /// in the current step.
    pub fn restore(r: AssignmentRecord) -> Result<Self, DispatchError> {
        let bad = DispatchError::InvalidRecord;
        match r.timeline.first() {
            Some(e) if e.from.is_none() && e.to == AssignmentStep::Assigned => {}
            _ => return Err(bad("timeline must start with the assignment")),
        }
        for w in r.timeline.windows(2) {
            if w[1].from != Some(w[0].to) || !assignment_transition_allowed(w[0].to, w[1].to) {
                return Err(bad("timeline steps do not follow each other"));
            }
        }
        if r.timeline.last().map(|e| e.to) != Some(r.step) {
            return Err(bad("step differs from the timeline"));
        }
        Ok(Assignment {
            unit_id: r.unit_id,
            incident_id: r.incident_id,
            step: r.step,
            timeline: r.timeline,
        })
    }

    /// Whether the assignment still ties up the unit (dispatched and not yet cleared).
    pub fn is_active(&self) -> bool {
        !matches!(
            self.step,
            AssignmentStep::Assigned | AssignmentStep::Cleared
        )
    }

    /// Assigns a unit to an incident (step `assigned`).
    pub fn new(unit_id: &str, incident_id: &str, at_us: i64, actor: &str) -> Self {
        Assignment {
            unit_id: unit_id.to_owned(),
            incident_id: incident_id.to_owned(),
            step: AssignmentStep::Assigned,
            timeline: vec![AssignmentEntry {
                at_us,
                actor: actor.to_owned(),
                from: None,
                to: AssignmentStep::Assigned,
            }],
        }
    }

    /// The current step.
    pub fn step(&self) -> AssignmentStep {
        self.step
    }

    /// Every accepted step, oldest first.
    pub fn timeline(&self) -> &[AssignmentEntry] {
        &self.timeline
    }

    /// When the assignment first reached `step`, if it did.
    pub fn time_of(&self, step: AssignmentStep) -> Option<i64> {
        self.timeline.iter().find(|e| e.to == step).map(|e| e.at_us)
    }

    /// Moves to `to`, appending a timeline entry, and returns the unit status the move
    /// sets (see [`AssignmentStep::unit_status`]). On error nothing changes.
    pub fn advance(
        &mut self,
        to: AssignmentStep,
        at_us: i64,
        actor: &str,
    ) -> Result<Option<UnitStatus>, DispatchError> {
        let from = self.step;
        if !assignment_transition_allowed(from, to) {
            return Err(DispatchError::IllegalTransition {
                machine: "assignment",
                from: from.as_str(),
                to: to.as_str(),
            });
        }
        self.step = to;
        self.timeline.push(AssignmentEntry {
            at_us,
            actor: actor.to_owned(),
            from: Some(from),
            to,
        });
        Ok(to.unit_status())
    }

    /// Like [`Assignment::advance`], and also sets the unit's status when the step implies
    /// one. The unit must be the assigned one; otherwise nothing changes.
    pub fn advance_unit(
        &mut self,
        unit: &mut Unit,
        to: AssignmentStep,
        at_us: i64,
        actor: &str,
    ) -> Result<(), DispatchError> {
        if unit.id != self.unit_id {
            return Err(DispatchError::WrongUnit {
                expected: excerpt(&self.unit_id),
                got: excerpt(&unit.id),
            });
        }
        if let Some(status) = self.advance(to, at_us, actor)? {
            unit.status = status;
        }
        Ok(())
    }
}

/// The first dispatch and first arrival over all assignments of one incident, which is what
/// response-time statistics measure.
pub fn first_dispatch_and_arrival(assignments: &[Assignment]) -> (Option<i64>, Option<i64>) {
    let first = |step| assignments.iter().filter_map(|a| a.time_of(step)).min();
    (
        first(AssignmentStep::Dispatched),
        first(AssignmentStep::OnScene),
    )
}

/// The status a unit should show given all of its assignments, when it holds several.
///
/// The most advanced active assignment wins (transporting over on scene over dispatched),
/// because that is what the unit is physically doing. With no active assignment but at
/// least one cleared, the unit is back on patrol. `None` means the assignments say nothing
/// and the unit keeps the status it has.
pub fn derived_unit_status<'a, I>(assignments: I) -> Option<UnitStatus>
where
    I: IntoIterator<Item = &'a Assignment>,
{
    let mut any_cleared = false;
    let mut most_advanced: Option<AssignmentStep> = None;
    for a in assignments {
        if a.is_active() {
            most_advanced = most_advanced.max(Some(a.step));
        } else if a.step == AssignmentStep::Cleared {
            any_cleared = true;
        }
    }
    match most_advanced {
        Some(step) => step.unit_status(),
        None if any_cleared => Some(UnitStatus::OnPatrol),
        None => None,
    }
}

/// The incident commands that one unit's step implies, in order, given the incident's
/// state: the first dispatch moves a `created` incident to `dispatched`, and the first
/// arrival moves it to `on_scene` (through `dispatched` if a terminal skipped a tap).
///
/// Clearing is not automatic: one unit leaving does not mean the incident is over, so the
/// dispatcher clears the incident explicitly.
pub fn incident_commands_for_step(
    state: crate::incident::IncidentState,
    step: AssignmentStep,
) -> Vec<crate::incident::IncidentCommand> {
    use crate::incident::{IncidentCommand as C, IncidentState as S};
    use AssignmentStep as A;
    match (state, step) {
        (S::Created, A::Dispatched | A::Acknowledged | A::EnRoute) => vec![C::Dispatch],
        (S::Created, A::OnScene | A::Transporting) => vec![C::Dispatch, C::ArriveOnScene],
        (S::Dispatched, A::OnScene | A::Transporting) => vec![C::ArriveOnScene],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
