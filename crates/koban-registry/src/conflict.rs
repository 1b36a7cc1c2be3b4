//! The entry conflict check: one record per owner per subject, and records of different
//! owners on one subject only when their kinds are compatible.
//!
//! The compatibility table follows SIS (an arrest alert coexists with a missing-person
//! alert) adapted to these files:
//!
//! | new \ existing     | wanted | missing | others of the same kind |
//! |--------------------|--------|---------|-------------------------|
//! | wanted             | yes    | yes     | yes (several prefectures may each hold a warrant) |
//! | missing            | yes    | —       | no (one search per missing person; the second prefecture joins the first) |
//! | property (any)     |        |         | no (an object is stolen from one owner; the second report is a duplicate) |
//!
//! Kinds with no common keys never meet (a plate key is never a person key); a stolen
//! vehicle and a stolen plate on the same plate key are compatible, because a plate can
//! be stolen from one car and put on another.

use koban_org::PrefCode;
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::lifecycle::RecordState;
use crate::records::RecordKind;

/// Whether records of kinds `a` and `b`, of different owners, may share a subject.
pub fn compatible(a: RecordKind, b: RecordKind) -> bool {
    use RecordKind as K;
    match (a, b) {
        (K::Wanted, K::Wanted | K::Missing) | (K::Missing, K::Wanted) => true,
        (K::StolenVehicle, K::StolenPlate) | (K::StolenPlate, K::StolenVehicle) => true,
        // An unidentified person is matched by description against missing persons; it
        // has no subject keys, so this row only matters to callers that pass it anyway.
        (K::Unidentified, K::Missing) | (K::Missing, K::Unidentified) => true,
        _ => false,
    }
}

/// An existing record the caller found on (or near) the new record's subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingRecord {
    /// Its id.
    pub id: String,
    /// Its owner.
    pub owner: PrefCode,
    /// Its kind.
    pub kind: RecordKind,
    /// Its state (cleared and cancelled records are ignored).
    pub state: RecordState,
    /// Its subject keys.
    pub subject_keys: Vec<String>,
}

/// The outcome of a successful check: the entry may go ahead, and these records on the same
/// subject must be shown to the person entering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictCheck {
    /// Ids of the live records on the same subject (all compatible).
    pub show: Vec<String>,
}

/// Checks a new record of `kind` for `owner` with `subject_keys` against `existing`.
///
/// A record is on the same subject when it shares a key. Refuses with
/// [`RegistryError::DuplicateRecord`] when the owner already holds a live record on the
/// subject, and with [`RegistryError::IncompatibleRecord`] when another owner's live record
/// is of an incompatible kind; the first offending record is named.
pub fn check_entry(
    owner: PrefCode,
    kind: RecordKind,
    subject_keys: &[String],
    existing: &[ExistingRecord],
) -> Result<ConflictCheck, RegistryError> {
    let same_subject: Vec<&ExistingRecord> = existing
        .iter()
        .filter(|e| e.state.is_live())
        .filter(|e| e.subject_keys.iter().any(|k| subject_keys.contains(k)))
        .collect();
    if let Some(d) = same_subject.iter().find(|e| e.owner == owner) {
        return Err(RegistryError::DuplicateRecord(d.id.clone()));
    }
    if let Some(c) = same_subject.iter().find(|e| !compatible(kind, e.kind)) {
        return Err(RegistryError::IncompatibleRecord(c.id.clone()));
    }
    Ok(ConflictCheck {
        show: same_subject.iter().map(|e| e.id.clone()).collect(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn pref(n: u8) -> PrefCode {
        PrefCode::new(n).unwrap()
    }

    fn rec(
        id: &str,
        owner: u8,
        kind: RecordKind,
        state: RecordState,
        keys: &[&str],
    ) -> ExistingRecord {
        ExistingRecord {
            id: id.into(),
            owner: pref(owner),
            kind,
            state,
            subject_keys: keys.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn table_is_symmetric() {
        for a in RecordKind::ALL {
            for b in RecordKind::ALL {
                assert_eq!(compatible(a, b), compatible(b, a), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn one_record_per_owner_per_subject() {
        use RecordKind as K;
        use RecordState as S;
        let keys = vec!["P|佐藤花子|1980-01-01".to_string()];
        let existing = [rec(
            "r1",
            13,
            K::Missing,
            S::Active,
            &["P|佐藤花子|1980-01-01"],
        )];
        let e = check_entry(pref(13), K::Wanted, &keys, &existing).unwrap_err();
        assert_eq!(e, RegistryError::DuplicateRecord("r1".into()));
        assert_eq!(e.code(), "duplicate_record");
        // Another prefecture's warrant coexists with the missing-person record.
        let ok = check_entry(pref(14), K::Wanted, &keys, &existing).unwrap();
        assert_eq!(ok.show, vec!["r1".to_string()]);
        // A second missing-person record from another prefecture is refused.
        let e = check_entry(pref(14), K::Missing, &keys, &existing).unwrap_err();
        assert_eq!(e.code(), "incompatible_record");
        // Cleared records and other subjects do not count.
        let existing = [
            rec("r2", 13, K::Missing, S::Cleared, &["P|佐藤花子|1980-01-01"]),
            rec("r3", 13, K::Missing, S::Active, &["P|佐藤花子|1981-01-01"]),
        ];
        assert!(
            check_entry(pref(13), K::Missing, &keys, &existing)
                .unwrap()
                .show
                .is_empty()
        );
    }

    #[test]
    fn property_conflicts() {
        use RecordKind as K;
        use RecordState as S;
        let keys = vec!["PLATE|品川|300|あ|1234".to_string()];
        let existing = [rec(
            "v1",
            13,
            K::StolenVehicle,
            S::PendingVerification,
            &["VEH|V|X", "PLATE|品川|300|あ|1234"],
        )];
        assert_eq!(
            check_entry(pref(11), K::StolenPlate, &keys, &existing)
                .unwrap()
                .show,
            vec!["v1".to_string()]
        );
        assert_eq!(
            check_entry(pref(11), K::StolenVehicle, &keys, &existing)
                .unwrap_err()
                .code(),
            "incompatible_record"
        );
    }
}
