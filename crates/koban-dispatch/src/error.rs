//! The crate's one error type and its stable machine codes.

/// Stable machine-readable codes returned by [`DispatchError::code`].
///
/// Clients (the command-room UI, the API's error shape) match on these, so they never change
/// once published; the human-readable messages may.
pub mod codes {
    /// A state machine was asked for a transition its rules do not allow.
    pub const ILLEGAL_TRANSITION: &str = "illegal_transition";
    /// Closing an incident needs a disposition code and none was given.
    pub const DISPOSITION_REQUIRED: &str = "disposition_required";
    /// The disposition code is not in the list in force.
    pub const UNKNOWN_DISPOSITION: &str = "unknown_disposition";
    /// The incident type code is not in the list in force.
    pub const UNKNOWN_INCIDENT_TYPE: &str = "unknown_incident_type";
    /// Two entries of a code list share one code.
    pub const DUPLICATE_CODE: &str = "duplicate_code";
    /// A priority lies outside 1 to 5.
    pub const INVALID_PRIORITY: &str = "invalid_priority";
    /// A code is empty, too long or uses characters outside `[a-z0-9_]`.
    pub const INVALID_CODE: &str = "invalid_code";
    /// A required text field is empty.
    pub const REQUIRED: &str = "required";
    /// A code list is empty or longer than its limit.
    pub const INVALID_LIST: &str = "invalid_list";
    /// A number (coordinate, speed, radius) is outside its range or not finite.
    pub const OUT_OF_RANGE: &str = "out_of_range";
    /// An assignment step was applied to a unit other than the assigned one.
    pub const WRONG_UNIT: &str = "wrong_unit";
    /// A stored record (incident, assignment) contradicts its own timeline.
    pub const INVALID_RECORD: &str = "invalid_record";
}

/// Everything that can go wrong in the dispatch domain.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// The state machine `machine` does not allow moving from `from` to `to`.
    #[error("illegal {machine} transition from {from} to {to}")]
    IllegalTransition {
        /// Which state machine refused: `incident` or `assignment`.
        machine: &'static str,
        /// The state the object was in.
        from: &'static str,
        /// The state that was asked for.
        to: &'static str,
    },
    /// An incident cannot be closed without a disposition code.
    #[error("closing an incident requires a disposition code")]
    DispositionRequired,
    /// The disposition code is not in the list in force.
    #[error("unknown disposition code {0:?}")]
    UnknownDisposition(String),
    /// The incident type code is not in the list in force.
    #[error("unknown incident type {0:?}")]
    UnknownIncidentType(String),
    /// Two entries of a code list share one code.
    #[error("duplicate code {0:?}")]
    DuplicateCode(String),
    /// A priority outside 1 to 5.
    #[error("priority {priority} of {code:?} is outside 1 to 5")]
    InvalidPriority {
        /// The entry's code.
        code: String,
        /// The offending priority.
        priority: u8,
    },
    /// A code breaks the code rules.
    #[error("invalid code {code:?}: {reason}")]
    InvalidCode {
        /// The offending code (shortened if very long).
        code: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A required text field is empty.
    #[error("{field} of {code:?} is required")]
    Required {
        /// The entry's code.
        code: String,
        /// The empty field.
        field: &'static str,
    },
    /// A code list is empty or too long.
    #[error("invalid list: {0}")]
    InvalidList(&'static str),
    /// An assignment step was applied to a unit other than the assigned one.
    #[error("assignment belongs to unit {expected:?}, not {got:?}")]
    WrongUnit {
        /// The assigned unit.
        expected: String,
        /// The unit passed in.
        got: String,
    },
    /// A stored record contradicts its own timeline.
    #[error("invalid record: {0}")]
    InvalidRecord(&'static str),
    /// A number is outside its range or not finite.
    #[error("{field} is out of range")]
    OutOfRange {
        /// The offending field.
        field: &'static str,
    },
}

impl DispatchError {
    /// The stable machine code for this error (see [`codes`]).
    pub fn code(&self) -> &'static str {
        match self {
            DispatchError::IllegalTransition { .. } => codes::ILLEGAL_TRANSITION,
            DispatchError::DispositionRequired => codes::DISPOSITION_REQUIRED,
            DispatchError::UnknownDisposition(_) => codes::UNKNOWN_DISPOSITION,
            DispatchError::UnknownIncidentType(_) => codes::UNKNOWN_INCIDENT_TYPE,
            DispatchError::DuplicateCode(_) => codes::DUPLICATE_CODE,
            DispatchError::InvalidPriority { .. } => codes::INVALID_PRIORITY,
            DispatchError::InvalidCode { .. } => codes::INVALID_CODE,
            DispatchError::Required { .. } => codes::REQUIRED,
            DispatchError::InvalidList(_) => codes::INVALID_LIST,
            DispatchError::OutOfRange { .. } => codes::OUT_OF_RANGE,
            DispatchError::WrongUnit { .. } => codes::WRONG_UNIT,
            DispatchError::InvalidRecord(_) => codes::INVALID_RECORD,
        }
    }
}

/// The longest piece of caller-supplied text echoed back in an error message, so that a huge
/// field from a broken client never lands verbatim in logs.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let e = DispatchError::IllegalTransition {
            machine: "incident",
            from: "closed",
            to: "dispatched",
        };
        assert_eq!(e.code(), "illegal_transition");
        assert_eq!(
            e.to_string(),
            "illegal incident transition from closed to dispatched"
        );
        assert_eq!(
            DispatchError::DispositionRequired.code(),
            "disposition_required"
        );
    }

    #[test]
    fn excerpt_shortens_long_text() {
        let long = "あ".repeat(100);
        assert_eq!(excerpt(&long).chars().count(), MAX_ECHO_CHARS + 1);
        assert_eq!(excerpt("abc"), "abc");
    }
}
