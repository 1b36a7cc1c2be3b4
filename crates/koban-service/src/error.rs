//! The service layer's error: everything a caller can be told about a refused request.

use koban_store::StoreError;

/// Why an operation did not happen. Each variant maps to one HTTP status and one stable
/// machine code in the API layer; the CLI prints the message.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No valid session: missing, malformed, unknown, ended or expired token.
    #[error("authentication required: {reason}")]
    Unauthenticated { reason: &'static str },
    /// Wrong username, password or one-time code. Deliberately does not say which.
    #[error("invalid username, password or one-time code")]
    InvalidCredentials,
    #[error("the account is locked after repeated failed logons; an administrator must unlock it")]
    AccountLocked,
    #[error("the account is disabled")]
    AccountDisabled,
    /// The role does not grant the action.
    #[error("your role does not permit {action}")]
    Forbidden { action: &'static str },
    /// The object does not exist *or* lies outside the caller's scope: the two are
    /// indistinguishable on purpose, so ids cannot be probed.
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A field of the request is invalid.
    #[error("{field}: {message}")]
    Invalid {
        field: String,
        code: &'static str,
        message: String,
    },
    /// Several lines of an uploaded file are invalid; nothing was stored.
    #[error("{} line(s) of the file are invalid; nothing was stored", .0.len())]
    InvalidLines(Vec<LineProblem>),
    /// An EIDO document fails the schema; every violation found is listed.
    #[error("the EIDO document does not validate against the schema: {}", .0.violations.first().map(|v| v.to_string()).unwrap_or_default())]
    InvalidEido(koban_eido::Invalid),
    /// The request conflicts with stored state (a duplicate, or a state that forbids it).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The audit log in storage disagrees with its own signed checkpoints.
    #[error("the audit log failed its integrity check: {0}")]
    AuditIntegrity(String),
    /// A capability is not ready, e.g. reference data has not been imported yet.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// One bad line of an uploaded file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LineProblem {
    pub line: u64,
    pub field: String,
    pub code: String,
    pub message: String,
}

impl ServiceError {
    pub fn invalid(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        ServiceError::Invalid {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    /// The `result` recorded in the audit event of a refused request, or `None` when the
    /// refusal cannot be audited (storage itself failed).
    pub(crate) fn audit_result(&self) -> Option<&'static str> {
        match self {
            ServiceError::Forbidden { .. } => Some("denied"),
            ServiceError::NotFound { .. } => Some("not_found"),
            ServiceError::Invalid { .. }
            | ServiceError::InvalidLines(_)
            | ServiceError::InvalidEido(_)
            | ServiceError::Conflict { .. } => Some("invalid"),
            ServiceError::InvalidCredentials
            | ServiceError::AccountLocked
            | ServiceError::AccountDisabled => Some("failure"),
            ServiceError::AuditIntegrity(_) => Some("failure"),
            ServiceError::Unauthenticated { .. }
            | ServiceError::Unavailable { .. }
            | ServiceError::Store(_)
            | ServiceError::Internal(_) => None,
        }
    }
}
