//! Property tests for the parts of koban-org that take untrusted input or combine values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use koban_org::{PrefCode, Scope, parse_units_csv};
use proptest::prelude::*;

const HEADER: &str = "id,kind,parent_id,name_ja,name_en,pref_code,latitude,longitude,address\n";

/// True exactly for the strings "01" to "47".
fn is_valid_code_text(s: &str) -> bool {
    s.len() == 2
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u8>().is_ok_and(|n| (1..=47).contains(&n))
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        1 => Just(Scope::National),
        4 => proptest::collection::btree_set(1u8..=47, 0..12).prop_map(|set| {
            Scope::Prefectures(set.into_iter().map(|n| PrefCode::new(n).unwrap()).collect())
        }),
    ]
}

/// Checks the invariants every result of `parse_units_csv` must keep.
fn check_csv_result(input: &[u8]) -> Result<(), TestCaseError> {
    let (units, errors) = parse_units_csv(input);
    let line_count = input.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    for e in &errors {
        prop_assert!(
            (1..=line_count).contains(&e.line),
            "line {} outside 1..={line_count}: {e:?}",
            e.line
        );
        prop_assert!(!e.code.is_empty());
    }
    for u in &units {
        prop_assert!(
            u.validate().is_ok(),
            "returned unit fails validation: {u:?}"
        );
    }
    let ids: BTreeSet<_> = units.iter().map(|u| u.id.as_str()).collect();
    prop_assert_eq!(ids.len(), units.len(), "returned ids are unique");
    Ok(())
}

#[test]
fn every_valid_code_round_trips() {
    for n in 1..=47u8 {
        let code = PrefCode::new(n).unwrap();
        let text = code.to_string();
        assert_eq!(text, format!("{n:02}"));
        assert_eq!(code.as_str(), text);
        assert_eq!(PrefCode::parse(&text).unwrap(), code);
        assert_eq!(code.as_u8(), n);
    }
    assert_eq!(PrefCode::all().count(), 47);
}

proptest! {
    #[test]
    fn pref_code_new_accepts_exactly_1_to_47(n in any::<u8>()) {
        prop_assert_eq!(PrefCode::new(n).is_ok(), (1..=47).contains(&n));
        if let Ok(code) = PrefCode::new(n) {
            prop_assert_eq!(PrefCode::parse(&code.to_string()).unwrap(), code);
        }
    }

    #[test]
    fn pref_code_parse_rejects_everything_else(s in "\\PC{0,4}") {
        prop_assert_eq!(PrefCode::parse(&s).is_ok(), is_valid_code_text(&s), "{:?}", s);
    }

    #[test]
    fn pref_code_parse_near_misses(s in "[0-9 +\\-０-９]{0,3}") {
        prop_assert_eq!(PrefCode::parse(&s).is_ok(), is_valid_code_text(&s), "{:?}", s);
        if let Ok(code) = PrefCode::parse(&s) {
            prop_assert_eq!(code.to_string(), s);
        }
    }

    #[test]
    fn csv_never_panics_on_arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check_csv_result(&input)?;
    }

    #[test]
    fn csv_never_panics_after_a_valid_header(
        body in proptest::collection::vec(
            prop_oneof![
                Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(b'-'), Just(b'1'),
                Just(b'3'), Just(b'.'), any::<u8>(), 0x61u8..0x7b,
            ],
            0..1024,
        ),
        bom in any::<bool>(),
    ) {
        let mut input = Vec::new();
        if bom {
            input.extend_from_slice(b"\xEF\xBB\xBF");
        }
        input.extend_from_slice(HEADER.as_bytes());
        input.extend_from_slice(&body);
        check_csv_result(&input)?;
    }

    #[test]
    fn csv_with_plausible_rows(
        rows in proptest::collection::vec(
            (
                "[a-z]{1,3}(-[0-9]{1,2})?",
                prop_oneof![Just("station"), Just("koban"), Just("chuzaisho"), Just("bogus")],
                prop_oneof![Just("pref-13"), Just("pref-01"), Just("ahq-01-kitami"), Just("st-13-a"), Just("")],
                "[\\PC,\"]{0,6}",
                prop_oneof![Just("13"), Just("01"), Just("1"), Just("")],
                prop_oneof![Just(""), Just("35.6"), Just("99"), Just("x")],
                prop_oneof![Just(""), Just("139.7"), Just("0")],
                any::<bool>(),
            ),
            0..20,
        ),
    ) {
        let mut input = HEADER.to_owned();
        for (id, kind, parent, name, pref, lat, lon, crlf) in rows {
            let name = format!("\"{}\"", name.replace('"', "\"\""));
            input.push_str(&format!("{id},{kind},{parent},{name},{name},{pref},{lat},{lon},"));
            input.push_str(if crlf { "\r\n" } else { "\n" });
        }
        check_csv_result(input.as_bytes())?;
    }

    #[test]
    fn scope_union_is_commutative_and_covers_both(a in scope(), b in scope(), n in 1u8..=47) {
        let p = PrefCode::new(n).unwrap();
        let ab = a.union(&b);
        prop_assert_eq!(&ab, &b.union(&a));
        prop_assert_eq!(ab.covers(p), a.covers(p) || b.covers(p));
        prop_assert_eq!(ab.is_national(), a.is_national() || b.is_national());
        for q in a.prefectures().into_iter().chain(b.prefectures()) {
            prop_assert!(ab.covers(q));
        }
        prop_assert_eq!(a.union(&a), a.clone());
    }
}
