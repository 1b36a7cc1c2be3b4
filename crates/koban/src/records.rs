//! `koban import records`: the bulk load of registry records from CSV or JSON Lines.
//!
//! A reader thread streams the file, parses and validates each line and builds its storage
//! row (the CPU-heavy part), while the async side stores finished batches through the
//! service, each in one transaction with one audit event. Bad lines are reported as
//! `file:line: field: message (code)` and skipped; good lines are loaded.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use koban_service::registry_import::{
    ImportItem, ImportState, MAX_BATCH, parse_csv_record, parse_json_line,
};
use koban_service::{Koban, LineProblem};

/// The two accepted formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    /// The format a file name suggests (`.csv`, else JSON Lines).
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Jsonl,
        }
    }
}

/// What an import did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub lines: u64,
    pub loaded: u64,
    pub rejected: u64,
    pub seconds: f64,
    /// Of `seconds`, the time spent storing (the rest is waiting for the parser).
    pub store_seconds: f64,
    /// Index rows written by the final sorted pass (a load into an empty registry), and
    /// the time it took (part of `seconds`).
    pub index_rows: u64,
    pub index_seconds: f64,
    pub sha256: String,
}

/// Batches stored between two WAL restarts (`Store::bulk_batch_done`). The copy that lets
/// the WAL start over holds up the next batch, syncs included; between restarts the
/// checkpoint thread copies each committed batch while the next one is being built, so
/// the restart finds only the last batch left to copy. Every batch restarting it made
/// that wait part of every batch; the WAL now peaks at about this many batches (a few
/// hundred megabytes at the default batch size).
const BATCHES_PER_WAL_RESTART: u64 = 4;

/// One parsed batch from the reader thread.
struct Batch {
    items: Vec<ImportItem>,
    problems: Vec<LineProblem>,
    sha256: String,
    bytes_read: u64,
    lines: u64,
}

enum FromReader {
    Batch(Batch),
    Done { sha256: String },
    Failed(String),
}

/// Imports `path`, reporting bad lines to `report` and progress to stderr.
pub async fn import(
    koban: &Koban,
    operator: &str,
    path: &Path,
    format: Format,
    batch: usize,
    progress: bool,
    report: &mut dyn Write,
) -> Result<Summary> {
    if batch == 0 || batch > MAX_BATCH {
        bail!("--batch must be 1 to {MAX_BATCH}");
    }
    let total_bytes = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (tx, rx) = mpsc::sync_channel::<FromReader>(2);
    let importer = operator.to_string();
    let now = koban.now_us();
    let reader = match format {
        Format::Jsonl => parse_in_parallel(
            move |send| read_jsonl(file, send),
            Arc::new(Vec::new()),
            importer,
            now,
            batch,
            tx,
        )
        .context("starting the parsers")?,
        Format::Csv => {
            let (rd, header) =
                csv_reader(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            parse_in_parallel(
                move |send| read_csv(rd, send),
                Arc::new(header),
                importer,
                now,
                batch,
                tx,
            )
            .context("starting the parsers")?
        }
    };
    let started = Instant::now();
    let source = path.display().to_string();
    let mut state = ImportState::default();
    let mut summary = Summary::default();
    let mut rx = Some(rx);
    let mut bar_drawn = false;
    let mut batches = 0u64;
    loop {
        // The channel is blocking; wait for it off the async workers.
        let Some(r) = rx.take() else { break };
        let (msg, r) = tokio::task::spawn_blocking(move || {
            let m = r.recv();
            (m, r)
        })
        .await
        .context("reader channel")?;
        rx = Some(r);
        match msg {
            Ok(FromReader::Batch(b)) => {
                summary.lines += b.lines;
                write_problems(report, &source, &b.problems, &mut bar_drawn)?;
                summary.rejected += b.problems.len() as u64;
                let t_store = Instant::now();
                let done = koban
                    .system_import_records(operator, &source, &b.sha256, b.items, &mut state)
                    .await?;
                batches += 1;
                if batches % BATCHES_PER_WAL_RESTART == 0 {
                    koban.store().bulk_batch_done().await?;
                }
                summary.store_seconds += t_store.elapsed().as_secs_f64();
                write_problems(report, &source, &done.rejected, &mut bar_drawn)?;
                summary.rejected += done.rejected.len() as u64;
                summary.loaded += done.loaded as u64;
                if progress {
                    bar(b.bytes_read, total_bytes, summary.loaded, started);
                    bar_drawn = true;
                }
            }
            Ok(FromReader::Done { sha256 }) => {
                summary.sha256 = sha256;
                break;
            }
            Ok(FromReader::Failed(e)) => bail!("reading {source}: {e}"),
            Err(_) => bail!("the reader stopped unexpectedly"),
        }
    }
    let _ = reader.join();
    let t_index = Instant::now();
    if progress {
        eprint!("\nbuilding the index…");
    }
    summary.index_rows = koban
        .system_build_registry_index(operator, state.take_collected())
        .await?;
    summary.index_seconds = t_index.elapsed().as_secs_f64();
    // A bulk load leaves a large WAL; fold it in now rather than during the first queries.
    koban.store().checkpoint().await?;
    summary.seconds = started.elapsed().as_secs_f64();
    if progress {
        eprintln!();
    }
    koban
        .system_import_records_done(
            operator,
            &source,
            &summary.sha256,
            (summary.lines, summary.loaded, summary.rejected),
        )
        .await?;
    Ok(summary)
}

/// Writes refused lines as `file:line: field: message (code)`. The progress bar is redrawn
/// in place, so a report after it starts on a line of its own.
fn write_problems(
    report: &mut dyn Write,
    source: &str,
    problems: &[LineProblem],
    bar_drawn: &mut bool,
) -> std::io::Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    if std::mem::take(bar_drawn) {
        writeln!(report)?;
    }
    for p in problems {
        writeln!(
            report,
            "{source}:{}: {}: {} ({})",
            p.line, p.field, p.message, p.code
        )?;
    }
    Ok(())
}

fn bar(done: u64, total: u64, loaded: u64, started: Instant) {
    let frac = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let filled = (frac * 30.0).round() as usize;
    let rate = loaded as f64 / started.elapsed().as_secs_f64().max(1e-9);
    eprint!(
        "\r[{}{}] {:>3.0}% {loaded} records {rate:.0}/s",
        "#".repeat(filled.min(30)),
        ".".repeat(30 - filled.min(30)),
        frac * 100.0
    );
    let _ = std::io::stderr().flush();
}

/// Lines handed to a parsing worker at a time: large enough that the hand-off costs
/// nothing, small enough that the workers stay busy to the end of a file.
const CHUNK_LINES: usize = 2_000;

/// Chunks waiting for a worker or for their turn to be batched; bounds the memory a fast
/// reader can run ahead by.
const CHUNKS_IN_FLIGHT: usize = 8;

/// One unit of the file before parsing.
enum Raw {
    /// A JSON Lines line (trimmed).
    Json(String),
    /// A CSV record.
    Csv(csv::StringRecord),
    /// A line the reader already refused.
    Bad(LineProblem),
}

impl Raw {
    /// The bytes the batch digest covers.
    fn digest_bytes(&self) -> &[u8] {
        match self {
            Raw::Json(t) => t.as_bytes(),
            Raw::Csv(r) => r.as_slice().as_bytes(),
            Raw::Bad(_) => &[],
        }
    }
}

/// A run of consecutive lines, and how far into the file the reader was after it.
struct Chunk {
    lines: Vec<(u64, Raw)>,
    bytes_read: u64,
}

/// A chunk after parsing, in the order it was read.
struct Parsed {
    lines: Vec<(Raw, Result<ImportItem, LineProblem>)>,
    bytes_read: u64,
}

type Slot = mpsc::Receiver<Parsed>;

/// Parses chunks on every core but one (which the storing thread needs): validating and
/// building rows is about half of a bulk load's work. Chunks come back through their
/// own slot, taken in reading order, so line numbers, batches and digests are exactly
/// those of a sequential read.
fn parse_in_parallel(
    read: impl FnOnce(&mut dyn FnMut(Chunk) -> Result<(), String>) -> Result<String, String>
    + Send
    + 'static,
    header: Arc<Vec<String>>,
    importer: String,
    now: i64,
    batch: usize,
    tx: mpsc::SyncSender<FromReader>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let (work_tx, work_rx) =
        mpsc::sync_channel::<(Chunk, mpsc::SyncSender<Parsed>)>(CHUNKS_IN_FLIGHT);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (order_tx, order_rx) = mpsc::sync_channel::<Slot>(CHUNKS_IN_FLIGHT);
    // The storing thread is the bottleneck and needs a core of its own: with a parser on
    // every core of the 2-core reference machine, a 10 M-record load ran at 41,000
    // records/s instead of 59,000.
    let workers =
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).clamp(1, 8));
    for _ in 0..workers {
        let (work_rx, header, importer) = (work_rx.clone(), header.clone(), importer.clone());
        std::thread::Builder::new()
            .name("koban-parse".into())
            .spawn(move || {
                loop {
                    // The lock is held only while taking a chunk, never while parsing it.
                    let job = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((chunk, slot)) = job else { return };
                    let lines = chunk
                        .lines
                        .into_iter()
                        .map(|(line, raw)| {
                            let parsed = match &raw {
                                Raw::Json(t) => parse_json_line(line, t, &importer, now),
                                Raw::Csv(r) => parse_csv_record(line, &header, r, &importer, now),
                                Raw::Bad(p) => Err(p.clone()),
                            };
                            (raw, parsed)
                        })
                        .collect();
                    let _ = slot.send(Parsed {
                        lines,
                        bytes_read: chunk.bytes_read,
                    });
                }
            })?;
    }
    // The batcher takes parsed chunks in reading order and cuts them into batches.
    let batcher_tx = tx.clone();
    let batcher = std::thread::Builder::new()
        .name("koban-batch".into())
        .spawn(move || {
            let mut acc = Acc::new(&batcher_tx, batch);
            (|| {
                for slot in order_rx {
                    let parsed = slot.recv().map_err(|_| "a parser stopped".to_string())?;
                    acc.bytes_read = parsed.bytes_read;
                    for (raw, item) in parsed.lines {
                        acc.batch_hash.update(raw.digest_bytes());
                        acc.push(item)?;
                    }
                }
                acc.flush()
            })()
        })?;
    std::thread::Builder::new()
        .name("koban-read".into())
        .spawn(move || {
            let mut send = |chunk: Chunk| -> Result<(), String> {
                let (slot_tx, slot_rx) = mpsc::sync_channel(1);
                order_tx
                    .send(slot_rx)
                    .map_err(|_| "the importer stopped".to_string())?;
                work_tx
                    .send((chunk, slot_tx))
                    .map_err(|_| "the parsers stopped".to_string())
            };
            let read_result = read(&mut send);
            // Closing the queues lets the workers and the batcher finish.
            drop(work_tx);
            drop(order_tx);
            let batched = batcher
                .join()
                .unwrap_or_else(|_| Err("the batcher failed".to_string()));
            let msg = match (read_result, batched) {
                (Ok(sha256), Ok(())) => FromReader::Done { sha256 },
                (Err(e), _) | (_, Err(e)) => FromReader::Failed(e),
            };
            let _ = tx.send(msg);
        })
}

/// Accumulates one batch and its digest.
struct Acc<'a> {
    tx: &'a mpsc::SyncSender<FromReader>,
    batch: usize,
    items: Vec<ImportItem>,
    problems: Vec<LineProblem>,
    lines: u64,
    batch_hash: ring::digest::Context,
    bytes_read: u64,
}

impl<'a> Acc<'a> {
    fn new(tx: &'a mpsc::SyncSender<FromReader>, batch: usize) -> Self {
        Acc {
            tx,
            batch,
            items: Vec::with_capacity(batch),
            problems: Vec::new(),
            lines: 0,
            batch_hash: ring::digest::Context::new(&ring::digest::SHA256),
            bytes_read: 0,
        }
    }

    fn push(&mut self, r: Result<ImportItem, LineProblem>) -> Result<(), String> {
        self.lines += 1;
        match r {
            Ok(i) => self.items.push(i),
            Err(p) => self.problems.push(p),
        }
        if self.items.len() >= self.batch {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), String> {
        if self.items.is_empty() && self.problems.is_empty() {
            return Ok(());
        }
        let hash = std::mem::replace(
            &mut self.batch_hash,
            ring::digest::Context::new(&ring::digest::SHA256),
        );
        let b = Batch {
            items: std::mem::replace(&mut self.items, Vec::with_capacity(self.batch)),
            problems: std::mem::take(&mut self.problems),
            sha256: koban_audit::hex(hash.finish().as_ref()),
            bytes_read: self.bytes_read,
            lines: std::mem::take(&mut self.lines),
        };
        self.tx
            .send(FromReader::Batch(b))
            .map_err(|_| "the importer stopped".to_string())
    }
}

/// Reads JSON Lines into chunks; returns the file's digest.
fn read_jsonl(
    file: std::fs::File,
    send: &mut dyn FnMut(Chunk) -> Result<(), String>,
) -> Result<String, String> {
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut file_hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut bytes_read = 0u64;
    let mut lines = Vec::with_capacity(CHUNK_LINES);
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        line += 1;
        file_hash.update(&buf);
        bytes_read += n as u64;
        match std::str::from_utf8(&buf) {
            Ok(t) if t.trim().is_empty() => continue,
            Ok(t) => lines.push((line, Raw::Json(t.trim().to_string()))),
            Err(_) => lines.push((
                line,
                Raw::Bad(LineProblem {
                    line,
                    field: String::new(),
                    code: "invalid_utf8".into(),
                    message: "the line is not UTF-8".into(),
                }),
            )),
        }
        if lines.len() >= CHUNK_LINES {
            send(Chunk {
                lines: std::mem::replace(&mut lines, Vec::with_capacity(CHUNK_LINES)),
                bytes_read,
            })?;
        }
    }
    if !lines.is_empty() {
        send(Chunk { lines, bytes_read })?;
    }
    Ok(koban_audit::hex(file_hash.finish().as_ref()))
}

/// A reader that hashes what passes through it.
struct HashRead<R> {
    inner: R,
    hash: ring::digest::Context,
}

impl<R: std::io::Read> std::io::Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = buf.get(..n) {
            self.hash.update(b);
        }
        Ok(n)
    }
}

/// A CSV reader that hashes the bytes it reads.
type CsvReader = csv::Reader<HashRead<BufReader<std::fs::File>>>;

/// Opens a CSV file and reads its header (trimmed).
fn csv_reader(file: std::fs::File) -> Result<(CsvReader, Vec<String>), String> {
    let source = HashRead {
        inner: BufReader::with_capacity(1 << 20, file),
        hash: ring::digest::Context::new(&ring::digest::SHA256),
    };
    let mut rd = csv::ReaderBuilder::new().flexible(true).from_reader(source);
    let header: Vec<String> = rd
        .headers()
        .map_err(|e| format!("header: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    Ok((rd, header))
}

/// Reads CSV records into chunks; returns the file's digest.
fn read_csv(
    mut rd: CsvReader,
    send: &mut dyn FnMut(Chunk) -> Result<(), String>,
) -> Result<String, String> {
    let mut lines = Vec::with_capacity(CHUNK_LINES);
    let mut rec = csv::StringRecord::new();
    loop {
        match rd.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let line = rec.position().map(|p| p.line()).unwrap_or(0);
                lines.push((line, Raw::Csv(rec.clone())));
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                lines.push((
                    line,
                    Raw::Bad(LineProblem {
                        line,
                        field: String::new(),
                        code: "invalid_csv".into(),
                        message: e.to_string(),
                    }),
                ));
            }
        }
        if lines.len() >= CHUNK_LINES {
            send(Chunk {
                lines: std::mem::replace(&mut lines, Vec::with_capacity(CHUNK_LINES)),
                bytes_read: rd.position().byte(),
            })?;
        }
    }
    if !lines.is_empty() {
        send(Chunk {
            lines,
            bytes_read: rd.position().byte(),
        })?;
    }
    Ok(koban_audit::hex(rd.into_inner().hash.finish().as_ref()))
}
