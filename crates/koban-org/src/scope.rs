//! Which prefectures' data a unit's users may see.

use std::collections::BTreeSet;

use crate::error::{OrgError, excerpt};
use crate::pref::{PrefCode, bureau_of, parent_unit_id, prefecture_unit_id};
use crate::unit::{NPA_ID, OrgUnit, UnitKind, bureau_def, is_area_headquarters_id};

/// The prefectures whose data a unit's users may see.
///
/// `National` is kept distinct from a set holding all 47 prefectures: the NPA's reach is a
/// property of the unit, not a coincidence of the data, and callers may grant national-only
/// functions on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The whole country (the NPA).
    National,
    /// Only these prefectures.
    Prefectures(BTreeSet<PrefCode>),
}

impl Scope {
    /// A scope of one prefecture.
    pub fn prefecture(p: PrefCode) -> Scope {
        Scope::Prefectures(BTreeSet::from([p]))
    }

    /// True if data of prefecture `p` is within the scope.
    pub fn covers(&self, p: PrefCode) -> bool {
        match self {
            Scope::National => true,
            Scope::Prefectures(set) => set.contains(&p),
        }
    }

    /// The scope covering everything either scope covers; national if either is.
    pub fn union(&self, other: &Scope) -> Scope {
        match (self, other) {
            (Scope::Prefectures(a), Scope::Prefectures(b)) => {
                Scope::Prefectures(a.union(b).copied().collect())
            }
            _ => Scope::National,
        }
    }

    /// The covered prefectures in ascending order; all 47 for a national scope.
    pub fn prefectures(&self) -> Vec<PrefCode> {
        match self {
            Scope::National => PrefCode::all().collect(),
            Scope::Prefectures(set) => set.iter().copied().collect(),
        }
    }

    /// True for the NPA's national scope.
    pub fn is_national(&self) -> bool {
        matches!(self, Scope::National)
    }
}

/// Scope of a unit given the unit itself (built-in or run-time): NPA -> National; a bureau ->
/// its prefectures (Chugoku-Shikoku includes its Shikoku branch's four); the branch -> 36..39;
/// a prefecture, area HQ, station, koban or chuzaisho -> its own prefecture only.
///
/// Units of the built-in kinds must match the built-in unit of the same id (kind, and for
/// prefectures and area headquarters the prefecture code); anything else is an error rather
/// than a guess, because a tampered or corrupt unit record must never widen what its users see.
pub fn scope_of(unit: &OrgUnit) -> Result<Scope, OrgError> {
    let not_builtin = || OrgError::NotBuiltin {
        id: excerpt(&unit.id),
        kind: unit.kind.as_str(),
    };
    match unit.kind {
        UnitKind::National => {
            if unit.id == NPA_ID {
                Ok(Scope::National)
            } else {
                Err(not_builtin())
            }
        }
        UnitKind::RegionalBureau | UnitKind::BureauBranch => {
            let def = bureau_def(&unit.id)
                .filter(|d| d.kind == unit.kind)
                .ok_or_else(not_builtin)?;
            let set: BTreeSet<PrefCode> = PrefCode::all()
                .filter(|&p| match unit.kind {
                    UnitKind::RegionalBureau => bureau_of(p) == Some(def.id),
                    _ => parent_unit_id(p) == def.id,
                })
                .collect();
            Ok(Scope::Prefectures(set))
        }
        UnitKind::Prefecture => {
            let p = own_prefecture(unit)?;
            if unit.id == prefecture_unit_id(p) {
                Ok(Scope::prefecture(p))
            } else {
                Err(not_builtin())
            }
        }
        UnitKind::AreaHeadquarters => {
            let p = own_prefecture(unit)?;
            if p == PrefCode::HOKKAIDO && is_area_headquarters_id(&unit.id) {
                Ok(Scope::prefecture(p))
            } else {
                Err(not_builtin())
            }
        }
        UnitKind::Station | UnitKind::Koban | UnitKind::Chuzaisho => {
            own_prefecture(unit).map(Scope::prefecture)
        }
    }
}

fn own_prefecture(unit: &OrgUnit) -> Result<PrefCode, OrgError> {
    unit.pref_code.ok_or_else(|| OrgError::MissingPrefecture {
        id: excerpt(&unit.id),
        kind: unit.kind.as_str(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::unit::builtin_units;

    fn p(n: u8) -> PrefCode {
        PrefCode::new(n).unwrap()
    }

    fn codes(s: &Scope) -> Vec<u8> {
        s.prefectures().into_iter().map(PrefCode::as_u8).collect()
    }

    fn unit(id: &str) -> OrgUnit {
        builtin_units().into_iter().find(|u| u.id == id).unwrap()
    }

    fn runtime(kind: UnitKind, pref: Option<u8>) -> OrgUnit {
        OrgUnit {
            id: "st-14-yokohama".into(),
            kind,
            parent_id: Some("pref-14".into()),
            name_ja: "横浜".into(),
            name_en: "Yokohama".into(),
            pref_code: pref.map(p),
            latitude: None,
            longitude: None,
            address: None,
        }
    }

    #[test]
    fn npa_is_national() {
        let s = scope_of(&unit("npa")).unwrap();
        assert!(s.is_national());
        assert_eq!(s.prefectures().len(), 47);
        assert!(PrefCode::all().all(|c| s.covers(c)));
    }

    #[test]
    fn bureaus() {
        assert_eq!(
            codes(&scope_of(&unit("rpb-chugoku-shikoku")).unwrap()),
            (31..=39).collect::<Vec<_>>()
        );
        assert_eq!(
            codes(&scope_of(&unit("rpb-kanto")).unwrap()),
            [8, 9, 10, 11, 12, 14, 15, 19, 20, 22]
        );
        assert_eq!(
            codes(&scope_of(&unit("rpb-tohoku")).unwrap()),
            [2, 3, 4, 5, 6, 7]
        );
        assert_eq!(
            codes(&scope_of(&unit("rpb-shikoku")).unwrap()),
            [36, 37, 38, 39]
        );
        let kanto = scope_of(&unit("rpb-kanto")).unwrap();
        assert!(!kanto.covers(PrefCode::TOKYO), "Tokyo is in no bureau");
        assert!(!kanto.is_national());
    }

    #[test]
    fn bureau_scopes_partition_all_but_tokyo_and_hokkaido() {
        let mut all = Scope::Prefectures(BTreeSet::new());
        for u in builtin_units()
            .iter()
            .filter(|u| u.kind == UnitKind::RegionalBureau)
        {
            all = all.union(&scope_of(u).unwrap());
        }
        let expected: Vec<u8> = (2..=47).filter(|&n| n != 13).collect();
        assert_eq!(codes(&all), expected);
    }

    #[test]
    fn prefectures_and_below_see_only_their_own() {
        let kanagawa = scope_of(&unit("pref-14")).unwrap();
        assert_eq!(codes(&kanagawa), [14]);
        assert!(kanagawa.covers(p(14)) && !kanagawa.covers(p(13)));
        assert_eq!(codes(&scope_of(&unit("pref-13")).unwrap()), [13]);
        assert_eq!(codes(&scope_of(&unit("ahq-01-kitami")).unwrap()), [1]);
        for kind in [UnitKind::Station, UnitKind::Koban, UnitKind::Chuzaisho] {
            assert_eq!(codes(&scope_of(&runtime(kind, Some(14))).unwrap()), [14]);
            assert!(matches!(
                scope_of(&runtime(kind, None)),
                Err(OrgError::MissingPrefecture { .. })
            ));
        }
    }

    #[test]
    fn forged_builtin_units_are_rejected() {
        let mut u = unit("npa");
        u.id = "st-13-x".into();
        assert!(scope_of(&u).is_err(), "a station posing as national");
        let mut u = unit("rpb-kanto");
        u.kind = UnitKind::BureauBranch;
        assert!(scope_of(&u).is_err());
        let mut u = unit("pref-14");
        u.pref_code = Some(p(13));
        assert!(scope_of(&u).is_err(), "id and code disagree");
        let mut u = unit("pref-14");
        u.pref_code = None;
        assert!(scope_of(&u).is_err());
        let mut u = unit("ahq-01-sapporo");
        u.pref_code = Some(p(2));
        assert!(scope_of(&u).is_err());
        assert!(scope_of(&runtime(UnitKind::RegionalBureau, None)).is_err());
        assert!(scope_of(&runtime(UnitKind::AreaHeadquarters, Some(1))).is_err());
    }

    #[test]
    fn every_builtin_has_a_scope() {
        for u in builtin_units() {
            assert!(scope_of(&u).is_ok(), "{}", u.id);
        }
    }

    #[test]
    fn union_basics() {
        let a = Scope::prefecture(p(1));
        let b = Scope::prefecture(p(2));
        assert_eq!(codes(&a.union(&b)), [1, 2]);
        assert!(a.union(&Scope::National).is_national());
        assert!(Scope::National.union(&a).is_national());
    }
}
