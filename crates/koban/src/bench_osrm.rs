//! `koban bench osrm`: koban's road routing beside OSRM, the open-source peer, on the same
//! synthetic `.osm` file. OSRM's own binaries (`osrm-extract`, `osrm-contract`,
//! `osrm-routed`, from the `osrm-bindings` wheel's `osrm/bin/`) build its car-profile
//! network; the bench then compares travel times on random pairs (median and p95 of the
//! relative difference) and times a units-to-incident table query on both.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::Args;
use serde_json::{Value, json};

#[derive(Args, Debug)]
pub struct OsrmBench {
    /// OSRM's install directory, holding `bin/osrm-*` and `share/profiles/car.lua`
    /// (the `osrm/` folder of the unpacked `osrm-bindings` wheel).
    #[arg(long)]
    osrm: PathBuf,
    /// Streets per side of the synthetic city.
    #[arg(long, default_value_t = 100)]
    grid: u32,
    /// Random pairs compared.
    #[arg(long, default_value_t = 1_000)]
    pairs: usize,
    /// Units in the units-to-incident table query.
    #[arg(long, default_value_t = 500)]
    units: usize,
    /// Table queries timed on each side.
    #[arg(long, default_value_t = 20)]
    tables: usize,
}

/// Kills osrm-routed on every path out of the bench.
struct Routed(std::process::Child);
impl Drop for Routed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_tool(bin: &Path, args: &[&std::ffi::OsStr], dir: &Path) -> Result<f64> {
    let t = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} failed: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(t.elapsed().as_secs_f64())
}

use crate::bench::round3 as r3;

fn pct(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    crate::bench::quantile(&v, q)
}

pub async fn run(b: OsrmBench) -> Result<ExitCode> {
    anyhow::ensure!(b.pairs > 0 && b.units > 0 && b.tables > 0, "bad counts");
    let bin = |name: &str| b.osrm.join("bin").join(name);
    let profile = b.osrm.join("share/profiles/car.lua");
    anyhow::ensure!(
        bin("osrm-routed").exists() && profile.exists(),
        "{} does not hold bin/osrm-routed and share/profiles/car.lua",
        b.osrm.display()
    );
    let dir = std::env::temp_dir().join(format!("koban-bench-osrm-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = inner(&b, &dir, &bin, &profile).await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", result?);
    Ok(ExitCode::SUCCESS)
}

async fn inner(
    b: &OsrmBench,
    dir: &Path,
    bin: &dyn Fn(&str) -> PathBuf,
    profile: &Path,
) -> Result<Value> {
    let osm_path = dir.join("city.osm");
    let mut xml = Vec::new();
    koban_roads::synth_osm(&koban_roads::SynthParams::tokyo(b.grid, 3), &mut xml)?;
    std::fs::write(&osm_path, &xml)?;
    // koban: import and index.
    let t = Instant::now();
    let router = koban_roads::Router::build(
        koban_roads::RoadGraph::from_osm_bytes(&xml).map_err(|e| anyhow!("{e}"))?,
    );
    let koban_build_s = t.elapsed().as_secs_f64();
    // OSRM: extract with the car profile, contract, serve.
    let extract_s = run_tool(
        &bin("osrm-extract"),
        &["-p".as_ref(), profile.as_os_str(), osm_path.as_os_str()],
        dir,
    )?;
    let contract_s = run_tool(&bin("osrm-contract"), &["city.osrm".as_ref()], dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let _routed = Routed(
        Command::new(bin("osrm-routed"))
            .args(["--algorithm", "ch", "--ip", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--max-table-size", "20000", "city.osrm"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting osrm-routed")?,
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if http
            .get(format!("{base}/nearest/v1/driving/139.76,35.68"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::ensure!(up, "osrm-routed did not answer");

    let g = router.graph();
    let n = g.node_count() as u32;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % u64::from(n)) as u32
    };
    let at = |v: u32| g.coord(v).context("node without a position");
    // Travel times on random pairs, both snapping the same points.
    let mut rel = Vec::new();
    let mut signed = Vec::new();
    let (mut skipped, mut ours_longer) = (0usize, 0usize);
    for _ in 0..b.pairs {
        let (a, z) = (at(next())?, at(next())?);
        let Ok(ours) = router.try_travel(a, z) else {
            skipped += 1;
            continue;
        };
        let v: Value = http
            .get(format!(
                "{base}/route/v1/driving/{},{};{},{}?overview=false",
                a.lon, a.lat, z.lon, z.lat
            ))
            .send()
            .await?
            .json()
            .await?;
        let Some(theirs) = v["routes"][0]["duration"].as_f64() else {
            skipped += 1;
            continue;
        };
        if theirs < 30.0 {
            // Very short trips are dominated by snapping; the relative figure means little.
            skipped += 1;
            continue;
        }
        let d = (ours.time_s - theirs) / theirs;
        ours_longer += usize::from(d > 0.0);
        signed.push(d);
        rel.push(d.abs());
    }
    anyhow::ensure!(!rel.is_empty(), "no comparable pairs");
    // Units to one incident: OSRM's table service against koban's fleet query.
    let units: Vec<koban_roads::LatLon> =
        (0..b.units).map(|_| at(next())).collect::<Result<_>>()?;
    let ids: Vec<String> = (0..b.units).map(|i| format!("u{i}")).collect();
    let fleet: Vec<(&str, koban_roads::LatLon)> = ids
        .iter()
        .map(String::as_str)
        .zip(units.iter().copied())
        .collect();
    let coords: String = units
        .iter()
        .map(|p| format!("{},{}", p.lon, p.lat))
        .collect::<Vec<_>>()
        .join(";");
    let sources: String = (0..b.units)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(";");
    let _ = router.travel_fleet_to_one(&fleet, at(next())?);
    let (mut osrm_ms, mut koban_ms) = (Vec::new(), Vec::new());
    for _ in 0..b.tables {
        let inc = at(next())?;
        let url = format!(
            "{base}/table/v1/driving/{coords};{},{}?sources={sources}&destinations={}",
            inc.lon, inc.lat, b.units
        );
        let t = Instant::now();
        let v: Value = http.get(url).send().await?.json().await?;
        osrm_ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(v["code"] == "Ok", "OSRM table: {}", v["code"]);
        let t = Instant::now();
        let _ = router.travel_fleet_to_one(&fleet, inc);
        koban_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(json!({
        "bench": "osrm",
        "grid": b.grid,
        "nodes": n,
        "koban_import_and_index_s": r3(koban_build_s),
        "osrm_extract_s": r3(extract_s),
        "osrm_contract_s": r3(contract_s),
        "pairs_compared": rel.len(),
        "pairs_skipped": skipped,
        "rel_diff_median": r3(pct(rel.clone(), 0.5)),
        "rel_diff_p95": r3(pct(rel, 0.95)),
        "signed_rel_diff_median": r3(pct(signed.clone(), 0.5)),
        "share_koban_longer": r3(ours_longer as f64 / signed.len() as f64),
        "table_units": b.units,
        "osrm_table_ms_p50_http": r3(pct(osrm_ms.clone(), 0.5)),
        "osrm_table_ms_p99_http": r3(pct(osrm_ms, 0.99)),
        "koban_fleet_ms_p50": r3(pct(koban_ms.clone(), 0.5)),
        "koban_fleet_ms_p99": r3(pct(koban_ms, 0.99)),
    }))
}
