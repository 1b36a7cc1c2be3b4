//! NENA EIDO (Emergency Incident Data Object, NENA-STA-024) for koban.
//!
//! An EIDO is the JSON document one emergency agency hands another about an incident. This
//! crate holds three pure pieces: [`Schema`], a validator for the OpenAPI 3.0 subset the
//! published EIDO schema file uses (every violation reported with its JSON pointer);
//! [`export`], which writes a koban incident with its calls and assigned units as an EIDO;
//! and [`import`], which reads another agency's EIDO into what koban needs to record an
//! incident, after the document has passed the schema.
//!
//! It does no I/O and never reads the clock: the schema arrives as text, times as UTC
//! microseconds, and the caller stores what comes out.

pub mod export;
pub mod import;
pub mod schema;

pub use export::{ExportInput, ExportUnit, common_type_text, export};
pub use import::{ImportedIncident, TypeMatch, import};
pub use schema::{Invalid, Limits, ROOT_TYPE, Schema, Violation};

/// What can go wrong with a schema file or a document.
#[derive(Debug, thiserror::Error)]
pub enum EidoError {
    /// The schema file cannot be used.
    #[error("EIDO schema: {0}")]
    Schema(String),
    /// The document is larger than the limit.
    #[error("the document is larger than {max_bytes} bytes")]
    TooLarge {
        /// The limit.
        max_bytes: usize,
    },
    /// The document is not JSON.
    #[error("the document is not JSON: {0}")]
    NotJson(String),
    /// The document fails the schema.
    #[error("the document does not validate against the EIDO schema ({} problems)", .0.violations.len())]
    Invalid(Invalid),
    /// The document validates, but lacks something koban needs to record an incident.
    #[error("{pointer}: {message}")]
    Unusable {
        /// JSON pointer of what is missing or unusable.
        pointer: String,
        /// Stable code, e.g. `no_location`.
        code: &'static str,
        /// In words.
        message: String,
    },
}

impl EidoError {
    /// A stable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            EidoError::Schema(_) => "eido_schema_invalid",
            EidoError::TooLarge { .. } => "too_large",
            EidoError::NotJson(_) => "invalid_json",
            EidoError::Invalid(_) => "eido_invalid",
            EidoError::Unusable { code, .. } => code,
        }
    }
}

/// Formats UTC microseconds as RFC 3339 with a `Z` offset and whole microseconds.
pub fn rfc3339_us(us: i64) -> String {
    let nanos = i128::from(us) * 1000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
            format!(
                "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
                t.hour(),
                t.minute(),
                t.second(),
                t.microsecond()
            )
        }
        // Out of range times cannot come from koban's own clock; the epoch keeps the
        // document valid rather than failing an export over one bad timestamp.
        Err(_) => "1970-01-01T00:00:00.000000Z".into(),
    }
}

/// Parses an RFC 3339 date-time to UTC microseconds.
pub fn parse_rfc3339_us(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

#[cfg(test)]
mod tests;
