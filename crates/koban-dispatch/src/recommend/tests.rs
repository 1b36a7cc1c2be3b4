use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::unit::{Position, UnitKind};

const NOW: i64 = 1_700_000_000_000_000;
const SCENE: LatLon = LatLon {
    lat: 35.0,
    lon: 139.0,
};

fn unit(id: &str, status: UnitStatus, caps: &[&str], pos: Option<(f64, i64)>) -> Unit {
    Unit {
        id: id.into(),
        kind: UnitKind::PatrolCar,
        capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
        crew_count: 2,
        home_station_id: "s1".into(),
        status,
        position: pos.map(|(dlat, age_s)| Position {
            point: LatLon {
                lat: SCENE.lat + dlat,
                lon: SCENE.lon,
            },
            at_us: NOW - age_s * US_PER_S,
        }),
    }
}

fn request(caps: &[String]) -> RecommendRequest<'_> {
    RecommendRequest {
        location: SCENE,
        required_capabilities: caps,
        now_us: NOW,
        max_position_age_s: DEFAULT_MAX_POSITION_AGE_S,
    }
}

fn road(from: LatLon, to: LatLon) -> Option<TravelEstimate> {
    // A fake road network: twice the straight line, at 36 km/h (10 m/s); north of 35.05
    // is across the water and unreachable.
    if from.lat > 35.05 {
        return None;
    }
    let d = 2.0 * haversine_m(from, to);
    Some(TravelEstimate {
        seconds: d / 10.0,
        distance_m: d,
        method: EstimateMethod::Road,
    })
}

#[test]
fn ranks_and_excludes_with_reasons() {
    let caps = vec!["traffic".to_owned()];
    let units = vec![
        unit("far", UnitStatus::OnPatrol, &["traffic"], Some((0.02, 10))),
        unit(
            "near",
            UnitStatus::OnPatrol,
            &["traffic"],
            Some((0.005, 10)),
        ),
        unit("busy", UnitStatus::OnScene, &["traffic"], Some((0.001, 10))),
        unit(
            "blocked",
            UnitStatus::Maintenance,
            &["traffic"],
            Some((0.0, 10)),
        ),
        unit("nocap", UnitStatus::OnPatrol, &[], Some((0.0, 10))),
        unit("nopos", UnitStatus::OnPatrol, &["traffic"], None),
        unit(
            "stale",
            UnitStatus::OnPatrol,
            &["traffic"],
            Some((0.0, 3_600)),
        ),
        unit(
            "island",
            UnitStatus::OnPatrol,
            &["traffic"],
            Some((0.1, 10)),
        ),
        unit(
            "ageing",
            UnitStatus::OnPatrol,
            &["traffic"],
            Some((0.03, 1_200)),
        ),
    ];
    let r = recommend(&request(&caps), &units, road);
    let order: Vec<_> = r.ranked.iter().map(|u| u.unit_id.as_str()).collect();
    assert_eq!(order, ["busy", "near", "far", "ageing"]);
    assert_eq!(
        r.ranked.iter().map(|u| u.rank).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        r.ranked[0].warnings,
        [RecommendWarning::StatusNeedsConfirmation]
    );
    assert_eq!(r.ranked[0].dispatchability, Dispatchability::Warn);
    assert_eq!(r.ranked[3].warnings, [RecommendWarning::PositionAgeing]);
    assert_eq!(r.ranked[1].position_age_s, 10.0);
    assert!((r.ranked[1].distance_m - 2.0 * 556.0).abs() < 5.0);
    let reasons: Vec<_> = r
        .excluded
        .iter()
        .map(|e| (e.unit_id.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("blocked", "not_dispatchable"),
            ("nocap", "missing_capability"),
            ("nopos", "no_position"),
            ("stale", "stale_position"),
            ("island", "off_network"),
        ]
    );
}

#[test]
fn road_time_beats_straight_line_distance() {
    // "bridge" is nearer in a straight line but its road estimate is slower.
    let units = vec![
        unit("bridge", UnitStatus::OnPatrol, &[], Some((0.001, 0))),
        unit("road", UnitStatus::OnPatrol, &[], Some((0.01, 0))),
    ];
    let travel = |from: LatLon, _to: LatLon| {
        let seconds = if from.lat < 35.005 { 900.0 } else { 120.0 };
        Some(TravelEstimate {
            seconds,
            distance_m: 1_000.0,
            method: EstimateMethod::Road,
        })
    };
    let r = recommend(&request(&[]), &units, travel);
    assert_eq!(r.ranked[0].unit_id, "road");
}

#[test]
fn nonsense_estimates_count_as_off_network() {
    let units = vec![unit("u", UnitStatus::OnPatrol, &[], Some((0.0, 0)))];
    for bad in [f64::NAN, -1.0, f64::INFINITY] {
        let travel = |_: LatLon, _: LatLon| {
            Some(TravelEstimate {
                seconds: bad,
                distance_m: 1.0,
                method: EstimateMethod::Road,
            })
        };
        let r = recommend(&request(&[]), &units, travel);
        assert_eq!(r.excluded[0].reason, ExclusionReason::OffNetwork);
    }
}

#[test]
fn future_position_is_warned_not_excluded() {
    let units = vec![unit("u", UnitStatus::OnPatrol, &[], Some((0.0, -60)))];
    let r = recommend(&request(&[]), &units, road);
    assert_eq!(r.ranked[0].warnings, [RecommendWarning::PositionInFuture]);
    assert_eq!(r.ranked[0].position_age_s, 0.0);
}

#[test]
fn straight_line_estimator_and_fallback() {
    assert!(StraightLineEstimator::new(0.0).is_err());
    assert!(StraightLineEstimator::new(f64::NAN).is_err());
    let est = StraightLineEstimator::new(36.0).unwrap_or_default();
    let to = LatLon {
        lat: 35.009,
        lon: 139.0,
    };
    let e = est.estimate(SCENE, to);
    assert_eq!(e.method, EstimateMethod::StraightLine);
    assert!((e.seconds - e.distance_m / 10.0).abs() < 1e-9);

    let units = vec![
        unit("island", UnitStatus::OnPatrol, &[], Some((0.1, 0))),
        unit("near", UnitStatus::OnPatrol, &[], Some((0.001, 0))),
    ];
    let r = recommend(
        &request(&[]),
        &units,
        with_straight_line_fallback(road, est),
    );
    assert!(r.excluded.is_empty());
    assert_eq!(r.ranked[0].method, EstimateMethod::Road);
    assert_eq!(r.ranked[1].unit_id, "island");
    assert_eq!(r.ranked[1].method, EstimateMethod::StraightLine);
    assert_eq!(r.ranked[1].warnings, [RecommendWarning::StraightLine]);
}

fn arb_status() -> impl Strategy<Value = UnitStatus> {
    (0usize..UnitStatus::ALL.len()).prop_map(|i| UnitStatus::ALL[i])
}

fn arb_unit() -> impl Strategy<Value = (UnitStatus, bool, Option<(f64, i64)>)> {
    (
        arb_status(),
        any::<bool>(),
        proptest::option::of((-0.2f64..0.2, -120i64..4_000)),
    )
}

proptest! {
    #[test]
    fn every_unit_appears_exactly_once_and_ranking_is_sorted(
        specs in proptest::collection::vec(arb_unit(), 0..40),
        need_traffic in any::<bool>(),
    ) {
        let units: Vec<Unit> = specs
            .iter()
            .enumerate()
            .map(|(n, (s, traffic, pos))| {
                let caps: &[&str] = if *traffic { &["traffic"] } else { &[] };
                unit(&format!("u{n:02}"), *s, caps, *pos)
            })
            .collect();
        let caps = if need_traffic { vec!["traffic".to_owned()] } else { vec![] };
        let r = recommend(&request(&caps), &units, road);
        let mut seen = BTreeSet::new();
        for id in r.ranked.iter().map(|u| &u.unit_id).chain(r.excluded.iter().map(|e| &e.unit_id)) {
            prop_assert!(seen.insert(id.clone()), "{} twice", id);
        }
        prop_assert_eq!(seen.len(), units.len());
        for w in r.ranked.windows(2) {
            prop_assert!(w[0].eta_s <= w[1].eta_s);
            prop_assert_eq!(w[0].rank + 1, w[1].rank);
        }
        for u in &r.ranked {
            prop_assert!(u.dispatchability != Dispatchability::Blocked);
            prop_assert!(u.position_age_s <= DEFAULT_MAX_POSITION_AGE_S as f64);
        }
    }
}
