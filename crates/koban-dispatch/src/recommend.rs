//! Unit recommendation: every unit is either ranked by estimated travel time or excluded
//! with a reason, so the dispatcher can see why a nearby car is missing from the list.

use serde::{Deserialize, Serialize};

use crate::error::DispatchError;
use crate::geo::{LatLon, haversine_m};
use crate::incident::US_PER_S;
use crate::unit::{Dispatchability, Unit, UnitStatus};

/// Default oldest acceptable position: the open-source baseline drops positions older than
/// 30 minutes, and a car moves many kilometres in that time.
pub const DEFAULT_MAX_POSITION_AGE_S: i64 = 30 * 60;

/// Default straight-line speed for the fallback estimator: a patrol car's average urban
/// speed with lights and siren, deliberately modest because the line ignores the roads.
pub const DEFAULT_STRAIGHT_LINE_SPEED_KMH: f64 = 30.0;

/// How a travel estimate was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EstimateMethod {
    /// Over the road network.
    Road,
    /// Along the great circle at a fixed speed, because no road estimate was available.
    StraightLine,
}

/// The travel-time function's answer for one unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TravelEstimate {
    /// Travel time in seconds.
    pub seconds: f64,
    /// Travel distance in metres.
    pub distance_m: f64,
    /// How it was obtained.
    pub method: EstimateMethod,
}

/// A straight-line estimator: distance on the great circle, time at a fixed speed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StraightLineEstimator {
    speed_kmh: f64,
}

impl StraightLineEstimator {
    /// Builds an estimator; the speed must be finite and positive.
    pub fn new(speed_kmh: f64) -> Result<Self, DispatchError> {
        if !speed_kmh.is_finite() || speed_kmh <= 0.0 {
            return Err(DispatchError::OutOfRange { field: "speed_kmh" });
        }
        Ok(StraightLineEstimator { speed_kmh })
    }

    /// The configured speed.
    pub fn speed_kmh(&self) -> f64 {
        self.speed_kmh
    }

    /// Estimates travel from `from` to `to`, marked [`EstimateMethod::StraightLine`].
    pub fn estimate(&self, from: LatLon, to: LatLon) -> TravelEstimate {
        let distance_m = haversine_m(from, to);
        TravelEstimate {
            seconds: distance_m / (self.speed_kmh / 3.6),
            distance_m,
            method: EstimateMethod::StraightLine,
        }
    }
}

impl Default for StraightLineEstimator {
    fn default() -> Self {
        StraightLineEstimator {
            speed_kmh: DEFAULT_STRAIGHT_LINE_SPEED_KMH,
        }
    }
}

/// What the incident needs.
#[derive(Clone, Debug, PartialEq)]
pub struct RecommendRequest<'a> {
    /// Where units must go.
    pub location: LatLon,
    /// Capabilities every recommended unit must have.
    pub required_capabilities: &'a [String],
    /// The current time, UTC µs.
    pub now_us: i64,
    /// Positions older than this many seconds are not trusted.
    pub max_position_age_s: i64,
}

/// A caveat on a ranked unit that the dispatcher should see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendWarning {
    /// The unit's status needs confirmation before it is sent (busy, on break).
    StatusNeedsConfirmation,
    /// The position is older than half the allowed age.
    PositionAgeing,
    /// The position's time lies after `now_us` (a clock is wrong somewhere).
    PositionInFuture,
    /// The ETA is a straight-line guess, not a road estimate.
    StraightLine,
}

/// Why a unit is not ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    /// The status forbids dispatch.
    NotDispatchable,
    /// A required capability is missing.
    MissingCapability,
    /// The unit has never reported a position.
    NoPosition,
    /// The position is older than allowed.
    StalePosition,
    /// The travel-time function found no route (or returned nonsense).
    OffNetwork,
}

impl ExclusionReason {
    /// The stable snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            ExclusionReason::NotDispatchable => "not_dispatchable",
            ExclusionReason::MissingCapability => "missing_capability",
            ExclusionReason::NoPosition => "no_position",
            ExclusionReason::StalePosition => "stale_position",
            ExclusionReason::OffNetwork => "off_network",
        }
    }
}

/// A unit that may be sent, with its estimate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankedUnit {
    /// The unit.
    pub unit_id: String,
    /// 1 for the fastest.
    pub rank: usize,
    /// Estimated travel time, seconds.
    pub eta_s: f64,
    /// Travel distance, metres.
    pub distance_m: f64,
    /// How the estimate was obtained.
    pub method: EstimateMethod,
    /// The unit's status.
    pub status: UnitStatus,
    /// What that status means for dispatch.
    pub dispatchability: Dispatchability,
    /// Age of the position used, seconds (0 if it lies in the future).
    pub position_age_s: f64,
    /// Caveats, in a fixed order.
    pub warnings: Vec<RecommendWarning>,
}

/// A unit that is not ranked, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExcludedUnit {
    /// The unit.
    pub unit_id: String,
    /// The first rule it failed.
    pub reason: ExclusionReason,
}

/// The answer: every unit passed in appears exactly once, in one list or the other.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// Eligible units, fastest first (ties by distance, then unit id).
    pub ranked: Vec<RankedUnit>,
    /// Ineligible units, in input order.
    pub excluded: Vec<ExcludedUnit>,
}

/// Ranks every eligible unit by travel time to the incident.
///
/// Rules are checked cheapest first and the first failure is the reason given: status,
/// capabilities, position present, position fresh, then route. Every eligible unit is asked
/// for a travel time (not just the nearest few by straight line), because the nearest car
/// across a river may be the slowest to arrive.
pub fn recommend<F>(request: &RecommendRequest<'_>, units: &[Unit], travel: F) -> Recommendation
where
    F: Fn(LatLon, LatLon) -> Option<TravelEstimate>,
{
    let max_age_us = request.max_position_age_s.saturating_mul(US_PER_S);
    let mut ranked = Vec::new();
    let mut excluded = Vec::new();
    for unit in units {
        let exclude = |reason| ExcludedUnit {
            unit_id: unit.id.clone(),
            reason,
        };
        let dispatchability = unit.status.dispatchability();
        if dispatchability == Dispatchability::Blocked {
            excluded.push(exclude(ExclusionReason::NotDispatchable));
            continue;
        }
        if !unit.has_capabilities(request.required_capabilities) {
            excluded.push(exclude(ExclusionReason::MissingCapability));
            continue;
        }
        let Some(position) = unit.position else {
            excluded.push(exclude(ExclusionReason::NoPosition));
            continue;
        };
        let age_us = request.now_us.saturating_sub(position.at_us);
        if age_us > max_age_us {
            excluded.push(exclude(ExclusionReason::StalePosition));
            continue;
        }
        let estimate = travel(position.point, request.location).filter(|e| {
            e.seconds.is_finite()
                && e.seconds >= 0.0
                && e.distance_m.is_finite()
                && e.distance_m >= 0.0
        });
        let Some(estimate) = estimate else {
            excluded.push(exclude(ExclusionReason::OffNetwork));
            continue;
        };
        let mut warnings = Vec::new();
        if dispatchability == Dispatchability::Warn {
            warnings.push(RecommendWarning::StatusNeedsConfirmation);
        }
        if age_us < 0 {
            warnings.push(RecommendWarning::PositionInFuture);
        } else if age_us > max_age_us / 2 {
            warnings.push(RecommendWarning::PositionAgeing);
        }
        if estimate.method == EstimateMethod::StraightLine {
            warnings.push(RecommendWarning::StraightLine);
        }
        ranked.push(RankedUnit {
            unit_id: unit.id.clone(),
            rank: 0,
            eta_s: estimate.seconds,
            distance_m: estimate.distance_m,
            method: estimate.method,
            status: unit.status,
            dispatchability,
            position_age_s: age_us.max(0) as f64 / US_PER_S as f64,
            warnings,
        });
    }
    ranked.sort_by(|a, b| {
        a.eta_s
            .total_cmp(&b.eta_s)
            .then(a.distance_m.total_cmp(&b.distance_m))
            .then_with(|| a.unit_id.cmp(&b.unit_id))
    });
    for (n, r) in ranked.iter_mut().enumerate() {
        r.rank = n + 1;
    }
    Recommendation { ranked, excluded }
}

/// Tries `primary` (a road router) first and falls back to the straight-line estimator
/// when it has no answer, so a unit is never dropped only because routing is down.
pub fn with_straight_line_fallback<F>(
    primary: F,
    fallback: StraightLineEstimator,
) -> impl Fn(LatLon, LatLon) -> Option<TravelEstimate>
where
    F: Fn(LatLon, LatLon) -> Option<TravelEstimate>,
{
    move |from, to| primary(from, to).or_else(|| Some(fallback.estimate(from, to)))
}

#[cfg(test)]
mod tests;
