//! Vehicle identifiers: the 17-character ISO 3779 VIN and the Japanese 車台番号.
//!
//! Vehicles made for the Japanese market carry a 車台番号 instead of a VIN: the model code
//! (型式の一部, e.g. `ZVW30`), a hyphen and a serial (`ZVW30-1234567`). Imported and export
//! vehicles carry a VIN. Both are folded to upper case, half width and no spaces.
//!
//! The VIN check digit (position 9) is compulsory only for vehicles built for North America.
//! It is checked when the first character (the region of the world manufacturer identifier)
//! is `1` to `5` — North America — and not otherwise, because European and Japanese VINs
//! legitimately carry any character there and refusing them would lose real records.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::text::{compact_upper, precheck};

const FIELD: &str = "vehicle_id";

/// Length of an ISO 3779 VIN.
pub const VIN_LEN: usize = 17;
/// Shortest and longest model code of a 車台番号.
pub const CHASSIS_MODEL_LEN: std::ops::RangeInclusive<usize> = 2..=12;
/// Longest serial of a 車台番号, in digits.
pub const CHASSIS_SERIAL_MAX_DIGITS: usize = 8;

/// A VIN or a 車台番号, validated and normalised.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum VehicleId {
    /// A 17-character VIN.
    Vin(String),
    /// A 車台番号: model code and serial.
    Chassis {
        /// The model code, e.g. `ZVW30`.
        model: String,
        /// The serial digits, leading zeros kept (they are part of the number).
        serial: String,
    },
}

impl VehicleId {
    /// Parses a VIN (17 characters, no hyphen) or a 車台番号 (`MODEL-SERIAL`).
    pub fn parse(s: &str) -> Result<VehicleId, RegistryError> {
        precheck(FIELD, s)?;
        let t = compact_upper(s);
        if let Some((model, serial)) = t.split_once('-') {
            return parse_chassis(model, serial);
        }
        if t.chars().count() == VIN_LEN {
            return parse_vin(&t);
        }
        Err(RegistryError::invalid(
            FIELD,
            "neither a 17-character VIN nor a chassis number MODEL-SERIAL",
        ))
    }

    /// The canonical exact-lookup key: `V|<vin>` or `C|<model>-<serial>`.
    pub fn key(&self) -> String {
        match self {
            VehicleId::Vin(v) => format!("V|{v}"),
            VehicleId::Chassis { model, serial } => format!("C|{model}-{serial}"),
        }
    }
}

impl fmt::Display for VehicleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VehicleId::Vin(v) => f.write_str(v),
            VehicleId::Chassis { model, serial } => write!(f, "{model}-{serial}"),
        }
    }
}

impl TryFrom<String> for VehicleId {
    type Error = RegistryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        VehicleId::parse(&s)
    }
}

impl From<VehicleId> for String {
    fn from(v: VehicleId) -> String {
        v.to_string()
    }
}

fn parse_chassis(model: &str, serial: &str) -> Result<VehicleId, RegistryError> {
    let model_ok = CHASSIS_MODEL_LEN.contains(&model.len())
        && model.starts_with(|c: char| c.is_ascii_uppercase())
        && model
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !model_ok {
        return Err(RegistryError::invalid(
            FIELD,
            "chassis model code must be 2 to 12 letters and digits starting with a letter",
        ));
    }
    if serial.is_empty()
        || serial.len() > CHASSIS_SERIAL_MAX_DIGITS
        || !serial.chars().all(|c| c.is_ascii_digit())
    {
        return Err(RegistryError::invalid(
            FIELD,
            "chassis serial must be 1 to 8 digits",
        ));
    }
    Ok(VehicleId::Chassis {
        model: model.to_string(),
        serial: serial.to_string(),
    })
}

fn parse_vin(v: &str) -> Result<VehicleId, RegistryError> {
    if !v
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Err(RegistryError::invalid(
            FIELD,
            "VIN must be letters and digits",
        ));
    }
    // I, O and Q are excluded by ISO 3779 so they cannot be mistaken for 1 and 0. They are
    // refused rather than corrected, because a corrected VIN could name another vehicle.
    if v.contains(['I', 'O', 'Q']) {
        return Err(RegistryError::invalid(
            FIELD,
            "VIN never contains I, O or Q",
        ));
    }
    if v.starts_with(['1', '2', '3', '4', '5']) && vin_check_digit(v) != v.chars().nth(8) {
        return Err(RegistryError::CheckDigit {
            field: FIELD.to_string(),
        });
    }
    Ok(VehicleId::Vin(v.to_string()))
}

/// The check digit a VIN should carry at position 9 (`0`–`9` or `X`).
pub fn vin_check_digit(vin: &str) -> Option<char> {
    const WEIGHTS: [u32; VIN_LEN] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    if vin.chars().count() != VIN_LEN {
        return None;
    }
    let mut sum = 0;
    for (c, w) in vin.chars().zip(WEIGHTS) {
        let value = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A' | 'J' => 1,
            'B' | 'K' | 'S' => 2,
            'C' | 'L' | 'T' => 3,
            'D' | 'M' | 'U' => 4,
            'E' | 'N' | 'V' => 5,
            'F' | 'W' => 6,
            'G' | 'P' | 'X' => 7,
            'H' | 'Y' => 8,
            'R' | 'Z' => 9,
            _ => return None,
        };
        sum += value * w;
    }
    match sum % 11 {
        10 => Some('X'),
        d => char::from_digit(d, 10),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_vins() {
        for (s, k) in [
            ("1M8GDM9AXKP042788", "V|1M8GDM9AXKP042788"),
            ("1m8gdm9axkp042788", "V|1M8GDM9AXKP042788"),
            ("１Ｍ８ＧＤＭ９ＡＸＫＰ０４２７８８", "V|1M8GDM9AXKP042788"),
            ("1M8 GDM9AX KP042788", "V|1M8GDM9AXKP042788"),
            ("11111111111111111", "V|11111111111111111"),
            // European and Japanese VINs: position 9 is not a check digit.
            ("WVWZZZ1JZXW000001", "V|WVWZZZ1JZXW000001"),
            ("JTDKB20U093123456", "V|JTDKB20U093123456"),
        ] {
            assert_eq!(VehicleId::parse(s).unwrap().key(), k, "{s}");
        }
    }

    #[test]
    fn refuses_bad_vins() {
        for (s, code) in [
            ("1M8GDM9A1KP042788", "check_digit"),
            ("1M8GDM9AXKP04278", "invalid_format"),
            ("1M8GDM9AXKP0427888", "invalid_format"),
            ("WVWZZZ1JZXW00000I", "invalid_format"),
            ("WVWZZZ1JZXW00000O", "invalid_format"),
            ("QVWZZZ1JZXW000001", "invalid_format"),
            ("WVWZZZ1JZXW00000!", "invalid_format"),
            ("", "required"),
        ] {
            let e = VehicleId::parse(s).unwrap_err();
            assert_eq!(e.code(), code, "{s}");
            if code != "required" {
                assert_eq!(e.field(), Some("vehicle_id"));
            }
        }
    }

    #[test]
    fn accepts_chassis_numbers() {
        for (s, k) in [
            ("ZVW30-1234567", "C|ZVW30-1234567"),
            ("zvw30－1234567", "C|ZVW30-1234567"),
            ("ＺＶＷ３０ー１２３４５６７", "C|ZVW30-1234567"),
            ("GRS200 - 0012345", "C|GRS200-0012345"),
            ("HA36S-123456", "C|HA36S-123456"),
            ("AE86-000123", "C|AE86-000123"),
        ] {
            assert_eq!(VehicleId::parse(s).unwrap().key(), k, "{s}");
        }
        let v = VehicleId::parse("GRS200-0012345").unwrap();
        assert_eq!(VehicleId::parse(&v.to_string()).unwrap(), v);
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<VehicleId>(&json).unwrap(), v);
    }

    #[test]
    fn refuses_bad_chassis_numbers() {
        for s in [
            "ZVW30-",
            "-1234567",
            "Z-1234567",
            "30ZVW-1234567",
            "ZVW30-12345678901",
            "ZVW30-12A4567",
            "ZVW30-123-4567",
            "ZVW_30-1234567",
            "ABCDEFGHIJKLM-1",
        ] {
            assert!(VehicleId::parse(s).is_err(), "{s}");
        }
    }
}
