//! Correctness of the index against plain Dijkstra on synthetic cities, the river, the
//! serialisation and the position-to-position API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use koban_roads::{
    ContractionHierarchy, LatLon, NoRoute, QueryScratch, RoadGraph, Router, SynthCity, SynthParams,
    haversine_m, synth_osm,
};
use proptest::prelude::*;

fn city(grid_n: u32, seed: u64) -> (SynthCity, RoadGraph) {
    let mut xml = Vec::new();
    let city = synth_osm(&SynthParams::tokyo(grid_n, seed), &mut xml).unwrap();
    let graph = RoadGraph::from_osm_xml(xml.as_slice()).unwrap();
    (city, graph)
}

/// Deterministic pseudo-random pairs without pulling a RNG crate into the tests.
fn pairs(n: u32, count: usize, seed: u64) -> Vec<(u32, u32)> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % u64::from(n)) as u32
    };
    (0..count).map(|_| (next(), next())).collect()
}

#[test]
fn ch_equals_dijkstra_on_cities_of_several_sizes() {
    for (grid_n, seed) in [(3, 1), (10, 2), (17, 3), (30, 4)] {
        let (_, g) = city(grid_n, seed);
        let ch = ContractionHierarchy::build(&g);
        let mut scratch = QueryScratch::new();
        let mut unreachable = 0;
        for (s, t) in pairs(g.node_count() as u32, 300, seed) {
            let want = g.dijkstra_time_ms(s, t);
            let got = ch.query_with(&mut scratch, s, t).map(|r| r.time_ms);
            assert_eq!(got, want, "grid {grid_n}: {s} -> {t}");
            unreachable += usize::from(want.is_none());
        }
        // The synthetic city is meant to be (almost) strongly connected.
        assert!(unreachable < 30, "grid {grid_n}: {unreachable} unreachable");
    }
}

#[test]
fn many_to_one_equals_one_to_one() {
    let (_, g) = city(20, 9);
    let ch = ContractionHierarchy::build(&g);
    let n = g.node_count() as u32;
    for (_, target) in pairs(n, 5, 11) {
        let sources: Vec<u32> = pairs(n, 40, u64::from(target))
            .into_iter()
            .map(|p| p.0)
            .collect();
        let many = ch.many_to_one(&sources, target);
        for (s, r) in sources.iter().zip(many) {
            assert_eq!(r.map(|r| r.time_ms), g.dijkstra_time_ms(*s, target));
        }
    }
}

#[test]
fn crossing_the_river_uses_a_bridge() {
    let (city, g) = city(24, 5);
    let ch = ContractionHierarchy::build(&g);
    let r = city.river_after_row;
    let max_mps = city.max_speed_kmh / 3.6;
    let pos = |row, col| {
        g.coord(g.node_by_osm_id(city.node_id(row, col)).unwrap())
            .unwrap()
    };
    let bridges: Vec<(LatLon, LatLon)> = city
        .bridge_cols
        .iter()
        .map(|&c| (pos(r, c), pos(r + 1, c)))
        .collect();
    let mut checked = 0;
    for col in 0..city.grid_n {
        if city.bridge_cols.contains(&col) {
            continue;
        }
        for (south_row, north_row) in [
            (r, r + 1),
            (r.saturating_sub(2), (r + 3).min(city.grid_n - 1)),
        ] {
            let s = g.node_by_osm_id(city.node_id(south_row, col)).unwrap();
            let t = g.node_by_osm_id(city.node_id(north_row, col)).unwrap();
            let (ps, pt) = (g.coord(s).unwrap(), g.coord(t).unwrap());
            for (from, to, pf, pto) in [(s, t, ps, pt), (t, s, pt, ps)] {
                let route = ch
                    .query(from, to)
                    .expect("the city is connected across the bridges");
                assert_eq!(Some(route.time_ms), g.dijkstra_time_ms(from, to));
                let straight_s = haversine_m(pf, pto) / max_mps;
                // No route can beat driving at top speed in straight lines via the
                // nearest bridge.
                let via_bridge_s = bridges
                    .iter()
                    .map(|(a, b)| {
                        let (near, far) = if haversine_m(pf, *a) < haversine_m(pf, *b) {
                            (a, b)
                        } else {
                            (b, a)
                        };
                        (haversine_m(pf, *near) + haversine_m(*near, *far) + haversine_m(*far, pto))
                            / max_mps
                    })
                    .fold(f64::INFINITY, f64::min);
                let time_s = route.time_ms as f64 / 1000.0;
                assert!(time_s >= straight_s);
                assert!(time_s + 0.01 >= via_bridge_s, "{time_s} < {via_bridge_s}");
                assert!(route.distance_m >= haversine_m(pf, pto));
                checked += 1;
            }
        }
    }
    assert!(checked > 20);
}

#[test]
fn serialisation_round_trip() {
    let (_, g) = city(12, 6);
    let ch = ContractionHierarchy::build(&g);
    let bytes = ch.to_bytes();
    let back = ContractionHierarchy::from_bytes(&bytes).unwrap();
    assert_eq!(back, ch);
    for (s, t) in pairs(g.node_count() as u32, 50, 3) {
        assert_eq!(back.query(s, t), ch.query(s, t));
    }
    // Every truncation and a flipped bit are refused.
    for cut in [0, 1, 8, 12, 20, 27, 28, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            ContractionHierarchy::from_bytes(&bytes[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    assert!(ContractionHierarchy::from_bytes(&bad).is_err());

    let g_back = RoadGraph::from_bytes(&g.to_bytes()).unwrap();
    assert_eq!(g_back.node_count(), g.node_count());
    assert_eq!(g_back.arc_count(), g.arc_count());
    assert_eq!(g_back.report(), g.report());

    let router = Router::build(g);
    let router_back = Router::from_bytes(&router.to_bytes()).unwrap();
    let a = LatLon::new(35.677, 139.757);
    let b = LatLon::new(35.683, 139.764);
    assert_eq!(router.travel(a, b), router_back.travel(a, b));
    assert!(router.travel(a, b).is_some());
}

#[test]
fn travel_between_positions() {
    let (city, g) = city(15, 8);
    let router = Router::build(g);
    let g = router.graph();
    let node = |row, col| g.node_by_osm_id(city.node_id(row, col)).unwrap();
    // Travelling from an intersection to itself costs nothing.
    let p = g.coord(node(3, 3)).unwrap();
    let t = router.travel(p, p).unwrap();
    assert!(t.time_s < 0.01 && t.snap_from_m < 0.01, "{t:?}");
    // Between intersections, travel equals the graph's shortest time.
    for (a, b) in [((2, 2), (12, 11)), ((12, 1), (0, 14)), ((7, 4), (7, 5))] {
        let (u, v) = (node(a.0, a.1), node(b.0, b.1));
        let t = router
            .travel(g.coord(u).unwrap(), g.coord(v).unwrap())
            .unwrap();
        let want = g.dijkstra_time_ms(u, v).unwrap() as f64 / 1000.0;
        assert!((t.time_s - want).abs() < 0.01, "{t:?} vs {want}");
        assert!(t.distance_m > 0.0);
    }
    // Far away is off the network.
    assert_eq!(
        router.try_travel(LatLon::new(35.0, 139.0), p),
        Err(NoRoute::FromOffNetwork)
    );
    assert_eq!(
        router.try_travel(p, LatLon::new(35.0, 139.0)),
        Err(NoRoute::ToOffNetwork)
    );
    // Many units to one incident agrees with one query each.
    let incident = LatLon::new(35.6812, 139.7671);
    let units: Vec<LatLon> = (0..10)
        .map(|i| {
            LatLon::new(
                35.675 + 0.0011 * f64::from(i),
                139.755 + 0.0017 * f64::from(i),
            )
        })
        .chain([LatLon::new(36.0, 139.0)])
        .collect();
    let many = router.travel_many_to_one(&units, incident);
    for (u, m) in units.iter().zip(&many) {
        assert_eq!(*m, router.try_travel(*u, incident));
    }
    assert_eq!(many[10], Err(NoRoute::FromOffNetwork));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn from_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ContractionHierarchy::from_bytes(&data);
        let _ = RoadGraph::from_bytes(&data);
        let _ = Router::from_bytes(&data);
    }

    #[test]
    fn from_bytes_never_panics_on_damaged_index(pos in 0usize..4096, byte in any::<u8>(), cut in 0usize..4096) {
        let (_, g) = small_city();
        let bytes = ContractionHierarchy::build(g).to_bytes();
        let mut damaged = bytes.clone();
        let i = pos % damaged.len();
        damaged[i] = byte;
        damaged.truncate(damaged.len() - cut % damaged.len());
        let _ = ContractionHierarchy::from_bytes(&damaged);
        // With the checksum recomputed the structural checks themselves are exercised.
        let _ = ContractionHierarchy::from_bytes(&reseal(&damaged));
    }

    #[test]
    fn ch_equals_dijkstra_random_city(grid_n in 2u32..14, seed in any::<u64>(), s in any::<u32>(), t in any::<u32>()) {
        let (_, g) = city(grid_n, seed);
        let n = g.node_count() as u32;
        let ch = ContractionHierarchy::build(&g);
        let (s, t) = (s % n, t % n);
        prop_assert_eq!(ch.query(s, t).map(|r| r.time_ms), g.dijkstra_time_ms(s, t));
    }
}

fn small_city() -> &'static (SynthCity, RoadGraph) {
    static CITY: std::sync::OnceLock<(SynthCity, RoadGraph)> = std::sync::OnceLock::new();
    CITY.get_or_init(|| city(6, 1))
}

/// Rewrites the header's length and checksum to match a damaged payload (FNV-1a, as the
/// crate uses), so damage reaches the structural checks.
fn reseal(data: &[u8]) -> Vec<u8> {
    if data.len() < 28 {
        return data.to_vec();
    }
    let payload = &data[28..];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in payload {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = data[..12].to_vec();
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&h.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The PBF reader (`.osm.pbf`, written here by libosmium from the same synthetic city as
/// the XML, a file committed as a fixture) builds exactly the graph the XML reader builds.
#[test]
fn pbf_and_xml_give_the_same_graph() {
    let mut xml = Vec::new();
    synth_osm(&SynthParams::tokyo(12, 7), &mut xml).unwrap();
    let from_xml = RoadGraph::from_osm_bytes(&xml).unwrap();
    let pbf = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/synth-12-seed-7.osm.pbf"
    ))
    .unwrap();
    let from_pbf = RoadGraph::from_osm_bytes(&pbf).unwrap();
    assert_eq!(from_pbf.node_count(), from_xml.node_count());
    assert_eq!(from_pbf.report(), from_xml.report());
    for (s, t) in pairs(from_xml.node_count() as u32, 200, 9) {
        assert_eq!(
            from_pbf.dijkstra_time_ms(s, t),
            from_xml.dijkstra_time_ms(s, t),
            "{s} -> {t}"
        );
    }
    // A truncated or garbage file is an error, not a panic.
    assert!(RoadGraph::from_osm_bytes(&pbf[..pbf.len() / 2]).is_err());
    assert!(RoadGraph::from_osm_bytes(b"\x00\x00\x00\x0dgarbage").is_err());
    assert!(RoadGraph::from_osm_bytes(b"   ").is_err());
}

/// The fleet index answers exactly what one point-to-point route per unit answers, for
/// many incidents, while units move, leave the network and come back.
#[test]
fn fleet_index_equals_point_to_point_while_units_move() {
    let mut xml = Vec::new();
    synth_osm(&SynthParams::tokyo(20, 5), &mut xml).unwrap();
    let router = Router::build(RoadGraph::from_osm_xml(xml.as_slice()).unwrap());
    let g = router.graph();
    let n = g.node_count() as u32;
    let mut rnd = pairs(n, 400, 77).into_iter();
    let mut pos = |k: u32| {
        let (a, b) = rnd.next().unwrap();
        let (pa, pb) = (g.coord(a).unwrap(), g.coord(b).unwrap());
        // Somewhere between two nodes, so snapping lands mid-segment too.
        let f = f64::from(k % 7) / 7.0;
        LatLon::new(
            pa.lat + (pb.lat - pa.lat) * f * 0.01,
            pa.lon + (pb.lon - pa.lon) * f * 0.01,
        )
    };
    let ids: Vec<String> = (0..30).map(|i| format!("u{i}")).collect();
    let mut units: Vec<LatLon> = (0..30).map(&mut pos).collect();
    for round in 0..12u32 {
        // A third of the fleet moves each round; one unit is off the network.
        for (i, u) in units.iter_mut().enumerate() {
            if (i as u32 + round) % 3 == 0 {
                *u = pos(i as u32 + round);
            }
        }
        units[round as usize] = LatLon::new(36.5, 138.0);
        let incident = pos(round);
        let fleet: Vec<(&str, LatLon)> = ids
            .iter()
            .map(String::as_str)
            .zip(units.iter().copied())
            .collect();
        let got = router.travel_fleet_to_one(&fleet, incident);
        for (u, r) in units.iter().zip(&got) {
            let want = router.try_travel(*u, incident);
            match (r, &want) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a.time_s, b.time_s, "round {round}");
                    assert!((a.distance_m - b.distance_m).abs() < 0.5, "round {round}");
                }
                _ => assert_eq!(r, &want, "round {round}"),
            }
        }
    }
}

/// The drawn path runs from the start to the end along the roads and is no longer than
/// the route the index timed (plus the snapping offsets at both ends).
#[test]
fn paths_follow_the_timed_route() {
    let mut xml = Vec::new();
    synth_osm(&SynthParams::tokyo(20, 6), &mut xml).unwrap();
    let router = Router::build(RoadGraph::from_osm_xml(xml.as_slice()).unwrap());
    let g = router.graph();
    let mut checked = 0;
    for (a, b) in pairs(g.node_count() as u32, 100, 5) {
        let (pa, pb) = (g.coord(a).unwrap(), g.coord(b).unwrap());
        let from = LatLon::new(pa.lat + 0.0001, pa.lon);
        let to = LatLon::new(pb.lat, pb.lon + 0.0001);
        match router.try_travel(from, to) {
            Ok(t) => {
                let path = router.path(from, to).expect("a timed route has a path");
                assert_eq!((path[0], *path.last().unwrap()), (from, to));
                let drawn: f64 = path.windows(2).map(|w| haversine_m(w[0], w[1])).sum();
                assert!(drawn >= haversine_m(from, to) - 1.0);
                assert!(
                    drawn <= t.distance_m + t.snap_from_m + t.snap_to_m + 1.0,
                    "drawn {drawn} m, timed {} m",
                    t.distance_m
                );
                checked += 1;
            }
            Err(_) => assert!(router.path(from, to).is_none()),
        }
    }
    assert!(checked > 50, "{checked}");
}
