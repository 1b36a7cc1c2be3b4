//! JIS X 0401 prefecture codes and the facts koban keeps about each prefecture.

use std::fmt;
use std::str::FromStr;

use crate::error::{OrgError, excerpt};
use crate::unit::{
    BRANCH_SHIKOKU, NPA_ID, RPB_CHUBU, RPB_CHUGOKU_SHIKOKU, RPB_KANTO, RPB_KINKI, RPB_KYUSHU,
    RPB_TOHOKU, bureau_def,
};

/// JIS X 0401 prefecture code, always two digits "01".."47".
///
/// The inner number is private so that every `PrefCode` in the program is known to be valid;
/// code that receives one never has to check it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrefCode(u8);

/// The 47 codes as text, so that writing one (every stored record, lifecycle and history
/// entry has several) allocates nothing.
const CODES: [&str; 47] = [
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32",
    "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47",
];

impl serde::Serialize for PrefCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for PrefCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Code;
        impl serde::de::Visitor<'_> for Code {
            type Value = PrefCode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a prefecture code from \"01\" to \"47\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PrefCode, E> {
                PrefCode::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Code)
    }
}

impl PrefCode {
    /// Hokkaido (01), which has area headquarters and belongs to no regional bureau.
    pub const HOKKAIDO: PrefCode = PrefCode(1);
    /// Tokyo (13), policed by the Metropolitan Police Department outside any bureau.
    pub const TOKYO: PrefCode = PrefCode(13);

    /// Accepts the numbers 1 to 47.
    pub fn new(n: u8) -> Result<Self, OrgError> {
        if (1..=47).contains(&n) {
            Ok(PrefCode(n))
        } else {
            Err(OrgError::InvalidPrefCode(n.to_string()))
        }
    }

    /// Accepts exactly two ASCII digits from "01" to "47".
    ///
    /// Forms such as "1", " 01" or "１３" are rejected rather than repaired, because a code is
    /// also a key in stored data and two spellings of one prefecture must never coexist.
    pub fn parse(s: &str) -> Result<Self, OrgError> {
        let bytes = s.as_bytes();
        let invalid = || OrgError::InvalidPrefCode(excerpt(s));
        if bytes.len() != 2 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(invalid());
        }
        let n = (bytes[0] - b'0') * 10 + (bytes[1] - b'0');
        PrefCode::new(n).map_err(|_| invalid())
    }

    /// The code as a number from 1 to 47.
    pub fn as_u8(self) -> u8 {
        self.0
    }

    /// The code as two digits, e.g. "01".
    pub fn as_str(&self) -> &'static str {
        CODES[self.index()]
    }

    /// All 47 codes in ascending order.
    pub fn all() -> impl Iterator<Item = PrefCode> {
        (1..=47).map(PrefCode)
    }

    /// Index into [`PREFECTURES`]; always in bounds because the code is valid.
    fn index(self) -> usize {
        usize::from(self.0) - 1
    }

    fn def(self) -> &'static PrefDef {
        &PREFECTURES[self.index()]
    }
}

impl fmt::Display for PrefCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PrefCode {
    type Err = OrgError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PrefCode::parse(s)
    }
}

impl TryFrom<String> for PrefCode {
    type Error = OrgError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        PrefCode::parse(&s)
    }
}

impl From<PrefCode> for String {
    fn from(code: PrefCode) -> String {
        code.as_str().to_string()
    }
}

/// What koban knows about one prefecture.
#[derive(Debug)]
pub(crate) struct PrefDef {
    /// The prefecture's own name, with its 都/道/府/県 suffix.
    pub(crate) name_ja: &'static str,
    /// The romanised name without suffix, as used in the police forces' English names.
    pub(crate) name_en: &'static str,
    /// The unit directly above the prefectural police: a bureau, the Shikoku branch, or the NPA.
    pub(crate) parent: &'static str,
}

const fn pd(name_ja: &'static str, name_en: &'static str, parent: &'static str) -> PrefDef {
    PrefDef {
        name_ja,
        name_en,
        parent,
    }
}

/// The 47 prefectures in JIS X 0401 order; index `n - 1` holds code `n`.
///
/// The parents follow the bureau table of the organisation reference: Tokyo and Hokkaido sit
/// directly under the NPA, and Shikoku's four prefectures under the Shikoku branch.
pub(crate) static PREFECTURES: [PrefDef; 47] = [
    pd("北海道", "Hokkaido", NPA_ID),
    pd("青森県", "Aomori", RPB_TOHOKU),
    pd("岩手県", "Iwate", RPB_TOHOKU),
    pd("宮城県", "Miyagi", RPB_TOHOKU),
    pd("秋田県", "Akita", RPB_TOHOKU),
    pd("山形県", "Yamagata", RPB_TOHOKU),
    pd("福島県", "Fukushima", RPB_TOHOKU),
    pd("茨城県", "Ibaraki", RPB_KANTO),
    pd("栃木県", "Tochigi", RPB_KANTO),
    pd("群馬県", "Gunma", RPB_KANTO),
    pd("埼玉県", "Saitama", RPB_KANTO),
    pd("千葉県", "Chiba", RPB_KANTO),
    pd("東京都", "Tokyo", NPA_ID),
    pd("神奈川県", "Kanagawa", RPB_KANTO),
    pd("新潟県", "Niigata", RPB_KANTO),
    pd("富山県", "Toyama", RPB_CHUBU),
    pd("石川県", "Ishikawa", RPB_CHUBU),
    pd("福井県", "Fukui", RPB_CHUBU),
    pd("山梨県", "Yamanashi", RPB_KANTO),
    pd("長野県", "Nagano", RPB_KANTO),
    pd("岐阜県", "Gifu", RPB_CHUBU),
    pd("静岡県", "Shizuoka", RPB_KANTO),
    pd("愛知県", "Aichi", RPB_CHUBU),
    pd("三重県", "Mie", RPB_CHUBU),
    pd("滋賀県", "Shiga", RPB_KINKI),
    pd("京都府", "Kyoto", RPB_KINKI),
    pd("大阪府", "Osaka", RPB_KINKI),
    pd("兵庫県", "Hyogo", RPB_KINKI),
    pd("奈良県", "Nara", RPB_KINKI),
    pd("和歌山県", "Wakayama", RPB_KINKI),
    pd("鳥取県", "Tottori", RPB_CHUGOKU_SHIKOKU),
    pd("島根県", "Shimane", RPB_CHUGOKU_SHIKOKU),
    pd("岡山県", "Okayama", RPB_CHUGOKU_SHIKOKU),
    pd("広島県", "Hiroshima", RPB_CHUGOKU_SHIKOKU),
    pd("山口県", "Yamaguchi", RPB_CHUGOKU_SHIKOKU),
    pd("徳島県", "Tokushima", BRANCH_SHIKOKU),
    pd("香川県", "Kagawa", BRANCH_SHIKOKU),
    pd("愛媛県", "Ehime", BRANCH_SHIKOKU),
    pd("高知県", "Kochi", BRANCH_SHIKOKU),
    pd("福岡県", "Fukuoka", RPB_KYUSHU),
    pd("佐賀県", "Saga", RPB_KYUSHU),
    pd("長崎県", "Nagasaki", RPB_KYUSHU),
    pd("熊本県", "Kumamoto", RPB_KYUSHU),
    pd("大分県", "Oita", RPB_KYUSHU),
    pd("宮崎県", "Miyazaki", RPB_KYUSHU),
    pd("鹿児島県", "Kagoshima", RPB_KYUSHU),
    pd("沖縄県", "Okinawa", RPB_KYUSHU),
];

/// The unit id of a prefectural police force, e.g. "pref-13".
pub fn prefecture_unit_id(code: PrefCode) -> String {
    format!("pref-{code}")
}

/// The prefecture's own name, e.g. "東京都", "北海道", "大阪府", "神奈川県".
pub fn prefecture_name_ja(code: PrefCode) -> &'static str {
    code.def().name_ja
}

/// The prefecture's romanised name without suffix, e.g. "Tokyo", "Hyogo".
pub fn prefecture_name_en(code: PrefCode) -> &'static str {
    code.def().name_en
}

/// The Japanese name of the prefecture's police force: "警視庁" for Tokyo, otherwise the
/// prefecture's name followed by 警察 ("北海道警察", "大阪府警察", "神奈川県警察").
pub fn police_name_ja(code: PrefCode) -> String {
    if code == PrefCode::TOKYO {
        "警視庁".to_owned()
    } else {
        format!("{}警察", prefecture_name_ja(code))
    }
}

/// The English name of the prefecture's police force: "Tokyo Metropolitan Police Department"
/// for Tokyo, otherwise "`<Name>` Prefectural Police" (Hokkaido and the two 府 included, as
/// the forces themselves write it).
pub fn police_name_en(code: PrefCode) -> String {
    if code == PrefCode::TOKYO {
        "Tokyo Metropolitan Police Department".to_owned()
    } else {
        format!("{} Prefectural Police", prefecture_name_en(code))
    }
}

/// The id of the unit directly above the prefectural police: its bureau, the Shikoku branch
/// ("rpb-shikoku") for 36–39, or "npa" for Hokkaido and Tokyo.
pub fn parent_unit_id(code: PrefCode) -> &'static str {
    code.def().parent
}

/// The id of the regional police bureau the prefecture belongs to, or `None` for Hokkaido (01)
/// and Tokyo (13), which belong to none. The Shikoku prefectures (36–39) answer
/// "rpb-chugoku-shikoku", because the Shikoku branch is part of that bureau, not a bureau itself.
pub fn bureau_of(code: PrefCode) -> Option<&'static str> {
    let parent = parent_unit_id(code);
    if parent == NPA_ID {
        return None;
    }
    // A branch is not a bureau, so look one level further up for the Shikoku prefectures.
    match bureau_def(parent) {
        Some(def) if def.parent != NPA_ID => Some(def.parent),
        _ => Some(parent),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_written_and_read_as_two_digit_strings() {
        for p in PrefCode::all() {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{:02}\"", p.as_u8()));
            assert_eq!(p.as_str(), p.to_string());
            assert_eq!(serde_json::from_str::<PrefCode>(&json).unwrap(), p);
            let owned: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(serde_json::from_value::<PrefCode>(owned).unwrap(), p);
        }
        for bad in [
            "\"00\"",
            "\"48\"",
            "\"1\"",
            "\" 01\"",
            "13",
            "null",
            "\"１３\"",
        ] {
            assert!(serde_json::from_str::<PrefCode>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_accepts_only_1_to_47() {
        assert!(PrefCode::new(0).is_err());
        assert_eq!(PrefCode::new(1).unwrap().as_u8(), 1);
        assert_eq!(PrefCode::new(47).unwrap().as_u8(), 47);
        assert!(PrefCode::new(48).is_err());
        assert!(PrefCode::new(255).is_err());
    }

    #[test]
    fn parse_is_strict() {
        assert_eq!(PrefCode::parse("01").unwrap(), PrefCode::HOKKAIDO);
        assert_eq!(PrefCode::parse("13").unwrap(), PrefCode::TOKYO);
        assert_eq!(PrefCode::parse("47").unwrap().as_u8(), 47);
        for bad in [
            "", "1", "001", "00", "48", "99", " 1", "1 ", "+1", "-1", "１３", "ab", "0x",
        ] {
            assert!(PrefCode::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn display_and_as_str_are_two_digits() {
        let c = PrefCode::new(1).unwrap();
        assert_eq!(c.to_string(), "01");
        assert_eq!(c.as_str(), "01");
        assert_eq!(PrefCode::new(47).unwrap().to_string(), "47");
    }

    #[test]
    fn all_lists_47_in_order() {
        let all: Vec<u8> = PrefCode::all().map(PrefCode::as_u8).collect();
        assert_eq!(all, (1..=47).collect::<Vec<u8>>());
    }

    #[test]
    fn serde_uses_the_two_digit_string() {
        // serde's own value-level deserialisers keep this test free of a JSON dependency.
        use serde::Deserialize;
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error as DeError, StringDeserializer};

        let de: StringDeserializer<DeError> = "07".to_owned().into_deserializer();
        assert_eq!(PrefCode::deserialize(de).unwrap().as_u8(), 7);
        let de: StringDeserializer<DeError> = "7".to_owned().into_deserializer();
        assert!(PrefCode::deserialize(de).is_err());
        assert_eq!(String::from(PrefCode::new(7).unwrap()), "07");
    }

    #[test]
    fn names() {
        let p = |n| PrefCode::new(n).unwrap();
        assert_eq!(prefecture_name_ja(p(13)), "東京都");
        assert_eq!(prefecture_name_ja(p(1)), "北海道");
        assert_eq!(prefecture_name_ja(p(47)), "沖縄県");
        assert_eq!(police_name_ja(p(13)), "警視庁");
        assert_eq!(police_name_ja(p(1)), "北海道警察");
        assert_eq!(police_name_ja(p(27)), "大阪府警察");
        assert_eq!(police_name_ja(p(26)), "京都府警察");
        assert_eq!(police_name_ja(p(14)), "神奈川県警察");
        assert_eq!(
            police_name_en(p(13)),
            "Tokyo Metropolitan Police Department"
        );
        assert_eq!(police_name_en(p(1)), "Hokkaido Prefectural Police");
        assert_eq!(police_name_en(p(14)), "Kanagawa Prefectural Police");
        assert_eq!(police_name_en(p(27)), "Osaka Prefectural Police");
        assert_eq!(prefecture_unit_id(p(13)), "pref-13");
        assert_eq!(prefecture_unit_id(p(1)), "pref-01");
    }

    #[test]
    fn every_prefecture_name_has_a_suffix() {
        for code in PrefCode::all() {
            let name = prefecture_name_ja(code);
            assert!(
                ["都", "道", "府", "県"].iter().any(|s| name.ends_with(s)),
                "{name}"
            );
        }
    }
}
