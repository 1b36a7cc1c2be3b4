//! Error types shared by the whole crate.

/// Why a Merkle proof could not be produced or did not verify.
///
/// Verification failures are deliberately specific so that an operator can
/// tell a malformed request (wrong sizes) from evidence of tampering (a root
/// mismatch).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not smaller than the tree size it is claimed to be in.
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A tree size was requested that the in-memory tree does not (yet) have.
    #[error("tree size {size} is out of range: the tree holds only {available} leaves")]
    SizeOutOfRange { size: u64, available: u64 },
    /// A consistency proof was requested or presented from a larger tree to a smaller one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    OldSizeExceedsNewSize { old_size: u64, new_size: u64 },
    /// The proof does not have exactly the number of hashes the sizes require.
    #[error("proof has {actual} hashes but exactly {expected} are required")]
    WrongProofLength { expected: usize, actual: usize },
    /// The root recomputed from the proof differs from the expected (new) root.
    #[error("the root recomputed from the proof does not match the expected root")]
    RootMismatch,
    /// The old root recomputed from a consistency proof differs from the expected old root.
    #[error(
        "the old root recomputed from the consistency proof does not match the expected old root"
    )]
    OldRootMismatch,
}

/// Errors from parsing, encoding, key handling and signature checks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// A hexadecimal hash was malformed.
    #[error("invalid hex hash: {0}")]
    InvalidHex(String),
    /// A serialised [`Frontier`](crate::Frontier) was malformed.
    #[error("invalid frontier encoding: {0}")]
    InvalidFrontier(&'static str),
    /// A checkpoint origin was empty or contained control characters such as newlines.
    #[error("invalid checkpoint origin: {0}")]
    InvalidOrigin(&'static str),
    /// A checkpoint note body could not be parsed.
    #[error("invalid checkpoint body: {0}")]
    InvalidCheckpoint(&'static str),
    /// A canonical audit event encoding could not be decoded.
    #[error("invalid canonical event encoding: {0}")]
    InvalidEvent(&'static str),
    /// The system random number generator failed while generating a key.
    #[error("failed to generate a signing key")]
    KeyGeneration,
    /// The PKCS#8 document was not an acceptable Ed25519 key.
    #[error("signing key rejected: {0}")]
    KeyRejected(String),
    /// The signature did not verify under the given public key.
    #[error("checkpoint signature verification failed")]
    BadSignature,
}
