//! Feeds arbitrary bytes to the road importer (OSM XML and PBF, told apart by the first
//! byte), which must answer with a graph or an error and never panic: road files come from
//! outside, and a bad one must not take the command room's server down.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = koban_roads::RoadGraph::from_osm_bytes(data) {
        // Every arc must join nodes the graph holds.
        for v in 0..g.node_count() as u32 {
            for a in g.out_arcs(v) {
                assert!((a.to as usize) < g.node_count());
            }
        }
    }
});
