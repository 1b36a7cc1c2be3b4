//! Quality evaluation at `DEFAULT_THRESHOLD`.
//!
//! Run with `cargo test --release -p koban-names --test eval -- --nocapture` to see the
//! figures. Set `KOBAN_NAMES_VERBOSE=1` to list every misclassified pair.

use std::path::PathBuf;
use std::time::Instant;

use koban_names::{DEFAULT_THRESHOLD, compare, compare_keys, name_key};

/// F1 floors: the measured values minus 0.02, so regressions fail.
const NK_F1_FLOOR_ALL: f64 = 0.83;
const NK_F1_FLOOR_PERSON: f64 = 0.81;

struct Pair {
    name1: String,
    name2: String,
    is_match: bool,
    group: String,
}

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    tn: usize,
    fn_: usize,
}

impl Counts {
    fn add(&mut self, predicted: bool, actual: bool) {
        match (predicted, actual) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fn_ += 1,
        }
    }
    fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
    fn line(&self) -> String {
        format!(
            "P {:.3}  R {:.3}  F1 {:.3}  (tp {} fp {} tn {} fn {})",
            self.precision(),
            self.recall(),
            self.f1(),
            self.tp,
            self.fp,
            self.tn,
            self.fn_
        )
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn verbose() -> bool {
    std::env::var("KOBAN_NAMES_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn read_pairs(path: &PathBuf, group_col: Option<&str>) -> Vec<Pair> {
    let mut rdr = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let headers = rdr.headers().cloned().unwrap_or_default();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(c1), Some(c2), Some(cm)) = (col("name1"), col("name2"), col("is_match")) else {
        panic!("{}: missing name1/name2/is_match columns", path.display());
    };
    let cg = group_col.and_then(col);
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let get = |i: usize| rec.get(i).unwrap_or_default().to_string();
        out.push(Pair {
            name1: get(c1),
            name2: get(c2),
            is_match: get(cm).eq_ignore_ascii_case("true"),
            group: cg.map(get).unwrap_or_default(),
        });
    }
    out
}

fn reference_data_dir() -> PathBuf {
    match std::env::var_os("KOBAN_REFERENCE_DATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

#[test]
fn nomenklatura_name_cases() {
    let path = reference_data_dir().join("names/nomenklatura-name-cases.csv");
    if !path.exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("reference data missing: {}", path.display());
        }
        println!(
            "skipped: {} not found (set KOBAN_REFERENCE_DATA)",
            path.display()
        );
        return;
    }
    let pairs = read_pairs(&path, Some("schema"));
    assert!(pairs.len() > 800, "expected 826 pairs, got {}", pairs.len());

    let start = Instant::now();
    let scores: Vec<f64> = pairs.iter().map(|p| compare(&p.name1, &p.name2)).collect();
    let first = start.elapsed();

    let mut all = Counts::default();
    let mut person = Counts::default();
    for (p, &s) in pairs.iter().zip(&scores) {
        let predicted = s >= DEFAULT_THRESHOLD;
        all.add(predicted, p.is_match);
        if p.group == "Person" {
            person.add(predicted, p.is_match);
        }
        if verbose() && predicted != p.is_match {
            println!(
                "  {} {:.3} [{}] {:?} / {:?}",
                if predicted { "FP" } else { "FN" },
                s,
                p.group,
                p.name1,
                p.name2
            );
        }
    }
    println!("nomenklatura-name-cases @ {DEFAULT_THRESHOLD}");
    println!("  all    ({} pairs): {}", pairs.len(), all.line());
    println!(
        "  Person ({} pairs): {}",
        person.tp + person.fp + person.tn + person.fn_,
        person.line()
    );
    for t in [0.7, 0.75, 0.78, 0.8, 0.82, 0.85, 0.88, 0.9] {
        let mut c = Counts::default();
        for (p, &s) in pairs.iter().zip(&scores) {
            c.add(s >= t, p.is_match);
        }
        println!("  sweep {t:.2}: {}", c.line());
    }

    // Speed: repeat the whole set a few times (parsing both names each time).
    let reps = 20;
    let start = Instant::now();
    let mut sink = 0.0;
    for _ in 0..reps {
        for p in &pairs {
            sink += compare(&p.name1, &p.name2);
        }
    }
    let per = start.elapsed().as_secs_f64() / (reps * pairs.len()) as f64;
    println!(
        "  speed: {:.2} µs per compare() incl. parsing (first pass {:.2} ms; checksum {sink:.1})",
        per * 1e6,
        first.as_secs_f64() * 1e3
    );

    let keys: Vec<_> = pairs
        .iter()
        .map(|p| (name_key(&p.name1), name_key(&p.name2)))
        .collect();
    let start = Instant::now();
    let mut sink = 0.0;
    for _ in 0..reps {
        for (a, b) in &keys {
            sink += compare_keys(a, b);
        }
    }
    let per = start.elapsed().as_secs_f64() / (reps * pairs.len()) as f64;
    println!(
        "  speed: {:.2} µs per compare_keys() on pre-parsed names (checksum {sink:.1})",
        per * 1e6
    );

    assert!(
        all.f1() >= NK_F1_FLOOR_ALL,
        "F1 (all) regressed: {}",
        all.line()
    );
    assert!(
        person.f1() >= NK_F1_FLOOR_PERSON,
        "F1 (Person) regressed: {}",
        person.line()
    );
}

#[test]
fn japanese_pairs() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/japanese-pairs.csv");
    let pairs = read_pairs(&path, Some("note"));
    assert!(
        pairs.len() >= 150,
        "need at least 150 pairs, have {}",
        pairs.len()
    );
    let mut c = Counts::default();
    let mut errors = Vec::new();
    for p in &pairs {
        let s = compare(&p.name1, &p.name2);
        let predicted = s >= DEFAULT_THRESHOLD;
        c.add(predicted, p.is_match);
        if predicted != p.is_match {
            errors.push(format!(
                "{} {s:.3} {:?} / {:?} ({})",
                if predicted { "FP" } else { "FN" },
                p.name1,
                p.name2,
                p.group
            ));
        }
    }
    println!(
        "japanese-pairs @ {DEFAULT_THRESHOLD} ({} pairs): {}",
        pairs.len(),
        c.line()
    );
    for e in &errors {
        println!("  {e}");
    }
    assert_eq!(c.fn_, 0, "missed true matches:\n{}", errors.join("\n"));
    assert!(
        c.precision() >= 0.95,
        "precision below 0.95:\n{}",
        errors.join("\n")
    );
}
