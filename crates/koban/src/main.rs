//! `koban`: the one binary. A thin shell over the library crates: it parses the command
//! line, opens storage, and hands over to the API server, the service layer or a tool.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use koban_access::Role;
use koban_auth::password::HashAlgorithm;
use koban_service::{AccountChange, Config, Koban, NewUser, SystemClock};
use koban_store::{SqliteSync, Store};

/// mimalloc instead of the system allocator. A profile of the bulk import found a quarter
/// of the storing thread in glibc's malloc and free, much of it on arena locks: records are
/// parsed on one thread and freed on another. mimalloc frees across threads without a
/// shared lock and is the allocator the measured figures in BENCHMARKS.md were taken with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod bench_intake;
mod bench_osrm;
mod bench_recommend;
mod demo;
mod loadgen;
mod names;
mod records;
mod registry_bench;
mod selfcheck;
mod sim;

/// Name of the SQLite database file inside the data directory.
const SQLITE_FILE: &str = "koban.sqlite3";

#[derive(Parser, Debug)]
#[command(
    name = "koban",
    version,
    about = "koban — police information & communications platform"
)]
struct Cli {
    /// Log format for operational logs on stderr (the audit log is separate, in the database).
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the API server.
    Serve(ServeArgs),
    /// Manage user accounts from the server console.
    #[command(subcommand)]
    User(UserCommand),
    /// Work with the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Import reference data.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Create a demo data directory (sample stations, one user per role) and serve it.
    Demo(DemoArgs),
    /// Measure performance; each benchmark prints its result as a final JSON line.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Road network tools.
    #[command(subcommand)]
    Roads(RoadsCommand),
    /// The national records registry's scheduled work.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Name matching across scripts and romanisations.
    #[command(subcommand)]
    Names(NamesCommand),
    /// Screen a passenger manifest against a watchlist (CSV in, CSV out).
    Screen(names::ScreenArgs),
    /// The daily check: storage, audit log, reference data, event bus; non-zero on a fault.
    Selfcheck(selfcheck::SelfcheckArgs),
    /// Print the current TOTP code for a secret (for demos and scripted tests).
    TotpCode {
        /// The base32 secret shown when the account was created.
        #[arg(long)]
        secret: String,
    },
}

/// Where koban keeps its data.
#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// Data directory: the audit signing key, and the SQLite database unless --database is given.
    #[arg(long, env = "KOBAN_DATA")]
    data: PathBuf,
    /// PostgreSQL URL (postgres://user@host/db); without it, SQLite in the data directory.
    #[arg(long, env = "KOBAN_DATABASE")]
    database: Option<String>,
    /// SQLite durability: full (every commit reaches the disk) or normal (WAL; survives a
    /// crash of koban, not of the machine).
    #[arg(long, default_value = "full")]
    sqlite_sync: SqliteSync,
    /// Hash passwords with PBKDF2-HMAC-SHA256 (600,000 iterations) instead of Argon2id.
    #[arg(long)]
    fips: bool,
    /// Name of this audit log in signed checkpoints.
    #[arg(long, default_value = "koban")]
    audit_origin: String,
    /// Key file sealing TOTP secrets at rest (default: secrets.key in the data directory).
    /// Every instance sharing one PostgreSQL database needs the same file.
    #[arg(long, env = "KOBAN_SECRETS_KEY")]
    secrets_key: Option<PathBuf>,
    /// NENA EIDO OpenAPI schema file, needed to import EIDO documents (default:
    /// $KOBAN_REFERENCE_DATA/eido/eido-openapi.yaml when that variable is set). Without
    /// one, POST /api/v1/eido answers 503; export works regardless.
    #[arg(long)]
    eido_schema: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8110")]
    listen: String,
    /// PEM certificate chain; with --tls-key, serve HTTPS only.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(flatten)]
    live: LiveArgs,
    /// Sweep the registry's hit-confirmation queue this often, in seconds: overdue requests
    /// are re-sent, then escalated (0: never; run `koban registry sweep` instead). Every
    /// instance may sweep: each request is handled once.
    #[arg(long, default_value_t = 30)]
    hit_sweep_secs: u64,
}

/// How live events reach this instance's subscribers.
#[derive(Args, Debug, Clone)]
pub struct LiveArgs {
    /// NATS server carrying live events between instances that share a PostgreSQL
    /// database, e.g. nats://127.0.0.1:4222. Without it, one instance serves alone.
    #[arg(long, env = "KOBAN_NATS_URL")]
    pub nats_url: Option<String>,
    /// JetStream stream of this deployment (every instance on one database uses the same).
    #[arg(long, env = "KOBAN_NATS_STREAM", default_value = "KOBAN")]
    pub nats_stream: String,
    /// How often the event table is re-read without a nudge, in milliseconds (the safety
    /// net when the bus is down).
    #[arg(long, default_value_t = 1000)]
    pub events_poll_ms: u64,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create an account. Prints its TOTP enrolment; the password comes from stdin
    /// (--password-stdin) or is generated and printed.
    Add {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// Organisation unit id, e.g. pref-13 or st-13-marunouchi.
        #[arg(long)]
        unit: String,
        /// Role (repeatable): call_taker, dispatcher, field_officer, query_operator,
        /// records_clerk, analyst, auditor, administrator.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        allow_concurrent: bool,
    },
    /// Unlock an account locked by failed logons.
    Unlock {
        #[command(flatten)]
        storage: StorageArgs,
        username: String,
    },
    /// Disable an account and end its sessions.
    Disable {
        #[command(flatten)]
        storage: StorageArgs,
        username: String,
    },
    /// Re-enable a disabled account.
    Enable {
        #[command(flatten)]
        storage: StorageArgs,
        username: String,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Recompute the Merkle tree from storage and check every event and checkpoint.
    /// Exits 0 when intact, 1 naming the first bad event when not, 2 on other errors.
    Verify {
        #[command(flatten)]
        storage: StorageArgs,
        /// A checkpoint kept elsewhere (JSON from `koban audit checkpoint` or
        /// GET /api/v1/audit/checkpoint); the log must still contain and agree with it.
        /// Repeatable.
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
    },
    /// Print the latest signed checkpoint as JSON, for an auditor or another
    /// prefecture to keep as a witness.
    Checkpoint {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Subcommand, Debug)]
enum ImportCommand {
    /// Import town-level address points: a CSV with the Geolonia column names
    /// (都道府県名,市区町村名,大字町丁目名,小字・通称名,緯度,経度). Replaces earlier points.
    Addresses {
        #[command(flatten)]
        storage: StorageArgs,
        file: PathBuf,
    },
    /// Import a road network from OpenStreetMap data, XML (.osm) or PBF (.osm.pbf):
    /// drivable ways, one-way rules, speeds. Builds the routing index once and stores it; replaces the earlier network.
    Roads {
        #[command(flatten)]
        storage: StorageArgs,
        file: PathBuf,
    },
    /// Import municipality boundaries: GeoJSON with N03 properties (one national file or
    /// one file per prefecture). Replaces earlier boundaries.
    Boundaries {
        #[command(flatten)]
        storage: StorageArgs,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Import station jurisdictions (管轄区域): one GeoJSON FeatureCollection of Polygon or
    /// MultiPolygon features with `properties.station_id`. Reverse lookups then answer with
    /// the station whose jurisdiction holds the point. Replaces earlier jurisdictions.
    Jurisdictions {
        #[command(flatten)]
        storage: StorageArgs,
        file: PathBuf,
    },
    /// Import registry records from JSON Lines (one record file per line, with owner_pref
    /// and optionally entered_by and entered_on) or CSV (dotted column names, e.g.
    /// kind,owner_pref,plate,plates_taken,stolen_on). Bad lines are reported as
    /// file:line: field: message and skipped; good lines are loaded in batches, each one
    /// transaction with one audit event.
    Records {
        #[command(flatten)]
        storage: StorageArgs,
        file: PathBuf,
        /// csv or jsonl (default: by the file's extension).
        #[arg(long)]
        format: Option<records::Format>,
        /// Records per transaction.
        #[arg(long, default_value_t = 50_000)]
        batch: usize,
    },
    /// Import stations, koban and chuzaisho from CSV
    /// (id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address). All rows or none.
    Stations {
        #[command(flatten)]
        storage: StorageArgs,
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum RegistryCommand {
    /// Purge records that are due: unvalidated past their window, stolen articles past
    /// their retention, located records not cleared within two weeks, located missing
    /// persons. Meant for a nightly schedule; each removal is audited with its reason.
    Purge {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Sweep the hit-confirmation queue once: re-send overdue requests that have re-sends
    /// left, escalate the others (once). Prints a JSON report. `koban serve` does this every
    /// 30 seconds unless --hit-sweep-secs 0.
    Sweep {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Export the active hot files as JSON Lines for a site with a poor link. Give the
    /// version printed by the previous export to get only what changed since (removals
    /// included); without it, a full copy.
    Export {
        #[command(flatten)]
        storage: StorageArgs,
        /// Version of the copy the site already holds.
        #[arg(long, default_value = "")]
        since: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum RoadsCommand {
    /// Write a synthetic city road network as OSM XML: a street grid with arterials,
    /// one-way streets, speed classes and a river with few bridges.
    Synth {
        /// Streets per side (the city has grid² intersections, 100 m apart).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(2..=2000))]
        grid: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum NamesCommand {
    /// Score name pairs from a CSV (columns name1,name2); writes the rows with a score column.
    Compare(names::CompareArgs),
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Demo data directory (created if missing; reused if it holds a demo).
    #[arg(long, default_value = "demo-data")]
    data: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8110")]
    listen: String,
    /// Set everything up and print the logons, but do not serve.
    #[arg(long)]
    no_serve: bool,
    /// Patrol cars the simulator drives (a busy prefecture: 1000).
    #[arg(long, default_value_t = demo::SIM_UNITS, value_parser = clap::value_parser!(u32).range(1..=5000))]
    units: u32,
    /// Synthetic 110 calls per minute (a busy evening: 300, five a second).
    #[arg(long, default_value_t = demo::SIM_CALLS_PER_MINUTE, value_parser = clap::value_parser!(u32).range(0..=1200))]
    calls_per_minute: u32,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let (koban, _) = open(&args.storage).await?;
            let tls = match (args.tls_cert, args.tls_key) {
                (Some(cert), Some(key)) => Some(koban_api::TlsFiles { cert, key }),
                _ => None,
            };
            start_live(&koban, &args.live);
            start_hit_sweep(&koban, args.hit_sweep_secs);
            serve(koban, &args.listen, tls).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User(cmd) => user(cmd).await,
        Command::Audit(AuditCommand::Verify {
            storage,
            checkpoints,
        }) => audit_verify(&storage, &checkpoints).await,
        Command::Audit(AuditCommand::Checkpoint { storage }) => {
            let store = open_existing_store(&storage).await?;
            let head = store
                .audit_head()
                .await?
                .context("the audit log is empty")?;
            let keys = store.audit_keys().await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&koban_service::checkpoint_view(&head, &keys))?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(ImportCommand::Stations { storage, file }) => {
            let (koban, _) = open(&storage).await?;
            let csv =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            match koban.system_import_units(&console_name(), &csv).await {
                Ok(report) => {
                    println!("imported {} units", report.created);
                    Ok(ExitCode::SUCCESS)
                }
                Err(koban_service::ServiceError::InvalidLines(lines)) => {
                    for l in &lines {
                        eprintln!(
                            "{}:{}: {}: {} ({})",
                            file.display(),
                            l.line,
                            l.field,
                            l.message,
                            l.code
                        );
                    }
                    eprintln!("nothing was imported: {} bad line(s)", lines.len());
                    Ok(ExitCode::from(1))
                }
                Err(e) => bail!("{e}"),
            }
        }
        Command::Import(ImportCommand::Records {
            storage,
            file,
            format,
            batch,
        }) => {
            let (koban, _) = open(&storage).await?;
            let format = format.unwrap_or_else(|| records::Format::of(&file));
            let mut err = std::io::stderr();
            let s = records::import(
                &koban,
                &console_name(),
                &file,
                format,
                batch,
                true,
                &mut err,
            )
            .await?;
            println!(
                "imported {} records from {} lines in {:.1} s ({:.0}/s); {} line(s) skipped; sha256 {}",
                s.loaded,
                s.lines,
                s.seconds,
                s.loaded as f64 / s.seconds.max(1e-9),
                s.rejected,
                s.sha256
            );
            Ok(if s.rejected == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Import(ImportCommand::Addresses { storage, file }) => {
            import_geo(&storage, koban_service::geo::ADDRESSES, &[file]).await
        }
        Command::Import(ImportCommand::Roads { storage, file }) => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let (koban, _) = open(&storage).await?;
            match koban
                .system_import_roads(&console_name(), file.display().to_string(), bytes)
                .await
            {
                Ok(r) => {
                    println!("imported a road network of {} nodes", r.records);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("nothing was imported: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Roads(RoadsCommand::Synth { grid, seed, out }) => {
            let params = koban_roads::SynthParams::tokyo(grid, seed);
            let sink: Box<dyn std::io::Write> = match &out {
                Some(path) => Box::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                ),
                None => Box::new(std::io::stdout()),
            };
            let mut w = std::io::BufWriter::new(sink);
            koban_roads::synth_osm(&params, &mut w)?;
            std::io::Write::flush(&mut w)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(ImportCommand::Jurisdictions { storage, file }) => {
            import_geo(&storage, koban_service::geo::JURISDICTIONS, &[file]).await
        }
        Command::Import(ImportCommand::Boundaries { storage, files }) => {
            import_geo(&storage, koban_service::geo::BOUNDARIES, &files).await
        }
        Command::Registry(RegistryCommand::Purge { storage }) => {
            let (koban, _) = open(&storage).await?;
            let r = koban.system_purge_records(&console_name()).await?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Registry(RegistryCommand::Sweep { storage }) => {
            let (koban, _) = open(&storage).await?;
            let r = koban.system_sweep_hit_requests(&console_name()).await?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Registry(RegistryCommand::Export {
            storage,
            since,
            out,
        }) => {
            let (koban, _) = open(&storage).await?;
            let f = std::fs::File::create(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            let mut w = std::io::BufWriter::new(f);
            let r = match koban
                .system_export_records(&console_name(), &since, &mut w)
                .await
            {
                Ok(r) => r,
                Err(koban_service::ServiceError::Invalid {
                    field,
                    code,
                    message,
                }) => {
                    // The stable code first, so a site's script can tell "take a full
                    // copy" (full_copy_required) from a mistyped version.
                    drop(w);
                    let _ = std::fs::remove_file(&out);
                    eprintln!("error: {code}: {field}: {message}");
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(e.into()),
            };
            println!(
                "exported {} records and {} removals; next time use --since {}",
                r.records, r.removed, r.version
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => demo::run(args).await,
        Command::Names(NamesCommand::Compare(args)) => names::compare(args),
        Command::Screen(args) => names::screen(args),
        Command::Selfcheck(args) => selfcheck::run(args).await,
        Command::Bench(cmd) => bench::run(cmd).await,
        Command::TotpCode { secret } => {
            let secret = koban_auth::totp::TotpSecret::from_base32(&secret).context("--secret")?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("clock")?
                .as_secs();
            println!(
                "{}",
                koban_auth::totp::totp_code(&secret, i64::try_from(now).context("clock")?)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn import_geo(storage: &StorageArgs, kind: &str, files: &[PathBuf]) -> Result<ExitCode> {
    let mut parts = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        parts.push((f.display().to_string(), bytes));
    }
    let (koban, _) = open(storage).await?;
    match koban.system_import_geo(&console_name(), kind, parts).await {
        Ok(r) => {
            println!(
                "imported {} {kind} records from {} file(s)",
                r.records, r.files
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("nothing was imported: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Who is at the console, for the audit log.
fn console_name() -> String {
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{who}")
}

/// Opens storage and the application.
impl StorageArgs {
    /// The data directory.
    pub fn storage_data(&self) -> &Path {
        &self.data
    }
}

pub async fn open(s: &StorageArgs) -> Result<(Koban, Arc<dyn Store>)> {
    let store = open_store(s).await?;
    let config = Config {
        password_algorithm: if s.fips {
            HashAlgorithm::Pbkdf2Sha256
        } else {
            HashAlgorithm::Argon2id
        },
        audit_origin: s.audit_origin.clone(),
        secrets_key_file: s.secrets_key.clone(),
        eido_schema: s.eido_schema.clone().or_else(|| {
            std::env::var_os("KOBAN_REFERENCE_DATA")
                .map(|root| PathBuf::from(root).join("eido/eido-openapi.yaml"))
                // Only an explicit --eido-schema must exist; the default is used if there.
                .filter(|p| p.is_file())
        }),
        ..Config::default()
    };
    let koban = Koban::open(store.clone(), &s.data, Arc::new(SystemClock), config)
        .await
        .context("opening koban")?;
    Ok((koban, store))
}

pub async fn open_store(s: &StorageArgs) -> Result<Arc<dyn Store>> {
    std::fs::create_dir_all(&s.data).with_context(|| format!("creating {}", s.data.display()))?;
    let url = match &s.database {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", s.data.join(SQLITE_FILE).display()),
    };
    koban_store::connect(&url, s.sqlite_sync)
        .await
        .with_context(|| format!("opening the database ({})", redact(&url)))
}

/// Hides a password in a database URL before it is printed.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Default for LiveArgs {
    fn default() -> Self {
        LiveArgs {
            nats_url: None,
            nats_stream: "KOBAN".into(),
            events_poll_ms: 1000,
        }
    }
}

/// Starts the live event feeder and, with a NATS URL, the outbox relay and the bus
/// consumer. A NATS server that is down at start is retried in the background: events wait
/// in the outbox meanwhile, and this instance's own subscribers are served from the table.
pub fn start_live(koban: &Koban, args: &LiveArgs) {
    let remote = args.nats_url.as_ref().map(|url| {
        let cfg = koban_bus::BusConfig::new(url.clone(), args.nats_stream.clone());
        let (to_hub, from_bus) = koban_bus::channel();
        let store = koban.store().clone();
        let commits = koban.live().commits();
        tokio::spawn(async move {
            let bus = loop {
                match koban_bus::Bus::connect(cfg.clone()).await {
                    Ok(bus) => break bus,
                    Err(e) => {
                        tracing::warn!(error = %e, "event bus unavailable; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    }
                }
            };
            tracing::info!(url = %cfg.url, stream = %cfg.stream, "event bus connected");
            tokio::spawn(bus.clone().run_relay(store, commits));
            bus.run_consumer(to_hub).await;
        });
        from_bus
    });
    let config = koban_service::live::FeederConfig {
        poll_ms: args.events_poll_ms,
        bus: remote.is_some(),
        ..Default::default()
    };
    let k = koban.clone();
    tokio::spawn(async move { k.run_live_feeder(remote, config).await });
}

/// Who the hit-confirmation sweep acts as, in the audit log and the records' histories.
pub const HIT_SWEEP_OPERATOR: &str = "system:hit-sweep";

/// Sweeps the hit-confirmation queue every `secs` seconds (0: never) until the process
/// stops. A failed sweep is logged and tried again at the next tick.
pub fn start_hit_sweep(koban: &Koban, secs: u64) {
    if secs == 0 {
        return;
    }
    let k = koban.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match k.system_sweep_hit_requests(HIT_SWEEP_OPERATOR).await {
                Ok(r) if r.resent + r.escalated > 0 => {
                    tracing::info!(
                        resent = r.resent,
                        escalated = r.escalated,
                        "hit-confirmation sweep"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "hit-confirmation sweep failed"),
            }
        }
    });
}

pub async fn serve(koban: Koban, listen: &str, tls: Option<koban_api::TlsFiles>) -> Result<()> {
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if tls.is_none() && !addr.ip().is_loopback() {
        // Tokens and police data would cross the network in clear text; say so loudly.
        tracing::warn!(%addr, "serving plain HTTP on a non-loopback address: configure --tls-cert/--tls-key or put koban behind a TLS terminator");
    }
    tracing::info!(%addr, database = %koban.store().backend(), "koban serving");
    println!("koban listening on {scheme}://{addr}");
    if koban_console::is_built() {
        println!("console at {scheme}://{addr}/");
    } else {
        tracing::warn!(
            why = koban_console::not_built(),
            "this binary carries no console"
        );
    }
    let app = koban_api::router_with_console(
        koban.clone(),
        koban_api::RateLimit::default(),
        console_file,
    );
    koban_api::serve(listener, app, tls, shutdown_signal()).await?;
    koban.store().close().await;
    Ok(())
}

/// The browser console's files, embedded at build time.
fn console_file(path: &str) -> Option<koban_api::console::StaticFile> {
    koban_console::file(path).map(|f| koban_api::console::StaticFile {
        bytes: f.bytes,
        content_type: f.content_type,
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

async fn user(cmd: UserCommand) -> Result<ExitCode> {
    let (storage, username, change) = match cmd {
        UserCommand::Add {
            storage,
            username,
            display_name,
            unit,
            roles,
            password_stdin,
            allow_concurrent,
        } => {
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from stdin")?;
                (line.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (demo::generate_password()?, true)
            };
            let (koban, _) = open(&storage).await?;
            let created = koban
                .system_create_user(
                    &console_name(),
                    NewUser {
                        username,
                        display_name,
                        unit_id: unit,
                        roles,
                        password: password.clone(),
                        allow_concurrent,
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created user {} ({})",
                created.user.username, created.user.id
            );
            if generated {
                println!("password:    {password}");
            }
            println!("TOTP secret: {}", created.totp_secret);
            println!("TOTP URI:    {}", created.totp_uri);
            return Ok(ExitCode::SUCCESS);
        }
        UserCommand::Unlock { storage, username } => (storage, username, AccountChange::Unlock),
        UserCommand::Disable { storage, username } => (storage, username, AccountChange::Disable),
        UserCommand::Enable { storage, username } => (storage, username, AccountChange::Enable),
    };
    let (koban, _) = open(&storage).await?;
    let view = koban
        .system_change_account(&console_name(), &username, change)
        .await
        .map_err(|e| anyhow::anyhow!("{username}: {e}"))?;
    println!(
        "{}: locked={} disabled={}",
        view.username, view.locked, view.disabled
    );
    Ok(ExitCode::SUCCESS)
}

/// Opens the store of an existing installation without the application (which would
/// register keys and bootstrap), never creating a missing database.
async fn open_existing_store(storage: &StorageArgs) -> Result<Arc<dyn Store>> {
    if storage.database.is_none() && !storage.data.join(SQLITE_FILE).exists() {
        bail!("no database in {}", storage.data.display());
    }
    open_store(storage).await
}

async fn audit_verify(storage: &StorageArgs, checkpoint_files: &[PathBuf]) -> Result<ExitCode> {
    let mut external = Vec::new();
    for f in checkpoint_files {
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        external.push(
            koban_service::verify::parse_external_checkpoint(&bytes)
                .with_context(|| format!("{}", f.display()))?,
        );
    }
    let store = open_existing_store(storage).await?;
    let started = std::time::Instant::now();
    let outcome = koban_service::verify::verify_store_with(
        store.as_ref(),
        Some(Path::new(&storage.data)),
        external,
        |_| {},
    )
    .await?;
    let elapsed_ms = started.elapsed().as_millis();
    match outcome {
        koban_service::verify::VerifyOutcome::Intact { summary, keys } => {
            println!(
                "audit log intact: {} events, {} checkpoints verified, root {} ({elapsed_ms} ms)",
                summary.events_checked,
                summary.checkpoints_checked,
                koban_audit::hex(&summary.final_root)
            );
            if !keys.from_database.is_empty() {
                println!(
                    "note: checkpoints signed by keys known only from the database were trusted: {}",
                    keys.from_database.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        koban_service::verify::VerifyOutcome::Tampered { fault, .. } => {
            println!("AUDIT LOG TAMPERED: {fault}");
            Ok(ExitCode::from(1))
        }
    }
}
