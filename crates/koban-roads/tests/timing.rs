//! Build and query timings on a ~100k-node synthetic city.
//!
//! Run with `cargo test --release -p koban-roads --test timing -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use koban_roads::{
    ContractionHierarchy, LatLon, QueryScratch, RoadGraph, Router, SynthParams, synth_osm,
};

#[test]
#[ignore = "timing: run in release"]
fn timing_100k_nodes() {
    let grid_n: u32 = std::env::var("KOBAN_ROADS_GRID_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(317);
    let t = Instant::now();
    let mut xml = Vec::new();
    synth_osm(&SynthParams::tokyo(grid_n, 42), &mut xml).unwrap();
    println!(
        "synth: {grid_n}x{grid_n}, {} MB XML in {:?}",
        xml.len() / 1_000_000,
        t.elapsed()
    );

    let t = Instant::now();
    let g = RoadGraph::from_osm_xml(xml.as_slice()).unwrap();
    println!(
        "import: {} nodes, {} arcs in {:?}",
        g.node_count(),
        g.arc_count(),
        t.elapsed()
    );

    let t = Instant::now();
    let ch = ContractionHierarchy::build(&g);
    println!(
        "CH build: {:?}, {} arcs (up+down)",
        t.elapsed(),
        ch.arc_count()
    );

    let n = g.node_count() as u64;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n) as u32
    };
    let queries: Vec<(u32, u32)> = (0..10_000).map(|_| (next(), next())).collect();
    let mut scratch = QueryScratch::new();
    let t = Instant::now();
    let mut total = 0u64;
    for &(s, d) in &queries {
        total += ch.query_with(&mut scratch, s, d).map_or(0, |r| r.time_ms);
    }
    let el = t.elapsed();
    println!(
        "CH one-to-one: {} queries, {:.1} µs average (checksum {total})",
        queries.len(),
        el.as_secs_f64() * 1e6 / queries.len() as f64
    );

    let t = Instant::now();
    for &(s, d) in queries.iter().take(20) {
        assert_eq!(
            g.dijkstra_time_ms(s, d),
            ch.query_with(&mut scratch, s, d).map(|r| r.time_ms)
        );
    }
    println!(
        "Dijkstra: {:.1} ms average (20 queries, checked equal)",
        t.elapsed().as_secs_f64() * 50.0
    );

    for units in [25usize, 100] {
        let sources: Vec<u32> = (0..units).map(|_| next()).collect();
        let t = Instant::now();
        let reps = 100;
        for _ in 0..reps {
            let _ = ch.many_to_one(&sources, next());
        }
        println!(
            "CH many-to-one: {units} units → 1 incident, {:.2} ms average",
            t.elapsed().as_secs_f64() * 1e3 / f64::from(reps)
        );
    }

    let t = Instant::now();
    let bytes = ch.to_bytes();
    let ser = t.elapsed();
    let t = Instant::now();
    let back = ContractionHierarchy::from_bytes(&bytes).unwrap();
    println!(
        "serialise: {} MB in {ser:?}, read back in {:?}",
        bytes.len() / 1_000_000,
        t.elapsed()
    );
    assert_eq!(back.arc_count(), ch.arc_count());

    let t = Instant::now();
    let router = Router::from_parts(g, ch).unwrap();
    println!("snap index: {:?}", t.elapsed());
    let half_deg = 0.0009 * f64::from(grid_n) / 2.0;
    let pts: Vec<LatLon> = (0..1000)
        .map(|i| {
            let f = f64::from(i) / 1000.0;
            LatLon::new(
                35.68 - half_deg * 0.9 + 1.8 * half_deg * f,
                139.76 + half_deg * 0.9 * (1.0 - 2.0 * ((f * 7.3) % 1.0)),
            )
        })
        .collect();
    let t = Instant::now();
    let mut ok = 0;
    for w in pts.windows(2) {
        ok += usize::from(router.travel(w[0], w[1]).is_some());
    }
    println!(
        "travel (snap + query): {:.1} µs average, {ok}/999 routed",
        t.elapsed().as_secs_f64() * 1e6 / 999.0
    );
    let t = Instant::now();
    let res = router.travel_many_to_one(&pts[..100], pts[500]);
    println!(
        "travel many-to-one: 100 units in {:.2} ms, {} routed",
        t.elapsed().as_secs_f64() * 1e3,
        res.iter().filter(|r| r.is_ok()).count()
    );
}
