//! The crate's one error type and its stable machine codes.

/// Stable machine-readable codes returned by [`RegistryError::code`].
///
/// Clients match on these, so they never change once published; the messages may.
pub mod codes {
    /// A mandatory field is empty or missing.
    pub const REQUIRED: &str = "required";
    /// A field is longer than its limit.
    pub const TOO_LONG: &str = "too_long";
    /// A field does not have the shape its kind requires.
    pub const INVALID_FORMAT: &str = "invalid_format";
    /// A VIN's check digit (position 9) does not agree with the other characters.
    pub const CHECK_DIGIT: &str = "check_digit";
    /// A number or date lies outside its allowed range.
    pub const OUT_OF_RANGE: &str = "out_of_range";
    /// Two fields contradict each other (e.g. a warrant expiring before it was issued).
    pub const INCONSISTENT: &str = "inconsistent";
    /// Only the issuing state may enter a travel document.
    pub const NOT_ISSUING_STATE: &str = "not_issuing_state";
    /// The record's lifecycle does not allow this message in its current state.
    pub const ILLEGAL_TRANSITION: &str = "illegal_transition";
    /// Only the owning prefecture may send this message.
    pub const NOT_OWNER: &str = "not_owner";
    /// The second-person check was attempted by the person who entered the record.
    pub const SAME_VERIFIER: &str = "same_verifier";
    /// A locate was sent without a confirmed hit from the locating prefecture.
    pub const HIT_NOT_CONFIRMED: &str = "hit_not_confirmed";
    /// A hit-confirmation request id is unknown, already used or already answered.
    pub const UNKNOWN_REQUEST: &str = "unknown_request";
    /// A hit-confirmation request is not due for escalation: not yet overdue, re-sends
    /// left, or already escalated.
    pub const NOT_ESCALABLE: &str = "not_escalable";
    /// The record already holds as many hit-confirmation requests as it may.
    pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
    /// The owner already holds a live record on the same subject.
    pub const DUPLICATE_RECORD: &str = "duplicate_record";
    /// Another owner's live record on the same subject is of an incompatible kind.
    pub const INCOMPATIBLE_RECORD: &str = "incompatible_record";
    /// A query names nothing to search on.
    pub const EMPTY_QUERY: &str = "empty_query";
    /// A query names more than one kind of key.
    pub const AMBIGUOUS_QUERY: &str = "ambiguous_query";
}

/// Everything that can go wrong in the registry domain.
///
/// Every variant about input names the offending `field` (dotted for nested fields, e.g.
/// `vehicle.plate`), so the API can point at it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// A mandatory field is empty or missing.
    #[error("{field} is required")]
    Required {
        /// The empty field.
        field: String,
    },
    /// A field is longer than its limit (counted in characters).
    #[error("{field} is longer than {max} characters")]
    TooLong {
        /// The offending field.
        field: String,
        /// The limit.
        max: usize,
    },
    /// A field does not have the shape its kind requires.
    #[error("{field} is invalid: {reason}")]
    InvalidFormat {
        /// The offending field.
        field: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A VIN's check digit is wrong.
    #[error("{field} has a wrong check digit")]
    CheckDigit {
        /// The offending field.
        field: String,
    },
    /// A number or date lies outside its range.
    #[error("{field} is out of range: {reason}")]
    OutOfRange {
        /// The offending field.
        field: String,
        /// Which bound it breaks.
        reason: &'static str,
    },
    /// Two fields contradict each other.
    #[error("{field} is inconsistent: {reason}")]
    Inconsistent {
        /// The field reported (the later of the two).
        field: String,
        /// What contradicts what.
        reason: &'static str,
    },
    /// Only the issuing state may enter a travel document.
    #[error("{field}: only the issuing state may enter a travel document")]
    NotIssuingState {
        /// The offending field.
        field: String,
    },
    /// The lifecycle does not allow `message` in state `from`.
    #[error("{message} is not allowed in state {from}")]
    IllegalTransition {
        /// The message that was refused.
        message: &'static str,
        /// The state the record was in.
        from: &'static str,
    },
    /// Only the owner may send `message`.
    #[error("only the owning prefecture may send {message}")]
    NotOwner {
        /// The message that was refused.
        message: &'static str,
    },
    /// The verifier is the person who entered the record.
    #[error("the record must be verified by a person other than the one who entered it")]
    SameVerifier,
    /// A locate without a confirmed hit from the locating prefecture.
    #[error("a locate needs a confirmed hit from the locating prefecture")]
    HitNotConfirmed,
    /// A hit-confirmation request id is unknown, reused or already answered.
    #[error("hit confirmation request {0:?} is unknown, reused or already answered")]
    UnknownRequest(String),
    /// A hit-confirmation request is not due for escalation.
    #[error(
        "hit confirmation request {0:?} is not due for escalation (not overdue, re-sends left, or already escalated)"
    )]
    NotEscalable(String),
    /// The record holds the most hit-confirmation requests it may.
    #[error("the record already holds {0} hit confirmation requests")]
    TooManyRequests(usize),
    /// The owner already holds a live record on this subject.
    #[error("the owner already holds record {0:?} on this subject")]
    DuplicateRecord(String),
    /// Another owner's live record on the same subject is of an incompatible kind.
    #[error("record {0:?} of another owner on this subject is of an incompatible kind")]
    IncompatibleRecord(String),
    /// A query names nothing to search on.
    #[error("a query needs something to search on")]
    EmptyQuery,
    /// A query names more than one kind of key.
    #[error("a query searches on one kind of key only")]
    AmbiguousQuery,
}

impl RegistryError {
    /// The stable machine code (one of [`codes`]).
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::Required { .. } => codes::REQUIRED,
            RegistryError::TooLong { .. } => codes::TOO_LONG,
            RegistryError::InvalidFormat { .. } => codes::INVALID_FORMAT,
            RegistryError::CheckDigit { .. } => codes::CHECK_DIGIT,
            RegistryError::OutOfRange { .. } => codes::OUT_OF_RANGE,
            RegistryError::Inconsistent { .. } => codes::INCONSISTENT,
            RegistryError::NotIssuingState { .. } => codes::NOT_ISSUING_STATE,
            RegistryError::IllegalTransition { .. } => codes::ILLEGAL_TRANSITION,
            RegistryError::NotOwner { .. } => codes::NOT_OWNER,
            RegistryError::SameVerifier => codes::SAME_VERIFIER,
            RegistryError::HitNotConfirmed => codes::HIT_NOT_CONFIRMED,
            RegistryError::UnknownRequest(_) => codes::UNKNOWN_REQUEST,
            RegistryError::NotEscalable(_) => codes::NOT_ESCALABLE,
            RegistryError::TooManyRequests(_) => codes::TOO_MANY_REQUESTS,
            RegistryError::DuplicateRecord(_) => codes::DUPLICATE_RECORD,
            RegistryError::IncompatibleRecord(_) => codes::INCOMPATIBLE_RECORD,
            RegistryError::EmptyQuery => codes::EMPTY_QUERY,
            RegistryError::AmbiguousQuery => codes::AMBIGUOUS_QUERY,
        }
    }

    /// The offending field, for errors about input.
    pub fn field(&self) -> Option<&str> {
        match self {
            RegistryError::Required { field }
            | RegistryError::TooLong { field, .. }
            | RegistryError::InvalidFormat { field, .. }
            | RegistryError::CheckDigit { field }
            | RegistryError::OutOfRange { field, .. }
            | RegistryError::Inconsistent { field, .. }
            | RegistryError::NotIssuingState { field } => Some(field),
            _ => None,
        }
    }

    /// The same error reported under `prefix.field`, for fields nested in a file.
    pub fn within(self, prefix: &str) -> RegistryError {
        let join = |f: String| format!("{prefix}.{f}");
        match self {
            RegistryError::Required { field } => RegistryError::Required { field: join(field) },
            RegistryError::TooLong { field, max } => RegistryError::TooLong {
                field: join(field),
                max,
            },
            RegistryError::InvalidFormat { field, reason } => RegistryError::InvalidFormat {
                field: join(field),
                reason,
            },
            RegistryError::CheckDigit { field } => RegistryError::CheckDigit { field: join(field) },
            RegistryError::OutOfRange { field, reason } => RegistryError::OutOfRange {
                field: join(field),
                reason,
            },
            RegistryError::Inconsistent { field, reason } => RegistryError::Inconsistent {
                field: join(field),
                reason,
            },
            RegistryError::NotIssuingState { field } => {
                RegistryError::NotIssuingState { field: join(field) }
            }
            other => other,
        }
    }

    pub(crate) fn invalid(field: &str, reason: &'static str) -> RegistryError {
        RegistryError::InvalidFormat {
            field: field.to_string(),
            reason,
        }
    }

    pub(crate) fn required(field: &str) -> RegistryError {
        RegistryError::Required {
            field: field.to_string(),
        }
    }
}
