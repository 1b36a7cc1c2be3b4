//! Travel documents: issuing state, document type and number (INTERPOL SLTD's key).
//!
//! The issuing state is checked for shape only — three Latin capitals — and not against
//! ISO 3166-1, because ICAO Doc 9303 also issues codes outside it (`UNO`, `XXA` stateless,
//! `XXB` refugee, `EUE`, …) and the list changes. [`IssuingState::is_listed`] reports whether
//! a code is in a small built-in list, for a warning, never a refusal. The one-letter MRZ
//! code of Germany (`D`) is folded to `DEU`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::text::{compact_upper, precheck};

/// The state whose documents this registry may enter: only the issuing state may enter a
/// travel document into SLTD.
pub const REGISTRY_STATE: &str = "JPN";

/// Shortest and longest document number of other states (ICAO allows up to 9 in the MRZ
/// field and more through the optional-data overflow).
pub const DOCUMENT_NUMBER_LEN: std::ops::RangeInclusive<usize> = 5..=15;

/// Issuing-state codes the registry sees most often.
pub const LISTED_STATES: &[&str] = &[
    "JPN", "USA", "CHN", "KOR", "PRK", "TWN", "HKG", "MAC", "PHL", "VNM", "THA", "IDN", "MYS",
    "SGP", "IND", "NPL", "LKA", "BGD", "PAK", "MMR", "KHM", "MNG", "AUS", "NZL", "CAN", "MEX",
    "BRA", "PER", "GBR", "IRL", "FRA", "DEU", "ITA", "ESP", "PRT", "NLD", "BEL", "CHE", "AUT",
    "SWE", "NOR", "DNK", "FIN", "POL", "RUS", "UKR", "TUR", "IRN", "NGA", "EGY", "ZAF", "UNO",
    "XXA", "XXB", "XXC", "XXX", "EUE",
];

/// An ISO 3166-1 alpha-3 (or ICAO) issuing-state code.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IssuingState(String);

impl IssuingState {
    /// Parses three Latin letters in any case and width; `D` (or `D<<`) means Germany.
    pub fn parse(s: &str) -> Result<IssuingState, RegistryError> {
        const FIELD: &str = "issuing_state";
        precheck(FIELD, s)?;
        let t = compact_upper(s);
        let t = t.trim_end_matches('<');
        if t == "D" {
            return Ok(IssuingState("DEU".into()));
        }
        if t.len() == 3 && t.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(IssuingState(t.to_string()))
        } else {
            Err(RegistryError::invalid(
                FIELD,
                "must be a 3-letter state code",
            ))
        }
    }

    /// The code, e.g. `JPN`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if the code is in [`LISTED_STATES`].
    pub fn is_listed(&self) -> bool {
        LISTED_STATES.contains(&self.0.as_str())
    }
}

impl fmt::Display for IssuingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for IssuingState {
    type Error = RegistryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        IssuingState::parse(&s)
    }
}

impl From<IssuingState> for String {
    fn from(s: IssuingState) -> String {
        s.0
    }
}

/// The kind of travel document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    /// A passport (MRZ `P`).
    Passport,
    /// An identity card (MRZ `I`, `A` or `C`).
    IdentityCard,
    /// A visa (MRZ `V`).
    Visa,
    /// A Japanese residence card (在留カード).
    ResidenceCard,
}

impl DocumentType {
    /// Parses an MRZ code or a name: `P`, `passport`, `旅券`; `I`, `ID`, `A`, `C`,
    /// `identity_card`; `V`, `visa`; `R`, `residence_card`, `在留カード`.
    pub fn parse(s: &str) -> Result<DocumentType, RegistryError> {
        const FIELD: &str = "document_type";
        precheck(FIELD, s)?;
        match s.trim() {
            "旅券" => return Ok(DocumentType::Passport),
            "査証" => return Ok(DocumentType::Visa),
            "在留カード" => return Ok(DocumentType::ResidenceCard),
            _ => {}
        }
        let t = compact_upper(s).replace(['_', '-'], "");
        Ok(match t.as_str() {
            "P" | "PP" | "PASSPORT" => DocumentType::Passport,
            "I" | "ID" | "A" | "C" | "IDENTITYCARD" | "IDCARD" => DocumentType::IdentityCard,
            "V" | "VISA" => DocumentType::Visa,
            "R" | "RESIDENCECARD" => DocumentType::ResidenceCard,
            _ => return Err(RegistryError::invalid(FIELD, "unknown document type")),
        })
    }

    /// The one-letter code used in keys.
    pub fn code(self) -> char {
        match self {
            DocumentType::Passport => 'P',
            DocumentType::IdentityCard => 'I',
            DocumentType::Visa => 'V',
            DocumentType::ResidenceCard => 'R',
        }
    }
}

/// A document number, upper-case alphanumeric, MRZ filler (`<`) removed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentNumber(String);

impl DocumentNumber {
    /// Parses 5 to 15 letters and digits in any case, width and spacing.
    pub fn parse(s: &str) -> Result<DocumentNumber, RegistryError> {
        const FIELD: &str = "document_number";
        precheck(FIELD, s)?;
        let t: String = compact_upper(s).chars().filter(|&c| c != '<').collect();
        if !t
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(RegistryError::invalid(FIELD, "must be letters and digits"));
        }
        if !DOCUMENT_NUMBER_LEN.contains(&t.len()) {
            return Err(RegistryError::invalid(FIELD, "must be 5 to 15 characters"));
        }
        Ok(DocumentNumber(t))
    }

    /// The number, e.g. `TK1234567`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the Japanese passport form: two letters and seven digits.
    pub fn is_japanese_passport_form(&self) -> bool {
        let b = self.0.as_bytes();
        b.len() == 9
            && b[..2].iter().all(u8::is_ascii_uppercase)
            && b[2..].iter().all(u8::is_ascii_digit)
    }
}

impl fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DocumentNumber {
    type Error = RegistryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DocumentNumber::parse(&s)
    }
}

impl From<DocumentNumber> for String {
    fn from(s: DocumentNumber) -> String {
        s.0
    }
}

/// A fully identified travel document.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TravelDocumentId {
    /// The issuing state.
    pub issuing_state: IssuingState,
    /// The document type.
    pub document_type: DocumentType,
    /// The number.
    pub number: DocumentNumber,
}

impl TravelDocumentId {
    /// Builds the id, checking the Japanese passport form when the issuer is Japan.
    pub fn new(
        issuing_state: IssuingState,
        document_type: DocumentType,
        number: DocumentNumber,
    ) -> Result<TravelDocumentId, RegistryError> {
        if issuing_state.as_str() == "JPN"
            && document_type == DocumentType::Passport
            && !number.is_japanese_passport_form()
        {
            return Err(RegistryError::invalid(
                "document_number",
                "a Japanese passport number is two letters and seven digits",
            ));
        }
        Ok(TravelDocumentId {
            issuing_state,
            document_type,
            number,
        })
    }

    /// Parses the three parts.
    pub fn parse(
        state: &str,
        doc_type: &str,
        number: &str,
    ) -> Result<TravelDocumentId, RegistryError> {
        TravelDocumentId::new(
            IssuingState::parse(state)?,
            DocumentType::parse(doc_type)?,
            DocumentNumber::parse(number)?,
        )
    }

    /// The canonical key, e.g. `JPN|P|TK1234567`.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.issuing_state,
            self.document_type.code(),
            self.number
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn japanese_passports() {
        for n in [
            "TK1234567",
            "tk1234567",
            "ＴＫ１２３４５６７",
            "TK 123 4567",
            "TK1234567<<",
        ] {
            let id = TravelDocumentId::parse("JPN", "P", n).unwrap();
            assert_eq!(id.key(), "JPN|P|TK1234567", "{n}");
        }
        for n in [
            "T1234567",
            "TK123456",
            "TK12345678",
            "1K1234567",
            "TKA234567",
        ] {
            let e = TravelDocumentId::parse("JPN", "P", n).unwrap_err();
            assert_eq!(e.field(), Some("document_number"), "{n}");
        }
    }

    #[test]
    fn other_states() {
        let id = TravelDocumentId::parse("usa", "passport", "123456789").unwrap();
        assert_eq!(id.key(), "USA|P|123456789");
        let id = TravelDocumentId::parse("D<<", "I", "L01X00T47").unwrap();
        assert_eq!(id.key(), "DEU|I|L01X00T47");
        assert!(id.issuing_state.is_listed());
        let id = TravelDocumentId::parse("ＫＯＲ", "V", "M12345678").unwrap();
        assert_eq!(id.key(), "KOR|V|M12345678");
        assert!(IssuingState::parse("ZZZ").is_ok());
        assert!(!IssuingState::parse("ZZZ").unwrap().is_listed());
    }

    #[test]
    fn refuses_bad_parts() {
        for s in ["JP", "JAPAN", "J1N", "", "日本"] {
            assert!(IssuingState::parse(s).is_err(), "{s}");
        }
        for s in ["X", "", "driver"] {
            assert!(DocumentType::parse(s).is_err(), "{s}");
        }
        for s in ["1234", "1234567890123456", "AB-12345", "AB12345!", ""] {
            assert!(DocumentNumber::parse(s).is_err(), "{s}");
        }
        assert_eq!(
            DocumentType::parse("在留カード").unwrap(),
            DocumentType::ResidenceCard
        );
        assert_eq!(
            DocumentType::parse("identity_card").unwrap(),
            DocumentType::IdentityCard
        );
    }

    #[test]
    fn serde_round_trip() {
        let id = TravelDocumentId::parse("JPN", "P", "TK1234567").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<TravelDocumentId>(&json).unwrap(), id);
    }
}
