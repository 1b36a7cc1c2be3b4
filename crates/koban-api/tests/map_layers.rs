//! The console's map layers: municipality boundaries and roads in a bounding box, as
//! GeoJSON generated from the imported reference data; sessions required, boxes checked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Db, Server};
use koban_access::Role;

const BOUNDARY: &str = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"N03_001":"東京都","N03_002":null,"N03_003":null,"N03_004":"千代田区","N03_007":"13101"},"geometry":{"type":"Polygon","coordinates":[[[139.73,35.67],[139.79,35.67],[139.79,35.70],[139.73,35.70],[139.73,35.67]]]}}]}"#;

#[tokio::test]
async fn boundaries_and_roads_in_a_box() {
    let s = Server::start(Db::Sqlite).await.unwrap();
    let u = s.user("map-reader", "pref-13", &[Role::Dispatcher]).await;
    let t = s.login(&u).await;
    let bbox = "bbox=139.70,35.66,139.80,35.72";
    // Nothing imported yet: a clear 503.
    for layer in ["boundaries", "roads"] {
        let (st, v) = s.get(&format!("/api/v1/geo/{layer}?{bbox}"), &t).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (503, Some("reference_data_missing")),
            "{v}"
        );
    }
    s.koban
        .system_import_geo(
            "test",
            koban_service::geo::BOUNDARIES,
            vec![("b.geojson".into(), BOUNDARY.as_bytes().to_vec())],
        )
        .await
        .unwrap();
    let mut osm = Vec::new();
    koban_roads::synth_osm(&koban_roads::SynthParams::tokyo(12, 7), &mut osm).unwrap();
    s.koban
        .system_import_roads("test", "city.osm".into(), osm)
        .await
        .unwrap();

    let (st, v) = s.get(&format!("/api/v1/geo/boundaries?{bbox}"), &t).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["type"], "FeatureCollection");
    assert_eq!(v["features"][0]["properties"]["code"], "13101");
    assert_eq!(v["features"][0]["geometry"]["type"], "Polygon");
    // A box elsewhere holds none of it.
    let (_, v) = s
        .get("/api/v1/geo/boundaries?bbox=135.0,34.0,135.1,34.1", &t)
        .await;
    assert_eq!(v["features"].as_array().unwrap().len(), 0);

    let (st, v) = s.get(&format!("/api/v1/geo/roads?{bbox}"), &t).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["segments"].as_u64().unwrap() > 100, "{}", v["segments"]);
    assert_eq!(v["truncated"], false);
    let lines: usize = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["geometry"]["coordinates"].as_array().unwrap().len())
        .sum();
    assert!(
        lines > 0 && (lines as u64) < v["segments"].as_u64().unwrap(),
        "segments are chained into polylines"
    );

    // Bad and oversized boxes are refused with the field named.
    for (q, code) in [
        ("bbox=139.8,35.66,139.7,35.72", "invalid_bbox"),
        ("bbox=1,2,3", "invalid_bbox"),
        ("bbox=139,35,140,36", "bbox_too_large"),
    ] {
        let (st, v) = s.get(&format!("/api/v1/geo/roads?{q}"), &t).await;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (422, Some(code)),
            "{q}: {v}"
        );
    }
    // Without a session: 401.
    let (st, _) = s
        .call("get", &format!("/api/v1/geo/roads?{bbox}"), None, None)
        .await;
    assert_eq!(st, 401);
    // The console's page is not served by a router built without it.
    let (st, _) = s.call("get", "/", None, None).await;
    assert_eq!(st, 404);
    s.stop().await;
}
