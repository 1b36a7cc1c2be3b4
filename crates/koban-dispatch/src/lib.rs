//! The pure domain of 110 command and dispatch (通信指令).
//!
//! A 110 call reaches a call-taker in the prefectural command room, who records it and fixes
//! where the incident is; a dispatcher then sends units. This crate holds the rules of that
//! work and nothing else: code lists of incident types and dispositions, calls kept apart from
//! the incidents they report, duplicate detection, the incident and unit-assignment state
//! machines with their timelines, unit statuses mapped onto the NENA EIDO registries, unit
//! recommendation ranked by travel time, and response-time statistics.
//!
//! It does no I/O and never reads the clock: every time is an `i64` count of UTC
//! microseconds passed in by the caller, and travel times come from a function the caller
//! supplies. Storage, HTTP and live events are built around it elsewhere.
//!
//! ```
//! use koban_dispatch::*;
//!
//! # fn main() -> Result<(), DispatchError> {
//! let types = IncidentTypeList::default();
//! let scene = LatLon::new(35.6812, 139.7671)?;
//! let incident = Incident::create(
//!     NewIncident {
//!         id: "i-1".into(),
//!         type_code: "traffic_accident".into(),
//!         priority: None,
//!         location: UncertainLocation { point: scene, radius_m: 30.0 },
//!         narrative: "乗用車同士の事故、けが人あり".into(),
//!         cautions: CautionFlags::default(),
//!         call_id: Some("c-1".into()),
//!     },
//!     &types,
//!     1_700_000_000_000_000,
//!     "call-taker-7",
//! )?;
//! let needs = &types.get(&incident.type_code)?.required_capabilities;
//! let request = RecommendRequest {
//!     location: incident.location.point,
//!     required_capabilities: needs,
//!     now_us: 1_700_000_060_000_000,
//!     max_position_age_s: 30 * 60,
//! };
//! let units: Vec<Unit> = Vec::new(); // from storage
//! let estimator = StraightLineEstimator::new(30.0)?;
//! let answer = recommend(&request, &units, |from, to| Some(estimator.estimate(from, to)));
//! assert!(answer.ranked.is_empty() && answer.excluded.is_empty());
//! # Ok(())
//! # }
//! ```

pub mod codes;
pub mod error;
pub mod geo;
pub mod incident;
pub mod recommend;
pub mod stats;
pub mod unit;

pub use codes::{
    Disposition, DispositionList, IncidentType, IncidentTypeList, default_dispositions,
    default_incident_types,
};
pub use error::{DispatchError, codes as error_codes};
pub use geo::{LatLon, haversine_m};
pub use incident::{
    Call, CautionFlags, DuplicateCandidate, DuplicateConfig, DuplicateQuery, Incident,
    IncidentCommand, IncidentRecord, IncidentState, NewIncident, TimelineEntry, UncertainLocation,
    duplicate_candidates, incident_transition_allowed,
};
pub use recommend::{
    EstimateMethod, ExcludedUnit, ExclusionReason, RankedUnit, RecommendRequest, RecommendWarning,
    Recommendation, StraightLineEstimator, TravelEstimate, recommend, with_straight_line_fallback,
};
pub use stats::{
    DurationSummary, IncidentTimes, Period, ResponseReport, ResponseStats, response_report,
    summarize,
};
pub use unit::{
    Assignment, AssignmentEntry, AssignmentRecord, AssignmentStep, Dispatchability,
    EidoPrimaryStatus, EidoSecondaryStatus, EidoUnitStatusFields, Position, Unit, UnitKind,
    UnitStatus, assignment_transition_allowed, derived_unit_status, first_dispatch_and_arrival,
    incident_commands_for_step,
};
