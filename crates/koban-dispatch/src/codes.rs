//! Configurable code lists: incident types and dispositions, with Japanese police defaults.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{DispatchError, excerpt};

/// Highest priority (most urgent).
pub const PRIORITY_HIGHEST: u8 = 1;
/// Lowest priority (least urgent).
pub const PRIORITY_LOWEST: u8 = 5;
/// Longest code (incident type, disposition, capability, compatibility group) in bytes.
pub const MAX_CODE_LEN: usize = 32;
/// Most entries a code list may hold; a bigger list is a mistake, not a configuration.
pub const MAX_LIST_LEN: usize = 500;
/// The compatibility group that is compatible with every other group.
///
/// 事件性不明 (nature unknown) calls use it: a caller who cannot say what is happening may
/// well be describing an incident that others have already reported.
pub const ANY_GROUP: &str = "any";

/// Checks the code rules: 1 to [`MAX_CODE_LEN`] bytes of `[a-z0-9_]`.
///
/// Codes are keys in stored data and in other agencies' exchanges, so one spelling only.
pub fn validate_code(code: &str) -> Result<(), DispatchError> {
    let invalid = |reason| DispatchError::InvalidCode {
        code: excerpt(code),
        reason,
    };
    if code.is_empty() {
        return Err(invalid("empty"));
    }
    if code.len() > MAX_CODE_LEN {
        return Err(invalid("longer than 32 bytes"));
    }
    if !code
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(invalid("only a-z, 0-9 and _ are allowed"));
    }
    Ok(())
}

/// One kind of incident a call can be classified as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentType {
    /// Stable code, e.g. `traffic_accident`.
    pub code: String,
    /// Japanese name, e.g. 交通事故.
    pub name_ja: String,
    /// English name.
    pub name_en: String,
    /// Priority given to a new incident of this type, 1 (highest) to 5.
    pub default_priority: u8,
    /// Capabilities a unit must have to be recommended, e.g. `traffic`.
    pub required_capabilities: Vec<String>,
    /// Types in one group may describe the same event (duplicate detection).
    pub compatibility_group: String,
    /// The incident belongs to another agency (fire, ambulance) and police relay it.
    pub relay: bool,
}

/// A validated list of incident types.
///
/// Deserialising runs the same validation as [`IncidentTypeList::new`], so a bad
/// configuration file is refused rather than half-loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<IncidentType>", into = "Vec<IncidentType>")]
pub struct IncidentTypeList {
    types: Vec<IncidentType>,
}

impl IncidentTypeList {
    /// Validates a custom list: not empty, at most [`MAX_LIST_LEN`], unique valid codes,
    /// names present, priorities 1 to 5, valid capability and group codes.
    pub fn new(types: Vec<IncidentType>) -> Result<Self, DispatchError> {
        check_len(types.len())?;
        let mut seen = BTreeSet::new();
        for t in &types {
            validate_code(&t.code)?;
            if !seen.insert(t.code.as_str()) {
                return Err(DispatchError::DuplicateCode(excerpt(&t.code)));
            }
            require(&t.code, "name_ja", &t.name_ja)?;
            require(&t.code, "name_en", &t.name_en)?;
            if !(PRIORITY_HIGHEST..=PRIORITY_LOWEST).contains(&t.default_priority) {
                return Err(DispatchError::InvalidPriority {
                    code: excerpt(&t.code),
                    priority: t.default_priority,
                });
            }
            for c in &t.required_capabilities {
                validate_code(c)?;
            }
            validate_code(&t.compatibility_group)?;
        }
        Ok(IncidentTypeList { types })
    }

    /// The entries in their configured order.
    pub fn types(&self) -> &[IncidentType] {
        &self.types
    }

    /// The entry with this code.
    pub fn get(&self, code: &str) -> Result<&IncidentType, DispatchError> {
        self.types
            .iter()
            .find(|t| t.code == code)
            .ok_or_else(|| DispatchError::UnknownIncidentType(excerpt(code)))
    }

    /// Whether two types may describe the same event: same group, or either is in
    /// [`ANY_GROUP`]. A code missing from the list is compatible only with itself, so a
    /// retired type never silently merges with the wrong incidents.
    pub fn compatible(&self, a: &str, b: &str) -> bool {
        if a == b {
            return true;
        }
        match (self.get(a), self.get(b)) {
            (Ok(ta), Ok(tb)) => {
                ta.compatibility_group == tb.compatibility_group
                    || ta.compatibility_group == ANY_GROUP
                    || tb.compatibility_group == ANY_GROUP
            }
            _ => false,
        }
    }
}

impl Default for IncidentTypeList {
    /// The built-in Japanese police list (see [`default_incident_types`]).
    fn default() -> Self {
        IncidentTypeList {
            types: default_incident_types(),
        }
    }
}

/// The built-in incident types of a Japanese prefectural command room.
pub fn default_incident_types() -> Vec<IncidentType> {
    // (code, 日本語, English, priority, capabilities, group, relay)
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        u8,
        &'static [&'static str],
        &'static str,
        bool,
    );
    const ROWS: &[Row] = &[
        (
            "traffic_accident",
            "交通事故",
            "Traffic accident",
            2,
            &["traffic"],
            "traffic",
            false,
        ),
        (
            "hit_and_run",
            "ひき逃げ",
            "Hit and run",
            1,
            &["traffic"],
            "traffic",
            false,
        ),
        ("theft", "窃盗", "Theft", 3, &[], "property", false),
        ("robbery", "強盗", "Robbery", 1, &[], "violence", false),
        (
            "armed_person",
            "凶器所持者",
            "Armed person",
            1,
            &["firearms_team"],
            "violence",
            false,
        ),
        ("assault", "傷害", "Assault", 2, &[], "violence", false),
        (
            "domestic_violence",
            "家庭内暴力",
            "Domestic violence",
            1,
            &[],
            "violence",
            false,
        ),
        (
            "stalking",
            "ストーカー",
            "Stalking",
            2,
            &[],
            "stalking",
            false,
        ),
        (
            "suspicious_person",
            "不審者",
            "Suspicious person",
            3,
            &[],
            "suspicious",
            false,
        ),
        ("lost_child", "迷子", "Lost child", 2, &[], "missing", false),
        (
            "missing_person",
            "行方不明",
            "Missing person",
            2,
            &[],
            "missing",
            false,
        ),
        (
            "drunk_person",
            "泥酔者",
            "Drunk person",
            3,
            &[],
            "disturbance",
            false,
        ),
        (
            "noise",
            "騒音",
            "Noise complaint",
            4,
            &[],
            "disturbance",
            false,
        ),
        ("fire", "火災", "Fire (relay)", 2, &[], "fire", true),
        (
            "medical",
            "急病",
            "Medical emergency (relay)",
            2,
            &[],
            "medical",
            true,
        ),
        (
            "unknown",
            "事件性不明",
            "Nature unknown",
            3,
            &[],
            ANY_GROUP,
            false,
        ),
    ];
    ROWS.iter()
        .map(|&(code, ja, en, p, caps, group, relay)| IncidentType {
            code: code.to_owned(),
            name_ja: ja.to_owned(),
            name_en: en.to_owned(),
            default_priority: p,
            required_capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
            compatibility_group: group.to_owned(),
            relay,
        })
        .collect()
}

/// How an incident ended, recorded when it is closed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disposition {
    /// Stable code, e.g. `arrest`.
    pub code: String,
    /// Japanese name.
    pub name_ja: String,
    /// English name.
    pub name_en: String,
}

/// A validated list of disposition codes (validated on deserialising too).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Disposition>", into = "Vec<Disposition>")]
pub struct DispositionList {
    dispositions: Vec<Disposition>,
}

impl DispositionList {
    /// Validates a custom list: not empty, at most [`MAX_LIST_LEN`], unique valid codes,
    /// names present.
    pub fn new(dispositions: Vec<Disposition>) -> Result<Self, DispatchError> {
        check_len(dispositions.len())?;
        let mut seen = BTreeSet::new();
        for d in &dispositions {
            validate_code(&d.code)?;
            if !seen.insert(d.code.as_str()) {
                return Err(DispatchError::DuplicateCode(excerpt(&d.code)));
            }
            require(&d.code, "name_ja", &d.name_ja)?;
            require(&d.code, "name_en", &d.name_en)?;
        }
        Ok(DispositionList { dispositions })
    }

    /// The entries in their configured order.
    pub fn dispositions(&self) -> &[Disposition] {
        &self.dispositions
    }

    /// Whether the code is in the list.
    pub fn contains(&self, code: &str) -> bool {
        self.dispositions.iter().any(|d| d.code == code)
    }
}

impl Default for DispositionList {
    /// The built-in list (see [`default_dispositions`]).
    fn default() -> Self {
        DispositionList {
            dispositions: default_dispositions(),
        }
    }
}

/// The built-in disposition codes.
pub fn default_dispositions() -> Vec<Disposition> {
    const ROWS: &[(&str, &str, &str)] = &[
        ("arrest", "逮捕", "Arrest"),
        ("warning", "警告・指導", "Warning"),
        ("report_taken", "被害届受理", "Report taken"),
        ("protective_custody", "保護", "Protective custody"),
        ("no_action", "措置なし", "No action"),
        ("unfounded", "該当事案なし", "Unfounded"),
        (
            "transferred",
            "他機関引継ぎ",
            "Transferred to another agency",
        ),
    ];
    ROWS.iter()
        .map(|&(code, ja, en)| Disposition {
            code: code.to_owned(),
            name_ja: ja.to_owned(),
            name_en: en.to_owned(),
        })
        .collect()
}

impl TryFrom<Vec<IncidentType>> for IncidentTypeList {
    type Error = DispatchError;
    fn try_from(types: Vec<IncidentType>) -> Result<Self, Self::Error> {
        IncidentTypeList::new(types)
    }
}

impl From<IncidentTypeList> for Vec<IncidentType> {
    fn from(list: IncidentTypeList) -> Self {
        list.types
    }
}

impl TryFrom<Vec<Disposition>> for DispositionList {
    type Error = DispatchError;
    fn try_from(dispositions: Vec<Disposition>) -> Result<Self, Self::Error> {
        DispositionList::new(dispositions)
    }
}

impl From<DispositionList> for Vec<Disposition> {
    fn from(list: DispositionList) -> Self {
        list.dispositions
    }
}

fn check_len(len: usize) -> Result<(), DispatchError> {
    if len == 0 {
        return Err(DispatchError::InvalidList("empty"));
    }
    if len > MAX_LIST_LEN {
        return Err(DispatchError::InvalidList("more than 500 entries"));
    }
    Ok(())
}

fn require(code: &str, field: &'static str, value: &str) -> Result<(), DispatchError> {
    if value.trim().is_empty() {
        return Err(DispatchError::Required {
            code: excerpt(code),
            field,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let types = IncidentTypeList::new(default_incident_types());
        assert!(types.is_ok());
        assert!(DispositionList::new(default_dispositions()).is_ok());
        assert_eq!(IncidentTypeList::default(), types.unwrap_or_default());
    }

    #[test]
    fn defaults_carry_the_expected_facts() {
        let list = IncidentTypeList::default();
        let t = list.get("traffic_accident").cloned();
        assert_eq!(t.as_ref().map(|t| t.name_ja.as_str()), Ok("交通事故"));
        assert_eq!(
            t.map(|t| t.required_capabilities),
            Ok(vec!["traffic".to_owned()])
        );
        assert_eq!(list.get("robbery").map(|t| t.default_priority), Ok(1));
        assert_eq!(list.get("fire").map(|t| t.relay), Ok(true));
        assert_eq!(
            list.get("nope").map(|_| ()),
            Err(DispatchError::UnknownIncidentType("nope".into()))
        );
        for code in [
            "arrest",
            "warning",
            "report_taken",
            "no_action",
            "unfounded",
            "transferred",
        ] {
            assert!(DispositionList::default().contains(code), "{code}");
        }
    }

    #[test]
    fn compatibility() {
        let list = IncidentTypeList::default();
        assert!(list.compatible("traffic_accident", "hit_and_run"));
        assert!(list.compatible("assault", "domestic_violence"));
        assert!(!list.compatible("theft", "traffic_accident"));
        assert!(list.compatible("unknown", "theft"));
        assert!(list.compatible("noise", "unknown"));
        assert!(list.compatible("retired", "retired"));
        assert!(!list.compatible("retired", "theft"));
    }

    fn one(code: &str, priority: u8) -> IncidentType {
        IncidentType {
            code: code.into(),
            name_ja: "名".into(),
            name_en: "name".into(),
            default_priority: priority,
            required_capabilities: vec![],
            compatibility_group: "g".into(),
            relay: false,
        }
    }

    #[test]
    fn custom_list_validation() {
        assert!(IncidentTypeList::new(vec![one("a", 1), one("b", 5)]).is_ok());
        let err =
            |r: Result<IncidentTypeList, DispatchError>| r.map(|_| ()).err().map(|e| e.code());
        assert_eq!(err(IncidentTypeList::new(vec![])), Some("invalid_list"));
        assert_eq!(
            err(IncidentTypeList::new(vec![one("a", 1), one("a", 2)])),
            Some("duplicate_code")
        );
        assert_eq!(
            err(IncidentTypeList::new(vec![one("a", 0)])),
            Some("invalid_priority")
        );
        assert_eq!(
            err(IncidentTypeList::new(vec![one("a", 6)])),
            Some("invalid_priority")
        );
        assert_eq!(
            err(IncidentTypeList::new(vec![one("A", 1)])),
            Some("invalid_code")
        );
        assert_eq!(
            err(IncidentTypeList::new(vec![one("", 1)])),
            Some("invalid_code")
        );
        let mut blank = one("a", 1);
        blank.name_ja = " ".into();
        assert_eq!(err(IncidentTypeList::new(vec![blank])), Some("required"));
        let mut bad_cap = one("a", 1);
        bad_cap.required_capabilities = vec!["Fire Arms".into()];
        assert_eq!(
            err(IncidentTypeList::new(vec![bad_cap])),
            Some("invalid_code")
        );
        let many: Vec<_> = (0..=MAX_LIST_LEN)
            .map(|i| one(&format!("t{i}"), 3))
            .collect();
        assert_eq!(err(IncidentTypeList::new(many)), Some("invalid_list"));
    }

    #[test]
    fn disposition_list_validation() {
        let d = |c: &str| Disposition {
            code: c.into(),
            name_ja: "処理".into(),
            name_en: "done".into(),
        };
        assert!(DispositionList::new(vec![d("x")]).is_ok());
        assert_eq!(
            DispositionList::new(vec![d("x"), d("x")]).map(|_| ()),
            Err(DispatchError::DuplicateCode("x".into()))
        );
        assert!(DispositionList::new(vec![]).is_err());
    }

    #[test]
    fn lists_round_trip_through_json_and_validate_on_load() {
        let list = IncidentTypeList::default();
        let json = serde_json::to_string(&list).unwrap_or_default();
        assert!(json.starts_with('['));
        let back: Result<IncidentTypeList, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(list));
        let bad = r#"[{"code":"a","name_ja":"x","name_en":"x","default_priority":7,
            "required_capabilities":[],"compatibility_group":"g","relay":false}]"#;
        assert!(serde_json::from_str::<IncidentTypeList>(bad).is_err());
        let d = DispositionList::default();
        let json = serde_json::to_string(&d).unwrap_or_default();
        assert_eq!(serde_json::from_str::<DispositionList>(&json).ok(), Some(d));
        assert!(serde_json::from_str::<DispositionList>("[]").is_err());
    }

    #[test]
    fn code_rules() {
        assert!(validate_code("firearms_team").is_ok());
        assert!(validate_code(&"a".repeat(MAX_CODE_LEN)).is_ok());
        assert!(validate_code(&"a".repeat(MAX_CODE_LEN + 1)).is_err());
        assert!(validate_code("交通").is_err());
    }
}
