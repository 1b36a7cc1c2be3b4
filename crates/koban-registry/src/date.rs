//! Dates in records: dates of birth and warrant dates, as [`koban_names::screen::Date`],
//! and conversions between UTC microseconds and calendar days for the retention rules.

use koban_names::screen::Date;

use crate::error::RegistryError;

/// Earliest year of birth accepted: nobody alive or recently dead was born earlier, and
/// such a year is almost always a typing error (1890 for 1980).
pub const MIN_BIRTH_YEAR: i32 = 1900;

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// Japan Standard Time's offset from UTC. Calendar rules (the year of entry) follow the
/// Japanese calendar day, not the UTC one.
pub const JST_OFFSET_US: i64 = 9 * 3_600_000_000;

/// Parses a date (`YYYY-MM-DD` or `YYYYMMDD`) for `field`.
pub fn parse_date(field: &str, s: &str) -> Result<Date, RegistryError> {
    if s.trim().is_empty() {
        return Err(RegistryError::required(field));
    }
    // The parser indexes bytes, so only short ASCII input is handed to it.
    if s.len() > 16 || !s.is_ascii() {
        return Err(RegistryError::invalid(field, "must be a date YYYY-MM-DD"));
    }
    Date::parse(s).ok_or_else(|| RegistryError::invalid(field, "must be a date YYYY-MM-DD"))
}

/// Checks a date of birth: from [`MIN_BIRTH_YEAR`] and not after `today`.
pub fn check_date_of_birth(field: &str, dob: Date, today: Date) -> Result<(), RegistryError> {
    if dob.year < MIN_BIRTH_YEAR {
        return Err(RegistryError::OutOfRange {
            field: field.to_string(),
            reason: "born before 1900",
        });
    }
    if dob > today {
        return Err(RegistryError::OutOfRange {
            field: field.to_string(),
            reason: "in the future",
        });
    }
    Ok(())
}

/// Parses and checks a date of birth.
pub fn parse_date_of_birth(field: &str, s: &str, today: Date) -> Result<Date, RegistryError> {
    let d = parse_date(field, s)?;
    check_date_of_birth(field, d, today)?;
    Ok(d)
}

/// The date as `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, d);
    s
}

/// Appends the date as `YYYY-MM-DD` (index keys of every imported person carry one).
pub fn push_date(s: &mut String, d: Date) {
    use crate::text::push_decimal;
    match u32::try_from(d.year) {
        Ok(year) => {
            push_decimal(s, year, 4);
            s.push('-');
            push_decimal(s, u32::from(d.month), 2);
            s.push('-');
            push_decimal(s, u32::from(d.day), 2);
        }
        // A negative year (which no check lets through) is left to the formatter.
        Err(_) => {
            use std::fmt::Write;
            let _ = write!(s, "{:04}-{:02}-{:02}", d.year, d.month, d.day);
        }
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year (in Japan) of a UTC microsecond instant.
pub fn jst_year(t_us: i64) -> i64 {
    let days = (t_us + JST_OFFSET_US).div_euclid(DAY_US);
    // Inverse of days_from_civil, year part only.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

/// The calendar date in Japan of a UTC microsecond instant ("today" for validation).
pub fn jst_date(t_us: i64) -> Date {
    let days = (t_us + JST_OFFSET_US).div_euclid(DAY_US);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date {
        // Instants are i64 microseconds, so the year is within ±300,000 and fits.
        year: i32::try_from(year).unwrap_or(i32::MAX),
        month: u8::try_from(month).unwrap_or(1),
        day: u8::try_from(day).unwrap_or(1),
    }
}

/// The first instant (UTC microseconds) of 1 January of `year` in Japan.
pub fn jst_year_start(year: i64) -> i64 {
    days_from_civil(year, 1, 1) * DAY_US - JST_OFFSET_US
}

/// Serde for dates as `YYYY-MM-DD` strings.
pub mod serde_date {
    use super::{Date, format_date};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `YYYY-MM-DD`.
    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_date(*d))
    }

    /// Reads `YYYY-MM-DD`, refusing impossible dates.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_date("date", &s).map_err(serde::de::Error::custom)
    }
}

/// Serde for optional dates as `YYYY-MM-DD` strings or null.
pub mod serde_opt_date {
    use super::{Date, format_date};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `YYYY-MM-DD` or null.
    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&format_date(*d)),
            None => s.serialize_none(),
        }
    }

    /// Reads `YYYY-MM-DD` or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => super::parse_date("date", &s)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod jst_date_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn jst_date_inverts_days_from_civil(days in -100_000i64..200_000, us in 0i64..DAY_US) {
            let t = days * DAY_US - JST_OFFSET_US + us;
            let d = jst_date(t);
            prop_assert_eq!(days_from_civil(i64::from(d.year), u32::from(d.month), u32::from(d.day)), days);
            prop_assert_eq!(i64::from(d.year), jst_year(t));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn dates_are_written_as_the_formatter_writes_them() {
        for (year, month, day) in [
            (2025, 6, 1),
            (1900, 12, 31),
            (999, 1, 2),
            (0, 1, 1),
            (-5, 3, 4),
            (10_000, 1, 1),
        ] {
            let date = Date { year, month, day };
            assert_eq!(format_date(date), format!("{year:04}-{month:02}-{day:02}"));
        }
    }

    #[test]
    fn dates_of_birth() {
        let today = d("2025-06-01");
        assert_eq!(
            parse_date_of_birth("dob", "1980-02-29", today).unwrap(),
            d("1980-02-29")
        );
        assert_eq!(
            parse_date_of_birth("dob", "19800229", today).unwrap(),
            d("1980-02-29")
        );
        assert_eq!(
            parse_date_of_birth("dob", "2025-06-01", today).unwrap(),
            today
        );
        for (s, code) in [
            ("2025-06-02", "out_of_range"),
            ("1899-12-31", "out_of_range"),
            ("1981-02-29", "invalid_format"),
            ("1980-13-01", "invalid_format"),
            ("１９８０-０１-０１", "invalid_format"),
            ("", "required"),
            ("yesterday", "invalid_format"),
        ] {
            let e = parse_date_of_birth("dob", s, today).unwrap_err();
            assert_eq!((e.code(), e.field()), (code, Some("dob")), "{s}");
        }
    }

    #[test]
    fn calendar_conversions() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        // 2024-12-31 15:00 UTC is already 2025-01-01 in Japan.
        let t = days_from_civil(2024, 12, 31) * DAY_US + 15 * 3_600_000_000;
        assert_eq!(jst_year(t), 2025);
        assert_eq!(jst_year(t - 1), 2024);
        assert_eq!(jst_year_start(2025), t);
        assert_eq!(jst_year(0), 1970);
        assert_eq!(jst_year(-JST_OFFSET_US - 1), 1969);
    }
}
