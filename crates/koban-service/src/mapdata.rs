//! Map layers for the console, generated from the imported reference data: municipality
//! boundaries and the road network inside a bounding box, as GeoJSON. Like the other
//! lookups of public reference data they need a session with `GeoRead` and are not
//! audited (they touch no police data).

use serde_json::{Value, json};

use crate::{Koban, ServiceError};

/// Widest bounding box (degrees, either side) for boundaries.
pub const MAX_BOUNDARY_SPAN_DEG: f64 = 6.0;
/// Widest bounding box (degrees, either side) for roads.
pub const MAX_ROAD_SPAN_DEG: f64 = 0.6;
/// Most road segments in one answer; beyond it the answer says `truncated`.
pub const MAX_ROAD_SEGMENTS: usize = 60_000;
/// Most polygon vertices in one answer; beyond it the answer says `truncated`.
pub const MAX_BOUNDARY_VERTICES: usize = 400_000;

/// A bounding box `[min_lon, min_lat, max_lon, max_lat]`.
pub type BBox = [f64; 4];

/// Parses `min_lon,min_lat,max_lon,max_lat` and checks it against `max_span` degrees.
pub fn parse_bbox(text: &str, max_span: f64) -> Result<BBox, ServiceError> {
    let bad = |m: &str| ServiceError::invalid("bbox", "invalid_bbox", m.to_string());
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("bbox is min_lon,min_lat,max_lon,max_lat in degrees"))?;
    let [a, b, c, d] = parts.as_slice() else {
        return Err(bad("bbox is min_lon,min_lat,max_lon,max_lat in degrees"));
    };
    let bbox = [*a, *b, *c, *d];
    if bbox.iter().any(|v| !v.is_finite())
        || !(-180.0..=180.0).contains(a)
        || !(-180.0..=180.0).contains(c)
        || !(-90.0..=90.0).contains(b)
        || !(-90.0..=90.0).contains(d)
        || a >= c
        || b >= d
    {
        return Err(bad(
            "bbox must be min_lon,min_lat,max_lon,max_lat with min < max",
        ));
    }
    if c - a > max_span || d - b > max_span {
        return Err(ServiceError::invalid(
            "bbox",
            "bbox_too_large",
            format!("bbox may span at most {max_span} degrees each way"),
        ));
    }
    Ok(bbox)
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Drops vertices closer than `tol` degrees to the last kept one (keeps both ends).
fn thin(ring: &[(f64, f64)], tol: f64) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = Vec::with_capacity(ring.len());
    let last = ring.len().saturating_sub(1);
    for (i, &(x, y)) in ring.iter().enumerate() {
        let keep = match out.last() {
            None => true,
            Some(p) => i == last || (p[0] - x).abs() > tol || (p[1] - y).abs() > tol,
        };
        if keep {
            out.push([round6(x), round6(y)]);
        }
    }
    out
}

/// Joins segments that meet end to end and run on in nearly the same direction into
/// polylines: far fewer line ends and joins for a map to tessellate than loose segments.
fn chain(segments: &[[[f64; 2]; 2]]) -> Vec<Vec<[f64; 2]>> {
    use std::collections::HashMap;
    let key = |p: [f64; 2]| ((p[0] * 1e6).round() as i64, (p[1] * 1e6).round() as i64);
    let mut at: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for (i, s) in segments.iter().enumerate() {
        at.entry(key(s[0])).or_default().push(i);
        at.entry(key(s[1])).or_default().push(i);
    }
    let mut used = vec![false; segments.len()];
    let dir = |a: [f64; 2], b: [f64; 2]| (b[1] - a[1]).atan2(b[0] - a[0]);
    // Extends `line` from its last point while a straight-ahead unused segment exists.
    let extend = |line: &mut Vec<[f64; 2]>, used: &mut Vec<bool>| {
        while let [.., prev, last] = line.as_slice() {
            let (prev, last) = (*prev, *last);
            let heading = dir(prev, last);
            let next = at.get(&key(last)).and_then(|cands| {
                cands
                    .iter()
                    .filter(|&&j| !used[j])
                    .map(|&j| {
                        let s = segments[j];
                        let far = if key(s[0]) == key(last) { s[1] } else { s[0] };
                        let mut turn = (dir(last, far) - heading).abs();
                        if turn > std::f64::consts::PI {
                            turn = 2.0 * std::f64::consts::PI - turn;
                        }
                        (j, far, turn)
                    })
                    .filter(|&(_, _, turn)| turn < 0.6)
                    .min_by(|a, b| a.2.total_cmp(&b.2))
            });
            match next {
                Some((j, far, _)) => {
                    used[j] = true;
                    line.push(far);
                }
                None => break,
            }
        }
    };
    let mut lines = Vec::new();
    for i in 0..segments.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        let mut line = vec![segments[i][0], segments[i][1]];
        extend(&mut line, &mut used);
        line.reverse();
        extend(&mut line, &mut used);
        lines.push(line);
    }
    lines
}

impl Koban {
    /// Municipality boundaries meeting `bbox`, as a GeoJSON FeatureCollection of
    /// polygons (properties `code`, `name`, `prefecture`), thinned to the box's scale.
    pub async fn boundaries_geojson(&self, token: &str, bbox: BBox) -> Result<Value, ServiceError> {
        self.geo_caller(token).await?;
        let index = self.municipality_index().ok_or(ServiceError::Unavailable {
            code: "reference_data_missing",
            message: "no municipality boundaries have been imported (koban import boundaries)"
                .into(),
        })?;
        // About one vertex per screen pixel of a 2000-pixel-wide view.
        let tol = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]) / 2000.0;
        let mut vertices = 0usize;
        let mut truncated = false;
        let mut features = Vec::new();
        for (m, rings) in index.polygons_in_bbox(bbox) {
            let rings: Vec<Vec<[f64; 2]>> = rings
                .iter()
                .map(|r| thin(r, tol))
                .filter(|r| r.len() >= 4)
                .collect();
            if rings.is_empty() {
                continue;
            }
            vertices += rings.iter().map(Vec::len).sum::<usize>();
            if vertices > MAX_BOUNDARY_VERTICES {
                truncated = true;
                break;
            }
            features.push(json!({
                "type": "Feature",
                "properties": {"code": m.code, "name": m.name, "prefecture": m.prefecture},
                "geometry": {"type": "Polygon", "coordinates": rings},
            }));
        }
        Ok(json!({"type": "FeatureCollection", "truncated": truncated, "features": features}))
    }

    /// Road segments with an end inside `bbox`, as a GeoJSON FeatureCollection of two
    /// MultiLineStrings: `class` `major` (60 km/h and more) and `minor`; `oneway` segments
    /// are in their own features so a map can mark them.
    pub async fn roads_geojson(&self, token: &str, bbox: BBox) -> Result<Value, ServiceError> {
        self.geo_caller(token).await?;
        let router = self.road_router().ok_or(ServiceError::Unavailable {
            code: "reference_data_missing",
            message: "no road network has been imported (koban import roads)".into(),
        })?;
        let g = router.graph();
        let inside = |p: koban_roads::LatLon| {
            p.lon >= bbox[0] && p.lon <= bbox[2] && p.lat >= bbox[1] && p.lat <= bbox[3]
        };
        // [major two-way, minor two-way, major one-way, minor one-way]
        let mut groups: [Vec<[[f64; 2]; 2]>; 4] = Default::default();
        let mut count = 0usize;
        let mut truncated = false;
        'nodes: for u in 0..g.node_count() as u32 {
            let Some(pu) = g.coord(u) else { continue };
            for arc in g.out_arcs(u) {
                let Some(pv) = g.coord(arc.to) else { continue };
                if !inside(pu) && !inside(pv) {
                    continue;
                }
                let two_way = g.out_arcs(arc.to).iter().any(|b| b.to == u);
                if two_way && arc.to < u {
                    continue; // drawn from the other end
                }
                let kmh = f64::from(arc.length_m) / (f64::from(arc.time_ms.max(1)) / 1000.0) * 3.6;
                let major = kmh >= 55.0;
                let slot = match (two_way, major) {
                    (true, true) => 0,
                    (true, false) => 1,
                    (false, true) => 2,
                    (false, false) => 3,
                };
                groups[slot].push([
                    [round6(pu.lon), round6(pu.lat)],
                    [round6(pv.lon), round6(pv.lat)],
                ]);
                count += 1;
                if count >= MAX_ROAD_SEGMENTS {
                    truncated = true;
                    break 'nodes;
                }
            }
        }
        let names = [
            ("major", false),
            ("minor", false),
            ("major", true),
            ("minor", true),
        ];
        let features: Vec<Value> = groups
            .iter()
            .zip(names)
            .filter(|(g, _)| !g.is_empty())
            .map(|(g, (class, oneway))| {
                json!({
                    "type": "Feature",
                    "properties": {"class": class, "oneway": oneway},
                    "geometry": {"type": "MultiLineString", "coordinates": chain(g)},
                })
            })
            .collect();
        Ok(json!({
            "type": "FeatureCollection",
            "segments": count,
            "truncated": truncated,
            "features": features,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbox_parsing() {
        let b = parse_bbox("139.7,35.6,139.8,35.7", 1.0);
        assert!(matches!(b, Ok([a, _, _, _]) if (a - 139.7).abs() < 1e-9));
        assert!(parse_bbox("139.8,35.6,139.7,35.7", 1.0).is_err());
        assert!(parse_bbox("1,2,3", 1.0).is_err());
        assert!(parse_bbox("x,2,3,4", 1.0).is_err());
        assert!(parse_bbox("130,30,140,40", 1.0).is_err());
        assert!(parse_bbox("NaN,30,140,40", 100.0).is_err());
    }

    #[test]
    fn straight_segments_chain_into_one_line() {
        let segs = [
            [[0.0, 0.0], [1.0, 0.0]],
            [[1.0, 0.0], [2.0, 0.0]],
            [[1.0, 0.0], [1.0, 1.0]],
            [[3.0, 0.0], [2.0, 0.0]],
        ];
        let lines = chain(&segs);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines.iter().map(Vec::len).max(), Some(4));
        assert_eq!(lines.iter().map(Vec::len).sum::<usize>(), 6);
    }

    #[test]
    fn thinning_keeps_the_ends() {
        let ring = [
            (0.0, 0.0),
            (0.00001, 0.0),
            (1.0, 0.0),
            (1.0, 1.0),
            (0.0, 0.0),
        ];
        let t = thin(&ring, 0.001);
        assert_eq!(t.len(), 4);
        assert_eq!(t.first(), t.last());
    }
}
