//! koban-geo: the "where" of 110 command & dispatch.
//!
//! * Forward geocoding of Japanese addresses ([`AddressIndex`]) to a representative
//!   point with a [`MatchLevel`] (prefecture, municipality, 大字・町丁目, 小字).
//! * Reverse lookup of a point to its municipality ([`MunicipalityIndex`]) by
//!   point-in-polygon over MLIT N03 administrative areas.
//! * Small helpers: [`normalize_address`], [`is_in_japan`], [`distance_m`].
//!
//! The crate is pure computation over data passed in (readers and byte slices);
//! it never opens files, touches the network or reads the clock.
//!
//! Data credits (when used with the reference data): 「国土数値情報（行政区域データ）
//! （国土交通省）を加工して作成」 (CC BY 4.0) and Geolonia 住所データ (CC BY 4.0).

mod address;
mod municipality;
mod normalize;

use serde::{Deserialize, Serialize};

pub use address::AddressIndex;
pub use municipality::{JurisdictionIndex, Municipality, MunicipalityIndex};
pub use normalize::normalize_address;

/// A WGS84 point in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
}

impl GeoPoint {
    /// Build a point from latitude and longitude.
    pub const fn new(lat: f64, lon: f64) -> Self {
        Self { lat, lon }
    }
}

/// How deep into the address hierarchy a candidate matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchLevel {
    /// Only the prefecture (都道府県) is known.
    Prefecture,
    /// The municipality (市区町村; designated-city ward or whole city) is known.
    Municipality,
    /// 大字・町丁目 (town / chōme) is known.
    Oaza,
    /// 小字・通称 is known.
    Koaza,
}

/// One geocoding candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// 都道府県名, e.g. `東京都`.
    pub prefecture: String,
    /// 市区町村名 as in the address data, e.g. `千代田区`, `札幌市中央区`, `上川郡比布町`.
    pub municipality: String,
    /// 大字・町丁目名, e.g. `丸の内一丁目`.
    pub town: Option<String>,
    /// 小字・通称名.
    pub koaza: Option<String>,
    /// Representative point of the matched area.
    pub point: GeoPoint,
    /// How deep the match went. A town found by name whose data row has no published
    /// point (a few hundred Geolonia rows) keeps `town` but reports `Municipality`,
    /// because its point is the municipality's.
    pub level: MatchLevel,
    /// Relative score in `0.0..=1.0`; higher is better. Only comparable within one result.
    pub score: f64,
}

/// The answer of [`AddressIndex::geocode`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeocodeResult {
    /// The single best candidate, only when the query resolved unambiguously.
    pub best: Option<Candidate>,
    /// Up to `max_candidates` candidates, best first.
    pub candidates: Vec<Candidate>,
    /// The unparsed tail of the normalised query (番地・号, building names, ...), e.g. `9-1`.
    pub remainder: String,
    /// The query after [`normalize_address`].
    pub normalized: String,
}

/// Errors while loading address or boundary data.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The CSV could not be read or parsed.
    #[error("address CSV line {line}: {message}")]
    Csv {
        /// 1-based line number (0 when unknown).
        line: u64,
        /// What went wrong.
        message: String,
    },
    /// A required CSV column is missing from the header.
    #[error("address CSV: missing column {0:?}")]
    MissingColumn(String),
    /// A latitude/longitude value is not a usable number.
    #[error("address CSV line {line}: bad {field} {value:?}")]
    BadCoordinate {
        /// 1-based line number.
        line: u64,
        /// `緯度` or `経度`.
        field: &'static str,
        /// The offending text.
        value: String,
    },
    /// The GeoJSON could not be parsed.
    #[error("GeoJSON: {0}")]
    Json(String),
    /// A feature's geometry is unusable.
    #[error("GeoJSON feature {feature}: {message}")]
    Geometry {
        /// 0-based feature index.
        feature: usize,
        /// What went wrong.
        message: String,
    },
}

/// Coarse check that a point lies in Japan's bounding box (lat 20–46, lon 122–154).
pub fn is_in_japan(p: GeoPoint) -> bool {
    (20.0..=46.0).contains(&p.lat) && (122.0..=154.0).contains(&p.lon)
}

/// Great-circle distance in metres (haversine, mean Earth radius 6,371,008.8 m).
pub fn distance_m(a: GeoPoint, b: GeoPoint) -> f64 {
    const R: f64 = 6_371_008.8;
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japan_bounds() {
        assert!(is_in_japan(GeoPoint::new(35.6812, 139.7671)));
        assert!(!is_in_japan(GeoPoint::new(51.5, -0.1)));
        assert!(!is_in_japan(GeoPoint::new(f64::NAN, 139.0)));
    }

    #[test]
    fn haversine() {
        // Tokyo Station to Shin-Osaka: about 400 km as the crow flies.
        let d = distance_m(
            GeoPoint::new(35.6812, 139.7671),
            GeoPoint::new(34.7334, 135.5002),
        );
        assert!((395_000.0..410_000.0).contains(&d), "{d}");
        assert_eq!(
            distance_m(GeoPoint::new(35.0, 135.0), GeoPoint::new(35.0, 135.0)),
            0.0
        );
        // One degree of latitude is about 111.2 km.
        let d = distance_m(GeoPoint::new(35.0, 135.0), GeoPoint::new(36.0, 135.0));
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
    }

    #[test]
    fn match_level_serde() {
        assert_eq!(
            serde_json::to_string(&MatchLevel::Oaza).ok().as_deref(),
            Some("\"oaza\"")
        );
        assert!(
            MatchLevel::Koaza > MatchLevel::Oaza && MatchLevel::Oaza > MatchLevel::Municipality
        );
    }
}
