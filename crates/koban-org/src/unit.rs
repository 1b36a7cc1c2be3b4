//! Organisational units: their kinds, the built-in hierarchy above the police stations, and
//! the rules for the ids of units created at run time.

use std::fmt;
use std::str::FromStr;

use crate::error::{OrgError, excerpt};
use crate::pref::{PrefCode, parent_unit_id, police_name_en, police_name_ja, prefecture_unit_id};

pub(crate) const NPA_ID: &str = "npa";
pub(crate) const RPB_TOHOKU: &str = "rpb-tohoku";
pub(crate) const RPB_KANTO: &str = "rpb-kanto";
pub(crate) const RPB_CHUBU: &str = "rpb-chubu";
pub(crate) const RPB_KINKI: &str = "rpb-kinki";
pub(crate) const RPB_CHUGOKU_SHIKOKU: &str = "rpb-chugoku-shikoku";
pub(crate) const RPB_KYUSHU: &str = "rpb-kyushu";
pub(crate) const BRANCH_SHIKOKU: &str = "rpb-shikoku";

/// The id prefixes reserved for built-in units; run-time ids may not start with them, so a
/// station can never be mistaken for (or shadow) a bureau or prefecture.
pub const RESERVED_ID_PREFIXES: [&str; 4] = ["npa", "rpb-", "pref-", "ahq-"];

/// The level of a unit in the organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// The National Police Agency (警察庁).
    National,
    /// A regional police bureau (管区警察局).
    RegionalBureau,
    /// The Shikoku police branch bureau (四国警察支局).
    BureauBranch,
    /// A prefectural police force (都道府県警察).
    Prefecture,
    /// One of Hokkaido's area headquarters (方面本部).
    AreaHeadquarters,
    /// A police station (警察署).
    Station,
    /// A koban (交番).
    Koban,
    /// A residential police box (駐在所).
    Chuzaisho,
}

impl UnitKind {
    /// Every kind, from the top of the hierarchy down.
    pub const ALL: [UnitKind; 8] = [
        UnitKind::National,
        UnitKind::RegionalBureau,
        UnitKind::BureauBranch,
        UnitKind::Prefecture,
        UnitKind::AreaHeadquarters,
        UnitKind::Station,
        UnitKind::Koban,
        UnitKind::Chuzaisho,
    ];

    /// The snake_case name used in storage, JSON and CSV, e.g. "regional_bureau".
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::National => "national",
            UnitKind::RegionalBureau => "regional_bureau",
            UnitKind::BureauBranch => "bureau_branch",
            UnitKind::Prefecture => "prefecture",
            UnitKind::AreaHeadquarters => "area_headquarters",
            UnitKind::Station => "station",
            UnitKind::Koban => "koban",
            UnitKind::Chuzaisho => "chuzaisho",
        }
    }

    /// Accepts the snake_case name (in any ASCII case) or the Japanese label, e.g. "koban",
    /// "Koban" or "交番", because import files are often typed by hand in Japanese.
    pub fn parse(s: &str) -> Result<Self, OrgError> {
        UnitKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s) || k.label_ja() == s)
            .ok_or_else(|| OrgError::UnknownUnitKind(excerpt(s)))
    }

    /// The Japanese word for this level, e.g. "警察署".
    pub fn label_ja(self) -> &'static str {
        match self {
            UnitKind::National => "警察庁",
            UnitKind::RegionalBureau => "管区警察局",
            UnitKind::BureauBranch => "警察支局",
            UnitKind::Prefecture => "都道府県警察",
            UnitKind::AreaHeadquarters => "方面本部",
            UnitKind::Station => "警察署",
            UnitKind::Koban => "交番",
            UnitKind::Chuzaisho => "駐在所",
        }
    }

    /// True for the kinds whose units are fixed by law and shipped with koban
    /// (National to AreaHeadquarters); false for stations and boxes, which are created at run time.
    pub fn is_builtin_kind(self) -> bool {
        matches!(
            self,
            UnitKind::National
                | UnitKind::RegionalBureau
                | UnitKind::BureauBranch
                | UnitKind::Prefecture
                | UnitKind::AreaHeadquarters
        )
    }
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UnitKind {
    type Err = OrgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnitKind::parse(s)
    }
}

/// One unit of the organisation, built-in or created at run time.
///
/// This is `PartialEq` but not `Eq`, because the coordinates are floating-point numbers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrgUnit {
    /// Stable id, e.g. "pref-13" or "st-13-marunouchi".
    pub id: String,
    /// The unit's level.
    pub kind: UnitKind,
    /// The unit directly above, `None` only for the NPA.
    pub parent_id: Option<String>,
    /// Japanese name, e.g. "丸の内警察署".
    pub name_ja: String,
    /// English name, e.g. "Marunouchi Police Station".
    pub name_en: String,
    /// The prefecture the unit belongs to; `None` for the NPA, the bureaus and the branch.
    pub pref_code: Option<PrefCode>,
    /// Latitude in degrees (stations and boxes only).
    pub latitude: Option<f64>,
    /// Longitude in degrees (stations and boxes only).
    pub longitude: Option<f64>,
    /// Postal address (stations and boxes only).
    pub address: Option<String>,
}

/// A built-in unit above the prefectures: a bureau or the Shikoku branch.
#[derive(Debug)]
pub(crate) struct BureauDef {
    pub(crate) id: &'static str,
    pub(crate) kind: UnitKind,
    pub(crate) parent: &'static str,
    pub(crate) name_ja: &'static str,
    pub(crate) name_en: &'static str,
}

/// The six regional police bureaus and the Shikoku branch, parents before children.
pub(crate) static BUREAUS: [BureauDef; 7] = [
    BureauDef {
        id: RPB_TOHOKU,
        kind: UnitKind::RegionalBureau,
        parent: NPA_ID,
        name_ja: "東北管区警察局",
        name_en: "Tohoku Regional Police Bureau",
    },
    BureauDef {
        id: RPB_KANTO,
        kind: UnitKind::RegionalBureau,
        parent: NPA_ID,
        name_ja: "関東管区警察局",
        name_en: "Kanto Regional Police Bureau",
    },
    BureauDef {
        id: RPB_CHUBU,
        kind: UnitKind::RegionalBureau,
        parent: NPA_ID,
        name_ja: "中部管区警察局",
        name_en: "Chubu Regional Police Bureau",
    },
    BureauDef {
        id: RPB_KINKI,
        kind: UnitKind::RegionalBureau,
        parent: NPA_ID,
        name_ja: "近畿管区警察局",
        name_en: "Kinki Regional Police Bureau",
    },
    BureauDef {
        id: RPB_CHUGOKU_SHIKOKU,
        kind: UnitKind::RegionalBureau,
        parent: NPA_ID,
        name_ja: "中国四国管区警察局",
        name_en: "Chugoku-Shikoku Regional Police Bureau",
    },
    BureauDef {
        id: RPB_KYUSHU,
        kind: UnitKind::RegionalBureau,
        parent: NPA_ID,
        name_ja: "九州管区警察局",
        name_en: "Kyushu Regional Police Bureau",
    },
    BureauDef {
        id: BRANCH_SHIKOKU,
        kind: UnitKind::BureauBranch,
        parent: RPB_CHUGOKU_SHIKOKU,
        name_ja: "四国警察支局",
        name_en: "Shikoku Police Branch Bureau",
    },
];

/// Looks up a bureau or the branch by id.
pub(crate) fn bureau_def(id: &str) -> Option<&'static BureauDef> {
    BUREAUS.iter().find(|b| b.id == id)
}

/// Hokkaido's five area headquarters as (id, Japanese name, English name).
pub(crate) static AREA_HQS: [(&str, &str, &str); 5] = [
    (
        "ahq-01-sapporo",
        "札幌方面本部",
        "Sapporo Area Headquarters",
    ),
    (
        "ahq-01-hakodate",
        "函館方面本部",
        "Hakodate Area Headquarters",
    ),
    (
        "ahq-01-asahikawa",
        "旭川方面本部",
        "Asahikawa Area Headquarters",
    ),
    (
        "ahq-01-kushiro",
        "釧路方面本部",
        "Kushiro Area Headquarters",
    ),
    ("ahq-01-kitami", "北見方面本部", "Kitami Area Headquarters"),
];

/// True if `id` is one of Hokkaido's five area headquarters.
pub fn is_area_headquarters_id(id: &str) -> bool {
    AREA_HQS.iter().any(|(ahq, _, _)| *ahq == id)
}

/// True if `id` is the id of one of the 60 built-in units.
pub fn is_builtin_id(id: &str) -> bool {
    id == NPA_ID
        || bureau_def(id).is_some()
        || is_area_headquarters_id(id)
        || PrefCode::all().any(|p| prefecture_unit_id(p) == id)
}

fn builtin(
    id: &str,
    kind: UnitKind,
    parent_id: Option<&str>,
    name_ja: &str,
    name_en: &str,
    pref_code: Option<PrefCode>,
) -> OrgUnit {
    OrgUnit {
        id: id.to_owned(),
        kind,
        parent_id: parent_id.map(str::to_owned),
        name_ja: name_ja.to_owned(),
        name_en: name_en.to_owned(),
        pref_code,
        latitude: None,
        longitude: None,
        address: None,
    }
}

/// The 60 built-in units: the NPA, the six regional bureaus, the Shikoku branch, the 47
/// prefectural police forces and Hokkaido's five area headquarters.
///
/// Every parent comes before its children, so callers can insert the list into storage in
/// order without violating a foreign key.
pub fn builtin_units() -> Vec<OrgUnit> {
    let mut units = Vec::with_capacity(60);
    units.push(builtin(
        NPA_ID,
        UnitKind::National,
        None,
        "警察庁",
        "National Police Agency",
        None,
    ));
    for b in &BUREAUS {
        units.push(builtin(
            b.id,
            b.kind,
            Some(b.parent),
            b.name_ja,
            b.name_en,
            None,
        ));
    }
    for code in PrefCode::all() {
        units.push(builtin(
            &prefecture_unit_id(code),
            UnitKind::Prefecture,
            Some(parent_unit_id(code)),
            &police_name_ja(code),
            &police_name_en(code),
            Some(code),
        ));
    }
    let hokkaido = prefecture_unit_id(PrefCode::HOKKAIDO);
    for (id, name_ja, name_en) in AREA_HQS {
        units.push(builtin(
            id,
            UnitKind::AreaHeadquarters,
            Some(&hokkaido),
            name_ja,
            name_en,
            Some(PrefCode::HOKKAIDO),
        ));
    }
    units
}

/// Checks the id of a unit created at run time (a station or box), e.g. "st-13-marunouchi".
///
/// Ids are 3 to 64 characters of lower-case ASCII letters, digits and '-', begin with a letter
/// or digit, do not end with '-' and contain no "--", so that they are safe in URLs, file names
/// and log lines without escaping. They may not start with a prefix reserved for built-in units
/// (npa, rpb-, pref-, ahq-), so a run-time unit can never pose as one whose scope is wider.
pub fn validate_unit_id(s: &str) -> Result<(), OrgError> {
    let fail = |reason| {
        Err(OrgError::InvalidUnitId {
            id: excerpt(s),
            reason,
        })
    };
    if !(3..=64).contains(&s.len()) {
        return fail("must be 3 to 64 characters long");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return fail("may contain only lower-case ASCII letters, digits and '-'");
    }
    if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
        return fail("must not start or end with '-' or contain \"--\"");
    }
    if RESERVED_ID_PREFIXES.iter().any(|p| s.starts_with(p)) {
        return fail(
            "must not start with a prefix reserved for built-in units (npa, rpb-, pref-, ahq-)",
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::pref::bureau_of;
    use std::collections::{BTreeSet, HashMap, HashSet};

    fn p(n: u8) -> PrefCode {
        PrefCode::new(n).unwrap()
    }

    /// The bureau table of the organisation reference, transcribed: (bureau id, codes).
    /// The Chugoku-Shikoku row lists only the prefectures directly under it; the branch's
    /// four are checked separately.
    const REFERENCE_TABLE: [(&str, &[u8]); 6] = [
        ("rpb-tohoku", &[2, 3, 4, 5, 6, 7]),
        ("rpb-kanto", &[8, 9, 10, 11, 12, 14, 15, 19, 20, 22]),
        ("rpb-chubu", &[16, 17, 18, 21, 23, 24]),
        ("rpb-kinki", &[25, 26, 27, 28, 29, 30]),
        ("rpb-chugoku-shikoku", &[31, 32, 33, 34, 35]),
        ("rpb-kyushu", &[40, 41, 42, 43, 44, 45, 46, 47]),
    ];
    const SHIKOKU_BRANCH: [u8; 4] = [36, 37, 38, 39];

    #[test]
    fn exactly_47_prefectures() {
        let units = builtin_units();
        let prefs: Vec<_> = units
            .iter()
            .filter(|u| u.kind == UnitKind::Prefecture)
            .collect();
        assert_eq!(prefs.len(), 47);
        let codes: BTreeSet<u8> = prefs.iter().map(|u| u.pref_code.unwrap().as_u8()).collect();
        assert_eq!(codes, (1..=47).collect());
        for u in prefs {
            assert_eq!(u.id, prefecture_unit_id(u.pref_code.unwrap()));
        }
    }

    #[test]
    fn builtin_counts() {
        let units = builtin_units();
        assert_eq!(units.len(), 60);
        let count = |k| units.iter().filter(|u| u.kind == k).count();
        assert_eq!(count(UnitKind::National), 1);
        assert_eq!(count(UnitKind::RegionalBureau), 6);
        assert_eq!(count(UnitKind::BureauBranch), 1);
        assert_eq!(count(UnitKind::AreaHeadquarters), 5);
        let ids: HashSet<_> = units.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids.len(), 60, "builtin ids are unique");
        assert!(units.iter().all(|u| is_builtin_id(&u.id)));
    }

    #[test]
    fn every_prefecture_is_in_the_reference_bureau() {
        let units = builtin_units();
        let by_id: HashMap<_, _> = units.iter().map(|u| (u.id.as_str(), u)).collect();
        let mut seen = BTreeSet::new();
        for (bureau, codes) in REFERENCE_TABLE {
            for &n in codes {
                let unit = by_id[prefecture_unit_id(p(n)).as_str()];
                assert_eq!(unit.parent_id.as_deref(), Some(bureau), "pref {n}");
                assert_eq!(bureau_of(p(n)), Some(bureau), "pref {n}");
                assert!(seen.insert(n));
            }
        }
        for n in SHIKOKU_BRANCH {
            let unit = by_id[prefecture_unit_id(p(n)).as_str()];
            assert_eq!(unit.parent_id.as_deref(), Some("rpb-shikoku"), "pref {n}");
            assert_eq!(bureau_of(p(n)), Some("rpb-chugoku-shikoku"), "pref {n}");
            assert!(seen.insert(n));
        }
        for n in [1, 13] {
            let unit = by_id[prefecture_unit_id(p(n)).as_str()];
            assert_eq!(unit.parent_id.as_deref(), Some("npa"), "pref {n}");
            assert_eq!(bureau_of(p(n)), None);
            assert!(seen.insert(n));
        }
        assert_eq!(seen, (1..=47).collect(), "every prefecture is placed once");
        // The reference counts per bureau: 6, 10, 6, 6, 9 (with the branch), 8.
        let counts: Vec<usize> = REFERENCE_TABLE
            .iter()
            .map(|(b, _)| PrefCode::all().filter(|&c| bureau_of(c) == Some(b)).count())
            .collect();
        assert_eq!(counts, [6, 10, 6, 6, 9, 8]);
    }

    #[test]
    fn shikoku_branch_has_exactly_36_to_39() {
        let units = builtin_units();
        let branch = units.iter().find(|u| u.id == "rpb-shikoku").unwrap();
        assert_eq!(branch.kind, UnitKind::BureauBranch);
        assert_eq!(branch.parent_id.as_deref(), Some("rpb-chugoku-shikoku"));
        assert_eq!(branch.name_ja, "四国警察支局");
        assert_eq!(branch.name_en, "Shikoku Police Branch Bureau");
        let children: Vec<u8> = units
            .iter()
            .filter(|u| u.parent_id.as_deref() == Some("rpb-shikoku"))
            .map(|u| u.pref_code.unwrap().as_u8())
            .collect();
        assert_eq!(children, SHIKOKU_BRANCH);
    }

    #[test]
    fn tokyo_and_hokkaido_under_npa() {
        let units = builtin_units();
        let tokyo = units.iter().find(|u| u.id == "pref-13").unwrap();
        assert_eq!(tokyo.parent_id.as_deref(), Some("npa"));
        assert_eq!(tokyo.name_ja, "警視庁");
        assert_eq!(tokyo.name_en, "Tokyo Metropolitan Police Department");
        let hokkaido = units.iter().find(|u| u.id == "pref-01").unwrap();
        assert_eq!(hokkaido.parent_id.as_deref(), Some("npa"));
        assert_eq!(hokkaido.name_ja, "北海道警察");
    }

    #[test]
    fn five_area_headquarters_under_hokkaido() {
        let units = builtin_units();
        let ahqs: Vec<_> = units
            .iter()
            .filter(|u| u.kind == UnitKind::AreaHeadquarters)
            .collect();
        let ids: Vec<_> = ahqs.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "ahq-01-sapporo",
                "ahq-01-hakodate",
                "ahq-01-asahikawa",
                "ahq-01-kushiro",
                "ahq-01-kitami"
            ]
        );
        for u in ahqs {
            assert_eq!(u.parent_id.as_deref(), Some("pref-01"));
            assert_eq!(u.pref_code, Some(PrefCode::HOKKAIDO));
            assert!(u.name_ja.ends_with("方面本部"));
            assert!(u.name_en.ends_with("Area Headquarters"));
        }
        assert_eq!(
            ahqs_name("ahq-01-sapporo"),
            ("札幌方面本部", "Sapporo Area Headquarters")
        );
    }

    fn ahqs_name(id: &str) -> (&'static str, &'static str) {
        let (_, ja, en) = AREA_HQS.iter().find(|(i, _, _)| *i == id).unwrap();
        (ja, en)
    }

    #[test]
    fn every_parent_exists_and_comes_first() {
        let units = builtin_units();
        let mut seen = HashSet::new();
        for u in &units {
            match &u.parent_id {
                None => assert_eq!(u.id, "npa"),
                Some(parent) => assert!(seen.contains(parent.as_str()), "{} before {parent}", u.id),
            }
            seen.insert(u.id.as_str());
        }
    }

    #[test]
    fn builtin_names_and_pref_codes() {
        for u in builtin_units() {
            assert!(!u.name_ja.is_empty() && !u.name_en.is_empty(), "{}", u.id);
            assert!(u.latitude.is_none() && u.longitude.is_none() && u.address.is_none());
            let needs_pref = matches!(u.kind, UnitKind::Prefecture | UnitKind::AreaHeadquarters);
            assert_eq!(u.pref_code.is_some(), needs_pref, "{}", u.id);
            assert!(u.kind.is_builtin_kind());
        }
        let units = builtin_units();
        let tohoku = units.iter().find(|u| u.id == "rpb-tohoku").unwrap();
        assert_eq!(tohoku.name_ja, "東北管区警察局");
        assert_eq!(tohoku.name_en, "Tohoku Regional Police Bureau");
    }

    #[test]
    fn unit_kind_strings() {
        for k in UnitKind::ALL {
            assert_eq!(UnitKind::parse(k.as_str()).unwrap(), k);
            assert_eq!(UnitKind::parse(k.label_ja()).unwrap(), k);
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(UnitKind::parse("KOBAN").unwrap(), UnitKind::Koban);
        assert_eq!(UnitKind::parse("交番").unwrap(), UnitKind::Koban);
        assert!(UnitKind::parse("box").is_err());
        assert!(UnitKind::parse("").is_err());
        assert!(UnitKind::Prefecture.is_builtin_kind());
        assert!(UnitKind::AreaHeadquarters.is_builtin_kind());
        assert!(!UnitKind::Station.is_builtin_kind());
        assert!(!UnitKind::Chuzaisho.is_builtin_kind());
    }

    #[test]
    fn unit_ids() {
        for ok in [
            "st-13-marunouchi",
            "kb-13-001",
            "abc",
            "0ab",
            &"a".repeat(64),
        ] {
            assert!(validate_unit_id(ok).is_ok(), "{ok:?} rejected");
        }
        for bad in [
            "",
            "ab",
            &"a".repeat(65),
            "St-13",
            "st_13",
            "st 13",
            "st-13-丸の内",
            "-st",
            "st-",
            "st--13",
            "npa",
            "npa-1",
            "rpb-x",
            "pref-13",
            "pref-99",
            "ahq-01-sapporo",
            "ahq-x",
        ] {
            assert!(validate_unit_id(bad).is_err(), "{bad:?} accepted");
        }
        // A lookalike that only shares letters with a reserved prefix is fine.
        assert!(validate_unit_id("prefecture-office").is_ok());
        assert!(validate_unit_id("rpbx").is_ok());
    }
}
