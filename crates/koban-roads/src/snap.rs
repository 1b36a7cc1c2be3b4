//! Snapping positions to the nearest road segment through a grid index.

use std::collections::HashMap;

use crate::graph::RoadGraph;
use crate::{LatLon, haversine_m};

/// Metres per degree of latitude (mean).
const M_PER_DEG_LAT: f64 = 111_195.0;
/// Side of a grid cell in metres: about a city block, so a cell holds a handful of
/// segments and a snap looks at a few cells.
const CELL_M: f64 = 100.0;
/// A segment covering more cells than this (a bogus edge across half a country) is left
/// out of the index rather than allowed to bloat it.
const MAX_CELLS_PER_SEGMENT: u64 = 250_000;
/// Default distance beyond which a position counts as off the network, in metres: a
/// patrol car parked in a large car park or a caller in a wide plaza is still within it.
pub const DEFAULT_SNAP_LIMIT_M: f64 = 300.0;
/// Largest off-network limit accepted, in metres; beyond it a "snap" would put a unit on
/// a road it cannot plausibly reach, and the ring search would scan a huge area.
pub const MAX_SNAP_LIMIT_M: f64 = 10_000.0;

/// A road segment between two nodes, with the travel time in each direction it may be
/// driven.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// One end (graph node id).
    pub a: u32,
    /// The other end (graph node id).
    pub b: u32,
    /// Time from `a` to `b` in milliseconds, if that direction is allowed.
    pub time_ab_ms: Option<u32>,
    /// Time from `b` to `a` in milliseconds, if that direction is allowed.
    pub time_ba_ms: Option<u32>,
    /// Length in metres.
    pub length_m: f32,
}

/// Where a position lands on the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snap {
    /// Index of the segment (see [`SnapIndex::segment`]).
    pub segment: u32,
    /// Fraction of the way from the segment's `a` to its `b`, in `[0, 1]`.
    pub fraction: f64,
    /// The nearest point on the segment.
    pub point: LatLon,
    /// Distance from the position to that point in metres.
    pub distance_m: f64,
}

/// Grid index over the graph's road segments.
#[derive(Debug, Clone)]
pub struct SnapIndex {
    coords: Vec<LatLon>,
    segments: Vec<Segment>,
    /// `(cell key, segment)` sorted by key.
    cells: Vec<(u64, u32)>,
    cell_lat_deg: f64,
    cell_lon_deg: f64,
    limit_m: f64,
}

fn cell_key(cx: i64, cy: i64) -> u64 {
    let x = (cx.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32) as u32;
    let y = (cy.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32) as u32;
    (u64::from(y) << 32) | u64::from(x)
}

impl SnapIndex {
    /// Indexes every road segment of a graph; positions farther than
    /// [`DEFAULT_SNAP_LIMIT_M`] from any are off the network.
    pub fn build(graph: &RoadGraph) -> SnapIndex {
        let mut by_pair: HashMap<(u32, u32), Segment> = HashMap::new();
        for u in 0..graph.node_count() as u32 {
            for arc in graph.out_arcs(u) {
                let (a, b) = if u < arc.to { (u, arc.to) } else { (arc.to, u) };
                let seg = by_pair.entry((a, b)).or_insert(Segment {
                    a,
                    b,
                    time_ab_ms: None,
                    time_ba_ms: None,
                    length_m: arc.length_m,
                });
                let slot = if u == a {
                    &mut seg.time_ab_ms
                } else {
                    &mut seg.time_ba_ms
                };
                *slot = Some(slot.map_or(arc.time_ms, |t| t.min(arc.time_ms)));
            }
        }
        let mut segments: Vec<Segment> = by_pair.into_values().collect();
        segments.sort_unstable_by_key(|s| (s.a, s.b));

        let coords = graph.coords.clone();
        let (lat_min, lat_max) = coords.iter().fold((f64::MAX, f64::MIN), |(lo, hi), c| {
            (lo.min(c.lat), hi.max(c.lat))
        });
        let lat_mid = if coords.is_empty() {
            0.0
        } else {
            (lat_min + lat_max) / 2.0
        };
        let cell_lat_deg = CELL_M / M_PER_DEG_LAT;
        let cell_lon_deg = cell_lat_deg / lat_mid.to_radians().cos().max(0.05);

        let mut cells = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            let (pa, pb) = (coords[s.a as usize], coords[s.b as usize]);
            let x0 = (pa.lon.min(pb.lon) / cell_lon_deg).floor() as i64;
            let x1 = (pa.lon.max(pb.lon) / cell_lon_deg).floor() as i64;
            let y0 = (pa.lat.min(pb.lat) / cell_lat_deg).floor() as i64;
            let y1 = (pa.lat.max(pb.lat) / cell_lat_deg).floor() as i64;
            let count = (x1 - x0 + 1) as u64 * (y1 - y0 + 1) as u64;
            if count > MAX_CELLS_PER_SEGMENT {
                continue;
            }
            for cy in y0..=y1 {
                for cx in x0..=x1 {
                    cells.push((cell_key(cx, cy), i as u32));
                }
            }
        }
        cells.sort_unstable();
        SnapIndex {
            coords,
            segments,
            cells,
            cell_lat_deg,
            cell_lon_deg,
            limit_m: DEFAULT_SNAP_LIMIT_M,
        }
    }

    /// The same index with a different off-network limit in metres (clamped to
    /// [`MAX_SNAP_LIMIT_M`]; a non-finite value restores the default).
    pub fn with_limit_m(mut self, limit_m: f64) -> SnapIndex {
        self.limit_m = if limit_m.is_finite() {
            limit_m.clamp(0.0, MAX_SNAP_LIMIT_M)
        } else {
            DEFAULT_SNAP_LIMIT_M
        };
        self
    }

    /// The off-network limit in metres.
    pub fn limit_m(&self) -> f64 {
        self.limit_m
    }

    /// Number of segments indexed.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// A segment by index.
    pub fn segment(&self, i: u32) -> Option<&Segment> {
        self.segments.get(i as usize)
    }

    /// The nearest point on the network within the limit, or `None` when the position is
    /// off the network (or not a valid position).
    pub fn snap(&self, p: LatLon) -> Option<Snap> {
        if !p.is_valid() || self.segments.is_empty() {
            return None;
        }
        let cos_q = p.lat.to_radians().cos().max(1e-6);
        let m_per_deg_lon = M_PER_DEG_LAT * cos_q;
        let cell_w_m = self.cell_lon_deg * m_per_deg_lon;
        let cell_h_m = self.cell_lat_deg * M_PER_DEG_LAT;
        let step_m = cell_w_m.min(cell_h_m);
        let cx = (p.lon / self.cell_lon_deg).floor() as i64;
        let cy = (p.lat / self.cell_lat_deg).floor() as i64;
        let max_ring = (self.limit_m / step_m).ceil() as i64 + 1;
        // Local plane centred on the query: exact enough over a few hundred metres.
        let project = |c: LatLon| {
            (
                (c.lon - p.lon) * m_per_deg_lon,
                (c.lat - p.lat) * M_PER_DEG_LAT,
            )
        };

        let mut best: Option<(f64, u32, f64)> = None;
        let visit = |key: u64, best: &mut Option<(f64, u32, f64)>| {
            let start = self.cells.partition_point(|&(k, _)| k < key);
            for &(k, seg) in &self.cells[start..] {
                if k != key {
                    break;
                }
                let s = &self.segments[seg as usize];
                let (ax, ay) = project(self.coords[s.a as usize]);
                let (bx, by) = project(self.coords[s.b as usize]);
                let (dx, dy) = (bx - ax, by - ay);
                let len2 = dx * dx + dy * dy;
                let t = if len2 > 0.0 {
                    ((-ax * dx - ay * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (px, py) = (ax + t * dx, ay + t * dy);
                let d = (px * px + py * py).sqrt();
                if best.is_none_or(|(bd, _, _)| d < bd) {
                    *best = Some((d, seg, t));
                }
            }
        };
        for ring in 0..=max_ring {
            for dy in -ring..=ring {
                for dx in -ring..=ring {
                    if dx.abs() != ring && dy.abs() != ring {
                        continue;
                    }
                    visit(cell_key(cx + dx, cy + dy), &mut best);
                }
            }
            let covered_m = ring as f64 * step_m;
            if best.is_some_and(|(d, _, _)| d <= covered_m) || covered_m > self.limit_m {
                break;
            }
        }
        let (_, seg, t) = best?;
        let s = &self.segments[seg as usize];
        let (pa, pb) = (self.coords[s.a as usize], self.coords[s.b as usize]);
        let point = LatLon::new(
            pa.lat + t * (pb.lat - pa.lat),
            pa.lon + t * (pb.lon - pa.lon),
        );
        let distance_m = haversine_m(p, point);
        (distance_m <= self.limit_m).then_some(Snap {
            segment: seg,
            fraction: t,
            point,
            distance_m,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::osm::ImportReport;

    fn line_graph() -> RoadGraph {
        // Three nodes along a meridian, 0.001 degrees (about 111 m) apart; 1→2 one-way.
        let coords = vec![
            LatLon::new(35.0, 139.0),
            LatLon::new(35.001, 139.0),
            LatLon::new(35.002, 139.0),
        ];
        let arcs = [
            (0, 1, 10_000, 111.2),
            (1, 2, 10_000, 111.2),
            (2, 1, 10_000, 111.2),
        ];
        RoadGraph::from_parts(coords, vec![1, 2, 3], &arcs, ImportReport::default()).unwrap()
    }

    #[test]
    fn snaps_to_the_nearest_segment() {
        let g = line_graph();
        let idx = SnapIndex::build(&g);
        assert_eq!(idx.segment_count(), 2);
        // 50 m east of the midpoint of the first segment.
        let p = LatLon::new(
            35.0005,
            139.0 + 50.0 / (M_PER_DEG_LAT * 35f64.to_radians().cos()),
        );
        let s = idx.snap(p).unwrap();
        assert!((s.distance_m - 50.0).abs() < 0.5, "{}", s.distance_m);
        assert!((s.fraction - 0.5).abs() < 0.01);
        let seg = idx.segment(s.segment).unwrap();
        assert_eq!((seg.a, seg.b), (0, 1));
        assert_eq!(seg.time_ab_ms, Some(10_000));
        assert_eq!(seg.time_ba_ms, None);
    }

    #[test]
    fn beyond_the_ends_and_off_network() {
        let idx = SnapIndex::build(&line_graph());
        let s = idx.snap(LatLon::new(34.9995, 139.0)).unwrap();
        assert_eq!(s.fraction, 0.0);
        assert!((s.distance_m - 55.6).abs() < 0.5);
        assert!(idx.snap(LatLon::new(35.01, 139.0)).is_none());
        assert!(idx.snap(LatLon::new(35.0, 139.01)).is_none());
        assert!(idx.snap(LatLon::new(f64::NAN, 139.0)).is_none());
        let wide = SnapIndex::build(&line_graph()).with_limit_m(2_000.0);
        let s = wide.snap(LatLon::new(35.0, 139.01)).unwrap();
        assert!(s.distance_m > 900.0);
    }
}
