//! `koban bench registry`: the national records registry at scale.
//!
//! Synthetic records of realistic shape (stolen vehicles with 車台番号 and plates, stolen
//! plates, firearms, articles, travel documents, wanted and missing persons with kanji
//! names and kana readings) are written as JSON Lines and loaded through the real import
//! path and storage. Then: exact-key inquiries through the service (authenticated,
//! audited, one transaction each), person-name inquiries in several romanisations, the
//! same exact-key inquiries through HTTP at a fixed rate, and the naive baseline of a
//! `LIKE` scan over the stored files. The baseline reads storage directly, unaudited — the
//! one deliberate bypass of the service layer, as in the audit benchmark.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::Args;
use koban_access::Role;
use koban_registry::RawQuery;
use koban_service::{Koban, RequestCtx, SystemClock};
use koban_store::SqliteSync;
use serde_json::json;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpClient {
    Lean,
    Reqwest,
}

#[derive(Args, Debug)]
pub struct RegistryBench {
    /// Records to generate and load.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// PostgreSQL server URL; a scratch database is created on it and dropped afterwards.
    /// Without it, SQLite in a scratch directory.
    #[arg(long)]
    database: Option<String>,
    /// Exact-key inquiries timed in process.
    #[arg(long, default_value_t = 20_000)]
    queries: usize,
    /// Person-name inquiries timed in process.
    #[arg(long, default_value_t = 5_000)]
    name_queries: usize,
    /// Inquiries per second offered over HTTP.
    #[arg(long, default_value_t = 2_000)]
    http_rate: u64,
    /// Seconds of HTTP load.
    #[arg(long, default_value_t = 10)]
    http_seconds: u64,
    /// The HTTP load generator: `lean` (keep-alive connections fed from one queue,
    /// requests serialised up front) or `reqwest` (a general-purpose client, a task per
    /// request), to see what the generator itself costs on a shared machine.
    #[arg(long, value_enum, default_value_t = HttpClient::Lean)]
    http_client: HttpClient,
    /// Keep-alive connections the lean generator uses.
    #[arg(long, default_value_t = 32)]
    http_connections: usize,
    /// Queries answered by the LIKE-scan baseline (each scans every record).
    #[arg(long, default_value_t = 3)]
    baseline_queries: usize,
    /// Records per import transaction.
    #[arg(long, default_value_t = 50_000)]
    batch: usize,
    /// SQLite durability for the run.
    #[arg(long, default_value = "normal")]
    sqlite_sync: SqliteSync,
    /// Scratch directory (default: a new one under the system temp dir, removed after).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Keep the generated `records.jsonl` in the data directory, so that the same load can
    /// be repeated with `koban import records` (for profiling, or to compare builds).
    #[arg(long)]
    keep_records: bool,
}

/// Family names: kanji and reading.
const FAMILY: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("山下", "ヤマシタ"),
    ("中島", "ナカジマ"),
    ("石井", "イシイ"),
    ("小川", "オガワ"),
    ("前田", "マエダ"),
    ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"),
    ("藤田", "フジタ"),
    ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"),
    ("村上", "ムラカミ"),
    ("遠藤", "エンドウ"),
    ("青木", "アオキ"),
    ("坂本", "サカモト"),
    ("大谷", "オオタニ"),
    ("大野", "オオノ"),
    ("服部", "ハットリ"),
    ("本間", "ホンマ"),
    ("難波", "ナンバ"),
    ("辻", "ツジ"),
    ("太田", "オオタ"),
    ("妹尾", "セノオ"),
    ("新見", "ニイミ"),
    ("工藤", "クドウ"),
];

/// Given names: kanji and reading.
const GIVEN: &[(&str, &str)] = &[
    ("翔一", "ショウイチ"),
    ("花子", "ハナコ"),
    ("陽子", "ヨウコ"),
    ("一郎", "イチロウ"),
    ("恵子", "ケイコ"),
    ("裕子", "ユウコ"),
    ("真一", "シンイチ"),
    ("大輔", "ダイスケ"),
    ("健太", "ケンタ"),
    ("美咲", "ミサキ"),
    ("翔太", "ショウタ"),
    ("由美", "ユミ"),
    ("直樹", "ナオキ"),
    ("浩二", "コウジ"),
    ("和也", "カズヤ"),
    ("智子", "トモコ"),
    ("拓也", "タクヤ"),
    ("彩", "アヤ"),
    ("純一", "ジュンイチ"),
    ("優子", "ユウコ"),
    ("隆", "タカシ"),
    ("修", "オサム"),
    ("千尋", "チヒロ"),
    ("亮", "リョウ"),
    ("舞", "マイ"),
    ("剛", "ツヨシ"),
    ("洋平", "ヨウヘイ"),
    ("雅人", "マサト"),
    ("静香", "シズカ"),
    ("勇気", "ユウキ"),
    ("達也", "タツヤ"),
    ("早苗", "サナエ"),
    ("正樹", "マサキ"),
    ("麻衣", "マイ"),
    ("聡", "サトシ"),
    ("秀樹", "ヒデキ"),
    ("綾香", "アヤカ"),
    ("誠", "マコト"),
    ("結衣", "ユイ"),
    ("蓮", "レン"),
];

const PLACES: &[&str] = &[
    "品川",
    "練馬",
    "足立",
    "多摩",
    "八王子",
    "横浜",
    "川崎",
    "湘南",
    "相模",
    "大宮",
    "所沢",
    "千葉",
    "習志野",
    "なにわ",
    "大阪",
    "和泉",
    "堺",
    "神戸",
    "姫路",
    "京都",
    "名古屋",
    "豊橋",
    "岡崎",
    "札幌",
    "函館",
    "仙台",
    "福岡",
    "北九州",
    "広島",
    "宮城",
];
const PLATE_KANA: &[char] = &[
    'あ', 'い', 'う', 'え', 'か', 'き', 'く', 'け', 'こ', 'さ', 'す', 'せ', 'そ', 'た', 'ち', 'つ',
    'て', 'と', 'な', 'に', 'ぬ', 'ね', 'の', 'は', 'ひ', 'ふ', 'ほ', 'ま', 'み', 'む', 'め', 'も',
    'や', 'ゆ', 'よ', 'ら', 'り', 'る', 'れ', 'ろ',
];
const MODELS: &[&str] = &[
    "ZVW30", "NHP10", "GRS200", "E12", "RP3", "GK3", "JF3", "MXPA10",
];
const MAKES: &[(&str, &str)] = &[
    ("トヨタ", "プリウス"),
    ("日産", "ノート"),
    ("ホンダ", "フィット"),
    ("マツダ", "デミオ"),
    ("スズキ", "スイフト"),
];
const GUN_MAKES: &[&str] = &["Smith & Wesson", "Glock", "Beretta", "Miroku", "Howa"];

/// A small fast generator (xorshift64*), so 10 million records take seconds to invent.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What the generator keeps for the queries.
#[derive(Default)]
struct Samples {
    exact: Vec<RawQuery>,
    people: Vec<(String, String, String)>,
}

fn plate(r: &mut Rng) -> (String, String) {
    let place = PLACES[r.below(PLACES.len())];
    let class = 300 + r.below(300);
    let kana = PLATE_KANA[r.below(PLATE_KANA.len())];
    let serial = 1 + r.below(9999);
    (
        format!("{place} {class} {kana} {serial}"),
        format!("{class}{kana}{serial}"),
    )
}

fn date(r: &mut Rng, from: usize, years: usize) -> String {
    format!(
        "{}-{:02}-{:02}",
        from + r.below(years),
        1 + r.below(12),
        1 + r.below(28)
    )
}

/// Writes `n` records as JSON Lines, keeping every 97th subject as a query sample.
fn generate(path: &std::path::Path, n: u64, samples: &mut Samples) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let keep = |i: u64| i % 97 == 0;
    for i in 0..n {
        let owner = format!("{:02}", 1 + r.below(47));
        let roll = r.below(100);
        let line = if roll < 35 {
            let model = MODELS[r.below(MODELS.len())];
            let chassis = format!("{model}-{:07}", i);
            let (p, _) = plate(&mut r);
            let (make, model_name) = MAKES[r.below(MAKES.len())];
            if keep(i) {
                samples.exact.push(RawQuery {
                    vehicle_id: Some(chassis.clone()),
                    ..RawQuery::default()
                });
                samples.exact.push(RawQuery {
                    plate: Some(p.clone()),
                    ..RawQuery::default()
                });
            }
            json!({"kind": "stolen_vehicle", "owner_pref": owner, "vehicle_id": chassis, "plate": p,
                   "make": make, "model": model_name, "colour": "白", "stolen_on": date(&mut r, 2019, 6)})
        } else if roll < 50 {
            let (p, short) = plate(&mut r);
            if keep(i) {
                // Heard on the radio without the place name.
                samples.exact.push(RawQuery {
                    plate: Some(short),
                    ..RawQuery::default()
                });
            }
            json!({"kind": "stolen_plate", "owner_pref": owner, "plate": p, "plates_taken": 1 + r.below(2),
                   "stolen_on": date(&mut r, 2019, 6)})
        } else if roll < 55 {
            let make = GUN_MAKES[r.below(GUN_MAKES.len())];
            let serial = format!("G{i:09}");
            if keep(i) {
                samples.exact.push(RawQuery {
                    firearm_serial: Some(serial.clone()),
                    firearm_make: Some(make.into()),
                    ..RawQuery::default()
                });
            }
            json!({"kind": "stolen_firearm", "owner_pref": owner,
                   "firearm": {"make": make, "serial": serial, "calibre": "9mm"},
                   "firearm_type": "拳銃", "stolen_on": date(&mut r, 2019, 6)})
        } else if roll < 72 {
            let serial = format!("SN{i:010}");
            if keep(i) {
                samples.exact.push(RawQuery {
                    article_serial: Some(serial.clone()),
                    ..RawQuery::default()
                });
            }
            json!({"kind": "stolen_article", "owner_pref": owner,
                   "number": {"kind": "serial", "number": serial},
                   "article_type": "ノートパソコン", "brand": "", "stolen_on": date(&mut r, 2023, 2)})
        } else if roll < 82 {
            let letters = [b'A' + r.below(26) as u8, b'A' + r.below(26) as u8];
            let number = format!("{}{:07}", String::from_utf8_lossy(&letters), i % 10_000_000);
            if keep(i) {
                samples.exact.push(RawQuery {
                    document_number: Some(number.clone()),
                    ..RawQuery::default()
                });
            }
            json!({"kind": "travel_document", "owner_pref": owner,
                   "document": {"issuing_state": "JPN", "document_type": "passport", "number": number},
                   "status": if r.below(2) == 0 { "lost" } else { "stolen" },
                   "reported_on": date(&mut r, 2019, 6)})
        } else {
            let (fk, fr) = FAMILY[r.below(FAMILY.len())];
            let (gk, gr) = GIVEN[r.below(GIVEN.len())];
            let dob = date(&mut r, 1945, 60);
            let kanji = format!("{fk} {gk}");
            let kana = format!("{fr} {gr}");
            if keep(i) {
                samples
                    .people
                    .push((kanji.clone(), kana.clone(), dob.clone()));
            }
            if roll < 95 {
                json!({"kind": "wanted", "owner_pref": owner,
                       "name": {"kanji": kanji, "kana": kana}, "date_of_birth": dob,
                       "descriptors": {"sex": if r.below(2) == 0 { "male" } else { "female" }},
                       "warrant": {"issuing_court": "東京地方裁判所", "warrant_number": format!("W{i}"),
                                   "offence": "窃盗", "issued_on": "2025-01-01", "expires_on": "2099-01-01"},
                       "caution": {"armed": r.below(10) == 0}})
            } else {
                json!({"kind": "missing", "owner_pref": owner,
                       "name": {"kanji": kanji, "kana": kana}, "date_of_birth": dob,
                       "descriptors": {"sex": "female", "description": "青い上着"},
                       "last_seen_on": "2025-06-01", "last_seen_place": "新宿駅",
                       "circumstances": "帰宅せず", "juvenile": false, "vulnerable": false})
            }
        };
        serde_json::to_writer(&mut w, &line)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

/// Latency summary in milliseconds.
fn stats(mut v: Vec<Duration>) -> serde_json::Value {
    if v.is_empty() {
        return json!(null);
    }
    v.sort();
    let at = |q: f64| {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v[i.min(v.len() - 1)].as_secs_f64() * 1e3
    };
    let mean = v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len() as f64 * 1e3;
    json!({"n": v.len(), "mean_ms": r3(mean), "p50_ms": r3(at(0.5)), "p99_ms": r3(at(0.99)), "max_ms": r3(at(1.0))})
}

use crate::bench::round3 as r3;

/// Peak resident memory of this process, from /proc (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time this process has used so far (user and system), from /proc (Linux), in
/// seconds.
fn process_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the numeric fields start after its last ')'.
    // There, utime and stime (fields 14 and 15 of the line) are the 12th and 13th.
    let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(ticks / 100.0)
}

/// How steady this machine's CPU is, measured idle just before the HTTP load: a fixed
/// piece of work is timed every 10 ms for `seconds`, and each time is compared with the
/// fastest. A shared virtual machine can lose half its speed for a few hundred
/// milliseconds at a time; an HTTP tail measured through such a window says more about
/// the host than about koban, so the run reports how often that happened.
fn machine_probe(seconds: f64) -> serde_json::Value {
    fn work(n: u64) -> u64 {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..n {
            x = std::hint::black_box(x.rotate_left(7) ^ i).wrapping_mul(0x2545_f491_4f6c_dd1d);
        }
        x
    }
    // Size the piece of work to about 0.2 ms.
    let mut n = 1_000u64;
    loop {
        let t = Instant::now();
        std::hint::black_box(work(n));
        if t.elapsed() >= Duration::from_micros(200) || n > 1 << 30 {
            break;
        }
        n *= 2;
    }
    let start = Instant::now();
    let mut times = Vec::new();
    while start.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        std::hint::black_box(work(n));
        times.push(t.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(10));
    }
    let fastest = times.iter().copied().fold(f64::INFINITY, f64::min);
    let slow = times.iter().filter(|&&t| t > 1.5 * fastest).count();
    let worst = times.iter().copied().fold(0.0, f64::max) / fastest;
    json!({
        "seconds": seconds,
        "samples": times.len(),
        "slowed_share": r3(slow as f64 / times.len().max(1) as f64),
        "worst_slowdown": r3(worst),
    })
}

/// Time the host took this machine's virtual CPUs away (steal) and time they sat waiting
/// for the disk (iowait), summed over CPUs, in seconds so far; from /proc/stat (Linux).
fn host_steal_iowait_s() -> Option<(f64, f64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<f64> = s
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal …, in USER_HZ (100) ticks.
    Some((f.get(7)? / 100.0, f.get(4)? / 100.0))
}

/// A thread that sleeps a millisecond at a time during the HTTP load and notes how much
/// later than asked it woke. A request stalled while this thread woke on time was held
/// up inside the server (a lock, the disk); one stalled together with it was held up by
/// the machine (no CPU to run on).
struct StallWatch {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<(f64, f64, u64)>,
}

/// Oversleeps past this count as a stall in the watch's report.
const STALL_MS: f64 = 20.0;

impl StallWatch {
    fn start(origin: Instant) -> std::io::Result<StallWatch> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("koban-stall-watch".into())
            .spawn(move || {
                let (mut worst_ms, mut worst_at_s, mut stalls) = (0.0f64, 0.0f64, 0u64);
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = Instant::now();
                    std::thread::sleep(Duration::from_millis(1));
                    let late_ms = (t.elapsed().as_secs_f64() * 1e3 - 1.0).max(0.0);
                    if late_ms > STALL_MS {
                        stalls += 1;
                    }
                    if late_ms > worst_ms {
                        worst_ms = late_ms;
                        worst_at_s = t.duration_since(origin).as_secs_f64();
                    }
                }
                (worst_ms, worst_at_s, stalls)
            })?;
        Ok(StallWatch { stop, handle })
    }

    fn finish(self) -> serde_json::Value {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        match self.handle.join() {
            Ok((worst_ms, at_s, stalls)) => json!({
                "worst_late_ms": r3(worst_ms),
                "worst_at_s": r3(at_s),
                "late_over_20ms": stalls,
            }),
            Err(_) => json!(null),
        }
    }
}

fn dir_size_mib(p: &std::path::Path) -> f64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum::<u64>()
        })
        .unwrap_or(0) as f64
        / (1024.0 * 1024.0)
}

pub async fn run(b: RegistryBench) -> Result<ExitCode> {
    anyhow::ensure!(b.records > 0, "--records must be positive");
    let pid = std::process::id();
    let data = b
        .data
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("koban-registry-bench-{pid}")));
    std::fs::create_dir_all(&data)?;
    let scratch = format!("koban_regbench_{pid}");
    let url = match &b.database {
        Some(server) => koban_store::postgres::create_scratch_database(server, &scratch).await?,
        None => format!("sqlite://{}", data.join("bench.sqlite3").display()),
    };
    let result = inner(&b, &url, &data).await;
    if let Some(server) = &b.database {
        koban_store::postgres::drop_scratch_database(server, &scratch).await?;
    }
    if b.data.is_none() {
        let _ = std::fs::remove_dir_all(&data);
    }
    println!("{}", result?);
    Ok(ExitCode::SUCCESS)
}

async fn login(koban: &Koban) -> Result<String> {
    crate::bench::login(koban, "bench-query", Role::QueryOperator).await
}

/// Person queries as officers type them: kanji, kana, passport Hepburn, Hepburn with OH,
/// word-processor romaji, given name first; a quarter with a ±1 year tolerance.
fn person_query(i: usize, p: &(String, String, String)) -> RawQuery {
    let (kanji, kana, dob) = p;
    let hepburn = koban_names::kana_to_hepburn(kana).unwrap_or_default();
    let name = match i % 6 {
        0 => kanji.clone(),
        1 => kana.clone(),
        2 => hepburn.to_uppercase(),
        3 => hepburn.to_uppercase().replace("OU", "OH"),
        4 => kana_wapuro(kana),
        _ => hepburn
            .split_whitespace()
            .rev()
            .collect::<Vec<_>>()
            .join(" "),
    };
    RawQuery {
        name: Some(name),
        date_of_birth: Some(dob.clone()),
        dob_tolerance_years: Some(if i % 4 == 0 { 1 } else { 0 }),
        officer: "PC-1".into(),
        purpose: "bench".into(),
        ..RawQuery::default()
    }
}

/// A word-processor spelling (long vowels written out) of a katakana reading.
fn kana_wapuro(kana: &str) -> String {
    koban_names::kana_to_hepburn(kana)
        .unwrap_or_default()
        .replace('ō', "ou")
        .replace('ū', "uu")
        .to_uppercase()
}

async fn inner(b: &RegistryBench, url: &str, data: &std::path::Path) -> Result<serde_json::Value> {
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

    // 1. Generate and bulk-load.
    let file = data.join("records.jsonl");
    let mut samples = Samples::default();
    let t = Instant::now();
    generate(&file, b.records, &mut samples)?;
    let gen_s = t.elapsed().as_secs_f64();
    let file_mib = std::fs::metadata(&file)?.len() as f64 / (1024.0 * 1024.0);
    eprintln!(
        "generated {} records ({file_mib:.0} MiB) in {gen_s:.1} s",
        b.records
    );
    let mut problems = Vec::new();
    let s = crate::records::import(
        &koban,
        "bench",
        &file,
        crate::records::Format::Jsonl,
        b.batch,
        true,
        &mut problems,
    )
    .await?;
    let import_per_s = s.loaded as f64 / s.seconds.max(1e-9);
    // The first refusals show what the generator got wrong, if anything.
    for l in String::from_utf8_lossy(&problems).lines().take(5) {
        eprintln!("  {l}");
    }
    eprintln!(
        "imported {} records in {:.1} s ({import_per_s:.0}/s, {:.1} s storing, {:.1} s building {} index rows); {} rejected",
        s.loaded, s.seconds, s.store_seconds, s.index_seconds, s.index_rows, s.rejected
    );
    let token = login(&koban).await?;
    let ctx = RequestCtx {
        client_addr: Some("bench".into()),
        request_id: None,
        purpose: Some("bench".into()),
    };

    // 2. Exact-key inquiries in process: half hits from the samples, half misses.
    let mut rng = Rng(42);
    let exact: Vec<RawQuery> = (0..b.queries)
        .map(|i| {
            let mut q = if i % 2 == 0 && !samples.exact.is_empty() {
                samples.exact[rng.below(samples.exact.len())].clone()
            } else {
                RawQuery {
                    plate: Some(plate(&mut rng).0.replace('1', "7")),
                    ..RawQuery::default()
                }
            };
            q.officer = "PC-1".into();
            q
        })
        .collect();
    let mut lat = Vec::with_capacity(exact.len());
    let mut hits = 0usize;
    for q in &exact {
        let t = Instant::now();
        let a = koban
            .inquire(&ctx, &token, q.clone())
            .await
            .map_err(|e| anyhow!("{e}: {q:?}"))?;
        lat.push(t.elapsed());
        hits += usize::from(a.hit);
    }
    let exact_stats = stats(lat);
    eprintln!("exact-key inquiries in process: {exact_stats} ({hits} hits)");

    // The index seek alone (storage only, no session, no audit), for comparison.
    let mut seek = Vec::new();
    for q in exact.iter().take(5_000) {
        let parsed = koban_registry::Query::parse(
            &RawQuery {
                purpose: "x".into(),
                ..q.clone()
            },
            koban_registry::date::jst_date(koban.now_us()),
        )
        .map_err(|e| anyhow!("{e:?}"))?;
        let key = koban_registry::index::lookup_key(&parsed.key).unwrap_or_default();
        let t = Instant::now();
        let mut tx = store.begin().await?;
        let rows = tx.registry_by_key(&key).await?;
        drop(tx);
        seek.push(t.elapsed());
        std::hint::black_box(rows);
    }
    let seek_stats = stats(seek);

    // 3. Person-name inquiries in process.
    let mut lat = Vec::new();
    let mut name_hits = 0usize;
    for i in 0..b.name_queries.min(samples.people.len().max(1) * 50) {
        let Some(p) = samples.people.get(rng.below(samples.people.len().max(1))) else {
            break;
        };
        let q = person_query(i, p);
        let t = Instant::now();
        let a = koban
            .inquire(&ctx, &token, q.clone())
            .await
            .map_err(|e| anyhow!("{e}: {q:?}"))?;
        lat.push(t.elapsed());
        name_hits += usize::from(a.hit);
    }
    let name_n = lat.len();
    let name_stats = stats(lat);
    eprintln!("person-name inquiries: {name_stats} ({name_hits} of {name_n} found)");

    // 4. Exact-key inquiries over HTTP at a fixed offered rate.
    let http = http_load(&koban, &token, &exact, b).await?;
    eprintln!("HTTP: {http}");

    // 5. The naive baseline: a LIKE scan over every stored file.
    let mut base = Vec::new();
    let mut base_names = Vec::new();
    for i in 0..b.baseline_queries {
        let needle = samples
            .exact
            .iter()
            .filter_map(|q| q.vehicle_id.clone().or(q.article_serial.clone()))
            .nth(i)
            .unwrap_or_else(|| "NO-SUCH-THING".into());
        let t = Instant::now();
        let mut tx = store.begin().await?;
        let ids = tx.registry_scan_contains(&needle, 10).await?;
        drop(tx);
        base.push(t.elapsed());
        std::hint::black_box(ids);
        if let Some((_, kana, _)) = samples.people.get(i) {
            let t = Instant::now();
            let mut tx = store.begin().await?;
            let ids = tx.registry_scan_contains(kana, 1000).await?;
            drop(tx);
            base_names.push(t.elapsed());
            std::hint::black_box(ids);
        }
    }
    let base_stats = stats(base);
    let base_name_stats = stats(base_names);
    eprintln!("LIKE baseline: exact {base_stats}, names {base_name_stats}");
    // Removed only now: freeing gigabytes keeps the file system busy for seconds after
    // (on a disk mounted with online discard, commits waited on it), which is not part
    // of what the inquiries measure.
    if !b.keep_records {
        let _ = std::fs::remove_file(&file);
    }

    Ok(json!({
        "bench": "registry",
        "backend": backend,
        "sqlite_sync": format!("{:?}", b.sqlite_sync).to_lowercase(),
        "records": b.records,
        "loaded": s.loaded,
        "rejected": s.rejected,
        "generate_s": r3(gen_s),
        "import_s": r3(s.seconds),
        "import_store_s": r3(s.store_seconds),
        "import_index_build_s": r3(s.index_seconds),
        "import_index_rows": s.index_rows,
        "import_records_per_s": import_per_s.round(),
        "exact_inquiry": exact_stats,
        "exact_hits": hits,
        "index_seek_only": seek_stats,
        "name_inquiry": name_stats,
        "name_found": name_hits,
        "http": http,
        "like_baseline_exact": base_stats,
        "like_baseline_name": base_name_stats,
        "peak_rss_mib": peak_rss_mib().map(r3),
        "data_dir_mib": r3(dir_size_mib(data)),
    }))
}

/// Offers inquiries over HTTP at `--http-rate` per second for `--http-seconds`, open loop
/// (a slow answer does not slow the offered load), and reports latency and the rate
/// achieved.
async fn http_load(
    koban: &Koban,
    token: &str,
    queries: &[RawQuery],
    b: &RegistryBench,
) -> Result<serde_json::Value> {
    let (rate, seconds) = (b.http_rate, b.http_seconds);
    if rate == 0 || seconds == 0 || queries.is_empty() {
        return Ok(json!(null));
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let app = koban_api::router(
        koban.clone(),
        koban_api::RateLimit {
            burst: 1000,
            per_minute: 6000,
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = koban_api::serve(listener, app, None, async move {
            let _ = stop_rx.await;
        })
        .await;
    });
    let bodies = queries
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<Vec<_>, _>>()?;
    let probe = tokio::task::spawn_blocking(|| machine_probe(3.0)).await?;
    let cpu_before = process_cpu_s();
    let host_before = host_steal_iowait_s();
    let origin = Instant::now();
    let watch = StallWatch::start(origin)?;
    let total = rate * seconds;
    let outcome = match b.http_client {
        HttpClient::Lean => {
            let auth = format!("Bearer {token}");
            let host = addr.to_string();
            let requests: Vec<crate::loadgen::Request> = bodies
                .iter()
                .map(|body| {
                    crate::loadgen::Request::post_json(
                        &host,
                        "/api/v1/registry/inquiries",
                        &[("authorization", &auth), ("x-koban-purpose", "bench")],
                        body,
                    )
                })
                .collect();
            crate::loadgen::run(addr, Arc::new(requests), rate, total, b.http_connections).await?
        }
        HttpClient::Reqwest => reqwest_load(addr, token, bodies, rate, total).await?,
    };
    let stall_watch = watch.finish();
    let host = host_before
        .zip(host_steal_iowait_s())
        .map(|((s0, w0), (s1, w1))| json!({"steal_s": r3(s1 - s0), "iowait_s": r3(w1 - w0)}));
    let elapsed = outcome.elapsed_s;
    // The load generator runs in this process too, so this is client and server together.
    let cpu_cores = cpu_before
        .zip(process_cpu_s())
        .map(|(a, b)| r3((b - a) / elapsed));
    let _ = stop_tx.send(());
    let _ = server.await;
    let mut s = stats(outcome.latencies);
    s["client"] = json!(format!("{:?}", b.http_client).to_lowercase());
    s["offered_per_s"] = json!(rate);
    s["achieved_per_s"] = json!((total as f64 / elapsed).round());
    s["errors"] = json!(outcome.errors);
    s["cpu_cores_used"] = json!(cpu_cores);
    s["machine_probe"] = probe;
    // When the slowest request was handed over, beside the watch's worst wake-up.
    s["slowest_sent_at_s"] = json!(outcome.slowest_sent_s.map(r3));
    s["stall_watch"] = stall_watch;
    s["host"] = json!(host);
    // Wall-clock start, to line the run up with system traces and logs.
    s["started_unix_s"] = json!(
        (std::time::SystemTime::now() - origin.elapsed())
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| r3(d.as_secs_f64()))
            .ok()
    );
    Ok(s)
}

/// The general-purpose client: a task and a reqwest call per request, latency from the
/// moment its task was spawned.
async fn reqwest_load(
    addr: std::net::SocketAddr,
    token: &str,
    bodies: Vec<Vec<u8>>,
    rate: u64,
    total: u64,
) -> Result<crate::loadgen::Outcome> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let url = format!("http://{addr}/api/v1/registry/inquiries");
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut answers = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let sent = Instant::now();
        let (client, url, token) = (client.clone(), url.clone(), token.to_string());
        let body = bodies[i as usize % bodies.len()].clone();
        answers.push(tokio::spawn(async move {
            let ok = client
                .post(&url)
                .bearer_auth(&token)
                .header("x-koban-purpose", "bench")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            (sent.elapsed(), ok)
        }));
    }
    let mut results = Vec::with_capacity(answers.len());
    for a in answers {
        results.push(a.await?);
    }
    Ok(crate::loadgen::Outcome::of(
        results,
        start.elapsed().as_secs_f64(),
    ))
}
