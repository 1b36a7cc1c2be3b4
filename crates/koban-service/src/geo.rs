//! Reference geography: imported address points and municipality boundaries, held in
//! memory for lookups. Imports are audited administrative actions; lookups of this
//! public reference data are authenticated but not audited (they touch no police data).

use std::sync::{Arc, RwLock};

use koban_access::Action;
use koban_geo::{
    AddressIndex, Candidate, GeoPoint, GeocodeResult, Municipality, MunicipalityIndex,
};
use koban_org::UnitKind;
use koban_store::{Dataset, UnitFilter};
use serde::Serialize;

use crate::{Koban, RequestCtx, ServiceError};

/// Dataset kind of the Geolonia-style address points.
pub const ADDRESSES: &str = "addresses";
/// Dataset kind of the N03 municipality boundaries.
pub const BOUNDARIES: &str = "boundaries";
/// Dataset kind of the road network. What is stored is the built routing index (graph and
/// contraction hierarchy), so a restart loads it in milliseconds instead of rebuilding.
pub const ROADS: &str = "roads";
/// Dataset kind of the station jurisdiction polygons (GeoJSON, `properties.station_id`).
pub const JURISDICTIONS: &str = "jurisdictions";
/// Largest reference file accepted, per part.
pub const MAX_DATASET_BYTES: usize = 256 * 1024 * 1024;
/// Most candidates a lookup returns.
pub const MAX_CANDIDATES: usize = 50;
/// Longest address query accepted.
pub const MAX_QUERY_CHARS: usize = 200;

/// The in-memory indexes, swapped whole on import.
#[derive(Debug, Default, Clone)]
pub(crate) struct GeoState {
    addresses: Option<Arc<AddressIndex>>,
    municipalities: Option<Arc<MunicipalityIndex>>,
    roads: Option<Arc<koban_roads::Router>>,
    jurisdictions: Option<Arc<koban_geo::JurisdictionIndex>>,
}

pub(crate) type SharedGeo = RwLock<GeoState>;

/// Loaded reference data: `(records, sample query answered)` per index, `None` when not
/// imported.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct GeoStatus {
    pub addresses: Option<(usize, bool)>,
    pub boundaries: Option<(usize, bool)>,
    pub roads: Option<(usize, bool)>,
}

/// A road travel estimate.
#[derive(Clone, Debug, Serialize)]
pub struct RouteView {
    pub time_s: f64,
    pub distance_m: f64,
    /// How far each end was from the nearest road.
    pub snap_from_m: f64,
    pub snap_to_m: f64,
    /// The road path to draw, `[lon, lat]` pairs (GeoJSON order), start to end.
    pub path: Vec<[f64; 2]>,
}

/// What an import stored.
#[derive(Clone, Debug, Serialize)]
pub struct GeoImportReport {
    pub kind: String,
    pub files: usize,
    pub records: usize,
    pub sha256: Vec<String>,
}

/// A reverse lookup: the municipality and the station that answers for the point.
#[derive(Clone, Debug, Serialize)]
pub struct ReverseResult {
    pub municipality: Option<Municipality>,
    /// True when the point lies outside every (simplified) polygon and the nearest
    /// municipality within 2 km was taken instead.
    pub municipality_nearest: bool,
    pub station: Option<StationHit>,
}

/// The station responsible for a point. Without imported jurisdiction polygons this is
/// the nearest station in the caller's scope, and says so.
#[derive(Clone, Debug, Serialize)]
pub struct StationHit {
    pub id: String,
    pub name_ja: String,
    pub distance_m: f64,
    /// `jurisdiction` when the point lies in the station's imported jurisdiction polygon;
    /// `nearest_station` when no polygon holds it (or none were imported) and the nearest
    /// station in scope was taken instead — the dispatcher should confirm.
    pub method: &'static str,
}

fn sha256_hex(bytes: &[u8]) -> String {
    koban_audit::hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn build(kind: &str, parts: &[Vec<u8>]) -> Result<(GeoState, usize), ServiceError> {
    let invalid =
        |e: koban_geo::GeoError| ServiceError::invalid("file", "invalid_file", e.to_string());
    match kind {
        ADDRESSES => {
            let [part] = parts else {
                return Err(ServiceError::invalid(
                    "file",
                    "one_file",
                    "address points come as one CSV file",
                ));
            };
            let idx = AddressIndex::from_csv(part.as_slice()).map_err(invalid)?;
            let n = idx.len();
            Ok((
                GeoState {
                    addresses: Some(Arc::new(idx)),
                    ..GeoState::default()
                },
                n,
            ))
        }
        BOUNDARIES => {
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let idx = MunicipalityIndex::from_geojson_many(&refs).map_err(invalid)?;
            let n = idx.len();
            Ok((
                GeoState {
                    municipalities: Some(Arc::new(idx)),
                    ..GeoState::default()
                },
                n,
            ))
        }
        ROADS => {
            let [part] = parts else {
                return Err(ServiceError::invalid(
                    "file",
                    "one_file",
                    "the road network comes as one index",
                ));
            };
            let router = koban_roads::Router::from_bytes(part)
                .map_err(|e| ServiceError::invalid("file", "invalid_file", e.to_string()))?;
            let n = router.graph().node_count();
            Ok((
                GeoState {
                    roads: Some(Arc::new(router)),
                    ..GeoState::default()
                },
                n,
            ))
        }
        JURISDICTIONS => {
            let [part] = parts else {
                return Err(ServiceError::invalid(
                    "file",
                    "one_file",
                    "jurisdictions come as one GeoJSON file",
                ));
            };
            let idx = koban_geo::JurisdictionIndex::from_geojson(part).map_err(invalid)?;
            let n = idx.len();
            Ok((
                GeoState {
                    jurisdictions: Some(Arc::new(idx)),
                    ..GeoState::default()
                },
                n,
            ))
        }
        other => Err(ServiceError::invalid(
            "kind",
            "unknown_dataset",
            format!("unknown dataset {other}"),
        )),
    }
}

impl Koban {
    /// Loads stored reference data into memory (at start-up).
    pub(crate) async fn reload_geo(&self) -> Result<(), ServiceError> {
        for kind in [ADDRESSES, BOUNDARIES, ROADS, JURISDICTIONS] {
            let parts = self.store().load_dataset(kind).await?;
            if parts.is_empty() {
                continue;
            }
            let bytes: Vec<Vec<u8>> = parts.into_iter().map(|d| d.bytes).collect();
            let kind_owned = kind.to_string();
            let (state, n) = tokio::task::spawn_blocking(move || build(&kind_owned, &bytes))
                .await
                .map_err(|e| ServiceError::Internal(format!("loading {kind}: {e}")))??;
            self.install_geo(state);
            tracing::info!(kind, records = n, "reference data loaded");
        }
        Ok(())
    }

    fn install_geo(&self, new: GeoState) {
        let mut g = self.geo().write().unwrap_or_else(|p| p.into_inner());
        if new.addresses.is_some() {
            g.addresses = new.addresses;
        }
        if new.municipalities.is_some() {
            g.municipalities = new.municipalities;
        }
        if new.roads.is_some() {
            g.roads = new.roads;
        }
        if new.jurisdictions.is_some() {
            g.jurisdictions = new.jurisdictions;
        }
    }

    /// What reference data is loaded, and whether each index answers a sample query —
    /// for the daily self-check.
    pub fn geo_status(&self) -> GeoStatus {
        let g = self.geo_snapshot();
        let addresses = g.addresses.as_ref().map(|a| {
            let sample = a.suggest("一丁目", 1);
            let ok = sample.first().is_some_and(|c| {
                !a.geocode(
                    &format!("{}{}", c.municipality, c.town.clone().unwrap_or_default()),
                    1,
                )
                .candidates
                .is_empty()
            });
            (a.len(), ok)
        });
        let boundaries = g.municipalities.as_ref().map(|m| (m.len(), !m.is_empty()));
        let roads = g.roads.as_ref().map(|r| {
            let n = r.graph().node_count();
            let ok = match (r.graph().coord(0), r.graph().coord((n / 2) as u32)) {
                (Some(a), Some(b)) => r.travel(a, b).is_some() || r.travel(b, a).is_some(),
                _ => false,
            };
            (n, ok)
        });
        GeoStatus {
            addresses,
            boundaries,
            roads,
        }
    }

    /// The loaded road network, if any.
    pub(crate) fn road_router(&self) -> Option<Arc<koban_roads::Router>> {
        self.geo_snapshot().roads
    }

    /// The loaded municipality boundaries, if any.
    pub(crate) fn municipality_index(&self) -> Option<Arc<MunicipalityIndex>> {
        self.geo_snapshot().municipalities
    }

    fn geo_snapshot(&self) -> GeoState {
        self.geo().read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Imports reference data from the server console: validates every file by building
    /// the index, then stores the files and records the import, all or nothing.
    pub async fn system_import_geo(
        &self,
        name: &str,
        kind: &str,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<GeoImportReport, ServiceError> {
        if files.is_empty() {
            return Err(ServiceError::invalid(
                "file",
                "required",
                "at least one file is required",
            ));
        }
        if let Some((n, _)) = files.iter().find(|(_, b)| b.len() > MAX_DATASET_BYTES) {
            return Err(ServiceError::invalid(
                "file",
                "too_large",
                format!("{n} exceeds {MAX_DATASET_BYTES} bytes"),
            ));
        }
        let bytes: Vec<Vec<u8>> = files.iter().map(|(_, b)| b.clone()).collect();
        let kind_owned = kind.to_string();
        let built = tokio::task::spawn_blocking(move || build(&kind_owned, &bytes))
            .await
            .map_err(|e| ServiceError::Internal(format!("building {kind}: {e}")))?;
        let (mut tx, actor) = self.begin_system(name).await?;
        let mut ev = actor.draft(&RequestCtx::cli(), "geo.import");
        ev.object("dataset", kind);
        let now = self.now_us();
        let r = async {
            actor.require(Action::GeoManage)?;
            let (state, records) = built?;
            if let Some(j) = &state.jurisdictions {
                // Every polygon must belong to a station that exists, or a point in it
                // would answer with a station nobody can dispatch from.
                for id in j.station_ids() {
                    match tx.get_unit(id).await? {
                        Some(u) if u.unit.kind == UnitKind::Station => {}
                        _ => {
                            return Err(ServiceError::invalid(
                                "station_id",
                                "unknown_station",
                                format!("no station {id}; import stations first"),
                            ));
                        }
                    }
                }
            }
            let parts: Vec<Dataset> = files
                .iter()
                .map(|(n, b)| Dataset {
                    source_name: n.clone(),
                    sha256: sha256_hex(b),
                    bytes: b.clone(),
                    imported_at_us: now,
                })
                .collect();
            tx.replace_dataset(kind, &parts).await?;
            let report = GeoImportReport {
                kind: kind.to_string(),
                files: parts.len(),
                records,
                sha256: parts.iter().map(|p| p.sha256.clone()).collect(),
            };
            ev.detail("records", records);
            ev.detail(
                "files",
                parts
                    .iter()
                    .map(|p| p.source_name.clone())
                    .collect::<Vec<_>>(),
            );
            ev.detail("sha256", report.sha256.clone());
            Ok((state, report))
        }
        .await;
        let (state, report) = self.conclude(tx, ev, r).await?;
        self.install_geo(state);
        Ok(report)
    }

    /// Imports an OpenStreetMap road network (XML): builds the routing index once and
    /// stores it, audited, so every instance and every restart loads it ready-made.
    pub async fn system_import_roads(
        &self,
        name: &str,
        source: String,
        osm_xml: Vec<u8>,
    ) -> Result<GeoImportReport, ServiceError> {
        let sha = sha256_hex(&osm_xml);
        let index = tokio::task::spawn_blocking(move || {
            let graph = koban_roads::RoadGraph::from_osm_bytes(osm_xml.as_slice())
                .map_err(|e| ServiceError::invalid("file", "invalid_file", e.to_string()))?;
            if graph.node_count() == 0 {
                return Err(ServiceError::invalid(
                    "file",
                    "no_roads",
                    "the file holds no drivable roads",
                ));
            }
            Ok(koban_roads::Router::build(graph).to_bytes())
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("building the road index: {e}")))??;
        let mut report = self
            .system_import_geo(name, ROADS, vec![(source, index)])
            .await?;
        report.sha256 = vec![sha];
        Ok(report)
    }

    /// Travel time by road between two points.
    pub async fn route(
        &self,
        token: &str,
        from: GeoPoint,
        to: GeoPoint,
    ) -> Result<RouteView, ServiceError> {
        self.geo_caller(token).await?;
        for (field, p) in [("from", from), ("to", to)] {
            if !p.lat.is_finite() || !p.lon.is_finite() || !koban_geo::is_in_japan(p) {
                return Err(ServiceError::invalid(
                    field,
                    "outside_japan",
                    "the point is not in Japan",
                ));
            }
        }
        let router = self.geo_snapshot().roads.ok_or(ServiceError::Unavailable {
            code: "reference_data_missing",
            message: "no road network has been imported (koban import roads)".into(),
        })?;
        let t = router
            .try_travel(
                koban_roads::LatLon::new(from.lat, from.lon),
                koban_roads::LatLon::new(to.lat, to.lon),
            )
            .map_err(|e| match e {
                koban_roads::NoRoute::FromOffNetwork => {
                    ServiceError::invalid("from", "off_network", e.to_string())
                }
                koban_roads::NoRoute::ToOffNetwork => {
                    ServiceError::invalid("to", "off_network", e.to_string())
                }
                _ => ServiceError::invalid("to", "unreachable", e.to_string()),
            })?;
        let path = router
            .path(
                koban_roads::LatLon::new(from.lat, from.lon),
                koban_roads::LatLon::new(to.lat, to.lon),
            )
            .unwrap_or_default()
            .into_iter()
            .map(|p| [p.lon, p.lat])
            .collect();
        Ok(RouteView {
            time_s: t.time_s,
            distance_m: t.distance_m,
            snap_from_m: t.snap_from_m,
            snap_to_m: t.snap_to_m,
            path,
        })
    }

    /// Checks the session and the role for a reference-data lookup.
    pub(crate) async fn geo_caller(&self, token: &str) -> Result<crate::Actor, ServiceError> {
        let (tx, actor) = self.begin_as(token).await?;
        tx.commit().await?;
        actor.require(Action::GeoRead)?;
        Ok(actor)
    }

    fn addresses(&self) -> Result<Arc<AddressIndex>, ServiceError> {
        self.geo_snapshot()
            .addresses
            .ok_or(ServiceError::Unavailable {
                code: "reference_data_missing",
                message: "no address points have been imported (koban import addresses)".into(),
            })
    }

    /// Forward geocoding of a Japanese address, with candidates when not unambiguous.
    pub async fn geocode(
        &self,
        token: &str,
        query: &str,
        limit: usize,
    ) -> Result<GeocodeResult, ServiceError> {
        self.geo_caller(token).await?;
        check_query(query)?;
        Ok(self
            .addresses()?
            .geocode(query, limit.clamp(1, MAX_CANDIDATES)))
    }

    /// Type-ahead for the call-taker's address field.
    pub async fn suggest_address(
        &self,
        token: &str,
        partial: &str,
        limit: usize,
    ) -> Result<Vec<Candidate>, ServiceError> {
        self.geo_caller(token).await?;
        check_query(partial)?;
        Ok(self
            .addresses()?
            .suggest(partial, limit.clamp(1, MAX_CANDIDATES)))
    }

    /// The municipality holding a point and the station answering for it.
    pub async fn reverse_geocode(
        &self,
        token: &str,
        lat: f64,
        lon: f64,
    ) -> Result<ReverseResult, ServiceError> {
        let actor = self.geo_caller(token).await?;
        let p = GeoPoint { lat, lon };
        if !lat.is_finite() || !lon.is_finite() || !koban_geo::is_in_japan(p) {
            return Err(ServiceError::invalid(
                "lat",
                "outside_japan",
                "the point is not in Japan (lat 20–46, lon 122–154)",
            ));
        }
        let municipalities =
            self.geo_snapshot()
                .municipalities
                .ok_or(ServiceError::Unavailable {
                    code: "reference_data_missing",
                    message:
                        "no municipality boundaries have been imported (koban import boundaries)"
                            .into(),
                })?;
        let (municipality, nearest) = match municipalities.lookup(p) {
            Some(m) => (Some(m), false),
            None => (municipalities.lookup_nearest(p, 2_000.0), true),
        };
        // Stations in the caller's scope: the one whose jurisdiction polygon holds the
        // point, else the nearest one, flagged.
        let held_by = self
            .geo_snapshot()
            .jurisdictions
            .and_then(|j| j.station_at(p).map(str::to_string));
        let stations = self
            .store()
            .list_units_read(&UnitFilter {
                prefs: actor.pref_filter(),
                kind: Some(UnitKind::Station),
                limit: koban_store::MAX_PAGE_ROWS,
                ..Default::default()
            })
            .await?;
        let distance = |s: &koban_store::UnitRow| {
            let (la, lo) = (s.unit.latitude?, s.unit.longitude?);
            Some(koban_geo::distance_m(p, GeoPoint { lat: la, lon: lo }))
        };
        let usable = stations.iter().filter(|s| !s.disabled && !s.builtin);
        let by_polygon = held_by.as_deref().and_then(|id| {
            usable
                .clone()
                .find(|s| s.unit.id == id)
                .map(|s| (s, distance(s).unwrap_or(f64::NAN), "jurisdiction"))
        });
        let station = by_polygon
            .or_else(|| {
                usable
                    .filter_map(|s| Some((s, distance(s)?)))
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(s, d)| (s, d, "nearest_station"))
            })
            .map(|(s, d, method)| StationHit {
                id: s.unit.id.clone(),
                name_ja: s.unit.name_ja.clone(),
                distance_m: d.round(),
                method,
            });
        Ok(ReverseResult {
            municipality_nearest: nearest && municipality.is_some(),
            municipality,
            station,
        })
    }
}

fn check_query(q: &str) -> Result<(), ServiceError> {
    if q.trim().is_empty() {
        return Err(ServiceError::invalid(
            "q",
            "required",
            "an address is required",
        ));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ServiceError::invalid(
            "q",
            "too_long",
            format!("at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    Ok(())
}
