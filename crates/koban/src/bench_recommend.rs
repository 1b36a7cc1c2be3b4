//! `koban bench recommend`: ranking every unit of a large fleet for one incident by road
//! travel time, on a synthetic network of N nodes, as the dispatcher's recommendation does
//! it (fleet index, then the dispatch rules). Baselines in the same run: one plain
//! Dijkstra from the incident over the reversed network until every unit is settled (the
//! textbook many-to-one), and one CH point-to-point query per unit (what koban did before
//! the fleet index). Travel times must equal the Dijkstra's exactly.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use serde_json::json;

#[derive(Args, Debug)]
pub struct RecommendBench {
    /// Intersections in the synthetic city (rounded to a square grid).
    #[arg(long, default_value_t = 100_000)]
    nodes: u64,
    /// Units to rank per incident.
    #[arg(long, default_value_t = 2_000)]
    units: usize,
    /// Incidents ranked with the fleet index.
    #[arg(long, default_value_t = 200)]
    incidents: usize,
    /// Incidents ranked by each baseline (they are slow).
    #[arg(long, default_value_t = 5)]
    baseline_incidents: usize,
}

use crate::bench::{quantile, round3, summary_ms};

pub fn run(b: RecommendBench) -> Result<ExitCode> {
    anyhow::ensure!((4..=25_000_000).contains(&b.nodes), "--nodes 4..=25000000");
    anyhow::ensure!((1..=50_000).contains(&b.units), "--units 1..=50000");
    anyhow::ensure!(b.incidents > 0 && b.baseline_incidents > 0, "bad counts");
    let grid = (b.nodes as f64).sqrt().ceil() as u32;
    let t = Instant::now();
    let mut osm = Vec::new();
    koban_roads::synth_osm(&koban_roads::SynthParams::tokyo(grid, 3), &mut osm)?;
    let synth_s = t.elapsed().as_secs_f64();
    let osm_bytes = osm.len();
    let t = Instant::now();
    let graph = koban_roads::RoadGraph::from_osm_bytes(&osm).map_err(|e| anyhow!("{e}"))?;
    drop(osm);
    let import_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let router = koban_roads::Router::build(graph);
    let index_s = t.elapsed().as_secs_f64();
    let g = router.graph();
    let n = g.node_count() as u32;
    anyhow::ensure!(n > 1, "empty network");

    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % u64::from(n)) as u32
    };
    // Units parked exactly on intersections, so the Dijkstra baseline and the index answer
    // the same question to the millisecond.
    let unit_nodes: Vec<u32> = (0..b.units).map(|_| next()).collect();
    let ids: Vec<String> = (0..b.units).map(|i| format!("u-{i:05}")).collect();
    let at = |v: u32| g.coord(v).context("node without a position");
    let fleet: Vec<(&str, koban_roads::LatLon)> = ids
        .iter()
        .zip(&unit_nodes)
        .map(|(id, &v)| Ok((id.as_str(), at(v)?)))
        .collect::<Result<_>>()?;
    let dispatch_units: Vec<koban_dispatch::Unit> = fleet
        .iter()
        .map(|(id, p)| koban_dispatch::Unit {
            id: (*id).to_string(),
            kind: koban_dispatch::UnitKind::PatrolCar,
            capabilities: Default::default(),
            crew_count: 2,
            home_station_id: "st".into(),
            status: koban_dispatch::UnitStatus::OnPatrol,
            position: Some(koban_dispatch::Position {
                point: koban_dispatch::LatLon {
                    lat: p.lat,
                    lon: p.lon,
                },
                at_us: 0,
            }),
        })
        .collect();
    let incidents: Vec<u32> = (0..b.incidents).map(|_| next()).collect();

    // The first query fills the fleet index (every unit's upward search once).
    let t = Instant::now();
    let _ = router.travel_fleet_to_one(&fleet, at(incidents[0])?);
    let fleet_fill_ms = t.elapsed().as_secs_f64() * 1e3;

    // Ranking per incident: fleet query, then the dispatch rules over every unit.
    let mut per_incident_ms = Vec::with_capacity(b.incidents);
    let mut ranked_total = 0usize;
    for &inc in &incidents {
        let target = at(inc)?;
        let t = Instant::now();
        let travels = router.travel_fleet_to_one(&fleet, target);
        let by_pos: HashMap<(u64, u64), koban_roads::Travel> = fleet
            .iter()
            .zip(&travels)
            .filter_map(|((_, p), t)| Some(((p.lat.to_bits(), p.lon.to_bits()), *t.as_ref().ok()?)))
            .collect();
        let request = koban_dispatch::RecommendRequest {
            location: koban_dispatch::LatLon {
                lat: target.lat,
                lon: target.lon,
            },
            required_capabilities: &[],
            now_us: 0,
            max_position_age_s: 3600,
        };
        let rec = koban_dispatch::recommend(&request, &dispatch_units, |from, _| {
            by_pos
                .get(&(from.lat.to_bits(), from.lon.to_bits()))
                .map(|t| koban_dispatch::TravelEstimate {
                    seconds: t.time_s,
                    distance_m: t.distance_m,
                    method: koban_dispatch::EstimateMethod::Road,
                })
        });
        per_incident_ms.push(t.elapsed().as_secs_f64() * 1e3);
        ranked_total += rec.ranked.len();
    }

    // Baseline 1: plain Dijkstra from the incident over the reversed network.
    let mut rev: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n as usize];
    for v in 0..n {
        for a in g.out_arcs(v) {
            rev[a.to as usize].push((v, a.time_ms));
        }
    }
    let mut dijkstra_ms = Vec::new();
    let mut agree = 0usize;
    let mut compared = 0usize;
    for &inc in incidents.iter().take(b.baseline_incidents) {
        let t = Instant::now();
        let dist = reverse_dijkstra(&rev, inc, &unit_nodes);
        dijkstra_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let travels = router.travel_fleet_to_one(&fleet, at(inc)?);
        for (&v, tr) in unit_nodes.iter().zip(&travels) {
            compared += 1;
            let want = dist.get(&v).copied();
            let got = tr.as_ref().ok().map(|t| (t.time_s * 1000.0).round() as u64);
            agree += usize::from(want == got);
        }
    }
    // Baseline 2: one CH point-to-point query per unit (snapping included).
    let mut p2p_ms = Vec::new();
    for &inc in incidents.iter().take(b.baseline_incidents) {
        let target = at(inc)?;
        let t = Instant::now();
        for (_, p) in &fleet {
            let _ = router.travel(*p, target);
        }
        p2p_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let p99 = |v: &Vec<f64>| {
        let mut s = v.clone();
        s.sort_by(f64::total_cmp);
        quantile(&s, 0.99)
    };
    let fleet_p99 = p99(&per_incident_ms);
    println!(
        "{}",
        json!({
            "bench": "recommend",
            "nodes": n,
            "arcs": g.arc_count(),
            "units": b.units,
            "incidents": b.incidents,
            "osm_xml_bytes": osm_bytes,
            "synth_s": round3(synth_s),
            "import_s": round3(import_s),
            "index_build_s": round3(index_s),
            "import_and_index_s": round3(import_s + index_s),
            "fleet_index_fill_ms": round3(fleet_fill_ms),
            "rank_per_incident_ms": summary_ms(per_incident_ms.clone()),
            "mean_ranked": ranked_total / b.incidents,
            "baseline_reverse_dijkstra_ms": summary_ms(dijkstra_ms.clone()),
            "baseline_ch_point_to_point_per_unit_ms": summary_ms(p2p_ms.clone()),
            "speedup_p99_vs_dijkstra": round3(p99(&dijkstra_ms) / fleet_p99.max(1e-9)),
            "speedup_p99_vs_point_to_point": round3(p99(&p2p_ms) / fleet_p99.max(1e-9)),
            "travel_times_equal_to_dijkstra": format!("{agree}/{compared}"),
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// Dijkstra from `target` over reversed arcs until every unit node is settled; returns
/// the travel time in ms from each unit node to the target.
fn reverse_dijkstra(rev: &[Vec<(u32, u32)>], target: u32, units: &[u32]) -> HashMap<u32, u64> {
    let mut wanted: std::collections::HashSet<u32> = units.iter().copied().collect();
    let mut dist = vec![u64::MAX; rev.len()];
    let mut heap = BinaryHeap::new();
    let mut out = HashMap::new();
    dist[target as usize] = 0;
    heap.push(Reverse((0u64, target)));
    while let Some(Reverse((d, v))) = heap.pop() {
        if d > dist[v as usize] {
            continue;
        }
        if wanted.remove(&v) {
            out.insert(v, d);
            if wanted.is_empty() {
                break;
            }
        }
        for &(u, t) in &rev[v as usize] {
            let nd = d + u64::from(t);
            if nd < dist[u as usize] {
                dist[u as usize] = nd;
                heap.push(Reverse((nd, u)));
            }
        }
    }
    out
}
