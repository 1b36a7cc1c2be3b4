//! Points on the earth and the great-circle distance between them.

use serde::{Deserialize, Serialize};

use crate::error::DispatchError;

/// Mean earth radius in metres (IUGG), the usual choice for haversine distances.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS 84 point in decimal degrees.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    /// Latitude in degrees, −90 to 90.
    pub lat: f64,
    /// Longitude in degrees, −180 to 180.
    pub lon: f64,
}

impl LatLon {
    /// Builds a point, refusing non-finite or out-of-range coordinates.
    pub fn new(lat: f64, lon: f64) -> Result<Self, DispatchError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(DispatchError::OutOfRange { field: "lat" });
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(DispatchError::OutOfRange { field: "lon" });
        }
        Ok(LatLon { lat, lon })
    }
}

/// Great-circle distance in metres between two points (haversine formula).
///
/// Haversine is accurate to about 0.5 % against the ellipsoid, which is far below the
/// uncertainty of a mobile-phone location, and it is stable for the short distances that
/// duplicate detection cares about.
pub fn haversine_m(a: LatLon, b: LatLon) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    // Clamping guards against rounding pushing `h` a hair above 1 for antipodal points.
    2.0 * EARTH_RADIUS_M * h.clamp(0.0, 1.0).sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }

    #[test]
    fn zero_for_same_point() {
        assert_eq!(haversine_m(p(35.68, 139.76), p(35.68, 139.76)), 0.0);
    }

    #[test]
    fn tokyo_to_osaka_is_about_400_km() {
        // Tokyo Station to Osaka Station: about 403 km on the great circle.
        let d = haversine_m(p(35.6812, 139.7671), p(34.7025, 135.4959));
        assert!((d - 403_000.0).abs() < 3_000.0, "{d}");
    }

    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        let d = haversine_m(p(35.0, 139.0), p(36.0, 139.0));
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
    }

    #[test]
    fn symmetric_and_antipodal_finite() {
        let (a, b) = (p(35.0, 139.0), p(-35.0, -41.0));
        assert_eq!(haversine_m(a, b), haversine_m(b, a));
        assert!(haversine_m(a, b).is_finite());
    }

    #[test]
    fn new_rejects_bad_coordinates() {
        assert!(LatLon::new(91.0, 0.0).is_err());
        assert!(LatLon::new(0.0, f64::NAN).is_err());
        assert!(LatLon::new(35.0, 139.0).is_ok());
    }
}
