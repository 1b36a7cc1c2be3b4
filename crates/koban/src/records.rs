//! `koban import records`: the bulk load of registry records from CSV or JSON Lines.
//!
//! A reader thread streams the file, parses and validates each line and builds its storage
//! row (the CPU-heavy part), while the async side stores finished batches through the
//! service, each in one transaction with one audit event. Bad lines are reported as
//! `file:line: field: message (code)` and skipped; good lines are loaded.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::mpsc;
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
    let reader = std::thread::spawn(move || {
        let r = match format {
            Format::Jsonl => read_jsonl(file, &importer, now, batch, &tx),
            Format::Csv => read_csv(file, &importer, now, batch, &tx),
        };
        let msg = match r {
            Ok(sha256) => FromReader::Done { sha256 },
            Err(e) => FromReader::Failed(e),
        };
        let _ = tx.send(msg);
    });
    let started = Instant::now();
    let source = path.display().to_string();
    let mut state = ImportState::default();
    let mut summary = Summary::default();
    let mut rx = Some(rx);
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
                for p in &b.problems {
                    writeln!(
                        report,
                        "{source}:{}: {}: {} ({})",
                        p.line, p.field, p.message, p.code
                    )?;
                }
                summary.rejected += b.problems.len() as u64;
                let t_store = Instant::now();
                let done = koban
                    .system_import_records(operator, &source, &b.sha256, b.items, &mut state)
                    .await?;
                summary.store_seconds += t_store.elapsed().as_secs_f64();
                for p in &done.rejected {
                    writeln!(
                        report,
                        "{source}:{}: {}: {} ({})",
                        p.line, p.field, p.message, p.code
                    )?;
                }
                summary.rejected += done.rejected.len() as u64;
                summary.loaded += done.loaded as u64;
                if progress {
                    bar(b.bytes_read, total_bytes, summary.loaded, started);
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
    summary.index_rows = koban.system_build_registry_index(operator).await?;
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

/// Accumulates one batch and the digests.
struct Acc<'a> {
    tx: &'a mpsc::SyncSender<FromReader>,
    batch: usize,
    items: Vec<ImportItem>,
    problems: Vec<LineProblem>,
    lines: u64,
    batch_hash: ring::digest::Context,
    file_hash: ring::digest::Context,
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
            file_hash: ring::digest::Context::new(&ring::digest::SHA256),
            bytes_read: 0,
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        self.batch_hash.update(b);
        self.file_hash.update(b);
        self.bytes_read += b.len() as u64;
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

    fn finish(mut self) -> Result<String, String> {
        self.flush()?;
        Ok(koban_audit::hex(self.file_hash.finish().as_ref()))
    }
}

fn read_jsonl(
    file: std::fs::File,
    importer: &str,
    now: i64,
    batch: usize,
    tx: &mpsc::SyncSender<FromReader>,
) -> Result<String, String> {
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut acc = Acc::new(tx, batch);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        line += 1;
        acc.bytes(&buf);
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(_) => {
                acc.push(Err(LineProblem {
                    line,
                    field: String::new(),
                    code: "invalid_utf8".into(),
                    message: "the line is not UTF-8".into(),
                }))?;
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        acc.push(parse_json_line(line, text, importer, now))?;
    }
    acc.finish()
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

fn read_csv(
    file: std::fs::File,
    importer: &str,
    now: i64,
    batch: usize,
    tx: &mpsc::SyncSender<FromReader>,
) -> Result<String, String> {
    let mut acc = Acc::new(tx, batch);
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
    let mut rec = csv::StringRecord::new();
    loop {
        match rd.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let line = rec.position().map(|p| p.line()).unwrap_or(0);
                // The batch digest covers the cells as parsed; the file digest, every byte.
                acc.batch_hash.update(rec.as_slice().as_bytes());
                acc.bytes_read = rd.position().byte();
                acc.push(parse_csv_record(line, &header, &rec, importer, now))?;
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                acc.push(Err(LineProblem {
                    line,
                    field: String::new(),
                    code: "invalid_csv".into(),
                    message: e.to_string(),
                }))?;
            }
        }
    }
    let file_hash = rd.into_inner().hash;
    acc.flush()?;
    Ok(koban_audit::hex(file_hash.finish().as_ref()))
}
