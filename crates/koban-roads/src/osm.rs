//! OpenStreetMap XML import: drivable ways, one-way rules and speeds.

use std::collections::HashMap;
use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::bytes::{ByteReader, put_u64};
use crate::graph::RoadGraph;
use crate::{LatLon, RoadError, haversine_m};

/// Slowest speed an arc may be given, in km/h; a `maxspeed` of 0 or "walk" must not make
/// a street impassable or give infinite times.
pub const MIN_SPEED_KMH: f64 = 5.0;
/// Fastest speed an arc may be given, in km/h; guards against typing errors such as "600".
pub const MAX_SPEED_KMH: f64 = 130.0;
/// Kilometres per mile, for `maxspeed=30 mph`.
const KM_PER_MILE: f64 = 1.609_344;

/// Counts of what an import kept and skipped, so a caller can tell a thin extract from a
/// broken one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// `<node>` elements read.
    pub nodes_read: u64,
    /// `<way>` elements read.
    pub ways_read: u64,
    /// Ways kept as drivable roads.
    pub ways_kept: u64,
    /// Ways skipped because they are not roads for cars (no `highway`, footways, areas…).
    pub ways_not_drivable: u64,
    /// Ways skipped because access is `no` or `private`.
    pub ways_no_access: u64,
    /// `<nd>` references to nodes that the file does not contain.
    pub missing_node_refs: u64,
    /// Kept ways that referenced at least one missing node (their gaps are skipped).
    pub ways_with_missing_nodes: u64,
}

impl ImportReport {
    pub(crate) fn write_bytes(&self, out: &mut Vec<u8>) {
        for v in [
            self.nodes_read,
            self.ways_read,
            self.ways_kept,
            self.ways_not_drivable,
            self.ways_no_access,
            self.missing_node_refs,
            self.ways_with_missing_nodes,
        ] {
            put_u64(out, v);
        }
    }

    pub(crate) fn read_bytes(r: &mut ByteReader<'_>) -> Result<ImportReport, RoadError> {
        Ok(ImportReport {
            nodes_read: r.u64()?,
            ways_read: r.u64()?,
            ways_kept: r.u64()?,
            ways_not_drivable: r.u64()?,
            ways_no_access: r.u64()?,
            missing_node_refs: r.u64()?,
            ways_with_missing_nodes: r.u64()?,
        })
    }
}

/// Default speed for a `highway` class in km/h, or `None` when the class is not
/// drivable.
///
/// The values follow Japanese practice: the legal limit on ordinary roads is 60 km/h and
/// 100 km/h on expressways, while narrow residential streets are usually signed 30.
pub fn default_speed_kmh(highway: &str) -> Option<f64> {
    let kmh = match highway {
        "motorway" => 100.0,
        "motorway_link" => 60.0,
        "trunk" => 60.0,
        "trunk_link" => 40.0,
        "primary" => 60.0,
        "primary_link" => 40.0,
        "secondary" => 50.0,
        "secondary_link" => 40.0,
        "tertiary" => 40.0,
        "tertiary_link" => 30.0,
        "unclassified" => 30.0,
        "residential" => 30.0,
        "service" => 20.0,
        "living_street" => 10.0,
        _ => return None,
    };
    Some(kmh)
}

/// Parses an OSM `maxspeed` value to km/h.
///
/// Understands plain numbers (km/h), `"50 km/h"`, `"30 mph"`, multiple values
/// (`"50;30"`, the first is taken), and zone values of the form `CC:zone`
/// (`JP:urban`, `DE:rural`, `XX:motorway`, `*:living_street`). Returns `None` for values
/// that say nothing usable (`signals`, `variable`, `none`, garbage), in which case the
/// class default applies. The result is clamped to the crate's speed limits.
pub fn parse_maxspeed_kmh(value: &str) -> Option<f64> {
    let v = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if v.is_empty() {
        return None;
    }
    if let Some((country, zone)) = v.split_once(':') {
        let japan = country == "jp";
        let kmh = match zone {
            // Japan's legal limit on ordinary roads is 60 whether urban or rural.
            "urban" | "nsl_single" if japan => 60.0,
            "urban" => 50.0,
            "rural" | "nsl_dual" if japan => 60.0,
            "rural" | "nsl_single" | "nsl_dual" => 80.0,
            "motorway" | "expressway" => 100.0,
            "living_street" => 10.0,
            "bicycle_road" | "zone30" | "zone:30" => 30.0,
            _ => return None,
        };
        return Some(kmh);
    }
    if v == "walk" {
        return Some(MIN_SPEED_KMH);
    }
    let (number, factor) = if let Some(n) = v.strip_suffix("mph") {
        (n.trim(), KM_PER_MILE)
    } else if let Some(n) = v
        .strip_suffix("km/h")
        .or_else(|| v.strip_suffix("kmh"))
        .or_else(|| v.strip_suffix("kph"))
    {
        (n.trim(), 1.0)
    } else {
        (v.as_str(), 1.0)
    };
    let n: f64 = number.parse().ok()?;
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    Some((n * factor).clamp(MIN_SPEED_KMH, MAX_SPEED_KMH))
}

/// Direction a way may be driven in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Both,
    Forward,
    Backward,
}

/// The tags of a way that the import looks at.
#[derive(Debug, Default)]
struct WayTags {
    highway: Option<String>,
    oneway: Option<String>,
    junction: Option<String>,
    maxspeed: Option<String>,
    access: Option<String>,
    motor_vehicle: Option<String>,
    area: Option<String>,
}

impl WayTags {
    fn set(&mut self, k: &str, v: String) {
        match k {
            "highway" => self.highway = Some(v),
            "oneway" => self.oneway = Some(v),
            "junction" => self.junction = Some(v),
            "maxspeed" => self.maxspeed = Some(v),
            "access" => self.access = Some(v),
            "motor_vehicle" | "motorcar" => self.motor_vehicle = Some(v),
            "area" => self.area = Some(v),
            _ => {}
        }
    }

    fn direction(&self) -> Direction {
        match self.oneway.as_deref() {
            Some("yes" | "true" | "1") => return Direction::Forward,
            Some("-1" | "reverse") => return Direction::Backward,
            Some("no" | "false" | "0") => return Direction::Both,
            _ => {}
        }
        // Motorways and roundabouts are one-way without saying so.
        let implied = matches!(self.highway.as_deref(), Some("motorway"))
            || matches!(self.junction.as_deref(), Some("roundabout" | "circular"));
        if implied {
            Direction::Forward
        } else {
            Direction::Both
        }
    }
}

/// Outcome of classifying a way.
enum Verdict {
    Keep { speed_kmh: f64, dir: Direction },
    NotDrivable,
    NoAccess,
}

fn classify(tags: &WayTags) -> Verdict {
    let Some(default) = tags.highway.as_deref().and_then(default_speed_kmh) else {
        return Verdict::NotDrivable;
    };
    if tags.area.as_deref() == Some("yes") {
        return Verdict::NotDrivable;
    }
    let closed = |v: &Option<String>| matches!(v.as_deref(), Some("no" | "private"));
    if closed(&tags.access) || closed(&tags.motor_vehicle) {
        return Verdict::NoAccess;
    }
    let speed_kmh = tags
        .maxspeed
        .as_deref()
        .and_then(parse_maxspeed_kmh)
        .unwrap_or(default);
    Verdict::Keep {
        speed_kmh,
        dir: tags.direction(),
    }
}

/// Travel time in milliseconds for a length at a speed, at least 1 so every arc costs
/// something.
pub(crate) fn time_ms(length_m: f64, speed_kmh: f64) -> u32 {
    let ms = length_m / (speed_kmh / 3.6) * 1000.0;
    (ms.round().clamp(1.0, f64::from(u32::MAX / 4))) as u32
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, RoadError> {
    for a in e.attributes() {
        let a = a.map_err(|err| RoadError::Xml(err.to_string()))?;
        if a.key.as_ref() == name {
            let v = a
                .unescape_value()
                .map_err(|err| RoadError::Xml(err.to_string()))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

fn parse_num<T: std::str::FromStr>(v: Option<String>, what: &str) -> Result<T, RoadError> {
    v.as_deref()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| RoadError::Osm(format!("missing or bad {what}")))
}

/// A way being read.
#[derive(Default)]
struct OpenWay {
    refs: Vec<i64>,
    tags: WayTags,
}

impl RoadGraph {
    /// Reads OpenStreetMap XML (`<osm>` with `<node>` and `<way>` elements) into a graph.
    ///
    /// Keeps ways whose `highway` class is drivable (see [`default_speed_kmh`]) unless
    /// `area=yes` or access is `no`/`private`; honours `oneway` (`yes`/`true`/`1`/`-1`,
    /// implied on motorways and roundabouts); takes speeds from `maxspeed` or the class
    /// default. A way that references nodes the file lacks keeps the segments between
    /// known nodes; the gaps are counted in [`RoadGraph::report`]. Relations are ignored.
    pub fn from_osm_xml(reader: impl BufRead) -> Result<RoadGraph, RoadError> {
        let mut xml = Reader::from_reader(reader);
        let mut buf = Vec::new();
        let mut positions: HashMap<i64, LatLon> = HashMap::new();
        let mut report = ImportReport::default();
        let mut way: Option<OpenWay> = None;
        // Kept ways: node refs, speed and direction; resolved after all nodes are known,
        // because a file is not obliged to put nodes first.
        let mut kept: Vec<(Vec<i64>, f64, Direction)> = Vec::new();

        loop {
            let event = xml
                .read_event_into(&mut buf)
                .map_err(|e| RoadError::Xml(format!("at byte {}: {e}", xml.buffer_position())))?;
            let (e, empty) = match &event {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(e) => {
                    if e.name().as_ref() == b"way"
                        && let Some(w) = way.take()
                    {
                        finish_way(w, &mut report, &mut kept);
                    }
                    buf.clear();
                    continue;
                }
                Event::Eof => break,
                _ => {
                    buf.clear();
                    continue;
                }
            };
            match e.name().as_ref() {
                b"node" => {
                    report.nodes_read += 1;
                    let id: i64 = parse_num(attr(e, b"id")?, "node id")?;
                    let lat: f64 = parse_num(attr(e, b"lat")?, "node lat")?;
                    let lon: f64 = parse_num(attr(e, b"lon")?, "node lon")?;
                    let p = LatLon::new(lat, lon);
                    if !p.is_valid() {
                        return Err(RoadError::Osm(format!("node {id} position out of range")));
                    }
                    positions.insert(id, p);
                }
                b"way" => {
                    report.ways_read += 1;
                    let w = OpenWay::default();
                    if empty {
                        finish_way(w, &mut report, &mut kept);
                    } else {
                        way = Some(w);
                    }
                }
                b"nd" => {
                    if let Some(w) = way.as_mut() {
                        w.refs.push(parse_num(attr(e, b"ref")?, "nd ref")?);
                    }
                }
                b"tag" => {
                    if let Some(w) = way.as_mut()
                        && let (Some(k), Some(v)) = (attr(e, b"k")?, attr(e, b"v")?)
                    {
                        w.tags.set(&k, v);
                    }
                }
                _ => {}
            }
            buf.clear();
        }

        build_graph(&positions, kept, report)
    }
}

impl RoadGraph {
    /// Reads an OpenStreetMap PBF extract (`.osm.pbf`, the format Geofabrik and the
    /// planet dumps come in) with the same rules as [`RoadGraph::from_osm_xml`].
    pub fn from_osm_pbf(reader: impl std::io::Read + Send) -> Result<RoadGraph, RoadError> {
        use osmpbf::{Element, ElementReader};
        let mut positions: HashMap<i64, LatLon> = HashMap::new();
        let mut report = ImportReport::default();
        let mut kept: Vec<(Vec<i64>, f64, Direction)> = Vec::new();
        let mut bad: Option<String> = None;
        let mut node = |id: i64, lat: f64, lon: f64, report: &mut ImportReport| {
            report.nodes_read += 1;
            let p = LatLon::new(lat, lon);
            if p.is_valid() {
                positions.insert(id, p);
                None
            } else {
                Some(format!("node {id} position out of range"))
            }
        };
        ElementReader::new(reader)
            .for_each(|element| {
                if bad.is_some() {
                    return;
                }
                match element {
                    Element::Node(n) => bad = node(n.id(), n.lat(), n.lon(), &mut report),
                    Element::DenseNode(n) => bad = node(n.id(), n.lat(), n.lon(), &mut report),
                    Element::Way(w) => {
                        report.ways_read += 1;
                        let mut open = OpenWay {
                            refs: w.refs().collect(),
                            tags: WayTags::default(),
                        };
                        for (k, v) in w.tags() {
                            open.tags.set(k, v.to_string());
                        }
                        finish_way(open, &mut report, &mut kept);
                    }
                    Element::Relation(_) => {}
                }
            })
            .map_err(|e| RoadError::Osm(format!("PBF: {e}")))?;
        if let Some(message) = bad {
            return Err(RoadError::Osm(message));
        }
        build_graph(&positions, kept, report)
    }

    /// Reads either format, told apart by the first byte: XML starts with `<` (after any
    /// whitespace or byte-order mark); a PBF file starts with a binary length.
    pub fn from_osm_bytes(bytes: &[u8]) -> Result<RoadGraph, RoadError> {
        let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'<') => RoadGraph::from_osm_xml(body),
            Some(_) => RoadGraph::from_osm_pbf(body),
            None => Err(RoadError::Osm("the file is empty".into())),
        }
    }
}

fn finish_way(w: OpenWay, report: &mut ImportReport, kept: &mut Vec<(Vec<i64>, f64, Direction)>) {
    match classify(&w.tags) {
        Verdict::NotDrivable => report.ways_not_drivable += 1,
        Verdict::NoAccess => report.ways_no_access += 1,
        Verdict::Keep { speed_kmh, dir } => {
            report.ways_kept += 1;
            kept.push((w.refs, speed_kmh, dir));
        }
    }
}

fn build_graph(
    positions: &HashMap<i64, LatLon>,
    kept: Vec<(Vec<i64>, f64, Direction)>,
    mut report: ImportReport,
) -> Result<RoadGraph, RoadError> {
    let mut dense: HashMap<i64, u32> = HashMap::new();
    let mut coords = Vec::new();
    let mut osm_ids = Vec::new();
    let mut arcs: Vec<(u32, u32, u32, f32)> = Vec::new();
    for (refs, speed_kmh, dir) in kept {
        let mut missing = 0u64;
        let mut prev: Option<(u32, LatLon)> = None;
        for id in refs {
            let Some(&p) = positions.get(&id) else {
                missing += 1;
                prev = None;
                continue;
            };
            let v = *dense.entry(id).or_insert_with(|| {
                coords.push(p);
                osm_ids.push(id);
                (coords.len() - 1) as u32
            });
            if let Some((u, pu)) = prev
                && u != v
            {
                let length_m = haversine_m(pu, p);
                let t = time_ms(length_m, speed_kmh);
                if dir != Direction::Backward {
                    arcs.push((u, v, t, length_m as f32));
                }
                if dir != Direction::Forward {
                    arcs.push((v, u, t, length_m as f32));
                }
            }
            prev = Some((v, p));
        }
        if missing > 0 {
            report.missing_node_refs += missing;
            report.ways_with_missing_nodes += 1;
        }
    }
    RoadGraph::from_parts(coords, osm_ids, &arcs, report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn graph(xml: &str) -> RoadGraph {
        match RoadGraph::from_osm_xml(xml.as_bytes()) {
            Ok(g) => g,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    fn three_nodes(way_tags: &str) -> String {
        format!(
            r#"<?xml version="1.0"?><osm version="0.6">
            <node id="1" lat="35.0" lon="139.0"/>
            <node id="2" lat="35.001" lon="139.0"/>
            <node id="3" lat="35.002" lon="139.0"><tag k="highway" v="traffic_signals"/></node>
            <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/>{way_tags}</way>
            </osm>"#
        )
    }

    fn arc(g: &RoadGraph, from: i64, to: i64) -> Option<GraphArcCopy> {
        let u = g.node_by_osm_id(from)?;
        let v = g.node_by_osm_id(to)?;
        g.out_arcs(u)
            .iter()
            .find(|a| a.to == v)
            .map(|a| GraphArcCopy {
                time_ms: a.time_ms,
                length_m: a.length_m,
            })
    }

    struct GraphArcCopy {
        time_ms: u32,
        length_m: f32,
    }

    #[test]
    fn two_way_residential_uses_default_speed() {
        let g = graph(&three_nodes(r#"<tag k="highway" v="residential"/>"#));
        assert_eq!(g.node_count(), 3);
        assert_eq!(g.arc_count(), 4);
        let a = arc(&g, 1, 2).unwrap();
        // 0.001 degrees of latitude is about 111.2 m; at 30 km/h that is about 13.3 s.
        assert!((a.length_m - 111.2).abs() < 0.5, "{}", a.length_m);
        assert!((a.time_ms as f64 - 13_343.0).abs() < 60.0, "{}", a.time_ms);
        assert!(arc(&g, 2, 1).is_some());
    }

    #[test]
    fn oneway_values() {
        for (tags, fwd, bwd) in [
            (
                r#"<tag k="highway" v="residential"/><tag k="oneway" v="yes"/>"#,
                true,
                false,
            ),
            (
                r#"<tag k="highway" v="residential"/><tag k="oneway" v="true"/>"#,
                true,
                false,
            ),
            (
                r#"<tag k="highway" v="residential"/><tag k="oneway" v="1"/>"#,
                true,
                false,
            ),
            (
                r#"<tag k="highway" v="residential"/><tag k="oneway" v="-1"/>"#,
                false,
                true,
            ),
            (r#"<tag k="highway" v="motorway"/>"#, true, false),
            (
                r#"<tag k="highway" v="motorway"/><tag k="oneway" v="no"/>"#,
                true,
                true,
            ),
            (
                r#"<tag k="highway" v="primary"/><tag k="junction" v="roundabout"/>"#,
                true,
                false,
            ),
            (
                r#"<tag k="highway" v="primary"/><tag k="oneway" v="no"/>"#,
                true,
                true,
            ),
        ] {
            let g = graph(&three_nodes(tags));
            assert_eq!(arc(&g, 1, 2).is_some(), fwd, "{tags}");
            assert_eq!(arc(&g, 2, 3).is_some(), fwd, "{tags}");
            assert_eq!(arc(&g, 2, 1).is_some(), bwd, "{tags}");
            assert_eq!(arc(&g, 3, 2).is_some(), bwd, "{tags}");
        }
    }

    #[test]
    fn skipped_ways() {
        for tags in [
            r#"<tag k="highway" v="footway"/>"#,
            r#"<tag k="highway" v="cycleway"/>"#,
            r#"<tag k="highway" v="path"/>"#,
            r#"<tag k="highway" v="steps"/>"#,
            r#"<tag k="highway" v="pedestrian"/>"#,
            r#"<tag k="waterway" v="river"/>"#,
            r#"<tag k="highway" v="service"/><tag k="area" v="yes"/>"#,
        ] {
            let g = graph(&three_nodes(tags));
            assert_eq!(g.arc_count(), 0, "{tags}");
            assert_eq!(g.report().ways_not_drivable, 1, "{tags}");
        }
        for tags in [
            r#"<tag k="highway" v="service"/><tag k="access" v="private"/>"#,
            r#"<tag k="highway" v="residential"/><tag k="access" v="no"/>"#,
            r#"<tag k="highway" v="residential"/><tag k="motor_vehicle" v="no"/>"#,
        ] {
            let g = graph(&three_nodes(tags));
            assert_eq!(g.arc_count(), 0, "{tags}");
            assert_eq!(g.report().ways_no_access, 1, "{tags}");
        }
    }

    #[test]
    fn maxspeed_values() {
        assert_eq!(parse_maxspeed_kmh("40"), Some(40.0));
        assert_eq!(parse_maxspeed_kmh("40 km/h"), Some(40.0));
        assert_eq!(parse_maxspeed_kmh("50;30"), Some(50.0));
        let mph = parse_maxspeed_kmh("30 mph").unwrap();
        assert!((mph - 48.28).abs() < 0.01);
        assert_eq!(parse_maxspeed_kmh("JP:urban"), Some(60.0));
        assert_eq!(parse_maxspeed_kmh("DE:urban"), Some(50.0));
        assert_eq!(parse_maxspeed_kmh("JP:motorway"), Some(100.0));
        assert_eq!(parse_maxspeed_kmh("signals"), None);
        assert_eq!(parse_maxspeed_kmh("none"), None);
        assert_eq!(parse_maxspeed_kmh("0"), None);
        assert_eq!(parse_maxspeed_kmh("999"), Some(MAX_SPEED_KMH));
        assert_eq!(parse_maxspeed_kmh("walk"), Some(MIN_SPEED_KMH));

        let g60 = graph(&three_nodes(
            r#"<tag k="highway" v="residential"/><tag k="maxspeed" v="60"/>"#,
        ));
        let g30 = graph(&three_nodes(r#"<tag k="highway" v="residential"/>"#));
        let t60 = arc(&g60, 1, 2).unwrap().time_ms;
        let t30 = arc(&g30, 1, 2).unwrap().time_ms;
        assert!((i64::from(t30) - 2 * i64::from(t60)).abs() <= 2);
        let gbad = graph(&three_nodes(
            r#"<tag k="highway" v="secondary"/><tag k="maxspeed" v="signals"/>"#,
        ));
        let g50 = graph(&three_nodes(
            r#"<tag k="highway" v="secondary"/><tag k="maxspeed" v="50"/>"#,
        ));
        assert_eq!(
            arc(&gbad, 1, 2).unwrap().time_ms,
            arc(&g50, 1, 2).unwrap().time_ms
        );
    }

    #[test]
    fn missing_nodes_split_the_way() {
        let xml = r#"<osm version="0.6">
            <node id="1" lat="35.0" lon="139.0"/>
            <node id="2" lat="35.001" lon="139.0"/>
            <node id="4" lat="35.003" lon="139.0"/>
            <node id="5" lat="35.004" lon="139.0"/>
            <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="5"/>
              <tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>
            </osm>"#;
        let g = graph(xml);
        assert_eq!(g.report().missing_node_refs, 1);
        assert_eq!(g.report().ways_with_missing_nodes, 1);
        assert!(arc(&g, 1, 2).is_some());
        assert!(arc(&g, 4, 5).is_some());
        assert!(arc(&g, 2, 4).is_none());
        assert_eq!(g.arc_count(), 2);
    }

    #[test]
    fn ways_before_nodes_and_escapes() {
        let xml = r#"<osm version="0.6">
            <way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/>
              <tag k="name" v="A &amp; B"/></way>
            <node id="1" lat="35.0" lon="139.0"/>
            <node id="2" lat="35.001" lon="139.0"/>
            </osm>"#;
        let g = graph(xml);
        assert_eq!(g.arc_count(), 2);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(
            RoadGraph::from_osm_xml(&b"<osm><node id=\"x\" lat=\"1\" lon=\"2\"/></osm>"[..])
                .is_err()
        );
        assert!(
            RoadGraph::from_osm_xml(&b"<osm><node id=\"1\" lat=\"91\" lon=\"2\"/></osm>"[..])
                .is_err()
        );
        assert!(RoadGraph::from_osm_xml(&b"<osm><way></node></osm>"[..]).is_err());
    }
}
