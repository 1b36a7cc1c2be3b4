//! Lookup keys for storage: what a record is found by, and what a query looks up.
//!
//! Inquiries must be index seeks, never scans, because the load is huge and almost entirely
//! negative. Identifier records are therefore indexed under every key a query can produce:
//! the exact subject keys of [`RecordFile::subject_keys`] plus the partial keys that answer a
//! query heard without its qualifier (a plate without place name, a document number without
//! state and type, a firearm serial without make). Person records are indexed by the
//! canonical token keys of their name together with the date of birth, so a person query is
//! a seek per token within a date range; the candidates found are then scored by
//! `koban_names`. Kanji tokens are indexed as kanji and phonetic tokens as their canonical
//! reading key, so nothing here ever reads kanji with Chinese readings.

use crate::Date;
use crate::query::QueryKey;
use crate::records::{PersonName, RecordFile};

/// Namespace of a plate key without its place name.
pub const PLATE_NO_PLACE: &str = "PLATEX";
/// Namespace of a document number without its state and type.
pub const DOCUMENT_NUMBER: &str = "DOCN";
/// Namespace of a firearm serial without its make.
pub const FIREARM_SERIAL: &str = "GUNS";

/// Every key a record is found by: its subject keys (which the entry conflict check looks
/// up; for person files these are the exact name-and-birth keys) and the partial keys of its
/// identifiers. Person inquiries use the name index instead. Sorted and free of duplicates.
pub fn search_keys(file: &RecordFile) -> Vec<String> {
    let mut keys = file.subject_keys();
    match file {
        RecordFile::StolenVehicle(v) => {
            if let Some(p) = &v.plate {
                keys.push(format!("{PLATE_NO_PLACE}|{}", p.key_without_place()));
            }
        }
        RecordFile::StolenPlate(p) => {
            keys.push(format!("{PLATE_NO_PLACE}|{}", p.plate.key_without_place()));
        }
        RecordFile::StolenFirearm(f) => {
            keys.push(format!("{FIREARM_SERIAL}|{}", f.firearm.serial.key()));
        }
        RecordFile::TravelDocument(t) => {
            keys.push(format!("{DOCUMENT_NUMBER}|{}", t.document.number));
        }
        _ => {}
    }
    keys.sort();
    keys.dedup();
    keys
}

/// True for the partial keys [`search_keys`] adds to a record's subject keys (a plate
/// without its place name, a document number alone, a firearm serial alone). The others
/// are exactly [`RecordFile::subject_keys`], so a caller holding the search keys need not
/// build the subject keys a second time.
pub fn is_partial_key(key: &str) -> bool {
    key.split_once('|')
        .is_some_and(|(ns, _)| [PLATE_NO_PLACE, DOCUMENT_NUMBER, FIREARM_SERIAL].contains(&ns))
}

/// The key an identifier query looks up in the index of [`search_keys`]; `None` for a
/// person query. Partial queries look up the partial namespace and are narrowed
/// afterwards by [`matches_record`].
pub fn lookup_key(key: &QueryKey) -> Option<String> {
    if let Some(exact) = key.exact_key() {
        return Some(exact);
    }
    match key {
        QueryKey::Plate { plate } => {
            Some(format!("{PLATE_NO_PLACE}|{}", plate.key_without_place()))
        }
        QueryKey::Document { number, .. } => Some(format!("{DOCUMENT_NUMBER}|{number}")),
        QueryKey::Firearm { serial, .. } => Some(format!("{FIREARM_SERIAL}|{}", serial.key())),
        _ => None,
    }
}

/// True if a record found under [`lookup_key`] satisfies the whole query (a document query
/// that gives only the state or only the type is narrowed here).
pub fn matches_record(key: &QueryKey, file: &RecordFile) -> bool {
    match (key, file) {
        (
            QueryKey::Document {
                issuing_state,
                document_type,
                ..
            },
            RecordFile::TravelDocument(t),
        ) => {
            issuing_state
                .as_ref()
                .is_none_or(|s| *s == t.document.issuing_state)
                && document_type.is_none_or(|d| d == t.document.document_type)
        }
        _ => true,
    }
}

/// The person a record is about, for the name index: its name and date of birth.
pub fn person_of(file: &RecordFile) -> Option<(&PersonName, Date)> {
    match file {
        RecordFile::Wanted(w) => Some((&w.name, w.date_of_birth)),
        RecordFile::Missing(m) => Some((&m.name, m.date_of_birth)),
        RecordFile::TravelDocument(t) => t.holder.as_ref().zip(t.holder_date_of_birth),
        _ => None,
    }
}

/// The date as the sortable integer `yyyymmdd`, so that a ± N years window is one range
/// (the same calendar-date window as [`crate::dob_matches`]).
pub fn date_number(d: Date) -> i64 {
    i64::from(d.year) * 10_000 + i64::from(d.month) * 100 + i64::from(d.day)
}

/// The `yyyymmdd` range a date of birth matches within ± `years`.
pub fn date_range(d: Date, years: u8) -> (i64, i64) {
    let y = i64::from(years) * 10_000;
    let n = date_number(d);
    (n - y, n + y)
}

/// The name tokens a person record is indexed under: the kanji tokens of the written name
/// and the canonical reading keys of the kana and of the romanised form. Sorted, unique.
pub fn name_tokens(name: &PersonName) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(k) = name.kanji.as_deref() {
        out.extend(koban_names::name_key(k).kanji());
    }
    for reading in [name.kana.as_deref(), name.latin.as_deref()]
        .into_iter()
        .flatten()
    {
        out.extend(koban_names::name_key(reading).keys());
    }
    out.retain(|t| !t.is_empty());
    out.sort();
    out.dedup();
    out
}

/// The tokens of a person query, in the two groups a candidate must match one of in full:
/// the kanji tokens and the reading keys. Either may be empty.
pub fn query_tokens(name: &str) -> (Vec<String>, Vec<String>) {
    let key = koban_names::name_key(name);
    let clean = |mut v: Vec<String>| {
        v.retain(|t| !t.is_empty());
        v.sort();
        v.dedup();
        v
    };
    (clean(key.kanji()), clean(key.keys()))
}

/// A stable subject id for a person query in the audit log: the date of birth and the
/// sorted reading keys (or kanji when there is no reading), so every romanisation of one
/// name is recorded under one id and an auditor can ask who queried it.
pub fn person_subject(name: &str, dob: Date) -> String {
    let (kanji, readings) = query_tokens(name);
    let tokens = if readings.is_empty() { kanji } else { readings };
    format!(
        "PERSON|{}|{}",
        tokens.join(" "),
        crate::date::format_date(dob)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::{Plate, Query, RawQuery};

    fn today() -> Date {
        Date::parse("2026-01-01").unwrap()
    }

    #[test]
    fn romanisations_share_name_tokens() {
        let rec = PersonName {
            kanji: Some("佐藤 翔一".into()),
            kana: Some("サトウ ショウイチ".into()),
            latin: None,
        };
        let tokens = name_tokens(&rec);
        assert!(tokens.contains(&"sato".to_string()), "{tokens:?}");
        assert!(tokens.contains(&"shoichi".to_string()), "{tokens:?}");
        assert!(tokens.contains(&"佐藤".to_string()), "{tokens:?}");
        for q in [
            "SATOH SHOICHI",
            "shouichi satou",
            "SATŌ SHŌICHI",
            "さとう しょういち",
        ] {
            let (_, readings) = query_tokens(q);
            assert!(
                readings.iter().all(|r| tokens.contains(r)),
                "{q}: {readings:?}"
            );
        }
        assert_eq!(
            person_subject("SATOH Shoichi", today()),
            person_subject("しょういち さとう", today())
        );
    }

    #[test]
    fn kanji_only_names_have_no_readings() {
        let rec = PersonName {
            kanji: Some("高市 早苗".into()),
            kana: None,
            latin: None,
        };
        let tokens = name_tokens(&rec);
        assert!(tokens.iter().all(|t| !t.is_ascii()), "{tokens:?}");
    }

    #[test]
    fn partial_plates_find_complete_ones() {
        let q = Query::parse(
            &RawQuery {
                plate: Some("300 あ 12-34".into()),
                officer: "o1".into(),
                purpose: "traffic stop".into(),
                ..RawQuery::default()
            },
            today(),
        )
        .unwrap();
        let plate = Plate::parse("品川300あ1234").unwrap();
        let file = RecordFile::StolenPlate(crate::StolenPlate {
            plate,
            plates_taken: 1,
            stolen_on: today(),
        });
        let keys = search_keys(&file);
        assert!(keys.contains(&lookup_key(&q.key).unwrap()), "{keys:?}");
    }

    #[test]
    fn date_ranges_agree_with_dob_matches() {
        let q = Date::parse("1980-02-29").unwrap();
        let (lo, hi) = date_range(q, 1);
        for s in [
            "1979-02-28",
            "1979-03-01",
            "1981-02-28",
            "1981-03-01",
            "1980-02-29",
        ] {
            let d = Date::parse(s).unwrap();
            let n = date_number(d);
            assert_eq!((lo..=hi).contains(&n), crate::dob_matches(q, d, 1), "{s}");
        }
    }

    #[test]
    fn lifecycles_round_trip_through_json() {
        use crate::{Actor, Lifecycle, RecordKind};
        let a = Actor {
            user: "u1".into(),
            pref: koban_org::PrefCode::new(13).unwrap(),
        };
        let l = Lifecycle::imported(RecordKind::StolenPlate, a.pref, "legacy", 1, &a, 2).unwrap();
        let j = serde_json::to_string(&l).unwrap();
        let back: Lifecycle = serde_json::from_str(&j).unwrap();
        assert_eq!(back, l);
        assert!(serde_json::from_str::<Lifecycle>(&j.replace("\"import\"", "\"bogus\"")).is_err());
    }
}
