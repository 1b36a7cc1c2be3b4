//! Error types shared by the whole crate.

use serde::Serialize;

/// The longest piece of caller-supplied text that is echoed back in an error message.
///
/// Error messages end up in logs and API responses, so a multi-megabyte field from a hostile
/// or broken file must not be copied into them verbatim.
const MAX_ECHO_CHARS: usize = 40;

/// Shortens caller-supplied text before it is quoted in an error message.
pub(crate) fn excerpt(s: &str) -> String {
    if s.chars().count() <= MAX_ECHO_CHARS {
        s.to_owned()
    } else {
        let mut short: String = s.chars().take(MAX_ECHO_CHARS).collect();
        short.push('…');
        short
    }
}

/// Errors from the organisation model itself: parsing codes and kinds, checking ids and
/// working out what a unit may see.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    /// The text or number is not a JIS X 0401 prefecture code from 01 to 47.
    #[error("invalid prefecture code {0:?}: expected two digits from 01 to 47")]
    InvalidPrefCode(String),
    /// The text names no [`crate::UnitKind`].
    #[error("unknown unit kind {0:?}")]
    UnknownUnitKind(String),
    /// The id breaks the rules of [`crate::validate_unit_id`].
    #[error("invalid unit id {id:?}: {reason}")]
    InvalidUnitId {
        /// The offending id (shortened if very long).
        id: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A unit that must belong to a prefecture carries no prefecture code.
    #[error("unit {id:?} of kind {kind} has no prefecture code")]
    MissingPrefecture {
        /// The unit's id (shortened if very long).
        id: String,
        /// The unit's kind, as [`crate::UnitKind::as_str`] spells it.
        kind: &'static str,
    },
    /// A unit claims a built-in kind (NPA, bureau, branch, prefecture, area headquarters)
    /// but does not match the built-in unit of that id.
    #[error("unit {id:?} does not match any built-in unit of kind {kind}")]
    NotBuiltin {
        /// The unit's id (shortened if very long).
        id: String,
        /// The kind it claims, as [`crate::UnitKind::as_str`] spells it.
        kind: &'static str,
    },
}

/// Stable machine-readable codes used in [`FieldError::code`] and [`LineError::code`].
///
/// Clients (the admin UI, import reports) match on these, so they never change once
/// published; the human-readable messages may.
pub mod codes {
    /// The unit id breaks the id rules.
    pub const INVALID_ID: &str = "invalid_id";
    /// The kind is unknown or may not be created at run time.
    pub const INVALID_KIND: &str = "invalid_kind";
    /// The parent id does not fit the unit's kind or prefecture.
    pub const INVALID_PARENT: &str = "invalid_parent";
    /// The prefecture code is not 01 to 47.
    pub const INVALID_PREFECTURE: &str = "invalid_prefecture";
    /// A required value is empty.
    pub const REQUIRED: &str = "required";
    /// A value is longer than allowed.
    pub const TOO_LONG: &str = "too_long";
    /// A value contains control or bidirectional-override characters.
    pub const INVALID_CHARACTERS: &str = "invalid_characters";
    /// Only one of latitude and longitude was given.
    pub const INCOMPLETE_COORDINATES: &str = "incomplete_coordinates";
    /// A coordinate lies outside Japan or is not a finite number.
    pub const OUT_OF_RANGE: &str = "out_of_range";
    /// A coordinate is not a decimal number.
    pub const INVALID_NUMBER: &str = "invalid_number";
    /// A CSV field is not valid UTF-8.
    pub const INVALID_UTF8: &str = "invalid_utf8";
    /// A CSV line has more or fewer fields than the header.
    pub const WRONG_FIELD_COUNT: &str = "wrong_field_count";
    /// The unit id already appeared earlier in the same file.
    pub const DUPLICATE_ID: &str = "duplicate_id";
    /// The file has more than [`crate::MAX_IMPORT_ROWS`] data rows.
    pub const TOO_MANY_ROWS: &str = "too_many_rows";
    /// The CSV file is empty, so it has no header.
    pub const MISSING_HEADER: &str = "missing_header";
    /// The header lacks a required column.
    pub const MISSING_COLUMN: &str = "missing_column";
    /// The header has a column that is not part of the format.
    pub const UNKNOWN_COLUMN: &str = "unknown_column";
    /// The header names the same column twice.
    pub const DUPLICATE_COLUMN: &str = "duplicate_column";
    /// The CSV reader failed in a way that stops the import.
    pub const UNREADABLE: &str = "unreadable";
}

/// One problem with one field of a [`crate::NewUnit`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field's name, as in the struct and the CSV header (`"pref_code"`).
    pub field: &'static str,
    /// A stable machine code from [`codes`].
    pub code: &'static str,
    /// A human-readable explanation.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }
}

/// One problem with one line of an imported CSV file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("line {line}, {field}: {message}")]
pub struct LineError {
    /// The 1-based line number in the file where the offending record starts; the header is line 1.
    pub line: u64,
    /// The column concerned, or `"record"` when the whole line is at fault.
    pub field: String,
    /// A stable machine code from [`codes`].
    pub code: &'static str,
    /// A human-readable explanation.
    pub message: String,
}

impl LineError {
    pub(crate) fn new(
        line: u64,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            line,
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    pub(crate) fn from_field(line: u64, e: FieldError) -> Self {
        Self {
            line,
            field: e.field.to_owned(),
            code: e.code,
            message: e.message,
        }
    }
}
