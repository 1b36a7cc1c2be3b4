//! The directed road graph: nodes with positions, arcs weighted by travel time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::bytes::{ByteReader, put_f32, put_f64, put_u32, put_u64, seal, unseal};
use crate::osm::ImportReport;
use crate::{LatLon, RoadError};

const GRAPH_MAGIC: &[u8; 8] = b"KOBANRG\0";
const GRAPH_VERSION: u32 = 1;

/// One directed arc of the road graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GraphArc {
    /// Head node (dense index).
    pub to: u32,
    /// Travel time along the arc in milliseconds (at least 1).
    pub time_ms: u32,
    /// Length of the arc in metres.
    pub length_m: f32,
}

/// A directed road graph in compressed sparse row form.
///
/// Nodes are dense indices `0..node_count()`; `osm_id` maps them back to OpenStreetMap.
#[derive(Debug, Clone)]
pub struct RoadGraph {
    pub(crate) coords: Vec<LatLon>,
    pub(crate) osm_ids: Vec<i64>,
    /// `first_out[v]..first_out[v + 1]` indexes the arcs leaving `v`.
    pub(crate) first_out: Vec<u32>,
    pub(crate) arcs: Vec<GraphArc>,
    pub(crate) report: ImportReport,
}

impl RoadGraph {
    /// Builds a graph from nodes and directed arcs `(from, to, time_ms, length_m)`.
    ///
    /// Arcs naming a node out of range are an error; self-loops are dropped because
    /// they never lie on a shortest path.
    pub fn from_parts(
        coords: Vec<LatLon>,
        osm_ids: Vec<i64>,
        arcs: &[(u32, u32, u32, f32)],
        report: ImportReport,
    ) -> Result<RoadGraph, RoadError> {
        let n = coords.len();
        if n >= u32::MAX as usize || arcs.len() >= u32::MAX as usize {
            return Err(RoadError::Limit(
                "graph too large for 32-bit indices".into(),
            ));
        }
        if osm_ids.len() != n {
            return Err(RoadError::Osm("one OSM id per node is required".into()));
        }
        let mut degree = vec![0u32; n + 1];
        for &(from, to, _, _) in arcs {
            if from as usize >= n || to as usize >= n {
                return Err(RoadError::Osm(format!("arc {from}->{to} out of range")));
            }
            if from != to {
                degree[from as usize + 1] += 1;
            }
        }
        for i in 0..n {
            degree[i + 1] += degree[i];
        }
        let first_out = degree.clone();
        let mut next = degree;
        let mut out = vec![
            GraphArc {
                to: 0,
                time_ms: 0,
                length_m: 0.0
            };
            first_out[n] as usize
        ];
        for &(from, to, time_ms, length_m) in arcs {
            if from == to {
                continue;
            }
            let slot = &mut next[from as usize];
            out[*slot as usize] = GraphArc {
                to,
                time_ms: time_ms.max(1),
                length_m,
            };
            *slot += 1;
        }
        Ok(RoadGraph {
            coords,
            osm_ids,
            first_out,
            arcs: out,
            report,
        })
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.coords.len()
    }

    /// Number of directed arcs.
    pub fn arc_count(&self) -> usize {
        self.arcs.len()
    }

    /// Position of a node.
    pub fn coord(&self, node: u32) -> Option<LatLon> {
        self.coords.get(node as usize).copied()
    }

    /// OpenStreetMap id of a node.
    pub fn osm_id(&self, node: u32) -> Option<i64> {
        self.osm_ids.get(node as usize).copied()
    }

    /// Dense index of the node with an OpenStreetMap id (linear scan; for tests and tools).
    pub fn node_by_osm_id(&self, osm_id: i64) -> Option<u32> {
        self.osm_ids
            .iter()
            .position(|&id| id == osm_id)
            .map(|i| i as u32)
    }

    /// The arcs leaving a node (empty for an unknown node).
    pub fn out_arcs(&self, node: u32) -> &[GraphArc] {
        let v = node as usize;
        if v >= self.node_count() {
            return &[];
        }
        &self.arcs[self.first_out[v] as usize..self.first_out[v + 1] as usize]
    }

    /// What the import kept and skipped.
    pub fn report(&self) -> &ImportReport {
        &self.report
    }

    /// Shortest travel time from `from` to `to` in milliseconds by plain Dijkstra.
    ///
    /// This is the reference the index is tested against, and a fallback for one-off
    /// questions; it touches the whole graph and is far slower than the index.
    pub fn dijkstra_time_ms(&self, from: u32, to: u32) -> Option<u64> {
        let n = self.node_count();
        if from as usize >= n || to as usize >= n {
            return None;
        }
        let mut dist = vec![u64::MAX; n];
        let mut heap = BinaryHeap::new();
        dist[from as usize] = 0;
        heap.push(Reverse((0u64, from)));
        while let Some(Reverse((d, v))) = heap.pop() {
            if v == to {
                return Some(d);
            }
            if d > dist[v as usize] {
                continue;
            }
            for a in self.out_arcs(v) {
                let nd = d + u64::from(a.time_ms);
                if nd < dist[a.to as usize] {
                    dist[a.to as usize] = nd;
                    heap.push(Reverse((nd, a.to)));
                }
            }
        }
        None
    }

    /// Serialises the graph (positions, OSM ids, arcs and the import report).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(self.coords.len() * 28 + self.arcs.len() * 12 + 64);
        put_u32(&mut p, self.coords.len() as u32);
        for (c, id) in self.coords.iter().zip(&self.osm_ids) {
            put_f64(&mut p, c.lat);
            put_f64(&mut p, c.lon);
            put_u64(&mut p, *id as u64);
        }
        put_u32(&mut p, self.arcs.len() as u32);
        for v in 0..self.coords.len() {
            put_u32(&mut p, self.first_out[v + 1] - self.first_out[v]);
        }
        for a in &self.arcs {
            put_u32(&mut p, a.to);
            put_u32(&mut p, a.time_ms);
            put_f32(&mut p, a.length_m);
        }
        self.report.write_bytes(&mut p);
        seal(GRAPH_MAGIC, GRAPH_VERSION, &p)
    }

    /// Reads a graph written by [`RoadGraph::to_bytes`]; any inconsistency is an error.
    pub fn from_bytes(data: &[u8]) -> Result<RoadGraph, RoadError> {
        let payload = unseal(GRAPH_MAGIC, GRAPH_VERSION, data)?;
        let mut r = ByteReader::new(payload);
        let n = r.count(24)?;
        let mut coords = Vec::with_capacity(n);
        let mut osm_ids = Vec::with_capacity(n);
        for _ in 0..n {
            let c = LatLon::new(r.f64()?, r.f64()?);
            if !c.is_valid() {
                return Err(RoadError::Format("node position out of range".into()));
            }
            coords.push(c);
            osm_ids.push(r.i64()?);
        }
        let m = r.count(12)?;
        let mut arcs = Vec::with_capacity(m);
        let mut degrees = Vec::with_capacity(n);
        let mut total = 0u64;
        for _ in 0..n {
            let d = r.u32()?;
            total += u64::from(d);
            degrees.push(d);
        }
        if total != m as u64 {
            return Err(RoadError::Format(
                "degrees do not sum to the arc count".into(),
            ));
        }
        let mut flat = Vec::with_capacity(m);
        for _ in 0..m {
            let to = r.u32()?;
            let time_ms = r.u32()?;
            let length_m = r.f32()?;
            if to as usize >= n || !length_m.is_finite() || length_m < 0.0 {
                return Err(RoadError::Format("arc out of range".into()));
            }
            flat.push((to, time_ms, length_m));
        }
        let mut k = 0usize;
        for (v, &d) in degrees.iter().enumerate() {
            for _ in 0..d {
                let (to, time_ms, length_m) = flat[k];
                arcs.push((v as u32, to, time_ms, length_m));
                k += 1;
            }
        }
        let report = ImportReport::read_bytes(&mut r)?;
        r.finish()?;
        RoadGraph::from_parts(coords, osm_ids, &arcs, report)
            .map_err(|e| RoadError::Format(e.to_string()))
    }
}
