//! `koban bench intake`: 110 calls through the real HTTP API at a fixed rate — create the
//! call, create its incident, ask for the recommendation, dispatch the top unit — on
//! durable SQLite with the audit log, while a WebSocket client watches the live stream.
//! It reports sustained throughput, the latency of the whole intake, records lost or
//! duplicated, and how long each new incident took to reach the subscriber.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use koban_access::Role;
use koban_service::{Koban, RequestCtx, SystemClock};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};

#[derive(Args, Debug)]
pub struct IntakeBench {
    /// Calls started per second.
    #[arg(long, default_value_t = 200)]
    calls_per_second: u32,
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// Patrol cars on the board (each call dispatches one; it is cleared again after).
    #[arg(long, default_value_t = 500)]
    units: usize,
    /// Calls in flight at most; a call that finds none free is counted as late.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Data directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    data: Option<PathBuf>,
}

pub async fn run(b: IntakeBench) -> Result<ExitCode> {
    anyhow::ensure!(
        (1..=5_000).contains(&b.calls_per_second),
        "--calls-per-second 1..=5000"
    );
    anyhow::ensure!((1..=600).contains(&b.seconds), "--seconds 1..=600");
    anyhow::ensure!((1..=5_000).contains(&b.units), "--units 1..=5000");
    anyhow::ensure!(
        (1..=4_096).contains(&b.concurrency),
        "--concurrency 1..=4096"
    );
    let data = b.data.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("koban-bench-intake-{}", std::process::id()))
    });
    std::fs::create_dir_all(&data)?;
    let result = inner(&b, &data).await;
    if b.data.is_none() {
        let _ = std::fs::remove_dir_all(&data);
    }
    println!("{}", result?);
    Ok(ExitCode::SUCCESS)
}

async fn inner(b: &IntakeBench, data: &std::path::Path) -> Result<Value> {
    let url = format!("sqlite://{}", data.join("intake.sqlite3").display());
    let store = koban_store::connect(&url, koban_store::SqliteSync::Full).await?;
    let koban = Koban::open(
        store,
        data,
        Arc::new(SystemClock),
        koban_service::Config::default(),
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    koban
        .system_import_units(
            "bench",
            "id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address\n\
             st-13-bench,station,pref-13,試験署,Bench Station,13,35.68,139.76,\n"
                .as_bytes(),
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let token = crate::bench::login(&koban, "bench-dispatcher", Role::Dispatcher).await?;
    let ctx = RequestCtx::default();
    // The fleet, spread over central Tokyo.
    let now = koban_service::clock::rfc3339(koban.now_us());
    let mut reports = Vec::new();
    for i in 0..b.units {
        let id = format!("bench-{i:04}");
        koban
            .create_dispatch_unit(
                &ctx,
                &token,
                koban_service::fleet::NewDispatchUnit {
                    id: id.clone(),
                    kind: koban_dispatch::UnitKind::PatrolCar,
                    capabilities: Default::default(),
                    crew_count: 2,
                    home_station_id: "st-13-bench".into(),
                    status: koban_dispatch::UnitStatus::OnPatrol,
                },
            )
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let (lat, lon) = spread(i as u64);
        reports.push(koban_service::fleet::PositionReport {
            unit_id: id,
            lat,
            lon,
            at: now.clone(),
            heading_deg: None,
            speed_kmh: None,
        });
    }
    for chunk in reports.chunks(koban_service::fleet::MAX_POSITION_BATCH) {
        koban
            .report_positions(&ctx, &token, chunk.to_vec())
            .await
            .map_err(|e| anyhow!("{e}"))?;
    }

    // The server, as `koban serve` runs it.
    crate::start_live(&koban, &crate::LiveArgs::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = koban_api::router(koban.clone(), koban_api::RateLimit::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        koban_api::serve(listener, app, None, async move {
            let _ = stop_rx.await;
        })
        .await
    });

    // The subscriber: records when each new incident arrives, against its commit time.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{}/api/v1/events",
        base.replacen("http", "ws", 1)
    ))
    .await?;
    let watcher_token = crate::bench::login(&koban, "bench-watcher", Role::Dispatcher).await?;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        json!({"type": "auth", "token": watcher_token})
            .to_string()
            .into(),
    ))
    .await?;
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let stream_ms: Arc<Mutex<Vec<f64>>> = Arc::default();
    let watcher = {
        let (seen, stream_ms) = (seen.clone(), stream_ms.clone());
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let tokio_tungstenite::tungstenite::Message::Text(t) = msg else {
                    continue;
                };
                let Ok(v) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                if v["kind"] != "incident.created" {
                    continue;
                }
                let arrived = koban_service::Clock::now_us(&SystemClock);
                if let Some(at) = v["at"]
                    .as_str()
                    .and_then(koban_service::clock::parse_rfc3339)
                {
                    stream_ms.lock().await.push((arrived - at) as f64 / 1000.0);
                }
                if let Some(id) = v["data"]["id"].as_str() {
                    *seen.lock().await.entry(id.to_string()).or_default() += 1;
                }
            }
        })
    };

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(b.concurrency)
        .build()?;
    let slots = Arc::new(Semaphore::new(b.concurrency));
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let created: Arc<Mutex<Vec<String>>> = Arc::default();
    let failures: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let total = u64::from(b.calls_per_second) * u64::from(b.seconds);
    let interval = Duration::from_secs_f64(1.0 / f64::from(b.calls_per_second));
    let started = Instant::now();
    let mut late = 0u64;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        // Open-loop arrivals: call i starts at i / rate, whatever the server is doing.
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            late += 1;
            continue;
        };
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        let (latencies, created, failures) = (latencies.clone(), created.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            match intake(&http, &base, &token, i).await {
                Ok((incident_id, unit)) => {
                    latencies
                        .lock()
                        .await
                        .push(t0.elapsed().as_secs_f64() * 1000.0);
                    created.lock().await.push(incident_id.clone());
                    // Free the unit again (not part of the measured intake).
                    if let Some(unit) = unit {
                        let _ = http
                            .put(format!(
                                "{base}/api/v1/incidents/{incident_id}/assignments/{unit}"
                            ))
                            .bearer_auth(&token)
                            .json(&json!({"step": "cleared"}))
                            .send()
                            .await;
                    }
                }
                Err(stage) => *failures.lock().await.entry(stage).or_default() += 1,
            }
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    // Let the last events reach the subscriber.
    tokio::time::sleep(Duration::from_secs(2)).await;
    watcher.abort();
    let _ = stop_tx.send(());
    let _ = server.await;

    let created = created.lock().await.clone();
    let seen = seen.lock().await.clone();
    let lost_from_stream = created.iter().filter(|id| !seen.contains_key(*id)).count();
    let duplicated_in_stream = seen.values().filter(|&&n| n > 1).count();
    // Every incident the API acknowledged must be in the incidents table.
    let stored: std::collections::HashSet<String> = {
        let mut tx = koban.store().begin().await?;
        tx.list_incidents(&koban_store::IncidentFilter {
            limit: u32::MAX,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect()
    };
    let lost_from_storage = created.iter().filter(|id| !stored.contains(*id)).count();
    let completed = created.len() as f64;
    Ok(json!({
        "bench": "intake",
        "backend": "sqlite",
        "durability": "synchronous=FULL",
        "calls_offered": total,
        "calls_per_second_offered": b.calls_per_second,
        "calls_completed": created.len(),
        "calls_late_no_free_slot": late,
        "calls_failed": failures.lock().await.clone(),
        "sustained_calls_per_second": completed / elapsed_s,
        "intake_latency_ms": crate::bench::summary_ms(latencies.lock().await.clone()),
        "live_stream_delivery_ms": crate::bench::summary_ms(stream_ms.lock().await.clone()),
        "incidents_stored": stored.len(),
        "lost_from_storage": lost_from_storage,
        "lost_from_stream": lost_from_stream,
        "duplicated_in_stream": duplicated_in_stream,
        "units": b.units,
        "concurrency": b.concurrency,
        "requests_per_call": 4,
    }))
}

/// One call-taker's and dispatcher's work: the call, its incident, the recommendation and
/// the dispatch of the top unit. Returns the incident and the unit sent.
async fn intake(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    i: u64,
) -> Result<(String, Option<String>), String> {
    let (lat, lon) = spread(i.wrapping_mul(7919));
    let post = |path: &str, body: Value| {
        http.post(format!("{base}/api/v1{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let ok = |stage: &str, r: reqwest::Result<reqwest::Response>| match r {
        Ok(r) if r.status().is_success() => Ok(r),
        Ok(r) => Err(format!("{stage}: {}", r.status().as_u16())),
        Err(e) => Err(format!(
            "{stage}: {}",
            if e.is_timeout() { "timeout" } else { "error" }
        )),
    };
    let call: Value = ok(
        "call",
        post(
            "/calls",
            json!({"statement": "（試験）通報", "caller_location": {"lat": lat, "lon": lon, "radius_m": 30}, "type_code": "theft"}),
        )
        .await,
    )?
    .json()
    .await
    .map_err(|_| "call: body".to_string())?;
    let call_id = call["call"]["id"].as_str().unwrap_or_default().to_string();
    let inc: Value = ok(
        "incident",
        post(
            "/incidents",
            json!({"type_code": "theft", "location": {"lat": lat, "lon": lon}, "call_ids": [call_id]}),
        )
        .await,
    )?
    .json()
    .await
    .map_err(|_| "incident: body".to_string())?;
    let id = inc["id"].as_str().unwrap_or_default().to_string();
    let rec: Value = ok(
        "recommend",
        http.get(format!("{base}/api/v1/incidents/{id}/recommendation"))
            .bearer_auth(token)
            .send()
            .await,
    )?
    .json()
    .await
    .map_err(|_| "recommend: body".to_string())?;
    let Some(unit) = rec["ranked"]
        .as_array()
        .and_then(|r| r.first())
        .and_then(|u| u["unit_id"].as_str())
    else {
        return Ok((id, None));
    };
    match post(
        &format!("/incidents/{id}/assignments"),
        json!({"unit_ids": [unit]}),
    )
    .await
    {
        Ok(r) if r.status().is_success() => Ok((id, Some(unit.to_string()))),
        // Another call took the same unit a moment earlier: the incident stands, undispatched.
        Ok(r) if r.status().as_u16() == 422 => Ok((id, None)),
        other => ok("dispatch", other).map(|_| (id, None)),
    }
}

/// Deterministic positions over about 5 × 5 km around Tokyo Station.
fn spread(i: u64) -> (f64, f64) {
    let x = (i.wrapping_mul(2_654_435_761) % 10_000) as f64 / 10_000.0;
    let y = (i.wrapping_mul(40_503) % 10_000) as f64 / 10_000.0;
    (35.66 + x * 0.045, 139.73 + y * 0.055)
}
