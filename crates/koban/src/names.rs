//! `koban names compare` and `koban screen`: offline name matching and manifest
//! screening over CSV files, for labelled evaluations and for sites with poor links.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use koban_names::screen::{Screener, parse_manifest, parse_watchlist};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// CSV with at least the columns name1,name2 (other columns are kept); `-` or absent
    /// for stdin. Writes the same rows with a `score` column in [0,1] to stdout.
    file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ScreenArgs {
    /// Watchlist CSV: id,family_name,given_name,family_name_kana,given_name_kana,date_of_birth,nationality.
    #[arg(long)]
    watchlist: PathBuf,
    /// Manifest CSV: passenger_id,surname,given_names,date_of_birth,nationality,document_number.
    #[arg(long)]
    manifest: PathBuf,
    /// Accept dates of birth up to N years apart (default: exact).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=10))]
    dob_years: u16,
}

fn open_input(file: &Option<PathBuf>) -> Result<Box<dyn Read>> {
    Ok(match file {
        Some(p) if p.as_os_str() != "-" => {
            Box::new(std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?)
        }
        _ => Box::new(std::io::stdin()),
    })
}

/// Scores every row; a row without both names is an error naming its line.
pub fn compare(args: CompareArgs) -> Result<ExitCode> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(open_input(&args.file)?);
    let header = rdr.headers().context("reading the header")?.clone();
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
    };
    let (Some(i1), Some(i2)) = (find("name1"), find("name2")) else {
        eprintln!("line 1: header: the columns name1 and name2 are required");
        return Ok(ExitCode::from(2));
    };
    let stdout = std::io::stdout();
    let mut out = csv::Writer::from_writer(stdout.lock());
    let mut head: Vec<&str> = header.iter().collect();
    head.push("score");
    out.write_record(&head)?;
    for (n, rec) in rdr.records().enumerate() {
        let line = n + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                eprintln!("line {line}: row: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        let (Some(a), Some(b)) = (rec.get(i1), rec.get(i2)) else {
            eprintln!("line {line}: name1/name2: missing");
            return Ok(ExitCode::from(2));
        };
        let score = koban_names::compare(a, b);
        let mut row: Vec<String> = rec.iter().map(str::to_string).collect();
        row.push(format!("{score:.4}"));
        out.write_record(&row)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Screens a manifest against a watchlist; one output row per suspected match.
pub fn screen(args: ScreenArgs) -> Result<ExitCode> {
    let read =
        |p: &PathBuf| std::fs::File::open(p).with_context(|| format!("opening {}", p.display()));
    let watchlist = match parse_watchlist(read(&args.watchlist)?) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{}: {e}", args.watchlist.display());
            return Ok(ExitCode::from(2));
        }
    };
    let manifest = match parse_manifest(read(&args.manifest)?) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{}: {e}", args.manifest.display());
            return Ok(ExitCode::from(2));
        }
    };
    let screener = Screener::new(watchlist);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    writeln!(out, "passenger_id,watchlist_id,score")?;
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    for hit in screener.screen_all(&manifest, args.dob_years) {
        w.write_record([
            hit.passenger_id.as_str(),
            hit.watchlist_id.as_str(),
            &format!("{:.4}", hit.score),
        ])?;
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}
