//! Serial numbers of firearms and articles, and owner-applied numbers.
//!
//! Serials are stamped by makers in their own styles (`AB-12345`, `123 456`, `A12345B`), so
//! the stored form keeps hyphens as written but the key drops them: a serial read over the
//! radio without its hyphen still finds the record.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::text::{compact_upper, precheck, tidy};

/// Longest serial, in characters (hyphens included).
pub const MAX_SERIAL_LEN: usize = 30;
/// Longest firearm make, in characters.
pub const MAX_MAKE_LEN: usize = 40;
/// Longest calibre text, in characters.
pub const MAX_CALIBRE_LEN: usize = 20;

/// A serial number: upper-case letters and digits, with single hyphens between them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SerialNumber(String);

impl SerialNumber {
    /// Parses a serial for `field`, folding case, width and spaces.
    pub fn parse_field(field: &str, s: &str) -> Result<SerialNumber, RegistryError> {
        precheck(field, s)?;
        let t = compact_upper(s);
        if t.chars().count() > MAX_SERIAL_LEN {
            return Err(RegistryError::TooLong {
                field: field.to_string(),
                max: MAX_SERIAL_LEN,
            });
        }
        if !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(RegistryError::invalid(
                field,
                "must be letters, digits and hyphens",
            ));
        }
        if t.starts_with('-') || t.ends_with('-') || t.contains("--") {
            return Err(RegistryError::invalid(
                field,
                "hyphens must stand between characters",
            ));
        }
        Ok(SerialNumber(t))
    }

    /// Parses a serial reported under the field `serial`.
    pub fn parse(s: &str) -> Result<SerialNumber, RegistryError> {
        SerialNumber::parse_field("serial", s)
    }

    /// The serial as written (normalised), e.g. `AB-12345`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lookup key: the serial without hyphens, e.g. `AB12345`.
    pub fn key(&self) -> String {
        self.0.chars().filter(|&c| c != '-').collect()
    }
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SerialNumber {
    type Error = RegistryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SerialNumber::parse(&s)
    }
}

impl From<SerialNumber> for String {
    fn from(s: SerialNumber) -> String {
        s.0
    }
}

/// A firearm's make as written, with a folded key (`Smith & Wesson` and `SMITH&WESSON` share
/// the key `SMITHWESSON`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FirearmMake(String);

impl FirearmMake {
    /// Parses a make: 1 to 40 characters with at least one letter or digit.
    pub fn parse(s: &str) -> Result<FirearmMake, RegistryError> {
        const FIELD: &str = "make";
        precheck(FIELD, s)?;
        let t = tidy(s);
        if t.chars().count() > MAX_MAKE_LEN {
            return Err(RegistryError::TooLong {
                field: FIELD.into(),
                max: MAX_MAKE_LEN,
            });
        }
        if t.chars().any(char::is_control) || !t.chars().any(char::is_alphanumeric) {
            return Err(RegistryError::invalid(FIELD, "must name a maker"));
        }
        Ok(FirearmMake(t))
    }

    /// The folded key: upper case, letters and digits only.
    pub fn key(&self) -> String {
        self.0
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_uppercase)
            .collect()
    }
}

impl fmt::Display for FirearmMake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for FirearmMake {
    type Error = RegistryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        FirearmMake::parse(&s)
    }
}

impl From<FirearmMake> for String {
    fn from(s: FirearmMake) -> String {
        s.0
    }
}

/// A firearm identified by make and serial (NCIC's gun key), with its calibre.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FirearmId {
    /// The maker.
    pub make: FirearmMake,
    /// The serial.
    pub serial: SerialNumber,
    /// The calibre as written (`9mm`, `.38 Special`, `12番`), optional.
    pub calibre: Option<String>,
}

impl FirearmId {
    /// Parses make, serial and an optional calibre.
    pub fn parse(
        make: &str,
        serial: &str,
        calibre: Option<&str>,
    ) -> Result<FirearmId, RegistryError> {
        let calibre = match calibre.map(tidy).filter(|c| !c.is_empty()) {
            Some(c) if c.chars().count() > MAX_CALIBRE_LEN => {
                return Err(RegistryError::TooLong {
                    field: "calibre".into(),
                    max: MAX_CALIBRE_LEN,
                });
            }
            other => other,
        };
        Ok(FirearmId {
            make: FirearmMake::parse(make)?,
            serial: SerialNumber::parse(serial)?,
            calibre,
        })
    }

    /// The key, e.g. `SMITHWESSON|AB12345`.
    pub fn key(&self) -> String {
        format!("{}|{}", self.make.key(), self.serial.key())
    }
}

/// Which kind of number identifies an article.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleNumberKind {
    /// The maker's serial number.
    Serial,
    /// A number the owner engraved or marked (owner-applied number).
    OwnerApplied,
}

/// An article's identifying number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ArticleNumber {
    /// Serial or owner-applied.
    pub kind: ArticleNumberKind,
    /// The number.
    pub number: SerialNumber,
}

impl ArticleNumber {
    /// Parses an article number of the given kind.
    pub fn parse(kind: ArticleNumberKind, s: &str) -> Result<ArticleNumber, RegistryError> {
        Ok(ArticleNumber {
            kind,
            number: SerialNumber::parse_field("article_number", s)?,
        })
    }

    /// The key, e.g. `S|SN12345` or `O|TANAKA01`.
    pub fn key(&self) -> String {
        let k = match self.kind {
            ArticleNumberKind::Serial => 'S',
            ArticleNumberKind::OwnerApplied => 'O',
        };
        format!("{k}|{}", self.number.key())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn serials_fold_and_key_without_hyphens() {
        for (s, shown, key) in [
            ("ab-12345", "AB-12345", "AB12345"),
            ("ＡＢ－１２３４５", "AB-12345", "AB12345"),
            ("AB 12345", "AB12345", "AB12345"),
            ("123 456", "123456", "123456"),
            ("x", "X", "X"),
        ] {
            let n = SerialNumber::parse(s).unwrap();
            assert_eq!((n.as_str(), n.key().as_str()), (shown, key), "{s}");
        }
        for s in [
            "",
            "-AB1",
            "AB1-",
            "AB--1",
            "AB#1",
            "シリアル",
            &"9".repeat(31),
        ] {
            assert!(SerialNumber::parse(s).is_err(), "{s}");
        }
        assert_eq!(
            SerialNumber::parse(&"9".repeat(31)).unwrap_err().code(),
            "too_long"
        );
    }

    #[test]
    fn firearms() {
        let a = FirearmId::parse("Smith & Wesson", "ab-12345", Some(" .38  Special ")).unwrap();
        let b = FirearmId::parse("SMITH&WESSON", "AB12345", None).unwrap();
        assert_eq!(a.key(), "SMITHWESSON|AB12345");
        assert_eq!(a.key(), b.key());
        assert_eq!(a.calibre.as_deref(), Some(".38 Special"));
        let j = FirearmId::parse("豊和工業", "12345", Some("12番")).unwrap();
        assert_eq!(j.key(), "豊和工業|12345");
        assert_eq!(
            FirearmId::parse("", "1", None).unwrap_err().field(),
            Some("make")
        );
        assert_eq!(
            FirearmId::parse("&&", "1", None).unwrap_err().field(),
            Some("make")
        );
        assert_eq!(
            FirearmId::parse("Colt", "", None).unwrap_err().field(),
            Some("serial")
        );
        assert_eq!(
            FirearmId::parse("Colt", "1", Some(&"9".repeat(21)))
                .unwrap_err()
                .code(),
            "too_long"
        );
    }

    #[test]
    fn articles() {
        let s = ArticleNumber::parse(ArticleNumberKind::Serial, "sn-001").unwrap();
        assert_eq!(s.key(), "S|SN001");
        let o = ArticleNumber::parse(ArticleNumberKind::OwnerApplied, "tanaka 01").unwrap();
        assert_eq!(o.key(), "O|TANAKA01");
        assert_eq!(
            ArticleNumber::parse(ArticleNumberKind::Serial, "")
                .unwrap_err()
                .field(),
            Some("article_number")
        );
    }
}
