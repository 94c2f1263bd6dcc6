//! The crate's one error type.

use crate::SignType;

/// Why a key could not be built, a signature could not be computed, or a received signature
/// was refused.
///
/// No message ever contains the API key, the string-to-sign or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The API key is the empty string.
    #[error("the API key is empty")]
    EmptyApiKey,

    /// The API key starts or ends with whitespace (often a newline read from a file): no
    /// merchant key does, and signing with it would only produce `SIGN_ERROR`.
    #[error("the API key starts or ends with whitespace")]
    ApiKeyWhitespace,

    /// A `sign_type` wire value other than `MD5` or `HMAC-SHA256`.
    #[error("unknown sign type {value:?}: expected \"MD5\" or \"HMAC-SHA256\"")]
    UnknownSignType {
        /// The value received.
        value: String,
    },

    /// The same parameter name occurs twice among the signed (non-empty, non-`sign`) pairs, so
    /// the string to sign would be ambiguous.
    #[error("parameter {key:?} occurs more than once")]
    DuplicateKey {
        /// The repeated parameter name.
        key: String,
    },

    /// The received signature has the wrong length for its sign type.
    #[error(
        "received signature is {actual} bytes long; a {sign_type} signature has {expected} hex digits"
    )]
    SignatureLength {
        /// The sign type the signature was checked against.
        sign_type: SignType,
        /// The number of hex digits that sign type produces.
        expected: usize,
        /// The length of what was received, in bytes.
        actual: usize,
    },

    /// The received signature contains something other than hex digits.
    #[error("received signature is not hexadecimal")]
    SignatureNotHex,

    /// The received signature is well formed but does not match the parameters and key.
    #[error("signature does not match")]
    Mismatch,
}
