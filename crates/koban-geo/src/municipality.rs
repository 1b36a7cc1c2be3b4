//! Reverse lookup: point → municipality, over MLIT N03 administrative-area polygons.

use serde::{Deserialize, Serialize};

use crate::{GeoError, GeoPoint};

/// A municipality (市区町村; designated-city wards are separate municipalities).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Municipality {
    /// 5-digit 全国地方公共団体コード without the check digit (`N03_007`), e.g. `13101`.
    pub code: String,
    /// 都道府県名 (`N03_001`).
    pub prefecture: String,
    /// Name in the address-data convention: `千代田区`, `札幌市中央区`, `上川郡比布町`
    /// (county or city from `N03_003` joined with `N03_004` where present).
    pub name: String,
}

#[derive(Debug, Clone)]
struct Area {
    muni: u32,
    /// Rings as flat `(lon, lat)` lists; outer rings and holes alike (even-odd rule).
    rings: Vec<Vec<(f64, f64)>>,
    bbox: [f64; 4], // min_lon, min_lat, max_lon, max_lat
}

/// Point-in-polygon index over municipality boundaries.
///
/// Polygons are bucketed into a regular grid of [`MunicipalityIndex::CELL_DEG`] cells
/// by bounding box; a lookup tests only the polygons of one cell (bbox first, then
/// an even-odd ray cast over all rings, so holes are respected).
#[derive(Debug, Clone)]
pub struct MunicipalityIndex {
    munis: Vec<Municipality>,
    areas: Vec<Area>,
    origin: (f64, f64),
    dims: (usize, usize),
    cells: Vec<Vec<u32>>,
}

#[derive(Deserialize)]
struct Fc {
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    geometry: Option<Geometry>,
    #[serde(default)]
    properties: Props,
}

#[derive(Deserialize)]
#[serde(tag = "type", content = "coordinates")]
enum Geometry {
    Polygon(Vec<Vec<Vec<f64>>>),
    MultiPolygon(Vec<Vec<Vec<Vec<f64>>>>),
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
struct Props {
    #[serde(rename = "N03_001")]
    pref: Option<String>,
    #[serde(rename = "N03_003")]
    county_or_city: Option<String>,
    #[serde(rename = "N03_004")]
    town: Option<String>,
    #[serde(rename = "N03_007")]
    code: Option<String>,
    /// Jurisdiction files: the koban station id owning the polygon.
    station_id: Option<String>,
    /// Jurisdiction files: a display name.
    name: Option<String>,
}

/// Which kind of polygon file is being read.
#[derive(Clone, Copy)]
enum Source {
    N03,
    Jurisdiction,
}

impl MunicipalityIndex {
    /// Grid cell size in degrees.
    pub const CELL_DEG: f64 = 0.05;

    /// Build from an N03 GeoJSON FeatureCollection (Polygon and MultiPolygon features).
    /// Features without a municipality code (所属未定地) are skipped.
    pub fn from_geojson(bytes: &[u8]) -> Result<MunicipalityIndex, GeoError> {
        Self::from_geojson_many(&[bytes])
    }

    /// Build from several N03 GeoJSON files (e.g. the per-prefecture files).
    pub fn from_geojson_many(files: &[&[u8]]) -> Result<MunicipalityIndex, GeoError> {
        Self::read(files, Source::N03)
    }

    fn read(files: &[&[u8]], source: Source) -> Result<MunicipalityIndex, GeoError> {
        let mut munis: Vec<Municipality> = Vec::new();
        let mut by_code: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        let mut areas: Vec<Area> = Vec::new();
        let mut feature_no = 0usize;
        for bytes in files {
            let fc: Fc =
                serde_json::from_slice(bytes).map_err(|e| GeoError::Json(e.to_string()))?;
            for f in fc.features {
                let i = feature_no;
                feature_no += 1;
                let key = match source {
                    Source::N03 => f.properties.code.clone(),
                    Source::Jurisdiction => f.properties.station_id.clone(),
                };
                let Some(code) = key.filter(|c| !c.is_empty()) else {
                    if matches!(source, Source::Jurisdiction) {
                        // A jurisdiction without its station would silently answer nothing.
                        return Err(GeoError::Geometry {
                            feature: i,
                            message: "properties.station_id is required".into(),
                        });
                    }
                    continue;
                };
                let muni = match by_code.get(&code) {
                    Some(&m) => m,
                    None => {
                        let m = munis.len() as u32;
                        let p = &f.properties;
                        let name = match source {
                            Source::N03 => format!(
                                "{}{}",
                                p.county_or_city.as_deref().unwrap_or(""),
                                p.town.as_deref().unwrap_or("")
                            ),
                            Source::Jurisdiction => p.name.clone().unwrap_or_default(),
                        };
                        munis.push(Municipality {
                            code: code.clone(),
                            prefecture: p.pref.clone().unwrap_or_default(),
                            name,
                        });
                        by_code.insert(code, m);
                        m
                    }
                };
                let polys = match f.geometry {
                    Some(Geometry::Polygon(p)) => vec![p],
                    Some(Geometry::MultiPolygon(mp)) => mp,
                    Some(Geometry::Other) | None => continue,
                };
                for poly in polys {
                    let mut rings = Vec::with_capacity(poly.len());
                    for ring in poly {
                        let mut r = Vec::with_capacity(ring.len());
                        for pos in ring {
                            match pos.as_slice() {
                                [lon, lat, ..] if lon.is_finite() && lat.is_finite() => {
                                    r.push((*lon, *lat))
                                }
                                _ => {
                                    return Err(GeoError::Geometry {
                                        feature: i,
                                        message: "bad position".into(),
                                    });
                                }
                            }
                        }
                        if r.len() >= 3 {
                            rings.push(r);
                        }
                    }
                    let Some(outer) = rings.first() else { continue };
                    let mut bbox = [
                        f64::INFINITY,
                        f64::INFINITY,
                        f64::NEG_INFINITY,
                        f64::NEG_INFINITY,
                    ];
                    for &(x, y) in outer {
                        bbox = [
                            bbox[0].min(x),
                            bbox[1].min(y),
                            bbox[2].max(x),
                            bbox[3].max(y),
                        ];
                    }
                    areas.push(Area { muni, rings, bbox });
                }
            }
        }
        Ok(Self::build(munis, areas))
    }

    fn build(munis: Vec<Municipality>, areas: Vec<Area>) -> MunicipalityIndex {
        let mut b = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for a in &areas {
            b = [
                b[0].min(a.bbox[0]),
                b[1].min(a.bbox[1]),
                b[2].max(a.bbox[2]),
                b[3].max(a.bbox[3]),
            ];
        }
        if areas.is_empty() {
            b = [0.0, 0.0, 0.0, 0.0];
        }
        let origin = (b[0], b[1]);
        let nx = (((b[2] - b[0]) / Self::CELL_DEG).floor() as usize + 1).min(4000);
        let ny = (((b[3] - b[1]) / Self::CELL_DEG).floor() as usize + 1).min(4000);
        let mut cells: Vec<Vec<u32>> = vec![Vec::new(); nx * ny];
        for (i, a) in areas.iter().enumerate() {
            let (x0, y0) = cell_of(origin, (nx, ny), a.bbox[0], a.bbox[1]);
            let (x1, y1) = cell_of(origin, (nx, ny), a.bbox[2], a.bbox[3]);
            for y in y0..=y1 {
                for x in x0..=x1 {
                    cells[y * nx + x].push(i as u32);
                }
            }
        }
        MunicipalityIndex {
            munis,
            areas,
            origin,
            dims: (nx, ny),
            cells,
        }
    }

    /// Number of municipalities.
    pub fn len(&self) -> usize {
        self.munis.len()
    }

    /// True when no municipality was loaded.
    pub fn is_empty(&self) -> bool {
        self.munis.is_empty()
    }

    /// All municipalities, in file order.
    pub fn municipalities(&self) -> &[Municipality] {
        &self.munis
    }

    /// Every polygon whose bounding box meets `bbox` (`[min_lon, min_lat, max_lon,
    /// max_lat]`), with its municipality and rings (`(lon, lat)`, outer ring first), for
    /// drawing boundaries on a map.
    pub fn polygons_in_bbox(
        &self,
        bbox: [f64; 4],
    ) -> impl Iterator<Item = (&Municipality, &[Vec<(f64, f64)>])> + '_ {
        self.areas
            .iter()
            .filter(move |a| {
                a.bbox[0] <= bbox[2]
                    && a.bbox[2] >= bbox[0]
                    && a.bbox[1] <= bbox[3]
                    && a.bbox[3] >= bbox[1]
            })
            .map(|a| (&self.munis[a.muni as usize], a.rings.as_slice()))
    }

    /// The municipality containing `p`, or `None` (sea, outside the data, unassigned land).
    pub fn lookup(&self, p: GeoPoint) -> Option<Municipality> {
        self.lookup_ref(p).cloned()
    }

    /// Like [`MunicipalityIndex::lookup`] without cloning.
    pub fn lookup_ref(&self, p: GeoPoint) -> Option<&Municipality> {
        let (x, y) = (p.lon, p.lat);
        if !x.is_finite() || !y.is_finite() {
            return None;
        }
        let (nx, ny) = self.dims;
        let fx = (x - self.origin.0) / Self::CELL_DEG;
        let fy = (y - self.origin.1) / Self::CELL_DEG;
        if fx < 0.0 || fy < 0.0 || fx >= nx as f64 || fy >= ny as f64 {
            return None;
        }
        let cell = &self.cells[fy as usize * nx + fx as usize];
        cell.iter()
            .map(|&i| &self.areas[i as usize])
            .find(|a| {
                x >= a.bbox[0]
                    && x <= a.bbox[2]
                    && y >= a.bbox[1]
                    && y <= a.bbox[3]
                    && contains(&a.rings, x, y)
            })
            .map(|a| &self.munis[a.muni as usize])
    }

    /// The municipality containing `p`, or else the one whose boundary is nearest within
    /// `max_m` metres (for coastal points that the simplified polygons cut off).
    pub fn lookup_nearest(&self, p: GeoPoint, max_m: f64) -> Option<Municipality> {
        if let Some(m) = self.lookup_ref(p) {
            return Some(m.clone());
        }
        if !p.lat.is_finite() || !p.lon.is_finite() || max_m.is_nan() {
            return None;
        }
        let dlat = max_m / 111_000.0;
        let dlon = dlat / p.lat.to_radians().cos().max(0.01);
        let mut best: Option<(f64, u32)> = None;
        for (i, a) in self.areas.iter().enumerate() {
            if p.lon < a.bbox[0] - dlon
                || p.lon > a.bbox[2] + dlon
                || p.lat < a.bbox[1] - dlat
                || p.lat > a.bbox[3] + dlat
            {
                continue;
            }
            for ring in &a.rings {
                for w in ring.windows(2) {
                    let d = seg_dist_m(p, w[0], w[1]);
                    if d <= max_m && best.is_none_or(|(bd, _)| d < bd) {
                        best = Some((d, i as u32));
                    }
                }
            }
        }
        best.map(|(_, i)| self.munis[self.areas[i as usize].muni as usize].clone())
    }
}

fn cell_of(origin: (f64, f64), dims: (usize, usize), x: f64, y: f64) -> (usize, usize) {
    let cx = (((x - origin.0) / MunicipalityIndex::CELL_DEG)
        .floor()
        .max(0.0) as usize)
        .min(dims.0 - 1);
    let cy = (((y - origin.1) / MunicipalityIndex::CELL_DEG)
        .floor()
        .max(0.0) as usize)
        .min(dims.1 - 1);
    (cx, cy)
}

/// Even-odd ray casting over all rings (outer and holes).
fn contains(rings: &[Vec<(f64, f64)>], x: f64, y: f64) -> bool {
    let mut inside = false;
    for ring in rings {
        let n = ring.len();
        let mut j = n - 1;
        for i in 0..n {
            let (xi, yi) = ring[i];
            let (xj, yj) = ring[j];
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            j = i;
        }
    }
    inside
}

/// Approximate distance in metres from `p` to a segment (local equirectangular projection).
fn seg_dist_m(p: GeoPoint, a: (f64, f64), b: (f64, f64)) -> f64 {
    let k = p.lat.to_radians().cos();
    let to_xy = |(lon, lat): (f64, f64)| ((lon - p.lon) * k * 111_195.0, (lat - p.lat) * 111_195.0);
    let (ax, ay) = to_xy(a);
    let (bx, by) = to_xy(b);
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        ((-ax * dx - ay * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cy) = (ax + t * dx, ay + t * dy);
    (cx * cx + cy * cy).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FC: &str = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"N03_001":"東京都","N03_002":null,"N03_003":null,"N03_004":"千代田区","N03_007":"13101"},
       "geometry":{"type":"Polygon","coordinates":[[[139.0,35.0],[140.0,35.0],[140.0,36.0],[139.0,36.0],[139.0,35.0]],
                                                  [[139.4,35.4],[139.6,35.4],[139.6,35.6],[139.4,35.6],[139.4,35.4]]]}},
      {"type":"Feature","properties":{"N03_001":"東京都","N03_002":null,"N03_003":null,"N03_004":"中央区","N03_007":"13102"},
       "geometry":{"type":"MultiPolygon","coordinates":[[[[139.45,35.45],[139.55,35.45],[139.55,35.55],[139.45,35.55],[139.45,35.45]]],
                                                       [[[141.0,35.0],[141.5,35.0],[141.5,35.5],[141.0,35.0]]]]}},
      {"type":"Feature","properties":{"N03_001":"北海道","N03_002":"石狩振興局","N03_003":"札幌市","N03_004":"中央区","N03_007":"01101"},
       "geometry":{"type":"Polygon","coordinates":[[[141.2,43.0],[141.4,43.0],[141.4,43.1],[141.2,43.1],[141.2,43.0]]]}},
      {"type":"Feature","properties":{"N03_001":"東京都","N03_002":null,"N03_003":null,"N03_004":"所属未定地","N03_007":null},
       "geometry":{"type":"Polygon","coordinates":[[[150.0,30.0],[151.0,30.0],[151.0,31.0],[150.0,30.0]]]}}
    ]}"#;

    fn idx() -> MunicipalityIndex {
        match MunicipalityIndex::from_geojson(FC.as_bytes()) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn lookup_with_holes_and_multipolygons() {
        let i = idx();
        assert_eq!(i.len(), 3);
        let name = |lat, lon| i.lookup(GeoPoint::new(lat, lon)).map(|m| m.name);
        assert_eq!(name(35.2, 139.2).as_deref(), Some("千代田区"));
        // In the hole of 千代田区 but outside 中央区's island.
        assert_eq!(name(35.42, 139.42), None);
        // In the hole, inside 中央区.
        assert_eq!(name(35.5, 139.5).as_deref(), Some("中央区"));
        // Second polygon of 中央区 (triangle), and outside it.
        assert_eq!(name(35.1, 141.3).as_deref(), Some("中央区"));
        assert_eq!(name(35.4, 141.1), None);
        let m = i.lookup(GeoPoint::new(43.05, 141.3));
        assert_eq!(m.as_ref().map(|m| m.name.as_str()), Some("札幌市中央区"));
        assert_eq!(m.map(|m| m.code).as_deref(), Some("01101"));
        // Unassigned land and far away: none.
        assert_eq!(name(30.1, 150.5), None);
        assert_eq!(name(0.0, 0.0), None);
        assert_eq!(name(f64::NAN, 139.5), None);
    }

    #[test]
    fn nearest_within_tolerance() {
        let i = idx();
        // 0.001° (~90 m) south of 札幌市中央区's southern edge.
        let p = GeoPoint::new(42.999, 141.3);
        assert_eq!(i.lookup(p), None);
        assert_eq!(
            i.lookup_nearest(p, 200.0).map(|m| m.code).as_deref(),
            Some("01101")
        );
        assert_eq!(i.lookup_nearest(p, 50.0), None);
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(MunicipalityIndex::from_geojson(b"{").is_err());
        assert!(MunicipalityIndex::from_geojson(b"{\"features\":[]}").is_ok_and(|i| i.is_empty()));
    }
}

/// Station jurisdictions (管轄区域): polygons each owned by one police station, from a
/// GeoJSON FeatureCollection whose features carry `properties.station_id` (and optionally
/// `name`). Built on the same grid index as the municipality boundaries.
#[derive(Debug, Clone)]
pub struct JurisdictionIndex(MunicipalityIndex);

impl JurisdictionIndex {
    pub fn from_geojson(bytes: &[u8]) -> Result<JurisdictionIndex, GeoError> {
        MunicipalityIndex::read(&[bytes], Source::Jurisdiction).map(JurisdictionIndex)
    }
    /// Number of stations with a jurisdiction.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Station ids in file order.
    pub fn station_ids(&self) -> impl Iterator<Item = &str> {
        self.0.munis.iter().map(|m| m.code.as_str())
    }
    /// The station whose jurisdiction holds `p`.
    pub fn station_at(&self, p: GeoPoint) -> Option<&str> {
        self.0.lookup_ref(p).map(|m| m.code.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod jurisdiction_tests {
    use super::*;

    #[test]
    fn jurisdictions_answer_by_station() {
        let fc = br#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"station_id":"st-13-a","name":"A"},"geometry":{"type":"Polygon","coordinates":[[[139.0,35.0],[139.1,35.0],[139.1,35.1],[139.0,35.1],[139.0,35.0]]]}},
          {"type":"Feature","properties":{"station_id":"st-13-b"},"geometry":{"type":"MultiPolygon","coordinates":[[[[139.1,35.0],[139.2,35.0],[139.2,35.1],[139.1,35.1],[139.1,35.0]]]]}}
        ]}"#;
        let j = JurisdictionIndex::from_geojson(fc).unwrap();
        assert_eq!(j.len(), 2);
        assert_eq!(
            j.station_at(GeoPoint {
                lat: 35.05,
                lon: 139.05
            }),
            Some("st-13-a")
        );
        assert_eq!(
            j.station_at(GeoPoint {
                lat: 35.05,
                lon: 139.15
            }),
            Some("st-13-b")
        );
        assert_eq!(
            j.station_at(GeoPoint {
                lat: 35.5,
                lon: 139.15
            }),
            None
        );
        let missing = br#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[139.0,35.0],[139.1,35.0],[139.1,35.1],[139.0,35.0]]]}}]}"#;
        assert!(JurisdictionIndex::from_geojson(missing).is_err());
    }
}
