//! `koban bench …`: measurements for BENCHMARKS.md. Each benchmark prints progress
//! lines and ends with one JSON line holding its results.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use koban_access::Role;
use koban_service::{EventDraft, Koban, LoginRequest, NewUser, RequestCtx, SystemClock, UnitPatch};
use koban_store::{SqliteSync, Store};
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Audited writes per second, full verification time, inclusion-proof size and time.
    Audit(AuditBench),
    /// Precision, recall and F1 of `koban names compare` on a labelled pair file.
    Names(NamesBench),
    /// Screening a manifest against a large synthetic watchlist.
    Screen(ScreenBench),
    /// Road routing on a synthetic city: index build, query time against plain Dijkstra.
    Roads(RoadsBench),
    /// 110 intake through the HTTP API at a fixed rate, with the live stream watched.
    Intake(crate::bench_intake::IntakeBench),
    /// Ranking a large fleet for one incident by road time, against plain Dijkstra.
    Recommend(crate::bench_recommend::RecommendBench),
    /// koban's routing beside OSRM on the same .osm file: travel times and table queries.
    Osrm(crate::bench_osrm::OsrmBench),
    /// The national records registry: bulk import, exact-key and person-name inquiries in
    /// process and over HTTP, against a LIKE-scan baseline.
    Registry(crate::registry_bench::RegistryBench),
}

#[derive(Args, Debug)]
pub struct RoadsBench {
    /// Streets per side of the synthetic city (317 gives about 100,000 intersections).
    #[arg(long, default_value_t = 317)]
    grid: u32,
    #[arg(long, default_value_t = 10_000)]
    queries: usize,
    /// Queries answered by the plain-Dijkstra baseline.
    #[arg(long, default_value_t = 20)]
    baseline_queries: usize,
}

#[derive(Args, Debug)]
pub struct NamesBench {
    /// Labelled pairs (name1,name2,is_match); default: the nomenklatura cases in the
    /// shared reference data.
    #[arg(long)]
    cases: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ScreenBench {
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    #[arg(long, default_value_t = 500)]
    passengers: usize,
    /// Passengers screened by the naive full-scan baseline (its time is extrapolated).
    #[arg(long, default_value_t = 5)]
    baseline_passengers: usize,
}

#[derive(Args, Debug)]
pub struct AuditBench {
    /// PostgreSQL server URL; a scratch database is created on it and dropped afterwards.
    /// Without it, SQLite in a scratch directory.
    #[arg(long)]
    database: Option<String>,
    /// Audited writes to time.
    #[arg(long, default_value_t = 20_000)]
    writes: u64,
    /// Concurrent writers.
    #[arg(long, default_value_t = 8)]
    concurrency: u64,
    /// Size of the log for the verification and proof measurements.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// SQLite durability for the run.
    #[arg(long, default_value = "full")]
    sqlite_sync: SqliteSync,
    /// Scratch directory (default: a new one under the system temp dir, removed after).
    #[arg(long)]
    data: Option<PathBuf>,
}

pub async fn run(cmd: BenchCommand) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Audit(b) => audit(b).await,
        BenchCommand::Names(b) => names(b),
        BenchCommand::Screen(b) => screen(b),
        BenchCommand::Roads(b) => roads(b),
        BenchCommand::Intake(b) => crate::bench_intake::run(b).await,
        BenchCommand::Recommend(b) => crate::bench_recommend::run(b),
        BenchCommand::Osrm(b) => crate::bench_osrm::run(b).await,
        BenchCommand::Registry(b) => crate::registry_bench::run(b).await,
    }
}

async fn audit(b: AuditBench) -> Result<ExitCode> {
    anyhow::ensure!(
        b.concurrency > 0 && b.concurrency <= 256,
        "--concurrency must be 1..=256"
    );
    let pid = std::process::id();
    let data = b
        .data
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("koban-bench-{pid}")));
    std::fs::create_dir_all(&data)?;
    let scratch = format!("koban_bench_{pid}");
    let url = match &b.database {
        Some(server) => koban_store::postgres::create_scratch_database(server, &scratch).await?,
        None => format!("sqlite://{}", data.join("bench.sqlite3").display()),
    };
    let result = audit_inner(&b, &url, &data).await;
    if let Some(server) = &b.database {
        koban_store::postgres::drop_scratch_database(server, &scratch).await?;
    }
    if b.data.is_none() {
        let _ = std::fs::remove_dir_all(&data);
    }
    let report = result?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

async fn audit_inner(
    b: &AuditBench,
    url: &str,
    data: &std::path::Path,
) -> Result<serde_json::Value> {
    let store = koban_store::connect(url, b.sqlite_sync).await?;
    let backend = store.backend().to_string();
    let koban = Koban::open(
        store.clone(),
        data,
        Arc::new(SystemClock),
        koban_service::Config::default(),
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;

    // An administrator session and a station to write to.
    let token = login(&koban, "bench-admin", Role::Administrator).await?;
    koban
        .system_import_units(
            "bench",
            b"id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address\n\
              st-13-bench,station,pref-13,\xe8\xa9\xa6\xe9\xa8\x93\xe7\xbd\xb2,Bench Station,13,35.68,139.76,\n",
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;

    // 1. Baseline: the same row update with no authentication and no audit.
    let baseline_per_s = timed_writes(b, store.clone(), false, &koban, &token).await?;
    eprintln!("baseline (unaudited update): {baseline_per_s:.0}/s");
    // 2. Audited writes through the service: authenticate, authorise, update, audit, commit.
    let audited_per_s = timed_writes(b, store.clone(), true, &koban, &token).await?;
    eprintln!("audited writes: {audited_per_s:.0}/s");

    // 3. Fill the log to the requested size in bulk, then verify it all.
    let have = store.audit_head().await?.map(|h| h.tree_size).unwrap_or(0);
    let t = Instant::now();
    let mut filled = have;
    while filled < b.events {
        let n = (b.events - filled).min(10_000);
        let mut tx = store.begin().await?;
        let drafts = (0..n)
            .map(|i| {
                let mut d = EventDraft {
                    actor_name: "bench".into(),
                    action: "bench.fill".into(),
                    result: "success".into(),
                    scope_pref: Some("13".into()),
                    ..Default::default()
                };
                d.object("org_unit", format!("st-13-bench-{}", filled + i));
                d
            })
            .collect();
        koban
            .audit()
            .append_many(&mut *tx, drafts, koban.now_us())
            .await
            .map_err(|e| anyhow!("{e}"))?;
        tx.commit().await?;
        filled += n;
        if filled % 100_000 < 10_000 {
            eprintln!("filled {filled} events");
        }
    }
    let fill_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let outcome = koban_service::verify::verify_store(store.as_ref(), Some(data), |_| {}).await?;
    let verify_s = t.elapsed().as_secs_f64();
    let events = match outcome {
        koban_service::verify::VerifyOutcome::Intact { summary, .. } => summary.events_checked,
        koban_service::verify::VerifyOutcome::Tampered { fault, .. } => {
            return Err(anyhow!("bench log failed verification: {fault}"));
        }
    };
    eprintln!("verified {events} events in {verify_s:.2} s");

    // 4. Inclusion proofs at that size.
    let t = Instant::now();
    let head = koban
        .audit()
        .synced_head(store.as_ref())
        .await
        .map_err(|e| anyhow!("{e}"))?
        .context("empty log")?;
    let cache_load_s = t.elapsed().as_secs_f64();
    let proofs = 10_000u64;
    let mut max_path = 0usize;
    let t = Instant::now();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..proofs {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let seq = x % head.tree_size;
        let (leaf, path) = koban
            .audit()
            .inclusion(seq, head.tree_size)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        koban_audit::verify_inclusion(&leaf, seq, head.tree_size, &path, &head.root_hash)
            .map_err(|e| anyhow!("proof failed to verify: {e}"))?;
        max_path = max_path.max(path.len());
    }
    let proof_us = t.elapsed().as_secs_f64() * 1e6 / proofs as f64;
    // The HTTP answer is hex JSON; measure the real response body through the service.
    let view = koban
        .audit_inclusion(&RequestCtx::default(), &token, head.tree_size / 3, None)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let json_bytes = serde_json::to_vec(&view)?.len();
    store.close().await;
    Ok(json!({
        "bench": "audit",
        "backend": backend,
        "sqlite_sync": format!("{:?}", b.sqlite_sync).to_lowercase(),
        "concurrency": b.concurrency,
        "writes": b.writes,
        "audited_writes_per_s": audited_per_s.round(),
        "baseline_unaudited_writes_per_s": baseline_per_s.round(),
        "audited_to_baseline_ratio": (audited_per_s / baseline_per_s * 1000.0).round() / 1000.0,
        "log_events": events,
        "bulk_fill_s": (fill_s * 100.0).round() / 100.0,
        "verify_s": (verify_s * 1000.0).round() / 1000.0,
        "proof_cache_load_s": (cache_load_s * 1000.0).round() / 1000.0,
        "inclusion_proof_us": (proof_us * 100.0).round() / 100.0,
        "inclusion_proof_hashes": max_path,
        "inclusion_proof_bytes_binary": max_path * 32,
        "inclusion_proof_bytes_json": json_bytes,
    }))
}

/// Runs `b.writes` updates of the bench station over `b.concurrency` tasks; through the
/// audited service when `audited`, else as a bare transaction (the baseline).
async fn timed_writes(
    b: &AuditBench,
    store: Arc<dyn Store>,
    audited: bool,
    koban: &Koban,
    token: &str,
) -> Result<f64> {
    let per_task = b.writes / b.concurrency;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..b.concurrency {
        let (store, koban, token) = (store.clone(), koban.clone(), token.to_string());
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                let address = format!("bench {w}-{i}");
                if audited {
                    let patch = UnitPatch {
                        address: Some(address),
                        ..Default::default()
                    };
                    koban
                        .update_unit(&RequestCtx::default(), &token, "st-13-bench", patch)
                        .await
                        .map_err(|e| anyhow!("{e}"))?;
                } else {
                    let mut tx = store.begin().await?;
                    let mut row = tx.get_unit("st-13-bench").await?.context("bench station")?;
                    row.unit.address = Some(address);
                    tx.update_unit(&row).await?;
                    tx.commit().await?;
                }
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((per_task * b.concurrency) as f64 / t.elapsed().as_secs_f64())
}

fn reference_data() -> PathBuf {
    std::env::var_os("KOBAN_REFERENCE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data"))
}

/// Precision, recall and F1 of a scorer over labelled pairs at a threshold.
fn prf(
    pairs: &[(String, String, bool)],
    threshold: f64,
    score: impl Fn(&str, &str) -> f64,
) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut fne) = (0.0f64, 0.0f64, 0.0f64);
    for (a, b, truth) in pairs {
        let predicted = score(a, b) >= threshold;
        match (predicted, *truth) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fne += 1.0,
            _ => {}
        }
    }
    let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let r = if tp + fne > 0.0 { tp / (tp + fne) } else { 0.0 };
    let f = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    (p, r, f)
}

/// The naive baseline: normalised Levenshtein similarity of the case-folded strings.
fn levenshtein_similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    1.0 - prev[b.len()] as f64 / a.len().max(b.len()) as f64
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The value at quantile `q` of an ascending sample (nearest rank).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n => sorted[(((n - 1) as f64) * q).round() as usize],
    }
}

/// `{p50, p95, p99, max, n}` of a sample of milliseconds, rounded to µs; null when empty.
pub(crate) fn summary_ms(mut v: Vec<f64>) -> serde_json::Value {
    if v.is_empty() {
        return serde_json::Value::Null;
    }
    v.sort_by(f64::total_cmp);
    json!({
        "p50": round3(quantile(&v, 0.5)),
        "p95": round3(quantile(&v, 0.95)),
        "p99": round3(quantile(&v, 0.99)),
        "max": round3(quantile(&v, 1.0)),
        "n": v.len(),
    })
}

/// Creates a pref-13 account with one role and logs it on through the service (TOTP
/// included), returning the bearer token: every bench acts as a real, audited user.
pub(crate) async fn login(koban: &Koban, username: &str, role: Role) -> Result<String> {
    let password = crate::demo::generate_password()?;
    let created = koban
        .system_create_user(
            "bench",
            NewUser {
                username: username.into(),
                display_name: username.into(),
                unit_id: "pref-13".into(),
                roles: vec![role],
                password: password.clone(),
                allow_concurrent: true,
            },
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let secret = koban_auth::totp::TotpSecret::from_base32(&created.totp_secret)
        .map_err(|e| anyhow!("{e}"))?;
    let code = koban_auth::totp::totp_code(&secret, koban.now_us() / 1_000_000);
    let r = koban
        .login(
            &RequestCtx::default(),
            LoginRequest {
                username: username.into(),
                password,
                totp_code: code,
                terminal_key: None,
            },
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok(r.token)
}

fn names(b: NamesBench) -> Result<ExitCode> {
    let path = b
        .cases
        .unwrap_or_else(|| reference_data().join("names/nomenklatura-name-cases.csv"));
    let mut rdr =
        csv::Reader::from_path(&path).with_context(|| format!("opening {}", path.display()))?;
    let h = rdr.headers()?.clone();
    let col = |n: &str| {
        h.iter()
            .position(|c| c == n)
            .with_context(|| format!("column {n}"))
    };
    let (i1, i2, im) = (col("name1")?, col("name2")?, col("is_match")?);
    let mut pairs = Vec::new();
    for rec in rdr.records() {
        let rec = rec?;
        let get = |i: usize| rec.get(i).unwrap_or("").to_string();
        pairs.push((get(i1), get(i2), get(im).eq_ignore_ascii_case("true")));
    }
    let t = Instant::now();
    let (p, r, f) = prf(&pairs, koban_names::DEFAULT_THRESHOLD, koban_names::compare);
    let elapsed = t.elapsed().as_secs_f64();
    let (bp, br, bf) = prf(&pairs, 0.7, levenshtein_similarity);
    println!(
        "{}",
        json!({
            "bench": "names",
            "cases": path.display().to_string(),
            "pairs": pairs.len(),
            "threshold": koban_names::DEFAULT_THRESHOLD,
            "precision": round3(p), "recall": round3(r), "f1": round3(f),
            "us_per_pair": round3(elapsed * 1e6 / pairs.len().max(1) as f64),
            "baseline_levenshtein_0_7": {"precision": round3(bp), "recall": round3(br), "f1": round3(bf)},
            "published_baseline_opensanctions": {"precision": 0.76, "recall": 0.82, "f1": 0.79},
        })
    );
    Ok(ExitCode::SUCCESS)
}

const FAMILY: &[&str] = &[
    "さとう",
    "すずき",
    "たかはし",
    "たなか",
    "わたなべ",
    "いとう",
    "やまもと",
    "なかむら",
    "こばやし",
    "かとう",
    "よしだ",
    "やまだ",
    "ささき",
    "やまぐち",
    "まつもと",
    "いのうえ",
    "きむら",
    "はやし",
    "さいとう",
    "しみず",
    "やまざき",
    "もり",
    "あべ",
    "いけだ",
    "はしもと",
    "やました",
    "いしかわ",
    "なかじま",
    "まえだ",
    "ふじた",
    "おがわ",
    "ごとう",
    "おかだ",
    "はせがわ",
    "むらかみ",
    "こんどう",
    "いしい",
    "さかもと",
    "えんどう",
    "あおき",
    "おおた",
    "おおの",
    "ほんま",
    "なんば",
    "はっとり",
    "こうの",
    "しょうじ",
    "ちば",
    "つじ",
    "せのお",
];
const GIVEN: &[&str] = &[
    "はなこ",
    "ようこ",
    "いちろう",
    "しょういち",
    "けいこ",
    "ゆうこ",
    "ゆきこ",
    "ひろし",
    "たかし",
    "あきら",
    "まさお",
    "なおき",
    "けんじ",
    "だいすけ",
    "しんいち",
    "ゆうき",
    "さくら",
    "みさき",
    "りょうた",
    "しょうた",
    "じゅんいち",
    "こうじ",
    "まゆみ",
    "あやこ",
    "ともこ",
    "きょうこ",
    "しゅうへい",
    "ゆうた",
    "はると",
    "ちひろ",
];

fn screen(b: ScreenBench) -> Result<ExitCode> {
    use koban_names::screen::{Date, Passenger, Screener, WatchEntry};
    anyhow::ensure!(
        b.records > 0 && b.passengers > 0,
        "--records and --passengers must be positive"
    );
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let date = |r: &mut dyn FnMut(usize) -> usize| Date {
        year: 1940 + r(70) as i32,
        month: 1 + r(12) as u8,
        day: 1 + r(28) as u8,
    };
    let t = Instant::now();
    let entries: Vec<WatchEntry> = (0..b.records)
        .map(|i| {
            let (f, g) = (FAMILY[rnd(FAMILY.len())], GIVEN[rnd(GIVEN.len())]);
            WatchEntry {
                id: format!("W{i}"),
                family_name: koban_names::kana_to_hepburn(f).unwrap_or_default(),
                given_name: koban_names::kana_to_hepburn(g).unwrap_or_default(),
                family_name_kana: f.to_string(),
                given_name_kana: g.to_string(),
                date_of_birth: date(&mut rnd),
                nationality: "JPN".into(),
            }
        })
        .collect();
    // A tenth of the passengers are people on the list, written as a passport would.
    let manifest: Vec<Passenger> = (0..b.passengers)
        .map(|i| {
            if i % 10 == 0 {
                let e = &entries[rnd(entries.len())];
                Passenger {
                    passenger_id: format!("P{i}"),
                    surname: e.family_name.clone(),
                    given_names: e.given_name.clone(),
                    date_of_birth: e.date_of_birth,
                    nationality: "JPN".into(),
                    document_number: format!("TK{:07}", i),
                }
            } else {
                Passenger {
                    passenger_id: format!("P{i}"),
                    surname: koban_names::kana_to_hepburn(FAMILY[rnd(FAMILY.len())])
                        .unwrap_or_default(),
                    given_names: koban_names::kana_to_hepburn(GIVEN[rnd(GIVEN.len())])
                        .unwrap_or_default(),
                    date_of_birth: date(&mut rnd),
                    nationality: "JPN".into(),
                    document_number: format!("TK{:07}", i),
                }
            }
        })
        .collect();
    let generate_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let screener = Screener::new(entries.clone());
    let index_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let hits = screener.screen_all(&manifest, 0);
    let screen_s = t.elapsed().as_secs_f64();
    let seeded = manifest.iter().step_by(10).count();
    let seeded_found = manifest
        .iter()
        .step_by(10)
        .filter(|p| hits.iter().any(|h| h.passenger_id == p.passenger_id))
        .count();
    // Baseline: compare each of a few passengers with every entry (no date index), then
    // extrapolate to the whole manifest.
    let keys: Vec<koban_names::NameKey> = entries
        .iter()
        .map(|e| {
            koban_names::name_key_with_reading(
                &format!("{} {}", e.family_name, e.given_name),
                &format!("{} {}", e.family_name_kana, e.given_name_kana),
            )
        })
        .collect();
    let n_base = b.baseline_passengers.clamp(1, b.passengers);
    let t = Instant::now();
    let mut base_hits = 0usize;
    for p in &manifest[..n_base] {
        let k = koban_names::name_key(&format!("{} {}", p.surname, p.given_names));
        base_hits += entries
            .iter()
            .zip(&keys)
            .filter(|(e, ek)| {
                e.date_of_birth == p.date_of_birth
                    && koban_names::compare_keys(&k, ek) >= koban_names::DEFAULT_THRESHOLD
            })
            .count();
    }
    let baseline_s = t.elapsed().as_secs_f64() * b.passengers as f64 / n_base as f64;
    println!(
        "{}",
        json!({
            "bench": "screen",
            "records": b.records,
            "passengers": b.passengers,
            "generate_s": round3(generate_s),
            "index_build_s": round3(index_s),
            "screen_s": round3(screen_s),
            "hits": hits.len(),
            "seeded_true_matches": seeded,
            "seeded_found": seeded_found,
            "baseline_full_scan_s_extrapolated": round3(baseline_s),
            "baseline_passengers_measured": n_base,
            "baseline_hits_in_sample": base_hits,
            "speedup_vs_full_scan": round3(baseline_s / screen_s.max(1e-9)),
        })
    );
    Ok(ExitCode::SUCCESS)
}

fn roads(b: RoadsBench) -> Result<ExitCode> {
    anyhow::ensure!(
        b.grid >= 2 && b.queries > 0 && b.baseline_queries > 0,
        "bad parameters"
    );
    let mut osm = Vec::new();
    let t = Instant::now();
    koban_roads::synth_osm(&koban_roads::SynthParams::tokyo(b.grid, 1), &mut osm)?;
    let synth_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let graph = koban_roads::RoadGraph::from_osm_xml(osm.as_slice()).map_err(|e| anyhow!("{e}"))?;
    let import_s = t.elapsed().as_secs_f64();
    let (nodes, arcs) = (graph.node_count(), graph.arc_count());
    let t = Instant::now();
    let router = koban_roads::Router::build(graph);
    let build_s = t.elapsed().as_secs_f64();
    let bytes = router.to_bytes();
    let t = Instant::now();
    let router = koban_roads::Router::from_bytes(&bytes).map_err(|e| anyhow!("{e}"))?;
    let load_s = t.elapsed().as_secs_f64();
    let n = nodes as u32;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % u64::from(n)) as u32
    };
    let pairs: Vec<(u32, u32)> = (0..b.queries).map(|_| (next(), next())).collect();
    let ch = router.hierarchy();
    let t = Instant::now();
    let mut reachable = 0usize;
    for &(a, z) in &pairs {
        reachable += usize::from(ch.query(a, z).is_some());
    }
    let ch_us = t.elapsed().as_secs_f64() * 1e6 / pairs.len() as f64;
    let t = Instant::now();
    let mut agree = 0usize;
    for &(a, z) in pairs.iter().take(b.baseline_queries) {
        let d = router.graph().dijkstra_time_ms(a, z);
        agree += usize::from(d == ch.query(a, z).map(|r| r.time_ms));
    }
    let base_n = b.baseline_queries.min(pairs.len());
    let dijkstra_us = t.elapsed().as_secs_f64() * 1e6 / base_n as f64;
    // One incident, 100 units, through snapping as dispatch will call it.
    let coord = |i: u32| router.graph().coord(i);
    let units: Vec<koban_roads::LatLon> = (0..100).filter_map(|_| coord(next())).collect();
    let incident = coord(next()).context("empty road graph")?;
    let t = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        let _ = router.travel_many_to_one(&units, incident);
    }
    let m2o_ms = t.elapsed().as_secs_f64() * 1e3 / f64::from(rounds);
    println!(
        "{}",
        json!({
            "bench": "roads",
            "grid": b.grid,
            "nodes": nodes,
            "arcs": arcs,
            "synth_s": round3(synth_s),
            "import_s": round3(import_s),
            "index_build_s": round3(build_s),
            "index_bytes": bytes.len(),
            "index_load_s": round3(load_s),
            "ch_query_us": round3(ch_us),
            "reachable_pairs": reachable,
            "baseline_dijkstra_query_us": round3(dijkstra_us),
            "baseline_queries_agreeing": format!("{agree}/{base_n}"),
            "speedup_vs_dijkstra": round3(dijkstra_us / ch_us.max(1e-9)),
            "many_to_one_100_units_ms": round3(m2o_ms),
        })
    );
    Ok(ExitCode::SUCCESS)
}
