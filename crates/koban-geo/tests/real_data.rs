//! Tests on the real reference data (`$KOBAN_REFERENCE_DATA/geo/...`, default `../shared/data`
//! relative to the workspace root). Skipped with a message when absent, except on CI.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use koban_geo::{AddressIndex, GeoPoint, MatchLevel, MunicipalityIndex};

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KOBAN_REFERENCE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if dir.join("geo/addresses-town-level.csv").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "reference data missing at {} (required on CI)",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: reference data not found at {} (set KOBAN_REFERENCE_DATA)",
        dir.display()
    );
    None
}

fn addresses() -> Option<&'static AddressIndex> {
    static IDX: OnceLock<Option<AddressIndex>> = OnceLock::new();
    IDX.get_or_init(|| {
        let dir = data_dir()?;
        let bytes = std::fs::read(dir.join("geo/addresses-town-level.csv")).ok()?;
        let t = Instant::now();
        let idx = match AddressIndex::from_csv(bytes.as_slice()) {
            Ok(i) => i,
            Err(e) => panic!("load: {e}"),
        };
        let took = t.elapsed();
        eprintln!("address index: {} rows in {took:?}", idx.len());
        assert!(took.as_secs() < 30, "loading took {took:?}");
        Some(idx)
    })
    .as_ref()
}

fn municipalities() -> Option<&'static MunicipalityIndex> {
    static IDX: OnceLock<Option<MunicipalityIndex>> = OnceLock::new();
    IDX.get_or_init(|| {
        let dir = data_dir()?;
        // The per-prefecture files (1 % simplification) agree better near boundaries
        // than the national 0.1 % file.
        let files: Vec<Vec<u8>> = (1..=47)
            .map(|n| {
                std::fs::read(dir.join(format!(
                    "geo/municipalities-by-prefecture/N03-2021-{n:02}.geojson"
                )))
            })
            .collect::<Result<_, _>>()
            .ok()?;
        let slices: Vec<&[u8]> = files.iter().map(Vec::as_slice).collect();
        let t = Instant::now();
        let idx = match MunicipalityIndex::from_geojson_many(&slices) {
            Ok(i) => i,
            Err(e) => panic!("load: {e}"),
        };
        eprintln!(
            "municipality index: {} municipalities in {:?}",
            idx.len(),
            t.elapsed()
        );
        Some(idx)
    })
    .as_ref()
}

#[test]
fn row_count() {
    let Some(idx) = addresses() else { return };
    assert_eq!(idx.len(), 277_676);
}

#[test]
fn marunouchi_forms() {
    let Some(idx) = addresses() else { return };
    for q in ["東京都千代田区丸の内一丁目", "千代田区丸の内1丁目"] {
        let r = idx.geocode(q, 5);
        let b = r
            .best
            .unwrap_or_else(|| panic!("no best for {q}: {:?}", r.candidates));
        assert_eq!(
            (b.prefecture.as_str(), b.municipality.as_str()),
            ("東京都", "千代田区")
        );
        assert_eq!(b.town.as_deref(), Some("丸の内一丁目"));
        assert_eq!(b.level, MatchLevel::Oaza);
        assert!(koban_geo::distance_m(b.point, GeoPoint::new(35.6812, 139.7671)) < 1500.0);
    }
    let r = idx.geocode("東京都千代田区丸の内１－９－１", 5);
    assert_eq!(r.best.and_then(|b| b.town).as_deref(), Some("丸の内一丁目"));
    assert_eq!(r.remainder, "9-1");
}

#[test]
fn sapporo_asahigaoka() {
    let Some(idx) = addresses() else { return };
    let r = idx.geocode("北海道札幌市中央区旭ヶ丘2丁目", 5);
    let b = r.best.unwrap_or_else(|| panic!("{:?}", r.candidates));
    assert_eq!(b.municipality, "札幌市中央区");
    assert_eq!(b.town.as_deref(), Some("旭ケ丘二丁目"));
    let r = idx.geocode("札幌市中央区旭ケ丘1-5-3", 5);
    assert_eq!(r.best.and_then(|b| b.town).as_deref(), Some("旭ケ丘一丁目"));
    assert_eq!(r.remainder, "5-3");
}

#[test]
fn fuchu_is_ambiguous() {
    let Some(idx) = addresses() else { return };
    let r = idx.geocode("府中市", 10);
    assert!(r.best.is_none(), "{:?}", r.best);
    let prefs: Vec<_> = r.candidates.iter().map(|c| c.prefecture.as_str()).collect();
    assert!(
        prefs.contains(&"東京都") && prefs.contains(&"広島県"),
        "{prefs:?}"
    );
    let r = idx.geocode("東京都府中市", 10);
    assert_eq!(r.best.map(|b| b.prefecture).as_deref(), Some("東京都"));
}

#[test]
fn nonsense_has_no_best() {
    let Some(idx) = addresses() else { return };
    for q in ["ほげほげぴよぴよ", "xyzzy 42", "千代田区存在しない町"] {
        let r = idx.geocode(q, 5);
        assert!(r.best.is_none(), "{q}: {:?}", r.best);
    }
}

#[test]
fn suggestions() {
    let Some(idx) = addresses() else { return };
    let s = idx.suggest("千代田区丸の", 10);
    assert!(!s.is_empty());
    assert!(
        s.iter().all(|c| c.municipality == "千代田区"
            && c.town.as_deref().is_some_and(|t| t.starts_with("丸の内"))),
        "{s:?}"
    );
    let s = idx.suggest("府中", 10);
    assert!(
        s.iter().filter(|c| c.municipality == "府中市").count() >= 2,
        "{s:?}"
    );
    let t = Instant::now();
    let s = idx.suggest("旭ヶ丘", 20);
    eprintln!("suggest(旭ヶ丘) in {:?}", t.elapsed());
    assert_eq!(s.len(), 20);
    assert!(
        s.iter()
            .all(|c| c.town.as_deref().is_some_and(|t| t.contains("丘")))
    );
}

#[test]
fn every_sampled_row_geocodes_to_itself() {
    let Some(idx) = addresses() else { return };
    let Some(dir) = data_dir() else { return };
    let Ok(text) = std::fs::read_to_string(dir.join("geo/addresses-town-level.csv")) else {
        return;
    };
    let lines: Vec<&str> = text.lines().skip(1).collect();
    let step = lines.len() / 500;
    let (mut ok, mut n) = (0, 0);
    let t = Instant::now();
    for line in lines.iter().step_by(step) {
        let f: Vec<&str> = line.split(',').collect();
        let q = format!("{}{}{}{}", f[0], f[1], f[2], f[3]);
        let r = idx.geocode(&q, 5);
        n += 1;
        if r.candidates
            .iter()
            .any(|c| c.municipality == f[1] && c.town.as_deref() == Some(f[2]))
        {
            ok += 1;
        } else {
            eprintln!("miss: {q} -> {:?}", r.candidates.first());
        }
    }
    eprintln!("self-geocode: {ok}/{n} in {:?}", t.elapsed());
    assert!(ok * 100 >= n * 98, "{ok}/{n}");
}

#[test]
fn reverse_lookup_agrees_with_address_rows() {
    let Some(muni) = municipalities() else { return };
    let Some(dir) = data_dir() else { return };
    let Ok(text) = std::fs::read_to_string(dir.join("geo/addresses-town-level.csv")) else {
        return;
    };
    let lines: Vec<&str> = text.lines().skip(1).collect();
    let step = lines.len() / 200;
    let (mut agree, mut n) = (0usize, 0usize);
    let t = Instant::now();
    for line in lines.iter().step_by(step) {
        let f: Vec<&str> = line.split(',').collect();
        let (Ok(lat), Ok(lon)) = (f[4].parse::<f64>(), f[5].parse::<f64>()) else {
            continue;
        };
        n += 1;
        match muni.lookup(GeoPoint::new(lat, lon)) {
            Some(m) if m.prefecture == f[0] && m.name == f[1] => agree += 1,
            other => eprintln!("disagree: {line} -> {other:?}"),
        }
    }
    let per = t.elapsed() / n.max(1) as u32;
    let rate = agree as f64 / n as f64;
    eprintln!(
        "reverse agreement: {agree}/{n} = {:.1}% ({per:?} per lookup)",
        rate * 100.0
    );
    assert!(rate >= 0.97, "agreement {rate}");
}

#[test]
fn reverse_coarse_national_file() {
    let Some(dir) = data_dir() else { return };
    let Ok(bytes) = std::fs::read(dir.join("geo/municipalities-N03-2021.geojson")) else {
        return;
    };
    let coarse = match MunicipalityIndex::from_geojson(&bytes) {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(coarse.len(), 1894);
    assert_eq!(
        coarse
            .lookup(GeoPoint::new(43.0621, 141.3544))
            .map(|m| m.name)
            .as_deref(),
        Some("札幌市中央区")
    );
    assert_eq!(coarse.lookup(GeoPoint::new(35.0, 141.5)), None);
}

#[test]
fn reverse_known_points() {
    let Some(muni) = municipalities() else { return };
    let m = muni.lookup(GeoPoint::new(35.6812, 139.7671));
    assert_eq!(m.as_ref().map(|m| m.name.as_str()), Some("千代田区"));
    assert_eq!(m.map(|m| m.code).as_deref(), Some("13101"));
    // Sapporo, Osaka (Kita ward), Naha.
    assert_eq!(
        muni.lookup(GeoPoint::new(43.0621, 141.3544))
            .map(|m| m.name)
            .as_deref(),
        Some("札幌市中央区")
    );
    assert_eq!(
        muni.lookup(GeoPoint::new(34.7025, 135.4959))
            .map(|m| m.name)
            .as_deref(),
        Some("大阪市北区")
    );
    assert_eq!(
        muni.lookup(GeoPoint::new(26.2124, 127.6809))
            .map(|m| m.name)
            .as_deref(),
        Some("那覇市")
    );
    // Pacific Ocean off Chiba, Sea of Japan.
    assert_eq!(muni.lookup(GeoPoint::new(35.0, 141.5)), None);
    assert_eq!(muni.lookup(GeoPoint::new(39.0, 137.0)), None);
}
