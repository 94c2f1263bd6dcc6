//! The transport's error: an opaque value with predicates.

use std::error::Error as StdError;
#[cfg(feature = "test-util")]
use std::fmt;
use std::time::Duration;

/// A boxed cause kept in [`source()`](StdError::source).
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a request through a [`Transport`](crate::Transport) did not produce a successful response,
/// or why a transport could not be built.
///
/// The type is opaque: ask it questions with the `is_*()` predicates and, above all,
/// [`may_have_been_sent()`](Self::may_have_been_sent), which tells whether WeChat Pay (or the
/// mock) may have received and acted on the request.
///
/// The `Display` implementation prints only the details of this level of error; the cause, when
/// there is one, is available from [`source()`](StdError::source). The wording of the message and
/// the concrete types of the sources are not part of the API: you must not depend on them.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct TransportError {
    inner: Box<Inner>,
}

#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
struct Inner {
    kind: Kind,
    #[source]
    source: Option<BoxError>,
}

/// What went wrong, with what the message needs. Private: callers use the predicates.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
    /// The builder was given something it cannot use.
    #[error("invalid transport configuration: {0}")]
    Builder(String),
    /// An `http://` base URL without `allow_plain_http()`.
    #[error(
        "refusing plain http:// base URL `{0}`: call allow_plain_http() to use it (test servers only)"
    )]
    PlainHttp(String),
    /// The path handed to `post` cannot be joined to the base URL.
    #[error("invalid request path `{0}`")]
    InvalidPath(String),
    /// The host name did not resolve.
    #[error("DNS lookup of `{0}` failed")]
    Dns(String),
    /// Resolving the host name took longer than the connect timeout allows.
    #[error("DNS lookup of `{host}` timed out after {} ms", .after.as_millis())]
    DnsTimeout {
        /// The host name.
        host: String,
        /// The limit that elapsed.
        after: Duration,
    },
    /// No TCP connection could be opened (refused, unreachable...).
    #[error("could not connect to `{0}`")]
    Connect(String),
    /// Opening the connection (TCP and TLS handshake) took longer than allowed.
    #[error("connecting to `{authority}` timed out after {} ms", .after.as_millis())]
    ConnectTimeout {
        /// The server.
        authority: String,
        /// The limit that elapsed.
        after: Duration,
    },
    /// The TLS handshake failed, or the server refused it with a handshake alert.
    #[error("TLS handshake with `{0}` failed")]
    Tls(String),
    /// A pooled connection closed before hyper started writing the request.
    #[error("connection to `{0}` closed before the request was written")]
    ClosedBeforeSend(String),
    /// The connection failed after the request was handed to it.
    #[error("connection to `{0}` failed after the request was handed to it")]
    AfterSend(String),
    /// The whole-request deadline passed after the request was handed to the connection.
    #[error("no complete response from `{authority}` within {} ms", .after.as_millis())]
    ResponseTimeout {
        /// The server.
        authority: String,
        /// The limit that elapsed.
        after: Duration,
    },
    /// The server answered with a status other than 2xx.
    #[error("`{authority}` answered HTTP {status}")]
    Status {
        /// The server.
        authority: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The response body is larger than the configured cap.
    #[error("response body from `{authority}` exceeds the {limit}-byte cap")]
    BodyTooLarge {
        /// The server.
        authority: String,
        /// The cap.
        limit: usize,
    },
    /// Reading the response body failed.
    #[error("reading the response body from `{0}` failed")]
    Body(String),
    /// A test double has no scripted answer left.
    #[cfg(feature = "test-util")]
    #[error("the test double has no scripted answer left")]
    ScriptExhausted,
}

impl TransportError {
    pub(crate) fn new(kind: Kind) -> Self {
        Self {
            inner: Box::new(Inner { kind, source: None }),
        }
    }

    pub(crate) fn with_source(kind: Kind, source: impl Into<BoxError>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                source: Some(source.into()),
            }),
        }
    }

    pub(crate) fn kind(&self) -> &Kind {
        &self.inner.kind
    }

    /// Whether the request **may have reached the server**, so that WeChat Pay may have acted
    /// on it (for a red packet: the money may have been sent).
    ///
    /// `false` only when it is certain that no byte of the HTTP request left this process:
    /// configuration errors, DNS failures (the name does not resolve, or resolving it takes
    /// longer than the connect timeout), refused or timed-out connections, failed TLS
    /// handshakes (including a server that rejects the client certificate with a handshake
    /// alert), and a pooled connection that closed before hyper started writing the request.
    ///
    /// `true` for everything else: a reset or close after the request was handed to the
    /// connection, a timeout while waiting for or reading the response, a non-2xx status, an
    /// oversized or broken response body. When in doubt the answer is `true`, the safe side for
    /// money: the caller must then find out (for red packets: query, or retry with the same
    /// `mch_billno`) rather than assume failure.
    pub fn may_have_been_sent(&self) -> bool {
        match self.kind() {
            Kind::Builder(_)
            | Kind::PlainHttp(_)
            | Kind::InvalidPath(_)
            | Kind::Dns(_)
            | Kind::DnsTimeout { .. }
            | Kind::Connect(_)
            | Kind::ConnectTimeout { .. }
            | Kind::Tls(_)
            | Kind::ClosedBeforeSend(_) => false,
            Kind::AfterSend(_)
            | Kind::ResponseTimeout { .. }
            | Kind::Status { .. }
            | Kind::BodyTooLarge { .. }
            | Kind::Body(_) => true,
            #[cfg(feature = "test-util")]
            Kind::ScriptExhausted => true,
        }
    }

    /// Whether the transport took this error as a reason to try the backup domain: the request
    /// provably never left because the host did not resolve or could not be connected to.
    pub(crate) fn allows_failover(&self) -> bool {
        matches!(
            self.kind(),
            Kind::Dns(_) | Kind::DnsTimeout { .. } | Kind::Connect(_) | Kind::ConnectTimeout { .. }
        )
    }

    /// Whether the transport could not be built (bad URL, plain `http://` refused, unusable
    /// root certificate...). Such an error never comes from a request.
    pub fn is_builder(&self) -> bool {
        matches!(self.kind(), Kind::Builder(_) | Kind::PlainHttp(_))
    }

    /// Whether the transport was refused because a base URL uses plain `http://` and
    /// `allow_plain_http()` was not called.
    pub fn is_plain_http_refused(&self) -> bool {
        matches!(self.kind(), Kind::PlainHttp(_))
    }

    /// Whether no connection could be established: DNS failure, refused or unreachable host,
    /// connect timeout, or a pooled connection found closed before the request was written.
    pub fn is_connect(&self) -> bool {
        matches!(
            self.kind(),
            Kind::Dns(_)
                | Kind::DnsTimeout { .. }
                | Kind::Connect(_)
                | Kind::ConnectTimeout { .. }
                | Kind::ClosedBeforeSend(_)
        )
    }

    /// Whether the host name could not be resolved: the resolver answered that it does not
    /// exist or failed, or it gave no answer within the connect timeout (then
    /// [`is_timeout()`](Self::is_timeout) is true too). [`is_connect()`](Self::is_connect) is
    /// always true as well, and nothing was sent.
    pub fn is_dns(&self) -> bool {
        matches!(self.kind(), Kind::Dns(_) | Kind::DnsTimeout { .. })
    }

    /// Whether a time limit elapsed: the connect timeout, while resolving the host name or
    /// connecting (then [`is_connect()`](Self::is_connect) is true too and nothing was sent), or
    /// the whole-request timeout after the request was handed to the connection (then
    /// [`may_have_been_sent()`](Self::may_have_been_sent) is true).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind(),
            Kind::DnsTimeout { .. } | Kind::ConnectTimeout { .. } | Kind::ResponseTimeout { .. }
        )
    }

    /// Whether the TLS handshake failed: untrusted server certificate, client certificate
    /// refused by the server, no common protocol version...
    pub fn is_tls(&self) -> bool {
        matches!(self.kind(), Kind::Tls(_))
    }

    /// Whether the server answered with a status other than 2xx; see [`status()`](Self::status).
    pub fn is_status(&self) -> bool {
        matches!(self.kind(), Kind::Status { .. })
    }

    /// The HTTP status code when [`is_status()`](Self::is_status) is true.
    pub fn status(&self) -> Option<u16> {
        match self.kind() {
            Kind::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the response body was larger than the configured cap.
    pub fn is_body_too_large(&self) -> bool {
        matches!(self.kind(), Kind::BodyTooLarge { .. })
    }
}

/// The cause attached to errors made by [`TransportError::simulated`].
#[cfg(feature = "test-util")]
#[derive(Debug)]
struct Simulated;

#[cfg(feature = "test-util")]
impl fmt::Display for Simulated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("simulated by a test double")
    }
}

#[cfg(feature = "test-util")]
impl StdError for Simulated {}

/// A failure that a test double can return, so that the client's exactly-once logic can be
/// tested without a network.
///
/// Each one behaves, through the predicates, exactly like the real failure it names.
#[cfg(feature = "test-util")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimulatedFailure {
    /// The response body exceeded the cap (sent).
    BodyTooLarge,
    /// A pooled connection closed before the request was written (not sent).
    ClosedBeforeSend,
    /// The connection was refused (not sent).
    ConnectRefused,
    /// Connecting timed out (not sent).
    ConnectTimeout,
    /// The host name did not resolve (not sent).
    Dns,
    /// The connection was reset after the request was written (sent).
    ResetAfterSend,
    /// No response within the whole-request timeout (sent).
    ResponseTimeout,
    /// The server answered with this non-2xx HTTP status (sent).
    Status(u16),
    /// The TLS handshake failed (not sent).
    TlsHandshake,
}

#[cfg(feature = "test-util")]
impl TransportError {
    /// An error that behaves like `failure`, for test doubles.
    pub fn simulated(failure: SimulatedFailure) -> Self {
        let authority = String::from("simulated.invalid");
        let after = Duration::from_millis(1);
        let kind = match failure {
            SimulatedFailure::BodyTooLarge => Kind::BodyTooLarge {
                authority,
                limit: 0,
            },
            SimulatedFailure::ClosedBeforeSend => Kind::ClosedBeforeSend(authority),
            SimulatedFailure::ConnectRefused => Kind::Connect(authority),
            SimulatedFailure::ConnectTimeout => Kind::ConnectTimeout { authority, after },
            SimulatedFailure::Dns => Kind::Dns(authority),
            SimulatedFailure::ResetAfterSend => Kind::AfterSend(authority),
            SimulatedFailure::ResponseTimeout => Kind::ResponseTimeout { authority, after },
            SimulatedFailure::Status(status) => Kind::Status { authority, status },
            SimulatedFailure::TlsHandshake => Kind::Tls(authority),
        };
        Self::with_source(kind, Simulated)
    }

    pub(crate) fn script_exhausted() -> Self {
        Self::new(Kind::ScriptExhausted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: Kind) -> TransportError {
        TransportError::new(kind)
    }

    #[test]
    fn failures_before_the_request_left_are_not_sent() {
        // Arrange
        let a = || String::from("example.invalid:443");
        let unsent = [
            Kind::Dns(a()),
            Kind::DnsTimeout {
                host: a(),
                after: Duration::from_secs(1),
            },
            Kind::Connect(a()),
            Kind::ConnectTimeout {
                authority: a(),
                after: Duration::from_secs(1),
            },
            Kind::Tls(a()),
            Kind::ClosedBeforeSend(a()),
            Kind::InvalidPath(a()),
            Kind::PlainHttp(a()),
            Kind::Builder(a()),
        ];

        // Act / Assert
        for kind in unsent {
            let e = error(kind);
            assert!(!e.may_have_been_sent(), "{e}");
        }
    }

    #[test]
    fn failures_after_the_request_was_handed_over_may_have_been_sent() {
        // Arrange
        let a = || String::from("example.invalid:443");
        let sent = [
            Kind::AfterSend(a()),
            Kind::ResponseTimeout {
                authority: a(),
                after: Duration::from_secs(1),
            },
            Kind::Status {
                authority: a(),
                status: 503,
            },
            Kind::BodyTooLarge {
                authority: a(),
                limit: 10,
            },
            Kind::Body(a()),
        ];

        // Act / Assert
        for kind in sent {
            let e = error(kind);
            assert!(e.may_have_been_sent(), "{e}");
            assert!(!e.allows_failover(), "{e}");
        }
    }

    #[test]
    fn only_dns_and_connect_failures_allow_failover() {
        // Arrange
        let a = || String::from("example.invalid:443");

        // Act / Assert
        assert!(error(Kind::Dns(a())).allows_failover());
        assert!(
            error(Kind::DnsTimeout {
                host: a(),
                after: Duration::from_secs(1)
            })
            .allows_failover()
        );
        assert!(error(Kind::Connect(a())).allows_failover());
        assert!(
            error(Kind::ConnectTimeout {
                authority: a(),
                after: Duration::from_secs(1)
            })
            .allows_failover()
        );
        assert!(!error(Kind::Tls(a())).allows_failover());
        assert!(!error(Kind::ClosedBeforeSend(a())).allows_failover());
    }

    #[test]
    fn a_dns_failure_is_a_connect_error_that_was_not_sent() {
        // Arrange
        let e = error(Kind::Dns(String::from("api.mch.weixin.qq.com")));

        // Act / Assert
        assert!(e.is_dns());
        assert!(e.is_connect());
        assert!(!e.is_timeout());
        assert!(!e.may_have_been_sent());
        assert_eq!(
            e.to_string(),
            "DNS lookup of `api.mch.weixin.qq.com` failed"
        );
    }

    #[test]
    fn a_dns_lookup_that_times_out_is_a_dns_failure_and_a_timeout_that_was_not_sent() {
        // Arrange
        let e = error(Kind::DnsTimeout {
            host: String::from("api.mch.weixin.qq.com"),
            after: Duration::from_millis(5000),
        });

        // Act / Assert
        assert!(e.is_dns());
        assert!(e.is_connect());
        assert!(e.is_timeout());
        assert!(!e.is_tls() && !e.is_status() && !e.is_builder());
        assert!(!e.may_have_been_sent());
        assert_eq!(
            e.to_string(),
            "DNS lookup of `api.mch.weixin.qq.com` timed out after 5000 ms"
        );
    }

    #[test]
    fn display_shows_this_level_only_and_the_cause_is_in_source() {
        // Arrange
        let cause = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");

        // Act
        let e = TransportError::with_source(Kind::Connect(String::from("h:443")), cause);

        // Assert
        assert_eq!(e.to_string(), "could not connect to `h:443`");
        let source = e.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("refused"));
    }

    #[test]
    fn status_errors_carry_the_status_code() {
        // Arrange
        let e = error(Kind::Status {
            authority: String::from("h:443"),
            status: 502,
        });

        // Act / Assert
        assert!(e.is_status());
        assert_eq!(e.status(), Some(502));
        assert!(e.may_have_been_sent());
    }
}
