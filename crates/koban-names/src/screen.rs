//! Screening passenger manifests against a watchlist: a suspected match needs the names
//! to match (at the matcher's threshold) and the dates of birth to agree — exactly, or
//! within ±N years when asked.
//!
//! Candidates are found through a date-of-birth index first, so a 500-passenger manifest
//! against a million watchlist entries compares each passenger with only the few dozen
//! entries born on (or near) the same day, never with the whole list.

use std::collections::BTreeMap;
use std::io::Read;

use crate::{DEFAULT_THRESHOLD, NameKey, compare_keys, name_key, name_key_with_reading};

/// A calendar date, validated (leap years included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD` (also `YYYYMMDD`), rejecting impossible dates.
    pub fn parse(s: &str) -> Option<Date> {
        let s = s.trim();
        // Byte slicing below is only safe on ASCII; anything else is not a date we accept.
        if !s.is_ascii() {
            return None;
        }
        let (y, m, d) = if s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-' {
            (&s[0..4], &s[5..7], &s[8..10])
        } else if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
            (&s[0..4], &s[4..6], &s[6..8])
        } else {
            return None;
        };
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if !(all_digits(y) && all_digits(m) && all_digits(d)) {
            return None;
        }
        let (year, month, day): (i32, u8, u8) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        if !(1800..=2200).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ][usize::from(month - 1)];
        if day == 0 || day > days {
            return None;
        }
        Some(Date { year, month, day })
    }
}

/// One watchlist entry.
#[derive(Clone, Debug)]
pub struct WatchEntry {
    pub id: String,
    pub family_name: String,
    pub given_name: String,
    pub family_name_kana: String,
    pub given_name_kana: String,
    pub date_of_birth: Date,
    pub nationality: String,
}

/// One passenger of a manifest (advance passenger information).
#[derive(Clone, Debug)]
pub struct Passenger {
    pub passenger_id: String,
    pub surname: String,
    pub given_names: String,
    pub date_of_birth: Date,
    pub nationality: String,
    pub document_number: String,
}

/// A suspected match.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub passenger_id: String,
    pub watchlist_id: String,
    pub score: f64,
}

/// A bad line of an input file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {field}: {message}")]
pub struct LineError {
    pub line: u64,
    pub field: String,
    pub message: String,
}

/// Largest file accepted, in rows.
pub const MAX_ROWS: usize = 20_000_000;

fn read_rows(input: impl Read, columns: &[&str]) -> Result<Vec<(u64, Vec<String>)>, LineError> {
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let header = rdr
        .headers()
        .map_err(|e| LineError {
            line: 1,
            field: "header".into(),
            message: e.to_string(),
        })?
        .clone();
    let mut index = Vec::with_capacity(columns.len());
    for c in columns {
        let i = header
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').trim() == *c)
            .ok_or_else(|| LineError {
                line: 1,
                field: (*c).into(),
                message: "missing column".into(),
            })?;
        index.push(i);
    }
    let mut out = Vec::new();
    for (n, rec) in rdr.records().enumerate() {
        let line = n as u64 + 2;
        let rec = rec.map_err(|e| LineError {
            line: e.position().map_or(line, |p| p.line()),
            field: "row".into(),
            message: e.to_string(),
        })?;
        if out.len() >= MAX_ROWS {
            return Err(LineError {
                line,
                field: "row".into(),
                message: format!("more than {MAX_ROWS} rows"),
            });
        }
        out.push((
            line,
            index
                .iter()
                .map(|&i| rec.get(i).unwrap_or("").trim().to_string())
                .collect(),
        ));
    }
    Ok(out)
}

fn required(line: u64, field: &str, v: &str) -> Result<(), LineError> {
    if v.is_empty() {
        Err(LineError {
            line,
            field: field.into(),
            message: "required".into(),
        })
    } else {
        Ok(())
    }
}

fn date(line: u64, field: &str, v: &str) -> Result<Date, LineError> {
    Date::parse(v).ok_or_else(|| LineError {
        line,
        field: field.into(),
        message: format!("not a valid date (YYYY-MM-DD): {v:?}"),
    })
}

/// Reads a watchlist CSV: `id,family_name,given_name,family_name_kana,given_name_kana,date_of_birth,nationality`.
pub fn parse_watchlist(input: impl Read) -> Result<Vec<WatchEntry>, LineError> {
    let cols = [
        "id",
        "family_name",
        "given_name",
        "family_name_kana",
        "given_name_kana",
        "date_of_birth",
        "nationality",
    ];
    read_rows(input, &cols)?
        .into_iter()
        .map(|(line, r)| {
            required(line, "id", &r[0])?;
            required(line, "family_name", &r[1])?;
            Ok(WatchEntry {
                date_of_birth: date(line, "date_of_birth", &r[5])?,
                id: r[0].clone(),
                family_name: r[1].clone(),
                given_name: r[2].clone(),
                family_name_kana: r[3].clone(),
                given_name_kana: r[4].clone(),
                nationality: r[6].clone(),
            })
        })
        .collect()
}

/// Reads a manifest CSV: `passenger_id,surname,given_names,date_of_birth,nationality,document_number`.
pub fn parse_manifest(input: impl Read) -> Result<Vec<Passenger>, LineError> {
    let cols = [
        "passenger_id",
        "surname",
        "given_names",
        "date_of_birth",
        "nationality",
        "document_number",
    ];
    read_rows(input, &cols)?
        .into_iter()
        .map(|(line, r)| {
            required(line, "passenger_id", &r[0])?;
            required(line, "surname", &r[1])?;
            Ok(Passenger {
                date_of_birth: date(line, "date_of_birth", &r[3])?,
                passenger_id: r[0].clone(),
                surname: r[1].clone(),
                given_names: r[2].clone(),
                nationality: r[4].clone(),
                document_number: r[5].clone(),
            })
        })
        .collect()
}

/// A watchlist prepared for screening: name keys computed once, entries indexed by date
/// of birth.
#[derive(Debug)]
pub struct Screener {
    entries: Vec<WatchEntry>,
    keys: Vec<NameKey>,
    by_dob: BTreeMap<Date, Vec<usize>>,
}

impl Screener {
    pub fn new(entries: Vec<WatchEntry>) -> Screener {
        let keys = entries
            .iter()
            .map(|e| {
                let name = format!("{} {}", e.family_name, e.given_name);
                let reading = format!("{} {}", e.family_name_kana, e.given_name_kana);
                if reading.trim().is_empty() {
                    name_key(&name)
                } else {
                    name_key_with_reading(&name, &reading)
                }
            })
            .collect();
        let mut by_dob: BTreeMap<Date, Vec<usize>> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            by_dob.entry(e.date_of_birth).or_default().push(i);
        }
        Screener {
            entries,
            keys,
            by_dob,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Suspected matches for one passenger, best first. `dob_years` widens the date
    /// window to ±N years (0: the exact date).
    pub fn screen(&self, p: &Passenger, dob_years: u16, threshold: f64) -> Vec<Hit> {
        let key = name_key(&format!("{} {}", p.surname, p.given_names));
        let d = p.date_of_birth;
        let n = i32::from(dob_years);
        let lo = Date {
            year: d.year - n,
            month: d.month,
            day: d.day,
        };
        let hi = Date {
            year: d.year + n,
            month: d.month,
            day: d.day,
        };
        let mut hits: Vec<Hit> = self
            .by_dob
            .range(lo..=hi)
            .flat_map(|(_, ids)| ids.iter().copied())
            .filter_map(|i| {
                let score = compare_keys(&key, &self.keys[i]);
                (score >= threshold).then(|| Hit {
                    passenger_id: p.passenger_id.clone(),
                    watchlist_id: self.entries[i].id.clone(),
                    score,
                })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.watchlist_id.cmp(&b.watchlist_id))
        });
        hits
    }

    /// Screens a whole manifest at the default threshold.
    pub fn screen_all(&self, manifest: &[Passenger], dob_years: u16) -> Vec<Hit> {
        manifest
            .iter()
            .flat_map(|p| self.screen(p, dob_years, DEFAULT_THRESHOLD))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const WATCH: &str = "id,family_name,given_name,family_name_kana,given_name_kana,date_of_birth,nationality\n\
        W1,佐藤,花子,さとう,はなこ,1985-04-12,JPN\n\
        W2,齋藤,一郎,さいとう,いちろう,1985-04-12,JPN\n\
        W3,大田,陽子,おおた,ようこ,1990-01-31,JPN\n\
        W4,Scholz,Olaf,,,1958-06-14,DEU\n";

    const MANIFEST: &str = "passenger_id,surname,given_names,date_of_birth,nationality,document_number\n\
        P1,SATO,HANAKO,1985-04-12,JPN,TK1234567\n\
        P2,SATOH,HANAKO,1986-04-12,JPN,TK1234568\n\
        P3,OHTA,YOHKO,1990-01-31,JPN,TK1234569\n\
        P4,SCHOLZ,OLAF,1958-06-14,DEU,C01X00T47\n\
        P5,SAITO,HANAKO,1985-04-12,JPN,TK7654321\n";

    #[test]
    fn dates_are_validated() {
        assert!(Date::parse("2024-02-29").is_some());
        assert!(Date::parse("2023-02-29").is_none());
        assert!(Date::parse("1900-02-29").is_none());
        assert!(Date::parse("2000-02-29").is_some());
        assert!(Date::parse("19850412").is_some());
        assert!(Date::parse("1985-13-01").is_none());
        assert!(Date::parse("85-04-12").is_none());
        assert!(Date::parse("").is_none());
        assert!(
            Date::parse("２０２４-01-0").is_none(),
            "non-ASCII of a date's length must not panic"
        );
        assert!(Date::parse("1985-04-1２").is_none());
    }

    #[test]
    fn screens_across_scripts_with_dates() {
        let s = Screener::new(parse_watchlist(WATCH.as_bytes()).unwrap());
        let m = parse_manifest(MANIFEST.as_bytes()).unwrap();
        let hits = s.screen_all(&m, 0);
        let pairs: Vec<(&str, &str)> = hits
            .iter()
            .map(|h| (h.passenger_id.as_str(), h.watchlist_id.as_str()))
            .collect();
        assert!(pairs.contains(&("P1", "W1")), "{pairs:?}");
        assert!(pairs.contains(&("P3", "W3")), "{pairs:?}");
        assert!(pairs.contains(&("P4", "W4")), "{pairs:?}");
        assert!(
            !pairs.iter().any(|p| p.0 == "P2"),
            "a year off needs --dob-years: {pairs:?}"
        );
        assert!(
            !pairs.contains(&("P5", "W1")),
            "SAITO is not SATO: {pairs:?}"
        );
        assert!(!pairs.contains(&("P1", "W2")), "{pairs:?}");
        let wide = s.screen_all(&m, 1);
        assert!(
            wide.iter()
                .any(|h| h.passenger_id == "P2" && h.watchlist_id == "W1")
        );
    }

    #[test]
    fn bad_lines_are_named() {
        let e = parse_manifest("passenger_id,surname,given_names,date_of_birth,nationality,document_number\nP1,SATO,HANAKO,1985-02-30,JPN,X\n".as_bytes()).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "date_of_birth"));
        let e = parse_watchlist("id,family_name\nW1,SATO\n".as_bytes()).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (1, "given_name"));
        let e = parse_manifest("passenger_id,surname,given_names,date_of_birth,nationality,document_number\n,SATO,HANAKO,1985-02-03,JPN,X\n".as_bytes()).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "passenger_id"));
    }
}
