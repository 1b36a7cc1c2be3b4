//! A deterministic synthetic city written as OSM XML, for tests, demonstrations and
//! benchmarks.
//!
//! The city is a jittered grid of residential streets with arterials every fifth and
//! tenth street, some one-way streets (both `oneway=yes` and `oneway=-1`), a few speed
//! zones, non-drivable noise (footways, private service roads, the river itself) and an
//! east–west river that every north–south street stops at except the few that have a
//! bridge. The same parameters and seed always give the same bytes.

use std::fmt::Write as _;
use std::io::Write;

use crate::LatLon;

/// Metres per degree of latitude (mean), for laying out the grid.
const M_PER_DEG_LAT: f64 = 111_195.0;
/// Fraction of the spacing by which intersections are jittered, so travel times are not
/// all tied (ties hide bugs in shortest-path code).
const JITTER_FRACTION: f64 = 0.15;
/// Flush the text buffer to the writer once it is this large.
const FLUSH_BYTES: usize = 1 << 16;

/// Shape of a synthetic city.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthParams {
    /// Streets per side; the city has `grid_n * grid_n` intersections.
    pub grid_n: u32,
    /// Distance between neighbouring streets in metres.
    pub spacing_m: f64,
    /// Centre of the city.
    pub centre: LatLon,
    /// Number of bridges over the river (at least one, at most `grid_n`).
    pub bridges: u32,
    /// Seed for every random choice.
    pub seed: u64,
}

impl SynthParams {
    /// A city of `grid_n × grid_n` intersections 100 m apart around central Tokyo, with
    /// one bridge per 25 streets (at least two).
    pub fn tokyo(grid_n: u32, seed: u64) -> SynthParams {
        SynthParams {
            grid_n,
            spacing_m: 100.0,
            centre: LatLon::new(35.68, 139.76),
            bridges: (grid_n / 25).max(2),
            seed,
        }
    }
}

/// What was generated, for tests that need to know where the river and bridges are.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthCity {
    /// OSM id of the intersection at row `row`, column `col` is `node_id(row, col)`.
    pub grid_n: u32,
    /// The river runs between this row and the next.
    pub river_after_row: u32,
    /// Columns whose north–south street has a bridge.
    pub bridge_cols: Vec<u32>,
    /// Fastest speed on any street, in km/h.
    pub max_speed_kmh: f64,
}

impl SynthCity {
    /// OSM id of the intersection at a row (south to north) and column (west to east).
    pub fn node_id(&self, row: u32, col: u32) -> i64 {
        1 + i64::from(row) * i64::from(self.grid_n) + i64::from(col)
    }
}

/// splitmix64: small, fast and fully determined by the seed.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Class of one street of the grid.
struct Street {
    highway: &'static str,
    maxspeed: Option<u32>,
    oneway: Option<&'static str>,
}

fn street(k: u32, n: u32, rng: &mut Rng) -> Street {
    if k % 10 == 0 {
        return Street {
            highway: "primary",
            maxspeed: Some(60),
            oneway: None,
        };
    }
    if k % 5 == 0 {
        // Half the secondaries carry no maxspeed so the default table is exercised.
        let maxspeed = (rng.unit() < 0.5).then_some(50);
        return Street {
            highway: "secondary",
            maxspeed,
            oneway: None,
        };
    }
    let roll = rng.unit();
    // The outermost streets stay two-way so the city is well connected at its edges.
    let edge = k == n - 1;
    let oneway = if edge {
        None
    } else if roll < 0.15 {
        Some("yes")
    } else if roll < 0.20 {
        Some("-1")
    } else {
        None
    };
    let maxspeed = (rng.unit() < 0.1).then_some(20);
    Street {
        highway: "residential",
        maxspeed,
        oneway,
    }
}

fn write_way(buf: &mut String, id: &mut i64, refs: &[i64], tags: &[(&str, String)]) {
    let _ = writeln!(buf, "  <way id=\"{id}\" version=\"1\">");
    *id += 1;
    for r in refs {
        let _ = writeln!(buf, "    <nd ref=\"{r}\"/>");
    }
    for (k, v) in tags {
        let _ = writeln!(buf, "    <tag k=\"{k}\" v=\"{v}\"/>");
    }
    buf.push_str("  </way>\n");
}

fn street_tags(s: &Street, name: String) -> Vec<(&'static str, String)> {
    let mut tags = vec![("highway", s.highway.to_string()), ("name", name)];
    if let Some(v) = s.maxspeed {
        tags.push(("maxspeed", v.to_string()));
    }
    if let Some(o) = s.oneway {
        tags.push(("oneway", o.to_string()));
    }
    tags
}

fn flush(buf: &mut String, out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(buf.as_bytes())?;
    buf.clear();
    Ok(())
}

/// Writes a synthetic city as OSM XML and returns where its river and bridges are.
///
/// `grid_n` is clamped to at least 2. Deterministic: the same parameters give the same
/// bytes.
pub fn synth_osm(params: &SynthParams, out: &mut impl Write) -> std::io::Result<SynthCity> {
    let n = params.grid_n.max(2);
    let mut rng = Rng(params.seed);
    let mut buf = String::with_capacity(FLUSH_BYTES * 2);
    let lat_step = params.spacing_m / M_PER_DEG_LAT;
    let lon_step = lat_step / params.centre.lat.to_radians().cos().max(0.01);
    let half = f64::from(n - 1) / 2.0;
    let city = SynthCity {
        grid_n: n,
        river_after_row: (n - 1) / 2,
        bridge_cols: bridge_columns(n, params.bridges, &mut rng),
        max_speed_kmh: 60.0,
    };

    buf.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    buf.push_str("<osm version=\"0.6\" generator=\"koban-roads synth\">\n");
    for row in 0..n {
        for col in 0..n {
            let jy = (rng.unit() - 0.5) * 2.0 * JITTER_FRACTION;
            let jx = (rng.unit() - 0.5) * 2.0 * JITTER_FRACTION;
            let lat = params.centre.lat + (f64::from(row) - half + jy) * lat_step;
            let lon = params.centre.lon + (f64::from(col) - half + jx) * lon_step;
            let _ = writeln!(
                buf,
                "  <node id=\"{}\" version=\"1\" lat=\"{lat:.7}\" lon=\"{lon:.7}\"/>",
                city.node_id(row, col)
            );
        }
        if buf.len() > FLUSH_BYTES {
            flush(&mut buf, out)?;
        }
    }
    // The river's own nodes, half-way between its two rows, beyond the grid's id range.
    let river_base = i64::from(n) * i64::from(n) + 1;
    let river_lat = params.centre.lat + (f64::from(city.river_after_row) - half + 0.5) * lat_step;
    for col in 0..n {
        let lon = params.centre.lon + (f64::from(col) - half) * lon_step;
        let _ = writeln!(
            buf,
            "  <node id=\"{}\" version=\"1\" lat=\"{river_lat:.7}\" lon=\"{lon:.7}\"/>",
            river_base + i64::from(col)
        );
    }
    flush(&mut buf, out)?;

    let mut way_id: i64 = 1;
    // East–west streets: one way each, whole width.
    for row in 0..n {
        let s = street(row, n, &mut rng);
        let refs: Vec<i64> = (0..n).map(|col| city.node_id(row, col)).collect();
        write_way(
            &mut buf,
            &mut way_id,
            &refs,
            &street_tags(&s, format!("Row {row}")),
        );
        if buf.len() > FLUSH_BYTES {
            flush(&mut buf, out)?;
        }
    }
    // North–south streets stop at the river on both banks; bridges join the banks.
    let r = city.river_after_row;
    for col in 0..n {
        let s = street(col, n, &mut rng);
        let tags = street_tags(&s, format!("Column {col}"));
        let south: Vec<i64> = (0..=r).map(|row| city.node_id(row, col)).collect();
        let north: Vec<i64> = (r + 1..n).map(|row| city.node_id(row, col)).collect();
        write_way(&mut buf, &mut way_id, &south, &tags);
        if north.len() >= 2 {
            write_way(&mut buf, &mut way_id, &north, &tags);
        }
        if city.bridge_cols.contains(&col) && r + 1 < n {
            let refs = [city.node_id(r, col), city.node_id(r + 1, col)];
            let bridge = vec![
                ("highway", "secondary".to_string()),
                ("bridge", "yes".to_string()),
                ("layer", "1".to_string()),
                ("maxspeed", "40".to_string()),
            ];
            write_way(&mut buf, &mut way_id, &refs, &bridge);
        }
        if buf.len() > FLUSH_BYTES {
            flush(&mut buf, out)?;
        }
    }
    // Noise the importer must skip: the river, footpaths across blocks (some across the
    // river, which must not become crossings), and private service roads.
    let river: Vec<i64> = (0..n).map(|c| river_base + i64::from(c)).collect();
    write_way(
        &mut buf,
        &mut way_id,
        &river,
        &[
            ("waterway", "river".to_string()),
            ("name", "Synth River".to_string()),
        ],
    );
    for k in 0..n.saturating_sub(1) {
        if rng.unit() < 0.3 {
            let a = city.node_id(k, k);
            let b = city.node_id(k + 1, k + 1);
            let kind = if k % 2 == 0 { "footway" } else { "cycleway" };
            write_way(
                &mut buf,
                &mut way_id,
                &[a, b],
                &[("highway", kind.to_string())],
            );
        }
        if rng.unit() < 0.2 {
            let a = city.node_id(k, n - 1 - k);
            let b = city.node_id(k + 1, n - 2 - k.min(n - 2));
            write_way(
                &mut buf,
                &mut way_id,
                &[a, b],
                &[
                    ("highway", "service".to_string()),
                    ("access", "private".to_string()),
                ],
            );
        }
    }
    buf.push_str("</osm>\n");
    flush(&mut buf, out)?;
    Ok(city)
}

/// Evenly spaced bridge columns with a seeded offset.
fn bridge_columns(n: u32, bridges: u32, rng: &mut Rng) -> Vec<u32> {
    let b = bridges.clamp(1, n);
    let stride = n / b;
    let offset = (rng.next_u64() % u64::from(stride.max(1))) as u32;
    (0..b).map(|i| (i * stride + offset).min(n - 1)).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::RoadGraph;

    #[test]
    fn deterministic_for_a_seed() {
        let p = SynthParams::tokyo(12, 7);
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        synth_osm(&p, &mut a).unwrap();
        synth_osm(&p, &mut b).unwrap();
        synth_osm(&SynthParams { seed: 8, ..p }, &mut c).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn imports_with_river_and_oneways() {
        let p = SynthParams::tokyo(20, 3);
        let mut xml = Vec::new();
        let city = synth_osm(&p, &mut xml).unwrap();
        let g = RoadGraph::from_osm_xml(xml.as_slice()).unwrap();
        assert_eq!(g.node_count(), 400);
        assert!(g.report().ways_not_drivable >= 1);
        assert_eq!(g.report().missing_node_refs, 0);
        // Count the arcs that cross the river: exactly two per bridge.
        let r = city.river_after_row;
        let mut crossings = 0;
        for row in [r, r + 1] {
            for col in 0..20 {
                let u = g.node_by_osm_id(city.node_id(row, col)).unwrap();
                let other = if row == r { r + 1 } else { r };
                let v = g.node_by_osm_id(city.node_id(other, col)).unwrap();
                crossings += g.out_arcs(u).iter().filter(|a| a.to == v).count();
            }
        }
        assert_eq!(crossings, 2 * city.bridge_cols.len());
        // Some streets are one-way: fewer arcs than twice the undirected edges.
        let undirected = 2 * 20 * 19 - (20 - city.bridge_cols.len());
        assert!(g.arc_count() < 2 * undirected);
        assert!(g.arc_count() > undirected);
    }
}
