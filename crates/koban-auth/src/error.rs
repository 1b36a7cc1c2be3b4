//! The error type shared by the credential functions.

/// Failures of the credential functions.
///
/// The variants carry no secret material, so they are safe to log. A wrong
/// password or a wrong TOTP code is not an error: those functions answer
/// `false` or `None`, and errors are kept for input that is malformed or for
/// a failing platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The operating system's random number generator failed. Nothing secret
    /// can be generated safely without it, so callers must give up.
    #[error("the system random number generator failed")]
    Random,
    /// Hashing a password failed inside the hashing library.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// A stored password hash could not be parsed, or has parameters outside
    /// the range this crate is willing to compute.
    #[error("malformed password hash: {0}")]
    MalformedHash(&'static str),
    /// A stored password hash names an algorithm this crate does not verify.
    #[error("unsupported password hash algorithm")]
    UnsupportedAlgorithm,
    /// A TOTP secret was not valid base32 or was too short or too long.
    #[error("invalid TOTP secret: {0}")]
    InvalidTotpSecret(&'static str),
    /// A token presented by a client does not have the shape of a token this
    /// crate issues.
    #[error("malformed token")]
    MalformedToken,
}

impl CredentialError {
    /// A stable machine-readable code for API responses and audit records.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Random => "random_failure",
            Self::Hashing(_) => "hashing_failure",
            Self::MalformedHash(_) => "malformed_hash",
            Self::UnsupportedAlgorithm => "unsupported_hash_algorithm",
            Self::InvalidTotpSecret(_) => "invalid_totp_secret",
            Self::MalformedToken => "malformed_token",
        }
    }
}
