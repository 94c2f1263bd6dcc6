//! The crate's one error type: everything that is **not** an outcome of a send.

use std::error::Error as StdError;

use wxpay_sign::SignError;
use wxpay_transport::TransportError;

/// A boxed cause kept in [`source()`](StdError::source) without naming a dependency's type.
type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a call returned no outcome.
///
/// None of these is an answer from WeChat Pay: an invalid request, a bad configuration or a
/// request that provably never left this process. When a method returns `Err`, **no packet was
/// sent by that call**; compare [`SendOutcome`](crate::SendOutcome), which reports what the
/// server did (or may have done).
///
/// `Display` describes this level only; the cause, when there is one, is in
/// [`source()`](StdError::source). Messages never contain the API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field of the request breaks a rule of the API (format, length, `total_num`, amount
    /// range, required `scene_id`…). Checked before anything is sent: nothing was sent.
    #[error("invalid request: field `{field}`")]
    Invalid {
        /// The wire name of the field at fault.
        field: &'static str,
        /// The rule it breaks (carries the `err_code` the server would answer).
        #[source]
        source: wxpay_proto::Error,
    },
    /// The request does not fit this client or this API (another merchant's `mch_id`, a field
    /// the endpoint does not have, no mini-program appid configured…). Nothing was sent.
    #[error("invalid request: field `{field}` {reason}")]
    Unsupported {
        /// The wire name of the field at fault.
        field: &'static str,
        /// What is wrong, in words.
        reason: &'static str,
    },
    /// A setting of the client is missing or unusable.
    #[error("invalid configuration: `{setting}`")]
    Config {
        /// The setting (a builder method or a `merchant.toml` key).
        setting: &'static str,
        /// What is wrong with it.
        #[source]
        source: BoxError,
    },
    /// A retry policy that breaks the rules of [`RetryPolicy`](crate::RetryPolicy) (for
    /// example a delay under one second between two sends of the same billno).
    #[error("invalid retry policy: {problem}")]
    Policy {
        /// What is wrong, in words.
        problem: &'static str,
    },
    /// The request provably never left this process (DNS or connect failure, refused TLS
    /// handshake…): nothing was sent. Retrying later with the same request is safe.
    #[error("the request was not sent")]
    NotSent {
        /// The transport's error.
        #[source]
        source: TransportError,
    },
    /// Signing failed. Cannot happen with this crate's requests (which never repeat a field);
    /// kept so that no failure is swallowed.
    #[error("the request could not be signed")]
    Sign(#[source] SignError),
}

impl Error {
    /// The wire name of the request field at fault, for [`Error::Invalid`] and
    /// [`Error::Unsupported`].
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } | Self::Unsupported { field, .. } => Some(field),
            Self::Config { .. } | Self::Policy { .. } | Self::NotSent { .. } | Self::Sign(_) => {
                None
            }
        }
    }

    /// Whether the error is about the request's content (nothing was sent, and sending the
    /// same request again would fail the same way).
    pub fn is_invalid_request(&self) -> bool {
        matches!(self, Self::Invalid { .. } | Self::Unsupported { .. })
    }

    /// Whether the request provably never left this process because of the network.
    pub fn is_not_sent(&self) -> bool {
        matches!(self, Self::NotSent { .. })
    }

    pub(crate) fn invalid(source: wxpay_proto::Error) -> Self {
        Self::Invalid {
            field: source.field_name().unwrap_or("xml"),
            source,
        }
    }

    pub(crate) fn config(setting: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Config {
            setting,
            source: source.into(),
        }
    }

    pub(crate) fn missing(setting: &'static str) -> Self {
        Self::config(setting, Missing)
    }
}

/// The cause of a configuration error for a setting that was never given.
#[derive(Debug, thiserror::Error)]
#[error("required but not set")]
struct Missing;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_field_names_the_field_and_keeps_the_rule_as_source() {
        // Arrange
        let rule = wxpay_proto::MchBillno::new("has space").unwrap_err();

        // Act
        let error = Error::invalid(rule);

        // Assert
        assert_eq!(error.field(), Some("mch_billno"));
        assert!(error.is_invalid_request());
        assert_eq!(error.to_string(), "invalid request: field `mch_billno`");
        assert!(error.source().is_some());
    }

    #[test]
    fn a_missing_setting_says_which_and_why_in_two_levels() {
        let error = Error::missing("api_key");
        assert_eq!(error.to_string(), "invalid configuration: `api_key`");
        assert_eq!(
            error.source().map(ToString::to_string).as_deref(),
            Some("required but not set")
        );
        assert_eq!(error.field(), None);
    }
}
