//! The API key, a secret.

use core::fmt;

use zeroize::Zeroizing;

use crate::SignError;

/// The merchant's APIv2 key (商户平台 → 账户中心 → API安全), or a sandbox `sandbox_signkey`.
///
/// A secret: its memory is wiped when it is dropped, its `Debug` output is
/// `ApiKey(** redacted **)`, and it has no `Display` and no accessor. The only thing you can
/// do with it is sign and verify.
///
/// ```
/// use wxpay_sign::ApiKey;
///
/// let key = ApiKey::new("192006250b4c09247ec02edce69f6a2d")?;
/// assert_eq!(format!("{key:?}"), "ApiKey(** redacted **)");
/// # Ok::<(), wxpay_sign::SignError>(())
/// ```
#[derive(Clone)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// Wraps a key. Takes ownership so that a `String` passed in is the one wiped on drop.
    ///
    /// The length is not checked (production keys have 32 characters, sandbox keys 15 digits).
    ///
    /// # Errors
    ///
    /// [`SignError::EmptyApiKey`] for an empty key, [`SignError::ApiKeyWhitespace`] for one
    /// that starts or ends with whitespace (such as a newline left over from reading a file).
    pub fn new(key: impl Into<String>) -> Result<Self, SignError> {
        let key = Zeroizing::new(key.into());
        if key.is_empty() {
            return Err(SignError::EmptyApiKey);
        }
        if key.trim() != key.as_str() {
            return Err(SignError::ApiKeyWhitespace);
        }
        Ok(Self(key))
    }

    /// The key's UTF-8 bytes, for hashing. Never leaves the crate.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(** redacted **)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    #[test]
    fn debug_output_is_redacted() {
        let key = ApiKey::new(KEY).unwrap();
        assert_eq!(format!("{key:?}"), "ApiKey(** redacted **)");
        assert_eq!(format!("{key:#?}"), "ApiKey(** redacted **)");
    }

    #[test]
    fn empty_key_is_refused() {
        assert_eq!(ApiKey::new("").unwrap_err(), SignError::EmptyApiKey);
    }

    #[test]
    fn key_with_surrounding_whitespace_is_refused() {
        for bad in [" abc", "abc ", "abc\n", "\tabc", " "] {
            assert_eq!(ApiKey::new(bad).unwrap_err(), SignError::ApiKeyWhitespace);
        }
    }

    #[test]
    fn fifteen_digit_sandbox_key_is_accepted() {
        let key = ApiKey::new(String::from("013467007045764")).unwrap();
        assert_eq!(key.bytes(), b"013467007045764");
    }
}
