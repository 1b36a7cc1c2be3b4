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
    let password = crate::demo::generate_password()?;
    let created = koban
        .system_create_user(
            "bench",
            NewUser {
                username: "bench-admin".into(),
                display_name: "bench".into(),
                unit_id: "pref-13".into(),
                roles: vec![Role::Administrator],
                password: password.clone(),
                allow_concurrent: true,
            },
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let secret = koban_auth::totp::TotpSecret::from_base32(&created.totp_secret)
        .map_err(|e| anyhow!("{e}"))?;
    let code = koban_auth::totp::totp_code(&secret, koban.now_us() / 1_000_000);
    let login = koban
        .login(
            &RequestCtx::default(),
            LoginRequest {
                username: "bench-admin".into(),
                password,
                totp_code: code,
                terminal_key: None,
            },
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    koban
        .system_import_units(
            "bench",
            b"id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address\n\
              st-13-bench,station,pref-13,\xe8\xa9\xa6\xe9\xa8\x93\xe7\xbd\xb2,Bench Station,13,35.68,139.76,\n",
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;

    // 1. Baseline: the same row update with no authentication and no audit.
    let baseline_per_s = timed_writes(b, store.clone(), None, &koban, &login.token).await?;
    eprintln!("baseline (unaudited update): {baseline_per_s:.0}/s");
    // 2. Audited writes through the service: authenticate, authorise, update, audit, commit.
    let audited_per_s = timed_writes(b, store.clone(), Some(()), &koban, &login.token).await?;
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
        .audit_inclusion(
            &RequestCtx::default(),
            &login.token,
            head.tree_size / 3,
            None,
        )
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

/// Runs `b.writes` updates of the bench station over `b.concurrency` tasks; audited
/// through the service when `audited` is set, else as a bare transaction.
async fn timed_writes(
    b: &AuditBench,
    store: Arc<dyn Store>,
    audited: Option<()>,
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
                if audited.is_some() {
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
