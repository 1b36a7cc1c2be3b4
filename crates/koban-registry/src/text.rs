//! Normalisation shared by every identifier, and the checks on free-text fields.
//!
//! Identifiers arrive typed on full-width keyboards, read over the radio and copied from
//! scanned forms, so one object is written many ways. Everything is folded to one spelling
//! before it is checked, so that the checks and the keys see the same text.

use crate::error::RegistryError;

/// Longest input any identifier parser looks at, in characters. Longer input is refused
/// before any work is done, so a hostile string costs nothing.
pub const MAX_IDENTIFIER_INPUT: usize = 64;

/// Appends `n` in decimal, with leading zeros up to `width` digits. The index keys and
/// dates of every imported record are built with it: the formatting machinery was a
/// visible part of a bulk load.
pub fn push_decimal(s: &mut String, n: u32, width: u32) {
    let digits = n.checked_ilog10().map_or(1, |d| d + 1);
    for _ in digits..width {
        s.push('0');
    }
    for place in (0..digits).rev() {
        let digit = (n / 10u32.pow(place)) % 10;
        s.push(char::from(b'0' + digit as u8));
    }
}

/// Folds width and punctuation variants: full-width ASCII to ASCII, the ideographic space to
/// a space and every dash-like character to `-`.
///
/// Kana and kanji are left alone. The long-vowel mark ー becomes `-` because no identifier
/// handled here contains it, while people typing a hyphen on a Japanese keyboard often get it.
pub fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            'ー' | 'ｰ' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | '﹣' => '-',
            c => c,
        })
        .collect()
}

/// [`fold`], upper-cased, with all whitespace removed: the form of every Latin identifier.
pub fn compact_upper(s: &str) -> String {
    fold(s)
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Refuses over-long input before parsing, and empty input as a missing field.
pub(crate) fn precheck(field: &str, s: &str) -> Result<(), RegistryError> {
    if s.chars().count() > MAX_IDENTIFIER_INPUT {
        return Err(RegistryError::TooLong {
            field: field.to_string(),
            max: MAX_IDENTIFIER_INPUT,
        });
    }
    if s.trim().is_empty() {
        return Err(RegistryError::required(field));
    }
    Ok(())
}

/// Trims and collapses runs of whitespace to one space.
pub fn tidy(s: &str) -> String {
    fold(s).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks a mandatory free-text field: not blank, at most `max` characters, no control
/// characters (which would corrupt printed and radio-read answers).
pub fn check_required_text(field: &str, value: &str, max: usize) -> Result<(), RegistryError> {
    if value.trim().is_empty() {
        return Err(RegistryError::required(field));
    }
    check_optional_text(field, value, max)
}

/// Checks an optional free-text field: empty is fine, otherwise as [`check_required_text`].
pub fn check_optional_text(field: &str, value: &str, max: usize) -> Result<(), RegistryError> {
    if value.chars().count() > max {
        return Err(RegistryError::TooLong {
            field: field.to_string(),
            max,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(RegistryError::invalid(field, "contains control characters"));
    }
    Ok(())
}

/// Pushes the error of `r`, if any, onto `errors`.
pub fn collect(errors: &mut Vec<RegistryError>, r: Result<(), RegistryError>) {
    if let Err(e) = r {
        errors.push(e);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_as_the_formatter_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 1_234, 9_999, 10_000, u32::MAX] {
            for width in 0..12 {
                let mut s = String::from("x");
                push_decimal(&mut s, n, width);
                assert_eq!(s, format!("x{n:0w$}", w = width as usize));
            }
        }
    }

    #[test]
    fn folds_width_and_dashes() {
        assert_eq!(fold("ＴＫ１２３"), "TK123");
        assert_eq!(fold("12－34"), "12-34");
        assert_eq!(fold("12ー34"), "12-34");
        assert_eq!(fold("12−34"), "12-34");
        assert_eq!(fold("12‐34"), "12-34");
        assert_eq!(compact_upper(" tk　12 34567 "), "TK1234567");
        assert_eq!(tidy("  a \u{3000} b "), "a b");
    }

    #[test]
    fn text_checks() {
        assert!(check_required_text("f", " ", 5).is_err());
        assert!(check_required_text("f", "abc", 5).is_ok());
        assert_eq!(
            check_required_text("f", "abcdef", 5).map_err(|e| e.code()),
            Err("too_long")
        );
        assert!(check_optional_text("f", "", 5).is_ok());
        assert!(check_optional_text("f", "a\u{7}", 5).is_err());
    }
}
