//! `koban demo`: a data directory with sample stations and one account per role, so a
//! newcomer can log on and look around within a minute.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, Result};
use koban_access::Role;
use koban_service::NewUser;
use koban_store::SqliteSync;

use crate::{DemoArgs, StorageArgs};

/// File in a demo data directory that keeps the demo logons, so that a second
/// `koban demo` can print them again. Only demo directories have one.
const CREDENTIALS_FILE: &str = "demo-credentials.txt";

/// Sample stations and boxes in Tokyo and Kanagawa (positions approximate).
const DEMO_UNITS_CSV: &str = "\
id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address
st-13-marunouchi,station,pref-13,丸の内警察署,Marunouchi Police Station,13,35.6843,139.7640,東京都千代田区有楽町1丁目
st-13-kojimachi,station,pref-13,麹町警察署,Kojimachi Police Station,13,35.6840,139.7450,東京都千代田区麹町1丁目
st-13-shinjuku,station,pref-13,新宿警察署,Shinjuku Police Station,13,35.6930,139.6960,東京都新宿区西新宿6丁目
st-13-ome,station,pref-13,青梅警察署,Ome Police Station,13,35.7880,139.2750,東京都青梅市
kb-13-tokyo-station,koban,st-13-marunouchi,東京駅丸の内口交番,Tokyo Station Marunouchi Koban,13,35.6813,139.7660,
kb-13-kabukicho,koban,st-13-shinjuku,歌舞伎町交番,Kabukicho Koban,13,35.6950,139.7020,
cz-13-nippara,chuzaisho,st-13-ome,日原駐在所,Nippara Residential Police Box,13,35.8490,139.0580,
st-14-kagacho,station,pref-14,加賀町警察署,Kagacho Police Station,14,35.4437,139.6444,神奈川県横浜市中区
st-14-isezakicho,station,pref-14,伊勢佐木警察署,Isezakicho Police Station,14,35.4416,139.6300,神奈川県横浜市中区
kb-14-chinatown,koban,st-14-kagacho,中華街交番,Chinatown Koban,14,35.4430,139.6460,
";

/// The demo accounts: (username, display name, unit, roles).
const DEMO_USERS: &[(&str, &str, &str, &[Role])] = &[
    ("calltaker", "受付 花子", "pref-13", &[Role::CallTaker]),
    ("dispatcher", "指令 太郎", "pref-13", &[Role::Dispatcher]),
    (
        "officer",
        "巡査 一郎",
        "st-13-marunouchi",
        &[Role::FieldOfficer],
    ),
    ("query", "照会 次郎", "pref-13", &[Role::QueryOperator]),
    ("clerk", "登録 三郎", "pref-13", &[Role::RecordsClerk]),
    ("analyst", "分析 四郎", "pref-13", &[Role::Analyst]),
    ("auditor", "監査 五郎", "pref-13", &[Role::Auditor]),
    ("admin", "管理 六郎", "pref-13", &[Role::Administrator]),
    (
        "kanagawa-admin",
        "神奈川 管理",
        "pref-14",
        &[Role::Administrator],
    ),
    ("npa-auditor", "警察庁 監査", "npa", &[Role::Auditor]),
    (
        "simulator",
        "訓練 シミュレータ",
        "pref-13",
        &[Role::CallTaker, Role::Dispatcher, Role::FieldOfficer],
    ),
];

/// Imports the public address points and boundaries from the shared reference data, when
/// it is there, so the demo can geocode. Missing data is reported, not fatal.
async fn load_reference_geography(koban: &koban_service::Koban) {
    let root = std::env::var_os("KOBAN_REFERENCE_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("../shared/data"));
    let addresses = root.join("geo/addresses-town-level.csv");
    match std::fs::read(&addresses) {
        Ok(bytes) => match koban
            .system_import_geo(
                "system:demo",
                koban_service::geo::ADDRESSES,
                vec![(addresses.display().to_string(), bytes)],
            )
            .await
        {
            Ok(r) => println!("loaded {} address points", r.records),
            Err(e) => eprintln!("address points not loaded: {e}"),
        },
        Err(_) => eprintln!(
            "no reference data at {} (set KOBAN_REFERENCE_DATA): geocoding is off",
            root.display()
        ),
    }
    let dir = root.join("geo/municipalities-by-prefecture");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "geojson"))
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p.display().to_string(), b)))
        .collect();
    files.sort();
    if !files.is_empty() {
        match koban
            .system_import_geo("system:demo", koban_service::geo::BOUNDARIES, files)
            .await
        {
            Ok(r) => println!("loaded {} municipality boundaries", r.records),
            Err(e) => eprintln!("boundaries not loaded: {e}"),
        }
    }
}

/// A random password of 20 characters in groups, strong and easy to read out.
pub fn generate_password() -> Result<String> {
    let bytes = koban_auth::token::random_id_bytes::<12>().map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = data_encoding::BASE32_NOPAD.encode(&bytes).to_lowercase();
    let groups: Vec<&str> = text
        .as_bytes()
        .chunks(5)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    Ok(groups.join("-"))
}

pub async fn run(args: DemoArgs) -> Result<ExitCode> {
    let storage = StorageArgs {
        data: args.data.clone(),
        database: None,
        sqlite_sync: SqliteSync::Full,
        fips: false,
        audit_origin: "koban-demo".into(),
        secrets_key: None,
        // The demo shows EIDO import when the reference data holds the schema.
        eido_schema: std::env::var_os("KOBAN_REFERENCE_DATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from("../shared/data"))
            .join("eido/eido-openapi.yaml")
            .canonicalize()
            .ok(),
    };
    let creds_path = args.data.join(CREDENTIALS_FILE);
    let (koban, _) = crate::open(&storage).await?;
    let text = if creds_path.exists() {
        std::fs::read_to_string(&creds_path)
            .with_context(|| format!("reading {}", creds_path.display()))?
    } else {
        let who = "system:demo";
        koban
            .system_import_units(who, DEMO_UNITS_CSV.as_bytes())
            .await
            .map_err(|e| anyhow::anyhow!("loading demo stations: {e}"))?;
        let mut text = String::from(
            "username         password                 TOTP secret                         roles\n",
        );
        for (username, name, unit, roles) in DEMO_USERS {
            let password = generate_password()?;
            let created = koban
                .system_create_user(
                    who,
                    NewUser {
                        username: (*username).into(),
                        display_name: (*name).into(),
                        unit_id: (*unit).into(),
                        roles: roles.to_vec(),
                        password: password.clone(),
                        allow_concurrent: true,
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("creating demo user {username}: {e}"))?;
            let role_names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            let _ = writeln!(
                text,
                "{:<16} {:<24} {:<35} {} @ {}",
                username,
                password,
                created.totp_secret,
                role_names.join(","),
                unit
            );
        }
        write_private(&creds_path, &text)?;
        load_reference_geography(&koban).await;
        // A synthetic road grid around Tokyo Station, so recommendations use road time.
        let mut osm = Vec::new();
        koban_roads::synth_osm(&koban_roads::SynthParams::tokyo(60, 1), &mut osm)?;
        match koban
            .system_import_roads(who, "synthetic-tokyo-60x60.osm".into(), osm)
            .await
        {
            Ok(r) => println!(
                "loaded a synthetic road network of {} intersections",
                r.records
            ),
            Err(e) => eprintln!("road network not loaded: {e}"),
        }
        text
    };
    println!("koban demo — data directory {}\n", args.data.display());
    println!("{text}");
    println!("Log on (the TOTP code changes every 30 s; each code works once):");
    println!("  CODE=$(koban totp-code --secret <TOTP secret>)");
    println!(
        "  curl -s http://{}/api/v1/auth/login -H 'content-type: application/json' \\\n    -d '{{\"username\":\"admin\",\"password\":\"<password>\",\"totp_code\":\"'$CODE'\"}}'",
        args.listen
    );
    println!(
        "Then send the returned token as 'Authorization: Bearer <token>'. API description: /api/v1/openapi.json\n"
    );
    if args.no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(line) = text.lines().find(|l| l.starts_with("simulator ")) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if let (Some(pw), Some(secret)) = (cols.get(1), cols.get(2)) {
            println!(
                "A simulator moves {} patrol cars and raises {} synthetic 110 calls a minute.\n",
                args.units, args.calls_per_minute
            );
            tokio::spawn(crate::sim::run(
                koban.clone(),
                crate::sim::SimLogon {
                    user: "simulator".into(),
                    password: (*pw).to_string(),
                    secret: (*secret).to_string(),
                },
                crate::sim::SimLoad {
                    units: args.units as usize,
                    calls_per_minute: args.calls_per_minute,
                },
            ));
        }
    }
    crate::start_live(&koban, &crate::LiveArgs::default());
    crate::start_hit_sweep(&koban, 30);
    crate::serve(koban, &args.listen, None).await?;
    Ok(ExitCode::SUCCESS)
}

/// Patrol cars the simulator drives.
pub const SIM_UNITS: u32 = 24;
/// Synthetic 110 calls per minute by default.
pub const SIM_CALLS_PER_MINUTE: u32 = 2;

fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
