//! Positions in, travel times out: snapping combined with the hierarchy.

use std::sync::Mutex;

use crate::bytes::{ByteReader, put_u64, seal, unseal};
use crate::ch::{ContractionHierarchy, QueryScratch, SourceBuckets};
use crate::graph::RoadGraph;
use crate::snap::{Segment, Snap, SnapIndex};
use crate::{LatLon, RoadError};

const ROUTER_MAGIC: &[u8; 8] = b"KOBANRT\0";
const ROUTER_VERSION: u32 = 1;
/// Scratch buffers kept for reuse; more than the number of threads that query at once
/// would only hold memory.
const MAX_POOLED_SCRATCH: usize = 16;
/// Units whose search spaces the fleet index keeps; beyond it the index starts afresh
/// (a prefecture has a few thousand units; this only bounds memory against misuse).
pub const MAX_FLEET_UNITS: usize = 50_000;
/// Nodes a path search settles at most (about a 30 km radius in a dense city).
pub const MAX_PATH_SETTLED: usize = 2_000_000;
/// A snapped position this close to a segment's end is at that intersection, and may
/// leave or be reached along any road there, not only along the snapped segment's
/// allowed direction.
const AT_NODE_M: f32 = 1.0;

/// Travel between two positions by road.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Travel {
    /// Driving time in seconds (from the snapped start to the snapped end).
    pub time_s: f64,
    /// Driving distance in metres.
    pub distance_m: f64,
    /// Distance from the start position to the road, in metres.
    pub snap_from_m: f64,
    /// Distance from the end position to the road, in metres.
    pub snap_to_m: f64,
}

/// Why there is no travel time; dispatch records this next to the unit it could not
/// rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoRoute {
    /// The start is not within the snap limit of any road.
    #[error("start position is off the road network")]
    FromOffNetwork,
    /// The end is not within the snap limit of any road.
    #[error("end position is off the road network")]
    ToOffNetwork,
    /// Both are on the network but no drivable route joins them.
    #[error("no drivable route between the positions")]
    Unreachable,
}

/// A road graph with its hierarchy and snapping index.
#[derive(Debug)]
pub struct Router {
    graph: RoadGraph,
    ch: ContractionHierarchy,
    snap: SnapIndex,
    pool: Mutex<Vec<QueryScratch>>,
    fleet: Mutex<Fleet>,
}

/// The fleet index: each unit's bucket slot with the seeds it was built from, so a unit
/// that has not moved is not searched again.
#[derive(Debug, Default)]
struct Fleet {
    buckets: SourceBuckets,
    units: std::collections::HashMap<String, FleetUnit>,
}

/// What the fleet index remembers of a unit: where it was, where that snapped, and its
/// bucket slot. A unit reported at the same position again costs nothing.
#[derive(Debug, Clone)]
struct FleetUnit {
    /// The position's bits, compared exactly.
    position: (u64, u64),
    snapped: Option<(Snap, Segment)>,
    slot: Option<u32>,
}

/// Seeds `(node, time_ms, length_m)` for leaving a snapped position.
fn source_seeds(s: &Snap, seg: &Segment) -> Vec<(u32, u32, f32)> {
    let f = s.fraction;
    let mut seeds = Vec::with_capacity(2);
    if let Some(t) = seg.time_ab_ms {
        seeds.push((seg.b, scale(t, 1.0 - f), (1.0 - f as f32) * seg.length_m));
    }
    if let Some(t) = seg.time_ba_ms {
        seeds.push((seg.a, scale(t, f), f as f32 * seg.length_m));
    }
    at_node_seeds(f, seg, &mut seeds);
    seeds
}

/// Adds zero-cost seeds for a segment end that the position is at.
fn at_node_seeds(f: f64, seg: &Segment, seeds: &mut Vec<(u32, u32, f32)>) {
    if f as f32 * seg.length_m <= AT_NODE_M {
        seeds.push((seg.a, 0, 0.0));
    }
    if (1.0 - f as f32) * seg.length_m <= AT_NODE_M {
        seeds.push((seg.b, 0, 0.0));
    }
}

/// Seeds `(node, time_ms, length_m)` for arriving at a snapped position.
fn target_seeds(s: &Snap, seg: &Segment) -> Vec<(u32, u32, f32)> {
    let f = s.fraction;
    let mut seeds = Vec::with_capacity(2);
    if let Some(t) = seg.time_ab_ms {
        seeds.push((seg.a, scale(t, f), f as f32 * seg.length_m));
    }
    if let Some(t) = seg.time_ba_ms {
        seeds.push((seg.b, scale(t, 1.0 - f), (1.0 - f as f32) * seg.length_m));
    }
    at_node_seeds(f, seg, &mut seeds);
    seeds
}

fn scale(time_ms: u32, fraction: f64) -> u32 {
    (f64::from(time_ms) * fraction.clamp(0.0, 1.0)).round() as u32
}

/// Driving along one segment from one snapped position to another, when the direction
/// allows it: `(time_ms, length_m)`.
fn same_segment(from: &Snap, to: &Snap, seg: &Segment) -> Option<(u32, f32)> {
    if from.segment != to.segment {
        return None;
    }
    let (ff, tf) = (from.fraction, to.fraction);
    let mut best: Option<(u32, f32)> = None;
    if let Some(t) = seg.time_ab_ms
        && ff <= tf
    {
        best = Some((scale(t, tf - ff), (tf - ff) as f32 * seg.length_m));
    }
    if let Some(t) = seg.time_ba_ms
        && ff >= tf
    {
        let c = (scale(t, ff - tf), (ff - tf) as f32 * seg.length_m);
        if best.is_none_or(|b| c.0 < b.0) {
            best = Some(c);
        }
    }
    best
}

/// The travel from a snapped start to the snapped target: the route through the graph, or
/// driving along the shared segment when that is quicker (the graph only knows nodes).
fn travel_of(
    from: Option<&(Snap, Segment)>,
    via_graph: Option<crate::Route>,
    to: &Snap,
) -> Result<Travel, NoRoute> {
    let (fs, fseg) = from.ok_or(NoRoute::FromOffNetwork)?;
    let mut best = via_graph.map(|r| (r.time_ms, r.distance_m));
    if let Some((t, l)) = same_segment(fs, to, fseg)
        && best.is_none_or(|(bt, _)| u64::from(t) < bt)
    {
        best = Some((u64::from(t), f64::from(l)));
    }
    let (time_ms, distance_m) = best.ok_or(NoRoute::Unreachable)?;
    Ok(Travel {
        time_s: time_ms as f64 / 1000.0,
        distance_m,
        snap_from_m: fs.distance_m,
        snap_to_m: to.distance_m,
    })
}

impl Router {
    /// Builds the hierarchy and snapping index for a graph.
    pub fn build(graph: RoadGraph) -> Router {
        let ch = ContractionHierarchy::build(&graph);
        Router::assemble(graph, ch)
    }

    /// A router from a graph and a hierarchy built for it (for example one read back with
    /// [`ContractionHierarchy::from_bytes`]).
    pub fn from_parts(graph: RoadGraph, ch: ContractionHierarchy) -> Result<Router, RoadError> {
        if ch.node_count() != graph.node_count() {
            return Err(RoadError::Format(format!(
                "index covers {} nodes but the graph has {}",
                ch.node_count(),
                graph.node_count()
            )));
        }
        Ok(Router::assemble(graph, ch))
    }

    fn assemble(graph: RoadGraph, ch: ContractionHierarchy) -> Router {
        let snap = SnapIndex::build(&graph);
        Router {
            graph,
            ch,
            snap,
            pool: Mutex::new(Vec::new()),
            fleet: Mutex::new(Fleet::default()),
        }
    }

    /// The same router with a different off-network limit in metres.
    pub fn with_snap_limit_m(mut self, limit_m: f64) -> Router {
        self.snap = self.snap.with_limit_m(limit_m);
        self
    }

    /// The road graph.
    pub fn graph(&self) -> &RoadGraph {
        &self.graph
    }

    /// The shortest-time index.
    pub fn hierarchy(&self) -> &ContractionHierarchy {
        &self.ch
    }

    /// The snapping index.
    pub fn snap_index(&self) -> &SnapIndex {
        &self.snap
    }

    /// Where a position lands on the network, or `None` when it is off the network.
    pub fn snap(&self, p: LatLon) -> Option<Snap> {
        self.snap.snap(p)
    }

    fn with_scratch<T>(&self, f: impl FnOnce(&mut QueryScratch) -> T) -> T {
        // A poisoned pool only means another thread panicked while holding it; the
        // buffers are reset before every use, so they are still fine to take.
        let taken = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut scratch = taken.unwrap_or_default();
        let out = f(&mut scratch);
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < MAX_POOLED_SCRATCH {
            pool.push(scratch);
        }
        out
    }

    fn snapped(&self, p: LatLon) -> Option<(Snap, Segment)> {
        let s = self.snap.snap(p)?;
        let seg = *self.snap.segment(s.segment)?;
        Some((s, seg))
    }

    /// Travel time and distance by road between two positions, or `None` when either is
    /// off the network or no route joins them. See [`Router::try_travel`] for the reason.
    pub fn travel(&self, from: LatLon, to: LatLon) -> Option<Travel> {
        self.try_travel(from, to).ok()
    }

    /// Travel by road between two positions, or why there is none.
    pub fn try_travel(&self, from: LatLon, to: LatLon) -> Result<Travel, NoRoute> {
        let (fs, fseg) = self.snapped(from).ok_or(NoRoute::FromOffNetwork)?;
        let (ts, tseg) = self.snapped(to).ok_or(NoRoute::ToOffNetwork)?;
        let via_graph = self.with_scratch(|scratch| {
            self.ch.query_seeds(
                scratch,
                &source_seeds(&fs, &fseg),
                &target_seeds(&ts, &tseg),
            )
        });
        travel_of(Some(&(fs, fseg)), via_graph, &ts)
    }

    /// The road path from one position to another, as the positions to draw: the start,
    /// the intersections driven through, the end. Found by plain Dijkstra over the graph
    /// (the hierarchy keeps no path), which settles at most [`MAX_PATH_SETTLED`] nodes; a
    /// field terminal asks for one route at a time, so this costs milliseconds. `None`
    /// when either end is off the network or no path exists within that bound.
    pub fn path(&self, from: LatLon, to: LatLon) -> Option<Vec<LatLon>> {
        use std::cmp::Reverse;
        use std::collections::{BinaryHeap, HashMap};
        let (fs, fseg) = self.snapped(from)?;
        let (ts, tseg) = self.snapped(to)?;
        if same_segment(&fs, &ts, &fseg).is_some() {
            return Some(vec![from, to]);
        }
        let goals: HashMap<u32, u32> = target_seeds(&ts, &tseg)
            .into_iter()
            .map(|(v, t, _)| (v, t))
            .collect();
        let mut dist: HashMap<u32, u64> = HashMap::new();
        let mut parent: HashMap<u32, u32> = HashMap::new();
        let mut heap = BinaryHeap::new();
        for (v, t, _) in source_seeds(&fs, &fseg) {
            let t = u64::from(t);
            if dist.get(&v).is_none_or(|&d| t < d) {
                dist.insert(v, t);
                heap.push(Reverse((t, v)));
            }
        }
        let mut best: Option<(u64, u32)> = None;
        let mut settled = 0usize;
        while let Some(Reverse((d, v))) = heap.pop() {
            if best.is_some_and(|(b, _)| d >= b) || settled >= MAX_PATH_SETTLED {
                break;
            }
            if dist.get(&v).is_some_and(|&x| d > x) {
                continue;
            }
            settled += 1;
            if let Some(&t) = goals.get(&v) {
                let total = d + u64::from(t);
                if best.is_none_or(|(b, _)| total < b) {
                    best = Some((total, v));
                }
            }
            for a in self.graph.out_arcs(v) {
                let nd = d + u64::from(a.time_ms);
                if dist.get(&a.to).is_none_or(|&x| nd < x) {
                    dist.insert(a.to, nd);
                    parent.insert(a.to, v);
                    heap.push(Reverse((nd, a.to)));
                }
            }
        }
        let (_, mut v) = best?;
        let mut nodes = vec![v];
        while let Some(&p) = parent.get(&v) {
            nodes.push(p);
            v = p;
        }
        nodes.reverse();
        let mut out = Vec::with_capacity(nodes.len() + 2);
        out.push(from);
        out.extend(nodes.iter().filter_map(|&n| self.graph.coord(n)));
        out.push(to);
        Some(out)
    }

    /// Travel from each of many positions (units) to one position (the incident), in the
    /// order given. The search from the incident runs once, so this is much cheaper than
    /// one [`Router::try_travel`] per unit.
    pub fn travel_many_to_one(
        &self,
        units: &[LatLon],
        incident: LatLon,
    ) -> Vec<Result<Travel, NoRoute>> {
        let Some((ts, tseg)) = self.snapped(incident) else {
            return vec![Err(NoRoute::ToOffNetwork); units.len()];
        };
        let snapped: Vec<Option<(Snap, Segment)>> =
            units.iter().map(|&u| self.snapped(u)).collect();
        let seeds: Vec<Vec<(u32, u32, f32)>> = snapped
            .iter()
            .map(|s| {
                s.as_ref()
                    .map_or_else(Vec::new, |(s, seg)| source_seeds(s, seg))
            })
            .collect();
        let routes = self.with_scratch(|scratch| {
            self.ch
                .many_to_one_seeds(scratch, &seeds, &target_seeds(&ts, &tseg))
        });
        snapped
            .iter()
            .zip(routes)
            .map(|(s, route)| travel_of(s.as_ref(), route, &ts))
            .collect()
    }

    /// Travel from each unit `(id, position)` to one position (the incident), like
    /// [`Router::travel_many_to_one`], but through the fleet index: a unit's upward search
    /// is kept between calls and redone only when the unit has moved to another place on
    /// the network, and each call costs one backward search plus a bucket scan. This is
    /// what makes ranking thousands of units per incident take milliseconds.
    pub fn travel_fleet_to_one(
        &self,
        units: &[(&str, LatLon)],
        incident: LatLon,
    ) -> Vec<Result<Travel, NoRoute>> {
        let Some((ts, tseg)) = self.snapped(incident) else {
            return vec![Err(NoRoute::ToOffNetwork); units.len()];
        };
        let (snapped, slots, routes) = self.with_scratch(|scratch| {
            let mut fleet = self.fleet.lock().unwrap_or_else(|e| e.into_inner());
            if fleet.units.len() + units.len() > MAX_FLEET_UNITS {
                *fleet = Fleet::default();
            }
            let mut snapped = Vec::with_capacity(units.len());
            let mut slots = Vec::with_capacity(units.len());
            for &(id, p) in units {
                let position = (p.lat.to_bits(), p.lon.to_bits());
                let Fleet {
                    buckets,
                    units: known,
                } = &mut *fleet;
                let unit = match known.get(id) {
                    Some(u) if u.position == position => u.clone(),
                    old => {
                        if let Some(slot) = old.and_then(|u| u.slot) {
                            buckets.remove(slot);
                        }
                        let snap = self.snapped(p);
                        let slot = snap.as_ref().and_then(|(s, seg)| {
                            self.ch
                                .bucket_insert(scratch, buckets, &source_seeds(s, seg))
                        });
                        let unit = FleetUnit {
                            position,
                            snapped: snap,
                            slot,
                        };
                        known.insert(id.to_string(), unit.clone());
                        unit
                    }
                };
                snapped.push(unit.snapped);
                slots.push(unit.slot);
            }
            let routes =
                self.ch
                    .many_to_one_buckets(scratch, &fleet.buckets, &target_seeds(&ts, &tseg));
            (snapped, slots, routes)
        });
        snapped
            .iter()
            .zip(slots)
            .map(|(s, slot)| {
                let route = slot.and_then(|k| routes.get(k as usize).copied().flatten());
                travel_of(s.as_ref(), route, &ts)
            })
            .collect()
    }

    /// Serialises the graph and hierarchy; the snapping index is rebuilt on load (it
    /// takes a fraction of the hierarchy's build time).
    pub fn to_bytes(&self) -> Vec<u8> {
        let g = self.graph.to_bytes();
        let c = self.ch.to_bytes();
        let mut p = Vec::with_capacity(g.len() + c.len() + 16);
        put_u64(&mut p, g.len() as u64);
        p.extend_from_slice(&g);
        put_u64(&mut p, c.len() as u64);
        p.extend_from_slice(&c);
        seal(ROUTER_MAGIC, ROUTER_VERSION, &p)
    }

    /// Reads a router written by [`Router::to_bytes`]; never panics on bad input.
    pub fn from_bytes(data: &[u8]) -> Result<Router, RoadError> {
        let payload = unseal(ROUTER_MAGIC, ROUTER_VERSION, data)?;
        let mut r = ByteReader::new(payload);
        let section = |r: &mut ByteReader<'_>| -> Result<Vec<u8>, RoadError> {
            let len = r.u64()?;
            let len =
                usize::try_from(len).map_err(|_| RoadError::Format("section too long".into()))?;
            Ok(r.take(len)?.to_vec())
        };
        let g = section(&mut r)?;
        let c = section(&mut r)?;
        r.finish()?;
        let graph = RoadGraph::from_bytes(&g)?;
        let ch = ContractionHierarchy::from_bytes(&c)?;
        Router::from_parts(graph, ch)
    }
}
