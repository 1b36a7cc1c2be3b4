//! Dispatchable units, their positions (AVL) and statuses, and the recommendation of
//! units for an incident by road travel time.

use std::collections::{BTreeSet, HashSet};

use koban_access::Action;
use koban_dispatch::{
    EstimateMethod, LatLon, Position, RecommendRequest, Recommendation, StraightLineEstimator,
    TravelEstimate, Unit, UnitKind, UnitStatus,
};
use koban_org::UnitKind as OrgKind;
use koban_store::DispatchUnitRow;
use serde::{Deserialize, Serialize};

use crate::live::{LiveDraft, kinds};
use crate::{Actor, Koban, RequestCtx, ServiceError};

/// Most position reports accepted in one batch.
pub const MAX_POSITION_BATCH: usize = 1000;
/// Positions older than this are stale by default (the open-source CAD baseline uses 30 min).
pub const DEFAULT_MAX_POSITION_AGE_S: i64 = 30 * 60;
/// Speed assumed by the straight-line fallback when no road network is loaded.
pub const FALLBACK_SPEED_KMH: f64 = 30.0;
/// Reports stamped further ahead of the server clock than this are refused.
const MAX_CLOCK_SKEW_US: i64 = 5 * 60 * 1_000_000;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDispatchUnit {
    /// Call sign, e.g. `marunouchi-1`.
    pub id: String,
    pub kind: UnitKind,
    #[serde(default)]
    pub capabilities: BTreeSet<String>,
    pub crew_count: u8,
    pub home_station_id: String,
    #[serde(default = "default_status")]
    pub status: UnitStatus,
}

fn default_status() -> UnitStatus {
    UnitStatus::AvailableAtStation
}

#[derive(Clone, Debug, Serialize)]
pub struct DispatchUnitView {
    #[serde(flatten)]
    pub unit: Unit,
    pub pref_code: String,
    /// Seconds since the last position report, when there is one.
    pub position_age_s: Option<f64>,
    pub position_stale: bool,
}

/// One AVL report.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionReport {
    pub unit_id: String,
    pub lat: f64,
    pub lon: f64,
    /// When the fix was taken (RFC 3339).
    pub at: String,
    /// Direction of travel, degrees clockwise from north, when the terminal knows it.
    #[serde(default)]
    pub heading_deg: Option<f64>,
    /// Ground speed, when the terminal knows it.
    #[serde(default)]
    pub speed_kmh: Option<f64>,
}

/// A position as the live stream shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PositionEvent {
    pub unit_id: String,
    pub lat: f64,
    pub lon: f64,
    /// Reported, or else the bearing from the previous fix when the unit moved.
    pub heading_deg: Option<f64>,
    pub speed_kmh: Option<f64>,
    pub reported_at: String,
}

/// Where the emergency button was pressed, if the terminal knows.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyIn {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

/// An emergency alert as the live stream shows it.
#[derive(Clone, Debug, Serialize)]
pub struct EmergencyEvent {
    pub unit_id: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub at: String,
    /// The account that pressed it.
    pub by: String,
}

/// Initial bearing from `a` to `b`, degrees clockwise from north.
fn bearing_deg(a: LatLon, b: LatLon) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dl = (b.lon - a.lon).to_radians();
    let y = dl.sin() * la2.cos();
    let x = la1.cos() * la2.sin() - la1.sin() * la2.cos() * dl.cos();
    (y.atan2(x).to_degrees() + 360.0) % 360.0
}

#[derive(Clone, Debug, Serialize)]
pub struct PositionsAccepted {
    pub accepted: usize,
}

/// The recommendation for an incident, and how travel times were obtained.
#[derive(Clone, Debug, Serialize)]
pub struct RecommendationView {
    pub incident_id: String,
    /// `road` when a road network is loaded, else `straight_line` (flagged per unit too).
    pub travel_model: &'static str,
    #[serde(flatten)]
    pub recommendation: Recommendation,
}

fn unit_row(
    unit: &Unit,
    pref: koban_org::PrefCode,
    now: i64,
) -> Result<DispatchUnitRow, ServiceError> {
    Ok(DispatchUnitRow {
        id: unit.id.clone(),
        pref_code: pref,
        status: unit.status.as_str().to_string(),
        lat: unit.position.map(|p| p.point.lat),
        lon: unit.position.map(|p| p.point.lon),
        position_at_us: unit.position.map(|p| p.at_us),
        updated_at_us: now,
        doc: serde_json::to_string(unit).map_err(|e| ServiceError::Internal(e.to_string()))?,
    })
}

/// Parsed units kept between requests, keyed by id with the document they were parsed
/// from: the recommendation reads every unit of the prefecture per incident, and parsing
/// thousands of JSON documents each time dominated its cost. A changed document is parsed
/// again (the stored text is compared, so the cache can never answer stale data).
#[derive(Debug, Default)]
pub(crate) struct UnitCache(std::sync::Mutex<std::collections::HashMap<String, (String, Unit)>>);

/// Units the cache holds at most before it starts afresh.
const MAX_CACHED_UNITS: usize = 50_000;

impl UnitCache {
    pub(crate) fn unit(&self, row: &DispatchUnitRow) -> Result<Unit, ServiceError> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((doc, unit)) = map.get(&row.id)
            && *doc == row.doc
        {
            return Ok(unit.clone());
        }
        let unit = unit_of(row)?;
        if map.len() >= MAX_CACHED_UNITS {
            map.clear();
        }
        map.insert(row.id.clone(), (row.doc.clone(), unit.clone()));
        Ok(unit)
    }
}

pub(crate) fn unit_of(row: &DispatchUnitRow) -> Result<Unit, ServiceError> {
    serde_json::from_str(&row.doc)
        .map_err(|e| ServiceError::Internal(format!("stored unit {}: {e}", row.id)))
}

fn view(unit: Unit, pref: koban_org::PrefCode, now: i64) -> DispatchUnitView {
    let age = unit.position.map(|p| (now - p.at_us) as f64 / 1e6);
    DispatchUnitView {
        position_stale: age.is_none_or(|a| a > DEFAULT_MAX_POSITION_AGE_S as f64),
        position_age_s: age,
        pref_code: pref.to_string(),
        unit,
    }
}

/// Stores a unit's new state and publishes it live (the unit board follows every change).
async fn save_unit(
    tx: &mut dyn koban_store::Tx,
    ev: &mut crate::EventDraft,
    unit: Unit,
    pref: koban_org::PrefCode,
    now_us: i64,
) -> Result<DispatchUnitView, ServiceError> {
    tx.update_dispatch_unit(&unit_row(&unit, pref, now_us)?)
        .await?;
    let v = view(unit, pref, now_us);
    ev.publish(LiveDraft::of(kinds::UNIT_UPDATED, Some(pref), &v)?);
    Ok(v)
}

fn check_call_sign(id: &str) -> Result<(), ServiceError> {
    let ok = (2..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && id.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "id",
            "invalid_call_sign",
            "2 to 32 lower-case letters, digits or '-', starting with a letter",
        ))
    }
}

impl Koban {
    /// Registers a unit at one of the actor's stations.
    pub async fn create_dispatch_unit(
        &self,
        ctx: &RequestCtx,
        token: &str,
        new: NewDispatchUnit,
    ) -> Result<DispatchUnitView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "unit.create");
        ev.object("dispatch_unit", new.id.clone());
        let r = async {
            actor.require(Action::UnitManage)?;
            check_call_sign(&new.id)?;
            if new.crew_count > 20
                || new.capabilities.len() > 20
                || new
                    .capabilities
                    .iter()
                    .any(|c| c.is_empty() || c.len() > 32)
            {
                return Err(ServiceError::invalid(
                    "capabilities",
                    "out_of_range",
                    "crew 0–20; at most 20 capabilities of 1–32 bytes",
                ));
            }
            let station = match tx.get_unit(&new.home_station_id).await? {
                Some(u) if u.unit.kind == OrgKind::Station && actor.sees(u.unit.pref_code) => u,
                _ => {
                    return Err(ServiceError::invalid(
                        "home_station_id",
                        "unknown_station",
                        "no such station",
                    ));
                }
            };
            let pref = station
                .unit
                .pref_code
                .ok_or_else(|| ServiceError::Internal("station without prefecture".into()))?;
            let unit = Unit {
                id: new.id.clone(),
                kind: new.kind,
                capabilities: new.capabilities.clone(),
                crew_count: new.crew_count,
                home_station_id: station.unit.id.clone(),
                status: new.status,
                position: None,
            };
            let now = self.now_us();
            tx.insert_dispatch_unit(&unit_row(&unit, pref, now)?)
                .await
                .map_err(|e| match e {
                    koban_store::StoreError::Duplicate { .. } => ServiceError::Conflict {
                        code: "duplicate_id",
                        message: format!("unit {} already exists", unit.id),
                    },
                    other => other.into(),
                })?;
            ev.scope_pref = Some(pref.to_string());
            let v = view(unit, pref, now);
            ev.publish(LiveDraft::of(kinds::UNIT_UPDATED, Some(pref), &v)?);
            Ok(v)
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    pub async fn list_dispatch_units(
        &self,
        ctx: &RequestCtx,
        token: &str,
    ) -> Result<Vec<DispatchUnitView>, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "unit.list");
        let r = async {
            actor.require(Action::IncidentRead)?;
            let prefs = actor.pref_filter();
            let rows = tx.list_dispatch_units(prefs.as_deref()).await?;
            ev.detail("count", rows.len());
            let now = self.now_us();
            rows.iter()
                .map(|r| Ok(view(self.unit_cache().unit(r)?, r.pref_code, now)))
                .collect()
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Stores a batch of AVL reports: all or none. Unknown or out-of-scope units, points
    /// outside Japan, reports from the future, and duplicate or older reports are refused,
    /// naming the item.
    pub async fn report_positions(
        &self,
        ctx: &RequestCtx,
        token: &str,
        reports: Vec<PositionReport>,
    ) -> Result<PositionsAccepted, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "unit.positions");
        let r = async {
            actor.require(Action::UnitReport)?;
            if reports.is_empty() || reports.len() > MAX_POSITION_BATCH {
                return Err(ServiceError::invalid(
                    "positions",
                    "batch_size",
                    format!("1 to {MAX_POSITION_BATCH} reports"),
                ));
            }
            let now = self.now_us();
            let mut seen = HashSet::new();
            let mut updated: Vec<(Unit, koban_org::PrefCode)> = Vec::new();
            let mut positions: Vec<(koban_org::PrefCode, PositionEvent)> = Vec::new();
            for (i, rep) in reports.iter().enumerate() {
                let f = |name: &str| format!("positions[{i}].{name}");
                if !rep.lat.is_finite()
                    || !rep.lon.is_finite()
                    || !(20.0..=46.0).contains(&rep.lat)
                    || !(122.0..=154.0).contains(&rep.lon)
                {
                    return Err(ServiceError::invalid(
                        f("lat"),
                        "outside_japan",
                        "the position is not in Japan",
                    ));
                }
                let at = crate::clock::parse_rfc3339(&rep.at).ok_or_else(|| {
                    ServiceError::invalid(f("at"), "invalid_time", "must be an RFC 3339 time")
                })?;
                if at > now + MAX_CLOCK_SKEW_US {
                    return Err(ServiceError::invalid(
                        f("at"),
                        "future_time",
                        "the report is from the future",
                    ));
                }
                if !seen.insert((rep.unit_id.clone(), at)) {
                    return Err(ServiceError::invalid(
                        f("at"),
                        "duplicate_position",
                        "the same report appears twice in the batch",
                    ));
                }
                let slot = updated.iter().position(|(u, _)| u.id == rep.unit_id);
                let (mut unit, pref) = match slot {
                    Some(k) => updated.swap_remove(k),
                    None => match tx.get_dispatch_unit(&rep.unit_id).await? {
                        Some(row) if actor.sees(Some(row.pref_code)) => {
                            (unit_of(&row)?, row.pref_code)
                        }
                        _ => {
                            return Err(ServiceError::invalid(
                                f("unit_id"),
                                "unknown_unit",
                                "no such unit",
                            ));
                        }
                    },
                };
                if let Some(h) = rep.heading_deg {
                    if !h.is_finite() || !(0.0..=360.0).contains(&h) {
                        return Err(ServiceError::invalid(
                            f("heading_deg"),
                            "out_of_range",
                            "0 to 360 degrees",
                        ));
                    }
                }
                if let Some(v) = rep.speed_kmh {
                    if !v.is_finite() || !(0.0..=1_000.0).contains(&v) {
                        return Err(ServiceError::invalid(
                            f("speed_kmh"),
                            "out_of_range",
                            "0 to 1,000 km/h",
                        ));
                    }
                }
                let here = LatLon {
                    lat: rep.lat,
                    lon: rep.lon,
                };
                let mut heading = rep.heading_deg;
                if let Some(p) = unit.position {
                    if heading.is_none() && koban_dispatch::geo::haversine_m(p.point, here) > 5.0 {
                        heading = Some(bearing_deg(p.point, here));
                    }
                    if at == p.at_us {
                        return Err(ServiceError::invalid(
                            f("at"),
                            "duplicate_position",
                            "this report was already received",
                        ));
                    }
                    if at < p.at_us {
                        return Err(ServiceError::invalid(
                            f("at"),
                            "older_position",
                            "a newer position is already stored",
                        ));
                    }
                }
                unit.position = Some(Position {
                    point: here,
                    at_us: at,
                });
                positions.push((
                    pref,
                    PositionEvent {
                        unit_id: unit.id.clone(),
                        lat: here.lat,
                        lon: here.lon,
                        heading_deg: heading,
                        speed_kmh: rep.speed_kmh,
                        reported_at: crate::clock::rfc3339(at),
                    },
                ));
                updated.push((unit, pref));
            }
            for (unit, pref) in &updated {
                tx.update_dispatch_unit(&unit_row(unit, *pref, now)?)
                    .await?;
            }
            ev.detail("reports", reports.len());
            ev.detail("units", updated.len());
            for (pref, p) in &positions {
                ev.publish(LiveDraft::of(kinds::UNIT_POSITION, Some(*pref), p)?);
            }
            Ok(PositionsAccepted {
                accepted: reports.len(),
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Sets a unit's status (from its terminal or the dispatcher).
    pub async fn set_unit_status(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        status: UnitStatus,
    ) -> Result<DispatchUnitView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "unit.status");
        ev.object("dispatch_unit", id);
        let r = async {
            actor.require(Action::UnitReport)?;
            let row = visible_unit(&mut *tx, &actor, id).await?;
            let mut unit = unit_of(&row)?;
            ev.scope_pref = Some(row.pref_code.to_string());
            ev.detail("from", row.status.clone());
            unit.status = status;
            save_unit(&mut *tx, &mut ev, unit, row.pref_code, self.now_us()).await
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// The emergency button on a unit's terminal: an officer needs help now. Recorded and
    /// pushed to every dispatcher watching the unit's prefecture.
    pub async fn unit_emergency(
        &self,
        ctx: &RequestCtx,
        token: &str,
        id: &str,
        at: EmergencyIn,
    ) -> Result<EmergencyEvent, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "unit.emergency");
        ev.object("dispatch_unit", id);
        let r = async {
            actor.require(Action::UnitReport)?;
            let row = visible_unit(&mut *tx, &actor, id).await?;
            ev.scope_pref = Some(row.pref_code.to_string());
            let point = match (at.lat, at.lon) {
                (Some(lat), Some(lon)) => {
                    let p = crate::incidents::check_point(
                        "lat",
                        crate::incidents::PointIn {
                            lat,
                            lon,
                            radius_m: 0.0,
                        },
                    )?;
                    Some(p.point)
                }
                (None, None) => unit_of(&row)?.position.map(|p| p.point),
                _ => {
                    return Err(ServiceError::invalid(
                        if at.lat.is_none() { "lat" } else { "lon" },
                        "required",
                        "give both lat and lon, or neither",
                    ));
                }
            };
            let e = EmergencyEvent {
                unit_id: row.id.clone(),
                lat: point.map(|p| p.lat),
                lon: point.map(|p| p.lon),
                at: crate::clock::rfc3339(self.now_us()),
                by: actor.user.username.clone(),
            };
            ev.detail("lat", e.lat);
            ev.detail("lon", e.lon);
            ev.publish(LiveDraft::of(
                kinds::UNIT_EMERGENCY,
                Some(row.pref_code),
                &e,
            )?);
            Ok(e)
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// Ranks every unit of the incident's prefecture by travel time, explaining each one
    /// left out.
    pub async fn recommend_units(
        &self,
        ctx: &RequestCtx,
        token: &str,
        incident_id: &str,
        max_position_age_s: Option<i64>,
    ) -> Result<RecommendationView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "incident.recommend");
        ev.object("incident", incident_id);
        let r = async {
            actor.require(Action::IncidentRead)?;
            let max_age = max_position_age_s.unwrap_or(DEFAULT_MAX_POSITION_AGE_S);
            if !(10..=24 * 3600).contains(&max_age) {
                return Err(ServiceError::invalid(
                    "max_position_age_s",
                    "out_of_range",
                    "10 s to 24 h",
                ));
            }
            let (row, incident) =
                crate::incidents::visible_incident(&mut *tx, &actor, incident_id).await?;
            ev.scope_pref = Some(row.pref_code.to_string());
            let required = self
                .config()
                .incident_types
                .get(&incident.type_code)
                .map(|t| t.required_capabilities.clone())
                .unwrap_or_default();
            let units: Vec<Unit> = tx
                .list_dispatch_units(Some(&[row.pref_code]))
                .await?
                .iter()
                .map(|r| self.unit_cache().unit(r))
                .collect::<Result<_, _>>()?;
            let request = RecommendRequest {
                location: incident.location.point,
                required_capabilities: &required,
                now_us: self.now_us(),
                max_position_age_s: max_age,
            };
            let fallback = StraightLineEstimator::new(FALLBACK_SPEED_KMH)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            let (model, recommendation) = match self.road_router() {
                Some(router) => {
                    // Every unit with a position to the incident in one fleet query (one
                    // backward search and a bucket scan), then looked up per unit.
                    let to = incident.location.point;
                    let placed: Vec<(&str, koban_roads::LatLon)> = units
                        .iter()
                        .filter_map(|u| {
                            let p = u.position?.point;
                            Some((u.id.as_str(), koban_roads::LatLon::new(p.lat, p.lon)))
                        })
                        .collect();
                    let travels = router
                        .travel_fleet_to_one(&placed, koban_roads::LatLon::new(to.lat, to.lon));
                    let by_position: std::collections::HashMap<(u64, u64), koban_roads::Travel> =
                        placed
                            .iter()
                            .zip(travels)
                            .filter_map(|((_, p), t)| {
                                Some(((p.lat.to_bits(), p.lon.to_bits()), t.ok()?))
                            })
                            .collect();
                    // `recommend` asks only for travel to the incident, which the fleet
                    // query answered; a unit it could not route is off the network.
                    let road = move |from: LatLon, _incident: LatLon| {
                        let t = by_position
                            .get(&(from.lat.to_bits(), from.lon.to_bits()))
                            .copied();
                        t.map(|t| TravelEstimate {
                            seconds: t.time_s,
                            distance_m: t.distance_m,
                            method: EstimateMethod::Road,
                        })
                    };
                    ("road", koban_dispatch::recommend(&request, &units, road))
                }
                None => (
                    "straight_line",
                    koban_dispatch::recommend(&request, &units, |a, b| {
                        Some(fallback.estimate(a, b))
                    }),
                ),
            };
            ev.detail("ranked", recommendation.ranked.len());
            ev.detail("excluded", recommendation.excluded.len());
            Ok(RecommendationView {
                incident_id: incident.id.clone(),
                travel_model: model,
                recommendation,
            })
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}

async fn visible_unit(
    tx: &mut dyn koban_store::Tx,
    actor: &Actor,
    id: &str,
) -> Result<DispatchUnitRow, ServiceError> {
    check_call_sign(id)
        .map_err(|_| ServiceError::invalid("id", "invalid_id", "not a valid unit id"))?;
    match tx.get_dispatch_unit(id).await? {
        Some(row) if actor.sees(Some(row.pref_code)) => Ok(row),
        _ => Err(ServiceError::NotFound { what: "unit" }),
    }
}

/// An assignment as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct AssignmentView {
    pub id: String,
    pub unit_id: String,
    pub incident_id: String,
    pub step: koban_dispatch::AssignmentStep,
    pub active: bool,
    pub timeline: Vec<koban_dispatch::AssignmentEntry>,
}

fn assignment_view(id: &str, a: &koban_dispatch::Assignment) -> AssignmentView {
    AssignmentView {
        id: id.to_string(),
        unit_id: a.unit_id.clone(),
        incident_id: a.incident_id.clone(),
        step: a.step(),
        active: a.is_active(),
        timeline: a.timeline().to_vec(),
    }
}

fn assignment_row(
    id: &str,
    a: &koban_dispatch::Assignment,
    pref: koban_org::PrefCode,
    now: i64,
) -> Result<koban_store::AssignmentRow, ServiceError> {
    Ok(koban_store::AssignmentRow {
        id: id.to_string(),
        incident_id: a.incident_id.clone(),
        unit_id: a.unit_id.clone(),
        pref_code: pref,
        active: a.is_active(),
        updated_at_us: now,
        doc: serde_json::to_string(a).map_err(|e| ServiceError::Internal(e.to_string()))?,
    })
}

pub(crate) fn assignment_of(
    row: &koban_store::AssignmentRow,
) -> Result<koban_dispatch::Assignment, ServiceError> {
    serde_json::from_str(&row.doc)
        .map_err(|e| ServiceError::Internal(format!("stored assignment {}: {e}", row.id)))
}

/// Moves the incident along as its units report, through the incident state machine.
fn follow_incident(
    koban: &Koban,
    incident: &mut koban_dispatch::Incident,
    step: koban_dispatch::AssignmentStep,
    now: i64,
    actor: &str,
) -> Result<(), ServiceError> {
    for cmd in koban_dispatch::incident_commands_for_step(incident.state(), step) {
        incident
            .apply(
                &cmd,
                &koban.config().dispositions,
                now,
                actor,
                "from a unit's status",
            )
            .map_err(|e| ServiceError::Internal(format!("incident follow-up: {e}")))?;
    }
    Ok(())
}

impl Koban {
    /// Dispatches units to an incident in one action: each gets an assignment (assigned →
    /// dispatched), its status changes to dispatched, and the incident moves to dispatched.
    pub async fn dispatch_units(
        &self,
        ctx: &RequestCtx,
        token: &str,
        incident_id: &str,
        unit_ids: Vec<String>,
    ) -> Result<Vec<AssignmentView>, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "incident.dispatch");
        ev.object("incident", incident_id);
        let r = async {
            actor.require(Action::IncidentCommand)?;
            if unit_ids.is_empty() || unit_ids.len() > 50 {
                return Err(ServiceError::invalid(
                    "unit_ids",
                    "batch_size",
                    "1 to 50 units",
                ));
            }
            let (row, mut incident) =
                crate::incidents::visible_incident(&mut *tx, &actor, incident_id).await?;
            ev.scope_pref = Some(row.pref_code.to_string());
            if !incident.state().is_open() {
                return Err(ServiceError::Conflict {
                    code: "incident_not_open",
                    message: "the incident is not open".into(),
                });
            }
            let existing = tx.assignments_of_incident(incident_id).await?;
            let now = self.now_us();
            let mut out = Vec::new();
            for (i, uid) in unit_ids.iter().enumerate() {
                let field = format!("unit_ids[{i}]");
                let urow = match tx.get_dispatch_unit(uid).await? {
                    Some(u) if u.pref_code == row.pref_code && actor.sees(Some(u.pref_code)) => u,
                    _ => {
                        return Err(ServiceError::invalid(
                            field,
                            "unknown_unit",
                            "no such unit in this prefecture",
                        ));
                    }
                };
                if existing.iter().any(|a| a.unit_id == *uid && a.active) {
                    return Err(ServiceError::invalid(
                        field,
                        "already_assigned",
                        "the unit is already on this incident",
                    ));
                }
                let mut unit = unit_of(&urow)?;
                if unit.status.dispatchability() == koban_dispatch::Dispatchability::Blocked {
                    return Err(ServiceError::invalid(
                        field,
                        "not_dispatchable",
                        format!("the unit is {}", unit.status.as_str()),
                    ));
                }
                let mut a = koban_dispatch::Assignment::new(uid, incident_id, now, &actor.user.id);
                a.advance_unit(
                    &mut unit,
                    koban_dispatch::AssignmentStep::Dispatched,
                    now,
                    &actor.user.id,
                )
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
                let id = crate::new_id("asg");
                tx.insert_assignment(&assignment_row(&id, &a, row.pref_code, now)?)
                    .await?;
                let av = assignment_view(&id, &a);
                ev.publish(LiveDraft::of(
                    kinds::ASSIGNMENT_UPDATED,
                    Some(row.pref_code),
                    &av,
                )?);
                save_unit(&mut *tx, &mut ev, unit, urow.pref_code, now).await?;
                follow_incident(
                    self,
                    &mut incident,
                    koban_dispatch::AssignmentStep::Dispatched,
                    now,
                    &actor.user.id,
                )?;
                out.push(av);
            }
            ev.detail("units", unit_ids.clone());
            crate::incidents::save_incident(&mut *tx, &mut ev, incident, &row, now).await?;
            Ok(out)
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// A unit's step on its assignment (acknowledged, en_route, on_scene, transporting,
    /// cleared), from its terminal or the dispatcher. The unit's status and the incident
    /// follow.
    pub async fn advance_assignment(
        &self,
        ctx: &RequestCtx,
        token: &str,
        incident_id: &str,
        unit_id: &str,
        step: koban_dispatch::AssignmentStep,
    ) -> Result<AssignmentView, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "assignment.step");
        ev.object("incident", incident_id);
        let r = async {
            actor.require(Action::UnitReport)?;
            let (row, mut incident) =
                crate::incidents::visible_incident(&mut *tx, &actor, incident_id).await?;
            ev.scope_pref = Some(row.pref_code.to_string());
            let arow = tx
                .assignments_of_incident(incident_id)
                .await?
                .into_iter()
                .find(|a| a.unit_id == unit_id && a.active)
                .ok_or(ServiceError::NotFound { what: "assignment" })?;
            let urow = visible_unit(&mut *tx, &actor, unit_id).await?;
            let mut unit = unit_of(&urow)?;
            let mut a = assignment_of(&arow)?;
            let now = self.now_us();
            a.advance_unit(&mut unit, step, now, &actor.user.id)
                .map_err(|e| ServiceError::Conflict {
                    code: e.code(),
                    message: e.to_string(),
                })?;
            if step == koban_dispatch::AssignmentStep::Cleared {
                // Back to patrol unless another incident still holds the unit.
                let others: Vec<koban_dispatch::Assignment> = tx
                    .active_assignments_of_unit(unit_id)
                    .await?
                    .iter()
                    .filter(|o| o.id != arow.id)
                    .map(assignment_of)
                    .collect::<Result<_, _>>()?;
                let all: Vec<&koban_dispatch::Assignment> =
                    others.iter().chain(std::iter::once(&a)).collect();
                if let Some(s) = koban_dispatch::derived_unit_status(all) {
                    unit.status = s;
                }
            }
            follow_incident(self, &mut incident, step, now, &actor.user.id)?;
            ev.detail("unit_id", unit_id);
            ev.detail("step", step.as_str());
            tx.update_assignment(&assignment_row(&arow.id, &a, row.pref_code, now)?)
                .await?;
            let av = assignment_view(&arow.id, &a);
            ev.publish(LiveDraft::of(
                kinds::ASSIGNMENT_UPDATED,
                Some(row.pref_code),
                &av,
            )?);
            save_unit(&mut *tx, &mut ev, unit, urow.pref_code, now).await?;
            crate::incidents::save_incident(&mut *tx, &mut ev, incident, &row, now).await?;
            Ok(av)
        }
        .await;
        self.conclude(tx, ev, r).await
    }

    /// The assignments of an incident, with their timelines.
    pub async fn incident_assignments(
        &self,
        ctx: &RequestCtx,
        token: &str,
        incident_id: &str,
    ) -> Result<Vec<AssignmentView>, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "incident.assignments");
        ev.object("incident", incident_id);
        let r = async {
            actor.require(Action::IncidentRead)?;
            let (row, _) =
                crate::incidents::visible_incident(&mut *tx, &actor, incident_id).await?;
            ev.scope_pref = Some(row.pref_code.to_string());
            tx.assignments_of_incident(incident_id)
                .await?
                .iter()
                .map(|r| Ok(assignment_view(&r.id, &assignment_of(r)?)))
                .collect()
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}

/// Most incidents one statistics request aggregates; longer periods are asked in parts.
pub const MAX_STATS_INCIDENTS: u32 = 1000;

impl Koban {
    /// Response-time statistics (call → dispatch, dispatch → arrival) for incidents in
    /// scope whose first call fell in `[from, to)`, per station and per prefecture. The
    /// station of an incident is the home station of its first dispatched unit (the
    /// station that answered), until jurisdiction polygons exist.
    pub async fn response_times(
        &self,
        ctx: &RequestCtx,
        token: &str,
        from: &str,
        to: &str,
    ) -> Result<koban_dispatch::ResponseReport, ServiceError> {
        let (mut tx, actor) = self.begin_as(token).await?;
        let mut ev = actor.draft(ctx, "stats.response_times");
        let r = async {
            actor.require(Action::IncidentRead)?;
            let from_us = crate::clock::parse_rfc3339(from).ok_or_else(|| {
                ServiceError::invalid("from", "invalid_time", "must be an RFC 3339 time")
            })?;
            let to_us = crate::clock::parse_rfc3339(to).ok_or_else(|| {
                ServiceError::invalid("to", "invalid_time", "must be an RFC 3339 time")
            })?;
            let period = koban_dispatch::Period::new(from_us, to_us).map_err(|_| {
                ServiceError::invalid("to", "invalid_period", "to must not be before from")
            })?;
            ev.detail("from", from);
            ev.detail("to", to);
            // Calls can precede their incident by the duplicate window; look back that far.
            let rows = tx
                .list_incidents(&koban_store::IncidentFilter {
                    prefs: actor.pref_filter(),
                    open_only: false,
                    since_us: Some(
                        from_us - koban_dispatch::DuplicateConfig::default().window_s * 1_000_000,
                    ),
                    within: None,
                    limit: MAX_STATS_INCIDENTS,
                })
                .await?;
            let mut times = Vec::new();
            for row in rows.iter().filter(|r| r.created_at_us < to_us) {
                let calls = tx.calls_of_incident(&row.id).await?;
                let first_call = calls
                    .iter()
                    .map(|c| c.received_at_us)
                    .min()
                    .unwrap_or(row.created_at_us);
                let assignments: Vec<koban_dispatch::Assignment> = tx
                    .assignments_of_incident(&row.id)
                    .await?
                    .iter()
                    .map(assignment_of)
                    .collect::<Result<_, _>>()?;
                let (dispatch, arrival) = koban_dispatch::first_dispatch_and_arrival(&assignments);
                let first_unit = assignments
                    .iter()
                    .filter_map(|a| {
                        a.time_of(koban_dispatch::AssignmentStep::Dispatched)
                            .map(|t| (t, &a.unit_id))
                    })
                    .min()
                    .map(|(_, u)| u.clone());
                let station_id = match first_unit {
                    Some(u) => match tx.get_dispatch_unit(&u).await? {
                        Some(urow) => unit_of(&urow)?.home_station_id,
                        None => "unknown".into(),
                    },
                    None => "undispatched".into(),
                };
                times.push(koban_dispatch::IncidentTimes {
                    incident_id: row.id.clone(),
                    station_id,
                    prefecture: row.pref_code,
                    call_received_us: first_call,
                    first_dispatch_us: dispatch,
                    first_arrival_us: arrival,
                });
            }
            let report = koban_dispatch::response_report(&period, &times);
            ev.detail("incidents", times.len());
            Ok(report)
        }
        .await;
        self.conclude(tx, ev, r).await
    }
}
