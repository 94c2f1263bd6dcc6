//! The crate's one error type.

use std::path::PathBuf;

/// A boxed cause (no dependency type appears in this crate's public API).
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why the mock could not start, or an admin action was refused.
///
/// Nothing a client sends over the wire produces an `Error`: wire problems become WeChat Pay
/// error answers. Messages never contain an API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("cannot access {}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key could not be made, read or written.
    #[error("certificate material: {what}")]
    Certificate {
        /// What failed.
        what: String,
        /// The cause, if any.
        #[source]
        source: Option<Cause>,
    },
    /// The TLS server could not be configured.
    #[error("TLS configuration")]
    Tls {
        /// The cause.
        #[source]
        source: Cause,
    },
    /// The ledger store (SQLite) failed.
    #[error("ledger store: {what}")]
    Store {
        /// What failed.
        what: String,
        /// The cause.
        #[source]
        source: Option<Cause>,
    },
    /// A configuration value or file is invalid.
    #[error("configuration: {what}")]
    Config {
        /// What is wrong.
        what: String,
        /// The cause, if any.
        #[source]
        source: Option<Cause>,
    },
    /// No merchant with this id is configured.
    #[error("unknown merchant {mch_id}")]
    UnknownMerchant {
        /// The merchant id.
        mch_id: String,
    },
    /// The merchant has no packet with this billno.
    #[error("merchant {mch_id} has no packet {mch_billno}")]
    UnknownPacket {
        /// The merchant id.
        mch_id: String,
        /// The billno.
        mch_billno: String,
    },
    /// A user cannot claim the packet (wrong user, already claimed, refunded, failed...).
    #[error("claim refused: {reason}")]
    ClaimRefused {
        /// Why.
        reason: String,
    },
    /// A top-up would overflow the balance.
    #[error("amount overflow")]
    AmountOverflow,
    /// A merchant setting changed at run time (e.g. its declared openids) is invalid; nothing
    /// was changed. The admin API answers it with 400.
    #[error("invalid setting: {what}")]
    InvalidSetting {
        /// What is wrong.
        what: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn cert(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self::Certificate {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn store(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self::Store {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn config(what: impl Into<String>) -> Self {
        Self::Config {
            what: what.into(),
            source: None,
        }
    }

    pub(crate) fn config_because(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self::Config {
            what: what.into(),
            source: Some(source.into()),
        }
    }
}
