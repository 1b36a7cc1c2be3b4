//! Japanese vehicle registration plates (自動車登録番号標).
//!
//! A plate reads `品川 300 あ 12-34`: the place name of the registering office (地名), the
//! class number (分類番号), one hiragana for the use (用途) and a serial of up to four digits.
//! Serials under 1000 are printed with dots for the missing digits (`・・・1`, `・・12`,
//! `・123`), and over the radio any spacing is used. [`Plate::parse`] accepts all of these
//! and reduces them to one canonical form, so that a plate is found however it was read.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::text::{fold, precheck};

const FIELD: &str = "plate";

/// Longest place name, in characters (e.g. 富士山 is three; the longest in use are four).
pub const MAX_PLACE_CHARS: usize = 4;

/// Highest serial (the largest four-digit number).
pub const MAX_SERIAL: u16 = 9999;

/// The hiragana never used for the use mark: お looks like あ, し is read as 死, へ is hard
/// to tell from other marks and ん cannot be said alone.
pub const UNUSED_KANA: [char; 4] = ['お', 'し', 'へ', 'ん'];

/// Latin letters allowed in the second and third position of a three-character class
/// number (issued since 2018 when the digit combinations ran out).
pub const CLASS_LETTERS: &str = "ACFHKLMPXY";

/// A validated plate, possibly without its place name (a query heard as `300 あ 12-34`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Plate {
    place: Option<String>,
    class: String,
    kana: char,
    serial: u16,
}

impl Plate {
    /// Parses a plate in any common spelling; the place name may be left out.
    pub fn parse(s: &str) -> Result<Plate, RegistryError> {
        precheck(FIELD, s)?;
        let chars: Vec<char> = fold(s)
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| match c {
                'ヶ' => 'ケ',
                // Radio operators and keyboards write the padding dot many ways.
                '･' | '·' | '•' | '‧' | '∙' | '.' => '・',
                c => c,
            })
            .collect();
        let mut i = 0;

        // The place name is everything before the first digit.
        while i < chars.len() && !chars[i].is_ascii_digit() {
            i += 1;
        }
        let place: String = chars[..i].iter().collect();
        if !place.chars().all(is_place_char) {
            return Err(RegistryError::invalid(
                FIELD,
                "place name must be kanji or hiragana",
            ));
        }
        if place.chars().count() > MAX_PLACE_CHARS {
            return Err(RegistryError::invalid(
                FIELD,
                "place name is longer than 4 characters",
            ));
        }

        // The class number runs up to the use mark.
        let start = i;
        while i < chars.len() && chars[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let class: String = chars[start..i]
            .iter()
            .map(|c| c.to_ascii_uppercase())
            .collect();
        check_class(&class)?;

        let Some(&mark) = chars.get(i) else {
            return Err(RegistryError::invalid(FIELD, "use mark (hiragana) missing"));
        };
        let kana = to_hiragana(mark);
        if !is_use_kana(kana) {
            return Err(RegistryError::invalid(
                FIELD,
                "use mark must be a hiragana used on plates",
            ));
        }
        i += 1;

        let serial = parse_serial(&chars[i..])?;
        Ok(Plate {
            place: (!place.is_empty()).then_some(place),
            class,
            kana,
            serial,
        })
    }

    /// The place name, if it was given.
    pub fn place(&self) -> Option<&str> {
        self.place.as_deref()
    }

    /// The class number, e.g. `300` or `30A`.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// The use mark.
    pub fn kana(&self) -> char {
        self.kana
    }

    /// The serial, 1 to 9999.
    pub fn serial(&self) -> u16 {
        self.serial
    }

    /// True if the place name is known, so the plate names exactly one vehicle.
    pub fn is_complete(&self) -> bool {
        self.place.is_some()
    }

    /// The canonical exact-lookup key, e.g. `品川|300|あ|1234`. Without a place name the
    /// place is `*`, which is never a place, so a partial key never equals a complete one;
    /// look partial plates up by [`Plate::key_without_place`].
    pub fn key(&self) -> String {
        let place = self.place.as_deref().unwrap_or("*");
        let mut key = String::with_capacity(place.len() + 16);
        key.push_str(place);
        key.push('|');
        self.push_key_without_place(&mut key);
        key
    }

    /// The key without the place name, e.g. `300|あ|1234`, for the index that answers
    /// queries heard without a place.
    pub fn key_without_place(&self) -> String {
        let mut key = String::with_capacity(16);
        self.push_key_without_place(&mut key);
        key
    }

    /// Appends [`Plate::key_without_place`] (built by hand: every imported vehicle and
    /// plate record has two plate keys).
    fn push_key_without_place(&self, key: &mut String) {
        key.push_str(&self.class);
        key.push('|');
        key.push(self.kana);
        key.push('|');
        crate::text::push_decimal(key, u32::from(self.serial), 1);
    }

    /// True if a query plate (possibly without place) names this plate.
    pub fn matches(&self, query: &Plate) -> bool {
        self.class == query.class
            && self.kana == query.kana
            && self.serial == query.serial
            && match (&self.place, &query.place) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl fmt::Display for Plate {
    /// The printed form: `品川 300 あ 12-34`, `品川 300 あ ・・・1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.place {
            write!(f, "{p} ")?;
        }
        write!(f, "{} {} ", self.class, self.kana)?;
        let digits = self.serial.to_string();
        if digits.len() == 4 {
            write!(f, "{}-{}", &digits[..2], &digits[2..])
        } else {
            let dots = "・".repeat(4 - digits.len());
            write!(f, "{dots}{digits}")
        }
    }
}

impl TryFrom<String> for Plate {
    type Error = RegistryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Plate::parse(&s)
    }
}

impl From<Plate> for String {
    fn from(p: Plate) -> String {
        p.to_string()
    }
}

fn is_place_char(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '々' | 'ケ' | 'ぁ'..='ゖ')
}

/// Converts a katakana use mark (typed by mistake) to its hiragana.
fn to_hiragana(c: char) -> char {
    match c {
        'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
        c => c,
    }
}

/// The 42 hiragana used as use marks: the plain syllables without dakuten or small forms,
/// and without ゐ, ゑ and [`UNUSED_KANA`].
fn is_use_kana(c: char) -> bool {
    const PLAIN: &str =
        "あいうえかきくけこさすせそたちつてとなにぬねのはひふほまみむめもやゆよらりるれろわを";
    PLAIN.contains(c) && !UNUSED_KANA.contains(&c)
}

fn check_class(class: &str) -> Result<(), RegistryError> {
    let b = class.as_bytes();
    if b.is_empty() {
        return Err(RegistryError::invalid(FIELD, "class number missing"));
    }
    if b.len() > 3 {
        return Err(RegistryError::invalid(
            FIELD,
            "class number is longer than 3 characters",
        ));
    }
    if !(b'1'..=b'9').contains(&b[0]) {
        return Err(RegistryError::invalid(
            FIELD,
            "class number must start with a digit from 1 to 9",
        ));
    }
    let tail_ok = b[1..]
        .iter()
        .all(|&c| c.is_ascii_digit() || (b.len() == 3 && CLASS_LETTERS.as_bytes().contains(&c)));
    if !tail_ok {
        return Err(RegistryError::invalid(
            FIELD,
            "class number may hold letters only in a 3-character class",
        ));
    }
    Ok(())
}

/// Parses `12-34`, `1234`, `・・・1`, `・・12`, `1-23`: leading dots pad the digits to four,
/// one hyphen may stand between digits.
fn parse_serial(rest: &[char]) -> Result<u16, RegistryError> {
    let dots = rest.iter().take_while(|&&c| c == '・').count();
    let body = &rest[dots..];
    if body.is_empty() {
        return Err(RegistryError::invalid(FIELD, "serial missing"));
    }
    let mut digits = String::new();
    let mut hyphens = 0;
    for (k, &c) in body.iter().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '-' if k > 0 && k + 1 < body.len() && hyphens == 0 => hyphens += 1,
            _ => {
                return Err(RegistryError::invalid(
                    FIELD,
                    "serial must be up to 4 digits, optionally dotted or hyphenated",
                ));
            }
        }
    }
    if digits.len() > 4 || dots + digits.len() > 4 {
        return Err(RegistryError::invalid(
            FIELD,
            "serial has more than 4 digits",
        ));
    }
    let n: u16 = digits
        .parse()
        .map_err(|_| RegistryError::invalid(FIELD, "serial must be digits"))?;
    if n == 0 || n > MAX_SERIAL {
        return Err(RegistryError::OutOfRange {
            field: FIELD.to_string(),
            reason: "serial must be 1 to 9999",
        });
    }
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        match Plate::parse(s) {
            Ok(p) => p.key(),
            Err(e) => format!("ERR {e}"),
        }
    }

    #[test]
    fn keys_write_every_serial_as_the_formatter_does() {
        for serial in 1..=MAX_SERIAL {
            let p = Plate {
                place: Some("品川".into()),
                class: "300".into(),
                kana: 'あ',
                serial,
            };
            assert_eq!(p.key_without_place(), format!("300|あ|{serial}"));
            assert_eq!(p.key(), format!("品川|300|あ|{serial}"));
        }
    }

    #[test]
    fn accepts_the_common_spellings() {
        for s in [
            "品川300あ1234",
            "品川 300 あ 12-34",
            "品川　３００　あ　１２－３４",
            "品川300あ12ー34",
            "品川 300 あ 12‐34",
            "品川 300 あ 12−34",
            " 品 川 3 0 0 あ 1 2 3 4 ",
            "品川300ア1234",
        ] {
            assert_eq!(key(s), "品川|300|あ|1234", "{s}");
        }
        assert_eq!(key("練馬 500 さ ・・・1"), "練馬|500|さ|1");
        assert_eq!(key("練馬500さ･･･1"), "練馬|500|さ|1");
        assert_eq!(key("練馬500さ...1"), "練馬|500|さ|1");
        assert_eq!(key("富士山 33 わ ・・12"), "富士山|33|わ|12");
        assert_eq!(key("つくば 5 れ 1-23"), "つくば|5|れ|123");
        assert_eq!(key("袖ヶ浦 300 な ・123"), "袖ケ浦|300|な|123");
        assert_eq!(key("品川 30a あ 1"), "品川|30A|あ|1");
        assert_eq!(key("多摩 3 ぬ 9999"), "多摩|3|ぬ|9999");
    }

    #[test]
    fn place_name_may_be_missing() {
        let p = Plate::parse("300 あ 12-34").unwrap();
        assert!(!p.is_complete());
        assert_eq!(p.key(), "*|300|あ|1234");
        assert_eq!(p.key_without_place(), "300|あ|1234");
        let full = Plate::parse("品川300あ1234").unwrap();
        assert!(full.matches(&p));
        assert!(!full.matches(&Plate::parse("301 あ 12-34").unwrap()));
        assert!(!full.matches(&Plate::parse("練馬 300 あ 12-34").unwrap()));
    }

    #[test]
    fn refuses_bad_plates() {
        for s in [
            "",
            "   ",
            "品川300お1234",
            "品川300し1234",
            "品川300へ1234",
            "品川300ん1234",
            "品川300が1234",
            "品川300ぁ1234",
            "品川300あ0",
            "品川300あ00-00",
            "品川300あ12345",
            "品川300あ・・123",
            "品川300あ",
            "品川300あ-12",
            "品川300あ12-",
            "品川300あ1-2-3",
            "品川3000あ1234",
            "品川030あ1234",
            "品川0あ1234",
            "品川3Aあ1234",
            "品川30Bあ1234",
            "品川あ1234",
            "品川300 1234",
            "ABC300あ1234",
            "東京都品川区300あ1234",
            "品川300あ12a4",
        ] {
            assert!(Plate::parse(s).is_err(), "{s:?} should be refused");
        }
        let e = Plate::parse("品川300お1234").unwrap_err();
        assert_eq!((e.code(), e.field()), ("invalid_format", Some("plate")));
        assert_eq!(Plate::parse("").unwrap_err().code(), "required");
        assert_eq!(
            Plate::parse("品川300あ0").unwrap_err().code(),
            "out_of_range"
        );
        assert_eq!(
            Plate::parse(&"1".repeat(65)).unwrap_err().code(),
            "too_long"
        );
    }

    #[test]
    fn displays_as_printed_and_round_trips() {
        for (s, shown) in [
            ("品川300あ1234", "品川 300 あ 12-34"),
            ("品川300あ1", "品川 300 あ ・・・1"),
            ("品川300あ12", "品川 300 あ ・・12"),
            ("300あ123", "300 あ ・123"),
        ] {
            let p = Plate::parse(s).unwrap();
            assert_eq!(p.to_string(), shown);
            assert_eq!(Plate::parse(&p.to_string()).unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Plate>(&json).unwrap(), p);
        }
        assert!(serde_json::from_str::<Plate>("\"品川300お1\"").is_err());
    }
}
