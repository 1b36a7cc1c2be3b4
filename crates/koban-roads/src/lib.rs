//! Road travel time for unit recommendation in 110 dispatch.
//!
//! Ranking units by straight-line distance sends the car on the wrong bank of a river;
//! this crate answers "how long does this unit take to drive to the incident" instead.
//! It holds four pieces, each pure computation over data the caller passes in:
//!
//! * [`RoadGraph::from_osm_xml`] reads OpenStreetMap XML into a directed graph whose
//!   arcs are weighted by travel time in milliseconds (length by haversine, speed from
//!   `maxspeed` or a per-class default table).
//! * [`ContractionHierarchy`] is the shortest-time index: exact answers, one-to-one and
//!   many-to-one (many units, one incident), serialisable so a restart does not rebuild it.
//! * [`SnapIndex`] puts a latitude/longitude on the nearest road segment.
//! * [`Router`] combines the three into [`Router::travel`].
//!
//! [`synth_osm`] writes a deterministic synthetic city (grid, arterials, one-way streets,
//! a river with a few bridges) for tests, demonstrations and benchmarks.
//!
//! The crate never opens files or reaches the network: callers pass readers, writers and
//! bytes.

mod bytes;
mod ch;
mod graph;
mod osm;
mod router;
mod snap;
mod synth;

pub use ch::{ContractionHierarchy, QueryScratch, Route, SourceBuckets};
pub use graph::{GraphArc, RoadGraph};
pub use osm::{ImportReport, default_speed_kmh, parse_maxspeed_kmh};
pub use router::{NoRoute, Router, Travel};
pub use snap::{DEFAULT_SNAP_LIMIT_M, MAX_SNAP_LIMIT_M, Segment, Snap, SnapIndex};
pub use synth::{SynthCity, SynthParams, synth_osm};

use serde::{Deserialize, Serialize};

/// Mean Earth radius used for haversine distances, in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A WGS 84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    /// Latitude in degrees, positive north.
    pub lat: f64,
    /// Longitude in degrees, positive east.
    pub lon: f64,
}

impl LatLon {
    /// A position from latitude and longitude in degrees.
    pub const fn new(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }

    /// Whether both coordinates are finite and within their ranges.
    pub fn is_valid(self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }
}

/// Great-circle distance between two positions by the haversine formula, in metres.
pub fn haversine_m(a: LatLon, b: LatLon) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Everything that can go wrong reading road data or a serialised index.
#[derive(Debug, thiserror::Error)]
pub enum RoadError {
    /// The OSM XML could not be read or is not well-formed.
    #[error("OSM XML: {0}")]
    Xml(String),
    /// An element of the OSM XML carries a value that cannot be used.
    #[error("OSM XML: {0}")]
    Osm(String),
    /// Serialised bytes are not an index this version can read.
    #[error("serialised index: {0}")]
    Format(String),
    /// A limit of the crate was exceeded (for example more nodes than fit in 32 bits).
    #[error("limit exceeded: {0}")]
    Limit(String),
}
